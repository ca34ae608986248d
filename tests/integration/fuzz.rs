//! Fuzzing every parser that reads outside data: mutations of real seed files
//! (`tests/fuzz/corpus/TARGET/`) and the saved regression inputs
//! (`tests/fuzz/regressions/TARGET/`) must each end in `Ok` or an error, never a panic, a
//! hang or an abort.
//!
//! The mutator is structured, not coverage-guided: stacked byte flips, interesting
//! values, inserts, deletes, duplications, truncations, splices of two seeds and, in text,
//! numbers replaced by extremes (`NaN`, `-1`, `1e39`, `4294967296`…), seeded so a failure
//! replays. CI replays the corpus, the regressions and 300 mutations per target (seconds);
//! `FACECAM_FUZZ_SECONDS=600 cargo test --workspace --test integration fuzz:: -- --nocapture`
//! runs each target that long and prints the executions (docs/RELIABILITY.md records them);
//! `FACECAM_FUZZ_TARGETS=mat,onnx` picks targets. A failing input is saved as
//! `TARGET/input-N` in the test's scratch folder (kept when the test fails; the failure
//! names each file) to become a regression file. The targets themselves are
//! `facecam_tests::fuzz_targets`, shared with the coverage-guided fuzzer (`make fuzz`).

use facecam_tests::fuzz_targets::{Target, TARGETS};
use facecam_tests::{repo_root, scratch, shared_data};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The seed files of a target: its corpus folder, plus real files from the repository and
/// `../shared/data` where they exist.
fn seeds(target: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut add_dir = |dir: PathBuf| {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            let mut found: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            found.sort();
            files.extend(found);
        }
    };
    let fuzz = repo_root().join("tests/fuzz");
    add_dir(fuzz.join("corpus").join(target));
    add_dir(fuzz.join("regressions").join(target));
    match target {
        "voc" => {
            let street = repo_root().join("samples/street");
            let mut xml: Vec<PathBuf> = std::fs::read_dir(&street)
                .map(|d| {
                    d.filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
                        .collect()
                })
                .unwrap_or_default();
            xml.sort();
            files.extend(xml);
        }
        "onnx" | "onnx_card" => files.push(repo_root().join("models/facecam-int8.onnx")),
        "mat" => {
            if let Some(shared) = shared_data() {
                files.push(shared.join("widerface-val-gt/ground_truth/wider_easy_val.mat"));
            }
        }
        _ => {}
    }
    let seeds: Vec<Vec<u8>> = files.iter().filter_map(|f| std::fs::read(f).ok()).collect();
    assert!(!seeds.is_empty(), "target {target} has no seed files");
    seeds
}

const INTERESTING: [&[u8]; 12] = [
    b"NaN",
    b"-1",
    b"0",
    b"1e39",
    b"-inf",
    b"4294967296",
    b"99999999999999999999",
    b"",
    b"\xff\xd9",
    b"\xff\xd8",
    b"\0",
    b"\"\"",
];

/// A mutation of `seed`, drawing on `others` for splices; `keep` protects a prefix (the
/// model's graph, when only its card should change).
fn mutate(rng: &mut StdRng, seed: &[u8], others: &[Vec<u8>], keep: usize) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..rng.random_range(1..=8) {
        let len = v.len();
        let at = if len > keep { rng.random_range(keep..=len) } else { len };
        match rng.random_range(0..8) {
            0 if at < len => v[at] ^= 1 << rng.random_range(0..8),
            1 if at < len => v[at] = [0u8, 0xFF, 0x7F, 0x80, b'-', b'9', b'e', b'"'][rng.random_range(0..8)],
            2 => {
                let n = rng.random_range(1..=16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                v.splice(at..at, bytes);
            }
            3 if at < len => {
                let end = (at + rng.random_range(1..=64)).min(len);
                v.drain(at..end);
            }
            4 if at < len => {
                let end = (at + rng.random_range(1..=64)).min(len);
                let copy = v[at..end].to_vec();
                v.splice(at..at, copy);
            }
            5 => v.truncate(at),
            6 => {
                let other = &others[rng.random_range(0..others.len())];
                let from = rng.random_range(0..=other.len());
                let to = (from + rng.random_range(0..=256)).min(other.len());
                v.splice(at..at, other[from..to].iter().copied());
            }
            _ => {
                // A number-looking run replaced by an extreme.
                let digits = |b: &u8| b.is_ascii_digit() || *b == b'.';
                if let Some(start) = (at..len).find(|&i| digits(&v[i])) {
                    let end = (start..len).find(|&i| !digits(&v[i])).unwrap_or(len);
                    v.splice(start..end, INTERESTING[rng.random_range(0..INTERESTING.len())].iter().copied());
                }
            }
        }
    }
    v
}

