//! The secure session: SPAKE2+ handshake flights and the AES-128-CCM record layer.
//!
//! A *packet* is the unit the framing layer carries; byte 0 is its type. All integers are big
//! endian. Points are SEC1 uncompressed P-256 points (65 bytes).
//!
//! | type | name           | direction  | layout                                                        | bytes        |
//! |------|----------------|------------|---------------------------------------------------------------|--------------|
//! | 0x01 | `PairRequest`  | app → dev  | `01` version(1) mode(1) shareP(65)                            | 68           |
//! | 0x02 | `PairResponse` | dev → app  | `02` version(1) shareV(65) confirmV(32)                       | 99           |
//! | 0x03 | `PairConfirm`  | app → dev  | `03` confirmP(32) [Record packet]                             | 33 or 54 + n |
//! | 0x04 | `Record`       | both       | `04` seq(u32) ciphertext(n) tag(16)                           | 21 + n       |
//! | 0x05 | `Alert`        | both       | `05` code(1) (a [`PairError`] wire code; plaintext)           | 2            |
//!
//! - `version` is [`crate::PROTOCOL_VERSION`]; bytes 0 and 1 of `PairRequest` / `PairResponse`
//!   keep their meaning in every future version, so that a peer can always answer
//!   "unsupported version" with an `Alert` (0x10).
//! - `mode`: 0 SoftAP, 1 BLE, 2 wired, 3 cellular ([`mode_to_byte`]).
//! - `PairConfirm` may carry one complete `Record` packet (its own type byte included) after
//!   `confirmP`: the first encrypted application message (e.g. the credentials), so that
//!   "connect → credentials accepted" takes two round trips. `n` is its plaintext length.
//! - `Record`: AAD = the 5-byte record header (`04` || seq); nonce = the 13-byte IV of the
//!   direction XOR seq (right aligned, TLS 1.3 style); 16-byte tag. Each direction counts from
//!   0; a receiver accepts only `seq ==` the next expected value (replays, reordering and
//!   tampering are rejected without changing any state); a sender refuses to send at
//!   `seq == u32::MAX`. Plaintext is at most [`MAX_PLAINTEXT_LEN`] bytes.
//! - `Alert` is unauthenticated: treat it as a hint (show it, stop waiting), never as proof.
//!
//! SPAKE2+ ([`crate::spake2plus`]) parameters of zpair: Context = `b"zpair/1"` || device id
//! (8 bytes) || mode byte ([`spake2p_context`]); idProver = empty; idVerifier = device id
//! (8 bytes). Session keys: `HKDF-SHA256(salt = empty, ikm = K_shared,
//! info = b"zpair/1 session keys", 58)` = key_app_to_dev (16) || key_dev_to_app (16) ||
//! iv_app_to_dev (13) || iv_dev_to_app (13).
//!
//! Flow: the app sends `PairRequest`; the device answers `PairResponse` (or an `Alert`); the
//! app checks `confirmV` and sends `PairConfirm` (optionally with the first record); the device
//! checks `confirmP`. A wrong setup code is detected by **both** sides: the app when `confirmV`
//! does not verify ([`SessionError::WrongSetupCode`] from
//! [`AppSession::handle_pair_response`]; it should then send `Alert(WrongSetupCode)`), the
//! device when `confirmP` does not ([`DeviceSession::handle_pair_confirm`]).
//!
//! Online guessing: every `PairResponse` lets the app test one guess of the setup code offline
//! (by checking `confirmV`), so the device's attempt limit must count every `PairRequest` it
//! answers that is not followed by a valid `PairConfirm`, not only failed confirmations.
//!
//! Pure decoders for fuzzing: [`parse_packet`] (and through it every packet type).

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::crypto::{
    Crypto, CryptoError, Point, AES128_KEY_LEN, CCM_NONCE_LEN, CCM_TAG_LEN, P256_POINT_LEN,
};
use crate::error::{PairError, WireError};
use crate::spake2plus::{
    Confirmation, Identities, Prover, Secrets, SharedKey, Spake2pError, Verifier, VerifierKeys,
    CONFIRM_LEN,
};
use crate::types::{DeviceId, Mode, SetupCode};
use crate::PROTOCOL_VERSION;

/// Packet type of `PairRequest`.
pub const TYPE_PAIR_REQUEST: u8 = 0x01;
/// Packet type of `PairResponse`.
pub const TYPE_PAIR_RESPONSE: u8 = 0x02;
/// Packet type of `PairConfirm`.
pub const TYPE_PAIR_CONFIRM: u8 = 0x03;
/// Packet type of `Record`.
pub const TYPE_RECORD: u8 = 0x04;
/// Packet type of `Alert`.
pub const TYPE_ALERT: u8 = 0x05;

/// Length of a `PairRequest`: type, version, mode, shareP.
pub const PAIR_REQUEST_LEN: usize = 3 + P256_POINT_LEN;
/// Length of a `PairResponse`: type, version, shareV, confirmV.
pub const PAIR_RESPONSE_LEN: usize = 2 + P256_POINT_LEN + CONFIRM_LEN;
/// Length of a `PairConfirm` without an embedded record: type, confirmP.
pub const PAIR_CONFIRM_LEN: usize = 1 + CONFIRM_LEN;
/// Length of a record header (type, seq); it is the record's AAD.
pub const RECORD_HEADER_LEN: usize = 5;
/// Bytes a record adds to its plaintext: header and tag.
pub const RECORD_OVERHEAD: usize = RECORD_HEADER_LEN + CCM_TAG_LEN;
/// Length of an `Alert`.
pub const ALERT_LEN: usize = 2;
/// Largest record plaintext (AES-CCM with a 13-byte nonce: 2^16 - 1).
pub const MAX_PLAINTEXT_LEN: usize = 0xFFFF;
/// HKDF info of the session keys.
pub const SESSION_KEYS_INFO: &[u8] = b"zpair/1 session keys";
/// Prefix of the SPAKE2+ context.
pub const CONTEXT_PREFIX: &[u8; 7] = b"zpair/1";
/// Length of the SPAKE2+ context: prefix, device id, mode.
pub const CONTEXT_LEN: usize = CONTEXT_PREFIX.len() + 8 + 1;

