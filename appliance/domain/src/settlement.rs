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
use crate::members::MERCHANT_UTC_OFFSET_MINUTES;
use crate::staff::{Role, Staff};
use crate::store::{Date, Store};
use crate::{DomainError, Members, UnixMillis};

/// The longest period one report may cover.
pub const SETTLEMENT_DAYS_MAX: u64 = 366;
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

/// A day in ms.
const DAY_MS: u64 = 86_400_000;

/// The ledger's timestamp (ns since the epoch) of a wall-clock time.
fn ledger_ns(at: UnixMillis) -> u64 {
    at.0.saturating_mul(1_000_000)
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
        // Days run midnight to midnight on the merchant's calendar (China time).
        let (first, last) = (
            from.start(MERCHANT_UTC_OFFSET_MINUTES),
            to.start(MERCHANT_UTC_OFFSET_MINUTES),
        );
        if last < first || (last.0 - first.0) / DAY_MS >= SETTLEMENT_DAYS_MAX {
            return Ok(Err(SettlementError::BadPeriod));
        }
        let start = ledger_ns(first);
        let end = ledger_ns(last.plus_ms(DAY_MS));
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
