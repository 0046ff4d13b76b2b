//! Members (会员), their cards and tiers: the records and the rules for what may be entered.
//!
//! Validation happens here, once, for every way a member arrives: the API, the till, a CSV import.
//! Each refusal names the field at fault and why, as an [`Invalid`] the API translates.

use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::UnixMillis;
use crate::merchant::MerchantId;
use crate::staff::{StaffId, StoreId};
use crate::store::Date;

hex_id! {
    /// A member's id. The high 48 bits are the millisecond it was made, so ids sort by joining time;
    /// the rest is random.
    MemberId;
}

impl MemberId {
    pub(crate) fn from_parts(at: UnixMillis, random: u128) -> MemberId {
        let time = u128::from(at.0 & ((1 << 48) - 1));
        MemberId((time << 80) | (random & ((1 << 80) - 1)).max(1))
    }
}

hex_id! {
    TierId;
}

/// Why a field was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// Required and missing or blank.
    Required,
    /// Longer than allowed, in characters (or items for lists).
    TooLong { max: usize },
    /// Holds control characters.
    ControlCharacters,
    /// Not a mobile number: 11 digits starting with 1, optionally after +86.
    Phone,
    /// Not a date `YYYY-MM-DD` between 1900 and 9999.
    Date,
    /// A date in the future where only the past makes sense (a birthday).
    FutureDate,
    /// Not a valid 18-character resident ID number (checksum included).
    IdNumber,
    /// Not one of the allowed values.
    Choice { allowed: Vec<String> },
    /// Card numbers: 4 to 32 of A-Z, a-z, 0-9 and `-`.
    CardNumber,
    /// Tags: 1 to 16 characters each, at most 20.
    Tag,
    /// Not a number this field accepts (a decimal of at most `scale` places, within range).
    Number { scale: u32 },
    /// A field the merchant has not defined.
    UnknownField,
    /// Listed twice.
    Duplicate,
    /// Not an order id: 1 to 64 of `A-Z a-z 0-9 - _ .`.
    OrderId,
}

/// A refused field: which one, and why. `field` is a JSON-style path (`custom.shoe_size`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub invalid: Invalid,
}

impl FieldError {
    pub fn new(field: impl Into<String>, invalid: Invalid) -> FieldError {
        FieldError {
            field: field.into(),
            invalid,
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:?}", self.field, self.invalid)
    }
}

