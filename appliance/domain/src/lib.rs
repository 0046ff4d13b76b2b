//! The retail chain's people and places, and the rules about them: merchants, stores, staff with
//! their roles and scopes, terminals, and members with their cards, tiers and service records.
//!
//! What it is not: HTTP (that is `tongka-http`). Balances live in `tongka-ledger`: this crate
//! opens each member's accounts there and moves balances only through it (imports, merges). It
//! keeps its records in its own redb file, `directory.redb` in the data folder, with plain durable
//! transactions: its writes are rare next to the ledger's.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

/// Declares 128-bit ids: stored as numbers, shown (and accepted by the API) as 32 hex digits.
macro_rules! hex_id {
    ($($(#[$meta:meta])* $name:ident;)*) => {$(
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub u128);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{:032x}", self.0)
            }
        }
    )*};
}

pub mod accounts;
mod audit;
mod bonus;
mod cache;
mod commission;
mod directory;
mod error;
mod expiry;
mod gifts;
mod group;
mod import;
mod inflight;
mod member;
mod members;
mod merchant;
mod password;
mod review;
mod settlement;
mod staff;
mod store;
mod terminal;
mod tick;
mod till;

pub use audit::{AuditCursor, AuditEntry, AuditLogPage};
pub use bonus::{BONUS_MONTHS_MAX, BonusPayout, BonusPlan, month_later, part_fen};
pub use commission::{
    COMMISSION_BASIS_POINTS_MAX, COMMISSION_REPORT_DAYS_MAX, COMMISSION_RULES_MAX,
    CommissionAmount, CommissionError, CommissionEvent, CommissionReport, CommissionRule, Earned,
    StoreCommission, commission_for, staff_account_id,
};
pub use directory::{Directory, Session, SessionOptions};
pub use error::{
    AuditError, AuthError, DomainError, LoginError, MemberError, StaffError, StoreError,
    TerminalError,
};
pub use expiry::{POINTS_EXPIRY_YEARS_MAX, PointsExpiring, PointsExpiry, expiry_order_id};
pub use gifts::{
    GIFT_NAME_CHARS_MAX, GIFT_POINTS_MAX, GIFT_QUANTITY_MAX, GIFT_STOCK_MAX, Gift, GiftEntry,
    GiftError, GiftId, Reservation,
};
pub use import::{IMPORT_ROWS_MAX, ImportError, ImportReport, RowError, RowProblem};
pub use member::{
    Anniversary, Card, CardEvent, CardKind, CardStatus, Consent, CustomField, CustomFieldKind,
    FieldError, Gender, IdNumber, Invalid, JoinChannel, Member, MemberId, MemberStatus, NewCard,
    NewMember, NewTier, Phone, Profile, ProfileEntry, ServiceRecord, Thresholds, Tier, TierId,
    mask,
};
pub use members::{
    Balances, MERCHANT_UTC_OFFSET_MINUTES, MemberExport, MemberPage, MemberPatch, MemberQuery,
    MemberView, Members, PAGE_LIMIT_MAX, TierChange, TierReason,
};
pub use merchant::{Department, DepartmentId, Merchant, MerchantError, MerchantId};
pub use review::TierReview;
pub use settlement::{Movements, SETTLEMENT_DAYS_MAX, Settlement, SettlementError};
pub use staff::{NewStaff, Role, Scope, Staff, StaffId, StoreId};
pub use store::{Date, NewStore, Store, StoreKind};
pub use terminal::{
    PAIRING_CODE_DIGITS, Pairing, PairingError, TERMINAL_TOKEN_PREFIX, Terminal, TerminalId,
};
pub use tick::{DailyRun, DailyTick, tick_order_id};
pub use till::{
    AMOUNT_FEN_MAX, CheckoutRequest, ConversionRequest, Discount, Effect, LINES_MAX, LocalTime,
    MemberStats, Moved, OffsetOffer, Opening, Order, OrderKind, Paid, Party, Payment, PricedLine,
    QUANTITY_MILLI_MAX, Quote, RedemptionRequest, RefundLine, RefundRequest, Scheme, SchemeContext,
    SchemeFailure, SchemeMember, Signer, SpendOrder, SpentPoints, Tender, TenderKind,
    TierPurchaseRequest, Till, TillActor, TillError, TillLine, TillOptions, TopUpRequest,
};

/// Milliseconds since the Unix epoch: the domain's time, given by the caller so tests control it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct UnixMillis(pub u64);

impl UnixMillis {
    pub fn now() -> UnixMillis {
        let elapsed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        UnixMillis(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn plus_ms(self, ms: u64) -> UnixMillis {
        UnixMillis(self.0.saturating_add(ms))
    }
}

/// Bytes as lowercase hex, two digits a byte: tokens, fingerprints, ids shown to people.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0xF)]));
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_two_lowercase_digits_a_byte() {
        assert_eq!(super::hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(super::hex(&[]), "");
    }
}
