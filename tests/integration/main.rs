//! facecam's end-to-end tests across both crates, one test binary (as ripgrep does):
//! each binary links tract and libtorch, so one per file cost a link and ~65 MB each.
//! One module per subject; `cargo test --workspace --test integration parity::` runs one
//! of them.
//!
//! What they share is the `facecam_tests` library (`tests/lib.rs`); their data stay
//! beside this folder: `tests/fixtures/`, `tests/peer/` (the Python reference peers) and
//! `tests/fuzz/` (the fuzz corpus and regressions).

mod capture_to_train;
mod classifier;
mod corpus;
mod end_to_end;
mod full_disk;
mod fuzz;
mod importers;
mod overfit;
mod parity;
mod quantize;
mod recipe;
mod resume;
mod structure;
mod val;
mod wider_protocol;
