//! The explorer page in a real headless Chromium, driven over the Chrome DevTools Protocol:
//! it loads, shows what `/status` says, and follows a newly mined block live (from the SSE
//! stream, without a reload).
//!
//! Chromium is Debian's `chromium` (or `CHAINCORE_CHROMIUM`). When it is missing the test
//! skips with a loud message, unless `CHAINCORE_REQUIRE_BROWSER=1`, which makes it fail (as
//! `CHAINCORE_REQUIRE_POSTGRES` does for PostgreSQL). The browser runs in its own process
//! group and is stopped, by the pid this test started, whatever happens.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chaincore::testkit::key;
use chaincore_tests::client::Client;
use chaincore_tests::miner::{mine, mine_many};
use chaincore_tests::node::{NodeOptions, NodeProcess, signal};
use futures::{SinkExt, StreamExt};
use nix::sys::signal::Signal;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// How long Chromium may take to open its DevTools port (a busy 2-core machine).
const BROWSER_START: Duration = Duration::from_secs(60);
/// How long one DevTools call may take.
const CDP_CALL: Duration = Duration::from_secs(30);
/// How long the page may take to show the node's state after it is opened.
const PAGE_LOAD: Duration = Duration::from_secs(30);
/// How long the page may take to show a new block (the brief's ~10 s).
const LIVE_UPDATE: Duration = Duration::from_secs(10);
/// How long Chromium may take to exit after SIGTERM before it is killed.
const BROWSER_STOP: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------
// Finding and running Chromium
// ---------------------------------------------------------------------------------------

/// `CHAINCORE_CHROMIUM` (when set, it alone decides), `/usr/bin/chromium`, or a `chromium`
/// on the PATH.
fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHAINCORE_CHROMIUM") {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let fixed = Path::new("/usr/bin/chromium");
    if fixed.is_file() {
        return Some(fixed.to_owned());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// The browser, or `None` (after a loud message) when it is absent and not required.
fn chromium_or_skip() -> Option<PathBuf> {
    let required = std::env::var("CHAINCORE_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let found = find_chromium();
    if found.is_none() {
        assert!(
            !required,
            "CHAINCORE_REQUIRE_BROWSER=1 but no Chromium was found (install it: apt-get install -y chromium)"
        );
        eprintln!(
            "\n*** SKIPPED: no Chromium (apt-get install -y chromium, or set CHAINCORE_CHROMIUM) ***\n"
        );
    }
    found
}

/// A running headless Chromium; stopped (SIGTERM, then SIGKILL to it and its process group)
/// when dropped, so no browser outlives a failing test.
#[derive(Debug)]
struct Browser {
    child: Child,
    /// The DevTools HTTP endpoint, `http://127.0.0.1:PORT`.
    devtools: String,
    /// Chromium's stderr so far, for failure messages.
    stderr: Arc<Mutex<Vec<String>>>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start(binary: &Path) -> Browser {
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--no-proxy-server",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(["--remote-debugging-port=0", "about:blank"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own group, so that the renderers it forks can be stopped with it.
            .process_group(0)
            .spawn()
            .expect("start chromium");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().expect("piped");
        let lines = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
                lines.lock().expect("not poisoned").push(line);
            }
        });
        let mut browser = Browser {
            child,
            devtools: String::new(),
            stderr,
            _profile: profile,
        };
        match rx.recv_timeout(BROWSER_START) {
            // ws://127.0.0.1:PORT/devtools/browser/ID
            Ok(ws) => {
                let host = ws
                    .trim_start_matches("ws://")
                    .split('/')
                    .next()
                    .expect("host:port");
                browser.devtools = format!("http://{host}");
            }
            Err(_) => panic!(
                "Chromium printed no DevTools URL in {BROWSER_START:?}; its stderr:\n{}",
                browser.stderr_tail()
            ),
        }
        browser
    }

    fn stderr_tail(&self) -> String {
        let lines = self.stderr.lock().expect("not poisoned");
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// The websocket URL of the browser's first page target.
    async fn page_target(&self) -> String {
        let http = reqwest::Client::new();
        let until = Instant::now() + CDP_CALL;
        loop {
            let list: Option<Vec<Value>> = match http
                .get(format!("{}/json/list", self.devtools))
                .send()
                .await
            {
                Ok(response) => response.json().await.ok(),
                Err(_) => None,
            };
            let page = list.into_iter().flatten().find(|t| t["type"] == "page");
            if let Some(url) = page
                .as_ref()
                .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            {
                return url.to_owned();
            }
            assert!(
                Instant::now() < until,
                "no page target in {CDP_CALL:?}; stderr:\n{}",
                self.stderr_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let pid = self.child.id();
        signal(pid, Signal::SIGTERM);
        let until = Instant::now() + BROWSER_STOP;
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Helpers left in the group this test created (its id is the browser's pid).
        if let Ok(group) = i32::try_from(pid) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(group), Signal::SIGKILL);
        }
    }
}

// ---------------------------------------------------------------------------------------
// A minimal DevTools client
// ---------------------------------------------------------------------------------------

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One page's DevTools session: commands with ids, answers matched by id, and the page's
/// uncaught exceptions and console errors kept for failure messages.
struct Page {
    socket: Socket,
    next_id: u64,
    problems: Vec<String>,
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page")
            .field("next_id", &self.next_id)
            .field("problems", &self.problems)
            .finish_non_exhaustive()
    }
}

