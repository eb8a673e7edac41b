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
    /// whose body is missing, at most `limit`. Bodies may arrive out of order (a stored one
    /// does not mean its ancestors are), so it looks at the headers above the fork point
    /// with the main chain in windows of `2 × limit`, each twice the last, until it has
    /// enough: the cost follows what it returns, not the distance to the best header (a new
    /// node's first call sees a whole chain of headers).
    pub fn wanted_bodies(&self, limit: usize) -> Vec<BlockHash> {
        let best = self.best_header();
        let Some(best_height) = self.index.get(&best).map(|e| e.height.get()) else {
            return Vec::new();
        };
        let mut first = self.fork_height(&best) + 1;
        let mut window = u32::try_from(limit.saturating_mul(2))
            .unwrap_or(u32::MAX)
            .max(1);
        let mut missing = Vec::new();
        while missing.len() < limit && first <= best_height {
            let last = best_height.min(first.saturating_add(window - 1));
            missing.extend(self.missing_between(&best, first, last));
            first = last.saturating_add(1);
            window = window.saturating_mul(2);
        }
        missing.truncate(limit);
        missing
    }

    /// The bodiless headers at heights `first..=last` of the chain of `best`, oldest first.
    fn missing_between(&self, best: &BlockHash, first: u32, last: u32) -> Vec<BlockHash> {
        let mut missing = Vec::new();
        let mut cursor = self
            .index
            .ancestor(best, Height::new(last))
            .and_then(|h| self.index.get(&h));
        while let Some(entry) = cursor.filter(|e| e.height.get() >= first) {
            if entry.status == BlockStatus::HeaderOnly {
                missing.push(entry.hash);
            }
            cursor = self.index.get(&entry.header.prev_blockhash);
        }
        missing.reverse();
        missing
    }

    /// The height of the last block the chain of `header` shares with the main chain
    /// (binary search: below the fork the two agree, above it they differ).
    fn fork_height(&self, header: &BlockHash) -> u32 {
        let top = self
            .index
            .get(header)
            .map_or(0, |e| e.height.get())
            .min(self.active.height().get());
        let shared = |h: u32| {
            let height = Height::new(h);
            self.index.ancestor(header, height).is_some()
                && self.index.ancestor(header, height) == self.active.hash_at(height)
        };
        let (mut low, mut high) = (0, top); // shared(low) holds: both start at genesis
        while low < high {
            let mid = low + (high - low).div_ceil(2);
            if shared(mid) {
                low = mid;
            } else {
                high = mid - 1;
            }
        }
        low
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_work() -> Work {
        let mut bytes = [0; 32];
        bytes[31] = 1;
        Work::from_be_bytes(bytes)
    }

    /// `len` headers on `from` (a new genesis when `None`), each with one unit of work.
    fn grow(
        index: &mut BlockIndex,
        from: Option<BlockHash>,
        len: u32,
        salt: u32,
    ) -> Vec<BlockHash> {
        crate::chain::index::tests::grow_with_work(index, from, len, salt, one_work())
    }

    /// What `wanted_bodies` promises, the slow way: walk back from the best header to the
    /// main chain, keep the bodiless, oldest first.
    fn walked_back(view: &ChainView<'_>, limit: usize) -> Vec<BlockHash> {
        let mut missing = Vec::new();
        let mut cursor = view.index.get(&view.best_header());
        while let Some(entry) = cursor.filter(|e| !view.active.contains(e)) {
            if entry.status == BlockStatus::HeaderOnly {
                missing.push(entry.hash);
            }
            cursor = view.index.get(&entry.header.prev_blockhash);
        }
        missing.reverse();
        missing.truncate(limit);
        missing
    }

    #[test]
    fn wanted_bodies_are_the_oldest_missing_above_the_fork_with_the_main_chain() {
        let mut index = BlockIndex::new();
        let main = grow(&mut index, None, 101, 0);
        // The best header forks below the tip and runs 3,000 headers on.
        let branch = grow(&mut index, Some(main[90]), 3_000, 1_000_000);
        // Bodies that arrived out of order.
        for (sequence, hash) in [0usize, 1, 5, 6, 7, 40, 2_999]
            .iter()
            .map(|&i| branch[i])
            .enumerate()
        {
            index.set_data_stored(&hash, sequence as u64 + 1);
        }
        let active = ActiveChain::from_hashes(main.clone());
        let view = ChainView {
            index: &index,
            active: &active,
        };
        assert_eq!(index.best_header(), branch.last().copied());
        for limit in [1, 3, 8, 64, 1_000] {
            let wanted = view.wanted_bodies(limit);
            assert_eq!(wanted, walked_back(&view, limit), "limit {limit}");
            assert_eq!(wanted.len(), limit, "limit {limit}");
        }
        assert_eq!(
            view.wanted_bodies(4),
            vec![branch[2], branch[3], branch[4], branch[8]]
        );
    }

    #[test]
    fn nothing_is_wanted_when_the_best_header_is_the_tip() {
        let mut index = BlockIndex::new();
        let main = grow(&mut index, None, 50, 0);
        let active = ActiveChain::from_hashes(main);
        let view = ChainView {
            index: &index,
            active: &active,
        };
        assert!(view.wanted_bodies(16).is_empty());
    }
}
