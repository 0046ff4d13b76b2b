//! 月结算 through the real box: a member tops up ¥100 at one store and spends ¥30 of it at
//! another, which then refunds ¥10. The report says the first store sold ¥100 and owes head
//! office ¥100, the second redeemed ¥20 and is owed ¥20; a period before any of it shows nothing;
//! bad days, a backwards period and a cashier are refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use tongka_client::types::{
    CardRequest, CheckoutRequest, CreateMember, LineRequest, PaymentRequest, ReadAuditQuery,
    RefundLineRequest, RefundRequest, SettlementReportQuery, TenderRequest, TopUpRequest,
};
use tongka_e2e::api::{boss_client, first_admin, open_store, pair_terminal, start};

/// `YYYY-MM-DD` of the day `offset` days from today, China time.
fn china_day(offset: i64) -> String {
    tongka_e2e::china_clock(offset).0.to_string()
}

fn period(from: &str, to: &str) -> SettlementReportQuery {
    SettlementReportQuery {
        from: from.into(),
        to: to.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_store_sold_and_redeemed_and_what_it_is_owed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    first_admin(&data);
    let running = start(&data, &dir.path().join("box.log"));
    let (client, boss) = boss_client(&running).await;
    let (east, west) = (
        open_store(&boss, "SH-1").await,
        open_store(&boss, "SH-2").await,
    );
    boss.create_member(&CreateMember {
        name: Some("王芳".into()),
        home_store: Some(east.clone()),
        card: Some(CardRequest {
            kind: "barcode".into(),
            number: "8800-0001".into(),
        }),
        ..CreateMember::default()
    })
    .await
    .unwrap();
    let at_east = pair_terminal(&client, &boss, &east).await;
    let at_west = pair_terminal(&client, &boss, &west).await;

    let mut top_up = TopUpRequest::by_card("T-1", "8800-0001", "100.00");
    top_up.tenders = vec![TenderRequest {
        kind: "cash".into(),
        amount: "100.00".into(),
    }];
    at_east.top_up(&top_up).await.unwrap();
    let mut sale = CheckoutRequest::by_card(
        "S-1",
        "8800-0001",
        vec![LineRequest::new(1, "TEA", "drinks", "3", "10.00")],
    );
    let quote = at_west.quote(&sale).await.unwrap();
    sale.quote_token = Some(quote.quote_token);
    sale.payment = Some(PaymentRequest {
        stored_value: Some("30.00".into()),
        ..PaymentRequest::default()
    });
    at_west.checkout(&sale).await.unwrap();
    at_west
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

    // A quote writes nothing and leaves no audit entry; the sale and the refund do. A till
    // write's entry is queued as it is answered and lands with the next group commit: any
    // later write that waits for its own entry (a second sign-in here) waits for those before it.
    boss_client(&running).await;
    let audit = boss
        .read_audit(&ReadAuditQuery {
            limit: Some(50),
            before: None,
        })
        .await
        .unwrap();
    let actions: Vec<&str> = audit.entries.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"POST /api/v1/till/checkouts"),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"POST /api/v1/till/refunds"),
        "{actions:?}"
    );
    assert!(!actions.contains(&"POST /api/v1/till/quote"), "{actions:?}");

    // Yesterday to tomorrow: today is in it whatever the hour.
    let report = boss
        .settlement_report(&period(&china_day(-1), &china_day(1)))
        .await
        .unwrap();
    assert_eq!(report.zone, "UTC+8");
    let codes: Vec<&str> = report.stores.iter().map(|s| s.code.as_str()).collect();
    assert_eq!(codes, ["SH-1", "SH-2"]);
    let (e, w) = (&report.stores[0], &report.stores[1]);
    assert_eq!(e.store, east);
    assert_eq!(
        (
            e.stored_value_sold.amount.as_str(),
            e.stored_value_redeemed.amount.as_str(),
            e.net.amount.as_str()
        ),
        ("100.00", "0.00", "-100.00")
    );
    assert_eq!(
        (
            w.stored_value_sold.amount.as_str(),
            w.stored_value_redeemed.amount.as_str(),
            w.net.amount.as_str()
        ),
        ("0.00", "20.00", "20.00")
    );
    assert_eq!(report.total.stored_value_sold.amount, "100.00");
    assert_eq!(report.total.stored_value_redeemed.amount, "20.00");
    // What members still hold grew by ¥80.
    assert_eq!(report.total.net.amount, "-80.00");

    let before = boss
        .settlement_report(&period("2020-01-01", "2020-01-31"))
        .await
        .unwrap();
    assert_eq!(before.stores.len(), 2);
    assert!(
        before
            .stores
            .iter()
            .all(|s| s.net.amount == "0.00" && s.stored_value_sold.amount == "0.00"),
        "{before:?}"
    );

    for (query, code, field) in [
        (period("2026-13-01", "2026-12-31"), "invalid_field", "from"),
        (period("2026-11-30", "2026-11-01"), "invalid_period", "to"),
        (period("2025-01-01", "2026-01-02"), "invalid_period", "to"),
    ] {
        let refused = boss.settlement_report(&query).await.unwrap_err();
        let tongka_client::ClientError::Problem(problem) = &refused else {
            panic!("{refused}");
        };
        assert_eq!(
            (
                problem.status,
                problem.code.as_str(),
                problem.field.as_deref()
            ),
            (422, code, Some(field)),
            "{query:?}"
        );
    }
    let refused = at_east
        .settlement_report(&period("2026-11-01", "2026-11-30"))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, tongka_client::ClientError::Problem(p) if p.status == 401 || p.status == 403),
        "{refused}"
    );
}
