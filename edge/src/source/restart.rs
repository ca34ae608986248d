//! A `pipe:` camera that comes back: when its command ends after it has sent frames
//! (`rpicam-vid` killed, ffmpeg losing its RTSP camera), the command is started again
//! after a backoff that doubles from [`FIRST_RETRY`] to [`MAX_RETRY`] and resets once
//! frames flow again. Meanwhile the source answers [`SourceError::Timeout`], as a V4L2
//! camera does while it reopens its device, so the loop keeps running.
//!
//! A command that stays alive but sends nothing for [`STALL`] (a hung camera stack) is
//! stopped and started again the same way. A command that fails before its very first
//! frame is not retried: that is a wrong command line (`pipe:false`, a typo), reported at
//! once as before.

use super::mjpeg::MjpegSource;
use super::{Frame, FrameSource, SourceError};
use std::time::{Duration, Instant};

/// The first wait before restarting a command that ended.
pub const FIRST_RETRY: Duration = Duration::from_millis(500);
/// The longest wait between restarts.
pub const MAX_RETRY: Duration = Duration::from_secs(30);
/// A command that has sent frames and then sends none for this long is restarted.
pub const STALL: Duration = Duration::from_secs(15);

/// A restarting `pipe:` source; see the module docs.
pub struct RestartingPipe {
    command: String,
    inner: Option<MjpegSource>,
    /// Frames (good or corrupt) of earlier runs of the command, so `seq` keeps counting.
    seq_base: u64,
    /// Whether any run has sent a frame.
    ever_sent: bool,
    first_retry: Duration,
    backoff: Duration,
    retry_at: Instant,
    /// Times the command was started again.
    pub restarts: u64,
    /// The next frame follows a restart: tracks do not carry over.
    cut_next: bool,
    stall: Duration,
    /// Since when the running command has sent nothing (its first timeout).
    silent_since: Option<Instant>,
}

impl RestartingPipe {
    /// Start `command` (`sh -c`); an error here is a command that cannot be run at all.
    pub fn spawn(command: &str) -> anyhow::Result<Self> {
        Ok(Self {
            command: command.to_string(),
            inner: Some(Self::start(command, STALL)?),
            seq_base: 0,
            ever_sent: false,
            first_retry: FIRST_RETRY,
            backoff: FIRST_RETRY,
            retry_at: Instant::now(),
            restarts: 0,
            cut_next: false,
            stall: STALL,
            silent_since: None,
        })
    }

    /// Another first backoff and stall time (tests use short ones); applies from the next start.
    pub fn with_timing(mut self, first_retry: Duration, stall: Duration) -> Self {
        (self.first_retry, self.backoff, self.stall) = (first_retry, first_retry, stall);
        self
    }

    /// Reads wait at most a third of the stall time, so a stall is noticed in time.
    fn start(command: &str, stall: Duration) -> anyhow::Result<MjpegSource> {
        Ok(MjpegSource::spawn(command)?.with_timeout((stall / 3).min(super::mjpeg::DEFAULT_TIMEOUT)))
    }

    /// The command ended (`why`): drop it and schedule the next start.
    fn ended(&mut self, why: &str) -> SourceError {
        self.silent_since = None;
        // Dropping the source stops the command (SIGTERM, then SIGKILL) and reaps it.
        if let Some(old) = self.inner.take() {
            let s = old.stats();
            self.seq_base += s.frames + s.corrupt;
        }
        log::warn!("camera command `{}` {why}; starting it again in {:.1} s", self.command, self.backoff.as_secs_f64());
        self.retry_at = Instant::now() + self.backoff;
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_RETRY);
        SourceError::Timeout(wait)
    }
}

