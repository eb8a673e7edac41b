//! The ceiling the hashing benchmarks measure themselves against: this machine's raw SHA-256
//! compression rate on one thread, from `openssl speed`. Shared by `node/benches/hashing.rs`
//! and `tools/benches/miner.rs`.

use std::process::Command;

/// OpenSSL's SHA-256 throughput in 64-byte compressions per second, if `openssl` is installed.
pub fn openssl_compressions_per_second() -> Option<f64> {
    let out = Command::new("openssl")
        .args([
            "speed", "-seconds", "2", "-evp", "sha256", "-bytes", "16384",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("sha256"))?;
    let kilobytes: f64 = line
        .split_whitespace()
        .last()?
        .trim_end_matches('k')
        .parse()
        .ok()?;
    Some(kilobytes * 1000.0 / 64.0)
}
