//! The directory: staff and their sessions, in `directory.redb`.
//!
//! Records are JSON inside redb values: readable when debugging a merchant's box, and new optional
//! fields need no migration. Session tokens are stored only as their SHA-256, so a copy of the
//! file does not let anyone sign in.

use std::path::Path;
use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Tier;
use crate::UnixMillis;
use crate::audit::{AuditCursor, AuditEntry, AuditLogPage};
use crate::cache::ReadCache;
use crate::error::{
    AuditError, AuthError, DomainError, LoginError, StaffError, StoreError, TerminalError,
};
use crate::group::{Commit, GroupWriter};
use crate::merchant::{
    Department, DepartmentId, FIRST_MERCHANT_NAME, Merchant, MerchantError, MerchantId,
};
use crate::password;
use crate::staff::{NewStaff, Role, Scope, Staff, StaffId, StoreId, normalize_username};
use crate::store::{Date, NewStore, Store, StoreKind};
use crate::terminal::{TERMINAL_TOKEN_PREFIX, Terminal, TerminalId, valid_name};

const SCHEMA_VERSION: u64 = 1;
/// The periodic sync hands the disk at most this much of the directory at a time, so that the
/// ledger's log syncs, which sales wait on, find little queued ahead of them (sales no longer
/// wait on the directory's: `Till::checkout`). Measured in docs/PERFORMANCE.md (2026-12-06,
/// night): 128 KiB against unpaced.
const SYNC_SLICE_BYTES: u64 = 128 * 1024;
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const STAFF: TableDefinition<u128, &[u8]> = TableDefinition::new("staff");
const STAFF_BY_USERNAME: TableDefinition<&str, u128> = TableDefinition::new("staff_by_username");
const STORES: TableDefinition<u128, &[u8]> = TableDefinition::new("stores");
const STORE_BY_CODE: TableDefinition<&str, u128> = TableDefinition::new("store_by_code");
/// The answers to writes that carried an idempotency key: key → (expires_at, fingerprint, answer).
const REPLIES: TableDefinition<&[u8], ReplyRecord> = TableDefinition::new("replies");
type ReplyRecord = (u64, &'static [u8], &'static [u8]);
/// (expires_at, key): dropping expired answers is a scan of this index's head.
const REPLY_EXPIRY: TableDefinition<(u64, &[u8]), ()> = TableDefinition::new("reply_expiry");
/// Sequence (microseconds since the epoch, made unique) → the entry.
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
const TERMINALS: TableDefinition<u128, &[u8]> = TableDefinition::new("terminals");
/// SHA-256 of a terminal's token → the terminal.
const TERMINAL_TOKENS: TableDefinition<&[u8], u128> = TableDefinition::new("terminal_tokens");
/// SHA-256 of the token → the session.
const SESSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sessions");
/// SHA-256 of a pairing code → its window (store, who opened it, expiry, used).
const PAIRINGS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pairings");
pub(crate) const MERCHANTS: TableDefinition<u128, &[u8]> = TableDefinition::new("merchants");
const DEPARTMENTS: TableDefinition<u128, &[u8]> = TableDefinition::new("departments");
/// `"first"` → the merchant the box was set up for: staff and stores from before merchants were
/// recorded belong to it.
const FIRST_MERCHANT: TableDefinition<&str, u128> = TableDefinition::new("first_merchant");

/// A kept answer: the fingerprint of the request it answered, and its bytes.
pub type KeptReply = ([u8; 32], Vec<u8>);

/// How sessions and sign-in attempts are limited.
#[derive(Clone, Copy, Debug)]
pub struct SessionOptions {
    /// How long a session lasts after sign-in.
    pub ttl_ms: u64,
    /// Failed sign-ins in a row before the account is locked.
    pub failures_max: u32,
    /// How long a locked account stays locked.
    pub lockout_ms: u64,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            ttl_ms: 12 * 3_600_000,
            failures_max: 5,
            lockout_ms: 15 * 60_000,
        }
    }
}

/// A signed-in session. The token is shown once, here; the box keeps only its hash.
#[derive(Clone, Debug)]
pub struct Session {
    pub token: String,
    pub staff: Staff,
    pub expires_at: UnixMillis,
}

#[derive(Debug, Serialize, Deserialize)]
struct StaffRecord {
    username: String,
    display_name: String,
    role: String,
    /// `None`: all stores.
    stores: Option<Vec<u128>>,
    password_hash: String,
    disabled: bool,
    created_at: u64,
    #[serde(default)]
    failed_logins: u32,
    #[serde(default)]
    locked_until: u64,
    #[serde(default)]
    merchant: Option<u128>,
    #[serde(default)]
    department: Option<u128>,
}

