//! The single writer: the only code that changes the ledger, and the one that makes many callers'
//! batches durable with one log sync (group commit).
//!
//! Callers queue a `Command` on a bounded channel and wait on a oneshot. The writer blocks for the
//! first command, drains whatever else is already queued (up to `group_items_max` items), and
//! evaluates all of it into one `Delta` against the memtable and a redb read snapshot. Then:
//!
//! 1. the delta is appended to the write-ahead log and synced — from here on it survives a crash;
//! 2. it is merged into the memtable, where readers see it;
//! 3. every caller is answered.
//!
//! Nothing is written to redb per group. Every `table_commit_interval`, or when the memtable is
//! large, the whole memtable is written into redb in one transaction with its keys sorted, and
//! committed — not durably, as the log holds it; durably at each checkpoint, which empties the log.
//! The memtable is cleared only after that commit returns, so a reader never misses an answered
//! write: it looks in the memtable first, then in redb.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info_span};

use crate::apply::{self, Delta, Group, ItemResults, Snapshot, Tables};
use crate::clock::Clock;
use crate::codec;
use crate::error::{AccountError, AssetError, CloseError, LedgerError, TransferError};
use crate::types::{Account, AccountId, Asset, NewAccount, NewTransfer, Transfer};
use crate::wal::Wal;

type Reply<T, E> = oneshot::Sender<Result<ItemResults<T, E>, LedgerError>>;

pub(crate) enum Command {
    Assets(Vec<Asset>, Reply<Asset, AssetError>),
    Accounts(Vec<NewAccount>, Reply<Account, AccountError>),
    Close(Vec<AccountId>, Reply<Account, CloseError>),
    Transfers(Vec<NewTransfer>, Reply<Transfer, TransferError>),
    /// Nothing to apply: lets an idle writer sweep expired holds and commit what is open.
    Tick,
}

impl Command {
    fn items(&self) -> usize {
        match self {
            Command::Assets(batch, _) => batch.len(),
            Command::Accounts(batch, _) => batch.len(),
            Command::Close(batch, _) => batch.len(),
            Command::Transfers(batch, _) => batch.len(),
            Command::Tick => 0,
        }
    }
}

/// Changes acknowledged but not yet committed to redb, shared with readers.
pub(crate) type Memtable = Arc<RwLock<Delta>>;

pub(crate) struct Writer {
    pub(crate) db: Arc<redb::Database>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) last_timestamp: u64,
    pub(crate) group_items_max: usize,
    pub(crate) wal: Wal,
    /// The sequence number of the last group written.
    pub(crate) wal_seq: u64,
    pub(crate) memtable: Memtable,
    pub(crate) memtable_items_max: usize,
    pub(crate) table_commit_interval: Duration,
    pub(crate) checkpoint_interval: Duration,
    pub(crate) last_checkpoint: Instant,
    pub(crate) last_table_commit: Instant,
}

/// What a command's caller is answered, kept until the changes are durable.
enum Answer {
    Assets(Reply<Asset, AssetError>, ItemResults<Asset, AssetError>),
    Accounts(
        Reply<Account, AccountError>,
        ItemResults<Account, AccountError>,
    ),
    Close(Reply<Account, CloseError>, ItemResults<Account, CloseError>),
    Transfers(
        Reply<Transfer, TransferError>,
        ItemResults<Transfer, TransferError>,
    ),
}

impl Answer {
    fn send(self) {
        // A caller that stopped waiting (its future was dropped) needs no answer.
        let _ = match self {
            Answer::Assets(reply, result) => reply.send(Ok(result)).map_err(drop),
            Answer::Accounts(reply, result) => reply.send(Ok(result)).map_err(drop),
            Answer::Close(reply, result) => reply.send(Ok(result)).map_err(drop),
            Answer::Transfers(reply, result) => reply.send(Ok(result)).map_err(drop),
        };
    }
}

fn fail(command: Command, error: &LedgerError) {
    let failed = LedgerError::WriterFailed(error.to_string());
    let _ = match command {
        Command::Assets(_, reply) => reply.send(Err(failed)).map_err(drop),
        Command::Accounts(_, reply) => reply.send(Err(failed)).map_err(drop),
        Command::Close(_, reply) => reply.send(Err(failed)).map_err(drop),
        Command::Transfers(_, reply) => reply.send(Err(failed)).map_err(drop),
        Command::Tick => Ok(()),
    };
}

fn poisoned() -> LedgerError {
    LedgerError::WriterFailed("memtable poisoned".into())
}

