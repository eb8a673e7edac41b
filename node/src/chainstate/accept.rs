//! The accept path: what every incoming header and body passes, in order, before it may
//! change the chain (the rules are listed in the [`super`] module doc, and in
//! `docs/accept-path.md`).
//!
//! It must never: store a body it has not checked context-free; touch an index entry for a
//! failure a mutated copy could cause; index a header whose chain cannot reach the tip's
//! work; verify a signature of a block it will not store; or keep a verification result
//! anywhere but in the value of the body it checked.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::chain::{BlockStatus, IndexEntry};
use crate::consensus::pow::check_proof_of_work;
use crate::consensus::{
    BlockError, Params, SignaturesChecked, check_block, check_header, verify_block_signatures,
};
use crate::primitives::{Block, BlockHash, BlockHeader, Height, Work};
use crate::storage::{ChainStore, StoreTxn};

use super::{ChainError, ChainState, ChainWrite, Progress, SubmitOutcome, Written};

/// A body that passed the context-free rules and the work rule, indexed but not yet stored,
/// with the verification of its signatures under way. The verification belongs to this
/// value: its result can complete this body only, and is dropped with it when anything
/// fails, so no verdict outlives the body it was made for.
#[derive(Debug)]
pub(super) struct Arrival {
    pub(super) entry: IndexEntry,
    pub(super) block: Arc<Block>,
    /// Taken by the plan that connects the block; `None` after a plan failed on another
    /// block (the next plan verifies again).
    pub(super) signatures: Option<SignatureTask>,
}

/// Bodies whose verification [`ChainState::verify_ahead`] may have started and not yet
/// handed over: enough to keep every core verifying while one block is checked in context
/// and committed, few enough that a run cut short wastes little.
pub const VERIFY_AHEAD: usize = 16;

/// A body of a sync run that passed the context-free rules and the work rule before its
/// turn, with the verification of its signatures started. Only `submit_block` of this very
/// body (the same allocation) takes the verification; anything else drops it.
#[derive(Debug)]
pub(super) struct Prepared {
    block: Arc<Block>,
    signatures: SignatureTask,
}

/// Signature verification of one body on the rayon pool (the cores' verifiers), or its
/// signatures assumed.
#[derive(Debug)]
pub(super) enum SignatureTask {
    /// Spawned straight onto rayon's pool, whose threads split it across the cores: no
    /// thread of tokio's blocking pool sits waiting for it.
    Running(tokio::sync::oneshot::Receiver<Result<SignaturesChecked, BlockError>>),
    /// `--assume-valid` covers the block: there is nothing to verify.
    Assumed(SignaturesChecked),
}

impl SignatureTask {
    /// Starts verifying `block`, unless `assumed` (see [`ChainState::assumes_valid`]).
    pub(super) fn start(block: Arc<Block>, params: &'static Params, assumed: bool) -> Self {
        if assumed {
            return Self::Assumed(SignaturesChecked::assumed(&block));
        }
        let (verdict, running) = tokio::sync::oneshot::channel();
        rayon::spawn(move || {
            // Nobody waits any more when the body was dropped: the verdict goes nowhere.
            let _ = verdict.send(verify_block_signatures(&block, params));
        });
        Self::Running(running)
    }

    fn is_assumed(&self) -> bool {
        matches!(self, Self::Assumed(_))
    }

    pub(super) async fn wait(self) -> Result<SignaturesChecked, BlockError> {
        match self {
            Self::Running(task) => task.await.expect("signature verification does not panic"),
            Self::Assumed(proof) => Ok(proof),
        }
    }
}

/// What became of a batch of headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadersOutcome {
    /// The batch reaches the tip's work: `new` of its headers were indexed (the rest were
    /// known already); `last_work` is the chain work of its last header (zero for an empty
    /// batch).
    Indexed { new: usize, last_work: Work },
    /// The batch's chain ends below the tip's work, so nothing was indexed or stored.
    /// `fork_height` is the height of the known header it extends, `work` the chain work
    /// its last header would have.
    LowWork {
        fork_height: Height,
        work: Work,
        tip_work: Work,
    },
}

impl<S: ChainStore> ChainState<S> {
    /// Takes a block from anywhere (a miner, a peer, sync), stores it if the accept path
    /// allows, and moves to the best chain; orphans waiting for it follow. `now` is the
    /// node's clock (Unix seconds). A block that descends from one found invalid on the way
    /// is refused with that block's error. The tip changes come with the outcome.
    pub async fn submit_block(
        &mut self,
        block: impl Into<Arc<Block>>,
        now: u64,
    ) -> ChainWrite<SubmitOutcome> {
        let mut progress = Progress::default();
        let result = self.submit_with(block.into(), now, &mut progress).await;
        Written::new(result, progress.updates)
    }

