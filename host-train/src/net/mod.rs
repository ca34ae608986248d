//! The network: a declarative [`NetSpec`] (what layers, in what order) and its tch
//! realisation [`Net`]. The ONNX exporter walks the same spec, so the trained graph and
//! the exported graph cannot drift apart.
//!
//! The slim variant follows the layout of ULFGFD's `version-slim` (Linzaer, 2019): a
//! stride-2 conv stem, depthwise-separable blocks with BatchNorm+ReLU, and detection
//! heads on strides 8/16/32/64 (and, with five prior levels, 4 first). The RFB variant
//! replaces the last stride-8 block with a receptive-field block ([`RfbSpec`]; Liu et
//! al., "Receptive Field Block Net", ECCV 2018), as ULFGFD's `version-RFB` does, to see
//! more context around small faces.

mod layers;

pub(crate) use layers::sub_path;
pub use layers::{Compute, Layer, Net};

/// One convolution, optionally followed by BatchNorm and ReLU. Padding is
/// `dilation * (k / 2)`, so the output keeps the input size at stride 1; the convolution
/// has a bias exactly when there is no BatchNorm.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConvSpec {
    /// Input channels.
    pub cin: i64,
    /// Output channels.
    pub cout: i64,
    /// Kernel side (`k` x `k`).
    pub k: i64,
    /// Stride, the same along both axes.
    pub stride: i64,
    /// Channel groups (`cin` for a depthwise convolution, 1 for a full one).
    pub groups: i64,
    /// Followed by BatchNorm (then the convolution has no bias).
    pub bn: bool,
    /// Followed by ReLU.
    pub relu: bool,
    /// Spacing of the kernel's taps (1: a plain convolution); 1 when absent from older specs.
    #[serde(default = "one")]
    pub dilation: i64,
}

fn one() -> i64 {
    1
}

impl ConvSpec {
    /// A convolution of `cin` to `cout` channels, `k` x `k`, at `stride`, in `groups`.
    pub fn new(cin: i64, cout: i64, k: i64, stride: i64, groups: i64, bn: bool, relu: bool) -> Self {
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
    /// The parallel branches, each a chain of convolutions over the block's input.
    pub branches: Vec<Vec<ConvSpec>>,
    /// The linear 1x1 convolution over the concatenated branches.
    pub merge: ConvSpec,
    /// The linear 1x1 convolution of the input added to the merge.
    pub shortcut: ConvSpec,
    /// Multiplier of the merged branches before the shortcut is added.
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
    /// A single convolution.
    Conv(ConvSpec),
    /// A receptive-field block.
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
    /// Priors per feature-map cell.
    pub anchors: i64,
    /// The convolutions giving `anchors` x `classes` class logits per cell.
    pub cls: Vec<ConvSpec>,
    /// The convolutions giving `anchors` x 4 box offsets per cell.
    pub reg: Vec<ConvSpec>,
    /// Context from a deeper layer added to the tap before both branches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lateral: Option<LateralSpec>,
}

/// Top-down context for a shallow head, as in a feature pyramid (Lin et al., "Feature
/// Pyramid Networks for Object Detection", CVPR 2017): backbone layer `from`'s output
/// through a linear 1x1 `conv` to the tap's channels, upsampled (nearest) to the tap's
/// size and added to it. The conv starts at zero, so a network given a lateral starts
/// out computing what it computed without one.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LateralSpec {
    /// Index of the deeper backbone layer whose output is added.
    pub from: usize,
    /// The linear 1x1 convolution to the tap's channels (zero at the start).
    pub conv: ConvSpec,
}

