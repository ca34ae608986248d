//! What each CPU offers the kernels: how a multiply-add rounds, and how a row is split
//! into its even and odd columns (the stride-2 convolutions' input).
//!
//! The kernels are written once, generic over [`Isa`], and compiled per CPU family: the
//! compiler vectorises them for whatever features the enclosing function enables. Only
//! the even/odd split needs shuffles the compiler does not find by itself on x86.

/// A way of running the kernels' arithmetic.
pub trait Isa {
    /// `a * b + c`.
    fn mul_add(a: f32, b: f32, c: f32) -> f32;

    /// `even[j] = src[2j]`, `odd[j] = src[2j + 1]`, for as many as each holds.
    #[inline(always)]
    fn split_even_odd(src: &[f32], even: &mut [f32], odd: &mut [f32]) {
        for (j, e) in even.iter_mut().enumerate() {
            *e = src[2 * j];
        }
        for (j, o) in odd.iter_mut().enumerate() {
            *o = src[2 * j + 1];
        }
    }
}

/// `a * b + c` with two roundings: every target, no FMA unit needed.
pub struct Separate;
impl Isa for Separate {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// `a * b + c` with one rounding: only where the CPU has FMA (else a slow libm call).
/// aarch64's loads split even and odd lanes by themselves (`ld2`).
pub struct Fused;
impl Isa for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

/// x86 with AVX2 and FMA: fused multiply-adds, and the even/odd split by shuffles.
#[cfg(target_arch = "x86_64")]
pub struct Avx2;
#[cfg(target_arch = "x86_64")]
impl Isa for Avx2 {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }

    #[inline(always)]
    fn split_even_odd(src: &[f32], even: &mut [f32], odd: &mut [f32]) {
        // SAFETY: `Avx2` is only used after the CPU was found to have AVX2 and FMA.
        unsafe { split_avx2(src, even, odd) }
    }
}

/// [`Isa::split_even_odd`] sixteen values at a time: two loads, two in-lane shuffles,
/// two cross-lane permutes, two stores.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn split_avx2(src: &[f32], even: &mut [f32], odd: &mut [f32]) {
    use std::arch::x86_64::*;
    let blocks = (src.len() / 16).min(even.len() / 8).min(odd.len() / 8);
    for b in 0..blocks {
        // SAFETY: block b reads src[16b..16b + 16] and writes even/odd[8b..8b + 8], all
        // in bounds by the choice of `blocks`.
        unsafe {
            let p = src.as_ptr().add(16 * b);
            let (lo, hi) = (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)));
            // Per 128-bit lane: [x0 x2 x8 x10 | x4 x6 x12 x14], then the 64-bit pairs
            // reordered 0, 2, 1, 3.
            let e = _mm256_shuffle_ps::<0b10_00_10_00>(lo, hi);
            let o = _mm256_shuffle_ps::<0b11_01_11_01>(lo, hi);
            let e = _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(e)));
            let o = _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(o)));
            _mm256_storeu_ps(even.as_mut_ptr().add(8 * b), e);
            _mm256_storeu_ps(odd.as_mut_ptr().add(8 * b), o);
        }
    }
    for (j, e) in even.iter_mut().enumerate().skip(8 * blocks) {
        *e = src[2 * j];
    }
    for (j, o) in odd.iter_mut().enumerate().skip(8 * blocks) {
        *o = src[2 * j + 1];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_split_matches_the_scalar_one() {
        for n in [0usize, 1, 2, 15, 16, 17, 33, 161, 322] {
            let src: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 3.0).collect();
            let (ne, no) = (n.div_ceil(2), n / 2);
            let (mut e1, mut o1) = (vec![0f32; ne], vec![0f32; no]);
            Separate::split_even_odd(&src, &mut e1, &mut o1);
            assert!(e1.iter().enumerate().all(|(j, &v)| v == src[2 * j]), "n {n}");
            assert!(o1.iter().enumerate().all(|(j, &v)| v == src[2 * j + 1]), "n {n}");
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                let (mut e2, mut o2) = (vec![0f32; ne], vec![0f32; no]);
                Avx2::split_even_odd(&src, &mut e2, &mut o2);
                assert_eq!((e1.clone(), o1.clone()), (e2, o2), "n {n}");
            }
        }
    }
}
