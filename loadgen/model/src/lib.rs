//! scaleloop's data model: what a run leaves behind, and nothing that produces it.
//!
//! The leaf of the harness: every other crate reads these types and this one imports none of
//! them (serde, schemars and hdrhistogram only).
//!
//! - [`summary`]: `summary.json`, the stable result of one run (its JSON Schema is generated
//!   from these types).
//! - [`timeline`]: `timeline.json`, the profiler's 1-second series and boxes, and the verdict
//!   and recommendation drawn from them.
//! - [`capacity`]: the seed's model (10 M users ↔ 40,400 req/s) and a stage's fleet.
//! - [`faults`], [`workers`], [`cloudwatch`]: the parts of a summary or timeline that faults,
//!   distributed runs and CloudWatch pulls add.
//! - [`evolve`]: `evolve.json`, the scaling loop's record.
//! - [`stages`]: the seed's scaling path, one list ([`Stage`]: ids, titles, profiles).
//! - [`tiers`]: the tiers a verdict can name ([`Tier`]).
//! - [`series`]: the timeline's series names, as constants.
//! - [`run_dir`]: the run directory: every file name in it, and reading and writing its JSON.

pub mod capacity;
pub mod cloudwatch;
pub mod evolve;
pub mod faults;
pub mod run_dir;
pub mod series;
pub mod stages;
pub mod summary;
pub mod tiers;
pub mod timeline;
pub mod workers;

pub use run_dir::{RunDir, RunDirError};
pub use stages::Stage;
pub use summary::Summary;
pub use tiers::Tier;
pub use timeline::Timeline;
