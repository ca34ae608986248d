//! The network of a training run: built fresh from the configuration, resumed from its
//! own checkpoint or started from another's weights, and stepped by the optimiser.

use crate::checkpoint;
use crate::config::TrainConfig;
use crate::epochs;
use crate::loss::{diou_loss, multibox_loss};
use crate::net::{Compute, Net, NetSpec};
use crate::optim::Optimizer;
use anyhow::{bail, Context, Result};
use edge::model::{ModelCard, Provenance};
use std::path::Path;
use tch::{nn, Device};

/// The network of a run, with its card, weights and optimiser.
pub(super) struct Model {
    pub(super) card: ModelCard,
    pub(super) spec: NetSpec,
    pub(super) compute: Compute,
    pub(super) vs: nn::VarStore,
    pub(super) net: Net,
    pub(super) opt: Optimizer,
}

impl Model {
    /// A fresh network for `cfg` on `device` (seeded by `cfg.seed`).
    pub(super) fn new(cfg: &TrainConfig, device: Device) -> Result<Self> {
        tch::manual_seed(cfg.seed as i64);
        let card = ModelCard { priors: cfg.priors(), ..ModelCard::new(cfg.width, cfg.height, Provenance::default()) };
        let mut spec =
            NetSpec::new(cfg.arch, cfg.net_width, &card.priors.anchors_per_cell(), card.classes.len() as i64);
        if cfg.stride4_context {
            spec = spec.with_stride4_context().context("`stride4_context` needs a stride-4 level")?;
        }
        if cfg.stride8_context {
            spec = spec.with_stride8_context().context("`stride8_context`: the network has no stride-8 level")?;
        }
        let vs = nn::VarStore::new(device);
        let mut net = Net::new(&vs.root(), spec.clone());
        let compute = Compute { bf16: cfg.precision.bf16(device), channels_last: cfg.channels_last };
        net.set_compute(compute);
        // 0 keeps libtorch's initialisation; `validate` has checked the range.
        if cfg.face_prior > 0.0 {
            net.init_heads(cfg.face_prior);
        }
        let opt = Optimizer::new(&vs, cfg.optimizer, cfg.weight_decay);
        Ok(Model { card, spec, compute, vs, net, opt })
    }

    /// Load the checkpoint in `out` (weights, optimiser state), which must be of this
    /// network at this size. Returns the epochs it completed and the CPU seconds they took.
    pub(super) fn resume(&mut self, cfg: &TrainConfig, out: &Path, data: &str) -> Result<(u32, f64)> {
        let meta = checkpoint::resume(out, &mut self.vs, &mut self.opt)?;
        if meta.spec != self.spec || (meta.width, meta.height) != (cfg.width, cfg.height) {
            bail!(
                "{}: the checkpoint is for {} at {}x{}, not this configuration",
                out.display(),
                meta.spec.name,
                meta.width,
                meta.height
            );
        }
        // Stopping early and showing progress are not settings of the run.
        let now = meta.config.as_ref().map(|was| TrainConfig {
            stop_after: was.stop_after,
            progress: was.progress,
            ..cfg.clone()
        });
        let settings = meta.config.as_ref().zip(now.as_ref());
        let done = meta.epochs;
        epochs::report_resume(settings, &meta.data, data, done, self.opt.steps());
        let cpu_before = checkpoint::read_metrics(out)
            .ok()
            .and_then(|rows| rows.iter().rev().find(|m| m.epoch <= done).map(|m| m.cpu_seconds))
            .filter(|c| c.is_finite())
            .unwrap_or(0.0);
        Ok((done, cpu_before))
    }

    /// Start from the weights of the checkpoint `init`: all of them when it holds this
    /// network, else the backbone they share (the rest start fresh).
    pub(super) fn init_from(&mut self, init: &Path, cfg: &TrainConfig) -> Result<()> {
        let meta = checkpoint::read_meta(init)?;
        let spec = &self.spec;
        if meta.spec == *spec {
            checkpoint::init_from(init, &mut self.vs)?;
            log::info!("starting from the weights of {} ({} epochs)", init.display(), meta.epochs);
        } else if spec.backbone_in(&meta.spec).is_some() {
            let (meta, fresh) = checkpoint::init_from_related(init, &mut self.vs, spec)?;
            // `backbone.7.branch0.1.conv.weight` → `backbone.7`: the layers, not each tensor.
            let layers: std::collections::BTreeSet<String> =
                fresh.iter().map(|n| n.split('.').take(2).collect::<Vec<_>>().join(".")).collect();
            log::info!(
                "starting from the weights of {} ({}, {} epochs); {} of this {}'s {} tensors start fresh ({})",
                init.display(),
                meta.spec.name,
                meta.epochs,
                fresh.len(),
                spec.name,
                self.vs.variables().len(),
                layers.into_iter().collect::<Vec<_>>().join(", ")
            );
        } else {
            let fix = crate::recipe::mismatch_fix(meta.config.as_ref(), cfg);
            bail!("{}: `init` holds {}, not this run's {}{fix}", init.display(), meta.spec.name, spec.name);
        }
        Ok(())
    }

    /// One optimiser step on `b` at learning rate `lr`; returns the loss and its class
    /// and box parts.
    pub(super) fn learn(
        &mut self,
        b: &crate::loader::Batch,
        cfg: &TrainConfig,
        variances: [f32; 2],
        lr: f64,
    ) -> (f64, f64, f64) {
        let (conf, loc) = self.net.forward_t(&b.images, true);
        let loss = multibox_loss(&conf, &loc, &b.labels, &b.loc_t, cfg.neg_ratio);
        let mut total_loss = &loss.class + &loss.boxes;
        if cfg.iou_loss > 0.0 {
            total_loss += diou_loss(&loc, &b.loc_t, &b.labels, variances) * cfg.iou_loss;
        }
        self.opt.backward_step(&total_loss, lr);
        (total_loss.double_value(&[]), loss.class.double_value(&[]), loss.boxes.double_value(&[]))
    }
}
