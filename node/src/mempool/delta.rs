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

    /// `self`, then `later`: the net change of both, in order.
    pub fn then(&mut self, later: MempoolDelta) {
        let mut entered: HashSet<Txid> = self.entered.drain(..).collect();
        let mut left: HashSet<Txid> = self.left.drain(..).collect();
        for txid in later.left {
            if !entered.remove(&txid) {
                left.insert(txid);
            }
        }
        for txid in later.entered {
            if !left.remove(&txid) {
                entered.insert(txid);
            }
        }
        self.entered = entered.into_iter().collect();
        self.left = left.into_iter().collect();
    }
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
