//! What the wallet asks a node, in the node's REST terms: its coins, balance, history,
//! the proofs for its transactions, and the submission of a payment.
//!
//! It reads answers; the decisions (which coins, whether a proof holds) are in
//! [`super::coins`] and [`super::proof`].

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chaincore::api_types::address::{BalanceView, HistoryPage, UtxoList, UtxoView};
use chaincore::api_types::chain::BlockView;
use chaincore::api_types::dev::ChainMoved;
use chaincore::api_types::tx::{MerkleProof, PoolView, TxAccepted};
use chaincore::api_types::{TxStatus, TxView};
use chaincore::consensus::Network;
use chaincore::primitives::{Address, Amount, BlockHash, OutPoint, Transaction, encode};
use serde_json::json;

use super::coins::Coin;
use super::proof::InclusionClaim;
use crate::rest::{NodeClient, RestError};

/// The most coins `/utxos` lists in one answer.
const MAX_UTXOS: u32 = 1_000;

/// The wallet's view of one node.
#[derive(Clone, Debug)]
pub struct Remote {
    node: NodeClient,
}

impl Remote {
    pub fn new(node: NodeClient) -> Self {
        Self { node }
    }

    pub fn url(&self) -> &str {
        self.node.url()
    }

    /// The genesis hash of the node's network, which every signature commits to.
    pub async fn genesis(&self) -> Result<BlockHash, RestError> {
        let status = self.node.status().await?;
        let network: Network = status.network.parse().map_err(|_| RestError::BadAnswer {
            url: self.node.url().into(),
            path: "/status".into(),
            reason: format!("unknown network {:?}", status.network),
        })?;
        Ok(network.params().genesis_hash())
    }

    pub async fn balance(&self, address: &Address) -> Result<BalanceView, RestError> {
        self.node.get(&format!("/balance/{address}")).await
    }

    pub async fn utxos(&self, address: &Address) -> Result<Vec<UtxoView>, RestError> {
        let list: UtxoList = self
            .node
            .get(&format!("/utxos/{address}?limit={MAX_UTXOS}"))
            .await?;
        Ok(list.utxos)
    }

    /// The wallet's coins, each marked immature or already spent by a pending transaction.
    pub async fn coins(&self, address: &Address) -> Result<Vec<Coin>, RestError> {
        let pool: PoolView = self.node.get("/transaction_pool").await?;
        let pending: HashSet<(String, u32)> = pool
            .transactions
            .into_iter()
            .flat_map(|entry| entry.transaction.inputs)
            .map(|input| (input.txid, input.vout))
            .collect();
        let mut coins = Vec::new();
        for utxo in self.utxos(address).await? {
            let bad = |reason: String| RestError::BadAnswer {
                url: self.url().into(),
                path: "/utxos".into(),
                reason,
            };
            let txid = utxo
                .txid
                .parse()
                .map_err(|_| bad(format!("txid {:?}", utxo.txid)))?;
            let amount = Amount::from_units(utxo.amount_units).map_err(|e| bad(e.to_string()))?;
            coins.push(Coin {
                outpoint: OutPoint::new(txid, utxo.vout),
                amount,
                immature: !utxo.mature,
                spent_in_mempool: pending.contains(&(utxo.txid.clone(), utxo.vout)),
            });
        }
        Ok(coins)
    }

    /// Submits `tx`; the node's txid on acceptance.
    pub async fn submit(&self, tx: &Transaction) -> Result<String, RestError> {
        let accepted: TxAccepted = self
            .node
            .post(
                "/add_transaction",
                &json!({ "hex": hex::encode(encode(tx)) }),
            )
            .await?;
        Ok(accepted.txid)
    }

    /// Has a dev node mine `blocks` blocks paying `address` at once (`/generate`).
    pub async fn generate(&self, address: &Address, blocks: u32) -> Result<ChainMoved, RestError> {
        let body = json!({ "blocks": blocks, "address": address.to_string() });
        self.node.post("/generate", &body).await
    }

    /// Waits until `txid` is in a main-chain block; its height, or `None` at the deadline.
    pub async fn wait_confirmed(
        &self,
        txid: &str,
        timeout: Duration,
    ) -> Result<Option<u32>, RestError> {
        let deadline = Instant::now() + timeout;
        loop {
            let status: TxStatus = self.node.get(&format!("/tx/{txid}/status")).await?;
            if status.confirmed {
                return Ok(status.block_height);
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// One page of the address's history, newest first, older than `before` if given.
    pub async fn history(
        &self,
        address: &Address,
        limit: u32,
        before: Option<&str>,
    ) -> Result<HistoryPage, RestError> {
        let cursor = before.map(|b| format!("&before={b}")).unwrap_or_default();
        self.node
            .get(&format!("/transactions/{address}?limit={limit}{cursor}"))
            .await
    }

    /// What the node offers as proof that `txid` is in block `block_hash`.
    pub async fn inclusion_claim(&self, txid: &str) -> Result<InclusionClaim, RestError> {
        let tx: TxView = self.node.get(&format!("/tx/{txid}")).await?;
        let proof: MerkleProof = self.node.get(&format!("/tx/{txid}/merkle-proof")).await?;
        let block: BlockView = self
            .node
            .get(&format!("/block/{}", proof.block_hash))
            .await?;
        Ok(InclusionClaim {
            txid: txid.to_owned(),
            tx_hex: tx.hex,
            block_hash: proof.block_hash,
            position: proof.pos as usize,
            branch: proof.merkle,
            header_hex: block.summary.header_hex,
        })
    }
}
