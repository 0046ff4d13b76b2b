//! The member book: members, cards, tiers, custom fields and service records in
//! `directory.redb`, with each member's balances in the ledger.
//!
//! Directory and ledger are two files, so a member is written in a fixed order: ledger accounts
//! first (derived ids: a retry names the same ones), then the record. A crash in between leaves
//! empty accounts nobody points at, never a member without accounts. Merge moves balances through
//! the ledger before the records change, for the same reason; run again, it finishes the job.

use std::sync::Arc;

use redb::{ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use tongka_ledger::{Account, Ledger, NewTransfer, TransferKind, UserData};

use crate::UnixMillis;
use crate::accounts::{self, MemberAccount, batch_error, transfer_code};
use crate::cache::DecodeMemo;
use crate::directory::{Directory, MERCHANTS, decode, encode, random_u128};
use crate::error::{DomainError, MemberError};
use crate::member::{
    Card, CardEvent, CardKind, CardStatus, Consent, CustomField, FieldError, Invalid, JoinChannel,
    Member, MemberId, MemberStatus, NewCard, NewMember, NewTier, Phone, Profile, ProfileEntry,
    ServiceRecord, Tier, TierId, card_number, short_text,
};
use crate::merchant::MerchantId;
use crate::staff::{Role, Staff, StaffId, StoreId};
use crate::store::Date;

const MEMBERS: TableDefinition<u128, &[u8]> = TableDefinition::new("members");
/// (merchant, normalised phone) → member.
const MEMBER_PHONES: TableDefinition<(u128, &str), u128> = TableDefinition::new("member_phones");
/// (merchant, card number) → member, for every card ever issued: a lost card's number stays
/// with its member and cannot be handed to someone else.
const MEMBER_CARDS: TableDefinition<(u128, &str), u128> = TableDefinition::new("member_cards");
/// (merchant, tag, member).
const MEMBER_TAGS: TableDefinition<(u128, &str, u128), ()> = TableDefinition::new("member_tags");
/// (merchant, home store, member).
const MEMBER_STORES: TableDefinition<(u128, u128, u128), ()> =
    TableDefinition::new("member_stores");
/// (merchant, member) → name (or ""): the list of members, in joining order, and what name
/// search scans without decoding records.
const MEMBER_LIST: TableDefinition<(u128, u128), &str> = TableDefinition::new("member_list");
const TIERS: TableDefinition<u128, &[u8]> = TableDefinition::new("tiers");
/// (merchant, key) → definition.
const CUSTOM_FIELDS: TableDefinition<(u128, &str), &[u8]> = TableDefinition::new("custom_fields");
/// (member, number) → record.
/// (member, sequence) → `TierChange`: every move between tiers, with why.
const TIER_HISTORY: TableDefinition<(u128, u64), &[u8]> = TableDefinition::new("tier_history");
const SERVICE_RECORDS: TableDefinition<(u128, u64), &[u8]> =
    TableDefinition::new("service_records");
/// (merchant, follow-up date, member, number): open follow-ups by day.
const FOLLOW_UPS: TableDefinition<(u128, &str, u128, u64), ()> = TableDefinition::new("follow_ups");

pub(crate) fn open_tables(txn: &WriteTransaction) -> Result<(), DomainError> {
    txn.open_table(MEMBERS)?;
    txn.open_table(MEMBER_PHONES)?;
    txn.open_table(MEMBER_CARDS)?;
    txn.open_table(MEMBER_TAGS)?;
    txn.open_table(MEMBER_STORES)?;
    txn.open_table(MEMBER_LIST)?;
    txn.open_table(TIERS)?;
    txn.open_table(CUSTOM_FIELDS)?;
    txn.open_table(SERVICE_RECORDS)?;
    txn.open_table(TIER_HISTORY)?;
    txn.open_table(FOLLOW_UPS)?;
    txn.open_table(MERCHANTS)?;
    Ok(())
}

/// The merchant's calendar: birthdays and follow-ups are China Standard Time days.
pub const MERCHANT_UTC_OFFSET_MINUTES: i32 = 8 * 60;

/// The most members one page holds.
pub const PAGE_LIMIT_MAX: usize = 100;
/// How many candidates one search page examines at most; past that it returns what it found with
/// a `next` to continue, so a rare filter cannot make one request scan a million records.
pub const SCAN_MAX: usize = 20_000;

/// What a member holds, in each asset's smallest unit: available = posted credits less posted and
/// pending debits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Balances {
    pub points: u128,
    pub principal_fen: u128,
    pub bonus_fen: u128,
    pub growth: u128,
    /// Points the member owes (积分欠账): taken back by a refund after they were spent, under
    /// the "negative balance" policy; their next earnings repay it first.
    #[serde(default)]
    pub points_owed: u128,
}

/// A member with their balances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberView {
    pub member: Member,
    pub balances: Balances,
}

/// What to look for. Phone and card are exact lookups; the rest filter a scan. Filters combine.
#[derive(Clone, Debug, Default)]
pub struct MemberQuery {
    pub phone: Option<String>,
    pub card: Option<String>,
    /// A fragment of the name, any case.
    pub name: Option<String>,
    pub tag: Option<String>,
    pub store: Option<StoreId>,
    /// Start after this member (the previous page's `next`).
    pub after: Option<MemberId>,
    pub limit: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberPage {
    pub members: Vec<Member>,
    /// Pass as `after` for the next page; `None` when there is no more.
    pub next: Option<MemberId>,
}

/// Changes to a member's profile. `None` leaves a field as it is; the profile as a whole is
/// checked again.
#[derive(Clone, Debug, Default)]
pub struct MemberPatch {
    pub profile: ProfileEntry,
    /// Which profile fields the patch sets (a field set to empty text clears it).
    pub fields: Vec<String>,
    pub home_store: Option<Option<StoreId>>,
    pub marketing_consent: Option<(bool, String)>,
}

/// A member's data as the PIPL export gives it: everything the box holds about them.
#[derive(Clone, Debug)]
pub struct MemberExport {
    pub view: MemberView,
    pub service_records: Vec<ServiceRecord>,
    pub transfers: Vec<(MemberAccount, tongka_ledger::Transfer)>,
}

type Outcome<T> = Result<Result<T, MemberError>, DomainError>;

/// Members and their balances: the directory for who they are, the ledger for what they hold.
#[derive(Clone, Debug)]
pub struct Members {
    directory: Arc<Directory>,
    ledger: Ledger,
    /// Members read lately, decoded: see `cache.rs`.
    decoded: Arc<DecodeMemo<MemberId, Member>>,
}

/// Members whose decoding is remembered, two generations of this many: far more than a chain's
/// tills have between a quote and its commit, and a few MiB at most (a record is ~700 bytes).
const DECODED_MEMBERS: usize = 1024;

/// Who may change a member: head office anyone; store staff members of their stores (or with no
/// home store yet). Departments read.
fn may_change(actor: &Staff, member: &Member) -> bool {
    if actor.merchant != member.merchant {
        return false;
    }
    match actor.role {
        Role::HqAdmin => true,
        Role::StoreManager | Role::Cashier => {
            member.home_store.is_none_or(|s| actor.scope.covers(s))
        }
        Role::Department => false,
    }
}

/// Who may browse a member in lists: staff whose scope covers the member's home store. Anyone of
/// the merchant finds any member by phone or card (会员全国通用).
fn may_browse(actor: &Staff, member: &Member) -> bool {
    actor.merchant == member.merchant
        && match member.home_store {
            None => true,
            Some(store) => actor.scope.covers(store),
        }
}

fn today(now: UnixMillis) -> Date {
    Date::at(now, MERCHANT_UTC_OFFSET_MINUTES)
}

impl Members {
    /// Sets up the ledger side (assets, the merchant's accounts) and returns the book.
    pub async fn open(directory: Arc<Directory>, ledger: Ledger) -> Result<Members, DomainError> {
        accounts::set_up(&ledger, directory.first_merchant()).await?;
        Ok(Members {
            directory,
            ledger,
            decoded: Arc::new(DecodeMemo::new(DECODED_MEMBERS)),
        })
    }

