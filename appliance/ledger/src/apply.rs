//! Evaluating batches, and writing what they changed.
//!
//! A group (everything the writer drained from its queue) is evaluated against layers of state,
//! newest first: the batch's scratch `Delta`, the group's `Delta`, the memtable (acknowledged
//! changes not yet in redb) and a redb read snapshot. If every item of a batch succeeds its scratch
//! is merged into the group, otherwise it is dropped whole: a batch is atomic without a savepoint.
//! Nothing is written to redb here until [`write`], which the writer calls with the whole memtable.

use std::collections::HashMap;

/// The delta's maps are hashed on every lookup of every item; SipHash (the std default) was the
/// writer's largest single cost. foldhash's quality variant is several times faster and still
/// seeded per process.
type Map<K, V> = HashMap<K, V, foldhash::quality::RandomState>;

use redb::{ReadOnlyTable, ReadableDatabase, Table, WriteTransaction};

use crate::clock::Clock;
use crate::codec::{self, JournalEntry, JournalRecord};
use crate::error::{AccountError, AssetError, CloseError, LedgerError, TransferError};
use crate::store::{
    ACCOUNTS, ASSETS, JOURNAL, META, META_LAST_TIMESTAMP, META_WAL_SEQ, PENDING_EXPIRY,
    PENDING_STATUS, TRANSFERS,
};
use crate::types::{
    ASSET_CODE_LEN_MAX, Account, AccountId, Applied, Asset, Balance, NewAccount, NewTransfer,
    PendingStatus, SCALE_MAX, Timestamp, Transfer, TransferId, TransferKind,
};

/// What a batch did: every item applied, or the failing items with their reasons.
pub(crate) type ItemResults<T, E> = Result<Vec<Applied<T>>, Vec<(usize, E)>>;

pub(crate) struct Tables<'txn> {
    meta: Table<'txn, &'static str, u64>,
    assets: Table<'txn, u32, &'static [u8]>,
    accounts: Table<'txn, u128, &'static [u8]>,
    transfers: Table<'txn, u128, &'static [u8]>,
    pending_status: Table<'txn, u128, u8>,
    pending_expiry: Table<'txn, (u64, u128), ()>,
    journal: Table<'txn, u64, JournalRecord>,
}

impl<'txn> Tables<'txn> {
    pub(crate) fn open(txn: &'txn WriteTransaction) -> Result<Self, LedgerError> {
        Ok(Tables {
            meta: txn.open_table(META)?,
            assets: txn.open_table(ASSETS)?,
            accounts: txn.open_table(ACCOUNTS)?,
            transfers: txn.open_table(TRANSFERS)?,
            pending_status: txn.open_table(PENDING_STATUS)?,
            pending_expiry: txn.open_table(PENDING_EXPIRY)?,
            journal: txn.open_table(JOURNAL)?,
        })
    }
}

/// A consistent read-only view of the tables the writer evaluates against. Its tables keep their
/// snapshot alive on their own, so it outlives the transaction that opened it.
pub(crate) struct Snapshot {
    assets: ReadOnlyTable<u32, &'static [u8]>,
    accounts: ReadOnlyTable<u128, &'static [u8]>,
    transfers: ReadOnlyTable<u128, &'static [u8]>,
    pending_status: ReadOnlyTable<u128, u8>,
    pending_expiry: ReadOnlyTable<(u64, u128), ()>,
}

impl Snapshot {
    pub(crate) fn open(db: &redb::Database) -> Result<Self, LedgerError> {
        let txn = db.begin_read()?;
        Ok(Snapshot {
            assets: txn.open_table(ASSETS)?,
            accounts: txn.open_table(ACCOUNTS)?,
            transfers: txn.open_table(TRANSFERS)?,
            pending_status: txn.open_table(PENDING_STATUS)?,
            pending_expiry: txn.open_table(PENDING_EXPIRY)?,
        })
    }
}

/// Changes not yet written to the tables. Later entries override earlier ones on merge. A
/// group's delta is also what the write-ahead log records: replaying it is writing it.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Delta {
    pub(crate) assets: Map<u32, Asset>,
    /// Accounts created or changed, with their current value.
    pub(crate) accounts: Map<u128, Account>,
    pub(crate) transfers: Map<u128, Transfer>,
    pub(crate) statuses: Map<u128, PendingStatus>,
    /// `true` to insert the expiry entry, `false` to remove it.
    pub(crate) expiry: Map<(u64, u128), bool>,
    pub(crate) journal: Vec<(u64, JournalEntry)>,
    pub(crate) last_timestamp: u64,
}

