//! Validated domain values ("repr" in smoltcp's words).
//!
//! A value of these types is always valid: constructors check every bound and return the precise
//! [`PairError`]. Secrets (passphrase, token, setup code) are wiped on drop and never printed by
//! `Debug`.

use crate::error::PairError;
use heapless::Vec;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Maximum SSID length (IEEE 802.11).
pub const SSID_MAX: usize = 32;
/// Maximum passphrase length (64 = raw PSK as hex).
pub const PASSPHRASE_MAX: usize = 64;
/// Minimum and maximum activation token length.
pub const TOKEN_MIN: usize = 8;
/// Maximum activation token length.
pub const TOKEN_MAX: usize = 32;
/// Maximum cloud host name length.
pub const HOST_MAX: usize = 64;

/// A Wi-Fi network name: 1 to 32 arbitrary bytes (not necessarily UTF-8).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Ssid(Vec<u8, SSID_MAX>);

impl Ssid {
    /// Validates and copies an SSID.
    pub fn new(bytes: &[u8]) -> Result<Self, PairError> {
        if bytes.is_empty() {
            return Err(PairError::InvalidSsid);
        }
        Vec::from_slice(bytes).map(Ssid).map_err(|_| PairError::InvalidSsid)
    }
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl core::fmt::Debug for Ssid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // SSIDs are not secret; print them escaped.
        f.write_str("Ssid(\"")?;
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                write!(f, "{}", c.escape_debug())?;
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        f.write_str("\")")
    }
}

/// Wi-Fi security types the app can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Security {
    /// No security.
    Open,
    /// WPA2-Personal (PSK).
    Wpa2Psk,
    /// WPA2/WPA3-Personal transition mode.
    Wpa2Wpa3,
    /// WPA3-Personal (SAE).
    Wpa3Sae,
}

impl Security {
    /// Wire code.
    pub const fn code(self) -> u8 {
        match self {
            Security::Open => 0,
            Security::Wpa2Psk => 1,
            Security::Wpa2Wpa3 => 2,
            Security::Wpa3Sae => 3,
        }
    }
    /// From a wire code.
    pub const fn from_code(code: u8) -> Result<Self, PairError> {
        Ok(match code {
            0 => Security::Open,
            1 => Security::Wpa2Psk,
            2 => Security::Wpa2Wpa3,
            3 => Security::Wpa3Sae,
            _ => return Err(PairError::UnsupportedSecurity),
        })
    }
}

/// A Wi-Fi passphrase: empty for open networks, else 8-63 printable ASCII characters or exactly
/// 64 hex digits (a raw PSK). Wiped on drop; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Passphrase(Vec<u8, PASSPHRASE_MAX>);

impl Passphrase {
    /// The empty passphrase of an open network.
    pub fn none() -> Self {
        Passphrase(Vec::new())
    }
    /// Validates and copies a passphrase for a secured network.
    pub fn new(bytes: &[u8]) -> Result<Self, PairError> {
        let ok = match bytes.len() {
            8..=63 => bytes.iter().all(|b| (0x20..=0x7e).contains(b)),
            64 => bytes.iter().all(u8::is_ascii_hexdigit),
            _ => false,
        };
        if !ok {
            return Err(PairError::InvalidPassphrase);
        }
        Vec::from_slice(bytes).map(Passphrase).map_err(|_| PairError::InvalidPassphrase)
    }
    /// The raw bytes. Handle with care.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
    /// Whether this is the empty passphrase.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl core::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Passphrase(<{} bytes redacted>)", self.0.len())
    }
}

/// A BSSID (the access point's MAC address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bssid(pub [u8; 6]);

/// Everything a device needs to join a Wi-Fi network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WifiCredentials {
    /// Network name.
    pub ssid: Ssid,
    /// The network does not broadcast its SSID: scan for it actively.
    pub hidden: bool,
    /// Security type.
    pub security: Security,
    /// Passphrase (empty iff `security` is `Open`).
    pub passphrase: Passphrase,
    /// Optional BSSID to lock onto.
    pub bssid: Option<Bssid>,
    /// Optional channel hint (1-233).
    pub channel: Option<u8>,
}

impl WifiCredentials {
    /// Checks the cross-field rules: open networks carry no passphrase, secured ones one;
    /// WPA3-SAE cannot use a raw 64-hex PSK; channel in 1..=233.
    pub fn validate(&self) -> Result<(), PairError> {
        match self.security {
            Security::Open if !self.passphrase.is_empty() => Err(PairError::InvalidPassphrase),
            Security::Open => Ok(()),
            _ if self.passphrase.is_empty() => Err(PairError::InvalidPassphrase),
            Security::Wpa3Sae if self.passphrase.expose().len() == 64 => {
                Err(PairError::InvalidPassphrase)
            }
            _ => Ok(()),
        }?;
        match self.channel {
            Some(0) | Some(234..=255) => Err(PairError::InvalidSsid),
            _ => Ok(()),
        }
    }
}

