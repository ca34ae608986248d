//! `FacecamUpsample2x`: a depthwise transposed convolution with a 2x2 kernel at stride 2,
//! as a tract op.
//!
//! This is how facecam's exporter writes the laterals' nearest 2x upsampling (a kernel of
//! ones; see `host-train`'s export): each input value lands in its own 2x2 block, scaled
//! by the channel's four taps, plus the bias. No two taps overlap, so every output value
//! is one multiply-add: tract's general `DepthwiseDeconv` walk costs far more than that.

use super::{chw, floats, per_channel_bias};
use std::sync::Arc;
use tract_core::internal::*;
use tract_core::ops::cnn::{Deconv, KernelFormat};

/// A depthwise 2x2 stride-2 transposed convolution (no padding, no output adjustment).
#[derive(Debug, Clone)]
pub struct Upsample2x {
    /// Channels, in and out (each output plane comes from its own input plane).
    pub channels: usize,
    /// Input height, pixels (the output is twice as tall).
    pub h: usize,
    /// Input width, pixels (the output is twice as wide).
    pub w: usize,
    /// 4 taps per channel, row-major.
    weights: Arc<Vec<f32>>,
    /// One bias per channel.
    bias: Arc<Vec<f32>>,
}

impl PartialEq for Upsample2x {
    fn eq(&self, other: &Self) -> bool {
        (self.channels, self.h, self.w) == (other.channels, other.h, other.w)
            && self.weights == other.weights
            && self.bias == other.bias
    }
}
impl Eq for Upsample2x {}

impl Upsample2x {
    /// The op for a tract `Deconv` node of `model`, or `None` when this op does not cover it.
    pub fn from_deconv(model: &TypedModel, node: &TypedNode) -> TractResult<Option<Self>> {
        let Some(deconv) = node.op_as::<Deconv>() else { return Ok(None) };
        let spec = &deconv.pool_spec;
        let c = spec.input_channels;
        let input = model.outlet_fact(node.inputs[0])?;
        let ok = input.datum_type == f32::datum_type()
            && c > 1
            && deconv.group == c
            && spec.output_channels == c
            && deconv.kernel_format == KernelFormat::OIHW
            && *spec.kernel_shape == [2, 2]
            && spec.strides.as_deref() == Some(&[2, 2][..])
            && spec.dilations.as_ref().is_none_or(|d| d.iter().all(|&d| d == 1))
            && deconv.adjustments.iter().all(|&a| a == 0)
            && matches!(&spec.padding, tract_core::ops::cnn::PaddingSpec::Explicit(b, a)
                if b.iter().chain(a.iter()).all(|&p| p == 0))
            && node.inputs.len() == 3;
        if !ok {
            return Ok(None);
        }
        let Some((cc, h, w)) = input.shape.as_concrete().and_then(|s| chw(s, spec.data_format)) else {
            return Ok(None);
        };
        if cc != c {
            return Ok(None);
        }
        let (Some(kernel), Some(bias)) =
            (&model.outlet_fact(node.inputs[1])?.konst, &model.outlet_fact(node.inputs[2])?.konst)
        else {
            return Ok(None);
        };
        if kernel.shape() != [c, 1, 2, 2] || kernel.datum_type() != f32::datum_type() {
            return Ok(None);
        }
        let Some(bias) = per_channel_bias(bias, c)? else { return Ok(None) };
        let weights = Arc::new(floats(kernel)?.to_vec());
        Ok(Some(Self { channels: c, h, w, weights, bias: Arc::new(bias) }))
    }
}

/// Upsample planes `[c, h, w]` into `[c, 2h, 2w]`.
pub fn upsample(src: &[f32], dst: &mut [f32], (c, h, w): (usize, usize, usize), weights: &[f32], bias: &[f32]) {
    if h == 0 || w == 0 {
        return;
    }
    for (ch, (plane, out)) in src.chunks_exact(h * w).zip(dst.chunks_exact_mut(4 * h * w)).take(c).enumerate() {
        let (k, b) = (&weights[4 * ch..][..4], bias[ch]);
        for (row, out2) in plane.chunks_exact(w).zip(out.chunks_exact_mut(4 * w)) {
            let (top, bottom) = out2.split_at_mut(2 * w);
            for (x, &v) in row.iter().enumerate() {
                top[2 * x] = v * k[0] + b;
                top[2 * x + 1] = v * k[1] + b;
                bottom[2 * x] = v * k[2] + b;
                bottom[2 * x + 1] = v * k[3] + b;
            }
        }
    }
}

impl Op for Upsample2x {
    fn name(&self) -> StaticName {
        "FacecamUpsample2x".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("{} channels, {}x{} -> {}x{}", self.channels, self.h, self.w, 2 * self.h, 2 * self.w)])
    }

    fn validation(&self) -> Validation {
        Validation::Rounding
    }

    op_as_typed_op!();
}

impl EvalOp for Upsample2x {
    op_out_of_plan!();

    fn eval(&self, _: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let input = input.cast_to::<f32>()?;
        let shape = input.shape();
        let (c, h, w) = (self.channels, self.h, self.w);
        anyhow::ensure!(
            shape.len() >= 3 && shape[shape.len() - 3..] == [c, h, w],
            "FacecamUpsample2x built for {c}x{h}x{w} got {shape:?}"
        );
        let mut out_shape: TVec<usize> = shape.into();
        let rank = out_shape.len();
        out_shape[rank - 2..].copy_from_slice(&[2 * h, 2 * w]);
        // SAFETY: `upsample` writes every value of each image's planes.
        let mut output = unsafe { Tensor::uninitialized::<f32>(&out_shape)? };
        let src = floats(&input)?;
        let mut view = output.try_as_plain_ram_mut()?;
        let dst = view.as_slice_mut::<f32>()?;
        let n: usize = shape[..rank - 3].iter().product();
        for b in 0..n {
            let (ip, op) = (c * h * w, 4 * c * h * w);
            upsample(&src[b * ip..][..ip], &mut dst[b * op..][..op], (c, h, w), &self.weights, &self.bias);
        }
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for Upsample2x {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape: TVec<TDim> = inputs[0].shape.to_tvec();
        let rank = shape.len();
        anyhow::ensure!(rank >= 3, "FacecamUpsample2x takes CHW or NCHW, not {:?}", inputs[0].shape);
        shape[rank - 2] = (2 * self.h).to_dim();
        shape[rank - 1] = (2 * self.w).to_dim();
        Ok(tvec!(f32::fact(shape)))
    }
}
