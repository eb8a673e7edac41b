//! The lab's users: miners that find blocks on their nodes at random (Poisson) times, and
//! wallets that pay each other through random nodes, a double spend across each partition
//! included. Every payment a node acknowledged goes into the history the checker judges.

use std::collections::HashSet;
use std::time::Duration;

use chaincore::consensus::params::DEV;
use chaincore::consensus::sighash::sign_all_inputs;
use chaincore::primitives::{
    Address, Amount, OutPoint, PrivateKey, Transaction, TxIn, TxOut, Witness,
};
use sha2::{Digest, Sha256};

use super::World;
use super::checker::Acknowledged;
use super::mine::mine_on;
use super::observe::Mined;
use super::scenario::Load;
use crate::rest::RestError;

/// The fee every lab payment pays, in base units.
const FEE_UNITS: u64 = 10_000;
/// Outputs per payment: a coin becomes this many, so spendable coins multiply each block.
const OUTPUTS: usize = 4;
/// What one more output adds to a transaction's size, about.
const OUTPUT_BYTES: usize = 30;
/// How many wallets the lab pays between.
pub const WALLETS: usize = 8;

/// The lab's keys, from its seed.
pub fn wallet_keys(seed: u64) -> Vec<PrivateKey> {
    (0..WALLETS)
        .map(|i| {
            let digest: [u8; 32] = Sha256::digest(format!("chaincore-lab {seed} {i}")).into();
            PrivateKey::from_bytes(&digest).expect("a hash is a valid key but with odds 2^-128")
        })
        .collect()
}

/// Where padding outputs go: an address whose key nobody holds (a hash, not a point).
fn filler_address() -> Address {
    let hash: [u8; 20] = Sha256::digest(b"chaincore-lab filler").as_slice()[..20]
        .try_into()
        .expect("20 bytes");
    Address::from_pubkey_hash(chaincore::primitives::PubkeyHash::from_byte_array(hash))
}

/// Finds blocks until the run asks to stop: an exponential wait (mean
/// `block_interval_ms`), then a block on a random running miner, paying a lab wallet.
pub async fn mine(world: &World, keys: &[PrivateKey]) {
    let mut rng = fastrand::Rng::with_seed(world.scenario.seed ^ 0x6d69_6e65);
    let mean = world.scenario.block_interval_ms as f64 / 1000.0;
    while !world.mining_stopped() {
        let wait = -mean * (1.0 - rng.f64()).ln();
        tokio::time::sleep(Duration::from_secs_f64(wait.min(mean * 10.0))).await;
        let running: Vec<usize> = world
            .scenario
            .miners
            .iter()
            .copied()
            .filter(|&m| world.is_running(m))
            .collect();
        let Some(&node) = (!running.is_empty()).then(|| &running[rng.usize(..running.len())])
        else {
            continue;
        };
        let payout = keys[rng.usize(..keys.len())].address();
        mine_once(world, node, &payout, false).await;
    }
}

/// One block on `node`; recorded (unless `warm_up`) when its node accepted it.
pub async fn mine_once(world: &World, node: usize, payout: &Address, warm_up: bool) -> bool {
    let quiet = world.quiet();
    match mine_on(&world.clients[node], payout).await {
        Ok(_) if warm_up => true,
        Ok(block) => {
            let mined = Mined {
                hash: block.hash,
                node,
                at: world.observer.now(),
                transactions: block.transactions,
                size: block.size,
                quiet: quiet && world.quiet(),
            };
            world.observer.with(|o| o.mined.push(mined));
            true
        }
        Err(_) => false, // a node going down mid-template; the next draw tries again
    }
}

/// The lab's wallets: the coins they may still spend.
#[derive(Debug)]
pub struct Wallets {
    keys: Vec<PrivateKey>,
    /// Coins spent by a payment the lab sent, whatever became of it.
    used: HashSet<OutPoint>,
    /// (wallet, coin, amount) known spendable at the last refresh.
    coins: Vec<(usize, OutPoint, Amount)>,
    rng: fastrand::Rng,
}

impl Wallets {
    pub fn new(keys: Vec<PrivateKey>, seed: u64) -> Self {
        Self {
            keys,
            used: HashSet::new(),
            coins: Vec::new(),
            rng: fastrand::Rng::with_seed(seed ^ 0x7761_6c6c),
        }
    }

    /// Reads every wallet's mature, confirmed coins from `node`.
    async fn refresh(&mut self, world: &World, node: usize) -> Result<(), RestError> {
        let mut coins = Vec::new();
        for (w, key) in self.keys.iter().enumerate() {
            let list: chaincore::api_types::address::UtxoList = world.clients[node]
                .get(&format!("/utxos/{}?limit=1000", key.address()))
                .await?;
            for utxo in list.utxos.into_iter().filter(|u| u.mature) {
                let (Ok(txid), Ok(amount)) =
                    (utxo.txid.parse(), Amount::from_units(utxo.amount_units))
                else {
                    continue;
                };
                let outpoint = OutPoint::new(txid, utxo.vout);
                if !self.used.contains(&outpoint) && amount.units() > FEE_UNITS * 10 {
                    coins.push((w, outpoint, amount));
                }
            }
        }
        self.rng.shuffle(&mut coins);
        self.coins = coins;
        Ok(())
    }

