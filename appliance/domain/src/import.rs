//! Members in and out as CSV (导入 / 导出), so a merchant can switch to the box from another system
//! and take their data with them.
//!
//! An import is checked whole before anything is written: a dry run, or a real run with a bad
//! row, reports every bad row with the field and the reason and writes nothing. Opening balances
//! become ledger transfers from the merchant's opening-balance account. Ids of members and
//! transfers derive from the file's SHA-256 and the row, so importing the same file again —
//! after a crash, or by mistake — adds nothing twice.

use std::collections::HashMap;

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use tongka_ledger::{NewTransfer, TransferKind, UserData};

use crate::UnixMillis;
use crate::accounts::{self, MemberAccount, batch_error, transfer_code};
use crate::error::{DomainError, MemberError};
use crate::member::{FieldError, Invalid, Member, NewCard, NewMember, ProfileEntry};
use crate::members::{MERCHANT_UTC_OFFSET_MINUTES, MemberView, Members, import_member_id};
use crate::staff::{Role, Staff};
use crate::store::Date;

/// The columns, each with its Chinese header as merchants' spreadsheets name it.
const COLUMNS: &[(&str, &str)] = &[
    ("name", "姓名"),
    ("phone", "手机"),
    ("gender", "性别"),
    ("birthday", "生日"),
    ("id_number", "身份证号"),
    ("card_number", "卡号"),
    ("card_kind", "卡类型"),
    ("home_store", "门店"),
    ("tags", "标签"),
    ("joined_on", "入会日期"),
    ("marketing_consent", "营销许可"),
    ("notes", "备注"),
    ("points", "积分"),
    ("stored_value", "储值余额"),
    ("bonus", "赠送余额"),
    ("growth", "成长值"),
];

/// The most rows one file may hold.
pub const IMPORT_ROWS_MAX: usize = 200_000;

/// One bad row: its line in the file (the header is line 1), the column and the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub line: usize,
    pub error: RowProblem,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RowProblem {
    /// A field's value is refused.
    Field(FieldError),
    /// The row cannot be read as CSV, or has the wrong number of cells.
    Malformed(String),
    /// The phone or card is another member's (in the box or earlier in the file).
    Taken(String),
    /// The home store code is not one of the merchant's stores.
    UnknownStore(String),
}

/// What an import found, and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportReport {
    /// The file's SHA-256, hex: the import's identity.
    pub import_id: String,
    pub rows: usize,
    pub errors: Vec<RowError>,
    /// Whether members and balances were written.
    pub applied: bool,
    /// Members written by this run (a re-run of the same file writes none).
    pub created: usize,
}

/// Why an import as a whole was refused before any row was read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    #[error("only head office may import members")]
    Forbidden,
    #[error("the file is not UTF-8 CSV with a header row: {0}")]
    Header(String),
    #[error("unknown column `{0}`")]
    UnknownColumn(String),
    #[error("column `{0}` appears twice")]
    DuplicateColumn(String),
    #[error("the file has more than {IMPORT_ROWS_MAX} rows")]
    TooManyRows,
}

struct Row {
    line: usize,
    member: Member,
    opening: Vec<(MemberAccount, u128)>,
}

