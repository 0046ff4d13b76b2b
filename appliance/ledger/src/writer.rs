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
//! large, the active layer is frozen and handed to the applier thread, which writes it into redb in
//! one transaction with its keys sorted and commits — not durably, as the log holds it — while the
//! writer goes on with a new active layer. A frozen layer is dropped only after the commit holding
//! it returns, so a reader never misses an answered write: it looks in the active layer, then the
//! frozen one, then redb. The writer keeps its own handle on the frozen layer, and its redb
//! snapshot, until the applier reports the commit, then renews the snapshot.
//!
//! A checkpoint (every `checkpoint_interval` if anything was written since the last one, or when
//! the log's half is full) freezes the active
//! layer for a durable commit and moves the log to its other half, so groups go on being logged and
//! answered while redb syncs. Only a group too large for the log, and the final checkpoint, stop
//! the writer until the tables are durable.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info_span};

use crate::apply::{self, Delta, Group, ItemResults, Snapshot, Tables};
use crate::clock::Clock;
use crate::codec;
use crate::error::{AccountError, AssetError, CloseError, LedgerError, TransferError};
use crate::notes::{HookSlot, NoteGuard, NoteHolds};
use crate::types::{Account, AccountId, Asset, NewAccount, NewTransfer, Transfer};
use crate::wal::Wal;

type Reply<T, E> = oneshot::Sender<Result<ItemResults<T, E>, LedgerError>>;
type NotedReply =
    oneshot::Sender<Result<(ItemResults<Transfer, TransferError>, NoteGuard), LedgerError>>;

pub(crate) enum Command {
    Assets(Vec<Asset>, Reply<Asset, AssetError>),
    Accounts(Vec<NewAccount>, Reply<Account, AccountError>),
    Close(Vec<AccountId>, Reply<Account, CloseError>),
    Transfers(Vec<NewTransfer>, Reply<Transfer, TransferError>),
    /// Transfers with the caller's note, logged with them if they are created (`notes.rs`).
    NotedTransfers(Vec<NewTransfer>, Vec<u8>, NotedReply),
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
            Command::NotedTransfers(batch, _, _) => batch.len(),
            Command::Tick => 0,
        }
    }
}

/// Changes acknowledged but not yet committed to redb, shared with readers.
#[derive(Debug, Default)]
pub(crate) struct Layers {
    /// Where new groups are merged.
    pub(crate) active: Delta,
    /// Being written into redb by the applier.
    pub(crate) frozen: Option<Arc<Delta>>,
}

impl Layers {
    /// The newest answer `f` finds: the active layer, then the frozen one.
    pub(crate) fn find<T>(&self, f: impl Fn(&Delta) -> Option<T>) -> Option<T> {
        f(&self.active).or_else(|| self.frozen.as_deref().and_then(&f))
    }
}

pub(crate) type Memtable = Arc<RwLock<Layers>>;

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
    /// The last group a checkpoint covers: an idle ledger has nothing to checkpoint.
    pub(crate) checkpointed_seq: u64,
    pub(crate) last_table_commit: Instant,
    pub(crate) note_holds: Arc<NoteHolds>,
    pub(crate) checkpoint_hook: Arc<HookSlot>,
}

/// A frozen layer for the applier to write, with the log sequence number it ends at.
struct Job {
    layer: Arc<Delta>,
    wal_seq: u64,
    durability: redb::Durability,
    /// The halves of the log this durable commit lets be written again: their notes' records
    /// must be durable first.
    releases: &'static [usize],
}

/// The writer's side of the applier thread.
struct Applier {
    jobs: Option<std_mpsc::Sender<Job>>,
    done: std_mpsc::Receiver<Result<(), LedgerError>>,
    thread: Option<JoinHandle<()>>,
    /// The layer being applied, as the writer reads it until the applier is done.
    in_flight: Option<Arc<Delta>>,
}

impl Applier {
    fn start(
        db: Arc<redb::Database>,
        memtable: Memtable,
        note_holds: Arc<NoteHolds>,
        checkpoint_hook: Arc<HookSlot>,
    ) -> Result<Applier, LedgerError> {
        let (jobs, job_queue) = std_mpsc::channel::<Job>();
        let (done_tx, done) = std_mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("ledger-applier".into())
            .spawn(move || {
                for job in job_queue {
                    let result = release_notes(&note_holds, &checkpoint_hook, job.releases)
                        .and_then(|()| apply_layer(&db, &job));
                    if result.is_ok()
                        && let Ok(mut layers) = memtable.write()
                    {
                        // Readers find it in redb from now on.
                        layers.frozen = None;
                    }
                    if done_tx.send(result).is_err() {
                        return;
                    }
                }
            })
            .map_err(|error| LedgerError::WriterFailed(error.to_string()))?;
        Ok(Applier {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
            in_flight: None,
        })
    }

    fn send(&mut self, job: Job) -> Result<(), LedgerError> {
        self.in_flight = Some(Arc::clone(&job.layer));
        self.jobs
            .as_ref()
            .and_then(|jobs| jobs.send(job).ok())
            .ok_or_else(|| LedgerError::WriterFailed("the applier stopped".into()))
    }

