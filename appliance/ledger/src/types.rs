//! The ledger's vocabulary: assets, accounts, transfers and their ids.
//!
//! Every amount is an integer count of the asset's smallest unit (`u128`). Nothing here knows what
//! a member or a store is: owners and references are opaque numbers chosen by the caller.

use std::fmt;

/// Identifies an asset: a currency (CNY), points, growth value, one punch-card item…
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AssetId(pub u32);

/// Identifies an account. Chosen by the caller; zero and `u128::MAX` are reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(pub u128);

/// Identifies a transfer and doubles as its idempotency key. Chosen by the caller (a POS derives it
/// from its request's idempotency key); zero and `u128::MAX` are reserved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransferId(pub u128);

/// Nanoseconds since the Unix epoch, assigned by the ledger. Unique and strictly increasing across
/// every object the ledger creates, so it also orders the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

macro_rules! display_id {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    )*};
}
display_id!(AssetId, AccountId, TransferId, Timestamp);

impl AccountId {
    pub(crate) fn is_reserved(self) -> bool {
        self.0 == 0 || self.0 == u128::MAX
    }
}

impl TransferId {
    pub(crate) fn is_reserved(self) -> bool {
        self.0 == 0 || self.0 == u128::MAX
    }
}

/// The largest scale an asset may have: `Decimal` carries 28 digits, and 18 leaves ample room for
/// the integer part.
pub const SCALE_MAX: u8 = 18;

/// The longest asset code, in bytes.
pub const ASSET_CODE_LEN_MAX: usize = 16;

/// An asset with its fixed scale: CNY has scale 2 (the smallest unit is the fen), points have 0.
/// The scale of an asset never changes once created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asset {
    pub id: AssetId,
    /// A short code such as `CNY` or `POINTS`: ASCII upper-case letters, digits, `_` and `-`.
    pub code: String,
    pub scale: u8,
}

/// Limits an account's balance may never cross. At most one may be set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AccountFlags {
    /// The account's debits (posted and pending) may never exceed its posted credits: a member's
    /// stored value or points, which must not go negative.
    pub debits_must_not_exceed_credits: bool,
    /// The account's credits (posted and pending) may never exceed its posted debits.
    pub credits_must_not_exceed_debits: bool,
}

impl AccountFlags {
    pub const NONE: Self = Self {
        debits_must_not_exceed_credits: false,
        credits_must_not_exceed_debits: false,
    };
    pub const DEBITS_MUST_NOT_EXCEED_CREDITS: Self = Self {
        debits_must_not_exceed_credits: true,
        credits_must_not_exceed_debits: false,
    };
    pub const CREDITS_MUST_NOT_EXCEED_DEBITS: Self = Self {
        debits_must_not_exceed_credits: false,
        credits_must_not_exceed_debits: true,
    };
}

/// An account to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAccount {
    pub id: AccountId,
    pub asset: AssetId,
    /// Who the account belongs to, opaque to the ledger (the domain encodes member, store, merchant).
    pub owner: u128,
    /// What kind of account this is, opaque to the ledger.
    pub code: u16,
    pub flags: AccountFlags,
}

/// The four running totals of an account, in the asset's smallest unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Balance {
    pub debits_pending: u128,
    pub debits_posted: u128,
    pub credits_pending: u128,
    pub credits_posted: u128,
}

impl Balance {
    /// Credits minus debits, both posted. `None` if it does not fit an `i128`.
    pub fn net_credit_posted(&self) -> Option<i128> {
        let credits = i128::try_from(self.credits_posted).ok()?;
        let debits = i128::try_from(self.debits_posted).ok()?;
        credits.checked_sub(debits)
    }

    /// What a debit may still take from an account with `debits_must_not_exceed_credits`: posted
    /// credits less posted and pending debits (holds count against it). Zero if over.
    pub fn available_to_debit(&self) -> u128 {
        self.credits_posted
            .saturating_sub(self.debits_posted)
            .saturating_sub(self.debits_pending)
    }

