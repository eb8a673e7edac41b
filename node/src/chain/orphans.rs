//! A bounded pool of blocks that arrived before their parent.
//!
//! When a parent connects, its waiting children come out with [`OrphanPool::take_children`].
//! The pool holds at most `max_blocks` blocks and `max_bytes` bytes; beyond that the oldest
//! arrival is dropped (it can be fetched again), so a peer cannot fill memory with junk.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::primitives::{Block, BlockHash, Encode};

/// Default bounds: a few minutes of fast blocks, at most 32 MiB.
pub const DEFAULT_MAX_ORPHANS: usize = 256;
pub const DEFAULT_MAX_ORPHAN_BYTES: usize = 32 << 20;

#[derive(Debug)]
pub struct OrphanPool {
    blocks: HashMap<BlockHash, (Arc<Block>, usize)>,
    by_parent: HashMap<BlockHash, Vec<BlockHash>>,
    arrival: VecDeque<BlockHash>,
    bytes: usize,
    max_blocks: usize,
    max_bytes: usize,
}

impl Default for OrphanPool {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_ORPHANS, DEFAULT_MAX_ORPHAN_BYTES)
    }
}

impl OrphanPool {
    pub fn new(max_blocks: usize, max_bytes: usize) -> Self {
        Self {
            blocks: HashMap::new(),
            by_parent: HashMap::new(),
            arrival: VecDeque::new(),
            bytes: 0,
            max_blocks,
            max_bytes,
        }
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.blocks.contains_key(hash)
    }

    /// Adds `block` (shared, not copied); returns the hashes dropped to stay within bounds.
    pub fn insert(&mut self, block: impl Into<Arc<Block>>) -> Vec<BlockHash> {
        let block = block.into();
        let hash = block.block_hash();
        if self.blocks.contains_key(&hash) {
            return Vec::new();
        }
        let size = block.encoded_len();
        self.by_parent
            .entry(block.header.prev_blockhash)
            .or_default()
            .push(hash);
        self.blocks.insert(hash, (block, size));
        self.arrival.push_back(hash);
        self.bytes += size;
        let mut dropped = Vec::new();
        while self.blocks.len() > self.max_blocks || self.bytes > self.max_bytes {
            let Some(oldest) = self.arrival.pop_front() else {
                break;
            };
            if self.remove(&oldest).is_some() {
                dropped.push(oldest);
            }
        }
        dropped
    }

    fn remove(&mut self, hash: &BlockHash) -> Option<Arc<Block>> {
        let (block, size) = self.blocks.remove(hash)?;
        self.bytes -= size;
        if let Some(siblings) = self.by_parent.get_mut(&block.header.prev_blockhash) {
            siblings.retain(|h| h != hash);
            if siblings.is_empty() {
                self.by_parent.remove(&block.header.prev_blockhash);
            }
        }
        Some(block)
    }

    /// Removes and returns the orphans whose parent is `parent`.
    pub fn take_children(&mut self, parent: &BlockHash) -> Vec<Arc<Block>> {
        let hashes = self.by_parent.remove(parent).unwrap_or_default();
        self.arrival.retain(|h| !hashes.contains(h));
        hashes.iter().filter_map(|h| self.remove(h)).collect()
    }

    /// The hash of the oldest missing ancestor of `hash`'s orphan chain: what to fetch.
    pub fn missing_root(&self, hash: &BlockHash) -> Option<BlockHash> {
        let mut cursor = self.blocks.get(hash)?.0.header.prev_blockhash;
        while let Some((block, _)) = self.blocks.get(&cursor) {
            cursor = block.header.prev_blockhash;
        }
        Some(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::params::DEV;
    use crate::testkit::{TestChain, key};

    fn chain_of(n: usize) -> Vec<Block> {
        let mut chain = TestChain::new(&DEV);
        chain.mine_empty(n, &key(1).address());
        chain.blocks()[1..].to_vec()
    }

    #[test]
    fn children_come_out_when_their_parent_arrives() {
        let blocks = chain_of(3);
        let mut pool = OrphanPool::default();
        pool.insert(blocks[2].clone());
        pool.insert(blocks[1].clone());
        assert_eq!(
            pool.missing_root(&blocks[2].block_hash()),
            Some(blocks[0].block_hash())
        );
        assert_eq!(
            pool.take_children(&blocks[0].block_hash()),
            vec![Arc::new(blocks[1].clone())]
        );
        assert_eq!(
            pool.take_children(&blocks[1].block_hash()),
            vec![Arc::new(blocks[2].clone())]
        );
        assert!(pool.is_empty());
    }

    #[test]
    fn the_oldest_orphan_is_dropped_beyond_the_bound() {
        let blocks = chain_of(4);
        let mut pool = OrphanPool::new(2, usize::MAX);
        assert!(pool.insert(blocks[1].clone()).is_empty());
        assert!(pool.insert(blocks[2].clone()).is_empty());
        assert_eq!(pool.insert(blocks[3].clone()), vec![blocks[1].block_hash()]);
        assert_eq!(pool.len(), 2);
        assert!(!pool.contains(&blocks[1].block_hash()));
    }
}
