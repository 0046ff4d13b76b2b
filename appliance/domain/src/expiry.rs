//! 积分清零 / Points expiry by calendar year: with `points_expiry_years` = N, points a member
//! earned in year Y are theirs until the end of year Y + N − 1 (N = 1: 年底清零, gone at the end
//! of the year earned; N = 2: 次年年底清零).
//!
//! The ledger does not date each point, so points are taken as spent oldest first: on the first
//! daily run of a year K, what a member holds beyond what was credited to them since 1 January of
//! year K − N + 1 is older than that, and expires — one transfer back to the points-issued account
//! of their home store (or the merchant's first), kept as the order `expiry-K-{member}`. The year
//! is marked done once every member has been seen; a member the ledger refused (their points
//! moved meanwhile) is tried again the next day, and the order id keeps anyone from expiring
//! twice.
//!
//! Points credited again — returned by a refund, moved in by a merge — count from the day they
//! came back, as the ledger dates them: the rule errs towards the member.

use redb::{ReadableDatabase, TableDefinition, WriteTransaction};
use tongka_ledger::Timestamp;

use crate::accounts::{MemberAccount, StoreAccount, transfer_code};
use crate::error::MemberError;
use crate::member::MemberStatus;
use crate::members::MERCHANT_UTC_OFFSET_MINUTES;
use crate::merchant::MerchantId;
use crate::staff::Staff;
use crate::store::Date;
use crate::till::{Legs, Moved, Order, OrderKind, Till, TillActor, order_key, part};
use crate::{DomainError, MemberId, UnixMillis};

/// merchant → the last year whose expiry has been run for every member.
const POINTS_EXPIRY_DONE: TableDefinition<u128, u16> = TableDefinition::new("points_expiry_done");

pub(crate) fn open_tables(txn: &WriteTransaction) -> Result<(), DomainError> {
    txn.open_table(POINTS_EXPIRY_DONE)?;
    Ok(())
}

/// The longest points may be kept, in calendar years.
pub const POINTS_EXPIRY_YEARS_MAX: u32 = 10;

/// What one expiry run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PointsExpiry {
    /// False when points never expire (`points_expiry_years` = 0).
    pub enabled: bool,
    /// The year whose expiry this run did, if it had not been done.
    pub year: Option<u16>,
    /// Members whose points expired, and how many points in all.
    pub members: u64,
    pub points: u64,
    /// Members to try again tomorrow.
    pub failed: u64,
}

/// What a member holds that expires at the end of this year (积分到期提醒), told ahead so the
/// till and head office can say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PointsExpiring {
    pub points: u128,
    /// The last day the points may be used: 31 December.
    pub last_day: Date,
}

/// The ledger time (ns) from which credited points are kept by the expiry run at the start of
/// `year`: 1 January of `year` − `years` + 1.
fn kept_since(years: u32, year: u16) -> u64 {
    let kept_year = year.saturating_sub(u16::try_from(years.saturating_sub(1)).unwrap_or(u16::MAX));
    Date {
        year: kept_year,
        month: 1,
        day: 1,
    }
    .start(MERCHANT_UTC_OFFSET_MINUTES)
    .0
    .saturating_mul(1_000_000)
}

/// The order id of `member`'s expiry at the start of `year`.
pub fn expiry_order_id(year: u16, member: MemberId) -> String {
    format!("expiry-{year}-{member}")
}

