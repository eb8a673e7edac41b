//! The active chain: the hash of each main-chain block, by height.
//!
//! A persistent vector (`imbl`): a clone costs O(1), so readers get the committed chain
//! with every snapshot. It knows nothing of headers or work; the index does.

use imbl::Vector;

use crate::chain::IndexEntry;
use crate::primitives::{BlockHash, Height};

/// The blocks of the main chain, by height.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActiveChain {
    hashes: Vector<BlockHash>,
}

impl ActiveChain {
    /// A chain from genesis to tip, in height order.
    pub fn from_hashes(hashes: Vec<BlockHash>) -> Self {
        Self {
            hashes: hashes.into_iter().collect(),
        }
    }

    pub fn tip(&self) -> Option<BlockHash> {
        self.hashes.last().copied()
    }

    /// The height of the tip (genesis: 0).
    ///
    /// # Panics
    /// On an empty chain: a node always has genesis.
    pub fn height(&self) -> Height {
        Height::new(u32::try_from(self.hashes.len() - 1).expect("fewer than 2^32 blocks"))
    }

    pub fn hash_at(&self, height: Height) -> Option<BlockHash> {
        self.hashes.get(height.get() as usize).copied()
    }

    pub fn contains(&self, entry: &IndexEntry) -> bool {
        self.hash_at(entry.height) == Some(entry.hash)
    }

    /// The hashes from the tip down, at most `n`.
    pub fn latest(&self, n: usize) -> impl Iterator<Item = BlockHash> + '_ {
        self.hashes.iter().rev().take(n).copied()
    }

    pub fn push(&mut self, hash: BlockHash) {
        self.hashes.push_back(hash);
    }

    pub fn pop(&mut self) -> Option<BlockHash> {
        self.hashes.pop_back()
    }

    /// Block hashes to tell a peer where we are: the last 10, then exponentially sparser,
    /// ending with genesis (Bitcoin's block locator).
    pub fn locator(&self) -> Vec<BlockHash> {
        let mut locator = Vec::new();
        let mut height = self.hashes.len().saturating_sub(1);
        let mut step = 1;
        loop {
            locator.push(self.hashes[height]);
            if height == 0 {
                break;
            }
            if locator.len() >= 10 {
                step *= 2;
            }
            height = height.saturating_sub(step);
        }
        locator
    }
}
