//! `tongka-pos` against the real box over HTTPS: a box showing another certificate than the one
//! given is refused, naming both; pairing by code saves the pairing (owner-only); then a member
//! signed up at the till and found by phone and by card, top-up, checkout paid from stored value,
//! a refund and the receipt, each a real `tongka-pos` process; a revoked terminal is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use tongka_e2e::api::{BOSS_PASSWORD, first_admin, sign_in, start, store};

fn pos(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tongka-pos"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap()
}

fn receipt(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn a_pos_pins_pairs_tops_up_checks_out_and_refunds() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    first_admin(&data);
    let running = start(&data, &dir.path().join("box.log"));
    let boss = sign_in(&running, "boss", BOSS_PASSWORD);
    let shop = store(&boss, "SH-001");
    let code = boss.ok("POST", &format!("/api/v1/stores/{shop}/pairings"), None)["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("https://{}", running.address);
    let config = dir.path().join("pos.json");

    // Another certificate than the pinned one: refused before anything is sent, both named.
    let wrong = "00".repeat(32);
    let refused = pos(
        &config,
        &["pair", &code, "--box", &url, "--fingerprint", &wrong],
    );
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        why.contains("not the pinned") && why.contains(&running.fingerprint.to_string()),
        "{why}"
    );
    assert!(!config.exists());

    let fingerprint = running.fingerprint.to_string();
    let paired = pos(
        &config,
        &[
            "pair",
            &code,
            "--name",
            "收银台 9",
            "--box",
            &url,
            "--fingerprint",
            &fingerprint,
        ],
    );
    assert!(
        paired.status.success(),
        "{}",
        String::from_utf8_lossy(&paired.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the pairing holds a token: owner only");
    }

    // 开卡 at the till: her home store is the terminal's. A phone already taken is refused.
    let opened = receipt(&pos(
        &config,
        &[
            "open-card",
            "--name",
            "李娜",
            "--phone",
            "138 0013 8000",
            "--card",
            "C-3001",
        ],
    ));
    assert_eq!(opened["home_store"], shop.as_str());
    assert_eq!(opened["phone"], "13800138000");
    let again = pos(
        &config,
        &[
            "open-card",
            "--name",
            "李娜",
            "--phone",
            "13800138000",
            "--card",
            "C-3002",
        ],
    );
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("phone_taken"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let by_phone = receipt(&pos(
        &config,
        &["member", "find", "--phone", "+86 138-0013-8000"],
    ));
    let by_card = receipt(&pos(&config, &["member", "find", "--card", "c-3001"]));
    assert_eq!(by_phone["id"], opened["id"]);
    assert_eq!(by_card["id"], opened["id"]);
    let missing = pos(&config, &["member", "find", "--card", "C-9999"]);
    assert!(!missing.status.success());

    let top_up = receipt(&pos(
        &config,
        &[
            "top-up", "--card", "C-3001", "--amount", "50.00", "--order", "T-1",
        ],
    ));
    assert_eq!(
        top_up["balances"]["stored_value"]["principal"]["amount"],
        "50.00"
    );
    let sale = receipt(&pos(
        &config,
        &[
            "checkout",
            "--card",
            "C-3001",
            "--line",
            "MILK:dairy:2:12.50",
            "--line",
            "TEA:drinks:1:3.00",
            "--stored-value",
            "rest",
            "--order",
            "S-1",
        ],
    ));
    assert_eq!(sale["moved"]["total"]["amount"], "28.00");
    assert_eq!(
        sale["balances"]["stored_value"]["principal"]["amount"],
        "22.00"
    );
    let refund = receipt(&pos(
        &config,
        &["refund", "S-1", "--line", "1:1", "--order", "R-1"],
    ));
    assert_eq!(refund["moved"]["principal"]["amount"], "12.50");
    assert_eq!(
        refund["balances"]["stored_value"]["principal"]["amount"],
        "34.50"
    );
    let order = receipt(&pos(&config, &["order", "S-1"]));
    assert_eq!(order["refunds"], json!(["R-1"]));

    // Too much for her balance: the box's refusal, with its code, and nothing charged.
    let short = pos(
        &config,
        &[
            "checkout",
            "--card",
            "C-3001",
            "--line",
            "WINE:drinks:1:99.00",
            "--stored-value",
            "rest",
            "--order",
            "S-2",
        ],
    );
    assert!(!short.status.success());
    assert!(
        String::from_utf8_lossy(&short.stderr).contains("insufficient_stored_value"),
        "{}",
        String::from_utf8_lossy(&short.stderr)
    );

    // Revoked at head office: the terminal is refused from then on.
    let terminals = boss.ok("GET", "/api/v1/terminals", None);
    let id = terminals[0]["id"].as_str().unwrap();
    boss.ok("DELETE", &format!("/api/v1/terminals/{id}"), None);
    let revoked = pos(&config, &["order", "S-1"]);
    assert!(!revoked.status.success());
    assert!(
        String::from_utf8_lossy(&revoked.stderr).contains("terminal_revoked"),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
}
