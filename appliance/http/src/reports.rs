//! Reports for head office: `GET /api/v1/reports/settlement` (月结算, inter-store settlement).
//! The commission report is `commission.rs`'s.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tongka_domain::{Date, Movements, SettlementError};

use crate::AppState;
use crate::auth::{CurrentStaff, internal};
use crate::members::Money;
use crate::problem::{ApiError, Text};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PeriodQuery {
    /// The first day, `YYYY-MM-DD` (China time).
    from: String,
    /// The last day, included; at most 366 days after `from`.
    to: String,
}

/// A report's days, each `YYYY-MM-DD`; a malformed query or day is a 422 naming it.
pub(crate) fn days(
    query: Result<Query<PeriodQuery>, QueryRejection>,
) -> Result<(Date, Date), ApiError> {
    let invalid = |field: &str| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Text::new("日期须为 YYYY-MM-DD", "A day is YYYY-MM-DD"),
        )
        .with_field(field)
    };
    let Query(query) = query.map_err(|_| invalid("query"))?;
    let from = Date::parse(&query.from).ok_or_else(|| invalid("from"))?;
    let to = Date::parse(&query.to).ok_or_else(|| invalid("to"))?;
    Ok((from, to))
}

/// What a store (or the whole chain) moved over the period. Money is signed: refunds can exceed
/// sales within a period.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MovementsBody {
    /// 售出储值: principal members paid in at this store.
    stored_value_sold: Money,
    /// 赠送储值: bonus given with those top-ups.
    bonus_given: Money,
    /// 核销储值: principal spent at this store.
    stored_value_redeemed: Money,
    /// Bonus spent at this store.
    bonus_redeemed: Money,
    /// 应收(+)/应付(−): principal redeemed minus principal sold. Positive: head office pays the
    /// store; negative: the store pays head office.
    net: Money,
    /// Points this store's sales earned members.
    points_issued: String,
    /// Points members paid with at this store.
    points_redeemed: String,
    growth_issued: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StoreSettlementBody {
    store: String,
    code: String,
    name: String,
    #[serde(flatten)]
    movements: MovementsBody,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SettlementBody {
    from: String,
    to: String,
    /// Days run midnight to midnight China Standard Time (UTC+8).
    zone: &'static str,
    /// Every store, by code.
    stores: Vec<StoreSettlementBody>,
    /// The chain: `net` is how much the stored value members hold shrank (+) or grew (−).
    total: MovementsBody,
}

pub(crate) fn signed_money(fen: i128) -> Money {
    let text = crate::members::money(fen.unsigned_abs());
    if fen < 0 { text.negated() } else { text }
}

fn body(movements: &Movements) -> MovementsBody {
    MovementsBody {
        stored_value_sold: signed_money(movements.stored_value_sold_fen),
        bonus_given: signed_money(movements.bonus_given_fen),
        stored_value_redeemed: signed_money(movements.stored_value_redeemed_fen),
        bonus_redeemed: signed_money(movements.bonus_redeemed_fen),
        net: signed_money(movements.net_fen()),
        points_issued: movements.points_issued.to_string(),
        points_redeemed: movements.points_redeemed.to_string(),
        growth_issued: movements.growth_issued.to_string(),
    }
}

/// A period that runs backwards or is longer than a report covers.
pub(crate) fn invalid_period() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_period",
        Text::new(
            "报表期须从早到晚，且不超过 366 天",
            "The period must run forwards and cover at most 366 days",
        ),
    )
    .with_field("to")
}

/// 月结算 / What each store sold and redeemed of members' stored value over a period, and what
/// head office owes it or it owes head office (the clearing house between stores); bonus, points
/// and growth per store for sharing their cost. Head office only.
#[utoipa::path(get, path = "/api/v1/reports/settlement", operation_id = "settlement_report", tag = "reports", security(("bearer" = [])),
    params(PeriodQuery),
    responses(
        (status = 200, body = SettlementBody),
        (status = 403, description = "forbidden", body = crate::problem::ProblemDoc),
        (status = 422, description = "invalid_field (`from`, `to`), invalid_period", body = crate::problem::ProblemDoc),
    ))]
pub(crate) async fn settlement(
    State(state): State<AppState>,
    actor: CurrentStaff,
    query: Result<Query<PeriodQuery>, QueryRejection>,
) -> Result<Json<SettlementBody>, ApiError> {
    let (from, to) = days(query)?;
    let report = match state
        .members
        .settlement(&actor.staff, from, to)
        .map_err(|error| internal(&error))?
    {
        Ok(report) => report,
        Err(SettlementError::Forbidden) => return Err(ApiError::forbidden()),
        Err(SettlementError::BadPeriod) => return Err(invalid_period()),
    };
    Ok(Json(SettlementBody {
        from: report.from.to_string(),
        to: report.to.to_string(),
        zone: "UTC+8",
        stores: report
            .stores
            .iter()
            .map(|(store, movements)| StoreSettlementBody {
                store: store.id.to_string(),
                code: store.code.clone(),
                name: store.name.clone(),
                movements: body(movements),
            })
            .collect(),
        total: body(&report.total),
    }))
}
