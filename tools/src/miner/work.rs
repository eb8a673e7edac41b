//! A template turned into hashable work: the header and coinbase for any extra-nonce, and
//! the target to meet. Pure: no I/O, no threads.
//!
//! Each extra-nonce gives a different coinbase, hence a different merkle root and a fresh
//! 2^32 nonces; the template's merkle branch of the coinbase recomputes the root without
//! rehashing the other transactions.

use std::sync::atomic::{AtomicBool, Ordering};

use chaincore::primitives::merkle::root_from_branch;
use chaincore::primitives::{Block, BlockHeader, MerkleRoot, Target, Transaction, decode};

use crate::rest::TemplateView;

/// Why a template cannot be mined.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WorkError {
    #[error("template field {field} is malformed: {reason}")]
    Malformed { field: &'static str, reason: String },
    #[error("the extra-nonce offset {offset} is outside the {len}-byte coinbase")]
    ExtraNonceOutside { offset: usize, len: usize },
}

/// Work for the miner threads.
#[derive(Debug)]
pub struct Work {
    pub template_id: u64,
    pub height: u32,
    pub previous: String,
    pub target: Target,
    header: BlockHeader,
    coinbase: Vec<u8>,
    branch: Vec<MerkleRoot>,
    extra_nonce_offset: usize,
    /// The template's other transactions, to submit a whole block elsewhere.
    transactions_hex: Vec<String>,
    /// Set when this work is abandoned (the tip moved, a block was found, a newer template).
    stop: AtomicBool,
}

fn malformed(field: &'static str) -> impl Fn(String) -> WorkError {
    move |reason| WorkError::Malformed { field, reason }
}

fn hex_field(field: &'static str, text: &str) -> Result<Vec<u8>, WorkError> {
    hex::decode(text).map_err(|e| malformed(field)(e.to_string()))
}

impl Work {
    pub fn from_template(template: &TemplateView) -> Result<Self, WorkError> {
        let header: BlockHeader = decode(&hex_field("header_hex", &template.header_hex)?)
            .map_err(|e| malformed("header_hex")(e.to_string()))?;
        let coinbase = hex_field("coinbase_hex", &template.coinbase_hex)?;
        decode::<Transaction>(&coinbase).map_err(|e| malformed("coinbase_hex")(e.to_string()))?;
        let offset = template.extra_nonce_offset;
        if offset.checked_add(8).is_none_or(|end| end > coinbase.len()) {
            return Err(WorkError::ExtraNonceOutside {
                offset,
                len: coinbase.len(),
            });
        }
        let branch = template
            .coinbase_branch
            .iter()
            .map(|h| {
                h.parse()
                    .map_err(|_| malformed("coinbase_branch")(format!("{h:?} is not a hash")))
            })
            .collect::<Result<_, _>>()?;
        let target = header
            .bits
            .to_target()
            .map_err(|e| malformed("bits")(e.to_string()))?;
        Ok(Self {
            template_id: template.template_id,
            height: template.height,
            previous: template.previous_block_hash.clone(),
            target,
            header,
            coinbase,
            branch,
            extra_nonce_offset: offset,
            transactions_hex: template.transactions_hex.clone(),
            stop: AtomicBool::new(false),
        })
    }

    /// The header (nonce 0) and coinbase bytes for extra-nonce `extra`.
    pub fn with_extra_nonce(&self, extra: u64) -> (BlockHeader, Vec<u8>) {
        let mut coinbase = self.coinbase.clone();
        coinbase[self.extra_nonce_offset..self.extra_nonce_offset + 8]
            .copy_from_slice(&extra.to_le_bytes());
        let tx: Transaction =
            decode(&coinbase).expect("changing the extra-nonce keeps a valid encoding");
        let mut header = self.header;
        header.merkle_root = root_from_branch(&tx.wtxid(), 0, &self.branch);
        header.nonce = 0;
        (header, coinbase)
    }

