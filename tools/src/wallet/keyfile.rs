//! The wallet's key file: one secp256k1 key, encrypted with a passphrase.
//!
//! ```json
//! {"format":"chaincore-wallet/1","address":"1...","public_key":"02...",
//!  "kdf":{"name":"argon2id","m_cost_kib":19456,"t_cost":2,"p_cost":1,"salt":"<16 bytes hex>"},
//!  "cipher":"xchacha20poly1305","nonce":"<24 bytes hex>","ciphertext":"<48 bytes hex>"}
//! ```
//!
//! The passphrase goes through argon2id (memory-hard, with the parameters stored in the file)
//! to a 256-bit key; XChaCha20-Poly1305 encrypts the 32-byte secret, authenticating the address
//! and public key as associated data, so a file whose address was edited does not unlock. The
//! address and public key stay readable without the passphrase (the miner pays to a wallet
//! file without unlocking it).
//!
//! A key file is written once: [`KeyFile::write_new`] refuses an existing path and creates the
//! file with mode 0600. Nothing here ever rewrites or deletes one.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chaincore::primitives::{Address, PrivateKey};
use serde::{Deserialize, Serialize};

/// The format tag of the files this version writes and reads.
pub const FORMAT: &str = "chaincore-wallet/1";

/// argon2id cost: OWASP's recommendation (19 MiB, 2 passes, 1 lane), about 50 ms here.
const M_COST_KIB: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
/// Costs above these are refused when reading, so a hostile file cannot exhaust memory.
const MAX_M_COST_KIB: u32 = 1024 * 1024;
const MAX_T_COST: u32 = 64;

/// Why a key file could not be written, read or unlocked.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{path} already exists: a wallet file is never overwritten")]
    Exists { path: String },
    #[error("cannot {action} {path}: {reason}")]
    Io {
        action: &'static str,
        path: String,
        reason: String,
    },
    #[error("{path} is not a ChainCore wallet file: {reason}")]
    Malformed { path: String, reason: String },
    #[error("wrong passphrase for {path}")]
    WrongPassphrase { path: String },
    #[error("the passphrase is empty")]
    EmptyPassphrase,
}

/// argon2id's parameters and salt, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub name: String,
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
    pub salt: String,
}

/// A key file's contents; the secret inside stays encrypted until [`KeyFile::unlock`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFile {
    pub format: String,
    pub address: String,
    pub public_key: String,
    pub kdf: KdfParams,
    pub cipher: String,
    pub nonce: String,
    pub ciphertext: String,
}

impl KeyFile {
    /// Encrypts `key` under `passphrase` with a fresh salt and nonce.
    pub fn seal(key: &PrivateKey, passphrase: &str) -> Result<Self, KeyFileError> {
        if passphrase.is_empty() {
            return Err(KeyFileError::EmptyPassphrase);
        }
        let (salt, nonce) = (random::<16>(), random::<24>());
        let kdf = KdfParams {
            name: "argon2id".into(),
            m_cost_kib: M_COST_KIB,
            t_cost: T_COST,
            p_cost: P_COST,
            salt: hex::encode(salt),
        };
        let mut file = Self {
            format: FORMAT.into(),
            address: key.address().to_string(),
            public_key: key.public_key().to_string(),
            kdf,
            cipher: "xchacha20poly1305".into(),
            nonce: hex::encode(nonce),
            ciphertext: String::new(),
        };
        let cipher = file
            .cipher_for(passphrase)
            .expect("our own parameters are valid");
        let associated = file.associated_data();
        let payload = Payload {
            msg: &key.to_bytes(),
            aad: associated.as_bytes(),
        };
        let sealed = cipher
            .encrypt(&XNonce::from(nonce), payload)
            .expect("encryption of 32 bytes cannot fail");
        file.ciphertext = hex::encode(sealed);
        Ok(file)
    }

    /// The private key, if `passphrase` is the one the file was sealed with.
    pub fn unlock(&self, passphrase: &str, path: &Path) -> Result<PrivateKey, KeyFileError> {
        let malformed = |reason: &str| KeyFileError::Malformed {
            path: path.display().to_string(),
            reason: reason.into(),
        };
        let cipher = self
            .cipher_for(passphrase)
            .map_err(|reason| malformed(&reason))?;
        let nonce: [u8; 24] =
            decode_hex(&self.nonce).ok_or_else(|| malformed("nonce is not 24 bytes of hex"))?;
        let sealed =
            hex::decode(&self.ciphertext).map_err(|_| malformed("ciphertext is not hex"))?;
        let associated = self.associated_data();
        let payload = Payload {
            msg: &sealed,
            aad: associated.as_bytes(),
        };
        let secret = cipher.decrypt(&XNonce::from(nonce), payload).map_err(|_| {
            KeyFileError::WrongPassphrase {
                path: path.display().to_string(),
            }
        })?;
        let secret: [u8; 32] = secret
            .try_into()
            .map_err(|_| malformed("the secret is not 32 bytes"))?;
        let key = PrivateKey::from_bytes(&secret)
            .map_err(|_| malformed("the secret is not a valid key"))?;
        if key.address().to_string() != self.address {
            return Err(malformed("the key does not match the address"));
        }
        Ok(key)
    }

