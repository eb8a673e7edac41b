//! The JSON shapes of transactions and the mempool.

use serde::{Deserialize, Serialize};

use super::{Coins, TxView};

/// `GET /tx/{txid}/merkle-proof`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct MerkleProof {
    pub block_height: u32,
    pub block_hash: String,
    pub pos: u32,
    pub merkle: Vec<String>,
    pub wtxid: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct PoolEntry {
    pub txid: String,
    #[cfg_attr(feature = "full", schema(value_type = f64))]
    pub fee: Coins,
    pub fee_units: u64,
    /// Base units per byte.
    pub fee_rate: f64,
    pub size: usize,
    pub time_added: u64,
    pub transaction: TxView,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct PoolView {
    pub count: usize,
    pub bytes: usize,
    pub transactions: Vec<PoolEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct MempoolSummary {
    pub count: usize,
    pub bytes: usize,
    #[cfg_attr(feature = "full", schema(value_type = f64))]
    pub total_fee: Coins,
    pub total_fee_units: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct TxAccepted {
    pub status: String,
    pub txid: String,
    #[cfg_attr(feature = "full", schema(value_type = f64))]
    pub fee: Coins,
    pub fee_units: u64,
    pub size: usize,
}
