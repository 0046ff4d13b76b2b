//! 提成 / Staff commission: what the staff member credited with a card opening, a top-up or a
//! sale earns, by the merchant's rules, and the report of it per store and staff member.
//!
//! The rules are the core's, not a plugin's: they are a small table (event × member tier × staff
//! role → a fixed amount or a rate) that every chain words the same way, and the money they move
//! is the merchant's debt to its own staff — not a loyalty rule a partner would replace. The till
//! credits it in the same ledger batch as the sale (a store's commission-expense account to the
//! staff member's commission account), and a refund takes back its share of it, referencing the
//! transfer it reverses. The staff account may go below zero: commission already paid out on a
//! sale later refunded is owed back, as payroll settles it.

use std::collections::{BTreeMap, HashMap, HashSet};

use redb::{ReadableDatabase, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use tongka_ledger::{AccountFlags, AccountId, NewAccount, Timestamp};

use crate::accounts::{self, CNY, StoreAccount, transfer_code};
use crate::directory::{decode, encode};
use crate::member::{FieldError, Invalid, TierId};
use crate::members::MERCHANT_UTC_OFFSET_MINUTES;
use crate::merchant::MerchantId;
use crate::staff::{Role, Staff, StaffId};
use crate::store::{Date, Store};
use crate::{DomainError, Members, UnixMillis};

/// merchant → its commission rules.
const COMMISSION_RULES: TableDefinition<u128, &[u8]> = TableDefinition::new("commission_rules");

pub(crate) fn open_tables(txn: &WriteTransaction) -> Result<(), DomainError> {
    txn.open_table(COMMISSION_RULES)?;
    Ok(())
}

/// The most rules a merchant keeps: every event × tier × role of a large chain fits.
pub const COMMISSION_RULES_MAX: usize = 200;
/// A rate is at most 100% (10,000 basis points) of what it is taken on.
pub const COMMISSION_BASIS_POINTS_MAX: u32 = 10_000;
/// The longest period one commission report may cover.
pub const COMMISSION_REPORT_DAYS_MAX: u64 = 366;

/// What earns commission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommissionEvent {
    /// 开卡: taken on the card fee, if any (a fixed amount is the usual rule).
    CardOpening,
    /// 充值: taken on the amount paid in (the first top-up of a card opened at the till too).
    TopUp,
    /// 消费: taken on what the member pays for the order after discounts, however they pay.
    Sale,
}

impl CommissionEvent {
    pub const ALL: [CommissionEvent; 3] = [
        CommissionEvent::CardOpening,
        CommissionEvent::TopUp,
        CommissionEvent::Sale,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CommissionEvent::CardOpening => "card-opening",
            CommissionEvent::TopUp => "top-up",
            CommissionEvent::Sale => "sale",
        }
    }

    pub fn parse(text: &str) -> Option<CommissionEvent> {
        Self::ALL.into_iter().find(|event| event.as_str() == text)
    }

    /// The ledger transfer code its commission is credited with.
    pub(crate) fn transfer_code(self) -> u16 {
        match self {
            CommissionEvent::CardOpening => transfer_code::COMMISSION_CARD_OPENING,
            CommissionEvent::TopUp => transfer_code::COMMISSION_TOP_UP,
            CommissionEvent::Sale => transfer_code::COMMISSION_SALE,
        }
    }
}

/// How much a rule gives: a fixed amount (固定额) or a share (按比例).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CommissionAmount {
    Fixed {
        fen: u64,
    },
    /// Hundredths of a percent of the amount: 150 is 1.5%. Rounded half up to the fen.
    Rate {
        basis_points: u32,
    },
}

impl CommissionAmount {
    /// The commission on `base_fen`. A fixed amount is owed whatever the base (a card opened
    /// without a fee still earns it).
    pub fn of(self, base_fen: u64) -> u64 {
        match self {
            CommissionAmount::Fixed { fen } => fen,
            CommissionAmount::Rate { basis_points } => {
                let exact = u128::from(base_fen) * u128::from(basis_points);
                u64::try_from((exact + 5_000) / 10_000).unwrap_or(u64::MAX)
            }
        }
    }
}