impl FrameSource for RestartingPipe {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let Some(inner) = self.inner.as_mut() else {
            let now = Instant::now();
            if now < self.retry_at {
                // Short sleeps, so a stop request is noticed soon.
                let wait = (self.retry_at - now).min(Duration::from_millis(200));
                std::thread::sleep(wait);
                return Err(SourceError::Timeout(wait));
            }
            self.restarts += 1;
            return match Self::start(&self.command, self.stall) {
                Ok(s) => {
                    self.inner = Some(s);
                    self.cut_next = true;
                    Err(SourceError::Timeout(Duration::ZERO))
                }
                Err(e) => Err(self.ended(&format!("cannot be started ({e:#})"))),
            };
        };
        let result = inner.next_frame();
        // The first run never sent a frame: a wrong command, not a camera that died.
        if !self.ever_sent && matches!(result, Ok(None) | Err(SourceError::Fatal(_))) {
            return result;
        }
        match result {
            Ok(Some(mut frame)) => {
                self.ever_sent = true;
                self.silent_since = None;
                self.backoff = self.first_retry;
                frame.seq += self.seq_base;
                frame.cut |= std::mem::take(&mut self.cut_next);
                Ok(Some(frame))
            }
            Ok(None) => Err(self.ended("ended")),
            Err(SourceError::Fatal(e)) => Err(self.ended(&format!("{e:#}"))),
            Err(SourceError::Timeout(t)) if self.ever_sent => {
                let since = *self.silent_since.get_or_insert_with(|| Instant::now() - t);
                match since.elapsed() >= self.stall {
                    true => Err(self.ended(&format!("sent no frame for {:.1} s", since.elapsed().as_secs_f64()))),
                    false => Err(SourceError::Timeout(t)),
                }
            }
            Err(other) => Err(other),
        }
    }

    fn describe(&self) -> String {
        format!("pipe `{}` (restarted when it ends)", self.command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command that sends two frames and exits, as a camera process that keeps dying.
    fn two_frames_then_exit(dir: &std::path::Path) -> String {
        let img = image::RgbImage::from_fn(32, 24, |x, y| image::Rgb([(x * 8) as u8, (y * 10) as u8, 90]));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&img).unwrap();
        let path = dir.join("two.mjpeg");
        std::fs::write(&path, [jpeg.clone(), jpeg].concat()).unwrap();
        format!("cat '{}'", path.display())
    }

    #[test]
    fn a_command_that_ends_is_started_again_and_seq_keeps_counting() {
        let dir = std::env::temp_dir().join(format!("facecam-restart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut src =
            RestartingPipe::spawn(&two_frames_then_exit(&dir)).unwrap().with_timing(Duration::from_millis(20), STALL);
        let (mut frames, mut cuts, started) = (Vec::new(), 0, Instant::now());
        while frames.len() < 6 && started.elapsed() < Duration::from_secs(20) {
            match src.next_frame() {
                Ok(Some(f)) => {
                    cuts += f.cut as usize;
                    frames.push(f.seq);
                }
                Ok(None) => panic!("a restarting pipe does not end"),
                Err(SourceError::Timeout(_)) => {}
                Err(e) => panic!("{e:#}"),
            }
        }
        assert_eq!(frames, vec![0, 1, 2, 3, 4, 5], "three runs of two frames each");
        assert!(src.restarts >= 2, "{}", src.restarts);
        assert_eq!(cuts, 2, "the first frame after each restart starts new tracks");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_command_that_stalls_is_stopped_and_started_again() {
        let dir = std::env::temp_dir().join(format!("facecam-stall-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Two frames, then alive and silent: only the stall rule can get more frames.
        let command = format!("{}; sleep 60", two_frames_then_exit(&dir));
        let stall = Duration::from_millis(600);
        let mut src = RestartingPipe::spawn(&command).unwrap().with_timing(Duration::from_millis(20), stall);
        // The first run was started with the default timing: restart it now with the short one.
        drop(src.ended("restarted by the test"));
        let (mut frames, started) = (0, Instant::now());
        while frames < 5 && started.elapsed() < Duration::from_secs(20) {
            match src.next_frame() {
                Ok(Some(_)) => frames += 1,
                Err(SourceError::Timeout(_)) => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(frames, 5, "frames from three runs");
        assert!(src.restarts >= 3, "{}", src.restarts);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_command_that_never_sends_a_frame_fails_at_once() {
        let mut src = RestartingPipe::spawn("exit 3").unwrap();
        let e = loop {
            match src.next_frame() {
                Err(SourceError::Timeout(_)) => continue,
                other => break other,
            }
        };
        let e = e.expect_err("an error, not frames");
        assert!(format!("{e:#}").contains("before sending any frame"), "{e:#}");
        assert_eq!(src.restarts, 0);
        // And one that exits cleanly without frames ends the stream (the loop then says so).
        let mut quiet = RestartingPipe::spawn("true").unwrap();
        let end = loop {
            match quiet.next_frame() {
                Err(SourceError::Timeout(_)) => continue,
                other => break other,
            }
        };
        assert!(matches!(end, Ok(None)), "{end:?}");
    }
}