const SESSION_KEYS_LEN: usize = 2 * AES128_KEY_LEN + 2 * CCM_NONCE_LEN;

/// Length of a `Record` packet carrying `plaintext_len` bytes.
pub const fn record_len(plaintext_len: usize) -> usize {
    RECORD_OVERHEAD + plaintext_len
}

/// Length of a `PairConfirm`, with an embedded record of `first_message_len` plaintext bytes
/// or without one.
pub const fn pair_confirm_len(first_message_len: Option<usize>) -> usize {
    match first_message_len {
        Some(n) => PAIR_CONFIRM_LEN + record_len(n),
        None => PAIR_CONFIRM_LEN,
    }
}

/// The wire byte of a mode: 0 SoftAP, 1 BLE, 2 wired, 3 cellular.
pub const fn mode_to_byte(mode: Mode) -> u8 {
    match mode {
        Mode::SoftAp => 0,
        Mode::Ble => 1,
        Mode::Wired => 2,
        Mode::Cellular => 3,
    }
}

/// The mode of a wire byte, `None` for an unknown one.
pub const fn mode_from_byte(byte: u8) -> Option<Mode> {
    match byte {
        0 => Some(Mode::SoftAp),
        1 => Some(Mode::Ble),
        2 => Some(Mode::Wired),
        3 => Some(Mode::Cellular),
        _ => None,
    }
}

/// zpair's SPAKE2+ Context: `b"zpair/1" || device_id (u64 BE) || mode byte` (16 bytes).
pub fn spake2p_context(device: DeviceId, mode: Mode) -> [u8; CONTEXT_LEN] {
    let mut ctx = [0u8; CONTEXT_LEN];
    ctx[..7].copy_from_slice(CONTEXT_PREFIX);
    ctx[7..15].copy_from_slice(&device.0.to_be_bytes());
    ctx[15] = mode_to_byte(mode);
    ctx
}

/// zpair's SPAKE2+ idVerifier: the device id, u64 big endian.
pub fn spake2p_id_verifier(device: DeviceId) -> [u8; 8] {
    device.0.to_be_bytes()
}

// ------------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------------

/// Why a session step failed. Small and `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionError {
    /// A SPAKE2+ confirmation did not verify: the setup code is wrong (or the handshake was
    /// tampered with, which is indistinguishable).
    WrongSetupCode,
    /// The peer speaks another protocol version.
    UnsupportedVersion,
    /// A packet could not be decoded, or a share is not a valid point.
    Malformed(WireError),
    /// A record failed authentication, was replayed, reordered or arrived after the sequence
    /// space was used up. No state changed.
    RecordRejected,
    /// The packet or call is not allowed in the session's current phase.
    BadState,
    /// The output buffer is too small. No state changed.
    BufferTooSmall,
    /// The send sequence number reached `u32::MAX`: start a new session.
    SequenceExhausted,
    /// The peer sent an `Alert` with this code.
    Peer(PairError),
    /// The crypto provider failed.
    Crypto(CryptoError),
}

impl From<WireError> for SessionError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::UnsupportedVersion(_) => SessionError::UnsupportedVersion,
            WireError::BufferTooSmall => SessionError::BufferTooSmall,
            other => SessionError::Malformed(other),
        }
    }
}

impl From<CryptoError> for SessionError {
    fn from(e: CryptoError) -> Self {
        SessionError::Crypto(e)
    }
}

impl From<Spake2pError> for SessionError {
    fn from(e: Spake2pError) -> Self {
        match e {
            Spake2pError::InvalidShare => SessionError::Malformed(WireError::Malformed),
            Spake2pError::ConfirmationFailed => SessionError::WrongSetupCode,
            Spake2pError::Crypto(c) => SessionError::Crypto(c),
        }
    }
}

impl From<SessionError> for PairError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::WrongSetupCode => PairError::WrongSetupCode,
            SessionError::UnsupportedVersion => PairError::UnsupportedVersion,
            SessionError::Malformed(w) => PairError::from(w),
            SessionError::RecordRejected => PairError::RecordRejected,
            SessionError::BadState => PairError::UnexpectedMessage,
            SessionError::BufferTooSmall | SessionError::SequenceExhausted => {
                PairError::NoResources
            }
            SessionError::Peer(p) => p,
            SessionError::Crypto(_) => PairError::Internal,
        }
    }
}

impl core::fmt::Display for SessionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SessionError::WrongSetupCode => f.write_str("setup code confirmation failed"),
            SessionError::UnsupportedVersion => f.write_str("unsupported protocol version"),
            SessionError::Malformed(w) => write!(f, "malformed packet: {w}"),
            SessionError::RecordRejected => f.write_str("record rejected"),
            SessionError::BadState => f.write_str("not allowed in this session phase"),
            SessionError::BufferTooSmall => f.write_str("output buffer too small"),
            SessionError::SequenceExhausted => f.write_str("record sequence numbers exhausted"),
            SessionError::Peer(p) => write!(f, "peer alert: {p}"),
            SessionError::Crypto(c) => write!(f, "crypto: {c}"),
        }
    }
}

// ------------------------------------------------------------------------------------------
// Packets
// ------------------------------------------------------------------------------------------

/// A decoded `PairRequest` (its version is [`PROTOCOL_VERSION`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairRequest<'a> {
    /// The pairing mode the app uses.
    pub mode: Mode,
    /// SPAKE2+ shareP.
    pub share_p: &'a Point,
}

impl PairRequest<'_> {
    /// Writes the packet ([`PAIR_REQUEST_LEN`] bytes) into `out`; returns its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let out = out.get_mut(..PAIR_REQUEST_LEN).ok_or(WireError::BufferTooSmall)?;
        out[0] = TYPE_PAIR_REQUEST;
        out[1] = PROTOCOL_VERSION;
        out[2] = mode_to_byte(self.mode);
        out[3..].copy_from_slice(self.share_p);
        Ok(PAIR_REQUEST_LEN)
    }
}

