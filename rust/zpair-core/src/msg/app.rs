//! Messages the app sends to the device.

use super::cbor::{self, count, head_len, kv_uint, str_len, Reader, Writer};
use crate::error::{PairError, WireError};
use crate::types::{
    ActivationToken, Bssid, CloudEndpoint, Passphrase, Security, Ssid, WifiCredentials, HOST_MAX,
    PASSPHRASE_MAX, SSID_MAX, TOKEN_MAX,
};

/// Asks for a Wi-Fi scan. The device answers with one or more
/// [`ScanResults`](super::ScanResults).
///
/// Body: `{ ? 0: ssid bstr }`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScanRequest {
    /// Probe for this SSID too (finds hidden networks); `None` scans passively for all.
    pub ssid: Option<Ssid>,
}

impl ScanRequest {
    pub(crate) const MAX_BODY_LEN: usize = 1 + 1 + str_len(SSID_MAX);

    pub(crate) fn encode_body(&self, e: &mut Writer<'_>) {
        e.map(count(&[self.ssid.is_some()]));
        if let Some(ssid) = &self.ssid {
            e.u8(0).bytes(ssid.as_bytes());
        }
    }

    #[inline(never)]
    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Option<Self> {
        let mut ssid = None;
        let mut f = r.map()?;
        while let Some(k) = f.next(r)? {
            match k {
                0 => {
                    let b = r.bytes()?;
                    ssid = Some(r.valid(Ssid::new(b))?);
                }
                _ => r.skip()?,
            }
        }
        Some(ScanRequest { ssid })
    }
}

/// Everything a mode needs to pair, in one message: SoftAP and BLE send `wifi` and `token`,
/// wired sends `token` only. Which fields a mode requires is the state machine's business
/// ([`PairError::MissingCredentials`]); the codec only guarantees that every field present is
/// valid.
///
/// `Debug` never shows the passphrase or the token.
///
/// Body:
/// ```text
/// { ? 0: wifi, ? 1: token tstr, ? 2: endpoint, ? 3: commit_deadline_s uint, ? 4: unix_time_s uint }
/// wifi     = { 0: ssid bstr, 1: security uint, ? 2: passphrase tstr, ? 3: hidden bool,
///              ? 4: bssid bstr .size 6, ? 5: channel uint }
/// endpoint = { 0: region tstr .size 2, ? 1: host tstr, ? 2: port uint }
/// ```
/// `passphrase` is omitted for open networks, `hidden` when false, `port` when 0.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Provision {
    /// The Wi-Fi network to join (SoftAP, BLE).
    pub wifi: Option<WifiCredentials>,
    /// The single-use activation token from the cloud.
    pub token: Option<ActivationToken>,
    /// Where to activate; `None` uses the device's configured default.
    pub endpoint: Option<CloudEndpoint>,
    /// Seconds the device has to reach the cloud before it rolls back to its previous network
    /// configuration; `None` uses the device's default.
    pub commit_deadline_s: Option<u16>,
    /// The app's wall-clock time (seconds since the Unix epoch), so that a device without a
    /// real-time clock can check the cloud certificate's validity period before NTP runs.
    pub unix_time_s: Option<u64>,
}

const WIFI_MAX_LEN: usize = 1
    + (1 + str_len(SSID_MAX))
    + (1 + 1)
    + (1 + str_len(PASSPHRASE_MAX))
    + (1 + 1)
    + (1 + str_len(6))
    + (1 + head_len(u8::MAX as u64));

const ENDPOINT_MAX_LEN: usize =
    1 + (1 + str_len(2)) + (1 + str_len(HOST_MAX)) + (1 + head_len(u16::MAX as u64));

fn check_endpoint(ep: &CloudEndpoint) -> Result<(), PairError> {
    CloudEndpoint::new(&ep.region, ep.host.as_deref(), ep.port).map(|_| ())
}

