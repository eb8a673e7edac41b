//! A `chaincore-node` child process: started on ephemeral ports with its own database,
//! awaited until it prints its ready line, and stopped when dropped.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chaincore_tools::cluster::process::{Ready, parse_ready};

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
    /// Its peer-to-peer listen address and peer id, from the ready line.
    pub p2p: String,
    pub peer_id: String,
    pub dir: tempfile::TempDir,
    /// The database; kept so it outlives the process (and is dropped after it).
    pub db: Option<TestDb>,
    pub log: PathBuf,
    options: NodeOptions,
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
        let mut node = NodeProcess {
            child: None,
            url: String::new(),
            p2p: String::new(),
            peer_id: String::new(),
            dir,
            db,
            log,
            options,
        };
        node.spawn();
        Some(node)
    }

    /// Stops the node and starts it again on the same directory and database, with its
    /// options' arguments but `replace_args` instead of the extra ones (new ports).
    pub fn restart(&mut self, replace_args: &[&str]) {
        self.stop();
        let args: Vec<String> = replace_args.iter().map(|a| (*a).to_owned()).collect();
        self.options.extra_args = args;
        self.spawn();
    }

    fn spawn(&mut self) {
        let options = &self.options;
        let mut command = Command::new(node_binary());
        command.args([
            "--node-id",
            &options.node_id,
            "--api-port",
            "0",
            "--p2p-port",
            "0",
        ]);
        command
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(&options.extra_args)
            .env(
                "RUST_LOG",
                std::env::var("CHAINCORE_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(log_file(&self.log));
        if let Some(db) = &self.db {
            command.args(["--database-url", &db.url]);
        }
        let mut child = command.spawn().expect("start chaincore-node");
        let ready = wait_ready(&mut child, &self.log);
        (self.url, self.p2p, self.peer_id) = (ready.api, ready.p2p, ready.peer_id);
        self.child = Some(child);
    }

    /// The node's database URL (its SQLite file unless it runs on PostgreSQL).
    pub fn database_url(&self) -> String {
        match &self.db {
            Some(db) => db.url.clone(),
            None => format!("sqlite://{}/chain.db?mode=ro", self.dir.path().display()),
        }
    }

    /// Bytes the node's database takes on disk.
    pub async fn database_bytes(&self) -> u64 {
        match &self.db {
            Some(db) => crate::db::database_bytes(db).await,
            None => crate::db::sqlite_bytes(self.dir.path()),
        }
    }

    /// Rows in the node's `blocks` table: every header it indexed, with a body or not.
    pub async fn block_rows(&self) -> u64 {
        self.rows("blocks").await
    }

    /// Rows in one of the node's tables.
    pub async fn rows(&self, table: &str) -> u64 {
        use sea_orm::{ConnectionTrait, Database, Statement};
        let conn = Database::connect(self.database_url().as_str())
            .await
            .expect("connect to the node's database");
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .expect("count blocks")
            .expect("a row");
        let n: i64 = row.try_get("", "n").expect("a count");
        u64::try_from(n).expect("a count is positive")
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
        let stopped = stop_child(&mut child, nix::sys::signal::Signal::SIGTERM, STOP_DEADLINE);
        stopped.is_some_and(|status| status.success())
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

/// Sends `how` to `child` and waits `grace` for it to exit; then SIGKILL. Its exit status
/// if it exited by itself, `None` if it had to be killed.
pub fn stop_child(
    child: &mut Child,
    how: nix::sys::signal::Signal,
    grace: Duration,
) -> Option<std::process::ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    signal(child.id(), how);
    let until = Instant::now() + grace;
    while Instant::now() < until {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The node's log, appended to across restarts.
fn log_file(path: &std::path::Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("a log file")
}

/// Reads the child's stdout until the ready line.
fn wait_ready(child: &mut Child, log: &std::path::Path) -> Ready {
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(ready) = parse_ready(&line) {
                let _ = tx.send(ready);
            }
        }
    });
    match rx.recv_timeout(START_DEADLINE) {
        Ok(ready) => ready,
        Err(_) => {
            let _ = child.kill();
            panic!(
                "the node did not get ready in {START_DEADLINE:?}; its log:\n{}",
                tail(log)
            );
        }
    }
}
