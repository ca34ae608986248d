//! The arithmetic of a 1x1 convolution: `out[o, p] = bias[o] + Σ_i w[o, i] · x[i, p]`,
//! planes in, planes out, with no packing of either operand.
//!
//! A face detector's pointwise layers have few input channels (16 to 256) and many
//! pixels, so the product is bound by reading the activation, not by arithmetic: tract
//! copies (packs) the whole activation into panels before its matrix kernel runs, which
//! cost as much as a third of the product. Here a block of [`MR`] output channels x
//! [`NR`] pixels is kept in registers while the input channels stream past it, reading
//! each activation row in place.

#[cfg(target_arch = "x86_64")]
use super::isa::Avx2;
#[cfg(target_arch = "aarch64")]
use super::isa::Fused;
use super::isa::Isa;
#[cfg(not(target_arch = "aarch64"))]
use super::isa::Separate;

/// Output channels per register block.
pub const MR: usize = 4;
/// Pixels per register block (three AVX2 vectors, six NEON ones): 4 x 24 accumulators
/// measured fastest here among 2..8 x 8..32 (docs/BENCHMARKS.md).
pub const NR: usize = 24;

/// A pointwise layer's operands.
#[derive(Debug, Clone, Copy)]
pub struct Pointwise<'a> {
    /// `[outputs, inputs]`, row-major.
    pub weights: &'a [f32],
    /// One per output channel.
    pub bias: &'a [f32],
    /// Input channels: the length of each row of `weights`.
    pub inputs: usize,
    /// Whether negative outputs are clamped to 0 (a fused ReLU).
    pub relu: bool,
}

/// One block of `mr` (≤ MR) output channels from `first`, pixels `p0..p0 + NR`.
#[inline(always)]
fn block<M: Isa, const ROWS: usize>(x: &[f32], pixels: usize, p0: usize, first: usize, l: &Pointwise, out: &mut [f32]) {
    let k = l.inputs;
    let mut acc = [[0f32; NR]; ROWS];
    for (j, a) in acc.iter_mut().enumerate() {
        *a = [l.bias[first + j]; NR];
    }
    for i in 0..k {
        let xs: &[f32; NR] = x[i * pixels + p0..][..NR].try_into().unwrap();
        for (j, a) in acc.iter_mut().enumerate() {
            let w = l.weights[(first + j) * k + i];
            for (v, &xv) in a.iter_mut().zip(xs) {
                *v = M::mul_add(w, xv, *v);
            }
        }
    }
    for (j, a) in acc.iter().enumerate() {
        let dst = &mut out[j * pixels + p0..][..NR];
        if l.relu {
            dst.iter_mut().zip(a).for_each(|(d, &v)| *d = v.max(0.0));
        } else {
            dst.copy_from_slice(a);
        }
    }
}

/// The pixels past the last whole block (fewer than [`NR`]): copied into a block of
/// their own, zero-padded, run as a whole block, and the valid part copied out.
#[inline(always)]
fn tail<M: Isa>(x: &[f32], pixels: usize, p0: usize, first: usize, l: &Pointwise, out: &mut [f32]) {
    let (k, rem) = (l.inputs, pixels - p0);
    let mut xt = vec![0f32; k * NR];
    for (i, row) in xt.chunks_exact_mut(NR).enumerate() {
        row[..rem].copy_from_slice(&x[i * pixels + p0..][..rem]);
    }
    let rows = out.len() / pixels;
    let mut block_out = [0f32; MR * NR];
    for j in (0..rows).step_by(MR) {
        let n = MR.min(rows - j);
        if n == MR {
            block::<M, MR>(&xt, NR, 0, first + j, l, &mut block_out);
        } else {
            for r in 0..n {
                block::<M, 1>(&xt, NR, 0, first + j + r, l, &mut block_out[r * NR..(r + 1) * NR]);
            }
        }
        for r in 0..n {
            out[(j + r) * pixels + p0..][..rem].copy_from_slice(&block_out[r * NR..][..rem]);
        }
    }
}

/// Output channels `first..` (as many as `out` holds planes of `pixels`) from `x`, all
/// `inputs` planes of `pixels`.
#[inline(always)]
fn pointwise_with<M: Isa>(x: &[f32], out: &mut [f32], pixels: usize, first: usize, l: &Pointwise) {
    if pixels == 0 {
        return;
    }
    let rows = out.len() / pixels;
    let whole = pixels / NR * NR;
    let blocked = rows / MR * MR;
    // Pixel blocks outside, output channels inside: one block of the activation (all its
    // input channels, NR pixels) stays in the first-level cache for every output channel.
    for p0 in (0..whole).step_by(NR) {
        for j in (0..blocked).step_by(MR) {
            block::<M, MR>(x, pixels, p0, first + j, l, &mut out[j * pixels..(j + MR) * pixels]);
        }
        for j in blocked..rows {
            block::<M, 1>(x, pixels, p0, first + j, l, &mut out[j * pixels..(j + 1) * pixels]);
        }
    }
    if whole < pixels {
        tail::<M>(x, pixels, whole, first, l, out);
    }
}

/// `pointwise_with` with the best multiply-add this CPU has.
pub fn pointwise(x: &[f32], out: &mut [f32], pixels: usize, first: usize, l: &Pointwise) {
    #[cfg(target_arch = "x86_64")]
    {
        /// The same loops compiled for AVX2 and FMA.
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2(x: &[f32], out: &mut [f32], pixels: usize, first: usize, l: &Pointwise) {
            pointwise_with::<Avx2>(x, out, pixels, first, l)
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has both features, checked just above.
            return unsafe { avx2(x, out, pixels, first, l) };
        }
        pointwise_with::<Separate>(x, out, pixels, first, l)
    }
    #[cfg(target_arch = "aarch64")]
    pointwise_with::<Fused>(x, out, pixels, first, l);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    pointwise_with::<Separate>(x, out, pixels, first, l);
}
