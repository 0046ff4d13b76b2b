//! The manifest every plugin carries inside its component, as a custom section: who it is, which
//! version of the interface it was built against, which world it implements, what it may ask for,
//! and the shape of its configuration.
//!
//! Any toolchain can produce the component; `pack` adds the manifest, so one file is what a
//! partner hands over.

use serde::{Deserialize, Serialize};

use crate::error::LoadError;

/// The custom section that holds the manifest, as JSON.
pub const MANIFEST_SECTION: &str = "tongka-manifest";

/// The interface versions this host serves: `0.1.x`. For 0.x versions the minor is the breaking
/// part (semver), so a plugin for 0.2 is refused with a clear error.
pub const API_VERSION: (u64, u64) = (0, 1);

/// The longest manifest accepted.
const MANIFEST_BYTES_MAX: usize = 64 << 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    LoyaltyScheme,
    Notifier,
    Settlement,
    DeviceDriver,
}

impl World {
    pub fn as_str(self) -> &'static str {
        match self {
            World::LoyaltyScheme => "loyalty-scheme",
            World::Notifier => "notifier",
            World::Settlement => "settlement",
            World::DeviceDriver => "device-driver",
        }
    }
}

/// What a plugin may ask the box for. Declared in the manifest; the merchant grants a subset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Its own key-value store.
    Kv,
    /// HTTP to the hosts in `http_hosts` (notifiers only).
    OutboundHttp,
}

impl Capability {
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Kv => "kv",
            Capability::OutboundHttp => "outbound-http",
        }
    }

    pub fn parse(name: &str) -> Option<Capability> {
        [Capability::Kv, Capability::OutboundHttp]
            .into_iter()
            .find(|c| c.as_str() == name)
    }
}

/// Per-call limits a plugin asks for; the host caps them by its own maxima.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestedLimits {
    pub fuel: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub deadline_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Name {
    pub zh: String,
    pub en: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Lower-case letters, digits and `-`, 2 to 48: `standard-points`.
    pub id: String,
    /// The plugin's own version, semver: `1.4.0`.
    pub version: String,
    /// The `tongka:plugin` version it was built against: `0.1.0`.
    pub api: String,
    pub world: World,
    pub name: Name,
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// For `outbound-http`: the hosts it may reach.
    #[serde(default)]
    pub http_hosts: Vec<String>,
    /// The shape of its configuration (see [`crate::schema`]); `{}` accepts any object.
    #[serde(default = "empty_object")]
    pub config_schema: serde_json::Value,
    #[serde(default)]
    pub limits: RequestedLimits,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// `MAJOR.MINOR.PATCH`, digits only.
fn semver(text: &str) -> Option<(u64, u64, u64)> {
    let mut parts = text.split('.').map(|p| {
        (!p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<u64>().ok())
            .flatten()
    });
    let version = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(version)
}

impl Manifest {
    /// A manifest for the API this host serves, with no capabilities, any settings and the
    /// default limits; the name in both languages is the id until set.
    pub fn new(id: &str, version: &str, world: World) -> Manifest {
        Manifest {
            id: id.to_owned(),
            version: version.to_owned(),
            api: format!("{}.{}.0", API_VERSION.0, API_VERSION.1),
            world,
            name: Name {
                zh: id.to_owned(),
                en: id.to_owned(),
            },
            capabilities: Vec::new(),
            http_hosts: Vec::new(),
            config_schema: empty_object(),
            limits: RequestedLimits::default(),
        }
    }

    /// Checks the fields a host relies on.
    pub fn check(&self) -> Result<(), LoadError> {
        let id_ok = (2..=48).contains(&self.id.len())
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !self.id.starts_with('-');
        if !id_ok {
            return Err(LoadError::Manifest(format!(
                "id `{}`: 2 to 48 of a-z, 0-9 and `-`",
                self.id
            )));
        }
        if semver(&self.version).is_none() {
            return Err(LoadError::Manifest(format!(
                "version `{}` is not MAJOR.MINOR.PATCH",
                self.version
            )));
        }
        let Some((major, minor, _)) = semver(&self.api) else {
            return Err(LoadError::Manifest(format!(
                "api `{}` is not MAJOR.MINOR.PATCH",
                self.api
            )));
        };
        if (major, minor) != API_VERSION {
            return Err(LoadError::UnsupportedApi {
                plugin: self.id.clone(),
                found: self.api.clone(),
                supported: format!("{}.{}.x", API_VERSION.0, API_VERSION.1),
            });
        }
        if self.capabilities.contains(&Capability::OutboundHttp) && self.world != World::Notifier {
            return Err(LoadError::Manifest(
                "only notifiers may ask for outbound-http".into(),
            ));
        }
        crate::schema::check_schema(&self.config_schema)
            .map_err(|why| LoadError::Manifest(format!("config_schema: {why}")))?;
        Ok(())
    }
}

/// The manifest inside a component, checked.
pub fn read(component: &[u8]) -> Result<Manifest, LoadError> {
    let mut found = None;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        let payload = payload.map_err(|e| LoadError::NotAComponent(e.to_string()))?;
        if let wasmparser::Payload::CustomSection(section) = payload
            && section.name() == MANIFEST_SECTION
        {
            if found.is_some() {
                return Err(LoadError::Manifest("two manifests".into()));
            }
            found = Some(section.data().to_vec());
        }
    }
    let bytes = found.ok_or(LoadError::NoManifest)?;
    if bytes.len() > MANIFEST_BYTES_MAX {
        return Err(LoadError::Manifest("larger than 64 KiB".into()));
    }
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(|e| LoadError::Manifest(e.to_string()))?;
    manifest.check()?;
    Ok(manifest)
}

