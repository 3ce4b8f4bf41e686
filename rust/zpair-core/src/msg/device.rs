//! Messages the device sends to the app (and the plaintext LAN announcement).

use super::cbor::{self, count, head_len, kv_uint, str_len, Reader, Writer};
use crate::error::{PairError, WireError};
use crate::types::{Bssid, DeviceId, Modes, ProductId, Security, Ssid, SSID_MAX};
use core::net::Ipv4Addr;
use heapless::Vec;

/// Where the device is in pairing, as reported to the app and the cloud.
///
/// Unknown codes from a newer peer decode as [`PairState::Unknown`] instead of failing, so an
/// older app can still show the rest of a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PairState {
    /// Not pairing (0).
    Idle,
    /// The pairing window is open; no session yet (1).
    WindowOpen,
    /// An app holds an authenticated session (2).
    SessionOpen,
    /// Credentials were received, validated and staged (3).
    CredentialsStaged,
    /// Joining the network (Wi-Fi association, Ethernet link, cellular attach) (4).
    JoiningNetwork,
    /// The network is up and the device has an address (5).
    NetworkUp,
    /// Talking to the cloud to activate (6).
    Activating,
    /// Activated: credentials committed. Final (7).
    Activated,
    /// Pairing failed and the previous configuration was restored. Final (8).
    RolledBack,
    /// A state this build does not know (from a newer peer). Never construct it with a known
    /// code: it would not survive a round trip.
    Unknown(u8),
}

impl PairState {
    /// Wire code.
    pub const fn code(self) -> u8 {
        match self {
            PairState::Idle => 0,
            PairState::WindowOpen => 1,
            PairState::SessionOpen => 2,
            PairState::CredentialsStaged => 3,
            PairState::JoiningNetwork => 4,
            PairState::NetworkUp => 5,
            PairState::Activating => 6,
            PairState::Activated => 7,
            PairState::RolledBack => 8,
            PairState::Unknown(c) => c,
        }
    }

    /// From a wire code; unknown codes are kept as [`PairState::Unknown`].
    pub const fn from_code(code: u8) -> Self {
        match code {
            0 => PairState::Idle,
            1 => PairState::WindowOpen,
            2 => PairState::SessionOpen,
            3 => PairState::CredentialsStaged,
            4 => PairState::JoiningNetwork,
            5 => PairState::NetworkUp,
            6 => PairState::Activating,
            7 => PairState::Activated,
            8 => PairState::RolledBack,
            other => PairState::Unknown(other),
        }
    }

    /// A short `snake_case` name.
    pub const fn name(self) -> &'static str {
        match self {
            PairState::Idle => "idle",
            PairState::WindowOpen => "window_open",
            PairState::SessionOpen => "session_open",
            PairState::CredentialsStaged => "credentials_staged",
            PairState::JoiningNetwork => "joining_network",
            PairState::NetworkUp => "network_up",
            PairState::Activating => "activating",
            PairState::Activated => "activated",
            PairState::RolledBack => "rolled_back",
            PairState::Unknown(_) => "unknown",
        }
    }

    /// Whether pairing is over (activated or rolled back); the app then sends
    /// [`Ack`](super::AppToDevice::Ack).
    pub const fn is_final(self) -> bool {
        matches!(self, PairState::Activated | PairState::RolledBack)
    }
}

/// The firmware version, `major.minor.patch`. Encoded as `[major, minor, patch]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FirmwareVersion {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Patch level.
    pub patch: u16,
}

/// What the device's radio and firmware can do (bit set, `u32`). Unknown bits from a newer
/// peer are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(u32);