impl Delta {
    pub(crate) fn is_empty(&self) -> bool {
        self.assets.is_empty()
            && self.accounts.is_empty()
            && self.transfers.is_empty()
            && self.statuses.is_empty()
            && self.expiry.is_empty()
            && self.journal.is_empty()
    }

    /// How many records it holds: what the memtable's size is measured in.
    pub(crate) fn items(&self) -> usize {
        self.assets.len()
            + self.accounts.len()
            + self.transfers.len()
            + self.statuses.len()
            + self.expiry.len()
            + self.journal.len()
    }

    /// The transfer journaled at `at`, with its accounts' history links. The journal is in time
    /// order (timestamps only grow, and merges append), so this is a binary search.
    pub(crate) fn journal_entry(
        &self,
        at: u64,
    ) -> Option<(TransferId, Option<Timestamp>, Option<Timestamp>)> {
        let index = self.journal.binary_search_by_key(&at, |(t, _)| *t).ok()?;
        match self.journal[index].1 {
            JournalEntry::TransferCreated {
                id,
                debit_previous,
                credit_previous,
            } => Some((id, debit_previous, credit_previous)),
            _ => None,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.assets.clear();
        self.accounts.clear();
        self.transfers.clear();
        self.statuses.clear();
        self.expiry.clear();
        self.journal.clear();
    }

    /// `merge`, moving the entries out of `other` but leaving it its memory.
    fn merge_from(&mut self, other: &mut Delta) {
        self.assets.extend(other.assets.drain());
        self.accounts.extend(other.accounts.drain());
        self.transfers.extend(other.transfers.drain());
        self.statuses.extend(other.statuses.drain());
        self.expiry.extend(other.expiry.drain());
        self.journal.append(&mut other.journal);
        self.last_timestamp = other.last_timestamp;
    }

    pub(crate) fn merge(&mut self, other: Delta) {
        self.assets.extend(other.assets);
        self.accounts.extend(other.accounts);
        self.transfers.extend(other.transfers);
        self.statuses.extend(other.statuses);
        self.expiry.extend(other.expiry);
        debug_assert!(
            match (self.journal.last(), other.journal.first()) {
                (Some(last), Some(first)) => last.0 < first.0,
                _ => true,
            },
            "journal merged out of time order"
        );
        self.journal.extend(other.journal);
        self.last_timestamp = other.last_timestamp;
    }
}

/// The state of one group in progress.
pub(crate) struct Group<'a> {
    snapshot: &'a Snapshot,
    memtable: &'a [&'a Delta],
    clock: &'a dyn Clock,
    committed: Delta,
    /// One item's changes, reused.
    changes: Delta,
}

/// Reads through a scratch delta, the group's delta, the memtable's layers, then the snapshot.
struct View<'v> {
    scratch: &'v Delta,
    group: &'v Delta,
    /// Newest first.
    memtable: &'v [&'v Delta],
    tables: &'v Snapshot,
}

impl View<'_> {
    fn asset(&self, id: u32) -> Result<Option<Asset>, LedgerError> {
        if let Some(asset) = self
            .scratch
            .assets
            .get(&id)
            .or(self.group.assets.get(&id))
            .or_else(|| self.memtable.iter().find_map(|m| m.assets.get(&id)))
        {
            return Ok(Some(asset.clone()));
        }
        match self.tables.assets.get(id)? {
            Some(bytes) => Ok(Some(codec::decode_asset(id, bytes.value())?)),
            None => Ok(None),
        }
    }

    fn account(&self, id: AccountId) -> Result<Option<Account>, LedgerError> {
        if let Some(account) = self
            .scratch
            .accounts
            .get(&id.0)
            .or(self.group.accounts.get(&id.0))
            .or_else(|| self.memtable.iter().find_map(|m| m.accounts.get(&id.0)))
        {
            return Ok(Some(account.clone()));
        }
        match self.tables.accounts.get(id.0)? {
            Some(bytes) => Ok(Some(codec::decode_account(id.0, bytes.value())?)),
            None => Ok(None),
        }
    }

    fn transfer(&self, id: TransferId) -> Result<Option<Transfer>, LedgerError> {
        if let Some(transfer) = self
            .scratch
            .transfers
            .get(&id.0)
            .or(self.group.transfers.get(&id.0))
            .or_else(|| self.memtable.iter().find_map(|m| m.transfers.get(&id.0)))
        {
            return Ok(Some(*transfer));
        }
        match self.tables.transfers.get(id.0)? {
            Some(bytes) => Ok(Some(codec::decode_transfer(id.0, bytes.value())?)),
            None => Ok(None),
        }
    }

    fn pending_status(&self, id: TransferId) -> Result<Option<PendingStatus>, LedgerError> {
        if let Some(status) = self
            .scratch
            .statuses
            .get(&id.0)
            .or(self.group.statuses.get(&id.0))
            .or_else(|| self.memtable.iter().find_map(|m| m.statuses.get(&id.0)))
        {
            return Ok(Some(*status));
        }
        match self.tables.pending_status.get(id.0)? {
            Some(byte) => Ok(Some(codec::decode_pending_status(byte.value())?)),
            None => Ok(None),
        }
    }
}

