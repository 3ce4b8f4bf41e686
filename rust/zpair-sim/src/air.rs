//! The simulated "air": a directory where simulated devices and commissioners meet
//! (see `docs/transports.md`).
//!
//! ```text
//! <air>/aps.json                 access points in range (written by the test / the user)
//! <air>/softap/<ssid>.json       a device's SoftAP while its window is open
//! <air>/ble/<device>.json        a BLE advertisement, and <air>/ble/<device>.sock its socket
//! <air>/cellular/<device>.json   the QR code a cellular device shows
//! ```
//!
//! Every file is written to a temporary name and renamed, so a reader never sees half a file.

use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};
use zpair_core::types::Security;

/// The Wi-Fi security of an access point, as spelled in `aps.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApSecurity {
    /// No security.
    #[serde(rename = "open")]
    Open,
    /// WPA2-Personal.
    #[serde(rename = "wpa2", alias = "wpa2-psk", alias = "wpa2_psk")]
    Wpa2,
    /// WPA2/WPA3 transition mode (accepts both).
    #[serde(rename = "wpa2-wpa3", alias = "wpa2/wpa3", alias = "wpa2_wpa3")]
    Wpa2Wpa3,
    /// WPA3-Personal (SAE) only.
    #[serde(rename = "wpa3", alias = "wpa3-sae", alias = "wpa3_sae")]
    Wpa3,
}

impl ApSecurity {
    /// The protocol's security type of this AP (what a scan reports).
    pub fn to_security(self) -> Security {
        match self {
            ApSecurity::Open => Security::Open,
            ApSecurity::Wpa2 => Security::Wpa2Psk,
            ApSecurity::Wpa2Wpa3 => Security::Wpa2Wpa3,
            ApSecurity::Wpa3 => Security::Wpa3Sae,
        }
    }
}

/// What the AP's DHCP server does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dhcp {
    /// Hands out a lease.
    #[default]
    Ok,
    /// Never answers: the join ends in `DhcpTimeout`.
    Timeout,
}

fn default_rssi() -> i8 {
    -50
}
fn default_channel() -> u8 {
    6
}

/// One access point in range (an entry of `aps.json`).
///
/// `Debug` does not show the passphrase.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessPoint {
    /// The network name (UTF-8).
    pub ssid: String,
    /// Security.
    pub security: ApSecurity,
    /// The passphrase (8–63 characters; empty for open networks).
    #[serde(default)]
    pub passphrase: String,
    /// Signal strength (dBm).
    #[serde(default = "default_rssi")]
    pub rssi: i8,
    /// Channel.
    #[serde(default = "default_channel")]
    pub channel: u8,
    /// The AP does not broadcast its SSID: scans do not report it, and a join finds it only
    /// when the credentials say `hidden`.
    #[serde(default)]
    pub hidden: bool,
    /// DHCP behaviour.
    #[serde(default)]
    pub dhcp: Dhcp,
    /// BSSID as `aa:bb:cc:dd:ee:ff` (default: derived from the SSID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bssid: Option<String>,
}

impl std::fmt::Debug for AccessPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessPoint")
            .field("ssid", &self.ssid)
            .field("security", &self.security)
            .field("rssi", &self.rssi)
            .field("channel", &self.channel)
            .field("hidden", &self.hidden)
            .field("dhcp", &self.dhcp)
            .finish_non_exhaustive()
    }
}

impl AccessPoint {
    /// A WPA2 access point with defaults (RSSI −50, channel 6, visible, DHCP answers).
    pub fn wpa2(ssid: &str, passphrase: &str) -> Self {
        AccessPoint {
            ssid: ssid.into(),
            security: ApSecurity::Wpa2,
            passphrase: passphrase.into(),
            rssi: default_rssi(),
            channel: default_channel(),
            hidden: false,
            dhcp: Dhcp::Ok,
            bssid: None,
        }
    }

    /// An open access point with defaults.
    pub fn open(ssid: &str) -> Self {
        AccessPoint { security: ApSecurity::Open, passphrase: String::new(), ..Self::wpa2(ssid, "") }
    }

    /// The BSSID: the configured one, or six bytes derived from the SSID (locally administered).
    pub fn bssid_bytes(&self) -> [u8; 6] {
        if let Some(b) = &self.bssid {
            let v: Vec<u8> = b.split(':').filter_map(|p| u8::from_str_radix(p, 16).ok()).collect();
            if let Ok(arr) = <[u8; 6]>::try_from(v.as_slice()) {
                return arr;
            }
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.ssid.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        let x = h.to_be_bytes();
        [0x02, x[1], x[2], x[3], x[4], x[5]]
    }
}

/// A SoftAP as published in `softap/<ssid>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftApAdvert {
    /// The AP's SSID (`zpair-XXXX`, the last 4 hex digits of the device id).
    pub ssid: String,
    /// The device id (16 hex digits).
    pub device: String,
    /// The TCP address standing in for the AP.
    pub addr: String,
    /// The TCP port.
    pub port: u16,
}

impl SoftApAdvert {
    /// The socket address to connect to.
    pub fn socket_addr(&self) -> io::Result<std::net::SocketAddr> {
        format!("{}:{}", self.addr, self.port)
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad SoftAP address"))
    }
}

/// A BLE advertisement as published in `ble/<device>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BleAdvert {
    /// The device id (16 hex digits).
    pub device: String,
    /// The product id.
    pub product: u32,
    /// The 12-bit discriminator (low bits of the device id).
    pub discriminator: u16,
    /// The supported modes (bits of `Modes`).
    pub modes: u8,
    /// The machine's state name (`window_open`, `session_open`, ...).
    pub state: String,
    /// The socket to connect to (`ble/<device>.sock`).
    #[serde(default)]
    pub socket: Option<PathBuf>,
}

