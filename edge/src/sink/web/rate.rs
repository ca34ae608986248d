//! The web view's frame rate: frames the sink actually showed over the last couple of
//! seconds, measured where they are shown (not from capture times, which a source may
//! stamp as it likes), so the page's header reports what viewers get.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How far back frames count. Long enough for a steady figure at a few frames a
/// second, short enough that a stalled camera reads 0 within two seconds.
const WINDOW: Duration = Duration::from_secs(2);

/// At most this many times are kept (a 256 fps source still fills the window).
const KEPT: usize = 512;

/// When recent frames were shown.
#[derive(Debug, Default)]
pub(crate) struct FrameRate {
    shown: VecDeque<Instant>,
    total: u64,
}

impl FrameRate {
    /// One more frame shown at `at`.
    pub fn shown(&mut self, at: Instant) {
        self.total += 1;
        if self.shown.len() == KEPT {
            self.shown.pop_front();
        }
        self.shown.push_back(at);
    }

    /// Frames per second over the window ending at `now`: the gaps between the frames
    /// in it; 0 with fewer than two frames there.
    pub fn fps(&mut self, now: Instant) -> f64 {
        while self.shown.front().is_some_and(|&t| now.saturating_duration_since(t) > WINDOW) {
            self.shown.pop_front();
        }
        match (self.shown.front(), self.shown.back()) {
            (Some(&first), Some(&last)) if last > first => {
                (self.shown.len() - 1) as f64 / last.duration_since(first).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    /// Frames shown since the start.
    pub fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_counts_recent_frames_and_falls_to_zero_when_they_stop() {
        let start = Instant::now();
        let mut rate = FrameRate::default();
        assert_eq!(rate.fps(start), 0.0, "no frames");
        rate.shown(start);
        assert_eq!(rate.fps(start), 0.0, "one frame is no rate");
        // 10 frames a second for 3 s: only the last 2 s count.
        for i in 1..=30 {
            rate.shown(start + Duration::from_millis(100 * i));
        }
        let fps = rate.fps(start + Duration::from_millis(3000));
        assert!((fps - 10.0).abs() < 1e-6, "{fps}");
        assert_eq!(rate.total(), 31);
        assert_eq!(rate.fps(start + Duration::from_secs(10)), 0.0, "stalled");
    }

    #[test]
    fn a_flood_of_frames_keeps_a_bounded_window() {
        let start = Instant::now();
        let mut rate = FrameRate::default();
        for i in 0..5000 {
            rate.shown(start + Duration::from_micros(100 * i));
        }
        assert_eq!(rate.shown.len(), KEPT);
        let fps = rate.fps(start + Duration::from_millis(500));
        assert!((fps - 10_000.0).abs() < 1.0, "{fps}");
    }
}
