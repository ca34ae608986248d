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

use super::decode::{decode_jpeg, yuyv_to_rgb};
use super::{Frame, FrameSource, PixelFormat, SourceError};
use anyhow::{anyhow, bail, Context, Result};
use image::RgbImage;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use v4l::buffer::{Flags as BufferFlags, Type};
use v4l::capability::Flags as CapFlags;
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::capture::Parameters;
use v4l::video::Capture;
use v4l::{Device, Format, FourCC};

/// How long to wait for one frame before reporting [`SourceError::Timeout`].
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(2);
/// Buffers shared with the driver: enough to ride out a slow frame without the driver dropping
/// frames, few enough that a frame is never far behind the sensor.
const BUFFERS: u32 = 4;
const FIRST_RETRY: Duration = Duration::from_millis(250);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// One `/dev/videoN` node as [`list_devices`] found it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    /// The device node, e.g. `/dev/video0`.
    pub path: PathBuf,
    /// The camera's name (`card` in V4L2 terms).
    pub card: String,
    /// The kernel driver, e.g. `uvcvideo`.
    pub driver: String,
    /// Where it is attached, e.g. `usb-0000:00:14.0-1`.
    pub bus: String,
    /// Whether this node captures single-planar video (UVC cameras also create metadata nodes).
    pub capture: bool,
    /// The pixel formats offered, for capture nodes.
    pub formats: Vec<FormatInfo>,
    /// Why the node could not be queried (permissions, ...), if it could not.
    pub error: Option<String>,
}

/// One pixel format of a device, with its frame sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct FormatInfo {
    /// The four-character code, e.g. `MJPG` or `YUYV`.
    pub fourcc: String,
    /// The driver's description, e.g. `Motion-JPEG`.
    pub description: String,
    /// Frame sizes, where the driver enumerates them.
    pub sizes: Vec<SizeInfo>,
}

/// A frame size (or range of sizes) and its frame rates.
#[derive(Debug, Clone, PartialEq)]
pub enum SizeInfo {
    /// One size, with the frame rates offered for it (frames per second).
    Discrete {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Frame rates for this size, where the driver enumerates them.
        fps: Vec<FpsInfo>,
    },
    /// Any size from `min` to `max` (width × height) in steps of `step`.
    Range {
        /// Smallest size.
        min: (u32, u32),
        /// Largest size.
        max: (u32, u32),
        /// Step between sizes.
        step: (u32, u32),
    },
}

/// A frame rate offered for one size.
#[derive(Debug, Clone, PartialEq)]
pub enum FpsInfo {
    /// Exactly this many frames per second.
    Discrete(f64),
    /// Any rate between these (frames per second, slowest first).
    Range(f64, f64),
}

/// Every V4L2 device node (`/dev/video*`), in number order, with what it offers. Nodes that
/// cannot be opened are listed with [`DeviceInfo::error`] set rather than left out, so that
/// "permission denied" is visible.
pub fn list_devices() -> Vec<DeviceInfo> {
    let Ok(entries) = std::fs::read_dir("/dev") else { return Vec::new() };
    let mut nodes: Vec<(u32, PathBuf)> = entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            let n = path.file_name()?.to_str()?.strip_prefix("video")?.parse().ok()?;
            Some((n, path))
        })
        .collect();
    nodes.sort();
    nodes.into_iter().map(|(_, path)| describe_node(path)).collect()
}

fn describe_node(path: PathBuf) -> DeviceInfo {
    let mut info = DeviceInfo {
        path,
        card: String::new(),
        driver: String::new(),
        bus: String::new(),
        capture: false,
        formats: Vec::new(),
        error: None,
    };
    let dev = match Device::with_path(&info.path) {
        Ok(dev) => dev,
        Err(e) => {
            info.error = Some(explain_open_error(&info.path, e).to_string());
            return info;
        }
    };
    let caps = match guarded(|| dev.query_caps()) {
        Ok(caps) => caps,
        Err(e) => {
            info.error = Some(format!("not a V4L2 device: {e}"));
            return info;
        }
    };
    (info.card, info.driver, info.bus) = (caps.card, caps.driver, caps.bus);
    info.capture = caps.capabilities.contains(CapFlags::VIDEO_CAPTURE);
    if !info.capture {
        return info;
    }
    for desc in guarded(|| dev.enum_formats()).unwrap_or_default() {
        let mut sizes = Vec::new();
        for size in dev.enum_framesizes(desc.fourcc).unwrap_or_default() {
            match size.size {
                FrameSizeEnum::Discrete(d) => {
                    let fps = dev
                        .enum_frameintervals(desc.fourcc, d.width, d.height)
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|i| match i.interval {
                            FrameIntervalEnum::Discrete(f) => {
                                Some(FpsInfo::Discrete(fps_of(f.numerator, f.denominator)?))
                            }
                            FrameIntervalEnum::Stepwise(s) => Some(FpsInfo::Range(
                                fps_of(s.max.numerator, s.max.denominator)?,
                                fps_of(s.min.numerator, s.min.denominator)?,
                            )),
                        })
                        .collect();
                    sizes.push(SizeInfo::Discrete { width: d.width, height: d.height, fps });
                }
                FrameSizeEnum::Stepwise(s) => sizes.push(SizeInfo::Range {
                    min: (s.min_width, s.min_height),
                    max: (s.max_width, s.max_height),
                    step: (s.step_width, s.step_height),
                }),
            }
        }
        info.formats.push(FormatInfo { fourcc: fourcc_str(desc.fourcc), description: desc.description, sizes });
    }
    info
}

