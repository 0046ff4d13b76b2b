//! The till (收银): top-ups, checkouts in two steps (quote, then commit) and refunds.
//!
//! The merchant's earning rules are not here: a [`Scheme`] (the routed loyalty-scheme plugins,
//! in the box) proposes effects, and the till checks them against the order, prices it, and moves
//! every balance of one operation in one ledger batch. Amounts are fen, points and growth whole
//! units, all integers; nothing here rounds but the places that say how.
//!
//! Every operation is named by the POS's order id. Transfer ids derive from it, so a retry after
//! a dropped connection names the same transfers and the ledger applies them once; the order
//! record (written after the ledger, as members are) answers later retries outright. The same
//! order id with another request is refused.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tongka_ledger::{
    AccountId, BatchError, NewTransfer, NoteGuard, Transfer, TransferError, TransferKind, UserData,
};

use crate::UnixMillis;
use crate::accounts::{self, MemberAccount, StoreAccount, batch_error, transfer_code};
use crate::bonus::{self, BONUS_MONTHS_MAX, BonusPlan};
use crate::commission::{self, CommissionError, CommissionEvent, CommissionRule, commission_for};
use crate::directory::{decode, encode};
use crate::error::{DomainError, MemberError};
use crate::gifts::{GIFT_QUANTITY_MAX, GiftId, Reservation, Unreserved};
use crate::inflight::InFlight;
use crate::member::{FieldError, Invalid, Member, MemberId, MemberStatus, Tier, TierId};
use crate::members::{Balances, MERCHANT_UTC_OFFSET_MINUTES, Members, TierReason};
use crate::merchant::MerchantId;
use crate::staff::{Role, Staff, StaffId, StoreId};
use crate::store::{Date, Store};
use crate::terminal::TerminalId;

/// (merchant, order id) → the order as committed.
pub(crate) const ORDERS: TableDefinition<(u128, &str), &[u8]> = TableDefinition::new("orders");
/// member → what the till has seen of them (spend, visits).
pub(crate) const MEMBER_STATS: TableDefinition<u128, &[u8]> = TableDefinition::new("member_stats");
/// (merchant, order id) of a card opened at the till with an order → (the member it made, the
/// request's fingerprint): written with the member, before the order's batch, so a retry after
/// a stop in between goes on with that member rather than making another.
pub(crate) const CARD_OPENINGS: TableDefinition<(u128, &str), (u128, &str)> =
    TableDefinition::new("card_openings");

pub(crate) fn open_tables(txn: &WriteTransaction) -> Result<(), DomainError> {
    txn.open_table(ORDERS)?;
    txn.open_table(MEMBER_STATS)?;
    txn.open_table(CARD_OPENINGS)?;
    Ok(())
}

/// The most lines one order holds.
pub const LINES_MAX: usize = 200;
/// Order ids: 1 to 64 of `A-Z a-z 0-9 - _ .` — the POS's receipt number.
pub const ORDER_ID_CHARS_MAX: usize = 64;
/// No line or payment is over ¥10,000,000: a typo guard, and it keeps every product of amounts
/// far inside `u128`.
pub const AMOUNT_FEN_MAX: u64 = 1_000_000_000;
/// At most 10,000 units of one line (in thousandths).
pub const QUANTITY_MILLI_MAX: u32 = 10_000_000;

/// A line of an order as the POS sends it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TillLine {
    pub line: u32,
    pub sku: String,
    pub category: String,
    /// Thousandths of a unit: 1.5 kg is 1500.
    pub quantity_milli: u32,
    pub unit_price_fen: u64,
    pub promotional: bool,
    pub no_points: bool,
    pub no_discount: bool,
}

impl TillLine {
    /// Quantity × unit price, rounded half up to the fen.
    pub fn amount_fen(&self) -> u64 {
        let exact = u128::from(self.quantity_milli) * u128::from(self.unit_price_fen);
        u64::try_from((exact + 500) / 1000).unwrap_or(u64::MAX)
    }
}

/// Who an effect is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Party {
    Member,
    Referrer,
}

/// What a scheme proposes, as the till understands it (the plugin interface's `effect`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Effect {
    EarnPoints {
        to: Party,
        points: i64,
        reason: String,
    },
    GrantGrowth {
        to: Party,
        points: i64,
        reason: String,
    },
    OfferPointsOffset {
        max_points: i64,
        points_per_unit: i64,
        unit_fen: i64,
    },
    DiscountLine {
        line: u32,
        amount_fen: i64,
        reason: String,
    },
    DiscountOrder {
        amount_fen: i64,
    },
    BonusStoredValue {
        amount_fen: i64,
        /// Paid in this many monthly parts, whatever the box's setting for other bonuses (the
        /// offer's own schedule); none: as the box pays every bonus.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        months: Option<u32>,
    },
    IssueCoupon {
        to: Party,
        template: String,
    },
    SetTier {
        tier: String,
    },
    SendMessage {
        to: Party,
        template: String,
        values: Vec<(String, String)>,
    },
}

/// What the till has seen of a member.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStats {
    pub total_spend_fen: u64,
    pub visits: u32,
    pub last_visit: Option<Date>,
    /// The tier review's current period (考核期): when it began — the last review or the last
    /// tier change at the till; none yet means since the member joined — and what the member
    /// did in it. The review measures the tier's thresholds against these.
    #[serde(default)]
    pub period_from: Option<Date>,
    #[serde(default)]
    pub period_spend_fen: u64,
    #[serde(default)]
    pub period_growth: u64,
    #[serde(default)]
    pub period_top_up_max_fen: u64,
}

impl MemberStats {
    /// Counts a sale.
    pub(crate) fn visited(&mut self, visit: Visit) {
        self.total_spend_fen = self.total_spend_fen.saturating_add(visit.spent_fen);
        self.period_spend_fen = self.period_spend_fen.saturating_add(visit.spent_fen);
        self.visits = self.visits.saturating_add(1);
        self.last_visit = Some(visit.date);
    }

    /// A new review period from `date`, nothing done in it yet.
    pub(crate) fn restart_period(&mut self, date: Date) {
        self.period_from = Some(date);
        self.period_spend_fen = 0;
        self.period_growth = 0;
        self.period_top_up_max_fen = 0;
    }
}

/// A member's statistics in `table` (all zero if the till has not seen them yet).
pub(crate) fn stats_in(
    table: &impl ReadableTable<u128, &'static [u8]>,
    member: MemberId,
) -> Result<MemberStats, DomainError> {
    Ok(table
        .get(member.0)?
        .map(|bytes| decode("member stats", bytes.value()))
        .transpose()?
        .unwrap_or_default())
}

/// When a till write's record is synced: now, or by the ledger's checkpoint hook (its note is
/// in the ledger's log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RecordSync {
    Now,
    Later,
}

/// A sale as the member's statistics count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Visit {
    pub(crate) spent_fen: u64,
    pub(crate) date: Date,
}

/// What a till write's record changes besides storing its order: the tier the scheme set, the
/// single top-up a tier threshold may count, the sale the member's statistics count.
///
/// A sale's ledger batch carries its record as its note (`tongka_ledger::NoteGuard`) — the
/// order's stored bytes, length first, then these — so that after a crash the record is written
/// from the log (`Till::redo_notes`): one sync, the ledger's, makes the whole sale durable.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Changes {
    tier_set: Option<(TierId, TierReason)>,
    top_up_fen: u64,
    visit: Option<Visit>,
    /// `tier_set` is the tier decision the sale was answered with, made on the statistics the
    /// writer will find (the member's turn was held): applied as it is, not evaluated again,
    /// so the stored order says what the receipt said.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    decided: bool,
}

impl Changes {
    /// `stats` with this record counted: the sale's visit, the growth it earned, the top-up.
    fn count(&self, stats: &mut MemberStats, growth: u64) {
        if let Some(visit) = self.visit {
            stats.visited(visit);
        }
        stats.period_growth = stats.period_growth.saturating_add(growth);
        stats.period_top_up_max_fen = stats.period_top_up_max_fen.max(self.top_up_fen);
    }

    fn note(&self, order: &[u8]) -> Result<Vec<u8>, DomainError> {
        let rest = encode(self)?;
        let len = u32::try_from(order.len())
            .map_err(|_| DomainError::Corrupt("an order of over 4 GiB".into()))?;
        let mut note = Vec::with_capacity(4 + order.len() + rest.len());
        note.extend_from_slice(&len.to_le_bytes());
        note.extend_from_slice(order);
        note.extend_from_slice(&rest);
        Ok(note)
    }

    /// A note's order bytes and changes.
    fn of_note(note: &[u8]) -> Result<(&[u8], Changes), DomainError> {
        let cut = || DomainError::Corrupt("a sale note cut short".into());
        let (len, rest) = note.split_first_chunk::<4>().ok_or_else(cut)?;
        let len = usize::try_from(u32::from_le_bytes(*len)).map_err(|_| cut())?;
        let (order, rest) = rest.split_at_checked(len).ok_or_else(cut)?;
        Ok((order, decode("sale note", rest)?))
    }
}

/// What writing a record did: `None` if the order was recorded already, else the tier it moved
/// the member to, if any.
type Recorded = Result<Option<Option<TierId>>, DomainError>;

/// An order to be recorded, its balances after set, with its stored bytes.
struct Ready {
    order: Order,
    encoded: Vec<u8>,
}

/// A member as a scheme sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemeMember {
    pub id: MemberId,
    pub tier: Option<Tier>,
    pub tags: Vec<String>,
    pub birthday: Option<Date>,
    pub joined_on: Date,
    pub home_store: Option<StoreId>,
    pub referrer: Option<MemberId>,
    pub balances: Balances,
    pub stats: MemberStats,
}

/// A moment on the store's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    pub date: Date,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub utc_offset_minutes: i16,
}

impl LocalTime {
    /// `at` on the merchant's clock (China Standard Time).
    pub fn at(at: UnixMillis) -> LocalTime {
        let offset = MERCHANT_UTC_OFFSET_MINUTES;
        let seconds = (at.0 / 1000).saturating_add_signed(i64::from(offset) * 60) % 86_400;
        LocalTime {
            date: Date::at(at, offset),
            hour: u8::try_from(seconds / 3600).unwrap_or(0),
            minute: u8::try_from(seconds / 60 % 60).unwrap_or(0),
            second: u8::try_from(seconds % 60).unwrap_or(0),
            utc_offset_minutes: i16::try_from(offset).unwrap_or(0),
        }
    }
}

/// What every scheme hook is told.
#[derive(Clone, Debug)]
pub struct SchemeContext<'a> {
    pub order: &'a str,
    pub member: SchemeMember,
    pub store: &'a Store,
    pub at: LocalTime,
}

/// What the member paid, as the `commit-checkout` hook is told.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Paid {
    pub stored_value_fen: u64,
    pub points: u64,
    pub other_fen: u64,
}

/// A scheme hook that did not answer: which plugin, what kind of failure, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemeFailure {
    pub plugin: String,
    /// `out-of-fuel`, `deadline`, `trap`, `declined`…
    pub kind: String,
    pub detail: String,
}

/// The merchant's earning rules: in the box, the loyalty-scheme plugins routed to each hook.
pub trait Scheme: Send + Sync {
    fn quote_checkout(
        &self,
        context: &SchemeContext<'_>,
        lines: &[TillLine],
    ) -> Result<Vec<Effect>, SchemeFailure>;
    fn commit_checkout(
        &self,
        context: &SchemeContext<'_>,
        lines: &[TillLine],
        paid: Paid,
        accepted: &[Effect],
    ) -> Result<Vec<Effect>, SchemeFailure>;
    fn top_up(
        &self,
        context: &SchemeContext<'_>,
        paid_fen: u64,
    ) -> Result<Vec<Effect>, SchemeFailure>;
    fn refund(
        &self,
        context: &SchemeContext<'_>,
        original: &str,
        lines: &[TillLine],
    ) -> Result<Vec<Effect>, SchemeFailure>;
    /// Names the rules in force (plugins, versions, settings, routes): a quote made under other
    /// rules is stale.
    fn rules_version(&self) -> String;
    /// The welcome when a member opens a card: points, growth, the referrer's reward, a tier.
    fn member_joined(&self, _context: &SchemeContext<'_>) -> Result<Vec<Effect>, SchemeFailure> {
        Ok(Vec::new())
    }
    /// Whether the scheme has anything to say once a day about each member: the daily run
    /// asks [`Scheme::daily_tick`] for every member only then.
    fn ticks(&self) -> bool {
        false
    }
    /// Once a day a member: points or growth given (生日礼) or taken (expiry), a tier, coupons,
    /// messages.
    fn daily_tick(&self, _context: &SchemeContext<'_>) -> Result<Vec<Effect>, SchemeFailure> {
        Ok(Vec::new())
    }
}

/// Which stored value a payment spends first (储值扣款顺序).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpendOrder {
    /// 先扣本金: what the member paid in, then the bonus.
    #[default]
    PrincipalFirst,
    /// 先扣赠送.
    BonusFirst,
    /// 按比例: in the proportion the member holds them, the bonus share rounded down.
    Proportional,
}

/// The merchant's till settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TillOptions {
    pub spend_order: SpendOrder,
    pub spent_points: SpentPoints,
    /// What 100 points are worth in fen when turned into stored value; 0: not offered.
    pub points_to_stored_value_fen_per_100: u64,
    /// The tier evaluation period in days (等级有效期): a member whose period ends without
    /// having met their tier's thresholds in it moves down. 0: tiers are kept.
    pub tier_review_days: u32,
    /// A top-up's bonus paid in this many monthly parts (赠送按月返还), the first at once; 0 or 1:
    /// all at once.
    pub top_up_bonus_months: u32,
    /// Points earned in a year expire at the end of the year this many years on, counting the
    /// year earned (1: 年底清零, 2: 次年年底清零); 0: never.
    pub points_expiry_years: u32,
}

/// What a refund does when the points it must take back were already spent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpentPoints {
    /// The refund is refused (`points_already_spent`); the merchant settles it by hand.
    #[default]
    Refuse,
    /// The points' value is kept from the money going back (stored value first, then the
    /// tenders), at `fen_per_100_points` rounded up to the fen.
    Deduct { fen_per_100_points: u64 },
    /// 负积分: the points are taken back all the same; what the member no longer holds becomes a
    /// points debt (`Balances::points_owed`) that their next earnings repay first.
    Negative,
}

/// Who is at the till: the store it serves, and the terminal or staff member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TillActor {
    pub merchant: MerchantId,
    pub store: StoreId,
    pub staff: Option<StaffId>,
    pub terminal: Option<TerminalId>,
}

impl TillActor {
    /// The box itself, for the daily run's orders: no staff member, no terminal.
    pub(crate) fn the_box(merchant: MerchantId, store: StoreId) -> TillActor {
        TillActor {
            merchant,
            store,
            staff: None,
            terminal: None,
        }
    }
}

/// How a member paid the part not paid from stored value or points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TenderKind {
    Cash,
    Wechat,
    Alipay,
    BankCard,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tender {
    pub kind: TenderKind,
    pub amount_fen: u64,
}

/// A checkout as the POS asks for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckoutRequest {
    pub order: String,
    pub member: MemberId,
    pub lines: Vec<TillLine>,
}

/// How the member pays a quoted order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Payment {
    pub stored_value_fen: u64,
    pub points: u64,
    pub tenders: Vec<Tender>,
    /// Who is credited with the sale's commission (导购), if not the staff member at the till.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seller: Option<StaffId>,
}

/// A line priced: its amount, the discounts on it, and what is left to pay (its share of an
/// order discount included, so the nets add up to the order's payable exactly).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedLine {
    pub line: u32,
    pub quantity_milli: u32,
    pub amount_fen: u64,
    pub discount_fen: u64,
    pub net_fen: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discount {
    /// The line, or none for the whole order.
    pub line: Option<u32>,
    pub amount_fen: u64,
    pub reason: String,
}

/// Points the member may use on this order, already bounded by their balance and the amount due.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetOffer {
    pub max_points: u64,
    pub points_per_unit: u64,
    pub unit_fen: u64,
    pub max_value_fen: u64,
}