/// A mobile number, normalised to its 11 digits (mainland China). Prints masked in `Debug`, so a
/// stray `{:?}` in a log line does not leak it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Accepts `13800138000`, `138 0013 8000`, `138-0013-8000`, `+86 138…`, `0086138…`.
    pub fn parse(raw: &str) -> Option<Phone> {
        let digits: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
            .collect();
        let digits = digits
            .strip_prefix("+86")
            .or_else(|| digits.strip_prefix("0086"))
            .unwrap_or(&digits);
        let digits = if digits.len() == 13 {
            digits.strip_prefix("86").unwrap_or(digits)
        } else {
            digits
        };
        let bytes = digits.as_bytes();
        let valid = bytes.len() == 11
            && bytes.iter().all(u8::is_ascii_digit)
            && bytes[0] == b'1'
            && (b'3'..=b'9').contains(&bytes[1]);
        valid.then(|| Phone(digits.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `138****8000`: what logs and lists show.
    pub fn masked(&self) -> String {
        mask(&self.0, 3, 4)
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

/// A resident ID number (居民身份证号), 18 characters with its ISO 7064 check digit. Masked in
/// `Debug` like [`Phone`].
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdNumber(String);

impl IdNumber {
    pub fn parse(raw: &str) -> Option<IdNumber> {
        let text = raw.trim().to_ascii_uppercase();
        let bytes = text.as_bytes();
        if bytes.len() != 18 || !bytes[..17].iter().all(u8::is_ascii_digit) {
            return None;
        }
        const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        const CHECK: &[u8; 11] = b"10X98765432";
        let sum: u32 = bytes[..17]
            .iter()
            .zip(WEIGHTS)
            .map(|(digit, weight)| u32::from(digit - b'0') * weight)
            .sum();
        let expected = CHECK[(sum % 11) as usize];
        let birth = format!("{}-{}-{}", &text[6..10], &text[10..12], &text[12..14]);
        (bytes[17] == expected && Date::parse(&birth).is_some()).then_some(IdNumber(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `110105**********1X` → keeps the region's first 6 and the last 2.
    pub fn masked(&self) -> String {
        mask(&self.0, 6, 2)
    }
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

/// Keeps `head` characters and `tail` characters, stars the rest.
pub fn mask(text: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len());
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < head || i >= chars.len() - tail {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            pub fn parse(text: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }

            pub fn choices() -> Invalid {
                Invalid::Choice { allowed: Self::ALL.iter().map(|v| v.as_str().to_owned()).collect() }
            }
        }
    };
}

text_enum!(
    /// 性别.
    Gender { Unknown => "unknown", Female => "female", Male => "male" }
);
text_enum!(
    /// How the member joined (入会渠道): 门店 / 线上 / 推荐 / 导入.
    JoinChannel { Store => "store", Online => "online", Referral => "referral", Import => "import" }
);
text_enum!(
    /// 条码卡 / 磁条卡 / IC卡 / 手机二维码 / 二代身份证.
    CardKind { Barcode => "barcode", Magstripe => "magstripe", Ic => "ic", Qr => "qr", IdCard => "id_card" }
);
text_enum!(
    /// A card's state. Only an active card finds its member at the till.
    CardStatus { Active => "active", Lost => "lost", Replaced => "replaced" }
);
text_enum!(
    /// The kinds of value a custom field holds.
    CustomFieldKind { Text => "text", Number => "number", Date => "date", Choice => "choice" }
);

/// Where a member stands. Merged and erased members keep their id (their ledger accounts and
/// history stay), but nobody can be served as them.
// Externally tagged: serde's internally tagged enums buffer their content, which cannot hold
// the u128 ids inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    Active,
    /// 冻结: cards and balances refuse to be used until unfrozen.
    Frozen,
    /// Merged into another member, who now holds the balances and cards.
    Merged {
        into: MemberId,
        at: UnixMillis,
    },
    /// Personal data erased on request (PIPL); the money history stays, anonymous.
    Erased {
        at: UnixMillis,
    },
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Active => "active",
            MemberStatus::Frozen => "frozen",
            MemberStatus::Merged { .. } => "merged",
            MemberStatus::Erased { .. } => "erased",
        }
    }

    /// Active or frozen: a member whose record can still change.
    pub fn is_live(self) -> bool {
        matches!(self, MemberStatus::Active | MemberStatus::Frozen)
    }
}

/// A dated personal occasion (纪念日): a wedding anniversary, a child's birthday.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anniversary {
    pub label: String,
    pub date: Date,
}

/// Whether the member agreed to marketing messages, when, and where they said so.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub marketing: bool,
    pub at: UnixMillis,
    /// Where it was given: `store`, `online`, `import`, or a free word of the merchant's.
    pub source: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardEvent {
    pub at: UnixMillis,
    /// `issued`, `lost`, `replaced`, `moved` (merge).
    pub event: String,
    pub by: Option<StaffId>,
    /// The card that replaced this one, or the member it came from.
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub number: String,
    pub kind: CardKind,
    pub status: CardStatus,
    pub issued_at: UnixMillis,
    pub history: Vec<CardEvent>,
}

impl Card {
    /// The number as lists show it: an ID card's number is masked like any ID number.
    pub fn display_number(&self) -> String {
        match self.kind {
            CardKind::IdCard => mask(&self.number, 6, 2),
            _ => self.number.clone(),
        }
    }
}

/// The profile a member has, as entered and checked.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Profile {
    pub name: Option<String>,
    pub phone: Option<Phone>,
    pub gender: Option<Gender>,
    pub birthday: Option<Date>,
    pub anniversaries: Vec<Anniversary>,
    pub occupation: Option<String>,
    pub id_number: Option<IdNumber>,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    pub custom: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: MemberId,
    pub merchant: MerchantId,
    pub profile: Profile,
    pub home_store: Option<StoreId>,
    pub referrer: Option<MemberId>,
    pub channel: JoinChannel,
    pub consent: Option<Consent>,
    pub status: MemberStatus,
    pub tier: Option<TierId>,
    pub cards: Vec<Card>,
    pub joined_at: UnixMillis,
    pub created_by: Option<StaffId>,
    /// The paired terminal that signed them up at the till, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at_terminal: Option<crate::terminal::TerminalId>,
}

/// A member's profile as entered: every field optional, text as typed. Checked by
/// [`ProfileEntry::check`] against the merchant's custom fields.
#[derive(Clone, Debug, Default)]
pub struct ProfileEntry {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub gender: Option<String>,
    pub birthday: Option<String>,
    pub anniversaries: Vec<(String, String)>,
    pub occupation: Option<String>,
    pub id_number: Option<String>,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    pub custom: BTreeMap<String, String>,
}

/// A member to create.
#[derive(Clone, Debug, Default)]
pub struct NewMember {
    pub profile: ProfileEntry,
    pub home_store: Option<StoreId>,
    pub referrer: Option<MemberId>,
    pub channel: Option<String>,
    pub marketing_consent: Option<bool>,
    pub consent_source: Option<String>,
    pub tier: Option<TierId>,
    pub card: Option<NewCard>,
}

#[derive(Clone, Debug)]
pub struct NewCard {
    pub number: String,
    pub kind: String,
}

pub const NAME_CHARS_MAX: usize = 32;
pub const TEXT_CHARS_MAX: usize = 64;
pub const NOTES_CHARS_MAX: usize = 500;
pub const TAG_CHARS_MAX: usize = 16;
pub const TAGS_MAX: usize = 20;
pub const ANNIVERSARIES_MAX: usize = 8;
pub const CUSTOM_VALUE_CHARS_MAX: usize = 200;

/// A short text: trimmed, at most `max` characters, no control characters. Blank is `None`.
pub(crate) fn short_text(
    field: &str,
    raw: Option<&str>,
    max: usize,
) -> Result<Option<String>, FieldError> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > max {
        return Err(FieldError::new(field, Invalid::TooLong { max }));
    }
    if text.chars().any(char::is_control) {
        return Err(FieldError::new(field, Invalid::ControlCharacters));
    }
    Ok(Some(text.to_owned()))
}

