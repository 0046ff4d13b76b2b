//! Staff sign in to the real box: the first admin made with `tongka admin create`, then sessions
//! over HTTPS.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tongka_e2e::{RunningBox, tongka_admin_create};

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn the_first_admin_is_made_on_the_box_and_signs_in_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let created = tongka_admin_create(&data, "Boss", "a long secret").unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(String::from_utf8_lossy(&created.stdout).contains("boss"));
    let taken = tongka_admin_create(&data, "boss", "another secret").unwrap();
    assert_eq!(taken.status.code(), Some(64));
    let short = tongka_admin_create(&data, "second", "short").unwrap();
    assert_eq!(short.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&short.stderr).contains("password"));

    let running = RunningBox::start(&data).unwrap();
    // The directory is the running box's alone.
    let busy = tongka_admin_create(&data, "third", "a long secret").unwrap();
    assert_eq!(
        busy.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&busy.stderr)
    );

    let login = r#"{"username":"boss","password":"a long secret"}"#;
    let (status, body) = running
        .request("POST", "/api/v1/sessions", &[], Some(login))
        .unwrap();
    assert_eq!(status, 201, "{body}");
    let session = json(&body);
    assert_eq!(session["staff"]["role"], "hq_admin");
    assert_eq!(session["staff"]["stores"], "all");
    let bearer = format!("Bearer {}", session["token"].as_str().unwrap());

    let (status, body) = running
        .request(
            "GET",
            "/api/v1/session",
            &[("Authorization", &bearer)],
            None,
        )
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["username"], "boss");

    let wrong = r#"{"username":"boss","password":"not it"}"#;
    let (status, body) = running
        .request(
            "POST",
            "/api/v1/sessions",
            &[("Accept-Language", "en")],
            Some(wrong),
        )
        .unwrap();
    assert_eq!(status, 401);
    assert_eq!(json(&body)["title"], "Wrong username or password");

    // Sessions survive a restart of the box.
    running.terminate().unwrap();
    let running = RunningBox::start(&data).unwrap();
    let (status, _) = running
        .request(
            "GET",
            "/api/v1/session",
            &[("Authorization", &bearer)],
            None,
        )
        .unwrap();
    assert_eq!(status, 200);
    let (status, _) = running
        .request(
            "DELETE",
            "/api/v1/session",
            &[("Authorization", &bearer)],
            None,
        )
        .unwrap();
    assert_eq!(status, 204);
    let (status, body) = running
        .request(
            "GET",
            "/api/v1/session",
            &[("Authorization", &bearer)],
            None,
        )
        .unwrap();
    assert_eq!(status, 401);
    assert_eq!(json(&body)["code"], "unauthenticated");
}
