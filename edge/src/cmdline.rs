//! What the two command lines (`facecam`, `facecam-train`) share, so they speak one
//! language: how loud they are (`-v`/`-q` and `FACECAM_LOG`), the version line, number
//! parsers with their ranges, and the shell completions and man pages generated from the
//! clap definitions. How they end (exit codes) is [`crate::exit`].

use anyhow::{Context, Result};
use std::io::Write;
use std::ops::{Bound, RangeBounds};
use std::path::Path;

/// The version line: the crate version, the git commit it was built from (`-dirty` with
/// uncommitted changes) and the build profile, e.g. `0.1.0 (3fa2c1b9e0d4, release)`.
pub const VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (", env!("FACECAM_COMMIT"), ", ", env!("FACECAM_PROFILE"), ")");

/// The environment variable with a log filter, e.g. `debug` or `warn,edge::source=trace`.
pub const LOG_ENV: &str = "FACECAM_LOG";

/// Environment variables either binary reads, for `--help`.
pub const ENVIRONMENT_HELP: &str = "\
Environment:
  FACECAM_LOG     log filter: error, warn, info (default), debug or trace, per module too
                  (`info,edge::source=debug`, `tract_core=debug`); overrides -v and -q
  FACECAM_MODELS  folders searched first for the default model (facecam.onnx), ':'-separated
  FACECAM_BOARDS  folders searched first for board profiles (NAME.toml), ':'-separated
  FACECAM_ASSETS  folders with stickers/ searched first, ':'-separated
                  (then ./models, ./boards, ./assets/stickers, PREFIX/share/facecam,
                  $XDG_DATA_DIRS/facecam and the source tree: `facecam paths`)
  FACECAM_PYTHON  the Python with torch that benches and parity tests compare against";

/// The crates whose messages -v and -vv turn up: the two libraries and the two binaries.
const OUR_CRATES: [&str; 4] = ["edge", "host_train", "facecam", "facecam_train"];

/// `-v`/`-q`: how much is said on stderr. Flattened into both binaries' top level, so
/// they go before or after the subcommand.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct Verbosity {
    /// Say more: `-v` adds debug messages, `-vv` traces.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Say less: warnings and errors only, no progress bars.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

impl Verbosity {
    /// The level these flags ask for.
    pub fn level(&self) -> log::LevelFilter {
        match (self.quiet, self.verbose) {
            (true, _) => log::LevelFilter::Warn,
            (false, 0) => log::LevelFilter::Info,
            (false, 1) => log::LevelFilter::Debug,
            (false, _) => log::LevelFilter::Trace,
        }
    }

    /// Whether progress bars and other live output should be drawn.
    pub fn progress(&self) -> bool {
        !self.quiet
    }

    /// Send `log` messages to stderr: info as plain lines (what the tools have always
    /// printed), warnings as `warning: …`, debug and trace with their module. The level
    /// is `FACECAM_LOG`'s filter when set, else the flags'.
    pub fn init_logging(&self) {
        let mut builder = env_logger::Builder::new();
        // -v and -vv are about facecam's own messages; the libraries' debug output (tract
        // logs every shape it infers) only through FACECAM_LOG.
        builder.filter_level(self.level().min(log::LevelFilter::Info));
        for ours in OUR_CRATES {
            builder.filter_module(ours, self.level());
        }
        if let Ok(filter) = std::env::var(LOG_ENV) {
            builder.parse_filters(&filter);
        }
        builder.format(|out, record| match record.level() {
            log::Level::Info => writeln!(out, "{}", record.args()),
            log::Level::Warn => writeln!(out, "warning: {}", record.args()),
            log::Level::Error => writeln!(out, "error: {}", record.args()),
            level => writeln!(out, "{}: {}: {}", level.as_str().to_lowercase(), record.target(), record.args()),
        });
        // A second call (tests that run `main`'s logic twice) keeps the first logger.
        let _ = builder.try_init();
    }
}

