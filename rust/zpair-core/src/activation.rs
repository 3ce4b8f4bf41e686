//! The device ↔ cloud activation protocol (device API, CBOR over HTTPS).
//!
//! After a device is paired it activates: it proves its factory identity (the 32-byte
//! *activation secret* flashed at the factory and known to the cloud's registry) and presents the
//! single-use *activation token* the user's app obtained; the cloud answers with the device's
//! cloud identity and a fresh *operational secret*, sealed so that only the device can open it
//! and so that opening it also authenticates the cloud.
//!
//! # Endpoints
//!
//! All requests are `POST` with content type [`CONTENT_TYPE`] (`application/cbor`) over TLS:
//!
//! | path | request | success (HTTP 200) |
//! |---|---|---|
//! | [`PATH_CHALLENGE`] `/v1/device/challenge` | [`ChallengeRequest`] | [`ChallengeResponse`] |
//! | [`PATH_ACTIVATE`] `/v1/device/activate` | [`ActivateRequest`] | [`ActivateResponse`] |
//! | [`PATH_BIND_POLL`] `/v1/device/bind-poll` | [`BindPollRequest`] | [`BindPollResponse`] |
//!
//! Every refusal is an HTTP 4xx/5xx status with an [`ErrorResponse`] body naming the precise
//! [`PairError`].
//!
//! # Flows
//!
//! Activation: `challenge` (the cloud returns a fresh 16-byte nonce, valid `valid_s` seconds,
//! single use) then `activate` with that nonce, the token and [`activation_proof`].
//!
//! Cellular bind: the user scans the device's QR code and the cloud binds the device to the user;
//! the device, meanwhile, polls: `challenge` then `bind-poll` with [`poll_proof`] until the answer
//! is [`BindPollResponse::Bound`], which carries the token (protected by TLS); then it activates
//! as above with a new challenge.
//!
//! # Encoding
//!
//! Every message is one CBOR map (definite length) with small unsigned integer keys; integers
//! are CBOR unsigned integers, byte strings are CBOR byte strings, text is CBOR text. Decoders
//! reject input longer than [`MAX_MESSAGE_LEN`], indefinite-length maps, duplicate keys, missing
//! required keys, wrong types and lengths, and trailing bytes. Unknown keys are skipped (so a
//! newer peer can add optional fields), but their values must keep to the same strict CBOR
//! subset as the app messages (definite lengths, no tags, no floats, nesting bounded: see
//! [`crate::msg`]): a device links one CBOR reader for both. The layouts are documented on each
//! message.
//!
//! # Crypto
//!
//! All multi-byte integers inside MAC and AAD inputs are big endian. `||` is concatenation.
//!
//! ```text
//! activation proof = HMAC-SHA256(activation_secret,
//!     "zpair/1 activate" || nonce(16) || device_id(8) || product_id(4)
//!     || token_len(1) || token || fw_major(1) || fw_minor(1) || fw_patch(2) || mode(1))
//! poll proof = HMAC-SHA256(activation_secret, "zpair/1 poll" || nonce(16) || device_id(8))
//!
//! okm(29) = HKDF-SHA256(salt = nonce(16), ikm = activation_secret,
//!                       info = "zpair/1 opcreds" || device_id(8))
//! key = okm[0..16], ccm_nonce = okm[16..29]
//! aad = "zpair/1 opcreds" || device_id(8) || cloud_id_len(1) || cloud_device_id
//!       || region(2) || host_len(1) || host (empty when absent) || port(2)
//! (sealed(32), tag(16)) = AES-128-CCM(key, ccm_nonce, aad, operational_secret(32))
//! ```
//!
//! `mode` is the one-bit [`Modes`](crate::types::Modes) value of the mode
//! (`softap` 1, `ble` 2, `wired` 4, `cellular` 8). The nonce is single use at the cloud, so the
//! sealing key and CCM nonce are never reused. Because the cloud's identity and endpoint are in
//! the AAD, a device that opens the secret knows they came from the cloud that holds its
//! activation secret.

use crate::error::{PairError, WireError};
use crate::types::{ActivationToken, CloudEndpoint, DeviceId, Mode, Modes, ProductId};
use crate::msg::cbor::{Reader, Writer};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};
use zpair_crypto::{Crypto, CryptoError, AES128_KEY_LEN, CCM_NONCE_LEN, CCM_TAG_LEN};

/// Path of the challenge request.
pub const PATH_CHALLENGE: &str = "/v1/device/challenge";
/// Path of the activation request.
pub const PATH_ACTIVATE: &str = "/v1/device/activate";
/// Path of the bind-poll request (cellular mode).
pub const PATH_BIND_POLL: &str = "/v1/device/bind-poll";
/// Content type of every device API request and response body.
pub const CONTENT_TYPE: &str = "application/cbor";

/// Length of a cloud challenge nonce.
pub const NONCE_LEN: usize = 16;
/// Length of the activation secret and of the operational secret.
pub const SECRET_LEN: usize = 32;
/// Length of an HMAC-SHA256 proof.
pub const PROOF_LEN: usize = 32;
/// Maximum length of a cloud device id.
pub const CLOUD_DEVICE_ID_MAX: usize = 32;
/// No device API message is longer than this; decoders reject longer input with
/// [`WireError::TooLong`]. Buffers of this size always fit any encoded message.
pub const MAX_MESSAGE_LEN: usize = 192;

/// Domain separation label of the activation proof.
pub const LABEL_ACTIVATE: &[u8] = b"zpair/1 activate";
/// Domain separation label of the bind-poll proof.
pub const LABEL_POLL: &[u8] = b"zpair/1 poll";
/// HKDF info label and AAD prefix of the sealed operational secret.
pub const LABEL_OPCREDS: &[u8] = b"zpair/1 opcreds";

/// A cloud challenge nonce.
pub type Nonce = [u8; NONCE_LEN];

/// The 32-byte factory activation secret shared by a device and the cloud's registry.
/// Wiped on drop; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ActivationSecret([u8; SECRET_LEN]);

impl ActivationSecret {
    /// Wraps raw secret bytes.
    pub const fn new(bytes: [u8; SECRET_LEN]) -> Self {
        ActivationSecret(bytes)
    }
    /// The raw bytes. Handle with care.
    pub fn expose(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }
}

impl core::fmt::Debug for ActivationSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ActivationSecret(<redacted>)")
    }
}

/// The 32-byte operational device secret the cloud issues at activation.
/// Wiped on drop; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct OperationalSecret([u8; SECRET_LEN]);

impl OperationalSecret {
    /// Wraps raw secret bytes.
    pub const fn new(bytes: [u8; SECRET_LEN]) -> Self {
        OperationalSecret(bytes)
    }
    /// The raw bytes. Handle with care.
    pub fn expose(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }
}

impl core::fmt::Debug for OperationalSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("OperationalSecret(<redacted>)")
    }
}

/// The device's identity in the cloud: 1 to 32 visible ASCII characters (`0x21..=0x7e`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CloudDeviceId(heapless::String<CLOUD_DEVICE_ID_MAX>);

