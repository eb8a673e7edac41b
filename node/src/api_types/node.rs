//! The JSON shapes of the node: `/status`, `/health`, `/stats`.

use serde::{Deserialize, Serialize};

use super::Coins;
use crate::primitives::{BlockHash, Height};

/// `GET /status`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct StatusView {
    pub node_id: String,
    pub network: String,
    pub version: String,
    pub blockchain_length: u32,
    pub height: u32,
    pub best_block_hash: String,
    pub bits: String,
    pub difficulty: f64,
    pub chain_work: String,
    pub active_peers: usize,
    pub peers: Vec<String>,
    pub pending_transactions: usize,
    pub mempool_bytes: usize,
    pub uptime: u64,
    pub peer_id: String,
    pub listen_addrs: Vec<String>,
    pub utxo_commitment: String,
    pub utxo_count: u64,
    #[cfg_attr(feature = "full", schema(value_type = f64))]
    pub total_supply: Coins,
    pub total_supply_units: u64,
    pub tip_time: u32,
    pub median_time_past: u32,
    pub indexed_height: Option<u32>,
    /// Set when the node runs with `--assume-valid`.
    #[serde(default)]
    pub assume_valid: Option<AssumeValidView>,
}

/// `--assume-valid` as `/status` reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct AssumeValidView {
    /// The block named by the flag: it and its ancestors are connected without checking
    /// their signatures.
    pub hash: String,
    /// Blocks connected that way since the node (or its database connection) last started.
    pub blocks_assumed: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct HealthView {
    /// `ok`, or `degraded` while the database is lost.
    pub status: String,
    /// The committed tip's height.
    pub height: u32,
    /// `up`, or `down` while the database is lost (writes then get 503).
    pub storage: String,
    /// Since when (Unix seconds) the database has been lost, and the last error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_down_since: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_error: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct MinerCount {
    pub miner_address: String,
    pub blocks: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct MempoolStats {
    pub count: usize,
    pub bytes: usize,
}

/// `GET /stats`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct StatsView {
    pub height: u32,
    #[cfg_attr(feature = "full", schema(value_type = f64))]
    pub total_supply: Coins,
    pub total_supply_units: u64,
    pub utxo_count: u64,
    pub mempool: MempoolStats,
    pub average_block_interval: Option<f64>,
    pub estimated_hashrate: Option<f64>,
    pub blocks_by_miner: Vec<MinerCount>,
    pub reorgs: Vec<ReorgRecord>,
}

/// A reorganisation, as `/stats` remembers it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct ReorgRecord {
    pub depth: usize,
    #[cfg_attr(feature = "full", schema(value_type = String))]
    pub old_tip: BlockHash,
    #[cfg_attr(feature = "full", schema(value_type = String))]
    pub new_tip: BlockHash,
    #[cfg_attr(feature = "full", schema(value_type = u32))]
    pub fork_height: Height,
    /// Unix seconds.
    pub time: u64,
}
