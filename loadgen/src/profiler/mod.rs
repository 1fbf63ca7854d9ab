//! The profiler: collectors sample host, service and server metrics at 1 s on the run's
//! timeline; the analysis turns the timeline and the run's summary into a verdict (which tier
//! saturated first, with evidence) and a recommendation (the next scaling stage).

pub use loadgen_analysis as analysis;
pub use loadgen_model::timeline as model;
pub use loadgen_probes::collect;
pub use loadgen_probes::sampler;
pub mod session;

pub use model::{BoxInfo, Evidence, FaultFinding, Knee, Recommendation, TierFigures, Timeline, Verdict};
