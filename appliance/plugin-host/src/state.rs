//! What one call's store holds, and the host functions a plugin may call: log, config, kv and
//! outbound HTTP. Each capability is checked here, against what the merchant granted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::notifier::tongka::plugin::outbound_http;
use crate::bindings::scheme::tongka::plugin::{config, kv, log, types};
use crate::{Capability, KvRefusal, PluginKv};

/// Log lines one call may write; more are dropped, so a chatty plugin cannot flood the log.
const LOG_LINES_MAX: u32 = 64;
const LOG_CHARS_MAX: usize = 1_000;
/// Outbound requests one call may make, and the largest answer read.
const HTTP_REQUESTS_MAX: u32 = 4;
const HTTP_BODY_MAX: u64 = 1 << 20;

/// What a call's store holds: the plugin's identity and grants, its sandboxed WASI, and the marks
/// its host functions leave when a limit or a grant is hit.
pub struct CallState {
    pub(crate) plugin: Arc<str>,
    pub(crate) config: Arc<str>,
    pub(crate) granted: Arc<[Capability]>,
    /// The hosts outbound HTTP may reach: the manifest's, if the merchant granted the capability.
    pub(crate) http_hosts: Arc<[String]>,
    pub(crate) http: ureq::Agent,
    pub(crate) kv: Arc<dyn PluginKv>,
    /// Made on a guest's first WASI call: most calls make none, and a context costs a random
    /// seed from the kernel and a few allocations.
    wasi: Option<WasiCtx>,
    table: ResourceTable,
    stderr: Option<MemoryOutputPipe>,
    pub(crate) memory_cap: usize,
    /// When the call must be over: host functions that wait (HTTP) wait no longer.
    pub(crate) deadline: Instant,
    pub(crate) memory_hit: bool,
    pub(crate) denied: Option<&'static str>,
    pub(crate) instantiated: bool,
    log_lines: u32,
    /// The last line logged at error level: what a `no_std` plugin's panic says, where a plugin
    /// with `std` writes to stderr.
    last_error: Option<String>,
    http_requests: u32,
}

impl CallState {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        plugin: Arc<str>,
        config: Arc<str>,
        granted: Arc<[Capability]>,
        http_hosts: Arc<[String]>,
        http: ureq::Agent,
        kv: Arc<dyn PluginKv>,
        memory_cap: usize,
        deadline: Instant,
    ) -> CallState {
        CallState {
            plugin,
            config,
            granted,
            http_hosts,
            http,
            kv,
            wasi: None,
            table: ResourceTable::new(),
            stderr: None,
            memory_cap,
            deadline,
            memory_hit: false,
            denied: None,
            instantiated: false,
            log_lines: 0,
            last_error: None,
            http_requests: 0,
        }
    }

    /// What the guest wrote to standard error, or else the last error it logged: explains a
    /// trap (a panic says why in one or the other).
    pub(crate) fn last_words(&self) -> Option<String> {
        let stderr = self
            .stderr
            .as_ref()
            .map(|pipe| String::from_utf8_lossy(&pipe.contents()).trim().to_owned())
            .filter(|stderr| !stderr.is_empty());
        stderr.or_else(|| self.last_error.clone())
    }

    /// A capability used without a grant fails the call: the plugin asked for what the merchant
    /// did not give, which is the plugin's bug, not a business answer.
    fn require(&mut self, capability: Capability, name: &'static str) -> wasmtime::Result<()> {
        if self.granted.contains(&capability) {
            Ok(())
        } else {
            self.denied = Some(name);
            wasmtime::bail!("capability `{name}` not granted")
        }
    }
}

impl std::fmt::Debug for CallState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallState")
            .field("plugin", &self.plugin)
            .field("granted", &self.granted)
            .field("memory_hit", &self.memory_hit)
            .field("denied", &self.denied)
            .finish_non_exhaustive()
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let stderr = self
            .stderr
            .get_or_insert_with(|| MemoryOutputPipe::new(4096))
            .clone();
        let wasi = self
            .wasi
            .get_or_insert_with(|| WasiCtx::builder().stderr(stderr).build());
        WasiCtxView {
            ctx: wasi,
            table: &mut self.table,
        }
    }
}

impl wasmtime::ResourceLimiter for CallState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.memory_hit = true;
            wasmtime::bail!("memory limit of {} bytes", self.memory_cap);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

impl types::Host for CallState {}

impl log::Host for CallState {
    fn write(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let message: String = message.chars().take(LOG_CHARS_MAX).collect();
        if level == log::Level::Error {
            self.last_error = Some(message.clone());
        }
        self.log_lines += 1;
        if self.log_lines > LOG_LINES_MAX {
            return Ok(());
        }
        let plugin = &*self.plugin;
        match level {
            log::Level::Trace => tracing::trace!(plugin, "{message}"),
            log::Level::Debug => tracing::debug!(plugin, "{message}"),
            log::Level::Info => tracing::info!(plugin, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, "{message}"),
            log::Level::Error => tracing::error!(plugin, "{message}"),
        }
        Ok(())
    }
}

impl config::Host for CallState {
    fn get(&mut self) -> wasmtime::Result<String> {
        Ok(self.config.to_string())
    }
}

fn kv_error(refusal: KvRefusal) -> kv::KvError {
    match refusal {
        KvRefusal::TooLarge => kv::KvError::TooLarge,
        KvRefusal::Full => kv::KvError::Full,
    }
}

