//! The till against a real directory and a real ledger, driven by generated sequences of
//! top-ups, checkouts (stored value, points, cash in any mix), refunds (by line, in parts, in
//! full; spent points refused or deducted), points turned into stored value, and retries. After
//! every step each member's balances equal what the receipts say they should be and no member
//! account owes more than it holds; a retry answers the same receipt and moves nothing; a fully
//! refunded order has returned exactly what it took; the cashier's commission follows the
//! merchant's rules and refunds take back their share of it; a referrer's share repays their
//! own points debt first, and a refund takes it back, making what they spent their debt or
//! letting it go by the policy; at the end the ledger verifies clean.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use proptest::prelude::*;
use tongka_domain::accounts::MemberAccount;
use tongka_domain::{
    CheckoutRequest, CommissionAmount, CommissionEvent, CommissionRule, ConversionRequest,
    Directory, Effect, GiftEntry, Members, NewMember, Order, Paid, Party, Payment,
    RedemptionRequest, RefundLine, RefundRequest, Scheme, SchemeContext, SchemeFailure,
    SpentPoints, Tender, TenderKind, Till, TillActor, TillError, TillLine, TillOptions,
    TopUpRequest, UnixMillis,
};

const NOW: UnixMillis = UnixMillis(1_795_000_000_000);

/// A small scheme in plain Rust: a point per yuan due and a fifth of that to the referrer, 10%
/// off odd lines, points pay 10 fen per 10 up to half the order, 20% on top of a top-up of ¥100
/// or more, and with `top_up_points` a point per ¥10 topped up.
struct Rules {
    top_up_points: bool,
}

/// The rules the sequences run under.
const RULES: Rules = Rules {
    top_up_points: false,
};
/// The same, with points for top-ups: a top-up can then repay a points debt.
const POINTS_FOR_TOP_UPS: Rules = Rules {
    top_up_points: true,
};

impl Scheme for Rules {
    fn quote_checkout(
        &self,
        _: &SchemeContext<'_>,
        lines: &[TillLine],
    ) -> Result<Vec<Effect>, SchemeFailure> {
        let mut effects = Vec::new();
        let mut due = 0;
        for line in lines {
            let amount = i64::try_from(line.amount_fen()).unwrap();
            let discount = if line.line % 2 == 1 { amount / 10 } else { 0 };
            if discount > 0 {
                effects.push(Effect::DiscountLine {
                    line: line.line,
                    amount_fen: discount,
                    reason: "九折".into(),
                });
            }
            due += amount - discount;
        }
        effects.push(Effect::EarnPoints {
            to: Party::Member,
            points: due / 100,
            reason: "消费积分".into(),
        });
        effects.push(Effect::EarnPoints {
            to: Party::Referrer,
            points: due / 500,
            reason: "推荐奖励".into(),
        });
        effects.push(Effect::OfferPointsOffset {
            max_points: due / 2,
            points_per_unit: 10,
            unit_fen: 10,
        });
        Ok(effects)
    }

    fn commit_checkout(
        &self,
        _: &SchemeContext<'_>,
        _: &[TillLine],
        _: Paid,
        accepted: &[Effect],
    ) -> Result<Vec<Effect>, SchemeFailure> {
        Ok(accepted
            .iter()
            .filter(|e| matches!(e, Effect::EarnPoints { .. }))
            .cloned()
            .collect())
    }

    fn top_up(&self, _: &SchemeContext<'_>, paid: u64) -> Result<Vec<Effect>, SchemeFailure> {
        let mut effects = Vec::new();
        if paid >= 10_000 {
            effects.push(Effect::BonusStoredValue {
                amount_fen: i64::try_from(paid / 5).unwrap(),
                months: None,
            });
        }
        if self.top_up_points {
            effects.push(Effect::EarnPoints {
                to: Party::Member,
                points: i64::try_from(paid / 1_000).unwrap(),
                reason: "充值积分".into(),
            });
        }
        Ok(effects)
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
        if self.top_up_points {
            "points-for-top-ups".into()
        } else {
            "rules-1".into()
        }
    }
}

#[derive(Clone, Debug)]
enum Step {
    TopUp {
        member: usize,
        fen: u64,
    },
    Checkout {
        member: usize,
        lines: Vec<(u32, u64)>,
        stored_percent: u64,
        points: bool,
    },
    /// A part of one line of an earlier checkout, or (None) everything left.
    Refund {
        sale: usize,
        line: Option<(usize, u32)>,
    },
    /// Points turned into stored value.
    Convert {
        member: usize,
        points: u64,
    },
    /// Gifts taken for points.
    Redeem {
        member: usize,
        quantity: u32,
    },
    /// The previous request again, as after a dropped answer.
    Retry,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..3usize, 1..30_000u64).prop_map(|(member, fen)| Step::TopUp { member, fen }),
        5 => (
            0..3usize,
            prop::collection::vec((1..3_500u32, 0..4_000u64), 1..4),
            0..=100u64,
            any::<bool>(),
        )
            .prop_map(|(member, lines, stored_percent, points)| Step::Checkout {
                member,
                lines,
                stored_percent,
                points,
            }),
        3 => (0..8usize, prop::option::of((0..4usize, 1..2_000u32)))
            .prop_map(|(sale, line)| Step::Refund { sale, line }),
        1 => (0..3usize, 1..300u64).prop_map(|(member, points)| Step::Convert { member, points }),
        1 => (0..3usize, 1..3u32).prop_map(|(member, quantity)| Step::Redeem { member, quantity }),
        1 => Just(Step::Retry),
    ]
}

/// What the receipts say each member holds: principal, bonus, points.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Expected {
    principal: i128,
    bonus: i128,
    points: i128,
    /// The points debt (policy `negative`).
    owed: i128,
}

#[derive(Clone, Debug)]
enum Request {
    TopUp(TopUpRequest),
    Checkout(CheckoutRequest, Payment, String),
    Refund(RefundRequest),
    Convert(ConversionRequest),
    Redeem(RedemptionRequest),
}

