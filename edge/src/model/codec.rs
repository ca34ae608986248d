//! The box codec: SSD centre-size offsets scaled by the card's variances.
//!
//! A ground-truth box `g` is encoded against prior `p` as
//! `((gcx - pcx) / (v0 pw), (gcy - pcy) / (v0 ph), ln(gw / pw) / v1, ln(gh / ph) / v1)`.

use super::{BBox, Prior};

/// Encode a normalised box against a prior (the trainer's regression target).
pub fn encode(g: &BBox, p: &Prior, variances: [f32; 2]) -> [f32; 4] {
    let (gcx, gcy) = g.center();
    // Zero-size boxes never reach here as positives; the floor keeps ln finite anyway.
    let gw = g.width().max(1e-6);
    let gh = g.height().max(1e-6);
    [
        (gcx - p.cx) / (variances[0] * p.w),
        (gcy - p.cy) / (variances[0] * p.h),
        (gw / p.w).ln() / variances[1],
        (gh / p.h).ln() / variances[1],
    ]
}

/// Decode network offsets against a prior into a normalised box (the device's output).
pub fn decode(t: [f32; 4], p: &Prior, variances: [f32; 2]) -> BBox {
    let cx = p.cx + t[0] * variances[0] * p.w;
    let cy = p.cy + t[1] * variances[0] * p.h;
    // Clamp the exponent: an untrained or adversarial output must not make inf boxes.
    let w = p.w * (t[2] * variances[1]).min(10.0).exp();
    let h = p.h * (t[3] * variances[1]).min(10.0).exp();
    BBox::new(cx - w * 0.5, cy - h * 0.5, cx + w * 0.5, cy + h * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_decode_round_trips() {
        let p = Prior { cx: 0.5, cy: 0.4, w: 0.1, h: 0.2 };
        let g = BBox::new(0.42, 0.3, 0.6, 0.55);
        let d = decode(encode(&g, &p, [0.1, 0.2]), &p, [0.1, 0.2]);
        for (a, b) in [(d.x0, g.x0), (d.y0, g.y0), (d.x1, g.x1), (d.y1, g.y1)] {
            assert!((a - b).abs() < 1e-5, "{d:?} vs {g:?}");
        }
    }

    #[test]
    fn zero_offsets_decode_to_the_prior() {
        let p = Prior { cx: 0.5, cy: 0.5, w: 0.2, h: 0.1 };
        let d = decode([0.0; 4], &p, [0.1, 0.2]);
        assert!((d.x0 - 0.4).abs() < 1e-6 && (d.y1 - 0.55).abs() < 1e-6);
    }

    #[test]
    fn encoding_uses_the_variances() {
        let p = Prior { cx: 0.5, cy: 0.5, w: 0.2, h: 0.2 };
        // Shift right by one prior width, double the size.
        let g = BBox::new(0.5, 0.3, 0.9, 0.7);
        let t = encode(&g, &p, [0.1, 0.2]);
        assert!((t[0] - 10.0).abs() < 1e-4);
        assert!(t[1].abs() < 1e-4);
        assert!((t[2] - 2f32.ln() / 0.2).abs() < 1e-4);
    }

    #[test]
    fn huge_offsets_stay_finite() {
        let p = Prior { cx: 0.5, cy: 0.5, w: 0.2, h: 0.2 };
        let d = decode([0.0, 0.0, 1e9, 1e9], &p, [0.1, 0.2]);
        assert!(d.x1.is_finite() && d.y1.is_finite());
    }
}
