//! The lab's network, as root: one network namespace per node, each joined by a veth pair
//! to one bridge that has no route out. On the bridge, nftables rules cut links (both ways
//! or one), drop a share of packets at random, and count each node's bytes; `tbf` limits
//! rates; inside each namespace a rule sends the node's outgoing connections to the other
//! nodes through the delay relay ([`super::relay`]) when the links have latency.
//!
//! ```text
//!   host: bridge ccIDbr 10.A.B.1/24 (the harness reaches every node through it)
//!     ├── ccIDv0 ══ ccIDp0 in netns ccIDn0: node 0 at 10.A.B.10 (+ its relay on :9100)
//!     ├── ccIDv1 ══ ccIDp1 in netns ccIDn1: node 1 at 10.A.B.11
//!     └── ...           nft table `bridge ccID`: meters, cuts, loss between host-side veths
//! ```
//!
//! Every name carries a random lab id, so labs running side by side never meet. Dropping a
//! [`Lab`] removes its nftables table, links and namespaces, also after a panic; processes
//! are stopped by their own guards, which must be dropped first. The lab never touches an
//! interface, namespace or table it did not create, and sends nothing beyond its bridge.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use super::scenario::Links;

/// The REST and peer-to-peer ports every node uses inside its own namespace.
pub const API_PORT: u16 = 5000;
pub const P2P_PORT: u16 = 8000;
/// The port of the delay relay inside each namespace.
pub const RELAY_PORT: u16 = 9100;
/// The socket mark of the relay's own connections, which the redirect lets pass.
pub const RELAY_MARK: u32 = 0x4c42;

/// The host's neighbour (ARP) table thresholds. The kernel keeps one table for every
/// namespace, sized by the initial namespace's `gc_thresh*`; its default ceiling of 1,024
/// entries overflows with 50 namespaces that each know 50 neighbours ("neighbor table
/// overflow!"), and nodes then silently fail to reach each other. A lab raises them for its
/// lifetime and puts back what it found.
const NEIGH_THRESH: [&str; 3] = [
    "/proc/sys/net/ipv4/neigh/default/gc_thresh1",
    "/proc/sys/net/ipv4/neigh/default/gc_thresh2",
    "/proc/sys/net/ipv4/neigh/default/gc_thresh3",
];

/// A running lab. See the module documentation.
#[derive(Debug)]
pub struct Lab {
    pub id: String,
    /// The thresholds found before the lab raised them, to restore.
    neigh_before: Option<[u64; 3]>,
    /// The first three octets of the lab's /24.
    subnet: String,
    size: usize,
    /// Directed pairs `(from, to)` whose packets are dropped.
    cuts: BTreeSet<(usize, usize)>,
}

/// Bytes a node sent to and received from the other nodes (not the harness), as the
/// bridge counted them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub sent: u64,
    pub received: u64,
}

/// Whether labs can run here: root, `ip` and `nft`. Without them a test skips loudly,
/// unless `CHAINCORE_REQUIRE_NETNS=1` (set in CI), which makes it fail.
pub fn available() -> bool {
    match missing() {
        None => true,
        Some(why) => {
            assert!(
                std::env::var("CHAINCORE_REQUIRE_NETNS").as_deref() != Ok("1"),
                "CHAINCORE_REQUIRE_NETNS=1 but network namespaces are unavailable: {why}"
            );
            #[allow(clippy::print_stderr, reason = "a skip must be loud")]
            {
                eprintln!(
                    "\n*** SKIPPED: the lab needs network namespaces ({why}); set CHAINCORE_REQUIRE_NETNS=1 to fail instead ***\n"
                );
            }
            false
        }
    }
}

/// Why labs cannot run here, if they cannot.
pub fn missing() -> Option<&'static str> {
    let root = nix::unistd::geteuid().is_root();
    let tools = ["ip", "nft", "tc"].iter().all(|tool| {
        Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    });
    match (root, tools) {
        (false, _) => Some("not root"),
        (true, false) => Some("`ip`, `tc` or `nft` is missing (iproute2, nftables)"),
        (true, true) => None,
    }
}

