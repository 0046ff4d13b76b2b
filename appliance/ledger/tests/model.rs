//! The ledger against a reference model: random sequences of account creation, posted and pending
//! transfers, posts, voids, closes, clock jumps and restarts, with ids drawn from a small pool so
//! retries and reuse happen all the time. After every step the outcome (created, retried, or the
//! exact error of every failing item) and every balance must match the model; at the end
//! `verify` must find the file clean.
//!
//! The model is a second, deliberately plain implementation of the rules in `apply.rs`: maps and
//! integers, no storage, no batching tricks. proptest prints the minimal failing sequence.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use proptest::prelude::*;
use tongka_ledger::{
    AccountError, AccountFlags, AccountId, Applied, AssetId, Balance, BatchError, CloseError,
    Ledger, NewAccount, NewTransfer, PendingStatus, TransferError, TransferId, TransferKind,
    UserData,
};

const NS: u64 = 1_000_000_000;

/// What the generated cases exercised, summed over all cases: the test fails if a kind of event
/// never happened, so the generator cannot quietly stop covering it.
#[derive(Debug, Default)]
struct Coverage {
    batches_applied: AtomicUsize,
    batches_rejected: AtomicUsize,
    retries: AtomicUsize,
    holds: AtomicUsize,
    posts: AtomicUsize,
    voids: AtomicUsize,
    expiries: AtomicUsize,
    closes: AtomicUsize,
    reopens: AtomicUsize,
}

static COVERAGE: Coverage = Coverage {
    batches_applied: AtomicUsize::new(0),
    batches_rejected: AtomicUsize::new(0),
    retries: AtomicUsize::new(0),
    holds: AtomicUsize::new(0),
    posts: AtomicUsize::new(0),
    voids: AtomicUsize::new(0),
    expiries: AtomicUsize::new(0),
    closes: AtomicUsize::new(0),
    reopens: AtomicUsize::new(0),
};

fn count(counter: &AtomicUsize, n: usize) {
    counter.fetch_add(n, Ordering::Relaxed);
}

fn account_id() -> impl Strategy<Value = u128> {
    prop_oneof![1 => Just(0u128), 30 => 1u128..=8]
}

