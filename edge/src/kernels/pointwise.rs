//! `FacecamPointwise`: a 1x1 convolution, with the bias added after it and the ReLU after
//! that fused in, as a tract op.
//!
//! tract's declutter turns a 1x1 convolution into an `EinSum` (`IHW,OI->OHW`, with or
//! without a batch axis of one, or `->HWO` with the channels last when a reshape into
//! one row per prior follows), then an `Add` of the bias and, for ONNX's Relu, a `Max`
//! with zero. [`Pointwise1x1::from_einsum`] recognises that chain; the arithmetic is in
//! [`super::gemm`]. Output channels are split over tract's thread pool when it has one.

use super::gemm::{pointwise, Pointwise};
use super::{floats, pool_for};
use std::sync::Arc;
use tract_core::internal::*;
use tract_core::ops::einsum::EinSum;

/// The einsum spellings of a 1x1 convolution over planes (`N` is a batch axis of one).
const SPELLINGS: [&str; 4] = ["IHW,OI->OHW", "NIHW,OI->OHW", "IHW,OI->NOHW", "NIHW,OI->NOHW"];

/// The same with the output channels last (a detection head whose output is reshaped
/// into one row per prior).
const SPELLINGS_CHANNELS_LAST: [&str; 4] = ["IHW,OI->HWO", "NIHW,OI->HWO", "IHW,OI->NHWO", "NIHW,OI->NHWO"];

/// A 1x1 convolution with bias, optionally followed by ReLU.
#[derive(Debug, Clone)]
pub struct Pointwise1x1 {
    /// Input channels.
    pub inputs: usize,
    /// Output channels.
    pub outputs: usize,
    /// Pixels per plane.
    pub pixels: usize,
    /// Whether negative outputs are clamped to 0 (a fused ReLU).
    pub relu: bool,
    /// Output `[H, W, O]` (channels last) rather than `[O, H, W]`.
    pub channels_last: bool,
    /// `[outputs, inputs]`, row-major.
    weights: Arc<Vec<f32>>,
    bias: Arc<Vec<f32>>,
    /// The output's shape (the einsum's, with or without the batch axis).
    shape: TVec<usize>,
}

impl PartialEq for Pointwise1x1 {
    fn eq(&self, other: &Self) -> bool {
        (self.inputs, self.outputs, self.pixels, self.relu, self.channels_last, &self.shape)
            == (other.inputs, other.outputs, other.pixels, other.relu, other.channels_last, &other.shape)
            && self.weights == other.weights
            && self.bias == other.bias
    }
}
impl Eq for Pointwise1x1 {}

impl Pointwise1x1 {
    /// The op for a tract `EinSum` node of `model` that is a 1x1 convolution over planes
    /// with constant weights, or `None`. Its bias is zero until [`Self::with_bias`].
    pub fn from_einsum(model: &TypedModel, node: &TypedNode) -> TractResult<Option<Self>> {
        let Some(einsum) = node.op_as::<EinSum>() else { return Ok(None) };
        let spelling = einsum.axes.to_string();
        let channels_last = SPELLINGS_CHANNELS_LAST.contains(&spelling.as_str());
        if einsum.q_params.is_some()
            || einsum.operating_dt != f32::datum_type()
            || node.inputs.len() != 2
            || !(channels_last || SPELLINGS.contains(&spelling.as_str()))
        {
            return Ok(None);
        }
        let x = model.outlet_fact(node.inputs[0])?;
        let w = model.outlet_fact(node.inputs[1])?;
        let out = model.outlet_fact(OutletId::new(node.id, 0))?;
        let (Some(xs), Some(os), Some(k)) = (x.shape.as_concrete(), out.shape.as_concrete(), &w.konst) else {
            return Ok(None);
        };
        if x.datum_type != f32::datum_type() || k.datum_type() != f32::datum_type() || k.rank() != 2 {
            return Ok(None);
        }
        let (o, i) = (k.shape()[0], k.shape()[1]);
        let shape: TVec<usize> = os.into();
        let (Some(&[xi, h, w]), Some(&[a, b, c])) = (strip_batch(xs), strip_batch(os)) else { return Ok(None) };
        let (oo, oh, ow) = if channels_last { (c, a, b) } else { (a, b, c) };
        if xi != i || oo != o || (oh, ow) != (h, w) {
            return Ok(None);
        }
        Ok(Some(Self {
            inputs: i,
            outputs: o,
            pixels: h * w,
            relu: false,
            channels_last,
            weights: Arc::new(floats(k)?.to_vec()),
            bias: Arc::new(vec![0.0; o]),
            shape,
        }))
    }