/// A decoded `PairResponse` (its version is [`PROTOCOL_VERSION`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairResponse<'a> {
    /// SPAKE2+ shareV.
    pub share_v: &'a Point,
    /// SPAKE2+ confirmV.
    pub confirm_v: &'a Confirmation,
}

impl PairResponse<'_> {
    /// Writes the packet ([`PAIR_RESPONSE_LEN`] bytes) into `out`; returns its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let out = out.get_mut(..PAIR_RESPONSE_LEN).ok_or(WireError::BufferTooSmall)?;
        out[0] = TYPE_PAIR_RESPONSE;
        out[1] = PROTOCOL_VERSION;
        out[2..2 + P256_POINT_LEN].copy_from_slice(self.share_v);
        out[2 + P256_POINT_LEN..].copy_from_slice(self.confirm_v);
        Ok(PAIR_RESPONSE_LEN)
    }
}

/// A decoded `PairConfirm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairConfirm<'a> {
    /// SPAKE2+ confirmP.
    pub confirm_p: &'a Confirmation,
    /// The embedded first record, if any.
    pub record: Option<Record<'a>>,
}

/// A decoded (still encrypted) `Record`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// The sequence number.
    pub seq: u32,
    /// The header bytes (type and seq): the AAD.
    pub header: &'a [u8; RECORD_HEADER_LEN],
    /// The ciphertext (as long as the plaintext).
    pub ciphertext: &'a [u8],
    /// The AES-CCM tag.
    pub tag: &'a [u8; CCM_TAG_LEN],
}

