//! How members and merchants map onto the ledger: which assets exist, which accounts each member
//! has, and how their ids are derived.
//!
//! Account and transfer ids are derived (SHA-256 of a purpose and the owner), never random: a
//! retried member creation, import or merge names the same ledger objects, and the ledger's own
//! idempotency makes the retry harmless.

use sha2::{Digest, Sha256};
use tongka_ledger::{
    AccountFlags, AccountId, Asset, AssetId, BatchError, Ledger, NewAccount, TransferId,
};

use crate::error::DomainError;
use crate::member::MemberId;
use crate::merchant::MerchantId;
use crate::staff::StoreId;

/// 人民币, in fen.
pub const CNY: AssetId = AssetId(1);
/// 积分, whole points.
pub const POINTS: AssetId = AssetId(2);
/// 成长值, whole units.
pub const GROWTH: AssetId = AssetId(3);

pub fn assets() -> Vec<Asset> {
    vec![
        Asset {
            id: CNY,
            code: "CNY".into(),
            scale: 2,
        },
        Asset {
            id: POINTS,
            code: "POINTS".into(),
            scale: 0,
        },
        Asset {
            id: GROWTH,
            code: "GROWTH".into(),
            scale: 0,
        },
    ]
}

/// An asset the box defines, by id: its code and scale. Kept once: every amount on every
/// receipt is shown through it.
pub fn asset(id: AssetId) -> Option<&'static Asset> {
    static ASSETS: std::sync::LazyLock<Vec<Asset>> = std::sync::LazyLock::new(assets);
    ASSETS.iter().find(|asset| asset.id == id)
}

/// `amount` of `asset` as the decimal people read (`1230` fen → `12.30`), through the ledger's
/// own conversion. Empty if the asset is unknown or the amount does not fit a decimal.
pub fn display(id: AssetId, amount: u128) -> String {
    asset(id)
        .and_then(|asset| asset.to_decimal(amount).ok())
        .map(|decimal| decimal.to_string())
        .unwrap_or_default()
}

/// A decimal people typed as minor units of `asset` (`12.30` CNY → `1230`), refusing negative
/// amounts and more places than the asset has: the ledger's own conversion.
pub fn minor_units(id: AssetId, amount: rust_decimal::Decimal) -> Option<u128> {
    asset(id)?.to_minor_units(amount).ok()
}

/// The accounts every member has from the day they join (一卡多账户).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemberAccount {
    Points,
    /// 储值本金: money the member paid in.
    Principal,
    /// 储值赠送: money the merchant gave on top (充100送20).
    Bonus,
    Growth,
}

impl MemberAccount {
    pub const ALL: [MemberAccount; 4] = [
        MemberAccount::Points,
        MemberAccount::Principal,
        MemberAccount::Bonus,
        MemberAccount::Growth,
    ];

    /// The account's code in the ledger.
    pub fn code(self) -> u16 {
        match self {
            MemberAccount::Points => 1,
            MemberAccount::Principal => 2,
            MemberAccount::Bonus => 3,
            MemberAccount::Growth => 4,
        }
    }

    pub fn asset(self) -> AssetId {
        match self {
            MemberAccount::Points => POINTS,
            MemberAccount::Principal | MemberAccount::Bonus => CNY,
            MemberAccount::Growth => GROWTH,
        }
    }

    pub fn id(self, member: MemberId) -> AccountId {
        AccountId(derive(b"member-account", member.0, self.code()))
    }

    /// A member's balance can never go below zero: the ledger refuses the transfer.
    pub fn new_account(self, member: MemberId) -> NewAccount {
        NewAccount {
            id: self.id(member),
            asset: self.asset(),
            owner: member.0,
            code: self.code(),
            flags: AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
        }
    }
}

/// A member's points debt (积分欠账): what a refund took back of points the member had already
/// spent, under the "negative balance" policy. It only ever holds a debt (its credits may not
/// exceed its debits) and later earnings repay it first. Opened the first time it is needed.
pub fn points_owed_account(member: MemberId) -> NewAccount {
    NewAccount {
        id: points_owed_id(member),
        asset: POINTS,
        owner: member.0,
        code: POINTS_OWED_CODE,
        flags: AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
    }
}

/// The ledger code of a member's points debt account.
pub const POINTS_OWED_CODE: u16 = 5;