    /// Whether the layer in flight is in redb (blocking until it is if `wait`). On `true` the
    /// caller must renew its snapshot.
    fn finished(&mut self, wait: bool) -> Result<bool, LedgerError> {
        if self.in_flight.is_none() {
            return Ok(false);
        }
        let result = if wait {
            self.done
                .recv()
                .map_err(|_| LedgerError::WriterFailed("the applier stopped".into()))?
        } else {
            match self.done.try_recv() {
                Ok(result) => result,
                Err(std_mpsc::TryRecvError::Empty) => return Ok(false),
                Err(std_mpsc::TryRecvError::Disconnected) => {
                    return Err(LedgerError::WriterFailed("the applier stopped".into()));
                }
            }
        };
        result?;
        self.in_flight = None;
        Ok(true)
    }

    fn stop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Before a durable commit lets `halves` of the log be written again: waits for the callers
/// holding guards on their notes to write their records, then has those records made durable.
fn release_notes(holds: &NoteHolds, hook: &HookSlot, halves: &[usize]) -> Result<(), LedgerError> {
    let Some(hook) = hook.get() else {
        // No caller writes records for notes.
        return Ok(());
    };
    if halves.is_empty() {
        // A table commit, not a checkpoint: the log keeps everything.
        return Ok(());
    }
    for &half in halves {
        if !holds.wait_released(half) {
            tracing::warn!(
                half,
                "a note's record is late; the log lets the note go without it"
            );
        }
    }
    hook().map_err(LedgerError::WriterFailed)
}

fn apply_layer(db: &redb::Database, job: &Job) -> Result<(), LedgerError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(job.durability)
        .map_err(|error| LedgerError::Storage(error.into()))?;
    if !job.layer.is_empty() {
        let mut tables = Tables::open(&txn)?;
        apply::write(&mut tables, &job.layer, job.wal_seq)?;
    }
    txn.commit()?;
    Ok(())
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
    NotedTransfers(NotedReply, ItemResults<Transfer, TransferError>, NoteGuard),
}

