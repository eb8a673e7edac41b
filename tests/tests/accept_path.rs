//! The accept path over real sockets: a `chaincore-node` process and a hand-driven libp2p
//! peer ([`RawPeer`]) that lies, serves mutated bodies, stalls or floods. Each test is
//! named after what it defends; Bitcoin Core's functional test of the same concern is named
//! in its doc.

use std::collections::HashMap;
use std::time::Duration;

use chaincore::consensus::Network;
use chaincore::consensus::pow::solve_header;
use chaincore::network::protocol::{MAX_HEADERS, Request, Response, Status};
use chaincore::primitives::{
    Amount, Block, BlockHash, BlockHeader, Transaction, TxOut, Witness, Work, encode,
};
use chaincore::testkit::{TestChain, header_chain, key, pad_coinbase, spend};
use chaincore_tests::client::Client;
use chaincore_tests::db::Backend;
use chaincore_tests::eventually;
use chaincore_tests::miner::{block_on, mine_many, submit};
use chaincore_tests::node::{NodeOptions, NodeProcess};
use chaincore_tests::on_both_backends;
use chaincore_tests::peer::{RawPeer, Seen};
use chaincore_tests::wallet::pay;
use libp2p::PeerId;
use serde_json::json;

/// How long a peer may take to connect and be listed.
const CONNECT: Duration = Duration::from_secs(10);
/// How long a sync (or a punishment) may take.
const SYNC: Duration = Duration::from_secs(60);

async fn node(name: &str, backend: Backend) -> Option<NodeProcess> {
    NodeProcess::start(NodeOptions {
        backend,
        node_id: name.into(),
        ..NodeOptions::default()
    })
    .await
}

fn dev() -> &'static chaincore::consensus::Params {
    Network::Dev.params()
}

fn work_of(header: &BlockHeader) -> Work {
    header.bits.to_target().expect("valid bits").work()
}

/// The chain work a node reports in `/status`.
async fn chain_work(client: &Client) -> Work {
    serde_json::from_value(client.status().await["chain_work"].clone()).expect("a work")
}

/// What the peer says when asked: a chain ending at `tip`.
fn status(tip: BlockHash, height: u32, work: Work) -> Response {
    Response::Status(Status {
        genesis: *dev().genesis_hash().as_bytes(),
        tip: *tip.as_bytes(),
        height,
        chain_work: work.to_be_bytes(),
        rest_url: None,
        node_id: "attacker".into(),
    })
}

/// Sum of a penalty counter for one offence on a node.
async fn penalties(client: &Client, offence: &str) -> f64 {
    client
        .metric(
            "chaincore_peer_penalties_total",
            &format!("offence=\"{offence}\""),
        )
        .await
}

async fn is_banned(client: &Client, peer: &PeerId) -> bool {
    let peers = client.get("/peers").await.ok();
    peers["banned"]
        .as_array()
        .expect("a list")
        .iter()
        .any(|b| b["peer_id"] == peer.to_string().as_str())
}

async fn knows_block(client: &Client, hash: &BlockHash) -> bool {
    client.get(&format!("/block/{hash}")).await.status == 200
}

/// `tx` with every signature replaced by one its owner made over another message.
fn with_stolen_signatures(mut tx: Transaction, owner: u8) -> Transaction {
    for input in &mut tx.inputs {
        input.witness = Witness {
            pubkey: key(owner).public_key(),
            signature: key(owner).sign_digest(&[0x42; 32]),
        };
    }
    tx
}

fn with_new_body(block: &Block, transactions: Vec<Transaction>) -> Block {
    Block {
        header: block.header,
        transactions,
    }
}

/// The headers after the first locator hash the chain knows (genesis when none), at most
/// [`MAX_HEADERS`], as a peer answers a headers request.
fn headers_after(chain: &[BlockHeader], locator: &[[u8; 32]]) -> Response {
    let position: HashMap<[u8; 32], usize> = chain
        .iter()
        .enumerate()
        .map(|(i, h)| (h.block_hash().to_byte_array(), i + 1))
        .collect();
    let start = locator
        .iter()
        .find_map(|h| position.get(h).copied())
        .unwrap_or(0);
    let end = chain.len().min(start + MAX_HEADERS);
    Response::Headers(
        chain[start.min(end)..end]
            .iter()
            .map(|h| h.to_bytes().to_vec())
            .collect(),
    )
}

