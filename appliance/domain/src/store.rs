//! Stores (门店): where members are served and money is taken.

use crate::UnixMillis;
use crate::error::StoreError;
use crate::merchant::MerchantId;
use crate::staff::StoreId;

/// 直营 / 加盟: a franchise store settles with head office (月结算) instead of sharing its till.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreKind {
    Direct,
    Franchise,
}

impl StoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Direct => "direct",
            StoreKind::Franchise => "franchise",
        }
    }

    pub fn parse(text: &str) -> Option<StoreKind> {
        [StoreKind::Direct, StoreKind::Franchise]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// A calendar date, checked: the store's opening day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

/// The days of `month` (1–12) in `year` of the Gregorian calendar; none for another month.
pub(crate) fn days_in_month(year: u16, month: u8) -> Option<u8> {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => Some(31),
        4 | 6 | 9 | 11 => Some(30),
        2 if leap => Some(29),
        2 => Some(28),
        _ => None,
    }
}

impl Date {
    /// `YYYY-MM-DD`, a real day of the Gregorian calendar between 1900 and 9999.
    pub fn parse(text: &str) -> Option<Date> {
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return None;
        }
        let number = |range: std::ops::Range<usize>| -> Option<u16> {
            let part = text.get(range)?;
            part.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| part.parse().ok())?
        };
        let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
        let days_in_month = days_in_month(year, u8::try_from(month).ok()?)?;
        if !(1900..=9999).contains(&year) || day == 0 || day > u16::from(days_in_month) {
            return None;
        }
        Some(Date {
            year,
            month: u8::try_from(month).ok()?,
            day: u8::try_from(day).ok()?,
        })
    }
}

impl Date {
    /// Midnight starting this day in a zone `offset_minutes` east of UTC.
    pub fn start(self, offset_minutes: i32) -> UnixMillis {
        // Howard Hinnant's days-from-civil.
        let (y, m, d) = (
            i64::from(self.year) - i64::from(self.month <= 2),
            i64::from(self.month),
            i64::from(self.day),
        );
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let ms = (days * 86_400 - i64::from(offset_minutes) * 60) * 1000;
        UnixMillis(u64::try_from(ms).unwrap_or(0))
    }

    /// The calendar day at `at` in a zone `offset_minutes` east of UTC.
    pub fn at(at: crate::UnixMillis, offset_minutes: i32) -> Date {
        let seconds =
            i64::try_from(at.0 / 1000).unwrap_or(i64::MAX) + i64::from(offset_minutes) * 60;
        // Howard Hinnant's days-to-civil.
        let z = seconds.div_euclid(86_400) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date {
            year: u16::try_from(year.clamp(1900, 9999)).unwrap_or(9999),
            month: u8::try_from(month).unwrap_or(1),
            day: u8::try_from(day).unwrap_or(1),
        }
    }
}

impl serde::Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Date::parse(&text).ok_or_else(|| serde::de::Error::custom("a date YYYY-MM-DD"))
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    pub id: StoreId,
    pub merchant: MerchantId,
    /// The merchant's own short code for it (e.g. `SH-001`): unique, upper case.
    pub code: String,
    pub name: String,
    pub kind: StoreKind,
    pub opened_on: Date,
    /// An IANA zone name such as `Asia/Shanghai`: member days and time windows are in it.
    pub time_zone: String,
    pub created_at: UnixMillis,
    /// A top-up above this needs a manager's authorisation (大额充值授权); `None`: never.
    pub top_up_approval_above_fen: Option<u64>,
}

/// A store to create, as entered.
#[derive(Clone, Debug)]
pub struct NewStore {
    pub code: String,
    pub name: String,
    pub kind: StoreKind,
    pub opened_on: Date,
    pub time_zone: String,
}

pub const STORE_CODE_LEN_MAX: usize = 16;
pub const STORE_NAME_CHARS_MAX: usize = 64;

