//! `tongka-plugin`: from an empty folder to a packed, tested plugin.
//!
//! `new` writes a ready plugin crate; `build` compiles it to a WebAssembly component; `pack`
//! embeds the manifest into any component, whatever language built it; `inspect` shows what a
//! component carries; `test` runs a packed plugin in the box's real host against JSON fixtures.
//! For other languages, `bindings` writes C bindings of a world and `componentize` turns the
//! core module a C (or any) toolchain builds into a component.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use serde::Deserialize;
use tongka_plugin_host::manifest::{self, Manifest};
use tongka_plugin_host::trial::{self, TrialError};
use tongka_plugin_host::{Capability, Effect, Host, HostOptions, MemoryKv};

#[derive(Debug, Parser)]
#[command(
    name = "tongka-plugin",
    version,
    about = "通卡插件工具 / Tongka plugin tool"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Write a ready plugin crate: a loyalty scheme, its manifest and a test fixture.
    New {
        /// The plugin's id: 2 to 48 of a-z, 0-9 and `-`.
        name: String,
        /// Where to create the folder NAME.
        #[arg(long, default_value = ".")]
        path: PathBuf,
        /// The Rust SDK (`plugin-sdk/rust`); by default the one next to this tool's source.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Compile a plugin crate to a WebAssembly component (wasm32-wasip2, release).
    Build {
        /// The plugin crate's folder.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Embed a manifest into a component: the one file to hand over.
    Pack {
        component: PathBuf,
        #[arg(long, default_value = "manifest.json")]
        manifest: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Print a component's manifest, imports and exports.
    Inspect { component: PathBuf },
    /// Write bindings of a world for another language (C): a header, its source, and an object
    /// carrying the world's type for `componentize`.
    Bindings {
        /// `loyalty-scheme`, `notifier`, `settlement` or `device-driver`.
        #[arg(long)]
        world: String,
        /// Only `c` so far; Rust authors use the SDK crate.
        #[arg(long, default_value = "c")]
        lang: String,
        #[arg(long, default_value = ".")]
        out_dir: PathBuf,
    },
    /// Make a component from a core WebAssembly module that carries its world's type (as one
    /// linked with the object `bindings` writes does). Modules importing WASI preview 1 get the
    /// standard adapter.
    Componentize {
        module: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Run a packed plugin in the real host against fixtures: input → expected answer.
    Test {
        component: PathBuf,
        /// Fixture files, or folders of them (`*.json`).
        #[arg(required = true)]
        fixtures: Vec<PathBuf>,
        /// Capabilities to grant, as the merchant would: `kv`.
        #[arg(long = "grant")]
        grants: Vec<String>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("错误 / error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<bool> {
    match cli.command {
        Commands::New { name, path, sdk } => new(&name, &path, sdk).map(|()| true),
        Commands::Build { dir } => build(&dir).map(|()| true),
        Commands::Pack {
            component,
            manifest,
            output,
        } => pack(&component, &manifest, &output).map(|()| true),
        Commands::Inspect { component } => inspect(&component).map(|()| true),
        Commands::Bindings {
            world,
            lang,
            out_dir,
        } => bindings(&world, &lang, &out_dir).map(|()| true),
        Commands::Componentize { module, output } => componentize(&module, &output).map(|()| true),
        Commands::Test {
            component,
            fixtures,
            grants,
        } => test(&component, &fixtures, &grants),
    }
}

const CARGO_TEMPLATE: &str = include_str!("../templates/Cargo.toml.tmpl");
const LIB_TEMPLATE: &str = include_str!("../templates/lib.rs.tmpl");
const MANIFEST_TEMPLATE: &str = include_str!("../templates/manifest.json.tmpl");
const FIXTURE_TEMPLATE: &str = include_str!("../templates/quote.json.tmpl");

fn new(name: &str, path: &Path, sdk: Option<PathBuf>) -> Result<()> {
    let mut probe: Manifest = serde_json::from_str(&MANIFEST_TEMPLATE.replace("{name}", name))
        .context("the manifest template")?;
    probe.id = name.to_owned();
    probe
        .check()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("the plugin name")?;
    let sdk = match sdk {
        Some(sdk) => sdk,
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../rust"),
    };
    let sdk = sdk
        .canonicalize()
        .with_context(|| format!("the SDK at {} (pass --sdk)", sdk.display()))?;
    let dir = path.join(name);
    if dir.exists() {
        bail!("{} exists already", dir.display());
    }
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::create_dir_all(dir.join("fixtures"))?;
    let crate_name = name.replace('-', "_");
    let fill = |template: &str| {
        template
            .replace("{name}", name)
            .replace("{crate}", &crate_name)
            .replace("{sdk}", &sdk.display().to_string().replace('\\', "/"))
    };
    std::fs::write(dir.join("Cargo.toml"), fill(CARGO_TEMPLATE))?;
    std::fs::write(dir.join("src/lib.rs"), fill(LIB_TEMPLATE))?;
    std::fs::write(dir.join("manifest.json"), fill(MANIFEST_TEMPLATE))?;
    std::fs::write(dir.join("fixtures/quote.json"), fill(FIXTURE_TEMPLATE))?;
    println!("已创建 / created {}", dir.display());
    println!("next: tongka-plugin build {}", dir.display());
    Ok(())
}

/// The crate's package name, from its Cargo.toml.
fn package_name(dir: &Path) -> Result<String> {
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))
        .with_context(|| format!("no Cargo.toml in {}", dir.display()))?;
    manifest
        .lines()
        .find_map(|line| {
            let value = line.trim().strip_prefix("name")?.trim().strip_prefix('=')?;
            Some(value.trim().trim_matches('"').to_owned())
        })
        .context("Cargo.toml names no package")
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn build(dir: &Path) -> Result<()> {
    let name = package_name(dir)?;
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("wasm32-wasip2"))
        .unwrap_or(true);
    if !installed {
        let status = Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .status()?;
        if !status.success() {
            bail!("rustup target add wasm32-wasip2 failed");
        }
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"));
    let status = cargo()
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build failed");
    }
    let built = target_dir.join(format!(
        "wasm32-wasip2/release/{}.wasm",
        name.replace('-', "_")
    ));
    if !built.exists() {
        bail!("cargo built no component at {}", built.display());
    }
    let output = dir.join(format!("{name}.component.wasm"));
    std::fs::copy(&built, &output)?;
    println!("已构建 / built {}", output.display());
    println!(
        "next: tongka-plugin pack {} --manifest {} -o {name}.wasm",
        output.display(),
        dir.join("manifest.json").display()
    );
    Ok(())
}

fn pack(component: &Path, manifest_path: &Path, output: &Path) -> Result<()> {
    let bytes =
        std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let manifest: Manifest = serde_json::from_slice(
        &std::fs::read(manifest_path)
            .with_context(|| format!("reading {}", manifest_path.display()))?,
    )
    .with_context(|| format!("{} is not a valid manifest", manifest_path.display()))?;
    let packed = manifest::pack(&bytes, &manifest).map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::write(output, &packed)?;
    println!(
        "已打包 / packed {} {} → {} ({} bytes)",
        manifest.id,
        manifest.version,
        output.display(),
        packed.len()
    );
    Ok(())
}

/// The interface definition this tool (and the box it came with) serves.
const WIT: &str = include_str!("../../wit/tongka-plugin.wit");

fn bindings(world: &str, lang: &str, out_dir: &Path) -> Result<()> {
    if lang != "c" {
        bail!(
            "bindings for `{lang}`: only `c` is built in; Rust authors use the SDK crate, and other toolchains read plugin-sdk/wit directly"
        );
    }
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve
        .push_str("tongka-plugin.wit", WIT)
        .context("the built-in WIT")?;
    let world_id = resolve
        .select_world(&[package], Some(world))
        .with_context(|| format!("no world `{world}` in tongka:plugin"))?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world_id, &mut files)
        .context("generating C bindings")?;
    std::fs::create_dir_all(out_dir)?;
    for (name, contents) in files.iter() {
        let path = out_dir.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        println!("已写入 / wrote {}", path.display());
    }
    Ok(())
}

fn componentize(module: &Path, output: &Path) -> Result<()> {
    let bytes = std::fs::read(module).with_context(|| format!("reading {}", module.display()))?;
    if is_component(&bytes) {
        bail!("{} is a component already: pack it", module.display());
    }
    let mut encoder = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&bytes)
        .context("the module carries no world type: link it with the object `tongka-plugin bindings` writes")?
        .adapter(
            "wasi_snapshot_preview1",
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )
        .context("the WASI adapter")?;
    let component = encoder.encode().context("making the component")?;
    std::fs::write(output, &component)?;
    println!(
        "已生成组件 / component {} ({} bytes)",
        output.display(),
        component.len()
    );
    println!(
        "next: tongka-plugin pack {} --manifest manifest.json -o PLUGIN.wasm",
        output.display()
    );
    Ok(())
}

/// A component's preamble has layer 1; a core module's, layer 0.
fn is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..4] == *b"\0asm" && bytes[6..8] == [1, 0]
}

