//! SeaORM entities: the tables of `chaincore-migration`, row for row. Private to the
//! adapter; nothing outside `storage` ever sees a `Model`.

// SeaORM's derives require `pub` items; the module itself is private to `storage`.
#![allow(unreachable_pub)]

pub(super) mod blocks {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "blocks")]
    pub struct Model {
        // The key is (height, hash): see the `blocks_by_height` migration.
        #[sea_orm(primary_key, auto_increment = false)]
        pub hash: Vec<u8>,
        #[sea_orm(primary_key, auto_increment = false)]
        pub height: i64,
        pub prev_hash: Vec<u8>,
        pub header: Vec<u8>,
        pub time: i64,
        pub bits: i64,
        pub nonce: i64,
        pub chain_work: Vec<u8>,
        pub status: String,
        pub main_chain: bool,
        pub sequence: i64,
        pub tx_count: Option<i32>,
        pub size: Option<i32>,
        pub miner_address: Option<String>,
        pub data: Option<Vec<u8>>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod block_undo {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "block_undo")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub block_hash: Vec<u8>,
        pub data: Vec<u8>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod transactions {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "transactions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub txid: Vec<u8>,
        pub wtxid: Vec<u8>,
        pub block_hash: Vec<u8>,
        pub height: i64,
        pub position: i32,
        pub is_coinbase: bool,
        pub fee: Option<i64>,
        pub size: i32,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod address_txs {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "address_txs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub height: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub position: i32,
        #[sea_orm(primary_key, auto_increment = false)]
        pub address: String,
        pub txid: Vec<u8>,
        pub received: i64,
        pub sent: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod explorer_index {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "explorer_index")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub tip_hash: Vec<u8>,
        pub tip_height: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod utxos {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "utxos")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub outpoint: Vec<u8>,
        pub txid: Vec<u8>,
        pub vout: i32,
        pub address: String,
        pub amount: i64,
        pub height: i64,
        pub is_coinbase: bool,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod address_balances {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "address_balances")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub address: String,
        pub balance: i64,
        pub utxo_count: i64,
        pub updated_height: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod chain_state {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "chain_state")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub network: String,
        pub tip_hash: Vec<u8>,
        pub tip_height: i64,
        pub utxo_commitment: Vec<u8>,
        pub utxo_count: i64,
        pub total_amount: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod mempool {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "mempool")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub txid: Vec<u8>,
        pub raw: Vec<u8>,
        pub fee: i64,
        pub size: i32,
        pub added_at: i64,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod mining_stats {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "mining_stats")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub block_hash: Vec<u8>,
        pub height: i64,
        pub miner_address: String,
        pub block_time: i64,
        pub accepted_at: i64,
        pub template_to_submit_ms: Option<i64>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod nodes {
    use sea_orm::entity::prelude::*;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "nodes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub peer_id: String,
        pub multiaddrs: String,
        pub rest_url: Option<String>,
        pub node_id: Option<String>,
        pub first_seen: i64,
        pub last_seen: i64,
        pub last_connected: Option<i64>,
        pub failures: i32,
        pub banned_until: Option<i64>,
    }

    impl ActiveModelBehavior for ActiveModel {}
}
