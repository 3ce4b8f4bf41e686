//! The cloud's self-signed CA and server certificate, generated on first start with `rcgen`.
//!
//! Files in the data directory: `ca.pem` (the CA certificate: give it to the CLI and the
//! simulated devices), `ca.key`, `server.pem` and `server.key` (keys readable by the owner
//! only). The server certificate is for `localhost`, `127.0.0.1` and `::1` plus any extra names.

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Paths of the TLS material in a data directory.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// CA certificate (PEM).
    pub ca_cert: PathBuf,
    /// CA private key (PEM).
    pub ca_key: PathBuf,
    /// Server certificate (PEM).
    pub server_cert: PathBuf,
    /// Server private key (PEM).
    pub server_key: PathBuf,
}

impl TlsFiles {
    /// The files in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        TlsFiles {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca.key"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
        }
    }
    fn all_exist(&self) -> bool {
        [&self.ca_cert, &self.ca_key, &self.server_cert, &self.server_key].iter().all(|p| p.exists())
    }
}

fn err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Makes sure the CA and server certificate exist in `dir`, generating all four files when any
/// is missing. `extra_names` are added to the server certificate (DNS names or IP literals).
pub fn ensure_certificates(dir: &Path, extra_names: &[String]) -> std::io::Result<TlsFiles> {
    let files = TlsFiles::in_dir(dir);
    if files.all_exist() {
        return Ok(files);
    }
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "zpair reference cloud CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;

    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    names.extend(extra_names.iter().cloned());
    let server_key = KeyPair::generate().map_err(err)?;
    let mut server = CertificateParams::new(names).map_err(err)?;
    server.distinguished_name.push(DnType::CommonName, "zpair reference cloud");
    server.is_ca = IsCa::NoCa;
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server.signed_by(&server_key, &ca_cert, &ca_key).map_err(err)?;

    std::fs::create_dir_all(dir)?;
    crate::manifest::write_private(&files.ca_key, ca_key.serialize_pem().as_bytes())?;
    crate::manifest::write_private(&files.server_key, server_key.serialize_pem().as_bytes())?;
    std::fs::write(&files.server_cert, server_cert.pem())?;
    // Written last: its presence means the set is complete.
    std::fs::write(&files.ca_cert, ca_cert.pem())?;
    tracing::info!(ca = %files.ca_cert.display(), "generated CA and server certificate");
    Ok(files)
}

/// The rustls crypto provider used on both sides (ring).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls server configuration from the files.
pub fn server_config(files: &TlsFiles) -> std::io::Result<rustls::ServerConfig> {
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(std::fs::File::open(&files.server_cert)?))
        .collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(std::fs::File::open(&files.server_key)?))?
        .ok_or_else(|| err("no private key in server.key"))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(err)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// A rustls client configuration trusting exactly the CA certificate(s) in `ca_pem`.
pub fn client_config(ca_pem: &[u8]) -> std::io::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut std::io::BufReader::new(ca_pem)) {
        roots.add(cert?).map_err(err)?;
    }
    if roots.is_empty() {
        return Err(err("no CA certificate in PEM"));
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(err)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
