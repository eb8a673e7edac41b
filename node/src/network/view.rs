//! The network as the rest of the node sees it: this node's peer id and listen addresses,
//! the connected peers and the banned ones. The event loop publishes a new [`NetworkView`]
//! whenever one of them changes (a `watch`); the API reads the latest through the
//! [`super::NetworkHandle`]. It only reports; it decides nothing about peers.

use serde::Serialize;
use tokio::sync::watch;

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

/// The network at one moment.
#[derive(Clone, Debug, Default)]
pub struct NetworkView {
    pub peer_id: String,
    pub listen_addrs: Vec<String>,
    pub peers: Vec<PeerInfo>,
    pub banned: Vec<BannedPeer>,
}

/// The event loop's end of the view: each change is published at once, with its gauges.
#[derive(Debug)]
pub(super) struct ViewPublisher(watch::Sender<NetworkView>);

impl ViewPublisher {
    pub(super) fn new(peer_id: String, listen_addrs: Vec<String>) -> Self {
        Self(watch::Sender::new(NetworkView {
            peer_id,
            listen_addrs,
            ..NetworkView::default()
        }))
    }

    pub(super) fn subscribe(&self) -> watch::Receiver<NetworkView> {
        self.0.subscribe()
    }

    pub(super) fn set_listen_addrs(&self, listen_addrs: Vec<String>) {
        self.0.send_modify(|view| view.listen_addrs = listen_addrs);
    }

    pub(super) fn set_peers(&self, peers: Vec<PeerInfo>, banned: Vec<BannedPeer>) {
        metrics::gauge!(telemetry::PEERS).set(peers.len() as f64);
        metrics::gauge!(telemetry::BANNED_PEERS).set(banned.len() as f64);
        self.0.send_modify(|view| {
            view.peers = peers;
            view.banned = banned;
        });
    }
}
