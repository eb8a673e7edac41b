//! Gossip: what a message on the blocks or transactions topic is worth.
//!
//! gossipsub forwards nothing until we report a verdict (`validate_messages`), so every
//! message is decoded and handed to the node in a task of its own; the verdict goes back to
//! the event loop, which reports it and charges the sender if it was at fault. At most
//! [`MAX_JUDGING`] messages are judged at once; beyond that new ones are ignored (dropped,
//! not forwarded) rather than queued without bound.

use std::sync::{Arc, Mutex as StdMutex};
use std::time::Instant;

use libp2p::PeerId;
use libp2p::gossipsub::{MessageAcceptance, MessageId};
use tokio::sync::{Semaphore, mpsc};

use super::SyncEvent;
use super::budget::UnrequestedBudget;
use super::handle::{Command, NetworkHandle};
use super::peers::Offence;
use super::verdict::{self, Verdict};
use crate::chainstate::SubmitOutcome;
use crate::node::{BlockOrigin, Node, TxOrigin};
use crate::primitives::{Block, Transaction, decode};
use crate::tasks::Tasks;
use crate::telemetry;

/// Gossip messages being judged at once.
pub(super) const MAX_JUDGING: usize = 256;

/// Which topic a message came on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    Blocks,
    Transactions,
}

/// What judging needs, shared by every judging task.
#[derive(Clone, Debug)]
pub(super) struct Judge {
    pub node: Arc<Node>,
    pub handle: NetworkHandle,
    pub sync: mpsc::Sender<SyncEvent>,
    pub slots: Arc<Semaphore>,
    /// How many low-work blocks each peer may gossip.
    pub unrequested: Arc<StdMutex<UnrequestedBudget>>,
    /// Judging tasks finish before the node's final commit.
    pub tasks: Tasks,
}

impl Topic {
    pub(super) const ALL: [Topic; 2] = [Topic::Blocks, Topic::Transactions];

    pub(super) fn name(self) -> &'static str {
        match self {
            Topic::Blocks => "blocks",
            Topic::Transactions => "transactions",
        }
    }
}

impl Judge {
    /// Starts judging a message; `false` if too many are being judged already.
    pub(super) fn spawn(
        &self,
        topic: Topic,
        data: Vec<u8>,
        message_id: MessageId,
        source: PeerId,
    ) -> bool {
        let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
            return false;
        };
        let judge = self.clone();
        self.tasks.spawn(async move {
            let verdict = match topic {
                Topic::Blocks => judge.block(&data, source).await,
                Topic::Transactions => judge.transaction(&data).await,
            };
            drop(slot);
            metrics::counter!(telemetry::GOSSIP_MESSAGES, "topic" => topic.name(), "verdict" => verdict.label()).increment(1);
            let acceptance = match verdict {
                Verdict::Accept => MessageAcceptance::Accept,
                Verdict::Ignore => MessageAcceptance::Ignore,
                Verdict::Reject(offence) => {
                    tracing::info!(peer = %source, ?topic, ?offence, "rejected a gossip message");
                    judge.handle.penalize(source, offence).await;
                    MessageAcceptance::Reject
                }
            };
            judge
                .handle
                .send(Command::Judged {
                    message_id,
                    source,
                    topic,
                    acceptance,
                })
                .await;
        });
        true
    }

    async fn block(&self, data: &[u8], source: PeerId) -> Verdict {
        let Ok(block) = decode::<Block>(data) else {
            return Verdict::Reject(Offence::Undecodable);
        };
        let result = self.node.submit_block(block, BlockOrigin::Network).await;
        if let Ok(SubmitOutcome::Orphan { missing }) = result {
            // The sender has the chain this block extends: sync fetches it from there.
            let _ = self.sync.try_send(SyncEvent::Orphan {
                peer: source,
                missing,
            });
        }
        // A low-work block made us work for nothing: that is what the per-peer budget
        // counts. A side block with as much work as our tip is not charged: it cost its
        // miner a tip's worth of proof of work, and honest miners racing at one height send
        // such blocks all the time (charging them banned honest peers of a dev cluster).
        let low_work = matches!(result, Ok(SubmitOutcome::LowWork));
        if low_work && !self.within_budget(source) {
            return Verdict::Reject(Offence::UnrequestedBlocks);
        }
        verdict::on_block(&result)
    }

    /// Charges `source` for a low-work block; `false` when over budget.
    fn within_budget(&self, source: PeerId) -> bool {
        self.unrequested
            .lock()
            .expect("not poisoned")
            .charge(source, Instant::now())
    }

    async fn transaction(&self, data: &[u8]) -> Verdict {
        let Ok(tx) = decode::<Transaction>(data) else {
            return Verdict::Reject(Offence::Undecodable);
        };
        verdict::on_transaction(&self.node.submit_transaction(tx, TxOrigin::Network).await)
    }
}
