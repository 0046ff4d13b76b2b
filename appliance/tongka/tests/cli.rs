//! The command line's contract: exit codes and messages a script or a person can rely on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn tongka(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tongka"));
    command.args(args).env_remove("TONGKA_CONFIG");
    for (key, value) in envs {
        command.env(key, value);
    }
    command.output().unwrap()
}

#[test]
fn a_bad_configuration_stops_before_anything_opens_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let output = tongka(
        &["serve", "--data", data.to_str().unwrap()],
        &[("TONGKA_LEDGER_GROUP_ITEMS_MAX", "0")],
    );
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ledger.group_items_max"), "{stderr}");
    assert!(
        !data.exists(),
        "nothing may be created before the configuration is valid"
    );
}

#[test]
fn plain_http_is_refused_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let output = tongka(
        &[
            "serve",
            "--data",
            dir.path().to_str().unwrap(),
            "--plain-listen",
            "0.0.0.0:0",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("http.plain_listen"), "{stderr}");
    assert!(stderr.contains("loopback"), "{stderr}");
}

#[test]
fn verify_without_a_ledger_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let output = tongka(
        &["ledger", "verify", "--data", dir.path().to_str().unwrap()],
        &[],
    );
    assert_eq!(output.status.code(), Some(66));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no ledger file"));
}
