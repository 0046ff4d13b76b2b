//! 月结算 / Inter-store settlement: for a period, what each store took in and gave out, read from
//! its own ledger accounts (`accounts::StoreAccount`), and what it owes or is owed.
//!
//! A member's stored value is bought at one store and spent at any. The store that sold it holds
//! the cash; the store where it is spent delivers goods for none. Settlement runs through head
//! office as the clearing house, as chains do: each store remits the principal it sold and is
//! paid the principal redeemed at its tills, so `net` = redeemed − sold (positive: head office
//! pays the store; negative: the store pays head office). The stores' nets add up to what the
//! chain's stored-value liability grew or shrank by over the period. Bonus stored value, points
//! and growth are the merchant's own gifts, reported per store for cost sharing but not netted.
//! Refunds count against the store that made them: a reversal moves the same accounts back.

use std::collections::BTreeMap;

use tongka_ledger::{AccountId, Timestamp};

use crate::accounts::StoreAccount;
use crate::staff::{Role, Staff};
use crate::store::{Date, Store};
use crate::{DomainError, Members};

/// The longest period one report may cover.
pub const SETTLEMENT_DAYS_MAX: i64 = 366;
/// The chain's day starts at midnight China Standard Time (UTC+8), whatever the server's zone.
const ZONE_OFFSET_SECONDS: i64 = 8 * 3600;
/// How many transfers are read at a time while walking an account back through the period.
const PAGE: usize = 1_000;

/// One store's movements over the period, in fen and whole points; signed, since refunds can
/// exceed sales within a period.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Movements {
    pub stored_value_sold_fen: i128,
    pub bonus_given_fen: i128,
    pub stored_value_redeemed_fen: i128,
    pub bonus_redeemed_fen: i128,
    pub points_issued: i128,
    pub points_redeemed: i128,
    pub growth_issued: i128,
}

impl Movements {
    /// Principal redeemed here minus principal sold here: what head office owes the store.
    pub fn net_fen(&self) -> i128 {
        self.stored_value_redeemed_fen - self.stored_value_sold_fen
    }

    fn add(&mut self, other: &Movements) {
        self.stored_value_sold_fen += other.stored_value_sold_fen;
        self.bonus_given_fen += other.bonus_given_fen;
        self.stored_value_redeemed_fen += other.stored_value_redeemed_fen;
        self.bonus_redeemed_fen += other.bonus_redeemed_fen;
        self.points_issued += other.points_issued;
        self.points_redeemed += other.points_redeemed;
        self.growth_issued += other.growth_issued;
    }
}

#[derive(Clone, Debug)]
pub struct Settlement {
    pub from: Date,
    pub to: Date,
    /// Every store of the merchant, by code, with what it moved (zeros if nothing).
    pub stores: Vec<(Store, Movements)>,
    pub total: Movements,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettlementError {
    #[error("only head office settles between stores")]
    Forbidden,
    #[error("the period must run forwards and cover at most {SETTLEMENT_DAYS_MAX} days")]
    BadPeriod,
}

/// Days since 1970-01-01 (Howard Hinnant's days-from-civil).
fn days(date: Date) -> i64 {
    let (month, day) = (i64::from(date.month), i64::from(date.day));
    let year = i64::from(date.year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The ledger timestamp (ns since the epoch) of midnight, China time, starting `date`.
fn midnight_ns(date: Date) -> u64 {
    let seconds = days(date) * 86_400 - ZONE_OFFSET_SECONDS;
    u64::try_from(seconds).map_or(0, |s| s.saturating_mul(1_000_000_000))
}

impl Members {
    /// 月结算 from `from` to `to`, both days included, China time (head office only).
    pub fn settlement(
        &self,
        actor: &Staff,
        from: Date,
        to: Date,
    ) -> Result<Result<Settlement, SettlementError>, DomainError> {
        if actor.role != Role::HqAdmin {
            return Ok(Err(SettlementError::Forbidden));
        }
        let span = days(to) - days(from) + 1;
        if !(1..=SETTLEMENT_DAYS_MAX).contains(&span) {
            return Ok(Err(SettlementError::BadPeriod));
        }
        let start = midnight_ns(from);
        let end = midnight_ns(to).saturating_add(86_400 * 1_000_000_000);
        let mut stores = Vec::new();
        let mut total = Movements::default();
        for store in self.directory().stores(actor)? {
            let mut sums: BTreeMap<u16, (u128, u128)> = BTreeMap::new();
            for account in StoreAccount::ALL {
                let moved = self.moved_in(account.id(store.id), start, end)?;
                sums.insert(account.code(), moved);
            }
            // Debits minus credits for the accounts a store gives from, the reverse for those it
            // takes into (see `StoreAccount`).
            let given = |account: StoreAccount| {
                let (debits, credits) = sums.get(&account.code()).copied().unwrap_or_default();
                signed(debits) - signed(credits)
            };
            let taken = |account: StoreAccount| -given(account);
            let movements = Movements {
                stored_value_sold_fen: given(StoreAccount::StoredValueSold),
                bonus_given_fen: given(StoreAccount::BonusGiven),
                stored_value_redeemed_fen: taken(StoreAccount::StoredValueRedeemed),
                bonus_redeemed_fen: taken(StoreAccount::BonusRedeemed),
                points_issued: given(StoreAccount::PointsIssued),
                points_redeemed: taken(StoreAccount::PointsRedeemed),
                growth_issued: given(StoreAccount::GrowthIssued),
            };
            total.add(&movements);
            stores.push((store, movements));
        }
        Ok(Ok(Settlement {
            from,
            to,
            stores,
            total,
        }))
    }

    /// What was debited and credited to `account` with a timestamp in `[start, end)`: its
    /// history is walked back from the newest transfer until the period's start.
    fn moved_in(
        &self,
        account: AccountId,
        start: u64,
        end: u64,
    ) -> Result<(u128, u128), DomainError> {
        let (mut debits, mut credits) = (0u128, 0u128);
        let mut from: Option<Timestamp> = None;
        loop {
            let page = self.ledger().account_transfers(account, from, PAGE)?;
            for transfer in &page.transfers {
                let at = transfer.timestamp.0;
                if at >= end {
                    continue;
                }
                if at < start {
                    return Ok((debits, credits));
                }
                if transfer.debit == account {
                    debits = debits.saturating_add(transfer.amount);
                } else {
                    credits = credits.saturating_add(transfer.amount);
                }
            }
            match page.next {
                Some(next) if !page.transfers.is_empty() => from = Some(next),
                _ => return Ok((debits, credits)),
            }
        }
    }
}

fn signed(amount: u128) -> i128 {
    i128::try_from(amount).unwrap_or(i128::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_starts_at_midnight_in_china() {
        let date = |text| Date::parse(text).unwrap();
        assert_eq!(days(date("1970-01-01")), 0);
        assert_eq!(days(date("2000-03-01")), 11_017);
        // 2026-11-23 00:00 +08:00 is 2026-11-22 16:00 UTC.
        assert_eq!(
            midnight_ns(date("2026-11-23")),
            1_795_363_200 * 1_000_000_000
        );
        // Round trip with the till's own day-of: the last nanosecond before midnight is the
        // day before.
        let ms = midnight_ns(date("2024-02-29")) / 1_000_000;
        assert_eq!(Date::at(crate::UnixMillis(ms), 480), date("2024-02-29"));
        assert_eq!(Date::at(crate::UnixMillis(ms - 1), 480), date("2024-02-28"));
    }
}
