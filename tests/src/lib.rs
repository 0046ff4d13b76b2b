//! Helpers for the end-to-end tests: find the real `tongka` binary, start it, talk to it.
//!
//! The tests in `tests/tests/` drive the binary as a merchant's machine would: as a process, over
//! HTTPS with the certificate pinned, killed for real.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
pub use tongka_tls::Fingerprint;

pub mod api;
pub mod crash;
pub mod plugins;

/// The merchant's calendar day `offset_days` from today, and the hour now, on its clock (China
/// Standard Time): the box's own `Date::at`.
pub fn china_clock(offset_days: i64) -> (tongka_domain::Date, u64) {
    use tongka_domain::{Date, MERCHANT_UTC_OFFSET_MINUTES, UnixMillis};
    let now = UnixMillis::now();
    let shifted = now
        .0
        .saturating_add_signed(offset_days.saturating_mul(86_400_000));
    let hour = (now.0 / 3_600_000 + 8) % 24;
    (
        Date::at(UnixMillis(shifted), MERCHANT_UTC_OFFSET_MINUTES),
        hour,
    )
}

/// The `tongka` binary of this build: next to the test executable's `deps/` folder. `cargo test
/// --workspace` builds it (the `tongka` package has integration tests of its own).
pub fn tongka_binary() -> Result<PathBuf> {
    workspace_binary("tongka")
}

/// A binary of this build's workspace, such as `tongka-plugin`, beside `tongka`.
pub fn workspace_binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let mut profile_dir = exe.parent().context("an executable has a folder")?;
    // A test runs from target/<profile>/deps, a binary such as `tongka-load` from the profile's
    // folder itself.
    if profile_dir.ends_with("deps") {
        profile_dir = profile_dir
            .parent()
            .context("test executable is not in target/<profile>/deps")?;
    }
    let binary = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !binary.exists() {
        bail!(
            "{} is missing: run `cargo build --workspace` (or `cargo xtask test`, which builds it)",
            binary.display()
        );
    }
    Ok(binary)
}

/// Runs `tongka ledger verify --data DATA` and returns what it printed and its exit status.
pub fn tongka_verify(data: &Path) -> Result<std::process::Output> {
    Ok(Command::new(tongka_binary()?)
        .args(["ledger", "verify", "--data"])
        .arg(data)
        .env_remove("TONGKA_CONFIG")
        .output()?)
}

