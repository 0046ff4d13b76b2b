//! 通卡参考收银 / tongka-pos: a reference POS on the command line, written against
//! `tongka-client` as a POS vendor would.
//!
//! ```text
//! tongka-pos discover
//! tongka-pos pair 12345678 --name "收银台 1"            # the box found on the LAN
//! tongka-pos pair 12345678 --box https://10.0.0.5:8620 --fingerprint AB:CD:…
//! tongka-pos open-card --name 李娜 --phone 13800138000 --card 8800001
//! tongka-pos member find --phone 13800138000
//! tongka-pos top-up --card 8800001 --amount 100.00
//! tongka-pos checkout --card 8800001 --line MILK:dairy:2:12.50 --points max --stored-value rest
//! tongka-pos refund S-… --line 1:1
//! ```
//!
//! It remembers its pairing (box address, fingerprint, terminal token) in a small JSON file,
//! `tongka-pos.json` in the working folder unless `--config` says otherwise, readable by its
//! owner only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};
use tongka_client::types::{
    CardRequest, CheckoutRequest, CreateMember, FindMemberQuery, LineRequest, OffsetBody,
    PaymentRequest, RefundLineRequest, RefundRequest, TenderRequest, TopUpRequest,
};
use tongka_client::{Client, Fingerprint};

#[derive(Parser)]
#[command(
    name = "tongka-pos",
    version,
    about = "通卡参考收银 / a reference POS for the Tongka box"
)]
struct Cli {
    /// Where the pairing is kept.
    #[arg(long, global = true, default_value = "tongka-pos.json")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// 发现 / List the boxes on the LAN.
    Discover {
        #[arg(long, default_value_t = 3)]
        seconds: u64,
    },
    /// 配对 / Pair with a store by the code its manager opened.
    Pair {
        code: String,
        #[arg(long, default_value = "收银台")]
        name: String,
        /// A box not on the LAN: https://HOST:PORT (with --fingerprint).
        #[arg(long = "box")]
        box_url: Option<String>,
        #[arg(long)]
        fingerprint: Option<String>,
        /// Which box, when several answer on the LAN (its id or name).
        #[arg(long)]
        which: Option<String>,
        #[arg(long, default_value_t = 3)]
        seconds: u64,
    },
    /// 查会员 / Find a member by card or phone.
    Member {
        #[command(subcommand)]
        command: MemberCommand,
    },
    /// 开卡 / Sign a member up at this store, with a card.
    OpenCard {
        #[arg(long)]
        name: String,
        #[arg(long)]
        phone: String,
        #[arg(long)]
        card: String,
        #[arg(long, default_value = "barcode")]
        kind: String,
        /// YYYY-MM-DD.
        #[arg(long)]
        birthday: Option<String>,
    },
    /// 充值 / Top up a member's stored value.
    TopUp {
        #[arg(long)]
        card: String,
        #[arg(long)]
        amount: String,
        #[arg(long, default_value = "cash")]
        tender: String,
        /// The order id; made from the clock if absent.
        #[arg(long)]
        order: Option<String>,
    },
    /// 收银 / Quote, then commit, a checkout.
    Checkout {
        #[arg(long)]
        card: String,
        /// SKU:CATEGORY:QUANTITY:UNIT_PRICE, repeated.
        #[arg(long = "line", required = true)]
        lines: Vec<String>,
        /// Points to pay with: a number, or `max`.
        #[arg(long)]
        points: Option<String>,
        /// Stored value to pay with: an amount, or `rest` (what points leave).
        #[arg(long)]
        stored_value: Option<String>,
        /// Show the quote only.
        #[arg(long)]
        quote_only: bool,
        #[arg(long)]
        order: Option<String>,
    },
    /// 退货 / Refund an order, whole or LINE:QUANTITY.
    Refund {
        original: String,
        #[arg(long = "line")]
        lines: Vec<String>,
        #[arg(long)]
        order: Option<String>,
    },
    /// 查订单 / Show an order's receipt.
    Order { id: String },
}