impl Capabilities {
    /// Can join open networks (bit 0 = 1 << `Security::Open.code()`).
    pub const SEC_OPEN: Capabilities = Capabilities(1 << 0);
    /// Can join WPA2-Personal networks (bit 1).
    pub const SEC_WPA2_PSK: Capabilities = Capabilities(1 << 1);
    /// Can join WPA2/WPA3 transition networks (bit 2).
    pub const SEC_WPA2_WPA3: Capabilities = Capabilities(1 << 2);
    /// Can join WPA3-Personal (SAE) networks (bit 3).
    pub const SEC_WPA3_SAE: Capabilities = Capabilities(1 << 3);
    /// Can join networks that hide their SSID (bit 8).
    pub const HIDDEN_SSID: Capabilities = Capabilities(1 << 8);
    /// Has a 5 GHz radio (bit 9).
    pub const BAND_5GHZ: Capabilities = Capabilities(1 << 9);
    /// Has a 6 GHz radio (bit 10).
    pub const BAND_6GHZ: Capabilities = Capabilities(1 << 10);
    /// Answers [`ScanRequest`](super::ScanRequest)s (bit 11).
    pub const WIFI_SCAN: Capabilities = Capabilities(1 << 11);

    /// The empty set.
    pub const fn empty() -> Self {
        Capabilities(0)
    }
    /// From the wire bits (unknown bits are kept).
    pub const fn from_bits(bits: u32) -> Self {
        Capabilities(bits)
    }
    /// The wire bits.
    pub const fn bits(self) -> u32 {
        self.0
    }
    /// Union.
    pub const fn union(self, other: Capabilities) -> Self {
        Capabilities(self.0 | other.0)
    }
    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Capabilities) -> bool {
        self.0 & other.0 == other.0
    }
    /// The bit for joining networks of a security type.
    pub const fn security(s: Security) -> Self {
        Capabilities(1 << s.code())
    }
    /// Whether the device can join networks of this security type.
    pub const fn supports(self, s: Security) -> bool {
        self.contains(Self::security(s))
    }
}

/// Answer to [`GetDeviceInfo`](super::AppToDevice::GetDeviceInfo): who the device is and what
/// it can do.
///
/// Body: `{ 0: protocol_version uint, 1: product uint, 2: device uint, 3: modes uint,
/// 4: [major, minor, patch], 5: capabilities uint }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The highest protocol version the device speaks ([`crate::PROTOCOL_VERSION`]).
    pub protocol_version: u8,
    /// The product.
    pub product: ProductId,
    /// The factory identity.
    pub device: DeviceId,
    /// The pairing modes the device supports (unknown bits from a newer peer are dropped).
    pub modes: Modes,
    /// Firmware version.
    pub firmware: FirmwareVersion,
    /// Radio and firmware capabilities.
    pub capabilities: Capabilities,
}

fn decode_modes(r: &mut Reader<'_>) -> Option<Modes> {
    let bits = r.u8()? & Modes::ALL.bits();
    let modes = Modes::from_bits(bits);
    r.required(modes)
}

impl DeviceInfo {
    pub(crate) const MAX_BODY_LEN: usize = 1
        + (1 + head_len(u8::MAX as u64))
        + (1 + head_len(u32::MAX as u64))
        + (1 + head_len(u64::MAX))
        + (1 + head_len(Modes::ALL.bits() as u64))
        + (1 + 1 + 2 * head_len(u8::MAX as u64) + head_len(u16::MAX as u64))
        + (1 + head_len(u32::MAX as u64));

