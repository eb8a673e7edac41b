//! Hashes: `sha256d`, the SHA-256 midstate used by miners, `hash160`, and the hash newtypes.
//!
//! A 32-byte hash is shown as lowercase hex of its bytes *in order* (not reversed as in
//! Bitcoin), and compared with a target as a big-endian integer, so a valid block hash
//! visibly starts with zeros.

use ripemd::Ripemd160;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// SHA-256 applied twice, the hash of headers, transactions and merkle nodes.
pub fn sha256d(data: &[u8]) -> [u8; 32] {
    Sha256::digest(Sha256::digest(data)).into()
}

/// `sha256d` of `data[..split]` and of all of `data`, in one pass over the bytes: a
/// transaction's base is a prefix of its full encoding, so this gives txid and wtxid.
pub fn sha256d_prefix_and_whole(data: &[u8], split: usize) -> ([u8; 32], [u8; 32]) {
    let (prefix, rest) = data.split_at(split);
    let mut inner = Sha256::new();
    inner.update(prefix);
    let of_prefix = Sha256::digest(inner.clone().finalize()).into();
    inner.update(rest);
    (of_prefix, Sha256::digest(inner.finalize()).into())
}

/// RIPEMD-160 of SHA-256: the hash that an address commits to.
pub fn hash160(data: &[u8]) -> [u8; 20] {
    Ripemd160::digest(Sha256::digest(data)).into()
}

/// SHA-256's initial state (FIPS 180-4 §5.3.3), where every hash (and a midstate) starts.
pub const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// The SHA-256 state after compressing the first 64 bytes of an 80-byte header.
///
/// Those bytes (version, previous hash, most of the merkle root) do not change while a miner
/// walks the nonce, so each try costs two compressions instead of three:
/// one for the last 16 header bytes (with padding), one for the outer SHA-256.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Midstate {
    state: [u32; 8],
    /// Header bytes 64..80 followed by SHA-256 padding for an 80-byte message.
    tail: [u8; 64],
}

impl Midstate {
    /// Prepares the midstate of `header` (its 80 encoded bytes).
    pub fn new(header: &[u8; 80]) -> Self {
        let mut state = SHA256_IV;
        let mut first = [0u8; 64];
        first.copy_from_slice(&header[..64]);
        sha2::block_api::compress256(&mut state, &[first]);
        let mut tail = [0u8; 64];
        tail[..16].copy_from_slice(&header[64..]);
        tail[16] = 0x80;
        tail[56..].copy_from_slice(&(80u64 * 8).to_be_bytes());
        Self { state, tail }
    }

    /// The raw state words (for hand-written kernels that start from it).
    pub fn state(&self) -> [u32; 8] {
        self.state
    }

    /// The second 64-byte block, with the nonce at bytes 12..16 (little-endian).
    pub fn tail(&self) -> [u8; 64] {
        self.tail
    }

    /// sha256d of the header with its nonce (bytes 76..80) replaced by `nonce`.
    pub fn hash_with_nonce(&self, nonce: u32) -> [u8; 32] {
        let mut tail = self.tail;
        tail[12..16].copy_from_slice(&nonce.to_le_bytes());
        let mut inner = self.state;
        sha2::block_api::compress256(&mut inner, &[tail]);
        finish_double(&inner)
    }
}

/// The outer SHA-256 of sha256d, given the inner hash's final state.
fn finish_double(inner: &[u32; 8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    for (chunk, word) in block[..32].chunks_exact_mut(4).zip(inner) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    block[32] = 0x80;
    block[56..].copy_from_slice(&(32u64 * 8).to_be_bytes());
    let mut outer = SHA256_IV;
    sha2::block_api::compress256(&mut outer, &[block]);
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(outer) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// A string is not the 64 lowercase-or-uppercase hex digits of a 32-byte hash.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("expected 64 hex digits for a 32-byte hash")]
pub struct ParseHashError;

/// Declares a 32-byte hash newtype with hex display, parsing, serde and encoding.
macro_rules! hash_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name([u8; 32]);

        impl $name {
            /// All zero bytes: the "no parent" of genesis, the null outpoint's txid.
            pub const ZERO: Self = Self([0u8; 32]);

            pub const fn from_byte_array(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            pub const fn to_byte_array(self) -> [u8; 32] {
                self.0
            }

            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// The sha256d of `data` as this kind of hash.
            pub fn hash(data: &[u8]) -> Self {
                Self(sha256d(data))
            }
        }

        hex_bytes_newtype!($name, 32, ParseHashError, |_| ParseHashError);
    };
}

hash_newtype!(
    /// sha256d of an 80-byte block header.
    BlockHash
);
hash_newtype!(
    /// sha256d of a transaction *without* its witnesses (public keys and signatures), so a
    /// third party cannot change it: outpoints refer to transactions by txid.
    Txid
);
hash_newtype!(
    /// sha256d of a transaction's full encoding, witnesses included; the merkle tree's leaves.
    Wtxid
);
hash_newtype!(
    /// A node of a merkle tree, and its root in a block header.
    MerkleRoot
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256d_of_empty_input_matches_the_known_value() {
        // sha256(sha256("")), as published with Bitcoin's test suite.
        assert_eq!(
            hex::encode(sha256d(b"")),
            "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456"
        );
    }

    #[test]
    fn hash160_of_bitcoins_genesis_key_is_its_address_payload() {
        let uncompressed = hex::decode(concat!(
            "04678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb6",
            "49f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5f"
        ))
        .unwrap();
        assert_eq!(
            hex::encode(hash160(&uncompressed)),
            "62e907b15cbf27d5425399ebf6f0fb50ebb88f18"
        );
    }

    #[test]
    fn midstate_hash_equals_sha256d_for_every_nonce_tried() {
        let mut header = [0u8; 80];
        for (b, i) in header.iter_mut().zip(0u8..) {
            *b = i.wrapping_mul(37).wrapping_add(11);
        }
        let midstate = Midstate::new(&header);
        for nonce in [0, 1, 0xdead_beef, u32::MAX] {
            header[76..].copy_from_slice(&nonce.to_le_bytes());
            assert_eq!(midstate.hash_with_nonce(nonce), sha256d(&header));
        }
    }

    #[test]
    fn hashes_print_and_parse_as_hex_in_byte_order() {
        let mut bytes = [0u8; 32];
        bytes[31] = 0xab;
        let hash = BlockHash::from_byte_array(bytes);
        let text = hash.to_string();
        assert!(text.starts_with("0000") && text.ends_with("ab"));
        assert_eq!(text.parse::<BlockHash>(), Ok(hash));
        assert_eq!("abc".parse::<BlockHash>(), Err(ParseHashError));
        assert_eq!(
            format!("{}zz", &text[..62]).parse::<BlockHash>(),
            Err(ParseHashError)
        );
    }
}
