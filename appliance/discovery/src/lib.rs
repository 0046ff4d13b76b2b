//! Stores find the box without anyone typing an address: the box advertises a DNS-SD service,
//! `_tongka._tcp.local.`, over multicast DNS on every non-loopback interface (or the ones
//! configured), following address changes, and withdraws it with goodbye packets when it stops.
//! A POS browses for it and trusts the certificate whose fingerprint the TXT record carries,
//! checked again when it pairs.
//!
//! TXT keys (RFC 6763 §6: short keys, `txtvers` first): `txtvers=1`; `api=1`, the major version of
//! `/api/v1`; `id`, the box's id; `fp`, the SHA-256 of its TLS certificate, 64 lower-case hex.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent, ServiceInfo};

pub const SERVICE_TYPE: &str = "_tongka._tcp.local.";
pub const TXT_VERSION: &str = "1";
/// The API's major version, as in `/api/v1`.
pub const API_MAJOR: &str = "1";

#[derive(Debug, thiserror::Error)]
#[error("mDNS: {0}")]
pub struct DiscoveryError(String);

impl From<mdns_sd::Error> for DiscoveryError {
    fn from(error: mdns_sd::Error) -> Self {
        DiscoveryError(error.to_string())
    }
}

/// The box's id from `path`, made (16 random bytes, hex) on first start: stable across restarts
/// and certificate changes, so a POS recognises its box.
pub fn box_id(path: &std::path::Path) -> Result<String, DiscoveryError> {
    let valid = |id: &str| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
    match std::fs::read_to_string(path) {
        Ok(text) if valid(text.trim()) => return Ok(text.trim().to_owned()),
        Ok(_) => {
            return Err(DiscoveryError(format!(
                "{} does not hold a box id (32 hex digits)",
                path.display()
            )));
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(DiscoveryError(format!("{}: {error}", path.display()))),
    }
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| DiscoveryError(e.to_string()))?;
    let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, format!("{id}\n"))
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|e| DiscoveryError(format!("{}: {e}", path.display())))?;
    Ok(id)
}

/// What the box says of itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advertisement {
    /// The instance name shown to people: the merchant's name.
    pub instance: String,
    /// The box's id: stable across restarts and certificate changes.
    pub box_id: String,
    pub port: u16,
    /// SHA-256 of the TLS certificate, 64 hex digits.
    pub fingerprint: String,
}

/// The running advertisement; [`Advertiser::stop`] withdraws it.
pub struct Advertiser {
    daemon: ServiceDaemon,
    fullname: String,
    advertisement: Advertisement,
}

impl std::fmt::Debug for Advertiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Advertiser")
            .field("fullname", &self.fullname)
            .finish_non_exhaustive()
    }
}

/// DNS labels hold 63 bytes; a longer merchant name is cut on a character boundary.
fn instance_label(name: &str) -> String {
    let mut label = String::new();
    for c in name.chars().filter(|c| !c.is_control()) {
        if label.len() + c.len_utf8() > 63 {
            break;
        }
        label.push(c);
    }
    if label.trim().is_empty() {
        "Tongka".to_owned()
    } else {
        label
    }
}

/// Registers the service for `advertisement`; its full name.
fn register(
    daemon: &ServiceDaemon,
    advertisement: &Advertisement,
) -> Result<String, DiscoveryError> {
    let short_id: String = advertisement.box_id.chars().take(8).collect();
    let host = format!("tongka-{short_id}.local.");
    let properties = [
        ("txtvers", TXT_VERSION),
        ("api", API_MAJOR),
        ("id", advertisement.box_id.as_str()),
        ("fp", advertisement.fingerprint.as_str()),
    ];
    let info = ServiceInfo::new(
        SERVICE_TYPE,
        &instance_label(&advertisement.instance),
        &host,
        (),
        advertisement.port,
        &properties[..],
    )?
    // Addresses follow the interfaces': a DHCP renewal or a new cable is announced.
    .enable_addr_auto();
    let fullname = info.get_fullname().to_owned();
    daemon.register(info)?;
    tracing::info!(service = %fullname, port = advertisement.port, "advertised on the LAN (mDNS)");
    Ok(fullname)
}

