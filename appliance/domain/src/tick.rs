//! 每日结算 / The scheme's daily tick: once a day, each live member is shown to the loyalty
//! scheme (the plugins routed to `daily-tick`), which may give points or growth (生日礼), take
//! them away (expiry), set a tier, issue coupons or send messages.
//!
//! Only when some plugin is routed to the hook is anyone asked. Each member's answer is one
//! ledger batch kept as the order `tick-YYYYMMDD-{member}`: a run cut short and run again the
//! same day skips those already done, and one that failed for a member (a plugin trap) is asked
//! again. Points given repay a points debt first; points and growth taken are never more than
//! the member holds. The counterpart is the member's home store (or the merchant's first, by
//! code), whose points-issued account the points come from and go back to. Effects for the
//! referrer are not applied: a tick is about the member.

use crate::accounts::{MemberAccount, StoreAccount, transfer_code};
use crate::member::{MemberStatus, TierId};
use crate::members::MERCHANT_UTC_OFFSET_MINUTES;
use crate::merchant::MerchantId;
use crate::store::Date;
use crate::till::{
    Earned, Legs, LocalTime, Moved, Order, OrderKind, Party, Scheme, SchemeContext, Till,
    TillActor, order_key, part, scheme_set,
};
use crate::{DomainError, Effect, UnixMillis};

/// The most failures a run reports in words (all are counted).
const FAILURES_KEPT: usize = 16;

/// What one tick run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DailyTick {
    /// False when no plugin is routed to `daily-tick`: nobody was asked.
    pub enabled: bool,
    /// Members asked.
    pub asked: u64,
    /// Members whose answer changed something (an order kept).
    pub changed: u64,
    /// Members the scheme failed for (asked again on the next run).
    pub failed: u64,
    /// The first failures, `member: why`, for the log.
    pub failures: Vec<String>,
}

impl DailyTick {
    fn failed(&mut self, member: crate::MemberId, why: impl std::fmt::Display) {
        self.failed += 1;
        if self.failures.len() < FAILURES_KEPT {
            self.failures.push(format!("{member}: {why}"));
        }
    }
}

/// The order id of `member`'s tick on `date`.
pub fn tick_order_id(date: Date, member: crate::MemberId) -> String {
    format!(
        "tick-{:04}{:02}{:02}-{member}",
        date.year, date.month, date.day
    )
}

/// Points and growth given (+) and taken (−) by a tick's effects for the member.
fn member_amounts(effects: &[Effect]) -> (u64, u64, u64, u64) {
    let (mut points_in, mut points_out, mut growth_in, mut growth_out) = (0u64, 0u64, 0u64, 0u64);
    for effect in effects {
        let (amount, plus, minus) = match effect {
            Effect::EarnPoints {
                to: Party::Member,
                points,
                ..
            } => (*points, &mut points_in, &mut points_out),
            Effect::GrantGrowth {
                to: Party::Member,
                points,
                ..
            } => (*points, &mut growth_in, &mut growth_out),
            _ => continue,
        };
        if amount >= 0 {
            *plus = plus.saturating_add(amount.unsigned_abs());
        } else {
            *minus = minus.saturating_add(amount.unsigned_abs());
        }
    }
    (points_in, points_out, growth_in, growth_out)
}

