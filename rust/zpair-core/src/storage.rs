//! Persistence: the [`Storage`] trait the OS implements, the power-cut-safe record format and
//! the [`Store`] on top.
//!
//! # Guarantee
//!
//! A power cut before, between or during any write or erase leaves storage holding either the
//! old or the new [`PersistedState`], never a mix: records carry a CRC-32 and a generation
//! counter and alternate between two slots, A and B. [`Store::save`] always writes the slot that
//! does *not* hold the newest valid record and never touches the other one; [`Store::load`]
//! picks the valid record with the newest generation (wrap-around safe). If that target slot
//! holds a damaged record (invalid or unreadable), `save` erases it first: its slot and
//! generation may be the ones the new record gets, and a torn in-place write that re-programs
//! the damaged bytes with equal values would otherwise let the stale tail complete the
//! rejected record again (a state that is neither the old nor the new one).
//!
//! # Record layout (format version 1, all integers little-endian)
//!
//! ```text
//! offset  size  field
//! 0       4     magic "ZPst" (5a 50 73 74)
//! 4       1     format version = 1
//! 5       1     reserved = 0
//! 6       2     payload length n (u16, 3..=PAYLOAD_MAX)
//! 8       4     generation (u32, wraps; newer = (a - b) mod 2^32 in 1..2^31)
//! 12      n     payload (below)
//! 12+n    4     CRC-32 (IEEE 802.3: reflected poly 0xEDB88320, init and xorout 0xFFFFFFFF)
//!               over bytes 0..12+n
//! ```
//!
//! Payload (the [`PersistedState`], fixed binary layout, at most [`PAYLOAD_MAX`] = 276 bytes):
//!
//! ```text
//! u8   flags: bit0 activated, bit1 Wi-Fi present, bit2 operational present (others 0)
//! u8   mode: 0 none, 1 SoftAP, 2 BLE, 3 wired, 4 cellular
//! u8   failed handshake attempts since the last success
//! if Wi-Fi present:
//!   u8 ssid length (1..=32), ssid bytes
//!   u8 wifi flags: bit0 hidden, bit1 BSSID present, bit2 channel present (others 0)
//!   u8 security (0 open, 1 WPA2-PSK, 2 WPA2/WPA3, 3 WPA3-SAE)
//!   u8 passphrase length (0 or 8..=64), passphrase bytes
//!   [6 bytes BSSID] [u8 channel]
//! if operational present:
//!   u8 name length (1..=64), name bytes
//!   32 bytes device secret
//!   2 bytes region, u8 host length (0 = none, 1..=64), host bytes, u16 port
//! ```
//!
//! Every field is re-validated with the constructors of [`crate::types`] on decode; the state
//! must pass [`PersistedState::validate`]. Buffers that held a record are zeroized after use.

use core::fmt;

use zeroize::Zeroize;

use crate::error::{PairError, WireError};
use crate::machine::{
    CloudName, DeviceSecret, OperationalCredentials, PersistedState, CLOUD_NAME_MAX,
    DEVICE_SECRET_LEN,
};
use crate::types::{
    Bssid, CloudEndpoint, Mode, Passphrase, Security, Ssid, WifiCredentials, HOST_MAX,
    PASSPHRASE_MAX, SSID_MAX,
};

// ---------------------------------------------------------------------------------------------
// CRC-32
// ---------------------------------------------------------------------------------------------

const CRC_POLY: u32 = 0xEDB8_8320;

const CRC_NIBBLES: [u32; 16] = {
    let mut t = [0u32; 16];
    let mut i = 0;
    while i < 16 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 4 {
            c = if c & 1 != 0 { (c >> 1) ^ CRC_POLY } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Incremental CRC-32 (IEEE 802.3 / zlib: reflected polynomial `0xEDB88320`, init and final
/// XOR `0xFFFFFFFF`), with a 16-entry table (64 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crc32(u32);

impl Crc32 {
    /// A fresh computation.
    pub const fn new() -> Self {
        Crc32(0xFFFF_FFFF)
    }
    /// Feeds bytes.
    pub const fn update(mut self, data: &[u8]) -> Self {
        let mut i = 0;
        while i < data.len() {
            let mut c = self.0 ^ data[i] as u32;
            c = (c >> 4) ^ CRC_NIBBLES[(c & 0xF) as usize];
            c = (c >> 4) ^ CRC_NIBBLES[(c & 0xF) as usize];
            self.0 = c;
            i += 1;
        }
        self
    }
    /// The checksum.
    pub const fn finish(self) -> u32 {
        self.0 ^ 0xFFFF_FFFF
    }
}

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

/// CRC-32 of `data` (`crc32(b"123456789") == 0xCBF43926`).
pub const fn crc32(data: &[u8]) -> u32 {
    Crc32::new().update(data).finish()
}

// ---------------------------------------------------------------------------------------------
// The storage trait
// ---------------------------------------------------------------------------------------------

/// One of the two record slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    /// Slot A (settings key `zpair/a`).
    A,
    /// Slot B (settings key `zpair/b`).
    B,
}

impl Slot {
    /// Both slots.
    pub const ALL: [Slot; 2] = [Slot::A, Slot::B];
    /// The other slot.
    pub const fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }
    /// 0 for A, 1 for B.
    pub const fn index(self) -> usize {
        match self {
            Slot::A => 0,
            Slot::B => 1,
        }
    }
}

/// A storage failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StorageError {
    /// The backend failed (flash error, power lost, file error).
    Io,
    /// The value does not fit the slot.
    TooLarge,
    /// Reading back a written record gave different bytes.
    VerifyFailed,
    /// The state to save does not pass [`PersistedState::validate`].
    InvalidState,
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StorageError::Io => "storage I/O error",
            StorageError::TooLarge => "value too large for the slot",
            StorageError::VerifyFailed => "read-back verification failed",
            StorageError::InvalidState => "state not valid for saving",
        })
    }
}

