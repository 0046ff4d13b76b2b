//! The edge between decimal amounts (what people and the API use) and the ledger's integers of the
//! asset's smallest unit. Nothing is ever rounded here: an amount that does not fit exactly is an
//! error, and rounding is the business layer's decision, made before it gets here.

use rust_decimal::Decimal;

use crate::types::Asset;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    #[error("amount must not be negative")]
    Negative,
    #[error("amount has more than {scale} decimal places")]
    TooPrecise { scale: u8 },
    #[error("amount is too large")]
    TooLarge,
}

impl Asset {
    /// `12.34` CNY → `1234`. Rejects negative amounts and amounts finer than the asset's unit.
    pub fn to_minor_units(&self, amount: Decimal) -> Result<u128, AmountError> {
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(AmountError::Negative);
        }
        let amount = amount.normalize();
        let scale = u8::try_from(amount.scale())
            .map_err(|_| AmountError::TooPrecise { scale: self.scale })?;
        if scale > self.scale {
            return Err(AmountError::TooPrecise { scale: self.scale });
        }
        let mantissa = u128::try_from(amount.mantissa()).map_err(|_| AmountError::Negative)?;
        10u128
            .checked_pow(u32::from(self.scale - scale))
            .and_then(|factor| mantissa.checked_mul(factor))
            .ok_or(AmountError::TooLarge)
    }

    /// `1234` → `12.34` CNY, carrying the asset's scale so it prints with all its places.
    pub fn to_decimal(&self, minor_units: u128) -> Result<Decimal, AmountError> {
        let mantissa = i128::try_from(minor_units).map_err(|_| AmountError::TooLarge)?;
        Decimal::try_from_i128_with_scale(mantissa, u32::from(self.scale))
            .map_err(|_| AmountError::TooLarge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::AssetId;
    use std::str::FromStr;

    fn cny() -> Asset {
        Asset {
            id: AssetId(1),
            code: "CNY".into(),
            scale: 2,
        }
    }

    fn points() -> Asset {
        Asset {
            id: AssetId(2),
            code: "POINTS".into(),
            scale: 0,
        }
    }

    fn check(asset: &Asset, input: &str, expected: Result<u128, AmountError>) {
        let decimal = Decimal::from_str(input).unwrap();
        assert_eq!(asset.to_minor_units(decimal), expected, "{input}");
    }

    #[test]
    fn decimal_to_minor_units() {
        check(&cny(), "12.34", Ok(1234));
        check(&cny(), "12.3", Ok(1230));
        check(&cny(), "12.340", Ok(1234));
        check(&cny(), "0", Ok(0));
        check(&cny(), "-0.00", Ok(0));
        check(&cny(), "100", Ok(10000));
        check(&cny(), "0.001", Err(AmountError::TooPrecise { scale: 2 }));
        check(&cny(), "-1", Err(AmountError::Negative));
        check(&points(), "7", Ok(7));
        check(&points(), "7.5", Err(AmountError::TooPrecise { scale: 0 }));
        check(
            &cny(),
            "79228162514264337593543950335",
            Ok(7_922_816_251_426_433_759_354_395_033_500),
        );
    }

    #[test]
    fn too_large_for_the_scale() {
        let fine = Asset {
            id: AssetId(3),
            code: "FINE".into(),
            scale: 18,
        };
        let max = Decimal::MAX;
        assert_eq!(fine.to_minor_units(max), Err(AmountError::TooLarge));
    }

    #[test]
    fn minor_units_round_trip_keep_the_scale() {
        let cny = cny();
        for units in [0u128, 1, 99, 100, 1234, 10_000_000_000] {
            let decimal = cny.to_decimal(units).unwrap();
            assert_eq!(decimal.scale(), 2);
            assert_eq!(cny.to_minor_units(decimal), Ok(units));
        }
        assert_eq!(cny.to_decimal(1234).unwrap().to_string(), "12.34");
        assert_eq!(cny.to_decimal(u128::MAX), Err(AmountError::TooLarge));
    }
}
