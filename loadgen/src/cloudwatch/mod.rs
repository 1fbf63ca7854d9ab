//! CloudWatch for a run: the client, queries and alignment are `loadgen_probes::cloudwatch`'s
//! (re-exported here); [`pull`] ties them to a run directory (after a run with `--cloudwatch
//! FILE`, and for `loadgen report <run-dir> --cloudwatch FILE`) and [`command`] is the
//! `report --cloudwatch` subcommand.

pub mod command;
pub mod pull;

pub use loadgen_probes::cloudwatch::*;
pub use pull::PullOutcome;
