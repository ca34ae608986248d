//! A GPIO push-button, debounced by polling: the trigger for `facecam capture`.
//!
//! Mechanical contacts bounce for a few milliseconds when they close and open, and long
//! wires pick up single-sample glitches. [`Button::poll`] therefore only believes a new
//! level once it has been read the same way for a number of consecutive polls *and* for
//! a minimum time, and reports one event per press: on the debounced release-to-press
//! edge, never on release and never again while the button is held.
//!
//! The usual wiring is a button between the GPIO and ground with a pull-up, so a press
//! reads low (`active_low = true`). [`open_cdev`] opens such a line on Linux.

use anyhow::{anyhow, Result};
use embedded_hal::digital::InputPin;
use std::time::{Duration, Instant};

/// Consecutive agreeing polls needed by default before a level change is believed.
pub const DEFAULT_STABLE_POLLS: u32 = 3;
/// Minimum time a new level must have lasted by default (contact bounce is typically
/// over within 5-10 ms; 20 ms still feels instant to a person).
pub const DEFAULT_STABLE_FOR: Duration = Duration::from_millis(20);

/// A debounced push-button on an input pin.
pub struct Button<P: InputPin> {
    pin: P,
    active_low: bool,
    stable_polls: u32,
    stable_for: Duration,
    /// The debounced state: true while pressed.
    pressed: bool,
    /// A run of raw readings that disagree with `pressed`: when it began and how long it is.
    run: Option<(Instant, u32)>,
    /// Names the pin in errors.
    label: String,
}

impl<P: InputPin> Button<P> {
    /// A button on `pin`, pressed when the pin reads low if `active_low`, else high, with
    /// the default debounce ([`DEFAULT_STABLE_POLLS`] polls and [`DEFAULT_STABLE_FOR`]).
    ///
    /// The button starts released: one held down at start-up counts as one press once
    /// its level has been stable long enough.
    pub fn new(pin: P, active_low: bool) -> Self {
        Button {
            pin,
            active_low,
            stable_polls: DEFAULT_STABLE_POLLS,
            stable_for: DEFAULT_STABLE_FOR,
            pressed: false,
            run: None,
            label: "button".into(),
        }
    }

    /// Set the debounce: a new level counts after `polls` consecutive agreeing polls
    /// (at least 1) spanning at least `min_duration` from the first of them. Both apply,
    /// so the filter holds whether the caller polls fast or slowly.
    #[must_use]
    pub fn with_debounce(mut self, polls: u32, min_duration: Duration) -> Self {
        self.stable_polls = polls.max(1);
        self.stable_for = min_duration;
        self
    }

    /// Set the name used for this button in error messages (e.g. its GPIO line).
    #[must_use]
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Whether the button is pressed, after debouncing (as of the last poll).
    pub fn is_pressed(&self) -> bool {
        self.pressed
    }

    /// Read the pin once at time `now`; true exactly once per debounced press.
    ///
    /// Call it regularly (every few milliseconds to a few tens). `now` should not go
    /// backwards; if it does, the run is timed as if no time had passed.
    pub fn poll(&mut self, now: Instant) -> Result<bool> {
        let high = self.pin.is_high().map_err(|e| anyhow!("reading {}: {e:?}", self.label))?;
        let active = high != self.active_low;
        if active == self.pressed {
            // Agrees with the debounced state: any run of disagreeing reads was a bounce.
            self.run = None;
            return Ok(false);
        }
        let (since, polls) = match self.run {
            Some((since, polls)) => (since, polls.saturating_add(1)),
            None => (now, 1),
        };
        if polls >= self.stable_polls && now.saturating_duration_since(since) >= self.stable_for {
            self.pressed = active;
            self.run = None;
            return Ok(active);
        }
        self.run = Some((since, polls));
        Ok(false)
    }

    /// Give the pin back.
    pub fn into_inner(self) -> P {
        self.pin
    }
}

