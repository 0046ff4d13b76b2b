//! What the host's tests share: the real components from `plugins/`, and manifests for them.

// Each test binary uses some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use tongka_plugin_host::manifest::{self, Manifest};
use tongka_plugin_host::{Capability, World};

/// A component built from `plugins/` for wasm32-wasip2. The workspace is built once per test
/// run (cargo makes it a no-op when nothing changed; `cargo xtask test` has built it already).
pub fn component(name: &str) -> Vec<u8> {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let target = root.join("target/plugins");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(root.join("plugins/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building plugins/ failed");
        target.join("wasm32-wasip2/release")
    });
    std::fs::read(dir.join(format!("{name}.wasm"))).unwrap()
}

/// A loyalty scheme's manifest asking for `capabilities`.
pub fn scheme(id: &str, version: &str, capabilities: Vec<Capability>) -> Manifest {
    let mut manifest = Manifest::new(id, version, World::LoyaltyScheme);
    manifest.capabilities = capabilities;
    manifest
}

/// `name`'s component with `manifest` packed in.
pub fn packed(name: &str, manifest: &Manifest) -> Vec<u8> {
    manifest::pack(&component(name), manifest).unwrap()
}
