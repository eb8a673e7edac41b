//! Network partitions between real nodes, each in its own network namespace (root only; see
//! `chaincore_tests::netns`): a 3 | 2 split with a double spend, an isolated node, a
//! flapping link, and a node killed again and again, also in the middle of a reorg. After
//! each: one chain, equal UTXO sets, the supply the subsidies allow, and nothing lost.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chaincore::primitives::{Address, Transaction, encode};
use chaincore::testkit::key;
use chaincore_tests::client::Client;
use chaincore_tests::netns::Lab;
use chaincore_tests::partition::Net;
use chaincore_tests::tools::ToolProcess;
use chaincore_tests::wallet::pay;
use serde_json::json;

/// The bound: after a heal, every node is on the heavier side's tip within 10 s.
const CONVERGE: Duration = Duration::from_secs(10);
/// How long catching up after a restart or a long isolation may take.
const REJOIN: Duration = Duration::from_secs(60);
/// A fee every test payment pays (base units).
const FEE: u64 = 10_000;

fn address(seed: u8) -> Address {
    key(seed).address()
}

/// Submits `tx` to `client`'s node; its txid.
async fn submit(client: &Client, tx: &Transaction) -> String {
    let reply = client
        .post("/add_transaction", &json!({"hex": hex::encode(encode(tx))}))
        .await
        .ok();
    reply["txid"].as_str().expect("a txid").to_owned()
}

/// Mines `n` blocks to key(1) (whose coins the payments spend) and waits for everyone.
async fn fund(net: &Net, n: usize) {
    net.mine(0, n, &address(1)).await;
    let tip = net.tip(0).await;
    net.wait_all_on(&tip, REJOIN).await;
}

#[tokio::test]
async fn scenario_1_a_3_2_split_with_a_double_spend_converges_on_the_heavier_side() {
    let Some(mut net) = Net::start("scenario 1: five nodes split 3 | 2", 5, &[0]).await else {
        return;
    };
    fund(&net, 14).await; // key(1)'s coins from blocks 1..=4 are mature
    let (a, b) = ([0, 1, 2], [3, 4]);
    net.lab.cut(&a, &b);

    // One coin spent to different payees on each side, and a payment only each side sees.
    let (c0, c1, c3) = (&net.clients[0], &net.clients[1], &net.clients[3]);
    let to_bob = submit(c0, &pay(c0, 0, &address(2), 1, FEE).await).await;
    let to_carol = submit(c3, &pay(c3, 0, &address(3), 1, FEE).await).await;
    let winning_only = submit(c1, &pay(c1, 1, &address(4), 1, FEE).await).await;
    let losing_only = submit(c3, &pay(c3, 2, &address(5), 1, FEE).await).await;

    // Both sides mine, each spread over its nodes: 24 blocks on side A, 20 on side B.
    // Each round starts once its side agrees, so no miner builds on a stale tip and the
    // sides' branches are exactly 24 and 20 blocks long.
    let (miner_a, miner_b) = (address(10), address(11));
    for round in 0..4 {
        net.mine(a[round % 3], 6, &miner_a).await;
        net.mine(b[round % 2], 5, &miner_b).await;
        net.wait_agree(&a, REJOIN).await;
        net.wait_agree(&b, REJOIN).await;
    }
    let (winner, loser) = (net.tip(0).await, net.tip(3).await);
    assert_ne!(winner, loser);
    for (txid, node) in [
        (&to_bob, 0),
        (&winning_only, 0),
        (&to_carol, 3),
        (&losing_only, 3),
    ] {
        assert!(
            net.confirmed(node, txid).await,
            "{txid} confirmed on its side"
        );
    }

    net.lab.heal();
    let converged = net.wait_all_on(&winner, CONVERGE).await;
    net.report.add(format!(
        "heal → every node on the heavier side's tip: {converged:?}"
    ));
    for i in b {
        net.report.add(format!(
            "node {i} reorgs (depth, fork height): {:?}",
            net.reorgs(i).await
        ));
        let reorgs = net.reorgs(i).await;
        assert!(
            reorgs.iter().any(|&(depth, _)| depth == 20),
            "node {i} undid side B's 20 blocks; its reorgs (depth, fork height): {reorgs:?}"
        );
    }

    // Exactly one version of the double spend: bob's, everywhere; carol's nowhere.
    for i in 0..net.size() {
        assert!(
            net.confirmed(i, &to_bob).await,
            "node {i}: bob's payment confirmed"
        );
        assert!(
            !net.confirmed(i, &to_carol).await,
            "node {i}: carol's payment not confirmed"
        );
        assert!(
            !net.mempool(i).await.contains(&to_carol),
            "node {i}: carol's payment dropped"
        );
    }
    // The losing side's other payment is back in the mempools; its miners keep mining.
    let returned = net
        .wait_for(
            "side B's own payment back in a side B mempool",
            CONVERGE,
            || async { net.mempool(3).await.contains(&losing_only) },
        )
        .await;
    net.report.add(format!(
        "side B's own payment back in node 3's mempool after {returned:?}"
    ));
    net.mine(3, 1, &miner_b).await;
    let tip = net.tip(3).await;
    net.wait_all_on(&tip, CONVERGE).await;
    for i in 0..net.size() {
        let kept =
            net.confirmed(i, &losing_only).await || net.mempool(i).await.contains(&losing_only);
        assert!(
            kept,
            "node {i}: side B's payment {losing_only} confirmed or pending"
        );
        assert!(net.confirmed(i, &winning_only).await);
    }
    net.report.add(format!(
        "side B's payment reconfirmed: {}",
        net.confirmed(0, &losing_only).await
    ));
    net.assert_consistent().await;
    net.report
        .add("UTXO commitments equal on all 5 nodes; supply = sum of subsidies");
    net.report.print();
}

