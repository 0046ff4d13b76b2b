//! The till through the real box over pinned HTTPS, with the first-party `standard-points`
//! scheme installed and routed as a merchant would.
//!
//! - A table of checkout cases written from the merchant's side: the lines, the member, the
//!   rules; the exact discounts, amount due, points and offset expected.
//! - A member's day: top-up ¥100 with ¥20 and 500 points on top, a purchase paid with points
//!   and stored value, the referrer's share, a retry that changes nothing, a stale quote, a
//!   refund in two parts that brings every balance back to the fen.
//! - Two terminals spending one balance at once: only one succeeds.
//! - A scheme that traps or hangs at commit: a clear error and nothing written.
//! - `tongka ledger verify` clean at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use tongka_e2e::api::{
    BOSS_PASSWORD, Client, first_admin, json as parse, problem, sign_in, start, store, with_token,
};
use tongka_e2e::plugins::{TILL_HOOKS, components, packed};
use tongka_e2e::{RunningBox, tongka_verify};

/// Today and the hour on the merchant's clock (China Standard Time).
fn china_now() -> (u32, u32, u32, u32) {
    let (today, hour) = tongka_e2e::china_clock(0);
    (
        u32::from(today.year),
        u32::from(today.month),
        u32::from(today.day),
        u32::try_from(hour).unwrap(),
    )
}

fn manifest() -> Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    parse(&std::fs::read_to_string(root.join("plugins/standard-points/manifest.json")).unwrap())
}

