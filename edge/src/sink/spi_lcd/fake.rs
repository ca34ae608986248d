//! Test doubles for the panel tests: an SPI device and pins that log what happens on the
//! wires, and helpers that read the log back as controller commands.

use super::config::SpiLcdConfig;
use super::lcd::SpiLcd;
use crate::sink::FrameReport;
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType, OutputPin};
use embedded_hal::spi::{Operation, SpiDevice};
use image::RgbImage;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

/// Which fake pin did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Dc,
    Reset,
    Backlight,
}

/// One thing that happened on the wires, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Event {
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
pub(super) struct Probe(Arc<Mutex<Wire>>);

impl Probe {
    pub(super) fn log(&self) -> Vec<Event> {
        self.0.lock().unwrap().log.clone()
    }
    pub(super) fn forget(&self) {
        self.0.lock().unwrap().log.clear();
    }
}

pub(super) struct FakeSpi(pub(super) Probe);

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

pub(super) struct FakePin(pub(super) Probe, pub(super) Role);

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

pub(super) struct NoDelay;

impl DelayNs for NoDelay {
    fn delay_ns(&mut self, _ns: u32) {}
}

pub(super) type FakeLcd = SpiLcd<FakeSpi, FakePin, FakePin>;

pub(super) fn fake_lcd(cfg: &SpiLcdConfig, reset: bool, backlight: bool) -> (FakeLcd, Probe) {
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
pub(super) fn commands(log: &[Event]) -> Vec<(u8, Vec<u8>)> {
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

pub(super) fn opcodes(cmds: &[(u8, Vec<u8>)]) -> Vec<u8> {
    cmds.iter().map(|c| c.0).collect()
}

/// Whether `needle` occurs in `hay` in order (not necessarily adjacent).
pub(super) fn in_order(hay: &[u8], needle: &[u8]) -> bool {
    let mut it = hay.iter();
    needle.iter().all(|n| it.any(|h| h == n))
}

pub(super) fn param(cmds: &[(u8, Vec<u8>)], op: u8) -> Vec<u8> {
    cmds.iter().find(|c| c.0 == op).unwrap_or_else(|| panic!("no command {op:#04x}")).1.clone()
}

pub(super) fn be16(a: u16, b: u16) -> Vec<u8> {
    [a.to_be_bytes(), b.to_be_bytes()].concat()
}

/// RGB888 quantised to the 5/6/5 bits the panel keeps.
pub(super) fn q565(p: [u8; 3]) -> (u16, u16, u16) {
    (u16::from(p[0] >> 3), u16::from(p[1] >> 2), u16::from(p[2] >> 3))
}

/// Decode big-endian RGB565 wire bytes to (r5, g6, b5).
pub(super) fn decode(bytes: &[u8]) -> (u16, u16, u16) {
    let v = u16::from_be_bytes([bytes[0], bytes[1]]);
    (v >> 11, (v >> 5) & 0x3f, v & 0x1f)
}

pub(super) fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 16) as u8, (y * 32) as u8, 255 - (x * 16) as u8]))
}

pub(super) fn report() -> FrameReport {
    FrameReport { seq: 0, time: 0.0, width: 0, height: 0, latency_ms: 0.0, faces: Vec::new(), events: Vec::new() }
}
