//! Blocks: the Python surface (`/blockchain`, `/blocks/range`) and Esplora's shapes
//! (`/block/{hash}`, `/block-height/{h}`, `/blocks/tip/*`), plus the fork view's data
//! (`/blocks/tree`, `/chain/tips`).

use std::collections::HashSet;

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiQuery, page_size, parse_block_hash, parse_height};
use crate::api_types::chain::{BlockList, BlockPage, BlockView, ChainTipView, Tree, TreeBlock};
use crate::api_types::{BlockSummary, TxStatus, TxView};
use crate::chain::{BlockStatus, IndexEntry};
use crate::primitives::{Address, Amount, Block, BlockHash, Height, OutPoint};
use crate::storage::ChainStore;

/// Most blocks one request returns.
const MAX_BLOCKS: u32 = 100;
/// Most heights the fork view spans.
const MAX_TREE_HEIGHTS: u32 = 200;

/// Summaries of `hashes` (all indexed), in order.
async fn summaries(state: &AppState, hashes: &[BlockHash]) -> ApiResult<Vec<BlockSummary>> {
    let node = &state.node;
    let snapshot = node.snapshot();
    let facts = node.store().body_facts(hashes).await?;
    let tip = snapshot.tip.height;
    let params = node.info().network.params();
    Ok(hashes
        .iter()
        .filter_map(|hash| snapshot.index.get(hash))
        .map(|entry| {
            BlockSummary::new(
                entry,
                facts.get(&entry.hash),
                snapshot.active.contains(entry),
                tip,
                params,
            )
        })
        .collect())
}

