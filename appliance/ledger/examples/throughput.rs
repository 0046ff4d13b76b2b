//! Ledger throughput on this disk, run by `cargo xtask bench`. Prints, from one run on one folder:
//!
//! 1. the disk's own `fdatasync` rate (4 KiB write + sync), the physical reference;
//! 2. durable single-transfer commits per second from one sequential submitter;
//! 3. transfers per second with many concurrent submitters, one transfer per request;
//! 4. the same with small batches per request (a checkout is a batch of a few transfers).
//!
//! Every acknowledged transfer is durable: the writer answers only once its log record is synced.
//! Figures 2-4 count only what was acknowledged after a warm-up of `WARM_UP`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tongka_ledger::{AccountId, Ledger, NewTransfer, TransferId, TransferKind, UserData};

#[path = "../benches/support/mod.rs"]
mod support;

const ACCOUNTS: u128 = 10_000;
/// Writing before the measured window starts.
const WARM_UP: Duration = Duration::from_secs(2);

struct Args {
    dir: PathBuf,
    seconds: u64,
    submitters: usize,
    batch: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        dir: std::env::temp_dir(),
        seconds: 5,
        submitters: 64,
        batch: 8,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(flag) = iter.next() {
        let value = iter
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--dir" => args.dir = value.into(),
            "--seconds" => args.seconds = value.parse().expect("--seconds: a number"),
            "--submitters" => args.submitters = value.parse().expect("--submitters: a number"),
            "--batch" => args.batch = value.parse().expect("--batch: a number"),
            other => panic!("unknown flag {other}; flags: --dir --seconds --submitters --batch"),
        }
    }
    args
}

fn fsync_rate(dir: &std::path::Path, duration: Duration) -> u64 {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0xA5u8; 4096];
    let start = Instant::now();
    let mut syncs = 0u64;
    while start.elapsed() < duration {
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(0)).unwrap();
        file.write_all(&block).unwrap();
        file.sync_data().unwrap();
        syncs += 1;
    }
    let rate = per_second(syncs, start.elapsed());
    drop(file);
    let _ = std::fs::remove_file(path);
    rate
}

/// Events per second, in integers: counts over microseconds.
fn per_second(count: u64, elapsed: Duration) -> u64 {
    let rate = u128::from(count) * 1_000_000 / elapsed.as_micros().max(1);
    u64::try_from(rate).unwrap_or(u64::MAX)
}

/// A small, fast, deterministic generator: the benchmark needs spread, not cryptography.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pair(&mut self) -> (AccountId, AccountId) {
        let debit = u128::from(self.next()) % ACCOUNTS + 1;
        let mut credit = u128::from(self.next()) % ACCOUNTS + 1;
        if credit == debit {
            credit = debit % ACCOUNTS + 1;
        }
        (AccountId(debit), AccountId(credit))
    }
}

fn transfer(id: u128, rng: &mut XorShift) -> NewTransfer {
    let (debit, credit) = rng.pair();
    NewTransfer {
        id: TransferId(id),
        kind: TransferKind::Posted {
            debit,
            credit,
            amount: u128::from(rng.next() % 10_000 + 1),
        },
        code: 1,
        user_data: UserData::default(),
    }
}

async fn open(dir: &std::path::Path, name: &str) -> Ledger {
    let path = dir.join(name);
    remove(&path);
    support::open_with_accounts(&path, ACCOUNTS).await
}

/// Runs `submitters` tasks, each sending requests of `batch` transfers back to back, for
/// `duration`, with ids counting up from `first_id`. Returns acknowledged transfers per second.
async fn concurrent(
    ledger: &Ledger,
    first_id: u64,
    submitters: usize,
    batch: usize,
    duration: Duration,
) -> u64 {
    let next_id = Arc::new(AtomicU64::new(first_id));
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for seed in 0..submitters {
        let (ledger, next_id, done, stop) = (
            ledger.clone(),
            Arc::clone(&next_id),
            Arc::clone(&done),
            Arc::clone(&stop),
        );
        tasks.push(tokio::spawn(async move {
            let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (seed as u64 + 1));
            while !stop.load(Ordering::Relaxed) {
                let first = u128::from(next_id.fetch_add(batch as u64, Ordering::Relaxed));
                let transfers = (0..batch as u128)
                    .map(|i| transfer(first + i, &mut rng))
                    .collect();
                ledger.create_transfers(transfers).await.unwrap();
                done.fetch_add(batch as u64, Ordering::Relaxed);
            }
        }));
    }
    // Steady state only: at first, writes pile into the memtable before the applier and the
    // checkpoints push back, and a short run would measure that burst.
    tokio::time::sleep(WARM_UP).await;
    let acknowledged_at_start = done.load(Ordering::Relaxed);
    let start = Instant::now();
    tokio::time::sleep(duration).await;
    let acknowledged = done.load(Ordering::Relaxed) - acknowledged_at_start;
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    per_second(acknowledged, elapsed)
}

/// Removes a ledger file and its log.
fn remove(path: &std::path::Path) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(tongka_ledger::wal_path(path));
}

fn main() {
    let args = parse_args();
    std::fs::create_dir_all(&args.dir).unwrap();
    let duration = Duration::from_secs(args.seconds);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        eprintln!("measuring in {} for {}s per figure…", args.dir.display(), args.seconds);
        let fsync = fsync_rate(&args.dir, duration);

        let ledger = open(&args.dir, "bench-single.redb").await;
        let single = concurrent(&ledger, 1, 1, 1, duration).await;
        drop(ledger);

        let ledger = open(&args.dir, "bench-group.redb").await;
        let group_single = concurrent(&ledger, 1, args.submitters, 1, duration).await;
        let group_batch = concurrent(&ledger, 1 << 40, args.submitters, args.batch, duration).await;
        drop(ledger);
        for name in ["bench-single.redb", "bench-group.redb"] {
            remove(&args.dir.join(name));
        }

        println!("| figure | per second |");
        println!("| --- | ---: |");
        println!("| disk: 4 KiB write + fdatasync | {fsync} |");
        println!("| durable single-transfer commits, 1 submitter | {single} |");
        println!(
            "| transfers, {} submitters × 1 transfer per request (group commit) | {group_single} |",
            args.submitters
        );
        println!(
            "| transfers, {} submitters × {} transfers per request (group commit) | {group_batch} |",
            args.submitters, args.batch
        );
        println!();
        println!(
            "single commits / fsync rate: {}%; accounts: {ACCOUNTS}; cores: {}",
            single * 100 / fsync.max(1),
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
    });
}
