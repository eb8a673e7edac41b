//! What the cluster shows: the table of nodes (REST URL, P2P address, peer id, explorer
//! link), the miners and their wallets, and a status line per node with whether they agree
//! on the tip, redrawn in place on a terminal or printed as a block now and then otherwise.
//!
//! Pure text: the caller prints what these functions return; nothing here does I/O.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::rest::StatusView;

/// Off a terminal, one status block in this many is printed (every 10 s at one poll per 2 s).
pub const PRINT_EVERY: u32 = 5;
/// Longest error shown on a status line, so a line fits a terminal row.
const ERROR_WIDTH: usize = 60;

/// A started node, for the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRow {
    pub node_id: String,
    pub url: String,
    pub p2p: String,
    pub peer_id: String,
}

/// A started miner, for the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinerRow {
    pub name: String,
    pub address: String,
    pub wallet: PathBuf,
    pub node: String,
    pub log: PathBuf,
}

/// Everything the table shows once the cluster is up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub dir: PathBuf,
    pub nodes: Vec<NodeRow>,
    pub miners: Vec<MinerRow>,
    /// Where the nodes' chains are, in words.
    pub databases: String,
    pub passphrase: Option<PathBuf>,
    /// `chaincore-wallet`, as the hint names it.
    pub wallet_binary: PathBuf,
}

/// One node's answer to `/status` (or why there was none).
#[derive(Debug)]
pub struct NodeStatus {
    pub node_id: String,
    pub state: Result<StatusView, String>,
}

/// The table, the miners and how to use their wallets.
pub fn render_summary(summary: &Summary) -> String {
    let mut out = String::new();
    let mut rows = vec![vec![
        "node".to_owned(),
        "REST URL".to_owned(),
        "P2P address".to_owned(),
        "peer id".to_owned(),
        "explorer".to_owned(),
    ]];
    rows.extend(summary.nodes.iter().map(|n| {
        vec![
            n.node_id.clone(),
            n.url.clone(),
            n.p2p.clone(),
            n.peer_id.clone(),
            format!("{}/", n.url),
        ]
    }));
    out.push_str(&columns(&rows));
    let dir = summary.dir.display();
    let _ = writeln!(out, "\nchains:  {}", summary.databases);
    let _ = writeln!(out, "logs:    {dir}/node<i>/node.log");
    if !summary.miners.is_empty() {
        out.push('\n');
        out.push_str(&render_miners(summary));
    }
    let _ = writeln!(
        out,
        "\ncluster ready: {} node(s), {} miner(s); Ctrl-C stops them all",
        summary.nodes.len(),
        summary.miners.len()
    );
    out
}

fn render_miners(summary: &Summary) -> String {
    let mut rows = vec![vec![
        "miner".to_owned(),
        "pays to".to_owned(),
        "mines on".to_owned(),
        "log".to_owned(),
    ]];
    rows.extend(summary.miners.iter().map(|m| {
        vec![
            m.name.clone(),
            m.address.clone(),
            m.node.clone(),
            m.log.display().to_string(),
        ]
    }));
    let mut out = columns(&rows);
    if let (Some(passphrase), Some(first), Some(node)) = (
        &summary.passphrase,
        summary.miners.first(),
        summary.nodes.first(),
    ) {
        let _ = writeln!(
            out,
            "\nThe miners' wallets are {}/wallets/miner<j>.json, sealed with the passphrase in {}:\n  \
             CHAINCORE_WALLET_PASSPHRASE=$(cat {}) {} balance --wallet {} --node {}",
            summary.dir.display(),
            passphrase.display(),
            passphrase.display(),
            summary.wallet_binary.display(),
            first.wallet.display(),
            node.url
        );
    }
    out
}

/// One status line per node and the agreement line, under a time stamp.
pub fn render_status(nodes: &[NodeStatus], unix_now: u64) -> String {
    let mut out = format!("status at {} UTC\n", clock(unix_now));
    let width = nodes.iter().map(|n| n.node_id.len()).max().unwrap_or(0);
    for node in nodes {
        let line = match &node.state {
            Ok(s) => format!(
                "height {:>6}  tip {:<16}  peers {:>2}  mempool {:>4}",
                s.height,
                short(&s.best_block_hash),
                s.active_peers,
                s.pending_transactions
            ),
            Err(error) => format!("down: {}", short_error(error)),
        };
        let _ = writeln!(out, "  {:<width$}  {line}", node.node_id);
    }
    let _ = writeln!(out, "  {}", agreement(nodes));
    out
}

