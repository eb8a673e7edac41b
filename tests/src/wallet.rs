//! A test-side wallet: payments signed with the testkit's keys, from the coins a node's
//! `/utxos` route lists.

use chaincore::consensus::params::DEV;
use chaincore::primitives::{Address, Amount, OutPoint, Transaction, TxOut};
use chaincore::testkit::{key, spend};

use crate::client::Client;

/// A payment of `amount` coins from `key(1)`'s `which`-th oldest mature coin to `to`,
/// paying `fee_units`.
pub async fn pay(
    client: &Client,
    which: usize,
    to: &Address,
    amount: u64,
    fee_units: u64,
) -> Transaction {
    let alice = key(1);
    let utxos = client
        .get(&format!("/utxos/{}", alice.address()))
        .await
        .ok();
    let coin = utxos["utxos"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["mature"] == true)
        .nth(which)
        .expect("a mature coin")
        .clone();
    let outpoint = OutPoint::new(
        coin["txid"].as_str().unwrap().parse().unwrap(),
        u32::try_from(coin["vout"].as_u64().unwrap()).unwrap(),
    );
    let value = coin["amount_units"].as_u64().unwrap();
    let sent = Amount::coins(amount);
    let change = Amount::from_units(value - sent.units() - fee_units).unwrap();
    let outputs = vec![
        TxOut::to_address(sent, to),
        TxOut::to_address(change, &alice.address()),
    ];
    spend(&[outpoint], &alice, outputs, &DEV.genesis_hash())
}