/// Assigns the next timestamp: the clock's time, or one past the last if the clock lags.
fn next_timestamp(last: &mut u64, clock: &dyn Clock) -> u64 {
    let next = clock.now_ns().max(last.saturating_add(1));
    assert!(next > *last, "ledger timestamps exhausted");
    *last = next;
    next
}

fn valid_asset_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= ASSET_CODE_LEN_MAX
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl<'a> Group<'a> {
    pub(crate) fn new(
        snapshot: &'a Snapshot,
        memtable: &'a [&'a Delta],
        clock: &'a dyn Clock,
        last_timestamp: u64,
    ) -> Self {
        Group {
            snapshot,
            memtable,
            clock,
            committed: Delta {
                last_timestamp,
                ..Delta::default()
            },
            changes: Delta::default(),
        }
    }

    /// Runs `apply` for every item into a fresh scratch delta, and keeps the scratch only if no
    /// item failed.
    fn batch<I, T, E>(
        &mut self,
        items: &[I],
        mut apply: impl FnMut(
            &I,
            &View<'_>,
            &mut Delta,
            &dyn Clock,
        ) -> Result<Result<Applied<T>, E>, LedgerError>,
    ) -> Result<ItemResults<T, E>, LedgerError> {
        let mut scratch = Delta {
            last_timestamp: self.committed.last_timestamp,
            ..Delta::default()
        };
        let mut applied = Vec::with_capacity(items.len());
        let mut errors = Vec::new();
        // The view borrows the scratch immutably, so each item's changes are collected here and
        // moved over after; drained, not dropped, so its maps keep their memory between items.
        let changes = &mut self.changes;
        for (index, item) in items.iter().enumerate() {
            changes.clear();
            changes.last_timestamp = scratch.last_timestamp;
            let view = View {
                scratch: &scratch,
                group: &self.committed,
                memtable: self.memtable,
                tables: self.snapshot,
            };
            match apply(item, &view, changes, self.clock)? {
                Ok(result) => {
                    applied.push(result);
                    scratch.merge_from(changes);
                }
                Err(error) => errors.push((index, error)),
            }
        }
        if errors.is_empty() {
            self.committed.merge(scratch);
            Ok(Ok(applied))
        } else {
            Ok(Err(errors))
        }
    }

    pub(crate) fn create_assets(
        &mut self,
        batch: &[Asset],
    ) -> Result<ItemResults<Asset, AssetError>, LedgerError> {
        self.batch(batch, |asset, view, changes, _| {
            if asset.id.0 == 0 {
                return Ok(Err(AssetError::IdReserved));
            }
            if let Some(existing) = view
                .asset(asset.id.0)?
                .or(changes.assets.get(&asset.id.0).cloned())
            {
                return Ok(if existing == *asset {
                    Ok(Applied::Exists(existing))
                } else {
                    Err(AssetError::IdReused(asset.id))
                });
            }
            if !valid_asset_code(&asset.code) {
                return Ok(Err(AssetError::CodeInvalid));
            }
            if asset.scale > SCALE_MAX {
                return Ok(Err(AssetError::ScaleTooLarge(asset.scale)));
            }
            changes.assets.insert(asset.id.0, asset.clone());
            Ok(Ok(Applied::Created(asset.clone())))
        })
    }

    pub(crate) fn create_accounts(
        &mut self,
        batch: &[NewAccount],
    ) -> Result<ItemResults<Account, AccountError>, LedgerError> {
        self.batch(batch, |new, view, changes, clock| {
            if new.id.is_reserved() {
                return Ok(Err(AccountError::IdReserved));
            }
            if let Some(existing) = view.account(new.id)? {
                return Ok(if existing.matches(new) {
                    Ok(Applied::Exists(existing))
                } else {
                    Err(AccountError::IdReused(new.id))
                });
            }
            if new.flags.debits_must_not_exceed_credits && new.flags.credits_must_not_exceed_debits
            {
                return Ok(Err(AccountError::FlagsMutuallyExclusive));
            }
            if view.asset(new.asset.0)?.is_none() {
                return Ok(Err(AccountError::AssetNotFound(new.asset)));
            }
            let timestamp = next_timestamp(&mut changes.last_timestamp, clock);
            let account = Account {
                id: new.id,
                asset: new.asset,
                owner: new.owner,
                code: new.code,
                flags: new.flags,
                closed: false,
                timestamp: Timestamp(timestamp),
                balance: Balance::default(),
                last_transfer: None,
            };
            changes.accounts.insert(new.id.0, account.clone());
            changes
                .journal
                .push((timestamp, JournalEntry::AccountCreated(new.id)));
            Ok(Ok(Applied::Created(account)))
        })
    }

    pub(crate) fn close_accounts(
        &mut self,
        batch: &[AccountId],
    ) -> Result<ItemResults<Account, CloseError>, LedgerError> {
        self.batch(batch, |id, view, changes, _| {
            let Some(mut account) = view.account(*id)? else {
                return Ok(Err(CloseError::AccountNotFound(*id)));
            };
            if account.closed {
                return Ok(Ok(Applied::Exists(account)));
            }
            if account.balance.debits_pending != 0 || account.balance.credits_pending != 0 {
                return Ok(Err(CloseError::HasPendingTransfers(*id)));
            }
            account.closed = true;
            changes.accounts.insert(id.0, account.clone());
            Ok(Ok(Applied::Created(account)))
        })
    }

    pub(crate) fn create_transfers(
        &mut self,
        batch: &[NewTransfer],
    ) -> Result<ItemResults<Transfer, TransferError>, LedgerError> {
        self.batch(batch, |new, view, changes, clock| {
            create_transfer(new, view, changes, clock)
        })
    }

    /// Voids every pending transfer whose timeout has passed. Runs at the start of each group, so a
    /// hold never outlives its timeout by more than one group (or one sweep tick when idle).
    pub(crate) fn expire_due(&mut self) -> Result<usize, LedgerError> {
        let boundary = self
            .clock
            .now_ns()
            .max(self.committed.last_timestamp.saturating_add(1));
        // The newest layer that knows an expiry entry decides whether it still stands.
        let stands = |key: &(u64, u128)| {
            self.committed
                .expiry
                .get(key)
                .or_else(|| self.memtable.iter().find_map(|m| m.expiry.get(key)))
                .copied()
                .unwrap_or(true)
        };
        let mut due: Vec<(u64, u128)> = Vec::new();
        for entry in self
            .snapshot
            .pending_expiry
            .range((0u64, 0u128)..=(boundary, u128::MAX))?
        {
            let (key, _) = entry?;
            due.push(key.value());
        }
        let layers = self.memtable.iter().map(|m| &m.expiry);
        for layer in layers.chain([&self.committed.expiry]) {
            due.extend(
                layer
                    .iter()
                    .filter(|(key, insert)| **insert && key.0 <= boundary)
                    .map(|(key, _)| *key),
            );
        }
        due.retain(stands);
        due.sort_unstable();
        due.dedup();

        let mut changes = Delta {
            last_timestamp: self.committed.last_timestamp,
            ..Delta::default()
        };
        for (expires_at, id) in &due {
            let view = View {
                scratch: &changes,
                group: &self.committed,
                memtable: self.memtable,
                tables: self.snapshot,
            };
            let id = TransferId(*id);
            let (Some(pending), Some(PendingStatus::Pending)) =
                (view.transfer(id)?, view.pending_status(id)?)
            else {
                return Err(LedgerError::Corrupt(format!(
                    "expiry index names transfer {id}, which is not an open pending transfer"
                )));
            };
            let mut debit = load_existing(&view, pending.debit)?;
            let mut credit = load_existing(&view, pending.credit)?;
            release_pending(&mut debit, &mut credit, pending.amount)?;
            let timestamp = next_timestamp(&mut changes.last_timestamp, self.clock);
            changes.accounts.insert(debit.id.0, debit);
            changes.accounts.insert(credit.id.0, credit);
            changes.statuses.insert(id.0, PendingStatus::Expired);
            changes.expiry.insert((*expires_at, id.0), false);
            changes
                .journal
                .push((timestamp, JournalEntry::PendingExpired(id)));
        }
        self.committed.merge(changes);
        Ok(due.len())
    }

    /// The group's changes, to be logged and written with [`write`].
    pub(crate) fn into_delta(self) -> Delta {
        self.committed
    }
}

