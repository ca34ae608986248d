//! Listing the V4L2 nodes for `facecam devices`: what each `/dev/videoN` is and which
//! formats, sizes and frame rates it offers.

use super::util::{explain_open_error, fourcc_str, fps_of, guarded};
use std::fmt;
use std::path::PathBuf;
use v4l::capability::Flags as CapFlags;
use v4l::frameinterval::FrameIntervalEnum;
use v4l::framesize::FrameSizeEnum;
use v4l::video::Capture;
use v4l::Device;

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

#[cfg(test)]
mod tests {
    use super::*;

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
