//! The arithmetic of 3x3 convolutions over planes: pad each input plane, (for stride 2)
//! split its rows into even and odd columns, then each output row is the nine taps over
//! nine contiguous slices, in one pass.
//!
//! Every inner loop walks equal-length slices in step, so the compiler vectorises it
//! without a per-pixel border test: the borders live in the zero-padded copy. tract's own
//! depthwise walks stride 2 one output pixel at a time (its SIMD row kernel takes stride 1
//! only), which is what this replaces.

#[cfg(target_arch = "x86_64")]
use super::isa::Avx2;
#[cfg(target_arch = "aarch64")]
use super::isa::Fused;
use super::isa::Isa;
#[cfg(not(target_arch = "aarch64"))]
use super::isa::Separate;

/// Geometry of one plane: input and output sizes, stride, zero padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// Input height, pixels.
    pub h: usize,
    /// Input width, pixels.
    pub w: usize,
    /// 1 or 2, the same along both axes.
    pub stride: usize,
    /// Zero padding: top, left, bottom, right.
    pub pad: [usize; 4],
}

impl Geometry {
    /// Padded height and width.
    pub fn padded(&self) -> (usize, usize) {
        (self.h + self.pad[0] + self.pad[2], self.w + self.pad[1] + self.pad[3])
    }

    /// Output height and width; `None` when the padded plane is smaller than the kernel.
    pub fn output(&self) -> Option<(usize, usize)> {
        let (hp, wp) = self.padded();
        if hp < 3 || wp < 3 || !(1..=2).contains(&self.stride) {
            return None;
        }
        Some(((hp - 3) / self.stride + 1, (wp - 3) / self.stride + 1))
    }

    /// Floats one [`prepare`]d plane takes: the padded copy and one row.
    pub fn prepared_len(&self) -> usize {
        let (hp, wp) = self.padded();
        (hp + 1) * wp
    }
}

/// One output row from all nine taps in one pass: `out[i]` = (`bias` if `FRESH`, else
/// `out[i]`) + Σ k[t]·s[t][i], clamped at 0 if `RELU`. One load and one store of each
/// output value, whatever the kernel.
#[inline(always)]
fn taps9<M: Isa, const FRESH: bool, const RELU: bool>(out: &mut [f32], s: [&[f32]; 9], k: &[f32], bias: f32) {
    let n = out.len();
    // Nine named slices of the same length, so that no access is bounds-checked and the
    // loop vectorises (an array of slices hides their lengths from the compiler).
    let (s0, s1, s2, s3, s4, s5, s6, s7, s8) =
        (&s[0][..n], &s[1][..n], &s[2][..n], &s[3][..n], &s[4][..n], &s[5][..n], &s[6][..n], &s[7][..n], &s[8][..n]);
    let k: &[f32; 9] = k[..9].try_into().unwrap();
    for i in 0..n {
        // Three independent sums of three taps (one per kernel row), so that the
        // multiply-adds do not wait on each other's latency nine deep.
        let a = M::mul_add(
            k[2],
            s2[i],
            M::mul_add(k[1], s1[i], M::mul_add(k[0], s0[i], if FRESH { bias } else { out[i] })),
        );
        let b = M::mul_add(k[5], s5[i], M::mul_add(k[4], s4[i], k[3] * s3[i]));
        let c = M::mul_add(k[8], s8[i], M::mul_add(k[7], s7[i], k[6] * s6[i]));
        let v = a + (b + c);
        out[i] = if RELU { v.max(0.0) } else { v };
    }
}

/// The nine input slices output row `yo` of a [`prepare`]d plane reads, in tap order.
#[inline(always)]
fn row_taps<'a>(prepared: &'a [f32], yo: usize, g: &Geometry) -> [&'a [f32]; 9] {
    let wp = g.padded().1;
    let row = |ky: usize| &prepared[(g.stride * yo + ky) * wp..][..wp];
    let (r0, r1, r2) = (row(0), row(1), row(2));
    if g.stride == 2 {
        let we = wp.div_ceil(2);
        let (e0, o0) = r0.split_at(we);
        let (e1, o1) = r1.split_at(we);
        let (e2, o2) = r2.split_at(we);
        [e0, o0, &e0[1..], e1, o1, &e1[1..], e2, o2, &e2[1..]]
    } else {
        [r0, &r0[1..], &r0[2..], r1, &r1[1..], &r1[2..], r2, &r2[1..], &r2[2..]]
    }
}

