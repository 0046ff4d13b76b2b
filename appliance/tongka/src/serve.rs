//! `tongka serve`: opens the data folder, the TLS identity and the ledger, serves the API over
//! HTTPS (and plain HTTP on loopback if configured) until SIGTERM or Ctrl-C, then lets in-flight
//! requests finish (within the grace period) and closes the ledger.

use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tongka_http::space::SpaceGuard;
use tongka_http::tls::{HandshakeLimits, TlsListener};
use tongka_ledger::{Ledger, LedgerError};
use tongka_tls::Identity;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::exit::Exit;

const VERSION: &str = env!("CARGO_PKG_VERSION");
/// How often the data folder's free space is read: a write burst between two reads stays far
/// inside the reserve.
const SPACE_CHECK_EVERY: Duration = Duration::from_secs(1);

pub fn run(config: Config) -> Exit {
    init_tracing(&config.log.filter);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return Exit::Io;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => Exit::Success,
        Err(error) => {
            error!("{error:#}");
            eprintln!("启动失败 / tongka stopped: {error:#}");
            let ledger_in_use = matches!(
                error.downcast_ref::<LedgerError>(),
                Some(LedgerError::InUse)
            );
            let directory_in_use = matches!(
                error.downcast_ref::<tongka_domain::DomainError>(),
                Some(tongka_domain::DomainError::InUse)
            );
            if ledger_in_use || directory_in_use {
                Exit::InUse
            } else {
                Exit::Io
            }
        }
    }
}

/// Advertises the box on the LAN if configured. Discovery is a convenience: if it cannot start
/// (no multicast-capable interface), the box serves anyway and says so.
async fn advertise(
    config: &Config,
    merchant_name: &str,
    port: u16,
    fingerprint: &tongka_tls::Fingerprint,
) -> Option<tongka_discovery::Advertiser> {
    if !config.discovery.enabled {
        return None;
    }
    let box_id = match tongka_discovery::box_id(&config.box_id_path()) {
        Ok(id) => id,
        Err(error) => {
            warn!(%error, "not advertised on the LAN: no box id");
            return None;
        }
    };
    let advertisement = tongka_discovery::Advertisement {
        instance: merchant_name.to_owned(),
        box_id,
        port,
        fingerprint: fingerprint.0.iter().map(|b| format!("{b:02x}")).collect(),
    };
    let interfaces = config.discovery.interfaces();
    let started = tokio::task::spawn_blocking(move || {
        tongka_discovery::Advertiser::start(&advertisement, &interfaces)
    })
    .await;
    match started {
        Ok(Ok(advertiser)) => Some(advertiser),
        Ok(Err(error)) => {
            warn!(%error, "not advertised on the LAN");
            None
        }
        Err(error) => {
            warn!(%error, "not advertised on the LAN");
            None
        }
    }
}

/// Opens the plugin registry and loads every enabled plugin (from the compiled cache: a restart
/// does not recompile). A plugin that no longer loads is logged and left out; the box serves.
async fn open_plugins(
    config: &Config,
) -> anyhow::Result<std::sync::Arc<tongka_plugin_host::registry::Plugins>> {
    let dir = config.plugins_dir();
    let options = config.host_options();
    let opened = tokio::task::spawn_blocking(move || {
        tongka_plugin_host::registry::Plugins::open(&dir, options)
    })
    .await
    .context("the plugin loader stopped")?
    .context("cannot open the plugin registry")?;
    let (plugins, outcomes) = opened;
    for (id, outcome) in outcomes {
        match outcome {
            Ok(()) => info!(plugin = %id, "plugin serving"),
            Err(error) => error!(plugin = %id, %error, "plugin not loaded"),
        }
    }
    Ok(std::sync::Arc::new(plugins))
}