async fn run(till: &Till, actor: &TillActor, request: &Request) -> Result<Order, TillError> {
    match request {
        Request::TopUp(r) => till.top_up(actor, &RULES, r, NOW).await.unwrap(),
        Request::Checkout(r, p, token) => till
            .checkout(actor, &RULES, r, p, token, NOW)
            .await
            .unwrap(),
        Request::Refund(r) => till.refund(actor, &RULES, r, NOW).await.unwrap(),
        Request::Convert(r) => till.convert_points(actor, r, NOW).await.unwrap(),
        Request::Redeem(r) => till.redeem_gift(actor, r, NOW).await.unwrap(),
    }
}

fn apply(expected: &mut [Expected], members: &[tongka_domain::MemberId], order: &Order) {
    let m = &order.moved;
    if let Some(referrer) = order.referrer {
        let index = members.iter().position(|m| *m == referrer).unwrap();
        let r = &mut expected[index];
        let (given, repaid, owed) = (
            i128::from(m.referrer_points),
            i128::from(m.referrer_points_repaid),
            i128::from(m.referrer_points_owed),
        );
        if order.kind == tongka_domain::OrderKind::Refund {
            r.points -= given;
            r.owed += owed;
        } else {
            r.points += given - repaid;
            r.owed -= repaid;
        }
    }
    let index = members.iter().position(|m| *m == order.member).unwrap();
    let e = &mut expected[index];
    // Earned points repay a debt first: only the rest reaches the member's points.
    let repaid = i128::from(m.points_repaid);
    e.owed += i128::from(m.points_owed) - repaid;
    let (principal, bonus, points) = (
        i128::from(m.principal_fen),
        i128::from(m.bonus_fen),
        i128::from(m.points_earned),
    );
    match order.kind {
        // Welcome gifts credit like a top-up's points (the sequences here open no cards).
        tongka_domain::OrderKind::TopUp | tongka_domain::OrderKind::Joined => {
            e.principal += principal;
            e.bonus += bonus;
            e.points += points - repaid;
        }
        tongka_domain::OrderKind::Checkout => {
            e.principal -= principal;
            e.bonus -= bonus;
            e.points += points - repaid - i128::from(m.points_offset);
        }
        tongka_domain::OrderKind::Refund => {
            e.principal += principal;
            e.bonus += bonus;
            e.points += i128::from(m.points_offset) - points;
        }
        // Points given for a gift or a tier.
        tongka_domain::OrderKind::GiftRedemption | tongka_domain::OrderKind::TierPurchase => {
            e.points -= i128::from(m.points_offset);
        }
        // The sequences here have no daily tick.
        tongka_domain::OrderKind::DailyTick | tongka_domain::OrderKind::PointsExpired => {
            unreachable!("no daily run in these sequences")
        }
        // Points given up for bonus stored value.
        tongka_domain::OrderKind::PointsConversion => {
            e.bonus += bonus;
            e.points -= i128::from(m.points_offset);
        }
    }
}