/// The QR code a cellular device shows, as published in `cellular/<device>.json`.
///
/// `Debug` does not show the payload (it contains the setup code).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellularQr {
    /// The device id (16 hex digits).
    pub device: String,
    /// The setup payload string (`ZP:...`).
    pub payload: String,
    /// The modem's IMEI.
    pub imei: String,
    /// The modem's state: `attached`, `attaching`, or an error name (`sim_missing`, ...).
    #[serde(default)]
    pub modem: String,
}

impl std::fmt::Debug for CellularQr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CellularQr")
            .field("device", &self.device)
            .field("imei", &self.imei)
            .field("modem", &self.modem)
            .finish_non_exhaustive()
    }
}

/// The air directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Air {
    dir: PathBuf,
}

impl Air {
    /// The air in `dir` (created with its subdirectories if missing).
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let air = Air { dir: dir.into() };
        for sub in ["softap", "ble", "cellular"] {
            std::fs::create_dir_all(air.dir.join(sub))?;
        }
        Ok(air)
    }

    /// The default air directory: `$XDG_RUNTIME_DIR/zpair-air`, else `/tmp/zpair-air-$UID`.
    pub fn default_dir() -> PathBuf {
        match std::env::var_os("XDG_RUNTIME_DIR") {
            Some(d) if !d.is_empty() => PathBuf::from(d).join("zpair-air"),
            _ => {
                let uid = rustix::process::getuid().as_raw();
                PathBuf::from(format!("/tmp/zpair-air-{uid}"))
            }
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `aps.json`.
    pub fn aps_path(&self) -> PathBuf {
        self.dir.join("aps.json")
    }

    /// Replaces the access points in range.
    pub fn set_access_points(&self, aps: &[AccessPoint]) -> io::Result<()> {
        write_json(&self.aps_path(), aps)
    }

    /// The access points in range (none if `aps.json` does not exist).
    pub fn access_points(&self) -> io::Result<Vec<AccessPoint>> {
        match std::fs::read(self.aps_path()) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// The SoftAPs currently up.
    pub fn softaps(&self) -> Vec<SoftApAdvert> {
        read_all(&self.dir.join("softap"))
    }

    /// The BLE advertisements currently on air.
    pub fn ble_adverts(&self) -> Vec<BleAdvert> {
        read_all(&self.dir.join("ble"))
    }

    /// The cellular QR codes currently shown.
    pub fn cellular_qrs(&self) -> Vec<CellularQr> {
        read_all(&self.dir.join("cellular"))
    }

    /// The BLE socket path of a device (`ble/<device>.sock`).
    pub fn ble_socket_path(&self, device_hex: &str) -> PathBuf {
        self.dir.join("ble").join(format!("{device_hex}.sock"))
    }

    /// Removes whatever a device published (a killed device leaves its files behind).
    pub fn forget_device(&self, device: zpair_core::types::DeviceId) {
        let hex = format!("{:016x}", device.0);
        remove(&self.softap_path(&format!("zpair-{}", &hex[12..])));
        remove(&self.ble_path(&hex));
        remove(&self.ble_socket_path(&hex));
        remove(&self.cellular_path(&hex));
    }

    pub(crate) fn softap_path(&self, ssid: &str) -> PathBuf {
        self.dir.join("softap").join(format!("{ssid}.json"))
    }
    pub(crate) fn ble_path(&self, device_hex: &str) -> PathBuf {
        self.dir.join("ble").join(format!("{device_hex}.json"))
    }
    pub(crate) fn cellular_path(&self, device_hex: &str) -> PathBuf {
        self.dir.join("cellular").join(format!("{device_hex}.json"))
    }
}

/// Writes JSON to a temporary file next to `path` and renames it over `path`.
pub(crate) fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Removes a file; a missing file is fine.
pub(crate) fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "could not remove air file");
        }
    }
}

fn read_all<T: for<'de> Deserialize<'de>>(dir: &Path) -> Vec<T> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    for p in paths {
        if let Ok(bytes) = std::fs::read(&p) {
            if let Ok(v) = serde_json::from_slice(&bytes) {
                out.push(v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_points_round_trip_and_parse_the_documented_form() {
        let dir = std::env::temp_dir().join(format!("zpair-air-test-{}", std::process::id()));
        let air = Air::new(&dir).unwrap();
        assert!(air.access_points().unwrap().is_empty());
        let aps = vec![AccessPoint::wpa2("HomeNet-24", "correct-pass"), AccessPoint::open("Cafe")];
        air.set_access_points(&aps).unwrap();
        assert_eq!(air.access_points().unwrap(), aps);
        std::fs::write(
            air.aps_path(),
            r#"[{"ssid": "HomeNet-24", "security": "wpa2", "passphrase": "abcdefgh", "rssi": -48,
                 "channel": 6, "hidden": false, "dhcp": "timeout"},
                {"ssid": "Hid", "security": "wpa2-wpa3", "passphrase": "abcdefgh", "hidden": true,
                 "bssid": "aa:bb:cc:dd:ee:ff"}]"#,
        )
        .unwrap();
        let aps = air.access_points().unwrap();
        assert_eq!(aps[0].dhcp, Dhcp::Timeout);
        assert_eq!(aps[1].security, ApSecurity::Wpa2Wpa3);
        assert_eq!(aps[1].bssid_bytes(), [0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
        assert_eq!(aps[0].bssid_bytes(), AccessPoint::wpa2("HomeNet-24", "x").bssid_bytes());
        assert!(!format!("{:?}", aps[0]).contains("abcdefgh"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
