//! What connecting or disconnecting a block changes, computed as a value for storage to
//! apply (BDK's "change set" pattern): the outputs added and removed, and the undo data.
//! `diff` folds several of these into one write.
//!
//! Connecting a block removes the coins it spends and adds the outputs it creates, except
//! that an output both created and spent inside the block never touches the set. Its undo
//! data is exactly the removed coins; disconnecting replays it backwards.

use std::collections::HashSet;

use crate::consensus::{CheckedBlock, Coin};
use crate::primitives::encode::{list_len, write_list};
use crate::primitives::{Block, BlockHash, Decode, DecodeError, Encode, Height, OutPoint, Reader};

/// The coins a block spent that existed before it: what disconnecting it restores.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UndoData(pub Vec<(OutPoint, Coin)>);

/// Layout of one spent coin (69 bytes): outpoint [36] | value u64 | pubkey_hash [20] |
/// height u32 | is_coinbase u8 (0 or 1). Undo data is a CompactSize-counted list of them.
impl Encode for SpentCoin {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.0.encode_to(out);
        self.1.output.encode_to(out);
        self.1.height.get().encode_to(out);
        out.push(u8::from(self.1.is_coinbase));
    }
    fn encoded_len(&self) -> usize {
        69
    }
}

impl Decode for SpentCoin {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let outpoint = OutPoint::decode_from(reader)?;
        let output = Decode::decode_from(reader)?;
        let height = Height::new(reader.u32()?);
        let is_coinbase = reader.u8()? != 0;
        Ok(Self(
            outpoint,
            Coin {
                output,
                height,
                is_coinbase,
            },
        ))
    }
}

/// One entry of undo data, for the encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpentCoin(pub OutPoint, pub Coin);

impl UndoData {
    pub fn to_bytes(&self) -> Vec<u8> {
        let coins: Vec<SpentCoin> = self.0.iter().map(|(o, c)| SpentCoin(*o, *c)).collect();
        let mut out = Vec::with_capacity(list_len(&coins));
        write_list(&mut out, &coins);
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let coins: Vec<SpentCoin> = reader.list(69)?;
        if reader.remaining() != 0 {
            return Err(DecodeError::TrailingBytes(reader.remaining()));
        }
        Ok(Self(
            coins.into_iter().map(|SpentCoin(o, c)| (o, c)).collect(),
        ))
    }
}

/// A change to one address's balance row, in signed base units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BalanceDelta {
    pub units: i64,
    pub utxos: i64,
}

/// Everything storage must write to connect (or, inverted, disconnect) one block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockChanges {
    pub hash: BlockHash,
    pub height: Height,
    /// Outputs that join the UTXO set.
    pub added: Vec<(OutPoint, Coin)>,
    /// Outputs that leave it.
    pub removed: Vec<(OutPoint, Coin)>,
    /// For a connect, the undo data to store; for a disconnect, empty.
    pub undo: UndoData,
}

impl BlockChanges {
    /// The changes of connecting `validated` (checked in context; the caller commits them only
    /// once its signatures are verified too).
    pub fn connect(validated: &CheckedBlock) -> Self {
        let block = validated.block();
        let created = created_outputs(block, validated.height());
        let created_set: HashSet<OutPoint> = created.iter().map(|(o, _)| *o).collect();
        let spent_set: HashSet<OutPoint> =
            validated.spent_coins().iter().map(|(o, _)| *o).collect();
        let added: Vec<_> = created
            .into_iter()
            .filter(|(o, _)| !spent_set.contains(o))
            .collect();
        let removed: Vec<_> = validated
            .spent_coins()
            .iter()
            .filter(|(o, _)| !created_set.contains(o))
            .copied()
            .collect();
        Self {
            hash: validated.hash(),
            height: validated.height(),
            undo: UndoData(removed.clone()),
            added,
            removed,
        }
    }

