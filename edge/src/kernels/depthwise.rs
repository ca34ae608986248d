//! `FacecamDepthwise3x3`: a depthwise 3x3 convolution (stride 1 or 2) with its bias and,
//! when the graph has one right after it, its ReLU fused in, as a tract op.
//!
//! [`DepthwiseConv::from_conv`] decides whether a decluttered tract `Conv` node is one
//! this op covers (float, NCHW or CHW, OIHW weights and a bias known at load, 3x3, no dilation,
//! the same stride 1 or 2 on both axes, zero padding); any other convolution stays
//! tract's own. The planes are split over tract's thread pool when it has one.

use super::floats;
use super::plane::{planes, Geometry};
use std::sync::Arc;
use tract_core::internal::*;
use tract_core::ops::cnn::{Conv, KernelFormat};
use tract_core::ops::nn::DataFormat;
use tract_linalg::multithread::{current_tract_executor, Executor};

/// Fewer multiply-adds than this run on the calling thread: handing a small layer to
/// the pool costs more than it saves.
const MIN_PARALLEL_MACS: usize = 200_000;

/// A depthwise 3x3 convolution with bias, optionally followed by ReLU.
#[derive(Debug, Clone)]
pub struct DepthwiseConv {
    /// Per-plane geometry (the input's height and width, stride, padding).
    pub geometry: Geometry,
    /// Channels (input = output).
    pub channels: usize,
    /// Whether negative outputs are clamped to 0 (a fused ReLU).
    pub relu: bool,
    /// `channels * 9` taps, channel-major, row-major within a channel.
    weights: Arc<Vec<f32>>,
    /// One bias per channel.
    bias: Arc<Vec<f32>>,
}

impl PartialEq for DepthwiseConv {
    fn eq(&self, other: &Self) -> bool {
        self.geometry == other.geometry
            && self.channels == other.channels
            && self.relu == other.relu
            && self.weights == other.weights
            && self.bias == other.bias
    }
}
impl Eq for DepthwiseConv {}

impl DepthwiseConv {
    /// The op for a tract `Conv` node of `model`, or `None` when this op does not cover it.
    pub fn from_conv(model: &TypedModel, node: &TypedNode) -> TractResult<Option<Self>> {
        let Some(conv) = node.op_as::<Conv>() else { return Ok(None) };
        let spec = &conv.pool_spec;
        let channels = spec.input_channels;
        let input = model.outlet_fact(node.inputs[0])?;
        let plain = conv.q_params.is_none()
            && input.datum_type == f32::datum_type()
            && channels > 1
            && conv.group == channels
            && spec.output_channels == channels
            && matches!(spec.data_format, DataFormat::NCHW | DataFormat::CHW)
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
        let Some(shape) = input.shape.as_concrete() else { return Ok(None) };
        // NCHW with one image, or CHW (tract's declutter drops a batch axis of one).
        let (c, h, w) = match *shape {
            [1, c, h, w] if spec.data_format == DataFormat::NCHW => (c, h, w),
            [c, h, w] if spec.data_format == DataFormat::CHW => (c, h, w),
            _ => return Ok(None),
        };
        let (Some(kernel), Some(bias)) =
            (&model.outlet_fact(node.inputs[1])?.konst, &model.outlet_fact(node.inputs[2])?.konst)
        else {
            return Ok(None);
        };
        if c != channels || kernel.shape() != [channels, 1, 3, 3] || kernel.datum_type() != f32::datum_type() {
            return Ok(None);
        }
        let bias = match (bias.datum_type() == f32::datum_type(), bias.len()) {
            (true, n) if n == channels => floats(bias)?.to_vec(),
            (true, 1) => vec![floats(bias)?[0]; channels],
            _ => return Ok(None),
        };
        let padded = spec.padding.compute(&[h, w], &[3, 3], &[1, 1], &strides);
        let pad = [padded[0].pad_before, padded[1].pad_before, padded[0].pad_after, padded[1].pad_after];
        let geometry = Geometry { h, w, stride, pad };
        // Only where tract and this op agree on the output size (tract's `Same` and ONNX
        // pooling's ceil mode can disagree with a plain floor).
        if geometry.output() != Some((padded[0].convoluted, padded[1].convoluted)) {
            return Ok(None);
        }
        let weights = floats(kernel)?.to_vec();
        Ok(Some(Self { geometry, channels, relu: false, weights: Arc::new(weights), bias: Arc::new(bias) }))
    }

