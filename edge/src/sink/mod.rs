//! Display sinks: where composed frames go. Every sink takes the same [`Sink::show`]
//! call — the frame with overlays already drawn, and a [`FrameReport`] of what was found —
//! so the run loop does not care whether it feeds a screen, files or a pipe.
//!
//! A sink is named by a spec string, `KIND[:ARGS]`, parsed into a [`SinkSpec`] (as sources
//! are into a [`crate::source::SourceSpec`]). Every kind — its usage, what it is and how it
//! opens — is one row of [`SINKS`]; the kinds' list ([`KINDS`]), the error for an unknown
//! spec and `facecam run --sink`'s help all come from that table:
//!
//! `fb:` and `fbfile:`/`xvfb:` are the Linux framebuffer and files laid out like one
//! ([`fbdev`]), `spi:` an SPI LCD ([`spi_lcd`]), `png:` and `json` files and lines
//! ([`files`]), `http:` the live web view ([`web`]), `mqtt:` and `mqtts:` face events
//! over MQTT, with a login and TLS ([`mqtt`]), and `none` nothing.
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

/// What was found on one frame, as reported to sinks (and printed by `json` as a line of
/// `"type": "frame"`, docs/JSON.md).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename = "frame")]
pub struct FrameReport {
    /// Frame number in the source's stream.
    pub seq: u64,
    /// Capture time on the frame's clock, seconds since the Unix epoch: the wall clock for
    /// live sources, the stream's own timeline for files ([`crate::source::clock`]).
    pub time: f64,
    /// Frame width, pixels (the faces' boxes are in this frame's pixels).
    pub width: u32,
    /// Frame height, pixels.
    pub height: u32,
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
    /// The run's zones and masks: MQTT counts faces per zone, the web view draws them.
    pub zones: std::sync::Arc<crate::zones::Zones>,
    /// The snapshot folder (`--snapshots`): the web view serves it, MQTT announces it.
    pub snapshots: Option<std::path::PathBuf>,
}

/// One kind of sink: a row of [`SINKS`].
#[derive(Debug)]
pub struct SinkKind {
    /// The part of a spec before `:`.
    pub kind: &'static str,
    /// How a spec of this kind is written.
    pub usage: &'static str,
    /// What the sink is.
    pub what: &'static str,
    /// Whether the spec must have something after the `:`.
    needs_args: bool,
    /// Open a sink from the whole spec and the part after the `:`.
    open: fn(spec: &str, args: &str, options: &SinkOptions) -> Result<Box<dyn Sink>>,
}

/// Every sink kind, in the order the help lists them.
pub const SINKS: &[SinkKind] = &[
    SinkKind {
        kind: "fb",
        usage: "fb:/dev/fbN",
        what: "the Linux framebuffer (ioctls + mmap), letterboxed",
        needs_args: false,
        open: open_fbdev,
    },
    SinkKind {
        kind: "fbfile",
        usage: "fbfile:PATH@WxH@BPP[@STRIDE[@OFFSET]]",
        what: "a file laid out like a framebuffer (tests), written in place and reopened when lost",
        needs_args: false,
        open: open_fbdev,
    },
    SinkKind {
        kind: "xvfb",
        usage: "xvfb:SCREEN_FILE",
        what: "an `Xvfb -fbdir` screen file, or its directory, drawn as a framebuffer",
        needs_args: false,
        open: open_fbdev,
    },
    SinkKind {
        kind: "spi",
        usage: "spi:CONTROLLER@WxH,dc=N[,rst=N][,bl=N]",
        what: "an ST7789/ILI9341-class SPI LCD",
        needs_args: false,
        open: open_spi,
    },
    SinkKind { kind: "png", usage: "png:DIR", what: "one PNG per frame", needs_args: true, open: open_png },
    SinkKind {
        kind: "json",
        usage: "json",
        what: "one JSON object per frame, and one per face event, on stdout",
        needs_args: false,
        open: open_json,
    },
    SinkKind {
        kind: "http",
        usage: "http:[ADDR:]PORT",
        what: "the live web view, on loopback unless an address is given",
        needs_args: false,
        open: open_http,
    },
    SinkKind {
        kind: "mqtt",
        usage: "mqtt:HOST[:PORT]/PREFIX[,OPTION…]",
        what: "face events, count and availability over MQTT; options user=NAME, password_file=PATH (else \
               $FACECAM_MQTT_PASSWORD), tls, ca=FILE, cert=FILE, key=FILE",
        needs_args: false,
        open: open_mqtt,
    },
    SinkKind {
        kind: "mqtts",
        usage: "mqtts:HOST[:PORT]/PREFIX[,OPTION…]",
        what: "the same over TLS (port 8883 unless given)",
        needs_args: false,
        open: open_mqtt,
    },
    SinkKind {
        kind: "none",
        usage: "none",
        what: "nothing: benchmarks, headless capture",
        needs_args: false,
        open: |_, _, _| Ok(Box::new(NullSink)),
    },
];