/// Every case starts with these, so most transfers meet accounts that exist: CNY accounts 1-4
/// (1 and 2 may not go negative, 3 may not go positive), POINTS accounts 5 and 6 (5 may not go
/// negative), and CNY account 7 for closing. 8 is left for the case to create.
fn chart_of_accounts() -> Vec<NewAccount> {
    let account = |id: u128, asset: u32, flags: AccountFlags| NewAccount {
        id: AccountId(id),
        asset: AssetId(asset),
        owner: id,
        code: 1,
        flags,
    };
    vec![
        account(1, 1, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
        account(2, 1, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
        account(3, 1, AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS),
        account(4, 1, AccountFlags::NONE),
        account(5, 2, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS),
        account(6, 2, AccountFlags::NONE),
        account(7, 1, AccountFlags::NONE),
    ]
}

fn amount() -> impl Strategy<Value = u128> {
    prop_oneof![1 => Just(0u128), 30 => 1u128..=500, 1 => Just(1u128 << 127)]
}

/// Mostly pairs that can work (same asset, two accounts; 3 and 4 can always pay), some that
/// cannot.
fn account_pair() -> impl Strategy<Value = (u128, u128)> {
    let distinct = |(d, c): (u128, u128)| if d == c { (d, d % 4 + 1) } else { (d, c) };
    prop_oneof![
        6 => (3u128..=4, 1u128..=4).prop_map(distinct),
        4 => (1u128..=4, 1u128..=4).prop_map(distinct),
        2 => Just((6u128, 5u128)),
        1 => Just((5u128, 6u128)),
        2 => (account_id(), account_id()),
    ]
}

fn new_account() -> impl Strategy<Value = NewAccount> {
    (account_id(), 1u32..=3, 0u8..4).prop_map(|(id, asset, flags)| NewAccount {
        id: AccountId(id),
        asset: AssetId(asset),
        owner: id,
        code: 1,
        flags: AccountFlags {
            debits_must_not_exceed_credits: flags & 1 != 0,
            credits_must_not_exceed_debits: flags & 2 != 0,
        },
    })
}

/// A transfer id, chosen against the state when the step runs.
#[derive(Clone, Copy, Debug)]
enum IdChoice {
    Fresh,
    /// The n-th existing transfer id (mod their number): a collision, retry or reuse.
    Existing(usize),
    Reserved(u128),
}

/// What a post or void refers to, chosen against the state when the step runs.
#[derive(Clone, Copy, Debug)]
enum Target {
    /// The n-th open hold (mod their number), if any.
    OpenHold(usize),
    /// The n-th transfer of any kind or state.
    Any(usize),
    Missing,
}

#[derive(Clone, Copy, Debug)]
enum KindSpec {
    Posted((u128, u128), u128),
    Pending((u128, u128), u128, u32),
    /// Post the target: in full, or this many percent of it (0 and over 100 included).
    Post(Target, Option<u32>),
    Void(Target),
}

#[derive(Clone, Copy, Debug)]
struct TransferSpec {
    id: IdChoice,
    kind: KindSpec,
    code: u16,
}

fn id_choice() -> impl Strategy<Value = IdChoice> {
    prop_oneof![
        40 => Just(IdChoice::Fresh),
        2 => any::<usize>().prop_map(IdChoice::Existing),
        1 => prop_oneof![Just(0u128), Just(u128::MAX)].prop_map(IdChoice::Reserved),
    ]
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        12 => any::<usize>().prop_map(Target::OpenHold),
        1 => any::<usize>().prop_map(Target::Any),
        1 => Just(Target::Missing),
    ]
}

fn percent() -> impl Strategy<Value = u32> {
    prop_oneof![5 => 1u32..=100, 1 => Just(0u32), 1 => Just(150u32)]
}

fn transfer_spec() -> impl Strategy<Value = TransferSpec> {
    let kind = prop_oneof![
        3 => (account_pair(), amount()).prop_map(|(pair, amount)| KindSpec::Posted(pair, amount)),
        3 => (account_pair(), amount(), 0u32..=3)
            .prop_map(|(pair, amount, timeout)| KindSpec::Pending(pair, amount, timeout)),
        3 => (target(), proptest::option::of(percent()))
            .prop_map(|(target, percent)| KindSpec::Post(target, percent)),
        1 => target().prop_map(KindSpec::Void),
    ];
    (id_choice(), kind, 1u16..=2).prop_map(|(id, kind, code)| TransferSpec { id, kind, code })
}

#[derive(Clone, Debug)]
enum Op {
    Accounts(Vec<NewAccount>),
    Transfers(Vec<TransferSpec>),
    /// Resubmit the n-th batch that was applied, as it was: every item must come back `Exists`.
    Retry(usize),
    Close(Vec<AccountId>),
    AdvanceSecs(u64),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => proptest::collection::vec(new_account(), 1..3).prop_map(Op::Accounts),
        16 => proptest::collection::vec(transfer_spec(), 1..4).prop_map(Op::Transfers),
        2 => any::<usize>().prop_map(Op::Retry),
        1 => proptest::collection::vec(
            prop_oneof![3 => 7u128..=8, 1 => account_id()].prop_map(AccountId),
            1..3
        )
        .prop_map(Op::Close),
        3 => (0u64..=3).prop_map(Op::AdvanceSecs),
        1 => Just(Op::Reopen),
    ]
}

#[derive(Clone, Debug)]
struct ModelAccount {
    new: NewAccount,
    closed: bool,
    balance: Balance,
}

#[derive(Clone, Debug)]
struct ModelTransfer {
    new: NewTransfer,
    debit: AccountId,
    credit: AccountId,
    amount: u128,
    timestamp: u64,
}

#[derive(Clone, Debug, Default)]
struct Model {
    accounts: BTreeMap<u128, ModelAccount>,
    transfers: HashMap<u128, ModelTransfer>,
    statuses: HashMap<u128, PendingStatus>,
    last_ts: u64,
    now: u64,
}

/// What the model expects of a batch: each item created or retried, or the failing items.
#[derive(Debug, PartialEq, Eq)]
enum Expected<E> {
    Applied(Vec<bool>),
    Rejected(Vec<(usize, E)>),
}

fn within_limits(b: &Balance, flags: AccountFlags) -> bool {
    b.within_limits(flags)
}

