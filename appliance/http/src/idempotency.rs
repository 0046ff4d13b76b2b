//! `Idempotency-Key` on every write: a retry with the same key and the same request gets the first
//! answer again, without running twice; the same key with another request is refused.
//!
//! Keys belong to the caller (the signed-in staff member, the paired terminal, or no one), so one
//! client's key never replays another's answer. Successful answers are kept for [`REPLY_TTL_MS`]
//! in the directory file, so a retry after a restart of the box still replays. Refusals are not kept: they changed
//! nothing and answer the same again. Two requests with one key at once: the second is told to
//! wait (409) rather than run alongside.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tongka_domain::UnixMillis;

use crate::AppState;
use crate::auth::Bearer;
use crate::problem::{ApiError, Text};

pub const HEADER: &str = "idempotency-key";
/// Set on an answer that is a replay.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// How long an answer is kept for retries: a day covers a till that was offline overnight.
pub const REPLY_TTL_MS: u64 = 24 * 3_600_000;
const KEY_LEN_MAX: usize = 255;
/// Answers larger than this are not kept (writes answer small records).
const ANSWER_BYTES_MAX: usize = 256 * 1024;
/// Headers a replay repeats.
const KEPT_HEADERS: [HeaderName; 3] = [header::CONTENT_TYPE, header::SET_COOKIE, header::LOCATION];

/// Keys whose first request is still running.
#[derive(Debug, Default)]
pub struct InFlight(Mutex<HashSet<[u8; 32]>>);

/// Removes the key from the in-flight set however the request ends.
struct Running<'a> {
    in_flight: &'a InFlight,
    key: [u8; 32],
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Ok(mut keys) = self.in_flight.0.lock() {
            keys.remove(&self.key);
        }
    }
}

fn problem(status: StatusCode, code: &'static str, zh: &'static str, en: &'static str) -> Response {
    ApiError::new(status, code, Text::new(zh, en))
        .with_field(HEADER)
        .into_response()
}

/// What a route asks the edge layers to keep of its requests, beyond the default (an audit
/// entry, and the answer for its `Idempotency-Key`). The route's own layer sets it on the
/// response, so the decision sits with the operation that knows, not with a list of paths here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keeping {
    /// It wrote nothing (a quote): no audit entry, no kept answer.
    Nothing,
    /// It is idempotent by a key of its own (the till's order id): audited, no kept answer.
    OwnKey,
}

