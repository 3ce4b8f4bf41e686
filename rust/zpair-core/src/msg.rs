//! Application messages and their CBOR codec.
//!
//! These travel encrypted inside session records, except the wired-mode [`Announce`], which is
//! a plaintext UDP datagram. Types are split by direction, [`AppToDevice`] and
//! [`DeviceToApp`], so each side decodes only what it may receive; [`Message`] covers both (for
//! tools, logs and fuzzing).
//!
//! Decoding yields validated domain values ([`crate::types`]): a decoded message is always
//! valid, and a field that is well-formed CBOR but an invalid value is
//! `WireError::Invalid(PairError::…)` with the precise reason (`InvalidSsid`,
//! `InvalidPassphrase`, `UnsupportedSecurity`, `InvalidToken`, `InvalidEndpoint`). Messages own
//! their data (heapless copies; secrets are wiped on drop), so the input buffer — which held
//! decrypted secrets — can be wiped and reused right after decoding.
//!
//! # Wire format
//!
//! Every message is a CBOR array of two items, a type code and a body map with small unsigned
//! integer keys (CDDL):
//!
//! ```text
//! message = [type: uint, body: { * uint => any }]
//! ```
//!
//! | type | direction | message | body keys |
//! |------|-----------|---------|-----------|
//! | 0x01 | app→device | `GetDeviceInfo` | — |
//! | 0x02 | app→device | [`ScanRequest`] | `? 0: ssid bstr` |
//! | 0x03 | app→device | [`Provision`] | `? 0: wifi, ? 1: token tstr, ? 2: endpoint, ? 3: commit_deadline_s, ? 4: unix_time_s` |
//! | 0x04 | app→device | `GetStatus` | — |
//! | 0x05 | app→device | `Abort` | — |
//! | 0x06 | app→device | `Reset` | `0: kind (0 network only, 1 factory)` |
//! | 0x07 | app→device | `Ack` | — |
//! | 0x11 | device→app | [`DeviceInfo`] | `0: protocol_version, 1: product, 2: device, 3: modes, 4: [major, minor, patch], 5: capabilities` |
//! | 0x12 | device→app | [`ScanResults`] | `0: [* {0: ssid, 1: bssid, 2: rssi, 3: channel, ? 4: security}], ? 1: more` |
//! | 0x13 | device→app | [`Status`] | `0: state, ? 1: error, ? 2: attempt, ? 3: detail` |
//! | 0x14 | device→app | [`PairingReport`] | `0: state, ? 1: error, ? 2: attempts, ? 3: detail, ? 4: {* step => ms}, ? 5: ipv4, ? 6: cloud_device_id` |
//! | 0x15 | device→app | [`Announce`] | `0: "zpair", 1: protocol_version, 2: product, 3: device, 4: modes, 5: port, ? 6: window_open, 7: state` |
//!
//! Each type's documentation has its exact body. Codes `0x01..=0x0f` are app→device,
//! `0x10..=0x1f` device→app.
//!
//! # Decoding rules
//!
//! - Only definite-length items; no tags, floats, `undefined` or other simple values.
//! - The input must be exactly one message: bytes after it are `TrailingBytes`.
//! - Map keys are unsigned integers `0..=63`, in any order, each at most once (a duplicate,
//!   negative, text or larger key is `Malformed`; a map with more than 64 entries `TooLong`).
//! - **Forward compatibility**: unknown keys are ignored (their values are skipped, but must
//!   follow the same rules and nest at most four levels deep); unknown [`PairError`],
//!   [`PairState`] and capability codes are kept as "unknown"; unknown [`Modes`](crate::types::Modes)
//!   bits are dropped, unknown [`Step`]s ignored, unknown scan security types read as `None`.
//!   Unknown message *types* are `UnknownType`.
//! - Known keys are validated: a missing required key or a value of the wrong CBOR type is
//!   `Malformed`, a list longer than its bound `TooLong`, a bad value `Invalid(reason)`.
//! - Optional fields are omitted when absent; fields with a default (`false`, `0`, the empty
//!   passphrase of an open network) are omitted by the encoder when they have it and take it
//!   when absent. Integers may use any CBOR width (the encoder always uses the shortest).
//! - Running out of input anywhere is `Truncated`; decoding never panics, never allocates and
//!   takes time linear in the input.
//!
//! # Sizes
//!
//! [`APP_TO_DEVICE_MAX_LEN`] (248 bytes, a Provision with every field at its maximum) and
//! [`DEVICE_TO_APP_MAX_LEN`] (839 bytes, a page of 16 scan entries with 32-byte SSIDs) bound
//! every encoding, so buffers can be sized statically; [`ScanResults::try_push`] fills a page up
//! to a smaller limit. Typical sizes: a SoftAP/BLE Provision (10-byte SSID, 12-byte passphrase,
//! 16-byte token, region only) is 57 bytes, a Status 5 to 12 bytes, an Announce 36 bytes.
//!
//! A device sends with the structs' own `encode` ([`Status::encode`], …), which avoids building
//! a [`DeviceToApp`] (912 bytes on the stack, because of the scan page).