fn encode_wifi(w: &WifiCredentials, e: &mut Writer<'_>) {
    let has_pass = !w.passphrase.is_empty();
    e.map(2 + count(&[has_pass, w.hidden, w.bssid.is_some(), w.channel.is_some()]));
    e.u8(0).bytes(w.ssid.as_bytes());
    kv_uint(e, 1, w.security.code().into());
    if has_pass {
        // Passphrases are printable ASCII, hence valid UTF-8.
        let text = core::str::from_utf8(w.passphrase.expose()).unwrap_or_default();
        e.u8(2).str(text);
    }
    if w.hidden {
        e.u8(3).bool(true);
    }
    if let Some(b) = &w.bssid {
        e.u8(4).bytes(&b.0);
    }
    if let Some(c) = w.channel {
        kv_uint(e, 5, c.into());
    }
}

fn decode_wifi(r: &mut Reader<'_>) -> Option<WifiCredentials> {
    let (mut ssid, mut security, mut passphrase) = (None, None, Passphrase::none());
    let (mut hidden, mut bssid, mut channel) = (false, None, None);
    let mut f = r.map()?;
    while let Some(k) = f.next(r)? {
        match k {
            0 => {
                let b = r.bytes()?;
                ssid = Some(r.valid(Ssid::new(b))?);
            }
            1 => {
                let code = u8::try_from(r.uint()?).map_err(|_| PairError::UnsupportedSecurity);
                security = Some(r.valid(code.and_then(Security::from_code))?);
            }
            // An empty passphrase is accepted as "none" (open networks).
            2 => {
                passphrase = match r.text()?.as_bytes() {
                    b"" => Passphrase::none(),
                    p => r.valid(Passphrase::new(p))?,
                }
            }
            3 => hidden = r.bool()?,
            4 => bssid = Some(Bssid(r.bytes_exact()?)),
            5 => {
                let c = u8::try_from(r.uint()?).map_err(|_| PairError::InvalidSsid);
                channel = Some(r.valid(c)?);
            }
            _ => r.skip()?,
        }
    }
    let creds = WifiCredentials {
        ssid: r.required(ssid)?,
        hidden,
        security: r.required(security)?,
        passphrase,
        bssid,
        channel,
    };
    r.valid(creds.validate())?;
    Some(creds)
}

fn encode_endpoint(ep: &CloudEndpoint, e: &mut Writer<'_>) {
    e.map(1 + count(&[ep.host.is_some(), ep.port != 0]));
    // Region and host are validated ASCII (see `check_endpoint`), hence valid UTF-8.
    e.u8(0)
        .str(core::str::from_utf8(&ep.region).unwrap_or_default());
    if let Some(h) = &ep.host {
        e.u8(1).str(core::str::from_utf8(h).unwrap_or_default());
    }
    if ep.port != 0 {
        kv_uint(e, 2, ep.port.into());
    }
}

fn decode_endpoint(r: &mut Reader<'_>) -> Option<CloudEndpoint> {
    let (mut region, mut host, mut port) = (None, None, 0u16);
    let mut f = r.map()?;
    while let Some(k) = f.next(r)? {
        match k {
            0 => region = Some(r.text()?.as_bytes()),
            1 => host = Some(r.text()?.as_bytes()),
            2 => {
                let p = u16::try_from(r.uint()?).map_err(|_| PairError::InvalidEndpoint);
                port = r.valid(p)?;
            }
            _ => r.skip()?,
        }
    }
    let region = r.required(region)?;
    r.valid(CloudEndpoint::new(region, host, port))
}

impl Provision {
    pub(crate) const MAX_BODY_LEN: usize = 1
        + (1 + WIFI_MAX_LEN)
        + (1 + str_len(TOKEN_MAX))
        + (1 + ENDPOINT_MAX_LEN)
        + (1 + head_len(u16::MAX as u64))
        + (1 + head_len(u64::MAX));

    /// Checks what the types cannot enforce on their own (public fields): the Wi-Fi cross-field
    /// rules and the endpoint's syntax.
    pub fn validate(&self) -> Result<(), PairError> {
        if let Some(w) = &self.wifi {
            w.validate()?;
        }
        if let Some(ep) = &self.endpoint {
            check_endpoint(ep)?;
        }
        Ok(())
    }

