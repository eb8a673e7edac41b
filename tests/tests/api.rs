//! The REST API of a real `chaincore-node` process, route by route, on SQLite and on
//! PostgreSQL: mining through `/mine_block` + `/submit_block`, a signed payment through
//! `/add_transaction`, every read route, and the live event stream through a reorg.

use std::time::Duration;

use chaincore::primitives::merkle::root_from_branch;
use chaincore::primitives::{MerkleRoot, Wtxid, encode};
use chaincore::telemetry::Kind;
use chaincore::testkit::key;
use chaincore_tests::client::Client;
use chaincore_tests::db::Backend;
use chaincore_tests::events::Events;
use chaincore_tests::miner::{block_on, mine, mine_many, submit};
use chaincore_tests::node::{NodeOptions, NodeProcess};
use chaincore_tests::on_both_backends;
use chaincore_tests::wallet::pay;
use serde_json::{Value, json};

async fn start(backend: Backend) -> Option<(NodeProcess, Client)> {
    let node = NodeProcess::start(NodeOptions {
        backend,
        ..NodeOptions::default()
    })
    .await?;
    let client = Client::new(&node.url);
    Some((node, client))
}

fn coins(value: &Value) -> u64 {
    value.as_u64().expect("an amount in units")
}

async fn every_route_answers(backend: Backend) {
    let Some((node, client)) = start(backend).await else {
        return;
    };
    let status = client.status().await;
    for field in [
        "node_id",
        "blockchain_length",
        "best_block_hash",
        "height",
        "active_peers",
        "peers",
        "pending_transactions",
        "network",
        "bits",
        "difficulty",
        "uptime",
        "version",
        "peer_id",
        "listen_addrs",
        "utxo_commitment",
    ] {
        assert!(
            status.get(field).is_some(),
            "/status lacks {field}: {status}"
        );
    }
    assert_eq!(
        (
            status["height"].as_u64(),
            status["blockchain_length"].as_u64()
        ),
        (Some(0), Some(1))
    );
    assert_eq!(client.get("/health").await.ok()["status"], "ok");

    // Mine past maturity to alice, then pay bob through /add_transaction (hex) and carol (JSON).
    let (alice, bob, carol) = (key(1).address(), key(2).address(), key(3).address());
    mine_many(&client, &alice, 11).await;
    assert_eq!(client.height().await, 11);
    let to_bob = pay(&client, 0, &bob, 10, 50_000_000).await;
    let accepted = client
        .post(
            "/add_transaction",
            &json!({"hex": hex::encode(encode(&to_bob))}),
        )
        .await
        .ok();
    assert_eq!(
        (accepted["status"].as_str(), accepted["txid"].as_str()),
        (Some("accepted"), Some(to_bob.txid().to_string().as_str()))
    );
    assert_eq!(accepted["fee_units"], 50_000_000);
    let pool = client.get("/transaction_pool").await.ok();
    assert_eq!(pool["count"], 1);
    assert_eq!(
        client.get("/mempool").await.ok()["total_fee_units"],
        50_000_000
    );
    let pending = client.get(&format!("/tx/{}", to_bob.txid())).await.ok();
    assert_eq!(pending["status"]["confirmed"], false);
    assert_eq!(
        client.get(&format!("/balance/{bob}")).await.ok()["pending_units"],
        1_000_000_000
    );

    let to_carol = pay(&client, 1, &carol, 3, 10_000).await;
    let json_tx = json!({"transaction": {
        "inputs": to_carol.inputs.iter().map(|i| json!({
            "txid": i.previous_output.txid.to_string(), "vout": i.previous_output.vout,
            "pubkey": i.witness.pubkey.to_string(), "signature": i.witness.signature.to_string()})).collect::<Vec<_>>(),
        "outputs": to_carol.outputs.iter().map(|o| json!({"address": o.address().to_string(), "amount_units": o.value.units()})).collect::<Vec<_>>(),
    }});
    let accepted = client.post("/broadcast_transaction", &json_tx).await.ok();
    assert_eq!(
        accepted["txid"],
        to_carol.txid().to_string(),
        "the JSON form makes the same transaction"
    );

    // Confirm both; the miner's coinbase takes the fees.
    let miner = key(9).address();
    let mined = mine(&client, &miner).await;
    let block_hash = mined["hash"].as_str().unwrap().to_owned();
    let block = client.get(&format!("/block/{block_hash}")).await.ok();
    assert_eq!(block["tx_count"], 3);
    let txs = client.get(&format!("/block/{block_hash}/txs")).await.ok();
    assert_eq!(
        txs[0]["outputs"][0]["amount_units"],
        5_000_000_000u64 + 50_000_000 + 10_000,
        "subsidy + fees"
    );
    assert_eq!(
        txs[1]["inputs"][0]["address"],
        alice.to_string(),
        "inputs show who paid"
    );

    let status = client
        .get(&format!("/tx/{}/status", to_bob.txid()))
        .await
        .ok();
    assert_eq!(
        (
            status["confirmed"].as_bool(),
            status["block_height"].as_u64()
        ),
        (Some(true), Some(12))
    );
    let tx = client.get(&format!("/tx/{}", to_bob.txid())).await.ok();
    assert_eq!(tx["fee_units"], 50_000_000);
    let proof = client
        .get(&format!("/tx/{}/merkle-proof", to_bob.txid()))
        .await
        .ok();
    let branch: Vec<MerkleRoot> = proof["merkle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().parse().unwrap())
        .collect();
    let wtxid: Wtxid = proof["wtxid"].as_str().unwrap().parse().unwrap();
    let root = root_from_branch(
        &wtxid,
        usize::try_from(proof["pos"].as_u64().unwrap()).unwrap(),
        &branch,
    );
    assert_eq!(
        root.to_string(),
        block["merkle_root"].as_str().unwrap(),
        "the proof leads to the header's root"
    );

    let reply = client.get(&format!("/balance/{bob}")).await;
    assert!(
        reply.text.contains("\"balance\":10.00000000,"),
        "coins are exact decimals: {}",
        reply.text
    );
    assert_eq!(coins(&reply.ok()["balance_units"]), 1_000_000_000);
    let alice_balance = client.get(&format!("/balance/{alice}")).await.ok();
    assert_eq!(
        coins(&alice_balance["immature_units"]),
        8 * 5_000_000_000,
        "coinbases 4..=11 are not mature for block 13"
    );
    let utxos = client.get(&format!("/utxos/{bob}")).await.ok();
    assert_eq!(utxos["count"], 1);
    assert_eq!(
        client.get(&format!("/address/{bob}/utxo")).await.ok()["count"],
        1
    );
    let history = client.get(&format!("/transactions/{bob}")).await.ok();
    assert_eq!(
        history["transactions"][0]["txid"],
        to_bob.txid().to_string()
    );
    assert_eq!(history["transactions"][0]["received_units"], 1_000_000_000);
    let alice_history = client
        .get(&format!("/address/{alice}/txs?limit=2"))
        .await
        .ok();
    assert_eq!(alice_history["transactions"].as_array().unwrap().len(), 2);
    let next = alice_history["next"]
        .as_str()
        .expect("more history")
        .to_owned();
    let older = client
        .get(&format!("/transactions/{alice}?limit=50&before={next}"))
        .await
        .ok();
    assert_eq!(
        older["transactions"].as_array().unwrap().len(),
        11,
        "13 entries: 2, then the 11 older"
    );
    assert_eq!(
        client.get(&format!("/address/{bob}")).await.ok()["chain_stats"]["tx_count"],
        1
    );

    let chain = client.get("/blockchain?start=0&limit=5").await.ok();
    assert_eq!(
        (
            chain["blocks"].as_array().unwrap().len(),
            chain["length"].as_u64(),
            chain["next"].as_u64()
        ),
        (5, Some(13), Some(5))
    );
    let range = client.get("/blocks/range?start=10&end=12").await.ok();
    assert_eq!(range["blocks"][2]["hash"], block_hash);
    assert_eq!(
        client.get("/blocks/recent?limit=3").await.ok()["blocks"][0]["hash"],
        block_hash
    );
    assert_eq!(client.get("/blocks/tip/height").await.text, "12");
    assert_eq!(client.get("/blocks/tip/hash").await.text, block_hash);
    assert_eq!(client.get("/block-height/12").await.text, block_hash);
    let tree = client.get("/blocks/tree").await.ok();
    assert_eq!(tree["blocks"].as_array().unwrap().len(), 13);
    assert_eq!(client.get("/chain/tips").await.ok()[0]["status"], "active");

    let stats = client.get("/stats").await.ok();
    assert_eq!(stats["height"], 12);
    assert_eq!(stats["total_supply_units"], 12 * 5_000_000_000u64);
    let metrics = client.get("/metrics").await.text;
    for name in [
        "chaincore_height 12",
        "chaincore_blocks_accepted_total",
        "chaincore_transactions_accepted_total",
        "chaincore_http_request_duration_seconds",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}");
    }
    let openapi = client.get("/openapi.json").await.ok();
    for path in [
        "/status",
        "/submit_block",
        "/tx/{txid}/merkle-proof",
        "/balance/{address}",
    ] {
        assert!(
            openapi["paths"].get(path).is_some(),
            "/openapi.json lacks {path}"
        );
    }
    assert_eq!(client.get("/peers").await.ok()["count"], 0);
    assert!(
        client.get("/getpeers").await.ok()["rest_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    let page = client.get("/").await;
    assert!(
        page.status == 200 && page.text.contains("<html") && page.text.contains("/explorer/app.js")
    );
    assert_eq!(
        mined_rows(&node).await,
        12,
        "mining_stats has a row per block a miner submitted"
    );
}

/// Rows in the node's `mining_stats` table.
async fn mined_rows(node: &NodeProcess) -> i64 {
    use sea_orm::{ConnectionTrait, Database, Statement};
    let url = match &node.db {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}/chain.db?mode=ro", node.dir.path().display()),
    };
    let db = Database::connect(url.as_str())
        .await
        .expect("the node's database");
    let statement = Statement::from_string(
        db.get_database_backend(),
        "SELECT COUNT(*) AS n FROM mining_stats",
    );
    let row = db
        .query_one_raw(statement)
        .await
        .expect("a count")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("an integer")
}

/// The next event on `events`, within 10 s.
async fn next_event(events: &mut Events) -> (String, Value) {
    tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event within 10 s")
        .expect("the stream stays open")
}

async fn the_event_stream_delivers_blocks_and_a_reorg(backend: Backend) {
    let Some((_node, client)) = start(backend).await else {
        return;
    };
    let alice = key(1).address();
    mine_many(&client, &alice, 3).await;
    let mut events = Events::open(&client).await.expect("/events");
    let fork_point = client.tip_hash().await;

    let mined = mine(&client, &alice).await;
    let (kind, data) = next_event(&mut events).await;
    assert_eq!(kind, "block_connected");
    assert_eq!(
        (data["hash"].as_str(), data["height"].as_u64()),
        (mined["hash"].as_str(), Some(4))
    );

    // Two blocks on the old tip outweigh the one block on top of it: a reorg of depth 1.
    let b4 = block_on(&client, &fork_point, &key(2).address(), b"fork").await;
    assert_eq!(
        submit(&client, &b4).await.ok()["on_main_chain"],
        false,
        "equal work: the first seen stays"
    );
    let b5 = block_on(
        &client,
        &b4.block_hash().to_string(),
        &key(2).address(),
        b"fork",
    )
    .await;
    assert_eq!(submit(&client, &b5).await.ok()["on_main_chain"], true);
    let mut kinds = Vec::new();
    while kinds.last().map(String::as_str) != Some("reorg") {
        let (kind, data) = next_event(&mut events).await;
        if kind == "reorg" {
            assert_eq!(data["depth"], 1);
            assert_eq!(data["old_tip"], mined["hash"]);
            assert_eq!(data["new_tip"], b5.block_hash().to_string());
            assert_eq!(data["fork_point"], fork_point);
        }
        kinds.push(kind);
    }
    assert_eq!(
        kinds,
        [
            "block_disconnected",
            "block_connected",
            "block_connected",
            "reorg"
        ]
    );
    assert_eq!(client.tip_hash().await, b5.block_hash().to_string());
    let tips = client.get("/chain/tips").await.ok();
    assert!(
        tips.as_array()
            .unwrap()
            .iter()
            .any(|t| t["hash"] == mined["hash"] && t["status"] == "valid-fork")
    );
    let stats = client.get("/stats").await.ok();
    assert_eq!(stats["reorgs"][0]["depth"], 1);
}

/// The README's check, `curl -s http://localhost:5000/status | grep blockchain_length`, on a
/// node started with the README's flags (but on a free port).
async fn the_readme_status_check_finds_blockchain_length(backend: Backend) {
    let options = NodeOptions {
        backend,
        node_id: "core0".into(),
        extra_args: vec!["--rate-limit".into(), "0".into()],
    };
    let Some(node) = NodeProcess::start(options).await else {
        return;
    };
    let body = Client::new(&node.url).get("/status").await.text;
    assert!(
        body.lines().any(|l| l.contains("blockchain_length")),
        "{body}"
    );
}

/// A client whose connection dropped reconnects with `Last-Event-ID` (as a browser's
/// `EventSource` does) and gets exactly the events it missed, then the live ones: none lost,
/// none repeated. An id the node never issued gets a `lagged` gap first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_resume_after_a_dropped_connection() {
    let Some((_node, client)) = start(Backend::Sqlite).await else {
        return;
    };
    let alice = key(1).address();
    let mut events = Events::open(&client).await.expect("/events");
    mine_many(&client, &alice, 2).await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (kind, data) = next_event(&mut events).await;
        assert_eq!(kind, "block_connected");
        seen.push((events.last_id().expect("an id"), data["height"].as_u64()));
    }
    let last_seen = events.last_id().expect("an id");
    drop(events);

    mine_many(&client, &alice, 3).await;
    let mut resumed = Events::resume(&client, last_seen).await.expect("/events");
    mine(&client, &alice).await;
    for _ in 0..4 {
        let (kind, data) = next_event(&mut resumed).await;
        assert_eq!(kind, "block_connected", "{data}");
        seen.push((resumed.last_id().expect("an id"), data["height"].as_u64()));
    }
    let first = seen[0].0;
    let expected: Vec<_> = (0..6).map(|n| (first + n, Some(n + 1))).collect();
    assert_eq!(seen, expected, "consecutive ids, every height once");

    let mut stranger = Events::resume(&client, 7).await.expect("/events");
    let (kind, data) = next_event(&mut stranger).await;
    assert_eq!(
        (kind.as_str(), &data),
        ("lagged", &json!({ "missed": null }))
    );
    let (kind, data) = next_event(&mut stranger).await;
    assert_eq!(
        (kind, stranger.last_id()),
        ("block_connected".into(), Some(first))
    );
    assert_eq!(data["height"], 1, "then everything kept, from the oldest");
}

