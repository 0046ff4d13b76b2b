//! The plugins installed on the box, kept in `plugins/registry.redb` with their components beside
//! it: versions, grants, settings, enabled or not, and which plugins serve which hook in which
//! order. Survives restarts: `load_all` brings every enabled plugin back (from the compiled cache).
//! Also the plugins' own key-value stores (`kv`), namespaced by plugin id.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Capability, Hook, Host, HostOptions, KvRefusal, LoadError, Manifest, PluginKv, hex};

/// id → the installed plugin, as JSON.
const INSTALLED: TableDefinition<&str, &[u8]> = TableDefinition::new("installed");
/// hook name → the plugin ids serving it, in order, as JSON.
const ROUTES: TableDefinition<&str, &[u8]> = TableDefinition::new("routes");
/// (plugin id, key) → value.
const KV: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("kv");

/// The most keys one plugin may keep.
const KV_KEYS_MAX: u64 = 10_000;
const KV_KEY_BYTES_MAX: usize = 256;
const KV_VALUE_BYTES_MAX: usize = 64 << 10;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    pub manifest: Manifest,
    /// SHA-256 of the packed component, hex: its file in `components/`.
    pub sha256: String,
    pub granted: Vec<Capability>,
    pub config: serde_json::Value,
    pub enabled: bool,
}

/// Why a registry change was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("no plugin `{0}` is installed")]
    NotInstalled(String),
    #[error("plugin `{plugin}` cannot serve {hook}: it is a {world}")]
    WrongWorld {
        plugin: String,
        hook: &'static str,
        world: &'static str,
    },
    #[error(
        "plugin `{plugin}` does not declare `{capability}`: only what its manifest asks for can be granted"
    )]
    Undeclared {
        plugin: String,
        capability: &'static str,
    },
    #[error("the plugin registry: {0}")]
    Storage(String),
}

macro_rules! storage_from {
    ($($error:ty),*) => {$(
        impl From<$error> for RegistryError {
            fn from(error: $error) -> Self {
                RegistryError::Storage(error.to_string())
            }
        }
    )*};
}
storage_from!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    std::io::Error,
    serde_json::Error
);

/// A plugin id and whether it loaded.
pub type LoadOutcome = (String, Result<(), LoadError>);

#[derive(Debug)]
pub struct Registry {
    db: redb::Database,
    components: PathBuf,
    /// Counts the changes to what is installed and routed: a [`Routing`] read before the last
    /// change is not handed out again.
    generation: AtomicU64,
    routing: Mutex<Option<Arc<Routing>>>,
}

/// Which plugins serve each hook, with what each routed plugin is (its component and settings):
/// what the till reads on every call, kept in memory between registry changes rather than read
/// and decoded from the file per call.
#[derive(Debug)]
pub struct Routing {
    generation: u64,
    /// In the order of [`Hook::ALL`].
    hooks: Vec<Vec<Routed>>,
}

#[derive(Debug)]
pub struct Routed {
    pub id: String,
    /// The installed component's SHA-256 and its settings as JSON text; empty if the route
    /// names a plugin no longer installed.
    pub sha256: String,
    pub config: String,
}

impl Routing {
    /// The plugins routed to `hook`, in the order they run.
    pub fn routed(&self, hook: Hook) -> &[Routed] {
        self.hooks.get(hook.index()).map_or(&[], Vec::as_slice)
    }
}

impl Registry {
    /// Opens (creating if missing) the registry in `dir`.
    pub fn open(dir: &Path) -> Result<Registry, RegistryError> {
        let components = dir.join("components");
        std::fs::create_dir_all(&components)?;
        let db = redb::Database::create(dir.join("registry.redb"))?;
        let txn = db.begin_write()?;
        txn.open_table(INSTALLED)?;
        txn.open_table(ROUTES)?;
        txn.open_table(KV)?;
        txn.commit()?;
        Ok(Registry {
            db,
            components,
            generation: AtomicU64::new(0),
            routing: Mutex::new(None),
        })
    }