    pub(crate) fn encode_body(&self, e: &mut Writer<'_>) {
        e.map(count(&[
            self.wifi.is_some(),
            self.token.is_some(),
            self.endpoint.is_some(),
            self.commit_deadline_s.is_some(),
            self.unix_time_s.is_some(),
        ]));
        if let Some(w) = &self.wifi {
            e.u8(0);
            encode_wifi(w, e);
        }
        if let Some(t) = &self.token {
            // Tokens are validated ASCII.
            e.u8(1)
                .str(core::str::from_utf8(t.expose()).unwrap_or_default());
        }
        if let Some(ep) = &self.endpoint {
            e.u8(2);
            encode_endpoint(ep, e);
        }
        if let Some(d) = self.commit_deadline_s {
            kv_uint(e, 3, d.into());
        }
        if let Some(t) = self.unix_time_s {
            kv_uint(e, 4, t);
        }
    }

    #[inline(never)]
    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Option<Self> {
        let mut p = Provision::default();
        let mut f = r.map()?;
        while let Some(k) = f.next(r)? {
            match k {
                0 => p.wifi = Some(decode_wifi(r)?),
                1 => {
                    let t = ActivationToken::new(r.text()?.as_bytes());
                    p.token = Some(r.valid(t)?);
                }
                2 => p.endpoint = Some(decode_endpoint(r)?),
                3 => p.commit_deadline_s = Some(r.u16()?),
                4 => p.unix_time_s = Some(r.uint()?),
                _ => r.skip()?,
            }
        }
        Some(p)
    }
}

/// What a [`AppToDevice::Reset`] erases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResetKind {
    /// Forget the network configuration and the activation; keep everything else (0).
    NetworkOnly,
    /// Return to the factory state (1).
    Factory,
}

impl ResetKind {
    /// Wire code.
    pub const fn code(self) -> u8 {
        match self {
            ResetKind::NetworkOnly => 0,
            ResetKind::Factory => 1,
        }
    }
    /// From a wire code.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(ResetKind::NetworkOnly),
            1 => Some(ResetKind::Factory),
            _ => None,
        }
    }
}

/// A message the app sends to the device (inside the secure session).
///
/// | type | message | body |
/// |------|---------|------|
/// | 0x01 | [`GetDeviceInfo`](Self::GetDeviceInfo) | `{}` |
/// | 0x02 | [`ScanRequest`](Self::ScanRequest) | see [`ScanRequest`] |
/// | 0x03 | [`Provision`](Self::Provision) | see [`Provision`] |
/// | 0x04 | [`GetStatus`](Self::GetStatus) | `{}` |
/// | 0x05 | [`Abort`](Self::Abort) | `{}` |
/// | 0x06 | [`Reset`](Self::Reset) | `{ 0: kind uint }` |
/// | 0x07 | [`Ack`](Self::Ack) | `{}` |
// `Provision` dominates; it must hold the credentials anyway, and there is no heap to box into.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppToDevice {
    /// Asks for [`DeviceInfo`](super::DeviceInfo).
    GetDeviceInfo,
    /// Asks for a Wi-Fi scan.
    ScanRequest(ScanRequest),
    /// Hands over the credentials; the device stages them and starts joining.
    Provision(Provision),
    /// Asks for a [`Status`](super::Status).
    GetStatus,
    /// Cancels the pairing: the device discards staged credentials and rolls back.
    Abort,
    /// Erases configuration (only accepted in an authenticated session).
    Reset(ResetKind),
    /// Confirms that the app saw the final status / report; the device may close the session.
    Ack,
}

impl AppToDevice {
    /// The largest encoding of any app→device message, to size buffers statically.
    pub const MAX_ENCODED_LEN: usize = 2 + cbor::max(
        Provision::MAX_BODY_LEN,
        cbor::max(ScanRequest::MAX_BODY_LEN, 1 + 1 + 1),
    );

