//! 等级评定 / The tier review: tiers are held for an evaluation period (`tier_review_days`), and
//! at its end a member keeps their tier only if they met its thresholds within the period.
//!
//! Upgrades happen at the till, the moment a threshold is reached; a downgrade waits for the end
//! of the period, run by the daily review (and by head office on demand). A period starts when
//! the member joins, reaches a tier at the till, or is reviewed; a tier set by hand, by import or
//! by a merge starts one too (its tier history says when). What counts in the period is what the
//! till keeps per member (`MemberStats::period_*`): spend, growth earned, the largest single
//! top-up, and the points held now — any one threshold met is enough, as for an upgrade. A member
//! who falls short moves to the highest tier below whose thresholds they did meet, or the lowest;
//! a tier without thresholds (reached only by hand or by a scheme) has nothing to keep up and
//! stays. Either way a new period begins. Reviewing twice a day changes nothing the second time.

use crate::directory::encode;
use crate::member::{Member, MemberStatus, Thresholds, Tier, TierId};
use crate::members::{Balances, MERCHANT_UTC_OFFSET_MINUTES, TierReason};
use crate::merchant::MerchantId;
use crate::store::Date;
use crate::till::{MEMBER_STATS, MemberStats, Till, stats_in};
use crate::{DomainError, UnixMillis};

const DAY_MS: u64 = 86_400_000;

/// What one review did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TierReview {
    /// False when the merchant keeps tiers for good (`tier_review_days` = 0): nothing was read.
    pub enabled: bool,
    /// Members whose period had ended.
    pub due: u64,
    pub kept: u64,
    pub moved_down: u64,
}

/// Whether what the member did in the period meets any of `thresholds`.
fn met(thresholds: &Thresholds, stats: &MemberStats, balances: &Balances) -> bool {
    let reached =
        |threshold: Option<u64>, value: u128| threshold.is_some_and(|t| value >= u128::from(t));
    reached(thresholds.growth, u128::from(stats.period_growth))
        || reached(
            thresholds.total_spend_fen,
            u128::from(stats.period_spend_fen),
        )
        || reached(
            thresholds.single_top_up_fen,
            u128::from(stats.period_top_up_max_fen),
        )
        || reached(thresholds.points, balances.points)
}

/// The tier a member on `current` keeps after a period of `stats`: the highest tier at or below
/// it whose thresholds they met (or that has none), else the lowest. `None` if `current` is not
/// one of `tiers` (deleted): left alone.
pub(crate) fn kept_tier(
    tiers: &[Tier],
    current: TierId,
    stats: &MemberStats,
    balances: &Balances,
) -> Option<TierId> {
    let rank = tiers.iter().find(|tier| tier.id == current)?.rank;
    tiers
        .iter()
        .filter(|tier| tier.rank <= rank)
        .filter(|tier| !tier.thresholds.any() || met(&tier.thresholds, stats, balances))
        .max_by_key(|tier| tier.rank)
        .or_else(|| tiers.iter().min_by_key(|tier| tier.rank))
        .map(|tier| tier.id)
}

impl Till {
    /// Reviews the tiers of every member of `merchant` whose evaluation period has ended by
    /// `now` (China time). Each member is written in its own transaction, grouped with the
    /// tills' writes.
    pub async fn review_tiers(
        &self,
        merchant: MerchantId,
        now: UnixMillis,
    ) -> Result<TierReview, DomainError> {
        let days = u64::from(self.options.tier_review_days);
        if days == 0 {
            return Ok(TierReview::default());
        }
        let _one_at_a_time = self.daily.lock().await;
        let tiers = self.members.tiers(merchant)?;
        let today = Date::at(now, MERCHANT_UTC_OFFSET_MINUTES);
        let mut review = TierReview {
            enabled: true,
            ..TierReview::default()
        };
        // Members on the lowest tier cannot move down: only the others are read further.
        let lowest = tiers.iter().map(|tier| tier.rank).min();
        for member in self.members.members_of(merchant)? {
            let rank = tiers
                .iter()
                .find(|tier| Some(tier.id) == member.tier)
                .map(|tier| tier.rank);
            if rank.is_none()
                || rank == lowest
                || !matches!(member.status, MemberStatus::Active | MemberStatus::Frozen)
            {
                continue;
            }
            if !self.period_ended(&member, today, days)? {
                continue;
            }
            review.due += 1;
            let balances = self.members.balances(member.id)?;
            if self
                .review_member(member.id, &tiers, balances, today, now)
                .await?
            {
                review.moved_down += 1;
            } else {
                review.kept += 1;
            }
        }
        Ok(review)
    }

