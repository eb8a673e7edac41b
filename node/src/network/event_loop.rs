//! The event loop: the one task that owns the swarm. It turns swarm events into peer-book
//! updates, sync events and judging tasks, and [`Command`]s into swarm calls. It never
//! awaits the node or the database; slow work runs in spawned tasks that report back.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic};
use libp2p::request_response::OutboundRequestId;
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, kad};
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot};

use super::SyncEvent;
use super::behaviour::{Behaviour, BehaviourEvent, MAX_INBOUND};
use super::error::NetworkError;
use super::gossip::{Judge, MAX_JUDGING};
use super::handle::{Command, NetworkHandle};
use super::peers::{Offence, PeerBook};
use super::protocol::{self, Response};
use super::serve::Quotas;
use super::view::{BannedPeer, PeerInfo, ViewPublisher};
use crate::node::{Announcement, Node, unix_now};
use crate::primitives::encode;
use crate::storage::{KnownPeer, SqlStore};
use crate::tasks::Tasks;
use crate::telemetry;

mod behaviour_events;
mod commands;

/// How often due redials and expired bans are looked at.
const TICK: Duration = Duration::from_millis(500);
/// How often a Kademlia random walk looks for more peers.
const WALK_INTERVAL: Duration = Duration::from_secs(30);
/// Peers this node dials on its own when it hears of them (more may dial in).
const TARGET_PEERS: usize = 16;
/// Announcements kept while no peer listens to their topic yet.
const MAX_UNPUBLISHED: usize = 64;

/// Waits for the swarm's first listen address, and returns the addresses so far.
pub(super) async fn wait_for_listener(
    swarm: &mut Swarm<Behaviour>,
) -> anyhow::Result<Vec<Multiaddr>> {
    loop {
        match swarm.select_next_some().await {
            SwarmEvent::NewListenAddr { address, .. } => return Ok(vec![address]),
            SwarmEvent::ListenerError { error, .. } => return Err(error.into()),
            SwarmEvent::ListenerClosed {
                reason: Err(error), ..
            } => return Err(error.into()),
            _ => {}
        }
    }
}

/// The loop's channels: commands in, sync events and the network's view out.
pub(super) struct Links {
    pub commands: mpsc::Receiver<Command>,
    pub sync: mpsc::Sender<SyncEvent>,
    pub view: ViewPublisher,
}

pub(super) struct EventLoop {
    swarm: Swarm<Behaviour>,
    node: Arc<Node>,
    store: SqlStore,
    handle: NetworkHandle,
    commands: mpsc::Receiver<Command>,
    sync: mpsc::Sender<SyncEvent>,
    view: ViewPublisher,
    book: PeerBook,
    quotas: Quotas,
    judge: Judge,
    blocks_topic: IdentTopic,
    txs_topic: IdentTopic,
    identify_protocol: String,
    requests: HashMap<OutboundRequestId, oneshot::Sender<Result<Response, NetworkError>>>,
    dials: HashMap<ConnectionId, oneshot::Sender<Result<PeerId, NetworkError>>>,
    discoveries: HashMap<kad::QueryId, (Vec<PeerId>, oneshot::Sender<Vec<PeerId>>)>,
    unpublished: VecDeque<Announcement>,
    listen_addrs: Vec<Multiaddr>,
    /// Spawns the loop's side tasks (peer records, sync answers, judging) so the node
    /// waits for them at shutdown, and tells the loop when to leave.
    tasks: Tasks,
}

impl EventLoop {
    pub(super) fn new(
        swarm: Swarm<Behaviour>,
        node: Arc<Node>,
        store: SqlStore,
        handle: NetworkHandle,
        links: Links,
        tasks: Tasks,
    ) -> Self {
        let Links {
            commands,
            sync,
            view,
        } = links;
        let network = node.info().network;
        let listen_addrs = swarm.listeners().cloned().collect();
        let judge = Judge {
            node: Arc::clone(&node),
            handle: handle.clone(),
            sync: sync.clone(),
            slots: Arc::new(Semaphore::new(MAX_JUDGING)),
            unrequested: Arc::default(),
            tasks: tasks.clone(),
        };
        Self {
            swarm,
            node,
            store,
            handle,
            commands,
            sync,
            view,
            book: PeerBook::default(),
            quotas: Quotas::default(),
            judge,
            blocks_topic: protocol::blocks_topic(network),
            txs_topic: protocol::txs_topic(network),
            identify_protocol: protocol::identify_protocol(network),
            requests: HashMap::new(),
            dials: HashMap::new(),
            discoveries: HashMap::new(),
            unpublished: VecDeque::new(),
            listen_addrs,
            tasks,
        }
    }

