//! What one hook call costs: the example scheme's `quote-checkout` on a pre-instantiated plugin,
//! p50 / p99 / max over many calls on one thread, then calls per second with every core calling;
//! and the load times, cold (compiling) and from the compiled cache (a restart).
//!
//! `cargo xtask bench` runs it after building the plugins; alone:
//! `cargo run --release -p tongka-plugin-host --example hook_bench -- [--calls N] [--component PATH]
//! [--config JSON]` (the settings the component is loaded with; the example scheme's by default).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tongka_plugin_host::manifest::{self, Manifest};
use tongka_plugin_host::{
    Checkout, Date, Host, HostOptions, LineFlags, LocalTime, MemberStats, MemberSummary, MemoryKv,
    OrderLine, StoreInfo, StoreKind, TierInfo, World,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let calls: usize = std::env::args()
        .skip_while(|a| a != "--calls")
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(20_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Another scheme's component (say, plugins/c-scheme built by clang) with `--component PATH`.
    let wasm = std::env::args()
        .skip_while(|a| a != "--component")
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target/plugins/wasm32-wasip2/release/example_scheme.wasm"));
    let component = std::fs::read(&wasm).map_err(|e| {
        format!(
            "{}: {e} (build the plugins: cargo xtask bench)",
            wasm.display()
        )
    })?;
    let config = std::env::args()
        .skip_while(|a| a != "--config")
        .nth(1)
        .unwrap_or_else(|| r#"{"points_per_yuan": 1}"#.to_owned());
    let manifest = Manifest::new("example", "1.0.0", World::LoyaltyScheme);
    let packed = manifest::pack(&component, &manifest)?;
    let cache = std::env::temp_dir().join(format!("tongka-hook-bench-{}", std::process::id()));
    let options = HostOptions {
        cache_dir: Some(cache.clone()),
        ..HostOptions::default()
    };

    let started = Instant::now();
    let cold = Host::new(options.clone(), Arc::new(MemoryKv::default()))?;
    cold.load(&packed, &[], &config)?;
    let cold_load = started.elapsed();
    drop(cold);
    let started = Instant::now();
    let host = Arc::new(Host::new(options, Arc::new(MemoryKv::default()))?);
    host.load(&packed, &[], &config)?;
    let warm_load = started.elapsed();

    let order = checkout();
    for _ in 0..1_000 {
        host.quote_checkout("example", &order)?;
    }
    let mut times = Vec::with_capacity(calls);
    let mut fuel = 0;
    for _ in 0..calls {
        let started = Instant::now();
        let answer = host.quote_checkout("example", &order)?;
        times.push(started.elapsed());
        fuel = answer.fuel_used;
    }
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];

    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let window = Duration::from_secs(2);
    let started = Instant::now();
    let done: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (host, order) = (Arc::clone(&host), order.clone());
                scope.spawn(move || {
                    let mut n = 0;
                    while started.elapsed() < window {
                        if host.quote_checkout("example", &order).is_ok() {
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    let rate = done as f64 / started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&cache);

    println!(
        "load, compiling (cold):          {:>9.1} ms",
        cold_load.as_secs_f64() * 1e3
    );
    println!(
        "load, from the compiled cache:   {:>9.1} ms",
        warm_load.as_secs_f64() * 1e3
    );
    println!(
        "quote-checkout, {calls} calls, one thread: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs ({fuel} fuel a call)",
        at(0.50).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        times[times.len() - 1].as_secs_f64() * 1e6,
    );
    println!("quote-checkout, {threads} threads: {rate:.0} calls/s");
    Ok(())
}

fn checkout() -> Checkout {
    let date = Date {
        year: 2026,
        month: 11,
        day: 23,
    };
    Checkout {
        order: "bench".into(),
        member: MemberSummary {
            id: "m".into(),
            tier: Some(TierInfo {
                id: "gold".into(),
                name: "金卡".into(),
                rank: 2,
                discount_rate_bp: 9_500,
                points_per_yuan_bp: 15_000,
            }),
            tags: vec!["VIP".into()],
            birthday: Some(Date {
                year: 1990,
                month: 2,
                day: 28,
            }),
            joined_on: date,
            home_store: Some("s".into()),
            referrer: None,
            points: 1_000,
            stored_value_fen: 50_000,
            stats: MemberStats {
                total_spend_fen: 1_000_000,
                visits: 42,
                last_visit: Some(date),
            },
        },
        store: StoreInfo {
            id: "s".into(),
            code: "SH-1".into(),
            kind: StoreKind::Direct,
        },
        at: LocalTime {
            date,
            hour: 12,
            minute: 0,
            second: 0,
            utc_offset_minutes: 480,
        },
        // A basket of eight lines.
        lines: (1..=8)
            .map(|line| OrderLine {
                line,
                sku: format!("SKU-{line}"),
                category: "grocery".into(),
                quantity_milli: 1_000 * line,
                unit_price_fen: 199 * i64::from(line),
                flags: if line == 8 {
                    LineFlags::NO_POINTS
                } else {
                    LineFlags::empty()
                },
            })
            .collect(),
    }
}