fn host() -> Result<Host> {
    Host::new(HostOptions::default(), Arc::new(MemoryKv::default()))
        .map_err(|e| anyhow::anyhow!("{e}"))
}

fn inspect(component: &Path) -> Result<()> {
    let bytes =
        std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let description = host()?
        .describe(&bytes)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    match &description.manifest {
        Ok(manifest) => println!(
            "manifest:\n{}",
            serde_json::to_string_pretty(manifest).unwrap_or_default()
        ),
        Err(error) => println!("manifest: none ({error})"),
    }
    println!("imports:");
    for name in &description.imports {
        println!("  {name}");
    }
    println!("exports:");
    for name in &description.exports {
        println!("  {name}");
    }
    Ok(())
}

/// One fixture: a hook, its input, the configuration, and what must come back.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    /// A scheme's hook (`quote-checkout` …) or another world's call (`send`, `statements`,
    /// `matches`, `decode`, `encode-receipt`).
    hook: String,
    #[serde(default)]
    config: Option<serde_json::Value>,
    input: serde_json::Value,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum Expect {
    /// A scheme's hook: exactly these effects, in order.
    Effects(Vec<Effect>),
    /// Any other world's call: exactly this answer, as JSON.
    Value(serde_json::Value),
    /// A failure of this kind: `out-of-fuel`, `deadline`, `memory`, `trap`,
    /// `capability-denied`, `effect-not-allowed`, `declined`, `malformed`, `wrong-world`.
    Error(String),
}

