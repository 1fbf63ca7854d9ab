//! scaleloop's open-model load engine: a scenario's arrival schedule, sent on time whatever
//! the target does, with latency measured from each request's intended send time.
//!
//! Depends on the data model only (`loadgen-model`); knows nothing of stages, profiling or
//! reports.
//!
//! - [`scenario`]: the scenario file (load curve, mix, keys, SLOs, faults as written); [`shape`]
//!   its rate curves; [`schedule`] the seeded, exactly-integrated arrival schedule and its
//!   split over distributed workers.
//! - [`keys`]: the Zipf key space, the operation mix and write bodies; [`requests`]: the API's
//!   URLs and replies.
//! - [`pacer`]: hands out arrivals at their intended instants; [`http1`]: the connection pool;
//!   [`attack`]: the sending loop on Goose; [`verify`]: read-back of acknowledged writes.
//! - [`recorder`]: per-second HdrHistograms; [`summarize`]: recordings → the run's summary.
//! - [`cpu`]: the generator's own CPU; [`progress`]: the terminal's progress bar;
//!   [`redact`]: secrets out of anything printed; [`fault_spec`]: a scenario's `[[faults]]`.

pub mod attack;
pub mod cpu;
pub mod fault_spec;
pub mod http1;
pub mod keys;
pub mod pacer;
pub mod progress;
pub mod recorder;
pub mod redact;
pub mod requests;
pub mod scenario;
pub mod schedule;
pub mod shape;
pub mod summarize;
pub mod verify;
