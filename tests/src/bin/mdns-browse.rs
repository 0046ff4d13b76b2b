//! Browses the LAN for Tongka boxes and prints what it sees, a line each, as soon as it sees it:
//! `found INSTANCE\tID\tAPI\tFINGERPRINT\tADDRESSES\tPORT` or `withdrawn FULLNAME`. The discovery
//! test runs it in a network namespace of its own, as a POS on another machine.
//!
//! `mdns-browse [--seconds N]` (default 30).

use std::io::Write;
use std::time::Duration;

use tongka_discovery::{Seen, browse};

fn main() -> std::process::ExitCode {
    let seconds: u64 = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(30);
    let result = browse(Duration::from_secs(seconds), |seen| {
        let line = match seen {
            Seen::Found(found) => format!(
                "found {}\t{}\t{}\t{}\t{}\t{}",
                found.instance,
                found.box_id,
                found.api,
                found.fingerprint,
                found
                    .addresses
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                found.port
            ),
            Seen::Withdrawn(fullname) => format!("withdrawn {fullname}"),
        };
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")
            .and_then(|()| stdout.flush())
            .is_ok()
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            std::process::ExitCode::FAILURE
        }
    }
}
