#![cfg(feature = "full")]
//! The accept path under attack: each test plays one way a peer could rob, stall or bloat a
//! node through the chain state, and checks the rule that stops it (see the `chainstate`
//! module doc). Every case runs on SQLite and on PostgreSQL and ends with the consistency
//! checks of `common::checks`; each one failed before the rules were in place.

mod common;

use std::sync::Arc;

use chaincore_test_support::on_both_backends;

use chaincore::chain::BlockStatus;
use chaincore::chainstate::{ChainError, ChainState, HeadersOutcome, SubmitOutcome};
use chaincore::consensus::{BlockError, TxError};
use chaincore::primitives::{Amount, Block, OutPoint, Transaction, TxOut, Witness};
use chaincore::storage::{ChainStore, SqlStore};
use chaincore::testkit::{key, pad_coinbase, spend};
use common::checks::assert_consistent;
use common::db::{Backend, TestDb};
use common::forks::Forks;
use common::{NOW, quick_params};

struct Case {
    db: TestDb,
    state: ChainState<SqlStore>,
    forks: Forks,
}

impl Case {
    async fn new(backend: Backend) -> Option<Case> {
        let db = TestDb::new(backend).await?;
        let params = quick_params();
        let store = SqlStore::open(&db.url, params.network)
            .await
            .expect("open store");
        let (state, _) = ChainState::open(store, params, NOW)
            .await
            .expect("open chain state");
        Some(Case {
            db,
            state,
            forks: Forks::new(params),
        })
    }

    async fn submit(&mut self, block: Block) -> Result<SubmitOutcome, ChainError> {
        self.state.submit_block(block, NOW).await.result
    }

    async fn accept(&mut self, names: &[&str]) {
        for name in names {
            let outcome = self.submit(self.forks.block(name)).await;
            assert!(
                matches!(outcome, Ok(SubmitOutcome::Accepted { .. })),
                "block {name}: {outcome:?}"
            );
        }
    }

    async fn headers(&mut self, names: &[&str]) -> HeadersOutcome {
        let headers: Vec<_> = names.iter().map(|n| self.forks.block(n).header).collect();
        self.state
            .submit_headers(&headers, NOW)
            .await
            .expect("valid headers")
    }

    fn status(&self, name: &str) -> Option<BlockStatus> {
        self.state
            .index()
            .get(&self.forks.hash(name))
            .map(|e| e.status)
    }

    fn genesis(&self) -> chaincore::primitives::BlockHash {
        self.forks.params.genesis_hash()
    }

    /// Reopens the chain state from the database, as a restarted node would.
    async fn reopen(&mut self) {
        self.state.flush().await.expect("commit");
        let params = self.state.params();
        let store = SqlStore::open(&self.db.url, params.network)
            .await
            .expect("reopen store");
        let (state, _) = ChainState::open(store, params, NOW)
            .await
            .expect("the node reopens");
        self.state = state;
    }

    async fn check(&mut self, label: &str) {
        self.state.flush().await.expect("commit");
        assert_consistent(self.state.store(), label).await;
    }

    /// Bytes the database takes on disk.
    async fn database_bytes(&self) -> u64 {
        common::db::database_bytes(&self.db).await
    }
}

/// `block` with its transactions replaced (the header, and so the hash, unchanged).
fn with_body(block: &Block, transactions: Vec<Transaction>) -> Block {
    Block {
        header: block.header,
        transactions,
    }
}

/// `tx` with every signature replaced by one its owner made over another message: the
/// right public key (the coin's owner), a valid signature, the wrong digest.
fn with_stolen_signatures(mut tx: Transaction, owner: u8) -> Transaction {
    let other_message = [0x42; 32];
    for input in &mut tx.inputs {
        input.witness = Witness {
            pubkey: key(owner).public_key(),
            signature: key(owner).sign_digest(&other_message),
        };
    }
    tx
}

fn pay_to(seed: u8, coins: u64) -> Vec<TxOut> {
    vec![TxOut::to_address(
        Amount::coins(coins),
        &key(seed).address(),
    )]
}

/// ```text
///   G ── a1 ── a2 (moves a1's coin with a signature over another message)
/// ```
/// Mines both into the fork builder (none submitted); returns the coin a2 tries to move.
fn mine_a_theft(c: &mut Case) -> OutPoint {
    let a1 = c.forks.mine("a1", "G", 10);
    let coin = OutPoint::new(a1.transactions[0].txid(), 0);
    let honest = spend(&[coin], &key(b'a'), pay_to(66, 49), &c.genesis());
    let theft = with_stolen_signatures(honest, b'a');
    c.forks.mine_with("a2", "a1", 10, vec![theft], |_| {});
    coin
}