/// What the member is shown before paying. Nothing is written by a quote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Quote {
    pub order: String,
    pub member: MemberId,
    pub store: StoreId,
    pub lines: Vec<PricedLine>,
    pub subtotal_fen: u64,
    pub discounts: Vec<Discount>,
    pub payable_fen: u64,
    pub points_to_earn: u64,
    pub growth_to_earn: u64,
    pub offset: Option<OffsetOffer>,
    pub balances: Balances,
    pub effects: Vec<Effect>,
    /// Names everything the quote depends on (order, balances, rules): the commit must bring it
    /// back unchanged.
    pub token: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrderKind {
    TopUp,
    Checkout,
    Refund,
    /// The welcome gifts of a member who opened a card at the till.
    Joined,
    /// Points turned into stored value (积分兑换储值).
    PointsConversion,
    /// A gift taken for points (礼品兑换).
    GiftRedemption,
    /// A tier bought with points (积分升级).
    TierPurchase,
    /// What the scheme's daily tick gave or took (生日礼, points expiring), one a day a member.
    DailyTick,
    /// Points expired at the start of a year (积分清零), one a year a member.
    PointsExpired,
}

/// What a refund has returned of a checkout so far, or what one refund returned.
///
/// Kept with every order: what is zero or empty is left out of the record (most of it, for a
/// sale) and read back as zero, which also reads records written before a field existed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Moved {
    /// What was paid for the order (checkout), or the value refunded (refund).
    #[serde(skip_serializing_if = "is_zero")]
    pub net_fen: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub principal_fen: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub bonus_fen: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub points_offset: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub offset_value_fen: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tenders: Vec<Tender>,
    #[serde(skip_serializing_if = "is_zero")]
    pub points_earned: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub growth_earned: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub referrer_points: u64,
    /// The card fee (工本费) taken when a card was opened.
    #[serde(skip_serializing_if = "is_zero")]
    pub card_fee_fen: u64,
    /// A refund: points it had to take back that the member had already spent, settled by
    /// keeping `clawback_fen` of the money going back (policy `deduct`).
    #[serde(skip_serializing_if = "is_zero")]
    pub clawback_points: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub clawback_fen: u64,
    /// Staff commission credited (or, for a refund, taken back).
    #[serde(skip_serializing_if = "is_zero")]
    pub commission_fen: u64,
    /// A refund: points taken back beyond what the member held, now their debt (policy
    /// `negative`).
    #[serde(skip_serializing_if = "is_zero")]
    pub points_owed: u64,
    /// A daily tick: points and growth taken away (expiry), never more than the member held.
    #[serde(skip_serializing_if = "is_zero")]
    pub points_removed: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub growth_removed: u64,
    /// Of `points_earned`, what went to repay the member's points debt.
    #[serde(skip_serializing_if = "is_zero")]
    pub points_repaid: u64,
    /// Of `referrer_points`, what went to repay the referrer's own points debt.
    #[serde(skip_serializing_if = "is_zero")]
    pub referrer_points_repaid: u64,
    /// A refund: referral points the referrer no longer held, now their debt (policy
    /// `negative`).
    #[serde(skip_serializing_if = "is_zero")]
    pub referrer_points_owed: u64,
    /// A refund: referral points the referrer no longer held, let go (the other policies: the
    /// member's refund is not made to pay for what the referrer spent).
    #[serde(skip_serializing_if = "is_zero")]
    pub referrer_points_written_off: u64,
}

fn is_zero(amount: &u64) -> bool {
    *amount == 0
}

impl Moved {
    /// Nothing moved: a checkout's `refunded` before any refund.
    fn is_nothing(&self) -> bool {
        *self == Moved::default()
    }
}

/// A committed till operation: what the receipt prints, what a refund reverses. Stored as
/// JSON with what is absent or empty left out (a sale's record is about a third smaller, and
/// the directory writes one per sale).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub merchant: MerchantId,
    pub kind: OrderKind,
    pub member: MemberId,
    pub store: StoreId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff: Option<StaffId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal: Option<TerminalId>,
    pub at: UnixMillis,
    /// SHA-256 of the request: a retry must match it.
    pub fingerprint: String,
    pub till_lines: Vec<TillLine>,
    pub lines: Vec<PricedLine>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discounts: Vec<Discount>,
    /// What the order moved: a checkout's payments and earnings, a top-up's (paid in as
    /// principal, given as bonus), a refund's returns and take-backs.
    pub moved: Moved,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<MemberId>,
    /// The member's tier after the order, if it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier_change: Option<TierId>,
    /// For a refund: the checkout it refunds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    /// For a checkout: its refunds, and what they returned in all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refunds: Vec<String>,
    #[serde(default, skip_serializing_if = "Moved::is_nothing")]
    pub refunded: Moved,
    /// Refunded quantity per line (thousandths) and refunded net per line.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub refunded_lines: BTreeMap<u32, (u32, u64)>,
    pub effects: Vec<Effect>,
    /// The ledger transfers it made, as 32 hex digits.
    pub transfers: Vec<String>,
    /// The member's balances once the order was committed.
    pub balances_after: Balances,
    /// The manager who authorised it (a large top-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<StaffId>,
    /// A gift redemption's gift, quantity and points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gift: Option<Reservation>,
    /// The staff member credited with the order's commission (`moved.commission_fen`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller: Option<StaffId>,
    /// A top-up whose bonus is paid monthly: the plan and how far it has got (`moved.bonus_fen`
    /// is the first part, paid with the top-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bonus_plan: Option<BonusPlan>,
}

/// A line (or part of one) to refund.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RefundLine {
    pub line: u32,
    pub quantity_milli: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RefundRequest {
    pub order: String,
    pub original: String,
    /// Empty: everything not yet refunded.
    pub lines: Vec<RefundLine>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TopUpRequest {
    pub order: String,
    pub member: MemberId,
    pub amount_fen: u64,
    /// How it was paid; empty means cash.
    pub tenders: Vec<Tender>,
    /// Who is credited with the top-up's commission, if not the staff member at the till.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seller: Option<StaffId>,
    /// The manager who authorised it, their password checked, where the store asks for one.
    /// Not part of the request's identity: a retry may be authorised by another manager.
    #[serde(skip)]
    pub approved_by: Option<StaffId>,
}

/// What `Till::spend_points` moves and keeps.
struct Spend {
    order: String,
    print: String,
    kind: OrderKind,
    member: MemberId,
    points: u64,
    code: u16,
    /// Stored value given for the points (a conversion).
    bonus_fen: u64,
    tier: Option<(TierId, TierReason)>,
    gift: Option<Reservation>,
}

/// A tier a member buys with points (积分升级).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TierPurchaseRequest {
    pub order: String,
    pub member: MemberId,
    pub tier: TierId,
}

/// A gift a member takes for points.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RedemptionRequest {
    pub order: String,
    pub member: MemberId,
    pub gift: GiftId,
    pub quantity: u32,
}

/// Points a member turns into stored value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConversionRequest {
    pub order: String,
    pub member: MemberId,
    pub points: u64,
}

/// Money taken when a card is opened at the till: a card fee, a first top-up, or both.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Opening {
    /// The POS's id for the opening: the receipt's, and what makes a retry answer the member
    /// made the first time instead of a second one.
    pub order: String,
    pub card_fee_fen: u64,
    pub top_up_fen: u64,
    /// How the fee and the top-up were paid together; empty means cash.
    pub tenders: Vec<Tender>,
    /// Who is credited with the opening's commission, if not the staff member at the till.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seller: Option<StaffId>,
    /// The manager who authorised a first top-up above the store's amount (as for a top-up);
    /// not part of the request's identity.
    #[serde(skip)]
    pub approved_by: Option<StaffId>,
}

/// Why a till operation was refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum TillError {
    #[error("{0}")]
    Invalid(FieldError),
    #[error("no such member")]
    UnknownMember,
    #[error("the member is frozen")]
    Frozen,
    #[error("the member was merged or erased")]
    NotLive,
    #[error("loyalty scheme `{}` failed ({}): {}", .0.plugin, .0.kind, .0.detail)]
    Scheme(SchemeFailure),
    #[error("the loyalty scheme proposed what this order cannot take: {0}")]
    SchemeProposal(String),
    #[error("the quote is stale: balances or rules changed since")]
    QuoteStale(Box<Quote>),
    #[error("the payments add up to {paid} fen; the order is {payable} fen")]
    PaymentMismatch { payable: u64, paid: u64 },
    #[error("points cannot pay for this order")]
    OffsetNotOffered,
    #[error("at most {max} points may pay for this order")]
    OffsetOverMax { max: u64 },
    #[error("points pay in steps of {step}")]
    OffsetStep { step: u64 },
    #[error("the member's stored value is {available} fen")]
    InsufficientStoredValue { available: u128 },
    #[error("the member has {available} points")]
    InsufficientPoints { available: u128 },
    #[error("this order id was used for another request")]
    OrderIdReused,
    #[error("no such order")]
    UnknownOrder,
    #[error("only a checkout can be refunded")]
    NotRefundable,
    #[error("line {line} has {remaining_milli} thousandths left to refund")]
    RefundOverLine { line: u32, remaining_milli: u32 },
    #[error("the order has no line {line}")]
    UnknownLine { line: u32 },
    #[error("nothing is left to refund")]
    NothingToRefund,
    #[error("the refund takes back {needed} points the order earned; the member has {available}")]
    PointsAlreadySpent { needed: u64, available: u128 },
    #[error("the merchant does not turn points into stored value")]
    ConversionOff,
    #[error("no such gift on offer")]
    UnknownGift,
    #[error("this tier is not for sale for points")]
    TierNotForSale,
    #[error("the member is already on this tier or above")]
    TierNotHigher,
    #[error("not enough of the gift in stock: {stock} left")]
    GiftOutOfStock { stock: u64 },
    #[error("a top-up above {above_fen} fen at this store needs a manager's authorisation")]
    ApprovalNeeded { above_fen: u64 },
    #[error("{points} points are worth less than a fen")]
    ConversionTooSmall { points: u64 },
    #[error("the scheme names tier `{0}`, which the merchant does not have")]
    UnknownTier(String),
    #[error("{0}")]
    Member(crate::error::MemberError),
    #[error("the seller named is not an active staff member of this store")]
    UnknownSeller,
    /// Another till changed the member's points debt meanwhile: asking again succeeds.
    #[error("the member's balances changed meanwhile; try again")]
    BalancesChanged,
}

/// Who signs a member up at the till.
#[derive(Clone, Copy, Debug)]
pub enum Signer<'a> {
    Terminal(TerminalId),
    Staff(&'a crate::staff::Staff),
}

type Outcome<T> = Result<Result<T, TillError>, DomainError>;

/// A quote and what it was made from.
struct Quoted {
    quote: Quote,
    record: Member,
    member: SchemeMember,
    store: Store,
    at: LocalTime,
}

fn invalid(field: &str, why: Invalid) -> TillError {
    TillError::Invalid(FieldError::new(field, why))
}

/// The till of one box: members' balances through the ledger, orders in the directory.
#[derive(Debug)]
pub struct Till {
    pub(crate) members: Members,
    pub(crate) options: TillOptions,
    /// Stores whose ledger accounts are known to exist.
    ready: Mutex<HashSet<StoreId>>,
    /// Refunds one at a time: each computes from what earlier refunds of its order returned,
    /// and two at once would both return the same money. Refunds are rare; checkouts and
    /// top-ups never wait on it.
    refunds: tokio::sync::Mutex<()>,
    /// What the scheme proposed for recent quotes, by token.
    proposals: Mutex<Proposals>,
    /// Each merchant's commission rules as last read or set: every sale consults them.
    commission_rules: Mutex<HashMap<MerchantId, Arc<Vec<CommissionRule>>>>,
    /// Staff whose commission accounts are known to exist.
    staff_ready: Mutex<HashSet<StaffId>>,
    /// The daily jobs (tier review, bonus parts) one at a time, whether the daily run or head
    /// office started them.
    pub(crate) daily: tokio::sync::Mutex<()>,
    /// Each member's till operations one at a time, and sales answered before their record was
    /// written: see `inflight.rs`.
    pub(crate) in_flight: InFlight,
}

/// The most recent quotes whose proposals are kept for their commit.
const PROPOSALS_MAX: usize = 4096;

/// The scheme's proposal for each recent quote, by the quote's token, oldest dropped first.
/// A commit whose token is here checks it against the member's balances and the rules as they
/// are now, with the proposal the member was shown, instead of asking the scheme again: the
/// token names all of them, so an equal token means an equal quote. A proposal depends only
/// on what the token covers, plus the time of day; a sale quoted in a time window (happy hour)
/// and paid just after it keeps the price the member saw. A token not here (another box's,
/// an old one, after a restart) is quoted again as before.
#[derive(Debug, Default)]
struct Proposals {
    by_token: HashMap<String, Vec<Effect>>,
    order: VecDeque<String>,
}

impl Proposals {
    fn keep(&mut self, token: &str, effects: &[Effect]) {
        if self.by_token.contains_key(token) {
            return;
        }
        if self.order.len() >= PROPOSALS_MAX
            && let Some(oldest) = self.order.pop_front()
        {
            self.by_token.remove(&oldest);
        }
        self.by_token.insert(token.to_owned(), effects.to_vec());
        self.order.push_back(token.to_owned());
    }

    fn get(&self, token: &str) -> Option<Vec<Effect>> {
        self.by_token.get(token).cloned()
    }
}

/// The hash that names an order's transfers: the same merchant and order id, the same ids.
pub(crate) fn order_key(merchant: MerchantId, order: &str) -> u128 {
    let mut bytes = Vec::with_capacity(16 + order.len());
    bytes.extend_from_slice(&merchant.0.to_le_bytes());
    bytes.extend_from_slice(order.as_bytes());
    accounts::derive(b"order", u128::from_le_bytes(sha16(&bytes)), 0)
}

