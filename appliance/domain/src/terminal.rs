//! Terminals (收银终端): a POS bound to one store, holding its own token. Head office or the
//! store's manager mints one directly, or opens a pairing window: a short code, valid for minutes
//! and once, that the POS presents (over the pinned TLS connection) for its token.

use crate::UnixMillis;
use crate::staff::StoreId;

hex_id! {
    TerminalId;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terminal {
    pub id: TerminalId,
    pub store: StoreId,
    /// What the store calls it: `收银台 1`.
    pub name: String,
    pub created_at: UnixMillis,
    /// Once revoked its token is refused for good.
    pub revoked_at: Option<UnixMillis>,
}

pub const TERMINAL_NAME_CHARS_MAX: usize = 32;

/// Digits in a pairing code: read off a screen and typed at the till.
pub const PAIRING_CODE_DIGITS: usize = 8;

/// An open pairing window for a store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pairing {
    /// Shown once, to the admin who opened it; the box keeps only its hash.
    pub code: String,
    pub store: StoreId,
    pub expires_at: UnixMillis,
}

/// Why a pairing code was not accepted. Which of these the POS is told is the API's choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PairingError {
    #[error("no such pairing code")]
    Unknown,
    #[error("the pairing code has expired")]
    Expired,
    #[error("the pairing code was used already")]
    Used,
    #[error("name: 1 to 32 characters, no control characters")]
    Name,
}

/// Terminal tokens carry this prefix, so a token says which kind of caller it is.
pub const TERMINAL_TOKEN_PREFIX: &str = "tt_";

pub(crate) fn valid_name(name: &str) -> bool {
    let name = name.trim();
    !name.is_empty()
        && name.chars().count() <= TERMINAL_NAME_CHARS_MAX
        && !name.chars().any(char::is_control)
}
