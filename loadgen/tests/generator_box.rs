//! The generator's own box: this process moves into a cgroup with its reserved share, a
//! stage's boxes created meanwhile are not nested under it (its quota would cap them all),
//! and on drop the process moves back and the group is gone.

use loadgen::profiler::collect::cgroup_quota::cpu_quota_cores;
use loadgen::topology::cgroup::{self, Mode, RunCgroups};
use loadgen::topology::generator_box::GeneratorBox;

#[test]
fn the_generator_box_holds_this_process_and_nothing_else() {
    if matches!(cgroup::detect(), Mode::Unconfined { .. }) {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "cgroups are not writable and CI=true");
        eprintln!("SKIPPED: cgroups are not writable (run as root)");
        return;
    }
    let before = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let quota_before = cpu_quota_cores(std::process::id());
    let gen = GeneratorBox::enter(0.5).expect("entering the generator's box");
    let inside = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    assert!(inside.contains("generator-"), "{inside}");
    assert_eq!(cpu_quota_cores(std::process::id()), Some(0.5), "judged against its share");
    assert!(gen.cpu_seconds().is_some(), "the box accounts the generator's CPU");
    assert!(GeneratorBox::enter(0.5).is_none(), "one box per process");
    // A stage's boxes nest where the process came from, not under the generator's group.
    let stage = RunCgroups::create("stage-beside-the-generator");
    let run_dir = stage.run_dir().expect("confined").to_owned();
    assert!(!run_dir.to_string_lossy().contains("generator-"), "{}", run_dir.display());
    let app = stage.create_box("app", Some(0.25), None).unwrap().unwrap();
    assert!(!app.dirs[0].starts_with(gen.usage_file.as_ref().unwrap().parent().unwrap()));
    stage.remove();
    let dirs: Vec<_> = inside
        .lines()
        .filter_map(|l| l.split(':').nth(2))
        .filter(|p| p.contains("generator-"))
        .map(str::to_owned)
        .collect();
    drop(gen);
    assert_eq!(std::fs::read_to_string("/proc/self/cgroup").unwrap(), before, "moved back");
    assert_eq!(cpu_quota_cores(std::process::id()), quota_before);
    for mount in ["cpu", "cpuacct", ""] {
        for d in &dirs {
            let path = std::path::Path::new("/sys/fs/cgroup").join(mount).join(d.trim_start_matches('/'));
            assert!(!path.exists(), "{} left behind", path.display());
        }
    }
}
