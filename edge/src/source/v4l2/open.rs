//! Opening a V4L2 device: checking what it is, negotiating format, size and frame rate,
//! mapping the buffers, and putting the driver's errors in words.

use super::util::{explain_open_error, fourcc_str, fps_of, guarded};
use super::{BUFFERS, FRAME_TIMEOUT};
use crate::source::PixelFormat;
use anyhow::{anyhow, bail, Context, Result};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use v4l::buffer::Type;
use v4l::capability::Flags as CapFlags;
use v4l::io::mmap::Stream;
use v4l::video::capture::Parameters;
use v4l::video::Capture;
use v4l::{Device, Format, FourCC};

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

/// An error from a streaming call, with EBUSY put in words.
fn explain_stream_error(path: &Path, what: &str, e: io::Error) -> anyhow::Error {
    if e.raw_os_error() == Some(libc::EBUSY) {
        return explain_open_error(path, e);
    }
    anyhow!(e).context(format!("{}: {what}", path.display()))
}

/// What the caller asked for; kept to reopen the camera the same way after an unplug.
#[derive(Debug, Clone)]
pub(super) struct Request {
    pub(super) path: PathBuf,
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) fps: u32,
    pub(super) format: Option<PixelFormat>,
}

/// An open, configured device and its buffers.
pub(super) struct Live {
    // Declared first so it is dropped (stream off, buffers unmapped) before the device closes.
    // `None` between a failed stream and its replacement.
    pub(super) stream: Option<Stream<'static>>,
    pub(super) dev: Device,
    /// The driver's frame counter at the last frame, to count frames it dropped.
    pub(super) last_sequence: Option<u32>,
}

/// What the driver granted, for decoding and `describe`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Granted {
    pub(super) card: String,
    pub(super) driver: String,
    pub(super) format: PixelFormat,
    pub(super) fourcc: [u8; 4],
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) stride: usize,
    pub(super) image_bytes: usize,
    pub(super) fps: Option<f64>,
}

/// Drop a device and its stream. `v4l`'s destructors panic on unexpected errors from
/// VIDIOC_STREAMOFF/REQBUFS/close (they only expect ENODEV from an unplugged camera); a
/// half-broken device must not take the whole program down.
pub(super) fn discard(live: Live) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(live)));
}

/// Open, check, configure and map: everything up to the first frame.
pub(super) fn open_live(req: &Request) -> Result<(Live, Granted)> {
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
            Err(e) => log::warn!("{p}: cannot set the frame rate ({e}); using the camera's default"),
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
}