    /// Marks a committed change: the next [`Registry::routing`] reads the file again.
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The routes as of the last change.
    pub fn routing(&self) -> Result<Arc<Routing>, RegistryError> {
        // Read before the file: a change committed after this is counted after it, so a
        // snapshot it misses carries an older generation and is not handed out again.
        let generation = self.generation.load(Ordering::Acquire);
        let mut cached = self
            .routing
            .lock()
            .map_err(|_| RegistryError::Storage("the routing cache was poisoned".into()))?;
        if let Some(routing) = cached.as_ref().filter(|r| r.generation == generation) {
            return Ok(Arc::clone(routing));
        }
        let txn = self.db.begin_read()?;
        let routes = txn.open_table(ROUTES)?;
        let installed = txn.open_table(INSTALLED)?;
        let mut hooks = Vec::with_capacity(Hook::ALL.len());
        for hook in Hook::ALL {
            let ids: Vec<String> = routes
                .get(hook.as_str())?
                .map(|ids| serde_json::from_slice(ids.value()))
                .transpose()?
                .unwrap_or_default();
            let mut routed = Vec::with_capacity(ids.len());
            for id in ids {
                let plugin: Option<Installed> = installed
                    .get(id.as_str())?
                    .map(|bytes| serde_json::from_slice(bytes.value()))
                    .transpose()?;
                let (sha256, config) = plugin
                    .map(|p| (p.sha256, p.config.to_string()))
                    .unwrap_or_default();
                routed.push(Routed { id, sha256, config });
            }
            hooks.push(routed);
        }
        let routing = Arc::new(Routing { generation, hooks });
        *cached = Some(Arc::clone(&routing));
        Ok(routing)
    }

    /// Installs a plugin, or upgrades the one with its id: it is compiled and checked (and
    /// starts serving) before anything is recorded, so a bad upgrade leaves the old version
    /// installed and serving.
    pub fn install(
        &self,
        host: &Host,
        component: &[u8],
        granted: &[Capability],
        config: &serde_json::Value,
    ) -> Result<Installed, RegistryError> {
        let manifest = crate::manifest::read(component)?;
        declared(&manifest, granted)?;
        let plugin = host.load(component, granted, &config.to_string())?;
        let sha256 = hex(&Sha256::digest(component));
        let path = self.components.join(format!("{sha256}.wasm"));
        if !path.exists() {
            let temporary = path.with_extension("tmp");
            std::fs::write(&temporary, component)?;
            std::fs::rename(&temporary, &path)?;
        }
        let installed = Installed {
            manifest: plugin.manifest.clone(),
            sha256,
            granted: plugin.granted.to_vec(),
            config: config.clone(),
            enabled: true,
        };
        self.put(&installed)?;
        Ok(installed)
    }

    fn put(&self, installed: &Installed) -> Result<(), RegistryError> {
        let txn = self.db.begin_write()?;
        txn.open_table(INSTALLED)?.insert(
            installed.manifest.id.as_str(),
            serde_json::to_vec(installed)?.as_slice(),
        )?;
        txn.commit()?;
        self.changed();
        Ok(())
    }

