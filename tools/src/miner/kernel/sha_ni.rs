//! The SHA-NI kernel: sha256d of an 80-byte header for several nonces at once with x86's SHA
//! extensions (`sha256rnds2`, `sha256msg1`, `sha256msg2`).
//!
//! Why it is faster than calling `sha2` per nonce:
//! - `sha256rnds2` has a latency of several cycles, so one SHA-256 alone leaves the SHA unit
//!   idle most of the time; hashing [`WAYS`] nonces in lock-step keeps it busy.
//! - Whatever does not depend on the nonce is computed once per template (see [`Template`]):
//!   rounds 0 and 1 of the inner compression, the padding's message words and their round
//!   inputs, and the parts of both message schedules that only read constant words.
//! - The target is checked on the hash's first word first; the full 256-bit comparison
//!   ([`Target::is_met_by`]) runs only for the rare hash that passes it.
//!
//! It must not execute an instruction the CPU lacks: a [`Scanner`] exists only after run-time
//! detection ([`is_supported`]), and the `#[target_feature]` functions are called only through
//! it. It must not disagree with [`Midstate::hash_with_nonce`], the reference; the tests in the
//! parent module check every lane against it.

use std::arch::x86_64::{
    __m128i, _mm_add_epi32, _mm_alignr_epi8, _mm_blend_epi16, _mm_extract_epi32, _mm_insert_epi32,
    _mm_set_epi32, _mm_setzero_si128, _mm_sha256msg1_epu32, _mm_sha256msg2_epu32,
    _mm_sha256rnds2_epu32, _mm_shuffle_epi32,
};
use std::array::from_fn;

use chaincore::primitives::hash::SHA256_IV;
use chaincore::primitives::{BlockHash, Midstate, Target};

/// Nonces hashed in lock-step. Two keep the SHA unit of this machine's Zen 4 busy; more
/// spill the 16 xmm registers that the legacy-encoded SHA instructions can address (see the
/// measurements in the report of `just bench`).
pub(super) const WAYS: usize = 2;

/// SHA-256's round constants (FIPS 180-4 §4.2.2).
const K: [u32; 64] = [
    0x428a_2f98,
    0x7137_4491,
    0xb5c0_fbcf,
    0xe9b5_dba5,
    0x3956_c25b,
    0x59f1_11f1,
    0x923f_82a4,
    0xab1c_5ed5,
    0xd807_aa98,
    0x1283_5b01,
    0x2431_85be,
    0x550c_7dc3,
    0x72be_5d74,
    0x80de_b1fe,
    0x9bdc_06a7,
    0xc19b_f174,
    0xe49b_69c1,
    0xefbe_4786,
    0x0fc1_9dc6,
    0x240c_a1cc,
    0x2de9_2c6f,
    0x4a74_84aa,
    0x5cb0_a9dc,
    0x76f9_88da,
    0x983e_5152,
    0xa831_c66d,
    0xb003_27c8,
    0xbf59_7fc7,
    0xc6e0_0bf3,
    0xd5a7_9147,
    0x06ca_6351,
    0x1429_2967,
    0x27b7_0a85,
    0x2e1b_2138,
    0x4d2c_6dfc,
    0x5338_0d13,
    0x650a_7354,
    0x766a_0abb,
    0x81c2_c92e,
    0x9272_2c85,
    0xa2bf_e8a1,
    0xa81a_664b,
    0xc24b_8b70,
    0xc76c_51a3,
    0xd192_e819,
    0xd699_0624,
    0xf40e_3585,
    0x106a_a070,
    0x19a4_c116,
    0x1e37_6c08,
    0x2748_774c,
    0x34b0_bcb5,
    0x391c_0cb3,
    0x4ed8_aa4a,
    0x5b9c_ca4f,
    0x682e_6ff3,
    0x748f_82ee,
    0x78a5_636f,
    0x84c8_7814,
    0x8cc7_0208,
    0x90be_fffa,
    0xa450_6ceb,
    0xbef9_a3f7,
    0xc671_78f2,
];

/// SHA-256's initial state, where the outer hash starts.
const IV: [u32; 8] = SHA256_IV;

