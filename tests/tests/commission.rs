//! 提成 through the real box: head office sets the rules (a fixed amount per card opened, a
//! rate on top-ups and sales, a higher rate for cashiers serving gold members, a lower one for
//! store managers); a cashier opens a card with a fee and a first top-up, terminals credit her
//! with sales by naming her as the seller, a refund takes back its share; the report says what
//! each staff member earned at each store, and each reader sees only what is theirs to see.
//! Bad rules and a seller who does not work at the store are refused and change nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tongka_client::types::{
    CardRequest, CheckoutRequest, CommissionReportQuery, CommissionRuleBody, CommissionRulesBody,
    CreateMember, CreateStaff, LineRequest, LoginRequest, PaymentRequest, RefundLineRequest,
    RefundRequest, StoresRequest, TenderRequest, TierRequestBody, TopUpRequest,
};
use tongka_client::{Client, ClientError};
use tongka_e2e::api::{boss_client, first_admin, open_store, pair_terminal, start};

/// A staff member of `role` at `store`, signed in: their id and their client.
async fn staff(
    client: &Client,
    boss: &Client,
    username: &str,
    role: &str,
    store: &str,
) -> (String, Client) {
    let password = "a long enough password";
    let created = boss
        .create_staff(&CreateStaff {
            department: None,
            display_name: username.into(),
            password: password.into(),
            role: role.into(),
            stores: StoresRequest::Array(vec![store.into()]),
            username: username.into(),
        })
        .await
        .unwrap();
    let session = client
        .sign_in(&LoginRequest {
            username: username.into(),
            password: password.into(),
        })
        .await
        .unwrap();
    (created.id, client.with_token(&session.token))
}

fn rule(
    on: &str,
    tier: Option<&str>,
    role: Option<&str>,
    fixed: Option<&str>,
    rate: Option<&str>,
) -> CommissionRuleBody {
    CommissionRuleBody {
        on: on.into(),
        tier: tier.map(Into::into),
        role: role.map(Into::into),
        fixed: fixed.map(Into::into),
        rate: rate.map(Into::into),
    }
}

fn problem(error: &ClientError) -> (u16, &str, Option<&str>) {
    let ClientError::Problem(problem) = error else {
        panic!("{error}");
    };
    (
        problem.status,
        problem.code.as_str(),
        problem.field.as_deref(),
    )
}

/// Sells `lines` to the card's member, paid as `payment`, crediting `seller`.
async fn sell(
    till: &Client,
    order: &str,
    card: &str,
    lines: Vec<LineRequest>,
    payment: PaymentRequest,
    store: Option<&str>,
) -> Result<tongka_client::types::OrderBody, ClientError> {
    let mut sale = CheckoutRequest::by_card(order, card, lines);
    sale.store = store.map(Into::into);
    let quote = till.quote(&sale).await?;
    sale.quote_token = Some(quote.quote_token);
    sale.payment = Some(payment);
    till.checkout(&sale).await
}

