//! The network: a declarative [`NetSpec`] (what layers, in what order) and its tch
//! realisation [`Net`]. The ONNX exporter walks the same spec, so the trained graph and
//! the exported graph cannot drift apart.
//!
//! The slim variant follows the layout of ULFGFD's `version-slim` (Linzaer, 2019): a
//! stride-2 conv stem, depthwise-separable blocks with BatchNorm+ReLU, and detection
//! heads on strides 8/16/32/64.

use tch::{nn, nn::ModuleT, Tensor};

/// One convolution, optionally followed by BatchNorm and ReLU. Padding is `k / 2`;
/// the convolution has a bias exactly when there is no BatchNorm.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConvSpec {
    pub cin: i64,
    pub cout: i64,
    pub k: i64,
    pub stride: i64,
    pub groups: i64,
    pub bn: bool,
    pub relu: bool,
}

impl ConvSpec {
    fn new(cin: i64, cout: i64, k: i64, stride: i64, groups: i64, bn: bool, relu: bool) -> Self {
        Self { cin, cout, k, stride, groups, bn, relu }
    }
}

/// A detection head on one feature level: class logits and box offsets per prior.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeadSpec {
    /// Index of the backbone layer whose output this head reads.
    pub tap: usize,
    pub anchors: i64,
    pub cls: Vec<ConvSpec>,
    pub reg: Vec<ConvSpec>,
}

/// The whole network as data.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NetSpec {
    /// Human-readable name, e.g. `slim-1.00`.
    pub name: String,
    pub classes: i64,
    pub backbone: Vec<ConvSpec>,
    pub heads: Vec<HeadSpec>,
}

impl NetSpec {
    /// The slim network at `width` times the seed channel count (16 at the stem),
    /// with `anchors[i]` priors per cell on level `i` (strides 8, 16, 32, 64).
    pub fn slim(width: f64, anchors: &[usize], classes: i64) -> Self {
        assert_eq!(anchors.len(), 4, "the slim network has four detection levels");
        let c = |m: i64| (((16 * m) as f64 * width).round() as i64).max(4);
        let cbr = |cin, cout, s| ConvSpec::new(cin, cout, 3, s, 1, true, true);
        let dw = |cin, cout, s| {
            [ConvSpec::new(cin, cin, 3, s, cin, true, true), ConvSpec::new(cin, cout, 1, 1, 1, true, true)]
        };
        let mut backbone = vec![cbr(3, c(1), 2)];
        let blocks: [(i64, i64, i64); 13] = [
            (c(1), c(2), 1),
            (c(2), c(2), 2),
            (c(2), c(2), 1),
            (c(2), c(4), 2),
            (c(4), c(4), 1),
            (c(4), c(4), 1),
            (c(4), c(4), 1), // stride 8
            (c(4), c(8), 2),
            (c(8), c(8), 1),
            (c(8), c(8), 1), // stride 16
            (c(8), c(16), 2),
            (c(16), c(16), 1), // stride 32
            (0, 0, 0),
        ];
        let mut taps = Vec::new();
        for (i, &(cin, cout, s)) in blocks.iter().enumerate() {
            if cin == 0 {
                break;
            }
            backbone.extend(dw(cin, cout, s));
            if i == 6 || i == 9 || i == 11 {
                taps.push((backbone.len() - 1, cout));
            }
        }
        // Extra level at stride 64: squeeze, strided depthwise, expand.
        backbone.push(ConvSpec::new(c(16), c(4), 1, 1, 1, true, true));
        backbone.extend(dw(c(4), c(16), 2));
        taps.push((backbone.len() - 1, c(16)));

        let heads = taps
            .iter()
            .zip(anchors)
            .enumerate()
            .map(|(level, (&(tap, ch), &a))| {
                let a = a as i64;
                let head = |out: i64| {
                    if level < 3 {
                        vec![
                            ConvSpec::new(ch, ch, 3, 1, ch, false, true),
                            ConvSpec::new(ch, a * out, 1, 1, 1, false, false),
                        ]
                    } else {
                        vec![ConvSpec::new(ch, a * out, 3, 1, 1, false, false)]
                    }
                };
                HeadSpec { tap, anchors: a, cls: head(classes), reg: head(4) }
            })
            .collect();
        Self { name: format!("slim-{width:.2}"), classes, backbone, heads }
    }

    /// Trainable parameter count.
    pub fn parameters(&self) -> i64 {
        let all = self.backbone.iter().chain(self.heads.iter().flat_map(|h| h.cls.iter().chain(&h.reg)));
        all.map(|c| c.cout * c.cin / c.groups * c.k * c.k + if c.bn { 2 * c.cout } else { c.cout }).sum()
    }
}

