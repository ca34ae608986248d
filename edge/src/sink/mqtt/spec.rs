//! The MQTT sink's spec: `mqtt:HOST[:PORT]/PREFIX[,OPTION…]`, or `mqtts:…` for TLS.
//!
//! `HOST` may be written `USER@HOST`, and a leading `//` is allowed (`mqtts://broker/fc`).
//! Options, comma-separated after the prefix (which therefore holds no `,`):
//!
//! | option | meaning |
//! |---|---|
//! | `user=NAME` | the login's user name (or `USER@HOST`) |
//! | `password_file=PATH` | the password: the file's first line; else `$FACECAM_MQTT_PASSWORD` |
//! | `tls` | TLS, as `mqtts:` (port 8883 unless given) |
//! | `ca=FILE` | PEM CA certificate(s) the broker's certificate must chain to (default: the system's) |
//! | `cert=FILE`, `key=FILE` | a PEM client certificate and its private key, both or neither |
//!
//! The password is never part of the spec: a command line is visible to everyone in `ps`.

use anyhow::Result;
use std::path::PathBuf;

/// The environment variable holding the MQTT password when no `password_file=` is given.
pub const PASSWORD_ENV: &str = "FACECAM_MQTT_PASSWORD";

/// Where to publish, and how to log in.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MqttOptions {
    /// Broker host name or address.
    pub host: String,
    /// Broker port (1883, or 8883 with TLS, when not given).
    pub port: u16,
    /// Topic prefix, e.g. `facecam/door`.
    pub prefix: String,
    /// The login's user name.
    pub user: Option<String>,
    /// The file whose first line is the password.
    pub password_file: Option<PathBuf>,
    /// TLS settings; `None` for plain TCP.
    pub tls: Option<TlsFiles>,
}

/// The files of a TLS connection (all PEM).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsFiles {
    /// CA certificates to trust instead of the system's.
    pub ca: Option<PathBuf>,
    /// A client certificate (chain) and its private key.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// How the spec is written, for errors.
const USAGE: &str = "expected mqtt:HOST[:PORT]/TOPIC_PREFIX[,user=NAME][,password_file=PATH][,tls][,ca=FILE]\
                     [,cert=FILE,key=FILE] (mqtts: for TLS), e.g. mqtt:localhost/facecam";