impl CloudDeviceId {
    /// Validates and copies an id; [`PairError::CloudRejected`] if it is empty, too long or not
    /// visible ASCII.
    pub fn new(id: &str) -> Result<Self, PairError> {
        let ok = !id.is_empty() && id.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if !ok {
            return Err(PairError::CloudRejected);
        }
        let mut s = heapless::String::new();
        s.push_str(id).map_err(|_| PairError::CloudRejected)?;
        Ok(CloudDeviceId(s))
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Firmware version `(major, minor, patch)` as reported at activation.
pub type FwVersion = (u8, u8, u16);

/// The wire code of a mode: its one-bit [`Modes`] value.
pub const fn mode_code(mode: Mode) -> u8 {
    mode.bit().bits()
}

/// The mode of a wire code, or `None` for anything but a single known bit.
pub const fn mode_from_code(code: u8) -> Option<Mode> {
    match code {
        c if c == Modes::SOFTAP.bits() => Some(Mode::SoftAp),
        c if c == Modes::BLE.bits() => Some(Mode::Ble),
        c if c == Modes::WIRED.bits() => Some(Mode::Wired),
        c if c == Modes::CELLULAR.bits() => Some(Mode::Cellular),
        _ => None,
    }
}

// ------------------------------------------------------------------------------------------
// Crypto
// ------------------------------------------------------------------------------------------

/// The activation proof (see the [module docs](self) for the exact input).
#[allow(clippy::too_many_arguments)]
pub fn activation_proof<C: Crypto>(
    crypto: &mut C,
    secret: &ActivationSecret,
    nonce: &Nonce,
    device: DeviceId,
    product: ProductId,
    token: &ActivationToken,
    fw_version: FwVersion,
    mode: Mode,
) -> [u8; PROOF_LEN] {
    let token = token.expose();
    // TOKEN_MAX is 32, so the length always fits one byte.
    let token_len = [token.len() as u8];
    let (major, minor, patch) = fw_version;
    let patch = patch.to_be_bytes();
    crypto.hmac_sha256(
        &secret.0,
        &[
            LABEL_ACTIVATE,
            nonce,
            &device.0.to_be_bytes(),
            &product.0.to_be_bytes(),
            &token_len,
            token,
            &[major, minor],
            &patch,
            &[mode_code(mode)],
        ],
    )
}

/// The bind-poll proof (see the [module docs](self)).
pub fn poll_proof<C: Crypto>(
    crypto: &mut C,
    secret: &ActivationSecret,
    nonce: &Nonce,
    device: DeviceId,
) -> [u8; PROOF_LEN] {
    crypto.hmac_sha256(&secret.0, &[LABEL_POLL, nonce, &device.0.to_be_bytes()])
}

/// Constant-time comparison of two proofs.
pub fn proofs_equal(a: &[u8; PROOF_LEN], b: &[u8; PROOF_LEN]) -> bool {
    bool::from(a.ct_eq(b))
}

/// An operational secret sealed with AES-128-CCM: 32 bytes of ciphertext and a 16-byte tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// The encrypted operational secret.
    pub ciphertext: [u8; SECRET_LEN],
    /// The CCM tag.
    pub tag: [u8; CCM_TAG_LEN],
}

/// Key and CCM nonce of one activation; wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
struct SealKeys {
    key: [u8; AES128_KEY_LEN],
    nonce: [u8; CCM_NONCE_LEN],
}

fn seal_keys<C: Crypto>(
    crypto: &mut C,
    secret: &ActivationSecret,
    nonce: &Nonce,
    device: DeviceId,
) -> Result<SealKeys, CryptoError> {
    let mut info = [0u8; 15 + 8];
    info[..15].copy_from_slice(LABEL_OPCREDS);
    info[15..].copy_from_slice(&device.0.to_be_bytes());
    let mut okm = [0u8; AES128_KEY_LEN + CCM_NONCE_LEN];
    let r = crypto.hkdf_sha256(nonce, &secret.0, &info, &mut okm);
    let mut keys = SealKeys {
        key: [0; AES128_KEY_LEN],
        nonce: [0; CCM_NONCE_LEN],
    };
    keys.key.copy_from_slice(&okm[..AES128_KEY_LEN]);
    keys.nonce.copy_from_slice(&okm[AES128_KEY_LEN..]);
    okm.zeroize();
    r.map(|()| keys)
}

/// Largest AAD: label 15 + device 8 + 1 + id 32 + region 2 + 1 + host 64 + port 2.
const AAD_MAX: usize = 15 + 8 + 1 + CLOUD_DEVICE_ID_MAX + 2 + 1 + crate::types::HOST_MAX + 2;

/// Builds the AAD into `buf`, returning its length.
fn seal_aad(
    buf: &mut [u8; AAD_MAX],
    device: DeviceId,
    cloud_device_id: &CloudDeviceId,
    endpoint: &CloudEndpoint,
) -> usize {
    let id = cloud_device_id.as_str().as_bytes();
    let host: &[u8] = endpoint.host.as_deref().unwrap_or(&[]);
    let mut w = SliceWriter {
        buf: &mut buf[..],
        pos: 0,
    };
    w.put(LABEL_OPCREDS);
    w.put(&device.0.to_be_bytes());
    // Both lengths are bounded by their types (32 and 64).
    w.put(&[id.len() as u8]);
    w.put(id);
    w.put(&endpoint.region);
    w.put(&[host.len() as u8]);
    w.put(host);
    w.put(&endpoint.port.to_be_bytes());
    w.pos
}

/// Copies into a fixed buffer that is sized for the largest input; never panics (excess is
/// dropped, which the bounds above make impossible).
struct SliceWriter<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl SliceWriter<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
            self.pos = end;
        }
    }
}

/// Cloud side: seals the operational secret for the device that proved itself with `nonce`.
pub fn seal_operational_secret<C: Crypto>(
    crypto: &mut C,
    activation_secret: &ActivationSecret,
    nonce: &Nonce,
    device: DeviceId,
    cloud_device_id: &CloudDeviceId,
    endpoint: &CloudEndpoint,
    secret: &OperationalSecret,
) -> Result<SealedSecret, CryptoError> {
    let keys = seal_keys(crypto, activation_secret, nonce, device)?;
    let mut aad = [0u8; AAD_MAX];
    let aad_len = seal_aad(&mut aad, device, cloud_device_id, endpoint);
    let mut sealed = SealedSecret {
        ciphertext: secret.0,
        tag: [0; CCM_TAG_LEN],
    };
    let r = crypto.aes128_ccm_seal(
        &keys.key,
        &keys.nonce,
        aad.get(..aad_len).unwrap_or(&[]),
        &mut sealed.ciphertext,
        &mut sealed.tag,
    );
    match r {
        Ok(()) => Ok(sealed),
        Err(e) => {
            sealed.ciphertext.zeroize();
            Err(e)
        }
    }
}

/// Device side: opens the operational secret. A tag mismatch (forged or corrupted response, or
/// a cloud that does not know the activation secret) is [`PairError::CloudRejected`]; any other
/// crypto failure [`PairError::Internal`].
pub fn open_operational_secret<C: Crypto>(
    crypto: &mut C,
    activation_secret: &ActivationSecret,
    nonce: &Nonce,
    device: DeviceId,
    cloud_device_id: &CloudDeviceId,
    endpoint: &CloudEndpoint,
    sealed: &SealedSecret,
) -> Result<OperationalSecret, PairError> {
    let keys =
        seal_keys(crypto, activation_secret, nonce, device).map_err(|_| PairError::Internal)?;
    let mut aad = [0u8; AAD_MAX];
    let aad_len = seal_aad(&mut aad, device, cloud_device_id, endpoint);
    let mut out = OperationalSecret(sealed.ciphertext);
    match crypto.aes128_ccm_open(
        &keys.key,
        &keys.nonce,
        aad.get(..aad_len).unwrap_or(&[]),
        &mut out.0,
        &sealed.tag,
    ) {
        Ok(()) => Ok(out),
        Err(CryptoError::AuthFailed) => Err(PairError::CloudRejected),
        Err(_) => Err(PairError::Internal),
    }
}

// ------------------------------------------------------------------------------------------
// CBOR helpers
// ------------------------------------------------------------------------------------------

type Enc<'a> = Writer<'a>;

