#![cfg(feature = "full")]
//! The chain state's reorg behaviour, case by case, with the forks drawn. Every case runs on
//! SQLite and on PostgreSQL, and ends with the consistency checks of `common::checks`.

mod common;

use chaincore_test_support::on_both_backends;

use chaincore::chain::{BlockStatus, ChainEvent, ChainUpdate};
use chaincore::chainstate::{ChainError, ChainState, HeadersOutcome, SubmitOutcome};
use chaincore::consensus::BlockError;
use chaincore::consensus::params::DEV;
use chaincore::primitives::{Amount, OutPoint, TxOut};
use chaincore::storage::{ChainStore, SqlStore};
use chaincore::testkit::{key, spend};
use common::checks::assert_consistent;
use common::db::{Backend, TestDb};
use common::forks::Forks;
use common::{NOW, quick_params};

struct Case {
    db: TestDb,
    state: ChainState<SqlStore>,
    forks: Forks,
    updates: Vec<ChainUpdate>,
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
            updates: Vec::new(),
        })
    }

    async fn submit(&mut self, names: &[&str]) {
        for name in names {
            let written = self.state.submit_block(self.forks.block(name), NOW).await;
            match written.result {
                Ok(SubmitOutcome::Accepted { .. }) => self.updates.extend(written.changes),
                other => panic!("block {name}: {other:?}"),
            }
        }
    }

    /// Indexes the headers of `blocks` (a chain), as headers-first sync does.
    async fn submit_headers_of(&mut self, blocks: &[chaincore::primitives::Block]) {
        let headers: Vec<_> = blocks.iter().map(|b| b.header).collect();
        let outcome = self.state.submit_headers(&headers, NOW).await.unwrap();
        assert!(
            matches!(outcome, HeadersOutcome::Indexed { .. }),
            "{outcome:?}"
        );
    }

    fn tip(&self) -> chaincore::primitives::BlockHash {
        self.state.tip().hash
    }

    fn reorg_depths(&self) -> Vec<usize> {
        self.updates
            .iter()
            .filter(|u| u.is_reorg())
            .map(|u| u.disconnected.len())
            .collect()
    }

    fn status(&self, name: &str) -> BlockStatus {
        self.state
            .index()
            .get(&self.forks.hash(name))
            .unwrap()
            .status
    }

    async fn check(&mut self, label: &str) {
        self.state.flush().await.expect("commit");
        assert_consistent(self.state.store(), label).await;
    }

    /// Reopens the chain state from the database, as a restarted node would.
    async fn reopen(&mut self) {
        self.state.flush().await.expect("commit");
        let params = self.state.params();
        let store = SqlStore::open(&self.db.url, params.network)
            .await
            .expect("reopen store");
        let (state, updates) = ChainState::open(store, params, NOW)
            .await
            .expect("reopen chain state");
        assert!(
            updates.is_empty(),
            "a clean database has no unfinished tip change"
        );
        self.state = state;
    }
}

/// ```text
///   G ── a1 ── a2 ── a3        each block extends the tip: no reorg
/// ```
async fn extending_the_tip(backend: Backend) {
    let Some(mut c) = Case::new(backend).await else {
        return;
    };
    c.forks.mine_run("a", 1, 3, "G", 10);
    c.submit(&["a1", "a2", "a3"]).await;
    assert_eq!(c.tip(), c.forks.hash("a3"));
    assert_eq!(c.updates.len(), 3);
    assert!(c.reorg_depths().is_empty());
    let events = c.updates[2].events();
    assert!(
        matches!(&events[..], [ChainEvent::BlockConnected { height, .. }] if height.get() == 3)
    );
    c.check("extend").await;
}

