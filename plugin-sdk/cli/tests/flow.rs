//! The author's path through the real `tongka-plugin` binary, as docs/plugins.md tells it:
//! `new` → `build` → `pack` → `inspect` → `test`, and a fixture that must fail does.

use std::path::Path;
use std::process::{Command, Output};

fn tool(args: &[&str], dir: &Path) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    Command::new(env!("CARGO_BIN_EXE_tongka-plugin"))
        .args(args)
        .current_dir(dir)
        // Shares the plugins' build folder: the SDK's dependencies are compiled once.
        .env("CARGO_TARGET_DIR", root.join("target/plugins"))
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn from_new_to_a_packed_plugin_that_passes_its_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    let made = tool(&["new", "hello-points", "--path", "."], dir.path());
    assert!(made.status.success(), "{}", text(&made));
    let project = dir.path().join("hello-points");
    let refused = tool(&["new", "Bad Name"], dir.path());
    assert!(!refused.status.success(), "a bad id is refused");

    let built = tool(&["build", "."], &project);
    assert!(built.status.success(), "{}", text(&built));
    let packed = tool(
        &[
            "pack",
            "hello-points.component.wasm",
            "--manifest",
            "manifest.json",
            "-o",
            "hello-points.wasm",
        ],
        &project,
    );
    assert!(packed.status.success(), "{}", text(&packed));
    let repacked = tool(&["pack", "hello-points.wasm", "-o", "twice.wasm"], &project);
    assert!(
        !repacked.status.success(),
        "packing a packed plugin is refused"
    );

    let inspected = tool(&["inspect", "hello-points.wasm"], &project);
    let shown = text(&inspected);
    assert!(inspected.status.success(), "{shown}");
    assert!(shown.contains("\"id\": \"hello-points\""), "{shown}");
    assert!(shown.contains("tongka:plugin/scheme@0.1.0"), "{shown}");

    let tested = tool(&["test", "hello-points.wasm", "fixtures"], &project);
    let shown = text(&tested);
    assert!(tested.status.success(), "{shown}");
    assert!(shown.contains("1 passed, 0 failed"), "{shown}");
    assert!(shown.contains("fuel"), "the cost is printed: {shown}");

    // A fixture expecting other points fails, and says what came back.
    let fixture = std::fs::read_to_string(project.join("fixtures/quote.json")).unwrap();
    std::fs::write(
        project.join("fixtures/wrong.json"),
        fixture.replace("\"points\": 50", "\"points\": 51"),
    )
    .unwrap();
    let tested = tool(&["test", "hello-points.wasm", "fixtures"], &project);
    let shown = text(&tested);
    assert_eq!(tested.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("FAIL") && shown.contains("\"points\":50"),
        "{shown}"
    );
}
