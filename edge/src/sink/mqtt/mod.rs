//! Face events over MQTT: `--sink mqtt:HOST[:PORT]/PREFIX[,OPTION…]`, or `mqtts:…` over
//! TLS, with a login from a file or the environment ([`spec`]).
//!
//! | topic | payload |
//! |---|---|
//! | `PREFIX/events` | every face event's JSON line ([`crate::events`], docs/JSON.md: the `json` sink's), QoS 1 |
//! | `PREFIX/count` | the number of faces in view, retained |
//! | `PREFIX/present` | `ON` / `OFF`, retained |
//! | `PREFIX/availability` | `online`, retained; `offline` by the broker's last will or at exit |
//! | `PREFIX/zone/NAME/count` | faces in view in zone NAME (config file `[[zone]]`), retained |
//! | `PREFIX/zone/NAME/present` | `ON` / `OFF` for zone NAME, retained |
//! | `PREFIX/snapshot` | with `--snapshots`: each event's frame, a JPEG (binary), retained |
//!
//! The topics are the rows of [`Topic`]. With `--mqtt-discovery`, Home Assistant
//! discovery config (a face-count sensor and a "face present" binary sensor, the same
//! pair per zone, and with `--snapshots` an `image` entity showing the last event's
//! frame) is published, retained, at every connection. A zone's count is the faces
//! shown in it, published when it changes (and on the first frame).
//!
//! rumqttc runs the connection on its own thread ([`link`]) and reconnects with backoff
//! (1 s doubling to 30 s) when the broker goes away or refuses the login; the camera runs
//! on meanwhile. The pipeline never waits: messages are queued up to [`QUEUE`], then
//! dropped and counted, and the count is reported at exit. At a clean exit `offline` is
//! published once and the connection is closed for good.

pub mod files;
pub mod link;
pub mod spec;
pub mod zones;

pub use spec::{MqttOptions, TlsFiles, PASSWORD_ENV};

use super::{FrameReport, Sink, SinkOptions};
use crate::events::FaceEvent;
use anyhow::Result;
use image::RgbImage;
use rumqttc::{Client, LastWill, MqttOptions as Options, QoS, TlsConfiguration, Transport};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Messages queued while the broker is slow or away; more are dropped (and counted).
pub const QUEUE: usize = 256;

/// The largest message sent or taken: a snapshot JPEG of a big frame (rumqttc's own
/// default, 10 KiB, is less than one picture).
pub const MAX_PACKET: usize = 8 << 20;

/// A topic under the prefix: one row of the table in the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Every face event's JSON.
    Events,
    /// The number of faces in view.
    Count,
    /// `ON` while a face is in view, else `OFF`.
    Present,
    /// `online` / `offline`.
    Availability,
    /// Faces in one zone: `PREFIX/zone/NAME/count`.
    ZoneCount,
    /// `ON` while a face is in one zone: `PREFIX/zone/NAME/present`.
    ZonePresent,
    /// The last face event's frame, a JPEG.
    Snapshot,
}

impl Topic {
    /// The name after `PREFIX/`.
    pub fn name(self) -> &'static str {
        match self {
            Topic::Events => "events",
            Topic::Count => "count",
            Topic::Present => "present",
            Topic::Availability => "availability",
            Topic::ZoneCount => "count",
            Topic::ZonePresent => "present",
            Topic::Snapshot => "snapshot",
        }
    }

    /// Whether the broker keeps the last message for new subscribers (a state, not an event).
    pub fn retained(self) -> bool {
        !matches!(self, Topic::Events)
    }
}

/// The MQTT sink; see the module docs.
pub struct MqttSink {
    client: Client,
    prefix: String,
    dropped: Arc<AtomicU64>,
    closing: link::Closing,
    /// Dropped at close, to cut the thread's backoff short.
    wake: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The zones' names and the counts last published (`None`: none yet).
    zones: Vec<(String, Option<usize>)>,
}