#[tokio::test]
async fn scenario_2_an_isolated_node_catches_up_and_its_orphaned_txs_return() {
    let Some(mut net) = Net::start("scenario 2: one node isolated", 4, &[]).await else {
        return;
    };
    fund(&net, 13).await;
    let (lonely, others) = (3, [0, 1, 2]);
    net.lab.cut(&[lonely], &others);

    // The isolated node confirms a payment in blocks only it has; the others mine more.
    let c3 = &net.clients[lonely];
    let orphaned = submit(c3, &pay(c3, 0, &address(2), 1, FEE).await).await;
    net.mine(lonely, 3, &address(11)).await;
    assert!(net.confirmed(lonely, &orphaned).await);
    net.mine(0, 4, &address(10)).await;
    net.mine(1, 4, &address(10)).await;
    net.wait_agree(&others, REJOIN).await;
    let tip = net.tip(0).await;

    net.lab.heal();
    let caught_up = net.wait_all_on(&tip, REJOIN).await;
    net.report.add(format!(
        "heal → isolated node on the others' tip: {caught_up:?}"
    ));
    let reorgs = net.reorgs(lonely).await;
    net.report.add(format!(
        "isolated node's reorgs (depth, fork height): {reorgs:?}"
    ));
    assert!(reorgs.iter().any(|&(depth, _)| depth == 3), "{reorgs:?}");
    assert!(!net.confirmed(lonely, &orphaned).await);
    assert!(
        net.mempool(lonely).await.contains(&orphaned),
        "the orphaned block's payment is pending again"
    );
    net.report
        .add("the orphaned block's payment returned to the mempool");

    net.mine(lonely, 1, &address(11)).await;
    let tip = net.tip(lonely).await;
    net.wait_all_on(&tip, CONVERGE).await;
    for i in 0..net.size() {
        assert!(net.confirmed(i, &orphaned).await, "node {i}: reconfirmed");
    }
    net.assert_consistent().await;
    net.report.print();
}

#[tokio::test]
async fn scenario_3_a_flapping_link_for_a_minute_converges_with_no_honest_peer_banned() {
    let Some(mut net) = Net::start(
        "scenario 3: a link cut and healed every few seconds",
        4,
        &[],
    )
    .await
    else {
        return;
    };
    let (a, b) = ([0, 1], [2, 3]);
    // Besides the test's blocks, a real miner on node 2, slowed to about a block in 2 s.
    let dir = tempfile::tempdir().unwrap();
    let (payout, url) = (address(12).to_string(), net.lab.rest_url(2));
    let miner_args = [
        "--wallet",
        &payout,
        "--node",
        &url,
        "--threads",
        "1",
        "--max-hashrate",
        "1",
    ];
    let mut miner = ToolProcess::start("chaincore-miner", &miner_args, dir.path());
    let started = Instant::now();
    let mut flips = 0;
    while started.elapsed() < Duration::from_secs(60) {
        net.lab.cut(&a, &b);
        net.mine(0, 1, &address(10)).await;
        net.mine(2, 1, &address(11)).await;
        tokio::time::sleep(Duration::from_millis(1_500 + fastrand::u64(..1_500))).await;
        net.lab.heal();
        net.mine(1, 1, &address(10)).await;
        tokio::time::sleep(Duration::from_millis(1_500 + fastrand::u64(..1_500))).await;
        flips += 1;
    }
    net.report
        .add(format!("{flips} cuts and heals in {:?}", started.elapsed()));
    assert_eq!(miner.interrupt(), Some(0));
    let summary = miner.output();
    let blocks = summary
        .lines()
        .find(|l| l.starts_with("blocks: "))
        .unwrap_or_else(|| panic!("{summary}"));
    net.report
        .add(format!("the real miner on node 2: {blocks}"));
    assert!(!blocks.starts_with("blocks: 0 found"), "{summary}");
    net.mine(3, 1, &address(11)).await;
    let tip = net.tip(3).await;
    let converged = net.wait_all_on(&tip, REJOIN).await;
    net.report.add(format!(
        "after the last heal, every node on one tip in {converged:?}"
    ));
    for i in 0..net.size() {
        let depths: Vec<u64> = net.reorgs(i).await.iter().map(|r| r.0).collect();
        net.report.add(format!("node {i} reorg depths: {depths:?}"));
    }
    // Not stuck: every node still takes new blocks.
    net.mine(0, 1, &address(10)).await;
    let tip = net.tip(0).await;
    net.wait_all_on(&tip, CONVERGE).await;
    assert_eq!(net.bans().await, vec![], "no honest peer is banned");
    net.wait_meshed(REJOIN).await;
    net.assert_consistent().await;
    net.report.print();
}

