use super::nesting::{check_toml, check_xml, toml_from_str};
use super::*;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

/// A FIFO in a fresh folder (kept alive by the returned guard).
fn fifo() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pipe.png");
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    (dir, path)
}

/// Run `f` on a thread and wait at most 20 s for it; if it blocks (the bug this door
/// fixes), open the FIFO for writing so the reader wakes, and fail.
fn within_20s<T: Send + 'static>(unblock: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(f()));
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(v) => v,
        Err(_) => {
            let _ = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(unblock);
            panic!("blocked on {}", unblock.display());
        }
    }
}

#[test]
fn a_fifo_a_directory_and_a_device_are_refused_without_blocking() {
    let (dir, pipe) = fifo();
    let p = pipe.clone();
    let err = within_20s(&pipe, move || format!("{:#}", read_file(&p, "a picture file", 100).unwrap_err()));
    assert_eq!(err, format!("{}: is a FIFO, not a picture file", pipe.display()));
    let err = format!("{:#}", read_text(dir.path(), "a board profile", 100).unwrap_err());
    assert_eq!(err, format!("{}: is a directory, not a board profile", dir.path().display()));
    let err = format!("{:#}", check_file(Path::new("/dev/null"), "an ONNX model").unwrap_err());
    assert_eq!(err, "/dev/null: is a device, not an ONNX model");
    let err = format!("{:#}", open_file(&dir.path().join("gone"), "an ONNX model").unwrap_err());
    assert!(err.contains("gone: cannot open an ONNX model: No such file"), "{err}");
}

#[test]
fn a_regular_file_reads_whole_and_a_long_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    std::fs::write(&path, "four").unwrap();
    assert_eq!(read_text(&path, "a list", 4).unwrap(), "four");
    let err = format!("{:#}", read_file(&path, "a list", 3).unwrap_err());
    assert_eq!(err, format!("{}: is more than the 3 bytes a list may be", path.display()));
    std::fs::write(&path, [0xff, 0xfe]).unwrap();
    assert!(format!("{:#}", read_text(&path, "a list", 9).unwrap_err()).contains("is not UTF-8"));
    // Reads block as usual once open (the O_NONBLOCK flag is cleared).
    let file = open_file(&path, "a list").unwrap();
    // SAFETY: F_GETFL on a descriptor we own.
    assert_eq!(unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) } & libc::O_NONBLOCK, 0);
}

#[test]
fn deep_xml_is_refused_before_parsing_and_shallow_xml_passes() {
    let deep = "<a>".repeat(30_000) + &"</a>".repeat(30_000);
    assert_eq!(check_xml(&deep).unwrap_err().to_string(), "XML nested deeper than 256 elements");
    let ok = "<?xml version='1.0'?><!-- <a><a> --><r x='<b>' y=\"/>\"><e/><![CDATA[<c><c>]]><d>t</d></r>";
    check_xml(ok).unwrap();
    let at_limit = "<a>".repeat(256) + &"</a>".repeat(256);
    check_xml(&at_limit).unwrap();
    // Siblings do not add up.
    check_xml(&"<a><b/></a>".repeat(10_000)).unwrap();
}

#[test]
fn deep_toml_is_refused_before_parsing() {
    for deep in ["a=".to_string() + &"[".repeat(100_000), "a=".to_string() + &"{b=".repeat(100_000)] {
        let err = toml_from_str::<toml::Table>(&deep).unwrap_err().to_string();
        assert_eq!(err, "TOML nested deeper than 64 arrays or tables");
    }
    check_toml("# [[[[[\nx = \"[[[[\" # ]\ny = '''[[[\n[[['''\n[t]\nz = [[1], {a = [2]}]\n").unwrap();
    let t: toml::Table = toml_from_str("[t]\nz = [[1], {a = [2]}]\n").unwrap();
    assert_eq!(t["t"]["z"][1]["a"][0].as_integer(), Some(2));
}

#[test]
fn deep_json_is_an_error_from_serde_json_not_a_crash() {
    let deep = "[".repeat(100_000);
    let err = serde_json::from_str::<serde_json::Value>(&deep).unwrap_err().to_string();
    assert!(err.contains("recursion limit exceeded"), "{err}");
    // The two card readers (typed structs, one through a Value first), deep at the top
    // and deep inside a field.
    let inside = format!("{{\"kind\": {}", "{\"a\": ".repeat(100_000));
    for json in [&deep, &inside] {
        let err = crate::model::ModelCard::from_json(json).unwrap_err().to_string();
        assert!(err.contains("recursion limit exceeded"), "{err}");
        let err = crate::model::ClassifierCard::from_json(json).unwrap_err().to_string();
        assert!(err.contains("recursion limit exceeded"), "{err}");
    }
}
