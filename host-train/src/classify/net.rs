//! The classifier network: a stride-2 stem and depthwise-separable blocks (the detector's
//! building blocks, MobileNet-style; Howard et al. 2017), global average pooling and
//! one linear layer. About 60 k parameters at width 1: a few hundred microseconds a
//! face in tract, so classifying stays a small part of a frame.

use crate::export::{add_conv, graph::tensor_info, graph::GraphBuilder, to_vec};
use crate::net::{sub_path, Compute, ConvSpec, Layer};
use anyhow::{Context, Result};
use edge::model::{ClassifierCard, CARD_KEY};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tch::{nn, Tensor};
use tract_onnx::pb::{ModelProto, OperatorSetIdProto, StringStringEntryProto};

/// The layers, as the trainer builds them and the exporter writes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierSpec {
    /// The convolutions, in order; global average pooling and a linear layer follow.
    pub convs: Vec<ConvSpec>,
    /// Output classes: the linear layer's width.
    pub classes: i64,
}

impl ClassifierSpec {
    /// The network at channel multiplier `width` for `classes` classes.
    pub fn new(width: f64, classes: i64) -> Self {
        let c = |n: f64| ((n * width).round() as i64).max(4);
        let mut convs = vec![ConvSpec::new(3, c(16.0), 3, 2, 1, true, true)];
        // (output channels, stride) of each depthwise-separable block: 64 px in, 4 px out.
        for (cout, stride) in [(32.0, 1), (64.0, 2), (64.0, 1), (128.0, 2), (128.0, 1), (160.0, 2)] {
            let cin = convs.last().map_or(3, |s| s.cout);
            convs.push(ConvSpec::new(cin, cin, 3, stride, cin, true, true));
            convs.push(ConvSpec::new(cin, c(cout), 1, 1, 1, true, true));
        }
        Self { convs, classes }
    }

    /// Channels into the linear layer.
    pub fn features(&self) -> i64 {
        self.convs.last().map_or(3, |s| s.cout)
    }
}

fn conv_path(i: usize) -> String {
    format!("features.{i}")
}

const FC: &str = "fc";

/// The network in tch.
pub struct ClassifierNet {
    spec: ClassifierSpec,
    layers: Vec<Layer>,
    fc: nn::Linear,
}

impl ClassifierNet {
    /// Fresh weights under `root`.
    pub fn new(root: &nn::Path, spec: ClassifierSpec) -> Self {
        let layers = spec.convs.iter().enumerate().map(|(i, s)| Layer::new(sub_path(root, &conv_path(i)), s)).collect();
        let fc = nn::linear(root / FC, spec.features(), spec.classes, Default::default());
        Self { spec, layers, fc }
    }

    /// The spec it was built from.
    pub fn spec(&self) -> &ClassifierSpec {
        &self.spec
    }

    /// Logits `[N, classes]` for a normalised `[N, 3, S, S]` batch; dropout while training.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let y = self.layers.iter().fold(x.shallow_clone(), |t, l| l.forward(&t, train, Compute::default()));
        let pooled = y.adaptive_avg_pool2d([1, 1]).flatten(1, -1);
        pooled.dropout(0.2, train).apply(&self.fc)
    }
}

/// The ONNX model of `spec` with the weights in `vars`, carrying `card`: the convolutions
/// with BatchNorm folded, then GlobalAveragePool, Flatten, Gemm and Softmax.
pub fn build_model(spec: &ClassifierSpec, vars: &HashMap<String, Tensor>, card: &ClassifierCard) -> Result<ModelProto> {
    let vars: HashMap<String, Tensor> = vars.iter().map(|(k, v)| (k.clone(), v.to_device(tch::Device::Cpu))).collect();
    let mut g = GraphBuilder::default();
    let mut x = card.input.name.clone();
    for (i, s) in spec.convs.iter().enumerate() {
        x = add_conv(&mut g, &vars, &x, &conv_path(i), s)?;
    }
    let pooled = g.global_pool(&x);
    let get =
        |n: &str| vars.get(&format!("{FC}.{n}")).with_context(|| format!("checkpoint has no variable `{FC}.{n}`"));
    let (w, b) = (get("weight")?, get("bias")?);
    let wn = g.float_const("fc.weight", &w.size(), &to_vec(w)?);
    let bn = g.float_const("fc.bias", &b.size(), &to_vec(b)?);
    let logits = g.linear(&pooled, wn, bn);
    g.softmax(&logits, 1, Some(&card.output));
    let side = card.input.width as i64;
    let graph = g.finish(
        "facecam-classifier",
        vec![tensor_info(&card.input.name, &[Err("N"), Ok(3), Ok(side), Ok(side)])],
        vec![tensor_info(&card.output, &[Err("N"), Ok(spec.classes)])],
    );
    Ok(ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: crate::export::OPSET }],
        producer_name: "facecam-train".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!("facecam face classifier: {}", card.classes.join(", ")),
        graph: Some(graph),
        metadata_props: vec![StringStringEntryProto { key: CARD_KEY.into(), value: card.to_json() }],
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge::model::Provenance;

    /// The exported graph, run by tract through `edge::classifier`, computes what the tch
    /// network computes in evaluation mode (BatchNorm folded, softmax in the graph).
    #[test]
    fn export_matches_tch() {
        let dir = std::env::temp_dir().join(format!("facecam-cls-export-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        tch::manual_seed(5);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = ClassifierNet::new(&vs.root(), ClassifierSpec::new(0.5, 3));
        // Non-trivial BatchNorm statistics, so folding them is tested.
        tch::no_grad(|| {
            for (name, mut t) in vs.variables() {
                if name.ends_with("running_mean") || name.ends_with("bn.bias") {
                    let _ = t.uniform_(-0.3, 0.3);
                } else if name.ends_with("running_var") {
                    let _ = t.uniform_(0.5, 2.0);
                }
            }
        });
        let card = ClassifierCard::new(32, 0.2, vec!["a".into(), "b".into(), "c".into()], Provenance::default());
        let path = dir.join("c.onnx");
        let proto = build_model(net.spec(), &vs.variables(), &card).unwrap();
        std::fs::write(&path, prost::Message::encode_to_vec(&proto)).unwrap();
        let mut classifier = edge::classifier::Classifier::load(&path).unwrap();
        let crop = image::RgbImage::from_fn(32, 32, |x, y| image::Rgb([(x * 8) as u8, (y * 8) as u8, 60]));
        let got = classifier.classify_crop(&crop).unwrap();
        let mut chw = vec![0f32; 3 * 32 * 32];
        edge::preprocess::normalize_into(&crop, &card.input, &mut chw);
        let x = Tensor::from_slice(&chw).view([1, 3, 32, 32]);
        let want: Vec<f32> =
            Vec::try_from(net.forward_t(&x, false).softmax(1, tch::Kind::Float).flatten(0, -1)).unwrap();
        let diff = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(diff < 1e-4, "tract {got:?} vs tch {want:?}");
        assert!((got.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