/// Writes changes into a transaction's tables, with the log sequence number they carry. Keys go in
/// sorted, so consecutive inserts land on the same pages (far cheaper than random order in a
/// copy-on-write B-tree).
pub(crate) fn write(
    tables: &mut Tables<'_>,
    delta: &Delta,
    wal_seq: u64,
) -> Result<(), LedgerError> {
    fn sorted<K: Ord + Copy, V>(map: &Map<K, V>) -> Vec<(K, &V)> {
        let mut entries: Vec<(K, &V)> = map.iter().map(|(k, v)| (*k, v)).collect();
        entries.sort_unstable_by_key(|(k, _)| *k);
        entries
    }
    for (id, asset) in sorted(&delta.assets) {
        tables
            .assets
            .insert(id, codec::encode_asset(asset).as_slice())?;
    }
    for (id, account) in sorted(&delta.accounts) {
        debug_assert!(account.balance.within_limits(account.flags));
        tables
            .accounts
            .insert(id, codec::encode_account(account).as_slice())?;
    }
    for (id, transfer) in sorted(&delta.transfers) {
        tables
            .transfers
            .insert(id, codec::encode_transfer(transfer).as_slice())?;
    }
    for (id, status) in sorted(&delta.statuses) {
        tables
            .pending_status
            .insert(id, codec::encode_pending_status(*status))?;
    }
    for (key, insert) in sorted(&delta.expiry) {
        if *insert {
            tables.pending_expiry.insert(key, ())?;
        } else {
            tables.pending_expiry.remove(key)?;
        }
    }
    let mut journal: Vec<&(u64, JournalEntry)> = delta.journal.iter().collect();
    journal.sort_unstable_by_key(|(timestamp, _)| *timestamp);
    for (timestamp, entry) in journal {
        let previous = tables
            .journal
            .insert(*timestamp, codec::encode_journal(*entry))?;
        // Timestamps are unique by construction; a collision would silently lose history.
        if previous.is_some() {
            return Err(LedgerError::Corrupt(format!(
                "journal timestamp {timestamp} written twice"
            )));
        }
    }
    tables
        .meta
        .insert(META_LAST_TIMESTAMP, delta.last_timestamp)?;
    tables.meta.insert(META_WAL_SEQ, wal_seq)?;
    Ok(())
}

