//! The peer-to-peer network between real `chaincore-node` processes on loopback:
//! bootstrap by REST URL and discovery through Kademlia, gossip of blocks and transactions,
//! headers-first catch-up, a heavier private branch winning, a lying peer banned, known
//! peers redialed after a restart, a payment gossip never carried reaching a miner, and
//! `--assume-valid` leaving signatures unchecked only up to the block it names.

use std::time::Duration;

use chaincore::consensus::Network;
use chaincore::consensus::pow::solve_header;
use chaincore::primitives::{Amount, TxOut, encode};
use chaincore::testkit::key;
use chaincore_tests::client::Client;
use chaincore_tests::db::Backend;
use chaincore_tests::eventually;
use chaincore_tests::miner::{block_on, mine, mine_many};
use chaincore_tests::node::{NodeOptions, NodeProcess};
use chaincore_tests::peer::{RawPeer, Seen};
use chaincore_tests::wallet::pay;
use serde_json::{Value, json};

/// How long peers may take to find each other (the bound).
const DISCOVERY: Duration = Duration::from_secs(5);
/// How long a block or transaction may take to reach every node.
const PROPAGATION: Duration = Duration::from_secs(10);
/// How long a catch-up or reorg may take.
const SYNC: Duration = Duration::from_secs(90);

async fn node(name: &str, backend: Backend, args: &[&str]) -> Option<NodeProcess> {
    let mut extra_args = vec!["--rate-limit".to_owned(), "0".to_owned()];
    extra_args.extend(args.iter().map(|a| (*a).to_owned()));
    NodeProcess::start(NodeOptions {
        backend,
        node_id: name.into(),
        extra_args,
    })
    .await
}

