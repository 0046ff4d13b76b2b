//! `tongka ledger verify`: prints what the ledger holds and whether its invariants hold.

use tongka_ledger::{LedgerError, VerifyReport};

use crate::config::Config;
use crate::exit::Exit;

pub fn run(config: Config) -> Exit {
    let path = config.ledger_path();
    if !path.exists() {
        eprintln!("没有账本文件 / no ledger file at {}", path.display());
        return Exit::NoInput;
    }
    // Opening replays the write-ahead log and closing checkpoints it, so the check sees every
    // acknowledged write, even after a crash.
    if let Err(error) = tongka_ledger::Ledger::open(&path, config.ledger_options()) {
        return report_error(&path, error);
    }
    match tongka_ledger::verify(&path) {
        Ok(report) => {
            print!("{}", summary(&path, &report));
            if report.is_clean() {
                Exit::Success
            } else {
                Exit::Violations
            }
        }
        Err(error) => report_error(&path, error),
    }
}

fn report_error(path: &std::path::Path, error: LedgerError) -> Exit {
    match error {
        LedgerError::InUse => {
            eprintln!(
                "账本正在使用中，请先停止 tongka serve / the ledger at {} is open by a running box; stop it first",
                path.display()
            );
            Exit::InUse
        }
        error => {
            eprintln!("无法校验 / cannot verify {}: {error}", path.display());
            Exit::Io
        }
    }
}

fn summary(path: &std::path::Path, report: &VerifyReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "ledger {}", path.display());
    let _ = writeln!(
        out,
        "  {} assets, {} accounts, {} transfers ({} holds open), {} journal entries",
        report.assets.len(),
        report.accounts,
        report.transfers,
        report.pending_open,
        report.journal_entries
    );
    for asset in &report.assets {
        let totals = report.totals.get(&asset.id).copied().unwrap_or_default();
        let posted = totals
            .credits_posted
            .as_u128()
            .and_then(|units| asset.to_decimal(units).ok())
            .map_or_else(|| "(beyond 2^128)".to_owned(), |d| d.to_string());
        let _ = writeln!(out, "  {:<8} moved {posted}", asset.code);
    }
    if report.is_clean() {
        let _ = writeln!(out, "校验通过 / clean: every invariant holds");
    } else {
        let _ = writeln!(out, "校验失败 / {} violation(s):", report.violations.len());
        for violation in report.violations.iter().take(100) {
            let _ = writeln!(out, "  - {violation}");
        }
        if report.violations.len() > 100 {
            let _ = writeln!(out, "  … and {} more", report.violations.len() - 100);
        }
    }
    out
}
