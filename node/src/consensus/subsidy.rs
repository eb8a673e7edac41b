//! The block subsidy: new coins per block, halving every `halving_interval` blocks.

use crate::primitives::{Amount, Height};

use super::params::Params;

/// The subsidy a block at `height` may claim (on top of its fees). Genesis's output is
/// unspendable, so the supply is the sum of this over heights 1 and up.
pub fn block_subsidy(height: Height, params: &Params) -> Amount {
    let halvings = height.get() / params.halving_interval;
    if halvings >= 64 {
        return Amount::ZERO;
    }
    Amount::from_units(params.initial_subsidy.units() >> halvings)
        .expect("a halved amount stays in range")
}

/// The total a chain up to `tip` has created: the sum of subsidies of blocks 1..=tip.
pub fn total_subsidy(tip: Height, params: &Params) -> Amount {
    let mut total = Amount::ZERO;
    let mut start = 1u64;
    let end = u64::from(tip.get());
    let interval = u64::from(params.halving_interval);
    while start <= end {
        // All heights up to the end of this halving era pay the same subsidy.
        let era_end = end.min((start / interval + 1) * interval - 1);
        let per_block = block_subsidy(Height::new(u32::try_from(start).expect("a height")), params);
        let era = per_block
            .checked_mul(era_end - start + 1)
            .expect("supply stays under 21M coins");
        total = total
            .checked_add(era)
            .expect("supply stays under 21M coins");
        start = era_end + 1;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::params::{DEV, MAIN};

    #[test]
    fn the_subsidy_halves_every_interval_and_ends() {
        let coins = |c: u64| Amount::from_units(c).unwrap();
        assert_eq!(
            block_subsidy(Height::new(1), &MAIN),
            coins(50 * 100_000_000)
        );
        assert_eq!(
            block_subsidy(Height::new(209_999), &MAIN),
            coins(50 * 100_000_000)
        );
        assert_eq!(
            block_subsidy(Height::new(210_000), &MAIN),
            coins(25 * 100_000_000)
        );
        assert_eq!(
            block_subsidy(Height::new(420_000), &MAIN),
            coins(1_250_000_000)
        );
        assert_eq!(
            block_subsidy(Height::new(64 * 210_000), &MAIN),
            Amount::ZERO
        );
        assert_eq!(
            block_subsidy(Height::new(33 * 210_000), &MAIN),
            Amount::ZERO
        );
    }

    #[test]
    fn the_total_is_the_sum_of_every_block_and_stays_below_21_million() {
        for tip in [0u32, 1, 999, 1_000, 1_001, 2_500] {
            let by_hand = (1..=tip)
                .map(|h| block_subsidy(Height::new(h), &DEV).units())
                .sum::<u64>();
            assert_eq!(
                total_subsidy(Height::new(tip), &DEV).units(),
                by_hand,
                "tip {tip}"
            );
        }
        assert!(total_subsidy(Height::new(u32::MAX), &MAIN) <= Amount::MAX);
    }
}
