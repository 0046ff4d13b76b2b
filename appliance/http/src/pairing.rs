//! Pairing a POS with its store: a manager opens a window and reads a short code off the screen;
//! the POS, connected over TLS with the fingerprint it found by discovery pinned, presents the
//! code and gets its terminal token. `/api/v1/stores/{id}/pairings`, `/api/v1/pairings`.
//!
//! Codes are eight digits, single-use, and expire in minutes. Guessing is bounded: after
//! `failures_max` refused codes from one address within the lockout period, that address is
//! refused (even with a right code) until the period ends; twenty times that from everywhere
//! locks pairing for everyone, so many addresses cannot share the guessing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tongka_domain::{PairingError, StoreId, TerminalError, UnixMillis};

use crate::AppState;
use crate::auth::{CurrentStaff, internal, parse_id, rfc3339};
use crate::json::ApiJson;
use crate::problem::{ApiError, Text};
use crate::terminals::{MintedTerminal, TerminalBody};
use crate::tls::Remote;

/// How pairing windows and guessing are bounded.
#[derive(Clone, Copy, Debug)]
pub struct PairingOptions {
    pub code_ttl: Duration,
    pub failures_max: u32,
    pub lockout: Duration,
}

impl Default for PairingOptions {
    fn default() -> Self {
        PairingOptions {
            code_ttl: Duration::from_secs(600),
            failures_max: 5,
            lockout: Duration::from_secs(900),
        }
    }
}

/// Refused codes, by address and in all, within the current lockout period.
#[derive(Debug)]
pub struct PairingGuard {
    options: PairingOptions,
    failures: Mutex<Failures>,
}

#[derive(Debug, Default)]
struct Failures {
    by_address: HashMap<Option<IpAddr>, (u32, Instant)>,
    all: (u32, Option<Instant>),
}

/// Everyone's failures together may be this many times one address's.
const GLOBAL_FACTOR: u32 = 20;

impl PairingGuard {
    pub fn new(options: PairingOptions) -> PairingGuard {
        PairingGuard {
            options,
            failures: Mutex::new(Failures::default()),
        }
    }

    /// How long `address` must still wait, if it is locked out.
    fn locked(&self, address: Option<IpAddr>) -> Option<Duration> {
        let failures = self.failures.lock().ok()?;
        let now = Instant::now();
        let left = |since: Instant| self.options.lockout.checked_sub(now.duration_since(since));
        if let (count, Some(since)) = failures.all
            && count >= self.options.failures_max.saturating_mul(GLOBAL_FACTOR)
            && let Some(wait) = left(since)
        {
            return Some(wait);
        }
        let (count, since) = failures.by_address.get(&address)?;
        (*count >= self.options.failures_max)
            .then(|| left(*since))
            .flatten()
    }

    fn failed(&self, address: Option<IpAddr>) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        let (now, lockout) = (Instant::now(), self.options.lockout);
        failures
            .by_address
            .retain(|_, (_, since)| now.duration_since(*since) < lockout);
        let entry = failures.by_address.entry(address).or_insert((0, now));
        entry.0 += 1;
        match failures.all {
            (count, Some(since)) if now.duration_since(since) < lockout => {
                failures.all = (count + 1, Some(since));
            }
            _ => failures.all = (1, Some(now)),
        }
    }
}

/// The caller's address, where the connection gave one.
#[derive(Debug)]
pub struct Caller(Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Caller(
            parts
                .extensions
                .get::<ConnectInfo<Remote>>()
                .map(|info| info.0.0.ip()),
        ))
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PairingBody {
    /// Eight digits, for the POS to present. Shown once.
    code: String,
    store: String,
    expires_at: String,
}

/// 开启配对 / Open a pairing window for a store: a code one POS may exchange for its terminal
/// token before it expires (head office, or the store's manager).
#[utoipa::path(post, path = "/api/v1/stores/{id}/pairings", operation_id = "open_pairing", tag = "terminals", security(("bearer" = [])),
    params(("id" = String, Path, description = "the store: 32 hex digits")),
    responses(
        (status = 201, body = PairingBody),
        (status = 403, description = "forbidden", body = crate::problem::ProblemDoc),
        (status = 422, description = "unknown_store", body = crate::problem::ProblemDoc),
    ))]
