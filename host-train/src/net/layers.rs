//! The tch realisation of a [`NetSpec`]: variables under the paths the exporter reads,
//! and a forward pass in fp32 or in bf16 compute with fp32 weights.

use super::{
    backbone_path, head_path, lateral_path, rfb_branch_path, rfb_merge_path, rfb_shortcut_path, Block, ConvSpec,
    NetSpec,
};
use tch::{nn, nn::ModuleT, Kind, Tensor};

/// The variable-store sub-path for a dotted name (tch forbids dots within one component).
pub(crate) fn sub_path<'a>(root: &nn::Path<'a>, dotted: &str) -> nn::Path<'a> {
    let mut parts = dotted.split('.');
    let first = root.sub(parts.next().unwrap_or_default());
    parts.fold(first, |p, part| p.sub(part))
}

/// How the forward pass computes. The weights (and what is saved and exported) stay
/// fp32 either way; the default is plain fp32 in PyTorch's default layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Compute {
    /// Convolutions in bfloat16 (their inputs and a bf16 copy of the weights, cast
    /// inside the autograd graph so gradients reach the fp32 weights), as PyTorch's
    /// CPU autocast does; BatchNorm takes the bf16 activations with its fp32
    /// parameters, and the outputs return to fp32 for the loss.
    pub bf16: bool,
    /// The input in channels-last memory layout (NHWC strides), which oneDNN's
    /// convolutions carry through the network and run faster on CPUs.
    pub channels_last: bool,
}

/// One convolution with its BatchNorm and ReLU, its variables under `PATH.conv` and
/// `PATH.bn` (what the exporter folds).
pub struct Layer {
    conv: nn::Conv2D,
    spec: ConvSpec,
    bn: Option<nn::BatchNorm>,
    relu: bool,
}

impl Layer {
    /// Create the layer's variables under `p`.
    pub fn new(p: nn::Path, s: &ConvSpec) -> Self {
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
        Self { conv, spec: *s, bn, relu: s.relu }
    }

    /// Apply the layer (BatchNorm in training mode when `train`).
    pub fn forward(&self, x: &Tensor, train: bool, c: Compute) -> Tensor {
        let mut y = if c.bf16 {
            let s = &self.spec;
            let (ws, bs) =
                (self.conv.ws.to_kind(Kind::BFloat16), self.conv.bs.as_ref().map(|b| b.to_kind(Kind::BFloat16)));
            x.to_kind(Kind::BFloat16).conv2d(
                &ws,
                bs.as_ref(),
                [s.stride; 2],
                [s.padding(); 2],
                [s.dilation; 2],
                s.groups,
            )
        } else {
            x.apply(&self.conv)
        };
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

    fn forward(&self, x: &Tensor, train: bool, c: Compute) -> Tensor {
        match self {
            BlockLayers::Conv(l) => l.forward(x, train, c),
            BlockLayers::Rfb { branches, merge, shortcut, scale } => {
                let outs: Vec<Tensor> = (branches.iter())
                    .map(|b| b.iter().fold(x.shallow_clone(), |t, l| l.forward(&t, train, c)))
                    .collect();
                let merged = merge.forward(&Tensor::cat(&outs, 1), train, c) * *scale;
                (merged + shortcut.forward(x, train, c)).relu()
            }
        }
    }
}

/// The network in tch, built from a [`NetSpec`] under a variable-store path.
pub struct Net {
    spec: NetSpec,
    backbone: Vec<BlockLayers>,
    heads: Vec<(Vec<Layer>, Vec<Layer>)>,
    laterals: Vec<Option<Layer>>,
    compute: Compute,
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
        let laterals = (spec.heads.iter().enumerate())
            .map(|(l, h)| {
                let lat = Layer::new(sub_path(root, &lateral_path(l)), &h.lateral?.conv);
                // Zero: the lateral adds nothing until training finds what it should add.
                tch::no_grad(|| {
                    let _ = lat.conv.ws.shallow_clone().zero_();
                    if let Some(b) = &lat.conv.bs {
                        let _ = b.shallow_clone().zero_();
                    }
                });
                Some(lat)
            })
            .collect();
        Self { spec, backbone, heads, laterals, compute: Compute::default() }
    }