    pub fn directory(&self) -> &Arc<Directory> {
        &self.directory
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn db(&self) -> &redb::Database {
        &self.directory.db
    }

    /// The merchant's custom fields, by key.
    pub fn custom_fields(&self, merchant: MerchantId) -> Result<Vec<CustomField>, DomainError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(CUSTOM_FIELDS)?;
        let mut fields = Vec::new();
        for entry in table.range((merchant.0, "")..)? {
            let (key, bytes) = entry?;
            if key.value().0 != merchant.0 {
                break;
            }
            fields.push(decode("custom field", bytes.value())?);
        }
        Ok(fields)
    }

    /// Defines or redefines a custom field (head office). Values already stored stay as they are.
    pub fn define_custom_field(&self, actor: &Staff, field: &CustomField) -> Outcome<CustomField> {
        let field = match field.check_definition() {
            Ok(field) => field,
            Err(error) => return Ok(Err(error.into())),
        };
        if actor.role != Role::HqAdmin {
            return Ok(Err(MemberError::Forbidden));
        }
        let txn = self.db().begin_write()?;
        txn.open_table(CUSTOM_FIELDS)?.insert(
            (actor.merchant.0, field.key.as_str()),
            encode(&field)?.as_slice(),
        )?;
        txn.commit()?;
        Ok(Ok(field))
    }

    /// The merchant's tiers, lowest rank first.
    pub fn tiers(&self, merchant: MerchantId) -> Result<Vec<Tier>, DomainError> {
        let tiers = self.directory.tiers.get(merchant, || {
            let txn = self.db().begin_read()?;
            let table = txn.open_table(TIERS)?;
            let mut tiers = Vec::new();
            for entry in table.iter()? {
                let (_, bytes) = entry?;
                let tier: Tier = decode("tier", bytes.value())?;
                if tier.merchant == merchant {
                    tiers.push(tier);
                }
            }
            tiers.sort_by_key(|t| t.rank);
            Ok::<_, DomainError>(Some(tiers))
        })?;
        Ok(tiers.unwrap_or_default())
    }

    /// Creates a tier (`id` `None`) or replaces one (head office only). Rank and name are unique.
    pub fn put_tier(&self, actor: &Staff, id: Option<TierId>, new: &NewTier) -> Outcome<Tier> {
        let new = match new.check() {
            Ok(new) => new,
            Err(error) => return Ok(Err(error.into())),
        };
        if actor.role != Role::HqAdmin {
            return Ok(Err(MemberError::Forbidden));
        }
        let existing = self.tiers(actor.merchant)?;
        let id = match id {
            Some(id) if existing.iter().any(|t| t.id == id) => id,
            Some(_) => return Ok(Err(MemberError::UnknownTier)),
            None => TierId(random_u128()?),
        };
        if existing
            .iter()
            .any(|t| t.id != id && (t.rank == new.rank || t.name == new.name))
        {
            return Ok(Err(MemberError::TierTaken));
        }
        let tier = Tier {
            id,
            merchant: actor.merchant,
            name: new.name,
            rank: new.rank,
            discount_rate: new.discount_rate,
            points_rate: new.points_rate,
            thresholds: new.thresholds,
            upgrade_points: new.upgrade_points,
        };
        let txn = self.db().begin_write()?;
        txn.open_table(TIERS)?
            .insert(id.0, encode(&tier)?.as_slice())?;
        txn.commit()?;
        self.directory.tiers.changed();
        Ok(Ok(tier))
    }

    /// Creates a member with their ledger accounts and, if given, a first card.
    pub async fn create(
        &self,
        actor: &Staff,
        new: &NewMember,
        now: UnixMillis,
    ) -> Outcome<MemberView> {
        match self.prepare(actor, new, now)? {
            Ok(member) => self.insert_new(member, None).await,
            Err(error) => Ok(Err(error)),
        }
    }

    /// Writes a checked new member: accounts first, then the record.
    /// Writes a prepared member, and with `opened` (a till's card-opening order id and request
    /// fingerprint) which member that order made, in the same transaction.
    pub(crate) async fn insert_new(
        &self,
        member: Member,
        opened: Option<(&str, &str)>,
    ) -> Outcome<MemberView> {
        // Cheap uniqueness check before touching the ledger; repeated inside the write.
        if let Err(error) = self.check_unique(&member)? {
            return Ok(Err(error));
        }
        self.open_accounts(member.id).await?;
        let txn = self.db().begin_write()?;
        if let Err(error) = unique_in(&txn, &member)? {
            return Ok(Err(error));
        }
        put_member(&txn, None, &member)?;
        note_tier_in(
            &txn,
            None,
            &member,
            TierReason::Joined,
            (None, None),
            member.joined_at,
        )?;
        if let Some((order, print)) = opened {
            txn.open_table(crate::till::CARD_OPENINGS)?
                .insert((member.merchant.0, order), (member.id.0, print))?;
        }
        txn.commit()?;
        Ok(Ok(self.view(member)?))
    }

    /// A member a paired terminal of `store` would sign up, checked but not written: with a
    /// cashier's rights for that store (home store the terminal's, no tier choice), the terminal
    /// recorded as who did it. [`Members::insert_new`] writes it.
    pub(crate) fn prepare_at_till(
        &self,
        merchant: MerchantId,
        store: StoreId,
        terminal: crate::terminal::TerminalId,
        new: &NewMember,
        now: UnixMillis,
    ) -> Outcome<Member> {
        let cashier = Staff {
            id: StaffId(0),
            merchant,
            department: None,
            username: String::new(),
            display_name: String::new(),
            role: Role::Cashier,
            scope: crate::Scope::Stores(vec![store]),
            disabled: false,
            created_at: now,
        };
        let mut new = new.clone();
        new.home_store = Some(store);
        let mut member = match self.prepare(&cashier, &new, now)? {
            Ok(member) => member,
            Err(error) => return Ok(Err(error)),
        };
        // No staff member did it; the terminal did.
        member.created_by = None;
        member.created_at_terminal = Some(terminal);
        for card in &mut member.cards {
            for event in &mut card.history {
                event.by = None;
            }
        }
        Ok(Ok(member))
    }

    /// A member `actor` would create, checked (profile, scope, uniqueness) but not written.
    pub(crate) fn prepare(
        &self,
        actor: &Staff,
        new: &NewMember,
        now: UnixMillis,
    ) -> Outcome<Member> {
        let id = MemberId::from_parts(now, random_u128()?);
        let member = match self.check_new(actor, id, new, now, None)? {
            Ok(member) => member,
            Err(error) => return Ok(Err(error)),
        };
        if let Err(error) = self.check_unique(&member)? {
            return Ok(Err(error));
        }
        Ok(Ok(member))
    }

    /// The member with this phone number (as typed), at `merchant`.
    pub fn find_phone_of(&self, merchant: MerchantId, phone: &str) -> Outcome<MemberView> {
        let Some(phone) = Phone::parse(phone) else {
            return Ok(Err(FieldError::new("phone", Invalid::Phone).into()));
        };
        let txn = self.db().begin_read()?;
        let phones = txn.open_table(MEMBER_PHONES)?;
        let Some(id) = phones
            .get((merchant.0, phone.as_str()))?
            .map(|id| id.value())
        else {
            return Ok(Err(MemberError::UnknownMember));
        };
        drop(phones);
        drop(txn);
        match self.member_record(MemberId(id))? {
            Some(member) => Ok(Ok(self.view(member)?)),
            None => Err(DomainError::Corrupt(format!(
                "phone points at missing member {id:032x}"
            ))),
        }
    }

