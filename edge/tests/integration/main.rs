//! The edge crate's integration tests, one test binary (as ripgrep does): each binary
//! links tract, so one per file cost a link and ~50 MB each. One module per subject;
//! `cargo test --workspace --test integration web::` runs one of them.
//!
//! [`common`] has what they share: paths, scratch folders, running `facecam`, camera
//! stand-ins. The reference outputs they compare with are in `edge/tests/fixtures/`.

mod common;

mod camera;
mod cli;
mod config;
mod faults;
mod int8;
mod json_schema;
mod mqtt;
mod mqtt_login;
mod packaging;
mod reference_detection;
mod rtsp;
mod snapshots;
mod timeline;
mod web;
mod xvfb;
