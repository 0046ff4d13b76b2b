//! `POST /api/v1/daily-run`: what the box does every day at 03:00 China time and when it starts
//! — the scheme's daily tick, the tier review, the monthly bonus parts due — run now by head
//! office. Each is safe to run again: a second run the same day finds nothing left to do.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use tongka_domain::{Role, UnixMillis};

use crate::AppState;
use crate::auth::{CurrentStaff, internal};
use crate::members::{Money, money};
use crate::problem::ApiError;

/// 每日结算: the loyalty scheme asked about each member.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DailyTickBody {
    /// False when no plugin is routed to `daily-tick`.
    enabled: bool,
    asked: u64,
    /// Members whose answer changed something (an order `tick-YYYYMMDD-{member}` each).
    changed: u64,
    /// Members the scheme failed for: asked again on the next run.
    failed: u64,
    /// The first failures, `member: why`.
    failures: Vec<String>,
}

/// 积分清零: the year's expiry, run once, on the first day of a year the box runs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PointsExpiryBody {
    /// False when points never expire (`till.points_expiry_years` = 0).
    enabled: bool,
    /// The year whose expiry this run did; none if done already.
    year: Option<u16>,
    members: u64,
    points: String,
    /// Members to try again tomorrow.
    failed: u64,
}

/// 等级评定.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TierReviewBody {
    /// False when tiers are kept for good (`till.tier_review_days` = 0).
    enabled: bool,
    /// Members whose evaluation period had ended.
    due: u64,
    kept: u64,
    /// Moved down, each with `review` in their tier history.
    moved_down: u64,
}

/// 赠送按月返还.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BonusPayoutBody {
    /// Plans that had a part due.
    plans: u64,
    parts: u64,
    paid: Money,
    /// Plans that ended: paid in full, or the member erased.
    finished: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DailyRunBody {
    daily_tick: DailyTickBody,
    points_expiry: PointsExpiryBody,
    tier_review: TierReviewBody,
    bonus_payout: BonusPayoutBody,
}

/// 每日任务 / Runs today's daily jobs now (head office): the loyalty scheme's daily tick for
/// every member, the year's points expiry, the tier review, the monthly bonus parts due. The
/// box runs them by itself every day at 03:00 China time and when it starts.
#[utoipa::path(post, path = "/api/v1/daily-run", operation_id = "daily_run", tag = "members", security(("bearer" = [])),
    responses((status = 200, body = DailyRunBody), (status = 403, body = crate::problem::ProblemDoc)))]
pub(crate) async fn run(
    State(state): State<AppState>,
    actor: CurrentStaff,
) -> Result<Json<DailyRunBody>, ApiError> {
    if actor.staff.role != Role::HqAdmin {
        return Err(ApiError::forbidden());
    }
    let run = state
        .till
        .daily_run(actor.staff.merchant, &*state.scheme, UnixMillis::now())
        .await
        .map_err(|e| internal(&e))?;
    Ok(Json(DailyRunBody {
        daily_tick: DailyTickBody {
            enabled: run.tick.enabled,
            asked: run.tick.asked,
            changed: run.tick.changed,
            failed: run.tick.failed,
            failures: run.tick.failures,
        },
        points_expiry: PointsExpiryBody {
            enabled: run.expiry.enabled,
            year: run.expiry.year,
            members: run.expiry.members,
            points: run.expiry.points.to_string(),
            failed: run.expiry.failed,
        },
        tier_review: TierReviewBody {
            enabled: run.review.enabled,
            due: run.review.due,
            kept: run.review.kept,
            moved_down: run.review.moved_down,
        },
        bonus_payout: BonusPayoutBody {
            plans: run.payout.plans,
            parts: run.payout.parts,
            paid: money(u128::from(run.payout.paid_fen)),
            finished: run.payout.finished,
        },
    }))
}
