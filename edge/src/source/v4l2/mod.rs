//! V4L2 cameras (USB UVC webcams and other single-planar capture devices), streaming through
//! memory-mapped buffers with the `v4l` crate.
//!
//! * [`list_devices`] describes every `/dev/videoN` for `facecam devices`.
//! * [`V4l2Source`] negotiates a format (MJPEG preferred, else YUYV), a size and a frame rate,
//!   and hands out RGB frames. It survives the camera being unplugged: the source keeps
//!   answering [`SourceError::Timeout`] while it reopens the device with exponential backoff,
//!   so the run loop keeps going and picks up frames again after a replug. A camera that comes
//!   back under another `/dev/videoN` is only found again through a stable path such as
//!   `/dev/v4l/by-id/usb-...-video-index0`.
//!
//! Multi-planar devices (the Raspberry Pi's CSI cameras through libcamera) are not handled
//! here; those are read with `pipe:rpicam-vid ... --codec mjpeg -o -` instead.

mod devices;
mod open;
mod util;

pub use devices::{list_devices, DeviceInfo, FormatInfo, FpsInfo, SizeInfo};
pub use open::choose_format;

use super::{Frame, FrameSource, PixelFormat, SourceError};
use crate::source::decode::{decode_jpeg, yuyv_to_rgb};
use anyhow::Result;
use image::RgbImage;
use open::{discard, open_live, Granted, Live, Request};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};
use util::fourcc_str;
use v4l::buffer::{Flags as BufferFlags, Type};
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::FourCC;

/// How long to wait for one frame before reporting [`SourceError::Timeout`].
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(2);
/// Buffers shared with the driver: enough to ride out a slow frame without the driver dropping
/// frames, few enough that a frame is never far behind the sensor.
const BUFFERS: u32 = 4;
const FIRST_RETRY: Duration = Duration::from_millis(250);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// Frame counters of a [`V4l2Source`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Frames decoded and handed out.
    pub frames: u64,
    /// Frames the driver flagged as damaged, or that did not decode.
    pub corrupt: u64,
    /// Times the device was lost and opened again.
    pub reconnects: u64,
}

/// A V4L2 capture device streaming through mmap buffers.
pub struct V4l2Source {
    request: Request,
    granted: Granted,
    live: Option<Live>,
    /// After a timeout the v4l stream's buffer bookkeeping is out of step with the driver's
    /// queue (it would queue a buffer the driver still holds), so streaming restarts.
    restart_stream: bool,
    retry_at: Instant,
    backoff: Duration,
    seq: u64,
    stats: CaptureStats,
    image: RgbImage,
}

impl V4l2Source {
    /// Open `device`, negotiate format, size and frame rate, and map the buffers; streaming
    /// starts with the first [`FrameSource::next_frame`]. `format` `None` prefers MJPEG.
    ///
    /// The driver may grant another size than `width`×`height` (the nearest it has); that size
    /// is used and a warning printed. Errors say what to do: a missing device points at
    /// `facecam devices`, a busy one says another program holds it.
    pub fn open(device: &Path, width: u32, height: u32, fps: u32, format: Option<PixelFormat>) -> Result<Self> {
        let request = Request { path: device.to_path_buf(), width, height, fps, format };
        let (live, granted) = open_live(&request)?;
        let g = &granted;
        if (g.width, g.height) != (width, height) {
            log::warn!("{}: asked for {width}x{height}, the camera gives {}x{}", device.display(), g.width, g.height);
        }
        if let Some(got) = g.fps.filter(|got| fps > 0 && (got - fps as f64).abs() > 0.5) {
            log::warn!("{}: asked for {fps} fps, the camera gives {got:.1}", device.display());
        }
        Ok(Self {
            request,
            granted,
            live: Some(live),
            restart_stream: false,
            retry_at: Instant::now(),
            backoff: FIRST_RETRY,
            seq: 0,
            stats: CaptureStats::default(),
            image: RgbImage::new(0, 0),
        })
    }

    /// Frames decoded, frames found corrupt, and reconnections so far.
    pub fn stats(&self) -> CaptureStats {
        self.stats
    }

    /// The device is gone: release it and try again after the current backoff.
    fn lose_device(&mut self, e: io::Error) {
        if let Some(live) = self.live.take() {
            discard(live);
        }
        log::warn!(
            "{}: camera lost ({e}); reopening every {:.2}s up to {}s",
            self.request.path.display(),
            self.backoff.as_secs_f64(),
            MAX_RETRY.as_secs()
        );
        self.retry_at = Instant::now() + self.backoff;
    }

    /// While disconnected: wait (at most [`FRAME_TIMEOUT`]) until the next attempt is due,
    /// then try to reopen. `Err(Timeout)` keeps the run loop going meanwhile.
    fn reconnect(&mut self) -> Result<(), SourceError> {
        let now = Instant::now();
        if now < self.retry_at {
            let wait = (self.retry_at - now).min(FRAME_TIMEOUT);
            std::thread::sleep(wait);
            if Instant::now() < self.retry_at {
                return Err(SourceError::Timeout(wait));
            }
        }
        match open_live(&self.request) {
            Ok((live, granted)) => {
                if granted != self.granted {
                    log::warn!("{}: reopened with different settings", self.request.path.display());
                }
                self.live = Some(live);
                self.granted = granted;
                self.backoff = FIRST_RETRY;
                self.stats.reconnects += 1;
                log::info!("{}: camera back", self.request.path.display());
                Ok(())
            }
            Err(_) => {
                // Still unplugged (or not yet re-enumerated): wait longer next time.
                let waited = self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_RETRY);
                self.retry_at = Instant::now() + self.backoff;
                Err(SourceError::Timeout(waited))
            }
        }
    }

    fn corrupt(&mut self, msg: String) -> SourceError {
        self.stats.corrupt += 1;
        SourceError::Corrupt(format!("{}: {msg}", self.request.path.display()))
    }
}