/// Point 1 of issue 11, over libp2p: the thief first sends a copy of block H with a
/// coinbase-only body (over REST; refused, bad merkle root), then connects as a peer that
/// serves H's header first and H's real body on request. H spends a coin with a signature
/// its owner made over another message. Before the fix the copy's signature verdict was
/// reused for the real body: H connected and the coin moved. Now the real body's signatures
/// are checked, H is invalid and the thief banned.
async fn theft_through_a_stale_signature_verdict_over_headers_first_sync(backend: Backend) {
    let Some(n0) = node("n0", backend).await else {
        return;
    };
    let c0 = Client::new(&n0.url);
    mine_many(&c0, &key(1).address(), 11).await;
    let honest = pay(&c0, 0, &key(66).address(), 49, 0).await;
    let coin = honest.inputs[0].previous_output;
    let theft = with_stolen_signatures(honest, 1);
    let tip = c0.tip_hash().await;
    let mut h = block_on(&c0, &tip, &key(9).address(), b"thief").await;
    h.transactions.push(theft.clone());
    h.header.merkle_root = h.compute_merkle_root();
    assert!(solve_header(&mut h.header, 1 << 32));

    let coinbase_only = with_new_body(&h, vec![h.transactions[0].clone()]);
    let reply = submit(&c0, &coinbase_only).await;
    assert_ne!(
        reply.status, 200,
        "a mutated body is refused: {}",
        reply.text
    );

    let claim = chain_work(&c0).await + work_of(&h.header);
    let height = u32::try_from(c0.height().await).unwrap() + 1;
    let (hash, header, body) = (h.block_hash(), h.header, encode(&h));
    let mut thief = RawPeer::new(Network::Dev);
    thief.answer_with(move |request| {
        Some(match request {
            Request::Status(_) => status(hash, height, claim),
            Request::Headers { .. } => Response::Headers(vec![header.to_bytes().to_vec()]),
            Request::Blocks(_) => Response::Blocks(vec![body.clone()]),
            _ => Response::Refused("no mempool".into()),
        })
    });
    let node0: PeerId = n0.peer_id.parse().unwrap();
    let seen = thief
        .dial_and_watch(&n0.p2p, SYNC, |seen| {
            seen.contains(&Seen::Disconnected(node0))
        })
        .await;
    assert!(
        seen.iter()
            .any(|s| matches!(s, Seen::Asked(_, Request::Blocks(_)))),
        "the node fetched H's body from the thief: {seen:?}"
    );
    assert!(
        seen.contains(&Seen::Disconnected(node0)),
        "and hung up on it: {seen:?}"
    );
    let thief_id = thief.peer_id();
    eventually("the thief to be banned", CONNECT, || {
        is_banned(&c0, &thief_id)
    })
    .await;
    assert_eq!(c0.tip_hash().await, tip, "H never became the tip");
    assert_eq!(c0.get(&format!("/tx/{}", theft.txid())).await.status, 404);
    let utxos = c0.get(&format!("/utxos/{}", key(1).address())).await.ok();
    let still_there =
        utxos["utxos"].as_array().unwrap().iter().any(|u| {
            u["txid"] == coin.txid.to_string().as_str() && u["vout"] == u64::from(coin.vout)
        });
    assert!(still_there, "the coin never moved");
}

/// A sibling of block 1 (a child of genesis) with ~1 MB of zero-value coinbase outputs;
/// `n` makes each one different.
fn big_sibling(base: &Block, n: usize) -> Block {
    let mut block = base.clone();
    pad_coinbase(&mut block, 36_000 - n);
    block
}

/// A peer connected to `n0` and subscribed to its gossip, claiming a chain of genesis only
/// (so the node never syncs from it).
async fn gossiper(n0: &NodeProcess) -> Option<RawPeer> {
    let mut peer = RawPeer::new(Network::Dev);
    let genesis = dev().genesis_hash();
    let genesis_work = work_of(&dev().genesis_block().header);
    peer.answer_with(move |request| match request {
        Request::Status(_) => Some(status(genesis, 0, genesis_work)),
        _ => Some(Response::Refused("nothing here".into())),
    });
    let node0: PeerId = n0.peer_id.parse().unwrap();
    let topic = peer.blocks_topic().hash().to_string();
    let seen = peer
        .dial_and_watch(&n0.p2p, CONNECT, |seen| {
            seen.contains(&Seen::Subscribed(node0, topic.clone()))
        })
        .await;
    seen.contains(&Seen::Subscribed(node0, topic))
        .then_some(peer)
}