impl Writer {
    pub(crate) fn run(mut self, mut queue: mpsc::Receiver<Command>) {
        let mut group = Vec::new();
        let mut snapshot = None;
        while let Some(first) = queue.blocking_recv() {
            let mut items = first.items();
            group.push(first);
            while items < self.group_items_max {
                match queue.try_recv() {
                    Ok(command) => {
                        items += command.items();
                        group.push(command);
                    }
                    Err(_) => break,
                }
            }
            let span = info_span!("ledger_group", commands = group.len(), items);
            let _entered = span.enter();
            let result = self
                .commit_group(&mut snapshot, &mut group)
                .and_then(|()| self.commit_tables_if_due(&mut snapshot));
            if let Err(error) = result {
                // Refuse everything from now on rather than risk acknowledging what is not
                // durable. What was answered is in the log and is replayed on the next open.
                error!(%error, "ledger write failed; the writer stops");
                for command in group.drain(..) {
                    fail(command, &error);
                }
                queue.close();
                while let Some(command) = queue.blocking_recv() {
                    fail(command, &error);
                }
                return;
            }
        }
        // Every handle is gone: leave the tables complete and durable, and the log empty.
        if let Err(error) = self.checkpoint(&mut snapshot) {
            error!(%error, "final ledger checkpoint failed; the log will be replayed on open");
        }
    }

    fn commit_group(
        &mut self,
        snapshot_slot: &mut Option<Snapshot>,
        group: &mut Vec<Command>,
    ) -> Result<(), LedgerError> {
        let mut answers = Vec::with_capacity(group.len());
        let delta = {
            let snapshot = match snapshot_slot {
                Some(snapshot) => snapshot,
                None => snapshot_slot.insert(Snapshot::open(&self.db)?),
            };
            let memtable = self.memtable.read().map_err(|_| poisoned())?;
            let mut state = Group::new(
                snapshot,
                &memtable,
                self.clock.as_ref(),
                self.last_timestamp,
            );
            let expired = state.expire_due()?;
            if expired > 0 {
                debug!(expired, "pending transfers expired");
            }
            for command in group.drain(..) {
                answers.push(match command {
                    Command::Assets(batch, reply) => {
                        Answer::Assets(reply, state.create_assets(&batch)?)
                    }
                    Command::Accounts(batch, reply) => {
                        Answer::Accounts(reply, state.create_accounts(&batch)?)
                    }
                    Command::Close(batch, reply) => {
                        Answer::Close(reply, state.close_accounts(&batch)?)
                    }
                    Command::Transfers(batch, reply) => {
                        Answer::Transfers(reply, state.create_transfers(&batch)?)
                    }
                    Command::Tick => continue,
                });
            }
            state.into_delta()
        };
        if delta.is_empty() {
            // Retries, refusals, an idle tick: nothing to write.
            answers.into_iter().for_each(Answer::send);
            return Ok(());
        }
        assert!(
            delta.last_timestamp >= self.last_timestamp,
            "ledger time went backwards"
        );
        let seq = self.wal_seq + 1;
        let payload = codec::encode_delta(&delta);
        let logged = self.wal.fits(payload.len());
        if logged {
            self.wal.append(seq, &payload)?;
        }
        self.last_timestamp = delta.last_timestamp;
        self.wal_seq = seq;
        self.memtable.write().map_err(|_| poisoned())?.merge(delta);
        if !logged {
            // Too large for what is left of the log: make it durable through the tables instead.
            self.checkpoint(snapshot_slot)?;
        }
        // Durable and visible to readers: answer.
        answers.into_iter().for_each(Answer::send);
        Ok(())
    }

    fn commit_tables_if_due(&mut self, snapshot: &mut Option<Snapshot>) -> Result<(), LedgerError> {
        if self.last_checkpoint.elapsed() >= self.checkpoint_interval {
            return self.checkpoint(snapshot);
        }
        let items = self.memtable.read().map_err(|_| poisoned())?.items();
        let due = items >= self.memtable_items_max
            || (items > 0 && self.last_table_commit.elapsed() >= self.table_commit_interval);
        if due {
            self.commit_tables(snapshot, redb::Durability::None)?;
        }
        Ok(())
    }

    /// Writes the memtable into redb, commits, then clears the memtable and renews the snapshot.
    fn commit_tables(
        &mut self,
        snapshot: &mut Option<Snapshot>,
        durability: redb::Durability,
    ) -> Result<(), LedgerError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(durability)
            .map_err(|error| LedgerError::Storage(error.into()))?;
        {
            // Readers keep reading the memtable while it is written out.
            let memtable = self.memtable.read().map_err(|_| poisoned())?;
            if !memtable.is_empty() {
                let mut tables = Tables::open(&txn)?;
                apply::write(&mut tables, &memtable, self.wal_seq)?;
            }
        }
        txn.commit()?;
        *self.memtable.write().map_err(|_| poisoned())? = Delta::default();
        *snapshot = None;
        self.last_table_commit = Instant::now();
        Ok(())
    }

    /// Makes everything written so far durable in the tables, and empties the log.
    fn checkpoint(&mut self, snapshot: &mut Option<Snapshot>) -> Result<(), LedgerError> {
        self.commit_tables(snapshot, redb::Durability::Immediate)?;
        self.wal.reset();
        self.last_checkpoint = Instant::now();
        Ok(())
    }
}