/// Prometheus' convention: every series exists from the start, so that `rate()` and
/// alerts see a zero rather than nothing. The first request a node answers is `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_exists_before_anything_happened() {
    let Some((_node, client)) = start(Backend::Sqlite).await else {
        return;
    };
    let metrics = client.get("/metrics").await.text;
    for family in chaincore::telemetry::FAMILIES {
        let kind = match family.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let typed = format!("# TYPE {} {kind}", family.name);
        assert!(metrics.contains(&typed), "/metrics lacks `{typed}`");
        let helped = format!("# HELP {} ", family.name);
        assert!(metrics.contains(&helped), "/metrics lacks `{helped}`");
        let sample = match family.kind {
            Kind::Histogram => format!("{}_count", family.name),
            _ => family.name.to_owned(),
        };
        assert!(
            metrics.lines().any(|line| !line.starts_with('#')
                && line.starts_with(&sample)
                && line[sample.len()..].starts_with([' ', '{'])),
            "/metrics has no sample of {}",
            family.name
        );
    }
    for series in [
        "chaincore_blocks_rejected_total{reason=\"block-hash-above-target\"} 0",
        "chaincore_blocks_rejected_total{reason=\"tx-bad-signature\"} 0",
        "chaincore_transactions_rejected_total{reason=\"mempool-conflict\"} 0",
        "chaincore_blocks_accepted_total{source=\"network\"} 0",
        "chaincore_peer_penalties_total{offence=\"stalling\"} 0",
        "chaincore_gossip_messages_total{topic=\"blocks\",verdict=\"reject\"} 0",
        "chaincore_http_requests_total{route=\"/balance/{address}\",status=\"200\"} 0",
        "chaincore_storage_up 1",
        "chaincore_peers 0",
        "chaincore_height 0",
    ] {
        assert!(metrics.contains(series), "/metrics lacks `{series}`");
    }
}

on_both_backends!(
    every_route_answers,
    the_event_stream_delivers_blocks_and_a_reorg,
    the_readme_status_check_finds_blockchain_length,
);