    async fn open_accounts(&self, id: MemberId) -> Result<(), DomainError> {
        let accounts = MemberAccount::ALL
            .into_iter()
            .map(|account| account.new_account(id))
            .collect();
        self.ledger
            .create_accounts(accounts)
            .await
            .map_err(batch_error)?;
        Ok(())
    }

    /// Everything about a new member that can be checked without writing.
    fn check_new(
        &self,
        actor: &Staff,
        id: MemberId,
        new: &NewMember,
        now: UnixMillis,
        forced_channel: Option<JoinChannel>,
    ) -> Outcome<Member> {
        let fields = self.custom_fields(actor.merchant)?;
        let profile = match new.profile.check(&fields, today(now)) {
            Ok(profile) => profile,
            Err(error) => return Ok(Err(error.into())),
        };
        let channel = match (forced_channel, new.channel.as_deref().map(str::trim)) {
            (Some(channel), _) => channel,
            (None, None | Some("")) => JoinChannel::Store,
            (None, Some(raw)) => match JoinChannel::parse(raw) {
                Some(channel) => channel,
                None => {
                    return Ok(Err(
                        FieldError::new("channel", JoinChannel::choices()).into()
                    ));
                }
            },
        };
        let consent_source = match short_text("consent_source", new.consent_source.as_deref(), 32) {
            Ok(source) => source.unwrap_or_else(|| channel.as_str().to_owned()),
            Err(error) => return Ok(Err(error.into())),
        };
        let card = match &new.card {
            None => None,
            Some(card) => match card.check("card") {
                Ok(card) => Some(card),
                Err(error) => return Ok(Err(error.into())),
            },
        };
        // A cashier of one store signs members up for that store unless told otherwise.
        let home_store = match (new.home_store, &actor.scope) {
            (Some(store), _) => Some(store),
            (None, crate::Scope::Stores(stores)) if stores.len() == 1 => stores.first().copied(),
            (None, _) => None,
        };
        if let Some(store) = home_store
            && self.directory.store(actor, store)?.is_none()
        {
            return Ok(Err(MemberError::UnknownStore));
        }
        if let Some(referrer) = new.referrer {
            match self.member_record(referrer)? {
                Some(r) if r.merchant == actor.merchant && r.status.is_live() => {}
                _ => return Ok(Err(MemberError::UnknownReferrer)),
            }
        }
        let tiers = self.tiers(actor.merchant)?;
        let tier = match new.tier {
            Some(tier) if tiers.iter().any(|t| t.id == tier) => {
                if actor.role != Role::HqAdmin {
                    return Ok(Err(MemberError::Forbidden));
                }
                Some(tier)
            }
            Some(_) => return Ok(Err(MemberError::UnknownTier)),
            None => tiers.first().map(|t| t.id),
        };
        let member = Member {
            id,
            merchant: actor.merchant,
            profile,
            home_store,
            referrer: new.referrer,
            channel: if new.referrer.is_some() && new.channel.is_none() && forced_channel.is_none()
            {
                JoinChannel::Referral
            } else {
                channel
            },
            consent: new.marketing_consent.map(|marketing| Consent {
                marketing,
                at: now,
                source: consent_source,
            }),
            status: MemberStatus::Active,
            tier,
            cards: card
                .map(|(number, kind)| {
                    vec![Card {
                        number,
                        kind,
                        status: CardStatus::Active,
                        issued_at: now,
                        history: vec![CardEvent {
                            at: now,
                            event: "issued".into(),
                            by: Some(actor.id),
                            note: None,
                        }],
                    }]
                })
                .unwrap_or_default(),
            joined_at: now,
            created_by: Some(actor.id),
            created_at_terminal: None,
        };
        if !may_change(actor, &member) {
            return Ok(Err(MemberError::Forbidden));
        }
        Ok(Ok(member))
    }

    fn check_unique(&self, member: &Member) -> Outcome<()> {
        let txn = self.db().begin_read()?;
        let phones = txn.open_table(MEMBER_PHONES)?;
        let cards = txn.open_table(MEMBER_CARDS)?;
        unique(&phones, &cards, member)
    }

    pub(crate) fn member_record(&self, id: MemberId) -> Result<Option<Member>, DomainError> {
        self.member_record_read(&self.db().begin_read()?, id)
    }

    /// A member as the read transaction `txn` sees her: for reads that need her and another
    /// record from one snapshot (a card and its holder, the till's member and her statistics).
    pub(crate) fn member_record_read(
        &self,
        txn: &ReadTransaction,
        id: MemberId,
    ) -> Result<Option<Member>, DomainError> {
        let table = txn.open_table(MEMBERS)?;
        table
            .get(id.0)?
            .map(|bytes| {
                self.decoded
                    .decode(id, bytes.value(), |bytes| decode("member", bytes))
            })
            .transpose()
    }

    fn view(&self, member: Member) -> Result<MemberView, DomainError> {
        let balances = self.balances(member.id)?;
        Ok(MemberView { member, balances })
    }

    pub fn balances(&self, id: MemberId) -> Result<Balances, DomainError> {
        let ids = [
            MemberAccount::Points.id(id),
            MemberAccount::Principal.id(id),
            MemberAccount::Bonus.id(id),
            MemberAccount::Growth.id(id),
            accounts::points_owed_id(id),
        ];
        let [points, principal, bonus, growth, owed] = self
            .ledger
            .accounts(&ids)?
            .try_into()
            .map_err(|_| DomainError::Corrupt("the ledger answered another count".into()))?;
        let available =
            |account: Option<Account>| account.map_or(0, |a| a.balance.available_to_debit());
        Ok(Balances {
            points: available(points),
            principal_fen: available(principal),
            bonus_fen: available(bonus),
            growth: available(growth),
            points_owed: owed.map_or(0, |a| {
                a.balance
                    .debits_posted
                    .saturating_sub(a.balance.credits_posted)
            }),
        })
    }

    /// A member of `actor`'s merchant, whatever their status.
    pub fn get(&self, actor: &Staff, id: MemberId) -> Outcome<MemberView> {
        match self.member_record(id)? {
            Some(member) if member.merchant == actor.merchant => Ok(Ok(self.view(member)?)),
            _ => Ok(Err(MemberError::UnknownMember)),
        }
    }

    /// The member a card number belongs to, with the card: what the till does on a scan.
    pub fn find_by_card(&self, actor: &Staff, number: &str) -> Outcome<(MemberView, Card)> {
        self.find_card_of(actor.merchant, number)
    }

    /// The member a card of `merchant` belongs to, with the card: for a terminal, which acts
    /// for its store rather than for a staff member.
    pub fn find_card_of(&self, merchant: MerchantId, number: &str) -> Outcome<(MemberView, Card)> {
        Ok(match self.card_holder(merchant, number)? {
            Ok((member, card)) => Ok((self.view(member)?, card)),
            Err(refused) => Err(refused),
        })
    }