pub(crate) fn required_text(field: &str, raw: &str, max: usize) -> Result<String, FieldError> {
    short_text(field, Some(raw), max)?.ok_or_else(|| FieldError::new(field, Invalid::Required))
}

/// Notes may hold line breaks; other control characters are refused.
fn notes(field: &str, raw: Option<&str>) -> Result<Option<String>, FieldError> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > NOTES_CHARS_MAX {
        return Err(FieldError::new(
            field,
            Invalid::TooLong {
                max: NOTES_CHARS_MAX,
            },
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(FieldError::new(field, Invalid::ControlCharacters));
    }
    Ok(Some(text.replace("\r\n", "\n")))
}

pub(crate) fn date(field: &str, raw: &str) -> Result<Date, FieldError> {
    Date::parse(raw.trim()).ok_or_else(|| FieldError::new(field, Invalid::Date))
}

/// Card numbers are what the scanner reads: kept as typed but for surrounding blanks.
pub(crate) fn card_number(field: &str, raw: &str) -> Result<String, FieldError> {
    let number = raw.trim();
    let valid = (4..=32).contains(&number.len())
        && number
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if valid {
        Ok(number.to_ascii_uppercase())
    } else {
        Err(FieldError::new(field, Invalid::CardNumber))
    }
}

impl NewCard {
    pub(crate) fn check(&self, field: &str) -> Result<(String, CardKind), FieldError> {
        let kind = CardKind::parse(self.kind.trim())
            .ok_or_else(|| FieldError::new(format!("{field}.kind"), CardKind::choices()))?;
        let number = if kind == CardKind::IdCard {
            IdNumber::parse(&self.number)
                .ok_or_else(|| FieldError::new(format!("{field}.number"), Invalid::IdNumber))?
                .0
        } else {
            card_number(&format!("{field}.number"), &self.number)?
        };
        Ok((number, kind))
    }
}

/// A custom field the merchant defined (自定义字段), e.g. a pet shop's `pet_breed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomField {
    /// The key in member records: 1 to 32 of a-z, 0-9, `_`.
    pub key: String,
    pub label: String,
    pub kind: CustomFieldKind,
    /// For `choice`: the values allowed.
    pub options: Vec<String>,
    pub required: bool,
}

