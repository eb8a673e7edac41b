//! Reorg planning: how to get from the active chain to another tip, as a value.
//!
//! ```text
//!            fork point
//!                 │
//!   G ── 1 ── 2 ── 3 ── 4a ── 5a          active chain (tip 5a)
//!                  └─── 4b ── 5b ── 6b    new tip 6b
//!
//!   plan: disconnect [5a, 4a] (newest first), connect [4b, 5b, 6b] (oldest first)
//! ```
//!
//! Applying a plan (one database transaction, full validation of each connected block) is
//! the chain state's job; this module only computes it.

use crate::primitives::{BlockHash, Height};

use super::active::ActiveChain;
use super::index::BlockIndex;

/// The steps from the active tip to a new tip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReorgPlan {
    /// The last block the two branches share.
    pub fork_point: BlockHash,
    pub fork_height: Height,
    /// Active blocks above the fork point, newest first.
    pub disconnect: Vec<BlockHash>,
    /// Blocks of the new branch above the fork point, oldest first.
    pub connect: Vec<BlockHash>,
}

impl ReorgPlan {
    /// How many blocks leave the main chain (0 when the tip is simply extended).
    pub fn depth(&self) -> usize {
        self.disconnect.len()
    }
}

/// The plan that makes `new_tip` the active tip, or `None` if `new_tip` is not in the index
/// or does not share genesis with the active chain.
pub fn plan_reorg(
    index: &BlockIndex,
    active: &ActiveChain,
    new_tip: &BlockHash,
) -> Option<ReorgPlan> {
    let mut connect = Vec::new();
    let mut cursor = index.get(new_tip)?;
    while !active.contains(cursor) {
        connect.push(cursor.hash);
        if cursor.height == Height::GENESIS {
            return None;
        }
        cursor = index.get(&cursor.header.prev_blockhash)?;
    }
    connect.reverse();
    let fork = cursor;
    let tip_height = active.height().get();
    let disconnect = (fork.height.get() + 1..=tip_height)
        .rev()
        .map(|h| active.hash_at(Height::new(h)).expect("below the tip"))
        .collect();
    Some(ReorgPlan {
        fork_point: fork.hash,
        fork_height: fork.height,
        disconnect,
        connect,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::chain::index::{BlockStatus, IndexEntry};
    use crate::primitives::{BlockHeader, CompactTarget, Work};

    /// A tree of named blocks; the active chain is given as a path of names.
    struct Tree {
        index: BlockIndex,
        names: HashMap<&'static str, BlockHash>,
    }

    impl Tree {
        /// `edges` are (child, parent) pairs, parents listed before children; "G" is genesis.
        fn new(edges: &[(&'static str, &'static str)]) -> Self {
            let mut tree = Tree {
                index: BlockIndex::new(),
                names: HashMap::new(),
            };
            tree.add("G", None);
            for (child, parent) in edges {
                tree.add(child, Some(parent));
            }
            tree
        }

        fn add(&mut self, name: &'static str, parent: Option<&str>) {
            let prev = parent.map_or(BlockHash::ZERO, |p| self.names[p]);
            let height = parent.map_or(Height::GENESIS, |p| {
                self.index.get(&self.names[p]).unwrap().height.next()
            });
            let header = BlockHeader {
                version: 1,
                prev_blockhash: prev,
                merkle_root: crate::primitives::MerkleRoot::from_byte_array(
                    [name.as_bytes()[0]; 32],
                ),
                time: u32::from(name.as_bytes()[0]) * 1000 + u32::try_from(name.len()).unwrap(),
                bits: CompactTarget::from_consensus(0x207f_ffff),
                nonce: u32::from_le_bytes(*b"node") ^ name.bytes().map(u32::from).sum::<u32>(),
            };
            let hash = header.block_hash();
            self.index.insert(IndexEntry {
                hash,
                header,
                height,
                chain_work: Work::ZERO,
                status: BlockStatus::Valid,
                sequence: 0,
            });
            self.names.insert(name, hash);
        }

        fn chain(&self, path: &[&str]) -> ActiveChain {
            ActiveChain::from_hashes(path.iter().map(|n| self.names[n]).collect())
        }

        fn hashes(&self, names: &[&str]) -> Vec<BlockHash> {
            names.iter().map(|n| self.names[n]).collect()
        }
    }

    #[test]
    fn extending_the_tip_disconnects_nothing() {
        // G ── a1 ── a2 ── a3        active: G a1; new tip a3
        let tree = Tree::new(&[("a1", "G"), ("a2", "a1"), ("a3", "a2")]);
        let plan = plan_reorg(&tree.index, &tree.chain(&["G", "a1"]), &tree.names["a3"]).unwrap();
        assert_eq!(plan.fork_point, tree.names["a1"]);
        assert!(plan.disconnect.is_empty());
        assert_eq!(plan.connect, tree.hashes(&["a2", "a3"]));
        assert_eq!(plan.depth(), 0);
    }

    #[test]
    fn a_side_branch_disconnects_newest_first_and_connects_oldest_first() {
        // G ── 1 ── 2 ── 3a ── 4a ── 5a      active
        //           └─── 3b ── 4b ── 5b ── 6b   new tip
        let tree = Tree::new(&[
            ("1", "G"),
            ("2", "1"),
            ("3a", "2"),
            ("4a", "3a"),
            ("5a", "4a"),
            ("3b", "2"),
            ("4b", "3b"),
            ("5b", "4b"),
            ("6b", "5b"),
        ]);
        let active = tree.chain(&["G", "1", "2", "3a", "4a", "5a"]);
        let plan = plan_reorg(&tree.index, &active, &tree.names["6b"]).unwrap();
        assert_eq!(plan.fork_point, tree.names["2"]);
        assert_eq!(plan.fork_height, Height::new(2));
        assert_eq!(plan.disconnect, tree.hashes(&["5a", "4a", "3a"]));
        assert_eq!(plan.connect, tree.hashes(&["3b", "4b", "5b", "6b"]));
        assert_eq!(plan.depth(), 3);
    }

    #[test]
    fn a_branch_from_genesis_replaces_the_whole_chain() {
        // G ── a1 ── a2
        //  └── b1          a shorter branch can still be the plan's target (work decides, not us)
        let tree = Tree::new(&[("a1", "G"), ("a2", "a1"), ("b1", "G")]);
        let plan = plan_reorg(
            &tree.index,
            &tree.chain(&["G", "a1", "a2"]),
            &tree.names["b1"],
        )
        .unwrap();
        assert_eq!(plan.fork_point, tree.names["G"]);
        assert_eq!(plan.disconnect, tree.hashes(&["a2", "a1"]));
        assert_eq!(plan.connect, tree.hashes(&["b1"]));
    }

    #[test]
    fn a_tip_on_the_active_chain_below_the_tip_only_disconnects() {
        // G ── a1 ── a2 ── a3      active; new tip a1 (e.g. after a2 was found invalid)
        let tree = Tree::new(&[("a1", "G"), ("a2", "a1"), ("a3", "a2")]);
        let plan = plan_reorg(
            &tree.index,
            &tree.chain(&["G", "a1", "a2", "a3"]),
            &tree.names["a1"],
        )
        .unwrap();
        assert_eq!(plan.disconnect, tree.hashes(&["a3", "a2"]));
        assert!(plan.connect.is_empty());
    }

    #[test]
    fn an_unknown_tip_has_no_plan() {
        let tree = Tree::new(&[("a1", "G")]);
        assert_eq!(
            plan_reorg(
                &tree.index,
                &tree.chain(&["G", "a1"]),
                &BlockHash::from_byte_array([9; 32])
            ),
            None
        );
    }
}