impl Answer {
    fn send(self) {
        // A caller that stopped waiting (its future was dropped) needs no answer.
        let _ = match self {
            Answer::Assets(reply, result) => reply.send(Ok(result)).map_err(drop),
            Answer::Accounts(reply, result) => reply.send(Ok(result)).map_err(drop),
            Answer::Close(reply, result) => reply.send(Ok(result)).map_err(drop),
            Answer::Transfers(reply, result) => reply.send(Ok(result)).map_err(drop),
            Answer::NotedTransfers(reply, result, guard) => {
                reply.send(Ok((result, guard))).map_err(drop)
            }
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
        Command::NotedTransfers(_, _, reply) => reply.send(Err(failed)).map_err(drop),
        Command::Tick => Ok(()),
    };
}

fn poisoned() -> LedgerError {
    LedgerError::WriterFailed("memtable poisoned".into())
}

impl Writer {
    pub(crate) fn run(mut self, mut queue: mpsc::Receiver<Command>) {
        let applier = Applier::start(
            Arc::clone(&self.db),
            Arc::clone(&self.memtable),
            Arc::clone(&self.note_holds),
            Arc::clone(&self.checkpoint_hook),
        );
        let mut applier = match applier {
            Ok(applier) => applier,
            Err(error) => {
                error!(%error, "cannot start the ledger applier");
                queue.close();
                while let Some(command) = queue.blocking_recv() {
                    fail(command, &error);
                }
                return;
            }
        };
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
                .renew_if_applied(&mut applier, &mut snapshot, false)
                .and_then(|()| self.commit_group(&mut applier, &mut snapshot, &mut group))
                .and_then(|()| self.commit_tables_if_due(&mut applier, &mut snapshot));
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
                applier.stop();
                return;
            }
        }
        // Every handle is gone: leave the tables complete and durable, and the log empty.
        if let Err(error) = self.checkpoint(&mut applier, &mut snapshot) {
            error!(%error, "final ledger checkpoint failed; the log will be replayed on open");
        }
        applier.stop();
    }

    /// Once the applier has committed the layer in flight, the snapshot must include it.
    fn renew_if_applied(
        &mut self,
        applier: &mut Applier,
        snapshot: &mut Option<Snapshot>,
        wait: bool,
    ) -> Result<(), LedgerError> {
        if applier.finished(wait)? {
            *snapshot = None;
            self.last_table_commit = Instant::now();
        }
        Ok(())
    }

    fn commit_group(
        &mut self,
        applier: &mut Applier,
        snapshot_slot: &mut Option<Snapshot>,
        group: &mut Vec<Command>,
    ) -> Result<(), LedgerError> {
        let mut answers = Vec::with_capacity(group.len());
        // The notes of the batches created, and which answers get their guards.
        let mut notes = Vec::new();
        let delta = {
            let snapshot = match snapshot_slot {
                Some(snapshot) => snapshot,
                None => snapshot_slot.insert(Snapshot::open(&self.db)?),
            };
            let layers = self.memtable.read().map_err(|_| poisoned())?;
            // The writer reads the layer in flight through its own handle: the shared one is
            // dropped as soon as redb has it, which may be before this snapshot is renewed.
            let mut memtable = vec![&layers.active];
            memtable.extend(applier.in_flight.as_deref());
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
                    Command::NotedTransfers(batch, note, reply) => {
                        let result = state.create_transfers(&batch)?;
                        if result.is_ok() {
                            notes.push(note);
                        }
                        Answer::NotedTransfers(reply, result, NoteGuard::unlogged())
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
        let payload = codec::encode_record(&delta, &notes);
        if !self.wal.fits(payload.len()) && self.wal.fits_in_empty_half(payload.len()) {
            self.rotate_log(applier, snapshot_slot, true)?;
        }
        let logged = self.wal.fits(payload.len());
        if logged {
            self.wal.append(seq, &payload)?;
        }
        self.last_timestamp = delta.last_timestamp;
        self.wal_seq = seq;
        self.memtable
            .write()
            .map_err(|_| poisoned())?
            .active
            .merge(delta);
        if logged && !notes.is_empty() {
            let mut guards = self
                .note_holds
                .hold(self.wal.half(), notes.len())
                .into_iter();
            for answer in &mut answers {
                if let Answer::NotedTransfers(_, Ok(_), guard) = answer
                    && let Some(held) = guards.next()
                {
                    *guard = held;
                }
            }
        }
        if !logged {
            // Too large for the log: make it durable through the tables instead. Its notes
            // were not logged: their guards say so, and their callers sync their records.
            self.checkpoint(applier, snapshot_slot)?;
        }
        // Durable and visible to readers: answer.
        answers.into_iter().for_each(Answer::send);
        Ok(())
    }

    fn commit_tables_if_due(
        &mut self,
        applier: &mut Applier,
        snapshot: &mut Option<Snapshot>,
    ) -> Result<(), LedgerError> {
        if self.last_checkpoint.elapsed() >= self.checkpoint_interval
            && self.wal_seq != self.checkpointed_seq
        {
            // Not worth a wait: taken as soon as the applier is free.
            self.rotate_log(applier, snapshot, false)?;
        }
        let items = self.memtable.read().map_err(|_| poisoned())?.active.items();
        if items >= self.memtable_items_max.saturating_mul(2) {
            // The applier is not keeping up: wait for it rather than grow without bound.
            self.renew_if_applied(applier, snapshot, true)?;
        }
        let due = items >= self.memtable_items_max
            || (items > 0 && self.last_table_commit.elapsed() >= self.table_commit_interval);
        if due && applier.in_flight.is_none() {
            self.freeze(applier, redb::Durability::None, &[])?;
        }
        Ok(())
    }

    /// Hands the active layer to the applier and starts a new one.
    fn freeze(
        &mut self,
        applier: &mut Applier,
        durability: redb::Durability,
        releases: &'static [usize],
    ) -> Result<(), LedgerError> {
        let layer = {
            let mut layers = self.memtable.write().map_err(|_| poisoned())?;
            let layer = Arc::new(std::mem::take(&mut layers.active));
            // Moved under one lock: a reader sees the changes in one layer or the other.
            layers.frozen = Some(Arc::clone(&layer));
            layer
        };
        self.last_table_commit = Instant::now();
        applier.send(Job {
            layer,
            wal_seq: self.wal_seq,
            durability,
            releases,
        })
    }

    /// Starts a checkpoint of everything logged in this half of the log, and moves to the other
    /// half. The other half is free once the applier is: a checkpoint is the applier's only job
    /// until it returns. With `wait`, waits for the applier; without, does nothing while it is busy.
    fn rotate_log(
        &mut self,
        applier: &mut Applier,
        snapshot: &mut Option<Snapshot>,
        wait: bool,
    ) -> Result<(), LedgerError> {
        self.renew_if_applied(applier, snapshot, wait)?;
        if applier.in_flight.is_some() {
            return Ok(());
        }
        let releases: &'static [usize] = if self.wal.half() == 0 { &[0] } else { &[1] };
        self.freeze(applier, redb::Durability::Immediate, releases)?;
        self.wal.switch_halves();
        self.last_checkpoint = Instant::now();
        self.checkpointed_seq = self.wal_seq;
        Ok(())
    }

    /// Makes everything written so far durable in the tables, and empties the log. New groups
    /// wait meanwhile.
    fn checkpoint(
        &mut self,
        applier: &mut Applier,
        snapshot: &mut Option<Snapshot>,
    ) -> Result<(), LedgerError> {
        self.renew_if_applied(applier, snapshot, true)?;
        self.freeze(applier, redb::Durability::Immediate, &[0, 1])?;
        self.renew_if_applied(applier, snapshot, true)?;
        self.wal.reset();
        self.last_checkpoint = Instant::now();
        self.checkpointed_seq = self.wal_seq;
        Ok(())
    }
}
