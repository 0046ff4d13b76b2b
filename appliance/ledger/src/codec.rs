//! The on-disk encoding of records: explicit little-endian layouts with a version byte, so the
//! file format is a decision written down here, not whatever a serialiser does next year.

use crate::apply::Delta;
use crate::error::LedgerError;
use crate::types::{
    Account, AccountFlags, AccountId, Asset, AssetId, Balance, PendingStatus, Timestamp, Transfer,
    TransferId, TransferKind, UserData,
};

const RECORD_VERSION: u8 = 1;

pub(crate) const ACCOUNT_LEN: usize = 104;
pub(crate) const TRANSFER_LEN: usize = 113;

struct Writer(Vec<u8>);

impl Writer {
    fn with_capacity(len: usize) -> Self {
        let mut bytes = Vec::with_capacity(len);
        bytes.push(RECORD_VERSION);
        Writer(bytes)
    }
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u128(&mut self, v: u128) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], what: &'static str, len: Option<usize>) -> Result<Self, LedgerError> {
        if len.is_some_and(|len| bytes.len() != len) {
            return Err(corrupt(what, "wrong length"));
        }
        let mut reader = Reader { bytes, what };
        match reader.u8()? {
            RECORD_VERSION => Ok(reader),
            _ => Err(corrupt(what, "unknown record version")),
        }
    }
    fn take<const N: usize>(&mut self) -> Result<[u8; N], LedgerError> {
        let (head, rest) = self
            .bytes
            .split_first_chunk::<N>()
            .ok_or_else(|| corrupt(self.what, "truncated"))?;
        self.bytes = rest;
        Ok(*head)
    }
    fn u8(&mut self) -> Result<u8, LedgerError> {
        Ok(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, LedgerError> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    fn u32(&mut self) -> Result<u32, LedgerError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, LedgerError> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    fn u128(&mut self) -> Result<u128, LedgerError> {
        Ok(u128::from_le_bytes(self.take()?))
    }
    fn slice(&mut self, len: usize) -> Result<&'a [u8], LedgerError> {
        if self.bytes.len() < len {
            return Err(corrupt(self.what, "truncated"));
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }
}

fn corrupt(what: &str, why: &str) -> LedgerError {
    LedgerError::Corrupt(format!("{what} record: {why}"))
}

pub(crate) fn encode_asset(asset: &Asset) -> Vec<u8> {
    let mut w = Writer::with_capacity(3 + asset.code.len());
    // The code length is bounded by validation (≤ 16), so it fits a byte.
    w.u8(asset.scale).u8(asset.code.len() as u8);
    w.0.extend_from_slice(asset.code.as_bytes());
    w.0
}

pub(crate) fn decode_asset(id: u32, bytes: &[u8]) -> Result<Asset, LedgerError> {
    let mut r = Reader::new(bytes, "asset", None)?;
    let scale = r.u8()?;
    let len = usize::from(r.u8()?);
    let code = r.rest();
    if code.len() != len {
        return Err(corrupt("asset", "code length"));
    }
    let code = std::str::from_utf8(code).map_err(|_| corrupt("asset", "code not UTF-8"))?;
    Ok(Asset {
        id: AssetId(id),
        code: code.to_owned(),
        scale,
    })
}

const FLAG_DEBITS_MUST_NOT_EXCEED_CREDITS: u8 = 1;
const FLAG_CREDITS_MUST_NOT_EXCEED_DEBITS: u8 = 2;
const FLAG_CLOSED: u8 = 4;

pub(crate) fn encode_account(account: &Account) -> Vec<u8> {
    let mut flags = 0;
    if account.flags.debits_must_not_exceed_credits {
        flags |= FLAG_DEBITS_MUST_NOT_EXCEED_CREDITS;
    }
    if account.flags.credits_must_not_exceed_debits {
        flags |= FLAG_CREDITS_MUST_NOT_EXCEED_DEBITS;
    }
    if account.closed {
        flags |= FLAG_CLOSED;
    }
    let b = &account.balance;
    let mut w = Writer::with_capacity(ACCOUNT_LEN);
    w.u32(account.asset.0)
        .u128(account.owner)
        .u16(account.code)
        .u8(flags)
        .u64(account.timestamp.0)
        .u128(b.debits_pending)
        .u128(b.debits_posted)
        .u128(b.credits_pending)
        .u128(b.credits_posted)
        .u64(account.last_transfer.map_or(0, |t| t.0));
    debug_assert_eq!(w.0.len(), ACCOUNT_LEN);
    w.0
}

pub(crate) fn decode_account(id: u128, bytes: &[u8]) -> Result<Account, LedgerError> {
    let mut r = Reader::new(bytes, "account", Some(ACCOUNT_LEN))?;
    let asset = AssetId(r.u32()?);
    let owner = r.u128()?;
    let code = r.u16()?;
    let flags = r.u8()?;
    if flags
        & !(FLAG_DEBITS_MUST_NOT_EXCEED_CREDITS | FLAG_CREDITS_MUST_NOT_EXCEED_DEBITS | FLAG_CLOSED)
        != 0
    {
        return Err(corrupt("account", "unknown flags"));
    }
    let timestamp = Timestamp(r.u64()?);
    let balance = Balance {
        debits_pending: r.u128()?,
        debits_posted: r.u128()?,
        credits_pending: r.u128()?,
        credits_posted: r.u128()?,
    };
    let last_transfer = Some(r.u64()?).filter(|&t| t != 0).map(Timestamp);
    Ok(Account {
        id: AccountId(id),
        asset,
        owner,
        code,
        flags: AccountFlags {
            debits_must_not_exceed_credits: flags & FLAG_DEBITS_MUST_NOT_EXCEED_CREDITS != 0,
            credits_must_not_exceed_debits: flags & FLAG_CREDITS_MUST_NOT_EXCEED_DEBITS != 0,
        },
        closed: flags & FLAG_CLOSED != 0,
        timestamp,
        balance,
        last_transfer,
    })
}

const KIND_POSTED: u8 = 1;
const KIND_PENDING: u8 = 2;
const KIND_POST_PENDING: u8 = 3;
const KIND_VOID_PENDING: u8 = 4;
const POST_AMOUNT_GIVEN: u8 = 1;

pub(crate) fn encode_transfer(t: &Transfer) -> Vec<u8> {
    let (tag, kind_flags, pending_id, timeout_secs) = match t.kind {
        TransferKind::Posted { .. } => (KIND_POSTED, 0, 0, 0),
        TransferKind::Pending { timeout_secs, .. } => (KIND_PENDING, 0, 0, timeout_secs),
        TransferKind::PostPending { pending_id, amount } => (
            KIND_POST_PENDING,
            if amount.is_some() {
                POST_AMOUNT_GIVEN
            } else {
                0
            },
            pending_id.0,
            0,
        ),
        TransferKind::VoidPending { pending_id } => (KIND_VOID_PENDING, 0, pending_id.0, 0),
    };
    let mut w = Writer::with_capacity(TRANSFER_LEN);
    w.u8(tag)
        .u8(kind_flags)
        .u128(t.debit.0)
        .u128(t.credit.0)
        .u128(t.amount)
        .u128(pending_id)
        .u32(timeout_secs)
        .u32(t.asset.0)
        .u16(t.code)
        .u128(t.user_data.u128)
        .u64(t.user_data.u64)
        .u32(t.user_data.u32)
        .u64(t.timestamp.0);
    debug_assert_eq!(w.0.len(), TRANSFER_LEN);
    w.0
}

pub(crate) fn decode_transfer(id: u128, bytes: &[u8]) -> Result<Transfer, LedgerError> {
    let mut r = Reader::new(bytes, "transfer", Some(TRANSFER_LEN))?;
    let tag = r.u8()?;
    let kind_flags = r.u8()?;
    let debit = AccountId(r.u128()?);
    let credit = AccountId(r.u128()?);
    let amount = r.u128()?;
    let pending_id = TransferId(r.u128()?);
    let timeout_secs = r.u32()?;
    let asset = AssetId(r.u32()?);
    let code = r.u16()?;
    let user_data = UserData {
        u128: r.u128()?,
        u64: r.u64()?,
        u32: r.u32()?,
    };
    let timestamp = Timestamp(r.u64()?);
    let kind = match tag {
        KIND_POSTED => TransferKind::Posted {
            debit,
            credit,
            amount,
        },
        KIND_PENDING => TransferKind::Pending {
            debit,
            credit,
            amount,
            timeout_secs,
        },
        KIND_POST_PENDING => TransferKind::PostPending {
            pending_id,
            amount: (kind_flags & POST_AMOUNT_GIVEN != 0).then_some(amount),
        },
        KIND_VOID_PENDING => TransferKind::VoidPending { pending_id },
        _ => return Err(corrupt("transfer", "unknown kind")),
    };
    Ok(Transfer {
        id: TransferId(id),
        kind,
        debit,
        credit,
        asset,
        amount,
        code,
        user_data,
        timestamp,
    })
}

pub(crate) fn encode_pending_status(status: PendingStatus) -> u8 {
    match status {
        PendingStatus::Pending => 1,
        PendingStatus::Posted => 2,
        PendingStatus::Voided => 3,
        PendingStatus::Expired => 4,
    }
}

pub(crate) fn decode_pending_status(byte: u8) -> Result<PendingStatus, LedgerError> {
    match byte {
        1 => Ok(PendingStatus::Pending),
        2 => Ok(PendingStatus::Posted),
        3 => Ok(PendingStatus::Voided),
        4 => Ok(PendingStatus::Expired),
        _ => Err(corrupt("pending status", "unknown value")),
    }
}

/// What a journal entry records. The journal is keyed by timestamp and is what `verify` replays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JournalEntry {
    AccountCreated(AccountId),
    /// A transfer, with each account's previous transfer: every account's history is a chain
    /// through the journal, newest first, that costs no index write of its own.
    TransferCreated {
        id: TransferId,
        debit_previous: Option<Timestamp>,
        credit_previous: Option<Timestamp>,
    },
    /// The ledger voided a pending transfer whose timeout passed.
    PendingExpired(TransferId),
}