impl Page {
    async fn connect(url: &str) -> Page {
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect to the page's DevTools socket");
        let mut page = Page {
            socket,
            next_id: 0,
            problems: Vec::new(),
        };
        page.call("Runtime.enable", json!({})).await;
        page.call("Page.enable", json!({})).await;
        page
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let command = json!({"id": id, "method": method, "params": params}).to_string();
        self.socket
            .send(Message::text(command))
            .await
            .expect("send a DevTools command");
        let until = Instant::now() + CDP_CALL;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let message = tokio::time::timeout(left, self.socket.next()).await;
            let message = match message {
                Ok(Some(Ok(message))) => message,
                Ok(other) => panic!("the DevTools socket closed during {method}: {other:?}"),
                Err(_) => panic!("{method} got no answer in {CDP_CALL:?}"),
            };
            let Message::Text(text) = message else {
                continue;
            };
            let value: Value = serde_json::from_str(text.as_str()).expect("DevTools speaks JSON");
            if value["id"] == id {
                assert!(
                    value.get("error").is_none(),
                    "{method} failed: {}",
                    value["error"]
                );
                return value["result"].clone();
            }
            self.note_event(&value);
        }
    }

    fn note_event(&mut self, event: &Value) {
        match event["method"].as_str() {
            Some("Runtime.exceptionThrown") => {
                let details = &event["params"]["exceptionDetails"];
                let text = details["exception"]["description"]
                    .as_str()
                    .or(details["text"].as_str())
                    .unwrap_or("?");
                self.problems.push(format!("uncaught: {text}"));
            }
            Some("Runtime.consoleAPICalled") if event["params"]["type"] == "error" => {
                self.problems
                    .push(format!("console.error: {}", event["params"]["args"]));
            }
            _ => {}
        }
    }

    /// Evaluates `expression` in the page and returns its value.
    async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
            )
            .await;
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression} threw: {}",
            result["exceptionDetails"]
        );
        result["result"]["value"].clone()
    }

    async fn state(&mut self) -> Shown {
        let value = self.eval(SHOWN).await;
        serde_json::from_value(value).expect("the page state")
    }

    /// Reads the page until `condition` holds; panics with the last state after `deadline`.
    async fn wait_for(
        &mut self,
        what: &str,
        deadline: Duration,
        condition: impl Fn(&Shown) -> bool,
    ) -> Shown {
        let until = Instant::now() + deadline;
        loop {
            let shown = self.state().await;
            if condition(&shown) {
                return shown;
            }
            assert!(
                Instant::now() < until,
                "timed out after {deadline:?} waiting for the page to show {what}; it shows {shown:#?}; page problems: {:?}",
                self.problems
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// What the page shows, by the DOM contract in node/src/api/explorer/README.md.
#[derive(Debug, Deserialize)]
struct Shown {
    url: String,
    height: Option<String>,
    tip: Option<String>,
    stream: Option<String>,
    /// `#recent-blocks` rows, newest first: (data-hash, data-height).
    recent: Vec<(Option<String>, Option<String>)>,
    /// `#event-log` entries' `data-type`, newest first.
    events: Vec<Option<String>>,
    /// Set by the test before it mines: gone if the page reloaded.
    marker: Option<String>,
    /// The `data-control` of the block-control buttons beside the chain tips.
    controls: Vec<String>,
}

const SHOWN: &str = r"(() => {
  const text = (id) => { const e = document.getElementById(id); return e ? e.textContent.trim() : null; };
  const rows = (sel) => Array.from(document.querySelectorAll(sel));
  return {
    url: location.href,
    height: text('height'),
    tip: text('tip-hash'),
    stream: text('stream-state'),
    recent: rows('#recent-blocks > tr').map((r) => [r.getAttribute('data-hash'), r.getAttribute('data-height')]),
    events: rows('#event-log > li').map((li) => li.getAttribute('data-type')),
    marker: window.chaincoreTestMarker ?? null,
    controls: rows('#chain-tips button[data-control]').map((b) => b.getAttribute('data-control')),
  };
})()";

impl Shown {
    fn shows_tip(&self, height: u64, hash: &str) -> bool {
        let height = height.to_string();
        self.height.as_deref() == Some(height.as_str())
            && self.tip.as_deref() == Some(hash)
            && self.recent.first().is_some_and(|(h, n)| {
                h.as_deref() == Some(hash) && n.as_deref() == Some(height.as_str())
            })
    }
}

// ---------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_explorer_shows_the_tip_and_follows_a_new_block_live() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let node = NodeProcess::start(NodeOptions::default())
        .await
        .expect("a SQLite node always starts");
    let client = Client::new(&node.url);
    let miner = key(5).address();
    mine_many(&client, &miner, 3).await;
    let status = client.status().await;
    let height = status["height"].as_u64().expect("a height");
    let tip = status["best_block_hash"]
        .as_str()
        .expect("a hash")
        .to_owned();
    assert_eq!(height, 3);

    let browser = Browser::start(&chromium);
    let mut page = Page::connect(&browser.page_target().await).await;
    let home = format!("{}/", node.url);
    let navigated = page.call("Page.navigate", json!({"url": home})).await;
    assert!(
        navigated.get("errorText").is_none(),
        "the page did not load: {navigated}"
    );

    let shown = page
        .wait_for(
            "/status's height and tip, and a live stream",
            PAGE_LOAD,
            |s| s.shows_tip(height, &tip) && s.stream.as_deref() == Some("live"),
        )
        .await;
    assert_eq!(shown.url, home);
    let recent: Vec<_> = shown.recent.iter().filter_map(|(_, n)| n.clone()).collect();
    assert_eq!(
        recent,
        ["3", "2", "1", "0"],
        "the recent blocks, newest first: {shown:#?}"
    );

    // A reload would drop this; the live update must not need one.
    page.eval("window.chaincoreTestMarker = 'no reload'").await;
    let mined = mine(&client, &miner).await;
    let new_hash = mined["hash"].as_str().expect("a hash").to_owned();
    assert_eq!(mined["height"], height + 1);

    let shown = page
        .wait_for("the new block", LIVE_UPDATE, |s| {
            s.shows_tip(height + 1, &new_hash)
                && s.events
                    .iter()
                    .any(|e| e.as_deref() == Some("block_connected"))
        })
        .await;
    assert_eq!(
        shown.marker.as_deref(),
        Some("no reload"),
        "the page reloaded: {shown:#?}"
    );
    assert_eq!(
        shown.events.first().and_then(Option::as_deref),
        Some("block_connected"),
        "the newest event: {shown:#?}"
    );
    assert_eq!(shown.stream.as_deref(), Some("live"));

    // The fork view's block controls: invalidate the tip, then reconsider it.
    let click = |control: &str| {
        format!("document.querySelector('#chain-tips [data-control={control}]').click()")
    };
    page.wait_for("an invalidate button on the tip", LIVE_UPDATE, |s| {
        s.controls.iter().any(|c| c == "invalidateblock")
    })
    .await;
    page.eval(&click("invalidateblock")).await;
    page.wait_for("the tip invalidated", LIVE_UPDATE, |s| {
        s.shows_tip(height, &tip) && s.controls.iter().any(|c| c == "reconsiderblock")
    })
    .await;
    assert_eq!(client.tip_hash().await, tip, "the node moved back too");
    page.eval(&click("reconsiderblock")).await;
    page.wait_for("the tip reconsidered", LIVE_UPDATE, |s| {
        s.shows_tip(height + 1, &new_hash)
    })
    .await;
    assert!(
        page.problems.is_empty(),
        "the page reported problems: {:?}",
        page.problems
    );
    drop(browser);
    drop(node);
}
