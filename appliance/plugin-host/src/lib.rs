//! Runs partners' WebAssembly plugins: loads a component, checks its manifest and its fit to its
//! world, compiles it once (cached on disk), and calls its hooks under strict limits.
//!
//! Every call gets a fresh `Store` from a pre-instantiated `InstancePre` in the pooling
//! allocator: nothing leaks between calls or members, and instantiation is a few microseconds.
//! Each call is metered with fuel, capped in memory and bounded by an epoch deadline; a trap, an
//! exhausted limit, a denied capability or an effect the hook may not give fails that call with a
//! [`CallError`] naming the plugin, and the host and the other plugins carry on.
//!
//! What this crate is not: it commits nothing (the caller checks and commits the effects in one
//! ledger batch), and it opens no socket.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod bindings;
mod effects;
mod error;
pub mod manifest;
pub mod registry;
pub mod schema;
mod state;
pub mod trial;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, ComponentExportIndex, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

use bindings::driver::{DeviceDriver, DeviceDriverPre};
use bindings::notifier::{Notifier, NotifierPre};
use bindings::scheme::{LoyaltyScheme, LoyaltySchemePre};
use bindings::settlement::SettlementPre;
pub use error::{CallError, LoadError};
pub use manifest::{Capability, Manifest, World};
pub use state::CallState;

pub use bindings::driver::exports::tongka::plugin::driver::{
    DriverError, Event as DeviceEvent, UsbDevice,
};
pub use bindings::notifier::exports::tongka::plugin::notify::{Outgoing, SendError};
pub use bindings::scheme::exports::tongka::plugin::scheme::{
    Checkout, CommittedCheckout, RefundOrder, TopUpOrder,
};
pub use bindings::scheme::tongka::plugin::types::{
    Asset, CouponGrant, Date, Effect, HookError, LineDiscount, LineFlags, LocalTime, MemberStats,
    MemberSummary, Message, Money, MonthlyBonus, OrderLine, Party, PointsGrant, PointsOffset,
    Store as StoreInfo, StoreKind, Tier as TierInfo,
};
pub use bindings::settlement::exports::tongka::plugin::settle::{
    Entry as SettlementEntry, Statement,
};

const LINE_FLAGS: [(LineFlags, &str); 3] = [
    (LineFlags::PROMOTIONAL, "promotional"),
    (LineFlags::NO_POINTS, "no-points"),
    (LineFlags::NO_DISCOUNT, "no-discount"),
];

/// Line flags read and write as a list of their WIT names, `["no-points"]`, in fixtures.
impl serde::Serialize for LineFlags {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let names: Vec<&str> = LINE_FLAGS
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| *name)
            .collect();
        names.serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for LineFlags {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        names.iter().try_fold(LineFlags::empty(), |flags, name| {
            LINE_FLAGS
                .iter()
                .find(|(_, known)| known == name)
                .map(|(flag, _)| flags | *flag)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown line flag `{name}`")))
        })
    }
}

/// How the host runs plugins. Defaults suit the box; a manifest may ask for less or more, up to
/// the maxima.
#[derive(Clone, Debug)]
pub struct HostOptions {
    /// Where compiled plugins are cached; `None` compiles at every load.
    pub cache_dir: Option<PathBuf>,
    pub default_limits: Limits,
    pub max_limits: Limits,
    /// How many plugin instances may be alive at once (calls in flight), across plugins.
    pub instances_max: u32,
    /// The epoch tick: deadlines are counted in these.
    pub tick: Duration,
}

/// What one call may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Fuel units: roughly one per WebAssembly instruction.
    pub fuel: u64,
    pub memory_bytes: u64,
    pub deadline: Duration,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            cache_dir: None,
            default_limits: Limits {
                fuel: 50_000_000,
                memory_bytes: 32 << 20,
                deadline: Duration::from_millis(100),
            },
            max_limits: Limits {
                fuel: 2_000_000_000,
                memory_bytes: 256 << 20,
                deadline: Duration::from_secs(5),
            },
            instances_max: 64,
            tick: Duration::from_millis(5),
        }
    }
}

