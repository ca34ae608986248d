//! Checkpoints: a directory with the set `state/` — `weights.ot` (tch variables),
//! `optimizer.ot` (the optimiser's moments and step count) and `meta.json` (the network
//! spec, the training config and how far training got), replaced as one unit (see
//! [`set`]) — beside `metrics.csv` (one row per epoch) with its picture `loss.png`, and
//! `predictions/epoch-N.png` when there is validation data. Checkpoints of the older flat
//! layout (the set's files in the directory itself, as under `runs/`) still load.

use crate::net::{Net, NetSpec};
use crate::optim::Optimizer;
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use tch::{nn, Device};

mod meta;
mod metrics;
mod set;

pub use meta::{check_progress, in_range, read_meta, read_meta_as, CheckpointMeta, Meta};
pub use metrics::{append_metrics, plot_losses, read_metrics, EpochMetrics};

/// The name of the step marker stored beside the variables in `weights.ot`.
const STEP_MARKER: &str = "facecam.step";

const WEIGHTS: &str = "weights.ot";
const META: &str = "meta.json";
const OPTIMIZER: &str = "optimizer.ot";

/// The folder holding `dir`'s checkpoint files (`weights.ot`, `optimizer.ot`,
/// `meta.json`): `dir/state/` or, for a checkpoint of the older flat layout, `dir`.
pub fn files_dir(dir: &Path) -> PathBuf {
    set::folder(dir)
}

/// Whether `dir` holds a checkpoint (its metadata), in either layout.
pub fn exists(dir: &Path) -> bool {
    files_dir(dir).join(META).is_file()
}

/// Write the checkpoint into `dir` (created if needed).
pub fn save(dir: &Path, vs: &nn::VarStore, opt: &Optimizer, meta: &CheckpointMeta) -> Result<()> {
    save_with(dir, vs, opt, meta)
}

/// Write weights, optimiser state and any trainer's metadata `meta` into `dir` as one
/// set (the one checkpoint layout the detector and the classifier share): the previous
/// set stays whole until the new one is complete, and a failed save (a full disk) is an
/// error naming `dir` that leaves the previous set as it was.
pub fn save_with(dir: &Path, vs: &nn::VarStore, opt: &Optimizer, meta: &impl Serialize) -> Result<()> {
    let cannot = |e: &dyn std::fmt::Display| anyhow!("{}: cannot save the checkpoint: {e}", dir.display());
    let mut named: Vec<(String, tch::Tensor)> = vs.variables().into_iter().collect();
    named.push((STEP_MARKER.into(), tch::Tensor::from(opt.steps())));
    let weights = tensor_bytes(&named).map_err(|e| cannot(&e))?;
    let optimizer = tensor_bytes(&opt.state()).map_err(|e| cannot(&e))?;
    let meta = serde_json::to_string_pretty(meta).map_err(|e| cannot(&e))?;
    let files = [(WEIGHTS, &weights[..]), (OPTIMIZER, &optimizer[..]), (META, meta.as_bytes())];
    set::write(dir, &files, &[WEIGHTS, OPTIMIZER, META]).map_err(|e| cannot(&e))
}

/// `named` tensors in libtorch's format, in memory: libtorch never writes a file of ours,
/// so our own checked writes report a full disk (libtorch's would abort).
fn tensor_bytes(named: &[(String, tch::Tensor)]) -> Result<Vec<u8>, tch::TchError> {
    /// A buffer libtorch's writer can own while we keep a handle on it.
    struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let bytes = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    tch::Tensor::save_multi_to_stream(named, Shared(bytes.clone()))?;
    Ok(bytes.take())
}

/// Restore weights and optimiser state into an already built network; returns the
/// metadata (how many epochs are done).
pub fn resume(dir: &Path, vs: &mut nn::VarStore, opt: &mut Optimizer) -> Result<CheckpointMeta> {
    let meta = read_meta(dir)?;
    restore(dir, vs, opt, meta.steps)?;
    Ok(meta)
}

/// Restore weights and optimiser state from `dir`, checking that both come from the step
/// `meta_steps` its metadata records.
pub fn restore(dir: &Path, vs: &mut nn::VarStore, opt: &mut Optimizer, meta_steps: Option<i64>) -> Result<()> {
    let files = files_dir(dir);
    load_checked(&files.join(WEIGHTS), vs)?;
    opt.load(&files.join(OPTIMIZER))?;
    check_one_set(&files, meta_steps, opt.steps())
}

