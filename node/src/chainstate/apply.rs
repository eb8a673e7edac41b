//! Applying a reorg plan: the old branch undone and the new one checked in context, in
//! memory, into one [`ChainDiff`]; the new blocks' signatures verified meanwhile on the
//! blocking pool; the diff handed to the writer, which commits it only if every block passed.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::chain::{BlockChanges, ChainDiff, ChainUpdate, ReorgPlan};
use crate::consensus::{
    BlockError, CheckedBlock, Params, SignaturesChecked, check_block_contextually,
    verify_block_signatures,
};
use crate::primitives::{Block, BlockHash, Height, OutPoint};
use crate::storage::ChainStore;

use super::tip::TipTotals;
use super::writer::WriteJob;
use super::{ChainError, ChainState, EarlySignatures, InFlight, coins_through};

/// The first block of a plan that failed validation, and why.
pub(super) type PlanFailure = (BlockHash, BlockError);

impl<S: ChainStore> ChainState<S> {
    /// Applies `plan` as one database transaction. The inner `Err` names the first block of
    /// the new branch that failed validation; then nothing is committed and the in-memory
    /// state is unchanged.
    pub(super) async fn apply_plan(
        &mut self,
        plan: &ReorgPlan,
        now: u64,
    ) -> Result<Result<ChainUpdate, PlanFailure>, ChainError> {
        if !plan.disconnect.is_empty() {
            // Undo data of blocks still committing is not readable yet.
            self.flush().await?;
        }
        let mut diff = ChainDiff::new();
        let mut totals = TipTotals::from(&self.tip);
        let mut update = ChainUpdate {
            old_tip: self.tip.hash,
            fork_point: plan.fork_point,
            fork_height: plan.fork_height,
            ..ChainUpdate::default()
        };
        for hash in &plan.disconnect {
            let (height, block, changes) = self.undo_block(hash).await?;
            totals.apply(&changes);
            diff.disconnect(&changes);
            update.disconnected.push((height, Arc::new(block)));
        }

        let new_block = self
            .unpersisted
            .take_if(|(entry, _)| plan.connect.contains(&entry.hash));
        let blocks = self
            .load_bodies(&plan.connect, new_block.as_ref().map(|(_, b)| b))
            .await?;
        let signatures = tokio::spawn(verify_in_order(
            blocks.clone(),
            self.early_signatures.take(),
            self.params,
        ));
        let (checked, context_failure) = self
            .check_in_context(blocks, &mut diff, &mut totals, now)
            .await?;
        if let Some((position, error)) = context_failure {
            self.unpersisted = new_block;
            return Ok(Err((plan.connect[position], error)));
        }

        let new_tip = *plan.connect.last().unwrap_or(&plan.fork_point);
        let height = self.index.get(&new_tip).expect("indexed").height;
        let tip = totals.into_tip(self.params.network, new_tip, height);
        let diff = Arc::new(diff);
        let (verdict, verdict_rx) = oneshot::channel();
        let (done_tx, done) = oneshot::channel();
        let job = WriteJob {
            new_block: new_block.clone(),
            diff: Arc::clone(&diff),
            tip,
            verdict: verdict_rx,
            done: done_tx,
        };
        if !self.writer.send(job).await {
            return Err(ChainError::Inconsistent(
                "the database writer stopped".into(),
            ));
        }

        let signatures = signatures
            .await
            .expect("signature verification does not panic");
        let proofs = match signatures {
            Ok(proofs) => proofs,
            Err((position, error)) => {
                let _ = verdict.send(false);
                let _ = done.await; // the rollback is done before anything else writes
                self.unpersisted = new_block;
                return Ok(Err((plan.connect[position], error)));
            }
        };
        let _ = verdict.send(true);
        self.track(InFlight { diff, done }).await?;

        for _ in &plan.disconnect {
            self.active.pop();
        }
        for (checked, proof) in checked.into_iter().zip(proofs) {
            let validated = checked.with_signatures(proof);
            self.active.push(validated.hash());
            self.index.set_valid(&validated.hash());
            update
                .connected
                .push((validated.height(), Arc::new(validated.into_block())));
        }
        self.tip = tip;
        update.new_tip = new_tip;
        Ok(Ok(update))
    }