impl MqttSink {
    /// Read the password and TLS files (errors name them), then start the connection in
    /// the background: a broker that is down or refuses the login at start-up is retried
    /// like one that goes away later.
    pub fn start(options: MqttOptions, sink: &SinkOptions) -> Result<Self> {
        let node: String = options.prefix.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        let mut mqtt = Options::new(format!("facecam-{node}"), options.host.clone(), options.port);
        mqtt.set_max_packet_size(MAX_PACKET, MAX_PACKET);
        let availability = full_topic(&options.prefix, Topic::Availability);
        mqtt.set_keep_alive(Duration::from_secs(10)).set_clean_session(false).set_last_will(LastWill::new(
            &availability,
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
        if let Some(user) = &options.user {
            mqtt.set_credentials(user.clone(), files::password(&options)?.unwrap_or_default());
        }
        if let Some(tls) = &options.tls {
            mqtt.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(files::client_config(tls)?)));
        }
        let (client, connection) = Client::new(mqtt, QUEUE);
        // Said at every connection: the last will may have said offline while we were away.
        let mut greeting: Vec<link::Message> = vec![(availability, b"online".to_vec(), true)];
        if sink.mqtt_discovery {
            let mut configs = discovery_config(&options.prefix, &node, &sink.about);
            for zone in &sink.zones.zones {
                configs.extend(zones::discovery_config(&options.prefix, &node, &sink.about, &zone.name));
            }
            if sink.snapshots.is_some() {
                configs.push(snapshot_discovery(&options.prefix, &node, &sink.about));
            }
            greeting.extend(configs.into_iter().map(|(t, c)| (t, c.into_bytes(), true)));
        }
        let closing = link::Closing::default();
        let (wake, woken) = mpsc::channel();
        let thread = {
            let (client, closing, broker) = (client.clone(), closing.clone(), options.broker());
            std::thread::Builder::new()
                .name("mqtt".into())
                .spawn(move || link::run(connection, client, broker, greeting, closing, woken))?
        };
        let dropped = Arc::new(AtomicU64::new(0));
        let zones = sink.zones.zones.iter().map(|z| (z.name.clone(), None)).collect();
        Ok(Self { client, prefix: options.prefix, dropped, closing, wake: Some(wake), thread: Some(thread), zones })
    }

    /// Messages dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// Queue one message on `topic` (QoS 1, retained as the topic is); never waits.
    pub fn publish(&self, topic: Topic, payload: impl Into<Vec<u8>>) {
        let full = full_topic(&self.prefix, topic);
        if self.client.try_publish(full, QoS::AtLeastOnce, topic.retained(), payload.into()).is_err() {
            self.dropped.fetch_add(1, Relaxed);
        }
    }
}

/// `PREFIX/NAME`; a zone's topics through [`zones::topic`].
fn full_topic(prefix: &str, topic: Topic) -> String {
    format!("{prefix}/{}", topic.name())
}

/// Home Assistant's device entry: one device per camera, holding its entities.
fn device(prefix: &str, node: &str, about: &str) -> serde_json::Value {
    serde_json::json!({ "identifiers": [format!("facecam_{node}")], "name": format!("facecam {prefix}"),
        "model": about, "manufacturer": "facecam" })
}

/// Home Assistant's `image` entity for `PREFIX/snapshot`: (topic, retained config JSON).
fn snapshot_discovery(prefix: &str, node: &str, about: &str) -> (String, String) {
    let image = serde_json::json!({ "name": "Last face", "unique_id": format!("facecam_{node}_snapshot"),
        "image_topic": full_topic(prefix, Topic::Snapshot), "content_type": "image/jpeg",
        "availability_topic": full_topic(prefix, Topic::Availability), "device": device(prefix, node, about) });
    (format!("homeassistant/image/facecam_{node}/snapshot/config"), image.to_string())
}

