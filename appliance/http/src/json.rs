//! JSON request bodies, refused with a problem that names the field at fault.
//!
//! [`ApiJson`] replaces axum's `Json` extractor for every request body: a missing or wrong
//! content type, a body over the size limit, malformed JSON, an unknown field, a wrong type or a
//! missing field each get their own `code`, before any handler runs.

use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::problem::{ApiError, Text};

/// A JSON body, deserialized strictly (request types deny unknown fields).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !has_content_type(request.headers(), "application/json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                Text::new(
                    "请求体须为 JSON（Content-Type: application/json）",
                    "The body must be JSON (Content-Type: application/json)",
                ),
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_refused)?;
        parse(&bytes).map(ApiJson)
    }
}

/// Whether the request's Content-Type is `mime` (parameters such as `charset` aside).
pub(crate) fn has_content_type(headers: &axum::http::HeaderMap, mime: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|found| found.trim().eq_ignore_ascii_case(mime))
}

/// The problem for a body that could not be read: too large, or broken.
pub(crate) fn body_refused(rejection: BytesRejection) -> ApiError {
    match rejection {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => {
            ApiError::body_too_large()
        }
        // The client went away or sent a broken body.
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            "body_unreadable",
            Text::new("无法读取请求体", "The request body could not be read"),
        ),
    }
}

/// Deserializes `bytes`, mapping each kind of failure to its problem.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Most bodies are good: parse them plainly, and only a refused one again, tracking the path
    // for the error: tracking it costs on every body.
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => invalid_field(&path, &inner),
            _ => malformed(&inner),
        }
    })?;
    // Trailing data after the value is malformed too.
    deserializer.end().map_err(|error| malformed(&error))?;
    Ok(value)
}

fn malformed(error: &serde_json::Error) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "malformed_json",
        Text::new(
            "请求体不是有效的 JSON",
            "The request body is not valid JSON",
        ),
    )
    .with_detail(Text::new(
        format!("第 {} 行第 {} 列", error.line(), error.column()),
        format!("at line {}, column {}", error.line(), error.column()),
    ))
}

fn invalid_field(path: &str, error: &serde_json::Error) -> ApiError {
    let message = error.to_string();
    // The path names the unknown field itself; the message says it is unknown.
    let unknown = message.starts_with("unknown field `");
    // The position is noise for a field error; the field says where.
    let reason = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(reason, _)| reason);
    let (code, title) = if unknown {
        (
            "unknown_field",
            Text::new("请求中有未知字段", "The request has an unknown field"),
        )
    } else {
        (
            "invalid_field",
            Text::new("字段的值不正确", "A field has an invalid value"),
        )
    };
    // `.` is the body itself: a missing field is reported on its parent, and named in the reason.
    let field = (!path.is_empty() && path != ".").then(|| path.to_owned());
    let error =
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, title).with_detail(Text::new(
            format!(
                "{}：{reason}",
                field
                    .as_deref()
                    .map_or("请求体".to_owned(), |f| format!("字段 {f}"))
            ),
            format!(
                "{}: {reason}",
                field
                    .as_deref()
                    .map_or("body".to_owned(), |f| format!("field {f}"))
            ),
        ));
    match field {
        Some(field) => error.with_field(field),
        None => error,
    }
}
