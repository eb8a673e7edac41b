//! The event loop: the one task that owns the swarm. It turns swarm events into peer-book
//! updates, sync events and judging tasks, and [`Command`]s into swarm calls. It never
//! awaits the node or the database; slow work runs in spawned tasks that report back.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic};
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, identify, kad, mdns, ping};
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot};

use super::SyncEvent;
use super::behaviour::{Behaviour, BehaviourEvent};
use super::error::NetworkError;
use super::gossip::{Judge, MAX_JUDGING, Topic};
use super::handle::{Command, NetworkHandle};
use super::peers::{Offence, PeerBook, is_dialable};
use super::protocol::{self, Request, Response};
use super::serve::{self, Quotas};
use crate::node::{Announcement, BannedPeer, Node, PeerInfo, unix_now};
use crate::primitives::encode;
use crate::storage::{KnownPeer, SqlStore};
use crate::tasks::Tasks;
use crate::telemetry;

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

pub(super) struct EventLoop {
    swarm: Swarm<Behaviour>,
    node: Arc<Node>,
    store: SqlStore,
    handle: NetworkHandle,
    commands: mpsc::Receiver<Command>,
    sync: mpsc::Sender<SyncEvent>,
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
        commands: mpsc::Receiver<Command>,
        sync: mpsc::Sender<SyncEvent>,
        tasks: Tasks,
    ) -> Self {
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
                self.node
                    .set_local_peer(self.swarm.local_peer_id().to_string(), addrs);
            }
            _ => {}
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

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Gossipsub(event) => self.on_gossip(event),
            BehaviourEvent::Sync(event) => self.on_sync(event),
            BehaviourEvent::Identify(event) => self.on_identify(event),
            BehaviourEvent::Kad(event) => self.on_kad(event),
            BehaviourEvent::Mdns(event) => self.on_mdns(event),
            BehaviourEvent::Ping(event) => self.on_ping(event),
            // Connection limits and the block list only refuse connections.
            _ => {}
        }
    }

    fn on_gossip(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                let topic = if message.topic == self.blocks_topic.hash() {
                    Topic::Blocks
                } else if message.topic == self.txs_topic.hash() {
                    Topic::Transactions
                } else {
                    return;
                };
                if !self
                    .judge
                    .spawn(topic, message.data, message_id.clone(), propagation_source)
                {
                    tracing::debug!("too many gossip messages being judged: ignoring one");
                    self.report(
                        message_id,
                        propagation_source,
                        gossipsub::MessageAcceptance::Ignore,
                    );
                }
            }
            gossipsub::Event::Subscribed { .. } => self.publish_waiting(),
            _ => {}
        }
    }

    fn report(
        &mut self,
        message_id: gossipsub::MessageId,
        source: PeerId,
        acceptance: gossipsub::MessageAcceptance,
    ) {
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&message_id, &source, acceptance);
    }

    fn on_sync(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    if let Request::Status(status) = &request {
                        self.on_status(peer, status.clone());
                    }
                    if self.quotas.admit(peer, Instant::now()) {
                        let (node, handle) = (&self.node, &self.handle);
                        serve::answer(node, handle, &self.tasks, peer, request, channel);
                    } else {
                        self.penalize(peer, Offence::ProtocolViolation);
                        let _ = self
                            .swarm
                            .behaviour_mut()
                            .sync
                            .send_response(channel, Response::Refused("over quota".into()));
                    }
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Response::Status(status) = &response {
                        self.on_status(peer, status.clone());
                    }
                    if let Some(reply) = self.requests.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(reply) = self.requests.remove(&request_id) {
                    let _ = reply.send(Err(error.into()));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                if let request_response::InboundFailure::Io(io) = &error
                    && io.kind() == std::io::ErrorKind::InvalidData
                {
                    self.penalize(peer, Offence::Undecodable);
                }
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    /// A peer told us its chain: record it for `/peers`, check it is on our network, and
    /// let sync decide what to fetch.
    fn on_status(&mut self, peer: PeerId, status: protocol::Status) {
        let genesis = self.node.info().network.params().genesis_hash();
        if status.genesis != *genesis.as_bytes() {
            self.part_foreign(peer, "it follows another chain (different genesis)");
            return;
        }
        self.book.learn(peer, [], status.rest_url.clone());
        if let Some(connected) = self.book.connected.get_mut(&peer) {
            connected.status = Some(status.clone());
        }
        let _ = self.sync.try_send(SyncEvent::Status(peer, status));
        self.publish_peers();
    }

    fn on_identify(&mut self, event: identify::Event) {
        let identify::Event::Received { peer_id, info, .. } = event else {
            return;
        };
        if info.protocol_version != self.identify_protocol {
            let why = format!("it speaks another network ({})", info.protocol_version);
            self.part_foreign(peer_id, &why);
            return;
        }
        let addrs: Vec<Multiaddr> = info.listen_addrs.into_iter().filter(is_dialable).collect();
        let kad = &mut self.swarm.behaviour_mut().kad;
        let first_peer = kad.kbuckets().all(|bucket| bucket.num_entries() == 0);
        for addr in &addrs {
            kad.add_address(&peer_id, addr.clone());
        }
        if first_peer {
            // Our first routing entry: look around right away rather than at the next walk.
            let _ = kad.bootstrap();
        }
        self.book.learn(peer_id, addrs.clone(), None);
        self.persist_peer(peer_id);
        if let Some(connected) = self.book.connected.get_mut(&peer_id) {
            connected.listen_addrs = addrs;
        }
        self.publish_peers();
    }

    fn on_kad(&mut self, event: kad::Event) {
        match event {
            kad::Event::RoutingUpdated {
                peer, addresses, ..
            } => {
                let wanted = self.book.connected.len() < TARGET_PEERS
                    && !self.book.connected.contains_key(&peer)
                    && !self.book.is_banned(&peer, Instant::now());
                if wanted {
                    let addrs = addresses.into_vec();
                    self.book.learn(peer, addrs.clone(), None);
                    self.dial_known(peer, addrs);
                }
            }
            kad::Event::OutboundQueryProgressed {
                id,
                result: kad::QueryResult::GetClosestPeers(result),
                step,
                ..
            } => {
                let peers = match result {
                    Ok(ok) => ok.peers,
                    Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
                };
                if let Some((found, _)) = self.discoveries.get_mut(&id) {
                    found.extend(peers.into_iter().map(|p| p.peer_id));
                }
                if step.last
                    && let Some((found, reply)) = self.discoveries.remove(&id)
                {
                    let _ = reply.send(found);
                }
            }
            _ => {}
        }
    }

    fn on_mdns(&mut self, event: mdns::Event) {
        if let mdns::Event::Discovered(found) = event {
            for (peer, addr) in found {
                if peer != *self.swarm.local_peer_id() {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer, addr.clone());
                    self.book.learn(peer, [addr], None);
                }
            }
        }
    }

    /// Disconnects a peer of another network and forgets its addresses. It broke no rule
    /// of ours (a standard libp2p client, another chain), so it is not penalised or banned.
    fn part_foreign(&mut self, peer: PeerId, why: &str) {
        tracing::info!(%peer, why, "disconnecting a peer of another network");
        metrics::counter!(telemetry::FOREIGN_PEERS).increment(1);
        self.book.forget(&peer);
        self.swarm.behaviour_mut().kad.remove_peer(&peer);
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    fn on_ping(&mut self, event: ping::Event) {
        match event.result {
            Ok(rtt) => {
                if let Some(connected) = self.book.connected.get_mut(&event.peer) {
                    connected.ping = Some(rtt);
                }
            }
            // Ping is optional: a peer without it is judged by what it does.
            Err(ping::Failure::Unsupported) => {}
            Err(failure) => {
                // A peer that stops answering is gone (a cut cable keeps TCP open for
                // minutes): close, and let the redial backoff bring it back when it heals.
                tracing::info!(peer = %event.peer, %failure, "ping failed: closing the connection");
                self.swarm.close_connection(event.connection);
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Dial { peer, addrs, reply } => self.dial(peer, addrs, reply),
            Command::Learn {
                peer,
                addrs,
                rest_url,
            } => {
                for addr in &addrs {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer, addr.clone());
                }
                self.book.learn(peer, addrs, rest_url);
                self.persist_peer(peer);
            }
            Command::Discover { reply } => {
                let kad = &mut self.swarm.behaviour_mut().kad;
                let _ = kad.bootstrap();
                let query = kad.get_closest_peers(PeerId::random());
                self.discoveries.insert(query, (Vec::new(), reply));
            }
            Command::Request {
                peer,
                request,
                reply,
            } => {
                if self.book.connected.contains_key(&peer) {
                    let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                    self.requests.insert(id, reply);
                } else {
                    let _ = reply.send(Err(NetworkError::NotConnected(peer)));
                }
            }
            Command::Respond {
                peer,
                channel,
                response,
            } => {
                self.quotas.finished(&peer);
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response);
            }
            Command::Judged {
                message_id,
                source,
                acceptance,
            } => self.report(message_id, source, acceptance),
            Command::Penalize { peer, offence } => self.penalize(peer, offence),
        }
    }

    fn dial(
        &mut self,
        peer: Option<PeerId>,
        addrs: Vec<Multiaddr>,
        reply: oneshot::Sender<Result<PeerId, NetworkError>>,
    ) {
        let opts = match (peer, addrs.first()) {
            (Some(peer), _) if self.book.connected.contains_key(&peer) => {
                let _ = reply.send(Ok(peer));
                return;
            }
            (Some(peer), _) if self.book.is_banned(&peer, Instant::now()) => {
                let _ = reply.send(Err(NetworkError::Banned(peer)));
                return;
            }
            (Some(peer), _) => DialOpts::peer_id(peer)
                .addresses(addrs)
                .condition(PeerCondition::Disconnected)
                .build(),
            (None, Some(addr)) => DialOpts::unknown_peer_id().address(addr.clone()).build(),
            (None, None) => {
                let _ = reply.send(Err(NetworkError::NoAddress));
                return;
            }
        };
        let connection = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.dials.insert(connection, reply);
            }
            Err(error) => {
                let _ = reply.send(Err(error.into()));
            }
        }
    }

    /// Dials a known peer unless it is connected or being dialed.
    fn dial_known(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        if let Err(error) = self.swarm.dial(opts) {
            tracing::trace!(%peer, %error, "not dialing");
            self.book.on_dial_failed(peer);
        }
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

    /// Tells the node who is connected, for `/peers` and `/status`.
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
        self.node.set_peers(infos);
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
        self.node.set_banned(banned);
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
