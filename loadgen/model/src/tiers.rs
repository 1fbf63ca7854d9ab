//! The tiers a verdict can name as the bottleneck ([`Tier`]): the service's own (app, database,
//! cache, …), the machine and the generator beside them, and "none". `timeline.json` keeps
//! them as strings (`Verdict::bottleneck`, `TierFigures::tier`); code that decides on a tier
//! parses it once and matches on the enum.

/// A tier of a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// The app boxes (or the embedded service's process).
    App,
    /// Users+++++'s read pool.
    AppRead,
    /// Users+++++'s write pool.
    AppWrite,
    /// The load balancer's box.
    Lb,
    DbPrimary,
    DbReplica,
    Cache,
    ObjectStore,
    /// The write queue's workers.
    Queue,
    /// The whole machine (no box of its own was at its limit, the host was).
    Machine,
    /// The load generator: the run measured its own limit, not the service's.
    Generator,
    /// Nothing saturated and the SLO held.
    NoneSaturated,
}

impl Tier {
    /// Every tier.
    pub const ALL: [Tier; 12] = [
        Tier::App,
        Tier::AppRead,
        Tier::AppWrite,
        Tier::Lb,
        Tier::DbPrimary,
        Tier::DbReplica,
        Tier::Cache,
        Tier::ObjectStore,
        Tier::Queue,
        Tier::Machine,
        Tier::Generator,
        Tier::NoneSaturated,
    ];

    /// The name `timeline.json` uses.
    pub const fn id(self) -> &'static str {
        match self {
            Tier::App => "app",
            Tier::AppRead => "app-read",
            Tier::AppWrite => "app-write",
            Tier::Lb => "lb",
            Tier::DbPrimary => "db_primary",
            Tier::DbReplica => "db_replica",
            Tier::Cache => "cache",
            Tier::ObjectStore => "object_store",
            Tier::Queue => "queue",
            Tier::Machine => "machine",
            Tier::Generator => "generator",
            Tier::NoneSaturated => "none",
        }
    }

    /// The tier a name denotes, if any.
    pub fn parse(id: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.id() == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tier_parses_back_from_its_name() {
        for tier in Tier::ALL {
            assert_eq!(Tier::parse(tier.id()), Some(tier));
        }
        assert_eq!(Tier::parse("db"), None);
    }
}
