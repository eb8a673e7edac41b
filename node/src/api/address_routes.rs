//! Addresses: balances (`/balance`), coins (`/utxos`), histories (`/transactions`), and
//! Esplora's `/address/...` shapes.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiQuery, page_size, parse_address};
use crate::api_types::address::{
    AddressView, BalanceView, ChainStats, HistoryPage, HistoryView, UtxoList, UtxoView,
};
use crate::api_types::{Coins, SignedCoins};
use crate::consensus::Coin;
use crate::mempool::MempoolSnapshot;
use crate::primitives::{Address, Amount, Height, OutPoint};
use crate::storage::ChainStore;

/// Most UTXOs one request returns.
const MAX_UTXOS: u32 = 1_000;
/// Most history entries one request returns.
const MAX_HISTORY: u32 = 100;

/// The last height whose coinbase outputs are still immature for the next block.
fn immature_above(tip: Height, maturity: u32) -> Height {
    Height::new((tip.get() + 1).saturating_sub(maturity))
}

#[utoipa::path(get, path = "/balance/{address}", tag = "addresses", params(("address" = String, Path)), responses((status = 200, body = BalanceView), (status = 400)))]
pub(super) async fn balance(
    State(state): State<AppState>,
    Path(address): Path<String>,
) -> ApiResult<Json<BalanceView>> {
    let address = parse_address(&address)?;
    let store = state.node.store();
    let tip = state.node.snapshot().tip.height;
    let maturity = state.node.info().network.params().coinbase_maturity;
    let row = store.balance(&address).await?;
    let immature = store
        .immature_balance(&address, immature_above(tip, maturity))
        .await?;
    let pending = pending_change(&state, &state.node.snapshot().mempool, &address).await?;
    Ok(Json(BalanceView {
        address: address.to_string(),
        balance: Coins(row.balance),
        balance_units: row.balance.units(),
        confirmed: Coins(row.balance),
        confirmed_units: row.balance.units(),
        immature: Coins(immature),
        immature_units: immature.units(),
        pending: SignedCoins(pending),
        pending_units: pending,
        utxo_count: row.utxo_count,
        height: tip.get(),
    }))
}

