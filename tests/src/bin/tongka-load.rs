//! `tongka-load`: checkouts at the till, as a chain's POS terminals would send them, against the
//! real box over pinned HTTPS, through `tongka-client`. Prints throughput and latency for
//! docs/PERFORMANCE.md; `cargo xtask load` builds everything in release mode and runs it.
//!
//! The box is started on a fresh data folder beside this binary's build (`target/bench-load`),
//! with `standard-points` installed and routed as a merchant would (base rate, a category
//! multiplier, a points offset), one store, MEMBERS members imported with ¥1,000 stored value
//! each, and TERMINALS terminals paired to the store. Each terminal is its own connection and
//! loops: a random member's card, five random lines, a quote, then the commit — from stored
//! value for 30% of checkouts, in cash for the rest. Only committed checkouts are counted, and
//! only after the warm-up. At the end the box is stopped and `tongka ledger verify` must be clean.
//!
//! Over the counted window it also reads `/proc` for the CPU the box and the generator used
//! (the target is for the two together on one machine), and the machine's idle and I/O-wait;
//! and `/sys/dev/block` for the requests the data folder's disk served (writes, flushes) — on a
//! virtual disk, what the tail turns on.
//!
//! `tongka-load [--members N] [--terminals N[,N…]] [--seconds N] [--warmup N]`: several terminal
//! counts run as rounds on one box, each with its warm-up, and end with one table of them all.

#![allow(clippy::unwrap_used, clippy::expect_used)]

// The generator's own CPU counts against the target: it allocates as lean as the box does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;
use tongka_client::types::{
    CheckoutRequest, CreateStore, ImportMembersQuery, InstallPlugin, LineRequest, LoginRequest,
    PairRequest, PaymentRequest, RouteRequest, TenderRequest,
};
use tongka_client::{Client, ClientError};
use tongka_e2e::plugins::{TILL_HOOKS, components, packed};
use tongka_e2e::{RunningBox, tongka_admin_create, tongka_verify, workspace_binary};

struct Options {
    members: u32,
    /// One round per entry, in order, on the same box: `--terminals 4,8,16`.
    terminals: Vec<u32>,
    seconds: u64,
    warmup: u64,
}

fn options() -> Result<Options> {
    let mut options = Options {
        members: 100_000,
        // Below, at and past the knee of the curve: one figure alone hides which side it is on.
        terminals: vec![4, 8, 16],
        seconds: 30,
        warmup: 5,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--members" => options.members = value.parse()?,
            "--terminals" => {
                options.terminals = value
                    .split(',')
                    .map(|n| n.trim().parse())
                    .collect::<Result<_, _>>()?;
            }
            "--seconds" => options.seconds = value.parse()?,
            "--warmup" => options.warmup = value.parse()?,
            other => bail!("unknown flag {other}\n{USAGE}"),
        }
    }
    if options.members == 0 || options.terminals.contains(&0) || options.seconds == 0 {
        bail!("--members, --terminals and --seconds must be at least 1");
    }
    Ok(options)
}

const USAGE: &str = "tongka-load [--members N (100000)] [--terminals N[,N…] (4,8,16)] [--seconds N (30)] [--warmup N (5)]
  Several terminal counts run one after another on the same box, each with its warm-up, and end
  with one table of them all.";

