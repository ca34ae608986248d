//! V4L2 cameras. (placeholder — being written)
use super::{Frame, FrameSource, PixelFormat, SourceError};
use anyhow::Result;
use std::path::Path;

/// A V4L2 capture device streaming through mmap buffers.
pub struct V4l2Source;

impl V4l2Source {
    /// Open `device` and start streaming.
    pub fn open(_device: &Path, _w: u32, _h: u32, _fps: u32, _format: Option<PixelFormat>) -> Result<Self> {
        anyhow::bail!("not written yet")
    }
}

impl FrameSource for V4l2Source {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        Ok(None)
    }
    fn describe(&self) -> String {
        "v4l2".into()
    }
}