/// Frames per second for a frame interval of `num/den` seconds.
fn fps_of(num: u32, den: u32) -> Option<f64> {
    (num > 0).then(|| den as f64 / num as f64)
}

fn fourcc_str(f: FourCC) -> String {
    f.repr.iter().map(|&b| if b.is_ascii_graphic() { b as char } else { '?' }).collect()
}

impl fmt::Display for DeviceInfo {
    /// A few lines for `facecam devices`: the node, then its formats, sizes and rates.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(e) = &self.error {
            return write!(f, ": {e}");
        }
        write!(f, ": {} ({}, {})", self.card, self.driver, self.bus)?;
        if !self.capture {
            return write!(f, " - not a video capture node");
        }
        for format in &self.formats {
            write!(f, "\n  {} ({})", format.fourcc, format.description)?;
            for size in &format.sizes {
                match size {
                    SizeInfo::Discrete { width, height, fps } => {
                        write!(f, "\n    {width}x{height}")?;
                        let rates: Vec<String> = fps
                            .iter()
                            .map(|r| match r {
                                FpsInfo::Discrete(x) => {
                                    format!("{x:.4}").trim_end_matches('0').trim_end_matches('.').into()
                                }
                                FpsInfo::Range(lo, hi) => format!("{lo:.1}-{hi:.1}"),
                            })
                            .collect();
                        if !rates.is_empty() {
                            write!(f, " @ {} fps", rates.join(", "))?;
                        }
                    }
                    SizeInfo::Range { min, max, step } => {
                        write!(
                            f,
                            "\n    {}x{} to {}x{} in steps of {}x{}",
                            min.0, min.1, max.0, max.1, step.0, step.1
                        )?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Which format to ask for, given the four-character codes the device offers: the one asked
/// for, or MJPEG when offered (far less USB bandwidth than raw frames, so full frame rates at
/// larger sizes), else YUYV. MJPEG is `MJPG`, or `JPEG` on some cameras. The error lists what
/// the device offers.
pub fn choose_format(offered: &[[u8; 4]], wanted: Option<PixelFormat>) -> Result<(PixelFormat, [u8; 4]), String> {
    let find = |format: PixelFormat| {
        let codes: &[&[u8; 4]] = match format {
            PixelFormat::Mjpeg => &[b"MJPG", b"JPEG"],
            PixelFormat::Yuyv => &[b"YUYV"],
        };
        codes.iter().find(|c| offered.contains(c)).map(|&&c| (format, c))
    };
    let found = match wanted {
        Some(format) => find(format),
        None => find(PixelFormat::Mjpeg).or_else(|| find(PixelFormat::Yuyv)),
    };
    found.ok_or_else(|| {
        let list: Vec<String> = offered.iter().map(|c| fourcc_str(FourCC::new(c))).collect();
        let asked = match wanted {
            Some(PixelFormat::Mjpeg) => "MJPEG",
            Some(PixelFormat::Yuyv) => "YUYV",
            None => "MJPEG or YUYV",
        };
        let list = if list.is_empty() { "no formats".to_string() } else { list.join(", ") };
        format!("the camera does not offer {asked}; it offers {list}")
    })
}

/// Run a `v4l` call that may panic on odd driver data (its string fields are unwrapped as
/// UTF-8, and a card name cut at 32 bytes can split a character) as an ordinary error.
fn guarded<T>(f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(io::Error::other("the driver returned malformed data")))
}

fn explain_open_error(path: &Path, e: io::Error) -> anyhow::Error {
    let p = path.display();
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ENXIO) => {
            anyhow!("{p}: no such camera; run `facecam devices` to list the connected ones")
        }
        Some(libc::EBUSY) => anyhow!("{p} is busy: another program holds the camera (see `fuser {p}`)"),
        Some(libc::EACCES) | Some(libc::EPERM) => {
            anyhow!("{p}: permission denied; add the user to the `video` group (then log in again)")
        }
        _ => anyhow!(e).context(format!("cannot open {p}")),
    }
}

/// An error from a streaming call, with EBUSY put in words.
fn explain_stream_error(path: &Path, what: &str, e: io::Error) -> anyhow::Error {
    if e.raw_os_error() == Some(libc::EBUSY) {
        return explain_open_error(path, e);
    }
    anyhow!(e).context(format!("{}: {what}", path.display()))
}

/// What the caller asked for; kept to reopen the camera the same way after an unplug.
#[derive(Debug, Clone)]
struct Request {
    path: PathBuf,
    width: u32,
    height: u32,
    fps: u32,
    format: Option<PixelFormat>,
}

/// An open, configured device and its buffers.
struct Live {
    // Declared first so it is dropped (stream off, buffers unmapped) before the device closes.
    // `None` between a failed stream and its replacement.
    stream: Option<Stream<'static>>,
    dev: Device,
    /// The driver's frame counter at the last frame, to count frames it dropped.
    last_sequence: Option<u32>,
}

/// What the driver granted, for decoding and `describe`.
#[derive(Debug, Clone, PartialEq)]
struct Granted {
    card: String,
    driver: String,
    format: PixelFormat,
    fourcc: [u8; 4],
    width: u32,
    height: u32,
    stride: usize,
    image_bytes: usize,
    fps: Option<f64>,
}

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
            eprintln!(
                "warning: {}: asked for {width}x{height}, the camera gives {}x{}",
                device.display(),
                g.width,
                g.height
            );
        }
        if let Some(got) = g.fps.filter(|got| fps > 0 && (got - fps as f64).abs() > 0.5) {
            eprintln!("warning: {}: asked for {fps} fps, the camera gives {got:.1}", device.display());
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
        eprintln!(
            "warning: {}: camera lost ({e}); reopening every {:.2}s up to {}s",
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
                    eprintln!("warning: {}: reopened with different settings", self.request.path.display());
                }
                self.live = Some(live);
                self.granted = granted;
                self.backoff = FIRST_RETRY;
                self.stats.reconnects += 1;
                eprintln!("{}: camera back", self.request.path.display());
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

/// Drop a device and its stream. `v4l`'s destructors panic on unexpected errors from
/// VIDIOC_STREAMOFF/REQBUFS/close (they only expect ENODEV from an unplugged camera); a
/// half-broken device must not take the whole program down.
fn discard(live: Live) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(live)));
}

