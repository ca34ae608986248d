//! [`SpiLcd`]: an initialised panel that letterboxes frames into one RGB565 window write,
//! and is an embedded-graphics `DrawTarget` and a [`Sink`].

use super::config::{Controller, SpiLcdConfig};
use super::panel::{build, with_display, OptionalPin, Panel};
use crate::sink::letterbox::{fit, sample_map};
use crate::sink::{FrameReport, Sink};
use anyhow::{anyhow, bail, Result};
use embedded_graphics::pixelcolor::Rgb565;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;
use embedded_hal::spi::SpiDevice;
use image::RgbImage;
use mipidsi::interface::{Interface, SpiError, SpiInterface};
use mipidsi::models::{ILI9341Rgb565, ST7789};

/// Bytes gathered per SPI write. spidev refuses transfers larger than its `bufsiz`
/// module parameter (4096 by default), so a bigger buffer would fail on a stock Pi.
const SPI_CHUNK: usize = 4096;

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
    ///
    /// [`open`]: super::open
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

#[cfg(test)]
mod tests {
    use super::super::config::ColorOrder;
    use super::super::fake::*;
    use super::*;
    use crate::sink::letterbox::letterbox;
    use embedded_graphics::primitives::PrimitiveStyle;

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
}