/// ```text
///   G ── a1 ── a2 (alice pays bob)
///          └── b2 (alice pays carol) ── b3      the b branch wins: depth 1
/// ```
/// The two branches spend one coin differently; after the reorg only carol's payment exists.
async fn one_block_reorg(backend: Backend) {
    let Some(mut c) = Case::new(backend).await else {
        return;
    };
    let a1 = c.forks.mine("a1", "G", 10);
    let coin = OutPoint::new(a1.transactions[0].txid(), 0);
    let genesis = DEV.genesis_hash();
    let pay = |to: u8| vec![TxOut::to_address(Amount::coins(49), &key(to).address())];
    let to_bob = spend(&[coin], &key(b'a'), pay(2), &genesis);
    let to_carol = spend(&[coin], &key(b'a'), pay(3), &genesis);
    c.forks
        .mine_with("a2", "a1", 10, vec![to_bob.clone()], |_| {});
    c.forks
        .mine_with("b2", "a1", 10, vec![to_carol.clone()], |_| {});
    c.forks.mine("b3", "b2", 10);

    c.submit(&["a1", "a2", "b2"]).await;
    assert_eq!(
        c.tip(),
        c.forks.hash("a2"),
        "equal work: the first seen stays"
    );
    c.submit(&["b3"]).await;
    assert_eq!(c.tip(), c.forks.hash("b3"));
    assert_eq!(c.reorg_depths(), vec![1]);
    c.state.flush().await.unwrap();
    let utxos = c.state.store().utxo_set().await.unwrap();
    assert!(utxos.contains_key(&OutPoint::new(to_carol.txid(), 0)));
    assert!(!utxos.contains_key(&OutPoint::new(to_bob.txid(), 0)));
    let reorg = c.updates.last().unwrap().events().pop().unwrap();
    assert!(matches!(reorg, ChainEvent::Reorg { depth: 1, .. }));
    c.check("1-block reorg").await;
}