/// Variable-store path of a backbone layer and of a head layer (the exporter reads them).
pub fn backbone_path(i: usize) -> String {
    format!("backbone.{i}")
}
/// Variable-store path of layer `j` of head `level`'s `branch` (`cls` or `reg`).
pub fn head_path(level: usize, branch: &str, j: usize) -> String {
    format!("heads.{level}.{branch}.{j}")
}

/// The variable-store sub-path for a dotted name (tch forbids dots within one component).
fn sub_path<'a>(root: &nn::Path<'a>, dotted: &str) -> nn::Path<'a> {
    let mut parts = dotted.split('.');
    let first = root.sub(parts.next().unwrap_or_default());
    parts.fold(first, |p, part| p.sub(part))
}

struct Layer {
    conv: nn::Conv2D,
    bn: Option<nn::BatchNorm>,
    relu: bool,
}

impl Layer {
    fn new(p: nn::Path, s: &ConvSpec) -> Self {
        let cfg =
            nn::ConvConfig { stride: s.stride, padding: s.k / 2, groups: s.groups, bias: !s.bn, ..Default::default() };
        let conv = nn::conv2d(&p / "conv", s.cin, s.cout, s.k, cfg);
        let bn = s.bn.then(|| nn::batch_norm2d(&p / "bn", s.cout, Default::default()));
        Self { conv, bn, relu: s.relu }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let mut y = x.apply(&self.conv);
        if let Some(bn) = &self.bn {
            y = bn.forward_t(&y, train);
        }
        if self.relu {
            y.relu()
        } else {
            y
        }
    }
}

/// The network in tch, built from a [`NetSpec`] under a variable-store path.
pub struct Net {
    spec: NetSpec,
    backbone: Vec<Layer>,
    heads: Vec<(Vec<Layer>, Vec<Layer>)>,
}

impl Net {
    /// Create the layers (fresh weights) under `root`.
    pub fn new(root: &nn::Path, spec: NetSpec) -> Self {
        let backbone =
            spec.backbone.iter().enumerate().map(|(i, s)| Layer::new(sub_path(root, &backbone_path(i)), s)).collect();
        let heads = spec
            .heads
            .iter()
            .enumerate()
            .map(|(l, h)| {
                let branch = |name: &str, layers: &[ConvSpec]| {
                    layers
                        .iter()
                        .enumerate()
                        .map(|(j, s)| Layer::new(sub_path(root, &head_path(l, name, j)), s))
                        .collect()
                };
                (branch("cls", &h.cls), branch("reg", &h.reg))
            })
            .collect();
        Self { spec, backbone, heads }
    }

    /// The spec this network was built from.
    pub fn spec(&self) -> &NetSpec {
        &self.spec
    }

    /// `[N, 3, H, W]` normalised images to `([N, P, classes]` logits, `[N, P, 4]` offsets).
    pub fn forward_t(&self, x: &Tensor, train: bool) -> (Tensor, Tensor) {
        let mut feats = Vec::with_capacity(self.backbone.len());
        let mut y = x.shallow_clone();
        for layer in &self.backbone {
            y = layer.forward(&y, train);
            feats.push(y.shallow_clone());
        }
        let n = x.size()[0];
        let (mut cls, mut reg) = (Vec::new(), Vec::new());
        for (h, (cls_layers, reg_layers)) in self.spec.heads.iter().zip(&self.heads) {
            let f = &feats[h.tap];
            let run = |layers: &[Layer], k: i64| {
                let out = layers.iter().fold(f.shallow_clone(), |t, l| l.forward(&t, train));
                out.permute([0, 2, 3, 1]).reshape([n, -1, k])
            };
            cls.push(run(cls_layers, self.spec.classes));
            reg.push(run(reg_layers, 4));
        }
        (Tensor::cat(&cls, 1), Tensor::cat(&reg, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slim_matches_the_seed_prior_layout() {
        let spec = NetSpec::slim(1.0, &[3, 2, 2, 3], 2);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = Net::new(&vs.root(), spec.clone());
        let x = Tensor::zeros([2, 3, 240, 320], (tch::Kind::Float, tch::Device::Cpu));
        let (cls, reg) = net.forward_t(&x, false);
        assert_eq!(cls.size(), vec![2, 4420, 2]);
        assert_eq!(reg.size(), vec![2, 4420, 4]);
        // The spec's count agrees with what tch allocated.
        let allocated: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        assert_eq!(allocated, spec.parameters());
    }
}
