//! The epoch loop both trainers (the detector's [`train`](crate::train) and the
//! classifier's [`classify::train`](crate::classify::train)) share: the checks and
//! messages of a resumed run, the per-epoch RNG, the CPU-time clock, the progress bar
//! with the epoch's and the whole run's ETA, and the line that sums each epoch up.
//!
//! Epochs are numbered from 1: epoch `k` of `N` is the `k`-th pass over the data, a
//! checkpoint's `epochs` is the number of the last one completed (a run resumed from it
//! goes on with epoch `epochs + 1`), and epoch `k` draws from [`epoch_rng`]`(seed, k)`.

use crate::progress;
use crate::proxy::cpu_seconds;
use anyhow::{bail, Result};
use indicatif::{HumanDuration, ProgressBar};
use rand::{rngs::StdRng, SeedableRng};
use std::cell::Cell;
use std::fmt::Display;
use std::path::Path;
use std::time::{Duration, Instant};

/// The settings that differ between two configurations, as `name: old → new`.
pub fn changed_settings<T: serde::Serialize>(was: &T, now: &T) -> Vec<String> {
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(was), serde_json::to_value(now))
    else {
        return vec!["(settings not comparable)".into()];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |v: Option<&serde_json::Value>| v.map_or("unset".to_string(), |v| v.to_string());
    (keys.into_iter())
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}: {} → {}", show(a.get(k)), show(b.get(k))))
        .collect()
}

/// The RNG of epoch `epoch` (numbered from 1): derived from the seed and the epoch alone,
/// so a run resumed at an epoch boundary draws exactly what the uninterrupted run drew.
pub fn epoch_rng(seed: u64, epoch: u32) -> StdRng {
    StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(epoch as u64))
}

/// Refuse to train into `out` when it holds a checkpoint, unless the run resumes it.
pub fn refuse_overwrite(out: &Path, resume: bool) -> Result<()> {
    if !resume && crate::checkpoint::exists(out) {
        bail!(
            "{}: holds a checkpoint already; continue it with --resume, or train into another folder \
             (nothing was overwritten)",
            out.display()
        );
    }
    Ok(())
}

/// What a resumed run says: the settings (`(checkpoint's, this run's)`, when the
/// checkpoint records them) and the data that differ from the checkpoint's, then the
/// epoch and step it continues after.
pub fn report_resume<T: serde::Serialize>(
    settings: Option<(&T, &T)>,
    was_data: &str,
    data: &str,
    done: u32,
    steps: i64,
) {
    if let Some((was, now)) = settings {
        let changed = changed_settings(was, now);
        if !changed.is_empty() {
            log::warn!("resuming with settings that differ from the checkpoint's: {}", changed.join(", "));
        }
    }
    if was_data != data {
        log::warn!("resuming on other data than the checkpoint's:\n  was {was_data}\n  now {data}");
    }
    log::info!("resuming after epoch {done} (step {steps})");
}

/// CPU seconds of training: earlier sessions' plus this process's since the clock
/// started, less what was run [off the clock](Epoch::off_the_clock).
struct CpuClock {
    before: f64,
    start: f64,
    excluded: Cell<f64>,
}

impl CpuClock {
    fn new(before: f64, start: f64) -> Self {
        Self { before, start, excluded: Cell::new(0.0) }
    }

    fn seconds(&self) -> f64 {
        self.before + cpu_seconds() - self.start - self.excluded.get()
    }
}

/// The epochs of one session of a run.
#[derive(Debug, Clone)]
pub struct Epochs {
    /// Epochs completed before this session (by the checkpoint resumed; 0 for a new run).
    pub done: u32,
    /// The run's length, as configured.
    pub epochs: u32,
    /// The last epoch this session runs: `epochs`, or fewer to stop early.
    pub last: u32,
    /// Optimiser steps (batches) in one epoch.
    pub steps_per_epoch: usize,
    /// Draw the bar (on a terminal) and print each epoch's line.
    pub show: bool,
    /// CPU seconds spent by earlier sessions (0 for a new run).
    pub cpu_before: f64,
    /// [`cpu_seconds`] when this session's clock started (the detector's counts
    /// opening its data, the classifier's starts with the first epoch).
    pub cpu_start: f64,
}

/// One epoch under way, as its trainer sees it.
pub struct Epoch<'a> {
    /// The epoch's number, from 1.
    pub number: u32,
    /// The run's length.
    pub of: u32,
    bar: &'a ProgressBar,
    cpu: &'a CpuClock,
    started: Instant,
    steps: usize,
    /// Epochs this session runs after this one.
    after: u32,
    /// The mean wall time of this session's completed epochs (none before the first).
    epoch_time: Option<Duration>,
}

