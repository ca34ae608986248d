//! ST7789 / ILI9341-class SPI LCDs, driven through [`mipidsi`].
//!
//! The small TFT modules sold for the Raspberry Pi (1.3" 240x240 ST7789, 2.4"/2.8" 240x320
//! ILI9341, ...) take commands and pixels over SPI, with an extra data/command (DC) GPIO
//! line and optionally reset and backlight lines. [`SpiLcd`] wraps the mipidsi driver for
//! those two controllers and adds what facecam needs:
//!
//! - [`SpiLcd::present`] letterboxes a frame (via [`super::letterbox`]) into the panel and
//!   sends it as one RGB565 window write, converting colours on the fly — no intermediate
//!   screen-sized image and no per-pixel draw calls;
//! - it is an embedded-graphics [`DrawTarget`] (delegating to mipidsi) and a [`Sink`];
//! - [`open`] wires it to real hardware (spidev + gpio character device) and
//!   [`parse_spec`] reads the `spi:` sink spec:
//!
//! ```text
//! spi:st7789@240x240,dc=25,rst=27,bl=18[,dev=/dev/spidev0.0][,chip=/dev/gpiochip0][,rot=90][,hz=40M]
//!                    [,inv=1][,order=bgr][,xoff=0][,yoff=0]
//! ```
//!
//! The same settings can be embedded in TOML as a [`SpiLcdConfig`].
//!
//! Geometry: `width`x`height` is the panel's native (unrotated, usually portrait)
//! resolution and the offsets place it inside the controller's 240x320 RAM, both as the
//! module's datasheet gives them; `rotation` then turns the picture, so a 240x320 panel
//! with `rot=90` is drawn as 320x240.

use super::letterbox::{fit, sample_map};
use super::{FrameReport, Sink};
use anyhow::{anyhow, bail, Context, Result};
use embedded_graphics::pixelcolor::Rgb565;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType, OutputPin};
use embedded_hal::spi::SpiDevice;
use image::RgbImage;
use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
use linux_embedded_hal::spidev::{SpiModeFlags, Spidev, SpidevOptions};
use linux_embedded_hal::{CdevPin, Delay, SpidevDevice};
use mipidsi::interface::{Interface, SpiError, SpiInterface};
use mipidsi::models::{ILI9341Rgb565, Model, ST7789};
use mipidsi::options::{ColorInversion, ColorOrder as MipiColorOrder, Orientation, Rotation};
use mipidsi::{Builder, Display};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Bytes gathered per SPI write. spidev refuses transfers larger than its `bufsiz`
/// module parameter (4096 by default), so a bigger buffer would fail on a stock Pi.
const SPI_CHUNK: usize = 4096;

/// The LCD controller chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Controller {
    /// Sitronix ST7789 (240x240 and 240x320 IPS modules).
    St7789,
    /// Ilitek ILI9341 (240x320 TN modules), driven in 16-bit colour.
    Ili9341,
}

impl Controller {
    /// Every controller, in the order error messages list them.
    pub const ALL: [Controller; 2] = [Controller::St7789, Controller::Ili9341];

    /// The name used in specs and TOML.
    pub fn name(self) -> &'static str {
        match self {
            Controller::St7789 => "st7789",
            Controller::Ili9341 => "ili9341",
        }
    }

    /// The controller's display RAM, (columns, rows): a panel plus its offsets must fit in it.
    pub fn framebuffer(self) -> (u16, u16) {
        match self {
            Controller::St7789 => ST7789::FRAMEBUFFER_SIZE,
            Controller::Ili9341 => ILI9341Rgb565::FRAMEBUFFER_SIZE,
        }
    }

    /// Whether the usual modules need colour inversion on: ST7789 IPS panels show a
    /// negative without INVON, ILI9341 panels do not.
    pub fn inverts_by_default(self) -> bool {
        matches!(self, Controller::St7789)
    }

    fn parse(s: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|c| c.name().eq_ignore_ascii_case(s)).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|c| c.name()).collect();
            anyhow!("unknown LCD controller {s:?}; known: {}", names.join(", "))
        })
    }
}

/// Subpixel order of the panel (MADCTL's BGR bit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorOrder {
    /// Red first (most modules).
    #[default]
    Rgb,
    /// Blue first (red and blue come out swapped with `rgb`).
    Bgr,
}

