//! MJPEG streams: complete JPEG images one after another, from a file, stdin, or the
//! stdout of a child process (`rpicam-vid --codec mjpeg -o -`, `ffmpeg -f mjpeg -`, ...).
//!
//! Such a stream has no container, so frames are found by walking the JPEG marker structure
//! rather than by searching for `FF D8`/`FF D9`, which also occur inside EXIF thumbnails:
//!
//! * `FF D8` (SOI) starts a frame; anything before it is garbage, skipped and counted;
//! * each marker segment up to and including SOS is skipped by its length field;
//! * entropy-coded data follows SOS, where `FF 00` is a stuffed byte and `FF D0`–`FF D7` are
//!   restart markers; any other marker ends the scan (progressive JPEGs have several);
//! * `FF D9` (EOI) ends the frame.
//!
//! A frame that is cut off (a new SOI appears inside it, the structure breaks, the stream ends,
//! or it grows past [`MAX_FRAME_BYTES`]) or that does not decode is one
//! [`SourceError::Corrupt`]; the stream then resynchronises on the next SOI and goes on.
//!
//! Reading happens on a helper thread so that a stalled producer yields
//! [`SourceError::Timeout`] instead of blocking the run loop forever.

mod splitter;
#[cfg(test)]
mod tests;

use crate::source::decode::decode_jpeg;
use crate::source::{Frame, FrameSource, SourceError};
use anyhow::{anyhow, bail, Context, Result};
use splitter::{Splitter, Step};
use std::io::{self, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// A frame growing past this many bytes is declared corrupt (the buffer stays bounded even
/// when the input is not a JPEG stream at all).
pub const MAX_FRAME_BYTES: usize = 16 << 20;
/// How long [`MjpegSource::next_frame`] waits for input before reporting a timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const CHUNK_BYTES: usize = 64 << 10;

/// Counters of an MJPEG stream, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Frames decoded and handed out.
    pub frames: u64,
    /// Frames that were cut off or did not decode.
    pub corrupt: u64,
    /// Bytes discarded while looking for the start of a frame.
    pub skipped_bytes: u64,
}

/// Concatenated JPEG frames from a reader (file, stdin, or a child's stdout).
pub struct MjpegSource {
    name: String,
    rx: Receiver<io::Result<Vec<u8>>>,
    splitter: Splitter,
    child: Option<ChildProcess>,
    ended: bool,
    timeout: Duration,
    stats: StreamStats,
}

struct ChildProcess {
    child: Child,
    command: String,
    /// Set once the exit status has been collected (the process is reaped).
    status: Option<ExitStatus>,
}

