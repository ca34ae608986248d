//! What the web view streams: MJPEG parts and Server-Sent Events, each produced by a
//! task per viewer into a one-item channel that hyper drains as the client reads. A
//! client that stops reading leaves the channel full; after the stall timeout its
//! connection is cut, and the pipeline never noticed.

use super::{Shared, Shown};
use crate::zones::Zones;
use bytes::Bytes;
use hyper::body::Frame;
use image::{codecs::jpeg::JpegEncoder, imageops, RgbImage};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast::error::RecvError, mpsc, Notify};

/// The multipart boundary of `/stream.mjpg`.
pub(crate) const BOUNDARY: &str = "facecamframe";

/// JPEG quality of the stream and snapshots.
const QUALITY: u8 = 80;

/// A response body fed by a channel.
pub(crate) struct ChannelBody(pub mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|item| item.map(|b| Ok(Frame::data(b))))
    }
}

/// One of the bounded viewer places, given back when the stream ends.
pub(crate) struct Viewer(Arc<Shared>);

impl Viewer {
    pub fn claim(shared: &Arc<Shared>) -> Option<Self> {
        let max = shared.options.max_viewers;
        shared.viewers.fetch_update(Relaxed, Relaxed, |n| (n < max).then_some(n + 1)).ok().map(|_| Self(shared.clone()))
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.0.viewers.fetch_sub(1, Relaxed);
    }
}

/// The frame as JPEG, `width` pixels wide at most (aspect kept), with the zones and
/// masks drawn on it when `areas` are given (`?zones=1`); encoded once per frame, width
/// and drawing.
pub(crate) fn jpeg(shown: &Shown, width: Option<u32>, areas: Option<&Zones>) -> Bytes {
    let w = width.unwrap_or(shown.image.width()).min(shown.image.width()).max(1);
    let key = (w, areas.is_some());
    if let Some((_, b)) = shown.jpegs.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|(k, _)| *k == key) {
        return b.clone();
    }
    let mut drawn;
    let mut image: &RgbImage = &shown.image;
    if let Some(zones) = areas {
        drawn = shown.image.clone();
        crate::overlay::areas::draw_areas(&mut drawn, zones);
        image = &drawn;
    }
    let scaled;
    if w != image.width() {
        let h = ((image.height() as u64 * w as u64) / image.width() as u64).max(1) as u32;
        scaled = imageops::resize(image, w, h, imageops::FilterType::Triangle);
        image = &scaled;
    }
    let mut out = Vec::with_capacity(64 << 10);
    // Encoding into memory cannot fail for an RGB image.
    let _ = JpegEncoder::new_with_quality(&mut out, QUALITY).encode_image(image);
    let bytes = Bytes::from(out);
    shown.jpegs.lock().unwrap_or_else(|p| p.into_inner()).push((key, bytes.clone()));
    bytes
}

/// Send one chunk; `false` when the viewer is gone or stalled (then its connection is cut).
async fn send(viewer: &Viewer, tx: &mpsc::Sender<Bytes>, kill: &Notify, chunk: Bytes) -> bool {
    match tokio::time::timeout(viewer.0.options.stall_timeout, tx.send(chunk)).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            kill.notify_one();
            false
        }
    }
}

/// `/stream.mjpg`: the newest frame each time one is shown, at most `fps` a second.
pub(crate) async fn mjpeg(
    viewer: Viewer,
    tx: mpsc::Sender<Bytes>,
    kill: Arc<Notify>,
    fps: Option<f64>,
    (width, areas): (Option<u32>, bool),
) {
    let mut frames = viewer.0.frames.subscribe();
    frames.mark_changed(); // the current frame first
    let gap = fps.map(|f| Duration::from_secs_f64(1.0 / f));
    let mut last: Option<Instant> = None;
    loop {
        if frames.changed().await.is_err() {
            return;
        }
        if let (Some(gap), Some(last)) = (gap, last) {
            tokio::time::sleep(gap.saturating_sub(last.elapsed())).await;
        }
        let Some(shown) = frames.borrow_and_update().clone() else { continue };
        let zones = areas.then(|| viewer.0.options.zones.clone());
        let Ok(jpeg) = tokio::task::spawn_blocking(move || jpeg(&shown, width, zones.as_deref())).await else { return };
        let head = format!("--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", jpeg.len());
        let mut part = Vec::with_capacity(head.len() + jpeg.len() + 2);
        part.extend_from_slice(head.as_bytes());
        part.extend_from_slice(&jpeg);
        part.extend_from_slice(b"\r\n");
        last = Some(Instant::now());
        if !send(&viewer, &tx, &kill, Bytes::from(part)).await {
            return;
        }
    }
}

/// `/events`: each frame's JSON (`event: frame`) and each face event (`event:
/// face_appeared`, …); a comment every 15 s keeps proxies from closing it. A viewer
/// that falls behind skips what it missed rather than slowing anyone.
pub(crate) async fn events(viewer: Viewer, tx: mpsc::Sender<Bytes>, kill: Arc<Notify>) {
    let mut rx = viewer.0.events.subscribe();
    if !send(&viewer, &tx, &kill, Bytes::from_static(b"retry: 2000\n\n")).await {
        return;
    }
    loop {
        let chunk = match tokio::time::timeout(Duration::from_secs(15), rx.recv()).await {
            Err(_) => Bytes::from_static(b": keep-alive\n\n"),
            Ok(Ok(e)) => Bytes::from(format!("event: {}\ndata: {}\n\n", e.0, e.1)),
            Ok(Err(RecvError::Lagged(_))) => continue,
            Ok(Err(RecvError::Closed)) => return,
        };
        if !send(&viewer, &tx, &kill, chunk).await {
            return;
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The page at `/`, with the token (if one was given) and `zones=1` (if asked) carried
/// into its requests.
pub(crate) fn page(about: &str, token: Option<&str>, zones: bool) -> String {
    let pairs: Vec<String> =
        token.map(|t| format!("token={}", escape(t))).into_iter().chain(zones.then(|| "zones=1".into())).collect();
    let q = if pairs.is_empty() { String::new() } else { format!("?{}", pairs.join("&")) };
    include_str!("page.html").replace("{{about}}", &escape(about)).replace("{{query}}", &q)
}