impl CustomField {
    pub(crate) fn check_definition(&self) -> Result<CustomField, FieldError> {
        let key = self.key.trim().to_owned();
        let key_ok = (1..=32).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !key_ok {
            return Err(FieldError::new(
                "key",
                Invalid::Choice {
                    allowed: vec!["a-z 0-9 _".into()],
                },
            ));
        }
        let label = required_text("label", &self.label, TEXT_CHARS_MAX)?;
        let mut options = Vec::new();
        for (i, option) in self.options.iter().enumerate() {
            let option = required_text(&format!("options[{i}]"), option, TEXT_CHARS_MAX)?;
            if options.contains(&option) {
                return Err(FieldError::new(format!("options[{i}]"), Invalid::Duplicate));
            }
            options.push(option);
        }
        if options.len() > 50 {
            return Err(FieldError::new("options", Invalid::TooLong { max: 50 }));
        }
        if (self.kind == CustomFieldKind::Choice) == options.is_empty() {
            return Err(FieldError::new("options", Invalid::Required));
        }
        Ok(CustomField {
            key,
            label,
            kind: self.kind,
            options,
            required: self.required,
        })
    }

    /// The value as stored, or why it does not fit this field.
    pub(crate) fn check_value(&self, raw: &str) -> Result<String, FieldError> {
        let field = format!("custom.{}", self.key);
        let value = required_text(&field, raw, CUSTOM_VALUE_CHARS_MAX)?;
        match self.kind {
            CustomFieldKind::Text => Ok(value),
            CustomFieldKind::Number => value
                .parse::<Decimal>()
                .ok()
                .filter(|n| n.scale() <= 6)
                .map(|n| n.normalize().to_string())
                .ok_or(FieldError::new(field, Invalid::Number { scale: 6 })),
            CustomFieldKind::Date => Ok(date(&field, &value)?.to_string()),
            CustomFieldKind::Choice => {
                if self.options.contains(&value) {
                    Ok(value)
                } else {
                    Err(FieldError::new(
                        field,
                        Invalid::Choice {
                            allowed: self.options.clone(),
                        },
                    ))
                }
            }
        }
    }
}

impl ProfileEntry {
    /// The profile as stored, or the first field at fault. `today` bounds birthdays.
    pub fn check(&self, fields: &[CustomField], today: Date) -> Result<Profile, FieldError> {
        let name = short_text("name", self.name.as_deref(), NAME_CHARS_MAX)?;
        let phone = match self.phone.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => {
                Some(Phone::parse(raw).ok_or_else(|| FieldError::new("phone", Invalid::Phone))?)
            }
        };
        let gender = match self.gender.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(
                Gender::parse(raw).ok_or_else(|| FieldError::new("gender", Gender::choices()))?,
            ),
        };
        let birthday = match self.birthday.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => {
                let birthday = date("birthday", raw)?;
                if birthday > today {
                    return Err(FieldError::new("birthday", Invalid::FutureDate));
                }
                Some(birthday)
            }
        };
        if self.anniversaries.len() > ANNIVERSARIES_MAX {
            return Err(FieldError::new(
                "anniversaries",
                Invalid::TooLong {
                    max: ANNIVERSARIES_MAX,
                },
            ));
        }
        let mut anniversaries = Vec::new();
        for (i, (label, day)) in self.anniversaries.iter().enumerate() {
            anniversaries.push(Anniversary {
                label: required_text(&format!("anniversaries[{i}].label"), label, TEXT_CHARS_MAX)?,
                date: date(&format!("anniversaries[{i}].date"), day)?,
            });
        }
        let occupation = short_text("occupation", self.occupation.as_deref(), TEXT_CHARS_MAX)?;
        let id_number = match self.id_number.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(
                IdNumber::parse(raw)
                    .ok_or_else(|| FieldError::new("id_number", Invalid::IdNumber))?,
            ),
        };
        let tags = tags(&self.tags)?;
        let notes = notes("notes", self.notes.as_deref())?;
        let mut custom = BTreeMap::new();
        for (key, value) in &self.custom {
            let Some(definition) = fields.iter().find(|f| &f.key == key) else {
                return Err(FieldError::new(
                    format!("custom.{key}"),
                    Invalid::UnknownField,
                ));
            };
            if value.trim().is_empty() {
                continue;
            }
            custom.insert(key.clone(), definition.check_value(value)?);
        }
        if let Some(missing) = fields
            .iter()
            .find(|f| f.required && !custom.contains_key(&f.key))
        {
            return Err(FieldError::new(
                format!("custom.{}", missing.key),
                Invalid::Required,
            ));
        }
        Ok(Profile {
            name,
            phone,
            gender,
            birthday,
            anniversaries,
            occupation,
            id_number,
            tags,
            notes,
            custom,
        })
    }
}