impl From<StorageError> for PairError {
    fn from(_: StorageError) -> Self {
        PairError::StorageFailed
    }
}

/// Two independent value slots, implemented by the OS (Zephyr settings on flash; a file on the
/// host; [`RamFlash`] in tests). Each slot holds one byte string of at most [`RECORD_MAX`]
/// bytes.
///
/// The implementation needs no atomicity: [`Store`] survives a write or erase that is cut
/// anywhere. It must only not touch slot B while writing A and vice versa.
pub trait Storage {
    /// Reads a slot into `buf`. `Ok(None)`: the slot is empty. `Ok(Some(len))`: the slot holds
    /// `len` bytes (the length of the last write), of which the first `min(len, buf.len())`
    /// were copied into `buf`.
    fn read(&mut self, slot: Slot, buf: &mut [u8]) -> Result<Option<usize>, StorageError>;
    /// Replaces the slot's value with `data`.
    fn write(&mut self, slot: Slot, data: &[u8]) -> Result<(), StorageError>;
    /// Empties the slot.
    fn erase(&mut self, slot: Slot) -> Result<(), StorageError>;
}

impl<S: Storage + ?Sized> Storage for &mut S {
    fn read(&mut self, slot: Slot, buf: &mut [u8]) -> Result<Option<usize>, StorageError> {
        (**self).read(slot, buf)
    }
    fn write(&mut self, slot: Slot, data: &[u8]) -> Result<(), StorageError> {
        (**self).write(slot, data)
    }
    fn erase(&mut self, slot: Slot) -> Result<(), StorageError> {
        (**self).erase(slot)
    }
}

// ---------------------------------------------------------------------------------------------
// Record format
// ---------------------------------------------------------------------------------------------

/// Record magic.
pub const MAGIC: [u8; 4] = *b"ZPst";
/// Record format version.
pub const FORMAT_VERSION: u8 = 1;
/// Header length (magic, version, reserved, length, generation).
pub const HEADER_LEN: usize = 12;
/// Length of the trailing CRC.
pub const CRC_LEN: usize = 4;
/// Largest payload: 3 fixed bytes + 107 Wi-Fi + 166 operational.
pub const PAYLOAD_MAX: usize = 3
    + (1 + SSID_MAX + 1 + 1 + 1 + PASSPHRASE_MAX + 6 + 1)
    + (1 + CLOUD_NAME_MAX + DEVICE_SECRET_LEN + 2 + 1 + HOST_MAX + 2);
/// Largest record: what a slot must be able to hold.
pub const RECORD_MAX: usize = HEADER_LEN + PAYLOAD_MAX + CRC_LEN;

const FLAG_ACTIVATED: u8 = 1 << 0;
const FLAG_WIFI: u8 = 1 << 1;
const FLAG_OPERATIONAL: u8 = 1 << 2;
const WIFI_HIDDEN: u8 = 1 << 0;
const WIFI_BSSID: u8 = 1 << 1;
const WIFI_CHANNEL: u8 = 1 << 2;

/// Why a slot's bytes are not a valid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordError {
    /// Shorter than its header says (a torn or truncated write).
    Truncated,
    /// Longer than its header says.
    TrailingBytes,
    /// Not a zpair record (wrong magic or reserved byte).
    BadMagic,
    /// Written by a format version this build does not read.
    UnsupportedVersion(u8),
    /// The payload length is out of bounds.
    BadLength,
    /// The CRC does not match (bit flip, torn write).
    BadCrc,
    /// The CRC matches but the payload does not decode (carries why).
    Payload(WireError),
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Truncated => f.write_str("record truncated"),
            RecordError::TrailingBytes => f.write_str("bytes after the record"),
            RecordError::BadMagic => f.write_str("not a zpair record"),
            RecordError::UnsupportedVersion(v) => write!(f, "record format version {v}"),
            RecordError::BadLength => f.write_str("payload length out of bounds"),
            RecordError::BadCrc => f.write_str("CRC mismatch"),
            RecordError::Payload(e) => write!(f, "payload: {e}"),
        }
    }
}

/// Whether generation `a` is newer than `b` (serial-number arithmetic: `a - b` mod 2^32 in
/// `1..2^31`).
pub const fn generation_newer(a: u32, b: u32) -> bool {
    let d = a.wrapping_sub(b);
    d != 0 && d < 0x8000_0000
}

