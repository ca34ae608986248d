//! Where a framebuffer's pixels live: a device's memory, mapped, or a file, read and
//! written in place with positioned I/O.
//!
//! A file is never mapped. A mapped write to a file that another program has truncated,
//! or whose disk is full, faults (SIGBUS) and kills the process; a positioned write returns
//! an error. Before each frame the file is checked: still the file at its path, still long
//! enough. A file that fails the check or a write is *lost*: frames are dropped (one
//! warning says why) and the path is reopened every second until it holds a whole screen
//! again (a restarted Xvfb, a file put back); a second warning says how long it was gone.
//! The loop, the web view and MQTT keep running meanwhile.

use super::format::Geometry;
use super::xwd::parse_xwd;
use anyhow::{Context, Result};
use memmap2::MmapMut;
use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often a lost screen file is tried again.
pub(super) const REOPEN_EVERY: Duration = Duration::from_secs(1);

/// The largest screen file read whole (an XWD header check): 8K at 32 bits is 133 MB.
const MAX_SCREEN_FILE: u64 = 1 << 30;

/// A framebuffer's memory.
pub(super) enum Screen {
    /// A framebuffer device's memory: its size cannot change while it is open.
    Mapped(MmapMut),
    /// A file laid out like a framebuffer, or an `Xvfb -fbdir` screen file.
    File(FileScreen),
}

impl Screen {
    /// The screen's bytes from its start to the end of the visible rows.
    pub(super) fn bytes(&self, g: &Geometry) -> Result<Cow<'_, [u8]>> {
        let need = g.required_len().context("screen size overflows")?;
        match self {
            Screen::Mapped(map) => Ok(Cow::Borrowed(&map[..need.min(map.len())])),
            Screen::File(f) => {
                let mut buf = vec![0; need];
                f.file.read_exact_at(&mut buf, 0).with_context(|| format!("{}: cannot read the screen", f.name))?;
                Ok(Cow::Owned(buf))
            }
        }
    }

    /// Write packed rows (`row_bytes` apart) to the screen at its stride; a file that is
    /// lost drops them (see the module docs).
    pub(super) fn write_rows(&mut self, packed: &[u8], g: &Geometry) {
        match self {
            Screen::Mapped(map) => {
                let row = g.row_bytes();
                for (y, src) in packed.chunks_exact(row).enumerate() {
                    map[g.offset + y * g.stride..][..row].copy_from_slice(src);
                }
            }
            Screen::File(f) => f.write_rows(packed),
        }
    }

    /// Whether frames are being dropped because the screen file is lost.
    pub(super) fn is_lost(&self) -> bool {
        matches!(self, Screen::File(FileScreen { lost: Some(_), .. }))
    }
}

/// A screen file, with what it must hold to stay the screen.
pub(super) struct FileScreen {
    path: PathBuf,
    name: String,
    geometry: Geometry,
    /// An XWD screen file: a reopened one must carry the same header.
    xwd: bool,
    file: File,
    /// Device and inode of `file`, to notice another file put at the path.
    id: (u64, u64),
    lost: Option<Lost>,
    pub(super) reopen_every: Duration,
}

struct Lost {
    since: Instant,
    next_try: Instant,
    dropped: u64,
    /// Failed reopens so far, and the last one's reason (printed when it changes).
    tries: u32,
    why: String,
}

impl FileScreen {
    /// Open `path` as a screen of `geometry`, or, with `None`, of the geometry its XWD
    /// header gives.
    pub(super) fn open(path: &Path, geometry: Option<Geometry>) -> Result<(FileScreen, Geometry)> {
        let name = path.display().to_string();
        let xwd = geometry.is_none();
        let (file, id, geometry) = open_checked(path, &name, geometry.as_ref()).map_err(anyhow::Error::msg)?;
        Ok((
            FileScreen { path: path.into(), name, geometry, xwd, file, id, lost: None, reopen_every: REOPEN_EVERY },
            geometry,
        ))
    }