/// Whether every node answers with the same tip.
pub fn agreement(nodes: &[NodeStatus]) -> String {
    let tips: Vec<&StatusView> = nodes.iter().filter_map(|n| n.state.as_ref().ok()).collect();
    let mut distinct: Vec<&str> = tips.iter().map(|s| s.best_block_hash.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let down = nodes.len() - tips.len();
    match (distinct.as_slice(), down) {
        ([], _) => "agreement: ? (no node answers)".to_owned(),
        ([tip], 0) => format!(
            "agreement: yes, all {} on tip {} at height {}",
            nodes.len(),
            short(tip),
            tips[0].height
        ),
        ([tip], _) => format!(
            "agreement: ? ({} of {} answer, on tip {})",
            tips.len(),
            nodes.len(),
            short(tip)
        ),
        (many, _) => format!(
            "agreement: NO, {} tips among {} answering nodes",
            many.len(),
            tips.len()
        ),
    }
}

/// Where status blocks go: redrawn in place on a terminal (ANSI), or one in
/// [`PRINT_EVERY`] printed after the previous otherwise; messages go above them.
#[derive(Debug)]
pub struct Board {
    live: bool,
    /// Lines of the block on screen (live only).
    drawn: usize,
    last: String,
    blocks: u32,
}

impl Board {
    pub fn new(live: bool) -> Self {
        Self {
            live,
            drawn: 0,
            last: String::new(),
            blocks: 0,
        }
    }

    /// What to print for a new status block, if anything.
    pub fn show(&mut self, block: String) -> Option<String> {
        self.blocks += 1;
        if self.live {
            let out = format!("{}{block}", self.erase());
            self.drawn = block.lines().count();
            self.last = block;
            return Some(out);
        }
        let print = (self.blocks - 1).is_multiple_of(PRINT_EVERY);
        self.last = block;
        print.then(|| self.last.clone())
    }

    /// What to print for a message, which stays above the status block.
    pub fn message(&mut self, message: &str) -> String {
        let message = message.trim_end();
        if !self.live || self.drawn == 0 {
            return format!("{message}\n");
        }
        let out = format!("{}{message}\n{}", self.erase(), self.last);
        self.drawn = self.last.lines().count();
        out
    }

    /// Stops redrawing: the last block stays on screen and what follows is printed below
    /// it. Returns what starts a clean line (after a `^C` the terminal echoed).
    pub fn freeze(&mut self) -> String {
        let live = std::mem::replace(&mut self.live, false);
        self.drawn = 0;
        if live {
            "\r\x1b[K".to_owned()
        } else {
            String::new()
        }
    }

    /// Clears the block on screen: up to its first line, then erase to the end.
    fn erase(&self) -> String {
        if self.drawn == 0 {
            String::new()
        } else {
            format!("\x1b[{}F\x1b[J", self.drawn)
        }
    }
}

/// UTC time of day: `14:03:27`.
pub fn clock(unix: u64) -> String {
    let seconds = unix % 86_400;
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// Rows as left-aligned columns, two spaces apart.
fn columns(rows: &[Vec<String>]) -> String {
    let count = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..count)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

/// The first 16 hex digits of a hash.
fn short(hash: &str) -> String {
    hash.chars().take(16).collect()
}

fn short_error(error: &str) -> String {
    if error.chars().count() <= ERROR_WIDTH {
        return error.to_owned();
    }
    let cut: String = error.chars().take(ERROR_WIDTH - 3).collect();
    format!("{cut}...")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(tip: &str, height: u32) -> StatusView {
        StatusView {
            node_id: "n".into(),
            network: "dev".into(),
            height,
            best_block_hash: tip.into(),
            active_peers: 2,
            pending_transactions: 1,
            mempool_bytes: 0,
            tip_time: 0,
            utxo_commitment: String::new(),
            ..StatusView::default()
        }
    }

    fn node(id: &str, state: Result<StatusView, String>) -> NodeStatus {
        NodeStatus {
            node_id: id.into(),
            state,
        }
    }

    const TIP_A: &str = "00000a1b2c3d4e5f60718293a4b5c6d7e8f9";
    const TIP_B: &str = "00000fffffffffff60718293a4b5c6d7e8f9";

    #[test]
    fn status_lines_show_height_short_tip_peers_and_mempool() {
        let nodes = [
            node("node0", Ok(status(TIP_A, 12))),
            node("node1", Err("cannot reach".into())),
        ];
        assert_eq!(
            render_status(&nodes, 50_607),
            "status at 14:03:27 UTC\n\
             \x20 node0  height     12  tip 00000a1b2c3d4e5f  peers  2  mempool    1\n\
             \x20 node1  down: cannot reach\n\
             \x20 agreement: ? (1 of 2 answer, on tip 00000a1b2c3d4e5f)\n"
        );
    }

    #[test]
    fn agreement_needs_every_node_on_one_tip() {
        let agree = [
            node("a", Ok(status(TIP_A, 3))),
            node("b", Ok(status(TIP_A, 3))),
        ];
        assert_eq!(
            agreement(&agree),
            "agreement: yes, all 2 on tip 00000a1b2c3d4e5f at height 3"
        );
        let split = [
            node("a", Ok(status(TIP_A, 3))),
            node("b", Ok(status(TIP_B, 3))),
        ];
        assert_eq!(
            agreement(&split),
            "agreement: NO, 2 tips among 2 answering nodes"
        );
        assert_eq!(
            agreement(&[node("a", Err("x".into()))]),
            "agreement: ? (no node answers)"
        );
    }

    #[test]
    fn the_table_lists_urls_peer_ids_explorer_links_and_wallet_use() {
        let summary = Summary {
            dir: ".cluster".into(),
            nodes: vec![NodeRow {
                node_id: "node0".into(),
                url: "http://127.0.0.1:5000".into(),
                p2p: "/ip4/127.0.0.1/tcp/8000".into(),
                peer_id: "12D3KooWabc".into(),
            }],
            miners: vec![MinerRow {
                name: "miner0".into(),
                address: "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa".into(),
                wallet: ".cluster/wallets/miner0.json".into(),
                node: "http://127.0.0.1:5000".into(),
                log: ".cluster/miner0.log".into(),
            }],
            databases: "SQLite, .cluster/node<i>/chain.db".into(),
            passphrase: Some(".cluster/wallets/passphrase".into()),
            wallet_binary: "target/debug/chaincore-wallet".into(),
        };
        let text = render_summary(&summary);
        assert!(text.starts_with(
            "node   REST URL               P2P address              peer id      explorer\n\
             node0  http://127.0.0.1:5000  /ip4/127.0.0.1/tcp/8000  12D3KooWabc  http://127.0.0.1:5000/\n"
        ), "{text}");
        assert!(text.contains(
            "CHAINCORE_WALLET_PASSPHRASE=$(cat .cluster/wallets/passphrase) target/debug/chaincore-wallet balance \
             --wallet .cluster/wallets/miner0.json --node http://127.0.0.1:5000"
        ));
        assert!(text.contains("miner0  1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa  http://127.0.0.1:5000"));
        assert!(text.ends_with("cluster ready: 1 node(s), 1 miner(s); Ctrl-C stops them all\n"));
    }

    #[test]
    fn a_terminal_redraws_in_place_and_keeps_messages_above() {
        let mut board = Board::new(true);
        assert_eq!(board.show("a\nb\n".into()).unwrap(), "a\nb\n");
        assert_eq!(board.show("c\nd\n".into()).unwrap(), "\x1b[2F\x1b[Jc\nd\n");
        assert_eq!(
            board.message("node1 exited"),
            "\x1b[2F\x1b[Jnode1 exited\nc\nd\n"
        );
    }

    #[test]
    fn elsewhere_one_block_in_five_is_printed() {
        let mut board = Board::new(false);
        let printed: Vec<bool> = (0..11)
            .map(|i| board.show(format!("{i}\n")).is_some())
            .collect();
        assert_eq!(
            printed,
            [
                true, false, false, false, false, true, false, false, false, false, true
            ]
        );
        assert_eq!(board.message("hello"), "hello\n");
    }
}
