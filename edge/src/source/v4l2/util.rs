//! Small helpers shared by opening a V4L2 device and listing the devices: `v4l` calls made
//! safe from its panics, open errors put in words, and four-character codes and frame
//! intervals read out.

use anyhow::anyhow;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use v4l::FourCC;

/// Run a `v4l` call that may panic on odd driver data (its string fields are unwrapped as
/// UTF-8, and a card name cut at 32 bytes can split a character) as an ordinary error.
pub(super) fn guarded<T>(f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(io::Error::other("the driver returned malformed data")))
}

pub(super) fn explain_open_error(path: &Path, e: io::Error) -> anyhow::Error {
    let p = path.display();
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ENXIO) => {
            anyhow!("{p}: no such camera; run `facecam devices` to list the connected ones")
        }
        Some(libc::EBUSY) => anyhow!("{p} is busy: another program holds the camera (see `fuser {p}`)"),
        Some(libc::EACCES) | Some(libc::EPERM) => {
            anyhow!("{p}: permission denied; add the user to the `video` group (then log in again)")
        }
        _ => anyhow!(e).context(format!("cannot open {p}")),
    }
}

/// Frames per second for a frame interval of `num/den` seconds.
pub(super) fn fps_of(num: u32, den: u32) -> Option<f64> {
    (num > 0).then(|| den as f64 / num as f64)
}

pub(super) fn fourcc_str(f: FourCC) -> String {
    f.repr.iter().map(|&b| if b.is_ascii_graphic() { b as char } else { '?' }).collect()
}
