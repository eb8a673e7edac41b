//! Transactions: lookup (confirmed or pending), merkle proofs, the mempool, and submission
//! (`/add_transaction`, alias `/broadcast_transaction`).

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::AppState;
use super::chain_routes::{block_status, spent_outputs};
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, parse_address, parse_coins, parse_txid};
use crate::api_types::tx::{MempoolSummary, MerkleProof, PoolEntry, PoolView, TxAccepted};
use crate::api_types::{Coins, TxStatus, TxView};
use crate::primitives::merkle::merkle_branch;
use crate::primitives::{
    Amount, OutPoint, PublicKeyBytes, SignatureBytes, Transaction, TxIn, TxOut, Txid, Witness,
    decode,
};
use crate::storage::ChainStore;

/// A transaction from the mempool, or confirmed on the main chain.
async fn find(state: &AppState, txid: &Txid) -> ApiResult<TxView> {
    let snapshot = state.node.snapshot();
    if let Some(pooled) = snapshot.mempool.get(txid) {
        let outpoints: Vec<OutPoint> = pooled.tx.inputs.iter().map(|i| i.previous_output).collect();
        let coins = state.node.store().coins(&outpoints).await?;
        let known: Vec<_> = outpoints
            .iter()
            .map(|o| coins.get(o).map(|c| (c.output.address(), c.output.value)))
            .collect();
        return Ok(TxView::new(&pooled.tx, &known, TxStatus::default()));
    }
    let not_found = || ApiError::NotFound(format!("transaction {txid}"));
    let location = state.node.store().tx_location(txid).await?;
    let location = location.ok_or_else(not_found)?;
    let block = state.node.store().block(&location.block_hash).await?;
    let block = block.ok_or_else(not_found)?;
    let tx = usize::try_from(location.position)
        .ok()
        .and_then(|p| block.transactions.get(p));
    let tx = tx.ok_or_else(not_found)?;
    let (entry, on_main) = snapshot.entry(&location.block_hash).ok_or_else(not_found)?;
    let tip = snapshot.tip.height;
    let spent = spent_outputs(state, &location.block_hash, &block).await?;
    let known: Vec<_> = tx
        .inputs
        .iter()
        .map(|i| spent.get(&i.previous_output).copied())
        .collect();
    Ok(TxView::new(tx, &known, block_status(&entry, on_main, tip)))
}

#[utoipa::path(get, path = "/tx/{txid}", tag = "transactions", params(("txid" = String, Path)), responses((status = 200, body = TxView), (status = 400), (status = 404)))]
pub(super) async fn transaction(
    State(state): State<AppState>,
    Path(txid): Path<String>,
) -> ApiResult<Json<TxView>> {
    Ok(Json(find(&state, &parse_txid(&txid)?).await?))
}

#[utoipa::path(get, path = "/tx/{txid}/status", tag = "transactions", params(("txid" = String, Path)), responses((status = 200, body = TxStatus), (status = 400), (status = 404)))]
pub(super) async fn transaction_status(
    State(state): State<AppState>,
    Path(txid): Path<String>,
) -> ApiResult<Json<TxStatus>> {
    Ok(Json(find(&state, &parse_txid(&txid)?).await?.status))
}

#[utoipa::path(get, path = "/tx/{txid}/merkle-proof", tag = "transactions", params(("txid" = String, Path)), responses((status = 200, body = MerkleProof), (status = 400), (status = 404)))]
pub(super) async fn merkle_proof(
    State(state): State<AppState>,
    Path(txid): Path<String>,
) -> ApiResult<Json<MerkleProof>> {
    let txid = parse_txid(&txid)?;
    let not_found = || ApiError::NotFound(format!("confirmed transaction {txid}"));
    let location = state
        .node
        .store()
        .tx_location(&txid)
        .await?
        .ok_or_else(not_found)?;
    let block = state
        .node
        .store()
        .block(&location.block_hash)
        .await?
        .ok_or_else(not_found)?;
    let wtxids = block.wtxids();
    let position = usize::try_from(location.position).map_err(|_| not_found())?;
    let branch = merkle_branch(&wtxids, position).ok_or_else(not_found)?;
    Ok(Json(MerkleProof {
        block_height: location.height.get(),
        block_hash: location.block_hash.to_string(),
        pos: location.position,
        merkle: branch.iter().map(ToString::to_string).collect(),
        wtxid: wtxids[position].to_string(),
    }))
}

/// Entries `/transaction_pool` lists at most.
const POOL_LISTED: usize = 1_000;

#[utoipa::path(get, path = "/transaction_pool", tag = "transactions", responses((status = 200, body = PoolView)))]
pub(super) async fn transaction_pool(State(state): State<AppState>) -> ApiResult<Json<PoolView>> {
    let pool = &state.node.snapshot().mempool;
    let transactions = pool
        .by_fee_rate()
        .take(POOL_LISTED)
        .map(|e| PoolEntry {
            txid: e.txid.to_string(),
            fee: Coins(e.fee),
            fee_units: e.fee.units(),
            fee_rate: e.fee.units() as f64 / e.size.max(1) as f64,
            size: e.size,
            time_added: e.time_added,
            transaction: TxView::new(&e.tx, &[], TxStatus::default()),
        })
        .collect();
    Ok(Json(PoolView {
        count: pool.len(),
        bytes: pool.total_bytes(),
        transactions,
    }))
}

