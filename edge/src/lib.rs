//! # facecam edge
//!
//! The device side of facecam: frames in from a camera, faces found by an exported
//! detector, followed from frame to frame, drawn, and shown. The same [`model`] contract
//! is used by the trainer (`host-train`), so a model trained there decodes here without
//! any shared state but the ONNX file.
//!
//! ```
//! use edge::{detector::Detector, source::SourceSpec, track::{Tracker, TrackerConfig}};
//! use edge::overlay::{compose, hud::HudInfo, Style};
//!
//! # fn main() -> anyhow::Result<()> {
//! # let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
//! let mut detector = Detector::load(format!("{root}/models/facecam.onnx"))?; // card read from the file
//! let mut source = format!("images:{root}/samples/astronaut.png").parse::<SourceSpec>()?.open()?;
//! let mut tracker = Tracker::new(TrackerConfig::default());
//! let mut style = Style { boxes: true, ..Default::default() };
//! let mut frame = source.next_frame()?.expect("one picture").image;
//! let faces = tracker.update(&detector.detect(&frame)?);          // boxes in frame pixels, with ids
//! assert!(faces.len() == 1 && faces[0].score > 0.99);            // her face, once (no box inside a better box)
//! compose(&mut frame, &faces, &mut style, &HudInfo::default());  // drawn through embedded-graphics
//! frame.save(std::env::temp_dir().join("annotated.png"))?;     // or any sink: framebuffer, LCD, …
//! # Ok(()) }
//! ```
//!
//! Layers, data flowing down:
//! - [`model`]: the contract — card, priors, box codec, IoU, NMS.
//! - [`source`]: frames from V4L2 cameras, MJPEG files, pipes and HTTP cameras, images, a test pattern.
//! - [`preprocess`]: resize and normalise a frame exactly as the trainer did.
//! - [`detector`]: tract runs the ONNX graph; the card decodes its outputs.
//! - [`classifier`]: the optional second stage, a face classifier run on each face's crop.
//! - [`kernels`]: facecam's own depthwise and softmax ops, swapped into tract's graph where
//!   tract is slow.
//! - [`int8`]: how a quantized (QDQ) model runs: as written, or with its weights folded to fp32.
//! - [`track`]: faces matched across frames and smoothed, so boxes hold still; [`labels`]:
//!   the classifier's label on each track, averaged over it.
//! - [`events`]: `face_appeared`, `face_left` and `count`, derived from the tracks.
//! - [`snapshots`]: a picture of every face event, saved off the frame's path.
//! - [`overlay`]: boxes, HUD, stickers and privacy masks, drawn into a frame.
//! - [`sink`]: where frames go — framebuffer, SPI LCD, PNG files, JSON lines, the web view, MQTT.
//! - [`pipeline`]: the threaded capture → detect → display loop of `facecam run`.
//! - [`zones`]: zones and masks, polygons over the picture (`[[zone]]`, `[[mask]]` in
//!   the config file `facecam run --config` reads, `config`).
//! - [`labelme`]: the labelme JSON both binaries write.
//! - [`input`]: the one door every named file comes in by (regular files only, bounded).
//! - [`button`]: a GPIO trigger; [`board`]: board profiles; [`atomic`]: whole-or-nothing
//!   writes; [`exit`]: how both binaries end (exit codes 0, 1, 2); `cmdline`: what both
//!   command lines share (verbosity and logging, the version line, ranged numbers,
//!   completions, man pages).
//!
//! Beside the library, not under it: [`jobs`], the command line's other jobs, each built on
//! the layers above and used by nothing in them — `facecam detect` ([`jobs::annotate`]),
//! `facecam capture` ([`jobs::capture`]), `facecam bench` ([`jobs::bench`]), `facecam race`
//! ([`jobs::race`], [`jobs::race_net`]) and `facecam soak` ([`jobs::soak`]).

#![deny(missing_docs)]

pub mod atomic;
pub mod board;
pub mod button;
pub mod classifier;
#[cfg(feature = "cli")]
pub mod cmdline;
#[cfg(feature = "cli")]
pub mod config;
pub mod detector;
pub mod events;
pub mod exit;
pub mod input;
pub mod int8;
pub mod jobs;
pub mod kernels;
pub mod labelme;
pub mod labels;
pub mod model;
pub mod overlay;
pub mod paths;
pub mod pipeline;
pub mod preprocess;
pub mod sink;
pub mod snapshots;
pub mod source;
pub mod track;
pub mod zones;