/// Embeds `manifest` into `component`, whatever built it: the one file a partner hands over. A
/// component that already carries a manifest is refused (pack the unpacked build).
pub fn pack(component: &[u8], manifest: &Manifest) -> Result<Vec<u8>, LoadError> {
    manifest.check()?;
    let is_component = wasmparser::Parser::is_component(component);
    if !is_component {
        return Err(LoadError::NotAComponent(
            "not a WebAssembly component (a core module? build for wasm32-wasip2)".into(),
        ));
    }
    match read(component) {
        Err(LoadError::NoManifest) => {}
        Ok(_) | Err(LoadError::Manifest(_)) | Err(LoadError::UnsupportedApi { .. }) => {
            return Err(LoadError::Manifest(
                "the component already carries a manifest".into(),
            ));
        }
        Err(other) => return Err(other),
    }
    let data = serde_json::to_vec(manifest).map_err(|e| LoadError::Manifest(e.to_string()))?;
    let name = MANIFEST_SECTION.as_bytes();
    let mut body = Vec::with_capacity(name.len() + data.len() + 10);
    leb128(&mut body, name.len());
    body.extend_from_slice(name);
    body.extend_from_slice(&data);
    let mut packed = component.to_vec();
    // A custom section (id 0) may follow any section of a component.
    packed.push(0);
    leb128(&mut packed, body.len());
    packed.extend_from_slice(&body);
    Ok(packed)
}

fn leb128(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn manifest(id: &str) -> Manifest {
        Manifest::new(id, "1.0.0", World::LoyaltyScheme)
    }

    /// The smallest component: the preamble alone.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    #[test]
    fn a_packed_manifest_reads_back_and_packing_twice_is_refused() {
        assert_eq!(read(EMPTY_COMPONENT), Err(LoadError::NoManifest));
        let packed = pack(EMPTY_COMPONENT, &manifest("example")).unwrap();
        assert_eq!(read(&packed).unwrap(), manifest("example"));
        assert!(matches!(
            pack(&packed, &manifest("example")),
            Err(LoadError::Manifest(_))
        ));
        let core_module = b"\0asm\x01\0\0\0";
        assert!(matches!(
            pack(core_module, &manifest("example")),
            Err(LoadError::NotAComponent(_))
        ));
    }

    #[test]
    fn ids_versions_and_the_api_version_are_checked() {
        assert!(manifest("standard-points").check().is_ok());
        for id in ["", "a", "Upper", "-lead", "has space"] {
            assert!(manifest(id).check().is_err(), "{id}");
        }
        let mut future = manifest("x1");
        future.api = "0.2.0".into();
        assert!(matches!(
            future.check(),
            Err(LoadError::UnsupportedApi { .. })
        ));
        let mut patch = manifest("x1");
        patch.api = "0.1.7".into();
        assert!(patch.check().is_ok());
        let mut bad_version = manifest("x1");
        bad_version.version = "1.0".into();
        assert!(bad_version.check().is_err());
        let mut greedy = manifest("x1");
        greedy.capabilities = vec![Capability::OutboundHttp];
        assert!(greedy.check().is_err(), "only notifiers reach out");
    }
}
