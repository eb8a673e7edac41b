//! `chaincore-cluster` as `just cluster` runs it: nodes that find each other from node 0's
//! REST URL and agree on the tip, miners whose blocks every node follows, one PostgreSQL
//! database per node that `down` drops, and Ctrl-C stopping every process it started.
//!
//! Each test takes its own directory and a random run of free ports (never 5000/8000), so
//! tests run in parallel with each other and with a developer's own cluster. Whatever a
//! test started is stopped and removed when it ends, pass or fail.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chaincore_tests::client::Client;
use chaincore_tests::db::postgres_admin;
use chaincore_tests::eventually;
use chaincore_tests::node::signal;
use chaincore_tests::tools::{ToolProcess, run_tool};
use nix::sys::signal::Signal;
use serde_json::Value;

/// How long the cluster may take to print its table (every node started, fresh databases).
const START: Duration = Duration::from_secs(120);
/// How long nodes may take to connect to each other.
const CONNECT: Duration = Duration::from_secs(60);
/// How long the cluster may take to stop everything after Ctrl-C.
const STOP: Duration = Duration::from_secs(20);
/// How long miners may take to get every node past height 3 on one tip.
const MINING: Duration = Duration::from_secs(120);

/// A `chaincore-cluster` process in a temporary directory; when dropped, it is interrupted,
/// any process it recorded that still runs is killed, and `down` removes what it left.
struct Cluster {
    process: ToolProcess,
    root: tempfile::TempDir,
    dir: PathBuf,
    /// Every pid the cluster recorded, kept after it clears them from cluster.json.
    seen: Vec<u32>,
}

impl Cluster {
    fn start(nodes: u16, extra: &[&str]) -> Self {
        let root = tempfile::tempdir().expect("a temporary directory");
        let dir = root.path().join("cluster");
        let (api, p2p) = free_port_bases(nodes);
        let (api, p2p, n) = (api.to_string(), p2p.to_string(), nodes.to_string());
        let dir_arg = dir.display().to_string();
        let mut args = vec![
            n.as_str(),
            "--dir",
            &dir_arg,
            "--api-base",
            &api,
            "--p2p-base",
            &p2p,
        ];
        args.extend_from_slice(extra);
        let process = ToolProcess::start("chaincore-cluster", &args, root.path());
        Self {
            process,
            root,
            dir,
            seen: Vec::new(),
        }
    }

    /// Waits for the table, then returns cluster.json.
    async fn wait_ready(&mut self) -> Value {
        self.process.wait_for_line("cluster ready:", START).await;
        let record = self.record();
        self.seen = recorded_pids(&record, "nodes")
            .into_iter()
            .chain(recorded_pids(&record, "miners"))
            .chain(record["supervisor_pid"].as_u64().and_then(to_pid))
            .collect();
        record
    }

    fn record(&self) -> Value {
        let text = std::fs::read_to_string(self.dir.join("cluster.json")).expect("cluster.json");
        serde_json::from_str(&text).expect("cluster.json is JSON")
    }

    fn clients(record: &Value) -> Vec<Client> {
        record["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| Client::new(n["url"].as_str().expect("a url")))
            .collect()
    }

    /// Ctrl-C, as a user would; its exit code once it has exited.
    async fn interrupt(&mut self, record: &Value) -> Option<i32> {
        let pid = record["supervisor_pid"]
            .as_u64()
            .and_then(to_pid)
            .expect("the cluster's pid");
        signal(pid, Signal::SIGINT);
        self.process.wait_exit(STOP).await
    }

    fn down(&self) -> String {
        let dir = self.dir.display().to_string();
        run_tool(
            "chaincore-cluster",
            &["down", "--dir", &dir],
            self.root.path(),
        )
        .ok()
        .to_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.process.interrupt();
        let recorded = std::fs::read_to_string(self.dir.join("cluster.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .map(|r| [recorded_pids(&r, "nodes"), recorded_pids(&r, "miners")].concat())
            .unwrap_or_default();
        for pid in self.seen.iter().chain(&recorded) {
            if alive(*pid) {
                signal(*pid, Signal::SIGKILL);
            }
        }
        if self.dir.exists() {
            let dir = self.dir.display().to_string();
            let _ = run_tool(
                "chaincore-cluster",
                &["down", "--dir", &dir],
                self.root.path(),
            );
        }
    }
}

fn to_pid(pid: u64) -> Option<u32> {
    u32::try_from(pid).ok()
}

/// The pids recorded for "nodes" or "miners".
fn recorded_pids(record: &Value, group: &str) -> Vec<u32> {
    record[group]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e["pid"].as_u64().and_then(to_pid))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `pid` is a live process (a zombie does not count).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let after_name = stat.rsplit_once(')')?.1;
            after_name.split_whitespace().next().map(|s| s != "Z")
        })
        .unwrap_or(false)
}