/// Where the card's JSON text starts in a model file (the mutations stay after it).
fn card_offset(seed: &[u8]) -> usize {
    seed.windows(10).position(|w| w == b"{\"format\":").unwrap_or(0)
}

/// Run `f` on `input`: `Err` with a description when it panics or takes too long.
fn check(f: Target, input: &[u8]) -> Result<(), String> {
    let start = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| f(input)));
    let took = start.elapsed();
    match outcome {
        Err(p) => {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(format!("panicked: {}", msg.unwrap_or_default()))
        }
        Ok(()) if took > Duration::from_secs(5) => Err(format!("took {took:?}")),
        Ok(()) => Ok(()),
    }
}

/// The panic hook says nothing for panics on this thread until dropped, then is the one
/// before again. The hook is the process's, and the other tests run beside this one in
/// the same process: their panics still go to the hook before.
struct QuietPanics(Option<Arc<PanicHook>>);

type PanicHook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

impl QuietPanics {
    fn here() -> Self {
        let quiet = std::thread::current().id();
        let before = Arc::new(std::panic::take_hook());
        let others = Arc::clone(&before);
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().id() != quiet {
                others(info)
            }
        }));
        QuietPanics(Some(before))
    }
}

impl Drop for QuietPanics {
    fn drop(&mut self) {
        // Hooks cannot be changed while panicking; the quiet one only keeps this thread quiet.
        if std::thread::panicking() {
            return;
        }
        drop(std::panic::take_hook()); // and with it `others`, the other holder of the hook before
        if let Some(before) = self.0.take().and_then(Arc::into_inner) {
            std::panic::set_hook(before);
        }
    }
}

#[test]
fn no_parser_panics_or_hangs_on_mutated_real_files() {
    let budget = std::env::var("FACECAM_FUZZ_SECONDS").ok().and_then(|s| s.parse::<f64>().ok());
    let out = scratch("fuzz");
    let mut failures = Vec::new();
    // Panics are caught and reported below; the default hook would print each one.
    let quiet = QuietPanics::here();
    // FACECAM_FUZZ_TARGETS=mat,onnx runs only those.
    let only = std::env::var("FACECAM_FUZZ_TARGETS").ok();
    for (name, f) in TARGETS {
        if only.as_deref().is_some_and(|o| !o.split(',').any(|t| t == name)) {
            continue;
        }
        let seeds = seeds(name);
        let mut rng = StdRng::seed_from_u64(0x5eed ^ name.len() as u64);
        let started = Instant::now();
        let mut runs = 0u64;
        let mut save = |input: &[u8], why: String, runs: u64| {
            let dir = out.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join(format!("input-{runs}"));
            std::fs::write(&file, input).unwrap();
            failures.push(format!("{name}: {why} ({})", file.display()));
        };
        for seed in &seeds {
            runs += 1;
            if let Err(why) = check(f, seed) {
                save(seed, why, runs);
            }
        }
        loop {
            let done = match budget {
                Some(s) => started.elapsed().as_secs_f64() >= s,
                None => runs >= seeds.len() as u64 + 300,
            };
            if done {
                break;
            }
            let seed = &seeds[rng.random_range(0..seeds.len())];
            let keep = if name == "onnx_card" { card_offset(seed) } else { 0 };
            let input = mutate(&mut rng, seed, &seeds, keep);
            runs += 1;
            if let Err(why) = check(f, &input) {
                save(&input, why, runs);
            }
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{name}: {runs} executions in {secs:.1} s ({:.0}/s), {} seed file(s)",
            runs as f64 / secs,
            seeds.len()
        );
    }
    drop(quiet);
    assert!(failures.is_empty(), "inputs that panicked or hung:\n{}", failures.join("\n"));
}
