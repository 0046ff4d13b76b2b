//! 赠送按月返还 / A top-up's bonus paid out monthly: with `top_up_bonus_months` = N > 1, the
//! bonus stored value the scheme's offer gives (充1200送240) is paid in N monthly parts, the first
//! with the top-up and each next one on the same day of a later month (or its last day), so the
//! member keeps coming back and the merchant does not owe it all at once.
//!
//! The plan is kept on the top-up's order (`Order::bonus_plan`, shown on the receipt) and listed
//! in `open_bonus_plans` until its last part is paid. The daily run (and head office on demand)
//! pays every part due — all of them when days were missed — each a ledger transfer from the
//! store's bonus-given account whose id derives from the order and the part, so a run cut short
//! and run again pays each part once. A member merged into another is paid through the member
//! kept; an erased member's plan stops.

use redb::{ReadableDatabase, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::accounts::{MemberAccount, StoreAccount, transfer_code};
use crate::directory::{decode, encode};
use crate::member::{MemberId, MemberStatus};
use crate::members::MERCHANT_UTC_OFFSET_MINUTES;
use crate::merchant::MerchantId;
use crate::staff::StoreId;
use crate::store::Date;
use crate::till::{Legs, ORDERS, Order, Till, TillError, order_key};
use crate::{DomainError, UnixMillis};

/// (merchant, top-up order id) of every plan with parts still to pay.
const OPEN_BONUS_PLANS: TableDefinition<(u128, &str), ()> =
    TableDefinition::new("open_bonus_plans");

pub(crate) fn open_tables(txn: &WriteTransaction) -> Result<(), DomainError> {
    txn.open_table(OPEN_BONUS_PLANS)?;
    Ok(())
}

/// The longest a bonus may be spread: three years.
pub const BONUS_MONTHS_MAX: u32 = 36;
/// The ledger part numbers of a plan's parts after the first: 100, 101, … (the first is the
/// top-up's own bonus leg).
const PART_BASE: u16 = 100;

/// A bonus paid in monthly parts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BonusPlan {
    pub member: MemberId,
    pub store: StoreId,
    pub total_fen: u64,
    pub months: u32,
    /// The top-up's day: part k falls k months later.
    pub from: Date,
    /// Parts paid so far, the first (with the top-up) included.
    pub paid_parts: u32,
    pub paid_fen: u64,
    /// The member was erased before the last part: the rest is not paid.
    #[serde(default)]
    pub stopped: bool,
}

impl BonusPlan {
    /// A plan for `total_fen` over `months` from `from`, its first part paid with the top-up.
    pub(crate) fn new(
        member: MemberId,
        store: StoreId,
        total_fen: u64,
        months: u32,
        from: Date,
    ) -> BonusPlan {
        BonusPlan {
            member,
            store,
            total_fen,
            months,
            from,
            paid_parts: 1,
            paid_fen: part_fen(total_fen, 0, months),
            stopped: false,
        }
    }

    /// The day the next part falls due, if any is left.
    pub fn next_on(&self) -> Option<Date> {
        (self.paid_parts < self.months && !self.stopped)
            .then(|| month_later(self.from, self.paid_parts))
    }
}

/// Part `k` (from 0) of `total` in `n` parts: cumulative shares rounded down, so the parts add
/// up to the total exactly and differ by at most a fen.
pub fn part_fen(total: u64, k: u32, n: u32) -> u64 {
    let n = u128::from(n.max(1));
    let upto = |parts: u32| u128::from(total) * u128::from(parts).min(n) / n;
    u64::try_from(upto(k + 1) - upto(k)).unwrap_or(0)
}

/// `from` plus `months` calendar months, on the same day or the month's last.
pub fn month_later(from: Date, months: u32) -> Date {
    let index = u32::from(from.month.clamp(1, 12)) - 1 + months;
    let year = u16::try_from(u32::from(from.year) + index / 12)
        .unwrap_or(9999)
        .min(9999);
    let month = u8::try_from(index % 12 + 1).unwrap_or(12);
    let last = crate::store::days_in_month(year, month).unwrap_or(28);
    Date {
        year,
        month,
        day: from.day.min(last),
    }
}

/// What one payout run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BonusPayout {
    /// Plans that had a part due.
    pub plans: u64,
    pub parts: u64,
    pub paid_fen: u64,
    /// Plans that ended: their last part paid, or the member erased.
    pub finished: u64,
}

