//! The MQTT sink end to end against a real broker: Debian's `mosquitto`, started here on
//! a free loopback port, and a real subscriber (rumqttc). The camera is the sample
//! photos played as a live pipe, so faces appear and leave on their own.

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{paced_pipe, root, scratch};

/// A mosquitto broker on `port` with its data in `dir`; killed on drop.
pub(crate) struct Broker {
    child: Child,
}

impl Broker {
    fn start(dir: &Path, port: u16) -> Option<Self> {
        Self::start_with(dir, port, &format!("listener {port} 127.0.0.1\nallow_anonymous true\n"))
    }

    /// A broker whose listener and access settings are `listener` (config lines).
    pub(crate) fn start_with(dir: &Path, port: u16, listener: &str) -> Option<Self> {
        let exe = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"].into_iter().find(|p| Path::new(p).exists())?;
        // Persistence keeps the subscriber's session (and its queued messages) across a
        // broker restart, as a real installation does. Run as root, mosquitto would
        // become the `mosquitto` user, who cannot read the scratch folder's files.
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "{listener}user root\npersistence true\npersistence_location {}/\nautosave_interval 1\n",
                dir.display()
            ),
        )
        .unwrap();
        let child = Command::new(exe).arg("-c").arg(&conf).stdout(Stdio::null()).stderr(Stdio::null()).spawn().ok()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Self { child })
    }

    /// SIGTERM, so it saves its state like a service being restarted.
    fn stop(mut self) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn broker(dir: &Path, port: u16) -> Option<Broker> {
    skipped_unless(Broker::start(dir, port))
}

/// The broker, or `None` with a note when there is no mosquitto (a failure in CI).
pub(crate) fn skipped_unless(b: Option<Broker>) -> Option<Broker> {
    if b.is_none() {
        assert!(std::env::var_os("FACECAM_REQUIRE_BROKER").is_none(), "no mosquitto, and the broker test is required");
        eprintln!("skipped: no mosquitto (make setup installs it)");
    }
    b
}

pub(crate) type Messages = Arc<Mutex<Vec<(String, String, bool)>>>;

/// A subscriber to `filter` with a persistent session; records (topic, payload, retained).
fn subscribe(port: u16, id: &str, filter: &str) -> Messages {
    subscribe_with(MqttOptions::new(id, "127.0.0.1", port), filter)
}

/// [`subscribe`] with these options (a login, TLS).
pub(crate) fn subscribe_with(mut opts: MqttOptions, filter: &str) -> Messages {
    opts.set_clean_session(false);
    subscribe_as(opts, filter, |payload| String::from_utf8_lossy(payload).into())
}

/// A subscriber to `filter` with these options, subscribing again at every (re)connect;
/// records (topic, `payload` of the bytes, retained).
pub(crate) fn subscribe_as<T: Send + 'static>(
    mut opts: MqttOptions,
    filter: &str,
    payload: fn(&[u8]) -> T,
) -> Arc<Mutex<Vec<(String, T, bool)>>> {
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut connection) = Client::new(opts, 64);
    let got = Arc::new(Mutex::new(Vec::new()));
    let (seen, filter) = (got.clone(), filter.to_string());
    std::thread::spawn(move || {
        for n in connection.iter() {
            match n {
                Ok(Event::Incoming(Packet::ConnAck(_))) => client.subscribe(&filter, QoS::AtLeastOnce).unwrap(),
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    seen.lock().unwrap().push((p.topic.clone(), payload(&p.payload), p.retain))
                }
                Ok(_) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    });
    got
}