impl NewStore {
    /// The entry as stored (code upper-cased, name trimmed), or why it cannot be accepted.
    pub(crate) fn validate(&self) -> Result<NewStore, StoreError> {
        let code = self.code.trim().to_ascii_uppercase();
        let code_ok = !code.is_empty()
            && code.len() <= STORE_CODE_LEN_MAX
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
        if !code_ok {
            return Err(StoreError::Code);
        }
        let name = self.name.trim();
        if name.is_empty()
            || name.chars().count() > STORE_NAME_CHARS_MAX
            || name.chars().any(char::is_control)
        {
            return Err(StoreError::Name);
        }
        if !valid_time_zone(&self.time_zone) {
            return Err(StoreError::TimeZone);
        }
        Ok(NewStore {
            code,
            name: name.to_owned(),
            ..self.clone()
        })
    }
}

/// The shape of an IANA zone name (`UTC`, `Asia/Shanghai`, `America/Argentina/Salta`). Whether
/// the zone exists is checked where times are computed, against the zone database.
fn valid_time_zone(name: &str) -> bool {
    name == "UTC"
        || (name.len() <= 64
            && name.split('/').count() >= 2
            && name.split('/').all(|part| {
                part.starts_with(|c: char| c.is_ascii_uppercase())
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-+".contains(&b))
            }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn start_and_at_agree() {
        const CHINA: i32 = 8 * 60;
        for text in ["1970-01-02", "2000-02-29", "2026-11-23", "2099-12-31"] {
            let day = super::Date::parse(text).unwrap();
            let start = day.start(CHINA);
            assert_eq!(super::Date::at(start, CHINA), day, "{text}");
            assert_eq!(super::Date::at(start.plus_ms(86_399_999), CHINA), day);
            assert_ne!(super::Date::at(start.plus_ms(86_400_000), CHINA), day);
        }
        // 2026-11-23 00:00 +08:00 is 2026-11-22 16:00 UTC.
        let day = super::Date::parse("2026-11-23").unwrap();
        assert_eq!(day.start(CHINA).0, 1_795_363_200_000);
    }

    use super::*;

    #[test]
    fn dates_are_real_days() {
        assert_eq!(
            Date::parse("2024-02-29").map(|d| d.to_string()),
            Some("2024-02-29".into())
        );
        for bad in [
            "2023-02-29",
            "1900-02-29",
            "2024-13-01",
            "2024-04-31",
            "2024-00-10",
            "2024-1-01",
            "24-01-01xx",
            "2024/01/01",
            "1899-12-31",
            "２０２４-01-01",
            "+024-01-01",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
        assert!(Date::parse("2000-02-29").is_some());
    }

    fn entry(code: &str, name: &str, zone: &str) -> NewStore {
        NewStore {
            code: code.into(),
            name: name.into(),
            kind: StoreKind::Direct,
            opened_on: Date {
                year: 2024,
                month: 5,
                day: 1,
            },
            time_zone: zone.into(),
        }
    }

    #[test]
    fn entries_are_checked_and_tidied() {
        let tidy = entry(" sh-001 ", " 徐汇店 ", "Asia/Shanghai")
            .validate()
            .unwrap();
        assert_eq!(
            (tidy.code.as_str(), tidy.name.as_str()),
            ("SH-001", "徐汇店")
        );
        let cases = [
            (entry("", "徐汇店", "Asia/Shanghai"), StoreError::Code),
            (entry("SH 001", "徐汇店", "Asia/Shanghai"), StoreError::Code),
            (
                entry(&"A".repeat(17), "徐汇店", "Asia/Shanghai"),
                StoreError::Code,
            ),
            (entry("SH1", "", "Asia/Shanghai"), StoreError::Name),
            (
                entry("SH1", &"店".repeat(65), "Asia/Shanghai"),
                StoreError::Name,
            ),
            (entry("SH1", "徐汇店", "Shanghai"), StoreError::TimeZone),
            (
                entry("SH1", "徐汇店", "asia/shanghai"),
                StoreError::TimeZone,
            ),
            (entry("SH1", "徐汇店", "Asia/../etc"), StoreError::TimeZone),
        ];
        for (new, expected) in cases {
            assert_eq!(new.validate().unwrap_err(), expected, "{new:?}");
        }
        assert!(entry("SH1", "徐汇店", "UTC").validate().is_ok());
    }
}