impl Model {
    /// Turns symbolic choices into a concrete batch against the current state.
    fn resolve(&self, specs: &[TransferSpec]) -> Vec<NewTransfer> {
        let mut ids: Vec<u128> = self.transfers.keys().copied().collect();
        ids.sort_unstable();
        let mut open: Vec<u128> = self
            .statuses
            .iter()
            .filter(|(_, s)| **s == PendingStatus::Pending)
            .map(|(id, _)| *id)
            .collect();
        open.sort_unstable();
        let mut fresh = ids.last().copied().unwrap_or(0);
        let pick = |pool: &[u128], n: usize| (!pool.is_empty()).then(|| pool[n % pool.len()]);
        let target = |t: Target| match t {
            Target::OpenHold(n) => pick(&open, n),
            Target::Any(n) => Some(pick(&ids, n).unwrap_or(999_999)),
            Target::Missing => Some(999_999),
        };
        // With no hold open to post or void, the step makes one instead.
        let new_hold = TransferKind::Pending {
            debit: AccountId(4),
            credit: AccountId(1),
            amount: 10,
            timeout_secs: 2,
        };
        specs
            .iter()
            .map(|spec| {
                let id = match spec.id {
                    IdChoice::Existing(n) if !ids.is_empty() => pick(&ids, n).unwrap_or(0),
                    IdChoice::Reserved(id) => id,
                    _ => {
                        fresh += 1;
                        fresh
                    }
                };
                let kind = match spec.kind {
                    KindSpec::Posted((d, c), amount) => TransferKind::Posted {
                        debit: AccountId(d),
                        credit: AccountId(c),
                        amount,
                    },
                    KindSpec::Pending((d, c), amount, timeout_secs) => TransferKind::Pending {
                        debit: AccountId(d),
                        credit: AccountId(c),
                        amount,
                        timeout_secs,
                    },
                    KindSpec::Post(t, percent) => match target(t) {
                        Some(pending_id) => {
                            let held = self.transfers.get(&pending_id).map_or(100, |p| p.amount);
                            TransferKind::PostPending {
                                pending_id: TransferId(pending_id),
                                amount: percent.map(|p| held.saturating_mul(u128::from(p)) / 100),
                            }
                        }
                        None => new_hold,
                    },
                    KindSpec::Void(t) => match target(t) {
                        Some(pending_id) => TransferKind::VoidPending {
                            pending_id: TransferId(pending_id),
                        },
                        None => new_hold,
                    },
                };
                NewTransfer {
                    id: TransferId(id),
                    kind,
                    code: spec.code,
                    user_data: UserData::default(),
                }
            })
            .collect()
    }

    fn candidate_ts(&self, last: u64) -> u64 {
        self.now.max(last + 1)
    }

    fn expires_at(t: &ModelTransfer) -> Option<u64> {
        match t.new.kind {
            TransferKind::Pending { timeout_secs, .. } if timeout_secs > 0 => {
                Some(t.timestamp + u64::from(timeout_secs) * NS)
            }
            _ => None,
        }
    }

    /// Every group starts by expiring due holds, in (expiry, id) order.
    fn sweep(&mut self) {
        let boundary = self.candidate_ts(self.last_ts);
        let mut due: Vec<(u64, u128)> = self
            .statuses
            .iter()
            .filter(|(_, s)| **s == PendingStatus::Pending)
            .filter_map(|(id, _)| {
                let t = &self.transfers[id];
                Self::expires_at(t)
                    .filter(|at| *at <= boundary)
                    .map(|at| (at, *id))
            })
            .collect();
        due.sort_unstable();
        count(&COVERAGE.expiries, due.len());
        for (_, id) in due {
            let t = self.transfers[&id].clone();
            self.accounts
                .get_mut(&t.debit.0)
                .unwrap()
                .balance
                .debits_pending -= t.amount;
            self.accounts
                .get_mut(&t.credit.0)
                .unwrap()
                .balance
                .credits_pending -= t.amount;
            self.statuses.insert(id, PendingStatus::Expired);
            self.last_ts = self.candidate_ts(self.last_ts);
        }
    }

