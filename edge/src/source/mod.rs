//! Frame sources: everything that yields RGB frames, behind one [`FrameSource`] trait.
//!
//! A source is named by a spec string (see [`SourceSpec`]) so the command line, board
//! profiles and tests all open sources the same way:
//!
//! | spec | source |
//! |---|---|
//! | `v4l2:/dev/video0[@WxH[@FPS]][:mjpeg\|yuyv]` | a V4L2 camera, mmap streaming |
//! | `mjpeg:PATH` (`-` for stdin) | concatenated JPEG frames from a file (a FIFO through `pipe:cat FIFO`) |
//! | `pipe:COMMAND` | a child process writing MJPEG to stdout (the CSI cameras, RTSP through ffmpeg), started again when it ends ([`restart`]) |
//! | `http://HOST[:PORT]/PATH` | an MJPEG-over-HTTP camera ([`http`]), e.g. another facecam's `/stream.mjpg` |
//! | `images:PATH` | an image file or a folder of them |
//! | `pattern[:WxH]` | a moving test pattern |

pub mod clock;
pub mod decode;
pub mod files;
#[cfg(feature = "http-source")]
pub mod http;
pub mod mjpeg;
pub mod pattern;
pub mod restart;
#[cfg(all(target_os = "linux", feature = "v4l2"))]
pub mod v4l2;

use anyhow::{bail, Context, Result};
use image::RgbImage;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The picture, decoded to RGB.
    pub image: RgbImage,
    /// Position in the stream, from 0, counting skipped frames too.
    pub seq: u64,
    /// When the source handed it over (latency is measured from here).
    pub captured: Instant,
    /// The picture is unrelated to the previous frame (the next file of a folder):
    /// faces tracked so far do not carry over to it.
    pub cut: bool,
    /// Where the frame lies on the stream's own timeline, from its first frame: set for
    /// file sources ([`clock::OwnTimeline`]: frame n at n / fps), `None` for live ones,
    /// whose frames are timed by the wall clock.
    pub at: Option<Duration>,
}

/// Why a source gave no frame this time.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// This one frame was unusable (corrupt JPEG, short buffer); the next may be fine.
    #[error("corrupt frame: {0}")]
    Corrupt(String),
    /// No frame arrived in time; the source may still recover.
    #[error("no frame within {0:?}")]
    Timeout(Duration),
    /// The source is gone (unplugged, closed, unreadable); reopen it or stop.
    #[error(transparent)]
    Fatal(#[from] anyhow::Error),
}

/// Anything that yields frames: a camera, a stream, files, a pattern.
pub trait FrameSource: Send {
    /// The next frame; `Ok(None)` when a finite source is exhausted.
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError>;
    /// One line saying what this source is (device, format, size), for logs.
    fn describe(&self) -> String;
}

/// Pixel format asked of a V4L2 camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Motion JPEG: small USB transfers, needs decoding.
    Mjpeg,
    /// Packed YUV 4:2:2: no decoding, more bandwidth.
    Yuyv,
}

/// A parsed source spec (see the module docs for the syntax).
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// A V4L2 device.
    V4l2 {
        /// The device node, e.g. `/dev/video0`.
        device: PathBuf,
        /// Frame width asked of the camera, pixels (640 when not given).
        width: u32,
        /// Frame height asked of the camera, pixels (480 when not given).
        height: u32,
        /// Frame rate asked of the camera, frames per second (30 when not given).
        fps: u32,
        /// Pixel format asked for; `None` takes MJPEG when the camera offers it, else YUYV.
        format: Option<PixelFormat>,
    },
    /// Concatenated JPEGs from a file or stdin (`-`).
    Mjpeg(PathBuf),
    /// A shell command whose stdout is an MJPEG stream.
    Pipe(String),
    /// An MJPEG-over-HTTP URL.
    Http(String),
    /// An image file or a folder of images.
    Images(PathBuf),
    /// A synthetic moving pattern of this size.
    Pattern {
        /// Frame width, pixels.
        width: u32,
        /// Frame height, pixels.
        height: u32,
    },
}

