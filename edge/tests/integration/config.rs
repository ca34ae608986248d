//! `facecam run --config FILE` and `facecam config`: settings from a TOML file, flags over
//! them, errors with `FILE:LINE:COL`, the shipped default file, and the file's zones and
//! masks through a real run (the JSON sink, MQTT with a real mosquitto, the web view).

use crate::common::{root, run_within, scratch};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Run `facecam` from the repository root within a generous bound: (exit code, stdout
/// then stderr). [`run_within`] keeps only stderr, so a shell sends stdout to a file.
fn facecam(args: &[&str]) -> (i32, String) {
    let dir = scratch("config-out");
    let stdout = dir.path().join("stdout");
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg("exec \"$0\" \"$@\" > \"$OUT\"").arg(env!("CARGO_BIN_EXE_facecam")).args(args);
    let (code, stderr) = run_within(cmd.env("OUT", &stdout).current_dir(root()), Duration::from_secs(120));
    (code, std::fs::read_to_string(&stdout).unwrap_or_default() + &stderr)
}

/// Write a config file `name` with `text` into `dir`; its path as a string.
fn config(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// The sample with one face, as a source.
fn astronaut() -> String {
    format!("images:{}", root().join("samples/astronaut.png").display())
}

/// The JSON lines of a run's output that parse.
fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

const WHOLE: &str = "polygon = [[0, 0], [1, 0], [1, 1], [0, 1]]\n";

#[test]
fn a_mask_over_the_face_drops_it_and_a_zone_names_it() {
    let dir = scratch("config-zones");
    let head = format!("source = \"{}\"\nsink = [\"json\"]\nmin_face_seconds = 0\n", astronaut());
    let masked = config(dir.path(), "masked.toml", &format!("{head}[[mask]]\nname = \"poster\"\n{WHOLE}"));
    let (code, out) = facecam(&["run", "--config", &masked]);
    assert_eq!(code, 0, "{out}");
    let lines = json_lines(&out);
    let frame = lines.iter().find(|l| l.get("seq").is_some()).unwrap_or_else(|| panic!("no frame: {out}"));
    assert_eq!(frame["faces"].as_array().unwrap().len(), 0, "{out}");
    assert!(!out.contains("face_appeared"), "a masked face raises no event: {out}");

    let zoned = config(dir.path(), "zoned.toml", &format!("{head}[[zone]]\nname = \"door\"\n{WHOLE}"));
    let (code, out) = facecam(&["run", "--config", &zoned]);
    assert_eq!(code, 0, "{out}");
    let lines = json_lines(&out);
    let frame = lines.iter().find(|l| l.get("seq").is_some()).unwrap();
    let faces = frame["faces"].as_array().unwrap();
    assert!(!faces.is_empty() && faces.iter().all(|f| f["zones"] == serde_json::json!(["door"])), "{out}");
    let appeared = lines.iter().find(|l| l["type"] == "face_appeared").unwrap_or_else(|| panic!("{out}"));
    assert_eq!(appeared["face"]["zones"], serde_json::json!(["door"]));
    let left = lines.iter().find(|l| l["type"] == "face_left").unwrap_or_else(|| panic!("{out}"));
    assert_eq!(left["face"]["zones"], serde_json::json!(["door"]));
}

#[test]
fn flags_override_the_file_and_its_paths_are_relative_to_it() {
    let dir = scratch("config-override");
    std::fs::copy(root().join("samples/astronaut.png"), dir.path().join("face.png")).unwrap();
    // The file's source is relative to the file, not to where facecam runs.
    let text = "source = \"images:face.png\"\nsink = [\"none\"]\nmin_face_seconds = 3600\n";
    let path = config(dir.path(), "cam.toml", text);
    let (code, out) = facecam(&["run", "--config", &path, "--sink", "json"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"seq\":0"), "--sink json replaced the file's list: {out}");
    assert!(!out.contains("face_appeared"), "the file's min_face_seconds holds: {out}");
    let (code, out) = facecam(&["run", "--config", &path, "--sink", "json", "--min-face-seconds", "0"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("face_appeared"), "the flag overrides the file: {out}");
}

#[test]
fn an_unknown_key_or_a_bad_value_is_a_usage_error_at_its_line_and_column() {
    let dir = scratch("config-errors");
    let path = config(dir.path(), "typo.toml", "# a camera\nsink = [\"json\"]\nmin_face_second = 1\n");
    let (code, out) = facecam(&["run", "--config", &path]);
    assert_eq!(code, 2, "{out}");
    let want = format!("error: {path}:3:1: unknown key `min_face_second`; did you mean `min_face_seconds`?");
    assert_eq!(out.trim(), want);
    let path = config(dir.path(), "range.toml", "\nsmoothing = 0\n");
    let (code, out) = facecam(&["run", "--config", &path]);
    assert_eq!(code, 2, "{out}");
    assert!(out.starts_with(&format!("error: {path}:2:13: key `smoothing`: invalid value '0'")), "{out}");
    assert_eq!(out.trim().lines().count(), 1, "one line: {out}");
    let path = config(dir.path(), "zone.toml", "[[zone]]\nname = \"door\"\npolygon = [[0, 0], [1, 0]]\n");
    let (code, out) = facecam(&["config", "--check", &path]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(&format!("{path}:3:11: zone polygon: 2 corner(s); a polygon needs at least 3")), "{out}");
    let (code, out) = facecam(&["run", "--config", &dir.path().join("absent.toml").to_string_lossy()]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("absent.toml: cannot open a config file"), "{out}");
}

#[test]
fn config_check_says_ok_or_names_a_missing_file() {
    let dir = scratch("config-check");
    let text = format!("source = \"{}\"\nsticker = [\"sunglasses\"]\n[[zone]]\nname = \"door\"\n{WHOLE}", astronaut());
    let path = config(dir.path(), "ok.toml", &text);
    let (code, out) = facecam(&["config", "--check", &path]);
    assert_eq!((code, out.trim()), (0, format!("{path}: OK: 2 settings, 1 zone, 0 masks").as_str()));
    let path = config(dir.path(), "missing.toml", "\nmodel = \"nowhere.onnx\"\n");
    let (code, out) = facecam(&["config", "--check", &path]);
    assert_eq!(code, 2, "{out}");
    let model = dir.path().join("nowhere.onnx");
    assert_eq!(out.trim(), format!("error: {path}:2:9: key `model`: {}: no such file", model.display()));
    // A key that needs another (classify_every needs classifier) is caught too.
    let path = config(dir.path(), "requires.toml", "classify_every = 3\n");
    let (code, out) = facecam(&["config", "--check", &path]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("requires.toml: ") && out.contains("--classifier"), "{out}");
    // A folder the run writes into (made when it starts) need not exist yet.
    let path = config(dir.path(), "snaps.toml", "snapshots = \"snaps\"\nsnapshot_max_events = 20\n");
    let (code, out) = facecam(&["config", "--check", &path]);
    assert_eq!((code, out.trim()), (0, format!("{path}: OK: 2 settings, 0 zones, 0 masks").as_str()));
    assert!(!dir.path().join("snaps").exists(), "--check makes nothing");
}

#[test]
fn the_shipped_file_is_config_print_and_passes_its_check() {
    let (code, printed) = facecam(&["config", "--print"]);
    assert_eq!(code, 0, "{printed}");
    let shipped = std::fs::read_to_string(root().join("packaging/facecam.toml")).unwrap();
    assert!(
        shipped == printed,
        "packaging/facecam.toml differs from `facecam config --print`; regenerate it with \
         `facecam config --print > packaging/facecam.toml`"
    );
    let path = root().join("packaging/facecam.toml");
    let (code, out) = facecam(&["config", "--check", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("OK: 0 settings, 0 zones, 0 masks"), "{out}");
    for key in ["# sink =", "# min_face_seconds = 0.5", "# smoothing = 0.3", "# [[zone]]", "# [[mask]]"] {
        assert!(shipped.contains(key), "{key}");
    }
}

#[test]
fn zone_counts_go_over_mqtt() {
    use crate::mqtt::{free_port, skipped_unless, subscribe_with, wait_for, Broker};
    let dir = scratch("config-mqtt");
    let port = free_port();
    let listener = format!("listener {port} 127.0.0.1\nallow_anonymous true\n");
    let Some(_broker) = skipped_unless(Broker::start_with(dir.path(), port, &listener)) else { return };
    let got = subscribe_with(rumqttc::MqttOptions::new("zones-test", "127.0.0.1", port), "fc/zones/#");
    std::thread::sleep(Duration::from_millis(500));
    let corner = "polygon = [[0, 0], [0.05, 0], [0.05, 0.05]]\n";
    let text = format!(
        "source = \"{}\"\nsink = [\"mqtt:127.0.0.1:{port}/fc/zones\"]\nmqtt_discovery = true\n\
         [[zone]]\nname = \"all\"\n{WHOLE}[[zone]]\nname = \"corner\"\n{corner}",
        astronaut()
    );
    let path = config(dir.path(), "mqtt.toml", &text);
    let (code, out) = facecam(&["run", "--config", &path]);
    assert_eq!(code, 0, "{out}");
    // Retained, but a subscriber already there gets them live (retain flag clear).
    let has = |topic: &str, payload: &str| got.lock().unwrap().iter().any(|(t, p, _)| t == topic && p == payload);
    let seen = wait_for(20, || has("fc/zones/zone/all/present", "ON") && has("fc/zones/zone/corner/count", "0"));
    let all = got.lock().unwrap().clone();
    assert!(seen, "zone topics: {all:?}");
    let count = all.iter().find(|(t, _, _)| t == "fc/zones/zone/all/count").map(|(_, p, _)| p.clone());
    assert!(count.is_some_and(|c| c.parse::<u32>().is_ok_and(|n| n >= 1)), "{all:?}");
}

#[test]
fn the_web_view_draws_the_zones_when_asked() {
    let dir = scratch("config-web");
    let zone = "[[zone]]\nname = \"door\"\npolygon = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]\n";
    let path = config(dir.path(), "web.toml", zone);
    let cam = crate::web::camera("zones", "127.0.0.1:0", &["--config", &path]);
    crate::web::wait_for_frames(&cam, 2);
    // The zone's outline colour (0, 200, 255), as JPEG leaves it.
    let outline = |query: &str| {
        let (status, _, jpeg) = crate::web::get(cam.addr, &format!("/snapshot.jpg{query}"));
        assert_eq!(status, 200);
        let snap = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        snap.pixels().filter(|p| p[0] < 60 && p[1] > 150 && p[1] < 240 && p[2] > 200).count()
    };
    let (plain, drawn) = (outline(""), outline("?zones=1"));
    assert!(drawn > 1000 && plain < drawn / 10, "outline pixels: {plain} plain, {drawn} with ?zones=1");
    // The page asked with ?zones=1 streams with it.
    let (_, _, page) = crate::web::get(cam.addr, "/?zones=1");
    assert!(String::from_utf8_lossy(&page).contains("/stream.mjpg?zones=1"));
}