impl FrameSource for V4l2Source {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.live.is_none() {
            self.reconnect()?;
        }
        let Some(live) = self.live.as_mut() else { return Err(SourceError::Timeout(Duration::ZERO)) };
        if self.restart_stream || live.stream.is_none() {
            self.restart_stream = false;
            // The old buffers must be unmapped and released before new ones can be requested.
            if let Some(old) = live.stream.take() {
                let _ = catch_unwind(AssertUnwindSafe(move || drop(old)));
            }
            match Stream::with_buffers(&live.dev, Type::VideoCapture, BUFFERS) {
                Ok(mut stream) => {
                    stream.set_timeout(FRAME_TIMEOUT);
                    live.stream = Some(stream);
                    live.last_sequence = None;
                }
                Err(e) => {
                    self.lose_device(e);
                    return Err(SourceError::Timeout(Duration::ZERO));
                }
            }
        }
        let Some(stream) = live.stream.as_mut() else { return Err(SourceError::Timeout(Duration::ZERO)) };
        let g = &self.granted;
        let (buf, meta) = match stream.next() {
            Ok(frame) => frame,
            Err(e) => {
                return match e.kind() {
                    io::ErrorKind::TimedOut | io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => {
                        self.restart_stream = true;
                        Err(SourceError::Timeout(FRAME_TIMEOUT))
                    }
                    // ENODEV after an unplug, EIO/EPIPE from a failing USB link, ...: reopen.
                    _ => {
                        self.lose_device(e);
                        Err(SourceError::Timeout(Duration::ZERO))
                    }
                };
            }
        };
        // The driver numbers frames; a jump means it dropped some, and `seq` counts those too.
        let dropped = match live.last_sequence {
            Some(last) => meta.sequence.wrapping_sub(last).saturating_sub(1).min(1000) as u64,
            None => 0,
        };
        live.last_sequence = Some(meta.sequence);
        self.seq += dropped;
        let seq = self.seq;
        self.seq += 1;
        let captured = Instant::now();
        // Only `bytesused` bytes are this frame; the rest of the buffer is stale.
        let used = match (meta.bytesused as usize, g.format) {
            // Some drivers leave bytesused at 0 for raw formats; the whole image is there.
            (0, PixelFormat::Yuyv) => g.image_bytes.max(g.stride * g.height as usize),
            (n, _) => n,
        };
        let data = &buf[..used.min(buf.len())];
        let result = if meta.flags.contains(BufferFlags::ERROR) {
            Err(SourceError::Corrupt("the driver flagged the frame as damaged".into()))
        } else {
            match g.format {
                PixelFormat::Mjpeg => decode_jpeg(data),
                PixelFormat::Yuyv => {
                    yuyv_to_rgb(data, g.width, g.height, g.stride, &mut self.image).map(|()| self.image.clone())
                }
            }
        };
        match result {
            Ok(image) => {
                self.stats.frames += 1;
                Ok(Some(Frame { image, seq, captured, cut: false, at: None }))
            }
            Err(SourceError::Corrupt(msg)) => Err(self.corrupt(msg)),
            Err(e) => Err(e),
        }
    }

    fn describe(&self) -> String {
        let g = &self.granted;
        let fps = g.fps.map_or_else(|| "default fps".to_string(), |f| format!("{f:.1} fps"));
        let state = if self.live.is_some() { "" } else { " (reconnecting)" };
        format!(
            "v4l2 {} ({}, {}): {} {}x{} @ {fps}{state}",
            self.request.path.display(),
            g.card,
            g.driver,
            fourcc_str(FourCC::new(&g.fourcc)),
            g.width,
            g.height,
        )
    }
}

impl Drop for V4l2Source {
    fn drop(&mut self) {
        if let Some(live) = self.live.take() {
            discard(live);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_device_names_the_path_and_the_listing_command() {
        let e = V4l2Source::open(Path::new("/dev/video99"), 640, 480, 30, None).err().unwrap();
        let msg = format!("{e:#}");
        assert!(msg.contains("/dev/video99") && msg.contains("facecam devices"), "{msg}");
    }

    #[test]
    fn a_file_that_is_not_a_camera_is_refused_with_its_name() {
        // /dev/null opens fine but answers no V4L2 ioctl.
        let e = V4l2Source::open(Path::new("/dev/null"), 640, 480, 30, None).err().unwrap();
        let msg = format!("{e:#}");
        assert!(msg.contains("/dev/null") && msg.contains("not a V4L2 device"), "{msg}");
        let e = V4l2Source::open(Path::new("/dev/vid\0eo0"), 640, 480, 30, None).err().unwrap();
        assert!(e.to_string().contains("not a valid device path"), "{e}");
    }
}