/// The sink kinds, the part of a spec before `:` (the kinds of [`SINKS`]).
pub const KINDS: [&str; SINKS.len()] = {
    let mut kinds = [""; SINKS.len()];
    let mut i = 0;
    while i < SINKS.len() {
        kinds[i] = SINKS[i].kind;
        i += 1;
    }
    kinds
};

/// Every sink's usage, as a list that ends in "or": what a sink spec may be.
pub fn usages() -> String {
    let usages: Vec<&str> = SINKS.iter().map(|k| k.usage).collect();
    let (last, rest) = usages.split_last().expect("sink kinds");
    format!("{} or {last}", rest.join(", "))
}

/// The short help of `--sink`: every kind's usage.
pub fn help() -> String {
    format!("Where frames go (repeatable): {}", usages())
}

/// The long help of `--sink` (`--help`): every kind's usage and what it is, a line each.
pub fn long_help() -> String {
    let kinds: Vec<String> = SINKS.iter().map(|k| format!("  {}: {}", k.usage, k.what)).collect();
    format!("Where frames go (repeatable):\n{}", kinds.join("\n"))
}

/// A parsed sink spec: a known kind and its arguments (see [`SINKS`]); they are checked
/// in full when it opens.
#[derive(Debug, Clone)]
pub struct SinkSpec {
    kind: &'static SinkKind,
    spec: String,
}

impl SinkSpec {
    /// The spec's kind, a row of [`SINKS`].
    pub fn kind(&self) -> &'static SinkKind {
        self.kind
    }

    /// Open the sink this spec names.
    pub fn open(&self, options: &SinkOptions) -> Result<Box<dyn Sink>> {
        let args = self.spec.split_once(':').map_or("", |(_, args)| args);
        (self.kind.open)(&self.spec, args, options)
    }
}

impl std::str::FromStr for SinkSpec {
    type Err = anyhow::Error;

    fn from_str(spec: &str) -> Result<Self> {
        let (kind, args) = spec.split_once(':').unwrap_or((spec, ""));
        match SINKS.iter().find(|k| k.kind == kind) {
            Some(k) if !(k.needs_args && args.is_empty()) => Ok(SinkSpec { kind: k, spec: spec.to_string() }),
            _ => anyhow::bail!("sink `{spec}`: expected {}", usages()),
        }
    }
}

impl std::fmt::Display for SinkSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.spec)
    }
}

/// Open the sink a spec names (see [`SINKS`]).
pub fn open(spec: &str, options: &SinkOptions) -> Result<Box<dyn Sink>> {
    spec.parse::<SinkSpec>()?.open(options)
}

fn open_fbdev(spec: &str, _: &str, _: &SinkOptions) -> Result<Box<dyn Sink>> {
    Ok(Box::new(fbdev::open_spec(spec)?))
}

