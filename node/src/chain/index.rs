//! The block index and the active chain.
//!
//! Every header the node accepts gets an [`IndexEntry`]: its height, the cumulative work of
//! the chain ending at it, and a [`BlockStatus`]. A block whose body, and every ancestor's
//! body, is stored is *complete*; the complete, not-invalid entry with the most work is the
//! best tip, and on equal work the one whose body arrived first (lowest `sequence`) wins, so
//! a node never flips between equal branches.
//!
//! Every entry also gets a *skip pointer* to an ancestor further back (Bitcoin's `pskip`),
//! so [`BlockIndex::ancestor`] — and with it the ASERT anchor and the locator — costs
//! O(log n) hops instead of a walk to genesis.
//!
//! The index never touches storage; the caller persists what changes. Its collections are
//! persistent (`imbl`): a clone costs O(1) and shares everything with the original, so the
//! node hands readers a copy of the committed index after every change instead of a lock.

use std::cmp::Reverse;
use std::collections::HashSet;

use imbl::{HashMap, HashSet as SharedSet, OrdSet};

use crate::consensus::{HeaderContext, Params, median_time_past, next_bits};
use crate::primitives::{BlockHash, BlockHeader, Height, Work};

/// What the node knows about a block, as persisted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockStatus {
    /// The header passed its checks; the body has not arrived.
    HeaderOnly,
    /// The body is stored but has not been connected (validated in context) yet.
    DataStored,
    /// Connected at least once: fully valid.
    Valid,
    /// Failed validation, or descends from a block that did. Never connected again.
    Invalid,
}

impl BlockStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockStatus::HeaderOnly => "header",
            BlockStatus::DataStored => "data",
            BlockStatus::Valid => "valid",
            BlockStatus::Invalid => "invalid",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::HeaderOnly,
            Self::DataStored,
            Self::Valid,
            Self::Invalid,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    pub fn has_data(self) -> bool {
        matches!(self, BlockStatus::DataStored | BlockStatus::Valid)
    }
}

/// One block of the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub hash: BlockHash,
    pub header: BlockHeader,
    pub height: Height,
    /// Work of the chain from genesis up to and including this block.
    pub chain_work: Work,
    pub status: BlockStatus,
    /// Order in which bodies arrived (ties between equal-work tips go to the lowest);
    /// `u64::MAX` until the body arrives.
    pub sequence: u64,
}

/// Ordering of candidate tips: most work first, then first seen.
type CandidateKey = (Work, Reverse<u64>, BlockHash);

/// Every known header, with parent/child links and the set of possible best tips.
#[derive(Debug, Default, Clone)]
pub struct BlockIndex {
    entries: HashMap<BlockHash, IndexEntry>,
    children: HashMap<BlockHash, Vec<BlockHash>>,
    /// Blocks whose body and all ancestors' bodies are stored (genesis included).
    complete: SharedSet<BlockHash>,
    candidates: OrdSet<CandidateKey>,
    /// The not-invalid header with the most work, body or not: where sync is heading.
    best_header: Option<(Work, BlockHash)>,
    /// Each non-genesis entry's skip pointer: its ancestor at [`skip_height`].
    skips: HashMap<BlockHash, BlockHash>,
}

/// The height a block at `height` keeps a skip pointer to: clearing low bits of the height
/// makes most pointers short and a few very long, so any ancestor is O(log n) hops away
/// (the scheme of Bitcoin Core's `CBlockIndex::BuildSkip`).
fn skip_height(height: u32) -> u32 {
    let clear_lowest_one = |n: u32| n & n.wrapping_sub(1);
    match height {
        0 | 1 => 0,
        h if h % 2 == 1 => clear_lowest_one(clear_lowest_one(h - 1)) + 1,
        h => clear_lowest_one(h),
    }
}