#[utoipa::path(get, path = "/mempool", tag = "transactions", responses((status = 200, body = MempoolSummary)))]
pub(super) async fn mempool(State(state): State<AppState>) -> ApiResult<Json<MempoolSummary>> {
    let pool = &state.node.snapshot().mempool;
    let total = Amount::checked_sum(pool.iter().map(|e| e.fee)).unwrap_or(Amount::MAX);
    Ok(Json(MempoolSummary {
        count: pool.len(),
        bytes: pool.total_bytes(),
        total_fee: Coins(total),
        total_fee_units: total.units(),
    }))
}

/// An input as a client writes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct InputJson {
    txid: String,
    vout: u32,
    pubkey: String,
    signature: String,
}

/// An output as a client writes it: `amount_units`, or `amount` in coins (a decimal number
/// or string, parsed exactly).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OutputJson {
    address: String,
    amount_units: Option<u64>,
    #[schema(value_type = Option<f64>)]
    amount: Option<Box<RawValue>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TransactionJson {
    version: Option<u32>,
    inputs: Vec<InputJson>,
    outputs: Vec<OutputJson>,
    lock_time: Option<u32>,
}

/// The two forms of a transaction body, as the document states them (`oneOf`); the
/// handlers read [`SubmitTx`], which says which field is wrong when neither form fits.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged, deny_unknown_fields)]
#[allow(dead_code, reason = "the document's shape of `SubmitTx`")]
pub(super) enum TxForm {
    /// The canonical bytes in hex.
    Hex { hex: String },
    /// The transaction as JSON.
    Json { transaction: TransactionJson },
}

/// `POST /add_transaction` body: the canonical bytes in hex, or the transaction as JSON.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SubmitTx {
    hex: Option<String>,
    transaction: Option<TransactionJson>,
}

fn parse_hex_field<T: std::str::FromStr>(text: &str, what: &str) -> ApiResult<T> {
    text.parse().map_err(|_| {
        ApiError::bad(
            "invalid-field",
            format!("{what}: {text:?} is not valid hex of the right length"),
        )
    })
}

fn output_amount(output: &OutputJson) -> ApiResult<Amount> {
    match (&output.amount_units, &output.amount) {
        (Some(units), None) => {
            Amount::from_units(*units).map_err(|e| ApiError::bad("invalid-amount", e.to_string()))
        }
        (None, Some(raw)) => parse_coins(raw.get().trim_matches('"')),
        _ => Err(ApiError::bad(
            "invalid-amount",
            "give an output exactly one of amount_units or amount",
        )),
    }
}

/// The transaction a client submitted.
pub(super) fn transaction_from(body: SubmitTx) -> ApiResult<Transaction> {
    match (body.hex, body.transaction) {
        (Some(hex), None) => {
            let bytes = hex::decode(hex.trim())
                .map_err(|_| ApiError::bad("invalid-hex", "hex is not hexadecimal"))?;
            decode(&bytes)
                .map_err(|e| ApiError::bad("invalid-encoding", format!("not a transaction: {e}")))
        }
        (None, Some(json)) => {
            let inputs = json
                .inputs
                .iter()
                .map(|i| {
                    Ok(TxIn {
                        previous_output: OutPoint::new(parse_txid(&i.txid)?, i.vout),
                        witness: Witness {
                            pubkey: parse_hex_field::<PublicKeyBytes>(&i.pubkey, "pubkey")?,
                            signature: parse_hex_field::<SignatureBytes>(
                                &i.signature,
                                "signature",
                            )?,
                        },
                    })
                })
                .collect::<ApiResult<_>>()?;
            let outputs = json
                .outputs
                .iter()
                .map(|o| {
                    Ok(TxOut::to_address(
                        output_amount(o)?,
                        &parse_address(&o.address)?,
                    ))
                })
                .collect::<ApiResult<_>>()?;
            Ok(Transaction {
                version: json.version.unwrap_or(Transaction::CURRENT_VERSION),
                inputs,
                outputs,
                lock_time: json.lock_time.unwrap_or(0),
            })
        }
        _ => Err(ApiError::bad(
            "invalid-body",
            "give exactly one of \"hex\" or \"transaction\"",
        )),
    }
}

async fn submit(state: &AppState, body: SubmitTx) -> ApiResult<Json<TxAccepted>> {
    let tx = transaction_from(body)?;
    let accepted = state
        .node
        .submit_transaction(tx, crate::node::TxOrigin::Client)
        .await?;
    Ok(Json(TxAccepted {
        status: "accepted".into(),
        txid: accepted.txid.to_string(),
        fee: Coins(accepted.fee),
        fee_units: accepted.fee.units(),
        size: accepted.size,
    }))
}

#[utoipa::path(post, path = "/add_transaction", tag = "transactions", request_body = TxForm, responses((status = 200, body = TxAccepted), (status = 400), (status = 422)))]
pub(super) async fn add_transaction(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SubmitTx>,
) -> ApiResult<Json<TxAccepted>> {
    submit(&state, body).await
}

#[utoipa::path(post, path = "/broadcast_transaction", tag = "transactions", request_body = TxForm, responses((status = 200, body = TxAccepted), (status = 400), (status = 422)))]
pub(super) async fn broadcast_transaction(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SubmitTx>,
) -> ApiResult<Json<TxAccepted>> {
    submit(&state, body).await
}