pub fn points_owed_id(member: MemberId) -> AccountId {
    AccountId(derive(b"member-account", member.0, POINTS_OWED_CODE))
}

/// The merchant's side of balances brought in from a previous system (期初余额), one per asset:
/// it goes negative by exactly what members were credited.
pub fn opening_account(merchant: MerchantId, asset: AssetId) -> NewAccount {
    let code = 100 + u16::try_from(asset.0).unwrap_or(u16::MAX - 100);
    NewAccount {
        id: AccountId(derive(b"merchant-account", merchant.0, code)),
        asset,
        owner: merchant.0,
        code,
        flags: AccountFlags::NONE,
    }
}

/// A store's side of what its till moves (owner: the store). Each is the counterpart of member
/// balances the store created or consumed, so a store's accounts say what it took in and what it
/// delivered — what inter-store settlement (月结算) nets. No limits: they go as far negative as
/// the store has sold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreAccount {
    /// Stored value the store sold (top-up principal): debited.
    StoredValueSold,
    /// Stored value the store gave on top (赠送): debited.
    BonusGiven,
    /// Stored value spent at the store, principal: credited.
    StoredValueRedeemed,
    /// Stored value spent at the store, bonus: credited.
    BonusRedeemed,
    /// Points the store's sales earned members: debited.
    PointsIssued,
    /// Points members used to pay at the store: credited.
    PointsRedeemed,
    /// Growth the store's sales gave: debited.
    GrowthIssued,
    /// Staff commission (提成) earned on the store's openings, top-ups and sales: debited.
    CommissionExpense,
}

impl StoreAccount {
    pub const ALL: [StoreAccount; 8] = [
        StoreAccount::StoredValueSold,
        StoreAccount::BonusGiven,
        StoreAccount::StoredValueRedeemed,
        StoreAccount::BonusRedeemed,
        StoreAccount::PointsIssued,
        StoreAccount::PointsRedeemed,
        StoreAccount::GrowthIssued,
        StoreAccount::CommissionExpense,
    ];

    pub fn code(self) -> u16 {
        match self {
            StoreAccount::StoredValueSold => 201,
            StoreAccount::BonusGiven => 202,
            StoreAccount::StoredValueRedeemed => 203,
            StoreAccount::BonusRedeemed => 204,
            StoreAccount::PointsIssued => 205,
            StoreAccount::PointsRedeemed => 206,
            StoreAccount::GrowthIssued => 207,
            StoreAccount::CommissionExpense => 208,
        }
    }

    pub fn asset(self) -> AssetId {
        match self {
            StoreAccount::StoredValueSold
            | StoreAccount::BonusGiven
            | StoreAccount::StoredValueRedeemed
            | StoreAccount::BonusRedeemed
            | StoreAccount::CommissionExpense => CNY,
            StoreAccount::PointsIssued | StoreAccount::PointsRedeemed => POINTS,
            StoreAccount::GrowthIssued => GROWTH,
        }
    }

    pub fn id(self, store: StoreId) -> AccountId {
        AccountId(derive(b"store-account", store.0, self.code()))
    }

    pub fn new_account(self, store: StoreId) -> NewAccount {
        NewAccount {
            id: self.id(store),
            asset: self.asset(),
            owner: store.0,
            code: self.code(),
            flags: AccountFlags::NONE,
        }
    }
}