    /// Multiply-adds of one batch item.
    fn macs(&self) -> usize {
        let (ho, wo) = self.geometry.output().unwrap_or((0, 0));
        self.channels * ho * wo * 9
    }
}

impl Op for DepthwiseConv {
    fn name(&self) -> StaticName {
        "FacecamDepthwise3x3".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let g = &self.geometry;
        Ok(vec![format!("{}x{}x{} stride {} pad {:?} relu {}", self.channels, g.h, g.w, g.stride, g.pad, self.relu)])
    }

    fn validation(&self) -> Validation {
        Validation::Rounding
    }

    op_as_typed_op!();
}

impl EvalOp for DepthwiseConv {
    op_out_of_plan!();

    fn eval(&self, _: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let input = input.cast_to::<f32>()?;
        let g = &self.geometry;
        let (ho, wo) = g.output().context("the padded input is smaller than the 3x3 kernel")?;
        let shape = input.shape();
        anyhow::ensure!(
            shape.len() >= 3 && shape[shape.len() - 3..] == [self.channels, g.h, g.w],
            "FacecamDepthwise3x3 built for {}x{}x{} got {:?}",
            self.channels,
            g.h,
            g.w,
            shape
        );
        let n: usize = shape[..shape.len() - 3].iter().product();
        let mut out_shape: TVec<usize> = shape.into();
        out_shape[shape.len() - 2..].copy_from_slice(&[ho, wo]);
        // SAFETY: every output value is written by `planes` before it is read.
        let mut output = unsafe { Tensor::uninitialized::<f32>(&out_shape)? };
        let src = floats(&input)?;
        let mut view = output.try_as_plain_ram_mut()?;
        let dst = view.as_slice_mut::<f32>()?;
        let (ip, op) = (g.h * g.w, ho * wo);
        let pool = match current_tract_executor() {
            Executor::MultiThread(pool) if self.macs() >= MIN_PARALLEL_MACS => Some(pool),
            _ => None,
        };
        for b in 0..n {
            let src = &src[b * self.channels * ip..][..self.channels * ip];
            let dst = &mut dst[b * self.channels * op..][..self.channels * op];
            match &pool {
                Some(pool) => {
                    use rayon::prelude::*;
                    // One chunk of planes per thread (and a few more to even out the load).
                    let per = self.channels.div_ceil(pool.current_num_threads() * 2).max(1);
                    pool.install(|| {
                        dst.par_chunks_mut(per * op).enumerate().for_each(|(i, out)| {
                            let first = i * per;
                            let planes_here = out.len() / op;
                            let input = &src[first * ip..][..planes_here * ip];
                            planes(input, out, &self.weights, &self.bias, first, self.relu, g);
                        })
                    });
                }
                None => planes(src, dst, &self.weights, &self.bias, 0, self.relu, g),
            }
        }
        drop(view);
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for DepthwiseConv {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let (ho, wo) = self.geometry.output().context("the padded input is smaller than the 3x3 kernel")?;
        let mut shape: TVec<TDim> = inputs[0].shape.to_tvec();
        let rank = shape.len();
        anyhow::ensure!(rank >= 3, "FacecamDepthwise3x3 takes CHW or NCHW, not {:?}", inputs[0].shape);
        shape[rank - 2] = ho.to_dim();
        shape[rank - 1] = wo.to_dim();
        Ok(tvec!(f32::fact(shape)))
    }

    fn cost(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        Ok(tvec!((Cost::FMA(f32::datum_type()), self.macs().to_dim())))
    }
}

/// Set the fused ReLU (used by the patcher when a ReLU follows the convolution).
impl DepthwiseConv {
    pub fn with_relu(mut self) -> Self {
        self.relu = true;
        self
    }
}
