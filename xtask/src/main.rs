//! Developer workflows, in Rust so they run wherever cargo does (the cargo-xtask pattern).
//!
//! `cargo xtask serve` — install what is missing, build, and start the box on a local data folder.
//! `cargo xtask test`  — everything CI checks: formatting, clippy with warnings denied, all tests.
//! `cargo xtask bench` — the ledger's throughput figures for docs/PERFORMANCE.md.
//! `cargo xtask load` — checkouts/s and latency of the real box under POS load, for
//! docs/PERFORMANCE.md.
//! `cargo xtask codegen` — docs/openapi.json and the client generated from it, rewritten.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  serve [ARGS…]   install what is missing, build, and start the box on ./.tongka/data, with
                  HTTPS on 0.0.0.0:8620 and plain HTTP on 127.0.0.1:8621 for this machine
                  (ARGS go to `tongka serve`, e.g. --listen 127.0.0.1:9000)
  test            formatting, clippy with warnings denied, and every test: what CI runs
  load [ARGS…]    the till under load: the box and `tongka-load` built in release mode, rounds
                  of 4, 8 and 16 terminals checking out against 100,000 members over HTTPS,
                  ending in one table (ARGS go to tongka-load, e.g. --terminals 8 --seconds 60
                  --members 20000)
  codegen         rewrite docs/openapi.json from the API's code, then tongka-client's typed
                  calls from it (appliance/client/src/api.rs); `test` fails while either is stale
  bench [ARGS…]   measure the ledger (fsync rate, single commits, group commit) in release
                  mode on this disk (ARGS go to the ledger bench, e.g. --dir /mnt/ssd
                  --seconds 5), then the cost of a plugin hook call
";

/// Targets the workspace builds for besides the host: plugins are WebAssembly components.
const TARGETS: &[&str] = &["wasm32-wasip2"];
const COMPONENTS: &[&str] = &["rustfmt", "clippy"];

fn main() -> Result<()> {
    let mut args = std::env::args_os().skip(1);
    let command = args.next().and_then(|c| c.into_string().ok());
    let mut rest: Vec<OsString> = args.collect();
    // `cargo xtask serve -- --listen …` and `cargo xtask serve --listen …` mean the same.
    if rest.first().is_some_and(|first| first == "--") {
        rest.remove(0);
    }
    let root = workspace_root()?;
    std::env::set_current_dir(&root)?;
    match command.as_deref() {
        Some("serve") => serve(&root, rest),
        Some("test") => test(),
        Some("bench") => bench(&root, rest),
        Some("codegen") => codegen(),
        Some("load") => load(rest),
        Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            Ok(())
        }
        _ => {
            eprint!("{USAGE}");
            std::process::exit(2);
        }
    }
}

fn workspace_root() -> Result<PathBuf> {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .context("xtask lives one level below the workspace root")
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn run(step: &str, command: &mut Command) -> Result<()> {
    eprintln!("\n==> {step}");
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{step} failed ({status})");
    }
    Ok(())
}

