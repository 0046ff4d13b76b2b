//! 通卡客户端 / The Tongka client, for POS vendors writing in Rust.
//!
//! ```no_run
//! # async fn till() -> Result<(), tongka_client::ClientError> {
//! use std::time::Duration;
//! use tongka_client::types::{PairRequest, TopUpRequest};
//! // Find the box on the LAN, pin its certificate, pair with the code the manager reads out.
//! let found = tongka_client::discover(Duration::from_secs(3)).await?;
//! let box_ = found.first().expect("a box on the LAN");
//! let client = tongka_client::Client::connect(&box_.url(), &box_.fingerprint).await?;
//! let paired = client
//!     .pair(&PairRequest { code: "12345678".into(), name: "收银台 1".into() })
//!     .await?;
//! let till = client.with_token(&paired.token);
//! let receipt = till.top_up(&TopUpRequest::by_card("T-1", "8800001", "100.00")).await?;
//! # Ok(()) }
//! ```
//!
//! Every call goes over HTTPS to the one certificate the box advertised (its SHA-256): a box
//! showing another certificate is refused with [`ClientError::FingerprintMismatch`], naming
//! both. Writes carry an `Idempotency-Key` and are retried with the same key when the connection
//! drops, so a retry never charges twice. A refusal is [`ClientError::Problem`], with the API's
//! stable `code` and the field at fault.
//!
//! Every operation of the API is a method on [`Client`] named by its `operationId`, and every
//! schema a type in [`types`]: both generated ([`api`]) from `docs/openapi.json`, the document
//! the box serves, so the client cannot drift from the box.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
pub use hyper::Method;
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
pub use tongka_tls::Fingerprint;

pub mod api;
pub use api::types;

/// How long a connection attempt or one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts of one write when the connection fails before an answer.
const ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "the box at {address} presented certificate {presented}, not the pinned {expected}: \
         it is not the box you paired with, or its certificate was replaced"
    )]
    FingerprintMismatch {
        address: String,
        expected: Fingerprint,
        presented: Fingerprint,
    },
    #[error("cannot reach the box at {address}: {why}")]
    Unreachable { address: String, why: String },
    #[error("`{0}` is not a box address: use https://HOST:PORT")]
    BadAddress(String),
    #[error("{0}")]
    Problem(Box<Problem>),
    #[error("the box answered something unreadable: {0}")]
    Protocol(String),
    #[error("discovery failed: {0}")]
    Discovery(String),
}

impl ClientError {
    /// The problem's stable code, if the box refused.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Problem(problem) => Some(&problem.code),
            _ => None,
        }
    }
}

/// The box refused: its problem answer (RFC 9457).
#[derive(Debug, thiserror::Error)]
#[error("{status} {code}: {title}{}", detail.as_ref().map(|d| format!(" — {d}")).unwrap_or_default())]
pub struct Problem {
    pub status: u16,
    /// Stable: branch on it.
    pub code: String,
    pub title: String,
    pub detail: Option<String>,
    pub field: Option<String>,
    /// The whole problem body: some carry more (`quote` on `quote_stale`).
    pub body: Value,
}

/// A box seen on the LAN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundBox {
    /// The merchant's name.
    pub name: String,
    pub box_id: String,
    pub api: String,
    pub fingerprint: Fingerprint,
    pub addresses: Vec<IpAddr>,
    pub port: u16,
}

impl FoundBox {
    /// `https://ADDRESS:PORT`, preferring IPv4.
    pub fn url(&self) -> String {
        let address = self
            .addresses
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| self.addresses.first());
        match address {
            Some(IpAddr::V6(v6)) => format!("https://[{v6}]:{}", self.port),
            Some(address) => format!("https://{address}:{}", self.port),
            None => String::new(),
        }
    }
}

