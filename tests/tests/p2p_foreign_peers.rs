//! What the node asks of a libp2p peer it did not write (Bitcoin Core's `p2p_handshake`
//! and `p2p_disconnect_ban` are the anchor): identify and gossipsub are enough to receive
//! its gossip, ping is optional, and a peer of another network is disconnected and
//! forgotten but not banned, because it broke no rule.

use std::time::Duration;

use chaincore::consensus::Network;
use chaincore::network::behaviour::PING_INTERVAL;
use chaincore::network::protocol;
use chaincore::testkit::key;
use chaincore_tests::client::Client;
use chaincore_tests::db::Backend;
use chaincore_tests::miner::mine_many;
use chaincore_tests::minimal_peer::MinimalPeer;
use chaincore_tests::node::{NodeOptions, NodeProcess};
use chaincore_tests::peer::Seen;

const HANDSHAKE: Duration = Duration::from_secs(15);

async fn start_node() -> NodeProcess {
    NodeProcess::start(NodeOptions {
        backend: Backend::Sqlite,
        node_id: "n0".into(),
        extra_args: Vec::new(),
    })
    .await
    .expect("a SQLite node always starts")
}

fn disconnected(seen: &[Seen]) -> bool {
    seen.iter().any(|s| matches!(s, Seen::Disconnected(_)))
}

#[tokio::test]
async fn a_peer_with_only_identify_and_gossipsub_stays_and_receives_blocks() {
    let node = start_node().await;
    let client = Client::new(&node.url);
    let node_id: libp2p::PeerId = node.peer_id.parse().expect("a peer id");
    let blocks_topic = protocol::blocks_topic(Network::Dev).hash().to_string();
    let mut peer = MinimalPeer::new(Network::Dev, &protocol::identify_protocol(Network::Dev));
    peer.dial(&node.p2p).expect("dial");
    let seen = peer
        .watch(HANDSHAKE, |seen| {
            seen.contains(&Seen::Subscribed(node_id, blocks_topic.clone())) || disconnected(seen)
        })
        .await;
    assert!(
        seen.contains(&Seen::Subscribed(node_id, blocks_topic.clone())),
        "the node meets the peer on gossip: {seen:?}"
    );
    // The node pings every PING_INTERVAL: a peer without ping must outlive a few rounds
    // (before ping became optional, the first unsupported ping closed the connection).
    let seen = peer.watch(PING_INTERVAL * 3, disconnected).await;
    assert!(!disconnected(&seen), "kept without ping: {seen:?}");

    mine_many(&client, &key(1).address(), 1).await;
    let tip = client.tip_hash().await;
    let seen = peer
        .watch(HANDSHAKE, |seen| {
            seen.iter()
                .any(|s| matches!(s, Seen::Gossip(topic, _) if *topic == blocks_topic))
                || disconnected(seen)
        })
        .await;
    let block = seen.iter().find_map(|s| match s {
        Seen::Gossip(topic, data) if *topic == blocks_topic => Some(data.clone()),
        _ => None,
    });
    let block: chaincore::primitives::Block = chaincore::primitives::decode(
        &block.unwrap_or_else(|| panic!("a block gossiped: {seen:?}")),
    )
    .expect("a block");
    assert_eq!(block.block_hash().to_string(), tip, "the block just mined");
    let listed = client.get("/peers").await.body["peers"]
        .as_array()
        .expect("a peer list")
        .iter()
        .any(|p| p["peer_id"] == peer.peer_id().to_string());
    assert!(listed, "the node lists the peer");
}

#[tokio::test]
async fn a_peer_of_another_network_is_disconnected_not_banned() {
    let node = start_node().await;
    let client = Client::new(&node.url);
    let mut foreign = MinimalPeer::new(Network::Dev, "/chaincore/othernet/1.0.0");
    let foreign_id = foreign.peer_id().to_string();
    for attempt in 1..=2 {
        foreign.dial(&node.p2p).expect("dial");
        let seen = foreign.watch(HANDSHAKE, disconnected).await;
        assert!(
            seen.iter().any(|s| matches!(s, Seen::Connected(_))),
            "attempt {attempt}: the connection is taken (not refused as banned): {seen:?}"
        );
        assert!(
            disconnected(&seen),
            "attempt {attempt}: then closed once identify shows another network: {seen:?}"
        );
    }
    let peers = client.get("/peers").await.body;
    let banned = peers["banned"].as_array().expect("a ban list");
    assert!(
        banned.iter().all(|b| b["peer_id"] != foreign_id),
        "not banned: {peers}"
    );
    assert!(
        peers["peers"]
            .as_array()
            .expect("a peer list")
            .iter()
            .all(|p| p["peer_id"] != foreign_id),
        "not listed as a peer: {peers}"
    );
    assert_eq!(client.metric("chaincore_peer_bans_total", "").await, 0.0);
    assert_eq!(
        client.metric("chaincore_peer_penalties_total", "").await,
        0.0,
        "no offence charged"
    );
    assert!(
        client
            .metric("chaincore_foreign_peers_disconnected_total", "")
            .await
            >= 2.0
    );
}
