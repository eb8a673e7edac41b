//! What happened to the chain, for the mempool, the API's live events and metrics.

use std::sync::Arc;

use crate::primitives::{Block, BlockHash, Height};

/// One observable change of the main chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainEvent {
    /// A block joined the main chain.
    BlockConnected {
        hash: BlockHash,
        height: Height,
        block: Arc<Block>,
    },
    /// A block left the main chain (during a reorg).
    BlockDisconnected {
        hash: BlockHash,
        height: Height,
        block: Arc<Block>,
    },
    /// The main chain switched branches: `depth` blocks above `fork_point` were replaced.
    Reorg {
        depth: usize,
        old_tip: BlockHash,
        new_tip: BlockHash,
        fork_point: BlockHash,
        fork_height: Height,
    },
}

/// Everything one tip change did, in order: the disconnected blocks newest first, then the
/// connected blocks oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainUpdate {
    pub disconnected: Vec<(Height, Arc<Block>)>,
    pub connected: Vec<(Height, Arc<Block>)>,
    pub old_tip: BlockHash,
    pub new_tip: BlockHash,
    pub fork_point: BlockHash,
    pub fork_height: Height,
}

impl ChainUpdate {
    pub fn is_reorg(&self) -> bool {
        !self.disconnected.is_empty()
    }

    /// The events of this update, in the order they happened; a reorg event comes last.
    pub fn events(&self) -> Vec<ChainEvent> {
        let disconnected =
            self.disconnected
                .iter()
                .map(|(height, block)| ChainEvent::BlockDisconnected {
                    hash: block.block_hash(),
                    height: *height,
                    block: Arc::clone(block),
                });
        let connected = self
            .connected
            .iter()
            .map(|(height, block)| ChainEvent::BlockConnected {
                hash: block.block_hash(),
                height: *height,
                block: Arc::clone(block),
            });
        let mut events: Vec<ChainEvent> = disconnected.chain(connected).collect();
        if self.is_reorg() {
            events.push(ChainEvent::Reorg {
                depth: self.disconnected.len(),
                old_tip: self.old_tip,
                new_tip: self.new_tip,
                fork_point: self.fork_point,
                fork_height: self.fork_height,
            });
        }
        events
    }
}