    /// The whole block for a solved header and its coinbase (for a node that does not know
    /// the template).
    pub fn block(&self, header: BlockHeader, coinbase: &[u8]) -> Result<Block, WorkError> {
        let mut transactions =
            vec![decode(coinbase).map_err(|e| malformed("coinbase_hex")(e.to_string()))?];
        for tx in &self.transactions_hex {
            let bytes = hex_field("transactions_hex", tx)?;
            transactions
                .push(decode(&bytes).map_err(|e| malformed("transactions_hex")(e.to_string()))?);
        }
        Ok(Block {
            header,
            transactions,
        })
    }

    /// Abandons this work: the threads move on at their next check.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub fn stop_flag(&self) -> &AtomicBool {
        &self.stop
    }

    pub fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chaincore::consensus::coinbase::build_coinbase;
    use chaincore::primitives::merkle::{merkle_branch, merkle_root};
    use chaincore::primitives::{Amount, Height, TxOut, encode};
    use chaincore::testkit::key;

    /// A template like the node's: a coinbase with an extra-nonce and one other transaction.
    fn fixture() -> (TemplateView, Block) {
        let payout = key(1).address();
        let coinbase = build_coinbase(
            Height::new(5),
            0,
            b"test",
            vec![TxOut::to_address(Amount::coins(50), &payout)],
        );
        let other = build_coinbase(
            Height::new(6),
            7,
            b"stand-in",
            vec![TxOut::to_address(Amount::coins(1), &payout)],
        );
        let mut block = Block {
            header: BlockHeader {
                version: 1,
                prev_blockhash: Default::default(),
                merkle_root: Default::default(),
                time: 1_800_000_000,
                bits: chaincore::consensus::params::DEV.pow_limit,
                nonce: 0,
            },
            transactions: vec![coinbase.clone(), other],
        };
        block.header.merkle_root = block.compute_merkle_root();
        let encoded = encode(&coinbase);
        let offset = (0..encoded.len() - 8)
            .find(|&i| encoded[i..i + 8] == 0u64.to_le_bytes())
            .unwrap();
        let template = TemplateView {
            template_id: 9,
            height: 5,
            previous_block_hash: "00".repeat(32),
            bits: block.header.bits.to_string(),
            target: String::new(),
            header_hex: hex::encode(block.header.to_bytes()),
            coinbase_hex: hex::encode(&encoded),
            coinbase_branch: merkle_branch(&block.wtxids(), 0)
                .expect("the coinbase is a leaf")
                .iter()
                .map(ToString::to_string)
                .collect(),
            transactions_hex: vec![],
            extra_nonce_offset: offset,
            coinbase_value_units: 0,
            fees_units: 0,
            ..TemplateView::default()
        };
        (template, block)
    }

    #[test]
    fn extra_nonce_zero_reproduces_the_template_and_others_change_the_root() {
        let (template, block) = fixture();
        let work = Work::from_template(&template).unwrap();
        let (header, coinbase) = work.with_extra_nonce(0);
        assert_eq!(header.merkle_root, block.header.merkle_root);
        assert_eq!(coinbase, encode(&block.transactions[0]));
        let (other, coinbase) = work.with_extra_nonce(1);
        assert_ne!(other.merkle_root, header.merkle_root);
        let mut changed = block.clone();
        changed.transactions[0] = decode(&coinbase).unwrap();
        assert_eq!(
            other.merkle_root,
            merkle_root(&changed.wtxids()),
            "the branch gives the full root"
        );
    }

    #[test]
    fn malformed_templates_are_errors() {
        let (mut template, _) = fixture();
        template.extra_nonce_offset = 10_000;
        assert!(matches!(
            Work::from_template(&template),
            Err(WorkError::ExtraNonceOutside { .. })
        ));
        let (mut template, _) = fixture();
        template.header_hex = "zz".into();
        assert!(Work::from_template(&template).is_err());
        let (mut template, _) = fixture();
        template.coinbase_branch = vec!["nope".into()];
        assert!(Work::from_template(&template).is_err());
    }
}
