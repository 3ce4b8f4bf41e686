//! The commissioner's side of the cloud's app API: a blocking wrapper of
//! [`zpair_cloud::client::AppClient`] that turns every refusal into a [`CliError`] and retries
//! an unreachable cloud a few times with backoff.

use crate::commission::Watch;
use crate::error::{CliError, ExitClass};
use std::time::Duration;
use zeroize::Zeroizing;
use zpair_cloud::client::{AppApiError, AppClient};
use zpair_cloud::server::{BindResponse, DeviceView};
use zpair_cloud::store::DeviceStatus;
use zpair_core::error::PairError;
use zpair_core::types::{ActivationToken, CloudEndpoint, DeviceId, ProductId};

/// Where the cloud is and who the user is. `Debug` hides the API key.
#[derive(Clone, Default)]
pub struct CloudSettings {
    /// Base URL (`https://localhost:8443`).
    pub url: String,
    /// The CA certificate (PEM bytes) to trust; `None` for plain HTTP.
    pub ca_pem: Option<Vec<u8>>,
    /// The user's API key.
    pub api_key: Option<Zeroizing<String>>,
    /// The region of tokens.
    pub region: String,
}

impl std::fmt::Debug for CloudSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudSettings")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// An activation token fetched for a pairing. `Debug` hides the token.
pub struct Token {
    /// The token (give it to the device, never print it).
    pub token: ActivationToken,
    /// Its loggable id.
    pub token_id: String,
    /// Seconds it stays valid.
    pub expires_in_s: u64,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token").field("token_id", &self.token_id).field("expires_in_s", &self.expires_in_s).finish()
    }
}

/// A blocking app API client (owns a small runtime; do not use it from inside one).
pub struct Cloud {
    rt: tokio::runtime::Runtime,
    client: AppClient,
    settings: CloudSettings,
    /// How many times an unreachable cloud is retried (with backoff from 250 ms).
    pub retries: u32,
}

impl std::fmt::Debug for Cloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cloud").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// The error of an app API refusal.
pub fn api_error(e: &AppApiError, what: &str, url: &str) -> CliError {
    if e.status == 0 {
        return CliError::new(
            ExitClass::CloudUnreachable,
            "cloud_unreachable",
            format!("{what}: the cloud at {url} could not be reached"),
            "check that the cloud runs (`zpair cloud serve`) and the address (--cloud, ZPAIR_CLOUD, cloud_url in the config)",
        );
    }
    if e.status == 401 {
        return CliError::config(
            format!("{what}: the cloud does not know this API key"),
            "create a user with `zpair user create`, or set ZPAIR_API_KEY / --api-key",
        );
    }
    match e.pair_error() {
        Some(PairError::CloudCertificate) => CliError::pair(PairError::CloudCertificate, what)
            .with_hint("pass the cloud's CA with --ca or ca_cert in the config"),
        Some(p) => CliError::pair(p, format!("{what}: the cloud refused")),
        None if e.status == 404 => CliError::not_found(format!("{what}: {}", e.body.hint), ""),
        None => CliError::new(ExitClass::Internal, &e.body.error, format!("{what}: HTTP {}: {}", e.status, e.body.hint), ""),
    }
}

impl Cloud {
    /// A client for `settings` (no request is made yet).
    pub fn new(settings: CloudSettings) -> Result<Self, CliError> {
        if settings.url.is_empty() {
            return Err(CliError::config(
                "no cloud address",
                "start one with `zpair cloud serve`, or give --cloud URL / ZPAIR_CLOUD / cloud_url in the config",
            ));
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::io("starting the HTTP runtime", &e))?;
        let client = {
            let _g = rt.enter();
            AppClient::new(&settings.url, settings.ca_pem.as_deref()).map_err(|e| {
                CliError::config(format!("the cloud's CA certificate cannot be used: {e}"), "check --ca / ca_cert")
            })?
        };
        let client = match &settings.api_key {
            Some(k) => client.with_key(k),
            None => client,
        };
        Ok(Cloud { rt, client, settings, retries: 3 })
    }

    /// The settings.
    pub fn settings(&self) -> &CloudSettings {
        &self.settings
    }

