//! A signed-in caller of the box's API, for the end-to-end tests: JSON in and out over pinned
//! HTTPS, with the problem checks every test makes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

use std::path::Path;

use serde_json::Value;

use crate::RunningBox;

/// Starts the box for an API test, its log in `log`: more calls a second allowed than a person
/// would make, and the log at `info`.
pub fn start(data: &Path, log: &Path) -> RunningBox {
    RunningBox::start_logged(
        data,
        &[],
        &[
            ("TONGKA_HTTP_REQUESTS_PER_SECOND", Path::new("2000")),
            ("TONGKA_HTTP_REQUEST_BURST", Path::new("2000")),
            ("TONGKA_LOG_FILTER", Path::new("info")),
            // 积分兑换储值 at ¥1 per 100 points (off by default).
            (
                "TONGKA_TILL_POINTS_TO_STORED_VALUE_FEN_PER_100",
                Path::new("100"),
            ),
        ],
        Some(log),
    )
    .unwrap()
}

/// Parses a body as JSON, naming it if it is not.
pub fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// A staff member signed in to a running box.
#[derive(Debug)]
pub struct Client<'a> {
    running: &'a RunningBox,
    bearer: String,
}

impl Client<'_> {
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        self.call_with(method, path, &[], body)
    }

    pub fn call_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> (u16, Value) {
        let mut all = vec![("Authorization", self.bearer.as_str())];
        all.extend_from_slice(headers);
        let (status, body) = self.running.request(method, path, &all, body).unwrap();
        let value = if body.trim().is_empty() || !body.trim_start().starts_with(['{', '[']) {
            Value::String(body)
        } else {
            json(&body)
        };
        (status, value)
    }

    pub fn ok(&self, method: &str, path: &str, body: Option<&str>) -> Value {
        let (status, value) = self.call(method, path, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {value}"
        );
        value
    }
}

/// A caller holding `token`: a paired terminal's `tt_…`, say.
pub fn with_token<'a>(running: &'a RunningBox, token: &str) -> Client<'a> {
    Client {
        running,
        bearer: format!("Bearer {token}"),
    }
}

pub fn sign_in<'a>(running: &'a RunningBox, username: &str, password: &str) -> Client<'a> {
    let login = format!(r#"{{"username":"{username}","password":"{password}"}}"#);
    let (status, body) = running
        .request("POST", "/api/v1/sessions", &[], Some(&login))
        .unwrap();
    assert_eq!(status, 201, "{body}");
    Client {
        running,
        bearer: format!("Bearer {}", json(&body)["token"].as_str().unwrap()),
    }
}

/// Checks a problem answer's status and code.
pub fn problem(status: u16, value: &Value, expected_status: u16, code: &str) {
    assert_eq!(status, expected_status, "{value}");
    assert_eq!(value["code"], code, "{value}");
}

/// Makes the first head-office admin, `boss`, in a new data folder (before the box starts).
pub fn first_admin(data: &Path) {
    let made = crate::tongka_admin_create(data, "boss", BOSS_PASSWORD).unwrap();
    assert!(made.status.success(), "{made:?}");
}

/// The password [`first_admin`] gives `boss`.
pub const BOSS_PASSWORD: &str = "a long secret";

/// A direct store with `code`, opened by head office; its id.
pub fn store(boss: &Client, code: &str) -> String {
    let body = format!(
        r#"{{"code":"{code}","name":"{code}店","kind":"direct","opened_on":"2024-05-01","time_zone":"Asia/Shanghai"}}"#
    );
    boss.ok("POST", "/api/v1/stores", Some(&body))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A cashier of `store` with this username, signed in.
pub fn cashier<'a>(
    running: &'a RunningBox,
    boss: &Client,
    username: &str,
    store: &str,
) -> Client<'a> {
    boss.ok(
        "POST",
        "/api/v1/staff",
        Some(&format!(
            r#"{{"username":"{username}","display_name":"收银","role":"cashier","stores":["{store}"],"password":"till password"}}"#
        )),
    );
    sign_in(running, username, "till password")
}

/// A `tongka-client` connection to `running` (pinned to its certificate), and the same
/// connection signed in as [`first_admin`]'s `boss`.
pub async fn boss_client(running: &RunningBox) -> (tongka_client::Client, tongka_client::Client) {
    let url = format!("https://{}", running.address);
    let client = tongka_client::Client::connect(&url, &running.fingerprint)
        .await
        .unwrap();
    let session = client
        .sign_in(&tongka_client::types::LoginRequest {
            username: "boss".into(),
            password: BOSS_PASSWORD.into(),
        })
        .await
        .unwrap();
    let boss = client.with_token(&session.token);
    (client, boss)
}

/// A direct store with `code`, opened by head office through the API client; its id.
pub async fn open_store(boss: &tongka_client::Client, code: &str) -> String {
    boss.create_store(&tongka_client::types::CreateStore {
        code: code.into(),
        name: format!("{code}店"),
        kind: "direct".into(),
        opened_on: "2024-05-01".into(),
        time_zone: "Asia/Shanghai".into(),
    })
    .await
    .unwrap()
    .id
}

/// A POS terminal paired to `store` by head office's code: `client` with the terminal's token.
pub async fn pair_terminal(
    client: &tongka_client::Client,
    boss: &tongka_client::Client,
    store: &str,
) -> tongka_client::Client {
    let pairing = boss.open_pairing(store).await.unwrap();
    let paired = client
        .pair(&tongka_client::types::PairRequest {
            code: pairing.code,
            name: "收银台 1".into(),
        })
        .await
        .unwrap();
    client.with_token(&paired.token)
}