impl Epoch<'_> {
    /// One step done: advance the bar, with `msg` after the epoch's number and the ETA
    /// of the whole session.
    pub fn step(&self, msg: impl Display) {
        self.bar.inc(1);
        let eta = HumanDuration(self.run_eta());
        self.bar.set_message(format!("epoch {}/{}, run eta {eta}  {msg}", self.number, self.of));
    }

    /// The time this epoch has taken so far.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// CPU seconds of training so far, over every session of the run.
    pub fn cpu_seconds(&self) -> f64 {
        self.cpu.seconds()
    }

    /// Run `f` (a measurement, not training) without counting its CPU time.
    pub fn off_the_clock<R>(&self, f: impl FnOnce() -> R) -> R {
        let started = cpu_seconds();
        let r = f();
        self.cpu.excluded.set(self.cpu.excluded.get() + cpu_seconds() - started);
        r
    }

    /// What is left of this epoch (at its measured step rate), plus the epochs after it
    /// at the measured time of a whole epoch (validation and checkpoint included; this
    /// epoch's projected time until one has completed).
    fn run_eta(&self) -> Duration {
        let done = self.bar.position().clamp(1, self.steps.max(1) as u64) as f64;
        let per_step = self.elapsed().as_secs_f64() / done;
        let this_left = per_step * (self.steps as f64 - done);
        let per_epoch = self.epoch_time.map_or(per_step * self.steps as f64, |d| d.as_secs_f64());
        Duration::from_secs_f64((this_left + per_epoch * self.after as f64).max(0.0))
    }
}

impl Epochs {
    /// Run epochs `done + 1 ..= last`: `epoch` trains one (reporting each step through
    /// [`Epoch::step`]) and returns the line that sums it up, printed as
    /// `epoch K/N: LINE` (also when stderr is a log file, where the bar is not drawn).
    pub fn run(&self, mut epoch: impl FnMut(&Epoch) -> Result<String>) -> Result<()> {
        let bar = progress::bar(self.show, self.steps_per_epoch, "steps");
        let cpu = CpuClock::new(self.cpu_before, self.cpu_start);
        let mut took = Duration::ZERO;
        for number in self.done.saturating_add(1)..=self.last {
            bar.set_position(0);
            bar.reset_eta();
            let completed = number - self.done - 1;
            let e = Epoch {
                number,
                of: self.epochs,
                bar: &bar,
                cpu: &cpu,
                started: Instant::now(),
                steps: self.steps_per_epoch,
                after: self.last - number,
                epoch_time: (completed > 0).then(|| took / completed),
            };
            let line = format!("epoch {number}/{}: {}", self.epochs, epoch(&e)?);
            took += e.elapsed();
            if !bar.is_hidden() {
                bar.println(line);
            } else if self.show {
                log::info!("{line}");
            }
        }
        bar.finish_and_clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_settings_are_named_with_both_values() {
        let was = crate::config::TrainConfig::default();
        assert!(changed_settings(&was, &was.clone()).is_empty());
        let now = crate::config::TrainConfig { lr: was.lr * 2.0, epochs: was.epochs + 1, ..was.clone() };
        let changed = changed_settings(&was, &now);
        assert_eq!(changed.len(), 2, "{changed:?}");
        assert!(changed[0].starts_with("epochs: ") && changed[1].starts_with("lr: "), "{changed:?}");
        assert!(changed[1].contains(&format!("{} → {}", was.lr, was.lr * 2.0)), "{changed:?}");
    }

    #[test]
    fn epochs_run_from_after_the_checkpoint_to_the_last_numbered_from_one() {
        let run = Epochs {
            done: 2,
            epochs: 6,
            last: 5,
            steps_per_epoch: 3,
            show: false,
            cpu_before: 10.0,
            cpu_start: cpu_seconds(),
        };
        let mut seen = Vec::new();
        run.run(|e| {
            for _ in 0..e.steps {
                e.step("x");
            }
            assert_eq!(e.bar.position(), 3);
            assert!(e.cpu_seconds() >= 10.0);
            assert_eq!(e.epoch_time.is_some(), e.number > 3, "measured once an epoch has completed");
            seen.push((e.number, e.of, e.after));
            Ok(String::new())
        })
        .unwrap();
        assert_eq!(seen, vec![(3, 6, 2), (4, 6, 1), (5, 6, 0)]);
        let mut calls = 0;
        let finished = Epochs { done: 6, last: 6, ..run };
        finished
            .run(|_| {
                calls += 1;
                Ok(String::new())
            })
            .unwrap();
        assert_eq!(calls, 0, "nothing is left after the last epoch");
    }

    #[test]
    fn the_run_eta_counts_the_epochs_left() {
        let (bar, cpu) = (ProgressBar::hidden(), CpuClock::new(0.0, cpu_seconds()));
        bar.set_position(5);
        let e = Epoch {
            number: 1,
            of: 4,
            bar: &bar,
            cpu: &cpu,
            started: Instant::now() - Duration::from_secs(5),
            steps: 10,
            after: 3,
            epoch_time: Some(Duration::from_secs(20)),
        };
        // 5 s for the 5 steps left of this epoch, then 3 epochs of 20 s.
        let eta = e.run_eta().as_secs_f64();
        assert!((eta - 65.0).abs() < 0.5, "{eta}");
        let first = Epoch { epoch_time: None, ..e };
        let eta = first.run_eta().as_secs_f64();
        assert!((eta - 35.0).abs() < 0.5, "this epoch's projected 10 s per epoch: {eta}");
    }
}
