//! The seed's scaling path, one list for the whole harness: [`Stage`], each stage's id (as the
//! verdict's recommendation and `evolve.json` name it), its title, and the profile that
//! launches it. The JSON files keep the ids as strings; code that decides on a stage parses
//! the id once ([`Stage::parse`]) and matches on the enum, so a new stage is a compile error
//! wherever a decision has not been made for it.

/// A stage of the seed's path, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    Start,
    UsersPlus,
    UsersPlusPlus,
    UsersPlusPlusPlus,
    UsersPlusPlusPlusPlus,
    UsersPlusPlusPlusPlusPlus,
}

impl Stage {
    /// Every stage, in the seed's order.
    pub const ALL: [Stage; 6] = [
        Stage::Start,
        Stage::UsersPlus,
        Stage::UsersPlusPlus,
        Stage::UsersPlusPlusPlus,
        Stage::UsersPlusPlusPlusPlus,
        Stage::UsersPlusPlusPlusPlusPlus,
    ];

    /// The id the JSON files and the profiles' `stage` key use.
    pub const fn id(self) -> &'static str {
        match self {
            Stage::Start => "start",
            Stage::UsersPlus => "users-plus",
            Stage::UsersPlusPlus => "users-plus-plus",
            Stage::UsersPlusPlusPlus => "users-plus-plus-plus",
            Stage::UsersPlusPlusPlusPlus => "users-plus-plus-plus-plus",
            Stage::UsersPlusPlusPlusPlusPlus => "users-plus-plus-plus-plus-plus",
        }
    }

    /// The seed's name for the stage and what it adds.
    pub const fn title(self) -> &'static str {
        match self {
            Stage::Start => "Single box",
            Stage::UsersPlus => "Users+ : separate DB box",
            Stage::UsersPlusPlus => "Users++ : load balancer + app fleet, DB standby",
            Stage::UsersPlusPlusPlus => "Users+++ : cache + read replicas",
            Stage::UsersPlusPlusPlusPlus => "Users++++ : autoscaling",
            Stage::UsersPlusPlusPlusPlusPlus => "Users+++++ : queue + workers, sharding",
        }
    }

    /// The profile (`profiles/<name>.toml`) that launches the stage: the first is `single-box`.
    pub const fn profile(self) -> &'static str {
        match self {
            Stage::Start => "single-box",
            other => other.id(),
        }
    }

    /// Where the stage stands on the path (0 for the start).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The stage an id names, if any.
    pub fn parse(id: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.id() == id)
    }

    /// The stage an id names; an unknown id is treated as the start (a run on a profile of
    /// one's own stands at the beginning of the path).
    pub fn parse_or_start(id: &str) -> Stage {
        Stage::parse(id).unwrap_or(Stage::Start)
    }
}

const fn entry(stage: Stage) -> (&'static str, &'static str) {
    (stage.id(), stage.title())
}

/// The stages in order: `(id, title)`.
pub const STAGES: [(&str, &str); 6] = [
    entry(Stage::ALL[0]),
    entry(Stage::ALL[1]),
    entry(Stage::ALL[2]),
    entry(Stage::ALL[3]),
    entry(Stage::ALL[4]),
    entry(Stage::ALL[5]),
];

/// The stage ids in order.
pub const STAGE_IDS: [&str; 6] = [STAGES[0].0, STAGES[1].0, STAGES[2].0, STAGES[3].0, STAGES[4].0, STAGES[5].0];

/// The profile (`profiles/<name>.toml`) that launches a stage id: an id that is not a stage
/// names its own profile.
pub fn profile_of(stage: &str) -> String {
    Stage::parse(stage).map_or_else(|| stage.to_owned(), |s| s.profile().to_owned())
}

/// Where a stage id stands on the path (0 for an unknown id: it is treated as the start).
pub fn index_of(stage: &str) -> usize {
    Stage::parse_or_start(stage).index()
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

    #[test]
    fn every_stage_parses_back_from_its_id_in_order() {
        for (i, stage) in Stage::ALL.into_iter().enumerate() {
            assert_eq!(Stage::parse(stage.id()), Some(stage));
            assert_eq!(stage.index(), i);
            assert_eq!(STAGES[i], (stage.id(), stage.title()));
        }
        assert_eq!(Stage::parse("single-box"), None);
        assert!(Stage::ALL.windows(2).all(|w| w[0] < w[1]));
    }
}
