//! `tongka serve`: opens the data folder and the ledger, serves the API until SIGTERM or Ctrl-C,
//! then lets in-flight requests finish (within the grace period) and closes the ledger.

use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tongka_ledger::{Ledger, LedgerError};
use tracing::{error, info, warn};

use crate::config::Config;
use crate::exit::Exit;

const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn run(config: Config) -> Exit {
    init_tracing(&config.log.filter);
    if !config.http.listen.ip().is_loopback() {
        eprintln!(
            "配置错误 / configuration error: http.listen {} is not a loopback address; plain HTTP is served on loopback only",
            config.http.listen
        );
        return Exit::Config;
    }
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
            match error.downcast_ref::<LedgerError>() {
                Some(LedgerError::InUse) => Exit::InUse,
                _ => Exit::Io,
            }
        }
    }
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
    create_data_dir(&config.data_dir)
        .with_context(|| format!("cannot create data folder {}", config.data_dir.display()))?;
    let ledger_path = config.ledger_path();
    let ledger = Ledger::open(&ledger_path, config.ledger_options())
        .with_context(|| format!("cannot open the ledger {}", ledger_path.display()))?;
    info!(path = %ledger_path.display(), "ledger open");

    let listener = TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.http.listen))?;
    let address = listener.local_addr()?;
    let app = tongka_http::router(tongka_http::AppState { version: VERSION });
    // The one line on stdout: where the box is, for people and for scripts that start it.
    println!("通卡已启动 / tongka {VERSION} listening on http://{address}");
    info!(%address, data = %config.data_dir.display(), "listening");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut server = tokio::spawn(async move {
        let mut stop_rx = stop_rx;
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            })
            .await
    });
    tokio::select! {
        result = &mut server => {
            result.context("the server task failed")?.context("the server failed")?;
        }
        () = shutdown_signal() => {
            info!("shutting down");
            let _ = stop_tx.send(true);
            let grace = Duration::from_millis(config.http.shutdown_grace_ms);
            if tokio::time::timeout(grace, &mut server).await.is_err() {
                warn!(grace_ms = config.http.shutdown_grace_ms, "requests still running at the end of the grace period; closing");
                server.abort();
            }
        }
    }
    // Joins the ledger's writer: every acknowledged write is already durable.
    drop(ledger);
    info!("stopped");
    Ok(())
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
