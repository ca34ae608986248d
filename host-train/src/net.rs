//! The network: a declarative [`NetSpec`] (what layers, in what order) and its tch
//! realisation [`Net`]. The ONNX exporter walks the same spec, so the trained graph and
//! the exported graph cannot drift apart.
//!
//! The slim variant follows the layout of ULFGFD's `version-slim` (Linzaer, 2019): a
//! stride-2 conv stem, depthwise-separable blocks with BatchNorm+ReLU, and detection
//! heads on strides 8/16/32/64. The RFB variant replaces the last stride-8 block with a
//! receptive-field block ([`RfbSpec`]; Liu et al., "Receptive Field Block Net", ECCV
//! 2018), as ULFGFD's `version-RFB` does, to see more context around small faces.

use tch::{nn, nn::ModuleT, Tensor};

/// One convolution, optionally followed by BatchNorm and ReLU. Padding is
/// `dilation * (k / 2)`, so the output keeps the input size at stride 1; the convolution
/// has a bias exactly when there is no BatchNorm.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConvSpec {
    pub cin: i64,
    pub cout: i64,
    pub k: i64,
    pub stride: i64,
    pub groups: i64,
    pub bn: bool,
    pub relu: bool,
    #[serde(default = "one")]
    pub dilation: i64,
}

fn one() -> i64 {
    1
}

impl ConvSpec {
    fn new(cin: i64, cout: i64, k: i64, stride: i64, groups: i64, bn: bool, relu: bool) -> Self {
        Self { cin, cout, k, stride, groups, bn, relu, dilation: 1 }
    }

    /// Zero padding on each side.
    pub fn padding(&self) -> i64 {
        self.dilation * (self.k / 2)
    }

    fn parameters(&self) -> i64 {
        self.cout * self.cin / self.groups * self.k * self.k + if self.bn { 2 * self.cout } else { self.cout }
    }
}

/// A receptive-field block: parallel branches of growing dilation over the same input,
/// concatenated, merged by a linear 1x1 conv scaled by `scale`, added to a linear 1x1
/// shortcut of the input, then ReLU:
/// `relu(scale * merge(concat(branches(x))) + shortcut(x))`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RfbSpec {
    pub branches: Vec<Vec<ConvSpec>>,
    pub merge: ConvSpec,
    pub shortcut: ConvSpec,
    pub scale: f64,
}

impl RfbSpec {
    /// A block from `cin` to `cout` channels at stride 1 with three branches reading
    /// `cin / 8`-channel bottlenecks, their last convs dilated 1, 2 and 3.
    pub fn new(cin: i64, cout: i64) -> Self {
        let inter = (cin / 8).max(2);
        let cbr = |a, b, k, d, relu| ConvSpec { dilation: d, ..ConvSpec::new(a, b, k, 1, 1, true, relu) };
        let mid = inter / 2 * 3;
        let branches = vec![
            vec![cbr(cin, 2 * inter, 1, 1, true), cbr(2 * inter, 2 * inter, 3, 1, false)],
            vec![
                cbr(cin, 2 * inter, 1, 1, true),
                cbr(2 * inter, 2 * inter, 3, 1, true),
                cbr(2 * inter, 2 * inter, 3, 2, false),
            ],
            vec![
                cbr(cin, inter, 1, 1, true),
                cbr(inter, mid, 3, 1, true),
                cbr(mid, 2 * inter, 3, 1, true),
                cbr(2 * inter, 2 * inter, 3, 3, false),
            ],
        ];
        let merged: i64 = branches.iter().map(|b| b.last().map_or(0, |c| c.cout)).sum();
        Self { branches, merge: cbr(merged, cout, 1, 1, false), shortcut: cbr(cin, cout, 1, 1, false), scale: 1.0 }
    }

    fn convs(&self) -> impl Iterator<Item = &ConvSpec> {
        self.branches.iter().flatten().chain([&self.merge, &self.shortcut])
    }
}

/// One step of the backbone.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Block {
    Conv(ConvSpec),
    Rfb(RfbSpec),
}

impl Block {
    /// Output channels.
    pub fn cout(&self) -> i64 {
        match self {
            Block::Conv(c) => c.cout,
            Block::Rfb(r) => r.merge.cout,
        }
    }

    fn parameters(&self) -> i64 {
        match self {
            Block::Conv(c) => c.parameters(),
            Block::Rfb(r) => r.convs().map(ConvSpec::parameters).sum(),
        }
    }
}

