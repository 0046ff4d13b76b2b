//! Tongka's HTTP API: routes, JSON bodies and problem errors. It holds no business rules; it
//! translates HTTP to calls on the layers below and their answers back to HTTP.
//!
//! For now it serves `GET /api/v1/health`; the resources of the box come with the members API.

pub mod tls;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

/// What the API needs from the box to answer.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The box's version, as `tongka --version` prints it.
    pub version: &'static str,
}

/// The API's router, without a listener: the binary serves it, tests call it in-process.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .fallback(not_found)
        .with_state(state)
}

#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
}

async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: state.version,
    })
}

/// An RFC 9457 problem body with a stable machine `code`.
#[derive(Debug, Serialize)]
struct Problem {
    r#type: &'static str,
    title: &'static str,
    status: u16,
    code: &'static str,
}

async fn not_found() -> Response {
    let problem = Problem {
        r#type: "about:blank",
        title: "没有这个资源 / No such resource",
        status: StatusCode::NOT_FOUND.as_u16(),
        code: "not_found",
    };
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/problem+json")],
        Json(problem),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get_json(uri: &str) -> (StatusCode, Option<String>, serde_json::Value) {
        let app = router(AppState { version: "9.9.9" });
        let response = app
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = to_bytes(response.into_body(), 64 * 1024).await.unwrap();
        (status, content_type, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn health_reports_ok_and_the_version() {
        let (status, _, body) = get_json("/api/v1/health").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            serde_json::json!({"status": "ok", "version": "9.9.9"})
        );
    }

    #[tokio::test]
    async fn an_unknown_path_is_a_problem_not_an_empty_404() {
        let (status, content_type, body) = get_json("/api/v1/nothing-here").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(content_type.as_deref(), Some("application/problem+json"));
        assert_eq!(body["code"], "not_found");
        assert_eq!(body["status"], 404);
    }
}