    /// The address the file pays to, checked.
    pub fn address(&self, path: &Path) -> Result<Address, KeyFileError> {
        self.address.parse().map_err(|e| KeyFileError::Malformed {
            path: path.display().to_string(),
            reason: format!("invalid address {:?}: {e}", self.address),
        })
    }

    /// Reads a key file (without unlocking it).
    pub fn read(path: &Path) -> Result<Self, KeyFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| KeyFileError::Io {
            action: "read",
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let file: Self = serde_json::from_str(&text).map_err(|e| KeyFileError::Malformed {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        if file.format != FORMAT {
            return Err(KeyFileError::Malformed {
                path: shown,
                reason: format!("unknown format {:?}", file.format),
            });
        }
        file.address(path)?;
        Ok(file)
    }

    /// Writes the file at `path`, which must not exist yet, readable by its owner only.
    pub fn write_new(&self, path: &Path) -> Result<(), KeyFileError> {
        let shown = path.display().to_string();
        let io = |action| {
            move |e: std::io::Error| KeyFileError::Io {
                action,
                path: path.display().to_string(),
                reason: e.to_string(),
            }
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    KeyFileError::Exists {
                        path: shown.clone(),
                    }
                } else {
                    io("create")(e)
                }
            })?;
        let text = serde_json::to_string_pretty(self).expect("a key file serializes");
        file.write_all(format!("{text}\n").as_bytes())
            .map_err(io("write"))?;
        file.sync_all().map_err(io("sync"))
    }

    /// What the AEAD authenticates besides the secret.
    fn associated_data(&self) -> String {
        format!("{}|{}|{}", self.format, self.address, self.public_key)
    }

    /// The AEAD keyed by argon2id(passphrase, salt) with the file's parameters.
    fn cipher_for(&self, passphrase: &str) -> Result<XChaCha20Poly1305, String> {
        let kdf = &self.kdf;
        if kdf.name != "argon2id" || self.cipher != "xchacha20poly1305" {
            return Err(format!(
                "unsupported kdf {:?} or cipher {:?}",
                kdf.name, self.cipher
            ));
        }
        if kdf.m_cost_kib > MAX_M_COST_KIB || kdf.t_cost > MAX_T_COST {
            return Err("kdf costs are implausibly high".into());
        }
        let salt = hex::decode(&kdf.salt).map_err(|_| "salt is not hex".to_owned())?;
        let params = Params::new(kdf.m_cost_kib, kdf.t_cost, kdf.p_cost, Some(32))
            .map_err(|e| format!("kdf parameters: {e}"))?;
        let mut key = [0u8; 32];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase.as_bytes(), &salt, &mut key)
            .map_err(|e| format!("kdf: {e}"))?;
        XChaCha20Poly1305::new_from_slice(&key).map_err(|e| e.to_string())
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random number generator");
    bytes
}

fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    hex::decode(text).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_sealed_key_unlocks_with_its_passphrase_only() {
        let key = PrivateKey::generate();
        let file = KeyFile::seal(&key, "correct horse").unwrap();
        let path = Path::new("w.json");
        assert_eq!(
            file.unlock("correct horse", path).unwrap().to_bytes(),
            key.to_bytes()
        );
        assert!(matches!(
            file.unlock("battery staple", path),
            Err(KeyFileError::WrongPassphrase { .. })
        ));
        assert!(!file.ciphertext.contains(&hex::encode(key.to_bytes())));
    }

    #[test]
    fn an_edited_address_does_not_unlock() {
        let file = KeyFile::seal(&PrivateKey::generate(), "pw").unwrap();
        let other = KeyFile {
            address: PrivateKey::generate().address().to_string(),
            ..file
        };
        assert!(other.unlock("pw", Path::new("w.json")).is_err());
    }

    #[test]
    fn empty_passphrases_are_refused() {
        assert!(matches!(
            KeyFile::seal(&PrivateKey::generate(), ""),
            Err(KeyFileError::EmptyPassphrase)
        ));
    }

    #[test]
    fn files_are_created_0600_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.json");
        let file = KeyFile::seal(&PrivateKey::generate(), "pw").unwrap();
        file.write_new(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let before = std::fs::read(&path).unwrap();
        let second = KeyFile::seal(&PrivateKey::generate(), "pw").unwrap();
        assert!(matches!(
            second.write_new(&path),
            Err(KeyFileError::Exists { .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(KeyFile::read(&path).unwrap(), file);
    }
}
