//! The recent-rejects filter: wtxids the mempool refused since the tip last changed.
//!
//! A refused transaction sent again (by the same peer in a loop, or by every peer that
//! relays it) is answered from here, with no look-up and no signature work. Keyed by wtxid,
//! not txid: a copy with a bad signature shares the txid of the genuine transaction and must
//! not keep it out. Cleared whenever the tip changes, since a new block can make a refused
//! transaction valid (its inputs confirmed, its fee rate now enough). It is a cache of
//! refusals and must never refuse anything on its own beyond that.

use std::collections::{HashSet, VecDeque};

use crate::primitives::Wtxid;

/// Refusals remembered at most; the oldest is forgotten beyond.
pub const MAX_RECENT_REJECTS: usize = 20_000;

#[derive(Clone, Debug, Default)]
pub struct RecentRejects {
    set: HashSet<Wtxid>,
    order: VecDeque<Wtxid>,
}

impl RecentRejects {
    pub fn contains(&self, wtxid: &Wtxid) -> bool {
        self.set.contains(wtxid)
    }

    pub fn insert(&mut self, wtxid: Wtxid) {
        if !self.set.insert(wtxid) {
            return;
        }
        self.order.push_back(wtxid);
        while self.order.len() > MAX_RECENT_REJECTS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    pub fn clear(&mut self) {
        self.set.clear();
        self.order.clear();
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_is_bounded_and_forgets_the_oldest_first() {
        let mut rejects = RecentRejects::default();
        let wtxid = |i: usize| Wtxid::hash(&i.to_le_bytes());
        for i in 0..MAX_RECENT_REJECTS + 5 {
            rejects.insert(wtxid(i));
        }
        assert_eq!(rejects.len(), MAX_RECENT_REJECTS);
        assert!(!rejects.contains(&wtxid(0)));
        assert!(rejects.contains(&wtxid(MAX_RECENT_REJECTS + 4)));
        rejects.clear();
        assert!(rejects.is_empty());
    }
}
