//! What the miner tells its user: events as they happen, a status line with honest hash
//! rates (hashes actually computed ÷ time, per thread and in total), and a summary.

use std::fmt;
use std::time::Duration;

/// Blocks found and what became of them, and templates dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub found: u64,
    pub accepted: u64,
    /// Found, but the chain had moved on (not on the main chain, or the template expired).
    pub stale: u64,
    /// Refused by the node as invalid.
    pub rejected: u64,
    /// Templates abandoned because the tip moved before a block was found.
    pub dropped: u64,
}

/// Hashes and outcomes over a span of time.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub tally: Tally,
    pub hashes_per_thread: Vec<u64>,
    pub elapsed: Duration,
}

impl Report {
    pub fn total_hashes(&self) -> u64 {
        self.hashes_per_thread.iter().sum()
    }

    /// Hashes a second, in total.
    pub fn rate(&self) -> f64 {
        per_second(self.total_hashes(), self.elapsed)
    }

    pub fn thread_rates(&self) -> Vec<f64> {
        self.hashes_per_thread
            .iter()
            .map(|&h| per_second(h, self.elapsed))
            .collect()
    }

    /// One line: rate, per-thread rates, and the tally.
    pub fn status_line(&self) -> String {
        let threads: Vec<String> = self
            .thread_rates()
            .into_iter()
            .map(|r| HashRate(r).to_string())
            .collect();
        let t = self.tally;
        format!(
            "{} [{}] found {} accepted {} stale {} rejected {} dropped {}",
            HashRate(self.rate()),
            threads.join(" "),
            t.found,
            t.accepted,
            t.stale,
            t.rejected,
            t.dropped
        )
    }

    /// The summary printed when the miner stops.
    pub fn summary(&self) -> String {
        let t = self.tally;
        let mut lines = vec![format!(
            "mined for {:.1} s: {} hashes, {}",
            self.elapsed.as_secs_f64(),
            self.total_hashes(),
            HashRate(self.rate())
        )];
        for (index, rate) in self.thread_rates().into_iter().enumerate() {
            lines.push(format!("  thread {index}: {}", HashRate(rate)));
        }
        lines.push(format!(
            "blocks: {} found, {} accepted, {} stale, {} rejected; {} templates dropped when the tip moved",
            t.found, t.accepted, t.stale, t.rejected, t.dropped
        ));
        lines.join("\n")
    }
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// A hash rate with a unit: `12.35 MH/s`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HashRate(pub f64);

impl fmt::Display for HashRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = [("GH/s", 1e9), ("MH/s", 1e6), ("kH/s", 1e3)];
        match units.iter().find(|(_, scale)| self.0 >= *scale) {
            Some((unit, scale)) => write!(f, "{:.2} {unit}", self.0 / scale),
            None => write!(f, "{:.0} H/s", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_hashes_over_time_with_units() {
        let report = Report {
            tally: Tally {
                found: 2,
                accepted: 1,
                stale: 1,
                ..Tally::default()
            },
            hashes_per_thread: vec![3_000_000, 1_000_000],
            elapsed: Duration::from_secs(2),
        };
        assert_eq!(report.rate(), 2_000_000.0);
        assert_eq!(report.thread_rates(), vec![1_500_000.0, 500_000.0]);
        assert_eq!(
            report.status_line(),
            "2.00 MH/s [1.50 MH/s 500.00 kH/s] found 2 accepted 1 stale 1 rejected 0 dropped 0"
        );
        assert!(report.summary().contains("thread 1: 500.00 kH/s"));
        assert_eq!(HashRate(12.0).to_string(), "12 H/s");
        assert_eq!(
            Report {
                hashes_per_thread: vec![5],
                elapsed: Duration::ZERO,
                ..report
            }
            .rate(),
            0.0
        );
    }
}