/// Open GPIO `line` of the character device `chip` (e.g. `/dev/gpiochip0`, BCM numbering
/// on a Pi) as a button, with the default debounce.
///
/// The line is requested as an input with the kernel's pull-up bias for an active-low
/// button (pull-down for active-high). Kernels older than 5.5 cannot set a bias from
/// user space; the line is then requested without one, and the pull must come from a
/// resistor or from `gpio=N=ip,pu` in the Pi's config.txt.
#[cfg(all(target_os = "linux", feature = "board"))]
pub fn open_cdev(chip: &std::path::Path, line: u32, active_low: bool) -> Result<Button<linux_embedded_hal::CdevPin>> {
    use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
    use linux_embedded_hal::CdevPin;

    // GPIOHANDLE_REQUEST_BIAS_PULL_UP / _PULL_DOWN from <linux/gpio.h> (Linux 5.5+):
    // the gpio-cdev crate does not name them, but passes unknown bits through.
    const BIAS_PULL_UP: u32 = 1 << 5;
    const BIAS_PULL_DOWN: u32 = 1 << 6;

    let what = format!("GPIO line {line} on {}", chip.display());
    let mut gpio = Chip::new(chip).map_err(|e| {
        let hint = if chip.exists() {
            "is the user in the gpio group? (`sudo usermod -aG gpio $USER`, then log in again)"
        } else {
            "no such device; list the chips with `ls /dev/gpiochip*`"
        };
        anyhow!("opening GPIO chip {} for the button: {e}; {hint}", chip.display())
    })?;
    let handle_line = gpio.get_line(line).map_err(|e| anyhow!("{what}: {e}; does the chip have that many lines?"))?;
    let bias = if active_low { BIAS_PULL_UP } else { BIAS_PULL_DOWN };
    let biased = LineRequestFlags::from_bits_retain(LineRequestFlags::INPUT.bits() | bias);
    let handle = handle_line
        .request(biased, 0, "facecam-button")
        .or_else(|_| handle_line.request(LineRequestFlags::INPUT, 0, "facecam-button"))
        .map_err(|e| {
            anyhow!("requesting {what} as an input: {e}; is it used by another program or a kernel driver?")
        })?;
    let pin = CdevPin::new(handle).map_err(|e| anyhow!("{what}: {e}"))?;
    Ok(Button::new(pin, active_low).with_label(what))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    /// A pin that plays back scripted levels, one per read, then holds the last one.
    struct Script {
        levels: Vec<bool>,
        next: usize,
    }

    impl Script {
        /// Levels from a string: `H`/`h`/`1` high, anything else low; spaces ignored.
        fn new(levels: &str) -> Self {
            let levels = levels.chars().filter(|c| !c.is_whitespace()).map(|c| matches!(c, 'H' | 'h' | '1')).collect();
            Script { levels, next: 0 }
        }
    }

    impl embedded_hal::digital::ErrorType for Script {
        type Error = Infallible;
    }

    impl InputPin for Script {
        fn is_high(&mut self) -> Result<bool, Infallible> {
            let level = self.levels.get(self.next).or(self.levels.last()).copied().unwrap_or(true);
            self.next += 1;
            Ok(level)
        }
        fn is_low(&mut self) -> Result<bool, Infallible> {
            self.is_high().map(|h| !h)
        }
    }

    /// Poll `button` once per `step`, `count` times; the poll indices that reported a press.
    fn presses<P: InputPin>(button: &mut Button<P>, count: usize, step: Duration) -> Vec<usize> {
        let start = Instant::now();
        (0..count).filter(|&i| button.poll(start + step * i as u32).unwrap()).collect()
    }

    const MS5: Duration = Duration::from_millis(5);

    #[test]
    fn one_press_per_bouncy_physical_press() {
        // Active-low: idle high, two presses that bounce on the way in and out.
        let script = "HHHHH LHLHL LLLLLLLLLL HLHLH HHHHHHHHHH \
                      LLHL LLLLLLLLLL HHLH HHHHH";
        let mut button = Button::new(Script::new(script), true);
        let got = presses(&mut button, 70, MS5);
        // Each bounce restarts the run: the first press's last run starts at read 9 and is
        // confirmed 20 ms later at read 13; the second's starts at 38, confirmed at 42.
        assert_eq!(got, vec![13, 42], "one event per press, none on release");
        assert!(!button.is_pressed(), "released at the end");
    }

    #[test]
    fn a_single_poll_glitch_is_ignored() {
        let mut button = Button::new(Script::new("HHHH L HHHH L HHHHHHHH"), true);
        assert!(presses(&mut button, 30, MS5).is_empty());
        // And a one-poll high glitch while held does not make a second press.
        let mut button = Button::new(Script::new("HH LLLLLLLL H LLLLLLLL H LLLLLLLL HHHHHH"), true);
        assert_eq!(presses(&mut button, 40, MS5), vec![6]);
    }

    #[test]
    fn a_held_button_fires_once_and_again_only_after_release() {
        let mut button =
            Button::new(Script::new(&format!("H{}{}{}", "L".repeat(200), "H".repeat(10), "L".repeat(10))), true);
        let got = presses(&mut button, 221, MS5);
        assert_eq!(got, vec![5, 215], "once when held for a second, once on the next press");
    }

    #[test]
    fn both_poll_count_and_duration_must_be_met() {
        // Polled every millisecond: 3 agreeing polls come fast, 20 ms decides.
        let mut button = Button::new(Script::new(&format!("H{}", "L".repeat(40))), true);
        assert_eq!(presses(&mut button, 41, Duration::from_millis(1)), vec![21]);
        // Polled every 50 ms: the duration is met at once, 3 polls decide.
        let mut button = Button::new(Script::new("H LLLL"), true);
        assert_eq!(presses(&mut button, 5, Duration::from_millis(50)), vec![3]);
        // Custom debounce: a single poll, no minimum time: every edge counts.
        let mut button = Button::new(Script::new("H L H L"), true).with_debounce(0, Duration::ZERO);
        assert_eq!(presses(&mut button, 4, MS5), vec![1, 3]);
    }

    #[test]
    fn active_high_wiring() {
        let mut button = Button::new(Script::new("LL HHHHHHH LLLLLLL HHHHHHH"), false);
        assert_eq!(presses(&mut button, 23, MS5), vec![6, 20]);
    }

    /// A pin whose reads fail.
    struct Broken;

    #[derive(Debug)]
    struct ReadError;

    impl embedded_hal::digital::Error for ReadError {
        fn kind(&self) -> embedded_hal::digital::ErrorKind {
            embedded_hal::digital::ErrorKind::Other
        }
    }

    impl embedded_hal::digital::ErrorType for Broken {
        type Error = ReadError;
    }

    impl InputPin for Broken {
        fn is_high(&mut self) -> Result<bool, ReadError> {
            Err(ReadError)
        }
        fn is_low(&mut self) -> Result<bool, ReadError> {
            Err(ReadError)
        }
    }

    #[test]
    fn read_errors_name_the_pin() {
        let mut button = Button::new(Broken, true).with_label("GPIO line 17 on /dev/gpiochip0");
        let err = button.poll(Instant::now()).unwrap_err().to_string();
        assert!(err.contains("GPIO line 17 on /dev/gpiochip0") && err.contains("ReadError"), "{err}");
    }

    #[cfg(all(target_os = "linux", feature = "board"))]
    #[test]
    fn the_hardware_button_is_send() {
        // Compile-time check: the capture loop may run the trigger on another thread.
        fn is_send<T: Send>() {}
        is_send::<Button<linux_embedded_hal::CdevPin>>();
    }

    #[cfg(all(target_os = "linux", feature = "board"))]
    #[test]
    fn open_cdev_errors_name_the_chip() {
        let Err(err) = open_cdev(std::path::Path::new("/dev/gpiochip-does-not-exist"), 17, true) else {
            panic!("opened a missing chip")
        };
        let err = err.to_string();
        assert!(err.contains("/dev/gpiochip-does-not-exist") && err.contains("ls /dev/gpiochip"), "{err}");
    }
}
