//! Block templates: which mempool transactions a miner should take, and the unsolved block.
//!
//! Selection is greedy by *ancestor-package* fee rate, as Bitcoin Core's
//! `BlockAssembler::addPackageTxs`: a transaction is ranked together with its not-yet-selected
//! mempool ancestors, so a generous child pulls in its cheap parent (child pays for parent)
//! and parents always precede their children. The template's coinbase claims exactly the
//! subsidy plus the selected fees, and the block stays within `params.max_block_size`.
//! Pure: the clock and the tip come in as arguments; the miner, not this file, finds the nonce.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashSet};

use crate::consensus::coinbase::build_coinbase;
use crate::consensus::{Params, block_subsidy};
use crate::primitives::encode::compact_size_len;
use crate::primitives::merkle::merkle_root;
use crate::primitives::{
    Address, Amount, Block, BlockHash, BlockHeader, CompactTarget, Encode, Height, MerkleRoot,
    PubkeyHash, Target, Transaction, TxOut, Txid, Wtxid,
};

use super::entry::PackageStats;
use super::error::MempoolError;
use super::fee_rate::FeeRate;
use super::pool::Mempool;

/// The header version templates carry (the only one so far).
pub const BLOCK_VERSION: u32 = 1;

/// Room kept for the block's transaction count: the longest CompactSize.
const TX_COUNT_RESERVE: usize = 9;

/// The transactions chosen for a block, parents before children.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    pub txs: Vec<Transaction>,
    /// The sum of their fees: what the coinbase may claim on top of the subsidy.
    pub fees: Amount,
    /// The sum of their encoded sizes.
    pub bytes: usize,
}

/// Chooses mempool transactions for a block, at most `max_bytes` of them, greedily by
/// ancestor-package fee rate (ties: the package whose head arrived first).
pub fn select_transactions(mempool: &Mempool, max_bytes: usize) -> Selection {
    Selector::new(mempool, max_bytes).run()
}

/// A queued package head: the rate it had when queued, and its arrival order.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Candidate {
    rate: FeeRate,
    earlier: Reverse<u64>,
    txid: Txid,
}

/// A transaction with its not-yet-selected mempool ancestors, parents first.
struct Package {
    txids: Vec<Txid>,
    stats: PackageStats,
}

struct Selector<'a> {
    pool: &'a Mempool,
    max_bytes: usize,
    selected: HashSet<Txid>,
    /// Max-heap of package heads. An entry goes stale when an ancestor is selected; the
    /// fresh rate is queued at that moment, and stale entries are skipped when popped.
    queue: BinaryHeap<Candidate>,
    out: Selection,
}

impl<'a> Selector<'a> {
    fn new(pool: &'a Mempool, max_bytes: usize) -> Self {
        Self {
            pool,
            max_bytes,
            selected: HashSet::new(),
            queue: BinaryHeap::with_capacity(pool.len()),
            out: Selection::default(),
        }
    }

    fn run(mut self) -> Selection {
        for entry in self.pool.entries_parent_first() {
            self.enqueue(entry.txid());
        }
        while let Some(candidate) = self.queue.pop() {
            if self.selected.contains(&candidate.txid) {
                continue;
            }
            let package = self.package(&candidate.txid);
            if package.stats.fee_rate() != candidate.rate {
                continue; // stale: the current rate is queued too
            }
            // A package that does not fit is dropped; it is queued again, smaller, if one of
            // its ancestors gets selected as part of another package.
            if let Some(fees) = self.fits(&package) {
                self.take(package, fees);
            }
        }
        self.out
    }

    fn enqueue(&mut self, txid: Txid) {
        let rate = self.package(&txid).stats.fee_rate();
        let earlier = Reverse(self.pool.entry(&txid).sequence);
        self.queue.push(Candidate {
            rate,
            earlier,
            txid,
        });
    }

    fn package(&self, txid: &Txid) -> Package {
        let mut members: BTreeSet<Txid> = self.pool.ancestors(txid);
        members.retain(|ancestor| !self.selected.contains(ancestor));
        members.insert(*txid);
        let txids = self.pool.parent_first(members);
        let stats = txids
            .iter()
            .map(|member| self.pool.entry(member).own_stats())
            .fold(PackageStats::EMPTY, PackageStats::plus);
        Package { txids, stats }
    }

    /// The fees with `package` added, if it fits in the bytes left.
    fn fits(&self, package: &Package) -> Option<Amount> {
        let bytes = self.out.bytes.checked_add(package.stats.size)?;
        if bytes > self.max_bytes {
            return None;
        }
        self.out.fees.checked_add(package.stats.fee)
    }

