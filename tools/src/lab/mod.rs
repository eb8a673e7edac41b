//! `chaincore-lab`: a network of real nodes in network namespaces on shaped links, put
//! through a scenario of faults while miners mine and wallets pay, then judged by the
//! history checker and reported as text, JSON and an HTML page (`just lab FILE`).
//!
//! - [`scenario`]: the TOML file as a checked value (pure).
//! - [`netns`]: namespaces, the bridge, cuts, loss, rate limits and byte meters.
//! - [`relay`]: the delay relay that gives links latency and jitter, and measures them.
//! - [`nodes`]: node and relay processes: start, SIGKILL, restart, SIGSTOP, clock skew.
//! - [`postgres`]: a private PostgreSQL server, for database outages.
//! - [`mine`], [`activity`]: the miners and the wallets' payments.
//! - [`timeline`]: the faults at their times.
//! - [`observe`]: what the lab saw, on its own clock.
//! - [`checker`]: the history's verdict (pure).
//! - [`report`]: the figures, the JSON and the HTML page.
//!
//! It must not touch what it did not make: only its own namespaces, links, tables and
//! processes (signalled by pid), and traffic stays on its bridge.

pub mod activity;
pub mod checker;
pub mod mine;
pub mod netns;
pub mod nodes;
pub mod observe;
pub mod postgres;
pub mod relay;
pub mod report;
pub mod report_html;
pub mod scenario;
pub mod timeline;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use netns::Lab;
use nodes::{LabNode, NodeSpec, NodeState, RelayProcess};
use observe::Observer;
use scenario::{Bootstrap, Scenario};

use crate::rest::NodeClient;

/// How long the end of a run may take: the network to settle its mempools, then agree.
const SETTLE: Duration = Duration::from_secs(120);
const AGREE: Duration = Duration::from_secs(120);
/// Blocks mined before the timeline starts, so the wallets' first coins are mature.
const WARM_UP_BLOCKS: usize = 14;

/// Where the binaries are and where the run keeps its files.
#[derive(Clone, Debug)]
pub struct LabOptions {
    pub node_binary: PathBuf,
    pub lab_binary: PathBuf,
    pub out_dir: PathBuf,
}

/// The running lab, shared by its tasks.
#[derive(Debug)]
pub struct World {
    pub scenario: Scenario,
    pub clients: Vec<NodeClient>,
    pub nodes: Vec<tokio::sync::Mutex<LabNode>>,
    pub observer: Observer,
    lab: Mutex<Lab>,
    states: Mutex<Vec<NodeState>>,
    databases_down: Mutex<Vec<bool>>,
    partitioned: AtomicBool,
    flapping: AtomicBool,
    /// Every running node has shared one tip since the last fault began or ended.
    settled: AtomicBool,
    stop_load: AtomicBool,
    stop_mining: AtomicBool,
}

impl World {
    pub fn with_lab<T>(&self, f: impl FnOnce(&mut Lab) -> T) -> T {
        f(&mut self.lab.lock().expect("lab lock"))
    }

    pub fn is_running(&self, i: usize) -> bool {
        self.states.lock().expect("states lock")[i] == NodeState::Running
    }

    /// The nodes running now (not killed, not paused).
    pub fn running(&self) -> Vec<usize> {
        let states = self.states.lock().expect("states lock");
        (0..states.len())
            .filter(|&i| states[i] == NodeState::Running)
            .collect()
    }

    pub fn set_state(&self, i: usize, state: NodeState) {
        self.states.lock().expect("states lock")[i] = state;
        self.unsettle();
    }

    pub fn set_database_down(&self, i: usize, down: bool) {
        self.databases_down.lock().expect("databases lock")[i] = down;
        self.unsettle();
    }

    pub fn set_partitioned(&self, on: bool) {
        self.partitioned.store(on, Ordering::SeqCst);
        self.unsettle();
    }

    pub fn set_flapping(&self, on: bool) {
        self.flapping.store(on, Ordering::SeqCst);
        self.unsettle();
    }

