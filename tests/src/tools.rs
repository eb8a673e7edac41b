//! The `tools/` binaries as child processes: the wallet run to completion, the miner kept
//! running with its output lines timestamped as they arrive, the monitor for one snapshot.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::node::stop_child;

/// The passphrase the test wallets are sealed with.
pub const PASSPHRASE: &str = "test passphrase";

/// A workspace binary beside this test binary (`cargo build --workspace --bins` puts it there;
/// `just test` does that first).
pub fn tool_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let binary = dir.join(name);
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --workspace --bins` (`just test` does)",
        binary.display()
    );
    binary
}

/// What a finished command said.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts exit code 0 and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        &self.stdout
    }
}

/// Runs `binary` with `args` (and the test passphrase in the environment) to completion.
pub fn run_tool(binary: &str, args: &[&str], cwd: &Path) -> Ran {
    run_tool_with(
        binary,
        args,
        cwd,
        &[("CHAINCORE_WALLET_PASSPHRASE", PASSPHRASE)],
    )
}

/// Runs `binary` with `args` and exactly the given extra environment variables.
pub fn run_tool_with(binary: &str, args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Ran {
    let output = Command::new(tool_binary(binary))
        .args(args)
        .current_dir(cwd)
        .env_remove("CHAINCORE_WALLET_PASSPHRASE")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run a tool");
    Ran::from(output)
}

/// A wallet file in a directory, driven through `chaincore-wallet`.
#[derive(Debug)]
pub struct WalletFile {
    pub dir: PathBuf,
    pub name: String,
    pub address: String,
}

impl WalletFile {
    /// `chaincore-wallet create --wallet NAME` in `dir`.
    pub fn create(dir: &Path, name: &str) -> Self {
        let ran = run_tool("chaincore-wallet", &["create", "--wallet", name], dir);
        let address = ran
            .ok()
            .lines()
            .find_map(|l| l.strip_prefix("address "))
            .expect("create prints the address")
            .to_owned();
        Self {
            dir: dir.to_owned(),
            name: name.to_owned(),
            address,
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    /// `chaincore-wallet COMMAND --wallet NAME --node NODE ARGS...`.
    pub fn run(&self, command: &str, node: &str, args: &[&str]) -> Ran {
        let mut all = vec![command, "--wallet", &self.name, "--node", node];
        all.extend_from_slice(args);
        run_tool("chaincore-wallet", &all, &self.dir)
    }
}

/// A line a child printed, and when the harness read it.
pub type Line = (Instant, String);

/// A long-running tool (the miner), its stdout collected line by line; interrupted (SIGINT,
/// then SIGKILL) when dropped.
#[derive(Debug)]
pub struct ToolProcess {
    child: Child,
    lines: Arc<Mutex<Vec<Line>>>,
}

impl ToolProcess {
    pub fn start(binary: &str, args: &[&str], cwd: &Path) -> Self {
        let mut child = Command::new(tool_binary(binary))
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start a tool");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock()
                    .expect("not poisoned")
                    .push((Instant::now(), line));
            }
        });
        Self { child, lines }
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<Line> {
        self.lines.lock().expect("not poisoned").clone()
    }

    /// The first line containing `needle`, waiting up to `deadline` for it.
    pub async fn wait_for_line(&self, needle: &str, deadline: Duration) -> Line {
        let until = Instant::now() + deadline;
        loop {
            if let Some(line) = self.lines().into_iter().find(|(_, l)| l.contains(needle)) {
                return line;
            }
            assert!(
                Instant::now() < until,
                "no line with {needle:?} within {deadline:?}; output:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for the process to exit by itself; its exit code.
    pub async fn wait_exit(&mut self, deadline: Duration) -> Option<i32> {
        let until = Instant::now() + deadline;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            assert!(
                Instant::now() < until,
                "still running after {deadline:?}; output:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything printed so far, for failure messages.
    pub fn output(&self) -> String {
        self.lines()
            .into_iter()
            .map(|(_, l)| l)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Ctrl-C, as a user would; SIGKILL if it has not exited within 10 s. Its exit code.
    pub fn interrupt(&mut self) -> Option<i32> {
        let grace = Duration::from_secs(10);
        stop_child(&mut self.child, nix::sys::signal::Signal::SIGINT, grace)
            .and_then(|status| status.code())
    }
}

impl Drop for ToolProcess {
    fn drop(&mut self) {
        self.interrupt();
    }
}