    fn write_rows(&mut self, packed: &[u8]) {
        let now = Instant::now();
        if let Some(lost) = &mut self.lost {
            if now < lost.next_try {
                lost.dropped += 1;
                return;
            }
            match open_checked(&self.path, &self.name, Some(&self.geometry).filter(|_| !self.xwd)) {
                Ok((file, id, g)) if !self.xwd || g == self.geometry => {
                    log::info!(
                        "display {} is back after {:.1} s ({} frame(s) not shown)",
                        self.name,
                        lost.since.elapsed().as_secs_f64(),
                        lost.dropped
                    );
                    (self.file, self.id, self.lost) = (file, id, None);
                }
                result => {
                    let why = match result {
                        Ok((_, _, g)) => {
                            format!(
                                "display {} is back as {}, not {}",
                                self.name,
                                g.describe(),
                                self.geometry.describe()
                            )
                        }
                        Err(e) => e,
                    };
                    // The first failed reopen only restates the loss; later changes are news.
                    if why != lost.why && lost.tries > 0 {
                        log::warn!("{why}; the display stays off");
                    }
                    lost.why = why;
                    lost.tries += 1;
                    lost.next_try = now + self.reopen_every;
                    lost.dropped += 1;
                    return;
                }
            }
        }
        if let Err(why) = self.check().and_then(|()| {
            write_packed(&self.file, packed, &self.geometry).map_err(|e| format!("cannot be written ({e})"))
        }) {
            log::warn!(
                "display {} {why}; frames are not shown while it is tried again every {:.1} s",
                self.name,
                self.reopen_every.as_secs_f64()
            );
            self.lost = Some(Lost { since: now, next_try: now + self.reopen_every, dropped: 1, tries: 0, why });
        }
    }

    /// Whether the open file is still the screen: at its path, long enough.
    fn check(&self) -> Result<(), String> {
        let len = self.file.metadata().map_err(|e| format!("cannot be checked ({e})"))?.len();
        let need = self.geometry.required_len().unwrap_or(usize::MAX) as u64;
        if len < need {
            return Err(format!("shrank to {len} bytes ({need} needed)"));
        }
        match std::fs::metadata(&self.path) {
            Ok(m) if (m.dev(), m.ino()) == self.id => Ok(()),
            Ok(_) => Err("was replaced by another file".into()),
            Err(e) => Err(format!("is gone ({e})")),
        }
    }
}

/// Open `path` for reading and writing and check it holds a screen: of `geometry` when
/// given, else of the geometry its XWD header gives. Errors are sentences about `name`.
fn open_checked(path: &Path, name: &str, geometry: Option<&Geometry>) -> Result<(File, (u64, u64), Geometry), String> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("framebuffer file {name}: cannot open for reading and writing: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("framebuffer file {name}: cannot stat: {e}"))?;
    let id = (meta.dev(), meta.ino());
    let len = meta.len();
    let geometry = match geometry {
        Some(g) => {
            let need = g.required_len().unwrap_or(usize::MAX);
            if len < need as u64 {
                return Err(format!(
                    "framebuffer file {name} is {len} bytes, too small for {} ({need} bytes needed)",
                    g.describe()
                ));
            }
            *g
        }
        None => {
            if len == 0 {
                return Err(format!("framebuffer file {name} is empty"));
            }
            if len > MAX_SCREEN_FILE {
                return Err(format!(
                    "framebuffer file {name} is {len} bytes, more than any screen file ({MAX_SCREEN_FILE})"
                ));
            }
            let mut data = vec![0; len as usize];
            file.read_exact_at(&mut data, 0).map_err(|e| format!("framebuffer file {name}: cannot read: {e}"))?;
            parse_xwd(&data, name).map_err(|e| format!("{e:#}"))?
        }
    };
    Ok((file, id, geometry))
}