/// Main-chain hashes at `heights` that exist.
async fn main_hashes(
    state: &AppState,
    heights: impl Iterator<Item = u32>,
) -> ApiResult<Vec<BlockHash>> {
    let active = &state.node.snapshot().active;
    Ok(heights
        .map_while(|h| active.hash_at(Height::new(h)))
        .collect())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ChainPage {
    /// First height (default 0).
    start: Option<u32>,
    /// Blocks to return (default 20, at most 100).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/blockchain", tag = "blocks", params(ChainPage), responses((status = 200, body = BlockPage)))]
pub(super) async fn blockchain(
    State(state): State<AppState>,
    ApiQuery(page): ApiQuery<ChainPage>,
) -> ApiResult<Json<BlockPage>> {
    let limit = page_size(page.limit, 20, MAX_BLOCKS)?;
    let start = page.start.unwrap_or(0);
    let length = state.node.snapshot().tip.height.get() + 1;
    let hashes = main_hashes(&state, start..start.saturating_add(limit)).await?;
    let next = start.checked_add(limit).filter(|n| *n < length);
    Ok(Json(BlockPage {
        blocks: summaries(&state, &hashes).await?,
        length,
        next,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct Range {
    /// First height.
    start: u32,
    /// Last height, included (at most start + 99).
    end: u32,
}

#[utoipa::path(get, path = "/blocks/range", tag = "blocks", params(Range), responses((status = 200, body = BlockList), (status = 400)))]
pub(super) async fn blocks_range(
    State(state): State<AppState>,
    ApiQuery(range): ApiQuery<Range>,
) -> ApiResult<Json<BlockList>> {
    if range.end < range.start {
        return Err(ApiError::bad("invalid-range", "end is below start"));
    }
    if range.end - range.start >= MAX_BLOCKS {
        return Err(ApiError::bad(
            "invalid-range",
            format!("at most {MAX_BLOCKS} blocks per request"),
        ));
    }
    let hashes = main_hashes(&state, range.start..=range.end).await?;
    Ok(Json(BlockList {
        blocks: summaries(&state, &hashes).await?,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct Recent {
    /// Blocks to return (default 10, at most 100).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/blocks/recent", tag = "blocks", params(Recent), responses((status = 200, body = BlockList)))]
pub(super) async fn blocks_recent(
    State(state): State<AppState>,
    ApiQuery(recent): ApiQuery<Recent>,
) -> ApiResult<Json<BlockList>> {
    let limit = page_size(recent.limit, 10, MAX_BLOCKS)?;
    let tip = state.node.snapshot().tip.height.get();
    let hashes = main_hashes(&state, (tip.saturating_sub(limit - 1)..=tip).rev()).await?;
    Ok(Json(BlockList {
        blocks: summaries(&state, &hashes).await?,
    }))
}

#[utoipa::path(get, path = "/blocks/tip/height", tag = "blocks", responses((status = 200, body = String, content_type = "text/plain")))]
pub(super) async fn tip_height(State(state): State<AppState>) -> String {
    state.node.snapshot().tip.height.to_string()
}

#[utoipa::path(get, path = "/blocks/tip/hash", tag = "blocks", responses((status = 200, body = String, content_type = "text/plain")))]
pub(super) async fn tip_hash(State(state): State<AppState>) -> String {
    state.node.snapshot().tip.hash.to_string()
}

#[utoipa::path(get, path = "/block-height/{height}", tag = "blocks", params(("height" = u32, Path, description = "a height")), responses((status = 200, body = String, content_type = "text/plain"), (status = 404)))]
pub(super) async fn block_at_height(
    State(state): State<AppState>,
    Path(height): Path<String>,
) -> ApiResult<String> {
    let height = parse_height(&height)?;
    let hash = state.node.snapshot().active.hash_at(height);
    hash.map(|h| h.to_string())
        .ok_or_else(|| ApiError::NotFound(format!("block at height {height}")))
}

/// The body of an indexed block.
async fn body(state: &AppState, hash: &BlockHash) -> ApiResult<(IndexEntry, Block)> {
    let entry = state.node.snapshot().index.get(hash).copied();
    let entry = entry.ok_or_else(|| ApiError::NotFound(format!("block {hash}")))?;
    let block = state.node.store().block(hash).await?;
    let block = block.ok_or_else(|| ApiError::NotFound(format!("the body of block {hash}")))?;
    Ok((entry, block))
}

#[utoipa::path(get, path = "/block/{hash}", tag = "blocks", params(("hash" = String, Path)), responses((status = 200, body = BlockView), (status = 400), (status = 404)))]
pub(super) async fn block(
    State(state): State<AppState>,
    Path(hash): Path<String>,
) -> ApiResult<Json<BlockView>> {
    let hash = parse_block_hash(&hash)?;
    let (_, block) = body(&state, &hash).await?;
    let summary = summaries(&state, &[hash]).await?.pop().expect("indexed");
    let txids = block
        .transactions
        .iter()
        .map(|tx| tx.txid().to_string())
        .collect();
    Ok(Json(BlockView { summary, txids }))
}

#[utoipa::path(get, path = "/block/{hash}/txs", tag = "blocks", params(("hash" = String, Path)), responses((status = 200, body = Vec<TxView>), (status = 400), (status = 404)))]
pub(super) async fn block_txs(
    State(state): State<AppState>,
    Path(hash): Path<String>,
) -> ApiResult<Json<Vec<TxView>>> {
    let hash = parse_block_hash(&hash)?;
    let (entry, block) = body(&state, &hash).await?;
    let snapshot = state.node.snapshot();
    let (on_main, tip) = (snapshot.active.contains(&entry), snapshot.tip.height);
    let spent = spent_outputs(&state, &hash, &block).await?;
    let status = block_status(&entry, on_main, tip);
    Ok(Json(
        block
            .transactions
            .iter()
            .map(|tx| {
                let known: Vec<_> = tx
                    .inputs
                    .iter()
                    .map(|i| spent.get(&i.previous_output).copied())
                    .collect();
                TxView::new(tx, &known, status.clone())
            })
            .collect(),
    ))
}

/// The status of transactions in the block `entry`.
pub(super) fn block_status(entry: &IndexEntry, on_main: bool, tip: Height) -> TxStatus {
    TxStatus {
        confirmed: on_main,
        block_height: on_main.then_some(entry.height.get()),
        block_hash: on_main.then(|| entry.hash.to_string()),
        block_time: on_main.then_some(entry.header.time),
        confirmations: if on_main {
            tip.get().saturating_sub(entry.height.get()) + 1
        } else {
            0
        },
    }
}

/// Owner and amount of every output a main-chain block's inputs spend (from its undo data
/// and its own outputs); empty for blocks off the main chain.
pub(super) async fn spent_outputs(
    state: &AppState,
    hash: &BlockHash,
    block: &Block,
) -> ApiResult<std::collections::HashMap<OutPoint, (Address, Amount)>> {
    let mut known = std::collections::HashMap::new();
    if let Some(undo) = state.node.store().undo(hash).await? {
        for (outpoint, coin) in undo.0 {
            known.insert(outpoint, (coin.output.address(), coin.output.value));
        }
        for tx in &block.transactions {
            let txid = tx.txid();
            for (output, vout) in tx.outputs.iter().zip(0u32..) {
                known.insert(OutPoint::new(txid, vout), (output.address(), output.value));
            }
        }
    }
    Ok(known)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct TreeRange {
    /// Lowest height (default: 29 below the tip).
    from: Option<u32>,
    /// Highest height (default: the tip).
    to: Option<u32>,
}

#[utoipa::path(get, path = "/blocks/tree", tag = "blocks", params(TreeRange), responses((status = 200, body = Tree), (status = 400)))]
pub(super) async fn blocks_tree(
    State(state): State<AppState>,
    ApiQuery(range): ApiQuery<TreeRange>,
) -> ApiResult<Json<Tree>> {
    let tip = state.node.snapshot().tip.height.get();
    let to = range.to.unwrap_or(tip);
    let from = range.from.unwrap_or_else(|| to.saturating_sub(29));
    if from > to || to - from >= MAX_TREE_HEIGHTS {
        return Err(ApiError::bad(
            "invalid-range",
            format!("from ≤ to, at most {MAX_TREE_HEIGHTS} heights"),
        ));
    }
    let snapshot = state.node.snapshot();
    let mut entries: Vec<(IndexEntry, bool)> = snapshot
        .index
        .entries()
        .filter(|e| (from..=to).contains(&e.height.get()))
        .map(|e| (*e, snapshot.active.contains(e)))
        .collect();
    entries.sort_by_key(|(e, main)| (e.height, !main, e.sequence));
    let hashes: Vec<BlockHash> = entries.iter().map(|(e, _)| e.hash).collect();
    let facts = state.node.store().body_facts(&hashes).await?;
    let blocks = entries
        .iter()
        .map(|(e, main)| TreeBlock {
            hash: e.hash.to_string(),
            height: e.height.get(),
            previous_hash: e.header.prev_blockhash.to_string(),
            status: if e.status == BlockStatus::Invalid {
                "invalid".into()
            } else if *main {
                "main".into()
            } else {
                "side".into()
            },
            main_chain: *main,
            time: e.header.time,
            miner_address: facts
                .get(&e.hash)
                .and_then(|f| f.miner_address)
                .map(|a| a.to_string()),
        })
        .collect();
    Ok(Json(Tree { blocks }))
}

#[utoipa::path(get, path = "/chain/tips", tag = "blocks", responses((status = 200, body = Vec<ChainTipView>)))]
pub(super) async fn chain_tips(
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<ChainTipView>>> {
    let snapshot = state.node.snapshot();
    let (index, active) = (&snapshot.index, &snapshot.active);
    let parents: HashSet<BlockHash> = index.entries().map(|e| e.header.prev_blockhash).collect();
    let mut tips: Vec<ChainTipView> = index
        .entries()
        .filter(|e| !parents.contains(&e.hash))
        .map(|leaf| {
            let mut cursor = *leaf;
            while !active.contains(&cursor) {
                match index.get(&cursor.header.prev_blockhash) {
                    Some(parent) => cursor = *parent,
                    None => break,
                }
            }
            let status = match leaf.status {
                _ if active.contains(leaf) => "active",
                BlockStatus::Invalid => "invalid",
                BlockStatus::HeaderOnly => "headers-only",
                _ => "valid-fork",
            };
            ChainTipView {
                hash: leaf.hash.to_string(),
                height: leaf.height.get(),
                branch_length: leaf.height.get() - cursor.height.get(),
                status: status.into(),
            }
        })
        .collect();
    tips.sort_by(|a, b| b.height.cmp(&a.height).then_with(|| a.hash.cmp(&b.hash)));
    Ok(Json(tips))
}
