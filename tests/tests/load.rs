//! The load generator itself (`tongka-load`, the benchmark of docs/PERFORMANCE.md) against the
//! real box: a small run of two rounds must commit checkouts in each, print their figures and a
//! table of both, and leave a ledger that verifies clean. Not a timing test: no figure is held
//! to a bound, only to being there.

use std::process::Command;

#[test]
fn the_load_generator_runs_rounds_and_leaves_a_clean_ledger() {
    let output = Command::new(env!("CARGO_BIN_EXE_tongka-load"))
        .args([
            "--members",
            "300",
            "--terminals",
            "1,2",
            "--seconds",
            "1",
            "--warmup",
            "0",
        ])
        .output()
        .expect("tongka-load starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");

    let committed: Vec<u64> = stdout
        .lines()
        .filter(|line| line.contains(" checkouts committed in "))
        .map(|line| line.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(committed.len(), 2, "one result per round:\n{stdout}");
    assert!(
        committed.iter().all(|&n| n > 0),
        "a round committed nothing:\n{stdout}"
    );
    assert_eq!(stdout.matches("CPU: box ").count(), 2, "{stdout}");

    // The summary table: its header and one row per round, in the order asked.
    let rows: Vec<&str> = stdout
        .lines()
        .skip_while(|line| !line.starts_with("| terminals |"))
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .collect();
    let terminals: Vec<&str> = rows
        .iter()
        .map(|row| row.split('|').nth(1).unwrap_or("").trim())
        .collect();
    assert_eq!(terminals, ["1", "2"], "{stdout}");
    assert!(stdout.contains("tongka ledger verify: clean"), "{stdout}");
}
