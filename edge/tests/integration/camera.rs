//! The `facecam` binary end to end on this machine's stand-ins for a camera and a
//! screen: an MJPEG file made from the sample photos as the source, a file laid out
//! like a framebuffer as the display. The shipped model does the detecting.

use crate::common::{facecam, mjpeg_file as stream, root, scratch};
use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn run_from_an_mjpeg_file_to_a_framebuffer_file_tracks_the_face() {
    let dir = scratch("run");
    let mjpeg = stream(&dir, 30);
    let fb = dir.join("fb0");
    std::fs::write(&fb, vec![0u8; 960 * 540 * 4]).unwrap();
    let source = format!("mjpeg:{}", mjpeg.display());
    let screen = format!("fbfile:{}@960x540@32", fb.display());
    let (ok, stdout, stderr) = facecam(&[
        "run",
        "--source",
        &source,
        "--sink",
        &screen,
        "--sink",
        "json",
        "--sticker",
        "sunglasses",
        "--keep-screen",
    ]);
    assert!(ok, "{stderr}");
    // Frame lines; face events are lines of their own (of another `type`).
    let frames: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "frame")
        .collect();
    assert_eq!(frames.len(), 30, "a file source loses no frame");
    // The astronaut is in every frame: one face, one track id all along.
    let ids: Vec<u64> = frames.iter().filter_map(|f| f["faces"].get(0)?["id"].as_u64()).collect();
    assert!(ids.len() >= 27, "face found in {} of 30 frames", ids.len());
    assert!(ids.iter().all(|&id| id == ids[0]), "one identity: {ids:?}");
    // The screen shows the last 4:3 frame pillarboxed into 16:9: bars black, picture not.
    let (ok, _, stderr) = facecam(&["screenshot", "--sink", &screen, dir.join("shot.png").to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let shot = image::open(dir.join("shot.png")).unwrap().to_rgb8();
    assert_eq!(shot.dimensions(), (960, 540));
    assert_eq!(shot.get_pixel(10, 270).0, [0, 0, 0], "pillarbox bar");
    let lit = shot.pixels().filter(|p| p.0.iter().any(|&c| c > 40)).count();
    assert!(lit > 720 * 540 / 2, "picture shown: {lit} lit pixels");
    // Without --keep-screen the display is given back as it was found (here: black).
    let (ok, _, stderr) = facecam(&["run", "--source", &source, "--sink", &screen, "--frames", "3"]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = facecam(&["screenshot", "--sink", &screen, dir.join("after.png").to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let after = image::open(dir.join("after.png")).unwrap().to_rgb8();
    assert_eq!(after, shot, "restored to what the previous run left");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn privacy_blur_hides_the_face_and_keeps_the_rest() {
    let dir = scratch("privacy");
    let out = dir.join("frames");
    let sink = format!("png:{}", out.display());
    let (ok, stdout, stderr) = facecam(&[
        "run",
        "--source",
        "images:samples/astronaut.png",
        "--sink",
        &sink,
        "--sink",
        "json",
        "--privacy",
        "blur",
        "--no-boxes",
        "--no-hud",
    ]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    let b = &report["faces"][0]["box"];
    let (x0, y0, x1, y1) =
        (b["x0"].as_f64().unwrap(), b["y0"].as_f64().unwrap(), b["x1"].as_f64().unwrap(), b["y1"].as_f64().unwrap());
    let original = image::open(root().join("samples/astronaut.png")).unwrap().to_rgb8();
    let shown = image::open(out.join("frame-000000.png")).unwrap().to_rgb8();
    // Detail (neighbour differences) inside the face box collapses; far away nothing changes.
    let detail = |img: &image::RgbImage, xa: u32, ya: u32, xb: u32, yb: u32| {
        let mut sum = 0.0;
        for y in ya..yb {
            for x in xa..xb - 1 {
                sum += (img.get_pixel(x, y).0[1] as f64 - img.get_pixel(x + 1, y).0[1] as f64).abs();
            }
        }
        sum / ((xb - xa - 1) * (yb - ya)) as f64
    };
    let (xa, ya, xb, yb) = (
        (x0 + 0.2 * (x1 - x0)) as u32,
        (y0 + 0.2 * (y1 - y0)) as u32,
        (x1 - 0.2 * (x1 - x0)) as u32,
        (y1 - 0.2 * (y1 - y0)) as u32,
    );
    let (before, after) = (detail(&original, xa, ya, xb, yb), detail(&shown, xa, ya, xb, yb));
    assert!(after < before * 0.3, "face detail {before:.2} → {after:.2}");
    assert_eq!(original.get_pixel(5, 500), shown.get_pixel(5, 500), "far from the face: untouched");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn capture_writes_pictures_with_prelabelled_labelme_json() {
    let dir = scratch("capture");
    let out = dir.join("captures");
    let (ok, _, stderr) =
        facecam(&["capture", "--source", "images:samples", "--out", out.to_str().unwrap(), "--every", "0", "--label"]);
    assert!(ok, "{stderr}");
    let mut jsons: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    jsons.sort();
    assert_eq!(jsons.len(), 2, "one per sample photo");
    let mut faces = 0;
    for j in &jsons {
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(j).unwrap()).unwrap();
        assert!(j.with_extension("jpg").is_file());
        assert_eq!(doc["imagePath"].as_str().unwrap(), j.with_extension("jpg").file_name().unwrap().to_str().unwrap());
        faces += doc["shapes"].as_array().unwrap().len();
    }
    assert!(faces >= 1, "the astronaut's face is pre-labelled");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One rule for exit codes: a usage error (a value that cannot be right) exits 2, as
/// clap's own do; a runtime failure exits 1, and so does a run with nothing done.
#[test]
fn usage_errors_exit_2_and_failures_1() {
    let code = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_facecam")).args(args).current_dir(root()).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    for args in [
        &["run", "--source", "webcam", "--sink", "none"][..],
        &["run", "--source", "pattern", "--sink", "tv"],
        &["run", "--source", "pattern", "--sink", "none", "--threads", "0"],
        &["detect", "samples", "--threshold", "2"],
        &["capture", "--source", "pattern", "--crops", "--class", "a", "--margin", "-1"],
    ] {
        let (status, stderr) = code(args);
        assert_eq!(status, Some(2), "{args:?}: {stderr}");
    }
    for args in [
        &["run", "--source", "pipe:true", "--sink", "none"][..],
        &["run", "--source", "mjpeg:/nonexistent/cam.mjpeg", "--sink", "none"],
        &["detect", "/nonexistent/photos"],
    ] {
        let (status, stderr) = code(args);
        assert_eq!(status, Some(1), "{args:?}: {stderr}");
    }
    let (_, stderr) = code(&["run", "--source", "pipe:true", "--sink", "none"]);
    assert!(stderr.contains("without a single frame"), "{stderr}");
}

#[test]
fn bad_input_gets_a_clear_error_not_a_panic() {
    let cases: [(&[&str], &str); 9] = [
        (&["run", "--source", "mjpeg:/nonexistent/cam.mjpeg", "--sink", "none"], "/nonexistent/cam.mjpeg"),
        (&["run", "--source", "webcam", "--sink", "none"], "expected v4l2:"),
        (&["run", "--source", "pattern", "--sink", "fbfile:/nonexistent/fb@10x10@32"], "/nonexistent/fb"),
        (&["run", "--source", "pattern", "--sink", "tv"], "is not a sink kind (fb, fbfile"),
        (&["run", "--source", "pattern", "--sink", "none", "--sticker", "moustache"], "sunglasses"),
        (&["run", "--source", "pattern", "--sink", "none", "--privacy", "blurr"], "expected pixelate or blur"),
        (&["run", "--source", "pattern", "--sink", "none", "--privacy", "known=none"], "a class needs --classifier"),
        (
            &[
                "run",
                "--source",
                "pattern",
                "--sink",
                "none",
                "--classifier",
                "models/facemask.onnx",
                "--privacy",
                "blur",
                "--privacy",
                "knwon=none",
            ],
            "`knwon` is not one of the classifier's classes: con_mascarilla (mask), mascarilla_mal_puesta (mask worn \
             wrongly), sin_mascarilla (no mask)",
        ),
        (
            &[
                "run",
                "--source",
                "pattern",
                "--sink",
                "none",
                "--classifier",
                "models/facemask.onnx",
                "--privacy",
                "no mask=blur",
                "--privacy",
                "sin_mascarilla=none",
            ],
            "class `sin_mascarilla` is given twice (by its id and its display name)",
        ),
    ];
    for (args, needle) in cases {
        let (ok, _, stderr) = facecam(args);
        assert!(!ok, "{args:?} should fail");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_camera_pipe_does_not_outlive_the_run() {
    let dir = scratch("pipe-exit");
    let mjpeg = stream(&dir, 10);
    let pid_file = dir.join("pipe.pid");
    // A live pipe that never ends, like `rpicam-vid -t 0`; it records its shell's pid.
    let source =
        format!("pipe:echo $$ > '{}'; while :; do cat '{}'; sleep 0.2; done", pid_file.display(), mjpeg.display());
    let (ok, _, stderr) = facecam(&["run", "--source", &source, "--sink", "none", "--frames", "5"]);
    assert!(ok, "{stderr}");
    let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let alive = Path::new("/proc").join(&pid).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ");
    assert!(!alive, "the pipe's shell (pid {pid}) still runs after facecam exited");
}

/// The short soak CI runs: 1,000 frames (corrupt ones among them) through the whole loop,
/// memory sampled every 100; after warm-up it may wobble but not grow. (The long soak,
/// 100,000 frames, is in docs/RELIABILITY.md.)
#[test]
fn a_short_soak_keeps_memory_flat() {
    let dir = scratch("soak");
    let report = dir.join("soak.json");
    #[rustfmt::skip]
    let (ok, stdout, stderr) = facecam(&[
        "soak", "--frames", "1000", "--every", "100", "--json", report.to_str().unwrap(),
    ]);
    assert!(ok, "{stdout}\n{stderr}");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let shown = r["frames"].as_u64().unwrap();
    let corrupt = r["corrupt"].as_u64().unwrap();
    assert!(corrupt >= 10 && shown + corrupt >= 1000, "{r}");
    let rss: Vec<f64> = r["samples"].as_array().unwrap().iter().map(|s| s[1].as_f64().unwrap()).collect();
    assert!(rss.len() >= 9, "{r}");
    let settled = &rss[2..];
    let (lo, hi) = settled.iter().fold((f64::MAX, 0f64), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(hi - lo < 16.0, "VmRSS grew from {lo:.1} to {hi:.1} MiB: {rss:?}");
}

/// A real baseline JPEG of `w`x`h` flat grey pixels in 6 bits per 8x8 block (DC
/// difference 0, then end of block, in the standard Huffman codes, which frames without
/// tables are decoded with): 12000x12000 is 1.7 MB and decodes to 432 MB of RGB.
fn flat_grey_jpeg(w: u16, h: u16) -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8, 0xFF, 0xDB, 0, 67, 0];
    j.extend([1u8; 64]); // quantisation table 0: all ones
    j.extend([0xFF, 0xC0, 0, 11, 8]); // baseline, 8 bits
    j.extend(h.to_be_bytes());
    j.extend(w.to_be_bytes());
    j.extend([1, 1, 0x11, 0]); // one component: id 1, 1x1 sampling, table 0
    j.extend([0xFF, 0xDA, 0, 8, 1, 1, 0x00, 0, 63, 0]); // its scan, tables 0/0
    let blocks = (w as usize).div_ceil(8) * (h as usize).div_ceil(8);
    for _ in 0..blocks.div_ceil(4) {
        j.extend([0x28, 0xA2, 0x8A]); // 00 1010, four times
    }
    j.extend([0xFF, 0xD9]);
    j
}

#[test]
fn a_huge_frame_in_a_stream_is_skipped_before_it_is_decoded() {
    let dir = scratch("huge-frame");
    let frames = edge::jobs::bench::make_stream(&root().join("samples"), 6).unwrap();
    let huge = flat_grey_jpeg(12000, 12000);
    assert!(huge.len() < 16 << 20, "under the frame byte cap: only its pixels are too many");
    // The generator makes a real picture: one of 64x48 decodes to flat grey.
    let small = edge::source::decode::decode_jpeg(&flat_grey_jpeg(64, 48)).unwrap();
    assert_eq!(small.dimensions(), (64, 48));
    assert!(small.pixels().all(|p| p.0.iter().all(|&c| c.abs_diff(128) <= 1)), "{:?}", small.get_pixel(0, 0));
    let file = dir.join("stream.mjpeg");
    std::fs::write(&file, [frames[..3].concat(), huge, frames[3..].concat()].concat()).unwrap();
    let source = format!("mjpeg:{}", file.display());
    let (ok, stdout, stderr) = facecam(&["run", "--source", &source, "--sink", "json", "--min-face-seconds", "0"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.lines().filter(|l| l.contains("\"seq\"")).count(), 6, "the good frames around it: {stdout}");
    let warning = stderr.lines().find(|l| l.contains("skipped a frame")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(warning.contains(&file.display().to_string()) && warning.contains("12000x12000"), "{warning}");
    assert!(stderr.contains("1 corrupt"), "{stderr}");
    let peak: f64 = stderr
        .split("peak RSS ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in: {stderr}"));
    assert!(peak < 200.0, "peak RSS {peak} MiB: the frame was decoded");
}

/// `jpeg` with an EXIF block saying Orientation = `orientation` right after SOI (a
/// big-endian TIFF header and one IFD entry, as phones write it).
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
    exif.extend(orientation.to_be_bytes());
    exif.extend([0, 0, 0, 0, 0, 0]); // value padding, no next IFD
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend((exif.len() as u16 + 2).to_be_bytes());
    app1.extend(exif);
    [&jpeg[..2], &app1[..], &jpeg[2..]].concat()
}

#[test]
fn detect_turns_a_sideways_phone_photo_upright() {
    let dir = scratch("exif");
    // A portrait photo stored sideways, as phones store it, with Orientation 6 ("turn a
    // quarter clockwise to show").
    let astronaut = image::open(root().join("samples/astronaut.png")).unwrap().to_rgb8();
    let upright = image::imageops::crop_imm(&astronaut, 96, 0, 320, 400).to_image();
    let stored = image::imageops::rotate270(&upright);
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 92).encode_image(&stored).unwrap();
    let photos = dir.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::write(photos.join("phone.jpg"), with_exif_orientation(&jpeg, 6)).unwrap();
    upright.save(photos.join("upright.png")).unwrap();
    let out = dir.join("out");
    let (ok, _, stderr) = facecam(&["detect", photos.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(out.join("detections.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |name: &str| lines.iter().find(|l| l["file"].as_str().unwrap().ends_with(name)).unwrap().clone();
    let (phone, reference) = (of("phone.jpg"), of("upright.png"));
    assert_eq!((phone["width"].as_u64(), phone["height"].as_u64()), (Some(320), Some(400)), "{phone}");
    // The face is found, where it is in the upright picture.
    let faces = |l: &serde_json::Value| l["faces"].as_array().unwrap().clone();
    let (found, expected) = (faces(&phone), faces(&reference));
    assert!(!expected.is_empty() && found.len() == expected.len(), "{phone}\n{reference}");
    for (a, b) in found.iter().zip(&expected) {
        for k in ["x0", "y0", "x1", "y1"] {
            let (a, b) = (a["box"][k].as_f64().unwrap(), b["box"][k].as_f64().unwrap());
            assert!((a - b).abs() < 12.0, "{k}: {a} vs {b}\n{phone}\n{reference}");
        }
    }
}

/// The shipped face-mask classifier's display names: in the camera's JSON beside the
/// class id, and accepted by --privacy in place of the id.
#[test]
fn faces_carry_the_display_name_of_their_class() {
    let shown = |class: &str| match class {
        "con_mascarilla" => "mask",
        "sin_mascarilla" => "no mask",
        "mascarilla_mal_puesta" => "mask worn wrongly",
        other => panic!("unknown class {other}"),
    };
    let (ok, stdout, stderr) = facecam(&[
        "run",
        "--source",
        "images:samples/astronaut.png",
        "--sink",
        "json",
        "--classifier",
        "models/facemask.onnx",
        "--privacy",
        "no mask=blur",
        "--privacy",
        "mask worn wrongly=pixelate",
    ]);
    assert!(ok, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    let label = &report["faces"][0]["label"];
    assert_eq!(label["class_name"].as_str(), Some(shown(label["class"].as_str().unwrap())), "{report}");
    let dir = scratch("display-names");
    let out = dir.join("detect");
    let (ok, _, stderr) = facecam(&[
        "detect",
        "samples/astronaut.png",
        "--classifier",
        "models/facemask.onnx",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let text = std::fs::read_to_string(out.join("detections.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let label = &line["faces"][0]["label"];
    assert_eq!(label["class_name"].as_str(), Some(shown(label["class"].as_str().unwrap())), "{line}");
    std::fs::remove_dir_all(&dir).unwrap();
}