/// Browses the LAN for `timeout` and returns every box that answered with its TXT data.
pub async fn discover(timeout: Duration) -> Result<Vec<FoundBox>, ClientError> {
    tokio::task::spawn_blocking(move || {
        let mut boxes: Vec<FoundBox> = Vec::new();
        tongka_discovery::browse(timeout, |seen| {
            match seen {
                tongka_discovery::Seen::Found(found) => {
                    if let Ok(fingerprint) = found.fingerprint.parse::<Fingerprint>() {
                        boxes.retain(|b| b.box_id != found.box_id);
                        boxes.push(FoundBox {
                            name: found.instance.clone(),
                            box_id: found.box_id.clone(),
                            api: found.api.clone(),
                            fingerprint,
                            addresses: found.addresses.clone(),
                            port: found.port,
                        });
                    }
                }
                // A withdrawal names the full service: `NAME._tongka._tcp.local.`.
                tongka_discovery::Seen::Withdrawn(fullname) => {
                    boxes.retain(|b| !fullname.starts_with(&format!("{}.", b.name)));
                }
            }
            true
        })
        .map_err(|e| ClientError::Discovery(e.to_string()))?;
        Ok(boxes)
    })
    .await
    .map_err(|e| ClientError::Discovery(e.to_string()))?
}

/// A connection to one box, pinned to its certificate, optionally holding a token.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
    token: Option<Arc<str>>,
}

struct Inner {
    address: SocketAddr,
    host: String,
    fingerprint: Fingerprint,
    tls: TlsConnector,
    presented: Arc<Mutex<Option<Fingerprint>>>,
    /// One kept-alive HTTP/1.1 connection; made again when it fails.
    connection: tokio::sync::Mutex<Option<SendRequest<Full<Bytes>>>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.address)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

