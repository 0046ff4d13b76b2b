//! One call of any hook with its input as JSON, the answer as JSON: what `tongka-plugin test`
//! runs fixtures with, and what the box's API offers a merchant to try a plugin's settings on a
//! sample order before routing real ones to it.

use serde::Deserialize;

use crate::{
    CallError, Checkout, CommittedCheckout, Date, Host, LocalTime, MemberSummary, Outgoing,
    RefundOrder, SettlementEntry, TopUpOrder, UsbDevice,
};

/// Every hook a trial can call: the scheme's, then the other worlds'.
pub const HOOKS: &[&str] = &[
    "quote-checkout",
    "commit-checkout",
    "top-up",
    "member-joined",
    "refund",
    "daily-tick",
    "send",
    "statements",
    "matches",
    "decode",
    "encode-receipt",
];

/// What a call answered, as JSON (a scheme's effects, or another world's answer), with its cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub value: serde_json::Value,
    pub fuel_used: u64,
    pub micros: u64,
}

/// Why a trial gave no outcome: its request, or the plugin.
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    #[error("unknown hook `{0}`")]
    UnknownHook(String),
    #[error("the input does not fit {hook}: {why}")]
    Input { hook: String, why: String },
    #[error(transparent)]
    Call(#[from] CallError),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Joined {
    member: MemberSummary,
    at: LocalTime,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tick {
    member: MemberSummary,
    today: Date,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Period {
    start: Date,
    end: Date,
    entries: Vec<SettlementEntry>,
}

/// Bytes: a string (its UTF-8) or a list of numbers.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Bytes {
    Text(String),
    Raw(Vec<u8>),
}

fn outcome<T: serde::Serialize>(
    value: &T,
    fuel_used: u64,
    duration: std::time::Duration,
) -> Outcome {
    Outcome {
        value: serde_json::to_value(value).unwrap_or_default(),
        fuel_used,
        micros: u64::try_from(duration.as_micros()).unwrap_or(u64::MAX),
    }
}

/// Calls `hook` of plugin `id` with `input`, shaped as the hook's WIT arguments in JSON
/// (`snake_case` fields, `UpperCamelCase` cases; see docs/plugins.md).
pub fn call(
    host: &Host,
    id: &str,
    hook: &str,
    input: serde_json::Value,
) -> Result<Outcome, TrialError> {
    fn parse<T: serde::de::DeserializeOwned>(
        hook: &str,
        input: serde_json::Value,
    ) -> Result<T, TrialError> {
        serde_json::from_value(input).map_err(|e| TrialError::Input {
            hook: hook.to_owned(),
            why: e.to_string(),
        })
    }
    let scheme = |answer: Result<crate::Answer, CallError>| {
        answer.map(|a| outcome(&a.effects, a.fuel_used, a.duration))
    };
    fn reply<T: serde::Serialize>(
        r: Result<crate::Reply<T>, CallError>,
    ) -> Result<Outcome, CallError> {
        r.map(|r| outcome(&r.value, r.fuel_used, r.duration))
    }
    let result = match hook {
        "quote-checkout" => scheme(host.quote_checkout(id, &parse::<Checkout>(hook, input)?)),
        "commit-checkout" => {
            scheme(host.commit_checkout(id, &parse::<CommittedCheckout>(hook, input)?))
        }
        "top-up" => scheme(host.top_up(id, &parse::<TopUpOrder>(hook, input)?)),
        "member-joined" => {
            let joined: Joined = parse(hook, input)?;
            scheme(host.member_joined(id, &joined.member, joined.at))
        }
        "refund" => scheme(host.refund(id, &parse::<RefundOrder>(hook, input)?)),
        "daily-tick" => {
            let tick: Tick = parse(hook, input)?;
            scheme(host.daily_tick(id, &tick.member, tick.today))
        }
        "send" => reply(host.send_message(id, &parse::<Outgoing>(hook, input)?)),
        "statements" => {
            let period: Period = parse(hook, input)?;
            reply(host.statements(id, (period.start, period.end), &period.entries))
        }
        "matches" => reply(host.driver_matches(id, &parse::<UsbDevice>(hook, input)?)),
        "decode" => {
            let bytes = match parse::<Bytes>(hook, input)? {
                Bytes::Text(text) => text.into_bytes(),
                Bytes::Raw(bytes) => bytes,
            };
            reply(host.driver_decode(id, &bytes))
        }
        "encode-receipt" => {
            let lines: Vec<String> = parse(hook, input)?;
            reply(host.driver_encode_receipt(id, &lines))
        }
        other => return Err(TrialError::UnknownHook(other.to_owned())),
    };
    Ok(result?)
}

/// A short name for each kind of call failure, as fixtures and the API's problems say it.
pub fn error_kind(error: &CallError) -> &'static str {
    match error {
        CallError::NotLoaded(_) => "not-loaded",
        CallError::OutOfFuel { .. } => "out-of-fuel",
        CallError::Deadline { .. } => "deadline",
        CallError::Memory { .. } => "memory",
        CallError::Trap { .. } => "trap",
        CallError::CapabilityDenied { .. } => "capability-denied",
        CallError::EffectNotAllowed { .. } => "effect-not-allowed",
        CallError::Declined { .. } => "declined",
        CallError::Malformed { .. } => "malformed",
        CallError::WrongWorld { .. } => "wrong-world",
        CallError::Instantiate { .. } => "instantiate",
    }
}
