//! A standard libp2p client with nothing of ChainCore but its gossip: identify and
//! gossipsub only (no ping, no Kademlia, no sync protocol), with an identify protocol
//! version of the test's choosing. Stands for a third-party peer (a js-libp2p or
//! go-libp2p client) to show what the node asks of such a peer, and what it does to one
//! of another network.

use std::time::Duration;

use chaincore::consensus::Network;
use chaincore::network::{behaviour, protocol};
use futures::StreamExt;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, Swarm, gossipsub, identify, identity, noise, tcp, yamux};

use crate::peer::{Driven, Seen, seen_in_gossip, seen_in_swarm, watch};

#[derive(NetworkBehaviour)]
#[allow(
    missing_debug_implementations,
    reason = "libp2p's behaviours are not Debug"
)]
pub struct Minimal {
    identify: identify::Behaviour,
    gossipsub: gossipsub::Behaviour,
}

/// A peer the test drives by hand.
pub struct MinimalPeer {
    swarm: Swarm<Minimal>,
    network: Network,
}

impl std::fmt::Debug for MinimalPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MinimalPeer")
            .field("peer_id", self.swarm.local_peer_id())
            .finish()
    }
}

impl MinimalPeer {
    /// A peer with a fresh identity that says `identify_version` and is subscribed to
    /// `network`'s gossip topics.
    pub fn new(network: Network, identify_version: &str) -> Self {
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
                let identify = identify::Behaviour::new(identify::Config::new(
                    identify_version.to_owned(),
                    key.public(),
                ));
                let gossipsub = behaviour::gossipsub(network)?;
                Ok(Minimal {
                    identify,
                    gossipsub,
                })
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
        Self { swarm, network }
    }

    /// Publishes raw bytes on the blocks topic.
    pub fn publish_block_bytes(&mut self, data: Vec<u8>) -> Result<(), String> {
        crate::peer::publish_block(
            &mut self.swarm.behaviour_mut().gossipsub,
            self.network,
            data,
        )
    }

    pub fn peer_id(&self) -> libp2p::PeerId {
        *self.swarm.local_peer_id()
    }

    /// Dials `addr` (a multiaddr with the node's peer id).
    pub fn dial(&mut self, addr: &str) -> Result<(), String> {
        let addr: Multiaddr = addr.parse().map_err(|e| format!("{e}"))?;
        self.swarm.dial(addr).map_err(|e| e.to_string())
    }

    /// Drives the swarm until `until` holds for what was seen, or `deadline` passes;
    /// returns everything seen.
    pub async fn watch(
        &mut self,
        deadline: Duration,
        until: impl FnMut(&[Seen]) -> bool,
    ) -> Vec<Seen> {
        watch(self, deadline, until).await
    }
}

impl Driven for MinimalPeer {
    type Event = SwarmEvent<MinimalEvent>;

    async fn next_event(&mut self) -> Self::Event {
        self.swarm.select_next_some().await
    }

    fn on_event(&mut self, event: Self::Event) -> Option<Seen> {
        match event {
            SwarmEvent::Behaviour(MinimalEvent::Gossipsub(event)) => seen_in_gossip(event),
            other => seen_in_swarm(&other),
        }
    }
}