/// Whether this CPU has every instruction the kernel uses.
pub(super) fn is_supported() -> bool {
    is_x86_feature_detected!("sha")
        && is_x86_feature_detected!("sse2")
        && is_x86_feature_detected!("ssse3")
        && is_x86_feature_detected!("sse4.1")
}

/// Scans nonces of one template against one target. Holding one proves that the CPU has
/// SHA-NI: [`Scanner::new`] is the only constructor and it checks.
#[derive(Clone, Copy, Debug)]
pub(super) struct Scanner {
    template: Template,
    target: Target,
    /// The target's most significant 32 bits: a hash whose first word is above it fails.
    target_top: u32,
}

impl Scanner {
    /// A scanner for `midstate` and `target`, or `None` if this CPU lacks SHA-NI.
    #[allow(
        unsafe_code,
        reason = "the reviewed SHA-NI kernel; called after detection"
    )]
    pub(super) fn new(midstate: &Midstate, target: &Target) -> Option<Self> {
        if !is_supported() {
            return None;
        }
        // SAFETY: `is_supported` just confirmed every feature `Template::new` enables.
        let template = unsafe { Template::new(midstate) };
        let target_bytes = target.to_be_bytes();
        let target_top = u32::from_be_bytes([
            target_bytes[0],
            target_bytes[1],
            target_bytes[2],
            target_bytes[3],
        ]);
        Some(Self {
            template,
            target: *target,
            target_top,
        })
    }

    /// The lowest nonce of `first..first + len` whose hash meets the target (`first + len`
    /// may be 2^32: the last nonce is `u32::MAX`).
    #[allow(
        unsafe_code,
        reason = "the reviewed SHA-NI kernel; called after detection"
    )]
    pub(super) fn scan(&self, first: u32, len: u32) -> Option<u32> {
        // SAFETY: a `Scanner` exists only if `is_supported` was true (see `new`).
        unsafe { scan_ways::<WAYS>(self, first, len) }
    }

    /// The hashes of `first`, `first + 1`, ... (wrapping), one per lane, as the scan computes
    /// them: for tests against the reference.
    #[cfg(test)]
    #[allow(
        unsafe_code,
        reason = "the reviewed SHA-NI kernel; called after detection"
    )]
    pub(super) fn hashes(&self, first: u32) -> [[u8; 32]; WAYS] {
        let nonces = from_fn(|lane| first.wrapping_add(lane_offset(lane)));
        // SAFETY: a `Scanner` exists only if `is_supported` was true (see `new`).
        unsafe { sha256d::<WAYS>(&self.template, nonces).map(|state| digest(state)) }
    }
}

/// A SHA-256 working state as SHA-NI holds it: words (A, B, E, F) and (C, D, G, H), the first
/// letter in the top lane.
#[derive(Clone, Copy, Debug)]
struct State {
    abef: __m128i,
    cdgh: __m128i,
}

impl State {
    #[target_feature(enable = "sse2")]
    fn new(s: [u32; 8]) -> Self {
        let [a, b, c, d, e, f, g, h] = s.map(u32::cast_signed);
        State {
            abef: _mm_set_epi32(a, b, e, f),
            cdgh: _mm_set_epi32(c, d, g, h),
        }
    }
}

/// What stays the same for every nonce of a template. Message words are in big-endian order
/// as SHA-256 reads them, four to a vector (lane 0 first); "wk" is word + round constant.
#[derive(Clone, Copy, Debug)]
struct Template {
    /// The state after the header's first 64 bytes: the inner compression's start and its
    /// feed-forward.
    midstate: State,
    /// ABEF after inner rounds 0 and 1, whose words (header bytes 64..72) are fixed.
    round1: __m128i,
    /// wk for inner round 2 in lane 0; round 3's (the nonce's) goes into lane 1.
    wk2: __m128i,
    /// Inner words 0..4 with a zero where the nonce goes (lane 3).
    w0: __m128i,
    /// Inner words 4..16: the padding of an 80-byte message.
    w4: __m128i,
    w8: __m128i,
    w12: __m128i,
    /// wk for inner rounds 4..16.
    wk4: [__m128i; 3],
    /// `sha256msg1` of inner words (4..8, 8..12) and (8..12, 12..16), for words 20.. and 24..
    msg1_20: __m128i,
    msg1_24: __m128i,
    /// The outer compression's constants.
    outer: Outer,
}

