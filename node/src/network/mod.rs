//! The peer-to-peer network: a libp2p swarm (TCP + Noise + Yamux) that finds peers
//! (Kademlia, identify, mDNS, bootstrap REST URLs), spreads blocks and transactions by
//! gossipsub, answers and forwards sync requests, and keeps misbehaving peers out.
//!
//! One [`EventLoop`](event_loop) task owns the swarm; everyone else holds a cloneable
//! [`NetworkHandle`] that sends it commands. The loop never waits on the node: judging a
//! gossip message or answering a sync request runs in a task of its own, which reports back
//! through the handle. What to download, and from whom, is the sync task's business
//! ([`crate::sync`]); the loop only carries its requests and tells it what peers said.
//!
//! This module must not decide consensus: blocks and transactions go to [`Node`], and the
//! verdict comes back (see [`verdict`]).

pub mod behaviour;
pub mod bootstrap;
mod budget;
pub mod error;
mod event_loop;
pub mod eviction;
mod gossip;
mod handle;
pub mod peers;
pub mod per_ip;
pub mod protocol;
mod serve;
pub mod target;
pub mod verdict;
pub mod view;

use crate::tasks::Tasks;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use libp2p::{Multiaddr, PeerId, identity, noise, tcp, yamux};
use tokio::sync::mpsc;

pub use behaviour::Behaviour;
pub use error::NetworkError;
pub use handle::{Command, NetworkHandle};
pub use peers::Offence;
pub use serve::local_status;
pub use target::PeerTarget;
pub use view::{BannedPeer, NetworkView, PeerInfo};

/// Creates the network's labelled counters at zero, every label value it can count.
pub fn register_metrics() {
    for topic in gossip::Topic::ALL {
        for verdict in verdict::Verdict::LABELS {
            metrics::counter!(crate::telemetry::GOSSIP_MESSAGES, "topic" => topic.name(), "verdict" => verdict)
                .absolute(0);
        }
    }
    let offences = Offence::ALL.map(Offence::name);
    crate::telemetry::zero_counters(crate::telemetry::PEER_PENALTIES, "offence", &offences);
}

use crate::node::Node;
use crate::storage::SqlStore;

/// Commands queued for the event loop at most.
const COMMAND_QUEUE: usize = 1024;
/// Events queued for the sync task at most (a full queue drops the event: sync recovers
/// through its periodic status exchange).
pub const SYNC_QUEUE: usize = 4096;
/// How long a connection may sit with no protocol using it.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the listener may take to come up at start.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// How the network is set up.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// Where to listen.
    pub bind: IpAddr,
    pub port: u16,
    /// REST URLs or multiaddrs to start from.
    pub bootstrap: Vec<String>,
    /// Local discovery by multicast (off on loopback-only setups).
    pub mdns: bool,
    /// The cap on one address's inbound connections.
    pub per_ip: per_ip::PerIpLimit,
    /// The node's libp2p key file (created on first start).
    pub key_path: PathBuf,
}

/// What the network tells the sync task.
#[derive(Clone, Debug)]
pub enum SyncEvent {
    /// A peer connected: exchange status with it.
    Connected(PeerId),
    /// A peer told us its chain (in a status request or response).
    Status(PeerId, protocol::Status),
    /// A peer disconnected: forget its requests.
    Disconnected(PeerId),
    /// A peer gossiped a block whose ancestor `missing` we lack: it has that chain.
    Orphan {
        peer: PeerId,
        missing: crate::primitives::BlockHash,
    },
}

/// A running network.
#[derive(Debug)]
pub struct Network {
    pub handle: NetworkHandle,
    /// What the event loop tells sync.
    pub sync_events: mpsc::Receiver<SyncEvent>,
    pub listen_addrs: Vec<Multiaddr>,
}