/// A decoded packet, borrowing from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// 0x01, app → device.
    PairRequest(PairRequest<'a>),
    /// 0x02, device → app.
    PairResponse(PairResponse<'a>),
    /// 0x03, app → device.
    PairConfirm(PairConfirm<'a>),
    /// 0x04, both ways.
    Record(Record<'a>),
    /// 0x05, both ways, unauthenticated.
    Alert(PairError),
}

/// Checks that `bytes` is exactly `len` long.
fn exact(bytes: &[u8], len: usize) -> Result<(), WireError> {
    match bytes.len().cmp(&len) {
        core::cmp::Ordering::Less => Err(WireError::Truncated),
        core::cmp::Ordering::Greater => Err(WireError::TrailingBytes),
        core::cmp::Ordering::Equal => Ok(()),
    }
}

/// A fixed-size array reference at `bytes[at..at + N]`.
fn array_at<const N: usize>(bytes: &[u8], at: usize) -> Result<&[u8; N], WireError> {
    let end = at.checked_add(N).ok_or(WireError::Truncated)?;
    bytes.get(at..end).and_then(|s| s.try_into().ok()).ok_or(WireError::Truncated)
}

/// Checks the version byte at offset 1 (before any length check: a newer version may have
/// another layout).
fn check_version(bytes: &[u8]) -> Result<(), WireError> {
    match bytes.get(1) {
        None => Err(WireError::Truncated),
        Some(&PROTOCOL_VERSION) => Ok(()),
        Some(&v) => Err(WireError::UnsupportedVersion(v)),
    }
}

fn parse_record(bytes: &[u8]) -> Result<Record<'_>, WireError> {
    if bytes.first() != Some(&TYPE_RECORD) {
        return Err(bytes.first().map_or(WireError::Truncated, |&t| WireError::UnknownType(t)));
    }
    let (header, rest) = bytes.split_first_chunk().ok_or(WireError::Truncated)?;
    let (ciphertext, tag) = rest.split_last_chunk().ok_or(WireError::Truncated)?;
    if ciphertext.len() > MAX_PLAINTEXT_LEN {
        return Err(WireError::TooLong);
    }
    let [_, a, b, c, d] = *header;
    Ok(Record { seq: u32::from_be_bytes([a, b, c, d]), header, ciphertext, tag })
}

/// Decodes one packet. Never panics; every malformed input yields a typed [`WireError`]:
/// empty input → `Truncated`, unknown type → `UnknownType`, other version in
/// `PairRequest`/`PairResponse` → `UnsupportedVersion`, short → `Truncated`, long →
/// `TrailingBytes` (or `TooLong` for a record above [`MAX_PLAINTEXT_LEN`]), unknown mode or a
/// `PairConfirm` tail that is not a record → `Malformed`.
pub fn parse_packet(bytes: &[u8]) -> Result<Packet<'_>, WireError> {
    let ty = *bytes.first().ok_or(WireError::Truncated)?;
    match ty {
        TYPE_PAIR_REQUEST => {
            check_version(bytes)?;
            exact(bytes, PAIR_REQUEST_LEN)?;
            let mode = bytes.get(2).and_then(|&m| mode_from_byte(m)).ok_or(WireError::Malformed)?;
            Ok(Packet::PairRequest(PairRequest { mode, share_p: array_at(bytes, 3)? }))
        }
        TYPE_PAIR_RESPONSE => {
            check_version(bytes)?;
            exact(bytes, PAIR_RESPONSE_LEN)?;
            Ok(Packet::PairResponse(PairResponse {
                share_v: array_at(bytes, 2)?,
                confirm_v: array_at(bytes, 2 + P256_POINT_LEN)?,
            }))
        }
        TYPE_PAIR_CONFIRM => {
            let confirm_p = array_at(bytes, 1)?;
            let record = match bytes.get(PAIR_CONFIRM_LEN..) {
                None | Some([]) => None,
                Some(tail) => Some(parse_record(tail).map_err(|e| match e {
                    WireError::UnknownType(_) => WireError::Malformed,
                    other => other,
                })?),
            };
            Ok(Packet::PairConfirm(PairConfirm { confirm_p, record }))
        }
        TYPE_RECORD => parse_record(bytes).map(Packet::Record),
        TYPE_ALERT => {
            exact(bytes, ALERT_LEN)?;
            let code = *bytes.get(1).ok_or(WireError::Truncated)?;
            Ok(Packet::Alert(PairError::from_code(code)))
        }
        other => Err(WireError::UnknownType(other)),
    }
}

/// Writes an `Alert` carrying `error` into `out`; returns its length ([`ALERT_LEN`]).
pub fn encode_alert(error: PairError, out: &mut [u8]) -> Result<usize, WireError> {
    let out = out.get_mut(..ALERT_LEN).ok_or(WireError::BufferTooSmall)?;
    out[0] = TYPE_ALERT;
    out[1] = error.code();
    Ok(ALERT_LEN)
}

// ------------------------------------------------------------------------------------------
// Record layer
// ------------------------------------------------------------------------------------------

/// One direction of the record layer.
#[derive(Zeroize)]
struct Direction {
    key: [u8; AES128_KEY_LEN],
    iv: [u8; CCM_NONCE_LEN],
    /// The next sequence number to send / expect.
    seq: u32,
}

impl Direction {
    fn nonce(&self, seq: u32) -> [u8; CCM_NONCE_LEN] {
        // The last 4 bytes, unrolled: 112 B smaller than a loop over them (size report).
        const AT: usize = CCM_NONCE_LEN - 4;
        let mut nonce = self.iv;
        let [a, b, c, d] = seq.to_be_bytes();
        nonce[AT] ^= a;
        nonce[AT + 1] ^= b;
        nonce[AT + 2] ^= c;
        nonce[AT + 3] ^= d;
        nonce
    }
}

/// Both directions' keys, IVs and counters. Wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
struct RecordLayer {
    tx: Direction,
    rx: Direction,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    App,
    Device,
}

impl RecordLayer {
    /// Derives the session keys from `K_shared`.
    fn derive<C: Crypto>(
        crypto: &mut C,
        k_shared: &SharedKey,
        role: Role,
    ) -> Result<Self, SessionError> {
        let mut okm = Zeroizing::new([0u8; SESSION_KEYS_LEN]);
        crypto.hkdf_sha256(&[], k_shared.expose(), SESSION_KEYS_INFO, &mut okm[..])?;
        let mut a2d = Direction { key: [0; 16], iv: [0; 13], seq: 0 };
        let mut d2a = Direction { key: [0; 16], iv: [0; 13], seq: 0 };
        a2d.key.copy_from_slice(&okm[0..16]);
        d2a.key.copy_from_slice(&okm[16..32]);
        a2d.iv.copy_from_slice(&okm[32..45]);
        d2a.iv.copy_from_slice(&okm[45..58]);
        Ok(match role {
            Role::App => RecordLayer { tx: a2d, rx: d2a },
            Role::Device => RecordLayer { tx: d2a, rx: a2d },
        })
    }

    fn seal<C: Crypto>(
        &mut self,
        crypto: &mut C,
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(SessionError::Malformed(WireError::TooLong));
        }
        let total = record_len(plaintext.len());
        let out = out.get_mut(..total).ok_or(SessionError::BufferTooSmall)?;
        let seq = self.tx.seq;
        if seq == u32::MAX {
            return Err(SessionError::SequenceExhausted);
        }
        let (header, rest) = out.split_at_mut(RECORD_HEADER_LEN);
        let (body, tag) = rest.split_at_mut(plaintext.len());
        header[0] = TYPE_RECORD;
        header[1..].copy_from_slice(&seq.to_be_bytes());
        body.copy_from_slice(plaintext);
        let tag: &mut [u8; CCM_TAG_LEN] =
            tag.try_into().map_err(|_| SessionError::BufferTooSmall)?;
        if let Err(e) = crypto.aes128_ccm_seal(&self.tx.key, &self.tx.nonce(seq), header, body, tag)
        {
            body.zeroize();
            return Err(e.into());
        }
        self.tx.seq = seq + 1;
        Ok(total)
    }

    fn open<C: Crypto>(
        &mut self,
        crypto: &mut C,
        record: &Record<'_>,
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        if record.seq != self.rx.seq || record.seq == u32::MAX {
            return Err(SessionError::RecordRejected);
        }
        let len = record.ciphertext.len();
        let buf = out.get_mut(..len).ok_or(SessionError::BufferTooSmall)?;
        buf.copy_from_slice(record.ciphertext);
        let nonce = self.rx.nonce(record.seq);
        match crypto.aes128_ccm_open(&self.rx.key, &nonce, record.header, buf, record.tag) {
            Ok(()) => {
                self.rx.seq = record.seq + 1;
                Ok(len)
            }
            Err(e) => {
                buf.zeroize();
                Err(match e {
                    CryptoError::AuthFailed => SessionError::RecordRejected,
                    other => SessionError::Crypto(other),
                })
            }
        }
    }
}

/// The phase of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Nothing sent or received yet.
    Idle,
    /// Handshake in progress (app: waiting for `PairResponse`; device: for `PairConfirm`).
    Handshaking,
    /// Keys confirmed: records can be sealed and opened.
    Established,
    /// The handshake failed; start a new session.
    Failed,
}

/// Opens a record packet (or reports a peer's alert).
fn open_packet<C: Crypto>(
    crypto: &mut C,
    records: Option<&mut RecordLayer>,
    packet: &[u8],
    out: &mut [u8],
) -> Result<usize, SessionError> {
    let records = records.ok_or(SessionError::BadState)?;
    match parse_packet(packet)? {
        Packet::Record(record) => records.open(crypto, &record, out),
        Packet::Alert(code) => Err(SessionError::Peer(code)),
        _ => Err(SessionError::BadState),
    }
}

// ------------------------------------------------------------------------------------------
// Device side
// ------------------------------------------------------------------------------------------

enum DeviceState {
    Idle,
    AwaitingConfirm(VerifierKeys),
    Established(RecordLayer),
    Failed,
}

/// The device (SPAKE2+ verifier) side of a session. Owns its crypto provider and a copy of the
/// registration record; every key is wiped when it is dropped.
pub struct DeviceSession<C: Crypto> {
    crypto: C,
    verifier: Verifier,
    device: DeviceId,
    mode: Option<Mode>,
    state: DeviceState,
}

