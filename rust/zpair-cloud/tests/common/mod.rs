//! Shared helpers of the integration tests: a cloud on 127.0.0.1:0 with TLS in a temp dir, a
//! generated batch, and the device side of the protocol.
#![allow(dead_code)]

use std::sync::Arc;
use zpair_cloud::client::{AppClient, DeviceApiError, DeviceClient};
use zpair_cloud::crypto::HostCrypto;
use zpair_cloud::manifest::{generate_batch, write_batch, Batch};
use zpair_cloud::store::{DeviceIdentity, Store};
use zpair_cloud::{Cloud, CloudHandle, Config, Limits, ManualClock};
use zpair_core::activation::*;
use zpair_core::types::{ActivationToken, DeviceId, Mode, ProductId};

pub const PRODUCT: ProductId = ProductId(0x2a);
pub const T0: u64 = 1_700_000_000_000;

/// The device-side crypto provider of the tests: mbedTLS, as on a device. The cloud uses
/// `HostCrypto` (RustCrypto), so every test is also an interoperability test.
pub fn device_crypto() -> zpair_mbedtls::MbedTls<zpair_mbedtls::OsEntropy> {
    zpair_mbedtls::MbedTls::os()
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub clock: ManualClock,
    pub cloud: Option<CloudHandle>,
    pub batch: Batch,
    pub ids: Vec<DeviceIdentity>,
    pub ca_pem: Vec<u8>,
    pub base: String,
}

pub fn config(dir: &std::path::Path, clock: &ManualClock, limits: Limits) -> Config {
    let mut cfg = Config::new("127.0.0.1:0".parse().unwrap(), dir);
    cfg.clock = Arc::new(clock.clone());
    cfg.limits = limits;
    cfg
}

/// Generous limits, so only the rate-limit tests meet them.
pub fn relaxed() -> Limits {
    use zpair_cloud::ratelimit::Limit;
    Limits {
        device: Limit::new(10_000, 10_000),
        user_tokens: Limit::new(10_000, 10_000),
        user_bind: Limit::new(10_000, 10_000),
        device_bind: Limit::new(10_000, 10_000),
    }
}

impl Env {
    pub async fn start(n: usize) -> Env {
        Self::start_with(n, relaxed()).await
    }

    pub async fn start_with(n: usize, limits: Limits) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let cloud = Cloud::start(config(dir.path(), &clock, limits)).await.unwrap();
        let batch = generate_batch(&mut HostCrypto, PRODUCT, n, zpair_core::types::Modes::ALL).unwrap();
        let manifest = write_batch(&batch, &dir.path().join("factory")).unwrap();
        let ids = zpair_cloud::manifest::read_manifest(&manifest).unwrap();
        let report = cloud.store().import_devices(&ids, T0).unwrap();
        assert_eq!(report.added, n);
        let ca_pem = std::fs::read(cloud.ca_pem_path().unwrap()).unwrap();
        let base = cloud.base_url();
        Env { dir, clock, cloud: Some(cloud), batch, ids, ca_pem, base }
    }

    pub fn cloud(&self) -> &CloudHandle {
        self.cloud.as_ref().unwrap()
    }

    pub fn device_client(&self) -> DeviceClient {
        DeviceClient::new(&self.base, Some(&self.ca_pem)).unwrap()
    }

    pub fn app(&self) -> AppClient {
        AppClient::new(&self.base, Some(&self.ca_pem)).unwrap()
    }

    /// A new user's app client.
    pub async fn user(&self, name: &str) -> AppClient {
        let app = self.app();
        let u = app.create_user(name).await.unwrap();
        app.with_key(&u.api_key)
    }

    pub async fn token(&self, user: &AppClient) -> String {
        user.request_token("eu", None).await.unwrap().token
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.cloud().store().query_i64(sql).unwrap()
    }
}

pub fn secret_of(id: &DeviceIdentity) -> ActivationSecret {
    ActivationSecret::new(id.activation_secret)
}

/// Builds a signed activation request (device side).
pub fn activate_request(id: &DeviceIdentity, nonce: Nonce, token: &str, mode: Mode) -> ActivateRequest {
    ActivateRequest::new_signed(
        &mut device_crypto(),
        &secret_of(id),
        id.device_id,
        id.product_id,
        nonce,
        ActivationToken::new(token.as_bytes()).unwrap(),
        (1, 4, 2),
        mode,
    )
}

/// The whole device side of an activation: challenge, activate, open the sealed secret.
pub async fn activate(
    dc: &DeviceClient,
    id: &DeviceIdentity,
    token: &str,
) -> Result<(ActivateResponse, OperationalSecret), DeviceApiError> {
    let ch = dc.challenge(id.device_id).await?;
    let req = activate_request(id, ch.nonce, token, Mode::SoftAp);
    let resp = dc.activate(&req).await?;
    let secret = resp.open(&mut device_crypto(), &secret_of(id), &ch.nonce, id.device_id)?;
    Ok((resp, secret))
}

pub fn err(e: DeviceApiError) -> zpair_core::error::PairError {
    e.error
}

pub fn hexid(d: DeviceId) -> String {
    d.to_string()
}
