//! The node's write path: blocks, runs of blocks, transactions and the operator's
//! overrides go to the ledger under its lock; each write is flushed before anything of it
//! is published (events, snapshot, gossip announcements, the caller's answer), and a
//! storage error drops the ledger (`outage`). Nothing here reads for the API.

use std::sync::Arc;
use std::time::Instant;

use super::{Announcement, BlockOrigin, Node, TxOrigin, unix_now};
use crate::chainstate::{ChainError, OverrideError, SubmitOutcome, Written};
use crate::events::NodeEvent;
use crate::ledger::{LedgerChanges, Override, TxSubmitError};
use crate::mempool::Accepted;
use crate::primitives::{Block, BlockHash, IdentifiedTx, Transaction};
use crate::storage::StoreError;
use crate::telemetry;

/// Tip changes `test_transaction` reads its coins again after, before it reads them under
/// the lock.
const TEST_ATTEMPTS: usize = 3;
/// How long a client's `submit_block` waits for the explorer index to include the block.
const INDEX_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl Node {
    /// Submits a block and waits until its effects are committed (and, for a miner's
    /// block, indexed).
    pub async fn submit_block(
        &self,
        block: Block,
        origin: BlockOrigin,
    ) -> Result<SubmitOutcome, ChainError> {
        let arrived = Instant::now();
        let hash = block.block_hash();
        let time = block.header.time;
        let miner = block
            .coinbase()
            .and_then(|cb| cb.outputs.first())
            .map(|o| o.address());
        let block = Arc::new(block);
        let announced = matches!(origin, BlockOrigin::Miner { .. }).then(|| Arc::clone(&block));
        let (result, height) = {
            let mut slot = self.ledger.lock().await;
            let ledger = slot.ready()?;
            // `submit_block` flushes: what is published below is committed.
            let Written { result, changes } = ledger.submit_block(block, unix_now()).await;
            if let Some(error) = storage_failure(&result) {
                self.lose_ledger(&mut slot, error.to_string()).await;
                return result;
            }
            self.publish(ledger, changes);
            let height = ledger.chain().index().get(&hash).map(|e| e.height);
            (result, height)
        };
        self.count_block(&result, origin);
        if let Ok(SubmitOutcome::Accepted { on_main_chain }) = &result {
            time_block(
                arrived,
                time,
                *on_main_chain && origin == BlockOrigin::Network,
            );
        }
        if let (Ok(SubmitOutcome::Accepted { .. }), Some(block)) = (&result, announced) {
            let _ = self.announcements.send(Announcement::Block(block));
        }
        if let (
            Ok(SubmitOutcome::Accepted { on_main_chain }),
            BlockOrigin::Miner { template_id },
            Some(height),
        ) = (&result, origin, height)
        {
            self.record_mined(hash, height, time, miner, template_id)
                .await;
            if *on_main_chain {
                let _ = tokio::time::timeout(INDEX_WAIT, self.indexer.wait_for(hash, height)).await;
            }
        }
        result
    }

    /// Submits a run of blocks from a peer (a sync): each block's signatures are verified
    /// while those before it are checked, and the run is committed in parts (see
    /// `ChainState::commit_at_flush`), the last at its flush, before anything of it is
    /// published. Returns each block's outcome; when the database fails, every block not
    /// refused by a rule is reported as that storage error (not acknowledged, so fetched
    /// again later).
    pub async fn submit_blocks(
        &self,
        blocks: Vec<Block>,
    ) -> Vec<Result<SubmitOutcome, ChainError>> {
        let mut slot = self.ledger.lock().await;
        let ledger = match slot.ready() {
            Ok(ledger) => ledger,
            Err(_) => {
                return blocks
                    .iter()
                    .map(|_| {
                        Err(ChainError::Store(
                            slot.ready().expect_err("the ledger is gone"),
                        ))
                    })
                    .collect();
            }
        };
        let blocks: Vec<Arc<Block>> = blocks.into_iter().map(Arc::new).collect();
        let mut results = Vec::with_capacity(blocks.len());
        let mut changes = LedgerChanges::default();
        let mut failure = None;
        // The run is published only after its flush, so its commits may wait and be merged.
        ledger.chain_mut().commit_at_flush();
        for (i, block) in blocks.iter().enumerate() {
            if failure.is_some() {
                results.push(Ok(SubmitOutcome::AlreadyKnown));
                continue;
            }
            ledger.chain_mut().verify_ahead(&blocks, i);
            let written = ledger
                .submit_block_pipelined(Arc::clone(block), unix_now())
                .await;
            changes.then(written.changes);
            if let Some(error) = storage_failure(&written.result) {
                failure = Some(error.to_string());
            }
            results.push(written.result);
        }
        ledger.chain_mut().forget_ahead();
        let flushing = std::time::Instant::now();
        if failure.is_none()
            && let Err(error) = ledger.flush().await
        {
            failure = Some(error.to_string());
        }
        tracing::debug!(
            count = blocks.len(),
            flush_ms = flushing.elapsed().as_millis(),
            "run submitted"
        );
        if let Some(cause) = failure {
            self.lose_ledger(&mut slot, cause.clone()).await;
            let lost = StoreError::Down {
                since: unix_now(),
                cause,
            };
            return results
                .into_iter()
                .map(|r| match r {
                    Err(e) if e.reason().is_some() => Err(e),
                    _ => Err(ChainError::Store(lost.clone())),
                })
                .collect();
        }
        for result in &results {
            self.count_block(result, BlockOrigin::Network);
        }
        self.publish(ledger, changes);
        results
    }

    /// Validates a transaction and adds it to the mempool; a client's or a pulled one is then
    /// announced.
    pub async fn submit_transaction(
        &self,
        tx: Transaction,
        origin: TxOrigin,
    ) -> Result<Accepted, TxSubmitError> {
        // Hashed before the lock: a refused copy then costs the lock a filter look-up.
        let tx = IdentifiedTx::new(tx);
        let mut slot = self.ledger.lock().await;
        let ledger = slot.ready()?;
        let result = ledger.submit_transaction(&tx, unix_now()).await;
        match &result {
            Ok(accepted) => {
                // The pool's own copy (always there: accepting it evicts only others).
                let shared = ledger.mempool().get(&accepted.txid).map_or_else(
                    || Arc::new(tx.tx().clone()),
                    |entry| Arc::clone(entry.shared_tx()),
                );
                metrics::counter!(telemetry::TXS_ACCEPTED).increment(1);
                if origin.announced() {
                    let _ = self
                        .announcements
                        .send(Announcement::Transaction(Arc::clone(&shared)));
                }
                let event = NodeEvent::TxAccepted {
                    txid: accepted.txid,
                    fee_units: accepted.fee.units(),
                    size: accepted.size,
                    tx: shared,
                };
                self.events.push(event);
                self.refresh_snapshot(ledger);
            }
            Err(TxSubmitError::Rejected(error)) => {
                metrics::counter!(telemetry::TXS_REJECTED, "reason" => error.code()).increment(1);
            }
            Err(TxSubmitError::Store(error)) => {
                self.lose_ledger(&mut slot, error.to_string()).await
            }
        }
        result
    }

    /// Whether `tx` would be accepted now (Bitcoin Core's `testmempoolaccept`): nothing is
    /// stored, announced or remembered. The chain coins it spends are read from the store
    /// without the ledger's lock; the rules are applied under it only if the tip is still
    /// the one those coins were read at, else they are read again. After a few tip changes
    /// in a row it reads them under the lock, as a real submission does.
    pub async fn test_transaction(&self, tx: IdentifiedTx) -> Result<Accepted, TxSubmitError> {
        use crate::storage::ChainStore;
        for _ in 0..TEST_ATTEMPTS {
            let snapshot = self.snapshot();
            let missing = snapshot.mempool.missing_inputs(tx.tx());
            let coins = self.store.coins(&missing).await?;
            let ledger = self.ledger().await?;
            if ledger.chain().tip().hash == snapshot.tip.hash {
                return Ok(ledger.judge_transaction(&tx, &coins)?);
            }
        }
        let ledger = self.ledger().await?;
        ledger.test_transaction(&tx).await
    }

    /// An operator's override of a block's validity; returns once the tip changes it made
    /// are committed and published.
    pub async fn override_block(
        &self,
        hash: &BlockHash,
        action: Override,
    ) -> Result<(), OverrideError> {
        let mut slot = self.ledger.lock().await;
        let ledger = slot.ready().map_err(OverrideError::from)?;
        let Written { result, changes } = ledger.override_block(hash, action, unix_now()).await;
        if let Err(OverrideError::Chain(error)) = &result
            && error.is_storage()
        {
            self.lose_ledger(&mut slot, error.to_string()).await;
            return result;
        }
        self.publish(ledger, changes);
        result
    }

    /// Drops mempool entries past their expiry.
    pub async fn expire_mempool(&self) {
        let mut slot = self.ledger.lock().await;
        let Ok(ledger) = slot.ready() else {
            return;
        };
        match ledger.expire_mempool(unix_now()).await {
            Ok(expired) if !expired.is_empty() => {
                tracing::info!(count = expired.len(), "expired mempool transactions");
                self.refresh_snapshot(ledger);
            }
            Ok(_) => {}
            Err(error) => self.lose_ledger(&mut slot, error.to_string()).await,
        }
    }

    /// Commits whatever is pending (for shutdown); nothing to do while the database is lost.
    pub async fn flush(&self) -> Result<(), ChainError> {
        let mut slot = self.ledger.lock().await;
        match slot.ready() {
            Ok(ledger) => ledger.flush().await,
            Err(_) => Ok(()),
        }
    }

    fn count_block(&self, result: &Result<SubmitOutcome, ChainError>, origin: BlockOrigin) {
        let source = origin.label();
        match result {
            Ok(SubmitOutcome::Accepted { .. }) => {
                metrics::counter!(telemetry::BLOCKS_ACCEPTED, "source" => source).increment(1);
            }
            Ok(_) => {}
            Err(error) => {
                let reason = error.reason().unwrap_or("storage");
                metrics::counter!(telemetry::BLOCKS_REJECTED, "reason" => reason).increment(1);
            }
        }
    }
}

/// Records how long an accepted block took from arrival to commit and, for a new tip from
/// the network, how far behind its header time it arrived.
fn time_block(arrived: Instant, header_time: u32, new_tip_from_network: bool) {
    metrics::histogram!(telemetry::BLOCK_CONNECT).record(arrived.elapsed().as_secs_f64());
    if new_tip_from_network {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let delay = (now - f64::from(header_time)).max(0.0);
        metrics::histogram!(telemetry::BLOCK_ARRIVAL_DELAY).record(delay);
    }
}

/// The error of `result` if it is the database's, not a rule's: such an error loses the
/// ledger.
pub(super) fn storage_failure<T>(result: &Result<T, ChainError>) -> Option<&ChainError> {
    result.as_ref().err().filter(|error| error.is_storage())
}
