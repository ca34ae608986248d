//! `FacecamConv3x3`: a 3x3 convolution (stride 1 or 2) with its bias and, when the graph
//! has one right after it, its ReLU fused in, as a tract op. Two kinds:
//! - depthwise (one input plane per output plane), where tract takes its scalar path at
//!   stride 2;
//! - full, over a few input channels (the network's first layer, on RGB), which tract
//!   runs as a direct convolution behind an explicit padding op.
//!
//! [`Conv3x3::from_conv`] decides whether a decluttered tract `Conv` node is one this op
//! covers (float, NCHW with one image or CHW, OIHW weights and a bias known at load, 3x3, no dilation,
//! the same stride 1 or 2 on both axes, zero padding); any other convolution stays
//! tract's own. Output planes are split over tract's thread pool when it has one.

use super::plane::{run, Geometry, Taps};
use super::{chw, floats, per_channel_bias, pool_for};
use std::sync::Arc;
use tract_core::internal::*;
use tract_core::ops::cnn::{Conv, KernelFormat};

/// A full convolution is ours up to this many input channels; past it, tract's matrix
/// kernels (im2col, then a product) do better than summing planes.
pub const MAX_FULL_INPUTS: usize = 4;

/// A 3x3 convolution with bias, optionally followed by ReLU.
#[derive(Debug, Clone)]
pub struct Conv3x3 {
    /// Per-plane geometry (the input's height and width, stride, padding).
    pub geometry: Geometry,
    /// Input channels.
    pub inputs: usize,
    /// Output channels.
    pub outputs: usize,
    /// Depthwise (each output plane from its own input plane) or full (from all inputs).
    pub depthwise: bool,
    /// Whether negative outputs are clamped to 0 (a fused ReLU).
    pub relu: bool,
    /// 9 taps per (output, input) pair, or per channel for depthwise, row-major.
    weights: Arc<Vec<f32>>,
    /// One bias per output channel.
    bias: Arc<Vec<f32>>,
}

impl PartialEq for Conv3x3 {
    fn eq(&self, other: &Self) -> bool {
        (self.geometry, self.inputs, self.outputs, self.depthwise, self.relu)
            == (other.geometry, other.inputs, other.outputs, other.depthwise, other.relu)
            && self.weights == other.weights
            && self.bias == other.bias
    }
}
impl Eq for Conv3x3 {}

impl Conv3x3 {
    /// The op for a tract `Conv` node of `model`, or `None` when this op does not cover it.
    pub fn from_conv(model: &TypedModel, node: &TypedNode) -> TractResult<Option<Self>> {
        let Some(conv) = node.op_as::<Conv>() else { return Ok(None) };
        let spec = &conv.pool_spec;
        let (ci, co) = (spec.input_channels, spec.output_channels);
        let input = model.outlet_fact(node.inputs[0])?;
        let depthwise = ci > 1 && conv.group == ci && co == ci;
        let full = conv.group == 1 && ci <= MAX_FULL_INPUTS;
        let plain = conv.q_params.is_none()
            && input.datum_type == f32::datum_type()
            && (depthwise || full)
            && conv.kernel_fmt == KernelFormat::OIHW
            && *spec.kernel_shape == [3, 3]
            && spec.dilations.as_ref().is_none_or(|d| d.iter().all(|&d| d == 1))
            && node.inputs.len() == 3;
        if !plain {
            return Ok(None);
        }
        let strides = spec.strides.clone().unwrap_or_else(|| tvec!(1, 1));
        let stride = strides[0];
        if strides[1] != stride || !(1..=2).contains(&stride) {
            return Ok(None);
        }
        let Some((c, h, w)) = input.shape.as_concrete().and_then(|s| chw(s, spec.data_format)) else {
            return Ok(None);
        };
        let (Some(kernel), Some(bias)) =
            (&model.outlet_fact(node.inputs[1])?.konst, &model.outlet_fact(node.inputs[2])?.konst)
        else {
            return Ok(None);
        };
        let kernel_shape = [co, if depthwise { 1 } else { ci }, 3, 3];
        if c != ci || kernel.shape() != kernel_shape || kernel.datum_type() != f32::datum_type() {
            return Ok(None);
        }
        let Some(bias) = per_channel_bias(bias, co)? else { return Ok(None) };
        let padded = spec.padding.compute(&[h, w], &[3, 3], &[1, 1], &strides);
        let pad = [padded[0].pad_before, padded[1].pad_before, padded[0].pad_after, padded[1].pad_after];
        let geometry = Geometry { h, w, stride, pad };
        // Only where tract and this op agree on the output size (tract's `Same` and ONNX
        // pooling's ceil mode can disagree with a plain floor).
        if geometry.output() != Some((padded[0].convoluted, padded[1].convoluted)) {
            return Ok(None);
        }
        let weights = Arc::new(floats(kernel)?.to_vec());
        Ok(Some(Self { geometry, inputs: ci, outputs: co, depthwise, relu: false, weights, bias: Arc::new(bias) }))
    }

