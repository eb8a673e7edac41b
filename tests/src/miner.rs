//! A test-side miner: takes a template from `/mine_block`, keeps block times on the schedule
//! (so dev difficulty stays trivial however fast the test mines), finds a nonce with the
//! portable solver, and submits the block.

use chaincore::consensus::Network;
use chaincore::consensus::pow::solve_header;
use chaincore::primitives::{Address, Block, BlockHeader, encode};
use serde_json::{Value, json};

use crate::client::Client;

/// The block a template describes, unsolved (the tools' decoder, on the template's JSON).
pub fn block_from_template(template: &Value) -> Block {
    let view: chaincore_tools::rest::TemplateView =
        serde_json::from_value(template.clone()).expect("a template");
    chaincore_tools::lab::mine::block_from_template(&view).expect("a template that decodes")
}

/// Sets `block`'s time on the schedule and finds a nonce (see
/// [`chaincore_tools::lab::mine::solve`]).
pub fn solve(block: &mut Block, parent_time: u32, network: Network) {
    assert!(
        chaincore_tools::lab::mine::solve(block, parent_time, network),
        "no nonce found"
    );
}

/// Mines one block paying `payout` on `client`'s node; returns the submit reply body.
pub async fn mine(client: &Client, payout: &Address) -> Value {
    let template = client
        .post("/mine_block", &json!({"miner_address": payout.to_string()}))
        .await
        .ok();
    let parent = template["previous_block_hash"].as_str().expect("a parent");
    let parent_time = client.get(&format!("/block/{parent}")).await.ok()["time"]
        .as_u64()
        .expect("a time");
    let mut block = block_from_template(&template);
    solve(
        &mut block,
        u32::try_from(parent_time).expect("a u32 time"),
        Network::Dev,
    );
    let reply = client
        .post(
            "/submit_block",
            &json!({"block_hex": hex::encode(encode(&block))}),
        )
        .await
        .ok();
    assert_eq!(reply["status"], "accepted", "{reply}");
    reply
}

/// Mines `n` blocks paying `payout`.
pub async fn mine_many(client: &Client, payout: &Address, n: usize) {
    for _ in 0..n {
        mine(client, payout).await;
    }
}

/// A block built by the test itself on `parent` (any block the node knows, not only its
/// tip), one spacing after it, paying the subsidy to `payout`: for making forks.
pub async fn block_on(client: &Client, parent: &str, payout: &Address, tag: &[u8]) -> Block {
    use chaincore::consensus::coinbase::build_coinbase;
    use chaincore::consensus::{block_subsidy, next_bits};
    use chaincore::primitives::{Height, TxOut};
    let params = Network::Dev.params();
    let parent_view = client.get(&format!("/block/{parent}")).await.ok();
    let field = |key: &str| parent_view[key].as_u64().expect("a number");
    let parent_height = u32::try_from(field("height")).expect("a height");
    let parent_time = u32::try_from(field("time")).expect("a time");
    let height = Height::new(parent_height + 1);
    let anchor_time = if parent_height >= 1 {
        let first = client.get("/block-height/1").await.text;
        let first = client.get(&format!("/block/{first}")).await.ok();
        u32::try_from(first["time"].as_u64().expect("a time")).expect("a time")
    } else {
        0
    };
    let reward = TxOut::to_address(block_subsidy(height, params), payout);
    let coinbase = build_coinbase(height, 0, tag, vec![reward]);
    let mut block = Block {
        header: BlockHeader {
            version: 1,
            prev_blockhash: parent.parse().expect("a hash"),
            merkle_root: Default::default(),
            time: parent_time + params.target_spacing,
            bits: next_bits(params, height, parent_time, anchor_time),
            nonce: 0,
        },
        transactions: vec![coinbase],
    };
    block.header.merkle_root = block.compute_merkle_root();
    assert!(solve_header(&mut block.header, 1 << 32));
    block
}

/// Submits a whole block; returns the reply (any status).
pub async fn submit(client: &Client, block: &Block) -> crate::client::Reply {
    client
        .post(
            "/submit_block",
            &json!({"block_hex": hex::encode(encode(block))}),
        )
        .await
}
