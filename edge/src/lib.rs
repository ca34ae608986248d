//! # facecam edge
//!
//! The device side of facecam: load an exported face detector, run it on frames, draw
//! what it finds. The same [`model`] contract is used by the trainer (`host-train`), so a
//! model trained there decodes here without any shared state but the ONNX file.
//!
//! ```
//! use edge::{detector::Detector, overlay::{draw_detections, ImageTarget}};
//!
//! # fn main() -> anyhow::Result<()> {
//! # let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
//! let mut detector = Detector::load(format!("{root}/models/facecam.onnx"))?; // card read from the file
//! let mut frame = image::open(format!("{root}/samples/astronaut.png"))?.to_rgb8();
//! let faces = detector.detect(&frame)?;                           // boxes in frame pixels
//! assert!(!faces.is_empty());
//! draw_detections(&mut ImageTarget(&mut frame), &faces).unwrap(); // any DrawTarget works
//! frame.save(std::env::temp_dir().join("annotated.png"))?;
//! # Ok(()) }
//! ```
//!
//! Layers, data flowing down:
//! - [`model`]: the contract — card, priors, box codec, IoU, NMS.
//! - [`preprocess`]: resize and normalise a frame exactly as the trainer did.
//! - [`detector`]: tract runs the ONNX graph; the card decodes its outputs.
//! - [`overlay`]: boxes and scores drawn into an embedded-graphics `DrawTarget`.
//! - [`annotate`]: the `facecam detect` job over image files.
//! - [`atomic`]: outputs written whole or not at all.

pub mod annotate;
pub mod atomic;
pub mod bench;
pub mod board;
pub mod button;
pub mod capture;
pub mod detector;
pub mod model;
pub mod overlay;
pub mod pipeline;
pub mod preprocess;
pub mod sink;
pub mod source;
pub mod track;
