//! Merchants (商户): the tenant every store, staff member and member belongs to.
//!
//! A box serves one merchant today; the data model keys members, cards, phones, tiers and custom
//! fields by merchant so an alliance of merchants (异业联盟) can share one box later, each keeping
//! its own members.

use std::fmt;

use crate::UnixMillis;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct MerchantId(pub u128);

impl fmt::Display for MerchantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merchant {
    pub id: MerchantId,
    pub name: String,
    pub created_at: UnixMillis,
}

/// The name a box's first merchant starts with, until head office renames it.
pub const FIRST_MERCHANT_NAME: &str = "我的商户";
