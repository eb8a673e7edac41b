//! The lab's report: the facts gathered from the nodes at the end (the final chain, bytes,
//! gossip counters, the peer graph), the checker's verdict, and the figures: propagation,
//! convergence after each heal, reorg depths, bytes per node per block, peak memory, and
//! the latency the relays produced. Written as text, JSON and an HTML page with two plots.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::World;
use super::checker::{self, Confirmed, FinalState, Verdict};
use super::netns::Traffic;
use super::relay::HoldHistogram;
use super::scenario::Links;

/// What the nodes said at the end, read before they stop.
#[derive(Debug)]
pub struct Facts {
    pub ends: Vec<FinalState>,
    pub chain: Vec<Confirmed>,
    pub chain_hashes: Vec<String>,
    pub traffic: Vec<Traffic>,
    /// Per node: gossip messages judged "ignore" (already known, or not useful).
    pub gossip_ignored: Vec<u64>,
    pub peers: Vec<Vec<usize>>,
}

/// Percentiles of a sample, in the sample's unit.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Quantiles {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Quantiles {
    pub fn of(mut sample: Vec<f64>) -> Quantiles {
        if sample.is_empty() {
            return Quantiles::default();
        }
        sample.sort_by(f64::total_cmp);
        let at = |q: f64| {
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "a rank"
            )]
            let rank = ((sample.len() as f64 * q).ceil() as usize).clamp(1, sample.len());
            sample[rank - 1]
        };
        Quantiles {
            count: sample.len(),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

/// One node's figures.
#[derive(Clone, Debug, Serialize)]
pub struct NodeFigures {
    pub node: usize,
    pub sent_bytes: u64,
    pub received_bytes: u64,
    pub gossip_ignored: u64,
    pub peak_pss_anon_mib: f64,
    pub peak_rss_mib: f64,
    pub peers: usize,
}

/// One mined block's spread.
#[derive(Clone, Debug, Serialize)]
pub struct BlockFigures {
    #[serde(flatten)]
    pub block: super::observe::Mined,
    /// Milliseconds after `at` at which each other node connected it, by node.
    pub arrivals_ms: std::collections::BTreeMap<usize, f64>,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct LabReport {
    pub scenario: String,
    pub nodes: usize,
    pub links_configured: Links,
    /// What the relays held each chunk, measured (one way, milliseconds).
    pub latency_produced_ms: Quantiles,
    /// Block arrival at each other node after its miner's node accepted it (ms): every
    /// block; blocks mined while nothing was cut or down; those of 100 transactions or more.
    pub propagation_ms: Quantiles,
    pub propagation_quiet_ms: Quantiles,
    pub propagation_quiet_100tx_ms: Quantiles,
    /// Blocks of 100 transactions or more, whatever happened while they spread.
    pub propagation_100tx_ms: Quantiles,
    /// (heal at, seconds until every running node shared a tip).
    pub convergence_after_heal_s: Vec<(f64, Option<f64>)>,
    pub reorg_depths: Vec<u64>,
    pub blocks_mined: usize,
    pub blocks_on_final_chain: usize,
    pub final_height: u32,
    pub peer_graph_diameter: Option<usize>,
    /// Bytes each node sent to other nodes, over the blocks mined in the run.
    pub sent_bytes_per_node_per_block: Quantiles,
    pub peak_pss_anon_mib: Quantiles,
    pub per_node: Vec<NodeFigures>,
    pub verdict: Verdict,
    pub refused_payments: std::collections::BTreeMap<String, usize>,
    pub unanswered_payments: usize,
    /// Nodes that had not exited 10 s after the final SIGTERM (then killed).
    pub unclean_stops: usize,
    pub timeline: Vec<(f64, String)>,
    /// Each mined block: when, where, its size, and when every other node had it.
    pub blocks: Vec<BlockFigures>,
    #[serde(skip)]
    heights: Vec<Vec<(f64, u32)>>,
    #[serde(skip)]
    quiet_sample: Vec<f64>,
}

/// Reads the facts from the running nodes.
pub async fn gather(world: &World, ends: Vec<FinalState>) -> Result<Facts, String> {
    let (chain, chain_hashes) = final_chain(world).await?;
    let traffic = world.with_lab(|lab| lab.traffic());
    let mut gossip_ignored = Vec::new();
    let mut peer_ids = Vec::new();
    let mut listed = Vec::new();
    for (i, client) in world.clients.iter().enumerate() {
        let metrics = client
            .http()
            .get(format!("{}/metrics", client.url()))
            .send()
            .await;
        let text = match metrics {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        gossip_ignored.push(ignored(&text));
        peer_ids.push(world.nodes[i].lock().await.peer_id.clone());
        listed.push(client.status().await.map(|s| s.peers).unwrap_or_default());
    }
    let index: HashMap<&str, usize> = peer_ids
        .iter()
        .enumerate()
        .map(|(i, p)| (p.as_str(), i))
        .collect();
    let peers = listed
        .iter()
        .map(|ps| {
            ps.iter()
                .filter_map(|p| index.get(p.as_str()).copied())
                .collect()
        })
        .collect();
    Ok(Facts {
        ends,
        chain,
        chain_hashes,
        traffic,
        gossip_ignored,
        peers,
    })
}

/// Every transaction of node 0's chain, walking back from its tip.
async fn final_chain(world: &World) -> Result<(Vec<Confirmed>, Vec<String>), String> {
    let client = &world.clients[0];
    let mut hash = client.tip_hash().await.map_err(|e| e.to_string())?;
    let (mut txs, mut hashes) = (Vec::new(), Vec::new());
    loop {
        let block: Value = client
            .get(&format!("/block/{hash}"))
            .await
            .map_err(|e| e.to_string())?;
        let list: Vec<Value> = client
            .get(&format!("/block/{hash}/txs"))
            .await
            .map_err(|e| e.to_string())?;
        for tx in list.iter().filter(|tx| tx["is_coinbase"] != true) {
            let inputs = tx["inputs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| {
                    Some((
                        i["txid"].as_str()?.to_owned(),
                        u32::try_from(i["vout"].as_u64()?).ok()?,
                    ))
                })
                .collect();
            txs.push(Confirmed {
                txid: tx["txid"].as_str().unwrap_or_default().to_owned(),
                inputs,
            });
        }
        hashes.push(hash.clone());
        if block["height"].as_u64() == Some(0) {
            return Ok((txs, hashes));
        }
        hash = block["previous_hash"]
            .as_str()
            .ok_or("a block without its parent")?
            .to_owned();
    }
}

/// Gossip messages judged "ignore", from `/metrics`.
fn ignored(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("chaincore_gossip_messages_total{") && l.contains("verdict=\"ignore\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "a counter"
            )]
            let n = v as u64;
            n
        })
        .sum()
}

