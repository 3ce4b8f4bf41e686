//! The device's side of the cloud calls, over any request/response link.
//!
//! The OS provides a [`CloudLink`] (Zephyr: TLS socket + HTTP/1.1; host: an HTTPS client);
//! this module runs the exchanges of [`crate::activation`] on it: challenge, then activation
//! with the factory proof, then opening the sealed operational secret; and the cellular
//! bind-poll. Every refusal comes back as the cloud's precise [`PairError`].

use crate::activation::{
    ActivateRequest, ActivateResponse, ActivationSecret, BindPollRequest, BindPollResponse,
    ChallengeRequest, ChallengeResponse, ErrorResponse, FwVersion, MAX_MESSAGE_LEN,
    PATH_ACTIVATE, PATH_BIND_POLL, PATH_CHALLENGE,
};
use crate::crypto::Crypto;
use crate::error::PairError;
use crate::machine::{CloudName, DeviceSecret, OperationalCredentials};
use crate::types::{ActivationToken, CloudEndpoint, DeviceId, Mode, ProductId};
use zeroize::Zeroize;

/// A request/response link to the activation cloud: one HTTPS `POST` of a CBOR body.
pub trait CloudLink {
    /// Posts `body` (content type [`crate::activation::CONTENT_TYPE`]) to `path` on
    /// `endpoint` (`None` = the device's configured default), writes the response body into
    /// `response` and returns the HTTP status and the body length.
    ///
    /// Transport failures are errors: [`PairError::CloudUnreachable`] (no route, refused,
    /// timeout, DNS) or [`PairError::CloudCertificate`] (TLS verification failed).
    fn post(
        &mut self,
        endpoint: Option<&CloudEndpoint>,
        path: &str,
        body: &[u8],
        response: &mut [u8],
    ) -> Result<(u16, usize), PairError>;
}

impl<L: CloudLink + ?Sized> CloudLink for &mut L {
    fn post(
        &mut self,
        endpoint: Option<&CloudEndpoint>,
        path: &str,
        body: &[u8],
        response: &mut [u8],
    ) -> Result<(u16, usize), PairError> {
        (**self).post(endpoint, path, body, response)
    }
}

/// What the device needs to prove itself to the cloud (from its factory data).
pub struct CloudIdentity<'a> {
    /// The device's product.
    pub product: ProductId,
    /// The device's factory identity.
    pub device: DeviceId,
    /// The factory activation secret.
    pub secret: &'a ActivationSecret,
    /// The running firmware's version.
    pub firmware: FwVersion,
}

/// One exchange: a non-2xx answer is decoded as an [`ErrorResponse`] and returned as its error
/// (an undecodable refusal is [`PairError::CloudRejected`]).
fn exchange<'r, L: CloudLink>(
    link: &mut L,
    endpoint: Option<&CloudEndpoint>,
    path: &str,
    body: &[u8],
    response: &'r mut [u8],
) -> Result<&'r [u8], PairError> {
    let (status, len) = link.post(endpoint, path, body, response)?;
    let bytes = response.get(..len).ok_or(PairError::CloudRejected)?;
    if (200..300).contains(&status) {
        Ok(bytes)
    } else {
        Err(ErrorResponse::decode(bytes).map(|e| e.error).unwrap_or(match status {
            429 => PairError::RateLimited,
            500..=599 => PairError::CloudUnreachable,
            _ => PairError::CloudRejected,
        }))
    }
}

// Out of line (as is `activate`): inlined into the caller they cost 118 B more flash.
#[inline(never)]
fn challenge<L: CloudLink>(
    link: &mut L,
    endpoint: Option<&CloudEndpoint>,
    device: DeviceId,
    buf: &mut [u8; MAX_MESSAGE_LEN],
    response: &mut [u8; MAX_MESSAGE_LEN],
) -> Result<ChallengeResponse, PairError> {
    let n = ChallengeRequest { device }.encode(buf).map_err(|_| PairError::Internal)?;
    let bytes = exchange(link, endpoint, PATH_CHALLENGE, &buf[..n], response)?;
    ChallengeResponse::decode(bytes).map_err(|_| PairError::CloudRejected)
}

/// Activates the device: challenge, then the signed activation request; returns the
/// operational credentials the cloud sealed for this device.
#[inline(never)]
pub fn activate<C: Crypto, L: CloudLink>(
    crypto: &mut C,
    link: &mut L,
    id: &CloudIdentity<'_>,
    token: &ActivationToken,
    endpoint: Option<&CloudEndpoint>,
    mode: Mode,
) -> Result<OperationalCredentials, PairError> {
    let mut buf = [0u8; MAX_MESSAGE_LEN];
    let mut response = [0u8; MAX_MESSAGE_LEN];
    let ch = challenge(link, endpoint, id.device, &mut buf, &mut response)?;
    let request = ActivateRequest::new_signed(
        crypto,
        id.secret,
        id.device,
        id.product,
        ch.nonce,
        token.clone(),
        id.firmware,
        mode,
    );
    let result = (|| {
        let n = request.encode(&mut buf).map_err(|_| PairError::Internal)?;
        let bytes = exchange(link, endpoint, PATH_ACTIVATE, &buf[..n], &mut response)?;
        let answer = ActivateResponse::decode(bytes).map_err(|_| PairError::CloudRejected)?;
        let secret = answer.open(crypto, id.secret, &ch.nonce, id.device)?;
        Ok(OperationalCredentials {
            name: CloudName::new(answer.cloud_device_id.as_str().as_bytes())?,
            secret: DeviceSecret::new(*secret.expose()),
            endpoint: answer.endpoint.clone(),
        })
    })();
    // The request carried the token and the response the sealed secret.
    buf.zeroize();
    response.zeroize();
    result
}

/// Cellular mode: asks the cloud whether the user bound this device (scanned its QR code).
/// `Ok(None)` while pending, with the cloud's suggested delay in seconds.
pub fn bind_poll<C: Crypto, L: CloudLink>(
    crypto: &mut C,
    link: &mut L,
    id: &CloudIdentity<'_>,
    endpoint: Option<&CloudEndpoint>,
) -> Result<BindPoll, PairError> {
    let mut buf = [0u8; MAX_MESSAGE_LEN];
    let mut response = [0u8; MAX_MESSAGE_LEN];
    let ch = challenge(link, endpoint, id.device, &mut buf, &mut response)?;
    let request = BindPollRequest::new_signed(crypto, id.secret, id.device, ch.nonce);
    let result = (|| {
        let n = request.encode(&mut buf).map_err(|_| PairError::Internal)?;
        let bytes = exchange(link, endpoint, PATH_BIND_POLL, &buf[..n], &mut response)?;
        match BindPollResponse::decode(bytes).map_err(|_| PairError::CloudRejected)? {
            BindPollResponse::Pending { retry_after_s } => Ok(BindPoll::Pending { retry_after_s }),
            BindPollResponse::Bound { token, endpoint } => Ok(BindPoll::Bound { token, endpoint }),
        }
    })();
    response.zeroize();
    result
}

/// The answer of [`bind_poll`].
#[derive(Debug)]
pub enum BindPoll {
    /// Not bound yet; ask again after this many seconds.
    Pending {
        /// The cloud's suggested delay.
        retry_after_s: u16,
    },
    /// Bound: activate with this token.
    Bound {
        /// The token (single use).
        token: ActivationToken,
        /// Where to activate.
        endpoint: CloudEndpoint,
    },
}
