//! The node's event stream: what happened to the chain and the mempool, each event with an
//! increasing id, kept in a bounded log so that a client that lost its connection can ask
//! for what it missed (`Last-Event-ID`, as Server-Sent Events define it).
//!
//! Ids increase across restarts too: a run's first id is its start time in milliseconds
//! × 1000, so an id from an earlier run is older than every id of this one and is answered
//! with a gap, never with another run's events under the same numbers.
//!
//! The log only orders and keeps events; it must not be written to before what the event
//! says is committed (the node publishes after each flush).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;

use crate::chain::ChainEvent;
use crate::primitives::{Address, Block, BlockHash, Height, Transaction, Txid};

/// Something that happened, for the event stream, the network and metrics.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum NodeEvent {
    BlockConnected {
        hash: BlockHash,
        height: Height,
        tx_count: usize,
        time: u32,
        miner_address: Option<Address>,
        #[serde(skip)]
        block: Arc<Block>,
    },
    BlockDisconnected {
        hash: BlockHash,
        height: Height,
    },
    Reorg {
        depth: usize,
        old_tip: BlockHash,
        new_tip: BlockHash,
        fork_point: BlockHash,
        fork_height: Height,
    },
    TxAccepted {
        txid: Txid,
        fee_units: u64,
        size: usize,
        #[serde(skip)]
        tx: Arc<Transaction>,
    },
    /// A transaction of a disconnected block is back in the mempool (after the reorg's
    /// chain events).
    TxReadded {
        txid: Txid,
        fee_units: u64,
        size: usize,
    },
}

impl NodeEvent {
    /// The event's name on the SSE stream.
    pub fn kind(&self) -> &'static str {
        match self {
            NodeEvent::BlockConnected { .. } => "block_connected",
            NodeEvent::BlockDisconnected { .. } => "block_disconnected",
            NodeEvent::Reorg { .. } => "reorg",
            NodeEvent::TxAccepted { .. } => "tx_accepted",
            NodeEvent::TxReadded { .. } => "tx_readded",
        }
    }
}

impl From<ChainEvent> for NodeEvent {
    fn from(event: ChainEvent) -> Self {
        match event {
            ChainEvent::BlockConnected {
                hash,
                height,
                block,
            } => NodeEvent::BlockConnected {
                hash,
                height,
                tx_count: block.transactions.len(),
                time: block.header.time,
                miner_address: block
                    .coinbase()
                    .and_then(|cb| cb.outputs.first())
                    .map(|o| o.address()),
                block,
            },
            ChainEvent::BlockDisconnected { hash, height, .. } => {
                NodeEvent::BlockDisconnected { hash, height }
            }
            ChainEvent::Reorg {
                depth,
                old_tip,
                new_tip,
                fork_point,
                fork_height,
            } => NodeEvent::Reorg {
                depth,
                old_tip,
                new_tip,
                fork_point,
                fork_height,
            },
        }
    }
}

/// An event with its place in the stream.
#[derive(Clone, Debug)]
pub struct Sequenced {
    pub id: u64,
    pub event: Arc<NodeEvent>,
}

/// What a reconnecting client gets before the live events.
#[derive(Debug)]
pub struct Backlog {
    /// How many events it missed that the log no longer has: `Some(0)` when none, `None`
    /// when its id is not one of this run's (so the count is unknown).
    pub lost: Option<u64>,
    /// The kept events after its id, oldest first.
    pub events: Vec<Sequenced>,
}

/// The ordered, bounded log of events, and their live broadcast.
#[derive(Debug)]
pub struct EventLog {
    kept: Mutex<Kept>,
    live: broadcast::Sender<Sequenced>,
}

#[derive(Debug)]
struct Kept {
    first_id: u64,
    next_id: u64,
    capacity: usize,
    events: VecDeque<Sequenced>,
}

impl EventLog {
    /// A log keeping the last `capacity` events, whose first event gets `first_id`.
    pub fn new(capacity: usize, first_id: u64) -> Self {
        Self {
            kept: Mutex::new(Kept {
                first_id,
                next_id: first_id,
                capacity,
                events: VecDeque::with_capacity(capacity),
            }),
            live: broadcast::channel(capacity).0,
        }
    }

