//! Cross-layer equalization, an exact fp32 rewrite done before calibration.
//!
//! Folding BatchNorm leaves some channels with tiny activations feeding huge weights
//! (a nearly dead channel after the first conv, amplified 50x by the depthwise conv
//! after it). One per-tensor activation scale then rounds those channels away. Since
//! `relu(x / s) = relu(x) / s` for `s > 0`, dividing channel `i` of a conv's output
//! (weights and bias) by `s_i` and multiplying the next convs' input channel `i` by
//! `s_i` computes the same function. With `s_i = sqrt(a_i / r_i)`, where `a_i` is the
//! channel's calibrated activation maximum and `r_i` the largest consumer weight it
//! meets, both become `sqrt(a_i * r_i)`: activation channels get comparable ranges.
//! (The balancing idea is that of Nagel et al., "Data-Free Quantization", 2019; the
//! activation statistics stand in for their weight-only bound so biases are covered.)

use super::qdq::float_values;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use tract_onnx::pb::{GraphProto, NodeProto, TensorProto};

/// Scale factors are kept within `[1 / MAX_SCALE, MAX_SCALE]`.
const MAX_SCALE: f32 = 1024.0;
/// Sweeps over all pairs: each conv is a consumer in one pair and a producer in the next.
const SWEEPS: usize = 4;

/// A conv whose output (through an optional Relu) `act` feeds only convs.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// The producing Conv node.
    pub producer: usize,
    /// The activation tensor between them (the Relu output, or the conv output).
    pub act: String,
    /// The consuming Conv nodes, each reading `act` as its input.
    pub consumers: Vec<usize>,
}

fn group(n: &NodeProto) -> i64 {
    n.attribute.iter().find(|a| a.name == "group").map_or(1, |a| a.i)
}

/// The pairs of `graph` that can be equalized.
pub fn pairs(graph: &GraphProto) -> Vec<Pair> {
    let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in graph.node.iter().enumerate() {
        for x in &n.input {
            consumers.entry(x.as_str()).or_default().push(i);
        }
    }
    let outputs: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    let users = |t: &str| consumers.get(t).cloned().unwrap_or_default();
    let mut pairs = Vec::new();
    for (i, n) in graph.node.iter().enumerate().filter(|(_, n)| n.op_type == "Conv" && n.output.len() == 1) {
        let mut act = n.output[0].as_str();
        let direct = users(act);
        if let [r] = direct[..] {
            if graph.node[r].op_type == "Relu" && graph.node[r].output.len() == 1 {
                act = graph.node[r].output[0].as_str();
            }
        }
        let next = users(act);
        let ok = !next.is_empty()
            && !outputs.contains(&act)
            && next.iter().all(|&c| {
                let m = &graph.node[c];
                m.op_type == "Conv" && m.input[0] == act && !m.input[1..].iter().any(|x| x == act)
            });
        if ok {
            pairs.push(Pair { producer: i, act: act.to_string(), consumers: next });
        }
    }
    pairs
}

/// The fp32 initializers of a graph, editable by name.
struct Weights<'a> {
    inits: HashMap<String, &'a mut TensorProto>,
}

impl Weights<'_> {
    fn get(&self, name: &str) -> Result<(Vec<f32>, Vec<i64>)> {
        let t = self.inits.get(name).with_context(|| format!("`{name}` is not an initializer"))?;
        Ok((float_values(t)?, t.dims.clone()))
    }

    fn set(&mut self, name: &str, values: &[f32]) {
        let t = self.inits.get_mut(name).expect("read before");
        t.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        t.float_data.clear();
    }
}

/// Largest `|w|` meeting each input channel of a consumer conv with weight `dims`.
fn input_channel_range(w: &[f32], dims: &[i64], groups: i64, channels: usize) -> Result<Vec<f32>> {
    let (out, inp) = (dims[0] as usize, dims.get(1).copied().unwrap_or(1) as usize);
    let per = w.len() / (out * inp).max(1);
    let mut r = vec![0f32; channels];
    if groups == 1 && inp == channels {
        for (k, v) in w.iter().enumerate() {
            let c = (k / per) % inp;
            r[c] = r[c].max(v.abs());
        }
    } else if groups as usize == channels && out == channels && inp == 1 {
        for (k, v) in w.iter().enumerate() {
            r[k / per] = r[k / per].max(v.abs());
        }
    } else {
        bail!("grouped convolution with {groups} groups is not equalized");
    }
    Ok(r)
}

