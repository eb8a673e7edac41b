//! [`NetworkHandle`]: the cloneable front of the event loop. Each method sends a
//! [`Command`] and, where there is an answer, waits for it on a oneshot channel.

use libp2p::gossipsub::{MessageAcceptance, MessageId};
use libp2p::request_response::ResponseChannel;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot, watch};

use super::bootstrap;
use super::error::NetworkError;
use super::peers::Offence;
use super::protocol::{Request, Response};
use super::target::PeerTarget;
use super::view::NetworkView;

/// What the event loop can be asked to do.
#[derive(Debug)]
pub enum Command {
    /// Connect to `peer` (or to whoever answers at `addrs`); answered once connected.
    Dial {
        peer: Option<PeerId>,
        addrs: Vec<Multiaddr>,
        reply: oneshot::Sender<Result<PeerId, NetworkError>>,
    },
    /// Remember `peer`'s addresses (and REST URL) and keep it connected.
    Learn {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        rest_url: Option<String>,
    },
    /// Run a Kademlia bootstrap and a random walk; answered with the peers found.
    Discover { reply: oneshot::Sender<Vec<PeerId>> },
    /// Send a sync request to `peer`; answered with its response.
    Request {
        peer: PeerId,
        request: Request,
        reply: oneshot::Sender<Result<Response, NetworkError>>,
    },
    /// The answer to a peer's sync request, computed outside the loop.
    Respond {
        peer: PeerId,
        channel: ResponseChannel<Response>,
        response: Response,
    },
    /// The verdict on a gossip message, once the node judged it.
    Judged {
        message_id: MessageId,
        source: PeerId,
        topic: super::gossip::Topic,
        acceptance: MessageAcceptance,
    },
    /// Charge `peer` for misbehaving.
    Penalize { peer: PeerId, offence: Offence },
}

/// A cloneable way to talk to the network.
#[derive(Clone, Debug)]
pub struct NetworkHandle {
    commands: mpsc::Sender<Command>,
    local_peer_id: PeerId,
    view: watch::Receiver<NetworkView>,
}

impl NetworkHandle {
    pub(super) fn new(
        commands: mpsc::Sender<Command>,
        local_peer_id: PeerId,
        view: watch::Receiver<NetworkView>,
    ) -> Self {
        Self {
            commands,
            local_peer_id,
            view,
        }
    }

    /// The network as the event loop last published it.
    pub fn view(&self) -> NetworkView {
        self.view.borrow().clone()
    }

    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    pub(super) async fn send(&self, command: Command) {
        // Only fails once the loop is gone, when nobody waits for the answer any more.
        let _ = self.commands.send(command).await;
    }

    async fn ask<T>(&self, command: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.send(command(reply)).await;
        answer.await.ok()
    }

    /// Connects to `peer` at `addrs`; returns the peer id that answered.
    pub async fn dial(
        &self,
        peer: Option<PeerId>,
        addrs: Vec<Multiaddr>,
    ) -> Result<PeerId, NetworkError> {
        self.ask(|reply| Command::Dial { peer, addrs, reply })
            .await
            .unwrap_or(Err(NetworkError::Stopped))
    }

    /// Remembers a peer to keep connected to (redialed with backoff when it drops).
    pub async fn learn(&self, peer: PeerId, addrs: Vec<Multiaddr>, rest_url: Option<String>) {
        self.send(Command::Learn {
            peer,
            addrs,
            rest_url,
        })
        .await;
    }

    /// Sends a sync request and waits for the response (or the request's timeout).
    pub async fn request(&self, peer: PeerId, request: Request) -> Result<Response, NetworkError> {
        self.ask(|reply| Command::Request {
            peer,
            request,
            reply,
        })
        .await
        .unwrap_or(Err(NetworkError::Stopped))
    }

    pub async fn penalize(&self, peer: PeerId, offence: Offence) {
        self.send(Command::Penalize { peer, offence }).await;
    }

    /// Connects to a node named by its REST URL or a multiaddr, and keeps it connected.
    pub async fn add_peer(&self, target: PeerTarget) -> Result<PeerId, NetworkError> {
        let (peer, addrs, rest_url) = match target {
            PeerTarget::RestUrl(url) => {
                let found = bootstrap::ask_rest(&url).await?;
                (Some(found.peer_id), found.addrs, Some(url))
            }
            PeerTarget::Multiaddr(addr) => (super::peer_id_of(&addr), vec![addr], None),
        };
        if peer == Some(self.local_peer_id) {
            return Err(NetworkError::SelfDial);
        }
        let connected = self.dial(peer, addrs.clone()).await?;
        self.learn(connected, addrs, rest_url).await;
        Ok(connected)
    }

    /// Looks for more peers; returns the ones found.
    pub async fn discover(&self) -> Vec<PeerId> {
        self.ask(|reply| Command::Discover { reply })
            .await
            .unwrap_or_default()
    }
}
