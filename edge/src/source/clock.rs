//! When a frame happened. A live camera's frame happens when it arrives: the wall clock.
//! A file's frames happen on the file's own timeline, frame n at n / fps, however fast
//! facecam reads them: an 8-second clip is 8 seconds of events, counts and captures,
//! whether it is read in 1 second or in 30.
//!
//! File sources are wrapped in [`OwnTimeline`], which stamps each frame's
//! [`Frame::at`]; the consumers (the run loop's events, `capture --every`) read times
//! through one [`Clock`], so both kinds of source are timed the same way from there on.
//!
//! Neither kind of file declares a rate (a raw MJPEG file is bare JPEGs back to back, a
//! folder of pictures has none), so the rate is `--fps`, else [`MJPEG_FILE_FPS`] or
//! [`IMAGES_FPS`].

use super::{Frame, FrameSource, SourceError, SourceSpec};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Frames per second of an `mjpeg:FILE` without `--fps`: a common camera rate.
pub const MJPEG_FILE_FPS: f64 = 30.0;

/// Frames per second of `images:` without `--fps`: one picture a second.
pub const IMAGES_FPS: f64 = 1.0;

/// The rate a source spec's frames are timed at when it is a file (`mjpeg:FILE`,
/// `images:`), `fps` if given; `None` for a live source (cameras, pipes, stdin, HTTP,
/// the pattern), which runs on the wall clock.
pub fn file_rate(spec: &SourceSpec, fps: Option<f64>) -> Option<f64> {
    let default = match spec {
        SourceSpec::Images(_) => IMAGES_FPS,
        SourceSpec::Mjpeg(path) if path.is_file() => MJPEG_FILE_FPS,
        _ => return None,
    };
    Some(fps.unwrap_or(default))
}

/// A file source whose frames carry their place on the stream's timeline: frame n (its
/// `seq`, which counts the corrupt frames skipped too) at n / fps.
pub struct OwnTimeline {
    inner: Box<dyn FrameSource>,
    fps: f64,
}

impl OwnTimeline {
    /// Time `inner`'s frames at `fps` (finite, above 0: checked by the caller's parser).
    pub fn new(inner: Box<dyn FrameSource>, fps: f64) -> Self {
        Self { inner, fps }
    }
}

impl FrameSource for OwnTimeline {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let frame = self.inner.next_frame()?;
        Ok(frame.map(|f| Frame { at: Some(Duration::from_secs_f64(f.seq as f64 / self.fps)), ..f }))
    }

    fn describe(&self) -> String {
        format!("{}, timed at {} fps", self.inner.describe(), self.fps)
    }
}

/// Wall-clock time, seconds since the Unix epoch.
pub fn now_s() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Times frames: a live frame by the wall clock when it is asked about, a file's frame
/// by its place on the stream's timeline counted from when the clock was made.
#[derive(Debug, Clone)]
pub struct Clock {
    /// The clock's start, seconds since the Unix epoch.
    wall: f64,
    /// The same moment on the monotonic clock.
    start: Instant,
    /// The time of the last frame asked about when it was on a timeline of its own.
    last_own: Option<f64>,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// A clock whose stream timelines start now.
    pub fn new() -> Self {
        Self { wall: now_s(), start: Instant::now(), last_own: None }
    }

    /// The frame's time, seconds since the Unix epoch.
    pub fn time_of(&mut self, frame: &Frame) -> f64 {
        match frame.at {
            Some(at) => {
                let t = self.wall + at.as_secs_f64();
                self.last_own = Some(t);
                t
            }
            None => {
                self.last_own = None;
                now_s()
            }
        }
    }

    /// The frame's time as an [`Instant`] (for timers: `capture --every`).
    pub fn instant_of(&self, frame: &Frame) -> Instant {
        frame.at.map_or_else(Instant::now, |at| self.start + at)
    }

    /// When the stream ended: its last frame's time on a timeline of its own, else now.
    pub fn end_time(&self) -> f64 {
        self.last_own.unwrap_or_else(now_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source of `n` blank frames, numbered from 0.
    struct Blank(u64, u64);

    impl FrameSource for Blank {
        fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
            if self.0 == self.1 {
                return Ok(None);
            }
            self.0 += 1;
            let image = image::RgbImage::new(2, 2);
            Ok(Some(Frame { image, seq: self.0 - 1, captured: Instant::now(), cut: false, at: None }))
        }

        fn describe(&self) -> String {
            "blank".into()
        }
    }

    #[test]
    fn a_file_frame_n_happens_at_n_over_fps_however_fast_it_is_read() {
        let mut source = OwnTimeline::new(Box::new(Blank(0, 9)), 4.0);
        let mut clock = Clock::new();
        let times: Vec<f64> = std::iter::from_fn(|| source.next_frame().unwrap()).map(|f| clock.time_of(&f)).collect();
        assert_eq!(times.len(), 9);
        assert!((times[8] - times[0] - 2.0).abs() < 1e-9, "frame 8 at 4 fps is 2 s after frame 0: {times:?}");
        assert_eq!(clock.end_time(), times[8], "the stream ends at its last frame");
        assert!(source.describe().ends_with("timed at 4 fps"));
    }

    #[test]
    fn live_frames_keep_the_wall_clock() {
        let mut clock = Clock::new();
        let frame = Blank(0, 1).next_frame().unwrap().unwrap();
        let before = now_s();
        let t = clock.time_of(&frame);
        assert!(t >= before && t <= now_s());
        assert!(clock.instant_of(&frame) <= Instant::now());
    }

    #[test]
    fn only_files_have_a_rate_of_their_own() {
        let images: SourceSpec = "images:samples".parse().unwrap();
        assert_eq!(file_rate(&images, None), Some(IMAGES_FPS));
        assert_eq!(file_rate(&images, Some(5.0)), Some(5.0));
        for live in ["mjpeg:-", "pipe:cat x.mjpeg", "pattern", "v4l2:/dev/video0"] {
            assert_eq!(file_rate(&live.parse().unwrap(), Some(5.0)), None, "{live}");
        }
    }
}