    /// The same op with the ReLU that follows it fused in.
    pub fn with_relu(mut self) -> Self {
        self.relu = true;
        self
    }

    /// Multiply-adds of one batch item.
    fn macs(&self) -> usize {
        let (ho, wo) = self.geometry.output().unwrap_or((0, 0));
        self.outputs * ho * wo * 9 * if self.depthwise { 1 } else { self.inputs }
    }

    fn taps(&self) -> Taps<'_> {
        Taps {
            weights: &self.weights,
            bias: &self.bias,
            full: (!self.depthwise).then_some(self.inputs),
            relu: self.relu,
            geometry: self.geometry,
        }
    }
}

impl Op for Conv3x3 {
    fn name(&self) -> StaticName {
        "FacecamConv3x3".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let g = &self.geometry;
        let kind = if self.depthwise { "depthwise" } else { "full" };
        Ok(vec![format!(
            "{kind} {}->{} at {}x{}, stride {}, pad {:?}, relu {}",
            self.inputs, self.outputs, g.h, g.w, g.stride, g.pad, self.relu
        )])
    }

    fn validation(&self) -> Validation {
        Validation::Rounding
    }

    op_as_typed_op!();
}

impl EvalOp for Conv3x3 {
    op_out_of_plan!();

    fn eval(&self, _: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let input = input.cast_to::<f32>()?;
        let g = &self.geometry;
        let (ho, wo) = g.output().context("the padded input is smaller than the 3x3 kernel")?;
        let shape = input.shape();
        anyhow::ensure!(
            shape.len() >= 3 && shape[shape.len() - 3..] == [self.inputs, g.h, g.w],
            "FacecamConv3x3 built for {}x{}x{} got {:?}",
            self.inputs,
            g.h,
            g.w,
            shape
        );
        let n: usize = shape[..shape.len() - 3].iter().product();
        let mut out_shape: TVec<usize> = shape.into();
        let rank = out_shape.len();
        out_shape[rank - 3..].copy_from_slice(&[self.outputs, ho, wo]);
        // SAFETY: every output value is written by `run` before it is read.
        let mut output = unsafe { Tensor::uninitialized::<f32>(&out_shape)? };
        let src = floats(&input)?;
        let mut view = output.try_as_plain_ram_mut()?;
        let dst = view.as_slice_mut::<f32>()?;
        let (ip, op) = (self.inputs * g.h * g.w, self.outputs * ho * wo);
        let taps = self.taps();
        for b in 0..n {
            self.eval_one(&src[b * ip..][..ip], &mut dst[b * op..][..op], &taps);
        }
        Ok(tvec!(output.into_tvalue()))
    }
}

impl Conv3x3 {
    /// One image: all its output planes, on tract's pool when it has one and the layer
    /// is worth it.
    fn eval_one(&self, src: &[f32], dst: &mut [f32], taps: &Taps) {
        let g = &self.geometry;
        let (ho, wo) = g.output().unwrap_or((0, 0));
        let (ip, op) = (g.h * g.w, ho * wo);
        let Some(pool) = pool_for(self.macs()).filter(|_| op > 0) else { return run(src, dst, 0, taps) };
        use rayon::prelude::*;
        // Two chunks of output planes per thread, to even out the load.
        let per = self.outputs.div_ceil(pool.current_num_threads() * 2).max(1);
        pool.install(|| {
            dst.par_chunks_mut(per * op).enumerate().for_each(|(i, out)| {
                let first = i * per;
                // Depthwise reads its own planes; a full convolution reads them all.
                let input = if self.depthwise { &src[first * ip..][..out.len() / op * ip] } else { src };
                run(input, out, first, taps);
            })
        });
    }
}

impl TypedOp for Conv3x3 {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let (ho, wo) = self.geometry.output().context("the padded input is smaller than the 3x3 kernel")?;
        let mut shape: TVec<TDim> = inputs[0].shape.to_tvec();
        let rank = shape.len();
        anyhow::ensure!(rank >= 3, "FacecamConv3x3 takes CHW or NCHW, not {:?}", inputs[0].shape);
        shape[rank - 3] = self.outputs.to_dim();
        shape[rank - 2] = ho.to_dim();
        shape[rank - 1] = wo.to_dim();
        Ok(tvec!(f32::fact(shape)))
    }

    fn cost(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        Ok(tvec!((Cost::FMA(f32::datum_type()), self.macs().to_dim())))
    }
}
