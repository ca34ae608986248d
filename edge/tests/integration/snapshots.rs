//! A snapshot of every face event (`facecam run --snapshots DIR`) end to end: the files
//! a run on an MJPEG file leaves, the web view serving them to raw HTTP and to a real
//! browser (the page's event strip), and a real mosquitto receiving the JPEG.

use rumqttc::MqttOptions;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use crate::common::{facecam, mjpeg_file, root, scratch};
use crate::mqtt::{free_port, skipped_unless, subscribe_as, wait_for, wait_until, Broker};
use crate::web::{camera, chromium, get, header, wait_for_frames};

const TOKEN: &str = "snapshot-test-token";

/// The saved events in `dir`: (id, its JSON), oldest first.
fn saved(dir: &Path) -> Vec<(String, serde_json::Value)> {
    let mut events: Vec<(String, serde_json::Value)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            let id = name.strip_suffix(".json")?.to_string();
            Some((id, serde_json::from_slice(&std::fs::read(dir.join(&name)).unwrap()).unwrap()))
        })
        .collect();
    events.sort_by_key(|(id, _)| id.split('-').map(|n| n.parse::<u64>().unwrap()).collect::<Vec<_>>());
    events
}

fn run_on_file(video: &Path, snaps: &Path) -> String {
    let (video, snaps) = (format!("mjpeg:{}", video.display()), snaps.display().to_string());
    let args = ["run", "--source", &video, "--sink", "json", "--min-face-seconds", "0", "--snapshots", &snaps];
    let (ok, stdout, stderr) = facecam(&[&args[..], &["--snapshot-window", "0.2"]].concat());
    assert!(ok, "{stderr}");
    stdout
}

#[test]
fn a_run_saves_each_event_as_a_frame_and_a_face_and_a_restart_keeps_them() {
    let dir = scratch("snapshots-files");
    let video = mjpeg_file(&dir, 20);
    let snaps = dir.join("snaps");
    let stdout = run_on_file(&video, &snaps);
    let first = saved(&snaps);
    assert!(!first.is_empty(), "no event saved: {stdout}");
    let announced: Vec<&str> = stdout.lines().filter(|l| l.contains("\"face_snapshot\"")).collect();
    assert_eq!(announced.len(), first.len(), "one face_snapshot line per saved event");
    for (id, event) in &first {
        assert_eq!(event["type"], "face_snapshot");
        assert_eq!(event["snapshot"]["frame"], format!("/events/{id}.jpg"));
        let frame = image::open(snaps.join(format!("{id}.jpg"))).expect("the frame decodes");
        assert_eq!((frame.width(), frame.height()), (640, 480), "the whole frame");
        let face = image::open(snaps.join(format!("{id}-face.jpg"))).expect("the face decodes");
        let b = &event["face"]["box"];
        let (w, h) = (
            b["x1"].as_f64().unwrap() - b["x0"].as_f64().unwrap(),
            b["y1"].as_f64().unwrap() - b["y0"].as_f64().unwrap(),
        );
        // The box and a quarter of it on each side, less where the frame ends.
        assert!(face.width() as f64 >= w && face.width() as f64 <= w * 1.5 + 2.0, "{} for a {w} box", face.width());
        assert!(
            face.height() as f64 >= h.min(480.0) * 0.99 && face.height() as f64 <= h * 1.5 + 2.0,
            "{}",
            face.height()
        );
    }
    assert!(!std::fs::read_dir(&snaps).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".tmp")));
    // A second run (a restart): new ids, the old events untouched.
    run_on_file(&video, &snaps);
    let both = saved(&snaps);
    assert_eq!(both.len(), first.len() * 2, "{both:?}");
    assert_eq!(&both[..first.len()], &first[..], "the first run's events come first, unchanged");
}