/// The network families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Depthwise-separable blocks throughout (ULFGFD `version-slim`'s layout).
    Slim,
    /// Slim with a receptive-field block at stride 8 (ULFGFD `version-RFB`'s layout).
    Rfb,
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
    pub backbone: Vec<Block>,
    pub heads: Vec<HeadSpec>,
}

impl NetSpec {
    /// The network of family `arch` at `width` times the seed channel count.
    pub fn new(arch: Arch, width: f64, anchors: &[usize], classes: i64) -> Self {
        match arch {
            Arch::Slim => Self::slim(width, anchors, classes),
            Arch::Rfb => Self::rfb(width, anchors, classes),
        }
    }

    /// The slim network with its last stride-8 block (the one the first head reads)
    /// replaced by a receptive-field block of the same width.
    pub fn rfb(width: f64, anchors: &[usize], classes: i64) -> Self {
        let mut spec = Self::slim(width, anchors, classes);
        let tap = spec.heads[0].tap;
        let ch = spec.backbone[tap].cout();
        // The depthwise + pointwise pair ending at the tap becomes one block.
        spec.backbone.splice(tap - 1..=tap, [Block::Rfb(RfbSpec::new(ch, ch))]);
        for h in &mut spec.heads {
            h.tap -= 1;
        }
        spec.name = format!("rfb-{width:.2}");
        spec
    }