/// A journal entry as its table stores it: kind, id, and the two history links (0 for none).
pub(crate) type JournalRecord = (u8, u128, u64, u64);

pub(crate) fn encode_journal(entry: JournalEntry) -> JournalRecord {
    let link = |t: Option<Timestamp>| t.map_or(0, |t| t.0);
    match entry {
        JournalEntry::AccountCreated(id) => (1, id.0, 0, 0),
        JournalEntry::TransferCreated {
            id,
            debit_previous,
            credit_previous,
        } => (2, id.0, link(debit_previous), link(credit_previous)),
        JournalEntry::PendingExpired(id) => (3, id.0, 0, 0),
    }
}

pub(crate) fn decode_journal(
    (tag, id, debit_previous, credit_previous): JournalRecord,
) -> Result<JournalEntry, LedgerError> {
    let link = |t: u64| Some(t).filter(|&t| t != 0).map(Timestamp);
    match tag {
        1 => Ok(JournalEntry::AccountCreated(AccountId(id))),
        2 => Ok(JournalEntry::TransferCreated {
            id: TransferId(id),
            debit_previous: link(debit_previous),
            credit_previous: link(credit_previous),
        }),
        3 => Ok(JournalEntry::PendingExpired(TransferId(id))),
        _ => Err(corrupt("journal", "unknown entry kind")),
    }
}