#[test]
fn a_file_where_the_folder_should_be_is_refused_and_left_alone() {
    let dir = scratch("snapshots-refused");
    let file = dir.join("not-a-folder");
    std::fs::write(&file, b"keep me").unwrap();
    let f = file.display().to_string();
    let (ok, _, stderr) =
        facecam(&["run", "--source", "pattern", "--sink", "none", "--frames", "2", "--snapshots", &f]);
    assert!(!ok);
    assert!(stderr.contains(&format!("error: {f}: is not a folder")), "{stderr}");
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
    // Retention and window numbers that cannot be right are usage errors.
    for (flag, value) in [("--snapshot-max-events", "0"), ("--snapshot-max-mib", "0"), ("--snapshot-window", "0")] {
        let args = ["run", "--source", "pattern", "--sink", "none", "--snapshots", "snaps", flag, value];
        let out = Command::new(env!("CARGO_BIN_EXE_facecam")).args(args).current_dir(&*dir).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag), "{stderr}");
        assert!(!dir.join("snaps").exists(), "nothing made");
    }
}

/// Wait until the web view lists at least `n` saved events; the list.
fn listed(addr: std::net::SocketAddr, n: usize) -> Vec<serde_json::Value> {
    let mut list = Vec::new();
    wait_until("saved events in /events.json", 90, || {
        let (status, _, body) = get(addr, &format!("/events.json?token={TOKEN}"));
        assert_eq!(status, 200);
        list = serde_json::from_slice::<Vec<serde_json::Value>>(&body).unwrap();
        list.len() >= n
    });
    list
}

