//! A network of real nodes in a [`Lab`], for partition scenarios, on the network lab's
//! engine (`chaincore_tools::lab`: its namespaces and its node processes, which `just lab`
//! runs larger): start it, mine on any node, pay from the test key, watch tips converge,
//! check that every node holds the same UTXO set and the supply the subsidies allow, and
//! print a convergence report.
//!
//! Nodes are stopped (by their own guards) before the lab removes its namespaces: `nodes` is
//! declared before `lab`, and Rust drops fields in declaration order.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chaincore::consensus::{Network, total_subsidy};
use chaincore::primitives::{Address, Height};
use serde_json::Value;

use chaincore_tools::lab::nodes::{LabNode, NodeSpec};

use crate::client::Client;
use crate::miner::mine;
use crate::netns::{Lab, available};
use crate::node::node_binary;

/// A lab network: node `i` runs in namespace `i`.
#[derive(Debug)]
pub struct Net {
    pub nodes: Vec<LabNode>,
    pub clients: Vec<Client>,
    pub lab: Lab,
    pub report: Report,
    /// The nodes' files, removed last.
    _dir: tempfile::TempDir,
}

impl Net {
    /// Starts `size` nodes, node 0 first, the others bootstrapped by its REST URL; those in
    /// `on_postgres` keep their chain in a private PostgreSQL server (through its unix
    /// socket, the one way to reach it from a namespace), the others in SQLite. `None` when
    /// the machine cannot run labs (a loud skip unless required).
    pub async fn start(name: &str, size: usize, on_postgres: &[usize]) -> Option<Net> {
        if !available() {
            return None;
        }
        let lab = Lab::create(size);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut nodes = Vec::new();
        for i in 0..size {
            let spec = NodeSpec {
                index: i,
                dir: dir.path().join(format!("node{i}")),
                bootstrap: if i > 0 {
                    vec![lab.rest_url(0)]
                } else {
                    Vec::new()
                },
                postgres: on_postgres.contains(&i),
                skew_s: None,
            };
            let node = LabNode::start(&lab, &node_binary(), &spec)
                .await
                .unwrap_or_else(|e| panic!("node {i} did not start: {e}"));
            nodes.push(node);
        }
        let net = Net {
            clients: nodes.iter().map(|n| Client::new(&n.url)).collect(),
            nodes,
            lab,
            report: Report::new(name),
            _dir: dir,
        };
        net.wait_meshed(Duration::from_secs(30)).await;
        Some(net)
    }

    pub fn size(&self) -> usize {
        self.nodes.len()
    }

    /// Waits until every node has a peer connection to every other.
    pub async fn wait_meshed(&self, deadline: Duration) {
        let want = self.size() - 1;
        self.wait_for("a full mesh", deadline, || async {
            for client in &self.clients {
                if connected_peers(client).await < want {
                    return false;
                }
            }
            true
        })
        .await;
    }

