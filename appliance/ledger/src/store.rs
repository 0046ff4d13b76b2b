//! The redb tables and the schema. Keys are big-endian-ordered integers (redb compares them
//! numerically), so range scans walk accounts' histories and the journal in time order.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use crate::codec::JournalRecord;
use crate::error::LedgerError;

/// Bumped whenever a table or record layout changes; older files are migrated, never reinterpreted.
/// 2: history as chains through the journal (no `account_transfers` index).
pub(crate) const SCHEMA_VERSION: u64 = 2;

pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(crate) const ASSETS: TableDefinition<u32, &[u8]> = TableDefinition::new("assets");
pub(crate) const ACCOUNTS: TableDefinition<u128, &[u8]> = TableDefinition::new("accounts");
pub(crate) const TRANSFERS: TableDefinition<u128, &[u8]> = TableDefinition::new("transfers");
/// Status of every pending transfer, keyed by its id.
pub(crate) const PENDING_STATUS: TableDefinition<u128, u8> = TableDefinition::new("pending_status");
/// Open pending transfers that can expire, by (expires_at, id): the sweep is a prefix scan.
pub(crate) const PENDING_EXPIRY: TableDefinition<(u64, u128), ()> =
    TableDefinition::new("pending_expiry");
/// Everything that changed a balance or created an account, by timestamp: what `verify` replays.
/// A transfer's entry also links to each account's previous transfer, which is how an account's
/// history is read, newest first. (An index by (account, timestamp) took a random B-tree insert
/// per side of every transfer, and with it most of the pages each checkpoint rewrote.)
pub(crate) const JOURNAL: TableDefinition<u64, JournalRecord> = TableDefinition::new("journal");

/// Callers' notes found in the log on open (`notes.rs`), kept until the caller has them, by the
/// order they were logged in. Empty but for that short while.
pub(crate) const REPLAYED_NOTES: TableDefinition<u64, &[u8]> =
    TableDefinition::new("replayed_notes");

pub(crate) const META_SCHEMA_VERSION: &str = "schema_version";
pub(crate) const META_LAST_TIMESTAMP: &str = "last_timestamp";
/// The sequence number of the last group written into these tables: log records after it are
/// replayed on open.
pub(crate) const META_WAL_SEQ: &str = "wal_seq";

/// Where the tables stand: what `init` reads back.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Position {
    pub(crate) last_timestamp: u64,
    pub(crate) wal_seq: u64,
}

/// Creates the tables of a new file, or checks the schema of an existing one.
pub(crate) fn init(db: &redb::Database) -> Result<Position, LedgerError> {
    let txn = db.begin_write()?;
    let position = {
        let mut meta = txn.open_table(META)?;
        let version = meta.get(META_SCHEMA_VERSION)?.map(|v| v.value());
        match version {
            None => {
                meta.insert(META_SCHEMA_VERSION, SCHEMA_VERSION)?;
                meta.insert(META_LAST_TIMESTAMP, 0)?;
            }
            Some(SCHEMA_VERSION) => {}
            Some(found) => {
                return Err(LedgerError::SchemaVersion {
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
        }
        txn.open_table(ASSETS)?;
        txn.open_table(ACCOUNTS)?;
        txn.open_table(TRANSFERS)?;
        txn.open_table(PENDING_STATUS)?;
        txn.open_table(PENDING_EXPIRY)?;
        txn.open_table(JOURNAL)?;
        txn.open_table(REPLAYED_NOTES)?;
        Position {
            last_timestamp: meta.get(META_LAST_TIMESTAMP)?.map_or(0, |v| v.value()),
            wal_seq: meta.get(META_WAL_SEQ)?.map_or(0, |v| v.value()),
        }
    };
    txn.commit()?;
    Ok(position)
}

/// Checks the schema of a file opened read-only.
pub(crate) fn check_schema(db: &impl ReadableDatabase) -> Result<(), LedgerError> {
    let txn = db.begin_read()?;
    let meta = match txn.open_table(META) {
        Ok(meta) => meta,
        Err(redb::TableError::TableDoesNotExist(_)) => {
            return Err(LedgerError::Corrupt(
                "not a ledger file (no meta table)".into(),
            ));
        }
        Err(error) => return Err(error.into()),
    };
    match meta.get(META_SCHEMA_VERSION)?.map(|v| v.value()) {
        Some(SCHEMA_VERSION) => Ok(()),
        Some(found) => Err(LedgerError::SchemaVersion {
            found,
            supported: SCHEMA_VERSION,
        }),
        None => Err(LedgerError::Corrupt("no schema version".into())),
    }
}