pub(crate) async fn idempotent(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !crate::auth::is_write(request.method()) {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get(HEADER).cloned() else {
        return next.run(request).await;
    };
    let key = key.as_bytes();
    if key.is_empty() || key.len() > KEY_LEN_MAX || !key.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "Idempotency-Key 须为 1 至 255 个可见 ASCII 字符",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        );
    }
    let now = UnixMillis::now();
    let (mut parts, body) = request.into_parts();
    let caller = caller(&mut parts, &state.directory, now);
    let Ok(body) = axum::body::to_bytes(body, state.limits.body_bytes_max).await else {
        return ApiError::body_too_large().into_response();
    };
    let path = parts.uri.path_and_query().map_or("", |p| p.as_str());
    let scoped_key: [u8; 32] = digest(&[b"key", caller.as_bytes(), key]);
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .map_or(&b""[..], HeaderValue::as_bytes);
    let fingerprint: [u8; 32] = digest(&[
        parts.method.as_str().as_bytes(),
        path.as_bytes(),
        content_type,
        &body,
    ]);

    {
        let Ok(mut keys) = state.in_flight.0.lock() else {
            return ApiError::internal().into_response();
        };
        if !keys.insert(scoped_key) {
            return problem(
                StatusCode::CONFLICT,
                "idempotency_key_in_use",
                "使用此 Idempotency-Key 的请求仍在处理中，请稍后重试",
                "A request with this Idempotency-Key is still running; retry shortly",
            );
        }
    }
    let _running = Running {
        in_flight: &state.in_flight,
        key: scoped_key,
    };

    match state.directory.reply(&scoped_key, now) {
        Ok(Some((kept_fingerprint, answer))) if kept_fingerprint == fingerprint => {
            return match decode(&answer) {
                Some(mut response) => {
                    response
                        .headers_mut()
                        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
                    response
                }
                None => ApiError::internal().into_response(),
            };
        }
        Ok(Some(_)) => {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "此 Idempotency-Key 已用于另一个请求",
                "This Idempotency-Key was used for a different request",
            );
        }
        Ok(None) => {}
        Err(error) => return crate::auth::internal(&error).into_response(),
    }

    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    if !response.status().is_success() || response.extensions().get::<Keeping>().is_some() {
        return response;
    }
    let (parts, body) = response.into_parts();
    // The answer is our own, already produced: buffering it is bounded by what the handler made.
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "cannot read a write's answer");
            return ApiError::internal().into_response();
        }
    };
    if body.len() > ANSWER_BYTES_MAX {
        // Done, and answered; a retry would run it again, so say so in the log.
        tracing::warn!(
            bytes = body.len(),
            "answer too large to keep for its idempotency key"
        );
        return Response::from_parts(parts, Body::from(body));
    }
    let answer = encode(parts.status, &parts.headers, &body);
    if let Err(error) = state
        .directory
        .keep_reply(
            &scoped_key,
            &fingerprint,
            &answer,
            now,
            now.plus_ms(REPLY_TTL_MS),
        )
        .await
    {
        // The write itself succeeded: answer it; only a retry would run it again.
        tracing::error!(%error, "cannot keep the answer for an idempotency key");
    }
    Response::from_parts(parts, Body::from(body))
}

fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        // Length-prefixed, so ("ab","c") and ("a","bc") differ.
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// `status, header count, (name, value)…, body`, each length-prefixed.
fn encode(status: StatusCode, headers: &axum::http::HeaderMap, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 64);
    out.extend_from_slice(&status.as_u16().to_le_bytes());
    let kept: Vec<(&HeaderName, &HeaderValue)> = headers
        .iter()
        .filter(|(name, _)| KEPT_HEADERS.contains(name))
        .collect();
    out.extend_from_slice(&(kept.len() as u32).to_le_bytes());
    for (name, value) in kept {
        for part in [name.as_str().as_bytes(), value.as_bytes()] {
            out.extend_from_slice(&(part.len() as u32).to_le_bytes());
            out.extend_from_slice(part);
        }
    }
    out.extend_from_slice(body);
    out
}

fn decode(bytes: &[u8]) -> Option<Response> {
    let mut rest = bytes;
    let mut take = |len: usize| -> Option<&[u8]> {
        let (head, tail) = (rest.get(..len)?, rest.get(len..)?);
        rest = tail;
        Some(head)
    };
    let status = StatusCode::from_u16(u16::from_le_bytes(take(2)?.try_into().ok()?)).ok()?;
    let count = u32::from_le_bytes(take(4)?.try_into().ok()?);
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    for _ in 0..count {
        let name_len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let name = HeaderName::from_bytes(take(name_len)?).ok()?;
        let value_len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let value = HeaderValue::from_bytes(take(value_len)?).ok()?;
        response.headers_mut().append(name, value);
    }
    *response.body_mut() = Body::from(rest.to_vec());
    Some(response)
}

/// Shared by every request.
pub(crate) fn in_flight() -> Arc<InFlight> {
    Arc::new(InFlight::default())
}

/// Whose keys these are: the signed-in staff member, the paired terminal, or no one. Two tills
/// that happen to pick the same key never see each other's answers.
fn caller(parts: &mut Parts, directory: &tongka_domain::Directory, now: UnixMillis) -> String {
    match crate::auth::bearer(parts, directory, now) {
        Ok(Some(Bearer::Staff(Ok(staff)))) => staff.id.to_string(),
        Ok(Some(Bearer::Terminal(Ok(terminal)))) => format!("terminal:{}", terminal.id),
        _ => "anonymous".to_owned(),
    }
}