    /// Whether the balance respects the limit the flags set.
    pub fn within_limits(&self, flags: AccountFlags) -> bool {
        let debits = self.debits_posted.checked_add(self.debits_pending);
        let credits = self.credits_posted.checked_add(self.credits_pending);
        let debit_ok = !flags.debits_must_not_exceed_credits
            || debits.is_some_and(|d| d <= self.credits_posted);
        let credit_ok = !flags.credits_must_not_exceed_debits
            || credits.is_some_and(|c| c <= self.debits_posted);
        debit_ok && credit_ok
    }
}

/// An account as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub asset: AssetId,
    pub owner: u128,
    pub code: u16,
    pub flags: AccountFlags,
    /// A closed account takes no new transfers; holds on it can still be voided or expire.
    pub closed: bool,
    pub timestamp: Timestamp,
    pub balance: Balance,
    /// The newest transfer that moved it: where its history starts (see `account_transfers`).
    pub last_transfer: Option<Timestamp>,
}

impl Account {
    pub(crate) fn matches(&self, new: &NewAccount) -> bool {
        self.id == new.id
            && self.asset == new.asset
            && self.owner == new.owner
            && self.code == new.code
            && self.flags == new.flags
    }
}

/// References a transfer carries for the business layer: an order id, a store id, the transfer it
/// reverses. Opaque to the ledger, compared for idempotency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct UserData {
    pub u128: u128,
    pub u64: u64,
    pub u32: u32,
}

/// What a transfer does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferKind {
    /// Moves `amount` from `debit` to `credit` at once.
    Posted {
        debit: AccountId,
        credit: AccountId,
        amount: u128,
    },
    /// Reserves `amount` against both balances until posted, voided or expired. A zero
    /// `timeout_secs` never expires.
    Pending {
        debit: AccountId,
        credit: AccountId,
        amount: u128,
        timeout_secs: u32,
    },
    /// Posts a pending transfer: the whole amount (`None`) or part of it; the rest is released.
    PostPending {
        pending_id: TransferId,
        amount: Option<u128>,
    },
    /// Releases a pending transfer without moving anything.
    VoidPending { pending_id: TransferId },
}

/// A transfer to create.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NewTransfer {
    pub id: TransferId,
    pub kind: TransferKind,
    /// What kind of business event this is, opaque to the ledger.
    pub code: u16,
    pub user_data: UserData,
}

/// A committed transfer, immutable. Corrections are new transfers that reference it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub id: TransferId,
    /// The request as it was made: compared against retries of the same id.
    pub kind: TransferKind,
    pub debit: AccountId,
    pub credit: AccountId,
    pub asset: AssetId,
    /// The amount moved or reserved, resolved (a full post carries the pending amount).
    pub amount: u128,
    pub code: u16,
    pub user_data: UserData,
    pub timestamp: Timestamp,
}

impl Transfer {
    pub(crate) fn matches(&self, new: &NewTransfer) -> bool {
        self.id == new.id
            && self.kind == new.kind
            && self.code == new.code
            && self.user_data == new.user_data
    }

    /// For a pending transfer, when it expires; `None` if it never does or is not pending.
    pub fn expires_at(&self) -> Option<Timestamp> {
        match self.kind {
            TransferKind::Pending { timeout_secs, .. } if timeout_secs > 0 => {
                Some(Timestamp(self.timestamp.0.saturating_add(
                    u64::from(timeout_secs).saturating_mul(1_000_000_000),
                )))
            }
            _ => None,
        }
    }
}

/// Where a pending transfer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PendingStatus {
    Pending,
    Posted,
    Voided,
    Expired,
}

/// The result of one item of a committed batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied<T> {
    /// Created by this batch.
    Created(T),
    /// Already existed with the same body: a retry, answered with the original.
    Exists(T),
}

impl<T> Applied<T> {
    pub fn into_inner(self) -> T {
        match self {
            Applied::Created(t) | Applied::Exists(t) => t,
        }
    }

    pub fn get(&self) -> &T {
        match self {
            Applied::Created(t) | Applied::Exists(t) => t,
        }
    }

    pub fn is_created(&self) -> bool {
        matches!(self, Applied::Created(_))
    }
}

/// One page of an account's transfers, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferPage {
    pub transfers: Vec<Transfer>,
    /// Pass as `from` to get the next (older) page; `None` when this was the last.
    pub next: Option<Timestamp>,
}
