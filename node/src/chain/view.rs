//! Reads of the block index and the active chain together: what a peer asks for (headers,
//! locators) and what sync wants next. The chain state answers them for itself, and the
//! node's published snapshot answers them without the chain state's lock.
//!
//! Pure reads: nothing here changes the index or the chain.

use super::active::ActiveChain;
use super::index::{BlockIndex, BlockStatus};
use crate::primitives::{BlockHash, BlockHeader, Height, Work};

/// The index and the active chain of one moment.
#[derive(Clone, Copy, Debug)]
pub struct ChainView<'a> {
    pub index: &'a BlockIndex,
    pub active: &'a ActiveChain,
}

impl ChainView<'_> {
    fn tip(&self) -> BlockHash {
        self.active.tip().expect("a chain has genesis")
    }

    fn best_header(&self) -> BlockHash {
        self.index.best_header().unwrap_or_else(|| self.tip())
    }

    /// A locator of the best known header's chain, to ask a peer for what follows it.
    pub fn header_locator(&self) -> Vec<BlockHash> {
        self.index.locator(&self.best_header())
    }

    /// The work of the best known header's chain.
    pub fn best_header_work(&self) -> Work {
        let best = self.best_header();
        self.index.get(&best).map_or(Work::ZERO, |e| e.chain_work)
    }

    /// Up to `limit` main-chain headers after the first `locator` hash on the main chain
    /// (after genesis when none is): what a peer asking with that locator lacks.
    pub fn headers_after(&self, locator: &[BlockHash], limit: usize) -> Vec<BlockHeader> {
        let start = locator
            .iter()
            .filter_map(|h| self.index.get(h))
            .find(|e| self.active.contains(e))
            .map_or(0, |e| e.height.get() + 1);
        (start..=self.active.height().get())
            .take(limit)
            .filter_map(|h| self.active.hash_at(Height::new(h)))
            .filter_map(|h| self.index.get(&h).map(|e| e.header))
            .collect()
    }

    /// Blocks whose bodies to fetch: on the branch of the best known header, the oldest
    /// whose body is missing, at most `limit`.
    pub fn wanted_bodies(&self, limit: usize) -> Vec<BlockHash> {
        let Some(best) = self.index.best_header() else {
            return Vec::new();
        };
        let mut missing = Vec::new();
        let mut cursor = self.index.get(&best);
        while let Some(entry) = cursor {
            // Walk back to the main chain: bodies may arrive out of order, so a stored one
            // does not mean its ancestors are.
            if self.active.contains(entry) {
                break;
            }
            if entry.status == BlockStatus::HeaderOnly {
                missing.push(entry.hash);
            }
            cursor = self.index.get(&entry.header.prev_blockhash);
        }
        missing.reverse();
        missing.truncate(limit);
        missing
    }
}
