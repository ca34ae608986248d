//! Finding JPEG frames in a byte stream by walking its marker structure (the rules are in
//! the parent module's documentation), one chunk at a time and in bounded memory.

/// What the splitter found in its buffer.
#[derive(Debug, PartialEq)]
pub(super) enum Step {
    /// A complete frame: the first `len` bytes of the buffer.
    Frame(usize),
    /// A frame was cut off or malformed; its bytes are dropped already.
    Corrupt(String),
    /// No complete frame yet.
    NeedMore,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Phase {
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
pub(super) struct Splitter {
    /// The bytes read and not yet handed out; a frame is its first bytes.
    pub(super) buf: Vec<u8>,
    phase: Phase,
    pos: usize,
    pub(super) max_frame: usize,
    /// Bytes skipped outside frames so far.
    pub(super) skipped: u64,
}

impl Splitter {
    pub(super) fn new(max_frame: usize) -> Self {
        Self { buf: Vec::new(), phase: Phase::Seek, pos: 0, max_frame, skipped: 0 }
    }

    pub(super) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Drop a frame returned by [`Step::Frame`].
    pub(super) fn consume(&mut self, len: usize) {
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
    pub(super) fn finish(&mut self) -> Option<usize> {
        let partial = (self.phase != Phase::Seek).then_some(self.buf.len());
        if partial.is_none() {
            self.skipped += self.buf.len() as u64;
        }
        self.buf.clear();
        self.phase = Phase::Seek;
        self.pos = 0;
        partial
    }

    pub(super) fn next(&mut self) -> Step {
        loop {
            let step = match self.phase {
                Phase::Seek => self.seek(),
                Phase::Headers => self.headers(),
                Phase::Scan => self.scan(),
            };
            if let Some(step) = step {
                return step;
            }
        }
    }

    /// Look for a frame's start: its SOI. `None`: found, go on with its headers.
    fn seek(&mut self) -> Option<Step> {
        let buf = &self.buf;
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
                return Some(Step::NeedMore);
            }
        }
        None
    }

    /// One marker of a frame's headers. `None`: read, go on.
    fn headers(&mut self) -> Option<Step> {
        let buf = &self.buf;
        let pos = self.pos;
        match buf.get(pos) {
            None => return Some(self.need_more()),
            Some(0xFF) => {}
            Some(_) => return Some(self.drop_corrupt(2, format!("no marker at byte {pos} of a frame"))),
        }
        let Some(&marker) = buf.get(pos + 1) else { return Some(self.need_more()) };
        match marker {
            0xFF => self.pos += 1, // fill byte before a marker
            0xD8 => return Some(self.drop_corrupt(pos, format!("frame cut off after {pos} bytes"))),
            0xD9 => return Some(Step::Frame(pos + 2)),
            0xD0..=0xD7 | 0x01 => self.pos += 2, // markers without a length
            0x00 => return Some(self.drop_corrupt(2, format!("bad marker FF 00 at byte {pos} of a frame"))),
            _ => {
                let Some(len) = buf.get(pos + 2..pos + 4).map(|l| u16::from_be_bytes([l[0], l[1]]) as usize) else {
                    return Some(self.need_more());
                };
                if len < 2 {
                    return Some(self.drop_corrupt(2, format!("segment FF {marker:02X} with length {len}")));
                }
                let end = pos + 2 + len;
                if end > self.max_frame {
                    return Some(self.drop_corrupt(2, format!("frame larger than {} bytes", self.max_frame)));
                }
                // Only APPn and COM segments carry arbitrary data (EXIF thumbnails with
                // their own SOI/EOI); a SOI inside any other segment, or in place of any
                // segment's length, means this frame was cut and the next one starts there.
                let opaque = matches!(marker, 0xE0..=0xEF | 0xFE);
                let check_end = if opaque { pos + 5 } else { end };
                let region = &buf[pos + 2..check_end.min(buf.len())];
                if let Some(i) = region.windows(3).position(|w| w == [0xFF, 0xD8, 0xFF]) {
                    let at = pos + 2 + i;
                    return Some(self.drop_corrupt(at, format!("frame cut off after {at} bytes")));
                }
                if end > buf.len() {
                    return Some(self.need_more());
                }
                self.pos = end;
                if marker == 0xDA {
                    self.phase = Phase::Scan;
                }
            }
        }
        None
    }

    /// The entropy-coded data after SOS, up to the next marker. `None`: go on.
    fn scan(&mut self) -> Option<Step> {
        let buf = &self.buf;
        let Some(i) = buf[self.pos..].iter().position(|&b| b == 0xFF).map(|i| self.pos + i) else {
            self.pos = buf.len();
            return Some(self.need_more());
        };
        let Some(&next) = buf.get(i + 1) else {
            self.pos = i;
            return Some(self.need_more());
        };
        match next {
            0x00 | 0xD0..=0xD7 => self.pos = i + 2, // stuffed FF, restart marker
            0xFF => self.pos = i + 1,               // fill byte
            0xD8 => return Some(self.drop_corrupt(i, format!("frame cut off after {i} bytes"))),
            0xD9 => return Some(Step::Frame(i + 2)),
            _ => {
                // Another segment (DHT, SOS, ... of a progressive JPEG).
                self.pos = i;
                self.phase = Phase::Headers;
            }
        }
        None
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