/// Runs `body` on a fresh encoder over `buf` and returns the encoded length; if it did not
/// fit, the written prefix is wiped (a request carries the token) and `BufferTooSmall` is
/// returned.
fn encode_with(buf: &mut [u8], body: impl FnOnce(&mut Enc<'_>)) -> Result<usize, WireError> {
    crate::msg::cbor::encode_into(buf, body)
}

/// Reads one definite-length map of at most `max_entries` entries with keys below 64, calling
/// `field(key, reader)` for each; `field` returns `Some(false)` for a key it does not know,
/// which is then skipped. Duplicate keys are rejected. Failures are kept in the reader (see
/// [`Reader`]).
fn read_map<'b>(
    d: &mut Reader<'b>,
    max_entries: u64,
    mut field: impl FnMut(u8, &mut Reader<'b>) -> Option<bool>,
) -> Option<()> {
    read_map_dyn(d, max_entries, &mut field)
}

/// The non-generic body of [`read_map`]: one copy of the loop for every message, on the map
/// iterator the app messages use.
#[inline(never)]
fn read_map_dyn<'b>(
    d: &mut Reader<'b>,
    max_entries: u64,
    field: &mut dyn FnMut(u8, &mut Reader<'b>) -> Option<bool>,
) -> Option<()> {
    let mut fields = d.map()?;
    if fields.len() > max_entries {
        return d.fail(WireError::TooLong);
    }
    while let Some(key) = fields.next(d)? {
        if !field(key, d)? {
            d.skip()?;
        }
    }
    Some(())
}

/// Decodes one top-level message: bounds the input, runs `body`, rejects trailing bytes.
fn decode_top<'b, T>(
    bytes: &'b [u8],
    body: impl FnOnce(&mut Reader<'b>) -> Option<T>,
) -> Result<T, WireError> {
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(WireError::TooLong);
    }
    let mut d = Reader::new(bytes);
    let v = match body(&mut d) {
        Some(v) => d.finish().map(|()| v),
        None => None,
    };
    d.result(v)
}

fn fixed_bytes<const N: usize>(d: &mut Reader<'_>) -> Option<[u8; N]> {
    d.bytes_exact()
}

fn decode_token(d: &mut Reader<'_>) -> Option<ActivationToken> {
    let s = d.text()?;
    d.valid(ActivationToken::new(s.as_bytes()))
}

/// Endpoint: `{1: region tstr(2), 2: host tstr(1..64) (absent when none), 3: port uint16}`.
fn encode_endpoint(e: &mut Enc<'_>, ep: &CloudEndpoint) -> Result<(), WireError> {
    let region = core::str::from_utf8(&ep.region)
        .map_err(|_| WireError::Invalid(PairError::InvalidEndpoint))?;
    let host = match &ep.host {
        Some(h) => Some(
            core::str::from_utf8(h).map_err(|_| WireError::Invalid(PairError::InvalidEndpoint))?,
        ),
        None => None,
    };
    e.map(if host.is_some() { 3 } else { 2 });
    e.u8(1).str(region);
    if let Some(h) = host {
        e.u8(2).str(h);
    }
    e.u8(3).u16(ep.port);
    Ok(())
}

fn decode_endpoint(d: &mut Reader<'_>) -> Option<CloudEndpoint> {
    let mut region: Option<&str> = None;
    let mut host: Option<&str> = None;
    let mut port: Option<u16> = None;
    read_map(d, 8, |k, d| {
        match k {
            1 => region = Some(d.text()?),
            2 => host = Some(d.text()?),
            3 => port = Some(d.u16()?),
            _ => return Some(false),
        }
        Some(true)
    })?;
    let region = d.required(region)?;
    let port = d.required(port)?;
    d.valid(CloudEndpoint::new(region.as_bytes(), host.map(str::as_bytes), port))
}

// ------------------------------------------------------------------------------------------
// Messages
// ------------------------------------------------------------------------------------------

/// `POST /v1/device/challenge` request.
///
/// CBOR: `{1: device_id uint64}` (at most 11 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengeRequest {
    /// The device asking for a nonce.
    pub device: DeviceId,
}

impl ChallengeRequest {
    /// Encodes into `buf`, returning the length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        encode_with(buf, |e| {
            e.map(1).u8(1).u64(self.device.0);
        })
    }
    /// Decodes from `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        decode_top(bytes, |d| {
            let mut device = None;
            read_map(d, 8, |k, d| {
                match k {
                    1 => device = Some(DeviceId(d.uint()?)),
                    _ => return Some(false),
                }
                Some(true)
            })?;
            Some(ChallengeRequest {
                device: d.required(device)?,
            })
        })
    }
}

/// `POST /v1/device/challenge` response.
///
/// CBOR: `{1: nonce bstr(16), 2: valid_s uint16}` (at most 23 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengeResponse {
    /// The fresh single-use nonce.
    pub nonce: Nonce,
    /// How long the nonce stays valid, in seconds.
    pub valid_s: u16,
}

impl ChallengeResponse {
    /// Encodes into `buf`, returning the length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        encode_with(buf, |e| {
            e.map(2)
                .u8(1)
                .bytes(&self.nonce)
                .u8(2)
                .u16(self.valid_s);
        })
    }
    /// Decodes from `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        decode_top(bytes, |d| {
            let (mut nonce, mut valid_s) = (None, None);
            read_map(d, 8, |k, d| {
                match k {
                    1 => nonce = Some(fixed_bytes::<NONCE_LEN>(d)?),
                    2 => valid_s = Some(d.u16()?),
                    _ => return Some(false),
                }
                Some(true)
            })?;
            Some(ChallengeResponse {
                nonce: d.required(nonce)?,
                valid_s: d.required(valid_s)?,
            })
        })
    }
}

/// `POST /v1/device/activate` request.
///
/// CBOR (at most 116 bytes):
/// ```text
/// { 1: device_id uint64, 2: product_id uint32, 3: nonce bstr(16), 4: token tstr(8..32),
///   5: [fw_major uint8, fw_minor uint8, fw_patch uint16], 6: mode uint (1|2|4|8),
///   7: proof bstr(32) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivateRequest {
    /// The device's factory identity.
    pub device: DeviceId,
    /// The device's product.
    pub product: ProductId,
    /// The nonce of the preceding challenge.
    pub nonce: Nonce,
    /// The activation token from the app (or from bind-poll).
    pub token: ActivationToken,
    /// Firmware version.
    pub fw_version: FwVersion,
    /// The mode the device was paired in.
    pub mode: Mode,
    /// [`activation_proof`] over the fields above.
    pub proof: [u8; PROOF_LEN],
}

impl ActivateRequest {
    /// Builds a request and computes its proof (device side).
    #[allow(clippy::too_many_arguments)]
    pub fn new_signed<C: Crypto>(
        crypto: &mut C,
        secret: &ActivationSecret,
        device: DeviceId,
        product: ProductId,
        nonce: Nonce,
        token: ActivationToken,
        fw_version: FwVersion,
        mode: Mode,
    ) -> Self {
        let proof = activation_proof(
            crypto, secret, &nonce, device, product, &token, fw_version, mode,
        );
        ActivateRequest {
            device,
            product,
            nonce,
            token,
            fw_version,
            mode,
            proof,
        }
    }

    /// Checks the proof against `secret` in constant time (cloud side):
    /// [`PairError::DeviceAuthFailed`] if it does not match.
    pub fn verify<C: Crypto>(
        &self,
        crypto: &mut C,
        secret: &ActivationSecret,
    ) -> Result<(), PairError> {
        let expected = activation_proof(
            crypto,
            secret,
            &self.nonce,
            self.device,
            self.product,
            &self.token,
            self.fw_version,
            self.mode,
        );
        if proofs_equal(&expected, &self.proof) {
            Ok(())
        } else {
            Err(PairError::DeviceAuthFailed)
        }
    }

