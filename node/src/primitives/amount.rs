//! `Amount`: a quantity of coins in base units that can never exceed the maximum supply.
//!
//! 1 coin = 100,000,000 base units. Arithmetic is checked: a sum above [`Amount::MAX`]
//! is an error, never a wrap. No floating point touches an amount; decimal strings such as
//! `"10.5"` are parsed exactly, and more than eight decimals is an error, not a rounding.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use super::encode::{Decode, DecodeError, Encode, Reader};

/// A non-negative number of base units, at most [`Amount::MAX`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(u64);

/// Why a number or string is not a valid amount.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AmountError {
    #[error("amount is above the maximum supply of 21,000,000 coins")]
    TooLarge,
    #[error("amount is negative")]
    Negative,
    #[error("amount has more than 8 decimal places")]
    TooPrecise,
    #[error("amount is not a decimal number of coins: {0:?}")]
    Malformed(String),
}

impl Amount {
    /// Base units per coin.
    pub const COIN_UNITS: u64 = 100_000_000;
    pub const ZERO: Self = Self(0);
    pub const ONE_COIN: Self = Self(Self::COIN_UNITS);
    /// 21 million coins: no amount, sum or supply may exceed it.
    pub const MAX: Self = Self(21_000_000 * Self::COIN_UNITS);

    /// `units` base units, if not above the maximum supply.
    pub const fn from_units(units: u64) -> Result<Self, AmountError> {
        if units > Self::MAX.0 {
            Err(AmountError::TooLarge)
        } else {
            Ok(Self(units))
        }
    }

    /// Whole coins, if not above the maximum supply.
    pub const fn from_coins(coins: u64) -> Result<Self, AmountError> {
        match coins.checked_mul(Self::COIN_UNITS) {
            Some(units) => Self::from_units(units),
            None => Err(AmountError::TooLarge),
        }
    }

    /// Whole coins, for constants.
    ///
    /// # Panics
    /// If `coins` is above the maximum supply (at compile time, in a `const`).
    pub const fn coins(coins: u64) -> Self {
        assert!(coins <= 21_000_000, "above the maximum supply");
        Self(coins * Self::COIN_UNITS)
    }

    pub const fn units(self) -> u64 {
        self.0
    }

    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0
            .checked_add(other.0)
            .and_then(|u| Self::from_units(u).ok())
    }

    pub fn checked_sub(self, other: Self) -> Option<Self> {
        self.0.checked_sub(other.0).map(Self)
    }

    pub fn checked_mul(self, factor: u64) -> Option<Self> {
        self.0
            .checked_mul(factor)
            .and_then(|u| Self::from_units(u).ok())
    }

    /// The sum of `amounts`, or `None` as soon as it would pass the maximum supply.
    pub fn checked_sum(amounts: impl IntoIterator<Item = Self>) -> Option<Self> {
        amounts.into_iter().try_fold(Self::ZERO, Self::checked_add)
    }

    /// Parses a decimal number of coins (`"10"`, `"0.5"`, `"0.00000001"`) exactly.
    pub fn from_coins_str(s: &str) -> Result<Self, AmountError> {
        let malformed = || AmountError::Malformed(s.to_owned());
        if s.starts_with('-') {
            return Err(AmountError::Negative);
        }
        let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
        let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || s.ends_with('.') {
            return Err(malformed());
        }
        let significant = fraction.trim_end_matches('0');
        if significant.len() > 8 {
            return Err(AmountError::TooPrecise);
        }
        // `whole` is non-empty ASCII digits, so the only way to fail is to be too big.
        let whole_units = whole
            .parse::<u64>()
            .ok()
            .and_then(|coins| coins.checked_mul(Self::COIN_UNITS))
            .ok_or(AmountError::TooLarge)?;
        let fraction_units = format!("{significant:0<8}")
            .parse::<u64>()
            .map_err(|_| malformed())?;
        let units = whole_units
            .checked_add(fraction_units)
            .ok_or(AmountError::TooLarge)?;
        Self::from_units(units)
    }
}