/// The payload writer. Its methods return nothing and keep the first error in `err`; once it
/// is set, nothing more is written (so the output is what a `?` chain would have left).
// Error side channel: 72 B smaller than `Result`-returning methods (size report).
struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
    err: Option<WireError>,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        if self.err.is_some() {
            return;
        }
        let end = self.pos.saturating_add(bytes.len());
        match self.buf.get_mut(self.pos..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.pos = end;
            }
            None => self.err = Some(WireError::BufferTooSmall),
        }
    }
    fn u8(&mut self, v: u8) {
        self.put(&[v])
    }
    /// A length-prefixed byte string (length < 256 by the callers' bounds).
    fn lv(&mut self, bytes: &[u8]) {
        match u8::try_from(bytes.len()) {
            Ok(len) => self.u8(len),
            Err(_) if self.err.is_none() => self.err = Some(WireError::TooLong),
            Err(_) => {}
        }
        self.put(bytes)
    }
}

/// The payload reader. Its methods return `Option`s of small values (in registers, where a
/// `Result<&[u8], WireError>` goes through memory) and keep the error in `err`: the decoder
/// stops at the first `None` (with `?`), so `err` is always the first error, as with `Result`s.
// Error side channel: 170 B smaller than `Result`-returning methods (size report).
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    err: WireError,
}

impl<'a> Reader<'a> {
    fn fail<T>(&mut self, e: WireError) -> Option<T> {
        self.err = e;
        None
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        match self.pos.checked_add(n).and_then(|end| Some((end, self.buf.get(self.pos..end)?))) {
            Some((end, s)) => {
                self.pos = end;
                Some(s)
            }
            None => self.fail(WireError::Truncated),
        }
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_le_bytes([b.first().copied()?, b.get(1).copied()?]))
    }
    /// A length-prefixed byte string of at most `max` bytes.
    fn lv(&mut self, max: usize) -> Option<&'a [u8]> {
        let len = usize::from(self.u8()?);
        if len > max {
            return self.fail(WireError::TooLong);
        }
        self.take(len)
    }
    /// A value a validating constructor gave; its error becomes [`WireError::Invalid`].
    fn valid<T>(&mut self, r: Result<T, PairError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => self.fail(WireError::Invalid(e)),
        }
    }
}

const fn mode_code(m: Option<Mode>) -> u8 {
    match m {
        None => 0,
        Some(Mode::SoftAp) => 1,
        Some(Mode::Ble) => 2,
        Some(Mode::Wired) => 3,
        Some(Mode::Cellular) => 4,
    }
}

const fn mode_from_code(c: u8) -> Option<Option<Mode>> {
    Some(match c {
        0 => None,
        1 => Some(Mode::SoftAp),
        2 => Some(Mode::Ble),
        3 => Some(Mode::Wired),
        4 => Some(Mode::Cellular),
        _ => return None,
    })
}

impl PersistedState {
    /// Encodes the payload (layout in the [module documentation](self)) into `out`; returns
    /// the length. The state must pass [`PersistedState::validate`].
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, WireError> {
        self.validate().map_err(WireError::Invalid)?;
        let mut w = Writer { buf: out, pos: 0, err: None };
        let mut flags = 0;
        if self.activated {
            flags |= FLAG_ACTIVATED;
        }
        if self.wifi.is_some() {
            flags |= FLAG_WIFI;
        }
        if self.operational.is_some() {
            flags |= FLAG_OPERATIONAL;
        }
        w.u8(flags);
        w.u8(mode_code(self.mode));
        w.u8(self.failed_attempts);
        if let Some(wifi) = &self.wifi {
            w.lv(wifi.ssid.as_bytes());
            let mut wf = 0;
            if wifi.hidden {
                wf |= WIFI_HIDDEN;
            }
            if wifi.bssid.is_some() {
                wf |= WIFI_BSSID;
            }
            if wifi.channel.is_some() {
                wf |= WIFI_CHANNEL;
            }
            w.u8(wf);
            w.u8(wifi.security.code());
            w.lv(wifi.passphrase.expose());
            if let Some(b) = wifi.bssid {
                w.put(&b.0);
            }
            if let Some(c) = wifi.channel {
                w.u8(c);
            }
        }
        if let Some(op) = &self.operational {
            w.lv(op.name.as_bytes());
            w.put(op.secret.expose());
            w.put(&op.endpoint.region);
            match &op.endpoint.host {
                Some(h) => w.lv(h),
                None => w.u8(0),
            }
            w.put(&op.endpoint.port.to_le_bytes());
        }
        match w.err {
            Some(e) => Err(e),
            None => Ok(w.pos),
        }
    }

