//! The explorer indexer: builds `transactions` and `address_txs` behind the chain.
//!
//! Consensus never reads these tables, so they are not written with a block's connect, where
//! they would double the cost of every block; this task follows the committed main chain
//! instead, many blocks per transaction when it is behind. Its progress (the last block it
//! indexed) is stored with the rows, so a crash loses nothing: on the next pass it finds
//! where its indexed chain meets the main chain, drops the rows above that point (a reorg
//! happened, or the crash did), and indexes forward from there. Readers see an index that
//! may trail the tip by a moment; [`IndexerHandle::wait_for`] waits for a block.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::chain::explorer::{BlockRecords, block_records};
use crate::primitives::{BlockHash, Height};
use crate::storage::{ChainStore, StoreError, StoreTxn};
use crate::tasks::Tasks;

/// Blocks indexed per database transaction when catching up.
const BATCH_BLOCKS: usize = 200;
/// Pause before retrying after a failed pass.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Indexes the main chain of a store.
#[derive(Debug, Clone)]
pub struct Indexer<S> {
    store: S,
}

impl<S: ChainStore> Indexer<S> {
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// One pass: rewinds to where the index meets the main chain, then indexes every
    /// committed main-chain block above it. Returns the new index tip.
    pub async fn catch_up(&self) -> Result<Option<(BlockHash, Height)>, StoreError> {
        let mut next = self.rewind_to_main_chain().await?;
        let mut tip = None;
        loop {
            let hashes = self.store.main_chain_from(next, BATCH_BLOCKS).await?;
            let Some(batch) = self.records(&hashes).await? else {
                break;
            };
            let Some((hash, height, _)) = batch.last() else {
                break;
            };
            tip = Some((*hash, *height));
            next = height.next();
            let mut txn = self.store.begin().await?;
            txn.index_blocks(&batch).await?;
            txn.commit().await?;
        }
        match tip {
            Some(tip) => Ok(Some(tip)),
            None => self.store.index_tip().await,
        }
    }

    /// Drops index rows of blocks no longer on the main chain; returns the first height to
    /// index.
    async fn rewind_to_main_chain(&self) -> Result<Height, StoreError> {
        let Some((_, mut height)) = self.store.index_tip().await? else {
            return Ok(Height::GENESIS);
        };
        let indexed_tip = height;
        let fork = loop {
            let main = self
                .store
                .main_chain_from(height, 1)
                .await?
                .first()
                .filter(|(h, _)| *h == height)
                .map(|(_, b)| *b);
            let indexed = self.store.indexed_block_at(height).await?;
            if main.is_some() && main == indexed {
                break Some(height);
            }
            match height.prev() {
                Some(prev) => height = prev,
                None => break None,
            }
        };
        if fork != Some(indexed_tip) {
            tracing::info!(?fork, %indexed_tip, "explorer index: rewinding past a reorg");
            let mut txn = self.store.begin().await?;
            txn.rewind_index(fork).await?;
            txn.commit().await?;
        }
        Ok(fork.map_or(Height::GENESIS, Height::next))
    }

    /// The records of a run of main-chain blocks, or `None` if there are none or the chain
    /// changed while they were read (the next pass starts over).
    async fn records(
        &self,
        hashes: &[(Height, BlockHash)],
    ) -> Result<Option<Vec<(BlockHash, Height, BlockRecords)>>, StoreError> {
        if hashes.is_empty() {
            return Ok(None);
        }
        let mut batch = Vec::with_capacity(hashes.len());
        for (height, hash) in hashes {
            let (Some(block), Some(undo)) =
                (self.store.block(hash).await?, self.store.undo(hash).await?)
            else {
                return Ok(None);
            };
            match block_records(&block, &undo) {
                Ok(records) => batch.push((*hash, *height, records)),
                Err(error) => {
                    return Err(StoreError::Corrupt {
                        table: "block_undo",
                        detail: format!("block {hash}: {error}"),
                    });
                }
            }
        }
        Ok(Some(batch))
    }

    /// Runs the indexer as a task of `tasks`: a pass at start, then one each time it is
    /// poked, until the node stops (it leaves between passes: a pass commits per batch).
    pub fn spawn(self, tasks: &Tasks) -> IndexerHandle {
        let poke = Arc::new(Notify::new());
        let (tip_tx, tip) = watch::channel(None);
        let wake = Arc::clone(&poke);
        let stopping = tasks.clone();
        tasks.spawn(async move {
            while !stopping.is_stopping() {
                let pause = match self.catch_up().await {
                    Ok(tip) => {
                        tip_tx.send_replace(tip);
                        None
                    }
                    Err(error) => {
                        tracing::warn!(%error, "explorer index pass failed; retrying");
                        Some(RETRY_AFTER)
                    }
                };
                let woken = async {
                    match pause {
                        Some(pause) => tokio::time::sleep(pause).await,
                        None => wake.notified().await,
                    }
                };
                tokio::select! {
                    () = woken => {}
                    () = stopping.stopping() => return,
                }
            }
        });
        IndexerHandle { poke, tip }
    }
}

/// Talks to a running indexer.
#[derive(Debug, Clone)]
pub struct IndexerHandle {
    poke: Arc<Notify>,
    tip: watch::Receiver<Option<(BlockHash, Height)>>,
}

impl IndexerHandle {
    /// Asks for a pass: new blocks were committed.
    pub fn poke(&self) {
        self.poke.notify_one();
    }

    /// The last block indexed.
    pub fn tip(&self) -> Option<(BlockHash, Height)> {
        *self.tip.borrow()
    }

    /// Waits until the index has reached block `hash`, or any height above `height` (the
    /// block may have been reorged out meanwhile).
    pub async fn wait_for(&self, hash: BlockHash, height: Height) {
        let mut tip = self.tip.clone();
        let _ = tip
            .wait_for(|t| t.is_some_and(|(h, ht)| h == hash || ht > height))
            .await;
    }
}
