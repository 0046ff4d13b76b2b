//! Set-up shared by the criterion bench and `examples/throughput.rs` (included by path there).

#![allow(clippy::unwrap_used, dead_code)]

use std::path::Path;

use tongka_ledger::{AccountFlags, AccountId, Asset, AssetId, Ledger, LedgerOptions, NewAccount};

/// A new ledger at `path` with CNY and accounts `1..=accounts`, none of them limited.
pub async fn open_with_accounts(path: &Path, accounts: u128) -> Ledger {
    let ledger = Ledger::open(path, LedgerOptions::default()).unwrap();
    ledger
        .create_assets(vec![Asset {
            id: AssetId(1),
            code: "CNY".into(),
            scale: 2,
        }])
        .await
        .unwrap();
    let accounts: Vec<NewAccount> = (1..=accounts)
        .map(|id| NewAccount {
            id: AccountId(id),
            asset: AssetId(1),
            owner: id,
            code: 1,
            flags: AccountFlags::NONE,
        })
        .collect();
    for chunk in accounts.chunks(8_000) {
        ledger.create_accounts(chunk.to_vec()).await.unwrap();
    }
    ledger
}
