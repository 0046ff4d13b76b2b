//! Tongka's HTTP API: routes, JSON bodies and problem errors. It holds no business rules; it
//! translates HTTP to calls on the layers below and their answers back to HTTP.
//!

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod audit;
pub mod auth;
pub mod commission;
pub mod daily;
pub mod gifts;
pub mod idempotency;
pub mod json;
pub mod members;
pub mod pairing;
pub mod people;
pub mod plugins;
pub mod problem;
pub mod rate;
pub mod reports;
pub mod scheme;
pub mod space;
pub mod terminals;
pub mod till;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::json::ApiJson;
pub use crate::problem::{ApiError, Lang, Text};

/// What the API needs from the box to answer. Every request clones it (each middleware and
/// handler takes its own), so it is one shared allocation with one reference count rather than
/// a count per part.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
#[derive(Clone, Debug)]
pub struct Shared {
    /// The box's version, as `tongka --version` prints it.
    pub version: &'static str,
    pub limits: Limits,
    /// Staff and their sessions.
    pub directory: Arc<tongka_domain::Directory>,
    /// Members and their balances.
    pub members: Arc<tongka_domain::Members>,
    /// Idempotency keys whose first request is still running.
    pub in_flight: Arc<idempotency::InFlight>,
    /// The plugin host and the registry of installed plugins.
    pub plugins: Arc<tongka_plugin_host::registry::Plugins>,
    /// The routed loyalty-scheme plugins as the till calls them: one for the box, so what it
    /// keeps between calls (the rules version) lasts.
    pub scheme: Arc<scheme::RoutedScheme>,
    /// Pairing windows' length and the bound on guessing codes.
    pub pairing: Arc<pairing::PairingGuard>,
    /// Top-ups, checkouts and refunds.
    pub till: Arc<tongka_domain::Till>,
    /// The merchant's name after each rename: the box re-advertises itself under it.
    pub merchant_name: Arc<tokio::sync::watch::Sender<String>>,
    /// The data folder's free space: below its reserve, writes are refused.
    pub space: Arc<space::SpaceGuard>,
}

impl AppState {
    pub fn new(
        version: &'static str,
        limits: Limits,
        members: tongka_domain::Members,
        plugins: Arc<tongka_plugin_host::registry::Plugins>,
    ) -> AppState {
        AppState(Arc::new(Shared {
            version,
            limits,
            directory: Arc::clone(members.directory()),
            till: Arc::new(tongka_domain::Till::new(
                members.clone(),
                tongka_domain::TillOptions::default(),
            )),
            members: Arc::new(members),
            in_flight: idempotency::in_flight(),
            merchant_name: Arc::new(tokio::sync::watch::Sender::new(String::new())),
            space: space::SpaceGuard::off(),
            scheme: Arc::new(scheme::RoutedScheme::new(Arc::clone(&plugins))),
            plugins,
            pairing: Arc::new(pairing::PairingGuard::new(
                pairing::PairingOptions::default(),
            )),
        }))
    }

    /// The same state with these till settings.
    pub fn with_till(mut self, options: tongka_domain::TillOptions) -> AppState {
        let till = Arc::new(tongka_domain::Till::new((*self.members).clone(), options));
        Arc::make_mut(&mut self.0).till = till;
        self
    }

    /// The same state with writes refused while `space` is below its reserve.
    pub fn with_space(mut self, space: Arc<space::SpaceGuard>) -> AppState {
        Arc::make_mut(&mut self.0).space = space;
        self
    }

    /// The same state with these pairing bounds.
    pub fn with_pairing(mut self, options: pairing::PairingOptions) -> AppState {
        Arc::make_mut(&mut self.0).pairing = Arc::new(pairing::PairingGuard::new(options));
        self
    }
}

/// Limits on every request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The largest request body accepted.
    pub body_bytes_max: usize,
    /// How long a request may take before it is answered with a `timeout` problem.
    pub request_timeout: Duration,
    /// Requests a second each caller (session, or address) may make, sustained.
    pub requests_per_second: u32,
    /// Requests a caller may make at once.
    pub request_burst: u32,
    /// The largest CSV file a member import accepts.
    pub import_bytes_max: usize,
    /// The largest plugin upload (the component, base64, in JSON).
    pub plugin_bytes_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes_max: 1 << 20,
            request_timeout: Duration::from_secs(30),
            requests_per_second: 20,
            request_burst: 60,
            import_bytes_max: 64 << 20,
            plugin_bytes_max: 48 << 20,
        }
    }
}

