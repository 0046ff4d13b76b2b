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

    // A write with an Idempotency-Key, retried after the box restarted, runs once.
    let store = r#"{"code":"SH-1","name":"徐汇店","kind":"direct","opened_on":"2024-05-01","time_zone":"Asia/Shanghai"}"#;
    let keyed = [
        ("Authorization", bearer.as_str()),
        ("Idempotency-Key", "till-7/order-1"),
    ];
    let (status, first) = running
        .request("POST", "/api/v1/stores", &keyed, Some(store))
        .unwrap();
    assert_eq!(status, 201, "{first}");

    // Sessions survive a restart of the box.
    running.terminate().unwrap();
    let running = RunningBox::start(&data).unwrap();
    let (status, again) = running
        .request("POST", "/api/v1/stores", &keyed, Some(store))
        .unwrap();
    assert_eq!(status, 201, "{again}");
    assert_eq!(json(&again)["id"], json(&first)["id"]);
    let (status, other) = running
        .request(
            "POST",
            "/api/v1/stores",
            &keyed,
            Some(&store.replace("SH-1", "SH-2")),
        )
        .unwrap();
    assert_eq!(status, 422);
    assert_eq!(json(&other)["code"], "idempotency_key_reused");
    let (_, stores) = running
        .request("GET", "/api/v1/stores", &[("Authorization", &bearer)], None)
        .unwrap();
    assert_eq!(json(&stores).as_array().unwrap().len(), 1);
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

