//! Block templates handed to miners: numbered, remembered (the last
//! 128) so that a compact submission, a solved header for template N, can be
//! rebuilt, and timed from issue to submission for the mining statistics.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use super::{Node, unix_now};
use crate::ledger::TxSubmitError;
use crate::mempool::BlockTemplate;
use crate::primitives::{Address, BlockHash, Height};
use crate::storage::MiningRecord;

/// Templates remembered for `submit_block` by id.
const TEMPLATES_KEPT: usize = 128;

/// A template handed to a miner, kept to rebuild compact submissions.
#[derive(Clone, Debug)]
struct IssuedTemplate {
    template: BlockTemplate,
    issued: Instant,
}

/// The templates issued, newest last.
#[derive(Debug, Default)]
pub(super) struct TemplateBook {
    last_id: u64,
    order: VecDeque<u64>,
    issued: HashMap<u64, IssuedTemplate>,
}

impl TemplateBook {
    /// The id of the next template.
    fn reserve(&mut self) -> u64 {
        self.last_id += 1;
        self.last_id
    }

    /// Remembers `template` under `id`, forgetting the oldest beyond [`TEMPLATES_KEPT`].
    fn keep(&mut self, id: u64, template: BlockTemplate) {
        let issued = Instant::now();
        self.order.push_back(id);
        self.issued.insert(id, IssuedTemplate { template, issued });
        while self.order.len() > TEMPLATES_KEPT {
            if let Some(old) = self.order.pop_front() {
                self.issued.remove(&old);
            }
        }
    }
}

impl Node {
    /// A block template paying `payout`, remembered under the returned id.
    pub async fn issue_template(
        &self,
        payout: &Address,
    ) -> Result<(u64, BlockTemplate), TxSubmitError> {
        self.issue_template_at(payout, unix_now()).await
    }

    /// [`Node::issue_template`] for a block stamped no earlier than `time` (Unix seconds).
    pub async fn issue_template_at(
        &self,
        payout: &Address,
        time: u64,
    ) -> Result<(u64, BlockTemplate), TxSubmitError> {
        let id = self.templates.lock().expect("not poisoned").reserve();
        let template = {
            let ledger = self.ledger().await?;
            ledger.template(
                payout,
                time,
                id,
                format!("chaincore/{}", self.info.node_id).as_bytes(),
            )?
        };
        let kept = template.clone();
        self.templates.lock().expect("not poisoned").keep(id, kept);
        Ok((id, template))
    }

    /// A template issued earlier, if still remembered.
    pub fn template(&self, id: u64) -> Option<BlockTemplate> {
        let book = self.templates.lock().expect("not poisoned");
        book.issued.get(&id).map(|t| t.template.clone())
    }

    pub(super) async fn record_mined(
        &self,
        hash: BlockHash,
        height: Height,
        time: u32,
        miner: Option<Address>,
        template_id: Option<u64>,
    ) {
        let Some(miner_address) = miner else { return };
        let elapsed = template_id.and_then(|id| {
            let book = self.templates.lock().expect("not poisoned");
            let issued = book.issued.get(&id)?.issued;
            Some(u64::try_from(issued.elapsed().as_millis()).unwrap_or(u64::MAX))
        });
        let record = MiningRecord {
            block_hash: hash,
            height,
            miner_address,
            block_time: time,
            accepted_at: unix_now(),
            template_to_submit_ms: elapsed,
        };
        if let Err(error) = self.store.record_mined_block(&record).await {
            tracing::warn!(%error, "could not record mining statistics");
        }
    }
}