impl<C: Crypto> core::fmt::Debug for DeviceSession<C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeviceSession")
            .field("device", &self.device)
            .field("phase", &self.phase())
            .finish_non_exhaustive()
    }
}

impl<C: Crypto> DeviceSession<C> {
    /// A session for `device`, checking setup codes against `verifier`. Computes the
    /// verifier's constant points `w0*M`, `w0*N` once, here ([`Verifier::precompute`]); should
    /// the provider fail now, every handshake computes them instead.
    pub fn new(mut crypto: C, mut verifier: Verifier, device: DeviceId) -> Self {
        let _ = verifier.precompute(&mut crypto);
        DeviceSession { crypto, verifier, device, mode: None, state: DeviceState::Idle }
    }

    /// The phase.
    pub fn phase(&self) -> Phase {
        match self.state {
            DeviceState::Idle => Phase::Idle,
            DeviceState::AwaitingConfirm(_) => Phase::Handshaking,
            DeviceState::Established(_) => Phase::Established,
            DeviceState::Failed => Phase::Failed,
        }
    }

    /// The mode of the handshake in progress or established (from the last accepted
    /// `PairRequest`; it is bound into the SPAKE2+ context, so an established session proves
    /// both sides agreed on it).
    pub fn mode(&self) -> Option<Mode> {
        self.mode
    }

    /// The crypto provider.
    pub fn crypto_mut(&mut self) -> &mut C {
        &mut self.crypto
    }

    /// Drops all keys and returns to [`Phase::Idle`].
    pub fn reset(&mut self) {
        self.state = DeviceState::Idle;
        self.mode = None;
    }

    /// Handles a `PairRequest` and writes the `PairResponse` ([`PAIR_RESPONSE_LEN`] bytes)
    /// into `out`; returns its length.
    ///
    /// Allowed when idle or while waiting for a `PairConfirm` (a retransmitted or new request
    /// restarts the handshake; the caller counts attempts). Errors: `BadState` once
    /// established or failed, or for another packet type; `Peer` for an alert;
    /// `UnsupportedVersion`; `Malformed` (also for an invalid shareP); `BufferTooSmall`. A
    /// rejected request leaves the session as it was, except that an invalid shareP ends it.
    pub fn handle_pair_request(
        &mut self,
        packet: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        if !matches!(self.state, DeviceState::Idle | DeviceState::AwaitingConfirm(_)) {
            return Err(SessionError::BadState);
        }
        match parse_packet(packet)? {
            Packet::PairRequest(r) => self.pair_request(&r, out),
            Packet::Alert(code) => Err(SessionError::Peer(code)),
            _ => Err(SessionError::BadState),
        }
    }

    /// [`DeviceSession::handle_pair_request`] for a request the caller already parsed (the
    /// device engine parses each packet once).
    pub(crate) fn pair_request(
        &mut self,
        request: &PairRequest<'_>,
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        if !matches!(self.state, DeviceState::Idle | DeviceState::AwaitingConfirm(_)) {
            return Err(SessionError::BadState);
        }
        let out = out.get_mut(..PAIR_RESPONSE_LEN).ok_or(SessionError::BufferTooSmall)?;
        let context = spake2p_context(self.device, request.mode);
        let id_verifier = spake2p_id_verifier(self.device);
        let ids = Identities { context: &context, id_prover: &[], id_verifier: &id_verifier };
        // The keys are computed straight into the state, and the response is written from there.
        self.state = DeviceState::AwaitingConfirm(VerifierKeys::EMPTY);
        let DeviceState::AwaitingConfirm(keys) = &mut self.state else {
            return Err(SessionError::BadState);
        };
        if let Err(e) = keys.respond_in_place(&mut self.crypto, &self.verifier, &ids, request.share_p) {
            // (This wipes what was computed.)
            self.state = DeviceState::Failed;
            return Err(e.into());
        }
        self.mode = Some(request.mode);
        // `out` has the response's length: encoding cannot fail.
        Ok(PairResponse { share_v: keys.share(), confirm_v: keys.confirm_v() }.encode(out)?)
    }

    /// Handles a `PairConfirm`. On success the session is established and, if the packet
    /// carried a first record, its plaintext is written to `out` and its length returned.
    ///
    /// Errors: `WrongSetupCode` (the session is then [`Phase::Failed`]); `RecordRejected` if
    /// the keys were confirmed but the embedded record does not open (the session stays
    /// established, expecting record 0); `BadState` when not waiting for a confirmation or for
    /// another packet type; `Peer` for an alert (the handshake is abandoned); `Malformed` and
    /// `BufferTooSmall` (`out` shorter than the embedded record's ciphertext) leave the session
    /// unchanged.
    pub fn handle_pair_confirm(
        &mut self,
        packet: &[u8],
        out: &mut [u8],
    ) -> Result<Option<usize>, SessionError> {
        if !matches!(self.state, DeviceState::AwaitingConfirm(_)) {
            return Err(SessionError::BadState);
        }
        match parse_packet(packet)? {
            Packet::PairConfirm(c) => self.pair_confirm(&c, out),
            Packet::Alert(code) => {
                self.state = DeviceState::Failed;
                Err(SessionError::Peer(code))
            }
            _ => Err(SessionError::BadState),
        }
    }

    /// [`DeviceSession::handle_pair_confirm`] for a confirmation the caller already parsed.
    pub(crate) fn pair_confirm(
        &mut self,
        confirm: &PairConfirm<'_>,
        out: &mut [u8],
    ) -> Result<Option<usize>, SessionError> {
        if !matches!(self.state, DeviceState::AwaitingConfirm(_)) {
            return Err(SessionError::BadState);
        }
        if let Some(record) = &confirm.record {
            if out.len() < record.ciphertext.len() {
                return Err(SessionError::BufferTooSmall);
            }
        }
        let DeviceState::AwaitingConfirm(keys) = &self.state else {
            return Err(SessionError::BadState);
        };
        let records = match keys.check(confirm.confirm_p) {
            Some(k_shared) => RecordLayer::derive(&mut self.crypto, k_shared, Role::Device),
            None => Err(SessionError::WrongSetupCode),
        };
        // Replacing the state wipes the handshake keys, whatever the outcome.
        match records {
            Ok(records) => self.state = DeviceState::Established(records),
            Err(e) => {
                self.state = DeviceState::Failed;
                return Err(e);
            }
        }
        match &confirm.record {
            Some(record) => self.open_record(record, out).map(Some),
            None => Ok(None),
        }
    }

