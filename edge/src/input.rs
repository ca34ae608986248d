//! The one door every file a person names comes in by (both binaries use it).
//!
//! A path given as a picture, a model, an annotation file, a sticker, a profile or a
//! checkpoint must be a regular file. Opening a FIFO for reading blocks until someone
//! writes to it (forever, and deaf to the first SIGTERM meanwhile), reading a device can
//! return endless bytes, and a directory reads as an I/O error nobody understands. So the
//! door opens without blocking (`O_NONBLOCK`), looks at what it opened (`fstat` on the
//! descriptor, so nothing can be swapped in between the check and the read), refuses
//! anything but a regular file with one line naming it, and bounds how much is read, so
//! a huge file is an error rather than an out-of-memory abort.
//!
//! Cameras (`v4l2:/dev/videoN`) are the only devices facecam opens, and not through here.
//! Nesting limits for the text formats (XML, JSON, TOML) live in [`nesting`].

pub mod nesting;

use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Most bytes read from an ONNX model (protobuf cannot hold more than 2 GiB).
pub const MAX_MODEL_BYTES: u64 = 2 << 30;
/// Most bytes read from one picture file (a 100-megapixel PNG is well under).
pub const MAX_PICTURE_BYTES: u64 = 256 << 20;
/// Most bytes read from a small text file: a profile, a recipe, a card, a label file.
pub const MAX_TEXT_BYTES: u64 = 64 << 20;
/// Most bytes read from a file annotating a whole data set (COCO's own train JSON is 450 MB).
pub const MAX_DATASET_BYTES: u64 = 2 << 30;

/// Open `path` for reading if it is a regular file; `what` names what was expected, with
/// its article (`a picture file`, `an ONNX model`), for the error:
/// `PATH: is a FIFO, not a picture file`. Never blocks on a FIFO.
pub fn open_file(path: &Path, what: &str) -> Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .with_context(|| format!("{}: cannot open {what}", path.display()))?;
    let kind = file.metadata().with_context(|| format!("{}: cannot read {what}", path.display()))?.file_type();
    if !kind.is_file() {
        bail!("{}: is {}, not {what}", path.display(), describe(kind));
    }
    // Reads of a regular file never block anyway; clear the flag so none sees EAGAIN.
    let fd = file.as_raw_fd();
    // SAFETY: `fd` is the open descriptor `file` owns; F_GETFL/F_SETFL touch only its flags.
    let cleared = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) == 0
    };
    if !cleared {
        let e = std::io::Error::last_os_error();
        return Err(e).with_context(|| format!("{}: cannot read {what}", path.display()));
    }
    Ok(file)
}

/// What a file that is not a regular one is, for messages.
fn describe(kind: std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Check that `path` is a regular file (through [`open_file`]) before handing the path
/// to a library that opens it itself (libtorch's weight loader).
pub fn check_file(path: &Path, what: &str) -> Result<()> {
    open_file(path, what).map(drop)
}

/// The whole of a regular file, at most `max_bytes` of it: a longer file is refused
/// (`PATH: is 3000000000 bytes, more than the 268435456 a picture file may be`).
pub fn read_file(path: &Path, what: &str, max_bytes: u64) -> Result<Vec<u8>> {
    let file = open_file(path, what)?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let too_big = || anyhow::anyhow!("{}: is more than the {max_bytes} bytes {what} may be", path.display());
    if len > max_bytes {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // `take` also bounds a file that grows while it is read.
    (file.take(max_bytes + 1).read_to_end(&mut bytes)).with_context(|| format!("{}: cannot read", path.display()))?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_big());
    }
    Ok(bytes)
}

/// A regular file's text (UTF-8), at most `max_bytes`; see [`read_file`].
pub fn read_text(path: &Path, what: &str, max_bytes: u64) -> Result<String> {
    let bytes = read_file(path, what, max_bytes)?;
    String::from_utf8(bytes).map_err(|e| anyhow::anyhow!("{}: is not UTF-8 text ({})", path.display(), e.utf8_error()))
}

#[cfg(test)]
mod tests;
