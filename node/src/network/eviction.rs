//! Which inbound peer gives up its slot when the inbound slots are full and a stranger
//! connects: after Bitcoin Core's `SelectNodeToEvict`. Pure: the event loop asks and
//! disconnects.
//!
//! An attacker can open connections by the hundred, but it cannot cheaply be useful, or
//! close, or old. So each of these is protected, in this order, from what is left:
//! 1. the [`PROTECT_BLOCKS`] peers that most recently gave us a block we did not have;
//! 2. the [`PROTECT_TXS`] that most recently gave us a new transaction;
//! 3. the [`PROTECT_PING`] with the lowest ping;
//! 4. half of the rest, the longest connected.
//!
//! Among the peers left, the address holding the most connections loses its newest one. When
//! no peer is left to evict, the newcomer is refused instead.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use libp2p::PeerId;

pub const PROTECT_BLOCKS: usize = 4;
pub const PROTECT_TXS: usize = 4;
pub const PROTECT_PING: usize = 8;

/// What eviction weighs about one inbound peer.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub peer: PeerId,
    pub ip: Option<IpAddr>,
    pub connected_at: Instant,
    pub last_block: Option<Instant>,
    pub last_tx: Option<Instant>,
    pub ping: Option<Duration>,
}

/// The peer to disconnect, if any may go.
pub fn choose(mut left: Vec<Candidate>) -> Option<PeerId> {
    protect(&mut left, PROTECT_BLOCKS, |c| {
        c.last_block.map(std::cmp::Reverse)
    });
    protect(&mut left, PROTECT_TXS, |c| c.last_tx.map(std::cmp::Reverse));
    protect(&mut left, PROTECT_PING, |c| c.ping);
    let half = left.len() / 2;
    protect(&mut left, half, |c| Some(c.connected_at));
    let mut per_ip: HashMap<Option<IpAddr>, Vec<&Candidate>> = HashMap::new();
    for candidate in &left {
        per_ip.entry(candidate.ip).or_default().push(candidate);
    }
    let crowded = per_ip
        .into_values()
        .max_by_key(|group| (group.len(), group.iter().map(|c| c.connected_at).max()))?;
    crowded
        .into_iter()
        .max_by_key(|c| c.connected_at)
        .map(|c| c.peer)
}

/// Removes from `left` the `n` candidates that rank first by `key` (smallest first);
/// candidates without a key are never protected by it.
fn protect<K: Ord>(left: &mut Vec<Candidate>, n: usize, key: impl Fn(&Candidate) -> Option<K>) {
    let mut ranked: Vec<(K, usize)> = left
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some((key(c)?, i)))
        .collect();
    ranked.sort_by(|a, b| a.0.cmp(&b.0));
    let mut protected: Vec<usize> = ranked.into_iter().take(n).map(|(_, i)| i).collect();
    protected.sort_unstable_by(|a, b| b.cmp(a));
    for i in protected {
        left.swap_remove(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stranger(base: Instant, ip: [u8; 4], age_s: u64) -> Candidate {
        Candidate {
            peer: PeerId::random(),
            ip: Some(IpAddr::from(ip)),
            connected_at: base - Duration::from_secs(age_s),
            last_block: None,
            last_tx: None,
            ping: None,
        }
    }

    #[test]
    fn peers_that_brought_new_blocks_or_transactions_are_never_the_ones_to_go() {
        let now = Instant::now();
        // Thirty strangers from one address, connected in the last seconds.
        let mut candidates: Vec<Candidate> =
            (0..30).map(|i| stranger(now, [6, 6, 6, 6], i)).collect();
        let mut useful = Vec::new();
        for i in 0..4u8 {
            let mut block_peer = stranger(now, [10, 0, 0, i], 1);
            block_peer.last_block = Some(now);
            let mut tx_peer = stranger(now, [10, 0, 1, i], 1);
            tx_peer.last_tx = Some(now);
            useful.extend([block_peer.peer, tx_peer.peer]);
            candidates.extend([block_peer, tx_peer]);
        }
        let mut evicted = Vec::new();
        while let Some(victim) = choose(candidates.clone()) {
            assert!(!useful.contains(&victim), "a useful peer was evicted");
            evicted.push(victim);
            candidates.retain(|c| c.peer != victim);
        }
        assert!(
            evicted.len() >= 10,
            "the strangers make room: {}",
            evicted.len()
        );
    }

    #[test]
    fn the_crowded_address_loses_its_newest_connection() {
        let now = Instant::now();
        let mut candidates: Vec<Candidate> =
            (0..6).map(|i| stranger(now, [1, 2, 3, i], 100)).collect();
        let crowd: Vec<Candidate> = (0..6)
            .map(|i| stranger(now, [6, 6, 6, 6], 10 + i))
            .collect();
        let newest = crowd[0].peer;
        candidates.extend(crowd);
        assert_eq!(choose(candidates), Some(newest));
    }

    #[test]
    fn with_everyone_protected_the_newcomer_is_refused() {
        let now = Instant::now();
        let mut candidates: Vec<Candidate> =
            (0..3).map(|i| stranger(now, [1, 1, 1, i], 5)).collect();
        for c in &mut candidates {
            c.last_block = Some(now);
        }
        assert_eq!(choose(candidates), None);
    }
}