fn load_existing(view: &View<'_>, id: AccountId) -> Result<Account, LedgerError> {
    view.account(id)?.ok_or_else(|| {
        LedgerError::Corrupt(format!(
            "a transfer names account {id}, which does not exist"
        ))
    })
}

fn release_pending(
    debit: &mut Account,
    credit: &mut Account,
    amount: u128,
) -> Result<(), LedgerError> {
    let corrupt = || LedgerError::Corrupt("pending balance below a pending transfer".into());
    debit.balance.debits_pending = debit
        .balance
        .debits_pending
        .checked_sub(amount)
        .ok_or_else(corrupt)?;
    credit.balance.credits_pending = credit
        .balance
        .credits_pending
        .checked_sub(amount)
        .ok_or_else(corrupt)?;
    Ok(())
}

/// The checks every new balance must pass: totals fit in `u128`, and the flags' limits hold.
fn check_balance(account: &Account) -> Result<(), TransferError> {
    let b = &account.balance;
    if b.debits_posted.checked_add(b.debits_pending).is_none()
        || b.credits_posted.checked_add(b.credits_pending).is_none()
    {
        return Err(TransferError::Overflow(account.id));
    }
    if account.balance.within_limits(account.flags) {
        return Ok(());
    }
    if account.flags.debits_must_not_exceed_credits {
        Err(TransferError::ExceedsCredits {
            account: account.id,
            available: 0,
        })
    } else {
        Err(TransferError::ExceedsDebits {
            account: account.id,
        })
    }
}

