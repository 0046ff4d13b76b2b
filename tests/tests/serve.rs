//! The box as a merchant starts it: `tongka serve`, reached over HTTPS with its certificate pinned,
//! stopped with SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tongka_e2e::{Fingerprint, RunningBox, http_get, https_get, tongka_verify};

#[test]
fn serve_answers_health_over_https_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let running = RunningBox::start(&data).unwrap();

    let (status, body) = running.get("/api/v1/health").unwrap();
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));

    let (status, body) = running.get("/api/v1/openapi.json").unwrap();
    assert_eq!(status, 200);
    let document: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(document["paths"]["/api/v1/health"]["get"].is_object());

    let (status, body) = running.get("/api/v1/no-such-thing").unwrap();
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

#[test]
fn clients_pin_the_certificate_and_it_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let running = RunningBox::start(&data).unwrap();
    let fingerprint = running.fingerprint;
    assert_eq!(running.get("/api/v1/health").unwrap().0, 200);

    // A box with another certificate is refused: here, a client pinning another fingerprint.
    let other = RunningBox::start(&dir.path().join("other")).unwrap();
    assert_ne!(other.fingerprint, fingerprint, "each box makes its own key");
    let refused = https_get(running.address, other.fingerprint, "/api/v1/health").unwrap_err();
    assert!(
        format!("{refused:#}").contains("certificate"),
        "{refused:#}"
    );
    assert!(https_get(running.address, Fingerprint([0; 32]), "/api/v1/health").is_err());
    // No plain HTTP unless configured, not even on loopback: the HTTPS port does not answer it.
    assert!(http_get(running.address, "/api/v1/health").is_err());
    assert_eq!(running.plain_address, None);

    running.terminate().unwrap();
    let restarted = RunningBox::start(&data).unwrap();
    assert_eq!(restarted.fingerprint, fingerprint, "the key is kept");
    assert_eq!(restarted.get("/api/v1/health").unwrap().0, 200);
}

#[test]
fn plain_http_is_served_on_loopback_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let running = RunningBox::start_with(
        &dir.path().join("data"),
        &["--plain-listen", "127.0.0.1:0"],
        &[],
    )
    .unwrap();
    let plain = running.plain_address.expect("a plain HTTP address");
    assert!(plain.ip().is_loopback());
    let (status, body) = http_get(plain, "/api/v1/health").unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(running.get("/api/v1/health").unwrap().0, 200);
}

#[test]
fn a_merchants_own_certificate_is_served() {
    let dir = tempfile::tempdir().unwrap();
    // Another box's identity stands in for the certificate a merchant bought.
    let made = RunningBox::start(&dir.path().join("made")).unwrap();
    let own_fingerprint = made.fingerprint;
    drop(made);
    let tls = dir.path().join("made").join("tls");
    let (cert, key) = (tls.join("cert.pem"), tls.join("key.pem"));
    let data = dir.path().join("data");
    let running = RunningBox::start_with(
        &data,
        &[],
        &[
            ("TONGKA_HTTP_TLS_CERT_PATH", &cert),
            ("TONGKA_HTTP_TLS_KEY_PATH", &key),
        ],
    )
    .unwrap();
    assert_eq!(running.fingerprint, own_fingerprint);
    assert_eq!(running.get("/api/v1/health").unwrap().0, 200);
    assert!(
        !data.join("tls").exists(),
        "with the merchant's certificate installed, the box makes none"
    );
}
