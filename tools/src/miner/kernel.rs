//! Nonce-scanning kernels: given a header's [`Midstate`] and a target, find a nonce whose
//! sha256d meets the target. The portable kernel uses the `sha2` crate; faster ones are
//! chosen at run time where the CPU has them ([`Kernel::detect`]).
//!
//! Every kernel must give the same answer as [`Midstate::hash_with_nonce`] and
//! [`Target::is_met_by`] would: the lowest meeting nonce of each chunk, and an exact count
//! of the hashes computed. A kernel must never run on a CPU that lacks its instructions.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chaincore::primitives::{BlockHash, Midstate, Target};

#[cfg(target_arch = "x86_64")]
mod sha_ni;

/// Nonces scanned between looks at the stop flag and updates of the hash counter.
pub const CHUNK: u32 = 1 << 14;

/// A way to hash headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// `sha2`'s compression function, one nonce at a time.
    Portable,
    /// x86's SHA extensions, several nonces at a time, with what does not depend on the
    /// nonce computed once per template. Only where the CPU has SHA-NI.
    #[cfg(target_arch = "x86_64")]
    ShaNi,
}

impl Kernel {
    /// The fastest kernel this CPU supports.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if sha_ni::is_supported() {
            return Kernel::ShaNi;
        }
        Kernel::Portable
    }

    /// Every kernel this CPU can run (for tests and benchmarks).
    pub fn available() -> Vec<Self> {
        let mut kernels = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        if sha_ni::is_supported() {
            kernels.push(Kernel::ShaNi);
        }
        kernels
    }

    pub fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Kernel::ShaNi => "sha-ni",
        }
    }

    /// Scans `nonces` (a part of `0..2^32`) for one whose header hash meets `target`,
    /// adding the hashes computed to `hashed` as it goes; gives up (returning `None`) once
    /// `stop` is set. Finds the lowest such nonce of each chunk it scans.
    ///
    /// # Panics
    ///
    /// If the kernel is not one of [`Kernel::available`] (e.g. `ShaNi` on a CPU without it).
    pub fn scan(
        self,
        midstate: &Midstate,
        target: &Target,
        nonces: Range<u64>,
        stop: &AtomicBool,
        hashed: &AtomicU64,
    ) -> Option<u32> {
        match self {
            Kernel::Portable => scan_chunks(nonces, stop, hashed, |chunk| {
                chunk.map(nonce_of).find(|&nonce| {
                    target.is_met_by(&BlockHash::from_byte_array(midstate.hash_with_nonce(nonce)))
                })
            }),
            #[cfg(target_arch = "x86_64")]
            Kernel::ShaNi => {
                let scanner = sha_ni::Scanner::new(midstate, target)
                    .expect("the SHA-NI kernel needs a CPU with SHA-NI: use Kernel::detect");
                scan_chunks(nonces, stop, hashed, |chunk| {
                    let len = u32::try_from(chunk.end - chunk.start).expect("chunks are short");
                    scanner.scan(nonce_of(chunk.start), len)
                })
            }
        }
    }

    /// The hashes this kernel computes for `first` and the nonces after it that it hashes
    /// together with `first` (its lanes), for comparison with the reference.
    #[cfg(test)]
    fn hashes(self, midstate: &Midstate, target: &Target, first: u32) -> Vec<[u8; 32]> {
        match self {
            Kernel::Portable => vec![midstate.hash_with_nonce(first)],
            #[cfg(target_arch = "x86_64")]
            Kernel::ShaNi => sha_ni::Scanner::new(midstate, target)
                .expect("SHA-NI is available")
                .hashes(first)
                .to_vec(),
        }
    }
}

/// Runs `scan_chunk` over `nonces` (clipped to `0..2^32`) a [`CHUNK`] at a time, looking at
/// `stop` before each chunk and counting into `hashed` the nonces up to and including the
/// one found (a kernel hashing several at once may compute a few more; they are not counted).
fn scan_chunks(
    nonces: Range<u64>,
    stop: &AtomicBool,
    hashed: &AtomicU64,
    mut scan_chunk: impl FnMut(Range<u64>) -> Option<u32>,
) -> Option<u32> {
    let end = nonces.end.min(1 << 32);
    let mut start = nonces.start;
    while start < end {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        let chunk_end = (start + u64::from(CHUNK)).min(end);
        let found = scan_chunk(start..chunk_end);
        let scanned_to = found.map_or(chunk_end, |nonce| u64::from(nonce) + 1);
        hashed.fetch_add(scanned_to - start, Ordering::Relaxed);
        if found.is_some() {
            return found;
        }
        start = chunk_end;
    }
    None
}

