//! The MQTT sink with a login and TLS against a real mosquitto (as Home Assistant's
//! Mosquitto add-on runs it: no anonymous clients): a password file made with
//! `mosquitto_passwd`, and a TLS listener whose CA and server certificate (for 127.0.0.1
//! and localhost, as SANs) `openssl` makes here.

use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{paced_pipe, root, scratch};
use crate::mqtt::{events_of, free_port, skipped_unless, subscribe_with, wait_until, Broker, Messages};

const USER: &str = "cam";
const PASSWORD: &str = "s3cret pass";

/// Run `program args` in `dir`; whether it succeeded (its output shown when not).
fn tool(dir: &Path, program: &str, args: &[&str]) -> bool {
    let out = Command::new(program).args(args).current_dir(dir).output();
    match out {
        Ok(o) if o.status.success() => true,
        Ok(o) => panic!("{program} {args:?}: {}", String::from_utf8_lossy(&o.stderr)),
        Err(_) => false,
    }
}

/// A CA (`ca.pem`), a server certificate for 127.0.0.1 and localhost signed by it
/// (`server.pem`, `server.key`) and a password file with [`USER`]; false when `openssl`
/// or `mosquitto_passwd` is missing.
fn credentials(dir: &Path) -> bool {
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    let rsa = ["-newkey", "rsa:2048", "-nodes"];
    tool(
        dir,
        "openssl",
        &[
            &["req", "-x509"],
            &rsa[..],
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=facecam test CA"],
        ]
        .concat(),
    ) && tool(
        dir,
        "openssl",
        &[&["req"], &rsa[..], &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]].concat(),
    ) && tool(
        dir,
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    ) && tool(dir, "mosquitto_passwd", &["-b", "-c", "passwd", USER, PASSWORD])
}

/// A broker that wants [`USER`]'s login, over TLS when `tls`.
fn broker(dir: &Path, port: u16, tls: bool) -> Option<Broker> {
    if !credentials(dir) {
        return skipped_unless(None);
    }
    let d = dir.display();
    let mut conf = format!("listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {d}/passwd\n");
    if tls {
        conf += &format!("cafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n");
    }
    skipped_unless(Broker::start_with(dir, port, &conf))
}

/// A `facecam run` killed on drop, so a failing test leaves no process behind.
struct Run(Child);

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Run {
    fn start(source: &str, sink: &str, extra: &[&str], password_env: Option<&str>) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_facecam"));
        cmd.args(["run", "--source", source, "--sink", sink, "--sink", "json", "--min-face-seconds", "0"]).args(extra);
        cmd.env_remove("FACECAM_MQTT_PASSWORD");
        if let Some(p) = password_env {
            cmd.env("FACECAM_MQTT_PASSWORD", p);
        }
        Self(cmd.current_dir(root()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap())
    }

    /// Wait up to `secs` for the end: (success, stdout, stderr).
    fn finish(mut self, secs: u64) -> (bool, String, String) {
        let (out, err) = (self.0.stdout.take().unwrap(), self.0.stderr.take().unwrap());
        let out = std::thread::spawn(move || std::io::read_to_string(out).unwrap_or_default());
        let err = std::thread::spawn(move || std::io::read_to_string(err).unwrap_or_default());
        let deadline = Instant::now() + Duration::from_secs(secs);
        let status = loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "facecam did not end within {secs} s");
            std::thread::sleep(Duration::from_millis(100));
        };
        (status.success(), out.join().unwrap(), err.join().unwrap())
    }
}

/// A subscriber to everything, logged in as [`USER`] over TLS with the test's CA.
fn tls_subscriber(dir: &Path, port: u16, id: &str) -> Messages {
    let files = edge::sink::mqtt::TlsFiles { ca: Some(dir.join("ca.pem")), client: None };
    let config = edge::sink::mqtt::files::client_config(&files).unwrap();
    let mut opts = MqttOptions::new(id, "127.0.0.1", port);
    opts.set_credentials(USER, PASSWORD).set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(config)));
    subscribe_with(opts, "#")
}

fn payloads(got: &Messages, topic: &str) -> Vec<String> {
    got.lock().unwrap().iter().filter(|(t, _, _)| t == topic).map(|(_, p, _)| p.clone()).collect()
}

