//! `tongka`: the box's one binary. Glue only — parses the command line and configuration, starts
//! tracing, and hands over to the ledger and the HTTP API.

mod admin;
mod config;
mod exit;
mod serve;
mod verify;

/// glibc's malloc/free were ~17% of the box's CPU under till load (docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides};
use crate::exit::Exit;

/// 通卡 Tongka — 会员、积分、储值一体机 / the membership, points and stored-value box.
#[derive(Debug, Parser)]
#[command(name = "tongka", version, propagate_version = true)]
struct Cli {
    /// A configuration file with the keys to change from the built-in default
    /// (see config/tongka.toml).
    #[arg(long, global = true, env = "TONGKA_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// 启动 / Start the box: open the data folder and the ledger, then serve the API.
    Serve {
        /// The data folder (created if missing). Overrides `data_dir`.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// Address and port to serve HTTPS on, e.g. 0.0.0.0:8620. Overrides `http.listen`.
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<SocketAddr>,
        /// Also serve plain HTTP here, on a loopback address only, e.g. 127.0.0.1:8621.
        /// Overrides `http.plain_listen`.
        #[arg(long, value_name = "ADDR:PORT")]
        plain_listen: Option<SocketAddr>,
    },
    /// 账本 / Work on the ledger file.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// 管理员 / Staff accounts, on the box itself.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// 创建总部管理员 / Create an HQ administrator (all stores, every right).
    ///
    /// The password is asked twice on a terminal, or read from the first line of stdin. Stop the
    /// box first: its directory file is exclusive.
    Create {
        /// What they sign in with: 3 to 32 of a-z, 0-9, `.`, `_`, `-`.
        #[arg(long)]
        username: String,
        /// The name shown in the console; the username if not given.
        #[arg(long)]
        display_name: Option<String>,
        /// The data folder. Defaults to `data_dir` of the configuration.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum LedgerCommand {
    /// 校验 / Rebuild every balance from the journal and check the ledger's invariants.
    ///
    /// Checks that stored balances equal the rebuilt ones, that each asset's debits and credits
    /// sum to zero, that no account is past its limit, and that timestamps strictly increase.
    /// Exits 0 when clean, 1 on any violation. Stop the box first: the file is exclusive.
    Verify {
        /// The data folder holding ledger.redb. Defaults to `data_dir` of the configuration.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = |key: &str| std::env::var(key).ok();
    type Run = Box<dyn FnOnce(Config) -> Exit>;
    let (overrides, run): (Overrides, Run) = match cli.command {
        Command::Serve {
            data,
            listen,
            plain_listen,
        } => (
            Overrides {
                config_file: cli.config,
                data_dir: data,
                listen,
                plain_listen,
            },
            Box::new(serve::run),
        ),
        Command::Ledger {
            command: LedgerCommand::Verify { data },
        } => (
            Overrides {
                config_file: cli.config,
                data_dir: data,
                ..Overrides::default()
            },
            Box::new(verify::run),
        ),
        Command::Admin {
            command:
                AdminCommand::Create {
                    username,
                    display_name,
                    data,
                },
        } => (
            Overrides {
                config_file: cli.config,
                data_dir: data,
                ..Overrides::default()
            },
            Box::new(move |config: Config| {
                admin::create(&config, &username, display_name.as_deref())
            }),
        ),
    };
    match Config::load(&overrides, env) {
        Ok(config) => run(config).into(),
        Err(error) => {
            eprintln!("配置错误 / configuration error: {error}");
            Exit::Config.into()
        }
    }
}
