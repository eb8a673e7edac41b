//! A flood of inbound connections from fresh identities must not cut the node off: it
//! keeps dialing out, stays in sync and serves REST (Bitcoin Core's `p2p_eviction` and
//! `p2p_add_connections` are the anchor: inbound and outbound slots are counted apart, so
//! strangers cannot take the slots the node needs to reach the honest network; a full node
//! makes room for a newcomer by evicting a stranger, never a peer that brought it news).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chaincore::consensus::Network;
use chaincore::network::protocol;
use chaincore::primitives::encode;
use chaincore::testkit::key;
use chaincore_test_support::eventually;
use chaincore_tests::client::Client;
use chaincore_tests::db::Backend;
use chaincore_tests::miner::{block_on, mine_many};
use chaincore_tests::minimal_peer::MinimalPeer;
use chaincore_tests::node::{NodeOptions, NodeProcess};
use chaincore_tests::peer::Seen;
use serde_json::json;

/// Connections the flood opens, each from its own identity.
const FLOOD: usize = 300;
/// How long the flooders hold their connections.
const HOLD: Duration = Duration::from_secs(90);
const DEADLINE: Duration = Duration::from_secs(45);

async fn start_node(name: &str, extra_args: &[&str]) -> NodeProcess {
    NodeProcess::start(NodeOptions {
        backend: Backend::Sqlite,
        node_id: name.into(),
        extra_args: extra_args.iter().map(|a| (*a).to_owned()).collect(),
    })
    .await
    .expect("a SQLite node always starts")
}

/// How long a flooder waits to see its connection kept or refused.
const SETTLE: Duration = Duration::from_secs(2);

/// Opens `count` connections to `p2p`, each from its own identity and task, which holds it
/// for `HOLD`; `settled` counts those that know whether the node kept theirs.
fn flood(p2p: &str, count: usize, settled: &Arc<AtomicUsize>) -> Vec<tokio::task::JoinHandle<()>> {
    let version = protocol::identify_protocol(Network::Dev);
    (0..count)
        .map(|_| {
            let mut peer = MinimalPeer::new(Network::Dev, &version);
            peer.dial(p2p).expect("dial");
            let settled = Arc::clone(settled);
            tokio::spawn(async move {
                let ends = |s: &[Seen]| {
                    s.iter()
                        .any(|s| matches!(s, Seen::Disconnected(_) | Seen::DialFailed(_)))
                };
                let seen = peer
                    .watch(DEADLINE, |s| {
                        ends(s) || s.iter().any(|s| matches!(s, Seen::Connected(_)))
                    })
                    .await;
                if !ends(&seen) {
                    // Connected: a refused connection is closed right after.
                    peer.watch(SETTLE, ends).await;
                }
                settled.fetch_add(1, Ordering::SeqCst);
                peer.watch(HOLD, |_| false).await;
            })
        })
        .collect()
}