impl kv::Host for CallState {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        self.require(Capability::Kv, "kv")?;
        Ok(self.kv.get(&self.plugin, &key))
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), kv::KvError>> {
        self.require(Capability::Kv, "kv")?;
        Ok(self.kv.set(&self.plugin, &key, &value).map_err(kv_error))
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), kv::KvError>> {
        self.require(Capability::Kv, "kv")?;
        Ok(self.kv.delete(&self.plugin, &key).map_err(kv_error))
    }
}

/// Whether `uri` is one of the granted hosts. An entry is `host` or `host:port` for HTTPS, or
/// `http://host:port` to allow plain HTTP to that one address (an SMS gateway on the shop's LAN).
pub(crate) fn http_allowed(hosts: &[String], uri: &ureq::http::Uri) -> bool {
    let Some(host) = uri.host() else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    match uri.scheme_str() {
        Some("https") => {
            let port = uri.port_u16().unwrap_or(443);
            let with_port = format!("{host}:{port}");
            hosts.iter().any(|entry| {
                let entry = entry.to_ascii_lowercase();
                entry == with_port || (port == 443 && entry == host)
            })
        }
        Some("http") => {
            let port = uri.port_u16().unwrap_or(80);
            let wanted = format!("http://{host}:{port}");
            hosts
                .iter()
                .any(|entry| entry.to_ascii_lowercase() == wanted)
        }
        _ => false,
    }
}

impl outbound_http::Host for CallState {
    fn send(
        &mut self,
        request: outbound_http::Request,
    ) -> wasmtime::Result<Result<outbound_http::Response, outbound_http::HttpError>> {
        use outbound_http::HttpError;
        self.require(Capability::OutboundHttp, "outbound-http")?;
        let uri = match ureq::http::Uri::try_from(request.url.as_str()) {
            Ok(uri) => uri,
            Err(e) => return Ok(Err(HttpError::Failed(format!("bad url: {e}")))),
        };
        if !http_allowed(&self.http_hosts, &uri) {
            tracing::warn!(plugin = &*self.plugin, url = %request.url, "outbound HTTP to a host not granted");
            return Ok(Err(HttpError::Denied(uri.host().unwrap_or("").to_owned())));
        }
        self.http_requests += 1;
        if self.http_requests > HTTP_REQUESTS_MAX {
            return Ok(Err(HttpError::Failed(format!(
                "more than {HTTP_REQUESTS_MAX} requests in one call"
            ))));
        }
        // A request that meets the call's deadline ends the call as the epoch would: with
        // `Deadline`, not with an answer the plugin could no longer act on in time. (The request's
        // own timeout and the epoch tick race; whichever comes first, the caller sees the same.)
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(wasmtime::Trap::Interrupt.into());
        }
        let sent = send(&self.http, uri, request, remaining);
        if sent.is_err() && Instant::now() >= self.deadline {
            return Err(wasmtime::Trap::Interrupt.into());
        }
        Ok(sent)
    }
}

fn send(
    agent: &ureq::Agent,
    uri: ureq::http::Uri,
    request: outbound_http::Request,
    timeout: Duration,
) -> Result<outbound_http::Response, outbound_http::HttpError> {
    use outbound_http::HttpError;
    let failed = |e: &dyn std::fmt::Display| HttpError::Failed(e.to_string());
    let mut builder = ureq::http::Request::builder()
        .method(request.method.as_str())
        .uri(uri);
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let built = builder.body(request.body).map_err(|e| failed(&e))?;
    let configured = agent
        .configure_request(built)
        .timeout_global(Some(timeout))
        .build();
    let response = agent.run(configured).map_err(|e| failed(&e))?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response
        .into_body()
        .with_config()
        .limit(HTTP_BODY_MAX)
        .read_to_vec()
        .map_err(|e| failed(&e))?;
    Ok(outbound_http::Response {
        status,
        headers,
        body,
    })
}

/// The agent for outbound HTTP: no redirects (a redirect could leave the granted hosts), HTTP
/// errors returned as responses for the plugin to read, no proxy from the environment.
pub(crate) fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(0)
        .max_redirects_will_error(false)
        .http_status_as_error(false)
        .proxy(None)
        .user_agent("tongka-plugin-host")
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_granted_hosts_and_schemes_are_reached() {
        let hosts = vec![
            "sms.example.com".to_owned(),
            "api.example.com:8443".to_owned(),
            "http://192.168.1.20:8080".to_owned(),
        ];
        let allowed = |url: &str| http_allowed(&hosts, &ureq::http::Uri::try_from(url).unwrap());
        assert!(allowed("https://sms.example.com/send"));
        assert!(allowed("https://SMS.example.com:443/send"));
        assert!(!allowed("https://sms.example.com:444/send"));
        assert!(
            !allowed("http://sms.example.com/send"),
            "plain HTTP needs its own entry"
        );
        assert!(allowed("https://api.example.com:8443/v1"));
        assert!(!allowed("https://api.example.com/v1"));
        assert!(allowed("http://192.168.1.20:8080/sms"));
        assert!(!allowed("http://192.168.1.20/sms"));
        assert!(!allowed("https://evil.example.com/"));
        assert!(!allowed("https://sms.example.com.evil.net/"));
        assert!(!allowed("ftp://sms.example.com/"));
        assert!(!allowed("/relative"));
    }
}
