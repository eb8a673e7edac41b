//! The monitor: a snapshot of several nodes (height, tip, peers, mempool, age of the last
//! block, estimated hash rate, recent blocks and their miners), whether they agree on the
//! tip, and, given a database URL, what the database holds. Gathering talks to nodes and
//! the database; rendering is a pure function of the snapshot.
//!
//! It only reads: no route it calls and no query it runs changes anything.

use std::fmt::Write as _;

use sqlx::Row;

use chaincore::api_types::BlockSummary;
use chaincore::api_types::chain::BlockList;
use chaincore::api_types::node::StatsView;

use crate::rest::{NodeClient, RestError, StatusView};

/// Blocks listed per node.
const RECENT_BLOCKS: usize = 5;
/// The tables whose rows are counted, in the order shown.
const TABLES: [&str; 7] = [
    "blocks",
    "transactions",
    "utxos",
    "address_balances",
    "mempool",
    "nodes",
    "mining_stats",
];

/// One node as seen now.
#[derive(Debug)]
pub struct NodeView {
    pub url: String,
    pub state: Result<NodeState, RestError>,
}

/// What a reachable node reported.
#[derive(Debug)]
pub struct NodeState {
    pub status: StatusView,
    /// The network hash rate the node estimates from recent blocks, once it can.
    pub hashrate: Option<f64>,
    pub recent: Vec<BlockSummary>,
}

/// What the database holds.
#[derive(Debug, Default)]
pub struct DatabaseView {
    pub url: String,
    pub counts: Vec<(&'static str, i64)>,
    /// Main-chain blocks, newest first: (height, hash hex, time).
    pub latest: Vec<(i64, String, i64)>,
}

/// Everything the monitor shows at one moment.
#[derive(Debug)]
pub struct Snapshot {
    /// Unix seconds when it was taken.
    pub taken_at: u64,
    pub nodes: Vec<NodeView>,
    pub database: Option<Result<DatabaseView, String>>,
}

/// Reads every node (concurrently) and, if given, the database.
pub async fn gather(nodes: &[NodeClient], database_url: Option<&str>, now: u64) -> Snapshot {
    let views = futures::future::join_all(nodes.iter().map(read_node)).await;
    let database = match database_url {
        Some(url) => Some(read_database(url).await),
        None => None,
    };
    Snapshot {
        taken_at: now,
        nodes: views,
        database,
    }
}

async fn read_node(node: &NodeClient) -> NodeView {
    let state = async {
        let status = node.status().await?;
        let stats: StatsView = node.get("/stats").await?;
        let recent: BlockList = node
            .get(&format!("/blocks/recent?limit={RECENT_BLOCKS}"))
            .await?;
        Ok(NodeState {
            status,
            hashrate: stats.estimated_hashrate,
            recent: recent.blocks,
        })
    }
    .await;
    NodeView {
        url: node.url().to_owned(),
        state,
    }
}

async fn read_database(url: &str) -> Result<DatabaseView, String> {
    let shown = redact(url);
    let failed = |e: sqlx::Error| format!("{shown}: {e}");
    let url = match url.split_once("://") {
        Some(("postgres" | "postgresql", _)) => url.to_owned(),
        // Read-only: the monitor must never write to a node's database.
        Some(("sqlite", rest)) => format!(
            "sqlite://{}?mode=ro",
            rest.split('?').next().unwrap_or_default()
        ),
        _ => return Err(format!("{shown}: expected a postgres:// or sqlite:// URL")),
    };
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.map_err(failed)?;
    let mut view = DatabaseView {
        url: shown.clone(),
        ..DatabaseView::default()
    };
    for table in TABLES {
        // `table` is one of our constant names, never input.
        let count = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"));
        let row = sqlx::query(count).fetch_one(&pool).await.map_err(failed)?;
        view.counts.push((table, row.try_get(0).map_err(failed)?));
    }
    let latest =
        "SELECT height, hash, time FROM blocks WHERE main_chain ORDER BY height DESC LIMIT 5";
    for row in sqlx::query(latest).fetch_all(&pool).await.map_err(failed)? {
        let hash: Vec<u8> = row.try_get(1).map_err(failed)?;
        view.latest.push((
            row.try_get(0).map_err(failed)?,
            hex::encode(hash),
            row.try_get(2).map_err(failed)?,
        ));
    }
    pool.close().await;
    Ok(view)
}

/// A database URL with any password hidden.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if url[scheme + 3..at].contains(':') => {
            let colon = scheme + 3 + url[scheme + 3..at].find(':').expect("checked");
            format!("{}:***{}", &url[..colon], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Whether the reachable nodes agree on the tip: `Some(tip)` if they all do.
pub fn agreed_tip(snapshot: &Snapshot) -> Option<&str> {
    let mut tips = snapshot
        .nodes
        .iter()
        .filter_map(|n| n.state.as_ref().ok())
        .map(|s| s.status.best_block_hash.as_str());
    let first = tips.next()?;
    tips.all(|t| t == first).then_some(first)
}

/// The snapshot as text.
pub fn render(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<28} {:>7} {:<18} {:>5} {:>8} {:>9} {:>12}",
        "node", "height", "tip", "peers", "mempool", "last blk", "hashrate"
    );
    for node in &snapshot.nodes {
        let _ = writeln!(out, "{}", node_line(node, snapshot.taken_at));
    }
    let reachable = snapshot.nodes.iter().filter(|n| n.state.is_ok()).count();
    let _ = match (agreed_tip(snapshot), reachable) {
        (_, 0) => writeln!(out, "\nno node answers"),
        (Some(tip), n) => writeln!(out, "\nagreement: all {n} reachable nodes on tip {tip}"),
        (None, n) => writeln!(
            out,
            "\nagreement: NO, the {n} reachable nodes disagree on the tip"
        ),
    };
    if let Some(state) = snapshot.nodes.iter().find_map(|n| n.state.as_ref().ok()) {
        let _ = writeln!(out, "\nrecent blocks ({}):", state.status.node_id);
        for block in &state.recent {
            let miner = block
                .miner_address
                .map_or_else(|| "-".to_owned(), |a| a.to_string());
            let txs = block.tx_count.map_or_else(|| "?".into(), |c| c.to_string());
            let _ = writeln!(
                out,
                "  {:>7} {} {:>4} txs  miner {miner}",
                block.height,
                short(&block.hash.to_string()),
                txs
            );
        }
    }
    if let Some(database) = &snapshot.database {
        render_database(&mut out, database);
    }
    out
}

