//! The framebuffer sink against a real X server: Xvfb keeps its screen in an XWD file under
//! `-fbdir`, the sink draws into that file, and `xwd` asks the *server* what it shows — so
//! the test checks the pixel format the server actually uses, not the sink's own idea of it.
//!
//! Skipped (with a note on stderr) when `Xvfb` or `xwd` is not installed, unless
//! `FACECAM_REQUIRE_XVFB=1`. With `FACECAM_WRITE_SCREENSHOTS` set, what the server shows is
//! saved to `docs/screenshots/xvfb-DEPTH.png`.

use crate::common::{scratch, Scratch};
use edge::sink::fbdev::{parse_xwd, Framebuffer};
use edge::sink::letterbox::letterbox;
use edge::sink::Sink;
use image::RgbImage;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SCREEN: (u32, u32) = (320, 240);
const PICTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/astronaut.png");

/// Whether `tool` is an executable file on `PATH`.
fn on_path(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths)
            .any(|dir| dir.join(tool).metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
    })
}

/// `false` (after saying why) when the X tools are missing and that is allowed.
fn tools_present() -> bool {
    let missing: Vec<&str> = ["Xvfb", "xwd"].into_iter().filter(|t| !on_path(t)).collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!("{} not installed (packages xvfb, x11-apps)", missing.join(" and "));
    if std::env::var("FACECAM_REQUIRE_XVFB").is_ok_and(|v| v == "1") {
        panic!("{msg}, and FACECAM_REQUIRE_XVFB=1");
    }
    eprintln!("skipping the Xvfb test: {msg}");
    false
}

/// A running Xvfb with its `-fbdir`; killed and cleaned up on drop.
struct Xvfb {
    child: Child,
    display: u32,
    dir: Scratch,
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        // SIGTERM first: Xvfb then removes its lock file and socket, which SIGKILL would leave behind.
        // SAFETY: plain kill(2) on our own child, which has not been reaped yet.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Xvfb {
    /// Start a `320x240xDEPTH` server on a free display, derived from the process id so
    /// parallel test runs (and the two depths of this one) do not collide.
    fn start(depth: u32) -> Xvfb {
        Self::start_sized(SCREEN, depth)
    }