    /// Applies a batch the ledger's way: every item against the state left by the ones before,
    /// and all of it kept only if no item failed.
    fn batch<I, E: std::fmt::Debug>(
        &mut self,
        batch: &[I],
        item: fn(&mut Model, &I) -> Result<bool, E>,
    ) -> Expected<E> {
        let mut next = self.clone();
        let mut created = Vec::new();
        let mut errors = Vec::new();
        for (i, new) in batch.iter().enumerate() {
            match item(&mut next, new) {
                Ok(c) => created.push(c),
                Err(e) => errors.push((i, e)),
            }
        }
        self.finish(next, created, errors)
    }

    fn account(&mut self, new: &NewAccount) -> Result<bool, AccountError> {
        if new.id.0 == 0 || new.id.0 == u128::MAX {
            return Err(AccountError::IdReserved);
        }
        if let Some(existing) = self.accounts.get(&new.id.0) {
            return if existing.new == *new {
                Ok(false)
            } else {
                Err(AccountError::IdReused(new.id))
            };
        }
        if new.flags.debits_must_not_exceed_credits && new.flags.credits_must_not_exceed_debits {
            return Err(AccountError::FlagsMutuallyExclusive);
        }
        if new.asset.0 > 2 {
            return Err(AccountError::AssetNotFound(new.asset));
        }
        self.last_ts = self.candidate_ts(self.last_ts);
        self.accounts.insert(
            new.id.0,
            ModelAccount {
                new: new.clone(),
                closed: false,
                balance: Balance::default(),
            },
        );
        Ok(true)
    }

    fn close(&mut self, id: &AccountId) -> Result<bool, CloseError> {
        match self.accounts.get_mut(&id.0) {
            None => Err(CloseError::AccountNotFound(*id)),
            Some(a) if a.closed => Ok(false),
            Some(a) if a.balance.debits_pending != 0 || a.balance.credits_pending != 0 => {
                Err(CloseError::HasPendingTransfers(*id))
            }
            Some(a) => {
                a.closed = true;
                Ok(true)
            }
        }
    }

    fn finish<E>(
        &mut self,
        next: Model,
        created: Vec<bool>,
        errors: Vec<(usize, E)>,
    ) -> Expected<E> {
        if errors.is_empty() {
            count(&COVERAGE.batches_applied, 1);
            count(&COVERAGE.retries, created.iter().filter(|c| !**c).count());
            let new_of_kind = |kind: fn(&TransferKind) -> bool| {
                next.transfers
                    .values()
                    .filter(|t| kind(&t.new.kind))
                    .count()
                    - self
                        .transfers
                        .values()
                        .filter(|t| kind(&t.new.kind))
                        .count()
            };
            count(
                &COVERAGE.holds,
                new_of_kind(|k| matches!(k, TransferKind::Pending { .. })),
            );
            count(
                &COVERAGE.posts,
                new_of_kind(|k| matches!(k, TransferKind::PostPending { .. })),
            );
            count(
                &COVERAGE.voids,
                new_of_kind(|k| matches!(k, TransferKind::VoidPending { .. })),
            );
            let closed = |m: &Model| m.accounts.values().filter(|a| a.closed).count();
            count(&COVERAGE.closes, closed(&next) - closed(self));
            *self = next;
            Expected::Applied(created)
        } else {
            count(&COVERAGE.batches_rejected, 1);
            Expected::Rejected(errors)
        }
    }

