//! The dev-chain controls of a real node, as Bitcoin Core's regtest offers them:
//! `/generate`, `/invalidateblock` and `/reconsiderblock` (the tip moves back and forth,
//! the mempool follows, the event stream shows it), `/tx/test` (judged, never taken or
//! relayed), and all of them refused on the main network.

use std::time::Duration;

use chaincore::consensus::params::DEV;
use chaincore::primitives::{
    Address, Amount, Encode, OutPoint, PublicKeyBytes, Transaction, TxOut, Txid,
};
use chaincore::testkit::{key, spend};
use chaincore_tests::client::Client;
use chaincore_tests::db::Backend;
use chaincore_tests::events::Events;
use chaincore_tests::eventually;
use chaincore_tests::node::{NodeOptions, NodeProcess};
use chaincore_tests::wallet::pay;
use serde_json::{Value, json};

async fn node(args: &[&str]) -> Option<NodeProcess> {
    let mut extra_args = vec!["--rate-limit".to_owned(), "0".to_owned()];
    extra_args.extend(args.iter().map(|a| (*a).to_owned()));
    NodeProcess::start(NodeOptions {
        backend: Backend::Sqlite,
        extra_args,
        ..NodeOptions::default()
    })
    .await
}

async fn generate(client: &Client, blocks: u32) -> Value {
    let body = json!({ "blocks": blocks, "address": key(1).address().to_string() });
    client.post("/generate", &body).await.ok()
}

fn hex(tx: &Transaction) -> Value {
    json!({ "hex": ::hex::encode(chaincore::primitives::encode(tx)) })
}

/// The next event on `events` that is not a keep-alive, within 10 s.
async fn next_event(events: &mut Events) -> (String, Value) {
    tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event within 10 s")
        .expect("the stream stays open")
}

