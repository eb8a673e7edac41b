//! `FeeRate`: a fee per byte of a transaction's canonical encoding, kept as an exact fraction.
//!
//! Rates are compared by cross-multiplication in 128 bits, so no rounding or float ever
//! decides which transaction a block takes or the mempool evicts. This file only measures
//! and compares; policy (minimums, eviction) lives in `pool` and `accept`.

use std::cmp::Ordering;
use std::fmt;

use crate::primitives::Amount;

/// Base units of fee per byte, as the exact fraction `units / bytes`.
///
/// Equality and order are those of the fraction: 2 units over 4 bytes equals 1 over 2.
#[derive(Clone, Copy, Debug)]
pub struct FeeRate {
    units: u64,
    /// Never zero.
    bytes: u64,
}

impl FeeRate {
    /// No fee at all.
    pub const ZERO: Self = Self::from_units_per_byte(0);

    /// `units` base units per byte.
    pub const fn from_units_per_byte(units: u64) -> Self {
        Self { units, bytes: 1 }
    }

    /// The rate of paying `fee` for `size` bytes. A size of zero counts as one byte: nothing
    /// encodes to zero bytes, and a rate must never divide by zero.
    pub fn new(fee: Amount, size: usize) -> Self {
        Self {
            units: fee.units(),
            bytes: u64::try_from(size.max(1)).unwrap_or(u64::MAX),
        }
    }

    /// The rate in base units per 1,000 bytes, rounded down: for display and the API.
    pub fn units_per_kilobyte(self) -> u64 {
        let scaled = u128::from(self.units) * 1_000 / u128::from(self.bytes);
        u64::try_from(scaled).unwrap_or(u64::MAX)
    }

    /// `self.units / self.bytes` against `other`'s, exactly: both products fit in 128 bits.
    fn cross(self, other: Self) -> (u128, u128) {
        (
            u128::from(self.units) * u128::from(other.bytes),
            u128::from(other.units) * u128::from(self.bytes),
        )
    }
}

impl PartialEq for FeeRate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for FeeRate {}

impl PartialOrd for FeeRate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for FeeRate {
    fn cmp(&self, other: &Self) -> Ordering {
        let (left, right) = self.cross(*other);
        left.cmp(&right)
    }
}

/// Shown in units per byte with three decimals, rounded down: `1.169 units/B`.
impl fmt::Display for FeeRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per_kilobyte = self.units_per_kilobyte();
        write!(
            f,
            "{}.{:03} units/B",
            per_kilobyte / 1_000,
            per_kilobyte % 1_000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn units(n: u64) -> Amount {
        Amount::from_units(n).unwrap()
    }

    #[test]
    fn equal_fractions_are_equal_rates() {
        assert_eq!(FeeRate::new(units(2), 4), FeeRate::new(units(1), 2));
        assert_eq!(
            FeeRate::new(units(171), 171),
            FeeRate::from_units_per_byte(1)
        );
        assert!(FeeRate::new(units(172), 171) > FeeRate::from_units_per_byte(1));
        assert!(FeeRate::new(units(170), 171) < FeeRate::from_units_per_byte(1));
    }

    #[test]
    fn a_zero_size_counts_as_one_byte() {
        assert_eq!(FeeRate::new(units(5), 0), FeeRate::from_units_per_byte(5));
    }

    #[test]
    fn display_shows_units_per_byte_rounded_down() {
        assert_eq!(FeeRate::new(units(200), 171).to_string(), "1.169 units/B");
        assert_eq!(FeeRate::ZERO.to_string(), "0.000 units/B");
        assert_eq!(
            FeeRate::new(Amount::MAX, 1).units_per_kilobyte(),
            Amount::MAX.units() * 1_000
        );
    }

    proptest! {
        #[test]
        fn order_matches_the_exact_fractions(
            a in 0..=Amount::MAX.units(), x in 1usize..2_000_000,
            b in 0..=Amount::MAX.units(), y in 1usize..2_000_000,
        ) {
            let left = FeeRate::new(units(a), x);
            let right = FeeRate::new(units(b), y);
            let exact = (u128::from(a) * y as u128).cmp(&(u128::from(b) * x as u128));
            prop_assert_eq!(left.cmp(&right), exact);
        }
    }
}