    pub(crate) fn encode_body(&self, e: &mut Writer<'_>) {
        e.map(6);
        kv_uint(e, 0, self.protocol_version.into());
        kv_uint(e, 1, self.product.0.into());
        kv_uint(e, 2, self.device.0);
        kv_uint(e, 3, self.modes.bits().into());
        e.u8(4)
            .array(3)
            .u8(self.firmware.major)
            .u8(self.firmware.minor)
            .u16(self.firmware.patch);
        kv_uint(e, 5, self.capabilities.bits().into())
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Option<Self> {
        let (mut version, mut product, mut device, mut modes, mut fw, mut caps) =
            (None, None, None, None, None, None);
        let mut f = r.map()?;
        while let Some(k) = f.next(r)? {
            match k {
                0 => version = Some(r.u8()?),
                1 => product = Some(ProductId(r.u32()?)),
                2 => device = Some(DeviceId(r.uint()?)),
                3 => modes = Some(decode_modes(r)?),
                4 => {
                    let n = r.array(3)?;
                    r.ensure(n == 3)?;
                    fw = Some(FirmwareVersion {
                        major: r.u8()?,
                        minor: r.u8()?,
                        patch: r.u16()?,
                    });
                }
                5 => caps = Some(Capabilities(r.u32()?)),
                _ => r.skip()?,
            }
        }
        Some(DeviceInfo {
            protocol_version: r.required(version)?,
            product: r.required(product)?,
            device: r.required(device)?,
            modes: r.required(modes)?,
            firmware: r.required(fw)?,
            capabilities: r.required(caps)?,
        })
    }
}

/// One access point seen by a scan.
///
/// Encoded as `{ 0: ssid bstr, 1: bssid bstr .size 6, 2: rssi int, 3: channel uint,
/// ? 4: security uint }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanEntry {
    /// Network name (hidden networks, which have none, are not reported).
    pub ssid: Ssid,
    /// The access point's MAC address.
    pub bssid: Bssid,
    /// Signal strength in dBm.
    pub rssi: i8,
    /// Channel number as reported by the radio (0 if unknown).
    pub channel: u8,
    /// Security type; `None` (key absent) when the network uses one the protocol cannot
    /// provision (WEP, WPA-Enterprise, ...) or one this build does not know.
    pub security: Option<Security>,
}

impl ScanEntry {
    // Security codes are < 24, so they take one byte.
    const MAX_LEN: usize = 1
        + (1 + str_len(SSID_MAX))
        + (1 + str_len(6))
        + (1 + 2)
        + (1 + head_len(u8::MAX as u64))
        + (1 + 1);

    fn encode(&self, e: &mut Writer<'_>) {
        e.map(4 + count(&[self.security.is_some()]));
        e.u8(0).bytes(self.ssid.as_bytes());
        e.u8(1).bytes(&self.bssid.0);
        e.u8(2).i8(self.rssi);
        kv_uint(e, 3, self.channel.into());
        if let Some(s) = self.security {
            kv_uint(e, 4, s.code().into());
        }
    }

    fn decode(r: &mut Reader<'_>) -> Option<Self> {
        let (mut ssid, mut bssid, mut rssi, mut channel, mut security) =
            (None, None, None, None, None);
        let mut f = r.map()?;
        while let Some(k) = f.next(r)? {
            match k {
                0 => {
                    let b = r.bytes()?;
                    ssid = Some(r.valid(Ssid::new(b))?);
                }
                1 => bssid = Some(Bssid(r.bytes_exact()?)),
                2 => rssi = Some(r.i8()?),
                3 => channel = Some(r.u8()?),
                // Unknown or unsupported security types read as None.
                4 => {
                    security = u8::try_from(r.uint()?)
                        .ok()
                        .and_then(|c| Security::from_code(c).ok())
                }
                _ => r.skip()?,
            }
        }
        Some(ScanEntry {
            ssid: r.required(ssid)?,
            bssid: r.required(bssid)?,
            rssi: r.required(rssi)?,
            channel: r.required(channel)?,
            security,
        })
    }
}

/// How many scan entries one [`ScanResults`] message carries at most.
pub const SCAN_ENTRIES_MAX: usize = 16;

/// Answer to a [`ScanRequest`](super::ScanRequest). A device with more results than fit sends
/// several messages; all but the last have `more` set.
///
/// Body: `{ 0: [* entry], ? 1: more bool }` (`more` omitted when false; at most
/// [`SCAN_ENTRIES_MAX`] entries, more is `TooLong`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScanResults {
    /// The access points, strongest first by convention.
    pub entries: Vec<ScanEntry, SCAN_ENTRIES_MAX>,
    /// Another `ScanResults` message follows.
    pub more: bool,
}