/// Starts listening and spawns the event loop. Returns once the listener is up.
pub async fn start(
    node: Arc<Node>,
    store: SqlStore,
    config: NetworkConfig,
    tasks: &Tasks,
) -> anyhow::Result<Network> {
    let key = load_or_create_key(&config.key_path)?;
    let local_peer_id = key.public().to_peer_id();
    let mut swarm = build_swarm(key, node.info().network, &config)?;
    let listen_addrs = listen(&mut swarm, &config).await?;
    let view = view::ViewPublisher::new(
        local_peer_id.to_string(),
        listen_addrs.iter().map(ToString::to_string).collect(),
    );

    let (commands_tx, commands_rx) = mpsc::channel(COMMAND_QUEUE);
    let (sync_tx, sync_events) = mpsc::channel(SYNC_QUEUE);
    let handle = NetworkHandle::new(commands_tx, local_peer_id, view.subscribe());
    let known = store.known_peers().await.unwrap_or_else(|error| {
        tracing::warn!(%error, "could not read known peers");
        Vec::new()
    });
    let event_loop = event_loop::EventLoop::new(
        swarm,
        Arc::clone(&node),
        store,
        handle.clone(),
        event_loop::Links {
            commands: commands_rx,
            sync: sync_tx,
            view,
        },
        tasks.clone(),
    );
    tasks.spawn(event_loop.run(known));
    bootstrap::connect_all(&handle, config.bootstrap, tasks);
    tracing::info!(peer_id = %local_peer_id, addrs = ?listen_addrs, "peer-to-peer network listening");
    Ok(Network {
        handle,
        sync_events,
        listen_addrs,
    })
}

/// The swarm: TCP with Noise and Yamux, and our behaviour.
fn build_swarm(
    key: identity::Keypair,
    network: crate::consensus::Network,
    config: &NetworkConfig,
) -> anyhow::Result<libp2p::Swarm<Behaviour>> {
    Ok(libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .context("building the TCP transport")?
        .with_behaviour(|key| {
            behaviour::build(key, network, config.mdns, config.per_ip.clone()).map_err(Into::into)
        })
        .map_err(|e| anyhow::anyhow!("building the network behaviour: {e}"))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build())
}

/// Listens on the configured address; returns the addresses once the listener is up.
async fn listen(
    swarm: &mut libp2p::Swarm<Behaviour>,
    config: &NetworkConfig,
) -> anyhow::Result<Vec<Multiaddr>> {
    let listen: Multiaddr = format!(
        "/{}/{}/tcp/{}",
        ip_protocol(config.bind),
        config.bind,
        config.port
    )
    .parse()
    .context("listen address")?;
    swarm
        .listen_on(listen.clone())
        .with_context(|| format!("cannot listen on {listen}"))?;
    tokio::time::timeout(LISTEN_TIMEOUT, event_loop::wait_for_listener(swarm))
        .await
        .with_context(|| format!("no listener on {listen} after {LISTEN_TIMEOUT:?}"))?
}

fn ip_protocol(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "ip4" } else { "ip6" }
}

/// The node's ed25519 identity: read from `path`, or created there (mode 0600) on first
/// start, so that the peer id survives restarts and peers can redial it.
fn load_or_create_key(path: &Path) -> anyhow::Result<identity::Keypair> {
    match std::fs::read(path) {
        Ok(bytes) => identity::Keypair::from_protobuf_encoding(&bytes)
            .with_context(|| format!("{} is not a libp2p key", path.display())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key = identity::Keypair::generate_ed25519();
            let bytes = key.to_protobuf_encoding().context("encoding the new key")?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            write_private(path, &bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(key)
        }
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

/// A multiaddr's trailing `/p2p/<peer id>`, if it has one.
pub fn peer_id_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_survives_a_restart_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p2p.key");
        let first = load_or_create_key(&path).unwrap().public().to_peer_id();
        let second = load_or_create_key(&path).unwrap().public().to_peer_id();
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        std::fs::write(&path, b"garbage").unwrap();
        assert!(
            load_or_create_key(&path).is_err(),
            "a broken key file is an error, not a new identity"
        );
    }

    #[test]
    fn a_multiaddr_may_name_its_peer() {
        let peer = PeerId::random();
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/1/p2p/{peer}").parse().unwrap();
        assert_eq!(peer_id_of(&addr), Some(peer));
        assert_eq!(peer_id_of(&"/ip4/127.0.0.1/tcp/1".parse().unwrap()), None);
    }
}