/// Clock ticks of CPU (user and system) a process has used, from `/proc/PID/stat`.
fn cpu_ticks(pid: &str) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after its `)` are fixed.
    let after = stat.rsplit_once(')').context("no ) in stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

/// The machine's CPU time so far, from `/proc/stat`: (all, idle, iowait) in clock ticks.
fn machine_ticks() -> Result<(u64, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let (idle, iowait) = (ticks.get(3).copied(), ticks.get(4).copied());
    Ok((
        ticks.iter().sum(),
        idle.context("no idle")?,
        iowait.context("no iowait")?,
    ))
}

/// CPU used by the box and the generator, and the whole machine, between two readings.
struct CpuReading {
    box_ticks: u64,
    load_ticks: u64,
    machine: (u64, u64, u64),
}

impl CpuReading {
    fn now(box_pid: &str) -> Result<CpuReading> {
        Ok(CpuReading {
            box_ticks: cpu_ticks(box_pid)?,
            load_ticks: cpu_ticks("self")?,
            machine: machine_ticks()?,
        })
    }
}

/// Linux reports process and machine CPU in USER_HZ ticks, 100 a second on every platform
/// the box ships on.
const TICKS_PER_SECOND: u64 = 100;

/// The CPU figures of a counted window: the box's and the generator's cores and µs per
/// checkout, the machine's idle and I/O-wait percentages.
struct CpuFigures {
    box_cores: String,
    box_us: u128,
    load_cores: String,
    load_us: u128,
    idle: u64,
    iowait: u64,
}

fn cpu_figures(
    before: &CpuReading,
    after: &CpuReading,
    elapsed_ms: u128,
    committed: usize,
) -> CpuFigures {
    let box_ticks = after.box_ticks.saturating_sub(before.box_ticks);
    let load_ticks = after.load_ticks.saturating_sub(before.load_ticks);
    let all = after.machine.0.saturating_sub(before.machine.0).max(1);
    let idle = after.machine.1.saturating_sub(before.machine.1);
    let iowait = after.machine.2.saturating_sub(before.machine.2);
    // Cores used: ticks used over the ticks the window lasted; per checkout: µs of CPU.
    let window_milliticks = u128::from(TICKS_PER_SECOND) * elapsed_ms;
    let cores = |ticks: u64| {
        let hundredths = u128::from(ticks) * 1000 * 100 / window_milliticks.max(1);
        format!("{}.{:02}", hundredths / 100, hundredths % 100)
    };
    let per_checkout = |ticks: u64| {
        let micros = u128::from(ticks) * 1_000_000 / u128::from(TICKS_PER_SECOND);
        micros / u128::try_from(committed.max(1)).unwrap_or(1)
    };
    CpuFigures {
        box_cores: cores(box_ticks),
        box_us: per_checkout(box_ticks),
        load_cores: cores(load_ticks),
        load_us: per_checkout(load_ticks),
        idle: idle * 100 / all,
        iowait: iowait * 100 / all,
    }
}

/// The block device a path lives on, as `/sys/dev/block/MAJOR:MINOR/stat`; `None` where there
/// is none (a tmpfs, an overlay).
fn disk_stat_path(path: &std::path::Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(path).ok()?.dev();
    // Linux's dev_t encoding (glibc's gnu_dev_major/minor).
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let stat = PathBuf::from(format!("/sys/dev/block/{major}:{minor}/stat"));
    stat.exists().then_some(stat)
}

/// Completed write requests, sectors written and flushes so far (Documentation/block/stat.rst:
/// fields 5, 7 and 16).
fn disk_counts(stat: &std::path::Path) -> Option<(u64, u64, u64)> {
    let text = std::fs::read_to_string(stat).ok()?;
    let fields: Vec<u64> = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    Some((
        *fields.get(4)?,
        *fields.get(6)?,
        fields.get(15).copied().unwrap_or(0),
    ))
}

/// The disk figures of a counted window, per checkout.
struct DiskFigures {
    writes: String,
    kib_each: u128,
    flushes: String,
    mb_per_second: u128,
}

fn disk_figures(
    before: (u64, u64, u64),
    after: (u64, u64, u64),
    elapsed_ms: u128,
    committed: usize,
) -> DiskFigures {
    let writes = u128::from(after.0.saturating_sub(before.0));
    let bytes = u128::from(after.1.saturating_sub(before.1)) * 512;
    let flushes = u128::from(after.2.saturating_sub(before.2));
    let committed = u128::try_from(committed.max(1)).unwrap_or(1);
    // Tenths, to one decimal place without floats.
    let per_checkout = |n: u128| {
        let tenths = n * 10 / committed;
        format!("{}.{}", tenths / 10, tenths % 10)
    };
    DiskFigures {
        writes: per_checkout(writes),
        kib_each: bytes / 1024 / writes.max(1),
        flushes: per_checkout(flushes),
        mb_per_second: bytes * 1000 / elapsed_ms.max(1) / 1_000_000,
    }
}

const PASSWORD: &str = "load test password";
/// What the catalogue sells: (category, whether it earns points).
const CATEGORIES: [&str; 8] = [
    "dairy",
    "bakery",
    "drinks",
    "snacks",
    "produce",
    "frozen",
    "household",
    "tobacco",
];

/// A small, seedable generator: every terminal draws its own sequence.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn card(member: u64) -> String {
    format!("LD{member:07}")
}

