//! The composed libp2p behaviour: gossipsub for blocks and transactions, Kademlia and mDNS
//! for discovery, identify, ping, the sync request-response protocol, connection limits (the
//! inbound and outbound slots, and a cap per address: [`super::per_ip`]) and
//! a block list for banned peers. Configuration only; the event loop drives it.

use std::time::Duration;

use libp2p::gossipsub::{self, MessageAuthenticity, MessageId, ValidationMode};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    allow_block_list, connection_limits, identify, identity, kad, mdns, ping, request_response,
};

use super::error::NetworkError;
use super::per_ip::{self, PerIpLimit};
use super::protocol::{self, SyncCodec};
use crate::consensus::Network;
use crate::primitives::sha256d;

/// Connections this node accepts at most, and dials at most. They are counted apart
/// (Bitcoin Core's inbound and outbound slots): strangers that connect to us, however
/// many, never take the slots the node needs to reach peers it chose itself.
pub const MAX_INBOUND: u32 = 96;
pub const MAX_OUTBOUND: u32 = 32;
/// Inbound connections let in beyond [`MAX_INBOUND`] for the moment it takes to evict a
/// worse peer ([`super::eviction`]): a full node still takes a stranger that may be better
/// than its worst, as Bitcoin Core does, instead of refusing every newcomer.
pub const EVICTION_HEADROOM: u32 = 8;
/// Connections one peer may hold at once (a simultaneous dial makes two).
const MAX_CONNECTIONS_PER_PEER: u32 = 2;
/// How often peers are pinged, and how long an answer may take before the connection is
/// considered dead (then closed, and redialed).
pub const PING_INTERVAL: Duration = Duration::from_secs(2);
pub const PING_TIMEOUT: Duration = Duration::from_secs(4);
/// How long a sync request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    // The behaviours that may deny a connection come first. The derive offers a new
    // connection to each field in order and stops at the first denial; a behaviour that
    // accepted it before the denial (request-response does) keeps a phantom connection,
    // which in debug builds trips an assertion when the peer's last real connection closes
    // and in release makes requests go to a connection with no handler
    // (rust-libp2p PR #6601). Found by the partition tests' kill-and-restart scenario.
    pub limits: connection_limits::Behaviour,
    pub per_ip: per_ip::Behaviour,
    pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    pub gossipsub: gossipsub::Behaviour,
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub sync: request_response::Behaviour<SyncCodec>,
}

impl std::fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Behaviour").finish_non_exhaustive()
    }
}

/// A gossip message's id is the hash of its data: the same block or transaction relayed by
/// many peers is one message.
fn message_id(message: &gossipsub::Message) -> MessageId {
    MessageId::from(sha256d(&message.data).to_vec())
}

/// Gossipsub as every ChainCore node runs it (public so that test peers speak it exactly).
pub fn gossipsub(network: Network) -> Result<gossipsub::Behaviour, NetworkError> {
    let max_block = network.params().max_block_size;
    // Chosen for meshes of 8 to 50 peers, and 1 MB blocks:
    // - mesh degree 6 (between 4 and 12, 2 of them outbound): log6(50) ≈ 2.2 hops reach
    //   every node of a 50-node network; more would multiply every node's upload.
    // - no flood publishing: a new block goes to the origin's mesh (6 copies), not to
    //   every peer it has (up to 128 copies of 1 MB from the miner); at most one hop more.
    // - IDONTWANT (gossipsub 1.2) for messages from 1,000 bytes: a node that has a block
    //   tells its mesh at once, while it still validates, so the copies racing towards it
    //   are not sent. Transactions are smaller: their duplicates cost less than the notices.
    // - a 500 ms heartbeat: lost messages are repaired by gossip (IHAVE/IWANT) within it.
    let config = gossipsub::ConfigBuilder::default()
        .mesh_n(6)
        .mesh_n_low(4)
        .mesh_n_high(12)
        .mesh_outbound_min(2)
        .flood_publish(false)
        .idontwant_message_size_threshold(1000)
        .heartbeat_interval(Duration::from_millis(500))
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(message_id)
        .max_transmit_size(max_block + 64 * 1024)
        .duplicate_cache_time(Duration::from_secs(120))
        .build()
        .map_err(|e| NetworkError::Gossipsub(e.to_string()))?;
    let mut behaviour = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config)
        .map_err(|problem| NetworkError::Gossipsub(problem.to_owned()))?;
    let scores = gossipsub::PeerScoreParams {
        // Local clusters and test networks put many honest nodes on one address.
        ip_colocation_factor_weight: 0.0,
        ..Default::default()
    };
    behaviour
        .with_peer_score(scores, gossipsub::PeerScoreThresholds::default())
        .map_err(NetworkError::Gossipsub)?;
    Ok(behaviour)
}

/// Builds the behaviour for `key` on `network`; `mdns` turns local discovery on, `per_ip`
/// caps the inbound connections of one address.
pub fn build(
    key: &identity::Keypair,
    network: Network,
    mdns: bool,
    per_ip: PerIpLimit,
) -> Result<Behaviour, NetworkError> {
    let peer_id = key.public().to_peer_id();
    let mut kad_config = kad::Config::new(protocol::kad_protocol(network));
    kad_config.set_query_timeout(Duration::from_secs(10));
    let mut kad =
        kad::Behaviour::with_config(peer_id, kad::store::MemoryStore::new(peer_id), kad_config);
    kad.set_mode(Some(kad::Mode::Server));
    let mdns = if mdns {
        Some(
            mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)
                .map_err(NetworkError::Mdns)?,
        )
    } else {
        None
    };
    let identify = identify::Behaviour::new(
        identify::Config::new(protocol::identify_protocol(network), key.public())
            .with_agent_version(format!("chaincore/{}", env!("CARGO_PKG_VERSION"))),
    );
    let ping = ping::Behaviour::new(
        ping::Config::new()
            .with_interval(PING_INTERVAL)
            .with_timeout(PING_TIMEOUT),
    );
    let sync = request_response::Behaviour::with_codec(
        SyncCodec,
        [(
            protocol::sync_protocol(network),
            request_response::ProtocolSupport::Full,
        )],
        request_response::Config::default().with_request_timeout(REQUEST_TIMEOUT),
    );
    let limits = connection_limits::Behaviour::new(
        connection_limits::ConnectionLimits::default()
            .with_max_established_incoming(Some(MAX_INBOUND + EVICTION_HEADROOM))
            .with_max_established_outgoing(Some(MAX_OUTBOUND))
            .with_max_established_per_peer(Some(MAX_CONNECTIONS_PER_PEER)),
    );
    Ok(Behaviour {
        gossipsub: gossipsub(network)?,
        kad,
        mdns: mdns.into(),
        identify,
        ping,
        sync,
        limits,
        per_ip: per_ip::Behaviour::new(per_ip),
        blocked: allow_block_list::Behaviour::default(),
    })
}
