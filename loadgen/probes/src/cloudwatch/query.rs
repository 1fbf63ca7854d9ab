//! The queries for a deployment: one `MetricDataQuery` per (signal, resource), with ids that
//! map answers back, split into `GetMetricData` calls of at most 500 queries (the API's limit).

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};

use super::{deployment::AwsDeployment, signals::Signal};

/// Queries per `GetMetricData` call (CloudWatch's limit).
pub const MAX_QUERIES_PER_CALL: usize = 500;

/// One metric of one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `q<n>`: CloudWatch ids must start with a lower-case letter.
    pub id: String,
    pub signal: Signal,
    pub resource: String,
}

impl Query {
    /// What a reader calls this query: `AWS/RDS CPUUtilization DBInstanceIdentifier=content-db`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} {}={} ({})",
            self.signal.namespace, self.signal.metric, self.signal.dimension, self.resource, self.signal.stat
        )
    }

    pub fn to_sdk(&self, period_s: i64) -> MetricDataQuery {
        let s = &self.signal;
        let metric = Metric::builder()
            .namespace(&s.namespace)
            .metric_name(&s.metric)
            .dimensions(Dimension::builder().name(&s.dimension).value(&self.resource).build())
            .build();
        let stat = MetricStat::builder().metric(metric).period(period_s as i32).stat(&s.stat).build();
        MetricDataQuery::builder()
            .id(&self.id)
            .label(format!("{}.{} {}", s.tier, s.series, self.resource))
            .metric_stat(stat)
            .return_data(true)
            .build()
    }
}

/// Every query the deployment asks for, in the mapping's order.
pub fn plan(deployment: &AwsDeployment, signals: &[Signal]) -> Vec<Query> {
    deployment
        .wanted(signals)
        .into_iter()
        .enumerate()
        .map(|(i, (signal, resource))| Query { id: format!("q{i}"), signal: signal.clone(), resource })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudwatch::signals;

    #[test]
    fn one_query_per_signal_and_resource_with_unique_ids() {
        let d = AwsDeployment::parse("[db_replica]\ndb_instances = [\"r1\", \"r2\"]\n").unwrap();
        let q = plan(&d, &signals::shipped());
        let per_replica = signals::shipped().iter().filter(|s| s.tier == "db_replica").count();
        assert_eq!(q.len(), 2 * per_replica);
        let ids: std::collections::BTreeSet<_> = q.iter().map(|q| q.id.clone()).collect();
        assert_eq!(ids.len(), q.len());
        let sdk = q[0].to_sdk(60);
        let stat = sdk.metric_stat().unwrap();
        assert_eq!(stat.period(), Some(60));
        assert_eq!(stat.metric().unwrap().dimensions()[0].value(), Some("r1"));
    }
}