/// Load the weights in `dir` into `vs` (an exported checkpoint's network).
pub fn load_weights(dir: &Path, vs: &mut nn::VarStore) -> Result<()> {
    let weights = files_dir(dir).join(WEIGHTS);
    if !weights.exists() {
        bail!("{}: checkpoint weights are missing", weights.display());
    }
    load_checked(&weights, vs)
}

/// Load `weights` into `vs`, telling a file that cannot be read at all (corrupt,
/// truncated, not a checkpoint) from one that reads but holds another network's tensors,
/// and naming the first tensor that is missing or of another shape.
fn load_checked(weights: &Path, vs: &mut nn::VarStore) -> Result<()> {
    // libtorch opens the path itself: make sure first that it is a file it cannot block on.
    edge::input::check_file(weights, "a weights file")?;
    let tensors = tch::Tensor::load_multi(weights).map_err(|e| {
        // libtorch's message runs on for lines of advice; its first clause says enough.
        let text = e.to_string();
        let text = text.trim_start_matches("Internal torch error: ");
        let first = text.split(". ").next().unwrap_or_default().lines().next().unwrap_or_default().to_string();
        anyhow::anyhow!("{}: not a readable weights file (corrupt or truncated?): {first}", weights.display())
    })?;
    let shapes: std::collections::HashMap<String, Vec<i64>> =
        tensors.iter().map(|(name, t)| (name.clone(), t.size())).collect();
    let mut wanted: Vec<(String, tch::Tensor)> = vs.variables().into_iter().collect();
    wanted.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, var) in &wanted {
        match shapes.get(name) {
            None => bail!("{}: weights do not fit this network: it has no `{name}`", weights.display()),
            Some(shape) if *shape != var.size() => bail!(
                "{}: weights do not fit this network: `{name}` is {shape:?} in the file, {:?} in the network",
                weights.display(),
                var.size()
            ),
            Some(_) => {}
        }
    }
    vs.load(weights).with_context(|| format!("{}: weights do not fit this network", weights.display()))
}

/// Load a checkpoint's weights alone (a fine-tuning run's start); returns its metadata.
pub fn init_from(dir: &Path, vs: &mut nn::VarStore) -> Result<CheckpointMeta> {
    let meta = read_meta(dir)?;
    let weights = files_dir(dir).join(WEIGHTS);
    load_checked(&weights, vs)?;
    Ok(meta)
}

/// Start from a related network's checkpoint (a slim one for an RFB run, see
/// [`NetSpec::backbone_in`]): each of `vs`'s variables takes the file's tensor of the same
/// layer, and the layers `from`'s network lacks keep their initialisation. Returns the
/// metadata and the names of the variables left fresh.
pub fn init_from_related(dir: &Path, vs: &mut nn::VarStore, spec: &NetSpec) -> Result<(CheckpointMeta, Vec<String>)> {
    let meta = read_meta(dir)?;
    let weights = files_dir(dir).join(WEIGHTS);
    let map = spec.backbone_in(&meta.spec).with_context(|| {
        format!("{}: holds {}, which cannot start a {} run", dir.display(), meta.spec.name, spec.name)
    })?;
    edge::input::check_file(&weights, "a weights file")?;
    let tensors: std::collections::HashMap<String, tch::Tensor> = tch::Tensor::load_multi(&weights)
        .with_context(|| format!("{}: not a readable weights file", weights.display()))?
        .into_iter()
        .collect();
    let heads = spec.heads_in(&meta.spec);
    let source = |name: &str| -> Option<String> {
        let (map, prefix) = match name.split_once('.') {
            Some(("backbone", _)) => (&map, "backbone"),
            Some(("heads", _)) => (&heads, "heads"),
            _ => return Some(name.to_string()),
        };
        let (i, tail) = name[prefix.len() + 1..].split_once('.')?;
        let from = (*map.get(i.parse::<usize>().ok()?)?)?;
        Some(format!("{prefix}.{from}.{tail}"))
    };
    let mut fresh = Vec::new();
    tch::no_grad(|| {
        for (name, mut var) in vs.variables() {
            match source(&name).and_then(|n| tensors.get(&n)) {
                Some(t) if t.size() == var.size() => var.copy_(t),
                _ => fresh.push(name),
            }
        }
    });
    fresh.sort();
    Ok((meta, fresh))
}