/// The whole network as data.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NetSpec {
    /// Human-readable name, e.g. `slim-1.00`.
    pub name: String,
    /// Output classes, background included (2: background and face).
    pub classes: i64,
    /// The backbone's layers, in order.
    pub backbone: Vec<Block>,
    /// One detection head per feature level, shallowest (smallest priors) first.
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
        // The stride-8 level: the first, or the second after a stride-4 one.
        let tap = spec.heads[spec.heads.len() - 4].tap;
        let ch = spec.backbone[tap].cout();
        // The depthwise + pointwise pair ending at the tap becomes one block.
        spec.backbone.splice(tap - 1..=tap, [Block::Rfb(RfbSpec::new(ch, ch))]);
        for h in &mut spec.heads {
            h.tap -= 1;
        }
        spec.name = spec.name.replacen("slim", "rfb", 1);
        spec
    }

    /// The slim network at `width` times the seed channel count (16 at the stem),
    /// with `anchors[i]` priors per cell on level `i` (strides 8, 16, 32, 64). Five
    /// counts add a level at stride 4 first, for faces of a few pixels: it reads the last
    /// stride-4 block, and its name gets `+s4`.
    pub fn slim(width: f64, anchors: &[usize], classes: i64) -> Self {
        assert!(matches!(anchors.len(), 4 | 5), "the slim network has four detection levels, or five with stride 4");
        let stride4 = anchors.len() == 5;
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
            if (stride4 && i == 2) || i == 6 || i == 9 || i == 11 {
                taps.push((backbone.len() - 1, cout));
            }
        }
        // Extra level at stride 64: squeeze, strided depthwise, expand.
        backbone.push(Block::Conv(ConvSpec::new(c(16), c(4), 1, 1, 1, true, true)));
        backbone.extend(dw(c(4), c(16), 2).map(Block::Conv));
        taps.push((backbone.len() - 1, c(16)));

        let last = taps.len() - 1;
        let heads = taps
            .iter()
            .zip(anchors)
            .enumerate()
            .map(|(level, (&(tap, ch), &a))| {
                let a = a as i64;
                let head = |out: i64| {
                    if level < last {
                        vec![
                            ConvSpec::new(ch, ch, 3, 1, ch, false, true),
                            ConvSpec::new(ch, a * out, 1, 1, 1, false, false),
                        ]
                    } else {
                        vec![ConvSpec::new(ch, a * out, 3, 1, 1, false, false)]
                    }
                };
                HeadSpec { tap, anchors: a, cls: head(classes), reg: head(4), lateral: None }
            })
            .collect();
        let name = if stride4 { format!("slim-{width:.2}+s4") } else { format!("slim-{width:.2}") };
        Self { name, classes, backbone, heads }
    }

    /// This network with the stride-8 level's features added, upsampled, to the first
    /// (stride-4) head's input ([`LateralSpec`]); its name gets `+up`. `None` without a
    /// stride-4 level, or when that head has its lateral already.
    pub fn with_stride4_context(self) -> Option<Self> {
        if self.heads.len() != 5 {
            return None;
        }
        self.with_lateral(0, "+up")
    }

    /// This network with the stride-16 level's features added, upsampled, to the stride-8
    /// head's input, as [`NetSpec::with_stride4_context`] does one level down; its name
    /// gets `+up8`. Each lateral reads its level's backbone features, not the sum another
    /// lateral made. `None` when that head has its lateral already.
    pub fn with_stride8_context(self) -> Option<Self> {
        let level = self.heads.len().checked_sub(4)?;
        self.with_lateral(level, "+up8")
    }

    /// Head `level` given a fresh lateral from the next level's tap.
    fn with_lateral(mut self, level: usize, suffix: &str) -> Option<Self> {
        if self.heads.get(level + 1).is_none() || self.heads[level].lateral.is_some() {
            return None;
        }
        let from = self.heads[level + 1].tap;
        let (cin, cout) = (self.backbone[from].cout(), self.backbone[self.heads[level].tap].cout());
        self.heads[level].lateral = Some(LateralSpec { from, conv: ConvSpec::new(cin, cout, 1, 1, 1, false, false) });
        self.name.push_str(suffix);
        Some(self)
    }

    /// For each of this network's backbone layers, the index of the same layer in
    /// `from`: all of them when the two are the same network, all but the receptive-field
    /// block when this is the RFB network made from `from` (see [`NetSpec::rfb`]), so a
    /// slim checkpoint can start an RFB run. `None` when the networks are not related so.
    ///
    /// A network that only adds a first head (the stride-4 level) keeps every backbone
    /// layer of `from`; [`NetSpec::heads_in`] says where its heads come from.
    pub fn backbone_in(&self, from: &NetSpec) -> Option<Vec<Option<usize>>> {
        let identity = || Some((0..self.backbone.len()).map(Some).collect());
        if self.adds_first_head_to(from) || self.adds_laterals_to(from) {
            return identity();
        }
        if self.classes != from.classes || self.heads.len() != from.heads.len() {
            return None;
        }
        if self.backbone == from.backbone && self.heads == from.heads {
            return identity();
        }
        let t = self.backbone.iter().position(|b| matches!(b, Block::Rfb(_)))?;
        let same_layers = from.backbone.len() == self.backbone.len() + 1
            && self.backbone[..t] == from.backbone[..t]
            && self.backbone[t + 1..] == from.backbone[t + 2..];
        let same_heads = self.heads.iter().zip(&from.heads).all(|(a, b)| {
            (a.anchors, &a.cls, &a.reg) == (b.anchors, &b.cls, &b.reg) && b.tap == a.tap + usize::from(a.tap >= t)
        });
        (same_layers && same_heads)
            .then(|| (0..self.backbone.len()).map(|i| (i != t).then_some(if i < t { i } else { i + 1 })).collect())
    }

    /// For each of this network's heads, the index of the same head in `from`: the
    /// same index, except that a network that is `from` with a first head added (the
    /// stride-4 level) has that head fresh. Meaningful where [`NetSpec::backbone_in`] is
    /// `Some`.
    pub fn heads_in(&self, from: &NetSpec) -> Vec<Option<usize>> {
        let shift = usize::from(self.adds_first_head_to(from));
        (0..self.heads.len()).map(|l| l.checked_sub(shift)).collect()
    }

    /// Whether this network is `from` with one head added before its first (the stride-4
    /// level), every other layer the same.
    fn adds_first_head_to(&self, from: &NetSpec) -> bool {
        self.classes == from.classes
            && self.backbone == from.backbone
            && self.heads.len() == from.heads.len() + 1
            && self.heads[1..] == from.heads[..]
    }

    /// Whether this network is `from` with laterals added to heads that had none, every
    /// other layer the same (the laterals start fresh).
    fn adds_laterals_to(&self, from: &NetSpec) -> bool {
        self.classes == from.classes
            && self.backbone == from.backbone
            && self.heads.len() == from.heads.len()
            && self.heads != from.heads
            && self.heads.iter().zip(&from.heads).all(|(a, b)| {
                (a.tap, a.anchors, &a.cls, &a.reg) == (b.tap, b.anchors, &b.cls, &b.reg)
                    && (a.lateral == b.lateral || b.lateral.is_none())
            })
    }

    /// Trainable parameter count.
    pub fn parameters(&self) -> i64 {
        let heads = (self.heads.iter())
            .flat_map(|h| h.cls.iter().chain(&h.reg).chain(h.lateral.as_ref().map(|l| &l.conv)))
            .map(ConvSpec::parameters);
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
/// Variable-store path of head `level`'s lateral conv.
pub fn lateral_path(level: usize) -> String {
    format!("heads.{level}.lateral")
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