fn card_lines(dice: &mut Dice) -> Vec<LineRequest> {
    (1..=5)
        .map(|line| {
            let sku = dice.below(500);
            let category = CATEGORIES[usize::try_from(sku % 8).unwrap_or(0)];
            let price = 100 + sku * 37 % 2_900;
            let quantity = 1 + dice.below(3);
            LineRequest::new(
                line,
                &format!("SKU-{sku:04}"),
                category,
                &quantity.to_string(),
                &format!("{}.{:02}", price / 100, price % 100),
            )
        })
        .collect()
}

/// What one terminal saw: latencies in microseconds of committed checkouts after the warm-up.
#[derive(Default)]
struct Seen {
    checkout_us: Vec<u32>,
    quote_us: Vec<u32>,
    commit_us: Vec<u32>,
    stored_value: u64,
    refused: std::collections::BTreeMap<String, u64>,
}

/// One terminal's loop for one round; gives its connection back with what it saw.
async fn terminal(
    till: Client,
    round: usize,
    number: u32,
    members: u32,
    counting: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> (Client, Seen) {
    let seed = (u64::from(number) + 1) * 0x1000_0001 + u64::try_from(round).unwrap_or(0);
    let mut dice = Dice(0x9E37_79B9_7F4A_7C15 ^ seed);
    let mut seen = Seen::default();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let member = dice.below(u64::from(members));
        let from_stored_value = dice.below(10) < 3;
        // Unique across rounds: a terminal's order ids are never used twice on one box.
        let mut order = CheckoutRequest::by_card(
            &format!("L{round}.{number}-{n}"),
            &card(member),
            card_lines(&mut dice),
        );
        let started = Instant::now();
        let quote = match till.quote(&order).await {
            Ok(quote) => quote,
            Err(error) => {
                note(&mut seen, &error);
                continue;
            }
        };
        let quoted = Instant::now();
        order.quote_token = Some(quote.quote_token);
        let amount = quote.payable.amount;
        order.payment = Some(if from_stored_value {
            PaymentRequest {
                stored_value: Some(amount),
                ..PaymentRequest::default()
            }
        } else {
            PaymentRequest {
                tenders: vec![TenderRequest {
                    kind: "cash".into(),
                    amount,
                }],
                ..PaymentRequest::default()
            }
        });
        match till.checkout(&order).await {
            Ok(_) if counting.load(Ordering::Relaxed) => {
                let done = Instant::now();
                let micros = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
                seen.checkout_us.push(micros(done - started));
                seen.quote_us.push(micros(quoted - started));
                seen.commit_us.push(micros(done - quoted));
                seen.stored_value += u64::from(from_stored_value);
            }
            Ok(_) => {}
            Err(error) => note(&mut seen, &error),
        }
    }
    (till, seen)
}

fn note(seen: &mut Seen, error: &ClientError) {
    let code = error
        .code()
        .map_or_else(|| error.to_string(), str::to_owned);
    *seen.refused.entry(code).or_default() += 1;
}

/// The nearest-rank percentile, `per_mille` thousandths (990 is p99), as milliseconds.
fn percentile(sorted: &[u32], per_mille: usize) -> String {
    if sorted.is_empty() {
        return "-".into();
    }
    let rank = (per_mille * sorted.len()).div_ceil(1000);
    let micros = sorted[rank.clamp(1, sorted.len()) - 1];
    format!("{}.{:02} ms", micros / 1000, micros % 1000 / 10)
}

/// What one round measured, for the summary table.
struct Row {
    terminals: usize,
    rate: u128,
    checkout: [String; 3],
    cpu: CpuFigures,
    disk: Option<DiskFigures>,
}

impl Row {
    fn table_line(&self) -> String {
        let disk = self.disk.as_ref().map_or_else(
            || "-".to_owned(),
            |d| format!("{} / {}", d.writes, d.flushes),
        );
        format!(
            "| {} | {} | {} | {} | {} | {} µs ({} cores) | {} µs | {}% / {}% | {disk} |",
            self.terminals,
            self.rate,
            self.checkout[0],
            self.checkout[1],
            self.checkout[2],
            self.cpu.box_us,
            self.cpu.box_cores,
            self.cpu.load_us,
            self.cpu.idle,
            self.cpu.iowait,
        )
    }
}

