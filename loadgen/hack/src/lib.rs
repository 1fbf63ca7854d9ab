//! No code: this crate exists for its `Cargo.toml`, which aligns the features of shared
//! dependencies between `cargo run -p loadgen` and `cargo test --workspace` (issue #19).
