//! The weight-only rewrite of a QDQ graph: weight DequantizeLinears folded into fp32
//! initializers, activation QuantizeLinear → DequantizeLinear pairs removed.

use super::{dequantize, is_qdq};
use anyhow::{bail, Context, Result};
use std::collections::{HashMap, HashSet};
use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, TensorProto};

/// The weight-only rewrite of a QDQ model: every `DequantizeLinear` of an int8 or uint8
/// initializer becomes an fp32 initializer `(q - zero_point) * scale` (per tensor, or per
/// channel along its `axis`), and every `QuantizeLinear` → `DequantizeLinear` pair on an
/// activation is removed, its consumers reading the pair's input. Errors name the node.
pub fn weight_only(model: &ModelProto) -> Result<ModelProto> {
    let mut out = model.clone();
    let graph = out.graph.as_mut().context("the model has no graph")?;
    fold_graph(graph)?;
    Ok(out)
}

/// A node as errors name it: by name, else (unnamed nodes are common) by its output.
fn describe(n: &NodeProto) -> String {
    match (n.name.is_empty(), n.output.first()) {
        (false, _) | (true, None) => format!("{} node `{}`", n.op_type, n.name),
        (true, Some(o)) => format!("{} node writing `{o}`", n.op_type),
    }
}

/// What folding removes and adds, decided before the graph is touched.
struct Fold {
    /// The Q/DQ nodes that go, by index.
    dropped: HashSet<usize>,
    /// The weights dequantized to fp32 initializers, under their DequantizeLinear's output.
    folded: Vec<TensorProto>,
    /// A removed pair's DequantizeLinear output → the QuantizeLinear input it stands for.
    bypass: HashMap<String, String>,
}

fn fold_graph(graph: &mut GraphProto) -> Result<()> {
    let fold = plan_fold(graph)?;
    apply_fold(graph, fold);
    Ok(())
}

/// Which Q/DQ nodes go and what replaces them; an error for a graph that cannot fold.
fn plan_fold(graph: &GraphProto) -> Result<Fold> {
    let inits: HashMap<&str, &TensorProto> = graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
    let producer: HashMap<&str, usize> =
        (graph.node.iter().enumerate()).flat_map(|(i, n)| n.output.iter().map(move |o| (o.as_str(), i))).collect();
    let mut dropped: HashSet<usize> = HashSet::new();
    let mut folded: Vec<TensorProto> = Vec::new();
    let mut bypass: HashMap<String, String> = HashMap::new();
    for (i, n) in graph.node.iter().enumerate().filter(|(_, n)| is_qdq(n)) {
        let what = describe(n);
        if n.output.len() != 1 || !(2..=3).contains(&n.input.len()) {
            bail!("{what}: expected 2 or 3 inputs and 1 output, has {} and {}", n.input.len(), n.output.len());
        }
        if n.op_type == "QuantizeLinear" {
            continue; // removed below when every reader is a removed DequantizeLinear
        }
        let x = n.input[0].as_str();
        if let Some(q) = inits.get(x) {
            let param = |k: usize| -> Result<Option<&TensorProto>> {
                match n.input.get(k).filter(|s| !s.is_empty()) {
                    None => Ok(None),
                    Some(name) => inits
                        .get(name.as_str())
                        .copied()
                        .map(Some)
                        .with_context(|| format!("{what}: input `{name}` is not an initializer")),
                }
            };
            let scale = param(1)?.with_context(|| format!("{what}: no scale"))?;
            folded.push(dequantize(q, scale, param(2)?, axis(n)?, &n.output[0]).with_context(|| what.clone())?);
        } else if let Some(&p) = producer.get(x).filter(|&&p| graph.node[p].op_type == "QuantizeLinear") {
            bypass.insert(n.output[0].clone(), graph.node[p].input[0].clone());
        } else {
            bail!("{what}: input `{x}` is neither an initializer nor a QuantizeLinear output");
        }
        dropped.insert(i);
    }
    // A QuantizeLinear goes only when nothing but removed DequantizeLinears reads it.
    let graph_outputs: HashSet<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    for (i, n) in graph.node.iter().enumerate().filter(|(_, n)| is_qdq(n) && n.op_type == "QuantizeLinear") {
        let out = n.output[0].as_str();
        if let Some((_, r)) =
            graph.node.iter().enumerate().find(|(j, r)| !dropped.contains(j) && r.input.iter().any(|x| x == out))
        {
            bail!("{}: its output `{out}` is read by {}, not only by DequantizeLinear", describe(n), describe(r));
        }
        if graph_outputs.contains(out) {
            bail!("{}: its output `{out}` is a graph output", describe(n));
        }
        dropped.insert(i);
    }
    Ok(Fold { dropped, folded, bypass })
}

