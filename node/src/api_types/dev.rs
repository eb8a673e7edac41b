//! The JSON shapes of the dev-chain controls.

use serde::{Deserialize, Serialize};

use super::Coins;

/// Where the chain stands after a control.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct ChainMoved {
    /// The blocks mined, oldest first (empty for the block controls).
    pub blocks: Vec<String>,
    pub height: u32,
    pub best_block_hash: String,
}

/// Whether a transaction would be accepted, and if not the rule it breaks.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct TestAccept {
    pub txid: String,
    pub allowed: bool,
    #[cfg_attr(feature = "full", schema(value_type = Option<f64>))]
    pub fee: Option<Coins>,
    pub fee_units: Option<u64>,
    pub size: usize,
    /// The rule code when not allowed (as `reason` in a 422).
    pub reason: Option<String>,
    pub error: Option<String>,
}