    /// The first id for a run started at `unix_millis` (see the module doc).
    pub fn first_id_at(unix_millis: u64) -> u64 {
        unix_millis.saturating_mul(1000)
    }

    /// Appends `event` and sends it to the live subscribers; returns its id.
    pub fn push(&self, event: NodeEvent) -> u64 {
        let mut kept = self.kept.lock().expect("not poisoned");
        let id = kept.next_id;
        kept.next_id += 1;
        let sequenced = Sequenced {
            id,
            event: Arc::new(event),
        };
        if kept.events.len() == kept.capacity {
            kept.events.pop_front();
        }
        kept.events.push_back(sequenced.clone());
        // Sent under the lock: subscribers see the ids in order, and `resume` cannot slip
        // an event between its backlog and its subscription.
        let _ = self.live.send(sequenced);
        id
    }

    /// The live events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Sequenced> {
        self.live.subscribe()
    }

    /// For a client whose last event was `last_id`: what it missed, and the live events
    /// after that, with nothing lost or repeated between the two.
    pub fn resume(&self, last_id: u64) -> (Backlog, broadcast::Receiver<Sequenced>) {
        let kept = self.kept.lock().expect("not poisoned");
        let live = self.live.subscribe();
        let oldest_kept = kept.events.front().map_or(kept.next_id, |e| e.id);
        let backlog = if last_id < kept.first_id.saturating_sub(1) || last_id >= kept.next_id {
            Backlog {
                lost: None,
                events: kept.events.iter().cloned().collect(),
            }
        } else {
            Backlog {
                lost: Some(oldest_kept.saturating_sub(last_id + 1)),
                events: kept
                    .events
                    .iter()
                    .filter(|e| e.id > last_id)
                    .cloned()
                    .collect(),
            }
        };
        (backlog, live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readded(n: u8) -> NodeEvent {
        NodeEvent::TxReadded {
            txid: Txid::from_byte_array([n; 32]),
            fee_units: u64::from(n),
            size: 1,
        }
    }

    fn ids(events: &[Sequenced]) -> Vec<u64> {
        events.iter().map(|e| e.id).collect()
    }

    #[test]
    fn ids_increase_from_the_runs_first_id() {
        let log = EventLog::new(4, 1_000);
        assert_eq!((log.push(readded(1)), log.push(readded(2))), (1_000, 1_001));
    }

    #[test]
    fn a_client_that_resumes_gets_exactly_what_it_missed() {
        let log = EventLog::new(4, 10);
        for n in 0..3 {
            log.push(readded(n));
        }
        let (backlog, mut live) = log.resume(10);
        assert_eq!(backlog.lost, Some(0));
        assert_eq!(ids(&backlog.events), [11, 12]);
        log.push(readded(9));
        assert_eq!(live.try_recv().expect("the next live event").id, 13);
        let (caught_up, _) = log.resume(13);
        assert_eq!((caught_up.lost, caught_up.events.len()), (Some(0), 0));
    }

    #[test]
    fn a_client_too_far_behind_is_told_how_many_it_lost() {
        let log = EventLog::new(2, 10);
        for n in 0..5 {
            log.push(readded(n));
        }
        let (backlog, _) = log.resume(10);
        assert_eq!(backlog.lost, Some(2), "11 and 12 were dropped");
        assert_eq!(ids(&backlog.events), [13, 14]);
    }

    #[test]
    fn an_id_of_another_run_gets_an_unknown_gap_and_everything_kept() {
        let log = EventLog::new(4, 1_000);
        log.push(readded(1));
        for foreign in [5, 2_000] {
            let (backlog, _) = log.resume(foreign);
            assert_eq!(backlog.lost, None);
            assert_eq!(ids(&backlog.events), [1_000]);
        }
        let (from_the_start, _) = log.resume(999);
        assert_eq!(
            from_the_start.lost,
            Some(0),
            "the id just before the run's first"
        );
    }
}
