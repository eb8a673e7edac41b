//! A `chaincore-node` child process: started on ephemeral ports with its own database,
//! awaited until it prints its ready line, and stopped when dropped.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::db::{Backend, TestDb};

/// How long a node may take to start (a fresh database, migrations, genesis).
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long a node may take to stop after SIGTERM before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(10);

/// The `chaincore-node` binary: `CHAINCORE_NODE_BIN`, or the one beside this test binary.
pub fn node_binary() -> PathBuf {
    if let Ok(path) = std::env::var("CHAINCORE_NODE_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let binary = dir.join("chaincore-node");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build -p chaincore --bin chaincore-node` (cargo test --workspace does)",
        binary.display()
    );
    binary
}

/// How to start a node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    pub backend: Backend,
    pub node_id: String,
    pub extra_args: Vec<String>,
}

impl Default for NodeOptions {
    fn default() -> Self {
        Self {
            backend: Backend::Sqlite,
            node_id: "test".into(),
            extra_args: vec!["--rate-limit".into(), "0".into()],
        }
    }
}

/// A running node, stopped on drop.
#[derive(Debug)]
pub struct NodeProcess {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub dir: tempfile::TempDir,
    /// The database; kept so it outlives the process (and is dropped after it).
    pub db: Option<TestDb>,
    pub log: PathBuf,
}

impl NodeProcess {
    /// Starts a node, or `None` when its backend is PostgreSQL and no server answers.
    pub async fn start(options: NodeOptions) -> Option<NodeProcess> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db = match options.backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(TestDb::postgres().await?),
        };
        let log = dir.path().join("node.log");
        let mut command = Command::new(node_binary());
        command
            .args([
                "--node-id",
                &options.node_id,
                "--api-port",
                "0",
                "--p2p-port",
                "0",
            ])
            .arg("--data-dir")
            .arg(dir.path())
            .args(&options.extra_args)
            .env(
                "RUST_LOG",
                std::env::var("CHAINCORE_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("a log file"));
        if let Some(db) = &db {
            command.args(["--database-url", &db.url]);
        }
        let mut child = command.spawn().expect("start chaincore-node");
        let url = wait_ready(&mut child, &log);
        Some(NodeProcess {
            child: Some(child),
            url,
            dir,
            db,
            log,
        })
    }

    /// The process id (for tests that signal it).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Stops the node with SIGTERM (SIGKILL if it does not stop in time); returns whether it
    /// exited cleanly.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        terminate(&child);
        let until = Instant::now() + STOP_DEADLINE;
        while Instant::now() < until {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// The last lines of the node's log, for failure messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SIGTERM by pid: the only processes this harness ever signals are those it started.
pub fn signal(pid: u32, signal: nix::sys::signal::Signal) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
    }
}

fn terminate(child: &Child) {
    signal(child.id(), nix::sys::signal::Signal::SIGTERM);
}

fn tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Reads the child's stdout until the ready line; returns the API URL.
fn wait_ready(child: &mut Child, log: &std::path::Path) -> String {
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.split_whitespace().find_map(|w| w.strip_prefix("api=")) {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    match rx.recv_timeout(START_DEADLINE) {
        Ok(url) => url,
        Err(_) => {
            let _ = child.kill();
            panic!(
                "the node did not get ready in {START_DEADLINE:?}; its log:\n{}",
                tail(log)
            );
        }
    }
}