/// Poll `done` every 100 ms for up to `secs`; whether it came true.
pub(crate) fn wait_for(secs: u64, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

pub(crate) fn wait_until(what: &str, secs: u64, done: impl FnMut() -> bool) {
    assert!(wait_for(secs, done), "timed out waiting for {what}");
}

fn facecam(pipe: &str, port: u16, prefix: &str, extra: &[&str]) -> Child {
    let sink = format!("mqtt:127.0.0.1:{port}/{prefix}");
    Command::new(env!("CARGO_BIN_EXE_facecam"))
        .args(["run", "--source", pipe, "--sink", &sink, "--sink", "json", "--min-face-seconds", "0"])
        .args(extra)
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub(crate) fn events_of(messages: &Messages, topic: &str) -> Vec<serde_json::Value> {
    let m = messages.lock().unwrap();
    m.iter().filter(|(t, _, _)| t == topic).map(|(_, p, _)| serde_json::from_str(p).unwrap()).collect()
}

#[test]
fn events_count_and_availability_survive_a_broker_restart() {
    let dir = scratch("mqtt-restart");
    let port = free_port();
    let Some(b) = broker(&dir, port) else { return };
    let got = subscribe(port, "test-sub-restart", "fc/restart/#");
    std::thread::sleep(Duration::from_millis(300));
    let pipe = paced_pipe(&dir, 100, 0.04);
    let mut cam = facecam(&pipe, port, "fc/restart", &["--count-every", "1", "--frames", "500", "--mqtt-discovery"]);
    let stdout = BufReader::new(cam.stdout.take().unwrap());
    let stderr = cam.stderr.take().unwrap();
    let log = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let lines = std::thread::spawn(move || stdout.lines().map_while(Result::ok).collect::<Vec<_>>());
    // A first face, then the broker goes away for a few seconds and comes back.
    wait_until("a face_appeared over MQTT", 60, || {
        events_of(&got, "fc/restart/events").iter().any(|e| e["type"] == "face_appeared")
    });
    b.stop();
    std::thread::sleep(Duration::from_secs(3));
    let _b = Broker::start(&dir, port).expect("mosquitto restarts");
    assert!(cam.wait().unwrap().success(), "the run goes on through the outage and ends normally");
    let log = log.join().unwrap();
    // Every event facecam made (its json sink is the record) reached the subscriber,
    // but for the ones it counted as dropped.
    let made: Vec<serde_json::Value> = lines
        .join()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] != "frame")
        .collect();
    let dropped: usize = log
        .lines()
        .find_map(|l| l.strip_prefix("mqtt: ")?.split(" messages dropped").next()?.parse().ok())
        .unwrap_or(0);
    // Wait for the last events, then let the assertions below say what is missing (with
    // facecam's log) rather than only that time ran out.
    wait_for(20, || events_of(&got, "fc/restart/events").len() + dropped >= made.len());
    let received = events_of(&got, "fc/restart/events");
    eprintln!("{} events made, {} received, {dropped} counted as dropped", made.len(), received.len());
    let kinds = |v: &[serde_json::Value], k: &str| v.iter().filter(|e| e["type"] == k).count();
    assert!(kinds(&made, "face_appeared") >= 2 && kinds(&made, "face_left") >= 2, "faces came and went: {made:?}");
    for e in &made {
        assert!(received.contains(e) || dropped > 0, "lost without being counted: {e}\n{log}");
    }
    assert!(
        received.len() + dropped >= made.len(),
        "{} made, {} received, {dropped} dropped\n{log}",
        made.len(),
        received.len()
    );
    assert!(log.contains("reconnected"), "{log}");
    // Retained state: the count, presence, availability (offline at exit) and discovery.
    let late = subscribe(port, "test-sub-late", "#");
    wait_until("retained messages", 10, || late.lock().unwrap().iter().any(|(t, _, _)| t == "fc/restart/availability"));
    std::thread::sleep(Duration::from_millis(300));
    let retained = late.lock().unwrap().clone();
    let value = |topic: &str| retained.iter().rev().find(|(t, _, r)| t == topic && *r).map(|(_, p, _)| p.clone());
    assert_eq!(value("fc/restart/availability").as_deref(), Some("offline"));
    assert_eq!(value("fc/restart/count").as_deref(), Some("0"), "everyone left when the run ended");
    assert_eq!(value("fc/restart/present").as_deref(), Some("OFF"));
    let config = value("homeassistant/sensor/facecam_fc_restart/faces/config").expect("discovery config");
    assert!(config.contains("\"state_topic\":\"fc/restart/count\""), "{config}");
}

#[test]
fn the_last_will_says_offline_when_facecam_dies() {
    let dir = scratch("mqtt-will");
    let port = free_port();
    let Some(_b) = broker(&dir, port) else { return };
    let got = subscribe(port, "test-sub-will", "fc/will/availability");
    // A source with no child process: SIGKILL leaves nothing behind.
    let mut cam = facecam("pattern", port, "fc/will", &[]);
    let last = |got: &Messages| got.lock().unwrap().last().map(|m| m.1.clone());
    wait_until("online", 30, || last(&got).as_deref() == Some("online"));
    cam.kill().unwrap(); // SIGKILL: no goodbye, the broker speaks for it
    let _ = cam.wait();
    wait_until("the last will", 30, || last(&got).as_deref() == Some("offline"));
}
