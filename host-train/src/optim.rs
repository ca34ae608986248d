//! Optimisers written over tch tensors, so their state (moments, step count) can be
//! saved in a checkpoint and a resumed run continues exactly where it stopped — tch's
//! built-in optimisers do not expose their state. The update rules are PyTorch's `Adam`
//! and `SGD` with momentum, both with L2 weight decay added to the gradient — of the
//! convolution weights only: decaying BatchNorm scales and biases pulls them toward zero
//! for no gain in generalisation, and under Adam it can switch whole channels off.

use crate::config::OptimizerKind;
use anyhow::{bail, Context, Result};
use std::path::Path;
use tch::{nn, Tensor};

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;
const MOMENTUM: f64 = 0.9;

/// The most optimiser steps a saved state may record: far beyond any run (a million
/// steps a second for eleven days), far below where counting on overflows.
pub const MAX_STEPS: i64 = 1_000_000_000_000;

/// An optimiser over a variable store's trainable variables.
pub struct Optimizer {
    kind: OptimizerKind,
    weight_decay: f64,
    /// Trainable variables, sorted by name so the state lines up across runs.
    params: Vec<(String, Tensor)>,
    /// First moment (Adam) or momentum buffer (SGD), per parameter.
    first: Vec<Tensor>,
    /// Second moment (Adam only).
    second: Vec<Tensor>,
    /// Updates done so far.
    steps: i64,
}

impl Optimizer {
    /// A fresh optimiser for `vs`.
    pub fn new(vs: &nn::VarStore, kind: OptimizerKind, weight_decay: f64) -> Self {
        let mut params: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let zeros = |p: &Vec<(String, Tensor)>| p.iter().map(|(_, t)| t.zeros_like()).collect::<Vec<_>>();
        let first = zeros(&params);
        let second = if kind == OptimizerKind::Adam { zeros(&params) } else { vec![] };
        Self { kind, weight_decay, params, first, second, steps: 0 }
    }

    /// Updates done so far.
    pub fn steps(&self) -> i64 {
        self.steps
    }

    /// Clear gradients, back-propagate `loss`, and apply one update at learning rate `lr`.
    pub fn backward_step(&mut self, loss: &Tensor, lr: f64) {
        for (_, p) in &self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        loss.backward();
        self.steps = self.steps.saturating_add(1);
        let t = self.steps as f64;
        tch::no_grad(|| {
            for (i, (_, p)) in self.params.iter().enumerate() {
                let grad = p.grad();
                if !grad.defined() {
                    continue;
                }
                let decays = self.weight_decay != 0.0 && p.dim() > 1;
                let g = if decays { &grad + p * self.weight_decay } else { grad };
                let mut p = p.shallow_clone();
                match self.kind {
                    OptimizerKind::Adam => {
                        let (m, v) = (&mut self.first[i], &mut self.second[i]);
                        m.copy_(&(&*m * BETA1 + &g * (1.0 - BETA1)));
                        v.copy_(&(&*v * BETA2 + &g * &g * (1.0 - BETA2)));
                        let m_hat = &*m / (1.0 - BETA1.powf(t));
                        let v_hat = &*v / (1.0 - BETA2.powf(t));
                        let _ = p.g_sub_(&(m_hat / (v_hat.sqrt() + EPS) * lr));
                    }
                    OptimizerKind::Sgd => {
                        let buf = &mut self.first[i];
                        if self.steps == 1 {
                            buf.copy_(&g);
                        } else {
                            buf.copy_(&(&*buf * MOMENTUM + &g));
                        }
                        let _ = p.g_sub_(&(&*buf * lr));
                    }
                }
            }
        });
    }

    /// The state (step count and moments) as named tensors, for the checkpoint to save
    /// and [`Optimizer::load`] to read back.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut named: Vec<(String, Tensor)> = vec![("steps".into(), Tensor::from(self.steps))];
        for (i, (name, _)) in self.params.iter().enumerate() {
            named.push((format!("first.{name}"), self.first[i].shallow_clone()));
            if let Some(v) = self.second.get(i) {
                named.push((format!("second.{name}"), v.shallow_clone()));
            }
        }
        named
    }

    /// Restore the [`state`](Optimizer::state) saved for the same network and kind.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        edge::input::check_file(path, "an optimiser state file")?;
        let named =
            Tensor::load_multi_with_device(path, self.params.first().map(|p| p.1.device()).unwrap_or(tch::Device::Cpu))
                .with_context(|| format!("{}: cannot read optimiser state", path.display()))?;
        let map: std::collections::HashMap<String, Tensor> = named.into_iter().collect();
        let get = |k: &str| {
            map.get(k).with_context(|| format!("{}: no `{k}` (another network or optimiser?)", path.display()))
        };
        let steps = get("steps")?.int64_value(&[]);
        if !(0..=MAX_STEPS).contains(&steps) {
            bail!("{}: `steps` = {steps}: must lie in 0..={MAX_STEPS}", path.display());
        }
        self.steps = steps;
        tch::no_grad(|| -> Result<()> {
            for (i, (name, _)) in self.params.iter().enumerate() {
                let m = get(&format!("first.{name}"))?;
                if m.size() != self.first[i].size() {
                    bail!("{}: `{name}` has another shape", path.display());
                }
                self.first[i].copy_(m);
                if let Some(v) = self.second.get_mut(i) {
                    v.copy_(get(&format!("second.{name}"))?);
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn quadratic(kind: OptimizerKind) -> f64 {
        let vs = nn::VarStore::new(Device::Cpu);
        let x = vs.root().var("x", &[3], nn::Init::Const(5.0));
        let mut opt = Optimizer::new(&vs, kind, 0.0);
        for _ in 0..300 {
            let loss = (&x * &x).sum(Kind::Float);
            opt.backward_step(&loss, 0.05);
        }
        x.abs().max().double_value(&[])
    }

    #[test]
    fn both_optimisers_minimise_a_quadratic() {
        assert!(quadratic(OptimizerKind::Adam) < 0.1);
        assert!(quadratic(OptimizerKind::Sgd) < 1e-3);
    }

    #[test]
    fn state_round_trips() {
        let vs = nn::VarStore::new(Device::Cpu);
        let x = vs.root().var("x", &[2], nn::Init::Const(1.0));
        let mut opt = Optimizer::new(&vs, OptimizerKind::Adam, 1e-4);
        opt.backward_step(&(&x * &x).sum(Kind::Float), 0.1);
        let path = std::env::temp_dir().join(format!("facecam-opt-{}.ot", std::process::id()));
        Tensor::save_multi(&opt.state(), &path).unwrap();
        let mut other = Optimizer::new(&vs, OptimizerKind::Adam, 1e-4);
        other.load(&path).unwrap();
        assert_eq!(other.steps(), 1);
        assert!(other.first[0].equal(&opt.first[0]) && other.second[0].equal(&opt.second[0]));
        std::fs::remove_file(&path).unwrap();
    }
}