/// Everything needed to open an SPI LCD; deserialisable from a board profile.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpiLcdConfig {
    /// The controller chip.
    pub controller: Controller,
    /// The spidev device (bus and chip select).
    #[serde(default = "default_spidev")]
    pub spidev: PathBuf,
    /// The GPIO character device holding the DC/reset/backlight lines.
    #[serde(default = "default_gpiochip")]
    pub gpiochip: PathBuf,
    /// Data/command line offset on `gpiochip` (BCM GPIO number on a Pi).
    pub dc: u32,
    /// Reset line offset; without one the controller is reset by command.
    #[serde(default)]
    pub reset: Option<u32>,
    /// Backlight line offset (driven high for on), if the backlight is switchable.
    #[serde(default)]
    pub backlight: Option<u32>,
    /// Native (unrotated) panel width in pixels.
    pub width: u16,
    /// Native (unrotated) panel height in pixels.
    pub height: u16,
    /// Clockwise rotation of the picture: 0, 90, 180 or 270.
    #[serde(default)]
    pub rotation: u16,
    /// SPI clock in Hz.
    #[serde(default = "default_spi_hz")]
    pub spi_hz: u32,
    /// Colour inversion; unset means the controller's usual choice
    /// ([`Controller::inverts_by_default`]).
    #[serde(default)]
    pub invert: Option<bool>,
    /// Subpixel order.
    #[serde(default)]
    pub color_order: ColorOrder,
    /// First RAM column of the panel (e.g. 52 on 135x240 ST7789 modules).
    #[serde(default)]
    pub x_offset: u16,
    /// First RAM row of the panel (e.g. 40 on 135x240 ST7789 modules).
    #[serde(default)]
    pub y_offset: u16,
}

/// Default spidev device: bus 0, chip select 0.
pub const DEFAULT_SPIDEV: &str = "/dev/spidev0.0";
/// Default GPIO chip: the SoC's header GPIOs on Raspberry Pi OS.
pub const DEFAULT_GPIOCHIP: &str = "/dev/gpiochip0";
/// Default SPI clock: within spec for both controllers' write cycle on short wires.
pub const DEFAULT_SPI_HZ: u32 = 40_000_000;

fn default_spidev() -> PathBuf {
    DEFAULT_SPIDEV.into()
}
fn default_gpiochip() -> PathBuf {
    DEFAULT_GPIOCHIP.into()
}
fn default_spi_hz() -> u32 {
    DEFAULT_SPI_HZ
}

impl SpiLcdConfig {
    /// A config with every optional field at its default.
    pub fn new(controller: Controller, width: u16, height: u16, dc: u32) -> Self {
        SpiLcdConfig {
            controller,
            spidev: default_spidev(),
            gpiochip: default_gpiochip(),
            dc,
            reset: None,
            backlight: None,
            width,
            height,
            rotation: 0,
            spi_hz: DEFAULT_SPI_HZ,
            invert: None,
            color_order: ColorOrder::Rgb,
            x_offset: 0,
            y_offset: 0,
        }
    }

    /// Check the settings the driver would otherwise trip over (it asserts on geometry).
    pub fn validate(&self) -> Result<()> {
        let name = self.controller.name();
        if self.width == 0 || self.height == 0 {
            bail!("LCD size {}x{} has a zero side (fields width, height)", self.width, self.height);
        }
        let (ram_w, ram_h) = self.controller.framebuffer();
        if u32::from(self.width) + u32::from(self.x_offset) > u32::from(ram_w) {
            bail!("width {} + x_offset {} exceeds the {name}'s {ram_w} RAM columns", self.width, self.x_offset);
        }
        if u32::from(self.height) + u32::from(self.y_offset) > u32::from(ram_h) {
            bail!("height {} + y_offset {} exceeds the {name}'s {ram_h} RAM rows", self.height, self.y_offset);
        }
        self.mipidsi_rotation()?;
        if self.spi_hz == 0 {
            bail!("spi_hz must be above 0");
        }
        let lines = [("dc", Some(self.dc)), ("reset", self.reset), ("backlight", self.backlight)];
        for (i, (a, la)) in lines.iter().enumerate() {
            for (b, lb) in &lines[i + 1..] {
                if la.is_some() && la == lb {
                    bail!("{a} and {b} are both GPIO line {}", la.unwrap_or_default());
                }
            }
        }
        Ok(())
    }

    /// The picture size after rotation: what [`SpiLcd::present`] fills.
    pub fn screen_size(&self) -> (u16, u16) {
        if self.rotation % 180 == 90 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }

    /// Colour inversion in effect: the explicit setting or the controller's default.
    pub fn inverted(&self) -> bool {
        self.invert.unwrap_or_else(|| self.controller.inverts_by_default())
    }

    fn mipidsi_rotation(&self) -> Result<Rotation> {
        Ok(match self.rotation {
            0 => Rotation::Deg0,
            90 => Rotation::Deg90,
            180 => Rotation::Deg180,
            270 => Rotation::Deg270,
            r => bail!("rotation {r} is not one of 0, 90, 180, 270"),
        })
    }
}

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

