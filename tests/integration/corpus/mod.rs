//! The bad-input corpus (issue 29): every subcommand of both binaries against the paths,
//! numbers, files and outputs a careless user or script hands them. Each case states its
//! outcome (exit code, a word the message must carry, what must not be left on disk) and
//! runs as a real process with a time bound, so a hang is a failure, not a stuck CI.
//!
//! The files are generated here ([`files`]); the cases are tables ([`cases_edge`],
//! [`cases_train`]). With `FACECAM_CORPUS_TABLE=FILE` the outcome of every case is also
//! written as a Markdown table (docs/RELIABILITY.md carries one).

mod cases_edge;
mod cases_train;
mod files;

use facecam_tests::{bin, repo_root, scratch, wait_within};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Which binary a case runs.
#[derive(Clone, Copy)]
pub enum Bin {
    Facecam,
    Train,
}

/// One bad input and what must come of it.
pub struct Case {
    /// The kind of mistake (the table groups by it).
    pub category: &'static str,
    pub bin: Bin,
    /// Arguments, split on spaces; `{d}` is the corpus folder, `{r}` the repository.
    pub args: &'static str,
    /// The exit code: 2 for a usage error, 1 for a failure, 0 where the input is fine.
    pub exit: i32,
    /// A piece of text stderr must contain (the file, option or field at fault).
    pub says: &'static str,
    /// Paths (under `{d}`) that must not exist afterwards.
    pub leaves_none: &'static [&'static str],
    /// Environment variables set for the run (`{d}` and `{r}` expanded).
    pub env: &'static [(&'static str, &'static str)],
}

impl Case {
    /// A case of `bin` that leaves nothing to check and sets no environment.
    pub const fn new(bin: Bin, category: &'static str, args: &'static str, exit: i32, says: &'static str) -> Case {
        Case { category, bin, args, exit, says, leaves_none: &[], env: &[] }
    }

    /// The same case, also checking that these paths (under `{d}`) are not left behind.
    pub const fn leaving(self, none: &'static [&'static str]) -> Case {
        Case { leaves_none: none, ..self }
    }

    /// The same case, run with these environment variables.
    pub const fn with_env(self, vars: &'static [(&'static str, &'static str)]) -> Case {
        Case { env: vars, ..self }
    }
}

/// What one case did.
struct Outcome {
    code: Option<i32>,
    first_line: String,
    problems: Vec<String>,
}

/// The longest a case may take, even on a loaded CI machine; nothing here should need
/// more than a few seconds, so hitting it means a hang.
const BOUND: Duration = Duration::from_secs(90);

#[test]
fn every_bad_input_ends_in_its_stated_outcome() {
    let dir = scratch("corpus");
    files::make(&dir);
    let inputs = snapshot(&dir.join("in"));
    let cases: Vec<&Case> = cases_edge::CASES.iter().chain(cases_train::CASES).collect();
    let outcomes = run_all(&cases, &dir);
    if let Ok(table) = std::env::var("FACECAM_CORPUS_TABLE") {
        write_table(Path::new(&table), &cases, &outcomes);
    }
    let mut failures: Vec<String> = cases
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| !o.problems.is_empty())
        .map(|(c, o)| format!("`{}` ({}): {}", c.args, c.category, o.problems.join("; ")))
        .collect();
    for (path, bytes) in inputs {
        if std::fs::read(&path).ok().as_ref() != Some(&bytes) {
            failures.push(format!("{}: an input was changed or removed by some case", path.display()));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// Every file in `dir` with its bytes: the inputs no case may change.
fn snapshot(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    entries
        .map(|e| e.expect("a folder entry").path())
        .map(|p| (p.clone(), std::fs::read(&p).expect("read an input")))
        .collect()
}

/// Run the cases on two threads (half the cases each, in order), as each waits mostly
/// on its process starting.
fn run_all(cases: &[&Case], dir: &Path) -> Vec<Outcome> {
    let half = cases.len().div_ceil(2);
    std::thread::scope(|s| {
        let parts: Vec<_> = cases
            .chunks(half)
            .map(|part| s.spawn(move || part.iter().map(|c| run_case(c, dir)).collect::<Vec<_>>()))
            .collect();
        parts.into_iter().flat_map(|p| p.join().expect("a corpus thread panicked")).collect()
    })
}

fn expand(arg: &str, dir: &Path) -> String {
    arg.replace("{d}", &dir.display().to_string()).replace("{r}", &repo_root().display().to_string())
}

fn run_case(case: &Case, dir: &Path) -> Outcome {
    let exe = bin(match case.bin {
        Bin::Facecam => "facecam",
        Bin::Train => "facecam-train",
    });
    let mut cmd = Command::new(exe);
    cmd.args(case.args.split(' ').map(|a| expand(a, dir)))
        .envs(case.env.iter().map(|(k, v)| (k, expand(v, dir))))
        .current_dir(dir.join("cwd"));
    let (status, stderr) = wait_within(&mut cmd, BOUND);
    judge(case, dir, status, &stderr)
}

fn judge(case: &Case, dir: &Path, status: Option<std::process::ExitStatus>, stderr: &str) -> Outcome {
    let mut problems = Vec::new();
    let code = status.and_then(|s| s.code());
    match status {
        None => problems.push(format!("still running after {} s (a hang)", BOUND.as_secs())),
        Some(s) if s.code().is_none() => problems.push(format!("killed by a signal ({s})")),
        Some(_) if code != Some(case.exit) => problems.push(format!("exit {code:?}, expected {}", case.exit)),
        Some(_) => {}
    }
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        problems.push("a panic".into());
    }
    let says = expand(case.says, dir);
    if !stderr.contains(&says) {
        problems.push(format!("stderr lacks `{says}`"));
    }
    for left in case.leaves_none {
        if dir.join(left).exists() {
            problems.push(format!("left {left} behind"));
        }
    }
    let first_line = stderr
        .lines()
        .find(|l| l.starts_with("error") || l.starts_with("warning"))
        .or_else(|| stderr.lines().next())
        .unwrap_or("")
        .replace(&dir.display().to_string(), "D");
    Outcome { code, first_line, problems }
}

fn write_table(path: &Path, cases: &[&Case], outcomes: &[Outcome]) {
    let mut out =
        String::from("| category | command | exit | message (first line) | as stated |\n|---|---|---|---|---|\n");
    for (c, o) in cases.iter().zip(outcomes) {
        let bin = match c.bin {
            Bin::Facecam => "facecam",
            Bin::Train => "facecam-train",
        };
        let args = c.args.replace("{d}", "D").replace("{r}/", "");
        let line: String = o.first_line.chars().take(160).collect::<String>().replace('|', "\\|").replace('`', "'");
        let code = o.code.map_or("—".into(), |c| c.to_string());
        let ok = if o.problems.is_empty() { "yes".to_string() } else { o.problems.join("; ") };
        let env: String = c.env.iter().map(|(k, v)| format!("{k}={} ", v.replace("{d}", "D"))).collect();
        out += &format!("| {} | `{env}{bin} {args}` | {code} | {line} | {ok} |\n", c.category);
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
