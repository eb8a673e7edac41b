//! What the lab saw, timed by the lab's own clock (a node whose clock is skewed is timed
//! like the others): each node's `/events` stream for block arrivals, tips and reorgs,
//! samples of heights and memory, and the record of mined blocks, acknowledged
//! transactions and faults. It observes; it never decides anything about the chain.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;

use super::checker::Acknowledged;
use crate::rest::NodeClient;

/// A block the lab's miners made.
#[derive(Clone, Debug, Serialize)]
pub struct Mined {
    pub hash: String,
    pub node: usize,
    /// Seconds since the run began, when the miner's node accepted it.
    pub at: f64,
    pub transactions: usize,
    pub size: usize,
    /// No cut, and every node running, when it was mined.
    pub quiet: bool,
}

/// A reorg a node reported.
#[derive(Clone, Debug, Serialize)]
pub struct Reorg {
    pub node: usize,
    pub at: f64,
    pub depth: u64,
}

/// Everything observed, shared by the lab's tasks.
#[derive(Debug, Default)]
pub struct Observations {
    /// Block hash → node → first arrival (seconds since the run began).
    pub arrivals: HashMap<String, HashMap<usize, f64>>,
    pub mined: Vec<Mined>,
    /// Each node's tip, as its stream last said.
    pub tips: Vec<Option<String>>,
    pub reorgs: Vec<Reorg>,
    /// Per node: (seconds, height).
    pub heights: Vec<Vec<(f64, u32)>>,
    /// Per node: the peak anonymous PSS and RSS, bytes.
    pub peak_memory: Vec<(u64, u64)>,
    pub acknowledged: Vec<Acknowledged>,
    /// Payments a node refused (4xx), and payments whose fate is unknown (no answer).
    /// Refusals by the node's reason code.
    pub refused: std::collections::BTreeMap<String, usize>,
    pub unanswered: usize,
    /// (seconds, what happened), the timeline as it ran.
    pub log: Vec<(f64, String)>,
    /// Heal times, and how long after each the running nodes first shared a tip.
    pub convergence: Vec<(f64, Option<f64>)>,
}

/// The observations and the run's clock, which starts again with the timeline.
#[derive(Clone, Debug)]
pub struct Observer {
    start: Arc<Mutex<Instant>>,
    pub seen: Arc<Mutex<Observations>>,
}

impl Observer {
    pub fn new(nodes: usize) -> Self {
        let observations = Observations {
            tips: vec![None; nodes],
            heights: vec![Vec::new(); nodes],
            peak_memory: vec![(0, 0); nodes],
            ..Observations::default()
        };
        Self {
            start: Arc::new(Mutex::new(Instant::now())),
            seen: Arc::new(Mutex::new(observations)),
        }
    }

    /// When the clock reads 0.
    pub fn start(&self) -> Instant {
        *self.start.lock().expect("clock lock")
    }

    /// Sets the clock to 0: the timeline's times count from here.
    pub fn restart_clock(&self) {
        *self.start.lock().expect("clock lock") = Instant::now();
    }

    /// Seconds since the clock's 0 (negative before it, as during the start-up).
    pub fn now(&self) -> f64 {
        let start = self.start();
        let now = Instant::now();
        if now >= start {
            (now - start).as_secs_f64()
        } else {
            -(start - now).as_secs_f64()
        }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut Observations) -> T) -> T {
        f(&mut self.seen.lock().expect("observations lock"))
    }

    /// Notes a step of the timeline (also printed, as the lab's progress).
    #[allow(clippy::print_stdout, reason = "the lab's progress is its output")]
    pub fn note(&self, what: impl Into<String>) {
        let (at, what) = (self.now(), what.into());
        println!("[{at:7.1} s] {what}");
        self.with(|o| o.log.push((at, what)));
    }

    fn block_connected(&self, node: usize, hash: &str, height: u32) {
        let at = self.now();
        self.with(|o| {
            o.arrivals
                .entry(hash.to_owned())
                .or_default()
                .entry(node)
                .or_insert(at);
            o.tips[node] = Some(hash.to_owned());
            o.heights[node].push((at, height));
        });
    }

    /// Whether every node in `running` has the same tip now.
    pub fn agree(&self, running: &[usize]) -> bool {
        self.with(|o| {
            let mut tips = running.iter().map(|&i| o.tips[i].as_ref());
            let first = tips.next().flatten();
            first.is_some() && tips.all(|t| t == first)
        })
    }

    /// Follows node `i`'s `/events` for as long as the run lasts, reconnecting after the
    /// node goes away; each (re)connection first reads its tip from `/status`.
    pub async fn follow(self, i: usize, node: NodeClient) {
        loop {
            if let Ok(status) = node.status().await {
                self.block_connected(i, &status.best_block_hash, status.height);
                let _ = self.read_events(i, &node).await;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn read_events(&self, i: usize, node: &NodeClient) -> Result<(), reqwest::Error> {
        let response = node
            .http()
            .get(format!("{}/events", node.url()))
            .timeout(Duration::from_secs(24 * 3600))
            .send()
            .await?;
        let mut stream = response.bytes_stream();
        let mut buffer = String::new();
        while let Some(chunk) = stream.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk?));
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                self.on_frame(i, &frame);
            }
        }
        Ok(())
    }

    fn on_frame(&self, i: usize, frame: &str) {
        let field = |name: &str| {
            frame
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
        };
        let (Some(kind), Some(data)) = (field("event:"), field("data:")) else {
            return;
        };
        let Ok(data) = serde_json::from_str::<Value>(data) else {
            return;
        };
        match kind {
            "block_connected" => {
                let height = data["height"].as_u64().and_then(|h| u32::try_from(h).ok());
                if let (Some(hash), Some(height)) = (data["hash"].as_str(), height) {
                    self.block_connected(i, hash, height);
                }
            }
            "reorg" => {
                let (at, depth) = (self.now(), data["depth"].as_u64().unwrap_or(0));
                self.with(|o| o.reorgs.push(Reorg { node: i, at, depth }));
            }
            _ => {}
        }
    }

    /// Records a node's memory sample, keeping the peaks.
    pub fn memory(&self, i: usize, pss_anon: u64, rss: u64) {
        self.with(|o| {
            let peak = &mut o.peak_memory[i];
            *peak = (peak.0.max(pss_anon), peak.1.max(rss));
        });
    }

    /// Waits until the running nodes share a tip, up to `deadline`; how long it took.
    pub async fn wait_agree(&self, running: &[usize], deadline: Duration) -> Option<Duration> {
        let started = Instant::now();
        while started.elapsed() < deadline {
            if self.agree(running) {
                return Some(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}
