//! The snapshot folder: three files per event, `ID.jpg` (the frame), `ID-face.jpg` (the
//! face) and `ID.json` (its `face_snapshot` event), each written atomically and the JSON
//! last, so an event is listed only once its pictures are whole. Retention keeps at most
//! `max_events` events and `max_bytes` bytes of them, oldest removed first.
//!
//! An id is `MILLIS-TRACK`: the frame's Unix time in milliseconds and the track id. The
//! milliseconds only ever grow, also past the newest event already in the folder, so a
//! restart (or a clock that goes back, a board without a real-time clock) never reuses an
//! id and old snapshots are never overwritten. Only files named like ours are touched.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// One event's id: `MILLIS-TRACK`, ordered by time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId {
    /// Unix time of the frame, milliseconds (made unique in the folder).
    pub millis: u64,
    /// The track id.
    pub track: u64,
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.millis, self.track)
    }
}

impl EventId {
    /// Parse an id as written by [`fmt::Display`], nothing else: digits, one `-`, no
    /// leading zeros, no other characters (so an id from a URL cannot name another file).
    pub fn parse(s: &str) -> Option<Self> {
        let (m, t) = s.split_once('-')?;
        let number = |d: &str| -> Option<u64> {
            let ok = !d.is_empty() && d.len() <= 20 && d.bytes().all(|b| b.is_ascii_digit());
            ok.then(|| d.parse().ok()).flatten()
        };
        let id = EventId { millis: number(m)?, track: number(t)? };
        (id.to_string() == s).then_some(id)
    }
}

/// Which of an event's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// `ID.jpg`: the whole frame.
    Frame,
    /// `ID-face.jpg`: the face.
    Face,
    /// `ID.json`: the event.
    Json,
}

impl Part {
    fn suffix(self) -> &'static str {
        match self {
            Part::Frame => ".jpg",
            Part::Face => "-face.jpg",
            Part::Json => ".json",
        }
    }

    /// The file name of this part of event `id`.
    pub fn file_name(self, id: EventId) -> String {
        format!("{id}{}", self.suffix())
    }

    /// Split a file name into its event and part; `None` for anything not ours.
    pub fn parse_name(name: &str) -> Option<(EventId, Part)> {
        // `-face.jpg` before `.jpg`: the longer suffix first.
        [Part::Face, Part::Frame, Part::Json]
            .into_iter()
            .find_map(|p| name.strip_suffix(p.suffix()).and_then(EventId::parse).map(|id| (id, p)))
    }
}

/// How much the folder keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Events kept at most.
    pub max_events: usize,
    /// Bytes of their files kept at most (the newest event is kept whatever its size).
    pub max_bytes: u64,
}

impl Default for Retention {
    /// What a 16 GB SD card lives with: 500 events, 512 MiB.
    fn default() -> Self {
        Self { max_events: 500, max_bytes: 512 << 20 }
    }
}

/// The files of one event in the folder.
#[derive(Debug, Default)]
struct Files {
    parts: Vec<Part>,
    bytes: u64,
}

/// The folder's events, oldest first.
fn scan(dir: &Path) -> Result<BTreeMap<EventId, Files>> {
    let mut events: BTreeMap<EventId, Files> = BTreeMap::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("{}: cannot list the folder", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((id, part)) = name.to_str().and_then(Part::parse_name) else { continue };
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_file() {
            let files = events.entry(id).or_default();
            files.parts.push(part);
            files.bytes += meta.len();
        }
    }
    Ok(events)
}

/// The events listed in `dir` (those whose JSON is in place), newest first, at most `limit`;
/// none while the folder is not there yet (the web view starts before it is made).
pub fn newest(dir: &Path, limit: usize) -> Result<Vec<EventId>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let events = scan(dir)?;
    Ok(events.into_iter().rev().filter(|(_, f)| f.parts.contains(&Part::Json)).map(|(id, _)| id).take(limit).collect())
}