/// Runs `steps` under `options`; answers what each step but a retry answered, in order.
async fn scenario(
    steps: Vec<Step>,
    options: TillOptions,
) -> Result<Vec<Result<Order, String>>, TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let directory = common::directory_in(dir.path());
    let ledger_path = dir.path().join("ledger.redb");
    let ledger = common::ledger_in(dir.path());
    let (boss, store) = common::boss_and_store(&directory, NOW);
    // A gift of 40 points, four in stock: sequences run out of it, or of points.
    let gift = directory
        .add_gift(
            &boss,
            &GiftEntry {
                name: Some("雨伞".into()),
                points: Some(40),
                stock: Some(GIFT_STOCK),
                active: None,
            },
            NOW,
        )
        .unwrap()
        .unwrap();
    let book = Members::open(Arc::clone(&directory), ledger).await.unwrap();
    // A chain of referrals: the first brought the second, who brought the third.
    let mut members: Vec<tongka_domain::MemberId> = Vec::new();
    for _ in 0..3 {
        let joining = NewMember {
            referrer: members.last().copied(),
            ..NewMember::default()
        };
        let member = book.create(&boss, &joining, NOW).await.unwrap().unwrap();
        members.push(member.member.id);
    }
    let till = Till::new(book.clone(), options);
    // 1% of a top-up, 2.5% of a sale, to whoever is at the till (the boss here).
    let rate = |on, basis_points| CommissionRule {
        on,
        tier: None,
        role: None,
        amount: CommissionAmount::Rate { basis_points },
    };
    till.set_commission_rules(
        &boss,
        vec![
            rate(CommissionEvent::TopUp, 100),
            rate(CommissionEvent::Sale, 250),
        ],
    )
    .unwrap()
    .unwrap();
    let mut commission_owed = 0i128;
    let mut answers = Vec::new();
    let points_fen_per_100 = match options.spent_points {
        SpentPoints::Deduct { fen_per_100_points } => fen_per_100_points,
        SpentPoints::Refuse | SpentPoints::Negative => 0,
    };
    let (mut redeemed, mut taken_total) = (Vec::<String>::new(), 0u64);
    let actor = boss_at(&boss, &store);
    let mut expected = vec![Expected::default(); 3];
    let mut sales: Vec<Order> = Vec::new();
    let mut last: Option<(Request, Result<Order, TillError>)> = None;

    for (n, step) in steps.into_iter().enumerate() {
        let order_id = format!("O-{n}");
        let request = match step {
            Step::TopUp { member, fen } => {
                Request::TopUp(common::top_up(&order_id, members[member], fen))
            }
            Step::Checkout {
                member,
                lines,
                stored_percent,
                points,
            } => {
                let request = CheckoutRequest {
                    order: order_id,
                    member: members[member],
                    lines: lines
                        .iter()
                        .enumerate()
                        .map(|(i, (quantity, price))| TillLine {
                            line: u32::try_from(i).unwrap() + 1,
                            sku: format!("SKU-{i}"),
                            category: String::new(),
                            quantity_milli: *quantity,
                            unit_price_fen: *price,
                            promotional: false,
                            no_points: false,
                            no_discount: false,
                        })
                        .collect(),
                };
                let quote = till
                    .quote(&actor, &RULES, &request, NOW)
                    .await
                    .unwrap()
                    .unwrap();
                let offset = if points { quote.offset } else { None };
                let (points, value) = offset.map_or((0, 0), |o| (o.max_points, o.max_value_fen));
                let due = quote.payable_fen - value;
                let held =
                    u64::try_from(quote.balances.principal_fen + quote.balances.bonus_fen).unwrap();
                let stored = (due * stored_percent / 100).min(held);
                let cash = due - stored;
                let payment = Payment {
                    stored_value_fen: stored,
                    points,
                    tenders: if cash > 0 {
                        vec![Tender {
                            kind: TenderKind::Cash,
                            amount_fen: cash,
                        }]
                    } else {
                        Vec::new()
                    },
                    seller: None,
                };
                Request::Checkout(request, payment, quote.token)
            }
            Step::Refund { sale, line } => {
                let Some(original) = sales.get(sale) else {
                    continue;
                };
                let lines = match line {
                    None => Vec::new(),
                    Some((index, milli)) => {
                        let Some(line) = original.lines.get(index) else {
                            continue;
                        };
                        vec![RefundLine {
                            line: line.line,
                            quantity_milli: milli.min(line.quantity_milli),
                        }]
                    }
                };
                Request::Refund(RefundRequest {
                    order: order_id,
                    original: original.id.clone(),
                    lines,
                })
            }
            Step::Redeem { member, quantity } => Request::Redeem(RedemptionRequest {
                order: order_id,
                member: members[member],
                gift: gift.id,
                quantity,
            }),
            Step::Convert { member, points } => Request::Convert(ConversionRequest {
                order: order_id,
                member: members[member],
                points,
            }),
            Step::Retry => {
                let Some((request, answer)) = &last else {
                    continue;
                };
                let again = run(&till, &actor, request).await;
                if let Ok(order) = answer {
                    prop_assert_eq!(again.as_ref().ok(), Some(order), "a retry answers the same");
                }
                check(&book, &members, &expected)?;
                continue;
            }
        };
        let answer = run(&till, &actor, &request).await;
        answers.push(answer.as_ref().map(Order::clone).map_err(|e| e.to_string()));
        match &answer {
            Ok(order) => {
                apply(&mut expected, &members, order);
                // A sale's are worked out before its batch (and logged with it); every
                // receipt's must be what the member then holds.
                prop_assert_eq!(
                    order.balances_after,
                    book.balances(order.member).unwrap(),
                    "the receipt's balances after are the member's"
                );
                let half_up = |fen: u64, basis_points: u64| (fen * basis_points + 5_000) / 10_000;
                match order.kind {
                    tongka_domain::OrderKind::TopUp => {
                        prop_assert_eq!(
                            order.moved.commission_fen,
                            half_up(order.moved.net_fen, 100)
                        );
                        commission_owed += i128::from(order.moved.commission_fen);
                    }
                    tongka_domain::OrderKind::Checkout => {
                        prop_assert_eq!(
                            order.moved.commission_fen,
                            half_up(order.moved.net_fen, 250)
                        );
                        commission_owed += i128::from(order.moved.commission_fen);
                    }
                    tongka_domain::OrderKind::Refund => {
                        commission_owed -= i128::from(order.moved.commission_fen);
                    }
                    _ => prop_assert_eq!(order.moved.commission_fen, 0),
                }
                let account = book
                    .ledger()
                    .balance(tongka_domain::staff_account_id(boss.id))
                    .unwrap()
                    .and_then(|balance| balance.net_credit_posted())
                    .unwrap_or(0);
                prop_assert_eq!(
                    account,
                    commission_owed,
                    "the staff account holds what the receipts say"
                );
                if order.kind == tongka_domain::OrderKind::Checkout {
                    sales.push(order.clone());
                }
                if let Some(original) = &order.original {
                    let now = till.order(actor.merchant, original).unwrap().unwrap();
                    let everything_back = now.lines.iter().all(|l| {
                        now.refunded_lines.get(&l.line).map(|r| r.0) == Some(l.quantity_milli)
                    });
                    if everything_back {
                        // To the fen and the point: every means of payment came back whole.
                        prop_assert_eq!(now.refunded.net_fen, now.moved.net_fen);
                        prop_assert_eq!(now.refunded.principal_fen, now.moved.principal_fen);
                        prop_assert_eq!(now.refunded.bonus_fen, now.moved.bonus_fen);
                        prop_assert_eq!(now.refunded.points_offset, now.moved.points_offset);
                        prop_assert_eq!(&now.refunded.tenders, &now.moved.tenders);
                        prop_assert_eq!(now.refunded.points_earned, now.moved.points_earned);
                        prop_assert_eq!(now.refunded.commission_fen, now.moved.commission_fen);
                        prop_assert_eq!(now.refunded.referrer_points, now.moved.referrer_points);
                    }
                    let returned = order.moved.principal_fen
                        + order.moved.bonus_fen
                        + order.moved.offset_value_fen
                        + order
                            .moved
                            .tenders
                            .iter()
                            .map(|t| t.amount_fen)
                            .sum::<u64>();
                    // Less what was kept for points already spent (policy `deduct`).
                    prop_assert_eq!(
                        returned + order.moved.clawback_fen,
                        order.moved.net_fen,
                        "a refund returns its value"
                    );
                    prop_assert_eq!(
                        order.moved.clawback_fen,
                        (order.moved.clawback_points * points_fen_per_100).div_ceil(100),
                        "spent points are paid at the configured value, rounded up"
                    );
                    // Under `negative` they are owed instead, and nothing else is.
                    let owed = if options.spent_points == SpentPoints::Negative {
                        order.moved.clawback_points
                    } else {
                        0
                    };
                    prop_assert_eq!(order.moved.points_owed, owed);
                    // The referrer's spent share: owed under `negative`, else let go.
                    let (owes, lets_go) = (
                        order.moved.referrer_points_owed,
                        order.moved.referrer_points_written_off,
                    );
                    if options.spent_points == SpentPoints::Negative {
                        prop_assert_eq!(lets_go, 0);
                    } else {
                        prop_assert_eq!(owes, 0);
                    }
                }
            }
            // Refusals the sequence can run into; each must have changed nothing.
            Err(
                TillError::NothingToRefund
                | TillError::RefundOverLine { .. }
                | TillError::PointsAlreadySpent { .. }
                | TillError::InsufficientStoredValue { .. }
                | TillError::InsufficientPoints { .. }
                | TillError::ConversionTooSmall { .. }
                | TillError::GiftOutOfStock { .. },
            ) => {}
            Err(other) => prop_assert!(false, "unexpected refusal: {other}"),
        }
        check(&book, &members, &expected)?;
        if let Ok(order) = &answer
            && let Some(taken) = &order.gift
            && !redeemed.contains(&order.id)
        {
            redeemed.push(order.id.clone());
            taken_total += u64::from(taken.quantity);
        }
        let stock = directory.gifts(boss.merchant).unwrap()[0].stock;
        prop_assert_eq!(
            stock + taken_total,
            GIFT_STOCK,
            "every gift taken is one out of stock"
        );
        last = Some((request, answer));
    }
    till.drained().await;
    drop(till);
    drop(book);
    let report = tongka_ledger::verify(&ledger_path).unwrap();
    prop_assert!(report.violations.is_empty(), "{:?}", report.violations);
    Ok(answers)
}