/// A log record: the group's delta, then the notes its callers logged with it (`notes.rs`), if
/// any. A record without notes ends with the delta, as every record before notes did.
pub(crate) fn encode_record(delta: &Delta, notes: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = encode_delta(delta);
    if !notes.is_empty() {
        let mut w = Writer(Vec::with_capacity(
            4 + notes.iter().map(|n| 4 + n.len()).sum::<usize>(),
        ));
        // A note is a caller's record of one batch: far below 4 GiB, and at most one per batch.
        w.u32(notes.len() as u32);
        for note in notes {
            w.u32(note.len() as u32);
            w.0.extend_from_slice(note);
        }
        bytes.extend_from_slice(&w.0);
    }
    bytes
}

/// A log record's delta and notes.
pub(crate) fn decode_record(bytes: &[u8]) -> Result<(Delta, Vec<Vec<u8>>), LedgerError> {
    let what = "log";
    let (delta, rest) = decode_delta_prefix(bytes)?;
    let mut notes = Vec::new();
    if !rest.is_empty() {
        let mut r = Reader { bytes: rest, what };
        for _ in 0..r.u32()? {
            let len = r.u32()? as usize;
            notes.push(r.slice(len)?.to_vec());
        }
        if !r.rest().is_empty() {
            return Err(corrupt(what, "trailing bytes"));
        }
    }
    Ok((delta, notes))
}

