//! The wallet: an encrypted key file, and what `chaincore-wallet` does with it.
//!
//! - [`keyfile`]: the key file (argon2id + XChaCha20-Poly1305), written once with mode 0600.
//! - [`coins`]: coin selection and signed payments (pure).
//! - [`proof`]: checks a node's merkle proof against a header with valid proof of work (pure).
//! - [`remote`]: the node's answers the wallet needs, over REST.
//!
//! Amounts are [`chaincore::primitives::Amount`]s from first to last: parsed exactly from
//! decimal strings, never through floating point.

pub mod coins;
pub mod keyfile;
pub mod proof;
pub mod remote;

pub use coins::{Coin, PaymentError, Selection, build_payment, select};
pub use keyfile::{KeyFile, KeyFileError};
pub use proof::{InclusionClaim, ProofError};
pub use remote::Remote;
