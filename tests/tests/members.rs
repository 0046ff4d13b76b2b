//! Members through the real box over pinned HTTPS: created with a card and found by it, bad input
//! refused with nothing written, the role rules, idempotent retries, CSV import (dry run, refusal,
//! import, re-run), merge through the ledger, lost and reissued cards, follow-ups, PIPL export and
//! erasure, CSV export, and a restart that keeps everything. The box's log never holds a phone
//! number in full.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use tongka_e2e::api::{problem, sign_in, start, store};
use tongka_e2e::{tongka_admin_create, tongka_verify};

#[test]
fn members_from_the_counter_to_erasure_through_the_real_box() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("box.log");
    assert!(
        tongka_admin_create(&data, "boss", "a long secret")
            .unwrap()
            .status
            .success()
    );
    let running = start(&data, &log);
    let boss = sign_in(&running, "boss", "a long secret");
    let store_a = store(&boss, "A");
    let store_b = store(&boss, "B");
    let cashier = format!(
        r#"{{"username":"cashier-a","display_name":"收银A","role":"cashier","stores":["{store_a}"],"password":"till password"}}"#
    );
    boss.ok("POST", "/api/v1/staff", Some(&cashier));
    let till = sign_in(&running, "cashier-a", "till password");

    // The merchant and a head-office department with its analyst.
    let renamed = boss.ok("PUT", "/api/v1/merchant", Some(r#"{"name":"好邻居超市"}"#));
    assert_eq!(renamed["name"], "好邻居超市");
    assert_eq!(
        boss.ok("GET", "/api/v1/merchant", None)["name"],
        "好邻居超市"
    );
    let marketing = boss.ok("POST", "/api/v1/departments", Some(r#"{"name":"市场部"}"#));
    let (status, value) = boss.call("POST", "/api/v1/departments", Some(r#"{"name":"市场部"}"#));
    problem(status, &value, 409, "department_taken");
    let analyst = format!(
        r#"{{"username":"analyst","display_name":"分析","role":"department","stores":"all","password":"look only","department":"{}"}}"#,
        marketing["id"].as_str().unwrap()
    );
    let analyst_body = boss.ok("POST", "/api/v1/staff", Some(&analyst));
    assert_eq!(analyst_body["department"], marketing["id"]);
    let nowhere = analyst.replace(marketing["id"].as_str().unwrap(), &"f".repeat(32));
    let (status, value) = boss.call(
        "POST",
        "/api/v1/staff",
        Some(&nowhere.replace("analyst", "analyst2")),
    );
    problem(status, &value, 422, "unknown_department");
    let analyst = sign_in(&running, "analyst", "look only");

    // Tiers and a custom field, by head office.
    let regular = boss.ok(
        "POST",
        "/api/v1/tiers",
        Some(r#"{"name":"普通","rank":1,"discount_rate":"1","points_rate":"1"}"#),
    );
    let gold = boss.ok(
        "POST",
        "/api/v1/tiers",
        Some(
            r#"{"name":"金卡","rank":2,"discount_rate":"0.9","points_rate":"1.5","thresholds":{"single_top_up":"1000.00"}}"#,
        ),
    );
    assert_eq!(gold["thresholds"]["single_top_up"], "1000.00");
    // Money finer than a fen is refused, not rounded.
    let (status, value) = boss.call(
        "POST",
        "/api/v1/tiers",
        Some(r#"{"name":"银卡","rank":5,"discount_rate":"0.95","points_rate":"1","thresholds":{"total_spend":"10.005"}}"#),
    );
    problem(status, &value, 422, "invalid_field");
    assert_eq!(value["field"], "thresholds.total_spend");
    boss.ok(
        "POST",
        "/api/v1/custom-fields",
        Some(r#"{"key":"pet","label":"宠物","kind":"choice","options":["猫","狗"]}"#),
    );

    // A member with a card, at the till.
    let li_body = r#"{"name":"李娜","phone":"+86 138 0013 8000","birthday":"1990-02-28","tags":["爱猫"],"custom":{"pet":"猫"},"marketing_consent":true,"card":{"number":"C-1001","kind":"barcode"}}"#;
    let keyed = [("Idempotency-Key", "till-1/li")];
    let (status, li) = till.call_with("POST", "/api/v1/members", &keyed, Some(li_body));
    assert_eq!(status, 201, "{li}");
    let li_id = li["id"].as_str().unwrap().to_owned();
    assert_eq!(li["phone"], "13800138000");
    assert_eq!(li["home_store"], store_a.as_str());
    assert_eq!(li["tier"], regular["id"]);
    assert_eq!(li["channel"], "store");
    assert_eq!(li["consent"]["marketing"], true);
    assert_eq!(
        li["balances"]["stored_value"]["total"],
        serde_json::json!({"amount": "0.00", "currency": "CNY"})
    );
    assert_eq!(li["balances"]["points"], "0");
    // The retry answers the same member; the key with another body is refused.
    let (status, again) = till.call_with("POST", "/api/v1/members", &keyed, Some(li_body));
    assert_eq!(status, 201);
    assert_eq!(again["id"], li_id.as_str());
    let (status, reused) = till.call_with(
        "POST",
        "/api/v1/members",
        &keyed,
        Some(r#"{"name":"别人","phone":"13900139000"}"#),
    );
    problem(status, &reused, 422, "idempotency_key_reused");

    // Found by card from any store's till, and by phone as typed.
    let found = boss.ok("GET", "/api/v1/cards/c-1001", None);
    assert_eq!(found["member"]["id"], li_id.as_str());
    let page = till.ok("GET", "/api/v1/members?phone=138-0013-8000", None);
    assert_eq!(page["members"][0]["id"], li_id.as_str());
    assert_eq!(page["members"][0]["phone"], "138****8000");
    let page = boss.ok("GET", "/api/v1/members?name=%E6%9D%8E", None);
    assert_eq!(page["members"].as_array().unwrap().len(), 1);

    // Bad input: each a 4xx problem naming the field, and nothing written.
    let bad = [
        (
            r#"{"name":"王","phone":"12345"}"#,
            422,
            "invalid_field",
            Some("phone"),
        ),
        (
            r#"{"name":"王","phone":"13900139000","birthday":"2099-01-01"}"#,
            422,
            "invalid_field",
            Some("birthday"),
        ),
        (
            r#"{"name":"王","phone":"13900139000","nickname":"x"}"#,
            422,
            "unknown_field",
            Some("nickname"),
        ),
        (
            r#"{"name":"王","phone":13900139000}"#,
            422,
            "invalid_field",
            Some("phone"),
        ),
        (
            r#"{"name":"王","phone":"13900139000""#,
            400,
            "malformed_json",
            None,
        ),
        (
            r#"{"name":"王","phone":"13900139000","custom":{"pet":"鱼"}}"#,
            422,
            "invalid_field",
            Some("custom.pet"),
        ),
        (
            r#"{"name":"王","phone":"13900139000","card":{"number":"C-1001","kind":"barcode"}}"#,
            409,
            "card_taken",
            Some("card.number"),
        ),
        (
            r#"{"name":"王","phone":"13800138000"}"#,
            409,
            "phone_taken",
            Some("phone"),
        ),
        (
            r#"{"name":"王","phone":"13900139000","id_number":"110105194912310021"}"#,
            422,
            "invalid_field",
            Some("id_number"),
        ),
    ];
    for (body, status, code, field) in bad {
        let (got, value) = boss.call("POST", "/api/v1/members", Some(body));
        problem(got, &value, status, code);
        if let Some(field) = field {
            assert_eq!(value["field"], field, "{body}: {value}");
        }
    }
    let long_name = format!(r#"{{"name":"{}","phone":"13900139000"}}"#, "名".repeat(33));
    let (status, value) = boss.call("POST", "/api/v1/members", Some(&long_name));
    problem(status, &value, 422, "invalid_field");
    let page = boss.ok("GET", "/api/v1/members?phone=13900139000", None);
    assert_eq!(page["members"], serde_json::json!([]), "nothing written");
    let (status, value) = boss.call("GET", "/api/v1/members?limit=1000", None);
    problem(status, &value, 422, "invalid_field");

    // A department reads members but changes none.
    assert_eq!(
        analyst.ok("GET", &format!("/api/v1/members/{li_id}"), None)["name"],
        "李娜"
    );
    let (status, value) = analyst.call(
        "PATCH",
        &format!("/api/v1/members/{li_id}"),
        Some(r#"{"name":"改"}"#),
    );
    problem(status, &value, 403, "forbidden");

    // The role rules: a cashier of store A.
    let b_member = boss.ok(
        "POST",
        "/api/v1/members",
        Some(&format!(
            r#"{{"name":"乙","phone":"13700137000","home_store":"{store_b}"}}"#
        )),
    );
    let b_id = b_member["id"].as_str().unwrap().to_owned();
    let forbidden = [
        (
            "POST",
            "/api/v1/tiers".to_owned(),
            Some(r#"{"name":"钻石","rank":3,"discount_rate":"0.8","points_rate":"2"}"#.to_owned()),
        ),
        (
            "PUT",
            format!("/api/v1/tiers/{}", gold["id"].as_str().unwrap()),
            Some(r#"{"name":"金卡","rank":2,"discount_rate":"0.5","points_rate":"9"}"#.to_owned()),
        ),
        (
            "POST",
            format!("/api/v1/members/{li_id}/merge"),
            Some(format!(r#"{{"from":"{b_id}"}}"#)),
        ),
        (
            "DELETE",
            format!("/api/v1/members/{li_id}/personal-data"),
            None,
        ),
        ("GET", format!("/api/v1/members/{li_id}/export"), None),
        (
            "PUT",
            format!("/api/v1/members/{li_id}/frozen"),
            Some(r#"{"frozen":true}"#.to_owned()),
        ),
        (
            "PUT",
            format!("/api/v1/members/{li_id}/tier"),
            Some(format!(r#"{{"tier":"{}"}}"#, gold["id"].as_str().unwrap())),
        ),
        (
            "PATCH",
            format!("/api/v1/members/{b_id}"),
            Some(r#"{"name":"改"}"#.to_owned()),
        ),
        ("GET", format!("/api/v1/members?store={store_b}"), None),
        (
            "POST",
            "/api/v1/custom-fields".to_owned(),
            Some(r#"{"key":"x","label":"x","kind":"text"}"#.to_owned()),
        ),
        (
            "POST",
            "/api/v1/members/import?dry_run=true".to_owned(),
            Some("name\n".to_owned()),
        ),
        ("GET", "/api/v1/members/export.csv".to_owned(), None),
        (
            "PUT",
            "/api/v1/merchant".to_owned(),
            Some(r#"{"name":"我的"}"#.to_owned()),
        ),
        (
            "POST",
            "/api/v1/departments".to_owned(),
            Some(r#"{"name":"财务部"}"#.to_owned()),
        ),
    ];
    for (method, path, body) in &forbidden {
        let headers: &[(&str, &str)] = if path.contains("import") {
            &[("Content-Type", "text/csv")]
        } else {
            &[]
        };
        let (status, value) = till.call_with(method, path, headers, body.as_deref());
        assert_eq!(status, 403, "{method} {path}: {value}");
        assert_eq!(value["code"], "forbidden");
    }
    let (status, value) = till.call(
        "POST",
        "/api/v1/members",
        Some(&format!(
            r#"{{"name":"丙","phone":"13600136000","home_store":"{store_b}"}}"#
        )),
    );
    problem(status, &value, 422, "unknown_store");
    // Browsing shows the cashier's store only; an exact lookup finds anyone.
    let page = till.ok("GET", "/api/v1/members", None);
    let ids: Vec<&str> = page["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [li_id.as_str()]);
    let page = till.ok("GET", "/api/v1/members?phone=13700137000", None);
    assert_eq!(page["members"][0]["id"], b_id.as_str());
    // And the cashier may change their own store's member.
    let changed = till.ok(
        "PATCH",
        &format!("/api/v1/members/{li_id}"),
        Some(r#"{"occupation":"教师","tags":["爱猫","常客"]}"#),
    );
    assert_eq!(changed["occupation"], "教师");
    assert_eq!(changed["name"], "李娜");

    // Import: a dry run names the bad rows; the real run refuses the file whole.
    let bad_csv = "姓名,手机,卡号,积分,储值余额,门店\n\
                   赵,13500135000,D-0001,100,88.80,A\n\
                   钱,123,D-0002,,,A\n\
                   孙,13500135002,D-0003,1.5,,A\n";
    let csv = [("Content-Type", "text/csv"), ("Accept-Language", "en")];
    let (status, report) = boss.call_with(
        "POST",
        "/api/v1/members/import?dry_run=true",
        &csv,
        Some(bad_csv),
    );
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["applied"], false);
    assert_eq!(report["rows"], 3);
    let lines: Vec<(u64, &str)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["field"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, [(3, "phone"), (4, "points")]);
    let (status, refused) = boss.call_with("POST", "/api/v1/members/import", &csv, Some(bad_csv));
    problem(status, &refused, 422, "import_rejected");
    assert_eq!(refused["errors"].as_array().unwrap().len(), 2);
    let (status, none) = boss.call("GET", "/api/v1/cards/D-0001", None);
    problem(status, &none, 404, "unknown_card");

    let good_csv = "姓名,手机,卡号,积分,储值余额,赠送余额,门店,入会日期\n\
                    赵,13500135000,D-0001,100,88.80,10,A,2019-03-01\n\
                    钱,13500135001,D-0002,5,,,B,2020-06-30\n";
    let (status, report) = boss.call_with("POST", "/api/v1/members/import", &csv, Some(good_csv));
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["applied"], true);
    assert_eq!(report["created"], 2);
    let (status, rerun) = boss.call_with("POST", "/api/v1/members/import", &csv, Some(good_csv));
    assert_eq!(status, 200, "{rerun}");
    assert_eq!(rerun["created"], 0, "the same file twice adds nothing");
    let zhao = boss.ok("GET", "/api/v1/cards/D-0001", None)["member"].clone();
    let zhao_id = zhao["id"].as_str().unwrap().to_owned();
    assert_eq!(zhao["channel"], "import");
    // Joined at midnight China time, from the file.
    assert!(
        zhao["joined_at"]
            .as_str()
            .unwrap()
            .starts_with("2019-02-28T16:00:00"),
        "{zhao}"
    );
    assert_eq!(zhao["balances"]["points"], "100");
    assert_eq!(
        zhao["balances"]["stored_value"]["principal"]["amount"],
        "88.80"
    );
    assert_eq!(zhao["balances"]["stored_value"]["total"]["amount"], "98.80");

    // Merge 赵 into 李娜: balances move through the ledger, cards follow, and she keeps the
    // better of the two tiers (赵 is on 金卡, she on 普通), noted in her tier history.
    let gold_id = gold["id"].as_str().unwrap();
    boss.ok(
        "PUT",
        &format!("/api/v1/members/{zhao_id}/tier"),
        Some(&format!(r#"{{"tier":"{gold_id}"}}"#)),
    );
    let merged = boss.ok(
        "POST",
        &format!("/api/v1/members/{li_id}/merge"),
        Some(&format!(r#"{{"from":"{zhao_id}"}}"#)),
    );
    assert_eq!(merged["balances"]["points"], "100");
    assert_eq!(
        merged["balances"]["stored_value"]["total"]["amount"],
        "98.80"
    );
    assert_eq!(merged["cards"].as_array().unwrap().len(), 2);
    assert_eq!(merged["tier"], gold_id);
    let history = boss.ok(
        "GET",
        &format!("/api/v1/members/{li_id}/tier-history"),
        None,
    );
    let last = history.as_array().unwrap().last().unwrap();
    assert_eq!(
        (&last["from"], last["to"].as_str(), last["reason"].as_str()),
        (&regular["id"], Some(gold_id), Some("merged"))
    );
    // The same head office hand that put 赵 on 金卡 merged them.
    let zhao_history = boss.ok(
        "GET",
        &format!("/api/v1/members/{zhao_id}/tier-history"),
        None,
    );
    let by_hand = zhao_history.as_array().unwrap().last().unwrap();
    assert_eq!(by_hand["reason"], "manual");
    assert!(last["staff"].is_string(), "{history}");
    assert_eq!(last["staff"], by_hand["staff"]);
    let zhao = boss.ok("GET", &format!("/api/v1/members/{zhao_id}"), None);
    assert_eq!(zhao["status"], "merged");
    assert_eq!(zhao["merged_into"], li_id.as_str());
    assert_eq!(zhao["balances"]["points"], "0");
    assert_eq!(
        boss.ok("GET", "/api/v1/cards/D-0001", None)["member"]["id"],
        li_id.as_str()
    );

    // Head office adjusts: a tier's settings, a member's tier, a freeze, another card.
    let gold = boss.ok(
        "PUT",
        &format!("/api/v1/tiers/{gold_id}"),
        Some(r#"{"name":"金卡","rank":2,"discount_rate":"0.88","points_rate":"2"}"#),
    );
    assert_eq!(gold["discount_rate"], "0.88");
    let (status, value) = boss.call(
        "POST",
        "/api/v1/tiers",
        Some(r#"{"name":"银卡","rank":2,"discount_rate":"0.95","points_rate":"1"}"#),
    );
    problem(status, &value, 409, "tier_taken");
    let (status, value) = boss.call(
        "POST",
        "/api/v1/tiers",
        Some(r#"{"name":"银卡","rank":3,"discount_rate":"1.2","points_rate":"1"}"#),
    );
    problem(status, &value, 422, "invalid_field");
    assert_eq!(value["field"], "discount_rate");
    let on_gold = boss.ok(
        "PUT",
        &format!("/api/v1/members/{b_id}/tier"),
        Some(&format!(r#"{{"tier":"{gold_id}"}}"#)),
    );
    assert_eq!(on_gold["tier"], gold_id);
    let frozen = boss.ok(
        "PUT",
        &format!("/api/v1/members/{b_id}/frozen"),
        Some(r#"{"frozen":true}"#),
    );
    assert_eq!(frozen["status"], "frozen");
    let with_card = boss.ok(
        "POST",
        &format!("/api/v1/members/{b_id}/cards"),
        Some(r#"{"number":"11010519491231002X","kind":"id_card"}"#),
    );
    assert_eq!(with_card["cards"][0]["number"], "110105**********2X");
    assert_eq!(
        boss.ok("GET", "/api/v1/cards/11010519491231002x", None)["member"]["id"],
        b_id.as_str()
    );
    let fields = boss.ok("GET", "/api/v1/custom-fields", None);
    assert_eq!(fields[0]["key"], "pet");

    // A lost card stops working; its replacement works.
    boss.ok(
        "POST",
        &format!("/api/v1/members/{li_id}/cards/C-1001/lost"),
        None,
    );
    let (status, value) = till.call("GET", "/api/v1/cards/C-1001", None);
    problem(status, &value, 409, "card_not_active");
    boss.ok(
        "POST",
        &format!("/api/v1/members/{li_id}/cards/C-1001/reissue"),
        Some(r#"{"number":"C-2002","kind":"ic"}"#),
    );
    assert_eq!(
        till.ok("GET", "/api/v1/cards/C-2002", None)["member"]["id"],
        li_id.as_str()
    );

    // A service record with a follow-up, due on its day.
    till.ok(
        "POST",
        &format!("/api/v1/members/{li_id}/service-records"),
        Some(r#"{"note":"猫咪眼部护理","follow_up_on":"2026-11-26"}"#),
    );
    let due = till.ok("GET", "/api/v1/follow-ups?due_by=2026-11-26", None);
    assert_eq!(due[0]["record"]["note"], "猫咪眼部护理");
    assert_eq!(
        till.ok("GET", "/api/v1/follow-ups?due_by=2026-11-25", None),
        serde_json::json!([])
    );
    let number = due[0]["record"]["number"].as_u64().unwrap();
    let done = till.ok(
        "POST",
        &format!("/api/v1/members/{li_id}/service-records/{number}/done"),
        None,
    );
    assert!(done["done_at"].is_string());
    assert_eq!(
        till.ok("GET", "/api/v1/follow-ups?due_by=2026-12-31", None),
        serde_json::json!([])
    );
    let records = till.ok(
        "GET",
        &format!("/api/v1/members/{li_id}/service-records"),
        None,
    );
    assert_eq!(records.as_array().unwrap().len(), 1);

    // CSV export: the import's columns, the balances as decimals.
    let (status, exported) = boss.call("GET", "/api/v1/members/export.csv", None);
    assert_eq!(status, 200);
    let exported = exported.as_str().unwrap().to_owned();
    assert!(exported.starts_with("name,phone,"), "{exported}");
    assert!(
        exported.contains("李娜,13800138000,,1990-02-28,"),
        "{exported}"
    );
    assert!(exported.contains(",100,88.80,10.00,0"), "{exported}");

    // PIPL: the export holds everything, erasure removes the person and keeps the money.
    let export = boss.ok("GET", &format!("/api/v1/members/{li_id}/export"), None);
    assert_eq!(export["member"]["phone"], "13800138000");
    assert!(export["ledger"].as_array().unwrap().len() >= 3, "{export}");
    let erased = boss.ok(
        "DELETE",
        &format!("/api/v1/members/{li_id}/personal-data"),
        None,
    );
    assert_eq!(erased["status"], "erased");
    assert_eq!(erased["name"], Value::Null);
    assert_eq!(erased["phone"], Value::Null);
    assert_eq!(erased["balances"]["points"], "100");
    let (status, value) = till.call("GET", "/api/v1/cards/C-2002", None);
    problem(status, &value, 404, "unknown_card");
    let page = boss.ok("GET", "/api/v1/members?phone=13800138000", None);
    assert_eq!(page["members"], serde_json::json!([]));
    // The phone is free for a new member again.
    boss.ok(
        "POST",
        "/api/v1/members",
        Some(r#"{"name":"新","phone":"13800138000","card":{"number":"E-0001","kind":"qr"}}"#),
    );

    // A restart keeps everything, and the ledger verifies clean.
    assert!(running.terminate().unwrap().success());
    let verified = tongka_verify(&data).unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    let running = start(&data, &dir.path().join("box-2.log"));
    let boss = sign_in(&running, "boss", "a long secret");
    let kept = boss.ok("GET", "/api/v1/cards/E-0001", None);
    assert_eq!(kept["member"]["name"], "新");
    let b_kept = boss.ok("GET", &format!("/api/v1/members/{b_id}"), None);
    assert_eq!(b_kept["phone"], "13700137000");
    let erased = boss.ok("GET", &format!("/api/v1/members/{li_id}"), None);
    assert_eq!(erased["status"], "erased");
    assert_eq!(
        erased["balances"]["stored_value"]["total"]["amount"],
        "98.80"
    );
    assert_eq!(
        boss.ok("GET", "/api/v1/tiers", None)
            .as_array()
            .unwrap()
            .len(),
        2
    );
    drop(running);

    // The log names members by masked phone only.
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("member created"), "{log}");
    assert!(log.contains("138****8000"), "{log}");
    assert!(
        !log.contains("13800138000"),
        "a full phone number in the log"
    );
}
