//! The machine budget every stage respects: the load generator has a box of its own with a
//! reserved share (the profile's `generator` box), and the boxes of a stage add up to no more
//! than what the machine has left. Without it a stage could "gain" by taking cores from the
//! generator or by counting quotas the machine does not have, and stages would not compare.
//!
//! Boxes are sized in units of [`UNIT_CORES`] (a sixteenth of a core, like a small instance
//! type; an eighth left no way to grow Users++++'s web tier past Users+++'s within 2 cores),
//! so that a later stage adds capacity the way adding instances does. The shipped
//! profiles are written for a [`DESIGN_CORES`]-core machine; on a machine with fewer cores
//! [`fit`] scales every box of a stage down by one factor (and says so), so the sum still fits.
//! An autoscaled pool counts at its maximum size: the budget must hold at the fleet's largest.

use service::config::Profile;

/// One unit box, in cores.
pub const UNIT_CORES: f64 = 0.0625;

/// The machine the shipped profiles are sized for (these 2-core machines).
pub const DESIGN_CORES: f64 = 2.0;

/// The tier of the generator's own box.
pub use loadgen_model::stages::GENERATOR_TIER;

/// A stage's share of the machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// Cores of this machine.
    pub machine_cores: f64,
    /// The generator's reserved share (`None`: the profile reserves none).
    pub generator_cores: Option<f64>,
    /// The service's boxes, every quota added (an autoscaled pool at its maximum).
    pub fleet_cores: f64,
}

impl Budget {
    pub fn of(profile: &Profile, machine_cores: f64) -> Self {
        Self { machine_cores, generator_cores: generator_share(profile), fleet_cores: fleet_cores(profile) }
    }

    /// What the stage and the generator take together.
    pub fn total(&self) -> f64 {
        self.fleet_cores + self.generator_cores.unwrap_or(0.0)
    }

    pub fn fits(&self) -> bool {
        self.total() <= self.machine_cores + 1e-9
    }
}

/// This machine's cores: the CPUs this process may run on (`Cpus_allowed_list`, so affinity
/// counts), *not* `available_parallelism`, which also divides by the CPU quota of our own
/// cgroup — inside the generator's box that would read 1 core and shrink every stage to fit.
pub fn machine_cores() -> f64 {
    let allowed = std::fs::read_to_string("/proc/self/status").ok().and_then(|status| {
        let list = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?;
        Some(cpu_list_len(list.trim()))
    });
    match allowed {
        Some(n) if n > 0 => n as f64,
        _ => std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64),
    }
}

/// How many CPUs a list like `0-3,6,8-9` names.
fn cpu_list_len(list: &str) -> usize {
    list.split(',')
        .filter_map(|part| match part.split_once('-') {
            Some((a, b)) => Some(b.trim().parse::<usize>().ok()?.checked_sub(a.trim().parse::<usize>().ok()?)? + 1),
            None => part.trim().parse::<usize>().ok().map(|_| 1),
        })
        .sum()
}

/// The generator's reserved share in cores: the `generator` box's quota.
pub fn generator_share(profile: &Profile) -> Option<f64> {
    profile.boxes.iter().find(|b| b.tier == GENERATOR_TIER).and_then(|b| b.cpus)
}

/// The pool an autoscaling policy grows (`app`, or the read pool when reads and writes split).
fn scaled_tier(profile: &Profile) -> Option<&'static str> {
    profile.topology.autoscaling.as_ref().map(|_| if profile.topology.split_read_write { "app-read" } else { "app" })
}

/// Every service box's quota added, an autoscaled pool at its maximum size. A box without a
/// quota counts as nothing here: it is unconfined, which [`fit`] cannot bound.
pub fn fleet_cores(profile: &Profile) -> f64 {
    let scaled = scaled_tier(profile);
    let max = profile.topology.autoscaling.as_ref().map_or(0, |a| a.max);
    profile
        .boxes
        .iter()
        .filter(|b| b.tier != GENERATOR_TIER)
        .map(|b| {
            let count = if Some(b.tier.as_str()) == scaled { b.count.max(max) } else { b.count };
            f64::from(count) * b.cpus.unwrap_or(0.0)
        })
        .sum()
}