    fn need_key(&self) -> Result<(), CliError> {
        if self.settings.api_key.is_none() {
            return Err(CliError::config(
                "no API key",
                "create a user with `zpair user create` (saves the key to the config), or set ZPAIR_API_KEY / --api-key",
            ));
        }
        Ok(())
    }

    /// Runs a call, retrying an unreachable cloud (and rate limits) with backoff.
    fn call<T, F, Fut>(&self, what: &str, f: F) -> Result<T, CliError>
    where
        F: Fn(AppClient) -> Fut,
        Fut: std::future::Future<Output = Result<T, AppApiError>>,
    {
        let mut delay = Duration::from_millis(250);
        let mut attempt = 0;
        loop {
            match self.rt.block_on(f(self.client.clone())) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let transient = e.status == 0 || e.pair_error() == Some(PairError::RateLimited);
                    if transient && attempt < self.retries && e.pair_error() != Some(PairError::CloudCertificate) {
                        attempt += 1;
                        let wait = e.body.retry_after_s.map_or(delay, |s| Duration::from_secs(s.into()).min(Duration::from_secs(5)));
                        std::thread::sleep(wait);
                        delay = (delay * 2).min(Duration::from_secs(4));
                        continue;
                    }
                    return Err(api_error(&e, what, &self.settings.url));
                }
            }
        }
    }

    /// `POST /v1/tokens`: a single-use activation token (restricted to `product` if given).
    pub fn request_token(&self, product: Option<ProductId>) -> Result<Token, CliError> {
        self.need_key()?;
        let region = self.settings.region.clone();
        let resp = self.call("requesting an activation token", |c| {
            let region = region.clone();
            async move { c.request_token(&region, product.map(|p| p.0)).await }
        })?;
        let text = Zeroizing::new(resp.token.clone());
        let mut resp = resp;
        {
            use zeroize::Zeroize;
            resp.token.zeroize();
        }
        let token = ActivationToken::new(text.as_bytes())
            .map_err(|e| CliError::pair(e, "the cloud issued a token this device cannot take"))?;
        Ok(Token { token, token_id: resp.token_id.clone(), expires_in_s: resp.expires_in_s })
    }

    /// `GET /v1/devices`.
    pub fn devices(&self) -> Result<Vec<DeviceView>, CliError> {
        self.need_key()?;
        self.call("listing devices", |c| async move { c.devices().await })
    }

    /// One device of the user's list.
    pub fn device(&self, id: DeviceId) -> Result<Option<DeviceView>, CliError> {
        let want = id.to_string();
        Ok(self.devices()?.into_iter().find(|d| d.device_id == want))
    }

    /// `POST /v1/bind` with a scanned payload.
    pub fn bind_payload(&self, payload: &str) -> Result<BindResponse, CliError> {
        self.need_key()?;
        let p = Zeroizing::new(payload.to_owned());
        self.call("binding the device", |c| {
            let p = p.clone();
            async move { c.bind_payload(&p).await }
        })
    }

    /// `DELETE /v1/devices/{id}`.
    pub fn unbind(&self, id: DeviceId) -> Result<(), CliError> {
        self.need_key()?;
        self.call("unbinding the device", |c| async move { c.unbind(id).await })
    }

    /// `POST /v1/devices/{id}/factory-reset`.
    pub fn factory_reset(&self, id: DeviceId) -> Result<(), CliError> {
        self.need_key()?;
        self.call("releasing the device for a factory reset", |c| async move { c.factory_reset(id).await })
    }

    /// `POST /v1/users`: the new user's id and API key.
    pub fn create_user(&self, name: &str) -> Result<(i64, Zeroizing<String>), CliError> {
        let name = name.to_owned();
        let mut resp = self.call("creating a user", |c| {
            let name = name.clone();
            async move { c.create_user(&name).await }
        })?;
        let key = Zeroizing::new(std::mem::take(&mut resp.api_key));
        Ok((resp.user_id, key))
    }

    /// The endpoint to give devices: the region and this cloud's host and port.
    pub fn endpoint(&self) -> Option<CloudEndpoint> {
        if self.settings.url.starts_with("http://") {
            // Devices speak TLS only: let a device on a plain-HTTP (test) cloud use its default.
            return CloudEndpoint::new(self.settings.region.as_bytes(), None, 0).ok();
        }
        endpoint_of(&self.settings.url, &self.settings.region)
    }

    /// A watch of this device's activation, relative to what the cloud says now. If the
    /// cloud cannot be asked now, an activation counts when it is more recent than a minute
    /// before this call (by this computer's clock).
    pub fn watch(&self, device: DeviceId) -> CloudWatch<'_> {
        let before = match self.device(device) {
            Ok(d) => Baseline::Known(d.and_then(|d| d.activated_at_ms)),
            Err(_) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                Baseline::After(now.saturating_sub(60_000))
            }
        };
        CloudWatch { cloud: self, before, reconnect: None }
    }
}