async fn mempool_count(client: &Client) -> u64 {
    client.get("/mempool").await.ok()["count"]
        .as_u64()
        .expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_mines_blocks_at_once() {
    let Some(dev) = node(&[]).await else {
        return;
    };
    let client = Client::new(&dev.url);
    let mined = generate(&client, 25).await;
    let blocks = mined["blocks"].as_array().expect("the mined hashes");
    assert_eq!((blocks.len(), mined["height"].as_u64()), (25, Some(25)));
    assert_eq!(Some(client.tip_hash().await.as_str()), blocks[24].as_str());
    let alice = client.get(&format!("/balance/{}", key(1).address())).await;
    assert_eq!(alice.ok()["balance_units"], 25 * 5_000_000_000u64);

    for (body, code) in [
        (
            json!({ "blocks": 0, "address": key(1).address().to_string() }),
            "invalid-field",
        ),
        (
            json!({ "blocks": 1001, "address": key(1).address().to_string() }),
            "invalid-field",
        ),
        (
            json!({ "blocks": 1, "address": "1nope" }),
            "invalid-address",
        ),
        (json!({ "blocks": 1 }), "invalid-field"),
    ] {
        let reply = client.post("/generate", &body).await;
        assert_eq!(
            (reply.status, reply.body["code"].as_str()),
            (400, Some(code)),
            "{body}"
        );
    }
    assert_eq!(client.height().await, 25, "refused requests mined nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dev_controls_are_refused_on_main() {
    let Some(main) = node(&["--network", "main"]).await else {
        return;
    };
    let client = Client::new(&main.url);
    let genesis = client.tip_hash().await;
    let attempts = [
        (
            "/generate",
            json!({ "blocks": 1, "address": key(1).address().to_string() }),
        ),
        ("/invalidateblock", json!({ "hash": genesis })),
        ("/reconsiderblock", json!({ "hash": genesis })),
        ("/tx/test", json!({ "hex": "00" })),
    ];
    for (route, body) in attempts {
        let reply = client.post(route, &body).await;
        assert_eq!(
            (reply.status, reply.body["code"].as_str()),
            (403, Some("main-network")),
            "{route}"
        );
    }
    assert_eq!(client.height().await, 0);
}

/// Invalidating a block takes it and its descendants off the main chain (to a chain with
/// less work), returns their transactions to the mempool and says so on the event stream;
/// reconsidering it brings them back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidateblock_and_reconsiderblock_move_the_tip_back_and_forth() {
    let Some(dev) = node(&[]).await else {
        return;
    };
    let client = Client::new(&dev.url);
    generate(&client, 12).await;
    let payment = pay(&client, 0, &key(2).address(), 1, 10_000).await;
    let txid = payment.txid().to_string();
    client.post("/add_transaction", &hex(&payment)).await.ok();
    let confirming = generate(&client, 1).await["best_block_hash"].clone();
    let below = client.get("/block-height/12").await.text;
    assert_eq!(mempool_count(&client).await, 0);

    let mut events = Events::open(&client).await.expect("/events");
    let moved = client
        .post("/invalidateblock", &json!({ "hash": confirming }))
        .await
        .ok();
    assert_eq!(
        (moved["height"].as_u64(), moved["best_block_hash"].as_str()),
        (Some(12), Some(below.as_str()))
    );
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (kind, data) = next_event(&mut events).await;
        seen.push(kind.clone());
        match kind.as_str() {
            "block_disconnected" => assert_eq!(data["hash"], confirming),
            "reorg" => assert_eq!(
                (data["depth"].as_u64(), data["new_tip"].as_str()),
                (Some(1), Some(below.as_str()))
            ),
            "tx_readded" => assert_eq!(data["txid"], txid.as_str()),
            other => panic!("unexpected event {other}: {data}"),
        }
    }
    assert_eq!(seen, ["block_disconnected", "reorg", "tx_readded"]);
    assert_eq!(
        mempool_count(&client).await,
        1,
        "the payment is pending again"
    );
    let tips = client.get("/chain/tips").await.ok();
    assert!(
        tips.as_array()
            .unwrap()
            .iter()
            .any(|t| t["hash"] == confirming && t["status"] == "invalid"),
        "{tips}"
    );

    let moved = client
        .post("/reconsiderblock", &json!({ "hash": confirming }))
        .await
        .ok();
    assert_eq!(
        (moved["height"].as_u64(), &moved["best_block_hash"]),
        (Some(13), &confirming)
    );
    let (kind, data) = next_event(&mut events).await;
    assert_eq!(
        (kind.as_str(), &data["hash"]),
        ("block_connected", &confirming)
    );
    assert_eq!(mempool_count(&client).await, 0, "confirmed again");

    // With descendants: invalidating height 11 takes 11..=13 off; reconsidering 11 brings
    // all three back.
    let eleven = client.get("/block-height/11").await.text;
    let moved = client
        .post("/invalidateblock", &json!({ "hash": eleven }))
        .await
        .ok();
    assert_eq!(moved["height"], 10);
    assert_eq!(client.get("/mempool").await.ok()["count"], 1);
    let moved = client
        .post("/reconsiderblock", &json!({ "hash": eleven }))
        .await
        .ok();
    assert_eq!(
        (moved["height"].as_u64(), &moved["best_block_hash"]),
        (Some(13), &confirming)
    );

    let genesis = client.get("/block-height/0").await.text;
    for (body, status, code) in [
        (json!({ "hash": "00".repeat(32) }), 404, "not-found"),
        (json!({ "hash": "xyz" }), 400, "invalid-hash"),
        (json!({ "hash": genesis }), 400, "invalid-hash"),
    ] {
        let reply = client.post("/invalidateblock", &body).await;
        assert_eq!(
            (reply.status, reply.body["code"].as_str()),
            (status, Some(code)),
            "{body}"
        );
    }
}

