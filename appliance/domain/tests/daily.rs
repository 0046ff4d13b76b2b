//! The daily run on a real directory and ledger, with the clock in the test's hands. The tier
//! review (等级评定): a year's period, members who reach tiers at the till, spend again or not,
//! are set by hand; reviewed the day before their period ends, the day it ends, twice that day,
//! and a year on. Monthly bonus parts (赠送按月返还): paid on their day, not before, caught up
//! after missed months, adding up to the bonus to the fen, never twice. The scheme's daily tick
//! (每日结算): points given and taken (never below zero), a tier set, once a day, a member the
//! scheme fails for asked again. Points expiry (积分清零): at the first run of a year, what was
//! earned before the years kept goes, oldest first, once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use rust_decimal::Decimal;
use tongka_domain::{
    BonusPayout, CheckoutRequest, Effect, MemberId, Members, NewMember, NewTier, Order, Paid,
    Payment, Scheme, SchemeContext, SchemeFailure, Staff, Tender, TenderKind, Thresholds, TierId,
    TierReason, TierReview, Till, TillActor, TillLine, TillOptions, UnixMillis,
};

const DAY: u64 = 86_400_000;
/// 2026-11-24 12:00 China time.
const START: UnixMillis = UnixMillis(1_795_492_800_000);

fn day(n: u64) -> UnixMillis {
    START.plus_ms(n * DAY)
}

/// A scheme that gives only 20% on top of a top-up of ¥1,000 or more, paid as the box pays
/// bonuses, and 30% on ¥5,000 or more, paid over three months whatever the box's setting (an
/// offer with a schedule of its own): orders cost what their lines say.
struct Plain;

impl Scheme for Plain {
    fn quote_checkout(
        &self,
        _: &SchemeContext<'_>,
        _: &[TillLine],
    ) -> Result<Vec<Effect>, SchemeFailure> {
        Ok(Vec::new())
    }
    fn commit_checkout(
        &self,
        _: &SchemeContext<'_>,
        _: &[TillLine],
        _: Paid,
        _: &[Effect],
    ) -> Result<Vec<Effect>, SchemeFailure> {
        Ok(Vec::new())
    }
    fn top_up(&self, _: &SchemeContext<'_>, paid: u64) -> Result<Vec<Effect>, SchemeFailure> {
        Ok(if paid >= 500_000 {
            vec![Effect::BonusStoredValue {
                amount_fen: i64::try_from(paid * 3 / 10).unwrap(),
                months: Some(3),
            }]
        } else if paid >= 100_000 {
            vec![Effect::BonusStoredValue {
                amount_fen: i64::try_from(paid / 5).unwrap(),
                months: None,
            }]
        } else {
            Vec::new()
        })
    }
    fn refund(
        &self,
        _: &SchemeContext<'_>,
        _: &str,
        _: &[TillLine],
    ) -> Result<Vec<Effect>, SchemeFailure> {
        Ok(Vec::new())
    }
    fn rules_version(&self) -> String {
        "plain".into()
    }
}

struct Shop {
    _dir: tempfile::TempDir,
    /// The ledger's clock: its transfers are dated by it, and expiry reads those dates.
    clock: tongka_ledger::ManualClock,
    boss: Staff,
    book: Members,
    till: Till,
    actor: TillActor,
    tiers: [TierId; 3],
}

async fn shop() -> Shop {
    shop_with(TillOptions {
        tier_review_days: 365,
        ..TillOptions::default()
    })
    .await
}

