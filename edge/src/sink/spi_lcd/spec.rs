//! The `spi:` sink spec, read into a [`SpiLcdConfig`].

use super::config::{ColorOrder, Controller, SpiLcdConfig};
use anyhow::{anyhow, bail, Context, Result};

/// Keys accepted after the size in an `spi:` spec, as listed in error messages.
const SPEC_KEYS: &str = "dc, rst, bl, dev, chip, rot, hz, inv, order, xoff, yoff";

/// Parse an `spi:` sink spec (the `spi:` prefix is optional):
/// `st7789@240x240,dc=25,rst=27,bl=18,dev=/dev/spidev0.0,chip=/dev/gpiochip0,rot=90,hz=40M,inv=1,order=bgr,xoff=0,yoff=0`.
///
/// Only the controller, the size and `dc` are required. `hz` takes whole Hz, kHz or MHz
/// (`16000000`, `500k`, `32M`); `inv` takes 0/1/true/false/on/off. The result is
/// validated like a TOML config; errors name the offending key and list the valid ones.
pub fn parse_spec(spec: &str) -> Result<SpiLcdConfig> {
    let body = spec.strip_prefix("spi:").unwrap_or(spec);
    let mut parts = body.split(',');
    let head = parts.next().unwrap_or_default();
    let (controller, size) = head
        .split_once('@')
        .ok_or_else(|| anyhow!("spi spec {spec:?}: expected CONTROLLER@WIDTHxHEIGHT first, e.g. st7789@240x240"))?;
    let controller = Controller::parse(controller.trim()).with_context(|| format!("spi spec {spec:?}"))?;
    let (w, h) = size
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.trim().parse::<u16>().ok()?, h.trim().parse::<u16>().ok()?)))
        .ok_or_else(|| anyhow!("spi spec {spec:?}: size {size:?} is not WIDTHxHEIGHT, e.g. 240x240"))?;

    let mut cfg = SpiLcdConfig::new(controller, w, h, 0);
    let mut seen: Vec<&str> = Vec::new();
    for item in parts.map(str::trim).filter(|s| !s.is_empty()) {
        let (key, value) = item
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .ok_or_else(|| anyhow!("spi spec {spec:?}: {item:?} is not KEY=VALUE (keys: {SPEC_KEYS})"))?;
        if seen.contains(&key) {
            bail!("spi spec {spec:?}: key {key} given twice");
        }
        let bad = |what: &str| anyhow!("spi spec {spec:?}: {key}={value:?} is not {what}");
        let line = || value.parse::<u32>().map_err(|_| bad("a GPIO line number"));
        let num16 = || value.parse::<u16>().map_err(|_| bad("a number of pixels"));
        match key {
            "dc" => cfg.dc = line()?,
            "rst" => cfg.reset = Some(line()?),
            "bl" => cfg.backlight = Some(line()?),
            "dev" => cfg.spidev = value.into(),
            "chip" => cfg.gpiochip = value.into(),
            "rot" => cfg.rotation = value.parse().map_err(|_| bad("one of 0, 90, 180, 270"))?,
            "hz" => cfg.spi_hz = parse_hz(value).ok_or_else(|| bad("a clock in Hz (e.g. 40000000, 40M, 500k)"))?,
            "inv" => cfg.invert = Some(parse_bool(value).ok_or_else(|| bad("0/1/true/false/on/off"))?),
            "order" => {
                cfg.color_order = match value.to_ascii_lowercase().as_str() {
                    "rgb" => ColorOrder::Rgb,
                    "bgr" => ColorOrder::Bgr,
                    _ => return Err(bad("rgb or bgr")),
                }
            }
            "xoff" => cfg.x_offset = num16()?,
            "yoff" => cfg.y_offset = num16()?,
            _ => bail!("spi spec {spec:?}: unknown key {key:?} (keys: {SPEC_KEYS})"),
        }
        seen.push(key);
    }
    if !seen.contains(&"dc") {
        bail!("spi spec {spec:?}: the dc=LINE key is required (keys: {SPEC_KEYS})");
    }
    cfg.validate().with_context(|| format!("spi spec {spec:?}"))?;
    Ok(cfg)
}