/// ```text
///   G ── a1 ── a2 ── … ── a100
///    └── b1 ── b2 ── … ── b100 ── b101      the b branch wins: depth 100
/// ```
/// The b branch arrives as a peer sends it, headers first: its bodies below a100's work are
/// stored because its best header has more work than the tip.
async fn hundred_block_reorg(backend: Backend) {
    let Some(mut c) = Case::new(backend).await else {
        return;
    };
    c.forks.mine_run("a", 1, 100, "G", 10);
    let b_blocks = c.forks.mine_run("b", 1, 101, "G", 10);
    let a: Vec<String> = (1..=100).map(|i| format!("a{i}")).collect();
    let b: Vec<String> = (1..=101).map(|i| format!("b{i}")).collect();
    c.submit(&a.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    c.submit_headers_of(&b_blocks).await;
    c.submit(&b.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    assert_eq!(c.tip(), c.forks.hash("b101"));
    assert_eq!(c.reorg_depths(), vec![100]);
    c.check("100-block reorg").await;
}

/// ```text
///   G ── a1 ── a2 ── … ── a18     10 s apart: all at the easiest target (work 2 each)
///    └── b1 ─ b2 ─ … ─ b12        1 s apart: ASERT makes each harder (work 2, 2, …, 5, 5)
/// ```
/// Twelve b blocks carry more work than eighteen a blocks: the node follows work, not length.
async fn fewer_blocks_but_more_work(backend: Backend) {
    let Some(mut c) = Case::new(backend).await else {
        return;
    };
    c.forks.mine_run("a", 1, 18, "G", 10);
    let b_blocks = c.forks.mine_run("b", 1, 12, "G", 1);
    assert!(
        c.forks.work("b12") > c.forks.work("a18"),
        "the drawing's premise"
    );
    let a: Vec<String> = (1..=18).map(|i| format!("a{i}")).collect();
    let b: Vec<String> = (1..=12).map(|i| format!("b{i}")).collect();
    c.submit(&a.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    c.submit_headers_of(&b_blocks).await;
    c.submit(&b.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    assert_eq!(c.tip(), c.forks.hash("b12"));
    assert_eq!(c.state.tip().height.get(), 12);
    assert_eq!(c.reorg_depths(), vec![18]);
    c.check("fewer blocks, more work").await;
}

/// ```text
///   G ── a1 ── a2      each a block seen first
///    └── b1 ── b2      each b block arrives just after its a twin: same work, stored, but
///                      the node stays on a2, also after a restart
/// ```
async fn equal_work_keeps_the_first_seen(backend: Backend) {
    let Some(mut c) = Case::new(backend).await else {
        return;
    };
    c.forks.mine_run("a", 1, 2, "G", 10);
    c.forks.mine_run("b", 1, 2, "G", 10);
    assert_eq!(c.forks.work("a2"), c.forks.work("b2"));
    c.submit(&["a1", "b1", "a2", "b2"]).await;
    assert_eq!(c.status("b2"), BlockStatus::DataStored);
    assert_eq!(c.tip(), c.forks.hash("a2"));
    assert!(c.reorg_depths().is_empty());
    c.reopen().await;
    assert_eq!(c.tip(), c.forks.hash("a2"));
    c.check("equal work").await;
}

/// ```text
///   G ── a1 ── a2 ── a3
///    └── b1 ── b2 ── b3✗ ── b4 ── b5     b3's coinbase pays too much
/// ```
/// Each b block arrives just after its a twin (same work, so it is stored). b4 would win
/// on work; connecting b3 fails, the transaction rolls back, b3 and b4 are marked invalid,
/// and the node ends where it was, on a3. b5 is refused on arrival.
async fn a_branch_whose_third_block_is_invalid(backend: Backend) {
    let Some(mut c) = Case::new(backend).await else {
        return;
    };
    c.forks.mine_run("a", 1, 3, "G", 10);
    c.forks.mine_run("b", 1, 2, "G", 10);
    c.forks.mine_with("b3", "b2", 10, vec![], |block| {
        block.transactions[0].outputs[0].value = Amount::coins(51);
    });
    c.forks.mine_run("b", 4, 5, "b3", 10);
    c.submit(&["a1", "b1", "a2", "b2", "a3", "b3"]).await;
    assert_eq!(c.tip(), c.forks.hash("a3"), "equal work: a3 was first");

    let written = c.state.submit_block(c.forks.block("b4"), NOW).await;
    let ChainError::Invalid { hash, error } = written.result.unwrap_err() else {
        panic!("expected the invalid ancestor")
    };
    assert_eq!(hash, c.forks.hash("b3"));
    assert!(matches!(error, BlockError::CoinbaseTooLarge { .. }));
    assert_eq!(
        c.tip(),
        c.forks.hash("a3"),
        "the node stays on its old chain"
    );
    assert!(
        written.changes.is_empty(),
        "the failed reorg changed nothing"
    );
    for name in ["b3", "b4"] {
        assert_eq!(c.status(name), BlockStatus::Invalid, "{name}");
    }
    for name in ["b1", "b2"] {
        assert_eq!(
            c.status(name),
            BlockStatus::DataStored,
            "{name} is still a valid candidate"
        );
    }
    let error = c
        .state
        .submit_block(c.forks.block("b5"), NOW)
        .await
        .result
        .unwrap_err();
    assert!(
        matches!(error, ChainError::KnownInvalid(_)),
        "a child of an invalid block: {error}"
    );
    c.reopen().await;
    assert_eq!(
        c.status("b4"),
        BlockStatus::Invalid,
        "invalidity is persisted"
    );
    c.check("invalid third block").await;
}

/// ```text
///   G ── a1 ── a2 ── a3      a3 arrives before a2: it waits as an orphan, then connects
/// ```
async fn an_orphan_that_arrives_before_its_parent(backend: Backend) {
    let Some(mut c) = Case::new(backend).await else {
        return;
    };
    c.forks.mine_run("a", 1, 3, "G", 10);
    c.submit(&["a1"]).await;
    let outcome = c
        .state
        .submit_block(c.forks.block("a3"), NOW)
        .await
        .result
        .unwrap();
    assert_eq!(
        outcome,
        SubmitOutcome::Orphan {
            missing: c.forks.hash("a2")
        }
    );
    assert_eq!(c.state.orphans().len(), 1);
    c.submit(&["a2"]).await;
    assert_eq!(c.tip(), c.forks.hash("a3"));
    assert_eq!(c.updates.len(), 3, "a1, a2 and a3 each extended the tip");
    assert!(c.state.orphans().is_empty());
    c.check("orphan").await;
}

/// A block that breaks a context-free rule is refused before it is stored.
async fn a_forged_block_is_refused_and_changes_nothing(backend: Backend) {
    let Some(mut c) = Case::new(backend).await else {
        return;
    };
    let mut forged = c.forks.mine("a1", "G", 10);
    forged.header.nonce = forged.header.nonce.wrapping_add(1);
    while forged
        .header
        .bits
        .to_target()
        .unwrap()
        .is_met_by(&forged.block_hash())
    {
        forged.header.nonce = forged.header.nonce.wrapping_add(1);
    }
    let error = c
        .state
        .submit_block(forged.clone(), NOW)
        .await
        .result
        .unwrap_err();
    assert!(matches!(
        error,
        ChainError::Invalid {
            error: BlockError::HighHash(_),
            ..
        }
    ));
    assert_eq!(error.reason(), Some("block-hash-above-target"));
    assert!(!c.state.index().contains(&forged.block_hash()));
    assert_eq!(c.state.tip().height.get(), 0);
    c.check("forged block").await;
}

/// ```text
///   G ── a1 ── … ── a20      headers arrive first, then the bodies, oldest first
/// ```
/// Headers alone move nothing; each body connects as it arrives, and the node asks for the
/// oldest bodies it lacks on the best header chain.
async fn headers_first_then_bodies(backend: Backend) {
    let Some(mut c) = Case::new(backend).await else {
        return;
    };
    let blocks = c.forks.mine_run("a", 1, 20, "G", 10);
    let headers: Vec<_> = blocks.iter().map(|b| b.header).collect();
    assert!(matches!(
        c.state.submit_headers(&headers, NOW).await.unwrap(),
        HeadersOutcome::Indexed { new: 20, .. }
    ));
    assert!(
        matches!(
            c.state.submit_headers(&headers[..5], NOW).await.unwrap(),
            HeadersOutcome::Indexed { new: 0, .. }
        ),
        "known headers"
    );
    assert_eq!(c.state.tip().height.get(), 0, "headers alone move nothing");
    assert_eq!(c.status("a7"), BlockStatus::HeaderOnly);
    let wanted = c.state.wanted_bodies(8);
    assert_eq!(
        wanted,
        (1..=8)
            .map(|i| c.forks.hash(&format!("a{i}")))
            .collect::<Vec<_>>()
    );

    let mut forged = blocks[19].header;
    forged.nonce = forged.nonce.wrapping_add(1);
    while forged
        .bits
        .to_target()
        .unwrap()
        .is_met_by(&forged.block_hash())
    {
        forged.nonce = forged.nonce.wrapping_add(1);
    }
    let error = c.state.submit_headers(&[forged], NOW).await.unwrap_err();
    assert_eq!(error.reason(), Some("block-hash-above-target"));
    let stray = c.forks.mine_run("b", 1, 2, "G", 10)[1].header;
    assert!(
        c.state.submit_headers(&[stray], NOW).await.is_err(),
        "a header must extend a known one"
    );

    let names: Vec<String> = (1..=20).map(|i| format!("a{i}")).collect();
    c.submit(&names.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    assert_eq!(c.tip(), c.forks.hash("a20"));
    assert!(c.state.wanted_bodies(8).is_empty());
    c.reopen().await;
    c.check("headers first").await;
}

on_both_backends!(
    headers_first_then_bodies,
    extending_the_tip,
    one_block_reorg,
    hundred_block_reorg,
    fewer_blocks_but_more_work,
    equal_work_keeps_the_first_seen,
    a_branch_whose_third_block_is_invalid,
    an_orphan_that_arrives_before_its_parent,
    a_forged_block_is_refused_and_changes_nothing,
);