/// Padded row `yp` of `input` (h x w) into `row` (`wp` values): zeros, then the input row
/// at the left padding's offset, then zeros.
#[inline(always)]
fn pad_row(input: &[f32], g: &Geometry, yp: usize, row: &mut [f32]) {
    match yp.checked_sub(g.pad[0]).filter(|&y| y < g.h) {
        Some(y) => {
            row[..g.pad[1]].fill(0.0);
            row[g.pad[1]..g.pad[1] + g.w].copy_from_slice(&input[y * g.w..(y + 1) * g.w]);
            row[g.pad[1] + g.w..].fill(0.0);
        }
        None => row.fill(0.0),
    }
}

/// Pad one input plane into `prepared` ([`Geometry::prepared_len`] floats) and, for
/// stride 2, split every padded row into its even columns, then its odd ones, so that
/// output x reads `even[x]`, `odd[x]`, `even[x + 1]`: three contiguous slices.
#[inline(always)]
pub fn prepare<M: Isa>(input: &[f32], g: &Geometry, prepared: &mut [f32]) {
    let (hp, wp) = g.padded();
    let (padded, row) = prepared.split_at_mut(hp * wp);
    if g.stride == 2 {
        // Each padded row is built in the spare row, then split into its place.
        let (we, row) = (wp.div_ceil(2), &mut row[..wp]);
        for (yp, r) in padded.chunks_exact_mut(wp).enumerate() {
            pad_row(input, g, yp, row);
            let (even, odd) = r.split_at_mut(we);
            M::split_even_odd(row, even, odd);
        }
    } else {
        for (yp, r) in padded.chunks_exact_mut(wp).enumerate() {
            pad_row(input, g, yp, r);
        }
    }
}

/// Output row `yo` (`o`, wo values) += the 3x3 taps `k` over a [`prepare`]d plane.
#[inline(always)]
pub fn accumulate_row<M: Isa>(prepared: &[f32], o: &mut [f32], yo: usize, k: &[f32], g: &Geometry) {
    taps9::<M, false, false>(o, row_taps(prepared, yo, g), k, 0.0);
}

/// Clamp negative values to 0.
#[inline(always)]
pub fn relu(out: &mut [f32]) {
    out.iter_mut().for_each(|v| *v = v.max(0.0));
}

/// Stride-1 planes whose padded rows, laid end to end, take at most this many floats
/// are computed as one long row (see [`plane`]).
pub const MAX_FLAT: usize = 1536;

impl Geometry {
    /// Floats of the flat output [`plane`] computes a small stride-1 plane into; 0 when
    /// it goes row by row.
    pub fn flat_len(&self) -> usize {
        match self.output() {
            Some((ho, _)) if self.stride == 1 && ho * self.padded().1 <= MAX_FLAT && self.padded().1 >= 2 => {
                ho * self.padded().1
            }
            _ => 0,
        }
    }
}

/// One depthwise plane: `out` = bias + 3x3 taps `k` over `input`, then ReLU if asked.
/// `scratch` must hold [`Geometry::prepared_len`] + [`Geometry::flat_len`] floats.
///
/// A small stride-1 plane's rows are short (8 to 40 values: one or two vectors and a
/// scalar tail each), so it is computed as one long row instead: output position
/// `yo * wp + x` of the padded width reads the padded plane at the same offsets whatever
/// the row, and the `wp - wo` values past each row's end are computed and dropped.
#[inline(always)]
pub fn plane<M: Isa>(
    input: &[f32],
    out: &mut [f32],
    k: &[f32],
    bias: f32,
    fuse_relu: bool,
    g: &Geometry,
    scratch: &mut [f32],
) {
    let (prepared, flat) = scratch.split_at_mut(g.prepared_len());
    prepare::<M>(input, g, prepared);
    let n = g.flat_len();
    let Some((_, wo)) = g.output() else { return };
    if n == 0 {
        for (yo, o) in out.chunks_exact_mut(wo).enumerate() {
            let taps = row_taps(prepared, yo, g);
            if fuse_relu {
                taps9::<M, true, true>(o, taps, k, bias);
            } else {
                taps9::<M, true, false>(o, taps, k, bias);
            }
        }
        return;
    }
    let (flat, wp) = (&mut flat[..n], g.padded().1);
    // The same nine offsets as a row, over the whole plane: the last row's last taps
    // read up to 2 values into the spare row of `prepared`.
    let r = |ky: usize, kx: usize| &prepared[ky * wp + kx..][..n];
    let taps = [r(0, 0), r(0, 1), r(0, 2), r(1, 0), r(1, 1), r(1, 2), r(2, 0), r(2, 1), r(2, 2)];
    taps9::<M, true, false>(flat, taps, k, bias);
    for (o, f) in out.chunks_exact_mut(wo).zip(flat.chunks_exact(wp)) {
        o.copy_from_slice(&f[..wo]);
        if fuse_relu {
            relu(o);
        }
    }
}

