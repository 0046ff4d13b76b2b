//! `/api/v1/till`: top-ups, checkout quotes and commits, refunds, and the orders they leave.
//!
//! A paired terminal calls them with its token and acts for its store; a signed-in cashier or
//! manager names the store, which must be in their scope. Money comes in as decimal strings
//! (`"12.50"`), quantities too (`"1.5"`); points as whole-number strings. Every write is
//! idempotent twice over: by the order id the POS chooses, and by `Idempotency-Key`.

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tongka_domain::{
    CheckoutRequest, ConversionRequest, MemberError, MemberId, Moved, Opening, Order, OrderKind,
    Payment, PricedLine, Quote, RedemptionRequest, RefundLine, RefundRequest, Role, Staff, StoreId,
    Tender, TenderKind, Terminal, TierPurchaseRequest, TillActor, TillError, TillLine,
    TopUpRequest, UnixMillis, accounts,
};

use crate::AppState;
use crate::auth::{CurrentStaff, internal, parse_id, rfc3339};
use crate::idempotency::Keeping;
use crate::json::ApiJson;
use crate::members::{
    BalancesBody, CreateMember, MemberBody, Money, PointsExpiringBody, field_error, money,
    unknown_member,
};
use crate::problem::{ApiError, Text};
use crate::terminals::CurrentTerminal;

/// Who is at the till: a terminal (bound to its store) or a staff member.
#[derive(Debug)]
pub enum TillCaller {
    Terminal(Terminal),
    Staff(Staff),
}

impl FromRequestParts<AppState> for TillCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let terminal_token = crate::auth::token(&parts.headers)
            .is_some_and(|t| t.starts_with(tongka_domain::TERMINAL_TOKEN_PREFIX));
        if terminal_token {
            let CurrentTerminal(terminal) =
                CurrentTerminal::from_request_parts(parts, state).await?;
            Ok(TillCaller::Terminal(terminal))
        } else {
            let staff = CurrentStaff::from_request_parts(parts, state).await?;
            Ok(TillCaller::Staff(staff.staff))
        }
    }
}

impl TillCaller {
    /// The till actor: a terminal's own store, or the store a staff member names (in scope,
    /// and not a department, who only reads).
    fn actor(&self, state: &AppState, store: Option<&str>) -> Result<TillActor, ApiError> {
        match self {
            TillCaller::Terminal(terminal) => Ok(TillActor {
                merchant: state.directory.first_merchant(),
                store: terminal.store,
                staff: None,
                terminal: Some(terminal.id),
            }),
            TillCaller::Staff(staff) => {
                if staff.role == Role::Department {
                    return Err(ApiError::forbidden());
                }
                let Some(text) = store else {
                    return Err(ApiError::invalid_field(
                        "store",
                        Text::new(
                            "员工收银须指明门店",
                            "staff at the till must name the store",
                        ),
                    ));
                };
                let id = parse_id(text)
                    .map(StoreId)
                    .ok_or_else(|| ApiError::unknown_store("store"))?;
                state
                    .directory
                    .store(staff, id)
                    .map_err(|e| internal(&e))?
                    .ok_or_else(|| ApiError::unknown_store("store"))?;
                Ok(TillActor {
                    merchant: staff.merchant,
                    store: id,
                    staff: Some(staff.id),
                    terminal: None,
                })
            }
        }
    }
}

/// A decimal string as minor units with at most `scale` places, positive or zero.
pub(crate) fn units(field: &str, text: &str, scale: u32, max: u64) -> Result<u64, ApiError> {
    let refuse = || {
        ApiError::invalid_field(
            field,
            Text::new(
                format!("须为不小于 0 的数，最多 {scale} 位小数"),
                format!("must be a number ≥ 0 with at most {scale} decimal places"),
            ),
        )
    };
    let value = Decimal::from_str_exact(text.trim()).map_err(|_| refuse())?;
    if value.is_sign_negative() || value.normalize().scale() > scale {
        return Err(refuse());
    }
    let scaled = value * Decimal::from(10u64.pow(scale));
    let whole: u64 = scaled.trunc().try_into().map_err(|_| refuse())?;
    if whole > max {
        return Err(refuse());
    }
    Ok(whole)
}

pub(crate) fn fen(field: &str, text: &str) -> Result<u64, ApiError> {
    units(field, text, 2, tongka_domain::AMOUNT_FEN_MAX)
}

fn points_of(n: u64) -> String {
    n.to_string()
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    /// The line's number within the order, unique.
    line: u32,
    sku: String,
    #[serde(default)]
    category: String,
    /// Units, at most 3 decimal places (`"1.5"` kg).
    quantity: String,
    /// Price of one unit in yuan, e.g. `"12.50"`.
    unit_price: String,
    /// On promotion already.
    #[serde(default)]
    promotional: bool,
    /// Earns no points (tobacco, gift cards).
    #[serde(default)]
    no_points: bool,
    /// Takes no member discount.
    #[serde(default)]
    no_discount: bool,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenderRequest {
    /// `cash`, `wechat`, `alipay`, `bank-card` or `other`.
    #[schema(value_type = String)]
    kind: TenderKind,
    amount: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// Paid from stored value, in yuan.
    #[serde(default)]
    stored_value: Option<String>,
    /// Points used to pay (积分抵现), a whole number within the quote's offer.
    #[serde(default)]
    points: Option<String>,
    /// The rest: cash, WeChat Pay, Alipay…
    #[serde(default)]
    tenders: Vec<TenderRequest>,
    /// The staff member credited with the sale's commission (提成归属, 导购), a staff id; the
    /// signed-in staff member if absent. Must work at the store.
    #[serde(default)]
    seller: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = CheckoutRequest)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    /// The POS's own order id (receipt number): 1 to 64 of `A-Z a-z 0-9 - _ .`. The same id
    /// again is the same order.
    order: String,
    /// The member's id, or else `card`.
    #[serde(default)]
    member: Option<String>,
    /// A card number scanned at the till.
    #[serde(default)]
    card: Option<String>,
    /// For staff: the store they serve at. A terminal serves its own.
    #[serde(default)]
    store: Option<String>,
    lines: Vec<LineRequest>,
    /// The quote's `quote_token` (commit only).
    #[serde(default)]
    quote_token: Option<String>,
    /// How the member pays (commit only).
    #[serde(default)]
    payment: Option<PaymentRequest>,
}