/// The longest shortest path of the peer graph (connections are both ways), if connected.
pub fn diameter(peers: &[Vec<usize>]) -> Option<usize> {
    let n = peers.len();
    let mut adjacent = vec![Vec::new(); n];
    for (a, list) in peers.iter().enumerate() {
        for &b in list {
            adjacent[a].push(b);
            adjacent[b].push(a);
        }
    }
    let mut longest = 0;
    for start in 0..n {
        let mut distance = vec![usize::MAX; n];
        distance[start] = 0;
        let mut queue = VecDeque::from([start]);
        while let Some(a) = queue.pop_front() {
            for &b in &adjacent[a] {
                if distance[b] == usize::MAX {
                    distance[b] = distance[a] + 1;
                    queue.push_back(b);
                }
            }
        }
        longest = longest.max(*distance.iter().max()?);
        if longest == usize::MAX {
            return None;
        }
    }
    Some(longest)
}

/// The report from what the lab saw and the facts.
pub fn build(
    world: &World,
    facts: Facts,
    relay_stats: &[PathBuf],
    unclean_stops: usize,
) -> LabReport {
    let mut latency = HoldHistogram::default();
    for path in relay_stats {
        if let Some(h) = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
        {
            latency.merge(&h);
        }
    }
    let latency_sample: Vec<f64> = latency
        .buckets
        .iter()
        .flat_map(|(bucket, n)| {
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                reason = "a count"
            )]
            std::iter::repeat_n((*bucket as f64 + 0.5) / 10.0, *n as usize)
        })
        .collect();
    world.observer.with(|seen| {
        let acknowledged = seen.acknowledged.clone();
        let verdict = checker::check(&acknowledged, &facts.chain, &facts.ends);
        let blocks = block_figures(seen);
        let delays = |keep: &dyn Fn(&super::observe::Mined) -> bool| -> Vec<f64> {
            blocks
                .iter()
                .filter(|b| keep(&b.block))
                .flat_map(|b| b.arrivals_ms.values().copied())
                .collect()
        };
        let quiet_sample = delays(&|m| m.quiet);
        let mined = seen.mined.len().max(1);
        let per_node: Vec<NodeFigures> = (0..world.scenario.nodes)
            .map(|i| NodeFigures {
                node: i,
                sent_bytes: facts.traffic.get(i).map_or(0, |t| t.sent),
                received_bytes: facts.traffic.get(i).map_or(0, |t| t.received),
                gossip_ignored: facts.gossip_ignored.get(i).copied().unwrap_or(0),
                peak_pss_anon_mib: mib(seen.peak_memory[i].0),
                peak_rss_mib: mib(seen.peak_memory[i].1),
                peers: facts.peers.get(i).map_or(0, Vec::len),
            })
            .collect();
        #[allow(clippy::cast_precision_loss, reason = "bytes")]
        let per_block: Vec<f64> = per_node
            .iter()
            .map(|n| n.sent_bytes as f64 / mined as f64)
            .collect();
        LabReport {
            scenario: world.scenario.name.clone(),
            nodes: world.scenario.nodes,
            links_configured: world.scenario.links,
            latency_produced_ms: Quantiles::of(latency_sample),
            propagation_ms: Quantiles::of(delays(&|_| true)),
            propagation_quiet_ms: Quantiles::of(quiet_sample.clone()),
            propagation_quiet_100tx_ms: Quantiles::of(delays(&|m| {
                m.quiet && m.transactions >= 100
            })),
            propagation_100tx_ms: Quantiles::of(delays(&|m| m.transactions >= 100)),
            convergence_after_heal_s: seen.convergence.clone(),
            reorg_depths: seen.reorgs.iter().map(|r| r.depth).collect(),
            blocks_mined: seen.mined.len(),
            blocks_on_final_chain: facts.chain_hashes.len().saturating_sub(1),
            final_height: facts.ends.first().map_or(0, |e| e.height),
            peer_graph_diameter: diameter(&facts.peers),
            sent_bytes_per_node_per_block: Quantiles::of(per_block),
            peak_pss_anon_mib: Quantiles::of(
                per_node.iter().map(|n| n.peak_pss_anon_mib).collect(),
            ),
            per_node,
            verdict,
            refused_payments: seen.refused.clone(),
            unanswered_payments: seen.unanswered,
            unclean_stops,
            timeline: seen.log.clone(),
            blocks,
            heights: seen.heights.clone(),
            quiet_sample,
        }
    })
}