/// A single-use activation token issued by the cloud: 8-32 characters of `[A-Za-z0-9_-]`.
/// Wiped on drop; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ActivationToken(Vec<u8, TOKEN_MAX>);

impl ActivationToken {
    /// Validates and copies a token.
    pub fn new(bytes: &[u8]) -> Result<Self, PairError> {
        let ok = (TOKEN_MIN..=TOKEN_MAX).contains(&bytes.len())
            && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-');
        if !ok {
            return Err(PairError::InvalidToken);
        }
        Vec::from_slice(bytes).map(ActivationToken).map_err(|_| PairError::InvalidToken)
    }
    /// The raw bytes. Handle with care.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl core::fmt::Debug for ActivationToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ActivationToken(<redacted>)")
    }
}

/// Where the device activates: a two-letter region and optionally an explicit host and port
/// (when absent, the device uses its configured default for the region).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudEndpoint {
    /// Region code, two lowercase ASCII letters (`eu`, `us`, ...).
    pub region: [u8; 2],
    /// Host name or address literal, 1-64 bytes of `[A-Za-z0-9.-:]`.
    pub host: Option<Vec<u8, HOST_MAX>>,
    /// TCP port; 0 means the default (443).
    pub port: u16,
}

impl CloudEndpoint {
    /// Validates the fields.
    pub fn new(region: &[u8], host: Option<&[u8]>, port: u16) -> Result<Self, PairError> {
        let region: [u8; 2] = region.try_into().map_err(|_| PairError::InvalidEndpoint)?;
        if !region.iter().all(u8::is_ascii_lowercase) {
            return Err(PairError::InvalidEndpoint);
        }
        let host = match host {
            None => None,
            Some(h) => {
                let ok = !h.is_empty()
                    && h.iter().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(b));
                if !ok {
                    return Err(PairError::InvalidEndpoint);
                }
                Some(Vec::from_slice(h).map_err(|_| PairError::InvalidEndpoint)?)
            }
        };
        Ok(CloudEndpoint { region, host, port })
    }
}

/// The product a device belongs to (assigned by the vendor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProductId(pub u32);

/// A device's factory identity, unique per vendor; printed as 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(pub u64);

impl core::fmt::Display for DeviceId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The setup code printed on the device (8 decimal digits, 27 bits). Codes that are easy to
/// guess are refused. Wiped on drop; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SetupCode(u32);

impl SetupCode {
    /// Largest valid code.
    pub const MAX: u32 = 99_999_998;

    /// Validates a code: 1..=99_999_998, not all one digit, not 12345678 or 87654321.
    pub fn new(code: u32) -> Result<Self, PairError> {
        const TRIVIAL: [u32; 11] = [
            0, 11_111_111, 22_222_222, 33_333_333, 44_444_444, 55_555_555, 66_666_666,
            77_777_777, 88_888_888, 12_345_678, 87_654_321,
        ];
        if code > Self::MAX || TRIVIAL.contains(&code) {
            return Err(PairError::WrongSetupCode);
        }
        Ok(SetupCode(code))
    }
    /// The numeric value. Handle with care.
    pub fn expose(&self) -> u32 {
        self.0
    }
    /// The 8 ASCII digits fed to PBKDF2 (zero padded).
    pub fn digits(&self) -> [u8; 8] {
        let mut out = [b'0'; 8];
        let mut v = self.0;
        for d in out.iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        out
    }
}

impl core::fmt::Debug for SetupCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SetupCode(<redacted>)")
    }
}

/// The pairing modes a device supports (bit set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Modes(u8);

impl Modes {
    /// SoftAP.
    pub const SOFTAP: Modes = Modes(1 << 0);
    /// Bluetooth LE.
    pub const BLE: Modes = Modes(1 << 1);
    /// Wired Ethernet.
    pub const WIRED: Modes = Modes(1 << 2);
    /// Cellular with a QR bind.
    pub const CELLULAR: Modes = Modes(1 << 3);
    /// Every known mode.
    pub const ALL: Modes = Modes(0x0f);

