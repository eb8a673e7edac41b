//! Dev-chain controls, as Bitcoin Core's regtest offers them: mine blocks at once
//! (`/generate`), invalidate and reconsider a block, and judge a transaction without
//! taking it (`/tx/test`, Core's `testmempoolaccept`). Admin routes, refused on the main
//! network: they change which chain the node follows, or spend its CPU, on request.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, parse_address, parse_block_hash};
use super::tx_routes::{SubmitTx, TxForm, transaction_from};
use crate::api_types::Coins;
use crate::api_types::dev::{ChainMoved, TestAccept};
use crate::chainstate::OverrideError;
use crate::consensus::Network;
use crate::devchain::{self, GenerateError};
use crate::ledger::{Override, TxSubmitError};
use crate::primitives::{Encode, IdentifiedTx};

fn refuse_on_main(state: &AppState) -> ApiResult<()> {
    match state.node.info().network {
        Network::Main => Err(ApiError::MainNetwork),
        Network::Dev | Network::Test => Ok(()),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct GenerateRequest {
    /// How many blocks to mine, 1 to 1,000.
    #[schema(minimum = 1, maximum = 1000)]
    blocks: u32,
    /// The P2PKH address every coinbase pays.
    address: String,
}

fn chain_moved(state: &AppState, blocks: Vec<String>) -> Json<ChainMoved> {
    let tip = state.node.snapshot().tip;
    Json(ChainMoved {
        blocks,
        height: tip.height.get(),
        best_block_hash: tip.hash.to_string(),
    })
}

#[utoipa::path(post, path = "/generate", tag = "dev", request_body = GenerateRequest, responses((status = 200, body = ChainMoved), (status = 400), (status = 403), (status = 422), (status = 503)))]
pub(super) async fn generate(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<GenerateRequest>,
) -> ApiResult<Json<ChainMoved>> {
    refuse_on_main(&state)?;
    if !(1..=devchain::MAX_BLOCKS).contains(&request.blocks) {
        return Err(ApiError::bad(
            "invalid-field",
            format!("blocks must be 1 to {}", devchain::MAX_BLOCKS),
        ));
    }
    let payout = parse_address(&request.address)?;
    let mined = devchain::generate(&state.node, request.blocks, &payout)
        .await
        .map_err(|error| match error {
            GenerateError::Template(e) => e.into(),
            GenerateError::Block(e) => e.into(),
            other @ (GenerateError::TooHard | GenerateError::NotTip(_)) => ApiError::Rejected {
                reason: "generate-failed",
                message: other.to_string(),
            },
        })?;
    Ok(chain_moved(
        &state,
        mined.iter().map(ToString::to_string).collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct BlockRequest {
    /// The block's hash, 64 hex digits.
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    hash: String,
}

async fn override_block(
    state: &AppState,
    request: BlockRequest,
    action: Override,
) -> ApiResult<Json<ChainMoved>> {
    refuse_on_main(state)?;
    let hash = parse_block_hash(&request.hash)?;
    state
        .node
        .override_block(&hash, action)
        .await
        .map_err(|error| match error {
            OverrideError::Unknown(hash) => ApiError::NotFound(format!("block {hash}")),
            OverrideError::Genesis => ApiError::bad("invalid-hash", error.to_string()),
            OverrideError::Chain(e) => e.into(),
        })?;
    Ok(chain_moved(state, Vec::new()))
}

#[utoipa::path(post, path = "/invalidateblock", tag = "dev", request_body = BlockRequest, responses((status = 200, body = ChainMoved), (status = 400), (status = 403), (status = 404), (status = 503)))]
pub(super) async fn invalidate_block(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<BlockRequest>,
) -> ApiResult<Json<ChainMoved>> {
    override_block(&state, request, Override::Invalidate).await
}

#[utoipa::path(post, path = "/reconsiderblock", tag = "dev", request_body = BlockRequest, responses((status = 200, body = ChainMoved), (status = 400), (status = 403), (status = 404), (status = 503)))]
pub(super) async fn reconsider_block(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<BlockRequest>,
) -> ApiResult<Json<ChainMoved>> {
    override_block(&state, request, Override::Reconsider).await
}

#[utoipa::path(post, path = "/tx/test", tag = "dev", request_body = TxForm, responses((status = 200, body = TestAccept), (status = 400), (status = 403), (status = 503)))]
pub(super) async fn test_transaction(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SubmitTx>,
) -> ApiResult<Json<TestAccept>> {
    refuse_on_main(&state)?;
    let tx = IdentifiedTx::new(transaction_from(body)?);
    let (txid, size) = (tx.txid().to_string(), tx.tx().encoded_len());
    let verdict = match state.node.test_transaction(tx).await {
        Ok(accepted) => TestAccept {
            txid,
            allowed: true,
            fee: Some(Coins(accepted.fee)),
            fee_units: Some(accepted.fee.units()),
            size,
            reason: None,
            error: None,
        },
        Err(TxSubmitError::Rejected(refusal)) => TestAccept {
            txid,
            allowed: false,
            fee: None,
            fee_units: None,
            size,
            reason: Some(refusal.code().into()),
            error: Some(refusal.to_string()),
        },
        Err(TxSubmitError::Store(error)) => return Err(error.into()),
    };
    Ok(Json(verdict))
}