/// The peer ids a node lists in `/peers`.
async fn peer_ids(client: &Client) -> Vec<String> {
    let peers = client.get("/peers").await.ok();
    peers["peers"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| p["peer_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn lists_all<const N: usize>(client: &Client, others: [&NodeProcess; N]) -> bool {
    let listed = peer_ids(client).await;
    others.iter().all(|o| listed.contains(&o.peer_id))
}

async fn same_tip<const N: usize>(clients: [&Client; N]) -> bool {
    let first = clients[0].tip_hash().await;
    for client in &clients[1..] {
        if client.tip_hash().await != first {
            return false;
        }
    }
    true
}

/// A counter's value in a node's `/metrics` (summed over its labels).
async fn metric(client: &Client, name: &str) -> f64 {
    let text = client.get("/metrics").await.text;
    text.lines()
        .filter(|l| {
            l.starts_with(name)
                && (l[name.len()..].starts_with(' ') || l[name.len()..].starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn three_nodes_bootstrapped_by_url_find_each_other_and_gossip_blocks_and_transactions() {
    let Some(n0) = node("n0", Backend::Sqlite, &[]).await else {
        return;
    };
    let Some(n1) = node("n1", Backend::Postgres, &["--bootstrap-nodes", &n0.url]).await else {
        return;
    };
    let Some(n2) = node("n2", Backend::Sqlite, &["--bootstrap-nodes", &n0.url]).await else {
        return;
    };
    let (c0, c1, c2) = (
        Client::new(&n0.url),
        Client::new(&n1.url),
        Client::new(&n2.url),
    );

    eventually(
        "every node to list the other two in /peers",
        DISCOVERY,
        || async {
            lists_all(&c0, [&n1, &n2]).await
                && lists_all(&c1, [&n0, &n2]).await
                && lists_all(&c2, [&n0, &n1]).await
        },
    )
    .await;
    // Node 2 was only told about node 0: it found node 1 through Kademlia and identify,
    // and the status exchange told it node 1's name and REST URL.
    eventually(
        "node 2 to know node 1 by name and REST URL",
        DISCOVERY,
        || async {
            let peers = c2.get("/peers").await.ok();
            peers["peers"].as_array().unwrap().iter().any(|p| {
                p["peer_id"] == n1.peer_id.as_str()
                    && p["node_id"] == "n1"
                    && p["rest_url"] == n1.url.as_str()
            })
        },
    )
    .await;

    // A block mined on node 0 reaches the others; past maturity, so there is a coin to pay.
    let alice = key(1).address();
    mine(&c0, &alice).await;
    eventually("node 0's first block on nodes 1 and 2", PROPAGATION, || {
        same_tip([&c0, &c1, &c2])
    })
    .await;
    mine_many(&c0, &alice, 10).await;
    eventually("eleven blocks everywhere", PROPAGATION, || {
        same_tip([&c0, &c1, &c2])
    })
    .await;
    assert_eq!(c2.height().await, 11);
    assert!(
        metric(&c1, "chaincore_gossip_messages_total").await >= 1.0,
        "blocks came by gossip"
    );

    // A transaction sent to node 2 reaches the mempools of nodes 0 and 1.
    let tx = pay(&c2, 0, &key(2).address(), 10, 50_000).await;
    let accepted = c2
        .post(
            "/add_transaction",
            &json!({"hex": hex::encode(encode(&tx))}),
        )
        .await
        .ok();
    let txid = accepted["txid"].as_str().expect("a txid").to_owned();
    for client in [&c0, &c1] {
        eventually("the payment in every mempool", PROPAGATION, || async {
            client.get(&format!("/tx/{txid}")).await.status == 200
        })
        .await;
    }
    // And a block from node 1 confirms it everywhere.
    mine(&c1, &alice).await;
    eventually("the confirming block everywhere", PROPAGATION, || {
        same_tip([&c0, &c1, &c2])
    })
    .await;
    for client in [&c0, &c1, &c2] {
        // The explorer index follows the chain a moment behind.
        eventually(
            "the payment confirmed on every node",
            PROPAGATION,
            || async {
                let status = client.get(&format!("/tx/{txid}/status")).await;
                status.status == 200 && status.body["confirmed"] == true
            },
        )
        .await;
    }
}

#[tokio::test]
async fn a_node_started_after_500_blocks_catches_up_headers_first() {
    let Some(mut n0) = node("n0", Backend::Sqlite, &[]).await else {
        return;
    };
    let c0 = Client::new(&n0.url);
    mine_many(&c0, &key(1).address(), 500).await;
    // A new process: its gossip cache would hand the last blocks to the newcomer before
    // their headers, and the counts below would miss them.
    n0.restart(&["--rate-limit", "0"]);
    let c0 = Client::new(&n0.url);
    let Some(n1) = node("n1", Backend::Sqlite, &["--bootstrap-nodes", &n0.url]).await else {
        return;
    };
    let c1 = Client::new(&n1.url);
    eventually("the late node at node 0's tip", SYNC, || {
        same_tip([&c0, &c1])
    })
    .await;
    assert_eq!(c1.height().await, 500);
    assert!(
        metric(&c1, "chaincore_sync_headers_total").await >= 500.0,
        "headers came first"
    );
    assert!(
        metric(&c1, "chaincore_sync_blocks_total").await >= 500.0,
        "then the bodies"
    );
    let balance = c1.get(&format!("/balance/{}", key(1).address())).await.ok();
    assert_eq!(
        balance["utxo_count"], 500,
        "every coinbase is in the late node's UTXO set"
    );
}

/// `--assume-valid` during catch-up: the blocks up to the named one are connected without
/// their signatures checked, the ones above with, and `/status` says how many were assumed.
#[tokio::test]
async fn a_node_told_to_assume_a_block_valid_skips_signatures_only_up_to_it() {
    let Some(mut n0) = node("n0", Backend::Sqlite, &[]).await else {
        return;
    };
    let c0 = Client::new(&n0.url);
    let alice = key(1).address();
    mine_many(&c0, &alice, 14).await;
    let signed_at = 15;
    for which in 0..2 {
        let tx = pay(&c0, which, &key(2).address(), 10, 50_000).await;
        let body = json!({"hex": hex::encode(encode(&tx))});
        c0.post("/add_transaction", &body).await.ok();
    }
    mine(&c0, &alice).await; // height 15 holds two signed payments
    mine_many(&c0, &alice, 7).await;
    let assumed_height = 17;
    let assumed = c0
        .get(&format!("/block-height/{assumed_height}"))
        .await
        .text;
    assert!(
        c0.status().await["assume_valid"].is_null(),
        "a node without the flag assumes nothing"
    );
    // A new process: its gossip cache, which would hand the fresh blocks to a newcomer
    // one by one before their headers, is gone; the newcomer syncs headers first.
    n0.restart(&["--rate-limit", "0"]);
    let c0 = Client::new(&n0.url);

    let Some(n1) = node(
        "n1",
        Backend::Sqlite,
        &["--bootstrap-nodes", &n0.url, "--assume-valid", &assumed],
    )
    .await
    else {
        return;
    };
    let c1 = Client::new(&n1.url);
    eventually("node 1 at node 0's tip", SYNC, || same_tip([&c0, &c1])).await;
    assert!(c1.metric("chaincore_sync_headers_total", "").await >= 22.0);
    let status = c1.status().await;
    assert_eq!(status["assume_valid"]["hash"], assumed.as_str());
    assert_eq!(
        status["assume_valid"]["blocks_assumed"],
        assumed_height,
        "blocks 1..={assumed_height} assumed (the payments at {signed_at} among them), none above; \
         node 1's log:\n{}",
        n1.log_tail()
    );
    let path = format!("/balance/{}", key(2).address());
    assert_eq!(
        c1.get(&path).await.ok()["balance_units"],
        c0.get(&path).await.ok()["balance_units"],
        "the assumed payments are in node 1's UTXO set"
    );
}

#[tokio::test]
async fn a_node_with_a_heavier_private_branch_makes_the_others_reorg() {
    let Some(n0) = node("n0", Backend::Sqlite, &[]).await else {
        return;
    };
    let Some(n1) = node("n1", Backend::Sqlite, &["--bootstrap-nodes", &n0.url]).await else {
        return;
    };
    let Some(n2) = node("n2", Backend::Postgres, &[]).await else {
        return;
    };
    let (c0, c1, c2) = (
        Client::new(&n0.url),
        Client::new(&n1.url),
        Client::new(&n2.url),
    );
    eventually("nodes 0 and 1 connected", DISCOVERY, || {
        lists_all(&c0, [&n1])
    })
    .await;

    mine_many(&c0, &key(1).address(), 3).await;
    eventually("the public chain on node 1", PROPAGATION, || {
        same_tip([&c0, &c1])
    })
    .await;
    let public_tip = c0.tip_hash().await;
    mine_many(&c2, &key(2).address(), 6).await;
    let private_tip = c2.tip_hash().await;
    assert!(peer_ids(&c2).await.is_empty(), "node 2 mined alone");

    let added = c2.post("/addpeer", &json!({"peer_url": n0.url})).await;
    assert_eq!(added.status, 200, "{}", added.text);
    eventually("everyone on the heavier branch", SYNC, || {
        same_tip([&c0, &c1, &c2])
    })
    .await;
    assert_eq!(c0.tip_hash().await, private_tip);
    let stats = c1.get("/stats").await.ok();
    let reorg = &stats["reorgs"][0];
    assert_eq!(
        (reorg["depth"].as_u64(), reorg["old_tip"].as_str()),
        (Some(3), Some(public_tip.as_str())),
        "{stats}"
    );
}

/// A block with valid proof of work whose coinbase pays twice the subsidy: only full
/// validation finds it out.
async fn overpaying_block(client: &Client) -> chaincore::primitives::Block {
    let tip = client.tip_hash().await;
    let mut block = block_on(client, &tip, &key(9).address(), b"evil").await;
    let paid = block.transactions[0].outputs[0].value;
    let doubled = Amount::from_units(paid.units() * 2).unwrap();
    block.transactions[0].outputs[0] = TxOut::to_address(doubled, &key(9).address());
    block.header.merkle_root = block.compute_merkle_root();
    assert!(solve_header(&mut block.header, 1 << 32));
    block
}

#[tokio::test]
async fn a_peer_that_gossips_an_invalid_block_is_banned_and_its_later_messages_dropped() {
    let Some(n0) = node("n0", Backend::Sqlite, &[]).await else {
        return;
    };
    let Some(n1) = node("n1", Backend::Sqlite, &["--bootstrap-nodes", &n0.url]).await else {
        return;
    };
    let (c0, c1) = (Client::new(&n0.url), Client::new(&n1.url));
    eventually("nodes 0 and 1 connected", DISCOVERY, || {
        lists_all(&c0, [&n1])
    })
    .await;
    mine_many(&c0, &key(1).address(), 2).await;
    eventually("a shared chain", PROPAGATION, || same_tip([&c0, &c1])).await;
    let honest_tip = c0.tip_hash().await;

    let mut evil = RawPeer::new(Network::Dev);
    let evil_id = evil.peer_id().to_string();
    let node0: libp2p::PeerId = n0.peer_id.parse().unwrap();
    let blocks_topic = evil.blocks_topic().hash().to_string();
    let seen = evil
        .dial_and_watch(&n0.p2p, Duration::from_secs(10), |seen| {
            seen.contains(&Seen::Subscribed(node0, blocks_topic.clone()))
        })
        .await;
    assert!(
        seen.contains(&Seen::Connected(node0)),
        "the evil peer connects first: {seen:?}"
    );
    eventually(
        "node 0 to list the evil peer with a clean score",
        DISCOVERY,
        || async {
            let peers = c0.get("/peers").await.ok();
            peers["peers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["peer_id"] == evil_id.as_str() && p["score"] == 0.0)
        },
    )
    .await;

    evil.publish_block_bytes(encode(&overpaying_block(&c0).await))
        .expect("published");
    let seen = evil
        .watch(Duration::from_secs(10), |seen| {
            seen.contains(&Seen::Disconnected(node0))
        })
        .await;
    assert!(
        seen.contains(&Seen::Disconnected(node0)),
        "node 0 hung up on the liar: {seen:?}"
    );
    // The liar saw the hang-up; node 0's REST view of the ban may trail it by a moment.
    eventually("node 0 to list the liar as banned", DISCOVERY, || async {
        let peers = c0.get("/peers").await.ok();
        peers["banned"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["peer_id"] == evil_id.as_str() && b["seconds_left"].as_u64().unwrap() > 500)
    })
    .await;
    assert!(metric(&c0, "chaincore_peer_bans_total").await >= 1.0);

    // Coming back does not work: the connection is refused or dropped before any gossip.
    let seen = evil
        .dial_and_watch(&n0.p2p, Duration::from_secs(3), |seen| {
            seen.iter()
                .any(|s| matches!(s, Seen::Disconnected(_) | Seen::DialFailed(_)))
        })
        .await;
    assert!(
        !seen.iter().any(|s| matches!(s, Seen::Subscribed(..))),
        "no gossip with a banned peer: {seen:?}"
    );
    assert!(
        seen.iter()
            .any(|s| matches!(s, Seen::Disconnected(_) | Seen::DialFailed(_))),
        "{seen:?}"
    );
    let valid_now = block_on(&c0, &honest_tip, &key(9).address(), b"late").await;
    assert!(
        evil.publish_block_bytes(encode(&valid_now)).is_err(),
        "nobody listens to the banned peer"
    );

    // The honest nodes kept their chain and keep agreeing.
    assert_eq!(c0.tip_hash().await, honest_tip);
    mine(&c1, &key(1).address()).await;
    eventually("node 1's next block on node 0", PROPAGATION, || {
        same_tip([&c0, &c1])
    })
    .await;
    assert_eq!(c0.height().await, 3);
}

#[tokio::test]
async fn a_restarted_node_redials_its_known_peers_from_the_database() {
    let Some(n0) = node("n0", Backend::Sqlite, &[]).await else {
        return;
    };
    let Some(mut n1) = node("n1", Backend::Postgres, &["--bootstrap-nodes", &n0.url]).await else {
        return;
    };
    let c0 = Client::new(&n0.url);
    let c1 = Client::new(&n1.url);
    eventually("node 1 connected to node 0", DISCOVERY, || {
        lists_all(&c1, [&n0])
    })
    .await;
    let first_id = n1.peer_id.clone();
    // The peer is remembered by a task of its own after the connection; the node waits for
    // its tasks when it stops, so a stop right after the connection keeps it.
    n1.restart(&["--rate-limit", "0"]);
    assert_eq!(n1.peer_id, first_id, "the peer id survives a restart");
    let c1 = Client::new(&n1.url);
    eventually(
        "the restarted node back with node 0, with no bootstrap flag",
        DISCOVERY,
        || async { lists_all(&c1, [&n0]).await && lists_all(&c0, [&n1]).await },
    )
    .await;
    mine(&c0, &key(1).address()).await;
    eventually("gossip flows again", PROPAGATION, || same_tip([&c0, &c1])).await;
}

/// Bitcoin Core's `mempool_persist` and BIP 35, together: a payment node 0 acknowledged while
/// it had no peers, kept across a restart, reaches node 1, which connects later and never
/// had it by gossip; node 1 mines it. Without mempool sync it stays in node 0's pool alone.
#[tokio::test]
async fn a_payment_only_one_node_holds_reaches_a_miner_that_never_saw_its_gossip() {
    let Some(mut n0) = node("n0", Backend::Sqlite, &[]).await else {
        return;
    };
    let c0 = Client::new(&n0.url);
    let alice = key(1).address();
    mine_many(&c0, &alice, 11).await;
    let tx = pay(&c0, 0, &key(2).address(), 10, 50_000).await;
    let body = json!({"hex": hex::encode(encode(&tx))});
    let txid = c0.post("/add_transaction", &body).await.ok()["txid"]
        .as_str()
        .expect("a txid")
        .to_owned();
    // A new process: whatever the old one meant to gossip once a peer came is gone.
    n0.restart(&["--rate-limit", "0"]);
    let c0 = Client::new(&n0.url);
    assert_eq!(
        c0.get(&format!("/tx/{txid}")).await.status,
        200,
        "the mempool survives the restart"
    );

    let Some(n1) = node("n1", Backend::Sqlite, &["--bootstrap-nodes", &n0.url]).await else {
        return;
    };
    let c1 = Client::new(&n1.url);
    eventually("node 1 in sync with node 0", SYNC, || same_tip([&c0, &c1])).await;
    eventually("the payment in node 1's mempool", PROPAGATION, || async {
        c1.get(&format!("/tx/{txid}")).await.status == 200
    })
    .await;
    assert!(
        metric(&c1, "chaincore_sync_transactions_total").await >= 1.0,
        "it came by mempool sync"
    );
    mine(&c1, &alice).await;
    for client in [&c0, &c1] {
        eventually(
            "the payment confirmed on both nodes",
            PROPAGATION,
            || async {
                let status = client.get(&format!("/tx/{txid}/status")).await;
                status.status == 200 && status.body["confirmed"] == true
            },
        )
        .await;
    }
}

/// Bad input on the peer routes: clear errors, and the node keeps serving.
#[tokio::test]
async fn bad_peer_requests_get_clear_errors() {
    let Some(n0) = node("n0", Backend::Sqlite, &[]).await else {
        return;
    };
    let c0 = Client::new(&n0.url);
    let cases: [(Value, u16, &str); 4] = [
        (
            json!({"peer_url": "http://127.0.0.1:1"}),
            400,
            "peer-unreachable",
        ),
        (
            json!({"multiaddr": "/ip4/127.0.0.1/tcp/1"}),
            400,
            "peer-unreachable",
        ),
        (
            json!({"multiaddr": "/not/a/multiaddr"}),
            400,
            "invalid-multiaddr",
        ),
        (
            json!({"multiaddr": format!("{}/p2p/{}", n0.p2p, n0.peer_id)}),
            400,
            "peer-unreachable",
        ),
    ];
    for (body, status, code) in cases {
        let reply = c0.post("/addpeer", &body).await;
        assert_eq!(
            (reply.status, reply.body["code"].as_str()),
            (status, Some(code)),
            "{body}: {}",
            reply.text
        );
    }
    let discovered = c0.post("/discover_peers", &json!({})).await.ok();
    assert_eq!(
        discovered["discovered"],
        json!([]),
        "nobody to find: {discovered}"
    );
    assert_eq!(c0.get("/health").await.status, 200);
}