    pub fn installed(&self, id: &str) -> Result<Option<Installed>, RegistryError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(INSTALLED)?;
        Ok(table
            .get(id)?
            .map(|bytes| serde_json::from_slice(bytes.value()))
            .transpose()?)
    }

    /// Every installed plugin, by id.
    pub fn list(&self) -> Result<Vec<Installed>, RegistryError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(INSTALLED)?;
        let mut list = Vec::new();
        for entry in table.iter()? {
            list.push(serde_json::from_slice(entry?.1.value())?);
        }
        Ok(list)
    }

    fn component(&self, installed: &Installed) -> Result<Vec<u8>, RegistryError> {
        Ok(std::fs::read(
            self.components.join(format!("{}.wasm", installed.sha256)),
        )?)
    }

    /// Changes what the merchant granted a plugin, or its configuration: checked against its
    /// manifest first (and, when enabled, serving with the new settings) before it is recorded.
    pub fn reconfigure(
        &self,
        host: &Host,
        id: &str,
        granted: Option<&[Capability]>,
        config: Option<&serde_json::Value>,
    ) -> Result<Installed, RegistryError> {
        let mut installed = self
            .installed(id)?
            .ok_or_else(|| RegistryError::NotInstalled(id.to_owned()))?;
        let granted = granted.map_or_else(|| installed.granted.clone(), <[Capability]>::to_vec);
        let config = config.cloned().unwrap_or_else(|| installed.config.clone());
        declared(&installed.manifest, &granted)?;
        let component = self.component(&installed)?;
        if installed.enabled {
            host.load(&component, &granted, &config.to_string())?;
        } else {
            host.prepare(&component, &granted, &config.to_string())?;
        }
        installed.granted = granted;
        installed.config = config;
        self.put(&installed)?;
        Ok(installed)
    }

    /// Disables (stops serving, keeps installed) or enables a plugin.
    pub fn set_enabled(
        &self,
        host: &Host,
        id: &str,
        enabled: bool,
    ) -> Result<Installed, RegistryError> {
        let mut installed = self
            .installed(id)?
            .ok_or_else(|| RegistryError::NotInstalled(id.to_owned()))?;
        if enabled {
            host.load(
                &self.component(&installed)?,
                &installed.granted,
                &installed.config.to_string(),
            )?;
        } else {
            host.unload(id);
        }
        installed.enabled = enabled;
        self.put(&installed)?;
        Ok(installed)
    }

    /// Removes a plugin: unloaded, forgotten, its data and its routes gone.
    pub fn remove(&self, host: &Host, id: &str) -> Result<(), RegistryError> {
        let installed = self
            .installed(id)?
            .ok_or_else(|| RegistryError::NotInstalled(id.to_owned()))?;
        host.unload(id);
        let txn = self.db.begin_write()?;
        {
            txn.open_table(INSTALLED)?.remove(id)?;
            let mut kv = txn.open_table(KV)?;
            let keys: Vec<String> = kv
                .range((id, "")..)?
                .map_while(|entry| {
                    let (key, _) = entry.ok()?;
                    let (plugin, key) = key.value();
                    (plugin == id).then(|| key.to_owned())
                })
                .collect();
            for key in keys {
                kv.remove((id, key.as_str()))?;
            }
            let mut routes = txn.open_table(ROUTES)?;
            let all: Vec<(String, Vec<String>)> = routes
                .iter()?
                .filter_map(|entry| {
                    let (hook, ids) = entry.ok()?;
                    Some((
                        hook.value().to_owned(),
                        serde_json::from_slice(ids.value()).ok()?,
                    ))
                })
                .collect();
            for (hook, ids) in all {
                let kept: Vec<&String> = ids.iter().filter(|p| *p != id).collect();
                routes.insert(hook.as_str(), serde_json::to_vec(&kept)?.as_slice())?;
            }
        }
        txn.commit()?;
        self.changed();
        // Another installed version may share the file only if the bytes are equal: same id, so no.
        let _ = std::fs::remove_file(self.components.join(format!("{}.wasm", installed.sha256)));
        Ok(())
    }

    /// Loads every enabled plugin into `host`: what a restart does. A plugin that no longer loads
    /// (a box that dropped its API version) is reported and skipped; the others load.
    pub fn load_all(&self, host: &Host) -> Result<Vec<LoadOutcome>, RegistryError> {
        let mut outcomes = Vec::new();
        for installed in self.list()?.into_iter().filter(|i| i.enabled) {
            let outcome = self
                .component(&installed)
                .map_err(|e| LoadError::Cache(e.to_string()))
                .and_then(|bytes| {
                    host.load(&bytes, &installed.granted, &installed.config.to_string())
                        .map(drop)
                });
            outcomes.push((installed.manifest.id.clone(), outcome));
        }
        Ok(outcomes)
    }

    /// Sets which plugins serve `hook`, in the order they run (two schemes: both, in order).
    pub fn set_route(&self, hook: Hook, plugins: &[String]) -> Result<(), RegistryError> {
        for id in plugins {
            let installed = self
                .installed(id)?
                .ok_or_else(|| RegistryError::NotInstalled(id.clone()))?;
            if installed.manifest.world != crate::World::LoyaltyScheme {
                return Err(RegistryError::WrongWorld {
                    plugin: id.clone(),
                    hook: hook.as_str(),
                    world: installed.manifest.world.as_str(),
                });
            }
        }
        let txn = self.db.begin_write()?;
        txn.open_table(ROUTES)?
            .insert(hook.as_str(), serde_json::to_vec(plugins)?.as_slice())?;
        txn.commit()?;
        self.changed();
        Ok(())
    }

    /// The plugins serving `hook`, in order.
    pub fn route(&self, hook: Hook) -> Result<Vec<String>, RegistryError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(ROUTES)?;
        Ok(table
            .get(hook.as_str())?
            .map(|ids| serde_json::from_slice(ids.value()))
            .transpose()?
            .unwrap_or_default())
    }
}