    async fn submit_with(
        &mut self,
        block: Arc<Block>,
        now: u64,
        progress: &mut Progress,
    ) -> Result<SubmitOutcome, ChainError> {
        let hash = block.block_hash();
        let outcome = self.accept_one(block, now, progress).await?;
        if let SubmitOutcome::Accepted { .. } = outcome {
            self.connect_waiting_orphans(hash, now, progress).await?;
        }
        if let Some(failure) = progress.failure_of(&hash) {
            return Err(ChainError::Invalid {
                hash: failure.block,
                error: failure.error.clone(),
            });
        }
        Ok(match outcome {
            SubmitOutcome::Accepted { .. } => SubmitOutcome::Accepted {
                on_main_chain: self.is_on_main_chain(&hash),
            },
            other => other,
        })
    }

    /// Submits the orphans that were waiting for `parent`, and theirs, breadth first.
    async fn connect_waiting_orphans(
        &mut self,
        parent: BlockHash,
        now: u64,
        progress: &mut Progress,
    ) -> Result<(), ChainError> {
        let mut queue: VecDeque<Arc<Block>> = self.orphans.take_children(&parent).into();
        while let Some(block) = queue.pop_front() {
            let hash = block.block_hash();
            match self.accept_one(block, now, progress).await {
                Ok(SubmitOutcome::Accepted { .. }) => {
                    queue.extend(self.orphans.take_children(&hash))
                }
                Ok(_) => {}
                Err(error) if error.is_storage() => return Err(error),
                Err(error) => {
                    tracing::info!(%hash, %error, "orphan refused once its parent arrived")
                }
            }
        }
        Ok(())
    }

    /// Starts verifying the signatures of the bodies of `run` from position `next` (the one
    /// about to be submitted) on, at most [`VERIFY_AHEAD`] waiting at once, so that the cores
    /// verify the next blocks while one is checked in context and committed. A body gets
    /// this only if the accept path would verify it anyway: its header is indexed without a
    /// body, the work rule lets it be stored, and it passes the context-free rules. A body
    /// `--assume-valid` covers is prepared with nothing to verify. `submit_block` of the same
    /// body takes its verification; [`ChainState::forget_ahead`] drops the rest.
    pub fn verify_ahead(&mut self, run: &[Arc<Block>], next: usize) {
        for block in run.iter().skip(next).take(VERIFY_AHEAD) {
            if self.ahead.len() >= VERIFY_AHEAD {
                return;
            }
            let hash = block.block_hash();
            if self.ahead.contains_key(&hash) {
                continue;
            }
            let Some(entry) = self.index.get(&hash) else {
                continue;
            };
            if entry.status != BlockStatus::HeaderOnly
                || !self.may_store_body(entry)
                || check_proof_of_work(&block.header, self.params).is_err()
                || check_block(block, self.params).is_err()
            {
                continue;
            }
            // An assumed body is prepared too (with nothing to verify), so that it is looked
            // at once, not once for every block submitted while it is in the window.
            let assumed = self.assumes_valid(&hash);
            let signatures = SignatureTask::start(Arc::clone(block), self.params, assumed);
            let block = Arc::clone(block);
            self.ahead.insert(hash, Prepared { block, signatures });
        }
    }

    /// Drops the verifications started ahead for bodies that were not submitted.
    pub fn forget_ahead(&mut self) {
        self.ahead.clear();
    }

    /// Rules 1 to 5 of the accept path for one body, then the tip change it may cause.
    async fn accept_one(
        &mut self,
        block: Arc<Block>,
        now: u64,
        progress: &mut Progress,
    ) -> Result<SubmitOutcome, ChainError> {
        let hash = block.block_hash();
        // Another body with this hash (a mutated copy) gets nothing of the prepared one's
        // checks, and leaves them for the body they were made for.
        let prepared = self
            .ahead
            .get(&hash)
            .is_some_and(|p| Arc::ptr_eq(&p.block, &block))
            .then(|| self.ahead.remove(&hash))
            .flatten();
        let known = self.index.get(&hash).copied();
        match known.map(|e| e.status) {
            Some(BlockStatus::Invalid) => return Err(ChainError::KnownInvalid(hash)),
            Some(BlockStatus::DataStored | BlockStatus::Valid) => {
                return Ok(SubmitOutcome::AlreadyKnown);
            }
            Some(BlockStatus::HeaderOnly) => {}
            None if self.orphans.contains(&hash) => return Ok(SubmitOutcome::AlreadyKnown),
            None => {}
        }
        if prepared.is_none() {
            check_proof_of_work(&block.header, self.params)
                .map_err(|error| ChainError::Invalid { hash, error })?;
            if let Err(error) = check_block(&block, self.params) {
                return Err(self.refuse_body(hash, error, progress).await?);
            }
        }
        let entry = match known {
            Some(entry) => entry,
            None => {
                let Some(parent) = self.index.get(&block.header.prev_blockhash).copied() else {
                    return Ok(self.keep_orphan(block));
                };
                self.index_entry(&block.header, &parent, now)?
            }
        };
        if !self.may_store_body(&entry) {
            return Ok(SubmitOutcome::LowWork);
        }
        let entry = self.record_body(entry);
        let assumed = self.assumes_valid(&entry.hash);
        // Signatures assumed ahead are verified after all if the best header chain has since
        // moved off the assumed block.
        let signatures = match prepared {
            Some(prepared) if assumed || !prepared.signatures.is_assumed() => prepared.signatures,
            _ => SignatureTask::start(Arc::clone(&block), self.params, assumed),
        };
        let arrival = Arrival {
            entry,
            signatures: Some(signatures),
            block,
        };
        self.store_and_activate(arrival, now, progress).await
    }