/// Installs `standard-points` with `config` and routes every till hook to it.
fn install_standard(boss: &Client, dir: &std::path::Path, config: &Value) {
    let built = components();
    let component = packed(dir, &built.join("standard_points.wasm"), &manifest());
    let body = json!({"component": component, "config": config, "grant": []}).to_string();
    let (status, value) = boss.call("POST", "/api/v1/plugins", Some(&body));
    assert_eq!(status, 201, "{value}");
    for hook in TILL_HOOKS {
        boss.ok(
            "PUT",
            &format!("/api/v1/plugin-routes/{hook}"),
            Some(r#"{"plugins":["standard-points"]}"#),
        );
    }
}

fn configure(boss: &Client, config: &Value) {
    boss.ok(
        "PATCH",
        "/api/v1/plugins/standard-points",
        Some(&json!({ "config": config }).to_string()),
    );
}

fn amount(value: &Value) -> &str {
    value["amount"]
        .as_str()
        .unwrap_or_else(|| panic!("not money: {value}"))
}

fn member(boss: &Client, body: &Value) -> String {
    let (status, value) = boss.call("POST", "/api/v1/members", Some(&body.to_string()));
    assert_eq!(status, 201, "{value}");
    value["id"].as_str().unwrap().to_owned()
}

fn line(n: u32, sku: &str, category: &str, quantity: &str, price: &str) -> Value {
    json!({"line": n, "sku": sku, "category": category, "quantity": quantity, "unit_price": price})
}

/// Milk ¥12.50 × 2 (dairy) and cigarettes ¥30.00 (tobacco, earns no points).
fn milk_and_cigarettes() -> Vec<Value> {
    let mut cigarettes = line(2, "CIGS", "tobacco", "1", "30.00");
    cigarettes["no_points"] = json!(true);
    vec![line(1, "MILK", "dairy", "2", "12.50"), cigarettes]
}

struct Case {
    what: &'static str,
    config: Value,
    member: &'static str,
    lines: Vec<Value>,
    /// (line, discount) for every discounted line.
    discounts: Vec<(u32, &'static str)>,
    payable: &'static str,
    points: &'static str,
}

#[test]
fn checkouts_are_priced_by_the_merchants_rules() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    first_admin(&data);
    let running = start(&data, &dir.path().join("box.log"));
    let boss = sign_in(&running, "boss", BOSS_PASSWORD);
    let shop = store(&boss, "SH-001");
    // Joined before the merchant had tiers: the scheme's own base rate applies.
    let tierless = member(&boss, &json!({"name": "老顾客", "home_store": shop}));
    boss.ok(
        "POST",
        "/api/v1/tiers",
        Some(r#"{"name":"普通","rank":1,"discount_rate":"1","points_rate":"1"}"#),
    );
    let gold = boss.ok(
        "POST",
        "/api/v1/tiers",
        Some(r#"{"name":"金卡","rank":2,"discount_rate":"0.9","points_rate":"2"}"#),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (year, month, day, hour) = china_now();
    let plain = member(&boss, &json!({"name": "普通会员", "home_store": shop}));
    let golden = member(
        &boss,
        &json!({"name": "金卡会员", "home_store": shop, "tier": gold}),
    );
    // 1992 was a leap year: a 29 February run still has a birthday to match.
    let birthday = member(
        &boss,
        &json!({"name": "寿星", "home_store": shop, "birthday": format!("1992-{month:02}-{day:02}")}),
    );
    install_standard(&boss, dir.path(), &json!({}));

    let today = format!("{year}-{month:02}-{day:02}");
    let other_day = day % 28 + 1;
    let later = (hour + 2) % 24;
    let mut promotional_milk = milk_and_cigarettes();
    promotional_milk[0]["promotional"] = json!(true);
    let mut weighed = milk_and_cigarettes();
    weighed[1] = line(2, "RICE", "grain", "1.5", "0.33");
    let cases = [
        Case {
            what: "1 point a yuan at the lowest tier; tobacco earns nothing",
            config: json!({}),
            member: "plain",
            lines: milk_and_cigarettes(),
            discounts: vec![],
            payable: "55.00",
            points: "25",
        },
        Case {
            what: "gold: 9折 on every line that takes discounts, 2 points a yuan on what is left",
            config: json!({}),
            member: "gold",
            lines: milk_and_cigarettes(),
            discounts: vec![(1, "2.50"), (2, "3.00")],
            payable: "49.50",
            points: "45",
        },
        Case {
            what: "no tier discount when the merchant turns it off",
            config: json!({"tier_discount": false}),
            member: "gold",
            lines: milk_and_cigarettes(),
            discounts: vec![],
            payable: "55.00",
            points: "50",
        },
        Case {
            what: "dairy earns 150%: 37.5 points, rounded down",
            config: json!({"category_multipliers": [{"key": "dairy", "percent": 150}]}),
            member: "plain",
            lines: milk_and_cigarettes(),
            discounts: vec![],
            payable: "55.00",
            points: "37",
        },
        Case {
            what: "a product's own rule wins over its category's",
            config: json!({"category_multipliers": [{"key": "dairy", "percent": 150}],
                           "sku_multipliers": [{"key": "MILK", "percent": 300}]}),
            member: "plain",
            lines: milk_and_cigarettes(),
            discounts: vec![],
            payable: "55.00",
            points: "75",
        },
        Case {
            what: "gold at a 150% category: 22.50 × 2 × 1.5",
            config: json!({"category_multipliers": [{"key": "dairy", "percent": 150}]}),
            member: "gold",
            lines: milk_and_cigarettes(),
            discounts: vec![(1, "2.50"), (2, "3.00")],
            payable: "49.50",
            points: "67",
        },
        Case {
            what: "an excluded category earns nothing",
            config: json!({"excluded_categories": ["dairy"]}),
            member: "plain",
            lines: milk_and_cigarettes(),
            discounts: vec![],
            payable: "55.00",
            points: "0",
        },
        Case {
            what: "an excluded product earns nothing",
            config: json!({"excluded_skus": ["MILK"]}),
            member: "plain",
            lines: milk_and_cigarettes(),
            discounts: vec![],
            payable: "55.00",
            points: "0",
        },
        Case {
            what: "促销品不积分, and no tier discount on it",
            config: json!({}),
            member: "gold",
            lines: promotional_milk.clone(),
            discounts: vec![(2, "3.00")],
            payable: "52.00",
            points: "0",
        },
        Case {
            what: "unless the merchant lets promotions earn",
            config: json!({"promotional_earns": true}),
            member: "plain",
            lines: promotional_milk,
            discounts: vec![],
            payable: "55.00",
            points: "25",
        },
        Case {
            what: "a new store's double points, on member day too: ×4",
            config: json!({"store_multipliers": [{"store": "SH-001", "from": today, "to": today, "percent": 200}],
                           "member_day": {"day_of_month": day, "percent": 200}}),
            member: "plain",
            lines: milk_and_cigarettes(),
            discounts: vec![],
            payable: "55.00",
            points: "100",
        },
        Case {
            what: "a store rule that ended, another store's rule, not member day: ×1",
            config: json!({"store_multipliers": [{"store": "SH-001", "from": "2020-01-01", "to": "2020-12-31", "percent": 200},
                                                 {"store": "BJ-001", "from": today, "to": today, "percent": 300}],
                           "member_day": {"day_of_month": other_day, "percent": 200}}),
            member: "plain",
            lines: milk_and_cigarettes(),
            discounts: vec![],
            payable: "55.00",
            points: "25",
        },
        Case {
            what: "birthday double points",
            config: json!({"birthday_percent": 200}),
            member: "birthday",
            lines: milk_and_cigarettes(),
            discounts: vec![],
            payable: "55.00",
            points: "50",
        },
        Case {
            what: "birthday rule, but not this member's birthday",
            config: json!({"birthday_percent": 200}),
            member: "plain",
            lines: milk_and_cigarettes(),
            discounts: vec![],
            payable: "55.00",
            points: "25",
        },
        Case {
            what: "a time window covering now: ×3",
            config: json!({"time_windows": [{"from": "00:00", "to": "24:00", "percent": 300}]}),
            member: "plain",
            lines: milk_and_cigarettes(),
            discounts: vec![],
            payable: "55.00",
            points: "75",
        },
        Case {
            what: "a time window later today: ×1",
            config: json!({"time_windows": [{"from": format!("{later:02}:00"), "to": format!("{:02}:00", later + 1), "percent": 300}]}),
            member: "plain",
            lines: milk_and_cigarettes(),
            discounts: vec![],
            payable: "55.00",
            points: "25",
        },
        Case {
            what: "weighed rice, 1.5 kg at ¥0.33: 49.5 fen is 50 (half up); 25.5 points is 25",
            config: json!({}),
            member: "plain",
            lines: weighed,
            discounts: vec![],
            payable: "25.50",
            points: "25",
        },
        Case {
            what: "a member without a tier earns the scheme's base rate: 12.5 points is 12",
            config: json!({"base_points_per_yuan_bp": 5000}),
            member: "tierless",
            lines: milk_and_cigarettes(),
            discounts: vec![],
            payable: "55.00",
            points: "12",
        },
    ];
    let mut failures = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        configure(&boss, &case.config);
        let member = match case.member {
            "plain" => &plain,
            "gold" => &golden,
            "tierless" => &tierless,
            _ => &birthday,
        };
        let body = json!({"order": format!("case-{n}"), "member": member, "store": shop, "lines": case.lines});
        let (status, quote) = boss.call("POST", "/api/v1/till/quote", Some(&body.to_string()));
        assert_eq!(status, 200, "{}: {quote}", case.what);
        let discounts: Vec<(u32, String)> = quote["discounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    u32::try_from(d["line"].as_u64().unwrap()).unwrap(),
                    amount(&d["amount"]).to_owned(),
                )
            })
            .collect();
        let expected: Vec<(u32, String)> = case
            .discounts
            .iter()
            .map(|(l, a)| (*l, (*a).to_owned()))
            .collect();
        if discounts != expected
            || amount(&quote["payable"]) != case.payable
            || quote["points_to_earn"] != case.points
        {
            failures.push(format!(
                "{}: discounts {discounts:?} (expected {expected:?}), payable {} (expected {}), points {} (expected {})",
                case.what,
                amount(&quote["payable"]),
                case.payable,
                quote["points_to_earn"],
                case.points
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Pairs a terminal with `store`; its client.
fn terminal<'a>(running: &'a RunningBox, boss: &Client, store: &str, name: &str) -> Client<'a> {
    let window = boss.ok("POST", &format!("/api/v1/stores/{store}/pairings"), None);
    let body = json!({"code": window["code"], "name": name}).to_string();
    let (status, text) = running
        .request("POST", "/api/v1/pairings", &[], Some(&body))
        .unwrap();
    assert_eq!(status, 201, "{text}");
    with_token(running, parse(&text)["token"].as_str().unwrap())
}

fn balances(boss: &Client, member: &str) -> (String, String, String, String) {
    let m = boss.ok("GET", &format!("/api/v1/members/{member}"), None);
    let b = &m["balances"];
    (
        amount(&b["stored_value"]["principal"]).to_owned(),
        amount(&b["stored_value"]["bonus"]).to_owned(),
        b["points"].as_str().unwrap().to_owned(),
        b["growth"].as_str().unwrap().to_owned(),
    )
}

fn owned(list: [&str; 4]) -> (String, String, String, String) {
    let [a, b, c, d] = list.map(str::to_owned);
    (a, b, c, d)
}

#[test]
fn a_member_tops_up_pays_with_points_and_stored_value_and_is_refunded() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    first_admin(&data);
    let running = start(&data, &dir.path().join("box.log"));
    let boss = sign_in(&running, "boss", BOSS_PASSWORD);
    let shop = store(&boss, "SH-001");
    boss.ok(
        "POST",
        "/api/v1/tiers",
        Some(r#"{"name":"普通","rank":1,"discount_rate":"1","points_rate":"1"}"#),
    );
    install_standard(
        &boss,
        dir.path(),
        &json!({
            "offset": {"points_per_unit": 100, "unit_fen": 100, "cap_percent": 50},
            "top_up_offers": [{"min_fen": 10000, "bonus_fen": 2000, "bonus_points": 500},
                              {"min_fen": 300000, "bonus_fen": 90000, "bonus_months": 3}],
            "growth_per_yuan": 1,
            "referral": {"share_percent": 10, "join_points": 50},
            "welcome_points": 100
        }),
    );
    let till = terminal(&running, &boss, &shop, "收银台 1");
    let referrer = member(&boss, &json!({"name": "老会员", "home_store": shop}));
    let li = member(
        &boss,
        &json!({"name": "李娜", "home_store": shop, "referrer": referrer,
                "card": {"number": "C-2001", "kind": "barcode"}}),
    );

    // 充100送20, and 500 points: paid in at the till by card.
    let top_up = json!({"order": "T-1", "card": "C-2001", "amount": "100.00",
                        "tenders": [{"kind": "wechat", "amount": "100.00"}]})
    .to_string();
    let (status, receipt) = till.call("POST", "/api/v1/till/top-ups", Some(&top_up));
    assert_eq!(status, 201, "{receipt}");
    assert_eq!(amount(&receipt["moved"]["principal"]), "100.00");
    assert_eq!(amount(&receipt["moved"]["bonus"]), "20.00");
    assert_eq!(receipt["moved"]["points"], "500");
    assert_eq!(balances(&boss, &li), owned(["100.00", "20.00", "500", "0"]));
    // An order id the POS mangled is refused, naming the field; nothing is paid in.
    let (status, value) = till.call(
        "POST",
        "/api/v1/till/top-ups",
        Some(r#"{"order":"T 1!","card":"C-2001","amount":"100.00"}"#),
    );
    problem(status, &value, 422, "invalid_field");
    assert_eq!(value["field"], "order");
    // The same top-up again is the same top-up.
    let (status, again) = till.call("POST", "/api/v1/till/top-ups", Some(&top_up));
    assert_eq!((status, &again), (201, &receipt));
    assert_eq!(balances(&boss, &li), owned(["100.00", "20.00", "500", "0"]));
    // 充3000送900, 分3个月返还: that offer's own schedule, the box paying other bonuses at once.
    let big = json!({"order": "T-BIG", "member": referrer, "amount": "3000.00",
                     "tenders": [{"kind": "cash", "amount": "3000.00"}]})
    .to_string();
    let (status, receipt) = till.call("POST", "/api/v1/till/top-ups", Some(&big));
    assert_eq!(status, 201, "{receipt}");
    assert_eq!(amount(&receipt["moved"]["bonus"]), "300.00");
    assert_eq!(receipt["bonus_plan"]["months"], 3);
    assert_eq!(amount(&receipt["bonus_plan"]["total"]), "900.00");
    assert_eq!(receipt["bonus_plan"]["paid_parts"], 1);

    // Milk ×2 and bread: ¥40.00. Points may pay half, but she has 500: ¥5.00.
    let lines = json!([
        line(1, "MILK", "dairy", "2", "12.50"),
        line(2, "BREAD", "bakery", "1", "15.00")
    ]);
    let order = |id: &str| json!({"order": id, "member": li, "lines": lines});
    let (status, quote) = till.call(
        "POST",
        "/api/v1/till/quote",
        Some(&order("S-1").to_string()),
    );
    assert_eq!(status, 200, "{quote}");
    assert_eq!(amount(&quote["payable"]), "40.00");
    assert_eq!(quote["points_to_earn"], "40");
    assert_eq!(quote["points_offset"]["max_points"], "500");
    assert_eq!(amount(&quote["points_offset"]["max_value"]), "5.00");
    let token = quote["quote_token"].as_str().unwrap().to_owned();
    let commit = |id: &str, token: &str, stored: &str, points: &str| {
        let mut body = order(id);
        body["quote_token"] = json!(token);
        body["payment"] = json!({"stored_value": stored, "points": points});
        till.call("POST", "/api/v1/till/checkouts", Some(&body.to_string()))
    };

    // Payments that do not add up, points past the offer or off its steps: refused.
    let (status, value) = commit("S-1", &token, "30.00", "500");
    problem(status, &value, 422, "payment_mismatch");
    let (status, value) = commit("S-1", &token, "34.00", "600");
    problem(status, &value, 422, "points_offset_refused");
    let (status, value) = commit("S-1", &token, "35.50", "450");
    problem(status, &value, 422, "points_offset_refused");
    let (status, value) = commit("S-1", "0000", "35.00", "500");
    problem(status, &value, 409, "quote_stale");
    // The merchant changes the rules between the quote and the payment: the quote is stale
    // (the box keeps the routes in memory; a change must reach the next commit). Put back,
    // the same rules give the same token.
    let rules = json!({
        "offset": {"points_per_unit": 100, "unit_fen": 100, "cap_percent": 50},
        "top_up_offers": [{"min_fen": 10000, "bonus_fen": 2000, "bonus_points": 500},
                              {"min_fen": 300000, "bonus_fen": 90000, "bonus_months": 3}],
        "growth_per_yuan": 1,
        "referral": {"share_percent": 10, "join_points": 50},
        "welcome_points": 100
    });
    let mut richer = rules.clone();
    richer["growth_per_yuan"] = json!(2);
    configure(&boss, &richer);
    let (status, value) = commit("S-1", &token, "35.00", "500");
    problem(status, &value, 409, "quote_stale");
    configure(&boss, &rules);

    let (status, sale) = commit("S-1", &token, "35.00", "500");
    assert_eq!(status, 201, "{sale}");
    assert_eq!(amount(&sale["moved"]["principal"]), "35.00");
    assert_eq!(amount(&sale["moved"]["bonus"]), "0.00");
    assert_eq!(sale["moved"]["points_offset"], "500");
    assert_eq!(amount(&sale["moved"]["points_offset_value"]), "5.00");
    assert_eq!(sale["moved"]["points"], "40");
    assert_eq!(sale["moved"]["referrer_points"], "4");
    assert_eq!(balances(&boss, &li), owned(["65.00", "20.00", "40", "40"]));
    assert_eq!(balances(&boss, &referrer).2, "4");
    // Retried after a dropped answer: the same receipt, nothing twice. Another request under the
    // same order id is refused.
    let (status, again) = commit("S-1", &token, "35.00", "500");
    assert_eq!((status, &again), (201, &sale));
    assert_eq!(balances(&boss, &li), owned(["65.00", "20.00", "40", "40"]));
    let (status, value) = commit("S-1", &token, "40.00", "0");
    problem(status, &value, 409, "order_id_reused");
    assert_eq!(
        boss.ok("GET", "/api/v1/till/orders/S-1", None)["moved"],
        sale["moved"]
    );

    // A quote made before her balance changed is stale: the answer carries the new one.
    let (_, old) = till.call(
        "POST",
        "/api/v1/till/quote",
        Some(&order("S-2").to_string()),
    );
    let old_token = old["quote_token"].as_str().unwrap().to_owned();
    let top_up_2 = json!({"order": "T-2", "member": li, "amount": "10.00"}).to_string();
    assert_eq!(
        till.call("POST", "/api/v1/till/top-ups", Some(&top_up_2)).0,
        201
    );
    let (status, stale) = commit("S-2", &old_token, "40.00", "0");
    problem(status, &stale, 409, "quote_stale");
    let fresh = stale["quote"]["quote_token"].as_str().unwrap();
    assert_ne!(fresh, old_token);
    // She has 40 points now, less than one step of 100: no offset offered.
    assert_eq!(stale["quote"]["points_offset"], Value::Null);
    let (status, value) = commit("S-2", fresh, "30.00", "100");
    problem(status, &value, 422, "points_offset_refused");
    let (status, second) = commit("S-2", fresh, "40.00", "0");
    assert_eq!(status, 201, "{second}");
    assert_eq!(balances(&boss, &li), owned(["35.00", "20.00", "80", "80"]));

    // Refund one milk from the first sale: ¥12.50 back, in the shares it was paid.
    let refund = |id: &str, lines: Value| {
        let body = json!({"order": id, "original": "S-1", "lines": lines}).to_string();
        till.call("POST", "/api/v1/till/refunds", Some(&body))
    };
    let (status, value) = refund("R-0", json!([{"line": 1, "quantity": "3"}]));
    problem(status, &value, 422, "refund_over_line");
    let (status, value) = refund("R-0", json!([{"line": 9, "quantity": "1"}]));
    problem(status, &value, 422, "unknown_line");
    let (status, first) = refund("R-1", json!([{"line": 1, "quantity": "1"}]));
    assert_eq!(status, 201, "{first}");
    assert_eq!(amount(&first["moved"]["total"]), "12.50");
    // 35.00 × 12.50/40 = 10.9375 → 10.93, the points' value 1.56; the fen short goes to principal.
    assert_eq!(amount(&first["moved"]["principal"]), "10.94");
    assert_eq!(amount(&first["moved"]["points_offset_value"]), "1.56");
    assert_eq!(first["moved"]["points_offset"], "156");
    assert_eq!(first["moved"]["points"], "12");
    assert_eq!(first["moved"]["referrer_points"], "1");
    assert_eq!(first["original"], "S-1");
    assert_eq!(balances(&boss, &li), owned(["45.94", "20.00", "224", "68"]));
    // The rest: everything the first sale moved is back, to the fen and the point.
    let (status, rest) = refund("R-2", json!([]));
    assert_eq!(status, 201, "{rest}");
    assert_eq!(amount(&rest["moved"]["total"]), "27.50");
    assert_eq!(amount(&rest["moved"]["principal"]), "24.06");
    assert_eq!(rest["moved"]["points_offset"], "344");
    assert_eq!(rest["moved"]["points"], "28");
    assert_eq!(balances(&boss, &li), owned(["70.00", "20.00", "540", "40"]));
    assert_eq!(balances(&boss, &referrer).2, "4");
    let (status, value) = refund("R-3", json!([]));
    problem(status, &value, 409, "nothing_to_refund");
    let original = boss.ok("GET", "/api/v1/till/orders/S-1", None);
    assert_eq!(original["refunds"], json!(["R-1", "R-2"]));
    assert_eq!(amount(&original["refunded"]["total"]), "40.00");

    // 开卡 at the till with a referrer: 100 welcome points, and 50 to the one who brought her.
    let (status, zhang) = till.call(
        "POST",
        "/api/v1/till/members",
        Some(
            &json!({"name": "张", "phone": "13900139000", "referrer": referrer,
                    "card": {"number": "C-2002", "kind": "barcode"}})
            .to_string(),
        ),
    );
    assert_eq!(status, 201, "{zhang}");
    assert_eq!(zhang["balances"]["points"], "100", "{zhang}");
    assert_eq!(zhang["home_store"], shop.as_str());
    assert_eq!(balances(&boss, &referrer).2, "54");
    let zhang_id = zhang["id"].as_str().unwrap();
    let welcome = boss.ok(
        "GET",
        &format!("/api/v1/till/orders/joined-{zhang_id}"),
        None,
    );
    assert_eq!(welcome["kind"], "joined");
    assert_eq!(welcome["moved"]["referrer_points"], "50");

    a_card_opens_with_a_fee_and_a_first_top_up(&till, &boss);
    a_large_top_up_needs_a_manager(&till, &boss, &shop, &li);

    two_terminals_cannot_spend_one_balance_twice(&running, &boss, &shop);
    gifts_for_points(&running, &boss, &shop);
    a_failing_scheme_writes_nothing(&running, &boss, &shop, dir.path(), &li);

    let log = std::fs::read_to_string(dir.path().join("box.log")).unwrap();
    drop(running);
    let verified = tongka_verify(&data).unwrap();
    assert!(verified.status.success(), "{verified:?}\n{log}");
}

/// 开卡 with a ¥10 card fee and a first ¥100 top-up, paid ¥110 by WeChat: the welcome and the
/// top-up offer (充100送20, 500 points) in one batch, the fee on the receipt; a retry answers the
/// same member; money without an order id, or at the head office, is refused.
fn a_card_opens_with_a_fee_and_a_first_top_up(till: &Client, boss: &Client) {
    let opening = json!({"name": "王", "phone": "13700137000", "order": "OPEN-1",
                         "card": {"number": "C-2003", "kind": "barcode"},
                         "card_fee": "10.00", "top_up": "100.00",
                         "tenders": [{"kind": "wechat", "amount": "110.00"}]});
    let (status, wang) = till.call("POST", "/api/v1/till/members", Some(&opening.to_string()));
    assert_eq!(status, 201, "{wang}");
    let wang_id = wang["id"].as_str().unwrap().to_owned();
    // 100 welcome points and 500 for the top-up.
    assert_eq!(
        balances(boss, &wang_id),
        owned(["100.00", "20.00", "600", "0"])
    );
    let receipt = boss.ok("GET", "/api/v1/till/orders/OPEN-1", None);
    assert_eq!(receipt["kind"], "joined");
    assert_eq!(receipt["member"], wang_id.as_str());
    assert_eq!(amount(&receipt["moved"]["card_fee"]), "10.00");
    assert_eq!(amount(&receipt["moved"]["total"]), "110.00");
    assert_eq!(amount(&receipt["moved"]["principal"]), "100.00");
    assert_eq!(amount(&receipt["moved"]["bonus"]), "20.00");
    assert_eq!(receipt["moved"]["points"], "600");
    assert_eq!(receipt["moved"]["tenders"][0]["kind"], "wechat");

    // The POS lost the answer and sends it again: the same member, nothing paid in twice.
    let (status, again) = till.call("POST", "/api/v1/till/members", Some(&opening.to_string()));
    assert_eq!(status, 201, "{again}");
    assert_eq!(again["id"], wang_id.as_str());
    assert_eq!(
        balances(boss, &wang_id),
        owned(["100.00", "20.00", "600", "0"])
    );
    // The same id for another opening is refused.
    let mut other = opening.clone();
    other["top_up"] = json!("200.00");
    other["tenders"] = json!([]);
    let (status, value) = till.call("POST", "/api/v1/till/members", Some(&other.to_string()));
    problem(status, &value, 409, "order_id_reused");

    // Money without an order id, payments that do not add up, and the head office's sign-up
    // are refused, naming the field; no member is made.
    let refused = [
        (
            till,
            "/api/v1/till/members",
            json!({"name": "赵", "phone": "13600136000", "top_up": "50.00"}),
            "invalid_field",
            Some("order"),
        ),
        (
            till,
            "/api/v1/till/members",
            json!({"name": "赵", "phone": "13600136000", "order": "OPEN-2", "card_fee": "10.00",
                   "tenders": [{"kind": "cash", "amount": "5.00"}]}),
            "payment_mismatch",
            None,
        ),
        (
            boss,
            "/api/v1/members",
            json!({"name": "赵", "phone": "13600136000", "top_up": "50.00"}),
            "invalid_field",
            Some("top_up"),
        ),
    ];
    for (client, path, body, code, field) in refused {
        let (status, value) = client.call("POST", path, Some(&body.to_string()));
        problem(status, &value, 422, code);
        if let Some(field) = field {
            assert_eq!(value["field"], field, "{value}");
        }
    }
    let (status, value) = till.call("GET", "/api/v1/till/members?phone=13600136000", None);
    problem(status, &value, 404, "unknown_member");

    // 充5000升金卡: a top-up large enough moves her up, and her tier history says why.
    let gold = boss.ok(
        "POST",
        "/api/v1/tiers",
        Some(r#"{"name":"金卡","rank":2,"discount_rate":"0.95","points_rate":"1","thresholds":{"single_top_up":"5000.00"}}"#),
    );
    let big = json!({"order": "T-GOLD", "member": wang_id, "amount": "5000.00"}).to_string();
    let (status, receipt) = till.call("POST", "/api/v1/till/top-ups", Some(&big));
    assert_eq!(status, 201, "{receipt}");
    assert_eq!(receipt["tier"], gold["id"]);
    let history = boss.ok(
        "GET",
        &format!("/api/v1/members/{wang_id}/tier-history"),
        None,
    );
    let history = history.as_array().unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[0]["reason"], "joined");
    assert_eq!(history[0]["from"], Value::Null);
    assert_eq!(history[1]["reason"], "single-top-up");
    assert_eq!(history[1]["from"], history[0]["to"]);
    assert_eq!(history[1]["to"], gold["id"]);
    assert_eq!(history[1]["order"], "T-GOLD");
    // Head office puts her back by hand: the third entry names who.
    let regular = history[0]["to"].as_str().unwrap();
    boss.ok(
        "PUT",
        &format!("/api/v1/members/{wang_id}/tier"),
        Some(&json!({"tier": regular}).to_string()),
    );
    let history = boss.ok(
        "GET",
        &format!("/api/v1/members/{wang_id}/tier-history"),
        None,
    );
    assert_eq!(history[2]["reason"], "manual", "{history}");
    assert_eq!(history[2]["to"], regular);
    assert!(history[2]["staff"].is_string(), "{history}");

    // 积分兑换储值: 450 points become ¥4.50 of bonus; again is the same receipt.
    let (_, bonus_before, points_before, _) = balances(boss, &wang_id);
    let convert = json!({"order": "C-1", "member": wang_id, "points": "450"}).to_string();
    let (status, receipt) = till.call("POST", "/api/v1/till/points-conversions", Some(&convert));
    assert_eq!(status, 201, "{receipt}");
    assert_eq!(receipt["kind"], "points-conversion");
    assert_eq!(amount(&receipt["moved"]["bonus"]), "4.50");
    assert_eq!(receipt["moved"]["points_offset"], "450");
    let (status, again) = till.call("POST", "/api/v1/till/points-conversions", Some(&convert));
    assert_eq!((status, &again), (201, &receipt));
    let (_, bonus_after, points_after, _) = balances(boss, &wang_id);
    // Amounts come with two decimals: "24.50" is 2450 fen.
    let fen = |yuan: &str| yuan.replace('.', "").parse::<i64>().unwrap();
    assert_eq!(fen(&bonus_after) - fen(&bonus_before), 450);
    let points = |p: &str| p.parse::<i64>().unwrap();
    assert_eq!(points(&points_before) - points(&points_after), 450);
    // More points than she has, none at all, or a part of a point: refused, nothing moves.
    let refused = [
        (
            json!({"order": "C-2", "member": wang_id, "points": "100000000"}),
            409,
            "insufficient_points",
        ),
        (
            json!({"order": "C-3", "member": wang_id, "points": "0"}),
            422,
            "invalid_field",
        ),
        (
            json!({"order": "C-4", "member": wang_id, "points": "1.5"}),
            422,
            "invalid_field",
        ),
    ];
    for (body, status_wanted, code) in refused {
        let (status, value) = till.call(
            "POST",
            "/api/v1/till/points-conversions",
            Some(&body.to_string()),
        );
        problem(status, &value, status_wanted, code);
    }
    assert_eq!(balances(boss, &wang_id).2, points_after);
}

/// 大额充值授权: above ¥1,000 at this store a manager authorises a top-up with their own
/// password at the till; without it, or with a wrong one, nothing is paid in.
fn a_large_top_up_needs_a_manager(till: &Client, boss: &Client, shop: &str, member: &str) {
    let store = boss.ok(
        "PUT",
        &format!("/api/v1/stores/{shop}/top-up-approval"),
        Some(r#"{"above":"1000.00"}"#),
    );
    assert_eq!(amount(&store["top_up_approval_above"]), "1000.00");
    let before = balances(boss, member);
    let top_up = |order: &str, approval: Value| {
        let mut body = json!({"order": order, "member": member, "amount": "2000.00"});
        if !approval.is_null() {
            body["approval"] = approval;
        }
        till.call("POST", "/api/v1/till/top-ups", Some(&body.to_string()))
    };
    let (status, value) = top_up("BIG-1", Value::Null);
    problem(status, &value, 403, "approval_needed");
    let (status, value) = top_up("BIG-1", json!({"username": "boss", "password": "guess"}));
    problem(status, &value, 403, "approval_refused");
    assert_eq!(balances(boss, member), before, "nothing paid in");
    let (status, receipt) = top_up(
        "BIG-1",
        json!({"username": "boss", "password": BOSS_PASSWORD}),
    );
    assert_eq!(status, 201, "{receipt}");
    let boss_id = boss.ok("GET", "/api/v1/session", None)["id"].clone();
    assert_eq!(receipt["approved_by"], boss_id, "{receipt}");
    // At or under the amount, no one is asked.
    let body = json!({"order": "SMALL-1", "member": member, "amount": "1000.00"}).to_string();
    let (status, receipt) = till.call("POST", "/api/v1/till/top-ups", Some(&body));
    assert_eq!(
        (status, &receipt["approved_by"]),
        (201, &Value::Null),
        "{receipt}"
    );
    // A card opened with a first top-up above the amount needs the same authorisation.
    let mut opening = json!({"name": "钱", "phone": "13500135000", "order": "OPEN-BIG",
                             "top_up": "2000.00"});
    let (status, value) = till.call("POST", "/api/v1/till/members", Some(&opening.to_string()));
    problem(status, &value, 403, "approval_needed");
    let (status, value) = till.call("GET", "/api/v1/till/members?phone=13500135000", None);
    problem(status, &value, 404, "unknown_member");
    opening["approval"] = json!({"username": "boss", "password": BOSS_PASSWORD});
    let (status, qian) = till.call("POST", "/api/v1/till/members", Some(&opening.to_string()));
    assert_eq!(status, 201, "{qian}");
    let receipt = boss.ok("GET", "/api/v1/till/orders/OPEN-BIG", None);
    assert_eq!(receipt["approved_by"], boss_id);
    boss.ok(
        "PUT",
        &format!("/api/v1/stores/{shop}/top-up-approval"),
        Some(r#"{"above":null}"#),
    );
}

/// 礼品兑换: a gift for points, out of stock once taken; two tills reaching for the last one at
/// once get it once; a member short of points leaves the stock as it was.
fn gifts_for_points(running: &RunningBox, boss: &Client, shop: &str) {
    let a = terminal(running, boss, shop, "收银台 G1");
    let b = terminal(running, boss, shop, "收银台 G2");
    let zhou = member(boss, &json!({"name": "周", "home_store": shop}));
    // 1,000 points for her: a ¥1,000 top-up earns the offer's 500, twice.
    for order in ["G-T1", "G-T2"] {
        let body = json!({"order": order, "member": zhou, "amount": "1000.00"}).to_string();
        a.ok("POST", "/api/v1/till/top-ups", Some(&body));
    }
    assert_eq!(balances(boss, &zhou).2, "1000");
    let umbrella = boss.ok(
        "POST",
        "/api/v1/gifts",
        Some(r#"{"name":"雨伞","points":"300","stock":2}"#),
    );
    let id = umbrella["id"].as_str().unwrap();
    let redeem = |till: &Client, order: &str| {
        let body = json!({"order": order, "member": zhou, "gift": id}).to_string();
        till.call("POST", "/api/v1/till/gift-redemptions", Some(&body))
    };
    let (status, receipt) = redeem(&a, "G-1");
    assert_eq!(status, 201, "{receipt}");
    assert_eq!(receipt["kind"], "gift-redemption");
    assert_eq!(receipt["gift"]["name"], "雨伞");
    assert_eq!(receipt["gift"]["points"], "300");
    assert_eq!(
        redeem(&a, "G-1"),
        (201, receipt),
        "a retry is the same redemption"
    );
    assert_eq!(balances(boss, &zhou).2, "700");

    // The last umbrella, from two tills at once: one gets it.
    let (first, second) = std::thread::scope(|scope| {
        let one = scope.spawn(|| redeem(&a, "G-2"));
        let two = scope.spawn(|| redeem(&b, "G-3"));
        (one.join().unwrap(), two.join().unwrap())
    });
    let mut statuses = [first.0, second.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "{first:?} {second:?}");
    let refused = if first.0 == 409 { &first.1 } else { &second.1 };
    assert_eq!(refused["code"], "gift_out_of_stock", "{refused}");
    assert_eq!(balances(boss, &zhou).2, "400");
    let gifts = boss.ok("GET", "/api/v1/gifts", None);
    assert_eq!(gifts[0]["stock"], 0);

    // A gift she cannot afford: refused, and its stock stays.
    let bike = boss.ok(
        "POST",
        "/api/v1/gifts",
        Some(r#"{"name":"自行车","points":"50000","stock":3}"#),
    );
    let body = json!({"order": "G-4", "member": zhou, "gift": bike["id"]}).to_string();
    let (status, value) = a.call("POST", "/api/v1/till/gift-redemptions", Some(&body));
    problem(status, &value, 409, "insufficient_points");
    let gifts = boss.ok("GET", "/api/v1/gifts", None);
    assert_eq!(gifts[1]["stock"], 3);
    assert_eq!(balances(boss, &zhou).2, "400");
    // Head office withdraws it: the till no longer offers it. A gift without points is refused.
    boss.ok(
        "PATCH",
        &format!("/api/v1/gifts/{}", bike["id"].as_str().unwrap()),
        Some(r#"{"active":false}"#),
    );
    let (status, value) = a.call("POST", "/api/v1/till/gift-redemptions", Some(&body));
    problem(status, &value, 404, "unknown_gift");
    let (status, value) = boss.call("POST", "/api/v1/gifts", Some(r#"{"name":"无积分"}"#));
    problem(status, &value, 422, "invalid_field");
    assert_eq!(value["field"], "points");

    // 积分升级: 300 of her 400 points buy the 钻石 tier; the history says she bought it.
    let diamond = boss.ok(
        "POST",
        "/api/v1/tiers",
        Some(r#"{"name":"钻石","rank":3,"discount_rate":"0.9","points_rate":"2","upgrade_points":"300"}"#),
    );
    assert_eq!(diamond["upgrade_points"], "300");
    let buy = |order: &str, tier: &Value| {
        let body = json!({"order": order, "member": zhou, "tier": tier}).to_string();
        a.call("POST", "/api/v1/till/tier-upgrades", Some(&body))
    };
    let (status, receipt) = buy("U-1", &diamond["id"]);
    assert_eq!(status, 201, "{receipt}");
    assert_eq!(receipt["tier"], diamond["id"]);
    assert_eq!(receipt["moved"]["points_offset"], "300");
    assert_eq!(
        buy("U-1", &diamond["id"]),
        (201, receipt),
        "a retry is the same purchase"
    );
    assert_eq!(balances(boss, &zhou).2, "100");
    let history = boss.ok("GET", &format!("/api/v1/members/{zhou}/tier-history"), None);
    let last = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["reason"], "bought");
    assert_eq!(last["to"], diamond["id"]);
    assert_eq!(last["order"], "U-1");
    // Not again, and not a tier that is not for sale.
    let (status, value) = buy("U-2", &diamond["id"]);
    problem(status, &value, 409, "tier_not_higher");
    let tiers = boss.ok("GET", "/api/v1/tiers", None);
    let gold = tiers
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "金卡")
        .unwrap()["id"]
        .clone();
    let (status, value) = buy("U-3", &gold);
    problem(status, &value, 409, "tier_not_for_sale");
    assert_eq!(balances(boss, &zhou).2, "100");
}

/// Two tills charge one member's whole balance at the same moment: one is paid, the other is
/// told the balance is short. Over several rounds.
fn two_terminals_cannot_spend_one_balance_twice(running: &RunningBox, boss: &Client, shop: &str) {
    let a = terminal(running, boss, shop, "收银台 A");
    let b = terminal(running, boss, shop, "收银台 B");
    let wang = member(boss, &json!({"name": "王", "home_store": shop}));
    for round in 0..6 {
        let top_up = json!({"order": format!("W-{round}"), "member": wang, "amount": "80.00"});
        a.ok("POST", "/api/v1/till/top-ups", Some(&top_up.to_string()));
        let sale = |till: &Client, id: String| {
            let body = json!({"order": id, "member": wang,
                              "lines": [line(1, "WINE", "drinks", "1", "80.00")]});
            let quote = till.ok("POST", "/api/v1/till/quote", Some(&body.to_string()));
            let mut commit = body;
            commit["quote_token"] = quote["quote_token"].clone();
            commit["payment"] = json!({"stored_value": "80.00"});
            commit.to_string()
        };
        let (body_a, body_b) = (
            sale(&a, format!("A-{round}")),
            sale(&b, format!("B-{round}")),
        );
        let (first, second) = std::thread::scope(|scope| {
            let one = scope.spawn(|| a.call("POST", "/api/v1/till/checkouts", Some(&body_a)));
            let two = scope.spawn(|| b.call("POST", "/api/v1/till/checkouts", Some(&body_b)));
            (one.join().unwrap(), two.join().unwrap())
        });
        let mut statuses = [first.0, second.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "{first:?} {second:?}");
        let refused = if first.0 == 409 { &first.1 } else { &second.1 };
        // Either the ledger refused the second debit, or its quote went stale first.
        let code = refused["code"].as_str().unwrap();
        assert!(
            ["insufficient_stored_value", "quote_stale"].contains(&code),
            "{refused}"
        );
        assert_eq!(balances(boss, &wang).0, "0.00");
    }
}

/// The scheme traps, then hangs, while a checkout commits: 503 naming the plugin, and nothing
/// written — the same order then commits once the scheme is healthy.
fn a_failing_scheme_writes_nothing(
    running: &RunningBox,
    boss: &Client,
    shop: &str,
    dir: &std::path::Path,
    li: &str,
) {
    let till = terminal(running, boss, shop, "收银台 F");
    let built = components();
    let manifest = json!({
        "id": "misbehave", "version": "1.0.0", "api": "0.1.0", "world": "loyalty-scheme",
        "name": {"zh": "捣乱", "en": "Misbehave"},
        "config_schema": {"type": "object", "properties": {
            "mode": {"type": "string"}, "commit_mode": {"type": "string"}}},
        "limits": {"deadline_ms": 50}
    });
    let component = packed(dir, &built.join("misbehave.wasm"), &manifest);
    let body = json!({"component": component, "config": {"commit_mode": "trap"}, "grant": []});
    boss.ok("POST", "/api/v1/plugins", Some(&body.to_string()));
    boss.ok(
        "PUT",
        "/api/v1/plugin-routes/commit-checkout",
        Some(r#"{"plugins":["standard-points","misbehave"]}"#),
    );
    let before = balances(boss, li);
    let order = json!({"order": "F-1", "member": li,
                       "lines": [line(1, "TEA", "drinks", "1", "10.00")]});
    // Quoted afresh each time: a change of settings makes an older quote stale.
    let attempt = || {
        let quote = till.ok("POST", "/api/v1/till/quote", Some(&order.to_string()));
        let mut commit = order.clone();
        commit["quote_token"] = quote["quote_token"].clone();
        commit["payment"] = json!({"stored_value": "10.00"});
        till.call("POST", "/api/v1/till/checkouts", Some(&commit.to_string()))
    };
    // A loop is cut by its fuel or its deadline, whichever comes first.
    for (mode, kinds) in [
        ("trap", ["（trap）", "（trap）"]),
        ("loop", ["（out-of-fuel）", "（deadline）"]),
    ] {
        boss.ok(
            "PATCH",
            "/api/v1/plugins/misbehave",
            Some(&json!({"config": {"commit_mode": mode}}).to_string()),
        );
        let (status, value) = attempt();
        problem(status, &value, 503, "scheme_failed");
        let detail = value["detail"].as_str().unwrap();
        assert!(
            detail.contains("misbehave") && kinds.iter().any(|kind| detail.contains(kind)),
            "{value}"
        );
        assert_eq!(balances(boss, li), before);
        let (status, value) = boss.call("GET", "/api/v1/till/orders/F-1", None);
        problem(status, &value, 404, "unknown_order");
    }
    boss.ok(
        "PUT",
        "/api/v1/plugin-routes/commit-checkout",
        Some(r#"{"plugins":["standard-points"]}"#),
    );
    let (status, value) = attempt();
    assert_eq!(status, 201, "{value}");
    assert_eq!(amount(&value["moved"]["principal"]), "10.00");
}