/// The API's router, without a listener: the binary serves it, tests call it in-process.
pub fn router(state: AppState) -> Router {
    let limits = state.limits;
    let (routes, openapi) = api_routes_with(limits).split_for_parts();
    // Rendered once: the document is fixed for the life of the process.
    let document = openapi.to_json().unwrap_or_default();
    let routes = routes
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotent,
        ))
        // Outside idempotency: a replayed retry is recorded too.
        .route_layer(middleware::from_fn_with_state(state.clone(), audit::record))
        // Outside both: a write refused for want of space records nothing.
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state.space),
            space::guard,
        ))
        .route(
            "/api/v1/openapi.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], document) }),
        )
        .with_state(state);
    with_edges(routes, limits)
}

/// Every API route, each registered with its OpenAPI operation: a route cannot be served without
/// being documented, because this is the only place routes are added.
fn api_routes() -> OpenApiRouter<AppState> {
    api_routes_with(Limits::default())
}

fn api_routes_with(limits: Limits) -> OpenApiRouter<AppState> {
    // The import takes a whole file: its own, larger body limit (the inner limit wins).
    let import = OpenApiRouter::new()
        .routes(routes!(members::import))
        .layer(DefaultBodyLimit::max(limits.import_bytes_max));
    // A plugin arrives whole, base64 in JSON: its own limit too.
    let plugin_upload = OpenApiRouter::new()
        .routes(routes!(plugins::install, plugins::list))
        .layer(DefaultBodyLimit::max(limits.plugin_bytes_max));
    let quote = OpenApiRouter::new()
        .routes(routes!(till::quote))
        .layer(middleware::map_response(till::writes_nothing));
    let sales = OpenApiRouter::new()
        .routes(routes!(till::checkout))
        .routes(routes!(till::top_up))
        .routes(routes!(till::convert_points))
        .routes(routes!(till::redeem_gift))
        .routes(routes!(till::buy_tier))
        .routes(routes!(gifts::list, gifts::add))
        .routes(routes!(gifts::change))
        .routes(routes!(till::refund))
        .layer(middleware::map_response(till::keyed_by_order));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(auth::login))
        .routes(routes!(auth::current, auth::logout))
        .routes(routes!(people::create_store, people::list_stores))
        .routes(routes!(people::set_top_up_approval))
        .routes(routes!(people::get_store))
        .routes(routes!(people::create_staff, people::list_staff))
        .routes(routes!(people::get_merchant, people::rename_merchant))
        .routes(routes!(people::create_department, people::list_departments))
        .routes(routes!(audit::read))
        .routes(routes!(terminals::create, terminals::list))
        .routes(routes!(terminals::revoke))
        .routes(routes!(terminals::current))
        .routes(routes!(pairing::open))
        .routes(routes!(pairing::pair))
        .routes(routes!(members::create, members::search))
        .routes(routes!(members::get, members::update))
        .routes(routes!(members::set_frozen))
        .routes(routes!(members::set_tier))
        .routes(routes!(members::tier_history))
        .routes(routes!(members::points_expiring))
        .routes(routes!(members::add_card))
        .routes(routes!(members::report_lost))
        .routes(routes!(members::reissue))
        .routes(routes!(members::find_card))
        .routes(routes!(members::merge))
        .routes(routes!(members::erase))
        .routes(routes!(members::export))
        .routes(routes!(members::export_csv))
        .routes(routes!(
            members::add_service_record,
            members::service_records
        ))
        .routes(routes!(members::complete_follow_up))
        .routes(routes!(members::follow_ups))
        .routes(routes!(members::list_tiers, members::create_tier))
        .routes(routes!(members::put_tier))
        .routes(routes!(daily::run))
        .routes(routes!(
            members::list_custom_fields,
            members::define_custom_field
        ))
        .merge(import)
        .merge(plugin_upload)
        .routes(routes!(plugins::get, plugins::change, plugins::remove))
        .routes(routes!(plugins::try_plugin))
        .routes(routes!(plugins::routes))
        .routes(routes!(plugins::set_route))
        .merge(quote)
        .merge(sales)
        .routes(routes!(till::order))
        .routes(routes!(till::open_card, till::find_member))
        .routes(routes!(reports::settlement))
        .routes(routes!(commission::report))
        .routes(routes!(commission::get_rules, commission::set_rules))
}