/// Runs `tongka admin create --username USERNAME --data DATA` with `password` on stdin.
pub fn tongka_admin_create(
    data: &Path,
    username: &str,
    password: &str,
) -> Result<std::process::Output> {
    let mut child = Command::new(tongka_binary()?)
        .args(["admin", "create", "--username", username, "--data"])
        .arg(data)
        .env_remove("TONGKA_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("no stdin")?
        .write_all(format!("{password}\n").as_bytes())?;
    Ok(child.wait_with_output()?)
}

/// A `tongka serve` process on a loopback port of its choosing.
#[derive(Debug)]
pub struct RunningBox {
    pub child: Child,
    /// Where it serves HTTPS.
    pub address: SocketAddr,
    /// The certificate fingerprint it printed.
    pub fingerprint: Fingerprint,
    /// Where it serves plain HTTP, if it was asked to.
    pub plain_address: Option<SocketAddr>,
}

impl RunningBox {
    /// Starts `tongka serve --data DATA --listen 127.0.0.1:0` and waits for the lines that say
    /// where it listens and which certificate it presents.
    pub fn start(data: &Path) -> Result<RunningBox> {
        RunningBox::start_with(data, &[], &[])
    }

    /// `start` with more arguments for `tongka serve`, and `TONGKA_*` variables.
    pub fn start_with(data: &Path, args: &[&str], envs: &[(&str, &Path)]) -> Result<RunningBox> {
        RunningBox::start_logged(data, args, envs, None)
    }

    /// `start_with`, with the box's log (its stderr) written to `log` if given.
    pub fn start_logged(
        data: &Path,
        args: &[&str],
        envs: &[(&str, &Path)],
        log: Option<&Path>,
    ) -> Result<RunningBox> {
        RunningBox::start_wrapped(&[], "127.0.0.1:0", data, args, envs, log)
    }

    /// `start_logged` listening on `listen`, run through `wrapper` (such as
    /// `ip netns exec NAME`, which execs it, so the child is the box itself). Discovery and the
    /// free-space reserve are off unless `envs` turn them on: tests run many boxes side by side.
    pub fn start_wrapped(
        wrapper: &[&str],
        listen: &str,
        data: &Path,
        args: &[&str],
        envs: &[(&str, &Path)],
        log: Option<&Path>,
    ) -> Result<RunningBox> {
        let stderr = match log {
            Some(path) => Stdio::from(std::fs::File::create(path)?),
            None => Stdio::null(),
        };
        let binary = tongka_binary()?;
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        let mut child = command
            .args(["serve", "--listen", listen, "--data"])
            .arg(data)
            .args(args)
            .env_remove("TONGKA_CONFIG")
            .env("TONGKA_DISCOVERY_ENABLED", "false")
            // No free-space reserve: tests share whatever disk the machine has, and a nearly
            // full CI disk must not turn every box read-only. `storage_full.rs` sets its own.
            .env("TONGKA_DATA_RESERVE_BYTES", "0")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .context("cannot start tongka serve")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let (mut address, mut plain_address) = (None, None);
        // The fingerprint line comes last.
        let fingerprint = loop {
            let line = lines
                .next()
                .context("tongka stopped before saying where it listens")??;
            let after = |marker: &str| line.split(marker).nth(1).map(str::trim);
            if let Some(found) = after("https://") {
                address = Some(
                    found
                        .parse()
                        .with_context(|| format!("bad address: {line:?}"))?,
                );
            } else if let Some(found) = after("http://") {
                plain_address = Some(
                    found
                        .parse()
                        .with_context(|| format!("bad address: {line:?}"))?,
                );
            } else if let Some(found) = after("fingerprint:") {
                break found
                    .parse::<Fingerprint>()
                    .with_context(|| format!("bad fingerprint: {line:?}"))?;
            }
        };
        let address = address.context("tongka printed no HTTPS address")?;
        Ok(RunningBox {
            child,
            address,
            fingerprint,
            plain_address,
        })
    }

    /// A GET over HTTPS with the box's certificate pinned.
    pub fn get(&self, path: &str) -> Result<(u16, String)> {
        https_get(self.address, self.fingerprint, path)
    }

    /// Any request over HTTPS with the box's certificate pinned; a body is sent as JSON unless
    /// `headers` name another Content-Type.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<(u16, String)> {
        let mut stream = pinned_stream(self.address, self.fingerprint)?;
        exchange(&mut stream, self.address, method, path, headers, body)
    }

    /// Sends SIGTERM, as a service manager stopping the box would, and waits for it to exit.
    pub fn terminate(mut self) -> Result<std::process::ExitStatus> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        Ok(self.child.wait()?)
    }
}

impl Drop for RunningBox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP/1.1 GET over TLS that trusts only the certificate with `fingerprint`, as a paired POS
/// would. Returns the status code and the body.
pub fn https_get(
    address: SocketAddr,
    fingerprint: Fingerprint,
    path: &str,
) -> Result<(u16, String)> {
    let mut stream = pinned_stream(address, fingerprint)?;
    exchange(&mut stream, address, "GET", path, &[], None)
}

fn pinned_stream(
    address: SocketAddr,
    fingerprint: Fingerprint,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let config = Arc::new(tongka_tls::pinned_client_config(fingerprint));
    let name = rustls::pki_types::ServerName::IpAddress(address.ip().into());
    let connection = rustls::ClientConnection::new(config, name)?;
    Ok(rustls::StreamOwned::new(connection, connect(address)?))
}

/// A plain HTTP/1.1 GET, as curl would send it. Returns the status code and the body.
pub fn http_get(address: SocketAddr, path: &str) -> Result<(u16, String)> {
    let mut stream = connect(address)?;
    exchange(&mut stream, address, "GET", path, &[], None)
}

fn connect(address: SocketAddr) -> Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    Ok(stream)
}

fn exchange(
    stream: &mut (impl Read + Write),
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<(u16, String)> {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAccept: application/json\r\nConnection: close\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let typed = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    match body {
        Some(body) => {
            if !typed {
                request.push_str("Content-Type: application/json\r\n");
            }
            request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        }
        None => request.push_str("\r\n"),
    }
    stream.write_all(request.as_bytes())?;
    stream.flush()?;
    let mut response = Vec::new();
    match stream.read_to_end(&mut response) {
        Ok(_) => {}
        // The server closed without TLS close_notify after the response: the response is whole.
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {
        }
        Err(error) => return Err(error.into()),
    }
    let response = String::from_utf8(response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("no end of headers")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .context("no status")?
        .parse()?;
    Ok((status, body.to_owned()))
}