    /// Whose card of `merchant` a number is, with the card, without their balances: what the
    /// till needs to know who an order is for.
    pub fn card_holder(&self, merchant: MerchantId, number: &str) -> Outcome<(Member, Card)> {
        let Ok(number) = card_number("card", number).or_else(|_| {
            crate::member::IdNumber::parse(number)
                .map(|id| id.as_str().to_owned())
                .ok_or(())
        }) else {
            return Ok(Err(MemberError::UnknownCard));
        };
        let txn = self.db().begin_read()?;
        let cards = txn.open_table(MEMBER_CARDS)?;
        let Some(id) = cards.get((merchant.0, number.as_str()))? else {
            return Ok(Err(MemberError::UnknownCard));
        };
        let id = MemberId(id.value());
        drop(cards);
        let Some(member) = self.member_record_read(&txn, id)? else {
            return Err(DomainError::Corrupt(format!(
                "card points at missing member {id}"
            )));
        };
        let Some(card) = member.cards.iter().find(|c| c.number == number).cloned() else {
            return Err(DomainError::Corrupt(format!(
                "member {id} lacks an indexed card"
            )));
        };
        Ok(Ok((member, card)))
    }

    /// Members matching `query`, in joining order.
    pub fn search(&self, actor: &Staff, query: &MemberQuery) -> Outcome<MemberPage> {
        let limit = query.limit.clamp(1, PAGE_LIMIT_MAX);
        let merchant = actor.merchant.0;
        let txn = self.db().begin_read()?;
        let members = txn.open_table(MEMBERS)?;
        let load = |id: u128| -> Result<Option<Member>, DomainError> {
            members
                .get(id)?
                .map(|bytes| decode("member", bytes.value()))
                .transpose()
        };
        // Exact lookups answer at once, whatever the caller's scope: the till finds any member.
        let exact = if let Some(phone) = query.phone.as_deref() {
            let Some(phone) = Phone::parse(phone) else {
                return Ok(Err(FieldError::new("phone", Invalid::Phone).into()));
            };
            let phones = txn.open_table(MEMBER_PHONES)?;
            Some(phones.get((merchant, phone.as_str()))?.map(|id| id.value()))
        } else if let Some(number) = query.card.as_deref() {
            let number = number.trim().to_ascii_uppercase();
            let cards = txn.open_table(MEMBER_CARDS)?;
            Some(cards.get((merchant, number.as_str()))?.map(|id| id.value()))
        } else {
            None
        };
        if let Some(found) = exact {
            let found = match found {
                Some(id) => load(id)?,
                None => None,
            };
            let members = found
                .into_iter()
                .filter(|m| matches(m, query, true))
                .collect();
            return Ok(Ok(MemberPage {
                members,
                next: None,
            }));
        }
        if let Some(store) = query.store
            && !actor.scope.covers(store)
        {
            return Ok(Err(MemberError::Forbidden));
        }
        let start = query.after.map_or(0, |a| a.0.saturating_add(1));
        let name = query.name.as_deref().map(str::to_lowercase);
        let mut found = Vec::new();
        let mut scanned = 0usize;
        let mut last = None;
        // `indexed_name`: the name from the list index, which name search reads instead of the
        // record.
        let mut consider = |id: u128,
                            indexed_name: Option<&str>,
                            found: &mut Vec<Member>|
         -> Result<bool, DomainError> {
            scanned += 1;
            last = Some(MemberId(id));
            let name_may_match = match (&name, indexed_name) {
                (Some(fragment), Some(indexed)) => {
                    indexed.to_lowercase().contains(fragment.as_str())
                }
                _ => true,
            };
            if name_may_match
                && let Some(member) = load(id)?
                && member.status.is_live()
                && may_browse(actor, &member)
                && matches(&member, query, false)
            {
                found.push(member);
            }
            Ok(found.len() > limit || scanned >= SCAN_MAX)
        };
        if let Some(tag) = query.tag.as_deref() {
            let tags = txn.open_table(MEMBER_TAGS)?;
            for entry in tags.range((merchant, tag, start)..=(merchant, tag, u128::MAX))? {
                if consider(entry?.0.value().2, None, &mut found)? {
                    break;
                }
            }
        } else if let Some(store) = query.store {
            let stores = txn.open_table(MEMBER_STORES)?;
            for entry in
                stores.range((merchant, store.0, start)..=(merchant, store.0, u128::MAX))?
            {
                if consider(entry?.0.value().2, None, &mut found)? {
                    break;
                }
            }
        } else {
            let list = txn.open_table(MEMBER_LIST)?;
            for entry in list.range((merchant, start)..=(merchant, u128::MAX))? {
                let (key, indexed_name) = entry?;
                if consider(key.value().1, Some(indexed_name.value()), &mut found)? {
                    break;
                }
            }
        }
        let next = if found.len() > limit {
            found.truncate(limit);
            found.last().map(|m| m.id)
        } else if scanned >= SCAN_MAX {
            last
        } else {
            None
        };
        Ok(Ok(MemberPage {
            members: found,
            next,
        }))
    }

    /// Changes a member's profile, home store or consent.
    pub fn update(
        &self,
        actor: &Staff,
        id: MemberId,
        patch: &MemberPatch,
        now: UnixMillis,
    ) -> Outcome<MemberView> {
        let fields = self.custom_fields(actor.merchant)?;
        let directory = &self.directory;
        self.change(actor, id, |member| {
            let mut entry = entry_of(&member.profile);
            let set = |name: &str| patch.fields.iter().any(|f| f == name);
            let p = &patch.profile;
            macro_rules! take {
                ($($field:ident),*) => {$(
                    if set(stringify!($field)) { entry.$field = p.$field.clone(); }
                )*};
            }
            take!(
                name,
                phone,
                gender,
                birthday,
                anniversaries,
                occupation,
                id_number,
                tags,
                notes
            );
            if set("custom") {
                for (key, value) in &p.custom {
                    entry.custom.insert(key.clone(), value.clone());
                }
            }
            member.profile = entry.check(&fields, today(now))?;
            // Blank custom values clear the field.
            member
                .profile
                .custom
                .retain(|key, _| !p.custom.get(key).is_some_and(|v| v.trim().is_empty()));
            if let Some(store) = patch.home_store {
                if let Some(store) = store
                    && directory
                        .store(actor, store)
                        .map_err(|_| MemberError::UnknownStore)?
                        .is_none()
                {
                    return Err(MemberError::UnknownStore);
                }
                member.home_store = store;
            }
            if let Some((marketing, source)) = &patch.marketing_consent {
                let source = short_text("consent_source", Some(source), 32)?
                    .unwrap_or_else(|| "store".to_owned());
                member.consent = Some(Consent {
                    marketing: *marketing,
                    at: now,
                    source,
                });
            }
            Ok(())
        })
    }

    /// Freezes (`true`) or unfreezes a member: head office, or a manager of the home store.
    pub fn set_frozen(&self, actor: &Staff, id: MemberId, frozen: bool) -> Outcome<MemberView> {
        if !matches!(actor.role, Role::HqAdmin | Role::StoreManager) {
            return Ok(Err(MemberError::Forbidden));
        }
        self.change(actor, id, |member| {
            member.status = if frozen {
                MemberStatus::Frozen
            } else {
                MemberStatus::Active
            };
            Ok(())
        })
    }

    /// Moves a member to a tier by hand (head office).
    pub fn set_tier(
        &self,
        actor: &Staff,
        id: MemberId,
        tier: TierId,
        now: UnixMillis,
    ) -> Outcome<MemberView> {
        if actor.role != Role::HqAdmin {
            return Ok(Err(MemberError::Forbidden));
        }
        if !self.tiers(actor.merchant)?.iter().any(|t| t.id == tier) {
            return Ok(Err(MemberError::UnknownTier));
        }
        let manual = (TierReason::Manual, now);
        self.change_noting(actor, id, Some(manual), |member| {
            member.tier = Some(tier);
            Ok(())
        })
    }

