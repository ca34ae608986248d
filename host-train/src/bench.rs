//! `facecam-train bench`: training throughput of this trainer next to an equivalent
//! PyTorch-Python loop (`bench/train_step.py`: same network built from the same spec,
//! same batch, same loss, Adam), run one after the other in the same session with the
//! same thread count; and the input pipeline alone, to see whether it can keep up.

use crate::augment::AugmentConfig;
use crate::config::OptimizerKind;
use crate::data::{generate_synthetic, Sample, SynthOptions};
use crate::loader::{prepare, Batch, BatchMaker, ImageSet, Prepared};
use crate::loss::multibox_loss;
use crate::net::{Arch, Compute, Net, NetSpec};
use crate::optim::Optimizer;
use anyhow::{bail, Context, Result};
use edge::model::{ModelCard, Provenance};
use rand::{rngs::StdRng, SeedableRng};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use tch::{nn, Device};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Network family (at width 1).
    pub arch: Arch,
    /// Images per training step.
    pub batch: usize,
    /// Input width, pixels.
    pub width: u32,
    /// Input height, pixels.
    pub height: u32,
    /// Timed training steps per contender.
    pub steps: usize,
    /// Where the network trains (CPU or a CUDA device).
    pub device: Device,
    /// Python with torch for the baseline; `None` skips it.
    pub python: Option<PathBuf>,
    /// Scratch directory for the generated images and the shared batch.
    pub dir: PathBuf,
}

/// Images per second of each contender.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    /// libtorch's intra-op threads during the run.
    pub threads: i32,
    /// Images per training step.
    pub batch: usize,
    /// Input size as `WIDTHxHEIGHT`, pixels.
    pub input: String,
    /// Full training step (forward, loss, backward, Adam) in this trainer.
    pub facecam_step: f64,
    /// The same step in PyTorch-Python, when run.
    pub python_step: Option<f64>,
    /// Decode-free batch preparation (augment, resize, normalise, match) alone, from
    /// images cached in memory.
    pub loader: f64,
    /// The same with each image decoded from its JPEG file (`--no-cache`).
    pub loader_from_disk: f64,
    /// The full step under each way of computing (fp32 / bf16, NCHW / channels-last),
    /// interleaved over rounds, median images/s; with the ratio to fp32 NCHW in the same
    /// round, median over rounds.
    pub compute: Vec<(String, f64, f64)>,
}

/// Write a tensor's values as little-endian f32 (`int = false`) or i64 (`int = true`).
fn write_raw(path: &Path, t: &tch::Tensor, int: bool) -> Result<()> {
    let flat = t.to_device(Device::Cpu).flatten(0, -1);
    let bytes: Vec<u8> = if int {
        Vec::<i64>::try_from(flat.to_kind(tch::Kind::Int64))?.iter().flat_map(|v| v.to_le_bytes()).collect()
    } else {
        Vec::<f32>::try_from(flat.to_kind(tch::Kind::Float))?.iter().flat_map(|v| v.to_le_bytes()).collect()
    };
    std::fs::write(path, bytes).with_context(|| format!("{}: cannot write", path.display()))
}

/// Run the benchmark, saying on stderr what it is doing before each phase.
pub fn run(o: &BenchOptions) -> Result<BenchReport> {
    let synth =
        SynthOptions { count: o.batch.max(32), width: 640, height: 480, face_px: (20, 220), ..Default::default() };
    let images = o.dir.join("images");
    log::info!(
        "bench: drawing {} synthetic {}x{} photos into {}",
        synth.count,
        synth.width,
        synth.height,
        images.display()
    );
    let samples = generate_synthetic(&images, &synth)?;
    let (prepared, _) = prepare(&samples, 4 * o.width.max(o.height));
    let card = ModelCard::new(o.width, o.height, Provenance::default());
    let spec = NetSpec::new(o.arch, 1.0, &card.priors.anchors_per_cell(), 2);
    let maker = BatchMaker::new(card, crate::target::MatchRule::default());
    let items: Vec<_> = prepared.iter().cycle().take(o.batch).collect();
    let mut rng = StdRng::seed_from_u64(1);
    let aug = AugmentConfig::default();
    log::info!("bench: timing the input pipeline, batches of {} from memory then from disk", o.batch);
    let (loader, loader_from_disk) = time_loader(o, &maker, &items, &samples, &mut rng, &aug)?;

    // One fixed batch, shared with the Python side.
    let batch = maker.make(&items, &mut rng, Some(&aug), o.device);
    tch::manual_seed(1);
    let vs = nn::VarStore::new(o.device);
    let mut net = Net::new(&vs.root(), spec.clone());
    let mut steps = Steps { batch: &batch, opt: Optimizer::new(&vs, OptimizerKind::Adam, 5e-4), o };
    log::info!(
        "bench: timing {} training steps of {} at {}x{}, batch {}, on {:?}",
        o.steps,
        spec.name,
        o.width,
        o.height,
        o.batch,
        o.device
    );
    let facecam_step = steps.images_per_second(&net, o.steps);
    log::info!("bench: timing fp32 and bf16, NCHW and channels-last, {} steps each, 3 rounds", o.steps.div_ceil(2));
    let compute = time_compute(&mut steps, &mut net);
    let threads = tch::get_num_threads();
    let python_step = match &o.python {
        None => None,
        Some(_) if o.device.is_cuda() => {
            log::info!("note: the Python baseline runs on CPU only; skipped for a CUDA run");
            None
        }
        Some(py) => {
            log::info!("bench: running the same steps in PyTorch-Python ({})", py.display());
            python_baseline(o, py, &batch, &spec, maker.priors.len(), threads)?
        }
    };
    Ok(BenchReport {
        threads,
        batch: o.batch,
        input: format!("{}x{}", o.width, o.height),
        facecam_step,
        python_step,
        loader,
        loader_from_disk,
        compute,
    })
}