/// The OpenAPI 3.1 document of the API, as `/api/v1/openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().split_for_parts().1
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "通卡 Tongka API",
        description = "会员、积分、储值一体机的接口 / The membership, points and stored-value box's API. \
            Errors are RFC 9457 problems with a stable `code`; every write accepts `Idempotency-Key`; \
            money is a decimal string with its currency; times are RFC 3339. While the box's disk \
            is below its reserve, every request but a read is answered 507 `storage_full`."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "登录 / Signing in"),
        (name = "stores", description = "门店 / Stores"),
        (name = "gifts", description = "礼品 / The gift catalogue"),
        (name = "staff", description = "员工 / Staff"),
        (name = "audit", description = "操作日志 / Audit log"),
        (name = "terminals", description = "收银终端 / POS terminals"),
        (name = "members", description = "会员 / Members"),
        (name = "cards", description = "会员卡 / Cards"),
        (name = "tiers", description = "会员等级 / Tiers"),
        (name = "service", description = "服务记录与回访 / Service records and follow-ups"),
        (name = "plugins", description = "插件 / Plugins"),
        (name = "reports", description = "报表 / Reports"),
    )
)]
struct ApiDoc;

/// Declares the `bearer` scheme the operations name: a session token from `POST /api/v1/sessions`.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// What every route gets: problems for unknown paths and methods, the body and time limits, panics
/// caught, errors in the caller's language.
fn with_edges(routes: Router, limits: Limits) -> Router {
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limits.body_bytes_max))
        .layer(middleware::from_fn_with_state(limits, time_limit))
        .layer(middleware::from_fn_with_state(
            rate::RateLimit::new(limits.requests_per_second, limits.request_burst),
            rate::limit,
        ))
        // A panic is a bug: answered as a problem and logged, and the box carries on.
        .layer(CatchPanicLayer::custom(|_panic| {
            tracing::error!("a request handler panicked");
            ApiError::internal().into_response()
        }))
        // Outermost, so every problem above is rendered in the caller's language.
        .layer(middleware::from_fn(problem::localize))
}