    /// The changes of making `genesis` the first block: none, since its output is
    /// unspendable and never enters the UTXO set (see `consensus::genesis`).
    pub fn genesis(genesis: &Block) -> Self {
        Self {
            hash: genesis.block_hash(),
            height: Height::GENESIS,
            added: Vec::new(),
            removed: Vec::new(),
            undo: UndoData::default(),
        }
    }

    /// The changes of disconnecting `block` (at `height`), given its undo data.
    pub fn disconnect(block: &Block, height: Height, undo: &UndoData) -> Self {
        let spent: HashSet<OutPoint> = block
            .transactions
            .iter()
            .skip(1)
            .flat_map(|tx| tx.inputs.iter().map(|i| i.previous_output))
            .collect();
        let removed: Vec<_> = created_outputs(block, height)
            .into_iter()
            .filter(|(o, _)| !spent.contains(o))
            .collect();
        Self {
            hash: block.block_hash(),
            height,
            added: undo.0.clone(),
            removed,
            undo: UndoData::default(),
        }
    }
}

/// Every output the block's transactions create, as coins at `height`.
fn created_outputs(block: &Block, height: Height) -> Vec<(OutPoint, Coin)> {
    let mut created = Vec::new();
    for (index, tx) in block.transactions.iter().enumerate() {
        let txid = tx.txid();
        for (output, vout) in tx.outputs.iter().zip(0u32..) {
            created.push((
                OutPoint::new(txid, vout),
                Coin {
                    output: *output,
                    height,
                    is_coinbase: index == 0,
                },
            ));
        }
    }
    created
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::params::DEV;
    use crate::primitives::{Amount, TxOut};
    use crate::testkit::{TestChain, key, spend};

    #[test]
    fn undo_data_round_trips() {
        let mut chain = TestChain::new(&DEV);
        let block = chain.mine(&key(1).address(), vec![]);
        let coinbase = &block.block().transactions[0];
        let coin = Coin {
            output: coinbase.outputs[0],
            height: Height::new(1),
            is_coinbase: true,
        };
        let undo = UndoData(vec![(OutPoint::new(coinbase.txid(), 0), coin)]);
        assert_eq!(UndoData::from_bytes(&undo.to_bytes()), Ok(undo));
        assert!(UndoData::from_bytes(&[1, 2, 3]).is_err());
    }

    #[test]
    fn an_output_created_and_spent_in_one_block_never_touches_the_set() {
        let alice = key(1);
        let (mut chain, coin) = TestChain::with_mature_coin(&DEV, &alice.address());
        let genesis = DEV.genesis_hash();
        let to_bob = spend(
            &[coin],
            &alice,
            vec![TxOut::to_address(Amount::coins(50), &key(2).address())],
            &genesis,
        );
        let bob_on = spend(
            &[OutPoint::new(to_bob.txid(), 0)],
            &key(2),
            vec![TxOut::to_address(Amount::coins(49), &key(3).address())],
            &genesis,
        );
        let validated = chain.mine(&key(9).address(), vec![to_bob.clone(), bob_on]);
        let changes = BlockChanges::connect(validated.checked());

        assert_eq!(
            changes.removed.iter().map(|(o, _)| *o).collect::<Vec<_>>(),
            vec![coin]
        );
        assert!(changes.added.iter().all(|(o, _)| o.txid != to_bob.txid()));
        assert_eq!(changes.undo.0, changes.removed);
        let mut diff = super::super::diff::ChainDiff::new();
        diff.connect(changes.clone());
        let balances = diff.balance_deltas();
        assert_eq!(
            balances[&alice.address()],
            BalanceDelta {
                units: -5_000_000_000,
                utxos: -1
            }
        );
        assert!(
            !balances.contains_key(&key(2).address()),
            "bob only held coins within the block"
        );

        let back = BlockChanges::disconnect(validated.block(), validated.height(), &changes.undo);
        assert_eq!(back.added, changes.removed);
        let mut removed = back.removed.clone();
        let mut added = changes.added.clone();
        removed.sort_by_key(|(o, _)| *o);
        added.sort_by_key(|(o, _)| *o);
        assert_eq!(removed, added);
    }
}