impl ScanResults {
    /// Appends `entry` if the page has room and the complete message (counting `more` as set)
    /// still encodes within `max_len` bytes, e.g. a session record's payload size; otherwise
    /// hands the entry back, and the device sends this page with `more` and starts a new one.
    pub fn try_push(&mut self, entry: ScanEntry, max_len: usize) -> Result<(), ScanEntry> {
        self.entries.push(entry)?;
        let more = core::mem::replace(&mut self.more, true);
        let fits = self.encoded_len() <= max_len;
        self.more = more;
        if fits {
            Ok(())
        } else {
            self.entries.pop().map_or(Ok(()), Err)
        }
    }

    pub(crate) const MAX_BODY_LEN: usize = 1
        + (1 + head_len(SCAN_ENTRIES_MAX as u64) + SCAN_ENTRIES_MAX * ScanEntry::MAX_LEN)
        + (1 + 1);

    pub(crate) fn encode_body(&self, e: &mut Writer<'_>) {
        e.map(1 + count(&[self.more]));
        e.u8(0).array(self.entries.len() as u64);
        for entry in &self.entries {
            entry.encode(e);
        }
        if self.more {
            e.u8(1).bool(true);
        }
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Option<Self> {
        let (mut entries, mut more) = (None, false);
        let mut f = r.map()?;
        while let Some(k) = f.next(r)? {
            match k {
                0 => {
                    let n = r.array(SCAN_ENTRIES_MAX)?;
                    let mut list = Vec::new();
                    for _ in 0..n {
                        let entry = ScanEntry::decode(r)?;
                        if list.push(entry).is_err() {
                            return r.fail(WireError::TooLong);
                        }
                    }
                    entries = Some(list);
                }
                1 => more = r.bool()?,
                _ => r.skip()?,
            }
        }
        Some(ScanResults {
            entries: r.required(entries)?,
            more,
        })
    }
}

/// Where the device is: sent on [`GetStatus`](super::AppToDevice::GetStatus), on every state
/// change while a session is open, and in answer to a message that failed (then `error` says
/// why).
///
/// Body: `{ 0: state uint, ? 1: error uint, ? 2: attempt uint, ? 3: detail uint }`
/// (`attempt` omitted when 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Current state.
    pub state: PairState,
    /// Why the last step failed, if it did.
    pub error: Option<PairError>,
    /// Which attempt of the current step this is (0 = first, or not applicable).
    pub attempt: u8,
    /// A low-level detail for support, e.g. the IEEE 802.11 reason/status code of a failed
    /// association.
    pub detail: Option<u16>,
}

impl Status {
    /// A status without error, attempt or detail.
    pub const fn new(state: PairState) -> Self {
        Status {
            state,
            error: None,
            attempt: 0,
            detail: None,
        }
    }

    pub(crate) const MAX_BODY_LEN: usize = 1
        + (1 + head_len(u8::MAX as u64))
        + (1 + head_len(u8::MAX as u64))
        + (1 + head_len(u8::MAX as u64))
        + (1 + head_len(u16::MAX as u64));

    pub(crate) fn encode_body(&self, e: &mut Writer<'_>) {
        e.map(
            1 + count(&[
                self.error.is_some(),
                self.attempt != 0,
                self.detail.is_some(),
            ]),
        );
        kv_uint(e, 0, self.state.code().into());
        if let Some(err) = self.error {
            kv_uint(e, 1, err.code().into());
        }
        if self.attempt != 0 {
            kv_uint(e, 2, self.attempt.into());
        }
        if let Some(d) = self.detail {
            kv_uint(e, 3, d.into());
        }
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Option<Self> {
        let mut s = Status::new(PairState::Idle);
        let mut state = None;
        let mut f = r.map()?;
        while let Some(k) = f.next(r)? {
            match k {
                0 => state = Some(PairState::from_code(r.u8()?)),
                1 => s.error = Some(PairError::from_code(r.u8()?)),
                2 => s.attempt = r.u8()?,
                3 => s.detail = Some(r.u16()?),
                _ => r.skip()?,
            }
        }
        s.state = r.required(state)?;
        Some(s)
    }
}

/// A step of pairing whose duration the [`PairingReport`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Establishing the secure session (SPAKE2+) (0).
    Handshake,
    /// From the session being open until the credentials arrived (user input) (1).
    Provision,
    /// Bringing the link up: Wi-Fi association, Ethernet carrier, cellular attach (2).
    Link,
    /// Getting an address (DHCP) (3).
    Address,
    /// Reaching the cloud: DNS, TCP and TLS (4).
    Connect,
    /// The activation exchange with the cloud (5).
    Activate,
}