    fn take(&mut self, package: Package, fees: Amount) {
        self.out.fees = fees;
        self.out.bytes = self.out.bytes.saturating_add(package.stats.size);
        for txid in &package.txids {
            self.selected.insert(*txid);
            self.out.txs.push(self.pool.entry(txid).tx().clone());
        }
        let affected: BTreeSet<Txid> = package
            .txids
            .iter()
            .flat_map(|txid| self.pool.descendants(txid))
            .filter(|descendant| !self.selected.contains(descendant))
            .collect();
        for descendant in affected {
            self.enqueue(descendant);
        }
    }
}

/// What a template builds on: the active chain's tip and what the next block must carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TipInfo {
    pub hash: BlockHash,
    pub height: Height,
    /// The tip's own timestamp.
    pub time: u32,
    /// Median time past of the chain ending at the tip: the new block's time must be above it.
    pub median_time_past: u32,
    /// The bits the difficulty schedule requires of the next block.
    pub next_bits: CompactTarget,
}

/// An unsolved block: a miner sets the nonce (and may roll the coinbase's extra-nonce,
/// which changes the merkle root).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockTemplate {
    /// Merkle root set, nonce 0.
    pub header: BlockHeader,
    pub coinbase: Transaction,
    /// The mempool transactions, parents before children.
    pub transactions: Vec<Transaction>,
    /// What `transactions` pay in fees; the coinbase claims subsidy plus this.
    pub fees: Amount,
    pub height: Height,
    /// The target the block hash must meet.
    pub target: Target,
}

impl BlockTemplate {
    /// The whole block: coinbase first, then the selected transactions.
    pub fn block(&self) -> Block {
        let mut transactions = Vec::with_capacity(self.transactions.len() + 1);
        transactions.push(self.coinbase.clone());
        transactions.extend(self.transactions.iter().cloned());
        Block {
            header: self.header,
            transactions,
        }
    }

    /// The serialized size of [`BlockTemplate::block`], without building it.
    pub fn size(&self) -> usize {
        let count = u64::try_from(self.transactions.len() + 1).unwrap_or(u64::MAX);
        let txs = std::iter::once(&self.coinbase).chain(&self.transactions);
        BlockHeader::SIZE + compact_size_len(count) + txs.map(Encode::encoded_len).sum::<usize>()
    }

    /// The merkle tree's leaves, coinbase first.
    fn wtxids(&self) -> Vec<Wtxid> {
        std::iter::once(&self.coinbase)
            .chain(&self.transactions)
            .map(Transaction::wtxid)
            .collect()
    }
}

/// The next block on `tip`: the best mempool transactions that fit, and a coinbase paying
/// subsidy plus their fees to `payout` with `extra_nonce` and `tag` as coinbase data. Its
/// time is `now` (Unix seconds), or just after the median time past if that is later.
pub fn build_template(
    params: &Params,
    tip: &TipInfo,
    mempool: &Mempool,
    payout: &Address,
    now: u64,
    extra_nonce: u64,
    tag: &[u8],
) -> Result<BlockTemplate, MempoolError> {
    let height = tip.height.next();
    let target = tip
        .next_bits
        .to_target()
        .map_err(|source| MempoolError::BadNextBits {
            bits: tip.next_bits,
            source,
        })?;
    let budget = params
        .max_block_size
        .saturating_sub(reserved_bytes(height, tag));
    let selection = select_transactions(mempool, budget);
    let reward = block_subsidy(height, params)
        .checked_add(selection.fees)
        .ok_or(MempoolError::RewardTooLarge)?;
    let coinbase = build_coinbase(
        height,
        extra_nonce,
        tag,
        vec![TxOut::to_address(reward, payout)],
    );
    let mut template = BlockTemplate {
        header: BlockHeader {
            version: BLOCK_VERSION,
            prev_blockhash: tip.hash,
            merkle_root: MerkleRoot::ZERO,
            time: block_time(tip, now),
            bits: tip.next_bits,
            nonce: 0,
        },
        coinbase,
        transactions: selection.txs,
        fees: selection.fees,
        height,
        target,
    };
    template.header.merkle_root = merkle_root(&template.wtxids());
    debug_assert!(template.size() <= params.max_block_size);
    Ok(template)
}

/// The bytes of a block that are not mempool transactions: header, transaction count and
/// coinbase. A coinbase's size does not depend on its value, extra-nonce or tag.
fn reserved_bytes(height: Height, tag: &[u8]) -> usize {
    let placeholder = TxOut {
        value: Amount::ZERO,
        pubkey_hash: PubkeyHash::default(),
    };
    let coinbase = build_coinbase(height, 0, tag, vec![placeholder]);
    BlockHeader::SIZE + TX_COUNT_RESERVE + coinbase.encoded_len()
}

/// `now`, or one second past the median time past if the clock is behind it. A clock past
/// 2106 (beyond u32 seconds) saturates.
fn block_time(tip: &TipInfo, now: u64) -> u32 {
    let now = u32::try_from(now).unwrap_or(u32::MAX);
    now.max(tip.median_time_past.saturating_add(1))
}