/// Grants only what the manifest declares: a merchant cannot give more than the partner asked for.
fn declared(manifest: &Manifest, granted: &[Capability]) -> Result<(), RegistryError> {
    match granted
        .iter()
        .find(|capability| !manifest.capabilities.contains(capability))
    {
        Some(capability) => Err(RegistryError::Undeclared {
            plugin: manifest.id.clone(),
            capability: capability.as_str(),
        }),
        None => Ok(()),
    }
}

/// The box's plugins: the host that runs them and the registry that remembers them.
#[derive(Debug)]
pub struct Plugins {
    pub host: Host,
    pub registry: Arc<Registry>,
}

impl Plugins {
    /// Opens the registry in `dir` (compiled components cached in `dir/compiled`) and loads every
    /// enabled plugin; what did not load is in the outcomes.
    pub fn open(
        dir: &Path,
        mut options: HostOptions,
    ) -> Result<(Plugins, Vec<LoadOutcome>), RegistryError> {
        let registry = Arc::new(Registry::open(dir)?);
        options.cache_dir = Some(dir.join("compiled"));
        let host = Host::new(options, Arc::clone(&registry) as Arc<dyn PluginKv>)?;
        let outcomes = registry.load_all(&host)?;
        Ok((Plugins { host, registry }, outcomes))
    }
}

/// The plugins' key-value stores live in the registry file.
impl PluginKv for Registry {
    fn get(&self, plugin: &str, key: &str) -> Option<Vec<u8>> {
        let txn = self.db.begin_read().ok()?;
        let table = txn.open_table(KV).ok()?;
        let value = table.get((plugin, key)).ok()??;
        Some(value.value().to_vec())
    }

    fn set(&self, plugin: &str, key: &str, value: &[u8]) -> Result<(), KvRefusal> {
        if key.len() > KV_KEY_BYTES_MAX || value.len() > KV_VALUE_BYTES_MAX {
            return Err(KvRefusal::TooLarge);
        }
        let write = || -> Result<Result<(), KvRefusal>, RegistryError> {
            let txn = self.db.begin_write()?;
            {
                let mut table = txn.open_table(KV)?;
                if table.get((plugin, key))?.is_none() {
                    let count = table
                        .range((plugin, "")..)?
                        .take_while(|entry| {
                            entry.as_ref().is_ok_and(|(k, _)| k.value().0 == plugin)
                        })
                        .count() as u64;
                    if count >= KV_KEYS_MAX {
                        return Ok(Err(KvRefusal::Full));
                    }
                }
                table.insert((plugin, key), value)?;
            }
            txn.commit()?;
            Ok(Ok(()))
        };
        write().unwrap_or(Err(KvRefusal::Full))
    }

    fn delete(&self, plugin: &str, key: &str) -> Result<(), KvRefusal> {
        let write = || -> Result<(), RegistryError> {
            let txn = self.db.begin_write()?;
            txn.open_table(KV)?.remove((plugin, key))?;
            txn.commit()?;
            Ok(())
        };
        write().map_err(|_| KvRefusal::Full)
    }
}