/// The snapshot folder, open for writing; see the module docs.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    retention: Retention,
    /// The newest id's milliseconds: the next id's are above them.
    last_millis: u64,
}

impl Store {
    /// Open (creating it if missing) the folder. Refuses a path that is not a folder or
    /// cannot be written; removes what an interrupted save left (temporaries, events
    /// without their JSON).
    pub fn open(dir: &Path, retention: Retention) -> Result<Self> {
        if dir.exists() && !dir.is_dir() {
            bail!("{}: is not a folder (--snapshots wants a folder for the pictures)", dir.display());
        }
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create the snapshot folder", dir.display()))?;
        let probe = dir.join(".facecam-probe");
        crate::atomic::write(&probe, b"")
            .and_then(|()| std::fs::remove_file(&probe).map_err(Into::into))
            .map_err(|e| anyhow::anyhow!("{}: cannot write snapshots here: {e:#}", dir.display()))?;
        Self::clean(dir)?;
        let last_millis = scan(dir)?.keys().next_back().map_or(0, |id| id.millis);
        Ok(Self { dir: dir.to_path_buf(), retention, last_millis })
    }

    /// Remove the leftovers of an interrupted save: our temporaries, and the pictures of
    /// an event whose JSON was never written.
    fn clean(dir: &Path) -> Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("{}: cannot list the folder", dir.display()))? {
            let name = entry?.file_name();
            let ours = name.to_str().and_then(|n| n.strip_suffix(".tmp")).and_then(Part::parse_name).is_some();
            if ours {
                let _ = std::fs::remove_file(dir.join(&name));
            }
        }
        for (id, files) in scan(dir)? {
            if !files.parts.contains(&Part::Json) {
                remove(dir, id);
            }
        }
        Ok(())
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new id for a frame taken at `time` (Unix seconds) of track `track`.
    pub fn next_id(&mut self, time: f64, track: u64) -> EventId {
        let millis = ((time.max(0.0) * 1e3) as u64).max(self.last_millis + 1);
        self.last_millis = millis;
        EventId { millis, track }
    }

    /// Save one event's pictures and then its JSON, each atomically, then apply the
    /// retention. On a failure (a full card) nothing of the event is left.
    pub fn save(&mut self, id: EventId, frame: &[u8], face: &[u8], json: &[u8]) -> Result<()> {
        let write = |part: Part, bytes: &[u8]| crate::atomic::write(&self.dir.join(part.file_name(id)), bytes);
        let saved =
            write(Part::Frame, frame).and_then(|()| write(Part::Face, face)).and_then(|()| write(Part::Json, json));
        if let Err(e) = saved {
            remove(&self.dir, id);
            return Err(e);
        }
        self.prune().map(|_| ())
    }

    /// Remove the oldest events until the folder is within the retention; returns how
    /// many were removed. The newest event always stays.
    pub fn prune(&self) -> Result<usize> {
        let events = scan(&self.dir)?;
        let (mut count, mut bytes) = (events.len(), events.values().map(|f| f.bytes).sum::<u64>());
        let mut removed = 0;
        for (id, files) in events {
            if count <= 1 || (count <= self.retention.max_events && bytes <= self.retention.max_bytes) {
                break;
            }
            remove(&self.dir, id);
            (count, bytes, removed) = (count - 1, bytes.saturating_sub(files.bytes), removed + 1);
        }
        Ok(removed)
    }
}

