//! Display sinks: where composed frames go. Every sink takes the same [`Sink::show`]
//! call — the frame with overlays already drawn, and a [`FrameReport`] of what was found —
//! so the run loop does not care whether it feeds a screen, files or a pipe.
//!
//! | spec | sink |
//! |---|---|
//! | `fb:/dev/fb0` | Linux framebuffer (ioctls + mmap), letterboxed |
//! | `fbfile:PATH@WxH@BPP[@STRIDE[@OFFSET]]` | a file laid out like a framebuffer (tests, Xvfb `-fbdir`), written in place and reopened when lost |
//! | `spi:…` | an ST7789/ILI9341-class SPI LCD (see [`spi_lcd`]) |
//! | `png:DIR` | one PNG per frame |
//! | `json` | one JSON object per frame, and one per face event, on stdout |
//! | `http:[ADDR:]PORT` | the live web view ([`web`]; loopback unless an address is given) |
//! | `mqtt:HOST[:PORT]/PREFIX` | face events, count and availability over MQTT ([`mqtt`]) |
//! | `none` | nothing (benchmarks, headless capture) |
//!
//! The framebuffer and the LCD are also embedded-graphics `DrawTarget`s.

pub mod fbdev;
pub mod files;
pub mod letterbox;
#[cfg(feature = "mqtt")]
pub mod mqtt;
#[cfg(all(target_os = "linux", feature = "board"))]
pub mod spi_lcd;
#[cfg(feature = "web")]
pub mod web;

use crate::events::FaceEvent;
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
    /// Face events this frame caused ([`crate::events`]); sinks that carry events send
    /// them on their own (the `json` sink as lines of their own).
    #[serde(skip)]
    pub events: Vec<FaceEvent>,
}

/// Where composed frames go.
pub trait Sink: Send {
    /// Show one frame (overlays already drawn) with its report.
    fn show(&mut self, frame: &RgbImage, report: &FrameReport) -> Result<()>;
    /// Events that come without a frame (the faces that leave when a run ends); sinks
    /// that carry events send them, the others ignore them.
    fn events(&mut self, _events: &[FaceEvent]) -> Result<()> {
        Ok(())
    }
    /// Leave the display as it was found (called once, on shutdown).
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Settings of the network sinks (`http:`, `mqtt:`); the others need none.
#[derive(Debug, Clone, Default)]
pub struct SinkOptions {
    /// The web view's token (`--http-token`, else [`web::TOKEN_FILE`]).
    pub http_token: Option<String>,
    /// The web view's viewer bound (0: its default).
    pub http_max_viewers: usize,
    /// Publish Home Assistant discovery config over MQTT.
    pub mqtt_discovery: bool,
    /// Board and model in use, for the web page and MQTT's device info.
    pub about: String,
}

/// The sink kinds, the part of a spec before `:` (see the module docs).
pub const KINDS: [&str; 9] = ["fb", "fbfile", "xvfb", "spi", "png", "json", "http", "mqtt", "none"];

/// Open the sink a spec names (see the module docs).
pub fn open(spec: &str, options: &SinkOptions) -> Result<Box<dyn Sink>> {
    let (kind, rest) = spec.split_once(':').unwrap_or((spec, ""));
    let _ = options; // unused without the network sinks
    Ok(match kind {
        #[cfg(feature = "web")]
        "http" => {
            let defaults = web::WebOptions::default();
            let max_viewers =
                if options.http_max_viewers == 0 { defaults.max_viewers } else { options.http_max_viewers };
            Box::new(web::WebSink::start(web::WebOptions {
                addr: web::WebOptions::parse_addr(rest)?,
                token: options.http_token.clone(),
                max_viewers,
                about: options.about.clone(),
                ..defaults
            })?)
        }
        #[cfg(feature = "mqtt")]
        "mqtt" => Box::new(mqtt::MqttSink::start(mqtt::MqttOptions::parse(rest)?, options)?),
        "fb" | "fbfile" | "xvfb" => Box::new(fbdev::open_spec(spec)?),
        #[cfg(all(target_os = "linux", feature = "board"))]
        "spi" => Box::new(spi_lcd::open(&spi_lcd::parse_spec(spec)?)?),
        "png" if !rest.is_empty() => Box::new(files::PngSink::new(rest)?),
        "json" => Box::new(files::JsonLines::stdout()),
        "none" => Box::new(NullSink),
        _ => anyhow::bail!(
            "sink `{spec}`: expected fb:/dev/fbN, fbfile:PATH@WxH@BPP[@STRIDE[@OFFSET]], xvfb:SCREEN_FILE, \
             spi:CONTROLLER@WxH,dc=N[,rst=N][,bl=N], png:DIR, json, http:[ADDR:]PORT, \
             mqtt:HOST[:PORT]/PREFIX or none"
        ),
    })
}

/// Several sinks fed the same frames (e.g. the screen and JSON lines).
pub struct Tee(pub Vec<Box<dyn Sink>>);

impl Sink for Tee {
    fn show(&mut self, frame: &RgbImage, report: &FrameReport) -> Result<()> {
        self.0.iter_mut().try_for_each(|s| s.show(frame, report))
    }

    fn events(&mut self, events: &[FaceEvent]) -> Result<()> {
        self.0.iter_mut().try_for_each(|s| s.events(events))
    }

    fn close(&mut self) -> Result<()> {
        // Close them all even if one fails; report the first failure.
        let results: Vec<Result<()>> = self.0.iter_mut().map(|s| s.close()).collect();
        results.into_iter().collect()
    }
}

/// A sink whose `close` leaves the last frame on the display instead of restoring it
/// (a kiosk that should freeze on its last picture, or a screenshot after the run).
pub struct KeepOnClose(pub Box<dyn Sink>);

impl Sink for KeepOnClose {
    fn show(&mut self, frame: &RgbImage, report: &FrameReport) -> Result<()> {
        self.0.show(frame, report)
    }

    fn events(&mut self, events: &[FaceEvent]) -> Result<()> {
        self.0.events(events)
    }
}

/// A sink that discards everything.
pub struct NullSink;

impl Sink for NullSink {
    fn show(&mut self, _frame: &RgbImage, _report: &FrameReport) -> Result<()> {
        Ok(())
    }
}