/// Signs in and returns the `Authorization` header value.
fn sign_in(running: &RunningBox, username: &str, password: &str) -> String {
    let body = format!(r#"{{"username":"{username}","password":"{password}"}}"#);
    let (status, answer) = running
        .request("POST", "/api/v1/sessions", &[], Some(&body))
        .unwrap();
    assert_eq!(status, 201, "{answer}");
    format!("Bearer {}", json(&answer)["token"].as_str().unwrap())
}

fn post(running: &RunningBox, auth: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let (status, answer) = running
        .request("POST", path, &[("Authorization", auth)], Some(body))
        .unwrap();
    (status, json(&answer))
}

fn get(running: &RunningBox, auth: &str, path: &str) -> (u16, serde_json::Value) {
    let (status, answer) = running
        .request("GET", path, &[("Authorization", auth)], None)
        .unwrap();
    (status, json(&answer))
}

fn store(code: &str) -> String {
    format!(
        r#"{{"code":"{code}","name":"门店 {code}","kind":"direct","opened_on":"2024-05-01","time_zone":"Asia/Shanghai"}}"#
    )
}

fn staff(username: &str, role: &str, stores: &str) -> String {
    format!(
        r#"{{"username":"{username}","display_name":"{username}","role":"{role}","stores":{stores},"password":"a long secret"}}"#
    )
}

#[test]
fn head_office_sets_up_stores_and_staff_and_each_role_stays_in_its_lane() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert!(
        tongka_admin_create(&data, "boss", "a long secret")
            .unwrap()
            .status
            .success()
    );
    let running = RunningBox::start(&data).unwrap();
    let boss = sign_in(&running, "boss", "a long secret");

    let (status, a) = post(&running, &boss, "/api/v1/stores", &store("sh-1"));
    assert_eq!(status, 201, "{a}");
    assert_eq!(a["code"], "SH-1");
    let (_, b) = post(&running, &boss, "/api/v1/stores", &store("SH-2"));
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());

    // Bad input: each a 4xx problem naming the field, and nothing written.
    let bad = [
        (store("SH-1"), 409, "store_code_taken", Some("code")),
        (
            store("SH-1").replace("2024-05-01", "2024-02-30"),
            422,
            "invalid_field",
            Some("opened_on"),
        ),
        (
            store("SH-9").replace("direct", "chain"),
            422,
            "invalid_field",
            Some("kind"),
        ),
        (
            store("SH-9").replace("Asia/Shanghai", "Shanghai"),
            422,
            "invalid_field",
            Some("time_zone"),
        ),
        (store("SH 9"), 422, "invalid_field", Some("code")),
        (
            store("SH-9").replace("\"kind\"", "\"colour\":\"red\",\"kind\""),
            422,
            "unknown_field",
            Some("colour"),
        ),
        (
            store("SH-9").replace("\"name\":\"门店 SH-9\"", "\"name\":7"),
            422,
            "invalid_field",
            Some("name"),
        ),
        (r#"{"code":"SH-9""#.to_owned(), 400, "malformed_json", None),
    ];
    for (body, status, code, field) in bad {
        let (got, problem) = post(&running, &boss, "/api/v1/stores", &body);
        assert_eq!(got, status, "{body}: {problem}");
        assert_eq!(problem["code"], code, "{body}");
        assert_eq!(problem["field"].as_str(), field, "{body}");
    }
    let (_, stores) = get(&running, &boss, "/api/v1/stores");
    assert_eq!(
        stores.as_array().unwrap().len(),
        2,
        "refused entries wrote nothing"
    );

    let (status, _) = post(
        &running,
        &boss,
        "/api/v1/staff",
        &staff("manager.a", "store_manager", &format!(r#"["{a_id}"]"#)),
    );
    assert_eq!(status, 201);
    let manager = sign_in(&running, "manager.a", "a long secret");
    let (status, cashier) = post(
        &running,
        &manager,
        "/api/v1/staff",
        &staff("cashier.a", "cashier", &format!(r#"["{a_id}"]"#)),
    );
    assert_eq!(status, 201, "{cashier}");

    // What a store manager may not do.
    let forbidden = [
        (
            "/api/v1/staff",
            staff("cashier.b", "cashier", &format!(r#"["{b_id}"]"#)),
        ),
        (
            "/api/v1/staff",
            staff("manager.b", "store_manager", &format!(r#"["{a_id}"]"#)),
        ),
        ("/api/v1/staff", staff("roamer", "cashier", r#""all""#)),
        ("/api/v1/stores", store("SH-3")),
    ];
    for (path, body) in forbidden {
        let (status, problem) = post(&running, &manager, path, &body);
        assert_eq!(status, 403, "{body}: {problem}");
        assert_eq!(problem["code"], "forbidden");
    }

    // A cashier of store A sees store A, and not store B, nor its staff.
    let cashier = sign_in(&running, "cashier.a", "a long secret");
    let (_, visible) = get(&running, &cashier, "/api/v1/stores");
    let codes: Vec<&str> = visible
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["SH-1"]);
    assert_eq!(
        get(&running, &cashier, &format!("/api/v1/stores/{b_id}")).0,
        404
    );
    assert_eq!(
        get(&running, &cashier, &format!("/api/v1/stores/{a_id}")).0,
        200
    );
    let (_, listed) = get(&running, &cashier, "/api/v1/staff");
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (status, _) = post(
        &running,
        &cashier,
        "/api/v1/staff",
        &staff("cashier.c", "cashier", &format!(r#"["{a_id}"]"#)),
    );
    assert_eq!(status, 403);

    // The manager mints a terminal for their store (not for another); the POS uses its token.
    let (status, minted) = post(
        &running,
        &manager,
        "/api/v1/terminals",
        &format!(r#"{{"store":"{a_id}","name":"收银台 1"}}"#),
    );
    assert_eq!(status, 201, "{minted}");
    let till = format!("Bearer {}", minted["token"].as_str().unwrap());
    let (status, itself) = get(&running, &till, "/api/v1/terminal");
    assert_eq!(status, 200, "{itself}");
    assert_eq!(itself["store"], a_id);
    assert_eq!(
        get(&running, &till, "/api/v1/stores").0,
        401,
        "a terminal is not staff"
    );
    let (status, _) = post(
        &running,
        &manager,
        "/api/v1/terminals",
        &format!(r#"{{"store":"{b_id}","name":"收银台 1"}}"#),
    );
    assert_eq!(status, 403);
    let terminal_id = minted["terminal"]["id"].as_str().unwrap();
    let (status, _) = running
        .request(
            "DELETE",
            &format!("/api/v1/terminals/{terminal_id}"),
            &[("Authorization", &manager)],
            None,
        )
        .unwrap();
    assert_eq!(status, 200);
    let (status, problem) = get(&running, &till, "/api/v1/terminal");
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("terminal_revoked"))
    );

    // Every write is in the audit log, refused ones too, without the bodies; head office reads it.
    let (status, log) = get(&running, &boss, "/api/v1/audit?limit=200");
    assert_eq!(status, 200, "{log}");
    let entries = log["entries"].as_array().unwrap();
    let count = |action: &str, status: u16| {
        entries
            .iter()
            .filter(|e| e["action"] == action && e["status"] == status)
            .count()
    };
    assert_eq!(count("POST /api/v1/stores", 201), 2);
    assert_eq!(count("POST /api/v1/stores", 409), 1);
    assert_eq!(
        count("POST /api/v1/stores", 403),
        1,
        "the manager's refused attempt"
    );
    assert_eq!(count("POST /api/v1/staff", 403), 4);
    assert!(entries.iter().all(|e| e["remote"] == "127.0.0.1"), "{log}");
    let first = entries.last().unwrap();
    assert_eq!(
        first["action"], "POST /api/v1/sessions",
        "oldest last: the boss signing in"
    );
    assert!(
        !log.to_string().contains("a long secret"),
        "no bodies in the log"
    );
    let (status, problem) = get(&running, &manager, "/api/v1/audit");
    assert_eq!((status, problem["code"].as_str()), (403, Some("forbidden")));
    let (status, problem) = get(&running, &boss, "/api/v1/audit?limit=0");
    assert_eq!((status, problem["field"].as_str()), (422, Some("limit")));

    // Without a session: nothing.
    let (status, problem) = get(&running, "Bearer nope", "/api/v1/stores");
    assert_eq!(status, 401);
    assert_eq!(problem["code"], "unauthenticated");
}
