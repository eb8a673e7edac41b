//! The event loop's handling of what the swarm's protocols report: gossip, sync requests
//! and responses, identify, Kademlia, mDNS and ping. Each handler updates the peer book,
//! tells sync, or spawns the slow work; none awaits the node or the database.

use std::time::Instant;

use libp2p::gossipsub::{self};
use libp2p::request_response::{self};
use libp2p::{Multiaddr, PeerId, identify, kad, mdns, ping};

use crate::network::SyncEvent;
use crate::network::behaviour::BehaviourEvent;
use crate::network::gossip::Topic;
use crate::network::peers::{Offence, is_dialable};
use crate::network::protocol::{self, Request, Response};
use crate::network::serve::{self, Admission};
use crate::telemetry;

use super::{EventLoop, TARGET_PEERS};

impl EventLoop {
    pub(super) fn on_behaviour_event(&mut self, event: BehaviourEvent) {
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

    pub(super) fn report(
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
                    let refusal = match self.quotas.admit(peer, &request, Instant::now()) {
                        Admission::Serve => {
                            let (node, handle) = (&self.node, &self.handle);
                            serve::answer(node, handle, &self.tasks, peer, request, channel);
                            return;
                        }
                        Admission::OverQuota => {
                            self.penalize(peer, Offence::ProtocolViolation);
                            "over quota"
                        }
                        Admission::TooSoon => "mempool listed moments ago: ask again later",
                    };
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .sync
                        .send_response(channel, Response::Refused(refusal.into()));
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
}