    /// The error for a body that failed the context-free rules. When the body matches its
    /// header (the failure is not one a mutated copy could cause) and the header is indexed,
    /// the header itself commits to an invalid block and is marked invalid; otherwise the
    /// index is left exactly as it was.
    async fn refuse_body(
        &mut self,
        hash: BlockHash,
        error: BlockError,
        progress: &mut Progress,
    ) -> Result<ChainError, ChainError> {
        if error.invalidates_hash() && self.index.contains(&hash) {
            self.mark_invalid(hash, error.clone(), progress).await?;
        }
        Ok(ChainError::Invalid { hash, error })
    }

    /// Rule 4: a body is worth storing if its chain has at least the tip's work, or if it
    /// lies on the branch of the best header and that branch claims more work than the tip
    /// (the bodies sync asks for).
    fn may_store_body(&self, entry: &IndexEntry) -> bool {
        let tip_work = self.tip_work();
        if entry.chain_work >= tip_work {
            return true;
        }
        let Some(best) = self.index.best_header() else {
            return false;
        };
        let best_work = self.index.get(&best).map_or(Work::ZERO, |e| e.chain_work);
        best_work > tip_work && self.index.ancestor(&best, entry.height) == Some(entry.hash)
    }

    /// Whether `--assume-valid` lets the signatures of `hash` go unchecked: the block named
    /// there is indexed, not invalid, on the chain of the best header, and `hash` is it or
    /// one of its ancestors (so its body is buried under that header's proof of work).
    pub(super) fn assumes_valid(&self, hash: &BlockHash) -> bool {
        let Some(assumed) = self.options.assume_valid else {
            return false;
        };
        let (Some(anchor), Some(entry)) = (self.index.get(&assumed), self.index.get(hash)) else {
            return false;
        };
        let Some(best) = self.index.best_header() else {
            return false;
        };
        anchor.status != BlockStatus::Invalid
            && self.index.ancestor(&best, anchor.height) == Some(assumed)
            && self.index.ancestor(&assumed, entry.height) == Some(*hash)
    }

    /// Indexes `entry` as having its body, as the next body to arrive; returns it as indexed.
    fn record_body(&mut self, mut entry: IndexEntry) -> IndexEntry {
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        if self.index.contains(&entry.hash) {
            self.index.set_data_stored(&entry.hash, sequence);
        } else {
            entry.status = BlockStatus::DataStored;
            entry.sequence = sequence;
            self.index.insert(entry);
        }
        *self.index.get(&entry.hash).expect("just indexed")
    }

    fn keep_orphan(&mut self, block: Arc<Block>) -> SubmitOutcome {
        let hash = block.block_hash();
        let parent = block.header.prev_blockhash;
        for dropped in self.orphans.insert(block) {
            tracing::debug!(%dropped, "orphan pool full: dropped the oldest orphan");
        }
        let missing = self.orphans.missing_root(&hash).unwrap_or(parent);
        SubmitOutcome::Orphan { missing }
    }

    /// Stores `arrival` with the tip change that may connect it (one database transaction),
    /// or on its own when no tip change does; a block found invalid keeps its header only.
    async fn store_and_activate(
        &mut self,
        arrival: Arrival,
        now: u64,
        progress: &mut Progress,
    ) -> Result<SubmitOutcome, ChainError> {
        let mut arrival = Some(arrival);
        let activated = self.activate_with(&mut arrival, now, progress).await;
        if let Some(left) = arrival {
            self.persist_arrival(left).await?;
        }
        activated?;
        Ok(SubmitOutcome::Accepted {
            on_main_chain: false,
        })
    }