fn tenders(list: &[TenderRequest]) -> Result<Vec<Tender>, ApiError> {
    list.iter()
        .enumerate()
        .map(|(i, t)| {
            Ok(Tender {
                kind: t.kind,
                amount_fen: fen(&format!("tenders[{i}].amount"), &t.amount)?,
            })
        })
        .collect()
}

/// The member an order is for: by id, or by a scanned card (which must be in use).
fn member_of(
    state: &AppState,
    actor: &TillActor,
    member: Option<&str>,
    card: Option<&str>,
) -> Result<MemberId, ApiError> {
    match (member, card) {
        (Some(id), None) => parse_id(id).map(MemberId).ok_or_else(unknown_member),
        (None, Some(number)) => {
            let (holder, card) = state
                .members
                .card_holder(actor.merchant, number)
                .map_err(|e| internal(&e))?
                .map_err(crate::members::refused)?;
            if card.status != tongka_domain::CardStatus::Active {
                return Err(crate::members::refused(MemberError::CardNotActive(
                    card.status.as_str(),
                )));
            }
            Ok(holder.id)
        }
        _ => Err(ApiError::invalid_field(
            "member",
            Text::new("须给出 member 或 card 之一", "give one of member or card"),
        )),
    }
}

impl CheckoutBody {
    fn request(&self, state: &AppState, actor: &TillActor) -> Result<CheckoutRequest, ApiError> {
        let member = member_of(state, actor, self.member.as_deref(), self.card.as_deref())?;
        let lines = self
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                Ok(TillLine {
                    line: l.line,
                    sku: l.sku.clone(),
                    category: l.category.clone(),
                    quantity_milli: u32::try_from(units(
                        &format!("lines[{i}].quantity"),
                        &l.quantity,
                        3,
                        u64::from(tongka_domain::QUANTITY_MILLI_MAX),
                    )?)
                    .unwrap_or(u32::MAX),
                    unit_price_fen: fen(&format!("lines[{i}].unit_price"), &l.unit_price)?,
                    promotional: l.promotional,
                    no_points: l.no_points,
                    no_discount: l.no_discount,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok(CheckoutRequest {
            order: self.order.clone(),
            member,
            lines,
        })
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PricedLineBody {
    line: u32,
    amount: Money,
    discount: Money,
    /// What is left to pay for the line, its share of any order discount taken off.
    net: Money,
}

impl From<&PricedLine> for PricedLineBody {
    fn from(l: &PricedLine) -> Self {
        PricedLineBody {
            line: l.line,
            amount: money(u128::from(l.amount_fen)),
            discount: money(u128::from(l.discount_fen)),
            net: money(u128::from(l.net_fen)),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DiscountBody {
    /// The line, or null for the whole order.
    line: Option<u32>,
    amount: Money,
    reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OffsetBody {
    /// The most points the member may use on this order.
    max_points: String,
    /// Points are used in steps of this many…
    points_per_unit: String,
    /// …each worth this much.
    unit_value: Money,
    max_value: Money,
}

/// 结算报价 / What the member is shown before paying. Nothing was written.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QuoteBody {
    order: String,
    member: String,
    store: String,
    lines: Vec<PricedLineBody>,
    subtotal: Money,
    discounts: Vec<DiscountBody>,
    payable: Money,
    points_to_earn: String,
    growth_to_earn: String,
    /// Points the member may pay with, or null.
    points_offset: Option<OffsetBody>,
    balances: BalancesBody,
    /// Bring it back with the commit: if balances or rules changed since, the commit is refused
    /// with the new quote.
    quote_token: String,
}

impl From<&Quote> for QuoteBody {
    fn from(q: &Quote) -> Self {
        QuoteBody {
            order: q.order.clone(),
            member: q.member.to_string(),
            store: q.store.to_string(),
            lines: q.lines.iter().map(PricedLineBody::from).collect(),
            subtotal: money(u128::from(q.subtotal_fen)),
            discounts: q
                .discounts
                .iter()
                .map(|d| DiscountBody {
                    line: d.line,
                    amount: money(u128::from(d.amount_fen)),
                    reason: d.reason.clone(),
                })
                .collect(),
            payable: money(u128::from(q.payable_fen)),
            points_to_earn: points_of(q.points_to_earn),
            growth_to_earn: points_of(q.growth_to_earn),
            points_offset: q.offset.map(|o| OffsetBody {
                max_points: points_of(o.max_points),
                points_per_unit: points_of(o.points_per_unit),
                unit_value: money(u128::from(o.unit_fen)),
                max_value: money(u128::from(o.max_value_fen)),
            }),
            balances: BalancesBody::from(&q.balances),
            quote_token: q.token.clone(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenderBody {
    #[schema(value_type = String)]
    kind: TenderKind,
    amount: Money,
}

/// What an order moved: paid (checkout), paid in (top-up) or returned (refund).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MovedBody {
    /// The order's value: what was due, paid in, or refunded.
    total: Money,
    /// Stored value principal spent, paid in, or returned.
    principal: Money,
    /// Stored value bonus spent, given, or returned.
    bonus: Money,
    /// Points used to pay, or given back.
    points_offset: String,
    points_offset_value: Money,
    tenders: Vec<TenderBody>,
    /// Points the member earned, or (refund) that were taken back.
    points: String,
    growth: String,
    /// Points the referrer earned, or (refund) gave back from what they held.
    referrer_points: String,
    /// Of `referrer_points`, what went to repay the referrer's own points debt.
    referrer_points_repaid: String,
    /// A refund: referral points the referrer had already spent, now their debt (policy
    /// `"negative"`)…
    referrer_points_owed: String,
    /// …or let go (the other policies: the member's refund never pays for them).
    referrer_points_written_off: String,
    /// The card fee (工本费) taken when the card was opened.
    card_fee: Money,
    /// A refund: points to take back that the member had already spent…
    clawback_points: String,
    /// …and what was kept of the money going back for them (`till.spent_points_on_refund =
    /// "deduct"`); `principal`, `bonus` and `tenders` are what was actually returned.
    clawback: Money,
    /// Staff commission (提成) credited to the order's `seller`, or (refund) taken back.
    commission: Money,
    /// A refund: points taken back beyond what the member held, now owed (积分欠账, policy
    /// `till.spent_points_on_refund = "negative"`).
    points_owed: String,
    /// Of `points`, what went to repay the member's points debt.
    points_repaid: String,
    /// A daily tick: points and growth taken away (expiry).
    points_removed: String,
    growth_removed: String,
}

impl From<&Moved> for MovedBody {
    fn from(m: &Moved) -> Self {
        MovedBody {
            total: money(u128::from(m.net_fen)),
            principal: money(u128::from(m.principal_fen)),
            bonus: money(u128::from(m.bonus_fen)),
            points_offset: points_of(m.points_offset),
            points_offset_value: money(u128::from(m.offset_value_fen)),
            tenders: m
                .tenders
                .iter()
                .map(|t| TenderBody {
                    kind: t.kind,
                    amount: money(u128::from(t.amount_fen)),
                })
                .collect(),
            points: points_of(m.points_earned),
            growth: points_of(m.growth_earned),
            referrer_points: points_of(m.referrer_points),
            referrer_points_repaid: points_of(m.referrer_points_repaid),
            referrer_points_owed: points_of(m.referrer_points_owed),
            referrer_points_written_off: points_of(m.referrer_points_written_off),
            card_fee: money(u128::from(m.card_fee_fen)),
            clawback_points: points_of(m.clawback_points),
            clawback: money(u128::from(m.clawback_fen)),
            commission: money(u128::from(m.commission_fen)),
            points_owed: points_of(m.points_owed),
            points_repaid: points_of(m.points_repaid),
            points_removed: points_of(m.points_removed),
            growth_removed: points_of(m.growth_removed),
        }
    }
}

/// 订单 / A committed till operation: the receipt.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderBody {
    order: String,
    /// `top-up`, `checkout`, `refund`, `joined` (a card opened at the till),
    /// `points-conversion`, `gift-redemption`, `tier-purchase`, `daily-tick` or
    /// `points-expired`.
    #[schema(value_type = String)]
    kind: OrderKind,
    member: String,
    store: String,
    terminal: Option<String>,
    staff: Option<String>,
    at: String,
    lines: Vec<PricedLineBody>,
    discounts: Vec<DiscountBody>,
    moved: MovedBody,
    /// The tier the order moved the member to.
    tier: Option<String>,
    /// A refund's checkout.
    original: Option<String>,
    /// A checkout's refunds, and what they returned in all.
    refunds: Vec<String>,
    refunded: MovedBody,
    /// Ledger transfers, for the auditor.
    transfers: Vec<String>,
    /// The member's balances once the order was committed.
    balances: BalancesBody,
    /// The manager who authorised it (a large top-up).
    approved_by: Option<String>,
    /// A gift redemption's gift.
    gift: Option<RedeemedGiftBody>,
    /// The staff member credited with the commission.
    seller: Option<String>,
    /// A top-up whose bonus is paid monthly (赠送按月返还): `moved.bonus` is the first part.
    bonus_plan: Option<BonusPlanBody>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BonusPlanBody {
    /// The whole bonus.
    total: Money,
    months: u32,
    /// Paid so far, the first part (with the top-up) included.
    paid: Money,
    paid_parts: u32,
    /// `YYYY-MM-DD` the next part falls due; none once paid in full or stopped.
    next_on: Option<String>,
    /// The member was erased before the end: the rest is not paid.
    stopped: bool,
}

impl From<&tongka_domain::BonusPlan> for BonusPlanBody {
    fn from(plan: &tongka_domain::BonusPlan) -> Self {
        BonusPlanBody {
            total: money(u128::from(plan.total_fen)),
            months: plan.months,
            paid: money(u128::from(plan.paid_fen)),
            paid_parts: plan.paid_parts,
            next_on: plan.next_on().map(|date| date.to_string()),
            stopped: plan.stopped,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RedeemedGiftBody {
    id: String,
    name: String,
    quantity: u32,
    /// Points for all of them.
    points: String,
}

impl From<&Order> for OrderBody {
    fn from(o: &Order) -> Self {
        OrderBody {
            order: o.id.clone(),
            kind: o.kind,
            member: o.member.to_string(),
            store: o.store.to_string(),
            terminal: o.terminal.map(|t| t.to_string()),
            staff: o.staff.map(|s| s.to_string()),
            at: rfc3339(o.at),
            lines: o.lines.iter().map(PricedLineBody::from).collect(),
            discounts: o
                .discounts
                .iter()
                .map(|d| DiscountBody {
                    line: d.line,
                    amount: money(u128::from(d.amount_fen)),
                    reason: d.reason.clone(),
                })
                .collect(),
            moved: MovedBody::from(&o.moved),
            tier: o.tier_change.map(|t| t.to_string()),
            original: o.original.clone(),
            refunds: o.refunds.clone(),
            refunded: MovedBody::from(&o.refunded),
            transfers: o.transfers.clone(),
            balances: BalancesBody::from(&o.balances_after),
            approved_by: o.approved_by.map(|staff| staff.to_string()),
            seller: o.seller.map(|staff| staff.to_string()),
            bonus_plan: o.bonus_plan.as_ref().map(BonusPlanBody::from),
            gift: o.gift.as_ref().map(|gift| RedeemedGiftBody {
                id: gift.gift.to_string(),
                name: gift.name.clone(),
                quantity: gift.quantity,
                points: points_of(gift.points),
            }),
        }
    }
}

/// The problem for each refusal of a till operation. Nothing was written.
fn refused(error: TillError) -> ApiError {
    let conflict = |code, zh: &'static str, en: &'static str| {
        ApiError::new(StatusCode::CONFLICT, code, Text::new(zh, en))
    };
    let unprocessable = |code, zh: &'static str, en: &'static str| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, Text::new(zh, en))
    };
    match error {
        TillError::Member(error) => crate::members::refused(error),
        TillError::Invalid(field) => field_error(&field),
        TillError::UnknownMember => unknown_member(),
        TillError::Frozen => conflict("member_frozen", "会员已冻结", "The member is frozen"),
        TillError::NotLive => conflict(
            "member_not_live",
            "会员已合并或已注销",
            "The member was merged or erased",
        ),
        TillError::Scheme(failure) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "scheme_failed",
            Text::new(
                "积分规则插件出错，未做任何更改",
                "The loyalty scheme plugin failed; nothing was changed",
            ),
        )
        .with_detail(Text::new(
            format!(
                "插件 {}（{}）：{}",
                failure.plugin, failure.kind, failure.detail
            ),
            format!(
                "plugin {} ({}): {}",
                failure.plugin, failure.kind, failure.detail
            ),
        )),
        TillError::SchemeProposal(what) | TillError::UnknownTier(what) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "scheme_proposal_refused",
            Text::new(
                "积分规则插件的结果不适用于此订单，未做任何更改",
                "The loyalty scheme proposed what this order cannot take; nothing was changed",
            ),
        )
        .with_detail(Text::new(what.clone(), what)),
        TillError::QuoteStale(_) => conflict(
            "quote_stale",
            "报价已过期：余额或规则已变化，请按新报价确认",
            "The quote is stale: balances or rules changed; confirm the new quote",
        ),
        TillError::PaymentMismatch { payable, paid } => unprocessable(
            "payment_mismatch",
            "支付合计与应付金额不符",
            "The payments do not add up to the amount due",
        )
        .with_detail(Text::new(
            format!(
                "应付 {}，支付合计 {}",
                accounts::display(accounts::CNY, u128::from(payable)),
                accounts::display(accounts::CNY, u128::from(paid))
            ),
            format!(
                "due {}, paid {}",
                accounts::display(accounts::CNY, u128::from(payable)),
                accounts::display(accounts::CNY, u128::from(paid))
            ),
        ))
        .with_field("payment"),
        TillError::OffsetNotOffered => unprocessable(
            "points_offset_refused",
            "此订单不能用积分抵现",
            "Points cannot pay for this order",
        )
        .with_field("payment.points"),
        TillError::OffsetOverMax { max } => unprocessable(
            "points_offset_refused",
            "积分抵现超过上限",
            "More points than this order may take",
        )
        .with_detail(Text::new(
            format!("最多 {max} 积分"),
            format!("at most {max} points"),
        ))
        .with_field("payment.points"),
        TillError::OffsetStep { step } => unprocessable(
            "points_offset_refused",
            "积分须按整步使用",
            "Points are used in whole steps",
        )
        .with_detail(Text::new(
            format!("每步 {step} 积分"),
            format!("steps of {step} points"),
        ))
        .with_field("payment.points"),
        TillError::InsufficientStoredValue { available } => conflict(
            "insufficient_stored_value",
            "储值余额不足",
            "Not enough stored value",
        )
        .with_detail(Text::new(
            format!("可用 {}", accounts::display(accounts::CNY, available)),
            format!("available {}", accounts::display(accounts::CNY, available)),
        )),
        TillError::InsufficientPoints { available } => {
            conflict("insufficient_points", "积分不足", "Not enough points").with_detail(Text::new(
                format!("可用 {available} 积分"),
                format!("{available} points available"),
            ))
        }
        TillError::ApprovalNeeded { above_fen } => ApiError::new(
            StatusCode::FORBIDDEN,
            "approval_needed",
            Text::new(
                "大额充值须店长授权",
                "A top-up this large needs a manager's authorisation",
            ),
        )
        .with_detail(Text::new(
            format!(
                "本店充值超过 {} 须授权",
                accounts::display(accounts::CNY, u128::from(above_fen))
            ),
            format!(
                "top-ups above {} need authorisation at this store",
                accounts::display(accounts::CNY, u128::from(above_fen))
            ),
        ))
        .with_field("approval"),
        TillError::UnknownSeller => unknown_seller("seller"),
        TillError::BalancesChanged => conflict(
            "balances_changed",
            "会员余额刚被另一笔交易改变，请重试",
            "Another sale changed the member's balances meanwhile; try again",
        ),
        TillError::TierNotForSale => conflict(
            "tier_not_for_sale",
            "此等级不能用积分升级",
            "This tier cannot be bought with points",
        )
        .with_field("tier"),
        TillError::TierNotHigher => conflict(
            "tier_not_higher",
            "会员已在此等级或更高",
            "The member is already on this tier or above",
        )
        .with_field("tier"),
        TillError::UnknownGift => ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_gift",
            Text::new("没有这个礼品，或已下架", "No such gift on offer"),
        )
        .with_field("gift"),
        TillError::GiftOutOfStock { stock } => conflict(
            "gift_out_of_stock",
            "礼品库存不足",
            "Not enough of this gift in stock",
        )
        .with_detail(Text::new(
            format!("库存 {stock}"),
            format!("{stock} in stock"),
        )),
        TillError::ConversionOff => conflict(
            "conversion_off",
            "商户未开通积分兑换储值",
            "The merchant does not turn points into stored value",
        ),
        TillError::ConversionTooSmall { points } => unprocessable(
            "conversion_too_small",
            "积分太少，不足一分钱",
            "Too few points: worth less than a fen",
        )
        .with_detail(Text::new(
            format!("{points} 积分不足一分钱"),
            format!("{points} points are worth less than a fen"),
        ))
        .with_field("points"),
        TillError::OrderIdReused => conflict(
            "order_id_reused",
            "此订单号已用于另一笔交易",
            "This order id was used for another request",
        )
        .with_field("order"),
        TillError::UnknownOrder => ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_order",
            Text::new("没有这个订单", "No such order"),
        ),
        TillError::NotRefundable => unprocessable(
            "not_refundable",
            "只有消费订单可以退货",
            "Only a checkout can be refunded",
        )
        .with_field("original"),
        TillError::RefundOverLine {
            line,
            remaining_milli,
        } => unprocessable(
            "refund_over_line",
            "退货数量超过可退数量",
            "More than is left to refund on a line",
        )
        .with_detail(Text::new(
            format!("第 {line} 行可退 {}", quantity(remaining_milli)),
            format!("line {line} has {} left", quantity(remaining_milli)),
        ))
        .with_field("lines"),
        TillError::UnknownLine { line } => unprocessable(
            "unknown_line",
            "原订单没有这一行",
            "The order has no such line",
        )
        .with_detail(Text::new(format!("第 {line} 行"), format!("line {line}")))
        .with_field("lines"),
        TillError::NothingToRefund => conflict(
            "nothing_to_refund",
            "此订单已全部退货",
            "Everything on this order was refunded",
        ),
        TillError::PointsAlreadySpent { needed, available } => conflict(
            "points_already_spent",
            "此单所得积分已被使用，不能退回",
            "The points this order earned were spent; the refund cannot take them back",
        )
        .with_detail(Text::new(
            format!("需扣回 {needed} 积分，会员现有 {available}"),
            format!("{needed} points to take back; the member has {available}"),
        )),
    }
}

fn quantity(milli: u32) -> String {
    Decimal::new(i64::from(milli), 3).normalize().to_string()
}

/// A refusal as its problem; a stale quote's problem carries the new quote as `quote`.
fn refusal(error: TillError) -> Response {
    let fresh = match &error {
        TillError::QuoteStale(quote) => serde_json::to_value(QuoteBody::from(quote.as_ref())).ok(),
        _ => None,
    };
    let problem = refused(error);
    match fresh {
        Some(quote) => problem.with_member("quote", quote).into_response(),
        None => problem.into_response(),
    }
}

/// 结算报价 / Prices an order for a member and shows what the loyalty scheme gives: discounts,
/// points to earn, points the member may pay with. Nothing is written.
#[utoipa::path(post, path = "/api/v1/till/quote", operation_id = "quote", tag = "till", security(("bearer" = [])),
    request_body = CheckoutBody,
    responses((status = 200, body = QuoteBody),
        (status = 404, description = "unknown_member", body = crate::problem::ProblemDoc),
        (status = 409, description = "member_frozen, member_not_live, card_not_active", body = crate::problem::ProblemDoc),
        (status = 422, body = crate::problem::ProblemDoc),
        (status = 503, description = "scheme_failed, scheme_proposal_refused", body = crate::problem::ProblemDoc)))]
pub(crate) async fn quote(
    State(state): State<AppState>,
    caller: TillCaller,
    ApiJson(body): ApiJson<CheckoutBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor(&state, body.store.as_deref())?;
    let request = body.request(&state, &actor)?;
    let answer = state
        .till
        .quote(&actor, &*state.scheme, &request, UnixMillis::now())
        .await
        .map_err(|e| internal(&e))?;
    Ok(match answer {
        Ok(quote) => Json(QuoteBody::from(&quote)).into_response(),
        Err(error) => refusal(error),
    })
}

/// 结算 / Commits a quoted order with the member's payments: stored value, points, other
/// tenders; earns points and growth; the referrer's share — all at once or nothing. The same
/// `order` again answers the same receipt.
#[utoipa::path(post, path = "/api/v1/till/checkouts", operation_id = "checkout", tag = "till", security(("bearer" = [])),
    request_body = CheckoutBody,
    responses((status = 201, body = OrderBody),
        (status = 404, description = "unknown_member", body = crate::problem::ProblemDoc),
        (status = 409, description = "quote_stale (with `quote`), insufficient_stored_value, insufficient_points, order_id_reused, member_frozen", body = crate::problem::ProblemDoc),
        (status = 422, description = "payment_mismatch, points_offset_refused, invalid_field", body = crate::problem::ProblemDoc),
        (status = 503, description = "scheme_failed, scheme_proposal_refused", body = crate::problem::ProblemDoc)))]
pub(crate) async fn checkout(
    State(state): State<AppState>,
    caller: TillCaller,
    ApiJson(body): ApiJson<CheckoutBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor(&state, body.store.as_deref())?;
    let request = body.request(&state, &actor)?;
    let Some(token) = body.quote_token.as_deref() else {
        return Err(ApiError::invalid_field(
            "quote_token",
            Text::new("须带上报价的 quote_token", "bring the quote's quote_token"),
        ));
    };
    let Some(pay) = body.payment.as_ref() else {
        return Err(ApiError::invalid_field(
            "payment",
            Text::new("须说明支付方式", "say how the member pays"),
        ));
    };
    let payment = Payment {
        stored_value_fen: match &pay.stored_value {
            Some(text) => fen("payment.stored_value", text)?,
            None => 0,
        },
        points: match &pay.points {
            Some(text) => units("payment.points", text, 0, tongka_domain::AMOUNT_FEN_MAX)?,
            None => 0,
        },
        tenders: tenders(&pay.tenders)?,
        seller: seller(pay.seller.as_deref(), "payment.seller")?,
    };
    let answer = state
        .till
        .checkout(
            &actor,
            &*state.scheme,
            &request,
            &payment,
            token,
            UnixMillis::now(),
        )
        .await;
    // The seller of a checkout is named inside its payment.
    if let Ok(Err(TillError::UnknownSeller)) = answer {
        return Err(unknown_seller("payment.seller"));
    }
    receipt(answer)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = TopUpRequest)]
#[serde(deny_unknown_fields)]
pub struct TopUpBody {
    order: String,
    #[serde(default)]
    member: Option<String>,
    #[serde(default)]
    card: Option<String>,
    #[serde(default)]
    store: Option<String>,
    /// Paid in, in yuan: `"100.00"`.
    amount: String,
    /// How it was paid; cash if empty. They must add up to `amount`.
    #[serde(default)]
    tenders: Vec<TenderRequest>,
    /// A manager's authorisation (授权), where the store asks for one above an amount: the
    /// manager types their own username and password at the till.
    #[serde(default)]
    approval: Option<ApprovalRequest>,
    /// The staff member credited with the top-up's commission, a staff id; the signed-in
    /// staff member if absent.
    #[serde(default)]
    seller: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    username: String,
    password: String,
}

/// Who authorises a top-up: the manager named in `approval` (password checked; a store manager
/// of the store, or head office), else the caller if they are one.
fn approver(
    state: &AppState,
    caller: &TillCaller,
    actor: &TillActor,
    approval: Option<&ApprovalRequest>,
) -> Result<Option<tongka_domain::StaffId>, ApiError> {
    let may_approve = |staff: &Staff| {
        staff.merchant == actor.merchant
            && match staff.role {
                Role::HqAdmin => true,
                Role::StoreManager => staff.scope.covers(actor.store),
                Role::Department | Role::Cashier => false,
            }
    };
    let refused = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "approval_refused",
            Text::new("授权未通过", "The authorisation was refused"),
        )
        .with_detail(Text::new(
            "须由本店店长或总部管理员输入自己的用户名和密码",
            "a manager of this store, or head office, must enter their own username and password",
        ))
        .with_field("approval")
    };
    let Some(approval) = approval else {
        return Ok(match caller {
            TillCaller::Staff(staff) if may_approve(staff) => Some(staff.id),
            _ => None,
        });
    };
    match state
        .directory
        .confirm(&approval.username, &approval.password, UnixMillis::now())
        .map_err(|e| internal(&e))?
    {
        Ok(manager) if may_approve(&manager) => {
            tracing::info!(manager = %manager.id, store = %actor.store, "top-up authorised");
            Ok(Some(manager.id))
        }
        _ => Err(refused()),
    }
}

