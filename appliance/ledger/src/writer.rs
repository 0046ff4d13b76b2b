//! The single writer: owns every redb write transaction, and commits many callers' batches with
//! one durable commit (group commit).
//!
//! Callers queue a `Command` on a bounded channel and wait on a oneshot. The writer blocks for the
//! first command, drains whatever else is already queued (up to `group_items_max` items), applies
//! all of it in one transaction, commits once, and only then answers every caller — so an answer
//! always means "durable".

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info_span};

use crate::apply::{Group, ItemResults, Tables};
use crate::clock::Clock;
use crate::error::{AccountError, AssetError, CloseError, LedgerError, TransferError};
use crate::types::{Account, AccountId, Asset, NewAccount, NewTransfer, Transfer};

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
    }

    fn commit_group(&mut self, group: &mut Vec<Command>) -> Result<(), LedgerError> {
        let txn = self.db.begin_write()?;
        let mut answers = Vec::with_capacity(group.len());
        let last_timestamp = {
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
            let last_timestamp = state.last_timestamp();
            state.flush()?;
            last_timestamp
        };
        txn.commit()?;
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