fn sha16(bytes: &[u8]) -> [u8; 16] {
    let digest = Sha256::digest(bytes);
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

fn fingerprint<T: Serialize>(what: &T) -> Result<String, DomainError> {
    let bytes = serde_json::to_vec(what).map_err(|e| DomainError::Corrupt(e.to_string()))?;
    Ok(crate::hex(&Sha256::digest(&bytes)))
}

/// `total × part / whole`, rounded down; all of `total` once `part` reaches `whole`. Refunds use
/// it cumulatively, so the last one returns exactly what is left.
fn share(total: u64, part: u64, whole: u64) -> u64 {
    if whole == 0 || part >= whole {
        return total;
    }
    u64::try_from(u128::from(total) * u128::from(part) / u128::from(whole)).unwrap_or(total)
}

fn check_order_id(field: &str, id: &str) -> Result<(), TillError> {
    let fits = !id.is_empty()
        && id.chars().count() <= ORDER_ID_CHARS_MAX
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if fits {
        Ok(())
    } else {
        Err(invalid(
            field,
            Invalid::TooLong {
                max: ORDER_ID_CHARS_MAX,
            },
        ))
    }
}

fn check_lines(lines: &[TillLine]) -> Result<(), TillError> {
    if lines.is_empty() {
        return Err(invalid("lines", Invalid::Required));
    }
    if lines.len() > LINES_MAX {
        return Err(invalid("lines", Invalid::TooLong { max: LINES_MAX }));
    }
    let mut seen = HashSet::new();
    for (index, line) in lines.iter().enumerate() {
        let field = |name: &str| format!("lines[{index}].{name}");
        if !seen.insert(line.line) {
            return Err(invalid(&field("line"), Invalid::Duplicate));
        }
        for (name, text, max) in [("sku", &line.sku, 64), ("category", &line.category, 32)] {
            if name == "sku" && text.trim().is_empty() {
                return Err(invalid(&field(name), Invalid::Required));
            }
            if text.chars().count() > max {
                return Err(invalid(&field(name), Invalid::TooLong { max }));
            }
            if text.chars().any(char::is_control) {
                return Err(invalid(&field(name), Invalid::ControlCharacters));
            }
        }
        if line.quantity_milli == 0 || line.quantity_milli > QUANTITY_MILLI_MAX {
            return Err(invalid(&field("quantity"), Invalid::Number { scale: 3 }));
        }
        if line.unit_price_fen > AMOUNT_FEN_MAX {
            return Err(invalid(&field("unit_price"), Invalid::Number { scale: 2 }));
        }
    }
    Ok(())
}

fn check_tenders(tenders: &[Tender]) -> Result<u64, TillError> {
    if tenders.len() > 8 {
        return Err(invalid("tenders", Invalid::TooLong { max: 8 }));
    }
    let mut total = 0u64;
    for (index, tender) in tenders.iter().enumerate() {
        if tender.amount_fen == 0 || tender.amount_fen > AMOUNT_FEN_MAX {
            return Err(invalid(
                &format!("tenders[{index}].amount"),
                Invalid::Number { scale: 2 },
            ));
        }
        total += tender.amount_fen;
    }
    Ok(total)
}

/// The tenders of a payment of `amount`: cash if none are given; they must add up to it.
fn paid_by(tenders: &[Tender], amount: u64) -> Result<Vec<Tender>, TillError> {
    let tenders = if tenders.is_empty() {
        vec![Tender {
            kind: TenderKind::Cash,
            amount_fen: amount,
        }]
    } else {
        tenders.to_vec()
    };
    match check_tenders(&tenders)? {
        total if total == amount => Ok(tenders),
        total => Err(TillError::PaymentMismatch {
            payable: amount,
            paid: total,
        }),
    }
}

/// A top-up of `amount` at `store` may go ahead: under the store's amount for a manager's
/// authorisation (大额充值授权), or authorised.
fn approved(store: &Store, amount: u64, by: Option<StaffId>) -> Result<(), TillError> {
    match store.top_up_approval_above_fen {
        Some(above_fen) if amount > above_fen && by.is_none() => {
            Err(TillError::ApprovalNeeded { above_fen })
        }
        _ => Ok(()),
    }
}

/// The stored value a top-up answer gives on top (赠送).
/// A top-up's bonus, and the schedule an offer named for it (none: the box's own). One top-up
/// pays its bonus on one schedule: bonuses naming different ones are refused.
fn bonus_of(effects: &[Effect]) -> Result<(u64, Option<u32>), TillError> {
    let mut bonus = 0u64;
    let mut schedules = Vec::new();
    for effect in effects {
        if let Effect::BonusStoredValue { amount_fen, months } = effect {
            bonus = bonus.saturating_add(positive(*amount_fen));
            if !schedules.contains(months) {
                schedules.push(*months);
            }
        }
    }
    if bonus > AMOUNT_FEN_MAX {
        return Err(TillError::SchemeProposal(format!("a bonus of {bonus} fen")));
    }
    if let Some(months) = schedules.iter().flatten().find(|m| **m > BONUS_MONTHS_MAX) {
        return Err(TillError::SchemeProposal(format!(
            "a bonus spread over {months} months"
        )));
    }
    match schedules.as_slice() {
        [] => Ok((bonus, None)),
        [months] => Ok((bonus, *months)),
        _ => Err(TillError::SchemeProposal(
            "bonuses paid on different schedules in one top-up".into(),
        )),
    }
}

fn positive(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Points and growth an answer gives, to the member and to the referrer.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Earned {
    pub(crate) points: u64,
    pub(crate) growth: u64,
    pub(crate) referrer_points: u64,
}

fn earned(effects: &[Effect]) -> Earned {
    let mut out = Earned::default();
    for effect in effects {
        match effect {
            Effect::EarnPoints { to, points, .. } => match to {
                Party::Member => out.points = out.points.saturating_add(positive(*points)),
                Party::Referrer => {
                    out.referrer_points = out.referrer_points.saturating_add(positive(*points));
                }
            },
            // A referrer's growth is not given: growth measures the member's own custom.
            Effect::GrantGrowth {
                to: Party::Member,
                points,
                ..
            } => out.growth = out.growth.saturating_add(positive(*points)),
            _ => {}
        }
    }
    out
}

/// Points a refund hook takes back from the member, if it says (negative `earn-points`).
fn taken_back(effects: &[Effect]) -> Option<(u64, u64)> {
    let mut points = None;
    let mut growth = None;
    for effect in effects {
        match effect {
            Effect::EarnPoints {
                to: Party::Member,
                points: p,
                ..
            } => *points.get_or_insert(0u64) += p.unsigned_abs(),
            Effect::GrantGrowth {
                to: Party::Member,
                points: g,
                ..
            } => *growth.get_or_insert(0u64) += g.unsigned_abs(),
            _ => {}
        }
    }
    (points.is_some() || growth.is_some()).then(|| (points.unwrap_or(0), growth.unwrap_or(0)))
}

/// A member's referrer as an order finds them: who, and the points debt they owe (read with the
/// order's other balances; a debt repaid meanwhile by another till fails the batch, and asking
/// again succeeds).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Referrer {
    pub(crate) id: MemberId,
    pub(crate) owed: u128,
}

/// The transfers of one order, leg by leg; a leg of nothing is left out.
pub(crate) struct Legs {
    /// The order's key: transfer ids derive from it and the leg's part.
    key: u128,
    /// For a refund, the key of the order it reverses: each transfer then names the one it
    /// reverses (the same part of that order) in `user_data.u128`.
    reverses: Option<u128>,
    pub(crate) transfers: Vec<NewTransfer>,
}

impl Legs {
    pub(crate) fn new(key: u128, reverses: Option<u128>) -> Legs {
        Legs {
            key,
            reverses,
            transfers: Vec::new(),
        }
    }

    /// A top-up's money: principal paid in at store `s`, and the bonus it gave on top.
    fn top_up(&mut self, s: StoreId, m: MemberId, principal: u64, bonus: u64) {
        self.leg(
            part::PRINCIPAL,
            StoreAccount::StoredValueSold.id(s),
            MemberAccount::Principal.id(m),
            principal,
            transfer_code::TOP_UP,
        );
        self.leg(
            part::BONUS,
            StoreAccount::BonusGiven.id(s),
            MemberAccount::Bonus.id(m),
            bonus,
            transfer_code::TOP_UP_BONUS,
        );
    }

    pub(crate) fn leg(
        &mut self,
        part: u16,
        debit: AccountId,
        credit: AccountId,
        amount: u64,
        code: u16,
    ) {
        self.leg_reversing(part, part, debit, credit, amount, code);
    }

    /// A leg that, in a refund, reverses part `reversed` of the original (a leg of its own).
    fn leg_reversing(
        &mut self,
        part: u16,
        reversed: u16,
        debit: AccountId,
        credit: AccountId,
        amount: u64,
        code: u16,
    ) {
        if amount == 0 {
            return;
        }
        let reference = self.reverses.map_or(self.key, |original| {
            accounts::transfer_id(b"till", original, reversed).0
        });
        self.transfers.push(NewTransfer {
            id: accounts::transfer_id(b"till", self.key, part),
            kind: TransferKind::Posted {
                debit,
                credit,
                amount: u128::from(amount),
            },
            code,
            user_data: UserData {
                u128: reference,
                u64: 0,
                u32: u32::from(part),
            },
        });
    }

    /// Puts the member's earned points towards their points debt first (up to `owed`): what was
    /// repaid. `earnings` then credits the rest.
    pub(crate) fn repay(
        &mut self,
        store: StoreId,
        member: MemberId,
        owed: u128,
        gains: &mut Earned,
    ) -> u64 {
        let repaid = u64::try_from(owed.min(u128::from(gains.points))).unwrap_or(0);
        self.leg(
            part::POINTS_REPAID,
            StoreAccount::PointsIssued.id(store),
            accounts::points_owed_id(member),
            repaid,
            transfer_code::POINTS_DEBT_REPAID,
        );
        gains.points -= repaid;
        repaid
    }

    /// What the order earns: the member's points and growth, and the referrer's points if they
    /// are still a member — put towards the referrer's own points debt first, as the member's
    /// own earnings are (`repay`). The referrer's points given in all, and of them what repaid
    /// their debt; none without a referrer.
    pub(crate) fn earnings(
        &mut self,
        store: StoreId,
        member: MemberId,
        referrer: Option<Referrer>,
        gains: Earned,
    ) -> (u64, u64) {
        self.leg(
            part::POINTS_EARNED,
            StoreAccount::PointsIssued.id(store),
            MemberAccount::Points.id(member),
            gains.points,
            transfer_code::POINTS_EARNED,
        );
        self.leg(
            part::GROWTH_EARNED,
            StoreAccount::GrowthIssued.id(store),
            MemberAccount::Growth.id(member),
            gains.growth,
            transfer_code::GROWTH_EARNED,
        );
        let Some(referrer) = referrer else {
            return (0, 0);
        };
        let given = gains.referrer_points;
        let repaid = u64::try_from(referrer.owed.min(u128::from(given))).unwrap_or(0);
        self.leg(
            part::REFERRER_REPAID,
            StoreAccount::PointsIssued.id(store),
            accounts::points_owed_id(referrer.id),
            repaid,
            transfer_code::POINTS_DEBT_REPAID,
        );
        self.leg(
            part::REFERRER_POINTS,
            StoreAccount::PointsIssued.id(store),
            MemberAccount::Points.id(referrer.id),
            given - repaid,
            transfer_code::REFERRAL_POINTS,
        );
        (given, repaid)
    }

    /// A refund taking back points an order gave `who` (part `earned` of it): `taken` from the
    /// points they hold, and `owed` — what they no longer hold — as their debt, under part
    /// `owed_part`, reversing the same earning.
    fn take_back_points(
        &mut self,
        (earned, owed_part): (u16, u16),
        who: MemberId,
        store: StoreId,
        taken: u64,
        owed: u64,
    ) {
        let issued = StoreAccount::PointsIssued.id(store);
        let points = MemberAccount::Points.id(who);
        self.leg(earned, points, issued, taken, transfer_code::REVERSAL);
        let debt = accounts::points_owed_id(who);
        self.leg_reversing(
            owed_part,
            earned,
            debt,
            issued,
            owed,
            transfer_code::REVERSAL,
        );
    }

    /// Commission `amount` for `seller`, from the store's expense; reversed by a refund.
    fn commission(&mut self, part: u16, store: StoreId, seller: StaffId, amount: u64, code: u16) {
        let (expense, owed) = (
            StoreAccount::CommissionExpense.id(store),
            commission::staff_account_id(seller),
        );
        if self.reverses.is_some() {
            self.leg(part, owed, expense, amount, transfer_code::REVERSAL);
        } else {
            self.leg(part, expense, owed, amount, code);
        }
    }

    /// The transfer ids, as the order records them.
    pub(crate) fn ids(&self) -> Vec<String> {
        self.transfers
            .iter()
            .map(|t| format!("{:032x}", t.id.0))
            .collect()
    }
}

/// The parts of an order's transfers: each has a fixed number, so a refund names the transfer
/// it reverses by the same part.
pub(crate) mod part {
    pub const PRINCIPAL: u16 = 1;
    pub const BONUS: u16 = 2;
    pub const POINTS_OFFSET: u16 = 3;
    pub const POINTS_EARNED: u16 = 4;
    pub const GROWTH_EARNED: u16 = 5;
    pub const REFERRER_POINTS: u16 = 6;
    /// The commission of the order's own event.
    pub const COMMISSION: u16 = 7;
    /// The commission on the first top-up of a card opened at the till.
    pub const COMMISSION_TOP_UP: u16 = 8;
    /// Earned points put towards the member's points debt.
    pub const POINTS_REPAID: u16 = 9;
    /// A refund's points taken back beyond what the member held: their new debt.
    pub const POINTS_OWED: u16 = 10;
    /// Points and growth a daily tick takes away (expiry).
    pub const POINTS_REMOVED: u16 = 11;
    pub const GROWTH_REMOVED: u16 = 12;
    /// Referral points put towards the referrer's own points debt.
    pub const REFERRER_REPAID: u16 = 13;
    /// A refund's referral points taken back beyond what the referrer held: their new debt.
    pub const REFERRER_OWED: u16 = 14;
    /// The highest part of an order's own (parts from 100 are a bonus plan's later payments).
    pub const LAST: u16 = REFERRER_OWED;
}

/// `balances` of `member` as they were before `transfers` moved them.
fn balances_before(balances: Balances, member: MemberId, transfers: &[Transfer]) -> Balances {
    let moves = transfers.iter().map(|t| (t.debit, t.credit, t.amount));
    move_balances(balances, member, moves, false)
}

/// The member's balances after `transfers` (posted, all of them) moved them.
fn moved_by(balances: Balances, member: MemberId, transfers: &[NewTransfer]) -> Balances {
    let moves = transfers.iter().filter_map(|t| match t.kind {
        TransferKind::Posted {
            debit,
            credit,
            amount,
        } => Some((debit, credit, amount)),
        _ => None,
    });
    move_balances(balances, member, moves, true)
}

/// `balances` moved by each (debit, credit, amount) — `forward`, or taken back.
fn move_balances(
    mut balances: Balances,
    member: MemberId,
    moves: impl Iterator<Item = (AccountId, AccountId, u128)>,
    forward: bool,
) -> Balances {
    let owed = accounts::points_owed_id(member);
    for (debit, credit, amount) in moves {
        // Each balance, its account, and whether a credit adds to it (what the member holds)
        // or a debit does (what they owe).
        for (value, account, credit_adds) in [
            (
                &mut balances.principal_fen,
                MemberAccount::Principal.id(member),
                true,
            ),
            (
                &mut balances.bonus_fen,
                MemberAccount::Bonus.id(member),
                true,
            ),
            (&mut balances.points, MemberAccount::Points.id(member), true),
            (&mut balances.growth, MemberAccount::Growth.id(member), true),
            (&mut balances.points_owed, owed, false),
        ] {
            let (mut added, mut taken) = if credit_adds {
                (credit == account, debit == account)
            } else {
                (debit == account, credit == account)
            };
            if !forward {
                std::mem::swap(&mut added, &mut taken);
            }
            if added {
                *value = value.saturating_add(amount);
            }
            if taken {
                *value = value.saturating_sub(amount);
            }
        }
    }
    balances
}

impl Till {
    pub fn new(members: Members, options: TillOptions) -> Till {
        // Sales' records are written without a sync, their redo logged with their batches: the
        // ledger has them synced before its log forgets those (see `Changes`). Held weakly: a
        // directory already closed has synced them as it closed.
        let directory = Arc::downgrade(members.directory());
        members
            .ledger()
            .set_checkpoint_hook(Arc::new(move || match directory.upgrade() {
                Some(directory) => directory.make_durable().map_err(|error| error.to_string()),
                None => Ok(()),
            }));
        Till {
            members,
            options,
            ready: Mutex::new(HashSet::new()),
            refunds: tokio::sync::Mutex::new(()),
            proposals: Mutex::new(Proposals::default()),
            commission_rules: Mutex::new(HashMap::new()),
            staff_ready: Mutex::new(HashSet::new()),
            daily: tokio::sync::Mutex::new(()),
            in_flight: InFlight::default(),
        }
    }

    pub fn members(&self) -> &Members {
        &self.members
    }

    fn db(&self) -> &redb::Database {
        &self.members.directory().db
    }

    /// Opens the store's ledger accounts the first time the till uses them.
    async fn store_accounts(&self, store: StoreId) -> Result<(), DomainError> {
        if self.ready.lock().is_ok_and(|ready| ready.contains(&store)) {
            return Ok(());
        }
        let accounts = StoreAccount::ALL
            .into_iter()
            .map(|account| account.new_account(store))
            .collect();
        self.members
            .ledger()
            .create_accounts(accounts)
            .await
            .map_err(batch_error)?;
        if let Ok(mut ready) = self.ready.lock() {
            ready.insert(store);
        }
        Ok(())
    }

    /// Opens a staff member's commission account the first time they earn commission.
    async fn staff_account(&self, staff: StaffId) -> Result<(), DomainError> {
        if self
            .staff_ready
            .lock()
            .is_ok_and(|ready| ready.contains(&staff))
        {
            return Ok(());
        }
        self.members
            .ledger()
            .create_accounts(vec![commission::staff_account(staff)])
            .await
            .map_err(batch_error)?;
        if let Ok(mut ready) = self.staff_ready.lock() {
            ready.insert(staff);
        }
        Ok(())
    }

    /// The merchant's commission rules (提成方案); none until head office sets them.
    pub fn commission_rules(
        &self,
        merchant: MerchantId,
    ) -> Result<Arc<Vec<CommissionRule>>, DomainError> {
        if let Some(rules) = self
            .commission_rules
            .lock()
            .ok()
            .and_then(|cache| cache.get(&merchant).cloned())
        {
            return Ok(rules);
        }
        let rules = Arc::new(commission::read_rules(self.db(), merchant)?);
        if let Ok(mut cache) = self.commission_rules.lock() {
            cache.insert(merchant, rules.clone());
        }
        Ok(rules)
    }

    /// Replaces the merchant's commission rules (head office): every rule is checked, a tier
    /// named must be the merchant's, no two rules have the same event, tier and role.
    pub fn set_commission_rules(
        &self,
        actor: &Staff,
        rules: Vec<CommissionRule>,
    ) -> Result<Result<Arc<Vec<CommissionRule>>, CommissionError>, DomainError> {
        if let Err(refused) = commission::write_rules(&self.members, actor, &rules)? {
            return Ok(Err(refused));
        }
        let rules = Arc::new(rules);
        if let Ok(mut cache) = self.commission_rules.lock() {
            cache.insert(actor.merchant, rules.clone());
        }
        Ok(Ok(rules))
    }

    /// Who is credited with an order's commission: the staff member the POS names (导购), or
    /// the one signed in at the till; a terminal that names nobody credits nobody. One named
    /// must be an active staff member working at this store.
    fn seller(&self, actor: &TillActor, named: Option<StaffId>) -> Outcome<Option<Staff>> {
        let Some(id) = named.or(actor.staff) else {
            return Ok(Ok(None));
        };
        let found = self.members.directory().staff(id)?.filter(|staff| {
            staff.merchant == actor.merchant
                && !staff.disabled
                && staff.role != Role::Department
                && staff.scope.covers(actor.store)
        });
        match found {
            Some(staff) => Ok(Ok(Some(staff))),
            None if named.is_some() => Ok(Err(TillError::UnknownSeller)),
            None => Ok(Ok(None)),
        }
    }

    /// The commission `seller` earns for `on`, serving a member on `tier`, on `base_fen`.
    fn commission(
        &self,
        merchant: MerchantId,
        seller: Option<&Staff>,
        on: CommissionEvent,
        tier: Option<TierId>,
        base_fen: u64,
    ) -> Result<u64, DomainError> {
        let Some(seller) = seller else {
            return Ok(0);
        };
        let rules = self.commission_rules(merchant)?;
        Ok(commission_for(&rules, on, tier, seller.role, base_fen))
    }

    /// The part of a top-up's `bonus` paid now, and the plan for the rest when it is paid
    /// monthly: over the `months` the scheme's offer named, else as the merchant pays bonuses.
    fn bonus_now(
        &self,
        member: MemberId,
        store: StoreId,
        (bonus, months): (u64, Option<u32>),
        now: UnixMillis,
    ) -> (u64, Option<BonusPlan>) {
        let months = months.unwrap_or(self.options.top_up_bonus_months);
        if months <= 1 || bonus == 0 {
            return (bonus, None);
        }
        let plan = BonusPlan::new(member, store, bonus, months, LocalTime::at(now).date);
        (plan.paid_fen, Some(plan))
    }

    /// Adds `seller`'s commission to an order's legs, opening their account if it is new.
    async fn credit(
        &self,
        legs: &mut Legs,
        part: u16,
        store: StoreId,
        seller: Option<&Staff>,
        amount: u64,
        on: CommissionEvent,
    ) -> Result<(), DomainError> {
        let Some(seller) = seller.filter(|_| amount > 0) else {
            return Ok(());
        };
        self.staff_account(seller.id).await?;
        legs.commission(part, store, seller.id, amount, on.transfer_code());
        Ok(())
    }

    /// Waits until every till operation under way for `member` is over, the records of her sales
    /// included: what is read of her next counts them.
    pub async fn settled(&self, member: MemberId) {
        self.in_flight.settled(member).await;
    }

    /// Whether a till operation of `member` is under way, or a record of hers still being
    /// written.
    pub fn busy(&self, member: MemberId) -> bool {
        self.in_flight.busy(member)
    }

    /// Waits until every sale answered so far has its record written: before the box closes
    /// its files.
    pub async fn drained(&self) {
        self.in_flight.drained().await;
    }

    /// An order of the merchant, by the POS's id.
    pub fn order(&self, merchant: MerchantId, id: &str) -> Result<Option<Order>, DomainError> {
        if let Some(answered) = self.in_flight.answered(merchant, id) {
            return Ok(Some(answered));
        }
        let txn = self.db().begin_read()?;
        let table = txn.open_table(ORDERS)?;
        table
            .get((merchant.0, id))?
            .map(|bytes| decode("order", bytes.value()))
            .transpose()
    }

    pub fn stats(&self, member: MemberId) -> Result<MemberStats, DomainError> {
        let txn = self.db().begin_read()?;
        stats_in(&txn.open_table(MEMBER_STATS)?, member)
    }

    /// A member who may use the till, with the scheme's view of them.
    fn member_for_till(
        &self,
        merchant: MerchantId,
        id: MemberId,
    ) -> Outcome<(Member, SchemeMember)> {
        let txn = self.db().begin_read()?;
        let Some(member) = self.members.member_record_read(&txn, id)? else {
            return Ok(Err(TillError::UnknownMember));
        };
        let stats = stats_in(&txn.open_table(MEMBER_STATS)?, id)?;
        drop(txn);
        if member.merchant != merchant {
            return Ok(Err(TillError::UnknownMember));
        }
        match member.status {
            MemberStatus::Active => {}
            MemberStatus::Frozen => return Ok(Err(TillError::Frozen)),
            _ => return Ok(Err(TillError::NotLive)),
        }
        let view = self.scheme_member(&member, self.members.balances(member.id)?, stats)?;
        Ok(Ok((member, view)))
    }

    /// `member` as a scheme sees them, with their tier's definition.
    pub(crate) fn scheme_member(
        &self,
        member: &Member,
        balances: Balances,
        stats: MemberStats,
    ) -> Result<SchemeMember, DomainError> {
        let tier = match member.tier {
            Some(tier) => self
                .members
                .tiers(member.merchant)?
                .into_iter()
                .find(|t| t.id == tier),
            None => None,
        };
        Ok(SchemeMember {
            id: member.id,
            tier,
            tags: member.profile.tags.clone(),
            birthday: member.profile.birthday,
            joined_on: Date::at(member.joined_at, MERCHANT_UTC_OFFSET_MINUTES),
            home_store: member.home_store,
            referrer: member.referrer,
            balances,
            stats,
        })
    }

    fn store(&self, actor: &TillActor) -> Result<Store, DomainError> {
        self.members
            .directory()
            .store_record(actor.store)?
            .filter(|store| store.merchant == actor.merchant)
            .ok_or_else(|| DomainError::Corrupt(format!("till store {} is gone", actor.store)))
    }

    /// Where every till write starts: a previous answer to the same request (`Some`), a
    /// refusal if the id was used for another or is malformed, or `None` to go ahead.
    fn replay(
        &self,
        merchant: MerchantId,
        order: &str,
        fingerprint: &str,
    ) -> Outcome<Option<Order>> {
        if let Err(refused) = check_order_id("order", order) {
            return Ok(Err(refused));
        }
        match self.order(merchant, order)? {
            Some(existing) if existing.fingerprint == fingerprint => Ok(Ok(Some(existing))),
            Some(_) => Ok(Err(TillError::OrderIdReused)),
            None => Ok(Ok(None)),
        }
    }

    /// Prices an order and asks the scheme what it gives: what the member sees before paying.
    pub async fn quote(
        &self,
        actor: &TillActor,
        scheme: &dyn Scheme,
        request: &CheckoutRequest,
        now: UnixMillis,
    ) -> Outcome<Quote> {
        // Priced with her last sale counted, even if its record is still being written.
        self.in_flight.settled(request.member).await;
        Ok(self
            .quoted(actor, scheme, request, now, None, &[])?
            .map(|quoted| quoted.quote))
    }

    /// A quote with what it was made from: the commit goes on with the same member and store
    /// rather than reading them again. Given the token a commit brings, the proposal kept for
    /// it is tried first (see [`Proposals`]). With the order's `own` transfers (already in the
    /// ledger, see [`Till::own_transfers`]), it is made at the balances from before them.
    fn quoted(
        &self,
        actor: &TillActor,
        scheme: &dyn Scheme,
        request: &CheckoutRequest,
        now: UnixMillis,
        token: Option<&str>,
        own: &[Transfer],
    ) -> Outcome<Quoted> {
        if let Err(refused) =
            check_order_id("order", &request.order).and_then(|()| check_lines(&request.lines))
        {
            return Ok(Err(refused));
        }
        let (record, mut member) = match self.member_for_till(actor.merchant, request.member)? {
            Ok(found) => found,
            Err(refused) => return Ok(Err(refused)),
        };
        member.balances = balances_before(member.balances, member.id, own);
        let store = self.store(actor)?;
        let at = LocalTime::at(now);
        let context = SchemeContext {
            order: &request.order,
            member,
            store: &store,
            at,
        };
        let rules = scheme.rules_version();
        // Everything a quote depends on: the order, the balances, the proposal, the rules.
        let priced = |effects: Vec<Effect>| -> Outcome<Quote> {
            let mut quote = match price(request, actor.store, context.member.balances, effects) {
                Ok(quote) => quote,
                Err(refused) => return Ok(Err(refused)),
            };
            quote.token = fingerprint(&(
                &rules,
                actor.store,
                request,
                &quote.balances,
                &quote.effects,
            ))?;
            Ok(Ok(quote))
        };
        let kept = token.and_then(|token| Some((token, self.proposals.lock().ok()?.get(token)?)));
        let mut quote = None;
        if let Some((token, effects)) = kept
            && let Ok(again) = priced(effects)?
            && again.token == token
        {
            quote = Some(again);
        }
        let quote = match quote {
            Some(quote) => quote,
            None => {
                let effects = match scheme.quote_checkout(&context, &request.lines) {
                    Ok(effects) => effects,
                    Err(failure) => return Ok(Err(TillError::Scheme(failure))),
                };
                let quote = match priced(effects)? {
                    Ok(quote) => quote,
                    Err(refused) => return Ok(Err(refused)),
                };
                if let Ok(mut proposals) = self.proposals.lock() {
                    proposals.keep(&quote.token, &quote.effects);
                }
                quote
            }
        };
        let member = context.member;
        Ok(Ok(Quoted {
            quote,
            record,
            member,
            store,
            at,
        }))
    }

    /// Commits a quoted checkout with the member's payments: stored value, points and other
    /// tenders, the points and growth earned, the referrer's share — one ledger batch.
    pub async fn checkout(
        &self,
        actor: &TillActor,
        scheme: &dyn Scheme,
        request: &CheckoutRequest,
        payment: &Payment,
        token: &str,
        now: UnixMillis,
    ) -> Outcome<Order> {
        let print = fingerprint(&("checkout", actor.store, request, payment, token))?;
        // Held until the sale's record is in the directory: her next operation reads it.
        let turn = self.in_flight.turn(request.member).await;
        match self.replay(actor.merchant, &request.order, &print)? {
            Ok(Some(done)) => return Ok(Ok(done)),
            Ok(None) => {}
            Err(refused) => return Ok(Err(refused)),
        }
        let tenders_fen = match check_tenders(&payment.tenders) {
            Ok(total) => total,
            Err(refused) => return Ok(Err(refused)),
        };
        if payment.stored_value_fen > AMOUNT_FEN_MAX {
            return Ok(Err(invalid("stored_value", Invalid::Number { scale: 2 })));
        }
        let mut quoted = match self.quoted(actor, scheme, request, now, Some(token), &[])? {
            Ok(quoted) => quoted,
            Err(refused) => return Ok(Err(refused)),
        };
        // A stale token may be this order's own doing: its batch reached the ledger but its
        // record never did (the box stopped in between). Priced at the balances from before
        // that batch, the retry finds the same legs, which the ledger answers as already there,
        // and the record is written: the sale completes once, with its receipt.
        let mut own = Vec::new();
        if quoted.quote.token != token {
            own = self.own_transfers(order_key(actor.merchant, &request.order))?;
            if !own.is_empty()
                && let Ok(retried) = self.quoted(actor, scheme, request, now, Some(token), &own)?
                && retried.quote.token == token
            {
                quoted = retried;
            }
        }
        let Quoted {
            quote,
            record: member_record,
            member,
            store,
            at,
        } = quoted;
        if quote.token != token {
            return Ok(Err(TillError::QuoteStale(Box::new(quote))));
        }
        let offset_value = match (payment.points, quote.offset) {
            (0, _) => 0,
            (_, None) => return Ok(Err(TillError::OffsetNotOffered)),
            (points, Some(offer)) => {
                if points > offer.max_points {
                    return Ok(Err(TillError::OffsetOverMax {
                        max: offer.max_points,
                    }));
                }
                if points % offer.points_per_unit != 0 {
                    return Ok(Err(TillError::OffsetStep {
                        step: offer.points_per_unit,
                    }));
                }
                points / offer.points_per_unit * offer.unit_fen
            }
        };
        let paid = payment.stored_value_fen + offset_value + tenders_fen;
        if paid != quote.payable_fen {
            return Ok(Err(TillError::PaymentMismatch {
                payable: quote.payable_fen,
                paid,
            }));
        }
        let balances = quote.balances;
        let stored = u128::from(payment.stored_value_fen);
        if stored > balances.principal_fen + balances.bonus_fen {
            return Ok(Err(TillError::InsufficientStoredValue {
                available: balances.principal_fen + balances.bonus_fen,
            }));
        }
        let (principal, bonus) = self.split(payment.stored_value_fen, &balances);
        let seller = match self.seller(actor, payment.seller)? {
            Ok(seller) => seller,
            Err(refused) => return Ok(Err(refused)),
        };
        let commission = self.commission(
            actor.merchant,
            seller.as_ref(),
            CommissionEvent::Sale,
            member_record.tier,
            quote.payable_fen,
        )?;

        let context = SchemeContext {
            order: &request.order,
            member,
            store: &store,
            at,
        };
        let paid = Paid {
            stored_value_fen: payment.stored_value_fen,
            points: payment.points,
            other_fen: tenders_fen,
        };
        let effects = match scheme.commit_checkout(&context, &request.lines, paid, &quote.effects) {
            Ok(effects) => effects,
            Err(failure) => return Ok(Err(TillError::Scheme(failure))),
        };
        let tier_set = match self.tier_named(actor.merchant, &effects)? {
            Ok(tier) => tier,
            Err(refused) => return Ok(Err(refused)),
        };
        let gains = earned(&effects);
        let referrer = self.live_referrer(&member_record, &own)?;

        let m = request.member;
        let s = actor.store;
        let mut legs = Legs::new(order_key(actor.merchant, &request.order), None);
        legs.leg(
            part::PRINCIPAL,
            MemberAccount::Principal.id(m),
            StoreAccount::StoredValueRedeemed.id(s),
            principal,
            transfer_code::SPEND_PRINCIPAL,
        );
        legs.leg(
            part::BONUS,
            MemberAccount::Bonus.id(m),
            StoreAccount::BonusRedeemed.id(s),
            bonus,
            transfer_code::SPEND_BONUS,
        );
        legs.leg(
            part::POINTS_OFFSET,
            MemberAccount::Points.id(m),
            StoreAccount::PointsRedeemed.id(s),
            payment.points,
            transfer_code::POINTS_OFFSET,
        );
        let mut credited = gains;
        let repaid = legs.repay(s, m, balances.points_owed, &mut credited);
        let (referrer_points, referrer_points_repaid) = legs.earnings(s, m, referrer, credited);
        self.credit(
            &mut legs,
            part::COMMISSION,
            s,
            seller.as_ref(),
            commission,
            CommissionEvent::Sale,
        )
        .await?;
        let ids = legs.ids();
        let order = Order {
            id: request.order.clone(),
            kind: OrderKind::Checkout,
            member: m,
            store: s,
            fingerprint: print,
            till_lines: request.lines.clone(),
            lines: quote.lines.clone(),
            discounts: quote.discounts.clone(),
            moved: Moved {
                net_fen: quote.payable_fen,
                principal_fen: principal,
                bonus_fen: bonus,
                points_offset: payment.points,
                offset_value_fen: offset_value,
                tenders: merged(&payment.tenders),
                points_earned: gains.points,
                growth_earned: gains.growth,
                referrer_points,
                referrer_points_repaid,
                referrer_points_owed: 0,
                referrer_points_written_off: 0,
                card_fee_fen: 0,
                clawback_points: 0,
                clawback_fen: 0,
                commission_fen: commission,
                points_owed: 0,
                points_repaid: repaid,
                points_removed: 0,
                growth_removed: 0,
            },
            referrer: referrer.map(|r| r.id),
            effects,
            transfers: ids,
            seller: seller.map(|seller| seller.id),
            ..Order::blank(actor, now)
        };
        let visit = Some(Visit {
            spent_fen: quote.payable_fen,
            date: context.at.date,
        });
        // What the balances will be once the batch is in: the quote's, which the token vouches
        // are current, moved by the batch. Known before it, so the note holds the order whole.
        let mut order = order;
        order.balances_after = moved_by(balances, m, &legs.transfers);
        // The tier decided now, on the statistics the member's turn keeps as they were read,
        // so that the receipt can go before the record is written.
        let mut changes = Changes {
            tier_set: scheme_set(tier_set),
            top_up_fen: 0,
            visit,
            decided: true,
        };
        let tiers = self.members.tiers(actor.merchant)?;
        changes.tier_set = if may_move(&tiers, changes.tier_set) {
            let mut stats = context.member.stats;
            changes.count(&mut stats, gains.growth);
            let current = member_record.tier;
            next_tier(
                &tiers,
                current,
                changes.tier_set,
                &order.balances_after,
                &stats,
                0,
            )
        } else {
            None
        };
        order.tier_change = changes.tier_set.map(|(tier, _)| tier);
        let encoded = encode(&order)?;
        let note = changes.note(&encoded)?;
        let guard = match self.apply_noted(s, m, legs.transfers, Some(note)).await? {
            Ok(guard) => guard,
            Err(refused) => return Ok(Err(refused)),
        };
        let Some(guard) = guard.filter(|guard| guard.logged()) else {
            // Not in the log (too large for it): the record is written and synced first.
            return Ok(Ok(self
                .record_ready(Ready { order, encoded }, changes, RecordSync::Now)
                .await?));
        };
        // The sale is durable in the ledger's log with its record: answered now. The record's
        // write is queued before the answer goes, so any later write comes after it; until it
        // is committed, the order is answered from memory and the member's turn is held.
        let answered = self.in_flight.answer(&order);
        let write = self.queue_record(&order, encoded, changes)?;
        let order_id = order.id.clone();
        tokio::spawn(async move {
            if let Err(error) = write.await {
                // As before the answer went first: the receipt's order stays unrecorded until
                // the box redoes its note on start (if no checkpoint lets the note go first).
                tracing::error!(%error, order = %order_id, "an answered sale's record failed");
            }
            drop(answered);
            // Only now may the ledger's log let the note go, and the member's next operation in.
            drop(guard);
            drop(turn);
        });
        Ok(Ok(order))
    }

    /// Money paid in (充值): principal for what was paid, and what the scheme's top-up offer
    /// gives — bonus stored value, points, growth, a tier.
    pub async fn top_up(
        &self,
        actor: &TillActor,
        scheme: &dyn Scheme,
        request: &TopUpRequest,
        now: UnixMillis,
    ) -> Outcome<Order> {
        let print = fingerprint(&("top-up", actor.store, request))?;
        let _turn = self.in_flight.turn(request.member).await;
        match self.replay(actor.merchant, &request.order, &print)? {
            Ok(Some(done)) => return Ok(Ok(done)),
            Ok(None) => {}
            Err(refused) => return Ok(Err(refused)),
        }
        if request.amount_fen == 0 || request.amount_fen > AMOUNT_FEN_MAX {
            return Ok(Err(invalid("amount", Invalid::Number { scale: 2 })));
        }
        let tenders = match paid_by(&request.tenders, request.amount_fen) {
            Ok(tenders) => tenders,
            Err(refused) => return Ok(Err(refused)),
        };
        let (member_record, mut member) =
            match self.member_for_till(actor.merchant, request.member)? {
                Ok(found) => found,
                Err(refused) => return Ok(Err(refused)),
            };
        // A retry whose first attempt's batch reached the ledger without its record (see
        // `checkout`) is made from the balances before that batch, so it finds the same legs.
        let key = order_key(actor.merchant, &request.order);
        let own = self.own_transfers_with(key, part::PRINCIPAL)?;
        member.balances = balances_before(member.balances, member.id, &own);
        let store = self.store(actor)?;
        if let Err(refused) = approved(&store, request.amount_fen, request.approved_by) {
            return Ok(Err(refused));
        }
        let seller = match self.seller(actor, request.seller)? {
            Ok(seller) => seller,
            Err(refused) => return Ok(Err(refused)),
        };
        let commission = self.commission(
            actor.merchant,
            seller.as_ref(),
            CommissionEvent::TopUp,
            member_record.tier,
            request.amount_fen,
        )?;
        let context = SchemeContext {
            order: &request.order,
            member,
            store: &store,
            at: LocalTime::at(now),
        };
        let effects = match scheme.top_up(&context, request.amount_fen) {
            Ok(effects) => effects,
            Err(failure) => return Ok(Err(TillError::Scheme(failure))),
        };
        let tier_set = match self.tier_named(actor.merchant, &effects)? {
            Ok(tier) => tier,
            Err(refused) => return Ok(Err(refused)),
        };
        let gains = earned(&effects);
        let bonus = match bonus_of(&effects) {
            Ok(bonus) => bonus,
            Err(refused) => return Ok(Err(refused)),
        };
        let referrer = self.live_referrer(&member_record, &own)?;
        let m = request.member;
        let s = actor.store;
        let (bonus, bonus_plan) = self.bonus_now(m, s, bonus, now);
        let mut legs = Legs::new(key, None);
        legs.top_up(s, m, request.amount_fen, bonus);
        let mut credited = gains;
        let repaid = legs.repay(s, m, context.member.balances.points_owed, &mut credited);
        let (referrer_points, referrer_points_repaid) = legs.earnings(s, m, referrer, credited);
        self.credit(
            &mut legs,
            part::COMMISSION,
            s,
            seller.as_ref(),
            commission,
            CommissionEvent::TopUp,
        )
        .await?;
        let ids = legs.ids();
        if let Err(refused) = self.apply(s, m, legs.transfers).await? {
            return Ok(Err(refused));
        }
        let order = Order {
            id: request.order.clone(),
            kind: OrderKind::TopUp,
            member: m,
            store: s,
            fingerprint: print,
            moved: Moved {
                net_fen: request.amount_fen,
                principal_fen: request.amount_fen,
                bonus_fen: bonus,
                points_offset: 0,
                offset_value_fen: 0,
                tenders,
                points_earned: gains.points,
                growth_earned: gains.growth,
                referrer_points,
                referrer_points_repaid,
                referrer_points_owed: 0,
                referrer_points_written_off: 0,
                card_fee_fen: 0,
                clawback_points: 0,
                clawback_fen: 0,
                commission_fen: commission,
                points_owed: 0,
                points_repaid: repaid,
                points_removed: 0,
                growth_removed: 0,
            },
            referrer: referrer.map(|r| r.id),
            effects,
            transfers: ids,
            approved_by: request.approved_by,
            seller: seller.map(|seller| seller.id),
            bonus_plan,
            ..Order::blank(actor, now)
        };
        Ok(Ok(self
            .record(order, scheme_set(tier_set), request.amount_fen)
            .await?))
    }

    /// Refunds lines of a checkout (退货), in full or in part: stored value back to the buckets
    /// it came from, points used given back, points and growth earned taken back, the
    /// referrer's share too. Each transfer references the one it reverses.
    pub async fn refund(
        &self,
        actor: &TillActor,
        scheme: &dyn Scheme,
        request: &RefundRequest,
        now: UnixMillis,
    ) -> Outcome<Order> {
        let _one_at_a_time = self.refunds.lock().await;
        let print = fingerprint(&("refund", actor.store, request))?;
        match self.replay(actor.merchant, &request.order, &print)? {
            Ok(Some(done)) => return Ok(Ok(done)),
            Ok(None) => {}
            Err(refused) => return Ok(Err(refused)),
        }
        if let Err(refused) = check_order_id("original", &request.original) {
            return Ok(Err(refused));
        }
        let Some(original) = self.order(actor.merchant, &request.original)? else {
            return Ok(Err(TillError::UnknownOrder));
        };
        if original.kind != OrderKind::Checkout {
            return Ok(Err(TillError::NotRefundable));
        }
        // After the sale's own record, if it is still being written; her statistics as it left
        // them.
        let _turn = self.in_flight.turn(original.member).await;
        // Which quantity of which line, and its net value.
        let wanted: Vec<RefundLine> = if request.lines.is_empty() {
            original
                .lines
                .iter()
                .map(|line| RefundLine {
                    line: line.line,
                    quantity_milli: line.quantity_milli
                        - original.refunded_lines.get(&line.line).map_or(0, |r| r.0),
                })
                .filter(|line| line.quantity_milli > 0)
                .collect()
        } else {
            request.lines.clone()
        };
        if wanted.is_empty() {
            return Ok(Err(TillError::NothingToRefund));
        }
        let mut seen = HashSet::new();
        let mut refunded_lines = original.refunded_lines.clone();
        let mut net = 0u64;
        let mut priced = Vec::new();
        let mut refund_till_lines = Vec::new();
        for (index, want) in wanted.iter().enumerate() {
            if !seen.insert(want.line) {
                return Ok(Err(invalid(
                    &format!("lines[{index}].line"),
                    Invalid::Duplicate,
                )));
            }
            let Some(line) = original.lines.iter().find(|l| l.line == want.line) else {
                return Ok(Err(TillError::UnknownLine { line: want.line }));
            };
            let (done_milli, done_net) = refunded_lines.get(&want.line).copied().unwrap_or((0, 0));
            let remaining = line.quantity_milli - done_milli;
            if want.quantity_milli == 0 || want.quantity_milli > remaining {
                return Ok(Err(TillError::RefundOverLine {
                    line: want.line,
                    remaining_milli: remaining,
                }));
            }
            let cum_milli = done_milli + want.quantity_milli;
            let cum_net = share(
                line.net_fen,
                u64::from(cum_milli),
                u64::from(line.quantity_milli),
            );
            let line_net = cum_net - done_net;
            refunded_lines.insert(want.line, (cum_milli, cum_net));
            net += line_net;
            priced.push(PricedLine {
                line: want.line,
                quantity_milli: want.quantity_milli,
                amount_fen: share(
                    line.amount_fen,
                    u64::from(want.quantity_milli),
                    u64::from(line.quantity_milli),
                ),
                discount_fen: 0,
                net_fen: line_net,
            });
            if let Some(till_line) = original.till_lines.iter().find(|l| l.line == want.line) {
                let mut till_line = till_line.clone();
                till_line.quantity_milli = want.quantity_milli;
                refund_till_lines.push(till_line);
            }
        }
        let all_done = original.lines.iter().all(|l| {
            refunded_lines
                .get(&l.line)
                .is_some_and(|r| r.0 == l.quantity_milli)
        });
        let paid = &original.moved;
        let before = &original.refunded;
        let cum_net = before.net_fen + net;
        // Cumulative shares: this refund returns its share of the order less what earlier
        // refunds returned; the last returns what is left, to the fen.
        let back = |total: u64, done: u64| -> u64 {
            let whole = if all_done {
                total
            } else {
                share(total, cum_net, paid.net_fen)
            };
            whole.saturating_sub(done)
        };
        let mut principal = back(paid.principal_fen, before.principal_fen);
        let mut bonus = back(paid.bonus_fen, before.bonus_fen);
        let points_offset = back(paid.points_offset, before.points_offset);
        let offset_value = back(paid.offset_value_fen, before.offset_value_fen);
        let mut tenders: Vec<Tender> = paid
            .tenders
            .iter()
            .map(|tender| {
                let done = before
                    .tenders
                    .iter()
                    .filter(|t| t.kind == tender.kind)
                    .map(|t| t.amount_fen)
                    .sum();
                Tender {
                    kind: tender.kind,
                    amount_fen: back(tender.amount_fen, done),
                }
            })
            .collect();
        // Each share rounds down, so the parts can fall a fen or two short of the refunded
        // value: the shortfall goes back to the first way of paying with room for it, and the
        // refund returns exactly what the lines were worth.
        let returned =
            principal + bonus + offset_value + tenders.iter().map(|t| t.amount_fen).sum::<u64>();
        let mut short = net.saturating_sub(returned);
        let room = |total: u64, done: u64, now: u64| total.saturating_sub(done + now);
        let top = room(paid.principal_fen, before.principal_fen, principal).min(short);
        principal += top;
        short -= top;
        let top = room(paid.bonus_fen, before.bonus_fen, bonus).min(short);
        bonus += top;
        short -= top;
        for (tender, paid_tender) in tenders.iter_mut().zip(&paid.tenders) {
            let done: u64 = before
                .tenders
                .iter()
                .filter(|t| t.kind == tender.kind)
                .map(|t| t.amount_fen)
                .sum();
            let top = room(paid_tender.amount_fen, done, tender.amount_fen).min(short);
            tender.amount_fen += top;
            short -= top;
        }
        tenders.retain(|t| t.amount_fen > 0);
        let mut points_taken = back(paid.points_earned, before.points_earned);
        let mut growth_taken = back(paid.growth_earned, before.growth_earned);
        let referrer_share = back(paid.referrer_points, before.referrer_points);
        let commission_back = back(paid.commission_fen, before.commission_fen);

        let (_, mut member) = match self.member_for_till(actor.merchant, original.member)? {
            Ok(found) => found,
            Err(TillError::Frozen) => {
                // A frozen member can still be refunded: the money is theirs.
                let Some(record) = self.members.member_record(original.member)? else {
                    return Ok(Err(TillError::UnknownMember));
                };
                let view = self.scheme_member(
                    &record,
                    self.members.balances(record.id)?,
                    self.stats(record.id)?,
                )?;
                (record, view)
            }
            Err(refused) => return Ok(Err(refused)),
        };
        // A retry whose first attempt's batch reached the ledger without its record (see
        // `checkout`): worked out from the balances before that batch, it finds the same legs.
        let own = self.own_transfers(order_key(actor.merchant, &request.order))?;
        member.balances = balances_before(member.balances, original.member, &own);
        let store = self.store(actor)?;
        let context = SchemeContext {
            order: &request.order,
            member,
            store: &store,
            at: LocalTime::at(now),
        };
        let effects = match scheme.refund(&context, &original.id, &refund_till_lines) {
            Ok(effects) => effects,
            Err(failure) => return Ok(Err(TillError::Scheme(failure))),
        };
        // The scheme may say what to take back; it cannot take back more than the order gave.
        if let Some((points, growth)) = taken_back(&effects) {
            points_taken = points.min(paid.points_earned - before.points_earned);
            growth_taken = growth.min(paid.growth_earned - before.growth_earned);
        }
        let balances = context.member.balances;
        let points_after_return = balances.points + u128::from(points_offset);
        // What this refund settles of the order, before any points already spent are paid
        // for: what later refunds of the same order count as done.
        let settled = (principal, bonus, tenders.clone(), points_taken);
        let spent = u64::try_from(u128::from(points_taken).saturating_sub(points_after_return))
            .unwrap_or(points_taken);
        let mut clawback_fen = 0;
        let mut owed = 0;
        if spent > 0 {
            let refused = TillError::PointsAlreadySpent {
                needed: points_taken,
                available: balances.points,
            };
            let fen_per_100_points = match self.options.spent_points {
                SpentPoints::Refuse => return Ok(Err(refused)),
                SpentPoints::Negative => 0,
                SpentPoints::Deduct { fen_per_100_points } => fen_per_100_points,
            };
            let value = (u128::from(spent) * u128::from(fen_per_100_points)).div_ceil(100);
            let going_back = principal + bonus + tenders.iter().map(|t| t.amount_fen).sum::<u64>();
            let Some(value) = u64::try_from(value).ok().filter(|v| *v <= going_back) else {
                return Ok(Err(refused));
            };
            // Kept from stored value first (it stays with the store), then from the tenders.
            let mut left = value;
            let parts = [&mut principal, &mut bonus]
                .into_iter()
                .chain(tenders.iter_mut().map(|t| &mut t.amount_fen));
            for part in parts {
                let kept = (*part).min(left);
                *part -= kept;
                left -= kept;
            }
            tenders.retain(|t| t.amount_fen > 0);
            points_taken -= spent;
            clawback_fen = value;
            if self.options.spent_points == SpentPoints::Negative {
                owed = spent;
                self.members
                    .ledger()
                    .create_accounts(vec![accounts::points_owed_account(original.member)])
                    .await
                    .map_err(batch_error)?;
            }
        }
        // Growth is not money: what was already used up by a downgrade simply stays.
        growth_taken = growth_taken.min(u64::try_from(balances.growth).unwrap_or(u64::MAX));
        // The referrer gives back their share from the points they hold; what they already
        // spent becomes their debt under `negative` (if they are still a member to owe it),
        // and is otherwise let go: the member's refund does not pay for the referrer's spending.
        let (referrer_taken, referrer_owed, referrer_written_off) = match original.referrer {
            Some(r) => {
                let held = balances_before(self.members.balances(r)?, r, &own).points;
                let held = u64::try_from(held).unwrap_or(u64::MAX);
                let taken = referrer_share.min(held);
                let short = referrer_share - taken;
                let may_owe = short > 0
                    && self.options.spent_points == SpentPoints::Negative
                    && self
                        .members
                        .member_record(r)?
                        .is_some_and(|r| r.status == MemberStatus::Active);
                if may_owe {
                    self.members
                        .ledger()
                        .create_accounts(vec![accounts::points_owed_account(r)])
                        .await
                        .map_err(batch_error)?;
                    (taken, short, 0)
                } else {
                    (taken, 0, short)
                }
            }
            None => (0, 0, 0),
        };

        let m = original.member;
        let s = original.store;
        let mut legs = Legs::new(
            order_key(actor.merchant, &request.order),
            Some(order_key(actor.merchant, &original.id)),
        );
        // What goes back to the member first, so a take-back can use points just returned.
        legs.leg(
            part::PRINCIPAL,
            StoreAccount::StoredValueRedeemed.id(s),
            MemberAccount::Principal.id(m),
            principal,
            transfer_code::REVERSAL,
        );
        legs.leg(
            part::BONUS,
            StoreAccount::BonusRedeemed.id(s),
            MemberAccount::Bonus.id(m),
            bonus,
            transfer_code::REVERSAL,
        );
        legs.leg(
            part::POINTS_OFFSET,
            StoreAccount::PointsRedeemed.id(s),
            MemberAccount::Points.id(m),
            points_offset,
            transfer_code::REVERSAL,
        );
        legs.take_back_points(
            (part::POINTS_EARNED, part::POINTS_OWED),
            m,
            s,
            points_taken,
            owed,
        );
        legs.leg(
            part::GROWTH_EARNED,
            MemberAccount::Growth.id(m),
            StoreAccount::GrowthIssued.id(s),
            growth_taken,
            transfer_code::REVERSAL,
        );
        if let Some(r) = original.referrer {
            let parts = (part::REFERRER_POINTS, part::REFERRER_OWED);
            legs.take_back_points(parts, r, s, referrer_taken, referrer_owed);
        }
        let commission_back = match original.seller {
            Some(seller) => {
                legs.commission(part::COMMISSION, s, seller, commission_back, 0);
                commission_back
            }
            None => 0,
        };
        let ids = legs.ids();
        if let Err(refused) = self.apply(s, m, legs.transfers).await? {
            return Ok(Err(refused));
        }
        let moved = Moved {
            net_fen: net,
            principal_fen: principal,
            bonus_fen: bonus,
            points_offset,
            offset_value_fen: offset_value,
            tenders,
            points_earned: points_taken,
            growth_earned: growth_taken,
            referrer_points: referrer_taken,
            referrer_points_repaid: 0,
            referrer_points_owed: referrer_owed,
            referrer_points_written_off: referrer_written_off,
            card_fee_fen: 0,
            clawback_points: spent,
            clawback_fen,
            commission_fen: commission_back,
            points_owed: owed,
            points_repaid: 0,
            points_removed: 0,
            growth_removed: 0,
        };
        let settled = Moved {
            principal_fen: settled.0,
            bonus_fen: settled.1,
            tenders: settled.2,
            points_earned: settled.3,
            // The referrer's whole share is settled, whether taken, owed or let go: a later
            // refund of the same order does not ask them for it again.
            referrer_points: referrer_share,
            ..moved.clone()
        };
        let refund = Order {
            id: request.order.clone(),
            kind: OrderKind::Refund,
            member: m,
            store: actor.store,
            fingerprint: print,
            till_lines: refund_till_lines,
            lines: priced,
            moved: moved.clone(),
            referrer: original.referrer,
            original: Some(original.id.clone()),
            effects,
            transfers: ids,
            balances_after: self.members.balances(m)?,
            seller: original.seller,
            ..Order::blank(actor, now)
        };
        // The refund and the original's running totals in one transaction.
        let txn = self.db().begin_write()?;
        {
            let mut orders = txn.open_table(ORDERS)?;
            let mut updated = match orders.get((actor.merchant.0, original.id.as_str()))? {
                Some(bytes) => decode::<Order>("order", bytes.value())?,
                None => return Err(DomainError::Corrupt("refunded order vanished".into())),
            };
            updated.refunds.push(refund.id.clone());
            updated.refunded = add_moved(&updated.refunded, &settled);
            updated.refunded_lines = refunded_lines;
            orders.insert(
                (actor.merchant.0, original.id.as_str()),
                encode(&updated)?.as_slice(),
            )?;
            orders.insert(
                (actor.merchant.0, refund.id.as_str()),
                encode(&refund)?.as_slice(),
            )?;
            let mut stats_table = txn.open_table(MEMBER_STATS)?;
            let mut stats = stats_in(&stats_table, m)?;
            stats.total_spend_fen = stats.total_spend_fen.saturating_sub(net);
            stats.period_spend_fen = stats.period_spend_fen.saturating_sub(net);
            stats.period_growth = stats.period_growth.saturating_sub(growth_taken);
            stats_table.insert(m.0, encode(&stats)?.as_slice())?;
        }
        txn.commit()?;
        Ok(Ok(refund))
    }

    /// Points a member gives up at the till, for a gift, a tier or stored value: one batch
    /// (the points to the store's points-redeemed account, and any bonus stored value from its
    /// bonus-given account), kept as an order.
    async fn spend_points(
        &self,
        actor: &TillActor,
        spend: Spend,
        now: UnixMillis,
    ) -> Outcome<Order> {
        let (m, s) = (spend.member, actor.store);
        let mut legs = Legs::new(order_key(actor.merchant, &spend.order), None);
        legs.leg(
            part::POINTS_OFFSET,
            MemberAccount::Points.id(m),
            StoreAccount::PointsRedeemed.id(s),
            spend.points,
            spend.code,
        );
        legs.leg(
            part::BONUS,
            StoreAccount::BonusGiven.id(s),
            MemberAccount::Bonus.id(m),
            spend.bonus_fen,
            spend.code,
        );
        let ids = legs.ids();
        if let Err(refused) = self.apply(s, m, legs.transfers).await? {
            return Ok(Err(refused));
        }
        let order = Order {
            id: spend.order,
            kind: spend.kind,
            member: m,
            store: s,
            fingerprint: spend.print,
            moved: Moved {
                bonus_fen: spend.bonus_fen,
                points_offset: spend.points,
                offset_value_fen: spend.bonus_fen,
                ..Moved::default()
            },
            transfers: ids,
            gift: spend.gift,
            ..Order::blank(actor, now)
        };
        Ok(Ok(self.record(order, spend.tier, 0).await?))
    }

    /// 积分升级: moves a member up to a tier for the points it costs (`Tier::upgrade_points`),
    /// in one batch; the tier history says `bought`. The same `order` again answers the same
    /// receipt.
    pub async fn buy_tier(
        &self,
        actor: &TillActor,
        request: &TierPurchaseRequest,
        now: UnixMillis,
    ) -> Outcome<Order> {
        let print = fingerprint(&("tier", actor.store, request))?;
        let _turn = self.in_flight.turn(request.member).await;
        match self.replay(actor.merchant, &request.order, &print)? {
            Ok(Some(done)) => return Ok(Ok(done)),
            Ok(None) => {}
            Err(refused) => return Ok(Err(refused)),
        }
        let member = match self.member_for_till(actor.merchant, request.member)? {
            Ok((member, _)) => member,
            Err(refused) => return Ok(Err(refused)),
        };
        let tiers = self.members.tiers(actor.merchant)?;
        let Some(tier) = tiers.iter().find(|tier| tier.id == request.tier) else {
            return Ok(Err(TillError::Member(MemberError::UnknownTier)));
        };
        let Some(price) = tier.upgrade_points else {
            return Ok(Err(TillError::TierNotForSale));
        };
        let rank_now = member
            .tier
            .and_then(|id| tiers.iter().find(|t| t.id == id))
            .map(|t| t.rank);
        if rank_now.is_some_and(|rank| rank >= tier.rank) {
            return Ok(Err(TillError::TierNotHigher));
        }
        let spend = Spend {
            order: request.order.clone(),
            print,
            kind: OrderKind::TierPurchase,
            member: request.member,
            points: price,
            code: transfer_code::TIER_BOUGHT,
            bonus_fen: 0,
            tier: Some((tier.id, TierReason::Bought)),
            gift: None,
        };
        self.spend_points(actor, spend, now).await
    }

    /// 礼品兑换: a gift for points. The stock is reserved first (so two tills cannot take the
    /// last one twice), then the points move in one batch; if they cannot (too few points, a
    /// frozen member), the stock is given back. A retry with the same `order` answers the same
    /// receipt; after a crash it takes the stock already reserved, never more.
    pub async fn redeem_gift(
        &self,
        actor: &TillActor,
        request: &RedemptionRequest,
        now: UnixMillis,
    ) -> Outcome<Order> {
        let print = fingerprint(&("gift", actor.store, request))?;
        let _turn = self.in_flight.turn(request.member).await;
        match self.replay(actor.merchant, &request.order, &print)? {
            Ok(Some(done)) => return Ok(Ok(done)),
            Ok(None) => {}
            Err(refused) => return Ok(Err(refused)),
        }
        if request.quantity == 0 || request.quantity > GIFT_QUANTITY_MAX {
            return Ok(Err(invalid("quantity", Invalid::Number { scale: 0 })));
        }
        if let Err(refused) = self.member_for_till(actor.merchant, request.member)? {
            return Ok(Err(refused));
        }
        let directory = self.members.directory();
        let reserved = directory.reserve_gift(
            actor.merchant,
            &request.order,
            request.gift,
            request.quantity,
        )?;
        let held = match reserved {
            Ok(held) => held,
            Err(Unreserved::Unknown) => return Ok(Err(TillError::UnknownGift)),
            Err(Unreserved::Unavailable { stock }) => {
                return Ok(Err(TillError::GiftOutOfStock { stock }));
            }
            Err(Unreserved::OtherReservation) => return Ok(Err(TillError::OrderIdReused)),
        };
        let spend = Spend {
            order: request.order.clone(),
            print,
            kind: OrderKind::GiftRedemption,
            member: request.member,
            points: held.points,
            code: transfer_code::GIFT_REDEEMED,
            bonus_fen: 0,
            tier: None,
            gift: Some(held),
        };
        let spent = self.spend_points(actor, spend, now).await?;
        if spent.is_err() {
            directory.release_gift(actor.merchant, &request.order)?;
        }
        Ok(spent)
    }

    /// 积分兑换储值: turns points into stored value at the merchant's rate (rounded down to the
    /// fen), credited as bonus (赠送: it was never paid in). One batch; the same `order` again
    /// answers the same receipt.
    pub async fn convert_points(
        &self,
        actor: &TillActor,
        request: &ConversionRequest,
        now: UnixMillis,
    ) -> Outcome<Order> {
        let print = fingerprint(&("points-conversion", actor.store, request))?;
        let _turn = self.in_flight.turn(request.member).await;
        match self.replay(actor.merchant, &request.order, &print)? {
            Ok(Some(done)) => return Ok(Ok(done)),
            Ok(None) => {}
            Err(refused) => return Ok(Err(refused)),
        }
        let rate = self.options.points_to_stored_value_fen_per_100;
        if rate == 0 {
            return Ok(Err(TillError::ConversionOff));
        }
        if request.points == 0 || request.points > AMOUNT_FEN_MAX {
            return Ok(Err(invalid("points", Invalid::Number { scale: 0 })));
        }
        let value = u128::from(request.points) * u128::from(rate) / 100;
        let Some(value) = u64::try_from(value)
            .ok()
            .filter(|v| (1..=AMOUNT_FEN_MAX).contains(v))
        else {
            return Ok(Err(TillError::ConversionTooSmall {
                points: request.points,
            }));
        };
        if let Err(refused) = self.member_for_till(actor.merchant, request.member)? {
            return Ok(Err(refused));
        }
        let spend = Spend {
            order: request.order.clone(),
            print,
            kind: OrderKind::PointsConversion,
            member: request.member,
            points: request.points,
            code: transfer_code::POINTS_CONVERTED,
            bonus_fen: value,
            tier: None,
            gift: None,
        };
        self.spend_points(actor, spend, now).await
    }

    /// 开卡: signs a member up at the till, with the scheme's welcome (`member-joined`: points
    /// and growth, the referrer's reward, a tier) and, with an `opening`, a card fee (工本费)
    /// and a first top-up with the scheme's offer (`top-up`: bonus, points, a tier). The scheme
    /// is asked before anything is written: a failing scheme leaves no member behind. Money,
    /// gifts and offer are one ledger batch, recorded as an order of kind `joined` named by the
    /// opening's id (else `joined-{member}`); a retry of an opening answers the first one's
    /// member.
    pub async fn open_card(
        &self,
        actor: &TillActor,
        signer: Signer<'_>,
        scheme: &dyn Scheme,
        new: &crate::member::NewMember,
        opening: Option<&Opening>,
        now: UnixMillis,
    ) -> Outcome<(crate::members::MemberView, Option<Order>)> {
        let mut print = None;
        let mut tenders = Vec::new();
        if let Some(opening) = opening {
            let card = new.card.as_ref().map(|card| card.number.as_str());
            let this = fingerprint(&("open-card", actor.store, opening, &new.profile.phone, card))?;
            // A retry (the same id, the same request) answers the member the first one made.
            match self.replay(actor.merchant, &opening.order, &this)? {
                Ok(Some(done)) => {
                    let Some(member) = self.members.member_record(done.member)? else {
                        return Ok(Err(TillError::UnknownMember));
                    };
                    let balances = self.members.balances(done.member)?;
                    let view = crate::members::MemberView { member, balances };
                    return Ok(Ok((view, Some(done))));
                }
                Ok(None) => {}
                Err(refused) => return Ok(Err(refused)),
            }
            for (field, amount) in [
                ("card_fee", opening.card_fee_fen),
                ("top_up", opening.top_up_fen),
            ] {
                if amount > AMOUNT_FEN_MAX {
                    return Ok(Err(invalid(field, Invalid::Number { scale: 2 })));
                }
            }
            let paid = opening.card_fee_fen + opening.top_up_fen;
            if paid > 0 || !opening.tenders.is_empty() {
                tenders = match paid_by(&opening.tenders, paid) {
                    Ok(tenders) => tenders,
                    Err(refused) => return Ok(Err(refused)),
                };
            }
            print = Some(this);
        }
        let top_up_fen = opening.map_or(0, |opening| opening.top_up_fen);
        let card_fee_fen = opening.map_or(0, |opening| opening.card_fee_fen);
        // A retry whose first attempt wrote the member and stopped before the receipt goes on
        // with that member, from the balances before its own batch (see `checkout`).
        let earlier = match (opening, &print) {
            (Some(opening), Some(print)) => {
                match self.card_opened(actor.merchant, &opening.order, print)? {
                    Ok(earlier) => earlier,
                    Err(refused) => return Ok(Err(refused)),
                }
            }
            _ => None,
        };
        let member = match &earlier {
            Some(member) => member.clone(),
            None => {
                let prepared = match signer {
                    Signer::Terminal(terminal) => self.members.prepare_at_till(
                        actor.merchant,
                        actor.store,
                        terminal,
                        new,
                        now,
                    )?,
                    Signer::Staff(staff) => self.members.prepare(staff, new, now)?,
                };
                match prepared {
                    Ok(member) => member,
                    Err(error) => return Ok(Err(TillError::Member(error))),
                }
            }
        };
        let order_id = opening.map_or_else(
            || format!("joined-{}", member.id),
            |opening| opening.order.clone(),
        );
        let store = self.store(actor)?;
        let approved_by = opening.and_then(|opening| opening.approved_by);
        if let Err(refused) = approved(&store, top_up_fen, approved_by) {
            return Ok(Err(refused));
        }
        let seller = match self.seller(actor, opening.and_then(|opening| opening.seller))? {
            Ok(seller) => seller,
            Err(refused) => return Ok(Err(refused)),
        };
        // The opening's own commission on the card fee, and a first top-up's as a top-up's.
        let opening_commission = self.commission(
            actor.merchant,
            seller.as_ref(),
            CommissionEvent::CardOpening,
            member.tier,
            card_fee_fen,
        )?;
        let top_up_commission = if top_up_fen > 0 {
            self.commission(
                actor.merchant,
                seller.as_ref(),
                CommissionEvent::TopUp,
                member.tier,
                top_up_fen,
            )?
        } else {
            0
        };
        let context = SchemeContext {
            order: &order_id,
            member: self.scheme_member(&member, Balances::default(), MemberStats::default())?,
            store: &store,
            at: LocalTime::at(now),
        };
        // The welcome, then the first top-up's offer (充值送): asked before anything is written.
        let mut effects = match scheme.member_joined(&context) {
            Ok(effects) => effects,
            Err(failure) => return Ok(Err(TillError::Scheme(failure))),
        };
        let mut bonus = (0, None);
        if top_up_fen > 0 {
            let offer = match scheme.top_up(&context, top_up_fen) {
                Ok(offer) => offer,
                Err(failure) => return Ok(Err(TillError::Scheme(failure))),
            };
            bonus = match bonus_of(&offer) {
                Ok(bonus) => bonus,
                Err(refused) => return Ok(Err(refused)),
            };
            effects.extend(offer);
        }
        let tier_set = match self.tier_named(actor.merchant, &effects)? {
            Ok(tier) => tier,
            Err(refused) => return Ok(Err(refused)),
        };
        let own = match &earlier {
            Some(_) => self.own_transfers(order_key(actor.merchant, &order_id))?,
            None => Vec::new(),
        };
        let referrer = self.live_referrer(&member, &own)?;
        let view = match earlier {
            Some(member) => crate::members::MemberView {
                balances: self.members.balances(member.id)?,
                member,
            },
            None => {
                let opened = opening
                    .zip(print.as_deref())
                    .map(|(opening, print)| (opening.order.as_str(), print));
                match self.members.insert_new(member, opened).await? {
                    Ok(view) => view,
                    Err(error) => return Ok(Err(TillError::Member(error))),
                }
            }
        };
        let gains = earned(&effects);
        let (m, s) = (view.member.id, actor.store);
        let (bonus, bonus_plan) = self.bonus_now(m, s, bonus, now);
        let mut legs = Legs::new(order_key(actor.merchant, &order_id), None);
        legs.top_up(s, m, top_up_fen, bonus);
        let (referrer_points, referrer_points_repaid) = legs.earnings(s, m, referrer, gains);
        let seller_ref = seller.as_ref();
        self.credit(
            &mut legs,
            part::COMMISSION,
            s,
            seller_ref,
            opening_commission,
            CommissionEvent::CardOpening,
        )
        .await?;
        self.credit(
            &mut legs,
            part::COMMISSION_TOP_UP,
            s,
            seller_ref,
            top_up_commission,
            CommissionEvent::TopUp,
        )
        .await?;
        // Without money or an order id, a welcome that gives nothing leaves no order.
        if opening.is_none() && legs.transfers.is_empty() && tier_set.is_none() {
            return Ok(Ok((view, None)));
        }
        let ids = legs.ids();
        if let Err(refused) = self.apply(s, m, legs.transfers).await? {
            return Ok(Err(refused));
        }
        let order = Order {
            id: order_id,
            kind: OrderKind::Joined,
            member: m,
            store: s,
            fingerprint: match print {
                Some(print) => print,
                None => fingerprint(&("joined", m))?,
            },
            moved: Moved {
                net_fen: card_fee_fen + top_up_fen,
                principal_fen: top_up_fen,
                bonus_fen: bonus,
                tenders,
                points_earned: gains.points,
                growth_earned: gains.growth,
                referrer_points,
                referrer_points_repaid,
                card_fee_fen,
                commission_fen: opening_commission + top_up_commission,
                ..Moved::default()
            },
            referrer: referrer.map(|r| r.id),
            effects,
            transfers: ids,
            approved_by,
            seller: seller.map(|seller| seller.id),
            bonus_plan,
            ..Order::blank(actor, now)
        };
        let order = self.record(order, scheme_set(tier_set), top_up_fen).await?;
        let view = crate::members::MemberView {
            balances: order.balances_after,
            member: self.members.member_record(m)?.unwrap_or(view.member),
        };
        Ok(Ok((view, Some(order))))
    }

    /// The split of a stored-value payment between principal and bonus.
    fn split(&self, amount: u64, balances: &Balances) -> (u64, u64) {
        let principal = u64::try_from(balances.principal_fen).unwrap_or(u64::MAX);
        let bonus = u64::try_from(balances.bonus_fen).unwrap_or(u64::MAX);
        match self.options.spend_order {
            SpendOrder::PrincipalFirst => {
                let from_principal = amount.min(principal);
                (from_principal, amount - from_principal)
            }
            SpendOrder::BonusFirst => {
                let from_bonus = amount.min(bonus);
                (amount - from_bonus, from_bonus)
            }
            SpendOrder::Proportional => {
                let from_bonus = share(amount, bonus, principal.saturating_add(bonus)).min(bonus);
                let from_principal = amount - from_bonus;
                if from_principal > principal {
                    (principal, amount - principal)
                } else {
                    (from_principal, from_bonus)
                }
            }
        }
    }

    /// The transfers of the order `key` the ledger already holds. None, but for a retry whose
    /// first attempt committed its batch and stopped before its record (a crash, a failed
    /// directory write); asked only when a commit's token is stale.
    fn own_transfers(&self, key: u128) -> Result<Vec<Transfer>, DomainError> {
        let ledger = self.members.ledger();
        let mut found = Vec::new();
        for part in 1..=part::LAST {
            if let Some(transfer) = ledger
                .transfer(accounts::transfer_id(b"till", key, part))
                .map_err(|e| DomainError::Ledger(e.to_string()))?
            {
                found.push(transfer);
            }
        }
        Ok(found)
    }

    /// The member an earlier attempt of the card opening `order` wrote, if one did and the
    /// request is the same; `OrderIdReused` if the id was used for another opening.
    fn card_opened(
        &self,
        merchant: MerchantId,
        order: &str,
        print: &str,
    ) -> Outcome<Option<Member>> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(CARD_OPENINGS)?;
        let Some(entry) = table.get((merchant.0, order))? else {
            return Ok(Ok(None));
        };
        let (member, kept) = entry.value();
        if kept != print {
            return Ok(Err(TillError::OrderIdReused));
        }
        Ok(Ok(self.members.member_record(MemberId(member))?))
    }

    /// Lets go of the notes of `merchant`'s card openings whose receipt is kept: from then on
    /// the receipt answers a retry (and refuses the id for another opening), so the note, kept
    /// for a stop between the member and the receipt, has done its work. Run with the daily
    /// jobs; returns how many went.
    pub async fn prune_card_openings(&self, merchant: MerchantId) -> Result<u64, DomainError> {
        let m = merchant.0;
        self.members
            .directory()
            .write_grouped(move |txn| {
                let orders = txn.open_table(ORDERS)?;
                let mut openings = txn.open_table(CARD_OPENINGS)?;
                let mut done = Vec::new();
                for entry in openings.range((m, "")..)? {
                    let (key, _) = entry?;
                    let (of, order) = key.value();
                    if of != m {
                        break;
                    }
                    if orders.get((m, order))?.is_some() {
                        done.push(order.to_owned());
                    }
                }
                for order in &done {
                    openings.remove((m, order.as_str()))?;
                }
                Ok(u64::try_from(done.len()).unwrap_or(u64::MAX))
            })
            .await
    }

    /// [`Till::own_transfers`] for an order whose batch always holds part `always`: a single
    /// read when the ledger has none of it.
    fn own_transfers_with(&self, key: u128, always: u16) -> Result<Vec<Transfer>, DomainError> {
        let probe = accounts::transfer_id(b"till", key, always);
        match self.members.ledger().transfer(probe) {
            Ok(None) => Ok(Vec::new()),
            Ok(Some(_)) => self.own_transfers(key),
            Err(e) => Err(DomainError::Ledger(e.to_string())),
        }
    }

    /// The referrer who gets a share, if they are still an active member, with their points
    /// debt (which their share repays first) as it was before the order's `own` transfers.
    fn live_referrer(
        &self,
        member: &Member,
        own: &[Transfer],
    ) -> Result<Option<Referrer>, DomainError> {
        let Some(referrer) = member.referrer else {
            return Ok(None);
        };
        let Some(id) = self
            .members
            .member_record(referrer)?
            .filter(|r| r.status == MemberStatus::Active)
            .map(|r| r.id)
        else {
            return Ok(None);
        };
        let owed = balances_before(self.members.balances(id)?, id, own).points_owed;
        Ok(Some(Referrer { id, owed }))
    }

    /// The tier a `set-tier` effect names, checked before anything is written.
    pub(crate) fn tier_named(
        &self,
        merchant: MerchantId,
        effects: &[Effect],
    ) -> Outcome<Option<TierId>> {
        let Some(name) = effects.iter().rev().find_map(|effect| match effect {
            Effect::SetTier { tier } => Some(tier),
            _ => None,
        }) else {
            return Ok(Ok(None));
        };
        let tiers = self.members.tiers(merchant)?;
        Ok(tiers
            .iter()
            .find(|t| t.id.to_string() == *name || t.name == *name)
            .map(|t| Some(t.id))
            .ok_or_else(|| TillError::UnknownTier(name.clone())))
    }

    /// Puts the transfers in the ledger, translating a refusal into what the cashier is told.
    pub(crate) async fn apply(
        &self,
        store: StoreId,
        member: MemberId,
        transfers: Vec<NewTransfer>,
    ) -> Outcome<()> {
        Ok(self
            .apply_noted(store, member, transfers, None)
            .await?
            .map(drop))
    }

    /// `apply`, with `note` logged with the batch: the guard is held until the order's record
    /// is written.
    pub(crate) async fn apply_noted(
        &self,
        store: StoreId,
        member: MemberId,
        transfers: Vec<NewTransfer>,
        note: Option<Vec<u8>>,
    ) -> Outcome<Option<NoteGuard>> {
        if transfers.is_empty() {
            return Ok(Ok(None));
        }
        self.store_accounts(store).await?;
        let ledger = self.members.ledger();
        let created = match note {
            Some(note) => ledger
                .create_transfers_noted(transfers, note)
                .await
                .map(|(_, guard)| Some(guard)),
            None => ledger.create_transfers(transfers).await.map(|_| None),
        };
        match created {
            Ok(guard) => Ok(Ok(guard)),
            Err(BatchError::Rejected { errors }) => {
                let Some((_, first)) = errors.into_iter().next() else {
                    return Err(DomainError::Ledger("rejected without a reason".into()));
                };
                let members_own = |account: AccountId| {
                    account == accounts::points_owed_id(member)
                        || MemberAccount::ALL.iter().any(|a| a.id(member) == account)
                };
                match first {
                    // The referrer's points or debt moved since they were read (another till):
                    // asking again reads them afresh.
                    TransferError::ExceedsCredits { account, .. }
                    | TransferError::ExceedsDebits { account }
                        if !members_own(account) =>
                    {
                        Ok(Err(TillError::BalancesChanged))
                    }
                    TransferError::ExceedsCredits { account, available }
                        if account == MemberAccount::Points.id(member) =>
                    {
                        Ok(Err(TillError::InsufficientPoints { available }))
                    }
                    TransferError::ExceedsCredits { account, .. }
                        if account == MemberAccount::Principal.id(member)
                            || account == MemberAccount::Bonus.id(member) =>
                    {
                        let balances = self.members.balances(member)?;
                        Ok(Err(TillError::InsufficientStoredValue {
                            available: balances.principal_fen + balances.bonus_fen,
                        }))
                    }
                    TransferError::ExceedsCredits { available, .. } => {
                        Ok(Err(TillError::InsufficientPoints { available }))
                    }
                    TransferError::ExceedsDebits { account }
                        if account == accounts::points_owed_id(member) =>
                    {
                        Ok(Err(TillError::BalancesChanged))
                    }
                    TransferError::IdReused(_) => Ok(Err(TillError::OrderIdReused)),
                    TransferError::DebitAccountClosed(_)
                    | TransferError::CreditAccountClosed(_) => Ok(Err(TillError::NotLive)),
                    other => Err(DomainError::Ledger(other.to_string())),
                }
            }
            Err(other) => Err(batch_error(other)),
        }
    }

    /// Writes a committed order, the member's statistics and any tier it earned, in one
    /// transaction, group-committed with the other tills' (`group.rs`). `top_up_fen` is the
    /// single top-up a tier threshold may count. A sale, which counts a visit and carries its
    /// record in its batch's note, goes through `record_ready` instead.
    pub(crate) async fn record(
        &self,
        order: Order,
        tier_set: Option<(TierId, TierReason)>,
        top_up_fen: u64,
    ) -> Result<Order, DomainError> {
        let mut order = order;
        order.balances_after = self.members.balances(order.member)?;
        // Encoded here, not in the writer every group's writes wait on.
        let encoded = encode(&order)?;
        let changes = Changes {
            tier_set,
            top_up_fen,
            visit: None,
            decided: false,
        };
        self.record_ready(Ready { order, encoded }, changes, RecordSync::Now)
            .await
    }

    /// Writes the records of the sales whose notes the ledger found in its log on opening: a
    /// crash stopped the box before they were surely durable (or before they were written).
    /// Each is written unless its order already is; then they are synced, and the ledger
    /// forgets the notes. Returns how many were written. Run before the box takes requests.
    pub async fn redo_notes(&self) -> Result<usize, DomainError> {
        let ledger = self.members.ledger();
        let notes = ledger.replayed_notes()?;
        let mut written = 0;
        for note in &notes {
            let (encoded, changes) = Changes::of_note(note)?;
            let ready = Ready {
                order: decode("order", encoded)?,
                encoded: encoded.to_vec(),
            };
            let recorded = self.write_record(ready, changes, RecordSync::Later).await?;
            written += usize::from(recorded.is_some());
        }
        if !notes.is_empty() {
            // An empty durable group syncs every unsynced one before it.
            self.members.directory().write_grouped(|_| Ok(())).await?;
            ledger.forget_replayed_notes()?;
        }
        Ok(written)
    }

    /// `record` of an order ready; with `RecordSync::Later` the write is committed without a
    /// sync (its note is in the ledger's log).
    async fn record_ready(
        &self,
        ready: Ready,
        changes: Changes,
        sync: RecordSync,
    ) -> Result<Order, DomainError> {
        let (merchant, id) = (ready.order.merchant, ready.order.id.clone());
        match self.write_record(ready, changes, sync).await? {
            Some(order) => Ok(order),
            // Two requests of one order at once both reached here (the ledger applied its
            // batch once): the first one's record stands, and the statistics count it once.
            None => self.order(merchant, &id)?.ok_or_else(|| {
                DomainError::Corrupt(format!("the order {id} was recorded and then was not"))
            }),
        }
    }

    /// Writes the record, unless the order is already recorded (`None`).
    async fn write_record(
        &self,
        ready: Ready,
        changes: Changes,
        sync: RecordSync,
    ) -> Result<Option<Order>, DomainError> {
        let Ready { mut order, encoded } = ready;
        let write = self.record_write(&order, encoded, changes)?;
        let directory = self.members.directory();
        let written = match sync {
            RecordSync::Now => directory.write_grouped(write).await?,
            RecordSync::Later => directory.write_grouped_unsynced(write).await?,
        };
        Ok(written.map(|tier_change| {
            order.tier_change = tier_change;
            order
        }))
    }

    /// `write_record` of a sale answered already: queued now, committed without a sync.
    fn queue_record(
        &self,
        order: &Order,
        encoded: Vec<u8>,
        changes: Changes,
    ) -> Result<
        impl Future<Output = Result<Option<Option<TierId>>, DomainError>> + use<>,
        DomainError,
    > {
        let write = self.record_write(order, encoded, changes)?;
        self.members.directory().submit_unsynced(write)
    }

    /// The directory write of `order`'s record: the order, the member's statistics, any tier it
    /// moves her to.
    fn record_write(
        &self,
        order: &Order,
        encoded: Vec<u8>,
        changes: Changes,
    ) -> Result<impl FnMut(&WriteTransaction) -> Recorded + Send + 'static + use<>, DomainError>
    {
        let balances = order.balances_after;
        let tiers = self.members.tiers(order.merchant)?;
        // Without a tier to be set or reached, the member's record is not read in the writer.
        let may_move = may_move(&tiers, changes.tier_set);
        let members = self.members.clone();
        let key = (order.merchant, order.id.clone());
        let (member, id, at) = (order.member, order.id.clone(), order.at);
        let growth = order.moved.growth_earned;
        let plan_opened = order.bonus_plan.is_some();
        Ok(move |txn: &WriteTransaction| {
            let mut orders = txn.open_table(ORDERS)?;
            let order_key = (key.0.0, key.1.as_str());
            if orders.get(order_key)?.is_some() {
                return Ok(None);
            }
            let mut stats_table = txn.open_table(MEMBER_STATS)?;
            let mut stats = stats_in(&stats_table, member)?;
            changes.count(&mut stats, growth);

            let mut tier_change = None;
            if may_move && let Some(record) = members.member_record_in(txn, member)? {
                let next = if changes.decided {
                    changes.tier_set.filter(|next| Some(next.0) != record.tier)
                } else {
                    next_tier(
                        &tiers,
                        record.tier,
                        changes.tier_set,
                        &balances,
                        &stats,
                        changes.top_up_fen,
                    )
                };
                if let Some((next, reason)) = next {
                    let mut after = record.clone();
                    after.tier = Some(next);
                    members.put_member_in(txn, Some(&record), &after)?;
                    members.note_tier_in(txn, record.tier, &after, reason, Some(&id), at)?;
                    tier_change = Some(next);
                    // A new tier is held for a whole period from the day it was reached.
                    stats.restart_period(Date::at(at, MERCHANT_UTC_OFFSET_MINUTES));
                }
            }
            stats_table.insert(member.0, encode(&stats)?.as_slice())?;
            if plan_opened {
                bonus::note_open_in(txn, key.0, &key.1)?;
            }
            match tier_change {
                None => orders.insert(order_key, encoded.as_slice())?,
                Some(next) => {
                    let mut moved = decode::<Order>("order", &encoded)?;
                    moved.tier_change = Some(next);
                    orders.insert(order_key, encode(&moved)?.as_slice())?
                }
            };
            Ok(Some(tier_change))
        })
    }
}