    /// Decodes a payload; rejects truncated, oversized and malformed input and any value the
    /// validated types refuse.
    // Out of line: inlined into `Store::load` it cost 251 B more flash (size report).
    #[inline(never)]
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        if buf.len() > PAYLOAD_MAX {
            return Err(WireError::TooLong);
        }
        let mut r = Reader { buf, pos: 0, err: WireError::Truncated };
        Self::read(&mut r).ok_or(r.err)
    }

    /// The body of [`PersistedState::decode`]: `None` with the first error in `r.err`.
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        let flags = r.u8()?;
        if flags & !(FLAG_ACTIVATED | FLAG_WIFI | FLAG_OPERATIONAL) != 0 {
            return r.fail(WireError::Malformed);
        }
        let code = r.u8()?;
        let Some(mode) = mode_from_code(code) else { return r.fail(WireError::Malformed) };
        let failed_attempts = r.u8()?;
        let mut state = PersistedState {
            mode,
            wifi: None,
            operational: None,
            activated: flags & FLAG_ACTIVATED != 0,
            failed_attempts,
        };
        if flags & FLAG_WIFI != 0 {
            let ssid = r.lv(SSID_MAX)?;
            let ssid = r.valid(Ssid::new(ssid))?;
            let wf = r.u8()?;
            if wf & !(WIFI_HIDDEN | WIFI_BSSID | WIFI_CHANNEL) != 0 {
                return r.fail(WireError::Malformed);
            }
            let code = r.u8()?;
            let security = r.valid(Security::from_code(code))?;
            let pass = r.lv(PASSPHRASE_MAX)?;
            let passphrase =
                if pass.is_empty() { Passphrase::none() } else { r.valid(Passphrase::new(pass))? };
            let bssid = if wf & WIFI_BSSID != 0 {
                let b: [u8; 6] = r.take(6)?.try_into().ok()?;
                Some(Bssid(b))
            } else {
                None
            };
            let channel = if wf & WIFI_CHANNEL != 0 { Some(r.u8()?) } else { None };
            let creds = state.wifi.insert(WifiCredentials {
                ssid,
                hidden: wf & WIFI_HIDDEN != 0,
                security,
                passphrase,
                bssid,
                channel,
            });
            r.valid(creds.validate())?;
        }
        if flags & FLAG_OPERATIONAL != 0 {
            let name = r.lv(CLOUD_NAME_MAX)?;
            let name = r.valid(CloudName::new(name))?;
            let secret = r.take(DEVICE_SECRET_LEN)?;
            let secret = r.valid(DeviceSecret::from_slice(secret))?;
            let region = r.take(2)?;
            let host = r.lv(HOST_MAX)?;
            let port = r.u16()?;
            let host = if host.is_empty() { None } else { Some(host) };
            let endpoint = r.valid(CloudEndpoint::new(region, host, port))?;
            state.operational = Some(OperationalCredentials { name, secret, endpoint });
        }
        if r.pos != r.buf.len() {
            return r.fail(WireError::TrailingBytes);
        }
        r.valid(state.validate())?;
        Some(state)
    }
}

/// Encodes a complete record (header, payload, CRC) into `out`; returns its length.
pub fn encode_record(
    state: &PersistedState,
    generation: u32,
    out: &mut [u8],
) -> Result<usize, WireError> {
    let payload_end = {
        let payload = out.get_mut(HEADER_LEN..).ok_or(WireError::BufferTooSmall)?;
        HEADER_LEN + state.encode(payload)?
    };
    let payload_len = payload_end - HEADER_LEN;
    let len16 = u16::try_from(payload_len).map_err(|_| WireError::TooLong)?;
    let header = out.get_mut(..HEADER_LEN).ok_or(WireError::BufferTooSmall)?;
    header[..4].copy_from_slice(&MAGIC);
    header[4] = FORMAT_VERSION;
    header[5] = 0;
    header[6..8].copy_from_slice(&len16.to_le_bytes());
    header[8..12].copy_from_slice(&generation.to_le_bytes());
    let crc = crc32(out.get(..payload_end).ok_or(WireError::BufferTooSmall)?);
    let end = payload_end + CRC_LEN;
    out.get_mut(payload_end..end)
        .ok_or(WireError::BufferTooSmall)?
        .copy_from_slice(&crc.to_le_bytes());
    Ok(end)
}

/// Checks a record's framing and CRC without decoding the payload; returns the generation and
/// the payload.
pub fn check_record(buf: &[u8]) -> Result<(u32, &[u8]), RecordError> {
    let header: &[u8; HEADER_LEN] =
        buf.get(..HEADER_LEN).and_then(|h| h.try_into().ok()).ok_or(RecordError::Truncated)?;
    let [m0, m1, m2, m3, version, reserved, l0, l1, g0, g1, g2, g3] = *header;
    if [m0, m1, m2, m3] != MAGIC || reserved != 0 {
        return Err(RecordError::BadMagic);
    }
    if version != FORMAT_VERSION {
        return Err(RecordError::UnsupportedVersion(version));
    }
    let len = usize::from(u16::from_le_bytes([l0, l1]));
    if !(3..=PAYLOAD_MAX).contains(&len) {
        return Err(RecordError::BadLength);
    }
    let total = HEADER_LEN + len + CRC_LEN;
    if buf.len() < total {
        return Err(RecordError::Truncated);
    }
    if buf.len() > total {
        return Err(RecordError::TrailingBytes);
    }
    let body_end = HEADER_LEN + len;
    let body = buf.get(..body_end).ok_or(RecordError::Truncated)?;
    let crc: [u8; 4] =
        buf.get(body_end..total).and_then(|c| c.try_into().ok()).ok_or(RecordError::Truncated)?;
    if crc32(body) != u32::from_le_bytes(crc) {
        return Err(RecordError::BadCrc);
    }
    let payload = buf.get(HEADER_LEN..body_end).ok_or(RecordError::Truncated)?;
    Ok((u32::from_le_bytes([g0, g1, g2, g3]), payload))
}