pub(crate) async fn open(
    State(state): State<AppState>,
    actor: CurrentStaff,
    Path(store): Path<String>,
) -> Result<(StatusCode, Json<PairingBody>), ApiError> {
    let store = parse_id(&store)
        .map(StoreId)
        .ok_or_else(|| ApiError::unknown_store("store"))?;
    let ttl_ms = u64::try_from(state.pairing.options.code_ttl.as_millis()).unwrap_or(u64::MAX);
    let opened = state
        .directory
        .open_pairing(&actor.staff, store, ttl_ms, UnixMillis::now())
        .map_err(|error| internal(&error))?;
    match opened {
        Ok(pairing) => {
            tracing::info!(store = %pairing.store, staff = %actor.staff.id, "pairing window opened");
            Ok((
                StatusCode::CREATED,
                Json(PairingBody {
                    code: pairing.code,
                    store: pairing.store.to_string(),
                    expires_at: rfc3339(pairing.expires_at),
                }),
            ))
        }
        Err(TerminalError::Forbidden) => Err(ApiError::forbidden()),
        Err(_) => Err(ApiError::unknown_store("store")),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PairRequest {
    /// The code the manager read off the screen.
    code: String,
    /// What the store calls this POS, e.g. `收银台 1`: 1 to 32 characters.
    name: String,
}

fn locked_out(wait: Duration) -> Response {
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "pairing_locked",
        Text::new(
            "配对码错误次数过多，请稍后再试",
            "Too many wrong pairing codes; try again later",
        ),
    )
    .into_response();
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// 终端配对 / A POS presents a pairing code and gets its terminal token, bound to the code's store.
/// No sign-in: the code is the credential.
#[utoipa::path(post, path = "/api/v1/pairings", operation_id = "pair", tag = "terminals",
    request_body = PairRequest,
    responses(
        (status = 201, body = MintedTerminal),
        (status = 409, description = "pairing_code_used", body = crate::problem::ProblemDoc),
        (status = 410, description = "pairing_code_expired", body = crate::problem::ProblemDoc),
        (status = 422, description = "pairing_code_invalid, invalid_field", body = crate::problem::ProblemDoc),
        (status = 429, description = "pairing_locked, with Retry-After", body = crate::problem::ProblemDoc),
    ))]
pub(crate) async fn pair(
    State(state): State<AppState>,
    Caller(address): Caller,
    ApiJson(request): ApiJson<PairRequest>,
) -> Result<Response, ApiError> {
    if let Some(wait) = state.pairing.locked(address) {
        return Ok(locked_out(wait));
    }
    let paired = state
        .directory
        .pair(&request.code, &request.name, UnixMillis::now())
        .map_err(|error| internal(&error))?;
    let refusal = match paired {
        Ok((terminal, token)) => {
            tracing::info!(terminal = %terminal.id, store = %terminal.store, "terminal paired");
            let body = MintedTerminal::new(TerminalBody::from(&terminal), token);
            return Ok((StatusCode::CREATED, Json(body)).into_response());
        }
        Err(PairingError::Name) => {
            return Err(ApiError::invalid_field(
                "name",
                Text::new(
                    "1 至 32 个字符，不含控制字符",
                    "1 to 32 characters, no control characters",
                ),
            ));
        }
        Err(PairingError::Used) => ApiError::new(
            StatusCode::CONFLICT,
            "pairing_code_used",
            Text::new("此配对码已使用过", "This pairing code was used already"),
        ),
        Err(PairingError::Expired) => ApiError::new(
            StatusCode::GONE,
            "pairing_code_expired",
            Text::new(
                "配对码已过期，请重新开启配对",
                "This pairing code has expired; open a new one",
            ),
        ),
        Err(PairingError::Unknown) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "pairing_code_invalid",
            Text::new("配对码不正确", "That pairing code is not right"),
        )
        .with_field("code"),
    };
    state.pairing.failed(address);
    tracing::warn!(address = ?address, "pairing code refused");
    Err(refusal)
}
