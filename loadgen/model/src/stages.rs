//! The seed's scaling path, one list for the whole harness: each stage's id (as the verdict's
//! recommendation and `evolve.json` name it), its title, and the profile that launches it.

/// The stages in order: `(id, title)`.
pub const STAGES: [(&str, &str); 6] = [
    ("start", "Single box"),
    ("users-plus", "Users+ : separate DB box"),
    ("users-plus-plus", "Users++ : load balancer + app fleet, DB standby"),
    ("users-plus-plus-plus", "Users+++ : cache + read replicas"),
    ("users-plus-plus-plus-plus", "Users++++ : autoscaling"),
    ("users-plus-plus-plus-plus-plus", "Users+++++ : queue + workers, sharding"),
];

/// The stage ids in order.
pub const STAGE_IDS: [&str; 6] = [STAGES[0].0, STAGES[1].0, STAGES[2].0, STAGES[3].0, STAGES[4].0, STAGES[5].0];

/// The profile (`profiles/<name>.toml`) that launches a stage: the first is `single-box`.
pub fn profile_of(stage: &str) -> String {
    if stage == STAGES[0].0 {
        "single-box".into()
    } else {
        stage.into()
    }
}

/// Where a stage stands on the path (0 for an unknown id: it is treated as the start).
pub fn index_of(stage: &str) -> usize {
    STAGE_IDS.iter().position(|s| *s == stage).unwrap_or(0)
}

/// The box tier the generator runs in: not part of any stage's fleet.
pub const GENERATOR_TIER: &str = "generator";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_titles_and_profiles_name_the_files() {
        assert_eq!(STAGE_IDS[3], "users-plus-plus-plus");
        assert_eq!(profile_of("start"), "single-box");
        assert_eq!(profile_of("users-plus"), "users-plus");
        assert_eq!(index_of("users-plus-plus-plus-plus-plus"), 5);
        assert_eq!(index_of("nonsense"), 0);
    }
}
