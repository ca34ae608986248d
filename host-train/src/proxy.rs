//! The proxy metric of a training run: the official WIDER FACE protocol on a fixed
//! slice of the val set (every `stride`-th image), measured through the exported ONNX
//! file and `edge::detector` — the number the camera would get, every few epochs, in a
//! few seconds instead of the minutes the full set takes.

use crate::eval::run_wider::{predict, proxy_options, EvalSize};
use crate::eval::wider::{evaluate, WiderGt};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Where the slice comes from and how often it is measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// The val images folder (`EVENT/NAME.jpg`).
    pub images: PathBuf,
    /// The folder with the official `.mat` ground truth.
    pub gt: PathBuf,
    /// Every this many-th val image (10: 323 of the 3,226).
    #[serde(default = "default_stride")]
    pub stride: usize,
    /// Measure every this many epochs (and after the last).
    #[serde(default = "one")]
    pub every: u32,
}

fn default_stride() -> usize {
    10
}
fn one() -> u32 {
    1
}

/// A loaded slice, ready to score checkpoints.
pub struct Proxy {
    cfg: ProxyConfig,
    gt: WiderGt,
}

impl Proxy {
    /// Load the ground truth and check the slice's images exist (an error names the
    /// first missing one), so a run fails at its start rather than after an epoch.
    pub fn open(cfg: &ProxyConfig) -> Result<Self> {
        if !(1..=1000).contains(&cfg.stride) || !(1..=1000).contains(&cfg.every) {
            bail!("proxy: stride and every must be 1..=1000 (got {} and {})", cfg.stride, cfg.every);
        }
        let gt = WiderGt::load(&cfg.gt)
            .with_context(|| format!("proxy ground truth {}", cfg.gt.display()))?
            .every(cfg.stride);
        for e in &gt.events {
            for img in &e.images {
                let path = cfg.images.join(&e.name).join(format!("{}.jpg", img.name));
                if !path.is_file() {
                    bail!(
                        "{}: proxy val image missing (is --proxy-images the WIDER_val/images folder?)",
                        path.display()
                    );
                }
            }
        }
        Ok(Self { cfg: cfg.clone(), gt })
    }

    /// Whether to measure after `epoch` of `epochs`.
    pub fn due(&self, epoch: u32, epochs: u32) -> bool {
        epoch.is_multiple_of(self.cfg.every) || epoch == epochs
    }

    /// AP (easy, medium, hard) of the exported model at `model`.
    pub fn measure(&self, model: &Path) -> Result<[f64; 3]> {
        let preds = predict(
            model,
            &self.gt,
            &self.cfg.images,
            EvalSize::Input,
            edge::int8::Int8Path::default(),
            proxy_options(),
            false,
        )?;
        Ok(evaluate(&self.gt, &preds).ap)
    }
}

/// CPU seconds this process has used (user + system, all threads): the clock on which
/// training recipes are compared, fair across machine load and thread counts.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return f64::NAN;
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 * 1e-6;
    t(u.ru_utime) + t(u.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_work() {
        let a = cpu_seconds();
        let mut x = 0u64;
        for i in 0..30_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(cpu_seconds() > a);
    }

    #[test]
    fn a_missing_slice_is_an_error_naming_it() {
        let cfg = ProxyConfig { images: "/nonexistent".into(), gt: "/nonexistent-gt".into(), stride: 10, every: 1 };
        let err = format!("{:#}", Proxy::open(&cfg).err().expect("an error"));
        assert!(err.contains("/nonexistent-gt"), "{err}");
        let bad = ProxyConfig { stride: 0, ..cfg };
        assert!(format!("{:#}", Proxy::open(&bad).err().unwrap()).contains("stride"));
    }
}
