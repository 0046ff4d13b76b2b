//! `verify`: rebuilds every balance from the journal and checks the ledger's invariants. It reads
//! the file on its own (read-only), trusting nothing the writer keeps in memory.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use crate::codec::{self, JournalEntry};
use crate::error::LedgerError;
use crate::store;
use crate::types::{
    AccountId, Asset, AssetId, Balance, PendingStatus, Timestamp, TransferId, TransferKind,
};

/// A broken invariant. Any one means the file must not be trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Violation {
    /// For an asset, the sum of all debits differs from the sum of all credits.
    Unbalanced { asset: AssetId, pending: bool },
    /// A stored balance differs from the one rebuilt from the journal.
    BalanceMismatch { account: AccountId },
    /// An account is past the limit its flags set.
    OverLimit { account: AccountId },
    /// A journal entry's timestamp differs from its record's, or does not increase.
    Timestamp { at: u64 },
    /// A journal entry, record or index entry names something that does not exist or is in the
    /// wrong state.
    Dangling { what: String },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Unbalanced { asset, pending } => write!(
                f,
                "asset {asset}: {} debits and credits do not sum to zero",
                if *pending { "pending" } else { "posted" }
            ),
            Violation::BalanceMismatch { account } => write!(
                f,
                "account {account}: stored balance differs from the journal's"
            ),
            Violation::OverLimit { account } => {
                write!(f, "account {account}: balance past the limit its flags set")
            }
            Violation::Timestamp { at } => write!(f, "timestamp {at}: out of order or mismatched"),
            Violation::Dangling { what } => write!(f, "{what}"),
        }
    }
}

/// Totals of one asset over all accounts, exact whatever their size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AssetTotals {
    pub debits_posted: WideSum,
    pub credits_posted: WideSum,
    pub debits_pending: WideSum,
    pub credits_pending: WideSum,
}

/// A 256-bit running sum of `u128`s: a ledger's totals can exceed one `u128`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WideSum {
    high: u128,
    low: u128,
}

impl WideSum {
    /// The sum, if it fits a `u128`.
    pub fn as_u128(&self) -> Option<u128> {
        (self.high == 0).then_some(self.low)
    }

    fn add(&mut self, value: u128) {
        let (low, carry) = self.low.overflowing_add(value);
        self.low = low;
        self.high += u128::from(carry);
    }
}

#[derive(Clone, Debug, Default)]
pub struct VerifyReport {
    pub assets: Vec<Asset>,
    pub totals: BTreeMap<AssetId, AssetTotals>,
    pub accounts: u64,
    pub transfers: u64,
    pub pending_open: u64,
    pub journal_entries: u64,
    pub violations: Vec<Violation>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

struct Replay {
    balances: HashMap<u128, (AssetId, Balance)>,
    statuses: HashMap<u128, PendingStatus>,
    violations: Vec<Violation>,
}

impl Replay {
    fn dangling(&mut self, what: String) {
        self.violations.push(Violation::Dangling { what });
    }

    fn balance(&mut self, id: AccountId, asset: AssetId) -> Option<&mut Balance> {
        match self.balances.get_mut(&id.0) {
            Some((account_asset, balance)) if *account_asset == asset => Some(balance),
            Some(_) => {
                self.violations.push(Violation::Dangling {
                    what: format!(
                        "a transfer of asset {asset} touches account {id} of another asset"
                    ),
                });
                None
            }
            None => {
                self.violations.push(Violation::Dangling {
                    what: format!("a transfer touches account {id} before it was created"),
                });
                None
            }
        }
    }

