//! The parsers that read outside data, one function per fuzz target: each takes raw bytes
//! and may fail, never panic, hang or abort. Two fuzzers call them: the structured one
//! (`tests/integration/fuzz.rs`, mutations of real seed files, in every test run) and the
//! coverage-guided one (`fuzz/`, cargo-fuzz with libFuzzer, `make fuzz`). A target's seeds
//! are `tests/fuzz/corpus/NAME/`, its saved failures `tests/fuzz/regressions/NAME/`.

use edge::model::ModelCard;
use edge::source::FrameSource;
use host_train::data::Classes;
use host_train::data::{self, Sample};
use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

/// One parser under test: it may fail, never panic.
pub type Target = fn(&[u8]);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// WIDER FACE ground truth (`wider_face_*_bbx_gt.txt`).
pub fn wider(b: &[u8]) {
    let _ = data::wider::parse(&text(b), Path::new("/images"));
}
/// A LabelMe JSON file.
pub fn labelme(b: &[u8]) {
    let _ = data::labelme::parse(&text(b), Path::new("/d/x.json"), &Classes::All);
}
/// A Pascal VOC XML file.
pub fn voc(b: &[u8]) {
    let _ = data::voc::parse(&text(b), Path::new("/images"), &Classes::All);
}
/// A COCO JSON file.
pub fn coco(b: &[u8]) {
    let _ = data::coco::parse(&text(b), Path::new("/d"), &Classes::All);
}
/// A YOLO label file (three class names, a 640×480 photo).
pub fn yolo(b: &[u8]) {
    let mut s = Sample::faces("x.jpg".into(), vec![]);
    let names = ["with_mask".to_string(), "without_mask".to_string(), "mask_weared_incorrect".to_string()];
    let _ = data::yolo::parse(&text(b), (640.0, 480.0), &names, &Classes::All, &mut s);
}
/// Each line as a training source and as a camera source.
pub fn source_spec(b: &[u8]) {
    for line in text(b).lines() {
        let _ = data::Source::parse(line);
        let _ = line.parse::<edge::source::SourceSpec>();
    }
}
/// A model card (JSON).
pub fn card(b: &[u8]) {
    let _ = ModelCard::from_json(&text(b));
}
/// A board file (TOML).
pub fn board(b: &[u8]) {
    let _ = edge::board::Board::parse(&text(b));
}
/// A training config (TOML).
pub fn train_toml(b: &[u8]) {
    let _ = host_train::recipe::parse(&text(b), std::path::Path::new("."));
}
/// An MJPEG stream, every frame until the end or a fatal error.
pub fn mjpeg(b: &[u8]) {
    let Ok(mut src) = edge::source::mjpeg::MjpegSource::from_reader(Box::new(Cursor::new(b.to_vec())), "fuzz") else {
        return;
    };
    // Every frame until the end or a fatal error; corrupt frames are skipped as the loop does.
    for _ in 0..64 {
        match src.next_frame() {
            Ok(Some(_)) | Err(edge::source::SourceError::Corrupt(_)) => {}
            _ => break,
        }
    }
}
/// A JPEG (or other still image) decoded under the pixel limits.
pub fn jpeg(b: &[u8]) {
    let _ = edge::source::decode::decode_jpeg(b);
}
/// An XWD screen dump (the framebuffer sink's format).
pub fn xwd(b: &[u8]) {
    let _ = edge::sink::fbdev::parse_xwd(b, "fuzz");
}
/// A MATLAB v5 file (WIDER FACE's evaluation ground truth).
pub fn mat(b: &[u8]) {
    let _ = host_train::eval::mat::parse(b);
}
/// An ONNX model file: the protobuf, its card and its input/output names.
pub fn onnx(b: &[u8]) {
    use tract_onnx::pb::ModelProto;
    let Ok(proto) = <ModelProto as prost::Message>::decode(b) else { return };
    if let Ok(card) = edge::detector::read_card(&proto) {
        let _ = edge::detector::check_names(&proto, &card);
    }
}

/// The token of the fuzzed web view (the seeds use it, so mutations reach past the check).
pub const HTTP_TOKEN: &str = "fuzz-token-0123456789";

/// The web view's request path: a real server on loopback (a token, one frame shown),
/// sent the input as a raw request over TCP. It must answer or close, and still answer
/// `/healthz` afterwards.
pub fn http(b: &[u8]) {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};
    static SERVER: std::sync::OnceLock<SocketAddr> = std::sync::OnceLock::new();
    let addr = *SERVER.get_or_init(|| {
        let options = edge::sink::web::WebOptions {
            addr: "127.0.0.1:0".parse().unwrap(),
            token: Some(HTTP_TOKEN.into()),
            max_viewers: 64,
            stall_timeout: Duration::from_millis(300),
            about: "fuzz".into(),
            ..Default::default()
        };
        let mut sink = edge::sink::web::WebSink::start(options).expect("the web view starts");
        let frame = image::RgbImage::from_pixel(64, 48, image::Rgb([90, 120, 200]));
        let report = edge::sink::FrameReport {
            seq: 0,
            time: 0.0,
            width: 64,
            height: 48,
            latency_ms: 0.0,
            faces: vec![],
            events: vec![],
        };
        edge::sink::Sink::show(&mut sink, &frame, &report).unwrap();
        let addr = sink.local_addr();
        std::mem::forget(sink); // serves until the test process ends
        addr
    });
    let exchange = |request: &[u8]| -> Vec<u8> {
        let mut s = TcpStream::connect(addr).expect("the web view still accepts connections");
        s.set_read_timeout(Some(Duration::from_millis(400))).unwrap();
        s.set_write_timeout(Some(Duration::from_millis(400))).unwrap();
        let _ = s.write_all(request);
        let _ = s.shutdown(std::net::Shutdown::Write);
        // Up to 64 KB: a live stream a mutation unlocked is cut there (or by the timeout).
        let mut reply = Vec::new();
        let _ = s.take(64 << 10).read_to_end(&mut reply);
        reply
    };
    exchange(b);
    // The client half-closes after each request, as some do: the answer must still come.
    let health = exchange(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(health.starts_with(b"HTTP/1.1 200"), "/healthz after the input: {:?}", text(&health));
}

/// Every target by name (`onnx_card` is `onnx` on seeds whose graph is kept).
pub const TARGETS: [(&str, Target); 16] = [
    ("wider", wider),
    ("labelme", labelme),
    ("voc", voc),
    ("coco", coco),
    ("yolo", yolo),
    ("source_spec", source_spec),
    ("card", card),
    ("board", board),
    ("train_toml", train_toml),
    ("mjpeg", mjpeg),
    ("jpeg", jpeg),
    ("xwd", xwd),
    ("mat", mat),
    ("onnx", onnx),
    // The model file's card text alone, mutated inside a real model.
    ("onnx_card", onnx),
    ("http", http),
];
