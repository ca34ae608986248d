//! The live web view: `--sink http:[ADDR:]PORT`.
//!
//! The pipeline hands each composed frame to [`WebSink::show`], which only stores it
//! (one `Arc` swap) and broadcasts its JSON: it never waits for a viewer. A small
//! server (hyper on a one-thread tokio runtime, its own thread) serves:
//!
//! | route | what |
//! |---|---|
//! | `/` | a page with the live stream, face count, FPS, latency, board and model |
//! | `/status.json` | `{"fps": …, "frames": …, "viewers": …}`: frames shown per second (last 2 s), shown in all, streams open |
//! | `/stream.mjpg` | `multipart/x-mixed-replace` JPEGs (`?fps=`, `?width=` lower them; `?zones=1` draws the zones and masks) |
//! | `/snapshot.jpg` | the latest composed frame (`?width=`, `?zones=1` as above) |
//! | `/events` | Server-Sent Events: every frame's JSON and every face event, as the `json` sink writes them |
//! | `/events.json` | the saved `face_snapshot` events (`--snapshots`), newest first (`?limit=`, default 50) |
//! | `/events/ID.jpg`, `/events/ID-face.jpg` | an event's frame and face ([`crate::snapshots`]) |
//! | `/healthz` | `ok`, with no token needed |
//!
//! Frames are JPEG-encoded only when a viewer asks, once per frame and width however
//! many viewers there are; each viewer gets the newest frame, never a queue, and one
//! that stops reading is cut off after [`WebOptions::stall_timeout`]. Safe by default:
//! loopback unless an address is given, a token for any other address, fixed routes
//! only, bounded viewers, open sockets (idle ones closed after a few seconds), header
//! sizes and header counts.

mod archive;
mod rate;
mod server;
mod stream;

use super::{FrameReport, Sink};
use crate::events::FaceEvent;
use anyhow::{bail, Context, Result};
use image::RgbImage;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};

/// Where a token is looked for when `--http-token` is not given.
pub const TOKEN_FILE: &str = "/etc/facecam/http-token";

/// Web view settings.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Address to listen on; loopback unless the spec names one.
    pub addr: SocketAddr,
    /// Required on every route but `/healthz`, as `Authorization: Bearer TOKEN` or
    /// `?token=TOKEN`. Mandatory for a non-loopback address.
    pub token: Option<String>,
    /// Concurrent `/stream.mjpg` and `/events` clients; the next one gets 503.
    pub max_viewers: usize,
    /// A viewer that takes no data for this long is disconnected.
    pub stall_timeout: Duration,
    /// Board and model, shown on the page.
    pub about: String,
    /// Zones and masks, drawn on the picture for `?zones=1`.
    pub zones: Arc<crate::zones::Zones>,
    /// The snapshot folder (`--snapshots`), served at `/events.json` and `/events/ID.jpg`.
    pub snapshots: Option<std::path::PathBuf>,
}

impl Default for WebOptions {
    fn default() -> Self {
        Self {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080),
            token: None,
            max_viewers: 4,
            stall_timeout: Duration::from_secs(5),
            about: String::new(),
            zones: Arc::default(),
            snapshots: None,
        }
    }
}

impl WebOptions {
    /// Parse the part after `http:`: `PORT` (loopback) or `ADDR:PORT` (`[v6]:PORT` too).
    pub fn parse_addr(rest: &str) -> Result<SocketAddr> {
        if let Ok(port) = rest.parse::<u16>() {
            return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
        }
        rest.parse::<SocketAddr>().with_context(|| {
            format!("sink `http:{rest}`: expected http:PORT or http:ADDR:PORT, e.g. http:0.0.0.0:8080")
        })
    }

    /// The token from `--http-token`, else from [`TOKEN_FILE`] when it exists.
    pub fn find_token(given: Option<&str>, file: &Path) -> Result<Option<String>> {
        if let Some(t) = given {
            return Ok(Some(check_token(t, "--http-token")?));
        }
        if std::fs::symlink_metadata(file).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
            return Ok(None);
        }
        let text = crate::input::read_text(file, "a token file", 4096)?;
        Ok(Some(check_token(text.trim(), &file.display().to_string())?))
    }
}

fn check_token(t: &str, from: &str) -> Result<String> {
    // URL-safe characters only: the token travels in `?token=` unescaped.
    if t.len() < 8 || t.len() > 256 || !t.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)) {
        bail!("{from}: the web view's token must be 8 to 256 characters of A-Z, a-z, 0-9, `-`, `.`, `_` and `~`");
    }
    Ok(t.to_string())
}

