//! What the explorer index records for a main-chain block: where each transaction is, its
//! fee, and which addresses it touched by how much. Pure: computed from the block and its
//! undo data, so the indexer can (re)build it at any time, behind the chain.
//!
//! These rows serve `/tx/{txid}` and address histories; consensus never reads them, which is
//! why they are not written with the block's connect (see `indexer`).

use std::collections::{BTreeMap, HashMap};

use crate::consensus::Coin;
use crate::primitives::{Address, Amount, Block, Encode, OutPoint, Txid, Wtxid};

use super::changes::UndoData;

/// A main-chain transaction as indexed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxRecord {
    pub txid: Txid,
    pub wtxid: Wtxid,
    pub position: u32,
    pub is_coinbase: bool,
    /// Inputs minus outputs; `None` for the coinbase.
    pub fee: Option<Amount>,
    /// Bytes of its canonical encoding.
    pub size: usize,
}

/// How one transaction touched one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryRecord {
    pub address: Address,
    pub txid: Txid,
    pub position: u32,
    pub received: Amount,
    pub sent: Amount,
}

/// The index rows of one block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockRecords {
    pub transactions: Vec<TxRecord>,
    pub history: Vec<HistoryRecord>,
}

/// Why a block's records cannot be computed: its undo data does not match it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("undo data lacks the coin {0:?} that the block spends")]
pub struct MissingSpentCoin(pub OutPoint);

/// The index rows of a main-chain `block`, given its undo data (the coins it spent that
/// existed before it; coins created and spent inside the block come from the block itself).
pub fn block_records(block: &Block, undo: &UndoData) -> Result<BlockRecords, MissingSpentCoin> {
    let mut known: HashMap<OutPoint, Coin> = undo.0.iter().copied().collect();
    let mut records = BlockRecords::default();
    for (tx, position) in block.transactions.iter().zip(0u32..) {
        let txid = tx.txid();
        let inputs: Vec<Coin> = if position == 0 {
            Vec::new()
        } else {
            tx.inputs
                .iter()
                .map(|i| {
                    known
                        .get(&i.previous_output)
                        .copied()
                        .ok_or(MissingSpentCoin(i.previous_output))
                })
                .collect::<Result<_, _>>()?
        };
        for (output, vout) in tx.outputs.iter().zip(0u32..) {
            // Height and coinbase flag do not matter to the records.
            let coin = Coin {
                output: *output,
                height: Default::default(),
                is_coinbase: position == 0,
            };
            known.insert(OutPoint::new(txid, vout), coin);
        }
        let fee = (position > 0).then(|| {
            let value_in =
                Amount::checked_sum(inputs.iter().map(|c| c.output.value)).expect("valid amounts");
            value_in
                .checked_sub(tx.total_output().expect("valid amounts"))
                .expect("a valid block pays no more out")
        });
        records.transactions.push(TxRecord {
            txid,
            wtxid: tx.wtxid(),
            position,
            is_coinbase: position == 0,
            fee,
            size: tx.encoded_len(),
        });
        records.history.extend(
            touched_addresses(tx.outputs.iter().map(|o| (o.address(), o.value)), &inputs)
                .into_iter()
                .map(|(address, (received, sent))| HistoryRecord {
                    address,
                    txid,
                    position,
                    received,
                    sent,
                }),
        );
    }
    Ok(records)
}

/// Per address: (received by the outputs, sent from the inputs).
fn touched_addresses(
    outputs: impl Iterator<Item = (Address, Amount)>,
    inputs: &[Coin],
) -> BTreeMap<Address, (Amount, Amount)> {
    let mut touched: BTreeMap<Address, (Amount, Amount)> = BTreeMap::new();
    for coin in inputs {
        let entry = touched.entry(coin.output.address()).or_default();
        entry.1 = entry
            .1
            .checked_add(coin.output.value)
            .expect("valid amounts");
    }
    for (address, value) in outputs {
        let entry = touched.entry(address).or_default();
        entry.0 = entry.0.checked_add(value).expect("valid amounts");
    }
    touched
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::BlockChanges;
    use crate::consensus::params::DEV;
    use crate::primitives::TxOut;
    use crate::testkit::{TestChain, key, spend};

    #[test]
    fn records_show_fees_and_who_sent_and_received_even_within_one_block() {
        let (alice, bob, carol) = (key(1), key(2), key(3));
        let (mut chain, coin) = TestChain::with_mature_coin(&DEV, &alice.address());
        let genesis = DEV.genesis_hash();
        let to_bob = spend(
            &[coin],
            &alice,
            vec![TxOut::to_address(Amount::coins(49), &bob.address())],
            &genesis,
        );
        let to_carol = spend(
            &[OutPoint::new(to_bob.txid(), 0)],
            &bob,
            vec![TxOut::to_address(Amount::coins(47), &carol.address())],
            &genesis,
        );
        let validated = chain.mine(&key(9).address(), vec![to_bob.clone(), to_carol.clone()]);
        let undo = BlockChanges::connect(validated.checked()).undo;
        let records = block_records(validated.block(), &undo).unwrap();

        let fees: Vec<Option<Amount>> = records.transactions.iter().map(|t| t.fee).collect();
        assert_eq!(
            fees,
            vec![None, Some(Amount::coins(1)), Some(Amount::coins(2))]
        );
        let bob_rows: Vec<_> = records
            .history
            .iter()
            .filter(|h| h.address == bob.address())
            .collect();
        assert_eq!(bob_rows.len(), 2, "bob received in tx 1 and sent in tx 2");
        assert_eq!(
            (bob_rows[0].received, bob_rows[1].sent),
            (Amount::coins(49), Amount::coins(49))
        );
        assert!(
            records
                .history
                .iter()
                .any(|h| h.address == carol.address() && h.txid == to_carol.txid())
        );
        assert_eq!(
            block_records(validated.block(), &UndoData::default()),
            Err(MissingSpentCoin(coin))
        );
    }
}