/// Decodes a complete record: framing, CRC, then the payload.
pub fn decode_record(buf: &[u8]) -> Result<(u32, PersistedState), RecordError> {
    let (generation, payload) = check_record(buf)?;
    let state = PersistedState::decode(payload).map_err(RecordError::Payload)?;
    Ok((generation, state))
}

// ---------------------------------------------------------------------------------------------
// Store
// ---------------------------------------------------------------------------------------------

/// What one slot held at load time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlotStatus {
    /// Empty (never written, or erased).
    Empty,
    /// A valid record.
    Valid {
        /// Its generation.
        generation: u32,
    },
    /// Bytes that are not a valid record (torn write, bit flip, interrupted erase, ...).
    Invalid(RecordError),
    /// The backend could not read it.
    Unreadable(StorageError),
}

/// The outcome of [`Store::load`]. `Debug` shows no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The newest valid state, if any.
    pub state: Option<PersistedState>,
    /// Its generation and slot.
    pub newest: Option<(Slot, u32)>,
    /// What each slot held (index with [`Slot::index`]).
    pub slots: [SlotStatus; 2],
}

impl Loaded {
    /// No valid record although some slot holds something: storage is corrupt and the device
    /// starts unpaired. Report it (log, status to the app, cloud report).
    pub fn is_corrupt(&self) -> bool {
        self.state.is_none() && self.slots.iter().any(|s| *s != SlotStatus::Empty)
    }
    /// Some slot is not empty and not valid (the other may still have given a state).
    pub fn has_damage(&self) -> bool {
        self.slots.iter().any(|s| matches!(s, SlotStatus::Invalid(_) | SlotStatus::Unreadable(_)))
    }
    /// The state, for [`crate::machine::Machine::restore`].
    pub fn into_state(self) -> Option<PersistedState> {
        self.state
    }
}

/// The power-cut-safe store of the [`PersistedState`] over a [`Storage`] with two slots.
#[derive(Debug)]
pub struct Store<S: Storage> {
    storage: S,
    /// The slot and generation of the newest valid record; `None` if there is none.
    newest: Option<(Slot, u32)>,
    /// Whether `newest` is known (a load succeeded since the last storage error).
    scanned: bool,
    /// Per slot ([`Slot::index`]): the last load found it invalid or unreadable.
    damaged: [bool; 2],
}

impl<S: Storage> Store<S> {
    /// Wraps a storage. Nothing is read until [`Store::load`] or [`Store::save`].
    pub fn new(storage: S) -> Self {
        Store { storage, newest: None, scanned: false, damaged: [false; 2] }
    }

    /// The storage.
    pub fn storage(&self) -> &S {
        &self.storage
    }
    /// The storage, mutably.
    pub fn storage_mut(&mut self) -> &mut S {
        self.scanned = false;
        &mut self.storage
    }
    /// Unwraps the storage.
    pub fn into_inner(self) -> S {
        self.storage
    }

    /// Reads both slots and returns the valid record with the newest generation (slot A on a
    /// tie). Never fails: unreadable and invalid slots are reported in [`Loaded::slots`].
    pub fn load(&mut self) -> Loaded {
        let mut buf = [0u8; RECORD_MAX];
        // Built in place (the return slot): a decoded state is moved once, into `state`.
        let mut loaded = Loaded { state: None, newest: None, slots: [SlotStatus::Empty; 2] };
        for slot in Slot::ALL {
            let status = match self.storage.read(slot, &mut buf) {
                Err(e) => SlotStatus::Unreadable(e),
                Ok(None) => SlotStatus::Empty,
                Ok(Some(n)) if n > RECORD_MAX => SlotStatus::Invalid(RecordError::TrailingBytes),
                Ok(Some(n)) => match check_record(buf.get(..n).unwrap_or(&[])) {
                    Err(e) => SlotStatus::Invalid(e),
                    // What `decode_record` does, without moving the state through its result.
                    Ok((generation, payload)) => match PersistedState::decode(payload) {
                        Err(e) => SlotStatus::Invalid(RecordError::Payload(e)),
                        Ok(state) => {
                            let newer = match loaded.newest {
                                None => true,
                                Some((_, g)) => generation_newer(generation, g),
                            };
                            if newer {
                                loaded.state = Some(state);
                                loaded.newest = Some((slot, generation));
                            }
                            SlotStatus::Valid { generation }
                        }
                    },
                },
            };
            buf.zeroize();
            if let Some(s) = loaded.slots.get_mut(slot.index()) {
                *s = status;
            }
        }
        self.damaged =
            loaded.slots.map(|s| matches!(s, SlotStatus::Invalid(_) | SlotStatus::Unreadable(_)));
        self.newest = loaded.newest;
        self.scanned = true;
        loaded
    }