#[tokio::test]
async fn scenario_4_a_node_killed_20_times_even_mid_reorg_rejoins_and_agrees() {
    let Some(mut net) = Net::start("scenario 4: a node SIGKILLed and restarted", 3, &[2]).await
    else {
        return;
    };
    let victim = 2;
    let mut rejoin_times = Vec::new();
    let mut killed_mid_reorg = 0;
    for round in 0..20 {
        // A fork: the victim mines alone, the others mine more; the heal starts a reorg.
        net.lab.cut(&[victim], &[0, 1]);
        net.mine(victim, 1 + round % 3, &address(11)).await;
        net.mine(round % 2, 2 + round % 3, &address(10)).await;
        net.lab.heal();
        // Killed at once (before its reorg can finish) in even rounds, at a random moment
        // of the catch-up in odd ones.
        let delay = if round % 2 == 0 {
            0
        } else {
            fastrand::u64(..300)
        };
        tokio::time::sleep(Duration::from_millis(delay)).await;
        if net.tip(victim).await != net.tip(0).await {
            killed_mid_reorg += 1;
        }
        net.nodes[victim].kill().await;
        net.nodes[victim]
            .restart()
            .await
            .expect("the killed node starts again");
        let tip = net.tip(0).await;
        rejoin_times.push(net.wait_all_on(&tip, REJOIN).await);
    }
    let slowest = rejoin_times.iter().max().expect("20 rounds");
    let total: Duration = rejoin_times.iter().sum();
    net.report.add(format!(
        "20 kills; rejoin after restart: mean {:?}, slowest {slowest:?}",
        total / 20
    ));
    net.report.add(format!(
        "{killed_mid_reorg} of 20 kills hit the victim before it had left its own branch"
    ));
    assert!(
        killed_mid_reorg > 0,
        "no kill landed before the reorg finished"
    );
    let depths: HashSet<u64> = net.reorgs(victim).await.iter().map(|r| r.0).collect();
    net.report.add(format!(
        "victim's reorg depths since its last start: {depths:?}"
    ));
    net.assert_consistent().await;
    assert_eq!(
        net.bans().await,
        vec![],
        "a restarted honest node is not banned"
    );
    net.report.print();
}

/// Runs only when the test below starts it: builds a lab with two nodes, says what it
/// built, and fails.
#[tokio::test]
#[ignore = "a child of the_harness_cleans_up_after_a_failing_test"]
#[allow(
    clippy::print_stdout,
    reason = "tells the parent test what to look for"
)]
async fn harness_child_that_fails_on_purpose() {
    let Some(mut net) = Net::start("a failing child", 2, &[]).await else {
        return;
    };
    net.lab.cut(&[0], &[1]);
    let pids: Vec<String> = net
        .nodes
        .iter()
        .map(|n| n.pid().expect("running").to_string())
        .collect();
    println!("LAB {} PIDS {}", net.lab.id, pids.join(" "));
    panic!("failing on purpose");
}

#[tokio::test]
async fn the_harness_cleans_up_after_a_failing_test() {
    if !chaincore_tests::netns::available() {
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "harness_child_that_fails_on_purpose",
            "--ignored",
            "--nocapture",
        ])
        .env("CHAINCORE_REQUIRE_NETNS", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        !output.status.success(),
        "the child must fail:\n{stdout}\n{stderr}"
    );
    assert!(stderr.contains("failing on purpose"), "{stderr}");
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("LAB "))
        .unwrap_or_else(|| panic!("{stdout}\n{stderr}"));
    let (id, pids) = line.split_once(" PIDS ").unwrap();
    assert_eq!(
        Lab::leftovers(id),
        Vec::<String>::new(),
        "namespaces, links or nft tables of lab {id} left"
    );
    for pid in pids.split_whitespace() {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "node process {pid} left running"
        );
    }
}
