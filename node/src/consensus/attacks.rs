//! One test per attack on the rules: each builds the attack on an otherwise valid chain and
//! asserts the specific error it must meet.

use crate::consensus::coinbase::committed_height;
use crate::consensus::params::{DEV, TEST};
use crate::consensus::sighash::sign_input;
use crate::consensus::{BlockError, TxError, validate_transaction};
use crate::primitives::{
    Address, Amount, Block, BlockHash, OutPoint, PrivateKey, SignatureError, Transaction, TxOut,
};
use crate::testkit::{TestChain, key, spend};

struct Setup {
    chain: TestChain,
    alice: PrivateKey,
    bob: Address,
    /// A mature 50-coin coinbase output owned by alice.
    coin: OutPoint,
}

/// A dev chain where alice's first coinbase has just matured.
fn setup() -> Setup {
    let alice = key(1);
    let (chain, coin) = TestChain::with_mature_coin(&DEV, &alice.address());
    Setup {
        chain,
        alice,
        bob: key(2).address(),
        coin,
    }
}

fn coins(n: u64) -> Amount {
    Amount::from_coins(n).unwrap()
}

fn pay(address: &Address, amount: Amount) -> TxOut {
    TxOut::to_address(amount, address)
}

fn genesis() -> BlockHash {
    DEV.genesis_hash()
}

/// The error of the block with `txs` on the chain's tip.
fn block_error(s: &Setup, txs: Vec<Transaction>) -> BlockError {
    let block = s.chain.build_block(&key(9).address(), txs);
    s.chain.validate(block).expect_err("the attack must fail")
}

fn tx_error(error: BlockError) -> TxError {
    match error {
        BlockError::Transaction { source, .. } => source,
        other => panic!("expected a transaction error, got {other}"),
    }
}

#[test]
fn the_setup_itself_is_valid() {
    let s = setup();
    let tx = spend(
        &[s.coin],
        &s.alice,
        vec![pay(&s.bob, coins(49))],
        &genesis(),
    );
    let fee = validate_transaction(&tx, s.chain.utxos(), s.chain.height().next(), &DEV)
        .unwrap()
        .fee;
    assert_eq!(fee, coins(1));
    let block = s.chain.build_block(&key(9).address(), vec![tx]);
    assert!(s.chain.validate(block).is_ok());
}

#[test]
fn a_hash_above_the_target_is_refused() {
    let s = setup();
    let mut block = s.chain.build_block(&key(9).address(), vec![]);
    let target = block.header.bits.to_target().unwrap();
    while target.is_met_by(&block.block_hash()) {
        block.header.nonce += 1;
    }
    let hash = block.block_hash();
    assert_eq!(
        s.chain.validate(block).unwrap_err(),
        BlockError::HighHash(hash)
    );
}

#[test]
fn bits_other_than_the_schedules_are_refused_even_if_harder() {
    let s = setup();
    let mut block = s.chain.draft_block(&key(9).address(), vec![]);
    let expected = block.header.bits;
    block.header.bits = crate::primitives::CompactTarget::from_consensus(0x2000_ffff);
    TestChain::solve(&mut block);
    let error = s.chain.validate(block).unwrap_err();
    assert_eq!(
        error,
        BlockError::BadDifficultyBits {
            expected,
            found: block_bits(0x2000_ffff)
        }
    );
}

fn block_bits(b: u32) -> crate::primitives::CompactTarget {
    crate::primitives::CompactTarget::from_consensus(b)
}

#[test]
fn a_coinbase_paying_more_than_subsidy_plus_fees_is_refused() {
    let s = setup();
    let tx = spend(
        &[s.coin],
        &s.alice,
        vec![pay(&s.bob, coins(49))],
        &genesis(),
    );
    let mut block = s.chain.draft_block(&key(9).address(), vec![tx]);
    let allowed = block.transactions[0].outputs[0].value; // 50 subsidy + 1 fee
    let paid = allowed.checked_add(Amount::from_units(1).unwrap()).unwrap();
    block.transactions[0].outputs[0].value = paid;
    TestChain::solve(&mut block);
    assert_eq!(
        s.chain.validate(block).unwrap_err(),
        BlockError::CoinbaseTooLarge { paid, allowed }
    );
}

