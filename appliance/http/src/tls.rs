//! HTTPS for `axum::serve`: a listener whose connections are TLS streams.
//!
//! Handshakes run in their own tasks, each with a deadline and under a cap on how many run at once,
//! so a client that opens a connection and says nothing cannot hold up anyone else's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::{debug, warn};

/// Limits on the TLS handshakes in progress.
#[derive(Clone, Copy, Debug)]
pub struct HandshakeLimits {
    /// How long a client may take to complete its handshake.
    pub timeout: Duration,
    /// How many handshakes may be in progress at once; further connections wait to be accepted.
    pub in_flight_max: usize,
}

impl Default for HandshakeLimits {
    fn default() -> Self {
        HandshakeLimits {
            timeout: Duration::from_secs(10),
            in_flight_max: 256,
        }
    }
}

/// Accepts TCP connections and hands `axum::serve` the ones whose TLS handshake completed.
#[derive(Debug)]
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
}

impl TlsListener {
    /// Serves TLS with `config` on `listener`. The accepting task stops, and closes the port, when
    /// this is dropped.
    pub fn new(
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
        limits: HandshakeLimits,
    ) -> std::io::Result<TlsListener> {
        let local_addr = listener.local_addr()?;
        let in_flight_max = limits.in_flight_max.max(1);
        let (ready_tx, ready) = mpsc::channel(in_flight_max);
        let acceptor = TlsAcceptor::from(config);
        let permits = Arc::new(Semaphore::new(in_flight_max));
        tokio::spawn(async move {
            loop {
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                    return;
                };
                let accepted = tokio::select! {
                    // The server stopped: let go of the port.
                    () = ready_tx.closed() => return,
                    accepted = listener.accept() => accepted,
                };
                let (tcp, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: wait rather than spin.
                        warn!(%error, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                // An answer goes out as soon as it is written: a POS waits on every one, and
                // Nagle's wait for the previous segment's ACK only adds latency here.
                let _ = tcp.set_nodelay(true);
                let (acceptor, ready_tx) = (acceptor.clone(), ready_tx.clone());
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(limits.timeout, acceptor.accept(tcp));
                    match handshake.await {
                        Ok(Ok(stream)) => {
                            drop(permit);
                            let _ = ready_tx.send((stream, peer)).await;
                        }
                        // A client that does not speak TLS, or does not trust the certificate, is
                        // its problem, not the box's: debug, not warn.
                        Ok(Err(error)) => debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { ready, local_addr })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accepting task only ends once this listener is dropped, or the runtime stops.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

/// The address a request came from, for the audit log: what `ConnectInfo` carries for both the
/// HTTPS listener and plain TCP (serve with `into_make_service_with_connect_info::<Remote>()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Remote(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>>
    for Remote
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Remote {
        Remote(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TcpListener>>
    for Remote
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, TcpListener>) -> Remote {
        Remote(*stream.remote_addr())
    }
}
