//! Alliance settlement (联盟结算): for a period, each pair of merchants is netted, so one
//! statement says who pays whom. An entry means the serving merchant gave goods to a member whose
//! money the member's merchant holds: the member's merchant owes the serving one.

wit_bindgen::generate!({ path: "../../plugin-sdk/wit", world: "settlement" });

use exports::tongka::plugin::settle::{Entry, Guest, Statement};
use std::collections::BTreeMap;
use tongka::plugin::types::{Asset, Date, HookError, Money};

struct Net;

fn day(date: &Date) -> (u16, u8, u8) {
    (date.year, date.month, date.day)
}

fn asset_key(asset: Asset) -> u8 {
    match asset {
        Asset::Cny => 0,
        Asset::Points => 1,
        Asset::Growth => 2,
    }
}

impl Guest for Net {
    fn statements(
        start: Date,
        end: Date,
        entries: Vec<Entry>,
    ) -> Result<Vec<Statement>, HookError> {
        if day(&start) > day(&end) {
            return Err(HookError::InvalidInput(
                "the period ends before it starts".into(),
            ));
        }
        // (first, second, asset) in name order → what `first` owes `second`, negative if the other way.
        let mut owed: BTreeMap<(String, String, u8), (Asset, i64)> = BTreeMap::new();
        for entry in entries
            .iter()
            .filter(|e| day(&start) <= day(&e.on) && day(&e.on) <= day(&end))
        {
            if entry.member_merchant == entry.serving_merchant {
                continue;
            }
            let (debtor, creditor) = (&entry.member_merchant, &entry.serving_merchant);
            let (key, sign) = if debtor < creditor {
                (
                    (
                        debtor.clone(),
                        creditor.clone(),
                        asset_key(entry.amount.asset),
                    ),
                    1,
                )
            } else {
                (
                    (
                        creditor.clone(),
                        debtor.clone(),
                        asset_key(entry.amount.asset),
                    ),
                    -1,
                )
            };
            let slot = owed.entry(key).or_insert((entry.amount.asset, 0));
            slot.1 = slot
                .1
                .checked_add(sign * entry.amount.minor_units)
                .ok_or_else(|| HookError::InvalidInput("amounts overflow".into()))?;
        }
        Ok(owed
            .into_iter()
            .filter(|(_, (_, net))| *net != 0)
            .map(|((first, second, _), (asset, net))| {
                let (debtor, creditor) = if net > 0 {
                    (first, second)
                } else {
                    (second, first)
                };
                Statement {
                    debtor,
                    creditor,
                    amount: Money {
                        asset,
                        minor_units: net.abs(),
                    },
                }
            })
            .collect())
    }
}

export!(Net);
