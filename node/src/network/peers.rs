//! The peer book: who is connected and how well they behave, who is known and when to
//! redial them, who is banned. Pure bookkeeping; the event loop acts on its answers.
//!
//! Misbehaviour costs score ([`Offence`]); at [`BAN_SCORE`] a peer is banned for
//! [`BAN_DURATION`]. Known peers that drop are redialed with exponential backoff (from
//! [`FIRST_BACKOFF`] to [`MAX_BACKOFF`], five minutes, so a peer gone for good costs a dial
//! now and then, not a dial every few seconds). A healed partition still reconnects at once:
//! when a peer that had dropped comes back, that is a sign the network works again, and
//! every peer once reached that is waiting out its backoff is dialed now. The book
//! holds at most `MAX_KNOWN` peers; when full it forgets a stranger that never answered
//! before a peer it once reached.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};

use super::protocol::Status;

/// The score at or below which a peer is banned.
pub const BAN_SCORE: f64 = -100.0;
pub const BAN_DURATION: Duration = Duration::from_secs(600);
pub const FIRST_BACKOFF: Duration = Duration::from_millis(500);
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Known peers remembered at most (the oldest unconnected are forgotten beyond).
const MAX_KNOWN: usize = 1_000;

/// Something a peer did wrong, and what it costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offence {
    InvalidBlock,
    InvalidTransaction,
    Undecodable,
    ProtocolViolation,
    /// Claimed more chain work in its status than the headers it then delivered reach.
    FalseWorkClaim,
    /// Sent a low-work header branch longer than the presync budget.
    LowWorkHeaders,
    /// Gossiped more low-work blocks than its budget allows.
    UnrequestedBlocks,
    /// Left a sync request unanswered past the stall timeout.
    Stalling,
}

impl Offence {
    /// Every offence, for metrics that must exist before the first one.
    pub const ALL: [Offence; 8] = [
        Offence::InvalidBlock,
        Offence::InvalidTransaction,
        Offence::Undecodable,
        Offence::ProtocolViolation,
        Offence::FalseWorkClaim,
        Offence::LowWorkHeaders,
        Offence::UnrequestedBlocks,
        Offence::Stalling,
    ];

    /// A short name, for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Offence::InvalidBlock => "invalid-block",
            Offence::InvalidTransaction => "invalid-transaction",
            Offence::Undecodable => "undecodable",
            Offence::ProtocolViolation => "protocol-violation",
            Offence::FalseWorkClaim => "false-work-claim",
            Offence::LowWorkHeaders => "low-work-headers",
            Offence::UnrequestedBlocks => "unrequested-blocks",
            Offence::Stalling => "stalling",
        }
    }

    pub fn cost(self) -> f64 {
        match self {
            Offence::InvalidBlock => 100.0,
            Offence::InvalidTransaction => 20.0,
            Offence::Undecodable => 40.0,
            Offence::ProtocolViolation => 25.0,
            Offence::FalseWorkClaim => 50.0,
            Offence::LowWorkHeaders => 50.0,
            Offence::UnrequestedBlocks => 25.0,
            Offence::Stalling => 10.0,
        }
    }
}

/// A connected peer.
#[derive(Clone, Debug)]
pub struct Connected {
    pub address: Multiaddr,
    pub outbound: bool,
    pub connections: usize,
    pub status: Option<Status>,
    pub ping: Option<Duration>,
    /// Where it listens, as identify reported.
    pub listen_addrs: Vec<Multiaddr>,
    pub connected_at: Instant,
    /// When it last gave us a block, or a transaction, that we did not have.
    pub last_block: Option<Instant>,
    pub last_tx: Option<Instant>,
}

/// A peer to keep connected to.
#[derive(Clone, Debug)]
pub struct Known {
    pub addrs: Vec<Multiaddr>,
    pub rest_url: Option<String>,
    backoff: Duration,
    next_dial: Instant,
    pub banned_until: Option<Instant>,
    /// Whether a connection to it ever succeeded (since this node started).
    ever_connected: bool,
    /// Dials that failed since its last connection.
    dial_failures: u32,
}

impl Known {
    /// Eviction order when the book is full: the first to go is one never reached, with the
    /// most failed dials; a peer once connected goes only when no stranger is left.
    fn keep_rank(&self) -> (bool, std::cmp::Reverse<u32>) {
        (self.ever_connected, std::cmp::Reverse(self.dial_failures))
    }
}