fn init_tracing(filter: &str) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| filter.to_owned());
    // The filter was validated with the configuration; RUST_LOG falls back to it if broken.
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // Validated with the configuration; read again here to have them typed.
    let plain_listen = config.http.plain_listen()?;
    let own_certificate = config.http.own_certificate()?;
    create_data_dir(&config.data_dir)
        .with_context(|| format!("cannot create data folder {}", config.data_dir.display()))?;
    let identity = Identity::load_or_create(&config.tls_dir(), own_certificate.as_ref())
        .context("cannot load the TLS certificate")?;
    let tls_config = identity.server_config()?;
    let directory_path = config.directory_path();
    let directory = tongka_domain::Directory::open(&directory_path, config.session_options())
        .with_context(|| format!("cannot open the directory {}", directory_path.display()))?;
    if directory.staff_count()? == 0 {
        // Nobody can sign in yet: say how to make the first administrator.
        warn!(
            "no staff yet: create the first HQ admin with `tongka admin create --username NAME` (stop the box first)"
        );
    }
    let ledger_path = config.ledger_path();
    let ledger = Ledger::open(&ledger_path, config.ledger_options())
        .with_context(|| format!("cannot open the ledger {}", ledger_path.display()))?;
    info!(path = %ledger_path.display(), "ledger open");

    let listener = TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.http.listen))?;
    let address = listener.local_addr()?;
    let limits = HandshakeLimits {
        timeout: Duration::from_millis(config.http.tls_handshake_timeout_ms),
        ..HandshakeLimits::default()
    };
    let listener = TlsListener::new(listener, tls_config, limits)?;
    let plain = match plain_listen {
        Some(plain) => {
            let listener = TcpListener::bind(plain)
                .await
                .with_context(|| format!("cannot listen on {plain}"))?;
            Some(listener)
        }
        None => None,
    };
    let api_limits = tongka_http::Limits {
        body_bytes_max: config.http.body_bytes_max,
        import_bytes_max: config.http.import_bytes_max,
        plugin_bytes_max: config.http.plugin_bytes_max,
        request_timeout: Duration::from_millis(config.http.request_timeout_ms),
        requests_per_second: config.http.requests_per_second,
        request_burst: config.http.request_burst,
    };
    let merchant_name = directory
        .merchant(directory.first_merchant())?
        .map(|merchant| merchant.name)
        .unwrap_or_default();
    let members = tongka_domain::Members::open(std::sync::Arc::new(directory), ledger.clone())
        .await
        .context("cannot set up the ledger's assets and accounts")?;
    let plugins = open_plugins(&config).await?;
    let space = SpaceGuard::new(config.data_dir.clone(), config.data_reserve_bytes);
    // Known before the first request: a box started on a full disk refuses writes at once.
    space.check().with_context(|| {
        format!(
            "cannot read the free space of {}",
            config.data_dir.display()
        )
    })?;
    std::sync::Arc::clone(&space).watch(SPACE_CHECK_EVERY);
    let state = tongka_http::AppState::new(VERSION, api_limits, members, plugins)
        .with_pairing(config.pairing_options())
        .with_till(config.till_options()?)
        .with_space(space);
    // Sales the last run logged but may not have recorded (it stopped, or crashed, first).
    let redone = state
        .till
        .redo_notes()
        .await
        .context("cannot write the records of the sales found in the ledger's log")?;
    if redone > 0 {
        info!(sales = redone, "sales recorded from the ledger's log");
    }
    let till = std::sync::Arc::clone(&state.till);
    let mut renamed = state.merchant_name.subscribe();
    tokio::spawn(daily_run(
        std::sync::Arc::clone(&state.till),
        state.directory.first_merchant(),
        std::sync::Arc::clone(&state.scheme),
    ));
    let app = tongka_http::router(state);

    // What people and the scripts that start the box read: where it is and how to trust it. The
    // fingerprint line comes last.
    println!("通卡已启动 / tongka {VERSION} listening on https://{address}");
    if let Some(plain) = &plain {
        println!(
            "本机明文 HTTP / plain HTTP for this machine: http://{}",
            plain.local_addr()?
        );
    }
    let fingerprint = identity.fingerprint();
    println!("证书指纹 / certificate SHA-256 fingerprint: {fingerprint}");
    info!(%address, %fingerprint, self_signed = identity.self_signed, data = %config.data_dir.display(), "listening");

    let advertiser = std::sync::Arc::new(std::sync::Mutex::new(
        advertise(&config, &merchant_name, address.port(), &fingerprint).await,
    ));
    // A renamed merchant is re-advertised under the new name: POS lists show it at once.
    let renaming = std::sync::Arc::clone(&advertiser);
    tokio::spawn(async move {
        while renamed.changed().await.is_ok() {
            let name = renamed.borrow_and_update().clone();
            let advertiser = std::sync::Arc::clone(&renaming);
            let _ = tokio::task::spawn_blocking(move || {
                if let Ok(mut guard) = advertiser.lock()
                    && let Some(advertiser) = guard.as_mut()
                    && let Err(error) = advertiser.rename(&name, Duration::from_secs(1))
                {
                    warn!(%error, "not re-advertised under the new name");
                }
            })
            .await;
        }
    });

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move |mut stop_rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    };
    let mut servers = tokio::task::JoinSet::new();
    servers.spawn(
        axum::serve(
            listener,
            app.clone()
                .into_make_service_with_connect_info::<tongka_http::tls::Remote>(),
        )
        .with_graceful_shutdown(stopped(stop_rx.clone()))
        .into_future(),
    );
    if let Some(plain) = plain {
        servers.spawn(
            axum::serve(
                plain,
                app.into_make_service_with_connect_info::<tongka_http::tls::Remote>(),
            )
            .with_graceful_shutdown(stopped(stop_rx))
            .into_future(),
        );
    }
    tokio::select! {
        Some(result) = servers.join_next() => {
            result.context("a server task failed")?.context("a server failed")?;
        }
        () = shutdown_signal() => {
            info!("shutting down");
            // Terminals stop finding the box before it stops answering them.
            let withdrawing = advertiser.lock().ok().and_then(|mut a| a.take());
            if let Some(advertiser) = withdrawing {
                let _ = tokio::task::spawn_blocking(move || advertiser.stop(Duration::from_secs(1))).await;
            }
            let _ = stop_tx.send(true);
            let grace = Duration::from_millis(config.http.shutdown_grace_ms);
            let drained = tokio::time::timeout(grace, async {
                while servers.join_next().await.is_some() {}
            });
            if drained.await.is_err() {
                warn!(grace_ms = config.http.shutdown_grace_ms, "requests still running at the end of the grace period; closing");
                servers.abort_all();
            }
        }
    }
    // Sales answered before their records were written: written now, rather than redone from
    // the ledger's log at the next start.
    till.drained().await;
    drop(till);
    // Joins the ledger's writer: every acknowledged write is already durable.
    drop(ledger);
    info!("stopped");
    Ok(())
}