/// Tags, trimmed and de-duplicated in order.
pub(crate) fn tags(raw: &[String]) -> Result<Vec<String>, FieldError> {
    let mut tags: Vec<String> = Vec::new();
    for (i, tag) in raw.iter().enumerate() {
        let field = format!("tags[{i}]");
        let Some(tag) = short_text(&field, Some(tag), TAG_CHARS_MAX)
            .map_err(|_| FieldError::new(&field, Invalid::Tag))?
        else {
            return Err(FieldError::new(field, Invalid::Tag));
        };
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > TAGS_MAX {
        return Err(FieldError::new("tags", Invalid::TooLong { max: TAGS_MAX }));
    }
    Ok(tags)
}

/// A tier (会员等级) as data: the loyalty scheme reads these numbers; the core only keeps them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    pub id: TierId,
    pub merchant: MerchantId,
    pub name: String,
    /// Position on the ladder, lowest first; unique per merchant. New members start on the lowest.
    pub rank: u16,
    /// The price members of this tier pay, as a fraction: `0.95` is 95折. 0 < rate ≤ 1.
    #[serde(with = "rust_decimal::serde::str")]
    pub discount_rate: Decimal,
    /// Points earned per yuan spent, e.g. `1` or `1.5`.
    #[serde(with = "rust_decimal::serde::str")]
    pub points_rate: Decimal,
    pub thresholds: Thresholds,
    /// Points a member may spend to move up to this tier (积分升级); `None`: not for sale.
    #[serde(default)]
    pub upgrade_points: Option<u64>,
}

/// What lifts a member to a tier; any one met is enough. Amounts of money are in fen.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thresholds {
    pub growth: Option<u64>,
    pub total_spend_fen: Option<u64>,
    pub single_top_up_fen: Option<u64>,
    pub points: Option<u64>,
}

impl Thresholds {
    /// Whether any threshold is set: a tier without one is reached only by hand or by a scheme.
    pub fn any(&self) -> bool {
        self.growth.is_some()
            || self.total_spend_fen.is_some()
            || self.single_top_up_fen.is_some()
            || self.points.is_some()
    }
}

/// A tier as entered.
#[derive(Clone, Debug)]
pub struct NewTier {
    pub name: String,
    pub rank: u16,
    pub discount_rate: Decimal,
    pub points_rate: Decimal,
    pub thresholds: Thresholds,
    pub upgrade_points: Option<u64>,
}

/// A typo guard on a tier's price in points.
pub const UPGRADE_POINTS_MAX: u64 = 100_000_000;

impl NewTier {
    pub(crate) fn check(&self) -> Result<NewTier, FieldError> {
        let name = required_text("name", &self.name, 16)?;
        let rate = self.discount_rate.normalize();
        if rate <= Decimal::ZERO || rate > Decimal::ONE || rate.scale() > 4 {
            return Err(FieldError::new(
                "discount_rate",
                Invalid::Number { scale: 4 },
            ));
        }
        let points = self.points_rate.normalize();
        if points.is_sign_negative() || points.scale() > 4 || points > Decimal::from(1000) {
            return Err(FieldError::new("points_rate", Invalid::Number { scale: 4 }));
        }
        if self
            .upgrade_points
            .is_some_and(|price| price == 0 || price > UPGRADE_POINTS_MAX)
        {
            return Err(FieldError::new(
                "upgrade_points",
                Invalid::Number { scale: 0 },
            ));
        }
        Ok(NewTier {
            name,
            rank: self.rank,
            discount_rate: rate,
            points_rate: points,
            thresholds: self.thresholds.clone(),
            upgrade_points: self.upgrade_points,
        })
    }
}

