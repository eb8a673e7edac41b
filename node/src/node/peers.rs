//! The network as the node shows it: the peers the event loop last reported, this node's
//! own peer id and addresses, and the controls the API reaches the network through. The
//! node only keeps what the network tells it; it decides nothing about peers.

use std::sync::Arc;

use std::str::FromStr;

use libp2p::Multiaddr;
use serde::Serialize;

use super::Node;
use crate::network::NetworkError;
use crate::telemetry;

/// A peer as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct PeerInfo {
    pub peer_id: String,
    /// The connection's remote address.
    pub address: String,
    /// Where the peer listens (what others should dial).
    pub listen_addrs: Vec<String>,
    pub direction: &'static str,
    pub rest_url: Option<String>,
    pub node_id: Option<String>,
    pub height: Option<u32>,
    pub score: f64,
    pub ping_ms: Option<u64>,
}

/// A peer kept out for misbehaving.
#[derive(Clone, Debug, Serialize)]
pub struct BannedPeer {
    pub peer_id: String,
    pub seconds_left: u64,
}

/// A peer to connect to, as an operator names it. The one parser of peer names: the
/// `--bootstrap-nodes` entries ([`PeerTarget::from_str`]) and `/addpeer`'s fields
/// ([`PeerTarget::rest_url`], [`PeerTarget::multiaddr`]) all come through here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerTarget {
    /// A node's REST URL, whose `/getpeers` gives its peer id and addresses.
    RestUrl(String),
    /// A libp2p multiaddr (ending in `/p2p/<peer id>` or not).
    Multiaddr(Multiaddr),
}

/// The longest peer name taken.
const MAX_TARGET_LEN: usize = 2048;

impl PeerTarget {
    /// An `http://` or `https://` URL of at most 2048 bytes, without spaces.
    pub fn rest_url(text: &str) -> Result<Self, NetworkError> {
        let valid = (text.starts_with("http://") || text.starts_with("https://"))
            && text.len() <= MAX_TARGET_LEN
            && !text.contains(char::is_whitespace);
        valid
            .then(|| PeerTarget::RestUrl(text.to_owned()))
            .ok_or_else(|| NetworkError::BadUrl(text.to_owned()))
    }

    /// A multiaddr libp2p reads, of at most 2048 bytes.
    pub fn multiaddr(text: &str) -> Result<Self, NetworkError> {
        if text.len() > MAX_TARGET_LEN {
            return Err(NetworkError::BadTarget(text.to_owned()));
        }
        text.parse()
            .map(PeerTarget::Multiaddr)
            .map_err(|error| NetworkError::BadMultiaddr(text.to_owned(), error))
    }
}

/// A `--bootstrap-nodes` entry: a REST URL, `host:port` as people type it (taken as
/// `http://host:port`), or a multiaddr.
impl FromStr for PeerTarget {
    type Err = NetworkError;

    fn from_str(entry: &str) -> Result<Self, NetworkError> {
        let entry = entry.trim();
        if entry.starts_with("http://") || entry.starts_with("https://") {
            PeerTarget::rest_url(entry)
        } else if entry.starts_with('/') {
            PeerTarget::multiaddr(entry)
        } else if !entry.is_empty() && !entry.contains(char::is_whitespace) {
            PeerTarget::rest_url(&format!("http://{entry}"))
        } else {
            Err(NetworkError::BadTarget(entry.to_owned()))
        }
    }
}

/// What the node asks of its peer-to-peer network (implemented by `network`).
pub trait PeerControl: Send + Sync + std::fmt::Debug {
    /// Connects to `target`.
    fn add_peer(
        &self,
        target: PeerTarget,
    ) -> futures::future::BoxFuture<'_, Result<(), crate::network::NetworkError>>;
    /// Looks for more peers (a Kademlia walk); returns the peer ids found.
    fn discover(&self) -> futures::future::BoxFuture<'_, Vec<String>>;
}

impl Node {
    /// Connected peers, as the network last reported them.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.peers.borrow().clone()
    }

    /// Peers banned for misbehaving, as the network last reported them.
    pub fn banned(&self) -> Vec<BannedPeer> {
        self.banned.borrow().clone()
    }

    pub fn set_banned(&self, banned: Vec<BannedPeer>) {
        metrics::gauge!(telemetry::BANNED_PEERS).set(banned.len() as f64);
        self.banned.send_replace(banned);
    }

    /// This node's peer id and listen addresses (empty until the network starts).
    pub fn local_peer(&self) -> (String, Vec<String>) {
        self.local_peer.borrow().clone()
    }

    /// Called by the network whenever its peer set changes.
    pub fn set_peers(&self, peers: Vec<PeerInfo>) {
        metrics::gauge!(telemetry::PEERS).set(peers.len() as f64);
        self.peers.send_replace(peers);
    }

    pub fn set_local_peer(&self, peer_id: String, listen_addrs: Vec<String>) {
        self.local_peer.send_replace((peer_id, listen_addrs));
    }

    /// Connects the peer-to-peer network's controls.
    pub fn set_network(&self, network: Arc<dyn PeerControl>) {
        *self.network.lock().expect("not poisoned") = Some(network);
    }

    /// The network's controls, once it runs.
    pub fn network(&self) -> Option<Arc<dyn PeerControl>> {
        self.network.lock().expect("not poisoned").clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_entries_are_urls_host_ports_or_multiaddrs() {
        let rest = |url: &str| Some(PeerTarget::RestUrl(url.into()));
        assert_eq!(
            "http://localhost:5000".parse().ok(),
            rest("http://localhost:5000")
        );
        assert_eq!("localhost:5000".parse().ok(), rest("http://localhost:5000"));
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/8000".parse().unwrap();
        assert_eq!(
            "/ip4/127.0.0.1/tcp/8000".parse().ok(),
            Some(PeerTarget::Multiaddr(addr))
        );
        for bad in ["", "a b", "/not/a/multiaddr", "http://a b"] {
            assert!(bad.parse::<PeerTarget>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn addpeer_fields_are_held_to_their_own_kind() {
        assert!(PeerTarget::rest_url("ftp://x").is_err());
        assert!(PeerTarget::rest_url(&format!("http://{}", "a".repeat(3000))).is_err());
        assert!(PeerTarget::multiaddr("http://x").is_err());
        assert!(PeerTarget::multiaddr("/ip4/1.2.3.4/tcp/1").is_ok());
    }
}
