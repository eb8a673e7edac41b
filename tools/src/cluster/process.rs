//! The cluster's child processes: `chaincore-node` and `chaincore-miner` started with their
//! output in log files, a node's ready line read from its stdout, exits noticed, and stops
//! by SIGTERM, then SIGKILL after a grace period.
//!
//! It signals only the processes it started, by their pid, never by name. Children get a
//! clean environment for the node's own settings (`DATABASE_URL`, `CHAINCORE_*`), so every
//! node runs on exactly what the plan says.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdout, Command};
use tokio::sync::oneshot;

use super::plan::{MinerPlan, NodePlan};
use super::record::{MINER_PROGRAM, NODE_PROGRAM};

/// Why a child could not be started or did not get ready.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(
        "{program} is not beside this executable ({dir}): build it with `cargo build -p chaincore --bin chaincore-node -p chaincore-tools --bins`"
    )]
    MissingBinary { program: String, dir: String },
    #[error("cannot find this executable's directory: {0}")]
    NoExecutable(String),
    #[error("cannot {action} {path}: {reason}")]
    Io {
        action: &'static str,
        path: String,
        reason: String,
    },
    #[error("{name} exited before it was ready ({status}); see {log}")]
    ExitedEarly {
        name: String,
        status: String,
        log: String,
    },
    #[error("{name} was not ready within {deadline:?}; see {log}")]
    NotReady {
        name: String,
        deadline: Duration,
        log: String,
    },
}

/// The node and miner binaries, found beside the running `chaincore-cluster`, and the
/// wallet's (for the hint on how to use the miners' wallets).
#[derive(Clone, Debug)]
pub struct Binaries {
    pub node: PathBuf,
    pub miner: PathBuf,
    /// Relative to the working directory when inside it, as users would type it.
    pub wallet: PathBuf,
}

impl Binaries {
    pub fn beside_current_exe() -> Result<Self, ProcessError> {
        let exe = std::env::current_exe().map_err(|e| ProcessError::NoExecutable(e.to_string()))?;
        let dir = exe
            .parent()
            .ok_or_else(|| ProcessError::NoExecutable(exe.display().to_string()))?;
        let find = |program: &str| {
            let path = dir.join(program);
            if path.is_file() {
                Ok(path)
            } else {
                Err(ProcessError::MissingBinary {
                    program: program.to_owned(),
                    dir: dir.display().to_string(),
                })
            }
        };
        let wallet = dir.join("chaincore-wallet");
        let wallet = std::env::current_dir()
            .ok()
            .and_then(|cwd| wallet.strip_prefix(cwd).ok().map(Path::to_path_buf))
            .unwrap_or(wallet);
        Ok(Self {
            node: find(NODE_PROGRAM)?,
            miner: find(MINER_PROGRAM)?,
            wallet,
        })
    }
}

/// What a node's ready line says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// `http://IP:PORT`
    pub api: String,
    /// Its P2P listen multiaddr.
    pub p2p: String,
    pub peer_id: String,
}

/// The fields of `chaincore-node ready ... api=URL p2p=MULTIADDR peer_id=ID`.
pub fn parse_ready(line: &str) -> Option<Ready> {
    if !line.starts_with("chaincore-node ready") {
        return None;
    }
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|word| word.strip_prefix(name))
            .map(str::to_owned)
    };
    Some(Ready {
        api: field("api=")?,
        p2p: field("p2p=").unwrap_or_default(),
        peer_id: field("peer_id=")?,
    })
}

/// How a stop went.
#[derive(Debug)]
pub enum Stopped {
    /// It had exited before (on its own, or on the terminal's Ctrl-C).
    Before(ExitStatus),
    /// It exited after SIGTERM.
    Terminated(ExitStatus),
    /// It outlived the grace period and was killed.
    Killed,
    /// Waiting for it failed.
    Lost(String),
}

/// A started node or miner.
#[derive(Debug)]
pub struct ChildProcess {
    pub name: String,
    pub log: PathBuf,
    child: tokio::process::Child,
    pid: Option<u32>,
    exited: Option<ExitStatus>,
    ready: Option<oneshot::Receiver<Ready>>,
}

impl ChildProcess {
    /// Starts a node with stderr in its log, and a task reading its stdout for the ready
    /// line (copying every line to the log too).
    pub fn spawn_node(binary: &Path, plan: &NodePlan) -> Result<Self, ProcessError> {
        std::fs::create_dir_all(&plan.data_dir).map_err(|e| io("create", &plan.data_dir, &e))?;
        Self::spawn_node_command(&plan.node_id, &plan.log, clean_command(binary, plan.args()))
    }

    /// Starts a node from a prepared command (the lab's, behind `ip netns exec`), as
    /// [`ChildProcess::spawn_node`] does.
    pub fn spawn_node_command(
        name: &str,
        log_path: &Path,
        mut command: Command,
    ) -> Result<Self, ProcessError> {
        let log = append(log_path)?;
        command.stdout(Stdio::piped()).stderr(log);
        let mut child = Self::spawn(name, log_path, command)?;
        let stdout = child.child.stdout.take();
        let (tx, rx) = oneshot::channel();
        if let Some(stdout) = stdout {
            tokio::spawn(copy_stdout(stdout, log_path.to_owned(), tx));
        }
        child.ready = Some(rx);
        Ok(child)
    }

    /// Starts a miner with stdout and stderr in its log.
    pub fn spawn_miner(binary: &Path, plan: &MinerPlan) -> Result<Self, ProcessError> {
        let out = append(&plan.log)?;
        let err = out.try_clone().map_err(|e| io("open", &plan.log, &e))?;
        let mut command = clean_command(binary, plan.args());
        command.stdout(out).stderr(err);
        Self::spawn(&plan.name, &plan.log, command)
    }