impl Order {
    /// An order of `actor` at `now` with nothing in it yet: the fields each operation sets are
    /// given, the rest start empty.
    pub(crate) fn blank(actor: &TillActor, now: UnixMillis) -> Order {
        Order {
            id: String::new(),
            merchant: actor.merchant,
            kind: OrderKind::Checkout,
            member: MemberId(0),
            store: actor.store,
            staff: actor.staff,
            terminal: actor.terminal,
            at: now,
            fingerprint: String::new(),
            till_lines: Vec::new(),
            lines: Vec::new(),
            discounts: Vec::new(),
            moved: Moved::default(),
            referrer: None,
            tier_change: None,
            original: None,
            refunds: Vec::new(),
            refunded: Moved::default(),
            refunded_lines: BTreeMap::new(),
            effects: Vec::new(),
            transfers: Vec::new(),
            balances_after: Balances::default(),
            approved_by: None,
            gift: None,
            seller: None,
            bonus_plan: None,
        }
    }
}

/// Tenders of one kind as one: a refund returns by kind.
fn merged(tenders: &[Tender]) -> Vec<Tender> {
    add_moved(
        &Moved::default(),
        &Moved {
            tenders: tenders.to_vec(),
            ..Moved::default()
        },
    )
    .tenders
}

fn add_moved(a: &Moved, b: &Moved) -> Moved {
    let mut tenders = a.tenders.clone();
    for tender in &b.tenders {
        match tenders.iter_mut().find(|t| t.kind == tender.kind) {
            Some(t) => t.amount_fen += tender.amount_fen,
            None => tenders.push(*tender),
        }
    }
    Moved {
        net_fen: a.net_fen + b.net_fen,
        principal_fen: a.principal_fen + b.principal_fen,
        bonus_fen: a.bonus_fen + b.bonus_fen,
        points_offset: a.points_offset + b.points_offset,
        offset_value_fen: a.offset_value_fen + b.offset_value_fen,
        tenders,
        points_earned: a.points_earned + b.points_earned,
        growth_earned: a.growth_earned + b.growth_earned,
        referrer_points: a.referrer_points + b.referrer_points,
        card_fee_fen: a.card_fee_fen + b.card_fee_fen,
        clawback_points: a.clawback_points + b.clawback_points,
        clawback_fen: a.clawback_fen + b.clawback_fen,
        commission_fen: a.commission_fen + b.commission_fen,
        points_owed: a.points_owed + b.points_owed,
        points_repaid: a.points_repaid + b.points_repaid,
        points_removed: a.points_removed + b.points_removed,
        growth_removed: a.growth_removed + b.growth_removed,
        referrer_points_repaid: a.referrer_points_repaid + b.referrer_points_repaid,
        referrer_points_owed: a.referrer_points_owed + b.referrer_points_owed,
        referrer_points_written_off: a.referrer_points_written_off + b.referrer_points_written_off,
    }
}