impl Members {
    /// Checks a CSV file of members and, unless `dry_run` or a row is bad, imports it.
    pub async fn import_csv(
        &self,
        actor: &Staff,
        bytes: &[u8],
        dry_run: bool,
        now: UnixMillis,
    ) -> Result<Result<ImportReport, ImportError>, DomainError> {
        if actor.role != Role::HqAdmin {
            return Ok(Err(ImportError::Forbidden));
        }
        // A UTF-8 byte-order mark is what Excel writes in front of CSV.
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let import: [u8; 32] = Sha256::digest(body).into();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .trim(csv::Trim::All)
            .from_reader(body);
        let headers = match reader.headers() {
            Ok(headers) => headers.clone(),
            Err(error) => return Ok(Err(ImportError::Header(error.to_string()))),
        };
        let mut columns: Vec<&'static str> = Vec::new();
        for header in &headers {
            let Some((key, _)) = COLUMNS
                .iter()
                .find(|(key, zh)| header.eq_ignore_ascii_case(key) || header == *zh)
            else {
                return Ok(Err(ImportError::UnknownColumn(header.to_owned())));
            };
            if columns.contains(key) {
                return Ok(Err(ImportError::DuplicateColumn(header.to_owned())));
            }
            columns.push(key);
        }
        let stores: HashMap<String, crate::StoreId> = self
            .directory()
            .stores(actor)?
            .into_iter()
            .map(|s| (s.code, s.id))
            .collect();

        let mut errors = Vec::new();
        let mut rows = Vec::new();
        let mut phones_seen: HashMap<String, usize> = HashMap::new();
        let mut cards_seen: HashMap<String, usize> = HashMap::new();
        for (index, record) in reader.records().enumerate() {
            let line = index + 2;
            if index >= IMPORT_ROWS_MAX {
                return Ok(Err(ImportError::TooManyRows));
            }
            let record = match record {
                Ok(record) => record,
                Err(error) => {
                    errors.push(RowError {
                        line,
                        error: RowProblem::Malformed(error.to_string()),
                    });
                    continue;
                }
            };
            let cells: HashMap<&str, &str> = columns.iter().copied().zip(record.iter()).collect();
            match self.check_row(actor, &import, line, &cells, &stores, now)? {
                Ok(row) => {
                    let mut taken = None;
                    if let Some(phone) = &row.member.profile.phone
                        && let Some(first) = phones_seen.insert(phone.as_str().to_owned(), line)
                    {
                        taken = Some(format!("phone, as on line {first}"));
                    }
                    for card in &row.member.cards {
                        if let Some(first) = cards_seen.insert(card.number.clone(), line) {
                            taken = Some(format!("card_number, as on line {first}"));
                        }
                    }
                    match taken {
                        Some(what) => errors.push(RowError {
                            line,
                            error: RowProblem::Taken(what),
                        }),
                        None => rows.push(row),
                    }
                }
                Err(error) => errors.push(RowError { line, error }),
            }
        }
        let mut report = ImportReport {
            import_id: crate::hex(&import),
            rows: rows.len() + errors.len(),
            errors,
            applied: false,
            created: 0,
        };
        if dry_run || !report.errors.is_empty() {
            return Ok(Ok(report));
        }
        let members: Vec<Member> = rows.iter().map(|r| r.member.clone()).collect();
        match self.put_imported(&members).await? {
            Ok(created) => report.created = created,
            // Someone took a phone or card between the check and the write: report it; a
            // re-run after fixing the file completes the import.
            Err(error) => {
                report.errors.push(RowError {
                    line: 0,
                    error: RowProblem::Taken(error.to_string()),
                });
                return Ok(Ok(report));
            }
        }
        let merchant = actor.merchant;
        let transfers: Vec<NewTransfer> = rows
            .iter()
            .flat_map(|row| {
                row.opening
                    .iter()
                    .map(move |(account, amount)| NewTransfer {
                        id: accounts::transfer_id(
                            b"opening-balance",
                            row.member.id.0,
                            account.code(),
                        ),
                        kind: TransferKind::Posted {
                            debit: accounts::opening_account(merchant, account.asset()).id,
                            credit: account.id(row.member.id),
                            amount: *amount,
                        },
                        code: transfer_code::OPENING_BALANCE,
                        user_data: UserData {
                            u128: row.member.id.0,
                            u64: u64::try_from(row.line).unwrap_or(u64::MAX),
                            u32: 0,
                        },
                    })
            })
            .collect();
        for chunk in transfers.chunks(4_000) {
            self.ledger()
                .create_transfers(chunk.to_vec())
                .await
                .map_err(batch_error)?;
        }
        report.applied = true;
        Ok(Ok(report))
    }