/// A plugin's own key-value store, kept by the box. Implemented over redb by the box; the host
/// only routes calls, namespaced by plugin id.
pub trait PluginKv: Send + Sync + std::fmt::Debug {
    fn get(&self, plugin: &str, key: &str) -> Option<Vec<u8>>;
    fn set(&self, plugin: &str, key: &str, value: &[u8]) -> Result<(), KvRefusal>;
    fn delete(&self, plugin: &str, key: &str) -> Result<(), KvRefusal>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvRefusal {
    TooLarge,
    Full,
}

/// A key-value store in memory: for tests and the plugin harness.
#[derive(Debug, Default)]
pub struct MemoryKv(Mutex<BTreeMap<(String, String), Vec<u8>>>);

impl PluginKv for MemoryKv {
    fn get(&self, plugin: &str, key: &str) -> Option<Vec<u8>> {
        let map = self.0.lock().ok()?;
        map.get(&(plugin.to_owned(), key.to_owned())).cloned()
    }

    fn set(&self, plugin: &str, key: &str, value: &[u8]) -> Result<(), KvRefusal> {
        if key.len() > 256 || value.len() > 64 << 10 {
            return Err(KvRefusal::TooLarge);
        }
        let mut map = self.0.lock().map_err(|_| KvRefusal::Full)?;
        map.insert((plugin.to_owned(), key.to_owned()), value.to_vec());
        Ok(())
    }

    fn delete(&self, plugin: &str, key: &str) -> Result<(), KvRefusal> {
        let mut map = self.0.lock().map_err(|_| KvRefusal::Full)?;
        map.remove(&(plugin.to_owned(), key.to_owned()));
        Ok(())
    }
}

/// A loaded plugin: its manifest, what the merchant granted and configured, its limits, and its
/// pre-instantiated component.
pub struct Plugin {
    pub manifest: Manifest,
    pub granted: Arc<[Capability]>,
    pub limits: Limits,
    config: Arc<str>,
    /// The manifest's hosts, if outbound HTTP was granted; empty otherwise.
    http_hosts: Arc<[String]>,
    pre: Pre,
}

/// A pre-instantiated component, typed by its world: exports found and type-checked once.
enum Pre {
    /// With each hook's export, by `Hook::ALL` order, and whether a call has type-checked it
    /// yet: type-checking on every call (as the generated `instantiate` does, for all six) was a
    /// fifth of a call's cost, so only a plugin's first call of each hook checks.
    Scheme(
        LoyaltySchemePre<CallState>,
        [ComponentExportIndex; 6],
        [AtomicBool; 6],
    ),
    Notifier(NotifierPre<CallState>),
    Settlement(SettlementPre<CallState>),
    Driver(DeviceDriverPre<CallState>),
}

/// Counts, for tests and the health view.
#[derive(Debug, Default)]
pub struct HostStats {
    /// Components compiled by cranelift (a cache miss).
    pub compiled: AtomicU64,
    /// Components loaded from the compiled cache.
    pub cache_hits: AtomicU64,
    pub calls: AtomicU64,
    pub failures: AtomicU64,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("manifest", &self.manifest)
            .field("granted", &self.granted)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

pub struct Host {
    engine: Engine,
    linker: Linker<CallState>,
    options: HostOptions,
    kv: Arc<dyn PluginKv>,
    plugins: RwLock<BTreeMap<String, Arc<Plugin>>>,
    stats: HostStats,
    http: ureq::Agent,
    ticking: Arc<AtomicBool>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plugins: Vec<String> = self
            .plugins
            .read()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        f.debug_struct("Host")
            .field("options", &self.options)
            .field("plugins", &plugins)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.ticking.store(false, Ordering::Relaxed);
    }
}

/// The hooks of a loyalty scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hook {
    QuoteCheckout,
    CommitCheckout,
    TopUp,
    MemberJoined,
    Refund,
    DailyTick,
}