fn block_figures(seen: &super::observe::Observations) -> Vec<BlockFigures> {
    seen.mined
        .iter()
        .map(|m| BlockFigures {
            block: m.clone(),
            arrivals_ms: seen
                .arrivals
                .get(&m.hash)
                .into_iter()
                .flatten()
                .filter(|(node, _)| **node != m.node)
                .map(|(node, at)| (*node, ((at - m.at) * 1000.0).max(0.0)))
                .collect(),
        })
        .collect()
}

#[allow(clippy::cast_precision_loss, reason = "a size for people")]
fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

impl LabReport {
    /// The report as people read it in a terminal.
    pub fn text(&self) -> String {
        let q = |q: &Quantiles, unit: &str| {
            format!(
                "p50 {:.1} p90 {:.1} p99 {:.1} max {:.1} {unit} (n = {})",
                q.p50, q.p90, q.p99, q.max, q.count
            )
        };
        let mut t = format!(
            "=== lab report: {} ({} nodes) ===\n",
            self.scenario, self.nodes
        );
        let verdict = if self.verdict.passed() {
            "PASSED"
        } else {
            "FAILED"
        };
        let v = &self.verdict;
        let _ = writeln!(
            t,
            "history check: {verdict}: {} acknowledged payments: {} confirmed, {} conflicted, {} conflicted by ancestry, {} lost",
            v.acknowledged,
            v.confirmed,
            v.conflicted,
            v.conflicted_by_ancestry,
            v.lost.len()
        );
        for violation in &v.violations {
            let _ = writeln!(t, "  VIOLATION: {violation}");
        }
        let _ = writeln!(t, "links configured: {}", self.links_configured);
        let _ = writeln!(
            t,
            "latency produced (one way, measured by the relays): {}",
            q(&self.latency_produced_ms, "ms")
        );
        let _ = writeln!(
            t,
            "propagation, all blocks: {}",
            q(&self.propagation_ms, "ms")
        );
        let _ = writeln!(
            t,
            "propagation, quiet blocks: {}",
            q(&self.propagation_quiet_ms, "ms")
        );
        let _ = writeln!(
            t,
            "propagation, quiet blocks of 100+ txs: {}",
            q(&self.propagation_quiet_100tx_ms, "ms")
        );
        let _ = writeln!(
            t,
            "propagation, every block of 100+ txs: {}",
            q(&self.propagation_100tx_ms, "ms")
        );
        let _ = writeln!(t, "peer graph diameter: {:?}", self.peer_graph_diameter);
        for (at, took) in &self.convergence_after_heal_s {
            let _ = writeln!(
                t,
                "heal at {at:.1} s: one tip after {}",
                took.map_or("never".to_owned(), |s| format!("{s:.2} s"))
            );
        }
        let deepest = self.reorg_depths.iter().max().copied().unwrap_or(0);
        let _ = writeln!(t, "reorgs: {} (deepest {deepest})", self.reorg_depths.len());
        let _ = writeln!(
            t,
            "blocks: {} mined, {} on the final chain (height {})",
            self.blocks_mined, self.blocks_on_final_chain, self.final_height
        );
        let _ = writeln!(
            t,
            "bytes sent per node per block: {}",
            q(&self.sent_bytes_per_node_per_block, "B")
        );
        let _ = writeln!(
            t,
            "peak anonymous PSS per node: {}",
            q(&self.peak_pss_anon_mib, "MiB")
        );
        let _ = writeln!(
            t,
            "payments refused: {:?}, unanswered: {}",
            self.refused_payments, self.unanswered_payments
        );
        let _ = writeln!(
            t,
            "nodes that needed SIGKILL at the final stop: {}",
            self.unclean_stops
        );
        t
    }