/// An optional reset line that always has the same type, so one `SpiLcd` type covers
/// panels with and without one (mipidsi changes the display type with `reset_pin`).
struct OptionalPin<P>(Option<P>);

impl<P: ErrorType> ErrorType for OptionalPin<P> {
    type Error = P::Error;
}

impl<P: OutputPin> OutputPin for OptionalPin<P> {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.0.as_mut().map_or(Ok(()), |p| p.set_low())
    }
    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.0.as_mut().map_or(Ok(()), |p| p.set_high())
    }
}

type Di<SPI, DC> = SpiInterface<'static, SPI, DC>;

/// The mipidsi display for whichever controller the config names (both speak RGB565).
enum Panel<SPI: SpiDevice, DC: OutputPin, RST: OutputPin> {
    St7789(Display<Di<SPI, DC>, ST7789, OptionalPin<RST>>),
    Ili9341(Display<Di<SPI, DC>, ILI9341Rgb565, OptionalPin<RST>>),
}

/// Run `$body` with `$d` bound to the inner mipidsi display, whatever its model.
macro_rules! with_display {
    ($panel:expr, $d:ident => $body:expr) => {
        match $panel {
            Panel::St7789($d) => $body,
            Panel::Ili9341($d) => $body,
        }
    };
}

/// An ST7789/ILI9341-class SPI LCD: an SPI device, a DC line, an optional reset line
/// and an optional backlight line (`BL`, by default the same pin type as DC).
pub struct SpiLcd<SPI: SpiDevice, DC: OutputPin, RST: OutputPin, BL: OutputPin = DC> {
    panel: Panel<SPI, DC, RST>,
    backlight: Option<BL>,
    /// Drawing size after rotation.
    size: (u16, u16),
    controller: Controller,
}