impl MjpegSource {
    /// Open a file, or stdin for `-`. A missing or unreadable path, a folder, a FIFO or a
    /// device is an error naming it (a FIFO would block the open until a writer came;
    /// `pipe:cat FIFO` reads one in a child process that can be timed out and stopped).
    pub fn open_path(path: &Path) -> Result<Self> {
        use std::os::unix::fs::FileTypeExt;
        if path.as_os_str() == "-" {
            return Self::from_reader(Box::new(io::stdin()), "mjpeg stdin");
        }
        if path.is_dir() {
            bail!("{}: is a folder, not an MJPEG stream (use images:{0} for a folder of images)", path.display());
        }
        if std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo()) {
            bail!("{}: is a FIFO, not an MJPEG file (read a FIFO with --source 'pipe:cat {0}')", path.display());
        }
        let file = crate::input::open_file(path, "an MJPEG file")?;
        Self::from_reader(Box::new(file), format!("mjpeg {}", path.display()))
    }

    /// Read frames from any byte stream; `name` is what [`FrameSource::describe`] and error
    /// messages call it.
    pub fn from_reader(reader: Box<dyn Read + Send>, name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        // A few chunks in flight: enough to keep reading while a frame decodes, little enough
        // that a slow consumer pushes back on the producer instead of piling up memory.
        let (tx, rx) = sync_channel(4);
        let mut reader = reader;
        std::thread::Builder::new()
            .name("mjpeg-reader".into())
            .spawn(move || loop {
                let mut chunk = vec![0u8; CHUNK_BYTES];
                match reader.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => {
                        chunk.truncate(n);
                        if tx.send(Ok(chunk)).is_err() {
                            break; // the source was dropped
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        break;
                    }
                }
            })
            .with_context(|| format!("{name}: cannot start the reader thread"))?;
        Ok(Self {
            name,
            rx,
            splitter: Splitter::new(MAX_FRAME_BYTES),
            child: None,
            ended: false,
            timeout: DEFAULT_TIMEOUT,
            stats: StreamStats::default(),
        })
    }

    /// Run `sh -c command` and read MJPEG from its stdout (its stderr goes to ours).
    ///
    /// The command runs in its own process group, so that a pipeline (`a | b`) is stopped as a
    /// whole when the source is dropped: SIGTERM, a short grace period, then SIGKILL, and the
    /// child is reaped. If it exits with an error, the stream reports a
    /// [`SourceError::Fatal`] naming the command and its exit status.
    pub fn spawn(command: &str) -> Result<Self> {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot run `{command}` (sh -c)"))?;
        let Some(stdout) = child.stdout.take() else {
            unreachable!("stdout was piped above");
        };
        let child = ChildProcess { child, command: command.to_string(), status: None };
        // From here on `ChildProcess`'s Drop stops the command if setting up fails.
        let mut source = Self::from_reader(Box::new(stdout), format!("pipe `{command}`"))?;
        source.child = Some(child);
        Ok(source)
    }

    /// Wait at most `timeout` for input in [`FrameSource::next_frame`] (default
    /// [`DEFAULT_TIMEOUT`]) before returning [`SourceError::Timeout`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Frames decoded, frames found corrupt, and garbage bytes skipped so far.
    pub fn stats(&self) -> StreamStats {
        StreamStats { skipped_bytes: self.splitter.skipped, ..self.stats }
    }

    /// Position of the next frame in the stream, corrupt ones included.
    fn seq(&self) -> u64 {
        self.stats.frames + self.stats.corrupt
    }

    fn corrupt(&mut self, msg: String) -> SourceError {
        self.stats.corrupt += 1;
        SourceError::Corrupt(format!("{}: {msg}", self.name))
    }

    /// End of input: a frame in progress is reported cut off, then a failed command, then
    /// `Ok(None)` from then on.
    fn finish(&mut self) -> Result<Option<Frame>, SourceError> {
        if let Some(len) = self.splitter.finish() {
            return Err(self.corrupt(format!("stream ended inside a frame ({len} bytes)")));
        }
        let frames = self.stats.frames;
        let Some(child) = self.child.as_mut() else { return Ok(None) };
        if child.status.is_some() {
            return Ok(None);
        }
        match child.wait_briefly() {
            Some(status) if !status.success() => {
                let when =
                    if frames == 0 { "before sending any frame".to_string() } else { format!("after {frames} frames") };
                Err(SourceError::Fatal(anyhow!("command `{}` failed ({status}) {when}", child.command)))
            }
            _ => Ok(None),
        }
    }
}

impl FrameSource for MjpegSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        loop {
            match self.splitter.next() {
                Step::Frame(len) => {
                    let seq = self.seq();
                    let decoded = decode_jpeg(&self.splitter.buf[..len]);
                    self.splitter.consume(len);
                    return match decoded {
                        Ok(image) => {
                            self.stats.frames += 1;
                            Ok(Some(Frame { image, seq, captured: Instant::now(), cut: false, at: None }))
                        }
                        Err(SourceError::Corrupt(msg)) => Err(self.corrupt(msg)),
                        Err(e) => Err(e),
                    };
                }
                Step::Corrupt(msg) => return Err(self.corrupt(msg)),
                Step::NeedMore if self.ended => return self.finish(),
                Step::NeedMore => match self.rx.recv_timeout(self.timeout) {
                    Ok(Ok(chunk)) => self.splitter.push(&chunk),
                    Ok(Err(e)) => {
                        self.ended = true;
                        return Err(SourceError::Fatal(anyhow!(e).context(format!("reading {}", self.name))));
                    }
                    Err(RecvTimeoutError::Timeout) => return Err(SourceError::Timeout(self.timeout)),
                    Err(RecvTimeoutError::Disconnected) => self.ended = true,
                },
            }
        }
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

impl ChildProcess {
    /// The exit status, waiting up to a second: stdout closing usually means the process is
    /// exiting, but one that closed it and lives on must not hang the caller.
    fn wait_briefly(&mut self) -> Option<ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.status = Some(status);
                    return Some(status);
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                _ => return None,
            }
        }
    }

    fn signal_group(&self, signal: libc::c_int) {
        // Only while the leader is unreaped: its pid (= the group id) cannot have been reused.
        if self.status.is_none() {
            if let Ok(pid) = i32::try_from(self.child.id()) {
                // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
                unsafe { libc::kill(-pid, signal) };
            }
        }
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        // SIGTERM first so that camera tools can release the sensor cleanly.
        self.signal_group(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_millis(300);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.status = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // The leader may be gone while others in its pipeline linger; the group id stays valid
        // until the leader is reaped, which happens only in the `wait` below.
        if self.status.is_none() {
            self.signal_group(libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