#[derive(Debug, Default)]
pub struct PeerBook {
    pub connected: HashMap<PeerId, Connected>,
    pub known: HashMap<PeerId, Known>,
    dialing: HashMap<PeerId, Instant>,
    /// Misbehaviour scores (0 is clean), kept across reconnections.
    scores: HashMap<PeerId, f64>,
}

fn new_known() -> Known {
    Known {
        addrs: Vec::new(),
        rest_url: None,
        backoff: FIRST_BACKOFF,
        next_dial: Instant::now(),
        banned_until: None,
        ever_connected: false,
        dial_failures: 0,
    }
}

impl PeerBook {
    /// Remembers addresses (and a REST URL) for `peer`.
    pub fn learn(
        &mut self,
        peer: PeerId,
        addrs: impl IntoIterator<Item = Multiaddr>,
        rest_url: Option<String>,
    ) {
        if self.known.len() >= MAX_KNOWN && !self.known.contains_key(&peer) {
            // Banned peers stay (forgetting one would let it be learnt afresh).
            let forget = self
                .known
                .iter()
                .filter(|(p, k)| !self.connected.contains_key(p) && k.banned_until.is_none())
                .min_by_key(|(_, k)| k.keep_rank())
                .map(|(p, _)| *p);
            if let Some(forget) = forget {
                self.known.remove(&forget);
            }
        }
        let known = self.known.entry(peer).or_insert_with(new_known);
        for addr in addrs {
            if !known.addrs.contains(&addr) && is_dialable(&addr) {
                known.addrs.push(addr);
            }
        }
        if rest_url.is_some() {
            known.rest_url = rest_url;
        }
    }

    /// Forgets `peer`'s addresses, so it is not dialed again (a peer of another network:
    /// not an offence, just not ours). A ban, if any, is kept.
    pub fn forget(&mut self, peer: &PeerId) {
        if self
            .known
            .get(peer)
            .is_some_and(|k| k.banned_until.is_none())
        {
            self.known.remove(peer);
        }
    }

    pub fn on_connected(&mut self, peer: PeerId, address: Multiaddr, outbound: bool) {
        self.dialing.remove(&peer);
        if let Some(known) = self.known.get_mut(&peer) {
            let came_back = known.ever_connected && known.backoff > FIRST_BACKOFF;
            known.backoff = FIRST_BACKOFF;
            known.ever_connected = true;
            known.dial_failures = 0;
            if came_back && !self.connected.contains_key(&peer) {
                self.wake_dropped(Instant::now());
            }
        }
        let entry = self.connected.entry(peer).or_insert(Connected {
            address,
            outbound,
            connections: 0,
            status: None,
            ping: None,
            listen_addrs: Vec::new(),
            connected_at: Instant::now(),
            last_block: None,
            last_tx: None,
        });
        entry.connections += 1;
    }

    /// `peer` gave us a new block (or transaction): it is worth its slot.
    pub fn on_useful(&mut self, peer: PeerId, block: bool, now: Instant) {
        if let Some(c) = self.connected.get_mut(&peer) {
            if block {
                c.last_block = Some(now);
            } else {
                c.last_tx = Some(now);
            }
        }
    }

    /// When more than `max` inbound peers are connected: the one to disconnect to make room
    /// for `newcomer` (the newcomer itself when every other is protected; see
    /// [`super::eviction`]).
    pub fn inbound_to_evict(&self, newcomer: PeerId, max: usize) -> Option<PeerId> {
        let inbound = || self.connected.iter().filter(|(_, c)| !c.outbound);
        if inbound().count() <= max {
            return None;
        }
        let candidates = inbound()
            .filter(|(p, _)| **p != newcomer)
            .map(|(peer, c)| super::eviction::Candidate {
                peer: *peer,
                ip: super::per_ip::ip_of(&c.address),
                connected_at: c.connected_at,
                last_block: c.last_block,
                last_tx: c.last_tx,
                ping: c.ping,
            })
            .collect();
        Some(super::eviction::choose(candidates).unwrap_or(newcomer))
    }

    /// Records a closed connection; returns whether the peer is now disconnected.
    pub fn on_closed(&mut self, peer: PeerId, remaining: u32) -> bool {
        if remaining > 0 {
            if let Some(c) = self.connected.get_mut(&peer) {
                c.connections = c.connections.saturating_sub(1);
            }
            return false;
        }
        self.connected.remove(&peer);
        if let Some(known) = self.known.get_mut(&peer) {
            known.next_dial = Instant::now() + known.backoff;
            known.backoff = (known.backoff * 2).min(MAX_BACKOFF);
        }
        true
    }

