//! Mempool tests: fixtures shared by the specification files beside this one.
//!
//! Every fixture builds real, signed transactions on a real dev chain (`testkit`), so each
//! test runs the same consensus rules a node does. Fixtures only build; they assert nothing.

mod accept;
mod maintain;
mod properties;
mod reorg;
mod template;

use crate::consensus::Params;
use crate::consensus::params::DEV;
use crate::primitives::{Address, Amount, OutPoint, PrivateKey, Transaction, TxOut, Txid};
use crate::testkit::{TestChain, key, spend};

use super::{Accepted, Mempool, MempoolConfig, MempoolError, ReaddReport, TipInfo};

/// The clock the tests run at, unless a test is about time.
const NOW: u64 = 1_800_000_000;

/// The size of a one-input, one-output transaction: every fixture transaction unless a test
/// asks for more outputs.
const TX_SIZE: usize = 171;

fn units(n: u64) -> Amount {
    Amount::from_units(n).unwrap()
}

/// Alice owns every coin the fixtures spend.
fn alice() -> PrivateKey {
    key(1)
}

fn miner() -> Address {
    key(9).address()
}

/// An outpoint and the value it holds.
#[derive(Clone, Copy, Debug)]
struct Input {
    outpoint: OutPoint,
    value: Amount,
}

/// A chain on `params` where alice owns `n` mature 50-coin coinbase outputs, oldest first.
fn funded_chain_on(params: &Params, n: usize) -> (TestChain, Vec<Input>) {
    let mut chain = TestChain::new(params);
    for _ in 0..n {
        chain.mine(&alice().address(), vec![]);
    }
    chain.mine_empty(params.coinbase_maturity as usize, &miner());
    let coins = chain
        .spendable(&alice().address())
        .into_iter()
        .map(|(outpoint, coin)| Input {
            outpoint,
            value: coin.output.value,
        })
        .collect();
    (chain, coins)
}

fn funded_chain(n: usize) -> (TestChain, Vec<Input>) {
    funded_chain_on(&DEV, n)
}

/// Alice spends `inputs` into `outputs` equal outputs to herself, paying `fee` units.
fn pay(inputs: &[Input], outputs: u64, fee: u64) -> Transaction {
    let total = Amount::checked_sum(inputs.iter().map(|i| i.value)).unwrap();
    let rest = total.checked_sub(units(fee)).unwrap();
    let share = units(rest.units() / outputs);
    let last = rest
        .checked_sub(share.checked_mul(outputs - 1).unwrap())
        .unwrap();
    let mut values = vec![share; usize::try_from(outputs - 1).unwrap()];
    values.push(last);
    let outpoints: Vec<OutPoint> = inputs.iter().map(|i| i.outpoint).collect();
    let outs = values
        .into_iter()
        .map(|value| TxOut::to_address(value, &alice().address()))
        .collect();
    spend(&outpoints, &alice(), outs, &DEV.genesis_hash())
}

/// Output `vout` of `tx`, as an input.
fn output(tx: &Transaction, vout: u32) -> Input {
    Input {
        outpoint: OutPoint::new(tx.txid(), vout),
        value: tx.outputs[usize::try_from(vout).unwrap()].value,
    }
}

fn pool() -> Mempool {
    Mempool::new(MempoolConfig::default())
}

/// Offers `tx` to `pool` on `chain`'s tip at `now`, then checks the pool's invariants.
fn accept_at(
    pool: &mut Mempool,
    chain: &TestChain,
    tx: &Transaction,
    now: u64,
) -> Result<Accepted, MempoolError> {
    let result = pool.accept(
        tx.clone(),
        chain.utxos(),
        chain.height(),
        now,
        chain.params(),
    );
    pool.check_invariants();
    result
}

fn accept(
    pool: &mut Mempool,
    chain: &TestChain,
    tx: &Transaction,
) -> Result<Accepted, MempoolError> {
    accept_at(pool, chain, tx, NOW)
}

fn txids(txs: &[Transaction]) -> Vec<Txid> {
    txs.iter().map(Transaction::txid).collect()
}

/// What a template needs to know about `chain`'s tip.
fn tip_info(chain: &TestChain) -> TipInfo {
    let next = chain.next_context();
    TipInfo {
        hash: next.prev_blockhash,
        height: chain.height(),
        time: chain.tip().header.time,
        median_time_past: next.median_time_past,
        next_bits: next.expected_bits,
    }
}
