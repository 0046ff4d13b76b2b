//! An SMS notifier: posts `{"phone": …, "text": …}` to the `endpoint` in its configuration and
//! answers the provider's message id, read from `{"id": "…"}`. A 4xx answer is a bad recipient,
//! anything else a provider failure worth retrying.

wit_bindgen::generate!({ path: "../../plugin-sdk/wit", world: "notifier" });

use exports::tongka::plugin::notify::{Guest, Outgoing, SendError};
use tongka::plugin::{config, outbound_http};

struct Sms;

/// The string value of `"name"` in a flat JSON object, unescaped only for `\"` and `\\`.
fn json_string(json: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\"");
    let rest = json.split(key.as_str()).nth(1)?.trim_start();
    let rest = rest.strip_prefix(':')?.trim_start().strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => value.push(chars.next()?),
            c => value.push(c),
        }
    }
    None
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

impl Guest for Sms {
    fn send(message: Outgoing) -> Result<String, SendError> {
        let settings = config::get();
        let endpoint = json_string(&settings, "endpoint")
            .ok_or_else(|| SendError::Misconfigured("endpoint".into()))?;
        if message.phone.len() != 11 || !message.phone.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SendError::BadRecipient(message.phone));
        }
        let sign = json_string(&settings, "sign").unwrap_or_default();
        let text = if sign.is_empty() {
            message.text
        } else {
            format!("【{sign}】{}", message.text)
        };
        let body = format!(
            "{{\"phone\":\"{}\",\"text\":\"{}\"}}",
            message.phone,
            escape(&text)
        );
        let request = outbound_http::Request {
            method: "POST".into(),
            url: endpoint,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into_bytes(),
        };
        let response = match outbound_http::send(&request) {
            Ok(response) => response,
            Err(outbound_http::HttpError::Denied(host)) => {
                return Err(SendError::Misconfigured(format!(
                    "{host} is not a granted host"
                )));
            }
            Err(outbound_http::HttpError::Failed(why)) => return Err(SendError::Provider(why)),
        };
        let answer = String::from_utf8_lossy(&response.body).into_owned();
        match response.status {
            200..=299 => json_string(&answer, "id")
                .ok_or_else(|| SendError::Provider(format!("no message id in {answer}"))),
            400..=499 => Err(SendError::BadRecipient(answer)),
            status => Err(SendError::Provider(format!("HTTP {status}: {answer}"))),
        }
    }
}

export!(Sms);