#[test]
fn outputs_worth_more_than_inputs_are_refused() {
    let s = setup();
    let tx = spend(
        &[s.coin],
        &s.alice,
        vec![pay(&s.bob, coins(51))],
        &genesis(),
    );
    let expected = TxError::OutputsExceedInputs {
        inputs: coins(50),
        outputs: coins(51),
    };
    assert_eq!(
        validate_transaction(&tx, s.chain.utxos(), s.chain.height().next(), &DEV).unwrap_err(),
        expected
    );
    assert_eq!(tx_error(block_error(&s, vec![tx])), expected);
}

#[test]
fn spending_with_a_key_that_does_not_own_the_output_is_refused() {
    let s = setup();
    let mallory = key(66);
    let theft = spend(
        &[s.coin],
        &mallory,
        vec![pay(&mallory.address(), coins(50))],
        &genesis(),
    );
    assert_eq!(
        tx_error(block_error(&s, vec![theft])),
        TxError::WrongKey { index: 0 }
    );
}

#[test]
fn the_same_input_twice_in_one_transaction_is_refused() {
    let s = setup();
    let tx = spend(
        &[s.coin, s.coin],
        &s.alice,
        vec![pay(&s.bob, coins(100))],
        &genesis(),
    );
    assert_eq!(
        tx_error(block_error(&s, vec![tx])),
        TxError::DuplicateInput(s.coin)
    );
}

#[test]
fn two_transactions_spending_one_outpoint_in_a_block_are_refused() {
    let s = setup();
    let to_bob = spend(
        &[s.coin],
        &s.alice,
        vec![pay(&s.bob, coins(50))],
        &genesis(),
    );
    let to_carol = spend(
        &[s.coin],
        &s.alice,
        vec![pay(&key(3).address(), coins(50))],
        &genesis(),
    );
    assert_eq!(
        block_error(&s, vec![to_bob, to_carol]),
        BlockError::DoubleSpendInBlock(s.coin)
    );
}

#[test]
fn outputs_changed_after_signing_break_the_signature() {
    let s = setup();
    let mut tx = spend(
        &[s.coin],
        &s.alice,
        vec![pay(&s.bob, coins(50))],
        &genesis(),
    );
    tx.outputs[0].pubkey_hash = key(66).address().pubkey_hash();
    let expected = TxError::BadSignature {
        index: 0,
        source: SignatureError::Invalid,
    };
    assert_eq!(tx_error(block_error(&s, vec![tx])), expected);
}

#[test]
fn the_cve_2012_2459_mutation_is_refused_without_condemning_the_valid_twin() {
    let mut s = setup();
    // Two more mature coins, so the block can hold three transactions.
    let extra: Vec<OutPoint> = (0..2)
        .map(|_| {
            OutPoint::new(
                s.chain
                    .mine(&s.alice.address(), vec![])
                    .block()
                    .transactions[0]
                    .txid(),
                0,
            )
        })
        .collect();
    s.chain
        .mine_empty(DEV.coinbase_maturity as usize, &key(9).address());
    let txs: Vec<Transaction> = [s.coin, extra[0]]
        .iter()
        .map(|&c| spend(&[c], &s.alice, vec![pay(&s.bob, coins(50))], &genesis()))
        .collect();
    let valid = s.chain.build_block(&key(9).address(), txs); // coinbase + 2 txs: 3 leaves
    let mut mutated = valid.clone();
    mutated.transactions.push(valid.transactions[2].clone());
    assert_eq!(mutated.compute_merkle_root(), valid.header.merkle_root);
    assert_eq!(mutated.block_hash(), valid.block_hash());

    let error = s.chain.validate(mutated).unwrap_err();
    assert_eq!(
        error,
        BlockError::DuplicateTransaction(valid.transactions[2].txid())
    );
    assert!(
        !error.invalidates_hash(),
        "the header is the valid block's header too"
    );
    assert!(s.chain.validate(valid).is_ok());
}

