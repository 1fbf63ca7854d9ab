//! The machine budget over every shipped profile: the generator's reserved share plus every
//! box's quota (an autoscaled pool at its maximum) fits the machine the profiles are sized for
//! and, after `budget::fit`, this machine; boxes come in whole units; and each profile's header
//! states the budget it actually has.

use std::path::{Path, PathBuf};

use loadgen::topology::budget::{self, Budget, DESIGN_CORES, UNIT_CORES};
use service::config::Profile;

fn profiles() -> Vec<(PathBuf, String, Profile)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let profile = Profile::parse(&text, &p).unwrap_or_else(|e| panic!("{e}"));
            (p, text, profile)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 6, "the six stages' profiles: {out:?}", out = out.iter().map(|o| &o.0).collect::<Vec<_>>());
    out
}

/// The number in the header's "= fleet N units" (the stated budget).
fn stated_fleet_units(text: &str) -> Option<f64> {
    let header: String = text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim())
        .collect::<Vec<_>>()
        .join(" ");
    let at = header.find("= fleet ")? + "= fleet ".len();
    header[at..].split_whitespace().next()?.parse().ok()
}

#[test]
fn every_profile_fits_the_machine_with_the_generators_share() {
    let mut shares = Vec::new();
    for (path, text, p) in profiles() {
        let b = Budget::of(&p, DESIGN_CORES);
        let share =
            b.generator_cores.unwrap_or_else(|| panic!("{}: no `generator` box (its reserved share)", path.display()));
        assert!(b.fits(), "{}: fleet {} + generator {share} cores > {DESIGN_CORES}", path.display(), b.fleet_cores);
        shares.push(share);
        // On this machine (fewer cores, say) the launcher's fitted stage still fits.
        let cores = budget::machine_cores();
        let (fitted, _) = budget::fit(p.clone(), cores);
        assert!(Budget::of(&fitted, cores).fits(), "{} does not fit {cores} cores after fit", path.display());
        for bx in &p.boxes {
            let cpus = bx.cpus.unwrap_or_else(|| panic!("{}: box {} has no quota", path.display(), bx.tier));
            assert!(
                budget::in_units(cpus),
                "{}: box {} of {cpus} cores is not whole units of {UNIT_CORES}",
                path.display(),
                bx.tier
            );
        }
        let stated = stated_fleet_units(&text)
            .unwrap_or_else(|| panic!("{}: the header states no `= fleet N units`", path.display()));
        assert_eq!(
            stated,
            b.fleet_cores / UNIT_CORES,
            "{}: header says fleet {stated} units, boxes add up to {}",
            path.display(),
            b.fleet_cores / UNIT_CORES
        );
        assert!(
            text.contains(&format!("generator {} units", share / UNIT_CORES)),
            "{}: header does not state the generator's share",
            path.display()
        );
    }
    // Stages compare only if the generator has the same share in every one.
    assert!(shares.windows(2).all(|w| w[0] == w[1]), "generator shares differ: {shares:?}");
}

#[test]
fn later_stages_add_capacity_rather_than_split_it() {
    // The path in order: each stage's fleet at least the one before's (adding boxes is how a
    // stage gains, as adding instances is on AWS).
    let order = ["single-box", "users-plus", "users-plus-plus", "users-plus-plus-plus"];
    let all = profiles();
    let fleet =
        |name: &str| all.iter().find(|(_, _, p)| p.name == name).map(|(_, _, p)| budget::fleet_cores(p)).unwrap();
    for w in order.windows(2) {
        assert!(
            fleet(w[1]) >= fleet(w[0]),
            "{} has {} cores of boxes, less than {}'s {}",
            w[1],
            fleet(w[1]),
            w[0],
            fleet(w[0])
        );
    }
}