async fn time_limit(State(limits): State<Limits>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limits.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::timeout().into_response(),
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Health {
    status: &'static str,
    version: &'static str,
    /// `ok`, or `full` while the data folder's disk is under its reserve and writes are refused.
    storage: &'static str,
}

/// 健康检查 / Is the box up, which version, and whether it takes writes.
#[utoipa::path(get, path = "/api/v1/health", operation_id = "health", tag = "auth", responses((status = 200, body = Health)))]
async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: state.version,
        storage: if state.space.full() { "full" } else { "ok" },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::http::{Method, Request, StatusCode, header};
    use axum::routing::post;
    use serde::Deserialize;
    use tower::ServiceExt;

    /// A stand-in for the write routes to come: exercises the edges every route shares.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    struct Probe {
        name: String,
        count: u8,
        #[serde(default)]
        lines: Vec<ProbeLine>,
    }

    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    struct ProbeLine {
        sku: String,
    }

    /// The member book on a directory and a ledger in `dir`.
    async fn members(dir: &std::path::Path) -> tongka_domain::Members {
        let directory = Arc::new(
            tongka_domain::Directory::open(
                &dir.join("directory.redb"),
                tongka_domain::SessionOptions {
                    failures_max: 2,
                    ..Default::default()
                },
            )
            .unwrap(),
        );
        let ledger =
            tongka_ledger::Ledger::open(&dir.join("ledger.redb"), Default::default()).unwrap();
        tongka_domain::Members::open(directory, ledger)
            .await
            .unwrap()
    }

    /// A plugin host with room for a few calls, and an empty registry in `dir/plugins`.
    fn plugins(dir: &std::path::Path) -> Arc<tongka_plugin_host::registry::Plugins> {
        let options = tongka_plugin_host::HostOptions {
            instances_max: 2,
            ..Default::default()
        };
        Arc::new(
            tongka_plugin_host::registry::Plugins::open(&dir.join("plugins"), options)
                .unwrap()
                .0,
        )
    }

    /// The router, with a directory in a temporary folder that lives as long as the guard.
    async fn app() -> (Router, Arc<tongka_domain::Directory>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let members = members(dir.path()).await;
        let directory = Arc::clone(members.directory());
        let limits = Limits {
            body_bytes_max: 256,
            // Long enough for an argon2 sign-in on a loaded CI machine; `/slow` still overruns it.
            request_timeout: Duration::from_millis(1_500),
            requests_per_second: 1,
            request_burst: 40,
            import_bytes_max: 4096,
            plugin_bytes_max: 4096,
        };
        let routes = router(AppState::new("9.9.9", limits, members, plugins(dir.path()))).merge(
            Router::new()
                .route(
                    "/probe",
                    post(|ApiJson(probe): ApiJson<Probe>| async { Json(probe) }),
                )
                .route(
                    "/slow",
                    get(|| async {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        "late"
                    }),
                )
                .route(
                    "/panic",
                    get(|| async {
                        if true {
                            panic!("a handler bug");
                        }
                        "unreachable"
                    }),
                ),
        );
        (with_edges(routes, limits), directory, dir)
    }

    struct Answer {
        status: StatusCode,
        content_type: Option<String>,
        content_language: Option<String>,
        body: serde_json::Value,
    }

    async fn send(
        app: &Router,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::from(body.to_owned())).unwrap())
            .await
            .unwrap();
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &header::HeaderValue| v.to_str().unwrap().to_owned())
        };
        let (content_type, content_language) = (
            header(header::CONTENT_TYPE),
            header(header::CONTENT_LANGUAGE),
        );
        let status = response.status();
        let bytes = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Answer {
            status,
            content_type,
            content_language,
            body,
        }
    }

    async fn post_json(app: &Router, body: &str, lang: &str) -> Answer {
        send(
            app,
            Method::POST,
            "/probe",
            &[
                ("content-type", "application/json"),
                ("accept-language", lang),
            ],
            body,
        )
        .await
    }

    #[tokio::test]
    async fn health_reports_ok_and_the_version() {
        let (app, _directory, _dir) = app().await;
        let answer = send(&app, Method::GET, "/api/v1/health", &[], "").await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(
            answer.body,
            serde_json::json!({"status": "ok", "version": "9.9.9", "storage": "ok"})
        );
    }

    #[tokio::test]
    async fn a_good_body_reaches_the_handler() {
        let (app, _directory, _dir) = app().await;
        let answer = post_json(
            &app,
            r#"{"name":"茶","count":3,"lines":[{"sku":"A1"}]}"#,
            "zh",
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.body["count"], 3);
    }

    /// Each kind of bad input: its status, its code, the field at fault.
    #[tokio::test]
    async fn bad_input_gets_a_problem_naming_what_is_wrong() {
        let (app, _directory, _dir) = app().await;
        let cases: [(&str, u16, &str, Option<&str>); 8] = [
            (r#"{"name":"a","count":1"#, 400, "malformed_json", None),
            (
                r#"{"name":"a","count":1} trailing"#,
                400,
                "malformed_json",
                None,
            ),
            (
                r#"{"name":"a","count":1,"colour":"red"}"#,
                422,
                "unknown_field",
                Some("colour"),
            ),
            (
                r#"{"name":"a","count":1,"lines":[{"sku":"A","qty":2}]}"#,
                422,
                "unknown_field",
                Some("lines[0].qty"),
            ),
            (
                r#"{"name":"a","count":"3"}"#,
                422,
                "invalid_field",
                Some("count"),
            ),
            (
                r#"{"name":"a","count":300}"#,
                422,
                "invalid_field",
                Some("count"),
            ),
            (
                r#"{"name":"a","count":-1}"#,
                422,
                "invalid_field",
                Some("count"),
            ),
            (r#"{"count":1}"#, 422, "invalid_field", None),
        ];
        for (body, status, code, field) in cases {
            let answer = post_json(&app, body, "zh-CN").await;
            assert_eq!(answer.status.as_u16(), status, "{body}: {}", answer.body);
            assert_eq!(
                answer.content_type.as_deref(),
                Some("application/problem+json"),
                "{body}"
            );
            assert_eq!(answer.body["code"], code, "{body}: {}", answer.body);
            assert_eq!(answer.body["status"], status, "{body}");
            assert_eq!(
                answer.body["field"].as_str(),
                field,
                "{body}: {}",
                answer.body
            );
        }
        let missing = post_json(&app, r#"{"count":1}"#, "en").await;
        assert!(
            missing.body["detail"]
                .as_str()
                .unwrap()
                .contains("missing field `name`"),
            "{}",
            missing.body
        );
    }

    #[tokio::test]
    async fn wrong_content_type_and_oversized_bodies_are_refused() {
        let (app, _directory, _dir) = app().await;
        let answer = send(
            &app,
            Method::POST,
            "/probe",
            &[],
            r#"{"name":"a","count":1}"#,
        )
        .await;
        assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(answer.body["code"], "unsupported_media_type");

        let big = format!(r#"{{"name":"{}","count":1}}"#, "x".repeat(300));
        let answer = post_json(&app, &big, "zh").await;
        assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(answer.body["code"], "body_too_large");
    }

    #[tokio::test]
    async fn problems_speak_the_callers_language_chinese_first() {
        let (app, _directory, _dir) = app().await;
        let zh = post_json(&app, "{", "").await;
        assert_eq!(zh.body["title"], "请求体不是有效的 JSON");
        assert_eq!(zh.content_language.as_deref(), Some("zh-CN"));
        let en = post_json(&app, "{", "en-US,en;q=0.9").await;
        assert_eq!(en.body["title"], "The request body is not valid JSON");
        assert_eq!(en.content_language.as_deref(), Some("en"));
        assert_eq!(en.body["code"], zh.body["code"], "the code never changes");
    }

    #[tokio::test]
    async fn unknown_paths_methods_slow_handlers_and_panics_are_problems() {
        let (app, _directory, _dir) = app().await;
        let cases = [
            (Method::GET, "/api/v1/nothing-here", 404, "not_found"),
            (Method::DELETE, "/api/v1/health", 405, "method_not_allowed"),
            (Method::GET, "/slow", 503, "timeout"),
            (Method::GET, "/panic", 500, "internal"),
        ];
        for (method, uri, status, code) in cases {
            let answer = send(&app, method, uri, &[("accept-language", "en")], "").await;
            assert_eq!(answer.status.as_u16(), status, "{uri}");
            assert_eq!(answer.body["code"], code, "{uri}");
            assert_eq!(
                answer.content_type.as_deref(),
                Some("application/problem+json")
            );
            assert_eq!(answer.content_language.as_deref(), Some("en"), "{uri}");
        }
    }

    fn cashier(directory: &tongka_domain::Directory) {
        let new = tongka_domain::NewStaff {
            department: None,
            username: "xiaowang".into(),
            display_name: "小王".into(),
            role: tongka_domain::Role::Cashier,
            scope: tongka_domain::Scope::Stores(vec![tongka_domain::StoreId(7)]),
            password: "till-password".into(),
        };
        directory
            .create_staff(
                directory.first_merchant(),
                &new,
                tongka_domain::UnixMillis::now(),
            )
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn staff_sign_in_by_token_or_cookie_and_sign_out() {
        let (app, directory, _dir) = app().await;
        cashier(&directory);
        let request = r#"{"username":"XiaoWang","password":"till-password"}"#;
        let login = Request::post("/api/v1/sessions")
            .header("content-type", "application/json")
            .body(Body::from(request))
            .unwrap();
        let response = app.clone().oneshot(login).await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let cookie = response
            .headers()
            .get(header::SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        for attribute in ["HttpOnly", "Secure", "SameSite=Strict"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(response.into_body(), 4096).await.unwrap()).unwrap();
        let token = body["token"].as_str().unwrap().to_owned();
        assert!(cookie.contains(&token));
        assert_eq!(body["staff"]["username"], "xiaowang");
        assert_eq!(body["staff"]["role"], "cashier");
        assert!(
            body["expires_at"].as_str().unwrap().ends_with('Z'),
            "{body}"
        );

        let bearer = format!("Bearer {token}");
        let me = send(
            &app,
            Method::GET,
            "/api/v1/session",
            &[("authorization", &bearer)],
            "",
        )
        .await;
        assert_eq!(me.status, StatusCode::OK);
        assert_eq!(me.body["display_name"], "小王");
        let cookie_header = format!("theme=dark; tongka_session={token}");
        let me = send(
            &app,
            Method::GET,
            "/api/v1/session",
            &[("cookie", &cookie_header)],
            "",
        )
        .await;
        assert_eq!(me.status, StatusCode::OK);

        let out = send(
            &app,
            Method::DELETE,
            "/api/v1/session",
            &[("authorization", &bearer)],
            "",
        )
        .await;
        assert_eq!(out.status, StatusCode::NO_CONTENT);
        let me = send(
            &app,
            Method::GET,
            "/api/v1/session",
            &[("authorization", &bearer)],
            "",
        )
        .await;
        assert_eq!(me.status, StatusCode::UNAUTHORIZED);
        assert_eq!(me.body["code"], "unauthenticated");
        let none = send(&app, Method::GET, "/api/v1/session", &[], "").await;
        assert_eq!(none.body["code"], "unauthenticated");
    }

    #[tokio::test]
    async fn wrong_passwords_are_refused_then_locked_out() {
        let (app, directory, _dir) = app().await;
        cashier(&directory);
        let attempt = |password: &'static str| {
            let app = app.clone();
            async move {
                let body = format!(r#"{{"username":"xiaowang","password":"{password}"}}"#);
                post_to(&app, "/api/v1/sessions", &body).await
            }
        };
        let unknown = post_to(
            &app,
            "/api/v1/sessions",
            r#"{"username":"nobody","password":"till-password"}"#,
        )
        .await;
        assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
        assert_eq!(unknown.body["code"], "login_failed");
        let wrong = attempt("guess-one").await;
        assert_eq!(
            (wrong.status, &wrong.body["code"]),
            (StatusCode::UNAUTHORIZED, &"login_failed".into())
        );
        // The second failure reaches this test's limit of two.
        let locked = attempt("guess-two").await;
        assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(locked.body["code"], "login_locked");
        let right = attempt("till-password").await;
        assert_eq!(
            right.body["code"], "login_locked",
            "locked even for the right password"
        );
    }

    async fn post_to(app: &Router, uri: &str, body: &str) -> Answer {
        send(
            app,
            Method::POST,
            uri,
            &[("content-type", "application/json")],
            body,
        )
        .await
    }

    #[tokio::test]
    async fn a_retried_write_with_its_key_runs_once_and_answers_the_same() {
        let (app, directory, _dir) = app().await;
        let boss = tongka_domain::NewStaff {
            department: None,
            username: "boss".into(),
            display_name: "老板".into(),
            role: tongka_domain::Role::HqAdmin,
            scope: tongka_domain::Scope::AllStores,
            password: "a long secret".into(),
        };
        directory
            .create_staff(
                directory.first_merchant(),
                &boss,
                tongka_domain::UnixMillis::now(),
            )
            .unwrap()
            .unwrap();
        let login = post_to(
            &app,
            "/api/v1/sessions",
            r#"{"username":"boss","password":"a long secret"}"#,
        )
        .await;
        let bearer = format!("Bearer {}", login.body["token"].as_str().unwrap());
        let store = |code: &str| {
            format!(
                r#"{{"code":"{code}","name":"店","kind":"direct","opened_on":"2024-05-01","time_zone":"Asia/Shanghai"}}"#
            )
        };
        let create = |key: &'static str, body: String| {
            let (app, bearer) = (app.clone(), bearer.clone());
            async move {
                let request = Request::post("/api/v1/stores")
                    .header("content-type", "application/json")
                    .header("authorization", bearer)
                    .header("idempotency-key", key)
                    .body(Body::from(body))
                    .unwrap();
                let response = app.oneshot(request).await.unwrap();
                let replayed = response.headers().contains_key("idempotent-replayed");
                let status = response.status();
                let bytes = to_bytes(response.into_body(), 4096).await.unwrap();
                (
                    status,
                    replayed,
                    serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
                )
            }
        };
        let (status, replayed, first) = create("order-1", store("SH-1")).await;
        assert_eq!((status, replayed), (StatusCode::CREATED, false), "{first}");
        let (status, replayed, again) = create("order-1", store("SH-1")).await;
        assert_eq!((status, replayed), (StatusCode::CREATED, true), "{again}");
        assert_eq!(again, first, "the same store, not a second one");
        let (status, _, problem) = create("order-1", store("SH-2")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(problem["code"], "idempotency_key_reused");
        let (status, _, problem) = create("bad key", store("SH-3")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(problem["code"], "invalid_idempotency_key");
        // Without a key, the same body is a new request: here, a duplicate code.
        let plain = send(
            &app,
            Method::POST,
            "/api/v1/stores",
            &[
                ("content-type", "application/json"),
                ("authorization", &bearer),
            ],
            &store("SH-1"),
        )
        .await;
        assert_eq!(plain.body["code"], "store_code_taken");
        let stores = send(
            &app,
            Method::GET,
            "/api/v1/stores",
            &[("authorization", &bearer)],
            "",
        )
        .await;
        assert_eq!(stores.body.as_array().unwrap().len(), 1);
    }

    /// Every route the API serves is in the document, and every operation in it is served.
    #[tokio::test]
    async fn the_openapi_document_and_the_routes_agree() {
        let (app, _directory, _dir) = app().await;
        let answer = send(&app, Method::GET, "/api/v1/openapi.json", &[], "").await;
        assert_eq!(answer.status, StatusCode::OK);
        let doc = answer.body;
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1"),
            "{}",
            doc["openapi"]
        );
        let mut documented: Vec<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(move |method| (method.clone(), path.clone()))
            })
            .collect();
        documented.sort();
        let mut expected: Vec<(String, String)> = [
            ("get", "/api/v1/health"),
            ("post", "/api/v1/sessions"),
            ("get", "/api/v1/session"),
            ("delete", "/api/v1/session"),
            ("post", "/api/v1/stores"),
            ("get", "/api/v1/stores"),
            ("get", "/api/v1/stores/{id}"),
            ("put", "/api/v1/stores/{id}/top-up-approval"),
            ("post", "/api/v1/staff"),
            ("get", "/api/v1/staff"),
            ("get", "/api/v1/audit"),
            ("post", "/api/v1/terminals"),
            ("get", "/api/v1/terminals"),
            ("delete", "/api/v1/terminals/{id}"),
            ("get", "/api/v1/terminal"),
            ("post", "/api/v1/members"),
            ("get", "/api/v1/members"),
            ("get", "/api/v1/members/{id}"),
            ("patch", "/api/v1/members/{id}"),
            ("put", "/api/v1/members/{id}/frozen"),
            ("put", "/api/v1/members/{id}/tier"),
            ("get", "/api/v1/members/{id}/tier-history"),
            ("get", "/api/v1/members/{id}/points-expiry"),
            ("post", "/api/v1/members/{id}/cards"),
            ("post", "/api/v1/members/{id}/cards/{number}/lost"),
            ("post", "/api/v1/members/{id}/cards/{number}/reissue"),
            ("get", "/api/v1/cards/{number}"),
            ("post", "/api/v1/members/{id}/merge"),
            ("delete", "/api/v1/members/{id}/personal-data"),
            ("get", "/api/v1/members/{id}/export"),
            ("get", "/api/v1/members/export.csv"),
            ("post", "/api/v1/members/import"),
            ("post", "/api/v1/members/{id}/service-records"),
            ("get", "/api/v1/members/{id}/service-records"),
            ("post", "/api/v1/members/{id}/service-records/{number}/done"),
            ("get", "/api/v1/follow-ups"),
            ("get", "/api/v1/tiers"),
            ("post", "/api/v1/tiers"),
            ("put", "/api/v1/tiers/{id}"),
            ("get", "/api/v1/custom-fields"),
            ("get", "/api/v1/merchant"),
            ("put", "/api/v1/merchant"),
            ("post", "/api/v1/departments"),
            ("get", "/api/v1/departments"),
            ("post", "/api/v1/custom-fields"),
            ("post", "/api/v1/stores/{id}/pairings"),
            ("post", "/api/v1/pairings"),
            ("post", "/api/v1/plugins"),
            ("get", "/api/v1/plugins"),
            ("get", "/api/v1/plugins/{id}"),
            ("patch", "/api/v1/plugins/{id}"),
            ("delete", "/api/v1/plugins/{id}"),
            ("post", "/api/v1/plugins/{id}/trial"),
            ("get", "/api/v1/plugin-routes"),
            ("put", "/api/v1/plugin-routes/{hook}"),
            ("post", "/api/v1/till/quote"),
            ("post", "/api/v1/till/checkouts"),
            ("post", "/api/v1/till/top-ups"),
            ("post", "/api/v1/till/points-conversions"),
            ("post", "/api/v1/till/gift-redemptions"),
            ("post", "/api/v1/till/tier-upgrades"),
            ("get", "/api/v1/gifts"),
            ("post", "/api/v1/gifts"),
            ("patch", "/api/v1/gifts/{id}"),
            ("post", "/api/v1/till/refunds"),
            ("get", "/api/v1/till/orders/{order}"),
            ("post", "/api/v1/till/members"),
            ("get", "/api/v1/till/members"),
            ("get", "/api/v1/reports/settlement"),
            ("get", "/api/v1/reports/commission"),
            ("post", "/api/v1/daily-run"),
            ("get", "/api/v1/commission-rules"),
            ("put", "/api/v1/commission-rules"),
        ]
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
        expected.sort();
        assert_eq!(documented, expected);
        for (method, path) in &documented {
            let uri = path
                .replace("{id}", &"0".repeat(32))
                .replace("{number}", "1")
                .replace("{hook}", "refund");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let answer = send(&app, method.clone(), &uri, &[], "").await;
            assert!(
                answer.status != StatusCode::NOT_FOUND
                    && answer.status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {uri} is documented but not served: {}",
                answer.status
            );
        }
        assert!(doc["components"]["schemas"]["Problem"].is_object());
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
        the_operations_are_well_formed(&doc);
    }

    /// What a generator in any language needs: an operation id each, unique; path parameters
    /// that are exactly the template's; everything else in the query or a header.
    fn the_operations_are_well_formed(doc: &serde_json::Value) {
        let mut ids = std::collections::BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let id = operation["operationId"].as_str().unwrap_or_default();
                assert!(
                    !id.is_empty() && ids.insert(id.to_owned()),
                    "{method} {path}: operation id `{id}` missing or taken"
                );
                let mut in_path: Vec<&str> = Vec::new();
                for parameter in operation["parameters"].as_array().into_iter().flatten() {
                    let name = parameter["name"].as_str().unwrap();
                    match parameter["in"].as_str().unwrap() {
                        "path" => in_path.push(name),
                        "query" => assert!(
                            !path.contains(&format!("{{{name}}}")),
                            "{method} {path}: `{name}` is in the path, not the query"
                        ),
                        "header" => {}
                        other => panic!("{method} {path}: `{name}` in {other}"),
                    }
                }
                let mut template: Vec<&str> = path
                    .split('{')
                    .skip(1)
                    .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
                    .collect();
                in_path.sort_unstable();
                template.sort_unstable();
                assert_eq!(in_path, template, "{method} {path}: path parameters");
            }
        }
    }

    /// `docs/openapi.json` is the document this box serves: vendors generate clients from the
    /// file, and `tongka-client` is generated from it. `cargo xtask codegen` rewrites it.
    #[test]
    fn the_published_document_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
        let current = openapi().to_pretty_json().unwrap() + "\n";
        let published = std::fs::read_to_string(&path).unwrap_or_default();
        if published == current {
            return;
        }
        if std::env::var_os("TONGKA_CODEGEN").is_some() {
            std::fs::write(&path, current).unwrap();
            return;
        }
        panic!(
            "docs/openapi.json is not the API this code serves: run `cargo xtask codegen` and \
             commit the result"
        );
    }

    #[tokio::test]
    async fn each_caller_has_its_own_request_budget() {
        let (_, _, dir) = app().await;
        let limits = Limits {
            requests_per_second: 1,
            request_burst: 3,
            ..Limits::default()
        };
        std::fs::create_dir(dir.path().join("own")).unwrap();
        let app = router(AppState::new(
            "9.9.9",
            limits,
            members(&dir.path().join("own")).await,
            plugins(&dir.path().join("own")),
        ));
        let as_caller = |token: &'static str| {
            let app = app.clone();
            async move {
                send(
                    &app,
                    Method::GET,
                    "/api/v1/health",
                    &[("authorization", token), ("accept-language", "en")],
                    "",
                )
                .await
            }
        };
        for _ in 0..3 {
            assert_eq!(as_caller("Bearer till-1").await.status, StatusCode::OK);
        }
        let request = Request::get("/api/v1/health")
            .header("authorization", "Bearer till-1")
            .header("accept-language", "en")
            .body(Body::empty())
            .unwrap();
        let refused = app.clone().oneshot(request).await.unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = refused.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=2).contains(&retry_after), "{retry_after}");
        let body = to_bytes(refused.into_body(), 4096).await.unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["code"], "rate_limited");
        assert_eq!(problem["title"], "Too many requests; slow down");
        // Another till is not held up by the first.
        assert_eq!(as_caller("Bearer till-2").await.status, StatusCode::OK);
    }
}