/// Shows coins with all eight decimals: `12.50000000`.
impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:08}",
            self.0 / Self::COIN_UNITS,
            self.0 % Self::COIN_UNITS
        )
    }
}

impl FromStr for Amount {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_coins_str(s)
    }
}

/// Layout: u64 little-endian base units; values above the maximum supply do not decode.
impl Encode for Amount {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.0.encode_to(out);
    }
    fn encoded_len(&self) -> usize {
        8
    }
}

impl Decode for Amount {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let units = reader.u64()?;
        Self::from_units(units).map_err(|_| DecodeError::AmountTooLarge(units))
    }
}

/// In JSON an amount is its integer number of base units.
impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::from_units(u64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decimal_strings_parse_exactly() {
        let cases = [
            ("10", 1_000_000_000),
            ("10.0", 1_000_000_000),
            ("0.5", 50_000_000),
            ("0.00000001", 1),
            ("000.10000000000", 10_000_000),
            ("21000000", Amount::MAX.units()),
        ];
        for (text, units) in cases {
            assert_eq!(text.parse::<Amount>(), Ok(Amount(units)), "{text}");
        }
    }

    #[test]
    fn bad_decimal_strings_say_what_is_wrong() {
        assert_eq!("-1".parse::<Amount>(), Err(AmountError::Negative));
        assert_eq!(
            "0.000000001".parse::<Amount>(),
            Err(AmountError::TooPrecise)
        );
        assert_eq!(
            "21000000.00000001".parse::<Amount>(),
            Err(AmountError::TooLarge)
        );
        assert_eq!(
            "99999999999999999999999".parse::<Amount>(),
            Err(AmountError::TooLarge)
        );
        for bad in [
            "", ".", "1.", ".5", "1e3", "+1", "1,5", " 1", "0x10", "1.2.3", "NaN",
        ] {
            assert!(
                matches!(bad.parse::<Amount>(), Err(AmountError::Malformed(_))),
                "{bad:?} should be malformed"
            );
        }
    }

    #[test]
    fn display_shows_eight_decimals() {
        assert_eq!(Amount(1_250_000_000).to_string(), "12.50000000");
        assert_eq!(Amount(1).to_string(), "0.00000001");
    }

    #[test]
    fn amounts_above_the_supply_do_not_exist() {
        assert_eq!(
            Amount::from_units(Amount::MAX.units() + 1),
            Err(AmountError::TooLarge)
        );
        assert_eq!(Amount::from_coins(u64::MAX), Err(AmountError::TooLarge));
        assert_eq!(Amount::MAX.checked_add(Amount(1)), None);
        assert_eq!(
            super::super::encode::decode::<Amount>(&u64::MAX.to_le_bytes()),
            Err(DecodeError::AmountTooLarge(u64::MAX))
        );
    }

    proptest! {
        #[test]
        fn sums_never_overflow_silently(a in any::<u64>(), b in any::<u64>()) {
            let (a, b) = (Amount(a % (Amount::MAX.0 + 1)), Amount(b % (Amount::MAX.0 + 1)));
            match a.checked_add(b) {
                Some(sum) => prop_assert_eq!(sum.units(), a.units() + b.units()),
                None => prop_assert!(a.units() + b.units() > Amount::MAX.units()),
            }
            match a.checked_sub(b) {
                Some(diff) => prop_assert_eq!(diff.units() + b.units(), a.units()),
                None => prop_assert!(a < b),
            }
        }

        #[test]
        fn display_then_parse_is_the_identity(units in 0..=Amount::MAX.units()) {
            let amount = Amount(units);
            prop_assert_eq!(amount.to_string().parse::<Amount>(), Ok(amount));
        }

        #[test]
        fn parsing_any_string_never_panics(s in "\\PC*") {
            let _ = s.parse::<Amount>();
        }
    }
}
