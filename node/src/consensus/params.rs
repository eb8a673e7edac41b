//! Network parameters: the `dev`, `test` and `main` presets.
//!
//! Every consensus constant lives here, in one struct, so that a rule never hides a magic
//! number and tests can run the same rules with other values.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::primitives::{Amount, BlockHash, CompactTarget, Target};

use super::asert::AsertParams;
use super::genesis;

/// Which chain a node follows. Each has its own genesis block, so its own sighashes: a
/// transaction signed for one network is invalid on every other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// Local development (`just cluster`): 10 s blocks, an easy pow limit, maturity 10.
    Dev,
    /// A public test network: main's rules with an easier pow limit.
    Test,
    /// The main network.
    Main,
}

impl Network {
    pub const ALL: [Network; 3] = [Network::Dev, Network::Test, Network::Main];

    pub fn as_str(self) -> &'static str {
        match self {
            Network::Dev => "dev",
            Network::Test => "test",
            Network::Main => "main",
        }
    }

    pub fn params(self) -> &'static Params {
        match self {
            Network::Dev => &DEV,
            Network::Test => &TEST,
            Network::Main => &MAIN,
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown network {0:?}: expected dev, test or main")]
pub struct UnknownNetwork(pub String);

impl FromStr for Network {
    type Err = UnknownNetwork;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Network::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| UnknownNetwork(s.to_owned()))
    }
}

/// The fixed fields of a network's genesis block; the rest is derived (see `genesis`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenesisSpec {
    pub time: u32,
    /// The first nonce whose hash meets the pow limit, found once and checked by a test.
    pub nonce: u32,
    /// Text committed in the genesis coinbase.
    pub message: &'static str,
}

/// The consensus rules' constants for one network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub network: Network,
    /// The ideal number of seconds between blocks.
    pub target_spacing: u32,
    /// ASERT's half-life in seconds (see `asert`).
    pub asert_half_life: u32,
    /// The easiest target a block may have; genesis and block 1 have exactly this.
    pub pow_limit: CompactTarget,
    /// Blocks after which a coinbase output may be spent.
    pub coinbase_maturity: u32,
    /// Blocks between subsidy halvings.
    pub halving_interval: u32,
    pub initial_subsidy: Amount,
    /// The largest serialized block, in bytes.
    pub max_block_size: usize,
    /// How far ahead of the node's clock a block's time may be, in seconds.
    pub max_future_block_time: u32,
    pub genesis: GenesisSpec,
}

/// How many blocks the median-time-past looks back over.
pub const MEDIAN_TIME_SPAN: usize = 11;

const FIFTY_COINS: Amount = Amount::coins(50);

/// 2026-01-01T00:00:00Z.
const NEW_YEAR_2026: u32 = 1_767_225_600;

pub static DEV: Params = Params {
    network: Network::Dev,
    target_spacing: 10,
    asert_half_life: 60,
    pow_limit: CompactTarget::from_consensus(0x207f_ffff),
    coinbase_maturity: 10,
    halving_interval: 1_000,
    initial_subsidy: FIFTY_COINS,
    max_block_size: 1 << 20,
    max_future_block_time: 2 * 60 * 60,
    genesis: GenesisSpec {
        time: NEW_YEAR_2026,
        nonce: 0,
        message: "ChainCore dev genesis, 2026-01-01",
    },
};

pub static TEST: Params = Params {
    network: Network::Test,
    target_spacing: 60,
    asert_half_life: 60 * 60,
    pow_limit: CompactTarget::from_consensus(0x1f00_ffff),
    coinbase_maturity: 100,
    halving_interval: 210_000,
    initial_subsidy: FIFTY_COINS,
    max_block_size: 1 << 20,
    max_future_block_time: 2 * 60 * 60,
    genesis: GenesisSpec {
        time: NEW_YEAR_2026,
        nonce: 98_418,
        message: "ChainCore test genesis, 2026-01-01",
    },
};

pub static MAIN: Params = Params {
    network: Network::Main,
    target_spacing: 60,
    asert_half_life: 4 * 60 * 60,
    pow_limit: CompactTarget::from_consensus(0x1e0f_ffff),
    coinbase_maturity: 100,
    halving_interval: 210_000,
    initial_subsidy: FIFTY_COINS,
    max_block_size: 1 << 20,
    max_future_block_time: 2 * 60 * 60,
    genesis: GenesisSpec {
        time: 1_795_564_800, // 2026-11-25T00:00:00Z
        nonce: 489_637,
        message: "ChainCore main genesis, 2026-11-25: correct first, then fast",
    },
};

impl Params {
    pub fn pow_limit_target(&self) -> Target {
        self.pow_limit
            .to_target()
            .expect("every preset's pow limit is a valid target")
    }

    pub fn asert(&self) -> AsertParams {
        AsertParams {
            spacing: i64::from(self.target_spacing),
            half_life: i64::from(self.asert_half_life),
            pow_limit: self.pow_limit_target(),
        }
    }

    pub fn genesis_block(&self) -> &'static crate::primitives::Block {
        genesis::genesis_block(self.network)
    }

    pub fn genesis_hash(&self) -> BlockHash {
        genesis::genesis_hash(self.network)
    }
}