/// A composed frame as viewers get it.
pub(crate) struct Shown {
    pub image: RgbImage,
    /// Encoded JPEGs of this frame by width, made on first request.
    /// Keyed by width and whether the zones are drawn.
    pub jpegs: Mutex<Vec<((u32, bool), bytes::Bytes)>>,
}

/// What the sink and the server share.
pub(crate) struct Shared {
    pub options: WebOptions,
    pub frames: watch::Sender<Option<Arc<Shown>>>,
    pub events: broadcast::Sender<Arc<(String, String)>>,
    pub viewers: AtomicUsize,
    pub connections: AtomicUsize,
    /// When frames were shown, for the page's FPS.
    pub rate: Mutex<rate::FrameRate>,
}

/// The web view sink; see the module docs.
pub struct WebSink {
    shared: Arc<Shared>,
    server: Option<server::Handle>,
}

impl WebSink {
    /// Bind and start serving. Refuses a non-loopback address without a token.
    pub fn start(options: WebOptions) -> Result<Self> {
        if !options.addr.ip().is_loopback() && options.token.is_none() {
            bail!(
                "sink `http:{}`: a web view on a non-loopback address needs a token: pass --http-token or put one \
                 in {TOKEN_FILE}",
                options.addr
            );
        }
        if !(1..=64).contains(&options.max_viewers) {
            bail!("--http-max-viewers {}: must be in 1..=64", options.max_viewers);
        }
        let shared = Arc::new(Shared {
            options,
            frames: watch::channel(None).0,
            events: broadcast::channel(256).0,
            viewers: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            rate: Mutex::new(rate::FrameRate::default()),
        });
        let server = server::start(shared.clone())?;
        log::info!("web view on http://{}/", server.addr);
        Ok(Self { shared, server: Some(server) })
    }

    /// The address actually bound (port 0 picks a free one).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.as_ref().map_or(self.shared.options.addr, |s| s.addr)
    }

    fn publish(&self, kind: &str, json: String) {
        // No receivers is fine: nobody is watching.
        let _ = self.shared.events.send(Arc::new((kind.to_string(), json)));
    }
}

impl Sink for WebSink {
    fn show(&mut self, frame: &RgbImage, report: &FrameReport) -> Result<()> {
        // Keep the frame only while someone can ask for it: a snapshot may come at any
        // time, so the newest is always kept (a copy, no encoding).
        let shown = Shown { image: frame.clone(), jpegs: Mutex::new(Vec::new()) };
        self.shared.frames.send_replace(Some(Arc::new(shown)));
        self.shared.rate.lock().unwrap_or_else(|p| p.into_inner()).shown(Instant::now());
        if self.shared.events.receiver_count() > 0 {
            self.publish("frame", serde_json::to_string(report)?);
        }
        self.events(&report.events)
    }

    fn events(&mut self, events: &[FaceEvent]) -> Result<()> {
        for e in events {
            let json = serde_json::to_value(e)?;
            let kind = json["type"].as_str().unwrap_or("event").to_string();
            self.publish(&kind, json.to_string());
        }
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        if let Some(server) = self.server.take() {
            server.stop();
        }
        Ok(())
    }
}

impl Drop for WebSink {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_default_to_loopback_and_bad_ones_are_named() {
        assert_eq!(WebOptions::parse_addr("8080").unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!(WebOptions::parse_addr("0.0.0.0:81").unwrap().to_string(), "0.0.0.0:81");
        assert_eq!(WebOptions::parse_addr("[::1]:82").unwrap().to_string(), "[::1]:82");
        let err = WebOptions::parse_addr("lan:99999").unwrap_err().to_string();
        assert!(err.contains("http:lan:99999"), "{err}");
    }

    #[test]
    fn a_public_address_without_a_token_is_refused() {
        let options = WebOptions { addr: "0.0.0.0:0".parse().unwrap(), ..Default::default() };
        let err = WebSink::start(options).err().expect("refused").to_string();
        assert!(err.contains("needs a token"), "{err}");
    }

    #[test]
    fn tokens_come_from_the_flag_or_the_file_and_are_checked() {
        let dir = std::env::temp_dir().join(format!("facecam-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("http-token");
        assert_eq!(WebOptions::find_token(None, &file).unwrap(), None);
        std::fs::write(&file, "s3cret-token\n").unwrap();
        assert_eq!(WebOptions::find_token(None, &file).unwrap().as_deref(), Some("s3cret-token"));
        assert_eq!(WebOptions::find_token(Some("another-one"), &file).unwrap().as_deref(), Some("another-one"));
        assert!(WebOptions::find_token(Some("short"), &file).is_err());
        std::fs::write(&file, "has space inside").unwrap();
        let err = WebOptions::find_token(None, &file).unwrap_err().to_string();
        assert!(err.contains("http-token"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
