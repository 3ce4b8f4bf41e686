//! The HTTP service: device API (CBOR) and app API (JSON), over TLS by default.

use crate::clock::{Clock, SystemClock};
use crate::crypto::HostCrypto;
use crate::ratelimit::{Limit, RateLimiter};
use crate::sqlite::SqliteStore;
use crate::store::*;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path as UrlPath, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;
use zpair_core::activation::{self as act, ActivationSecret, CloudDeviceId, OperationalSecret};
use zpair_core::error::PairError;
use zpair_core::types::{ActivationToken, CloudEndpoint, DeviceId, ProductId, SetupCode};
use zpair_crypto::Crypto;

/// Rate limits of the service.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Device API requests (challenge, activate, bind-poll) per device.
    pub device: Limit,
    /// Token requests per user.
    pub user_tokens: Limit,
    /// Bind attempts (setup code checks) per user.
    pub user_bind: Limit,
    /// Bind attempts per device (across users: slows setup code guessing).
    pub device_bind: Limit,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            device: Limit::new(30, 60),
            user_tokens: Limit::new(10, 6),
            user_bind: Limit::new(10, 6),
            device_bind: Limit::new(10, 2),
        }
    }
}

/// Configuration of one cloud instance.
#[derive(Clone)]
pub struct Config {
    /// Address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Where the database and TLS material live.
    pub data_dir: PathBuf,
    /// Serve TLS (the default); `false` is plain HTTP (`--insecure-http`, tests only).
    pub tls: bool,
    /// The region this instance serves (two lowercase letters).
    pub region: String,
    /// Host name given to devices in their endpoint (default `localhost`).
    pub public_host: String,
    /// Port given to devices in their endpoint (default: the bound port).
    pub public_port: Option<u16>,
    /// Extra names for the generated server certificate.
    pub extra_cert_names: Vec<String>,
    /// Lifetime of a pairing token.
    pub token_ttl_s: u64,
    /// Lifetime of a challenge nonce.
    pub challenge_ttl_s: u16,
    /// Poll interval suggested to devices whose bind is pending.
    pub poll_retry_s: u16,
    /// Long-poll: a bind-poll with nothing pending waits up to this many seconds for a bind
    /// before answering `Pending` (0: answer at once).
    pub long_poll_s: u16,
    /// Rate limits.
    pub limits: Limits,
    /// Database connections.
    pub pool_size: u32,
    /// The time source.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("tls", &self.tls)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Defaults: TLS, region `eu`, tokens valid 10 minutes, nonces 60 s.
    pub fn new(listen: SocketAddr, data_dir: impl Into<PathBuf>) -> Self {
        Config {
            listen,
            data_dir: data_dir.into(),
            tls: true,
            region: "eu".into(),
            public_host: "localhost".into(),
            public_port: None,
            extra_cert_names: Vec::new(),
            token_ttl_s: 600,
            challenge_ttl_s: 60,
            poll_retry_s: 5,
            long_poll_s: 0,
            limits: Limits::default(),
            pool_size: 8,
            clock: Arc::new(SystemClock),
        }
    }
}

/// Path of the database in a data directory.
pub fn db_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("zpair-cloud.sqlite3")
}

struct AppState {
    store: Arc<SqliteStore>,
    clock: Arc<dyn Clock>,
    region: String,
    endpoint: CloudEndpoint,
    token_ttl_s: u64,
    challenge_ttl_s: u16,
    poll_retry_s: u16,
    long_poll_s: u16,
    /// Bind-polls waiting for a bind, per device.
    waiters: std::sync::Mutex<std::collections::HashMap<DeviceId, Arc<tokio::sync::Notify>>>,
    device_limit: RateLimiter,
    user_tokens_limit: RateLimiter,
    user_bind_limit: RateLimiter,
    device_bind_limit: RateLimiter,
}

type St = State<Arc<AppState>>;

/// The embeddable cloud.
pub struct Cloud;

/// A running cloud.
pub struct CloudHandle {
    addr: SocketAddr,
    tls: bool,
    ca_pem: Option<PathBuf>,
    store: Arc<SqliteStore>,
    handle: axum_server::Handle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl std::fmt::Debug for CloudHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudHandle").field("addr", &self.addr).field("tls", &self.tls).finish_non_exhaustive()
    }
}