/// The daily run — the loyalty scheme's daily tick (每日结算), the year's points expiry
/// (积分清零), the tier review (等级评定), the monthly bonus parts due (赠送按月返还) — when the
/// box starts (catching up days it was off) and then every day at 03:00 China time. Each job
/// fails alone and is tried again the next day.
async fn daily_run(
    till: std::sync::Arc<tongka_domain::Till>,
    merchant: tongka_domain::MerchantId,
    scheme: std::sync::Arc<tongka_http::scheme::RoutedScheme>,
) {
    loop {
        let now = tongka_domain::UnixMillis::now();
        match till.daily_tick(merchant, &*scheme, now).await {
            Ok(tick) if tick.enabled => {
                info!(
                    asked = tick.asked,
                    changed = tick.changed,
                    failed = tick.failed,
                    "daily tick"
                );
                for failure in &tick.failures {
                    warn!(%failure, "daily tick failed for a member; asked again on the next run");
                }
            }
            Ok(_) => {}
            Err(error) => warn!(%error, "the daily tick failed; it runs again tomorrow"),
        }
        match till.expire_points(merchant, now).await {
            Ok(expiry) if expiry.year.is_some() => info!(
                members = expiry.members,
                points = expiry.points,
                failed = expiry.failed,
                "points expired for the year"
            ),
            Ok(_) => {}
            Err(error) => warn!(%error, "the points expiry failed; it runs again tomorrow"),
        }
        match till.review_tiers(merchant, now).await {
            Ok(review) if review.enabled => info!(
                due = review.due,
                kept = review.kept,
                moved_down = review.moved_down,
                "tier review"
            ),
            Ok(_) => {}
            Err(error) => warn!(%error, "the tier review failed; it runs again tomorrow"),
        }
        match till.pay_bonus_parts(merchant, now).await {
            Ok(payout) if payout.parts > 0 => info!(
                plans = payout.plans,
                parts = payout.parts,
                paid_fen = payout.paid_fen,
                "monthly bonus parts paid"
            ),
            Ok(_) => {}
            Err(error) => {
                warn!(%error, "paying monthly bonus parts failed; they are paid tomorrow")
            }
        }
        match till.prune_card_openings(merchant).await {
            Ok(0) => {}
            Ok(pruned) => info!(pruned, "card openings with their receipts: notes let go"),
            Err(error) => warn!(%error, "pruning card openings failed; it runs again tomorrow"),
        }
        tokio::time::sleep(until_next_review(tongka_domain::UnixMillis::now())).await;
    }
}

/// How long from `now` until the next 03:00 China time (UTC+8): the quiet hour of a shop.
fn until_next_review(now: tongka_domain::UnixMillis) -> Duration {
    const DAY_MS: u64 = 86_400_000;
    const REVIEW_AT_MS: u64 = 3 * 3_600_000;
    let offset_ms = u64::try_from(tongka_domain::MERCHANT_UTC_OFFSET_MINUTES).unwrap_or(0) * 60_000;
    let into_day = (now.0 + offset_ms) % DAY_MS;
    let wait = (REVIEW_AT_MS + DAY_MS - into_day) % DAY_MS;
    Duration::from_millis(if wait == 0 { DAY_MS } else { wait })
}

fn create_data_dir(path: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_review_waits_for_the_next_three_oclock_china_time() {
        // 2026-11-24 02:00 in China is 2026-11-23 18:00 UTC: an hour to wait.
        let at = |utc_hour: u64, minute: u64| {
            tongka_domain::UnixMillis(1_795_392_000_000 + utc_hour * 3_600_000 + minute * 60_000)
        };
        assert_eq!(until_next_review(at(18, 0)), Duration::from_secs(3_600));
        // 03:00 exactly: the next one, a day later; 03:30: 23.5 hours.
        assert_eq!(until_next_review(at(19, 0)), Duration::from_secs(86_400));
        assert_eq!(until_next_review(at(19, 30)), Duration::from_secs(84_600));
    }
}