/// A tier the loyalty scheme set (`set-tier`), with that reason.
/// Whether a record can move its member's tier: the scheme sets one, or some tier has
/// thresholds to reach.
fn may_move(tiers: &[Tier], tier_set: Option<(TierId, TierReason)>) -> bool {
    tier_set.is_some() || tiers.iter().any(|tier| tier.thresholds.any())
}

/// The tier a record moves its member to from `current`, if any: the one the scheme set, or the
/// one her balances and statistics (the record counted) reach, whichever is higher.
fn next_tier(
    tiers: &[Tier],
    current: Option<TierId>,
    tier_set: Option<(TierId, TierReason)>,
    balances: &Balances,
    stats: &MemberStats,
    top_up_fen: u64,
) -> Option<(TierId, TierReason)> {
    let earned = earned_tier(tiers, current, balances, stats, top_up_fen);
    let next = match (tier_set, earned) {
        (Some(set), Some(up)) if higher(tiers, set.0, up.0) == up.0 => Some(up),
        (set, up) => set.or(up),
    };
    next.filter(|next| Some(next.0) != current)
}

pub(crate) fn scheme_set(tier: Option<TierId>) -> Option<(TierId, TierReason)> {
    tier.map(|tier| (tier, TierReason::Scheme))
}

fn higher(tiers: &[Tier], a: TierId, b: TierId) -> TierId {
    let rank = |id: TierId| tiers.iter().find(|t| t.id == id).map_or(0, |t| t.rank);
    if rank(b) > rank(a) { b } else { a }
}