#[test]
fn a_login_over_tls_carries_discovery_and_events_and_ends_offline_once() {
    let dir = scratch("mqtt-tls");
    let port = free_port();
    let Some(_b) = broker(&dir, port, true) else { return };
    let got = tls_subscriber(&dir, port, "test-sub-tls");
    std::thread::sleep(Duration::from_secs(1)); // the subscriber logs in and subscribes
    std::fs::write(dir.join("password"), format!("{PASSWORD}\n")).unwrap();
    let sink = format!(
        "mqtts://{USER}@127.0.0.1:{port}/fc/tls,password_file={},ca={}",
        dir.join("password").display(),
        dir.join("ca.pem").display()
    );
    let pipe = paced_pipe(&dir, 60, 0.04);
    let run = Run::start(&pipe, &sink, &["--frames", "120", "--count-every", "1", "--mqtt-discovery"], None);
    let (ok, _, log) = run.finish(120);
    assert!(ok, "{log}");
    assert!(log.contains(&format!("mqtt 127.0.0.1:{port}: connected")), "{log}");
    assert!(!log.contains("retrying") && !log.contains("abruptly"), "a clean run, a clean exit: {log}");
    wait_until("offline", 20, || payloads(&got, "fc/tls/availability").contains(&"offline".to_string()));
    std::thread::sleep(Duration::from_millis(500)); // anything published after offline would be here by now
    assert_eq!(
        payloads(&got, "fc/tls/availability"),
        ["online", "offline"],
        "online once, offline once, in that order"
    );
    let events = events_of(&got, "fc/tls/events");
    assert!(events.iter().any(|e| e["type"] == "face_appeared"), "{events:?}");
    let config = payloads(&got, "homeassistant/sensor/facecam_fc_tls/faces/config");
    assert!(config.len() == 1 && config[0].contains("\"state_topic\":\"fc/tls/count\""), "{config:?}");
    // What a subscriber arriving later is told: the camera is offline.
    let late = tls_subscriber(&dir, port, "test-sub-tls-late");
    wait_until("the retained availability", 20, || !payloads(&late, "fc/tls/availability").is_empty());
    assert_eq!(payloads(&late, "fc/tls/availability"), ["offline"]);
    // And the last state: what was queued before `offline` reached the broker too.
    wait_until("the retained presence", 20, || !payloads(&late, "fc/tls/present").is_empty());
    assert_eq!(payloads(&late, "fc/tls/present"), ["OFF"]);
}

#[test]
fn a_wrong_password_is_a_warning_and_the_run_goes_on() {
    let dir = scratch("mqtt-badpass");
    let port = free_port();
    let Some(_b) = broker(&dir, port, false) else { return };
    let sink = format!("mqtt:127.0.0.1:{port}/fc/bad,user={USER}");
    let run = Run::start("pattern", &sink, &["--frames", "100"], Some("not the password"));
    let (ok, out, log) = run.finish(90);
    assert!(ok, "the camera runs without its broker: {log}");
    let frames = out.lines().filter(|l| l.starts_with("{\"type\":\"frame\"")).count();
    assert_eq!(frames, 100, "every frame reached the other sinks\n{log}");
    let warning = format!("mqtt 127.0.0.1:{port}: the broker refused the login (");
    assert!(log.contains(&warning) && log.contains("; retrying in 1 s"), "{log}");
    assert_eq!(log.matches(&warning).count(), 1, "said once, not at every try: {log}");
}

#[test]
fn a_password_file_that_is_missing_or_empty_is_named_and_none_is_taken_from_the_command_line() {
    let dir = scratch("mqtt-pwfile");
    let run = |sink: &str| Run::start("pattern", sink, &["--frames", "1"], None).finish(60);
    let missing: PathBuf = dir.join("missing");
    let (ok, _, log) = run(&format!("mqtt:127.0.0.1:1/fc,user=cam,password_file={}", missing.display()));
    assert!(!ok && log.contains(&format!("{}: cannot open the MQTT password file", missing.display())), "{log}");
    std::fs::write(dir.join("empty"), "").unwrap();
    let (ok, _, log) = run(&format!("mqtt:127.0.0.1:1/fc,user=cam,password_file={}", dir.join("empty").display()));
    assert!(!ok && log.contains("the MQTT password file is empty"), "{log}");
    let out = Command::new(env!("CARGO_BIN_EXE_facecam"))
        .args(["run", "--source", "pattern", "--frames", "1", "--sink", "mqtt:127.0.0.1:1/fc,user=cam,password=x"])
        .current_dir(root())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{log}");
    assert!(log.contains("use password_file=PATH or $FACECAM_MQTT_PASSWORD"), "{log}");
}

#[test]
fn sigterm_publishes_offline_once_and_does_not_reconnect() {
    let dir = scratch("mqtt-sigterm");
    let port = free_port();
    let Some(_b) = broker(&dir, port, false) else { return };
    let mut opts = MqttOptions::new("test-sub-term", "127.0.0.1", port);
    opts.set_credentials(USER, PASSWORD);
    let got = subscribe_with(opts, "fc/term/availability");
    std::thread::sleep(Duration::from_secs(1)); // the subscriber logs in and subscribes
    let run = Run::start("pattern", &format!("mqtt:{USER}@127.0.0.1:{port}/fc/term"), &[], Some(PASSWORD));
    wait_until("online", 60, || payloads(&got, "fc/term/availability") == ["online"]);
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(run.0.id() as i32, libc::SIGTERM) };
    let (ok, _, log) = run.finish(60);
    assert!(ok, "SIGTERM is a clean stop: {log}");
    assert!(!log.contains("retrying") && !log.contains("abruptly"), "{log}");
    wait_until("offline", 20, || payloads(&got, "fc/term/availability").len() >= 2);
    std::thread::sleep(Duration::from_millis(500)); // anything published after offline would be here by now
    assert_eq!(payloads(&got, "fc/term/availability"), ["online", "offline"]);
}
