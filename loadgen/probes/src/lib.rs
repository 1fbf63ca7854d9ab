//! scaleloop's probes: what the profiler samples once a second while a run goes on, and what
//! it backfills after it, each source one collector behind the small [`collect::Collector`]
//! trait (host and cgroup CPU against quotas, steal, the service's `/metrics`, PostgreSQL,
//! Redis, HAProxy, server processes; CloudWatch by backfill).
//!
//! - [`collect`]: the collectors; [`sampler`]: runs them at 1 s onto a `Timeline`.
//! - [`cloudwatch`]: a deployment's description, the signal queries, the SDK client and the
//!   alignment of CloudWatch's points onto the run's seconds.
//!
//! Depends on the data model, the generator (its own CPU) and the topology (cgroups).

pub mod cloudwatch;
pub mod collect;
pub mod sampler;