    /// Writes `state` as a new record into the slot that does not hold the newest valid record,
    /// with the next generation, and reads it back to verify. The other slot is not touched,
    /// so a power cut at any point leaves the old or the new state. Returns the generation.
    ///
    /// A target slot the last load found damaged (invalid or unreadable) is erased before the
    /// write, so that no byte of the rejected record survives a torn write (see the
    /// [module documentation](self)).
    pub fn save(&mut self, state: &PersistedState) -> Result<u32, StorageError> {
        if !self.scanned {
            let _ = self.load();
        }
        let (target, generation) = match self.newest {
            Some((slot, g)) => (slot.other(), g.wrapping_add(1)),
            None => (Slot::A, 1),
        };
        let mut buf = [0u8; RECORD_MAX];
        let mut check = [0u8; RECORD_MAX];
        let result = self.write_verified(target, generation, state, &mut buf, &mut check);
        buf.zeroize();
        check.zeroize();
        match result {
            Ok(()) => {
                self.newest = Some((target, generation));
                Ok(generation)
            }
            Err(e) => {
                // The target may hold anything now; the newest record is untouched. Rescan
                // before the next operation anyway.
                self.scanned = false;
                Err(e)
            }
        }
    }

    fn write_verified(
        &mut self,
        target: Slot,
        generation: u32,
        state: &PersistedState,
        buf: &mut [u8; RECORD_MAX],
        check: &mut [u8; RECORD_MAX],
    ) -> Result<(), StorageError> {
        let n = encode_record(state, generation, buf).map_err(|e| match e {
            WireError::Invalid(_) => StorageError::InvalidState,
            _ => StorageError::TooLarge,
        })?;
        let record = buf.get(..n).ok_or(StorageError::TooLarge)?;
        if self.damaged.get(target.index()).copied().unwrap_or(true) {
            self.storage.erase(target)?;
            if let Some(d) = self.damaged.get_mut(target.index()) {
                *d = false;
            }
        }
        self.storage.write(target, record)?;
        match self.storage.read(target, check)? {
            Some(m) if m == n && check.get(..n) == Some(record) => Ok(()),
            _ => Err(StorageError::VerifyFailed),
        }
    }

    /// Erases both slots (factory reset): the older slot first, then the newest, so that a
    /// power cut in between leaves the old state and a cut during the second erase leaves no
    /// valid state (never an older one).
    pub fn erase(&mut self) -> Result<(), StorageError> {
        if !self.scanned {
            let _ = self.load();
        }
        let first = match self.newest {
            Some((slot, _)) => slot.other(),
            None => Slot::A,
        };
        self.scanned = false;
        self.storage.erase(first)?;
        self.storage.erase(first.other())?;
        self.newest = None;
        self.damaged = [false; 2];
        self.scanned = true;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// RamFlash: an in-memory storage with power-cut injection
// ---------------------------------------------------------------------------------------------

/// What a write cut by a power loss leaves in its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TornWrite {
    /// The value's length was recorded first; the unwritten tail reads as erased flash (0xFF).
    ErasedTail,
    /// Length first; the unwritten tail holds pseudo-random garbage from this seed.
    GarbageTail(u32),
    /// Length first; the tail keeps the slot's previous bytes (in-place overwrite, no erase).
    StaleTail,
    /// Only the written prefix exists (append semantics: the length is what was written).
    Truncated,
}

/// An in-memory [`Storage`] of two slots of `CAP` bytes that really models partial operations:
/// after [`RamFlash::cut_power_after`]`(n)` the next writes and erases program or clear bytes
/// one at a time, and when the budget of `n` bytes is spent mid-operation the slot is left
/// torn (see [`TornWrite`]), the operation fails with [`StorageError::Io`] and every later
/// operation fails until [`RamFlash::power_on`]. An erase clears `CAP` bytes from the start; a
/// cut erase leaves the prefix erased and the rest as it was.
///
/// For host builds, simulators and tests. Zeroized on drop.
#[derive(Clone)]
pub struct RamFlash<const CAP: usize = RECORD_MAX> {
    data: [[u8; CAP]; 2],
    len: [Option<usize>; 2],
    budget: Option<usize>,
    powered: bool,
    torn: TornWrite,
    writes: u32,
    erases: u32,
}

impl<const CAP: usize> fmt::Debug for RamFlash<CAP> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RamFlash")
            .field("len", &self.len)
            .field("budget", &self.budget)
            .field("powered", &self.powered)
            .field("torn", &self.torn)
            .finish_non_exhaustive()
    }
}

impl<const CAP: usize> Default for RamFlash<CAP> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const CAP: usize> Drop for RamFlash<CAP> {
    fn drop(&mut self) {
        self.data.zeroize();
    }
}

