//! Per-peer budgets for what a peer may make us do unasked: blocks it gossips whose chain
//! has less work than our tip (`SubmitOutcome::LowWork`: checked, then dropped). Each peer
//! has a token bucket; such a block takes a token, and a peer with none left is at fault
//! (`Offence::UnrequestedBlocks`). Honest peers on a losing branch send a few such blocks
//! while a race or a partition resolves; the burst covers them. Side blocks with as much
//! work as the tip are not charged (a tip's worth of proof of work each). Pure bookkeeping:
//! the caller acts.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// Unrequested blocks a peer may send at once.
pub(super) const UNREQUESTED_BURST_BLOCKS: u32 = 16;
const UNREQUESTED_BURST: f64 = UNREQUESTED_BURST_BLOCKS as f64;
/// One more token per this long.
pub(super) const UNREQUESTED_REFILL: Duration = Duration::from_secs(10);
/// Peers tracked at most; beyond, those whose bucket is full again are forgotten.
const MAX_TRACKED: usize = 4_096;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// The unrequested-block budgets of every peer.
#[derive(Debug, Default)]
pub(super) struct UnrequestedBudget {
    peers: HashMap<PeerId, Bucket>,
}

impl UnrequestedBudget {
    /// Charges `peer` one unrequested block; `false` once it is over its budget.
    pub(super) fn charge(&mut self, peer: PeerId, now: Instant) -> bool {
        if self.peers.len() >= MAX_TRACKED {
            self.peers.retain(|_, b| refill(b, now) < UNREQUESTED_BURST);
        }
        let bucket = self.peers.entry(peer).or_insert(Bucket {
            tokens: UNREQUESTED_BURST,
            refilled: now,
        });
        bucket.tokens = refill(bucket, now);
        bucket.refilled = now;
        if bucket.tokens < 1.0 {
            return false;
        }
        bucket.tokens -= 1.0;
        true
    }
}

fn refill(bucket: &Bucket, now: Instant) -> f64 {
    let earned =
        now.duration_since(bucket.refilled).as_secs_f64() / UNREQUESTED_REFILL.as_secs_f64();
    (bucket.tokens + earned).min(UNREQUESTED_BURST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_gets_a_burst_of_unrequested_blocks_then_must_wait() {
        let mut budget = UnrequestedBudget::default();
        let (peer, other) = (PeerId::random(), PeerId::random());
        let now = Instant::now();
        let allowed = (0..100).filter(|_| budget.charge(peer, now)).count();
        assert_eq!(allowed, UNREQUESTED_BURST_BLOCKS as usize);
        assert!(budget.charge(other, now), "budgets are per peer");
        assert!(!budget.charge(peer, now + UNREQUESTED_REFILL / 2));
        assert!(budget.charge(peer, now + UNREQUESTED_REFILL * 2));
    }
}