fn cash(amount: &str, seller: Option<&str>) -> PaymentRequest {
    PaymentRequest {
        tenders: vec![TenderRequest {
            kind: "cash".into(),
            amount: amount.into(),
        }],
        seller: seller.map(Into::into),
        ..PaymentRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_earn_commission_by_the_merchants_rules() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    first_admin(&data);
    let running = start(&data, &dir.path().join("box.log"));
    let (client, boss) = boss_client(&running).await;
    let (east, west) = (
        open_store(&boss, "SH-1").await,
        open_store(&boss, "SH-2").await,
    );
    let tier = |name: &str, rank| TierRequestBody {
        discount_rate: "1".into(),
        name: name.into(),
        points_rate: "1".into(),
        rank,
        thresholds: None,
        upgrade_points: None,
    };
    boss.create_tier(&tier("银卡", 1)).await.unwrap();
    let gold = boss.create_tier(&tier("金卡", 2)).await.unwrap().id;
    let (xiaoli, as_xiaoli) = staff(&client, &boss, "xiaoli", "cashier", &east).await;
    let (laowang, as_laowang) = staff(&client, &boss, "laowang", "store_manager", &west).await;

    // Before any rules, nothing is earned and the rules read empty.
    assert!(boss.commission_rules().await.unwrap().rules.is_empty());
    let rules = vec![
        rule("card-opening", None, None, Some("5.00"), None),
        rule("top-up", None, None, None, Some("1")),
        rule("sale", None, None, None, Some("2")),
        rule("sale", Some(&gold), Some("cashier"), None, Some("3")),
        rule("sale", None, Some("store_manager"), None, Some("0.5")),
    ];
    let set = boss
        .set_commission_rules(&CommissionRulesBody {
            rules: rules.clone(),
        })
        .await
        .unwrap();
    let shown = |body: &CommissionRulesBody| serde_json::to_value(&body.rules).unwrap();
    assert_eq!(shown(&set), serde_json::to_value(&rules).unwrap());

    // Refused, each changing nothing: not head office; the same event, tier and role twice; a
    // rate over 100%; both an amount and a rate; an unknown tier; an unknown event.
    let refused = as_xiaoli
        .set_commission_rules(&CommissionRulesBody { rules: Vec::new() })
        .await
        .unwrap_err();
    assert_eq!(problem(&refused).0, 403);
    let bad = [
        (
            vec![
                rule("sale", None, None, None, Some("2")),
                rule("sale", None, None, Some("1.00"), None),
            ],
            "rules[1]",
        ),
        (
            vec![rule("sale", None, None, None, Some("100.01"))],
            "rules[0].rate",
        ),
        (
            vec![rule("sale", None, None, Some("1.00"), Some("1"))],
            "rules[0].fixed",
        ),
        (
            vec![rule(
                "sale",
                Some("0000000000000000000000000000abcd"),
                None,
                None,
                Some("1"),
            )],
            "rules[0].tier",
        ),
        (
            vec![rule("refund", None, None, None, Some("1"))],
            "rules[0].on",
        ),
    ];
    for (rules, field) in bad {
        let refused = boss
            .set_commission_rules(&CommissionRulesBody { rules })
            .await
            .unwrap_err();
        assert_eq!(problem(&refused), (422, "invalid_field", Some(field)));
    }
    assert_eq!(shown(&boss.commission_rules().await.unwrap()), shown(&set));

    // The cashier opens a card with a ¥10 fee and a ¥100 first top-up: ¥5 for the opening,
    // 1% of the top-up.
    let opened = as_xiaoli
        .open_card(&CreateMember {
            name: Some("李明".into()),
            home_store: Some(east.clone()),
            card: Some(CardRequest {
                kind: "barcode".into(),
                number: "8800-0001".into(),
            }),
            order: Some("K-1".into()),
            card_fee: Some("10.00".into()),
            top_up: Some("100.00".into()),
            ..CreateMember::default()
        })
        .await
        .unwrap();
    let opening = boss.order("K-1").await.unwrap();
    assert_eq!(opening.moved.commission.amount, "6.00");
    assert_eq!(opening.seller.as_deref(), Some(xiaoli.as_str()));
    assert_eq!(opened.balances.stored_value.principal.amount, "100.00");

    boss.create_member(&CreateMember {
        name: Some("王金".into()),
        home_store: Some(east.clone()),
        tier: Some(gold.clone()),
        card: Some(CardRequest {
            kind: "barcode".into(),
            number: "8800-0002".into(),
        }),
        ..CreateMember::default()
    })
    .await
    .unwrap();

    let at_east = pair_terminal(&client, &boss, &east).await;
    let at_west = pair_terminal(&client, &boss, &west).await;
    // A gold member served by the cashier: 3% of ¥50.
    let gold_sale = sell(
        &at_east,
        "S-1",
        "8800-0002",
        vec![LineRequest::new(1, "TEA", "drinks", "2", "25.00")],
        cash("50.00", Some(&xiaoli)),
        None,
    )
    .await
    .unwrap();
    assert_eq!(gold_sale.moved.commission.amount, "1.50");
    assert_eq!(gold_sale.seller.as_deref(), Some(xiaoli.as_str()));
    // A silver member paying from stored value: 2% of ¥33.33 is 66.66 fen, ¥0.67.
    let silver_sale = sell(
        &at_east,
        "S-2",
        "8800-0001",
        vec![LineRequest::new(1, "CAKE", "bakery", "1", "33.33")],
        PaymentRequest {
            stored_value: Some("33.33".into()),
            seller: Some(xiaoli.clone()),
            ..PaymentRequest::default()
        },
        None,
    )
    .await
    .unwrap();
    assert_eq!(silver_sale.moved.commission.amount, "0.67");
    // A terminal naming nobody credits nobody.
    let top_up = at_east
        .top_up(&TopUpRequest::by_card("T-1", "8800-0001", "200.00"))
        .await
        .unwrap();
    assert_eq!(
        (top_up.moved.commission.amount.as_str(), top_up.seller),
        ("0.00", None)
    );
    // The cashier does not work at the west store: refused, nothing written.
    let refused = sell(
        &at_west,
        "W-1",
        "8800-0001",
        vec![LineRequest::new(1, "TEA", "drinks", "1", "10.00")],
        cash("10.00", Some(&xiaoli)),
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(
        problem(&refused),
        (422, "unknown_seller", Some("payment.seller"))
    );
    assert_eq!(problem(&boss.order("W-1").await.unwrap_err()).0, 404);
    // Half the gold sale comes back: so does half its commission, from the cashier.
    let refund = at_east
        .refund(&RefundRequest::of(
            "R-1",
            "S-1",
            vec![RefundLineRequest {
                line: 1,
                quantity: "1".into(),
            }],
        ))
        .await
        .unwrap();
    assert_eq!(refund.moved.commission.amount, "0.75");
    assert_eq!(refund.seller.as_deref(), Some(xiaoli.as_str()));
    // The west manager sells at their own till: credited by default, at the managers' 0.5%.
    let own = sell(
        &as_laowang,
        "W-2",
        "8800-0001",
        vec![LineRequest::new(1, "TEA", "drinks", "1", "10.00")],
        cash("10.00", None),
        Some(&west),
    )
    .await
    .unwrap();
    assert_eq!(
        (own.moved.commission.amount.as_str(), own.seller.as_deref()),
        ("0.05", Some(laowang.as_str()))
    );

    let (yesterday, tomorrow) = (
        tongka_e2e::china_clock(-1).0.to_string(),
        tongka_e2e::china_clock(1).0.to_string(),
    );
    let period = CommissionReportQuery {
        from: yesterday,
        to: tomorrow,
    };
    let report = boss.commission_report(&period).await.unwrap();
    let codes: Vec<&str> = report.stores.iter().map(|s| s.code.as_str()).collect();
    assert_eq!(codes, ["SH-1", "SH-2"]);
    let (e, w) = (&report.stores[0], &report.stores[1]);
    assert_eq!(e.staff.len(), 1, "{e:?}");
    let line = &e.staff[0];
    assert_eq!(line.username, "xiaoli");
    assert_eq!(
        (
            line.card_openings.amount.as_str(),
            line.top_ups.amount.as_str(),
            line.sales.amount.as_str(),
            line.reversed.amount.as_str(),
            line.net.amount.as_str(),
            line.count,
        ),
        ("5.00", "1.00", "2.17", "0.75", "7.42", 4)
    );
    assert_eq!(e.total.net.amount, "7.42");
    assert_eq!(w.staff.len(), 1);
    assert_eq!(
        (
            w.staff[0].username.as_str(),
            w.staff[0].sales.amount.as_str()
        ),
        ("laowang", "0.05")
    );
    assert_eq!(report.total.net.amount, "7.47");

    // The cashier sees her own store and line; the west manager only the west store.
    let hers = as_xiaoli.commission_report(&period).await.unwrap();
    assert_eq!(hers.stores.len(), 1);
    assert_eq!(hers.stores[0].staff.len(), 1);
    assert_eq!(hers.total.net.amount, "7.42");
    let his = as_laowang.commission_report(&period).await.unwrap();
    let codes: Vec<&str> = his.stores.iter().map(|s| s.code.as_str()).collect();
    assert_eq!(codes, ["SH-2"]);
    assert_eq!(his.total.net.amount, "0.05");

    // A period before any of it shows nothing; a backwards one is refused.
    let before = boss
        .commission_report(&CommissionReportQuery {
            from: "2020-01-01".into(),
            to: "2020-01-31".into(),
        })
        .await
        .unwrap();
    assert_eq!(before.total.net.amount, "0.00");
    assert!(before.stores.iter().all(|s| s.staff.is_empty()));
    let refused = boss
        .commission_report(&CommissionReportQuery {
            from: "2026-11-30".into(),
            to: "2026-11-01".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(problem(&refused), (422, "invalid_period", Some("to")));

    // Rules emptied: sales earn nothing from then on.
    boss.set_commission_rules(&CommissionRulesBody { rules: Vec::new() })
        .await
        .unwrap();
    let after = sell(
        &at_east,
        "S-3",
        "8800-0001",
        vec![LineRequest::new(1, "TEA", "drinks", "1", "10.00")],
        cash("10.00", Some(&xiaoli)),
        None,
    )
    .await
    .unwrap();
    assert_eq!(after.moved.commission.amount, "0.00");
}