/// Equalize `graph` in place, given each pair's per-channel activation maxima (the
/// calibrated `max` of every channel of `act`). Pairs that cannot be handled are skipped.
/// Returns how many pairs were equalized.
pub fn equalize(graph: &mut GraphProto, pairs: &[Pair], act_max: &HashMap<String, Vec<f32>>) -> Result<usize> {
    let nodes = graph.node.clone();
    let mut w = Weights { inits: graph.initializer.iter_mut().map(|t| (t.name.clone(), t)).collect() };
    // Current per-channel maxima: they shrink by each scale applied.
    let mut maxima: HashMap<&str, Vec<f32>> = HashMap::new();
    let mut done = 0;
    for sweep in 0..SWEEPS {
        for p in pairs {
            let Some(a) = maxima.get(p.act.as_str()).cloned().or_else(|| act_max.get(&p.act).cloned()) else {
                continue;
            };
            let channels = a.len();
            let producer = &nodes[p.producer];
            let (mut w1, d1) = w.get(&producer.input[1])?;
            if d1.first() != Some(&(channels as i64)) {
                continue;
            }
            let mut r = vec![0f32; channels];
            let mut consumer_w = Vec::new();
            let mut fits = true;
            for &c in &p.consumers {
                let (wc, dc) = w.get(&nodes[c].input[1])?;
                match input_channel_range(&wc, &dc, group(&nodes[c]), channels) {
                    Ok(rc) => r.iter_mut().zip(rc).for_each(|(x, y)| *x = x.max(y)),
                    Err(_) => fits = false,
                }
                consumer_w.push((c, wc, dc));
            }
            if !fits {
                continue;
            }
            let s: Vec<f32> = a
                .iter()
                .zip(&r)
                .map(|(&a, &r)| {
                    if a > 0.0 && r > 0.0 && (a / r).is_finite() {
                        (a / r).sqrt().clamp(1.0 / MAX_SCALE, MAX_SCALE)
                    } else {
                        1.0
                    }
                })
                .collect();
            let per = w1.len() / channels;
            w1.iter_mut().enumerate().for_each(|(k, v)| *v /= s[k / per]);
            w.set(&producer.input[1], &w1);
            if let Some(b) = producer.input.get(2).filter(|b| !b.is_empty()) {
                let (mut bv, _) = w.get(b)?;
                if bv.len() != channels {
                    bail!("bias `{b}` has {} values for {channels} channels", bv.len());
                }
                bv.iter_mut().zip(&s).for_each(|(v, s)| *v /= s);
                w.set(b, &bv);
            }
            for (c, mut wc, dc) in consumer_w {
                let inp = dc.get(1).copied().unwrap_or(1) as usize;
                let per = wc.len() / (dc[0] as usize * inp).max(1);
                let depthwise = inp == 1 && channels > 1;
                wc.iter_mut().enumerate().for_each(|(k, v)| {
                    let ch = if depthwise { k / per } else { (k / per) % inp };
                    *v *= s[ch];
                });
                w.set(&nodes[c].input[1], &wc);
            }
            maxima.insert(p.act.as_str(), a.iter().zip(&s).map(|(a, s)| a / s).collect());
            if sweep == 0 {
                done += 1;
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_channel_ranges_of_regular_and_depthwise_convs() {
        // 2 outputs x 3 inputs x 1x1.
        let w = [1.0, -2.0, 0.5, -3.0, 1.0, 0.25];
        assert_eq!(input_channel_range(&w, &[2, 3, 1, 1], 1, 3).unwrap(), vec![3.0, 2.0, 0.5]);
        // Depthwise, 3 channels x 1 x 1x2.
        let w = [1.0, -2.0, 0.5, 0.0, -3.0, 1.0];
        assert_eq!(input_channel_range(&w, &[3, 1, 1, 2], 3, 3).unwrap(), vec![2.0, 0.5, 3.0]);
        assert!(input_channel_range(&w, &[3, 1, 1, 2], 2, 3).is_err());
    }
}