    /// Whether `member`'s period, `days` long, had ended by `today`.
    fn period_ended(&self, member: &Member, today: Date, days: u64) -> Result<bool, DomainError> {
        let offset = MERCHANT_UTC_OFFSET_MINUTES;
        let joined = Date::at(member.joined_at, offset);
        let changed = self
            .members
            .last_tier_change(member.id)?
            .map(|at| Date::at(at, offset));
        let from = [Some(joined), changed, self.stats(member.id)?.period_from]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(joined);
        Ok(from.start(offset).plus_ms(days.saturating_mul(DAY_MS)) <= today.start(offset))
    }

    /// Reviews one member whose period has ended: moves them down if they fell short, and
    /// starts their next period. True if they moved down.
    async fn review_member(
        &self,
        id: crate::MemberId,
        tiers: &[Tier],
        balances: Balances,
        today: Date,
        now: UnixMillis,
    ) -> Result<bool, DomainError> {
        let members = self.members.clone();
        let tiers = tiers.to_vec();
        self.members
            .directory()
            .write_grouped(move |txn| {
                let Some(record) = members.member_record_in(txn, id)? else {
                    return Ok(false);
                };
                let mut stats_table = txn.open_table(MEMBER_STATS)?;
                let mut stats = stats_in(&stats_table, id)?;
                let kept = record
                    .tier
                    .and_then(|current| kept_tier(&tiers, current, &stats, &balances));
                let mut moved_down = false;
                if let Some(kept) = kept.filter(|kept| Some(*kept) != record.tier) {
                    let mut after = record.clone();
                    after.tier = Some(kept);
                    members.put_member_in(txn, Some(&record), &after)?;
                    members.note_tier_in(
                        txn,
                        record.tier,
                        &after,
                        TierReason::Review,
                        None,
                        now,
                    )?;
                    moved_down = true;
                }
                stats.restart_period(today);
                stats_table.insert(id.0, encode(&stats)?.as_slice())?;
                Ok(moved_down)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn tier(id: u128, rank: u16, thresholds: Thresholds) -> Tier {
        Tier {
            id: TierId(id),
            merchant: MerchantId(1),
            name: format!("T{rank}"),
            rank,
            discount_rate: Decimal::ONE,
            points_rate: Decimal::ONE,
            thresholds,
            upgrade_points: None,
        }
    }

    fn spend(fen: u64) -> Thresholds {
        Thresholds {
            total_spend_fen: Some(fen),
            ..Thresholds::default()
        }
    }

    #[test]
    fn a_member_keeps_the_highest_tier_they_met_in_the_period() {
        let tiers = [
            tier(1, 1, Thresholds::default()),
            tier(2, 2, spend(50_000)),
            tier(3, 3, spend(200_000)),
        ];
        let none = Balances::default();
        let with = |fen| MemberStats {
            period_spend_fen: fen,
            ..MemberStats::default()
        };
        assert_eq!(
            kept_tier(&tiers, TierId(3), &with(250_000), &none),
            Some(TierId(3))
        );
        assert_eq!(
            kept_tier(&tiers, TierId(3), &with(60_000), &none),
            Some(TierId(2))
        );
        assert_eq!(
            kept_tier(&tiers, TierId(3), &with(0), &none),
            Some(TierId(1))
        );
        // Never up: a review only keeps or lowers.
        assert_eq!(
            kept_tier(&tiers, TierId(2), &with(250_000), &none),
            Some(TierId(2))
        );
        assert_eq!(kept_tier(&tiers, TierId(9), &with(0), &none), None);
        // Any one threshold is enough: growth here.
        let growth = [
            tier(1, 1, spend(1)),
            tier(
                2,
                2,
                Thresholds {
                    growth: Some(100),
                    total_spend_fen: Some(1_000_000),
                    ..Thresholds::default()
                },
            ),
        ];
        let grew = MemberStats {
            period_growth: 100,
            ..MemberStats::default()
        };
        assert_eq!(kept_tier(&growth, TierId(2), &grew, &none), Some(TierId(2)));
        // No tier met at all: the lowest.
        assert_eq!(
            kept_tier(&growth, TierId(2), &with(0), &none),
            Some(TierId(1))
        );
    }
}
