//! The invariants every chain-state test ends with: the stored UTXO set is the one a replay of
//! the main chain from scratch gives, `address_balances` holds its sums, the tip row's
//! commitment and totals match it, and the supply is exactly the sum of the subsidies.

use std::collections::BTreeMap;

use chaincore::chain::UtxoCommitment;
use chaincore::consensus::total_subsidy;
use chaincore::primitives::{Address, Amount, Block};
use chaincore::storage::{AddressBalance, ChainStore, SqlStore};
use chaincore::testkit::replay_utxo_set;

/// Checks every invariant; `label` names the case in failure messages.
pub async fn assert_consistent(store: &SqlStore, label: &str) {
    let main_chain = load_main_chain(store).await;
    let replayed = replay_utxo_set(&main_chain);
    let stored = store.utxo_set().await.expect("read utxos");
    assert_eq!(
        stored.len(),
        replayed.len(),
        "{label}: UTXO count differs from a replay"
    );
    assert!(
        stored == replayed,
        "{label}: the UTXO set differs from a replay of the main chain"
    );

    let mut sums: BTreeMap<Address, AddressBalance> = BTreeMap::new();
    for coin in replayed.values() {
        let entry = sums.entry(coin.output.address()).or_insert(AddressBalance {
            balance: Amount::ZERO,
            utxo_count: 0,
        });
        entry.balance = entry.balance.checked_add(coin.output.value).unwrap();
        entry.utxo_count += 1;
    }
    assert_eq!(
        store.balances().await.expect("read balances"),
        sums,
        "{label}: address_balances != UTXO sums"
    );

    let tip = store.tip().await.expect("read tip").expect("a tip");
    let tip_height =
        chaincore::primitives::Height::new(u32::try_from(main_chain.len() - 1).unwrap());
    assert_eq!(tip.height, tip_height, "{label}: tip height");
    assert_eq!(
        tip.hash,
        main_chain.last().unwrap().block_hash(),
        "{label}: tip hash"
    );
    assert_eq!(
        tip.utxo_commitment,
        UtxoCommitment::of(&replayed),
        "{label}: UTXO commitment"
    );
    assert_eq!(
        tip.utxo_count,
        replayed.len() as u64,
        "{label}: UTXO count in the tip row"
    );
    let supply = Amount::checked_sum(replayed.values().map(|c| c.output.value)).unwrap();
    assert_eq!(
        tip.total_amount, supply,
        "{label}: total amount in the tip row"
    );
    let params = store.network().params();
    assert_eq!(
        supply,
        total_subsidy(tip_height, params),
        "{label}: supply != sum of subsidies"
    );
}

/// The main chain's blocks, genesis first, read back from the store.
pub async fn load_main_chain(store: &SqlStore) -> Vec<Block> {
    let mut blocks = Vec::new();
    for hash in store.main_chain().await.expect("read main chain") {
        blocks.push(
            store
                .block(&hash)
                .await
                .expect("read block")
                .expect("main-chain blocks have bodies"),
        );
    }
    blocks
}