/// REST and P2P base ports with `count` free ports each, below the kernel's ephemeral
/// range so that no outgoing connection takes one meanwhile.
fn free_port_bases(count: u16) -> (u16, u16) {
    let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    for _ in 0..200 {
        let api = fastrand::u16(20_000..32_000);
        let p2p = api + 100;
        if (0..count).all(|i| free(api + i) && free(p2p + i)) {
            return (api, p2p);
        }
    }
    panic!("no run of {count} free ports in 20000..32100");
}

/// Each node's best block hash, or `None` if a node does not answer.
async fn tips(clients: &[Client]) -> Option<Vec<(u64, String)>> {
    let mut tips = Vec::new();
    for client in clients {
        let reply = client.get("/status").await;
        if reply.status != 200 {
            return None;
        }
        let height = reply.body["height"].as_u64()?;
        tips.push((height, reply.body["best_block_hash"].as_str()?.to_owned()));
    }
    Some(tips)
}

fn one_tip(tips: &[(u64, String)]) -> bool {
    tips.windows(2).all(|w| w[0].1 == w[1].1)
}

/// On a failing test, prints the tips last seen and what each node logged about its peers,
/// before the cluster (and its logs) is removed.
struct FailureReport<'a> {
    dir: &'a Path,
    tips: &'a std::sync::Mutex<Vec<(u64, String)>>,
}

impl Drop for FailureReport<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        eprintln!("tips last seen: {:?}", self.tips.lock().map(|t| t.clone()));
        for i in 0.. {
            let Ok(log) = std::fs::read_to_string(self.dir.join(format!("node{i}/node.log")))
            else {
                break;
            };
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("--- node{i}: the last 40 of {} log lines", lines.len());
            for line in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{line}");
            }
        }
    }
}