/// How many [`Step`]s there are.
pub const STEP_COUNT: usize = 6;

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; STEP_COUNT] = [
        Step::Handshake,
        Step::Provision,
        Step::Link,
        Step::Address,
        Step::Connect,
        Step::Activate,
    ];

    /// Wire code (also the index into [`StepTimes`]).
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// From a wire code.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Step::Handshake),
            1 => Some(Step::Provision),
            2 => Some(Step::Link),
            3 => Some(Step::Address),
            4 => Some(Step::Connect),
            5 => Some(Step::Activate),
            _ => None,
        }
    }

    /// A short `snake_case` name.
    pub const fn name(self) -> &'static str {
        match self {
            Step::Handshake => "handshake",
            Step::Provision => "provision",
            Step::Link => "link",
            Step::Address => "address",
            Step::Connect => "connect",
            Step::Activate => "activate",
        }
    }
}

/// Elapsed milliseconds per [`Step`] (steps not reached are `None`). Encoded as a map
/// `{ * step => ms }`; unknown steps from a newer peer are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StepTimes([Option<u32>; STEP_COUNT]);

impl StepTimes {
    /// No step timed.
    pub const fn new() -> Self {
        StepTimes([None; STEP_COUNT])
    }
    /// The duration of a step.
    pub fn get(&self, step: Step) -> Option<u32> {
        self.0.get(usize::from(step.code())).copied().flatten()
    }
    /// Records the duration of a step.
    pub fn set(&mut self, step: Step, ms: u32) {
        if let Some(slot) = self.0.get_mut(usize::from(step.code())) {
            *slot = Some(ms);
        }
    }
    /// The timed steps, in order.
    pub fn iter(&self) -> impl Iterator<Item = (Step, u32)> + '_ {
        Step::ALL
            .into_iter()
            .filter_map(|s| self.get(s).map(|ms| (s, ms)))
    }
    /// Whether no step was timed.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    const MAX_LEN: usize = 1 + STEP_COUNT * (1 + head_len(u32::MAX as u64));
}

/// Maximum length of a [`CloudDeviceId`].
pub const CLOUD_ID_MAX: usize = 64;

/// The identifier the cloud gave the activated device: 1-64 characters of
/// `[A-Za-z0-9._:-]` (a UUID, a name, ...). Not secret.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CloudDeviceId(Vec<u8, CLOUD_ID_MAX>);

impl CloudDeviceId {
    /// Validates and copies an id.
    pub fn new(bytes: &[u8]) -> Option<Self> {
        let ok = !bytes.is_empty()
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(b));
        if !ok {
            return None;
        }
        Vec::from_slice(bytes).ok().map(CloudDeviceId)
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Validated ASCII.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl core::fmt::Debug for CloudDeviceId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "CloudDeviceId({:?})", self.as_str())
    }
}

/// What the device tells the app at the end of pairing (and what it keeps for the cloud).
///
/// Body: `{ 0: state uint, ? 1: error uint, ? 2: attempts uint, ? 3: detail uint,
/// ? 4: { * step uint => ms uint }, ? 5: ipv4 bstr .size 4, ? 6: cloud_device_id tstr }`
/// (`attempts` omitted when 0, `4` when no step was timed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingReport {
    /// The final state ([`PairState::Activated`] or [`PairState::RolledBack`], normally).
    pub state: PairState,
    /// Why pairing failed, if it did.
    pub error: Option<PairError>,
    /// How many attempts the failing (or last) step took.
    pub attempts: u8,
    /// A low-level detail for support (see [`Status::detail`]).
    pub detail: Option<u16>,
    /// Elapsed time per step.
    pub steps: StepTimes,
    /// The IPv4 address the device got, if any.
    pub ipv4: Option<Ipv4Addr>,
    /// The cloud's identifier for the activated device.
    pub cloud_device_id: Option<CloudDeviceId>,
}