fn node_line(node: &NodeView, now: u64) -> String {
    match &node.state {
        Err(error) => {
            let what = if error.is_unreachable() {
                "unreachable"
            } else {
                "failed"
            };
            format!("{:<28} {what}: {error}", node.url)
        }
        Ok(state) => {
            let s = &state.status;
            let age = now.saturating_sub(u64::from(s.tip_time));
            format!(
                "{:<28} {:>7} {:<18} {:>5} {:>8} {:>8}s {:>12}",
                format!("{} {}", s.node_id, node.url),
                s.height,
                short(&s.best_block_hash),
                s.active_peers,
                s.pending_transactions,
                age,
                state.hashrate.map_or_else(
                    || "-".to_owned(),
                    |h| crate::miner::report::HashRate(h).to_string()
                )
            )
        }
    }
}

fn render_database(out: &mut String, database: &Result<DatabaseView, String>) {
    match database {
        Err(error) => {
            let _ = writeln!(out, "\ndatabase: {error}");
        }
        Ok(view) => {
            let counts: Vec<String> = view
                .counts
                .iter()
                .map(|(t, n)| format!("{t} {n}"))
                .collect();
            let _ = writeln!(out, "\ndatabase {}: {}", view.url, counts.join(", "));
            for (height, hash, time) in &view.latest {
                let _ = writeln!(out, "  {height:>7} {} time {time}", short(hash));
            }
        }
    }
}

/// The first 16 hex digits of a hash, enough to tell tips apart at a glance.
fn short(hash: &str) -> String {
    hash.chars().take(16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(url: &str, tip: &str) -> NodeView {
        NodeView {
            url: url.into(),
            state: Ok(NodeState {
                status: StatusView {
                    node_id: url.into(),
                    network: "dev".into(),
                    height: 7,
                    best_block_hash: tip.into(),
                    active_peers: 1,
                    pending_transactions: 0,
                    mempool_bytes: 0,
                    tip_time: 100,
                    utxo_commitment: String::new(),
                    ..StatusView::default()
                },
                hashrate: Some(2e6),
                recent: vec![],
            }),
        }
    }

    #[test]
    fn agreement_is_among_the_reachable_nodes() {
        let down = NodeView {
            url: "c".into(),
            state: Err(RestError::BadUrl("x".into())),
        };
        let snapshot = Snapshot {
            taken_at: 130,
            nodes: vec![node("a", "aa"), node("b", "aa"), down],
            database: None,
        };
        assert_eq!(agreed_tip(&snapshot), Some("aa"));
        let text = render(&snapshot);
        assert!(
            text.contains("agreement: all 2 reachable nodes on tip aa"),
            "{text}"
        );
        assert!(text.contains("30s"), "age of the last block: {text}");
        assert!(
            text.lines()
                .any(|line| line.starts_with("c ") && line.contains("failed: ")),
            "{text}"
        );
        let split = Snapshot {
            taken_at: 130,
            nodes: vec![node("a", "aa"), node("b", "bb")],
            database: None,
        };
        assert_eq!(agreed_tip(&split), None);
        assert!(render(&split).contains("disagree"));
    }

    #[test]
    fn database_passwords_are_hidden() {
        assert_eq!(
            redact("postgres://u:secret@host/db"),
            "postgres://u:***@host/db"
        );
        assert_eq!(redact("sqlite://./x.db"), "sqlite://./x.db");
    }
}
