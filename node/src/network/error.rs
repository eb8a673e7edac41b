//! Why a network operation failed, typed at the network's boundary: the API, the sync
//! driver and the bootstrap loop decide from the kind (an unreachable peer, a refused
//! answer, a stopped network), and the message keeps the source's own words.

use libp2p::swarm::DialError;
use libp2p::{PeerId, request_response};
use thiserror::Error;

/// What is wrong with a node's answer to `GET /getpeers`.
#[derive(Debug, Error)]
pub enum RestProblem {
    #[error("HTTP {0}")]
    Status(reqwest::StatusCode),
    #[error("answer over {0} bytes")]
    TooLarge(usize),
    #[error("not a /getpeers answer: {0}")]
    NotGetpeers(#[source] serde_json::Error),
    #[error("peer id {0:?} is not valid")]
    BadPeerId(String),
    #[error("the node lists no address to dial (is its network running?)")]
    NoAddress,
}

/// A failed dial, request, bootstrap look-up or behaviour set-up.
#[derive(Debug, Error)]
pub enum NetworkError {
    #[error("the network has stopped")]
    Stopped,
    #[error("peer {0} is not connected")]
    NotConnected(PeerId),
    #[error("peer {0} is banned")]
    Banned(PeerId),
    #[error("no address to dial")]
    NoAddress,
    #[error("that is this node")]
    SelfDial,
    #[error(transparent)]
    Dial(#[from] DialError),
    #[error("the request failed: {0}")]
    Request(#[from] request_response::OutboundFailure),
    #[error("{0:?} is not a multiaddr: {1}")]
    BadMultiaddr(String, libp2p::multiaddr::Error),
    #[error("{0:?} is neither a REST URL nor a multiaddr")]
    BadTarget(String),
    #[error("{0:?} is not an http(s) URL")]
    BadUrl(String),
    #[error("{endpoint}: {source}")]
    Rest {
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{endpoint}: {problem}")]
    BadRestAnswer {
        endpoint: String,
        problem: RestProblem,
    },
    #[error("gossipsub settings: {0}")]
    Gossipsub(String),
    #[error("mDNS: {0}")]
    Mdns(#[source] std::io::Error),
}