/// Asserts that every process the cluster recorded has gone.
fn assert_all_gone(pids: &[u32]) {
    assert!(!pids.is_empty());
    let running: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    assert!(
        running.is_empty(),
        "still running after Ctrl-C: {running:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_connect_agree_and_stop_on_ctrl_c() {
    let mut cluster = Cluster::start(3, &["--database-url", "sqlite:"]);
    let record = cluster.wait_ready().await;
    let table = cluster.process.output();
    let nodes = record["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 3);
    for node in nodes {
        let (url, peer_id) = (
            node["url"].as_str().unwrap(),
            node["peer_id"].as_str().unwrap(),
        );
        assert!(peer_id.starts_with("12D3KooW"), "{node}");
        assert!(
            table.contains(peer_id) && table.contains(&format!("{url}/")),
            "the table lacks {url} or {peer_id}:\n{table}"
        );
    }
    let clients = Cluster::clients(&record);
    let started = Instant::now();
    eventually(
        "every node connected to the two others",
        CONNECT,
        || async {
            let mut counts = Vec::new();
            for client in &clients {
                counts.push(client.get("/peers").await.body["count"].as_u64());
            }
            counts.iter().all(|c| *c == Some(2))
        },
    )
    .await;
    eprintln!(
        "3 nodes fully connected {:?} after the table",
        started.elapsed()
    );
    let tips = tips(&clients).await.expect("every node answers /status");
    assert!(one_tip(&tips), "{tips:?}");
    cluster
        .process
        .wait_for_line("agreement: yes, all 3 on tip", CONNECT)
        .await;

    let pids = cluster.seen.clone();
    let stopping = Instant::now();
    assert_eq!(cluster.interrupt(&record).await, Some(0));
    eprintln!("stopped in {:?}", stopping.elapsed());
    assert_all_gone(&pids);
    let output = cluster.process.output();
    for node in ["node0", "node1", "node2"] {
        assert!(
            output.contains(&format!("{node} stopped (exit code 0)")),
            "{output}"
        );
    }
    let after = cluster.record();
    assert!(
        recorded_pids(&after, "nodes").is_empty(),
        "pids cleared: {after}"
    );
    assert!(cluster.dir.join("node0/node.log").exists(), "logs stay");

    cluster.down();
    assert!(!cluster.dir.exists(), "down removes the directory");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_and_two_miners_agree_on_a_growing_chain() {
    let mut cluster = Cluster::start(5, &["--miners", "2", "--database-url", "sqlite:"]);
    let record = cluster.wait_ready().await;
    let miners = record["miners"].as_array().expect("miners");
    assert_eq!(miners.len(), 2);
    for miner in miners {
        let wallet = Path::new(miner["wallet"].as_str().unwrap());
        assert!(wallet.exists(), "{}", wallet.display());
    }
    let clients = Cluster::clients(&record);
    let started = Instant::now();
    let last = std::sync::Mutex::new(Vec::new());
    let dir = cluster.dir.clone();
    let _report = FailureReport {
        dir: &dir,
        tips: &last,
    };
    eventually(
        "all 5 nodes at height 30 or more (past the first races), on one tip",
        MINING,
        || async {
            let Some(tips) = tips(&clients).await else {
                return false;
            };
            let agreed = one_tip(&tips) && tips.iter().all(|(height, _)| *height >= 30);
            *last.lock().unwrap() = tips;
            agreed
        },
    )
    .await;
    eprintln!(
        "5 nodes agreed at height {} after {:?}",
        last.lock().unwrap()[0].0,
        started.elapsed()
    );
    // Miners racing at one height are honest: nobody may be charged or banned for it.
    for client in &clients {
        let charged = client
            .metric(
                "chaincore_peer_penalties_total",
                "offence=\"unrequested-blocks\"",
            )
            .await;
        assert_eq!(
            charged,
            0.0,
            "{}: racing miners' blocks were charged",
            client.base()
        );
        let peers = client.get("/peers").await.ok();
        let banned = peers["banned"].as_array().map_or(0, Vec::len);
        assert_eq!(
            banned,
            0,
            "{}: banned an honest peer: {peers}",
            client.base()
        );
    }
    let paid = async |address: &str| {
        let balance = clients[0].get(&format!("/balance/{address}")).await.ok();
        balance["confirmed_units"].as_u64().unwrap_or(0)
            + balance["immature_units"].as_u64().unwrap_or(0)
    };
    let mut total = 0;
    for miner in miners {
        total += paid(miner["address"].as_str().unwrap()).await;
    }
    assert!(total > 0, "the miners' wallets were paid");

    let pids = cluster.seen.clone();
    assert_eq!(cluster.interrupt(&record).await, Some(0));
    assert_all_gone(&pids);
}

/// Which databases whose names start with `prefix` exist.
async fn databases(admin: &sea_orm::DatabaseConnection, prefix: &str) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Statement};
    let statement = Statement::from_string(
        admin.get_database_backend(),
        "SELECT datname FROM pg_database ORDER BY datname",
    );
    admin
        .query_all_raw(statement)
        .await
        .expect("list databases")
        .iter()
        .map(|row| row.try_get::<String>("", "datname").expect("a name"))
        .filter(|name| name.starts_with(prefix))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_gives_each_node_a_database_that_down_drops() {
    let Some((admin_url, admin)) = postgres_admin().await else {
        return;
    };
    // Unique per run: never a database of another test, run or user.
    let prefix = format!(
        "cc_test_cluster_{}_{}",
        std::process::id(),
        fastrand::u32(..)
    );
    let mut cluster = Cluster::start(2, &["--database-url", &admin_url, "--db-prefix", &prefix]);
    let record = cluster.wait_ready().await;
    let expected = [format!("{prefix}_node0"), format!("{prefix}_node1")];
    assert_eq!(databases(&admin, &prefix).await, expected);
    assert_eq!(record["postgres"]["databases"], serde_json::json!(expected));

    let clients = Cluster::clients(&record);
    eventually("the two nodes connected, on one tip", CONNECT, || async {
        let mut connected = true;
        for client in &clients {
            connected &= client.get("/peers").await.body["count"].as_u64() == Some(1);
        }
        connected && tips(&clients).await.is_some_and(|t| one_tip(&t))
    })
    .await;

    let pids = cluster.seen.clone();
    assert_eq!(cluster.interrupt(&record).await, Some(0));
    assert_all_gone(&pids);
    assert_eq!(
        databases(&admin, &prefix).await,
        expected,
        "kept until down"
    );
    let said = cluster.down();
    assert!(
        said.contains(&format!("dropped database {prefix}_node0")),
        "{said}"
    );
    assert!(databases(&admin, &prefix).await.is_empty());
    assert!(!cluster.dir.exists());
}