    fn transfer(&mut self, new: &NewTransfer) -> Result<bool, TransferError> {
        if new.id.0 == 0 || new.id.0 == u128::MAX {
            return Err(TransferError::IdReserved);
        }
        if let Some(existing) = self.transfers.get(&new.id.0) {
            return if existing.new == *new {
                Ok(false)
            } else {
                Err(TransferError::IdReused(new.id))
            };
        }
        let (debit, credit, amount) = match new.kind {
            TransferKind::Posted {
                debit,
                credit,
                amount,
            }
            | TransferKind::Pending {
                debit,
                credit,
                amount,
                ..
            } => {
                let pending = matches!(new.kind, TransferKind::Pending { .. });
                if amount == 0 {
                    return Err(TransferError::AmountZero);
                }
                if debit == credit {
                    return Err(TransferError::AccountsMustBeDifferent);
                }
                let d = self
                    .accounts
                    .get(&debit.0)
                    .ok_or(TransferError::DebitAccountNotFound(debit))?
                    .clone();
                let c = self
                    .accounts
                    .get(&credit.0)
                    .ok_or(TransferError::CreditAccountNotFound(credit))?
                    .clone();
                if d.new.asset != c.new.asset {
                    return Err(TransferError::AssetMismatch {
                        debit: d.new.asset,
                        credit: c.new.asset,
                    });
                }
                if d.closed {
                    return Err(TransferError::DebitAccountClosed(debit));
                }
                if c.closed {
                    return Err(TransferError::CreditAccountClosed(credit));
                }
                let available = d.balance.available_to_debit();
                let (mut db, mut cb) = (d.balance, c.balance);
                let (dslot, cslot) = if pending {
                    (&mut db.debits_pending, &mut cb.credits_pending)
                } else {
                    (&mut db.debits_posted, &mut cb.credits_posted)
                };
                *dslot = dslot
                    .checked_add(amount)
                    .ok_or(TransferError::Overflow(debit))?;
                *cslot = cslot
                    .checked_add(amount)
                    .ok_or(TransferError::Overflow(credit))?;
                for (id, b, flags) in [(debit, &db, d.new.flags), (credit, &cb, c.new.flags)] {
                    if b.debits_posted.checked_add(b.debits_pending).is_none()
                        || b.credits_posted.checked_add(b.credits_pending).is_none()
                    {
                        return Err(TransferError::Overflow(id));
                    }
                    if !within_limits(b, flags) {
                        return Err(if flags.debits_must_not_exceed_credits {
                            TransferError::ExceedsCredits {
                                account: id,
                                available,
                            }
                        } else {
                            TransferError::ExceedsDebits { account: id }
                        });
                    }
                }
                self.accounts.get_mut(&debit.0).unwrap().balance = db;
                self.accounts.get_mut(&credit.0).unwrap().balance = cb;
                if pending {
                    self.statuses.insert(new.id.0, PendingStatus::Pending);
                }
                (debit, credit, amount)
            }
            TransferKind::PostPending { pending_id, .. }
            | TransferKind::VoidPending { pending_id } => {
                let post = match new.kind {
                    TransferKind::PostPending { amount, .. } => Some(amount),
                    _ => None,
                };
                let p = self
                    .transfers
                    .get(&pending_id.0)
                    .ok_or(TransferError::PendingTransferNotFound(pending_id))?
                    .clone();
                if !matches!(p.new.kind, TransferKind::Pending { .. }) {
                    return Err(TransferError::PendingTransferNotPending(pending_id));
                }
                match self.statuses[&pending_id.0] {
                    PendingStatus::Pending => {}
                    PendingStatus::Posted => {
                        return Err(TransferError::PendingTransferAlreadyPosted(pending_id));
                    }
                    PendingStatus::Voided => {
                        return Err(TransferError::PendingTransferAlreadyVoided(pending_id));
                    }
                    PendingStatus::Expired => {
                        return Err(TransferError::PendingTransferExpired(pending_id));
                    }
                }
                let amount = match post {
                    Some(Some(0)) => return Err(TransferError::AmountZero),
                    Some(Some(x)) if x > p.amount => {
                        return Err(TransferError::AmountExceedsPending {
                            requested: x,
                            pending: p.amount,
                        });
                    }
                    Some(Some(x)) => x,
                    _ => p.amount,
                };
                if post.is_some() {
                    if self.accounts[&p.debit.0].closed {
                        return Err(TransferError::DebitAccountClosed(p.debit));
                    }
                    if self.accounts[&p.credit.0].closed {
                        return Err(TransferError::CreditAccountClosed(p.credit));
                    }
                }
                if Self::expires_at(&p).is_some_and(|at| self.candidate_ts(self.last_ts) >= at) {
                    return Err(TransferError::PendingTransferExpired(pending_id));
                }
                let d = &mut self.accounts.get_mut(&p.debit.0).unwrap().balance;
                d.debits_pending -= p.amount;
                if post.is_some() {
                    d.debits_posted += amount;
                }
                let c = &mut self.accounts.get_mut(&p.credit.0).unwrap().balance;
                c.credits_pending -= p.amount;
                if post.is_some() {
                    c.credits_posted += amount;
                }
                let status = if post.is_some() {
                    PendingStatus::Posted
                } else {
                    PendingStatus::Voided
                };
                self.statuses.insert(pending_id.0, status);
                (p.debit, p.credit, amount)
            }
        };
        self.last_ts = self.candidate_ts(self.last_ts);
        self.transfers.insert(
            new.id.0,
            ModelTransfer {
                new: *new,
                debit,
                credit,
                amount,
                timestamp: self.last_ts,
            },
        );
        Ok(true)
    }
}