/// Constants of the outer SHA-256, whose message is the 32-byte inner digest + padding.
#[derive(Clone, Copy, Debug)]
struct Outer {
    iv: State,
    /// Words 8..16: the padding of a 32-byte message.
    w8: __m128i,
    w12: __m128i,
    /// wk for rounds 8..16.
    wk8: [__m128i; 2],
    /// `sha256msg1` of words (8..12, 12..16), for words 24..
    msg1_24: __m128i,
}

impl Template {
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn new(midstate: &Midstate) -> Self {
        let tail = midstate.tail();
        let word = |i: usize| {
            u32::from_be_bytes([
                tail[4 * i],
                tail[4 * i + 1],
                tail[4 * i + 2],
                tail[4 * i + 3],
            ])
        };
        let words = |i: usize| vector([word(i), word(i + 1), word(i + 2), word(i + 3)]);
        let state = State::new(midstate.state());
        let wk01 = vector([word(0).wrapping_add(K[0]), word(1).wrapping_add(K[1]), 0, 0]);
        let (w4, w8, w12) = (words(4), words(8), words(12));
        Template {
            midstate: state,
            round1: _mm_sha256rnds2_epu32(state.cdgh, state.abef, wk01),
            wk2: vector([word(2).wrapping_add(K[2]), 0, 0, 0]),
            w0: vector([word(0), word(1), word(2), 0]),
            w4,
            w8,
            w12,
            wk4: [1, 2, 3].map(|group| _mm_add_epi32(words(4 * group), k4(group))),
            msg1_20: _mm_sha256msg1_epu32(w4, w8),
            msg1_24: _mm_sha256msg1_epu32(w8, w12),
            outer: Outer::new(),
        }
    }
}

impl Outer {
    #[target_feature(enable = "sha,sse2")]
    fn new() -> Self {
        let w8 = vector([0x8000_0000, 0, 0, 0]);
        let w12 = vector([0, 0, 0, 32 * 8]);
        Outer {
            iv: State::new(IV),
            w8,
            w12,
            wk8: [_mm_add_epi32(w8, k4(2)), _mm_add_epi32(w12, k4(3))],
            msg1_24: _mm_sha256msg1_epu32(w8, w12),
        }
    }
}

/// Four words as a vector, the first in lane 0.
#[inline]
#[target_feature(enable = "sse2")]
fn vector(w: [u32; 4]) -> __m128i {
    let [w0, w1, w2, w3] = w.map(u32::cast_signed);
    _mm_set_epi32(w3, w2, w1, w0)
}

/// The round constants of rounds `4 * group .. 4 * group + 4`.
#[inline]
#[target_feature(enable = "sse2")]
fn k4(group: usize) -> __m128i {
    vector([
        K[4 * group],
        K[4 * group + 1],
        K[4 * group + 2],
        K[4 * group + 3],
    ])
}

/// `lane` as a nonce offset (lanes are fewer than 2^32).
fn lane_offset(lane: usize) -> u32 {
    u32::try_from(lane).expect("a handful of lanes")
}

/// The lowest nonce of `first..first + len` whose hash meets the scanner's target, hashing
/// `N` nonces at a time and the remainder one at a time.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn scan_ways<const N: usize>(scanner: &Scanner, first: u32, len: u32) -> Option<u32> {
    let ways = lane_offset(N);
    let mut offset = 0;
    while len - offset >= ways {
        let base = first + offset; // no overflow: base + ways - 1 is a nonce below 2^32
        let nonces: [u32; N] = from_fn(|lane| base + lane_offset(lane));
        let states = sha256d::<N>(&scanner.template, nonces);
        // Lanes in nonce order, so the first hit is the lowest.
        for (state, nonce) in states.into_iter().zip(nonces) {
            if meets(scanner, state) {
                return Some(nonce);
            }
        }
        offset += ways;
    }
    // The last few, one at a time (`first + offset` may be 2^32 once `offset == len`).
    (offset..len)
        .map(|offset| first + offset)
        .find(|&nonce| meets(scanner, sha256d::<1>(&scanner.template, [nonce])[0]))
}

