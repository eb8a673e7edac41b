//! Proof-of-work targets and chain work: `CompactTarget` (Bitcoin's nBits), `Target`, `Work`.
//!
//! A block is valid only if its hash, read as a big-endian 256-bit integer, is at most the
//! target its header's `bits` encode. The work a block proves is `2^256 / (target + 1)`, the
//! expected number of hashes needed to find it; the best chain is the one with the most work.

use std::fmt;
use std::ops::Add;

use ruint::aliases::U256;
use thiserror::Error;

use super::encode::{Decode, DecodeError, Encode, Reader};
use super::hash::BlockHash;

/// A target in Bitcoin's compact "nBits" form: `mantissa * 256^(exponent - 3)`, where the top
/// byte is the exponent and the low 23 bits the mantissa (bit 23 is a sign bit).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CompactTarget(u32);

/// Why a `bits` value is not a usable target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CompactTargetError {
    #[error("compact target {0:#010x} is negative")]
    Negative(u32),
    #[error("compact target {0:#010x} overflows 256 bits")]
    Overflow(u32),
    #[error("compact target {0:#010x} is zero")]
    Zero(u32),
}

impl CompactTarget {
    pub const fn from_consensus(bits: u32) -> Self {
        Self(bits)
    }

    pub const fn to_consensus(self) -> u32 {
        self.0
    }

    /// Decodes the full target, as Bitcoin's `arith_uint256::SetCompact` does, refusing
    /// negative, overflowing and zero targets.
    pub fn to_target(self) -> Result<Target, CompactTargetError> {
        let exponent = (self.0 >> 24) as usize;
        let mantissa = self.0 & 0x007f_ffff;
        if mantissa != 0 && self.0 & 0x0080_0000 != 0 {
            return Err(CompactTargetError::Negative(self.0));
        }
        let overflows = mantissa != 0
            && (exponent > 34
                || (mantissa > 0xff && exponent > 33)
                || (mantissa > 0xffff && exponent > 32));
        if overflows {
            return Err(CompactTargetError::Overflow(self.0));
        }
        let value = if exponent <= 3 {
            U256::from(mantissa >> (8 * (3 - exponent)))
        } else {
            U256::from(mantissa) << (8 * (exponent - 3))
        };
        if value.is_zero() {
            return Err(CompactTargetError::Zero(self.0));
        }
        Ok(Target(value))
    }
}

impl fmt::Debug for CompactTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CompactTarget({:#010x})", self.0)
    }
}

impl fmt::Display for CompactTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// In JSON, bits are 8 hex digits (`"207fffff"`), as Bitcoin's RPC shows them.
impl serde::Serialize for CompactTarget {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for CompactTarget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(serde::de::Error::custom("bits must be 8 hex digits"));
        }
        u32::from_str_radix(&s, 16)
            .map(Self)
            .map_err(serde::de::Error::custom)
    }
}

/// Layout: u32 little-endian.
impl Encode for CompactTarget {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.0.encode_to(out);
    }
    fn encoded_len(&self) -> usize {
        4
    }
}

impl Decode for CompactTarget {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        reader.u32().map(Self)
    }
}

/// A proof-of-work target: a block hash must be at most this, as a big-endian integer.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target(U256);

impl Target {
    /// The largest target, `2^256 - 1`: every hash meets it.
    pub const MAX: Self = Self(U256::MAX);

    /// The target whose big-endian bytes are `bytes`.
    pub const fn from_be_bytes(bytes: [u8; 32]) -> Self {
        Self(U256::from_be_bytes(bytes))
    }

    pub const fn to_be_bytes(self) -> [u8; 32] {
        self.0.to_be_bytes()
    }

    pub(crate) const fn from_u256(value: U256) -> Self {
        Self(value)
    }

    pub(crate) const fn as_u256(self) -> U256 {
        self.0
    }

    /// Whether `hash`, read big-endian, is at most this target.
    pub fn is_met_by(self, hash: &BlockHash) -> bool {
        U256::from_be_bytes(hash.to_byte_array()) <= self.0
    }

    /// The compact form, as Bitcoin's `arith_uint256::GetCompact` computes it (the mantissa
    /// keeps the top 23 bits; lower bits are dropped).
    pub fn to_compact(self) -> CompactTarget {
        let mut size = self.0.bit_len().div_ceil(8);
        let mut mantissa = if size <= 3 {
            self.0.as_limbs()[0] << (8 * (3 - size))
        } else {
            (self.0 >> (8 * (size - 3))).as_limbs()[0]
        };
        if mantissa & 0x0080_0000 != 0 {
            mantissa >>= 8;
            size += 1;
        }
        let bits = u32::try_from(mantissa).expect("mantissa fits in 24 bits")
            | (u32::try_from(size).expect("a 256-bit value has at most 33 bytes") << 24);
        CompactTarget(bits)
    }

