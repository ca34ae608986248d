//! `bench`: the trainer's images/s against an equivalent PyTorch-Python loop.

use super::count;
use anyhow::Result;
use clap::Args;
use edge::preprocess::parse_size;
use host_train::bench::{self, BenchOptions};
use host_train::config::DeviceChoice;
use host_train::net::Arch;
use std::path::PathBuf;

/// `bench`'s options.
#[derive(Args)]
pub struct BenchArgs {
    /// Network family.
    #[arg(long, value_enum, default_value_t = Arch::Slim)]
    arch: Arch,
    /// Images per training step, 1..=4096.
    #[arg(long, default_value_t = 32, value_parser = count(1, 4096))]
    batch_size: usize,
    /// Model input size, WIDTHxHEIGHT.
    #[arg(long, alias = "input", default_value = "320x240", value_parser = parse_size)]
    input_size: (u32, u32),
    /// Timed training steps per measurement, 1..=100000.
    #[arg(long, default_value_t = 10, value_parser = count(1, 100_000))]
    steps: usize,
    /// Where to train: auto (CUDA when available, else CPU), cpu or cuda.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
    /// Python with torch for the baseline (default: `FACECAM_PYTHON`, else python3).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Skip the Python baseline.
    #[arg(long)]
    no_python: bool,
    /// Folder for `train-step.json` and the baseline's files.
    #[arg(long, default_value = "out/bench")]
    out: PathBuf,
}

/// `facecam-train bench`: measure, write `train-step.json`, print the table.
pub fn bench(a: BenchArgs) -> Result<()> {
    let opts = BenchOptions {
        arch: a.arch,
        batch: a.batch_size,
        width: a.input_size.0,
        height: a.input_size.1,
        steps: a.steps,
        device: a.device.resolve()?,
        python: (!a.no_python).then(|| super::python(a.python.clone())),
        dir: a.out.clone(),
    };
    let r = bench::run(&opts)?;
    edge::atomic::write(&a.out.join("train-step.json"), serde_json::to_string_pretty(&r)?.as_bytes())?;
    println!("training step, batch {} at {}, {} threads, {:?}:", r.batch, r.input, r.threads, opts.device);
    println!("  facecam-train (Rust, tch) {:8.1} images/s", r.facecam_step);
    if let Some(py) = r.python_step {
        println!("  PyTorch-Python loop       {:8.1} images/s  (facecam/python = {:.2}x)", py, r.facecam_step / py);
    }
    println!("  input pipeline alone      {:8.1} images/s (augment, resize, normalise, match)", r.loader);
    println!("  ... decoding each JPEG    {:8.1} images/s (--no-cache)", r.loader_from_disk);
    println!("  the step computed as (3 interleaved rounds, medians):");
    for (name, ips, ratio) in &r.compute {
        println!("    {name:<20} {ips:8.1} images/s  {ratio:.2}x fp32 NCHW");
    }
    Ok(())
}
