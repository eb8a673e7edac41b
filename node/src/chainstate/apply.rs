//! Applying a reorg plan: the old branch undone and the new one checked in context, in
//! memory, into one [`ChainDiff`]; the new blocks' signatures verified meanwhile on the
//! blocking pool; the diff handed to the writer, which commits it only if every block passed.
//!
//! A block that just arrived brings its own signature verification ([`Arrival`]); every
//! other block of the plan is verified here. A proof completes only the body it was made
//! for (`CheckedBlock::with_signatures` checks the hash and the wtxid merkle root).

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::chain::{BlockChanges, ChainDiff, ChainUpdate, ReorgPlan};
use crate::consensus::{
    BlockError, CheckedBlock, Params, SignaturesChecked, check_block_contextually,
};
use crate::primitives::{Block, BlockHash, Height, OutPoint};
use crate::storage::{ChainStore, ChainTip, StoreError};

use super::accept::{Arrival, SignatureTask};
use super::tip::TipTotals;
use super::writer::WriteJob;
use super::{ChainError, ChainState, InFlight, Layers};

/// How the writer reports a job: committed (`true`), rolled back, or the database's error.
pub(super) type JobDone = oneshot::Receiver<Result<bool, StoreError>>;

/// The verification of a plan's new blocks: their proofs in order, or the first failure's
/// position and error.
type Verification = tokio::task::JoinHandle<Result<Vec<SignaturesChecked>, (usize, BlockError)>>;

/// The first block of a plan that failed validation, and why.
pub(super) type PlanFailure = (BlockHash, BlockError);

impl<S: ChainStore> ChainState<S> {
    /// Applies `plan` as one database transaction, storing `arrival` in it if the plan
    /// connects it. The inner `Err` names the first block of the new branch that failed
    /// validation; then nothing is committed, the in-memory state is unchanged and the
    /// arrival (without its spent verification) is handed back.
    pub(super) async fn apply_plan(
        &mut self,
        plan: &ReorgPlan,
        arrival: &mut Option<Arrival>,
        now: u64,
    ) -> Result<Result<ChainUpdate, PlanFailure>, ChainError> {
        let (mut diff, mut totals, mut update) = self.disconnect_branch(plan).await?;
        let mut fresh = arrival.take_if(|a| plan.connect.contains(&a.entry.hash));
        let blocks = self
            .load_bodies(&plan.connect, fresh.as_ref().map(|a| &a.block))
            .await?;
        let started = fresh.as_mut().and_then(|a| {
            let position = plan.connect.iter().position(|h| *h == a.entry.hash)?;
            Some((position, a.signatures.take()?))
        });
        let started_at = started.as_ref().map(|(position, _)| *position);
        let assumed = plan
            .connect
            .iter()
            .enumerate()
            .map(|(i, h)| started_at != Some(i) && self.assumes_valid(h))
            .collect();
        let signatures = tokio::spawn(verify_in_order(
            blocks.clone(),
            assumed,
            started,
            self.params,
        ));
        let (checked, context_failure) = self
            .check_in_context(blocks, &mut diff, &mut totals, now)
            .await?;
        if let Some((position, error)) = context_failure {
            signatures.abort();
            *arrival = fresh;
            return Ok(Err((plan.connect[position], error)));
        }
        let new_tip = *plan.connect.last().unwrap_or(&plan.fork_point);
        let height = self.index.get(&new_tip).expect("indexed").height;
        let tip = totals.into_tip(self.params.network, new_tip, height);
        let new_block = fresh.as_ref().map(|a| (a.entry, Arc::clone(&a.block)));
        let diff = Arc::new(diff);
        let job = WriteJob::new(new_block, Arc::clone(&diff), tip);
        let outcome = if self.held.is_some() {
            self.hold_when_verified(job, signatures).await
        } else {
            self.write_while_verifying(job, signatures).await?
        };
        let (proofs, done) = match outcome {
            Ok(verified) => verified,
            Err((position, error)) => {
                *arrival = fresh;
                return Ok(Err((plan.connect[position], error)));
            }
        };
        self.track(InFlight { diff, done }).await?;
        self.move_tip(plan, checked, proofs, tip, &mut update);
        Ok(Ok(update))
    }

    /// The usual way: the writer writes `job` at once, and commits it once the signatures
    /// are found valid (or rolls it back, and the rollback is done before this returns).
    async fn write_while_verifying(
        &mut self,
        (job, verdict, done): (WriteJob, oneshot::Sender<bool>, JobDone),
        signatures: Verification,
    ) -> Result<Result<(Vec<SignaturesChecked>, JobDone), (usize, BlockError)>, ChainError> {
        self.queue_write(job).await?;
        match signatures
            .await
            .expect("signature verification does not panic")
        {
            Ok(proofs) => {
                let _ = verdict.send(true);
                Ok(Ok((proofs, done)))
            }
            Err(failure) => {
                let _ = verdict.send(false);
                let _ = done.await; // the rollback is done before anything else writes
                Ok(Err(failure))
            }
        }
    }

