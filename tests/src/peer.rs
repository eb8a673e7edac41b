//! A bare libp2p peer with ChainCore's behaviour (same protocols, topics and identify
//! version as a node) but no chain behind it: the test decides what it says, on gossip and
//! in answer to the node's sync requests ([`RawPeer::answer_with`]). Used to play a
//! misbehaving peer against real nodes.

use std::time::Duration;

use chaincore::consensus::Network;
use chaincore::network::behaviour::{self, Behaviour, BehaviourEvent};
use chaincore::network::protocol::{self, Request, Response};
use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic};
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm, identity, noise, tcp, yamux};

/// How the test answers the node's sync requests; `None` leaves a request unanswered (a
/// stalling peer).
pub type Answerer = Box<dyn FnMut(&Request) -> Option<Response> + Send>;

/// A peer the test drives by hand.
pub struct RawPeer {
    swarm: Swarm<Behaviour>,
    network: Network,
    answerer: Option<Answerer>,
    /// Requests left unanswered on purpose, kept so their streams stay open.
    unanswered: Vec<request_response::ResponseChannel<Response>>,
}

impl std::fmt::Debug for RawPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawPeer")
            .field("peer_id", self.swarm.local_peer_id())
            .finish()
    }
}

/// What happened while the peer was driven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Connected(PeerId),
    Disconnected(PeerId),
    DialFailed(String),
    Subscribed(PeerId, String),
    /// The node asked us something (and what we answered, if anything).
    Asked(PeerId, Request),
    /// A gossip message reached us on `topic`.
    Gossip(String, Vec<u8>),
    /// The node answered a request of ours ([`RawPeer::ask`]) with this many blocks (or
    /// headers, or transactions), `bytes` in all.
    Answered {
        items: usize,
        bytes: usize,
    },
}

impl RawPeer {
    /// A peer with a fresh identity on `network`, subscribed to its gossip topics.
    pub fn new(network: Network) -> Self {
        let key = identity::Keypair::generate_ed25519();
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .expect("a TCP transport")
            .with_behaviour(|key| {
                behaviour::build(key, network, false, Default::default()).map_err(Into::into)
            })
            .expect("the behaviour")
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        for topic in [
            protocol::blocks_topic(network),
            protocol::txs_topic(network),
        ] {
            swarm
                .behaviour_mut()
                .gossipsub
                .subscribe(&topic)
                .expect("subscribe");
        }
        Self {
            swarm,
            network,
            answerer: None,
            unanswered: Vec::new(),
        }
    }

    /// From now on, answer the node's sync requests with `answerer`.
    pub fn answer_with(
        &mut self,
        answerer: impl FnMut(&Request) -> Option<Response> + Send + 'static,
    ) {
        self.answerer = Some(Box::new(answerer));
    }

    /// Sends `request` to `peer` (the answer is not awaited: use [`Self::watch`]).
    pub fn ask(&mut self, peer: PeerId, request: Request) {
        self.swarm.behaviour_mut().sync.send_request(&peer, request);
    }

    pub fn peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    pub fn blocks_topic(&self) -> IdentTopic {
        protocol::blocks_topic(self.network)
    }

    /// Dials `addr` and drives the swarm until `until` says stop or `deadline` passes;
    /// returns everything seen.
    pub async fn dial_and_watch(
        &mut self,
        addr: &str,
        deadline: Duration,
        until: impl FnMut(&[Seen]) -> bool,
    ) -> Vec<Seen> {
        let addr: Multiaddr = addr.parse().expect("a multiaddr");
        if let Err(error) = self.swarm.dial(addr) {
            return vec![Seen::DialFailed(error.to_string())];
        }
        self.watch(deadline, until).await
    }

    /// Drives the swarm until `until` holds for what was seen, or `deadline` passes.
    pub async fn watch(
        &mut self,
        deadline: Duration,
        until: impl FnMut(&[Seen]) -> bool,
    ) -> Vec<Seen> {
        watch(self, deadline, until).await
    }