    /// The expected number of hashes to meet this target: `2^256 / (target + 1)`.
    pub fn work(self) -> Work {
        // 2^256 does not fit in 256 bits; Bitcoin's identity: 2^256 / (t+1) = ~t / (t+1) + 1,
        // and t + 1 overflows only for t = 2^256 - 1, whose work is exactly 1.
        match self.0.checked_add(U256::from(1u8)) {
            Some(divisor) => Work(((!self.0) / divisor).saturating_add(U256::from(1u8))),
            None => Work(U256::from(1u8)),
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({})", hex::encode(self.to_be_bytes()))
    }
}

/// Accumulated proof of work: of one block, or of a chain (the sum of its blocks).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Work(U256);

impl Work {
    pub const ZERO: Self = Self(U256::ZERO);

    /// 32 big-endian bytes: stored this way, byte order sorts like the number.
    pub const fn to_be_bytes(self) -> [u8; 32] {
        self.0.to_be_bytes()
    }

    pub const fn from_be_bytes(bytes: [u8; 32]) -> Self {
        Self(U256::from_be_bytes(bytes))
    }

    /// The sum, or `None` past 2^256 (unreachable: that is more hashes than can ever be done).
    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }

    /// The value as a float, for display (log scales, difficulty); never for consensus.
    pub fn to_f64_lossy(self) -> f64 {
        self.0.as_limbs().iter().rev().fold(0.0, |acc, &limb| {
            acc * 18_446_744_073_709_551_616.0 + limb as f64
        })
    }
}

impl Add for Work {
    type Output = Work;
    /// Saturates at 2^256 - 1, which no real chain approaches.
    fn add(self, other: Self) -> Work {
        Work(self.0.saturating_add(other.0))
    }
}

impl fmt::Debug for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Work({:#x})", self.0)
    }
}

/// Shown as hex without leading zeros, as Bitcoin's `chainwork` field.
impl fmt::Display for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

impl serde::Serialize for Work {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Work {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        U256::from_str_radix(&s, 16)
            .map(Self)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(b: u32) -> CompactTarget {
        CompactTarget::from_consensus(b)
    }

    #[test]
    fn compact_round_trips_bitcoins_examples() {
        // Values from Bitcoin Core's arith_uint256_tests.cpp (SetCompact/GetCompact).
        for b in [
            0x1d00_ffff,
            0x1b04_04cb,
            0x0101_0000,
            0x0312_3456,
            0x0412_3456,
            0x2012_3456,
            0x207f_ffff,
        ] {
            assert_eq!(bits(b).to_target().unwrap().to_compact(), bits(b), "{b:#x}");
        }
        assert_eq!(
            hex::encode(bits(0x1d00_ffff).to_target().unwrap().to_be_bytes()),
            "00000000ffff0000000000000000000000000000000000000000000000000000"
        );
    }

    #[test]
    fn invalid_compact_targets_are_refused() {
        assert_eq!(
            bits(0x0480_0001).to_target(),
            Err(CompactTargetError::Negative(0x0480_0001))
        );
        assert_eq!(
            bits(0xff12_3456).to_target(),
            Err(CompactTargetError::Overflow(0xff12_3456))
        );
        assert_eq!(
            bits(0x2301_0000).to_target(),
            Err(CompactTargetError::Overflow(0x2301_0000))
        );
        assert_eq!(
            bits(0x0000_0000).to_target(),
            Err(CompactTargetError::Zero(0))
        );
        assert_eq!(
            bits(0x0100_3456).to_target(),
            Err(CompactTargetError::Zero(0x0100_3456))
        );
    }

    #[test]
    fn work_is_two_to_the_256_over_target_plus_one() {
        // Bitcoin's genesis bits 0x1d00ffff prove 0x100010001 hashes of work.
        assert_eq!(
            bits(0x1d00_ffff).to_target().unwrap().work(),
            Work(U256::from(0x1_0001_0001u64))
        );
        assert_eq!(Target::MAX.work(), Work(U256::from(1u8)));
    }

    #[test]
    fn work_bytes_sort_like_the_numbers() {
        let small = bits(0x1d00_ffff).to_target().unwrap().work();
        let large = bits(0x1b04_04cb).to_target().unwrap().work();
        assert!(small < large);
        assert!(small.to_be_bytes() < large.to_be_bytes());
        assert_eq!(Work::from_be_bytes(large.to_be_bytes()), large);
    }

    #[test]
    fn a_hash_meets_a_target_when_not_above_it() {
        let target = Target::from_be_bytes([0x0f; 32]);
        assert!(target.is_met_by(&BlockHash::from_byte_array([0x0f; 32])));
        assert!(target.is_met_by(&BlockHash::from_byte_array([0x00; 32])));
        let mut above = [0x0f; 32];
        above[31] = 0x10;
        assert!(!target.is_met_by(&BlockHash::from_byte_array(above)));
    }
}