fn create_transfer(
    new: &NewTransfer,
    view: &View<'_>,
    changes: &mut Delta,
    clock: &dyn Clock,
) -> Result<Result<Applied<Transfer>, TransferError>, LedgerError> {
    if new.id.is_reserved() {
        return Ok(Err(TransferError::IdReserved));
    }
    if let Some(existing) = view.transfer(new.id)? {
        return Ok(if existing.matches(new) {
            Ok(Applied::Exists(existing))
        } else {
            Err(TransferError::IdReused(new.id))
        });
    }
    let outcome = match new.kind {
        TransferKind::Posted {
            debit,
            credit,
            amount,
        } => move_funds(new, view, changes, clock, debit, credit, amount, false)?,
        TransferKind::Pending {
            debit,
            credit,
            amount,
            ..
        } => move_funds(new, view, changes, clock, debit, credit, amount, true)?,
        TransferKind::PostPending { pending_id, amount } => {
            resolve_pending(new, view, changes, clock, pending_id, Some(amount))?
        }
        TransferKind::VoidPending { pending_id } => {
            resolve_pending(new, view, changes, clock, pending_id, None)?
        }
    };
    Ok(outcome.map(Applied::Created))
}

/// A posted or pending transfer between two accounts.
#[allow(clippy::too_many_arguments)]
fn move_funds(
    new: &NewTransfer,
    view: &View<'_>,
    changes: &mut Delta,
    clock: &dyn Clock,
    debit_id: AccountId,
    credit_id: AccountId,
    amount: u128,
    pending: bool,
) -> Result<Result<Transfer, TransferError>, LedgerError> {
    if amount == 0 {
        return Ok(Err(TransferError::AmountZero));
    }
    if debit_id == credit_id {
        return Ok(Err(TransferError::AccountsMustBeDifferent));
    }
    let Some(mut debit) = view.account(debit_id)? else {
        return Ok(Err(TransferError::DebitAccountNotFound(debit_id)));
    };
    let Some(mut credit) = view.account(credit_id)? else {
        return Ok(Err(TransferError::CreditAccountNotFound(credit_id)));
    };
    if debit.asset != credit.asset {
        return Ok(Err(TransferError::AssetMismatch {
            debit: debit.asset,
            credit: credit.asset,
        }));
    }
    if debit.closed {
        return Ok(Err(TransferError::DebitAccountClosed(debit_id)));
    }
    if credit.closed {
        return Ok(Err(TransferError::CreditAccountClosed(credit_id)));
    }
    let available = debit.balance.available_to_debit();
    let (debits, credits) = if pending {
        (
            &mut debit.balance.debits_pending,
            &mut credit.balance.credits_pending,
        )
    } else {
        (
            &mut debit.balance.debits_posted,
            &mut credit.balance.credits_posted,
        )
    };
    let Some(new_debits) = debits.checked_add(amount) else {
        return Ok(Err(TransferError::Overflow(debit_id)));
    };
    let Some(new_credits) = credits.checked_add(amount) else {
        return Ok(Err(TransferError::Overflow(credit_id)));
    };
    *debits = new_debits;
    *credits = new_credits;
    if let Err(error) = check_balance(&debit).and_then(|()| check_balance(&credit)) {
        return Ok(Err(match error {
            TransferError::ExceedsCredits { account, .. } => {
                TransferError::ExceedsCredits { account, available }
            }
            other => other,
        }));
    }

    let timestamp = next_timestamp(&mut changes.last_timestamp, clock);
    let transfer = Transfer {
        id: new.id,
        kind: new.kind,
        debit: debit_id,
        credit: credit_id,
        asset: debit.asset,
        amount,
        code: new.code,
        user_data: new.user_data,
        timestamp: Timestamp(timestamp),
    };
    if pending {
        changes.statuses.insert(new.id.0, PendingStatus::Pending);
        if let Some(expires_at) = transfer.expires_at() {
            changes.expiry.insert((expires_at.0, new.id.0), true);
        }
    }
    record(changes, transfer, debit, credit);
    Ok(Ok(transfer))
}