/// The profile as it can run on a machine of `cores`: unchanged when it fits; otherwise every
/// service box scaled down by one factor so that fleet + generator = the machine, with a
/// sentence saying so.
pub fn fit(mut profile: Profile, cores: f64) -> (Profile, Option<String>) {
    let budget = Budget::of(&profile, cores);
    if budget.fits() || budget.fleet_cores <= 0.0 {
        return (profile, None);
    }
    let left = (cores - budget.generator_cores.unwrap_or(0.0)).max(0.0);
    // Never below the kernel's useful minimum: a box must still be able to run.
    let factor = left / budget.fleet_cores;
    for b in profile.boxes.iter_mut().filter(|b| b.tier != GENERATOR_TIER) {
        if let Some(c) = b.cpus.as_mut() {
            *c = (*c * factor).max(0.01);
        }
    }
    let note = format!(
        "profile {} asks for {:.3} cores of boxes + {:.3} for the generator on a {cores:.0}-core machine: every box scaled by {factor:.2} to fit",
        profile.name,
        budget.fleet_cores,
        budget.generator_cores.unwrap_or(0.0)
    );
    (profile, Some(note))
}

/// Whether `cpus` is a whole number of unit boxes.
pub fn in_units(cpus: f64) -> bool {
    let units = cpus / UNIT_CORES;
    (units - units.round()).abs() < 1e-9 && units.round() >= 1.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn profile(boxes: &str, extra: &str) -> Profile {
        Profile::parse(&format!("name = \"p\"\n{boxes}\n{extra}"), Path::new("p.toml")).unwrap()
    }

    const BOXES: &str = "[[boxes]]\ntier = \"generator\"\ncpus = 0.5\n[[boxes]]\ntier = \"app\"\ncount = 2\ncpus = 0.5\n[[boxes]]\ntier = \"lb\"\ncpus = 0.25\n";

    #[test]
    fn the_budget_adds_every_box_and_the_generator() {
        let p = profile(BOXES, "[topology]\n");
        let b = Budget::of(&p, 2.0);
        assert_eq!((b.fleet_cores, b.generator_cores, b.total()), (1.25, Some(0.5), 1.75));
        assert!(b.fits());
    }

    #[test]
    fn an_autoscaled_pool_counts_at_its_maximum() {
        let p = profile(BOXES, "[topology.autoscaling]\nmin = 1\nmax = 4\n");
        assert_eq!(fleet_cores(&p), 4.0 * 0.5 + 0.25);
        assert!(!Budget::of(&p, 2.0).fits());
    }

    #[test]
    fn a_stage_too_big_for_the_machine_is_scaled_to_fit() {
        let p = profile(BOXES, "");
        let (small, note) = fit(p.clone(), 1.0);
        assert!(note.unwrap().contains("scaled by 0.40"));
        let b = Budget::of(&small, 1.0);
        assert!(b.fits() && (b.total() - 1.0).abs() < 1e-9, "{b:?}");
        assert_eq!(generator_share(&small), Some(0.5), "the generator keeps its share");
        let (same, note) = fit(p.clone(), 2.0);
        assert!(note.is_none());
        assert_eq!(same.boxes, p.boxes);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(cpu_list_len("0-1"), 2);
        assert_eq!(cpu_list_len("0-3,6,8-9"), 7);
        assert_eq!(cpu_list_len("0"), 1);
        assert!(machine_cores() >= 1.0);
    }

    #[test]
    fn units() {
        assert!(in_units(0.0625) && in_units(0.125) && in_units(0.3125) && in_units(0.5) && in_units(1.0));
        assert!(!in_units(0.1) && !in_units(0.3) && !in_units(0.0));
    }
}