/// 充值 / Money paid into a member's stored value, with the loyalty scheme's offer (bonus
/// stored value, points, a tier). Above the store's `top_up_approval_above` a manager
/// authorises it (`approval`, or a manager calling); else 403 `approval_needed`. The same
/// `order` again answers the same receipt.
#[utoipa::path(post, path = "/api/v1/till/top-ups", operation_id = "top_up", tag = "till", security(("bearer" = [])),
    request_body = TopUpBody,
    responses((status = 201, body = OrderBody),
        (status = 404, description = "unknown_member", body = crate::problem::ProblemDoc),
        (status = 403, description = "approval_needed, approval_refused", body = crate::problem::ProblemDoc),
        (status = 409, description = "order_id_reused, member_frozen", body = crate::problem::ProblemDoc),
        (status = 422, body = crate::problem::ProblemDoc),
        (status = 503, description = "scheme_failed", body = crate::problem::ProblemDoc)))]
pub(crate) async fn top_up(
    State(state): State<AppState>,
    caller: TillCaller,
    ApiJson(body): ApiJson<TopUpBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor(&state, body.store.as_deref())?;
    let member = member_of(&state, &actor, body.member.as_deref(), body.card.as_deref())?;
    let request = TopUpRequest {
        order: body.order.clone(),
        member,
        amount_fen: fen("amount", &body.amount)?,
        tenders: tenders(&body.tenders)?,
        seller: seller(body.seller.as_deref(), "seller")?,
        approved_by: approver(&state, &caller, &actor, body.approval.as_ref())?,
    };
    let answer = state
        .till
        .top_up(&actor, &*state.scheme, &request, UnixMillis::now())
        .await;
    receipt(answer)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierPurchaseBody {
    order: String,
    #[serde(default)]
    member: Option<String>,
    #[serde(default)]
    card: Option<String>,
    #[serde(default)]
    store: Option<String>,
    /// The tier's id; it must have `upgrade_points` and rank above the member's.
    tier: String,
}

/// 积分升级 / A member moves up to a tier for the points it costs (`upgrade_points`): one
/// batch, the tier history says `bought`. The same `order` again answers the same receipt.
#[utoipa::path(post, path = "/api/v1/till/tier-upgrades", operation_id = "buy_tier", tag = "till", security(("bearer" = [])),
    request_body = TierPurchaseBody,
    responses((status = 201, body = OrderBody),
        (status = 404, description = "unknown_member", body = crate::problem::ProblemDoc),
        (status = 409, description = "tier_not_for_sale, tier_not_higher, insufficient_points, order_id_reused, member_frozen", body = crate::problem::ProblemDoc),
        (status = 422, description = "invalid_field, unknown_tier", body = crate::problem::ProblemDoc)))]