impl CloudHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `https://localhost:PORT` (TLS) or `http://IP:PORT`.
    pub fn base_url(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.addr.port())
        } else {
            format!("http://{}", self.addr)
        }
    }
    /// The CA certificate clients must trust (TLS only).
    pub fn ca_pem_path(&self) -> Option<&std::path::Path> {
        self.ca_pem.as_deref()
    }
    /// The store (for tools and tests).
    pub fn store(&self) -> &SqliteStore {
        &self.store
    }
    /// Stops accepting, lets requests in flight finish (up to 5 s) and waits for the server.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.handle.graceful_shutdown(Some(Duration::from_secs(5)));
        self.task.await.map_err(std::io::Error::other)?
    }
    /// Waits until the server stops (it does not stop by itself).
    pub async fn wait(self) -> std::io::Result<()> {
        self.task.await.map_err(std::io::Error::other)?
    }
    /// A handle that can stop the server from elsewhere (e.g. a signal handler).
    pub fn shutdown_trigger(&self) -> axum_server::Handle {
        self.handle.clone()
    }
}

impl Cloud {
    /// Opens (or creates) the data directory, generates TLS material on first start, binds and
    /// serves in the background on the current tokio runtime.
    pub async fn start(config: Config) -> std::io::Result<CloudHandle> {
        std::fs::create_dir_all(&config.data_dir)?;
        let store = Arc::new(
            SqliteStore::open(&db_path(&config.data_dir), config.pool_size).map_err(std::io::Error::other)?,
        );
        let listener = std::net::TcpListener::bind(config.listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let region = config.region.clone();
        let endpoint = CloudEndpoint::new(
            region.as_bytes(),
            Some(config.public_host.as_bytes()),
            config.public_port.unwrap_or(addr.port()),
        )
        .map_err(|e| std::io::Error::other(format!("bad region or public host: {}", e.name())))?;
        let state = Arc::new(AppState {
            store: store.clone(),
            clock: config.clock.clone(),
            region,
            endpoint,
            token_ttl_s: config.token_ttl_s,
            challenge_ttl_s: config.challenge_ttl_s,
            poll_retry_s: config.poll_retry_s,
            long_poll_s: config.long_poll_s,
            waiters: Default::default(),
            device_limit: RateLimiter::new(config.limits.device),
            user_tokens_limit: RateLimiter::new(config.limits.user_tokens),
            user_bind_limit: RateLimiter::new(config.limits.user_bind),
            device_bind_limit: RateLimiter::new(config.limits.device_bind),
        });
        let app = router(state);
        let handle = axum_server::Handle::new();
        let (task, ca_pem) = if config.tls {
            let files = crate::tls::ensure_certificates(&config.data_dir, &config.extra_cert_names)?;
            let tls = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(crate::tls::server_config(&files)?));
            let server = axum_server::from_tcp_rustls(listener, tls).handle(handle.clone());
            (tokio::spawn(server.serve(app.into_make_service())), Some(files.ca_cert))
        } else {
            let server = axum_server::from_tcp(listener).handle(handle.clone());
            (tokio::spawn(server.serve(app.into_make_service())), None)
        };
        tracing::info!(%addr, tls = config.tls, region = %config.region, "zpair cloud listening");
        Ok(CloudHandle { addr, tls: config.tls, ca_pem, store, handle, task })
    }
}

fn router(state: Arc<AppState>) -> Router {
    let device = Router::new()
        .route(act::PATH_CHALLENGE, post(challenge))
        .route(act::PATH_ACTIVATE, post(activate))
        .route(act::PATH_BIND_POLL, post(bind_poll))
        .layer(DefaultBodyLimit::max(1024));
    let app = Router::new()
        .route("/v1/health", get(|| async { "ok" }))
        .route("/v1/users", post(create_user))
        .route("/v1/tokens", post(create_token))
        .route("/v1/bind", post(bind))
        .route("/v1/devices", get(list_devices))
        .route("/v1/devices/{id}", delete(unbind))
        .route("/v1/devices/{id}/factory-reset", post(factory_reset))
        .layer(DefaultBodyLimit::max(16 * 1024));
    device.merge(app).with_state(state)
}

