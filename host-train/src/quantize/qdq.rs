//! The graph rewrite: an fp32 ONNX graph into QDQ form. Conv weights become int8
//! initializers with per-output-channel scales behind a `DequantizeLinear` (axis 0);
//! activations get a `QuantizeLinear` → `DequantizeLinear` pair (uint8, per tensor).
//! Biases stay fp32, which QDQ allows.

use anyhow::{bail, Context, Result};
use std::collections::{HashMap, HashSet};
use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, AttributeProto, GraphProto, NodeProto, TensorProto,
};

/// One activation tensor's quantization: `x ≈ (q - zero_point) * scale`, `q` in `0..=255`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActParams {
    /// Step between adjacent quantized values.
    pub scale: f32,
    /// The `q` that stands for 0.
    pub zero_point: u8,
}

impl ActParams {
    /// Parameters for a calibrated range, widened to hold 0 so that 0 (padding, ReLU's
    /// floor) is exact. An empty or non-finite range gets scale 1.
    pub fn from_range(lo: f32, hi: f32) -> Self {
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        let span = hi - lo;
        if !(span > 0.0 && span.is_finite()) {
            return Self { scale: 1.0, zero_point: 0 };
        }
        let scale = span / 255.0;
        Self { scale, zero_point: (-lo / scale).round().clamp(0.0, 255.0) as u8 }
    }
}

/// Symmetric per-channel int8 weights: for each of `channels` equal slices of `w`,
/// `scale = max|w| / 127` (1 for an all-zero channel) and `q = round(w / scale)`.
pub fn quantize_weights(w: &[f32], channels: usize) -> Result<(Vec<i8>, Vec<f32>)> {
    if channels == 0 || !w.len().is_multiple_of(channels) {
        bail!("{} weights do not split into {channels} output channels", w.len());
    }
    let per = w.len() / channels;
    let mut q = Vec::with_capacity(w.len());
    let mut scales = Vec::with_capacity(channels);
    for chunk in w.chunks_exact(per) {
        let max = chunk.iter().fold(0f32, |m, v| m.max(v.abs()));
        if !max.is_finite() {
            bail!("weights are not finite");
        }
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        q.extend(chunk.iter().map(|v| (v / scale).round_ties_even().clamp(-127.0, 127.0) as i8));
        scales.push(scale);
    }
    Ok((q, scales))
}

/// What to quantize in a graph.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Indices of the Conv nodes whose weights and input become int8.
    pub convs: Vec<usize>,
    /// Conv weight initializers left fp32 (the kept first/last layers).
    pub fp32_layers: Vec<String>,
    /// Activation tensors that get a Q/DQ pair: quantized convs' inputs, and the outputs
    /// of quantized convs that feed no other conv (the head outputs).
    pub activations: Vec<String>,
}

/// The Conv nodes taking a graph input (`first`) and those from which no other Conv can
/// be reached (`last`: the head layers producing scores and boxes).
pub fn conv_ends(graph: &GraphProto) -> (HashSet<usize>, HashSet<usize>) {
    let inputs: HashSet<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
    let first = (graph.node.iter().enumerate())
        .filter(|(_, n)| n.op_type == "Conv" && n.input.first().is_some_and(|x| inputs.contains(x.as_str())))
        .map(|(i, _)| i)
        .collect();
    // Tensors from which a Conv is reachable, found walking the (topologically sorted) nodes backwards.
    let mut feeds_conv: HashSet<&str> = HashSet::new();
    let mut last = HashSet::new();
    for (i, n) in graph.node.iter().enumerate().rev() {
        let downstream = n.output.iter().any(|o| feeds_conv.contains(o.as_str()));
        if n.op_type == "Conv" && !downstream {
            last.insert(i);
        }
        if n.op_type == "Conv" || downstream {
            feeds_conv.extend(n.input.iter().map(String::as_str));
        }
    }
    (first, last)
}

/// Decide what to quantize, keeping the first and/or last convolutions in fp32.
pub fn plan(graph: &GraphProto, keep_first: bool, keep_last: bool) -> Result<Plan> {
    if let Some(n) = graph.node.iter().find(|n| n.op_type == "QuantizeLinear" || n.op_type == "DequantizeLinear") {
        bail!("the graph is already quantized (node `{}` is a {})", n.name, n.op_type);
    }
    let (first, last) = conv_ends(graph);
    let mut plan = Plan::default();
    let mut seen = HashSet::new();
    let mut add = |plan: &mut Plan, t: &str| {
        if seen.insert(t.to_string()) {
            plan.activations.push(t.to_string());
        }
    };
    for (i, n) in graph.node.iter().enumerate().filter(|(_, n)| n.op_type == "Conv") {
        if n.input.len() < 2 || n.input[0].is_empty() {
            bail!("Conv node `{}` has no input or weight", n.name);
        }
        if (keep_first && first.contains(&i)) || (keep_last && last.contains(&i)) {
            plan.fp32_layers.push(n.input[1].clone());
            continue;
        }
        plan.convs.push(i);
        add(&mut plan, &n.input[0]);
        if last.contains(&i) {
            add(&mut plan, &n.output[0]);
        }
    }
    if plan.convs.is_empty() {
        bail!("no convolution is left to quantize");
    }
    Ok(plan)
}