impl Till {
    /// Asks `scheme` about every live member of `merchant` for the day of `now` (China time)
    /// and applies what it answers.
    pub async fn daily_tick(
        &self,
        merchant: MerchantId,
        scheme: &dyn Scheme,
        now: UnixMillis,
    ) -> Result<DailyTick, DomainError> {
        if !scheme.ticks() {
            return Ok(DailyTick::default());
        }
        let _one_at_a_time = self.daily.lock().await;
        let mut tick = DailyTick {
            enabled: true,
            ..DailyTick::default()
        };
        let stores = self.members.directory().merchant_stores(merchant)?;
        let Some(first_store) = stores.first() else {
            return Ok(tick);
        };
        let at = LocalTime::at(now);
        let today = Date::at(now, MERCHANT_UTC_OFFSET_MINUTES);
        for member in self.members.members_of(merchant)? {
            if !matches!(member.status, MemberStatus::Active | MemberStatus::Frozen) {
                continue;
            }
            let order_id = tick_order_id(today, member.id);
            if self.order(merchant, &order_id)?.is_some() {
                continue;
            }
            let store = member
                .home_store
                .and_then(|home| stores.iter().find(|store| store.id == home))
                .unwrap_or(first_store);
            let balances = self.members.balances(member.id)?;
            let context = SchemeContext {
                order: &order_id,
                member: self.scheme_member(&member, balances, self.stats(member.id)?)?,
                store,
                at,
            };
            tick.asked += 1;
            let effects = match scheme.daily_tick(&context) {
                Ok(effects) => effects,
                Err(failure) => {
                    let why = format!("{} ({}): {}", failure.plugin, failure.kind, failure.detail);
                    tick.failed(member.id, why);
                    continue;
                }
            };
            if effects.is_empty() {
                continue;
            }
            let tier_set: Option<TierId> = match self.tier_named(merchant, &effects)? {
                Ok(tier) => tier,
                Err(refused) => {
                    tick.failed(member.id, refused);
                    continue;
                }
            };
            let (points_in, points_out, growth_in, growth_out) = member_amounts(&effects);
            let points_out = points_out.min(u64::try_from(balances.points).unwrap_or(u64::MAX));
            let growth_out = growth_out.min(u64::try_from(balances.growth).unwrap_or(u64::MAX));
            let (m, s) = (member.id, store.id);
            let mut legs = Legs::new(order_key(merchant, &order_id), None);
            let mut gains = Earned {
                points: points_in,
                growth: growth_in,
                referrer_points: 0,
            };
            let repaid = legs.repay(s, m, balances.points_owed, &mut gains);
            legs.earnings(s, m, None, gains);
            legs.leg(
                part::POINTS_REMOVED,
                MemberAccount::Points.id(m),
                StoreAccount::PointsIssued.id(s),
                points_out,
                transfer_code::DAILY_TICK,
            );
            legs.leg(
                part::GROWTH_REMOVED,
                MemberAccount::Growth.id(m),
                StoreAccount::GrowthIssued.id(s),
                growth_out,
                transfer_code::DAILY_TICK,
            );
            let ids = legs.ids();
            if let Err(refused) = self.apply(s, m, legs.transfers).await? {
                tick.failed(m, refused);
                continue;
            }
            let actor = TillActor::the_box(merchant, s);
            let order = Order {
                id: order_id,
                kind: OrderKind::DailyTick,
                member: m,
                fingerprint: String::new(),
                moved: Moved {
                    points_earned: points_in,
                    points_repaid: repaid,
                    growth_earned: growth_in,
                    points_removed: points_out,
                    growth_removed: growth_out,
                    ..Moved::default()
                },
                effects,
                transfers: ids,
                ..Order::blank(&actor, now)
            };
            self.record(order, scheme_set(tier_set), 0).await?;
            tick.changed += 1;
        }
        Ok(tick)
    }
}

/// What one daily run did: the tick, the points expiry, the tier review, the bonus parts,
/// and how many completed card openings' notes were let go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DailyRun {
    pub tick: DailyTick,
    pub expiry: crate::PointsExpiry,
    pub review: crate::TierReview,
    pub payout: crate::BonusPayout,
    pub card_openings_pruned: u64,
}

impl Till {
    /// Today's daily jobs, in order: the scheme's tick (which may give points or set tiers),
    /// the year's points expiry, the tier review, the monthly bonus parts due; then the
    /// housekeeping of card openings completed (see [`Till::prune_card_openings`]).
    pub async fn daily_run(
        &self,
        merchant: MerchantId,
        scheme: &dyn Scheme,
        now: UnixMillis,
    ) -> Result<DailyRun, DomainError> {
        Ok(DailyRun {
            tick: self.daily_tick(merchant, scheme, now).await?,
            expiry: self.expire_points(merchant, now).await?,
            review: self.review_tiers(merchant, now).await?,
            payout: self.pay_bonus_parts(merchant, now).await?,
            card_openings_pruned: self.prune_card_openings(merchant).await?,
        })
    }
}