/// SHA-256 of a token or API key.
pub fn secret_hash(text: &str) -> [u8; 32] {
    HostCrypto.sha256(&[text.as_bytes()])
}

/// The loggable id of a token: the first 8 hex digits of its SHA-256.
pub fn token_id(hash: &[u8; 32]) -> String {
    hex::encode(&hash[..4])
}

/// The HTTP status of a refusal.
pub fn status_of(e: PairError) -> StatusCode {
    match e {
        PairError::TokenUnknown | PairError::DeviceUnknown => StatusCode::NOT_FOUND,
        PairError::TokenExpired => StatusCode::GONE,
        PairError::TokenUsed => StatusCode::CONFLICT,
        PairError::TokenMismatch | PairError::ProductMismatch | PairError::WrongSetupCode | PairError::CloudRejected => {
            StatusCode::FORBIDDEN
        }
        PairError::DeviceAuthFailed => StatusCode::UNAUTHORIZED,
        PairError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        PairError::Internal | PairError::StorageFailed => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn retry_header(h: &mut HeaderMap, retry: Option<u16>) {
    if let Some(r) = retry {
        h.insert(header::RETRY_AFTER, HeaderValue::from(r));
    }
}

// ------------------------------------------------------------------------------------------
// Device API
// ------------------------------------------------------------------------------------------

/// A refused device API request: status + CBOR [`act::ErrorResponse`].
struct DeviceError(PairError, Option<u16>);

impl From<PairError> for DeviceError {
    fn from(e: PairError) -> Self {
        DeviceError(e, None)
    }
}

impl From<StoreError> for DeviceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused(p) => DeviceError(p, None),
            StoreError::NotFound => DeviceError(PairError::DeviceUnknown, None),
            StoreError::Backend(m) => {
                tracing::error!(error = %m, "store failure");
                DeviceError(PairError::Internal, None)
            }
        }
    }
}

impl IntoResponse for DeviceError {
    fn into_response(self) -> Response {
        let body = act::ErrorResponse { error: self.0, retry_after_s: self.1 };
        let mut buf = [0u8; act::MAX_MESSAGE_LEN];
        let n = body.encode(&mut buf).unwrap_or(0);
        let mut resp = (status_of(self.0), buf[..n].to_vec()).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(act::CONTENT_TYPE));
        retry_header(resp.headers_mut(), self.1);
        resp
    }
}

fn cbor_ok(encode: impl FnOnce(&mut [u8]) -> Result<usize, zpair_core::error::WireError>) -> Response {
    let mut buf = [0u8; act::MAX_MESSAGE_LEN];
    match encode(&mut buf) {
        Ok(n) => ([(header::CONTENT_TYPE, act::CONTENT_TYPE)], buf[..n].to_vec()).into_response(),
        Err(_) => DeviceError(PairError::Internal, None).into_response(),
    }
}

fn check_cbor(headers: &HeaderMap) -> Result<(), DeviceError> {
    match headers.get(header::CONTENT_TYPE) {
        Some(v) if v.as_bytes() != act::CONTENT_TYPE.as_bytes() => Err(PairError::MalformedMessage.into()),
        _ => Ok(()),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Backend(e.to_string()))?
}

impl AppState {
    fn now(&self) -> u64 {
        self.clock.now_ms()
    }
    fn waiter(&self, device: DeviceId) -> Arc<tokio::sync::Notify> {
        let mut w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        w.entry(device).or_default().clone()
    }
    /// Drops the device's entry when no poll waits on it any more.
    fn forget_waiter(&self, device: DeviceId) {
        let mut w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        if w.get(&device).is_some_and(|n| Arc::strong_count(n) == 1) {
            w.remove(&device);
        }
    }
    fn wake_pollers(&self, device: DeviceId) {
        let w = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = w.get(&device) {
            n.notify_waiters();
        }
    }
    fn limit_device(&self, device: DeviceId) -> Result<(), DeviceError> {
        self.device_limit.check(&format!("dev:{device}"), self.now()).map_err(|r| {
            tracing::warn!(device = %device, retry_after_s = r, "device rate limited");
            DeviceError(PairError::RateLimited, Some(r))
        })
    }
    async fn device(&self, id: DeviceId) -> Result<DeviceRecord, DeviceError> {
        let store = self.store.clone();
        blocking(move || store.device(id)).await?.ok_or_else(|| {
            tracing::info!(device = %id, "unknown device");
            DeviceError(PairError::DeviceUnknown, None)
        })
    }
}