pub(crate) async fn buy_tier(
    State(state): State<AppState>,
    caller: TillCaller,
    ApiJson(body): ApiJson<TierPurchaseBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor(&state, body.store.as_deref())?;
    let member = member_of(&state, &actor, body.member.as_deref(), body.card.as_deref())?;
    let tier = crate::auth::parse_id(&body.tier)
        .map(tongka_domain::TierId)
        .ok_or_else(|| refused(TillError::Member(MemberError::UnknownTier)))?;
    let request = TierPurchaseRequest {
        order: body.order.clone(),
        member,
        tier,
    };
    let answer = state
        .till
        .buy_tier(&actor, &request, UnixMillis::now())
        .await;
    receipt(answer)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedemptionBody {
    order: String,
    #[serde(default)]
    member: Option<String>,
    #[serde(default)]
    card: Option<String>,
    #[serde(default)]
    store: Option<String>,
    /// The gift's id.
    gift: String,
    /// 1 by default; at most 99.
    #[serde(default)]
    quantity: Option<u32>,
}

/// 礼品兑换 / A member takes a gift for points: the stock is reserved, then the points move;
/// if they cannot (409 `insufficient_points`), the stock goes back. The same `order` again
/// answers the same receipt, with the gift in `gift`.
#[utoipa::path(post, path = "/api/v1/till/gift-redemptions", operation_id = "redeem_gift", tag = "till", security(("bearer" = [])),
    request_body = RedemptionBody,
    responses((status = 201, body = OrderBody),
        (status = 404, description = "unknown_member, unknown_gift", body = crate::problem::ProblemDoc),
        (status = 409, description = "gift_out_of_stock, insufficient_points, order_id_reused, member_frozen", body = crate::problem::ProblemDoc),
        (status = 422, description = "invalid_field", body = crate::problem::ProblemDoc)))]
