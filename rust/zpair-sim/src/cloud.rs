//! The device's link to the activation cloud: [`HttpsLink`], a [`CloudLink`] over HTTPS
//! (reqwest, blocking, rustls trusting exactly the cloud's CA), and the worker thread that runs
//! [`zpair_core::client::activate`] / [`zpair_core::client::bind_poll`] on it, so that the
//! device thread never blocks on the network.

use std::io::Read;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroize;
use zpair_core::activation::{ActivationSecret, FwVersion, CONTENT_TYPE};
use zpair_core::client::{self, BindPoll, CloudIdentity, CloudLink};
use zpair_core::error::PairError;
use zpair_core::machine::OperationalCredentials;
use zpair_core::types::{ActivationToken, CloudEndpoint, DeviceId, Mode, ProductId};

/// A [`CloudLink`] over HTTPS.
///
/// The endpoint of a call: the one the app (or the bind) gave, when it names a host
/// (`https://host:port`, port 0 = 443); otherwise the device's default `base_url`.
pub struct HttpsLink {
    http: reqwest::blocking::Client,
    base: String,
}

impl std::fmt::Debug for HttpsLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsLink").field("base", &self.base).finish_non_exhaustive()
    }
}

fn io_other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// A rustls client configuration trusting exactly the certificates in `ca_pem`.
pub fn tls_config(ca_pem: &[u8]) -> std::io::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut std::io::BufReader::new(ca_pem)) {
        roots.add(cert?).map_err(io_other)?;
    }
    if roots.is_empty() {
        return Err(io_other("no CA certificate in the PEM file"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io_other)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl HttpsLink {
    /// A link to `base_url` (`https://localhost:8443`), trusting the CA in `ca_pem` (`None`:
    /// plain HTTP only). `timeout` bounds each call.
    pub fn new(base_url: &str, ca_pem: Option<&[u8]>, timeout: Duration) -> std::io::Result<Self> {
        let mut b = reqwest::blocking::Client::builder().timeout(timeout).connect_timeout(timeout);
        if let Some(pem) = ca_pem {
            b = b.use_preconfigured_tls(tls_config(pem)?);
        }
        Ok(HttpsLink { http: b.build().map_err(io_other)?, base: base_url.trim_end_matches('/').to_owned() })
    }

    fn url(&self, endpoint: Option<&CloudEndpoint>, path: &str) -> String {
        match endpoint.and_then(|e| e.host.as_ref().map(|h| (h, e.port))) {
            Some((host, port)) => {
                let host = String::from_utf8_lossy(host);
                let port = if port == 0 { 443 } else { port };
                format!("https://{host}:{port}{path}")
            }
            None => format!("{}{}", self.base, path),
        }
    }
}

fn is_cert_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return matches!(
                r,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            );
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if is_cert_error(inner) {
                    return true;
                }
            }
        }
        cur = err.source();
    }
    false
}

fn transport(e: reqwest::Error) -> PairError {
    if is_cert_error(&e) {
        PairError::CloudCertificate
    } else {
        PairError::CloudUnreachable
    }
}

impl CloudLink for HttpsLink {
    fn post(
        &mut self,
        endpoint: Option<&CloudEndpoint>,
        path: &str,
        body: &[u8],
        response: &mut [u8],
    ) -> Result<(u16, usize), PairError> {
        let url = self.url(endpoint, path);
        let resp = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(body.to_vec())
            .send()
            .map_err(|e| {
                let p = transport(e);
                tracing::debug!(%url, error = p.name(), "cloud call failed");
                p
            })?;
        let status = resp.status().as_u16();
        let mut bytes = Vec::with_capacity(response.len());
        let limit = u64::try_from(response.len()).unwrap_or(u64::MAX).saturating_add(1);
        let read = resp.take(limit).read_to_end(&mut bytes);
        let result = match read {
            Err(_) => Err(PairError::CloudUnreachable),
            Ok(n) if n > response.len() => Err(PairError::MalformedMessage),
            Ok(n) => {
                response[..n].copy_from_slice(&bytes[..n]);
                Ok((status, n))
            }
        };
        bytes.zeroize();
        tracing::trace!(%url, status, "cloud call answered");
        result
    }
}

/// What the device's cloud identity is (a copy for the worker thread).
pub(crate) struct WorkerIdentity {
    pub product: ProductId,
    pub device: DeviceId,
    pub secret: ActivationSecret,
    pub firmware: FwVersion,
}

/// A job for the worker.
pub(crate) enum Job {
    Activate { id: u64, token: ActivationToken, endpoint: Option<CloudEndpoint>, mode: Mode },
    BindPoll { id: u64 },
}

/// A worker's answer.
pub(crate) enum JobResult {
    Activate { id: u64, result: Result<OperationalCredentials, PairError> },
    BindPoll { id: u64, result: Result<BindPoll, PairError> },
}

/// Runs jobs until the job channel closes; answers through `done`, wrapped by `wrap`.
pub(crate) fn worker<T: Send + 'static>(
    mut link: HttpsLink,
    ident: WorkerIdentity,
    jobs: Receiver<Job>,
    done: Sender<T>,
    wrap: fn(JobResult) -> T,
) {
    let mut crypto = zpair_mbedtls::MbedTls::os();
    let id = CloudIdentity {
        product: ident.product,
        device: ident.device,
        secret: &ident.secret,
        firmware: ident.firmware,
    };
    while let Ok(job) = jobs.recv() {
        let r = match job {
            Job::Activate { id: job_id, token, endpoint, mode } => {
                let result = client::activate(&mut crypto, &mut link, &id, &token, endpoint.as_ref(), mode);
                JobResult::Activate { id: job_id, result }
            }
            Job::BindPoll { id: job_id } => {
                let result = client::bind_poll(&mut crypto, &mut link, &id, None);
                JobResult::BindPoll { id: job_id, result }
            }
        };
        if done.send(wrap(r)).is_err() {
            break;
        }
    }
}
