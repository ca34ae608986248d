//! The corpus's files, generated in a scratch folder: FIFOs where files are expected,
//! empty, garbage and truncated files, headers that promise huge pictures, nesting that
//! would overflow a recursive parser, numbers that overflow, and a few good files for
//! the cases that point an output at an input.

use facecam_tests::repo_root;
use std::path::Path;

/// Make every file the cases name, under `d`.
pub fn make(d: &Path) {
    for sub in ["cwd", "in", "dir.png", "labdeep", "labfifo", "vocdeep/annotations", "vocdeep/images"] {
        mkdir(&d.join(sub));
    }
    for sub in ["vocbig/annotations", "vocbig/images", "yolobig/images", "yolobig/labels", "sticker", "ck"] {
        mkdir(&d.join(sub));
    }
    mkdir(&d.join("fifomodels"));
    mkfifo(&d.join("fifomodels/facecam.onnx"));
    for name in ["fifo.png", "fifo.onnx", "fifo.json", "fifo.toml", "fifo.mjpeg", "fifo.xml", "labfifo/a.json"] {
        mkfifo(&d.join(name));
    }
    pictures(d);
    models(d);
    nesting(d);
    overflowing_boxes(d);
    sticker_and_checkpoint(d);
}

fn mkdir(p: &Path) {
    std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

fn write(p: &Path, bytes: impl AsRef<[u8]>) {
    std::fs::write(p, bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

fn mkfifo(p: &Path) {
    let ok = std::process::Command::new("mkfifo").arg(p).status().is_ok_and(|s| s.success());
    assert!(ok, "mkfifo {} failed", p.display());
}

/// A small real PNG's bytes.
fn png_bytes(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 4) as u8, (y * 4) as u8, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("encode a PNG");
    out.into_inner()
}

/// A PNG whose header claims `w`x`h` (with a correct CRC), followed by the small
/// picture's data: a decoder that trusts the header allocates w·h·3 bytes.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut bytes = png_bytes(16, 16);
    // Signature (8), IHDR length (4), "IHDR" (4), then width and height.
    bytes[16..20].copy_from_slice(&w.to_be_bytes());
    bytes[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn pictures(d: &Path) {
    let png = png_bytes(64, 48);
    write(&d.join("in/photo.png"), &png);
    write(&d.join("in/race.png"), &png);
    write(&d.join("empty.png"), b"");
    write(
        &d.join("garbage.png"),
        (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<_>>(),
    );
    write(&d.join("trunc.png"), &png[..png.len() / 3]);
    write(&d.join("huge.png"), png_claiming(100_000, 100_000));
    write(&d.join("garbage.mjpeg"), (0..65536u32).map(|i| (i.wrapping_mul(40_503) >> 7) as u8).collect::<Vec<_>>());
    write(&d.join("notes.txt"), b"not a picture\n");
    mkdir(&d.join("loop"));
    write(&d.join("loop/a.png"), &png);
    std::os::unix::fs::symlink(".", d.join("loop/again")).expect("a symlink loop");
    mkdir(&d.join("lab"));
    write(&d.join("lab/a.png"), &png);
    let doc = r#"{"imagePath": "a.png", "imageWidth": 64, "imageHeight": 48, "shapes": [
        {"label": "face", "shape_type": "rectangle", "points": [[10, 8], [40, 40]]}]}"#;
    write(&d.join("lab/a.json"), doc);
}

fn models(d: &Path) {
    let model = std::fs::read(repo_root().join("models/facecam.onnx")).expect("models/facecam.onnx");
    write(&d.join("trunc.onnx"), &model[..model.len() / 2]);
    write(&d.join("garbage.onnx"), b"\x08\x07\x12\x04junk not a protobuf at all");
    write(&d.join("in/model.onnx"), &model);
}

fn nesting(d: &Path) {
    let depth = 100_000;
    write(&d.join("deep.json"), "[".repeat(depth));
    write(&d.join("labdeep/a.json"), format!("{{\"shapes\": {}", "[".repeat(depth)));
    let xml = format!("<annotation>{}{}</annotation>", "<a>".repeat(30_000), "</a>".repeat(30_000));
    write(&d.join("vocdeep/annotations/a.xml"), xml);
    write(&d.join("deep.toml"), format!("a = {}", "[".repeat(depth)));
    write(&d.join("coco-deep.json"), format!("{{\"images\": {}", "[".repeat(depth)));
}

/// Boxes whose corners overflow f32 to infinity (x + w with x = 3e38), or that are read
/// as 1e300.
fn overflowing_boxes(d: &Path) {
    write(&d.join("vocbig/images/a.png"), png_bytes(64, 48));
    let voc = "<annotation><filename>a.png</filename><size><width>64</width><height>48</height></size>\
               <object><name>face</name><bndbox><xmin>3e38</xmin><ymin>1</ymin><xmax>1e300</xmax><ymax>20</ymax>\
               </bndbox></object></annotation>";
    write(&d.join("vocbig/annotations/a.xml"), voc);
    write(&d.join("in/a.png"), png_bytes(64, 48));
    let coco = r#"{"images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [3e38, 1, 3e38, 10]}],
        "categories": [{"id": 1, "name": "face"}]}"#;
    write(&d.join("in/coco-inf.json"), coco);
    write(&d.join("yolobig/images/a.png"), png_bytes(64, 48));
    write(&d.join("yolobig/labels/a.txt"), "0 1e300 0.5 0.2 0.2\n");
    write(&d.join("yolobig/classes.txt"), "face\n");
}

fn sticker_and_checkpoint(d: &Path) {
    write(&d.join("sticker/huge.png"), png_bytes(32, 16));
    write(&d.join("sticker/huge.toml"), "scale = 1e30\ncenter_x = 1e30\ncenter_y = 0.4\n");
    let run = repo_root().join("runs/exp-s8up-2026-12-04");
    let meta = std::fs::read_to_string(run.join("meta.json")).expect("a committed checkpoint's meta.json");
    let mut meta: serde_json::Value = serde_json::from_str(&meta).expect("meta.json is JSON");
    meta["epochs"] = serde_json::json!(4_294_967_295u64);
    meta["steps"] = serde_json::json!(i64::MAX);
    write(&d.join("ck/meta.json"), serde_json::to_vec_pretty(&meta).expect("JSON"));
    std::fs::copy(run.join("weights.ot"), d.join("ck/weights.ot")).expect("copy weights.ot");
}
