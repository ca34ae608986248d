//! The mipidsi side: one display type for both controllers ([`Panel`], with an optional
//! reset line of a fixed type) and the builder call that configures and initialises it.

use super::config::{ColorOrder, SpiLcdConfig};
use anyhow::{anyhow, Result};
use embedded_graphics::pixelcolor::Rgb565;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType, OutputPin};
use embedded_hal::spi::SpiDevice;
use mipidsi::interface::SpiInterface;
use mipidsi::models::{ILI9341Rgb565, Model, ST7789};
use mipidsi::options::{ColorInversion, ColorOrder as MipiColorOrder, Orientation};
use mipidsi::{Builder, Display};

/// An optional reset line that always has the same type, so one `SpiLcd` type covers
/// panels with and without one (mipidsi changes the display type with `reset_pin`).
pub(super) struct OptionalPin<P>(pub(super) Option<P>);

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

pub(super) type Di<SPI, DC> = SpiInterface<'static, SPI, DC>;

/// The mipidsi display for whichever controller the config names (both speak RGB565).
pub(super) enum Panel<SPI: SpiDevice, DC: OutputPin, RST: OutputPin> {
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
pub(super) use with_display;

/// Configure and initialise one mipidsi model (generic so both controllers share it).
pub(super) fn build<M, SPI, DC, RST>(
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
