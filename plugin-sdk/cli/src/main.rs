//! `tongka-plugin`: from an empty folder to a packed, tested plugin.
//!
//! `new` writes a ready plugin crate; `build` compiles it to a WebAssembly component; `pack`
//! embeds the manifest into any component, whatever language built it; `inspect` shows what a
//! component carries; `test` runs a packed plugin in the box's real host against JSON fixtures.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use serde::Deserialize;
use tongka_plugin_host::manifest::{self, Manifest};
use tongka_plugin_host::{
    Answer, CallError, Capability, Checkout, CommittedCheckout, Date, Effect, Host, HostOptions,
    LocalTime, MemberSummary, MemoryKv, RefundOrder, TopUpOrder,
};

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
    /// Run a packed plugin in the real host against fixtures: input → expected effects.
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
    /// `quote-checkout`, `commit-checkout`, `top-up`, `member-joined`, `refund`, `daily-tick`.
    hook: String,
    #[serde(default)]
    config: Option<serde_json::Value>,
    input: serde_json::Value,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum Expect {
    /// Exactly these effects, in order.
    Effects(Vec<Effect>),
    /// A failure of this kind: `out-of-fuel`, `deadline`, `memory`, `trap`,
    /// `capability-denied`, `effect-not-allowed`, `declined`.
    Error(String),
}

#[derive(Debug, Deserialize)]
struct Joined {
    member: MemberSummary,
    at: LocalTime,
}

#[derive(Debug, Deserialize)]
struct Tick {
    member: MemberSummary,
    today: Date,
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

fn call(host: &Host, id: &str, fixture: &Fixture) -> Result<Result<Answer, CallError>> {
    let input = fixture.input.clone();
    Ok(match fixture.hook.as_str() {
        "quote-checkout" => host.quote_checkout(id, &serde_json::from_value::<Checkout>(input)?),
        "commit-checkout" => {
            host.commit_checkout(id, &serde_json::from_value::<CommittedCheckout>(input)?)
        }
        "top-up" => host.top_up(id, &serde_json::from_value::<TopUpOrder>(input)?),
        "member-joined" => {
            let joined: Joined = serde_json::from_value(input)?;
            host.member_joined(id, &joined.member, joined.at)
        }
        "refund" => host.refund(id, &serde_json::from_value::<RefundOrder>(input)?),
        "daily-tick" => {
            let tick: Tick = serde_json::from_value(input)?;
            host.daily_tick(id, &tick.member, tick.today)
        }
        other => bail!("unknown hook `{other}`"),
    })
}

fn error_kind(error: &CallError) -> &'static str {
    match error {
        CallError::OutOfFuel { .. } => "out-of-fuel",
        CallError::Deadline { .. } => "deadline",
        CallError::Memory { .. } => "memory",
        CallError::Trap { .. } => "trap",
        CallError::CapabilityDenied { .. } => "capability-denied",
        CallError::EffectNotAllowed { .. } => "effect-not-allowed",
        CallError::Declined { .. } => "declined",
        _ => "other",
    }
}

fn test(component: &Path, fixtures: &[PathBuf], grants: &[String]) -> Result<bool> {
    let bytes =
        std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let manifest = manifest::read(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    let grants = grants
        .iter()
        .map(|g| match g.as_str() {
            "kv" => Ok(Capability::Kv),
            "outbound-http" => Ok(Capability::OutboundHttp),
            other => bail!("unknown capability `{other}`"),
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
        let outcome = call(&host, &manifest.id, &fixture).with_context(|| format!("{name}"))?;
        let verdict = match (&fixture.expect, &outcome) {
            (Expect::Effects(expected), Ok(answer)) if *expected == answer.effects => Ok(()),
            (Expect::Effects(expected), Ok(answer)) => Err(format!(
                "expected {}\n         got      {}",
                serde_json::to_string(expected).unwrap_or_default(),
                serde_json::to_string(&answer.effects).unwrap_or_default()
            )),
            (Expect::Effects(_), Err(error)) => Err(format!("failed: {error}")),
            (Expect::Error(kind), Err(error)) if error_kind(error) == kind => Ok(()),
            (Expect::Error(kind), Err(error)) => Err(format!("expected {kind}, failed: {error}")),
            (Expect::Error(kind), Ok(answer)) => Err(format!(
                "expected {kind}, got {}",
                serde_json::to_string(&answer.effects).unwrap_or_default()
            )),
        };
        let cost = match &outcome {
            Ok(answer) => format!(
                "{} fuel, {} µs",
                answer.fuel_used,
                answer.duration.as_micros()
            ),
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