    /// A fault began or ended: blocks are not quiet until the nodes agree again.
    fn unsettle(&self) {
        self.settled.store(false, Ordering::SeqCst);
    }

    /// No cut, no flap, every node running and every database up, and the nodes have
    /// agreed on a tip since the last fault: blocks mined now measure plain propagation.
    pub fn quiet(&self) -> bool {
        self.settled.load(Ordering::SeqCst)
            && !self.partitioned.load(Ordering::SeqCst)
            && !self.flapping.load(Ordering::SeqCst)
            && self.running().len() == self.scenario.nodes
            && !self
                .databases_down
                .lock()
                .expect("databases lock")
                .contains(&true)
    }

    pub fn mining_stopped(&self) -> bool {
        self.stop_mining.load(Ordering::SeqCst)
    }

    pub fn load_stopped(&self) -> bool {
        self.stop_load.load(Ordering::SeqCst)
    }
}

/// Runs `scenario` and returns its report; the lab is gone when this returns.
pub async fn run(scenario: Scenario, options: &LabOptions) -> Result<report::LabReport, String> {
    if let Some(why) = netns::missing() {
        return Err(format!("the lab needs network namespaces: {why}"));
    }
    clear_previous_run(&options.out_dir, scenario.nodes)?;
    let lab = Lab::create(scenario.nodes);
    lab.shape(&scenario.links);
    let mut relays = start_relays(&lab, &scenario, options)?;
    let observer = Observer::new(scenario.nodes);
    observer.note(format!(
        "lab {} up: {} namespaces, links {}",
        lab.id, scenario.nodes, scenario.links
    ));
    let nodes = start_nodes(&lab, &scenario, options, &observer).await?;
    let world = World {
        clients: nodes
            .iter()
            .map(|n| NodeClient::new(&n.url).expect("a lab URL"))
            .collect(),
        nodes: nodes.into_iter().map(tokio::sync::Mutex::new).collect(),
        states: Mutex::new(vec![NodeState::Running; scenario.nodes]),
        databases_down: Mutex::new(vec![false; scenario.nodes]),
        observer,
        lab: Mutex::new(lab),
        partitioned: AtomicBool::new(false),
        flapping: AtomicBool::new(false),
        settled: AtomicBool::new(true),
        stop_load: AtomicBool::new(false),
        stop_mining: AtomicBool::new(false),
        scenario,
    };
    let facts = match drive(&world).await {
        Ok(ends) => report::gather(&world, ends).await,
        Err(e) => Err(e),
    };
    // All at once: a node that needs its full grace period does not hold up the others.
    let stops = futures::future::join_all(
        world
            .nodes
            .iter()
            .map(|n| async { n.lock().await.stop().await }),
    )
    .await;
    let unclean_stops = stops.iter().filter(|clean| !**clean).count();
    futures::future::join_all(relays.iter_mut().map(RelayProcess::stop)).await;
    let relay_stats: Vec<PathBuf> = relays.iter().map(|r| r.stats.clone()).collect();
    facts.map(|facts| report::build(&world, facts, &relay_stats, unclean_stops))
}

fn start_relays(
    lab: &Lab,
    scenario: &Scenario,
    options: &LabOptions,
) -> Result<Vec<RelayProcess>, String> {
    if scenario.links.delay_ms <= 0.0 {
        return Ok(Vec::new());
    }
    (0..scenario.nodes)
        .map(|i| {
            RelayProcess::start(
                lab,
                i,
                &options.lab_binary,
                scenario.links.delay_ms,
                scenario.links.jitter_ms,
                &options.out_dir,
            )
        })
        .collect()
}