/// Point 3 of issue 11 (Bitcoin Core's `p2p_unrequested_blocks`, low-work case): 200
/// siblings of block 1, ~1 MB each, gossiped to a node whose tip is at height 3. None can
/// become the tip, so none is stored or relayed: the database grows by less than 2 MB and
/// the second node never hears of them. Each sender gets a small budget of such blocks and
/// is then charged; the attack needs new identities to go on, and gets them.
async fn low_work_siblings_are_neither_stored_nor_relayed(backend: Backend) {
    let Some(n0) = node("n0", backend).await else {
        return;
    };
    let Some(n1) = NodeProcess::start(NodeOptions {
        node_id: "n1".into(),
        extra_args: vec![
            "--rate-limit".into(),
            "0".into(),
            "--bootstrap-nodes".into(),
            n0.url.clone(),
        ],
        ..NodeOptions::default()
    })
    .await
    else {
        return;
    };
    let (c0, c1) = (Client::new(&n0.url), Client::new(&n1.url));
    mine_many(&c0, &key(1).address(), 3).await;
    eventually("node 1 to follow node 0", SYNC, || async {
        c1.tip_hash().await == c0.tip_hash().await
    })
    .await;
    let (bytes_before, rows_before) = (n0.database_bytes().await, n0.block_rows().await);

    let genesis = dev().genesis_hash().to_string();
    let base = block_on(&c0, &genesis, &key(9).address(), b"sibling").await;
    let mut sent = Vec::new();
    let mut identities = 0;
    let mut peer = None;
    for n in 0..200 {
        let sibling = big_sibling(&base, n);
        assert!(sibling.size() > 1_000_000);
        loop {
            if peer.is_none() {
                identities += 1;
                assert!(
                    identities < 100,
                    "could not keep a gossiping peer connected"
                );
                peer = gossiper(&n0).await;
            }
            let Some(p) = peer.as_mut() else { continue };
            if p.publish_block_bytes(encode(&sibling)).is_ok() {
                break;
            }
            peer = None; // banned or dropped: a new identity costs nothing
        }
        let node0: PeerId = n0.peer_id.parse().unwrap();
        let p = peer.as_mut().expect("just used");
        let seen = p
            .watch(Duration::from_millis(150), |seen| {
                seen.contains(&Seen::Disconnected(node0))
            })
            .await;
        if seen.contains(&Seen::Disconnected(node0)) {
            peer = None;
        }
        sent.push(sibling.block_hash());
    }
    drop(peer);
    eventually("node 0 to judge the last sibling", SYNC, || async {
        c0.metric("chaincore_gossip_messages_total", "topic=\"blocks\"")
            .await
            >= 150.0
    })
    .await;
    for hash in &sent {
        assert!(!knows_block(&c0, hash).await, "node 0 stored {hash}");
        assert!(!knows_block(&c1, hash).await, "node 1 heard of {hash}");
    }
    assert_eq!(n0.block_rows().await, rows_before, "not even a header row");
    let grown = n0.database_bytes().await.saturating_sub(bytes_before);
    assert!(grown < 2_000_000, "node 0's database grew by {grown} bytes");
    assert!(penalties(&c0, "unrequested-blocks").await >= 1.0);
    eprintln!("200 siblings from {identities} identities: the database grew by {grown} bytes");
}

/// The honest chain of a header-spam test: `n` blocks one second apart, so ASERT makes each
/// harder than the last and the chain carries far more work per block than the pow limit.
fn fast_chain(n: usize) -> TestChain {
    let mut chain = TestChain::new(dev());
    for _ in 0..n {
        let mut block = chain.draft_block(&key(1).address(), vec![]);
        block.header.time = chain.tip().header.time + 1;
        TestChain::solve(&mut block);
        chain.push(block).expect("a valid block");
    }
    chain
}

