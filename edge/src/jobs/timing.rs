//! Timing shared by `facecam race` (`race`) and `facecam race --network-only`
//! (`race_net`): latency statistics, and a network's time per operator kind.

use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tract_onnx::prelude::*;

/// Latency statistics of a set of runs, milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Median run time.
    pub median_ms: f64,
    /// 90th percentile run time.
    pub p90_ms: f64,
    /// Mean run time.
    pub mean_ms: f64,
    /// Fastest run time.
    pub min_ms: f64,
}

impl Latency {
    /// Statistics of `times`; all zero when there are none.
    pub fn of(times: &[Duration]) -> Self {
        if times.is_empty() {
            return Self { median_ms: 0.0, p90_ms: 0.0, mean_ms: 0.0, min_ms: 0.0 };
        }
        let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        Self {
            median_ms: quantile(&ms, 0.5),
            p90_ms: quantile(&ms, 0.9),
            mean_ms: ms.iter().sum::<f64>() / ms.len() as f64,
            min_ms: ms[0],
        }
    }
}

/// Linear-interpolated quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// One operator kind's share of the network's time.
#[derive(Debug, Clone, Serialize)]
pub struct OpTime {
    /// tract's name for the operator (after optimisation).
    pub op: String,
    /// Nodes of this kind in the optimised graph.
    pub nodes: usize,
    /// Mean milliseconds per run, all nodes of this kind together.
    pub ms: f64,
    /// Fraction of the profiled network time.
    pub share: f64,
}

/// A profile as text lines: operator kind, nodes, ms per run, share.
pub fn profile_table(ops: &[OpTime]) -> String {
    let mut s = "\noperator             nodes   ms/run  share".to_string();
    for o in ops {
        s += &format!("\n{:<20} {:>5} {:>8.3} {:>5.1}%", o.op, o.nodes, o.ms, o.share * 100.0);
    }
    s
}

/// Time every node of `plan` over `runs` runs on `input`, grouped by operator kind
/// (tract's name for it after optimisation), most expensive first.
pub fn profile_plan(plan: &std::sync::Arc<TypedRunnableModel>, input: &TValue, runs: usize) -> Result<Vec<OpTime>> {
    let mut state = plan.spawn()?;
    let mut per_node: BTreeMap<usize, (String, Duration)> = BTreeMap::new();
    state.run(tvec!(input.clone()))?; // warm-up
    for _ in 0..runs {
        state.run_plan_with_eval(tvec!(input.clone()), |ctx, op_state, node, inputs| {
            let t = Instant::now();
            let out = tract_onnx::tract_core::plan::eval(ctx, op_state, node, inputs);
            let entry = per_node.entry(node.id).or_insert_with(|| (node.op().name().to_string(), Duration::ZERO));
            entry.1 += t.elapsed();
            out
        })?;
    }
    let mut by_op: BTreeMap<String, (usize, Duration)> = BTreeMap::new();
    for (op, d) in per_node.into_values() {
        let e = by_op.entry(op).or_default();
        e.0 += 1;
        e.1 += d;
    }
    let total: f64 = by_op.values().map(|(_, d)| d.as_secs_f64()).sum::<f64>().max(f64::MIN_POSITIVE);
    let mut ops: Vec<OpTime> = by_op
        .into_iter()
        .map(|(op, (nodes, d))| OpTime {
            op,
            nodes,
            ms: d.as_secs_f64() * 1e3 / runs.max(1) as f64,
            share: d.as_secs_f64() / total,
        })
        .collect();
    ops.sort_by(|a, b| b.ms.total_cmp(&a.ms));
    Ok(ops)
}
