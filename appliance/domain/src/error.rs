//! The domain's errors: one enum per operation callers branch on, plus storage failures.

use crate::UnixMillis;

/// The directory file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    #[error("the directory file is open in another process (is the box running?)")]
    InUse,
    #[error("directory storage: {0}")]
    Storage(String),
    #[error("directory record damaged: {0}")]
    Corrupt(String),
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    #[error("ledger: {0}")]
    Ledger(String),
}

impl From<tongka_ledger::LedgerError> for DomainError {
    fn from(error: tongka_ledger::LedgerError) -> Self {
        DomainError::Ledger(error.to_string())
    }
}

impl From<redb::DatabaseError> for DomainError {
    fn from(error: redb::DatabaseError) -> Self {
        match error {
            redb::DatabaseError::DatabaseAlreadyOpen => DomainError::InUse,
            other => DomainError::Storage(other.to_string()),
        }
    }
}

macro_rules! storage_from {
    ($($error:ty),*) => {$(
        impl From<$error> for DomainError {
            fn from(error: $error) -> Self {
                DomainError::Storage(error.to_string())
            }
        }
    )*};
}
storage_from!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Why a staff member could not be created.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StaffError {
    #[error("username: 3 to 32 of a-z, 0-9, `.`, `_`, `-`")]
    Username,
    #[error("display name: 1 to 64 characters, no control characters")]
    DisplayName,
    #[error("password: 8 to 128 characters")]
    PasswordLength,
    #[error("scope: name at least one store, or all stores")]
    EmptyScope,
    #[error("username `{0}` is taken")]
    UsernameTaken(String),
    #[error("scope names a store that does not exist")]
    UnknownStore,
    #[error("no such department")]
    UnknownDepartment,
    #[error("your role may not create this staff member")]
    Forbidden,
}

/// Why the audit log could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    #[error("only head office may read the audit log")]
    Forbidden,
}

/// Why a terminal could not be minted or revoked.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TerminalError {
    #[error("name: 1 to 32 characters, no control characters")]
    Name,
    #[error("no such store")]
    UnknownStore,
    #[error("no such terminal")]
    UnknownTerminal,
    #[error("only head office or the store's manager may manage its terminals")]
    Forbidden,
}

/// Why a store could not be created.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("code: 1 to 16 of A-Z, 0-9, `-`")]
    Code,
    #[error("name: 1 to 64 characters, no control characters")]
    Name,
    #[error("time zone: an IANA name such as Asia/Shanghai, or UTC")]
    TimeZone,
    #[error("store code `{0}` is taken")]
    CodeTaken(String),
    #[error("only head office may create or set up stores")]
    Forbidden,
    #[error("no such store")]
    Unknown,
}

/// Why a sign-in was refused. Unknown user and wrong password are one answer, so the form cannot
/// be used to find out who works here.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    #[error("wrong username or password")]
    WrongCredentials,
    #[error("too many failed attempts; locked until {until:?}")]
    LockedOut { until: UnixMillis },
    #[error("this account is disabled")]
    Disabled,
}

/// Why a session token was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    #[error("no such session, or it was signed out")]
    Unknown,
    #[error("the session expired")]
    Expired,
    #[error("this account is disabled")]
    Disabled,
    #[error("this terminal was revoked")]
    Revoked,
}

/// Why a member operation was refused. Nothing was written.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemberError {
    #[error("{0}")]
    Invalid(crate::member::FieldError),
    #[error("this phone number belongs to another member")]
    PhoneTaken,
    #[error("card `{0}` is already issued")]
    CardTaken(String),
    #[error("no such member")]
    UnknownMember,
    #[error("no such store")]
    UnknownStore,
    #[error("no such referrer")]
    UnknownReferrer,
    #[error("no such tier")]
    UnknownTier,
    #[error("the member has no such card")]
    UnknownCard,
    #[error("the card is {0} and cannot be used")]
    CardNotActive(&'static str),
    #[error("the member was merged or erased")]
    NotLive,
    #[error("the member is frozen")]
    Frozen,
    #[error("your role or store scope does not allow this")]
    Forbidden,
    #[error("the member has pending holds; settle them first")]
    HoldsOpen,
    #[error("a member cannot be merged into themselves")]
    SameMember,
    #[error("a tier with this rank or name exists")]
    TierTaken,
    #[error("no such service record")]
    UnknownRecord,
}

impl From<crate::member::FieldError> for MemberError {
    fn from(error: crate::member::FieldError) -> Self {
        MemberError::Invalid(error)
    }
}
