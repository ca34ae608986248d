//! MJPEG streams: complete JPEG images one after another, from a file, a FIFO, stdin, or the
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

use super::decode::decode_jpeg;
use super::{Frame, FrameSource, SourceError};
use anyhow::{anyhow, bail, Context, Result};
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

/// Concatenated JPEG frames from a reader (file, FIFO, stdin, or a child's stdout).
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
    /// Open a file or FIFO, or stdin for `-`. A missing or unreadable path is an error naming it.
    pub fn open_path(path: &Path) -> Result<Self> {
        if path.as_os_str() == "-" {
            return Self::from_reader(Box::new(io::stdin()), "mjpeg stdin");
        }
        if path.is_dir() {
            bail!("{}: is a folder, not an MJPEG stream (use images:{0} for a folder of images)", path.display());
        }
        let file = std::fs::File::open(path).with_context(|| format!("cannot open MJPEG stream {}", path.display()))?;
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
                            Ok(Some(Frame { image, seq, captured: Instant::now(), cut: false }))
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

/// What the splitter found in its buffer.
#[derive(Debug, PartialEq)]
enum Step {
    /// A complete frame: the first `len` bytes of the buffer.
    Frame(usize),
    /// A frame was cut off or malformed; its bytes are dropped already.
    Corrupt(String),
    /// No complete frame yet.
    NeedMore,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Looking for SOI.
    Seek,
    /// Walking marker segments; `pos` is at a marker.
    Headers,
    /// In entropy-coded data after SOS.
    Scan,
}

/// Incremental JPEG frame splitter. The buffer starts at the current frame's SOI (outside
/// [`Phase::Seek`]); `pos` is how far it has been checked, so each byte is examined once
/// however the input is chunked.
struct Splitter {
    buf: Vec<u8>,
    phase: Phase,
    pos: usize,
    max_frame: usize,
    skipped: u64,
}

impl Splitter {
    fn new(max_frame: usize) -> Self {
        Self { buf: Vec::new(), phase: Phase::Seek, pos: 0, max_frame, skipped: 0 }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Drop a frame returned by [`Step::Frame`].
    fn consume(&mut self, len: usize) {
        self.buf.drain(..len);
        self.phase = Phase::Seek;
        self.pos = 0;
    }

    /// Drop the current frame's first `len` bytes as corrupt and look for the next SOI.
    /// Resynchronising from just after the broken frame's SOI (`len == 2`) rather than from
    /// where parsing failed matters when a frame is cut inside a segment: the segment's length
    /// then points into the next frame, past its SOI.
    fn drop_corrupt(&mut self, len: usize, why: String) -> Step {
        self.buf.drain(..len.min(self.buf.len()));
        self.phase = Phase::Seek;
        self.pos = 0;
        Step::Corrupt(why)
    }

    /// At end of input: the length of a frame left incomplete, if any; garbage is counted.
    fn finish(&mut self) -> Option<usize> {
        let partial = (self.phase != Phase::Seek).then_some(self.buf.len());
        if partial.is_none() {
            self.skipped += self.buf.len() as u64;
        }
        self.buf.clear();
        self.phase = Phase::Seek;
        self.pos = 0;
        partial
    }

    fn next(&mut self) -> Step {
        loop {
            let buf = &self.buf;
            match self.phase {
                Phase::Seek => {
                    // SOI followed by the next marker's FF, as every real JPEG starts: a lone
                    // FF D8 in garbage is not enough to start a frame.
                    match buf.windows(3).position(|w| w == [0xFF, 0xD8, 0xFF]) {
                        Some(start) => {
                            self.skipped += start as u64;
                            self.buf.drain(..start);
                            self.phase = Phase::Headers;
                            self.pos = 2;
                        }
                        None => {
                            // Keep a tail that could be the start of a split SOI.
                            let keep = buf.len().min(2);
                            let drop = buf.len() - keep;
                            self.skipped += drop as u64;
                            self.buf.drain(..drop);
                            return Step::NeedMore;
                        }
                    }
                }
                Phase::Headers => {
                    let pos = self.pos;
                    match buf.get(pos) {
                        None => return self.need_more(),
                        Some(0xFF) => {}
                        Some(_) => return self.drop_corrupt(2, format!("no marker at byte {pos} of a frame")),
                    }
                    let Some(&marker) = buf.get(pos + 1) else { return self.need_more() };
                    match marker {
                        0xFF => self.pos += 1, // fill byte before a marker
                        0xD8 => return self.drop_corrupt(pos, format!("frame cut off after {pos} bytes")),
                        0xD9 => return Step::Frame(pos + 2),
                        0xD0..=0xD7 | 0x01 => self.pos += 2, // markers without a length
                        0x00 => return self.drop_corrupt(2, format!("bad marker FF 00 at byte {pos} of a frame")),
                        _ => {
                            let Some(len) =
                                buf.get(pos + 2..pos + 4).map(|l| u16::from_be_bytes([l[0], l[1]]) as usize)
                            else {
                                return self.need_more();
                            };
                            if len < 2 {
                                return self.drop_corrupt(2, format!("segment FF {marker:02X} with length {len}"));
                            }
                            let end = pos + 2 + len;
                            if end > self.max_frame {
                                return self.drop_corrupt(2, format!("frame larger than {} bytes", self.max_frame));
                            }
                            // Only APPn and COM segments carry arbitrary data (EXIF thumbnails with
                            // their own SOI/EOI); a SOI inside any other segment, or in place of any
                            // segment's length, means this frame was cut and the next one starts there.
                            let opaque = matches!(marker, 0xE0..=0xEF | 0xFE);
                            let check_end = if opaque { pos + 5 } else { end };
                            let region = &buf[pos + 2..check_end.min(buf.len())];
                            if let Some(i) = region.windows(3).position(|w| w == [0xFF, 0xD8, 0xFF]) {
                                let at = pos + 2 + i;
                                return self.drop_corrupt(at, format!("frame cut off after {at} bytes"));
                            }
                            if end > buf.len() {
                                return self.need_more();
                            }
                            self.pos = end;
                            if marker == 0xDA {
                                self.phase = Phase::Scan;
                            }
                        }
                    }
                }
                Phase::Scan => {
                    let Some(i) = buf[self.pos..].iter().position(|&b| b == 0xFF).map(|i| self.pos + i) else {
                        self.pos = buf.len();
                        return self.need_more();
                    };
                    let Some(&next) = buf.get(i + 1) else {
                        self.pos = i;
                        return self.need_more();
                    };
                    match next {
                        0x00 | 0xD0..=0xD7 => self.pos = i + 2, // stuffed FF, restart marker
                        0xFF => self.pos = i + 1,               // fill byte
                        0xD8 => return self.drop_corrupt(i, format!("frame cut off after {i} bytes")),
                        0xD9 => return Step::Frame(i + 2),
                        _ => {
                            // Another segment (DHT, SOS, ... of a progressive JPEG).
                            self.pos = i;
                            self.phase = Phase::Headers;
                        }
                    }
                }
            }
        }
    }

    /// More input is needed; a frame that has outgrown the limit is dropped instead.
    fn need_more(&mut self) -> Step {
        if self.phase != Phase::Seek && self.buf.len() > self.max_frame {
            // Everything examined so far belongs to the oversized frame; keep the unexamined
            // rest (at most one marker's bytes), the next SOI may be in it.
            let len = self.pos.max(2);
            return self.drop_corrupt(len, format!("frame larger than {} bytes", self.max_frame));
        }
        Step::NeedMore
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::RgbImage;

    fn jpeg_of(img: &RgbImage, quality: u8) -> Vec<u8> {
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality).encode_image(img).unwrap();
        bytes
    }

    fn astronaut() -> RgbImage {
        image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/astronaut.png")).unwrap().into_rgb8()
    }

    fn synthetic(w: u32, h: u32, k: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7 + k) as u8, (y * 5) as u8, ((x ^ y) + k * 31) as u8]))
    }

    /// A JPEG with an APP1 (EXIF-like) segment right after SOI holding a complete smaller
    /// JPEG, so the stream has SOI/EOI markers inside a segment.
    fn with_thumbnail(main: &[u8], thumb: &[u8]) -> Vec<u8> {
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(thumb);
        let len = u16::try_from(app1.len() + 2).unwrap();
        let mut out = main[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&main[2..]);
        out
    }

    /// Where the entropy-coded data of a baseline JPEG starts (just after the SOS segment).
    fn scan_start(jpeg: &[u8]) -> usize {
        let mut pos = 2;
        loop {
            let len = u16::from_be_bytes([jpeg[pos + 2], jpeg[pos + 3]]) as usize;
            let marker = jpeg[pos + 1];
            pos += 2 + len;
            if marker == 0xDA {
                return pos;
            }
        }
    }

    fn drain(src: &mut MjpegSource) -> (Vec<(u32, u32)>, Vec<u64>, Vec<String>) {
        let (mut sizes, mut seqs, mut errors) = (Vec::new(), Vec::new(), Vec::new());
        loop {
            match src.next_frame() {
                Ok(Some(f)) => {
                    sizes.push(f.image.dimensions());
                    seqs.push(f.seq);
                }
                Ok(None) => break,
                Err(SourceError::Corrupt(msg)) => errors.push(msg),
                Err(e) => panic!("unexpected {e:#}"),
            }
        }
        (sizes, seqs, errors)
    }

    /// Frames (with their expected sizes) plus garbage and one truncated frame.
    fn test_stream() -> (Vec<u8>, Vec<(u32, u32)>) {
        let photo = jpeg_of(&astronaut(), 80);
        let small = jpeg_of(&synthetic(64, 48, 1), 90);
        let thumb = jpeg_of(&synthetic(16, 12, 2), 70);
        let odd = jpeg_of(&synthetic(33, 17, 3), 95);
        let tagged = with_thumbnail(&jpeg_of(&synthetic(80, 60, 4), 85), &thumb);
        let truncated = &small[..scan_start(&small) + 40];
        let mut s = b"HTTP/1.0 200 OK\r\n--boundary\r\n\xFF\xD8 not a frame \xFF\r\n".to_vec();
        s.extend_from_slice(&photo);
        s.extend_from_slice(&small);
        s.extend_from_slice(b"\r\n--boundary\r\n");
        s.extend_from_slice(&tagged);
        s.extend_from_slice(truncated);
        s.extend_from_slice(&odd);
        s.extend_from_slice(&[0u8; 100]);
        s.extend_from_slice(&thumb);
        s.extend_from_slice(b"trailing garbage");
        (s, vec![(512, 512), (64, 48), (80, 60), (33, 17), (16, 12)])
    }

    #[test]
    fn splits_real_jpegs_with_garbage_thumbnails_and_a_cut_frame() {
        let (stream, expected) = test_stream();
        // Tiny reads exercise frames and markers split across chunks.
        struct Trickle(io::Cursor<Vec<u8>>);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(997);
                self.0.read(&mut buf[..n])
            }
        }
        for reader in [
            Box::new(io::Cursor::new(stream.clone())) as Box<dyn Read + Send>,
            Box::new(Trickle(io::Cursor::new(stream.clone()))),
        ] {
            let mut src = MjpegSource::from_reader(reader, "test").unwrap();
            let (sizes, seqs, errors) = drain(&mut src);
            assert_eq!(sizes, expected);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(errors[0].starts_with("test: frame cut off"), "{errors:?}");
            // The cut frame keeps its place in the numbering.
            assert_eq!(seqs, [0, 1, 2, 4, 5]);
            let stats = src.stats();
            assert_eq!((stats.frames, stats.corrupt), (5, 1));
            let garbage = 47 + 14 + 100 + 16;
            assert_eq!(stats.skipped_bytes, garbage as u64, "{stats:?}");
            // Exhausted streams stay exhausted.
            assert!(matches!(src.next_frame(), Ok(None)));
        }
    }

    #[test]
    fn frames_cut_anywhere_lose_only_themselves() {
        let a = jpeg_of(&synthetic(24, 16, 5), 90);
        let b = jpeg_of(&synthetic(40, 24, 6), 90);
        let c = jpeg_of(&synthetic(32, 8, 7), 90);
        let scan = scan_start(&b);
        for cut in (2..b.len() - 1).step_by(3) {
            let stream = [&a[..], &b[..cut], &c[..]].concat();
            let mut src = MjpegSource::from_reader(Box::new(io::Cursor::new(stream)), "cut").unwrap();
            let (sizes, _, errors) = drain(&mut src);
            assert_eq!(sizes, [(24, 16), (32, 8)], "cut at {cut}: {errors:?}");
            // Cut inside the entropy-coded data, the usual case, it is always reported; cut in
            // a header segment, the merged bytes may still decode as the next frame alone.
            if cut >= scan {
                assert_eq!(errors.len(), 1, "cut at {cut}: {errors:?}");
            }
            assert!(errors.len() <= 1, "cut at {cut}: {errors:?}");
        }
    }

    #[test]
    fn end_of_stream_inside_a_frame_is_corrupt_then_none() {
        let a = jpeg_of(&synthetic(24, 16, 5), 90);
        let stream = [&a[..], &a[..a.len() / 2]].concat();
        let mut src = MjpegSource::from_reader(Box::new(io::Cursor::new(stream)), "eos").unwrap();
        assert!(matches!(src.next_frame(), Ok(Some(_))));
        match src.next_frame() {
            Err(SourceError::Corrupt(msg)) => assert!(msg.contains("stream ended inside a frame"), "{msg}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(src.next_frame(), Ok(None)));
    }

    #[test]
    fn a_well_framed_but_undecodable_frame_is_corrupt() {
        let a = jpeg_of(&synthetic(24, 16, 5), 90);
        // SOF0 with a zero width: the structure is fine, the decoder refuses it.
        let mut bad = a.clone();
        let sof = bad.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        bad[sof + 7..sof + 9].copy_from_slice(&[0, 0]);
        let stream = [&bad[..], &a[..]].concat();
        let mut src = MjpegSource::from_reader(Box::new(io::Cursor::new(stream)), "bad").unwrap();
        let (sizes, _, errors) = drain(&mut src);
        assert_eq!(sizes, [(24, 16)]);
        assert_eq!(errors.len(), 1);
    }

    /// Feed `stream` to a splitter in `chunk`-byte pieces, as the reader thread would, and
    /// list what comes out; the buffer must stay bounded all along.
    fn split(sp: &mut Splitter, stream: &[u8], chunk: usize) -> Vec<String> {
        let mut steps = Vec::new();
        for piece in stream.chunks(chunk) {
            sp.push(piece);
            loop {
                match sp.next() {
                    Step::Frame(len) => {
                        steps.push(format!("frame {len}"));
                        sp.consume(len);
                    }
                    Step::NeedMore => break,
                    Step::Corrupt(msg) => steps.push(msg),
                }
            }
            assert!(sp.buf.len() <= sp.max_frame + chunk, "buffer grew to {}", sp.buf.len());
        }
        steps
    }

    #[test]
    fn oversized_frames_are_dropped_and_the_stream_resyncs() {
        let a = jpeg_of(&synthetic(24, 16, 5), 90);
        // A frame whose scan never ends, then a good frame.
        let mut stream = a[..scan_start(&a)].to_vec();
        stream.extend(std::iter::repeat_n(0x12u8, 3 * a.len()));
        stream.extend_from_slice(&a);
        let mut sp = Splitter::new(a.len() + 10);
        let steps = split(&mut sp, &stream, 100);
        assert_eq!(steps.len(), 2, "{steps:?}");
        assert!(steps[0].contains("larger than"), "{steps:?}");
        assert_eq!(steps[1], format!("frame {}", a.len()));
        assert!(sp.buf.is_empty());
        assert!(sp.skipped > 2 * a.len() as u64, "the rest of the oversized frame is skipped");
    }

    #[test]
    fn random_bytes_never_panic_or_grow_the_buffer() {
        // Pseudo-random bytes laced with SOIs, markers and stuffing, so every parser state
        // meets garbage.
        let mut x = 0x2545F491u32;
        let mut stream = Vec::new();
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            match x % 64 {
                0 => stream.extend_from_slice(&[0xFF, 0xD8, 0xFF]),
                1 => stream.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08]),
                2 => stream.extend_from_slice(&[0xFF, 0xD9]),
                3 => stream.extend_from_slice(&[0xFF, 0x00]),
                4 => stream.extend_from_slice(&[0xFF, 0xE1, 0x10, 0x00]),
                _ => stream.push((x >> 8) as u8),
            }
        }
        let mut sp = Splitter::new(4096);
        let steps = split(&mut sp, &stream, 1000);
        assert!(!steps.is_empty());
        // Whatever it took for frames is garbage to the decoder, which must say so too.
        let mut src = MjpegSource::from_reader(Box::new(io::Cursor::new(stream)), "noise").unwrap();
        let (sizes, _, errors) = drain(&mut src);
        assert!(sizes.is_empty() && !errors.is_empty(), "{sizes:?}");
    }

    #[test]
    fn a_child_process_pipe_yields_the_same_frames() {
        let (stream, expected) = test_stream();
        let path = std::env::temp_dir().join(format!("facecam-mjpeg-{}.mjpeg", std::process::id()));
        std::fs::write(&path, &stream).unwrap();
        let mut from_file = MjpegSource::open_path(&path).unwrap();
        assert!(from_file.describe().contains(&*path.to_string_lossy()));
        let file_frames = drain(&mut from_file);
        let mut piped = MjpegSource::spawn(&format!("cat '{}'", path.display())).unwrap();
        assert!(piped.describe().contains("cat "), "{}", piped.describe());
        let pipe_frames = drain(&mut piped);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(file_frames.0, expected);
        assert_eq!(pipe_frames.0, file_frames.0);
        assert_eq!(pipe_frames.1, file_frames.1);
        assert_eq!(piped.stats(), from_file.stats());
    }

    #[test]
    fn missing_files_and_failing_commands_say_what_failed() {
        let e = MjpegSource::open_path(Path::new("/nonexistent/cam.mjpeg")).err().unwrap();
        assert!(format!("{e:#}").contains("/nonexistent/cam.mjpeg"), "{e:#}");
        let mut src = MjpegSource::spawn("exit 3").unwrap();
        match src.next_frame() {
            Err(SourceError::Fatal(e)) => {
                let msg = format!("{e:#}");
                assert!(msg.contains("`exit 3`") && msg.contains('3') && msg.contains("before"), "{msg}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(src.next_frame(), Ok(None)));
    }

    #[test]
    fn a_stalled_producer_times_out_and_is_stopped_on_drop() {
        let mut src = MjpegSource::spawn("sleep 30 | cat").unwrap().with_timeout(Duration::from_millis(100));
        let pid = src.child.as_ref().unwrap().child.id();
        let started = Instant::now();
        assert!(matches!(src.next_frame(), Err(SourceError::Timeout(_))));
        drop(src);
        assert!(started.elapsed() < Duration::from_secs(5));
        // The whole process group (sh, sleep, cat) is gone. Orphans are reaped by init at its
        // own pace, so zombies count as gone and the check allows a moment.
        let alive_in_group = || {
            std::fs::read_dir("/proc")
                .unwrap()
                .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
                .filter(|stat| {
                    // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after ')'.
                    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().collect();
                    fields.len() > 2 && fields[2] == pid.to_string() && fields[0] != "Z"
                })
                .count()
        };
        let deadline = Instant::now() + Duration::from_secs(3);
        while alive_in_group() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(alive_in_group(), 0, "processes of group {pid} survived");
    }
}