    /// The empty set.
    pub const fn empty() -> Self {
        Modes(0)
    }
    /// From the wire bits; unknown bits are an error.
    pub const fn from_bits(bits: u8) -> Option<Self> {
        if bits & !Self::ALL.0 != 0 {
            None
        } else {
            Some(Modes(bits))
        }
    }
    /// The wire bits.
    pub const fn bits(self) -> u8 {
        self.0
    }
    /// Whether every mode of `other` is in `self`.
    pub const fn contains(self, other: Modes) -> bool {
        self.0 & other.0 == other.0
    }
    /// Union.
    pub const fn union(self, other: Modes) -> Modes {
        Modes(self.0 | other.0)
    }
    /// Whether no mode is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// The pairing mode of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// SoftAP.
    SoftAp,
    /// Bluetooth LE.
    Ble,
    /// Wired Ethernet.
    Wired,
    /// Cellular with a QR bind.
    Cellular,
}

impl Mode {
    /// The one-bit set of this mode.
    pub const fn bit(self) -> Modes {
        match self {
            Mode::SoftAp => Modes::SOFTAP,
            Mode::Ble => Modes::BLE,
            Mode::Wired => Modes::WIRED,
            Mode::Cellular => Modes::CELLULAR,
        }
    }
    /// Lowercase name (`softap`, `ble`, `wired`, `cellular`).
    pub const fn name(self) -> &'static str {
        match self {
            Mode::SoftAp => "softap",
            Mode::Ble => "ble",
            Mode::Wired => "wired",
            Mode::Cellular => "cellular",
        }
    }
    /// Whether this mode needs Wi-Fi credentials from the app.
    pub const fn needs_wifi(self) -> bool {
        matches!(self, Mode::SoftAp | Mode::Ble)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn ssid_bounds() {
        assert_eq!(Ssid::new(b""), Err(PairError::InvalidSsid));
        assert!(Ssid::new(&[b'a'; 32]).is_ok());
        assert_eq!(Ssid::new(&[b'a'; 33]), Err(PairError::InvalidSsid));
        assert_eq!(format!("{:?}", Ssid::new(b"caf\xc3\xa9\xff").unwrap()), "Ssid(\"café\\xff\")");
    }

    #[test]
    fn passphrase_rules() {
        assert!(Passphrase::new(b"1234567").is_err());
        assert!(Passphrase::new(b"12345678").is_ok());
        assert!(Passphrase::new(&[b'x'; 63]).is_ok());
        assert!(Passphrase::new(&[b'x'; 64]).is_err(), "64 chars must be hex");
        assert!(Passphrase::new(&[b'a'; 64]).is_ok());
        assert!(Passphrase::new(&[b'a'; 65]).is_err());
        assert!(Passphrase::new(b"tab\there!").is_err(), "control characters");
        let p = Passphrase::new(b"hunter2hunter2").unwrap();
        assert!(!format!("{p:?}").contains("hunter"));
    }

    #[test]
    fn credentials_cross_rules() {
        let creds = |security, pass: &[u8]| WifiCredentials {
            ssid: Ssid::new(b"home").unwrap(),
            hidden: false,
            security,
            passphrase: if pass.is_empty() { Passphrase::none() } else { Passphrase::new(pass).unwrap() },
            bssid: None,
            channel: None,
        };
        assert!(creds(Security::Open, b"").validate().is_ok());
        assert!(creds(Security::Open, b"password1").validate().is_err());
        assert!(creds(Security::Wpa2Psk, b"").validate().is_err());
        assert!(creds(Security::Wpa3Sae, &[b'a'; 64]).validate().is_err());
        assert!(creds(Security::Wpa3Sae, b"password1").validate().is_ok());
    }

    #[test]
    fn token_and_code_rules() {
        assert!(ActivationToken::new(b"short").is_err());
        assert!(ActivationToken::new(b"AbC-123_xyz").is_ok());
        assert!(ActivationToken::new(b"has space!").is_err());
        assert!(ActivationToken::new(&[b'a'; 33]).is_err());
        assert!(SetupCode::new(12_345_678).is_err());
        assert!(SetupCode::new(99_999_999).is_err());
        assert_eq!(&SetupCode::new(20_202_021).unwrap().digits(), b"20202021");
        assert_eq!(&SetupCode::new(7).unwrap().digits(), b"00000007");
    }

    #[test]
    fn endpoint_and_modes() {
        assert!(CloudEndpoint::new(b"eu", Some(b"cloud.example.com"), 8443).is_ok());
        assert!(CloudEndpoint::new(b"EU", None, 0).is_err());
        assert!(CloudEndpoint::new(b"eu", Some(b"bad host"), 0).is_err());
        assert_eq!(Modes::from_bits(0x10), None);
        assert!(Modes::ALL.contains(Modes::BLE.union(Modes::WIRED)));
    }
}