async fn shop_with(options: TillOptions) -> Shop {
    let clock = tongka_ledger::ManualClock::new(START.0 * 1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let directory = common::directory_in(dir.path());
    let ledger = tongka_ledger::Ledger::open(
        &dir.path().join("ledger.redb"),
        tongka_ledger::LedgerOptions {
            clock: Arc::new(clock.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let (boss, store) = common::boss_and_store(&directory, START);
    let book = Members::open(Arc::clone(&directory), ledger).await.unwrap();
    let tier = |name: &str, rank, spend: Option<u64>| NewTier {
        name: name.into(),
        rank,
        discount_rate: Decimal::ONE,
        points_rate: Decimal::ONE,
        thresholds: Thresholds {
            total_spend_fen: spend,
            ..Thresholds::default()
        },
        upgrade_points: None,
    };
    let silver = book
        .put_tier(&boss, None, &tier("银卡", 1, None))
        .unwrap()
        .unwrap();
    let gold = book
        .put_tier(&boss, None, &tier("金卡", 2, Some(50_000)))
        .unwrap()
        .unwrap();
    let diamond = book
        .put_tier(&boss, None, &tier("钻石卡", 3, Some(200_000)))
        .unwrap()
        .unwrap();
    let till = Till::new(book.clone(), options);
    let actor = TillActor {
        merchant: boss.merchant,
        store: store.id,
        staff: Some(boss.id),
        terminal: None,
    };
    Shop {
        _dir: dir,
        clock,
        boss,
        book,
        till,
        actor,
        tiers: [silver.id, gold.id, diamond.id],
    }
}

impl Shop {
    async fn member(&self) -> MemberId {
        self.book
            .create(&self.boss, &NewMember::default(), START)
            .await
            .unwrap()
            .unwrap()
            .member
            .id
    }

    /// A cash sale of `fen` to `member` at `at`.
    async fn buy(&self, member: MemberId, fen: u64, order: &str, at: UnixMillis) {
        let request = CheckoutRequest {
            order: order.into(),
            member,
            lines: vec![TillLine {
                line: 1,
                sku: "WATCH".into(),
                category: String::new(),
                quantity_milli: 1_000,
                unit_price_fen: fen,
                promotional: false,
                no_points: false,
                no_discount: false,
            }],
        };
        let quote = self
            .till
            .quote(&self.actor, &Plain, &request, at)
            .await
            .unwrap()
            .unwrap();
        let payment = Payment {
            tenders: vec![Tender {
                kind: TenderKind::Cash,
                amount_fen: fen,
            }],
            ..Payment::default()
        };
        self.till
            .checkout(&self.actor, &Plain, &request, &payment, &quote.token, at)
            .await
            .unwrap()
            .unwrap();
    }

    fn tier(&self, member: MemberId) -> Option<TierId> {
        self.book
            .get(&self.boss, member)
            .unwrap()
            .unwrap()
            .member
            .tier
    }

    async fn review(&self, at: UnixMillis) -> TierReview {
        self.till
            .review_tiers(self.boss.merchant, at)
            .await
            .unwrap()
    }

    fn last_reason(&self, member: MemberId) -> TierReason {
        self.book
            .tier_history(&self.boss, member)
            .unwrap()
            .unwrap()
            .last()
            .unwrap()
            .reason
    }
}

fn reviewed(due: u64, kept: u64, moved_down: u64) -> TierReview {
    TierReview {
        enabled: true,
        due,
        kept,
        moved_down,
    }
}

#[tokio::test]
async fn tiers_are_kept_only_by_meeting_them_again_within_the_period() {
    let shop = shop().await;
    let [silver, gold, diamond] = shop.tiers;
    let (a, b, c) = (
        shop.member().await,
        shop.member().await,
        shop.member().await,
    );
    assert_eq!(shop.tier(c), Some(silver));

    // Day 0: A spends ¥2,500 (diamond), B ¥600 (gold). Day 200: both spend ¥600 again.
    shop.buy(a, 250_000, "A-1", day(0)).await;
    shop.buy(b, 60_000, "B-1", day(0)).await;
    assert_eq!((shop.tier(a), shop.tier(b)), (Some(diamond), Some(gold)));
    shop.buy(a, 60_000, "A-2", day(200)).await;
    shop.buy(b, 60_000, "B-2", day(200)).await;

    // The day before their periods end nobody is due; C, on the lowest tier, never is.
    assert_eq!(shop.review(day(364)).await, reviewed(0, 0, 0));
    // The day they end: A spent ¥600 in the period — gold's, not diamond's; B kept gold.
    assert_eq!(shop.review(day(365)).await, reviewed(2, 1, 1));
    assert_eq!((shop.tier(a), shop.tier(b)), (Some(gold), Some(gold)));
    assert_eq!(shop.last_reason(a), TierReason::Review);
    assert_eq!(shop.last_reason(b), TierReason::TotalSpend);
    // Again that day: new periods have begun.
    assert_eq!(shop.review(day(365)).await, reviewed(0, 0, 0));

    // Head office sets C to diamond by hand on day 500: C's period starts then.
    shop.book
        .set_tier(&shop.boss, c, diamond, day(500))
        .unwrap()
        .unwrap();
    // A year after the first review A and B did nothing: both to silver. C is not due yet.
    assert_eq!(shop.review(day(730)).await, reviewed(2, 0, 2));
    assert_eq!(
        (shop.tier(a), shop.tier(b), shop.tier(c)),
        (Some(silver), Some(silver), Some(diamond))
    );
    assert_eq!(shop.review(day(864)).await, reviewed(0, 0, 0));
    assert_eq!(shop.review(day(865)).await, reviewed(1, 0, 1));
    assert_eq!(shop.tier(c), Some(silver));
}

#[tokio::test]
async fn without_a_period_tiers_are_kept_and_nothing_is_read() {
    let shop = shop().await;
    let till = Till::new(shop.book.clone(), TillOptions::default());
    let a = shop.member().await;
    shop.buy(a, 250_000, "A-1", day(0)).await;
    let review = till
        .review_tiers(shop.boss.merchant, day(5_000))
        .await
        .unwrap();
    assert_eq!(review, TierReview::default());
    assert!(!review.enabled);
    assert_eq!(shop.tier(a), Some(shop.tiers[2]));
}

impl Shop {
    async fn top_up(&self, member: MemberId, fen: u64, order: &str, at: UnixMillis) -> Order {
        let request = common::top_up(order, member, fen);
        self.till
            .top_up(&self.actor, &Plain, &request, at)
            .await
            .unwrap()
            .unwrap()
    }

    fn bonus(&self, member: MemberId) -> u128 {
        self.book.balances(member).unwrap().bonus_fen
    }

    async fn pay(&self, at: UnixMillis) -> BonusPayout {
        self.till
            .pay_bonus_parts(self.boss.merchant, at)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_bonus_paid_monthly_comes_on_its_day_and_adds_up_to_the_fen() {
    let shop = shop_with(TillOptions {
        top_up_bonus_months: 12,
        ..TillOptions::default()
    })
    .await;
    let (a, b) = (shop.member().await, shop.member().await);
    // 充1200送240 on 2026-11-24: ¥20 now, ¥20 on the 24th of each of the next 11 months.
    let receipt = shop.top_up(a, 120_000, "T-1", day(0)).await;
    assert_eq!(receipt.moved.bonus_fen, 2_000);
    let plan = receipt.bonus_plan.clone().unwrap();
    assert_eq!(
        (plan.total_fen, plan.months, plan.paid_parts, plan.paid_fen),
        (24_000, 12, 1, 2_000)
    );
    assert_eq!(
        plan.next_on().map(|d| d.to_string()).as_deref(),
        Some("2026-12-24")
    );
    assert_eq!(shop.bonus(a), 2_000);
    // A retry answers the same receipt and pays nothing more.
    assert_eq!(shop.top_up(a, 120_000, "T-1", day(0)).await, receipt);
    assert_eq!(shop.bonus(a), 2_000);

    assert_eq!(shop.pay(day(29)).await, BonusPayout::default());
    assert_eq!(shop.bonus(a), 2_000);
    let paid = shop.pay(day(30)).await;
    assert_eq!(
        (paid.plans, paid.parts, paid.paid_fen, paid.finished),
        (1, 1, 2_000, 0)
    );
    assert_eq!(shop.bonus(a), 4_000);
    assert_eq!(shop.pay(day(30)).await, BonusPayout::default());

    // ¥1,000 gives ¥200: twelve parts of ¥16.66 or ¥16.67.
    shop.top_up(b, 100_000, "T-2", day(30)).await;
    assert_eq!(shop.bonus(b), 1_666);
    // A box off for months catches up: every part due is paid at once.
    let paid = shop.pay(day(200)).await;
    assert_eq!((paid.plans, paid.parts), (2, 5 + 5));
    // A year on both are paid in full, to the fen, and nothing is left open.
    let paid = shop.pay(day(400)).await;
    assert_eq!(paid.finished, 2);
    assert_eq!((shop.bonus(a), shop.bonus(b)), (24_000, 20_000));
    assert!(
        shop.till
            .open_bonus_plans(shop.boss.merchant)
            .unwrap()
            .is_empty()
    );
    let done = shop.till.order(shop.boss.merchant, "T-1").unwrap().unwrap();
    let plan = done.bonus_plan.unwrap();
    assert_eq!(
        (plan.paid_parts, plan.paid_fen, plan.next_on()),
        (12, 24_000, None)
    );
    assert_eq!(shop.pay(day(800)).await, BonusPayout::default());
    assert_eq!((shop.bonus(a), shop.bonus(b)), (24_000, 20_000));
}

/// 充5000送1500, 分3个月返还: the offer's own three months hold whether the box pays other bonuses at
/// once or over twelve months; the ¥1,000 offer beside it follows the box.
#[tokio::test]
async fn an_offer_with_its_own_schedule_keeps_it_whatever_the_box_pays_others() {
    for box_months in [1, 12] {
        let shop = shop_with(TillOptions {
            top_up_bonus_months: box_months,
            ..TillOptions::default()
        })
        .await;
        let (a, b) = (shop.member().await, shop.member().await);
        let receipt = shop.top_up(a, 500_000, "T-1", day(0)).await;
        let plan = receipt.bonus_plan.clone().unwrap();
        assert_eq!(
            (plan.total_fen, plan.months, plan.paid_fen),
            (150_000, 3, 50_000),
            "box pays over {box_months}"
        );
        assert_eq!(shop.bonus(a), 50_000);
        let other = shop.top_up(b, 100_000, "T-2", day(0)).await;
        assert_eq!(
            other.bonus_plan.map(|plan| plan.months),
            (box_months > 1).then_some(box_months)
        );
        // Two months on, the offer's last part is paid; the box's own plan goes on.
        shop.pay(day(61)).await;
        assert_eq!(shop.bonus(a), 150_000);
        let open = shop.till.open_bonus_plans(shop.boss.merchant).unwrap();
        assert_eq!(open.len(), usize::from(box_months > 1));
    }
}

/// A scheme that prices, tops up and refunds as [`Plain`] does, and answers the daily tick with
/// `tick`: the tests' daily schemes differ only there.
struct Daily {
    rules: &'static str,
    tick: fn(&SchemeContext<'_>) -> Result<Vec<Effect>, SchemeFailure>,
}

impl Scheme for Daily {
    fn quote_checkout(
        &self,
        context: &SchemeContext<'_>,
        lines: &[TillLine],
    ) -> Result<Vec<Effect>, SchemeFailure> {
        Plain.quote_checkout(context, lines)
    }
    fn commit_checkout(
        &self,
        context: &SchemeContext<'_>,
        lines: &[TillLine],
        paid: Paid,
        accepted: &[Effect],
    ) -> Result<Vec<Effect>, SchemeFailure> {
        Plain.commit_checkout(context, lines, paid, accepted)
    }
    fn top_up(&self, context: &SchemeContext<'_>, paid: u64) -> Result<Vec<Effect>, SchemeFailure> {
        Plain.top_up(context, paid)
    }
    fn refund(
        &self,
        context: &SchemeContext<'_>,
        original: &str,
        lines: &[TillLine],
    ) -> Result<Vec<Effect>, SchemeFailure> {
        Plain.refund(context, original, lines)
    }
    fn rules_version(&self) -> String {
        self.rules.into()
    }
    fn ticks(&self) -> bool {
        true
    }
    fn daily_tick(&self, context: &SchemeContext<'_>) -> Result<Vec<Effect>, SchemeFailure> {
        (self.tick)(context)
    }
}

/// Something to say every day: 10 points for everyone (签到), 3 taken back (expiry), gold for
/// members tagged `vip`, a failure for members tagged `broken`.
const TICKING: Daily = Daily {
    rules: "ticking",
    tick: ticking,
};

fn ticking(context: &SchemeContext<'_>) -> Result<Vec<Effect>, SchemeFailure> {
    let tags = &context.member.tags;
    if tags.iter().any(|tag| tag == "broken") {
        return Err(SchemeFailure {
            plugin: "ticking".into(),
            kind: "trap".into(),
            detail: "unreachable".into(),
        });
    }
    let points = |points| Effect::EarnPoints {
        to: tongka_domain::Party::Member,
        points,
        reason: "tick".into(),
    };
    let mut effects = vec![points(10), points(-3)];
    if tags.iter().any(|tag| tag == "vip") {
        effects.push(Effect::SetTier {
            tier: "金卡".into(),
        });
    }
    Ok(effects)
}

#[tokio::test]
async fn the_daily_tick_applies_the_schemes_answer_once_a_day() {
    let shop = shop().await;
    let tagged = |tag: &str| NewMember {
        profile: tongka_domain::ProfileEntry {
            tags: vec![tag.into()],
            ..tongka_domain::ProfileEntry::default()
        },
        ..NewMember::default()
    };
    let create = |new: NewMember| {
        let shop = &shop;
        async move {
            shop.book
                .create(&shop.boss, &new, START)
                .await
                .unwrap()
                .unwrap()
                .member
                .id
        }
    };
    let plain = create(NewMember::default()).await;
    let vip = create(tagged("vip")).await;
    let broken = create(tagged("broken")).await;
    let points = |member| shop.book.balances(member).unwrap().points;

    // A scheme without the hook: nobody asked.
    let quiet = shop
        .till
        .daily_tick(shop.boss.merchant, &Plain, day(1))
        .await
        .unwrap();
    assert!(!quiet.enabled);

    // Day 1: 10 given; the 3 to take back are capped at the 0 held. The broken one fails alone.
    let tick = shop
        .till
        .daily_tick(shop.boss.merchant, &TICKING, day(1))
        .await
        .unwrap();
    assert_eq!((tick.asked, tick.changed, tick.failed), (3, 2, 1));
    assert!(
        tick.failures[0].starts_with(&broken.to_string()),
        "{:?}",
        tick.failures
    );
    assert_eq!((points(plain), points(vip), points(broken)), (10, 10, 0));
    assert_eq!(shop.tier(vip), Some(shop.tiers[1]));
    assert_eq!(shop.last_reason(vip), TierReason::Scheme);
    let order = shop
        .till
        .order(
            shop.boss.merchant,
            &tongka_domain::tick_order_id(tongka_domain::Date::at(day(1), 480), plain),
        )
        .unwrap()
        .unwrap();
    assert_eq!(order.kind, tongka_domain::OrderKind::DailyTick);
    assert_eq!(
        (order.moved.points_earned, order.moved.points_removed),
        (10, 0)
    );

    // Again the same day: only the one that failed is asked again.
    let again = shop
        .till
        .daily_tick(shop.boss.merchant, &TICKING, day(1))
        .await
        .unwrap();
    assert_eq!((again.asked, again.changed, again.failed), (1, 0, 1));
    assert_eq!(points(plain), 10);

    // Day 2: 10 more, 3 taken.
    shop.till
        .daily_tick(shop.boss.merchant, &TICKING, day(2))
        .await
        .unwrap();
    assert_eq!((points(plain), points(vip)), (17, 17));
}

/// Everyone 10 points a day: points with a date.
const TEN_A_DAY: Daily = Daily {
    rules: "ten",
    tick: |_| {
        Ok(vec![Effect::EarnPoints {
            to: tongka_domain::Party::Member,
            points: 10,
            reason: "tick".into(),
        }])
    },
};

#[tokio::test]
async fn the_points_that_will_expire_at_the_year_end_are_told_ahead() {
    // Kept for two calendar years (次年年底清零).
    let shop = shop_with(TillOptions {
        points_expiry_years: 2,
        ..TillOptions::default()
    })
    .await;
    let member = shop.member().await;
    let merchant = shop.boss.merchant;
    let on = |n| {
        shop.clock.set_ns(day(n).0 * 1_000_000);
        day(n)
    };
    let expiring = |now| {
        shop.till
            .points_expiring(&shop.boss, member, now)
            .unwrap()
            .unwrap()
            .unwrap()
    };
    // 10 points in 2026 (day 1 is 2026-11-25): kept through 2027, none expire at the end of 2026.
    shop.till
        .daily_tick(merchant, &TEN_A_DAY, on(1))
        .await
        .unwrap();
    let in_2026 = expiring(day(2));
    assert_eq!(in_2026.points, 0);
    assert_eq!(in_2026.last_day.to_string(), "2026-12-31");
    // 10 more in 2027: the 10 of 2026 go at the end of 2027, this year's stay a year longer.
    shop.till
        .daily_tick(merchant, &TEN_A_DAY, on(40))
        .await
        .unwrap();
    let in_2027 = expiring(day(41));
    assert_eq!(in_2027.points, 10);
    assert_eq!(in_2027.last_day.to_string(), "2027-12-31");
    // And the first run of 2028 takes exactly what was told.
    let run = shop.till.expire_points(merchant, on(404)).await.unwrap();
    assert_eq!((run.year, run.points), (Some(2028), 10));
    assert_eq!(shop.book.balances(member).unwrap().points, 10);
    // Nothing is told when points never expire, and a stranger's member is refused.
    let keeping = Till::new(shop.book.clone(), TillOptions::default());
    assert_eq!(
        keeping
            .points_expiring(&shop.boss, member, day(41))
            .unwrap(),
        Ok(None)
    );
    let unknown = tongka_domain::MemberId(member.0 ^ 1);
    assert!(
        shop.till
            .points_expiring(&shop.boss, unknown, day(41))
            .unwrap()
            .is_err()
    );
}

#[tokio::test]
async fn points_earned_in_a_year_expire_at_its_end_oldest_first() {
    let shop = shop_with(TillOptions {
        points_expiry_years: 1,
        ..TillOptions::default()
    })
    .await;
    let member = shop.member().await;
    let points = || shop.book.balances(member).unwrap().points;
    let merchant = shop.boss.merchant;
    // The ledger dates its transfers by its own clock: it moves with the test's days.
    let on = |n| {
        shop.clock.set_ns(day(n).0 * 1_000_000);
        day(n)
    };
    // 10 points on 2026-11-25. The first run of 2026 finds nothing older than the year.
    shop.till
        .daily_tick(merchant, &TEN_A_DAY, on(1))
        .await
        .unwrap();
    let first = shop.till.expire_points(merchant, day(2)).await.unwrap();
    assert_eq!(
        (first.year, first.members, first.points),
        (Some(2026), 0, 0)
    );
    assert_eq!(points(), 10);
    // 10 more on 2027-01-03; then the year's first run: the 10 of 2026 expire, this year's stay.
    shop.till
        .daily_tick(merchant, &TEN_A_DAY, on(40))
        .await
        .unwrap();
    assert_eq!(points(), 20);
    let expired = shop.till.expire_points(merchant, on(40)).await.unwrap();
    assert_eq!(
        (expired.year, expired.members, expired.points),
        (Some(2027), 1, 10)
    );
    assert_eq!(points(), 10);
    let order = shop
        .till
        .order(merchant, &tongka_domain::expiry_order_id(2027, member))
        .unwrap()
        .unwrap();
    assert_eq!(
        (order.kind, order.moved.points_removed),
        (tongka_domain::OrderKind::PointsExpired, 10)
    );
    // Once a year: the next days find the year done.
    let again = shop.till.expire_points(merchant, day(41)).await.unwrap();
    assert_eq!((again.year, again.points), (None, 0));
    assert_eq!(points(), 10);
    // Points never expire when the merchant says so.
    let keeping = Till::new(shop.book.clone(), TillOptions::default());
    assert!(
        !keeping
            .expire_points(merchant, day(800))
            .await
            .unwrap()
            .enabled
    );
}
