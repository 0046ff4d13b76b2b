//! The daily run through the real box over a (faked) year: the box runs today, then is stopped
//! and started again 200 and 400 days on, its clock moved by libfaketime (LD_PRELOAD), as a box
//! left running would live through it — the run happens as it starts.
//!
//! 等级评定: two members reach gold at the till on day 0; one spends again on day 200. On day
//! 400 the other has moved down to silver with `review` in their tier history, the first keeps
//! gold, and reviewing again the same day finds nobody due.
//!
//! 赠送按月返还: on day 0 a member tops up ¥1,200 with `standard-points` offering ¥240 on top,
//! paid over 12 months: ¥20 comes with the top-up, the parts due by day 200 are there on day 200,
//! and all ¥240 by day 400, never a part twice.
//!
//! 每日结算: `standard-points` is routed to the daily tick with 88 birthday points; a member born
//! on the box's day 200 has them that day, once, kept as the order `tick-YYYYMMDD-{member}`.
//!
//! 积分清零 (次年年底清零, `points_expiry_years` = 2): the birthday points are still there on
//! day 400, and told as expiring at the end of the year after they were earned (checked again on
//! 1 December of that year, where they are always due, whatever day the test runs); started again
//! in mid-January two years after they were earned, the box has expired them. `tongka ledger
//! verify` stays clean.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use tongka_client::Client;
use tongka_client::types::{
    CardRequest, CheckoutRequest, CreateMember, FindMemberQuery, LineRequest, PaymentRequest,
    TenderRequest, ThresholdsBody, TierRequestBody, TopUpRequest,
};
use tongka_e2e::RunningBox;
use tongka_e2e::api::{boss_client, first_admin, open_store};

/// libfaketime's thread-safe library, which `cargo xtask test` installs (Debian's `libfaketime`).
fn faketime_library() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("faketime/libfaketimeMT.so.1"))
        .find(|path| path.exists());
    found.expect(
        "libfaketime is missing: `cargo xtask test` installs it (apt-get install libfaketime)",
    )
}

/// The box `days` days from now (0: the real clock), reviewing tiers over 365-day periods.
fn start(data: &Path, log: &Path, days: u32) -> RunningBox {
    let library = faketime_library();
    let offset = format!("+{days}d");
    let mut envs: Vec<(&str, &Path)> = vec![
        ("TONGKA_HTTP_REQUESTS_PER_SECOND", Path::new("2000")),
        ("TONGKA_HTTP_REQUEST_BURST", Path::new("2000")),
        ("TONGKA_LOG_FILTER", Path::new("info")),
        ("TONGKA_TILL_TIER_REVIEW_DAYS", Path::new("365")),
        ("TONGKA_TILL_TOP_UP_BONUS_MONTHS", Path::new("12")),
        ("TONGKA_TILL_POINTS_EXPIRY_YEARS", Path::new("2")),
    ];
    if days > 0 {
        envs.push(("LD_PRELOAD", library.as_path()));
        envs.push(("FAKETIME", Path::new(&offset)));
    }
    RunningBox::start_wrapped(&[], "127.0.0.1:0", data, &[], &envs, Some(log)).unwrap()
}

async fn buy(boss: &Client, store: &str, order: &str, card: &str, price: &str) {
    let mut sale = CheckoutRequest::by_card(
        order,
        card,
        vec![LineRequest::new(1, "WATCH", "", "1", price)],
    );
    sale.store = Some(store.into());
    let quote = boss.quote(&sale).await.unwrap();
    sale.quote_token = Some(quote.quote_token);
    sale.payment = Some(PaymentRequest {
        tenders: vec![TenderRequest {
            kind: "cash".into(),
            amount: price.into(),
        }],
        ..PaymentRequest::default()
    });
    boss.checkout(&sale).await.unwrap();
}

/// Head office's notice for `born` and the till's card lookup (by her phone) both say `points`
/// are due on the last day of `year`: for the cashier to tell her and the receipt to print.
async fn expiring_told(boss: &Client, born: &str, points: &str, year: u16) {
    let last_day = Some(format!("{year}-12-31"));
    let notice = boss.points_expiring(born).await.unwrap();
    assert_eq!(
        (notice.points.as_str(), notice.last_day),
        (points, last_day.clone())
    );
    let at_till = boss
        .find_member(&FindMemberQuery {
            card: None,
            phone: Some("13900139088".into()),
        })
        .await
        .unwrap()
        .points_expiring
        .unwrap();
    assert_eq!(
        (at_till.points.as_str(), at_till.last_day),
        (points, last_day)
    );
}

