//! `FacecamSoftmax2`: a softmax over an axis of two values (background, face), as a tract op.
//!
//! Over two values softmax is a logistic: `p1 = 1 / (1 + e^(x0 - x1))` and `p0 = 1 - p1`.
//! Written as `e = e^-|x1 - x0|`, the larger class gets `1 / (1 + e)` and the smaller
//! `e / (1 + e)`: one exponential per prior and no overflow. tract's own softmax walks
//! each prior's pair as a lane of its own (set-up per pair), which cost ~9% of the
//! shipped detector's time in its profile.

use tract_core::internal::*;
use tract_core::ops::nn::{Softmax, SoftmaxKind};

/// Softmax over `axis`, which has exactly two values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PairSoftmax {
    /// The axis the two values lie along.
    pub axis: usize,
}

impl PairSoftmax {
    /// The op for a tract `Softmax` node of `model`, or `None` when it is not a float
    /// softmax over one axis of two.
    pub fn from_softmax(model: &TypedModel, node: &TypedNode) -> TractResult<Option<Self>> {
        let Some(softmax) = node.op_as::<Softmax>() else { return Ok(None) };
        let input = model.outlet_fact(node.inputs[0])?;
        let ok = matches!(softmax.kind, SoftmaxKind::Softmax)
            && softmax.quant_output_dt.is_none()
            && input.datum_type == f32::datum_type()
            && softmax.axes.len() == 1
            && input.shape.get(softmax.axes[0]).and_then(|d| d.to_usize().ok()) == Some(2);
        Ok(ok.then(|| Self { axis: softmax.axes[0] }))
    }
}

/// Softmax of each pair `(x[o, 0, i], x[o, 1, i])` of a tensor laid out as
/// `[outer, 2, inner]`, into `out` (same layout).
pub fn pair_softmax(x: &[f32], out: &mut [f32], inner: usize) {
    if inner == 0 {
        return; // an empty tensor
    }
    for (src, dst) in x.chunks_exact(2 * inner).zip(out.chunks_exact_mut(2 * inner)) {
        let (x0, x1) = src.split_at(inner);
        let (p0, p1) = dst.split_at_mut(inner);
        for i in 0..inner {
            let d = x1[i] - x0[i];
            let e = (-d.abs()).exp();
            let (big, small) = (1.0 / (1.0 + e), e / (1.0 + e));
            // NaN logits give NaN probabilities, as tract's softmax does.
            let (a, b) = if d >= 0.0 {
                (small, big)
            } else if d < 0.0 {
                (big, small)
            } else {
                (f32::NAN, f32::NAN)
            };
            p0[i] = a;
            p1[i] = b;
        }
    }
}

impl Op for PairSoftmax {
    fn name(&self) -> StaticName {
        "FacecamSoftmax2".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("axis {}", self.axis)])
    }

    fn validation(&self) -> Validation {
        Validation::Rounding
    }

    op_as_typed_op!();
}

impl EvalOp for PairSoftmax {
    op_out_of_plan!();

    fn eval(&self, _: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let input = input.cast_to::<f32>()?;
        let shape = input.shape();
        anyhow::ensure!(shape.get(self.axis) == Some(&2), "FacecamSoftmax2 over axis {} of {:?}", self.axis, shape);
        let inner: usize = shape[self.axis + 1..].iter().product();
        // SAFETY: `pair_softmax` writes every value (the chunks cover the whole tensor).
        let mut output = unsafe { Tensor::uninitialized::<f32>(shape)? };
        pair_softmax(super::floats(&input)?, output.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?, inner);
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for PairSoftmax {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(inputs[0].shape.clone())))
    }
}
