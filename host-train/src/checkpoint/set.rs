//! The checkpoint set on disk: weights, optimiser state and metadata replaced as one unit.
//!
//! A save writes the new files into `DIR/state.new/` (each file and the folder synced),
//! then swaps that folder with `DIR/state/` in one atomic rename
//! (`renameat2(RENAME_EXCHANGE)`), so the folder always holds the previous whole set or
//! the new whole set, never a mix, and the previous set is deleted only after the new one
//! is in place. Where the filesystem cannot exchange, the previous set is moved aside to
//! `DIR/state.old/` first (a crash between the two renames leaves it the set that loads).
//! A leftover `state.new` is ignored at load and removed at the next save. Checkpoints
//! from before this layout hold their files in `DIR` itself and still load.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The folder of the current set.
const SET: &str = "state";
/// The set being written.
const NEW: &str = "state.new";
/// The previous set, moved aside where the filesystem cannot exchange two folders.
const OLD: &str = "state.old";

/// The folder holding `dir`'s checkpoint files: `DIR/state/`, else `DIR/state.old/` (a
/// save interrupted between the two renames of the fallback), else `DIR` (the flat layout
/// of older checkpoints).
pub fn folder(dir: &Path) -> PathBuf {
    [SET, OLD].iter().map(|name| dir.join(name)).find(|d| d.is_dir()).unwrap_or_else(|| dir.to_path_buf())
}

/// Write `files` (name, bytes) as `dir`'s checkpoint set in place of the previous one,
/// which stays whole until the new set is complete. `flat` names the files a checkpoint
/// of the older layout kept in `dir`, removed once the new set is in place. On an error
/// the previous set is untouched and nothing of the new one is left.
pub fn write(dir: &Path, files: &[(&str, &[u8])], flat: &[&str]) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    tidy(dir)?;
    let new = dir.join(NEW);
    if let Err(e) = write_folder(&new, files) {
        let _ = std::fs::remove_dir_all(&new);
        return Err(e);
    }
    swap_in(dir, true)?;
    for name in flat {
        match std::fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    sync_folder(dir)
}

/// Clear what an interrupted save left: a partial `state.new`, and a `state.old` that is
/// either stale (beside a `state`) or the only whole set (moved back).
fn tidy(dir: &Path) -> io::Result<()> {
    let (set, new, old) = (dir.join(SET), dir.join(NEW), dir.join(OLD));
    if new.exists() {
        std::fs::remove_dir_all(&new)?;
    }
    match (old.is_dir(), set.is_dir()) {
        (true, true) => std::fs::remove_dir_all(&old),
        (true, false) => std::fs::rename(&old, &set),
        _ => Ok(()),
    }
}

/// Create `folder` with `files` in it, each synced, then the folder itself.
fn write_folder(folder: &Path, files: &[(&str, &[u8])]) -> io::Result<()> {
    std::fs::create_dir(folder)?;
    for (name, bytes) in files {
        let mut f = std::fs::File::create(folder.join(name))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    sync_folder(folder)
}

/// Make `dir/state.new` the set in one rename: exchanged with the previous set when there
/// is one (`exchange`, and the filesystem can), else the previous set is moved aside
/// first; the previous set is deleted once the new one is in place.
fn swap_in(dir: &Path, exchange: bool) -> io::Result<()> {
    let (set, new, old) = (dir.join(SET), dir.join(NEW), dir.join(OLD));
    if !set.exists() {
        return std::fs::rename(&new, &set);
    }
    match exchange.then(|| rename_exchange(&new, &set)) {
        Some(Ok(())) => {
            // `state.new` now holds the previous set.
            sync_folder(dir)?;
            std::fs::remove_dir_all(&new)
        }
        Some(Err(e)) if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => Err(e),
        _ => {
            std::fs::rename(&set, &old)?;
            std::fs::rename(&new, &set)?;
            sync_folder(dir)?;
            std::fs::remove_dir_all(&old)
        }
    }
}

/// Swap two paths atomically (Linux `renameat2` with `RENAME_EXCHANGE`); EINVAL or ENOSYS
/// where the kernel or filesystem cannot.
#[cfg(target_os = "linux")]
fn rename_exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other);
    let (a, b) = (c(a)?, c(b)?);
    // SAFETY: both are NUL-terminated paths that outlive the call; the syscall reads them only.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// No exchange outside Linux: the caller moves the previous set aside instead.
#[cfg(not(target_os = "linux"))]
fn rename_exchange(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::Error::from_raw_os_error(libc::ENOSYS))
}

/// Sync a folder's entries (its new or renamed files) to disk.
fn sync_folder(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("facecam-set-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn read(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(folder(dir).join(name)).unwrap()
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_set_interrupted_between_files_is_never_half_visible() {
        let dir = scratch("interrupted");
        write(&dir, &[("a", b"1"), ("b", b"1")], &[]).unwrap();
        // The second file cannot be created: the save stops after the first one.
        let err = write(&dir, &[("a", b"2"), ("missing/b", b"2")], &[]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!((read(&dir, "a"), read(&dir, "b")), ("1".into(), "1".into()), "the previous set, whole");
        assert_eq!(entries(&dir), ["state"], "nothing of the new set is left");
        // Killed while writing: a partial `state.new` is not read, and the next save clears it.
        std::fs::create_dir(dir.join(NEW)).unwrap();
        std::fs::write(dir.join(NEW).join("a"), "3").unwrap();
        assert_eq!(read(&dir, "a"), "1");
        write(&dir, &[("a", b"4"), ("b", b"4")], &[]).unwrap();
        assert_eq!((read(&dir, "a"), read(&dir, "b")), ("4".into(), "4".into()));
        assert_eq!(entries(&dir), ["state"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn without_exchange_the_previous_set_is_moved_aside_and_survives_a_crash_between_renames() {
        let dir = scratch("aside");
        write(&dir, &[("a", b"1")], &[]).unwrap();
        write_folder(&dir.join(NEW), &[("a", b"2")]).unwrap();
        swap_in(&dir, false).unwrap();
        assert_eq!((read(&dir, "a"), entries(&dir)), ("2".into(), vec!["state".into()]));
        // Killed between the two renames: the previous set is the one that loads, and the
        // next save puts it back before replacing it.
        std::fs::rename(dir.join(SET), dir.join(OLD)).unwrap();
        write_folder(&dir.join(NEW), &[("a", b"3")]).unwrap();
        assert_eq!(read(&dir, "a"), "2");
        write(&dir, &[("a", b"5")], &[]).unwrap();
        assert_eq!((read(&dir, "a"), entries(&dir)), ("5".into(), vec!["state".into()]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_first_save_of_a_flat_checkpoint_replaces_its_files() {
        let dir = scratch("flat");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a"), "flat").unwrap();
        std::fs::write(dir.join("metrics.csv"), "kept").unwrap();
        assert_eq!(read(&dir, "a"), "flat", "the flat layout loads");
        write(&dir, &[("a", b"1")], &["a"]).unwrap();
        assert_eq!((read(&dir, "a"), entries(&dir)), ("1".into(), vec!["metrics.csv".into(), "state".into()]));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
