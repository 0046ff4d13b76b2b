//! Signing in and out, and knowing who is asking.
//!
//! `POST /api/v1/sessions` takes a username and password and answers a bearer token (for API use)
//! and sets the same token as an `HttpOnly; Secure; SameSite=Strict` cookie (for the console).
//! [`CurrentStaff`] accepts either on every other route.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tongka_domain::{
    AuthError, Directory, DomainError, LoginError, Scope, Staff, TERMINAL_TOKEN_PREFIX, Terminal,
    UnixMillis,
};

use crate::AppState;
use crate::json::ApiJson;
use crate::problem::{ApiError, Text};

pub const COOKIE_NAME: &str = "tongka_session";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StaffBody {
    id: String,
    username: String,
    display_name: String,
    role: &'static str,
    /// `"all"`, or the store ids.
    stores: StoresBody,
    /// The head-office department (id), if any.
    department: Option<String>,
    /// The merchant (id) they work for.
    merchant: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
enum StoresBody {
    All(&'static str),
    Some(Vec<String>),
}

impl From<&Staff> for StaffBody {
    fn from(staff: &Staff) -> StaffBody {
        StaffBody {
            id: staff.id.to_string(),
            username: staff.username.clone(),
            display_name: staff.display_name.clone(),
            role: staff.role.as_str(),
            department: staff.department.map(|d| d.to_string()),
            merchant: staff.merchant.to_string(),
            stores: match &staff.scope {
                Scope::AllStores => StoresBody::All("all"),
                Scope::Stores(stores) => {
                    StoresBody::Some(stores.iter().map(ToString::to_string).collect())
                }
            },
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionBody {
    token: String,
    expires_at: String,
    staff: StaffBody,
}

/// RFC 3339 in UTC, to the millisecond.
pub fn rfc3339(at: UnixMillis) -> String {
    let nanos = i128::from(at.0) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

pub(crate) fn internal(error: &impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "directory failure");
    ApiError::internal()
}

/// 登录 / Sign in: a bearer token, also set as a session cookie.
#[utoipa::path(post, path = "/api/v1/sessions", operation_id = "sign_in", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 201, body = SessionBody),
        (status = 401, description = "login_failed", body = crate::problem::ProblemDoc),
        (status = 429, description = "login_locked", body = crate::problem::ProblemDoc),
    ))]
pub(crate) async fn login(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let directory = Arc::clone(&state.directory);
    // Argon2 is deliberately slow: off the async workers.
    let outcome = tokio::task::spawn_blocking(move || {
        directory.login(&request.username, &request.password, UnixMillis::now())
    })
    .await
    .map_err(|error| internal(&error))?
    .map_err(|error| internal(&error))?;
    let session = match outcome {
        Ok(session) => session,
        Err(LoginError::WrongCredentials) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "login_failed",
                Text::new("用户名或密码错误", "Wrong username or password"),
            ));
        }
        Err(LoginError::LockedOut { until }) => {
            let until = rfc3339(until);
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "login_locked",
                Text::new(
                    "密码错误次数过多，账号已暂时锁定",
                    "Too many wrong passwords; the account is locked for a while",
                ),
            )
            .with_detail(Text::new(
                format!("锁定至 {until}"),
                format!("locked until {until}"),
            )));
        }
        Err(LoginError::Disabled) => return Err(disabled()),
        Err(_) => return Err(ApiError::internal()),
    };
    let max_age_s = session.expires_at.0.saturating_sub(UnixMillis::now().0) / 1000;
    let cookie = format!(
        "{COOKIE_NAME}={}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={max_age_s}",
        session.token
    );
    let body = SessionBody {
        expires_at: rfc3339(session.expires_at),
        staff: StaffBody::from(&session.staff),
        token: session.token,
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// 当前用户 / Who is signed in.
#[utoipa::path(get, path = "/api/v1/session", operation_id = "current_session", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = StaffBody), (status = 401, body = crate::problem::ProblemDoc)))]
pub(crate) async fn current(staff: CurrentStaff) -> Json<StaffBody> {
    Json(StaffBody::from(&staff.staff))
}

/// 退出登录 / Sign out: the token stops working.
#[utoipa::path(delete, path = "/api/v1/session", operation_id = "sign_out", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = crate::problem::ProblemDoc)))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    staff: CurrentStaff,
) -> Result<Response, ApiError> {
    state
        .directory
        .logout(&staff.token)
        .map_err(|error| internal(&error))?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "tongka_session=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0",
        ),
    );
    Ok(response)
}

