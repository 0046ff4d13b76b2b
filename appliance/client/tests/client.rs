//! The client against a TLS server on loopback that plays the box: a write whose answer is lost
//! (the connection closes after the request arrived) is sent again on a new connection with the
//! same `Idempotency-Key` and body, and the answer of the second attempt is returned; a server
//! with another certificate than the pinned one is refused, naming both fingerprints.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tongka_client::{Client, ClientError, Fingerprint, Method};
use tongka_tls::Identity;

/// One request as the server read it: its Idempotency-Key and body.
type Seen = Arc<Mutex<Vec<(Option<String>, String)>>>;

/// Serves on loopback with a fresh certificate; the first request is read and its connection
/// closed without an answer, later ones are answered `{"ok":true}`.
async fn flaky_box(dir: &std::path::Path) -> (String, Fingerprint, Seen) {
    let identity = Identity::load_or_create(dir, None).unwrap();
    let acceptor = TlsAcceptor::from(identity.server_config().unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                loop {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if tls.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8(head).unwrap();
                    let header = |name: &str| {
                        head.lines().find_map(|line| {
                            let (key, value) = line.split_once(':')?;
                            key.eq_ignore_ascii_case(name)
                                .then(|| value.trim().to_owned())
                        })
                    };
                    let length: usize = header("content-length").map_or(0, |l| l.parse().unwrap());
                    let mut body = vec![0u8; length];
                    tls.read_exact(&mut body).await.unwrap();
                    let first = {
                        let mut log = log.lock().unwrap();
                        log.push((header("idempotency-key"), String::from_utf8(body).unwrap()));
                        log.len() == 1
                    };
                    if first {
                        // The request arrived; its answer is lost with the connection.
                        return;
                    }
                    let answer = r#"{"ok":true}"#;
                    let response = format!(
                        "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                    tls.write_all(response.as_bytes()).await.unwrap();
                }
            });
        }
    });
    (url, identity.fingerprint(), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_answer_is_lost_is_sent_again_with_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let (url, fingerprint, seen) = flaky_box(dir.path()).await;
    let client = Client::connect(&url, &fingerprint).await.unwrap();
    let body = serde_json::json!({"order": "T-1", "card": "8800001", "amount": "100.00"});
    let answer = client
        .call(Method::POST, "/api/v1/till/top-ups", Some(&body))
        .await
        .unwrap();
    assert_eq!(answer, serde_json::json!({"ok": true}));
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let key = requests[0]
        .0
        .clone()
        .expect("a write carries an Idempotency-Key");
    assert_eq!(key.len(), 32);
    assert_eq!(
        requests[1].0.as_deref(),
        Some(key.as_str()),
        "the retry keeps the key"
    );
    assert_eq!(
        requests[0].1, requests[1].1,
        "the retry sends the same body"
    );

    // Another write is another operation: another key.
    client
        .call(Method::POST, "/api/v1/till/top-ups", Some(&body))
        .await
        .unwrap();
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert_ne!(requests[2].0.as_deref(), Some(key.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_another_certificate_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let (url, real, seen) = flaky_box(dir.path()).await;
    let pinned: Fingerprint = "ab".repeat(32).parse().unwrap();
    match Client::connect(&url, &pinned).await {
        Err(ClientError::FingerprintMismatch {
            expected,
            presented,
            ..
        }) => {
            assert_eq!(expected, pinned);
            assert_eq!(presented, real);
        }
        other => panic!("expected a fingerprint mismatch, got {other:?}"),
    }
    assert!(seen.lock().unwrap().is_empty(), "nothing was sent");
}