#[test]
fn a_time_not_above_the_median_time_past_is_refused() {
    let s = setup();
    let mut block = s.chain.draft_block(&key(9).address(), vec![]);
    let median_time_past = s.chain.next_context().median_time_past;
    block.header.time = median_time_past;
    TestChain::solve(&mut block);
    let error = s.chain.validate(block).unwrap_err();
    assert_eq!(
        error,
        BlockError::TimeTooOld {
            time: median_time_past,
            median_time_past
        }
    );
}

#[test]
fn a_time_more_than_two_hours_ahead_is_refused_but_not_condemned() {
    let s = setup();
    let block: Block = s.chain.build_block(&key(9).address(), vec![]);
    let time = block.header.time;
    let now = u64::from(time) - 2 * 60 * 60 - 1;
    let error = crate::consensus::validate_block(
        block.clone(),
        &s.chain.next_context(),
        s.chain.utxos(),
        now,
        &DEV,
    )
    .unwrap_err();
    assert_eq!(error, BlockError::TimeTooNew { time, now });
    assert!(
        !error.invalidates_hash(),
        "our clock may be the one that is wrong"
    );
    let just_in_time = now + 1;
    assert!(
        crate::consensus::validate_block(
            block,
            &s.chain.next_context(),
            s.chain.utxos(),
            just_in_time,
            &DEV
        )
        .is_ok()
    );
}

#[test]
fn spending_an_immature_coinbase_is_refused_until_maturity() {
    let alice = key(1);
    let mut chain = TestChain::new(&DEV);
    let first = chain.mine(&alice.address(), vec![]);
    let coinbase = &first.block().transactions[0];
    let coin = OutPoint::new(coinbase.txid(), 0);
    let coin_height = committed_height(coinbase);
    chain.mine_empty(DEV.coinbase_maturity as usize - 2, &key(9).address());
    let tx = spend(
        &[coin],
        &alice,
        vec![pay(&key(2).address(), coins(50))],
        &genesis(),
    );

    // The next block is one short of maturity.
    let spendable_at = crate::primitives::Height::new(coin_height.get() + DEV.coinbase_maturity);
    assert_eq!(chain.height().next().get() + 1, spendable_at.get());
    let block = chain.build_block(&key(9).address(), vec![tx.clone()]);
    let expected = TxError::ImmatureCoinbase {
        outpoint: coin,
        coin_height,
        spendable_at,
    };
    assert_eq!(tx_error(chain.validate(block).unwrap_err()), expected);

    chain.mine_empty(1, &key(9).address());
    chain.mine(&key(9).address(), vec![tx]); // exactly at maturity: accepted
}

#[test]
fn a_high_s_signature_is_refused() {
    let s = setup();
    let mut tx = spend(
        &[s.coin],
        &s.alice,
        vec![pay(&s.bob, coins(50))],
        &genesis(),
    );
    tx.inputs[0].witness.signature = tx.inputs[0].witness.signature.with_high_s();
    let expected = TxError::BadSignature {
        index: 0,
        source: SignatureError::HighS,
    };
    assert_eq!(tx_error(block_error(&s, vec![tx.clone()])), expected);
    assert_eq!(expected.code(), "tx-high-s-signature");
}

#[test]
fn a_signature_made_for_another_networks_genesis_is_refused() {
    let s = setup();
    let mut tx = spend(
        &[s.coin],
        &s.alice,
        vec![pay(&s.bob, coins(50))],
        &genesis(),
    );
    sign_input(&mut tx, 0, &s.alice, &TEST.genesis_hash());
    let expected = TxError::BadSignature {
        index: 0,
        source: SignatureError::Invalid,
    };
    assert_eq!(tx_error(block_error(&s, vec![tx])), expected);
}