    /// The slim network at `width` times the seed channel count (16 at the stem),
    /// with `anchors[i]` priors per cell on level `i` (strides 8, 16, 32, 64).
    pub fn slim(width: f64, anchors: &[usize], classes: i64) -> Self {
        assert_eq!(anchors.len(), 4, "the slim network has four detection levels");
        let c = |m: i64| (((16 * m) as f64 * width).round() as i64).max(4);
        let cbr = |cin, cout, s| ConvSpec::new(cin, cout, 3, s, 1, true, true);
        let dw = |cin, cout, s| {
            [ConvSpec::new(cin, cin, 3, s, cin, true, true), ConvSpec::new(cin, cout, 1, 1, 1, true, true)]
        };
        let mut backbone = vec![Block::Conv(cbr(3, c(1), 2))];
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
            backbone.extend(dw(cin, cout, s).map(Block::Conv));
            if i == 6 || i == 9 || i == 11 {
                taps.push((backbone.len() - 1, cout));
            }
        }
        // Extra level at stride 64: squeeze, strided depthwise, expand.
        backbone.push(Block::Conv(ConvSpec::new(c(16), c(4), 1, 1, 1, true, true)));
        backbone.extend(dw(c(4), c(16), 2).map(Block::Conv));
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
        let heads = self.heads.iter().flat_map(|h| h.cls.iter().chain(&h.reg)).map(ConvSpec::parameters);
        self.backbone.iter().map(Block::parameters).sum::<i64>() + heads.sum::<i64>()
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
/// Variable-store paths inside the receptive-field block at backbone index `i`: conv `j`
/// of branch `b`, the merge conv and the shortcut conv.
pub fn rfb_branch_path(i: usize, b: usize, j: usize) -> String {
    format!("backbone.{i}.branch{b}.{j}")
}
/// See [`rfb_branch_path`].
pub fn rfb_merge_path(i: usize) -> String {
    format!("backbone.{i}.merge")
}
/// See [`rfb_branch_path`].
pub fn rfb_shortcut_path(i: usize) -> String {
    format!("backbone.{i}.shortcut")
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
        let cfg = nn::ConvConfig {
            stride: s.stride,
            padding: s.padding(),
            dilation: s.dilation,
            groups: s.groups,
            bias: !s.bn,
            ..Default::default()
        };
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

/// A backbone block's layers.
enum BlockLayers {
    Conv(Box<Layer>),
    Rfb { branches: Vec<Vec<Layer>>, merge: Box<Layer>, shortcut: Box<Layer>, scale: f64 },
}

impl BlockLayers {
    fn new(root: &nn::Path, i: usize, block: &Block) -> Self {
        let layer = |path: String, s: &ConvSpec| Layer::new(sub_path(root, &path), s);
        match block {
            Block::Conv(s) => BlockLayers::Conv(Box::new(layer(backbone_path(i), s))),
            Block::Rfb(r) => BlockLayers::Rfb {
                branches: (r.branches.iter().enumerate())
                    .map(|(b, convs)| {
                        convs.iter().enumerate().map(|(j, s)| layer(rfb_branch_path(i, b, j), s)).collect()
                    })
                    .collect(),
                merge: Box::new(layer(rfb_merge_path(i), &r.merge)),
                shortcut: Box::new(layer(rfb_shortcut_path(i), &r.shortcut)),
                scale: r.scale,
            },
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        match self {
            BlockLayers::Conv(l) => l.forward(x, train),
            BlockLayers::Rfb { branches, merge, shortcut, scale } => {
                let outs: Vec<Tensor> =
                    (branches.iter()).map(|b| b.iter().fold(x.shallow_clone(), |t, l| l.forward(&t, train))).collect();
                let merged = merge.forward(&Tensor::cat(&outs, 1), train) * *scale;
                (merged + shortcut.forward(x, train)).relu()
            }
        }
    }
}

/// The network in tch, built from a [`NetSpec`] under a variable-store path.
pub struct Net {
    spec: NetSpec,
    backbone: Vec<BlockLayers>,
    heads: Vec<(Vec<Layer>, Vec<Layer>)>,
}

impl Net {
    /// Create the layers (fresh weights) under `root`.
    pub fn new(root: &nn::Path, spec: NetSpec) -> Self {
        let backbone = spec.backbone.iter().enumerate().map(|(i, b)| BlockLayers::new(root, i, b)).collect();
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

    /// Re-initialise the last layer of every head: weights drawn from N(0, 0.01²), box
    /// biases 0, and class biases such that each prior starts out saying "face" with
    /// probability `face_prior` (RetinaNet's prior initialisation, Lin et al. 2017).
    /// With the default fan-in initialisation the fresh heads are confidently wrong: the
    /// first class losses run to 6 nats, over twice an uninformed guess.
    pub fn init_heads(&self, face_prior: f64) {
        let classes = self.spec.classes;
        let logit = (face_prior / (1.0 - face_prior)).ln();
        tch::no_grad(|| {
            for (cls, reg) in &self.heads {
                for (layers, is_cls) in [(cls, true), (reg, false)] {
                    let Some(last) = layers.last() else { continue };
                    let _ = last.conv.ws.shallow_clone().normal_(0.0, 0.01);
                    if let Some(b) = &last.conv.bs {
                        let _ = b.shallow_clone().fill_(0.0);
                        if is_cls {
                            // Channels are anchor-major: `anchor * classes + class`.
                            let _ = b.view([-1, classes]).narrow(1, 1, classes - 1).fill_(logit);
                        }
                    }
                }
            }
        });
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

    #[test]
    fn rfb_keeps_the_prior_layout_and_sees_further() {
        let spec = NetSpec::new(Arch::Rfb, 1.0, &[3, 2, 2, 3], 2);
        assert_eq!(spec.name, "rfb-1.00");
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = Net::new(&vs.root(), spec.clone());
        let x = Tensor::zeros([1, 3, 240, 320], (tch::Kind::Float, tch::Device::Cpu));
        let (cls, reg) = net.forward_t(&x, false);
        assert_eq!((cls.size(), reg.size()), (vec![1, 4420, 2], vec![1, 4420, 4]));
        let allocated: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        assert_eq!(allocated, spec.parameters());
        // The first head reads the RFB block, whose widest branch ends dilated by 3.
        let Block::Rfb(r) = &spec.backbone[spec.heads[0].tap] else { panic!("the stride-8 tap is not the RFB block") };
        assert_eq!(r.branches.iter().map(|b| b.last().unwrap().dilation).collect::<Vec<_>>(), vec![1, 2, 3]);
    }

    #[test]
    fn initialised_heads_start_at_the_face_prior() {
        let spec = NetSpec::slim(0.5, &[3, 2, 2, 3], 2);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = Net::new(&vs.root(), spec);
        let x = Tensor::randn([2, 3, 96, 128], (tch::Kind::Float, tch::Device::Cpu));
        let face = |net: &Net| {
            let (cls, reg) = net.forward_t(&x, false);
            let p = cls.softmax(2, tch::Kind::Float).select(2, 1);
            (
                p.mean(tch::Kind::Float).double_value(&[]),
                p.std(true).double_value(&[]),
                reg.abs().max().double_value(&[]),
            )
        };
        net.init_heads(0.01);
        let (mean, std, reg) = face(&net);
        assert!((mean - 0.01).abs() < 0.002 && std < 0.005, "p(face) {mean} ± {std}");
        assert!(reg < 1.0, "box offsets start near the priors, max {reg}");
    }

    #[test]
    fn old_specs_without_dilation_still_read() {
        let json = r#"{"cin":3,"cout":16,"k":3,"stride":2,"groups":1,"bn":true,"relu":true}"#;
        let b: Block = serde_json::from_str(json).unwrap();
        assert_eq!(b, Block::Conv(ConvSpec::new(3, 16, 3, 2, 1, true, true)));
    }
}