async fn challenge(State(s): St, headers: HeaderMap, body: Bytes) -> Result<Response, DeviceError> {
    check_cbor(&headers)?;
    let req = act::ChallengeRequest::decode(&body).map_err(|e| DeviceError(e.into(), None))?;
    s.limit_device(req.device)?;
    s.device(req.device).await?;
    let mut nonce = [0u8; act::NONCE_LEN];
    HostCrypto.fill_random(&mut nonce).map_err(|_| PairError::Internal)?;
    let now = s.now();
    let expires = now + u64::from(s.challenge_ttl_s) * 1000;
    let store = s.store.clone();
    let device = req.device;
    blocking(move || store.put_challenge(device, &nonce, expires, now)).await?;
    tracing::debug!(device = %device, "challenge issued");
    let valid_s = s.challenge_ttl_s;
    Ok(cbor_ok(|b| act::ChallengeResponse { nonce, valid_s }.encode(b)))
}

fn mode_name(m: zpair_core::types::Mode) -> &'static str {
    m.name()
}

async fn activate(State(s): St, headers: HeaderMap, body: Bytes) -> Result<Response, DeviceError> {
    check_cbor(&headers)?;
    let req = act::ActivateRequest::decode(&body).map_err(|e| DeviceError(e.into(), None))?;
    let device = req.device;
    s.limit_device(device)?;
    let rec = s.device(device).await?;
    let secret = ActivationSecret::new(rec.identity.activation_secret);
    if req.verify(&mut HostCrypto, &secret).is_err() {
        tracing::warn!(device = %device, "activation proof refused");
        return Err(PairError::DeviceAuthFailed.into());
    }
    if rec.identity.product_id != req.product {
        tracing::warn!(device = %device, claimed = req.product.0, registered = rec.identity.product_id.0, "product mismatch");
        return Err(PairError::ProductMismatch.into());
    }
    let token_hash = HostCrypto.sha256(&[req.token.expose()]);
    let mut raw = Zeroizing::new([0u8; 32]);
    HostCrypto.fill_random(&mut raw[..]).map_err(|_| PairError::Internal)?;
    let op = OperationalSecret::new(*raw);
    let cloud_id = CloudDeviceId::new(&format!("zp-{device}")).map_err(|_| PairError::Internal)?;
    // Sealed before the commit, so nothing can fail after the state changed.
    let resp = act::ActivateResponse::new_sealed(
        &mut HostCrypto,
        &secret,
        &req.nonce,
        device,
        cloud_id.clone(),
        s.endpoint.clone(),
        &op,
    )
    .map_err(|_| PairError::Internal)?;
    let (major, minor, patch) = req.fw_version;
    let a = Activation {
        device,
        product: req.product,
        nonce: req.nonce,
        token_hash,
        region: s.region.clone(),
        cloud_device_id: cloud_id.as_str().to_owned(),
        operational_secret: *op.expose(),
        fw_version: format!("{major}.{minor}.{patch}"),
        mode: mode_name(req.mode).to_owned(),
        now_ms: s.now(),
    };
    let store = s.store.clone();
    match blocking(move || store.activate(&a)).await {
        Ok(owner) => {
            tracing::info!(device = %device, user = owner, token = %token_id(&token_hash), mode = req.mode.name(),
                fw = %format!("{major}.{minor}.{patch}"), "device activated");
            Ok(cbor_ok(|b| resp.encode(b)))
        }
        Err(e) => {
            let e = DeviceError::from(e);
            tracing::warn!(device = %device, token = %token_id(&token_hash), error = e.0.name(), "activation refused");
            Err(e)
        }
    }
}