    /// Publishes raw bytes on the blocks topic.
    pub fn publish_block_bytes(&mut self, data: Vec<u8>) -> Result<(), String> {
        publish_block(
            &mut self.swarm.behaviour_mut().gossipsub,
            self.network,
            data,
        )
    }
}

/// Publishes raw bytes on `network`'s blocks topic.
pub fn publish_block(
    gossipsub: &mut libp2p::gossipsub::Behaviour,
    network: Network,
    data: Vec<u8>,
) -> Result<(), String> {
    gossipsub
        .publish(protocol::blocks_topic(network), data)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

impl RawPeer {
    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) -> Option<Seen> {
        let SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
            peer,
            message:
                request_response::Message::Request {
                    request, channel, ..
                },
            ..
        })) = event
        else {
            return describe(event);
        };
        match self.answerer.as_mut().and_then(|answer| answer(&request)) {
            Some(response) => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response);
            }
            None => self.unanswered.push(channel),
        }
        Some(Seen::Asked(peer, request))
    }
}

impl Driven for RawPeer {
    type Event = SwarmEvent<BehaviourEvent>;

    async fn next_event(&mut self) -> Self::Event {
        self.swarm.select_next_some().await
    }

    fn on_event(&mut self, event: Self::Event) -> Option<Seen> {
        RawPeer::on_event(self, event)
    }
}

fn describe(event: SwarmEvent<BehaviourEvent>) -> Option<Seen> {
    match event {
        SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
            message: request_response::Message::Response { response, .. },
            ..
        })) => {
            let items: Vec<&Vec<u8>> = match &response {
                Response::Blocks(items)
                | Response::Headers(items)
                | Response::Transactions(items) => items.iter().collect(),
                _ => Vec::new(),
            };
            Some(Seen::Answered {
                items: items.len(),
                bytes: items.iter().map(|i| i.len()).sum(),
            })
        }
        SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => seen_in_gossip(event),
        other => seen_in_swarm(&other),
    }
}

/// A test peer: a swarm driven by the test, whose events become what the test sees.
pub(crate) trait Driven {
    type Event;
    fn next_event(&mut self) -> impl std::future::Future<Output = Self::Event>;
    fn on_event(&mut self, event: Self::Event) -> Option<Seen>;
}

/// Drives `peer` until `until` holds for what was seen, or `deadline` passes; returns
/// everything seen.
pub(crate) async fn watch<P: Driven>(
    peer: &mut P,
    deadline: Duration,
    mut until: impl FnMut(&[Seen]) -> bool,
) -> Vec<Seen> {
    let mut seen = Vec::new();
    let stop = tokio::time::Instant::now() + deadline;
    while !until(&seen) {
        let Ok(event) = tokio::time::timeout_at(stop, peer.next_event()).await else {
            break;
        };
        if let Some(event) = peer.on_event(event) {
            seen.push(event);
        }
    }
    seen
}

/// What any test peer sees of its connections.
pub(crate) fn seen_in_swarm<E>(event: &SwarmEvent<E>) -> Option<Seen> {
    Some(match event {
        SwarmEvent::ConnectionEstablished { peer_id, .. } => Seen::Connected(*peer_id),
        SwarmEvent::ConnectionClosed {
            peer_id,
            num_established: 0,
            ..
        } => Seen::Disconnected(*peer_id),
        SwarmEvent::OutgoingConnectionError { error, .. } => Seen::DialFailed(error.to_string()),
        _ => return None,
    })
}

/// What any test peer sees of gossip: subscriptions and messages.
pub(crate) fn seen_in_gossip(event: gossipsub::Event) -> Option<Seen> {
    Some(match event {
        gossipsub::Event::Subscribed { peer_id, topic } => {
            Seen::Subscribed(peer_id, topic.to_string())
        }
        gossipsub::Event::Message { message, .. } => {
            Seen::Gossip(message.topic.to_string(), message.data)
        }
        _ => return None,
    })
}
