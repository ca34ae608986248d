//! Tracking faces across frames so boxes and stickers hold still.

use crate::model::BBox;
use serde::Serialize;

/// A face followed from frame to frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Track {
    /// Stable identity while the face stays in view.
    pub id: u64,
    /// Smoothed box, frame pixels.
    #[serde(rename = "box")]
    pub bbox: BBox,
    /// Latest detection score.
    pub score: f32,
}
