//! The audit log at the edge: every write request is recorded (who, from which session and
//! address, what, and the answer's status) whether it succeeded or not; head office reads it at
//! `GET /api/v1/audit`. Bodies are never recorded: they hold phone numbers and passwords.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tongka_domain::{AuditCursor, AuditEntry, AuditError, UnixMillis};

use crate::AppState;
use crate::auth::{CurrentStaff, internal, is_write, rfc3339, signed_in, token};
use crate::idempotency::Keeping;
use crate::problem::{ApiError, Text};
use crate::tls::Remote;

pub(crate) async fn record(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !is_write(request.method()) {
        return next.run(request).await;
    }
    let now = UnixMillis::now();
    let (mut parts, body) = request.into_parts();
    let actor = signed_in(&mut parts, &state.directory, now).map(|staff| staff.id);
    let request = Request::from_parts(parts, body);
    let token = token(request.headers());
    // A reference that tells sessions apart without being usable as one.
    let session = token.map(|token| {
        Sha256::digest(token.as_bytes())
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    });
    let remote = request
        .extensions()
        .get::<ConnectInfo<Remote>>()
        .map(|info| info.0.0.ip().to_string());
    let action = format!("{} {}", request.method(), request.uri().path());
    let response = next.run(request).await;
    if response.extensions().get::<Keeping>() == Some(&Keeping::Nothing) {
        return response;
    }
    let entry = AuditEntry {
        at: now,
        actor,
        session,
        action,
        status: response.status().as_u16(),
        remote,
    };
    let action = entry.action.clone();
    // A till write's order record is its durable trace (who, which terminal, when), committed
    // before this answer: its entry is queued now and lands with the next group, synced with a
    // later one, without a wait for the cashier. Every other write waits for its entry, synced.
    let till_write = response.extensions().get::<Keeping>() == Some(&Keeping::OwnKey);
    let written = state.directory.audit_queued(&entry, !till_write);
    let written = async move {
        let result = match written {
            Ok(durable) => durable.await,
            Err(error) => Err(error),
        };
        if let Err(error) = result {
            tracing::error!(%error, %action, "cannot write the audit log");
        }
    };
    if till_write {
        tokio::spawn(written);
    } else {
        written.await;
    }
    response
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// The previous page's `next`.
    before: Option<String>,
    /// 1 to 200; 50 if not given.
    limit: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntryBody {
    at: String,
    /// Staff id, if signed in.
    actor: Option<String>,
    session: Option<String>,
    action: String,
    status: u16,
    remote: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    entries: Vec<AuditEntryBody>,
    /// Pass as `before` for the next (older) page; absent on the last.
    next: Option<String>,
}

const PAGE_MAX: usize = 200;

/// 操作日志 / The audit log, newest first (head office only).
#[utoipa::path(get, path = "/api/v1/audit", operation_id = "read_audit", tag = "audit", security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, body = AuditPage),
        (status = 403, description = "forbidden", body = crate::problem::ProblemDoc),
        (status = 422, description = "invalid_field", body = crate::problem::ProblemDoc),
    ))]
pub(crate) async fn read(
    State(state): State<AppState>,
    actor: CurrentStaff,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let invalid = |field: &str| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Text::new("查询参数不正确", "A query parameter is invalid"),
        )
        .with_field(field)
    };
    let Query(query) = query.map_err(|_| invalid("query"))?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=PAGE_MAX).contains(&limit) {
        return Err(invalid("limit"));
    }
    let before = match query.before {
        Some(text) => Some(AuditCursor(text.parse().map_err(|_| invalid("before"))?)),
        None => None,
    };
    let page = state
        .directory
        .audit_log(&actor.staff, before, limit)
        .map_err(|error| internal(&error))?;
    let page = match page {
        Ok(page) => page,
        Err(AuditError::Forbidden) => return Err(ApiError::forbidden()),
        Err(_) => return Err(ApiError::internal()),
    };
    Ok(Json(AuditPage {
        entries: page
            .entries
            .into_iter()
            .map(|entry| AuditEntryBody {
                at: rfc3339(entry.at),
                actor: entry.actor.map(|id| id.to_string()),
                session: entry.session,
                action: entry.action,
                status: entry.status,
                remote: entry.remote,
            })
            .collect(),
        next: page.next.map(|cursor| cursor.0.to_string()),
    }))
}