    /// The next coin no payment of the lab spent, now marked spent.
    fn take_coin(&mut self) -> Option<(usize, OutPoint, Amount)> {
        loop {
            let coin = self.coins.pop()?;
            if self.used.insert(coin.1) {
                return Some(coin);
            }
        }
    }

    /// A payment of `coin` split over [`OUTPUTS`] random wallets, padded to about
    /// `bytes` with one-unit outputs to an address no wallet spends; `tag` units more fee
    /// make two payments of one coin differ. The fee is two units a byte, at least
    /// [`FEE_UNITS`].
    fn payment(
        &mut self,
        (w, outpoint, amount): (usize, OutPoint, Amount),
        tag: u64,
        bytes: Option<usize>,
    ) -> Option<Transaction> {
        let filler = bytes.map_or(0, |b| b.saturating_sub(200) / OUTPUT_BYTES);
        let fee = FEE_UNITS.max(2 * (200 + OUTPUT_BYTES * (OUTPUTS + filler)) as u64);
        let spendable = amount.units().checked_sub(fee + tag + filler as u64)?;
        let share = spendable / OUTPUTS as u64;
        let mut outputs: Vec<TxOut> = (0..OUTPUTS)
            .map(|_| {
                let to = self.keys[self.rng.usize(..self.keys.len())].address();
                TxOut::to_address(Amount::from_units(share).expect("below the coin"), &to)
            })
            .collect();
        let first = share + spendable % OUTPUTS as u64;
        outputs[0].value = Amount::from_units(first).expect("below the coin");
        let dust = filler_address();
        outputs.extend(
            (0..filler).map(|_| TxOut::to_address(Amount::from_units(1).expect("one unit"), &dust)),
        );
        let mut tx = Transaction {
            version: Transaction::CURRENT_VERSION,
            inputs: vec![TxIn {
                previous_output: outpoint,
                witness: Witness::EMPTY,
            }],
            outputs,
            lock_time: 0,
        };
        sign_all_inputs(&mut tx, &[&self.keys[w]], &DEV.genesis_hash());
        Some(tx)
    }

    fn next_payment(&mut self, bytes: Option<usize>) -> Option<Transaction> {
        let coin = self.take_coin()?;
        self.payment(coin, 0, bytes)
    }
}

/// Sends `tx` to `node`; an acknowledgement goes into the history.
pub async fn submit(world: &World, node: usize, tx: &Transaction) {
    let remote = crate::wallet::remote::Remote::new(world.clients[node].clone());
    match remote.submit(tx).await {
        Ok(txid) => {
            let inputs = tx
                .inputs
                .iter()
                .map(|i| (i.previous_output.txid.to_string(), i.previous_output.vout))
                .collect();
            world
                .observer
                .with(|o| o.acknowledged.push(Acknowledged { txid, inputs, node }));
        }
        Err(RestError::Refused { code, status, .. }) => {
            let why = code.unwrap_or_else(|| status.to_string());
            world
                .observer
                .with(|o| *o.refused.entry(why).or_default() += 1);
        }
        Err(_) => world.observer.with(|o| o.unanswered += 1),
    }
}

/// Payments of one load in flight at most: a node slow to answer does not slow the rate.
const IN_FLIGHT: usize = 32;

/// Runs one `[[load]]`: `tx_per_s` payments a second through random running nodes, each
/// sent without waiting for the answers to the ones before.
pub async fn run_load(world: &World, wallets: &tokio::sync::Mutex<Wallets>, load: Load) {
    use futures::StreamExt;
    let start = world.observer.start() + Duration::from_secs_f64(load.from_s);
    tokio::time::sleep_until(start.into()).await;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / load.tx_per_s));
    let mut last_refresh = None::<std::time::Instant>;
    let mut rng = fastrand::Rng::with_seed(world.scenario.seed ^ 0x6c6f_6164);
    let mut in_flight = futures::stream::FuturesUnordered::new();
    while world.observer.now() < load.until_s && !world.load_stopped() {
        tokio::select! {
            _ = tick.tick(), if in_flight.len() < IN_FLIGHT => {}
            Some(()) = in_flight.next() => continue,
        }
        let running = world.running();
        if running.is_empty() {
            continue;
        }
        let node = running[rng.usize(..running.len())];
        let mut wallets = wallets.lock().await;
        if last_refresh.is_none_or(|t| t.elapsed() > Duration::from_secs(2)) {
            if wallets.refresh(world, node).await.is_err() {
                continue;
            }
            last_refresh = Some(std::time::Instant::now());
        }
        let Some(tx) = wallets.next_payment(load.tx_bytes) else {
            continue;
        };
        drop(wallets);
        in_flight.push(async move { submit(world, node, &tx).await });
    }
    while in_flight.next().await.is_some() {}
}

/// One coin paid two ways: one payment to a node of `side_a`, its rival to one of `side_b`.
pub async fn double_spend(
    world: &World,
    wallets: &tokio::sync::Mutex<Wallets>,
    side_a: usize,
    side_b: usize,
) -> bool {
    let mut wallets = wallets.lock().await;
    if wallets.refresh(world, side_a).await.is_err() {
        return false;
    }
    let Some(coin) = wallets.take_coin() else {
        return false;
    };
    let (Some(first), Some(rival)) = (
        wallets.payment(coin, 0, None),
        wallets.payment(coin, 1, None),
    ) else {
        return false;
    };
    drop(wallets);
    submit(world, side_a, &first).await;
    submit(world, side_b, &rival).await;
    true
}