mod app;
pub(crate) mod cbor;
#[cfg(test)]
mod cbor_reference;
mod device;

pub use app::{AppToDevice, Provision, ResetKind, ScanRequest};
pub use device::{
    Announce, Capabilities, CloudDeviceId, DeviceInfo, DeviceToApp, FirmwareVersion, PairState,
    PairingReport, ScanEntry, ScanResults, Status, Step, StepTimes, ANNOUNCE_MAGIC, CLOUD_ID_MAX,
    SCAN_ENTRIES_MAX, STEP_COUNT,
};

use crate::error::{PairError, WireError};
use cbor::Reader;

/// The largest encoding of an app→device message ([`AppToDevice::MAX_ENCODED_LEN`]).
pub const APP_TO_DEVICE_MAX_LEN: usize = AppToDevice::MAX_ENCODED_LEN;
/// The largest encoding of a device→app message ([`DeviceToApp::MAX_ENCODED_LEN`]).
pub const DEVICE_TO_APP_MAX_LEN: usize = DeviceToApp::MAX_ENCODED_LEN;
/// The largest encoding of any message.
pub const MESSAGE_MAX_LEN: usize = cbor::max(APP_TO_DEVICE_MAX_LEN, DEVICE_TO_APP_MAX_LEN);

/// Any message, either direction.
#[allow(clippy::large_enum_variant)] // see `DeviceToApp`
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// From the app to the device.
    App(AppToDevice),
    /// From the device to the app.
    Device(DeviceToApp),
}

impl From<AppToDevice> for Message {
    fn from(m: AppToDevice) -> Self {
        Message::App(m)
    }
}

impl From<DeviceToApp> for Message {
    fn from(m: DeviceToApp) -> Self {
        Message::Device(m)
    }
}

impl Message {
    /// The type code on the wire.
    pub const fn type_code(&self) -> u8 {
        match self {
            Message::App(m) => m.type_code(),
            Message::Device(m) => m.type_code(),
        }
    }

    /// A short `snake_case` name for logs.
    pub const fn name(&self) -> &'static str {
        match self {
            Message::App(m) => m.name(),
            Message::Device(m) => m.name(),
        }
    }

    /// Checks the fields the types cannot enforce on their own (see [`Provision::validate`]).
    pub fn validate(&self) -> Result<(), PairError> {
        match self {
            Message::App(m) => m.validate(),
            Message::Device(_) => Ok(()),
        }
    }

    /// Encodes into `buf`; see [`encode`].
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        match self {
            Message::App(m) => m.encode(buf),
            Message::Device(m) => m.encode(buf),
        }
    }

    /// The exact encoded length.
    pub fn encoded_len(&self) -> usize {
        match self {
            Message::App(m) => m.encoded_len(),
            Message::Device(m) => m.encoded_len(),
        }
    }

    /// Decodes; see [`decode`].
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        decode(bytes)
    }
}

/// Encodes `msg` into `buf`, returning the number of bytes written.
///
/// Errors: `BufferTooSmall` if it does not fit (the written prefix is then wiped, as it may
/// hold secrets); `Invalid(reason)` if the message fails [`Message::validate`] (public fields
/// set by hand), so that nothing is sent that the peer would reject.
pub fn encode(msg: &Message, buf: &mut [u8]) -> Result<usize, WireError> {
    msg.encode(buf)
}

/// Decodes exactly one message of either direction from `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
    let mut r = Reader::new(bytes);
    let m = decode_in(&mut r);
    r.result(m)
}

/// The body of [`decode`].
fn decode_in(r: &mut Reader<'_>) -> Option<Message> {
    let t = decode_type(r)?;
    let m = if AppToDevice::is_type_code(t) {
        Message::App(AppToDevice::decode_body(t, r)?)
    } else if DeviceToApp::is_type_code(t) {
        Message::Device(DeviceToApp::decode_body(t, r)?)
    } else {
        return r.fail(WireError::UnknownType(t));
    };
    r.finish()?;
    Some(m)
}

/// Reads the envelope's array header and type code.
fn decode_type(r: &mut Reader<'_>) -> Option<u8> {
    let n = r.array(usize::MAX)?;
    r.ensure(n == 2)?;
    r.u8()
}

#[cfg(test)]
mod tests;
