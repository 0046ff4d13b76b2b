//! 负积分 through the real box: with `till.spent_points_on_refund = "negative"`, a member earns
//! points on a ¥100 order, spends them on the next, then returns the first. The refund gives all
//! the money back and takes the points all the same: what she no longer holds becomes a debt on
//! her balances. Head office merges her into a second record of hers: the debt moves with her
//! balances and card. A friend she brought buys: his referral points repay her debt first; he
//! returns the order, and what she had of them becomes her debt again. The next order on her
//! card repays it before any points reach her. `tongka ledger verify` stays clean.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use tongka_client::Client;
use tongka_client::types::{
    CardRequest, CheckoutRequest, CreateMember, LineRequest, OrderBody, PaymentRequest,
    RefundRequest, TenderRequest,
};
use tongka_e2e::RunningBox;
use tongka_e2e::api::{boss_client, first_admin, open_store, pair_terminal};
use tongka_e2e::plugins::{TILL_HOOKS, install_standard_points};

/// A cash sale of one line at `price` on card `card`, using all the points the quote offers if
/// asked.
async fn sell_on(
    till: &Client,
    card: &str,
    order: &str,
    price: &str,
    pay_with_points: bool,
) -> OrderBody {
    let mut sale = CheckoutRequest::by_card(
        order,
        card,
        vec![LineRequest::new(1, "TEA", "drinks", "1", price)],
    );
    let quote = till.quote(&sale).await.unwrap();
    // Amounts are decimal strings with two places: fen without the point.
    let fen = |text: &str| text.replace('.', "").parse::<u64>().unwrap();
    let offer = quote.points_offset.filter(|_| pay_with_points);
    let offset = offer
        .as_ref()
        .map_or(0, |offer| fen(&offer.max_value.amount));
    let cash = fen(price) - offset;
    sale.quote_token = Some(quote.quote_token);
    sale.payment = Some(PaymentRequest {
        points: offer.map(|offer| offer.max_points),
        tenders: vec![TenderRequest {
            kind: "cash".into(),
            amount: format!("{}.{:02}", cash / 100, cash % 100),
        }],
        ..PaymentRequest::default()
    });
    till.checkout(&sale).await.unwrap()
}

/// A sale on her card.
async fn sell(till: &Client, order: &str, price: &str, pay_with_points: bool) -> OrderBody {
    sell_on(till, "8800-0001", order, price, pay_with_points).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn points_already_spent_become_a_debt_the_next_points_repay() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    first_admin(&data);
    let running = RunningBox::start_logged(
        &data,
        &[],
        &[
            ("TONGKA_HTTP_REQUESTS_PER_SECOND", Path::new("2000")),
            ("TONGKA_HTTP_REQUEST_BURST", Path::new("2000")),
            ("TONGKA_TILL_SPENT_POINTS_ON_REFUND", Path::new("negative")),
        ],
        Some(&dir.path().join("box.log")),
    )
    .unwrap();
    let (client, boss) = boss_client(&running).await;
    let shop = open_store(&boss, "SH-1").await;
    // A point a yuan, a tenth of it to the referrer; 100 points pay ¥1, up to the whole order.
    install_standard_points(
        &boss,
        dir.path(),
        &serde_json::json!({
            "base_points_per_yuan_bp": 10_000,
            "offset": {"points_per_unit": 100, "unit_fen": 100, "cap_percent": 100},
            "referral": {"share_percent": 10}
        }),
        &TILL_HOOKS,
    )
    .await;
    let member = boss
        .create_member(&CreateMember {
            home_store: Some(shop.clone()),
            card: Some(CardRequest {
                kind: "barcode".into(),
                number: "8800-0001".into(),
            }),
            ..CreateMember::default()
        })
        .await
        .unwrap()
        .id;
    let till = pair_terminal(&client, &boss, &shop).await;

    let first = sell(&till, "S-1", "100.00", false).await;
    assert_eq!(first.moved.points, "100");
    // The 100 points pay ¥1 of a ¥10 order, which earns some of its own.
    let second = sell(&till, "S-2", "10.00", true).await;
    assert_eq!(second.moved.points_offset, "100");
    let held: u64 = second.balances.points.parse().unwrap();
    assert!(held > 0 && held < 100, "{held}");

    let refund = till
        .refund(&RefundRequest::of("R-1", "S-1", Vec::new()))
        .await
        .unwrap();
    let owed = 100 - held;
    assert_eq!(refund.moved.total.amount, "100.00");
    assert_eq!(refund.moved.tenders[0].amount.amount, "100.00");
    assert_eq!(refund.moved.clawback.amount, "0.00");
    assert_eq!(
        (
            refund.moved.points.as_str(),
            refund.moved.points_owed.as_str()
        ),
        (held.to_string().as_str(), owed.to_string().as_str())
    );
    let balances = boss.get_member(&member).await.unwrap().balances;
    assert_eq!(
        (balances.points.as_str(), balances.points_owed.as_str()),
        ("0", owed.to_string().as_str())
    );

    // A duplicate record of hers is kept; the debt and the card move to it.
    let kept = boss
        .create_member(&CreateMember {
            home_store: Some(shop.clone()),
            ..CreateMember::default()
        })
        .await
        .unwrap()
        .id;
    let merged = boss
        .merge_members(
            &kept,
            &tongka_client::types::MergeRequest {
                from: member.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(merged.balances.points_owed, owed.to_string());
    let member = kept;

    // A friend she brought spends ¥100: his 10 referral points go to her debt first.
    boss.create_member(&CreateMember {
        home_store: Some(shop.clone()),
        referrer: Some(member.clone()),
        card: Some(CardRequest {
            kind: "barcode".into(),
            number: "8800-0002".into(),
        }),
        ..CreateMember::default()
    })
    .await
    .unwrap();
    let friends = sell_on(&till, "8800-0002", "F-1", "100.00", false).await;
    assert_eq!(
        (
            friends.moved.referrer_points.as_str(),
            friends.moved.referrer_points_repaid.as_str()
        ),
        ("10", "10")
    );
    let balances = boss.get_member(&member).await.unwrap().balances;
    assert_eq!(
        (balances.points.as_str(), balances.points_owed.as_str()),
        ("0", (owed - 10).to_string().as_str())
    );
    // He returns it: she holds none of those points, so they are her debt again.
    let returned = till
        .refund(&RefundRequest::of("RF-1", "F-1", Vec::new()))
        .await
        .unwrap();
    assert_eq!(
        (
            returned.moved.referrer_points.as_str(),
            returned.moved.referrer_points_owed.as_str(),
            returned.moved.referrer_points_written_off.as_str()
        ),
        ("0", "10", "0")
    );
    let balances = boss.get_member(&member).await.unwrap().balances;
    assert_eq!(balances.points_owed, owed.to_string());

    // ¥200 earns 200 points: the debt is repaid first, the rest is hers.
    let third = sell(&till, "S-3", "200.00", false).await;
    assert_eq!(
        (
            third.moved.points.as_str(),
            third.moved.points_repaid.as_str()
        ),
        ("200", owed.to_string().as_str())
    );
    let balances = boss.get_member(&member).await.unwrap().balances;
    assert_eq!(
        (balances.points.as_str(), balances.points_owed.as_str()),
        ((200 - owed).to_string().as_str(), "0")
    );

    drop((client, boss, till));
    running.terminate().unwrap();
    let verified = tongka_e2e::tongka_verify(&data).unwrap();
    assert!(verified.status.success(), "{verified:?}");
}
