//! The miner, wallet and monitor binaries against real `chaincore-node` processes: a miner
//! pays wallet A, A pays B through the wallet CLI with exact amounts, the fee lands in the
//! next coinbase, both histories carry merkle proofs the wallet checks (and rejects when a
//! proxy tampers with them); bad wallet input changes nothing; the miner drops a stale
//! template as soon as a competing block arrives; the monitor reports two nodes.

use std::path::Path;
use std::time::{Duration, Instant};

use chaincore::consensus::{Network, block_subsidy};
use chaincore::primitives::{Address, Amount, Height};
use chaincore_tests::client::Client;
use chaincore_tests::db::Backend;
use chaincore_tests::eventually;
use chaincore_tests::miner::{block_from_template, mine_many, solve, submit};
use chaincore_tests::node::{NodeOptions, NodeProcess};
use chaincore_tests::tools::{Ran, ToolProcess, WalletFile, run_tool, run_tool_with};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How long mining a handful of dev blocks, or a payment's confirmation, may take.
const MINING: Duration = Duration::from_secs(120);

async fn node(name: &str, args: &[&str]) -> NodeProcess {
    let mut extra_args = vec!["--rate-limit".to_owned(), "0".to_owned()];
    extra_args.extend(args.iter().map(|a| (*a).to_owned()));
    NodeProcess::start(NodeOptions {
        backend: Backend::Sqlite,
        node_id: name.into(),
        extra_args,
    })
    .await
    .expect("SQLite nodes always start")
}

fn units(coins: &str) -> u64 {
    coins.parse::<Amount>().expect("a test amount").units()
}

async fn balance_units(client: &Client, address: &str) -> (u64, u64) {
    let b = client.get(&format!("/balance/{address}")).await.ok();
    (
        b["confirmed_units"].as_u64().unwrap(),
        b["immature_units"].as_u64().unwrap(),
    )
}

/// Runs the miner paying `payout` until it has `blocks` accepted blocks, and checks it
/// stopped by itself and reported them.
async fn mine_with_cli(dir: &Path, node: &str, payout: &str, blocks: u32) -> String {
    let blocks = blocks.to_string();
    let args = [
        "--wallet",
        payout,
        "--node",
        node,
        "--threads",
        "1",
        "--blocks",
        &blocks,
    ];
    let mut miner = ToolProcess::start("chaincore-miner", &args, dir);
    assert_eq!(miner.wait_exit(MINING).await, Some(0), "{}", miner.output());
    let output = miner.output();
    assert!(output.contains(&format!("{blocks} accepted")), "{output}");
    output
}

/// A script's shortcut on a dev chain: the wallet has the node mine blocks paying it, at
/// once; the main network refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_has_a_dev_node_mine_blocks_paying_it() {
    let dev = node("dev", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let alice = WalletFile::create(dir.path(), "alice.json");
    let ran = alice.run("generate", &dev.url, &["--blocks", "11"]);
    assert!(ran.ok().contains("mined 11 blocks"), "{}", ran.stdout);
    let params = Network::Dev.params();
    let mined: u64 = (1..=11)
        .map(|h| block_subsidy(Height::new(h), params).units())
        .sum();
    let client = Client::new(&dev.url);
    assert_eq!(balance_units(&client, &alice.address).await.0, mined);
    let hashes: Vec<&str> = ran.stdout.lines().filter(|l| l.len() == 64).collect();
    assert_eq!(
        hashes.last().copied(),
        Some(client.tip_hash().await.as_str())
    );

    let refused = alice.run("generate", &dev.url, &["--blocks", "0"]);
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    let main = node("main", &["--network", "main"]).await;
    let refused = alice.run("generate", &main.url, &["--blocks", "1"]);
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("main network"),
        "{}",
        refused.stderr
    );
    assert_eq!(Client::new(&main.url).height().await, 0);
}