    /// Seals `plaintext` into a `Record` packet in `out` ([`record_len`] bytes); returns its
    /// length. `BadState` unless established.
    pub fn seal(&mut self, plaintext: &[u8], out: &mut [u8]) -> Result<usize, SessionError> {
        match &mut self.state {
            DeviceState::Established(records) => records.seal(&mut self.crypto, plaintext, out),
            _ => Err(SessionError::BadState),
        }
    }

    /// Opens a `Record` packet into `out`; returns the plaintext length. A rejected record
    /// changes nothing (and leaves `out` zeroed where the plaintext would have been).
    /// `Peer` if the packet is an alert; `BadState` unless established.
    pub fn open(&mut self, packet: &[u8], out: &mut [u8]) -> Result<usize, SessionError> {
        let records = match &mut self.state {
            DeviceState::Established(records) => Some(records),
            _ => None,
        };
        open_packet(&mut self.crypto, records, packet, out)
    }

    /// [`DeviceSession::open`] for a record the caller already parsed.
    pub(crate) fn open_record(
        &mut self,
        record: &Record<'_>,
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        match &mut self.state {
            DeviceState::Established(records) => records.open(&mut self.crypto, record, out),
            _ => Err(SessionError::BadState),
        }
    }
}

// ------------------------------------------------------------------------------------------
// App side
// ------------------------------------------------------------------------------------------

enum AppState {
    Idle,
    AwaitingResponse { prover: Prover, device: DeviceId, mode: Mode },
    Established(RecordLayer),
    Failed,
}

/// The app (SPAKE2+ prover) side of a session. Owns its crypto provider; every key is wiped
/// when it is dropped.
pub struct AppSession<C: Crypto> {
    crypto: C,
    state: AppState,
}

impl<C: Crypto> core::fmt::Debug for AppSession<C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AppSession").field("phase", &self.phase()).finish_non_exhaustive()
    }
}

impl<C: Crypto> AppSession<C> {
    /// An idle session.
    pub fn new(crypto: C) -> Self {
        AppSession { crypto, state: AppState::Idle }
    }

    /// The phase.
    pub fn phase(&self) -> Phase {
        match self.state {
            AppState::Idle => Phase::Idle,
            AppState::AwaitingResponse { .. } => Phase::Handshaking,
            AppState::Established(_) => Phase::Established,
            AppState::Failed => Phase::Failed,
        }
    }

    /// The crypto provider.
    pub fn crypto_mut(&mut self) -> &mut C {
        &mut self.crypto
    }

    /// Starts (or restarts) a handshake with `device` in `mode` from the setup code (derives
    /// `w0`, `w1` with PBKDF2, see [`Secrets::for_setup_code`]) and writes the `PairRequest`
    /// ([`PAIR_REQUEST_LEN`] bytes) into `out`; returns its length.
    pub fn start_with_setup_code(
        &mut self,
        code: &SetupCode,
        device: DeviceId,
        mode: Mode,
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        if out.len() < PAIR_REQUEST_LEN {
            return Err(SessionError::BufferTooSmall);
        }
        let secrets = Secrets::for_setup_code(&mut self.crypto, code, device)?;
        self.start(&secrets, device, mode, out)
    }

    /// Starts (or restarts) a handshake from already derived secrets and writes the
    /// `PairRequest` into `out`; returns its length.
    pub fn start(
        &mut self,
        secrets: &Secrets,
        device: DeviceId,
        mode: Mode,
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        let out = out.get_mut(..PAIR_REQUEST_LEN).ok_or(SessionError::BufferTooSmall)?;
        let prover = Prover::start(&mut self.crypto, secrets)?;
        let len = PairRequest { mode, share_p: prover.share() }.encode(out)?;
        self.state = AppState::AwaitingResponse { prover, device, mode };
        Ok(len)
    }

    /// Handles the device's `PairResponse`: checks `confirmV` and writes the `PairConfirm`
    /// into `out` ([`pair_confirm_len`] bytes), sealing `first_message` into it as record 0
    /// when given. Returns its length; the session is then established.
    ///
    /// Errors: `WrongSetupCode` when `confirmV` does not verify (send
    /// `Alert(WrongSetupCode)` to the device); `Peer` when the device answered with an
    /// alert; `UnsupportedVersion`; `Malformed` (an invalid shareV ends the session, a
    /// malformed packet does not); `BadState`; `BufferTooSmall` (nothing changes).
    pub fn handle_pair_response(
        &mut self,
        packet: &[u8],
        first_message: Option<&[u8]>,
        out: &mut [u8],
    ) -> Result<usize, SessionError> {
        if !matches!(self.state, AppState::AwaitingResponse { .. }) {
            return Err(SessionError::BadState);
        }
        let response = match parse_packet(packet)? {
            Packet::PairResponse(r) => r,
            Packet::Alert(code) => {
                self.state = AppState::Failed;
                return Err(SessionError::Peer(code));
            }
            _ => return Err(SessionError::BadState),
        };
        let first_len = first_message.map(<[u8]>::len);
        if first_len.is_some_and(|n| n > MAX_PLAINTEXT_LEN) {
            return Err(SessionError::Malformed(WireError::TooLong));
        }
        let total = pair_confirm_len(first_len);
        let out = out.get_mut(..total).ok_or(SessionError::BufferTooSmall)?;
        let AppState::AwaitingResponse { prover, device, mode } =
            core::mem::replace(&mut self.state, AppState::Failed)
        else {
            return Err(SessionError::BadState);
        };
        let context = spake2p_context(device, mode);
        let id_verifier = spake2p_id_verifier(device);
        let ids = Identities { context: &context, id_prover: &[], id_verifier: &id_verifier };
        let keys = prover.finish(&mut self.crypto, &ids, response.share_v)?;
        let confirm_p = *keys.confirm_p();
        let k_shared = keys.verify(response.confirm_v)?;
        let mut records = RecordLayer::derive(&mut self.crypto, &k_shared, Role::App)?;
        let (head, tail) = out.split_at_mut(PAIR_CONFIRM_LEN);
        head[0] = TYPE_PAIR_CONFIRM;
        head[1..].copy_from_slice(&confirm_p);
        if let Some(message) = first_message {
            records.seal(&mut self.crypto, message, tail)?;
        }
        self.state = AppState::Established(records);
        Ok(total)
    }

