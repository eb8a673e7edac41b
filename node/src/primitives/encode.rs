//! The canonical byte encoding: one way to write every consensus object.
//!
//! Everything that is hashed (headers, transactions) or sent between nodes (blocks, txs)
//! uses this encoding and nothing else; JSON exists only at the API edge. It is written by
//! hand, in Bitcoin's style, so that the layout is explicit and stable:
//!
//! - fixed-width integers are little-endian (`u32` 4 bytes, `u64` 8 bytes);
//! - hashes and other byte arrays are written as-is, in order;
//! - a list is a CompactSize count followed by its items. CompactSize is Bitcoin's varint:
//!   `< 0xfd` one byte; `0xfd` + u16; `0xfe` + u32; `0xff` + u64. Only the shortest form is
//!   accepted, so every value has exactly one encoding.
//!
//! Decoding is total: arbitrary bytes give a value or a [`DecodeError`], never a panic, and
//! a count can never make the decoder allocate more than the input could possibly hold.
//! The per-type layouts are documented on each type's `Encode` impl.

use thiserror::Error;

/// Why a byte string is not the canonical encoding of the value asked for.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("unexpected end of input: needed {needed} more bytes")]
    UnexpectedEnd { needed: usize },
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
    #[error("non-canonical CompactSize encoding")]
    NonCanonicalCompactSize,
    #[error("list of {count} items cannot fit in the {remaining} bytes left")]
    ListTooLong { count: u64, remaining: usize },
    #[error("amount of {0} base units is above the maximum supply")]
    AmountTooLarge(u64),
}

/// Writes a value in the canonical encoding.
pub trait Encode {
    /// Appends the encoding of `self` to `out`.
    fn encode_to(&self, out: &mut Vec<u8>);

    /// The exact number of bytes [`Encode::encode_to`] writes.
    fn encoded_len(&self) -> usize;
}

/// Reads a value in the canonical encoding.
pub trait Decode: Sized {
    /// Reads one value from the front of `reader`.
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError>;
}

/// The canonical encoding of `value`.
pub fn encode<T: Encode + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.encoded_len());
    value.encode_to(&mut out);
    out
}

/// Decodes exactly one `T` from `bytes`; trailing bytes are an error.
pub fn decode<T: Decode>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut reader = Reader::new(bytes);
    let value = T::decode_from(&mut reader)?;
    match reader.remaining() {
        0 => Ok(value),
        n => Err(DecodeError::TrailingBytes(n)),
    }
}

/// A cursor over an input byte slice.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.bytes.len() {
            return Err(DecodeError::UnexpectedEnd {
                needed: n - self.bytes.len(),
            });
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        self.array().map(u16::from_le_bytes)
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array().map(u32::from_le_bytes)
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        self.array().map(u64::from_le_bytes)
    }

    /// Reads a CompactSize, rejecting any but the shortest encoding.
    pub fn compact_size(&mut self) -> Result<u64, DecodeError> {
        let (value, minimum) = match self.u8()? {
            0xfd => (u64::from(self.u16()?), 0xfd),
            0xfe => (u64::from(self.u32()?), 0x1_0000),
            0xff => (self.u64()?, 0x1_0000_0000),
            small => return Ok(u64::from(small)),
        };
        if value < minimum {
            return Err(DecodeError::NonCanonicalCompactSize);
        }
        Ok(value)
    }

    /// Reads a list count, refusing counts that `min_item_len`-byte items could not fill,
    /// so that a forged count can never trigger a large allocation.
    pub fn list_len(&mut self, min_item_len: usize) -> Result<usize, DecodeError> {
        let count = self.compact_size()?;
        let remaining = self.remaining();
        let fits = usize::try_from(count)
            .ok()
            .filter(|&n| n.saturating_mul(min_item_len.max(1)) <= remaining);
        fits.ok_or(DecodeError::ListTooLong { count, remaining })
    }

    /// Reads a CompactSize-counted list of `T`s, each at least `min_item_len` bytes long.
    pub fn list<T: Decode>(&mut self, min_item_len: usize) -> Result<Vec<T>, DecodeError> {
        let n = self.list_len(min_item_len)?;
        (0..n).map(|_| T::decode_from(self)).collect()
    }
}