/// Node 0 first, then the others side by side, each bootstrapped as the scenario says.
async fn start_nodes(
    lab: &Lab,
    scenario: &Scenario,
    options: &LabOptions,
    observer: &Observer,
) -> Result<Vec<LabNode>, String> {
    let mut rng = fastrand::Rng::with_seed(scenario.seed);
    let spec = |i: usize, rng: &mut fastrand::Rng| NodeSpec {
        index: i,
        dir: options.out_dir.join(format!("node{i}")),
        bootstrap: bootstrap_of(i, scenario.bootstrap, rng)
            .into_iter()
            .map(|b| lab.rest_url(b))
            .collect(),
        postgres: scenario.postgres.contains(&i),
        skew_s: scenario
            .skew
            .iter()
            .find(|s| s.node == i)
            .map(|s| s.ahead_s),
    };
    let first = LabNode::start(lab, &options.node_binary, &spec(0, &mut rng)).await?;
    let specs: Vec<NodeSpec> = (1..scenario.nodes).map(|i| spec(i, &mut rng)).collect();
    let rest = futures::future::join_all(
        specs
            .iter()
            .map(|s| LabNode::start(lab, &options.node_binary, s)),
    )
    .await;
    let mut nodes = vec![first];
    for node in rest {
        nodes.push(node?);
    }
    observer.note(format!("{} nodes ready", nodes.len()));
    Ok(nodes)
}

/// Whom node `i` bootstraps from.
fn bootstrap_of(i: usize, bootstrap: Bootstrap, rng: &mut fastrand::Rng) -> Vec<usize> {
    match (i, bootstrap) {
        (0, _) => Vec::new(),
        (_, Bootstrap::Star) => vec![0],
        (_, Bootstrap::Chain) => vec![i - 1],
        (_, Bootstrap::Random(k)) => {
            let mut earlier: Vec<usize> = (0..i).collect();
            rng.shuffle(&mut earlier);
            earlier.truncate(k);
            earlier
        }
    }
}

/// The run itself, from the warm-up to the final states.
async fn drive(world: &World) -> Result<Vec<checker::FinalState>, String> {
    let observers: Vec<_> = (0..world.scenario.nodes)
        .map(|i| tokio::spawn(world.observer.clone().follow(i, world.clients[i].clone())))
        .collect();
    let keys = activity::wallet_keys(world.scenario.seed);
    warm_up(world, &keys).await?;
    let wallets =
        tokio::sync::Mutex::new(activity::Wallets::new(keys.clone(), world.scenario.seed));
    world.observer.restart_clock();
    world.observer.note("the timeline starts");
    let timeline_end = world.observer.start() + Duration::from_secs_f64(world.scenario.duration_s);
    {
        let loads = futures::future::join_all(
            world
                .scenario
                .load
                .iter()
                .map(|l| activity::run_load(world, &wallets, *l)),
        );
        let background = async {
            tokio::join!(activity::mine(world, &keys), watch(world), loads);
        };
        let foreground = async {
            timeline::run(world, &wallets).await;
            tokio::time::sleep_until(timeline_end.into()).await;
            settle(world).await;
        };
        tokio::select! {
            () = foreground => {},
            () = background => {},
        }
    }
    let ends = finish(world).await;
    for task in observers {
        task.abort();
    }
    ends
}

/// Mines the first blocks on node 0 and waits for every node to have them.
async fn warm_up(world: &World, keys: &[chaincore::primitives::PrivateKey]) -> Result<(), String> {
    for k in 0..WARM_UP_BLOCKS {
        if !activity::mine_once(
            world,
            world.scenario.miners[0],
            &keys[k % keys.len()].address(),
            true,
        )
        .await
        {
            return Err("the warm-up's block was not accepted".into());
        }
    }
    let all: Vec<usize> = (0..world.scenario.nodes).collect();
    match world.observer.wait_agree(&all, AGREE).await {
        Some(took) => {
            world.observer.note(format!(
                "warm-up: {WARM_UP_BLOCKS} blocks on every node after {took:.1?}"
            ));
            Ok(())
        }
        None => Err("the nodes did not agree on the warm-up's blocks".into()),
    }
}

