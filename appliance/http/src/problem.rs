//! Errors as RFC 9457 problem documents, in the caller's language.
//!
//! Every error the API answers is an [`ApiError`]: an HTTP status, a stable machine `code` that
//! clients branch on, a title and a detail in Chinese and English, and the request field at fault
//! if there is one. The body is rendered by [`localize`], which knows the request's
//! `Accept-Language` (zh-CN unless the caller prefers English); an `ApiError` rendered outside it
//! comes out in Chinese.

use std::borrow::Cow;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A language the box speaks. Chinese first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    ZhCn,
    En,
}

impl Lang {
    /// The best of ours for an `Accept-Language` header: the highest-weighted range that is
    /// Chinese or English; Chinese when nothing matches or the header is absent or unreadable.
    pub fn negotiate(accept_language: Option<&str>) -> Lang {
        let Some(header) = accept_language else {
            return Lang::ZhCn;
        };
        let mut best: Option<(u16, Lang)> = None;
        for range in header.split(',') {
            let mut parts = range.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let weight = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1000), parse_weight);
            let (Some(weight), Some(lang)) = (weight, Lang::of_tag(&tag)) else {
                continue;
            };
            // The first of equal weights wins, as the header lists preferences in order.
            if weight > 0 && best.is_none_or(|(w, _)| weight > w) {
                best = Some((weight, lang));
            }
        }
        best.map_or(Lang::ZhCn, |(_, lang)| lang)
    }

    fn of_tag(tag: &str) -> Option<Lang> {
        let primary = tag.split('-').next().unwrap_or("");
        match primary {
            "zh" => Some(Lang::ZhCn),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn tag(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }
}

/// A quality value (`0` to `1`, at most three decimals) in thousandths.
fn parse_weight(text: &str) -> Option<u16> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u16 = match whole {
        "0" => 0,
        "1" => 1,
        _ => return None,
    };
    let fraction: u16 = format!("{fraction:0<3}").parse().ok()?;
    let weight = whole * 1000 + fraction;
    (weight <= 1000).then_some(weight)
}

/// Text in both of the box's languages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    pub zh: Cow<'static, str>,
    pub en: Cow<'static, str>,
}

impl Text {
    pub fn new(zh: impl Into<Cow<'static, str>>, en: impl Into<Cow<'static, str>>) -> Text {
        Text {
            zh: zh.into(),
            en: en.into(),
        }
    }

    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::ZhCn => &self.zh,
            Lang::En => &self.en,
        }
    }
}

/// An error answer. Its `code` is part of the API: never renamed once released. Boxed: it travels
/// in every handler's `Result`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError(Box<Problem>);

/// What an [`ApiError`] says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    /// The same for every occurrence of this code.
    pub title: Text,
    /// This occurrence.
    pub detail: Option<Text>,
    /// The request field at fault, as a path: `phone`, `cards[0].number`.
    pub field: Option<String>,
    /// Extension members (RFC 9457 §3.2): what the client needs to act, such as the new quote
    /// on a stale one.
    pub members: Vec<(&'static str, serde_json::Value)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, title: Text) -> ApiError {
        ApiError(Box::new(Problem {
            status,
            code,
            title,
            detail: None,
            field: None,
            members: Vec::new(),
        }))
    }

    /// Adds an extension member to the problem body.
    pub fn with_member(mut self, name: &'static str, value: serde_json::Value) -> ApiError {
        self.0.members.push((name, value));
        self
    }

    pub fn with_detail(mut self, detail: Text) -> ApiError {
        self.0.detail = Some(detail);
        self
    }

    pub fn with_field(mut self, field: impl Into<String>) -> ApiError {
        self.0.field = Some(field.into());
        self
    }

    /// This occurrence's detail, in `lang`.
    pub fn detail(&self, lang: Lang) -> Option<&str> {
        self.0.detail.as_ref().map(|d| d.get(lang))
    }

    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// 422: a field's value is not acceptable; `detail` says what would be.
    pub fn invalid_field(field: &str, detail: Text) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Text::new("字段的值不正确", "A field has an invalid value"),
        )
        .with_detail(detail)
        .with_field(field)
    }

    /// 401: no valid credentials.
    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            Text::new("请先登录", "Sign in first"),
        )
    }

    /// 403: signed in, but the role may not.
    pub fn forbidden() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            Text::new("您的角色无权执行此操作", "Your role may not do this"),
        )
    }

    pub fn body_too_large() -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            Text::new("请求体过大", "The request body is too large"),
        )
    }

    /// 422: a request names a store that does not exist.
    pub fn unknown_store(field: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_store",
            Text::new("门店不存在", "No such store"),
        )
        .with_field(field)
    }

    pub fn not_found() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            Text::new("没有这个资源", "No such resource"),
        )
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            Text::new(
                "此资源不支持该请求方法",
                "This resource does not accept that method",
            ),
        )
    }

    pub fn timeout() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            Text::new(
                "处理超时，请稍后重试",
                "The request took too long; try again later",
            ),
        )
    }

    /// A bug on our side. Its details go to the log, never to the caller.
    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            Text::new("系统内部错误，已记录", "Internal error; it has been logged"),
        )
    }

    fn body(&self, lang: Lang) -> ProblemBody<'_> {
        let problem = &self.0;
        ProblemBody {
            r#type: format!("urn:tongka:problem:{}", problem.code),
            title: problem.title.get(lang),
            status: problem.status.as_u16(),
            detail: problem.detail.as_ref().map(|d| d.get(lang)),
            code: problem.code,
            field: problem.field.as_deref(),
            members: problem.members.iter().map(|(k, v)| (*k, v)).collect(),
        }
    }

    fn render(&self, lang: Lang) -> Response {
        let mut response = (
            self.0.status,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/problem+json"),
                ),
                (
                    header::CONTENT_LANGUAGE,
                    HeaderValue::from_static(lang.tag()),
                ),
            ],
            axum::Json(self.body(lang)),
        )
            .into_response();
        // Kept for `localize`, which renders it again in the caller's language.
        response.extensions_mut().insert(self.clone());
        response
    }
}

