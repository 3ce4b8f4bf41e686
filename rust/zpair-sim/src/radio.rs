//! The simulated radios: the Wi-Fi station (scan and join against `aps.json`), the Ethernet
//! link and the cellular modem. Pure decisions; the device thread applies their delays.

use crate::air::{AccessPoint, ApSecurity, Dhcp};
use std::net::{IpAddr, Ipv4Addr};
use zpair_core::crypto::Crypto;
use zpair_core::device::Device;
use zpair_core::error::PairError;
use zpair_core::msg::{ScanEntry, ScanResults};
use zpair_core::types::{Bssid, DeviceId, Security, Ssid, WifiCredentials};

/// The address a device gets from a network (deterministic per device).
pub(crate) fn lease(device: DeviceId, base: [u8; 3]) -> IpAddr {
    let host = 20 + (device.0 % 200) as u8;
    IpAddr::V4(Ipv4Addr::new(base[0], base[1], base[2], host))
}

/// The outcome of a Wi-Fi join attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinOutcome {
    /// Associated and leased this address.
    Up(IpAddr),
    /// Associated, but DHCP never answers (after the DHCP timeout).
    DhcpTimeout,
    /// Failed at once (not found, wrong password, association).
    Failed(PairError),
}

fn security_compatible(ap: ApSecurity, creds: Security) -> bool {
    match ap {
        ApSecurity::Open => creds == Security::Open,
        ApSecurity::Wpa2 => matches!(creds, Security::Wpa2Psk | Security::Wpa2Wpa3),
        ApSecurity::Wpa2Wpa3 => creds != Security::Open,
        ApSecurity::Wpa3 => matches!(creds, Security::Wpa3Sae | Security::Wpa2Wpa3),
    }
}

/// Whether the credentials' passphrase is the AP's: the same passphrase, or (64 hex digits) the
/// raw PSK, which the simulation derives as PBKDF2-HMAC-SHA256(passphrase, SSID, 4096) in hex
/// (a stand-in for 802.11's PBKDF2-HMAC-SHA1, which the crypto trait does not offer).
fn passphrase_matches<C: Crypto>(crypto: &mut C, ap: &AccessPoint, given: &[u8]) -> bool {
    use subtle_eq::ct_eq;
    if given.len() == 64 {
        let mut psk = [0u8; 32];
        if crypto.pbkdf2_hmac_sha256(ap.passphrase.as_bytes(), ap.ssid.as_bytes(), 4096, &mut psk).is_err() {
            return false;
        }
        let want = hex::encode(psk);
        zeroize::Zeroize::zeroize(&mut psk);
        let ok = ct_eq(want.as_bytes(), given.to_ascii_lowercase().as_slice());
        drop(zeroize::Zeroizing::new(want));
        ok
    } else {
        ct_eq(ap.passphrase.as_bytes(), given)
    }
}

mod subtle_eq {
    /// Constant-time equality of two byte strings (length is not secret).
    pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Decides a join of `creds` among `aps`.
pub(crate) fn join<C: Crypto>(crypto: &mut C, aps: &[AccessPoint], creds: &WifiCredentials, device: DeviceId) -> JoinOutcome {
    let ssid = creds.ssid.as_bytes();
    let found = aps.iter().find(|ap| {
        ap.ssid.as_bytes() == ssid
            && (!ap.hidden || creds.hidden)
            && creds.bssid.is_none_or(|b| b.0 == ap.bssid_bytes())
    });
    let Some(ap) = found else {
        return JoinOutcome::Failed(PairError::ApNotFound);
    };
    if !security_compatible(ap.security, creds.security) {
        // A secured AP given no passphrase refuses the handshake like a wrong one.
        return JoinOutcome::Failed(if ap.security != ApSecurity::Open && creds.security == Security::Open {
            PairError::WrongPassword
        } else {
            PairError::AssociationFailed
        });
    }
    if ap.security != ApSecurity::Open && !passphrase_matches(crypto, ap, creds.passphrase.expose()) {
        return JoinOutcome::Failed(PairError::WrongPassword);
    }
    match ap.dhcp {
        Dhcp::Ok => JoinOutcome::Up(lease(device, [192, 168, 1])),
        Dhcp::Timeout => JoinOutcome::DhcpTimeout,
    }
}

/// The scan result pages for `aps`: visible networks, strongest first, each page as large as
/// one session record allows ([`Device::scan_page_limit`]); all pages but the last say `more`.
pub(crate) fn scan_pages<C: Crypto>(aps: &[AccessPoint]) -> Vec<ScanResults> {
    let mut visible: Vec<&AccessPoint> = aps.iter().filter(|ap| !ap.hidden).collect();
    visible.sort_by(|a, b| b.rssi.cmp(&a.rssi).then_with(|| a.ssid.cmp(&b.ssid)));
    let limit = Device::<C>::scan_page_limit();
    let mut pages = vec![ScanResults::default()];
    for ap in visible {
        let Ok(ssid) = Ssid::new(ap.ssid.as_bytes()) else { continue };
        let entry = ScanEntry {
            ssid,
            bssid: Bssid(ap.bssid_bytes()),
            rssi: ap.rssi,
            channel: ap.channel,
            security: Some(ap.security.to_security()),
        };
        let page = pages.last_mut().expect("at least one page");
        if let Err(entry) = page.try_push(entry, limit) {
            page.more = true;
            let mut next = ScanResults::default();
            // A single entry always fits an empty page.
            let _ = next.try_push(entry, limit);
            pages.push(next);
        }
    }
    pages
}

/// The cellular network's behaviour towards the modem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CellNetwork {
    /// Registration succeeds.
    #[default]
    Registers,
    /// The network denies registration (`RegistrationDenied`).
    Denies,
    /// The network never answers (`AttachTimeout` after the attach timeout).
    NoAnswer,
}

