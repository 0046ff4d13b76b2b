//! Real components, built from `plugins/` for wasm32-wasip2, run in the real host: a well-behaved
//! scheme, and a plugin that misbehaves in every way a limit must stop. Each misbehaviour fails
//! its call with the right error naming the plugin, and the good plugin keeps answering.

use std::sync::Arc;
use std::time::Duration;

use tongka_plugin_host::manifest::{Manifest, RequestedLimits};
use tongka_plugin_host::{
    CallError, Capability, Checkout, Date, Effect, Host, HostOptions, LineFlags, LoadError,
    LocalTime, MemberStats, MemberSummary, MemoryKv, OrderLine, Party, PointsGrant, StoreInfo,
    StoreKind, World,
};

mod common;

use common::{component, packed};

fn manifest(id: &str, capabilities: Vec<Capability>, limits: RequestedLimits) -> Manifest {
    let mut manifest = common::scheme(id, "1.0.0", capabilities);
    manifest.limits = limits;
    manifest
}

fn host() -> Host {
    Host::new(HostOptions::default(), Arc::new(MemoryKv::default())).unwrap()
}

fn date(year: u16, month: u8, day: u8) -> Date {
    Date { year, month, day }
}

fn checkout(birthday: Option<Date>) -> Checkout {
    let line = |line: u32, price: i64, flags: LineFlags| OrderLine {
        line,
        sku: format!("SKU-{line}"),
        category: "food".into(),
        quantity_milli: 2_000,
        unit_price_fen: price,
        flags,
    };
    Checkout {
        order: "order-1".into(),
        member: MemberSummary {
            id: "m-1".into(),
            tier: None,
            tags: vec![],
            birthday,
            joined_on: date(2024, 1, 1),
            home_store: None,
            referrer: None,
            points: 0,
            stored_value_fen: 0,
            stats: MemberStats {
                total_spend_fen: 0,
                visits: 0,
                last_visit: None,
            },
        },
        store: StoreInfo {
            id: "s-1".into(),
            code: "SH-1".into(),
            kind: StoreKind::Direct,
        },
        at: LocalTime {
            date: date(2026, 11, 23),
            hour: 12,
            minute: 0,
            second: 0,
            utc_offset_minutes: 480,
        },
        // 2 × ¥25.50 earns; 2 × ¥100 is excluded from points.
        lines: vec![
            line(1, 2_550, LineFlags::empty()),
            line(2, 10_000, LineFlags::NO_POINTS),
        ],
    }
}

fn earned(effects: &[Effect]) -> i64 {
    effects
        .iter()
        .map(|e| match e {
            Effect::EarnPoints(PointsGrant {
                to: Party::Member,
                points,
                ..
            }) => *points,
            _ => 0,
        })
        .sum()
}