/// ```text
///   G ── a1 ── a2 (moves a1's coin with a signature over another message)
/// ```
/// The thief sends a2's header with a coinbase-only body (refused: bad merkle root), then
/// a2's header alone (as headers-first sync does), then the real a2. Before the accept path
/// was fixed, the signature verdict of the first, mutated body was reused for the real one:
/// a2 connected and the coin moved.
async fn theft_through_a_stale_signature_verdict(backend: Backend) {
    let Some(mut c) = Case::new(backend).await else {
        return;
    };
    let coin = mine_a_theft(&mut c);
    let a2 = c.forks.block("a2");
    c.accept(&["a1"]).await;

    let coinbase_only = with_body(&a2, vec![a2.transactions[0].clone()]);
    let error = c.submit(coinbase_only).await.unwrap_err();
    assert!(
        matches!(
            error,
            ChainError::Invalid {
                error: BlockError::BadMerkleRoot,
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(c.status("a2"), None, "a mutated body leaves no trace");
    assert!(matches!(
        c.headers(&["a2"]).await,
        HeadersOutcome::Indexed { new: 1, .. }
    ));

    let error = c.submit(a2).await.unwrap_err();
    assert!(
        matches!(
            &error,
            ChainError::Invalid {
                error: BlockError::Transaction {
                    source: TxError::BadSignature { .. },
                    ..
                },
                ..
            }
        ),
        "the real body's signatures are checked: {error}"
    );
    assert_eq!(c.status("a2"), Some(BlockStatus::Invalid));
    assert_eq!(c.state.tip().hash, c.forks.hash("a1"));
    c.reopen().await;
    assert_eq!(
        c.state.tip().hash,
        c.forks.hash("a1"),
        "and after a restart"
    );
    let utxos = c.state.store().utxo_set().await.unwrap();
    assert!(utxos.contains_key(&coin), "the coin never moved");
    c.check("theft").await;
}

/// ```text
///   G ── a1 ── a2 (an honest payment)
/// ```
/// A copy of a2 whose payment carries a bad signature arrives first (refused: its wtxid, and
/// so the merkle root, differ), then a2's header, then the honest a2. Before the fix the
/// copy's failed verdict was reused and the honest block marked invalid for good.
async fn a_bad_signature_copy_does_not_poison_the_honest_block(backend: Backend) {
    let Some(mut c) = Case::new(backend).await else {
        return;
    };
    let a1 = c.forks.mine("a1", "G", 10);
    let coin = OutPoint::new(a1.transactions[0].txid(), 0);
    let honest = spend(&[coin], &key(b'a'), pay_to(66, 49), &c.genesis());
    let a2 = c
        .forks
        .mine_with("a2", "a1", 10, vec![honest.clone()], |_| {});
    c.accept(&["a1"]).await;

    let poisoned = with_body(
        &a2,
        vec![
            a2.transactions[0].clone(),
            with_stolen_signatures(honest, b'a'),
        ],
    );
    let error = c.submit(poisoned).await.unwrap_err();
    assert!(
        matches!(
            error,
            ChainError::Invalid {
                error: BlockError::BadMerkleRoot,
                ..
            }
        ),
        "{error}"
    );
    c.headers(&["a2"]).await;
    assert_eq!(c.status("a2"), Some(BlockStatus::HeaderOnly));
    assert_eq!(
        c.submit(a2).await.unwrap(),
        SubmitOutcome::Accepted {
            on_main_chain: true
        }
    );
    assert_eq!(c.state.tip().hash, c.forks.hash("a2"));
    c.check("poisoning").await;
}

/// ```text
///   G ── a1 ── a2 [cb, t1, t2] ── a3      headers a2 and a3 known first
/// ```
/// A peer answers the body request for a2 with `[cb, t1, t2, t2]` (CVE-2012-2459: same
/// merkle root). It is refused and a2 stays fetchable: the genuine body connects, a3
/// follows, and the node reopens. Before the fix the mutated body was stored, the genuine
/// one answered "already known", and the database no longer opened.
async fn a_mutated_body_leaves_the_header_fetchable(backend: Backend) {
    let Some(mut c) = Case::new(backend).await else {
        return;
    };
    let a2 = mine_two_spends_and_a3(&mut c);
    c.accept(&["a1"]).await;
    c.headers(&["a2", "a3"]).await;

    let mutated = with_duplicated_last_tx(&a2);
    assert_eq!(mutated.compute_merkle_root(), a2.header.merkle_root);
    let error = c.submit(mutated).await.unwrap_err();
    assert!(
        matches!(
            error,
            ChainError::Invalid {
                error: BlockError::DuplicateTransaction(_),
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(c.status("a2"), Some(BlockStatus::HeaderOnly));
    c.accept(&["a2", "a3"]).await;
    assert_eq!(c.state.tip().hash, c.forks.hash("a3"));
    c.reopen().await;
    assert_eq!(c.state.tip().hash, c.forks.hash("a3"));
    c.check("mutated body").await;
}

/// ```text
///   G ── a1 ── a2 [cb, t1, t2] ── a3      (t1 spends a1's coinbase, t2 spends t1)
/// ```
/// Mines the three blocks into the fork builder (none submitted); returns a2.
fn mine_two_spends_and_a3(c: &mut Case) -> Block {
    let a1 = c.forks.mine("a1", "G", 10);
    let coin = OutPoint::new(a1.transactions[0].txid(), 0);
    let t1 = spend(&[coin], &key(b'a'), pay_to(b'a', 49), &c.genesis());
    let t2 = spend(
        &[OutPoint::new(t1.txid(), 0)],
        &key(b'a'),
        pay_to(7, 48),
        &c.genesis(),
    );
    let a2 = c.forks.mine_with("a2", "a1", 10, vec![t1, t2], |_| {});
    c.forks.mine("a3", "a2", 10);
    a2
}

/// The CVE-2012-2459 copy of `block`: its last transaction twice, the same merkle root.
fn with_duplicated_last_tx(block: &Block) -> Block {
    let mut transactions = block.transactions.clone();
    transactions.push(transactions.last().expect("a coinbase at least").clone());
    with_body(block, transactions)
}

/// A sibling of a1 with `outputs` more zero-value coinbase outputs (36,000 make ~1 MB),
/// padded beside the fork builder (which would track every output).
fn big_sibling(forks: &mut Forks, n: u32, outputs: usize) -> Block {
    let mut block = forks.mine(&format!("x{n}"), "G", 10 + n);
    pad_coinbase(&mut block, outputs);
    block
}

/// ```text
///   G ── a1 ── a2 ── a3
///    └── x0, x1, … x199     200 siblings of a1, ~1 MB each, at the pow limit
/// ```
/// None can become the tip: none is indexed or stored, and the database grows by less than
/// 2 MB. Before the fix every one was stored in full (+206 MB) and announced. A low-work
/// header branch is refused the same way.
async fn low_work_siblings_do_not_fill_the_disk(backend: Backend) {
    let Some(mut c) = Case::new(backend).await else {
        return;
    };
    c.forks.mine_run("a", 1, 3, "G", 10);
    c.accept(&["a1", "a2", "a3"]).await;
    c.check("before").await;
    let before = c.database_bytes().await;
    for n in 0..200 {
        let sibling = big_sibling(&mut c.forks, n, 36_000);
        assert!(sibling.size() > 1_000_000, "{}", sibling.size());
        let outcome = c.submit(sibling).await.unwrap();
        assert_eq!(outcome, SubmitOutcome::LowWork, "sibling {n}");
    }
    let short = c.forks.mine_run("y", 1, 2, "G", 10);
    let headers: Vec<_> = short.iter().map(|b| b.header).collect();
    let outcome = c.state.submit_headers(&headers, NOW).await.unwrap();
    assert!(
        matches!(outcome, HeadersOutcome::LowWork { .. }),
        "{outcome:?}"
    );
    assert_eq!(c.status("y1"), None);
    assert_eq!(c.state.index().len(), 4, "genesis and a1..a3 only");
    c.check("after").await;
    let grown = c.database_bytes().await.saturating_sub(before);
    assert!(grown < 2_000_000, "the database grew by {grown} bytes");
}

/// A body for a header whose branch sync follows (more work than the tip) is stored even
/// below the tip's work; a body below the tip's work on no such branch is not.
async fn sync_bodies_are_stored_below_the_tip_work_only_on_the_best_header_branch(
    backend: Backend,
) {
    let Some(mut c) = Case::new(backend).await else {
        return;
    };
    c.forks.mine_run("a", 1, 3, "G", 10);
    c.forks.mine_run("b", 1, 4, "G", 10);
    c.forks.mine_run("c", 1, 2, "G", 10);
    c.accept(&["a1", "a2", "a3"]).await;
    assert!(matches!(
        c.headers(&["b1", "b2", "b3", "b4"]).await,
        HeadersOutcome::Indexed { new: 4, .. }
    ));
    assert_eq!(
        c.submit(c.forks.block("c1")).await.unwrap(),
        SubmitOutcome::LowWork
    );
    c.accept(&["b1", "b2"]).await;
    assert_eq!(c.status("b2"), Some(BlockStatus::DataStored));
    c.accept(&["b3", "b4"]).await;
    assert_eq!(c.state.tip().hash, c.forks.hash("b4"));
    c.check("sync bodies").await;
}

/// ```text
///   G ── a1 ── a2 [cb, t1, t2] ── a3      headers a2 and a3 known first
/// ```
/// Sync starts verifying a2 and a3 ahead of their turn. A peer then sends a2 as the
/// CVE-2012-2459 copy `[cb, t1, t2, t2]` (same hash): the verification started for the
/// genuine body must not complete the copy, which the context-free rules still refuse. The
/// genuine bodies connect with the verifications made for them.
async fn a_verdict_started_ahead_completes_only_its_own_body(backend: Backend) {
    let Some(mut c) = Case::new(backend).await else {
        return;
    };
    let a2 = mine_two_spends_and_a3(&mut c);
    let a3 = c.forks.block("a3");
    c.accept(&["a1"]).await;
    c.headers(&["a2", "a3"]).await;
    let run = [Arc::new(a2.clone()), Arc::new(a3)];
    c.state.verify_ahead(&run, 0);

    let mutated = with_duplicated_last_tx(&a2);
    let error = c.submit(mutated).await.unwrap_err();
    assert!(
        matches!(
            error,
            ChainError::Invalid {
                error: BlockError::DuplicateTransaction(_),
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(c.status("a2"), Some(BlockStatus::HeaderOnly));
    for block in &run {
        let outcome = c.state.submit_block(Arc::clone(block), NOW).await.result;
        assert!(
            matches!(outcome, Ok(SubmitOutcome::Accepted { .. })),
            "{outcome:?}"
        );
    }
    c.state.forget_ahead();
    assert_eq!(c.state.tip().hash, c.forks.hash("a3"));
    c.check("verified ahead").await;
}

/// ```text
///   G ── a1 ── a2 (moves a1's coin with a signature over another message) ── a3
/// ```
/// A run whose second body carries a stolen signature, verified ahead and held for one
/// commit as sync does: a1 connects, a2 is refused for its signature exactly as without the
/// look-ahead and marked invalid, a3 is refused as its descendant, and the coin never moves,
/// in memory or (after a restart) in the database.
async fn a_bad_signature_verified_ahead_is_refused_as_ever(backend: Backend) {
    let Some(mut c) = Case::new(backend).await else {
        return;
    };
    let coin = mine_a_theft(&mut c);
    c.forks.mine("a3", "a2", 10);
    c.headers(&["a1", "a2", "a3"]).await;
    let run: Vec<Arc<Block>> = ["a1", "a2", "a3"]
        .iter()
        .map(|n| Arc::new(c.forks.block(n)))
        .collect();
    let mut outcomes = Vec::new();
    c.state.commit_at_flush();
    for (i, block) in run.iter().enumerate() {
        c.state.verify_ahead(&run, i);
        outcomes.push(c.state.submit_block(Arc::clone(block), NOW).await.result);
    }
    c.state.forget_ahead();
    c.state.flush().await.expect("commit");
    let committed = c.state.store().tip().await.unwrap().map(|t| t.hash);
    assert_eq!(
        committed,
        Some(c.forks.hash("a1")),
        "the database never left a1"
    );
    c.reopen().await;
    assert!(matches!(outcomes[0], Ok(SubmitOutcome::Accepted { .. })));
    assert!(
        matches!(
            &outcomes[1],
            Err(ChainError::Invalid {
                error: BlockError::Transaction {
                    source: TxError::BadSignature { .. },
                    ..
                },
                ..
            })
        ),
        "{:?}",
        outcomes[1]
    );
    assert!(outcomes[2].is_err(), "a descendant of an invalid block");
    assert_eq!(c.status("a2"), Some(BlockStatus::Invalid));
    assert_eq!(c.state.tip().hash, c.forks.hash("a1"));
    let utxos = c.state.store().utxo_set().await.unwrap();
    assert!(utxos.contains_key(&coin), "the coin never moved");
    c.check("bad signature ahead").await;
}

/// ```text
///   G ── a1 ── a2 [t1: a1's coin to a] ── a3 [t2: t1's coin to 7] ── a4 … a130
/// ```
/// A sync run held for its flush as sync holds it. A short one (10 blocks) is not written
/// before that flush, so a crash loses it whole and the node reopens on the chain it had,
/// able to take the run again. A long one (130 blocks) is committed in parts, each a whole
/// chain: after the flush all of it is there, t1's coin (created and spent inside the run)
/// is gone and t2's is unspent.
async fn a_sync_run_is_committed_in_whole_chains_or_not_at_all(backend: Backend) {
    let Some(mut c) = Case::new(backend).await else {
        return;
    };
    let a1 = c.forks.mine("a1", "G", 10);
    let t1 = spend(
        &[OutPoint::new(a1.transactions[0].txid(), 0)],
        &key(b'a'),
        pay_to(b'a', 49),
        &c.genesis(),
    );
    let t2 = spend(
        &[OutPoint::new(t1.txid(), 0)],
        &key(b'a'),
        pay_to(7, 48),
        &c.genesis(),
    );
    let (inside, kept) = (OutPoint::new(t1.txid(), 0), OutPoint::new(t2.txid(), 0));
    c.forks.mine_with("a2", "a1", 10, vec![t1], |_| {});
    c.forks.mine_with("a3", "a2", 10, vec![t2], |_| {});
    c.forks.mine_run("a", 4, 130, "a3", 10);
    let names: Vec<String> = (1..=130).map(|i| format!("a{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    c.headers(&names).await;
    let run: Vec<Arc<Block>> = names.iter().map(|n| Arc::new(c.forks.block(n))).collect();

    let (sync_run, _) = run.split_at(10);
    submit_held_run(&mut c.state, sync_run).await;
    assert_eq!(
        c.state.tip().hash,
        sync_run.last().unwrap().block_hash(),
        "the run is checked"
    );
    let on_disk = SqlStore::open(&c.db.url, c.forks.params.network)
        .await
        .unwrap();
    let committed = on_disk.tip().await.unwrap().map(|t| t.hash);
    assert_eq!(committed, Some(c.genesis()), "the database is untouched");
    // A crash: the chain state goes without its flush.
    c.state = reopen_without_flush(c.state, &c.db).await;
    assert_eq!(
        c.state.tip().hash,
        c.genesis(),
        "nothing of the run was kept"
    );
    let last = c.state.index().get(&sync_run.last().unwrap().block_hash());
    assert_eq!(last.map(|e| e.status), Some(BlockStatus::HeaderOnly));

    submit_held_run(&mut c.state, &run).await;
    c.reopen().await;
    assert_eq!(c.state.tip().hash, c.forks.hash("a130"));
    let utxos = c.state.store().utxo_set().await.unwrap();
    assert!(!utxos.contains_key(&inside) && utxos.contains_key(&kept));
    c.check("a held run").await;
}

/// Submits `run` as sync does: held for one commit, each body verified ahead; no flush.
async fn submit_held_run(state: &mut ChainState<SqlStore>, run: &[Arc<Block>]) {
    state.commit_at_flush();
    for (i, block) in run.iter().enumerate() {
        state.verify_ahead(run, i);
        let outcome = state.submit_block(Arc::clone(block), NOW).await.result;
        assert!(
            matches!(outcome, Ok(SubmitOutcome::Accepted { .. })),
            "{outcome:?}"
        );
    }
    state.forget_ahead();
}

/// Closes `state` as a crash would leave it (nothing more written), and opens it again.
async fn reopen_without_flush(state: ChainState<SqlStore>, db: &TestDb) -> ChainState<SqlStore> {
    let params = state.params();
    state.close().await;
    let store = SqlStore::open(&db.url, params.network).await.unwrap();
    ChainState::open(store, params, NOW).await.unwrap().0
}

on_both_backends!(
    a_sync_run_is_committed_in_whole_chains_or_not_at_all,
    a_verdict_started_ahead_completes_only_its_own_body,
    a_bad_signature_verified_ahead_is_refused_as_ever,
    theft_through_a_stale_signature_verdict,
    a_bad_signature_copy_does_not_poison_the_honest_block,
    a_mutated_body_leaves_the_header_fetchable,
    low_work_siblings_do_not_fill_the_disk,
    sync_bodies_are_stored_below_the_tip_work_only_on_the_best_header_branch,
);