/// A clap value parser for an `f64` within `range` (either end open or closed); NaN
/// and infinities are refused. `what` names the unit in the message (`seconds`, or "").
pub fn float_in(
    range: impl RangeBounds<f64> + Clone + Send + Sync + 'static,
    what: &'static str,
) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        let v: f64 = s.trim().parse().map_err(|_| format!("`{s}` is not a number"))?;
        match v.is_finite() && range.contains(&v) {
            true => Ok(v),
            false => Err(format!("`{s}` must be in {}{}", show_range(&range), what_suffix(what))),
        }
    }
}

/// [`float_in`] for an `f32` setting (a score, a margin, a weight).
pub fn f32_in(
    range: impl RangeBounds<f64> + Clone + Send + Sync + 'static,
    what: &'static str,
) -> impl Fn(&str) -> Result<f32, String> + Clone + Send + Sync + 'static {
    let parse = float_in(range, what);
    move |s: &str| parse(s).map(|v| v as f32)
}

/// A probability strictly between 0 and 1 (a face-score threshold).
pub fn probability(s: &str) -> Result<f32, String> {
    f32_in((Bound::Excluded(0.0), Bound::Excluded(1.0)), "")(s)
}

/// A value in 0..=1 (a score kept for a curve, an IoU, a margin).
pub fn unit(s: &str) -> Result<f32, String> {
    f32_in(0.0..=1.0, "")(s)
}

fn what_suffix(what: &str) -> String {
    if what.is_empty() {
        String::new()
    } else {
        format!(" {what}")
    }
}

/// `[0, 1]`, `(0, 1)`, `(0, 1]`, `[50, …)` as mathematicians write intervals.
fn show_range(range: &impl RangeBounds<f64>) -> String {
    let (open, lo) = match range.start_bound() {
        Bound::Included(v) => ("[", v.to_string()),
        Bound::Excluded(v) => ("(", v.to_string()),
        Bound::Unbounded => ("(", "-inf".into()),
    };
    let (hi, close) = match range.end_bound() {
        Bound::Included(v) => (v.to_string(), "]"),
        Bound::Excluded(v) => (v.to_string(), ")"),
        Bound::Unbounded => ("inf".into(), ")"),
    };
    format!("{open}{lo}, {hi}{close}")
}

/// The shells `completions` writes for.
pub use clap_complete::Shell;

/// Write `cmd`'s completion script for `shell` to stdout.
pub fn print_completions(mut cmd: clap::Command, shell: Shell) {
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, &mut cmd, name, &mut std::io::stdout());
}

/// Write `cmd`'s man pages into `dir`: `NAME.1` and one `NAME-SUBCOMMAND.1` per
/// subcommand (as git does), each written whole or not at all. Returns the files.
pub fn write_man_pages(cmd: clap::Command, dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let mut cmd = cmd;
    cmd.build();
    let name = cmd.get_name().to_string();
    let mut written = vec![write_page(&cmd, &name, dir)?];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        let page = format!("{name}-{}", sub.get_name());
        let sub = sub.clone().name(page.clone());
        written.push(write_page(&sub, &page, dir)?);
    }
    Ok(written)
}

fn write_page(cmd: &clap::Command, page: &str, dir: &Path) -> Result<std::path::PathBuf> {
    let mut roff = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut roff).with_context(|| format!("man page of `{page}`"))?;
    let path = dir.join(format!("{page}.1"));
    crate::atomic::write(&path, &roff)?;
    Ok(path)
}

/// The subcommands both binaries have for their own documentation.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum DocCommand {
    /// Print a shell completion script, e.g. `facecam completions bash >
    /// ~/.local/share/bash-completion/completions/facecam`.
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: Shell,
    },
    /// Write the man pages (one per subcommand) into a folder.
    #[command(hide = true)]
    ManPages {
        /// The folder to write `NAME.1` and `NAME-SUBCOMMAND.1` into.
        dir: std::path::PathBuf,
    },
}

impl DocCommand {
    /// Run it for the binary whose clap definition is `cmd`.
    pub fn run(&self, cmd: clap::Command) -> Result<()> {
        match self {
            DocCommand::Completions { shell } => print_completions(cmd, *shell),
            DocCommand::ManPages { dir } => {
                let pages = write_man_pages(cmd, dir)?;
                log::info!("wrote {} man pages to {}", pages.len(), dir.display());
            }
        }
        Ok(())
    }
}