/// Images per second of the input pipeline alone: from images decoded in memory, then
/// decoding each from its file.
fn time_loader(
    o: &BenchOptions,
    maker: &BatchMaker,
    items: &[&Prepared],
    samples: &[Sample],
    rng: &mut StdRng,
    aug: &AugmentConfig,
) -> Result<(f64, f64)> {
    let rounds = 4;
    let start = Instant::now();
    for _ in 0..rounds {
        let _ = maker.make(items, rng, Some(aug), Device::Cpu);
    }
    let loader = (rounds * o.batch) as f64 / start.elapsed().as_secs_f64();
    let (disk, _) = ImageSet::open(samples, 4 * o.width.max(o.height), false);
    let indices: Vec<usize> = (0..o.batch).map(|i| i % disk.len()).collect();
    let start = Instant::now();
    for _ in 0..rounds {
        let _ = disk.batch(maker, &indices, rng, Some(aug))?;
    }
    let loader_from_disk = (rounds * o.batch) as f64 / start.elapsed().as_secs_f64();
    Ok((loader, loader_from_disk))
}

/// Full training steps (forward, loss, backward, Adam) on one fixed batch.
struct Steps<'a> {
    batch: &'a Batch,
    opt: Optimizer,
    o: &'a BenchOptions,
}

impl Steps<'_> {
    fn step(&mut self, net: &Net) {
        let b = self.batch;
        let (conf, loc) = net.forward_t(&b.images, true);
        let loss = multibox_loss(&conf, &loc, &b.labels, &b.loc_t, 3);
        self.opt.backward_step(&(&loss.class + &loss.boxes), 1e-3);
    }

    /// Images per second over `steps` steps, after two warm-up steps.
    fn images_per_second(&mut self, net: &Net, steps: usize) -> f64 {
        let cuda = self.o.device.is_cuda();
        for _ in 0..2 {
            self.step(net);
        }
        if cuda {
            tch::Cuda::synchronize(0);
        }
        let start = Instant::now();
        for _ in 0..steps {
            self.step(net);
        }
        if cuda {
            tch::Cuda::synchronize(0);
        }
        (steps * self.o.batch) as f64 / start.elapsed().as_secs_f64()
    }
}

/// The step under each way of computing, interleaved over three rounds so that
/// background load hits them alike: `(name, median images/s, median ratio to fp32 NCHW
/// in the same round)`. Leaves `net` computing the default way.
fn time_compute(steps: &mut Steps, net: &mut Net) -> Vec<(String, f64, f64)> {
    let variants = [(false, false), (false, true), (true, false), (true, true)];
    let mut rounds_ips: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for _ in 0..3 {
        for (k, &(bf16, channels_last)) in variants.iter().enumerate() {
            net.set_compute(Compute { bf16, channels_last });
            rounds_ips[k].push(steps.images_per_second(net, steps.o.steps.div_ceil(2)));
        }
    }
    net.set_compute(Compute::default());
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (variants.iter().enumerate())
        .map(|(k, &(bf16, cl))| {
            let name = format!("{} {}", if bf16 { "bf16" } else { "fp32" }, if cl { "channels-last" } else { "NCHW" });
            let ratios = (0..rounds_ips[k].len()).map(|r| rounds_ips[k][r] / rounds_ips[0][r]).collect();
            (name, median(rounds_ips[k].clone()), median(ratios))
        })
        .collect()
}

/// Images per second of `bench/train_step.py` run by `py` on the same batch (written
/// to the scratch directory) and the same network spec, with `threads` threads.
fn python_baseline(
    o: &BenchOptions,
    py: &Path,
    batch: &Batch,
    spec: &NetSpec,
    priors: usize,
    threads: i32,
) -> Result<Option<f64>> {
    let bdir = o.dir.join("batch");
    std::fs::create_dir_all(&bdir)?;
    write_raw(&bdir.join("images.f32"), &batch.images, false)?;
    write_raw(&bdir.join("labels.i64"), &batch.labels, true)?;
    write_raw(&bdir.join("loc_t.f32"), &batch.loc_t, false)?;
    let shape = serde_json::json!({"batch": o.batch, "height": o.height, "width": o.width, "priors": priors});
    std::fs::write(bdir.join("shape.json"), shape.to_string())?;
    let spec_path = o.dir.join("spec.json");
    std::fs::write(&spec_path, serde_json::to_string(spec)?)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/train_step.py");
    let out = Command::new(py)
        .arg(&script)
        .arg(&spec_path)
        .arg(&bdir)
        .arg(o.steps.to_string())
        .arg(threads.to_string())
        .output()
        .with_context(|| format!("cannot run {}", py.display()))?;
    if !out.status.success() {
        bail!("{} failed:\n{}", script.display(), String::from_utf8_lossy(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("unreadable Python bench output")?;
    Ok(v["images_per_second"].as_f64())
}
