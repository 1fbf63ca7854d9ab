//! scaleloop's reference content service: the seed's content API (`POST /api/v1/content`,
//! `GET /api/v1/content/{id}`) on pluggable real backends — SQLite or PostgreSQL (with read
//! replicas), no cache / in-process / Redis cache, local or S3-compatible object store, and a
//! durable job table or Redis Streams queue — chosen by a deployment profile.

pub mod app;
pub mod backend;
pub mod breaker;
pub mod cache;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod metrics;
pub mod queue;
pub mod readiness;
pub mod store;
pub mod worker;

pub use app::{run, run_workers, shutdown_signal, App, ServeError, WORKERS_READY_LINE};
pub use config::Profile;
