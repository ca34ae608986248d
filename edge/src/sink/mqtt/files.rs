//! The MQTT sink's files: the password file and the TLS certificates and key, read as
//! checked text, and the rustls client configuration made from them.
//!
//! rustls runs on the `ring` provider, named here rather than left to rustls' process
//! default: ring builds with a C compiler alone (aws-lc-rs needs cmake), so the board
//! cross builds keep working.

use super::spec::{MqttOptions, TlsFiles, PASSWORD_ENV};
use anyhow::{bail, Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use std::path::Path;
use std::sync::Arc;

/// Most bytes read from a password, certificate or key file.
const MAX_BYTES: u64 = 1 << 20;

/// Read a small text file (a password, a certificate, a key) through the one door for
/// named files ([`crate::input::read_text`]): regular files only, never blocking, bounded.
pub fn read_text(path: &Path, what: &str) -> Result<String> {
    crate::input::read_text(path, what, MAX_BYTES)
}

/// The password: the first line of `password_file=` (required to be there and not
/// empty), else [`PASSWORD_ENV`] when set and not empty, else none.
pub fn password(options: &MqttOptions) -> Result<Option<String>> {
    if let Some(file) = &options.password_file {
        let text = read_text(file, "the MQTT password file")?;
        let line = text.lines().next().unwrap_or("");
        if line.is_empty() {
            bail!("{}: the MQTT password file is empty (the password is its first line)", file.display());
        }
        return Ok(Some(line.to_string()));
    }
    match std::env::var(PASSWORD_ENV) {
        Ok(p) if !p.is_empty() => Ok(Some(p)),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
        Err(e) => Err(e).context(format!("${PASSWORD_ENV}")),
    }
}

/// The TLS client configuration: the CA file's certificates (else the system's roots),
/// and the client certificate when given. Errors name the file.
pub fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    match &files.ca {
        Some(ca) => {
            for cert in certificates(ca, "the MQTT CA file")? {
                roots.add(cert).map_err(|e| anyhow::anyhow!("{}: a certificate rustls refuses: {e}", ca.display()))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            if roots.is_empty() {
                bail!("no system CA certificates found to check the MQTT broker with: give ca=FILE");
            }
        }
    }
    // Deprecated only for lacking post-quantum key exchange, which aws-lc-rs alone has.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS")?
        .with_root_certificates(roots);
    let config = match &files.client {
        Some((cert, key)) => {
            let chain = certificates(cert, "the MQTT client certificate")?;
            let text = read_text(key, "the MQTT client key")?;
            let key_der = PrivateKeyDer::from_pem_slice(text.as_bytes())
                .map_err(|e| anyhow::anyhow!("{}: no PEM private key in the MQTT client key ({e})", key.display()))?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                anyhow::anyhow!("{}: the client certificate and key do not go together: {e}", cert.display())
            })?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Every PEM certificate in a file; none is an error.
fn certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let text = read_text(path, what)?;
    let certs = CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{}: {what} is not PEM ({e})", path.display()))?;
    if certs.is_empty() {
        bail!("{}: no PEM certificate (-----BEGIN CERTIFICATE-----) in {what}", path.display());
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_files_that_are_not_certificates_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate\n").unwrap();
        let files = TlsFiles { ca: Some(ca.clone()), client: None };
        let err = format!("{:#}", client_config(&files).unwrap_err());
        assert!(err.starts_with(&format!("{}: no PEM certificate", ca.display())), "{err}");
        let files = TlsFiles { ca: Some(dir.path().into()), client: None };
        let err = format!("{:#}", client_config(&files).unwrap_err());
        assert!(err.ends_with("is a directory, not the MQTT CA file"), "{err}");
    }

    #[test]
    fn the_password_is_the_files_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        let options = |f: &std::path::Path| MqttOptions { password_file: Some(f.into()), ..Default::default() };
        std::fs::write(&file, "s3cret\nignored\n").unwrap();
        assert_eq!(password(&options(&file)).unwrap().as_deref(), Some("s3cret"));
        std::fs::write(&file, "\n").unwrap();
        let err = format!("{:#}", password(&options(&file)).unwrap_err());
        assert!(err.ends_with("pw: the MQTT password file is empty (the password is its first line)"), "{err}");
        let err = format!("{:#}", password(&options(dir.path())).unwrap_err());
        assert!(err.ends_with(": is a directory, not the MQTT password file"), "{err}");
        let err = format!("{:#}", password(&options(&dir.path().join("gone"))).unwrap_err());
        assert!(err.contains("gone: cannot open the MQTT password file: No such file"), "{err}");
    }
}
