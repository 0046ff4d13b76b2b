//! Plugins through the real box over pinned HTTPS: head office installs a packed scheme (packed
//! by the real `tongka-plugin`), configures it, tries it on a sample order, routes hooks to it,
//! upgrades it, and a refused upgrade leaves the old version serving. A plugin that loops is cut
//! off at its deadline while the others keep answering. Bad uploads, bad settings and undeclared
//! grants are refused with nothing changed. After a restart every plugin is back, from the
//! compiled cache, with its settings and routes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use base64::Engine as _;
use serde_json::{Value, json};
use tongka_e2e::api::{
    BOSS_PASSWORD, Client, cashier, first_admin, problem, sign_in, start, store,
};
use tongka_e2e::plugins::{components, packed};

/// What a newer SDK's tool would hand over: the manifest appended as the `tongka-manifest`
/// custom section, which this box's tool (rightly) refuses to write for an API it does not serve.
fn packed_by_a_newer_tool(component: &Path, manifest: &Value) -> String {
    fn leb128(out: &mut Vec<u8>, mut value: usize) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"tongka-manifest";
    let data = manifest.to_string().into_bytes();
    let mut section = Vec::new();
    leb128(&mut section, name.len());
    section.extend_from_slice(name);
    section.extend_from_slice(&data);
    let mut bytes = std::fs::read(component).unwrap();
    bytes.push(0);
    leb128(&mut bytes, section.len());
    bytes.extend_from_slice(&section);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn scheme_manifest(id: &str, version: &str, api: &str) -> Value {
    json!({
        "id": id, "version": version, "api": api, "world": "loyalty-scheme",
        "name": {"zh": "示例积分", "en": "Example points"},
        "config_schema": {
            "type": "object", "required": ["points_per_yuan"],
            "properties": {"points_per_yuan": {"type": "integer", "minimum": 0, "maximum": 100}}
        }
    })
}

/// Two lines: ¥25.00 earning points, ¥30.00 of tobacco that does not.
fn sample_order() -> Value {
    json!({
        "order": "trial-1",
        "member": {
            "id": "m-1", "tier": null, "tags": [], "birthday": null,
            "joined_on": {"year": 2024, "month": 1, "day": 1},
            "home_store": null, "referrer": null, "points": 0, "stored_value_fen": 0,
            "stats": {"total_spend_fen": 0, "visits": 0, "last_visit": null}
        },
        "store": {"id": "s-1", "code": "A", "kind": "Direct"},
        "at": {"date": {"year": 2026, "month": 11, "day": 23}, "hour": 12, "minute": 0, "second": 0, "utc_offset_minutes": 480},
        "lines": [
            {"line": 1, "sku": "MILK", "category": "dairy", "quantity_milli": 2000, "unit_price_fen": 1250, "flags": []},
            {"line": 2, "sku": "CIGS", "category": "tobacco", "quantity_milli": 1000, "unit_price_fen": 3000, "flags": ["no-points"]}
        ]
    })
}

fn trial(boss: &Client, id: &str) -> (u16, Value) {
    let body = json!({"hook": "quote-checkout", "input": sample_order()}).to_string();
    boss.call("POST", &format!("/api/v1/plugins/{id}/trial"), Some(&body))
}

fn points(trial: &Value) -> i64 {
    trial["value"][0]["EarnPoints"]["points"].as_i64().unwrap()
}

#[test]
fn plugins_installed_configured_tried_routed_and_kept_across_a_restart() {
    let built = components();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let scheme = built.join("example_scheme.wasm");
    let misbehave = built.join("misbehave.wasm");
    first_admin(&data);
    let running = start(&data, &dir.path().join("box.log"));
    let boss = sign_in(&running, "boss", BOSS_PASSWORD);
    let example_v1 = packed(
        dir.path(),
        &scheme,
        &scheme_manifest("example", "1.0.0", "0.1.0"),
    );

    // Refused, and nothing installed: settings that do not fit the schema, a grant the manifest
    // does not declare, bytes that are not a plugin, an unknown field.
    let install = |component: &str, config: Value, grant: Value| {
        json!({"component": component, "config": config, "grant": grant}).to_string()
    };
    let (status, value) = boss.call(
        "POST",
        "/api/v1/plugins",
        Some(&install(&example_v1, json!({}), json!([]))),
    );
    problem(status, &value, 422, "plugin_config_invalid");
    assert_eq!(value["field"], "config");
    let (status, value) = boss.call(
        "POST",
        "/api/v1/plugins",
        Some(&install(&example_v1, json!([2]), json!([]))),
    );
    problem(status, &value, 422, "plugin_config_invalid");
    let (status, value) = boss.call(
        "POST",
        "/api/v1/plugins",
        Some(&install(
            &example_v1,
            json!({"points_per_yuan": 2}),
            json!(["kv"]),
        )),
    );
    problem(status, &value, 422, "plugin_grant_undeclared");
    let not_a_plugin = base64::engine::general_purpose::STANDARD.encode(b"MZ\x90\x00 not wasm");
    let (status, value) = boss.call(
        "POST",
        "/api/v1/plugins",
        Some(&install(&not_a_plugin, json!({}), json!([]))),
    );
    problem(status, &value, 422, "plugin_invalid");
    let (status, value) = boss.call(
        "POST",
        "/api/v1/plugins",
        Some(r#"{"component":"!!!not base64"}"#),
    );
    problem(status, &value, 422, "invalid_field");
    assert_eq!(boss.ok("GET", "/api/v1/plugins", None), json!([]));

    // Installed, serving, with the limits it runs under.
    let (status, installed) = boss.call(
        "POST",
        "/api/v1/plugins",
        Some(&install(
            &example_v1,
            json!({"points_per_yuan": 2}),
            json!([]),
        )),
    );
    assert_eq!(status, 201, "{installed}");
    assert_eq!(installed["version"], "1.0.0");
    assert_eq!(installed["world"], "loyalty-scheme");
    assert_eq!(installed["loaded"], true);
    assert_eq!(installed["limits"]["deadline_ms"], 100);

    // Tried on a sample order: ¥25 of points-earning goods at 2 points a yuan.
    let (status, tried) = trial(&boss, "example");
    assert_eq!(status, 200, "{tried}");
    assert_eq!(points(&tried), 50, "{tried}");
    assert!(tried["fuel_used"].as_u64().unwrap() > 0);

    // New settings take effect; bad ones change nothing.
    boss.ok(
        "PATCH",
        "/api/v1/plugins/example",
        Some(r#"{"config":{"points_per_yuan":3}}"#),
    );
    assert_eq!(points(&trial(&boss, "example").1), 75);
    let (status, value) = boss.call(
        "PATCH",
        "/api/v1/plugins/example",
        Some(r#"{"config":{"points_per_yuan":"many"}}"#),
    );
    problem(status, &value, 422, "plugin_config_invalid");
    assert_eq!(points(&trial(&boss, "example").1), 75);
    let (status, value) = trial(&boss, "nobody");
    problem(status, &value, 404, "not_found");
    let (status, value) = boss.call(
        "POST",
        "/api/v1/plugins/example/trial",
        Some(r#"{"hook":"quote-checkout","input":{"order":1}}"#),
    );
    problem(status, &value, 422, "invalid_field");
    assert_eq!(value["field"], "input");

    // A plugin that never returns is stopped at its deadline; the other keeps answering.
    let mut looping = scheme_manifest("misbehave", "1.0.0", "0.1.0");
    looping["config_schema"] = json!({});
    looping["limits"] = json!({"fuel": 2_000_000_000u64, "deadline_ms": 50});
    let misbehave_packed = packed(dir.path(), &misbehave, &looping);
    let (status, value) = boss.call(
        "POST",
        "/api/v1/plugins",
        Some(&install(
            &misbehave_packed,
            json!({"mode": "loop"}),
            json!([]),
        )),
    );
    assert_eq!(status, 201, "{value}");
    let (status, value) = trial(&boss, "misbehave");
    problem(status, &value, 422, "plugin_failed");
    assert!(
        value["detail"].as_str().unwrap().starts_with("deadline"),
        "{value}"
    );
    assert_eq!(points(&trial(&boss, "example").1), 75);

    // Routes: which schemes answer a hook, in order.
    boss.ok(
        "PUT",
        "/api/v1/plugin-routes/quote-checkout",
        Some(r#"{"plugins":["example","misbehave"]}"#),
    );
    let (status, value) = boss.call(
        "PUT",
        "/api/v1/plugin-routes/quote-checkout",
        Some(r#"{"plugins":["ghost"]}"#),
    );
    problem(status, &value, 422, "invalid_field");
    let (status, value) = boss.call(
        "PUT",
        "/api/v1/plugin-routes/no-such-hook",
        Some(r#"{"plugins":[]}"#),
    );
    problem(status, &value, 404, "not_found");

    // An upgrade serves once it is checked; one for an interface this box does not serve is
    // refused and the installed version keeps serving.
    let example_v2 = packed(
        dir.path(),
        &scheme,
        &scheme_manifest("example", "1.1.0", "0.1.0"),
    );
    let (status, value) = boss.call(
        "POST",
        "/api/v1/plugins",
        Some(&install(
            &example_v2,
            json!({"points_per_yuan": 3}),
            json!([]),
        )),
    );
    assert_eq!(status, 201, "{value}");
    assert_eq!(value["version"], "1.1.0");
    let future = packed_by_a_newer_tool(&scheme, &scheme_manifest("example", "2.0.0", "0.2.0"));
    let (status, value) = boss.call(
        "POST",
        "/api/v1/plugins",
        Some(&install(&future, json!({"points_per_yuan": 3}), json!([]))),
    );
    problem(status, &value, 422, "plugin_api_unsupported");
    assert_eq!(
        boss.ok("GET", "/api/v1/plugins/example", None)["version"],
        "1.1.0"
    );
    assert_eq!(points(&trial(&boss, "example").1), 75);

    // Disabled: installed, not serving.
    let disabled = boss.ok(
        "PATCH",
        "/api/v1/plugins/misbehave",
        Some(r#"{"enabled":false}"#),
    );
    assert_eq!(disabled["loaded"], false);
    let (status, value) = trial(&boss, "misbehave");
    problem(status, &value, 409, "plugin_not_serving");

    // Only head office manages plugins.
    let store = store(&boss, "A");
    let till = cashier(&running, &boss, "cashier-a", &store);
    for (method, path, body) in [
        ("GET", "/api/v1/plugins", None),
        (
            "PATCH",
            "/api/v1/plugins/example",
            Some(r#"{"enabled":false}"#),
        ),
        ("DELETE", "/api/v1/plugins/example", None),
        (
            "PUT",
            "/api/v1/plugin-routes/refund",
            Some(r#"{"plugins":[]}"#),
        ),
    ] {
        let (status, value) = till.call(method, path, body);
        problem(status, &value, 403, "forbidden");
    }
    running.terminate().unwrap();

    // After a restart: everything is back, nothing recompiled.
    let log = dir.path().join("box-2.log");
    let running = start(&data, &log);
    let boss = sign_in(&running, "boss", BOSS_PASSWORD);
    let list = boss.ok("GET", "/api/v1/plugins", None);
    let by_id = |id: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_id("example")["version"], "1.1.0");
    assert_eq!(by_id("example")["loaded"], true);
    assert_eq!(by_id("example")["config"], json!({"points_per_yuan": 3}));
    assert_eq!(by_id("misbehave")["enabled"], false);
    assert_eq!(by_id("misbehave")["loaded"], false);
    assert_eq!(
        boss.ok("GET", "/api/v1/plugin-routes", None)["quote-checkout"],
        json!(["example", "misbehave"])
    );
    assert_eq!(points(&trial(&boss, "example").1), 75);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("plugin loaded from the compiled cache"),
        "{logged}"
    );
    assert!(!logged.contains("plugin compiled"), "{logged}");

    // Removed: gone, and out of every route.
    let (status, _) = boss.call("DELETE", "/api/v1/plugins/misbehave", None);
    assert_eq!(status, 204);
    let (status, value) = boss.call("GET", "/api/v1/plugins/misbehave", None);
    problem(status, &value, 404, "not_found");
    assert_eq!(
        boss.ok("GET", "/api/v1/plugin-routes", None)["quote-checkout"],
        json!(["example"])
    );
    running.terminate().unwrap();
}
