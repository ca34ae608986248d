//! The one look of host-train's progress bars (training steps, calibration images, WIDER
//! FACE images): `elapsed [=====>    ] done/count UNIT rate eta ETA  MESSAGE`.
//!
//! A bar is drawn on stderr only when it is a terminal; `show = false` hides it anyway.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` items counted in `unit` (`steps`, `images`…), hidden unless `show`.
pub fn bar(show: bool, len: usize, unit: &str) -> ProgressBar {
    let target = if show { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(Some(len as u64), target);
    bar.set_style(style(unit));
    bar
}

/// The style of [`bar`]; `{` and `}` in `unit` are shown as written.
pub fn style(unit: &str) -> ProgressStyle {
    let unit = unit.replace('{', "{{").replace('}', "}}");
    let template = format!("{{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{per_sec}} eta {{eta}}  {{msg}}");
    ProgressStyle::with_template(&template).expect("valid template").progress_chars("=> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_makes_a_valid_style() {
        for unit in ["steps", "calibration images (min/max)", "odd {unit}"] {
            let b = bar(false, 10, unit);
            b.inc(3);
            assert_eq!((b.position(), b.length()), (3, Some(10)));
            let _ = style(unit);
        }
    }
}