fn output(command: &mut Command) -> Option<String> {
    let output = command.output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Installs the rustup targets and components the workspace needs, if rustup manages this
/// toolchain. A fresh machine has only the toolchain; this is what makes the two commands work.
fn ensure_toolchain() -> Result<()> {
    let Some(installed) = output(Command::new("rustup").args(["target", "list", "--installed"]))
    else {
        eprintln!("rustup not found: assuming the toolchain has {TARGETS:?} and {COMPONENTS:?}");
        return Ok(());
    };
    for target in TARGETS {
        if !installed.lines().any(|line| line.trim() == *target) {
            run(
                &format!("installing the {target} target"),
                Command::new("rustup").args(["target", "add", target]),
            )?;
        }
    }
    let components = output(Command::new("rustup").args(["component", "list", "--installed"]))
        .unwrap_or_default();
    for component in COMPONENTS {
        if !components.lines().any(|line| line.starts_with(component)) {
            run(
                &format!("installing {component}"),
                Command::new("rustup").args(["component", "add", component]),
            )?;
        }
    }
    Ok(())
}

/// Debian's packages for building a plugin in C: the proof that the plugin interface is not
/// Rust's (plugin-sdk/cli/tests/flow.rs builds `plugins/c-scheme` with them).
const C_PACKAGES: &[&str] = &["clang", "lld", "wasi-libc", "libclang-rt-dev-wasm32"];

/// Installs clang with the wasm32-wasi target and its C library if a trial compile fails.
fn ensure_c_toolchain() -> Result<()> {
    let probe_dir = Path::new("target").join("c-probe");
    std::fs::create_dir_all(&probe_dir)?;
    let source = probe_dir.join("probe.c");
    std::fs::write(
        &source,
        "#include <stdlib.h>\nint probe(int n) { return abs(n); }\n",
    )?;
    let compiles = || {
        Command::new("clang")
            .args(["--target=wasm32-wasi", "-mexec-model=reactor", "-o"])
            .arg(probe_dir.join("probe.wasm"))
            .arg(&source)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if compiles() {
        return Ok(());
    }
    apt_install(
        "installing clang for wasm32-wasi (plugins in C)",
        C_PACKAGES,
    )?;
    if !compiles() {
        bail!("clang still cannot build for wasm32-wasi after installing {C_PACKAGES:?}");
    }
    Ok(())
}

/// Installs Debian `packages` with apt-get (through `sudo -n` unless root), after refreshing the
/// package lists.
fn apt_install(step: &str, packages: &[&str]) -> Result<()> {
    let root = output(Command::new("id").arg("-u")).is_some_and(|uid| uid.trim() == "0");
    let apt = |args: &[&str]| {
        let mut command = if root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.args(["-n", "apt-get"]);
            sudo
        };
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    run(
        "updating Debian's package lists",
        &mut apt(&["update", "-qq"]),
    )?;
    let mut install = apt(&["install", "-y", "-qq", "--no-install-recommends"]);
    install.args(packages);
    run(step, &mut install)
}

/// libfaketime, which moves the box's clock a year on in the tier-review test
/// (tests/tests/tier_review.rs), as a box left running would live through it.
fn ensure_faketime() -> Result<()> {
    let present = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| entry.path().join("faketime/libfaketimeMT.so.1").exists());
    if present {
        return Ok(());
    }
    apt_install(
        "installing libfaketime (the tier review's clock)",
        &["libfaketime"],
    )
}

/// python-zeroconf, pinned: the discovery test's independent mDNS browser.
const ZEROCONF: &str = "zeroconf==0.154.0";

fn ensure_zeroconf() -> Result<()> {
    let present = Command::new("python3")
        .args(["-c", "import zeroconf"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    run(
        "installing python-zeroconf (the discovery test's independent browser)",
        Command::new("python3").args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            ZEROCONF,
        ]),
    )
}

/// Where `cargo xtask serve` adds plain HTTP.
const DEV_PLAIN_LISTEN: &str = "127.0.0.1:8621";

fn serve(root: &Path, args: Vec<OsString>) -> Result<()> {
    ensure_toolchain()?;
    run(
        "building tongka",
        cargo().args(["build", "--package", "tongka"]),
    )?;
    let data = root.join(".tongka").join("data");
    // Where cargo put it: CARGO_TARGET_DIR when set (CI, shared build folders), else ./target.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let binary = target.join("debug").join(exe("tongka"));
    eprintln!(
        "\n==> starting the box (data in {}; Ctrl-C stops it)",
        data.display()
    );
    let mut command = Command::new(binary);
    command.arg("serve").arg("--data").arg(&data);
    // For a developer's curl and browser on this machine, plain HTTP on loopback as well, unless
    // the arguments choose otherwise. The box's own default serves HTTPS only.
    if !args
        .iter()
        .any(|arg| arg.to_string_lossy().starts_with("--plain-listen"))
    {
        command.args(["--plain-listen", DEV_PLAIN_LISTEN]);
    }
    let status = command.args(args).status().context("cannot start tongka")?;
    if !status.success() {
        bail!("tongka exited with {status}");
    }
    Ok(())
}

fn test() -> Result<()> {
    ensure_toolchain()?;
    ensure_c_toolchain()?;
    ensure_zeroconf()?;
    ensure_faketime()?;
    run("formatting", cargo().args(["fmt", "--all", "--check"]))?;
    run(
        "clippy, warnings denied",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "--deny",
            "warnings",
        ]),
    )?;
    plugins_checked()?;
    let (passed, failed) = run_tests(cargo().args(["test", "--workspace", "--locked"]))?;
    // One closing line for the whole run: cargo's own last line is the doc-test block's, often
    // "0 passed", which reads as if nothing ran.
    println!("\ntests: {passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} tests failed");
    }
    eprintln!("all checks passed");
    Ok(())
}