    /// Applies `f` to both accounts' balances; an arithmetic failure is a violation.
    fn apply(
        &mut self,
        debit: AccountId,
        credit: AccountId,
        asset: AssetId,
        f: impl Fn(&mut Balance, bool) -> Option<()>,
    ) {
        for (id, is_debit) in [(debit, true), (credit, false)] {
            if let Some(balance) = self.balance(id, asset)
                && f(balance, is_debit).is_none()
            {
                self.violations
                    .push(Violation::BalanceMismatch { account: id });
            }
        }
    }
}

fn add(target: &mut u128, amount: u128) -> Option<()> {
    *target = target.checked_add(amount)?;
    Some(())
}

fn sub(target: &mut u128, amount: u128) -> Option<()> {
    *target = target.checked_sub(amount)?;
    Some(())
}

/// Rebuilds every balance from the journal of the ledger file at `path` and checks the invariants.
/// Opens the file read-only; fails with [`LedgerError::InUse`] while a box has it open.
pub fn verify(path: &Path) -> Result<VerifyReport, LedgerError> {
    if !path.exists() {
        return Err(LedgerError::Corrupt(format!(
            "no ledger file at {}",
            path.display()
        )));
    }
    let db = redb::ReadOnlyDatabase::open(path)?;
    store::check_schema(&db)?;
    let txn = db.begin_read()?;
    let assets_table = txn.open_table(store::ASSETS)?;
    let accounts_table = txn.open_table(store::ACCOUNTS)?;
    let transfers_table = txn.open_table(store::TRANSFERS)?;
    let status_table = txn.open_table(store::PENDING_STATUS)?;
    let journal_table = txn.open_table(store::JOURNAL)?;
    let meta_table = txn.open_table(store::META)?;

    let mut report = VerifyReport::default();
    for entry in assets_table.iter()? {
        let (id, bytes) = entry?;
        report
            .assets
            .push(codec::decode_asset(id.value(), bytes.value())?);
    }
    let mut replay = Replay {
        balances: HashMap::new(),
        statuses: HashMap::new(),
        violations: Vec::new(),
    };

    let mut previous: Option<u64> = None;
    let mut journaled_transfers = 0u64;
    // Each account's newest transfer so far: what the next one must link back to.
    let mut history_heads: HashMap<u128, Timestamp> = HashMap::new();
    for entry in journal_table.iter()? {
        let (key, value) = entry?;
        let at = key.value();
        report.journal_entries += 1;
        if previous.is_some_and(|p| p >= at) {
            replay.violations.push(Violation::Timestamp { at });
        }
        previous = Some(at);
        match codec::decode_journal(value.value())? {
            JournalEntry::AccountCreated(id) => {
                let Some(bytes) = accounts_table.get(id.0)? else {
                    replay.dangling(format!("journal names missing account {id}"));
                    continue;
                };
                let account = codec::decode_account(id.0, bytes.value())?;
                if account.timestamp.0 != at {
                    replay.violations.push(Violation::Timestamp { at });
                }
                if !report.assets.iter().any(|a| a.id == account.asset) {
                    replay.dangling(format!("account {id} has unknown asset {}", account.asset));
                }
                replay
                    .balances
                    .insert(id.0, (account.asset, Balance::default()));
            }
            JournalEntry::TransferCreated {
                id,
                debit_previous,
                credit_previous,
            } => {
                journaled_transfers += 1;
                let Some(bytes) = transfers_table.get(id.0)? else {
                    replay.dangling(format!("journal names missing transfer {id}"));
                    continue;
                };
                let transfer = codec::decode_transfer(id.0, bytes.value())?;
                if transfer.timestamp.0 != at {
                    replay.violations.push(Violation::Timestamp { at });
                }
                for (account, link) in [
                    (transfer.debit, debit_previous),
                    (transfer.credit, credit_previous),
                ] {
                    let head = history_heads.insert(account.0, transfer.timestamp);
                    if head != link {
                        replay.dangling(format!(
                            "transfer {id} breaks account {account}'s history chain"
                        ));
                    }
                }
                let amount = transfer.amount;
                let (debit, credit, asset) = (transfer.debit, transfer.credit, transfer.asset);
                match transfer.kind {
                    TransferKind::Posted { .. } => {
                        replay.apply(debit, credit, asset, |b, is_debit| {
                            add(
                                if is_debit {
                                    &mut b.debits_posted
                                } else {
                                    &mut b.credits_posted
                                },
                                amount,
                            )
                        });
                    }
                    TransferKind::Pending { .. } => {
                        replay.apply(debit, credit, asset, |b, is_debit| {
                            add(
                                if is_debit {
                                    &mut b.debits_pending
                                } else {
                                    &mut b.credits_pending
                                },
                                amount,
                            )
                        });
                        replay.statuses.insert(id.0, PendingStatus::Pending);
                    }
                    TransferKind::PostPending { pending_id, .. }
                    | TransferKind::VoidPending { pending_id } => {
                        let post = matches!(transfer.kind, TransferKind::PostPending { .. });
                        let Some(held) = open_pending(&mut replay, &transfers_table, pending_id)?
                        else {
                            continue;
                        };
                        if amount > held || (!post && amount != held) {
                            replay.dangling(format!(
                                "transfer {id} resolves {amount} of pending {pending_id}'s {held}"
                            ));
                        }
                        replay.apply(debit, credit, asset, |b, is_debit| {
                            if is_debit {
                                sub(&mut b.debits_pending, held)?;
                                if post {
                                    add(&mut b.debits_posted, amount)?;
                                }
                            } else {
                                sub(&mut b.credits_pending, held)?;
                                if post {
                                    add(&mut b.credits_posted, amount)?;
                                }
                            }
                            Some(())
                        });
                        let status = if post {
                            PendingStatus::Posted
                        } else {
                            PendingStatus::Voided
                        };
                        replay.statuses.insert(pending_id.0, status);
                    }
                }
            }
            JournalEntry::PendingExpired(id) => {
                let Some(held) = open_pending(&mut replay, &transfers_table, id)? else {
                    continue;
                };
                let Some(bytes) = transfers_table.get(id.0)? else {
                    continue;
                };
                let pending = codec::decode_transfer(id.0, bytes.value())?;
                if pending
                    .expires_at()
                    .is_none_or(|expires_at| expires_at.0 > at)
                {
                    replay.dangling(format!("pending transfer {id} expired before its timeout"));
                }
                replay.apply(
                    pending.debit,
                    pending.credit,
                    pending.asset,
                    |b, is_debit| {
                        sub(
                            if is_debit {
                                &mut b.debits_pending
                            } else {
                                &mut b.credits_pending
                            },
                            held,
                        )
                    },
                );
                replay.statuses.insert(id.0, PendingStatus::Expired);
            }
        }
    }

    let last_timestamp = meta_table
        .get(store::META_LAST_TIMESTAMP)?
        .map(|v| v.value())
        .unwrap_or(0);
    if previous.is_some_and(|p| p > last_timestamp) {
        replay
            .violations
            .push(Violation::Timestamp { at: last_timestamp });
    }

    for entry in accounts_table.iter()? {
        let (id, bytes) = entry?;
        let account = codec::decode_account(id.value(), bytes.value())?;
        report.accounts += 1;
        match replay.balances.get(&account.id.0) {
            Some((_, rebuilt)) if *rebuilt == account.balance => {}
            Some(_) => replay.violations.push(Violation::BalanceMismatch {
                account: account.id,
            }),
            None => replay.dangling(format!("account {} is not in the journal", account.id)),
        }
        if account.last_transfer != history_heads.get(&account.id.0).copied() {
            replay.dangling(format!(
                "account {}'s history does not start at its newest transfer",
                account.id
            ));
        }
        if !account.balance.within_limits(account.flags) {
            replay.violations.push(Violation::OverLimit {
                account: account.id,
            });
        }
        let totals = report.totals.entry(account.asset).or_default();
        totals.debits_posted.add(account.balance.debits_posted);
        totals.credits_posted.add(account.balance.credits_posted);
        totals.debits_pending.add(account.balance.debits_pending);
        totals.credits_pending.add(account.balance.credits_pending);
    }
    for (asset, totals) in &report.totals {
        if totals.debits_posted != totals.credits_posted {
            replay.violations.push(Violation::Unbalanced {
                asset: *asset,
                pending: false,
            });
        }
        if totals.debits_pending != totals.credits_pending {
            replay.violations.push(Violation::Unbalanced {
                asset: *asset,
                pending: true,
            });
        }
    }

    report.transfers = transfers_table.len()?;
    if journaled_transfers != report.transfers {
        replay.dangling(format!(
            "{} transfers stored but {journaled_transfers} in the journal",
            report.transfers
        ));
    }
    for entry in status_table.iter()? {
        let (id, status) = entry?;
        let status = codec::decode_pending_status(status.value())?;
        if status == PendingStatus::Pending {
            report.pending_open += 1;
        }
        if replay.statuses.get(&id.value()) != Some(&status) {
            replay.dangling(format!(
                "pending transfer {} has status {status:?}, not the journal's",
                id.value()
            ));
        }
    }
    if status_table.len()? != replay.statuses.len() as u64 {
        replay.dangling("pending statuses differ from the journal's".into());
    }

    report.violations = replay.violations;
    Ok(report)
}

/// The amount still held by pending transfer `id`, if it is open in the replay so far.
fn open_pending(
    replay: &mut Replay,
    transfers: &redb::ReadOnlyTable<u128, &'static [u8]>,
    id: TransferId,
) -> Result<Option<u128>, LedgerError> {
    if replay.statuses.get(&id.0) != Some(&PendingStatus::Pending) {
        replay.dangling(format!("pending transfer {id} resolved while not open"));
        return Ok(None);
    }
    let Some(bytes) = transfers.get(id.0)? else {
        replay.dangling(format!("pending transfer {id} is missing"));
        return Ok(None);
    };
    Ok(Some(codec::decode_transfer(id.0, bytes.value())?.amount))
}
