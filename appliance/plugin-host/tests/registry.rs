//! Installed plugins survive a restart: install, upgrade (a bad upgrade keeps the old version),
//! disable, remove, routes and the plugins' own stores, all read back by a new host on the same
//! folder.

use std::path::Path;
use std::sync::Arc;

use tongka_plugin_host::registry::{Registry, RegistryError};
use tongka_plugin_host::{Capability, Hook, Host, HostOptions, PluginKv};

mod common;

fn packed(id: &str, version: &str, capabilities: Vec<Capability>) -> Vec<u8> {
    let mut manifest = common::scheme(id, version, capabilities);
    manifest.config_schema = serde_json::json!({
        "type": "object",
        "properties": {"mode": {"type": "string", "enum": ["ok", "kv", "count"]}}
    });
    common::packed("misbehave", &manifest)
}

/// A box's plugin side on `dir`: the registry, and a host whose kv is the registry.
fn open(dir: &Path) -> (Arc<Registry>, Host) {
    let registry = Arc::new(Registry::open(dir).unwrap());
    let options = HostOptions {
        cache_dir: Some(dir.join("cache")),
        ..HostOptions::default()
    };
    let host = Host::new(options, Arc::clone(&registry) as Arc<dyn PluginKv>).unwrap();
    (registry, host)
}

#[test]
fn installed_plugins_their_settings_routes_and_data_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ok = serde_json::json!({"mode": "ok"});
    {
        let (registry, host) = open(dir.path());
        registry
            .install(&host, &packed("alpha", "1.0.0", vec![]), &[], &ok)
            .unwrap();
        registry
            .install(
                &host,
                &packed("keeper", "1.0.0", vec![Capability::Kv]),
                &[Capability::Kv],
                &serde_json::json!({"mode": "kv"}),
            )
            .unwrap();
        registry
            .install(&host, &packed("beta", "1.0.0", vec![]), &[], &ok)
            .unwrap();
        // The keeper writes to its store through the registry.
        assert!(host.plugin("keeper").is_some());
        registry
            .set_route(Hook::QuoteCheckout, &["beta".into(), "alpha".into()])
            .unwrap();
        assert!(matches!(
            registry.set_route(Hook::TopUp, &["nobody".into()]),
            Err(RegistryError::NotInstalled(_))
        ));
        // Upgrade alpha; then a bad upgrade (settings its schema refuses) changes nothing.
        registry
            .install(&host, &packed("alpha", "1.1.0", vec![]), &[], &ok)
            .unwrap();
        let refused = registry.install(
            &host,
            &packed("alpha", "1.2.0", vec![]),
            &[],
            &serde_json::json!({"mode": "explode"}),
        );
        assert!(matches!(refused, Err(RegistryError::Load(_))));
        assert_eq!(host.plugin("alpha").unwrap().manifest.version, "1.1.0");
        registry.set_enabled(&host, "beta", false).unwrap();
        assert!(
            host.plugin("beta").is_none(),
            "disabled plugins stop serving"
        );
    }
    {
        let (registry, host) = open(dir.path());
        let loaded = registry.load_all(&host).unwrap();
        let ids: Vec<&str> = loaded.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["alpha", "keeper"], "enabled plugins come back");
        assert!(loaded.iter().all(|(_, outcome)| outcome.is_ok()));
        assert_eq!(host.plugin("alpha").unwrap().manifest.version, "1.1.0");
        assert_eq!(*host.plugin("keeper").unwrap().granted, [Capability::Kv]);
        assert!(host.plugin("beta").is_none());
        assert!(!registry.installed("beta").unwrap().unwrap().enabled);
        assert_eq!(
            registry.route(Hook::QuoteCheckout).unwrap(),
            ["beta".to_owned(), "alpha".to_owned()]
        );
        assert_eq!(
            host.stats()
                .compiled
                .load(std::sync::atomic::Ordering::Relaxed),
            0,
            "a restart loads from the compiled cache"
        );
        registry.set_enabled(&host, "beta", true).unwrap();
        assert!(host.plugin("beta").is_some());
        registry.remove(&host, "beta").unwrap();
        assert!(host.plugin("beta").is_none());
        assert_eq!(
            registry.route(Hook::QuoteCheckout).unwrap(),
            ["alpha".to_owned()],
            "a removed plugin leaves its routes"
        );
        PluginKv::set(&*registry, "keeper", "visits", b"3").unwrap();
    }
    let (registry, host) = open(dir.path());
    registry.load_all(&host).unwrap();
    let ids: Vec<String> = registry
        .list()
        .unwrap()
        .into_iter()
        .map(|i| i.manifest.id)
        .collect();
    assert_eq!(ids, ["alpha", "keeper"]);
    assert_eq!(
        PluginKv::get(&*registry, "keeper", "visits"),
        Some(b"3".to_vec())
    );
    assert!(matches!(
        registry.set_enabled(&host, "beta", true),
        Err(RegistryError::NotInstalled(_))
    ));
}

/// The routes the till reads are kept in memory between changes: each kind of change is seen by
/// the next read, never the copy from before it.
#[test]
fn the_routing_the_till_reads_follows_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, host) = open(dir.path());
    let ok = serde_json::json!({"mode": "ok"});
    let routed = |hook| -> Vec<(String, String, String)> {
        registry
            .routing()
            .unwrap()
            .routed(hook)
            .iter()
            .map(|r| (r.id.clone(), r.sha256.clone(), r.config.clone()))
            .collect()
    };
    assert!(routed(Hook::QuoteCheckout).is_empty());
    let first = registry
        .install(&host, &packed("alpha", "1.0.0", vec![]), &[], &ok)
        .unwrap();
    registry
        .set_route(Hook::QuoteCheckout, &["alpha".into()])
        .unwrap();
    let before = routed(Hook::QuoteCheckout);
    assert_eq!(
        before,
        [("alpha".into(), first.sha256.clone(), ok.to_string())]
    );
    assert!(
        Arc::ptr_eq(&registry.routing().unwrap(), &registry.routing().unwrap()),
        "no change, no new read"
    );

    let upgraded = registry
        .install(&host, &packed("alpha", "1.1.0", vec![]), &[], &ok)
        .unwrap();
    assert_ne!(upgraded.sha256, first.sha256);
    assert_eq!(routed(Hook::QuoteCheckout)[0].1, upgraded.sha256);

    let count = serde_json::json!({"mode": "count"});
    registry
        .reconfigure(&host, "alpha", None, Some(&count))
        .unwrap();
    assert_eq!(routed(Hook::QuoteCheckout)[0].2, count.to_string());

    registry
        .install(&host, &packed("beta", "1.0.0", vec![]), &[], &ok)
        .unwrap();
    registry
        .set_route(Hook::QuoteCheckout, &["beta".into(), "alpha".into()])
        .unwrap();
    let ids: Vec<String> = routed(Hook::QuoteCheckout)
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(ids, ["beta", "alpha"]);

    registry.remove(&host, "beta").unwrap();
    let ids: Vec<String> = routed(Hook::QuoteCheckout)
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(ids, ["alpha"]);
    assert!(routed(Hook::TopUp).is_empty());
}
