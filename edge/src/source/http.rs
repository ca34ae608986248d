//! IP cameras: `http://HOST[:PORT]/PATH`, an MJPEG-over-HTTP stream (`multipart/x-mixed-replace`,
//! as many IP cameras and another facecam's `/stream.mjpg` serve it).
//!
//! The body goes through the same [`MjpegSource`] parser as files and pipes: the
//! multipart headers between frames are skipped as garbage before each SOI. The
//! connection is ureq's (plain HTTP; for HTTPS or RTSP cameras use `pipe:` with ffmpeg,
//! see the README). When the camera goes away the reader reconnects, waiting 1 s and
//! doubling to 10 s, and the stream resynchronises on the next frame; only the first
//! connection's failure is an error, so a wrong URL is reported at once.

use super::mjpeg::MjpegSource;
use anyhow::{Context, Result};
use std::io::{self, Read};
use std::time::Duration;

/// Reconnects wait this long at first, doubling up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(5)))
        // A stream has no end: only silence counts, and the MJPEG source's own timeout
        // reports it; this bound lets a dead connection be noticed and replaced.
        .timeout_recv_response(Some(Duration::from_secs(10)))
        .timeout_recv_body(None)
        .timeout_global(None)
        .build()
        .into()
}

fn connect(agent: &ureq::Agent, url: &str) -> Result<Box<dyn Read + Send>> {
    let response = agent.get(url).call().with_context(|| format!("http source {url}"))?;
    let kind = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    if !(kind.starts_with("multipart/") || kind.starts_with("image/jpeg") || kind.is_empty()) {
        anyhow::bail!("http source {url}: the server sent `{kind}`, not an MJPEG stream (multipart/x-mixed-replace)");
    }
    Ok(Box::new(response.into_body().into_with_config().limit(u64::MAX).reader()))
}

/// A body that reconnects when it ends or fails.
struct Reconnecting {
    agent: ureq::Agent,
    url: String,
    body: Option<Box<dyn Read + Send>>,
    backoff: Duration,
}

impl Read for Reconnecting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(body) = &mut self.body {
                match body.read(buf) {
                    Ok(0) => log::warn!("http source {}: the stream ended; reconnecting", self.url),
                    Ok(n) => {
                        self.backoff = FIRST_BACKOFF;
                        return Ok(n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => log::warn!("http source {}: {e}; reconnecting", self.url),
                }
                self.body = None;
            }
            std::thread::sleep(self.backoff);
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            match connect(&self.agent, &self.url) {
                Ok(body) => {
                    log::info!("http source {}: reconnected", self.url);
                    self.body = Some(body);
                }
                Err(e) => log::warn!("{e:#}; retrying in {} s", self.backoff.as_secs()),
            }
        }
    }
}

/// Open an MJPEG-over-HTTP stream; the first connection must succeed.
pub fn open(url: &str) -> Result<MjpegSource> {
    let agent = agent();
    let body = connect(&agent, url)?;
    let reader = Reconnecting { agent, url: url.to_string(), body: Some(body), backoff: FIRST_BACKOFF };
    // Reconnecting can take longer than the usual frame timeout: report silence, keep going.
    Ok(MjpegSource::from_reader(Box::new(reader), format!("http {url}"))?.with_timeout(Duration::from_secs(15)))
}