/// A service record (服务记录): what was done for the member, and when to call back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub member: MemberId,
    /// Unique within the member, increasing: the record's number.
    pub number: u64,
    pub at: UnixMillis,
    pub by: Option<StaffId>,
    pub store: Option<StoreId>,
    pub note: String,
    pub follow_up_on: Option<Date>,
    pub done_at: Option<UnixMillis>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_normalise_to_eleven_digits_and_refuse_the_rest() {
        for raw in [
            "13800138000",
            " 138 0013 8000 ",
            "138-0013-8000",
            "+86 138 0013 8000",
            "0086 13800138000",
            "8613800138000",
        ] {
            assert_eq!(
                Phone::parse(raw).map(|p| p.as_str().to_owned()),
                Some("13800138000".to_owned()),
                "{raw}"
            );
        }
        for raw in [
            "",
            "1380013800",
            "138001380000",
            "12800138000",
            "23800138000",
            "1380013800a",
            "+1 13800138000",
        ] {
            assert_eq!(Phone::parse(raw), None, "{raw}");
        }
        let phone = Phone::parse("13800138000").unwrap();
        assert_eq!(phone.masked(), "138****8000");
        assert!(!format!("{phone:?}").contains("13800138000"));
    }

    #[test]
    fn id_numbers_need_their_check_digit_and_a_real_birth_date() {
        // GB 11643 example number.
        assert!(IdNumber::parse("11010519491231002X").is_some());
        assert!(IdNumber::parse("11010519491231002x").is_some());
        assert!(IdNumber::parse("110105194912310021").is_none());
        assert!(IdNumber::parse("11010519491331002X").is_none());
        assert!(IdNumber::parse("1101051949123100").is_none());
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.masked(), "110105**********2X");
        assert!(!format!("{id:?}").contains("19491231"));
    }

    fn today() -> Date {
        Date::parse("2026-11-23").unwrap()
    }

    #[test]
    fn profiles_are_checked_field_by_field() {
        let fields = [CustomField {
            key: "pet".into(),
            label: "宠物".into(),
            kind: CustomFieldKind::Choice,
            options: vec!["猫".into(), "狗".into()],
            required: true,
        }];
        let good = ProfileEntry {
            name: Some(" 李娜 ".into()),
            phone: Some("+86 13800138000".into()),
            birthday: Some("1990-02-28".into()),
            tags: vec!["VIP".into(), "VIP".into(), "爱猫".into()],
            custom: [("pet".to_owned(), "猫".to_owned())].into(),
            ..ProfileEntry::default()
        };
        let profile = good.check(&fields, today()).unwrap();
        assert_eq!(profile.name.as_deref(), Some("李娜"));
        assert_eq!(profile.tags, vec!["VIP".to_owned(), "爱猫".to_owned()]);

        let refused = |entry: ProfileEntry| entry.check(&fields, today()).unwrap_err();
        let with = |f: &dyn Fn(&mut ProfileEntry)| {
            let mut entry = good.clone();
            f(&mut entry);
            entry
        };
        assert_eq!(
            refused(with(&|e| e.phone = Some("12345".into()))).field,
            "phone"
        );
        assert_eq!(
            refused(with(&|e| e.birthday = Some("2030-01-01".into()))).invalid,
            Invalid::FutureDate
        );
        assert_eq!(
            refused(with(&|e| e.name = Some("名".repeat(33)))).invalid,
            Invalid::TooLong { max: 32 }
        );
        assert_eq!(
            refused(with(&|e| e
                .custom
                .insert("pet".into(), "鱼".into())
                .map(drop)
                .unwrap_or(())))
            .field,
            "custom.pet"
        );
        assert_eq!(
            refused(with(&|e| e.custom.clear())).invalid,
            Invalid::Required
        );
        assert_eq!(
            refused(with(&|e| {
                e.custom.insert("shoe".into(), "42".into());
            }))
            .invalid,
            Invalid::UnknownField
        );
        assert_eq!(
            refused(with(&|e| e.tags = vec![String::new()])).field,
            "tags[0]"
        );
        assert_eq!(
            refused(with(&|e| e.gender = Some("x".into()))).field,
            "gender"
        );
    }

    #[test]
    fn member_ids_sort_by_joining_time() {
        let early = MemberId::from_parts(UnixMillis(1_000), u128::MAX);
        let late = MemberId::from_parts(UnixMillis(1_001), 0);
        assert!(early < late);
        assert_ne!(late.0, 0);
    }

    #[test]
    fn tiers_take_sane_rates_only() {
        let tier = |discount: &str, points: &str| NewTier {
            name: "金卡".into(),
            rank: 2,
            discount_rate: discount.parse().unwrap(),
            points_rate: points.parse().unwrap(),
            thresholds: Thresholds::default(),
            upgrade_points: None,
        };
        assert!(tier("0.95", "1.5").check().is_ok());
        assert!(tier("1", "0").check().is_ok());
        assert_eq!(tier("0", "1").check().unwrap_err().field, "discount_rate");
        assert_eq!(
            tier("1.01", "1").check().unwrap_err().field,
            "discount_rate"
        );
        assert_eq!(tier("0.9", "-1").check().unwrap_err().field, "points_rate");
    }
}
