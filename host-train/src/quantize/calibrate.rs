//! Activation ranges: run the fp32 model in tract on calibration images with the
//! tensors of interest added as graph outputs, and record each one's range, either the
//! plain min/max or a percentile of its value histogram (which ignores rare outliers).

use crate::progress;
use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use std::collections::HashMap;
use tract_onnx::pb::{ModelProto, ValueInfoProto};
use tract_onnx::prelude::*;

/// Histogram resolution of the percentile method, over each tensor's min..max.
const BINS: usize = 4096;

/// How an activation's range is chosen from what calibration saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// The smallest and largest values seen.
    MinMax,
    /// The values at this percentile (e.g. 99.999) from either end of the histogram of all
    /// values seen, so that the rarest extremes saturate instead of stretching the scale.
    Percentile(f64),
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Method::MinMax => write!(f, "minmax"),
            Method::Percentile(p) => write!(f, "percentile {p}"),
        }
    }
}

/// Calibration images: `count` normalised NCHW inputs, produced on demand (each is
/// requested once per pass, so none has to stay in memory).
pub trait Inputs {
    /// How many images there are.
    fn count(&self) -> usize;
    /// Write image `i`, normalised as the detector does, into `out`.
    fn fill(&mut self, i: usize, out: &mut [f32]) -> Result<()>;
}

/// Tract plan computing `tensors` (extra outputs after the model's own) at `size`.
fn probe_plan(proto: &ModelProto, tensors: &[String], size: (u32, u32)) -> Result<TypedSimpleState> {
    let mut proto = proto.clone();
    let graph = proto.graph.as_mut().context("the model has no graph")?;
    for t in tensors {
        let known = graph.input.iter().any(|i| &i.name == t) || graph.node.iter().any(|n| n.output.contains(t));
        if !known {
            bail!("tensor `{t}` is produced by no node");
        }
        graph.output.push(ValueInfoProto { name: t.clone(), ..Default::default() });
    }
    let (w, h) = (size.0 as usize, size.1 as usize);
    tract_onnx::onnx()
        .model_for_proto_model(&proto)?
        .with_input_fact(0, f32::fact([1, 3, h, w]).into())?
        .into_optimized()?
        .into_runnable()?
        .spawn()
}

/// Run every image through `plan`, handing the extra outputs (in order) to `visit`.
fn each_image(
    plan: &mut TypedSimpleState,
    inputs: &mut dyn Inputs,
    size: (u32, u32),
    skip: usize,
    bar: ProgressBar,
    mut visit: impl FnMut(usize, &[usize], &[f32]),
) -> Result<()> {
    let (w, h) = (size.0 as usize, size.1 as usize);
    let mut buf = vec![0f32; 3 * w * h];
    for i in 0..inputs.count() {
        inputs.fill(i, &mut buf)?;
        let x = Tensor::from_shape(&[1, 3, h, w], &buf)?;
        let outs = plan.run(tvec!(x.into())).with_context(|| format!("calibration image {i}: tract failed"))?;
        for (k, o) in outs.iter().skip(skip).enumerate() {
            visit(k, o.shape(), o.try_as_plain_ram()?.as_slice::<f32>()?);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(())
}

/// The range `(lo, hi)` of each tensor in `tensors` over the calibration images.
pub fn calibrate(
    proto: &ModelProto,
    tensors: &[String],
    size: (u32, u32),
    inputs: &mut dyn Inputs,
    method: Method,
    show_progress: bool,
) -> Result<HashMap<String, (f32, f32)>> {
    if inputs.count() == 0 {
        bail!("no calibration images");
    }
    if let Method::Percentile(p) = method {
        if !(p > 50.0 && p <= 100.0) {
            bail!("percentile {p} is not in (50, 100]");
        }
    }
    let mut plan = probe_plan(proto, tensors, size).context("tract cannot prepare the calibration model")?;
    let skip = proto.graph.as_ref().map_or(0, |g| g.output.len());
    let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); tensors.len()];
    let bar = progress::bar(show_progress, inputs.count(), "calibration images (min/max)");
    each_image(&mut plan, inputs, size, skip, bar, |k, _, xs| {
        let r = &mut ranges[k];
        for &v in xs.iter().filter(|v| v.is_finite()) {
            r.0 = r.0.min(v);
            r.1 = r.1.max(v);
        }
    })?;
    if let Method::Percentile(p) = method {
        let mut hists = vec![vec![0u64; BINS]; tensors.len()];
        let bar = progress::bar(show_progress, inputs.count(), "calibration images (histograms)");
        each_image(&mut plan, inputs, size, skip, bar, |k, _, xs| {
            let (lo, hi) = ranges[k];
            let width = (hi - lo).max(f32::MIN_POSITIVE);
            for &v in xs.iter().filter(|v| v.is_finite()) {
                let b = (((v - lo) / width) * BINS as f32) as usize;
                hists[k][b.min(BINS - 1)] += 1;
            }
        })?;
        for (r, h) in ranges.iter_mut().zip(&hists) {
            *r = percentile_range(h, *r, p);
        }
    }
    Ok(tensors.iter().cloned().zip(ranges).map(|(t, r)| if r.0 > r.1 { (t, (0.0, 0.0)) } else { (t, r) }).collect())
}