/// Encodes a group's changes for the write-ahead log.
pub(crate) fn encode_delta(delta: &Delta) -> Vec<u8> {
    let transfers = delta.transfers.len();
    let mut w =
        Writer::with_capacity(64 + transfers * (16 + TRANSFER_LEN + 2 * (16 + ACCOUNT_LEN)));
    w.u64(delta.last_timestamp);
    // Counts fit a u32: a group holds at most 65,535 items and each touches a bounded number.
    w.u32(delta.assets.len() as u32);
    for asset in delta.assets.values() {
        let bytes = encode_asset(asset);
        w.u32(asset.id.0).u16(bytes.len() as u16);
        w.0.extend_from_slice(&bytes);
    }
    w.u32(delta.accounts.len() as u32);
    for account in delta.accounts.values() {
        w.u128(account.id.0);
        w.0.extend_from_slice(&encode_account(account));
    }
    w.u32(transfers as u32);
    for transfer in delta.transfers.values() {
        w.u128(transfer.id.0);
        w.0.extend_from_slice(&encode_transfer(transfer));
    }
    w.u32(delta.statuses.len() as u32);
    for (id, status) in &delta.statuses {
        w.u128(*id).u8(encode_pending_status(*status));
    }
    w.u32(delta.expiry.len() as u32);
    for ((at, id), insert) in &delta.expiry {
        w.u64(*at).u128(*id).u8(u8::from(*insert));
    }
    w.u32(delta.journal.len() as u32);
    for (at, entry) in &delta.journal {
        let (tag, id, debit_previous, credit_previous) = encode_journal(*entry);
        w.u64(*at)
            .u8(tag)
            .u128(id)
            .u64(debit_previous)
            .u64(credit_previous);
    }
    w.0
}