async fn bind_poll(State(s): St, headers: HeaderMap, body: Bytes) -> Result<Response, DeviceError> {
    check_cbor(&headers)?;
    let req = act::BindPollRequest::decode(&body).map_err(|e| DeviceError(e.into(), None))?;
    let device = req.device;
    s.limit_device(device)?;
    let rec = s.device(device).await?;
    let secret = ActivationSecret::new(rec.identity.activation_secret);
    if req.verify(&mut HostCrypto, &secret).is_err() {
        tracing::warn!(device = %device, "bind-poll proof refused");
        return Err(PairError::DeviceAuthFailed.into());
    }
    let now = s.now();
    let store = s.store.clone();
    let nonce = req.nonce;
    let refused = |e: StoreError| {
        let e = DeviceError::from(e);
        tracing::warn!(device = %device, error = e.0.name(), "bind-poll refused");
        e
    };
    let pending = {
        // Registered before the first look, so a bind in between is not missed.
        let waiter = (s.long_poll_s > 0).then(|| s.waiter(device));
        let notified = waiter.as_ref().map(|w| w.notified());
        tokio::pin!(notified);
        if let Some(n) = notified.as_mut().as_pin_mut() {
            n.enable();
        }
        let mut found = blocking(move || {
            store.consume_challenge(device, &nonce, now)?;
            store.pending_binding(device, now)
        })
        .await
        .map_err(refused)?;
        if found.is_none() {
            if let Some(n) = notified.as_pin_mut() {
                if tokio::time::timeout(Duration::from_secs(s.long_poll_s.into()), n).await.is_ok() {
                    let store = s.store.clone();
                    let now = s.now();
                    found = blocking(move || store.pending_binding(device, now)).await.map_err(refused)?;
                }
            }
        }
        found
    };
    s.forget_waiter(device);
    match pending {
        Some(p) => {
            let token = ActivationToken::new(p.token.as_bytes()).map_err(|_| PairError::Internal)?;
            let endpoint = s.endpoint.clone();
            tracing::info!(device = %device, token = %token_id(&secret_hash(&p.token)), "bind delivered to device");
            Ok(cbor_ok(|b| act::BindPollResponse::Bound { token, endpoint }.encode(b)))
        }
        None => {
            tracing::debug!(device = %device, "bind pending");
            let retry_after_s = s.poll_retry_s;
            Ok(cbor_ok(|b| act::BindPollResponse::Pending { retry_after_s }.encode(b)))
        }
    }
}

// ------------------------------------------------------------------------------------------
// App API
// ------------------------------------------------------------------------------------------

/// A JSON error body: `{"error": name, "code": u8 | null, "hint": text}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApiErrorBody {
    /// `PairError::name`, or `unauthorized` / `bad_request` / `not_found` / `internal`.
    pub error: String,
    /// The `PairError` wire code, when the refusal is one.
    pub code: Option<u8>,
    /// A sentence for a person.
    pub hint: String,
    /// Seconds to wait (rate limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<u16>,
}

/// A refused app API request.
enum ApiError {
    Pair(PairError, Option<u16>),
    Unauthorized,
    BadRequest(String),
    NotFound,
    Internal,
}

impl From<PairError> for ApiError {
    fn from(e: PairError) -> Self {
        ApiError::Pair(e, None)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused(p) => ApiError::Pair(p, None),
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Backend(m) => {
                tracing::error!(error = %m, "store failure");
                ApiError::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            ApiError::Pair(e, retry) => (
                status_of(e),
                ApiErrorBody { error: e.name().into(), code: Some(e.code()), hint: e.hint().into(), retry_after_s: retry },
            ),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                ApiErrorBody { error: "unauthorized".into(), code: None, hint: "missing or unknown API key".into(), retry_after_s: None },
            ),
            ApiError::BadRequest(m) => (
                StatusCode::BAD_REQUEST,
                ApiErrorBody { error: "bad_request".into(), code: None, hint: m, retry_after_s: None },
            ),
            ApiError::NotFound => (
                StatusCode::NOT_FOUND,
                ApiErrorBody { error: "not_found".into(), code: None, hint: "no such device on this account".into(), retry_after_s: None },
            ),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                ApiErrorBody { error: "internal".into(), code: None, hint: "internal error".into(), retry_after_s: None },
            ),
        };
        let retry = body.retry_after_s;
        let mut resp = (status, Json(body)).into_response();
        retry_header(resp.headers_mut(), retry);
        resp
    }
}

