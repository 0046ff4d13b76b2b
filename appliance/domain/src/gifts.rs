//! The gift catalogue (礼品兑换): what members may take for points, with stock. Head office keeps
//! it; the till redeems from it (`Till::redeem_gift`), reserving stock here before the points move
//! in the ledger and giving it back if they cannot.

use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::UnixMillis;
use crate::directory::{Directory, decode, encode, random_u128};
use crate::error::DomainError;
use crate::member::{FieldError, Invalid};
use crate::merchant::MerchantId;
use crate::staff::{Role, Staff};

/// (merchant, gift) → `Gift`.
const GIFTS: TableDefinition<(u128, u128), &[u8]> = TableDefinition::new("gifts");
/// (merchant, order id) → `Reservation`: stock held for a redemption, so a retry after a crash
/// takes the same stock, not more.
const RESERVATIONS: TableDefinition<(u128, &str), &[u8]> =
    TableDefinition::new("gift_reservations");

pub(crate) fn open_tables(txn: &WriteTransaction) -> Result<(), DomainError> {
    txn.open_table(GIFTS)?;
    txn.open_table(RESERVATIONS)?;
    Ok(())
}

hex_id! {
    GiftId;
}

pub const GIFT_NAME_CHARS_MAX: usize = 64;
/// The most of one gift a redemption takes, and the most stock a gift holds.
pub const GIFT_QUANTITY_MAX: u32 = 99;
pub const GIFT_STOCK_MAX: u64 = 1_000_000;
/// A typo guard: no gift costs more points than this.
pub const GIFT_POINTS_MAX: u64 = 100_000_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gift {
    pub id: GiftId,
    pub merchant: MerchantId,
    pub name: String,
    /// Points for one.
    pub points: u64,
    pub stock: u64,
    /// Offered at the till; a withdrawn gift keeps its history.
    pub active: bool,
    pub created_at: UnixMillis,
}

/// A gift to add, or the fields to change (`None`: unchanged).
#[derive(Clone, Debug, Default)]
pub struct GiftEntry {
    pub name: Option<String>,
    pub points: Option<u64>,
    pub stock: Option<u64>,
    pub active: Option<bool>,
}

#[derive(Debug, thiserror::Error)]
pub enum GiftError {
    #[error("{0}")]
    Field(FieldError),
    #[error("only head office keeps the gift catalogue")]
    Forbidden,
    #[error("no such gift")]
    Unknown,
}

/// What a redemption holds of a gift, priced when it was reserved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub gift: GiftId,
    pub name: String,
    pub quantity: u32,
    pub points: u64,
}

/// Why stock could not be reserved.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unreserved {
    Unknown,
    Unavailable {
        stock: u64,
    },
    /// The order id holds another gift or quantity.
    OtherReservation,
}

fn field(name: &str, invalid: Invalid) -> GiftError {
    GiftError::Field(FieldError::new(name, invalid))
}

fn checked(entry: &GiftEntry, gift: &mut Gift) -> Result<(), GiftError> {
    if let Some(name) = &entry.name {
        gift.name = crate::member::required_text("name", name, GIFT_NAME_CHARS_MAX)
            .map_err(GiftError::Field)?;
    }
    if let Some(points) = entry.points {
        if points == 0 || points > GIFT_POINTS_MAX {
            return Err(field("points", Invalid::Number { scale: 0 }));
        }
        gift.points = points;
    }
    if let Some(stock) = entry.stock {
        if stock > GIFT_STOCK_MAX {
            return Err(field("stock", Invalid::Number { scale: 0 }));
        }
        gift.stock = stock;
    }
    if let Some(active) = entry.active {
        gift.active = active;
    }
    Ok(())
}