fn disabled() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "account_disabled",
        Text::new("此账号已停用", "This account is disabled"),
    )
}

/// The signed-in staff member making the request, by bearer token or session cookie.
#[derive(Debug)]
pub struct CurrentStaff {
    pub staff: Staff,
    token: String,
}

/// Reads are GET, HEAD and OPTIONS; every other method writes.
/// Ids travel as 32 hex digits; anything else names nothing.
pub(crate) fn parse_id(text: &str) -> Option<u128> {
    (text.len() == 32).then(|| u128::from_str_radix(text, 16).ok())?
}

/// Reads are GET, HEAD and OPTIONS; every other method writes.
pub(crate) fn is_write(method: &axum::http::Method) -> bool {
    use axum::http::Method;
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Who a request's token names. Looked up once per request and kept in its extensions: the
/// audit and idempotency layers and the route's own extractor each need it, and each look is a
/// hash and a directory read.
#[derive(Clone, Debug)]
pub(crate) enum Bearer {
    Staff(Result<Staff, AuthError>),
    Terminal(Result<Terminal, AuthError>),
}

/// The request's [`Bearer`]: the one an earlier layer found, or looked up now; `None` without a
/// token. A failing directory is not kept, so whoever asks next tries again.
pub(crate) fn bearer(
    parts: &mut Parts,
    directory: &Directory,
    now: UnixMillis,
) -> Result<Option<Bearer>, DomainError> {
    if let Some(known) = parts.extensions.get::<Bearer>() {
        return Ok(Some(known.clone()));
    }
    let Some(token) = token(&parts.headers) else {
        return Ok(None);
    };
    // Session tokens are hex, so the prefix alone tells a terminal's from a session's.
    let found = if token.starts_with(TERMINAL_TOKEN_PREFIX) {
        Bearer::Terminal(directory.authenticate_terminal(&token)?)
    } else {
        Bearer::Staff(directory.authenticate(&token, now)?)
    };
    parts.extensions.insert(found.clone());
    Ok(Some(found))
}

/// The staff member behind a request's token, if it has a valid one: for layers that note who
/// asked but leave refusing to the route.
pub(crate) fn signed_in(
    parts: &mut Parts,
    directory: &Directory,
    now: UnixMillis,
) -> Option<Staff> {
    match bearer(parts, directory, now) {
        Ok(Some(Bearer::Staff(Ok(staff)))) => Some(staff),
        _ => None,
    }
}

pub(crate) fn token(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let cookie = || {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| pair.trim().strip_prefix("tongka_session="))
    };
    bearer.or_else(cookie).map(str::to_owned)
}

impl FromRequestParts<AppState> for CurrentStaff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = token(&parts.headers).ok_or_else(ApiError::unauthenticated)?;
        let found = match bearer(parts, &state.directory, UnixMillis::now())
            .map_err(|error| internal(&error))?
        {
            Some(Bearer::Staff(found)) => found,
            _ => Err(AuthError::Unknown),
        };
        match found {
            Ok(staff) => Ok(CurrentStaff { staff, token }),
            Err(AuthError::Expired) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "session_expired",
                Text::new(
                    "登录已过期，请重新登录",
                    "The session expired; sign in again",
                ),
            )),
            Err(AuthError::Disabled) => Err(disabled()),
            Err(_) => Err(ApiError::unauthenticated()),
        }
    }
}
