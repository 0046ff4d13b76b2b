//! 礼品 / The gift catalogue: head office adds, restocks, reprices and withdraws gifts; staff
//! see it. The till redeems gifts at `POST /api/v1/till/gift-redemptions`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tongka_domain::{Gift, GiftEntry, GiftError, GiftId, UnixMillis};

use crate::AppState;
use crate::auth::{CurrentStaff, internal, parse_id, rfc3339};
use crate::json::ApiJson;
use crate::problem::ApiError;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GiftBody {
    id: String,
    name: String,
    /// Points for one.
    points: String,
    stock: u64,
    /// Offered at the till.
    active: bool,
    created_at: String,
}

impl From<&Gift> for GiftBody {
    fn from(gift: &Gift) -> GiftBody {
        GiftBody {
            id: gift.id.to_string(),
            name: gift.name.clone(),
            points: gift.points.to_string(),
            stock: gift.stock,
            active: gift.active,
            created_at: rfc3339(gift.created_at),
        }
    }
}

/// A gift to add (`name` and `points` required), or what to change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GiftRequest {
    name: Option<String>,
    /// Whole points for one, `"500"`.
    points: Option<String>,
    stock: Option<u64>,
    active: Option<bool>,
}

impl GiftRequest {
    fn entry(self) -> Result<GiftEntry, ApiError> {
        let points = self
            .points
            .map(|text| crate::till::units("points", &text, 0, tongka_domain::GIFT_POINTS_MAX))
            .transpose()?;
        Ok(GiftEntry {
            name: self.name,
            points,
            stock: self.stock,
            active: self.active,
        })
    }
}

fn refused(error: GiftError) -> ApiError {
    match error {
        GiftError::Field(field) => crate::members::field_error(&field),
        GiftError::Forbidden => ApiError::forbidden(),
        GiftError::Unknown => ApiError::not_found(),
    }
}

/// 礼品目录 / The merchant's gifts, in the order they were added, withdrawn ones too.
#[utoipa::path(get, path = "/api/v1/gifts", operation_id = "list_gifts", tag = "gifts", security(("bearer" = [])),
    responses((status = 200, body = Vec<GiftBody>)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    actor: CurrentStaff,
) -> Result<Json<Vec<GiftBody>>, ApiError> {
    let gifts = state
        .directory
        .gifts(actor.staff.merchant)
        .map_err(|e| internal(&e))?;
    Ok(Json(gifts.iter().map(GiftBody::from).collect()))
}

/// 新增礼品 / Adds a gift to the catalogue (head office).
#[utoipa::path(post, path = "/api/v1/gifts", operation_id = "add_gift", tag = "gifts", security(("bearer" = [])),
    request_body = GiftRequest,
    responses((status = 201, body = GiftBody),
        (status = 403, body = crate::problem::ProblemDoc),
        (status = 422, description = "invalid_field", body = crate::problem::ProblemDoc)))]
pub(crate) async fn add(
    State(state): State<AppState>,
    actor: CurrentStaff,
    ApiJson(request): ApiJson<GiftRequest>,
) -> Result<(StatusCode, Json<GiftBody>), ApiError> {
    let entry = request.entry()?;
    let gift = state
        .directory
        .add_gift(&actor.staff, &entry, UnixMillis::now())
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    Ok((StatusCode::CREATED, Json(GiftBody::from(&gift))))
}

/// 修改礼品 / Restocks, reprices, renames or withdraws a gift (head office).
#[utoipa::path(patch, path = "/api/v1/gifts/{id}", operation_id = "change_gift", tag = "gifts", security(("bearer" = [])),
    params(("id" = String, Path, description = "32 hex digits")),
    request_body = GiftRequest,
    responses((status = 200, body = GiftBody),
        (status = 403, body = crate::problem::ProblemDoc),
        (status = 404, body = crate::problem::ProblemDoc),
        (status = 422, description = "invalid_field", body = crate::problem::ProblemDoc)))]
pub(crate) async fn change(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<GiftRequest>,
) -> Result<Json<GiftBody>, ApiError> {
    let id = parse_id(&id).map(GiftId).ok_or_else(ApiError::not_found)?;
    let entry = request.entry()?;
    let gift = state
        .directory
        .change_gift(&actor.staff, id, &entry)
        .map_err(|e| internal(&e))?
        .map_err(refused)?;
    Ok(Json(GiftBody::from(&gift)))
}
