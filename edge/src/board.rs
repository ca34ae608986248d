//! Board profiles (`boards/NAME.toml`): what `facecam run --board NAME` and the
//! Makefile's cross-build and packaging read about one supported board.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One board's profile. Unknown keys are errors, so a typo never passes silently.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// What the board is and which OS it runs.
    pub description: String,
    /// Rust target triple to cross-build for.
    pub target: String,
    /// The oldest glibc the board's OS ships; the binary may need no newer symbol.
    pub min_glibc: String,
    /// The camera, as a source spec.
    pub source: String,
    /// The CSI camera module through its MJPEG pipe, as an alternative source spec.
    #[serde(default)]
    pub csi_source: Option<String>,
    /// The display, as a sink spec.
    pub sink: String,
    /// Model input size, `WxH`.
    pub input: String,
    /// Groups the service user needs (camera, GPIO, SPI).
    pub groups: Vec<String>,
    /// Threads for tract's matrix products (`facecam run --threads` overrides it);
    /// absent = 1. At least 1.
    #[serde(default)]
    pub threads: Option<usize>,
    /// The largest picture decoded, in pixels (width × height), camera frames and
    /// picture files alike: a bigger frame is skipped as a corrupt one is, before it is
    /// decoded (a small JPEG can claim a huge picture). Absent = 4096x4096 for frames
    /// and 8192x8192 for picture files ([`crate::source::decode::max_pixels`]). In
    /// [`MAX_FRAME_PIXELS_RANGE`].
    #[serde(default)]
    pub max_frame_pixels: Option<u64>,
}

/// The values `max_frame_pixels` may take: 256x256 to 8192x8192.
pub const MAX_FRAME_PIXELS_RANGE: std::ops::RangeInclusive<u64> = 256 * 256..=8192 * 8192;

/// Folders searched for profiles, in order: [`crate::paths::search_path`] for boards
/// (`$FACECAM_BOARDS`, `./boards`, the install prefix's, `$XDG_DATA_DIRS`', the source tree's).
pub fn search_path() -> Vec<PathBuf> {
    crate::paths::search_path(crate::paths::Kind::Boards)
}

/// The names of every profile found in `dirs`.
pub fn known(dirs: &[PathBuf]) -> Vec<String> {
    let mut names: Vec<String> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "toml").then(|| p.file_stem()?.to_str().map(String::from))?
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

impl Board {
    /// Load the profile `name` from the first folder of `dirs` that has it, or from the
    /// file `name` itself when it is a path (`my-board.toml`, `./b/x.toml`). An unknown
    /// name is a usage error (exit 2).
    pub fn find(name: &str, dirs: &[PathBuf]) -> Result<Self> {
        if Self::names_a_file(name) {
            return Self::load(Path::new(name));
        }
        match dirs.iter().map(|d| d.join(format!("{name}.toml"))).find(|p| p.is_file()) {
            Some(path) => Self::load(&path),
            None => Err(crate::exit::usage(anyhow::anyhow!(
                "unknown board `{name}`; known boards: {} (or give a profile's path, NAME.toml)",
                known(dirs).join(", ")
            ))),
        }
    }

    /// Whether `name` is a profile's path (`*.toml`, or anything with a `/`) rather than
    /// the name of a built-in profile. [`Board::find`] and the camera config (which
    /// rebases such paths on its own folder) share this one rule.
    pub fn names_a_file(name: &str) -> bool {
        name.ends_with(".toml") || name.contains('/')
    }