/// The till under load: everything in release mode, the box started by `tongka-load` itself.
fn load(args: Vec<OsString>) -> Result<()> {
    ensure_toolchain()?;
    ensure_c_toolchain()?;
    run(
        "building tongka, tongka-plugin and tongka-load (release)",
        cargo().args([
            "build",
            "--release",
            "--locked",
            "--package",
            "tongka",
            "--package",
            "tongka-plugin",
            "--package",
            "tongka-e2e",
            "--bin",
            "tongka",
            "--bin",
            "tongka-plugin",
            "--bin",
            "tongka-load",
        ]),
    )?;
    run(
        "checkouts under load",
        cargo()
            .args([
                "run",
                "--release",
                "--locked",
                "--quiet",
                "--package",
                "tongka-e2e",
                "--bin",
                "tongka-load",
                "--",
            ])
            .args(args),
    )
}

/// The generated files are written by the tests that check them, told to by `TONGKA_CODEGEN`:
/// first the document from the API's code, then the client from the document.
fn codegen() -> Result<()> {
    ensure_toolchain()?;
    run(
        "docs/openapi.json",
        cargo()
            .args([
                "test",
                "--package",
                "tongka-http",
                "--lib",
                "--",
                "the_published_document_is_current",
            ])
            .env("TONGKA_CODEGEN", "1"),
    )?;
    run(
        "appliance/client/src/api.rs",
        cargo()
            .args(["test", "--package", "tongka-client", "--test", "codegen"])
            .env("TONGKA_CODEGEN", "1"),
    )?;
    eprintln!("generated files are current; review and commit them");
    Ok(())
}

/// The plugins and the Rust plugin SDK: their own workspace, built for wasm32-wasip2 into
/// `target/plugins` (the host's tests load the components from there).
fn plugins_checked() -> Result<()> {
    let manifest = ["--manifest-path", "plugins/Cargo.toml"];
    let wasm = [
        "--target",
        "wasm32-wasip2",
        "--target-dir",
        "target/plugins",
        "--locked",
    ];
    run(
        "plugins: formatting",
        cargo().arg("fmt").args(manifest).args(["--all", "--check"]),
    )?;
    run(
        "plugins: clippy, warnings denied",
        cargo()
            .arg("clippy")
            .args(manifest)
            .args(wasm)
            .args(["--", "--deny", "warnings"]),
    )?;
    run(
        "plugins: build",
        cargo()
            .args(["build", "--release"])
            .args(manifest)
            .args(wasm),
    )
}

/// Runs `cargo test`, echoing its output, and adds up its `test result:` lines.
fn run_tests(command: &mut Command) -> Result<(usize, usize)> {
    use std::io::{BufRead, BufReader};
    eprintln!("\n==> tests");
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot run cargo test")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let (mut passed, mut failed) = (0, 0);
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        if let Some(summary) = line.strip_prefix("test result: ") {
            passed += count_before(summary, "passed");
            failed += count_before(summary, "failed");
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("tests failed ({status})");
    }
    Ok((passed, failed))
}

/// In "ok. 17 passed; 0 failed; …", the number before `label`.
fn count_before(summary: &str, label: &str) -> usize {
    summary
        .split(';')
        .find_map(|part| part.trim().strip_suffix(label))
        .and_then(|rest| rest.trim().rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn bench(root: &Path, args: Vec<OsString>) -> Result<()> {
    let dir = root.join("target").join("bench-ledger");
    std::fs::create_dir_all(&dir)?;
    run(
        "ledger throughput (release build)",
        cargo()
            .args([
                "run",
                "--release",
                "--quiet",
                "--package",
                "tongka-ledger",
                "--example",
                "throughput",
                "--",
                "--dir",
            ])
            .arg(&dir)
            .args(args),
    )?;
    run(
        "plugins: build",
        cargo().args([
            "build",
            "--release",
            "--manifest-path",
            "plugins/Cargo.toml",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
            "target/plugins",
            "--locked",
        ]),
    )?;
    run(
        "plugin hook calls (release build)",
        cargo().args([
            "run",
            "--release",
            "--quiet",
            "--package",
            "tongka-plugin-host",
            "--example",
            "hook_bench",
        ]),
    )
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}