    /// Encodes into `buf`, returning the length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let mut tok_err = Ok(());
        let n = encode_with(buf, |e| {
            e.map(7)
                .u8(1)
                .u64(self.device.0)
                .u8(2)
                .u32(self.product.0);
            e.u8(3).bytes(&self.nonce).u8(4);
            tok_err = encode_token_inner(e, &self.token);
            let (major, minor, patch) = self.fw_version;
            e.u8(5).array(3).u8(major).u8(minor).u16(patch);
            e.u8(6).u8(mode_code(self.mode));
            e.u8(7).bytes(&self.proof);
        })?;
        tok_err?;
        Ok(n)
    }

    /// Decodes from `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        decode_top(bytes, |d| {
            let (mut device, mut product, mut nonce, mut token) = (None, None, None, None);
            let (mut fw, mut mode, mut proof) = (None, None, None);
            read_map(d, 16, |k, d| {
                match k {
                    1 => device = Some(DeviceId(d.uint()?)),
                    2 => product = Some(ProductId(d.u32()?)),
                    3 => nonce = Some(fixed_bytes::<NONCE_LEN>(d)?),
                    4 => token = Some(decode_token(d)?),
                    5 => {
                        let n = d.array(3)?;
                        d.ensure(n == 3)?;
                        let major = d.u8()?;
                        let minor = d.u8()?;
                        let patch = d.u16()?;
                        fw = Some((major, minor, patch));
                    }
                    6 => {
                        let code = d.u8()?;
                        mode = Some(d.required(mode_from_code(code))?);
                    }
                    7 => proof = Some(fixed_bytes::<PROOF_LEN>(d)?),
                    _ => return Some(false),
                }
                Some(true)
            })?;
            Some(ActivateRequest {
                device: d.required(device)?,
                product: d.required(product)?,
                nonce: d.required(nonce)?,
                token: d.required(token)?,
                fw_version: d.required(fw)?,
                mode: d.required(mode)?,
                proof: d.required(proof)?,
            })
        })
    }
}

/// Writes the token as text; a non-UTF-8 token (impossible for a validated one) is written as
/// an empty string and reported through the return value.
fn encode_token_inner(e: &mut Enc<'_>, token: &ActivationToken) -> Result<(), WireError> {
    match core::str::from_utf8(token.expose()) {
        Ok(s) => {
            e.str(s);
            Ok(())
        }
        Err(_) => {
            e.str("");
            Err(WireError::Invalid(PairError::InvalidToken))
        }
    }
}

/// `POST /v1/device/activate` success response.
///
/// CBOR (at most 166 bytes):
/// ```text
/// { 1: cloud_device_id tstr(1..32), 2: endpoint, 3: sealed_secret bstr(32), 4: tag bstr(16) }
/// endpoint = { 1: region tstr(2), ? 2: host tstr(1..64), 3: port uint16 }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivateResponse {
    /// The device's identity in the cloud.
    pub cloud_device_id: CloudDeviceId,
    /// Where the device connects for operation.
    pub endpoint: CloudEndpoint,
    /// The sealed operational secret (see [`seal_operational_secret`]).
    pub sealed: SealedSecret,
}

impl ActivateResponse {
    /// Cloud side: builds the response, sealing `secret` for the device.
    pub fn new_sealed<C: Crypto>(
        crypto: &mut C,
        activation_secret: &ActivationSecret,
        nonce: &Nonce,
        device: DeviceId,
        cloud_device_id: CloudDeviceId,
        endpoint: CloudEndpoint,
        secret: &OperationalSecret,
    ) -> Result<Self, CryptoError> {
        let sealed = seal_operational_secret(
            crypto,
            activation_secret,
            nonce,
            device,
            &cloud_device_id,
            &endpoint,
            secret,
        )?;
        Ok(ActivateResponse {
            cloud_device_id,
            endpoint,
            sealed,
        })
    }

    /// Device side: verifies the tag and returns the operational secret
    /// (see [`open_operational_secret`]).
    pub fn open<C: Crypto>(
        &self,
        crypto: &mut C,
        activation_secret: &ActivationSecret,
        nonce: &Nonce,
        device: DeviceId,
    ) -> Result<OperationalSecret, PairError> {
        open_operational_secret(
            crypto,
            activation_secret,
            nonce,
            device,
            &self.cloud_device_id,
            &self.endpoint,
            &self.sealed,
        )
    }

    /// Encodes into `buf`, returning the length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let mut ep_err = Ok(());
        let n = encode_with(buf, |e| {
            e.map(4).u8(1).str(self.cloud_device_id.as_str()).u8(2);
            ep_err = encode_endpoint(e, &self.endpoint);
            e.u8(3)
                .bytes(&self.sealed.ciphertext)
                .u8(4)
                .bytes(&self.sealed.tag);
        })?;
        ep_err?;
        Ok(n)
    }

    /// Decodes from `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        decode_top(bytes, |d| {
            let (mut id, mut endpoint, mut ct, mut tag) = (None, None, None, None);
            read_map(d, 8, |k, d| {
                match k {
                    1 => {
                        let s = d.text()?;
                        id = Some(d.valid(CloudDeviceId::new(s))?);
                    }
                    2 => endpoint = Some(decode_endpoint(d)?),
                    3 => ct = Some(fixed_bytes::<SECRET_LEN>(d)?),
                    4 => tag = Some(fixed_bytes::<CCM_TAG_LEN>(d)?),
                    _ => return Some(false),
                }
                Some(true)
            })?;
            Some(ActivateResponse {
                cloud_device_id: d.required(id)?,
                endpoint: d.required(endpoint)?,
                sealed: SealedSecret {
                    ciphertext: d.required(ct)?,
                    tag: d.required(tag)?,
                },
            })
        })
    }
}

/// `POST /v1/device/bind-poll` request (cellular mode).
///
/// CBOR: `{1: device_id uint64, 2: nonce bstr(16), 3: proof bstr(32)}` (at most 64 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindPollRequest {
    /// The polling device.
    pub device: DeviceId,
    /// The nonce of the preceding challenge.
    pub nonce: Nonce,
    /// [`poll_proof`] over device and nonce.
    pub proof: [u8; PROOF_LEN],
}

impl BindPollRequest {
    /// Builds a request and computes its proof (device side).
    pub fn new_signed<C: Crypto>(
        crypto: &mut C,
        secret: &ActivationSecret,
        device: DeviceId,
        nonce: Nonce,
    ) -> Self {
        let proof = poll_proof(crypto, secret, &nonce, device);
        BindPollRequest {
            device,
            nonce,
            proof,
        }
    }

    /// Checks the proof in constant time (cloud side): [`PairError::DeviceAuthFailed`] if it
    /// does not match.
    pub fn verify<C: Crypto>(
        &self,
        crypto: &mut C,
        secret: &ActivationSecret,
    ) -> Result<(), PairError> {
        let expected = poll_proof(crypto, secret, &self.nonce, self.device);
        if proofs_equal(&expected, &self.proof) {
            Ok(())
        } else {
            Err(PairError::DeviceAuthFailed)
        }
    }

    /// Encodes into `buf`, returning the length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        encode_with(buf, |e| {
            e.map(3).u8(1).u64(self.device.0);
            e.u8(2).bytes(&self.nonce).u8(3).bytes(&self.proof);
        })
    }

    /// Decodes from `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        decode_top(bytes, |d| {
            let (mut device, mut nonce, mut proof) = (None, None, None);
            read_map(d, 8, |k, d| {
                match k {
                    1 => device = Some(DeviceId(d.uint()?)),
                    2 => nonce = Some(fixed_bytes::<NONCE_LEN>(d)?),
                    3 => proof = Some(fixed_bytes::<PROOF_LEN>(d)?),
                    _ => return Some(false),
                }
                Some(true)
            })?;
            Some(BindPollRequest {
                device: d.required(device)?,
                nonce: d.required(nonce)?,
                proof: d.required(proof)?,
            })
        })
    }
}

