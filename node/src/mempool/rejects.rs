//! The recent-rejects filter: wtxids the mempool refused.
//!
//! A refused transaction sent again (by the same peer in a loop, or by every peer that
//! relays it) is answered from here, with no coin look-up and no signature work. Keyed by
//! wtxid, not txid: a copy with a bad signature shares the txid of the genuine transaction
//! and must not keep it out.
//!
//! Two sets, by whether a new block can change the verdict (Bitcoin Core resets its one
//! filter at every tip change, but looks coins up in a memory cache; here a look-up is a
//! database read, which a flooder would get once per block):
//! - [`Lasting::UntilTipChange`]: refusals a new block may reverse (an immature coinbase,
//!   package limits, a full pool), forgotten at every tip change;
//! - [`Lasting::Forever`]: refusals fixed by the transaction's own bytes. An outpoint names a
//!   txid, which commits to the output's value and owner, so the fee, the fee rate, the
//!   owners and the signatures of a transaction never change: a bad signature, a wrong key,
//!   outputs above inputs, a fee rate below the (fixed) minimum stay refused.
//!
//! It is a cache of refusals and must never refuse anything on its own beyond that.

use std::collections::{HashSet, VecDeque};

use crate::primitives::Wtxid;

/// Refusals remembered at most; the oldest is forgotten beyond.
pub const MAX_RECENT_REJECTS: usize = 20_000;

/// How long a refusal holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lasting {
    UntilTipChange,
    Forever,
}

/// Both sets of refusals.
#[derive(Clone, Debug, Default)]
pub struct Rejects {
    until_tip_change: RecentRejects,
    forever: RecentRejects,
}

impl Rejects {
    pub fn contains(&self, wtxid: &Wtxid) -> bool {
        self.forever.contains(wtxid) || self.until_tip_change.contains(wtxid)
    }

    pub fn insert(&mut self, wtxid: Wtxid, lasting: Lasting) {
        match lasting {
            Lasting::UntilTipChange => self.until_tip_change.insert(wtxid),
            Lasting::Forever => self.forever.insert(wtxid),
        }
    }

    /// The tip changed: forget the refusals a block may reverse.
    pub fn on_tip_change(&mut self) {
        self.until_tip_change.clear();
    }
}

/// A bounded set of wtxids, forgetting the oldest first.
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

    #[test]
    fn a_tip_change_forgets_only_what_a_block_can_reverse() {
        let mut rejects = Rejects::default();
        let (fixed, passing) = (Wtxid::hash(b"fixed"), Wtxid::hash(b"passing"));
        rejects.insert(fixed, Lasting::Forever);
        rejects.insert(passing, Lasting::UntilTipChange);
        rejects.on_tip_change();
        assert!(rejects.contains(&fixed));
        assert!(!rejects.contains(&passing));
    }
}