impl Advertiser {
    /// Starts answering for the box on `interfaces` (by name), or on every non-loopback interface
    /// if none are named.
    pub fn start(
        advertisement: &Advertisement,
        interfaces: &[String],
    ) -> Result<Advertiser, DiscoveryError> {
        let daemon = ServiceDaemon::new()?;
        // Terminals are on the LAN; loopback answers would only confuse a browser on the box.
        daemon.disable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6])?;
        if !interfaces.is_empty() {
            daemon.disable_interface(IfKind::All)?;
            daemon.enable_interface(
                interfaces
                    .iter()
                    .map(|name| IfKind::Name(name.clone()))
                    .collect::<Vec<_>>(),
            )?;
        }
        let fullname = register(&daemon, advertisement)?;
        Ok(Advertiser {
            daemon,
            fullname,
            advertisement: advertisement.clone(),
        })
    }

    /// Advertises under a new instance name (the merchant was renamed): the old name is withdrawn
    /// with a goodbye, the new one announced, on the same daemon and interfaces.
    pub fn rename(&mut self, instance: &str, wait: Duration) -> Result<(), DiscoveryError> {
        if instance_label(instance) == instance_label(&self.advertisement.instance) {
            return Ok(());
        }
        if let Ok(done) = self.daemon.unregister(&self.fullname) {
            let _ = done.recv_timeout(wait);
        }
        self.advertisement.instance = instance.to_owned();
        self.fullname = register(&self.daemon, &self.advertisement)?;
        Ok(())
    }

    /// Withdraws the service (goodbye packets: browsers drop it at once, not when its TTL runs
    /// out) and stops answering, waiting at most `wait` for each.
    pub fn stop(self, wait: Duration) {
        if let Ok(done) = self.daemon.unregister(&self.fullname) {
            let _ = done.recv_timeout(wait);
        }
        if let Ok(done) = self.daemon.shutdown() {
            let _ = done.recv_timeout(wait);
        }
        tracing::info!(service = %self.fullname, "withdrawn from the LAN");
    }
}

/// A box found on the LAN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundBox {
    pub instance: String,
    pub box_id: String,
    pub api: String,
    /// SHA-256 of its certificate, 64 hex digits, to pin.
    pub fingerprint: String,
    pub addresses: Vec<IpAddr>,
    pub port: u16,
}

/// What a browser sees, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    Found(FoundBox),
    /// A box withdrew (its full service name).
    Withdrawn(String),
}

/// Browses for boxes until `until` says stop or `timeout` passes, calling `seen` with each box
/// resolved (with its TXT data) or withdrawn. Services without the keys this version reads are
/// skipped.
pub fn browse(
    timeout: Duration,
    mut seen: impl FnMut(&Seen) -> bool,
) -> Result<(), DiscoveryError> {
    let daemon = ServiceDaemon::new()?;
    let events = daemon.browse(SERVICE_TYPE)?;
    let deadline = Instant::now() + timeout;
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        // A timeout is the deadline; a disconnect, the daemon gone: either way, done.
        let Ok(event) = events.recv_timeout(left) else {
            break;
        };
        let event = match event {
            ServiceEvent::ServiceResolved(service) => {
                let txt = |key: &str| service.get_property_val_str(key).map(str::to_owned);
                let (Some(box_id), Some(api), Some(fingerprint)) =
                    (txt("id"), txt("api"), txt("fp"))
                else {
                    continue;
                };
                let instance = service
                    .fullname
                    .strip_suffix(&format!(".{SERVICE_TYPE}"))
                    .unwrap_or(&service.fullname)
                    .replace("\\ ", " ");
                names.insert(service.fullname.clone(), box_id.clone());
                let mut addresses: Vec<IpAddr> = service
                    .get_addresses()
                    .iter()
                    .map(|a| a.to_ip_addr())
                    .collect();
                addresses.sort();
                Seen::Found(FoundBox {
                    instance,
                    box_id,
                    api,
                    fingerprint,
                    addresses,
                    port: service.port,
                })
            }
            ServiceEvent::ServiceRemoved(_, fullname) => Seen::Withdrawn(fullname),
            _ => continue,
        };
        if !seen(&event) {
            break;
        }
    }
    let _ = daemon.shutdown();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_name_fits_one_dns_label() {
        assert_eq!(instance_label("好邻居超市"), "好邻居超市");
        let long = "好".repeat(40);
        let label = instance_label(&long);
        assert!(label.len() <= 63 && label.len() > 57, "{}", label.len());
        assert!(long.starts_with(&label));
        assert_eq!(instance_label("\u{7}\n"), "Tongka");
    }
}
