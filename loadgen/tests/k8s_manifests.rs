//! The Kubernetes artefacts of a distributed run: `loadgen k8s-job` renders an Indexed Job of
//! N workers (completionMode Indexed, completions = parallelism = N, backoffLimit 0), its
//! shared volume and the merge Job; the committed example is exactly what the template renders
//! for its inputs; both validate against the Kubernetes 1.34 API schema with PyPI's
//! `kubernetes-validate --strict` (installed by `.ci/run` into `target/ci-venv`; without it
//! the validation is skipped with a message, and under CI=true that is a failure).

mod common;

use std::path::PathBuf;
use std::process::Command;

use loadgen::distributed::k8s::{render, K8sJobArgs};

/// The Kubernetes version the manifests are checked against.
const KUBERNETES_VERSION: &str = "1.34.0";
const EXAMPLE: &str = "deployments/kubernetes/loadgen-peak-us.yaml";
/// The instant the committed example was rendered at (its start is two minutes later).
const EXAMPLE_RENDERED_AT: &str = "2026-12-02T06:00:00Z";

fn example_args() -> K8sJobArgs {
    K8sJobArgs {
        scenario: "peak-us".into(),
        scenarios_dir: common::repo_root().join("scenarios"),
        target: "http://content.staging.svc.cluster.local:8080".into(),
        workers: 4,
        image: "registry.example.com/scaleloop/loadgen:0.1.0".into(),
        start_at: None,
        start_in: std::time::Duration::from_secs(120),
        name: None,
        namespace: "loadtest".into(),
        storage: "1Gi".into(),
        storage_class: Some("nfs".into()),
        cpu: "1".into(),
        memory: "512Mi".into(),
        out: None,
    }
}

fn validator() -> Option<PathBuf> {
    let venv = common::repo_root().join("target/ci-venv/bin/kubernetes-validate");
    if venv.is_file() {
        return Some(venv);
    }
    let on_path = Command::new("kubernetes-validate").arg("--version").output().is_ok_and(|o| o.status.success());
    if on_path {
        return Some("kubernetes-validate".into());
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "kubernetes-validate is not installed and CI=true");
    eprintln!("SKIPPED: kubernetes-validate not installed (pip install kubernetes-validate; .ci/run does)");
    None
}

fn validate(path: &std::path::Path) {
    let Some(tool) = validator() else { return };
    let out = Command::new(tool).args(["-k", KUBERNETES_VERSION, "--strict"]).arg(path).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "{} does not validate against Kubernetes {KUBERNETES_VERSION}:\n{text}",
        path.display()
    );
    assert_eq!(text.matches("passed for resource").count(), 3, "{text}");
}

#[test]
fn the_committed_example_is_what_the_template_renders_and_validates() {
    let at = chrono::DateTime::parse_from_rfc3339(EXAMPLE_RENDERED_AT).unwrap().with_timezone(&chrono::Utc);
    let rendered = render(&example_args(), at).unwrap();
    let path = common::repo_root().join(EXAMPLE);
    if std::env::var_os("LOADGEN_WRITE_EXAMPLE").is_some() {
        std::fs::write(&path, &rendered).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        committed, rendered,
        "{EXAMPLE} is stale: re-render it with LOADGEN_WRITE_EXAMPLE=1 cargo test --test k8s_manifests"
    );
    for wanted in [
        "completionMode: Indexed",
        "completions: 4",
        "parallelism: 4",
        "backoffLimit: 0",
        "runAsNonRoot: true",
        "value: \"2026-12-02T06:02:00Z\"",
        "ReadWriteMany",
        "storageClassName: \"nfs\"",
    ] {
        assert!(rendered.contains(wanted), "no {wanted:?} in the manifests");
    }
    // peak-us: 2 min to the start + 10 s warm-up + 3 min + 10 min of slack for preload and report.
    assert!(rendered.contains("activeDeadlineSeconds: 910\n"), "{rendered}");
    validate(&path);
}

#[test]
fn the_command_renders_manifests_that_validate_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("job.yaml");
    let k8s_job = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args(["k8s-job", "--target", "http://10.0.0.5:8080", "--image", "scaleloop/loadgen:dev"])
            .arg("--scenarios-dir")
            .arg(common::repo_root().join("scenarios"))
            .args(extra)
            .output()
            .unwrap()
    };
    let done = k8s_job(&["--scenario", "smoke", "--workers", "7", "--start-in", "45s", "-o", out.to_str().unwrap()]);
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("completions: 7") && text.contains("parallelism: 7") && text.contains("value: \"7\""));
    validate(&out);
    for (flags, wanted) in [
        (&["--scenario", "smoke", "--workers", "0"][..], "--workers: N must be at least 1"),
        (&["--scenario", "smoke", "--workers", "2", "--start-in", "2d"][..], "--start-in"),
        (&["--scenario", "smoke", "--workers", "2", "--name", "Not_A_Label"][..], "--name"),
        (&["--scenario", "no-such-scenario", "--workers", "2"][..], "--scenario"),
    ] {
        let o = k8s_job(flags);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flags:?}: {stderr}");
        assert!(stderr.contains(wanted), "{flags:?}: wanted {wanted:?} in {stderr}");
    }
}