impl<SPI, DC, RST, BL> SpiLcd<SPI, DC, RST, BL>
where
    SPI: SpiDevice,
    DC: OutputPin,
    RST: OutputPin,
    BL: OutputPin,
{
    /// Initialise the controller described by `cfg` (geometry, rotation, inversion,
    /// colour order; its paths and line numbers are [`open`]'s business), clear it to
    /// black and only then switch the backlight on, so power-on RAM garbage never shows.
    ///
    /// Without a reset line the controller gets a software reset (0x01) first.
    pub fn new(
        cfg: &SpiLcdConfig,
        spi: SPI,
        dc: DC,
        reset: Option<RST>,
        backlight: Option<BL>,
        delay: &mut impl DelayNs,
    ) -> Result<Self> {
        cfg.validate()?;
        let name = cfg.controller.name();
        // mipidsi borrows its batching buffer; a display lives for the whole run, so one
        // small leak per opened display is the price of an owned, lifetime-free type.
        let buffer: &'static mut [u8] = Box::leak(vec![0u8; SPI_CHUNK].into_boxed_slice());
        let mut di = SpiInterface::new(spi, dc, buffer);
        if reset.is_none() {
            di.send_command(0x01, &[]).map_err(|e| anyhow!("software reset of the {name}: {e:?}"))?;
            // Both datasheets: wait 5 ms after SWRESET before the next command.
            delay.delay_ms(5);
        }
        let rst = OptionalPin(reset);
        let panel = match cfg.controller {
            Controller::St7789 => Panel::St7789(build(ST7789, di, rst, cfg, delay)?),
            Controller::Ili9341 => Panel::Ili9341(build(ILI9341Rgb565, di, rst, cfg, delay)?),
        };
        let mut lcd = SpiLcd { panel, backlight, size: cfg.screen_size(), controller: cfg.controller };
        lcd.clear(Rgb565::BLACK).map_err(|e| anyhow!("clearing the {name}: {e:?}"))?;
        lcd.set_backlight(true)?;
        Ok(lcd)
    }

    /// The controller being driven.
    pub fn controller(&self) -> Controller {
        self.controller
    }

    /// The drawing size after rotation, (width, height).
    pub fn screen_size(&self) -> (u32, u32) {
        (u32::from(self.size.0), u32::from(self.size.1))
    }

    /// Letterbox `frame` into the panel (black bars) and send it as one full-screen
    /// RGB565 window write.
    pub fn present(&mut self, frame: &RgbImage) -> Result<()> {
        let (fw, fh) = frame.dimensions();
        if fw == 0 || fh == 0 {
            bail!("cannot show an empty {fw}x{fh} frame on the {}", self.controller.name());
        }
        let (sw, sh) = self.screen_size();
        let f = fit((fw, fh), (sw, sh));
        let xs = sample_map(fw, f.w);
        let ys = sample_map(fh, f.h);
        let raw = frame.as_raw();
        let pixel = |x: u32, y: u32| -> Rgb565 {
            if x < f.x || y < f.y || x >= f.x + f.w || y >= f.y + f.h {
                return Rgb565::BLACK;
            }
            let (sx, sy) = (xs[(x - f.x) as usize] as usize, ys[(y - f.y) as usize] as usize);
            let i = (sy * fw as usize + sx) * 3;
            Rgb565::new(raw[i] >> 3, raw[i + 1] >> 2, raw[i + 2] >> 3)
        };
        let pixels = (0..sh).flat_map(|y| (0..sw).map(move |x| pixel(x, y)));
        let (ex, ey) = (self.size.0 - 1, self.size.1 - 1);
        with_display!(&mut self.panel, d => d.set_pixels(0, 0, ex, ey, pixels))
            .map_err(|e| anyhow!("writing a frame to the {} over SPI: {e:?}", self.controller.name()))
    }

    /// Switch the backlight on or off (a no-op without a backlight line).
    pub fn set_backlight(&mut self, on: bool) -> Result<()> {
        let Some(bl) = self.backlight.as_mut() else { return Ok(()) };
        let result = if on { bl.set_high() } else { bl.set_low() };
        result.map_err(|e| anyhow!("switching the {} backlight {}: {e:?}", self.controller.name(), on_off(on)))
    }

    /// Fill the panel black and switch the backlight off.
    pub fn blank(&mut self) -> Result<()> {
        self.clear(Rgb565::BLACK).map_err(|e| anyhow!("blanking the {}: {e:?}", self.controller.name()))?;
        self.set_backlight(false)
    }
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

/// Configure and initialise one mipidsi model (generic so both controllers share it).
fn build<M, SPI, DC, RST>(
    model: M,
    di: Di<SPI, DC>,
    rst: OptionalPin<RST>,
    cfg: &SpiLcdConfig,
    delay: &mut impl DelayNs,
) -> Result<Display<Di<SPI, DC>, M, OptionalPin<RST>>>
where
    M: Model<ColorFormat = Rgb565>,
    SPI: SpiDevice,
    DC: OutputPin,
    RST: OutputPin,
{
    let invert = if cfg.inverted() { ColorInversion::Inverted } else { ColorInversion::Normal };
    let order = match cfg.color_order {
        ColorOrder::Rgb => MipiColorOrder::Rgb,
        ColorOrder::Bgr => MipiColorOrder::Bgr,
    };
    Builder::new(model, di)
        .reset_pin(rst)
        .display_size(cfg.width, cfg.height)
        .display_offset(cfg.x_offset, cfg.y_offset)
        .orientation(Orientation::new().rotate(cfg.mipidsi_rotation()?))
        .invert_colors(invert)
        .color_order(order)
        .init(delay)
        .map_err(|e| anyhow!("initialising the {}: {e:?}", cfg.controller.name()))
}

impl<SPI, DC, RST, BL> OriginDimensions for SpiLcd<SPI, DC, RST, BL>
where
    SPI: SpiDevice,
    DC: OutputPin,
    RST: OutputPin,
    BL: OutputPin,
{
    fn size(&self) -> Size {
        Size::new(u32::from(self.size.0), u32::from(self.size.1))
    }
}

impl<SPI, DC, RST, BL> DrawTarget for SpiLcd<SPI, DC, RST, BL>
where
    SPI: SpiDevice,
    DC: OutputPin,
    RST: OutputPin,
    BL: OutputPin,
{
    type Color = Rgb565;
    type Error = SpiError<SPI::Error, DC::Error>;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Rgb565>>,
    {
        with_display!(&mut self.panel, d => d.draw_iter(pixels))
    }

    fn fill_contiguous<I>(&mut self, area: &Rectangle, colors: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Rgb565>,
    {
        with_display!(&mut self.panel, d => d.fill_contiguous(area, colors))
    }

    fn fill_solid(&mut self, area: &Rectangle, color: Rgb565) -> Result<(), Self::Error> {
        with_display!(&mut self.panel, d => d.fill_solid(area, color))
    }

    fn clear(&mut self, color: Rgb565) -> Result<(), Self::Error> {
        with_display!(&mut self.panel, d => d.clear(color))
    }
}

impl<SPI, DC, RST, BL> Sink for SpiLcd<SPI, DC, RST, BL>
where
    SPI: SpiDevice + Send,
    DC: OutputPin + Send,
    RST: OutputPin + Send,
    BL: OutputPin + Send,
{
    fn show(&mut self, frame: &RgbImage, _report: &FrameReport) -> Result<()> {
        self.present(frame)
    }

    fn close(&mut self) -> Result<()> {
        self.blank()
    }
}

/// Open the LCD described by `cfg` on real hardware: spidev in mode 0 at `spi_hz`, and
/// the DC/reset/backlight lines requested as outputs from `gpiochip`.
pub fn open(cfg: &SpiLcdConfig) -> Result<SpiLcd<SpidevDevice, CdevPin, CdevPin>> {
    cfg.validate()?;
    let dev = cfg.spidev.display();
    let mut spi = Spidev::open(&cfg.spidev).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => {
                "; enable SPI with `sudo raspi-config` (Interface Options > SPI) or `dtparam=spi=on` in \
                 config.txt, then reboot"
            }
            std::io::ErrorKind::PermissionDenied => {
                "; is the user in the spi group? (`sudo usermod -aG spi $USER`, then log in again)"
            }
            _ => "",
        };
        anyhow!("opening SPI device {dev}: {e}{hint}")
    })?;
    let options = SpidevOptions::new().bits_per_word(8).max_speed_hz(cfg.spi_hz).mode(SpiModeFlags::SPI_MODE_0).build();
    spi.configure(&options).with_context(|| format!("configuring {dev} for SPI mode 0 at {} Hz", cfg.spi_hz))?;

    let mut chip = open_chip(&cfg.gpiochip)?;
    // Reset idles high (running); backlight starts off until the panel has been cleared.
    let dc = output_line(&mut chip, &cfg.gpiochip, cfg.dc, "dc", 0)?;
    let reset = cfg.reset.map(|l| output_line(&mut chip, &cfg.gpiochip, l, "reset", 1)).transpose()?;
    let backlight = cfg.backlight.map(|l| output_line(&mut chip, &cfg.gpiochip, l, "backlight", 0)).transpose()?;
    SpiLcd::new(cfg, SpidevDevice(spi), dc, reset, backlight, &mut Delay)
        .with_context(|| format!("{} LCD on {dev}", cfg.controller.name()))
}

