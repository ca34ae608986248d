//! Face events over MQTT: `--sink mqtt:HOST[:PORT]/PREFIX`.
//!
//! | topic | payload |
//! |---|---|
//! | `PREFIX/events` | every face event's JSON ([`crate::events`]), QoS 1 |
//! | `PREFIX/count` | the number of faces in view, retained |
//! | `PREFIX/present` | `ON` / `OFF`, retained |
//! | `PREFIX/availability` | `online`, retained; `offline` by the broker's last will or at exit |
//!
//! With `--mqtt-discovery`, Home Assistant discovery config (a face-count sensor and a
//! "face present" binary sensor) is published, retained, at every connection.
//!
//! rumqttc runs the connection on its own thread and reconnects with backoff (1 s
//! doubling to 30 s) when the broker goes away. The pipeline never waits: messages are
//! queued up to [`QUEUE`], then dropped and counted, and the count is reported at exit.

use super::{FrameReport, Sink, SinkOptions};
use crate::events::FaceEvent;
use anyhow::{bail, Context, Result};
use image::RgbImage;
use rumqttc::{Client, Event, LastWill, MqttOptions as Options, Packet, QoS};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Messages queued while the broker is slow or away; more are dropped (and counted).
pub const QUEUE: usize = 256;

/// Where to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttOptions {
    /// Broker host name or address.
    pub host: String,
    /// Broker port (1883 when not given).
    pub port: u16,
    /// Topic prefix, e.g. `facecam/door`.
    pub prefix: String,
}

impl MqttOptions {
    /// Parse the part after `mqtt:`, `HOST[:PORT]/PREFIX`.
    pub fn parse(rest: &str) -> Result<Self> {
        let usage =
            || format!("sink `mqtt:{rest}`: expected mqtt:HOST[:PORT]/TOPIC_PREFIX, e.g. mqtt:localhost/facecam");
        let (server, prefix) = rest.split_once('/').with_context(usage)?;
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() || prefix.contains(['+', '#', '\0']) || prefix.len() > 200 {
            bail!("{}: the topic prefix must be 1 to 200 characters without `+`, `#`", usage());
        }
        let (host, port) = match server.rsplit_once(':') {
            Some((h, p)) => {
                (h, p.parse::<u16>().ok().filter(|p| *p > 0).with_context(|| format!("{}: bad port `{p}`", usage()))?)
            }
            None => (server, 1883),
        };
        if host.is_empty() {
            bail!("{}: no broker host", usage());
        }
        Ok(Self { host: host.to_string(), port, prefix: prefix.to_string() })
    }
}

