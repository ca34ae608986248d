//! facecam's own kernels, swapped into tract's graph where tract is slow.
//!
//! tract is slow in three places a face detector spends its time: a depthwise 3x3 at
//! stride 2 takes its scalar path (its SIMD row kernel reads stride-1 rows only), the
//! first 3x3 convolution over RGB runs as a direct convolution behind a padding op, and a
//! softmax over an axis of two walks each pair as a lane of its own. [`patch`] takes a decluttered
//! [`TypedModel`] — the step of tract's `model → decluttered → optimized → runnable`
//! chain where convolutions are still `Conv` nodes — and replaces each node one of our
//! ops covers, through tract's public patch API:
//! - [`conv3x3::Conv3x3`]: 3x3 convolutions, depthwise or over a few input channels
//!   (the first layer), stride 1 or 2, bias and a following ReLU fused in, vectorised by
//!   the compiler (AVX2 + FMA picked at run time on x86, NEON on aarch64), output
//!   planes split over tract's thread pool;
//! - [`pointwise::Pointwise1x1`]: 1x1 convolutions with their bias and ReLU, register
//!   blocks of output channels x pixels over the activation in place (tract packs it
//!   first);
//! - [`upsample::Upsample2x`]: the laterals' 2x upsampling (a depthwise 2x2 transposed
//!   convolution at stride 2), one multiply-add per output value;
//! - [`softmax2::PairSoftmax`]: a two-class softmax as a logistic.
//!
//! Nodes they do not cover keep tract's own op. The ONNX file is unchanged (onnxruntime
//! runs the same file), and [`Kernels::Tract`] loads a model with tract's ops only, for
//! comparison.

pub mod conv3x3;
pub mod gemm;
pub mod isa;
pub mod plane;
pub mod pointwise;
pub mod softmax2;
pub mod upsample;

use conv3x3::Conv3x3;
use pointwise::Pointwise1x1;
use softmax2::PairSoftmax;
use std::fmt;
use std::str::FromStr;
use tract_core::internal::*;
use tract_core::ops::binary::BinMiniOp;
use tract_core::ops::binary::TypedBinOp;
use tract_core::ops::math::{Add, Max};
use tract_core::ops::nn::DataFormat;
use upsample::Upsample2x;

/// Whose kernels run the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Kernels {
    /// facecam's kernels where they cover a node, tract's elsewhere (the default).
    #[default]
    Facecam,
    /// tract's own ops everywhere, as tract itself would run the file.
    Tract,
}

impl fmt::Display for Kernels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kernels::Facecam => "facecam",
            Kernels::Tract => "tract",
        })
    }
}

impl FromStr for Kernels {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "facecam" => Ok(Kernels::Facecam),
            "tract" => Ok(Kernels::Tract),
            _ => Err(format!("`{s}` is not a kernel set: give `facecam` or `tract`")),
        }
    }
}

/// What [`patch`] replaced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Patched {
    /// Depthwise 3x3 convolutions now run by [`Conv3x3`].
    pub depthwise: usize,
    /// Full 3x3 convolutions now run by [`Conv3x3`] (over few inputs).
    pub full: usize,
    /// How many of those 3x3 convolutions took the ReLU after them in.
    pub relu_fused: usize,
    /// 1x1 convolutions now run by [`Pointwise1x1`].
    pub pointwise: usize,
    /// Upsamplings now run by [`Upsample2x`].
    pub upsample: usize,
    /// Softmaxes now run by [`PairSoftmax`].
    pub softmax: usize,
}

/// Replace every node of a decluttered `model` that one of facecam's ops covers.
pub fn patch(model: &mut TypedModel) -> TractResult<Patched> {
    let mut done = Patched::default();
    // One node per pass: a patch renumbers nothing it does not touch, but reading the
    // graph afresh after each keeps every lookup valid.
    while let Some(step) = next_patch(model)? {
        let (p, what) = step;
        p.apply(model)?;
        match what {
            Replaced::Conv { depthwise, relu } => {
                *(if depthwise { &mut done.depthwise } else { &mut done.full }) += 1;
                done.relu_fused += relu as usize;
            }
            Replaced::Pointwise { relu } => {
                done.pointwise += 1;
                done.relu_fused += relu as usize;
            }
            Replaced::Upsample => done.upsample += 1,
            Replaced::Softmax => done.softmax += 1,
        }
    }
    model.compact()?;
    Ok(done)
}

enum Replaced {
    Conv { depthwise: bool, relu: bool },
    Pointwise { relu: bool },
    Upsample,
    Softmax,
}

