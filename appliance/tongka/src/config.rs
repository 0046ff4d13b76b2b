//! The box's configuration: the default compiled in from `config/tongka.toml`, then a file, then
//! `TONGKA_*` variables, then flags. Checked whole before anything opens a file or a port.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The documented default, compiled in. Every key the box knows is in it.
pub const DEFAULT_TOML: &str = include_str!("../../../config/tongka.toml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    pub data_reserve_bytes: u64,
    pub http: HttpConfig,
    pub ledger: LedgerConfig,
    pub auth: AuthConfig,
    pub plugins: PluginsConfig,
    pub discovery: DiscoveryConfig,
    pub pairing: PairingConfig,
    pub till: TillConfig,
    pub log: LogConfig,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TillConfig {
    pub stored_value_order: String,
    pub spent_points_on_refund: String,
    pub spent_points_fen_per_100: u64,
    pub points_to_stored_value_fen_per_100: u64,
    pub tier_review_days: u32,
    pub top_up_bonus_months: u32,
    pub points_expiry_years: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairingConfig {
    pub code_ttl_ms: u64,
    pub failures_max: u32,
    pub lockout_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryConfig {
    pub enabled: bool,
    pub interfaces: String,
}

impl DiscoveryConfig {
    pub fn interfaces(&self) -> Vec<String> {
        self.interfaces
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsConfig {
    pub fuel: u64,
    pub memory_bytes: u64,
    pub deadline_ms: u64,
    pub fuel_max: u64,
    pub memory_bytes_max: u64,
    pub deadline_ms_max: u64,
    pub instances_max: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub session_ttl_ms: u64,
    pub login_failures_max: u32,
    pub lockout_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// "" for none; otherwise a loopback address (checked by `validate`).
    pub plain_listen: String,
    pub tls_cert_path: PathBuf,
    pub tls_key_path: PathBuf,
    pub tls_handshake_timeout_ms: u64,
    pub body_bytes_max: usize,
    pub import_bytes_max: usize,
    pub plugin_bytes_max: usize,
    pub request_timeout_ms: u64,
    pub requests_per_second: u32,
    pub request_burst: u32,
    pub shutdown_grace_ms: u64,
}

impl HttpConfig {
    /// The plain HTTP address, if one is configured. Valid once the configuration is.
    pub fn plain_listen(&self) -> Result<Option<SocketAddr>, ConfigError> {
        if self.plain_listen.trim().is_empty() {
            return Ok(None);
        }
        let address: SocketAddr = self
            .plain_listen
            .trim()
            .parse()
            .map_err(|e| error("http.plain_listen", format!("`{}`: {e}", self.plain_listen)))?;
        if !address.ip().is_loopback() {
            return Err(error(
                "http.plain_listen",
                format!("{address} is not a loopback address; plain HTTP is for this machine only"),
            ));
        }
        Ok(Some(address))
    }

    /// The merchant's own certificate, if it installed one.
    pub fn own_certificate(&self) -> Result<Option<tongka_tls::OwnCertificate>, ConfigError> {
        let (cert, key) = (&self.tls_cert_path, &self.tls_key_path);
        match (cert.as_os_str().is_empty(), key.as_os_str().is_empty()) {
            (true, true) => Ok(None),
            (false, false) => Ok(Some(tongka_tls::OwnCertificate {
                cert_path: cert.clone(),
                key_path: key.clone(),
            })),
            _ => Err(error(
                "http.tls_cert_path",
                "set both tls_cert_path and tls_key_path, or neither",
            )),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    pub batch_items_max: usize,
    pub group_items_max: usize,
    pub queue_depth_max: usize,
    pub expiry_sweep_interval_ms: u64,
    pub wal_bytes_max: u64,
    pub checkpoint_interval_ms: u64,
    pub table_commit_interval_ms: u64,
    pub memtable_items_max: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub filter: String,
}

/// A configuration the box refuses to start with.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct ConfigError {
    /// Where the bad value came from: a file, a variable, a key.
    pub source_name: String,
    pub message: String,
}

fn error(source_name: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        source_name: source_name.into(),
        message: message.into(),
    }
}

/// What the command line adds on top of file and environment.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub plain_listen: Option<SocketAddr>,
}

impl Config {
    /// Builds the configuration from the default, `overrides.config_file`, the environment `env`
    /// (passed in so tests need not touch the process's) and the flags; then validates it.
    pub fn load(
        overrides: &Overrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let default: toml::Table = DEFAULT_TOML
            .parse()
            .map_err(|e| error("built-in default", format!("{e}")))?;
        let mut merged = default.clone();

        if let Some(path) = &overrides.config_file {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|e| error(&name, format!("cannot read: {e}")))?;
            let file: toml::Table = text.parse().map_err(|e| error(&name, format!("{e}")))?;
            merge(&mut merged, file, &name, "")?;
        }

        apply_env(&default, &mut merged, "", &env)?;

        let mut config: Config = merged
            .try_into()
            .map_err(|e: toml::de::Error| error("configuration", e.message().to_owned()))?;
        if let Some(data_dir) = &overrides.data_dir {
            config.data_dir.clone_from(data_dir);
        }
        if let Some(listen) = overrides.listen {
            config.http.listen = listen;
        }
        if let Some(plain_listen) = overrides.plain_listen {
            config.http.plain_listen = plain_listen.to_string();
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(error("data_dir", "must not be empty"));
        }
        check_range("data_reserve_bytes", self.data_reserve_bytes, 0, 1 << 40)?;
        let ledger = &self.ledger;
        check_range("ledger.batch_items_max", ledger.batch_items_max, 1, 8_190)?;
        check_range("ledger.group_items_max", ledger.group_items_max, 1, 65_535)?;
        check_range("ledger.queue_depth_max", ledger.queue_depth_max, 1, 65_535)?;
        check_range(
            "ledger.table_commit_interval_ms",
            ledger.table_commit_interval_ms,
            1,
            10_000,
        )?;
        check_range(
            "ledger.memtable_items_max",
            ledger.memtable_items_max,
            1_024,
            4_194_304,
        )?;
        check_range(
            "ledger.expiry_sweep_interval_ms",
            ledger.expiry_sweep_interval_ms,
            10,
            60_000,
        )?;
        self.http.plain_listen()?;
        self.http.own_certificate()?;
        check_range(
            "http.tls_handshake_timeout_ms",
            self.http.tls_handshake_timeout_ms,
            100,
            60_000,
        )?;
        check_range(
            "http.body_bytes_max",
            self.http.body_bytes_max,
            1_024,
            64 << 20,
        )?;
        check_range(
            "http.import_bytes_max",
            self.http.import_bytes_max,
            1_024,
            1 << 30,
        )?;
        check_range(
            "http.plugin_bytes_max",
            self.http.plugin_bytes_max,
            1_024,
            256 << 20,
        )?;
        let plugins = &self.plugins;
        check_range("plugins.fuel_max", plugins.fuel_max, 1_000, 100_000_000_000)?;
        check_range("plugins.fuel", plugins.fuel, 1_000, plugins.fuel_max)?;
        check_range(
            "plugins.memory_bytes_max",
            plugins.memory_bytes_max,
            1 << 20,
            4 << 30,
        )?;
        check_range(
            "plugins.memory_bytes",
            plugins.memory_bytes,
            1 << 20,
            plugins.memory_bytes_max,
        )?;
        check_range(
            "plugins.deadline_ms_max",
            plugins.deadline_ms_max,
            1,
            600_000,
        )?;
        check_range(
            "plugins.deadline_ms",
            plugins.deadline_ms,
            1,
            plugins.deadline_ms_max,
        )?;
        check_range("plugins.instances_max", plugins.instances_max, 1, 1_024)?;
        self.till_options()?;
        let pairing = &self.pairing;
        check_range("pairing.code_ttl_ms", pairing.code_ttl_ms, 1_000, 3_600_000)?;
        check_range("pairing.failures_max", pairing.failures_max, 1, 100)?;
        check_range("pairing.lockout_ms", pairing.lockout_ms, 1_000, 86_400_000)?;
        check_range(
            "http.request_timeout_ms",
            self.http.request_timeout_ms,
            100,
            600_000,
        )?;
        check_range(
            "http.requests_per_second",
            self.http.requests_per_second,
            1,
            10_000,
        )?;
        check_range("http.request_burst", self.http.request_burst, 1, 10_000)?;
        check_range(
            "http.shutdown_grace_ms",
            self.http.shutdown_grace_ms,
            0,
            600_000,
        )?;
        let auth = &self.auth;
        check_range(
            "auth.session_ttl_ms",
            auth.session_ttl_ms,
            60_000,
            604_800_000,
        )?;
        check_range("auth.login_failures_max", auth.login_failures_max, 1, 100)?;
        check_range("auth.lockout_ms", auth.lockout_ms, 1_000, 86_400_000)?;
        tracing_subscriber::EnvFilter::try_new(&self.log.filter)
            .map_err(|e| error("log.filter", format!("{e}")))?;
        Ok(())
    }

    /// The till's settings, checked.
    pub fn till_options(&self) -> Result<tongka_domain::TillOptions, ConfigError> {
        let spend_order = match self.till.stored_value_order.as_str() {
            "principal-first" => tongka_domain::SpendOrder::PrincipalFirst,
            "bonus-first" => tongka_domain::SpendOrder::BonusFirst,
            "proportional" => tongka_domain::SpendOrder::Proportional,
            other => {
                return Err(error(
                    "till.stored_value_order",
                    format!("`{other}` is not principal-first, bonus-first or proportional"),
                ));
            }
        };
        let spent_points = match self.till.spent_points_on_refund.as_str() {
            "refuse" => tongka_domain::SpentPoints::Refuse,
            "negative" => tongka_domain::SpentPoints::Negative,
            "deduct" => {
                check_range(
                    "till.spent_points_fen_per_100",
                    self.till.spent_points_fen_per_100,
                    1,
                    100_000,
                )?;
                tongka_domain::SpentPoints::Deduct {
                    fen_per_100_points: self.till.spent_points_fen_per_100,
                }
            }
            other => {
                return Err(error(
                    "till.spent_points_on_refund",
                    format!("`{other}` is not refuse, deduct or negative"),
                ));
            }
        };
        check_range(
            "till.points_to_stored_value_fen_per_100",
            self.till.points_to_stored_value_fen_per_100,
            0,
            100_000,
        )?;
        check_range(
            "till.tier_review_days",
            u64::from(self.till.tier_review_days),
            0,
            3_660,
        )?;
        check_range(
            "till.top_up_bonus_months",
            self.till.top_up_bonus_months,
            0,
            tongka_domain::BONUS_MONTHS_MAX,
        )?;
        check_range(
            "till.points_expiry_years",
            self.till.points_expiry_years,
            0,
            tongka_domain::POINTS_EXPIRY_YEARS_MAX,
        )?;
        Ok(tongka_domain::TillOptions {
            spend_order,
            spent_points,
            points_to_stored_value_fen_per_100: self.till.points_to_stored_value_fen_per_100,
            tier_review_days: self.till.tier_review_days,
            top_up_bonus_months: self.till.top_up_bonus_months,
            points_expiry_years: self.till.points_expiry_years,
        })
    }

    pub fn pairing_options(&self) -> tongka_http::pairing::PairingOptions {
        tongka_http::pairing::PairingOptions {
            code_ttl: std::time::Duration::from_millis(self.pairing.code_ttl_ms),
            failures_max: self.pairing.failures_max,
            lockout: std::time::Duration::from_millis(self.pairing.lockout_ms),
        }
    }

    pub fn box_id_path(&self) -> PathBuf {
        self.data_dir.join("box-id")
    }

    pub fn plugins_dir(&self) -> PathBuf {
        self.data_dir.join("plugins")
    }

    pub fn host_options(&self) -> tongka_plugin_host::HostOptions {
        let plugins = &self.plugins;
        tongka_plugin_host::HostOptions {
            default_limits: tongka_plugin_host::Limits {
                fuel: plugins.fuel,
                memory_bytes: plugins.memory_bytes,
                deadline: std::time::Duration::from_millis(plugins.deadline_ms),
            },
            max_limits: tongka_plugin_host::Limits {
                fuel: plugins.fuel_max,
                memory_bytes: plugins.memory_bytes_max,
                deadline: std::time::Duration::from_millis(plugins.deadline_ms_max),
            },
            instances_max: plugins.instances_max,
            ..tongka_plugin_host::HostOptions::default()
        }
    }

    pub fn ledger_path(&self) -> PathBuf {
        ledger_path(&self.data_dir)
    }

    /// Staff and sessions.
    pub fn directory_path(&self) -> PathBuf {
        self.data_dir.join("directory.redb")
    }

    pub fn session_options(&self) -> tongka_domain::SessionOptions {
        tongka_domain::SessionOptions {
            ttl_ms: self.auth.session_ttl_ms,
            failures_max: self.auth.login_failures_max,
            lockout_ms: self.auth.lockout_ms,
        }
    }

    /// Where the box keeps its own key and certificate.
    pub fn tls_dir(&self) -> PathBuf {
        self.data_dir.join("tls")
    }

    pub fn ledger_options(&self) -> tongka_ledger::LedgerOptions {
        let ledger = &self.ledger;
        tongka_ledger::LedgerOptions {
            batch_items_max: ledger.batch_items_max,
            group_items_max: ledger.group_items_max,
            queue_depth_max: ledger.queue_depth_max,
            expiry_sweep_interval_ms: Some(ledger.expiry_sweep_interval_ms),
            wal_bytes_max: ledger.wal_bytes_max,
            checkpoint_interval_ms: ledger.checkpoint_interval_ms,
            table_commit_interval_ms: ledger.table_commit_interval_ms,
            memtable_items_max: ledger.memtable_items_max,
            ..tongka_ledger::LedgerOptions::default()
        }
    }
}

/// Where the ledger file lives inside a data folder.
pub fn ledger_path(data_dir: &Path) -> PathBuf {
    data_dir.join("ledger.redb")
}

fn check_range<T: PartialOrd + std::fmt::Display>(
    key: &str,
    value: T,
    min: T,
    max: T,
) -> Result<(), ConfigError> {
    if value < min || value > max {
        return Err(error(key, format!("{value} is outside {min} to {max}")));
    }
    Ok(())
}

/// Merges `over` into `base`, refusing keys the default does not know (a typo must not pass
/// silently as a default).
fn merge(
    base: &mut toml::Table,
    over: toml::Table,
    source: &str,
    prefix: &str,
) -> Result<(), ConfigError> {
    for (key, value) in over {
        let path = format!("{prefix}{key}");
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(base_table)), toml::Value::Table(over_table)) => {
                merge(base_table, over_table, source, &format!("{path}."))?;
            }
            (Some(toml::Value::Table(_)), _) => {
                return Err(error(source, format!("`{path}` must be a table")));
            }
            (Some(slot), value) => *slot = value,
            (None, _) => return Err(error(source, format!("unknown key `{path}`"))),
        }
    }
    Ok(())
}

