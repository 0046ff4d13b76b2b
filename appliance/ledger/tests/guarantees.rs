//! The ledger's guarantees, one test each, through its public API on a real redb file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use tongka_ledger::{
    AccountError, AccountFlags, AccountId, Applied, AssetError, Balance, BatchError, CloseError,
    Ledger, LedgerError, LedgerOptions, ManualClock, PendingStatus, Timestamp, TransferError,
    TransferId, UserData,
};

const MEMBER: u128 = 10;
const MERCHANT: u128 = 20;
const STORE: u128 = 30;
const MEMBER_POINTS: u128 = 11;
const CLOSED: u128 = 40;

/// A member's stored value that must not go negative, the merchant's issuing account that may,
/// a store account, a points account, and a closed account.
async fn chain() -> Fixture {
    let f = fixture().await;
    f.ledger
        .create_accounts(vec![
            account(MEMBER, CNY, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
            account(MERCHANT, CNY, AccountFlags::NONE),
            account(STORE, CNY, AccountFlags::NONE),
            account(
                MEMBER_POINTS,
                POINTS,
                AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            ),
            account(CLOSED, CNY, AccountFlags::NONE),
        ])
        .await
        .unwrap();
    f.ledger
        .close_accounts(vec![AccountId(CLOSED)])
        .await
        .unwrap();
    f
}

fn rejected<E: std::error::Error + Clone>(
    result: Result<impl std::fmt::Debug, BatchError<E>>,
) -> Vec<(usize, E)> {
    match result {
        Err(BatchError::Rejected { errors }) => errors,
        other => panic!("expected a rejected batch, got {other:?}"),
    }
}

fn balance(f: &Fixture, id: u128) -> Balance {
    f.ledger.balance(AccountId(id)).unwrap().unwrap()
}

#[tokio::test]
async fn a_transfer_moves_the_amount_and_both_sides_agree() {
    let f = chain().await;
    let applied = f
        .ledger
        .create_transfers(vec![posted(1, MERCHANT, MEMBER, 10_000)])
        .await
        .unwrap();
    assert!(applied[0].is_created());
    assert_eq!(balance(&f, MEMBER).credits_posted, 10_000);
    assert_eq!(balance(&f, MERCHANT).debits_posted, 10_000);
    assert_eq!(balance(&f, MEMBER).net_credit_posted(), Some(10_000));
    assert_eq!(balance(&f, MERCHANT).net_credit_posted(), Some(-10_000));
    let path = f.path();
    drop(f.ledger);
    assert_verifies(&path);
}

#[tokio::test]
async fn each_bad_transfer_gets_its_typed_error_and_writes_nothing() {
    let f = chain().await;
    f.ledger
        .create_transfers(vec![posted(1, MERCHANT, MEMBER, 500)])
        .await
        .unwrap();
    let before_member = balance(&f, MEMBER);
    let before_merchant = balance(&f, MERCHANT);

    let cases: Vec<(tongka_ledger::NewTransfer, TransferError)> = vec![
        (posted(0, MERCHANT, MEMBER, 1), TransferError::IdReserved),
        (
            posted(u128::MAX, MERCHANT, MEMBER, 1),
            TransferError::IdReserved,
        ),
        (
            posted(2, 999, MEMBER, 1),
            TransferError::DebitAccountNotFound(AccountId(999)),
        ),
        (
            posted(2, MERCHANT, 999, 1),
            TransferError::CreditAccountNotFound(AccountId(999)),
        ),
        (
            posted(2, MERCHANT, MEMBER_POINTS, 1),
            TransferError::AssetMismatch {
                debit: CNY,
                credit: POINTS,
            },
        ),
        (posted(2, MERCHANT, MEMBER, 0), TransferError::AmountZero),
        (
            posted(2, MEMBER, MEMBER, 1),
            TransferError::AccountsMustBeDifferent,
        ),
        (
            posted(2, MERCHANT, CLOSED, 1),
            TransferError::CreditAccountClosed(AccountId(CLOSED)),
        ),
        (
            posted(2, CLOSED, MERCHANT, 1),
            TransferError::DebitAccountClosed(AccountId(CLOSED)),
        ),
        (
            posted(2, MEMBER, STORE, 501),
            TransferError::ExceedsCredits {
                account: AccountId(MEMBER),
                available: 500,
            },
        ),
        (
            posted(2, MERCHANT, STORE, u128::MAX),
            TransferError::Overflow(AccountId(MERCHANT)),
        ),
        (
            posted(1, MERCHANT, MEMBER, 501),
            TransferError::IdReused(TransferId(1)),
        ),
        (
            post(2, 777, None),
            TransferError::PendingTransferNotFound(TransferId(777)),
        ),
        (
            post(2, 1, None),
            TransferError::PendingTransferNotPending(TransferId(1)),
        ),
    ];
    for (index, (transfer, expected)) in cases.into_iter().enumerate() {
        // Each bad transfer rides with a good one, which must not be applied either.
        let batch = vec![posted(100 + index as u128, MERCHANT, STORE, 1), transfer];
        let errors = rejected(f.ledger.create_transfers(batch).await);
        assert_eq!(
            errors,
            vec![(1, expected.clone())],
            "case {index}: {expected}"
        );
        assert_eq!(
            f.ledger.transfer(TransferId(100 + index as u128)).unwrap(),
            None
        );
    }
    assert_eq!(balance(&f, MEMBER), before_member);
    assert_eq!(balance(&f, MERCHANT), before_merchant);
    assert_eq!(balance(&f, STORE), Balance::default());
}

#[tokio::test]
async fn a_batch_reports_every_failing_item() {
    let f = chain().await;
    let errors = rejected(
        f.ledger
            .create_transfers(vec![
                posted(1, MERCHANT, MEMBER, 100),
                posted(2, MEMBER, STORE, 1_000),
                posted(3, MERCHANT, MEMBER, 0),
            ])
            .await,
    );
    assert_eq!(
        errors,
        vec![
            (
                1,
                TransferError::ExceedsCredits {
                    account: AccountId(MEMBER),
                    available: 100
                }
            ),
            (2, TransferError::AmountZero),
        ]
    );
    assert_eq!(f.ledger.transfer(TransferId(1)).unwrap(), None);
}

#[tokio::test]
async fn later_transfers_in_a_batch_see_earlier_ones() {
    let f = chain().await;
    // Top up then spend in one batch: the spend relies on the top-up.
    f.ledger
        .create_transfers(vec![
            posted(1, MERCHANT, MEMBER, 100),
            posted(2, MEMBER, STORE, 100),
        ])
        .await
        .unwrap();
    assert_eq!(balance(&f, MEMBER).available_to_debit(), 0);
}

#[tokio::test]
async fn a_retry_returns_the_original_and_applies_nothing() {
    let f = chain().await;
    let first = f
        .ledger
        .create_transfers(vec![posted(1, MERCHANT, MEMBER, 100)])
        .await
        .unwrap();
    f.clock.advance_secs(60);
    let retry = f
        .ledger
        .create_transfers(vec![
            posted(1, MERCHANT, MEMBER, 100),
            posted(2, MERCHANT, MEMBER, 5),
        ])
        .await
        .unwrap();
    assert_eq!(retry[0], Applied::Exists(*first[0].get()));
    assert!(retry[1].is_created());
    assert_eq!(balance(&f, MEMBER).credits_posted, 105);

    let mut changed = posted(1, MERCHANT, MEMBER, 100);
    changed.user_data = UserData {
        u128: 9,
        ..UserData::default()
    };
    assert_eq!(
        rejected(f.ledger.create_transfers(vec![changed]).await),
        vec![(0, TransferError::IdReused(TransferId(1)))]
    );
}

#[tokio::test]
async fn bad_accounts_and_assets_are_refused() {
    let f = chain().await;
    let both = tongka_ledger::AccountFlags {
        debits_must_not_exceed_credits: true,
        credits_must_not_exceed_debits: true,
    };
    let errors = rejected(
        f.ledger
            .create_accounts(vec![
                account(0, CNY, AccountFlags::NONE),
                account(50, tongka_ledger::AssetId(99), AccountFlags::NONE),
                account(51, CNY, both),
                account(MEMBER, POINTS, AccountFlags::NONE),
                account(52, CNY, AccountFlags::NONE),
            ])
            .await,
    );
    assert_eq!(
        errors,
        vec![
            (0, AccountError::IdReserved),
            (1, AccountError::AssetNotFound(tongka_ledger::AssetId(99))),
            (2, AccountError::FlagsMutuallyExclusive),
            (3, AccountError::IdReused(AccountId(MEMBER))),
        ]
    );
    assert_eq!(f.ledger.account(AccountId(52)).unwrap(), None);

    let asset = |id, code: &str, scale| tongka_ledger::Asset {
        id: tongka_ledger::AssetId(id),
        code: code.into(),
        scale,
    };
    let errors = rejected(
        f.ledger
            .create_assets(vec![
                asset(0, "X", 0),
                asset(3, "cny", 2),
                asset(4, "", 2),
                asset(5, "A_VERY_LONG_CODE_X", 2),
                asset(6, "FINE", 19),
                asset(1, "CNY", 3),
            ])
            .await,
    );
    assert_eq!(
        errors,
        vec![
            (0, AssetError::IdReserved),
            (1, AssetError::CodeInvalid),
            (2, AssetError::CodeInvalid),
            (3, AssetError::CodeInvalid),
            (4, AssetError::ScaleTooLarge(19)),
            (5, AssetError::IdReused(CNY)),
        ]
    );
}

#[tokio::test]
async fn an_oversized_batch_is_refused_before_the_writer() {
    let f = chain().await;
    let batch: Vec<_> = (1..=8_191).map(|i| posted(i, MERCHANT, STORE, 1)).collect();
    match f.ledger.create_transfers(batch).await {
        Err(BatchError::Ledger(LedgerError::BatchTooLarge {
            len: 8_191,
            max: 8_190,
        })) => {}
        other => panic!("expected BatchTooLarge, got {other:?}"),
    }
    assert_eq!(balance(&f, STORE), Balance::default());
}

#[tokio::test]
async fn a_hold_reserves_then_posts_part_and_releases_the_rest() {
    let f = chain().await;
    f.ledger
        .create_transfers(vec![posted(1, MERCHANT, MEMBER, 1_000)])
        .await
        .unwrap();
    f.ledger
        .create_transfers(vec![pending(2, MEMBER, STORE, 600, 0)])
        .await
        .unwrap();
    assert_eq!(balance(&f, MEMBER).debits_pending, 600);
    assert_eq!(balance(&f, MEMBER).available_to_debit(), 400);
    // The hold counts against the balance: 401 more would overdraw.
    assert_eq!(
        rejected(
            f.ledger
                .create_transfers(vec![posted(3, MEMBER, STORE, 401)])
                .await
        ),
        vec![(
            0,
            TransferError::ExceedsCredits {
                account: AccountId(MEMBER),
                available: 400
            }
        )]
    );
    assert_eq!(
        rejected(f.ledger.create_transfers(vec![post(4, 2, Some(601))]).await),
        vec![(
            0,
            TransferError::AmountExceedsPending {
                requested: 601,
                pending: 600
            }
        )]
    );
    let posted_part = f
        .ledger
        .create_transfers(vec![post(4, 2, Some(250))])
        .await
        .unwrap();
    assert_eq!(posted_part[0].get().amount, 250);
    let member = balance(&f, MEMBER);
    assert_eq!((member.debits_pending, member.debits_posted), (0, 250));
    assert_eq!(balance(&f, STORE).credits_posted, 250);
    assert_eq!(
        f.ledger.pending_status(TransferId(2)).unwrap(),
        Some(PendingStatus::Posted)
    );
    assert_eq!(
        rejected(f.ledger.create_transfers(vec![void(5, 2)]).await),
        vec![(
            0,
            TransferError::PendingTransferAlreadyPosted(TransferId(2))
        )]
    );
    let path = f.path();
    drop(f.ledger);
    assert_verifies(&path);
}

#[tokio::test]
async fn a_void_releases_the_hold_and_cannot_be_repeated() {
    let f = chain().await;
    f.ledger
        .create_transfers(vec![
            posted(1, MERCHANT, MEMBER, 1_000),
            pending(2, MEMBER, STORE, 700, 0),
        ])
        .await
        .unwrap();
    f.ledger.create_transfers(vec![void(3, 2)]).await.unwrap();
    assert_eq!(balance(&f, MEMBER).available_to_debit(), 1_000);
    assert_eq!(balance(&f, STORE), Balance::default());
    // Retrying the void is answered with the original; a new void is refused.
    assert!(!f.ledger.create_transfers(vec![void(3, 2)]).await.unwrap()[0].is_created());
    assert_eq!(
        rejected(f.ledger.create_transfers(vec![void(4, 2)]).await),
        vec![(
            0,
            TransferError::PendingTransferAlreadyVoided(TransferId(2))
        )]
    );
    assert_eq!(
        rejected(f.ledger.create_transfers(vec![post(5, 2, None)]).await),
        vec![(
            0,
            TransferError::PendingTransferAlreadyVoided(TransferId(2))
        )]
    );
}

#[tokio::test]
async fn a_hold_past_its_timeout_expires_and_cannot_be_posted() {
    let f = chain().await;
    f.ledger
        .create_transfers(vec![
            posted(1, MERCHANT, MEMBER, 1_000),
            pending(2, MEMBER, STORE, 300, 30),
        ])
        .await
        .unwrap();
    f.clock.advance_secs(29);
    // Not yet: any write sweeps, and this hold has a second left.
    f.ledger
        .create_transfers(vec![posted(3, MERCHANT, STORE, 1)])
        .await
        .unwrap();
    assert_eq!(
        f.ledger.pending_status(TransferId(2)).unwrap(),
        Some(PendingStatus::Pending)
    );
    // The hold was stamped a few nanoseconds after the clock's start; two seconds is clearly past.
    f.clock.advance_secs(2);
    assert_eq!(
        rejected(f.ledger.create_transfers(vec![post(4, 2, None)]).await),
        vec![(0, TransferError::PendingTransferExpired(TransferId(2)))]
    );
    assert_eq!(
        f.ledger.pending_status(TransferId(2)).unwrap(),
        Some(PendingStatus::Expired)
    );
    assert_eq!(balance(&f, MEMBER).debits_pending, 0);
    assert_eq!(balance(&f, STORE).credits_pending, 0);
    let path = f.path();
    drop(f.ledger);
    assert_verifies(&path);
}

#[tokio::test]
async fn an_idle_ledger_sweeps_expired_holds_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let clock = tongka_ledger::ManualClock::new(START_NS);
    let options = tongka_ledger::LedgerOptions {
        expiry_sweep_interval_ms: Some(10),
        ..options(&clock)
    };
    let ledger = tongka_ledger::Ledger::open(&dir.path().join("l.redb"), options).unwrap();
    ledger
        .create_assets(vec![tongka_ledger::Asset {
            id: CNY,
            code: "CNY".into(),
            scale: 2,
        }])
        .await
        .unwrap();
    ledger
        .create_accounts(vec![
            account(1, CNY, AccountFlags::NONE),
            account(2, CNY, AccountFlags::NONE),
        ])
        .await
        .unwrap();
    ledger
        .create_transfers(vec![pending(9, 1, 2, 5, 1)])
        .await
        .unwrap();
    clock.advance_secs(2);
    let mut status = None;
    for _ in 0..500 {
        status = ledger.pending_status(TransferId(9)).unwrap();
        if status == Some(PendingStatus::Expired) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(status, Some(PendingStatus::Expired));
    assert_eq!(
        ledger
            .balance(AccountId(1))
            .unwrap()
            .unwrap()
            .debits_pending,
        0
    );
}

#[tokio::test]
async fn a_closed_account_refuses_transfers_but_its_holds_can_be_voided() {
    let f = chain().await;
    f.ledger
        .create_transfers(vec![
            posted(1, MERCHANT, MEMBER, 100),
            pending(2, MEMBER, STORE, 50, 0),
        ])
        .await
        .unwrap();
    assert_eq!(
        rejected(f.ledger.close_accounts(vec![AccountId(MEMBER)]).await),
        vec![(0, CloseError::HasPendingTransfers(AccountId(MEMBER)))]
    );
    f.ledger.create_transfers(vec![void(3, 2)]).await.unwrap();
    f.ledger
        .close_accounts(vec![AccountId(MEMBER)])
        .await
        .unwrap();
    assert!(f.ledger.account(AccountId(MEMBER)).unwrap().unwrap().closed);
    assert_eq!(
        rejected(
            f.ledger
                .create_transfers(vec![posted(4, MERCHANT, MEMBER, 1)])
                .await
        ),
        vec![(0, TransferError::CreditAccountClosed(AccountId(MEMBER)))]
    );
}

#[tokio::test]
async fn timestamps_strictly_increase_even_when_the_clock_stands_still_or_goes_back() {
    let f = chain().await;
    f.ledger
        .create_transfers((1..=5).map(|i| posted(i, MERCHANT, STORE, 1)).collect())
        .await
        .unwrap();
    f.clock.set_ns(START_NS - 1_000_000_000);
    f.ledger
        .create_transfers(vec![posted(6, MERCHANT, STORE, 1)])
        .await
        .unwrap();
    let page = f
        .ledger
        .account_transfers(AccountId(STORE), None, 100)
        .unwrap();
    let stamps: Vec<_> = page.transfers.iter().map(|t| t.timestamp).collect();
    assert_eq!(stamps.len(), 6);
    // History is newest first.
    assert!(stamps.windows(2).all(|w| w[0] > w[1]), "{stamps:?}");
}

#[tokio::test]
async fn an_accounts_history_pages_newest_first() {
    let f = chain().await;
    for i in 1..=25u128 {
        // The member's transfers interleave with the store's: each chain skips the other's.
        let (debit, credit) = if i % 3 == 0 {
            (MERCHANT, MEMBER)
        } else {
            (MERCHANT, STORE)
        };
        f.ledger
            .create_transfers(vec![posted(i, debit, credit, i)])
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut from = None;
    loop {
        let page = f
            .ledger
            .account_transfers(AccountId(STORE), from, 10)
            .unwrap();
        assert!(page.transfers.len() <= 10);
        seen.extend(page.transfers.iter().map(|t| t.id.0));
        match page.next {
            Some(next) => from = Some(next),
            None => break,
        }
    }
    let expected: Vec<u128> = (1..=25).rev().filter(|i| i % 3 != 0).collect();
    assert_eq!(seen, expected);
    let member = f.ledger.account(AccountId(MEMBER)).unwrap().unwrap();
    let newest = f.ledger.transfer(TransferId(24)).unwrap().unwrap();
    assert_eq!(member.last_transfer, Some(newest.timestamp));
    // A cursor that is not one of the account's transfers gives nothing, not someone else's.
    assert!(
        f.ledger
            .account_transfers(AccountId(STORE), Some(newest.timestamp), 10)
            .unwrap()
            .transfers
            .is_empty()
    );
    assert!(
        f.ledger
            .account_transfers(AccountId(STORE), Some(Timestamp(7)), 10)
            .unwrap()
            .transfers
            .is_empty()
    );
    let members: Vec<u128> = f
        .ledger
        .account_transfers(AccountId(MEMBER), None, 100)
        .unwrap()
        .transfers
        .iter()
        .map(|t| t.id.0)
        .collect();
    assert_eq!(members, vec![24, 21, 18, 15, 12, 9, 6, 3]);
}

#[tokio::test]
async fn everything_survives_a_restart() {
    let f = chain().await;
    f.ledger
        .create_transfers(vec![
            posted(1, MERCHANT, MEMBER, 1_000),
            pending(2, MEMBER, STORE, 10, 60),
        ])
        .await
        .unwrap();
    let before = balance(&f, MEMBER);
    let f = f.reopen();
    assert_eq!(balance(&f, MEMBER), before);
    // Idempotency holds across the restart, and timestamps keep increasing.
    let retry = f
        .ledger
        .create_transfers(vec![posted(1, MERCHANT, MEMBER, 1_000)])
        .await
        .unwrap();
    assert!(!retry[0].is_created());
    let next = f
        .ledger
        .create_transfers(vec![post(3, 2, None)])
        .await
        .unwrap();
    assert!(next[0].get().timestamp > retry[0].get().timestamp);
}

#[tokio::test]
async fn many_concurrent_retries_of_one_transfer_apply_it_once() {
    let f = chain().await;
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let ledger = f.ledger.clone();
        tasks.push(tokio::spawn(async move {
            ledger
                .create_transfers(vec![posted(7, MERCHANT, MEMBER, 100)])
                .await
        }));
    }
    let mut created = 0;
    let mut timestamps = std::collections::HashSet::new();
    for task in tasks {
        let applied = task.await.unwrap().unwrap();
        created += usize::from(applied[0].is_created());
        timestamps.insert(applied[0].get().timestamp);
    }
    assert_eq!(created, 1);
    assert_eq!(timestamps.len(), 1, "every retry sees the one original");
    assert_eq!(balance(&f, MEMBER).credits_posted, 100);
}

#[tokio::test]
async fn verify_catches_a_tampered_balance() {
    let f = chain().await;
    f.ledger
        .create_transfers(vec![posted(1, MERCHANT, MEMBER, 100)])
        .await
        .unwrap();
    let path = f.path();
    drop(f.ledger);
    assert_verifies(&path);
    tamper_account(&path, MEMBER, |bytes| {
        // credits_posted (little-endian) comes before the 8-byte history head: 100 → 101.
        let at = bytes.len() - 8 - 16;
        assert_eq!(bytes[at], 100);
        bytes[at] = 101;
    });
    let report = tongka_ledger::verify(&path).unwrap();
    assert!(
        report
            .violations
            .contains(&tongka_ledger::Violation::BalanceMismatch {
                account: AccountId(MEMBER)
            })
    );
    assert!(
        report
            .violations
            .iter()
            .any(|v| matches!(v, tongka_ledger::Violation::Unbalanced { .. }))
    );
}

#[tokio::test]
async fn verify_catches_a_broken_history_chain() {
    let f = chain().await;
    f.ledger
        .create_transfers(vec![
            posted(1, MERCHANT, MEMBER, 100),
            posted(2, MERCHANT, MEMBER, 5),
        ])
        .await
        .unwrap();
    let path = f.path();
    drop(f.ledger);
    assert_verifies(&path);
    // Point the member's history at its first transfer, skipping the second.
    let first = {
        let ledger = tongka_ledger::Ledger::open(&path, Default::default()).unwrap();
        ledger.transfer(TransferId(1)).unwrap().unwrap().timestamp
    };
    tamper_account(&path, MEMBER, |bytes| {
        let at = bytes.len() - 8;
        bytes[at..].copy_from_slice(&first.0.to_le_bytes());
    });
    let report = tongka_ledger::verify(&path).unwrap();
    assert!(
        report.violations.iter().any(|v| matches!(
            v,
            tongka_ledger::Violation::Dangling { what } if what.contains("history")
        )),
        "{:?}",
        report.violations
    );
}

/// Rewrites an account record behind the ledger's back, as disk corruption or a bug would.
fn tamper_account(path: &std::path::Path, id: u128, edit: impl FnOnce(&mut Vec<u8>)) {
    use redb::ReadableTable;
    const ACCOUNTS: redb::TableDefinition<u128, &[u8]> = redb::TableDefinition::new("accounts");
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(ACCOUNTS).unwrap();
        let mut bytes = table.get(id).unwrap().unwrap().value().to_vec();
        edit(&mut bytes);
        table.insert(id, bytes.as_slice()).unwrap();
    }
    txn.commit().unwrap();
}

