//! CloudWatch as a collector: nothing live (CloudWatch's points arrive minutes after the
//! second they describe), everything by backfill once the run is over: the deployment's
//! queries over the run's window at the period CloudWatch's rules allow.

use async_trait::async_trait;
use std::collections::BTreeMap;

use super::{Backfill, CollectError, Collector};
use crate::cloudwatch::{period, query::Query, CloudWatchError, CloudWatchOptions, CloudWatchSource};

pub struct CloudWatchCollector {
    options: CloudWatchOptions,
    queries: Vec<Query>,
    /// A client given by the caller (tests), else one is made from the SDK's default chain.
    source: Option<CloudWatchSource>,
}

impl CloudWatchCollector {
    pub fn new(options: CloudWatchOptions, queries: Vec<Query>, source: Option<CloudWatchSource>) -> Self {
        Self { options, queries, source }
    }

    async fn pull(&mut self, start: i64, end: i64, now: i64) -> Result<Backfill, CloudWatchError> {
        let window = period::choose(start, end, now, i64::from(self.options.deployment.native_period_s()))?;
        let source = match self.source.take() {
            Some(s) => s,
            None => {
                let file = self.options.file.display().to_string();
                CloudWatchSource::connect(&self.options.deployment, &file, self.options.endpoint_url.as_deref()).await?
            }
        };
        let series = source.fetch(&self.queries, &window).await;
        self.source = Some(source);
        Ok(Backfill {
            period_s: window.period_s,
            window: [window.start, window.end],
            notes: window.notes,
            series: series?,
        })
    }
}

#[async_trait]
impl Collector for CloudWatchCollector {
    fn name(&self) -> &'static str {
        "cloudwatch"
    }

    async fn sample(&mut self, _elapsed_s: f64) -> Result<BTreeMap<String, f64>, CollectError> {
        Ok(BTreeMap::new())
    }

    async fn backfill(&mut self, start: i64, end: i64, now: i64) -> Result<Option<Backfill>, CollectError> {
        self.pull(start, end, now).await.map(Some).map_err(|e| CollectError::Backfill(Box::new(e)))
    }
}
