//! An operator's overrides of block validity, as Bitcoin Core's `invalidateblock` and
//! `reconsiderblock`: mark a block and its descendants invalid (the tip moves off them, to
//! a chain with less work if need be), or clear such marks so the blocks are judged again.
//!
//! Both go through the normal activation, so every rule and the one-transaction tip change
//! still hold; a reconsidered block that really breaks a rule is found invalid again. The
//! marks are written after the tip change commits: a crash in between forgets the override
//! (it was never acknowledged), never leaves the tip on a block marked invalid. Nothing from
//! the network reaches this; the API offers it to administrators off the main network.

use std::collections::HashSet;

use thiserror::Error;

use crate::chain::BlockStatus;
use crate::primitives::{BlockHash, Height};
use crate::storage::{ChainStore, StoreError, StoreTxn};

use super::{ChainError, ChainState, ChainWrite, Written};

/// Why an override was refused.
#[derive(Debug, Error)]
pub enum OverrideError {
    #[error("block {0} is not known")]
    Unknown(BlockHash),
    #[error("the genesis block cannot be invalidated")]
    Genesis,
    #[error(transparent)]
    Chain(#[from] ChainError),
}

impl From<StoreError> for OverrideError {
    fn from(error: StoreError) -> Self {
        OverrideError::Chain(ChainError::Store(error))
    }
}

impl<S: ChainStore> ChainState<S> {
    /// Marks `hash` and every descendant invalid and moves the tip onto the best chain
    /// left; returns the tip changes made.
    pub async fn invalidate_block(
        &mut self,
        hash: &BlockHash,
        now: u64,
    ) -> ChainWrite<(), OverrideError> {
        let entry = match self.index.get(hash) {
            None => return Written::new(Err(OverrideError::Unknown(*hash)), Vec::new()),
            Some(entry) if entry.height == Height::GENESIS => {
                return Written::new(Err(OverrideError::Genesis), Vec::new());
            }
            Some(entry) => *entry,
        };
        let marked = self.index.set_invalid(&entry.hash);
        let activated = self.activate_best_chain(now).await;
        let mut result = activated.result.map_err(OverrideError::from);
        if result.is_ok() {
            result = self.store_marks(&marked).await;
        }
        Written::new(result, activated.changes)
    }

    /// Writes the invalid marks once the tip changes that left them are committed.
    async fn store_marks(&mut self, marked: &[BlockHash]) -> Result<(), OverrideError> {
        self.flush().await?;
        let mut txn = self.store.begin().await?;
        txn.set_status(marked, BlockStatus::Invalid).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Clears the invalid marks of `hash`, its descendants and its ancestors, and moves
    /// the tip to the best chain, judging the cleared blocks afresh; returns the tip changes
    /// made.
    pub async fn reconsider_block(
        &mut self,
        hash: &BlockHash,
        now: u64,
    ) -> ChainWrite<(), OverrideError> {
        if let Err(error) = self.clear_marks(hash).await {
            return Written::new(Err(error), Vec::new());
        }
        self.activate_best_chain(now)
            .await
            .map_result(|result| result.map_err(OverrideError::from))
    }

    /// Clears the invalid marks around `hash`, in memory and in the store.
    async fn clear_marks(&mut self, hash: &BlockHash) -> Result<(), OverrideError> {
        if !self.index.contains(hash) {
            return Err(OverrideError::Unknown(*hash));
        }
        let cleared = self.index.invalid_around(hash);
        // A block found invalid on arrival kept only its header: ask the store.
        let mut stored = HashSet::new();
        for h in &cleared {
            if self.store.block(h).await?.is_some() {
                stored.insert(*h);
            }
        }
        self.index.clear_invalid(&cleared, &stored);
        let (bodies, headers): (Vec<BlockHash>, Vec<BlockHash>) =
            cleared.iter().partition(|h| stored.contains(h));
        self.flush().await?;
        let mut txn = self.store.begin().await?;
        for (hashes, status) in [
            (bodies, BlockStatus::DataStored),
            (headers, BlockStatus::HeaderOnly),
        ] {
            txn.set_status(&hashes, status).await?;
        }
        txn.commit().await?;
        Ok(())
    }
}
