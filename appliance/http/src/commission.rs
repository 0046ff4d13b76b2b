//! 提成 / Staff commission: the merchant's rules (`/api/v1/commission-rules`) and the report of
//! what each staff member earned at each store (`/api/v1/reports/commission`).
//!
//! Amounts are decimal strings: a fixed amount in yuan (`"5.00"`), a rate in percent with at
//! most two places (`"1.5"` is 1.5%), rounded half up to the fen.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use tongka_domain::{
    COMMISSION_BASIS_POINTS_MAX, COMMISSION_RULES_MAX, CommissionAmount, CommissionError,
    CommissionEvent, CommissionRule, Earned, Role, TierId,
};

use crate::AppState;
use crate::auth::{CurrentStaff, internal, parse_id};
use crate::json::ApiJson;
use crate::members::{Money, field_error, money};
use crate::problem::{ApiError, Text};
use crate::reports::{PeriodQuery, signed_money};
use crate::till::units;

/// One rule: on an event, for members of a tier and staff of a role (either may be left out
/// to match any), a fixed amount or a rate. The most specific rule that matches applies: one
/// naming the tier before one that does not, then one naming the role.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommissionRuleBody {
    /// `card-opening` (开卡, on the card fee), `top-up` (充值, on the amount paid in) or `sale`
    /// (消费, on what the member pays after discounts).
    on: String,
    /// A tier id: only for members on that tier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tier: Option<String>,
    /// `cashier`, `store_manager` or `hq_admin`: only for staff of that role (员工级别).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    role: Option<String>,
    /// 固定额: yuan per event, `"5.00"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fixed: Option<String>,
    /// 按比例: percent of the amount, at most 2 places, at most `"100"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rate: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommissionRulesBody {
    /// At most 200; no two with the same `on`, `tier` and `role`. An empty list stops
    /// commission.
    rules: Vec<CommissionRuleBody>,
}

fn body(rules: &[CommissionRule]) -> CommissionRulesBody {
    CommissionRulesBody {
        rules: rules
            .iter()
            .map(|rule| {
                let (fixed, rate) = match rule.amount {
                    CommissionAmount::Fixed { fen } => (Some(money(u128::from(fen)).amount), None),
                    CommissionAmount::Rate { basis_points } => (
                        None,
                        Some(
                            rust_decimal::Decimal::new(i64::from(basis_points), 2)
                                .normalize()
                                .to_string(),
                        ),
                    ),
                };
                CommissionRuleBody {
                    on: rule.on.as_str().to_owned(),
                    tier: rule.tier.map(|tier| tier.to_string()),
                    role: rule.role.map(|role| role.as_str().to_owned()),
                    fixed,
                    rate,
                }
            })
            .collect(),
    }
}

fn rule(index: usize, rule: &CommissionRuleBody) -> Result<CommissionRule, ApiError> {
    let field = |name: &str| format!("rules[{index}].{name}");
    let choice = |name: &str, zh: &str, en: &str| {
        ApiError::invalid_field(&field(name), Text::new(zh.to_owned(), en.to_owned()))
    };
    let on = CommissionEvent::parse(&rule.on).ok_or_else(|| {
        choice(
            "on",
            "须为 card-opening、top-up 或 sale",
            "must be card-opening, top-up or sale",
        )
    })?;
    let tier = match &rule.tier {
        Some(text) => {
            Some(TierId(parse_id(text).ok_or_else(|| {
                choice("tier", "须为等级编号", "must be a tier id")
            })?))
        }
        None => None,
    };
    let role = match &rule.role {
        Some(text) => Some(
            Role::parse(text)
                .filter(|role| *role != Role::Department)
                .ok_or_else(|| {
                    choice(
                        "role",
                        "须为 cashier、store_manager 或 hq_admin",
                        "must be cashier, store_manager or hq_admin",
                    )
                })?,
        ),
        None => None,
    };
    let amount = match (&rule.fixed, &rule.rate) {
        (Some(text), None) => CommissionAmount::Fixed {
            fen: crate::till::fen(&field("fixed"), text)?,
        },
        (None, Some(text)) => CommissionAmount::Rate {
            basis_points: u32::try_from(units(
                &field("rate"),
                text,
                2,
                u64::from(COMMISSION_BASIS_POINTS_MAX),
            )?)
            .unwrap_or(COMMISSION_BASIS_POINTS_MAX),
        },
        _ => {
            return Err(choice(
                "fixed",
                "须给出 fixed（固定额）或 rate（比例）之一",
                "give one of fixed (an amount) or rate (a percentage)",
            ));
        }
    };
    Ok(CommissionRule {
        on,
        tier,
        role,
        amount,
    })
}

/// 提成方案 / The merchant's commission rules.
#[utoipa::path(get, path = "/api/v1/commission-rules", operation_id = "commission_rules", tag = "staff", security(("bearer" = [])),
    responses((status = 200, body = CommissionRulesBody)))]
pub(crate) async fn get_rules(
    State(state): State<AppState>,
    actor: CurrentStaff,
) -> Result<Json<CommissionRulesBody>, ApiError> {
    let rules = state
        .till
        .commission_rules(actor.staff.merchant)
        .map_err(|e| internal(&e))?;
    Ok(Json(body(&rules)))
}

