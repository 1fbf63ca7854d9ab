//! The committed `schema/summary.schema.json` is the one the code generates.
//! Regenerate with `cargo run -p loadgen -- schema > loadgen/schema/summary.schema.json`.

#[test]
fn committed_schema_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/summary.schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = loadgen::summary::schema_json();
    assert!(
        committed == generated,
        "loadgen/schema/summary.schema.json is out of date; regenerate it with \
         `cargo run -p loadgen -- schema > loadgen/schema/summary.schema.json`"
    );
}
