//! Tongka's ledger: a double-entry ledger on one redb file, the only place a balance changes.
//!
//! Every balance — points, stored value, growth, a punch card, a coupon — is an [`Account`] of one
//! [`Asset`]. A [`Transfer`] moves an amount of an asset from a debit account to a credit account;
//! it is immutable, and identified by a client-chosen id that doubles as its idempotency key.
//! Transfers of one batch commit together or not at all; pending transfers hold an amount until
//! posted, voided, or expired.
//!
//! What this crate is not: it knows no members, stores or orders (owners and references are opaque
//! numbers), does no rounding (amounts are exact integers of the asset's smallest unit; see
//! [`Asset::to_minor_units`]), and opens no socket.
//!
//! Invariants, checked by [`verify()`]: for every asset, total debits equal total credits; every
//! stored balance equals the balance rebuilt from the journal; no account is past the limit its
//! flags set; timestamps strictly increase.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod amount;
mod apply;
mod clock;
mod codec;
mod error;
mod notes;
mod paced;
mod store;
mod types;
mod verify;
mod wal;
mod writer;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use redb::{ReadableDatabase, ReadableTable};
use tokio::sync::{mpsc, oneshot};

pub use amount::AmountError;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{AccountError, AssetError, BatchError, CloseError, LedgerError, TransferError};
pub use notes::{CheckpointHook, NoteGuard};
pub use paced::PacedFile;
pub use types::{
    ASSET_CODE_LEN_MAX, Account, AccountFlags, AccountId, Applied, Asset, AssetId, Balance,
    NewAccount, NewTransfer, PendingStatus, SCALE_MAX, Timestamp, Transfer, TransferId,
    TransferKind, TransferPage, UserData,
};
pub use verify::{AssetTotals, VerifyReport, Violation, WideSum, verify};

use apply::Delta;
use apply::ItemResults;
use codec::JournalEntry;
use notes::{HookSlot, NoteHolds};
use writer::{Command, Layers, Memtable, Writer};

/// How the ledger is run. The defaults suit the box; tests shrink or fake them.
#[derive(Clone, Debug)]
pub struct LedgerOptions {
    /// The most items (transfers, accounts…) one batch may hold.
    pub batch_items_max: usize,
    /// The most items the writer puts into one commit before it commits and starts another.
    pub group_items_max: usize,
    /// How many batches may wait for the writer; callers wait for room beyond that.
    pub queue_depth_max: usize,
    /// How often an idle writer sweeps expired pending transfers; `None` sweeps only when writing.
    pub expiry_sweep_interval_ms: Option<u64>,
    /// The most transfers one page of an account's history holds.
    pub page_size_max: usize,
    /// The size of the write-ahead log file (preallocated). A group that does not fit is
    /// made durable by a checkpoint instead.
    pub wal_bytes_max: u64,
    /// How often the tables are made durable on their own, which empties the log.
    pub checkpoint_interval_ms: u64,
    /// How often acknowledged changes are committed to the tables (not durably: the log holds
    /// them). Until then readers find them in memory.
    pub table_commit_interval_ms: u64,
    /// The most records kept in memory before they are committed to the tables regardless.
    pub memtable_items_max: usize,
    pub clock: Arc<dyn Clock>,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            batch_items_max: 8_190,
            group_items_max: 16_380,
            queue_depth_max: 4_096,
            expiry_sweep_interval_ms: Some(1_000),
            page_size_max: 1_000,
            wal_bytes_max: 64 << 20,
            checkpoint_interval_ms: 1_000,
            table_commit_interval_ms: 50,
            memtable_items_max: 65_536,
            clock: Arc::new(SystemClock),
        }
    }
}