#[test]
fn the_web_view_lists_and_serves_the_snapshots_behind_its_token() {
    let dir = scratch("snapshots-web");
    let snaps = dir.join("snaps").display().to_string();
    let cam =
        camera("snapshots", "127.0.0.1:0", &["--http-token", TOKEN, "--snapshots", &snaps, "--snapshot-window", "0.3"]);
    let list = listed(cam.addr, 1);
    let newest = &list[0];
    // The looping pipe keeps one face in view (one track, one event); the order of many is
    // `store::tests::retention_removes_the_oldest_by_count_and_by_bytes`'s.
    let times: Vec<f64> = list.iter().map(|e| e["time"].as_f64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    for (url, size) in [(&newest["snapshot"]["frame"], Some((640, 480))), (&newest["snapshot"]["face"], None)] {
        let url = url.as_str().unwrap();
        let (status, headers, body) = get(cam.addr, &format!("{url}?token={TOKEN}"));
        assert_eq!((status, header(&headers, "content-type")), (200, "image/jpeg"), "{url}");
        let picture = image::load_from_memory(&body).unwrap();
        if let Some(size) = size {
            assert_eq!((picture.width(), picture.height()), size);
        }
        assert_eq!(get(cam.addr, url).0, 401, "{url} without the token");
    }
    assert_eq!(get(cam.addr, "/events.json").0, 401);
    for bad in
        ["/events/../../etc/passwd", "/events/1-2.json", "/events/01-2.jpg", "/events/x.jpg", "/events/1-2-3.jpg"]
    {
        assert_eq!(get(cam.addr, &format!("{bad}?token={TOKEN}")).0, 400, "{bad}");
    }
    assert_eq!(get(cam.addr, &format!("/events/1-1.jpg?token={TOKEN}")).0, 404, "a well-formed id that is not there");
    assert_eq!(get(cam.addr, &format!("/events.json?limit=0&token={TOKEN}")).0, 400);
}

#[test]
fn the_page_shows_a_strip_of_recent_events() {
    let Some(browser) = chromium() else {
        assert!(std::env::var_os("FACECAM_REQUIRE_BROWSER").is_none(), "no chromium, and the browser test is required");
        eprintln!("skipped: no chromium-headless-shell (make setup installs it)");
        return;
    };
    let dir = scratch("snapshots-browser");
    let snaps = dir.join("snaps").display().to_string();
    let cam = camera("snapshots-browser", "127.0.0.1:0", &["--snapshots", &snaps, "--snapshot-window", "0.3"]);
    wait_for_frames(&cam, 3);
    let _ = listed(cam.addr, 1);
    let page = format!("http://{}/", cam.addr);
    let chrome = |extra: &[&str]| {
        let profile = format!("--user-data-dir={}", dir.join("profile").display());
        let base = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=900,700"];
        Command::new(&browser).args(base).args([&profile, "--timeout=5000"]).args(extra).arg(&page).output().unwrap()
    };
    // The page as the browser built it: the strip holds event thumbnails that loaded.
    let dom = String::from_utf8_lossy(&chrome(&["--dump-dom"]).stdout).into_owned();
    let strip = dom.split("id=\"strip\"").nth(1).unwrap_or_else(|| panic!("no strip: {dom}"));
    assert!(strip.contains("src=\"/events/") && strip.contains("-face.jpg"), "no thumbnail: {strip}");
    assert!(strip.contains("data-loaded=\"yes\""), "a thumbnail did not load: {strip}");
    let shot = dir.join("web-events.png");
    let out = chrome(&[&format!("--screenshot={}", shot.display())]);
    assert!(shot.exists(), "no screenshot: {}", String::from_utf8_lossy(&out.stderr));
    if std::env::var_os("FACECAM_WRITE_SCREENSHOTS").is_some() {
        std::fs::copy(&shot, root().join("docs/screenshots/web-events.png")).unwrap();
    }
}

type Payloads = Arc<Mutex<Vec<(String, Vec<u8>, bool)>>>;

/// A subscriber to `filter` that keeps payloads as bytes (a JPEG is no text) and takes
/// messages as big as facecam sends.
fn subscribe_bytes(port: u16, filter: &str) -> Payloads {
    let mut opts = MqttOptions::new("test-sub-snapshot", "127.0.0.1", port);
    opts.set_max_packet_size(16 << 20, 16 << 20);
    subscribe_as(opts, filter, <[u8]>::to_vec)
}

#[test]
fn mqtt_gets_the_jpeg_retained_and_home_assistant_an_image_entity() {
    let dir = scratch("snapshots-mqtt");
    let port = free_port();
    let conf = format!("listener {port} 127.0.0.1\nallow_anonymous true\n");
    let Some(_broker) = skipped_unless(Broker::start_with(&dir, port, &conf)) else { return };
    let video = mjpeg_file(&dir, 20).display().to_string();
    let (sink, snaps) = (format!("mqtt:127.0.0.1:{port}/fc/snap"), dir.join("snaps").display().to_string());
    let args =
        ["run", "--source", &format!("mjpeg:{video}"), "--sink", &sink, "--mqtt-discovery", "--snapshots", &snaps];
    let (ok, _, stderr) = facecam(&[&args[..], &["--min-face-seconds", "0"]].concat());
    assert!(ok, "{stderr}");
    // Subscribed after the run: what is there now was retained.
    let got = subscribe_bytes(port, "#");
    let retained =
        |topic: &str| got.lock().unwrap().iter().rev().find(|(t, _, r)| t == topic && *r).map(|m| m.1.clone());
    wait_until("the retained snapshot", 20, || retained("fc/snap/snapshot").is_some());
    let jpeg = retained("fc/snap/snapshot").unwrap();
    assert_eq!((&jpeg[..2], &jpeg[jpeg.len() - 2..]), (&[0xFF, 0xD8][..], &[0xFF, 0xD9][..]), "a whole JPEG");
    assert_eq!(image::load_from_memory(&jpeg).unwrap().width(), 640);
    let topic = "homeassistant/image/facecam_fc_snap/snapshot/config";
    assert!(wait_for(10, || retained(topic).is_some()), "no discovery config for the image");
    let config: serde_json::Value = serde_json::from_slice(&retained(topic).unwrap()).unwrap();
    assert_eq!(
        (config["image_topic"].as_str(), config["content_type"].as_str()),
        (Some("fc/snap/snapshot"), Some("image/jpeg"))
    );
}
