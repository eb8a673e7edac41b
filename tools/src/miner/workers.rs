//! The hashing threads. Each thread owns a disjoint slice of the work: thread `i` of `n`
//! takes the extra-nonces `i, i + n, i + 2n, ...`, and for each scans all 2^32 nonces, so no
//! two threads ever hash the same header and none waits for another. New work replaces the
//! old at once: the old work's stop flag makes every thread drop it within one chunk.
//!
//! The threads report hashes computed (per thread, for an honest hash rate) and solutions; they
//! never talk to a node.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chaincore::primitives::{BlockHeader, Midstate};
use tokio::sync::mpsc;

use super::kernel::{self, Kernel};
use super::work::Work;

/// A header (and coinbase) that meets the target.
#[derive(Clone, Debug)]
pub struct Solution {
    pub template_id: u64,
    pub header: BlockHeader,
    pub coinbase: Vec<u8>,
    pub extra_nonce: u64,
    pub thread: usize,
}

#[derive(Debug)]
struct Shared {
    current: Mutex<(u64, Option<Arc<Work>>)>,
    changed: Condvar,
    quit: AtomicBool,
    hashes: Vec<AtomicU64>,
    /// Hashes a second per thread, if limited.
    limit: Option<f64>,
}

/// The pool of hashing threads.
#[derive(Debug)]
pub struct Pool {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Starts `threads` threads hashing with `kernel`, at most `max_hashrate` hashes a
    /// second in all if given. Solutions arrive on the returned channel.
    pub fn start(
        threads: usize,
        kernel: Kernel,
        max_hashrate: Option<f64>,
    ) -> (Self, mpsc::UnboundedReceiver<Solution>) {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            current: Mutex::new((0, None)),
            changed: Condvar::new(),
            quit: AtomicBool::new(false),
            hashes: (0..threads).map(|_| AtomicU64::new(0)).collect(),
            limit: max_hashrate.map(|total| total / threads as f64),
        });
        let (solutions, receiver) = mpsc::unbounded_channel();
        let handles = (0..threads)
            .map(|index| {
                let worker = Worker {
                    index,
                    count: threads,
                    kernel,
                    shared: Arc::clone(&shared),
                    solutions: solutions.clone(),
                };
                std::thread::Builder::new()
                    .name(format!("miner-{index}"))
                    .spawn(move || worker.run())
                    .expect("spawn a miner thread")
            })
            .collect();
        (
            Self {
                shared,
                threads: handles,
            },
            receiver,
        )
    }

    /// Replaces the work (the old is stopped); `None` idles the threads.
    pub fn set_work(&self, work: Option<Arc<Work>>) {
        let mut current = self.shared.current.lock().expect("not poisoned");
        if let Some(old) = &current.1 {
            old.stop();
        }
        current.0 += 1;
        current.1 = work;
        self.shared.changed.notify_all();
    }

    /// Hashes computed so far, per thread.
    pub fn hashes(&self) -> Vec<u64> {
        self.shared
            .hashes
            .iter()
            .map(|h| h.load(Ordering::Relaxed))
            .collect()
    }

    pub fn threads(&self) -> usize {
        self.shared.hashes.len()
    }

    /// Stops every thread and waits for them.
    pub fn shutdown(self) {
        self.shared.quit.store(true, Ordering::Relaxed);
        self.set_work(None);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

struct Worker {
    index: usize,
    count: usize,
    kernel: Kernel,
    shared: Arc<Shared>,
    solutions: mpsc::UnboundedSender<Solution>,
}

impl Worker {
    fn run(self) {
        let mut seen = 0;
        while let Some((generation, work)) = self.next_work(seen) {
            seen = generation;
            if let Some(work) = work {
                self.mine(&work);
            }
        }
    }

    /// Waits for work newer than generation `seen`; `None` when the pool shuts down.
    fn next_work(&self, seen: u64) -> Option<(u64, Option<Arc<Work>>)> {
        let mut current = self.shared.current.lock().expect("not poisoned");
        while current.0 == seen && !self.shared.quit.load(Ordering::Relaxed) {
            current = self.shared.changed.wait(current).expect("not poisoned");
        }
        (!self.shared.quit.load(Ordering::Relaxed)).then(|| current.clone())
    }

    fn mine(&self, work: &Work) {
        let step = self.count as u64;
        let mut extra = self.index as u64;
        while !work.is_stopped() {
            let (header, coinbase) = work.with_extra_nonce(extra);
            let midstate = Midstate::new(&header.to_bytes());
            if let Some(nonce) = self.scan(&midstate, work) {
                work.stop();
                let _ = self.solutions.send(Solution {
                    template_id: work.template_id,
                    header: BlockHeader { nonce, ..header },
                    coinbase,
                    extra_nonce: extra,
                    thread: self.index,
                });
                return;
            }
            extra += step;
        }
    }

    /// Scans all nonces of `midstate`, within the hash-rate limit if there is one.
    fn scan(&self, midstate: &Midstate, work: &Work) -> Option<u32> {
        let counter = &self.shared.hashes[self.index];
        let Some(limit) = self.shared.limit else {
            return self.kernel.scan(
                midstate,
                &work.target,
                0..1 << 32,
                work.stop_flag(),
                counter,
            );
        };
        // Small slices, each followed by enough sleep to keep to the limit.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "clamped to 1..=CHUNK"
        )]
        let slice = (limit / 20.0).clamp(1.0, f64::from(kernel::CHUNK)) as u64;
        let started = Instant::now();
        let mut done = 0u64;
        while done < 1 << 32 && !work.is_stopped() {
            let end = (done + slice).min(1 << 32);
            if let Some(nonce) =
                self.kernel
                    .scan(midstate, &work.target, done..end, work.stop_flag(), counter)
            {
                return Some(nonce);
            }
            done = end;
            let due = Duration::from_secs_f64(done as f64 / limit);
            while let Some(wait) = due.checked_sub(started.elapsed()) {
                if work.is_stopped() {
                    return None;
                }
                std::thread::sleep(wait.min(Duration::from_millis(50)));
            }
        }
        None
    }
}