#[test]
fn the_example_scheme_earns_by_its_configuration() {
    let host = host();
    let mut example = manifest("example", vec![], RequestedLimits::default());
    example.config_schema = serde_json::json!({
        "type": "object",
        "required": ["points_per_yuan"],
        "properties": {"points_per_yuan": {"type": "integer", "minimum": 0, "maximum": 100}}
    });
    let component = packed("example_scheme", &example);
    host.load(&component, &[], r#"{"points_per_yuan": 2}"#)
        .unwrap();
    // ¥51 of lines that earn, 2 points a yuan.
    let answer = host.quote_checkout("example", &checkout(None)).unwrap();
    assert_eq!(earned(&answer.effects), 102);
    assert!(answer.fuel_used > 0);
    // On the member's birthday, doubled.
    let answer = host
        .quote_checkout("example", &checkout(Some(date(1990, 11, 23))))
        .unwrap();
    assert_eq!(earned(&answer.effects), 204);

    // A configuration the schema refuses never reaches the plugin.
    let refused = host.load(&component, &[], r#"{"points_per_yuan": 1000}"#);
    assert!(
        matches!(refused, Err(LoadError::Config { .. })),
        "{refused:?}"
    );
    let refused = host.load(&component, &[], r#"{"points_per_yuan": 1, "colour": 3}"#);
    assert!(matches!(refused, Err(LoadError::Config { .. })));
    // The loaded version kept serving.
    assert_eq!(
        earned(
            &host
                .quote_checkout("example", &checkout(None))
                .unwrap()
                .effects
        ),
        102
    );
}

#[test]
fn every_misbehaviour_fails_its_call_and_the_good_plugin_carries_on() {
    let host = host();
    let good = manifest("good", vec![], RequestedLimits::default());
    host.load(&packed("misbehave", &good), &[], r#"{"mode":"ok"}"#)
        .unwrap();
    let load =
        |id: &str, mode: &str, capabilities: Vec<Capability>, granted: &[Capability], limits| {
            let manifest = manifest(id, capabilities, limits);
            host.load(
                &packed("misbehave", &manifest),
                granted,
                &format!(r#"{{"mode":"{mode}"}}"#),
            )
            .unwrap();
        };
    let defaults = RequestedLimits::default();
    load("looper", "loop", vec![], &[], defaults);
    load(
        "slow-looper",
        "loop",
        vec![],
        &[],
        RequestedLimits {
            fuel: Some(2_000_000_000),
            deadline_ms: Some(30),
            memory_bytes: None,
        },
    );
    load("hoarder", "memory", vec![], &[], defaults);
    load("trapper", "trap", vec![], &[], defaults);
    load("panicker", "panic", vec![], &[], defaults);
    load("sneak", "kv", vec![Capability::Kv], &[], defaults);
    load("overreach", "effect", vec![], &[], defaults);
    load(
        "keeper",
        "kv",
        vec![Capability::Kv],
        &[Capability::Kv],
        defaults,
    );
    load("counter", "count", vec![], &[], defaults);

    let order = checkout(None);
    let good_answers = |host: &Host| {
        let answer = host.quote_checkout("good", &order).unwrap();
        assert_eq!(earned(&answer.effects), 2, "the good plugin answers");
    };
    good_answers(&host);

    let err = host.quote_checkout("looper", &order).unwrap_err();
    assert!(
        matches!(&err, CallError::OutOfFuel { plugin, .. } if plugin == "looper"),
        "{err}"
    );
    good_answers(&host);

    let started = std::time::Instant::now();
    let err = host.quote_checkout("slow-looper", &order).unwrap_err();
    assert!(
        matches!(&err, CallError::Deadline { plugin, deadline_ms: 30, .. } if plugin == "slow-looper"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "stopped near its deadline"
    );
    good_answers(&host);

    let err = host.quote_checkout("hoarder", &order).unwrap_err();
    assert!(
        matches!(&err, CallError::Memory { plugin, bytes, .. } if plugin == "hoarder" && *bytes == 32 << 20),
        "{err}"
    );
    good_answers(&host);

    let err = host.quote_checkout("trapper", &order).unwrap_err();
    assert!(
        matches!(&err, CallError::Trap { plugin, .. } if plugin == "trapper"),
        "{err}"
    );
    let err = host.quote_checkout("panicker", &order).unwrap_err();
    assert!(
        matches!(&err, CallError::Trap { plugin, message, .. } if plugin == "panicker" && message.contains("a plugin bug")),
        "the panic message comes through: {err}"
    );
    good_answers(&host);

    let err = host.quote_checkout("sneak", &order).unwrap_err();
    assert!(
        matches!(&err, CallError::CapabilityDenied { plugin, capability: "kv", .. } if plugin == "sneak"),
        "{err}"
    );
    host.quote_checkout("keeper", &order).unwrap();
    good_answers(&host);

    let err = host.quote_checkout("overreach", &order).unwrap_err();
    assert!(
        matches!(&err, CallError::EffectNotAllowed { plugin, .. } if plugin == "overreach"),
        "{err}"
    );
    good_answers(&host);

    // Nothing leaks between calls: each starts from a fresh instance.
    for _ in 0..3 {
        let answer = host.quote_checkout("counter", &order).unwrap();
        assert_eq!(earned(&answer.effects), 1);
    }
    assert!(matches!(
        host.quote_checkout("nobody", &order),
        Err(CallError::NotLoaded(_))
    ));
    // Seven misbehaving calls; a call to a plugin not loaded is not a plugin failure.
    assert_eq!(
        host.stats()
            .failures
            .load(std::sync::atomic::Ordering::Relaxed),
        7
    );
}

#[test]
fn a_restart_loads_from_the_compiled_cache_and_wrong_components_are_refused() {
    let cache = tempfile::tempdir().unwrap();
    let options = HostOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..HostOptions::default()
    };
    let cached = packed(
        "misbehave",
        &manifest("cached", vec![], RequestedLimits::default()),
    );
    let first = Host::new(options.clone(), Arc::new(MemoryKv::default())).unwrap();
    first.load(&cached, &[], r#"{"mode":"ok"}"#).unwrap();
    assert_eq!(
        first
            .stats()
            .compiled
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    drop(first);
    let second = Host::new(options, Arc::new(MemoryKv::default())).unwrap();
    second.load(&cached, &[], r#"{"mode":"ok"}"#).unwrap();
    assert_eq!(
        second
            .stats()
            .compiled
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert_eq!(
        second
            .stats()
            .cache_hits
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(
        earned(
            &second
                .quote_checkout("cached", &checkout(None))
                .unwrap()
                .effects
        ),
        2
    );

    // No manifest; a manifest for an API this box does not serve; a world it does not run.
    assert_eq!(
        second.load(&component("misbehave"), &[], "{}").unwrap_err(),
        LoadError::NoManifest
    );
    let mut future = manifest("future", vec![], RequestedLimits::default());
    future.api = "0.1.0".into();
    let mut bytes = packed("misbehave", &future);
    // Rewrite the packed api version in place: 0.1.0 → 0.9.0, same length.
    let at = bytes.windows(7).rposition(|w| w == b"\"0.1.0\"").unwrap();
    bytes[at + 3] = b'9';
    let err = second.load(&bytes, &[], "{}").unwrap_err();
    assert!(
        matches!(&err, LoadError::UnsupportedApi { found, .. } if found == "0.9.0"),
        "{err}"
    );
    assert!(err.to_string().contains("0.1.x"));
    let mut notifier = manifest("pretend-notifier", vec![], RequestedLimits::default());
    notifier.world = World::Notifier;
    let err = second
        .load(&packed("misbehave", &notifier), &[], "{}")
        .unwrap_err();
    assert!(matches!(err, LoadError::World { .. }), "{err}");
}