/// Home Assistant discovery messages: (topic, retained config JSON).
fn discovery_config(prefix: &str, node: &str, about: &str) -> Vec<(String, String)> {
    let device = device(prefix, node, about);
    let availability = full_topic(prefix, Topic::Availability);
    let count = serde_json::json!({ "name": "Faces", "unique_id": format!("facecam_{node}_faces"),
        "state_topic": full_topic(prefix, Topic::Count), "availability_topic": availability, "unit_of_measurement": "faces",
        "state_class": "measurement", "icon": "mdi:face-recognition", "device": device });
    let present = serde_json::json!({ "name": "Face present", "unique_id": format!("facecam_{node}_present"),
        "state_topic": full_topic(prefix, Topic::Present), "availability_topic": availability, "device_class": "occupancy",
        "payload_on": "ON", "payload_off": "OFF", "device": device });
    vec![
        (format!("homeassistant/sensor/facecam_{node}/faces/config"), count.to_string()),
        (format!("homeassistant/binary_sensor/facecam_{node}/present/config"), present.to_string()),
    ]
}

impl Sink for MqttSink {
    fn show(&mut self, _frame: &RgbImage, report: &FrameReport) -> Result<()> {
        self.publish_zones(&report.faces);
        self.events(&report.events)
    }

    fn events(&mut self, events: &[FaceEvent]) -> Result<()> {
        for e in events {
            self.publish(Topic::Events, serde_json::to_string(e)?);
            match e {
                FaceEvent::Count { faces, .. } => {
                    self.publish(Topic::Count, faces.to_string());
                    self.publish(Topic::Present, if *faces > 0 { "ON" } else { "OFF" });
                }
                FaceEvent::FaceSnapshot { snapshot, .. } => {
                    if let Some(jpeg) = &snapshot.jpeg {
                        self.publish(Topic::Snapshot, jpeg.to_vec());
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// `offline` once, then a clean DISCONNECT after what is queued (the broker drops the
    /// last will): the thread sends both in order and ends, without reconnecting.
    fn close(&mut self) -> Result<()> {
        let Some(thread) = self.thread.take() else { return Ok(()) };
        {
            let mut closing = self.closing.lock().unwrap_or_else(|e| e.into_inner());
            *closing = true;
            self.publish(Topic::Availability, "offline");
        }
        let _ = self.client.try_disconnect();
        drop(self.wake.take());
        // Give the queue a moment to drain while the broker is there; a broker that is
        // away gets no more than that.
        let deadline = Instant::now() + Duration::from_secs(3);
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
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
    fn discovery_names_a_count_sensor_and_a_presence_sensor() {
        let config = discovery_config("facecam/door", "facecam_door", "slim 320x240");
        assert_eq!(config.len(), 2);
        let count: serde_json::Value = serde_json::from_str(&config[0].1).unwrap();
        assert_eq!(count["state_topic"], "facecam/door/count");
        assert_eq!(count["availability_topic"], "facecam/door/availability");
        let present: serde_json::Value = serde_json::from_str(&config[1].1).unwrap();
        assert_eq!(present["payload_on"], "ON");
        assert!(config[1].0.starts_with("homeassistant/binary_sensor/"));
        let (topic, image) = snapshot_discovery("facecam/door", "facecam_door", "slim 320x240");
        assert_eq!(topic, "homeassistant/image/facecam_facecam_door/snapshot/config");
        let image: serde_json::Value = serde_json::from_str(&image).unwrap();
        assert_eq!(
            (image["image_topic"].as_str(), image["content_type"].as_str()),
            (Some("facecam/door/snapshot"), Some("image/jpeg"))
        );
        assert_eq!(image["device"], count["device"], "the same device");
    }

    #[test]
    fn events_are_not_retained_states_are() {
        assert!(!Topic::Events.retained());
        assert!([Topic::Count, Topic::Present, Topic::Availability, Topic::Snapshot].iter().all(|t| t.retained()));
        assert_eq!(full_topic("fc/door", Topic::Availability), "fc/door/availability");
    }
}
