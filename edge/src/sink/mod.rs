//! Display sinks: where composed frames go. Every sink takes the same [`Sink::show`]
//! call — the frame with overlays already drawn, and a [`FrameReport`] of what was found —
//! so the run loop does not care whether it feeds a screen, files or a pipe.
//!
//! | spec | sink |
//! |---|---|
//! | `fb:/dev/fb0` | Linux framebuffer (ioctls + mmap), letterboxed |
//! | `fbfile:PATH@WxH@BPP[@STRIDE[@OFFSET]]` | a file laid out like a framebuffer (tests, Xvfb `-fbdir`) |
//! | `spi:…` | an ST7789/ILI9341-class SPI LCD (see [`spi_lcd`]) |
//! | `png:DIR` | one PNG per frame |
//! | `json` | one JSON object per frame on stdout |
//! | `none` | nothing (benchmarks, headless capture) |
//!
//! The framebuffer and the LCD are also embedded-graphics `DrawTarget`s.

pub mod fbdev;
pub mod files;
pub mod letterbox;
#[cfg(all(target_os = "linux", feature = "board"))]
pub mod spi_lcd;

use crate::track::Track;
use anyhow::Result;
use image::RgbImage;
use serde::Serialize;

/// What was found on one frame, as reported to sinks (and printed by `json`).
#[derive(Debug, Clone, Serialize)]
pub struct FrameReport {
    /// Frame number in the source's stream.
    pub seq: u64,
    /// Wall-clock capture time, seconds since the Unix epoch.
    pub time: f64,
    /// Capture-to-display latency so far, milliseconds.
    pub latency_ms: f64,
    /// The tracked faces on this frame.
    pub faces: Vec<Track>,
}

/// Where composed frames go.
pub trait Sink: Send {
    /// Show one frame (overlays already drawn) with its report.
    fn show(&mut self, frame: &RgbImage, report: &FrameReport) -> Result<()>;
    /// Leave the display as it was found (called once, on shutdown).
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// A sink that discards everything.
pub struct NullSink;

impl Sink for NullSink {
    fn show(&mut self, _frame: &RgbImage, _report: &FrameReport) -> Result<()> {
        Ok(())
    }
}
