//! What every domain test opens: the box's two files in a folder, as `tongka serve` opens them.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;

use tongka_domain::{
    Directory, MemberId, NewStaff, NewStore, Role, Scope, SessionOptions, Staff, Store, StoreKind,
    TopUpRequest, UnixMillis,
};

/// `directory.redb` in `dir`, with default sessions.
pub fn directory_in(dir: &Path) -> Arc<Directory> {
    Arc::new(Directory::open(&dir.join("directory.redb"), SessionOptions::default()).unwrap())
}

/// `ledger.redb` in `dir`, with default options. (The daily tests run the ledger on a manual
/// clock instead: each test file compiles this module alone.)
#[allow(dead_code)]
pub fn ledger_in(dir: &Path) -> tongka_ledger::Ledger {
    tongka_ledger::Ledger::open(&dir.join("ledger.redb"), Default::default()).unwrap()
}

/// `fen` paid in for `member` under `order`, nothing else asked.
#[allow(dead_code)]
pub fn top_up(order: &str, member: MemberId, fen: u64) -> TopUpRequest {
    TopUpRequest {
        order: order.into(),
        member,
        amount_fen: fen,
        tenders: Vec::new(),
        seller: None,
        approved_by: None,
    }
}

/// Head office's first admin, on a fresh directory.
pub fn boss(directory: &Directory, at: UnixMillis) -> Staff {
    directory
        .create_staff(
            directory.first_merchant(),
            &NewStaff {
                department: None,
                username: "boss".into(),
                display_name: "老板".into(),
                role: Role::HqAdmin,
                scope: Scope::AllStores,
                password: "long enough".into(),
            },
            at,
        )
        .unwrap()
        .unwrap()
}

/// Head office's first admin and a store, on a fresh directory.
#[allow(dead_code)]
pub fn boss_and_store(directory: &Directory, at: UnixMillis) -> (Staff, Store) {
    let boss = boss(directory, at);
    let store = directory
        .create_store(
            &boss,
            &NewStore {
                code: "A".into(),
                name: "A 店".into(),
                kind: StoreKind::Direct,
                opened_on: tongka_domain::Date::parse("2024-01-01").unwrap(),
                time_zone: "Asia/Shanghai".into(),
            },
            at,
        )
        .unwrap()
        .unwrap();
    (boss, store)
}