/// Samples memory every second, and times each heal's convergence.
async fn watch(world: &World) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for round in 0u64.. {
        tick.tick().await;
        if round % 10 == 0 {
            for (i, node) in world.nodes.iter().enumerate() {
                if let Ok(node) = node.try_lock()
                    && let Some((pss, rss)) = node.memory()
                {
                    world.observer.memory(i, pss, rss);
                }
            }
        }
        let running = world.running();
        let now = world.observer.now();
        if world.observer.agree(&running) {
            if running.len() == world.scenario.nodes {
                world.settled.store(true, Ordering::SeqCst);
            }
            world.observer.with(|o| {
                for (healed, took) in &mut o.convergence {
                    took.get_or_insert(now - *healed);
                }
            });
        }
    }
}

/// After the timeline: heal everything, bring every node back, stop the payments, and keep
/// mining until the mempools are empty (every payment confirmed or evicted as conflicted).
async fn settle(world: &World) {
    world.with_lab(Lab::heal);
    world.set_partitioned(false);
    world.set_flapping(false);
    for (i, node) in world.nodes.iter().enumerate() {
        let mut node = node.lock().await;
        node.resume();
        if let Some(pg) = &node.pg {
            tokio::task::block_in_place(|| pg.resume_if_stopped());
        }
        if node.state == NodeState::Down {
            let _ = node.restart().await;
        }
        world.set_state(i, NodeState::Running);
        world.set_database_down(i, false);
    }
    world.stop_load.store(true, Ordering::SeqCst);
    world
        .observer
        .note("the timeline is over: all healed, every node up, payments stopped");
    let started = std::time::Instant::now();
    while started.elapsed() < SETTLE {
        let mut pending = 0;
        for client in &world.clients {
            pending += client.status().await.map_or(1, |s| s.pending_transactions);
        }
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Stops mining, waits for one tip, and reads every node's final state.
async fn finish(world: &World) -> Result<Vec<checker::FinalState>, String> {
    world.stop_mining.store(true, Ordering::SeqCst);
    let all: Vec<usize> = (0..world.scenario.nodes).collect();
    let agreed = world.observer.wait_agree(&all, AGREE).await;
    world.observer.note(match agreed {
        Some(took) => format!("every node on one tip {took:.1?} after the last block"),
        None => "the nodes did not agree on a tip".to_owned(),
    });
    let mut ends = Vec::new();
    for (i, client) in world.clients.iter().enumerate() {
        let status = status_with_retries(client)
            .await
            .map_err(|e| format!("node {i}: {e}"))?;
        let subsidies = chaincore::consensus::total_subsidy(
            chaincore::primitives::Height::new(status.height),
            chaincore::consensus::Network::Dev.params(),
        );
        ends.push(checker::FinalState {
            node: i,
            tip: status.best_block_hash,
            height: status.height,
            utxo_commitment: status.utxo_commitment,
            supply_units: status.total_supply_units,
            subsidies_units: subsidies.units(),
        });
    }
    Ok(ends)
}

/// A node's `/status`, asked up to three times (a node just back from a fault may be slow).
async fn status_with_retries(
    client: &NodeClient,
) -> Result<crate::rest::StatusView, crate::rest::RestError> {
    let mut last = client.status().await;
    for _ in 0..2 {
        if last.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        last = client.status().await;
    }
    last
}

/// Makes `dir` and removes what an earlier run left there (only the files a run writes),
/// so no node starts on an old chain.
fn clear_previous_run(dir: &Path, nodes: usize) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for i in 0..scenario::MAX_NODES.max(nodes) {
        let _ = std::fs::remove_dir_all(dir.join(format!("node{i}")));
        let _ = std::fs::remove_file(dir.join(format!("relay{i}.json")));
    }
    Ok(())
}

/// The default place for a run's files: `.lab/<scenario name>`.
pub fn default_out_dir(scenario: &Scenario) -> PathBuf {
    Path::new(".lab").join(&scenario.name)
}
