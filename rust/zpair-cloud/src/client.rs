//! Clients of the cloud: [`DeviceClient`] (device API, CBOR; what a simulated device uses) and
//! [`AppClient`] (app API, JSON; what the CLI and tests use). Both speak HTTPS trusting exactly
//! the cloud's CA (`ca.pem`), or plain HTTP for an `--insecure-http` cloud.

use crate::server::{
    ApiErrorBody, BindRequest, BindResponse, CreateUserRequest, CreateUserResponse, DeviceView, TokenRequest,
    TokenResponse,
};
use std::time::Duration;
use zpair_core::activation::{
    self as act, ActivateRequest, ActivateResponse, BindPollRequest, BindPollResponse, ChallengeRequest,
    ChallengeResponse, ErrorResponse,
};
use zpair_core::error::{PairError, WireError};
use zpair_core::types::DeviceId;

/// A refused or failed device API call, as the device sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceApiError {
    /// Why. Transport failures are [`PairError::CloudUnreachable`], untrusted certificates
    /// [`PairError::CloudCertificate`], unreadable answers [`PairError::MalformedMessage`].
    pub error: PairError,
    /// Seconds to wait, when the cloud said so.
    pub retry_after_s: Option<u16>,
}

impl std::fmt::Display for DeviceApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)?;
        if let Some(r) = self.retry_after_s {
            write!(f, " (retry after {r} s)")?;
        }
        Ok(())
    }
}

impl std::error::Error for DeviceApiError {}

impl From<PairError> for DeviceApiError {
    fn from(error: PairError) -> Self {
        DeviceApiError { error, retry_after_s: None }
    }
}

fn is_cert_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return matches!(r, rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented);
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

fn http_client(ca_pem: Option<&[u8]>) -> std::io::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(30)).connect_timeout(Duration::from_secs(10));
    if let Some(pem) = ca_pem {
        b = b.use_preconfigured_tls(crate::tls::client_config(pem)?);
    }
    b.build().map_err(std::io::Error::other)
}

/// The device API client.
#[derive(Debug, Clone)]
pub struct DeviceClient {
    http: reqwest::Client,
    base: String,
}

impl DeviceClient {
    /// A client for `base_url` (`https://localhost:8443`), trusting the CA in `ca_pem` (PEM
    /// bytes; `None` only for plain HTTP).
    pub fn new(base_url: &str, ca_pem: Option<&[u8]>) -> std::io::Result<Self> {
        Ok(DeviceClient { http: http_client(ca_pem)?, base: base_url.trim_end_matches('/').to_owned() })
    }

    async fn post(&self, path: &str, body: Vec<u8>) -> Result<Vec<u8>, DeviceApiError> {
        let resp = self
            .http
            .post(format!("{}{}", self.base, path))
            .header(reqwest::header::CONTENT_TYPE, act::CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(transport)?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        match ErrorResponse::decode(&bytes) {
            Ok(e) => Err(DeviceApiError { error: e.error, retry_after_s: e.retry_after_s }),
            Err(_) if status.is_server_error() => Err(PairError::CloudUnreachable.into()),
            Err(_) => Err(PairError::CloudRejected.into()),
        }
    }

    fn encode(f: impl FnOnce(&mut [u8]) -> Result<usize, WireError>) -> Result<Vec<u8>, DeviceApiError> {
        let mut buf = [0u8; act::MAX_MESSAGE_LEN];
        let n = f(&mut buf).map_err(|e| DeviceApiError::from(PairError::from(e)))?;
        Ok(buf[..n].to_vec())
    }

    /// `POST /v1/device/challenge`.
    pub async fn challenge(&self, device: DeviceId) -> Result<ChallengeResponse, DeviceApiError> {
        let body = Self::encode(|b| ChallengeRequest { device }.encode(b))?;
        let resp = self.post(act::PATH_CHALLENGE, body).await?;
        ChallengeResponse::decode(&resp).map_err(|_| PairError::MalformedMessage.into())
    }

    /// `POST /v1/device/activate`.
    pub async fn activate(&self, req: &ActivateRequest) -> Result<ActivateResponse, DeviceApiError> {
        let body = Self::encode(|b| req.encode(b))?;
        let resp = self.post(act::PATH_ACTIVATE, body).await?;
        ActivateResponse::decode(&resp).map_err(|_| PairError::MalformedMessage.into())
    }

    /// `POST /v1/device/bind-poll`.
    pub async fn bind_poll(&self, req: &BindPollRequest) -> Result<BindPollResponse, DeviceApiError> {
        let body = Self::encode(|b| req.encode(b))?;
        let resp = self.post(act::PATH_BIND_POLL, body).await?;
        BindPollResponse::decode(&resp).map_err(|_| PairError::MalformedMessage.into())
    }
}

/// A blocking wrapper of [`DeviceClient`] (owns a small single-threaded runtime), for simulated
/// devices that run on plain threads. Do not call it from inside an async runtime.
#[derive(Debug)]
pub struct BlockingDeviceClient {
    rt: tokio::runtime::Runtime,
    inner: DeviceClient,
}

impl BlockingDeviceClient {
    /// See [`DeviceClient::new`].
    pub fn new(base_url: &str, ca_pem: Option<&[u8]>) -> std::io::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let inner = {
            let _g = rt.enter();
            DeviceClient::new(base_url, ca_pem)?
        };
        Ok(BlockingDeviceClient { rt, inner })
    }
    /// See [`DeviceClient::challenge`].
    pub fn challenge(&self, device: DeviceId) -> Result<ChallengeResponse, DeviceApiError> {
        self.rt.block_on(self.inner.challenge(device))
    }
    /// See [`DeviceClient::activate`].
    pub fn activate(&self, req: &ActivateRequest) -> Result<ActivateResponse, DeviceApiError> {
        self.rt.block_on(self.inner.activate(req))
    }
    /// See [`DeviceClient::bind_poll`].
    pub fn bind_poll(&self, req: &BindPollRequest) -> Result<BindPollResponse, DeviceApiError> {
        self.rt.block_on(self.inner.bind_poll(req))
    }
}

