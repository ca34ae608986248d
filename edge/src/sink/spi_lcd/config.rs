//! What describes a panel: the [`Controller`] chip, the subpixel [`ColorOrder`], and the whole
//! [`SpiLcdConfig`] with its defaults and checks.

use anyhow::{anyhow, bail, Result};
use mipidsi::models::{ILI9341Rgb565, Model, ST7789};
use mipidsi::options::Rotation;
use serde::Deserialize;
use std::path::PathBuf;

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

    pub(super) fn parse(s: &str) -> Result<Self> {
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
    ///
    /// [`SpiLcd::present`]: super::SpiLcd::present
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

    pub(super) fn mipidsi_rotation(&self) -> Result<Rotation> {
        Ok(match self.rotation {
            0 => Rotation::Deg0,
            90 => Rotation::Deg90,
            180 => Rotation::Deg180,
            270 => Rotation::Deg270,
            r => bail!("rotation {r} is not one of 0, 90, 180, 270"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