/// The authenticated user of an app API request (`Authorization: Bearer <api key>`).
struct AuthUser(User);

impl FromRequestParts<Arc<AppState>> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &Arc<AppState>) -> Result<Self, ApiError> {
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?;
        let hash = secret_hash(key.trim());
        let store = s.store.clone();
        let user = blocking(move || store.user_by_key(&hash)).await?;
        user.map(AuthUser).ok_or_else(|| {
            tracing::warn!(key = %token_id(&hash), "unknown API key");
            ApiError::Unauthorized
        })
    }
}

/// JSON body extractor whose rejection is an [`ApiError`].
struct JsonBody<T>(T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

fn random_text(len: usize, prefix: &str) -> Result<Zeroizing<String>, ApiError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = Zeroizing::new(String::with_capacity(prefix.len() + len));
    out.push_str(prefix);
    while out.len() < prefix.len() + len {
        let mut b = [0u8; 32];
        HostCrypto.fill_random(&mut b).map_err(|_| ApiError::Internal)?;
        // 248 = 4 * 62: rejection sampling keeps the characters uniform.
        for &x in b.iter().filter(|&&x| x < 248) {
            if out.len() < prefix.len() + len {
                out.push(ALPHABET[usize::from(x % 62)] as char);
            }
        }
    }
    Ok(out)
}

/// `POST /v1/users` request.
#[derive(Debug, Deserialize, Serialize, Default)]
pub struct CreateUserRequest {
    /// Display name.
    #[serde(default)]
    pub name: String,
}

/// `POST /v1/users` response: the API key is shown once and stored only as its SHA-256.
#[derive(Deserialize, Serialize)]
pub struct CreateUserResponse {
    /// The new user's id.
    pub user_id: i64,
    /// The API key (`zpk_` + 43 characters).
    pub api_key: String,
}

async fn create_user(State(s): St, JsonBody(req): JsonBody<CreateUserRequest>) -> Result<Response, ApiError> {
    if req.name.len() > 128 {
        return Err(ApiError::BadRequest("name longer than 128 bytes".into()));
    }
    let key = random_text(43, "zpk_")?;
    let hash = secret_hash(&key);
    let now = s.now();
    let store = s.store.clone();
    let name = req.name.clone();
    let id = blocking(move || store.create_user(&name, &hash, now)).await?;
    tracing::info!(user = id, key = %token_id(&hash), "user created");
    Ok((StatusCode::CREATED, Json(CreateUserResponse { user_id: id, api_key: key.to_string() })).into_response())
}

/// `POST /v1/tokens` request.
#[derive(Debug, Deserialize, Serialize)]
pub struct TokenRequest {
    /// Two lowercase letters.
    pub region: String,
    /// Restrict the token to devices of this product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<u32>,
}

/// `POST /v1/tokens` response.
#[derive(Deserialize, Serialize)]
pub struct TokenResponse {
    /// The single-use token (16 characters `[A-Za-z0-9]`): give it to the device.
    pub token: String,
    /// Its loggable id (hash prefix).
    pub token_id: String,
    /// Region.
    pub region: String,
    /// Expiry, ms since the epoch.
    pub expires_at_ms: u64,
    /// Lifetime in seconds.
    pub expires_in_s: u64,
}

