//! Running a planned cluster: node 0 first (until its ready line), then the other nodes
//! together, then the miners; `cluster.json` rewritten as each starts; every node's
//! `/status` polled every two seconds; a child that exits said so (and the rest kept);
//! on shutdown, miners then nodes stopped (SIGTERM, SIGKILL after ten seconds).
//!
//! It decides nothing about the chain and restarts nothing: a child that dies stays dead,
//! with its exit status and log path reported.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::join_all;

use super::plan::{Backend, MinerPlan, NodePlan, Plan, redact};
use super::prepare;
use super::process::{Binaries, ChildProcess, Ready, describe};
use super::record::{FORMAT, MinerRecord, NodeRecord, Record};
use super::status::{MinerRow, NodeRow, NodeStatus, Summary};
use super::{ClusterError, Event};
use crate::rest::NodeClient;

/// How long a node may take to print its ready line (a fresh database, migrations).
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// How long a child may take to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How often every node's `/status` is read.
const POLL_EVERY: Duration = Duration::from_secs(2);
/// How long one `/status` may take before the node counts as down for this round.
const POLL_TIMEOUT: Duration = Duration::from_millis(1500);

/// Prepares, starts and supervises `plan` until `shutdown`; see [`super::run`].
pub async fn run(
    plan: Plan,
    shutdown: impl Future<Output = ()>,
    on_event: &mut impl FnMut(Event),
) -> Result<(), ClusterError> {
    let binaries = Binaries::beside_current_exe()?;
    let record = prepare_run(&plan, on_event).await?;
    let mut cluster = Cluster {
        plan: &plan,
        record,
        nodes: Vec::new(),
        miners: Vec::new(),
    };
    let mut shutdown = std::pin::pin!(shutdown);
    let started = tokio::select! {
        biased;
        () = &mut shutdown => None,
        started = cluster.start(&binaries, on_event) => Some(started),
    };
    let outcome = match started {
        None => Ok(()),
        Some(Err(error)) => Err(error),
        Some(Ok(summary)) => {
            on_event(Event::Ready(summary));
            cluster.supervise(shutdown, on_event).await
        }
    };
    on_event(Event::Stopping);
    cluster.stop(on_event).await?;
    outcome
}

/// The refusals, the previous run removed, then the directory, record, databases and
/// wallets of this one.
async fn prepare_run(
    plan: &Plan,
    on_event: &mut impl FnMut(Event),
) -> Result<Record, ClusterError> {
    let previous = prepare::previous_cluster(&plan.dir)?;
    prepare::check_ports(plan)?;
    prepare::refuse_foreign_databases(plan, previous.as_ref()).await?;
    if let Some(previous) = &previous {
        on_event(Event::Note(format!(
            "starting afresh: removing the previous cluster in {}",
            plan.dir.display()
        )));
        prepare::remove_cluster(&plan.dir, previous, on_event).await?;
    }
    on_event(Event::Note(format!(
        "starting {} node(s) and {} miner(s) in {}",
        plan.nodes.len(),
        plan.miners.len(),
        plan.dir.display()
    )));
    prepare::create_dir(&plan.dir)?;
    let mut record = initial_record(plan);
    record.write(&plan.dir)?;
    if let Backend::Postgres(server) = &plan.backend {
        prepare::create_databases(server, plan, &mut record, on_event).await?;
    }
    let addresses = prepare::create_wallets(plan)?;
    record.miners = miner_records(&plan.miners, &addresses);
    record.write(&plan.dir)?;
    Ok(record)
}

/// The record before anything runs: this process, the nodes' ports and directories.
fn initial_record(plan: &Plan) -> Record {
    Record {
        format: FORMAT.into(),
        supervisor_pid: Some(std::process::id()),
        network: plan.network.to_string(),
        postgres: None,
        nodes: plan
            .nodes
            .iter()
            .map(|n| NodeRecord {
                node_id: n.node_id.clone(),
                pid: None,
                url: n.url(),
                api_port: n.api_port,
                p2p_port: n.p2p_port,
                p2p: None,
                peer_id: None,
                data_dir: n.data_dir.clone(),
                database: n.database_shown(),
                log: n.log.clone(),
            })
            .collect(),
        miners: Vec::new(),
        passphrase_file: (!plan.miners.is_empty()).then(|| plan.passphrase_path()),
    }
}

