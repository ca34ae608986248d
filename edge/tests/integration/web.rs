//! The web view (`--sink http:…`) end to end: `facecam run` plays the sample photos as
//! a live MJPEG camera (a looping pipe) and real clients talk to it: raw HTTP over TCP
//! for every route, the limits and the broken requests, and a real headless browser
//! (Debian's `chromium-headless-shell`) for the page.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{paced_pipe, root, scratch, Scratch};

/// A running `facecam run` with the web view; killed on drop.
pub(crate) struct Camera {
    child: Child,
    pub(crate) addr: SocketAddr,
    /// Frames the json sink has reported so far.
    frames: Arc<AtomicU64>,
    /// Its frames; removed after it is stopped.
    _dir: Scratch,
}

impl Drop for Camera {
    fn drop(&mut self) {
        // SIGTERM, as a service manager stops it: facecam then stops its camera pipe too
        // (SIGKILL would leave the pipe's shell looping on its own).
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start facecam on a looping MJPEG pipe of the sample photos (about 12 fps), serving
/// `http:BIND` plus `extra` flags; waits until the server says where it listens.
pub(crate) fn camera(name: &str, bind: &str, extra: &[&str]) -> Camera {
    let dir = scratch(&format!("web-{name}"));
    let pipe = paced_pipe(&dir, 20, 0.08);
    let sink = format!("http:{bind}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_facecam"))
        .args(["run", "--source", &pipe, "--sink", &sink, "--sink", "json", "--min-face-seconds", "0"])
        .args(extra)
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut addr = None;
    let mut seen = String::new();
    for _ in 0..50 {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        seen.push_str(&line);
        if let Some(rest) = line.split("web view on http://").nth(1) {
            addr = Some(rest.trim().trim_end_matches('/').parse().unwrap());
            break;
        }
    }
    let addr = addr.unwrap_or_else(|| panic!("no web view address in: {seen}"));
    // Keep draining stderr so the camera never blocks on it.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let frames = Arc::new(AtomicU64::new(0));
    count_frames(child.stdout.take().unwrap(), frames.clone());
    Camera { child, addr, frames, _dir: dir }
}

fn count_frames(stdout: ChildStdout, frames: Arc<AtomicU64>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("\"seq\"") {
                frames.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
}

/// The most of a body without a length that [`request`] reads.
const BODY_LIMIT: u64 = 8 << 20;

/// A raw HTTP/1.1 exchange: the status, the headers (lower-case names) and the body
/// read up to `Content-Length` or the end of the connection.
fn request(addr: SocketAddr, raw: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw).unwrap();
    let mut r = BufReader::new(s);
    let (status, headers) = read_head(&mut r);
    let len = headers.iter().find(|(k, _)| k == "content-length").map(|(_, v)| v.parse::<usize>().unwrap());
    let mut body = Vec::new();
    match len {
        Some(n) => {
            body.resize(n, 0);
            r.read_exact(&mut body).unwrap();
        }
        None => {
            // Bounded: a stream answered where a refusal was expected must fail the
            // test's assertion, not read forever.
            let _ = r.take(BODY_LIMIT).read_to_end(&mut body);
        }
    }
    (status, headers, body)
}

fn read_head(r: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).unwrap_or_else(|| panic!("no status line: {line:?}")).parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            return (status, headers);
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
    }
}

pub(crate) fn get(addr: SocketAddr, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    request(addr, format!("GET {path} HTTP/1.1\r\nHost: cam\r\nConnection: close\r\n\r\n").as_bytes())
}

pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

/// Open a stream route and return the reader positioned after the response head.
fn open_stream(addr: SocketAddr, path: &str) -> (u16, BufReader<TcpStream>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: cam\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let (status, _) = read_head(&mut r);
    (status, r)
}