    /// Reads an active block and its undo data; returns the changes that disconnect it.
    async fn undo_block(
        &self,
        hash: &BlockHash,
    ) -> Result<(Height, Block, BlockChanges), ChainError> {
        let height = self
            .index
            .get(hash)
            .expect("active blocks are indexed")
            .height;
        let missing =
            |what: &str| ChainError::Inconsistent(format!("no {what} for active block {hash}"));
        let block = self
            .store
            .block(hash)
            .await?
            .ok_or_else(|| missing("body"))?;
        let undo = self
            .store
            .undo(hash)
            .await?
            .ok_or_else(|| missing("undo data"))?;
        let changes = BlockChanges::disconnect(&block, height, &undo);
        Ok((height, block, changes))
    }

    /// The bodies of `hashes`, in order; `fresh` (just submitted) is already in memory.
    async fn load_bodies(
        &self,
        hashes: &[BlockHash],
        fresh: Option<&Block>,
    ) -> Result<Vec<Block>, ChainError> {
        let mut blocks = Vec::with_capacity(hashes.len());
        for hash in hashes {
            let block = match fresh.filter(|b| b.block_hash() == *hash) {
                Some(block) => block.clone(),
                None => self.store.block(hash).await?.ok_or_else(|| {
                    ChainError::Inconsistent(format!("block {hash} is a candidate without a body"))
                })?,
            };
            blocks.push(block);
        }
        Ok(blocks)
    }

    /// Checks each block in context (all rules but signatures), in order, against the store
    /// as the in-flight changes and `diff` change it, folding each one's changes into `diff`
    /// and `totals`. Stops at the first failure, returned with its position.
    async fn check_in_context(
        &self,
        blocks: Vec<Block>,
        diff: &mut ChainDiff,
        totals: &mut TipTotals,
        now: u64,
    ) -> Result<(Vec<CheckedBlock>, Option<(usize, BlockError)>), ChainError> {
        let mut checked = Vec::with_capacity(blocks.len());
        for (position, block) in blocks.into_iter().enumerate() {
            let ctx = self
                .index
                .header_context(&block.header.prev_blockhash, self.params)
                .expect("parent indexed");
            let coins =
                coins_through(&self.store, &self.in_flight, diff, &spent_outpoints(&block)).await?;
            match check_block_contextually(block, &ctx, &coins, now, self.params) {
                Ok(block) => {
                    let changes = BlockChanges::connect(&block);
                    totals.apply(&changes);
                    diff.connect(changes);
                    checked.push(block);
                }
                Err(error) => return Ok((checked, Some((position, error)))),
            }
        }
        Ok((checked, None))
    }
}

/// Verifies the blocks' signatures in order (using `early` for the block it was started
/// for); on failure, the position and error.
async fn verify_in_order(
    blocks: Vec<Block>,
    mut early: Option<EarlySignatures>,
    params: &'static Params,
) -> Result<Vec<SignaturesChecked>, (usize, BlockError)> {
    let mut proofs = Vec::with_capacity(blocks.len());
    for (position, block) in blocks.into_iter().enumerate() {
        let result = match early.take_if(|e| e.hash == block.block_hash()) {
            Some(started) => started.task.await,
            None => {
                tokio::task::spawn_blocking(move || verify_block_signatures(&block, params)).await
            }
        };
        proofs.push(
            result
                .expect("signature verification does not panic")
                .map_err(|e| (position, e))?,
        );
    }
    Ok(proofs)
}

/// The outpoints `block` spends that existed before it (those created inside it are not
/// stored anywhere and need no look-up).
fn spent_outpoints(block: &Block) -> Vec<OutPoint> {
    let created: std::collections::HashSet<_> =
        block.transactions.iter().map(|tx| tx.txid()).collect();
    block
        .transactions
        .iter()
        .skip(1)
        .flat_map(|tx| tx.inputs.iter().map(|i| i.previous_output))
        .filter(|o| !created.contains(&o.txid))
        .collect()
}