/// A nonce from a position in `0..2^32`.
fn nonce_of(position: u64) -> u32 {
    u32::try_from(position).expect("nonce positions are below 2^32")
}

#[cfg(test)]
mod tests {
    use std::thread;
    use std::time::{Duration, Instant};

    use super::*;

    /// A midstate of 80 random header bytes.
    fn random_midstate(rng: &mut fastrand::Rng) -> Midstate {
        let mut header = [0u8; 80];
        rng.fill(&mut header);
        Midstate::new(&header)
    }

    /// The lowest nonce of `nonces` that meets `target`, by the reference hash.
    fn reference_scan(midstate: &Midstate, target: &Target, nonces: Range<u64>) -> Option<u32> {
        nonces.map(nonce_of).find(|&nonce| {
            target.is_met_by(&BlockHash::from_byte_array(midstate.hash_with_nonce(nonce)))
        })
    }

    /// `scan` with a fresh counter and stop flag: what it found and how many it counted.
    fn scan(
        kernel: Kernel,
        midstate: &Midstate,
        target: &Target,
        nonces: Range<u64>,
    ) -> (Option<u32>, u64) {
        let hashed = AtomicU64::new(0);
        let found = kernel.scan(midstate, target, nonces, &AtomicBool::new(false), &hashed);
        (found, hashed.into_inner())
    }

    /// A target that about one hash in 2^`bits` meets.
    fn target_of_difficulty(bits: u32) -> Target {
        let mut bytes = [0xff; 32];
        for bit in 0..bits {
            bytes[(bit / 8) as usize] &= !(0x80 >> (bit % 8));
        }
        Target::from_be_bytes(bytes)
    }

    /// The target one below `hash` (as a big-endian number): `hash` itself just misses it.
    fn just_below(hash: [u8; 32]) -> Target {
        let mut bytes = hash;
        for byte in bytes.iter_mut().rev() {
            let (value, borrow) = byte.overflowing_sub(1);
            *byte = value;
            if !borrow {
                break;
            }
        }
        Target::from_be_bytes(bytes)
    }

    /// No hash meets it (only an all-zero hash would).
    const IMPOSSIBLE: Target = Target::from_be_bytes([0; 32]);

