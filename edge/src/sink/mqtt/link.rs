//! The MQTT sink's connection thread: it drives rumqttc's event loop, greets the broker
//! at every connection (`online`, discovery), says why a connection failed in one line
//! and retries with backoff (1 s doubling to 30 s), and ends for good once the sink
//! closes: no reconnection and no greeting after `offline`.

use rumqttc::{Client, ConnectReturnCode, Connection, ConnectionError, Event, Outgoing, Packet, QoS};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One message to publish: topic, payload, retained.
pub type Message = (String, Vec<u8>, bool);

/// What the sink and the thread share: whether the sink is closing. The sink holds the
/// lock while it queues `offline`, the thread while it queues its greeting, so a greeting
/// is never queued after `offline`.
pub type Closing = Arc<Mutex<bool>>;

/// The longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The thread's work: `greeting` is published (QoS 1) at every connection; `wake`
/// cuts a backoff short when the sink closes.
pub fn run(
    mut connection: Connection,
    client: Client,
    broker: String,
    greeting: Vec<Message>,
    closing: Closing,
    wake: Receiver<()>,
) {
    let mut backoff = Duration::from_secs(1);
    // Why the last try failed, while the broker is away.
    let mut down: Option<String> = None;
    let mut connected_once = false;
    for notification in connection.iter() {
        match notification {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                match (down.take(), connected_once) {
                    (_, false) => log::info!("mqtt {broker}: connected"),
                    (Some(_), true) => log::info!("mqtt {broker}: reconnected"),
                    (None, true) => {}
                }
                (connected_once, backoff) = (true, Duration::from_secs(1));
                let closing = closing.lock().unwrap_or_else(|e| e.into_inner());
                if !*closing {
                    for (topic, payload, retain) in &greeting {
                        let _ = client.try_publish(topic.clone(), QoS::AtLeastOnce, *retain, payload.clone());
                    }
                }
            }
            // Queued after `offline` by the closing sink: everything before it is sent.
            // Read on until the broker hangs up: closing a socket with unread acks in it
            // sends a reset, and the broker could lose what it had not read yet.
            Ok(Event::Outgoing(Outgoing::Disconnect)) => log::debug!("mqtt {broker}: disconnecting"),
            Ok(_) => {}
            Err(e) => {
                // The broker hanging up after our DISCONNECT, or one that is away at exit.
                if *closing.lock().unwrap_or_else(|e| e.into_inner()) {
                    break;
                }
                let reason = reason(&e);
                if down.as_ref() != Some(&reason) {
                    log::warn!("mqtt {broker}: {reason}; retrying in {} s", backoff.as_secs());
                } else {
                    log::debug!("mqtt {broker}: {reason}; retrying in {} s", backoff.as_secs());
                }
                down = Some(reason);
                if wake.recv_timeout(backoff) != Err(RecvTimeoutError::Timeout) {
                    break; // the sink is closing
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Why a connection failed, in words.
fn reason(e: &ConnectionError) -> String {
    match e {
        ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword) => {
            "the broker refused the login (bad user name or password)".into()
        }
        ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized) => {
            "the broker refused the login (not authorized: a wrong or missing user name or password)".into()
        }
        ConnectionError::ConnectionRefused(code) => format!("the broker refused the connection ({code:?})"),
        ConnectionError::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "nothing listens there (connection refused)".into()
        }
        ConnectionError::NetworkTimeout => "no answer (network timeout)".into(),
        ConnectionError::Tls(tls) => format!("TLS: {tls}"),
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_as_words() {
        let bad = ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword);
        assert_eq!(reason(&bad), "the broker refused the login (bad user name or password)");
        let refused = ConnectionError::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert_eq!(reason(&refused), "nothing listens there (connection refused)");
    }
}
