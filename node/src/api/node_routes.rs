//! `/status`, `/health`, `/stats`, `/metrics`: what the node is doing.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::AppState;
use super::error::ApiResult;
use super::views::difficulty;
use crate::api_types::Coins;
use crate::api_types::node::{
    AssumeValidView, HealthView, MempoolStats, MinerCount, StatsView, StatusView,
};
use crate::network::NetworkHandle;
use crate::node::ChainSnapshot;
use crate::outage::StorageStatus;
use crate::primitives::Height;

#[utoipa::path(get, path = "/status", tag = "node", responses((status = 200, body = StatusView)))]
pub(super) async fn status(State(state): State<AppState>) -> Json<StatusView> {
    let node = &state.node;
    let snap = node.snapshot();
    let network = state
        .network
        .as_ref()
        .map(NetworkHandle::view)
        .unwrap_or_default();
    let info = node.info();
    Json(StatusView {
        node_id: info.node_id.clone(),
        network: info.network.to_string(),
        version: info.version.into(),
        blockchain_length: snap.tip.height.get() + 1,
        height: snap.tip.height.get(),
        best_block_hash: snap.tip.hash.to_string(),
        bits: snap.bits.to_string(),
        difficulty: difficulty(snap.bits, info.network.params()),
        chain_work: snap.chain_work.to_string(),
        active_peers: network.peers.len(),
        peers: network.peers.into_iter().map(|p| p.peer_id).collect(),
        pending_transactions: snap.mempool.len(),
        mempool_bytes: snap.mempool.total_bytes(),
        uptime: node.uptime().as_secs(),
        peer_id: network.peer_id,
        listen_addrs: network.listen_addrs,
        utxo_commitment: snap.tip.utxo_commitment.to_string(),
        utxo_count: snap.tip.utxo_count,
        total_supply: Coins(snap.tip.total_amount),
        total_supply_units: snap.tip.total_amount.units(),
        tip_time: snap.tip_time,
        median_time_past: snap.median_time_past,
        indexed_height: node.indexer().tip().map(|(_, h)| h.get()),
        assume_valid: snap
            .assume_valid
            .map(|(hash, blocks_assumed)| AssumeValidView {
                hash: hash.to_string(),
                blocks_assumed,
            }),
    })
}

/// `GET /health`: 200 while the node can take writes, 503 (same body) while its database
/// is lost.
#[utoipa::path(get, path = "/health", tag = "node", responses(
    (status = 200, body = HealthView),
    (status = 503, body = HealthView, description = "the database is lost"),
))]
pub(super) async fn health(State(state): State<AppState>) -> (StatusCode, Json<HealthView>) {
    let height = state.node.snapshot().tip.height.get();
    let (code, view) = match state.node.storage_status() {
        StorageStatus::Up => (
            StatusCode::OK,
            HealthView {
                status: "ok".into(),
                height,
                storage: "up".into(),
                storage_down_since: None,
                storage_error: None,
            },
        ),
        StorageStatus::Down { since, cause } => (
            StatusCode::SERVICE_UNAVAILABLE,
            HealthView {
                status: "degraded".into(),
                height,
                storage: "down".into(),
                storage_down_since: Some(since),
                storage_error: Some(cause),
            },
        ),
    };
    (code, Json(view))
}

/// Blocks the interval and hash-rate figures look back over.
const STATS_WINDOW: u32 = 10;
/// Blocks the miner table looks back over.
const MINER_WINDOW: usize = 100;

/// The mean block interval (seconds) and hash rate (hashes a second) over the last
/// [`STATS_WINDOW`] blocks; `None` at genesis.
fn recent_pace(snap: &ChainSnapshot) -> (Option<f64>, Option<f64>) {
    let tip = *snap.index.get(&snap.tip.hash).expect("the tip is indexed");
    let back = Height::new(tip.height.get().saturating_sub(STATS_WINDOW));
    let base = snap.active.hash_at(back).and_then(|h| snap.index.get(&h));
    let Some(base) = base.filter(|b| b.height < tip.height) else {
        return (None, None);
    };
    let span = f64::from(tip.header.time.saturating_sub(base.header.time)).max(1.0);
    let blocks = f64::from(tip.height.get() - base.height.get());
    let work = tip.chain_work.to_f64_lossy() - base.chain_work.to_f64_lossy();
    (Some(span / blocks), Some(work / span))
}

#[utoipa::path(get, path = "/stats", tag = "node", responses((status = 200, body = StatsView)))]
pub(super) async fn stats(State(state): State<AppState>) -> ApiResult<Json<StatsView>> {
    let node = &state.node;
    let snap = node.snapshot();
    let (interval, hashrate) = recent_pace(&snap);
    let recent: Vec<_> = snap.active.latest(MINER_WINDOW).collect();
    let facts = node.store().body_facts(&recent).await?;
    let mut counts: Vec<MinerCount> = Vec::new();
    for miner in facts.values().filter_map(|f| f.miner_address) {
        let miner = miner.to_string();
        match counts.iter_mut().find(|c| c.miner_address == miner) {
            Some(count) => count.blocks += 1,
            None => counts.push(MinerCount {
                miner_address: miner,
                blocks: 1,
            }),
        }
    }
    counts.sort_by(|a, b| {
        b.blocks
            .cmp(&a.blocks)
            .then_with(|| a.miner_address.cmp(&b.miner_address))
    });
    Ok(Json(StatsView {
        height: snap.tip.height.get(),
        total_supply: Coins(snap.tip.total_amount),
        total_supply_units: snap.tip.total_amount.units(),
        utxo_count: snap.tip.utxo_count,
        mempool: MempoolStats {
            count: snap.mempool.len(),
            bytes: snap.mempool.total_bytes(),
        },
        average_block_interval: interval,
        estimated_hashrate: hashrate,
        blocks_by_miner: counts,
        reorgs: node.reorgs(),
    }))
}

/// `GET /metrics`: Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "node", responses((status = 200, body = String, content_type = "text/plain")))]
pub(super) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    )
}