    /// A member's moves between tiers, oldest first, with why each happened.
    pub fn tier_history(&self, actor: &Staff, id: MemberId) -> Outcome<Vec<TierChange>> {
        if let Err(error) = self.get(actor, id)? {
            return Ok(Err(error));
        }
        let txn = self.db().begin_read()?;
        let table = txn.open_table(TIER_HISTORY)?;
        let changes = table
            .range((id.0, 0)..=(id.0, u64::MAX))?
            .map(|entry| {
                let (_, value) = entry?;
                decode("tier change", value.value())
            })
            .collect::<Result<Vec<TierChange>, DomainError>>()?;
        Ok(Ok(changes))
    }

    /// Issues another card to a member.
    pub fn add_card(
        &self,
        actor: &Staff,
        id: MemberId,
        card: &NewCard,
        now: UnixMillis,
    ) -> Outcome<MemberView> {
        let (number, kind) = match card.check("card") {
            Ok(card) => card,
            Err(error) => return Ok(Err(error.into())),
        };
        self.change(actor, id, |member| {
            member
                .cards
                .push(new_card(number.clone(), kind, actor, now, None));
            Ok(())
        })
    }

    /// Reports a card lost (挂失): it no longer finds the member at the till.
    pub fn report_lost(
        &self,
        actor: &Staff,
        id: MemberId,
        number: &str,
        now: UnixMillis,
    ) -> Outcome<MemberView> {
        let number = number.trim().to_ascii_uppercase();
        self.change(actor, id, |member| {
            let card = member
                .cards
                .iter_mut()
                .find(|c| c.number == number)
                .ok_or(MemberError::UnknownCard)?;
            if card.status != CardStatus::Active {
                return Err(MemberError::CardNotActive(card.status.as_str()));
            }
            card.status = CardStatus::Lost;
            card.history.push(CardEvent {
                at: now,
                event: "lost".into(),
                by: Some(actor.id),
                note: None,
            });
            Ok(())
        })
    }

    /// Reissues a card (补卡): the old one (lost or active) is replaced by a new number.
    pub fn reissue(
        &self,
        actor: &Staff,
        id: MemberId,
        old: &str,
        new: &NewCard,
        now: UnixMillis,
    ) -> Outcome<MemberView> {
        let old = old.trim().to_ascii_uppercase();
        let (number, kind) = match new.check("card") {
            Ok(card) => card,
            Err(error) => return Ok(Err(error.into())),
        };
        self.change(actor, id, |member| {
            let card = member
                .cards
                .iter_mut()
                .find(|c| c.number == old)
                .ok_or(MemberError::UnknownCard)?;
            if card.status == CardStatus::Replaced {
                return Err(MemberError::CardNotActive(card.status.as_str()));
            }
            card.status = CardStatus::Replaced;
            card.history.push(CardEvent {
                at: now,
                event: "replaced".into(),
                by: Some(actor.id),
                note: Some(number.clone()),
            });
            member.cards.push(new_card(
                number.clone(),
                kind,
                actor,
                now,
                Some(old.clone()),
            ));
            Ok(())
        })
    }

    /// Reads a live member, lets `edit` change it, checks uniqueness and writes it back with its
    /// indexes, in one transaction.
    fn change(
        &self,
        actor: &Staff,
        id: MemberId,
        edit: impl FnOnce(&mut Member) -> Result<(), MemberError>,
    ) -> Outcome<MemberView> {
        self.change_noting(actor, id, None, edit)
    }

    /// `change`, noting a tier change (if the edit made one) in the tier history as `tier`
    /// says: why and when; the acting staff member is named.
    fn change_noting(
        &self,
        actor: &Staff,
        id: MemberId,
        tier: Option<(TierReason, UnixMillis)>,
        edit: impl FnOnce(&mut Member) -> Result<(), MemberError>,
    ) -> Outcome<MemberView> {
        let txn = self.db().begin_write()?;
        let before = match member_in(&txn, actor, id)? {
            Ok(member) => member,
            Err(error) => return Ok(Err(error)),
        };
        if !before.status.is_live() {
            return Ok(Err(MemberError::NotLive));
        }
        if !may_change(actor, &before) {
            return Ok(Err(MemberError::Forbidden));
        }
        let mut after = before.clone();
        if let Err(error) = edit(&mut after) {
            return Ok(Err(error));
        }
        if !may_change(actor, &after) {
            return Ok(Err(MemberError::Forbidden));
        }
        if let Err(error) = unique_in(&txn, &after)? {
            return Ok(Err(error));
        }
        put_member(&txn, Some(&before), &after)?;
        if let Some((reason, at)) = tier {
            note_tier_in(
                &txn,
                before.tier,
                &after,
                reason,
                (None, Some(actor.id)),
                at,
            )?;
        }
        txn.commit()?;
        Ok(Ok(self.view(after)?))
    }

    /// Merges `from` into `into` (head office): balances move through the ledger, cards and tags
    /// move over, `into` fills blanks of its profile from `from`, and `from` is left merged.
    /// Safe to run again after a crash: it finishes what it started.
    pub async fn merge(
        &self,
        actor: &Staff,
        into: MemberId,
        from: MemberId,
        now: UnixMillis,
    ) -> Outcome<MemberView> {
        if actor.role != Role::HqAdmin {
            return Ok(Err(MemberError::Forbidden));
        }
        if into == from {
            return Ok(Err(MemberError::SameMember));
        }
        let (target, source) = match (self.member_record(into)?, self.member_record(from)?) {
            (Some(t), Some(s)) if t.merchant == actor.merchant && s.merchant == actor.merchant => {
                (t, s)
            }
            _ => return Ok(Err(MemberError::UnknownMember)),
        };
        if !target.status.is_live() {
            return Ok(Err(MemberError::NotLive));
        }
        if let MemberStatus::Merged { into: done, .. } = source.status
            && done == into
        {
            return Ok(Ok(self.view(target)?));
        }
        if !source.status.is_live() {
            return Ok(Err(MemberError::NotLive));
        }
        // Every balance moves whole; a hold on the source would be stranded.
        let mut transfers = Vec::new();
        for account in MemberAccount::ALL {
            let Some(balance) = self.ledger.balance(account.id(from))? else {
                continue;
            };
            if balance.debits_pending > 0 || balance.credits_pending > 0 {
                return Ok(Err(MemberError::HoldsOpen));
            }
            let amount = balance.available_to_debit();
            if amount > 0 {
                transfers.push(NewTransfer {
                    id: accounts::transfer_id(b"merge", from.0, account.code()),
                    kind: TransferKind::Posted {
                        debit: account.id(from),
                        credit: account.id(into),
                        amount,
                    },
                    code: transfer_code::MERGE,
                    user_data: UserData {
                        u128: into.0,
                        u64: 0,
                        u32: 0,
                    },
                });
            }
        }
        self.open_accounts(into).await?;
        // A points debt moves too: the member kept owes it.
        let owed_from = accounts::points_owed_id(from);
        let owed = self.ledger.balance(owed_from)?;
        if let Some(owed) = owed.map(|b| b.debits_posted.saturating_sub(b.credits_posted))
            && owed > 0
        {
            self.ledger
                .create_accounts(vec![accounts::points_owed_account(into)])
                .await
                .map_err(batch_error)?;
            transfers.push(NewTransfer {
                id: accounts::transfer_id(b"merge", from.0, accounts::POINTS_OWED_CODE),
                kind: TransferKind::Posted {
                    debit: accounts::points_owed_id(into),
                    credit: owed_from,
                    amount: owed,
                },
                code: transfer_code::MERGE,
                user_data: UserData {
                    u128: into.0,
                    u64: 0,
                    u32: 0,
                },
            });
        }
        if !transfers.is_empty() {
            self.ledger
                .create_transfers(transfers)
                .await
                .map_err(batch_error)?;
        }
        let tiers = self.tiers(actor.merchant)?;
        let mut source_accounts: Vec<_> = MemberAccount::ALL.iter().map(|a| a.id(from)).collect();
        if owed.is_some() {
            source_accounts.push(owed_from);
        }
        self.ledger
            .close_accounts(source_accounts)
            .await
            .map_err(batch_error)?;

        let txn = self.db().begin_write()?;
        let (target_before, source_before) = {
            let table = txn.open_table(MEMBERS)?;
            let load = |id: MemberId| -> Result<Member, DomainError> {
                let bytes = table
                    .get(id.0)?
                    .ok_or_else(|| DomainError::Corrupt(format!("member {id} vanished")))?;
                decode("member", bytes.value())
            };
            (load(into)?, load(from)?)
        };
        let mut target = target_before.clone();
        let mut source = source_before.clone();
        for mut card in std::mem::take(&mut source.cards) {
            card.history.push(CardEvent {
                at: now,
                event: "moved".into(),
                by: Some(actor.id),
                note: Some(from.to_string()),
            });
            target.cards.push(card);
        }
        for tag in std::mem::take(&mut source.profile.tags) {
            if !target.profile.tags.contains(&tag)
                && target.profile.tags.len() < crate::member::TAGS_MAX
            {
                target.profile.tags.push(tag);
            }
        }
        let (t, s) = (&mut target.profile, &mut source.profile);
        macro_rules! fill {
            ($($field:ident),*) => {$(
                if t.$field.is_none() { t.$field = s.$field.take(); }
            )*};
        }
        fill!(name, phone, gender, birthday, occupation, id_number, notes);
        for (key, value) in std::mem::take(&mut s.custom) {
            t.custom.entry(key).or_insert(value);
        }
        if target.home_store.is_none() {
            target.home_store = source.home_store;
        }
        // One person, one tier: the better of the two cards' (a tier since withdrawn counts
        // for nothing).
        let rank = |tier: Option<TierId>| {
            tier.and_then(|id| tiers.iter().find(|t| t.id == id))
                .map(|t| t.rank)
        };
        if rank(source.tier) > rank(target.tier) {
            target.tier = source.tier;
        }
        // The source keeps its name so the merge stays readable in its history; its phone, cards
        // and tags now belong to the target.
        s.phone = None;
        source.status = MemberStatus::Merged { into, at: now };
        put_member(&txn, Some(&source_before), &source)?;
        if let Err(error) = unique_in(&txn, &target)? {
            return Ok(Err(error));
        }
        put_member(&txn, Some(&target_before), &target)?;
        note_tier_in(
            &txn,
            target_before.tier,
            &target,
            TierReason::Merged,
            (None, Some(actor.id)),
            now,
        )?;
        txn.commit()?;
        Ok(Ok(self.view(target)?))
    }

