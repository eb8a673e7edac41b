//! Storage faults: a node whose database goes away (PostgreSQL stopped at once, its
//! connections killed, a full disk) beside a reference node on a healthy database.
//!
//! Each test defends the rule of `chainstate`: the node never acknowledges what it has not
//! committed, never lets its memory run ahead of its database, and recovers by itself.
//! Afterwards, every time: every block and transaction it acknowledged (an event, a 2xx) is
//! in its database; it converged with the reference node without a restart (same process)
//! onto the same tip and UTXO commitment; and a restart comes back on that tip.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chaincore::primitives::{Address, encode};
use chaincore::testkit::key;
use chaincore_tests::client::Client;
use chaincore_tests::db::Backend;
use chaincore_tests::events::Events;
use chaincore_tests::miner::{block_on, mine, mine_many};
use chaincore_tests::node::{NodeOptions, NodeProcess, signal};
use chaincore_tests::pgserver::PgServer;
use chaincore_tests::wallet::pay;
use chaincore_tests::{eventually, within};
use serde_json::{Value, json};

/// How long a node may take to notice, recover, or catch up.
const DEADLINE: Duration = Duration::from_secs(90);

/// What a node acknowledged on its event stream: blocks connected, transactions accepted.
#[derive(Debug, Default)]
struct Acks {
    blocks: HashSet<String>,
    txs: HashSet<String>,
}

/// A reference node on SQLite and the node under test on a private PostgreSQL server.
/// Fields drop in order: the nodes stop before their server.
struct Lab {
    node: NodeProcess,
    reference: NodeProcess,
    server: PgServer,
    acks: Arc<Mutex<Acks>>,
    recorder: tokio::task::JoinHandle<()>,
    pid: u32,
    /// The node's database.
    database_url: String,
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.recorder.abort();
    }
}

fn payout() -> Address {
    key(3).address()
}

async fn start_node(name: &str, args: &[String]) -> NodeProcess {
    let mut extra_args = vec!["--rate-limit".to_owned(), "0".to_owned()];
    extra_args.extend(args.iter().cloned());
    NodeProcess::start(NodeOptions {
        backend: Backend::Sqlite,
        node_id: name.into(),
        extra_args,
    })
    .await
    .expect("a SQLite node always starts")
}

impl Lab {
    /// The reference node with `premined` blocks, then the node under test on `database`
    /// (the private server's when `None`), bootstrapped from it when `connect`.
    async fn start(premined: usize, connect: bool, database: Option<String>) -> Option<Lab> {
        let server = PgServer::start()?;
        let url = match database {
            Some(url) => url,
            None => server.create_database("chain"),
        };
        let reference = start_node("reference", &[]).await;
        mine_many(&Client::new(&reference.url), &payout(), premined).await;
        let database_url = url.clone();
        let mut args = vec!["--database-url".to_owned(), url];
        if connect {
            args.extend(["--bootstrap-nodes".to_owned(), reference.url.clone()]);
        }
        let node = start_node("faulty", &args).await;
        let acks = Arc::new(Mutex::new(Acks::default()));
        let recorder = tokio::spawn(record_events(Client::new(&node.url), Arc::clone(&acks)));
        let pid = node.pid();
        Some(Lab {
            node,
            reference,
            server,
            acks,
            recorder,
            pid,
            database_url,
        })
    }

    fn client(&self) -> Client {
        Client::new(&self.node.url)
    }

    fn reference_client(&self) -> Client {
        Client::new(&self.reference.url)
    }

    /// Waits until the node says its database is lost, and checks what it still answers.
    async fn wait_storage_down(&self) -> Value {
        let client = self.client();
        // The body of the answer that said so: a full disk may take a small write now and
        // then, so the node can be back up by the next request.
        let seen = Mutex::new(Value::Null);
        eventually("the node to report its database lost", DEADLINE, || async {
            let reply = client.get("/health").await;
            let down = reply.status == 503 && reply.body["storage"] == "down";
            *seen.lock().expect("not poisoned") = reply.body;
            down
        })
        .await;
        let health = seen.into_inner().expect("not poisoned");
        assert!(health["storage_down_since"].as_u64().is_some(), "{health}");
        // Reads memory can answer keep working.
        assert_eq!(client.get("/status").await.status, 200);
        assert_eq!(client.get("/blocks/tip/height").await.status, 200);
        assert!(client.metric("chaincore_storage_outages_total", "").await >= 1.0);
        health
    }