/// A delta, and the bytes after it.
fn decode_delta_prefix(bytes: &[u8]) -> Result<(Delta, &[u8]), LedgerError> {
    let what = "log";
    let mut r = Reader::new(bytes, what, None)?;
    let mut delta = Delta {
        last_timestamp: r.u64()?,
        ..Delta::default()
    };
    for _ in 0..r.u32()? {
        let id = r.u32()?;
        let len = usize::from(r.u16()?);
        let record = r.slice(len)?;
        delta.assets.insert(id, decode_asset(id, record)?);
    }
    for _ in 0..r.u32()? {
        let id = r.u128()?;
        let record = r.slice(ACCOUNT_LEN)?;
        delta.accounts.insert(id, decode_account(id, record)?);
    }
    for _ in 0..r.u32()? {
        let id = r.u128()?;
        let record = r.slice(TRANSFER_LEN)?;
        delta.transfers.insert(id, decode_transfer(id, record)?);
    }
    for _ in 0..r.u32()? {
        let id = r.u128()?;
        delta.statuses.insert(id, decode_pending_status(r.u8()?)?);
    }
    for _ in 0..r.u32()? {
        let key = (r.u64()?, r.u128()?);
        let insert = match r.u8()? {
            0 => false,
            1 => true,
            _ => return Err(corrupt(what, "expiry flag")),
        };
        delta.expiry.insert(key, insert);
    }
    for _ in 0..r.u32()? {
        let at = r.u64()?;
        let entry = decode_journal((r.u8()?, r.u128()?, r.u64()?, r.u64()?))?;
        delta.journal.push((at, entry));
    }
    Ok((delta, r.rest()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_round_trip_every_kind() {
        let kinds = [
            TransferKind::Posted {
                debit: AccountId(1),
                credit: AccountId(2),
                amount: u128::MAX,
            },
            TransferKind::Pending {
                debit: AccountId(1),
                credit: AccountId(2),
                amount: 5,
                timeout_secs: u32::MAX,
            },
            TransferKind::PostPending {
                pending_id: TransferId(9),
                amount: Some(3),
            },
            TransferKind::PostPending {
                pending_id: TransferId(9),
                amount: None,
            },
            TransferKind::VoidPending {
                pending_id: TransferId(9),
            },
        ];
        for kind in kinds {
            // As the ledger resolves it: a posted or pending transfer moves what it asked for.
            let amount = match kind {
                TransferKind::Posted { amount, .. } | TransferKind::Pending { amount, .. } => {
                    amount
                }
                _ => 3,
            };
            let transfer = Transfer {
                id: TransferId(7),
                kind,
                debit: AccountId(1),
                credit: AccountId(2),
                asset: AssetId(3),
                amount,
                code: 65535,
                user_data: UserData {
                    u128: 1 << 100,
                    u64: 42,
                    u32: 7,
                },
                timestamp: Timestamp(123_456_789),
            };
            let bytes = encode_transfer(&transfer);
            assert_eq!(decode_transfer(7, &bytes).unwrap(), transfer);
        }
    }

    #[test]
    fn accounts_round_trip_and_reject_damage() {
        let account = Account {
            id: AccountId(5),
            asset: AssetId(1),
            owner: u128::MAX - 1,
            code: 3,
            flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            closed: true,
            timestamp: Timestamp(99),
            balance: Balance {
                debits_pending: 1,
                debits_posted: 2,
                credits_pending: 3,
                credits_posted: u128::MAX,
            },
            last_transfer: Some(Timestamp(120)),
        };
        let mut bytes = encode_account(&account);
        assert_eq!(decode_account(5, &bytes).unwrap(), account);
        bytes[0] = 9;
        assert!(matches!(
            decode_account(5, &bytes),
            Err(LedgerError::Corrupt(_))
        ));
        assert!(matches!(
            decode_account(5, &bytes[..10]),
            Err(LedgerError::Corrupt(_))
        ));
    }

    #[test]
    fn a_log_record_carries_its_notes_and_one_without_reads_as_before() {
        let delta = Delta {
            last_timestamp: 7,
            ..Delta::default()
        };
        let notes = vec![b"first".to_vec(), Vec::new(), vec![0xff; 3_000]];
        assert_eq!(
            decode_record(&encode_record(&delta, &notes)).unwrap(),
            (
                Delta {
                    last_timestamp: 7,
                    ..Delta::default()
                },
                notes
            )
        );
        // A record from before notes: the delta alone.
        assert_eq!(
            decode_record(&encode_delta(&delta)).unwrap().1,
            Vec::<Vec<u8>>::new()
        );
        // A note cut short is corruption, not a shorter note.
        let mut cut = encode_record(&delta, &[b"whole".to_vec()]);
        cut.pop();
        assert!(decode_record(&cut).is_err());
    }
}
