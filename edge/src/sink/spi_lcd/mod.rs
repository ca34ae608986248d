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
//!
//! [`DrawTarget`]: embedded_graphics::draw_target::DrawTarget
//! [`Sink`]: super::Sink

mod config;
#[cfg(test)]
mod fake;
mod hardware;
mod lcd;
mod panel;
mod spec;

pub use config::{ColorOrder, Controller, SpiLcdConfig, DEFAULT_GPIOCHIP, DEFAULT_SPIDEV, DEFAULT_SPI_HZ};
pub use hardware::open;
pub use lcd::SpiLcd;
pub use spec::parse_spec;