const GIFT_STOCK: u64 = 4;

/// What a spent point is worth when a refund deducts it: ¥1 per 100 points, as `Rules` offers.
const POINTS_FEN_PER_100: u64 = 100;

/// The till's settings under each spent-points policy: 0 refuse, 1 deduct, 2 negative.
/// The till as head office's `boss` works it at `store` (no terminal).
fn boss_at(boss: &tongka_domain::Staff, store: &tongka_domain::Store) -> TillActor {
    TillActor {
        merchant: boss.merchant,
        store: store.id,
        staff: Some(boss.id),
        terminal: None,
    }
}

fn options(policy: u8) -> TillOptions {
    TillOptions {
        spent_points: match policy {
            1 => SpentPoints::Deduct {
                fen_per_100_points: POINTS_FEN_PER_100,
            },
            2 => SpentPoints::Negative,
            _ => SpentPoints::Refuse,
        },
        // Half a fen a point: one point alone is too little to turn into money.
        points_to_stored_value_fen_per_100: 50,
        ..TillOptions::default()
    }
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// She earns 90 points on a ¥100 order, spends them on the next, then returns the first: the
/// 90 points cannot all be taken back (she holds the 18 the second order earned).
fn earn_spend_return() -> Vec<Step> {
    vec![
        Step::TopUp {
            member: 0,
            fen: 20_000,
        },
        Step::Checkout {
            member: 0,
            lines: vec![(1_000, 10_000)],
            stored_percent: 100,
            points: false,
        },
        Step::Checkout {
            member: 0,
            lines: vec![(1_000, 2_000)],
            stored_percent: 100,
            points: true,
        },
        Step::Refund {
            sale: 0,
            line: None,
        },
    ]
}

#[test]
fn a_refund_of_spent_points_is_refused_by_default() {
    let answers = block_on(scenario(earn_spend_return(), options(0))).unwrap();
    assert_eq!(answers.len(), 4);
    let refused = answers[3].as_ref().unwrap_err();
    assert!(
        refused.contains("takes back 90 points") && refused.contains("has 18"),
        "{refused}"
    );
}

#[test]
fn a_refund_of_spent_points_keeps_their_value_under_deduct() {
    let answers = block_on(scenario(earn_spend_return(), options(1))).unwrap();
    let refund = answers[3].as_ref().unwrap();
    let moved = &refund.moved;
    // 90 to take back, 18 held: 72 paid for at ¥1 a hundred, kept from the stored value.
    assert_eq!((moved.points_earned, moved.clawback_points), (18, 72));
    assert_eq!(moved.clawback_fen, 72);
    assert_eq!(moved.net_fen, 9_000);
    assert_eq!(moved.principal_fen + moved.bonus_fen, 9_000 - 72);
    assert_eq!(refund.balances_after.points, 0);
}

#[test]
fn a_refund_of_spent_points_leaves_a_debt_the_next_earnings_repay_under_negative() {
    let mut steps = earn_spend_return();
    // Another ¥100 order: its 90 points repay the 72 owed first.
    steps.push(Step::Checkout {
        member: 0,
        lines: vec![(1_000, 10_000)],
        stored_percent: 0,
        points: false,
    });
    let answers = block_on(scenario(steps, options(2))).unwrap();
    let refund = answers[3].as_ref().unwrap();
    // 90 taken back: the 18 held, and 72 owed; all the money goes back.
    let moved = &refund.moved;
    assert_eq!(
        (
            moved.points_earned,
            moved.clawback_points,
            moved.points_owed
        ),
        (18, 72, 72)
    );
    assert_eq!((moved.clawback_fen, moved.net_fen), (0, 9_000));
    assert_eq!(moved.principal_fen + moved.bonus_fen, 9_000);
    assert_eq!(
        (
            refund.balances_after.points,
            refund.balances_after.points_owed
        ),
        (0, 72)
    );
    let next = answers[4].as_ref().unwrap();
    assert_eq!(
        (next.moved.points_earned, next.moved.points_repaid),
        (90, 72)
    );
    assert_eq!(
        (next.balances_after.points, next.balances_after.points_owed),
        (18, 0)
    );
}

/// The first member (the referrer) owes 72 points after a refund of points she spent; the
/// second member's ¥1,000 order gives her 180 referral points, which repay the 72 first. She
/// turns the other 108 into stored value; then the second member returns his order, and the 180
/// are taken back from a referrer who holds none of them.
fn referrer_owes_earns_spends_and_is_refunded() -> Vec<Step> {
    let mut steps = earn_spend_return();
    steps.extend([
        Step::Checkout {
            member: 1,
            lines: vec![(1_000, 100_000)],
            stored_percent: 0,
            points: false,
        },
        Step::Convert {
            member: 0,
            points: 108,
        },
        Step::Refund {
            sale: 2,
            line: None,
        },
    ]);
    steps
}

/// The same sequence under `negative` and `deduct`. Under `negative` her 72-point debt is
/// repaid from the 180 she is given, and when the referred order is refunded the 180 she has
/// spent become her debt again. Under `deduct` she has no debt to repay (she paid for her spent
/// points at her own refund), and the refund takes back the 72 she still holds and lets go of
/// the 108 she spent: the member gets all his money back, never charged for her spending.
#[test]
fn a_referrers_share_repays_her_debt_and_her_spent_share_is_settled_by_policy() {
    // (policy; the sale's referrer points and repaid; the refund's referrer points taken back,
    // owed and written off)
    for (policy, sale_expected, refund_expected) in
        [(2, (180, 72), (0, 180, 0)), (1, (180, 0), (72, 0, 108))]
    {
        let answers = block_on(scenario(
            referrer_owes_earns_spends_and_is_refunded(),
            options(policy),
        ));
        let answers = answers.unwrap();
        let sale = answers[4].as_ref().unwrap();
        assert_eq!(sale.moved.points_earned, 900, "policy {policy}");
        assert_eq!(
            (
                sale.moved.referrer_points,
                sale.moved.referrer_points_repaid
            ),
            sale_expected,
            "policy {policy}"
        );
        let refund = answers[6].as_ref().unwrap();
        assert_eq!(
            (
                refund.moved.referrer_points,
                refund.moved.referrer_points_owed,
                refund.moved.referrer_points_written_off
            ),
            refund_expected,
            "policy {policy}"
        );
        assert_eq!(
            (refund.moved.clawback_fen, refund.moved.net_fen),
            (0, 90_000),
            "policy {policy}: the member gets all his money back"
        );
    }
}

/// Balances as the receipts say, and no member account past its limit.
fn check(
    book: &Members,
    members: &[tongka_domain::MemberId],
    expected: &[Expected],
) -> Result<(), TestCaseError> {
    for (member, want) in members.iter().zip(expected) {
        let held = book.balances(*member).unwrap();
        prop_assert_eq!(i128::try_from(held.principal_fen).unwrap(), want.principal);
        prop_assert_eq!(i128::try_from(held.bonus_fen).unwrap(), want.bonus);
        prop_assert_eq!(i128::try_from(held.points).unwrap(), want.points);
        prop_assert_eq!(i128::try_from(held.points_owed).unwrap(), want.owed);
        for account in MemberAccount::ALL {
            if let Some(balance) = book.ledger().balance(account.id(*member)).unwrap() {
                prop_assert!(
                    balance.debits_posted + balance.debits_pending <= balance.credits_posted,
                    "{account:?} of {member} owes more than it holds"
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_keeps_balances_true_and_the_ledger_clean(
        steps in prop::collection::vec(step(), 1..40),
        policy in 0..3u8,
    ) {
        block_on(scenario(steps, options(policy)))?;
    }
}

/// [`Rules`] that count how often they are asked for a quote, under a version the test changes.
struct Counted {
    quotes: std::sync::atomic::AtomicUsize,
    version: std::sync::Mutex<String>,
}

impl Counted {
    fn quotes(&self) -> usize {
        self.quotes.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Scheme for Counted {
    fn quote_checkout(
        &self,
        context: &SchemeContext<'_>,
        lines: &[TillLine],
    ) -> Result<Vec<Effect>, SchemeFailure> {
        self.quotes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        RULES.quote_checkout(context, lines)
    }
    fn commit_checkout(
        &self,
        context: &SchemeContext<'_>,
        lines: &[TillLine],
        paid: Paid,
        accepted: &[Effect],
    ) -> Result<Vec<Effect>, SchemeFailure> {
        RULES.commit_checkout(context, lines, paid, accepted)
    }
    fn top_up(&self, context: &SchemeContext<'_>, paid: u64) -> Result<Vec<Effect>, SchemeFailure> {
        RULES.top_up(context, paid)
    }
    fn refund(
        &self,
        context: &SchemeContext<'_>,
        original: &str,
        lines: &[TillLine],
    ) -> Result<Vec<Effect>, SchemeFailure> {
        RULES.refund(context, original, lines)
    }
    fn rules_version(&self) -> String {
        self.version.lock().unwrap().clone()
    }
}

/// A commit checks its quote with the proposal the member was shown, kept by the till, rather
/// than asking the scheme again; what the token covers still decides: new balances or new rules
/// make it stale, and a till without the proposal (a restart) asks the scheme again.
#[test]
fn a_commit_reuses_its_quotes_proposal_only_while_the_token_holds() {
    block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let directory = common::directory_in(dir.path());
        let ledger = common::ledger_in(dir.path());
        let (boss, store) = common::boss_and_store(&directory, NOW);
        let book = Members::open(Arc::clone(&directory), ledger).await.unwrap();
        let member = join(&book, &boss, None).await;
        let till = Till::new(book.clone(), options(0));
        let actor = boss_at(&boss, &store);
        let scheme = Counted {
            quotes: Default::default(),
            version: std::sync::Mutex::new("rules-1".into()),
        };
        let top_up = |order: &str| common::top_up(order, member, 5_000);
        till.top_up(&actor, &scheme, &top_up("T-1"), NOW)
            .await
            .unwrap()
            .unwrap();
        let sale = |order: &str| CheckoutRequest {
            order: order.into(),
            member,
            lines: vec![TillLine {
                line: 1,
                sku: "MILK".into(),
                category: String::new(),
                quantity_milli: 1_000,
                unit_price_fen: 1_000,
                promotional: false,
                no_points: false,
                no_discount: false,
            }],
        };
        async fn checkout(
            till: &Till,
            (actor, scheme): (&TillActor, &Counted),
            request: CheckoutRequest,
            token: String,
            fen: u64,
        ) -> Result<Order, TillError> {
            let payment = Payment {
                stored_value_fen: fen,
                points: 0,
                tenders: Vec::new(),
                seller: None,
            };
            till.checkout(actor, scheme, &request, &payment, &token, NOW)
                .await
                .unwrap()
        }
        let by = (&actor, &scheme);

        // Quoted once, committed without asking again.
        let quote = till
            .quote(&actor, &scheme, &sale("S-1"), NOW)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(scheme.quotes(), 1);
        let paid = quote.payable_fen;
        let done = checkout(&till, by, sale("S-1"), quote.token, paid)
            .await
            .unwrap();
        assert_eq!(done.moved.principal_fen, paid);
        assert_eq!(scheme.quotes(), 1, "the kept proposal served the commit");

        // Her balance changes between quote and commit: stale, with a fresh quote.
        let quote = till
            .quote(&actor, &scheme, &sale("S-2"), NOW)
            .await
            .unwrap()
            .unwrap();
        till.top_up(&actor, &scheme, &top_up("T-2"), NOW)
            .await
            .unwrap()
            .unwrap();
        let stale = checkout(&till, by, sale("S-2"), quote.token.clone(), paid).await;
        let Err(TillError::QuoteStale(fresh)) = stale else {
            panic!("{stale:?}");
        };
        assert_ne!(fresh.token, quote.token);

        // The rules change between quote and commit: stale.
        let quote = till
            .quote(&actor, &scheme, &sale("S-3"), NOW)
            .await
            .unwrap()
            .unwrap();
        *scheme.version.lock().unwrap() = "rules-2".into();
        let stale = checkout(&till, by, sale("S-3"), quote.token, paid).await;
        assert!(matches!(stale, Err(TillError::QuoteStale(_))), "{stale:?}");

        // A till that never made the quote (the box restarted) asks the scheme again.
        let quote = till
            .quote(&actor, &scheme, &sale("S-4"), NOW)
            .await
            .unwrap()
            .unwrap();
        let asked = scheme.quotes();
        let restarted = Till::new(book.clone(), options(0));
        let done = checkout(&restarted, by, sale("S-4"), quote.token, paid)
            .await
            .unwrap();
        assert_eq!(done.moved.principal_fen, paid);
        assert_eq!(scheme.quotes(), asked + 1);
    });
}

/// A shop's files opened as the box opens them.
struct Opened {
    directory: Arc<Directory>,
    book: Members,
    till: Till,
}

impl Opened {
    /// Closes the files as the box stops: once the records of the sales it answered are
    /// written.
    async fn close(self) {
        self.till.drained().await;
    }
}

async fn open_shop(dir: &std::path::Path) -> Opened {
    let directory = common::directory_in(dir);
    let ledger = common::ledger_in(dir);
    let book = Members::open(Arc::clone(&directory), ledger).await.unwrap();
    let till = Till::new(book.clone(), options(2));
    Opened {
        directory,
        book,
        till,
    }
}

/// A new member signed up by `boss`, referred by `referrer`.
async fn join(
    book: &Members,
    boss: &tongka_domain::Staff,
    referrer: Option<tongka_domain::MemberId>,
) -> tongka_domain::MemberId {
    let joining = NewMember {
        referrer,
        ..NewMember::default()
    };
    book.create(boss, &joining, NOW)
        .await
        .unwrap()
        .unwrap()
        .member
        .id
}

/// One tea at `price` fen for `member`, under `order`.
fn tea_sale(order: &str, member: tongka_domain::MemberId, price: u64) -> CheckoutRequest {
    CheckoutRequest {
        order: order.into(),
        member,
        lines: vec![TillLine {
            line: 1,
            sku: "TEA".into(),
            category: String::new(),
            quantity_milli: 1_000,
            unit_price_fen: price,
            promotional: false,
            no_points: false,
            no_discount: false,
        }],
    }
}

/// The same sale sent twice at once (a POS retrying while its first attempt is still on its
/// way): both get the one receipt, the money moves once, and the member's statistics count one
/// visit.
#[test]
fn the_same_sale_twice_at_once_is_one_sale_with_one_visit() {
    block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let shop = open_shop(dir.path()).await;
        let (boss, store) = common::boss_and_store(&shop.directory, NOW);
        let member = join(&shop.book, &boss, None).await;
        let actor = boss_at(&boss, &store);
        shop.till
            .top_up(&actor, &RULES, &common::top_up("T-1", member, 100_000), NOW)
            .await
            .unwrap()
            .unwrap();
        let before = shop.book.balances(member).unwrap();
        let mut paid = 0;
        for round in 0..10 {
            let sale = tea_sale(&format!("S-{round}"), member, 3_000);
            let quote = shop
                .till
                .quote(&actor, &RULES, &sale, NOW)
                .await
                .unwrap()
                .unwrap();
            let payment = Payment {
                stored_value_fen: quote.payable_fen,
                points: 0,
                tenders: Vec::new(),
                seller: None,
            };
            let commit = || {
                shop.till
                    .checkout(&actor, &RULES, &sale, &payment, &quote.token, NOW)
            };
            let (first, second) = tokio::join!(commit(), commit());
            let (first, second) = (first.unwrap().unwrap(), second.unwrap().unwrap());
            assert_eq!(first, second, "round {round}");
            paid += u128::from(quote.payable_fen);
        }
        let after = shop.book.balances(member).unwrap();
        assert_eq!(
            before.principal_fen + before.bonus_fen - after.principal_fen - after.bonus_fen,
            paid
        );
        assert_eq!(shop.till.stats(member).unwrap().visits, 10);
    });
}

/// The box stops after a sale's ledger batch is durable and before its order record is: what
/// that leaves is the ledger with the sale and the directory as it was before it, which this
/// test makes by putting back a copy of `directory.redb` taken before the sale. The till then
/// retries the same commit (same order, token and payment): it completes with the receipt the
/// sale would have had, the money moves once, and the ledger verifies clean. The same for a
/// refund that leaves a points debt (policy `negative`) and a top-up whose points repay it —
/// both of which a retry would work out differently from the balances after their own batch.
#[test]
fn a_retry_completes_a_sale_whose_record_was_lost_after_its_ledger_batch() {
    block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let shop = open_shop(dir.path()).await;
        let (boss, store) = common::boss_and_store(&shop.directory, NOW);
        let referrer = join(&shop.book, &boss, None).await;
        let member = join(&shop.book, &boss, Some(referrer)).await;
        let actor = boss_at(&boss, &store);
        // ¥200 paid in (¥40 on top), and points from a first sale.
        let top_up = common::top_up("T-1", member, 20_000);
        shop.till
            .top_up(&actor, &POINTS_FOR_TOP_UPS, &top_up, NOW)
            .await
            .unwrap()
            .unwrap();
        let sale = |order: &str, price: u64| tea_sale(order, member, price);
        let quote = shop
            .till
            .quote(&actor, &POINTS_FOR_TOP_UPS, &sale("S-1", 10_000), NOW)
            .await
            .unwrap()
            .unwrap();
        let pay_all = |fen| Payment {
            stored_value_fen: fen,
            points: 0,
            tenders: Vec::new(),
            seller: None,
        };
        shop.till
            .checkout(
                &actor,
                &POINTS_FOR_TOP_UPS,
                &sale("S-1", 10_000),
                &pay_all(quote.payable_fen),
                &quote.token,
                NOW,
            )
            .await
            .unwrap()
            .unwrap();

        // S-2 pays with points and stored value: quoted, then the box's files are copied.
        let request = sale("S-2", 4_000);
        let quote = shop
            .till
            .quote(&actor, &POINTS_FOR_TOP_UPS, &request, NOW)
            .await
            .unwrap()
            .unwrap();
        let offer = quote.offset.unwrap();
        let payment = Payment {
            points: offer.max_points,
            ..pay_all(quote.payable_fen - offer.max_value_fen)
        };
        shop.close().await;
        let saved = dir.path().join("directory.before");
        let live = dir.path().join("directory.redb");
        std::fs::copy(&live, &saved).unwrap();

        /// The same commit each time: order, payment and token as first sent.
        async fn commit(
            till: &Till,
            actor: &TillActor,
            request: &CheckoutRequest,
            payment: &Payment,
            token: &str,
        ) -> Order {
            till.checkout(actor, &POINTS_FOR_TOP_UPS, request, payment, token, NOW)
                .await
                .unwrap()
                .unwrap()
        }
        let shop = open_shop(dir.path()).await;
        let sold = commit(&shop.till, &actor, &request, &payment, &quote.token).await;
        let held = shop.book.balances(member).unwrap();
        let referrer_held = shop.book.balances(referrer).unwrap();
        assert!(sold.moved.points_offset > 0 && sold.moved.principal_fen > 0);
        shop.close().await;
        // What the crash leaves: the sale in the ledger, not in the directory.
        std::fs::copy(&saved, &live).unwrap();

        let shop = open_shop(dir.path()).await;
        assert!(
            shop.till.order(actor.merchant, "S-2").unwrap().is_none(),
            "the record is gone"
        );
        let retried = commit(&shop.till, &actor, &request, &payment, &quote.token).await;
        assert_eq!(retried.moved, sold.moved);
        assert_eq!(retried.transfers, sold.transfers);
        assert_eq!(retried.balances_after, sold.balances_after);
        assert_eq!(shop.book.balances(member).unwrap(), held, "moved once");
        assert_eq!(shop.book.balances(referrer).unwrap(), referrer_held);
        // Recorded now: the next retry is answered from the record.
        let again = commit(&shop.till, &actor, &request, &payment, &quote.token).await;
        assert_eq!(again, retried);

        // S-2 spent the 90 points S-1 earned: returning S-1 takes back the 36 S-2 earned and
        // leaves 54 owed. Then ¥1,000 paid in earns 100 points, 54 of which repay the debt.
        let refund = RefundRequest {
            order: "R-1".into(),
            original: "S-1".into(),
            lines: Vec::new(),
        };
        let top_up = TopUpRequest {
            order: "T-2".into(),
            amount_fen: 100_000,
            ..top_up
        };
        async fn write(
            till: &Till,
            actor: &TillActor,
            request: &Result<TopUpRequest, RefundRequest>,
        ) -> Order {
            match request {
                Ok(top_up) => till.top_up(actor, &POINTS_FOR_TOP_UPS, top_up, NOW).await,
                Err(refund) => till.refund(actor, &POINTS_FOR_TOP_UPS, refund, NOW).await,
            }
            .unwrap()
            .unwrap()
        }
        shop.close().await;
        for request in [Err(refund), Ok(top_up)] {
            std::fs::copy(&live, &saved).unwrap();
            let shop = open_shop(dir.path()).await;
            let done = write(&shop.till, &actor, &request).await;
            let held = shop.book.balances(member).unwrap();
            shop.close().await;
            std::fs::copy(&saved, &live).unwrap();
            let shop = open_shop(dir.path()).await;
            assert!(shop.till.order(actor.merchant, &done.id).unwrap().is_none());
            let retried = write(&shop.till, &actor, &request).await;
            assert_eq!(
                (&retried.moved, &retried.transfers, &retried.balances_after),
                (&done.moved, &done.transfers, &done.balances_after),
                "{}",
                done.id
            );
            assert_eq!(shop.book.balances(member).unwrap(), held, "{}", done.id);
            shop.close().await;
        }
        let shop = open_shop(dir.path()).await;
        let refunded = shop.till.order(actor.merchant, "R-1").unwrap().unwrap();
        let topped_up = shop.till.order(actor.merchant, "T-2").unwrap().unwrap();
        assert_eq!(
            (refunded.moved.points_owed, topped_up.moved.points_repaid),
            (54, 54)
        );
        shop.close().await;
        let report = tongka_ledger::verify(&dir.path().join("ledger.redb")).unwrap();
        assert!(report.violations.is_empty(), "{:?}", report.violations);
    });
}

/// A card opened at the till with a fee and a first top-up, stopped after its batch and before
/// its receipt (here: the receipt and the statistics it would have written taken out of
/// `directory.redb`, which is what such a stop leaves; the member, written before the batch,
/// stays). The POS's retry of the same opening goes on with that member — not a second one, and
/// not a refusal because her card is taken — and completes once, with the receipt.
#[test]
fn a_retried_card_opening_goes_on_with_the_member_its_first_attempt_made() {
    block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let shop = open_shop(dir.path()).await;
        let (boss, store) = common::boss_and_store(&shop.directory, NOW);
        let actor = boss_at(&boss, &store);
        let new = NewMember {
            card: Some(tongka_domain::NewCard {
                number: "8800-0001".into(),
                kind: "barcode".into(),
            }),
            ..NewMember::default()
        };
        let opening = tongka_domain::Opening {
            order: "OPEN-1".into(),
            card_fee_fen: 1_000,
            top_up_fen: 20_000,
            tenders: Vec::new(),
            seller: None,
            approved_by: None,
        };
        /// The POS sending this opening, to whichever till is running (the box restarts).
        struct Pos<'a> {
            actor: &'a TillActor,
            boss: &'a tongka_domain::Staff,
            opening: &'a tongka_domain::Opening,
        }
        impl Pos<'_> {
            /// One attempt at the opening for `new`.
            async fn attempt(
                &self,
                till: &Till,
                new: &NewMember,
            ) -> Result<(tongka_domain::MemberView, Option<Order>), TillError> {
                till.open_card(
                    self.actor,
                    tongka_domain::Signer::Staff(self.boss),
                    &POINTS_FOR_TOP_UPS,
                    new,
                    Some(self.opening),
                    NOW,
                )
                .await
                .unwrap()
            }

            /// An attempt that must open the card, with its receipt.
            async fn open(
                &self,
                till: &Till,
                new: &NewMember,
            ) -> (tongka_domain::MemberView, Order) {
                let (view, receipt) = self.attempt(till, new).await.unwrap();
                (view, receipt.unwrap())
            }

            /// Another opening under the same order id: refused.
            async fn another_is_refused(&self, till: &Till, other: &NewMember) {
                let refused = self.attempt(till, other).await;
                assert!(
                    matches!(refused, Err(TillError::OrderIdReused)),
                    "{refused:?}"
                );
            }
        }
        let pos = Pos {
            actor: &actor,
            boss: &boss,
            opening: &opening,
        };
        let (view, receipt) = pos.open(&shop.till, &new).await;
        let held = shop.book.balances(view.member.id).unwrap();
        assert_eq!((held.principal_fen, held.bonus_fen), (20_000, 4_000));
        shop.close().await;
        {
            let db = redb::Database::open(dir.path().join("directory.redb")).unwrap();
            let txn = db.begin_write().unwrap();
            let orders: redb::TableDefinition<(u128, &str), &[u8]> =
                redb::TableDefinition::new("orders");
            let stats: redb::TableDefinition<u128, &[u8]> =
                redb::TableDefinition::new("member_stats");
            assert!(
                txn.open_table(orders)
                    .unwrap()
                    .remove((boss.merchant.0, "OPEN-1"))
                    .unwrap()
                    .is_some()
            );
            txn.open_table(stats)
                .unwrap()
                .remove(view.member.id.0)
                .unwrap();
            txn.commit().unwrap();
        }

        let shop = open_shop(dir.path()).await;
        let (again, retried) = pos.open(&shop.till, &new).await;
        assert_eq!(again.member.id, view.member.id, "the same member");
        assert_eq!(
            (&retried.moved, &retried.transfers),
            (&receipt.moved, &receipt.transfers)
        );
        assert_eq!(
            shop.book.balances(view.member.id).unwrap(),
            held,
            "paid in once"
        );
        let other = NewMember {
            card: Some(tongka_domain::NewCard {
                number: "8800-0002".into(),
                kind: "barcode".into(),
            }),
            ..NewMember::default()
        };
        // Another opening under the same order id is refused.
        pos.another_is_refused(&shop.till, &other).await;

        // The daily jobs let go of the note once the receipt is kept; the receipt then answers
        // the retry and refuses the id for another opening on its own.
        let card_openings: redb::TableDefinition<(u128, &str), (u128, &str)> =
            redb::TableDefinition::new("card_openings");
        let notes = |dir: &std::path::Path| {
            let db = redb::Database::open(dir.join("directory.redb")).unwrap();
            let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
            let table = txn.open_table(card_openings).unwrap();
            redb::ReadableTableMetadata::len(&table).unwrap()
        };
        shop.close().await;
        assert_eq!(notes(dir.path()), 1, "kept until the daily jobs");
        let shop = open_shop(dir.path()).await;
        let run = shop
            .till
            .daily_run(boss.merchant, &POINTS_FOR_TOP_UPS, NOW)
            .await
            .unwrap();
        assert_eq!(run.card_openings_pruned, 1);
        let (third, replayed) = pos.open(&shop.till, &new).await;
        assert_eq!(third.member.id, view.member.id);
        assert_eq!(replayed.transfers, receipt.transfers);
        pos.another_is_refused(&shop.till, &other).await;
        shop.close().await;
        assert_eq!(notes(dir.path()), 0, "let go");
        let report = tongka_ledger::verify(&dir.path().join("ledger.redb")).unwrap();
        assert!(report.violations.is_empty(), "{:?}", report.violations);
    });
}
