//! The box as a merchant starts it: `tongka serve`, reached over TCP, stopped with SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tongka_e2e::{RunningBox, http_get, tongka_verify};

#[test]
fn serve_answers_health_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let running = RunningBox::start(&data).unwrap();

    let (status, body) = http_get(running.address, "/api/v1/health").unwrap();
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));

    let (status, body) = http_get(running.address, "/api/v1/no-such-thing").unwrap();
    assert_eq!(status, 404);
    assert!(body.contains("not_found"), "{body}");

    // While the box runs, the ledger file is its alone.
    let busy = tongka_verify(&data).unwrap();
    assert_eq!(
        busy.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&busy.stderr)
    );

    let status = running.terminate().unwrap();
    assert!(status.success(), "tongka exited with {status}");
    assert!(data.join("ledger.redb").exists());
    let verify = tongka_verify(&data).unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}
