//! The event loop's handling of [`Command`]s from the [`super::NetworkHandle`]: dials, peers
//! to learn, discovery walks, sync requests and answers, verdicts and penalties.

use std::time::Instant;

use libp2p::gossipsub;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::oneshot;

use crate::network::error::NetworkError;
use crate::network::gossip::Topic;
use crate::network::handle::Command;

use super::EventLoop;

impl EventLoop {
    pub(super) fn on_command(&mut self, command: Command) {
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
                topic,
                acceptance,
            } => {
                if acceptance == gossipsub::MessageAcceptance::Accept {
                    self.book
                        .on_useful(source, topic == Topic::Blocks, Instant::now());
                }
                self.report(message_id, source, acceptance);
            }
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
    pub(super) fn dial_known(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        if let Err(error) = self.swarm.dial(opts) {
            tracing::trace!(%peer, %error, "not dialing");
            self.book.on_dial_failed(peer);
        }
    }
}
