//! The mining loop: get a template from the current node, hand it to the threads, and wait
//! for whichever comes first: a solution (submit it), the tip moving (drop the template), a
//! refresh (pick up new transactions), or the end. A node that cannot be reached is left
//! for the next `--node`; when none answers, the loop waits with growing backoff and tries
//! again, for as long as it runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chaincore::primitives::Address;
use serde_json::json;
use tokio::sync::mpsc;

use super::kernel::Kernel;
use super::report::{Report, Tally};
use super::tip::TipWatch;
use super::work::{Work, WorkError};
use super::workers::{Pool, Solution};
use crate::rest::{NodeClient, RestError, SubmitResult, TemplateView};

/// How a miner runs.
#[derive(Clone, Debug)]
pub struct MinerConfig {
    pub payout: Address,
    /// Nodes in order of preference (at least one).
    pub nodes: Vec<NodeClient>,
    pub threads: usize,
    pub kernel: Kernel,
    /// Hashes a second in all, if limited.
    pub max_hashrate: Option<f64>,
    /// How often the tip is polled besides the event stream.
    pub poll: Duration,
    /// A template older than this is replaced (to take in new transactions).
    pub refresh: Duration,
    /// Stop after this many accepted blocks.
    pub max_blocks: Option<u64>,
}

const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What happened, for the user.
#[derive(Clone, Debug)]
pub enum MinerEvent {
    Mining {
        node: String,
        template_id: u64,
        height: u32,
        txs: usize,
        fees_units: u64,
    },
    /// The tip moved away from the template's parent: it was dropped.
    Dropped {
        template_id: u64,
        new_tip: String,
    },
    Found {
        hash: String,
        height: u32,
        thread: usize,
        extra_nonce: u64,
    },
    Submitted {
        hash: String,
        result: SubmitResult,
    },
    Rejected {
        hash: String,
        error: String,
    },
    NodeDown {
        node: String,
        error: String,
    },
    AllDown {
        retry_in: Duration,
    },
    Status(Report),
}

/// Why mining cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum MinerError {
    #[error("the node refused to make a template: {0}")]
    TemplateRefused(RestError),
    #[error("the node sent a template that cannot be mined: {0}")]
    BadTemplate(#[from] WorkError),
}

/// Mines until `stop` resolves or `max_blocks` are accepted; reports through `events`.
pub async fn run(
    config: MinerConfig,
    stop: impl Future<Output = ()>,
    events: &mut dyn FnMut(MinerEvent),
    status_every: Duration,
) -> Result<Report, MinerError> {
    let (pool, mut solutions) = Pool::start(config.threads, config.kernel, config.max_hashrate);
    let mut miner = Miner {
        config,
        pool,
        tally: Tally::default(),
        started: Instant::now(),
        node: 0,
        watch: None,
    };
    let result = miner.mine(stop, &mut solutions, events, status_every).await;
    let report = miner.report();
    miner.pool.shutdown();
    result.map(|()| report)
}

struct Miner {
    config: MinerConfig,
    pool: Pool,
    tally: Tally,
    started: Instant,
    /// The index of the node in use.
    node: usize,
    /// The tip watch of the node in use.
    watch: Option<(usize, TipWatch)>,
}

/// What ended the wait on a template.
enum Next {
    Solution(Solution),
    TipMoved(String),
    Refresh,
    Stop,
}

impl Miner {
    fn report(&self) -> Report {
        Report {
            tally: self.tally,
            hashes_per_thread: self.pool.hashes(),
            elapsed: self.started.elapsed(),
        }
    }

    fn done(&self) -> bool {
        self.config
            .max_blocks
            .is_some_and(|max| self.tally.accepted >= max)
    }

    async fn mine(
        &mut self,
        stop: impl Future<Output = ()>,
        solutions: &mut mpsc::UnboundedReceiver<Solution>,
        events: &mut dyn FnMut(MinerEvent),
        status_every: Duration,
    ) -> Result<(), MinerError> {
        let mut stop = std::pin::pin!(stop);
        let mut status = tokio::time::interval(status_every);
        status.tick().await;
        while !self.done() {
            let template = tokio::select! {
                template = self.template(events) => template?,
                () = &mut stop => return Ok(()),
            };
            let work = Arc::new(Work::from_template(&template)?);
            self.pool.set_work(Some(Arc::clone(&work)));
            self.mark_tip_seen();
            events(MinerEvent::Mining {
                node: self.config.nodes[self.node].url().to_owned(),
                template_id: template.template_id,
                height: template.height,
                txs: template.transactions_hex.len(),
                fees_units: template.fees_units,
            });
            let refresh = tokio::time::sleep(self.config.refresh);
            tokio::pin!(refresh);
            loop {
                let next = tokio::select! {
                    Some(solution) = solutions.recv() => Next::Solution(solution),
                    tip = self.tip_moved(&work.previous) => Next::TipMoved(tip),
                    () = &mut refresh => Next::Refresh,
                    () = &mut stop => Next::Stop,
                    _ = status.tick() => {
                        events(MinerEvent::Status(self.report()));
                        continue;
                    }
                };
                match next {
                    Next::Solution(solution) if solution.template_id == work.template_id => {
                        self.submit(solution, &work, events).await;
                        break;
                    }
                    Next::Solution(_) => continue, // from a template already replaced
                    Next::TipMoved(new_tip) => {
                        work.stop();
                        self.tally.dropped += 1;
                        events(MinerEvent::Dropped {
                            template_id: work.template_id,
                            new_tip,
                        });
                        break;
                    }
                    Next::Refresh => break,
                    Next::Stop => return Ok(()),
                }
            }
        }
        Ok(())
    }