/// `POST /v1/device/bind-poll` success response.
///
/// CBOR:
/// ```text
/// Pending: { 1: 0, 2: retry_after_s uint16 }                       (at most 6 bytes)
/// Bound:   { 1: 1, 3: token tstr(8..32), 4: endpoint }             (at most 115 bytes)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindPollResponse {
    /// Nobody has bound the device yet: poll again after `retry_after_s` seconds.
    Pending {
        /// Seconds to wait before the next poll.
        retry_after_s: u16,
    },
    /// A user bound the device: activate with this token at this endpoint.
    Bound {
        /// The activation token (travels only inside TLS).
        token: ActivationToken,
        /// Where to activate.
        endpoint: CloudEndpoint,
    },
}

impl BindPollResponse {
    /// Encodes into `buf`, returning the length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let mut inner = Ok(());
        let n = encode_with(buf, |e| {
            match self {
                BindPollResponse::Pending { retry_after_s } => {
                    e.map(2).u8(1).u8(0).u8(2).u16(*retry_after_s);
                }
                BindPollResponse::Bound { token, endpoint } => {
                    e.map(3).u8(1).u8(1).u8(3);
                    inner = encode_token_inner(e, token);
                    e.u8(4);
                    if inner.is_ok() {
                        inner = encode_endpoint(e, endpoint);
                    }
                }
            }
        })?;
        inner?;
        Ok(n)
    }

    /// Decodes from `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        decode_top(bytes, |d| {
            let (mut status, mut retry, mut token, mut endpoint) = (None, None, None, None);
            read_map(d, 8, |k, d| {
                match k {
                    1 => status = Some(d.u8()?),
                    2 => retry = Some(d.u16()?),
                    3 => token = Some(decode_token(d)?),
                    4 => endpoint = Some(decode_endpoint(d)?),
                    _ => return Some(false),
                }
                Some(true)
            })?;
            match d.required(status)? {
                0 => Some(BindPollResponse::Pending {
                    retry_after_s: d.required(retry)?,
                }),
                1 => Some(BindPollResponse::Bound {
                    token: d.required(token)?,
                    endpoint: d.required(endpoint)?,
                }),
                other => d.fail(WireError::UnknownType(other)),
            }
        })
    }
}

/// The body of every refused device API request.
///
/// CBOR: `{1: code uint8, ? 2: retry_after_s uint16}` (at most 8 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorResponse {
    /// Why the request was refused.
    pub error: PairError,
    /// For transient refusals ([`PairError::RateLimited`]): seconds to wait.
    pub retry_after_s: Option<u16>,
}