    fn check_row(
        &self,
        actor: &Staff,
        import: &[u8; 32],
        line: usize,
        cells: &HashMap<&str, &str>,
        stores: &HashMap<String, crate::StoreId>,
        now: UnixMillis,
    ) -> Result<Result<Row, RowProblem>, DomainError> {
        let cell = |key: &str| {
            cells
                .get(key)
                .copied()
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let field = |key: &str, invalid: Invalid| RowProblem::Field(FieldError::new(key, invalid));
        let gender = cell("gender").map(|g| match g {
            "男" => "male",
            "女" => "female",
            "未知" => "unknown",
            other => other,
        });
        let marketing_consent = match cell("marketing_consent") {
            None => None,
            Some("yes" | "true" | "1" | "是" | "Y" | "y") => Some(true),
            Some("no" | "false" | "0" | "否" | "N" | "n") => Some(false),
            Some(_) => {
                return Ok(Err(field(
                    "marketing_consent",
                    Invalid::Choice {
                        allowed: vec!["yes".into(), "no".into(), "是".into(), "否".into()],
                    },
                )));
            }
        };
        let home_store = match cell("home_store") {
            None => None,
            Some(code) => match stores.get(&code.to_ascii_uppercase()) {
                Some(store) => Some(*store),
                None => return Ok(Err(RowProblem::UnknownStore(code.to_owned()))),
            },
        };
        let joined_at = match cell("joined_on") {
            None => UnixMillis(0),
            Some(day) => match Date::parse(day) {
                Some(day) => day.start(MERCHANT_UTC_OFFSET_MINUTES),
                None => return Ok(Err(field("joined_on", Invalid::Date))),
            },
        };
        let tags = cell("tags")
            .map(|tags| {
                tags.split([';', '；', '|'])
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let new = NewMember {
            profile: ProfileEntry {
                name: cell("name").map(str::to_owned),
                phone: cell("phone").map(str::to_owned),
                gender: gender.map(str::to_owned),
                birthday: cell("birthday").map(str::to_owned),
                id_number: cell("id_number").map(str::to_owned),
                tags,
                notes: cell("notes").map(str::to_owned),
                ..ProfileEntry::default()
            },
            home_store,
            marketing_consent,
            consent_source: marketing_consent.map(|_| "import".to_owned()),
            card: cell("card_number").map(|number| NewCard {
                number: number.to_owned(),
                kind: cell("card_kind").unwrap_or("barcode").to_owned(),
            }),
            ..NewMember::default()
        };
        let mut opening = Vec::new();
        for (key, account) in [
            ("points", MemberAccount::Points),
            ("stored_value", MemberAccount::Principal),
            ("bonus", MemberAccount::Bonus),
            ("growth", MemberAccount::Growth),
        ] {
            let Some(text) = cell(key) else { continue };
            let scale = accounts::asset(account.asset()).map_or(0, |a| u32::from(a.scale));
            let amount = text
                .parse::<Decimal>()
                .ok()
                .and_then(|amount| accounts::minor_units(account.asset(), amount))
                .filter(|amount| *amount <= 1_000_000_000_000);
            match amount {
                Some(0) => {}
                Some(amount) => opening.push((account, amount)),
                None => return Ok(Err(field(key, Invalid::Number { scale }))),
            }
        }
        let id = import_member_id(import, line, joined_at);
        match self.check_import_row(actor, id, &new, now)? {
            Ok(mut member) => {
                if joined_at.0 > 0 {
                    member.joined_at = joined_at;
                }
                Ok(Ok(Row {
                    line,
                    member,
                    opening,
                }))
            }
            Err(MemberError::Invalid(error)) => Ok(Err(RowProblem::Field(error))),
            Err(MemberError::PhoneTaken) => Ok(Err(RowProblem::Taken("phone".into()))),
            Err(MemberError::CardTaken(_)) => Ok(Err(RowProblem::Taken("card_number".into()))),
            Err(MemberError::UnknownStore) => Ok(Err(RowProblem::UnknownStore(
                cell("home_store").unwrap_or_default().to_owned(),
            ))),
            Err(other) => Ok(Err(RowProblem::Malformed(other.to_string()))),
        }
    }

    /// Writes every member `actor` may browse as CSV, with the import's columns: a file exported
    /// here imports elsewhere.
    pub fn export_csv(&self, actor: &Staff) -> Result<Vec<u8>, DomainError> {
        let stores: HashMap<crate::StoreId, String> = self
            .directory()
            .stores(actor)?
            .into_iter()
            .map(|s| (s.id, s.code))
            .collect();
        let mut writer = csv::Writer::from_writer(Vec::new());
        let csv_error = |e: csv::Error| DomainError::Storage(format!("csv: {e}"));
        writer
            .write_record(COLUMNS.iter().map(|(key, _)| *key))
            .map_err(csv_error)?;
        self.for_each_member(actor, |view: &MemberView| {
            let m = &view.member;
            let p = &m.profile;
            let card = m
                .cards
                .iter()
                .find(|c| c.status == crate::member::CardStatus::Active);
            let money = |fen: u128| accounts::display(accounts::CNY, fen);
            let b = &view.balances;
            let record = [
                p.name.clone().unwrap_or_default(),
                p.phone
                    .as_ref()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default(),
                p.gender.map(|g| g.as_str().to_owned()).unwrap_or_default(),
                p.birthday.map(|d| d.to_string()).unwrap_or_default(),
                p.id_number
                    .as_ref()
                    .map(|i| i.as_str().to_owned())
                    .unwrap_or_default(),
                card.map(|c| c.number.clone()).unwrap_or_default(),
                card.map(|c| c.kind.as_str().to_owned()).unwrap_or_default(),
                m.home_store
                    .and_then(|s| stores.get(&s).cloned())
                    .unwrap_or_default(),
                p.tags.join(";"),
                Date::at(m.joined_at, MERCHANT_UTC_OFFSET_MINUTES).to_string(),
                m.consent
                    .as_ref()
                    .map(|c| if c.marketing { "yes" } else { "no" }.to_owned())
                    .unwrap_or_default(),
                p.notes.clone().unwrap_or_default(),
                b.points.to_string(),
                money(b.principal_fen),
                money(b.bonus_fen),
                b.growth.to_string(),
            ];
            writer.write_record(&record).map_err(csv_error)
        })?;
        writer
            .into_inner()
            .map_err(|e| DomainError::Storage(format!("csv: {e}")))
    }
}
