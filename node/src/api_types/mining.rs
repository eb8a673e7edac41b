//! The JSON shapes of mining: templates and submitted blocks.

use serde::{Deserialize, Serialize};

use super::Coins;

/// A block template.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct TemplateView {
    pub template_id: u64,
    pub height: u32,
    pub previous_block_hash: String,
    pub version: u32,
    pub time: u32,
    pub bits: String,
    /// The target as 64 hex digits, big-endian: the block hash must not exceed it.
    pub target: String,
    /// The 80-byte header with nonce 0.
    pub header_hex: String,
    pub coinbase_hex: String,
    /// Merkle branch of the coinbase (position 0), to recompute the root after changing it.
    pub coinbase_branch: Vec<String>,
    pub transactions_hex: Vec<String>,
    #[cfg_attr(feature = "full", schema(value_type = f64))]
    pub fees: Coins,
    pub fees_units: u64,
    #[cfg_attr(feature = "full", schema(value_type = f64))]
    pub coinbase_value: Coins,
    pub coinbase_value_units: u64,
    /// Where in `coinbase_hex`'s bytes the 8-byte little-endian extra-nonce sits.
    pub extra_nonce_offset: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct SubmitResult {
    /// `accepted`, `orphan` or `duplicate`.
    pub status: String,
    pub hash: String,
    pub height: Option<u32>,
    pub on_main_chain: bool,
    /// For an orphan: the block to fetch first.
    pub missing: Option<String>,
}