fn credits_posted(ledger: &Ledger, id: u128) -> u128 {
    ledger
        .balance(AccountId(id))
        .unwrap()
        .unwrap()
        .credits_posted
}

/// The ledger in `dir` opened with the tests' options changed by `edit`.
fn open_with(
    dir: &std::path::Path,
    clock: &ManualClock,
    edit: impl FnOnce(&mut LedgerOptions),
) -> Ledger {
    let mut options = options(clock);
    edit(&mut options);
    Ledger::open(&dir.join("ledger.redb"), options).unwrap()
}

/// `chain`'s ledger closed and opened again with its options changed by `edit`.
async fn chain_with(edit: impl FnOnce(&mut LedgerOptions)) -> Fixture {
    let Fixture { dir, clock, ledger } = chain().await;
    drop(ledger);
    let ledger = open_with(dir.path(), &clock, edit);
    Fixture { dir, clock, ledger }
}

/// A checkpoint hook on `ledger` that counts its runs.
fn counting_hook(ledger: &Ledger) -> impl Fn() -> usize + use<> {
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    ledger.set_checkpoint_hook(Arc::new(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }));
    move || runs.load(std::sync::atomic::Ordering::SeqCst)
}

/// A ledger whose checkpoint hook always fails, as if the caller never made its records of the
/// notes durable: the log is never let go, as after a crash.
fn open_noted(dir: &std::path::Path, clock: &ManualClock) -> Ledger {
    let ledger = open_with(dir, clock, |o| o.checkpoint_interval_ms = 3_600_000);
    ledger.set_checkpoint_hook(Arc::new(|| Err("the records are not durable".into())));
    ledger
}