/// Rewrite `graph` as `fold` decided: nodes removed, their readers rewired, weights folded.
fn apply_fold(graph: &mut GraphProto, fold: Fold) {
    let Fold { dropped, folded, bypass } = fold;
    // Q(DQ(Q(x))) chains: follow the bypass to the first tensor that is kept.
    let resolve = |t: &str| -> String {
        let mut t = t;
        for _ in 0..=bypass.len() {
            match bypass.get(t) {
                Some(next) => t = next.as_str(),
                None => break,
            }
        }
        t.to_string()
    };
    let removed_inputs: HashSet<String> =
        dropped.iter().flat_map(|&i| graph.node[i].input.iter().cloned()).filter(|x| !x.is_empty()).collect();
    let mut nodes: Vec<NodeProto> = Vec::with_capacity(graph.node.len());
    for (i, n) in graph.node.iter().enumerate() {
        if dropped.contains(&i) {
            continue;
        }
        let mut n = n.clone();
        n.input.iter_mut().filter(|x| bypass.contains_key(x.as_str())).for_each(|x| *x = resolve(x));
        nodes.push(n);
    }
    // A graph output that a removed pair produced is copied from the pair's input.
    for o in graph.output.iter().filter(|o| bypass.contains_key(&o.name)) {
        nodes.push(NodeProto {
            input: vec![resolve(&o.name)],
            output: vec![o.name.clone()],
            op_type: "Identity".into(),
            ..Default::default()
        });
    }
    // Keep every initializer a remaining node reads (and any the rewrite did not touch).
    let read: HashSet<&str> = nodes.iter().flat_map(|n| n.input.iter().map(String::as_str)).collect();
    let gone: HashSet<String> = removed_inputs.into_iter().filter(|x| !read.contains(x.as_str())).collect();
    graph.initializer.retain(|t| !gone.contains(&t.name));
    graph.initializer.extend(folded);
    graph.input.retain(|v| !gone.contains(&v.name));
    let produced: HashSet<&str> = nodes.iter().flat_map(|n| n.output.iter().map(String::as_str)).collect();
    let kept_inits: HashSet<String> = graph.initializer.iter().map(|t| t.name.clone()).collect();
    graph.value_info.retain(|v| produced.contains(v.name.as_str()) || kept_inits.contains(&v.name));
    graph.node = nodes;
}