fn miner_records(miners: &[MinerPlan], addresses: &[String]) -> Vec<MinerRecord> {
    miners
        .iter()
        .zip(addresses)
        .map(|(m, address)| MinerRecord {
            name: m.name.clone(),
            pid: None,
            wallet: m.wallet.clone(),
            address: address.clone(),
            nodes: m.nodes.clone(),
            log: m.log.clone(),
        })
        .collect()
}

/// The running children and their record.
struct Cluster<'a> {
    plan: &'a Plan,
    record: Record,
    nodes: Vec<ChildProcess>,
    miners: Vec<ChildProcess>,
}

impl Cluster<'_> {
    /// Node 0, then the other nodes, then the miners; the table once all run.
    async fn start(
        &mut self,
        binaries: &Binaries,
        on_event: &mut impl FnMut(Event),
    ) -> Result<Summary, ClusterError> {
        let plan = self.plan;
        let (first, rest) = plan.nodes.split_at(1);
        self.start_nodes(binaries, first, on_event).await?;
        self.start_nodes(binaries, rest, on_event).await?;
        for (i, miner) in plan.miners.iter().enumerate() {
            let child = ChildProcess::spawn_miner(&binaries.miner, miner)?;
            self.record.miners[i].pid = child.pid();
            self.miners.push(child);
        }
        self.record.write(&plan.dir)?;
        Ok(self.summary(binaries))
    }

    /// Starts `nodes` together and waits for all their ready lines.
    async fn start_nodes(
        &mut self,
        binaries: &Binaries,
        nodes: &[NodePlan],
        on_event: &mut impl FnMut(Event),
    ) -> Result<(), ClusterError> {
        let first = self.nodes.len();
        for node in nodes {
            let child = ChildProcess::spawn_node(&binaries.node, node)?;
            self.record.nodes[usize::from(node.index)].pid = child.pid();
            self.nodes.push(child);
        }
        self.record.write(&self.plan.dir)?;
        let waits = self.nodes[first..]
            .iter_mut()
            .map(|child| child.wait_ready(READY_DEADLINE));
        let readies = join_all(waits).await;
        for (node, ready) in nodes.iter().zip(readies) {
            let Ready { api, p2p, peer_id } = ready?;
            let entry = &mut self.record.nodes[usize::from(node.index)];
            (entry.p2p, entry.peer_id) = (Some(p2p), Some(peer_id));
            on_event(Event::NodeReady {
                node_id: node.node_id.clone(),
                url: api,
            });
        }
        self.record.write(&self.plan.dir)?;
        Ok(())
    }

    fn summary(&self, binaries: &Binaries) -> Summary {
        let nodes = self
            .record
            .nodes
            .iter()
            .map(|n| NodeRow {
                node_id: n.node_id.clone(),
                url: n.url.clone(),
                p2p: n.p2p.clone().unwrap_or_default(),
                peer_id: n.peer_id.clone().unwrap_or_default(),
            })
            .collect();
        let miners = self
            .record
            .miners
            .iter()
            .map(|m| MinerRow {
                name: m.name.clone(),
                address: m.address.clone(),
                wallet: m.wallet.clone(),
                node: m.nodes.first().cloned().unwrap_or_default(),
                log: m.log.clone(),
            })
            .collect();
        Summary {
            dir: self.plan.dir.clone(),
            nodes,
            miners,
            databases: databases_in_words(self.plan),
            passphrase: self.record.passphrase_file.clone(),
            wallet_binary: binaries.wallet.clone(),
        }
    }

    /// Polls `/status` and watches for exits until `shutdown` completes.
    async fn supervise(
        &mut self,
        mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
        on_event: &mut impl FnMut(Event),
    ) -> Result<(), ClusterError> {
        let clients = self
            .plan
            .nodes
            .iter()
            .map(|n| Ok((n.node_id.clone(), NodeClient::new(&n.url())?)))
            .collect::<Result<Vec<_>, ClusterError>>()?;
        let mut tick = tokio::time::interval(POLL_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let statuses = tokio::select! {
                biased;
                () = &mut shutdown => return Ok(()),
                statuses = poll(&mut tick, &clients) => statuses,
            };
            self.report_exits(on_event)?;
            if self
                .nodes
                .iter()
                .chain(&self.miners)
                .all(|c| !c.is_running())
            {
                return Err(ClusterError::AllExited {
                    dir: self.plan.dir.display().to_string(),
                });
            }
            on_event(Event::Status(self.with_exits(statuses)));
        }
    }

    /// Says which children exited since the last look, and forgets their pids.
    fn report_exits(&mut self, on_event: &mut impl FnMut(Event)) -> Result<(), ClusterError> {
        let mut changed = false;
        for (i, child) in self.nodes.iter_mut().enumerate() {
            if let Some(status) = child.newly_exited() {
                self.record.nodes[i].pid = None;
                changed = true;
                on_event(exited(child, status));
            }
        }
        for (i, child) in self.miners.iter_mut().enumerate() {
            if let Some(status) = child.newly_exited() {
                self.record.miners[i].pid = None;
                changed = true;
                on_event(exited(child, status));
            }
        }
        if changed {
            self.record.write(&self.plan.dir)?;
        }
        Ok(())
    }

    /// The statuses, with "exited" for the nodes whose process has.
    fn with_exits(&self, mut statuses: Vec<NodeStatus>) -> Vec<NodeStatus> {
        for (status, child) in statuses.iter_mut().zip(&self.nodes) {
            if let Some(exit) = child.exit_status() {
                status.state = Err(format!("exited ({})", describe(Some(exit))));
            }
        }
        statuses
    }

    /// Miners first (so they do not chase stopping nodes), then nodes; the pids forgotten.
    async fn stop(&mut self, on_event: &mut impl FnMut(Event)) -> Result<(), ClusterError> {
        for group in [&mut self.miners, &mut self.nodes] {
            let stops = join_all(group.iter_mut().map(|c| c.stop(STOP_GRACE))).await;
            for (child, how) in group.iter().zip(stops) {
                on_event(Event::Stopped {
                    name: child.name.clone(),
                    how,
                });
            }
        }
        self.record.clear_pids();
        self.record.write(&self.plan.dir)?;
        Ok(())
    }
}