/// What the mempool would add to (or take from) `address`, in signed base units. The coins
/// mempool transactions spend from the chain are read from the store after the snapshot was
/// taken: a block committed in between may have spent some (then they count as not sent),
/// which the next request sees right.
async fn pending_change(
    state: &AppState,
    pool: &MempoolSnapshot,
    address: &Address,
) -> ApiResult<i64> {
    if pool.is_empty() {
        return Ok(0);
    }
    let mut outputs: HashMap<OutPoint, (Address, Amount)> = HashMap::new();
    let mut spends = Vec::new();
    for pooled in pool.iter() {
        for (output, vout) in pooled.tx.outputs.iter().zip(0u32..) {
            let outpoint = OutPoint::new(pooled.txid, vout);
            outputs.insert(outpoint, (output.address(), output.value));
        }
        spends.extend(pooled.tx.inputs.iter().map(|i| i.previous_output));
    }
    let from_chain: Vec<OutPoint> = spends
        .iter()
        .filter(|o| !outputs.contains_key(o))
        .copied()
        .collect();
    let chain_coins = state.node.store().coins(&from_chain).await?;
    let units = |amount: Amount| i64::try_from(amount.units()).unwrap_or(i64::MAX);
    let received: i64 = outputs
        .values()
        .filter(|(a, _)| a == address)
        .map(|(_, v)| units(*v))
        .sum();
    let sent: i64 = spends
        .iter()
        .filter_map(|o| {
            outputs.get(o).copied().or_else(|| {
                chain_coins
                    .get(o)
                    .map(|c| (c.output.address(), c.output.value))
            })
        })
        .filter(|(a, _)| a == address)
        .map(|(_, v)| units(v))
        .sum();
    Ok(received - sent)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct UtxoQuery {
    /// Coins to return (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

fn utxo_view(outpoint: &OutPoint, coin: &Coin, tip: Height, maturity: u32) -> UtxoView {
    let confirmations = tip.get().saturating_sub(coin.height.get()) + 1;
    UtxoView {
        txid: outpoint.txid.to_string(),
        vout: outpoint.vout,
        amount: Coins(coin.output.value),
        amount_units: coin.output.value.units(),
        height: coin.height.get(),
        is_coinbase: coin.is_coinbase,
        confirmations,
        mature: !coin.is_coinbase || coin.height.get() + maturity <= tip.get() + 1,
    }
}

#[utoipa::path(get, path = "/utxos/{address}", tag = "addresses", params(("address" = String, Path), UtxoQuery), responses((status = 200, body = UtxoList), (status = 400)))]
pub(super) async fn utxos(
    State(state): State<AppState>,
    Path(address): Path<String>,
    ApiQuery(query): ApiQuery<UtxoQuery>,
) -> ApiResult<Json<UtxoList>> {
    let address = parse_address(&address)?;
    let limit = page_size(query.limit, 100, MAX_UTXOS)?;
    let tip = state.node.snapshot().tip.height;
    let maturity = state.node.info().network.params().coinbase_maturity;
    let coins = state
        .node
        .store()
        .address_utxos(&address, u64::from(limit))
        .await?;
    let utxos: Vec<UtxoView> = coins
        .iter()
        .map(|(o, c)| utxo_view(o, c, tip, maturity))
        .collect();
    Ok(Json(UtxoList {
        address: address.to_string(),
        count: utxos.len(),
        utxos,
    }))
}

#[utoipa::path(get, path = "/address/{address}/utxo", tag = "addresses", params(("address" = String, Path), UtxoQuery), responses((status = 200, body = UtxoList), (status = 400)))]
pub(super) async fn address_utxo(
    state: State<AppState>,
    address: Path<String>,
    query: ApiQuery<UtxoQuery>,
) -> ApiResult<Json<UtxoList>> {
    utxos(state, address, query).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct HistoryQuery {
    /// Entries to return (default 25, at most 100).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Continue strictly before this `height:position` (the previous page's `next`).
    #[param(pattern = r"^[0-9]{1,10}:[0-9]{1,10}$")]
    before: Option<String>,
}

fn parse_cursor(text: &str) -> ApiResult<(Height, u32)> {
    let bad = || {
        ApiError::bad(
            "invalid-parameter",
            format!("before={text:?}: expected height:position"),
        )
    };
    let (height, position) = text.split_once(':').ok_or_else(bad)?;
    Ok((
        Height::new(height.parse().map_err(|_| bad())?),
        position.parse().map_err(|_| bad())?,
    ))
}

#[utoipa::path(get, path = "/transactions/{address}", tag = "addresses", params(("address" = String, Path), HistoryQuery), responses((status = 200, body = HistoryPage), (status = 400)))]
pub(super) async fn transactions(
    State(state): State<AppState>,
    Path(address): Path<String>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<HistoryPage>> {
    let address = parse_address(&address)?;
    let limit = page_size(query.limit, 25, MAX_HISTORY)?;
    let cursor = query.before.as_deref().map(parse_cursor).transpose()?;
    let entries = state
        .node
        .store()
        .address_history(&address, cursor, u64::from(limit))
        .await?;
    let snapshot = state.node.snapshot();
    let tip = snapshot.tip.height;
    let hashes: Vec<_> = entries
        .iter()
        .map(|e| snapshot.active.hash_at(e.height))
        .collect();
    let signed = |a: Amount| i64::try_from(a.units()).unwrap_or(i64::MAX);
    let next = (entries.len() == limit as usize)
        .then(|| {
            entries
                .last()
                .map(|e| format!("{}:{}", e.height, e.position))
        })
        .flatten();
    let transactions = entries
        .iter()
        .zip(hashes)
        .map(|(e, hash)| {
            let net = signed(e.received) - signed(e.sent);
            HistoryView {
                txid: e.txid.to_string(),
                height: e.height.get(),
                position: e.position,
                block_hash: hash.map(|h| h.to_string()),
                received: Coins(e.received),
                received_units: e.received.units(),
                sent: Coins(e.sent),
                sent_units: e.sent.units(),
                net: SignedCoins(net),
                net_units: net,
                confirmations: tip.get().saturating_sub(e.height.get()) + 1,
            }
        })
        .collect();
    Ok(Json(HistoryPage {
        address: address.to_string(),
        transactions,
        next,
    }))
}

#[utoipa::path(get, path = "/address/{address}/txs", tag = "addresses", params(("address" = String, Path), HistoryQuery), responses((status = 200, body = HistoryPage), (status = 400)))]
pub(super) async fn address_txs(
    state: State<AppState>,
    address: Path<String>,
    query: ApiQuery<HistoryQuery>,
) -> ApiResult<Json<HistoryPage>> {
    transactions(state, address, query).await
}

#[utoipa::path(get, path = "/address/{address}", tag = "addresses", params(("address" = String, Path)), responses((status = 200, body = AddressView), (status = 400)))]
pub(super) async fn address(
    State(state): State<AppState>,
    Path(address): Path<String>,
) -> ApiResult<Json<AddressView>> {
    let address = parse_address(&address)?;
    let stats = state.node.store().address_stats(&address).await?;
    let row = state.node.store().balance(&address).await?;
    Ok(Json(AddressView {
        address: address.to_string(),
        chain_stats: ChainStats {
            tx_count: stats.tx_count,
            funded_sum: Coins(stats.received),
            funded_sum_units: stats.received.units(),
            spent_sum: Coins(stats.sent),
            spent_sum_units: stats.sent.units(),
        },
        balance: Coins(row.balance),
        balance_units: row.balance.units(),
        utxo_count: row.utxo_count,
    }))
}
