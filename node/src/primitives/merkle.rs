//! Merkle trees over a block's wtxids, with Bitcoin's pairing, and inclusion proofs.
//!
//! Each level hashes `sha256d(left ‖ right)` pairwise; a level with an odd number of nodes
//! pairs its last node with itself. That rule lets `[a, b, c]` and `[a, b, c, c]` share a root
//! (CVE-2012-2459), which is why block rules refuse duplicate transactions and why such a
//! mismatch marks a block *mutated* rather than its header invalid.

use super::hash::{MerkleRoot, Wtxid, sha256d};

fn parent(left: &MerkleRoot, right: &MerkleRoot) -> MerkleRoot {
    let mut both = [0u8; 64];
    both[..32].copy_from_slice(left.as_bytes());
    both[32..].copy_from_slice(right.as_bytes());
    MerkleRoot::from_byte_array(sha256d(&both))
}

fn leaf(wtxid: &Wtxid) -> MerkleRoot {
    MerkleRoot::from_byte_array(wtxid.to_byte_array())
}

/// The next level up: pairs hashed, the last node paired with itself if the count is odd.
fn next_level(level: &[MerkleRoot]) -> Vec<MerkleRoot> {
    level
        .chunks(2)
        .map(|pair| parent(&pair[0], pair.get(1).unwrap_or(&pair[0])))
        .collect()
}

/// The root of the tree over `leaves`; `MerkleRoot::ZERO` for no leaves.
pub fn merkle_root(leaves: &[Wtxid]) -> MerkleRoot {
    let mut level: Vec<MerkleRoot> = leaves.iter().map(leaf).collect();
    while level.len() > 1 {
        level = next_level(&level);
    }
    level.first().copied().unwrap_or(MerkleRoot::ZERO)
}

/// The sibling hashes from leaf `index` up to the root, or `None` if `index` is out of range.
pub fn merkle_branch(leaves: &[Wtxid], index: usize) -> Option<Vec<MerkleRoot>> {
    if index >= leaves.len() {
        return None;
    }
    let mut level: Vec<MerkleRoot> = leaves.iter().map(leaf).collect();
    let mut position = index;
    let mut branch = Vec::new();
    while level.len() > 1 {
        let sibling = level.get(position ^ 1).unwrap_or(&level[position]);
        branch.push(*sibling);
        level = next_level(&level);
        position /= 2;
    }
    Some(branch)
}

/// The root that `branch` proves for the leaf `wtxid` at `index`.
pub fn root_from_branch(wtxid: &Wtxid, index: usize, branch: &[MerkleRoot]) -> MerkleRoot {
    let mut node = leaf(wtxid);
    for (depth, sibling) in branch.iter().enumerate() {
        node = if (index >> depth) & 1 == 0 {
            parent(&node, sibling)
        } else {
            parent(sibling, &node)
        };
    }
    node
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(n: u8) -> Wtxid {
        Wtxid::from_byte_array([n; 32])
    }

    #[test]
    fn a_single_leaf_is_its_own_root() {
        assert_eq!(merkle_root(&[w(1)]).to_byte_array(), [1; 32]);
    }

    #[test]
    fn an_odd_level_pairs_its_last_node_with_itself() {
        let leaves = [w(1), w(2), w(3)];
        let expected = parent(
            &parent(&leaf(&w(1)), &leaf(&w(2))),
            &parent(&leaf(&w(3)), &leaf(&w(3))),
        );
        assert_eq!(merkle_root(&leaves), expected);
        // ... which is the CVE-2012-2459 ambiguity:
        assert_eq!(merkle_root(&[w(1), w(2), w(3), w(3)]), expected);
    }

    #[test]
    fn every_branch_proves_its_leaf_and_only_its_leaf() {
        for n in 1..=9u8 {
            let leaves: Vec<Wtxid> = (0..n).map(w).collect();
            let root = merkle_root(&leaves);
            for (i, leaf) in leaves.iter().enumerate() {
                let branch = merkle_branch(&leaves, i).unwrap();
                assert_eq!(root_from_branch(leaf, i, &branch), root, "n={n} i={i}");
                assert_ne!(root_from_branch(&w(200), i, &branch), root);
            }
            assert_eq!(merkle_branch(&leaves, n as usize), None);
        }
    }
}
