//! Test pattern. (placeholder — being written)
use super::{Frame, FrameSource, SourceError};

/// A moving test pattern.
pub struct Pattern;

impl Pattern {
    /// A pattern of this size.
    pub fn new(_w: u32, _h: u32) -> Self {
        Pattern
    }
}

impl FrameSource for Pattern {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        Ok(None)
    }
    fn describe(&self) -> String {
        "pattern".into()
    }
}