    /// Starts the server again while the reference node is paused, so the node cannot
    /// fetch anything again: what it acknowledged before must be in its database already.
    async fn resume_with_reference_paused(&self, what: &str) {
        signal(self.reference.pid(), nix::sys::signal::Signal::SIGSTOP);
        self.server.resume();
        let client = self.client();
        eventually(
            &format!("{what}: the database taking writes again"),
            DEADLINE,
            || async { client.get("/health").await.status == 200 },
        )
        .await;
        self.assert_acknowledged_stored(what).await;
        signal(self.reference.pid(), nix::sys::signal::Signal::SIGCONT);
    }

    /// Waits until the node is on the reference node's tip with the same UTXO set, as the
    /// same process; then checks what it acknowledged is stored and that a restart comes
    /// back on that tip.
    async fn assert_recovered(&mut self, what: &str) {
        let (client, reference) = (self.client(), self.reference_client());
        let back = within(DEADLINE, || async {
            client.get("/health").await.status == 200
                && client.tip_hash().await == reference.tip_hash().await
        })
        .await;
        assert!(
            back,
            "{what}: timed out after {DEADLINE:?} waiting for the node back on the reference \
             tip; its log ends:\n{}",
            self.node.log_tail()
        );
        assert_eq!(
            self.node.pid(),
            self.pid,
            "{what}: recovered without a restart"
        );
        let (mine, theirs) = (client.status().await, reference.status().await);
        assert_eq!(mine["utxo_commitment"], theirs["utxo_commitment"], "{what}");
        assert_eq!(
            mine["total_supply_units"], theirs["total_supply_units"],
            "{what}"
        );
        self.assert_acknowledged_stored(what).await;

        let tip = client.tip_hash().await;
        let args: Vec<String> = vec![
            "--rate-limit".into(),
            "0".into(),
            "--database-url".into(),
            self.database_url.clone(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.node.restart(&args);
        assert_eq!(
            self.client().tip_hash().await,
            tip,
            "{what}: a restart keeps the tip"
        );
    }

    /// `SELECT count(*) ...` on the node's database, `{key}` standing for `key` as a
    /// bytes literal of its backend.
    async fn count(&self, query: &str, key: &str) -> i64 {
        use sea_orm::{ConnectionTrait, Database, Statement};
        let literal = if self.database_url.starts_with("sqlite:") {
            format!("X'{key}'")
        } else {
            format!("'\\x{key}'::bytea")
        };
        let conn = Database::connect(self.database_url.as_str())
            .await
            .expect("connect to the node's database");
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                query.replace("{key}", &literal),
            ))
            .await
            .expect("a count")
            .expect("a row");
        row.try_get_by_index::<i64>(0).expect("an integer")
    }

    /// Whether the node's database holds `txid`, in its mempool or in a block.
    async fn tx_stored(&self, txid: &str) -> bool {
        let query = "SELECT (SELECT count(*) FROM mempool WHERE txid = {key}) \
                     + (SELECT count(*) FROM transactions WHERE txid = {key})";
        self.count(query, txid).await == 1
    }

    async fn assert_acknowledged_stored(&self, what: &str) {
        let acks = {
            let acks = self.acks.lock().expect("not poisoned");
            Acks {
                blocks: acks.blocks.clone(),
                txs: acks.txs.clone(),
            }
        };
        for hash in &acks.blocks {
            let query = "SELECT count(*) FROM blocks WHERE hash = {key} AND data IS NOT NULL";
            let stored = self.count(query, hash).await;
            assert_eq!(stored, 1, "{what}: acknowledged block {hash} is stored");
        }
        for txid in &acks.txs {
            assert!(
                self.tx_stored(txid).await,
                "{what}: acknowledged transaction {txid} is stored"
            );
        }
        assert!(
            !acks.blocks.is_empty(),
            "{what}: the node acknowledged blocks"
        );
    }
}