fn write_packed(file: &File, packed: &[u8], g: &Geometry) -> std::io::Result<()> {
    let row = g.row_bytes();
    if g.stride == row {
        return file.write_all_at(packed, g.offset as u64);
    }
    for (y, src) in packed.chunks_exact(row).enumerate() {
        file.write_all_at(src, (g.offset + y * g.stride) as u64)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{Scratch, FILL};
    use super::*;

    fn open(s: &Scratch, g: Geometry) -> Screen {
        let (mut f, _) = FileScreen::open(&s.0, Some(g)).unwrap();
        f.reopen_every = Duration::ZERO;
        Screen::File(f)
    }

    #[test]
    fn a_file_that_shrinks_drops_frames_without_growing_it_then_is_reopened() {
        let g = Geometry::xrgb8888(4, 2);
        let need = g.required_len().unwrap();
        let s = Scratch::new("shrink", need);
        let mut screen = open(&s, g);
        screen.write_rows(&[1; 32], &g);
        assert_eq!(std::fs::read(&s.0).unwrap(), [1; 32]);
        // Another program truncates the file: a mapped write would be a SIGBUS here.
        std::fs::File::options().write(true).open(&s.0).unwrap().set_len(0).unwrap();
        screen.write_rows(&[2; 32], &g);
        assert!(screen.is_lost());
        assert_eq!(std::fs::metadata(&s.0).unwrap().len(), 0, "a lost file is not written, so not grown back");
        screen.write_rows(&[3; 32], &g);
        assert!(screen.is_lost(), "still too short");
        std::fs::File::options().write(true).open(&s.0).unwrap().set_len(need as u64).unwrap();
        screen.write_rows(&[4; 32], &g);
        assert!(!screen.is_lost());
        assert_eq!(std::fs::read(&s.0).unwrap(), [4; 32]);
        assert_eq!(&*screen.bytes(&g).unwrap(), &[4; 32]);
    }

    #[test]
    fn a_file_replaced_or_removed_is_followed_to_the_new_one() {
        let g = Geometry { stride: 20, offset: 4, ..Geometry::rgb565(8, 2) };
        let need = g.required_len().unwrap();
        let s = Scratch::new("replace", need);
        let mut screen = open(&s, g);
        let new = s.0.with_extension("new");
        std::fs::write(&new, vec![0; need]).unwrap();
        std::fs::rename(&new, &s.0).unwrap();
        screen.write_rows(&[7; 32], &g);
        assert!(screen.is_lost(), "the old inode is not the screen any more");
        screen.write_rows(&[8; 32], &g);
        assert!(!screen.is_lost());
        let now = std::fs::read(&s.0).unwrap();
        // Rows land at the stride: 4 bytes of offset, 16 of row, 4 of padding, 16 of row.
        assert_eq!(&now[..4], &[0; 4]);
        assert_eq!(&now[4..20], &[8; 16]);
        assert_eq!(&now[20..24], &[0; 4], "the padding is left alone");
        assert_eq!(&now[24..40], &[8; 16]);
        std::fs::remove_file(&s.0).unwrap();
        screen.write_rows(&[9; 32], &g);
        assert!(screen.is_lost(), "gone");
        screen.write_rows(&[9; 32], &g);
        assert!(screen.is_lost(), "nothing to reopen");
        std::fs::write(&s.0, vec![FILL; need]).unwrap();
        screen.write_rows(&[5; 32], &g);
        assert!(!screen.is_lost());
        assert_eq!(&std::fs::read(&s.0).unwrap()[4..20], &[5; 16]);
    }

    #[test]
    fn a_lost_file_waits_for_the_retry_interval() {
        let g = Geometry::rgb888(2, 2);
        let s = Scratch::new("wait", g.required_len().unwrap());
        let Screen::File(mut f) = open(&s, g) else { unreachable!() };
        f.reopen_every = Duration::from_secs(3600);
        let mut screen = Screen::File(f);
        std::fs::remove_file(&s.0).unwrap();
        screen.write_rows(&[1; 12], &g);
        std::fs::write(&s.0, [0; 12]).unwrap();
        screen.write_rows(&[2; 12], &g);
        assert!(screen.is_lost(), "not tried again before the interval");
        assert_eq!(std::fs::read(&s.0).unwrap(), [0; 12]);
    }
}