    /// The same op with a per-channel bias added (`bias` holds one value per output).
    pub fn with_bias(mut self, bias: Vec<f32>) -> Self {
        self.bias = Arc::new(bias);
        self
    }

    /// The same op with the ReLU that follows it fused in.
    pub fn with_relu(mut self) -> Self {
        self.relu = true;
        self
    }

    fn layer(&self) -> Pointwise<'_> {
        Pointwise { weights: &self.weights, bias: &self.bias, inputs: self.inputs, relu: self.relu }
    }
}

/// A shape without its leading axis when that is a batch of one, as `[C, H, W]`.
fn strip_batch(shape: &[usize]) -> Option<&[usize]> {
    match shape {
        [1, rest @ ..] if rest.len() == 3 => Some(rest),
        s if s.len() == 3 => Some(s),
        _ => None,
    }
}

impl Op for Pointwise1x1 {
    fn name(&self) -> StaticName {
        "FacecamPointwise".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let layout = if self.channels_last { ", channels last" } else { "" };
        Ok(vec![format!("{}->{} over {} pixels, relu {}{layout}", self.inputs, self.outputs, self.pixels, self.relu)])
    }

    fn validation(&self) -> Validation {
        Validation::Rounding
    }

    op_as_typed_op!();
}

impl EvalOp for Pointwise1x1 {
    op_out_of_plan!();

    fn eval(&self, _: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let input = input.cast_to::<f32>()?;
        anyhow::ensure!(
            input.len() == self.inputs * self.pixels,
            "FacecamPointwise built for {} planes of {} got {:?}",
            self.inputs,
            self.pixels,
            input.shape()
        );
        // SAFETY: `pointwise` writes every output value.
        let mut output = unsafe { Tensor::uninitialized::<f32>(&self.shape)? };
        let src = floats(&input)?;
        let mut view = output.try_as_plain_ram_mut()?;
        let dst = view.as_slice_mut::<f32>()?;
        let layer = self.layer();
        let p = self.pixels;
        if self.channels_last {
            // A head: few output channels. Computed as planes, then written channels last.
            let mut planes = vec![0f32; self.outputs * p];
            pointwise(src, &mut planes, p, 0, &layer);
            for (px, row) in dst.chunks_exact_mut(self.outputs).enumerate() {
                for (o, v) in row.iter_mut().enumerate() {
                    *v = planes[o * p + px];
                }
            }
            return Ok(tvec!(output.into_tvalue()));
        }
        match pool_for(self.inputs * self.outputs * p).filter(|_| p > 0) {
            Some(pool) => {
                use rayon::prelude::*;
                // Whole register blocks of output channels, two chunks per thread.
                let per = self.outputs.div_ceil(pool.current_num_threads() * 2).next_multiple_of(super::gemm::MR);
                pool.install(|| {
                    dst.par_chunks_mut(per * p).enumerate().for_each(|(i, out)| pointwise(src, out, p, i * per, &layer))
                });
            }
            _ => pointwise(src, dst, p, 0, &layer),
        }
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for Pointwise1x1 {
    as_op!();

    fn output_facts(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(&*self.shape)))
    }

    fn cost(&self, _inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        Ok(tvec!((Cost::FMA(f32::datum_type()), (self.inputs * self.outputs * self.pixels).to_dim())))
    }
}