/// One rule: for an event, optionally only for members of a tier and staff of a role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionRule {
    pub on: CommissionEvent,
    pub tier: Option<TierId>,
    pub role: Option<Role>,
    pub amount: CommissionAmount,
}

impl CommissionRule {
    /// Which of two matching rules wins: one naming the tier beats one that does not, then one
    /// naming the role. (event, tier, role) is unique, so there is never a tie.
    fn specificity(&self) -> (bool, bool) {
        (self.tier.is_some(), self.role.is_some())
    }
}

/// The commission a staff member of `role` earns for `on`, serving a member of `tier`, on
/// `base_fen`: the most specific rule that matches, or nothing.
pub fn commission_for(
    rules: &[CommissionRule],
    on: CommissionEvent,
    tier: Option<TierId>,
    role: Role,
    base_fen: u64,
) -> u64 {
    rules
        .iter()
        .filter(|rule| {
            rule.on == on
                && rule.tier.is_none_or(|t| Some(t) == tier)
                && rule.role.is_none_or(|r| r == role)
        })
        .max_by_key(|rule| rule.specificity())
        .map_or(0, |rule| rule.amount.of(base_fen))
}

/// Why rules were refused. Nothing was written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CommissionError {
    #[error("only head office sets commission rules")]
    Forbidden,
    #[error("{0}")]
    Invalid(FieldError),
    #[error("the period must run forwards and cover at most {COMMISSION_REPORT_DAYS_MAX} days")]
    BadPeriod,
}

/// A staff member's commission account (owner: the staff member): credited with what they earn,
/// debited by refunds.
pub fn staff_account_id(staff: StaffId) -> AccountId {
    AccountId(accounts::derive(
        b"staff-account",
        staff.0,
        STAFF_COMMISSION_CODE,
    ))
}

/// The ledger code of a staff member's commission account.
pub const STAFF_COMMISSION_CODE: u16 = 301;

pub(crate) fn staff_account(staff: StaffId) -> NewAccount {
    NewAccount {
        id: staff_account_id(staff),
        asset: CNY,
        owner: staff.0,
        code: STAFF_COMMISSION_CODE,
        // Refunds of sales whose commission was paid out take it below zero: owed back.
        flags: AccountFlags::NONE,
    }
}

/// The rules as stored for `merchant`; none until head office sets some.
pub(crate) fn read_rules(
    db: &redb::Database,
    merchant: MerchantId,
) -> Result<Vec<CommissionRule>, DomainError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(COMMISSION_RULES)?;
    table
        .get(merchant.0)?
        .map(|bytes| decode("commission rules", bytes.value()))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// Checks and stores `rules` for the actor's merchant, replacing the ones before (head office).
pub(crate) fn write_rules(
    members: &Members,
    actor: &Staff,
    rules: &[CommissionRule],
) -> Result<Result<(), CommissionError>, DomainError> {
    if actor.role != Role::HqAdmin {
        return Ok(Err(CommissionError::Forbidden));
    }
    let refuse = |field: String, invalid: Invalid| {
        Ok(Err(CommissionError::Invalid(FieldError::new(
            field, invalid,
        ))))
    };
    if rules.len() > COMMISSION_RULES_MAX {
        return refuse(
            "rules".into(),
            Invalid::TooLong {
                max: COMMISSION_RULES_MAX,
            },
        );
    }
    let tiers: HashSet<TierId> = members
        .tiers(actor.merchant)?
        .into_iter()
        .map(|tier| tier.id)
        .collect();
    let mut seen = HashSet::new();
    for (index, rule) in rules.iter().enumerate() {
        if let Some(tier) = rule.tier
            && !tiers.contains(&tier)
        {
            return refuse(
                format!("rules[{index}].tier"),
                Invalid::Choice {
                    allowed: tiers.iter().map(TierId::to_string).collect(),
                },
            );
        }
        let fits = match rule.amount {
            CommissionAmount::Fixed { fen } => fen <= crate::AMOUNT_FEN_MAX,
            CommissionAmount::Rate { basis_points } => basis_points <= COMMISSION_BASIS_POINTS_MAX,
        };
        if !fits {
            return refuse(
                format!("rules[{index}].amount"),
                Invalid::Number { scale: 2 },
            );
        }
        if !seen.insert((rule.on, rule.tier, rule.role)) {
            return refuse(format!("rules[{index}]"), Invalid::Duplicate);
        }
    }
    let txn = members.directory().db.begin_write()?;
    txn.open_table(COMMISSION_RULES)?
        .insert(actor.merchant.0, encode(&rules)?.as_slice())?;
    txn.commit()?;
    Ok(Ok(()))
}