// Multi-threaded: the tampering proxy serves while the wallet command blocks this thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miner_pays_a_wallet_that_pays_another_exactly_with_checked_proofs() {
    let n0 = node("n0", &[]).await;
    let client = Client::new(&n0.url);
    let dir = tempfile::tempdir().unwrap();
    let alice = WalletFile::create(dir.path(), "alice.json");
    let bob = WalletFile::create(dir.path(), "bob.json");
    let miner = WalletFile::create(dir.path(), "miner.json");

    // Twelve blocks to A (paid through the wallet file): the first three are mature at 13.
    mine_with_cli(dir.path(), &n0.url, "alice.json", 12).await;
    let params = Network::Dev.params();
    let subsidy = |h: u32| block_subsidy(Height::new(h), params).units();
    let mined: u64 = (1..=12).map(subsidy).sum();
    assert_eq!(balance_units(&client, &alice.address).await.0, mined);
    let shown = alice.run("balance", &n0.url, &[]);
    assert!(
        shown
            .ok()
            .contains(&Amount::from_units(mined).unwrap().to_string()),
        "{}",
        shown.stdout
    );

    // A pays B 10.5 with a 0.25 fee and waits; a miner paying a third wallet confirms it.
    let sending = {
        let (name, url, to) = (alice.name.clone(), n0.url.clone(), bob.address.clone());
        let dir = dir.path().to_owned();
        tokio::task::spawn_blocking(move || {
            let args = [
                "send", "--wallet", &name, "--node", &url, "--to", &to, "--amount", "10.5",
                "--fee", "0.25", "--wait",
            ];
            run_tool("chaincore-wallet", &args, &dir)
        })
    };
    eventually("the payment in the mempool", MINING, || async {
        client.get("/mempool").await.ok()["count"] == 1
    })
    .await;
    mine_with_cli(dir.path(), &n0.url, "miner.json", 1).await;
    let sent = sending.await.unwrap();
    let txid = sent
        .ok()
        .lines()
        .find_map(|l| l.strip_prefix("txid "))
        .expect("a txid")
        .to_owned();
    assert!(
        sent.stdout.contains("confirmed in block 13"),
        "{}",
        sent.stdout
    );

    // Exact to the base unit: B got the amount, A kept the change, the fee went to the miner.
    let (amount, fee) = (units("10.5"), units("0.25"));
    assert_eq!(balance_units(&client, &bob.address).await.0, amount);
    assert_eq!(
        balance_units(&client, &alice.address).await.0,
        mined - amount - fee
    );
    let block_hash = client.get(&format!("/tx/{txid}/status")).await.ok()["block_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let txs = client.get(&format!("/block/{block_hash}/txs")).await.ok();
    let coinbase_out = &txs[0]["outputs"][0];
    assert_eq!(coinbase_out["address"], miner.address.as_str());
    assert_eq!(
        coinbase_out["amount_units"].as_u64(),
        Some(subsidy(13) + fee)
    );

    // Both histories show the payment, each with a merkle proof the wallet checked.
    for (wallet, net) in [(&alice, "-10.75000000"), (&bob, "+10.50000000")] {
        let history = wallet.run("history", &n0.url, &[]);
        let line = history
            .ok()
            .lines()
            .find(|l| l.contains(&txid))
            .unwrap_or_else(|| panic!("{}", history.stdout));
        assert!(line.contains(net) && line.ends_with(" ok"), "{line}");
    }

    // Through a proxy that alters merkle branches, the check fails and says so.
    let proxy = tampering_proxy(&n0.url).await;
    let tampered = bob.run("history", &proxy, &[]);
    assert_eq!(tampered.code, Some(6), "{tampered:?}");
    assert!(
        tampered
            .stdout
            .contains("FAILED: the merkle branch leads to"),
        "{}",
        tampered.stdout
    );
    assert!(
        tampered.stderr.contains("merkle proof does not hold"),
        "{}",
        tampered.stderr
    );
}

/// A local HTTP proxy to `node` that flips a digit of every merkle branch it passes on.
async fn tampering_proxy(node: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = Client::new(node);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&request);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let reply = upstream.get(&path).await;
                let mut body = reply.body;
                let branch = body["merkle"]
                    .get_mut(0)
                    .filter(|_| path.ends_with("/merkle-proof"));
                if let Some(first) = branch {
                    let hash = first.as_str().unwrap();
                    let flipped = if hash.ends_with('0') { '1' } else { '0' };
                    *first = Value::String(format!("{}{flipped}", &hash[..hash.len() - 1]));
                }
                let text = if body.is_null() {
                    reply.text
                } else {
                    body.to_string()
                };
                let response = format!(
                    "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    reply.status,
                    text.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    url
}