/// Bitcoin Core's `p2p_dos_header_tree` (low-work headers presync): a peer claims a huge
/// chain and serves 100,000 valid headers that together carry less work than the node's
/// 100-block chain. The node holds at most its presync budget in memory, stores no row,
/// charges the peer, and bans it when it keeps going.
async fn header_spam_of_low_work_headers_is_bounded_and_penalised(backend: Backend) {
    let Some(n0) = node("n0", backend).await else {
        return;
    };
    let c0 = Client::new(&n0.url);
    let honest = fast_chain(100);
    for block in &honest.blocks()[1..] {
        submit(&c0, block).await.ok();
    }
    // 60 s apart: the schedule soon drops them to the pow limit, cheap and low in work.
    let spam = header_chain(dev(), 100_000, 60);
    let spam_work = spam
        .iter()
        .fold(work_of(&dev().genesis_block().header), |w, h| {
            w + work_of(h)
        });
    let honest_work = chain_work(&c0).await;
    assert!(spam_work < honest_work, "the premise: the spam is low-work");
    let rows_before = n0.block_rows().await;

    let tip = spam.last().unwrap().block_hash();
    let mut spammer = RawPeer::new(Network::Dev);
    spammer.answer_with(move |request| {
        Some(match request {
            Request::Status(_) => status(tip, 100_000, Work::from_be_bytes([0x7f; 32])),
            Request::Headers { locator } => headers_after(&spam, locator),
            Request::Blocks(_) => Response::Refused("no bodies".into()),
            _ => Response::Refused("no mempool".into()),
        })
    });
    let node0: PeerId = n0.peer_id.parse().unwrap();
    let seen = spammer
        .dial_and_watch(&n0.p2p, SYNC, |seen| {
            seen.contains(&Seen::Disconnected(node0))
        })
        .await;
    let asked = seen
        .iter()
        .filter(|s| matches!(s, Seen::Asked(_, Request::Headers { .. })))
        .count();
    assert!(
        seen.contains(&Seen::Disconnected(node0)),
        "banned in the end: {asked} headers requests"
    );
    assert!(
        asked * MAX_HEADERS < 10_000,
        "at most a few batches were taken before each charge: {asked}"
    );
    assert!(penalties(&c0, "low-work-headers").await >= 1.0);
    assert_eq!(n0.block_rows().await, rows_before, "no header was stored");
    assert_eq!(c0.height().await, 100);
}

/// Point 7 of issue 11: a peer claims far more work than it has and, asked for headers,
/// sends none. The claim is not believed again and the peer is charged.
async fn a_peer_whose_headers_fall_short_of_its_claim_is_penalised(backend: Backend) {
    let Some(n0) = node("n0", backend).await else {
        return;
    };
    let c0 = Client::new(&n0.url);
    mine_many(&c0, &key(1).address(), 2).await;
    let mut liar = RawPeer::new(Network::Dev);
    liar.answer_with(|request| {
        Some(match request {
            Request::Status(_) => status(BlockHash::ZERO, 50_000, Work::from_be_bytes([0x7f; 32])),
            Request::Headers { .. } => Response::Headers(vec![]),
            Request::Blocks(_) => Response::Blocks(vec![]),
            _ => Response::Refused("no mempool".into()),
        })
    });
    let seen = liar
        .dial_and_watch(&n0.p2p, CONNECT, |seen| {
            seen.iter()
                .any(|s| matches!(s, Seen::Asked(_, Request::Headers { .. })))
        })
        .await;
    assert!(
        seen.iter()
            .any(|s| matches!(s, Seen::Asked(_, Request::Headers { .. }))),
        "the claim earned a headers request: {seen:?}"
    );
    liar.watch(Duration::from_secs(1), |_| false).await;
    eventually("the false claim to be charged", CONNECT, || async {
        penalties(&c0, "false-work-claim").await >= 1.0
    })
    .await;
    assert_eq!(c0.height().await, 2);
}

/// A chain built by the test: 11 empty blocks paying key 1, then block 12 with two payments
/// (so that it can be mutated: CVE-2012-2459), then block 13.
fn chain_with_two_payments() -> TestChain {
    let mut chain = TestChain::new(dev());
    chain.mine_empty(11, &key(1).address());
    let genesis = dev().genesis_hash();
    let coins = chain.spendable(&key(1).address());
    let payments: Vec<Transaction> = coins[..2]
        .iter()
        .map(|(outpoint, coin)| {
            let value = coin.output.value.checked_sub(Amount::coins(1)).unwrap();
            spend(
                &[*outpoint],
                &key(1),
                vec![TxOut::to_address(value, &key(2).address())],
                &genesis,
            )
        })
        .collect();
    chain.mine(&key(1).address(), payments);
    chain.mine_empty(1, &key(1).address());
    chain
}