impl PairingReport {
    /// A report with only a state.
    pub const fn new(state: PairState) -> Self {
        PairingReport {
            state,
            error: None,
            attempts: 0,
            detail: None,
            steps: StepTimes::new(),
            ipv4: None,
            cloud_device_id: None,
        }
    }

    pub(crate) const MAX_BODY_LEN: usize = Status::MAX_BODY_LEN
        + (1 + StepTimes::MAX_LEN)
        + (1 + str_len(4))
        + (1 + str_len(CLOUD_ID_MAX));

    pub(crate) fn encode_body(&self, e: &mut Writer<'_>) {
        e.map(
            1 + count(&[
                self.error.is_some(),
                self.attempts != 0,
                self.detail.is_some(),
                !self.steps.is_empty(),
                self.ipv4.is_some(),
                self.cloud_device_id.is_some(),
            ]),
        );
        kv_uint(e, 0, self.state.code().into());
        if let Some(err) = self.error {
            kv_uint(e, 1, err.code().into());
        }
        if self.attempts != 0 {
            kv_uint(e, 2, self.attempts.into());
        }
        if let Some(d) = self.detail {
            kv_uint(e, 3, d.into());
        }
        if !self.steps.is_empty() {
            e.u8(4).map(self.steps.iter().count() as u64);
            for (step, ms) in self.steps.iter() {
                kv_uint(e, step.code(), ms.into());
            }
        }
        if let Some(ip) = self.ipv4 {
            e.u8(5).bytes(&ip.octets());
        }
        if let Some(id) = &self.cloud_device_id {
            e.u8(6).str(id.as_str());
        }
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Option<Self> {
        let mut p = PairingReport::new(PairState::Idle);
        let mut state = None;
        let mut f = r.map()?;
        while let Some(k) = f.next(r)? {
            match k {
                0 => state = Some(PairState::from_code(r.u8()?)),
                1 => p.error = Some(PairError::from_code(r.u8()?)),
                2 => p.attempts = r.u8()?,
                3 => p.detail = Some(r.u16()?),
                4 => {
                    let mut steps = r.map()?;
                    while let Some(code) = steps.next(r)? {
                        match Step::from_code(code) {
                            Some(step) => p.steps.set(step, r.u32()?),
                            None => r.skip()?,
                        }
                    }
                }
                5 => p.ipv4 = Some(Ipv4Addr::from(r.bytes_exact::<4>()?)),
                6 => {
                    let id = CloudDeviceId::new(r.text()?.as_bytes());
                    p.cloud_device_id = Some(r.required(id)?);
                }
                _ => r.skip()?,
            }
        }
        p.state = r.required(state)?;
        Some(p)
    }
}

/// The magic that starts every [`Announce`] body (key 0).
pub const ANNOUNCE_MAGIC: [u8; 5] = *b"zpair";

/// Wired mode's LAN announcement, sent in plaintext UDP (broadcast/multicast) so the app can
/// find the device and open a session to `port`. Carries nothing secret; the app must not
/// trust it beyond "try to connect here".
///
/// Body: `{ 0: magic bstr "zpair", 1: protocol_version uint, 2: product uint, 3: device uint,
/// 4: modes uint, 5: port uint, ? 6: window_open bool, 7: state uint }` (`window_open`
/// omitted when false). A wrong magic is `Malformed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announce {
    /// The highest protocol version the device speaks.
    pub protocol_version: u8,
    /// The product.
    pub product: ProductId,
    /// The factory identity.
    pub device: DeviceId,
    /// The pairing modes the device supports.
    pub modes: Modes,
    /// The UDP/TCP port of the pairing session endpoint.
    pub port: u16,
    /// Whether the pairing window is open (a session can be started now).
    pub window_open: bool,
    /// Current state.
    pub state: PairState,
}