async fn member(boss: &Client, store: &str, card: &str) -> String {
    boss.create_member(&CreateMember {
        home_store: Some(store.into()),
        card: Some(CardRequest {
            kind: "barcode".into(),
            number: card.into(),
        }),
        ..CreateMember::default()
    })
    .await
    .unwrap()
    .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tier_not_kept_up_for_a_year_moves_down_when_the_box_reviews() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    first_admin(&data);

    // Day 0, the real clock.
    let running = start(&data, &dir.path().join("day-0.log"), 0);
    let (_, boss) = boss_client(&running).await;
    let shop = open_store(&boss, "SH-1").await;
    let tier = |name: &str, rank, spend: Option<&str>| TierRequestBody {
        discount_rate: "1".into(),
        name: name.into(),
        points_rate: "1".into(),
        rank,
        thresholds: spend.map(|spend| ThresholdsBody {
            total_spend: Some(spend.into()),
            ..ThresholdsBody::default()
        }),
        upgrade_points: None,
    };
    let silver = boss.create_tier(&tier("银卡", 1, None)).await.unwrap().id;
    let gold = boss
        .create_tier(&tier("金卡", 2, Some("500.00")))
        .await
        .unwrap()
        .id;
    let (lapsed, loyal) = (
        member(&boss, &shop, "8800-0001").await,
        member(&boss, &shop, "8800-0002").await,
    );
    buy(&boss, &shop, "S-1", "8800-0001", "600.00").await;
    buy(&boss, &shop, "S-2", "8800-0002", "600.00").await;
    let tier_of = |id: String| {
        let boss = &boss;
        async move { boss.get_member(&id).await.unwrap().tier }
    };
    assert_eq!(
        tier_of(lapsed.clone()).await.as_deref(),
        Some(gold.as_str())
    );
    assert_eq!(tier_of(loyal.clone()).await.as_deref(), Some(gold.as_str()));
    // `standard-points` offering ¥240 on a top-up of ¥1,200 and 88 points on a birthday,
    // routed to the top-up hook and the daily tick only.
    tongka_e2e::plugins::install_standard_points(
        &boss,
        dir.path(),
        &serde_json::json!({
            "top_up_offers": [{"min_fen": 120_000, "bonus_fen": 24_000}],
            "birthday_points": 88
        }),
        &["top-up", "daily-tick"],
    )
    .await;
    // Born in 1990 on the day the box will see 200 days on.
    let birthday_on = tongka_e2e::china_clock(200).0;
    let born = boss
        .create_member(&CreateMember {
            home_store: Some(shop.clone()),
            birthday: Some(format!(
                "1990-{:02}-{:02}",
                birthday_on.month, birthday_on.day
            )),
            phone: Some("13900139088".into()),
            ..CreateMember::default()
        })
        .await
        .unwrap()
        .id;
    let run = boss.daily_run().await.unwrap();
    assert!(run.tier_review.enabled && run.daily_tick.enabled);
    assert_eq!(run.tier_review.due, 0);
    // Everyone asked, nobody's birthday: nothing changed.
    assert_eq!((run.daily_tick.asked, run.daily_tick.changed), (3, 0));
    let mut top_up = TopUpRequest::by_card("T-1", "8800-0002", "1200.00");
    top_up.store = Some(shop.clone());
    let receipt = boss.top_up(&top_up).await.unwrap();
    assert_eq!(receipt.moved.bonus.amount, "20.00");
    let plan = receipt.bonus_plan.unwrap();
    assert_eq!(
        (plan.total.amount.as_str(), plan.months, plan.paid_parts),
        ("240.00", 12, 1)
    );
    let today = tongka_e2e::china_clock(0).0;
    assert_eq!(
        plan.next_on.as_deref(),
        Some(tongka_domain::month_later(today, 1).to_string().as_str())
    );
    // Parts due by the box's day `days`: the first, and each month since.
    let due_by = |days: i64| {
        let day = tongka_e2e::china_clock(days).0;
        1 + (1..12)
            .filter(|k| tongka_domain::month_later(today, *k) <= day)
            .count()
    };
    let bonus_of = |paid_parts: usize| {
        tongka_domain::accounts::display(
            tongka_domain::accounts::CNY,
            (0..paid_parts)
                .map(|k| {
                    u128::from(tongka_domain::part_fen(
                        24_000,
                        u32::try_from(k).unwrap(),
                        12,
                    ))
                })
                .sum(),
        )
    };
    drop(boss);
    running.terminate().unwrap();

    // Day 200: the loyal member spends ¥600 again; nobody is due yet.
    let running = start(&data, &dir.path().join("day-200.log"), 200);
    let (_, boss) = boss_client(&running).await;
    buy(&boss, &shop, "S-3", "8800-0002", "600.00").await;
    // Whatever the run at start did, nothing is left to do now, and what was due is there.
    let run = boss.daily_run().await.unwrap();
    assert_eq!(run.tier_review.due, 0);
    assert_eq!(run.bonus_payout.parts, 0, "{run:?}");
    assert_eq!(run.daily_tick.changed, 0, "{run:?}");
    let gift = boss
        .order(&tongka_domain::tick_order_id(
            birthday_on,
            tongka_domain::MemberId(u128::from_str_radix(&born, 16).unwrap()),
        ))
        .await
        .unwrap();
    assert_eq!(
        (gift.kind.as_str(), gift.moved.points.as_str()),
        ("daily-tick", "88")
    );
    assert_eq!(boss.get_member(&born).await.unwrap().balances.points, "88");
    let plan = boss.order("T-1").await.unwrap().bonus_plan.unwrap();
    assert_eq!(usize::try_from(plan.paid_parts).unwrap(), due_by(200));
    let balances = boss.get_member(&loyal).await.unwrap().balances;
    assert_eq!(balances.stored_value.bonus.amount, bonus_of(due_by(200)));
    drop(boss);
    running.terminate().unwrap();

    // Day 400: the box reviews as it starts. Asking again waits for that review (reviews run
    // one at a time) and finds nobody left due, whichever of the two did the work.
    let running = start(&data, &dir.path().join("day-400.log"), 400);
    let (_, boss) = boss_client(&running).await;
    boss.daily_run().await.unwrap();
    let again = boss.daily_run().await.unwrap().tier_review;
    assert_eq!((again.due, again.kept, again.moved_down), (0, 0, 0));
    let tier_of = |id: String| {
        let boss = &boss;
        async move { boss.get_member(&id).await.unwrap().tier }
    };
    assert_eq!(
        tier_of(lapsed.clone()).await.as_deref(),
        Some(silver.as_str())
    );
    assert_eq!(tier_of(loyal.clone()).await.as_deref(), Some(gold.as_str()));
    let history = boss.tier_history(&lapsed).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (last.reason.as_str(), last.from.as_deref(), last.to.as_str()),
        ("review", Some(gold.as_str()), silver.as_str())
    );
    // The move happened on the box's day 400, not today.
    let year = |at: &str| at[..4].parse::<i32>().unwrap();
    assert!(year(&last.at) > year(&history[0].at), "{history:?}");
    assert_eq!(
        boss.tier_history(&loyal)
            .await
            .unwrap()
            .last()
            .unwrap()
            .reason,
        "total-spend"
    );
    let plan = boss.order("T-1").await.unwrap().bonus_plan.unwrap();
    assert_eq!(
        (plan.paid_parts, plan.paid.amount.as_str(), plan.next_on),
        (12, "240.00", None)
    );
    let balances = boss.get_member(&loyal).await.unwrap().balances;
    assert_eq!(balances.stored_value.bonus.amount, "240.00");
    // The birthday gift came once, on the day.
    assert_eq!(boss.get_member(&born).await.unwrap().balances.points, "88");
    // 积分到期提醒: points of the birthday's year go at the end of the next one, and the box says
    // so ahead.
    let year_400 = tongka_e2e::china_clock(400).0.year;
    let due = if year_400 == birthday_on.year + 1 {
        "88"
    } else {
        "0"
    };
    expiring_told(&boss, &born, due, year_400).await;
    // Head office's own view of the member does not carry it.
    assert!(
        boss.get_member(&born)
            .await
            .unwrap()
            .points_expiring
            .is_none()
    );
    drop(boss);
    running.terminate().unwrap();

    // 1 December of the year after the birthday, whatever day the test runs: the 88 points are
    // due at that year's end, and both views say so (day 400 above may fall in either year).
    // Not on her birthday, which would bring the next year's gift and keep points past expiry.
    let notice_day = tongka_domain::Date {
        year: birthday_on.year + 1,
        month: 12,
        day: if (birthday_on.month, birthday_on.day) == (12, 1) {
            2
        } else {
            1
        },
    };
    // The box started on a given date (China time), its clock moved that many days on.
    let start_on = |date: tongka_domain::Date, log: &str| {
        let days = (date.start(480).0 - today.start(480).0) / 86_400_000;
        start(&data, &dir.path().join(log), u32::try_from(days).unwrap())
    };
    let running = start_on(notice_day, "notice.log");
    let (_, boss) = boss_client(&running).await;
    expiring_told(&boss, &born, "88", notice_day.year).await;
    drop(boss);
    running.terminate().unwrap();

    // 15 January two years after the birthday points were earned: they have expired.
    let expiry_year = birthday_on.year + 2;
    let expiry_day = tongka_domain::Date {
        year: expiry_year,
        month: 1,
        day: 15,
    };
    let running = start_on(expiry_day, "expiry.log");
    let (_, boss) = boss_client(&running).await;
    boss.daily_run().await.unwrap();
    let again = boss.daily_run().await.unwrap().points_expiry;
    assert!(again.enabled && again.year.is_none(), "{again:?}");
    assert_eq!(boss.get_member(&born).await.unwrap().balances.points, "0");
    let expired = boss
        .order(&tongka_domain::expiry_order_id(
            expiry_year,
            tongka_domain::MemberId(u128::from_str_radix(&born, 16).unwrap()),
        ))
        .await
        .unwrap();
    assert_eq!(
        (expired.kind.as_str(), expired.moved.points_removed.as_str()),
        ("points-expired", "88")
    );
    drop(boss);
    running.terminate().unwrap();

    let verified = tongka_e2e::tongka_verify(&data).unwrap();
    assert!(verified.status.success(), "{verified:?}");
}
