//! 通卡客户端 / The Tongka client, for POS vendors writing in Rust.
//!
//! ```no_run
//! # async fn till() -> Result<(), tongka_client::ClientError> {
//! use std::time::Duration;
//! // Find the box on the LAN, pin its certificate, pair with the code the manager reads out.
//! let found = tongka_client::discover(Duration::from_secs(3)).await?;
//! let box_ = found.first().expect("a box on the LAN");
//! let client = tongka_client::Client::connect(&box_.url(), &box_.fingerprint).await?;
//! let paired = client.pair("12345678", "收银台 1").await?;
//! let till = client.with_token(&paired.token);
//! let receipt = till.top_up(&tongka_client::TopUp::by_card("T-1", "8800001", "100.00")).await?;
//! # Ok(()) }
//! ```
//!
//! Every call goes over HTTPS to the one certificate the box advertised (its SHA-256): a box
//! showing another certificate is refused with [`ClientError::FingerprintMismatch`], naming
//! both. Writes carry an `Idempotency-Key` and are retried with the same key when the connection
//! drops, so a retry never charges twice. A refusal is [`ClientError::Problem`], with the API's
//! stable `code` and the field at fault.
//!
//! Typed calls cover what a till does (pairing, card lookup, top-up, quote, checkout, refund,
//! orders); [`Client::call`] reaches every other operation of the OpenAPI document.

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
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
pub use tongka_tls::Fingerprint;

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

    /// Any operation of the API: JSON in, JSON out; a refusal as [`ClientError::Problem`]. A
    /// write is sent with an `Idempotency-Key` and retried with it if the connection fails
    /// before the answer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let write = !matches!(method, Method::GET | Method::HEAD);
        let key = write.then(random_key);
        let payload = match body {
            Some(body) => Bytes::from(
                serde_json::to_vec(body).map_err(|e| ClientError::Protocol(e.to_string()))?,
            ),
            None => Bytes::new(),
        };
        let mut last = None;
        for _ in 0..ATTEMPTS {
            match self.once(&method, path, &payload, key.as_deref()).await {
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

    /// One attempt: `Err` when the connection failed (worth retrying), `Ok(answer)` otherwise.
    async fn once(
        &self,
        method: &Method,
        path: &str,
        payload: &Bytes,
        key: Option<&str>,
    ) -> Result<Result<Value, ClientError>, ClientError> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(hyper::header::HOST, &self.inner.host)
            .header(hyper::header::ACCEPT, "application/json");
        if !payload.is_empty() {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        if let Some(token) = &self.token {
            request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let request = request
            .body(Full::new(payload.clone()))
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
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(value) => value,
                Err(e) => return Ok(Err(ClientError::Protocol(e.to_string()))),
            }
        };
        if status.is_success() {
            return Ok(Ok(value));
        }
        Ok(Err(problem(status, value)))
    }

    async fn typed<T: for<'de> Deserialize<'de>>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, ClientError> {
        let value = self.call(method, path, body).await?;
        serde_json::from_value(value).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    fn json<T: Serialize>(body: &T) -> Result<Value, ClientError> {
        serde_json::to_value(body).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// Exchanges the code a manager read out for this terminal's token (no sign-in needed).
    pub async fn pair(&self, code: &str, name: &str) -> Result<Paired, ClientError> {
        let body = serde_json::json!({"code": code, "name": name});
        self.typed(Method::POST, "/api/v1/pairings", Some(&body))
            .await
    }

    /// The terminal this client's token belongs to.
    pub async fn terminal(&self) -> Result<Value, ClientError> {
        self.call(Method::GET, "/api/v1/terminal", None).await
    }

    /// The member a scanned card, or a typed phone number, belongs to: name, tier, balances.
    pub async fn find_member(&self, by: &MemberKey) -> Result<Member, ClientError> {
        let query = match by {
            MemberKey::Card(number) => format!("card={}", encode(number)),
            MemberKey::Phone(phone) => format!("phone={}", encode(phone)),
        };
        self.typed(Method::GET, &format!("/api/v1/till/members?{query}"), None)
            .await
    }

    /// 开卡: signs a member up at this terminal's store, with a first card if given.
    pub async fn open_card(&self, member: &NewMember) -> Result<Member, ClientError> {
        let body = Client::json(member)?;
        self.typed(Method::POST, "/api/v1/till/members", Some(&body))
            .await
    }

    pub async fn top_up(&self, top_up: &TopUp) -> Result<Receipt, ClientError> {
        let body = Client::json(top_up)?;
        self.typed(Method::POST, "/api/v1/till/top-ups", Some(&body))
            .await
    }

    /// What the member gets and may pay with; nothing is written.
    pub async fn quote(&self, order: &Order) -> Result<Quote, ClientError> {
        let body = Client::json(order)?;
        self.typed(Method::POST, "/api/v1/till/quote", Some(&body))
            .await
    }

    /// Commits `order` as quoted, paid as `payment`. A stale quote is refused with code
    /// `quote_stale`; the problem's body holds the new quote (`body["quote"]`).
    pub async fn checkout(
        &self,
        order: &Order,
        quote_token: &str,
        payment: &Payment,
    ) -> Result<Receipt, ClientError> {
        let mut body = Client::json(order)?;
        if let Some(object) = body.as_object_mut() {
            object.insert("quote_token".into(), quote_token.into());
            object.insert("payment".into(), Client::json(payment)?);
        }
        self.typed(Method::POST, "/api/v1/till/checkouts", Some(&body))
            .await
    }

    pub async fn refund(&self, refund: &Refund) -> Result<Receipt, ClientError> {
        let body = Client::json(refund)?;
        self.typed(Method::POST, "/api/v1/till/refunds", Some(&body))
            .await
    }

    pub async fn order(&self, id: &str) -> Result<Receipt, ClientError> {
        self.typed(Method::GET, &format!("/api/v1/till/orders/{id}"), None)
            .await
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
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

/// What pairing gives a terminal.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Paired {
    /// `tt_…`: keep it; it is shown once.
    pub token: String,
    pub terminal: Value,
}

/// Money and quantities are decimal strings, as the API takes them.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Line {
    pub line: u32,
    pub sku: String,
    #[serde(default)]
    pub category: String,
    pub quantity: String,
    pub unit_price: String,
    #[serde(default)]
    pub promotional: bool,
    #[serde(default)]
    pub no_points: bool,
    #[serde(default)]
    pub no_discount: bool,
}

/// An order at the till: for a member by id or by card.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Order {
    pub order: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<String>,
    /// Staff only: the store they serve at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    pub lines: Vec<Line>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Tender {
    /// `cash`, `wechat`, `alipay`, `bank-card`, `other`.
    pub kind: String,
    pub amount: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Payment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub points: Option<String>,
    #[serde(default)]
    pub tenders: Vec<Tender>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct TopUp {
    pub order: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    pub amount: String,
    #[serde(default)]
    pub tenders: Vec<Tender>,
}

impl TopUp {
    pub fn by_card(order: &str, card: &str, amount: &str) -> TopUp {
        TopUp {
            order: order.into(),
            card: Some(card.into()),
            amount: amount.into(),
            ..TopUp::default()
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct RefundLine {
    pub line: u32,
    pub quantity: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Refund {
    pub order: String,
    pub original: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Empty: everything not yet refunded.
    #[serde(default)]
    pub lines: Vec<RefundLine>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct Money {
    pub amount: String,
    pub currency: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Offset {
    pub max_points: String,
    pub points_per_unit: String,
    pub unit_value: Money,
    pub max_value: Money,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct StoredValue {
    pub principal: Money,
    pub bonus: Money,
    pub total: Money,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Balances {
    pub stored_value: StoredValue,
    pub points: String,
    pub growth: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Quote {
    pub order: String,
    pub member: String,
    pub store: String,
    pub subtotal: Money,
    pub payable: Money,
    pub points_to_earn: String,
    pub growth_to_earn: String,
    pub points_offset: Option<Offset>,
    pub balances: Balances,
    pub quote_token: String,
    /// Lines, discounts and the scheme's effects, as the API gives them.
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Moved {
    pub total: Money,
    pub principal: Money,
    pub bonus: Money,
    pub points_offset: String,
    pub points_offset_value: Money,
    pub points: String,
    pub growth: String,
    pub referrer_points: String,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

/// A committed operation: the receipt.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Receipt {
    pub order: String,
    pub kind: String,
    pub member: String,
    pub store: String,
    pub moved: Moved,
    pub refunded: Moved,
    pub refunds: Vec<String>,
    pub original: Option<String>,
    pub balances: Balances,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

/// How the till finds a member.
#[derive(Clone, Debug)]
pub enum MemberKey {
    Card(String),
    Phone(String),
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct NewCard {
    pub number: String,
    /// `barcode`, `magstripe`, `ic`, `virtual`, `id-card`.
    pub kind: String,
}

/// A member to sign up at the till.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct NewMember {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birthday: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marketing_consent: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card: Option<NewCard>,
}

/// A member as the till sees them.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Member {
    pub id: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub tier: Option<String>,
    pub balances: Balances,
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}
