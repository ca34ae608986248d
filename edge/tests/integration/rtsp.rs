//! An RTSP camera through `pipe:` and ffmpeg, the command line the README documents.
//! Debian has no RTSP server to pull from, so ffmpeg plays both ends: the pipe's ffmpeg
//! listens (`-rtsp_flags listen`) and a second one publishes the sample photos as an
//! MJPEG-over-RTSP stream, as a camera would serve it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{root, scratch};

#[test]
fn an_rtsp_stream_through_ffmpeg_is_a_camera() {
    if !std::path::Path::new("/usr/bin/ffmpeg").exists() {
        assert!(std::env::var_os("FACECAM_REQUIRE_FFMPEG").is_none(), "no ffmpeg, and the RTSP test is required");
        eprintln!("skipped: no ffmpeg (make setup installs it)");
        return;
    }
    let dir = scratch("rtsp");
    let jpegs = edge::jobs::bench::make_stream(&root().join("samples"), 50).unwrap();
    let file = dir.join("stream.mjpeg");
    std::fs::write(&file, jpegs.concat()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("rtsp://127.0.0.1:{port}/cam");
    let pipe = format!("pipe:ffmpeg -loglevel error -rtsp_flags listen -rtsp_transport tcp -i {url} -f mjpeg -q:v 5 -");
    let mut cam = Command::new(env!("CARGO_BIN_EXE_facecam"))
        .args(["run", "--source", &pipe, "--sink", "json", "--frames", "25", "--min-face-seconds", "0"])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // If the stream never comes, the run would wait for ever: stop it after a minute.
    let pid = cam.id() as i32;
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        // SAFETY: signalling a child process of this test (harmless if it has exited).
        unsafe { libc::kill(pid, libc::SIGTERM) };
    });
    std::thread::sleep(Duration::from_secs(1));
    let mut publisher = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-re", "-stream_loop", "-1", "-f", "mjpeg", "-framerate", "15", "-i"])
        .arg(&file)
        // RTP/JPEG (RFC 2435) carries only 4:2:0/4:2:2 baseline JPEG with the standard tables.
        .args(["-c:v", "mjpeg", "-huffman", "default", "-pix_fmt", "yuvj420p", "-q:v", "4"])
        .args(["-f", "rtsp", "-rtsp_transport", "tcp", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let frames: Vec<serde_json::Value> = BufReader::new(cam.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.contains("\"seq\""))
        .map(|l| serde_json::from_str(&l).unwrap())
        .collect();
    let status = cam.wait().unwrap();
    let _ = publisher.kill();
    let _ = publisher.wait();
    let log = std::io::read_to_string(cam.stderr.take().unwrap()).unwrap_or_default();
    assert!(status.success(), "{log}");
    assert_eq!(frames.len(), 25, "{log}");
    let with_face = frames.iter().filter(|f| f["faces"].as_array().is_some_and(|a| !a.is_empty())).count();
    assert!(with_face >= 15, "the astronaut found in {with_face} of 25 RTSP frames");
}