pub(crate) async fn redeem_gift(
    State(state): State<AppState>,
    caller: TillCaller,
    ApiJson(body): ApiJson<RedemptionBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor(&state, body.store.as_deref())?;
    let member = member_of(&state, &actor, body.member.as_deref(), body.card.as_deref())?;
    let gift = crate::auth::parse_id(&body.gift)
        .map(tongka_domain::GiftId)
        .ok_or_else(|| refused(TillError::UnknownGift))?;
    let request = RedemptionRequest {
        order: body.order.clone(),
        member,
        gift,
        quantity: body.quantity.unwrap_or(1),
    };
    let answer = state
        .till
        .redeem_gift(&actor, &request, UnixMillis::now())
        .await;
    receipt(answer)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversionBody {
    order: String,
    #[serde(default)]
    member: Option<String>,
    #[serde(default)]
    card: Option<String>,
    #[serde(default)]
    store: Option<String>,
    /// Whole points, `"500"`.
    points: String,
}

/// 积分兑换储值 / Turns a member's points into stored value at the merchant's rate
/// (`till.points_to_stored_value_fen_per_100`), rounded down to the fen and credited as bonus
/// (赠送). The same `order` again answers the same receipt.
#[utoipa::path(post, path = "/api/v1/till/points-conversions", operation_id = "convert_points", tag = "till", security(("bearer" = [])),
    request_body = ConversionBody,
    responses((status = 201, body = OrderBody),
        (status = 404, description = "unknown_member", body = crate::problem::ProblemDoc),
        (status = 409, description = "conversion_off, insufficient_points, order_id_reused, member_frozen", body = crate::problem::ProblemDoc),
        (status = 422, description = "invalid_field, conversion_too_small", body = crate::problem::ProblemDoc)))]
