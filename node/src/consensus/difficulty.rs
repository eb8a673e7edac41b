//! The difficulty schedule: which `bits` a block at a given height must carry.
//!
//! Genesis and block 1 carry the pow limit. From block 2 on, aserti3-2d (see `asert`) with
//! block 1 as its anchor.
//!
//! Departure from DESIGN §2 ("anchored at genesis"): the anchor is block 1, and its own time
//! stands for "on schedule". Genesis timestamps are fixed when the network is defined, so
//! anchoring there would leave a network that starts mining months later so far behind its
//! schedule that the target stays pinned at the pow limit for millions of blocks. Block 1 is
//! mined when the network really starts, so the schedule starts then too.

use crate::primitives::{CompactTarget, Height};

use super::asert::{AsertAnchor, next_target};
use super::params::Params;

/// The `bits` required of the block at `height`, whose parent has time `parent_time`;
/// `anchor_time` is block 1's time (ignored for heights 0 and 1).
pub fn next_bits(
    params: &Params,
    height: Height,
    parent_time: u32,
    anchor_time: u32,
) -> CompactTarget {
    if height.get() <= 1 {
        return params.pow_limit;
    }
    let anchor = AsertAnchor {
        height: 1,
        target: params.pow_limit_target(),
        parent_time: i64::from(anchor_time) - i64::from(params.target_spacing),
    };
    let parent_height = i64::from(height.get()) - 1;
    next_target(
        &params.asert(),
        &anchor,
        parent_height,
        i64::from(parent_time),
    )
    .to_compact()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::params::DEV;
    use crate::primitives::Target;

    fn target(bits: CompactTarget) -> Target {
        bits.to_target().unwrap()
    }

    #[test]
    fn blocks_on_schedule_keep_the_limit() {
        let t1 = 1_800_000_000;
        assert_eq!(next_bits(&DEV, Height::new(1), 0, 0), DEV.pow_limit);
        for h in 2..50u32 {
            let parent_time = t1 + (h - 2) * DEV.target_spacing;
            assert_eq!(
                next_bits(&DEV, Height::new(h), parent_time, t1),
                DEV.pow_limit,
                "height {h}"
            );
        }
    }

    #[test]
    fn fast_blocks_make_it_harder_and_a_half_life_ahead_halves_the_target() {
        let t1 = 1_800_000_000;
        let half_life_in_blocks = DEV.asert_half_life / DEV.target_spacing;
        // All blocks at t1: each is one spacing ahead of schedule.
        let bits = next_bits(&DEV, Height::new(2 + half_life_in_blocks), t1, t1);
        let ratio = target(DEV.pow_limit).as_u256() / target(bits).as_u256();
        assert_eq!(ratio, ruint::aliases::U256::from(2u8));
        let harder = next_bits(&DEV, Height::new(2 + 4 * half_life_in_blocks), t1, t1);
        assert!(target(harder) < target(bits));
    }
}