    /// Load and check one profile file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = crate::input::read_text(path, "a board profile", crate::input::MAX_TEXT_BYTES)?;
        Self::parse(&text).with_context(|| format!("{}: bad board profile", path.display()))
    }

    /// Parse and check a profile's TOML text.
    pub fn parse(text: &str) -> Result<Self> {
        let board: Board = crate::input::nesting::toml_from_str(text)?;
        board.check()?;
        Ok(board)
    }

    /// The input size as numbers.
    pub fn input_size(&self) -> Result<(u32, u32)> {
        crate::preprocess::parse_size(&self.input).map_err(|e| anyhow::anyhow!("field `input`: {e}"))
    }

    fn check(&self) -> Result<()> {
        self.input_size()?;
        if self.threads == Some(0) {
            bail!("field `threads`: 0 threads; give 1 or more (1 = single-threaded)");
        }
        if let Some(n) = self.max_frame_pixels.filter(|n| !MAX_FRAME_PIXELS_RANGE.contains(n)) {
            let (lo, hi) = MAX_FRAME_PIXELS_RANGE.into_inner();
            bail!("field `max_frame_pixels`: {n} is outside {lo}..={hi} (256x256 to 8192x8192 pixels)");
        }
        self.source.parse::<crate::source::SourceSpec>().context("field `source`")?;
        if let Some(csi) = &self.csi_source {
            csi.parse::<crate::source::SourceSpec>().context("field `csi_source`")?;
        }
        const TARGETS: [&str; 2] = ["aarch64-unknown-linux-gnu", "armv7-unknown-linux-gnueabihf"];
        if !TARGETS.contains(&self.target.as_str()) {
            bail!("field `target`: `{}` is not one of {}", self.target, TARGETS.join(", "));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boards_dir() -> Vec<PathBuf> {
        vec![PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../boards"))]
    }

    #[test]
    fn every_shipped_profile_loads() {
        let names = known(&boards_dir());
        assert_eq!(names, ["jetson-nano", "jetson-orin-nano", "rpi-zero2w", "rpi4", "rpi5"]);
        for name in names {
            let b = Board::find(&name, &boards_dir()).unwrap();
            assert!(b.groups.contains(&"video".to_string()), "{name}");
        }
        assert_eq!(Board::find("jetson-nano", &boards_dir()).unwrap().min_glibc, "2.27");
    }

    #[test]
    fn unknown_boards_and_keys_list_the_valid_ones() {
        let e = Board::find("rpi3", &boards_dir()).unwrap_err().to_string();
        assert!(e.contains("rpi3") && e.contains("rpi4") && e.contains("jetson-nano"), "{e}");
        let dir = std::env::temp_dir().join(format!("facecam-board-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = std::fs::read_to_string(boards_dir()[0].join("rpi4.toml")).unwrap();
        std::fs::write(dir.join("typo.toml"), good.replace("groups", "group")).unwrap();
        let e = format!("{:#}", Board::find("typo", std::slice::from_ref(&dir)).unwrap_err());
        assert!(e.contains("typo.toml") && e.contains("group") && e.contains("groups"), "{e}");
        std::fs::write(dir.join("bad.toml"), good.replace("320x240", "big")).unwrap();
        let e = format!("{:#}", Board::find("bad", std::slice::from_ref(&dir)).unwrap_err());
        assert!(e.contains("input"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn threads_are_read_and_zero_is_refused() {
        assert_eq!(Board::find("rpi4", &boards_dir()).unwrap().threads, Some(3));
        assert_eq!(Board::find("rpi-zero2w", &boards_dir()).unwrap().threads, Some(2));
        let dir = std::env::temp_dir().join(format!("facecam-board-threads-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = std::fs::read_to_string(boards_dir()[0].join("rpi4.toml")).unwrap();
        let without: String = good.lines().filter(|l| !l.starts_with("threads")).map(|l| format!("{l}\n")).collect();
        assert_ne!(without, good, "rpi4.toml has a threads key");
        std::fs::write(dir.join("plain.toml"), &without).unwrap();
        assert_eq!(Board::find("plain", std::slice::from_ref(&dir)).unwrap().threads, None);
        std::fs::write(dir.join("six.toml"), format!("{without}threads = 6\n")).unwrap();
        assert_eq!(Board::find("six", std::slice::from_ref(&dir)).unwrap().threads, Some(6));
        std::fs::write(dir.join("zero.toml"), format!("{without}threads = 0\n")).unwrap();
        let e = format!("{:#}", Board::find("zero", std::slice::from_ref(&dir)).unwrap_err());
        assert!(e.contains("zero.toml") && e.contains("threads"), "{e}");
        std::fs::write(dir.join("minus.toml"), format!("{without}threads = -1\n")).unwrap();
        let e = format!("{:#}", Board::find("minus", std::slice::from_ref(&dir)).unwrap_err());
        assert!(e.contains("minus.toml") && e.contains("threads"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn max_frame_pixels_is_read_and_checked() {
        assert_eq!(Board::find("rpi-zero2w", &boards_dir()).unwrap().max_frame_pixels, Some(1920 * 1080));
        assert_eq!(Board::find("rpi4", &boards_dir()).unwrap().max_frame_pixels, None);
        let good = std::fs::read_to_string(boards_dir()[0].join("rpi4.toml")).unwrap();
        assert_eq!(Board::parse(&format!("{good}max_frame_pixels = 65536\n")).unwrap().max_frame_pixels, Some(65536));
        for bad in ["0", "65535", "67108865", "-1", "\"big\""] {
            let e = format!("{:#}", Board::parse(&format!("{good}max_frame_pixels = {bad}\n")).unwrap_err());
            assert!(e.contains("max_frame_pixels"), "{bad}: {e}");
        }
    }
}