/// What one staff member earned at one store over a period, in fen; signed, since refunds in
/// the period may take back commission earned before it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Earned {
    pub card_openings_fen: i128,
    pub top_ups_fen: i128,
    pub sales_fen: i128,
    /// Taken back by refunds (a positive number).
    pub reversed_fen: i128,
    /// Transfers crediting commission (not counting reversals).
    pub count: u64,
}

impl Earned {
    pub fn net_fen(&self) -> i128 {
        self.card_openings_fen + self.top_ups_fen + self.sales_fen - self.reversed_fen
    }

    fn add(&mut self, other: &Earned) {
        self.card_openings_fen += other.card_openings_fen;
        self.top_ups_fen += other.top_ups_fen;
        self.sales_fen += other.sales_fen;
        self.reversed_fen += other.reversed_fen;
        self.count += other.count;
    }
}

/// 提成报表: per store, per staff member.
#[derive(Clone, Debug)]
pub struct CommissionReport {
    pub from: Date,
    pub to: Date,
    /// The stores the reader sees, by code.
    pub stores: Vec<StoreCommission>,
    pub total: Earned,
}

/// One store's commission over the period.
#[derive(Clone, Debug)]
pub struct StoreCommission {
    pub store: Store,
    /// The staff the reader sees who earned or gave back commission here, by username.
    pub staff: Vec<(Staff, Earned)>,
    /// Every staff member's together (for a cashier, their own).
    pub total: Earned,
}

const DAY_MS: u64 = 86_400_000;
const PAGE: usize = 1_000;

impl Members {
    /// 提成报表 from `from` to `to`, both days included, China time. Head office and departments
    /// see every store; a store manager their stores; a cashier only their own line.
    pub fn commission_report(
        &self,
        actor: &Staff,
        from: Date,
        to: Date,
    ) -> Result<Result<CommissionReport, CommissionError>, DomainError> {
        let (first, last) = (
            from.start(MERCHANT_UTC_OFFSET_MINUTES),
            to.start(MERCHANT_UTC_OFFSET_MINUTES),
        );
        if last < first || (last.0 - first.0) / DAY_MS >= COMMISSION_REPORT_DAYS_MAX {
            return Ok(Err(CommissionError::BadPeriod));
        }
        let start = ns(first);
        let end = ns(last.plus_ms(DAY_MS));
        let staff: HashMap<AccountId, Staff> = self
            .directory()
            .staff_list(actor)?
            .into_iter()
            .map(|staff| (staff_account_id(staff.id), staff))
            .collect();
        let mut stores = Vec::new();
        let mut total = Earned::default();
        for store in self.directory().stores(actor)? {
            let expense = StoreAccount::CommissionExpense.id(store.id);
            let mut by_staff: BTreeMap<AccountId, Earned> = BTreeMap::new();
            let mut from_ts: Option<Timestamp> = None;
            'walk: loop {
                let page = self.ledger().account_transfers(expense, from_ts, PAGE)?;
                for transfer in &page.transfers {
                    let at = transfer.timestamp.0;
                    if at >= end {
                        continue;
                    }
                    if at < start {
                        break 'walk;
                    }
                    let amount = i128::try_from(transfer.amount).unwrap_or(i128::MAX);
                    // Earned: the store's expense debited, the staff account credited; a
                    // reversal the other way round.
                    let (account, earned) = if transfer.debit == expense {
                        (transfer.credit, true)
                    } else {
                        (transfer.debit, false)
                    };
                    let line = by_staff.entry(account).or_default();
                    if !earned {
                        line.reversed_fen += amount;
                        continue;
                    }
                    line.count += 1;
                    match transfer.code {
                        transfer_code::COMMISSION_CARD_OPENING => line.card_openings_fen += amount,
                        transfer_code::COMMISSION_TOP_UP => line.top_ups_fen += amount,
                        _ => line.sales_fen += amount,
                    }
                }
                match page.next {
                    Some(next) if !page.transfers.is_empty() => from_ts = Some(next),
                    _ => break,
                }
            }
            let mut store_total = Earned::default();
            let mut lines = Vec::new();
            for (account, earned) in by_staff {
                store_total.add(&earned);
                if let Some(member_of_staff) = staff.get(&account) {
                    lines.push((member_of_staff.clone(), earned));
                }
            }
            lines.sort_by(|a, b| a.0.username.cmp(&b.0.username));
            // A cashier sees their own line only, not the store's total.
            if actor.role == Role::Cashier {
                store_total = Earned::default();
                for (_, earned) in &lines {
                    store_total.add(earned);
                }
            }
            total.add(&store_total);
            stores.push(StoreCommission {
                store,
                staff: lines,
                total: store_total,
            });
        }
        Ok(Ok(CommissionReport {
            from,
            to,
            stores,
            total,
        }))
    }
}