/// Appends `n` as a CompactSize.
pub fn write_compact_size(out: &mut Vec<u8>, n: u64) {
    if let Ok(byte) = u8::try_from(n)
        && byte < 0xfd
    {
        out.push(byte);
    } else if let Ok(short) = u16::try_from(n) {
        out.push(0xfd);
        out.extend_from_slice(&short.to_le_bytes());
    } else if let Ok(word) = u32::try_from(n) {
        out.push(0xfe);
        out.extend_from_slice(&word.to_le_bytes());
    } else {
        out.push(0xff);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

/// The number of bytes [`write_compact_size`] writes for `n`.
pub fn compact_size_len(n: u64) -> usize {
    match n {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Appends a CompactSize-counted list.
pub fn write_list<T: Encode>(out: &mut Vec<u8>, items: &[T]) {
    write_compact_size(out, items.len() as u64);
    for item in items {
        item.encode_to(out);
    }
}

/// The encoded length of a CompactSize-counted list.
pub fn list_len<T: Encode>(items: &[T]) -> usize {
    compact_size_len(items.len() as u64) + items.iter().map(Encode::encoded_len).sum::<usize>()
}

macro_rules! impl_int {
    ($($t:ty => $read:ident),*) => {$(
        impl Encode for $t {
            fn encode_to(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn encoded_len(&self) -> usize {
                size_of::<$t>()
            }
        }
        impl Decode for $t {
            fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
                reader.$read()
            }
        }
    )*};
}
impl_int!(u8 => u8, u16 => u16, u32 => u32, u64 => u64);

impl<const N: usize> Encode for [u8; N] {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn encoded_len(&self) -> usize {
        N
    }
}

impl<const N: usize> Decode for [u8; N] {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        reader.array()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compact(n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        write_compact_size(&mut out, n);
        out
    }

    #[test]
    fn compact_size_uses_bitcoins_layout() {
        assert_eq!(compact(0xfc), [0xfc]);
        assert_eq!(compact(0xfd), [0xfd, 0xfd, 0x00]);
        assert_eq!(compact(0x1_0000), [0xfe, 0x00, 0x00, 0x01, 0x00]);
        assert_eq!(compact(0x1_0000_0000), [0xff, 0, 0, 0, 0, 1, 0, 0, 0]);
        for n in [0, 0xfc, 0xfd, 0xffff, 0x1_0000, u64::MAX] {
            assert_eq!(compact(n).len(), compact_size_len(n));
            assert_eq!(Reader::new(&compact(n)).compact_size(), Ok(n));
        }
    }

    #[test]
    fn compact_size_rejects_longer_forms_than_needed() {
        for bytes in [
            &[0xfd, 0xfc, 0x00][..],
            &[0xfe, 0xff, 0xff, 0, 0],
            &[0xff, 1, 0, 0, 0, 0, 0, 0, 0],
        ] {
            assert_eq!(
                Reader::new(bytes).compact_size(),
                Err(DecodeError::NonCanonicalCompactSize)
            );
        }
    }

    #[test]
    fn a_forged_count_cannot_force_an_allocation() {
        let bytes = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3,
        ];
        assert!(matches!(
            Reader::new(&bytes).list::<u32>(4),
            Err(DecodeError::ListTooLong { .. })
        ));
    }

    #[test]
    fn decode_refuses_trailing_bytes() {
        assert_eq!(
            decode::<u32>(&[1, 0, 0, 0, 9]),
            Err(DecodeError::TrailingBytes(1))
        );
        assert_eq!(
            decode::<u32>(&[1, 0]),
            Err(DecodeError::UnexpectedEnd { needed: 2 })
        );
    }
}
