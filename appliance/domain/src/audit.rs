//! The audit log (操作日志): who did what, when, from where — every write the API receives,
//! refused or not. Append-only; read by head office.

use crate::UnixMillis;
use crate::staff::StaffId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: UnixMillis,
    /// Who, if signed in.
    pub actor: Option<StaffId>,
    /// Which session: a short reference derived from the token, never the token.
    pub session: Option<String>,
    /// What was asked, e.g. `POST /api/v1/stores`.
    pub action: String,
    /// The answer's HTTP status: whether it was done.
    pub status: u16,
    /// The address it came from, when known.
    pub remote: Option<String>,
}

/// A page of the audit log, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditLogPage {
    pub entries: Vec<AuditEntry>,
    /// Where the next (older) page starts; `None` on the last.
    pub next: Option<AuditCursor>,
}

/// Where a page of the audit log starts: before this entry, newest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditCursor(pub u64);