fn fixture_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn test(component: &Path, fixtures: &[PathBuf], grants: &[String]) -> Result<bool> {
    let bytes =
        std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let manifest = manifest::read(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    let grants = grants
        .iter()
        .map(|g| {
            Capability::parse(g)
                .ok_or_else(|| anyhow::anyhow!("unknown capability `{g}`: kv or outbound-http"))
        })
        .collect::<Result<Vec<_>>>()?;
    let host = host()?;
    let (mut passed, mut failed) = (0, 0);
    for path in fixture_files(fixtures)? {
        let name = path.display();
        let fixture: Fixture = serde_json::from_slice(&std::fs::read(&path)?)
            .with_context(|| format!("{name} is not a fixture"))?;
        let config = fixture
            .config
            .clone()
            .unwrap_or_else(|| serde_json::json!({}))
            .to_string();
        host.load(&bytes, &grants, &config)
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let outcome = match trial::call(&host, &manifest.id, &fixture.hook, fixture.input.clone()) {
            Ok(outcome) => Ok(outcome),
            Err(TrialError::Call(error)) => Err(error),
            Err(other) => bail!("{name}: {other}"),
        };
        let expected = match &fixture.expect {
            Expect::Effects(effects) => Some(serde_json::to_value(effects)?),
            Expect::Value(value) => Some(value.clone()),
            Expect::Error(_) => None,
        };
        let verdict = match (&fixture.expect, expected, &outcome) {
            (_, Some(expected), Ok(got)) if expected == got.value => Ok(()),
            (_, Some(expected), Ok(got)) => Err(format!(
                "expected {expected}\n         got      {}",
                got.value
            )),
            (_, Some(_), Err(error)) => Err(format!("failed: {error}")),
            (Expect::Error(kind), None, Err(error)) if trial::error_kind(error) == kind => Ok(()),
            (Expect::Error(kind), None, Err(error)) => {
                Err(format!("expected {kind}, failed: {error}"))
            }
            (_, None, Ok(got)) => Err(format!("expected a failure, got {}", got.value)),
            (_, None, Err(error)) => Err(format!("failed: {error}")),
        };
        let cost = match &outcome {
            Ok(got) => format!("{} fuel, {} µs", got.fuel_used, got.micros),
            Err(_) => String::new(),
        };
        match verdict {
            Ok(()) => {
                passed += 1;
                println!("ok    {name}  {cost}");
            }
            Err(why) => {
                failed += 1;
                println!("FAIL  {name}  {cost}\n      {why}");
            }
        }
    }
    println!("\n{passed} passed, {failed} failed");
    Ok(failed == 0 && passed > 0)
}