/// Whether the outer compression's final `state` (before its feed-forward) is a hash that
/// meets the target. Almost every hash fails on its first word, which is all this reads then.
#[target_feature(enable = "sse2,sse4.1")]
fn meets(scanner: &Scanner, state: State) -> bool {
    let top = _mm_extract_epi32::<3>(state.abef)
        .cast_unsigned()
        .wrapping_add(IV[0]);
    top <= scanner.target_top
        && scanner
            .target
            .is_met_by(&BlockHash::from_byte_array(digest(state)))
}

/// The hash bytes from the outer compression's final state (before its feed-forward).
#[target_feature(enable = "sse2,sse4.1")]
fn digest(state: State) -> [u8; 32] {
    let words = [
        _mm_extract_epi32::<3>(state.abef),
        _mm_extract_epi32::<2>(state.abef),
        _mm_extract_epi32::<3>(state.cdgh),
        _mm_extract_epi32::<2>(state.cdgh),
        _mm_extract_epi32::<1>(state.abef),
        _mm_extract_epi32::<0>(state.abef),
        _mm_extract_epi32::<1>(state.cdgh),
        _mm_extract_epi32::<0>(state.cdgh),
    ];
    let mut out = [0u8; 32];
    for ((chunk, word), iv) in out.chunks_exact_mut(4).zip(words).zip(IV) {
        chunk.copy_from_slice(&word.cast_unsigned().wrapping_add(iv).to_be_bytes());
    }
    out
}

/// sha256d of the header with each of `nonces`, as the outer compression's final states
/// before their feed-forward (which [`meets`] and [`digest`] add when they need it).
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn sha256d<const N: usize>(t: &Template, nonces: [u32; N]) -> [State; N] {
    outer(&t.outer, inner(t, nonces))
}

/// The inner compression of header bytes 64..80 (+ padding), with its feed-forward.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn inner<const N: usize>(t: &Template, nonces: [u32; N]) -> [State; N] {
    // Word 3 is the nonce's little-endian bytes read big-endian.
    let w3 = nonces.map(u32::swap_bytes);
    let w0: [__m128i; N] = from_fn(|l| _mm_insert_epi32::<3>(t.w0, w3[l].cast_signed()));
    // Rounds 0 and 1 are done (`round1`); rounds 2 and 3 take words 2 and 3.
    let mut s: [State; N] = from_fn(|l| {
        let wk23 = _mm_insert_epi32::<1>(t.wk2, w3[l].wrapping_add(K[3]).cast_signed());
        State {
            abef: _mm_sha256rnds2_epu32(t.midstate.abef, t.round1, wk23),
            cdgh: t.round1,
        }
    });
    for wk in t.wk4 {
        rounds4(&mut s, [wk; N]);
    }
    let w16 = schedule_rounds4(
        &mut s,
        4,
        from_fn(|l| _mm_sha256msg1_epu32(w0[l], t.w4)),
        [t.w8; N],
        [t.w12; N],
    );
    let w20 = schedule_rounds4(&mut s, 5, [t.msg1_20; N], [t.w12; N], w16);
    let w24 = schedule_rounds4(&mut s, 6, [t.msg1_24; N], w16, w20);
    let w28 = schedule_rounds4(&mut s, 7, msg1(&[t.w12; N], &w16), w20, w24);
    rounds32_63(&mut s, [w16, w20, w24, w28]);
    feed_forward(&mut s, t.midstate);
    s
}

/// The outer compression of the inner digests (+ padding), without its feed-forward.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn outer<const N: usize>(o: &Outer, digests: [State; N]) -> [State; N] {
    let (w0, w4) = message(digests);
    let mut s = [o.iv; N];
    rounds4(&mut s, add(&w0, k4(0)));
    rounds4(&mut s, add(&w4, k4(1)));
    rounds4(&mut s, [o.wk8[0]; N]);
    rounds4(&mut s, [o.wk8[1]; N]);
    let w16 = schedule_rounds4(&mut s, 4, msg1(&w0, &w4), [o.w8; N], [o.w12; N]);
    let w20 = schedule_rounds4(&mut s, 5, msg1(&w4, &[o.w8; N]), [o.w12; N], w16);
    let w24 = schedule_rounds4(&mut s, 6, [o.msg1_24; N], w16, w20);
    let w28 = schedule_rounds4(&mut s, 7, msg1(&[o.w12; N], &w16), w20, w24);
    rounds32_63(&mut s, [w16, w20, w24, w28]);
    s
}