/// A peer that has every header of `chain` and claims its work; `bodies` decides what it
/// sends for a blocks request (`None`: no answer at all).
fn serving(
    chain: &TestChain,
    mut bodies: impl FnMut(&[[u8; 32]]) -> Option<Vec<Vec<u8>>> + Send + 'static,
) -> RawPeer {
    let headers: Vec<BlockHeader> = chain.blocks()[1..].iter().map(|b| b.header).collect();
    let work = chain
        .blocks()
        .iter()
        .fold(Work::ZERO, |w, b| w + work_of(&b.header));
    let (tip, height) = (chain.tip().block_hash(), chain.height().get());
    let mut peer = RawPeer::new(Network::Dev);
    peer.answer_with(move |request| match request {
        Request::Status(_) => Some(status(tip, height, work)),
        Request::Headers { locator } => Some(headers_after(&headers, locator)),
        Request::Blocks(hashes) => bodies(hashes).map(Response::Blocks),
        _ => Some(Response::Refused("no mempool".into())),
    });
    peer
}

/// A node that has `chain`, for honest bodies. It has gossiped the blocks it was given to
/// a passing peer already, so the node under test can get them by sync only (a node keeps
/// what it could not announce for its first subscriber).
async fn honest_node(chain: &TestChain) -> Option<NodeProcess> {
    let n1 = node("honest", Backend::Sqlite).await?;
    let c1 = Client::new(&n1.url);
    for block in &chain.blocks()[1..] {
        submit(&c1, block).await.ok();
    }
    assert_eq!(c1.height().await, u64::from(chain.height().get()));
    let blocks = chain.blocks().len() - 1;
    let mut passer = RawPeer::new(Network::Dev);
    let seen = passer
        .dial_and_watch(&n1.p2p, CONNECT, |seen| {
            seen.iter()
                .filter(|s| matches!(s, Seen::Gossip(..)))
                .count()
                >= blocks
        })
        .await;
    let gossiped = seen
        .iter()
        .filter(|s| matches!(s, Seen::Gossip(..)))
        .count();
    assert_eq!(
        gossiped, blocks,
        "the honest node announced what it was given"
    );
    Some(n1)
}

/// Bitcoin Core's `p2p_mutated_blocks` and point 2 of issue 11: during headers-first sync a
/// peer answers the body request for block 12 with `[cb, t1, t2, t2]` (same merkle root).
/// The body is refused and the peer banned, but block 12 is not marked invalid: an honest
/// peer's genuine body connects it and the node reaches the honest tip.
async fn a_mutated_body_from_sync_leaves_the_block_fetchable_from_an_honest_peer(backend: Backend) {
    let chain = chain_with_two_payments();
    let Some(n1) = honest_node(&chain).await else {
        return;
    };
    let Some(n0) = node("n0", backend).await else {
        return;
    };
    let c0 = Client::new(&n0.url);
    let by_hash: HashMap<[u8; 32], Vec<u8>> = chain
        .blocks()
        .iter()
        .map(|b| {
            let mut body = b.clone();
            if b.transactions.len() == 3 {
                body.transactions.push(b.transactions[2].clone());
                assert_eq!(body.compute_merkle_root(), b.header.merkle_root);
            }
            (b.block_hash().to_byte_array(), encode(&body))
        })
        .collect();
    let mut mutator = serving(&chain, move |hashes| {
        Some(
            hashes
                .iter()
                .filter_map(|h| by_hash.get(h).cloned())
                .collect(),
        )
    });
    let node0: PeerId = n0.peer_id.parse().unwrap();
    let seen = mutator
        .dial_and_watch(&n0.p2p, SYNC, |seen| {
            seen.contains(&Seen::Disconnected(node0))
        })
        .await;
    assert!(
        seen.contains(&Seen::Disconnected(node0)),
        "the node hung up on the mutator: {seen:?}"
    );
    assert!(
        c0.height().await < 12,
        "block 12 did not connect from the mutated body"
    );
    c0.post("/addpeer", &json!({"peer_url": n1.url})).await.ok();
    let honest_tip = chain.tip().block_hash().to_string();
    eventually("the honest tip through the honest peer", SYNC, || async {
        c0.tip_hash().await == honest_tip
    })
    .await;
}

