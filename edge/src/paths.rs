//! Where facecam finds the files it ships with (models, board profiles, stickers),
//! wherever it runs from: an installed package, an unpacked tarball, or a development
//! build started in any folder.
//!
//! Each kind is looked for, in order, in:
//! 1. the folders of its environment variable (`FACECAM_MODELS`, `FACECAM_BOARDS`,
//!    `FACECAM_ASSETS`/stickers), `:`-separated;
//! 2. the working directory's `models/`, `boards/`, `assets/stickers/` (a checkout);
//! 3. beside the binary's install prefix: `BIN/../share/facecam/KIND` (the .deb puts
//!    the binary in `/usr/bin` and its files in `/usr/share/facecam`);
//! 4. `facecam/KIND` in each of `$XDG_DATA_DIRS` (default `/usr/local/share:/usr/share`);
//! 5. the source tree the binary was built from, when it is still there (a development
//!    build run from elsewhere).
//!
//! `facecam paths` prints these folders and what each holds.

use std::path::{Path, PathBuf};

/// A kind of shipped file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Exported detectors and classifiers (`facecam.onnx`, …).
    Models,
    /// Board profiles (`NAME.toml`).
    Boards,
    /// Sticker pictures (`NAME.png`, with an optional `NAME.toml`).
    Stickers,
}

impl Kind {
    /// Every kind, in the order `facecam paths` lists them.
    pub const ALL: [Kind; 3] = [Kind::Models, Kind::Boards, Kind::Stickers];

    /// The folder name under a data directory, and under the source tree.
    fn parts(self) -> (&'static str, &'static str) {
        match self {
            Kind::Models => ("models", "models"),
            Kind::Boards => ("boards", "boards"),
            Kind::Stickers => ("stickers", "assets/stickers"),
        }
    }

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        self.parts().0
    }

    /// The environment variable that adds folders first, and the subfolder in them.
    fn env(self) -> (&'static str, &'static str) {
        match self {
            Kind::Models => ("FACECAM_MODELS", ""),
            Kind::Boards => ("FACECAM_BOARDS", ""),
            Kind::Stickers => ("FACECAM_ASSETS", "stickers"),
        }
    }
}

/// The folders searched for `kind`, in order (see the module docs); duplicates removed.
pub fn search_path(kind: Kind) -> Vec<PathBuf> {
    let (dir, in_tree) = kind.parts();
    let (var, sub) = kind.env();
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(v) = std::env::var_os(var) {
        dirs.extend(std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).map(|p| p.join(sub)));
    }
    dirs.push(PathBuf::from(in_tree));
    if let Some(prefix) = install_prefix() {
        dirs.push(prefix.join("share/facecam").join(dir));
    }
    let xdg = std::env::var_os("XDG_DATA_DIRS").filter(|v| !v.is_empty());
    let xdg = xdg.unwrap_or_else(|| "/usr/local/share:/usr/share".into());
    dirs.extend(std::env::split_paths(&xdg).filter(|p| p.is_absolute()).map(|p| p.join("facecam").join(dir)));
    dirs.push(source_tree().join(in_tree));
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| seen.insert(d.canonicalize().unwrap_or_else(|_| d.clone())));
    dirs
}

/// The first `name` (a file name) found in `kind`'s search path.
pub fn find(kind: Kind, name: &str) -> Option<PathBuf> {
    search_path(kind).into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// The default detector: `facecam.onnx` from the model search path, or (when none is
/// found) `models/facecam.onnx`, whose absence the model loader reports. Looked up once
/// per process: clap asks for it once per subcommand that has a `--model`.
pub fn default_model() -> PathBuf {
    static MODEL: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    MODEL
        .get_or_init(|| find(Kind::Models, "facecam.onnx").unwrap_or_else(|| PathBuf::from("models/facecam.onnx")))
        .clone()
}

/// The directory above the binary's `bin/` folder (`/usr` for `/usr/bin/facecam`).
fn install_prefix() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.to_path_buf())
}

/// The repository the binary was built from (`edge/..`); it may no longer exist.
fn source_tree() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("/")).to_path_buf()
}

/// `facecam paths`: each kind's folders in order, whether each exists, and the files in
/// it, the first folder holding a name winning.
pub fn report() -> String {
    let mut out = String::new();
    for kind in Kind::ALL {
        out += &format!("{} (first found wins):\n", kind.name());
        for dir in search_path(kind) {
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .map(|rd| rd.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
                .unwrap_or_default();
            names.retain(|n| n.ends_with(".onnx") || n.ends_with(".toml") || n.ends_with(".png"));
            names.sort();
            let what = if !dir.is_dir() { "(not there)".to_string() } else { names.join(" ") };
            out += &format!("  {}  {what}\n", dir.display());
        }
    }
    out += &format!("default model: {}\n", default_model().display());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_tree_is_searched_so_a_development_build_finds_its_files_from_anywhere() {
        for kind in Kind::ALL {
            let dirs = search_path(kind);
            assert!(dirs.iter().any(|d| d.ends_with(kind.parts().1) && d.is_absolute() && d.is_dir()), "{dirs:?}");
        }
        assert!(find(Kind::Boards, "rpi4.toml").is_some());
        assert!(find(Kind::Stickers, "sunglasses.png").is_some());
        assert!(default_model().is_file());
        let text = report();
        assert!(text.contains("rpi4.toml") && text.contains("facecam.onnx"), "{text}");
    }

    #[test]
    fn the_install_prefix_comes_before_the_system_data_folders() {
        let dirs = search_path(Kind::Models);
        let prefix = install_prefix().unwrap().join("share/facecam/models");
        let at = |p: &Path| dirs.iter().position(|d| d == p);
        let usr = at(Path::new("/usr/share/facecam/models"));
        assert!(at(&prefix).is_some());
        if let (Some(a), Some(b)) = (at(&prefix), usr) {
            assert!(a < b, "{dirs:?}");
        }
    }
}