/// What a transfer was for, as the ledger's transfer code.
pub mod transfer_code {
    /// A balance brought in by an import.
    pub const OPENING_BALANCE: u16 = 1;
    /// A balance moved from a merged member to the one kept.
    pub const MERGE: u16 = 2;
    /// Money paid in at a top-up (充值本金).
    pub const TOP_UP: u16 = 10;
    /// Stored value the merchant gave on top (赠送).
    pub const TOP_UP_BONUS: u16 = 11;
    /// Stored value spent at checkout, principal.
    pub const SPEND_PRINCIPAL: u16 = 20;
    /// Stored value spent at checkout, bonus.
    pub const SPEND_BONUS: u16 = 21;
    /// Points used to pay (积分抵现).
    pub const POINTS_OFFSET: u16 = 22;
    /// Points earned by the member.
    pub const POINTS_EARNED: u16 = 23;
    /// Growth earned by the member.
    pub const GROWTH_EARNED: u16 = 24;
    /// Points earned by the member's referrer.
    pub const REFERRAL_POINTS: u16 = 25;
    /// Points a member's earnings put towards their points debt (积分欠账).
    pub const POINTS_DEBT_REPAID: u16 = 29;
    /// Points or growth a daily tick gave or took away (生日礼, expiry).
    pub const DAILY_TICK: u16 = 31;
    /// Points expired at the start of a year (积分清零).
    pub const POINTS_EXPIRED: u16 = 32;
    /// Points turned into stored value (积分兑换储值), both legs.
    pub const POINTS_CONVERTED: u16 = 26;
    /// Points given for a gift (礼品兑换).
    pub const GIFT_REDEEMED: u16 = 27;
    /// Points paid for a tier (积分升级).
    pub const TIER_BOUGHT: u16 = 28;
    /// A refund moving back part of what a transfer moved; its `user_data.u128` is that
    /// transfer's id.
    pub const REVERSAL: u16 = 30;
    /// Staff commission (提成) on a card opening, a top-up, a sale.
    pub const COMMISSION_CARD_OPENING: u16 = 40;
    pub const COMMISSION_TOP_UP: u16 = 41;
    pub const COMMISSION_SALE: u16 = 42;
}

/// A transfer id for `purpose` about `subject`, distinct per `part`.
pub fn transfer_id(purpose: &[u8], subject: u128, part: u16) -> TransferId {
    TransferId(derive(purpose, subject, part))
}

/// An id for `part` of `subject`: 112 bits of hash of the purpose and subject, then the part in
/// the low 16 bits. The parts of one subject are therefore neighbours in the ledger's tables
/// (which order ids as numbers): a member's accounts share a B-tree leaf, and so do an order's
/// transfers, so a sale rewrites one leaf of each rather than one per account and per leg.
pub(crate) fn derive(purpose: &[u8], subject: u128, part: u16) -> u128 {
    let mut hash = Sha256::new();
    hash.update(b"tongka/");
    hash.update(purpose);
    hash.update(subject.to_le_bytes());
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    let id = u128::from_le_bytes(bytes) & !0xFFFF | u128::from(part);
    // Zero and all-ones are reserved by the ledger; a hash landing on them is astronomically rare
    // but costs nothing to rule out.
    id.clamp(1, u128::MAX - 1)
}

/// Creates the assets and the merchant's accounts, if missing. Run at every start: it is a no-op
/// once done.
pub async fn set_up(ledger: &Ledger, merchant: MerchantId) -> Result<(), DomainError> {
    ledger.create_assets(assets()).await.map_err(batch_error)?;
    let accounts = [CNY, POINTS, GROWTH]
        .into_iter()
        .map(|asset| opening_account(merchant, asset))
        .collect();
    ledger
        .create_accounts(accounts)
        .await
        .map_err(batch_error)?;
    Ok(())
}

pub(crate) fn batch_error<E: std::error::Error + 'static>(error: BatchError<E>) -> DomainError {
    DomainError::Ledger(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parts of one subject are numeric neighbours (one B-tree leaf in the ledger); other
    /// subjects, and other purposes, land elsewhere.
    #[test]
    fn a_subjects_ids_are_neighbours_and_other_subjects_are_not() {
        let member = MemberId(42);
        let ids: Vec<u128> = MemberAccount::ALL
            .iter()
            .map(|account| account.id(member).0)
            .chain([points_owed_id(member).0])
            .collect();
        let base = ids[0] & !0xFFFF;
        for (id, code) in ids.iter().zip([1, 2, 3, 4, POINTS_OWED_CODE]) {
            assert_eq!(*id, base | u128::from(code));
        }
        let other = MemberAccount::Points.id(MemberId(43)).0;
        assert_ne!(other & !0xFFFF, base);
        let legs: Vec<u128> = (1..=14)
            .map(|part| transfer_id(b"till", 7, part).0)
            .collect();
        assert!(legs.windows(2).all(|pair| pair[1] == pair[0] + 1));
        assert_ne!(transfer_id(b"till", 8, 1).0 & !0xFFFF, legs[0] & !0xFFFF);
        assert_ne!(transfer_id(b"other", 7, 1).0, legs[0]);
    }
}
