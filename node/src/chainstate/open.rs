//! Opening the chain state: genesis for an empty database, the index and main chain loaded
//! and checked, and any tip change a crash interrupted finished.

use std::collections::{HashMap, VecDeque};

use crate::chain::{
    ActiveChain, BlockChanges, BlockIndex, BlockStatus, ChainDiff, IndexEntry, OrphanPool,
    UtxoCommitment,
};
use crate::consensus::Params;
use crate::primitives::{Amount, BlockHash, Height};
use crate::storage::{ChainStore, ChainTip, StoreTxn};

use super::writer::Writer;
use super::{ChainError, ChainOptions, ChainState, ChainUpdates, Written};
use crate::chain::CoinCache;

impl<S: ChainStore> ChainState<S> {
    /// [`ChainState::open_with`] the default options.
    pub async fn open(
        store: S,
        params: &'static Params,
        now: u64,
    ) -> Result<(Self, ChainUpdates), ChainError> {
        Self::open_with(store, params, ChainOptions::default(), now).await
    }

    /// Loads the chain from `store` (storing genesis in an empty one), checks that the
    /// database is on one complete chain, and finishes any tip change a crash interrupted.
    pub async fn open_with(
        store: S,
        params: &'static Params,
        options: ChainOptions,
        now: u64,
    ) -> Result<(Self, ChainUpdates), ChainError> {
        let tip = match store.tip().await? {
            Some(tip) => tip,
            None => store_genesis(&store, params).await?,
        };
        let mut index = BlockIndex::new();
        let mut next_sequence = 0;
        for entry in store.load_index().await? {
            if entry.status.has_data() {
                next_sequence = next_sequence.max(entry.sequence + 1);
            }
            if entry.height != Height::GENESIS && !index.contains(&entry.header.prev_blockhash) {
                return Err(ChainError::Inconsistent(format!(
                    "block {} has no parent in the index",
                    entry.hash
                )));
            }
            index.insert(entry);
        }
        let active = ActiveChain::from_hashes(store.main_chain().await?);
        check_active_chain(&index, &active, &tip, params)?;
        let mut state = Self {
            params,
            index,
            active,
            tip,
            orphans: OrphanPool::default(),
            next_sequence,
            writer: Writer::spawn(store.clone()),
            in_flight: VecDeque::new(),
            coin_cache: CoinCache::with_budget(options.coin_cache_bytes),
            options,
            signatures_assumed: 0,
            ahead: HashMap::new(),
            held: None,
            store,
        };
        let Written { result, changes } = state.activate_best_chain(now).await;
        result?;
        state.flush().await?;
        Ok((state, changes))
    }
}

/// Stores genesis as the whole chain of an empty database.
async fn store_genesis<S: ChainStore>(
    store: &S,
    params: &'static Params,
) -> Result<ChainTip, ChainError> {
    let genesis = params.genesis_block();
    let hash = genesis.block_hash();
    let work = genesis
        .header
        .bits
        .to_target()
        .expect("genesis bits are valid")
        .work();
    let entry = IndexEntry {
        hash,
        header: genesis.header,
        height: Height::GENESIS,
        chain_work: work,
        status: BlockStatus::Valid,
        sequence: 0,
    };
    let tip = ChainTip {
        network: params.network,
        hash,
        height: Height::GENESIS,
        utxo_commitment: UtxoCommitment::EMPTY,
        utxo_count: 0,
        total_amount: Amount::ZERO,
    };
    let mut txn = store.begin().await?;
    txn.insert_block(&entry, Some(genesis)).await?;
    let mut diff = ChainDiff::new();
    diff.connect(BlockChanges::genesis(genesis));
    txn.apply(&diff).await?;
    txn.set_tip(&tip).await?;
    txn.commit().await?;
    Ok(tip)
}

/// The active chain read from the database must run from genesis to the recorded tip.
fn check_active_chain(
    index: &BlockIndex,
    active: &ActiveChain,
    tip: &ChainTip,
    params: &Params,
) -> Result<(), ChainError> {
    let inconsistent = |m: String| Err(ChainError::Inconsistent(m));
    if active.hash_at(Height::GENESIS) != Some(params.genesis_hash()) {
        return inconsistent("the main chain does not start at this network's genesis".into());
    }
    if active.tip() != Some(tip.hash) || active.height() != tip.height {
        return inconsistent(format!(
            "the main chain does not end at the recorded tip {}",
            tip.hash
        ));
    }
    let by_height: HashMap<Height, BlockHash> = (0..=tip.height.get())
        .map(Height::new)
        .filter_map(|h| active.hash_at(h).map(|x| (h, x)))
        .collect();
    for (height, hash) in by_height {
        let Some(entry) = index.get(&hash) else {
            return inconsistent(format!("main-chain block {hash} is not indexed"));
        };
        if entry.height != height
            || (height != Height::GENESIS
                && active.hash_at(Height::new(height.get() - 1))
                    != Some(entry.header.prev_blockhash))
        {
            return inconsistent(format!(
                "main-chain block {hash} does not follow its predecessor"
            ));
        }
    }
    Ok(())
}