impl Hook {
    pub const ALL: [Hook; 6] = [
        Hook::QuoteCheckout,
        Hook::CommitCheckout,
        Hook::TopUp,
        Hook::MemberJoined,
        Hook::Refund,
        Hook::DailyTick,
    ];

    /// Its place in [`Hook::ALL`].
    pub(crate) fn index(self) -> usize {
        Hook::ALL
            .iter()
            .position(|hook| *hook == self)
            .unwrap_or_default()
    }

    pub fn parse(name: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|hook| hook.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Hook::QuoteCheckout => "quote-checkout",
            Hook::CommitCheckout => "commit-checkout",
            Hook::TopUp => "top-up",
            Hook::MemberJoined => "member-joined",
            Hook::Refund => "refund",
            Hook::DailyTick => "daily-tick",
        }
    }
}

/// A component as `describe` sees it.
#[derive(Debug)]
pub struct Description {
    pub manifest: Result<Manifest, LoadError>,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

/// What a scheme's hook gave, checked, with what it cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub effects: Vec<Effect>,
    pub fuel_used: u64,
    pub duration: Duration,
}

/// What any other call gave, with what it cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply<T> {
    pub value: T,
    pub fuel_used: u64,
    pub duration: Duration,
}

impl Host {
    pub fn new(options: HostOptions, kv: Arc<dyn PluginKv>) -> Result<Host, LoadError> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.consume_fuel(true);
        config.epoch_interruption(true);
        let mut pool = PoolingAllocationConfig::default();
        let instances = options.instances_max.max(1);
        // A component built by Rust's wasm32-wasip2 toolchain has a few core instances, one or two
        // memories and some tables: room for that in every slot.
        pool.total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(8))
            .total_memories(instances.saturating_mul(2))
            .total_tables(instances.saturating_mul(4))
            .max_memory_size(usize::try_from(options.max_limits.memory_bytes).unwrap_or(usize::MAX))
            // Between calls a slot is reset by rewriting only the pages the call dirtied (found
            // with the kernel's PAGEMAP_SCAN where it has it), not by returning them to the
            // kernel: measured, unmapping and faulting pages back in (with the TLB shootdowns
            // that come with it) was most of a call's cost.
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(4 << 20)
            .table_keep_resident(256 << 10);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| LoadError::Compile {
            plugin: String::new(),
            why: e.to_string(),
        })?;
        let mut linker = Linker::<CallState>::new(&engine);
        // The worlds share their imports (log, config, kv): each world's bindings add them again.
        linker.allow_shadowing(true);
        let linked = wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .and_then(|()| {
                LoyaltyScheme::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            })
            .and_then(|()| Notifier::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state))
            .and_then(|()| {
                DeviceDriver::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
            });
        linked.map_err(|e| LoadError::Compile {
            plugin: String::new(),
            why: e.to_string(),
        })?;
        if let Some(dir) = &options.cache_dir {
            std::fs::create_dir_all(dir).map_err(|e| LoadError::Cache(e.to_string()))?;
        }
        let ticking = Arc::new(AtomicBool::new(true));
        {
            // Deadlines count epochs; this thread advances them until the host is dropped.
            let (engine, ticking, tick) = (engine.clone(), Arc::clone(&ticking), options.tick);
            std::thread::Builder::new()
                .name("plugin-epochs".into())
                .spawn(move || {
                    while ticking.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| LoadError::Compile {
                    plugin: String::new(),
                    why: e.to_string(),
                })?;
        }
        Ok(Host {
            engine,
            linker,
            options,
            kv,
            plugins: RwLock::new(BTreeMap::new()),
            stats: HostStats::default(),
            http: state::http_agent(),
            ticking,
        })
    }

    pub fn stats(&self) -> &HostStats {
        &self.stats
    }

    /// Loads (or replaces) a plugin from its packed component, with the capabilities the
    /// merchant granted and the configuration they set. The previous version of the same id keeps
    /// serving until this one is compiled and checked.
    pub fn load(
        &self,
        component: &[u8],
        granted: &[Capability],
        config: &str,
    ) -> Result<Arc<Plugin>, LoadError> {
        let plugin = self.prepare(component, granted, config)?;
        if let Ok(mut plugins) = self.plugins.write() {
            plugins.insert(plugin.manifest.id.clone(), Arc::clone(&plugin));
        }
        Ok(plugin)
    }

    /// Everything `load` does but serving: the component compiled, its manifest, world and
    /// configuration checked. What changing a disabled plugin's settings checks.
    pub fn prepare(
        &self,
        component: &[u8],
        granted: &[Capability],
        config: &str,
    ) -> Result<Arc<Plugin>, LoadError> {
        let manifest = manifest::read(component)?;
        let id = manifest.id.clone();
        let config_value: serde_json::Value =
            serde_json::from_str(config).map_err(|e| LoadError::Config {
                plugin: id.clone(),
                why: format!("is not JSON: {e}"),
            })?;
        if !config_value.is_object() {
            return Err(LoadError::Config {
                plugin: id,
                why: "must be a JSON object of settings".into(),
            });
        }
        schema::validate(&manifest.config_schema, &config_value).map_err(|why| {
            LoadError::Config {
                plugin: id.clone(),
                why,
            }
        })?;
        let granted: Vec<Capability> = granted
            .iter()
            .copied()
            .filter(|c| manifest.capabilities.contains(c))
            .collect();
        let http_hosts: Arc<[String]> = if granted.contains(&Capability::OutboundHttp) {
            manifest.http_hosts.clone().into()
        } else {
            Arc::from([])
        };
        let component = self.compile(&id, component)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(|pre| {
                Ok(match manifest.world {
                    World::LoyaltyScheme => {
                        let scheme = LoyaltySchemePre::new(pre)?;
                        let exports = scheme_exports(&component)
                            .ok_or_else(|| wasmtime::format_err!("scheme hooks not exported"))?;
                        Pre::Scheme(scheme, exports, Default::default())
                    }
                    World::Notifier => Pre::Notifier(NotifierPre::new(pre)?),
                    World::Settlement => Pre::Settlement(SettlementPre::new(pre)?),
                    World::DeviceDriver => Pre::Driver(DeviceDriverPre::new(pre)?),
                })
            })
            .map_err(|e| LoadError::World {
                plugin: id.clone(),
                world: manifest.world.as_str(),
                why: format!("{e:#}"),
            })?;
        let limits = self.limits_for(&manifest);
        let plugin = Arc::new(Plugin {
            manifest,
            granted: granted.into(),
            limits,
            config: Arc::from(serde_json::to_string(&config_value).unwrap_or_default()),
            http_hosts,
            pre,
        });
        Ok(plugin)
    }

    /// Unloads a plugin; calls in flight finish on the instance they have.
    pub fn unload(&self, id: &str) -> bool {
        self.plugins
            .write()
            .map(|mut plugins| plugins.remove(id).is_some())
            .unwrap_or(false)
    }

    pub fn plugin(&self, id: &str) -> Option<Arc<Plugin>> {
        self.plugins.read().ok()?.get(id).cloned()
    }

    fn limits_for(&self, manifest: &Manifest) -> Limits {
        let (default, max) = (self.options.default_limits, self.options.max_limits);
        let asked = manifest.limits;
        Limits {
            fuel: asked.fuel.unwrap_or(default.fuel).min(max.fuel),
            memory_bytes: asked
                .memory_bytes
                .unwrap_or(default.memory_bytes)
                .min(max.memory_bytes),
            deadline: asked
                .deadline_ms
                .map_or(default.deadline, Duration::from_millis)
                .min(max.deadline),
        }
    }

    /// Compiles a component, or loads it from the cache: a restart does not recompile.
    fn compile(&self, id: &str, bytes: &[u8]) -> Result<Component, LoadError> {
        let compile_error = |e: wasmtime::Error| LoadError::Compile {
            plugin: id.to_owned(),
            why: format!("{e:#}"),
        };
        let Some(dir) = &self.options.cache_dir else {
            self.stats.compiled.fetch_add(1, Ordering::Relaxed);
            return Component::new(&self.engine, bytes).map_err(compile_error);
        };
        let path = dir.join(format!(
            "{}-{:016x}.cwasm",
            hex(&Sha256::digest(bytes)),
            self.engine_hash()
        ));
        if path.exists() {
            match load_compiled(&self.engine, &path) {
                Ok(component) => {
                    self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(plugin = id, "plugin loaded from the compiled cache");
                    return Ok(component);
                }
                Err(error) => {
                    tracing::warn!(plugin = id, %error, "compiled cache entry unusable; recompiling");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        self.stats.compiled.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let compiled = self
            .engine
            .precompile_component(bytes)
            .map_err(compile_error)?;
        tracing::info!(
            plugin = id,
            ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "plugin compiled"
        );
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, &compiled)
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|e| LoadError::Cache(e.to_string()))?;
        load_compiled(&self.engine, &path).map_err(compile_error)
    }

    /// Identifies the compiler settings: a cached artifact from another build is not used.
    fn engine_hash(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        hasher.finish()
    }

    /// What a component imports and exports, by name, and its manifest if it carries one: what
    /// `tongka-plugin inspect` prints. Compiles the component (nothing is cached or loaded).
    pub fn describe(&self, component: &[u8]) -> Result<Description, LoadError> {
        let manifest = manifest::read(component);
        let compiled = Component::new(&self.engine, component).map_err(|e| LoadError::Compile {
            plugin: String::new(),
            why: format!("{e:#}"),
        })?;
        let shape = compiled.component_type();
        Ok(Description {
            manifest,
            imports: shape
                .imports(&self.engine)
                .map(|(name, _)| name.to_owned())
                .collect(),
            exports: shape
                .exports(&self.engine)
                .map(|(name, _)| name.to_owned())
                .collect(),
        })
    }

    pub fn quote_checkout(&self, plugin: &str, checkout: &Checkout) -> Result<Answer, CallError> {
        self.scheme_call(plugin, Hook::QuoteCheckout, (checkout,))
    }

    pub fn commit_checkout(
        &self,
        plugin: &str,
        checkout: &CommittedCheckout,
    ) -> Result<Answer, CallError> {
        self.scheme_call(plugin, Hook::CommitCheckout, (checkout,))
    }

    pub fn top_up(&self, plugin: &str, order: &TopUpOrder) -> Result<Answer, CallError> {
        self.scheme_call(plugin, Hook::TopUp, (order,))
    }

    pub fn member_joined(
        &self,
        plugin: &str,
        member: &MemberSummary,
        at: LocalTime,
    ) -> Result<Answer, CallError> {
        self.scheme_call(plugin, Hook::MemberJoined, (member, at))
    }

    pub fn refund(&self, plugin: &str, order: &RefundOrder) -> Result<Answer, CallError> {
        self.scheme_call(plugin, Hook::Refund, (order,))
    }

    pub fn daily_tick(
        &self,
        plugin: &str,
        member: &MemberSummary,
        today: Date,
    ) -> Result<Answer, CallError> {
        self.scheme_call(plugin, Hook::DailyTick, (member, today))
    }

    /// Sends one message through a notifier: the provider's message id, or the provider's typed
    /// refusal (worth retrying or not), which is an answer, not a failure of the plugin.
    pub fn send_message(
        &self,
        plugin: &str,
        message: &Outgoing,
    ) -> Result<Reply<Result<String, SendError>>, CallError> {
        self.invoke(plugin, "send", |store, pre| {
            let Pre::Notifier(pre) = pre else {
                return Ok(None);
            };
            let instance = pre.instantiate(&mut *store)?;
            store.data_mut().instantiated = true;
            instance
                .tongka_plugin_notify()
                .call_send(store, message)
                .map(Some)
        })
    }

    /// The statements an alliance's merchants owe each other for a period, from its entries.
    /// Checked: every statement is between two different merchants of the entries, for a
    /// positive amount in an asset the entries use.
    pub fn statements(
        &self,
        plugin: &str,
        period: (Date, Date),
        entries: &[SettlementEntry],
    ) -> Result<Reply<Vec<Statement>>, CallError> {
        let reply = self.invoke(plugin, "statements", |store, pre| {
            let Pre::Settlement(pre) = pre else {
                return Ok(None);
            };
            let instance = pre.instantiate(&mut *store)?;
            store.data_mut().instantiated = true;
            instance
                .tongka_plugin_settle()
                .call_statements(store, period.0, period.1, entries)
                .map(Some)
        })?;
        let statements = match reply.value {
            Ok(statements) => statements,
            Err(declined) => {
                return self.refused(Err(declined_error(plugin, "statements", declined)));
            }
        };
        let known = |merchant: &str| {
            entries
                .iter()
                .any(|e| e.member_merchant == merchant || e.serving_merchant == merchant)
        };
        let bad = statements.iter().find(|s| {
            s.amount.minor_units <= 0
                || s.debtor == s.creditor
                || !known(&s.debtor)
                || !known(&s.creditor)
                || !entries.iter().any(|e| e.amount.asset == s.amount.asset)
        });
        if let Some(bad) = bad {
            return self.refused(Err(CallError::Malformed {
                plugin: plugin.to_owned(),
                hook: "statements",
                why: format!(
                    "statement {} → {} of {} {:?} is not between two merchants of the entries for a positive amount",
                    bad.debtor, bad.creditor, bad.amount.minor_units, bad.amount.asset
                ),
            }));
        }
        Ok(Reply {
            value: statements,
            fuel_used: reply.fuel_used,
            duration: reply.duration,
        })
    }

    /// Whether a device driver drives this USB device.
    pub fn driver_matches(
        &self,
        plugin: &str,
        device: &UsbDevice,
    ) -> Result<Reply<bool>, CallError> {
        self.driver_call(plugin, "matches", |store, driver| {
            driver.call_matches(store, device)
        })
    }

    /// The events in bytes a device sent.
    pub fn driver_decode(
        &self,
        plugin: &str,
        input: &[u8],
    ) -> Result<Reply<Result<Vec<DeviceEvent>, DriverError>>, CallError> {
        self.driver_call(plugin, "decode", |store, driver| {
            driver.call_decode(store, input)
        })
    }

    /// The bytes that print a receipt of these lines.
    pub fn driver_encode_receipt(
        &self,
        plugin: &str,
        lines: &[String],
    ) -> Result<Reply<Result<Vec<u8>, DriverError>>, CallError> {
        self.driver_call(plugin, "encode-receipt", |store, driver| {
            driver.call_encode_receipt(store, lines)
        })
    }

    /// One device-driver call in a fresh instance.
    fn driver_call<T>(
        &self,
        id: &str,
        hook: &'static str,
        run: impl FnOnce(
            &mut Store<CallState>,
            &bindings::driver::exports::tongka::plugin::driver::Guest,
        ) -> wasmtime::Result<T>,
    ) -> Result<Reply<T>, CallError> {
        self.invoke(id, hook, |store, pre| {
            let Pre::Driver(pre) = pre else {
                return Ok(None);
            };
            let instance = pre.instantiate(&mut *store)?;
            store.data_mut().instantiated = true;
            run(store, instance.tongka_plugin_driver()).map(Some)
        })
    }

    /// One scheme hook: the call, then its effects checked against what the hook may give.
    fn scheme_call<P>(&self, id: &str, hook: Hook, params: P) -> Result<Answer, CallError>
    where
        P: wasmtime::component::ComponentNamedList + wasmtime::component::Lower,
    {
        let reply = self.invoke(id, hook.as_str(), |store, pre| {
            let Pre::Scheme(pre, exports, checked) = pre else {
                return Ok(None);
            };
            let instance = pre.instance_pre().instantiate(&mut *store)?;
            store.data_mut().instantiated = true;
            let export = &exports[hook.index()];
            let checked = &checked[hook.index()];
            type Answered = (Result<Vec<Effect>, HookError>,);
            #[allow(unsafe_code)]
            let func = if checked.load(Ordering::Acquire) {
                let func = instance
                    .get_func(&mut *store, export)
                    .ok_or_else(|| wasmtime::format_err!("`{}` not exported", hook.as_str()))?;
                // SAFETY: this plugin's export for `hook` was type-checked against `P` and
                // `Answered` by an earlier call (below) of this same component; each hook is
                // called from one public method, so `P` for a hook is always the same type.
                unsafe { wasmtime::component::TypedFunc::<P, Answered>::new_unchecked(func) }
            } else {
                let func = instance.get_typed_func::<P, Answered>(&mut *store, export)?;
                checked.store(true, Ordering::Release);
                func
            };
            let (answer,) = func.call(&mut *store, params)?;
            Ok(Some(answer))
        })?;
        let result = match reply.value {
            Ok(effects) => effects::check(hook, &effects)
                .map(|()| Answer {
                    effects,
                    fuel_used: reply.fuel_used,
                    duration: reply.duration,
                })
                .map_err(|why| CallError::EffectNotAllowed {
                    plugin: id.to_owned(),
                    hook: hook.as_str(),
                    why,
                }),
            Err(declined) => Err(declined_error(id, hook.as_str(), declined)),
        };
        self.refused(result)
    }

    /// Counts and logs an answer the host refused after the call ran (a declined hook, an effect
    /// or statement it may not give); passes the result through.
    fn refused<T>(&self, result: Result<T, CallError>) -> Result<T, CallError> {
        if let Err(error) = &result {
            self.stats.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%error, "plugin answer refused");
        }
        result
    }

    /// One call in a fresh store, with the plugin's limits and a span. `run` instantiates the
    /// plugin's world and calls it; `None` means the plugin is not of the world the call needs.
    fn invoke<T>(
        &self,
        id: &str,
        hook: &'static str,
        run: impl FnOnce(&mut Store<CallState>, &Pre) -> wasmtime::Result<Option<T>>,
    ) -> Result<Reply<T>, CallError> {
        let plugin = self
            .plugin(id)
            .ok_or_else(|| CallError::NotLoaded(id.to_owned()))?;
        let span = tracing::info_span!(
            "plugin_call",
            plugin = id,
            hook,
            fuel_used = tracing::field::Empty,
            duration_us = tracing::field::Empty,
        );
        let _entered = span.enter();
        self.stats.calls.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let state = CallState::new(
            Arc::from(id),
            Arc::clone(&plugin.config),
            Arc::clone(&plugin.granted),
            Arc::clone(&plugin.http_hosts),
            self.http.clone(),
            Arc::clone(&self.kv),
            usize::try_from(plugin.limits.memory_bytes).unwrap_or(usize::MAX),
            started + plugin.limits.deadline,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| state);
        let ticks = plugin
            .limits
            .deadline
            .as_nanos()
            .div_ceil(self.options.tick.as_nanos().max(1));
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX).max(1));
        store.epoch_deadline_trap();
        let outcome = store
            .set_fuel(plugin.limits.fuel)
            .and_then(|()| run(&mut store, &plugin.pre));
        let fuel_used = plugin
            .limits
            .fuel
            .saturating_sub(store.get_fuel().unwrap_or(0));
        let duration = started.elapsed();
        span.record("fuel_used", fuel_used);
        span.record(
            "duration_us",
            u64::try_from(duration.as_micros()).unwrap_or(u64::MAX),
        );
        let result = match outcome {
            Ok(Some(value)) => Ok(Reply {
                value,
                fuel_used,
                duration,
            }),
            Ok(None) => Err(CallError::WrongWorld {
                plugin: id.to_owned(),
                hook,
                world: plugin.manifest.world.as_str(),
            }),
            Err(error) => Err(self.classify(id, hook, &plugin, store.data(), &error)),
        };
        if let Err(error) = &result {
            self.stats.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%error, "plugin call failed");
        }
        result
    }

    fn classify(
        &self,
        id: &str,
        hook: &'static str,
        plugin: &Plugin,
        state: &CallState,
        error: &wasmtime::Error,
    ) -> CallError {
        let (plugin_id, hook_name) = (id.to_owned(), hook);
        if state.memory_hit {
            return CallError::Memory {
                plugin: plugin_id,
                hook: hook_name,
                bytes: plugin.limits.memory_bytes,
            };
        }
        if let Some(capability) = state.denied {
            return CallError::CapabilityDenied {
                plugin: plugin_id,
                hook: hook_name,
                capability,
            };
        }
        match error.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::OutOfFuel) => CallError::OutOfFuel {
                plugin: plugin_id,
                hook: hook_name,
                fuel: plugin.limits.fuel,
            },
            Some(wasmtime::Trap::Interrupt) => CallError::Deadline {
                plugin: plugin_id,
                hook: hook_name,
                deadline_ms: u64::try_from(plugin.limits.deadline.as_millis()).unwrap_or(u64::MAX),
            },
            _ => {
                let message = match state.last_words() {
                    Some(words) => format!("{error:#}; the plugin said: {words}"),
                    None => format!("{error:#}"),
                };
                let message: String = message.chars().take(2_000).collect();
                if !state.instantiated {
                    CallError::Instantiate {
                        plugin: plugin_id,
                        hook: hook_name,
                        why: message,
                    }
                } else {
                    CallError::Trap {
                        plugin: plugin_id,
                        hook: hook_name,
                        message,
                    }
                }
            }
        }
    }
}