/// The device endpoint of a cloud URL: `region` + host + port.
pub fn endpoint_of(url: &str, region: &str) -> Option<CloudEndpoint> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let hostport = rest.split('/').next().unwrap_or("");
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, p.parse().ok()?),
        _ => (hostport, if url.starts_with("http://") { 80 } else { 443 }),
    };
    CloudEndpoint::new(region.as_bytes(), Some(host.as_bytes()), port).ok()
}

/// What "activated by this pairing" is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Baseline {
    /// The activation time the cloud had before the pairing.
    Known(Option<u64>),
    /// Unknown: an activation at or after this time (ms since the epoch) counts.
    After(u64),
}

/// A way to reach a device again.
pub type Reconnect<'c> = Box<dyn FnMut() -> Option<Box<dyn crate::link::Link>> + 'c>;

/// "Is the device activated by this pairing?" from the cloud's device list (a change of its
/// activation time), plus an optional way to reach the device again.
pub struct CloudWatch<'c> {
    cloud: &'c Cloud,
    before: Baseline,
    /// How to reach the device again (SoftAP: its AP came back).
    pub reconnect: Option<Reconnect<'c>>,
}

impl Watch for CloudWatch<'_> {
    fn activated(&mut self, device: DeviceId) -> Result<Option<String>, CliError> {
        let d = self.cloud.device(device)?;
        Ok(d.and_then(|d| {
            let new = match self.before {
                Baseline::Known(before) => d.activated_at_ms != before,
                Baseline::After(t) => d.activated_at_ms.is_some_and(|a| a >= t),
            };
            (d.status == DeviceStatus::Activated && new).then(|| d.cloud_device_id.unwrap_or_default())
        }))
    }

    fn reconnect(&mut self) -> Option<Box<dyn crate::link::Link>> {
        self.reconnect.as_mut().and_then(|f| f())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_of_urls() {
        let e = endpoint_of("https://localhost:8443", "eu").unwrap();
        assert_eq!((e.host.as_deref(), e.port), (Some(&b"localhost"[..]), 8443));
        let e = endpoint_of("https://cloud.example/", "us").unwrap();
        assert_eq!((e.host.as_deref(), e.port, e.region), (Some(&b"cloud.example"[..]), 443, *b"us"));
        let e = endpoint_of("http://127.0.0.1:9/x", "eu").unwrap();
        assert_eq!(e.port, 9);
        assert!(endpoint_of("https://localhost:8443", "EU").is_none());
    }

    #[test]
    fn missing_settings_are_config_errors() {
        assert_eq!(Cloud::new(CloudSettings::default()).unwrap_err().exit_code(), 9);
        let c = Cloud::new(CloudSettings { url: "http://127.0.0.1:1".into(), region: "eu".into(), ..Default::default() }).unwrap();
        assert_eq!(c.request_token(None).unwrap_err().exit_code(), 9);
        assert!(!format!("{:?}", c.settings()).contains("zpk"));
    }

    #[test]
    fn an_unreachable_cloud_is_class_7_after_retries() {
        // A port nobody listens on (bound then dropped).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut c = Cloud::new(CloudSettings {
            url: format!("http://127.0.0.1:{port}"),
            region: "eu".into(),
            api_key: Some(Zeroizing::new("zpk_x".into())),
            ..Default::default()
        })
        .unwrap();
        c.retries = 1;
        let e = c.devices().unwrap_err();
        assert_eq!(e.exit_code(), 7, "{e}");
        assert!(e.message.contains(&format!("127.0.0.1:{port}")));
    }
}