/// Posts (`post_amount` is `Some`) or voids (`None`) a pending transfer.
fn resolve_pending(
    new: &NewTransfer,
    view: &View<'_>,
    changes: &mut Delta,
    clock: &dyn Clock,
    pending_id: TransferId,
    post_amount: Option<Option<u128>>,
) -> Result<Result<Transfer, TransferError>, LedgerError> {
    let Some(pending) = view.transfer(pending_id)? else {
        return Ok(Err(TransferError::PendingTransferNotFound(pending_id)));
    };
    if !matches!(pending.kind, TransferKind::Pending { .. }) {
        return Ok(Err(TransferError::PendingTransferNotPending(pending_id)));
    }
    match view.pending_status(pending_id)? {
        Some(PendingStatus::Pending) => {}
        Some(PendingStatus::Posted) => {
            return Ok(Err(TransferError::PendingTransferAlreadyPosted(pending_id)));
        }
        Some(PendingStatus::Voided) => {
            return Ok(Err(TransferError::PendingTransferAlreadyVoided(pending_id)));
        }
        Some(PendingStatus::Expired) => {
            return Ok(Err(TransferError::PendingTransferExpired(pending_id)));
        }
        None => {
            return Err(LedgerError::Corrupt(format!(
                "pending transfer {pending_id} has no status"
            )));
        }
    }
    let amount = match post_amount {
        Some(Some(0)) => return Ok(Err(TransferError::AmountZero)),
        Some(Some(requested)) if requested > pending.amount => {
            return Ok(Err(TransferError::AmountExceedsPending {
                requested,
                pending: pending.amount,
            }));
        }
        Some(Some(requested)) => requested,
        Some(None) | None => pending.amount,
    };
    let mut debit = load_existing(view, pending.debit)?;
    let mut credit = load_existing(view, pending.credit)?;
    if post_amount.is_some() {
        if debit.closed {
            return Ok(Err(TransferError::DebitAccountClosed(debit.id)));
        }
        if credit.closed {
            return Ok(Err(TransferError::CreditAccountClosed(credit.id)));
        }
    }
    // Decided before the timestamp is taken, so a refused item does not consume one.
    let timestamp = Timestamp(clock.now_ns().max(changes.last_timestamp.saturating_add(1)));
    if pending.expires_at().is_some_and(|at| timestamp >= at) {
        return Ok(Err(TransferError::PendingTransferExpired(pending_id)));
    }
    release_pending(&mut debit, &mut credit, pending.amount)?;
    if post_amount.is_some() {
        let (Some(debits), Some(credits)) = (
            debit.balance.debits_posted.checked_add(amount),
            credit.balance.credits_posted.checked_add(amount),
        ) else {
            return Ok(Err(TransferError::Overflow(debit.id)));
        };
        debit.balance.debits_posted = debits;
        credit.balance.credits_posted = credits;
    }
    // Posting at most what was reserved, or releasing it, can only bring a balance back inside its
    // limits; the limits were checked when the hold was made.
    debug_assert!(check_balance(&debit).is_ok() && check_balance(&credit).is_ok());

    let timestamp = next_timestamp(&mut changes.last_timestamp, clock);
    let transfer = Transfer {
        id: new.id,
        kind: new.kind,
        debit: debit.id,
        credit: credit.id,
        asset: pending.asset,
        amount,
        code: new.code,
        user_data: new.user_data,
        timestamp: Timestamp(timestamp),
    };
    let status = if post_amount.is_some() {
        PendingStatus::Posted
    } else {
        PendingStatus::Voided
    };
    changes.statuses.insert(pending_id.0, status);
    if let Some(expires_at) = pending.expires_at() {
        changes.expiry.insert((expires_at.0, pending_id.0), false);
    }
    record(changes, transfer, debit, credit);
    Ok(Ok(transfer))
}

fn record(changes: &mut Delta, transfer: Transfer, mut debit: Account, mut credit: Account) {
    changes.journal.push((
        transfer.timestamp.0,
        JournalEntry::TransferCreated {
            id: transfer.id,
            debit_previous: debit.last_transfer,
            credit_previous: credit.last_transfer,
        },
    ));
    debit.last_transfer = Some(transfer.timestamp);
    credit.last_transfer = Some(transfer.timestamp);
    changes.accounts.insert(debit.id.0, debit);
    changes.accounts.insert(credit.id.0, credit);
    changes.transfers.insert(transfer.id.0, transfer);
}