/// The ledger's timestamp (ns since the epoch) of a wall-clock time.
fn ns(at: UnixMillis) -> u64 {
    at.0.saturating_mul(1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        on: CommissionEvent,
        tier: Option<u128>,
        role: Option<Role>,
        fen: u64,
    ) -> CommissionRule {
        CommissionRule {
            on,
            tier: tier.map(TierId),
            role,
            amount: CommissionAmount::Fixed { fen },
        }
    }

    #[test]
    fn the_most_specific_matching_rule_wins() {
        use CommissionEvent::*;
        let rules = [
            rule(Sale, None, None, 1),
            rule(Sale, None, Some(Role::StoreManager), 2),
            rule(Sale, Some(7), None, 3),
            rule(Sale, Some(7), Some(Role::Cashier), 4),
            rule(TopUp, None, None, 5),
        ];
        assert_eq!(commission_for(&rules, Sale, None, Role::Cashier, 100), 1);
        assert_eq!(
            commission_for(&rules, Sale, None, Role::StoreManager, 100),
            2
        );
        assert_eq!(
            commission_for(&rules, Sale, Some(TierId(7)), Role::StoreManager, 100),
            3
        );
        assert_eq!(
            commission_for(&rules, Sale, Some(TierId(7)), Role::Cashier, 100),
            4
        );
        assert_eq!(
            commission_for(&rules, Sale, Some(TierId(8)), Role::Cashier, 100),
            1
        );
        assert_eq!(
            commission_for(&rules, TopUp, Some(TierId(7)), Role::Cashier, 100),
            5
        );
        assert_eq!(
            commission_for(&rules, CardOpening, None, Role::Cashier, 100),
            0
        );
    }

    #[test]
    fn a_rate_rounds_half_up_to_the_fen() {
        let rate = |basis_points| CommissionAmount::Rate { basis_points };
        // 1.5% of ¥12.30 is 18.45 fen → 18; of ¥12.50, 18.75 → 19; 2.5% of ¥1.00 is 2.5 → 3.
        assert_eq!(rate(150).of(1230), 18);
        assert_eq!(rate(150).of(1250), 19);
        assert_eq!(rate(250).of(100), 3);
        assert_eq!(
            rate(10_000).of(crate::AMOUNT_FEN_MAX),
            crate::AMOUNT_FEN_MAX
        );
        assert_eq!(rate(0).of(1_000), 0);
        assert_eq!(CommissionAmount::Fixed { fen: 500 }.of(0), 500);
    }
}
