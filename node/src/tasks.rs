//! The node's background tasks under one owner. Every task is spawned through [`Tasks`]:
//! long-running loops get the shared cancellation token and leave at their next idle
//! point (never in the middle of a write), short tasks (a peer record to store, a gossip
//! message to judge) are tracked. [`Tasks::stop`] cancels, then waits until every task has
//! finished, so the node's final flush sees nothing still writing.
//!
//! It owns no state of the node and decides nothing; it only starts and stops.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The spawner and stopper of every background task.
#[derive(Clone, Debug, Default)]
pub struct Tasks {
    tracker: TaskTracker,
    token: CancellationToken,
}

impl Tasks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Resolves once the node is stopping: a loop selects on it at its idle points.
    pub fn stopping(&self) -> tokio_util::sync::WaitForCancellationFutureOwned {
        self.token.clone().cancelled_owned()
    }

    /// Whether the node is stopping.
    pub fn is_stopping(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Spawns `task`; the node waits for it before it exits.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.tracker.spawn(task);
    }

    /// Spawns `task` and drops it, wherever it is, once the node stops: for tasks that
    /// write nothing (a dial, a retry's sleep).
    pub fn spawn_cancellable(&self, task: impl Future<Output = ()> + Send + 'static) {
        let stopping = self.stopping();
        self.tracker.spawn(async move {
            tokio::select! {
                () = stopping => {}
                () = task => {}
            }
        });
    }

    /// Cancels every task and waits, at most `patience`, for all to finish; `false` if
    /// some were still running then.
    pub async fn stop(&self, patience: Duration) -> bool {
        self.token.cancel();
        self.tracker.close();
        tokio::time::timeout(patience, self.tracker.wait())
            .await
            .is_ok()
    }

    /// How many tasks are running.
    pub fn running(&self) -> usize {
        self.tracker.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test]
    async fn stop_waits_for_tracked_work_and_ends_idle_loops() {
        let tasks = Tasks::new();
        let wrote = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&wrote);
        tasks.spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            flag.store(true, Ordering::SeqCst);
        });
        let stopping = tasks.stopping();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(5));
            tokio::select! {
                () = stopping => {}
                () = async { loop { tick.tick().await; } } => {}
            }
        });
        tasks.spawn_cancellable(std::future::pending());
        assert!(
            tasks.stop(Duration::from_secs(5)).await,
            "every task finished"
        );
        assert!(wrote.load(Ordering::SeqCst), "the write was waited for");
        assert_eq!(tasks.running(), 0);
    }

    #[tokio::test]
    async fn a_task_that_does_not_stop_is_reported() {
        let tasks = Tasks::new();
        tasks.spawn(std::future::pending());
        assert!(!tasks.stop(Duration::from_millis(20)).await);
    }
}