/// One layer's taps: what [`run`] computes, plane by plane.
#[derive(Debug, Clone, Copy)]
pub struct Taps<'a> {
    /// Depthwise: 9 taps per channel. Full: 9 per (output, input) channel pair,
    /// output-major.
    pub weights: &'a [f32],
    /// One per output channel.
    pub bias: &'a [f32],
    /// Input channels each output channel sums over: `None` for depthwise (its own
    /// plane only), `Some(n)` for a full convolution over all `n`.
    pub full: Option<usize>,
    /// Whether negative outputs are clamped to 0 (a fused ReLU).
    pub relu: bool,
    /// Input and output plane sizes, stride and padding, shared by every channel.
    pub geometry: Geometry,
}

/// Output planes `first..` into `out` (whole planes, one after another), with the best
/// kernel this CPU runs. `input` holds, for depthwise, the same planes `first..`; for a
/// full convolution, every input plane.
pub fn run(input: &[f32], out: &mut [f32], first: usize, taps: &Taps) {
    let g = &taps.geometry;
    let need = match taps.full {
        Some(n) => g.prepared_len() * n,
        None => g.prepared_len() + g.flat_len(),
    };
    SCRATCH.with_borrow_mut(|scratch| {
        if scratch.len() < need {
            scratch.resize(need, 0.0);
        }
        dispatch(input, out, first, taps, &mut scratch[..need]);
    })
}

/// The plane loop, for one way of multiplying and adding.
#[inline(always)]
fn run_with<M: Isa>(input: &[f32], out: &mut [f32], first: usize, t: &Taps, scratch: &mut [f32]) {
    let g = &t.geometry;
    let Some((ho, wo)) = g.output() else { return };
    let (ip, op, plen) = (g.h * g.w, ho * wo, g.prepared_len());
    match t.full {
        None => {
            for (i, dst) in out.chunks_exact_mut(op).enumerate() {
                let c = first + i;
                plane::<M>(&input[i * ip..][..ip], dst, &t.weights[9 * c..][..9], t.bias[c], t.relu, g, scratch);
            }
        }
        Some(n) => {
            for (ci, prepared) in scratch.chunks_exact_mut(plen).take(n).enumerate() {
                prepare::<M>(&input[ci * ip..][..ip], g, prepared);
            }
            // Row by row, every output channel: the few input rows one output row reads
            // stay in the first-level cache while all output channels use them.
            let outputs = out.len() / op;
            for yo in 0..ho {
                for i in 0..outputs {
                    let (co, o) = (first + i, &mut out[i * op + yo * wo..][..wo]);
                    o.fill(t.bias[co]);
                    for (ci, prepared) in scratch.chunks_exact(plen).take(n).enumerate() {
                        accumulate_row::<M>(prepared, o, yo, &t.weights[9 * (co * n + ci)..][..9], g);
                    }
                    if t.relu {
                        relu(o);
                    }
                }
            }
        }
    }
}

thread_local! {
    /// Each thread's padded copies, kept between calls.
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[cfg(target_arch = "x86_64")]
fn dispatch(input: &[f32], out: &mut [f32], first: usize, t: &Taps, scratch: &mut [f32]) {
    /// The same loop compiled for AVX2 and FMA: eight lanes, fused multiply-adds.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2(input: &[f32], out: &mut [f32], first: usize, t: &Taps, scratch: &mut [f32]) {
        run_with::<Avx2>(input, out, first, t, scratch)
    }
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has both features, checked just above.
        unsafe { avx2(input, out, first, t, scratch) }
    } else {
        run_with::<Separate>(input, out, first, t, scratch)
    }
}

#[cfg(target_arch = "aarch64")]
fn dispatch(input: &[f32], out: &mut [f32], first: usize, t: &Taps, scratch: &mut [f32]) {
    // NEON and its fused multiply-add are part of every aarch64 CPU.
    run_with::<Fused>(input, out, first, t, scratch)
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn dispatch(input: &[f32], out: &mut [f32], first: usize, t: &Taps, scratch: &mut [f32]) {
    run_with::<Separate>(input, out, first, t, scratch)
}