/// A file's bytes, to prove a failed command left it alone.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn bad_wallet_input_fails_clearly_and_touches_nothing() {
    let n0 = node("n0", &[]).await;
    let client = Client::new(&n0.url);
    let dir = tempfile::tempdir().unwrap();
    let alice = WalletFile::create(dir.path(), "alice.json");
    let bob = WalletFile::create(dir.path(), "bob.json");
    // Ten blocks: one mature coin (block 1's), nine immature ones.
    mine_many(&client, &alice.address.parse::<Address>().unwrap(), 10).await;
    let subsidy = block_subsidy(Height::new(1), Network::Dev.params());
    let (confirmed, immature) = balance_units(&client, &alice.address).await;
    assert_eq!(confirmed - immature, subsidy.units());

    let send = |args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec![
            "send",
            "--wallet",
            "alice.json",
            "--node",
            &n0.url,
            "--to",
            &bob.address,
        ];
        all.extend_from_slice(args);
        run_tool_with("chaincore-wallet", &all, dir.path(), env)
    };
    let right = [(
        "CHAINCORE_WALLET_PASSPHRASE",
        chaincore_tests::tools::PASSPHRASE,
    )];
    let wrong = [("CHAINCORE_WALLET_PASSPHRASE", "not the passphrase")];
    let broken_checksum = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb";
    let insufficient = format!(
        "only {subsidy} is spendable ({} more is immature coinbase",
        Amount::from_units(immature).unwrap()
    );
    let cases: Vec<(&str, Ran, i32, String)> = vec![
        (
            "wrong passphrase",
            send(&["--amount", "1"], &wrong),
            5,
            "wrong passphrase for alice.json".into(),
        ),
        (
            "insufficient funds",
            send(&["--amount", "100"], &right),
            4,
            insufficient,
        ),
        (
            "invalid address",
            run_tool(
                "chaincore-wallet",
                &[
                    "send",
                    "--wallet",
                    "alice.json",
                    "--node",
                    &n0.url,
                    "--to",
                    broken_checksum,
                    "--amount",
                    "1",
                ],
                dir.path(),
            ),
            2,
            format!("--to \"{broken_checksum}\" is not a valid address"),
        ),
        (
            "negative amount",
            send(&["--amount", "-1"], &right),
            2,
            "amount is negative".into(),
        ),
        (
            "negative fee",
            send(&["--amount", "1", "--fee", "-0.1"], &right),
            2,
            "--fee \"-0.1\": amount is negative".into(),
        ),
        (
            "over-precise amount",
            send(&["--amount", "0.000000001"], &right),
            2,
            "more than 8 decimal places".into(),
        ),
        (
            "malformed amount",
            send(&["--amount", "1e3"], &right),
            2,
            "not a decimal number of coins".into(),
        ),
        (
            "unreachable node",
            run_tool(
                "chaincore-wallet",
                &[
                    "balance",
                    "--wallet",
                    "alice.json",
                    "--node",
                    "http://127.0.0.1:1",
                ],
                dir.path(),
            ),
            3,
            "cannot reach the node at http://127.0.0.1:1".into(),
        ),
        (
            "existing file",
            run_tool(
                "chaincore-wallet",
                &["create", "--wallet", "alice.json"],
                dir.path(),
            ),
            5,
            "alice.json already exists".into(),
        ),
        (
            "export with a wrong passphrase",
            run_tool_with(
                "chaincore-wallet",
                &["export", "--wallet", "bob.json"],
                dir.path(),
                &wrong,
            ),
            5,
            "wrong passphrase for bob.json".into(),
        ),
        (
            "missing file",
            run_tool(
                "chaincore-wallet",
                &["info", "--wallet", "carol.json"],
                dir.path(),
            ),
            5,
            "cannot read carol.json".into(),
        ),
    ];
    let files = snapshot(dir.path());
    for (case, ran, code, message) in cases {
        assert_eq!(ran.code, Some(code), "{case}: {ran:?}");
        assert!(
            ran.stderr.contains(&message),
            "{case}: expected {message:?} in {:?}",
            ran.stderr
        );
        assert!(ran.stdout.is_empty(), "{case}: printed {:?}", ran.stdout);
    }
    assert_eq!(
        snapshot(dir.path()),
        files,
        "no file was created, changed or removed"
    );
    assert_eq!(
        client.get("/mempool").await.ok()["count"],
        0,
        "nothing was submitted"
    );
    assert_eq!(
        balance_units(&client, &alice.address).await,
        (confirmed, immature)
    );

    // The same key round-trips through export and import into a new file.
    let key = run_tool(
        "chaincore-wallet",
        &["export", "--wallet", "alice.json"],
        dir.path(),
    );
    let restored =
        std::process::Command::new(chaincore_tests::tools::tool_binary("chaincore-wallet"))
            .args(["import", "--wallet", "restored.json"])
            .current_dir(dir.path())
            .env("CHAINCORE_WALLET_PASSPHRASE", "another one")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(key.ok().as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
    assert!(String::from_utf8_lossy(&restored.stdout).contains(&alice.address));
}