impl Directory {
    /// The merchant's gifts, active or not, in the order they were added.
    pub fn gifts(&self, merchant: MerchantId) -> Result<Vec<Gift>, DomainError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(GIFTS)?;
        let mut gifts: Vec<Gift> = table
            .range((merchant.0, 0)..=(merchant.0, u128::MAX))?
            .map(|entry| decode("gift", entry?.1.value()))
            .collect::<Result<_, _>>()?;
        gifts.sort_by_key(|gift| (gift.created_at, gift.id));
        Ok(gifts)
    }

    /// Adds a gift (head office): a name and its points are required.
    pub fn add_gift(
        &self,
        actor: &Staff,
        entry: &GiftEntry,
        now: UnixMillis,
    ) -> Result<Result<Gift, GiftError>, DomainError> {
        if actor.role != Role::HqAdmin {
            return Ok(Err(GiftError::Forbidden));
        }
        for (name, given) in [
            ("name", entry.name.is_some()),
            ("points", entry.points.is_some()),
        ] {
            if !given {
                return Ok(Err(field(name, Invalid::Required)));
            }
        }
        let mut gift = Gift {
            id: GiftId(random_u128()?),
            merchant: actor.merchant,
            name: String::new(),
            points: 0,
            stock: 0,
            active: true,
            created_at: now,
        };
        if let Err(refused) = checked(entry, &mut gift) {
            return Ok(Err(refused));
        }
        let txn = self.db.begin_write()?;
        txn.open_table(GIFTS)?
            .insert((gift.merchant.0, gift.id.0), encode(&gift)?.as_slice())?;
        txn.commit()?;
        Ok(Ok(gift))
    }

    /// Changes a gift (head office): restocks, reprices, withdraws.
    pub fn change_gift(
        &self,
        actor: &Staff,
        id: GiftId,
        entry: &GiftEntry,
    ) -> Result<Result<Gift, GiftError>, DomainError> {
        if actor.role != Role::HqAdmin {
            return Ok(Err(GiftError::Forbidden));
        }
        let txn = self.db.begin_write()?;
        let gift = {
            let mut table = txn.open_table(GIFTS)?;
            let Some(bytes) = table.get((actor.merchant.0, id.0))? else {
                return Ok(Err(GiftError::Unknown));
            };
            let mut gift: Gift = decode("gift", bytes.value())?;
            drop(bytes);
            if let Err(refused) = checked(entry, &mut gift) {
                return Ok(Err(refused));
            }
            table.insert((gift.merchant.0, gift.id.0), encode(&gift)?.as_slice())?;
            gift
        };
        txn.commit()?;
        Ok(Ok(gift))
    }

    /// Holds `quantity` of a gift for the redemption `order`, or finds it already held (a
    /// retry).
    pub(crate) fn reserve_gift(
        &self,
        merchant: MerchantId,
        order: &str,
        gift: GiftId,
        quantity: u32,
    ) -> Result<Result<Reservation, Unreserved>, DomainError> {
        let txn = self.db.begin_write()?;
        let reservation = {
            let mut reservations = txn.open_table(RESERVATIONS)?;
            if let Some(bytes) = reservations.get((merchant.0, order))? {
                let held: Reservation = decode("gift reservation", bytes.value())?;
                return Ok(if held.gift == gift && held.quantity == quantity {
                    Ok(held)
                } else {
                    Err(Unreserved::OtherReservation)
                });
            }
            let mut gifts = txn.open_table(GIFTS)?;
            let Some(bytes) = gifts.get((merchant.0, gift.0))? else {
                return Ok(Err(Unreserved::Unknown));
            };
            let mut record: Gift = decode("gift", bytes.value())?;
            drop(bytes);
            if !record.active {
                return Ok(Err(Unreserved::Unknown));
            }
            if record.stock < u64::from(quantity) {
                return Ok(Err(Unreserved::Unavailable {
                    stock: record.stock,
                }));
            }
            record.stock -= u64::from(quantity);
            gifts.insert((merchant.0, gift.0), encode(&record)?.as_slice())?;
            let reservation = Reservation {
                gift,
                name: record.name.clone(),
                quantity,
                points: record.points.saturating_mul(u64::from(quantity)),
            };
            reservations.insert((merchant.0, order), encode(&reservation)?.as_slice())?;
            reservation
        };
        txn.commit()?;
        Ok(Ok(reservation))
    }

    /// Gives back the stock a redemption held when its points could not move.
    pub(crate) fn release_gift(
        &self,
        merchant: MerchantId,
        order: &str,
    ) -> Result<(), DomainError> {
        let txn = self.db.begin_write()?;
        {
            let mut reservations = txn.open_table(RESERVATIONS)?;
            let Some(bytes) = reservations.remove((merchant.0, order))? else {
                return Ok(());
            };
            let held: Reservation = decode("gift reservation", bytes.value())?;
            drop(bytes);
            let mut gifts = txn.open_table(GIFTS)?;
            let gift = match gifts.get((merchant.0, held.gift.0))? {
                Some(bytes) => Some(decode::<Gift>("gift", bytes.value())?),
                None => None,
            };
            if let Some(mut gift) = gift {
                gift.stock = gift.stock.saturating_add(u64::from(held.quantity));
                gifts.insert((merchant.0, gift.id.0), encode(&gift)?.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }
}