fn parse_hz(s: &str) -> Option<u32> {
    let s = s.to_ascii_lowercase();
    let s = s.strip_suffix("hz").unwrap_or(&s);
    let (digits, scale) = match s.as_bytes().last()? {
        b'k' => (&s[..s.len() - 1], 1_000),
        b'm' => (&s[..s.len() - 1], 1_000_000),
        _ => (s, 1),
    };
    let hz = digits.parse::<u64>().ok()?.checked_mul(scale)?;
    u32::try_from(hz).ok().filter(|&hz| hz > 0)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Some(true),
        "0" | "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn parse_spec_reads_every_key() {
        let cfg = parse_spec(
            "spi:st7789@135x240,dc=25,rst=27,bl=18,dev=/dev/spidev1.2,chip=/dev/gpiochip4,rot=270,hz=32M,\
             inv=0,order=bgr,xoff=52,yoff=40",
        )
        .unwrap();
        let mut want = SpiLcdConfig::new(Controller::St7789, 135, 240, 25);
        want.reset = Some(27);
        want.backlight = Some(18);
        want.spidev = "/dev/spidev1.2".into();
        want.gpiochip = "/dev/gpiochip4".into();
        want.rotation = 270;
        want.spi_hz = 32_000_000;
        want.invert = Some(false);
        want.color_order = ColorOrder::Bgr;
        (want.x_offset, want.y_offset) = (52, 40);
        assert_eq!(cfg, want);
        assert_eq!(cfg.screen_size(), (240, 135));
        assert!(!cfg.inverted());
    }

    #[test]
    fn parse_spec_fills_defaults() {
        let cfg = parse_spec("ili9341@240x320,dc=24").unwrap();
        assert_eq!(cfg, SpiLcdConfig::new(Controller::Ili9341, 240, 320, 24));
        assert_eq!(cfg.spidev, Path::new("/dev/spidev0.0"));
        assert_eq!(cfg.gpiochip, Path::new("/dev/gpiochip0"));
        assert_eq!(cfg.spi_hz, 40_000_000);
        assert_eq!(parse_spec("spi:st7789@240x240,dc=25,hz=500k").unwrap().spi_hz, 500_000);
        assert_eq!(parse_spec("spi:st7789@240x240,dc=25,hz=16000000").unwrap().spi_hz, 16_000_000);
    }

    #[test]
    fn parse_spec_errors_name_the_problem() {
        let cases = [
            ("spi:st7789@240x240,dc=25,foo=1", &["foo", "keys: dc, rst, bl"][..]),
            ("spi:st7735@240x240,dc=25", &["st7735", "st7789, ili9341"]),
            ("spi:st7789@240by240,dc=25", &["240by240", "WIDTHxHEIGHT"]),
            ("spi:st7789,dc=25", &["CONTROLLER@WIDTHxHEIGHT"]),
            ("spi:st7789@240x240,rst=27", &["dc=LINE", "required"]),
            ("spi:st7789@240x240,dc=x", &["dc=", "GPIO line"]),
            ("spi:st7789@240x240,dc=25,rot=45", &["rotation 45"]),
            ("spi:st7789@240x240,dc=25,rot=ninety", &["rot=", "0, 90, 180, 270"]),
            ("spi:st7789@240x240,dc=25,hz=fast", &["hz=", "Hz"]),
            ("spi:st7789@240x240,dc=25,hz=0", &["hz="]),
            ("spi:st7789@240x240,dc=25,order=grb", &["order=", "rgb or bgr"]),
            ("spi:st7789@240x240,dc=25,inv=maybe", &["inv="]),
            ("spi:st7789@240x240,dc=25,dc=26", &["dc given twice"]),
            ("spi:st7789@240x240,dc=25,rst=25", &["dc and reset", "25"]),
            ("spi:st7789@240x0,dc=25", &["zero"]),
            ("spi:st7789@240x240,dc=25,xoff=10", &["x_offset 10", "240 RAM columns"]),
            ("spi:st7789@240x240,dc=25,yoff", &["KEY=VALUE"]),
        ];
        for (spec, needles) in cases {
            let err = format!("{:#}", parse_spec(spec).expect_err(spec));
            for needle in needles {
                assert!(err.contains(needle), "{spec}: {err:?} lacks {needle:?}");
            }
        }
    }
}
