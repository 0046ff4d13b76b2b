//! Shared set-up for the ledger's tests: a ledger on a real redb file in a temporary folder, with a
//! clock the test moves.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use tempfile::TempDir;
use tongka_ledger::{
    AccountFlags, AccountId, Asset, AssetId, Ledger, LedgerOptions, ManualClock, NewAccount,
    NewTransfer, TransferId, TransferKind, UserData,
};

pub const CNY: AssetId = AssetId(1);
pub const POINTS: AssetId = AssetId(2);
/// 2026-11-23T00:00:00Z, so timestamps look like real ones.
pub const START_NS: u64 = 1_795_392_000_000_000_000;

pub struct Fixture {
    pub dir: TempDir,
    pub clock: ManualClock,
    pub ledger: Ledger,
}

impl Fixture {
    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("ledger.redb")
    }

    /// Closes the ledger and opens the same file again, as a restarted box would.
    pub fn reopen(self) -> Fixture {
        let Fixture { dir, clock, ledger } = self;
        drop(ledger);
        let ledger = Ledger::open(&dir.path().join("ledger.redb"), options(&clock)).unwrap();
        Fixture { dir, clock, ledger }
    }
}

pub fn options(clock: &ManualClock) -> LedgerOptions {
    LedgerOptions {
        expiry_sweep_interval_ms: None,
        wal_bytes_max: 1 << 20,
        clock: Arc::new(clock.clone()),
        ..LedgerOptions::default()
    }
}

/// A ledger with CNY (scale 2) and POINTS (scale 0).
pub async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(START_NS);
    let ledger = Ledger::open(&dir.path().join("ledger.redb"), options(&clock)).unwrap();
    ledger
        .create_assets(vec![
            Asset {
                id: CNY,
                code: "CNY".into(),
                scale: 2,
            },
            Asset {
                id: POINTS,
                code: "POINTS".into(),
                scale: 0,
            },
        ])
        .await
        .unwrap();
    Fixture { dir, clock, ledger }
}

pub fn account(id: u128, asset: AssetId, flags: AccountFlags) -> NewAccount {
    NewAccount {
        id: AccountId(id),
        asset,
        owner: id * 1000,
        code: 1,
        flags,
    }
}

pub fn posted(id: u128, debit: u128, credit: u128, amount: u128) -> NewTransfer {
    NewTransfer {
        id: TransferId(id),
        kind: TransferKind::Posted {
            debit: AccountId(debit),
            credit: AccountId(credit),
            amount,
        },
        code: 1,
        user_data: UserData::default(),
    }
}

pub fn pending(
    id: u128,
    debit: u128,
    credit: u128,
    amount: u128,
    timeout_secs: u32,
) -> NewTransfer {
    NewTransfer {
        id: TransferId(id),
        kind: TransferKind::Pending {
            debit: AccountId(debit),
            credit: AccountId(credit),
            amount,
            timeout_secs,
        },
        code: 2,
        user_data: UserData::default(),
    }
}

pub fn post(id: u128, pending_id: u128, amount: Option<u128>) -> NewTransfer {
    NewTransfer {
        id: TransferId(id),
        kind: TransferKind::PostPending {
            pending_id: TransferId(pending_id),
            amount,
        },
        code: 3,
        user_data: UserData::default(),
    }
}

pub fn void(id: u128, pending_id: u128) -> NewTransfer {
    NewTransfer {
        id: TransferId(id),
        kind: TransferKind::VoidPending {
            pending_id: TransferId(pending_id),
        },
        code: 4,
        user_data: UserData::default(),
    }
}

/// Asserts the file at `path` passes `verify` once the ledger is closed.
pub fn assert_verifies(path: &std::path::Path) {
    let report = tongka_ledger::verify(path).unwrap();
    assert!(report.is_clean(), "verify found: {:?}", report.violations);
}