/// The next JPEG part of an MJPEG stream (hyper chunks the body: chunk sizes are skipped).
fn next_jpeg(r: &mut BufReader<TcpStream>) -> image::RgbImage {
    let mut buf = Vec::new();
    loop {
        let mut byte = [0u8; 4096];
        let n = r.read(&mut byte).unwrap();
        assert!(n > 0, "stream ended");
        buf.extend_from_slice(&byte[..n]);
        let Some(start) = find(&buf, b"\xff\xd8") else { continue };
        // Each part is sent as one chunk of the chunked body, so the JPEG's bytes are
        // contiguous after its part head (whose Content-Length is the last before it).
        let head = &buf[..start];
        let Some(len) = String::from_utf8_lossy(head)
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("Content-Length: ").map(|v| v.trim().parse::<usize>().unwrap()))
        else {
            continue;
        };
        let body = &buf[start..];
        if body.len() >= len {
            return image::load_from_memory(&body[..len]).expect("a JPEG part").to_rgb8();
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub(crate) fn wait_for_frames(cam: &Camera, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while cam.frames.load(Ordering::Relaxed) < n {
        assert!(Instant::now() < deadline, "only {} frames", cam.frames.load(Ordering::Relaxed));
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_route_answers_and_the_stream_is_the_annotated_frame() {
    let cam = camera("routes", "127.0.0.1:0", &["--count-every", "1"]);
    wait_for_frames(&cam, 3);
    let (status, _, body) = get(cam.addr, "/healthz");
    assert_eq!((status, body.as_slice()), (200, &b"ok\n"[..]));
    let (status, headers, page) = get(cam.addr, "/");
    let page = String::from_utf8(page).unwrap();
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type").starts_with("text/html"));
    assert!(page.contains("/stream.mjpg") && page.contains("EventSource") && page.contains("facecam.onnx"), "{page}");
    let (status, headers, jpeg) = get(cam.addr, "/snapshot.jpg");
    assert_eq!((status, header(&headers, "content-type")), (200, "image/jpeg"));
    let snap = image::load_from_memory(&jpeg).unwrap().to_rgb8();
    assert_eq!(snap.dimensions(), (640, 480));
    let green = snap.pixels().filter(|p| p[1] > 200 && p[0] < 80 && p[2] < 120).count();
    assert!(green > 100, "the face box is drawn into the snapshot ({green} green pixels)");
    let (_, _, small) = get(cam.addr, "/snapshot.jpg?width=160");
    assert_eq!(image::load_from_memory(&small).unwrap().width(), 160);
    // The page's FPS: frames the sink showed lately (the pipe plays about 12 a second).
    let (status, headers, json) = get(cam.addr, "/status.json");
    assert_eq!((status, header(&headers, "content-type")), (200, "application/json"));
    let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let fps = json["fps"].as_f64().unwrap_or_else(|| panic!("no fps in {json}"));
    assert!(fps > 0.0 && fps < 200.0, "{json}");
    assert!(json["frames"].as_u64().is_some_and(|n| n >= 3), "{json}");
    let (status, mut stream) = open_stream(cam.addr, "/stream.mjpg?width=320&fps=5");
    assert_eq!(status, 200);
    let frame = next_jpeg(&mut stream);
    assert_eq!(frame.dimensions(), (320, 240));
    let (status, sse) = open_stream(cam.addr, "/events");
    assert_eq!(status, 200);
    let mut kinds = std::collections::BTreeSet::new();
    for line in sse.lines().map_while(Result::ok).take(400) {
        if let Some(kind) = line.strip_prefix("event: ") {
            kinds.insert(kind.to_string());
        }
        if let Some(data) = line.strip_prefix("data: ") {
            let json: serde_json::Value = serde_json::from_str(data).unwrap();
            assert!(json.is_object());
        }
        if kinds.contains("frame") && kinds.contains("count") {
            break;
        }
    }
    assert!(kinds.contains("frame") && kinds.contains("count"), "{kinds:?}");
    assert_eq!(get(cam.addr, "/etc/passwd").0, 404, "only the fixed routes exist");
    assert_eq!(get(cam.addr, "/stream.mjpg?fps=fast").0, 400);
    assert_eq!(get(cam.addr, "/snapshot.jpg?width=1").0, 400);
    let post = request(cam.addr, b"POST / HTTP/1.1\r\nHost: cam\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
    assert_eq!(post.0, 405);
}

#[test]
fn a_public_address_needs_the_token() {
    let cam = camera("token", "0.0.0.0:0", &["--http-token", "correct-horse-battery"]);
    let addr = SocketAddr::new("127.0.0.1".parse().unwrap(), cam.addr.port());
    wait_for_frames(&cam, 1);
    assert_eq!(get(addr, "/").0, 401);
    assert_eq!(get(addr, "/snapshot.jpg?token=wrong-horse-battery").0, 401);
    assert_eq!(get(addr, "/healthz").0, 200, "health checks need no token");
    assert_eq!(get(addr, "/snapshot.jpg?token=correct-horse-battery").0, 200);
    let bearer = b"GET /snapshot.jpg HTTP/1.1\r\nHost: cam\r\nAuthorization: Bearer correct-horse-battery\r\nConnection: close\r\n\r\n";
    assert_eq!(request(addr, bearer).0, 200);
    let (_, _, page) = get(addr, "/?token=correct-horse-battery");
    assert!(String::from_utf8(page).unwrap().contains("/stream.mjpg?token=correct-horse-battery"));
}

#[test]
fn without_a_token_a_public_address_is_refused_at_start() {
    let out = Command::new(env!("CARGO_BIN_EXE_facecam"))
        .args(["run", "--source", "pattern", "--sink", "http:0.0.0.0:0", "--frames", "1"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a token"), "{err}");
}

#[test]
fn viewers_are_bounded_and_one_that_never_reads_slows_nothing() {
    let cam = camera("viewers", "127.0.0.1:0", &["--http-max-viewers", "2"]);
    wait_for_frames(&cam, 2);
    // A viewer that reads its response head (so the server has counted it before the
    // next viewers come) and then never reads again.
    let (status, mut stalled) = open_stream(cam.addr, "/stream.mjpg");
    assert_eq!(status, 200);
    let (status, mut reading) = open_stream(cam.addr, "/stream.mjpg");
    assert_eq!(status, 200);
    assert_eq!(get(cam.addr, "/stream.mjpg").0, 503, "past the viewer limit");
    // Over the next seconds the pipeline keeps going and the reading viewer keeps
    // getting frames, while the stalled one sits there.
    let before = cam.frames.load(Ordering::Relaxed);
    let started = Instant::now();
    let mut got = 0;
    while started.elapsed() < Duration::from_secs(8) {
        next_jpeg(&mut reading);
        got += 1;
    }
    let after = cam.frames.load(Ordering::Relaxed);
    assert!(after >= before + 20, "pipeline advanced {before} → {after} frames with a stalled viewer");
    assert!(got >= 10, "the other viewer got {got} frames");
    // The stalled viewer has been cut off (5 s without reading), freeing its place.
    // The reading viewer's place comes back once the server notices it left (its next
    // write fails): give that a generous time on a busy machine.
    drop(reading);
    let deadline = Instant::now() + Duration::from_secs(20);
    let _viewer = loop {
        let (status, stream) = open_stream(cam.addr, "/stream.mjpg");
        if status == 200 || Instant::now() > deadline {
            assert_eq!(status, 200, "places were given back");
            break stream;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // What the kernel had buffered for it, then the end: the server hung up.
    stalled.get_ref().set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buffered = Vec::new();
    assert!(stalled.read_to_end(&mut buffered).is_ok(), "the stalled viewer's connection was closed");
}

#[test]
fn broken_requests_are_answered_or_closed_and_the_camera_goes_on() {
    let cam = camera("garbage", "127.0.0.1:0", &[]);
    wait_for_frames(&cam, 1);
    let garbage = request(cam.addr, b"\x16\x03\x01 not http at all\r\n\r\n");
    assert_eq!(garbage.0, 400);
    let huge = format!("GET / HTTP/1.1\r\nHost: cam\r\nX-Pad: {}\r\n\r\n", "a".repeat(64 << 10));
    let mut s = TcpStream::connect(cam.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(huge.as_bytes());
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 431"), "oversized headers: {answer:.80}");
    let many: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (status, _, _) = request(cam.addr, format!("GET / HTTP/1.1\r\nHost: cam\r\n{many}\r\n").as_bytes());
    assert!(status == 431 || status == 400, "too many headers: {status}");
    // Truncated: half a request line, then the client goes away.
    let mut t = TcpStream::connect(cam.addr).unwrap();
    t.write_all(b"GET /snaps").unwrap();
    t.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    let _ = t.read_to_end(&mut rest);
    // A client that opens a connection and sends nothing is timed out.
    let idle = TcpStream::connect(cam.addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let t0 = Instant::now();
    let _ = (&idle).read_to_end(&mut Vec::new());
    assert!(t0.elapsed() < Duration::from_secs(14), "an idle connection is closed by the server");
    let before = cam.frames.load(Ordering::Relaxed);
    wait_for_frames(&cam, before + 5);
    assert_eq!(get(cam.addr, "/healthz").0, 200, "still serving");
}

#[test]
fn idle_connections_neither_starve_healthz_nor_stay_open() {
    let cam = camera("idle", "127.0.0.1:0", &["--http-max-viewers", "1"]);
    wait_for_frames(&cam, 1);
    // The only viewer place is taken: streams are refused, health checks are not.
    let (status, _viewer) = open_stream(cam.addr, "/stream.mjpg");
    assert_eq!(status, 200);
    assert_eq!(get(cam.addr, "/stream.mjpg").0, 503, "past the viewer limit");
    // Clients that connect and never send a request (twice the old connection cap).
    let idle: Vec<TcpStream> = (0..32).map(|_| TcpStream::connect(cam.addr).unwrap()).collect();
    let started = Instant::now();
    for probe in 0..20 {
        assert_eq!(get(cam.addr, "/healthz").0, 200, "probe {probe} with 32 idle connections open");
    }
    assert!(started.elapsed() < Duration::from_secs(20), "20 probes took {:?}", started.elapsed());
    // The server closes each idle connection: the client reads the end, not a timeout.
    for (i, mut s) in idle.into_iter().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        match s.read(&mut [0u8; 64]) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("idle connection {i} was not closed by the server: {other:?}"),
        }
    }
    assert_eq!(get(cam.addr, "/healthz").0, 200, "still serving");
}

/// Chromium's headless shell, when installed (`make setup` installs it).
pub(crate) fn chromium() -> Option<PathBuf> {
    ["chromium-headless-shell", "chromium", "chromium-browser"]
        .iter()
        .map(|n| Path::new("/usr/bin").join(n))
        .find(|p| p.exists())
}

#[test]
fn a_real_browser_shows_the_annotated_stream() {
    let Some(browser) = chromium() else {
        assert!(std::env::var_os("FACECAM_REQUIRE_BROWSER").is_none(), "no chromium, and the browser test is required");
        eprintln!("skipped: no chromium-headless-shell (make setup installs it)");
        return;
    };
    let cam = camera("browser", "127.0.0.1:0", &[]);
    wait_for_frames(&cam, 3);
    let dir = scratch("browser-shot");
    let shot = dir.join("web.png");
    let out = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=900,560",
            "--timeout=4000",
            &format!("--user-data-dir={}", dir.join("profile").display()),
            &format!("--screenshot={}", shot.display()),
            &format!("http://{}/", cam.addr),
        ])
        .output()
        .unwrap();
    assert!(shot.exists(), "no screenshot: {}", String::from_utf8_lossy(&out.stderr));
    let png = image::open(&shot).unwrap().to_rgb8();
    assert_eq!(png.dimensions(), (900, 560));
    // The annotated frame is on the page: the green face box, and the picture itself
    // (many distinct colours, not an empty image element).
    let green = png.pixels().filter(|p| p[1] > 200 && p[0] < 80 && p[2] < 120).count();
    assert!(green > 100, "{green} box pixels in the browser's screenshot");
    let colours: std::collections::HashSet<[u8; 3]> = png.pixels().map(|p| p.0).collect();
    assert!(colours.len() > 2000, "only {} colours: no picture", colours.len());
    if std::env::var_os("FACECAM_WRITE_SCREENSHOTS").is_some() {
        std::fs::copy(&shot, root().join("docs/screenshots/web.png")).unwrap();
    }
}

#[test]
fn another_facecam_reads_the_stream_and_rides_out_a_restart() {
    let first = camera("upstream", "127.0.0.1:0", &[]);
    let port = first.addr.port();
    let url = format!("http://127.0.0.1:{port}/stream.mjpg");
    let mut reader = Command::new(env!("CARGO_BIN_EXE_facecam"))
        .args(["run", "--source", &url, "--sink", "json", "--frames", "40", "--min-face-seconds", "0"])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = reader.stderr.take().unwrap();
    let log = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut lines = BufReader::new(reader.stdout.take().unwrap()).lines().map_while(Result::ok);
    let frames: Vec<serde_json::Value> =
        lines.by_ref().filter(|l| l.contains("\"seq\"")).take(10).map(|l| serde_json::from_str(&l).unwrap()).collect();
    assert_eq!(frames.len(), 10);
    // The upstream camera restarts on the same port; the reader reconnects and goes on.
    drop(first);
    let _second = camera("upstream2", &format!("127.0.0.1:{port}"), &[]);
    let rest: Vec<serde_json::Value> =
        lines.filter(|l| l.contains("\"seq\"")).map(|l| serde_json::from_str(&l).unwrap()).collect();
    assert!(reader.wait().unwrap().success());
    let log = log.join().unwrap();
    assert_eq!(frames.len() + rest.len(), 40, "{log}");
    assert!(log.contains("reconnected"), "{log}");
    let with_face = frames.iter().chain(&rest).filter(|f| f["faces"].as_array().is_some_and(|a| !a.is_empty())).count();
    assert!(with_face >= 15, "faces found through the relayed stream in {with_face} of 40 frames");
}