/// The first node one of our ops covers, as a patch; `None` when none is left.
fn next_patch(model: &TypedModel) -> TractResult<Option<(TypedModelPatch, Replaced)>> {
    for &id in &model.eval_order()? {
        let node = model.node(id);
        if let Some(op) = Conv3x3::from_conv(model, node)? {
            let relu = relu_after(model, node)?;
            let (op, last) = match relu {
                Some(r) => (op.with_relu(), r),
                None => (op, node.id),
            };
            let depthwise = op.depthwise;
            let mut patch = TypedModelPatch::new("facecam-conv3x3");
            let input = patch.tap_model(model, node.inputs[0])?;
            let wire = patch.wire_node(&node.name, op, &[input])?;
            patch.shunt_outside(model, OutletId::new(last, 0), wire[0])?;
            return Ok(Some((patch, Replaced::Conv { depthwise, relu: relu.is_some() })));
        }
        if let Some(mut op) = Pointwise1x1::from_einsum(model, node)? {
            let mut last = node.id;
            if let Some((add, bias)) = bias_after(model, node, op.outputs, op.channels_last)? {
                op = op.with_bias(bias);
                last = add;
            }
            let relu = relu_after(model, model.node(last))?;
            if let Some(r) = relu {
                op = op.with_relu();
                last = r;
            }
            let mut patch = TypedModelPatch::new("facecam-pointwise");
            let input = patch.tap_model(model, node.inputs[0])?;
            let wire = patch.wire_node(&node.name, op, &[input])?;
            patch.shunt_outside(model, OutletId::new(last, 0), wire[0])?;
            return Ok(Some((patch, Replaced::Pointwise { relu: relu.is_some() })));
        }
        if let Some(op) = Upsample2x::from_deconv(model, node)? {
            let patch = TypedModelPatch::replace_single_op(model, node, &node.inputs[..1], op)?;
            return Ok(Some((patch, Replaced::Upsample)));
        }
        if let Some(op) = PairSoftmax::from_softmax(model, node)? {
            let patch = TypedModelPatch::replace_single_op(model, node, &node.inputs, op)?;
            return Ok(Some((patch, Replaced::Softmax)));
        }
    }
    Ok(None)
}

/// The node right after `node` when it is the only reader of `node`'s output, a binary
/// `B` with a constant on its other side, and keeps `node`'s shape: its id and the constant.
fn const_op_after<B: BinMiniOp>(model: &TypedModel, node: &TypedNode) -> TractResult<Option<(usize, Arc<Tensor>)>> {
    let [succ] = &*node.outputs[0].successors else { return Ok(None) };
    if model.output_outlets()?.contains(&OutletId::new(node.id, 0)) {
        return Ok(None);
    }
    let next = model.node(succ.node);
    let Some(bin) = next.op_as::<TypedBinOp>() else { return Ok(None) };
    if !bin.0.is::<B>() || bin.1.is_some() || next.inputs.len() != 2 {
        return Ok(None);
    }
    let Some(k) = model.outlet_fact(next.inputs[1 - succ.slot])?.konst.clone() else { return Ok(None) };
    let same =
        model.outlet_fact(OutletId::new(next.id, 0))?.shape == model.outlet_fact(OutletId::new(node.id, 0))?.shape;
    Ok((same && k.datum_type() == f32::datum_type()).then_some((next.id, k)))
}

/// The ReLU right after `node` (`max(x, 0)` with a constant of zeros, as tract spells
/// ONNX's Relu), if `node`'s output goes there and nowhere else.
fn relu_after(model: &TypedModel, node: &TypedNode) -> TractResult<Option<usize>> {
    Ok(const_op_after::<Max>(model, node)?
        .filter(|(_, k)| floats(k).is_ok_and(|v| v.iter().all(|&x| x == 0.0)))
        .map(|(id, _)| id))
}

/// The per-channel bias added right after `node` (`channels` of them, in planes `[..,
/// C, H, W]` or, `channels_last`, `[.., H, W, C]`): the `Add`'s id and one value per
/// channel.
fn bias_after(
    model: &TypedModel,
    node: &TypedNode,
    channels: usize,
    channels_last: bool,
) -> TractResult<Option<(usize, Vec<f32>)>> {
    let Some((id, k)) = const_op_after::<Add>(model, node)? else { return Ok(None) };
    let rank = model.outlet_fact(OutletId::new(node.id, 0))?.rank();
    // Right-aligned against the output: the channel axis (third from the end, or the
    // last) holds all `channels` values, every other axis is 1.
    let channel_from_end = if channels_last { 0 } else { 2 };
    let shape = k.shape();
    let per_channel = shape.len() <= rank
        && k.len() == channels
        && shape
            .iter()
            .rev()
            .enumerate()
            .all(|(from_end, &d)| d == if from_end == channel_from_end { channels } else { 1 });
    per_channel.then(|| floats(&k).map(|v| (id, v.to_vec()))).transpose()
}

/// A tensor's values as floats (it must hold f32 in plain memory).
fn floats(t: &Tensor) -> TractResult<&[f32]> {
    t.try_as_plain_ram()?.as_slice::<f32>()
}

/// `(channels, height, width)` of one image in `shape`: NCHW with a batch of one, or CHW
/// (tract's declutter drops a batch axis of one); `None` for any other layout.
fn chw(shape: &[usize], format: DataFormat) -> Option<(usize, usize, usize)> {
    match *shape {
        [1, c, h, w] if format == DataFormat::NCHW => Some((c, h, w)),
        [c, h, w] if format == DataFormat::CHW => Some((c, h, w)),
        _ => None,
    }
}

/// A float bias of one value per channel (or one for all), as `channels` values;
/// `None` for anything else.
fn per_channel_bias(bias: &Tensor, channels: usize) -> TractResult<Option<Vec<f32>>> {
    Ok(match (bias.datum_type() == f32::datum_type(), bias.len()) {
        (true, n) if n == channels => Some(floats(bias)?.to_vec()),
        (true, 1) => Some(vec![floats(bias)?[0]; channels]),
        _ => None,
    })
}

/// Layers of fewer multiply-adds than this run on the calling thread: handing a small
/// layer to the pool costs more than it saves (docs/BENCHMARKS.md, "Threads").
const MIN_PARALLEL_MACS: usize = 2_000_000;

/// tract's thread pool, when it has one and a layer of `macs` multiply-adds is worth
/// splitting over it.
fn pool_for(macs: usize) -> Option<Arc<rayon::ThreadPool>> {
    match tract_linalg::multithread::current_tract_executor() {
        tract_linalg::multithread::Executor::MultiThread(pool) if macs >= MIN_PARALLEL_MACS => Some(pool),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