    /// Polls `condition` until it holds; panics at the deadline with every node's state.
    /// Returns how long it took.
    pub async fn wait_for<F, Fut>(&self, what: &str, deadline: Duration, condition: F) -> Duration
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let started = Instant::now();
        if !crate::within(deadline, condition).await {
            panic!(
                "timed out after {deadline:?} waiting for {what}\n{}",
                self.describe().await
            );
        }
        started.elapsed()
    }

    /// Mines `n` blocks on node `i` paying `payout` (a test-side miner on the dev schedule).
    pub async fn mine(&self, i: usize, n: usize, payout: &Address) {
        for _ in 0..n {
            mine(&self.clients[i], payout).await;
        }
    }

    pub async fn status(&self, i: usize) -> Value {
        self.clients[i].get("/status").await.ok()
    }

    pub async fn tip(&self, i: usize) -> String {
        self.clients[i].tip_hash().await
    }

    /// Waits until the nodes in `group` share one tip (indexed, as [`Net::wait_all_on`]);
    /// how long that took.
    pub async fn wait_agree(&self, group: &[usize], deadline: Duration) -> Duration {
        self.wait_for(
            &format!("nodes {group:?} to agree on a tip, indexed"),
            deadline,
            || async {
                let mut tips = HashSet::new();
                for &i in group {
                    let status = self.status(i).await;
                    if status["indexed_height"] != status["height"] {
                        return false;
                    }
                    tips.insert(status["best_block_hash"].to_string());
                }
                tips.len() == 1
            },
        )
        .await
    }

    /// Waits until every node's tip is `tip` and its explorer index (which transaction
    /// look-ups read, and which follows the chain a moment later) has caught up with it;
    /// how long that took.
    pub async fn wait_all_on(&self, tip: &str, deadline: Duration) -> Duration {
        self.wait_for(
            &format!("every node on tip {tip}, indexed"),
            deadline,
            || async {
                for i in 0..self.size() {
                    let status = self.status(i).await;
                    if status["best_block_hash"] != tip
                        || status["indexed_height"] != status["height"]
                    {
                        return false;
                    }
                }
                true
            },
        )
        .await
    }

    pub async fn mempool(&self, i: usize) -> HashSet<String> {
        let pool = self.clients[i].get("/transaction_pool").await.ok();
        pool["transactions"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|e| e["transaction"]["txid"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Whether `txid` is in node `i`'s main chain.
    pub async fn confirmed(&self, i: usize, txid: &str) -> bool {
        let reply = self.clients[i].get(&format!("/tx/{txid}/status")).await;
        reply.status == 200 && reply.body["confirmed"] == true
    }

    /// Asserts that every node holds the same UTXO set (commitment) at the same tip, and
    /// that its total is exactly the subsidies of the main chain.
    pub async fn assert_consistent(&self) {
        let first = self.status(0).await;
        for i in 0..self.size() {
            let status = self.status(i).await;
            assert_eq!(
                status["best_block_hash"], first["best_block_hash"],
                "node {i}'s tip"
            );
            assert_eq!(
                status["utxo_commitment"], first["utxo_commitment"],
                "node {i}'s UTXO set"
            );
            let height = u32::try_from(status["height"].as_u64().unwrap()).unwrap();
            let subsidies = total_subsidy(Height::new(height), Network::Dev.params()).units();
            assert_eq!(
                status["total_supply_units"].as_u64(),
                Some(subsidies),
                "node {i}'s supply at height {height}"
            );
        }
    }

    /// The reorgs node `i` has made, as `(depth, fork height)`.
    pub async fn reorgs(&self, i: usize) -> Vec<(u64, u64)> {
        let stats = self.clients[i].get("/stats").await.ok();
        stats["reorgs"].as_array().map_or_else(Vec::new, |list| {
            list.iter()
                .map(|r| {
                    (
                        r["depth"].as_u64().unwrap_or(0),
                        r["fork_height"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
    }

    /// Peers banned by any node (an honest network bans no one).
    pub async fn bans(&self) -> Vec<(usize, Value)> {
        let mut bans = Vec::new();
        for (i, client) in self.clients.iter().enumerate() {
            let peers = client.get("/peers").await.ok();
            for banned in peers["banned"].as_array().into_iter().flatten() {
                bans.push((i, banned.clone()));
            }
        }
        bans
    }

    /// Every node's height, tip and peer count, for failure messages.
    pub async fn describe(&self) -> String {
        let mut text = String::new();
        for (i, client) in self.clients.iter().enumerate() {
            let reply = client.get("/status").await;
            let _ = writeln!(
                text,
                "node {i} ({}): height {} (indexed {}) tip {} peers {}",
                client.base(),
                reply.body["height"],
                reply.body["indexed_height"],
                reply.body["best_block_hash"],
                reply.body["active_peers"]
            );
        }
        for (i, node) in self.nodes.iter().enumerate() {
            let log = std::fs::read_to_string(&node.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            let _ = writeln!(text, "--- node {i}'s log, last lines:\n{tail}");
        }
        text
    }
}

/// Connected peers a node lists.
pub async fn connected_peers(client: &Client) -> usize {
    let reply = client.get("/peers").await;
    reply.body["peers"].as_array().map_or(0, Vec::len)
}

/// What a scenario saw, printed at its end.
#[derive(Debug)]
pub struct Report {
    name: String,
    lines: Vec<String>,
}

impl Report {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            lines: Vec::new(),
        }
    }

    pub fn add(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }

    /// Prints the report (on stderr, which the test runner shows with `--no-capture` and
    /// for failures).
    #[allow(clippy::print_stderr, reason = "the report is the scenario's output")]
    pub fn print(&self) {
        let mut text = format!("\n=== convergence report: {} ===\n", self.name);
        for line in &self.lines {
            let _ = writeln!(text, "  {line}");
        }
        eprintln!("{text}");
    }
}