pub(crate) async fn convert_points(
    State(state): State<AppState>,
    caller: TillCaller,
    ApiJson(body): ApiJson<ConversionBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor(&state, body.store.as_deref())?;
    let member = member_of(&state, &actor, body.member.as_deref(), body.card.as_deref())?;
    let request = ConversionRequest {
        order: body.order.clone(),
        member,
        points: units("points", &body.points, 0, tongka_domain::AMOUNT_FEN_MAX)?,
    };
    let answer = state
        .till
        .convert_points(&actor, &request, UnixMillis::now())
        .await;
    receipt(answer)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = RefundLineRequest)]
#[serde(deny_unknown_fields)]
pub struct RefundLineBody {
    line: u32,
    /// How much of the line comes back, in units (`"1"`, `"0.5"`).
    quantity: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = RefundRequest)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// The refund's own order id.
    order: String,
    /// The checkout refunded.
    original: String,
    #[serde(default)]
    store: Option<String>,
    /// Lines to refund; empty or absent: everything not yet refunded.
    #[serde(default)]
    lines: Vec<RefundLineBody>,
}

/// 退货 / Refunds a checkout, whole or by line: stored value back to the buckets it came
/// from, points used given back, points earned taken back. A refund taking back points the
/// member already spent is refused (`points_already_spent`).
#[utoipa::path(post, path = "/api/v1/till/refunds", operation_id = "refund", tag = "till", security(("bearer" = [])),
    request_body = RefundBody,
    responses((status = 201, body = OrderBody),
        (status = 404, description = "unknown_order", body = crate::problem::ProblemDoc),
        (status = 409, description = "nothing_to_refund, points_already_spent, order_id_reused", body = crate::problem::ProblemDoc),
        (status = 422, description = "refund_over_line, unknown_line, not_refundable", body = crate::problem::ProblemDoc),
        (status = 503, description = "scheme_failed", body = crate::problem::ProblemDoc)))]
