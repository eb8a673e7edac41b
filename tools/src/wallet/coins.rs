//! Coin selection and payment building. Pure: the caller fetched the coins.
//!
//! Selection takes the largest spendable coins first until they cover amount + fee, which
//! keeps transactions small; the rest comes back as one change output to the wallet itself.
//! Immature coinbase outputs and coins a pending transaction already spends are never used.

use chaincore::consensus::sighash::sign_all_inputs;
use chaincore::primitives::{
    Address, Amount, BlockHash, OutPoint, PrivateKey, Transaction, TxIn, TxOut, Witness,
};

/// A coin the wallet owns, as the node reported it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coin {
    pub outpoint: OutPoint,
    pub amount: Amount,
    /// A coinbase output that cannot be spent yet.
    pub immature: bool,
    /// Already spent by a transaction in the node's mempool.
    pub spent_in_mempool: bool,
}

impl Coin {
    fn spendable(&self) -> bool {
        !self.immature && !self.spent_in_mempool
    }
}

/// Why a payment cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    #[error(
        "insufficient funds: sending {amount} with fee {fee} needs {needed}, but only {spendable} \
         is spendable ({immature} more is immature coinbase, {pending} is spent by pending transactions)"
    )]
    Insufficient {
        amount: Amount,
        fee: Amount,
        needed: Amount,
        spendable: Amount,
        immature: Amount,
        pending: Amount,
    },
    #[error("the amount must be above zero")]
    ZeroAmount,
    #[error("amount + fee is above the maximum supply")]
    TooLarge,
}

/// The coins chosen for a payment and the change they leave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    pub inputs: Vec<Coin>,
    pub change: Amount,
}

/// Chooses coins worth at least `amount + fee`, largest first.
pub fn select(coins: &[Coin], amount: Amount, fee: Amount) -> Result<Selection, PaymentError> {
    if amount == Amount::ZERO {
        return Err(PaymentError::ZeroAmount);
    }
    let needed = amount.checked_add(fee).ok_or(PaymentError::TooLarge)?;
    let mut spendable: Vec<Coin> = coins.iter().copied().filter(Coin::spendable).collect();
    spendable.sort_by(|a, b| b.amount.cmp(&a.amount).then(a.outpoint.cmp(&b.outpoint)));
    let mut inputs = Vec::new();
    let mut total = Amount::ZERO;
    for coin in spendable {
        if total >= needed {
            break;
        }
        total = total
            .checked_add(coin.amount)
            .expect("the coins of one address fit in the supply");
        inputs.push(coin);
    }
    match total.checked_sub(needed) {
        Some(change) => Ok(Selection { inputs, change }),
        None => {
            let sum = |keep: fn(&Coin) -> bool| {
                Amount::checked_sum(coins.iter().filter(|c| keep(c)).map(|c| c.amount))
                    .unwrap_or(Amount::MAX)
            };
            Err(PaymentError::Insufficient {
                amount,
                fee,
                needed,
                spendable: total,
                immature: sum(|c| c.immature),
                pending: sum(|c| c.spent_in_mempool && !c.immature),
            })
        }
    }
}

/// The signed transaction paying `amount` to `to` from `selection`, change to `key`'s address.
pub fn build_payment(
    selection: &Selection,
    key: &PrivateKey,
    to: &Address,
    amount: Amount,
    genesis: &BlockHash,
) -> Transaction {
    let mut outputs = vec![TxOut::to_address(amount, to)];
    if selection.change > Amount::ZERO {
        outputs.push(TxOut::to_address(selection.change, &key.address()));
    }
    let mut tx = Transaction {
        version: Transaction::CURRENT_VERSION,
        inputs: selection
            .inputs
            .iter()
            .map(|coin| TxIn {
                previous_output: coin.outpoint,
                witness: Witness::EMPTY,
            })
            .collect(),
        outputs,
        lock_time: 0,
    };
    let keys = vec![key; tx.inputs.len()];
    sign_all_inputs(&mut tx, &keys, genesis);
    tx
}

#[cfg(test)]
mod tests {
    use chaincore::primitives::Txid;

    use super::*;

    fn coin(n: u8, units: u64) -> Coin {
        Coin {
            outpoint: OutPoint::new(Txid::from_byte_array([n; 32]), 0),
            amount: Amount::from_units(units).unwrap(),
            immature: false,
            spent_in_mempool: false,
        }
    }

    fn units(n: u64) -> Amount {
        Amount::from_units(n).unwrap()
    }

    #[test]
    fn the_largest_coins_cover_amount_and_fee_and_the_rest_is_change() {
        let coins = [coin(1, 10), coin(2, 50), coin(3, 30)];
        let chosen = select(&coins, units(60), units(5)).unwrap();
        assert_eq!(chosen.inputs, vec![coins[1], coins[2]]);
        assert_eq!(chosen.change, units(15));
        let exact = select(&coins, units(45), units(5)).unwrap();
        assert_eq!((exact.inputs.len(), exact.change), (1, Amount::ZERO));
    }

    #[test]
    fn immature_and_pending_coins_are_not_spent_and_the_error_counts_them() {
        let immature = Coin {
            immature: true,
            ..coin(1, 100)
        };
        let pending = Coin {
            spent_in_mempool: true,
            ..coin(2, 40)
        };
        let coins = [immature, pending, coin(3, 20)];
        let error = select(&coins, units(50), units(1)).unwrap_err();
        assert_eq!(
            error,
            PaymentError::Insufficient {
                amount: units(50),
                fee: units(1),
                needed: units(51),
                spendable: units(20),
                immature: units(100),
                pending: units(40),
            }
        );
        let text = error.to_string();
        assert!(
            text.contains("0.00000020 is spendable")
                && text.contains("0.00000100 more is immature"),
            "{text}"
        );
    }

    #[test]
    fn zero_and_oversized_amounts_are_refused() {
        assert_eq!(
            select(&[coin(1, 10)], Amount::ZERO, units(1)),
            Err(PaymentError::ZeroAmount)
        );
        assert_eq!(
            select(&[coin(1, 10)], Amount::MAX, units(1)),
            Err(PaymentError::TooLarge)
        );
    }

    #[test]
    fn payments_are_signed_and_pay_change_back() {
        let key = PrivateKey::generate();
        let to = PrivateKey::generate().address();
        let selection = select(&[coin(1, 1_000), coin(2, 500)], units(1_200), units(10)).unwrap();
        let tx = build_payment(
            &selection,
            &key,
            &to,
            units(1_200),
            &BlockHash::from_byte_array([7; 32]),
        );
        assert_eq!(tx.inputs.len(), 2);
        assert_eq!(
            tx.outputs,
            vec![
                TxOut::to_address(units(1_200), &to),
                TxOut::to_address(units(290), &key.address())
            ]
        );
        assert!(
            tx.inputs
                .iter()
                .all(|i| i.witness.pubkey == key.public_key())
        );
    }
}
