//! Proof of work: a header's hash must be at most the target its `bits` encode, and that
//! target may be no easier than the network's pow limit.

use crate::primitives::{BlockHeader, Target};

use super::error::BlockError;
use super::params::Params;

/// Checks `header`'s proof of work against its own `bits`; returns the target it met.
/// Needs no chain context, so it runs before anything else looks at a header.
pub fn check_proof_of_work(header: &BlockHeader, params: &Params) -> Result<Target, BlockError> {
    let target = header
        .bits
        .to_target()
        .map_err(|e| BlockError::BadCompactTarget(header.bits, e))?;
    if target > params.pow_limit_target() {
        return Err(BlockError::TargetAboveLimit(header.bits));
    }
    let hash = header.block_hash();
    if !target.is_met_by(&hash) {
        return Err(BlockError::HighHash(hash));
    }
    Ok(target)
}

/// Walks `header.nonce` upward from its current value until the hash meets the target of
/// `header.bits`, for at most `max_tries` hashes. Returns whether it found one (the header
/// then holds the winning nonce). The portable, single-threaded solver for tests and tools;
/// the miner has faster kernels.
pub fn solve_header(header: &mut BlockHeader, max_tries: u64) -> bool {
    let Ok(target) = header.bits.to_target() else {
        return false;
    };
    let midstate = header.midstate();
    let start = header.nonce;
    for offset in 0..max_tries.min(1 << 32) {
        // `offset` < 2^32, so the truncation is exact; wrapping walks the whole nonce space.
        #[allow(clippy::cast_possible_truncation, reason = "offset < 2^32")]
        let nonce = start.wrapping_add(offset as u32);
        let hash = crate::primitives::BlockHash::from_byte_array(midstate.hash_with_nonce(nonce));
        if target.is_met_by(&hash) {
            header.nonce = nonce;
            return true;
        }
    }
    false
}