fn outcome<T, E: std::error::Error>(result: Result<Vec<Applied<T>>, BatchError<E>>) -> Expected<E> {
    match result {
        Ok(applied) => Expected::Applied(applied.iter().map(Applied::is_created).collect()),
        Err(BatchError::Rejected { errors }) => Expected::Rejected(errors),
        Err(other) => panic!("ledger failed: {other}"),
    }
}

fn check_state(ledger: &Ledger, model: &Model) -> Result<(), TestCaseError> {
    for (id, expected) in &model.accounts {
        let account = ledger.account(AccountId(*id)).unwrap().unwrap();
        prop_assert_eq!(account.balance, expected.balance, "account {}", id);
        prop_assert_eq!(account.closed, expected.closed, "account {} closed", id);
    }
    // The same accounts read at once, with one the ledger never had.
    let mut ids: Vec<AccountId> = model.accounts.keys().map(|id| AccountId(*id)).collect();
    let never = (1..).find(|id| !model.accounts.contains_key(id)).unwrap();
    ids.push(AccountId(never));
    let together = ledger.accounts(&ids).unwrap();
    prop_assert_eq!(together.len(), ids.len());
    for (id, account) in ids.iter().zip(&together) {
        match (account, model.accounts.get(&id.0)) {
            (Some(account), Some(expected)) => {
                prop_assert_eq!(account.id, *id);
                prop_assert_eq!(
                    account.balance,
                    expected.balance,
                    "account {} read at once",
                    id.0
                );
            }
            (None, None) => {}
            (found, expected) => prop_assert!(
                false,
                "account {}: {:?} against {:?}",
                id.0,
                found.is_some(),
                expected.is_some()
            ),
        }
    }
    for (id, status) in &model.statuses {
        prop_assert_eq!(
            ledger.pending_status(TransferId(*id)).unwrap(),
            Some(*status),
            "pending {}",
            id
        );
    }
    for (id, t) in &model.transfers {
        let stored = ledger.transfer(TransferId(*id)).unwrap().unwrap();
        prop_assert_eq!(stored.timestamp.0, t.timestamp, "transfer {} timestamp", id);
        prop_assert_eq!(
            (stored.debit, stored.credit, stored.amount),
            (t.debit, t.credit, t.amount)
        );
    }
    // Each account's history, paged in threes: what the model says, newest first.
    for id in model.accounts.keys() {
        let mut expected: Vec<(u64, u128)> = model
            .transfers
            .iter()
            .filter(|(_, t)| t.debit.0 == *id || t.credit.0 == *id)
            .map(|(tid, t)| (t.timestamp, *tid))
            .collect();
        expected.sort_unstable_by(|a, b| b.cmp(a));
        let mut seen = Vec::new();
        let mut from = None;
        loop {
            let page = ledger.account_transfers(AccountId(*id), from, 3).unwrap();
            prop_assert!(page.transfers.len() <= 3);
            seen.extend(page.transfers.iter().map(|t| (t.timestamp.0, t.id.0)));
            match page.next {
                Some(next) => from = Some(next),
                None => break,
            }
        }
        prop_assert_eq!(seen, expected, "history of account {}", id);
    }
    Ok(())
}

/// How often the writer commits to redb: every group (reads come from redb), never until a
/// checkpoint (reads come from the memtable), or on a small memtable (both, mixed).
#[derive(Clone, Copy, Debug)]
enum Cadence {
    CheckpointEveryGroup,
    TableCommitEveryGroup,
    MemtableOnly,
    SmallMemtable,
}

fn cadence() -> impl Strategy<Value = Cadence> {
    prop_oneof![
        Just(Cadence::CheckpointEveryGroup),
        Just(Cadence::TableCommitEveryGroup),
        Just(Cadence::MemtableOnly),
        Just(Cadence::SmallMemtable),
    ]
}