    /// Compute the forward pass this way from now on.
    pub fn set_compute(&mut self, compute: Compute) {
        self.compute = compute;
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
        let c = self.compute;
        let mut feats = Vec::with_capacity(self.backbone.len());
        // NCHW shape, NHWC strides: PyTorch's channels-last layout.
        let mut y = if c.channels_last {
            x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
        } else {
            x.shallow_clone()
        };
        for layer in &self.backbone {
            y = layer.forward(&y, train, c);
            feats.push(y.shallow_clone());
        }
        let n = x.size()[0];
        let (mut cls, mut reg) = (Vec::new(), Vec::new());
        for ((h, (cls_layers, reg_layers)), lateral) in self.spec.heads.iter().zip(&self.heads).zip(&self.laterals) {
            let mut f = feats[h.tap].shallow_clone();
            if let (Some(spec), Some(lat)) = (&h.lateral, lateral) {
                let size = f.size();
                let up = lat.forward(&feats[spec.from], train, c).upsample_nearest2d(
                    [size[2], size[3]],
                    None::<f64>,
                    None::<f64>,
                );
                f = &f + up.to_kind(f.kind());
            }
            let f = &f;
            let run = |layers: &[Layer], k: i64| {
                let out = layers.iter().fold(f.shallow_clone(), |t, l| l.forward(&t, train, c));
                out.permute([0, 2, 3, 1]).reshape([n, -1, k]).to_kind(Kind::Float)
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
    use crate::net::{Arch, Block, NetSpec};

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
    fn a_stride4_level_emits_the_priors_of_five_levels() {
        let cfg = crate::config::TrainConfig {
            prior_sizes: Some(vec![
                vec![4.0],
                vec![6.0, 11.0, 18.0],
                vec![32.0, 48.0],
                vec![64.0, 96.0],
                vec![128.0, 192.0, 256.0],
            ]),
            ..Default::default()
        };
        cfg.validate().unwrap();
        let priors = cfg.priors();
        assert_eq!(priors.steps, vec![4, 8, 16, 32, 64]);
        let spec = NetSpec::slim(1.0, &priors.anchors_per_cell(), 2);
        assert_eq!(spec.name, "slim-1.00+s4");
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = Net::new(&vs.root(), spec.clone());
        for (w, h) in [(320, 240), (100, 70)] {
            let x = Tensor::zeros([1, 3, h, w], (tch::Kind::Float, tch::Device::Cpu));
            let (cls, reg) = net.forward_t(&x, false);
            let n = priors.priors(w as u32, h as u32).len() as i64;
            assert_eq!((cls.size(), reg.size()), (vec![1, n, 2], vec![1, n, 4]), "{w}x{h}");
        }
        // 80x60 cells at stride 4 before the four levels' 4,420.
        assert_eq!(priors.priors(320, 240).len(), 4800 + 4420);
        // The new level reads the last stride-4 block; the other four are slim's own.
        let slim = NetSpec::slim(1.0, &[3, 2, 2, 3], 2);
        assert_eq!((spec.backbone.clone(), &spec.heads[1..]), (slim.backbone.clone(), &slim.heads[..]));
        assert!(spec.heads[0].tap < slim.heads[0].tap);
        let rfb = NetSpec::rfb(1.0, &priors.anchors_per_cell(), 2);
        assert_eq!(rfb.name, "rfb-1.00+s4");
        assert!(matches!(rfb.backbone[rfb.heads[1].tap], Block::Rfb(_)));
    }

    #[test]
    fn an_upsampled_lateral_starts_as_nothing_and_maps_from_the_plain_network() {
        let anchors = [1, 3, 2, 2, 3];
        let plain = NetSpec::slim(1.0, &anchors, 2);
        let spec = plain.clone().with_stride4_context().unwrap();
        assert!(spec.clone().with_stride4_context().is_none(), "one lateral per head");
        assert!(NetSpec::slim(1.0, &[3, 2, 2, 3], 2).with_stride4_context().is_none(), "needs the stride-4 level");
        let lat = spec.heads[0].lateral.unwrap();
        assert_eq!((lat.from, lat.conv.cin, lat.conv.cout), (spec.heads[1].tap, 64, 32));
        // A stride-4 checkpoint starts it whole, the lateral fresh; so does a four-level one.
        let all: Vec<_> = (0..spec.backbone.len()).map(Some).collect();
        assert_eq!(spec.backbone_in(&plain), Some(all.clone()));
        assert_eq!(spec.heads_in(&plain), (0..5).map(Some).collect::<Vec<_>>());
        assert_eq!(spec.backbone_in(&NetSpec::slim(1.0, &[3, 2, 2, 3], 2)), Some(all));
        assert!(plain.backbone_in(&spec).is_none(), "a lateral is not dropped silently");

        let (vs, vs_plain) = (nn::VarStore::new(tch::Device::Cpu), nn::VarStore::new(tch::Device::Cpu));
        let net = Net::new(&vs.root(), spec.clone());
        let net_plain = Net::new(&vs_plain.root(), plain);
        let allocated: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        assert_eq!(allocated, spec.parameters());
        let theirs = vs.variables();
        tch::no_grad(|| {
            for (name, mut t) in vs_plain.variables() {
                t.copy_(&theirs[&name]);
            }
        });
        for (w, h) in [(320, 240), (100, 70)] {
            let x = Tensor::randn([1, 3, h, w], (tch::Kind::Float, tch::Device::Cpu));
            let ((c, r), (cp, rp)) = (net.forward_t(&x, false), net_plain.forward_t(&x, false));
            assert_eq!(c.size(), cp.size(), "{w}x{h}");
            let diff = (&c - &cp).abs().max().double_value(&[]) + (&r - &rp).abs().max().double_value(&[]);
            assert_eq!(diff, 0.0, "a fresh lateral changes nothing at {w}x{h}");
        }
        // Once trained, it does: the stride-4 outputs (the first 80x60 priors) move.
        tch::no_grad(|| {
            let _ = theirs["heads.0.lateral.conv.weight"].shallow_clone().fill_(0.05);
        });
        let x = Tensor::randn([1, 3, 240, 320], (tch::Kind::Float, tch::Device::Cpu));
        let ((c, _), (cp, _)) = (net.forward_t(&x, false), net_plain.forward_t(&x, false));
        let d4 = (c.narrow(1, 0, 4800) - cp.narrow(1, 0, 4800)).abs().max().double_value(&[]);
        assert!(d4 > 1e-5, "the stride-4 outputs moved by only {d4}");
        assert_eq!((c.narrow(1, 4800, 4420) - cp.narrow(1, 4800, 4420)).abs().max().double_value(&[]), 0.0);
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
    fn bf16_and_channels_last_compute_what_fp32_does_and_train_the_fp32_weights() {
        let spec = NetSpec::new(Arch::Rfb, 0.5, &[3, 2, 2, 3], 2);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let mut net = Net::new(&vs.root(), spec);
        let x = Tensor::randn([2, 3, 96, 128], (Kind::Float, tch::Device::Cpu));
        let (c32, r32) = net.forward_t(&x, false);
        for compute in [Compute { channels_last: true, bf16: false }, Compute { channels_last: true, bf16: true }] {
            net.set_compute(compute);
            let (c, r) = net.forward_t(&x, false);
            assert_eq!((c.kind(), r.kind()), (Kind::Float, Kind::Float));
            let tol = if compute.bf16 { 0.1 } else { 1e-4 };
            let diff = (&c - &c32).abs().max().double_value(&[]).max((&r - &r32).abs().max().double_value(&[]));
            assert!(diff < tol, "{compute:?}: max difference {diff}");
        }
        // Gradients of a bf16 forward reach the fp32 weights.
        let (c, r) = net.forward_t(&x, true);
        (c.sum(Kind::Float) + r.sum(Kind::Float)).backward();
        let grads = vs.trainable_variables().iter().filter(|v| v.grad().defined()).count();
        assert_eq!(grads, vs.trainable_variables().len());
        assert!(vs.trainable_variables().iter().all(|v| v.kind() == Kind::Float));
    }

    #[test]
    fn old_specs_without_dilation_still_read() {
        let json = r#"{"cin":3,"cout":16,"k":3,"stride":2,"groups":1,"bn":true,"relu":true}"#;
        let b: Block = serde_json::from_str(json).unwrap();
        assert_eq!(b, Block::Conv(ConvSpec::new(3, 16, 3, 2, 1, true, true)));
    }
}
