//! A run's fleet and seed-model users as the terminal prints them (the figures are
//! `loadgen_model::capacity`'s, the fleet's computation `loadgen_analysis::capacity`'s).

pub use loadgen_analysis::capacity::fleet;
pub use loadgen_model::capacity::*;