/// Records the node's `block_connected` and `tx_accepted` events.
async fn record_events(client: Client, acks: Arc<Mutex<Acks>>) {
    let Some(mut events) = Events::open(&client).await else {
        return;
    };
    while let Some((kind, data)) = events.next().await {
        let id = |field: &str| data[field].as_str().unwrap_or_default().to_owned();
        let mut acks = acks.lock().expect("not poisoned");
        match kind.as_str() {
            "block_connected" => acks.blocks.insert(id("hash")),
            "tx_accepted" => acks.txs.insert(id("txid")),
            _ => false,
        };
    }
}

#[tokio::test]
async fn postgres_stopped_while_idle_then_back() {
    let Some(mut lab) = Lab::start(5, true, None).await else {
        return;
    };
    let (client, reference) = (lab.client(), lab.reference_client());
    eventually("the node synced", DEADLINE, || async {
        client.height().await == 5
    })
    .await;

    lab.server.stop_immediately();
    // A block straight to the node: refused with 503, not acknowledged.
    let block = block_on(
        &reference,
        &reference.tip_hash().await,
        &payout(),
        b"direct",
    )
    .await;
    let reply = client
        .post(
            "/submit_block",
            &json!({"block_hex": hex::encode(encode(&block))}),
        )
        .await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.body["code"], "storage-unavailable", "{}", reply.text);
    mine_many(&reference, &payout(), 2).await;
    let health = lab.wait_storage_down().await;
    assert!(health["storage_error"].as_str().is_some(), "{health}");

    lab.resume_with_reference_paused("idle").await;
    mine_many(&reference, &payout(), 3).await;
    lab.assert_recovered("idle").await;
}

