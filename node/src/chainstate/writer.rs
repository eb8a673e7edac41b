//! The write pipeline: one task applies the chain's database transactions, in order.
//!
//! A tip change is sent as a [`WriteJob`] as soon as its blocks pass their context checks.
//! When the writer is idle it opens a transaction and writes at once, while the blocks'
//! signatures are still being verified, then waits for the verdict: commit, or roll back.
//! After a commit is ordered the chain state moves on without waiting, so block N+1 is
//! checked while block N commits.
//!
//! When jobs have queued up behind a slow commit, the writer takes them all and writes their
//! diffs folded into one (group commit): the statements per block fall as the backlog grows,
//! so the writer catches up instead of setting the pace. Only the newest job of a group can
//! still be waiting for its verdict (the chain state awaits each refusal before it makes
//! another job), so the writer waits for it and leaves it out if it was refused. A group is
//! one transaction that puts the database on one complete chain.
//!
//! The writer's transactions only write (never read first), so on SQLite they take the write
//! lock at their first statement and other writers simply wait their turn.
//!
//! A sync run asks for the same on purpose: its jobs, already verified, arrive in batches
//! ([`Writer::send_batch`]), each written as one group, so a coin created and spent inside a
//! batch never reaches the database (see [`super::ChainState::commit_at_flush`]).
//!
//! The first failed transaction stops the writer: every later job was planned on top of the
//! one that failed, so writing it would put the database on a chain that does not exist. The
//! jobs still queued are dropped (their senders see the writer gone) and the chain state that
//! owns the writer must be dropped and reopened from the database (see [`super`]).

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::chain::{ChainDiff, IndexEntry};
use crate::primitives::Block;
use crate::storage::{ChainStore, ChainTip, StoreError, StoreTxn};

/// Jobs queued before `send` waits: a bound, not a tuning knob (the chain state itself
/// keeps at most [`super::MAX_IN_FLIGHT`] jobs outstanding).
const QUEUE: usize = 16;

/// One tip change for the writer.
#[derive(Debug)]
pub(super) struct WriteJob {
    /// A block first stored by this job, before the diff (the one just submitted).
    pub new_block: Option<(IndexEntry, Arc<Block>)>,
    pub diff: Arc<ChainDiff>,
    pub tip: ChainTip,
    /// `true`: commit; `false` (or dropped): roll back.
    pub verdict: oneshot::Receiver<bool>,
    /// Whether it committed, or why it failed.
    pub done: oneshot::Sender<Result<bool, StoreError>>,
}

impl WriteJob {
    /// A job for the writer, with the sender of its verdict and the receiver of its outcome.
    pub(super) fn new(
        new_block: Option<(IndexEntry, Arc<Block>)>,
        diff: Arc<ChainDiff>,
        tip: ChainTip,
    ) -> (Self, oneshot::Sender<bool>, super::apply::JobDone) {
        let (verdict, verdict_rx) = oneshot::channel();
        let (done_tx, done) = oneshot::channel();
        let job = Self {
            new_block,
            diff,
            tip,
            verdict: verdict_rx,
            done: done_tx,
        };
        (job, verdict, done)
    }
}

/// The handle that queues jobs for the writer task.
#[derive(Debug)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Vec<WriteJob>>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    /// Starts the writer task on the current Tokio runtime.
    pub(super) fn spawn<S: ChainStore>(store: S) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(store, queue));
        Self { jobs, task }
    }

    /// Stops taking jobs and waits until the task has written those queued (each was
    /// planned on the one before; the first failure stops the rest): afterwards nothing of
    /// this writer touches the database.
    pub(super) async fn stop(self) {
        drop(self.jobs);
        let _ = self.task.await;
    }

    /// Queues `job`; `false` if the writer has stopped.
    pub(super) async fn send(&self, job: WriteJob) -> bool {
        self.send_batch(vec![job]).await
    }

    /// Queues `jobs` to be written in one transaction (with any others queued by then);
    /// `false` if the writer has stopped.
    pub(super) async fn send_batch(&self, jobs: Vec<WriteJob>) -> bool {
        self.jobs.send(jobs).await.is_ok()
    }
}

async fn run<S: ChainStore>(store: S, mut queue: mpsc::Receiver<Vec<WriteJob>>) {
    while let Some(mut group) = queue.recv().await {
        while let Ok(jobs) = queue.try_recv() {
            group.extend(jobs);
        }
        let written = if group.len() == 1 {
            write_one(&store, group.pop().expect("one job")).await
        } else {
            write_group(&store, group).await
        };
        if !written {
            tracing::error!("the database writer stopped after a failed transaction");
            return;
        }
    }
}

/// The idle case: write first, then wait for the verdict. `false` if the database failed.
async fn write_one<S: ChainStore>(store: &S, job: WriteJob) -> bool {
    let WriteJob {
        new_block,
        diff,
        tip,
        verdict,
        done,
    } = job;
    let result = async {
        let mut txn = store.begin().await?;
        write(&mut txn, new_block.iter(), &diff, &tip).await?;
        if verdict.await.unwrap_or(false) {
            txn.commit().await?;
            Ok(true)
        } else {
            Ok(false) // dropping the transaction rolls it back
        }
    }
    .await;
    report(done, result)
}

/// The backlog case: every verdict first, then the accepted jobs as one transaction.
/// `false` if the database failed.
async fn write_group<S: ChainStore>(store: &S, group: Vec<WriteJob>) -> bool {
    let mut accepted = Vec::with_capacity(group.len());
    for job in group {
        if job.verdict.await.unwrap_or(false) {
            accepted.push((job.new_block, job.diff, job.tip, job.done));
        } else {
            let _ = job.done.send(Ok(false));
        }
    }
    let Some((_, _, tip, _)) = accepted.last() else {
        return true;
    };
    let mut diff = ChainDiff::new();
    for (_, job_diff, _, _) in &accepted {
        diff.append(job_diff);
    }
    let result = async {
        let mut txn = store.begin().await?;
        write(
            &mut txn,
            accepted.iter().filter_map(|(b, ..)| b.as_ref()),
            &diff,
            tip,
        )
        .await?;
        txn.commit().await?;
        Ok(true)
    }
    .await;
    for (_, _, _, done) in accepted {
        report(done, result.clone());
    }
    result.is_ok()
}

async fn write<'a, T: StoreTxn>(
    txn: &mut T,
    new_blocks: impl Iterator<Item = &'a (IndexEntry, Arc<Block>)>,
    diff: &ChainDiff,
    tip: &ChainTip,
) -> Result<(), StoreError> {
    for (entry, block) in new_blocks {
        txn.insert_block(entry, Some(block)).await?;
    }
    txn.apply(diff).await?;
    txn.set_tip(tip).await
}

/// Tells the chain state how a job ended; `false` if the database failed.
fn report(
    done: oneshot::Sender<Result<bool, StoreError>>,
    result: Result<bool, StoreError>,
) -> bool {
    let ok = result.is_ok();
    if let Err(error) = &result {
        tracing::error!(%error, "the chain's database transaction failed");
    }
    let _ = done.send(result);
    ok
}