/// Rounds 32..64, given message words 16..32 (four vectors of four).
#[inline]
#[target_feature(enable = "sha,sse2,ssse3")]
fn rounds32_63<const N: usize>(s: &mut [State; N], mut w: [[__m128i; N]; 4]) {
    // Rotating through `w` by fixed indices keeps it in registers.
    for group in [8, 12] {
        w[0] = schedule_rounds4(s, group, msg1(&w[0], &w[1]), w[2], w[3]);
        w[1] = schedule_rounds4(s, group + 1, msg1(&w[1], &w[2]), w[3], w[0]);
        w[2] = schedule_rounds4(s, group + 2, msg1(&w[2], &w[3]), w[0], w[1]);
        w[3] = schedule_rounds4(s, group + 3, msg1(&w[3], &w[0]), w[1], w[2]);
    }
}

/// Message words `4 * group ..` from `sha256msg1` of the words 16 and 12 back (`m1`) and the
/// words 8 and 4 back; then the four rounds that use them. Returns the new words.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3")]
fn schedule_rounds4<const N: usize>(
    s: &mut [State; N],
    group: usize,
    m1: [__m128i; N],
    w8: [__m128i; N],
    w12: [__m128i; N],
) -> [__m128i; N] {
    let w: [__m128i; N] = from_fn(|l| {
        let sum = _mm_add_epi32(m1[l], _mm_alignr_epi8::<4>(w12[l], w8[l]));
        _mm_sha256msg2_epu32(sum, w12[l])
    });
    rounds4(s, add(&w, k4(group)));
    w
}

/// Four rounds on each lane, given word + constant for each.
#[inline]
#[target_feature(enable = "sha,sse2")]
fn rounds4<const N: usize>(s: &mut [State; N], wk: [__m128i; N]) {
    // Lane by lane within each half, so the lanes' `sha256rnds2` overlap.
    for (s, wk) in s.iter_mut().zip(wk) {
        s.cdgh = _mm_sha256rnds2_epu32(s.cdgh, s.abef, wk);
    }
    for (s, wk) in s.iter_mut().zip(wk) {
        s.abef = _mm_sha256rnds2_epu32(s.abef, s.cdgh, _mm_shuffle_epi32::<0x0E>(wk));
    }
}

/// Adds the state a compression started from (SHA-256's feed-forward).
#[inline]
#[target_feature(enable = "sse2")]
fn feed_forward<const N: usize>(s: &mut [State; N], start: State) {
    for s in s {
        s.abef = _mm_add_epi32(s.abef, start.abef);
        s.cdgh = _mm_add_epi32(s.cdgh, start.cdgh);
    }
}

/// The outer message words 0..4 and 4..8: the inner digests' state words in order.
#[inline]
#[target_feature(enable = "sse2,ssse3,sse4.1")]
fn message<const N: usize>(digests: [State; N]) -> ([__m128i; N], [__m128i; N]) {
    let mut w0 = [_mm_setzero_si128(); N];
    let mut w4 = [_mm_setzero_si128(); N];
    for ((s, w0), w4) in digests.iter().zip(&mut w0).zip(&mut w4) {
        let feba = _mm_shuffle_epi32::<0x1B>(s.abef);
        let dchg = _mm_shuffle_epi32::<0xB1>(s.cdgh);
        *w0 = _mm_blend_epi16::<0xF0>(feba, dchg);
        *w4 = _mm_alignr_epi8::<8>(dchg, feba);
    }
    (w0, w4)
}

#[inline]
#[target_feature(enable = "sha")]
fn msg1<const N: usize>(a: &[__m128i; N], b: &[__m128i; N]) -> [__m128i; N] {
    from_fn(|l| _mm_sha256msg1_epu32(a[l], b[l]))
}

#[inline]
#[target_feature(enable = "sse2")]
fn add<const N: usize>(a: &[__m128i; N], b: __m128i) -> [__m128i; N] {
    from_fn(|l| _mm_add_epi32(a[l], b))
}