    /// Erases a member's personal data on request (PIPL, head office): profile, cards, consent,
    /// service notes and kept idempotent answers that show them go; the id, the status and the ledger's money history stay, so the books
    /// still balance. Balances are not touched: settle them with the member first.
    pub fn erase(&self, actor: &Staff, id: MemberId, now: UnixMillis) -> Outcome<MemberView> {
        if actor.role != Role::HqAdmin {
            return Ok(Err(MemberError::Forbidden));
        }
        let txn = self.db().begin_write()?;
        let before = match member_in(&txn, actor, id)? {
            Ok(member) => member,
            Err(error) => return Ok(Err(error)),
        };
        let mut after = before.clone();
        after.profile = Profile::default();
        after.cards.clear();
        after.consent = None;
        after.referrer = None;
        after.status = MemberStatus::Erased { at: now };
        put_member(&txn, Some(&before), &after)?;
        Directory::forget_replies_mentioning(&txn, id.to_string().as_bytes())?;
        {
            let mut records = txn.open_table(SERVICE_RECORDS)?;
            let mut follow_ups = txn.open_table(FOLLOW_UPS)?;
            let mut kept = Vec::new();
            for entry in records.range((id.0, 0)..=(id.0, u64::MAX))? {
                let (_, bytes) = entry?;
                kept.push(decode::<ServiceRecord>("service record", bytes.value())?);
            }
            for mut record in kept {
                if let Some(day) = record.follow_up_on {
                    follow_ups.remove((
                        before.merchant.0,
                        day.to_string().as_str(),
                        id.0,
                        record.number,
                    ))?;
                }
                record.note = String::new();
                record.follow_up_on = None;
                records.insert((id.0, record.number), encode(&record)?.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(Ok(self.view(after)?))
    }

    /// Everything held about a member, for a PIPL access request (head office).
    pub fn export(&self, actor: &Staff, id: MemberId) -> Outcome<MemberExport> {
        if actor.role != Role::HqAdmin {
            return Ok(Err(MemberError::Forbidden));
        }
        let view = match self.get(actor, id)? {
            Ok(view) => view,
            Err(error) => return Ok(Err(error)),
        };
        let service_records = self.service_records_of(id)?;
        let mut transfers = Vec::new();
        for account in MemberAccount::ALL {
            let mut from = None;
            loop {
                let page = self.ledger.account_transfers(account.id(id), from, 1_000)?;
                transfers.extend(page.transfers.into_iter().map(|t| (account, t)));
                match page.next {
                    Some(next) => from = Some(next),
                    None => break,
                }
            }
        }
        Ok(Ok(MemberExport {
            view,
            service_records,
            transfers,
        }))
    }

    fn service_records_of(&self, id: MemberId) -> Result<Vec<ServiceRecord>, DomainError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(SERVICE_RECORDS)?;
        let mut records = Vec::new();
        for entry in table.range((id.0, 0)..=(id.0, u64::MAX))? {
            records.push(decode("service record", entry?.1.value())?);
        }
        Ok(records)
    }

    /// A member's service records, oldest first.
    pub fn service_records(&self, actor: &Staff, id: MemberId) -> Outcome<Vec<ServiceRecord>> {
        if let Err(error) = self.get(actor, id)? {
            return Ok(Err(error));
        }
        Ok(Ok(self.service_records_of(id)?))
    }

    /// Records a service given to a member, with an optional day to follow up (回访).
    pub fn add_service_record(
        &self,
        actor: &Staff,
        id: MemberId,
        note: &str,
        follow_up_on: Option<&str>,
        now: UnixMillis,
    ) -> Outcome<ServiceRecord> {
        let note = match crate::member::required_text("note", note, crate::member::NOTES_CHARS_MAX)
        {
            Ok(note) => note,
            Err(error) => return Ok(Err(error.into())),
        };
        let follow_up_on = match follow_up_on.map(|d| crate::member::date("follow_up_on", d)) {
            None => None,
            Some(Ok(day)) => Some(day),
            Some(Err(error)) => return Ok(Err(error.into())),
        };
        let member = match self.get(actor, id)? {
            Ok(view) => view.member,
            Err(error) => return Ok(Err(error)),
        };
        if !member.status.is_live() {
            return Ok(Err(MemberError::NotLive));
        }
        let store = match &actor.scope {
            crate::Scope::Stores(stores) if stores.len() == 1 => stores.first().copied(),
            _ => member.home_store,
        };
        let txn = self.db().begin_write()?;
        let record = {
            let mut records = txn.open_table(SERVICE_RECORDS)?;
            let number = records
                .range((id.0, 0)..=(id.0, u64::MAX))?
                .next_back()
                .transpose()?
                .map_or(1, |(key, _)| key.value().1 + 1);
            let record = ServiceRecord {
                member: id,
                number,
                at: now,
                by: Some(actor.id),
                store,
                note,
                follow_up_on,
                done_at: None,
            };
            records.insert((id.0, number), encode(&record)?.as_slice())?;
            if let Some(day) = follow_up_on {
                txn.open_table(FOLLOW_UPS)?.insert(
                    (member.merchant.0, day.to_string().as_str(), id.0, number),
                    (),
                )?;
            }
            record
        };
        txn.commit()?;
        Ok(Ok(record))
    }

    /// Marks a follow-up done: it leaves the list of follow-ups due.
    pub fn complete_follow_up(
        &self,
        actor: &Staff,
        id: MemberId,
        number: u64,
        now: UnixMillis,
    ) -> Outcome<ServiceRecord> {
        if let Err(error) = self.get(actor, id)? {
            return Ok(Err(error));
        }
        let txn = self.db().begin_write()?;
        let record = {
            let mut records = txn.open_table(SERVICE_RECORDS)?;
            let Some(bytes) = records.get((id.0, number))?.map(|b| b.value().to_vec()) else {
                return Ok(Err(MemberError::UnknownRecord));
            };
            let mut record: ServiceRecord = decode("service record", &bytes)?;
            if record.done_at.is_none() {
                record.done_at = Some(now);
                records.insert((id.0, number), encode(&record)?.as_slice())?;
                if let Some(day) = record.follow_up_on {
                    txn.open_table(FOLLOW_UPS)?.remove((
                        actor.merchant.0,
                        day.to_string().as_str(),
                        id.0,
                        number,
                    ))?;
                }
            }
            record
        };
        txn.commit()?;
        Ok(Ok(record))
    }

    /// Open follow-ups due on or before `due_by`, oldest first, for members `actor` may browse.
    pub fn follow_ups_due(
        &self,
        actor: &Staff,
        due_by: Date,
        limit: usize,
    ) -> Result<Vec<(ServiceRecord, Member)>, DomainError> {
        let limit = limit.clamp(1, PAGE_LIMIT_MAX);
        let txn = self.db().begin_read()?;
        let due = txn.open_table(FOLLOW_UPS)?;
        let records = txn.open_table(SERVICE_RECORDS)?;
        let members = txn.open_table(MEMBERS)?;
        let merchant = actor.merchant.0;
        let last_day = due_by.to_string();
        let mut list = Vec::new();
        for entry in
            due.range((merchant, "", 0, 0)..=(merchant, last_day.as_str(), u128::MAX, u64::MAX))?
        {
            let (key, _) = entry?;
            let (_, _, member, number) = key.value();
            let (Some(record), Some(member)) =
                (records.get((member, number))?, members.get(member)?)
            else {
                return Err(DomainError::Corrupt("follow-up without its record".into()));
            };
            let record: ServiceRecord = decode("service record", record.value())?;
            let member: Member = decode("member", member.value())?;
            let store_visible = match record.store.or(member.home_store) {
                Some(store) => actor.scope.covers(store),
                None => true,
            };
            if store_visible {
                list.push((record, member));
                if list.len() >= limit {
                    break;
                }
            }
        }
        Ok(list)
    }

    pub(crate) fn check_import_row(
        &self,
        actor: &Staff,
        id: MemberId,
        new: &NewMember,
        now: UnixMillis,
    ) -> Outcome<Member> {
        let member = match self.check_new(actor, id, new, now, Some(JoinChannel::Import))? {
            Ok(member) => member,
            Err(error) => return Ok(Err(error)),
        };
        if self.member_record(id)?.is_some() {
            return Ok(Ok(member));
        }
        Ok(self.check_unique(&member)?.map(|()| member))
    }

    /// Writes checked import rows: accounts in the ledger, then the records, many per
    /// transaction, skipping members a previous run already wrote. Returns how many were new.
    pub(crate) async fn put_imported(&self, members: &[Member]) -> Outcome<usize> {
        const CHUNK: usize = 1_000;
        let mut created = 0;
        for chunk in members.chunks(CHUNK) {
            let accounts = chunk
                .iter()
                .flat_map(|m| MemberAccount::ALL.map(|a| a.new_account(m.id)))
                .collect();
            self.ledger
                .create_accounts(accounts)
                .await
                .map_err(batch_error)?;
            let txn = self.db().begin_write()?;
            for member in chunk {
                if txn.open_table(MEMBERS)?.get(member.id.0)?.is_some() {
                    continue;
                }
                if let Err(error) = unique_in(&txn, member)? {
                    return Ok(Err(error));
                }
                put_member(&txn, None, member)?;
                note_tier_in(
                    &txn,
                    None,
                    member,
                    TierReason::Imported,
                    (None, None),
                    member.joined_at,
                )?;
                created += 1;
            }
            txn.commit()?;
        }
        Ok(Ok(created))
    }

    /// Every live member of `actor`'s merchant they may browse, in joining order, `batch` at a
    /// time through `each`: the CSV export.
    pub fn for_each_member(
        &self,
        actor: &Staff,
        mut each: impl FnMut(&MemberView) -> Result<(), DomainError>,
    ) -> Result<(), DomainError> {
        let txn = self.db().begin_read()?;
        let list = txn.open_table(MEMBER_LIST)?;
        let members = txn.open_table(MEMBERS)?;
        let merchant = actor.merchant.0;
        for entry in list.range((merchant, 0)..=(merchant, u128::MAX))? {
            let (key, _) = entry?;
            let Some(bytes) = members.get(key.value().1)? else {
                continue;
            };
            let member: Member = decode("member", bytes.value())?;
            if member.status.is_live() && may_browse(actor, &member) {
                each(&self.view(member)?)?;
            }
        }
        Ok(())
    }
}

/// The member `id` read inside `txn`, if it is one of `actor`'s merchant: another merchant's
/// member does not exist for them.
fn member_in(txn: &WriteTransaction, actor: &Staff, id: MemberId) -> Outcome<Member> {
    let table = txn.open_table(MEMBERS)?;
    let Some(bytes) = table.get(id.0)? else {
        return Ok(Err(MemberError::UnknownMember));
    };
    let member: Member = decode("member", bytes.value())?;
    if member.merchant != actor.merchant {
        return Ok(Err(MemberError::UnknownMember));
    }
    Ok(Ok(member))
}

fn new_card(
    number: String,
    kind: CardKind,
    actor: &Staff,
    now: UnixMillis,
    replaces: Option<String>,
) -> Card {
    Card {
        number,
        kind,
        status: CardStatus::Active,
        issued_at: now,
        history: vec![CardEvent {
            at: now,
            event: "issued".into(),
            by: Some(actor.id),
            note: replaces,
        }],
    }
}

/// Whether `member` passes the query's filters. `exact`: found by phone or card, so the scan
/// filters that drove nothing still apply but scope does not.
fn matches(member: &Member, query: &MemberQuery, exact: bool) -> bool {
    let name_ok = query.name.as_deref().is_none_or(|fragment| {
        member
            .profile
            .name
            .as_deref()
            .is_some_and(|name| name.to_lowercase().contains(&fragment.to_lowercase()))
    });
    let tag_ok = query
        .tag
        .as_deref()
        .is_none_or(|tag| member.profile.tags.iter().any(|t| t == tag));
    let store_ok = query.store.is_none_or(|s| member.home_store == Some(s));
    let live = !exact || !matches!(member.status, MemberStatus::Erased { .. });
    name_ok && tag_ok && store_ok && live
}

/// The entry a stored profile came from: where a patch starts.
fn entry_of(profile: &Profile) -> ProfileEntry {
    ProfileEntry {
        name: profile.name.clone(),
        phone: profile.phone.as_ref().map(|p| p.as_str().to_owned()),
        gender: profile.gender.map(|g| g.as_str().to_owned()),
        birthday: profile.birthday.map(|d| d.to_string()),
        anniversaries: profile
            .anniversaries
            .iter()
            .map(|a| (a.label.clone(), a.date.to_string()))
            .collect(),
        occupation: profile.occupation.clone(),
        id_number: profile.id_number.as_ref().map(|i| i.as_str().to_owned()),
        tags: profile.tags.clone(),
        notes: profile.notes.clone(),
        custom: profile.custom.clone(),
    }
}

fn unique(
    phones: &impl ReadableTable<(u128, &'static str), u128>,
    cards: &impl ReadableTable<(u128, &'static str), u128>,
    member: &Member,
) -> Outcome<()> {
    let merchant = member.merchant.0;
    if let Some(phone) = &member.profile.phone
        && let Some(owner) = phones.get((merchant, phone.as_str()))?
        && owner.value() != member.id.0
    {
        return Ok(Err(MemberError::PhoneTaken));
    }
    for card in &member.cards {
        if let Some(owner) = cards.get((merchant, card.number.as_str()))?
            && owner.value() != member.id.0
        {
            return Ok(Err(MemberError::CardTaken(card.display_number())));
        }
    }
    let mut numbers: Vec<&str> = member.cards.iter().map(|c| c.number.as_str()).collect();
    numbers.sort_unstable();
    if let Some(pair) = numbers.windows(2).find(|pair| pair[0] == pair[1]) {
        return Ok(Err(MemberError::CardTaken(pair[0].to_owned())));
    }
    Ok(Ok(()))
}

fn unique_in(txn: &WriteTransaction, member: &Member) -> Outcome<()> {
    let phones = txn.open_table(MEMBER_PHONES)?;
    let cards = txn.open_table(MEMBER_CARDS)?;
    unique(&phones, &cards, member)
}

impl Members {
    /// A member as `txn` sees it.
    pub(crate) fn member_record_in(
        &self,
        txn: &WriteTransaction,
        id: MemberId,
    ) -> Result<Option<Member>, DomainError> {
        let table = txn.open_table(MEMBERS)?;
        table
            .get(id.0)?
            .map(|bytes| decode("member", bytes.value()))
            .transpose()
    }

    /// Writes a member changed by another part of the crate (the till's tier changes).
    pub(crate) fn note_tier_in(
        &self,
        txn: &WriteTransaction,
        from: Option<TierId>,
        after: &Member,
        reason: TierReason,
        order: Option<&str>,
        at: UnixMillis,
    ) -> Result<(), DomainError> {
        note_tier_in(txn, from, after, reason, (order, None), at)
    }

    /// When the member's tier last changed, if it ever did.
    pub(crate) fn last_tier_change(&self, id: MemberId) -> Result<Option<UnixMillis>, DomainError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(TIER_HISTORY)?;
        let last = table
            .range((id.0, 0)..=(id.0, u64::MAX))?
            .next_back()
            .transpose()?;
        last.map(|(_, value)| decode::<TierChange>("tier change", value.value()).map(|c| c.at))
            .transpose()
    }

    /// Every member of `merchant`, as stored, whatever their status: for the daily run.
    pub(crate) fn members_of(&self, merchant: MerchantId) -> Result<Vec<Member>, DomainError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(MEMBERS)?;
        let mut found = Vec::new();
        for entry in table.iter()? {
            let (_, value) = entry?;
            let member: Member = decode("member", value.value())?;
            if member.merchant == merchant {
                found.push(member);
            }
        }
        Ok(found)
    }

    pub(crate) fn put_member_in(
        &self,
        txn: &WriteTransaction,
        before: Option<&Member>,
        after: &Member,
    ) -> Result<(), DomainError> {
        put_member(txn, before, after)
    }
}

/// Writes `after` and brings every index from `before` (if any) to `after`.
/// A move between tiers, in the member's tier history (等级变动记录).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TierChange {
    pub at: UnixMillis,
    /// None: the member had no tier (a sign-up).
    pub from: Option<TierId>,
    pub to: TierId,
    pub reason: TierReason,
    /// The till order that caused it, if one did.
    pub order: Option<String>,
    /// Who set it by hand.
    pub staff: Option<StaffId>,
}

/// Why a member's tier changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TierReason {
    /// The tier the member signed up with.
    Joined,
    /// Brought in by an import.
    Imported,
    /// Head office set it (`staff` says who).
    Manual,
    /// The loyalty scheme said so (`set-tier`, e.g. 充1000升金卡).
    Scheme,
    /// A threshold of the new tier was reached: growth (成长值).
    Growth,
    /// Cumulative spend (累计消费).
    TotalSpend,
    /// One top-up large enough (单次充值).
    SingleTopUp,
    /// Points held.
    Points,
    /// Bought with points at the till (积分升级).
    Bought,
    /// Another member merged into this one held a better tier (`staff` says who merged).
    Merged,
    /// The tier review at the end of the evaluation period (等级评定): the member no longer met
    /// the thresholds of their tier over the period.
    Review,
}

/// Appends to the member's tier history if `after`'s tier differs from `from`; `by` is the till
/// order or the staff member that caused it.
fn note_tier_in(
    txn: &WriteTransaction,
    from: Option<TierId>,
    after: &Member,
    reason: TierReason,
    by: (Option<&str>, Option<StaffId>),
    at: UnixMillis,
) -> Result<(), DomainError> {
    let Some(to) = after.tier.filter(|to| Some(*to) != from) else {
        return Ok(());
    };
    let mut table = txn.open_table(TIER_HISTORY)?;
    let next = table
        .range((after.id.0, 0)..=(after.id.0, u64::MAX))?
        .next_back()
        .transpose()?
        .map_or(0, |(key, _)| key.value().1 + 1);
    let change = TierChange {
        at,
        from,
        to,
        reason,
        order: by.0.map(str::to_owned),
        staff: by.1,
    };
    table.insert((after.id.0, next), encode(&change)?.as_slice())?;
    Ok(())
}

fn put_member(
    txn: &WriteTransaction,
    before: Option<&Member>,
    after: &Member,
) -> Result<(), DomainError> {
    let merchant = after.merchant.0;
    let id = after.id.0;
    let mut phones = txn.open_table(MEMBER_PHONES)?;
    let mut cards = txn.open_table(MEMBER_CARDS)?;
    let mut tags = txn.open_table(MEMBER_TAGS)?;
    let mut stores = txn.open_table(MEMBER_STORES)?;
    let mut list = txn.open_table(MEMBER_LIST)?;
    if let Some(before) = before {
        if let Some(phone) = &before.profile.phone {
            phones.remove((merchant, phone.as_str()))?;
        }
        for card in &before.cards {
            cards.remove((merchant, card.number.as_str()))?;
        }
        for tag in &before.profile.tags {
            tags.remove((merchant, tag.as_str(), id))?;
        }
        if let Some(store) = before.home_store {
            stores.remove((merchant, store.0, id))?;
        }
    }
    if let Some(phone) = &after.profile.phone {
        phones.insert((merchant, phone.as_str()), id)?;
    }
    for card in &after.cards {
        cards.insert((merchant, card.number.as_str()), id)?;
    }
    for tag in &after.profile.tags {
        tags.insert((merchant, tag.as_str(), id), ())?;
    }
    if let Some(store) = after.home_store {
        stores.insert((merchant, store.0, id), ())?;
    }
    list.insert(
        (merchant, id),
        after.profile.name.as_deref().unwrap_or_default(),
    )?;
    txn.open_table(MEMBERS)?
        .insert(id, encode(after)?.as_slice())?;
    Ok(())
}

/// The id an import gives the member of one row: the same file imported again names the same
/// members, so a re-run after a crash completes it instead of doubling it. The time part is the
/// member's joining day from the file, so imported members sort by when they really joined.
pub(crate) fn import_member_id(import: &[u8; 32], row: usize, joined_at: UnixMillis) -> MemberId {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&import[..16]);
    let salt = u128::from_le_bytes(bytes) ^ (row as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    MemberId::from_parts(joined_at, salt)
}