    /// A template from the first node that answers, starting with the one in use.
    async fn template(
        &mut self,
        events: &mut dyn FnMut(MinerEvent),
    ) -> Result<TemplateView, MinerError> {
        let mut backoff = FIRST_BACKOFF;
        let body = json!({"miner_address": self.config.payout.to_string()});
        loop {
            for _ in 0..self.config.nodes.len() {
                let node = &self.config.nodes[self.node];
                match node.post::<TemplateView>("/mine_block", &body).await {
                    Ok(template) => return Ok(template),
                    Err(error) if error.is_unreachable() => {
                        events(MinerEvent::NodeDown {
                            node: node.url().to_owned(),
                            error: error.to_string(),
                        });
                        self.node = (self.node + 1) % self.config.nodes.len();
                    }
                    Err(error) => return Err(MinerError::TemplateRefused(error)),
                }
            }
            events(MinerEvent::AllDown { retry_in: backoff });
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// The tip watch of the node in use, started on first need.
    fn watch(&mut self) -> &mut TipWatch {
        if self
            .watch
            .as_ref()
            .is_none_or(|(node, _)| *node != self.node)
        {
            let node = self.config.nodes[self.node].clone();
            self.watch = Some((self.node, TipWatch::start(node, self.config.poll)));
        }
        &mut self.watch.as_mut().expect("just set").1
    }

    /// Whatever the watch said before the template was made is already in the template.
    fn mark_tip_seen(&mut self) {
        self.watch().tip.mark_unchanged();
    }

    /// Resolves with the new tip once the node in use reports, after the template was
    /// made, a tip other than `parent`.
    async fn tip_moved(&mut self, parent: &str) -> String {
        let watch = self.watch();
        loop {
            if watch.tip.changed().await.is_err() {
                return std::future::pending().await;
            }
            if let Some(tip) = watch.tip.borrow_and_update().as_deref()
                && tip != parent
            {
                return tip.to_owned();
            }
        }
    }

    async fn submit(
        &mut self,
        solution: Solution,
        work: &Work,
        events: &mut dyn FnMut(MinerEvent),
    ) {
        self.tally.found += 1;
        let hash = solution.header.block_hash().to_string();
        events(MinerEvent::Found {
            hash: hash.clone(),
            height: work.height,
            thread: solution.thread,
            extra_nonce: solution.extra_nonce,
        });
        let body = json!({
            "template_id": solution.template_id,
            "header_hex": hex::encode(solution.header.to_bytes()),
            "coinbase_hex": hex::encode(&solution.coinbase),
        });
        let node = &self.config.nodes[self.node];
        let mut answer = node.post::<SubmitResult>("/submit_block", &body).await;
        if answer.as_ref().is_err_and(RestError::is_unreachable) {
            answer = self.submit_elsewhere(&solution, work).await;
        }
        match answer {
            Ok(result) => {
                if result.status == "accepted" && result.on_main_chain {
                    self.tally.accepted += 1;
                } else {
                    self.tally.stale += 1;
                }
                events(MinerEvent::Submitted { hash, result });
            }
            Err(error @ RestError::Refused { status: 404, .. }) => {
                // The node forgot the template: the chain moved on long ago.
                self.tally.stale += 1;
                events(MinerEvent::Rejected {
                    hash,
                    error: error.to_string(),
                });
            }
            Err(error) => {
                if !error.is_unreachable() {
                    self.tally.rejected += 1;
                }
                events(MinerEvent::Rejected {
                    hash,
                    error: error.to_string(),
                });
            }
        }
    }

    /// The node in use went down with a solution in hand: offer the whole block to the
    /// others (they do not know our template).
    async fn submit_elsewhere(
        &mut self,
        solution: &Solution,
        work: &Work,
    ) -> Result<SubmitResult, RestError> {
        let block = work
            .block(solution.header, &solution.coinbase)
            .map_err(|e| RestError::BadAnswer {
                url: String::new(),
                path: "/mine_block".into(),
                reason: e.to_string(),
            })?;
        let body = json!({"block_hex": hex::encode(chaincore::primitives::encode(&block))});
        let mut last = None;
        for offset in 1..self.config.nodes.len() {
            let index = (self.node + offset) % self.config.nodes.len();
            match self.config.nodes[index]
                .post::<SubmitResult>("/submit_block", &body)
                .await
            {
                Err(error) if error.is_unreachable() => last = Some(error),
                answer => {
                    self.node = index;
                    return answer;
                }
            }
        }
        Err(last.unwrap_or_else(|| RestError::Unreachable {
            url: self.config.nodes[self.node].url().into(),
            reason: "no other node".into(),
        }))
    }
}