impl Till {
    /// Expires, on the first run of a year, the points members hold beyond what they were
    /// credited in the years still kept.
    pub async fn expire_points(
        &self,
        merchant: MerchantId,
        now: UnixMillis,
    ) -> Result<PointsExpiry, DomainError> {
        let years = self.options.points_expiry_years;
        if years == 0 {
            return Ok(PointsExpiry::default());
        }
        let _one_at_a_time = self.daily.lock().await;
        let mut expiry = PointsExpiry {
            enabled: true,
            ..PointsExpiry::default()
        };
        let year = Date::at(now, MERCHANT_UTC_OFFSET_MINUTES).year;
        let db = &self.members.directory().db;
        let done = db
            .begin_read()?
            .open_table(POINTS_EXPIRY_DONE)?
            .get(merchant.0)?
            .map(|year| year.value());
        if done.is_some_and(|done| done >= year) {
            return Ok(expiry);
        }
        expiry.year = Some(year);
        let stores = self.members.directory().merchant_stores(merchant)?;
        let Some(first_store) = stores.first() else {
            return Ok(expiry);
        };
        let kept_from = kept_since(years, year);
        for member in self.members.members_of(merchant)? {
            if !matches!(member.status, MemberStatus::Active | MemberStatus::Frozen) {
                continue;
            }
            let held = self.members.balances(member.id)?.points;
            let order_id = expiry_order_id(year, member.id);
            if held == 0 || self.order(merchant, &order_id)?.is_some() {
                continue;
            }
            let credited = self.points_credited_since(member.id, kept_from)?;
            let Ok(expiring) = u64::try_from(held.saturating_sub(credited)) else {
                continue;
            };
            if expiring == 0 {
                continue;
            }
            let store = member
                .home_store
                .and_then(|home| stores.iter().find(|store| store.id == home))
                .unwrap_or(first_store);
            let (m, s) = (member.id, store.id);
            let mut legs = Legs::new(order_key(merchant, &order_id), None);
            legs.leg(
                part::POINTS_REMOVED,
                MemberAccount::Points.id(m),
                StoreAccount::PointsIssued.id(s),
                expiring,
                transfer_code::POINTS_EXPIRED,
            );
            let ids = legs.ids();
            if self.apply(s, m, legs.transfers).await?.is_err() {
                expiry.failed += 1;
                continue;
            }
            let actor = TillActor::the_box(merchant, s);
            let order = Order {
                id: order_id,
                kind: OrderKind::PointsExpired,
                member: m,
                moved: Moved {
                    points_removed: expiring,
                    ..Moved::default()
                },
                transfers: ids,
                ..Order::blank(&actor, now)
            };
            self.record(order, None, 0).await?;
            expiry.members += 1;
            expiry.points += expiring;
        }
        if expiry.failed == 0 {
            let txn = db.begin_write()?;
            txn.open_table(POINTS_EXPIRY_DONE)?
                .insert(merchant.0, year)?;
            txn.commit()?;
        }
        Ok(expiry)
    }

    /// The points `member` holds that the next year's first run will expire, oldest first as
    /// that run counts them; `None` when points never expire.
    pub fn points_expiring(
        &self,
        actor: &Staff,
        member: MemberId,
        now: UnixMillis,
    ) -> Result<Result<Option<PointsExpiring>, MemberError>, DomainError> {
        let view = match self.members.get(actor, member)? {
            Ok(view) => view,
            Err(refused) => return Ok(Err(refused)),
        };
        Ok(Ok(self.expiring_of(member, view.balances.points, now)?))
    }

    /// [`Till::points_expiring`] for a member the caller has already found (the till's card
    /// lookup), who holds `held` points.
    pub fn expiring_of(
        &self,
        member: MemberId,
        held: u128,
        now: UnixMillis,
    ) -> Result<Option<PointsExpiring>, DomainError> {
        let years = self.options.points_expiry_years;
        if years == 0 {
            return Ok(None);
        }
        let year = Date::at(now, MERCHANT_UTC_OFFSET_MINUTES).year;
        let credited =
            self.points_credited_since(member, kept_since(years, year.saturating_add(1)))?;
        Ok(Some(PointsExpiring {
            points: held.saturating_sub(credited),
            last_day: Date {
                year,
                month: 12,
                day: 31,
            },
        }))
    }

    /// The points credited to `member` (earned, returned, converted in) since `since` (ledger
    /// nanoseconds): their history walked back from the newest transfer.
    fn points_credited_since(&self, member: MemberId, since: u64) -> Result<u128, DomainError> {
        let account = MemberAccount::Points.id(member);
        let mut credited = 0u128;
        let mut from: Option<Timestamp> = None;
        loop {
            let page = self
                .members
                .ledger()
                .account_transfers(account, from, 1_000)?;
            for transfer in &page.transfers {
                if transfer.timestamp.0 < since {
                    return Ok(credited);
                }
                if transfer.credit == account {
                    credited = credited.saturating_add(transfer.amount);
                }
            }
            match page.next {
                Some(next) if !page.transfers.is_empty() => from = Some(next),
                _ => return Ok(credited),
            }
        }
    }
}