/// The largest value of each channel (axis 1) of each tensor in `tensors` over the
/// calibration images.
pub fn channel_max(
    proto: &ModelProto,
    tensors: &[String],
    size: (u32, u32),
    inputs: &mut dyn Inputs,
    show_progress: bool,
) -> Result<HashMap<String, Vec<f32>>> {
    let mut plan = probe_plan(proto, tensors, size).context("tract cannot prepare the calibration model")?;
    let skip = proto.graph.as_ref().map_or(0, |g| g.output.len());
    let mut maxima: Vec<Vec<f32>> = vec![Vec::new(); tensors.len()];
    let bar = progress::bar(show_progress, inputs.count(), "calibration images (channel ranges)");
    each_image(&mut plan, inputs, size, skip, bar, |k, shape, xs| {
        let channels = shape.get(1).copied().unwrap_or(1).max(1);
        let m = &mut maxima[k];
        m.resize(channels, 0.0);
        let per = xs.len() / (shape.first().copied().unwrap_or(1).max(1) * channels).max(1);
        for (i, chunk) in xs.chunks(per.max(1)).enumerate() {
            let c = i % channels;
            m[c] = chunk.iter().filter(|v| v.is_finite()).fold(m[c], |a, &v| a.max(v.abs()));
        }
    })?;
    Ok(tensors.iter().cloned().zip(maxima).collect())
}

/// The `(lo, hi)` that leave `(100 - p)` percent of the histogram's values beyond each
/// end, the histogram spanning `range` in equal bins.
pub fn percentile_range(hist: &[u64], range: (f32, f32), p: f64) -> (f32, f32) {
    let total: u64 = hist.iter().sum();
    if total == 0 || hist.is_empty() || range.1.is_nan() || range.0.is_nan() || range.1 <= range.0 {
        return range;
    }
    let tail = ((1.0 - p / 100.0) * total as f64).floor() as u64;
    let width = (range.1 - range.0) / hist.len() as f32;
    // Walk in from each end while the values passed stay within the tail.
    let edge = |bins: &mut dyn Iterator<Item = (usize, &u64)>| {
        let mut seen = 0;
        for (i, c) in bins {
            seen += c;
            if seen > tail {
                return i;
            }
        }
        0
    };
    let hi_bin = edge(&mut hist.iter().enumerate().rev());
    let lo_bin = edge(&mut hist.iter().enumerate());
    let hi = (range.0 + (hi_bin + 1) as f32 * width).min(range.1);
    let lo = (range.0 + lo_bin as f32 * width).max(range.0);
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_clips_rare_extremes() {
        // 10 000 values in bins 0..10 of 100, one outlier in the last bin.
        let mut h = vec![0u64; 100];
        h[..10].fill(1000);
        h[99] = 1;
        let (lo, hi) = percentile_range(&h, (0.0, 100.0), 99.99);
        assert_eq!(lo, 0.0);
        assert!((hi - 10.0).abs() < 1e-4, "{hi}");
        assert_eq!(percentile_range(&h, (0.0, 100.0), 100.0), (0.0, 100.0));
        assert_eq!(percentile_range(&[0, 0], (1.0, 2.0), 99.0), (1.0, 2.0));
    }
}