/// Open, check, configure and map: everything up to the first frame.
fn open_live(req: &Request) -> Result<(Live, Granted)> {
    let path = &req.path;
    let p = path.display();
    if path.as_os_str().as_bytes().contains(&0) {
        bail!("{p}: not a valid device path");
    }
    let dev = Device::with_path(path).map_err(|e| explain_open_error(path, e))?;
    let caps = guarded(|| dev.query_caps())
        .map_err(|e| anyhow!("{p} is not a V4L2 device ({e}); run `facecam devices` to list cameras"))?;
    let flags = caps.capabilities;
    if !flags.contains(CapFlags::VIDEO_CAPTURE) {
        if flags.contains(CapFlags::VIDEO_CAPTURE_MPLANE) {
            bail!(
                "{p} ({}) is a multi-planar capture device, which facecam does not read directly; \
                 use a pipe source such as `pipe:rpicam-vid -t 0 --codec mjpeg -o -`",
                caps.card
            );
        }
        bail!(
            "{p} ({}, {}) is not a video capture device (UVC cameras also create a metadata node; \
             try the neighbouring /dev/videoN, see `facecam devices`)",
            caps.card,
            caps.driver
        );
    }
    if !flags.contains(CapFlags::STREAMING) {
        bail!("{p} ({}) does not support streaming I/O", caps.card);
    }
    let offered: Vec<[u8; 4]> = guarded(|| dev.enum_formats())
        .with_context(|| format!("{p}: listing formats"))?
        .iter()
        .map(|d| d.fourcc.repr)
        .collect();
    let (format, fourcc) = choose_format(&offered, req.format).map_err(|e| anyhow!("{p}: {e}"))?;
    let granted = dev
        .set_format(&Format::new(req.width, req.height, FourCC::new(&fourcc)))
        .map_err(|e| explain_stream_error(path, "setting the format", e))?;
    if granted.fourcc.repr != fourcc {
        bail!("{p}: asked for {}, the driver set {}", fourcc_str(FourCC::new(&fourcc)), fourcc_str(granted.fourcc));
    }
    if granted.width == 0 || granted.height == 0 {
        bail!("{p}: the driver granted an empty frame size {}x{}", granted.width, granted.height);
    }
    let mut fps = None;
    if req.fps > 0 {
        // Frame rate control is optional in V4L2; without it the camera runs at its default.
        match dev.set_params(&Parameters::with_fps(req.fps)) {
            Ok(params) => fps = fps_of(params.interval.numerator, params.interval.denominator),
            Err(e) => eprintln!("warning: {p}: cannot set the frame rate ({e}); using the camera's default"),
        }
    }
    let mut stream = Stream::with_buffers(&dev, Type::VideoCapture, BUFFERS)
        .map_err(|e| explain_stream_error(path, "mapping capture buffers", e))?;
    stream.set_timeout(FRAME_TIMEOUT);
    let granted = Granted {
        card: caps.card,
        driver: caps.driver,
        format,
        fourcc,
        width: granted.width,
        height: granted.height,
        stride: if granted.stride > 0 { granted.stride as usize } else { granted.width as usize * 2 },
        image_bytes: granted.size as usize,
        fps,
    };
    Ok((Live { stream: Some(stream), dev, last_sequence: None }, granted))
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
                Ok(Some(Frame { image, seq, captured, cut: false }))
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
    fn format_choice_prefers_mjpeg_and_honours_requests() {
        let both = [*b"YUYV", *b"MJPG"];
        assert_eq!(choose_format(&both, None), Ok((PixelFormat::Mjpeg, *b"MJPG")));
        assert_eq!(choose_format(&both, Some(PixelFormat::Yuyv)), Ok((PixelFormat::Yuyv, *b"YUYV")));
        assert_eq!(choose_format(&[*b"YUYV"], None), Ok((PixelFormat::Yuyv, *b"YUYV")));
        assert_eq!(choose_format(&[*b"H264", *b"JPEG"], None), Ok((PixelFormat::Mjpeg, *b"JPEG")));
        // MJPG wins over JPEG when a camera offers both.
        assert_eq!(choose_format(&[*b"JPEG", *b"MJPG"], Some(PixelFormat::Mjpeg)), Ok((PixelFormat::Mjpeg, *b"MJPG")));
    }

    #[test]
    fn unsupported_formats_list_what_the_camera_offers() {
        let e = choose_format(&[*b"YUYV", *b"H264"], Some(PixelFormat::Mjpeg)).unwrap_err();
        assert!(e.contains("MJPEG") && e.contains("YUYV, H264"), "{e}");
        let e = choose_format(&[*b"GREY", [b'R', b'G', 0, 0xFF]], None).unwrap_err();
        assert!(e.contains("MJPEG or YUYV") && e.contains("GREY, RG??"), "{e}");
        let e = choose_format(&[], None).unwrap_err();
        assert!(e.contains("no formats"), "{e}");
    }

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

    #[test]
    fn open_errors_are_put_in_words() {
        let p = Path::new("/dev/video3");
        let busy = explain_open_error(p, io::Error::from_raw_os_error(libc::EBUSY)).to_string();
        assert!(busy.contains("/dev/video3") && busy.contains("another program"), "{busy}");
        let denied = explain_open_error(p, io::Error::from_raw_os_error(libc::EACCES)).to_string();
        assert!(denied.contains("video` group"), "{denied}");
        let streaming = explain_stream_error(p, "mapping", io::Error::from_raw_os_error(libc::EBUSY)).to_string();
        assert!(streaming.contains("another program"), "{streaming}");
        let other = format!("{:#}", explain_stream_error(p, "mapping", io::Error::from_raw_os_error(libc::EIO)));
        assert!(other.contains("/dev/video3: mapping"), "{other}");
    }

    #[test]
    fn listing_devices_works_without_cameras() {
        for dev in list_devices() {
            assert!(dev.path.to_string_lossy().starts_with("/dev/video"));
            assert!(dev.to_string().starts_with(&*dev.path.to_string_lossy()));
        }
    }

    #[test]
    fn device_listing_reads_well() {
        let info = DeviceInfo {
            path: "/dev/video0".into(),
            card: "HD Webcam".into(),
            driver: "uvcvideo".into(),
            bus: "usb-1".into(),
            capture: true,
            formats: vec![FormatInfo {
                fourcc: "MJPG".into(),
                description: "Motion-JPEG".into(),
                sizes: vec![
                    SizeInfo::Discrete {
                        width: 640,
                        height: 480,
                        fps: vec![FpsInfo::Discrete(30.0), FpsInfo::Discrete(7.5)],
                    },
                    SizeInfo::Range { min: (16, 16), max: (1920, 1080), step: (8, 8) },
                ],
            }],
            error: None,
        };
        assert_eq!(
            info.to_string(),
            "/dev/video0: HD Webcam (uvcvideo, usb-1)\n  MJPG (Motion-JPEG)\n    640x480 @ 30, 7.5 fps\n    \
             16x16 to 1920x1080 in steps of 8x8"
        );
        assert_eq!(fps_of(1, 30), Some(30.0));
        assert_eq!(fps_of(0, 30), None);
    }
}
