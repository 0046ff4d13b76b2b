//! Merchants (商户): the tenant every store, staff member and member belongs to.
//!
//! A box serves one merchant today; the data model keys members, cards, phones, tiers and custom
//! fields by merchant so an alliance of merchants (异业联盟) can share one box later, each keeping
//! its own members.

use crate::UnixMillis;

hex_id! {
    MerchantId;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merchant {
    pub id: MerchantId,
    pub name: String,
    pub created_at: UnixMillis,
}

hex_id! {
    /// A head-office department (部门), e.g. 市场部 or 财务部: staff with the department role belong
    /// to one.
    DepartmentId;
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Department {
    pub id: DepartmentId,
    pub merchant: MerchantId,
    pub name: String,
    pub created_at: UnixMillis,
}

/// Why a merchant or department change was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MerchantError {
    #[error("name: 1 to 64 characters (departments 32), no control characters")]
    Name,
    #[error("a department with this name exists")]
    DepartmentTaken,
    #[error("only head office may do this")]
    Forbidden,
}

/// The name a box's first merchant starts with, until head office renames it.
pub const FIRST_MERCHANT_NAME: &str = "我的商户";
