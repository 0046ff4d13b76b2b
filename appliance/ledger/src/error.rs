//! Errors. An item error (`TransferError`, …) is a caller's mistake or a business refusal and is
//! reported per item of a batch; a `LedgerError` is the ledger failing as a whole.

use crate::types::{AccountId, AssetId, TransferId};

/// The ledger could not do its work: storage failed, the writer is gone, the request is out of
/// bounds. Never a business refusal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    #[error("ledger storage failed: {0}")]
    Storage(#[from] redb::Error),
    #[error("the ledger file is open in another process (is `tongka serve` running?)")]
    InUse,
    #[error("the ledger file has schema version {found}; this build reads version {supported}")]
    SchemaVersion { found: u64, supported: u64 },
    #[error("the ledger file is corrupt: {0}")]
    Corrupt(String),
    #[error("a batch holds {len} items; the most is {max}")]
    BatchTooLarge { len: usize, max: usize },
    #[error("the ledger has shut down")]
    ShutDown,
    #[error("the ledger's writer failed earlier and refuses further writes: {0}")]
    WriterFailed(String),
}

macro_rules! storage_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for LedgerError {
            fn from(error: $t) -> Self {
                LedgerError::Storage(error.into())
            }
        }
    )*};
}
storage_error_from!(
    redb::StorageError,
    redb::TransactionError,
    redb::TableError,
    redb::CommitError
);

impl From<redb::DatabaseError> for LedgerError {
    fn from(error: redb::DatabaseError) -> Self {
        match error {
            redb::DatabaseError::DatabaseAlreadyOpen => LedgerError::InUse,
            other => LedgerError::Storage(other.into()),
        }
    }
}

/// A batch was refused as a whole; nothing of it was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError<E: std::error::Error + 'static> {
    /// Every item that failed, by its index in the batch, with the reason. Items not listed were
    /// valid but were not applied either.
    #[error("batch rejected: {} item(s) failed, first: {}", .errors.len(), first_error(.errors))]
    Rejected { errors: Vec<(usize, E)> },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

fn first_error<E: std::fmt::Display>(errors: &[(usize, E)]) -> String {
    errors
        .first()
        .map(|(index, error)| format!("#{index}: {error}"))
        .unwrap_or_default()
}

impl<E: std::error::Error + 'static> BatchError<E> {
    /// The item errors, if the batch was rejected for its content.
    pub fn item_errors(&self) -> Option<&[(usize, E)]> {
        match self {
            BatchError::Rejected { errors } => Some(errors),
            BatchError::Ledger(_) => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AssetError {
    #[error("asset id 0 is reserved")]
    IdReserved,
    #[error("asset {0} exists with a different code or scale")]
    IdReused(AssetId),
    #[error("asset code must be 1 to 16 characters of A-Z, 0-9, `_` or `-`")]
    CodeInvalid,
    #[error("asset scale {0} is above the maximum of 18")]
    ScaleTooLarge(u8),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    #[error("account ids 0 and 2^128-1 are reserved")]
    IdReserved,
    #[error("account {0} exists with a different asset, owner, code or flags")]
    IdReused(AccountId),
    #[error("asset {0} does not exist")]
    AssetNotFound(AssetId),
    #[error("an account cannot limit both its debits and its credits")]
    FlagsMutuallyExclusive,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseError {
    #[error("account {0} does not exist")]
    AccountNotFound(AccountId),
    #[error("account {0} has pending transfers; post or void them first")]
    HasPendingTransfers(AccountId),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    #[error("transfer ids 0 and 2^128-1 are reserved")]
    IdReserved,
    #[error("transfer {0} exists with a different body")]
    IdReused(TransferId),
    #[error("debit and credit account are the same")]
    AccountsMustBeDifferent,
    #[error("debit account {0} does not exist")]
    DebitAccountNotFound(AccountId),
    #[error("credit account {0} does not exist")]
    CreditAccountNotFound(AccountId),
    #[error("debit account holds asset {debit}, credit account holds asset {credit}")]
    AssetMismatch { debit: AssetId, credit: AssetId },
    #[error("amount must be greater than zero")]
    AmountZero,
    #[error("debit account {0} is closed")]
    DebitAccountClosed(AccountId),
    #[error("credit account {0} is closed")]
    CreditAccountClosed(AccountId),
    #[error("debit account {account} would owe more than it holds (available {available})")]
    ExceedsCredits { account: AccountId, available: u128 },
    #[error("credit account {account} would receive more than its debits allow")]
    ExceedsDebits { account: AccountId },
    #[error("a balance of account {0} would overflow")]
    Overflow(AccountId),
    #[error("pending transfer {0} does not exist")]
    PendingTransferNotFound(TransferId),
    #[error("transfer {0} is not a pending transfer")]
    PendingTransferNotPending(TransferId),
    #[error("pending transfer {0} was already posted")]
    PendingTransferAlreadyPosted(TransferId),
    #[error("pending transfer {0} was already voided")]
    PendingTransferAlreadyVoided(TransferId),
    #[error("pending transfer {0} has expired")]
    PendingTransferExpired(TransferId),
    #[error("post amount {requested} exceeds pending amount {pending}")]
    AmountExceedsPending { requested: u128, pending: u128 },
}
