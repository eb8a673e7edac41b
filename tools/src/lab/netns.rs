//! A network lab for partition tests, as root: one network namespace per node, each joined
//! by a veth pair to one bridge that has no route out, and links cut and healed with
//! nftables rules on the bridge (or a node's whole link set down).
//!
//! ```text
//!   host: bridge ccIDbr 10.A.B.1/24 (the harness reaches every node through it)
//!     ├── ccIDv0 ══ ccIDp0 in netns ccIDn0: node 0 at 10.A.B.10
//!     ├── ccIDv1 ══ ccIDp1 in netns ccIDn1: node 1 at 10.A.B.11
//!     └── ...           nft table `bridge ccID`: drop between the host-side veths of a cut
//! ```
//!
//! Every name carries a random lab id, so labs of tests running side by side never meet.
//! Dropping a [`Lab`] removes its nftables table, links and namespaces, also when the test
//! panicked; processes are stopped by their own guards, which must be dropped first (declare
//! the lab before the nodes). The lab never touches an interface, namespace or table it did
//! not create, and sends nothing beyond its bridge.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use crate::node::Placement;

/// The REST and peer-to-peer ports every node uses inside its own namespace.
pub const API_PORT: u16 = 5000;
pub const P2P_PORT: u16 = 8000;

/// A running lab. See the module documentation.
#[derive(Debug)]
pub struct Lab {
    pub id: String,
    /// The first three octets of the lab's /24.
    subnet: String,
    size: usize,
    /// Pairs of nodes (lower index first) whose link is cut.
    cuts: BTreeSet<(usize, usize)>,
}

/// Whether labs can run here: root, `ip` and `nft`. Without them the test skips loudly,
/// unless `CHAINCORE_REQUIRE_NETNS=1` (set in CI), which makes it fail.
pub fn available() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let tools = ["ip", "nft"].iter().all(|tool| {
        Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    });
    if root && tools {
        return true;
    }
    let why = if root {
        "`ip` or `nft` is missing (iproute2, nftables)"
    } else {
        "not root"
    };
    assert!(
        std::env::var("CHAINCORE_REQUIRE_NETNS").as_deref() != Ok("1"),
        "CHAINCORE_REQUIRE_NETNS=1 but network namespaces are unavailable: {why}"
    );
    eprintln!(
        "\n*** SKIPPED: partition tests need network namespaces ({why}); set CHAINCORE_REQUIRE_NETNS=1 to fail instead ***\n"
    );
    false
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

/// Feeds an nftables script to `nft -f -`.
fn nft(script: &str) {
    use std::io::Write;
    let mut child = Command::new("nft")
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
    /// Builds a lab for `size` nodes (at most 50).
    pub fn create(size: usize) -> Lab {
        assert!((1..=50).contains(&size), "labs hold 1 to 50 nodes");
        let id = format!("{:04x}", fastrand::u16(..));
        let subnet = format!("10.{}.{}", fastrand::u8(100..200), fastrand::u8(..));
        let lab = Lab {
            id,
            subnet,
            size,
            cuts: BTreeSet::new(),
        };
        // From here on, Drop cleans up whatever part was built.
        let bridge = lab.bridge();
        sh("ip", &["link", "add", &bridge, "type", "bridge"]);
        sh(
            "ip",
            &[
                "addr",
                "add",
                &format!("{}.1/24", lab.subnet),
                "dev",
                &bridge,
            ],
        );
        sh("ip", &["link", "set", &bridge, "up"]);
        for i in 0..size {
            lab.add_node_link(i);
        }
        nft(&format!(
            "table bridge {table} {{\n  chain cut {{ type filter hook forward priority 0; policy accept; }}\n}}\n",
            table = lab.table()
        ));
        lab
    }

    fn add_node_link(&self, i: usize) {
        let (ns, host, inner) = (
            self.namespace(i),
            self.host_veth(i),
            format!("cc{}p{i}", self.id),
        );
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
        let exec = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &ns];
            all.extend_from_slice(args);
            sh("ip", &all);
        };
        exec(&[
            "ip",
            "addr",
            "add",
            &format!("{}/24", self.ip(i)),
            "dev",
            &inner,
        ]);
        exec(&["ip", "link", "set", &inner, "up"]);
        exec(&["ip", "link", "set", "lo", "up"]);
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

    /// Node `i`'s address on the bridge.
    pub fn ip(&self, i: usize) -> String {
        format!("{}.{}", self.subnet, 10 + i)
    }

    /// Node `i`'s REST URL, reachable from the host.
    pub fn rest_url(&self, i: usize) -> String {
        format!("http://{}:{API_PORT}", self.ip(i))
    }

    /// How to run node `i` inside its namespace.
    pub fn placement(&self, i: usize) -> Placement {
        Placement {
            prefix: vec![
                "ip".into(),
                "netns".into(),
                "exec".into(),
                self.namespace(i),
            ],
            bind: Some(self.ip(i)),
            api_port: API_PORT,
            p2p_port: P2P_PORT,
        }
    }

    /// Cuts every link between a node of `side_a` and a node of `side_b` (both directions).
    pub fn cut(&mut self, side_a: &[usize], side_b: &[usize]) {
        for &a in side_a {
            for &b in side_b {
                self.cuts.insert((a.min(b), a.max(b)));
            }
        }
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
        for &(a, b) in &self.cuts {
            for (from, to) in [(a, b), (b, a)] {
                script.push_str(&format!(
                    "add rule bridge {} cut iifname \"{}\" oifname \"{}\" drop\n",
                    self.table(),
                    self.host_veth(from),
                    self.host_veth(to)
                ));
            }
        }
        nft(&script);
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

impl Drop for Lab {
    fn drop(&mut self) {
        sh_quiet("nft", &["delete", "table", "bridge", &self.table()]);
        for i in 0..self.size {
            sh_quiet("ip", &["link", "del", &self.host_veth(i)]);
            sh_quiet("ip", &["netns", "del", &self.namespace(i)]);
        }
        sh_quiet("ip", &["link", "del", &self.bridge()]);
    }
}