/// `amount` credited to the member under transfer `id`, with `note`: the till's noted batch.
async fn credit_noted(
    ledger: &Ledger,
    id: u128,
    amount: u128,
    note: &[u8],
) -> (
    Vec<Applied<tongka_ledger::Transfer>>,
    tongka_ledger::NoteGuard,
) {
    ledger
        .create_transfers_noted(vec![posted(id, MERCHANT, MEMBER, amount)], note.to_vec())
        .await
        .unwrap()
}

#[tokio::test]
async fn notes_whose_records_were_not_made_durable_are_handed_back_until_forgotten() {
    let f = chain().await;
    let Fixture { dir, clock, ledger } = f;
    drop(ledger);
    let ledger = open_noted(dir.path(), &clock);
    let (first, guard) = credit_noted(&ledger, 1, 1_000, b"order one").await;
    assert!(first[0].is_created() && guard.logged());
    drop(guard);
    let (_, second) = credit_noted(&ledger, 2, 500, b"order two").await;
    assert!(second.logged());
    // A retry writes nothing new: its note is not logged, and its caller must sync its record.
    let (retry, unlogged) = credit_noted(&ledger, 2, 500, b"order two").await;
    assert!(!retry[0].is_created() && !unlogged.logged());
    // A refused batch logs nothing.
    let refused = ledger
        .create_transfers_noted(
            vec![posted(3, MEMBER, STORE, 1_000_000)],
            b"refused".to_vec(),
        )
        .await;
    assert!(
        matches!(refused, Err(BatchError::Rejected { .. })),
        "{refused:?}"
    );
    drop((second, unlogged));
    // The final checkpoint's hook fails: the log keeps the notes.
    drop(ledger);

    for _ in 0..2 {
        // Handed back on every open until forgotten, with the money they were logged with.
        let ledger = open_noted(dir.path(), &clock);
        assert_eq!(
            ledger.replayed_notes().unwrap(),
            vec![b"order one".to_vec(), b"order two".to_vec()]
        );
        assert_eq!(credits_posted(&ledger, MEMBER), 1_500);
        drop(ledger);
    }
    let ledger = open_noted(dir.path(), &clock);
    ledger.forget_replayed_notes().unwrap();
    drop(ledger);
    let ledger = open_noted(dir.path(), &clock);
    assert!(ledger.replayed_notes().unwrap().is_empty());
    assert_eq!(credits_posted(&ledger, MEMBER), 1_500);
    drop(ledger);
    assert_verifies(&dir.path().join("ledger.redb"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_runs_the_hook_only_after_the_notes_guards_are_dropped() {
    // Every group starts a checkpoint.
    let Fixture { dir, ledger, .. } = chain_with(|o| o.checkpoint_interval_ms = 0).await;
    let record_written = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // What each run of the hook saw: whether the record was written by then.
    let runs = Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let (record_written, runs) = (Arc::clone(&record_written), Arc::clone(&runs));
        ledger.set_checkpoint_hook(Arc::new(move || {
            let written = record_written.load(std::sync::atomic::Ordering::SeqCst);
            runs.lock().unwrap().push(written);
            Ok(())
        }));
    }
    let (_, guard) = credit_noted(&ledger, 1, 1_000, b"order").await;
    assert!(guard.logged());
    // More groups, each wanting a checkpoint: the one covering the note waits for its guard.
    for id in 2..5 {
        ledger
            .create_transfers(vec![posted(id, MERCHANT, STORE, 1)])
            .await
            .unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        runs.lock().unwrap().is_empty(),
        "the hook ran while the note's guard was held"
    );
    record_written.store(true, std::sync::atomic::Ordering::SeqCst);
    drop(guard);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while runs.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let seen = runs.lock().unwrap().clone();
    assert!(
        !seen.is_empty() && seen.iter().all(|&written| written),
        "{seen:?}"
    );
    drop(ledger);
    assert_verifies(&dir.path().join("ledger.redb"));
}

/// The hook runs at checkpoints only: table commits (every group here) keep the log, and with it
/// the notes, so they need no sync of the caller's records.
#[tokio::test]
async fn table_commits_do_not_run_the_checkpoint_hook() {
    let Fixture {
        dir: _kept, ledger, ..
    } = chain_with(|o| {
        o.checkpoint_interval_ms = 3_600_000;
        o.table_commit_interval_ms = 0;
    })
    .await;
    let runs = counting_hook(&ledger);
    for id in 1..20 {
        let (_, guard) = credit_noted(&ledger, id, 1, b"order").await;
        assert!(guard.logged());
    }
    // The tables have had their commits; the applier is idle once this one is in.
    ledger
        .create_transfers(vec![posted(100, MERCHANT, STORE, 1)])
        .await
        .unwrap();
    assert_eq!(runs(), 0);
    // An empty batch logs nothing: its caller syncs its own record.
    let (none, guard) = ledger
        .create_transfers_noted(Vec::new(), b"x".to_vec())
        .await
        .unwrap();
    assert!(none.is_empty() && !guard.logged());
    // The last handle's final checkpoint runs it.
    drop(ledger);
    assert_eq!(runs(), 1);
}

/// An idle ledger makes no checkpoints (each one is a sync of the tables and a run of the hook):
/// only groups written since the last one call for another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_ledger_makes_no_checkpoints() {
    // A checkpoint is due at every chance, and the sweeper gives one every 5 ms.
    let Fixture {
        dir: _kept, ledger, ..
    } = chain_with(|o| {
        o.checkpoint_interval_ms = 0;
        o.expiry_sweep_interval_ms = Some(5);
    })
    .await;
    let count = counting_hook(&ledger);
    let (_, guard) = credit_noted(&ledger, 1, 1, b"order").await;
    drop(guard);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while count() == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let after_the_write = count();
    assert!(after_the_write >= 1, "the write's checkpoint never came");
    // Forty sweeps, nothing written.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        count(),
        after_the_write,
        "an idle ledger kept checkpointing"
    );
    drop(ledger);
}