    /// While a run holds its commits: `job` is held for the run's flush once the signatures
    /// are found valid, and dropped if they are not (the writer never saw it).
    async fn hold_when_verified(
        &mut self,
        (job, verdict, done): (WriteJob, oneshot::Sender<bool>, JobDone),
        signatures: Verification,
    ) -> Result<(Vec<SignaturesChecked>, JobDone), (usize, BlockError)> {
        let proofs = signatures
            .await
            .expect("signature verification does not panic")?;
        let _ = verdict.send(true);
        self.held.get_or_insert_with(Vec::new).push(job);
        Ok((proofs, done))
    }

    /// The diff, totals and update of `plan` after undoing its old branch.
    async fn disconnect_branch(
        &mut self,
        plan: &ReorgPlan,
    ) -> Result<(ChainDiff, TipTotals, ChainUpdate), ChainError> {
        if !plan.disconnect.is_empty() {
            tracing::info!(
                depth = plan.disconnect.len(),
                connect = plan.connect.len(),
                fork_point = %plan.fork_point,
                "reorganising"
            );
            // Undo data of blocks still committing is not readable yet.
            self.commit_all().await?;
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
            update.disconnected.push((height, block));
        }
        Ok((diff, totals, update))
    }

    /// Hands the writer its job: it writes at once and commits on a `true` verdict.
    async fn queue_write(&mut self, job: WriteJob) -> Result<(), ChainError> {
        if !self.writer.send(job).await {
            // It stopped on a failed transaction: that job's error is the one to report.
            self.commit_all().await?;
            return Err(ChainError::Inconsistent(
                "the database writer stopped".into(),
            ));
        }
        Ok(())
    }

    /// The in-memory side of a plan whose commit is ordered: the active chain, the index's
    /// statuses and the tip move to the new branch, and `update` lists what it connected.
    fn move_tip(
        &mut self,
        plan: &ReorgPlan,
        checked: Vec<CheckedBlock>,
        proofs: Vec<SignaturesChecked>,
        tip: ChainTip,
        update: &mut ChainUpdate,
    ) {
        for _ in &plan.disconnect {
            self.active.pop();
        }
        for (checked, proof) in checked.into_iter().zip(proofs) {
            if proof.is_assumed() {
                self.signatures_assumed += 1;
            }
            let validated = checked.with_signatures(proof);
            self.active.push(validated.hash());
            self.index.set_valid(&validated.hash());
            update
                .connected
                .push((validated.height(), validated.into_block()));
        }
        self.tip = tip;
        update.new_tip = tip.hash;
    }

    /// Reads an active block and its undo data; returns the changes that disconnect it.
    async fn undo_block(
        &self,
        hash: &BlockHash,
    ) -> Result<(Height, Arc<Block>, BlockChanges), ChainError> {
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
        Ok((height, Arc::new(block), changes))
    }

    /// The bodies of `hashes`, in order; `fresh` (just submitted) is already in memory.
    async fn load_bodies(
        &self,
        hashes: &[BlockHash],
        fresh: Option<&Arc<Block>>,
    ) -> Result<Vec<Arc<Block>>, ChainError> {
        let mut blocks = Vec::with_capacity(hashes.len());
        for hash in hashes {
            let block = match fresh.filter(|b| b.block_hash() == *hash) {
                Some(block) => Arc::clone(block),
                None => Arc::new(self.store.block(hash).await?.ok_or_else(|| {
                    ChainError::Inconsistent(format!("block {hash} is a candidate without a body"))
                })?),
            };
            blocks.push(block);
        }
        Ok(blocks)
    }

    /// Checks each block in context (all rules but signatures), in order, against the store
    /// as the in-flight changes and `diff` change it, folding each one's changes into `diff`
    /// and `totals`. Stops at the first failure, returned with its position.
    async fn check_in_context(
        &mut self,
        blocks: Vec<Arc<Block>>,
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
            let layers = Layers {
                diff,
                in_flight: &self.in_flight,
                cache: &self.coin_cache,
            };
            let (mut coins, read) = layers.coins(&self.store, &spent_outpoints(&block)).await?;
            self.coin_cache
                .insert_read(read.iter().map(|(o, c)| (*o, *c)));
            coins.extend(read);
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

/// Verifies the blocks' signatures in order (but those `assumed`, one flag per block), using
/// `started` for the block at its position (the arrival's own verification of that very
/// body); on failure, the position and error.
async fn verify_in_order(
    blocks: Vec<Arc<Block>>,
    assumed: Vec<bool>,
    mut started: Option<(usize, SignatureTask)>,
    params: &'static Params,
) -> Result<Vec<SignaturesChecked>, (usize, BlockError)> {
    let mut proofs = Vec::with_capacity(blocks.len());
    for (position, (block, assumed)) in blocks.into_iter().zip(assumed).enumerate() {
        let task = match started.take_if(|(at, _)| *at == position) {
            Some((_, task)) => task,
            None => SignatureTask::start(block, params, assumed),
        };
        proofs.push(task.wait().await.map_err(|e| (position, e))?);
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