pub(crate) async fn refund(
    State(state): State<AppState>,
    caller: TillCaller,
    ApiJson(body): ApiJson<RefundBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor(&state, body.store.as_deref())?;
    let lines = body
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            Ok(RefundLine {
                line: l.line,
                quantity_milli: u32::try_from(units(
                    &format!("lines[{i}].quantity"),
                    &l.quantity,
                    3,
                    u64::from(tongka_domain::QUANTITY_MILLI_MAX),
                )?)
                .unwrap_or(u32::MAX),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let request = RefundRequest {
        order: body.order.clone(),
        original: body.original.clone(),
        lines,
    };
    let answer = state
        .till
        .refund(&actor, &*state.scheme, &request, UnixMillis::now())
        .await;
    receipt(answer)
}

/// 查订单 / A till order by the POS's id: the receipt, with what refunds returned since.
#[utoipa::path(get, path = "/api/v1/till/orders/{order}", operation_id = "order", tag = "till", security(("bearer" = [])),
    params(("order" = String, Path)),
    responses((status = 200, body = OrderBody),
        (status = 404, description = "unknown_order", body = crate::problem::ProblemDoc)))]
pub(crate) async fn order(
    State(state): State<AppState>,
    caller: TillCaller,
    Path(id): Path<String>,
) -> Result<Json<OrderBody>, ApiError> {
    let merchant = match &caller {
        TillCaller::Terminal(_) => state.directory.first_merchant(),
        TillCaller::Staff(staff) => staff.merchant,
    };
    let order = state
        .till
        .order(merchant, &id)
        .map_err(|e| internal(&e))?
        .ok_or_else(|| refused(TillError::UnknownOrder))?;
    // Staff see orders of the stores they cover; a terminal those of its own store.
    let visible = match &caller {
        TillCaller::Terminal(terminal) => terminal.store == order.store,
        TillCaller::Staff(staff) => staff.scope.covers(order.store),
    };
    if !visible {
        return Err(refused(TillError::UnknownOrder));
    }
    Ok(Json(OrderBody::from(&order)))
}

/// 开卡 / Signs a member up at the till, with a first card if given, and gives the loyalty
/// scheme's welcome (`member-joined`: points, growth, the referrer's reward, a tier). With
/// `order`, a card fee (`card_fee`, 工本费) and a first top-up (`top_up`, with the scheme's
/// `top-up` offer) are taken in the same ledger batch; the receipt is
/// `GET /api/v1/till/orders/{order}`, and a retry with the same `order` answers the same member.
/// A first top-up above the store's amount needs a manager's `approval`, as a top-up does.
/// The scheme is asked first: if it fails, no member is made (503 `scheme_failed`). A terminal signs up for its
/// store (home store its own, with a cashier's rights: no tier choice); staff name their store as
/// `home_store`.
#[utoipa::path(post, path = "/api/v1/till/members", operation_id = "open_card", tag = "till", security(("bearer" = [])),
    request_body = CreateMember,
    responses((status = 201, body = MemberBody),
        (status = 403, description = "forbidden, approval_needed, approval_refused", body = crate::problem::ProblemDoc),
        (status = 409, description = "phone_taken, card_taken", body = crate::problem::ProblemDoc),
        (status = 422, body = crate::problem::ProblemDoc),
        (status = 503, description = "scheme_failed", body = crate::problem::ProblemDoc)))]
pub(crate) async fn open_card(
    State(state): State<AppState>,
    caller: TillCaller,
    ApiJson(request): ApiJson<CreateMember>,
) -> Result<Response, ApiError> {
    let actor = caller.actor(&state, request.home_store.as_deref())?;
    let mut opening = opening(&request)?;
    if let Some(opening) = &mut opening
        && opening.top_up_fen > 0
    {
        opening.approved_by = approver(&state, &caller, &actor, request.approval.as_ref())?;
    }
    let new = crate::members::new_member(request)?;
    let signer = match &caller {
        TillCaller::Terminal(terminal) => tongka_domain::Signer::Terminal(terminal.id),
        TillCaller::Staff(staff) => tongka_domain::Signer::Staff(staff),
    };
    let answer = state
        .till
        .open_card(
            &actor,
            signer,
            &*state.scheme,
            &new,
            opening.as_ref(),
            UnixMillis::now(),
        )
        .await
        .map_err(|e| internal(&e))?;
    Ok(match answer {
        Ok((view, _)) => {
            tracing::info!(member = %view.member.id, phone = ?view.member.profile.phone, "member signed up at the till");
            (StatusCode::CREATED, Json(MemberBody::from(&view))).into_response()
        }
        Err(error) => refusal(error),
    })
}

