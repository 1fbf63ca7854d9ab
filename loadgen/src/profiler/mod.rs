//! The profiler: collectors sample host, service and server metrics at 1 s on the run's
//! timeline; the analysis turns the timeline and the run's summary into a verdict (which tier
//! saturated first, with evidence) and a recommendation (the next scaling stage).

pub mod analysis;
pub mod collect;
pub use loadgen_model::timeline as model;
pub mod sampler;
pub mod session;

pub use model::{BoxInfo, Evidence, FaultFinding, Knee, Recommendation, TierFigures, Timeline, Verdict};