impl std::str::FromStr for SourceSpec {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let (kind, rest) = s.split_once(':').unwrap_or((s, ""));
        Ok(match kind {
            "v4l2" => {
                let (device, fmt) = match rest.rsplit_once(':') {
                    Some((d, f)) if matches!(f, "mjpeg" | "yuyv") => (d, Some(f)),
                    _ => (rest, None),
                };
                let mut parts = device.split('@');
                let device = PathBuf::from(parts.next().filter(|d| !d.is_empty()).unwrap_or("/dev/video0"));
                let (width, height) = match parts.next() {
                    Some(size) => {
                        crate::preprocess::parse_size(size).map_err(|e| anyhow::anyhow!("source `{s}`: {e}"))?
                    }
                    None => (640, 480),
                };
                let fps = match parts.next() {
                    Some(f) => f.parse().with_context(|| format!("source `{s}`: frame rate `{f}` is not a number"))?,
                    None => 30,
                };
                let format = fmt.map(|f| if f == "mjpeg" { PixelFormat::Mjpeg } else { PixelFormat::Yuyv });
                SourceSpec::V4l2 { device, width, height, fps, format }
            }
            "mjpeg" if !rest.is_empty() => SourceSpec::Mjpeg(rest.into()),
            "pipe" if !rest.is_empty() => SourceSpec::Pipe(rest.into()),
            "http" if rest.starts_with("//") && rest.len() > 2 => SourceSpec::Http(s.into()),
            "images" if !rest.is_empty() => SourceSpec::Images(rest.into()),
            "pattern" => {
                let (width, height) = if rest.is_empty() {
                    (640, 480)
                } else {
                    crate::preprocess::parse_size(rest).map_err(anyhow::Error::msg)?
                };
                SourceSpec::Pattern { width, height }
            }
            _ => bail!(
                "source `{s}`: expected v4l2:/dev/videoN[@WxH[@FPS]][:mjpeg|yuyv], mjpeg:PATH, pipe:COMMAND, \
                 http://HOST[:PORT]/PATH, images:PATH or pattern[:WxH]"
            ),
        })
    }
}

impl SourceSpec {
    /// Open the source this spec names.
    pub fn open(&self) -> Result<Box<dyn FrameSource>> {
        Ok(match self {
            #[cfg(all(target_os = "linux", feature = "v4l2"))]
            SourceSpec::V4l2 { device, width, height, fps, format } => {
                Box::new(v4l2::V4l2Source::open(device, *width, *height, *fps, *format)?)
            }
            #[cfg(not(all(target_os = "linux", feature = "v4l2")))]
            SourceSpec::V4l2 { .. } => bail!("this build of facecam has no V4L2 support (feature `v4l2`)"),
            SourceSpec::Mjpeg(path) => Box::new(mjpeg::MjpegSource::open_path(path)?),
            SourceSpec::Pipe(command) => Box::new(restart::RestartingPipe::spawn(command)?),
            #[cfg(feature = "http-source")]
            SourceSpec::Http(url) => Box::new(http::open(url)?),
            #[cfg(not(feature = "http-source"))]
            SourceSpec::Http(_) => bail!("this build of facecam has no HTTP camera support (feature `http-source`)"),
            SourceSpec::Images(path) => Box::new(files::ImageFiles::open(path)?),
            SourceSpec::Pattern { width, height } => Box::new(pattern::Pattern::new(*width, *height)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_of_spec() {
        let v: SourceSpec = "v4l2:/dev/video2@320x240@15:yuyv".parse().unwrap();
        assert_eq!(
            v,
            SourceSpec::V4l2 {
                device: "/dev/video2".into(),
                width: 320,
                height: 240,
                fps: 15,
                format: Some(PixelFormat::Yuyv)
            }
        );
        let d: SourceSpec = "v4l2".parse().unwrap();
        assert_eq!(
            d,
            SourceSpec::V4l2 { device: "/dev/video0".into(), width: 640, height: 480, fps: 30, format: None }
        );
        assert_eq!("mjpeg:-".parse::<SourceSpec>().unwrap(), SourceSpec::Mjpeg("-".into()));
        assert_eq!(
            "pipe:rpicam-vid -t 0 --codec mjpeg -o -".parse::<SourceSpec>().unwrap(),
            SourceSpec::Pipe("rpicam-vid -t 0 --codec mjpeg -o -".into())
        );
        assert_eq!("pattern:64x48".parse::<SourceSpec>().unwrap(), SourceSpec::Pattern { width: 64, height: 48 });
    }

    #[test]
    fn bad_specs_say_what_is_accepted() {
        for bad in ["webcam", "mjpeg:", "v4l2:/dev/video0@big", "v4l2:/dev/video0@640x480@fast"] {
            let e = bad.parse::<SourceSpec>().unwrap_err().to_string();
            assert!(e.contains(bad) || e.contains("expected") || e.contains("size"), "{bad}: {e}");
        }
    }
}