/// Open a GPIO character device, with a hint on the usual causes of failure.
fn open_chip(path: &Path) -> Result<Chip> {
    Chip::new(path).map_err(|e| {
        let hint = if path.exists() {
            "is the user in the gpio group? (`sudo usermod -aG gpio $USER`, then log in again)"
        } else {
            "no such device; list the chips with `ls /dev/gpiochip*`"
        };
        anyhow!("opening GPIO chip {}: {e}; {hint}", path.display())
    })
}

fn output_line(chip: &mut Chip, path: &Path, line: u32, role: &str, initial: u8) -> Result<CdevPin> {
    let what = || format!("GPIO line {line} ({role}) on {}", path.display());
    let handle = chip
        .get_line(line)
        .and_then(|l| l.request(LineRequestFlags::OUTPUT, initial, &format!("facecam-lcd-{role}")))
        .map_err(|e| {
            anyhow!(
                "requesting {} as an output: {e}; does the line exist, and is it free (not used by another \
                 program, a dtoverlay or the SPI chip selects)?",
                what()
            )
        })?;
    CdevPin::new(handle).with_context(what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::letterbox::letterbox;
    use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};
    use embedded_hal::spi::Operation;
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    /// Which fake pin did something.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Role {
        Dc,
        Reset,
        Backlight,
    }

    /// One thing that happened on the wires, in order.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Event {
        /// An SPI write, with the DC level at the time (low = command).
        Write { dc: bool, bytes: Vec<u8> },
        /// A level change on a non-DC pin.
        Pin { role: Role, high: bool },
    }

    // Arc<Mutex> rather than Rc<RefCell>: `Sink` requires `Send`, and the tests drive
    // the display through `Sink` too.
    #[derive(Default)]
    struct Wire {
        dc: bool,
        log: Vec<Event>,
    }

    #[derive(Clone, Default)]
    struct Probe(Arc<Mutex<Wire>>);

    impl Probe {
        fn log(&self) -> Vec<Event> {
            self.0.lock().unwrap().log.clone()
        }
        fn forget(&self) {
            self.0.lock().unwrap().log.clear();
        }
    }

    struct FakeSpi(Probe);

    impl embedded_hal::spi::ErrorType for FakeSpi {
        type Error = Infallible;
    }

    impl SpiDevice for FakeSpi {
        fn transaction(&mut self, operations: &mut [Operation<'_, u8>]) -> Result<(), Infallible> {
            let mut wire = self.0 .0.lock().unwrap();
            for op in operations {
                match op {
                    Operation::Write(bytes) => {
                        let dc = wire.dc;
                        wire.log.push(Event::Write { dc, bytes: bytes.to_vec() });
                    }
                    Operation::Read(buf) | Operation::TransferInPlace(buf) => buf.fill(0),
                    Operation::Transfer(read, _) => read.fill(0),
                    Operation::DelayNs(_) => {}
                }
            }
            Ok(())
        }
    }

    struct FakePin(Probe, Role);

    impl ErrorType for FakePin {
        type Error = Infallible;
    }

    impl OutputPin for FakePin {
        fn set_low(&mut self) -> Result<(), Infallible> {
            self.set(false);
            Ok(())
        }
        fn set_high(&mut self) -> Result<(), Infallible> {
            self.set(true);
            Ok(())
        }
    }

    impl FakePin {
        fn set(&mut self, high: bool) {
            let mut wire = self.0 .0.lock().unwrap();
            match self.1 {
                Role::Dc => wire.dc = high,
                role => wire.log.push(Event::Pin { role, high }),
            }
        }
    }

    struct NoDelay;

    impl DelayNs for NoDelay {
        fn delay_ns(&mut self, _ns: u32) {}
    }

    type FakeLcd = SpiLcd<FakeSpi, FakePin, FakePin>;

    fn fake_lcd(cfg: &SpiLcdConfig, reset: bool, backlight: bool) -> (FakeLcd, Probe) {
        let probe = Probe::default();
        let pin = |role| FakePin(probe.clone(), role);
        let lcd = SpiLcd::new(
            cfg,
            FakeSpi(probe.clone()),
            pin(Role::Dc),
            reset.then(|| pin(Role::Reset)),
            backlight.then(|| pin(Role::Backlight)),
            &mut NoDelay,
        )
        .unwrap();
        (lcd, probe)
    }

    /// Group the SPI writes into (command, parameter/data bytes), as the controller sees them.
    fn commands(log: &[Event]) -> Vec<(u8, Vec<u8>)> {
        let mut out: Vec<(u8, Vec<u8>)> = Vec::new();
        for event in log {
            match event {
                Event::Write { dc: false, bytes } => out.extend(bytes.iter().map(|&c| (c, Vec::new()))),
                Event::Write { dc: true, bytes } => {
                    out.last_mut().expect("data written before any command").1.extend_from_slice(bytes)
                }
                Event::Pin { .. } => {}
            }
        }
        out
    }

    fn opcodes(cmds: &[(u8, Vec<u8>)]) -> Vec<u8> {
        cmds.iter().map(|c| c.0).collect()
    }

    /// Whether `needle` occurs in `hay` in order (not necessarily adjacent).
    fn in_order(hay: &[u8], needle: &[u8]) -> bool {
        let mut it = hay.iter();
        needle.iter().all(|n| it.any(|h| h == n))
    }

    fn param(cmds: &[(u8, Vec<u8>)], op: u8) -> Vec<u8> {
        cmds.iter().find(|c| c.0 == op).unwrap_or_else(|| panic!("no command {op:#04x}")).1.clone()
    }

    fn be16(a: u16, b: u16) -> Vec<u8> {
        [a.to_be_bytes(), b.to_be_bytes()].concat()
    }

    /// RGB888 quantised to the 5/6/5 bits the panel keeps.
    fn q565(p: [u8; 3]) -> (u16, u16, u16) {
        (u16::from(p[0] >> 3), u16::from(p[1] >> 2), u16::from(p[2] >> 3))
    }

    /// Decode big-endian RGB565 wire bytes to (r5, g6, b5).
    fn decode(bytes: &[u8]) -> (u16, u16, u16) {
        let v = u16::from_be_bytes([bytes[0], bytes[1]]);
        (v >> 11, (v >> 5) & 0x3f, v & 0x1f)
    }

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 16) as u8, (y * 32) as u8, 255 - (x * 16) as u8]))
    }

    fn report() -> FrameReport {
        FrameReport { seq: 0, time: 0.0, latency_ms: 0.0, faces: Vec::new(), events: Vec::new() }
    }

    #[test]
    fn st7789_init_soft_resets_selects_16_bit_colour_and_lights_up_after_clearing() {
        let mut cfg = SpiLcdConfig::new(Controller::St7789, 240, 240, 25);
        cfg.backlight = Some(18);
        let (_lcd, probe) = fake_lcd(&cfg, false, true);
        let log = probe.log();
        let cmds = commands(&log);
        let ops = opcodes(&cmds);
        assert_eq!(ops[0], 0x01, "software reset first without a reset line: {ops:02x?}");
        // sleep out, COLMOD, display on; then the black clear (window + RAMWR).
        assert!(in_order(&ops, &[0x01, 0x11, 0x3A, 0x29, 0x2A, 0x2B, 0x2C]), "{ops:02x?}");
        assert_eq!(param(&cmds, 0x3A), vec![0x55], "16 bits per pixel on both interfaces");
        assert!(ops.contains(&0x21) && !ops.contains(&0x20), "ST7789 IPS panels want INVON by default");
        assert_eq!(param(&cmds, 0x36)[0] & 0x08, 0, "RGB order by default");
        let clear = &cmds.last().unwrap();
        assert_eq!(clear.0, 0x2C);
        assert_eq!(clear.1.len(), 240 * 240 * 2);
        assert!(clear.1.iter().all(|&b| b == 0), "cleared to black");
        assert_eq!(
            log.last(),
            Some(&Event::Pin { role: Role::Backlight, high: true }),
            "backlight switched on after the clear"
        );
    }

    #[test]
    fn ili9341_with_reset_line_uses_hardware_reset_and_honours_options() {
        let mut cfg = SpiLcdConfig::new(Controller::Ili9341, 240, 320, 25);
        cfg.color_order = ColorOrder::Bgr;
        let (_lcd, probe) = fake_lcd(&cfg, true, false);
        let log = probe.log();
        assert_eq!(
            log[..2],
            [Event::Pin { role: Role::Reset, high: false }, Event::Pin { role: Role::Reset, high: true }],
            "reset pulsed low before any command"
        );
        let cmds = commands(&log);
        let ops = opcodes(&cmds);
        assert!(!ops.contains(&0x01), "no software reset with a reset line: {ops:02x?}");
        assert!(in_order(&ops, &[0x36, 0x3A, 0x11, 0x29]), "{ops:02x?}");
        assert_eq!(param(&cmds, 0x3A), vec![0x55]);
        assert!(ops.contains(&0x20) && !ops.contains(&0x21), "ILI9341 not inverted by default");
        assert_ne!(param(&cmds, 0x36)[0] & 0x08, 0, "BGR bit set in MADCTL");
    }

    #[test]
    fn present_sends_one_window_with_offsets_and_the_letterboxed_frame() {
        // A 1.14" 135x240 ST7789 module sits at column 52, row 40 of the controller RAM.
        let mut cfg = SpiLcdConfig::new(Controller::St7789, 135, 240, 25);
        (cfg.x_offset, cfg.y_offset) = (52, 40);
        let (mut lcd, probe) = fake_lcd(&cfg, true, false);
        probe.forget();
        let frame = gradient(16, 8);
        lcd.present(&frame).unwrap();

        let cmds = commands(&probe.log());
        assert_eq!(opcodes(&cmds), vec![0x2A, 0x2B, 0x2C], "one window write, nothing else");
        assert_eq!(cmds[0].1, be16(52, 52 + 134), "CASET covers the panel's columns");
        assert_eq!(cmds[1].1, be16(40, 40 + 239), "RASET covers the panel's rows");
        let data = &cmds[2].1;
        assert_eq!(data.len(), 135 * 240 * 2, "exactly width*height RGB565 pixels");

        // A 2:1 frame on a 135-wide panel: 135x67 picture from row 86, black bars around.
        let px = |x: usize, y: usize| &data[(y * 135 + x) * 2..][..2];
        assert_eq!(px(0, 0), [0, 0], "top bar black");
        assert_eq!(px(134, 239), [0, 0], "bottom bar black");
        assert_eq!(px(0, 85), [0, 0], "last bar row black");
        assert_eq!(px(0, 86), [0x00, 0x1F], "frame (0,0) = pure blue");
        assert_eq!(px(134, 86), [0xF0, 0x01], "frame (15,0) = (240,0,15)");
        assert_eq!(decode(px(67, 119)), q565(frame.get_pixel(8, 4).0), "centre");

        // And every pixel agrees with the reference letterbox.
        let reference = letterbox(&frame, (135, 240));
        for (i, p) in reference.pixels().enumerate() {
            assert_eq!(decode(&data[i * 2..]), q565(p.0), "pixel {} {}", i % 135, i / 135);
        }
    }

    #[test]
    fn rotation_swaps_the_window_for_landscape() {
        let mut cfg = SpiLcdConfig::new(Controller::Ili9341, 240, 320, 25);
        cfg.rotation = 90;
        let (mut lcd, probe) = fake_lcd(&cfg, false, false);
        assert_ne!(param(&commands(&probe.log()), 0x36)[0] & 0x20, 0, "MADCTL row/column exchange");
        assert_eq!(lcd.screen_size(), (320, 240));
        assert_eq!(lcd.size(), Size::new(320, 240));
        probe.forget();
        let frame = gradient(16, 12); // 4:3 fills a 320x240 screen exactly
        lcd.present(&frame).unwrap();
        let cmds = commands(&probe.log());
        assert_eq!(opcodes(&cmds), vec![0x2A, 0x2B, 0x2C]);
        assert_eq!(cmds[0].1, be16(0, 319));
        assert_eq!(cmds[1].1, be16(0, 239));
        assert_eq!(cmds[2].1.len(), 320 * 240 * 2);
        let reference = letterbox(&frame, (320, 240));
        for (i, p) in reference.pixels().enumerate().step_by(97) {
            assert_eq!(decode(&cmds[2].1[i * 2..]), q565(p.0), "pixel {i}");
        }
        assert_ne!(&cmds[2].1[..2], [0, 0], "no bars on a same-aspect frame");
    }

    #[test]
    fn draw_target_draws_through_the_driver() {
        let cfg = SpiLcdConfig::new(Controller::St7789, 240, 240, 25);
        let (mut lcd, probe) = fake_lcd(&cfg, true, false);
        probe.forget();
        Rectangle::new(Point::new(2, 3), Size::new(10, 5))
            .into_styled(PrimitiveStyle::with_fill(Rgb565::RED))
            .draw(&mut lcd)
            .unwrap();
        let cmds = commands(&probe.log());
        assert_eq!(opcodes(&cmds), vec![0x2A, 0x2B, 0x2C]);
        assert_eq!(cmds[0].1, be16(2, 11));
        assert_eq!(cmds[1].1, be16(3, 7));
        assert_eq!(cmds[2].1, [0xF8, 0x00].repeat(50), "50 red pixels");
    }

    #[test]
    fn sink_show_presents_and_close_blanks_and_darkens() {
        let mut cfg = SpiLcdConfig::new(Controller::St7789, 240, 240, 25);
        cfg.backlight = Some(18);
        let (lcd, probe) = fake_lcd(&cfg, true, true);
        let mut sink: Box<dyn Sink> = Box::new(lcd);
        probe.forget();
        sink.show(&RgbImage::from_pixel(4, 4, image::Rgb([255, 255, 255])), &report()).unwrap();
        let shown = commands(&probe.log());
        assert!(shown[2].1.iter().all(|&b| b == 0xFF), "a white square frame fills the square panel");
        probe.forget();
        sink.close().unwrap();
        let log = probe.log();
        let cmds = commands(&log);
        assert_eq!(cmds.last().unwrap().0, 0x2C);
        assert_eq!(cmds.last().unwrap().1.len(), 240 * 240 * 2);
        assert!(cmds.last().unwrap().1.iter().all(|&b| b == 0), "blanked");
        assert_eq!(log.last(), Some(&Event::Pin { role: Role::Backlight, high: false }));
    }

    #[test]
    fn bad_frames_and_geometry_are_errors_not_panics() {
        let cfg = SpiLcdConfig::new(Controller::St7789, 240, 240, 25);
        let (mut lcd, _probe) = fake_lcd(&cfg, false, false);
        let err = lcd.present(&RgbImage::new(0, 10)).unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");

        let mut cfg = SpiLcdConfig::new(Controller::St7789, 240, 240, 25);
        cfg.y_offset = 100; // 340 rows > 320: mipidsi would assert
        let probe = Probe::default();
        let result =
            FakeLcd::new(&cfg, FakeSpi(probe.clone()), FakePin(probe.clone(), Role::Dc), None, None, &mut NoDelay);
        let err = result.err().expect("rejected").to_string();
        assert!(err.contains("y_offset"), "{err}");
        assert!(probe.log().is_empty(), "nothing sent for a rejected config");
    }

    #[test]
    fn the_hardware_type_is_a_sink() {
        // Compile-time check that what `open` returns satisfies `Sink` (and so `Send`).
        fn is_sink<T: Sink>() {}
        is_sink::<SpiLcd<SpidevDevice, CdevPin, CdevPin>>();
    }

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

    #[test]
    fn config_deserialises_with_defaults_and_rejects_unknown_fields() {
        let cfg: SpiLcdConfig =
            serde_json::from_str(r#"{"controller": "st7789", "dc": 25, "width": 240, "height": 240, "rotation": 90}"#)
                .unwrap();
        let mut want = SpiLcdConfig::new(Controller::St7789, 240, 240, 25);
        want.rotation = 90;
        assert_eq!(cfg, want);
        let err = serde_json::from_str::<SpiLcdConfig>(
            r#"{"controller": "st7789", "dc": 25, "width": 240, "height": 240, "rotate": 90}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("rotate"), "{err}");
        let err =
            serde_json::from_str::<SpiLcdConfig>(r#"{"controller": "ssd1306", "dc": 1, "width": 1, "height": 1}"#)
                .unwrap_err()
                .to_string();
        assert!(err.contains("ssd1306"), "{err}");
    }
}