/// `/tx/test` answers what `/add_transaction` would, rule by rule, and takes nothing: the
/// node's mempool does not change and a connected peer never hears of it (while a real
/// submission reaches that peer, so the check can fail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_test_judges_without_taking_or_relaying() {
    let Some(a) = node(&[]).await else {
        return;
    };
    let Some(b) = node(&["--bootstrap-nodes", &a.url]).await else {
        return;
    };
    let (ca, cb) = (Client::new(&a.url), Client::new(&b.url));
    generate(&ca, 13).await;
    eventually("b to follow a", Duration::from_secs(30), || async {
        cb.height().await == 13
    })
    .await;

    let alice = key(1);
    let utxos = ca.get(&format!("/utxos/{}", alice.address())).await.ok();
    let mut coins: Vec<(bool, u64, OutPoint, u64)> = utxos["utxos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let outpoint = OutPoint::new(
                u["txid"].as_str().unwrap().parse().unwrap(),
                u32::try_from(u["vout"].as_u64().unwrap()).unwrap(),
            );
            let height = u["height"].as_u64().unwrap();
            (
                u["mature"] == true,
                height,
                outpoint,
                u["amount_units"].as_u64().unwrap(),
            )
        })
        .collect();
    coins.sort_by_key(|c| c.1);
    let mature: Vec<_> = coins.iter().filter(|c| c.0).map(|c| (c.2, c.3)).collect();
    let immature = coins.iter().find(|c| !c.0).expect("an immature coinbase").2;
    let ((tested_coin, value), (submitted_coin, _), (chained_coin, _), fourth) =
        (mature[0], mature[1], mature[2], mature[3]);
    let mature = tested_coin;
    let genesis = DEV.genesis_hash();
    let to_bob = |units| {
        vec![TxOut::to_address(
            Amount::from_units(units).unwrap(),
            &key(2).address(),
        )]
    };
    let signed = |inputs: &[OutPoint], outputs| spend(inputs, &alice, outputs, &genesis);
    let to_self = |units, n| {
        let output = TxOut::to_address(Amount::from_units(units).unwrap(), &alice.address());
        vec![output; n]
    };

    let valid = signed(&[mature], to_bob(value - 10_000));
    let verdict = ca.post("/tx/test", &hex(&valid)).await.ok();
    assert_eq!(verdict["allowed"], true, "{verdict}");
    assert_eq!(verdict["txid"], valid.txid().to_string());
    assert_eq!(
        (verdict["fee_units"].as_u64(), verdict["size"].as_u64()),
        (Some(10_000), Some(valid.encoded_len() as u64))
    );
    assert_eq!(mempool_count(&ca).await, 0, "tested, not taken");

    let mut tampered = valid.clone();
    tampered.outputs[0].value = Amount::from_units(value - 20_000).unwrap();
    let high_s = {
        let mut tx = valid.clone();
        tx.inputs[0].witness.signature = tx.inputs[0].witness.signature.with_high_s();
        tx
    };
    let rejections = [
        (
            signed(&[OutPoint::new(Txid::ZERO, 7)], to_bob(1_000)),
            "tx-missing-or-spent-input",
        ),
        (
            signed(&[immature], to_bob(1_000)),
            "tx-immature-coinbase-spend",
        ),
        (
            spend(&[mature], &key(3), to_bob(1_000), &genesis),
            "tx-wrong-key",
        ),
        (tampered, "tx-bad-signature"),
        (high_s, "tx-high-s-signature"),
        (
            signed(&[mature], to_bob(value + 1)),
            "tx-outputs-exceed-inputs",
        ),
        (
            signed(&[mature, mature], to_bob(1_000)),
            "tx-duplicate-input",
        ),
        (signed(&[mature], Vec::new()), "tx-no-outputs"),
        (signed(&[], to_bob(1_000)), "tx-no-inputs"),
        (signed(&[mature], to_bob(value)), "mempool-fee-rate-too-low"),
        (
            signed(&[mature, OutPoint::NULL], to_bob(1_000)),
            "tx-null-input",
        ),
        (
            signed(&[OutPoint::NULL], to_bob(1_000)),
            "tx-unexpected-coinbase",
        ),
        (
            signed(
                &[mature],
                [to_bob(Amount::MAX.units()), to_bob(Amount::MAX.units())].concat(),
            ),
            "tx-outputs-too-large",
        ),
    ];
    for (tx, code) in &rejections {
        let verdict = ca.post("/tx/test", &hex(tx)).await.ok();
        assert_eq!(
            (verdict["allowed"].as_bool(), verdict["reason"].as_str()),
            (Some(false), Some(*code)),
            "{verdict}"
        );
        assert!(verdict["error"].is_string());
    }

    // A payment from another coin is submitted for real: a copy of it is then already in
    // the pool, a rival spend of its coin conflicts.
    let submitted = signed(&[submitted_coin], to_bob(value - 10_000));
    ca.post("/add_transaction", &hex(&submitted)).await.ok();
    let rival = signed(&[submitted_coin], to_bob(value - 30_000));
    for (tx, code) in [
        (&submitted, "mempool-already-in-pool"),
        (&rival, "mempool-conflict"),
    ] {
        let verdict = ca.post("/tx/test", &hex(tx)).await.ok();
        assert_eq!(verdict["reason"], code, "{verdict}");
    }
    // The submitted payment reaches b; the tested one, which b would take as well, never
    // does (it was tested before the other was sent, so it would have arrived first).
    let relayed = |txid: Txid| {
        let cb = cb.clone();
        async move { cb.get(&format!("/tx/{txid}")).await.status == 200 }
    };
    eventually(
        "the submitted payment to reach b",
        Duration::from_secs(30),
        || relayed(submitted.txid()),
    )
    .await;
    assert!(
        !relayed(valid.txid()).await,
        "a tested transaction reached a peer"
    );
    assert_eq!(
        cb.post("/tx/test", &hex(&valid)).await.ok()["allowed"],
        true,
        "b would have taken it"
    );
    assert_eq!(mempool_count(&ca).await, 1);

    // Package limits: 25 chained payments are the most one may descend from.
    let mut parent = (chained_coin, value);
    let mut next_in_chain = || {
        let (outpoint, units) = parent;
        let tx = signed(&[outpoint], to_self(units - 10_000, 1));
        parent = (OutPoint::new(tx.txid(), 0), units - 10_000);
        tx
    };
    for _ in 0..25 {
        ca.post("/add_transaction", &hex(&next_in_chain()))
            .await
            .ok();
    }
    let verdict = ca.post("/tx/test", &hex(&next_in_chain())).await.ok();
    assert_eq!(verdict["reason"], "mempool-too-many-ancestors", "{verdict}");
    assert_eq!(mempool_count(&ca).await, 26);

    // 25 is also the most descendants one transaction may have in the pool (itself
    // included): a fan-out and 24 children fill it, a 25th child is refused.
    let (fan_coin, fan_value) = fourth;
    let invalid_key = PublicKeyBytes([5; 33]);
    let share = (fan_value - 10_000) / 26;
    let mut outputs = to_self(share, 25);
    outputs.push(TxOut::to_address(
        Amount::from_units(share).unwrap(),
        &Address::from_public_key(&invalid_key),
    ));
    let fan_out = signed(&[fan_coin], outputs);
    ca.post("/add_transaction", &hex(&fan_out)).await.ok();
    let child = |vout| {
        signed(
            &[OutPoint::new(fan_out.txid(), vout)],
            to_self(share - 10_000, 1),
        )
    };
    for vout in 0..24 {
        ca.post("/add_transaction", &hex(&child(vout))).await.ok();
    }
    let verdict = ca.post("/tx/test", &hex(&child(24))).await.ok();
    assert_eq!(
        verdict["reason"], "mempool-too-many-descendants",
        "{verdict}"
    );

    // A key whose hash the output names but that is no curve point: confirmed first, then
    // spent with that key.
    generate(&ca, 1).await;
    let mut bad_key = signed(&[OutPoint::new(fan_out.txid(), 25)], to_bob(share - 10_000));
    bad_key.inputs[0].witness.pubkey = invalid_key;
    let verdict = ca.post("/tx/test", &hex(&bad_key)).await.ok();
    assert_eq!(verdict["reason"], "tx-invalid-public-key", "{verdict}");
}