    /// Stores a block no tip change stored (a side branch, or one found invalid), with the
    /// status the index gives it now.
    async fn persist_arrival(&mut self, arrival: Arrival) -> Result<(), ChainError> {
        let Arrival {
            mut entry, block, ..
        } = arrival;
        entry.status = self
            .index
            .get(&entry.hash)
            .map_or(entry.status, |e| e.status);
        let body = (entry.status != BlockStatus::Invalid).then_some(block.as_ref());
        self.commit_all().await?;
        let mut txn = self.store.begin().await?;
        txn.insert_block(&entry, body).await?;
        txn.commit().await?;
        Ok(())
    }

    /// The index entry of a header whose parent is indexed, after the header's contextual
    /// checks (parent validity, difficulty, proof of work, time).
    fn index_entry(
        &self,
        header: &BlockHeader,
        parent: &IndexEntry,
        now: u64,
    ) -> Result<IndexEntry, ChainError> {
        let hash = header.block_hash();
        if parent.status == BlockStatus::Invalid {
            return Err(ChainError::KnownInvalid(hash));
        }
        let ctx = self
            .index
            .header_context(&parent.hash, self.params)
            .expect("the parent is indexed");
        check_header(header, &ctx, now, self.params)
            .map_err(|error| ChainError::Invalid { hash, error })?;
        let work = header
            .bits
            .to_target()
            .expect("checked by check_header")
            .work();
        Ok(self
            .index
            .entry_for(header, work)
            .expect("the parent is indexed"))
    }

    /// Headers from a peer, oldest first (headers-first sync). The batch must be a chain
    /// whose first header extends a known one. Every header's proof of work is checked
    /// before anything else; then, if the batch's last header reaches the tip's work, each
    /// is checked in context and indexed without a body. A batch that stays below the tip's
    /// work changes nothing ([`HeadersOutcome::LowWork`]). Stops at the first bad header,
    /// keeping (and storing) those before it.
    pub async fn submit_headers(
        &mut self,
        headers: &[BlockHeader],
        now: u64,
    ) -> Result<HeadersOutcome, ChainError> {
        let Some(parent) = self.batch_parent(headers)? else {
            return Ok(HeadersOutcome::Indexed {
                new: 0,
                last_work: Work::ZERO,
            });
        };
        let mut work = parent.chain_work;
        for header in headers {
            check_proof_of_work(header, self.params).map_err(|error| ChainError::Invalid {
                hash: header.block_hash(),
                error,
            })?;
            work = work + header.bits.to_target().expect("checked by the pow").work();
        }
        let tip_work = self.tip_work();
        if work < tip_work {
            return Ok(HeadersOutcome::LowWork {
                fork_height: parent.height,
                work,
                tip_work,
            });
        }
        let mut new = Vec::new();
        let result = self.index_headers(headers, now, &mut new);
        self.persist_headers(&new).await?;
        result.map(|()| HeadersOutcome::Indexed {
            new: new.len(),
            last_work: work,
        })
    }

    /// The known header a batch extends, once the batch is seen to be a chain (`None` for an
    /// empty batch).
    fn batch_parent(&self, headers: &[BlockHeader]) -> Result<Option<IndexEntry>, ChainError> {
        let Some(first) = headers.first() else {
            return Ok(None);
        };
        if let Some(pair) = headers
            .windows(2)
            .find(|pair| pair[1].prev_blockhash != pair[0].block_hash())
        {
            return Err(ChainError::NotAChain {
                hash: pair[1].block_hash(),
            });
        }
        let parent =
            self.index
                .get(&first.prev_blockhash)
                .copied()
                .ok_or(ChainError::Unconnected {
                    hash: first.block_hash(),
                    parent: first.prev_blockhash,
                })?;
        if parent.status == BlockStatus::Invalid {
            return Err(ChainError::KnownInvalid(first.block_hash()));
        }
        Ok(Some(parent))
    }

    /// Checks each header of a chain in context and indexes the new ones into `new`.
    fn index_headers(
        &mut self,
        headers: &[BlockHeader],
        now: u64,
        new: &mut Vec<IndexEntry>,
    ) -> Result<(), ChainError> {
        for header in headers {
            let hash = header.block_hash();
            if let Some(entry) = self.index.get(&hash) {
                if entry.status == BlockStatus::Invalid {
                    return Err(ChainError::KnownInvalid(hash));
                }
                continue;
            }
            let parent = *self
                .index
                .get(&header.prev_blockhash)
                .expect("a chain from a known header");
            let entry = self.index_entry(header, &parent, now)?;
            self.index.insert(entry);
            new.push(entry);
        }
        Ok(())
    }

    async fn persist_headers(&mut self, new: &[IndexEntry]) -> Result<(), ChainError> {
        if new.is_empty() {
            return Ok(());
        }
        self.commit_all().await?;
        let mut txn = self.store.begin().await?;
        txn.insert_headers(new).await?;
        txn.commit().await?;
        Ok(())
    }
}