/// The highest tier above the member's whose thresholds they meet (any one is enough): upgrades
/// by growth, cumulative spend, a single top-up or points. Never a downgrade.
fn earned_tier(
    tiers: &[Tier],
    current: Option<TierId>,
    balances: &Balances,
    stats: &MemberStats,
    single_top_up_fen: u64,
) -> Option<(TierId, TierReason)> {
    let current_rank = current.and_then(|id| tiers.iter().find(|t| t.id == id).map(|t| t.rank));
    tiers
        .iter()
        .filter(|tier| current_rank.is_none_or(|rank| tier.rank > rank))
        .filter_map(|tier| {
            let t = &tier.thresholds;
            let reason = if t.growth.is_some_and(|g| balances.growth >= u128::from(g)) {
                TierReason::Growth
            } else if t
                .total_spend_fen
                .is_some_and(|s| stats.total_spend_fen >= s)
            {
                TierReason::TotalSpend
            } else if t
                .single_top_up_fen
                .is_some_and(|s| single_top_up_fen > 0 && single_top_up_fen >= s)
            {
                TierReason::SingleTopUp
            } else if t.points.is_some_and(|p| balances.points >= u128::from(p)) {
                TierReason::Points
            } else {
                return None;
            };
            Some((tier, reason))
        })
        .max_by_key(|(tier, _)| tier.rank)
        .map(|(tier, reason)| (tier.id, reason))
}