/// A refused app API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppApiError {
    /// HTTP status (0 when the request did not get an answer).
    pub status: u16,
    /// The JSON error body.
    pub body: ApiErrorBody,
}

impl AppApiError {
    /// The `PairError` named by the body, if it is one.
    pub fn pair_error(&self) -> Option<PairError> {
        self.body.code.map(PairError::from_code)
    }
}

impl std::fmt::Display for AppApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}: {} ({})", self.status, self.body.error, self.body.hint)
    }
}

impl std::error::Error for AppApiError {}

/// The app API client.
#[derive(Debug, Clone)]
pub struct AppClient {
    http: reqwest::Client,
    base: String,
    api_key: Option<String>,
}

fn unreachable_err(e: reqwest::Error) -> AppApiError {
    let p = transport(e);
    AppApiError {
        status: 0,
        body: ApiErrorBody { error: p.name().into(), code: Some(p.code()), hint: p.hint().into(), retry_after_s: None },
    }
}

impl AppClient {
    /// A client without an API key (enough for [`AppClient::create_user`]).
    pub fn new(base_url: &str, ca_pem: Option<&[u8]>) -> std::io::Result<Self> {
        Ok(AppClient { http: http_client(ca_pem)?, base: base_url.trim_end_matches('/').to_owned(), api_key: None })
    }

    /// The same client authenticating with `api_key`.
    pub fn with_key(&self, api_key: &str) -> Self {
        AppClient { api_key: Some(api_key.to_owned()), ..self.clone() }
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&impl serde::Serialize>,
    ) -> Result<Option<T>, AppApiError> {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(k) = &self.api_key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(unreachable_err)?;
        let status = resp.status();
        if status == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let bytes = resp.bytes().await.map_err(unreachable_err)?;
        if status.is_success() {
            serde_json::from_slice(&bytes).map(Some).map_err(|e| AppApiError {
                status: status.as_u16(),
                body: ApiErrorBody { error: "bad_response".into(), code: None, hint: e.to_string(), retry_after_s: None },
            })
        } else {
            let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| ApiErrorBody {
                error: "http_error".into(),
                code: None,
                hint: String::from_utf8_lossy(&bytes).into_owned(),
                retry_after_s: None,
            });
            Err(AppApiError { status: status.as_u16(), body })
        }
    }

    fn missing() -> AppApiError {
        AppApiError {
            status: 0,
            body: ApiErrorBody { error: "bad_response".into(), code: None, hint: "empty response".into(), retry_after_s: None },
        }
    }

    /// `POST /v1/users`.
    pub async fn create_user(&self, name: &str) -> Result<CreateUserResponse, AppApiError> {
        self.call(reqwest::Method::POST, "/v1/users", Some(&CreateUserRequest { name: name.into() }))
            .await?
            .ok_or_else(Self::missing)
    }

    /// `POST /v1/tokens`.
    pub async fn request_token(&self, region: &str, product_id: Option<u32>) -> Result<TokenResponse, AppApiError> {
        let req = TokenRequest { region: region.into(), product_id };
        self.call(reqwest::Method::POST, "/v1/tokens", Some(&req)).await?.ok_or_else(Self::missing)
    }

    /// `POST /v1/bind` with a scanned setup payload.
    pub async fn bind_payload(&self, payload: &str) -> Result<BindResponse, AppApiError> {
        let req = BindRequest { payload: Some(payload.into()), ..Default::default() };
        self.call(reqwest::Method::POST, "/v1/bind", Some(&req)).await?.ok_or_else(Self::missing)
    }

    /// `POST /v1/bind` with a device id and setup code.
    pub async fn bind_code(&self, device: DeviceId, setup_code: &str) -> Result<BindResponse, AppApiError> {
        let req = BindRequest { payload: None, device_id: Some(device.to_string()), setup_code: Some(setup_code.into()) };
        self.call(reqwest::Method::POST, "/v1/bind", Some(&req)).await?.ok_or_else(Self::missing)
    }

    /// `GET /v1/devices`.
    pub async fn devices(&self) -> Result<Vec<DeviceView>, AppApiError> {
        self.call(reqwest::Method::GET, "/v1/devices", None::<&()>).await?.ok_or_else(Self::missing)
    }

    /// `DELETE /v1/devices/{id}`.
    pub async fn unbind(&self, device: DeviceId) -> Result<(), AppApiError> {
        self.call::<()>(reqwest::Method::DELETE, &format!("/v1/devices/{device}"), None::<&()>).await.map(|_| ())
    }

    /// `POST /v1/devices/{id}/factory-reset`.
    pub async fn factory_reset(&self, device: DeviceId) -> Result<(), AppApiError> {
        self.call::<()>(reqwest::Method::POST, &format!("/v1/devices/{device}/factory-reset"), None::<&()>)
            .await
            .map(|_| ())
    }
}
