//! Per-zone topics of the MQTT sink: `PREFIX/zone/NAME/count` and `.../present`, and their
//! Home Assistant discovery config.

use super::{full_topic, MqttSink, Topic};
use crate::track::Track;
use rumqttc::QoS;
use std::sync::atomic::Ordering::Relaxed;

/// `PREFIX/zone/NAME/count` or `PREFIX/zone/NAME/present`.
pub fn topic(prefix: &str, zone: &str, topic: Topic) -> String {
    format!("{prefix}/zone/{zone}/{}", topic.name())
}

impl MqttSink {
    /// Publish each zone's face count and presence where it changed (all on the first
    /// frame); retained, like the whole-frame count.
    pub fn publish_zones(&mut self, faces: &[Track]) {
        let mut messages = Vec::new();
        for (name, last) in &mut self.zones {
            let count = faces.iter().filter(|f| f.zones.iter().any(|z| z == name)).count();
            if *last != Some(count) {
                *last = Some(count);
                messages.push((topic(&self.prefix, name, Topic::ZoneCount), count.to_string()));
                let present = if count > 0 { "ON" } else { "OFF" };
                messages.push((topic(&self.prefix, name, Topic::ZonePresent), present.to_string()));
            }
        }
        for (full, payload) in messages {
            if self.client.try_publish(full, QoS::AtLeastOnce, true, payload.into_bytes()).is_err() {
                self.dropped.fetch_add(1, Relaxed);
            }
        }
    }
}

/// Home Assistant discovery messages for one zone: a count sensor and a presence sensor.
pub fn discovery_config(prefix: &str, node: &str, about: &str, zone: &str) -> Vec<(String, String)> {
    let device = serde_json::json!({ "identifiers": [format!("facecam_{node}")], "name": format!("facecam {prefix}"),
        "model": about, "manufacturer": "facecam" });
    let availability = full_topic(prefix, Topic::Availability);
    let id = format!("facecam_{node}_zone_{zone}");
    let count = serde_json::json!({ "name": format!("Faces in {zone}"), "unique_id": format!("{id}_faces"),
        "state_topic": topic(prefix, zone, Topic::ZoneCount), "availability_topic": availability,
        "unit_of_measurement": "faces", "state_class": "measurement", "icon": "mdi:face-recognition", "device": device });
    let present = serde_json::json!({ "name": format!("Face in {zone}"), "unique_id": format!("{id}_present"),
        "state_topic": topic(prefix, zone, Topic::ZonePresent), "availability_topic": availability,
        "device_class": "occupancy", "payload_on": "ON", "payload_off": "OFF", "device": device });
    vec![
        (format!("homeassistant/sensor/facecam_{node}/zone_{zone}_faces/config"), count.to_string()),
        (format!("homeassistant/binary_sensor/facecam_{node}/zone_{zone}_present/config"), present.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zone_has_its_own_topics_and_discovery_entities() {
        assert_eq!(topic("fc/door", "porch", Topic::ZoneCount), "fc/door/zone/porch/count");
        let config = discovery_config("fc/door", "fc_door", "host", "porch");
        assert_eq!(config.len(), 2);
        let count: serde_json::Value = serde_json::from_str(&config[0].1).unwrap();
        assert_eq!(count["state_topic"], "fc/door/zone/porch/count");
        let present: serde_json::Value = serde_json::from_str(&config[1].1).unwrap();
        assert_eq!(present["state_topic"], "fc/door/zone/porch/present");
        assert_ne!(count["unique_id"], present["unique_id"]);
    }
}
