//! Criterion benchmarks of the ledger's hot paths, on a real redb file in the target folder:
//! a durable single-transfer batch, a durable 100-transfer batch, reading a balance and reading a
//! page of history. `cargo bench -p tongka-ledger`. For throughput under concurrency and the
//! disk's own sync rate, see `cargo xtask bench` (examples/throughput.rs).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tongka_ledger::{AccountId, NewTransfer, TransferId, TransferKind, UserData};

mod support;

const ACCOUNTS: u128 = 1_000;

fn transfer(id: u64) -> NewTransfer {
    let debit = u128::from(id) % ACCOUNTS + 1;
    NewTransfer {
        id: TransferId(u128::from(id)),
        kind: TransferKind::Posted {
            debit: AccountId(debit),
            credit: AccountId(debit % ACCOUNTS + 1),
            amount: 100,
        },
        code: 1,
        user_data: UserData::default(),
    }
}

fn ledger_benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let ledger = runtime.block_on(support::open_with_accounts(
        &dir.path().join("bench.redb"),
        ACCOUNTS,
    ));
    let next_id = AtomicU64::new(1);

    let mut group = c.benchmark_group("ledger");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(4));
    for batch in [1u64, 100] {
        group.throughput(Throughput::Elements(batch));
        group.bench_function(format!("durable batch of {batch}"), |b| {
            b.iter(|| {
                let first = next_id.fetch_add(batch, Ordering::Relaxed);
                let transfers = (first..first + batch).map(transfer).collect();
                runtime
                    .block_on(ledger.create_transfers(transfers))
                    .unwrap()
            });
        });
    }
    // Reads measured on an account with a real history, whichever benches ran before.
    let history: Vec<NewTransfer> = (0..200u64)
        .map(|i| NewTransfer {
            id: TransferId(u128::from(u64::MAX - i)),
            kind: TransferKind::Posted {
                debit: AccountId(7),
                credit: AccountId(8),
                amount: 1,
            },
            code: 1,
            user_data: UserData::default(),
        })
        .collect();
    runtime.block_on(ledger.create_transfers(history)).unwrap();
    group.throughput(Throughput::Elements(1));
    group.bench_function("read a balance", |b| {
        b.iter(|| ledger.balance(AccountId(7)).unwrap());
    });
    group.bench_function("read a page of 50 history entries", |b| {
        b.iter(|| {
            let page = ledger.account_transfers(AccountId(7), None, 50).unwrap();
            assert_eq!(page.transfers.len(), 50);
            page
        });
    });
    group.finish();
}

criterion_group!(benches, ledger_benches);
criterion_main!(benches);