async fn create_token(State(s): St, AuthUser(user): AuthUser, JsonBody(req): JsonBody<TokenRequest>) -> Result<Response, ApiError> {
    if CloudEndpoint::new(req.region.as_bytes(), None, 0).is_err() {
        return Err(PairError::InvalidEndpoint.into());
    }
    s.user_tokens_limit.check(&format!("user:{}", user.id), s.now()).map_err(|r| {
        tracing::warn!(user = user.id, retry_after_s = r, "token requests rate limited");
        ApiError::Pair(PairError::RateLimited, Some(r))
    })?;
    let token = random_text(16, "")?;
    let hash = secret_hash(&token);
    let now = s.now();
    let rec = NewToken {
        hash,
        user: user.id,
        region: req.region.clone(),
        product: req.product_id.map(ProductId),
        device: None,
        created_ms: now,
        expires_ms: now + s.token_ttl_s * 1000,
    };
    let store = s.store.clone();
    let expires = rec.expires_ms;
    blocking(move || store.create_token(&rec)).await?;
    tracing::info!(user = user.id, token = %token_id(&hash), region = %req.region, "token issued");
    Ok((
        StatusCode::CREATED,
        Json(TokenResponse {
            token: token.to_string(),
            token_id: token_id(&hash),
            region: req.region,
            expires_at_ms: expires,
            expires_in_s: s.token_ttl_s,
        }),
    )
        .into_response())
}

/// `POST /v1/bind` request: the scanned QR payload, or the device id and setup code typed in.
#[derive(Deserialize, Serialize, Default)]
pub struct BindRequest {
    /// The setup payload string (`ZP:...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// Device id (16 hex digits), with `setup_code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Setup code (8 digits), with `device_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_code: Option<String>,
}

/// `POST /v1/bind` response.
#[derive(Debug, Deserialize, Serialize)]
pub struct BindResponse {
    /// The bound device.
    pub device_id: String,
    /// The id of the token queued for the device's bind-poll.
    pub token_id: String,
    /// How long the device has to fetch and use it.
    pub expires_in_s: u64,
}

/// Device, setup code and (from a payload) product of a bind request.
fn bind_target(req: &BindRequest) -> Result<(DeviceId, SetupCode, Option<ProductId>), ApiError> {
    if let Some(p) = &req.payload {
        return parse_payload(p);
    }
    let (Some(id), Some(code)) = (&req.device_id, &req.setup_code) else {
        return Err(ApiError::BadRequest("give `payload`, or `device_id` and `setup_code`".into()));
    };
    let id = id.trim();
    let device = (id.len() == 16)
        .then(|| u64::from_str_radix(id, 16).ok())
        .flatten()
        .ok_or_else(|| ApiError::BadRequest("device_id must be 16 hex digits".into()))?;
    let code: u32 = code.trim().parse().map_err(|_| ApiError::Pair(PairError::WrongSetupCode, None))?;
    Ok((DeviceId(device), SetupCode::new(code)?, None))
}

/// Parses a scanned setup payload: a malformed one is `malformed_message` (or the precise
/// error the payload module names, e.g. `wrong_setup_code` for an invalid code).
fn parse_payload(p: &str) -> Result<(DeviceId, SetupCode, Option<ProductId>), ApiError> {
    let payload = zpair_core::payload::parse(p.trim()).map_err(|e| ApiError::Pair(PairError::from(e), None))?;
    Ok((payload.device, payload.setup_code.clone(), Some(payload.product)))
}