fn exited(child: &ChildProcess, status: std::process::ExitStatus) -> Event {
    Event::Exited {
        name: child.name.clone(),
        status: describe(Some(status)),
        log: child.log.clone(),
    }
}

/// The next round of `/status` answers, on the next tick.
async fn poll(
    tick: &mut tokio::time::Interval,
    clients: &[(String, NodeClient)],
) -> Vec<NodeStatus> {
    tick.tick().await;
    let reads = clients.iter().map(|(node_id, client)| async move {
        let state = match tokio::time::timeout(POLL_TIMEOUT, client.status()).await {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(error)) if error.is_unreachable() => Err("unreachable".to_owned()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!("no answer within {POLL_TIMEOUT:?}")),
        };
        NodeStatus {
            node_id: node_id.clone(),
            state,
        }
    });
    join_all(reads).await
}

fn databases_in_words(plan: &Plan) -> String {
    match &plan.backend {
        Backend::Sqlite => format!(
            "SQLite, one file per node: {}/node<i>/chain.db",
            plan.dir.display()
        ),
        Backend::Postgres(server) => format!(
            "PostgreSQL, one database per node on {}: {}",
            redact(&server.admin_url()),
            plan.databases().join(", ")
        ),
    }
}

/// Seconds since the Unix epoch, for time stamps.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