/// The simulated modem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModemConfig {
    /// The modem's IMEI (15 digits; published with the QR code).
    pub imei: String,
    /// The SIM's ICCID; `None`: no SIM (`SimMissing`).
    pub iccid: Option<String>,
    /// How the network treats registrations.
    pub network: CellNetwork,
    /// Time from attach request to registration (ms).
    pub attach_delay_ms: u64,
    /// Time after which an unanswered attach fails with `AttachTimeout` (ms).
    pub attach_timeout_ms: u64,
    /// Delay before re-trying a failed bootstrap attach while the window is open (ms).
    pub retry_ms: u64,
}

impl Default for ModemConfig {
    fn default() -> Self {
        ModemConfig {
            imei: "356938035643809".into(),
            iccid: Some("8944500102198304826".into()),
            network: CellNetwork::Registers,
            attach_delay_ms: 200,
            attach_timeout_ms: 5_000,
            retry_ms: 5_000,
        }
    }
}

impl ModemConfig {
    /// The outcome of an attach now, and how long it takes.
    pub(crate) fn attach(&self, device: DeviceId) -> (u64, Result<IpAddr, PairError>) {
        if self.iccid.is_none() {
            return (0, Err(PairError::SimMissing));
        }
        match self.network {
            CellNetwork::Registers => (self.attach_delay_ms, Ok(lease(device, [100, 64, 0]))),
            CellNetwork::Denies => (self.attach_delay_ms, Err(PairError::RegistrationDenied)),
            CellNetwork::NoAnswer => (self.attach_timeout_ms, Err(PairError::AttachTimeout)),
        }
    }
}

/// The Ethernet link of wired mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WiredLink {
    /// Carrier and a DHCP lease.
    #[default]
    Up,
    /// No cable (`NoLink`).
    NoLink,
    /// Carrier but no lease (`DhcpTimeout`).
    DhcpTimeout,
}

#[cfg(test)]
mod tests {
    use super::*;
    use zpair_core::types::Passphrase;
    use zpair_mbedtls::MbedTls;

    fn creds(ssid: &str, pass: &str, sec: Security, hidden: bool) -> WifiCredentials {
        WifiCredentials {
            ssid: Ssid::new(ssid.as_bytes()).unwrap(),
            hidden,
            security: sec,
            passphrase: if pass.is_empty() { Passphrase::none() } else { Passphrase::new(pass.as_bytes()).unwrap() },
            bssid: None,
            channel: None,
        }
    }

