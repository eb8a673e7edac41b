//! The lab's nodes and relays: `chaincore-node` processes inside their namespaces, started,
//! killed (SIGKILL), restarted on the same files, paused (SIGSTOP/SIGCONT), with a wall
//! clock running ahead (libfaketime), and their PostgreSQL server taken away and given
//! back. It signals only the processes it started, by pid.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::process::Command;

use super::netns::{API_PORT, Lab, P2P_PORT, RELAY_PORT};
use super::postgres::PgServer;
use crate::cluster::process::{ChildProcess, ProcessError, clean_command};

/// Where Debian's libfaketime lives.
pub const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
/// How long a node may take to start, and to stop after SIGTERM.
const START: Duration = Duration::from_secs(60);
const STOP: Duration = Duration::from_secs(10);

/// What a node is doing, as the lab made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    Running,
    Paused,
    Down,
}

/// One node of the lab.
#[derive(Debug)]
pub struct LabNode {
    pub index: usize,
    /// Its REST URL from the host.
    pub url: String,
    pub peer_id: String,
    pub state: NodeState,
    pub log: PathBuf,
    /// Its own PostgreSQL server, when it keeps its chain there.
    pub pg: Option<PgServer>,
    command: Vec<OsString>,
    skew_s: Option<i64>,
    child: Option<ChildProcess>,
}

/// How to start one node.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub index: usize,
    pub dir: PathBuf,
    pub bootstrap: Vec<String>,
    pub postgres: bool,
    pub skew_s: Option<i64>,
}

impl LabNode {
    /// Starts node `spec.index` in its namespace and waits for its ready line.
    pub async fn start(lab: &Lab, node_binary: &Path, spec: &NodeSpec) -> Result<LabNode, String> {
        std::fs::create_dir_all(&spec.dir).map_err(|e| format!("{}: {e}", spec.dir.display()))?;
        let pg = if spec.postgres {
            // On the blocking pool: initdb and pg_ctl take seconds (and any runtime flavour).
            let server = tokio::task::spawn_blocking(|| {
                let server = PgServer::start()?;
                server.create_database("chain");
                Some(server)
            })
            .await
            .map_err(|e| e.to_string())?
            .ok_or(
                "a private PostgreSQL server cannot start here (root and /usr/lib/postgresql)",
            )?;
            Some(server)
        } else {
            None
        };
        let ip = lab.ip(spec.index);
        let mut command: Vec<OsString> =
            lab.prefix(spec.index).into_iter().map(Into::into).collect();
        command.push(node_binary.into());
        let mut args = vec![
            format!("--node-id=n{}", spec.index),
            format!("--api-bind={ip}"),
            format!("--api-port={API_PORT}"),
            format!("--p2p-bind={ip}"),
            format!("--p2p-port={P2P_PORT}"),
            format!("--data-dir={}", spec.dir.display()),
            "--rate-limit=0".to_owned(),
        ];
        if !spec.bootstrap.is_empty() {
            args.push(format!("--bootstrap-nodes={}", spec.bootstrap.join(",")));
        }
        if let Some(pg) = &pg {
            args.push(format!("--database-url={}", pg.socket_url("chain")));
        }
        command.extend(args.into_iter().map(OsString::from));
        let mut node = LabNode {
            index: spec.index,
            url: lab.rest_url(spec.index),
            peer_id: String::new(),
            state: NodeState::Down,
            log: spec.dir.join("node.log"),
            pg,
            command,
            skew_s: spec.skew_s,
            child: None,
        };
        node.spawn().await?;
        Ok(node)
    }

    async fn spawn(&mut self) -> Result<(), String> {
        let (program, args) = self.command.split_first().expect("a command");
        let mut command: Command = clean_command(Path::new(program), args.to_vec());
        command.env(
            "RUST_LOG",
            std::env::var("CHAINCORE_LAB_LOG").unwrap_or_else(|_| "info".into()),
        );
        if let Some(ahead) = self.skew_s {
            // Only the wall clock: timers and timeouts (the monotonic clock) run true.
            command
                .env("LD_PRELOAD", FAKETIME_LIB)
                .env("FAKETIME", format!("{ahead:+}s"))
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
                .env("FAKETIME_DONT_RESET", "1");
        }
        let name = format!("node {}", self.index);
        let mut child = ChildProcess::spawn_node_command(&name, &self.log, command)
            .map_err(|e| e.to_string())?;
        let ready = child
            .wait_ready(START)
            .await
            .map_err(|e: ProcessError| e.to_string())?;
        self.peer_id = ready.peer_id;
        self.child = Some(child);
        self.state = NodeState::Running;
        Ok(())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(ChildProcess::pid)
    }