fn random_key() -> String {
    let mut bytes = [0u8; 16];
    // Without randomness a key from the clock is still unique enough for one till's retries.
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes = nanos.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Client {
    /// Connects to `https://HOST:PORT`, trusting only the certificate with `fingerprint`.
    pub async fn connect(url: &str, fingerprint: &Fingerprint) -> Result<Client, ClientError> {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| ClientError::BadAddress(url.into()))?
            .trim_end_matches('/');
        let address = tokio::net::lookup_host(rest)
            .await
            .map_err(|_| ClientError::BadAddress(url.into()))?
            .next()
            .ok_or_else(|| ClientError::BadAddress(url.into()))?;
        let presented = Arc::new(Mutex::new(None));
        let tls = tongka_tls::pinned_client_config_noting(*fingerprint, Arc::clone(&presented));
        let client = Client {
            inner: Arc::new(Inner {
                address,
                host: rest.to_owned(),
                fingerprint: *fingerprint,
                tls: TlsConnector::from(Arc::new(tls)),
                presented,
                connection: tokio::sync::Mutex::new(None),
            }),
            token: None,
        };
        // Connect now: an unreachable box or a wrong certificate is said at once, not at the first
        // call.
        drop(client.connection().await?);
        Ok(client)
    }

    /// The same connection, calling as the holder of `token` (a terminal's `tt_…`, or a staff
    /// session).
    pub fn with_token(&self, token: &str) -> Client {
        Client {
            inner: Arc::clone(&self.inner),
            token: Some(token.into()),
        }
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.inner.fingerprint
    }

    async fn handshake(&self) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let address = self.inner.address;
        let unreachable = |why: String| ClientError::Unreachable {
            address: address.to_string(),
            why,
        };
        let tcp = tokio::time::timeout(REQUEST_TIMEOUT, TcpStream::connect(address))
            .await
            .map_err(|_| unreachable("timed out".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        // The name is not checked (the fingerprint is); any valid one will do.
        let name = rustls::pki_types::ServerName::try_from("tongka.local")
            .map_err(|e| unreachable(e.to_string()))?;
        let stream = match self.inner.tls.connect(name, tcp).await {
            Ok(stream) => stream,
            Err(error) => {
                let presented = self.inner.presented.lock().ok().and_then(|p| *p);
                return Err(match presented {
                    Some(presented) if presented != self.inner.fingerprint => {
                        ClientError::FingerprintMismatch {
                            address: address.to_string(),
                            expected: self.inner.fingerprint,
                            presented,
                        }
                    }
                    _ => unreachable(error.to_string()),
                });
            }
        };
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// The kept connection, made if there is none or it closed.
    async fn connection(
        &self,
    ) -> Result<tokio::sync::MutexGuard<'_, Option<SendRequest<Full<Bytes>>>>, ClientError> {
        let mut guard = self.inner.connection.lock().await;
        let usable = guard.as_ref().is_some_and(|s| !s.is_closed());
        if !usable {
            *guard = Some(self.handshake().await?);
        }
        Ok(guard)
    }

    /// Any request by path: JSON in, JSON out (`Null` for an empty answer). The typed methods
    /// of [`api`] are usually what you want.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let payload = match body {
            Some(body) => Payload::json(body)?,
            None => Payload::None,
        };
        let answer = self.send(method, path, None, payload).await?;
        if answer.is_empty() {
            return Ok(Value::Null);
        }
        parse(&answer)
    }

    /// One attempt: `Err` when the connection failed (worth retrying), `Ok(answer)` otherwise.
    async fn once(
        &self,
        method: &Method,
        path: &str,
        payload: &Payload,
        key: Option<&str>,
    ) -> Result<Result<Bytes, ClientError>, ClientError> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(hyper::header::HOST, &self.inner.host)
            .header(hyper::header::ACCEPT, "application/json");
        if let Some(content_type) = payload.content_type() {
            request = request.header(hyper::header::CONTENT_TYPE, content_type);
        }
        if let Some(token) = &self.token {
            request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let request = request
            .body(Full::new(payload.bytes()))
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let mut guard = self.connection().await?;
        let Some(sender) = guard.as_mut() else {
            return Err(ClientError::Protocol("no connection".into()));
        };
        let unreachable = |why: String| ClientError::Unreachable {
            address: self.inner.address.to_string(),
            why,
        };
        let response = tokio::time::timeout(REQUEST_TIMEOUT, sender.send_request(request))
            .await
            .map_err(|_| unreachable("no answer in time".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        let status = response.status();
        let bytes = tokio::time::timeout(REQUEST_TIMEOUT, response.into_body().collect())
            .await
            .map_err(|_| unreachable("the answer stalled".into()))?
            .map_err(|e| unreachable(e.to_string()))?
            .to_bytes();
        drop(guard);
        if status.is_success() {
            return Ok(Ok(bytes));
        }
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Err(problem(status, body)))
    }

    /// Sends one request and returns the answer's body; a refusal is [`ClientError::Problem`]. A
    /// write carries an `Idempotency-Key` and is sent again with it if the connection fails
    /// before the answer.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        query: Option<String>,
        payload: Payload,
    ) -> Result<Bytes, ClientError> {
        let write = !matches!(method, Method::GET | Method::HEAD);
        let key = write.then(random_key);
        let target = match query {
            Some(query) if !query.is_empty() => format!("{path}?{query}"),
            _ => path.to_owned(),
        };
        let mut last = None;
        for _ in 0..ATTEMPTS {
            match self.once(&method, &target, &payload, key.as_deref()).await {
                Ok(answer) => return answer,
                // The connection failed before an answer: make a new one and send again.
                Err(error) => {
                    *self.inner.connection.lock().await = None;
                    last = Some(error);
                }
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Protocol("no attempt made".into())))
    }
}

/// A request's body.
pub(crate) enum Payload {
    None,
    Json(Bytes),
    Csv(Bytes),
}

impl Payload {
    pub(crate) fn json<T: Serialize>(body: &T) -> Result<Payload, ClientError> {
        serde_json::to_vec(body)
            .map(|bytes| Payload::Json(Bytes::from(bytes)))
            .map_err(|e| ClientError::Protocol(e.to_string()))
    }

