//! The jobs of the `facecam` command line beside `facecam run`: each one drives the library
//! (sources, the detector, tracks, sinks) for one purpose and reports on it. Nothing in the
//! library proper depends on them.
//!
//! - [`annotate`]: `facecam detect`, the detector over image files.
//! - [`capture`]: `facecam capture`, dataset pictures with labelme JSON (or face crops).
//! - [`mod@bench`]: `facecam bench`, each stage of the pipeline timed
//!   ([`bench_labels`]: with a classifier).
//! - [`race`]: `facecam race`, the detector's latency on one frame ([`race_net`]: any ONNX
//!   file's network alone; [`timing`]: the statistics and per-operator profile both share).
//! - [`soak`]: `facecam soak`, the pipeline run long, its memory watched.

pub mod annotate;
pub mod bench;
pub mod bench_labels;
pub mod capture;
pub mod race;
pub mod race_net;
pub mod soak;
pub mod timing;