impl ErrorResponse {
    /// Encodes into `buf`, returning the length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        encode_with(buf, |e| {
            e.map(if self.retry_after_s.is_some() { 2 } else { 1 });
            e.u8(1).u8(self.error.code());
            if let Some(r) = self.retry_after_s {
                e.u8(2).u16(r);
            }
        })
    }

    /// Decodes from `bytes`. Codes this build does not know decode as [`PairError::Unknown`].
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        decode_top(bytes, |d| {
            let (mut code, mut retry) = (None, None);
            read_map(d, 8, |k, d| {
                match k {
                    1 => code = Some(d.u8()?),
                    2 => retry = Some(d.u16()?),
                    _ => return Some(false),
                }
                Some(true)
            })?;
            Some(ErrorResponse {
                error: PairError::from_code(d.required(code)?),
                retry_after_s: retry,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// A deterministic stand-in provider that records the MAC input (to pin the exact byte
    /// layout) and implements a toy "AEAD" whose tag depends on key, nonce, AAD and plaintext,
    /// so the sealing wiring (what is authenticated) can be tested without a real backend.
    /// Real-crypto golden vectors are checked against zpair-mbedtls below.
    #[derive(Default)]
    struct Toy {
        mac_input: Vec<u8>,
        hkdf_calls: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>,
    }

    fn toy_hash(parts: &[&[u8]]) -> [u8; 32] {
        // FNV-1a spread over 32 bytes; good enough to make every input bit matter.
        let mut out = [0u8; 32];
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for p in parts {
            for &b in p.iter() {
                h ^= b as u64;
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        for (i, o) in out.iter_mut().enumerate() {
            h ^= i as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
            *o = (h >> 24) as u8;
        }
        out
    }

    impl Crypto for Toy {
        fn fill_random(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
            out.fill(7);
            Ok(())
        }
        fn sha256(&mut self, parts: &[&[u8]]) -> [u8; 32] {
            toy_hash(parts)
        }
        fn hmac_sha256(&mut self, key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
            self.mac_input.clear();
            for p in parts {
                self.mac_input.extend_from_slice(p);
            }
            toy_hash(&[key, &self.mac_input])
        }
        fn hkdf_sha256(
            &mut self,
            salt: &[u8],
            ikm: &[u8],
            info: &[u8],
            okm: &mut [u8],
        ) -> Result<(), CryptoError> {
            self.hkdf_calls
                .push((salt.to_vec(), ikm.to_vec(), info.to_vec()));
            let h = toy_hash(&[salt, ikm, info]);
            for (i, o) in okm.iter_mut().enumerate() {
                *o = h[i % 32] ^ (i as u8);
            }
            Ok(())
        }
        fn pbkdf2_hmac_sha256(
            &mut self,
            _: &[u8],
            _: &[u8],
            _: u32,
            _: &mut [u8],
        ) -> Result<(), CryptoError> {
            Err(CryptoError::Backend(-1))
        }
        fn p256_mul(
            &mut self,
            _: &[u8; 32],
            _: Option<&[u8; 65]>,
        ) -> Result<[u8; 65], CryptoError> {
            Err(CryptoError::Backend(-1))
        }
        fn p256_add(&mut self, _: &[u8; 65], _: &[u8; 65]) -> Result<[u8; 65], CryptoError> {
            Err(CryptoError::Backend(-1))
        }
        fn p256_random_scalar(&mut self) -> Result<[u8; 32], CryptoError> {
            Err(CryptoError::Backend(-1))
        }
        fn p256_reduce(&mut self, _: &[u8]) -> Result<[u8; 32], CryptoError> {
            Err(CryptoError::Backend(-1))
        }
        fn aes128_ccm_seal(
            &mut self,
            key: &[u8; 16],
            nonce: &[u8; 13],
            aad: &[u8],
            buf: &mut [u8],
            tag: &mut [u8; 16],
        ) -> Result<(), CryptoError> {
            let t = toy_hash(&[key, nonce, aad, buf]);
            let ks = toy_hash(&[key, nonce]);
            for (i, b) in buf.iter_mut().enumerate() {
                *b ^= ks[i % 32];
            }
            tag.copy_from_slice(&t[..16]);
            Ok(())
        }
        fn aes128_ccm_open(
            &mut self,
            key: &[u8; 16],
            nonce: &[u8; 13],
            aad: &[u8],
            buf: &mut [u8],
            tag: &[u8; 16],
        ) -> Result<(), CryptoError> {
            let ks = toy_hash(&[key, nonce]);
            for (i, b) in buf.iter_mut().enumerate() {
                *b ^= ks[i % 32];
            }
            let t = toy_hash(&[key, nonce, aad, buf]);
            if t[..16] != tag[..] {
                buf.fill(0);
                return Err(CryptoError::AuthFailed);
            }
            Ok(())
        }
    }

    fn h(s: &str) -> Vec<u8> {
        let s: std::string::String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn secret() -> ActivationSecret {
        let mut s = [0u8; 32];
        for (i, b) in s.iter_mut().enumerate() {
            *b = i as u8;
        }
        ActivationSecret::new(s)
    }
    fn nonce() -> Nonce {
        let mut n = [0u8; 16];
        for (i, b) in n.iter_mut().enumerate() {
            *b = 0xa0 + i as u8;
        }
        n
    }
    const DEV: DeviceId = DeviceId(0x0123_4567_89ab_cdef);
    const PROD: ProductId = ProductId(0x00c0_ffee);
    fn token() -> ActivationToken {
        ActivationToken::new(b"AbCdEf0123456789").unwrap()
    }
    fn endpoint() -> CloudEndpoint {
        CloudEndpoint::new(b"eu", Some(b"localhost"), 8443).unwrap()
    }
    fn cloud_id() -> CloudDeviceId {
        CloudDeviceId::new("dev-0123456789abcdef").unwrap()
    }
    fn op_secret() -> OperationalSecret {
        let mut s = [0u8; 32];
        for (i, b) in s.iter_mut().enumerate() {
            *b = 0x40 + i as u8;
        }
        OperationalSecret::new(s)
    }

    // Golden values computed independently (Python: hmac, hashlib, cryptography's HKDF/AESCCM).
    const GOLDEN_ACT_INPUT: &str = "7a706169722f31206163746976617465a0a1a2a3a4a5a6a7a8a9aaabacadaeaf0123456789abcdef00c0ffee10416243644566303132333435363738390102030402";
    const GOLDEN_ACT_PROOF: &str =
        "a7c2257474d1f9ad2906fabfabd6425e08e5e5f2c1aabd7f301c3588e0071881";
    const GOLDEN_POLL_PROOF: &str =
        "5c4f13e2fe8b80526d7c15d9430cb347aeb59c44045cbb112f6291aa29f10afa";
    const GOLDEN_AAD: &str = "7a706169722f31206f7063726564730123456789abcdef146465762d303132333435363738396162636465666575096c6f63616c686f737420fb";
    const GOLDEN_SEALED: &str = "8a6ebd0b3a853252084879f9c4b1d5c9733322dc81e78acffa8aabf7367d0e39";
    const GOLDEN_TAG: &str = "a92407676aeaee8f83bf5549b365c6ef";

    #[test]
    fn golden_vectors_with_mbedtls() {
        let mut c = zpair_mbedtls::MbedTls::os();
        let proof = activation_proof(
            &mut c,
            &secret(),
            &nonce(),
            DEV,
            PROD,
            &token(),
            (1, 2, 0x0304),
            Mode::Ble,
        );
        assert_eq!(proof[..], h(GOLDEN_ACT_PROOF)[..]);
        assert_eq!(
            poll_proof(&mut c, &secret(), &nonce(), DEV)[..],
            h(GOLDEN_POLL_PROOF)[..]
        );
        let sealed = seal_operational_secret(
            &mut c,
            &secret(),
            &nonce(),
            DEV,
            &cloud_id(),
            &endpoint(),
            &op_secret(),
        )
        .unwrap();
        assert_eq!(sealed.ciphertext[..], h(GOLDEN_SEALED)[..]);
        assert_eq!(sealed.tag[..], h(GOLDEN_TAG)[..]);
        let resp = ActivateResponse {
            cloud_device_id: cloud_id(),
            endpoint: endpoint(),
            sealed,
        };
        assert_eq!(
            resp.open(&mut c, &secret(), &nonce(), DEV).unwrap(),
            op_secret()
        );
        let mut forged = resp.clone();
        forged.sealed.tag[15] ^= 1;
        assert_eq!(
            forged.open(&mut c, &secret(), &nonce(), DEV),
            Err(PairError::CloudRejected)
        );
        let mut moved = resp;
        moved.endpoint.host = None;
        assert_eq!(
            moved.open(&mut c, &secret(), &nonce(), DEV),
            Err(PairError::CloudRejected)
        );
        let req = ActivateRequest::new_signed(
            &mut c,
            &secret(),
            DEV,
            PROD,
            nonce(),
            token(),
            (1, 2, 0x0304),
            Mode::Ble,
        );
        assert_eq!(req, golden_request());
        assert_eq!(req.verify(&mut c, &secret()), Ok(()));
    }

    #[test]
    fn activation_proof_input_layout_is_exact() {
        let mut c = Toy::default();
        activation_proof(
            &mut c,
            &secret(),
            &nonce(),
            DEV,
            PROD,
            &token(),
            (1, 2, 0x0304),
            Mode::Ble,
        );
        assert_eq!(c.mac_input, h(GOLDEN_ACT_INPUT));
        poll_proof(&mut c, &secret(), &nonce(), DEV);
        let mut want = b"zpair/1 poll".to_vec();
        want.extend_from_slice(&nonce());
        want.extend_from_slice(&DEV.0.to_be_bytes());
        assert_eq!(c.mac_input, want);
    }

    #[test]
    fn seal_inputs_are_exact() {
        let mut c = Toy::default();
        seal_operational_secret(
            &mut c,
            &secret(),
            &nonce(),
            DEV,
            &cloud_id(),
            &endpoint(),
            &op_secret(),
        )
        .unwrap();
        let (salt, ikm, info) = &c.hkdf_calls[0];
        assert_eq!(salt[..], nonce());
        assert_eq!(ikm[..], secret().expose()[..]);
        assert_eq!(
            info[..],
            h("7a706169722f31206f70637265647301234567 89abcdef"
                .replace(' ', "")
                .as_str())[..]
        );
        let mut aad = [0u8; AAD_MAX];
        let n = seal_aad(&mut aad, DEV, &cloud_id(), &endpoint());
        assert_eq!(aad[..n], h(GOLDEN_AAD)[..]);
        // Largest possible AAD fits exactly.
        let long_id = CloudDeviceId::new(core::str::from_utf8(&[b'x'; 32]).unwrap()).unwrap();
        let long_ep = CloudEndpoint::new(b"us", Some(&[b'h'; 64]), 65535).unwrap();
        assert_eq!(seal_aad(&mut aad, DEV, &long_id, &long_ep), AAD_MAX);
    }

    #[test]
    fn seal_open_round_trip_and_every_bound_field_matters() {
        let mut c = Toy::default();
        let resp = ActivateResponse::new_sealed(
            &mut c,
            &secret(),
            &nonce(),
            DEV,
            cloud_id(),
            endpoint(),
            &op_secret(),
        )
        .unwrap();
        assert_ne!(resp.sealed.ciphertext, *op_secret().expose());
        assert_eq!(
            resp.open(&mut c, &secret(), &nonce(), DEV).unwrap(),
            op_secret()
        );
        // Wrong secret, nonce, device, id, endpoint or tag: the cloud is not authentic.
        let mut other = *secret().expose();
        other[0] ^= 1;
        assert_eq!(
            resp.open(&mut c, &ActivationSecret::new(other), &nonce(), DEV),
            Err(PairError::CloudRejected)
        );
        let mut n2 = nonce();
        n2[15] ^= 1;
        assert_eq!(
            resp.open(&mut c, &secret(), &n2, DEV),
            Err(PairError::CloudRejected)
        );
        assert_eq!(
            resp.open(&mut c, &secret(), &nonce(), DeviceId(1)),
            Err(PairError::CloudRejected)
        );
        let mut r = resp.clone();
        r.cloud_device_id = CloudDeviceId::new("evil").unwrap();
        assert_eq!(
            r.open(&mut c, &secret(), &nonce(), DEV),
            Err(PairError::CloudRejected)
        );
        let mut r = resp.clone();
        r.endpoint.port = 443;
        assert_eq!(
            r.open(&mut c, &secret(), &nonce(), DEV),
            Err(PairError::CloudRejected)
        );
        let mut r = resp.clone();
        r.sealed.tag[0] ^= 0x80;
        assert_eq!(
            r.open(&mut c, &secret(), &nonce(), DEV),
            Err(PairError::CloudRejected)
        );
        let mut r = resp;
        r.sealed.ciphertext[31] ^= 1;
        assert_eq!(
            r.open(&mut c, &secret(), &nonce(), DEV),
            Err(PairError::CloudRejected)
        );
    }

    #[test]
    fn verify_accepts_own_proof_and_rejects_any_change() {
        let mut c = Toy::default();
        let req = ActivateRequest::new_signed(
            &mut c,
            &secret(),
            DEV,
            PROD,
            nonce(),
            token(),
            (1, 2, 3),
            Mode::Wired,
        );
        assert_eq!(req.verify(&mut c, &secret()), Ok(()));
        let mut r = req.clone();
        r.product = ProductId(1);
        assert_eq!(
            r.verify(&mut c, &secret()),
            Err(PairError::DeviceAuthFailed)
        );
        let mut r = req.clone();
        r.mode = Mode::Ble;
        assert_eq!(
            r.verify(&mut c, &secret()),
            Err(PairError::DeviceAuthFailed)
        );
        let mut r = req.clone();
        r.token = ActivationToken::new(b"AbCdEf0123456780").unwrap();
        assert_eq!(
            r.verify(&mut c, &secret()),
            Err(PairError::DeviceAuthFailed)
        );
        let mut r = req;
        r.fw_version = (1, 2, 4);
        assert_eq!(
            r.verify(&mut c, &secret()),
            Err(PairError::DeviceAuthFailed)
        );

        let poll = BindPollRequest::new_signed(&mut c, &secret(), DEV, nonce());
        assert_eq!(poll.verify(&mut c, &secret()), Ok(()));
        let mut p = poll;
        p.device = DeviceId(2);
        assert_eq!(
            p.verify(&mut c, &secret()),
            Err(PairError::DeviceAuthFailed)
        );
    }

    fn golden_request() -> ActivateRequest {
        ActivateRequest {
            device: DEV,
            product: PROD,
            nonce: nonce(),
            token: token(),
            fw_version: (1, 2, 0x0304),
            mode: Mode::Ble,
            proof: h(GOLDEN_ACT_PROOF).try_into().unwrap(),
        }
    }

    #[test]
    fn golden_encodings() {
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let n = ChallengeRequest { device: DEV }.encode(&mut buf).unwrap();
        assert_eq!(buf[..n], h("a1011b0123456789abcdef")[..]);
        let n = ChallengeResponse {
            nonce: nonce(),
            valid_s: 60,
        }
        .encode(&mut buf)
        .unwrap();
        assert_eq!(
            buf[..n],
            h("a20150a0a1a2a3a4a5a6a7a8a9aaabacadaeaf02183c")[..]
        );
        let n = ErrorResponse {
            error: PairError::RateLimited,
            retry_after_s: Some(30),
        }
        .encode(&mut buf)
        .unwrap();
        assert_eq!(buf[..n], h("a201185802181e")[..]);
        let n = ErrorResponse {
            error: PairError::TokenExpired,
            retry_after_s: None,
        }
        .encode(&mut buf)
        .unwrap();
        assert_eq!(buf[..n], h("a1011851")[..]);
        let n = BindPollResponse::Pending { retry_after_s: 5 }
            .encode(&mut buf)
            .unwrap();
        assert_eq!(buf[..n], h("a201000205")[..]);

        let n = golden_request().encode(&mut buf).unwrap();
        let want = std::format!(
            "a7011b0123456789abcdef021a00c0ffee0350{}0470{}0583010219030406020758 20{}",
            "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
            "41624364456630313233343536373839",
            GOLDEN_ACT_PROOF
        )
        .replace(' ', "");
        assert_eq!(buf[..n], h(&want)[..]);
        assert_eq!(
            ActivateRequest::decode(&buf[..n]).unwrap(),
            golden_request()
        );

        let resp = ActivateResponse {
            cloud_device_id: cloud_id(),
            endpoint: endpoint(),
            sealed: SealedSecret {
                ciphertext: h(GOLDEN_SEALED).try_into().unwrap(),
                tag: h(GOLDEN_TAG).try_into().unwrap(),
            },
        };
        let n = resp.encode(&mut buf).unwrap();
        let want =
            std::format!(
            "a4 01 74 {} 02 a3 01 62 6575 02 69 6c6f63616c686f7374 03 19 20fb 03 58 20 {} 04 50 {}",
            "6465762d30313233343536373839616263646566", GOLDEN_SEALED, GOLDEN_TAG
        )
            .replace(' ', "");
        assert_eq!(buf[..n], h(&want)[..]);
        assert_eq!(ActivateResponse::decode(&buf[..n]).unwrap(), resp);
    }

    #[test]
    fn maximal_messages_fit_the_documented_bounds() {
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let req = ActivateRequest {
            device: DeviceId(u64::MAX),
            product: ProductId(u32::MAX),
            nonce: [0xff; 16],
            token: ActivationToken::new(&[b'z'; 32]).unwrap(),
            fw_version: (255, 255, 65535),
            mode: Mode::Cellular,
            proof: [0xff; 32],
        };
        assert_eq!(req.encode(&mut buf).unwrap(), 116);
        let ep = CloudEndpoint::new(b"us", Some(&[b'h'; 64]), 65535).unwrap();
        let resp = ActivateResponse {
            cloud_device_id: CloudDeviceId::new(core::str::from_utf8(&[b'x'; 32]).unwrap())
                .unwrap(),
            endpoint: ep.clone(),
            sealed: SealedSecret {
                ciphertext: [0; 32],
                tag: [0; 16],
            },
        };
        assert_eq!(resp.encode(&mut buf).unwrap(), 166);
        let bound = BindPollResponse::Bound {
            token: ActivationToken::new(&[b'z'; 32]).unwrap(),
            endpoint: ep,
        };
        assert_eq!(bound.encode(&mut buf).unwrap(), 115);
        let poll = BindPollRequest {
            device: DeviceId(u64::MAX),
            nonce: [0; 16],
            proof: [0; 32],
        };
        assert_eq!(poll.encode(&mut buf).unwrap(), 64);
        assert_eq!(
            ChallengeRequest {
                device: DeviceId(u64::MAX)
            }
            .encode(&mut buf)
            .unwrap(),
            11
        );
        assert_eq!(
            ChallengeResponse {
                nonce: [0; 16],
                valid_s: u16::MAX
            }
            .encode(&mut buf)
            .unwrap(),
            23
        );
        let err = ErrorResponse {
            error: PairError::RateLimited,
            retry_after_s: Some(u16::MAX),
        };
        assert_eq!(err.encode(&mut buf).unwrap(), 8);
    }

    #[test]
    fn short_buffers_are_reported_not_panicked() {
        let req = golden_request();
        let mut big = [0u8; MAX_MESSAGE_LEN];
        let full = req.encode(&mut big).unwrap();
        for len in 0..full {
            let mut buf = std::vec![0u8; len];
            assert_eq!(
                req.encode(&mut buf),
                Err(WireError::BufferTooSmall),
                "len {len}"
            );
        }
    }

    #[test]
    fn decoders_reject_truncation_trailing_bytes_duplicates_and_bad_fields() {
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let n = golden_request().encode(&mut buf).unwrap();
        for cut in 0..n {
            assert!(ActivateRequest::decode(&buf[..cut]).is_err(), "cut {cut}");
        }
        assert_eq!(
            ActivateRequest::decode(&buf[..n - 1]),
            Err(WireError::Truncated)
        );
        let mut long = buf[..n].to_vec();
        long.push(0);
        assert_eq!(
            ActivateRequest::decode(&long),
            Err(WireError::TrailingBytes)
        );
        assert_eq!(
            ActivateRequest::decode(&[0xa0; MAX_MESSAGE_LEN + 1]),
            Err(WireError::TooLong)
        );
        // Duplicate key.
        assert_eq!(
            ChallengeRequest::decode(&h("a201010102")),
            Err(WireError::Malformed)
        );
        // Missing key.
        assert_eq!(
            ChallengeRequest::decode(&h("a0")),
            Err(WireError::Malformed)
        );
        // Unknown scalar key is skipped; indefinite map is refused.
        assert_eq!(
            ChallengeRequest::decode(&h("a2010509626869"))
                .unwrap()
                .device,
            DeviceId(5)
        );
        assert_eq!(
            ChallengeRequest::decode(&h("bf0105ff")),
            Err(WireError::Malformed)
        );
        // An unknown key's value keeps to the strict subset: nested definite containers are
        // skipped; a tag, a float or an indefinite-length item is refused.
        assert_eq!(
            ChallengeRequest::decode(&h("a2010509a1008200f5")).unwrap().device,
            DeviceId(5)
        );
        for tagged_float_or_indefinite in ["a2010509c100", "a2010509f93c00", "a20105099f00ff"] {
            assert_eq!(
                ChallengeRequest::decode(&h(tagged_float_or_indefinite)),
                Err(WireError::Malformed),
                "{tagged_float_or_indefinite}"
            );
        }
        assert_eq!(
            ChallengeRequest::decode(&h("a201050980")).unwrap().device,
            DeviceId(5)
        );
        assert_eq!(
            ChallengeRequest::decode(&h("a201050957")),
            Err(WireError::Truncated)
        );
        // Wrong nonce length, wrong type.
        assert_eq!(
            ChallengeResponse::decode(&h("a2014fa0a1a2a3a4a5a6a7a8a9aaabacadaeae02183c")),
            Err(WireError::Malformed)
        );
        assert_eq!(
            ChallengeRequest::decode(&h("a10161")),
            Err(WireError::Malformed)
        );
        // Bad token and bad endpoint carry the precise reason.
        let bad = ActivateRequest::decode(&h("a104 65 6162636465".replace(' ', "").as_str()));
        assert_eq!(bad, Err(WireError::Invalid(PairError::InvalidToken)));
        let bad =
            BindPollResponse::decode(&h("a3 0101 03 68 4142434445464748 04 a2 01 62 4555 03 00"
                .replace(' ', "")
                .as_str()));
        assert_eq!(bad, Err(WireError::Invalid(PairError::InvalidEndpoint)));
        // Unknown poll status and mode.
        assert_eq!(
            BindPollResponse::decode(&h("a2010702 05")),
            Err(WireError::UnknownType(7))
        );
        let mut bad_mode = buf[..n].to_vec();
        let pos = bad_mode.windows(2).position(|w| w == [0x06, 0x02]).unwrap();
        bad_mode[pos + 1] = 0x03;
        assert_eq!(
            ActivateRequest::decode(&bad_mode),
            Err(WireError::Malformed)
        );
        // Unknown error codes survive.
        assert_eq!(
            ErrorResponse::decode(&h("a10118ee")).unwrap().error,
            PairError::Unknown(0xee)
        );
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let s = std::format!("{:?} {:?} {:?}", secret(), op_secret(), golden_request());
        assert!(!s.contains("AbCdEf"));
        assert!(s.contains("redacted"));
    }

    #[test]
    fn mode_codes_round_trip() {
        for m in [Mode::SoftAp, Mode::Ble, Mode::Wired, Mode::Cellular] {
            assert_eq!(mode_from_code(mode_code(m)), Some(m));
        }
        assert_eq!(mode_from_code(0), None);
        assert_eq!(mode_from_code(3), None);
        assert!(CloudDeviceId::new("").is_err());
        assert!(CloudDeviceId::new("has space").is_err());
        assert!(CloudDeviceId::new(core::str::from_utf8(&[b'a'; 33]).unwrap()).is_err());
    }

    fn arb_token() -> impl Strategy<Value = ActivationToken> {
        "[A-Za-z0-9_-]{8,32}".prop_map(|s| ActivationToken::new(s.as_bytes()).unwrap())
    }
    fn arb_endpoint() -> impl Strategy<Value = CloudEndpoint> {
        (
            "[a-z]{2}",
            proptest::option::of("[A-Za-z0-9.:-]{1,64}"),
            any::<u16>(),
        )
            .prop_map(|(r, h, p)| {
                CloudEndpoint::new(r.as_bytes(), h.as_deref().map(str::as_bytes), p).unwrap()
            })
    }
    fn arb_mode() -> impl Strategy<Value = Mode> {
        prop_oneof![
            Just(Mode::SoftAp),
            Just(Mode::Ble),
            Just(Mode::Wired),
            Just(Mode::Cellular)
        ]
    }

    proptest! {
        #[test]
        fn activate_request_round_trips(dev: u64, prod: u32, nonce: [u8; 16], token in arb_token(),
                                        fw: (u8, u8, u16), mode in arb_mode(), proof: [u8; 32]) {
            let req = ActivateRequest { device: DeviceId(dev), product: ProductId(prod), nonce, token,
                                        fw_version: fw, mode, proof };
            let mut buf = [0u8; MAX_MESSAGE_LEN];
            let n = req.encode(&mut buf).unwrap();
            prop_assert_eq!(ActivateRequest::decode(&buf[..n]).unwrap(), req);
        }

        #[test]
        fn responses_round_trip(id in "[!-~]{1,32}", ep in arb_endpoint(), ct: [u8; 32], tag: [u8; 16],
                                token in arb_token(), retry: u16, code: u8, nonce: [u8; 16], dev: u64) {
            let mut buf = [0u8; MAX_MESSAGE_LEN];
            let resp = ActivateResponse { cloud_device_id: CloudDeviceId::new(&id).unwrap(), endpoint: ep.clone(),
                                          sealed: SealedSecret { ciphertext: ct, tag } };
            let n = resp.encode(&mut buf).unwrap();
            prop_assert_eq!(ActivateResponse::decode(&buf[..n]).unwrap(), resp);
            for poll in [BindPollResponse::Pending { retry_after_s: retry }, BindPollResponse::Bound { token, endpoint: ep }] {
                let n = poll.encode(&mut buf).unwrap();
                prop_assert_eq!(BindPollResponse::decode(&buf[..n]).unwrap(), poll);
            }
            let err = ErrorResponse { error: PairError::from_code(code), retry_after_s: Some(retry).filter(|r| r % 2 == 0) };
            let n = err.encode(&mut buf).unwrap();
            prop_assert_eq!(ErrorResponse::decode(&buf[..n]).unwrap(), err);
            let req = BindPollRequest { device: DeviceId(dev), nonce, proof: tag.repeat(2).try_into().unwrap() };
            let n = req.encode(&mut buf).unwrap();
            prop_assert_eq!(BindPollRequest::decode(&buf[..n]).unwrap(), req);
            let ch = ChallengeResponse { nonce, valid_s: retry };
            let n = ch.encode(&mut buf).unwrap();
            prop_assert_eq!(ChallengeResponse::decode(&buf[..n]).unwrap(), ch);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = ChallengeRequest::decode(&bytes);
            let _ = ChallengeResponse::decode(&bytes);
            let _ = ActivateRequest::decode(&bytes);
            let _ = ActivateResponse::decode(&bytes);
            let _ = BindPollRequest::decode(&bytes);
            let _ = BindPollResponse::decode(&bytes);
            let _ = ErrorResponse::decode(&bytes);
        }

        #[test]
        fn mutated_valid_messages_never_panic(idx: usize, val: u8) {
            let mut buf = [0u8; MAX_MESSAGE_LEN];
            let n = golden_request().encode(&mut buf).unwrap();
            let mut m = buf[..n].to_vec();
            let i = idx % n;
            m[i] = val;
            let _ = ActivateRequest::decode(&m);
            let _ = ActivateResponse::decode(&m);
            let _ = BindPollResponse::decode(&m);
        }
    }
}
