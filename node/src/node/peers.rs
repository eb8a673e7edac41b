//! The network as the node shows it: the peers the event loop last reported, this node's
//! own peer id and addresses, and the controls the API reaches the network through. The
//! node only keeps what the network tells it; it decides nothing about peers.

use std::sync::Arc;

use serde::Serialize;

use super::Node;
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

/// A peer to connect to, as an operator names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerTarget {
    /// A node's REST URL, whose `/getpeers` gives its peer id and addresses.
    RestUrl(String),
    /// A libp2p multiaddr (ending in `/p2p/<peer id>` or not).
    Multiaddr(String),
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