/// Prices the order under the scheme's effects. Pure: the same inputs give the same quote; the
/// caller adds its token.
fn price(
    request: &CheckoutRequest,
    store: StoreId,
    balances: Balances,
    effects: Vec<Effect>,
) -> Result<Quote, TillError> {
    let mut lines: Vec<PricedLine> = request
        .lines
        .iter()
        .map(|line| {
            let amount = line.amount_fen();
            PricedLine {
                line: line.line,
                quantity_milli: line.quantity_milli,
                amount_fen: amount,
                discount_fen: 0,
                net_fen: amount,
            }
        })
        .collect();
    let subtotal: u64 = lines.iter().map(|l| l.amount_fen).sum();
    let mut discounts = Vec::new();
    let mut order_discount = 0u64;
    let mut offer = None;
    for effect in &effects {
        match effect {
            Effect::DiscountLine {
                line,
                amount_fen,
                reason,
            } => {
                let amount = positive(*amount_fen);
                let Some(index) = request.lines.iter().position(|l| l.line == *line) else {
                    return Err(TillError::SchemeProposal(format!(
                        "a discount on line {line}, which the order does not have"
                    )));
                };
                if request.lines[index].no_discount {
                    return Err(TillError::SchemeProposal(format!(
                        "a discount on line {line}, which takes no discount"
                    )));
                }
                let priced = &mut lines[index];
                if amount > priced.net_fen {
                    return Err(TillError::SchemeProposal(format!(
                        "a discount of {amount} fen on line {line}, which is {} fen",
                        priced.net_fen
                    )));
                }
                priced.discount_fen += amount;
                priced.net_fen -= amount;
                discounts.push(Discount {
                    line: Some(*line),
                    amount_fen: amount,
                    reason: reason.clone(),
                });
            }
            Effect::DiscountOrder { amount_fen } => {
                order_discount = order_discount.saturating_add(positive(*amount_fen));
            }
            Effect::OfferPointsOffset {
                max_points,
                points_per_unit,
                unit_fen,
            } => {
                if offer.is_some() {
                    return Err(TillError::SchemeProposal(
                        "more than one points offset".into(),
                    ));
                }
                offer = Some((
                    positive(*max_points),
                    positive(*points_per_unit),
                    positive(*unit_fen),
                ));
            }
            _ => {}
        }
    }
    // An order discount is spread over the lines that take discounts, in proportion to what is
    // left of them (cumulative shares, so it adds up to the fen); refunds then know each line's
    // true net.
    if order_discount > 0 {
        let eligible: Vec<usize> = (0..lines.len())
            .filter(|&i| !request.lines[i].no_discount)
            .collect();
        let base: u64 = eligible.iter().map(|&i| lines[i].net_fen).sum();
        if order_discount > base {
            return Err(TillError::SchemeProposal(format!(
                "an order discount of {order_discount} fen on {base} fen that takes discounts"
            )));
        }
        let mut running = 0u64;
        let mut given = 0u64;
        for &i in &eligible {
            running += lines[i].net_fen;
            let cumulative = share(order_discount, running, base);
            let part = cumulative - given;
            given = cumulative;
            lines[i].discount_fen += part;
            lines[i].net_fen -= part;
        }
        discounts.push(Discount {
            line: None,
            amount_fen: order_discount,
            reason: String::new(),
        });
    }
    let payable: u64 = lines.iter().map(|l| l.net_fen).sum();
    let offset = match offer {
        Some((max_points, per_unit, unit_fen)) if per_unit > 0 && unit_fen > 0 => {
            let held = u64::try_from(balances.points).unwrap_or(u64::MAX);
            let units = (max_points / per_unit)
                .min(held / per_unit)
                .min(payable / unit_fen);
            (units > 0).then_some(OffsetOffer {
                max_points: units * per_unit,
                points_per_unit: per_unit,
                unit_fen,
                max_value_fen: units * unit_fen,
            })
        }
        _ => None,
    };
    let gains = earned(&effects);
    Ok(Quote {
        order: request.order.clone(),
        member: request.member,
        store,
        lines,
        subtotal_fen: subtotal,
        discounts,
        payable_fen: payable,
        points_to_earn: gains.points,
        growth_to_earn: gains.growth,
        offset,
        balances,
        effects,
        token: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sale's record as the box stored it before empty fields were left out (from a load run:
    /// five lines, paid from stored value, points and growth earned).
    const FULL_RECORD: &str = r##"{"id":"L0-1","merchant":253019909022160101399663700161906729232,"kind":"checkout","member":987677467652268732487289,"store":277274852944519917443748299011868298130,"staff":null,"terminal":112624443929352343998951053495189282007,"at":1796494147579,"fingerprint":"f9d126bda326325dd97fc97f894456e05cd245eb03e92b32012516f03e7e6a53","till_lines":[{"line":1,"sku":"SKU-0413","category":"frozen","quantity_milli":2000,"unit_price_fen":881,"promotional":false,"no_points":false,"no_discount":false},{"line":2,"sku":"SKU-0383","category":"tobacco","quantity_milli":1000,"unit_price_fen":2671,"promotional":false,"no_points":false,"no_discount":false},{"line":3,"sku":"SKU-0437","category":"frozen","quantity_milli":3000,"unit_price_fen":1769,"promotional":false,"no_points":false,"no_discount":false},{"line":4,"sku":"SKU-0399","category":"tobacco","quantity_milli":1000,"unit_price_fen":363,"promotional":false,"no_points":false,"no_discount":false},{"line":5,"sku":"SKU-0059","category":"snacks","quantity_milli":3000,"unit_price_fen":2283,"promotional":false,"no_points":false,"no_discount":false}],"lines":[{"line":1,"quantity_milli":2000,"amount_fen":1762,"discount_fen":0,"net_fen":1762},{"line":2,"quantity_milli":1000,"amount_fen":2671,"discount_fen":0,"net_fen":2671},{"line":3,"quantity_milli":3000,"amount_fen":5307,"discount_fen":0,"net_fen":5307},{"line":4,"quantity_milli":1000,"amount_fen":363,"discount_fen":0,"net_fen":363},{"line":5,"quantity_milli":3000,"amount_fen":6849,"discount_fen":0,"net_fen":6849}],"discounts":[],"moved":{"net_fen":16952,"principal_fen":16952,"bonus_fen":0,"points_offset":0,"offset_value_fen":0,"tenders":[],"points_earned":139,"growth_earned":139,"referrer_points":0,"card_fee_fen":0,"clawback_points":0,"clawback_fen":0,"commission_fen":0,"points_owed":0,"points_removed":0,"growth_removed":0,"points_repaid":0,"referrer_points_repaid":0,"referrer_points_owed":0,"referrer_points_written_off":0},"referrer":null,"tier_change":null,"original":null,"refunds":[],"refunded":{"net_fen":0,"principal_fen":0,"bonus_fen":0,"points_offset":0,"offset_value_fen":0,"tenders":[],"points_earned":0,"growth_earned":0,"referrer_points":0,"card_fee_fen":0,"clawback_points":0,"clawback_fen":0,"commission_fen":0,"points_owed":0,"points_removed":0,"growth_removed":0,"points_repaid":0,"referrer_points_repaid":0,"referrer_points_owed":0,"referrer_points_written_off":0},"refunded_lines":{},"effects":[{"kind":"earn-points","to":"member","points":139,"reason":"消费积分"},{"kind":"grant-growth","to":"member","points":139,"reason":"消费成长值"}],"transfers":["e8291be8756105664ca143d188f60001","e8291be8756105664ca143d188f60004","e8291be8756105664ca143d188f60005"],"balances_after":{"points":139,"principal_fen":83048,"bonus_fen":0,"growth":139,"points_owed":0},"approved_by":null,"gift":null,"seller":null,"bonus_plan":null}"##;

    #[test]
    fn stored_orders_leave_out_what_is_empty_and_still_read_full_records() {
        let old: Order = crate::directory::decode("order", FULL_RECORD.as_bytes()).unwrap();
        assert_eq!(old.moved.points_earned, 139);
        let compact = crate::directory::encode(&old).unwrap();
        assert!(
            compact.len() * 10 < FULL_RECORD.len() * 7,
            "{} bytes of {}",
            compact.len(),
            FULL_RECORD.len()
        );
        let back: Order = crate::directory::decode("order", &compact).unwrap();
        assert_eq!(back, old);
        let text = String::from_utf8(compact).unwrap();
        for left_out in [
            "\"refunded\"",
            "\"clawback_fen\"",
            "\"gift\"",
            "null",
            "\"tenders\"",
        ] {
            assert!(!text.contains(left_out), "{left_out} in {text}");
        }
        assert!(text.contains("\"points_earned\":139"), "{text}");
    }

    fn bonus(amount_fen: i64, months: Option<u32>) -> Effect {
        Effect::BonusStoredValue { amount_fen, months }
    }

    #[test]
    fn a_top_up_pays_its_bonus_on_one_schedule() {
        assert_eq!(bonus_of(&[]).ok(), Some((0, None)));
        assert_eq!(
            bonus_of(&[bonus(1_000, None), bonus(500, None)]).ok(),
            Some((1_500, None))
        );
        assert_eq!(
            bonus_of(&[bonus(1_000, Some(6)), bonus(500, Some(6))]).ok(),
            Some((1_500, Some(6)))
        );
        // Two schedules, or one past three years: the proposal is refused, not guessed at.
        assert!(matches!(
            bonus_of(&[bonus(1_000, Some(6)), bonus(500, None)]),
            Err(TillError::SchemeProposal(_))
        ));
        assert!(matches!(
            bonus_of(&[bonus(1_000, Some(BONUS_MONTHS_MAX + 1))]),
            Err(TillError::SchemeProposal(_))
        ));
        assert_eq!(
            bonus_of(&[bonus(1_000, Some(BONUS_MONTHS_MAX))]).ok(),
            Some((1_000, Some(BONUS_MONTHS_MAX)))
        );
    }
}
