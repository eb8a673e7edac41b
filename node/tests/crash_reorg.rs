#![cfg(feature = "full")]
#![allow(
    clippy::print_stdout,
    reason = "the child process reports progress on stdout"
)]
//! Crash safety: a child process is SIGKILLed at a random moment during a reorg of 50 blocks
//! or more, at least 20 times per backend. After each kill the database must hold one
//! complete chain (the old or the new, never a mix: every invariant of `common::checks`
//! holds), and the next attempt must finish the job.
//!
//! The child is this same test binary, re-run with `--ignored --exact crash_child` and its
//! instructions in environment variables.

mod common;

use chaincore_test_support::on_both_backends;

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use chaincore::chainstate::ChainState;
use chaincore::consensus::params::DEV;
use chaincore::primitives::BlockHash;
use chaincore::storage::{ChainStore, SqlStore};
use common::NOW;
use common::checks::assert_consistent;
use common::db::{Backend, TestDb};
use common::forks::Forks;

/// Both branches leave the common chain after a10.
const FORK_AT: u32 = 10;
/// The first reorg replaces a11..=a60 by b11..=b61: 50 blocks out.
const INITIAL_TOP: u32 = 60;
const KILLS: u32 = 20;
const MAX_TOP: u32 = INITIAL_TOP + KILLS + 4;

/// The same blocks in every process: mining from nonce 0 is deterministic.
fn forks() -> Forks {
    let mut forks = Forks::new(&DEV);
    forks.mine_run("a", 1, MAX_TOP, "G", 10);
    forks.mine_run("b", FORK_AT + 1, MAX_TOP, &format!("a{FORK_AT}"), 10);
    forks
}

/// The child: open the chain state, announce, submit the blocks named in
/// `CHAINCORE_CRASH_SUBMIT`, announce again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child process of the crash tests, started by them"]
async fn crash_child() {
    let url = std::env::var("CHAINCORE_CRASH_DB").expect("run by the crash tests");
    let names = std::env::var("CHAINCORE_CRASH_SUBMIT").expect("run by the crash tests");
    let forks = forks();
    let store = SqlStore::open(&url, DEV.network).await.unwrap();
    let (mut state, _) = ChainState::open(store, &DEV, NOW).await.unwrap();
    println!("REORG_START");
    for name in names.split(',') {
        state
            .submit_block(forks.block(name), NOW)
            .await
            .result
            .unwrap();
    }
    state.flush().await.unwrap();
    println!("REORG_DONE {}", state.tip().hash);
}

/// A running child and its stdout, read line by line.
struct ChildRun {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
}

fn spawn_child(url: &str, submit: &str) -> ChildRun {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "crash_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("CHAINCORE_CRASH_DB", url)
        .env("CHAINCORE_CRASH_SUBMIT", submit)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the child");
    let stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
    ChildRun { child, stdout }
}

impl ChildRun {
    /// Reads stdout until a line containing `marker`, with a deadline.
    fn wait_for(&mut self, marker: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        for line in &mut self.stdout {
            let line = line.expect("child stdout");
            if line.contains(marker) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no {marker} from the child in time"
            );
        }
        panic!("the child exited before printing {marker}");
    }
}

/// Runs the child to completion; returns how long its submissions took.
fn run_to_completion(url: &str, submit: &str) -> Duration {
    let mut run = spawn_child(url, submit);
    run.wait_for("REORG_START");
    let start = Instant::now();
    run.wait_for("REORG_DONE");
    let took = start.elapsed();
    assert!(run.child.wait().unwrap().success(), "the child failed");
    took
}

/// Which branch is behind, and the blocks that put it ahead by one.
struct Race {
    a_top: u32,
    b_top: u32,
}

impl Race {
    fn next_submission(&mut self) -> (Vec<String>, String) {
        let (prefix, from, to) = if self.a_top >= self.b_top {
            ("b", self.b_top + 1, self.a_top + 1)
        } else {
            ("a", self.a_top + 1, self.b_top + 1)
        };
        if prefix == "a" {
            self.a_top = to
        } else {
            self.b_top = to
        }
        let names: Vec<String> = (from..=to).map(|i| format!("{prefix}{i}")).collect();
        (names, format!("{prefix}{to}"))
    }
}

async fn sigkill_during_reorgs_leaves_one_complete_chain(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let forks = forks();
    {
        let store = SqlStore::open(&db.url, DEV.network).await.unwrap();
        let (mut state, _) = ChainState::open(store, &DEV, NOW).await.unwrap();
        // Each b block arrives just after its a twin: equal work, so both are stored (a
        // branch that is behind is not, see the accept path's work rule).
        let twins = (1..=INITIAL_TOP).flat_map(|i| {
            let b = (i > FORK_AT).then(|| format!("b{i}"));
            std::iter::once(format!("a{i}")).chain(b)
        });
        for name in twins {
            state
                .submit_block(forks.block(&name), NOW)
                .await
                .result
                .unwrap();
        }
        state.flush().await.unwrap();
        assert_eq!(
            state.tip().hash,
            forks.hash(&format!("a{INITIAL_TOP}")),
            "equal work: A was first"
        );
    }
    let mut race = Race {
        a_top: INITIAL_TOP,
        b_top: INITIAL_TOP,
    };

    // A first, uninterrupted reorg measures how long one takes.
    let (names, new_tip) = race.next_submission();
    let reorg_time = run_to_completion(&db.url, &names.join(","));
    assert_eq!(tip(&db).await, forks.hash(&new_tip));
    eprintln!(
        "{backend:?}: a {}-block reorg took {reorg_time:?}",
        INITIAL_TOP - FORK_AT
    );

    let mut outcomes = (0, 0);
    for attempt in 0..KILLS {
        let old_tip = tip(&db).await;
        let (names, new_tip) = race.next_submission();
        let mut run = spawn_child(&db.url, &names.join(","));
        run.wait_for("REORG_START");
        let delay = reorg_time.mul_f64(fastrand::f64() * 1.2);
        std::thread::sleep(delay);
        run.child.kill().expect("SIGKILL the child");
        run.child.wait().unwrap();

        let after_kill = tip(&db).await;
        let label = format!("{backend:?} run {attempt}, killed after {delay:?}");
        assert!(
            after_kill == old_tip || after_kill == forks.hash(&new_tip),
            "{label}: tip on neither chain"
        );
        if after_kill == old_tip {
            outcomes.0 += 1
        } else {
            outcomes.1 += 1
        }
        let store = SqlStore::open(&db.url, DEV.network).await.unwrap();
        assert_consistent(&store, &label).await;

        drop(store);
        run_to_completion(&db.url, &names.join(","));
        assert_eq!(
            tip(&db).await,
            forks.hash(&new_tip),
            "{label}: the next attempt finishes the reorg"
        );
        // Opened again: a store knows where the blocks of its own writes and of the database
        // it opened are, not those another process wrote since.
        let store = SqlStore::open(&db.url, DEV.network).await.unwrap();
        assert_consistent(&store, &format!("{label}, then finished")).await;
    }
    eprintln!(
        "{backend:?}: {KILLS} kills: {} left the old chain, {} the new",
        outcomes.0, outcomes.1
    );
}

async fn tip(db: &TestDb) -> BlockHash {
    let store = SqlStore::open(&db.url, DEV.network).await.unwrap();
    store.tip().await.unwrap().unwrap().hash
}

on_both_backends!(sigkill_during_reorgs_leaves_one_complete_chain);