    pub(crate) fn csv(text: &str) -> Payload {
        Payload::Csv(Bytes::copy_from_slice(text.as_bytes()))
    }

    fn content_type(&self) -> Option<&'static str> {
        match self {
            Payload::None => None,
            Payload::Json(_) => Some("application/json"),
            Payload::Csv(_) => Some("text/csv; charset=utf-8"),
        }
    }

    fn bytes(&self) -> Bytes {
        match self {
            Payload::None => Bytes::new(),
            Payload::Json(bytes) | Payload::Csv(bytes) => bytes.clone(),
        }
    }
}

/// A path segment, percent-encoded: a card number with `/` stays one segment.
pub(crate) fn segment(text: &str) -> String {
    encode(text)
}

/// A query struct as `key=value&…`, leaving out what is not set.
pub(crate) fn query<T: Serialize>(query: &T) -> Result<String, ClientError> {
    let value = serde_json::to_value(query).map_err(|e| ClientError::Protocol(e.to_string()))?;
    let mut pairs = Vec::new();
    for (key, value) in value.as_object().into_iter().flatten() {
        let text = match value {
            Value::Null => continue,
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        pairs.push(format!("{}={}", encode(key), encode(&text)));
    }
    Ok(pairs.join("&"))
}

pub(crate) fn parse<T: DeserializeOwned>(answer: &Bytes) -> Result<T, ClientError> {
    serde_json::from_slice(answer).map_err(|e| ClientError::Protocol(e.to_string()))
}

pub(crate) fn nothing(_answer: Bytes) -> Result<(), ClientError> {
    Ok(())
}

pub(crate) fn text(answer: Bytes) -> Result<String, ClientError> {
    String::from_utf8(answer.to_vec()).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// Percent-encodes everything but unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn problem(status: StatusCode, body: Value) -> ClientError {
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    ClientError::Problem(Box::new(Problem {
        status: status.as_u16(),
        code: text("code").unwrap_or_else(|| "unknown".into()),
        title: text("title").unwrap_or_else(|| status.to_string()),
        detail: text("detail"),
        field: text("field"),
        body,
    }))
}

/// Shorthands for the requests a till makes most; every field stays public.
impl types::LineRequest {
    /// A line of `quantity` × `unit_price` (decimal strings), earning and discounted as usual.
    pub fn new(line: i32, sku: &str, category: &str, quantity: &str, unit_price: &str) -> Self {
        types::LineRequest {
            line,
            sku: sku.into(),
            category: (!category.is_empty()).then(|| category.into()),
            quantity: quantity.into(),
            unit_price: unit_price.into(),
            no_discount: None,
            no_points: None,
            promotional: None,
        }
    }
}

impl types::CheckoutRequest {
    /// An order for the member whose card was scanned; for [`Client::quote`], then with
    /// `quote_token` and `payment` set for [`Client::checkout`].
    pub fn by_card(order: &str, card: &str, lines: Vec<types::LineRequest>) -> Self {
        types::CheckoutRequest {
            order: order.into(),
            card: Some(card.into()),
            member: None,
            store: None,
            lines,
            payment: None,
            quote_token: None,
        }
    }
}

impl types::TopUpRequest {
    pub fn by_card(order: &str, card: &str, amount: &str) -> Self {
        types::TopUpRequest {
            order: order.into(),
            card: Some(card.into()),
            member: None,
            store: None,
            amount: amount.into(),
            tenders: Vec::new(),
            approval: None,
            seller: None,
        }
    }
}

impl types::RefundRequest {
    /// Refunds `lines` of `original` (empty: everything not yet refunded) as order `order`.
    pub fn of(order: &str, original: &str, lines: Vec<types::RefundLineRequest>) -> Self {
        types::RefundRequest {
            order: order.into(),
            original: original.into(),
            store: None,
            lines,
        }
    }
}