fn peers_with(list: &serde_json::Value, direction: &str) -> usize {
    list["peers"]
        .as_array()
        .expect("a peer list")
        .iter()
        .filter(|p| p["direction"] == direction)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_flood_leaves_outbound_dials_sync_and_rest_working() {
    // Every flooder comes from 127.0.0.1: exempt it from the per-address cap (as a lab
    // would its own addresses), so that the flood reaches the inbound slots themselves.
    let node = start_node("flooded", &["--inbound-per-ip-exempt", "127.0.0.1"]).await;
    let honest = start_node("honest", &[]).await;
    let client = Client::new(&node.url);
    let honest_client = Client::new(&honest.url);

    let settled = Arc::new(AtomicUsize::new(0));
    let flooders = flood(&node.p2p, FLOOD, &settled);
    eventually("every flooder to be kept or refused", DEADLINE, || async {
        settled.load(Ordering::SeqCst) == FLOOD
    })
    .await;
    // The flood holds every inbound slot, and no more.
    let list = client.get("/peers").await.body;
    let slots = &list["slots"];
    assert_eq!(
        slots["inbound"].as_u64(),
        Some(peers_with(&list, "inbound") as u64)
    );
    assert_eq!(slots["inbound"], slots["max_inbound"], "slots: {slots}");
    assert_eq!(slots["outbound"], 0, "slots: {slots}");
    // Dialing out still works: the honest node is reached and listed as outbound.
    let added = client
        .post("/addpeer", &json!({ "peer_url": honest.url }))
        .await;
    assert_eq!(
        added.status, 200,
        "dial out while inbound is full: {}",
        added.text
    );
    let is_honest_outbound = |p: &serde_json::Value| {
        p["peer_id"] == honest.peer_id.as_str() && p["direction"] == "outbound"
    };
    eventually("the honest peer listed as outbound", DEADLINE, || async {
        let list = client.get("/peers").await.body;
        let peers = list["peers"].as_array().expect("a peer list");
        peers.iter().any(is_honest_outbound) && list["slots"]["outbound"] == 1
    })
    .await;

    // It stays in sync with the honest network, and answers REST meanwhile.
    mine_many(&honest_client, &key(1).address(), 3).await;
    let tip = honest_client.tip_hash().await;
    eventually(
        "the flooded node to follow the honest tip",
        DEADLINE,
        || async { client.tip_hash().await == tip },
    )
    .await;
    assert_eq!(client.get("/status").await.status, 200);

    for flooder in flooders {
        flooder.abort();
    }
}

/// One host with many identities gets only its address's share of the inbound slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_gets_at_most_its_share_of_the_inbound_slots() {
    const CAP: u64 = 5;
    let node = start_node("capped", &["--max-inbound-per-ip", &CAP.to_string()]).await;
    let client = Client::new(&node.url);
    let settled = Arc::new(AtomicUsize::new(0));
    let flooders = flood(&node.p2p, 40, &settled);
    eventually("every flooder to be kept or refused", DEADLINE, || async {
        settled.load(Ordering::SeqCst) == 40
    })
    .await;
    let slots = client.get("/peers").await.body["slots"].clone();
    assert_eq!(slots["inbound"], CAP, "slots: {slots}");
    for flooder in flooders {
        flooder.abort();
    }
}

/// Bitcoin Core's `p2p_eviction`: when the inbound slots are full, a newcomer takes the slot
/// of the worst stranger, but the peer that just gave the node a block it did not have is
/// kept, although it is the newest connection from the most crowded address (the one
/// eviction would take first). It answers no pings, so no other protection applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_node_evicts_strangers_but_keeps_the_peer_that_brought_it_a_block() {
    let node = start_node("evicting", &["--inbound-per-ip-exempt", "127.0.0.1"]).await;
    let client = Client::new(&node.url);
    let first_wave = Arc::new(AtomicUsize::new(0));
    let _first = flood(&node.p2p, 110, &first_wave);
    eventually("the first wave to fill the slots", DEADLINE, || async {
        first_wave.load(Ordering::SeqCst) == 110
    })
    .await;

    // The useful peer connects last and gossips a block on the node's tip.
    let version = protocol::identify_protocol(Network::Dev);
    let mut useful = MinimalPeer::new(Network::Dev, &version);
    let useful_id = useful.peer_id().to_string();
    useful.dial(&node.p2p).expect("dial");
    let tip = client.tip_hash().await;
    let block = block_on(&client, &tip, &key(1).address(), b"news").await;
    let hash = block.block_hash().to_string();
    let delivered = async {
        for _ in 0..100 {
            let _ = useful.publish_block_bytes(encode(&block));
            useful.watch(Duration::from_millis(200), |_| false).await;
            if client.tip_hash().await == hash {
                return true;
            }
        }
        false
    };
    assert!(delivered.await, "the node took the useful peer's block");
    let keep_useful = tokio::spawn(async move { useful.watch(HOLD, |_| false).await });

    // A second wave of strangers gets in, one eviction each.
    let second_wave = Arc::new(AtomicUsize::new(0));
    let _second = flood(&node.p2p, 40, &second_wave);
    eventually(
        "the second wave to be kept or refused",
        DEADLINE,
        || async { second_wave.load(Ordering::SeqCst) == 40 },
    )
    .await;
    let list = client.get("/peers").await.body;
    assert_eq!(
        list["slots"]["inbound"], list["slots"]["max_inbound"],
        "{list}"
    );
    let listed = |id: &str| {
        list["peers"]
            .as_array()
            .expect("peers")
            .iter()
            .any(|p| p["peer_id"] == id)
    };
    assert!(
        listed(&useful_id),
        "the peer that brought a block was evicted"
    );
    keep_useful.abort();
}