    fn spawn(name: &str, log: &Path, mut command: Command) -> Result<Self, ProcessError> {
        // A safety net for early returns and panics; normal stops are graceful (`stop`).
        command.stdin(Stdio::null()).kill_on_drop(true);
        let child = command.spawn().map_err(|e| io("start", log, &e))?;
        Ok(Self {
            name: name.to_owned(),
            log: log.to_owned(),
            pid: child.id(),
            child,
            exited: None,
            ready: None,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Waits up to `deadline` for a node's ready line.
    pub async fn wait_ready(&mut self, deadline: Duration) -> Result<Ready, ProcessError> {
        let rx = self.ready.take();
        let ready = async {
            match rx {
                Some(rx) => rx.await.ok(),
                None => None,
            }
        };
        match tokio::time::timeout(deadline, ready).await {
            Ok(Some(ready)) => Ok(ready),
            Ok(None) => {
                // Stdout closed without a ready line: the node is exiting.
                let status = tokio::time::timeout(Duration::from_secs(5), self.child.wait())
                    .await
                    .map_or_else(|_| "still running".to_owned(), |s| describe(s.ok()));
                Err(ProcessError::ExitedEarly {
                    name: self.name.clone(),
                    status,
                    log: self.log.display().to_string(),
                })
            }
            Err(_) => Err(ProcessError::NotReady {
                name: self.name.clone(),
                deadline,
                log: self.log.display().to_string(),
            }),
        }
    }

    /// Its exit status, if it has exited since the last call (and only then).
    pub fn newly_exited(&mut self) -> Option<ExitStatus> {
        if self.exited.is_some() {
            return None;
        }
        let status = self.child.try_wait().ok().flatten()?;
        self.exited = Some(status);
        Some(status)
    }

    pub fn is_running(&self) -> bool {
        self.exited.is_none()
    }

    /// How it exited, once it has.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.exited
    }

    /// SIGKILL, and wait up to `wait` for the exit, without a runtime: for `Drop`, so that
    /// no child outlives (or lingers as a zombie after) whoever started it.
    pub fn kill_blocking(&mut self, wait: Duration) {
        if self.exited.is_some() {
            return;
        }
        let _ = self.child.start_kill();
        let until = std::time::Instant::now() + wait;
        while std::time::Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = Some(status);
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub async fn stop(&mut self, grace: Duration) -> Stopped {
        if let Some(status) = self.exited.or_else(|| self.child.try_wait().ok().flatten()) {
            self.exited = Some(status);
            return Stopped::Before(status);
        }
        if let Some(pid) = self.pid.and_then(|p| i32::try_from(p).ok()) {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
        if let Ok(waited) = tokio::time::timeout(grace, self.child.wait()).await {
            return match waited {
                Ok(status) => {
                    self.exited = Some(status);
                    Stopped::Terminated(status)
                }
                Err(e) => Stopped::Lost(e.to_string()),
            };
        }
        let _ = self.child.start_kill();
        match self.child.wait().await {
            Ok(status) => {
                self.exited = Some(status);
                Stopped::Killed
            }
            Err(e) => Stopped::Lost(e.to_string()),
        }
    }
}

/// An exit status as people read it: `exit code 1`, `killed by signal 9`.
pub fn describe(status: Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => s.to_string(),
        },
        None => "unknown status".to_owned(),
    }
}

/// A command without the node's settings from this environment.
pub fn clean_command(binary: &Path, args: Vec<OsString>) -> Command {
    let mut command = Command::new(binary);
    command.args(args);
    for (key, _) in std::env::vars_os() {
        let inherited = key.to_string_lossy();
        if inherited == "DATABASE_URL" || inherited.starts_with("CHAINCORE_") {
            command.env_remove(&key);
        }
    }
    command
}

/// Copies a node's stdout to its log, handing the ready line to `ready`. Keeps reading
/// until the node exits, so the node never writes to a closed pipe.
async fn copy_stdout(stdout: ChildStdout, log: PathBuf, ready: oneshot::Sender<Ready>) {
    let mut ready = Some(ready);
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .await
        .ok();
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(file) = file.as_mut() {
            let _ = file.write_all(format!("{line}\n").as_bytes()).await;
        }
        if let Some(parsed) = parse_ready(&line)
            && let Some(tx) = ready.take()
        {
            let _ = tx.send(parsed);
        }
    }
}

fn append(path: &Path) -> Result<std::fs::File, ProcessError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io("open", path, &e))
}

fn io(action: &'static str, path: &Path, error: &std::io::Error) -> ProcessError {
    ProcessError::Io {
        action,
        path: path.display().to_string(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_line_gives_url_multiaddr_and_peer_id() {
        let line = "chaincore-node ready node_id=node0 network=dev api=http://127.0.0.1:5000 \
                    p2p=/ip4/127.0.0.1/tcp/8000 peer_id=12D3KooWabc";
        assert_eq!(
            parse_ready(line),
            Some(Ready {
                api: "http://127.0.0.1:5000".into(),
                p2p: "/ip4/127.0.0.1/tcp/8000".into(),
                peer_id: "12D3KooWabc".into(),
            })
        );
        assert_eq!(parse_ready("something else api=x peer_id=y"), None);
    }

    #[test]
    fn statuses_read_as_words() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(describe(Some(ExitStatus::from_raw(1 << 8))), "exit code 1");
        assert_eq!(
            describe(Some(ExitStatus::from_raw(9))),
            "killed by signal 9"
        );
    }
}
