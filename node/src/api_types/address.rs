//! The JSON shapes of addresses: balances, coins, histories, Esplora's `/address/…`.

use serde::{Deserialize, Serialize};

use super::{Coins, SignedCoins};

/// `GET /balance/{address}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct BalanceView {
    pub address: String,
    #[cfg_attr(feature = "full", schema(value_type = f64))]
    pub balance: Coins,
    pub balance_units: u64,
    #[cfg_attr(feature = "full", schema(value_type = f64))]
    pub confirmed: Coins,
    pub confirmed_units: u64,
    #[cfg_attr(feature = "full", schema(value_type = f64))]
    pub immature: Coins,
    pub immature_units: u64,
    /// The mempool's net change to this address, in coins (may be negative).
    #[cfg_attr(feature = "full", schema(value_type = f64))]
    pub pending: SignedCoins,
    pub pending_units: i64,
    pub utxo_count: u64,
    pub height: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct UtxoView {
    pub txid: String,
    pub vout: u32,
    #[cfg_attr(feature = "full", schema(value_type = f64))]
    pub amount: Coins,
    pub amount_units: u64,
    pub height: u32,
    pub is_coinbase: bool,
    pub confirmations: u32,
    pub mature: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct UtxoList {
    pub address: String,
    pub utxos: Vec<UtxoView>,
    pub count: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct HistoryView {
    pub txid: String,
    pub height: u32,
    pub position: u32,
    pub block_hash: Option<String>,
    #[cfg_attr(feature = "full", schema(value_type = f64))]
    pub received: Coins,
    pub received_units: u64,
    #[cfg_attr(feature = "full", schema(value_type = f64))]
    pub sent: Coins,
    pub sent_units: u64,
    #[cfg_attr(feature = "full", schema(value_type = f64))]
    pub net: SignedCoins,
    pub net_units: i64,
    pub confirmations: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct HistoryPage {
    pub address: String,
    pub transactions: Vec<HistoryView>,
    pub next: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct ChainStats {
    pub tx_count: u64,
    #[cfg_attr(feature = "full", schema(value_type = f64))]
    pub funded_sum: Coins,
    pub funded_sum_units: u64,
    #[cfg_attr(feature = "full", schema(value_type = f64))]
    pub spent_sum: Coins,
    pub spent_sum_units: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct AddressView {
    pub address: String,
    pub chain_stats: ChainStats,
    #[cfg_attr(feature = "full", schema(value_type = f64))]
    pub balance: Coins,
    pub balance_units: u64,
    pub utxo_count: u64,
}