/// A handle on an open ledger. Cheap to clone; every clone talks to the same writer. Reads run on
/// the caller's thread, against the memtable and then a redb snapshot; they wait for the writer
/// only while it merges a group into the memtable (a short lock), never for a disk write.
#[derive(Clone, Debug)]
pub struct Ledger {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Arc<redb::Database>,
    memtable: Memtable,
    /// `None` only while the last handle is being dropped.
    queue: Option<mpsc::Sender<Command>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Set once by the caller that writes records for its notes.
    checkpoint_hook: Arc<HookSlot>,
    options: LedgerOptions,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping the queue's sender ends the writer's loop; wait for it so the file is closed
        // (and checkpointed) when the last handle is gone.
        drop(self.queue.take());
        if let Ok(mut writer) = self.writer.lock()
            && let Some(handle) = writer.take()
        {
            let _ = handle.join();
        }
    }
}

impl Ledger {
    /// Opens the ledger file at `path`, creating it if missing, replays its write-ahead log
    /// (`path` with the extension `wal`), and starts its writer.
    pub fn open(path: &Path, options: LedgerOptions) -> Result<Ledger, LedgerError> {
        let db = Arc::new(
            redb::Database::builder()
                .create_with_backend(paced::PacedFile::open(path, paced::SLICE_BYTES)?)?,
        );
        let position = store::init(&db)?;
        let records = wal::recover(&wal_path(path))?;
        let position = replay(&db, position, records)?;
        let wal = wal::Wal::create(&wal_path(path), options.wal_bytes_max)?;
        let (queue, receiver) = mpsc::channel(options.queue_depth_max.max(1));
        let memtable = Memtable::default();
        let checkpoint_hook = Arc::new(HookSlot::default());
        let writer = Writer {
            note_holds: Arc::new(NoteHolds::default()),
            checkpoint_hook: Arc::clone(&checkpoint_hook),
            db: Arc::clone(&db),
            clock: Arc::clone(&options.clock),
            last_timestamp: position.last_timestamp,
            group_items_max: options.group_items_max.max(1),
            wal,
            wal_seq: position.wal_seq,
            memtable: Arc::clone(&memtable),
            memtable_items_max: options.memtable_items_max.max(1),
            table_commit_interval: Duration::from_millis(options.table_commit_interval_ms),
            checkpoint_interval: Duration::from_millis(options.checkpoint_interval_ms),
            last_checkpoint: std::time::Instant::now(),
            checkpointed_seq: position.wal_seq,
            last_table_commit: std::time::Instant::now(),
        };
        let handle = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|error| LedgerError::WriterFailed(error.to_string()))?;
        if let Some(interval_ms) = options.expiry_sweep_interval_ms {
            spawn_sweeper(queue.downgrade(), Duration::from_millis(interval_ms.max(1)))?;
        }
        Ok(Ledger {
            inner: Arc::new(Inner {
                db,
                memtable,
                queue: Some(queue),
                writer: Mutex::new(Some(handle)),
                checkpoint_hook,
                options,
            }),
        })
    }

    async fn submit<T, E>(
        &self,
        len: usize,
        command: impl FnOnce(oneshot::Sender<Result<ItemResults<T, E>, LedgerError>>) -> Command,
    ) -> Result<Vec<Applied<T>>, BatchError<E>>
    where
        E: std::error::Error + 'static,
    {
        if len == 0 {
            return Ok(Vec::new());
        }
        let max = self.inner.options.batch_items_max;
        if len > max {
            return Err(LedgerError::BatchTooLarge { len, max }.into());
        }
        let (reply, answer) = oneshot::channel();
        let queue = self.inner.queue.as_ref().ok_or(LedgerError::ShutDown)?;
        queue
            .send(command(reply))
            .await
            .map_err(|_| LedgerError::ShutDown)?;
        match answer.await.map_err(|_| LedgerError::ShutDown)?? {
            Ok(applied) => Ok(applied),
            Err(errors) => Err(BatchError::Rejected { errors }),
        }
    }

    /// Creates assets. Creating an existing asset with the same code and scale is a no-op.
    pub async fn create_assets(
        &self,
        batch: Vec<Asset>,
    ) -> Result<Vec<Applied<Asset>>, BatchError<AssetError>> {
        self.submit(batch.len(), |reply| Command::Assets(batch, reply))
            .await
    }

    /// Creates accounts, all or none.
    pub async fn create_accounts(
        &self,
        batch: Vec<NewAccount>,
    ) -> Result<Vec<Applied<Account>>, BatchError<AccountError>> {
        self.submit(batch.len(), |reply| Command::Accounts(batch, reply))
            .await
    }

    /// Closes accounts, all or none. A closed account takes no new transfers.
    pub async fn close_accounts(
        &self,
        batch: Vec<AccountId>,
    ) -> Result<Vec<Applied<Account>>, BatchError<CloseError>> {
        self.submit(batch.len(), |reply| Command::Close(batch, reply))
            .await
    }

    /// Creates transfers, all or none. Returns once they are durable.
    pub async fn create_transfers(
        &self,
        batch: Vec<NewTransfer>,
    ) -> Result<Vec<Applied<Transfer>>, BatchError<TransferError>> {
        self.submit(batch.len(), |reply| Command::Transfers(batch, reply))
            .await
    }

    /// Creates transfers, all or none, with `note` in the same log record (see `notes.rs`): the
    /// caller's own record of the batch, made durable by the same sync. The caller holds the
    /// guard until it has written that record, which it may do without syncing if the guard says
    /// the note was logged; the checkpoint hook must make it durable.
    pub async fn create_transfers_noted(
        &self,
        batch: Vec<NewTransfer>,
        note: Vec<u8>,
    ) -> Result<(Vec<Applied<Transfer>>, NoteGuard), BatchError<TransferError>> {
        if batch.is_empty() {
            return Ok((Vec::new(), NoteGuard::unlogged()));
        }
        let max = self.inner.options.batch_items_max;
        if batch.len() > max {
            let len = batch.len();
            return Err(LedgerError::BatchTooLarge { len, max }.into());
        }
        let (reply, answer) = oneshot::channel();
        let queue = self.inner.queue.as_ref().ok_or(LedgerError::ShutDown)?;
        queue
            .send(Command::NotedTransfers(batch, note, reply))
            .await
            .map_err(|_| LedgerError::ShutDown)?;
        match answer.await.map_err(|_| LedgerError::ShutDown)?? {
            (Ok(applied), guard) => Ok((applied, guard)),
            (Err(errors), _) => Err(BatchError::Rejected { errors }),
        }
    }

    /// Sets what makes the callers' records of their notes durable; run before each checkpoint
    /// lets the log forget notes. Only the first call sets it.
    pub fn set_checkpoint_hook(&self, hook: CheckpointHook) {
        self.inner.checkpoint_hook.set(hook);
    }

    /// The notes found in the log when it was opened (a crash stopped the box before their
    /// records were surely durable), in the order they were logged. Kept until
    /// `forget_replayed_notes`, so they are handed back again if the box stops before that.
    pub fn replayed_notes(&self) -> Result<Vec<Vec<u8>>, LedgerError> {
        let txn = self.read()?;
        let table = txn.open_table(store::REPLAYED_NOTES)?;
        let mut notes = Vec::new();
        for entry in table.iter()? {
            notes.push(entry?.1.value().to_vec());
        }
        Ok(notes)
    }

    /// Lets go of the replayed notes, once the caller's records of them are durable. For the
    /// start, before any noted batch: its commit is durable, and makes the tables' latest
    /// (unsynced) commits durable with it, which lets the log forget what they hold.
    pub fn forget_replayed_notes(&self) -> Result<(), LedgerError> {
        let txn = self.inner.db.begin_write()?;
        {
            let mut table = txn.open_table(store::REPLAYED_NOTES)?;
            table.retain(|_, _| false)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// A snapshot of redb. Read after the memtable: an answered write is in one or the other,
    /// because the memtable is cleared only after redb has what it held.
    fn read(&self) -> Result<redb::ReadTransaction, LedgerError> {
        Ok(self.inner.db.begin_read()?)
    }

    /// Runs `f` on the memtable: acknowledged changes not yet committed to redb.
    fn memtable<T>(&self, f: impl FnOnce(&Layers) -> T) -> Result<T, LedgerError> {
        let layers = self
            .inner
            .memtable
            .read()
            .map_err(|_| LedgerError::WriterFailed("memtable poisoned".into()))?;
        Ok(f(&layers))
    }

    /// Looks `f` up in the memtable, newest layer first.
    fn recent<T>(&self, f: impl Fn(&Delta) -> Option<T>) -> Result<Option<T>, LedgerError> {
        self.memtable(|layers| layers.find(f))
    }

    pub fn asset(&self, id: AssetId) -> Result<Option<Asset>, LedgerError> {
        if let Some(asset) = self.recent(|m| m.assets.get(&id.0).cloned())? {
            return Ok(Some(asset));
        }
        let txn = self.read()?;
        let table = txn.open_table(store::ASSETS)?;
        table
            .get(id.0)?
            .map(|bytes| codec::decode_asset(id.0, bytes.value()))
            .transpose()
    }

    pub fn account(&self, id: AccountId) -> Result<Option<Account>, LedgerError> {
        if let Some(account) = self.recent(|m| m.accounts.get(&id.0).cloned())? {
            return Ok(Some(account));
        }
        let txn = self.read()?;
        let table = txn.open_table(store::ACCOUNTS)?;
        table
            .get(id.0)?
            .map(|bytes| codec::decode_account(id.0, bytes.value()))
            .transpose()
    }

    /// Several accounts in one look: the memtable once, then one redb snapshot for those it
    /// does not hold. A till reads a member's five balances this way on every sale.
    pub fn accounts(&self, ids: &[AccountId]) -> Result<Vec<Option<Account>>, LedgerError> {
        let mut found: Vec<Option<Account>> = self.memtable(|layers| {
            ids.iter()
                .map(|id| layers.find(|m| m.accounts.get(&id.0).cloned()))
                .collect()
        })?;
        if found.iter().any(Option::is_none) {
            let txn = self.read()?;
            let table = txn.open_table(store::ACCOUNTS)?;
            for (slot, id) in found.iter_mut().zip(ids) {
                if slot.is_none() {
                    *slot = table
                        .get(id.0)?
                        .map(|bytes| codec::decode_account(id.0, bytes.value()))
                        .transpose()?;
                }
            }
        }
        Ok(found)
    }

    /// The balance of an account: posted and pending, debits and credits.
    pub fn balance(&self, id: AccountId) -> Result<Option<Balance>, LedgerError> {
        Ok(self.account(id)?.map(|account| account.balance))
    }

    pub fn transfer(&self, id: TransferId) -> Result<Option<Transfer>, LedgerError> {
        if let Some(transfer) = self.recent(|m| m.transfers.get(&id.0).copied())? {
            return Ok(Some(transfer));
        }
        let txn = self.read()?;
        let table = txn.open_table(store::TRANSFERS)?;
        table
            .get(id.0)?
            .map(|bytes| codec::decode_transfer(id.0, bytes.value()))
            .transpose()
    }

    /// Where a pending transfer stands; `None` if `id` is not a pending transfer.
    pub fn pending_status(&self, id: TransferId) -> Result<Option<PendingStatus>, LedgerError> {
        if let Some(status) = self.recent(|m| m.statuses.get(&id.0).copied())? {
            return Ok(Some(status));
        }
        let txn = self.read()?;
        let table = txn.open_table(store::PENDING_STATUS)?;
        table
            .get(id.0)?
            .map(|byte| codec::decode_pending_status(byte.value()))
            .transpose()
    }

    /// An account's transfers, newest first, `limit` at a time (capped by `page_size_max`),
    /// starting at `from` (the previous page's `next`) or at the newest. A `from` that is not one
    /// of the account's transfers gives an empty page.
    pub fn account_transfers(
        &self,
        id: AccountId,
        from: Option<Timestamp>,
        limit: usize,
    ) -> Result<TransferPage, LedgerError> {
        let limit = limit.clamp(1, self.inner.options.page_size_max.max(1));
        let mut walk = HistoryWalk {
            account: id,
            next: from.map(|t| t.0),
            transfers: Vec::with_capacity(limit),
        };
        // The chain starts in the memtable and runs back into redb. The snapshot is taken under
        // the memtable's lock, so whatever the memtable does not hold, the snapshot does.
        let txn = {
            let layers = self
                .inner
                .memtable
                .read()
                .map_err(|_| LedgerError::WriterFailed("memtable poisoned".into()))?;
            let txn = self.read()?;
            if from.is_none() {
                walk.next = match layers.find(|m| m.accounts.get(&id.0).cloned()) {
                    Some(account) => account.last_transfer.map(|t| t.0),
                    None => txn
                        .open_table(store::ACCOUNTS)?
                        .get(id.0)?
                        .map(|bytes| codec::decode_account(id.0, bytes.value()))
                        .transpose()?
                        .and_then(|account| account.last_transfer.map(|t| t.0)),
                };
            }
            while walk.transfers.len() < limit
                && let Some(at) = walk.next
            {
                let found = layers.find(|m| {
                    let entry = m.journal_entry(at)?;
                    Some((entry, m.transfers.get(&entry.0.0).copied()))
                });
                let Some((entry, transfer)) = found else {
                    break; // Older than the memtable: in redb from here on.
                };
                let transfer = match transfer {
                    Some(transfer) => transfer,
                    None => load_transfer(&txn.open_table(store::TRANSFERS)?, entry.0)?,
                };
                if !walk.step(at, transfer, entry)? {
                    break;
                }
            }
            txn
        };
        let journal = txn.open_table(store::JOURNAL)?;
        let transfers = txn.open_table(store::TRANSFERS)?;
        while walk.transfers.len() < limit
            && let Some(at) = walk.next
        {
            let entry = match journal.get(at)?.map(|v| codec::decode_journal(v.value())) {
                Some(Ok(JournalEntry::TransferCreated {
                    id,
                    debit_previous,
                    credit_previous,
                })) => (id, debit_previous, credit_previous),
                Some(Err(error)) => return Err(error),
                _ if walk.transfers.is_empty() => break,
                _ => {
                    return Err(LedgerError::Corrupt(format!(
                        "account {id}'s history links to {at}, which is not a transfer"
                    )));
                }
            };
            let transfer = load_transfer(&transfers, entry.0)?;
            if !walk.step(at, transfer, entry)? {
                break;
            }
        }
        let next = walk.next.map(Timestamp);
        Ok(TransferPage {
            transfers: walk.transfers,
            next,
        })
    }

    /// Every asset, by id.
    pub fn assets(&self) -> Result<Vec<Asset>, LedgerError> {
        let mut assets: std::collections::BTreeMap<u32, Asset> = self.memtable(|layers| {
            [Some(&layers.active), layers.frozen.as_deref()]
                .into_iter()
                .flatten()
                .flat_map(|layer| layer.assets.iter())
                .map(|(id, asset)| (*id, asset.clone()))
                .collect()
        })?;
        let txn = self.read()?;
        let table = txn.open_table(store::ASSETS)?;
        for entry in table.iter()? {
            let (id, bytes) = entry?;
            let id = id.value();
            if let std::collections::btree_map::Entry::Vacant(slot) = assets.entry(id) {
                slot.insert(codec::decode_asset(id, bytes.value())?);
            }
        }
        Ok(assets.into_values().collect())
    }
}

/// Where an account's history walk stands.
struct HistoryWalk {
    account: AccountId,
    /// The timestamp of the next transfer to visit.
    next: Option<u64>,
    transfers: Vec<Transfer>,
}

/// A journal entry for a transfer: its id and the debit and credit accounts' previous transfers.
type HistoryLink = (TransferId, Option<Timestamp>, Option<Timestamp>);

impl HistoryWalk {
    /// Takes the transfer found at `at` and follows the account's link. `false` ends the walk: a
    /// starting point that is not this account's transfer gives an empty page.
    fn step(
        &mut self,
        at: u64,
        transfer: Transfer,
        (_, debit_previous, credit_previous): HistoryLink,
    ) -> Result<bool, LedgerError> {
        let previous = if transfer.debit == self.account {
            debit_previous
        } else if transfer.credit == self.account {
            credit_previous
        } else if self.transfers.is_empty() {
            self.next = None;
            return Ok(false);
        } else {
            return Err(LedgerError::Corrupt(format!(
                "account {}'s history links to transfer {}, which does not move it",
                self.account, transfer.id
            )));
        };
        if transfer.timestamp.0 != at || previous.is_some_and(|p| p.0 >= at) {
            return Err(LedgerError::Corrupt(format!(
                "account {}'s history is out of order at {at}",
                self.account
            )));
        }
        self.transfers.push(transfer);
        self.next = previous.map(|p| p.0);
        Ok(true)
    }
}

fn load_transfer(
    table: &redb::ReadOnlyTable<u128, &'static [u8]>,
    id: TransferId,
) -> Result<Transfer, LedgerError> {
    let bytes = table
        .get(id.0)?
        .ok_or_else(|| LedgerError::Corrupt(format!("the journal names missing transfer {id}")))?;
    codec::decode_transfer(id.0, bytes.value())
}

/// The write-ahead log that belongs to the ledger file at `path`.
pub fn wal_path(path: &Path) -> std::path::PathBuf {
    path.with_extension("wal")
}

/// Writes the logged groups the tables do not have yet, durably, in order.
fn replay(
    db: &redb::Database,
    mut position: store::Position,
    records: Vec<wal::Record>,
) -> Result<store::Position, LedgerError> {
    let mut pending: Vec<wal::Record> = Vec::new();
    for record in records.into_iter().filter(|r| r.seq > position.wal_seq) {
        match pending.last() {
            // Read twice: once from each half's start (see `wal::recover`).
            Some(last) if last.seq == record.seq && last.payload == record.payload => {}
            Some(last) if last.seq == record.seq => {
                return Err(LedgerError::Corrupt(format!(
                    "the log holds two different groups numbered {}",
                    record.seq
                )));
            }
            Some(last) if last.seq + 1 != record.seq => {
                return Err(LedgerError::Corrupt(format!(
                    "the log skips from group {} to group {}",
                    last.seq, record.seq
                )));
            }
            _ => pending.push(record),
        }
    }
    let Some(first) = pending.first() else {
        return Ok(position);
    };
    if first.seq != position.wal_seq + 1 {
        return Err(LedgerError::Corrupt(format!(
            "the log starts at group {} but the tables end at group {}",
            first.seq, position.wal_seq
        )));
    }
    let txn = db.begin_write()?;
    {
        let mut tables = apply::Tables::open(&txn)?;
        let mut replayed_notes = txn.open_table(store::REPLAYED_NOTES)?;
        let mut next_note = replayed_notes.last()?.map_or(0, |(key, _)| key.value() + 1);
        for record in &pending {
            let (delta, notes) = codec::decode_record(&record.payload)?;
            // Kept with the tables this replay makes durable: the log they came from is
            // written again from now on.
            for note in notes {
                replayed_notes.insert(next_note, note.as_slice())?;
                next_note += 1;
            }
            if delta.last_timestamp < position.last_timestamp {
                return Err(LedgerError::Corrupt(format!(
                    "log group {} goes back in time",
                    record.seq
                )));
            }
            apply::write(&mut tables, &delta, record.seq)?;
            position = store::Position {
                last_timestamp: delta.last_timestamp,
                wal_seq: record.seq,
            };
        }
    }
    txn.commit()?;
    tracing::info!(groups = pending.len(), "ledger log replayed");
    Ok(position)
}

/// Nudges the writer to sweep expired holds while no one writes. Holds only a weak sender, so it
/// stops by itself once the ledger is dropped.
fn spawn_sweeper(queue: mpsc::WeakSender<Command>, interval: Duration) -> Result<(), LedgerError> {
    std::thread::Builder::new()
        .name("ledger-sweeper".into())
        .spawn(move || {
            loop {
                std::thread::sleep(interval);
                let Some(queue) = queue.upgrade() else { return };
                // A full queue means the writer is busy, and every group sweeps anyway.
                if let Err(mpsc::error::TrySendError::Closed(_)) = queue.try_send(Command::Tick) {
                    return;
                }
            }
        })
        .map(drop)
        .map_err(|error| LedgerError::WriterFailed(error.to_string()))
}