impl Announce {
    pub(crate) const MAX_BODY_LEN: usize = 1
        + (1 + str_len(ANNOUNCE_MAGIC.len()))
        + (1 + head_len(u8::MAX as u64))
        + (1 + head_len(u32::MAX as u64))
        + (1 + head_len(u64::MAX))
        + (1 + head_len(Modes::ALL.bits() as u64))
        + (1 + head_len(u16::MAX as u64))
        + (1 + 1)
        + (1 + head_len(u8::MAX as u64));

    /// The largest encoding of an announcement (a whole message), to size the datagram buffer.
    pub const MAX_ENCODED_LEN: usize = 2 + Self::MAX_BODY_LEN;

    /// Decodes a datagram that must hold exactly one announcement; any other message type is
    /// `UnknownType`.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        match DeviceToApp::decode(bytes)? {
            DeviceToApp::Announce(a) => Ok(a),
            other => Err(WireError::UnknownType(other.type_code())),
        }
    }

    pub(crate) fn encode_body(&self, e: &mut Writer<'_>) {
        e.map(7 + count(&[self.window_open]));
        e.u8(0).bytes(&ANNOUNCE_MAGIC);
        kv_uint(e, 1, self.protocol_version.into());
        kv_uint(e, 2, self.product.0.into());
        kv_uint(e, 3, self.device.0);
        kv_uint(e, 4, self.modes.bits().into());
        kv_uint(e, 5, self.port.into());
        if self.window_open {
            e.u8(6).bool(true);
        }
        kv_uint(e, 7, self.state.code().into())
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Option<Self> {
        let (mut magic, mut version, mut product, mut device) = (false, None, None, None);
        let (mut modes, mut port, mut window_open, mut state) = (None, None, false, None);
        let mut f = r.map()?;
        while let Some(k) = f.next(r)? {
            match k {
                0 => {
                    let m = r.bytes()?;
                    r.ensure(m == ANNOUNCE_MAGIC)?;
                    magic = true;
                }
                1 => version = Some(r.u8()?),
                2 => product = Some(ProductId(r.u32()?)),
                3 => device = Some(DeviceId(r.uint()?)),
                4 => modes = Some(decode_modes(r)?),
                5 => port = Some(r.u16()?),
                6 => window_open = r.bool()?,
                7 => state = Some(PairState::from_code(r.u8()?)),
                _ => r.skip()?,
            }
        }
        r.ensure(magic)?;
        Some(Announce {
            protocol_version: r.required(version)?,
            product: r.required(product)?,
            device: r.required(device)?,
            modes: r.required(modes)?,
            port: r.required(port)?,
            window_open,
            state: r.required(state)?,
        })
    }
}

/// A message the device sends to the app (inside the secure session, except
/// [`Announce`](Self::Announce), which is plaintext UDP).
///
/// | type | message | body |
/// |------|---------|------|
/// | 0x11 | [`DeviceInfo`](Self::DeviceInfo) | see [`DeviceInfo`] |
/// | 0x12 | [`ScanResults`](Self::ScanResults) | see [`ScanResults`] |
/// | 0x13 | [`Status`](Self::Status) | see [`Status`] |
/// | 0x14 | [`PairingReport`](Self::PairingReport) | see [`PairingReport`] |
/// | 0x15 | [`Announce`](Self::Announce) | see [`Announce`] |
// No heap to box into: the scan page dominates the size (see `SCAN_ENTRIES_MAX`). A device
// sends with the structs' own `encode` and never needs this enum (only the app decodes it).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceToApp {
    /// Who the device is.
    DeviceInfo(DeviceInfo),
    /// One page of scan results.
    ScanResults(ScanResults),
    /// Where the device is.
    Status(Status),
    /// The final report.
    PairingReport(PairingReport),
    /// The wired-mode LAN announcement.
    Announce(Announce),
}

impl DeviceToApp {
    /// The largest encoding of any device→app message, to size buffers statically
    /// (a full page of scan results dominates).
    pub const MAX_ENCODED_LEN: usize = 2 + cbor::max(
        cbor::max(DeviceInfo::MAX_BODY_LEN, ScanResults::MAX_BODY_LEN),
        cbor::max(
            Status::MAX_BODY_LEN,
            cbor::max(PairingReport::MAX_BODY_LEN, Announce::MAX_BODY_LEN),
        ),
    );