/// Refuse a set of checkpoint files (in `files`) from different steps (pieced together
/// by hand, or by a save before sets were replaced as one unit): the weights' marker,
/// the optimiser's count and `meta.json` must agree.
fn check_one_set(files: &Path, meta_steps: Option<i64>, optimizer_steps: i64) -> Result<()> {
    let Some(meta_steps) = meta_steps else { return Ok(()) };
    let weights = files.join(WEIGHTS);
    edge::input::check_file(&weights, "a weights file")?;
    let marker = tch::Tensor::load_multi(&weights)
        .with_context(|| format!("{}: cannot read", weights.display()))?
        .into_iter()
        .find(|(n, _)| n == STEP_MARKER)
        .map(|(_, t)| t.int64_value(&[]));
    if marker != Some(meta_steps) || optimizer_steps != meta_steps {
        bail!(
            "{}: the checkpoint's files are from different steps (weights {}, optimizer.ot {optimizer_steps}, \
             {META} {meta_steps}): a save was interrupted; start the run again or restore the folder from a copy",
            files.display(),
            marker.map_or("unmarked".to_string(), |m| m.to_string()),
        );
    }
    Ok(())
}

/// Load a checkpoint onto `device`: its variables, the network, and its metadata.
pub fn load(dir: &Path, device: Device) -> Result<(nn::VarStore, Net, CheckpointMeta)> {
    let meta = read_meta(dir)?;
    let mut vs = nn::VarStore::new(device);
    let net = Net::new(&vs.root(), meta.spec.clone());
    load_weights(dir, &mut vs)?;
    Ok((vs, net, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_mixed_by_an_interrupted_save_is_refused() {
        use crate::config::OptimizerKind;
        use crate::net::{Net, NetSpec};
        let dir = std::env::temp_dir().join(format!("facecam-ckpt-set-{}", std::process::id()));
        let spec = NetSpec::slim(0.25, &[3, 2, 2, 3], 2);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = Net::new(&vs.root(), spec.clone());
        let mut opt = Optimizer::new(&vs, OptimizerKind::Adam, 0.0);
        let x = tch::Tensor::randn([1, 3, 64, 64], (tch::Kind::Float, Device::Cpu));
        let step_and_save = |opt: &mut Optimizer| {
            let (c, r) = net.forward_t(&x, true);
            opt.backward_step(&(c.sum(tch::Kind::Float) + r.sum(tch::Kind::Float)), 1e-3);
            let meta = CheckpointMeta {
                spec: spec.clone(),
                width: 64,
                height: 64,
                epochs: opt.steps() as u32,
                data: "test".into(),
                last_loss: 0.0,
                config: None,
                steps: Some(opt.steps()),
            };
            save(&dir, &vs, opt, &meta).unwrap();
        };
        step_and_save(&mut opt);
        let old_weights = std::fs::read(files_dir(&dir).join(WEIGHTS)).unwrap();
        step_and_save(&mut opt);
        let fresh = || {
            let mut vs = nn::VarStore::new(Device::Cpu);
            let _net = Net::new(&vs.root(), spec.clone());
            let mut opt = Optimizer::new(&vs, OptimizerKind::Adam, 0.0);
            resume(&dir, &mut vs, &mut opt)
        };
        assert_eq!(fresh().unwrap().steps, Some(2), "a whole set resumes");
        // The weights of step 1 beside the optimiser and metadata of step 2 (files copied
        // by hand, or an older flat checkpoint killed between its files).
        std::fs::write(files_dir(&dir).join(WEIGHTS), old_weights).unwrap();
        let err = format!("{:#}", fresh().unwrap_err());
        assert!(err.contains("different steps") && err.contains("weights 1"), "{err}");
        // A truncated weights file is reported as unreadable, not as another network's.
        let whole = std::fs::read(files_dir(&dir).join(WEIGHTS)).unwrap();
        std::fs::write(files_dir(&dir).join(WEIGHTS), &whole[..whole.len() / 2]).unwrap();
        let err = format!("{:#}", fresh().unwrap_err());
        assert!(err.contains("weights.ot: not a readable weights file"), "{err}");
        // Another network's weights name the tensor that does not fit.
        let other = nn::VarStore::new(Device::Cpu);
        let _net = Net::new(&other.root(), NetSpec::slim(0.5, &[3, 2, 2, 3], 2));
        other.save(files_dir(&dir).join(WEIGHTS)).unwrap();
        let mut vs = nn::VarStore::new(Device::Cpu);
        let _net = Net::new(&vs.root(), spec.clone());
        let err = format!("{:#}", load_weights(&dir, &mut vs).unwrap_err());
        assert!(err.contains("do not fit this network: `") && err.contains("in the file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A slim checkpoint starts an RFB run: every layer but the receptive-field block
    /// takes the slim network's weights (the layers after it from one index further on);
    /// a checkpoint of another width is refused.
    #[test]
    fn a_slim_checkpoint_starts_an_rfb_or_stride4_run_with_only_its_new_layers_fresh() {
        use crate::config::OptimizerKind;
        use crate::net::{Arch, Block, Net, NetSpec};
        let dir = std::env::temp_dir().join(format!("facecam-ckpt-related-{}", std::process::id()));
        let slim = NetSpec::slim(0.25, &[3, 2, 2, 3], 2);
        let vs = nn::VarStore::new(Device::Cpu);
        let _net = Net::new(&vs.root(), slim.clone());
        let opt = Optimizer::new(&vs, OptimizerKind::Adam, 0.0);
        let meta = CheckpointMeta {
            spec: slim,
            width: 64,
            height: 64,
            epochs: 1,
            data: "test".into(),
            last_loss: 0.0,
            config: None,
            steps: Some(0),
        };
        save(&dir, &vs, &opt, &meta).unwrap();
        let rfb = NetSpec::new(Arch::Rfb, 0.25, &[3, 2, 2, 3], 2);
        let mut to = nn::VarStore::new(Device::Cpu);
        let _net = Net::new(&to.root(), rfb.clone());
        let (_, fresh) = init_from_related(&dir, &mut to, &rfb).unwrap();
        let t = rfb.backbone.iter().position(|b| matches!(b, Block::Rfb(_))).unwrap();
        assert!(!fresh.is_empty() && fresh.iter().all(|n| n.starts_with(&format!("backbone.{t}."))), "{fresh:?}");
        let (from, got) = (vs.variables(), to.variables());
        assert_eq!(
            got.len() - fresh.len(),
            from.len()
                - (from
                    .keys()
                    .filter(|n| {
                        n.starts_with(&format!("backbone.{t}.")) || n.starts_with(&format!("backbone.{}.", t + 1))
                    })
                    .count())
        );
        for (name, var) in &got {
            let Some(rest) = name.strip_prefix("backbone.") else {
                assert!(var.equal(&from[name]), "{name}");
                continue;
            };
            let (i, tail) = rest.split_once('.').unwrap();
            let i: usize = i.parse().unwrap();
            if i != t {
                let source = format!("backbone.{}.{tail}", if i < t { i } else { i + 1 });
                assert!(var.equal(&from[&source]), "{name} is not {source}");
            }
        }
        // A stride-4 level added first: every layer kept but the new head.
        let s4 = NetSpec::slim(0.25, &[1, 3, 2, 2, 3], 2);
        let mut to = nn::VarStore::new(Device::Cpu);
        let _net = Net::new(&to.root(), s4.clone());
        let (_, fresh) = init_from_related(&dir, &mut to, &s4).unwrap();
        assert!(!fresh.is_empty() && fresh.iter().all(|n| n.starts_with("heads.0.")), "{fresh:?}");
        for (name, var) in to.variables().iter().filter(|(n, _)| !n.starts_with("heads.0.")) {
            let source = match name.strip_prefix("heads.").and_then(|r| r.split_once('.')) {
                Some((l, tail)) => format!("heads.{}.{tail}", l.parse::<usize>().unwrap() - 1),
                None => name.clone(),
            };
            assert!(var.equal(&from[&source]), "{name} is not {source}");
        }
        let wide = NetSpec::new(Arch::Rfb, 0.5, &[3, 2, 2, 3], 2);
        let mut other = nn::VarStore::new(Device::Cpu);
        let _net = Net::new(&other.root(), wide.clone());
        let err = format!("{:#}", init_from_related(&dir, &mut other, &wide).unwrap_err());
        assert!(err.contains("slim-0.25, which cannot start a rfb-0.50 run"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