/// The problem body's shape, for the OpenAPI document.
#[derive(Debug, utoipa::ToSchema)]
#[schema(as = Problem)]
#[allow(dead_code)]
pub struct ProblemDoc {
    /// `urn:tongka:problem:{code}`.
    r#type: String,
    /// The same for every occurrence of the code, in the caller's language.
    title: String,
    status: u16,
    /// This occurrence, in the caller's language.
    detail: Option<String>,
    /// Stable: clients branch on it.
    code: String,
    /// The request field at fault, as a path such as `cards[0].number`.
    field: Option<String>,
}

#[derive(Debug, Serialize)]
struct ProblemBody<'a> {
    r#type: String,
    title: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(flatten)]
    members: std::collections::BTreeMap<&'static str, &'a serde_json::Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.render(Lang::ZhCn)
    }
}

/// Middleware: renders any `ApiError` answer in the language the request asked for.
pub async fn localize(request: Request, next: Next) -> Response {
    let lang = Lang::negotiate(
        request
            .headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    let response = next.run(request).await;
    if lang == Lang::ZhCn {
        return response;
    }
    let Some(error) = response.extensions().get::<ApiError>() else {
        return response;
    };
    let mut rendered = error.render(lang);
    // Headers set beside the problem (Retry-After, Set-Cookie…) stay.
    for (name, value) in response.headers() {
        if ![
            header::CONTENT_TYPE,
            header::CONTENT_LENGTH,
            header::CONTENT_LANGUAGE,
        ]
        .contains(name)
        {
            rendered.headers_mut().append(name.clone(), value.clone());
        }
    }
    rendered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callers_language_by_weight_chinese_by_default() {
        let cases = [
            (None, Lang::ZhCn),
            (Some(""), Lang::ZhCn),
            (Some("en"), Lang::En),
            (Some("en-US,en;q=0.9"), Lang::En),
            (Some("zh-CN,zh;q=0.9,en;q=0.8"), Lang::ZhCn),
            (Some("fr, en;q=0.5"), Lang::En),
            (Some("en;q=0.4, zh-TW;q=0.6"), Lang::ZhCn),
            (Some("de, fr;q=0.8"), Lang::ZhCn),
            (Some("en;q=0, zh;q=0.1"), Lang::ZhCn),
            (Some("EN-gb"), Lang::En),
            // Unreadable weights are ignored, not guessed.
            (Some("en;q=2, zh;q=0.5"), Lang::ZhCn),
            (Some("en;q=abc"), Lang::ZhCn),
            (Some("*"), Lang::ZhCn),
        ];
        for (header, expected) in cases {
            assert_eq!(Lang::negotiate(header), expected, "{header:?}");
        }
    }
}