#[derive(Subcommand)]
enum MemberCommand {
    /// By card number or phone.
    Find {
        #[arg(long, conflicts_with = "phone", required_unless_present = "phone")]
        card: Option<String>,
        #[arg(long)]
        phone: Option<String>,
    },
}

/// What the POS remembers once paired.
#[derive(Serialize, Deserialize)]
struct Pairing {
    box_url: String,
    fingerprint: String,
    token: String,
    terminal: tongka_client::types::TerminalBody,
}

fn save(path: &Path, pairing: &Pairing) -> Result<()> {
    let text = serde_json::to_string_pretty(pairing)?;
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&temporary, path)?;
    Ok(())
}

async fn paired(path: &Path) -> Result<Client> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "not paired yet ({} missing): run `tongka-pos pair CODE` first",
            path.display()
        )
    })?;
    let pairing: Pairing = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a pairing file", path.display()))?;
    let fingerprint: Fingerprint = pairing
        .fingerprint
        .parse()
        .map_err(|_| anyhow::anyhow!("{}: bad fingerprint", path.display()))?;
    let client = Client::connect(&pairing.box_url, &fingerprint).await?;
    Ok(client.with_token(&pairing.token))
}

fn order_id(prefix: &str, given: Option<String>) -> String {
    given.unwrap_or_else(|| {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        format!("{prefix}-{millis}")
    })
}

