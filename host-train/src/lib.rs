//! # facecam host-train
//!
//! The workstation side of facecam: import labelled photos, train the slim SSD-style
//! face detector with libtorch (CUDA or CPU), export it to ONNX with its model card, and
//! evaluate the exported file through the same detector the board runs.
//!
//! ```no_run
//! use host_train::{config, data, eval, export, train};
//!
//! # fn main() -> anyhow::Result<()> {
//! let dir = std::path::Path::new("out/synth");
//! let samples = data::generate_synthetic(dir, &data::SynthOptions::default())?;
//! let cfg = config::TrainConfig { epochs: 5, ..Default::default() };
//! train::train(&samples, &[], "synthetic", &cfg, "out/ckpt".as_ref(), false)?; // checkpoint per epoch
//! export::export_checkpoint("out/ckpt".as_ref(), "out/model.onnx".as_ref(), None)?; // card inside
//! let mut detector = edge::detector::Detector::load("out/model.onnx")?;
//! println!("recall {:.3}", eval::evaluate(&mut detector, &samples)?.recall());
//! # Ok(()) }
//! ```
//!
//! Layers, data flowing down:
//! - [`data`]: importers of WIDER FACE, labelme, Pascal VOC, COCO, YOLO and face-crop
//!   folders (chosen by `KIND:PATH[@OPTION]` source specs, with deterministic splits for
//!   sources without one), and synthetic faces.
//! - [`augment`]: box-aware crops, zoom-out, flips and colour changes.
//! - [`loader`]: decode, cache, augment, resize and batch; [`target`] decides what is taught
//!   (positives, ignores, background) with the shared `edge::model` codec, and [`teach`]
//!   draws and counts it.
//! - [`net`]: the network (slim or RFB) as a spec and as tch layers; [`loss`]: the
//!   multibox loss.
//! - [`train`]: the loop, set by a [`config`] (read from a [`recipe`] file's tables), with [`optim`]isers whose state is saved in
//!   [`checkpoint`]s (written atomically, checked as one set), so runs resume exactly;
//!   [`epochs`]: the epoch runner it shares with the classifier's trainer (resume checks,
//!   per-epoch RNG, CPU time, progress with the run's ETA); [`validate`]: held-out loss
//!   and a picture of predictions each epoch; [`proxy`]: AP on a fixed WIDER val slice
//!   every few epochs, against CPU seconds.
//! - [`export`]: ONNX with BatchNorm folded and the card in its metadata.
//! - [`quantize`]: int8 QDQ post-processing of an exported file, calibrated on real images.
//! - [`eval`]: recall and false positives, and the official WIDER FACE protocol, of an
//!   exported file run through `edge::detector`; [`plot`] draws curves and image grids;
//!   [`progress`]: the one progress-bar look of every long step.
//! - [`classify`]: the second stage, a face classifier trained on the same sources' box
//!   classes, exported with its own card, evaluated on ground-truth and detected boxes.
//! - [`bench`](mod@bench): training throughput against an equivalent PyTorch-Python loop.

#![deny(missing_docs)]

pub mod augment;
pub mod bench;
pub mod checkpoint;
pub mod classify;
pub mod config;
pub mod data;
pub mod epochs;
pub mod eval;
pub mod export;
pub mod loader;
pub mod loss;
pub mod net;
pub mod optim;
pub mod plot;
pub mod progress;
pub mod proxy;
pub mod quantize;
pub mod recipe;
pub mod target;
pub mod teach;
pub mod train;
pub mod validate;