/// The staff member a till request credits with commission, by id.
fn seller(text: Option<&str>, field: &str) -> Result<Option<tongka_domain::StaffId>, ApiError> {
    text.map(|text| {
        parse_id(text)
            .map(tongka_domain::StaffId)
            .ok_or_else(|| unknown_seller(field))
    })
    .transpose()
}

fn unknown_seller(field: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_seller",
        Text::new(
            "提成员工不存在、已停用或不在本店",
            "The seller is not an active staff member of this store",
        ),
    )
    .with_field(field)
}

/// A till operation's answer: 201 with the receipt, or the refusal as a problem.
fn receipt(
    answer: Result<Result<Order, TillError>, tongka_domain::DomainError>,
) -> Result<Response, ApiError> {
    Ok(match answer.map_err(|e| internal(&e))? {
        Ok(order) => (StatusCode::CREATED, Json(OrderBody::from(&order))).into_response(),
        Err(error) => refusal(error),
    })
}

/// The money of an opening, if the request takes any or names the opening.
fn opening(request: &crate::members::CreateMember) -> Result<Option<Opening>, ApiError> {
    let card_fee_fen = request
        .card_fee
        .as_deref()
        .map(|text| fen("card_fee", text))
        .transpose()?
        .unwrap_or(0);
    let top_up_fen = request
        .top_up
        .as_deref()
        .map(|text| fen("top_up", text))
        .transpose()?
        .unwrap_or(0);
    let tenders = tenders(&request.tenders)?;
    let Some(order) = request.order.clone() else {
        if card_fee_fen > 0 || top_up_fen > 0 || !tenders.is_empty() || request.seller.is_some() {
            return Err(ApiError::invalid_field(
                "order",
                Text::new(
                    "收取工本费、首充或指定提成员工时须给出订单号，重试才不会重复开卡",
                    "required when a card fee, a first top-up or a seller is given, so a retry does not open a second card",
                ),
            ));
        }
        return Ok(None);
    };
    Ok(Some(Opening {
        order,
        card_fee_fen,
        top_up_fen,
        tenders,
        seller: seller(request.seller.as_deref(), "seller")?,
        approved_by: None,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FindParams {
    /// A card number as scanned.
    card: Option<String>,
    /// A mobile number as typed.
    phone: Option<String>,
}

/// 查会员 / The member a scanned card or a typed phone number belongs to: what the till shows
/// before an order (name, tier, balances, and the points that expire at the end of the year —
/// 积分到期提醒 — for the cashier to tell and the receipt to print). A lost card answers 409
/// `card_not_active`.
#[utoipa::path(get, path = "/api/v1/till/members", operation_id = "find_member", tag = "till", security(("bearer" = [])),
    params(FindParams),
    responses((status = 200, body = MemberBody),
        (status = 404, description = "unknown_member, unknown_card", body = crate::problem::ProblemDoc),
        (status = 409, description = "card_not_active, member_not_live", body = crate::problem::ProblemDoc),
        (status = 422, body = crate::problem::ProblemDoc)))]
pub(crate) async fn find_member(
    State(state): State<AppState>,
    caller: TillCaller,
    Query(params): Query<FindParams>,
) -> Result<Json<MemberBody>, ApiError> {
    let merchant = match &caller {
        TillCaller::Terminal(_) => state.directory.first_merchant(),
        TillCaller::Staff(staff) => staff.merchant,
    };
    let mut view = find_by(&state, merchant, &params)?;
    if state.till.busy(view.member.id) {
        // A sale of hers was just answered and its record is being written: read her once it
        // is, with its tier and statistics.
        state.till.settled(view.member.id).await;
        view = find_by(&state, merchant, &params)?;
    }
    if !view.member.status.is_live() {
        return Err(crate::members::refused(MemberError::NotLive));
    }
    let mut body = MemberBody::from(&view);
    body.points_expiring = state
        .till
        .expiring_of(view.member.id, view.balances.points, UnixMillis::now())
        .map_err(|e| internal(&e))?
        .map(|expiring| PointsExpiringBody::from(&expiring));
    Ok(Json(body))
}

/// The member a till asks for, by card (which must be active) or phone.
fn find_by(
    state: &AppState,
    merchant: tongka_domain::MerchantId,
    params: &FindParams,
) -> Result<tongka_domain::MemberView, ApiError> {
    Ok(match (params.card.as_deref(), params.phone.as_deref()) {
        (Some(number), None) => {
            let (view, card) = state
                .members
                .find_card_of(merchant, number)
                .map_err(|e| internal(&e))?
                .map_err(crate::members::refused)?;
            if card.status != tongka_domain::CardStatus::Active {
                return Err(crate::members::refused(MemberError::CardNotActive(
                    card.status.as_str(),
                )));
            }
            view
        }
        (None, Some(phone)) => state
            .members
            .find_phone_of(merchant, phone)
            .map_err(|e| internal(&e))?
            .map_err(crate::members::refused)?,
        _ => {
            return Err(ApiError::invalid_field(
                "card",
                Text::new("须给出 card 或 phone 之一", "give one of card or phone"),
            ));
        }
    })
}

/// Layer for the quote: sent as a POST (it carries an order) but writes nothing, so neither the
/// audit log nor an idempotency key has anything to keep for it.
pub(crate) async fn writes_nothing(mut response: Response) -> Response {
    response.extensions_mut().insert(Keeping::Nothing);
    response
}

/// Layer for checkouts, top-ups and refunds: idempotent by the POS's own order id, whose record
/// answers a retry with the same receipt, so no second copy of the answer is kept for an
/// `Idempotency-Key` (one durable write fewer per sale).
pub(crate) async fn keyed_by_order(mut response: Response) -> Response {
    response.extensions_mut().insert(Keeping::OwnKey);
    response
}