/// Runs a command of the lab's plumbing; panics with its stderr if it fails.
fn sh(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Like [`sh`], for cleanup: failures are ignored (the thing may be gone already).
fn sh_quiet(program: &str, args: &[&str]) {
    let _ = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Feeds an nftables script to `nft -f -`, inside namespace `ns` if given.
fn nft(ns: Option<&str>, script: &str) {
    use std::io::Write;
    let mut command = match ns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "nft"]);
            c
        }
        None => Command::new("nft"),
    };
    let mut child = command
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nft");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(script.as_bytes())
        .expect("write the nft script");
    let output = child.wait_with_output().expect("nft finishes");
    assert!(
        output.status.success(),
        "nft -f:\n{script}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Lab {
    /// Builds a lab for `size` nodes (at most 50) on perfect links.
    pub fn create(size: usize) -> Lab {
        assert!(
            (1..=super::scenario::MAX_NODES).contains(&size),
            "labs hold 1 to 50 nodes"
        );
        let id = format!("{:04x}", fastrand::u16(..));
        let subnet = format!("10.{}.{}", fastrand::u8(100..200), fastrand::u8(..));
        let mut lab = Lab {
            id,
            subnet,
            size,
            cuts: BTreeSet::new(),
            neigh_before: None,
        };
        lab.neigh_before = raise_neighbour_thresholds(size);
        // From here on, Drop cleans up whatever part was built.
        let bridge = lab.bridge();
        sh("ip", &["link", "add", &bridge, "type", "bridge"]);
        let gateway = format!("{}.1/24", lab.subnet);
        sh("ip", &["addr", "add", &gateway, "dev", &bridge]);
        sh("ip", &["link", "set", &bridge, "up"]);
        for i in 0..size {
            lab.add_node_link(i);
        }
        nft(None, &lab.bridge_table());
        lab
    }

    /// The bridge's table: per-node meters first, then the cuts, then random loss.
    fn bridge_table(&self) -> String {
        let mut meters = String::new();
        for i in 0..self.size {
            let veth = self.host_veth(i);
            meters.push_str(&format!(
                "    iifname \"{veth}\" counter comment \"sent {i}\"\n    oifname \"{veth}\" counter comment \"received {i}\"\n"
            ));
        }
        format!(
            "table bridge {table} {{\n  chain traffic {{ type filter hook forward priority -10; policy accept;\n{meters}  }}\n  chain cut {{ type filter hook forward priority 0; policy accept; }}\n  chain loss {{ type filter hook forward priority 10; policy accept; }}\n}}\n",
            table = self.table()
        )
    }

    fn add_node_link(&self, i: usize) {
        let (ns, host, inner) = (self.namespace(i), self.host_veth(i), self.inner_veth(i));
        sh("ip", &["netns", "add", &ns]);
        sh(
            "ip",
            &["link", "add", &host, "type", "veth", "peer", "name", &inner],
        );
        sh("ip", &["link", "set", &inner, "netns", &ns]);
        sh(
            "ip",
            &["link", "set", &host, "master", &self.bridge(), "up"],
        );
        let address = format!("{}/24", self.ip(i));
        self.exec(i, &["ip", "addr", "add", &address, "dev", &inner]);
        self.exec(i, &["ip", "link", "set", &inner, "up"]);
        self.exec(i, &["ip", "link", "set", "lo", "up"]);
    }

    /// Runs a plumbing command inside node `i`'s namespace.
    fn exec(&self, i: usize, args: &[&str]) {
        let ns = self.namespace(i);
        let mut all = vec!["netns", "exec", &ns];
        all.extend_from_slice(args);
        sh("ip", &all);
    }

    /// Gives every link `links`' loss and rate, and, when it has a delay, sends each node's
    /// connections to the other nodes through the relay in its namespace (which the caller
    /// starts on [`RELAY_PORT`]).
    pub fn shape(&self, links: &Links) {
        if links.loss_percent > 0.0 {
            // numgen draws 0..10000: loss in hundredths of a percent.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "0..100 %"
            )]
            let below = (links.loss_percent * 100.0).round() as u32;
            nft(
                None,
                &format!(
                    "add rule bridge {} loss numgen random mod 10000 < {below} drop\n",
                    self.table()
                ),
            );
        }
        for i in 0..self.size {
            if links.rate_mbit > 0.0 {
                let rate = format!("{}kbit", (links.rate_mbit * 1000.0).round());
                let tbf = [
                    "root", "tbf", "rate", &rate, "burst", "64kb", "latency", "500ms",
                ];
                let host = self.host_veth(i);
                sh(
                    "tc",
                    &[&["qdisc", "add", "dev", host.as_str()][..], &tbf].concat(),
                );
                let inner = self.inner_veth(i);
                self.exec(
                    i,
                    &[&["tc", "qdisc", "add", "dev", inner.as_str()][..], &tbf].concat(),
                );
            }
            if links.delay_ms > 0.0 {
                self.redirect_to_relay(i);
            }
        }
    }

    /// Inside node `i`'s namespace: its new TCP connections to another node's REST or
    /// peer-to-peer port go to the local relay, except the relay's own (marked) ones.
    fn redirect_to_relay(&self, i: usize) {
        let script = format!(
            "table ip cclab {{\n  chain out {{ type nat hook output priority -100; policy accept;\n    meta mark {RELAY_MARK:#x} return\n    ip daddr {subnet}.0/24 ip daddr != {own} tcp dport {{ {API_PORT}, {P2P_PORT} }} redirect to :{RELAY_PORT}\n  }}\n}}\n",
            subnet = self.subnet,
            own = self.ip(i),
        );
        nft(Some(&self.namespace(i)), &script);
    }

    pub fn size(&self) -> usize {
        self.size
    }

    fn bridge(&self) -> String {
        format!("cc{}br", self.id)
    }

    fn table(&self) -> String {
        format!("cc{}", self.id)
    }

    pub fn namespace(&self, i: usize) -> String {
        format!("cc{}n{i}", self.id)
    }

    fn host_veth(&self, i: usize) -> String {
        format!("cc{}v{i}", self.id)
    }

    fn inner_veth(&self, i: usize) -> String {
        format!("cc{}p{i}", self.id)
    }

    /// Node `i`'s address on the bridge.
    pub fn ip(&self, i: usize) -> String {
        format!("{}.{}", self.subnet, 10 + i)
    }

    /// Which node has address `ip`, if one does.
    pub fn node_at(&self, ip: &str) -> Option<usize> {
        let last = ip.strip_prefix(&format!("{}.", self.subnet))?;
        let i = last.parse::<usize>().ok()?.checked_sub(10)?;
        (i < self.size).then_some(i)
    }

    /// Node `i`'s REST URL, reachable from the host.
    pub fn rest_url(&self, i: usize) -> String {
        format!("http://{}:{API_PORT}", self.ip(i))
    }

    /// The command prefix that runs a program inside node `i`'s namespace.
    pub fn prefix(&self, i: usize) -> Vec<String> {
        ["ip", "netns", "exec"]
            .iter()
            .map(|s| (*s).to_owned())
            .chain([self.namespace(i)])
            .collect()
    }

    /// Cuts every link between a node of `side_a` and a node of `side_b` (both directions).
    pub fn cut(&mut self, side_a: &[usize], side_b: &[usize]) {
        self.cut_one_way(side_a, side_b);
        self.cut_one_way(side_b, side_a);
    }

    /// Drops what a node of `from` sends to a node of `to`; the other way stays open.
    pub fn cut_one_way(&mut self, from: &[usize], to: &[usize]) {
        for &a in from {
            for &b in to {
                self.cuts.insert((a, b));
            }
        }
        self.apply_cuts();
    }

    /// Restores the links between `side_a` and `side_b` (both directions).
    pub fn restore(&mut self, side_a: &[usize], side_b: &[usize]) {
        self.cuts.retain(|(a, b)| {
            !(side_a.contains(a) && side_b.contains(b) || side_b.contains(a) && side_a.contains(b))
        });
        self.apply_cuts();
    }

    /// Heals every cut.
    pub fn heal(&mut self) {
        self.cuts.clear();
        self.apply_cuts();
    }

    /// Rewrites the cut chain atomically from `self.cuts`.
    fn apply_cuts(&self) {
        let mut script = format!("flush chain bridge {} cut\n", self.table());
        for &(from, to) in &self.cuts {
            script.push_str(&format!(
                "add rule bridge {} cut iifname \"{}\" oifname \"{}\" drop\n",
                self.table(),
                self.host_veth(from),
                self.host_veth(to)
            ));
        }
        nft(None, &script);
    }

    /// Every node's bytes to and from the other nodes so far.
    pub fn traffic(&self) -> Vec<Traffic> {
        let output = Command::new("nft")
            .args(["list", "chain", "bridge", &self.table(), "traffic"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let mut traffic = vec![Traffic::default(); self.size];
        for line in output.lines() {
            let (Some(bytes), Some(comment)) =
                (field_after(line, "bytes "), line.split('"').nth(3))
            else {
                continue;
            };
            let mut words = comment.split(' ');
            let (Some(kind), Some(Ok(i))) = (words.next(), words.next().map(str::parse::<usize>))
            else {
                continue;
            };
            if let Some(t) = traffic.get_mut(i) {
                match kind {
                    "sent" => t.sent = bytes,
                    "received" => t.received = bytes,
                    _ => {}
                }
            }
        }
        traffic
    }

    /// What is left of lab `id` on this machine: its namespaces, links and nftables table.
    pub fn leftovers(id: &str) -> Vec<String> {
        let text = |program: &str, args: &[&str]| {
            Command::new(program)
                .args(args)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        let tag = format!("cc{id}");
        let mut left: Vec<String> = text("ip", &["netns", "list"])
            .lines()
            .chain(text("ip", &["-o", "link", "show"]).lines())
            .chain(text("nft", &["list", "tables"]).lines())
            .filter(|line| line.contains(&tag))
            .map(str::to_owned)
            .collect();
        left.sort();
        left
    }
}

/// Raises the neighbour table thresholds to what `size` namespaces need (each holds an entry
/// per other node and the bridge, with room for twice that), if they are lower; the old
/// values when it changed them. Labs side by side each raise from what they see, and the
/// first to stop may restore too early; one lab at a time is the supported case.
fn raise_neighbour_thresholds(size: usize) -> Option<[u64; 3]> {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()?
            .trim()
            .parse::<u64>()
            .ok()
    };
    let before = [
        read(NEIGH_THRESH[0])?,
        read(NEIGH_THRESH[1])?,
        read(NEIGH_THRESH[2])?,
    ];
    let need = (size as u64 + 1) * (size as u64 + 1) * 2;
    if before[2] >= need {
        return None;
    }
    let wanted = [need / 4, need / 2, need];
    for (path, value) in NEIGH_THRESH.iter().zip(wanted) {
        let _ = std::fs::write(path, value.to_string());
    }
    Some(before)
}

/// The number after `key` in an nft rule listing (`counter packets 3 bytes 180`).
fn field_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

impl Drop for Lab {
    fn drop(&mut self) {
        sh_quiet("nft", &["delete", "table", "bridge", &self.table()]);
        for i in 0..self.size {
            sh_quiet("ip", &["link", "del", &self.host_veth(i)]);
            sh_quiet("ip", &["netns", "del", &self.namespace(i)]);
        }
        sh_quiet("ip", &["link", "del", &self.bridge()]);
        if let Some(before) = self.neigh_before {
            // Highest first on the way down, so gc_thresh1 <= 2 <= 3 holds at each step.
            for (path, value) in NEIGH_THRESH.iter().zip(before).rev() {
                let _ = std::fs::write(path, value.to_string());
            }
        }
    }
}
