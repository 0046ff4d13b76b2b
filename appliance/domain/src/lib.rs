//! The retail chain's people and places, and the rules about them: who may sign in, with which role
//! and over which stores. Members, cards and tiers join it with the rest of the members issue.
//!
//! What it is not: HTTP (that is `tongka-http`), or balances (every balance lives in
//! `tongka-ledger`). It keeps its records in its own redb file, `directory.redb` in the data folder,
//! with plain durable transactions: its writes are rare next to the ledger's.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod audit;
mod directory;
mod error;
mod password;
mod staff;
mod store;
mod terminal;

pub use audit::{AuditCursor, AuditEntry, AuditLogPage};
pub use directory::{Directory, Session, SessionOptions};
pub use error::{
    AuditError, AuthError, DomainError, LoginError, StaffError, StoreError, TerminalError,
};
pub use staff::{NewStaff, Role, Scope, Staff, StaffId, StoreId};
pub use store::{Date, NewStore, Store, StoreKind};
pub use terminal::{TERMINAL_TOKEN_PREFIX, Terminal, TerminalId};

/// Milliseconds since the Unix epoch: the domain's time, given by the caller so tests control it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixMillis(pub u64);

impl UnixMillis {
    pub fn now() -> UnixMillis {
        let elapsed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        UnixMillis(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn plus_ms(self, ms: u64) -> UnixMillis {
        UnixMillis(self.0.saturating_add(ms))
    }
}