    #[test]
    fn joins_check_ssid_hidden_security_passphrase_and_dhcp() {
        let mut c = MbedTls::os();
        let d = DeviceId(0x1234);
        let mut hidden = AccessPoint::wpa2("Hidden", "hidden-pass");
        hidden.hidden = true;
        let mut nodhcp = AccessPoint::wpa2("NoDhcp", "nodhcp-pass");
        nodhcp.dhcp = Dhcp::Timeout;
        let mut wpa3 = AccessPoint::wpa2("Wpa3", "wpa3-pass!");
        wpa3.security = ApSecurity::Wpa3;
        let aps = vec![AccessPoint::wpa2("Home", "correct-pass"), hidden, nodhcp, wpa3, AccessPoint::open("Cafe")];
        let ok = JoinOutcome::Up(lease(d, [192, 168, 1]));
        assert_eq!(join(&mut c, &aps, &creds("Home", "correct-pass", Security::Wpa2Psk, false), d), ok);
        assert_eq!(join(&mut c, &aps, &creds("Home", "correct-pasS", Security::Wpa2Psk, false), d), JoinOutcome::Failed(PairError::WrongPassword));
        assert_eq!(join(&mut c, &aps, &creds("Nope", "correct-pass", Security::Wpa2Psk, false), d), JoinOutcome::Failed(PairError::ApNotFound));
        assert_eq!(join(&mut c, &aps, &creds("Hidden", "hidden-pass", Security::Wpa2Psk, false), d), JoinOutcome::Failed(PairError::ApNotFound));
        assert_eq!(join(&mut c, &aps, &creds("Hidden", "hidden-pass", Security::Wpa2Psk, true), d), ok);
        assert_eq!(join(&mut c, &aps, &creds("NoDhcp", "nodhcp-pass", Security::Wpa2Psk, false), d), JoinOutcome::DhcpTimeout);
        assert_eq!(join(&mut c, &aps, &creds("Wpa3", "wpa3-pass!", Security::Wpa2Psk, false), d), JoinOutcome::Failed(PairError::AssociationFailed));
        assert_eq!(join(&mut c, &aps, &creds("Wpa3", "wpa3-pass!", Security::Wpa3Sae, false), d), ok);
        assert_eq!(join(&mut c, &aps, &creds("Cafe", "", Security::Open, false), d), ok);
        assert_eq!(join(&mut c, &aps, &creds("Home", "", Security::Open, false), d), JoinOutcome::Failed(PairError::WrongPassword));
        // A raw PSK derived from the right passphrase joins.
        let mut psk = [0u8; 32];
        c.pbkdf2_hmac_sha256(b"correct-pass", b"Home", 4096, &mut psk).unwrap();
        assert_eq!(join(&mut c, &aps, &creds("Home", &hex::encode(psk), Security::Wpa2Psk, false), d), ok);
        assert_eq!(join(&mut c, &aps, &creds("Home", &"0".repeat(64), Security::Wpa2Psk, false), d), JoinOutcome::Failed(PairError::WrongPassword));
    }

    #[test]
    fn scan_pages_split_hide_hidden_and_sort() {
        let mut aps: Vec<AccessPoint> = (0..40).map(|i| {
            let mut ap = AccessPoint::wpa2(&format!("net-{i:02}-{}", "x".repeat(20)), "whatever-pass");
            ap.rssi = -30 - i as i8;
            ap
        }).collect();
        aps[3].hidden = true;
        let pages = scan_pages::<MbedTls<zpair_mbedtls::OsEntropy>>(&aps);
        assert!(pages.len() > 1);
        let all: Vec<_> = pages.iter().flat_map(|p| p.entries.iter()).collect();
        assert_eq!(all.len(), 39);
        assert!(all.windows(2).all(|w| w[0].rssi >= w[1].rssi));
        assert!(pages[..pages.len() - 1].iter().all(|p| p.more) && !pages.last().unwrap().more);
        let mut buf = [0u8; 1024];
        for p in &pages {
            assert!(p.encode(&mut buf).unwrap() <= Device::<MbedTls<zpair_mbedtls::OsEntropy>>::scan_page_limit());
        }
        assert_eq!(scan_pages::<MbedTls<zpair_mbedtls::OsEntropy>>(&[]).len(), 1);
    }

    #[test]
    fn modem_outcomes() {
        let d = DeviceId(7);
        let mut m = ModemConfig::default();
        assert!(m.attach(d).1.is_ok());
        m.network = CellNetwork::Denies;
        assert_eq!(m.attach(d).1, Err(PairError::RegistrationDenied));
        m.network = CellNetwork::NoAnswer;
        assert_eq!(m.attach(d), (m.attach_timeout_ms, Err(PairError::AttachTimeout)));
        m.iccid = None;
        assert_eq!(m.attach(d).1, Err(PairError::SimMissing));
    }
}