    /// Start a `WxHxDEPTH` server.
    fn start_sized(screen: (u32, u32), depth: u32) -> Xvfb {
        let base = 300 + (std::process::id() % 2000) * 4 + if depth == 16 { 0 } else { 1 };
        for attempt in 0..16 {
            let display = base + 2 * attempt;
            let taken = [format!("/tmp/.X{display}-lock"), format!("/tmp/.X11-unix/X{display}")];
            if taken.iter().any(|p| Path::new(p).exists()) {
                continue;
            }
            let dir = scratch(&format!("xvfb-{display}"));
            let log = File::create(dir.join("log")).unwrap();
            let child = Command::new("Xvfb")
                .arg(format!(":{display}"))
                .args(["-screen", "0", &format!("{}x{}x{depth}", screen.0, screen.1)])
                .arg("-fbdir")
                .arg(&dir)
                // No cursor: a software cursor would be painted into (and restored over) the picture.
                // No reset: by default the server resets when its last client (each `xwd`) leaves,
                // repainting the root window over whatever the sink drew.
                .args(["-nolisten", "tcp", "-nocursor", "-noreset"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("cannot start Xvfb");
            let mut server = Xvfb { child, display, dir };
            if server.wait_ready() {
                return server;
            }
            let log = std::fs::read_to_string(server.dir.join("log")).unwrap_or_default();
            eprintln!("Xvfb :{display} did not come up, trying another display; its log:\n{log}");
        }
        panic!("could not start Xvfb at depth {depth} on any of 16 displays from :{base}");
    }

    /// Wait until the screen file has its visual filled in (the server has set up its
    /// screen) and the server answers `xwd`; `false` if it exits or takes too long.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            if Framebuffer::open_xvfb(&self.dir).is_ok() && self.grab().is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// What the X server shows on its root window, via `xwd`.
    fn grab(&self) -> Result<RgbImage, String> {
        let out_path = self.dir.join("grab.xwd");
        let out = File::create(&out_path).map_err(|e| e.to_string())?;
        let mut xwd = Command::new("xwd")
            .args(["-root", "-silent", "-display", &format!(":{}", self.display)])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run xwd: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = xwd.try_wait().map_err(|e| e.to_string())? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = xwd.kill();
                let _ = xwd.wait();
                return Err("xwd timed out".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if !status.success() {
            return Err(format!("xwd failed: {status}"));
        }
        let data = std::fs::read(&out_path).map_err(|e| e.to_string())?;
        let geometry = parse_xwd(&data, "xwd output").map_err(|e| format!("{e:#}"))?;
        geometry.to_rgb_image(&data).map_err(|e| format!("{e:#}"))
    }
}

/// Pixels of `got` that differ from `want` by more than `tol` in any channel.
fn mismatches(got: &RgbImage, want: &RgbImage, tol: u8) -> Vec<(u32, u32, [u8; 3], [u8; 3])> {
    got.enumerate_pixels()
        .filter_map(|(x, y, g)| {
            let w = want.get_pixel(x, y);
            g.0.iter().zip(w.0).any(|(&a, b)| a.abs_diff(b) > tol).then_some((x, y, g.0, w.0))
        })
        .collect()
}

fn shows_the_letterboxed_picture(depth: u32, tol: u8) {
    if !tools_present() {
        return;
    }
    let server = Xvfb::start(depth);
    let before = server.grab().unwrap();
    let mut fb = Framebuffer::open_xvfb(&server.dir).unwrap();
    assert_eq!(fb.dimensions(), SCREEN);
    assert_eq!(fb.geometry().bits_per_pixel, if depth == 16 { 16 } else { 32 }, "{:?}", fb.geometry());

    let frame = image::open(PICTURE).unwrap().to_rgb8();
    fb.present(&frame).unwrap();
    let shown = server.grab().unwrap();
    let want = letterbox(&frame, SCREEN);
    let bad = mismatches(&shown, &want, tol);
    assert!(
        bad.is_empty(),
        "depth {depth}: {} pixels differ, first few (x, y, shown, want): {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
    // The 512x512 picture on 320x240 is pillarboxed: black at the sides, picture in between.
    assert_eq!(shown.get_pixel(0, 120).0, [0, 0, 0]);
    assert_eq!(shown.get_pixel(319, 120).0, [0, 0, 0]);
    assert_ne!(shown.get_pixel(160, 120).0, [0, 0, 0]);

    if std::env::var_os("FACECAM_WRITE_SCREENSHOTS").is_some() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        shown.save(dir.join(format!("xvfb-{depth}.png"))).unwrap();
    }

    fb.close().unwrap();
    assert!(
        mismatches(&server.grab().unwrap(), &before, 0).is_empty(),
        "depth {depth}: close did not restore the screen"
    );
}

#[test]
fn xvfb_depth_16_shows_the_letterboxed_picture() {
    // RGB565 keeps 5/6 bits per channel: up to half a step (about 4 levels) of rounding.
    shows_the_letterboxed_picture(16, 5);
}

#[test]
fn xvfb_depth_24_shows_the_letterboxed_picture() {
    shows_the_letterboxed_picture(24, 0);
}

/// `facecam run` end to end onto the X server: an MJPEG file panning across the
/// astronaut photo, through the detector and tracker, with each overlay style; what the
/// server then shows is checked (and, with FACECAM_WRITE_SCREENSHOTS, saved for the docs).
#[test]
fn facecam_run_draws_each_overlay_on_the_x_server() {
    if !tools_present() {
        return;
    }
    let server = Xvfb::start_sized((640, 480), 24);
    let jpegs =
        edge::jobs::bench::make_stream(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../samples")), 30).unwrap();
    let stream = server.dir.join("pan.mjpeg");
    std::fs::write(&stream, jpegs.concat()).unwrap();
    let source = format!("mjpeg:{}", stream.display());
    let sink = format!("xvfb:{}", server.dir.display());
    let styles: [(&str, &[&str]); 5] = [
        ("boxes", &[]),
        ("sunglasses", &["--sticker", "sunglasses", "--no-hud"]),
        ("party-hat", &["--sticker", "party-hat", "--no-hud"]),
        ("blur", &["--privacy", "blur", "--no-boxes", "--no-hud"]),
        ("pixelate", &["--privacy", "pixelate", "--no-boxes", "--no-hud"]),
    ];
    let mut shots = std::collections::HashMap::new();
    for (name, extra) in styles {
        let out = Command::new(env!("CARGO_BIN_EXE_facecam"))
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .args(["run", "--source", &source, "--sink", &sink, "--sink", "json", "--keep-screen"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        // The last frame's line (face events come on lines of their own).
        let last: serde_json::Value = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .rfind(|v| v["type"] == "frame")
            .unwrap();
        let face = &last["faces"][0]["box"];
        let shown = server.grab().unwrap();
        if std::env::var_os("FACECAM_WRITE_SCREENSHOTS").is_some() {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
            std::fs::create_dir_all(&dir).unwrap();
            shown.save(dir.join(format!("run-{name}.png"))).unwrap();
        }
        let f = |k: &str| face[k].as_f64().unwrap() as u32;
        shots.insert(name, (shown, (f("x0"), f("y0"), f("x1"), f("y1"))));
    }
    let count = |img: &RgbImage, (x0, y0, x1, y1): (u32, u32, u32, u32), want: [u8; 3], tol: u8| {
        (y0..y1.min(img.height()))
            .flat_map(|y| (x0..x1.min(img.width())).map(move |x| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0.iter().zip(want).all(|(a, b)| a.abs_diff(b) <= tol))
            .count()
    };
    let (boxes, face) = &shots["boxes"];
    let whole = (0, 0, 640, 480);
    assert!(count(boxes, whole, [0, 255, 64], 0) > 200, "green face box drawn");
    assert!(count(boxes, (0, 0, 200, 16), [255, 255, 255], 0) > 30, "HUD text drawn");
    let (glasses, face_g) = &shots["sunglasses"];
    assert!(count(glasses, *face_g, [40, 45, 60], 12) > 100, "dark lenses over the face");
    assert!(count(boxes, *face, [40, 45, 60], 12) < count(glasses, *face_g, [40, 45, 60], 12) / 4);
    for hidden in ["blur", "pixelate"] {
        let (img, (x0, y0, x1, y1)) = &shots[hidden];
        let mut detail = 0.0;
        for y in *y0..*y1 {
            for x in *x0..x1 - 1 {
                detail += (img.get_pixel(x, y).0[1] as f64 - img.get_pixel(x + 1, y).0[1] as f64).abs();
            }
        }
        let detail = detail / ((x1 - x0 - 1) * (y1 - y0)) as f64;
        assert!(detail < 3.0, "{hidden}: mean neighbour difference {detail:.2} inside the face");
    }
}
