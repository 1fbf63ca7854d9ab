//! The Users++++ stage's autoscaler end to end: the stage launched on real servers by the
//! `loadgen` binary, load on it, and the controller adding app instances behind HAProxy by its
//! target-tracking policy; the fleet's history lands in `fleet.json` and the report.

use std::path::PathBuf;
use std::process::Command;

fn checkout(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(dir)
}

fn servers_present() -> bool {
    let present = ["haproxy", "redis-server"].iter().all(|p| {
        Command::new("sh")
            .args(["-c", &format!("command -v {p} || test -x /usr/sbin/{p}")])
            .output()
            .is_ok_and(|o| o.status.success())
    }) && std::fs::read_dir("/usr/lib/postgresql").is_ok();
    if !present {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "postgresql, redis-server or haproxy missing and CI=true"
        );
        eprintln!("SKIPPED: postgresql, redis-server and haproxy are needed");
    }
    present
}

#[test]
fn a_busy_fleet_scales_out_within_its_bounds() {
    if !servers_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The shipped Users++++ profile with a policy that reacts within a short test: any load is
    // above a 2% CPU target, cooldowns of 2 s, at most 3 instances.
    let shipped = std::fs::read_to_string(checkout("profiles").join("users-plus-plus-plus-plus.toml")).unwrap();
    let mut doc: toml::Table = toml::from_str(&shipped).unwrap();
    let auto = doc["topology"]["autoscaling"].as_table().unwrap().clone();
    let mut auto = auto;
    for (k, v) in [
        ("target", toml::Value::Float(0.02)),
        ("max", toml::Value::Integer(3)),
        ("scale_out_cooldown", "2s".into()),
        ("scale_in_cooldown", "10m".into()),
        ("warmup", "1s".into()),
    ] {
        auto.insert(k.into(), v);
    }
    doc.get_mut("topology").unwrap().as_table_mut().unwrap().insert("autoscaling".into(), toml::Value::Table(auto));
    std::fs::write(dir.path().join("autoscaled.toml"), toml::to_string(&doc).unwrap()).unwrap();
    let scenario = "name = \"autoscale-test\"\nseed = 3\nduration = \"15s\"\nwarmup = \"1s\"\n[mix]\nread = 100\nwrite = 1\n[keys]\npreload = 50\n[load]\ncurve = \"constant\"\nrate = 150\n";
    std::fs::write(dir.path().join("autoscale-test.toml"), scenario).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--scenario", "autoscale-test", "--profile", "autoscaled", "--run-id", "a", "--no-progress"])
        .arg("--scenarios-dir")
        .arg(dir.path())
        .arg("--profiles-dir")
        .arg(dir.path())
        .arg("--reports-dir")
        .arg(dir.path().join("reports"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let run = dir.path().join("reports/a");
    let fleet: Vec<serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(run.join("fleet.json"))
            .unwrap_or_else(|e| panic!("fleet.json: {e}\n{stdout}\n{stderr}")),
    )
    .unwrap();
    let actions: Vec<&str> = fleet.iter().filter_map(|s| s["action"].as_str()).filter(|a| !a.is_empty()).collect();
    let most = fleet.iter().filter_map(|s| s["instances"].as_u64()).max().unwrap();
    assert!(actions.iter().any(|a| a.starts_with("out")), "no scale-out: {actions:?}\n{stdout}");
    assert!(most > 2 && most <= 3, "instances peaked at {most}, bounds 1..=3");
    let html = std::fs::read_to_string(run.join("index.html")).unwrap();
    assert!(html.contains("Autoscaling: instances over time"), "the report charts the fleet");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["operations"]["all"]["errors"], 0, "scaling out must not cost requests: {stdout}");
}
