//! Mining on the node itself, for development chains (Bitcoin Core's regtest `generate`):
//! templates, a nonce search and the normal submit path, so every rule applies.
//!
//! Blocks are stamped one target spacing apart from the tip (never before the clock, never
//! more than an hour ahead of it), so that ASERT keeps the difficulty at the dev pow limit
//! and each block takes a few hashes. It must not run on the main network; the API refuses.

use thiserror::Error;

use crate::chainstate::{ChainError, SubmitOutcome};
use crate::consensus::pow::solve_header;
use crate::ledger::TxSubmitError;
use crate::node::{BlockOrigin, Node, unix_now};
use crate::primitives::{Address, BlockHash};

/// The most blocks one call mines.
pub const MAX_BLOCKS: u32 = 1_000;
/// Hashes tried per block before giving up (the difficulty is then not a dev chain's).
const MAX_TRIES: u64 = 20_000_000;
/// How far ahead of the clock a block is stamped at most (the rules allow two hours).
const MAX_AHEAD: u64 = 60 * 60;

/// Why mining stopped.
#[derive(Debug, Error)]
pub enum GenerateError {
    #[error(transparent)]
    Template(#[from] TxSubmitError),
    #[error(transparent)]
    Block(#[from] ChainError),
    #[error("no nonce met the target within {MAX_TRIES} hashes: the difficulty is too high")]
    TooHard,
    #[error("mined block {0} did not become the tip (another block arrived first)")]
    NotTip(BlockHash),
}

/// Mines `count` blocks on the tip, paying `payout`; returns their hashes in order.
pub async fn generate(
    node: &Node,
    count: u32,
    payout: &Address,
) -> Result<Vec<BlockHash>, GenerateError> {
    let spacing = node.info().network.params().target_spacing;
    let mut mined = Vec::new();
    for _ in 0..count.min(MAX_BLOCKS) {
        let time = stamp(node.snapshot().tip_time, spacing, unix_now());
        let (id, template) = node.issue_template_at(payout, time).await?;
        let mut block = template.block();
        let block = tokio::task::spawn_blocking(move || {
            solve_header(&mut block.header, MAX_TRIES).then_some(block)
        })
        .await
        .expect("the nonce search does not panic")
        .ok_or(GenerateError::TooHard)?;
        let hash = block.block_hash();
        let origin = BlockOrigin::Miner {
            template_id: Some(id),
        };
        match node.submit_block(block, origin).await? {
            SubmitOutcome::Accepted {
                on_main_chain: true,
            } => mined.push(hash),
            _ => return Err(GenerateError::NotTip(hash)),
        }
    }
    Ok(mined)
}

/// One spacing after the tip, within [now, now + MAX_AHEAD].
fn stamp(tip_time: u32, spacing: u32, now: u64) -> u64 {
    (u64::from(tip_time) + u64::from(spacing)).clamp(now, now + MAX_AHEAD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_keep_to_the_schedule_within_an_hour_of_the_clock() {
        assert_eq!(stamp(1_000, 10, 1_005), 1_010, "one spacing after the tip");
        assert_eq!(stamp(1_000, 10, 5_000), 5_000, "never before the clock");
        assert_eq!(
            stamp(9_000, 10, 5_000),
            5_000 + MAX_AHEAD,
            "at most an hour ahead"
        );
    }
}