/// The MQTT sink; see the module docs.
pub struct MqttSink {
    client: Client,
    prefix: String,
    dropped: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MqttSink {
    /// Start the connection (in the background: a broker that is down at start-up is
    /// retried like one that goes away later).
    pub fn start(options: MqttOptions, sink: &SinkOptions) -> Result<Self> {
        let node: String = options.prefix.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        let mut mqtt = Options::new(format!("facecam-{node}"), options.host.clone(), options.port);
        let availability = format!("{}/availability", options.prefix);
        mqtt.set_keep_alive(Duration::from_secs(10)).set_clean_session(false).set_last_will(LastWill::new(
            &availability,
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
        let (client, mut connection) = Client::new(mqtt, QUEUE);
        let (dropped, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let discovery = sink.mqtt_discovery.then(|| discovery_config(&options.prefix, &node, &sink.about));
        let thread = {
            let (client, stop, prefix) = (client.clone(), stop.clone(), options.prefix.clone());
            let broker = format!("{}:{}", options.host, options.port);
            std::thread::Builder::new().name("mqtt".into()).spawn(move || {
                let mut backoff = Duration::from_secs(1);
                let mut down = false;
                for notification in connection.iter() {
                    if stop.load(Relaxed) {
                        break;
                    }
                    match notification {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            if down {
                                log::info!("mqtt: reconnected to {broker}");
                            }
                            (down, backoff) = (false, Duration::from_secs(1));
                            // The last will may have said offline while we were away.
                            let _ =
                                client.try_publish(format!("{prefix}/availability"), QoS::AtLeastOnce, true, "online");
                            for (topic, config) in discovery.iter().flatten() {
                                let _ = client.try_publish(topic.clone(), QoS::AtLeastOnce, true, config.clone());
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            if !down {
                                log::warn!("mqtt: {broker}: {e}; retrying with backoff");
                            }
                            down = true;
                            std::thread::sleep(backoff);
                            backoff = (backoff * 2).min(Duration::from_secs(30));
                            if stop.load(Relaxed) {
                                break;
                            }
                        }
                    }
                }
            })?
        };
        Ok(Self { client, prefix: options.prefix, dropped, stop, thread: Some(thread) })
    }

    /// Messages dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    fn publish(&self, topic: &str, retain: bool, payload: String) {
        let topic = format!("{}/{topic}", self.prefix);
        if self.client.try_publish(topic, QoS::AtLeastOnce, retain, payload).is_err() {
            self.dropped.fetch_add(1, Relaxed);
        }
    }
}

/// Home Assistant discovery messages: (topic, retained config JSON).
fn discovery_config(prefix: &str, node: &str, about: &str) -> Vec<(String, String)> {
    let device = serde_json::json!({ "identifiers": [format!("facecam_{node}")], "name": format!("facecam {prefix}"),
        "model": about, "manufacturer": "facecam" });
    let availability = format!("{prefix}/availability");
    let count = serde_json::json!({ "name": "Faces", "unique_id": format!("facecam_{node}_faces"),
        "state_topic": format!("{prefix}/count"), "availability_topic": availability, "unit_of_measurement": "faces",
        "state_class": "measurement", "icon": "mdi:face-recognition", "device": device });
    let present = serde_json::json!({ "name": "Face present", "unique_id": format!("facecam_{node}_present"),
        "state_topic": format!("{prefix}/present"), "availability_topic": availability, "device_class": "occupancy",
        "payload_on": "ON", "payload_off": "OFF", "device": device });
    vec![
        (format!("homeassistant/sensor/facecam_{node}/faces/config"), count.to_string()),
        (format!("homeassistant/binary_sensor/facecam_{node}/present/config"), present.to_string()),
    ]
}

impl Sink for MqttSink {
    fn show(&mut self, _frame: &RgbImage, report: &FrameReport) -> Result<()> {
        self.events(&report.events)
    }

    fn events(&mut self, events: &[FaceEvent]) -> Result<()> {
        for e in events {
            self.publish("events", false, serde_json::to_string(e)?);
            if let FaceEvent::Count { faces, .. } = e {
                self.publish("count", true, faces.to_string());
                self.publish("present", true, if *faces > 0 { "ON" } else { "OFF" }.to_string());
            }
        }
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        let Some(thread) = self.thread.take() else { return Ok(()) };
        self.publish("availability", true, "offline".to_string());
        // Give the queue a moment to drain while the broker is there, then hang up.
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        std::thread::sleep(Duration::from_millis(200));
        let _ = self.client.try_disconnect();
        while !thread.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop.store(true, Relaxed);
        if thread.is_finished() {
            let _ = thread.join();
        }
        let dropped = self.dropped();
        if dropped > 0 {
            log::warn!("mqtt: {dropped} messages dropped while the broker was away or slow");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_host_port_and_prefix() {
        let o = MqttOptions::parse("broker.lan:1884/facecam/door").unwrap();
        assert_eq!((o.host.as_str(), o.port, o.prefix.as_str()), ("broker.lan", 1884, "facecam/door"));
        assert_eq!(MqttOptions::parse("localhost/fc").unwrap().port, 1883);
        for bad in ["localhost", "localhost/", "localhost:0/x", "localhost:x/y", ":1883/x", "h/a/#"] {
            let err = MqttOptions::parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("mqtt:{bad}")), "{bad}: {err}");
        }
    }

    #[test]
    fn discovery_names_a_count_sensor_and_a_presence_sensor() {
        let config = discovery_config("facecam/door", "facecam_door", "slim 320x240");
        assert_eq!(config.len(), 2);
        let count: serde_json::Value = serde_json::from_str(&config[0].1).unwrap();
        assert_eq!(count["state_topic"], "facecam/door/count");
        assert_eq!(count["availability_topic"], "facecam/door/availability");
        let present: serde_json::Value = serde_json::from_str(&config[1].1).unwrap();
        assert_eq!(present["payload_on"], "ON");
        assert!(config[1].0.starts_with("homeassistant/binary_sensor/"));
    }
}
