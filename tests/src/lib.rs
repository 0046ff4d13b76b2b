//! Helpers for the end-to-end tests: find the real `tongka` binary, start it, talk to it.
//!
//! The tests in `tests/tests/` drive the binary as a merchant's machine would: as a process, over
//! TCP, killed for real.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

pub mod crash;

/// The `tongka` binary of this build: next to the test executable's `deps/` folder. `cargo test
/// --workspace` builds it (the `tongka` package has integration tests of its own).
pub fn tongka_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("test executable is not in target/<profile>/deps")?;
    let binary = profile_dir.join(format!("tongka{}", std::env::consts::EXE_SUFFIX));
    if !binary.exists() {
        bail!(
            "{} is missing: run `cargo build -p tongka` (or `cargo xtask test`, which builds it)",
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

/// A `tongka serve` process on a loopback port of its choosing.
#[derive(Debug)]
pub struct RunningBox {
    pub child: Child,
    pub address: SocketAddr,
}

impl RunningBox {
    /// Starts `tongka serve --data DATA --listen 127.0.0.1:0` and waits for the line that says
    /// where it listens.
    pub fn start(data: &Path) -> Result<RunningBox> {
        let mut child = Command::new(tongka_binary()?)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .env_remove("TONGKA_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start tongka serve")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let address = line
            .split("http://")
            .nth(1)
            .map(str::trim)
            .with_context(|| format!("tongka printed no address: {line:?}"))?
            .parse()
            .with_context(|| format!("tongka printed a bad address: {line:?}"))?;
        Ok(RunningBox { child, address })
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

/// A plain HTTP/1.1 GET, as curl would send it. Returns the status code and the body.
pub fn http_get(address: SocketAddr, path: &str) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
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