    /// Seals `plaintext` into a `Record` packet in `out`; returns its length.
    pub fn seal(&mut self, plaintext: &[u8], out: &mut [u8]) -> Result<usize, SessionError> {
        match &mut self.state {
            AppState::Established(records) => records.seal(&mut self.crypto, plaintext, out),
            _ => Err(SessionError::BadState),
        }
    }

    /// Opens a `Record` packet into `out`; returns the plaintext length. A rejected record
    /// changes nothing. `Peer` if the packet is an alert; `BadState` unless established.
    pub fn open(&mut self, packet: &[u8], out: &mut [u8]) -> Result<usize, SessionError> {
        let records = match &mut self.state {
            AppState::Established(records) => Some(records),
            _ => None,
        };
        open_packet(&mut self.crypto, records, packet, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    const SHARE: Point = [7; P256_POINT_LEN];
    const TAG: Confirmation = [9; CONFIRM_LEN];

    fn record_bytes(seq: u32, ct_len: usize) -> Vec<u8> {
        let mut v = std::vec![TYPE_RECORD];
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend(core::iter::repeat_n(0xab, ct_len));
        v.extend_from_slice(&[0xcd; 16]);
        v
    }

    #[test]
    fn flight_sizes() {
        assert_eq!(PAIR_REQUEST_LEN, 68);
        assert_eq!(PAIR_RESPONSE_LEN, 99);
        assert_eq!(PAIR_CONFIRM_LEN, 33);
        assert_eq!(pair_confirm_len(Some(100)), 33 + 21 + 100);
        assert_eq!(record_len(0), 21);
        assert_eq!(ALERT_LEN, 2);
    }

    #[test]
    fn request_round_trip_and_errors() {
        let mut buf = [0u8; PAIR_REQUEST_LEN];
        for mode in [Mode::SoftAp, Mode::Ble, Mode::Wired, Mode::Cellular] {
            let req = PairRequest { mode, share_p: &SHARE };
            assert_eq!(req.encode(&mut buf), Ok(68));
            assert_eq!(parse_packet(&buf), Ok(Packet::PairRequest(req)));
        }
        assert_eq!(buf[..3], [1, 1, 3]);
        assert_eq!(parse_packet(&buf[..67]), Err(WireError::Truncated));
        let mut long = buf.to_vec();
        long.push(0);
        assert_eq!(parse_packet(&long), Err(WireError::TrailingBytes));
        let mut bad_mode = buf;
        bad_mode[2] = 4;
        assert_eq!(parse_packet(&bad_mode), Err(WireError::Malformed));
        // A future version is reported as such whatever its length.
        assert_eq!(parse_packet(&[1, 2]), Err(WireError::UnsupportedVersion(2)));
        assert_eq!(parse_packet(&[1]), Err(WireError::Truncated));
        assert_eq!(
            PairRequest { mode: Mode::Ble, share_p: &SHARE }.encode(&mut [0; 67]),
            Err(WireError::BufferTooSmall)
        );
    }

    #[test]
    fn response_round_trip() {
        let mut buf = [0u8; PAIR_RESPONSE_LEN];
        let resp = PairResponse { share_v: &SHARE, confirm_v: &TAG };
        assert_eq!(resp.encode(&mut buf), Ok(99));
        assert_eq!(parse_packet(&buf), Ok(Packet::PairResponse(resp)));
        assert_eq!(parse_packet(&buf[..98]), Err(WireError::Truncated));
        assert_eq!(parse_packet(&[2, 0, 1]), Err(WireError::UnsupportedVersion(0)));
    }

    #[test]
    fn confirm_with_and_without_record() {
        let mut buf = std::vec![TYPE_PAIR_CONFIRM];
        buf.extend_from_slice(&TAG);
        assert_eq!(
            parse_packet(&buf),
            Ok(Packet::PairConfirm(PairConfirm { confirm_p: &TAG, record: None }))
        );
        assert_eq!(parse_packet(&buf[..32]), Err(WireError::Truncated));
        let rec = record_bytes(0, 3);
        buf.extend_from_slice(&rec);
        let Ok(Packet::PairConfirm(PairConfirm { record: Some(r), .. })) = parse_packet(&buf)
        else {
            panic!("expected a confirm with a record");
        };
        assert_eq!((r.seq, r.ciphertext, r.header[0]), (0, &[0xab; 3][..], TYPE_RECORD));
        // A tail that is not a record.
        let mut bad = buf[..33].to_vec();
        bad.extend_from_slice(&[5, 0x12]);
        assert_eq!(parse_packet(&bad), Err(WireError::Malformed));
        let mut short = buf[..33].to_vec();
        short.extend_from_slice(&rec[..20]);
        assert_eq!(parse_packet(&short), Err(WireError::Truncated));
    }

    #[test]
    fn records_and_alerts() {
        let rec = record_bytes(0x0102_0304, 0);
        let Ok(Packet::Record(r)) = parse_packet(&rec) else { panic!("record") };
        assert_eq!(r.seq, 0x0102_0304);
        assert_eq!(r.header, &[4, 1, 2, 3, 4]);
        assert!(r.ciphertext.is_empty());
        assert_eq!(parse_packet(&rec[..20]), Err(WireError::Truncated));
        let huge = record_bytes(0, MAX_PLAINTEXT_LEN + 1);
        assert_eq!(parse_packet(&huge), Err(WireError::TooLong));
        assert!(parse_packet(&record_bytes(0, MAX_PLAINTEXT_LEN)).is_ok());

        let mut a = [0u8; 2];
        assert_eq!(encode_alert(PairError::LockedOut, &mut a), Ok(2));
        assert_eq!(a, [5, 0x13]);
        assert_eq!(parse_packet(&a), Ok(Packet::Alert(PairError::LockedOut)));
        assert_eq!(parse_packet(&[5, 0xee]), Ok(Packet::Alert(PairError::Unknown(0xee))));
        assert_eq!(parse_packet(&[5]), Err(WireError::Truncated));
        assert_eq!(parse_packet(&[5, 1, 2]), Err(WireError::TrailingBytes));
        assert_eq!(parse_packet(&[]), Err(WireError::Truncated));
        assert_eq!(parse_packet(&[0]), Err(WireError::UnknownType(0)));
        assert_eq!(parse_packet(&[6, 1]), Err(WireError::UnknownType(6)));
    }

    #[test]
    fn nonce_is_iv_xor_seq() {
        let d = Direction { key: [0; 16], iv: [0xff; 13], seq: 0 };
        let n = d.nonce(0x0102_0304);
        assert_eq!(n[..9], [0xff; 9]);
        assert_eq!(n[9..], [0xfe, 0xfd, 0xfc, 0xfb]);
        assert_eq!(d.nonce(0), [0xff; 13]);
    }

    #[test]
    fn context_layout_and_error_mapping() {
        let ctx = spake2p_context(DeviceId(0x1122_3344_5566_7788), Mode::Wired);
        assert_eq!(&ctx[..], b"zpair/1\x11\x22\x33\x44\x55\x66\x77\x88\x02");
        for b in 0..=255u8 {
            if let Some(m) = mode_from_byte(b) {
                assert_eq!(mode_to_byte(m), b);
            } else {
                assert!(b > 3);
            }
        }
        assert_eq!(PairError::from(SessionError::WrongSetupCode), PairError::WrongSetupCode);
        assert_eq!(PairError::from(SessionError::BadState), PairError::UnexpectedMessage);
        assert_eq!(PairError::from(SessionError::RecordRejected), PairError::RecordRejected);
        assert_eq!(
            PairError::from(SessionError::Malformed(WireError::Truncated)),
            PairError::MalformedMessage
        );
        assert_eq!(PairError::from(SessionError::Peer(PairError::Busy)), PairError::Busy);
        assert_eq!(
            SessionError::from(WireError::UnsupportedVersion(3)),
            SessionError::UnsupportedVersion
        );
    }

    #[test]
    fn sequence_numbers_stop_before_wrapping() {
        let mut c = zpair_mbedtls::MbedTls::os();
        let layer = |seq| RecordLayer {
            tx: Direction { key: [1; 16], iv: [2; 13], seq },
            rx: Direction { key: [1; 16], iv: [2; 13], seq },
        };
        let mut l = layer(u32::MAX - 1);
        let mut out = [0u8; 32];
        assert_eq!(l.seal(&mut c, b"last", &mut out), Ok(25));
        assert_eq!(&out[1..5], &(u32::MAX - 1).to_be_bytes());
        // The receiver (same keys here) accepts the last one ...
        let rec = out;
        let Ok(Packet::Record(r)) = parse_packet(&rec[..25]) else { panic!("record") };
        let mut plain = [0u8; 4];
        assert_eq!(l.open(&mut c, &r, &mut plain), Ok(4));
        assert_eq!(&plain, b"last");
        // ... and then nothing: the sender refuses, the receiver rejects seq = u32::MAX.
        assert_eq!(l.seal(&mut c, b"more", &mut out), Err(SessionError::SequenceExhausted));
        assert_eq!(l.tx.seq, u32::MAX);
        let mut forged = rec;
        forged[1..5].copy_from_slice(&u32::MAX.to_be_bytes());
        let Ok(Packet::Record(r)) = parse_packet(&forged[..25]) else { panic!("record") };
        assert_eq!(l.open(&mut c, &r, &mut plain), Err(SessionError::RecordRejected));
        assert_eq!(PairError::from(SessionError::SequenceExhausted), PairError::NoResources);
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_packet(&bytes);
        }

        #[test]
        fn parse_typed_prefixes_never_panic(
            ty in 0u8..8,
            version in prop_oneof![Just(PROTOCOL_VERSION), any::<u8>()],
            rest in proptest::collection::vec(any::<u8>(), 0..160),
        ) {
            let mut bytes = std::vec![ty, version];
            bytes.extend_from_slice(&rest);
            match parse_packet(&bytes) {
                Ok(Packet::PairRequest(_)) => prop_assert_eq!(bytes.len(), PAIR_REQUEST_LEN),
                Ok(Packet::PairResponse(_)) => prop_assert_eq!(bytes.len(), PAIR_RESPONSE_LEN),
                Ok(Packet::Alert(_)) => prop_assert_eq!(bytes.len(), ALERT_LEN),
                Ok(Packet::Record(r)) => prop_assert_eq!(bytes.len(), record_len(r.ciphertext.len())),
                Ok(Packet::PairConfirm(c)) => prop_assert_eq!(
                    bytes.len(),
                    pair_confirm_len(c.record.map(|r| r.ciphertext.len()))
                ),
                Err(_) => {}
            }
        }

        #[test]
        fn record_round_trip(seq in any::<u32>(), ct in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut bytes = std::vec![TYPE_RECORD];
            bytes.extend_from_slice(&seq.to_be_bytes());
            bytes.extend_from_slice(&ct);
            bytes.extend_from_slice(&[1; 16]);
            let Ok(Packet::Record(r)) = parse_packet(&bytes) else {
                return Err(TestCaseError::fail("not a record"));
            };
            prop_assert_eq!(r.seq, seq);
            prop_assert_eq!(r.ciphertext, &ct[..]);
        }
    }
}