/// Problems with a clap definition against the shared conventions: an option or
/// positional without help text, or a visible name that the vocabulary spells otherwise
/// (`--input` for `--input-size`, `--side`, `--score-threshold` for `--threshold`).
/// Each entry is `SUBCOMMAND: --option: why`.
pub fn convention_problems(cmd: &clap::Command) -> Vec<String> {
    const OLD_NAMES: [(&str, &str); 3] =
        [("input", "--input-size"), ("side", "--input-size"), ("score-threshold", "--threshold")];
    let mut problems = Vec::new();
    let mut visit = vec![(cmd.get_name().to_string(), cmd.clone())];
    while let Some((path, mut cmd)) = visit.pop() {
        cmd.build();
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            let id = arg.get_id().as_str();
            if matches!(id, "help" | "version") {
                continue;
            }
            let name = arg.get_long().map(|l| format!("--{l}")).unwrap_or_else(|| id.to_uppercase());
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                problems.push(format!("{path}: {name}: no help text"));
            }
            if let Some((_, want)) = arg.get_long().and_then(|l| OLD_NAMES.iter().find(|(old, _)| *old == l)) {
                problems.push(format!("{path}: {name}: this idea is spelled {want}"));
            }
        }
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            visit.push((format!("{path} {}", sub.get_name()), sub.clone()));
        }
    }
    problems
}

/// Panic, listing them, on clap's own consistency problems (`Command::debug_assert`) and
/// on [`convention_problems`]: each binary's unit test calls it on its command line.
pub fn assert_conventions(cmd: clap::Command) {
    cmd.clone().debug_assert();
    let problems = convention_problems(&cmd);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_refuse_what_lies_outside() {
        let p = float_in((Bound::Excluded(0.0), Bound::Included(1.0)), "");
        assert_eq!(p("1"), Ok(1.0));
        assert_eq!(p(" 0.5"), Ok(0.5));
        for bad in ["0", "1.01", "NaN", "inf", "-inf", "x", ""] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert_eq!(p("2").unwrap_err(), "`2` must be in (0, 1]");
        let secs = float_in(0.0..=3600.0, "seconds");
        assert_eq!(secs("-1").unwrap_err(), "`-1` must be in [0, 3600] seconds");
        assert_eq!(probability("0.5"), Ok(0.5));
        assert!(probability("1").is_err() && probability("0").is_err());
        assert_eq!(unit("0"), Ok(0.0));
        assert_eq!(unit("1"), Ok(1.0));
    }

    #[test]
    fn quiet_and_verbose_set_the_level() {
        let v = |verbose, quiet| Verbosity { verbose, quiet }.level();
        assert_eq!(v(0, false), log::LevelFilter::Info);
        assert_eq!(v(1, false), log::LevelFilter::Debug);
        assert_eq!(v(3, false), log::LevelFilter::Trace);
        assert_eq!(v(0, true), log::LevelFilter::Warn);
    }

    #[test]
    fn the_version_names_a_commit_and_a_profile() {
        assert!(VERSION.starts_with(env!("CARGO_PKG_VERSION")), "{VERSION}");
        let inner = VERSION.split_once(" (").unwrap().1;
        let (commit, profile) = inner.trim_end_matches(')').split_once(", ").unwrap();
        assert!(commit == "unknown" || commit.trim_end_matches("-dirty").chars().all(|c| c.is_ascii_hexdigit()));
        assert!(!profile.is_empty());
    }

    #[test]
    fn the_convention_check_finds_missing_help_and_old_names() {
        let cmd = clap::Command::new("x").subcommand(
            clap::Command::new("sub")
                .arg(clap::Arg::new("input").long("input"))
                .arg(clap::Arg::new("ok").long("ok").help("fine")),
        );
        let found = convention_problems(&cmd);
        assert!(found.contains(&"x sub: --input: no help text".to_string()), "{found:?}");
        assert!(found.contains(&"x sub: --input: this idea is spelled --input-size".to_string()), "{found:?}");
        assert_eq!(found.len(), 2, "{found:?}");
    }
}
