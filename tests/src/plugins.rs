//! Plugins for the end-to-end tests: the first-party components built for wasm32-wasip2 and
//! packed by the real `tongka-plugin`, as a merchant's tools would hand them to the box.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use serde_json::Value;

use crate::workspace_binary;

/// The hooks a loyalty scheme serves at the till, as a merchant routes them all to one scheme.
pub const TILL_HOOKS: [&str; 5] = [
    "quote-checkout",
    "commit-checkout",
    "top-up",
    "refund",
    "member-joined",
];

/// Builds `plugins/` for wasm32-wasip2 (a no-op when `cargo xtask test` has) and returns where
/// the components are.
pub fn components() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = root.join("target/plugins");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .arg("--manifest-path")
        .arg(root.join("plugins/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .unwrap();
    assert!(status.success(), "building plugins/ failed");
    target.join("wasm32-wasip2/release")
}

/// `component` packed with `manifest` by the real tool, base64 for the API.
pub fn packed(dir: &Path, component: &Path, manifest: &Value) -> String {
    let manifest_path = dir.join("manifest.json");
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let output = dir.join("packed.wasm");
    let _ = std::fs::remove_file(&output);
    let packed = Command::new(workspace_binary("tongka-plugin").unwrap())
        .arg("pack")
        .arg(component)
        .arg("--manifest")
        .arg(&manifest_path)
        .arg("-o")
        .arg(&output)
        .output()
        .unwrap();
    assert!(
        packed.status.success(),
        "{}",
        String::from_utf8_lossy(&packed.stderr)
    );
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(&output).unwrap())
}

/// Installs the box's own `standard-points` with `config` through the API client and routes
/// `hooks` to it.
pub async fn install_standard_points(
    boss: &tongka_client::Client,
    dir: &Path,
    config: &Value,
    hooks: &[&str],
) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("plugins/standard-points/manifest.json")).unwrap(),
    )
    .unwrap();
    let component = packed(dir, &components().join("standard_points.wasm"), &manifest);
    boss.install_plugin(&tongka_client::types::InstallPlugin {
        component,
        config: config.as_object().cloned().unwrap_or_default(),
        grant: Vec::new(),
    })
    .await
    .unwrap();
    for hook in hooks {
        boss.set_plugin_route(
            hook,
            &tongka_client::types::RouteRequest {
                plugins: vec!["standard-points".into()],
            },
        )
        .await
        .unwrap();
    }
}