fn open_png(_: &str, dir: &str, _: &SinkOptions) -> Result<Box<dyn Sink>> {
    Ok(Box::new(files::PngSink::new(dir)?))
}

fn open_json(_: &str, _: &str, _: &SinkOptions) -> Result<Box<dyn Sink>> {
    Ok(Box::new(files::JsonLines::stdout()))
}

#[cfg(all(target_os = "linux", feature = "board"))]
fn open_spi(spec: &str, _: &str, _: &SinkOptions) -> Result<Box<dyn Sink>> {
    Ok(Box::new(spi_lcd::open(&spi_lcd::parse_spec(spec)?)?))
}

#[cfg(not(all(target_os = "linux", feature = "board")))]
fn open_spi(spec: &str, _: &str, _: &SinkOptions) -> Result<Box<dyn Sink>> {
    anyhow::bail!("sink `{spec}`: this build of facecam has no SPI LCD support (feature `board`, Linux)")
}

#[cfg(feature = "web")]
fn open_http(_: &str, addr: &str, options: &SinkOptions) -> Result<Box<dyn Sink>> {
    let defaults = web::WebOptions::default();
    let max_viewers = if options.http_max_viewers == 0 { defaults.max_viewers } else { options.http_max_viewers };
    Ok(Box::new(web::WebSink::start(web::WebOptions {
        addr: web::WebOptions::parse_addr(addr)?,
        token: options.http_token.clone(),
        max_viewers,
        about: options.about.clone(),
        zones: options.zones.clone(),
        snapshots: options.snapshots.clone(),
        ..defaults
    })?))
}

#[cfg(not(feature = "web"))]
fn open_http(spec: &str, _: &str, _: &SinkOptions) -> Result<Box<dyn Sink>> {
    anyhow::bail!("sink `{spec}`: this build of facecam has no web view (feature `web`)")
}

#[cfg(feature = "mqtt")]
fn open_mqtt(spec: &str, args: &str, options: &SinkOptions) -> Result<Box<dyn Sink>> {
    // A spec that cannot be right is a usage error; unreadable files are failures.
    let parsed = mqtt::MqttOptions::parse(args, spec.starts_with("mqtts:")).map_err(crate::exit::usage)?;
    Ok(Box::new(mqtt::MqttSink::start(parsed, options)?))
}

#[cfg(not(feature = "mqtt"))]
fn open_mqtt(spec: &str, _: &str, _: &SinkOptions) -> Result<Box<dyn Sink>> {
    anyhow::bail!("sink `{spec}`: this build of facecam has no MQTT support (feature `mqtt`)")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_in_the_table_and_the_error_lists_their_usages() {
        assert_eq!(KINDS, ["fb", "fbfile", "xvfb", "spi", "png", "json", "http", "mqtt", "mqtts", "none"]);
        let err = format!("{:#}", "vga:0".parse::<SinkSpec>().unwrap_err());
        assert_eq!(
            err,
            "sink `vga:0`: expected fb:/dev/fbN, fbfile:PATH@WxH@BPP[@STRIDE[@OFFSET]], xvfb:SCREEN_FILE, \
             spi:CONTROLLER@WxH,dc=N[,rst=N][,bl=N], png:DIR, json, http:[ADDR:]PORT, \
             mqtt:HOST[:PORT]/PREFIX[,OPTION…], mqtts:HOST[:PORT]/PREFIX[,OPTION…] or none"
        );
        assert!(format!("{:#}", "png:".parse::<SinkSpec>().unwrap_err()).contains("expected fb:"));
        assert_eq!("json".parse::<SinkSpec>().unwrap().kind().kind, "json");
        assert!(help().ends_with("mqtts:HOST[:PORT]/PREFIX[,OPTION…] or none"));
        assert!(long_help().contains("\n  mqtt:HOST[:PORT]/PREFIX[,OPTION…]: face events"));
        assert!(long_help().contains("password_file=PATH (else $FACECAM_MQTT_PASSWORD)"));
    }
}