#[tokio::test]
async fn the_miner_drops_a_stale_template_within_a_second_of_a_competing_block() {
    // The test network's difficulty (about 2^16 hashes a block) at 100 hashes a second:
    // the miner will not find block 1 itself, so the competing block decides.
    let n0 = node("n0", &["--network", "test"]).await;
    let client = Client::new(&n0.url);
    let dir = tempfile::tempdir().unwrap();
    let payout = chaincore::testkit::key(7).address().to_string();
    let args = [
        "--wallet",
        &payout,
        "--node",
        &n0.url,
        "--threads",
        "1",
        "--max-hashrate",
        "100",
        "--poll-ms",
        "5000",
    ];
    let mut miner = ToolProcess::start("chaincore-miner", &args, dir.path());
    miner
        .wait_for_line("mining block 1 ", Duration::from_secs(30))
        .await;

    let other = chaincore::testkit::key(8).address().to_string();
    let template = client
        .post("/mine_block", &json!({"miner_address": other}))
        .await
        .ok();
    let mut block = block_from_template(&template);
    let genesis_time = Network::Test.params().genesis_block().header.time;
    solve(&mut block, genesis_time, Network::Test);
    // Timed from the moment the block is sent: an upper bound on the time since it arrived.
    let sent = Instant::now();
    let reply = submit(&client, &block).await.ok();
    assert_eq!(reply["status"], "accepted", "{reply}");

    let hash = block.header.block_hash().to_string();
    let (dropped_at, line) = miner
        .wait_for_line("dropped template", Duration::from_secs(10))
        .await;
    assert!(line.contains(&format!("tip moved to {hash}")), "{line}");
    let delay = dropped_at.saturating_duration_since(sent);
    assert!(
        delay < Duration::from_secs(1),
        "dropped {delay:?} after the block arrived"
    );
    miner
        .wait_for_line("mining block 2 ", Duration::from_secs(10))
        .await;

    assert_eq!(miner.interrupt(), Some(0));
    let output = miner.output();
    assert!(
        output.contains("0 found, 0 accepted, 0 stale, 0 rejected; 1 templates dropped"),
        "{output}"
    );
}

#[tokio::test]
async fn the_monitor_shows_two_nodes_and_whether_they_agree() {
    let n0 = node("n0", &[]).await;
    let n1 = node("n1", &["--bootstrap-nodes", &n0.url]).await;
    let (c0, c1) = (Client::new(&n0.url), Client::new(&n1.url));
    mine_many(&c0, &chaincore::testkit::key(1).address(), 3).await;
    eventually("node 1 on node 0's tip", MINING, || async {
        c1.tip_hash().await == c0.tip_hash().await
    })
    .await;
    let tip = c0.tip_hash().await;
    let database = format!("sqlite://{}/chain.db", n0.dir.path().display());
    let dir = tempfile::tempdir().unwrap();

    let agreed = run_tool(
        "chaincore-monitor",
        &[
            "--status-only",
            "--node",
            &n0.url,
            "--node",
            &n1.url,
            "--database-url",
            &database,
        ],
        dir.path(),
    );
    let text = agreed.ok();
    for (name, url) in [("n0", &n0.url), ("n1", &n1.url)] {
        let line = text
            .lines()
            .find(|l| l.contains(url))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(
            line.starts_with(name) && line.contains(&tip[..16]),
            "{line}"
        );
    }
    assert!(
        text.contains(&format!(
            "agreement: all 2 reachable nodes on tip {}",
            &tip[..16]
        )),
        "{text}"
    );
    assert!(
        text.contains("database sqlite://") && text.contains("blocks 4"),
        "{text}"
    );

    // A third node that never heard of them stays at genesis: no agreement, exit code 1.
    let n2 = node("n2", &[]).await;
    let split = run_tool(
        "chaincore-monitor",
        &["--status-only", "--node", &n0.url, "--node", &n2.url],
        dir.path(),
    );
    assert_eq!(split.code, Some(1), "{split:?}");
    assert!(split.stdout.contains("disagree"), "{}", split.stdout);
}
