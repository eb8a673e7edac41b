//! Property: whatever mix of arrivals, evictions, confirmations, double spends and expiry
//! happens, every index stays consistent and every entry's inputs exist in the chain or the
//! pool (removal never leaves an orphan behind), and block templates put parents first.
//! The test keeps its chain as a bare UTXO map, so it can confirm any package at will; the
//! blocks it builds are not mined, which `remove_for_block` (trusting its caller) allows.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use proptest::sample::Index;

use crate::consensus::Coin;
use crate::mempool::select_transactions;
use crate::primitives::{Block, BlockHeader, Height, OutPoint};

use super::*;

#[derive(Clone, Debug)]
enum Op {
    /// Spend an unspent output (chain coin or pool output) into `outputs` outputs.
    Spend {
        which: Index,
        outputs: u64,
        fee: u64,
    },
    /// A block confirms a pool transaction and its pool ancestors.
    Confirm {
        which: Index,
    },
    /// A block spends a chain coin that a pool transaction spends, differently.
    DoubleSpend {
        which: Index,
    },
    Expire {
        age: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<Index>(), 1..4u64, 171..20_000u64)
            .prop_map(|(which, outputs, fee)| Op::Spend { which, outputs, fee }),
        1 => any::<Index>().prop_map(|which| Op::Confirm { which }),
        1 => any::<Index>().prop_map(|which| Op::DoubleSpend { which }),
        1 => (0..200u64).prop_map(|age| Op::Expire { age }),
    ]
}

/// The chain as a UTXO map the test updates by hand, and its height.
struct World {
    utxos: HashMap<OutPoint, Coin>,
    height: Height,
    pool: Mempool,
    clock: u64,
}

impl World {
    fn unspent(&self) -> Vec<Input> {
        let mut inputs: Vec<Input> = self
            .utxos
            .iter()
            .filter(|(_, coin)| coin.output.pubkey_hash == alice().address().pubkey_hash())
            .map(|(outpoint, coin)| Input {
                outpoint: *outpoint,
                value: coin.output.value,
            })
            .collect();
        for entry in self.pool.entries_parent_first() {
            for vout in 0..u32::try_from(entry.tx().outputs.len()).unwrap() {
                inputs.push(output(entry.tx(), vout));
            }
        }
        inputs.retain(|input| self.pool.spender_of(&input.outpoint).is_none());
        inputs.sort_by_key(|input| input.outpoint);
        inputs
    }

    /// Connects a block of `txs` (valid on this chain) to the map, then to the pool.
    fn connect(&mut self, txs: Vec<Transaction>) {
        self.height = self.height.next();
        for tx in &txs {
            for input in &tx.inputs {
                self.utxos.remove(&input.previous_output);
            }
            for vout in 0..u32::try_from(tx.outputs.len()).unwrap() {
                let coin = Coin {
                    output: tx.outputs[vout as usize],
                    height: self.height,
                    is_coinbase: false,
                };
                self.utxos.insert(OutPoint::new(tx.txid(), vout), coin);
            }
        }
        let block = Block {
            header: BlockHeader {
                version: 1,
                prev_blockhash: Default::default(),
                merkle_root: Default::default(),
                time: 0,
                bits: DEV.pow_limit,
                nonce: 0,
            },
            transactions: txs,
        };
        self.pool.remove_for_block(&block);
    }

    fn apply(&mut self, op: Op) {
        self.clock += 10;
        match op {
            Op::Spend {
                which,
                outputs,
                fee,
            } => self.spend(which, outputs, fee),
            Op::Confirm { which } => self.confirm(which),
            Op::DoubleSpend { which } => self.double_spend(which),
            Op::Expire { age } => {
                self.pool.expire(self.clock + age);
            }
        }
    }

    /// Offers a payment from one of the unspent outputs (chain or mempool).
    fn spend(&mut self, which: Index, outputs: u64, fee: u64) {
        let unspent = self.unspent();
        if unspent.is_empty() {
            return;
        }
        let input = unspent[which.index(unspent.len())];
        if input.value.units() <= fee {
            return;
        }
        let tx = pay(&[input], outputs, fee);
        let _ = self
            .pool
            .accept(tx, &self.utxos, self.height, self.clock, &DEV);
    }

    /// Confirms one entry with its ancestors in a block.
    fn confirm(&mut self, which: Index) {
        let txids: Vec<Txid> = self.pool.entries_parent_first().map(|e| e.txid()).collect();
        if txids.is_empty() {
            return;
        }
        let chosen = txids[which.index(txids.len())];
        let mut package: Vec<Txid> = self.pool.ancestors(&chosen).into_iter().collect();
        package.push(chosen);
        let txs = txids
            .iter()
            .filter(|txid| package.contains(txid))
            .map(|txid| self.pool.get(txid).unwrap().tx().clone())
            .collect();
        self.connect(txs);
        assert!(!self.pool.contains(&chosen));
    }

    /// Confirms a block that spends a chain coin some entry spends.
    fn double_spend(&mut self, which: Index) {
        let spent: Vec<Input> = self
            .pool
            .entries_parent_first()
            .flat_map(|e| e.tx().inputs.clone())
            .filter_map(|i| {
                self.utxos.get(&i.previous_output).map(|c| Input {
                    outpoint: i.previous_output,
                    value: c.output.value,
                })
            })
            .collect();
        if spent.is_empty() {
            return;
        }
        let coin = spent[which.index(spent.len())];
        let spender = self.pool.spender_of(&coin.outpoint).unwrap();
        self.connect(vec![pay(&[coin], 1, 12_345)]);
        assert!(!self.pool.contains(&spender));
    }

    fn check(&self) {
        self.pool.check_invariants();
        self.check_no_orphans();
        self.check_selection();
    }

    fn check_no_orphans(&self) {
        for entry in self.pool.entries_parent_first() {
            for input in &entry.tx().inputs {
                let outpoint = input.previous_output;
                assert!(
                    self.pool.contains(&outpoint.txid) || self.utxos.contains_key(&outpoint),
                    "{} spends {outpoint:?}, which exists nowhere",
                    entry.txid()
                );
            }
        }
    }

    /// Any budget gives parents before children, within the budget; no budget limit takes all.
    fn check_selection(&self) {
        let budget = 3 * TX_SIZE;
        let selection = select_transactions(&self.pool, budget);
        assert!(selection.bytes <= budget);
        let mut taken = HashSet::new();
        for tx in &selection.txs {
            let entry = self.pool.get(&tx.txid()).unwrap();
            assert!(entry.parents().iter().all(|parent| taken.contains(parent)));
            taken.insert(tx.txid());
        }
        let everything = select_transactions(&self.pool, usize::MAX);
        assert_eq!(everything.txs.len(), self.pool.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn any_sequence_of_events_keeps_the_pool_consistent(ops in prop::collection::vec(op(), 1..40)) {
        let (chain, _) = funded_chain(4);
        let mut world = World {
            utxos: chain.utxos().clone(),
            height: chain.height(),
            pool: Mempool::new(MempoolConfig {
                max_bytes: 5 * TX_SIZE,
                expiry_secs: 150,
                max_ancestors: 3,
                max_descendants: 4,
                ..MempoolConfig::default()
            }),
            clock: NOW,
        };
        for op in ops {
            world.apply(op);
            world.check();
        }
    }
}