/// The `axis` attribute of a Q/DQ node (ONNX's default: 1); blocked quantization refused.
fn axis(n: &NodeProto) -> Result<i64> {
    let attr = |name: &str| n.attribute.iter().find(|a| a.name == name);
    if attr("block_size").is_some_and(|a| a.i != 0) {
        bail!("{}: blocked quantization (block_size) is not supported", describe(n));
    }
    Ok(attr("axis").map_or(1, |a| a.i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::{attribute_proto::AttributeType, tensor_proto::DataType, AttributeProto, ValueInfoProto};

    fn node(op: &str, name: &str, inputs: &[&str], output: &str, axis: Option<i64>) -> NodeProto {
        NodeProto {
            name: name.into(),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            attribute: axis
                .map(|i| AttributeProto {
                    name: "axis".into(),
                    r#type: AttributeType::Int as i32,
                    i,
                    ..Default::default()
                })
                .into_iter()
                .collect(),
            ..Default::default()
        }
    }

    fn tensor(name: &str, dt: DataType, dims: &[i64], raw: Vec<u8>) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: dt as i32,
            raw_data: raw,
            ..Default::default()
        }
    }

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    fn read_f32(t: &TensorProto) -> Vec<f32> {
        assert_eq!(t.data_type, DataType::Float as i32, "{}", t.name);
        t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    }

    /// `x → Q → DQ → Conv(·, DQ(w_q), b) → Relu → Q → DQ → y`: what `facecam-train quantize`
    /// writes, in miniature (3 output channels, 2 input channels, 1x1 kernels).
    fn qdq_model() -> ModelProto {
        let value = |name: &str| ValueInfoProto { name: name.into(), ..Default::default() };
        let graph = GraphProto {
            node: vec![
                node("QuantizeLinear", "q_in", &["x", "x_scale", "x_zp"], "x_q", None),
                node("DequantizeLinear", "dq_in", &["x_q", "x_scale", "x_zp"], "x_dq", None),
                node("DequantizeLinear", "dq_w", &["w_q", "w_scale"], "w_dq", Some(0)),
                node("Conv", "conv", &["x_dq", "w_dq", "b"], "c", None),
                node("Relu", "relu", &["c"], "r", None),
                node("QuantizeLinear", "", &["r", "r_scale", "r_zp"], "r_q", None),
                node("DequantizeLinear", "", &["r_q", "r_scale", "r_zp"], "y", None),
            ],
            initializer: vec![
                tensor("x_scale", DataType::Float, &[], f32s(&[0.1])),
                tensor("x_zp", DataType::Uint8, &[], vec![128]),
                tensor("w_q", DataType::Int8, &[3, 2, 1, 1], [1i8, -2, 3, 4, -128, 127].map(|v| v as u8).to_vec()),
                tensor("w_scale", DataType::Float, &[3], f32s(&[0.5, 0.25, 2.0])),
                tensor("b", DataType::Float, &[3], f32s(&[0.0, 1.0, -1.0])),
                tensor("r_scale", DataType::Float, &[], f32s(&[0.05])),
                tensor("r_zp", DataType::Uint8, &[], vec![0]),
            ],
            input: vec![value("x")],
            output: vec![value("y")],
            value_info: vec![value("x_q"), value("c")],
            ..Default::default()
        };
        ModelProto { graph: Some(graph), ..Default::default() }
    }

    fn graph_of(m: &ModelProto) -> &GraphProto {
        m.graph.as_ref().unwrap()
    }

    fn init<'a>(g: &'a GraphProto, name: &str) -> Option<&'a TensorProto> {
        g.initializer.iter().find(|t| t.name == name)
    }

    #[test]
    fn folds_per_channel_weights_exactly_and_removes_activation_pairs() {
        let m = weight_only(&qdq_model()).unwrap();
        let g = graph_of(&m);
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Conv", "Relu", "Identity"]);
        assert_eq!(g.node[0].input, ["x", "w_dq", "b"]);
        // The graph output came out of a removed pair: copied from the pair's input.
        assert_eq!(
            (g.node[2].input.as_slice(), g.node[2].output.as_slice()),
            (&["r".to_string()][..], &["y".to_string()][..])
        );
        let w = init(g, "w_dq").expect("folded weights");
        assert_eq!(w.dims, [3, 2, 1, 1]);
        // Channel 0 × 0.5, channel 1 × 0.25, channel 2 × 2: exact in fp32.
        assert_eq!(read_f32(w), [0.5, -1.0, 0.75, 1.0, -256.0, 254.0]);
        // Only what a remaining node reads stays.
        let mut names: Vec<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["b", "w_dq"]);
        assert_eq!(g.value_info.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["c"]);
        assert!(!crate::int8::is_quantized(&m));
        assert!(crate::int8::is_quantized(&qdq_model()));
    }

    #[test]
    fn folds_along_any_axis_with_zero_points() {
        let q = tensor("q", DataType::Uint8, &[2, 3], vec![10, 20, 30, 0, 255, 31]);
        let s = tensor("s", DataType::Float, &[3], f32s(&[1.0, 0.5, 0.25]));
        let z = tensor("z", DataType::Uint8, &[3], vec![10, 20, 30]);
        let t = dequantize(&q, &s, Some(&z), 1, "w").unwrap();
        assert_eq!(read_f32(&t), [0.0, 0.0, 0.0, -10.0, 117.5, 0.25]);
        assert_eq!(read_f32(&dequantize(&q, &s, Some(&z), -1, "w").unwrap()), read_f32(&t));
        // Per tensor: one scale and zero point for all.
        let (s1, z1) = (tensor("s", DataType::Float, &[], f32s(&[2.0])), tensor("z", DataType::Uint8, &[], vec![1]));
        assert_eq!(read_f32(&dequantize(&q, &s1, Some(&z1), 1, "w").unwrap()), [18.0, 38.0, 58.0, -2.0, 508.0, 60.0]);
        // int8 stored the other ONNX way, as int32_data.
        let q32 = TensorProto {
            name: "q".into(),
            dims: vec![3],
            data_type: DataType::Int8 as i32,
            int32_data: vec![-3, 0, 7],
            ..Default::default()
        };
        assert_eq!(read_f32(&dequantize(&q32, &s, None, 0, "w").unwrap()), [-3.0, 0.0, 1.75]);
    }

    fn error_of(m: &ModelProto) -> String {
        format!("{:#}", weight_only(m).unwrap_err())
    }

    #[test]
    fn malformed_qdq_is_refused_naming_the_node() {
        let mut m = qdq_model();
        m.graph.as_mut().unwrap().initializer.retain(|t| t.name != "w_scale");
        let e = error_of(&m);
        assert!(e.contains("dq_w") && e.contains("w_scale") && e.contains("not an initializer"), "{e}");

        for (axis, why) in [(4, "out of range"), (1, "2 channels"), (-5, "out of range")] {
            let mut m = qdq_model();
            m.graph.as_mut().unwrap().node[2] =
                node("DequantizeLinear", "dq_w", &["w_q", "w_scale"], "w_dq", Some(axis));
            let e = error_of(&m);
            assert!(e.contains("dq_w") && e.contains(why), "axis {axis}: {e}");
        }

        let mut m = qdq_model();
        let w = m.graph.as_mut().unwrap().initializer.iter_mut().find(|t| t.name == "w_q").unwrap();
        w.data_type = DataType::Int32 as i32;
        let e = error_of(&m);
        assert!(e.contains("dq_w") && e.contains("data type INT32") && e.contains("INT8"), "{e}");

        let mut m = qdq_model();
        let w = m.graph.as_mut().unwrap().initializer.iter_mut().find(|t| t.name == "w_q").unwrap();
        w.raw_data.pop();
        let e = error_of(&m);
        assert!(e.contains("dq_w") && e.contains("w_q"), "{e}");

        let mut m = qdq_model();
        let s = m.graph.as_mut().unwrap().initializer.iter_mut().find(|t| t.name == "w_scale").unwrap();
        s.data_type = DataType::Float16 as i32;
        let e = error_of(&m);
        assert!(e.contains("dq_w") && e.contains("FLOAT16") && e.contains("float32"), "{e}");

        // A DequantizeLinear of something that is neither a weight nor a quantized activation.
        let mut m = qdq_model();
        m.graph.as_mut().unwrap().node[1] = node("DequantizeLinear", "dq_in", &["x", "x_scale", "x_zp"], "x_dq", None);
        let e = error_of(&m);
        assert!(e.contains("dq_in") && e.contains("neither"), "{e}");

        // A quantized activation read by another op than DequantizeLinear cannot lose its Q.
        let mut m = qdq_model();
        m.graph.as_mut().unwrap().node.push(node("Identity", "peek", &["x_q"], "peeked", None));
        let e = error_of(&m);
        assert!(e.contains("q_in") && e.contains("peek"), "{e}");

        // An unnamed node is named by its output.
        let mut m = qdq_model();
        m.graph.as_mut().unwrap().node[6] = node("DequantizeLinear", "", &["r", "r_scale", "r_zp"], "y", None);
        let e = error_of(&m);
        assert!(e.contains("DequantizeLinear node writing `y`"), "{e}");

        assert!(error_of(&ModelProto::default()).contains("no graph"));
    }
}
