//! The JSON shapes of the REST API, in one place: the node builds and serves them, the
//! tools (miner, wallet, monitor, cluster) read them with the same types. Serde only (and,
//! with the `full` feature, the OpenAPI schemas `/openapi.json` is generated from); nothing
//! here reads the chain or decides anything. docs/api.md describes them field by field.
//!
//! Amounts appear both as exact decimal coins ([`Coins`]) and as integer base units; a
//! client that computes should read the units.

pub mod address;
pub mod chain;
pub mod dev;
pub mod mining;
pub mod node;
pub mod peers;
pub mod tx;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::primitives::{Address, Amount, BlockHash, Height, Work};

/// An exact decimal number of coins in JSON: `12.50000000`, never a rounded float.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coins(pub Amount);

impl Serialize for Coins {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw = RawValue::from_string(self.0.to_string()).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Coins {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        Amount::from_coins_str(raw.get())
            .map(Coins)
            .map_err(serde::de::Error::custom)
    }
}

/// A signed exact decimal number of coins (a net change): `-1.25000000`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedCoins(pub i64);

impl Serialize for SignedCoins {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (units, coin) = (self.0.unsigned_abs(), Amount::COIN_UNITS);
        let sign = if self.0 < 0 { "-" } else { "" };
        let text = format!("{sign}{}.{:08}", units / coin, units % coin);
        let raw = RawValue::from_string(text).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for SignedCoins {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        let text = raw.get();
        let (negative, magnitude) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let units = Amount::from_coins_str(magnitude)
            .map_err(serde::de::Error::custom)?
            .units();
        let units = i64::try_from(units).map_err(serde::de::Error::custom)?;
        Ok(SignedCoins(if negative { -units } else { units }))
    }
}

/// A block as listed.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct BlockSummary {
    #[cfg_attr(feature = "full", schema(value_type = String))]
    pub hash: BlockHash,
    #[cfg_attr(feature = "full", schema(value_type = u32))]
    pub height: Height,
    #[cfg_attr(feature = "full", schema(value_type = String))]
    pub previous_hash: BlockHash,
    pub merkle_root: String,
    pub time: u32,
    pub bits: String,
    pub nonce: u32,
    pub version: u32,
    pub tx_count: Option<usize>,
    pub size: Option<usize>,
    #[cfg_attr(feature = "full", schema(value_type = Option<String>))]
    pub miner_address: Option<Address>,
    #[cfg_attr(feature = "full", schema(value_type = String))]
    pub chain_work: Work,
    pub difficulty: f64,
    pub confirmations: u32,
    /// `main`, `side` or `invalid`.
    pub status: String,
    /// The 80-byte header, for clients that check proof of work and merkle proofs.
    pub header_hex: String,
}

/// Where a transaction stands.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct TxStatus {
    pub confirmed: bool,
    pub block_height: Option<u32>,
    pub block_hash: Option<String>,
    pub block_time: Option<u32>,
    pub confirmations: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct InputView {
    pub txid: String,
    pub vout: u32,
    pub pubkey: String,
    pub signature: String,
    pub address: Option<String>,
    #[cfg_attr(feature = "full", schema(value_type = Option<f64>))]
    pub amount: Option<Coins>,
    pub amount_units: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct OutputView {
    pub vout: u32,
    pub address: String,
    #[cfg_attr(feature = "full", schema(value_type = f64))]
    pub amount: Coins,
    pub amount_units: u64,
}

/// A transaction with what the node knows about it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "full", derive(utoipa::ToSchema))]
pub struct TxView {
    pub txid: String,
    pub wtxid: String,
    pub version: u32,
    pub lock_time: u32,
    pub size: usize,
    pub is_coinbase: bool,
    #[cfg_attr(feature = "full", schema(value_type = Option<f64>))]
    pub fee: Option<Coins>,
    pub fee_units: Option<u64>,
    pub inputs: Vec<InputView>,
    pub outputs: Vec<OutputView>,
    pub status: TxStatus,
    /// The canonical encoding, for clients that check what they are told.
    pub hex: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(value: impl Serialize) -> String {
        serde_json::to_string(&value).unwrap()
    }

    #[test]
    fn coin_amounts_serialize_as_exact_decimals() {
        assert_eq!(
            json(Coins(Amount::from_units(1_250_000_001).unwrap())),
            "12.50000001"
        );
        assert_eq!(json(SignedCoins(-125_000_000)), "-1.25000000");
        assert_eq!(json(SignedCoins(0)), "0.00000000");
        assert_eq!(json(SignedCoins(i64::MIN)), "-92233720368.54775808");
    }

    #[test]
    fn coin_amounts_read_back_exactly() {
        let coins: Coins = serde_json::from_str("12.50000001").unwrap();
        assert_eq!(coins, Coins(Amount::from_units(1_250_000_001).unwrap()));
        let net: SignedCoins = serde_json::from_str("-1.25000000").unwrap();
        assert_eq!(net, SignedCoins(-125_000_000));
        assert!(serde_json::from_str::<Coins>("\"1.0\"").is_err());
    }
}