/// Bitcoin Core's `p2p_ibd_stalling`: the first peer a new node syncs from serves headers
/// but never answers a blocks request. After the stall timeout the peer is charged and its
/// blocks go to an honest peer, long before the request's own 30 s timeout.
async fn a_stalling_peer_loses_its_blocks_to_an_honest_one(backend: Backend) {
    let chain = chain_with_two_payments();
    let Some(n1) = honest_node(&chain).await else {
        return;
    };
    let Some(n0) = node("n0", backend).await else {
        return;
    };
    let c0 = Client::new(&n0.url);
    let mut staller = serving(&chain, |_| None);
    let seen = staller
        .dial_and_watch(&n0.p2p, CONNECT, |seen| {
            seen.iter()
                .any(|s| matches!(s, Seen::Asked(_, Request::Blocks(_))))
        })
        .await;
    assert!(
        seen.iter()
            .any(|s| matches!(s, Seen::Asked(_, Request::Blocks(_)))),
        "the node asked the staller for bodies: {seen:?}"
    );
    let asked_at = std::time::Instant::now();
    c0.post("/addpeer", &json!({"peer_url": n1.url})).await.ok();
    let honest_tip = chain.tip().block_hash().to_string();
    let watch = staller.watch(SYNC, |_| false);
    let synced = async {
        eventually("the honest tip despite the staller", SYNC, || async {
            c0.tip_hash().await == honest_tip
        })
        .await;
    };
    tokio::select! {
        () = synced => {}
        _ = watch => panic!("the staller's watch ended first"),
    }
    let took = asked_at.elapsed();
    assert!(penalties(&c0, "stalling").await >= 1.0);
    assert!(
        took < Duration::from_secs(25),
        "the stall timeout freed the blocks, not the request timeout: {took:?}"
    );
}

/// BIP 35's pull, against a liar: asked for the transaction it listed, the peer sends
/// another one, valid and new to the node. The node takes nothing it did not ask for (a
/// peer must not choose what we fetch) and charges the peer; the same transaction sent by
/// a client is accepted, so it was refused for how it came, not for what it is.
#[tokio::test]
async fn a_mempool_pull_answered_with_a_transaction_not_asked_for_takes_nothing() {
    let Some(n0) = node("n0", Backend::Sqlite).await else {
        return;
    };
    let c0 = Client::new(&n0.url);
    mine_many(&c0, &key(1).address(), 11).await;
    let listed = pay(&c0, 0, &key(2).address(), 10, 50_000).await;
    let unasked = pay(&c0, 1, &key(3).address(), 10, 50_000).await;
    let (listed_id, unasked_bytes) = (listed.txid().to_byte_array(), encode(&unasked));
    let mut liar = RawPeer::new(Network::Dev);
    let genesis = dev().genesis_hash();
    let genesis_work = work_of(&dev().genesis_block().header);
    liar.answer_with(move |request| match request {
        Request::Status(_) => Some(status(genesis, 0, genesis_work)),
        Request::Mempool => Some(Response::Mempool(vec![listed_id])),
        Request::Transactions(_) => Some(Response::Transactions(vec![unasked_bytes.clone()])),
        _ => Some(Response::Refused("nothing here".into())),
    });
    let asked_for_transactions = |seen: &[Seen]| {
        seen.iter().any(
            |s| matches!(s, Seen::Asked(_, Request::Transactions(ids)) if ids == &vec![listed_id]),
        )
    };
    let seen = liar
        .dial_and_watch(&n0.p2p, CONNECT, asked_for_transactions)
        .await;
    assert!(
        asked_for_transactions(&seen),
        "the node pulled the listed txid: {seen:?}"
    );
    let before = tokio::time::Instant::now();
    while penalties(&c0, "protocol-violation").await < 1.0 {
        assert!(before.elapsed() < CONNECT, "the liar was never charged");
        liar.watch(Duration::from_millis(200), |_| false).await;
    }
    let unasked_id = unasked.txid();
    assert_eq!(c0.get(&format!("/tx/{unasked_id}")).await.status, 404);
    let body = json!({"hex": hex::encode(encode(&unasked))});
    assert_eq!(c0.post("/add_transaction", &body).await.status, 200);
}

on_both_backends!(
    theft_through_a_stale_signature_verdict_over_headers_first_sync,
    low_work_siblings_are_neither_stored_nor_relayed,
    header_spam_of_low_work_headers_is_bounded_and_penalised,
    a_peer_whose_headers_fall_short_of_its_claim_is_penalised,
    a_mutated_body_from_sync_leaves_the_block_fetchable_from_an_honest_peer,
    a_stalling_peer_loses_its_blocks_to_an_honest_one,
);