impl StaffRecord {
    fn to_staff(&self, id: u128, first_merchant: MerchantId) -> Result<Staff, DomainError> {
        let role = Role::parse(&self.role)
            .ok_or_else(|| DomainError::Corrupt(format!("staff {id:x}: role `{}`", self.role)))?;
        Ok(Staff {
            id: StaffId(id),
            merchant: self.merchant.map_or(first_merchant, MerchantId),
            department: self.department.map(DepartmentId),
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            role,
            scope: match &self.stores {
                None => Scope::AllStores,
                Some(stores) => Scope::Stores(stores.iter().copied().map(StoreId).collect()),
            },
            disabled: self.disabled,
            created_at: UnixMillis(self.created_at),
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct StoreRecord {
    code: String,
    name: String,
    kind: String,
    opened_on: String,
    time_zone: String,
    created_at: u64,
    #[serde(default)]
    merchant: Option<u128>,
    #[serde(default)]
    top_up_approval_above_fen: Option<u64>,
}

impl StoreRecord {
    fn to_store(&self, id: u128, first_merchant: MerchantId) -> Result<Store, DomainError> {
        let corrupt = |what: &str| DomainError::Corrupt(format!("store {id:x}: {what}"));
        Ok(Store {
            id: StoreId(id),
            merchant: self.merchant.map_or(first_merchant, MerchantId),
            code: self.code.clone(),
            name: self.name.clone(),
            kind: StoreKind::parse(&self.kind).ok_or_else(|| corrupt("kind"))?,
            opened_on: Date::parse(&self.opened_on).ok_or_else(|| corrupt("opening date"))?,
            time_zone: self.time_zone.clone(),
            created_at: UnixMillis(self.created_at),
            top_up_approval_above_fen: self.top_up_approval_above_fen,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct AuditRecord {
    at: u64,
    actor: Option<u128>,
    session: Option<String>,
    action: String,
    status: u16,
    remote: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct TerminalRecord {
    store: u128,
    name: String,
    created_at: u64,
    revoked_at: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct PairingRecord {
    store: u128,
    opened_by: u128,
    expires_at: u64,
    used: bool,
}

impl TerminalRecord {
    fn to_terminal(&self, id: u128) -> Terminal {
        Terminal {
            id: TerminalId(id),
            store: StoreId(self.store),
            name: self.name.clone(),
            created_at: UnixMillis(self.created_at),
            revoked_at: self.revoked_at.map(UnixMillis),
        }
    }
}

/// Who may manage a store's terminals: head office, or a manager of that store.
fn may_manage_terminals(actor: &Staff, store: StoreId) -> bool {
    match actor.role {
        Role::HqAdmin => true,
        Role::StoreManager => actor.scope.covers(store),
        Role::Department | Role::Cashier => false,
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct SessionRecord {
    staff: u128,
    created_at: u64,
    expires_at: u64,
}

pub(crate) fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, DomainError> {
    serde_json::to_vec(record).map_err(|e| DomainError::Corrupt(e.to_string()))
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(
    what: &str,
    bytes: &[u8],
) -> Result<T, DomainError> {
    serde_json::from_slice(bytes).map_err(|e| DomainError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn random_u128() -> Result<u128, DomainError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| DomainError::Random(e.to_string()))?;
    Ok(u128::from_le_bytes(bytes))
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[derive(Debug, Serialize, Deserialize)]
struct MerchantRecord {
    name: String,
    created_at: u64,
}

#[derive(Debug)]
pub struct Directory {
    pub(crate) db: Arc<redb::Database>,
    /// Group commit for the writes made on every request: see `group.rs`.
    writer: GroupWriter,
    options: SessionOptions,
    first_merchant: MerchantId,
    /// Read on every sale, changed by head office: see `cache.rs`.
    stores: ReadCache<StoreId, Store>,
    pub(crate) tiers: ReadCache<MerchantId, Vec<Tier>>,
    /// Terminals by their token's hash: every till request is signed by one, and a record
    /// changes only when it is revoked.
    terminals: ReadCache<[u8; 32], Terminal>,
    /// Every key with a kept answer, and perhaps a few whose answer went: most writes (every
    /// sale) keep none, and are told so without a read of the replies table.
    kept_replies: KeptReplies,
}

type KeptReplies = Arc<std::sync::Mutex<std::collections::HashSet<[u8; 32]>>>;

fn lock(kept: &KeptReplies) -> std::sync::MutexGuard<'_, std::collections::HashSet<[u8; 32]>> {
    // A set's insert or remove either happened or not: a poisoned lock is used as it is.
    kept.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Directory {
    /// Opens (creating if missing) the directory file at `path`.
    pub fn open(path: &Path, options: SessionOptions) -> Result<Directory, DomainError> {
        let db = redb::Database::builder()
            .create_with_backend(tongka_ledger::PacedFile::open(path, SYNC_SLICE_BYTES)?)?;
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let version = meta.get("schema_version")?.map(|v| v.value());
            match version {
                None => {
                    meta.insert("schema_version", SCHEMA_VERSION)?;
                }
                Some(SCHEMA_VERSION) => {}
                Some(found) => {
                    return Err(DomainError::Corrupt(format!(
                        "directory schema version {found}; this build reads {SCHEMA_VERSION}"
                    )));
                }
            }
            txn.open_table(STAFF)?;
            txn.open_table(STAFF_BY_USERNAME)?;
            txn.open_table(SESSIONS)?;
            txn.open_table(STORES)?;
            txn.open_table(STORE_BY_CODE)?;
            txn.open_table(REPLIES)?;
            txn.open_table(REPLY_EXPIRY)?;
            txn.open_table(AUDIT)?;
            txn.open_table(TERMINALS)?;
            txn.open_table(TERMINAL_TOKENS)?;
            txn.open_table(PAIRINGS)?;
            crate::members::open_tables(&txn)?;
            crate::till::open_tables(&txn)?;
            crate::gifts::open_tables(&txn)?;
            crate::commission::open_tables(&txn)?;
            crate::bonus::open_tables(&txn)?;
            crate::expiry::open_tables(&txn)?;
            txn.open_table(DEPARTMENTS)?;
        }
        let first_merchant = {
            let mut first = txn.open_table(FIRST_MERCHANT)?;
            let found = first.get("first")?.map(|id| id.value());
            match found {
                Some(id) => MerchantId(id),
                None => {
                    let id = random_u128()?;
                    let record = MerchantRecord {
                        name: FIRST_MERCHANT_NAME.to_owned(),
                        created_at: UnixMillis::now().0,
                    };
                    txn.open_table(MERCHANTS)?
                        .insert(id, encode(&record)?.as_slice())?;
                    first.insert("first", id)?;
                    MerchantId(id)
                }
            }
        };
        txn.commit()?;
        let mut kept_replies = std::collections::HashSet::new();
        for entry in db.begin_read()?.open_table(REPLIES)?.iter()? {
            let (key, _) = entry?;
            if let Ok(key) = <[u8; 32]>::try_from(key.value()) {
                kept_replies.insert(key);
            }
        }
        let db = Arc::new(db);
        Ok(Directory {
            writer: GroupWriter::start(Arc::clone(&db))?,
            db,
            options,
            first_merchant,
            stores: ReadCache::new(),
            tiers: ReadCache::new(),
            terminals: ReadCache::new(),
            kept_replies: Arc::new(std::sync::Mutex::new(kept_replies)),
        })
    }

    /// Renames `actor`'s merchant (head office): the name POS terminals show when they find the
    /// box.
    pub fn rename_merchant(
        &self,
        actor: &Staff,
        name: &str,
    ) -> Result<Result<Merchant, MerchantError>, DomainError> {
        let Ok(name) = crate::member::required_text("name", name, 64) else {
            return Ok(Err(MerchantError::Name));
        };
        if actor.role != Role::HqAdmin {
            return Ok(Err(MerchantError::Forbidden));
        }
        let txn = self.db.begin_write()?;
        let merchant = {
            let mut table = txn.open_table(MERCHANTS)?;
            let Some(bytes) = table.get(actor.merchant.0)?.map(|b| b.value().to_vec()) else {
                return Err(DomainError::Corrupt(
                    "the staff's merchant is missing".into(),
                ));
            };
            let mut record: MerchantRecord = decode("merchant", &bytes)?;
            record.name = name;
            table.insert(actor.merchant.0, encode(&record)?.as_slice())?;
            Merchant {
                id: actor.merchant,
                name: record.name,
                created_at: UnixMillis(record.created_at),
            }
        };
        txn.commit()?;
        Ok(Ok(merchant))
    }

    /// Creates a head-office department (head office only).
    pub fn create_department(
        &self,
        actor: &Staff,
        name: &str,
        now: UnixMillis,
    ) -> Result<Result<Department, MerchantError>, DomainError> {
        let Ok(name) = crate::member::required_text("name", name, 32) else {
            return Ok(Err(MerchantError::Name));
        };
        if actor.role != Role::HqAdmin {
            return Ok(Err(MerchantError::Forbidden));
        }
        if self
            .departments(actor.merchant)?
            .iter()
            .any(|d| d.name == name)
        {
            return Ok(Err(MerchantError::DepartmentTaken));
        }
        let department = Department {
            id: DepartmentId(random_u128()?),
            merchant: actor.merchant,
            name,
            created_at: now,
        };
        let txn = self.db.begin_write()?;
        txn.open_table(DEPARTMENTS)?
            .insert(department.id.0, encode(&department)?.as_slice())?;
        txn.commit()?;
        Ok(Ok(department))
    }

    /// The merchant's departments, by name.
    pub fn departments(&self, merchant: MerchantId) -> Result<Vec<Department>, DomainError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(DEPARTMENTS)?;
        let mut list = Vec::new();
        for entry in table.iter()? {
            let department: Department = decode("department", entry?.1.value())?;
            if department.merchant == merchant {
                list.push(department);
            }
        }
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(list)
    }

    fn department(&self, id: DepartmentId) -> Result<Option<Department>, DomainError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(DEPARTMENTS)?;
        table
            .get(id.0)?
            .map(|bytes| decode("department", bytes.value()))
            .transpose()
    }

    /// The merchant the box was set up for: who `tongka admin create` makes staff for.
    pub fn first_merchant(&self) -> MerchantId {
        self.first_merchant
    }

    pub fn merchant(&self, id: MerchantId) -> Result<Option<Merchant>, DomainError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(MERCHANTS)?;
        let Some(bytes) = table.get(id.0)? else {
            return Ok(None);
        };
        let record: MerchantRecord = decode("merchant", bytes.value())?;
        Ok(Some(Merchant {
            id,
            name: record.name,
            created_at: UnixMillis(record.created_at),
        }))
    }

    /// Creates a staff member. The slow password hash runs before the write transaction.
    pub fn create_staff(
        &self,
        merchant: MerchantId,
        new: &NewStaff,
        now: UnixMillis,
    ) -> Result<Result<Staff, StaffError>, DomainError> {
        let username = match new.validate() {
            Ok(username) => username,
            Err(error) => return Ok(Err(error)),
        };
        let record = StaffRecord {
            username: username.clone(),
            display_name: new.display_name.trim().to_owned(),
            role: new.role.as_str().to_owned(),
            stores: match &new.scope {
                Scope::AllStores => None,
                Scope::Stores(stores) => Some(stores.iter().map(|s| s.0).collect()),
            },
            password_hash: password::hash(&new.password)?,
            disabled: false,
            created_at: now.0,
            failed_logins: 0,
            locked_until: 0,
            merchant: Some(merchant.0),
            department: new.department.map(|d| d.0),
        };
        let id = random_u128()?;
        let txn = self.db.begin_write()?;
        {
            let mut by_username = txn.open_table(STAFF_BY_USERNAME)?;
            if by_username.get(username.as_str())?.is_some() {
                return Ok(Err(StaffError::UsernameTaken(username)));
            }
            by_username.insert(username.as_str(), id)?;
            txn.open_table(STAFF)?
                .insert(id, encode(&record)?.as_slice())?;
        }
        txn.commit()?;
        Ok(Ok(record.to_staff(id, self.first_merchant)?))
    }

    /// Creates a staff member on behalf of `actor`, if their role allows it.
    pub fn create_staff_by(
        &self,
        actor: &Staff,
        new: &NewStaff,
        now: UnixMillis,
    ) -> Result<Result<Staff, StaffError>, DomainError> {
        if let Err(error) = new.validate() {
            return Ok(Err(error));
        }
        if !actor.may_create(new) {
            return Ok(Err(StaffError::Forbidden));
        }
        if let Scope::Stores(stores) = &new.scope {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(STORES)?;
            for store in stores {
                let Some(bytes) = table.get(store.0)? else {
                    return Ok(Err(StaffError::UnknownStore));
                };
                let record: StoreRecord = decode("store", bytes.value())?;
                if record.merchant.map_or(self.first_merchant, MerchantId) != actor.merchant {
                    return Ok(Err(StaffError::UnknownStore));
                }
            }
        }
        if let Some(department) = new.department {
            match self.department(department)? {
                Some(found) if found.merchant == actor.merchant => {}
                _ => return Ok(Err(StaffError::UnknownDepartment)),
            }
        }
        // Stores and departments are never deleted, so the checks above cannot go stale.
        self.create_staff(actor.merchant, new, now)
    }

    /// The staff `actor` may see, by username.
    pub fn staff_list(&self, actor: &Staff) -> Result<Vec<Staff>, DomainError> {
        let txn = self.db.begin_read()?;
        let by_username = txn.open_table(STAFF_BY_USERNAME)?;
        let table = txn.open_table(STAFF)?;
        let mut list = Vec::new();
        for entry in by_username.iter()? {
            let (_, id) = entry?;
            let id = id.value();
            let Some(bytes) = table.get(id)? else {
                return Err(DomainError::Corrupt(format!("staff {id:x} missing")));
            };
            let staff =
                decode::<StaffRecord>("staff", bytes.value())?.to_staff(id, self.first_merchant)?;
            if staff.merchant == actor.merchant && actor.may_see(&staff) {
                list.push(staff);
            }
        }
        Ok(list)
    }

    /// Creates a store on behalf of `actor`: head office only.
    pub fn create_store(
        &self,
        actor: &Staff,
        new: &NewStore,
        now: UnixMillis,
    ) -> Result<Result<Store, StoreError>, DomainError> {
        let new = match new.validate() {
            Ok(new) => new,
            Err(error) => return Ok(Err(error)),
        };
        if actor.role != Role::HqAdmin {
            return Ok(Err(StoreError::Forbidden));
        }
        let record = StoreRecord {
            code: new.code.clone(),
            name: new.name.clone(),
            kind: new.kind.as_str().to_owned(),
            opened_on: new.opened_on.to_string(),
            time_zone: new.time_zone.clone(),
            created_at: now.0,
            merchant: Some(actor.merchant.0),
            top_up_approval_above_fen: None,
        };
        let id = random_u128()?;
        let txn = self.db.begin_write()?;
        {
            let mut by_code = txn.open_table(STORE_BY_CODE)?;
            if by_code.get(new.code.as_str())?.is_some() {
                return Ok(Err(StoreError::CodeTaken(new.code)));
            }
            by_code.insert(new.code.as_str(), id)?;
            txn.open_table(STORES)?
                .insert(id, encode(&record)?.as_slice())?;
        }
        txn.commit()?;
        Ok(Ok(record.to_store(id, self.first_merchant)?))
    }

    /// Sets (head office) the amount above which a top-up at `store` needs a manager's
    /// authorisation (大额充值授权); `None`: never.
    pub fn set_top_up_approval(
        &self,
        actor: &Staff,
        store: StoreId,
        above_fen: Option<u64>,
    ) -> Result<Result<Store, StoreError>, DomainError> {
        if actor.role != Role::HqAdmin {
            return Ok(Err(StoreError::Forbidden));
        }
        let txn = self.db.begin_write()?;
        let store = {
            let mut table = txn.open_table(STORES)?;
            let Some(bytes) = table.get(store.0)? else {
                return Ok(Err(StoreError::Unknown));
            };
            let mut record: StoreRecord = decode("store", bytes.value())?;
            drop(bytes);
            if record.merchant.map_or(self.first_merchant, MerchantId) != actor.merchant {
                return Ok(Err(StoreError::Unknown));
            }
            record.top_up_approval_above_fen = above_fen;
            table.insert(store.0, encode(&record)?.as_slice())?;
            record.to_store(store.0, self.first_merchant)?
        };
        txn.commit()?;
        self.stores.changed();
        Ok(Ok(store))
    }

    /// The stores in `actor`'s scope, by code.
    pub fn stores(&self, actor: &Staff) -> Result<Vec<Store>, DomainError> {
        self.stores_where(actor.merchant, |id| actor.scope.covers(id))
    }

    /// Every store of `merchant`, by code: for the box's own daily run, which acts for no one.
    pub(crate) fn merchant_stores(&self, merchant: MerchantId) -> Result<Vec<Store>, DomainError> {
        self.stores_where(merchant, |_| true)
    }

    fn stores_where(
        &self,
        merchant: MerchantId,
        wanted: impl Fn(StoreId) -> bool,
    ) -> Result<Vec<Store>, DomainError> {
        let txn = self.db.begin_read()?;
        let by_code = txn.open_table(STORE_BY_CODE)?;
        let table = txn.open_table(STORES)?;
        let mut list = Vec::new();
        for entry in by_code.iter()? {
            let (_, id) = entry?;
            let id = id.value();
            if !wanted(StoreId(id)) {
                continue;
            }
            let Some(bytes) = table.get(id)? else {
                return Err(DomainError::Corrupt(format!("store {id:x} missing")));
            };
            let store =
                decode::<StoreRecord>("store", bytes.value())?.to_store(id, self.first_merchant)?;
            if store.merchant == merchant {
                list.push(store);
            }
        }
        Ok(list)
    }

    /// A store, if it exists and is in `actor`'s scope: outside it, it does not exist for them.
    pub fn store(&self, actor: &Staff, id: StoreId) -> Result<Option<Store>, DomainError> {
        if !actor.scope.covers(id) {
            return Ok(None);
        }
        let txn = self.db.begin_read()?;
        let table = txn.open_table(STORES)?;
        let Some(bytes) = table.get(id.0)? else {
            return Ok(None);
        };
        let store =
            decode::<StoreRecord>("store", bytes.value())?.to_store(id.0, self.first_merchant)?;
        Ok((store.merchant == actor.merchant).then_some(store))
    }

    /// A store of any merchant by id, whoever asks: for the till, whose terminal is already bound
    /// to it.
    pub fn store_record(&self, id: StoreId) -> Result<Option<Store>, DomainError> {
        self.stores.get(id, || {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(STORES)?;
            let Some(bytes) = table.get(id.0)? else {
                return Ok(None);
            };
            Ok(Some(
                decode::<StoreRecord>("store", bytes.value())?
                    .to_store(id.0, self.first_merchant)?,
            ))
        })
    }

    /// The answer kept for an idempotency `key`, with the fingerprint of the request it answered,
    /// unless it expired. The answer's bytes are the caller's own encoding.
    pub fn reply(&self, key: &[u8; 32], now: UnixMillis) -> Result<Option<KeptReply>, DomainError> {
        if !lock(&self.kept_replies).contains(key) {
            return Ok(None);
        }
        let txn = self.db.begin_read()?;
        let table = txn.open_table(REPLIES)?;
        let Some(entry) = table.get(&key[..])? else {
            return Ok(None);
        };
        let (expires_at, fingerprint, answer) = entry.value();
        if expires_at <= now.0 {
            return Ok(None);
        }
        let fingerprint: [u8; 32] = fingerprint
            .try_into()
            .map_err(|_| DomainError::Corrupt("reply fingerprint".into()))?;
        Ok(Some((fingerprint, answer.to_vec())))
    }

    /// Drops, within `txn`, every kept answer whose bytes contain `needle`: after a member's
    /// personal data is erased, replaying an old request must not bring it back.
    pub(crate) fn forget_replies_mentioning(
        txn: &redb::WriteTransaction,
        needle: &[u8],
    ) -> Result<usize, DomainError> {
        let mut table = txn.open_table(REPLIES)?;
        let mut expiry = txn.open_table(REPLY_EXPIRY)?;
        let mut found: Vec<(u64, Vec<u8>)> = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            let (expires_at, _, answer) = value.value();
            if !needle.is_empty() && answer.windows(needle.len()).any(|w| w == needle) {
                found.push((expires_at, key.value().to_vec()));
            }
        }
        for (expires_at, key) in &found {
            table.remove(key.as_slice())?;
            expiry.remove((*expires_at, key.as_slice()))?;
        }
        Ok(found.len())
    }

    /// Keeps the answer to a keyed request until `expires_at`; drops expired ones on the way.
    pub async fn keep_reply(
        &self,
        key: &[u8; 32],
        fingerprint: &[u8; 32],
        answer: &[u8],
        now: UnixMillis,
        expires_at: UnixMillis,
    ) -> Result<(), DomainError> {
        let (key, fingerprint, answer) = (*key, *fingerprint, answer.to_vec());
        let kept_replies = Arc::clone(&self.kept_replies);
        self.write_grouped(move |txn| {
            let mut table = txn.open_table(REPLIES)?;
            let mut expiry = txn.open_table(REPLY_EXPIRY)?;
            let mut expired: Vec<(u64, Vec<u8>)> = Vec::new();
            for entry in expiry.range::<(u64, &[u8])>(..(now.0.saturating_add(1), &[][..]))? {
                let (due, _) = entry?;
                let (at, old) = due.value();
                expired.push((at, old.to_vec()));
            }
            // The set changes here, on the writer's thread, in the order the table does. A
            // key it names too early (the commit then fails) only costs a read that finds none.
            let mut kept = lock(&kept_replies);
            for (at, old) in expired {
                expiry.remove((at, old.as_slice()))?;
                table.remove(old.as_slice())?;
                if let Ok(old) = <[u8; 32]>::try_from(old.as_slice()) {
                    kept.remove(&old);
                }
            }
            kept.insert(key);
            drop(kept);
            if let Some(previous) = table.insert(
                &key[..],
                (expires_at.0, &fingerprint[..], answer.as_slice()),
            )? {
                let (previous_expiry, _, _) = previous.value();
                expiry.remove((previous_expiry, &key[..]))?;
            }
            expiry.insert((expires_at.0, &key[..]), ())?;
            Ok(())
        })
        .await
    }

    /// Appends an entry to the audit log.
    pub async fn audit(&self, entry: &AuditEntry) -> Result<(), DomainError> {
        self.audit_queued(entry, true)?.await
    }

    /// Queues an entry for the audit log now; the future says when it is committed — durably
    /// if `synced`. Unsynced is for writes whose own durable record already names who did what
    /// and when (a till order): the entry rides with the next group the writer commits anyway
    /// (`group.rs`) and is synced with the next durable one, within about a second, so neither
    /// the answer to the client nor any sale's group waits for it.
    pub fn audit_queued(
        &self,
        entry: &AuditEntry,
        synced: bool,
    ) -> Result<impl Future<Output = Result<(), DomainError>> + use<>, DomainError> {
        let record = encode(&AuditRecord {
            at: entry.at.0,
            actor: entry.actor.map(|a| a.0),
            session: entry.session.clone(),
            action: entry.action.clone(),
            status: entry.status,
            remote: entry.remote.clone(),
        })?;
        let at = entry.at.0;
        let commit = if synced {
            Commit::Synced
        } else {
            Commit::Riding
        };
        self.writer.submit(commit, move |txn| {
            let mut table = txn.open_table(AUDIT)?;
            let last = table.last()?.map_or(0, |(key, _)| key.value());
            // Unique and increasing even when two writes share a microsecond or the clock steps back.
            let sequence = at.saturating_mul(1_000).max(last.saturating_add(1));
            table.insert(sequence, record.as_slice())?;
            Ok(())
        })
    }

    /// `write_grouped`, committed without a sync unless another write in the group needs one:
    /// for a write whose redo is in the ledger's log, synced by `make_durable`.
    pub(crate) async fn write_grouped_unsynced<T, F>(&self, write: F) -> Result<T, DomainError>
    where
        T: Send + 'static,
        F: FnMut(&redb::WriteTransaction) -> Result<T, DomainError> + Send + 'static,
    {
        self.writer.write_unsynced(write).await
    }

    /// Queues `write` now, committed without a sync, and returns what waits for its result: the
    /// caller may answer before the write is committed, and any write queued after it is
    /// committed after it.
    pub(crate) fn submit_unsynced<T, F>(
        &self,
        write: F,
    ) -> Result<impl Future<Output = Result<T, DomainError>> + use<T, F>, DomainError>
    where
        T: Send + 'static,
        F: FnMut(&redb::WriteTransaction) -> Result<T, DomainError> + Send + 'static,
    {
        self.writer.submit(crate::group::Commit::Unsynced, write)
    }

    /// Syncs every write committed so far. Blocks the thread: for the ledger's checkpoint hook,
    /// not for a runtime's worker.
    pub(crate) fn make_durable(&self) -> Result<(), DomainError> {
        self.writer.make_durable()
    }

    /// Runs `write` with the other writes waiting, in one durable commit (`group.rs`).
    pub(crate) async fn write_grouped<T, F>(&self, write: F) -> Result<T, DomainError>
    where
        T: Send + 'static,
        F: FnMut(&redb::WriteTransaction) -> Result<T, DomainError> + Send + 'static,
    {
        self.writer.write(write).await
    }

    /// A page of the audit log, newest first, before `cursor`; with where the next page starts.
    pub fn audit_log(
        &self,
        actor: &Staff,
        before: Option<AuditCursor>,
        limit: usize,
    ) -> Result<Result<AuditLogPage, AuditError>, DomainError> {
        if actor.role != Role::HqAdmin {
            return Ok(Err(AuditError::Forbidden));
        }
        let txn = self.db.begin_read()?;
        let table = txn.open_table(AUDIT)?;
        let end = before.map_or(u64::MAX, |c| c.0);
        let mut entries = Vec::new();
        let mut next = None;
        for item in table.range(..end)?.rev() {
            let (key, value) = item?;
            if entries.len() == limit {
                next = Some(AuditCursor(key.value().saturating_add(1)));
                break;
            }
            let record: AuditRecord = decode("audit", value.value())?;
            entries.push(AuditEntry {
                at: UnixMillis(record.at),
                actor: record.actor.map(StaffId),
                session: record.session,
                action: record.action,
                status: record.status,
                remote: record.remote,
            });
        }
        Ok(Ok(AuditLogPage { entries, next }))
    }

    pub fn staff(&self, id: StaffId) -> Result<Option<Staff>, DomainError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(STAFF)?;
        let Some(bytes) = table.get(id.0)? else {
            return Ok(None);
        };
        let record: StaffRecord = decode("staff", bytes.value())?;
        Ok(Some(record.to_staff(id.0, self.first_merchant)?))
    }

    pub fn staff_count(&self) -> Result<u64, DomainError> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(STAFF)?.len()?)
    }

    /// Signs a staff member in. After `failures_max` wrong passwords in a row the account is
    /// locked for `lockout_ms`, whoever tries.
    pub fn login(
        &self,
        username: &str,
        password: &str,
        now: UnixMillis,
    ) -> Result<Result<Session, LoginError>, DomainError> {
        match self.check_password(username, password, now, true)? {
            Ok((staff, Some((token, expires_at)))) => Ok(Ok(Session {
                token,
                staff,
                expires_at,
            })),
            Ok((_, None)) => Err(DomainError::Corrupt("a sign-in minted no session".into())),
            Err(refused) => Ok(Err(refused)),
        }
    }

    /// A staff member's password checked without signing them in: a manager authorising a
    /// cashier's operation (授权). Wrong passwords count towards the lockout as at sign-in.
    pub fn confirm(
        &self,
        username: &str,
        password: &str,
        now: UnixMillis,
    ) -> Result<Result<Staff, LoginError>, DomainError> {
        Ok(self
            .check_password(username, password, now, false)?
            .map(|(staff, _)| staff))
    }

    /// The password check of `login` and `confirm`, counting failures and locking out; with
    /// `mint`, a new session (its token and expiry) for the staff member.
    #[allow(clippy::type_complexity)]
    fn check_password(
        &self,
        username: &str,
        password: &str,
        now: UnixMillis,
        mint: bool,
    ) -> Result<Result<(Staff, Option<(String, UnixMillis)>), LoginError>, DomainError> {
        let found = match normalize_username(username) {
            Ok(username) => self.find(&username)?,
            Err(_) => None,
        };
        let Some((id, record)) = found else {
            password::verify_nobody(password);
            return Ok(Err(LoginError::WrongCredentials));
        };
        if record.locked_until > now.0 {
            return Ok(Err(LoginError::LockedOut {
                until: UnixMillis(record.locked_until),
            }));
        }
        let correct = password::verify(password, &record.password_hash);
        let token = if correct && mint {
            Some(new_token()?)
        } else {
            None
        };

        let txn = self.db.begin_write()?;
        let outcome = {
            let mut staff = txn.open_table(STAFF)?;
            // Read again inside the transaction: concurrent failures must all count.
            let mut record: StaffRecord = match staff.get(id)? {
                Some(bytes) => decode("staff", bytes.value())?,
                None => return Ok(Err(LoginError::WrongCredentials)),
            };
            let outcome = if !correct {
                record.failed_logins = record.failed_logins.saturating_add(1);
                if record.failed_logins >= self.options.failures_max {
                    record.failed_logins = 0;
                    record.locked_until = now.plus_ms(self.options.lockout_ms).0;
                    Err(LoginError::LockedOut {
                        until: UnixMillis(record.locked_until),
                    })
                } else {
                    Err(LoginError::WrongCredentials)
                }
            } else if record.disabled {
                Err(LoginError::Disabled)
            } else {
                record.failed_logins = 0;
                let session = match token {
                    Some(token) => {
                        let expires_at = now.plus_ms(self.options.ttl_ms);
                        let mut sessions = txn.open_table(SESSIONS)?;
                        remove_expired(&mut sessions, now)?;
                        let session = SessionRecord {
                            staff: id,
                            created_at: now.0,
                            expires_at: expires_at.0,
                        };
                        sessions.insert(&token_hash(&token)[..], encode(&session)?.as_slice())?;
                        Some((token, expires_at))
                    }
                    None => None,
                };
                Ok((record.to_staff(id, self.first_merchant)?, session))
            };
            staff.insert(id, encode(&record)?.as_slice())?;
            outcome
        };
        txn.commit()?;
        Ok(outcome)
    }

    /// The staff member a session token belongs to.
    pub fn authenticate(
        &self,
        token: &str,
        now: UnixMillis,
    ) -> Result<Result<Staff, AuthError>, DomainError> {
        let txn = self.db.begin_read()?;
        let sessions = txn.open_table(SESSIONS)?;
        let Some(bytes) = sessions.get(&token_hash(token)[..])? else {
            return Ok(Err(AuthError::Unknown));
        };
        let session: SessionRecord = decode("session", bytes.value())?;
        if session.expires_at <= now.0 {
            return Ok(Err(AuthError::Expired));
        }
        let staff = txn.open_table(STAFF)?;
        let Some(bytes) = staff.get(session.staff)? else {
            return Ok(Err(AuthError::Unknown));
        };
        let record: StaffRecord = decode("staff", bytes.value())?;
        if record.disabled {
            return Ok(Err(AuthError::Disabled));
        }
        Ok(Ok(record.to_staff(session.staff, self.first_merchant)?))
    }

    /// Mints a terminal for `store` and its token, shown once.
    pub fn create_terminal(
        &self,
        actor: &Staff,
        store: StoreId,
        name: &str,
        now: UnixMillis,
    ) -> Result<Result<(Terminal, String), TerminalError>, DomainError> {
        if !valid_name(name) {
            return Ok(Err(TerminalError::Name));
        }
        if !may_manage_terminals(actor, store) {
            return Ok(Err(TerminalError::Forbidden));
        }
        // Stores are never deleted: the check holds for the write below.
        if self.store(actor, store)?.is_none() {
            return Ok(Err(TerminalError::UnknownStore));
        }
        let txn = self.db.begin_write()?;
        let minted = mint_terminal(&txn, store, name, now)?;
        txn.commit()?;
        Ok(Ok(minted))
    }

    /// Opens a pairing window for `store`: a code of [`crate::PAIRING_CODE_DIGITS`] digits that
    /// one terminal may exchange for its token until `now + ttl_ms`. Same rule as minting.
    pub fn open_pairing(
        &self,
        actor: &Staff,
        store: StoreId,
        ttl_ms: u64,
        now: UnixMillis,
    ) -> Result<Result<crate::Pairing, TerminalError>, DomainError> {
        if !may_manage_terminals(actor, store) {
            return Ok(Err(TerminalError::Forbidden));
        }
        if self.store(actor, store)?.is_none() {
            return Ok(Err(TerminalError::UnknownStore));
        }
        let txn = self.db.begin_write()?;
        let code = {
            let mut table = txn.open_table(PAIRINGS)?;
            // Windows that closed long ago are dropped as new ones open: the table stays small.
            let stale: Vec<Vec<u8>> = table
                .iter()?
                .filter_map(|entry| {
                    let (hash, bytes) = entry.ok()?;
                    let record: PairingRecord = decode("pairing", bytes.value()).ok()?;
                    (record.expires_at.saturating_add(86_400_000) < now.0)
                        .then(|| hash.value().to_vec())
                })
                .collect();
            for hash in stale {
                table.remove(hash.as_slice())?;
            }
            let code = loop {
                let digits = random_u128()? % 10u128.pow(crate::PAIRING_CODE_DIGITS as u32);
                let code = format!("{digits:0width$}", width = crate::PAIRING_CODE_DIGITS);
                if table.get(&token_hash(&code)[..])?.is_none() {
                    break code;
                }
            };
            let record = PairingRecord {
                store: store.0,
                opened_by: actor.id.0,
                expires_at: now.0.saturating_add(ttl_ms),
                used: false,
            };
            table.insert(&token_hash(&code)[..], encode(&record)?.as_slice())?;
            code
        };
        txn.commit()?;
        Ok(Ok(crate::Pairing {
            code,
            store,
            expires_at: UnixMillis(now.0.saturating_add(ttl_ms)),
        }))
    }

    /// Exchanges a pairing code for a terminal of its store named `name`, and its token. The
    /// code is spent whatever happens next; an expired or spent one is refused.
    pub fn pair(
        &self,
        code: &str,
        name: &str,
        now: UnixMillis,
    ) -> Result<Result<(Terminal, String), crate::PairingError>, DomainError> {
        use crate::PairingError;
        if !valid_name(name) {
            return Ok(Err(PairingError::Name));
        }
        let hash = token_hash(code.trim());
        let txn = self.db.begin_write()?;
        let minted = {
            let mut pairings = txn.open_table(PAIRINGS)?;
            let Some(bytes) = pairings.get(&hash[..])?.map(|b| b.value().to_vec()) else {
                return Ok(Err(PairingError::Unknown));
            };
            let mut record: PairingRecord = decode("pairing", &bytes)?;
            if record.used {
                return Ok(Err(PairingError::Used));
            }
            if record.expires_at <= now.0 {
                return Ok(Err(PairingError::Expired));
            }
            record.used = true;
            pairings.insert(&hash[..], encode(&record)?.as_slice())?;
            mint_terminal(&txn, StoreId(record.store), name, now)?
        };
        txn.commit()?;
        Ok(Ok(minted))
    }

    /// The terminals of the stores `actor` may manage.
    pub fn terminals(&self, actor: &Staff) -> Result<Vec<Terminal>, DomainError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(TERMINALS)?;
        let mut list = Vec::new();
        for entry in table.iter()? {
            let (id, bytes) = entry?;
            let terminal =
                decode::<TerminalRecord>("terminal", bytes.value())?.to_terminal(id.value());
            if may_manage_terminals(actor, terminal.store)
                && self.store(actor, terminal.store)?.is_some()
            {
                list.push(terminal);
            }
        }
        Ok(list)
    }

    /// Revokes a terminal: its token is refused from now on. Revoking twice changes nothing.
    pub fn revoke_terminal(
        &self,
        actor: &Staff,
        id: TerminalId,
        now: UnixMillis,
    ) -> Result<Result<Terminal, TerminalError>, DomainError> {
        let txn = self.db.begin_write()?;
        let terminal = {
            let mut table = txn.open_table(TERMINALS)?;
            let Some(bytes) = table.get(id.0)?.map(|b| b.value().to_vec()) else {
                return Ok(Err(TerminalError::UnknownTerminal));
            };
            let mut record: TerminalRecord = decode("terminal", &bytes)?;
            if !may_manage_terminals(actor, StoreId(record.store))
                || self.store(actor, StoreId(record.store))?.is_none()
            {
                // Outside the actor's stores it does not exist for them.
                return Ok(Err(TerminalError::UnknownTerminal));
            }
            record.revoked_at.get_or_insert(now.0);
            table.insert(id.0, encode(&record)?.as_slice())?;
            record.to_terminal(id.0)
        };
        txn.commit()?;
        self.terminals.changed();
        Ok(Ok(terminal))
    }

    /// The terminal a terminal token belongs to.
    pub fn authenticate_terminal(
        &self,
        token: &str,
    ) -> Result<Result<Terminal, AuthError>, DomainError> {
        let hash = token_hash(token);
        let found = self.terminals.get(hash, || {
            let txn = self.db.begin_read()?;
            let Some(id) = txn
                .open_table(TERMINAL_TOKENS)?
                .get(&hash[..])?
                .map(|v| v.value())
            else {
                return Ok(None);
            };
            let table = txn.open_table(TERMINALS)?;
            let Some(bytes) = table.get(id)? else {
                return Ok(None);
            };
            let record = decode::<TerminalRecord>("terminal", bytes.value())?;
            Ok::<_, DomainError>(Some(record.to_terminal(id)))
        })?;
        match found {
            None => Ok(Err(AuthError::Unknown)),
            Some(terminal) if terminal.revoked_at.is_some() => Ok(Err(AuthError::Revoked)),
            Some(terminal) => Ok(Ok(terminal)),
        }
    }

    /// Ends a session; `false` if there was none.
    pub fn logout(&self, token: &str) -> Result<bool, DomainError> {
        let txn = self.db.begin_write()?;
        let removed = txn
            .open_table(SESSIONS)?
            .remove(&token_hash(token)[..])?
            .is_some();
        txn.commit()?;
        Ok(removed)
    }

    fn find(&self, username: &str) -> Result<Option<(u128, StaffRecord)>, DomainError> {
        let txn = self.db.begin_read()?;
        let Some(id) = txn
            .open_table(STAFF_BY_USERNAME)?
            .get(username)?
            .map(|v| v.value())
        else {
            return Ok(None);
        };
        let staff = txn.open_table(STAFF)?;
        let bytes = staff.get(id)?.ok_or_else(|| {
            DomainError::Corrupt(format!("username {username} names missing staff"))
        })?;
        Ok(Some((id, decode("staff", bytes.value())?)))
    }
}

/// Writes a new terminal of `store` and its token (shown once; only its hash is kept) in `txn`.
fn mint_terminal(
    txn: &redb::WriteTransaction,
    store: StoreId,
    name: &str,
    now: UnixMillis,
) -> Result<(Terminal, String), DomainError> {
    let record = TerminalRecord {
        store: store.0,
        name: name.trim().to_owned(),
        created_at: now.0,
        revoked_at: None,
    };
    let (id, token) = (
        random_u128()?,
        format!("{TERMINAL_TOKEN_PREFIX}{}", new_token()?),
    );
    txn.open_table(TERMINALS)?
        .insert(id, encode(&record)?.as_slice())?;
    txn.open_table(TERMINAL_TOKENS)?
        .insert(&token_hash(&token)[..], id)?;
    Ok((record.to_terminal(id), token))
}

/// 32 random bytes as hex: unguessable, and safe in a header or a cookie.
fn new_token() -> Result<String, DomainError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| DomainError::Random(e.to_string()))?;
    Ok(crate::hex(&bytes))
}

fn remove_expired(
    sessions: &mut redb::Table<'_, &'static [u8], &'static [u8]>,
    now: UnixMillis,
) -> Result<(), DomainError> {
    let mut expired = Vec::new();
    for entry in sessions.iter()? {
        let (key, value) = entry?;
        let session: SessionRecord = decode("session", value.value())?;
        if session.expires_at <= now.0 {
            expired.push(key.value().to_vec());
        }
    }
    for key in expired {
        sessions.remove(key.as_slice())?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const T0: UnixMillis = UnixMillis(1_800_000_000_000);

    fn directory(dir: &tempfile::TempDir) -> Directory {
        Directory::open(
            &dir.path().join("directory.redb"),
            SessionOptions::default(),
        )
        .unwrap()
    }

    /// Head office's first admin, as a fresh box is set up.
    pub(crate) fn admin() -> NewStaff {
        NewStaff {
            department: None,
            username: "Admin".into(),
            display_name: "总部管理员".into(),
            role: Role::HqAdmin,
            scope: Scope::AllStores,
            password: "correct horse".into(),
        }
    }

    #[test]
    fn staff_sign_in_use_their_session_and_sign_out() {
        let dir = tempfile::tempdir().unwrap();
        let directory = directory(&dir);
        let created = directory
            .create_staff(directory.first_merchant(), &admin(), T0)
            .unwrap()
            .unwrap();
        assert_eq!(created.username, "admin");
        assert_eq!(directory.staff_count().unwrap(), 1);
        assert_eq!(
            directory
                .create_staff(directory.first_merchant(), &admin(), T0)
                .unwrap(),
            Err(StaffError::UsernameTaken("admin".into()))
        );

        let session = directory
            .login(" ADMIN ", "correct horse", T0)
            .unwrap()
            .unwrap();
        assert_eq!(session.staff, created);
        assert_eq!(session.token.len(), 64);
        assert_eq!(
            directory.authenticate(&session.token, T0).unwrap(),
            Ok(created.clone())
        );
        assert_eq!(
            directory.authenticate("not-a-token", T0).unwrap(),
            Err(AuthError::Unknown)
        );
        let expiry = session.expires_at;
        assert_eq!(
            directory.authenticate(&session.token, expiry).unwrap(),
            Err(AuthError::Expired)
        );
        assert!(directory.logout(&session.token).unwrap());
        assert_eq!(
            directory.authenticate(&session.token, T0).unwrap(),
            Err(AuthError::Unknown)
        );
        assert!(!directory.logout(&session.token).unwrap());

        // Everything survives reopening.
        drop(directory);
        let directory = super::Directory::open(
            &dir.path().join("directory.redb"),
            SessionOptions::default(),
        )
        .unwrap();
        assert_eq!(directory.staff(created.id).unwrap(), Some(created));
    }

    #[test]
    fn wrong_passwords_lock_the_account_for_a_while() {
        let dir = tempfile::tempdir().unwrap();
        let directory = directory(&dir);
        directory
            .create_staff(directory.first_merchant(), &admin(), T0)
            .unwrap()
            .unwrap();
        assert_eq!(
            directory
                .login("nobody", "correct horse", T0)
                .unwrap()
                .unwrap_err(),
            LoginError::WrongCredentials,
            "an unknown user looks like a wrong password"
        );
        for _ in 0..4 {
            assert_eq!(
                directory.login("admin", "wrong", T0).unwrap().unwrap_err(),
                LoginError::WrongCredentials
            );
        }
        let until = T0.plus_ms(SessionOptions::default().lockout_ms);
        assert_eq!(
            directory.login("admin", "wrong", T0).unwrap().unwrap_err(),
            LoginError::LockedOut { until }
        );
        // Locked: even the right password is refused until the time is up.
        assert_eq!(
            directory
                .login("admin", "correct horse", T0.plus_ms(1))
                .unwrap()
                .unwrap_err(),
            LoginError::LockedOut { until }
        );
        assert!(
            directory
                .login("admin", "correct horse", until)
                .unwrap()
                .is_ok()
        );
    }

    fn store_entry(code: &str) -> NewStore {
        NewStore {
            code: code.into(),
            name: "徐汇店".into(),
            kind: StoreKind::Direct,
            opened_on: Date::parse("2024-05-01").unwrap(),
            time_zone: "Asia/Shanghai".into(),
        }
    }

    fn staff_entry(username: &str, role: Role, scope: Scope) -> NewStaff {
        NewStaff {
            department: None,
            username: username.into(),
            display_name: username.into(),
            role,
            scope,
            password: "a long secret".into(),
        }
    }

    #[test]
    fn head_office_makes_stores_and_managers_make_cashiers_for_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let directory = directory(&dir);
        let boss = directory
            .create_staff(directory.first_merchant(), &admin(), T0)
            .unwrap()
            .unwrap();
        let a = directory
            .create_store(&boss, &store_entry("sh-1"), T0)
            .unwrap()
            .unwrap();
        let b = directory
            .create_store(&boss, &store_entry("SH-2"), T0)
            .unwrap()
            .unwrap();
        assert_eq!(a.code, "SH-1");
        assert_eq!(
            directory
                .create_store(&boss, &store_entry("SH-1"), T0)
                .unwrap(),
            Err(StoreError::CodeTaken("SH-1".into()))
        );

        let manager = directory
            .create_staff_by(
                &boss,
                &staff_entry("manager.a", Role::StoreManager, Scope::Stores(vec![a.id])),
                T0,
            )
            .unwrap()
            .unwrap();
        let cashier_a = staff_entry("cashier.a", Role::Cashier, Scope::Stores(vec![a.id]));
        let cashier_a = directory
            .create_staff_by(&manager, &cashier_a, T0)
            .unwrap()
            .unwrap();
        // Not for another store, not a manager, and not stores that do not exist.
        let forbidden = [
            staff_entry("cashier.b", Role::Cashier, Scope::Stores(vec![b.id])),
            staff_entry("cashier.ab", Role::Cashier, Scope::Stores(vec![a.id, b.id])),
            staff_entry("manager.b", Role::StoreManager, Scope::Stores(vec![a.id])),
            staff_entry("roamer", Role::Cashier, Scope::AllStores),
        ];
        for new in &forbidden {
            assert_eq!(
                directory.create_staff_by(&manager, new, T0).unwrap(),
                Err(StaffError::Forbidden),
                "{new:?}"
            );
        }
        assert_eq!(
            directory
                .create_staff_by(
                    &cashier_a,
                    &staff_entry("x.y", Role::Cashier, Scope::Stores(vec![a.id])),
                    T0
                )
                .unwrap(),
            Err(StaffError::Forbidden)
        );
        assert_eq!(
            directory
                .create_staff_by(
                    &boss,
                    &staff_entry("ghost", Role::Cashier, Scope::Stores(vec![StoreId(42)])),
                    T0
                )
                .unwrap(),
            Err(StaffError::UnknownStore)
        );
        assert_eq!(
            directory
                .create_store(&manager, &store_entry("SH-3"), T0)
                .unwrap(),
            Err(StoreError::Forbidden)
        );

        // Each sees what their scope covers.
        let codes = |actor: &Staff| -> Vec<String> {
            directory
                .stores(actor)
                .unwrap()
                .into_iter()
                .map(|s| s.code)
                .collect()
        };
        assert_eq!(codes(&boss), ["SH-1", "SH-2"]);
        assert_eq!(codes(&cashier_a), ["SH-1"]);
        assert_eq!(directory.store(&cashier_a, b.id).unwrap(), None);
        assert_eq!(directory.store(&cashier_a, a.id).unwrap(), Some(a));
        let names = |actor: &Staff| -> Vec<String> {
            directory
                .staff_list(actor)
                .unwrap()
                .into_iter()
                .map(|s| s.username)
                .collect()
        };
        assert_eq!(names(&boss), ["admin", "cashier.a", "manager.a"]);
        assert_eq!(names(&manager), ["cashier.a", "manager.a"]);
        assert_eq!(names(&cashier_a), ["cashier.a"]);
    }

    #[tokio::test]
    async fn kept_replies_come_back_until_they_expire() {
        let dir = tempfile::tempdir().unwrap();
        let directory = directory(&dir);
        let (key, other) = ([1u8; 32], [2u8; 32]);
        assert_eq!(directory.reply(&key, T0).unwrap(), None);
        directory
            .keep_reply(&key, &[9; 32], b"answer", T0, T0.plus_ms(1_000))
            .await
            .unwrap();
        assert_eq!(
            directory.reply(&key, T0).unwrap(),
            Some(([9; 32], b"answer".to_vec()))
        );
        assert_eq!(directory.reply(&key, T0.plus_ms(1_000)).unwrap(), None);
        // A later write drops the expired one for good.
        directory
            .keep_reply(
                &other,
                &[3; 32],
                b"later",
                T0.plus_ms(2_000),
                T0.plus_ms(9_000),
            )
            .await
            .unwrap();
        assert_eq!(directory.reply(&key, T0).unwrap(), None);
        assert!(
            directory
                .reply(&other, T0.plus_ms(2_000))
                .unwrap()
                .is_some()
        );
        // Opened again (a restart of the box), it still answers with what it kept.
        drop(directory);
        let directory = self::directory(&dir);
        assert_eq!(
            directory.reply(&other, T0.plus_ms(2_000)).unwrap(),
            Some(([3; 32], b"later".to_vec()))
        );
        assert_eq!(directory.reply(&key, T0).unwrap(), None);
    }

    #[tokio::test]
    async fn the_audit_log_pages_newest_first_for_head_office_only() {
        let dir = tempfile::tempdir().unwrap();
        let directory = directory(&dir);
        let boss = directory
            .create_staff(directory.first_merchant(), &admin(), T0)
            .unwrap()
            .unwrap();
        for i in 0..5u16 {
            // Same millisecond for all: the log still keeps every one, in order.
            directory
                .audit(&AuditEntry {
                    at: T0,
                    actor: Some(boss.id),
                    session: None,
                    action: format!("POST /x/{i}"),
                    status: 201,
                    remote: None,
                })
                .await
                .unwrap();
        }
        let page = directory.audit_log(&boss, None, 3).unwrap().unwrap();
        let actions: Vec<&str> = page.entries.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["POST /x/4", "POST /x/3", "POST /x/2"]);
        let page = directory.audit_log(&boss, page.next, 3).unwrap().unwrap();
        let actions: Vec<&str> = page.entries.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["POST /x/1", "POST /x/0"]);
        assert_eq!(page.next, None);
        let cashier = directory
            .create_staff(
                directory.first_merchant(),
                &staff_entry("cashier", Role::Cashier, Scope::AllStores),
                T0,
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            directory.audit_log(&cashier, None, 3).unwrap(),
            Err(AuditError::Forbidden)
        );
    }

    #[test]
    fn terminals_are_minted_for_a_store_and_revoked_for_good() {
        let dir = tempfile::tempdir().unwrap();
        let directory = directory(&dir);
        let boss = directory
            .create_staff(directory.first_merchant(), &admin(), T0)
            .unwrap()
            .unwrap();
        let a = directory
            .create_store(&boss, &store_entry("SH-1"), T0)
            .unwrap()
            .unwrap();
        let b = directory
            .create_store(&boss, &store_entry("SH-2"), T0)
            .unwrap()
            .unwrap();
        let manager = directory
            .create_staff_by(
                &boss,
                &staff_entry("manager.a", Role::StoreManager, Scope::Stores(vec![a.id])),
                T0,
            )
            .unwrap()
            .unwrap();
        let (till, token) = directory
            .create_terminal(&manager, a.id, " 收银台 1 ", T0)
            .unwrap()
            .unwrap();
        assert_eq!(till.name, "收银台 1");
        assert!(token.starts_with(TERMINAL_TOKEN_PREFIX));
        assert_eq!(
            directory.authenticate_terminal(&token).unwrap(),
            Ok(till.clone())
        );
        assert_eq!(
            directory
                .create_terminal(&manager, b.id, "收银台 1", T0)
                .unwrap(),
            Err(TerminalError::Forbidden)
        );
        assert_eq!(
            directory
                .create_terminal(&boss, StoreId(77), "收银台 1", T0)
                .unwrap(),
            Err(TerminalError::UnknownStore)
        );
        assert_eq!(
            directory.create_terminal(&boss, a.id, " ", T0).unwrap(),
            Err(TerminalError::Name)
        );
        // A terminal token is not a staff session.
        assert_eq!(
            directory.authenticate(&token, T0).unwrap(),
            Err(AuthError::Unknown)
        );

        let revoked = directory
            .revoke_terminal(&manager, till.id, T0.plus_ms(5))
            .unwrap()
            .unwrap();
        assert_eq!(revoked.revoked_at, Some(T0.plus_ms(5)));
        let again = directory
            .revoke_terminal(&boss, till.id, T0.plus_ms(9))
            .unwrap()
            .unwrap();
        assert_eq!(
            again.revoked_at,
            Some(T0.plus_ms(5)),
            "revoked once, for good"
        );
        assert_eq!(
            directory.authenticate_terminal(&token).unwrap(),
            Err(AuthError::Revoked)
        );
        assert_eq!(directory.terminals(&manager).unwrap().len(), 1);
        let cashier = directory
            .create_staff_by(
                &manager,
                &staff_entry("cashier.a", Role::Cashier, Scope::Stores(vec![a.id])),
                T0,
            )
            .unwrap()
            .unwrap();
        assert!(directory.terminals(&cashier).unwrap().is_empty());
        assert_eq!(
            directory.revoke_terminal(&cashier, till.id, T0).unwrap(),
            Err(TerminalError::UnknownTerminal)
        );
    }
}