impl MqttOptions {
    /// Parse the part after `mqtt:` (`tls` false) or `mqtts:` (`tls` true).
    pub fn parse(rest: &str, tls: bool) -> Result<Self> {
        let scheme = if tls { "mqtts" } else { "mqtt" };
        let bad = |what: String| anyhow::anyhow!("sink `{scheme}:{rest}`: {what}; {USAGE}");
        let mut parts = rest.split(',');
        let main = parts.next().unwrap_or_default();
        let main = main.strip_prefix("//").unwrap_or(main);
        let (server, prefix) = main.split_once('/').ok_or_else(|| bad("no topic prefix".into()))?;
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() || prefix.contains(['+', '#', '\0']) || prefix.len() > 200 {
            return Err(bad("the topic prefix must be 1 to 200 characters without `+`, `#`".into()));
        }
        let (user, server) = match server.rsplit_once('@') {
            Some((u, s)) => (Some(u.to_string()), s),
            None => (None, server),
        };
        let (host, port) = match server.rsplit_once(':') {
            Some((h, p)) => {
                (h, Some(p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| bad(format!("bad port `{p}`")))?))
            }
            None => (server, None),
        };
        if host.is_empty() {
            return Err(bad("no broker host".into()));
        }
        let mut o = Self { host: host.into(), port: 0, prefix: prefix.into(), user, ..Self::default() };
        let mut tls = tls.then(TlsFiles::default);
        let (mut ca, mut cert, mut key) = (None, None, None);
        for option in parts {
            let (name, value) = option.split_once('=').unwrap_or((option, ""));
            let path = || {
                (!value.is_empty()).then(|| PathBuf::from(value)).ok_or_else(|| bad(format!("`{name}=` needs a file")))
            };
            match name {
                "user" => o.user = Some(value.into()),
                "password_file" => o.password_file = Some(path()?),
                "tls" if value.is_empty() => tls = tls.or_else(|| Some(TlsFiles::default())),
                "ca" => ca = Some(path()?),
                "cert" => cert = Some(path()?),
                "key" => key = Some(path()?),
                "password" => return Err(bad("a password on the command line is visible to every user (`ps`): use password_file=PATH or $FACECAM_MQTT_PASSWORD".into())),
                _ => return Err(bad(format!("unknown option `{option}`"))),
            }
        }
        if let Some(u) = &o.user {
            if u.is_empty() || u.len() > 1024 || u.contains('\0') {
                return Err(bad("the user name must be 1 to 1024 characters".into()));
            }
        }
        if o.password_file.is_some() && o.user.is_none() {
            return Err(bad("a password needs a user name (user=NAME or USER@HOST)".into()));
        }
        let client = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => return Err(bad("a client certificate needs both cert=FILE and key=FILE".into())),
        };
        match &mut tls {
            Some(t) => *t = TlsFiles { ca, client },
            None if ca.is_some() || client.is_some() => {
                return Err(bad("`ca=`, `cert=` and `key=` are for TLS: write mqtts: or add `,tls`".into()))
            }
            None => {}
        }
        o.port = port.unwrap_or(if tls.is_some() { 8883 } else { 1883 });
        o.tls = tls;
        Ok(o)
    }

    /// `HOST:PORT`, for messages.
    pub fn broker(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_host_port_and_prefix() {
        let o = MqttOptions::parse("broker.lan:1884/facecam/door", false).unwrap();
        assert_eq!((o.host.as_str(), o.port, o.prefix.as_str()), ("broker.lan", 1884, "facecam/door"));
        assert_eq!((o.user, o.password_file, o.tls), (None, None, None));
        assert_eq!(MqttOptions::parse("localhost/fc", false).unwrap().port, 1883);
        for bad in ["localhost", "localhost/", "localhost:0/x", "localhost:x/y", ":1883/x", "h/a/#"] {
            let err = MqttOptions::parse(bad, false).unwrap_err().to_string();
            assert!(err.contains(&format!("mqtt:{bad}")), "{bad}: {err}");
        }
    }

    #[test]
    fn logins_and_tls_are_options() {
        let o = MqttOptions::parse("//cam@broker.lan/fc,password_file=/etc/facecam/mqtt-password", true).unwrap();
        assert_eq!((o.user.as_deref(), o.port), (Some("cam"), 8883));
        assert_eq!(o.password_file.as_deref(), Some(std::path::Path::new("/etc/facecam/mqtt-password")));
        assert_eq!(o.tls, Some(TlsFiles::default()));
        let o = MqttOptions::parse("h:8884/fc,user=a@b,tls,ca=ca.pem,cert=c.pem,key=k.pem", false).unwrap();
        assert_eq!((o.user.as_deref(), o.port), (Some("a@b"), 8884));
        let tls = o.tls.unwrap();
        assert_eq!(tls.ca, Some("ca.pem".into()));
        assert_eq!(tls.client, Some(("c.pem".into(), "k.pem".into())));
        for (bad, why) in [
            ("h/fc,password=x", "visible to every user"),
            ("h/fc,password_file=p", "needs a user name"),
            ("h/fc,ca=ca.pem", "are for TLS"),
            ("h/fc,tls,cert=c.pem", "both cert=FILE and key=FILE"),
            ("h/fc,ca=", "`ca=` needs a file"),
            ("h/fc,user=", "the user name must be 1 to"),
            ("h/fc,qos=2", "unknown option `qos=2`"),
        ] {
            let err = MqttOptions::parse(bad, false).unwrap_err().to_string();
            assert!(err.contains(why) && err.starts_with(&format!("sink `mqtt:{bad}`")), "{bad}: {err}");
        }
    }
}