    pub fn on_dial_failed(&mut self, peer: PeerId) {
        self.dialing.remove(&peer);
        if let Some(known) = self.known.get_mut(&peer) {
            known.dial_failures = known.dial_failures.saturating_add(1);
            known.next_dial = Instant::now() + known.backoff;
            known.backoff = (known.backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// A peer that had dropped is back: the partition (or the outage) that cut it off may
    /// be over, so every other peer once reached is due now, with its backoff started over.
    /// Strangers that never answered keep theirs.
    fn wake_dropped(&mut self, now: Instant) {
        for (peer, known) in &mut self.known {
            if known.ever_connected
                && !self.connected.contains_key(peer)
                && known.banned_until.is_none()
            {
                known.next_dial = known.next_dial.min(now);
                known.backoff = FIRST_BACKOFF;
            }
        }
    }

    /// Known peers due for a dial now: not connected, not banned, not being dialed.
    pub fn due(&mut self, now: Instant) -> Vec<(PeerId, Vec<Multiaddr>)> {
        self.dialing
            .retain(|_, started| now.duration_since(*started) < Duration::from_secs(10));
        let due: Vec<(PeerId, Vec<Multiaddr>)> = self
            .known
            .iter()
            .filter(|(peer, k)| {
                !self.connected.contains_key(peer)
                    && !self.dialing.contains_key(peer)
                    && k.next_dial <= now
                    && k.banned_until.is_none_or(|until| until <= now)
                    && !k.addrs.is_empty()
            })
            .map(|(peer, k)| (*peer, k.addrs.clone()))
            .collect();
        for (peer, _) in &due {
            self.dialing.insert(*peer, now);
        }
        due
    }

    /// Charges `peer` for `offence`; returns its new score, and whether it is now banned.
    /// Scores outlive connections, so reconnecting does not wipe the slate.
    pub fn penalize(&mut self, peer: PeerId, offence: Offence, now: Instant) -> (f64, bool) {
        if self.scores.len() >= MAX_KNOWN && !self.scores.contains_key(&peer) {
            let connected = &self.connected;
            self.scores.retain(|p, _| connected.contains_key(p));
        }
        let score = self.scores.entry(peer).or_insert(0.0);
        *score -= offence.cost();
        let score = *score;
        let banned = score <= BAN_SCORE;
        if banned {
            self.known
                .entry(peer)
                .or_insert_with(new_known)
                .banned_until = Some(now + BAN_DURATION);
        }
        (score, banned)
    }

    pub fn score(&self, peer: &PeerId) -> f64 {
        self.scores.get(peer).copied().unwrap_or(0.0)
    }

    /// Marks `peer` banned until `until` (a ban remembered from an earlier run).
    pub fn ban_until(&mut self, peer: PeerId, until: Instant) {
        self.known
            .entry(peer)
            .or_insert_with(new_known)
            .banned_until = Some(until);
        self.scores.insert(peer, BAN_SCORE);
    }

    pub fn is_banned(&self, peer: &PeerId, now: Instant) -> bool {
        self.known
            .get(peer)
            .and_then(|k| k.banned_until)
            .is_some_and(|until| until > now)
    }

    /// Peers whose ban has run out (to unblock).
    pub fn expired_bans(&mut self, now: Instant) -> Vec<PeerId> {
        let expired: Vec<PeerId> = self
            .known
            .iter()
            .filter(|(_, k)| k.banned_until.is_some_and(|until| until <= now))
            .map(|(p, _)| *p)
            .collect();
        for peer in &expired {
            if let Some(k) = self.known.get_mut(peer) {
                k.banned_until = None;
            }
            // A served ban leaves the peer a little credit, not a clean slate.
            self.scores.insert(*peer, BAN_SCORE / 2.0);
        }
        expired
    }
}

/// Whether others can dial `addr`: not a wildcard like `0.0.0.0` or `::`.
pub fn is_dialable(addr: &Multiaddr) -> bool {
    !addr.iter().any(|p| match p {
        libp2p::multiaddr::Protocol::Ip4(ip) => ip.is_unspecified(),
        libp2p::multiaddr::Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> Multiaddr {
        format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()
    }

    #[test]
    fn a_dropped_peer_is_redialed_with_growing_backoff_then_reset() {
        let mut book = PeerBook::default();
        let peer = PeerId::random();
        book.learn(peer, [addr(1)], None);
        assert_eq!(book.due(Instant::now()).len(), 1);
        assert!(
            book.due(Instant::now()).is_empty(),
            "not twice while dialing"
        );
        book.on_connected(peer, addr(1), true);
        assert!(book.on_closed(peer, 0));
        assert!(book.due(Instant::now()).is_empty(), "waits its backoff");
        assert_eq!(book.due(Instant::now() + FIRST_BACKOFF).len(), 1);
        book.on_dial_failed(peer);
        assert!(
            book.due(Instant::now() + FIRST_BACKOFF).is_empty(),
            "the backoff doubled"
        );
        assert_eq!(book.due(Instant::now() + MAX_BACKOFF).len(), 1);
    }

    #[test]
    fn the_backoff_of_a_peer_that_stays_away_grows_to_minutes() {
        let mut book = PeerBook::default();
        let peer = PeerId::random();
        book.learn(peer, [addr(1)], None);
        book.on_connected(peer, addr(1), true);
        book.on_closed(peer, 0);
        for _ in 0..12 {
            book.due(Instant::now() + MAX_BACKOFF);
            book.on_dial_failed(peer);
        }
        let later = |d: Duration| book.known[&peer].next_dial > Instant::now() + d;
        assert!(
            later(Duration::from_secs(240)),
            "well past the old 4 s ceiling"
        );
        assert!(!later(MAX_BACKOFF), "and never past MAX_BACKOFF");
    }

    #[test]
    fn a_dropped_peer_coming_back_wakes_the_others_it_was_cut_off_with() {
        let mut book = PeerBook::default();
        let (a, b, stranger) = (PeerId::random(), PeerId::random(), PeerId::random());
        for (i, peer) in [a, b].into_iter().enumerate() {
            let port = u16::try_from(i + 1).unwrap();
            book.learn(peer, [addr(port)], None);
            book.on_connected(peer, addr(port), true);
            book.on_closed(peer, 0);
        }
        book.learn(stranger, [addr(9)], None);
        // A long partition: every redial fails until the backoffs are minutes long.
        for _ in 0..12 {
            book.due(Instant::now() + MAX_BACKOFF);
            for peer in [a, b, stranger] {
                book.on_dial_failed(peer);
            }
        }
        assert!(book.due(Instant::now()).is_empty());
        // The heal: `a` dials in. `b` is due at once; the stranger keeps its backoff.
        book.on_connected(a, addr(1), false);
        let due: Vec<PeerId> = book
            .due(Instant::now())
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(due, [b]);
    }

    #[test]
    fn a_full_book_forgets_strangers_that_fail_before_peers_it_reached() {
        let mut book = PeerBook::default();
        let good = PeerId::random();
        book.learn(good, [addr(1)], None);
        book.on_connected(good, addr(1), true);
        book.on_closed(good, 0);
        let failing = PeerId::random();
        book.learn(failing, [addr(2)], None);
        book.on_dial_failed(failing);
        for port in 3..=u16::try_from(MAX_KNOWN).unwrap() {
            book.learn(PeerId::random(), [addr(port)], None);
        }
        assert_eq!(book.known.len(), MAX_KNOWN);
        book.learn(PeerId::random(), [addr(9_001)], None);
        assert_eq!(book.known.len(), MAX_KNOWN, "bounded");
        assert!(
            !book.known.contains_key(&failing),
            "the failing stranger went first"
        );
        for port in 9_002..9_002 + u16::try_from(MAX_KNOWN).unwrap() {
            book.learn(PeerId::random(), [addr(port)], None);
        }
        assert!(
            book.known.contains_key(&good),
            "a peer once reached outlives a book's worth of strangers"
        );
    }

    #[test]
    fn repeat_offenders_are_banned_and_not_redialed() {
        let mut book = PeerBook::default();
        let peer = PeerId::random();
        book.learn(peer, [addr(2)], None);
        book.on_connected(peer, addr(2), false);
        assert_eq!(
            book.penalize(peer, Offence::InvalidTransaction, Instant::now()),
            (-20.0, false)
        );
        book.on_closed(peer, 0);
        book.on_connected(peer, addr(2), false);
        assert_eq!(book.score(&peer), -20.0, "reconnecting keeps the score");
        let (_, banned) = book.penalize(peer, Offence::InvalidBlock, Instant::now());
        assert!(banned);
        assert!(book.is_banned(&peer, Instant::now()));
        book.on_closed(peer, 0);
        assert!(
            book.due(Instant::now() + MAX_BACKOFF).is_empty(),
            "banned peers are not redialed"
        );
        assert_eq!(book.expired_bans(Instant::now() + BAN_DURATION), vec![peer]);
    }
}