fn run(ops: Vec<Op>, cadence: Cadence) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let mut f = fixture().await;
        let mut options = options(&f.clock);
        // Four records: the log fills every few groups, so the full-log checkpoint runs often.
        options.wal_bytes_max = 16 * 1024;
        options.checkpoint_interval_ms = 3_600_000;
        options.table_commit_interval_ms = 3_600_000;
        match cadence {
            Cadence::CheckpointEveryGroup => options.checkpoint_interval_ms = 0,
            Cadence::TableCommitEveryGroup => options.table_commit_interval_ms = 0,
            Cadence::MemtableOnly => {}
            Cadence::SmallMemtable => options.memtable_items_max = 8,
        }
        let path = f.path();
        drop(f.ledger);
        f.ledger = Ledger::open(&path, options.clone()).unwrap();
        let mut model = Model {
            now: START_NS,
            ..Model::default()
        };
        let mut applied: Vec<Vec<NewTransfer>> = Vec::new();
        let chart = chart_of_accounts();
        prop_assert_eq!(
            model.batch(&chart, Model::account),
            Expected::Applied(vec![true; chart.len()])
        );
        f.ledger.create_accounts(chart).await.unwrap();
        for op in ops {
            match op {
                Op::Accounts(batch) => {
                    model.sweep();
                    let expected = model.batch(&batch, Model::account);
                    prop_assert_eq!(outcome(f.ledger.create_accounts(batch).await), expected);
                }
                Op::Transfers(specs) => {
                    model.sweep();
                    let batch = model.resolve(&specs);
                    let expected = model.batch(&batch, Model::transfer);
                    if matches!(expected, Expected::Applied(_)) {
                        applied.push(batch.clone());
                    }
                    prop_assert_eq!(outcome(f.ledger.create_transfers(batch).await), expected);
                }
                Op::Retry(n) => {
                    if applied.is_empty() {
                        continue;
                    }
                    let batch = applied[n % applied.len()].clone();
                    model.sweep();
                    let expected = model.batch(&batch, Model::transfer);
                    prop_assert_eq!(&expected, &Expected::Applied(vec![false; batch.len()]));
                    prop_assert_eq!(outcome(f.ledger.create_transfers(batch).await), expected);
                }
                Op::Close(batch) => {
                    model.sweep();
                    let expected = model.batch(&batch, Model::close);
                    prop_assert_eq!(outcome(f.ledger.close_accounts(batch).await), expected);
                }
                Op::AdvanceSecs(secs) => {
                    f.clock.advance_secs(secs);
                    model.now += secs * NS;
                }
                Op::Reopen => {
                    count(&COVERAGE.reopens, 1);
                    drop(f.ledger);
                    f.ledger = Ledger::open(&path, options.clone()).unwrap();
                }
            }
            check_state(&f.ledger, &model)?;
        }
        drop(f.ledger);
        let report = tongka_ledger::verify(&path).unwrap();
        prop_assert!(report.is_clean(), "verify: {:?}", report.violations);
        prop_assert_eq!(report.transfers, model.transfers.len() as u64);
        Ok(())
    })
}

#[test]
fn the_ledger_behaves_like_its_model() {
    let config = ProptestConfig {
        cases: 128,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let strategy = (proptest::collection::vec(op(), 1..40), cadence());
    if let Err(failure) = runner.run(&strategy, |(ops, cadence)| run(ops, cadence)) {
        panic!("{failure}");
    }
    eprintln!("coverage: {COVERAGE:?}");
    for (what, counter) in [
        ("applied batches", &COVERAGE.batches_applied),
        ("rejected batches", &COVERAGE.batches_rejected),
        ("retries", &COVERAGE.retries),
        ("holds", &COVERAGE.holds),
        ("posts", &COVERAGE.posts),
        ("voids", &COVERAGE.voids),
        ("expiries", &COVERAGE.expiries),
        ("closes", &COVERAGE.closes),
        ("reopens", &COVERAGE.reopens),
    ] {
        assert!(
            counter.load(Ordering::Relaxed) >= 10,
            "the cases exercised too few {what}: {COVERAGE:?}"
        );
    }
}
