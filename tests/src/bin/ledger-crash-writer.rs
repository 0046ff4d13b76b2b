//! The victim of the crash test: writes batches to a ledger as fast as it can from several tasks
//! and prints the number of each batch once it is acknowledged. The test kills it with SIGKILL.
//!
//! Usage: ledger-crash-writer LEDGER_FILE ROUND
//!
//! Batch `n` of round `r` is three transfers with ids `id(r, n, 0..3)`: a hold, its post, and a
//! transfer onwards. All three commit or none does.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use tongka_e2e::crash::{ACCOUNTS, batch_ids};
use tongka_ledger::{
    AccountFlags, AccountId, Asset, AssetId, Ledger, LedgerOptions, NewAccount, NewTransfer,
    TransferId, TransferKind, UserData,
};

const SUBMITTERS: u64 = 8;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: ledger-crash-writer LEDGER_FILE ROUND")?;
    let round: u64 = args.next().context("ROUND missing")?.parse()?;
    let options = LedgerOptions {
        // A small log and frequent checkpoints, so kills land in every phase: appending,
        // checkpointing, wrapping around.
        wal_bytes_max: 1 << 20,
        checkpoint_interval_ms: 50,
        ..LedgerOptions::default()
    };
    let ledger = Ledger::open(path.as_ref(), options)?;
    ledger
        .create_assets(vec![Asset {
            id: AssetId(1),
            code: "CNY".into(),
            scale: 2,
        }])
        .await?;
    let accounts = (1..=ACCOUNTS)
        .map(|id| NewAccount {
            id: AccountId(id),
            asset: AssetId(1),
            owner: id,
            code: 1,
            flags: AccountFlags::NONE,
        })
        .collect();
    ledger.create_accounts(accounts).await?;

    let next_batch = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..SUBMITTERS {
        let (ledger, next_batch) = (ledger.clone(), Arc::clone(&next_batch));
        tasks.push(tokio::spawn(async move {
            loop {
                let batch = next_batch.fetch_add(1, Ordering::Relaxed);
                ledger.create_transfers(transfers(round, batch)).await?;
                let mut stdout = std::io::stdout().lock();
                writeln!(stdout, "{batch}")?;
                stdout.flush()?;
            }
            #[allow(unreachable_code)]
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

fn transfers(round: u64, batch: u64) -> Vec<NewTransfer> {
    let [hold, post, onward] = batch_ids(round, batch);
    let account = |k: u64| AccountId(u128::from(k) % ACCOUNTS + 1);
    let (a, b, c) = (account(batch), account(batch + 1), account(batch + 2));
    let amount = u128::from(batch % 997 + 1);
    let transfer = |id, kind| NewTransfer {
        id: TransferId(id),
        kind,
        code: 1,
        user_data: UserData {
            u64: round,
            ..UserData::default()
        },
    };
    vec![
        transfer(
            hold,
            TransferKind::Pending {
                debit: a,
                credit: b,
                amount,
                timeout_secs: 0,
            },
        ),
        transfer(
            post,
            TransferKind::PostPending {
                pending_id: TransferId(hold),
                amount: None,
            },
        ),
        transfer(
            onward,
            TransferKind::Posted {
                debit: b,
                credit: c,
                amount,
            },
        ),
    ]
}