impl BlockIndex {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, hash: &BlockHash) -> Option<&IndexEntry> {
        self.entries.get(hash)
    }

    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.entries.contains_key(hash)
    }

    pub fn entries(&self) -> impl Iterator<Item = &IndexEntry> {
        self.entries.values()
    }

    pub fn children(&self, hash: &BlockHash) -> &[BlockHash] {
        self.children.get(hash).map_or(&[], Vec::as_slice)
    }

    /// Adds an entry whose parent is already indexed (or genesis). Re-adding is a no-op.
    ///
    /// # Panics
    /// If the parent of a non-genesis entry is unknown: callers keep orphans elsewhere.
    pub fn insert(&mut self, entry: IndexEntry) {
        if self.entries.contains_key(&entry.hash) {
            return;
        }
        let parent = entry.header.prev_blockhash;
        let is_genesis = entry.height == Height::GENESIS;
        assert!(
            is_genesis || self.entries.contains_key(&parent),
            "index entry without its parent"
        );
        if !is_genesis {
            let target = Height::new(skip_height(entry.height.get()));
            let skip = self
                .ancestor(&parent, target)
                .expect("the parent is indexed");
            self.skips.insert(entry.hash, skip);
        }
        self.entries.insert(entry.hash, entry);
        if entry.status != BlockStatus::Invalid
            && self
                .best_header
                .is_none_or(|(work, _)| entry.chain_work > work)
        {
            self.best_header = Some((entry.chain_work, entry.hash));
        }
        if !is_genesis {
            self.children.entry(parent).or_default().push(entry.hash);
        }
        let parent_complete = is_genesis || self.complete.contains(&parent);
        if entry.status.has_data() && parent_complete {
            self.mark_complete_from(entry.hash);
        }
    }

    /// The entry for a block that a new header extends: height, work and (unset) status.
    pub fn entry_for(&self, header: &BlockHeader, work: Work) -> Option<IndexEntry> {
        let parent = self.entries.get(&header.prev_blockhash)?;
        Some(IndexEntry {
            hash: header.block_hash(),
            header: *header,
            height: parent.height.next(),
            chain_work: parent.chain_work + work,
            status: BlockStatus::HeaderOnly,
            sequence: u64::MAX,
        })
    }

    /// Records that `hash`'s body is stored, as the `sequence`-th body to arrive.
    pub fn set_data_stored(&mut self, hash: &BlockHash, sequence: u64) {
        let Some(entry) = self.entries.get_mut(hash) else {
            return;
        };
        if entry.status != BlockStatus::HeaderOnly {
            return;
        }
        entry.status = BlockStatus::DataStored;
        entry.sequence = sequence;
        let parent = entry.header.prev_blockhash;
        if entry.height == Height::GENESIS || self.complete.contains(&parent) {
            self.mark_complete_from(*hash);
        }
    }

    /// Marks `hash` and its descendants complete where their bodies are stored.
    fn mark_complete_from(&mut self, hash: BlockHash) {
        let mut stack = vec![hash];
        while let Some(h) = stack.pop() {
            let entry = self.entries[&h];
            if !entry.status.has_data() || self.complete.insert(h).is_some() {
                continue;
            }
            self.candidates
                .insert((entry.chain_work, Reverse(entry.sequence), h));
            stack.extend(self.children(&h).iter().copied());
        }
    }

    /// Records that `hash` was connected: it is valid.
    pub fn set_valid(&mut self, hash: &BlockHash) {
        if let Some(entry) = self.entries.get_mut(hash)
            && entry.status == BlockStatus::DataStored
        {
            entry.status = BlockStatus::Valid;
        }
    }

    /// Marks `hash` and all its descendants invalid; returns every hash it marked.
    pub fn set_invalid(&mut self, hash: &BlockHash) -> Vec<BlockHash> {
        let mut marked = Vec::new();
        let mut stack = vec![*hash];
        while let Some(h) = stack.pop() {
            let Some(entry) = self.entries.get_mut(&h) else {
                continue;
            };
            if entry.status != BlockStatus::Invalid {
                entry.status = BlockStatus::Invalid;
                self.candidates
                    .remove(&(entry.chain_work, Reverse(entry.sequence), h));
                self.complete.remove(&h);
                marked.push(h);
                if self.best_header.is_some_and(|(_, best)| best == h) {
                    self.best_header = None;
                }
            }
            stack.extend(self.children(&h).iter().copied());
        }
        if self.best_header.is_none() {
            self.best_header = self
                .entries
                .values()
                .filter(|e| e.status != BlockStatus::Invalid)
                .max_by_key(|e| e.chain_work)
                .map(|e| (e.chain_work, e.hash));
        }
        marked
    }

    /// The invalid blocks an operator's reconsideration of `hash` clears, as Bitcoin Core's
    /// `reconsiderblock` does: `hash` and its descendants, and its ancestors, where marked
    /// invalid; oldest first.
    pub fn invalid_around(&self, hash: &BlockHash) -> Vec<BlockHash> {
        let is_invalid = |h: &BlockHash| {
            self.entries
                .get(h)
                .is_some_and(|e| e.status == BlockStatus::Invalid)
        };
        let mut found = Vec::new();
        let mut cursor = self.entries.get(hash);
        while let Some(entry) = cursor.filter(|e| e.height != Height::GENESIS) {
            cursor = self.entries.get(&entry.header.prev_blockhash);
            found.extend(cursor.map(|e| e.hash).filter(is_invalid));
        }
        let mut stack = vec![*hash];
        while let Some(h) = stack.pop() {
            if is_invalid(&h) {
                found.push(h);
            }
            stack.extend(self.children(&h).iter().copied());
        }
        found.sort_by_key(|h| self.entries[h].height);
        found
    }

    /// Clears the invalid mark of `hashes` (as [`BlockIndex::invalid_around`] lists them):
    /// those in `stored` have their body stored, the others only their header. They become
    /// candidates again, to be validated afresh when connected.
    pub fn clear_invalid(&mut self, hashes: &[BlockHash], stored: &HashSet<BlockHash>) {
        for hash in hashes {
            let Some(entry) = self.entries.get_mut(hash) else {
                continue;
            };
            if entry.status != BlockStatus::Invalid {
                continue;
            }
            entry.status = if stored.contains(hash) {
                BlockStatus::DataStored
            } else {
                BlockStatus::HeaderOnly
            };
            let entry = *entry;
            if self
                .best_header
                .is_none_or(|(work, _)| entry.chain_work > work)
            {
                self.best_header = Some((entry.chain_work, entry.hash));
            }
        }
        for hash in hashes {
            let entry = self.entries[hash];
            let parent_complete = entry.height == Height::GENESIS
                || self.complete.contains(&entry.header.prev_blockhash);
            if entry.status.has_data() && parent_complete {
                self.mark_complete_from(*hash);
            }
        }
    }

    /// The not-invalid header with the most work (its body may be missing).
    pub fn best_header(&self) -> Option<BlockHash> {
        self.best_header.map(|(_, hash)| hash)
    }

    /// The best tip: the complete, not-invalid block with the most work, first seen on a tie.
    pub fn best_tip(&self) -> Option<BlockHash> {
        // Sequences are unique per stored body, so the hash never decides the order.
        self.candidates.get_max().map(|(_, _, hash)| *hash)
    }

    /// The ancestor of `hash` at `height` (or `hash` itself), in O(log n) hops: a skip
    /// pointer is taken whenever it does not overshoot and a parent step would not reach a
    /// better one sooner.
    pub fn ancestor(&self, hash: &BlockHash, height: Height) -> Option<BlockHash> {
        let target = height.get();
        let mut entry = self.entries.get(hash)?;
        if target > entry.height.get() {
            return None;
        }
        while entry.height.get() > target {
            let here = entry.height.get();
            let skip = skip_height(here);
            let skip_of_parent = skip_height(here - 1);
            let take_skip = skip == target
                || (skip > target && !(skip_of_parent + 2 < skip && skip_of_parent >= target));
            let next = match self.skips.get(&entry.hash) {
                Some(skip_to) if take_skip => skip_to,
                _ => &entry.header.prev_blockhash,
            };
            entry = self.entries.get(next)?;
        }
        Some(entry.hash)
    }

    /// Hashes to tell a peer where the chain ending at `hash` is: the last 10 blocks, then
    /// exponentially sparser, ending with genesis (Bitcoin's block locator).
    pub fn locator(&self, hash: &BlockHash) -> Vec<BlockHash> {
        let mut locator = Vec::new();
        let Some(mut entry) = self.entries.get(hash) else {
            return locator;
        };
        let mut step = 1u32;
        loop {
            locator.push(entry.hash);
            if entry.height == Height::GENESIS {
                break;
            }
            if locator.len() >= 10 {
                step = step.saturating_mul(2);
            }
            let target = Height::new(entry.height.get().saturating_sub(step));
            match self
                .ancestor(&entry.hash, target)
                .and_then(|h| self.entries.get(&h))
            {
                Some(next) => entry = next,
                None => break,
            }
        }
        locator
    }

    /// The last `n` block times of the chain ending at `hash`, oldest first.
    fn recent_times(&self, hash: &BlockHash, n: usize) -> Vec<u32> {
        let mut times = Vec::with_capacity(n);
        let mut cursor = self.entries.get(hash);
        while let Some(entry) = cursor {
            times.push(entry.header.time);
            if times.len() == n || entry.height == Height::GENESIS {
                break;
            }
            cursor = self.entries.get(&entry.header.prev_blockhash);
        }
        times.reverse();
        times
    }

    /// What consensus needs to judge a block that builds on `parent`.
    pub fn header_context(&self, parent: &BlockHash, params: &Params) -> Option<HeaderContext> {
        let entry = self.entries.get(parent)?;
        let height = entry.height.next();
        let anchor_time = self
            .ancestor(parent, Height::new(1))
            .map_or(0, |h| self.entries[&h].header.time);
        Some(HeaderContext {
            height,
            prev_blockhash: *parent,
            median_time_past: median_time_past(
                &self.recent_times(parent, crate::consensus::params::MEDIAN_TIME_SPAN),
            ),
            expected_bits: next_bits(params, height, entry.header.time, anchor_time),
        })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::primitives::{BlockHeader, CompactTarget, MerkleRoot};

    fn header(prev: BlockHash, nonce: u32) -> BlockHeader {
        BlockHeader {
            version: 1,
            prev_blockhash: prev,
            merkle_root: MerkleRoot::default(),
            time: nonce,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce,
        }
    }

    /// A chain of `len` headers on `from` (genesis when `None`), each entry pushed in order.
    fn grow(
        index: &mut BlockIndex,
        from: Option<BlockHash>,
        len: u32,
        salt: u32,
    ) -> Vec<BlockHash> {
        grow_with_work(index, from, len, salt, Work::ZERO)
    }

    /// As [`grow`], each header adding `work` (the genesis entry holds `work` itself).
    pub(in crate::chain) fn grow_with_work(
        index: &mut BlockIndex,
        from: Option<BlockHash>,
        len: u32,
        salt: u32,
        work: Work,
    ) -> Vec<BlockHash> {
        let mut hashes = Vec::new();
        let mut prev = from;
        for i in 0..len {
            let header = header(prev.unwrap_or(BlockHash::ZERO), salt + i);
            let entry = match prev {
                None => IndexEntry {
                    hash: header.block_hash(),
                    header,
                    height: Height::GENESIS,
                    chain_work: work,
                    status: BlockStatus::Valid,
                    sequence: 0,
                },
                Some(_) => index.entry_for(&header, work).unwrap(),
            };
            index.insert(entry);
            prev = Some(entry.hash);
            hashes.push(entry.hash);
        }
        hashes
    }

    #[test]
    fn skip_pointers_find_every_ancestor_on_the_main_branch_and_on_a_fork() {
        let mut index = BlockIndex::new();
        let main = grow(&mut index, None, 1500, 0);
        let fork = grow(&mut index, Some(main[700]), 900, 1_000_000);
        for height in [0u32, 1, 2, 3, 255, 256, 257, 699, 700, 1024, 1499] {
            let found = index.ancestor(&main[1499], Height::new(height));
            assert_eq!(found, Some(main[height as usize]), "main chain at {height}");
        }
        for height in [0u32, 1, 511, 700] {
            let found = index.ancestor(fork.last().unwrap(), Height::new(height));
            assert_eq!(
                found,
                Some(main[height as usize]),
                "below the fork at {height}"
            );
        }
        for (height, hash) in (701u32..).zip(&fork) {
            let found = index.ancestor(fork.last().unwrap(), Height::new(height));
            assert_eq!(found, Some(*hash), "on the fork at {height}");
        }
        assert_eq!(
            index.ancestor(&main[10], Height::new(11)),
            None,
            "no ancestor above"
        );
    }

    #[test]
    fn skip_heights_point_below_and_are_sometimes_far() {
        assert_eq!(skip_height(0), 0);
        assert_eq!(skip_height(1), 0);
        for h in 2..10_000u32 {
            assert!(skip_height(h) < h);
        }
        assert_eq!(skip_height(1 << 12), 0, "a power of two skips to genesis");
    }
}