/// Remove an event's files, its JSON first so it is never listed half gone.
fn remove(dir: &Path, id: EventId) {
    for part in [Part::Json, Part::Face, Part::Frame] {
        let _ = std::fs::remove_file(dir.join(part.file_name(id)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        n.sort();
        n
    }

    #[test]
    fn ids_parse_only_as_written() {
        let id = EventId { millis: 1_796_000_000_123, track: 4 };
        assert_eq!(EventId::parse("1796000000123-4"), Some(id));
        for bad in [
            "",
            "1",
            "-4",
            "1-",
            "01-4",
            "1-04",
            "1-4-5",
            "../1-4",
            "1-4.jpg",
            "+1-4",
            "1 -4",
            "99999999999999999999-1",
        ] {
            assert_eq!(EventId::parse(bad), None, "{bad}");
        }
        assert_eq!(Part::parse_name("5-2-face.jpg"), Some((EventId { millis: 5, track: 2 }, Part::Face)));
        assert_eq!(Part::parse_name("5-2.json"), Some((EventId { millis: 5, track: 2 }, Part::Json)));
        assert_eq!(Part::parse_name("notes.txt"), None);
    }

    #[test]
    fn retention_removes_the_oldest_by_count_and_by_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), Retention { max_events: 3, max_bytes: 1 << 20 }).unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"not ours").unwrap();
        let mut ids = Vec::new();
        for i in 0..5 {
            let id = store.next_id(100.0 + i as f64, i);
            store.save(id, b"frame", b"face", b"{}").unwrap();
            ids.push(id);
        }
        assert_eq!(newest(dir.path(), 10).unwrap(), vec![ids[4], ids[3], ids[2]], "count: the two oldest went");
        assert!(dir.path().join("notes.txt").exists(), "only our files are touched");
        // Bytes: each event is 5 + 4 + 2 = 11 bytes; 25 bytes keep two.
        let mut store = Store::open(dir.path(), Retention { max_events: 100, max_bytes: 25 }).unwrap();
        let id = store.next_id(0.0, 9);
        store.save(id, b"frame", b"face", b"{}").unwrap();
        assert_eq!(newest(dir.path(), 10).unwrap(), vec![id, ids[4]]);
        assert!(!names(dir.path()).iter().any(|n| n.ends_with(".tmp")), "no temporaries: {:?}", names(dir.path()));
    }

    #[test]
    fn a_restart_never_reuses_an_id_even_with_the_clock_gone_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut first = Store::open(dir.path(), Retention::default()).unwrap();
        let a = first.next_id(1000.0, 1);
        first.save(a, b"a", b"a", b"{\"run\":1}").unwrap();
        drop(first);
        let mut second = Store::open(dir.path(), Retention::default()).unwrap();
        let b = second.next_id(999.0, 1); // same track id, an earlier clock
        assert!(b > a, "{b} after {a}");
        second.save(b, b"b", b"b", b"{\"run\":2}").unwrap();
        assert_eq!(std::fs::read(dir.path().join(Part::Json.file_name(a))).unwrap(), b"{\"run\":1}");
        assert_eq!(newest(dir.path(), 10).unwrap(), vec![b, a]);
        let c = second.next_id(1000.0, 2);
        assert!(c > b, "ids grow within a run too");
    }

    #[test]
    fn an_interrupted_save_is_cleaned_up_and_a_file_is_no_folder() {
        let dir = tempfile::tempdir().unwrap();
        let id = EventId { millis: 7, track: 1 };
        std::fs::write(dir.path().join(Part::Frame.file_name(id)), b"half an event").unwrap();
        std::fs::write(dir.path().join("8-1.jpg.tmp"), b"half a file").unwrap();
        Store::open(dir.path(), Retention::default()).unwrap();
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let err = Store::open(&file, Retention::default()).unwrap_err().to_string();
        assert!(err.contains("is not a folder"), "{err}");
    }

    #[test]
    fn a_failed_save_leaves_nothing_of_the_event() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), Retention::default()).unwrap();
        let id = store.next_id(5.0, 1);
        // A folder where the JSON would go: the pictures are written, the JSON is not.
        std::fs::create_dir(dir.path().join(Part::Json.file_name(id))).unwrap();
        assert!(store.save(id, b"frame", b"face", b"{}").is_err());
        assert_eq!(names(dir.path()), vec![Part::Json.file_name(id)], "only the obstacle is left");
    }
}
