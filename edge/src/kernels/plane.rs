//! The arithmetic of one depthwise 3x3 plane: pad, (for stride 2) split even and odd
//! columns, then nine taps as three contiguous row sums per input row.
//!
//! Every inner loop walks equal-length slices in step, so the compiler vectorises it
//! without a per-pixel border test: the borders live in the zero-padded copy. tract's own
//! depthwise walks stride 2 one output pixel at a time (its SIMD row kernel takes stride 1
//! only), which is what this replaces.

/// Geometry of one plane: input and output sizes, stride, zero padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// Input height and width.
    pub h: usize,
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

/// Whether multiply-adds are fused (one rounding) or a multiply then an add.
pub trait MulAdd {
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

/// `a * b + c` with two roundings: every target, no FMA unit needed.
pub struct Separate;
impl MulAdd for Separate {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// `a * b + c` with one rounding: only where the CPU has FMA (else a slow libm call).
pub struct Fused;
impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

/// One output row += three taps over three equal-length input slices.
#[inline(always)]
fn taps3<M: MulAdd>(out: &mut [f32], a: &[f32], b: &[f32], c: &[f32], k: &[f32]) {
    let n = out.len();
    let (a, b, c) = (&a[..n], &b[..n], &c[..n]);
    let (k0, k1, k2) = (k[0], k[1], k[2]);
    for i in 0..n {
        out[i] = M::mul_add(k2, c[i], M::mul_add(k1, b[i], M::mul_add(k0, a[i], out[i])));
    }
}

/// Copy `input` (h x w) into `dst` with zero padding, one row of `wp` per padded row.
#[inline(always)]
fn pad_into(input: &[f32], g: &Geometry, dst: &mut [f32]) {
    let (hp, wp) = g.padded();
    for (yp, row) in dst.chunks_exact_mut(wp).take(hp).enumerate() {
        match yp.checked_sub(g.pad[0]).filter(|&y| y < g.h) {
            Some(y) => {
                row[..g.pad[1]].fill(0.0);
                row[g.pad[1]..g.pad[1] + g.w].copy_from_slice(&input[y * g.w..(y + 1) * g.w]);
                row[g.pad[1] + g.w..].fill(0.0);
            }
            None => row.fill(0.0),
        }
    }
}

/// Pad one input plane into `prepared` ([`Geometry::prepared_len`] floats) and, for
/// stride 2, split every padded row into its even columns, then its odd ones, so that
/// output x reads even[x], odd[x], even[x + 1]: three contiguous slices.
#[inline(always)]
pub fn prepare(input: &[f32], g: &Geometry, prepared: &mut [f32]) {
    let (hp, wp) = g.padded();
    let (padded, row) = prepared.split_at_mut(hp * wp);
    pad_into(input, g, padded);
    if g.stride == 2 {
        let (we, wd) = (wp.div_ceil(2), wp / 2);
        let row = &mut row[..wp];
        for r in padded.chunks_exact_mut(wp) {
            row.copy_from_slice(r);
            let (even, odd) = r.split_at_mut(we);
            for (j, e) in even.iter_mut().enumerate() {
                *e = row[2 * j];
            }
            for (j, o) in odd[..wd].iter_mut().enumerate() {
                *o = row[2 * j + 1];
            }
        }
    }
}

/// `out` (ho x wo) += the 3x3 taps `k` over a [`prepare`]d plane.
#[inline(always)]
pub fn accumulate<M: MulAdd>(prepared: &[f32], out: &mut [f32], k: &[f32], g: &Geometry) {
    let Some((ho, wo)) = g.output() else { return };
    let wp = g.padded().1;
    let we = wp.div_ceil(2);
    for (yo, o) in out.chunks_exact_mut(wo).take(ho).enumerate() {
        for ky in 0..3 {
            let r = &prepared[(g.stride * yo + ky) * wp..][..wp];
            if g.stride == 2 {
                let (even, odd) = r.split_at(we);
                taps3::<M>(o, &even[..wo], &odd[..wo], &even[1..wo + 1], &k[3 * ky..]);
            } else {
                taps3::<M>(o, &r[..wo], &r[1..wo + 1], &r[2..wo + 2], &k[3 * ky..]);
            }
        }
    }
}

/// Clamp negative values to 0.
#[inline(always)]
pub fn relu(out: &mut [f32]) {
    out.iter_mut().for_each(|v| *v = v.max(0.0));
}

/// One depthwise plane: `out` = bias + 3x3 taps `k` over `input`, then ReLU if asked.
/// `scratch` must hold [`Geometry::prepared_len`] floats.
#[inline(always)]
pub fn plane<M: MulAdd>(input: &[f32], out: &mut [f32], k: &[f32], bias: f32, fuse_relu: bool, g: &Geometry, scratch: &mut [f32]) {
    prepare(input, g, scratch);
    out.fill(bias);
    accumulate::<M>(scratch, out, k, g);
    if fuse_relu {
        relu(out);
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
    pub relu: bool,
    pub geometry: Geometry,
}

/// Output planes `first..` into `out` (whole planes, one after another), with the best
/// kernel this CPU runs. `input` holds, for depthwise, the same planes `first..`; for a
/// full convolution, every input plane.
pub fn run(input: &[f32], out: &mut [f32], first: usize, taps: &Taps) {
    let g = &taps.geometry;
    let need = g.prepared_len() * taps.full.unwrap_or(1);
    SCRATCH.with_borrow_mut(|scratch| {
        if scratch.len() < need {
            scratch.resize(need, 0.0);
        }
        dispatch(input, out, first, taps, &mut scratch[..need]);
    })
}

/// The plane loop, for one way of multiplying and adding.
#[inline(always)]
fn run_with<M: MulAdd>(input: &[f32], out: &mut [f32], first: usize, t: &Taps, scratch: &mut [f32]) {
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
                prepare(&input[ci * ip..][..ip], g, prepared);
            }
            for (i, dst) in out.chunks_exact_mut(op).enumerate() {
                let co = first + i;
                dst.fill(t.bias[co]);
                for (ci, prepared) in scratch.chunks_exact(plen).take(n).enumerate() {
                    accumulate::<M>(prepared, dst, &t.weights[9 * (co * n + ci)..][..9], g);
                }
                if t.relu {
                    relu(dst);
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
        run_with::<Fused>(input, out, first, t, scratch)
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