impl<const CAP: usize> RamFlash<CAP> {
    /// Two empty slots, powered, no cut scheduled, torn writes leave an erased tail.
    pub const fn new() -> Self {
        RamFlash {
            data: [[0xFF; CAP]; 2],
            len: [None; 2],
            budget: None,
            powered: true,
            torn: TornWrite::ErasedTail,
            writes: 0,
            erases: 0,
        }
    }
    /// Cuts the power once `bytes` more bytes have been programmed or erased.
    pub fn cut_power_after(&mut self, bytes: usize) {
        self.budget = Some(bytes);
    }
    /// Restores power and cancels any scheduled cut (a reboot).
    pub fn power_on(&mut self) {
        self.powered = true;
        self.budget = None;
    }
    /// Whether the power is on.
    pub fn is_powered(&self) -> bool {
        self.powered
    }
    /// Chooses what a torn write leaves behind.
    pub fn set_torn_write(&mut self, torn: TornWrite) {
        self.torn = torn;
    }
    /// The value a slot holds (`None` if empty).
    pub fn slot(&self, slot: Slot) -> Option<&[u8]> {
        let len = (*self.len.get(slot.index())?)?;
        self.data.get(slot.index())?.get(..len)
    }
    /// The value a slot holds, mutably (to flip bits in tests).
    pub fn slot_mut(&mut self, slot: Slot) -> Option<&mut [u8]> {
        let len = (*self.len.get(slot.index())?)?;
        self.data.get_mut(slot.index())?.get_mut(..len)
    }
    /// Sets a slot's raw value (to plant arbitrary bytes).
    pub fn set_slot(&mut self, slot: Slot, value: Option<&[u8]>) -> Result<(), StorageError> {
        let (Some(d), Some(l)) = (self.data.get_mut(slot.index()), self.len.get_mut(slot.index()))
        else {
            return Err(StorageError::Io);
        };
        match value {
            None => {
                d.fill(0xFF);
                *l = None;
            }
            Some(v) => {
                let dst = d.get_mut(..v.len()).ok_or(StorageError::TooLarge)?;
                dst.copy_from_slice(v);
                *l = Some(v.len());
            }
        }
        Ok(())
    }
    /// Writes started so far.
    pub fn write_count(&self) -> u32 {
        self.writes
    }
    /// Erases started so far.
    pub fn erase_count(&self) -> u32 {
        self.erases
    }

    /// Spends up to `want` bytes of the budget; returns how many may be done.
    fn spend(&mut self, want: usize) -> usize {
        match self.budget.as_mut() {
            None => want,
            Some(b) => {
                let n = want.min(*b);
                *b -= n;
                n
            }
        }
    }
}

impl<const CAP: usize> Storage for RamFlash<CAP> {
    fn read(&mut self, slot: Slot, buf: &mut [u8]) -> Result<Option<usize>, StorageError> {
        if !self.powered {
            return Err(StorageError::Io);
        }
        let Some(value) = self.slot(slot) else { return Ok(None) };
        let len = value.len();
        let n = len.min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), value.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(Some(len))
    }

    fn write(&mut self, slot: Slot, data: &[u8]) -> Result<(), StorageError> {
        if !self.powered {
            return Err(StorageError::Io);
        }
        if data.len() > CAP {
            return Err(StorageError::TooLarge);
        }
        self.writes = self.writes.wrapping_add(1);
        let done = self.spend(data.len());
        let torn = self.torn;
        let i = slot.index();
        let (Some(d), Some(l)) = (self.data.get_mut(i), self.len.get_mut(i)) else {
            return Err(StorageError::Io);
        };
        let complete = done == data.len();
        // The tail first (what the cells hold beyond the written prefix)...
        match torn {
            _ if complete => d.fill(0xFF),
            TornWrite::ErasedTail | TornWrite::Truncated => d.fill(0xFF),
            TornWrite::StaleTail => {}
            TornWrite::GarbageTail(seed) => {
                let mut x = seed | 1;
                for b in d.iter_mut() {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    *b = x as u8;
                }
            }
        }
        // ...then the prefix that was programmed before the power went.
        if let (Some(dst), Some(src)) = (d.get_mut(..done), data.get(..done)) {
            dst.copy_from_slice(src);
        }
        *l = Some(if !complete && torn == TornWrite::Truncated { done } else { data.len() });
        if complete {
            Ok(())
        } else {
            self.powered = false;
            Err(StorageError::Io)
        }
    }

    fn erase(&mut self, slot: Slot) -> Result<(), StorageError> {
        if !self.powered {
            return Err(StorageError::Io);
        }
        self.erases = self.erases.wrapping_add(1);
        let done = self.spend(CAP);
        let i = slot.index();
        let (Some(d), Some(l)) = (self.data.get_mut(i), self.len.get_mut(i)) else {
            return Err(StorageError::Io);
        };
        if let Some(prefix) = d.get_mut(..done) {
            prefix.fill(0xFF);
        }
        if done == CAP {
            *l = None;
            Ok(())
        } else {
            self.powered = false;
            Err(StorageError::Io)
        }
    }
}