    /// The type code on the wire.
    pub const fn type_code(&self) -> u8 {
        match self {
            DeviceToApp::DeviceInfo(_) => DeviceInfo::TYPE,
            DeviceToApp::ScanResults(_) => ScanResults::TYPE,
            DeviceToApp::Status(_) => Status::TYPE,
            DeviceToApp::PairingReport(_) => PairingReport::TYPE,
            DeviceToApp::Announce(_) => Announce::TYPE,
        }
    }

    /// A short `snake_case` name for logs.
    pub const fn name(&self) -> &'static str {
        match self {
            DeviceToApp::DeviceInfo(_) => "device_info",
            DeviceToApp::ScanResults(_) => "scan_results",
            DeviceToApp::Status(_) => "status",
            DeviceToApp::PairingReport(_) => "pairing_report",
            DeviceToApp::Announce(_) => "announce",
        }
    }

    /// Whether `code` is a device→app type code this build knows.
    pub const fn is_type_code(code: u8) -> bool {
        matches!(code, 0x11..=0x15)
    }

    /// Encodes into `buf`, returning the length (`BufferTooSmall` if it does not fit; the
    /// written prefix is then wiped).
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        cbor::encode_into(buf, |e| self.encode_cbor(e))
    }

    /// The exact encoded length.
    pub fn encoded_len(&self) -> usize {
        cbor::measure(|e| self.encode_cbor(e))
    }

    /// Decodes one complete message; app→device types are `UnknownType`.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let m = Self::decode_in(&mut r);
        r.result(m)
    }

    /// The body of [`DeviceToApp::decode`].
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
            DeviceToApp::DeviceInfo(m) => m.encode_body(e),
            DeviceToApp::ScanResults(m) => m.encode_body(e),
            DeviceToApp::Status(m) => m.encode_body(e),
            DeviceToApp::PairingReport(m) => m.encode_body(e),
            DeviceToApp::Announce(m) => m.encode_body(e),
        }
    }

    pub(crate) fn decode_body(t: u8, r: &mut Reader<'_>) -> Option<Self> {
        Some(match t {
            DeviceInfo::TYPE => DeviceToApp::DeviceInfo(DeviceInfo::decode_body(r)?),
            ScanResults::TYPE => DeviceToApp::ScanResults(ScanResults::decode_body(r)?),
            Status::TYPE => DeviceToApp::Status(Status::decode_body(r)?),
            PairingReport::TYPE => DeviceToApp::PairingReport(PairingReport::decode_body(r)?),
            Announce::TYPE => DeviceToApp::Announce(Announce::decode_body(r)?),
            other => return r.fail(WireError::UnknownType(other)),
        })
    }
}

/// Direct encoding of each device→app message, so a device can send a [`Status`] without
/// building a [`DeviceToApp`] (whose size is that of a full scan page).
macro_rules! encode_as_message {
    ($($ty:ident = $code:literal),* $(,)?) => {$(
        impl $ty {
            #[doc = concat!("The type code of [`DeviceToApp::", stringify!($ty), "`].")]
            pub const TYPE: u8 = $code;

            #[doc = concat!("Encodes this as a complete [`DeviceToApp::", stringify!($ty), "`] \
                message into `buf`, returning the length (`BufferTooSmall` if it does not fit).")]
            pub fn encode(&self, buf: &mut [u8]) -> Result<usize, WireError> {
                cbor::encode_into(buf, |e| {
                    e.array(2).u8(Self::TYPE);
                    self.encode_body(e)
                })
            }

            /// The exact encoded length of the complete message.
            pub fn encoded_len(&self) -> usize {
                cbor::measure(|e| {
                    e.array(2).u8(Self::TYPE);
                    self.encode_body(e)
                })
            }
        }
    )*};
}

encode_as_message! {
    DeviceInfo = 0x11,
    ScanResults = 0x12,
    Status = 0x13,
    PairingReport = 0x14,
    Announce = 0x15,
}
