//! Mining over REST: `/mine_block` hands out a template a miner can hash, `/submit_block`
//! takes the solved block, whole or as a solved header (and coinbase) for a template.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, parse_address};
use crate::api_types::Coins;
use crate::api_types::mining::{SubmitResult, TemplateView};
use crate::chainstate::SubmitOutcome;
use crate::consensus::block_subsidy;
use crate::node::BlockOrigin;
use crate::primitives::merkle::merkle_branch;
use crate::primitives::{Block, BlockHeader, Encode, Transaction, Witness, decode, encode};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MineRequest {
    /// The P2PKH address the coinbase pays.
    miner_address: String,
}

#[utoipa::path(post, path = "/mine_block", tag = "mining", request_body = MineRequest, responses((status = 200, body = TemplateView), (status = 400)))]
pub(super) async fn mine_block(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<MineRequest>,
) -> ApiResult<Json<TemplateView>> {
    let payout = parse_address(&request.miner_address)?;
    let (id, template) = state.node.issue_template(&payout).await?;
    let block = template.block();
    let branch = merkle_branch(&block.wtxids(), 0).expect("a block has a coinbase");
    let params = state.node.info().network.params();
    let subsidy = block_subsidy(template.height, params);
    let value = template.coinbase.total_output().unwrap_or(subsidy);
    Ok(Json(TemplateView {
        template_id: id,
        height: template.height.get(),
        previous_block_hash: template.header.prev_blockhash.to_string(),
        version: template.header.version,
        time: template.header.time,
        bits: template.header.bits.to_string(),
        target: hex::encode(template.target.to_be_bytes()),
        header_hex: hex::encode(template.header.to_bytes()),
        coinbase_hex: hex::encode(encode(&template.coinbase)),
        coinbase_branch: branch.iter().map(ToString::to_string).collect(),
        transactions_hex: template
            .transactions
            .iter()
            .map(|tx| hex::encode(encode(tx)))
            .collect(),
        fees: Coins(template.fees),
        fees_units: template.fees.units(),
        coinbase_value: Coins(value),
        coinbase_value_units: value.units(),
        extra_nonce_offset: template.coinbase.encoded_len() - Witness::SIZE,
    }))
}

/// The two forms of `/submit_block`'s body, as the document states them (`oneOf`); the
/// handler reads [`SubmitBlock`].
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged, deny_unknown_fields)]
#[allow(dead_code, reason = "the document's shape of `SubmitBlock`")]
pub(super) enum BlockForm {
    /// A whole block in hex.
    Whole { block_hex: String },
    /// A solved header (and optionally a changed coinbase) for an issued template.
    ForTemplate {
        template_id: u64,
        header_hex: String,
        coinbase_hex: Option<String>,
    },
}

/// A solved block, whole (`block_hex`) or for a template (`template_id`, `header_hex`, and
/// `coinbase_hex` if the miner changed the coinbase).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SubmitBlock {
    block_hex: Option<String>,
    template_id: Option<u64>,
    header_hex: Option<String>,
    coinbase_hex: Option<String>,
}

fn hex_bytes(text: &str, what: &str) -> ApiResult<Vec<u8>> {
    hex::decode(text.trim())
        .map_err(|_| ApiError::bad("invalid-hex", format!("{what} is not hexadecimal")))
}

fn block_from(state: &AppState, body: SubmitBlock) -> ApiResult<(Block, Option<u64>)> {
    match body {
        SubmitBlock {
            block_hex: Some(hex),
            template_id: None,
            header_hex: None,
            coinbase_hex: None,
        } => {
            let block = decode(&hex_bytes(&hex, "block_hex")?)
                .map_err(|e| ApiError::bad("invalid-encoding", format!("not a block: {e}")))?;
            Ok((block, None))
        }
        SubmitBlock {
            block_hex: None,
            template_id: Some(id),
            header_hex: Some(header),
            coinbase_hex,
        } => {
            let template = state.node.template(id).ok_or_else(|| {
                ApiError::NotFound(format!("template {id} (expired or never issued)"))
            })?;
            let header: BlockHeader = decode(&hex_bytes(&header, "header_hex")?)
                .map_err(|e| ApiError::bad("invalid-encoding", format!("not a header: {e}")))?;
            let coinbase: Transaction = match coinbase_hex {
                Some(hex) => decode(&hex_bytes(&hex, "coinbase_hex")?).map_err(|e| {
                    ApiError::bad("invalid-encoding", format!("not a transaction: {e}"))
                })?,
                None => template.coinbase.clone(),
            };
            let mut transactions = vec![coinbase];
            transactions.extend(template.transactions.iter().cloned());
            Ok((
                Block {
                    header,
                    transactions,
                },
                Some(id),
            ))
        }
        _ => Err(ApiError::bad(
            "invalid-body",
            "give block_hex, or template_id with header_hex (and optionally coinbase_hex)",
        )),
    }
}

#[utoipa::path(post, path = "/submit_block", tag = "mining", request_body = BlockForm, responses((status = 200, body = SubmitResult), (status = 400), (status = 422)))]
pub(super) async fn submit_block(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SubmitBlock>,
) -> ApiResult<Json<SubmitResult>> {
    let (block, template_id) = block_from(&state, body)?;
    let hash = block.block_hash();
    let outcome = state
        .node
        .submit_block(block, BlockOrigin::Miner { template_id })
        .await?;
    let height = state
        .node
        .snapshot()
        .index
        .get(&hash)
        .map(|e| e.height.get());
    let result = |status, on_main_chain, missing: Option<String>| SubmitResult {
        status,
        hash: hash.to_string(),
        height,
        on_main_chain,
        missing,
    };
    Ok(Json(match outcome {
        SubmitOutcome::Accepted { on_main_chain } => result("accepted".into(), on_main_chain, None),
        SubmitOutcome::AlreadyKnown => result("duplicate".into(), false, None),
        // Its chain has less work than the tip: not stored (a stale block).
        SubmitOutcome::LowWork => result("stale".into(), false, None),
        SubmitOutcome::Orphan { missing } => {
            result("orphan".into(), false, Some(missing.to_string()))
        }
    }))
}
