//! The tip change between a tip published before and the committed tip now, for a node
//! that reopened its chain state after losing the database: blocks committed whose
//! acknowledgement was lost are published late, never twice and never uncommitted.

use std::sync::Arc;

use crate::chain::ChainUpdate;
use crate::primitives::{BlockHash, Height};
use crate::storage::ChainStore;

use super::{ChainError, ChainState};

impl<S: ChainStore> ChainState<S> {
    /// The change from `old_tip` (a block this chain state has indexed) to the tip, read
    /// from the store; `None` if the tip is `old_tip` or `old_tip` is unknown.
    pub async fn update_since(
        &self,
        old_tip: &BlockHash,
    ) -> Result<Option<ChainUpdate>, ChainError> {
        if *old_tip == self.tip.hash {
            return Ok(None);
        }
        let Some(mut cursor) = self.index.get(old_tip).copied() else {
            return Ok(None);
        };
        let mut update = ChainUpdate {
            old_tip: *old_tip,
            new_tip: self.tip.hash,
            ..ChainUpdate::default()
        };
        while !self.active.contains(&cursor) {
            update
                .disconnected
                .push((cursor.height, self.body(&cursor.hash).await?));
            cursor = *self
                .index
                .get(&cursor.header.prev_blockhash)
                .expect("an indexed block's parent is indexed");
        }
        (update.fork_point, update.fork_height) = (cursor.hash, cursor.height);
        for height in cursor.height.get() + 1..=self.tip.height.get() {
            let height = Height::new(height);
            let hash = self.active.hash_at(height).expect("below the tip");
            update.connected.push((height, self.body(&hash).await?));
        }
        Ok(Some(update))
    }

    async fn body(&self, hash: &BlockHash) -> Result<Arc<crate::primitives::Block>, ChainError> {
        let block = self.store.block(hash).await?.ok_or_else(|| {
            ChainError::Inconsistent(format!("no body for published block {hash}"))
        })?;
        Ok(Arc::new(block))
    }
}