async fn bind(State(s): St, AuthUser(user): AuthUser, JsonBody(req): JsonBody<BindRequest>) -> Result<Response, ApiError> {
    let (device, code, product) = bind_target(&req)?;
    let now = s.now();
    s.user_bind_limit
        .check(&format!("user:{}", user.id), now)
        .and_then(|()| s.device_bind_limit.check(&format!("dev:{device}"), now))
        .map_err(|r| {
            tracing::warn!(user = user.id, device = %device, retry_after_s = r, "bind rate limited");
            ApiError::Pair(PairError::RateLimited, Some(r))
        })?;
    let store = s.store.clone();
    let rec = blocking(move || store.device(device)).await?.ok_or(ApiError::Pair(PairError::DeviceUnknown, None))?;
    if product.is_some_and(|p| p != rec.identity.product_id) {
        tracing::warn!(user = user.id, device = %device, "bind refused: payload names another product");
        return Err(PairError::ProductMismatch.into());
    }
    // Recompute L from the code (PBKDF2: off the async threads) and compare in constant time.
    let stored_l = rec.identity.l;
    let ok = tokio::task::spawn_blocking(move || {
        crate::manifest::verifier_for_code(&mut HostCrypto, device, &code).map(|(_, l)| bool::from(l.ct_eq(&stored_l)))
    })
    .await
    .map_err(|_| ApiError::Internal)?
    .map_err(|_| ApiError::Internal)?;
    if !ok {
        tracing::warn!(user = user.id, device = %device, "bind refused: wrong setup code");
        return Err(PairError::WrongSetupCode.into());
    }
    if rec.owner.is_some_and(|o| o != user.id) && !rec.factory_reset {
        tracing::warn!(user = user.id, device = %device, "bind refused: device owned by another user");
        return Err(PairError::TokenMismatch.into());
    }
    let token = random_text(16, "")?;
    let hash = secret_hash(&token);
    let binding = NewBinding {
        token,
        record: NewToken {
            hash,
            user: user.id,
            region: s.region.clone(),
            product: Some(rec.identity.product_id),
            device: Some(device),
            created_ms: now,
            expires_ms: now + s.token_ttl_s * 1000,
        },
    };
    let store = s.store.clone();
    blocking(move || store.bind(&binding)).await?;
    tracing::info!(user = user.id, device = %device, token = %token_id(&hash), "device bound, token queued for bind-poll");
    s.wake_pollers(device);
    Ok((
        StatusCode::CREATED,
        Json(BindResponse { device_id: device.to_string(), token_id: token_id(&hash), expires_in_s: s.token_ttl_s }),
    )
        .into_response())
}

/// One device of `GET /v1/devices`.
#[derive(Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct DeviceView {
    /// Factory id, 16 hex digits.
    pub device_id: String,
    /// Product.
    pub product_id: u32,
    /// Cloud id.
    pub cloud_device_id: Option<String>,
    /// `new` or `activated`.
    pub status: DeviceStatus,
    /// Last activation, ms since the epoch.
    pub activated_at_ms: Option<u64>,
    /// Mode of the last activation.
    pub mode: Option<String>,
    /// Firmware at the last activation.
    pub fw_version: Option<String>,
    /// Released for a factory reset.
    pub factory_reset: bool,
}

async fn list_devices(State(s): St, AuthUser(user): AuthUser) -> Result<Json<Vec<DeviceView>>, ApiError> {
    let store = s.store.clone();
    let devices = blocking(move || store.devices_of(user.id)).await?;
    Ok(Json(
        devices
            .into_iter()
            .map(|d| DeviceView {
                device_id: d.identity.device_id.to_string(),
                product_id: d.identity.product_id.0,
                cloud_device_id: d.cloud_device_id.clone(),
                status: d.status,
                activated_at_ms: d.activated_at_ms,
                mode: d.mode.clone(),
                fw_version: d.fw_version.clone(),
                factory_reset: d.factory_reset,
            })
            .collect(),
    ))
}

fn parse_device_path(id: &str) -> Result<DeviceId, ApiError> {
    (id.len() == 16)
        .then(|| u64::from_str_radix(id, 16).ok())
        .flatten()
        .map(DeviceId)
        .ok_or(ApiError::NotFound)
}

async fn unbind(State(s): St, AuthUser(user): AuthUser, UrlPath(id): UrlPath<String>) -> Result<StatusCode, ApiError> {
    let device = parse_device_path(&id)?;
    let store = s.store.clone();
    blocking(move || store.unbind(user.id, device)).await?;
    tracing::info!(user = user.id, device = %device, "device unbound");
    Ok(StatusCode::NO_CONTENT)
}

async fn factory_reset(State(s): St, AuthUser(user): AuthUser, UrlPath(id): UrlPath<String>) -> Result<StatusCode, ApiError> {
    let device = parse_device_path(&id)?;
    let store = s.store.clone();
    blocking(move || store.set_factory_reset(user.id, device)).await?;
    tracing::info!(user = user.id, device = %device, "device released for factory reset");
    Ok(StatusCode::NO_CONTENT)
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token_id", &self.token_id)
            .field("region", &self.region)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CreateUserResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUserResponse").field("user_id", &self.user_id).finish_non_exhaustive()
    }
}
