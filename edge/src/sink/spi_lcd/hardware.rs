//! Opening a panel on real hardware: spidev for the bus, the GPIO character device for the
//! DC, reset and backlight lines.

use super::config::SpiLcdConfig;
use super::lcd::SpiLcd;
use anyhow::{anyhow, Context, Result};
use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
use linux_embedded_hal::spidev::{SpiModeFlags, Spidev, SpidevOptions};
use linux_embedded_hal::{CdevPin, Delay, SpidevDevice};
use std::path::Path;

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
    use crate::sink::Sink;

    #[test]
    fn the_hardware_type_is_a_sink() {
        // Compile-time check that what `open` returns satisfies `Sink` (and so `Send`).
        fn is_sink<T: Sink>() {}
        is_sink::<SpiLcd<SpidevDevice, CdevPin, CdevPin>>();
    }
}