impl Till {
    /// Pays every part of every open plan of `merchant` due by `now` (China time).
    pub async fn pay_bonus_parts(
        &self,
        merchant: MerchantId,
        now: UnixMillis,
    ) -> Result<BonusPayout, DomainError> {
        let _one_at_a_time = self.daily.lock().await;
        let today = Date::at(now, MERCHANT_UTC_OFFSET_MINUTES);
        let open: Vec<String> = {
            let txn = self.members.directory().db.begin_read()?;
            let table = txn.open_table(OPEN_BONUS_PLANS)?;
            let mut open = Vec::new();
            for entry in table.range((merchant.0, "")..)? {
                let (key, _) = entry?;
                let (owner, order) = key.value();
                if owner != merchant.0 {
                    break;
                }
                open.push(order.to_owned());
            }
            open
        };
        let mut payout = BonusPayout::default();
        for id in open {
            let Some(mut order) = self.order(merchant, &id)? else {
                continue;
            };
            let Some(mut plan) = order.bonus_plan.clone() else {
                continue;
            };
            if plan.next_on().is_none_or(|due| due > today) {
                continue;
            }
            payout.plans += 1;
            // The member the money goes to now: through merges to the member kept.
            let mut member = self.members.member_record(plan.member)?;
            for _ in 0..8 {
                let Some(MemberStatus::Merged { into, .. }) = member.as_ref().map(|m| m.status)
                else {
                    break;
                };
                plan.member = into;
                member = self.members.member_record(into)?;
            }
            if !member
                .is_some_and(|m| matches!(m.status, MemberStatus::Active | MemberStatus::Frozen))
            {
                plan.stopped = true;
            }
            while plan.next_on().is_some_and(|due| due <= today) {
                let amount = part_fen(plan.total_fen, plan.paid_parts, plan.months);
                let mut legs = Legs::new(order_key(merchant, &id), None);
                let part =
                    PART_BASE + u16::try_from(plan.paid_parts).unwrap_or(u16::MAX - PART_BASE);
                legs.leg(
                    part,
                    StoreAccount::BonusGiven.id(plan.store),
                    MemberAccount::Bonus.id(plan.member),
                    amount,
                    transfer_code::TOP_UP_BONUS,
                );
                match self.apply(plan.store, plan.member, legs.transfers).await? {
                    Ok(()) => {}
                    // Closed since it was read (erased): the rest is not paid.
                    Err(TillError::NotLive) => {
                        plan.stopped = true;
                        break;
                    }
                    Err(other) => return Err(DomainError::Ledger(other.to_string())),
                }
                plan.paid_parts += 1;
                plan.paid_fen += amount;
                payout.parts += 1;
                payout.paid_fen += amount;
            }
            let finished = plan.next_on().is_none();
            payout.finished += u64::from(finished);
            order.bonus_plan = Some(plan);
            let encoded = encode(&order)?;
            self.members
                .directory()
                .write_grouped(move |txn| {
                    txn.open_table(ORDERS)?
                        .insert((merchant.0, id.as_str()), encoded.as_slice())?;
                    if finished {
                        txn.open_table(OPEN_BONUS_PLANS)?
                            .remove((merchant.0, id.as_str()))?;
                    }
                    Ok(())
                })
                .await?;
        }
        Ok(payout)
    }

    /// Every open plan of `merchant`'s member, as the orders keep them.
    pub fn open_bonus_plans(
        &self,
        merchant: MerchantId,
    ) -> Result<Vec<(String, BonusPlan)>, DomainError> {
        let txn = self.members.directory().db.begin_read()?;
        let table = txn.open_table(OPEN_BONUS_PLANS)?;
        let orders = txn.open_table(ORDERS)?;
        let mut plans = Vec::new();
        for entry in table.range((merchant.0, "")..)? {
            let (key, _) = entry?;
            let (owner, id) = key.value();
            if owner != merchant.0 {
                break;
            }
            if let Some(bytes) = orders.get((merchant.0, id))?
                && let Some(plan) = decode::<Order>("order", bytes.value())?.bonus_plan
            {
                plans.push((id.to_owned(), plan));
            }
        }
        Ok(plans)
    }
}

/// Notes a new plan as open, in the transaction that records its top-up.
pub(crate) fn note_open_in(
    txn: &WriteTransaction,
    merchant: MerchantId,
    order: &str,
) -> Result<(), DomainError> {
    txn.open_table(OPEN_BONUS_PLANS)?
        .insert((merchant.0, order), ())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_add_up_to_the_bonus_exactly() {
        for (total, n) in [(24_000, 12), (10_000, 12), (1, 3), (0, 5), (99_999, 36)] {
            let parts: Vec<u64> = (0..n).map(|k| part_fen(total, k, n)).collect();
            assert_eq!(parts.iter().sum::<u64>(), total, "{total} over {n}");
            let (min, max) = (parts.iter().min().unwrap(), parts.iter().max().unwrap());
            assert!(max - min <= 1, "{parts:?}");
        }
        // ¥100 over 12: 8.33 a month, the cent that does not divide comes late.
        assert_eq!(part_fen(10_000, 0, 12), 833);
        assert_eq!(part_fen(10_000, 2, 12), 834);
    }

    #[test]
    fn a_month_later_is_the_same_day_or_the_months_last() {
        let date = |text| Date::parse(text).unwrap();
        assert_eq!(month_later(date("2026-01-31"), 1), date("2026-02-28"));
        assert_eq!(month_later(date("2028-01-31"), 1), date("2028-02-29"));
        assert_eq!(month_later(date("2026-11-24"), 2), date("2027-01-24"));
        assert_eq!(month_later(date("2026-03-31"), 12), date("2027-03-31"));
        assert_eq!(month_later(date("2026-12-15"), 0), date("2026-12-15"));
    }
}
