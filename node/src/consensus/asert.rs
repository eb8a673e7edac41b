//! aserti3-2d: the absolutely scheduled exponentially rising targets difficulty algorithm.
//!
//! Specified for Bitcoin Cash (2020-11-15 upgrade, "ASERT", by Mark Lundeberg and Jonathan
//! Toomim); this is the integer algorithm of its reference implementation. Each block's target
//! is the anchor's target times `2^((time_diff - spacing * (height_diff + 1)) / half_life)`:
//! every `half_life` seconds the chain runs ahead of its schedule halves the target, every
//! `half_life` seconds it runs behind doubles it. The fractional power of two is a cubic
//! approximation in 16-bit fixed point, so every implementation computes the same bits.
//!
//! The spacing, half-life and pow limit are parameters, so the same code runs Bitcoin Cash's
//! published test vectors and our own networks.

use ruint::aliases::{U256, U512};

use crate::primitives::Target;

/// The fixed block ASERT measures from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsertAnchor {
    /// Height of the anchor block.
    pub height: i64,
    /// The anchor block's target.
    pub target: Target,
    /// The anchor block's *parent's* time (the schedule starts one spacing before the anchor).
    pub parent_time: i64,
}

/// The algorithm's tuning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsertParams {
    /// The ideal seconds between blocks.
    pub spacing: i64,
    /// Seconds ahead of (behind) schedule that halve (double) the target.
    pub half_life: i64,
    /// The easiest target allowed.
    pub pow_limit: Target,
}

/// The 16-bit fixed-point radix.
const RADIX_BITS: u32 = 16;

/// The target required of the block after one at `tip_height` with timestamp `tip_time`.
pub fn next_target(
    params: &AsertParams,
    anchor: &AsertAnchor,
    tip_height: i64,
    tip_time: i64,
) -> Target {
    let time_diff = i128::from(tip_time) - i128::from(anchor.parent_time);
    let height_diff = i128::from(tip_height) - i128::from(anchor.height);
    let schedule = i128::from(params.spacing) * (height_diff + 1);
    // Division truncates toward zero, as in the C++ reference (`int64_t` division).
    let exponent = ((time_diff - schedule) << RADIX_BITS) / i128::from(params.half_life);
    // Arithmetic shift: floor, so the remainder below lands in [0, 1) in fixed point.
    let shifts = exponent >> RADIX_BITS;
    let fraction =
        u128::try_from(exponent - (shifts << RADIX_BITS)).expect("remainder in [0, 2^16)");
    let factor = (1u128 << RADIX_BITS) + two_to_the_fraction_minus_one(fraction);

    let product = U512::from(anchor.target.as_u256()) * U512::from(factor);
    let shift_right = i128::from(RADIX_BITS) - shifts;
    let next = if shift_right >= 0 {
        // A floor division by 2^shift_right (ruint's `checked_shr` would refuse inexact ones).
        match usize::try_from(shift_right) {
            Ok(right) if right < 512 => product >> right,
            _ => U512::ZERO,
        }
    } else {
        // Shifting left: anything that leaves 512 bits is far above any pow limit.
        let left = usize::try_from(-shift_right).unwrap_or(usize::MAX);
        match product.checked_shl(left) {
            Some(shifted) if shifted.bit_len() <= 256 => shifted,
            _ => return params.pow_limit,
        }
    };
    clamp(next, params.pow_limit)
}

/// `2^(x / 65536) - 1` in 16-bit fixed point for `x` in [0, 65536): the reference's cubic,
/// `(195766423245049 x + 971821376 x^2 + 5127 x^3 + 2^47) >> 48`.
fn two_to_the_fraction_minus_one(x: u128) -> u128 {
    (195_766_423_245_049 * x + 971_821_376 * x * x + 5_127 * x * x * x + (1 << 47))
        >> (3 * RADIX_BITS)
}

/// A zero target becomes 1; anything easier than the limit becomes the limit.
fn clamp(next: U512, pow_limit: Target) -> Target {
    if next.is_zero() {
        return Target::from_u256(U256::from(1u8));
    }
    if next > U512::from(pow_limit.as_u256()) {
        return pow_limit;
    }
    Target::from_u256(U256::from_limbs_slice(&next.as_limbs()[..4]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::CompactTarget;

    /// One `runNN` file of the published vectors (see `node/tests/data/asert/README.md`).
    struct Run {
        name: String,
        anchor: AsertAnchor,
        /// (tip height, tip time, required nBits of the next block)
        steps: Vec<(i64, i64, u32)>,
    }

    fn header_value<'a>(text: &'a str, key: &str) -> &'a str {
        text.lines()
            .find_map(|l| {
                l.strip_prefix("##")
                    .and_then(|l| l.trim().strip_prefix(key))
            })
            .map(|v| v.trim_start_matches(':').trim())
            .unwrap_or_else(|| panic!("missing {key}"))
    }

    fn hex_u32(s: &str) -> u32 {
        u32::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
    }

    fn parse_run(name: &str, text: &str) -> Run {
        let bits = CompactTarget::from_consensus(hex_u32(header_value(text, "anchor nBits")));
        let anchor = AsertAnchor {
            height: header_value(text, "anchor height").parse().unwrap(),
            target: bits.to_target().unwrap(),
            parent_time: header_value(text, "anchor parent time").parse().unwrap(),
        };
        let steps = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[1].parse().unwrap(), f[2].parse().unwrap(), hex_u32(f[3]))
            })
            .collect();
        Run {
            name: name.to_owned(),
            anchor,
            steps,
        }
    }

    fn bitcoin_cash_params() -> AsertParams {
        AsertParams {
            spacing: 600,
            half_life: 2 * 24 * 3600,
            pow_limit: CompactTarget::from_consensus(0x1d00_ffff)
                .to_target()
                .unwrap(),
        }
    }

    #[test]
    fn every_published_vector_passes() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/asert");
        let mut runs = 0;
        for n in 1..=10 {
            let name = format!("run{n:02}");
            let run = parse_run(
                &name,
                &std::fs::read_to_string(format!("{dir}/{name}")).unwrap(),
            );
            assert!(!run.steps.is_empty(), "{name} has no vectors");
            for (i, &(height, time, expected)) in run.steps.iter().enumerate() {
                let got =
                    next_target(&bitcoin_cash_params(), &run.anchor, height, time).to_compact();
                assert_eq!(
                    got.to_consensus(),
                    expected,
                    "{} step {} (height {height}, time {time})",
                    run.name,
                    i + 1
                );
            }
            runs += 1;
        }
        assert_eq!(runs, 10);
    }

    #[test]
    fn on_schedule_keeps_the_anchor_target_and_an_easy_limit_never_overflows() {
        let easy = CompactTarget::from_consensus(0x207f_ffff)
            .to_target()
            .unwrap();
        let params = AsertParams {
            spacing: 10,
            half_life: 60,
            pow_limit: easy,
        };
        let anchor = AsertAnchor {
            height: 1,
            target: easy,
            parent_time: 1000,
        };
        assert_eq!(next_target(&params, &anchor, 5, 1050), easy);
        // Far behind schedule: clamps to the limit instead of overflowing.
        assert_eq!(next_target(&params, &anchor, 2, i64::from(u32::MAX)), easy);
        // Far ahead of schedule: the target shrinks, and never below 1.
        let hard = next_target(&params, &anchor, 1_000_000, 1000);
        assert_eq!(hard.to_compact().to_consensus(), 0x0101_0000);
    }
}
