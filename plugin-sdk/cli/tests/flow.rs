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

/// The same interface from another language: `plugins/c-scheme` built by clang for wasm32-wasi
/// (`cargo xtask test` installs Debian's clang, lld and wasi-libc), made a component and packed
/// by the tool, passes its fixtures in the real host, and a wrong expectation fails.
#[test]
fn a_plugin_written_in_c_builds_packs_and_passes_its_fixtures() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/c-scheme");
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    for file in ["scheme.c", "manifest.json"] {
        std::fs::copy(source.join(file), work.join(file)).unwrap();
    }
    let generated = tool(
        &["bindings", "--world", "loyalty-scheme", "--out-dir", "gen"],
        work,
    );
    assert!(generated.status.success(), "{}", text(&generated));
    let compiled = Command::new("clang")
        .args([
            "--target=wasm32-wasi",
            "-mexec-model=reactor",
            "-O2",
            "-Wall",
            "-Werror",
            "-Igen",
            "-o",
            "scheme.core.wasm",
            "scheme.c",
            "gen/loyalty_scheme.c",
            "gen/loyalty_scheme_component_type.o",
        ])
        .current_dir(work)
        .output()
        .expect("clang with the wasm32-wasi target (cargo xtask test installs it)");
    assert!(compiled.status.success(), "{}", text(&compiled));
    let component = tool(
        &[
            "componentize",
            "scheme.core.wasm",
            "-o",
            "scheme.component.wasm",
        ],
        work,
    );
    assert!(component.status.success(), "{}", text(&component));
    let refused = tool(
        &["componentize", "scheme.component.wasm", "-o", "x.wasm"],
        work,
    );
    assert!(!refused.status.success(), "a component is not a module");
    let packed = tool(
        &[
            "pack",
            "scheme.component.wasm",
            "--manifest",
            "manifest.json",
            "-o",
            "c-scheme.wasm",
        ],
        work,
    );
    assert!(packed.status.success(), "{}", text(&packed));

    let fixtures = source.join("fixtures");
    let tested = tool(&["test", "c-scheme.wasm", fixtures.to_str().unwrap()], work);
    let shown = text(&tested);
    assert!(tested.status.success(), "{shown}");
    assert!(shown.contains("2 passed, 0 failed"), "{shown}");

    // The birthday fixture expecting single points must fail: the C code really ran.
    let wrong = std::fs::read_to_string(fixtures.join("birthday.json"))
        .unwrap()
        .replace("\"points\": 100", "\"points\": 50");
    std::fs::write(work.join("wrong.json"), wrong).unwrap();
    let failed = tool(&["test", "c-scheme.wasm", "wrong.json"], work);
    assert!(!failed.status.success(), "{}", text(&failed));
    assert!(text(&failed).contains("FAIL"), "{}", text(&failed));
}