#[cfg(test)]
#[path = "storage_reference.rs"]
mod reference;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    #[test]
    fn crc32_check_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"The quick brown fox jumps over the lazy dog"), 0x414F_A339);
        let split = Crc32::new().update(b"1234").update(b"56789").finish();
        assert_eq!(split, 0xCBF4_3926);
    }

    #[test]
    fn generation_comparison_wraps() {
        assert!(generation_newer(2, 1));
        assert!(!generation_newer(1, 2));
        assert!(!generation_newer(7, 7));
        assert!(generation_newer(0, u32::MAX));
        assert!(generation_newer(5, u32::MAX - 5));
        assert!(!generation_newer(u32::MAX, 0));
    }

    #[test]
    fn payload_max_matches_the_layout() {
        assert_eq!(PAYLOAD_MAX, 276);
        assert_eq!(RECORD_MAX, 292);
    }

    #[test]
    fn empty_state_encodes_to_three_bytes() {
        let mut buf = [0u8; PAYLOAD_MAX];
        let n = PersistedState::default().encode(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[0, 0, 0]);
        assert_eq!(PersistedState::decode(&buf[..n]).unwrap(), PersistedState::default());
    }

    /// A payload built field by field, each field mostly valid and sometimes not (lengths past
    /// their bounds, bytes the validated types refuse, unknown codes and flag bits), so that
    /// decoding reaches every check.
    fn payload() -> impl Strategy<Value = Vec<u8>> {
        let flags = prop_oneof![3 => Just(7u8), 3 => Just(6), 3 => 0u8..8, 1 => any::<u8>()];
        let mode = prop_oneof![4 => 1u8..3, 4 => 0u8..5, 1 => any::<u8>()];
        let text = |lo: u8, hi: u8, n: core::ops::Range<usize>| {
            prop_oneof![
                6 => proptest::collection::vec(lo..=hi, n.clone()),
                1 => proptest::collection::vec(any::<u8>(), n),
            ]
        };
        let wifi = (
            prop_oneof![6 => text(0, 255, 1..33), 1 => text(0, 255, 0..36)],
            prop_oneof![6 => 0u8..8, 1 => any::<u8>()],
            prop_oneof![6 => 0u8..4, 1 => any::<u8>()],
            prop_oneof![
                1 => Just(Vec::new()),
                3 => text(0x20, 0x7e, 8..64),
                1 => text(b'0', b'9', 64..65),
                1 => text(0x20, 0x7e, 0..68),
            ],
            any::<[u8; 7]>(),
        );
        let op = (
            text(0x21, 0x7e, 0..68),
            any::<[u8; 32]>(),
            prop_oneof![Just(*b"eu"), Just(*b"us"), any::<[u8; 2]>()],
            prop_oneof![Just(Vec::new()), text(b'a', b'z', 1..68)],
            any::<u16>(),
        );
        (flags, mode, any::<u8>(), wifi, op).prop_map(|(flags, mode, attempts, wifi, op)| {
            let mut b = std::vec![flags, mode, attempts];
            let lv = |b: &mut Vec<u8>, v: &[u8]| {
                b.push(v.len() as u8);
                b.extend_from_slice(v);
            };
            if flags & FLAG_WIFI != 0 {
                let (ssid, wf, sec, pass, tail) = wifi;
                lv(&mut b, &ssid);
                b.extend_from_slice(&[wf, sec]);
                lv(&mut b, &pass);
                if wf & WIFI_BSSID != 0 {
                    b.extend_from_slice(&tail[..6]);
                }
                if wf & WIFI_CHANNEL != 0 {
                    b.push(tail[6]);
                }
            }
            if flags & FLAG_OPERATIONAL != 0 {
                let (name, secret, region, host, port) = op;
                lv(&mut b, &name);
                b.extend_from_slice(&secret);
                b.extend_from_slice(&region);
                lv(&mut b, &host);
                b.extend_from_slice(&port.to_le_bytes());
            }
            b
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The decoder returns what the old one returned (state or error) on every payload,
        /// every truncation of it, it with a byte appended, and it with one byte replaced.
        #[test]
        fn decode_agrees_with_the_old_decoder(
            p in payload(),
            extra in any::<u8>(),
            at in any::<prop::sample::Index>(),
            with in any::<u8>(),
        ) {
            let check = |b: &[u8]| {
                prop_assert_eq!(PersistedState::decode(b), reference::decode(b), "{:02x?}", b);
                Ok(())
            };
            for n in 0..=p.len() {
                check(&p[..n])?;
            }
            let mut longer = p.clone();
            longer.push(extra);
            check(&longer)?;
            let mut changed = p.clone();
            changed[at.index(p.len())] = with;
            check(&changed)?;
        }

        /// The encoder writes what the old one wrote and fails where it failed, for every
        /// decodable state (also made invalid) and every output buffer size.
        #[test]
        fn encode_agrees_with_the_old_encoder(
            p in payload(),
            activated in any::<bool>(),
            mode in 0u8..6,
        ) {
            let Ok(valid) = reference::decode(&p) else { return Ok(()) };
            let mut invalid = valid.clone();
            invalid.activated = activated;
            invalid.mode = mode_from_code(mode).flatten();
            for st in [valid, invalid] {
                for size in 0..=p.len() + 1 {
                    let (mut a, mut b) = (std::vec![0xA5u8; size], std::vec![0xA5u8; size]);
                    prop_assert_eq!(st.encode(&mut a), reference::encode(&st, &mut b));
                    prop_assert_eq!(a, b);
                }
            }
        }
    }

    #[test]
    fn the_payload_strategy_reaches_valid_and_deep_payloads() {
        // The differential tests above are only as good as their input: check that it decodes
        // to full states and fails late (in the operational part) often enough.
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let (mut full, mut late) = (0, 0);
        for _ in 0..4000 {
            let p = payload().new_tree(&mut runner).unwrap().current();
            match PersistedState::decode(&p) {
                Ok(st) if st.wifi.is_some() && st.operational.is_some() => full += 1,
                Err(WireError::Invalid(PairError::InvalidEndpoint | PairError::MalformedMessage)) => {
                    late += 1
                }
                _ => {}
            }
        }
        assert!(full > 20 && late > 20, "full {full}, late {late}");
    }
}