/// 设置提成方案 / Replaces the merchant's commission rules (head office). They apply to every
/// opening, top-up and sale from then on; what was earned before stays.
#[utoipa::path(put, path = "/api/v1/commission-rules", operation_id = "set_commission_rules", tag = "staff", security(("bearer" = [])),
    request_body = CommissionRulesBody,
    responses((status = 200, body = CommissionRulesBody),
        (status = 403, description = "forbidden", body = crate::problem::ProblemDoc),
        (status = 422, description = "invalid_field (`rules[i].…`)", body = crate::problem::ProblemDoc)))]
pub(crate) async fn set_rules(
    State(state): State<AppState>,
    actor: CurrentStaff,
    ApiJson(request): ApiJson<CommissionRulesBody>,
) -> Result<Json<CommissionRulesBody>, ApiError> {
    if actor.staff.role != Role::HqAdmin {
        return Err(ApiError::forbidden());
    }
    if request.rules.len() > COMMISSION_RULES_MAX {
        return Err(ApiError::invalid_field(
            "rules",
            Text::new(
                format!("最多 {COMMISSION_RULES_MAX} 条"),
                format!("at most {COMMISSION_RULES_MAX} rules"),
            ),
        ));
    }
    let rules = request
        .rules
        .iter()
        .enumerate()
        .map(|(index, r)| rule(index, r))
        .collect::<Result<Vec<_>, _>>()?;
    match state
        .till
        .set_commission_rules(&actor.staff, rules)
        .map_err(|e| internal(&e))?
    {
        Ok(rules) => Ok(Json(body(&rules))),
        Err(CommissionError::Forbidden) => Err(ApiError::forbidden()),
        Err(CommissionError::Invalid(field)) => Err(field_error(&field)),
        Err(CommissionError::BadPeriod) => Err(internal(&"a period refused setting rules")),
    }
}

/// What a staff member (or a store, or the chain) earned over the period; signed, since a
/// refund can take back commission earned before the period.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EarnedBody {
    card_openings: Money,
    top_ups: Money,
    sales: Money,
    /// Taken back by refunds.
    reversed: Money,
    /// Earned less taken back.
    net: Money,
    /// Commission credits: a sale or a top-up is one, a card opened with a first top-up two.
    count: u64,
}

fn earned(earned: &Earned) -> EarnedBody {
    EarnedBody {
        card_openings: signed_money(earned.card_openings_fen),
        top_ups: signed_money(earned.top_ups_fen),
        sales: signed_money(earned.sales_fen),
        reversed: signed_money(earned.reversed_fen),
        net: signed_money(earned.net_fen()),
        count: earned.count,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StaffCommissionBody {
    staff: String,
    username: String,
    display_name: String,
    role: String,
    #[serde(flatten)]
    earned: EarnedBody,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StoreCommissionBody {
    store: String,
    code: String,
    name: String,
    /// Staff who earned or gave back commission here in the period, by username.
    staff: Vec<StaffCommissionBody>,
    total: EarnedBody,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CommissionReportBody {
    from: String,
    to: String,
    zone: &'static str,
    stores: Vec<StoreCommissionBody>,
    total: EarnedBody,
}

/// 提成报表 / What each staff member earned in commission at each store over a period. Head
/// office and departments see every store, a store manager theirs, a cashier their own line.
#[utoipa::path(get, path = "/api/v1/reports/commission", operation_id = "commission_report", tag = "reports", security(("bearer" = [])),
    params(PeriodQuery),
    responses(
        (status = 200, body = CommissionReportBody),
        (status = 422, description = "invalid_field (`from`, `to`), invalid_period", body = crate::problem::ProblemDoc),
    ))]
pub(crate) async fn report(
    State(state): State<AppState>,
    actor: CurrentStaff,
    query: Result<Query<PeriodQuery>, QueryRejection>,
) -> Result<Json<CommissionReportBody>, ApiError> {
    let (from, to) = crate::reports::days(query)?;
    let report = match state
        .members
        .commission_report(&actor.staff, from, to)
        .map_err(|e| internal(&e))?
    {
        Ok(report) => report,
        Err(CommissionError::BadPeriod) => return Err(crate::reports::invalid_period()),
        Err(CommissionError::Forbidden) => return Err(ApiError::forbidden()),
        Err(CommissionError::Invalid(field)) => return Err(field_error(&field)),
    };
    Ok(Json(CommissionReportBody {
        from: report.from.to_string(),
        to: report.to.to_string(),
        zone: "UTC+8",
        stores: report
            .stores
            .iter()
            .map(|line| StoreCommissionBody {
                store: line.store.id.to_string(),
                code: line.store.code.clone(),
                name: line.store.name.clone(),
                staff: line
                    .staff
                    .iter()
                    .map(|(staff, line)| StaffCommissionBody {
                        staff: staff.id.to_string(),
                        username: staff.username.clone(),
                        display_name: staff.display_name.clone(),
                        role: staff.role.as_str().to_owned(),
                        earned: earned(line),
                    })
                    .collect(),
                total: earned(&line.total),
            })
            .collect(),
        total: earned(&report.total),
    }))
}