    /// The type code on the wire.
    pub const fn type_code(&self) -> u8 {
        match self {
            AppToDevice::GetDeviceInfo => 0x01,
            AppToDevice::ScanRequest(_) => 0x02,
            AppToDevice::Provision(_) => 0x03,
            AppToDevice::GetStatus => 0x04,
            AppToDevice::Abort => 0x05,
            AppToDevice::Reset(_) => 0x06,
            AppToDevice::Ack => 0x07,
        }
    }

    /// A short `snake_case` name for logs.
    pub const fn name(&self) -> &'static str {
        match self {
            AppToDevice::GetDeviceInfo => "get_device_info",
            AppToDevice::ScanRequest(_) => "scan_request",
            AppToDevice::Provision(_) => "provision",
            AppToDevice::GetStatus => "get_status",
            AppToDevice::Abort => "abort",
            AppToDevice::Reset(_) => "reset",
            AppToDevice::Ack => "ack",
        }
    }

    /// Whether `code` is an app→device type code this build knows.
    pub const fn is_type_code(code: u8) -> bool {
        matches!(code, 0x01..=0x07)
    }

    /// Checks the fields the types cannot enforce on their own.
    pub fn validate(&self) -> Result<(), PairError> {
        match self {
            AppToDevice::Provision(p) => p.validate(),
            _ => Ok(()),
        }
    }

    /// Encodes into `buf`, returning the length. `BufferTooSmall` if it does not fit (then the
    /// written prefix is wiped); `Invalid` if [`validate`](Self::validate) fails.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        self.validate().map_err(WireError::Invalid)?;
        cbor::encode_into(buf, |e| self.encode_cbor(e))
    }

    /// The exact encoded length.
    pub fn encoded_len(&self) -> usize {
        cbor::measure(|e| self.encode_cbor(e))
    }

    /// Decodes one complete message; device→app types are `UnknownType`.
    // Out of line (as are the bodies' decoders): inlined into the device's dispatch the
    // decoders cost ~500 B more flash (size report).
    #[inline(never)]
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let m = Self::decode_in(&mut r);
        r.result(m)
    }

    /// The body of [`AppToDevice::decode`].
    fn decode_in(r: &mut Reader<'_>) -> Option<Self> {
        let t = super::decode_type(r)?;
        if !Self::is_type_code(t) {
            return r.fail(WireError::UnknownType(t));
        }
        let m = Self::decode_body(t, r)?;
        r.finish()?;
        Some(m)
    }

    pub(crate) fn encode_cbor(&self, e: &mut Writer<'_>) {
        e.array(2).u8(self.type_code());
        match self {
            AppToDevice::ScanRequest(s) => s.encode_body(e),
            AppToDevice::Provision(p) => p.encode_body(e),
            AppToDevice::Reset(kind) => {
                e.map(1);
                kv_uint(e, 0, kind.code().into())
            }
            AppToDevice::GetDeviceInfo
            | AppToDevice::GetStatus
            | AppToDevice::Abort
            | AppToDevice::Ack => {
                e.map(0);
            }
        }
    }

    /// Decodes the body of a message of type `t` (a known app→device code).
    pub(crate) fn decode_body(t: u8, r: &mut Reader<'_>) -> Option<Self> {
        Some(match t {
            0x02 => AppToDevice::ScanRequest(ScanRequest::decode_body(r)?),
            0x03 => AppToDevice::Provision(Provision::decode_body(r)?),
            _ => {
                // Reset has one field; the other bodies are empty. Unknown fields from newer
                // peers are skipped. (One map loop for all: smaller, size report.)
                let mut kind = None;
                let mut f = r.map()?;
                while let Some(k) = f.next(r)? {
                    if t == 0x06 && k == 0 {
                        let k = ResetKind::from_code(r.u8()?);
                        kind = Some(r.required(k)?);
                    } else {
                        r.skip()?;
                    }
                }
                match t {
                    0x01 => AppToDevice::GetDeviceInfo,
                    0x04 => AppToDevice::GetStatus,
                    0x05 => AppToDevice::Abort,
                    0x06 => AppToDevice::Reset(r.required(kind)?),
                    0x07 => AppToDevice::Ack,
                    other => return r.fail(WireError::UnknownType(other)),
                }
            }
        })
    }
}
