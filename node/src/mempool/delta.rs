//! How the mempool's membership changed across some writes: what entered and what left,
//! net of what came back. The shell persists it (write-through) and hands it on with the
//! write that caused it. It must not hold transactions: the pool has them.

use std::collections::HashSet;

use crate::primitives::Txid;

/// The transactions that entered the mempool and those that left it, net: one that left
/// and came back (a reorg offers every pending transaction again) is in neither list, and
/// one that entered and left again is in neither either.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MempoolDelta {
    pub entered: Vec<Txid>,
    pub left: Vec<Txid>,
}

impl MempoolDelta {
    /// The delta of going from a pool holding `before` to one holding `after`.
    pub fn between(before: &HashSet<Txid>, after: &HashSet<Txid>) -> Self {
        Self {
            entered: after.difference(before).copied().collect(),
            left: before.difference(after).copied().collect(),
        }
    }

    pub fn left(txids: impl IntoIterator<Item = Txid>) -> Self {
        Self {
            entered: Vec::new(),
            left: txids.into_iter().collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entered.is_empty() && self.left.is_empty()
    }

    /// `self`, then `later`: the net change of both, in order. Costs O(`later`) when
    /// nothing can cancel (a run of blocks that only confirm: nothing entered).
    pub fn then(&mut self, later: MempoolDelta) {
        // Within one net delta no txid is both entered and left, so each side of `later`
        // can only cancel what `self` holds on the other side.
        let back_out = cancel(&mut self.entered, &later.left);
        self.left
            .extend(later.left.into_iter().filter(|t| !back_out.contains(t)));
        let back_in = cancel(&mut self.left, &later.entered);
        self.entered
            .extend(later.entered.into_iter().filter(|t| !back_in.contains(t)));
    }
}

/// Removes from `held` every txid in `against`; returns those removed.
fn cancel(held: &mut Vec<Txid>, against: &[Txid]) -> HashSet<Txid> {
    let mut removed = HashSet::new();
    if held.is_empty() || against.is_empty() {
        return removed;
    }
    let against: HashSet<&Txid> = against.iter().collect();
    held.retain(|txid| !(against.contains(txid) && removed.insert(*txid)));
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txid(n: u8) -> Txid {
        Txid::from_byte_array([n; 32])
    }

    fn sorted(mut txids: Vec<Txid>) -> Vec<Txid> {
        txids.sort();
        txids
    }

    #[test]
    fn a_transaction_that_left_and_came_back_is_no_change() {
        let mut delta = MempoolDelta::left([txid(1), txid(2)]);
        delta.then(MempoolDelta {
            entered: vec![txid(1), txid(3)],
            left: Vec::new(),
        });
        assert_eq!(delta.left, vec![txid(2)]);
        assert_eq!(delta.entered, vec![txid(3)]);
    }

    #[test]
    fn a_transaction_that_entered_and_left_again_is_no_change() {
        let mut delta = MempoolDelta {
            entered: vec![txid(1), txid(2)],
            left: Vec::new(),
        };
        delta.then(MempoolDelta::left([txid(1), txid(4)]));
        assert_eq!(delta.entered, vec![txid(2)]);
        assert_eq!(delta.left, vec![txid(4)]);
    }

    #[test]
    fn between_two_pools_lists_each_side_once() {
        let before: HashSet<Txid> = [txid(1), txid(2)].into();
        let after: HashSet<Txid> = [txid(2), txid(3)].into();
        let delta = MempoolDelta::between(&before, &after);
        assert_eq!(sorted(delta.entered), vec![txid(3)]);
        assert_eq!(sorted(delta.left), vec![txid(1)]);
        assert!(MempoolDelta::between(&after, &after).is_empty());
    }
}
