//! Golden vectors, kept as files in `tests/data/`: if one of these fails, the encoding or a
//! hash changed, and with it every block and transaction ever made.

use chaincore::consensus::{Network, check_block, pow::check_proof_of_work};
use chaincore::primitives::{
    Address, AddressError, Block, BlockHash, BlockHeader, PublicKeyBytes, Transaction, Txid, Wtxid,
    decode, encode,
};
use serde_json::Value;

fn data(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

fn bytes(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(text(v, key)).unwrap()
}

#[test]
fn header_bytes_hash_to_the_golden_block_hash() {
    for v in data("headers.json")["vectors"].as_array().unwrap() {
        let raw = bytes(v, "header_hex");
        let header: BlockHeader = decode(&raw).unwrap();
        assert_eq!(
            header.block_hash(),
            text(v, "hash").parse::<BlockHash>().unwrap(),
            "{}",
            v["name"]
        );
        assert_eq!(u64::from(header.time), v["time"].as_u64().unwrap());
        assert_eq!(u64::from(header.nonce), v["nonce"].as_u64().unwrap());
        assert_eq!(header.bits.to_string(), text(v, "bits"));
        assert_eq!(encode(&header), raw, "re-encoding must give the same bytes");
    }
}

#[test]
fn each_genesis_block_is_the_golden_one_and_has_real_proof_of_work() {
    let vectors = &data("genesis.json")["networks"];
    for network in Network::ALL {
        let v = &vectors[network.as_str()];
        let params = network.params();
        let genesis = params.genesis_block();
        assert_eq!(
            hex::encode(encode(genesis)),
            text(v, "block_hex"),
            "{network}"
        );
        assert_eq!(
            genesis.block_hash().to_string(),
            text(v, "hash"),
            "{network}"
        );
        assert_eq!(&decode::<Block>(&bytes(v, "block_hex")).unwrap(), genesis);
        check_proof_of_work(&genesis.header, params).unwrap();
        check_block(genesis, params).unwrap();
    }
}

#[test]
fn genesis_nonces_are_the_first_that_meet_the_pow_limit() {
    for network in Network::ALL {
        let params = network.params();
        let mut header = params.genesis_block().header;
        header.nonce = 0;
        assert!(chaincore::consensus::pow::solve_header(
            &mut header,
            1 << 32
        ));
        assert_eq!(
            header.nonce, params.genesis.nonce,
            "{network}: built deterministically"
        );
    }
}

#[test]
fn transaction_bytes_give_the_golden_txid_and_wtxid() {
    for v in data("transactions.json")["vectors"].as_array().unwrap() {
        let raw = bytes(v, "hex");
        let tx: Transaction = decode(&raw).unwrap();
        assert_eq!(
            tx.txid(),
            text(v, "txid").parse::<Txid>().unwrap(),
            "{}",
            v["name"]
        );
        assert_eq!(
            tx.wtxid(),
            text(v, "wtxid").parse::<Wtxid>().unwrap(),
            "{}",
            v["name"]
        );
        assert_eq!(tx.is_coinbase(), v["is_coinbase"].as_bool().unwrap());
        assert_eq!(encode(&tx), raw);
    }
}

#[test]
fn the_golden_spend_is_validly_signed_for_dev() {
    let vectors = data("transactions.json");
    let spend: Transaction = decode(&bytes(&vectors["vectors"][1], "hex")).unwrap();
    let digest = chaincore::consensus::sighash::sighash(
        &Network::Dev.params().genesis_hash(),
        &spend.txid(),
        0,
    );
    let witness = spend.inputs[0].witness;
    assert_eq!(witness.signature.verify(&witness.pubkey, &digest), Ok(()));
}

#[test]
fn a_known_public_key_gives_its_published_address() {
    for v in data("addresses.json")["from_public_key"]
        .as_array()
        .unwrap()
    {
        let pubkey: PublicKeyBytes = text(v, "pubkey").parse().unwrap();
        let address = Address::from_public_key(&pubkey);
        assert_eq!(address.to_string(), text(v, "address"), "{}", v["source"]);
        assert_eq!(text(v, "address").parse::<Address>(), Ok(address));
        if let Some(hash) = v["pubkey_hash"].as_str() {
            assert_eq!(hex::encode(address.pubkey_hash().to_byte_array()), hash);
        }
    }
}

#[test]
fn the_genesis_coinbase_address_parses_and_its_broken_twins_do_not() {
    let vectors = data("addresses.json");
    for valid in vectors["valid"].as_array().unwrap() {
        let text = valid.as_str().unwrap();
        assert_eq!(text.parse::<Address>().unwrap().to_string(), text);
    }
    for v in vectors["invalid"].as_array().unwrap() {
        let error = text(v, "address").parse::<Address>().unwrap_err();
        let matches = match text(v, "error") {
            "checksum" => error == AddressError::BadChecksum,
            "version" => error == AddressError::WrongVersion(5),
            "length" => matches!(error, AddressError::WrongLength(_)),
            "base58" => matches!(error, AddressError::Base58(_)),
            "too_short" => error == AddressError::TooShort,
            other => panic!("unknown error kind {other}"),
        };
        assert!(
            matches,
            "{}: got {error:?} ({})",
            text(v, "address"),
            text(v, "why")
        );
    }
}