/// For every key of the default, `TONGKA_<PATH>` (dots as `_`) replaces its value, parsed as the
/// default's type.
fn apply_env(
    default: &toml::Table,
    merged: &mut toml::Table,
    prefix: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    for (key, default_value) in default {
        let path = format!("{prefix}{key}");
        match (default_value, merged.get_mut(key)) {
            (toml::Value::Table(default_table), Some(toml::Value::Table(merged_table))) => {
                apply_env(default_table, merged_table, &format!("{path}_"), env)?;
            }
            (_, Some(slot)) => {
                let var = format!("TONGKA_{}", path.to_uppercase());
                if let Some(raw) = env(&var) {
                    *slot = parse_like(default_value, &raw).map_err(|m| error(&var, m))?;
                }
            }
            (_, None) => {}
        }
    }
    Ok(())
}

fn parse_like(default: &toml::Value, raw: &str) -> Result<toml::Value, String> {
    match default {
        toml::Value::Integer(_) => raw
            .trim()
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| format!("`{raw}` is not a whole number")),
        toml::Value::Boolean(_) => raw
            .trim()
            .parse::<bool>()
            .map(toml::Value::Boolean)
            .map_err(|_| format!("`{raw}` is not true or false")),
        _ => Ok(toml::Value::String(raw.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(
        file: Option<&str>,
        vars: &[(&str, &str)],
        overrides: Overrides,
    ) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let mut overrides = overrides;
        if let Some(text) = file {
            let path = dir.path().join("tongka.toml");
            std::fs::write(&path, text).unwrap();
            overrides.config_file = Some(path);
        }
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::load(&overrides, |k| vars.get(k).cloned())
    }

    #[test]
    fn the_default_is_valid() {
        let config = load(None, &[], Overrides::default()).unwrap();
        assert_eq!(config.http.listen, "0.0.0.0:8620".parse().unwrap());
        assert_eq!(config.http.plain_listen().unwrap(), None);
        assert!(config.http.own_certificate().unwrap().is_none());
        assert_eq!(config.ledger.batch_items_max, 8_190);
    }

    #[test]
    fn file_then_environment_then_flags() {
        let file = "data_dir = \"/from/file\"\n[ledger]\ngroup_items_max = 100\n";
        let config = load(
            Some(file),
            &[
                ("TONGKA_LEDGER_GROUP_ITEMS_MAX", "200"),
                ("TONGKA_DATA_DIR", "/from/env"),
            ],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(config.ledger.group_items_max, 200);
        assert_eq!(config.data_dir, PathBuf::from("/from/env"));

        let config = load(
            Some(file),
            &[("TONGKA_DATA_DIR", "/from/env")],
            Overrides {
                data_dir: Some("/from/flag".into()),
                listen: Some("127.0.0.1:9".parse().unwrap()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(config.http.listen.port(), 9);
    }

    #[test]
    fn mistakes_name_the_key_at_fault() {
        // (file, environment, what the message must name)
        type Case<'a> = (Option<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
        let cases: Vec<Case> = vec![
            (
                Some("[ledger]\ngroup_item_max = 1\n"),
                vec![],
                "ledger.group_item_max",
            ),
            (
                None,
                vec![("TONGKA_TILL_SPENT_POINTS_ON_REFUND", "forgive")],
                "till.spent_points_on_refund",
            ),
            (
                None,
                vec![("TONGKA_TILL_TOP_UP_BONUS_MONTHS", "37")],
                "till.top_up_bonus_months",
            ),
            (
                None,
                vec![("TONGKA_TILL_TIER_REVIEW_DAYS", "4000")],
                "till.tier_review_days",
            ),
            (
                None,
                vec![
                    ("TONGKA_TILL_SPENT_POINTS_ON_REFUND", "deduct"),
                    ("TONGKA_TILL_SPENT_POINTS_FEN_PER_100", "0"),
                ],
                "till.spent_points_fen_per_100",
            ),
            (
                Some("[ledger]\ngroup_items_max = 0\n"),
                vec![],
                "ledger.group_items_max",
            ),
            (Some("[http\n"), vec![], "tongka.toml"),
            (Some("http = 5\n"), vec![], "`http` must be a table"),
            (
                None,
                vec![("TONGKA_HTTP_LISTEN", "not-an-address")],
                "invalid socket address",
            ),
            (
                None,
                vec![("TONGKA_LEDGER_QUEUE_DEPTH_MAX", "many")],
                "TONGKA_LEDGER_QUEUE_DEPTH_MAX",
            ),
            (
                None,
                vec![("TONGKA_LEDGER_BATCH_ITEMS_MAX", "9000")],
                "ledger.batch_items_max",
            ),
            (
                None,
                vec![("TONGKA_DATA_RESERVE_BYTES", "2000000000000")],
                "data_reserve_bytes",
            ),
            (None, vec![("TONGKA_LOG_FILTER", "info,[[[")], "log.filter"),
            (
                None,
                vec![("TONGKA_HTTP_PLAIN_LISTEN", "0.0.0.0:8621")],
                "http.plain_listen",
            ),
            (
                None,
                vec![("TONGKA_HTTP_PLAIN_LISTEN", "localhost")],
                "http.plain_listen",
            ),
            (
                None,
                vec![("TONGKA_HTTP_TLS_CERT_PATH", "/etc/own.pem")],
                "tls_key_path",
            ),
            (
                None,
                vec![("TONGKA_HTTP_TLS_HANDSHAKE_TIMEOUT_MS", "5")],
                "http.tls_handshake_timeout_ms",
            ),
            (
                None,
                vec![("TONGKA_HTTP_BODY_BYTES_MAX", "10")],
                "http.body_bytes_max",
            ),
            (
                None,
                vec![("TONGKA_HTTP_REQUEST_BURST", "0")],
                "http.request_burst",
            ),
            (
                None,
                vec![("TONGKA_AUTH_LOGIN_FAILURES_MAX", "0")],
                "auth.login_failures_max",
            ),
            (
                None,
                vec![("TONGKA_AUTH_SESSION_TTL_MS", "5")],
                "auth.session_ttl_ms",
            ),
            (
                None,
                vec![("TONGKA_HTTP_REQUEST_TIMEOUT_MS", "0")],
                "http.request_timeout_ms",
            ),
            (
                None,
                vec![("TONGKA_LEDGER_MEMTABLE_ITEMS_MAX", "10")],
                "ledger.memtable_items_max",
            ),
        ];
        for (file, vars, expected) in cases {
            let message = load(file, &vars, Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(
                message.contains(expected),
                "`{message}` should mention `{expected}`"
            );
        }
    }
}