    #[test]
    fn every_kernel_hashes_like_the_midstate_reference() {
        let mut rng = fastrand::Rng::with_seed(0x5a5a_0001);
        for kernel in Kernel::available() {
            for _ in 0..200 {
                let midstate = random_midstate(&mut rng);
                let edges = [0, 1, u32::MAX - 1, u32::MAX];
                for first in edges.into_iter().chain((0..20).map(|_| rng.u32(..))) {
                    let hashes = kernel.hashes(&midstate, &Target::MAX, first);
                    for (hash, nonce) in
                        hashes.into_iter().zip((0..).map(|i| first.wrapping_add(i)))
                    {
                        assert_eq!(
                            hash,
                            midstate.hash_with_nonce(nonce),
                            "{} kernel, nonce {nonce}",
                            kernel.name()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn scan_finds_the_lowest_nonce_the_portable_kernel_finds() {
        let mut rng = fastrand::Rng::with_seed(0x5a5a_0002);
        for _ in 0..40 {
            let midstate = random_midstate(&mut rng);
            let target = target_of_difficulty(rng.u32(0..=10));
            let start = rng.u64(0..1 << 32);
            let nonces = start..start + rng.u64(1..5_000);
            let expected = scan(Kernel::Portable, &midstate, &target, nonces.clone()).0;
            assert_eq!(expected, reference_scan(&midstate, &target, nonces.clone()));
            for kernel in Kernel::available() {
                assert_eq!(
                    scan(kernel, &midstate, &target, nonces.clone()).0,
                    expected,
                    "{} kernel, nonces {nonces:?}",
                    kernel.name()
                );
            }
        }
    }

    #[test]
    fn scan_compares_the_whole_hash_when_its_top_word_equals_the_targets() {
        let mut rng = fastrand::Rng::with_seed(0x5a5a_0003);
        for kernel in Kernel::available() {
            for _ in 0..20 {
                let midstate = random_midstate(&mut rng);
                let start = rng.u64(0..(1 << 32) - 100);
                let nonces = start..start + rng.u64(1..100);
                let (lowest, nonce) = nonces
                    .clone()
                    .map(|n| (midstate.hash_with_nonce(nonce_of(n)), nonce_of(n)))
                    .min()
                    .expect("a non-empty range");
                let hashed = nonces.end - nonces.start;
                assert_eq!(
                    scan(kernel, &midstate, &just_below(lowest), nonces.clone()),
                    (None, hashed),
                    "{} kernel",
                    kernel.name()
                );
                let exact = Target::from_be_bytes(lowest);
                let counted = u64::from(nonce) - start + 1;
                assert_eq!(
                    scan(kernel, &midstate, &exact, nonces),
                    (Some(nonce), counted)
                );
            }
        }
    }

    #[test]
    fn scan_counts_exactly_the_nonces_up_to_the_one_found() {
        let mut rng = fastrand::Rng::with_seed(0x5a5a_0004);
        let midstate = random_midstate(&mut rng);
        for kernel in Kernel::available() {
            // Lengths around the lane count and across a chunk boundary.
            for len in (1..=9).chain([u64::from(CHUNK) + 3]) {
                let start = rng.u64(0..1 << 31);
                let nonces = start..start + len;
                assert_eq!(
                    scan(kernel, &midstate, &IMPOSSIBLE, nonces.clone()),
                    (None, len)
                );
                let (found, hashed) = scan(kernel, &midstate, &target_of_difficulty(2), nonces);
                match found {
                    Some(nonce) => assert_eq!(hashed, u64::from(nonce) - start + 1),
                    None => assert_eq!(hashed, len),
                }
            }
        }
    }

    #[test]
    fn scan_reaches_the_last_nonce_of_ranges_ending_at_2_pow_32() {
        let mut rng = fastrand::Rng::with_seed(0x5a5a_0005);
        let midstate = random_midstate(&mut rng);
        let last = Target::from_be_bytes(midstate.hash_with_nonce(u32::MAX));
        for kernel in Kernel::available() {
            for len in 1..=9 {
                let nonces = (1 << 32) - len..1 << 32;
                let expected = reference_scan(&midstate, &last, nonces.clone());
                assert!(expected.is_some());
                assert_eq!(scan(kernel, &midstate, &last, nonces).0, expected);
            }
            // An end beyond 2^32 is clipped to it.
            let beyond = (1 << 32) - 3..(1 << 32) + 100;
            assert_eq!(scan(kernel, &midstate, &IMPOSSIBLE, beyond), (None, 3));
            let (found, _) = scan(
                kernel,
                &midstate,
                &Target::MAX,
                u64::from(u32::MAX)..1 << 33,
            );
            assert_eq!(found, Some(u32::MAX));
        }
    }

    #[test]
    fn scan_honours_stop() {
        let midstate = random_midstate(&mut fastrand::Rng::with_seed(0x5a5a_0006));
        for kernel in Kernel::available() {
            // Already set: nothing is hashed.
            let hashed = AtomicU64::new(0);
            let stopped = AtomicBool::new(true);
            assert_eq!(
                kernel.scan(&midstate, &Target::MAX, 0..1 << 32, &stopped, &hashed),
                None
            );
            assert_eq!(hashed.into_inner(), 0);

            // Set while scanning the whole nonce space: it returns within a chunk or so.
            let (hashed, stop) = (AtomicU64::new(0), AtomicBool::new(false));
            thread::scope(|s| {
                let scanning =
                    s.spawn(|| kernel.scan(&midstate, &IMPOSSIBLE, 0..1 << 32, &stop, &hashed));
                let deadline = Instant::now() + Duration::from_secs(30);
                while hashed.load(Ordering::Relaxed) == 0 {
                    assert!(
                        Instant::now() < deadline,
                        "{} kernel never counted",
                        kernel.name()
                    );
                    thread::yield_now();
                }
                stop.store(true, Ordering::Relaxed);
                assert_eq!(scanning.join().expect("no panic"), None);
            });
            assert!(hashed.into_inner() < 1 << 32);
        }
    }
}