    /// Runs until the node stops. `known` are the peers remembered from earlier runs.
    pub(super) async fn run(mut self, known: Vec<KnownPeer>) {
        self.remember(known);
        for topic in [&self.blocks_topic, &self.txs_topic] {
            if let Err(error) = self.swarm.behaviour_mut().gossipsub.subscribe(topic) {
                tracing::error!(%error, %topic, "cannot subscribe to a gossip topic");
            }
        }
        let mut announcements = self.node.announcements();
        let mut tick = tokio::time::interval(TICK);
        let mut walk = tokio::time::interval(WALK_INTERVAL);
        let stopping = self.tasks.stopping();
        tokio::pin!(stopping);
        loop {
            tokio::select! {
                () = &mut stopping => break,
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some(command) = self.commands.recv() => self.on_command(command),
                announcement = announcements.recv() => match announcement {
                    Ok(announcement) => self.publish(announcement),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "announcements came faster than they could be gossiped");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = tick.tick() => self.on_tick(),
                _ = walk.tick() => self.random_walk(),
            }
        }
    }

    /// Peers remembered in the database: redialed now, bans kept.
    fn remember(&mut self, known: Vec<KnownPeer>) {
        let now_unix = unix_now();
        for peer in known {
            let Ok(peer_id) = peer.peer_id.parse::<PeerId>() else {
                continue;
            };
            let addrs = peer.multiaddrs.iter().filter_map(|a| a.parse().ok());
            self.book.learn(peer_id, addrs, peer.rest_url);
            if let Some(until) = peer.banned_until.filter(|until| *until > now_unix) {
                self.book.ban_until(
                    peer_id,
                    Instant::now() + Duration::from_secs(until - now_unix),
                );
                self.swarm.behaviour_mut().blocked.block_peer(peer_id);
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                if let Some(reply) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Ok(peer_id));
                }
                let address = endpoint.get_remote_address().clone();
                if endpoint.is_dialer() {
                    self.book.learn(peer_id, [address.clone()], None);
                }
                self.book
                    .on_connected(peer_id, address, endpoint.is_dialer());
                if !endpoint.is_dialer() && num_established.get() == 1 {
                    self.make_room(peer_id);
                }
                if num_established.get() == 1 {
                    tracing::info!(peer = %peer_id, "peer connected");
                    let _ = self.sync.try_send(SyncEvent::Connected(peer_id));
                    self.publish_peers();
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                ..
            } => {
                self.on_connection_closed(peer_id, num_established, cause.map(|c| c.to_string()));
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                if let Some(peer) = peer_id {
                    tracing::debug!(%peer, %error, "dial failed");
                    self.book.on_dial_failed(peer);
                }
                if let Some(reply) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Err(error.into()));
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                self.listen_addrs.push(address);
                let addrs = self.listen_addrs.iter().map(ToString::to_string).collect();
                self.view.set_listen_addrs(addrs);
            }
            _ => {}
        }
    }

    /// Above the inbound slots: disconnects the worst inbound peer (or the newcomer).
    fn make_room(&mut self, newcomer: PeerId) {
        if let Some(victim) = self.book.inbound_to_evict(newcomer, MAX_INBOUND as usize) {
            tracing::info!(peer = %victim, newcomer = %(victim == newcomer), "inbound slots full: evicting");
            let _ = self.swarm.disconnect_peer_id(victim);
        }
    }

    fn on_connection_closed(&mut self, peer: PeerId, remaining: u32, cause: Option<String>) {
        if !self.book.on_closed(peer, remaining) {
            return;
        }
        tracing::info!(%peer, ?cause, "peer disconnected");
        self.quotas.forget(&peer);
        let _ = self.sync.try_send(SyncEvent::Disconnected(peer));
        self.publish_peers();
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        for (peer, addrs) in self.book.due(now) {
            self.dial_known(peer, addrs);
        }
        let expired = self.book.expired_bans(now);
        for peer in &expired {
            tracing::info!(%peer, "ban expired");
            self.swarm.behaviour_mut().blocked.unblock_peer(*peer);
        }
        if !expired.is_empty() {
            self.publish_peers();
        }
    }

    fn random_walk(&mut self) {
        let kad = &mut self.swarm.behaviour_mut().kad;
        if kad.bootstrap().is_ok() {
            kad.get_closest_peers(PeerId::random());
        }
    }

    /// Charges a peer; a peer at the ban score is disconnected and kept out for a while.
    fn penalize(&mut self, peer: PeerId, offence: Offence) {
        let (score, banned) = self.book.penalize(peer, offence, Instant::now());
        metrics::counter!(telemetry::PEER_PENALTIES, "offence" => offence.name()).increment(1);
        tracing::info!(%peer, ?offence, score, "peer misbehaved");
        if banned {
            tracing::warn!(%peer, score, "banning peer");
            metrics::counter!(telemetry::PEER_BANS).increment(1);
            self.swarm.behaviour_mut().blocked.block_peer(peer);
            let _ = self.swarm.disconnect_peer_id(peer);
            self.persist_peer(peer);
        }
        self.publish_peers();
    }

    fn publish(&mut self, announcement: Announcement) {
        let (topic, data) = match &announcement {
            Announcement::Block(block) => (self.blocks_topic.clone(), encode(block.as_ref())),
            Announcement::Transaction(tx) => (self.txs_topic.clone(), encode(tx.as_ref())),
        };
        match self.swarm.behaviour_mut().gossipsub.publish(topic, data) {
            Ok(_) | Err(gossipsub::PublishError::Duplicate) => {}
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                // Nobody to tell yet: keep it for when a peer subscribes.
                if self.unpublished.len() == MAX_UNPUBLISHED {
                    self.unpublished.pop_front();
                }
                self.unpublished.push_back(announcement);
            }
            Err(error) => tracing::warn!(%error, "could not gossip an announcement"),
        }
    }

    fn publish_waiting(&mut self) {
        for announcement in std::mem::take(&mut self.unpublished) {
            self.publish(announcement);
        }
    }

    /// Publishes who is connected and who is banned, for `/peers` and `/status`.
    fn publish_peers(&self) {
        let infos = self
            .book
            .connected
            .iter()
            .map(|(peer, c)| PeerInfo {
                peer_id: peer.to_string(),
                address: c.address.to_string(),
                listen_addrs: c.listen_addrs.iter().map(ToString::to_string).collect(),
                direction: if c.outbound { "outbound" } else { "inbound" },
                rest_url: self.book.known.get(peer).and_then(|k| k.rest_url.clone()),
                node_id: c.status.as_ref().map(|s| s.node_id.clone()),
                height: c.status.as_ref().map(|s| s.height),
                score: self.book.score(peer),
                ping_ms: c
                    .ping
                    .map(|p| u64::try_from(p.as_millis()).unwrap_or(u64::MAX)),
            })
            .collect();
        let now = Instant::now();
        let banned = self
            .book
            .known
            .iter()
            .filter_map(|(peer, k)| {
                let left = k.banned_until?.checked_duration_since(now)?;
                Some(BannedPeer {
                    peer_id: peer.to_string(),
                    seconds_left: left.as_secs(),
                })
            })
            .collect();
        self.view.set_peers(infos, banned);
    }

    /// Saves what we know of `peer` in `nodes` (in the background).
    fn persist_peer(&self, peer: PeerId) {
        let Some(known) = self.book.known.get(&peer) else {
            return;
        };
        let now = unix_now();
        let banned_until = known
            .banned_until
            .map(|until| now + until.saturating_duration_since(Instant::now()).as_secs());
        let record = KnownPeer {
            peer_id: peer.to_string(),
            multiaddrs: known.addrs.iter().map(ToString::to_string).collect(),
            rest_url: known.rest_url.clone(),
            node_id: self
                .book
                .connected
                .get(&peer)
                .and_then(|c| c.status.as_ref())
                .map(|s| s.node_id.clone()),
            last_seen: now,
            failures: 0,
            banned_until,
        };
        let store = self.store.clone();
        self.tasks.spawn(async move {
            if let Err(error) = store.remember_peer(&record, now).await {
                tracing::warn!(%error, "could not remember a peer");
            }
        });
    }
}
