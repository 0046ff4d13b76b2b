//! Requests per caller, limited: a runaway POS script or a password guesser slows down alone.
//!
//! The caller is the session token when there is one (each till and each console its own
//! budget), otherwise the peer address. GCRA from `governor`: `requests_per_second` sustained,
//! `burst` at once. Beyond it: 429 `rate_limited` with `Retry-After`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

use crate::problem::{ApiError, Text};
use crate::tls::Remote;

/// Who a budget belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Caller {
    Session([u8; 32]),
    Address(IpAddr),
    /// In-process calls (tests) have neither.
    Unknown,
}

#[derive(Debug)]
pub struct RateLimit {
    limiter: DefaultKeyedRateLimiter<Caller>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl RateLimit {
    pub fn new(requests_per_second: u32, burst: u32) -> Arc<RateLimit> {
        let per_second = NonZeroU32::new(requests_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Arc::new(RateLimit {
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        })
    }
}

pub(crate) async fn limit(
    State(rate): State<Arc<RateLimit>>,
    request: Request,
    next: Next,
) -> Response {
    let caller = match crate::auth::token(request.headers()) {
        Some(token) => Caller::Session(Sha256::digest(token.as_bytes()).into()),
        None => request
            .extensions()
            .get::<ConnectInfo<Remote>>()
            .map_or(Caller::Unknown, |info| Caller::Address(info.0.0.ip())),
    };
    // Forget callers that have been quiet, now and then, so the table does not grow forever.
    if rate.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
        rate.limiter.retain_recent();
    }
    match rate.limiter.check_key(&caller) {
        Ok(()) => next.run(request).await,
        Err(not_until) => {
            let wait = not_until.wait_time_from(rate.clock.now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                Text::new("请求过于频繁，请稍后再试", "Too many requests; slow down"),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
    }
}
