//! The single writer: owns every redb write transaction, and commits many callers' batches with
//! one durable commit (group commit).
//!
//! Callers queue a `Command` on a bounded channel and wait on a oneshot. The writer blocks for the
//! first command, drains whatever else is already queued (up to `group_items_max` items), applies
//! all of it in one transaction, commits once, and only then answers every caller — so an answer
//! always means "durable".

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info_span};

use crate::apply::{self, Group, ItemResults, Tables};
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
    /// Nothing to apply: lets an idle writer sweep expired pending transfers.
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

pub(crate) struct Writer {
    pub(crate) db: Arc<redb::Database>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) last_timestamp: u64,
    pub(crate) group_items_max: usize,
    pub(crate) wal: Wal,
    /// The sequence number of the last group written.
    pub(crate) wal_seq: u64,
    pub(crate) checkpoint_interval: Duration,
    pub(crate) last_checkpoint: Instant,
}

/// What a command's caller is answered, kept until the commit is durable.
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

impl Writer {
    pub(crate) fn run(mut self, mut queue: mpsc::Receiver<Command>) {
        let mut group = Vec::new();
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
            if let Err(error) = self.commit_group(&mut group) {
                // A failed commit leaves redb's state in doubt; refuse everything from now on
                // rather than risk acknowledging writes that are not durable.
                error!(%error, "ledger group commit failed; the writer stops");
                for command in group.drain(..) {
                    fail(command, &error);
                }
                while let Ok(command) = queue.try_recv() {
                    fail(command, &error);
                }
                queue.close();
                while let Some(command) = queue.blocking_recv() {
                    fail(command, &error);
                }
                return;
            }
        }
        // Every handle is gone: leave the tables complete and the log empty.
        if let Err(error) = self.checkpoint() {
            error!(%error, "final ledger checkpoint failed; the log will be replayed on open");
        }
    }

    /// Makes everything written so far durable in the tables, and empties the log.
    fn checkpoint(&mut self) -> Result<(), LedgerError> {
        let txn = self.db.begin_write()?;
        txn.commit()?;
        self.wal.reset();
        self.last_checkpoint = Instant::now();
        Ok(())
    }

    fn commit_group(&mut self, group: &mut Vec<Command>) -> Result<(), LedgerError> {
        let mut txn = self.db.begin_write()?;
        let mut answers = Vec::with_capacity(group.len());
        let delta = {
            let mut tables = Tables::open(&txn)?;
            let mut state = Group::new(&mut tables, self.clock.as_ref(), self.last_timestamp);
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
        let checkpoint_due = self.last_checkpoint.elapsed() >= self.checkpoint_interval;
        if delta.is_empty() {
            // Retries, refusals and an idle tick: nothing to write.
            drop(txn);
            if checkpoint_due && !self.wal.is_empty() {
                self.checkpoint()?;
            }
        } else {
            let seq = self.wal_seq + 1;
            let payload = codec::encode_delta(&delta);
            let checkpoint = checkpoint_due || !self.wal.fits(payload.len());
            if !checkpoint {
                // Durable once logged; the tables catch up without a sync of their own.
                self.wal.append(seq, &payload)?;
                txn.set_durability(redb::Durability::None)
                    .map_err(|error| LedgerError::Storage(error.into()))?;
            }
            {
                let mut tables = Tables::open(&txn)?;
                apply::write(&mut tables, &delta, seq)?;
            }
            txn.commit()?;
            self.wal_seq = seq;
            if checkpoint {
                self.wal.reset();
                self.last_checkpoint = Instant::now();
            }
        }
        let last_timestamp = delta.last_timestamp;
        assert!(
            last_timestamp >= self.last_timestamp,
            "ledger time went backwards"
        );
        self.last_timestamp = last_timestamp;
        for answer in answers {
            answer.send();
        }
        Ok(())
    }
}