fn print(value: &impl Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("错误 / error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Discover { seconds } => {
            let found = tongka_client::discover(Duration::from_secs(seconds)).await?;
            if found.is_empty() {
                bail!("no box answered within {seconds} s");
            }
            for b in &found {
                println!("{}\t{}\t{}\t{}", b.name, b.box_id, b.url(), b.fingerprint);
            }
        }
        Command::Pair {
            code,
            name,
            box_url,
            fingerprint,
            which,
            seconds,
        } => {
            let (url, fingerprint) = match (box_url, fingerprint) {
                (Some(url), Some(fp)) => (
                    url,
                    fp.parse::<Fingerprint>()
                        .map_err(|_| anyhow::anyhow!("--fingerprint: 64 hex digits"))?,
                ),
                (None, None) => {
                    let found = tongka_client::discover(Duration::from_secs(seconds)).await?;
                    let chosen: Vec<_> = found
                        .into_iter()
                        .filter(|b| {
                            which
                                .as_deref()
                                .is_none_or(|w| b.box_id == w || b.name == w)
                        })
                        .collect();
                    match chosen.as_slice() {
                        [one] => (one.url(), one.fingerprint),
                        [] => bail!("no box found on the LAN; use --box and --fingerprint"),
                        _ => bail!("several boxes answered; choose one with --which"),
                    }
                }
                _ => bail!("--box and --fingerprint go together"),
            };
            let client = Client::connect(&url, &fingerprint).await?;
            let paired = client
                .pair(&tongka_client::types::PairRequest { code, name })
                .await?;
            save(
                &cli.config,
                &Pairing {
                    box_url: url.clone(),
                    fingerprint: fingerprint.to_string(),
                    token: paired.token,
                    terminal: paired.terminal.clone(),
                },
            )?;
            println!("已配对 / paired with {url} as {}", paired.terminal.name);
        }
        Command::Member {
            command: MemberCommand::Find { card, phone },
        } => {
            let client = paired(&cli.config).await?;
            let query = match (card, phone) {
                (Some(card), _) => FindMemberQuery {
                    card: Some(card),
                    phone: None,
                },
                (None, Some(phone)) => FindMemberQuery {
                    card: None,
                    phone: Some(phone),
                },
                (None, None) => bail!("--card or --phone"),
            };
            print(&client.find_member(&query).await?)?;
        }
        Command::OpenCard {
            name,
            phone,
            card,
            kind,
            birthday,
        } => {
            let client = paired(&cli.config).await?;
            let member = CreateMember {
                name: Some(name),
                phone: Some(phone),
                birthday,
                card: Some(CardRequest { number: card, kind }),
                ..CreateMember::default()
            };
            print(&client.open_card(&member).await?)?;
        }
        Command::TopUp {
            card,
            amount,
            tender,
            order,
        } => {
            let client = paired(&cli.config).await?;
            let mut top_up = TopUpRequest::by_card(&order_id("T", order), &card, &amount);
            top_up.tenders = vec![TenderRequest {
                kind: tender,
                amount,
            }];
            print(&client.top_up(&top_up).await?)?;
        }
        Command::Checkout {
            card,
            lines,
            points,
            stored_value,
            quote_only,
            order,
        } => {
            let client = paired(&cli.config).await?;
            let lines = lines
                .iter()
                .enumerate()
                .map(|(i, text)| parse_line(i32::try_from(i + 1).unwrap_or(i32::MAX), text))
                .collect::<Result<Vec<_>>>()?;
            let mut order = CheckoutRequest::by_card(&order_id("S", order), &card, lines);
            let quote = client.quote(&order).await?;
            if quote_only {
                return print(&quote);
            }
            let points = match points.as_deref() {
                Some("max") => quote
                    .points_offset
                    .as_ref()
                    .map(|o| o.max_points.clone())
                    .unwrap_or_else(|| "0".into()),
                Some(n) => n.to_owned(),
                None => "0".into(),
            };
            let points_value = quote
                .points_offset
                .as_ref()
                .map(|o| value_of(&points, o))
                .transpose()?
                .unwrap_or(0);
            let payable = fen(&quote.payable.amount)?;
            let rest = payable.saturating_sub(points_value);
            let stored = match stored_value.as_deref() {
                Some("rest") => rest,
                Some(amount) => fen(amount)?,
                None => 0,
            };
            let cash = rest.saturating_sub(stored);
            order.quote_token = Some(quote.quote_token.clone());
            order.payment = Some(PaymentRequest {
                stored_value: Some(yuan(stored)),
                points: Some(points),
                tenders: if cash > 0 {
                    vec![TenderRequest {
                        kind: "cash".into(),
                        amount: yuan(cash),
                    }]
                } else {
                    Vec::new()
                },
                seller: None,
            });
            match client.checkout(&order).await {
                Ok(receipt) => print(&receipt)?,
                Err(error) if error.code() == Some("quote_stale") => {
                    bail!("{error}: the balance or the rules changed; run the checkout again")
                }
                Err(error) => return Err(error.into()),
            }
        }
        Command::Refund {
            original,
            lines,
            order,
        } => {
            let client = paired(&cli.config).await?;
            let lines = lines
                .iter()
                .map(|text| {
                    let (line, quantity) = text
                        .split_once(':')
                        .context("a refund line is LINE:QUANTITY")?;
                    Ok(RefundLineRequest {
                        line: line.parse().context("a line number")?,
                        quantity: quantity.to_owned(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let refund = RefundRequest::of(&order_id("R", order), &original, lines);
            print(&client.refund(&refund).await?)?;
        }
        Command::Order { id } => {
            let client = paired(&cli.config).await?;
            print(&client.order(&id).await?)?;
        }
    }
    Ok(())
}

fn parse_line(number: i32, text: &str) -> Result<LineRequest> {
    let parts: Vec<&str> = text.split(':').collect();
    let [sku, category, quantity, price] = parts.as_slice() else {
        bail!("`{text}`: a line is SKU:CATEGORY:QUANTITY:UNIT_PRICE");
    };
    Ok(LineRequest::new(number, sku, category, quantity, price))
}

/// `12.30` → 1230. The box checks amounts again; this only does the till's arithmetic.
fn fen(amount: &str) -> Result<u64> {
    let (yuan, fen) = amount.split_once('.').unwrap_or((amount, "0"));
    let fen = format!("{fen:0<2}");
    if fen.len() > 2 {
        bail!("`{amount}`: at most two decimal places");
    }
    Ok(yuan.parse::<u64>()? * 100 + fen.parse::<u64>()?)
}

fn yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// What `points` are worth under the offer.
fn value_of(points: &str, offer: &OffsetBody) -> Result<u64> {
    let points: u64 = points.parse().context("points: a whole number")?;
    let step: u64 = offer.points_per_unit.parse()?;
    Ok(points.checked_div(step).unwrap_or(0) * fen(&offer.unit_value.amount)?)
}