/// Runs the first `busy` of `tills` for a warm-up and a counted window, prints what it saw, and
/// gives every connection back for the next round.
async fn run_round(
    mut tills: Vec<Client>,
    busy: usize,
    round: usize,
    options: &Options,
    box_pid: &str,
    disk: Option<&std::path::Path>,
) -> Result<(Row, Vec<Client>)> {
    let idle = tills.split_off(busy.min(tills.len()));
    let counting = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = tills
        .into_iter()
        .zip(0..)
        .map(|(till, number)| {
            tokio::spawn(terminal(
                till,
                round,
                number,
                options.members,
                Arc::clone(&counting),
                Arc::clone(&stop),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(options.warmup)).await;
    counting.store(true, Ordering::Relaxed);
    let counted = Instant::now();
    let disk_before = disk.and_then(disk_counts);
    let cpu_before = CpuReading::now(box_pid)?;
    tokio::time::sleep(Duration::from_secs(options.seconds)).await;
    counting.store(false, Ordering::Relaxed);
    let cpu_after = CpuReading::now(box_pid)?;
    let disk_after = disk.and_then(disk_counts);
    let elapsed = counted.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut back = Vec::new();
    let mut all = Seen::default();
    for task in tasks {
        let (till, seen) = task.await?;
        back.push(till);
        all.checkout_us.extend(seen.checkout_us);
        all.quote_us.extend(seen.quote_us);
        all.commit_us.extend(seen.commit_us);
        all.stored_value += seen.stored_value;
        for (code, count) in seen.refused {
            *all.refused.entry(code).or_default() += count;
        }
    }
    back.extend(idle);
    all.checkout_us.sort_unstable();
    all.quote_us.sort_unstable();
    all.commit_us.sort_unstable();
    let committed = all.checkout_us.len();
    let elapsed_ms = elapsed.as_millis().max(1);
    let rate = u128::try_from(committed).unwrap_or(u128::MAX) * 1000 / elapsed_ms;
    println!(
        "\n{committed} checkouts committed in {}.{} s: {rate}/s ({} from stored value); {busy} terminals, {} members",
        elapsed_ms / 1000,
        elapsed_ms % 1000 / 100,
        all.stored_value,
        options.members
    );
    println!("| | p50 | p99 | p99.9 |\n| --- | ---: | ---: | ---: |");
    for (what, sorted) in [
        ("checkout (quote + commit)", &all.checkout_us),
        ("quote", &all.quote_us),
        ("commit", &all.commit_us),
    ] {
        println!(
            "| {what} | {} | {} | {} |",
            percentile(sorted, 500),
            percentile(sorted, 990),
            percentile(sorted, 999)
        );
    }
    let cpu = cpu_figures(&cpu_before, &cpu_after, elapsed_ms, committed);
    println!(
        "CPU: box {} cores ({} µs per checkout), load generator {} cores ({} µs); machine idle {}%, I/O wait {}%",
        cpu.box_cores, cpu.box_us, cpu.load_cores, cpu.load_us, cpu.idle, cpu.iowait
    );
    let disk = match (disk_before, disk_after) {
        (Some(before), Some(after)) => Some(disk_figures(before, after, elapsed_ms, committed)),
        _ => None,
    };
    if let Some(d) = &disk {
        println!(
            "disk (the data folder's, all its traffic): {} write requests ({} KiB each) and {} flushes per checkout; {} MB/s written",
            d.writes, d.kib_each, d.flushes, d.mb_per_second
        );
    }
    if !all.refused.is_empty() {
        println!("refused: {:?}", all.refused);
    }
    let checkout = [500, 990, 999].map(|per_mille| percentile(&all.checkout_us, per_mille));
    let row = Row {
        terminals: busy,
        rate,
        checkout,
        cpu,
        disk,
    };
    Ok((row, back))
}

// One thread for every terminal: they only wait on the network, and a second worker would
// spend the generator's CPU (which counts against the target) on wake-ups and work stealing.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let options = options()?;
    let dir = workspace_binary("tongka")?
        .parent()
        .context("no build folder")?
        .join("bench-load");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let data = dir.join("data");
    let made = tongka_admin_create(&data, "boss", PASSWORD)?;
    if !made.status.success() {
        bail!("tongka admin create: {made:?}");
    }
    let envs: [(&str, &std::path::Path); 3] = [
        ("TONGKA_HTTP_REQUESTS_PER_SECOND", "10000".as_ref()),
        ("TONGKA_HTTP_REQUEST_BURST", "10000".as_ref()),
        ("TONGKA_LOG_FILTER", "warn".as_ref()),
    ];
    let log = dir.join("box.log");
    let running = RunningBox::start_logged(&data, &[], &envs, Some(&log))?;
    let url = format!("https://{}", running.address);
    let client = Client::connect(&url, &running.fingerprint).await?;
    let session = client
        .sign_in(&LoginRequest {
            username: "boss".into(),
            password: PASSWORD.into(),
        })
        .await?;
    let boss = client.with_token(&session.token);
    let store = boss
        .create_store(&CreateStore {
            code: "LOAD-1".into(),
            name: "压测店".into(),
            kind: "direct".into(),
            opened_on: "2024-05-01".into(),
            time_zone: "Asia/Shanghai".into(),
        })
        .await?;

    eprintln!("installing standard-points");
    let manifest_path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/standard-points/manifest.json");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest_path)?)?;
    let component = packed(&dir, &components().join("standard_points.wasm"), &manifest);
    let config = json!({
        "base_points_per_yuan_bp": 10000,
        "category_multipliers": [{"key": "dairy", "percent": 150}],
        "excluded_categories": ["tobacco"],
        "offset": {"points_per_unit": 100, "unit_fen": 100, "cap_percent": 50},
        "growth_per_yuan": 1,
    });
    boss.install_plugin(&InstallPlugin {
        component,
        config: config.as_object().cloned().unwrap_or_default(),
        grant: Vec::new(),
    })
    .await?;
    for hook in TILL_HOOKS {
        boss.set_plugin_route(
            hook,
            &RouteRequest {
                plugins: vec!["standard-points".into()],
            },
        )
        .await?;
    }

    let started = Instant::now();
    let chunk = 10_000;
    let mut first = 0;
    while first < options.members {
        let last = (first + chunk).min(options.members);
        let mut csv = String::from("name,phone,card_number,card_kind,home_store,stored_value\n");
        for member in first..last {
            csv.push_str(&format!(
                "会员{member},139{member:08},{},barcode,LOAD-1,1000.00\n",
                card(u64::from(member))
            ));
        }
        let report = boss
            .import_members(&ImportMembersQuery { dry_run: None }, &csv)
            .await?;
        if !report.applied {
            bail!("import refused: {:?}", report.errors.first());
        }
        first = last;
        eprintln!("members: {first}/{}", options.members);
    }
    eprintln!("imported in {} ms", started.elapsed().as_millis());

    let most = options.terminals.iter().copied().max().unwrap_or(1);
    let mut tills = Vec::new();
    for number in 0..most {
        let pairing = boss.open_pairing(&store.id).await?;
        let paired = client
            .pair(&PairRequest {
                code: pairing.code,
                name: format!("收银台 {}", number + 1),
            })
            .await?;
        // Each terminal its own connection, as separate machines would have.
        let own = Client::connect(&url, &running.fingerprint).await?;
        tills.push(own.with_token(&paired.token));
    }

    let box_pid = running.child.id().to_string();
    let disk = disk_stat_path(&data);
    let mut rows = Vec::new();
    for (round, &terminals) in options.terminals.iter().enumerate() {
        eprintln!(
            "{terminals} terminals, {} s warm-up, {} s counted",
            options.warmup, options.seconds
        );
        let busy = usize::try_from(terminals).unwrap_or(usize::MAX);
        let (row, back) = run_round(
            tills.split_off(0),
            busy,
            round,
            &options,
            &box_pid,
            disk.as_deref(),
        )
        .await?;
        tills = back;
        rows.push(row);
    }
    if rows.len() > 1 {
        println!(
            "\n| terminals | checkouts/s | checkout p50 | p99 | p99.9 | box CPU per checkout | generator | idle / I/O wait | disk writes / flushes per checkout |"
        );
        println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for row in &rows {
            println!("{}", row.table_line());
        }
    }

    running.terminate()?;
    let verified = tongka_verify(&data)?;
    if !verified.status.success() {
        bail!(
            "tongka ledger verify failed after the run: {}",
            String::from_utf8_lossy(&verified.stdout)
        );
    }
    println!("tongka ledger verify: clean");
    Ok(())
}
