//! The JSON shapes of blocks and chains: `/blocks…`, `/block/…`, `/chain/tips`.

use serde::{Deserialize, Serialize};

use super::BlockSummary;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct BlockPage {
    pub blocks: Vec<BlockSummary>,
    pub length: u32,
    pub next: Option<u32>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct BlockList {
    pub blocks: Vec<BlockSummary>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct BlockView {
    #[serde(flatten)]
    pub summary: BlockSummary,
    pub txids: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct TreeBlock {
    pub hash: String,
    pub height: u32,
    pub previous_hash: String,
    /// `main`, `side` or `invalid`.
    pub status: String,
    pub main_chain: bool,
    pub time: u32,
    pub miner_address: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct Tree {
    pub blocks: Vec<TreeBlock>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct ChainTipView {
    pub hash: String,
    pub height: u32,
    pub branch_length: u32,
    /// `active`, `valid-fork`, `headers-only` or `invalid`.
    pub status: String,
}