    /// Writes `report.json` and `report.html` into `dir`; their paths.
    pub fn write(&self, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
        let json = dir.join("report.json");
        std::fs::write(&json, serde_json::to_string_pretty(self)?)?;
        let html = dir.join("report.html");
        std::fs::write(
            &html,
            super::report_html::page(self, &self.heights, &self.quiet_sample),
        )?;
        Ok((json, html))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_ranks_of_the_sorted_sample() {
        let q = Quantiles::of((1..=100).rev().map(f64::from).collect());
        assert_eq!(
            (q.count, q.p50, q.p90, q.p99, q.max),
            (100, 50.0, 90.0, 99.0, 100.0)
        );
        assert_eq!(Quantiles::of(Vec::new()).count, 0);
    }

    #[test]
    fn the_diameter_is_the_longest_shortest_path() {
        // 0 - 1 - 2 - 3, and 1 - 3: the farthest pair is 0 and 2 or 3, two hops.
        let peers = vec![vec![1], vec![2, 3], vec![3], vec![]];
        assert_eq!(diameter(&peers), Some(2));
        assert_eq!(
            diameter(&[vec![1], vec![], vec![]]),
            None,
            "node 2 is cut off"
        );
    }

    #[test]
    fn ignored_gossip_is_read_from_the_metrics() {
        let text = "chaincore_gossip_messages_total{topic=\"blocks\",verdict=\"ignore\"} 7\n\
                    chaincore_gossip_messages_total{topic=\"transactions\",verdict=\"ignore\"} 3\n\
                    chaincore_gossip_messages_total{topic=\"blocks\",verdict=\"accept\"} 9\n";
        assert_eq!(ignored(text), 10);
    }
}
