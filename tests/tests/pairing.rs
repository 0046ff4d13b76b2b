//! Pairing through the real box: a manager opens a window for a store and reads off a code; a
//! POS that presents it (no sign-in) gets a terminal token bound to that store. A code works once
//! and only until it expires; wrong codes from one address lock it out, even with a right code
//! then; a revoked terminal's token is refused; a cashier cannot open a window.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::{Value, json};
use tongka_e2e::RunningBox;
use tongka_e2e::api::{BOSS_PASSWORD, cashier, first_admin, json, problem, sign_in, store};

fn pair(running: &RunningBox, code: &str, name: &str) -> (u16, Value, String) {
    let body = json!({"code": code, "name": name}).to_string();
    let (status, text) = running
        .request("POST", "/api/v1/pairings", &[], Some(&body))
        .unwrap();
    (status, json(&text), text)
}

/// What `GET /api/v1/terminal` answers a terminal with this bearer.
fn whoami(running: &RunningBox, bearer: &str) -> (u16, String) {
    running
        .request(
            "GET",
            "/api/v1/terminal",
            &[("Authorization", bearer)],
            None,
        )
        .unwrap()
}

#[test]
fn a_pos_pairs_once_with_a_fresh_code_and_guessing_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    first_admin(&data);
    let running = RunningBox::start_logged(
        &data,
        &[],
        &[
            ("TONGKA_PAIRING_CODE_TTL_MS", Path::new("3000")),
            ("TONGKA_PAIRING_FAILURES_MAX", Path::new("4")),
            ("TONGKA_PAIRING_LOCKOUT_MS", Path::new("60000")),
        ],
        Some(&dir.path().join("box.log")),
    )
    .unwrap();
    let boss = sign_in(&running, "boss", BOSS_PASSWORD);
    let store = store(&boss, "A");
    let open = || {
        let window = boss.ok("POST", &format!("/api/v1/stores/{store}/pairings"), None);
        let code = window["code"].as_str().unwrap().to_owned();
        assert_eq!(code.len(), 8, "{window}");
        assert!(code.bytes().all(|b| b.is_ascii_digit()), "{window}");
        assert_eq!(window["store"], store.as_str());
        code
    };

    // A POS presents the code and is bound to the store.
    let code = open();
    let (status, minted, text) = pair(&running, &code, "收银台 1");
    assert_eq!(status, 201, "{text}");
    let token = minted["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("tt_"), "{minted}");
    let bearer = format!("Bearer {token}");
    let (status, terminal) = whoami(&running, &bearer);
    assert_eq!(status, 200, "{terminal}");
    assert_eq!(json(&terminal)["store"], store.as_str());
    assert_eq!(json(&terminal)["name"], "收银台 1");

    // A bad name is the POS's mistake, not a guess: refused, and the code still works.
    let second = open();
    let (status, value, _) = pair(&running, &second, "");
    problem(status, &value, 422, "invalid_field");
    assert_eq!(value["field"], "name");
    let (status, _, text) = pair(&running, &second, "收银台 2");
    assert_eq!(status, 201, "{text}");

    // Once only; and only until it expires.
    let (status, value, _) = pair(&running, &code, "收银台 3");
    problem(status, &value, 409, "pairing_code_used");
    let stale = open();
    std::thread::sleep(std::time::Duration::from_millis(3_300));
    let (status, value, _) = pair(&running, &stale, "收银台 3");
    problem(status, &value, 410, "pairing_code_expired");

    // The paired terminals are listed; a revoked one's token is refused.
    let terminals = boss.ok("GET", "/api/v1/terminals", None);
    assert_eq!(terminals.as_array().unwrap().len(), 2, "{terminals}");
    let id = minted["terminal"]["id"].as_str().unwrap();
    boss.ok("DELETE", &format!("/api/v1/terminals/{id}"), None);
    let (status, value) = whoami(&running, &bearer);
    problem(status, &json(&value), 401, "terminal_revoked");

    // Only head office and the store's managers open windows.
    let till = cashier(&running, &boss, "cashier-a", &store);
    let (status, value) = till.call("POST", &format!("/api/v1/stores/{store}/pairings"), None);
    problem(status, &value, 403, "forbidden");

    // Guessing: two refusals so far from this address (used, expired), two wrong codes make
    // four, and then even the right code is refused until the lockout ends.
    let fresh = open();
    let wrong = if fresh == "00000000" {
        "00000001"
    } else {
        "00000000"
    };
    let (status, value, _) = pair(&running, wrong, "收银台 4");
    problem(status, &value, 422, "pairing_code_invalid");
    let (status, value, _) = pair(&running, wrong, "收银台 4");
    problem(status, &value, 422, "pairing_code_invalid");
    let body = json!({"code": fresh, "name": "收银台 4"}).to_string();
    let (status, text) = running
        .request("POST", "/api/v1/pairings", &[], Some(&body))
        .unwrap();
    problem(status, &json(&text), 429, "pairing_locked");
    running.terminate().unwrap();
}