    fn signal(&self, signal: Signal) {
        if let Some(pid) = self.pid().and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
        }
    }

    /// SIGKILL: no shutdown, as a crash or the OOM killer.
    pub async fn kill(&mut self) {
        if self.state == NodeState::Paused {
            self.signal(Signal::SIGCONT);
        }
        self.signal(Signal::SIGKILL);
        if let Some(mut child) = self.child.take() {
            let _ = child.stop(STOP).await;
        }
        self.state = NodeState::Down;
    }

    /// Starts a node that is down again, on the same files and database.
    pub async fn restart(&mut self) -> Result<(), String> {
        if self.state != NodeState::Down {
            return Ok(());
        }
        self.spawn().await
    }

    pub fn pause(&mut self) {
        if self.state == NodeState::Running {
            self.signal(Signal::SIGSTOP);
            self.state = NodeState::Paused;
        }
    }

    pub fn resume(&mut self) {
        if self.state == NodeState::Paused {
            self.signal(Signal::SIGCONT);
            self.state = NodeState::Running;
        }
    }

    /// Whether the process exited without the lab killing it.
    pub fn exited_by_itself(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        let status = child.newly_exited()?;
        self.state = NodeState::Down;
        Some(crate::cluster::process::describe(Some(status)))
    }

    /// Its resident memory now: (anonymous PSS, RSS) in bytes, from `smaps_rollup`.
    pub fn memory(&self) -> Option<(u64, u64)> {
        let text = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", self.pid()?)).ok()?;
        let kib = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
                .map(|k| k * 1024)
        };
        Some((kib("Pss_Anon:")?, kib("Rss:")?))
    }

    /// SIGTERM and wait (SIGKILL after the grace period); whether it stopped by itself.
    pub async fn stop(&mut self) -> bool {
        self.resume();
        let mut clean = true;
        if let Some(mut child) = self.child.take() {
            clean = !matches!(child.stop(STOP).await, crate::cluster::Stopped::Killed);
        }
        self.state = NodeState::Down;
        clean
    }
}

impl Drop for LabNode {
    /// A node still running when its guard goes (a panic, an early return) is killed and
    /// reaped; normal ends stop it gracefully first ([`LabNode::stop`]).
    fn drop(&mut self) {
        self.resume();
        if let Some(child) = self.child.as_mut() {
            child.kill_blocking(STOP);
        }
    }
}

/// A delay relay inside one namespace: `chaincore-lab relay` behind `ip netns exec`.
#[derive(Debug)]
pub struct RelayProcess {
    pub stats: PathBuf,
    child: tokio::process::Child,
}

impl RelayProcess {
    pub fn start(
        lab: &Lab,
        i: usize,
        lab_binary: &Path,
        delay_ms: f64,
        jitter_ms: f64,
        dir: &Path,
    ) -> Result<Self, String> {
        let stats = dir.join(format!("relay{i}.json"));
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &lab.namespace(i)])
            .arg(lab_binary)
            .arg("relay")
            .arg(format!("--listen=0.0.0.0:{RELAY_PORT}"))
            .arg(format!("--delay-ms={delay_ms}"))
            .arg(format!("--jitter-ms={jitter_ms}"))
            .arg("--stats")
            .arg(&stats)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let child = command
            .spawn()
            .map_err(|e| format!("start the relay of node {i}: {e}"))?;
        Ok(Self { stats, child })
    }

    /// SIGTERM (it writes its stats and exits), then wait.
    pub async fn stop(&mut self) {
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
        }
        if tokio::time::timeout(STOP, self.child.wait()).await.is_err() {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }
}