/// The values of an fp32 initializer (raw little-endian or `float_data`).
pub fn float_values(t: &TensorProto) -> Result<Vec<f32>> {
    if t.data_type != DataType::Float as i32 {
        bail!("initializer `{}` is not float32 (data type {})", t.name, t.data_type);
    }
    let values: Vec<f32> = if !t.raw_data.is_empty() {
        if !t.raw_data.len().is_multiple_of(4) {
            bail!("initializer `{}` has {} raw bytes, not whole floats", t.name, t.raw_data.len());
        }
        t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    } else {
        t.float_data.clone()
    };
    let expected: i64 = t.dims.iter().product();
    if expected < 0 || values.len() != expected as usize {
        bail!("initializer `{}` holds {} values, its shape {:?} needs {expected}", t.name, values.len(), t.dims);
    }
    Ok(values)
}

fn tensor(name: String, dt: DataType, dims: Vec<i64>, raw_data: Vec<u8>) -> TensorProto {
    TensorProto { name, dims, data_type: dt as i32, raw_data, ..Default::default() }
}

/// A Q or DQ node. Unnamed (tools then name it by its output), which keeps the file small.
fn node(op: &str, inputs: &[&str], output: &str, axis: Option<i64>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        op_type: op.into(),
        attribute: axis
            .map(|i| AttributeProto { name: "axis".into(), r#type: AttributeType::Int as i32, i, ..Default::default() })
            .into_iter()
            .collect(),
        ..Default::default()
    }
}

/// A Q/DQ pair on the activation `t` with parameters `p`: its scale and zero point go to
/// `added`, the two nodes to `nodes`. Returns the name of the dequantized activation.
fn activation_qdq(t: &str, p: &ActParams, nodes: &mut Vec<NodeProto>, added: &mut Vec<TensorProto>) -> String {
    // Short suffixes: names are a few percent of a small int8 file.
    let (s, z, q, dq) = (format!("{t}_s"), format!("{t}_z"), format!("{t}_q"), format!("{t}_d"));
    added.push(tensor(s.clone(), DataType::Float, vec![], p.scale.to_le_bytes().to_vec()));
    added.push(tensor(z.clone(), DataType::Uint8, vec![], vec![p.zero_point]));
    nodes.push(node("QuantizeLinear", &[t, &s, &z], &q, None));
    nodes.push(node("DequantizeLinear", &[&q, &s, &z], &dq, None));
    dq
}

/// Quantize the Conv weight `t` (the initializer `w`) per output channel: its int8
/// values and scales go to `added`, their DequantizeLinear to `nodes`. Returns the name
/// of the dequantized weight.
fn dequantized_weight(
    w: &str,
    t: &TensorProto,
    nodes: &mut Vec<NodeProto>,
    added: &mut Vec<TensorProto>,
) -> Result<String> {
    let values = float_values(t)?;
    let channels = *t.dims.first().with_context(|| format!("weight `{w}` has no dimensions"))?;
    let (q, scales) = quantize_weights(&values, channels as usize).with_context(|| format!("weight `{w}`"))?;
    // Symmetric: the zero point is 0, ONNX's default, so none is stored.
    // `backbone.3.weight` → `backbone.3_q`, `_s`, `_d`.
    let base = w.strip_suffix(".weight").unwrap_or(w);
    let (qn, sn, dq) = (format!("{base}_q"), format!("{base}_s"), format!("{base}_d"));
    added.push(tensor(qn.clone(), DataType::Int8, t.dims.clone(), q.iter().map(|v| *v as u8).collect()));
    let scale_bytes = scales.iter().flat_map(|s| s.to_le_bytes()).collect();
    added.push(tensor(sn.clone(), DataType::Float, vec![channels], scale_bytes));
    nodes.push(node("DequantizeLinear", &[&qn, &sn], &dq, Some(0)));
    Ok(dq)
}

/// Rewrite `graph` following `plan`, with each planned activation's parameters in `params`.
pub fn rewrite(graph: &GraphProto, plan: &Plan, params: &HashMap<String, ActParams>) -> Result<GraphProto> {
    let mut out = graph.clone();
    let mut inits: HashMap<String, TensorProto> = out.initializer.drain(..).map(|t| (t.name.clone(), t)).collect();
    let init_order: Vec<String> = graph.initializer.iter().map(|t| t.name.clone()).collect();
    let mut added: Vec<TensorProto> = Vec::new();
    let mut nodes = Vec::with_capacity(graph.node.len() * 2);
    let convs: HashSet<usize> = plan.convs.iter().copied().collect();
    let graph_outputs: HashSet<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    let planned: HashSet<&str> = plan.activations.iter().map(String::as_str).collect();
    // Activation Q/DQ pairs, emitted once each, right before their first quantized consumer.
    let mut act_done: HashMap<String, String> = HashMap::new();
    let mut weights_done: HashMap<String, String> = HashMap::new();
    // Conv outputs with a Q/DQ pair: every later consumer reads the dequantized tensor.
    let mut renamed: HashMap<String, String> = HashMap::new();
    let qdq = |t: &str, nodes: &mut Vec<NodeProto>, added: &mut Vec<TensorProto>| {
        let p = params.get(t).with_context(|| format!("no calibrated range for tensor `{t}`"))?;
        Ok::<_, anyhow::Error>(activation_qdq(t, p, nodes, added))
    };
    for (i, n) in graph.node.iter().enumerate() {
        let mut n = n.clone();
        for x in n.input.iter_mut() {
            if let Some(r) = renamed.get(x) {
                *x = r.clone();
            }
        }
        if convs.contains(&i) {
            let x = graph.node[i].input[0].clone();
            let dq = match act_done.get(&x) {
                Some(dq) => dq.clone(),
                None => {
                    let dq = qdq(&x, &mut nodes, &mut added)?;
                    act_done.insert(x.clone(), dq.clone());
                    dq
                }
            };
            n.input[0] = dq;
            let w = n.input[1].clone();
            if let Some(dq) = weights_done.get(&w) {
                n.input[1] = dq.clone();
            } else {
                let t =
                    inits.get(&w).with_context(|| format!("Conv `{}`: weight `{w}` is not an initializer", n.name))?;
                let dq = dequantized_weight(&w, t, &mut nodes, &mut added)?;
                weights_done.insert(w.clone(), dq.clone());
                n.input[1] = dq;
            }
        }
        let outputs = n.output.clone();
        nodes.push(n);
        for o in outputs {
            if convs.contains(&i)
                && planned.contains(o.as_str())
                && !act_done.contains_key(&o)
                && !graph_outputs.contains(o.as_str())
            {
                let dq = qdq(&o, &mut nodes, &mut added)?;
                act_done.insert(o.clone(), dq.clone());
                renamed.insert(o, dq);
            }
        }
    }
    // Keep the fp32 weights only where a node still reads them.
    let used: HashSet<&str> = nodes.iter().flat_map(|n| n.input.iter().map(String::as_str)).collect();
    out.initializer = init_order
        .iter()
        .filter(|name| used.contains(name.as_str()))
        .filter_map(|name| inits.remove(name))
        .chain(added)
        .collect();
    out.node = nodes;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_params_keep_zero_exact() {
        let p = ActParams::from_range(0.0, 6.0);
        assert_eq!(p.zero_point, 0);
        assert!((p.scale - 6.0 / 255.0).abs() < 1e-7);
        let p = ActParams::from_range(-1.0, 1.0);
        assert!(p.zero_point == 127 || p.zero_point == 128, "{p:?}");
        let (lo, hi) = (-(p.zero_point as f32) * p.scale, (255.0 - p.zero_point as f32) * p.scale);
        assert!(lo <= -1.0 + p.scale && hi >= 1.0 - p.scale, "{lo}..{hi}");
        let p = ActParams::from_range(0.5, 2.0); // widened to [0, 2]
        assert_eq!(p.zero_point, 0);
        assert_eq!(ActParams::from_range(0.0, 0.0), ActParams { scale: 1.0, zero_point: 0 });
        assert_eq!(ActParams::from_range(0.0, f32::NAN).scale, 1.0);
    }

    #[test]
    fn weights_are_symmetric_per_channel() {
        let w = [0.5, -1.0, 0.25, 0.0, 0.0, 0.0, 2.0, 1.0, -0.01];
        let (q, s) = quantize_weights(&w, 3).unwrap();
        assert_eq!(&q[..3], &[64, -127, 32]);
        assert_eq!(&q[3..6], &[0, 0, 0]);
        assert_eq!(s[1], 1.0);
        assert_eq!(q[6], 127);
        for (i, v) in w.iter().enumerate() {
            assert!((q[i] as f32 * s[i / 3] - v).abs() <= s[i / 3] / 2.0 + 1e-6);
        }
        assert!(quantize_weights(&w, 2).is_err());
        assert!(quantize_weights(&[f32::INFINITY], 1).is_err());
    }
}