/// The export of each scheme hook, in [`Hook::ALL`] order.
fn scheme_exports(component: &Component) -> Option<[ComponentExportIndex; 6]> {
    let interface = component.get_export_index(None, "tongka:plugin/scheme@0.1.0")?;
    let mut found = Vec::with_capacity(6);
    for hook in Hook::ALL {
        found.push(component.get_export_index(Some(&interface), hook.as_str())?);
    }
    found.try_into().ok()
}

fn declined_error(plugin: &str, hook: &'static str, declined: HookError) -> CallError {
    CallError::Declined {
        plugin: plugin.to_owned(),
        hook,
        why: match declined {
            HookError::InvalidInput(why) => format!("invalid input: {why}"),
            HookError::Misconfigured(why) => format!("misconfigured: {why}"),
            HookError::Refused(why) => why,
        },
    }
}

/// Loads a compiled artifact from the box's own cache.
#[allow(unsafe_code)]
fn load_compiled(engine: &Engine, path: &std::path::Path) -> wasmtime::Result<Component> {
    // SAFETY: `deserialize_file` trusts the file to be wasmtime's own output. The cache folder is
    // the box's, in its data folder (mode 0700); files are written by `compile` above from
    // `precompile_component` and renamed into place whole, and their names carry the source's
    // SHA-256 and the engine's compatibility hash, so another build's artifact is never picked.
    unsafe { Component::deserialize_file(engine, path) }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