/// The first write the node attempts after the server stops is its first peer's headers:
/// once the server is back, the node must ask that (idle) peer for them again, not hold the
/// database's failure against it.
#[tokio::test]
async fn postgres_stopped_before_the_first_headers() {
    let Some(mut lab) = Lab::start(20, false, None).await else {
        return;
    };
    lab.server.stop_immediately();
    let reply = lab
        .client()
        .post("/addpeer", &json!({"peer_url": lab.reference.url}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    lab.wait_storage_down().await;
    lab.server.resume();
    lab.assert_recovered("before the first headers").await;
}

#[tokio::test]
async fn postgres_stopped_during_block_connect() {
    let Some(mut lab) = Lab::start(400, true, None).await else {
        return;
    };
    let client = lab.client();
    eventually("the sync under way", DEADLINE, || async {
        client.height().await >= 40
    })
    .await;
    lab.server.stop_immediately();
    let height_when_lost = client.height().await;
    lab.wait_storage_down().await;
    assert!(
        height_when_lost < 400,
        "the database went away mid-sync ({height_when_lost})"
    );
    lab.resume_with_reference_paused("during connect").await;
    lab.assert_recovered("during connect").await;
}

#[tokio::test]
async fn postgres_stopped_in_the_middle_of_a_50_block_reorg() {
    let Some(mut lab) = Lab::start(52, false, None).await else {
        return;
    };
    let client = lab.client();
    mine_many(&client, &key(4).address(), 50).await;
    client
        .post("/addpeer", &json!({"peer_url": lab.reference.url}))
        .await
        .ok();
    let log = lab.node.log.clone();
    eventually("the reorg to begin", DEADLINE, || async {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("reorganising")
    })
    .await;
    // Paused, the node cannot finish the reorg before its database is gone.
    signal(lab.node.pid(), nix::sys::signal::Signal::SIGSTOP);
    lab.server.stop_immediately();
    signal(lab.node.pid(), nix::sys::signal::Signal::SIGCONT);
    lab.wait_storage_down().await;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let begun = text.find("reorganising").expect("begun");
    let lost = text[begun..].find("lost the database").map(|at| begun + at);
    let done = text[begun..].find("reorganised").map(|at| begun + at);
    assert!(
        lost.is_some() && done.is_none_or(|d| lost < Some(d)),
        "the reorg was cut short:\n{}",
        lab.node.log_tail()
    );
    lab.resume_with_reference_paused("mid-reorg").await;
    lab.assert_recovered("mid-reorg").await;
    let tip_height = lab.client().height().await;
    assert_eq!(tip_height, 52, "on the reference chain");
}

#[tokio::test]
async fn postgres_stopped_while_transactions_arrive() {
    let Some(mut lab) = Lab::start(0, true, None).await else {
        return;
    };
    let client = lab.client();
    // Coins for key(1), mature on both nodes.
    mine_many(&client, &key(1).address(), 40).await;
    let reference = lab.reference_client();
    eventually("the reference synced", DEADLINE, || async {
        reference.height().await == 40
    })
    .await;
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for which in 0..24 {
        if which == 8 {
            lab.server.stop_immediately();
        }
        if which == 16 {
            lab.wait_storage_down().await;
            lab.server.resume();
            eventually("the node back", DEADLINE, || async {
                client.get("/health").await.status == 200
            })
            .await;
        }
        let tx = pay(&reference, which, &key(2).address(), 1, 10_000).await;
        let reply = client
            .post(
                "/add_transaction",
                &json!({"hex": hex::encode(encode(&tx))}),
            )
            .await;
        match reply.status {
            200 => acknowledged.push(reply.body["txid"].as_str().unwrap().to_owned()),
            503 => refused += 1,
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    assert!(refused > 0, "some payments met the outage");
    assert!(acknowledged.len() >= 16, "{acknowledged:?}");
    mine(&reference, &payout()).await;
    lab.assert_recovered("transactions").await;
    for txid in &acknowledged {
        assert!(
            lab.tx_stored(txid).await,
            "acknowledged payment {txid} is stored"
        );
    }
}

#[tokio::test]
async fn connections_terminated_during_commits() {
    let Some(mut lab) = Lab::start(300, true, None).await else {
        return;
    };
    let client = lab.client();
    eventually("the sync under way", DEADLINE, || async {
        client.height().await >= 20
    })
    .await;
    let mut lost = 0;
    for _ in 0..30 {
        let killed = lab.server.sql(
            "postgres",
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = 'chain' AND pid <> pg_backend_pid()",
        );
        lost += killed.parse::<u32>().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(lost > 0, "connections were terminated");
    lab.assert_recovered("terminated connections").await;
}

#[tokio::test]
async fn sqlite_on_a_full_disk_during_sync() {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        assert!(
            std::env::var("CHAINCORE_REQUIRE_NETNS").as_deref() != Ok("1"),
            "CHAINCORE_REQUIRE_NETNS=1 but not root: a tmpfs cannot be mounted"
        );
        eprintln!("\n*** SKIPPED: mounting a small tmpfs needs root ***\n");
        return;
    }
    let mount = tempfile::tempdir().expect("a mount point");
    let mount_path = mount.path().display().to_string();
    let run = |args: &[&str]| {
        let status = std::process::Command::new("mount")
            .args(args)
            .status()
            .expect("mount");
        assert!(status.success(), "mount {args:?}");
    };
    run(&["-t", "tmpfs", "-o", "size=3m", "tmpfs", &mount_path]);
    let url = format!("sqlite://{mount_path}/chain.db?mode=rwc");
    let Some(mut lab) = Lab::start(600, true, Some(url)).await else {
        run(&["-o", "remount,size=64m", &mount_path]);
        let _ = std::process::Command::new("umount")
            .arg(&mount_path)
            .status();
        return;
    };
    let health = lab.wait_storage_down().await;
    let cause = health["storage_error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(cause.contains("full"), "the error names the cause: {cause}");

    run(&["-o", "remount,size=256m", &mount_path]);
    lab.assert_recovered("full disk").await;
    drop(lab);
    let _ = std::process::Command::new("umount")
        .arg(&mount_path)
        .status();
}
