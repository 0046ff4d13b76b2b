//! Crash safety, for real: a child process writes batches as fast as it can and prints each one
//! the ledger acknowledged; it is killed with SIGKILL at a random moment, several rounds on the
//! same file. Afterwards every acknowledged batch must be there whole, no batch may be there in
//! part, and `tongka ledger verify` must pass.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use tongka_e2e::crash::{self, batch_ids};
use tongka_ledger::{Ledger, LedgerOptions, TransferId};

const ROUNDS: u64 = 6;

#[test]
fn acknowledged_batches_survive_sigkill_whole_and_nothing_is_half_applied() {
    let seed = crash::seed("crash test");
    let mut rng = seed;
    let mut next = move || crash::next(&mut rng);

    let dir = tempfile::tempdir().unwrap();
    let ledger_file = dir.path().join("ledger.redb");
    let mut acknowledged: Vec<BTreeSet<u64>> = Vec::new();
    for round in 0..ROUNDS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ledger-crash-writer"))
            .arg(&ledger_file)
            .arg(round.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (first_ack, writing) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut batches = BTreeSet::new();
            for line in BufReader::new(stdout).lines() {
                // A line cut by the kill is an acknowledgement we simply do not count.
                match line.map(|l| l.trim().parse::<u64>()) {
                    Ok(Ok(batch)) => {
                        if batches.is_empty() {
                            let _ = first_ack.send(());
                        }
                        batches.insert(batch);
                    }
                    _ => break,
                }
            }
            batches
        });
        // The random moment counts from the first acknowledgement, so a slow start on a busy
        // machine cannot leave a round with nothing written.
        writing
            .recv_timeout(Duration::from_secs(60))
            .expect("the writer acknowledged nothing within 60 s");
        let wait_ms = 50 + next() % 700;
        std::thread::sleep(Duration::from_millis(wait_ms));
        child.kill().unwrap(); // SIGKILL: no destructor, no final checkpoint.
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "the writer should have been killed, not exited: {status}"
        );
        let batches = reader.join().unwrap();
        eprintln!(
            "round {round}: killed {wait_ms} ms into writing, {} batches acknowledged",
            batches.len()
        );
        acknowledged.push(batches);
    }

    // Reopen as a restarted box would: the log is replayed.
    let ledger = Ledger::open(&ledger_file, LedgerOptions::default()).unwrap();
    for (round, batches) in acknowledged.iter().enumerate() {
        let round = round as u64;
        let highest = *batches.last().unwrap();
        let mut present = 0;
        // Batches are numbered in order of submission; look well past the last acknowledged.
        for batch in 0..=highest + 1_000 {
            let found = batch_ids(round, batch)
                .iter()
                .filter(|id| ledger.transfer(TransferId(**id)).unwrap().is_some())
                .count();
            assert!(
                found == 0 || found == 3,
                "round {round} batch {batch}: {found} of 3 transfers present (seed {seed})"
            );
            if batches.contains(&batch) {
                assert_eq!(
                    found, 3,
                    "round {round}: acknowledged batch {batch} lost (seed {seed})"
                );
            }
            present += usize::from(found == 3);
        }
        assert!(present >= batches.len());
    }
    drop(ledger);

    let verify = tongka_e2e::tongka_verify(dir.path()).unwrap();
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success(),
        "verify failed:\n{report}\n{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(report.contains("clean"), "{report}");
}
