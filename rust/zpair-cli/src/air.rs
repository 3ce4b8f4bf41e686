//! The simulated "air" (see `docs/transports.md`): the directory where simulated devices publish
//! their SoftAPs, BLE advertisements and cellular QR codes, and the access points in range.
//!
//! The commissioner only reads it. Entries are JSON; unknown fields are ignored and unreadable
//! entries skipped (a device may be writing one right now).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use zpair_core::types::DeviceId;

/// The default air directory: `$XDG_RUNTIME_DIR/zpair-air`, else `/tmp/zpair-air-$UID`.
pub fn default_air_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("zpair-air"),
        _ => PathBuf::from(format!("/tmp/zpair-air-{}", current_uid())),
    }
}

fn current_uid() -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // The owner of a file we just created would need a write; /proc/self is owned by us.
        std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0)
    }
    #[cfg(not(unix))]
    {
        0
    }
}

/// A SoftAP in range: `softap/<ssid>.json`. Joining it is connecting to `addr:port` over TCP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftAp {
    /// The AP's SSID (`zpair-XXXX`).
    pub ssid: String,
    /// The device id (16 hex digits).
    pub device: String,
    /// The address standing in for the AP's pairing endpoint.
    pub addr: String,
    /// The TCP port.
    pub port: u16,
}

/// A BLE advertisement: `ble/<device>.json` (+ `ble/<device>.sock`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BleAdvert {
    /// The device id (16 hex digits).
    pub device: String,
    /// Product id.
    #[serde(default)]
    pub product: u32,
    /// The low 12 bits of the device id.
    #[serde(default)]
    pub discriminator: u16,
    /// Supported modes (bits).
    #[serde(default)]
    pub modes: u8,
    /// The pairing state (`window_open`, ...).
    #[serde(default)]
    pub state: String,
    /// The socket to connect to (filled in by [`Air::ble`], not part of the JSON).
    #[serde(skip)]
    pub socket: PathBuf,
}

/// A cellular device's QR code: `cellular/<device>.json`. The payload contains the setup code:
/// it is never printed unless the user asks for it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct CellularQr {
    /// The device id (16 hex digits).
    pub device: String,
    /// The setup payload string (`ZP:...`).
    pub payload: String,
    /// The modem's IMEI.
    #[serde(default)]
    pub imei: String,
    /// The modem: `attaching`, `attached`, or the error of its last attach (`sim_missing` ...).
    #[serde(default)]
    pub modem: String,
}

impl std::fmt::Debug for CellularQr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CellularQr").field("device", &self.device).finish_non_exhaustive()
    }
}

/// An access point of `aps.json` (only the public fields are read).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccessPoint {
    /// SSID.
    pub ssid: String,
    /// `open`, `wpa2`, `wpa3`, ...
    #[serde(default)]
    pub security: String,
    /// Signal strength.
    #[serde(default)]
    pub rssi: i32,
    /// Channel.
    #[serde(default)]
    pub channel: u8,
    /// Hidden network.
    #[serde(default)]
    pub hidden: bool,
}

/// A view of the air directory.
#[derive(Debug, Clone)]
pub struct Air {
    dir: PathBuf,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Parses a device id: 16 hex digits (a `0x` prefix and separators `:`/`-` are tolerated).
pub fn parse_device_id(s: &str) -> Option<DeviceId> {
    let t: String = s.trim().trim_start_matches("0x").chars().filter(|c| *c != ':' && *c != '-').collect();
    if t.is_empty() || t.len() > 16 {
        return None;
    }
    u64::from_str_radix(&t, 16).ok().map(DeviceId)
}

impl Air {
    /// The air at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Air { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the directory exists.
    pub fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    /// SoftAPs in range, by SSID.
    pub fn softaps(&self) -> Vec<SoftAp> {
        json_files(&self.dir.join("softap")).iter().filter_map(|p| read_json(p)).collect()
    }

    /// The SoftAP with this SSID.
    pub fn softap(&self, ssid: &str) -> Option<SoftAp> {
        read_json(&self.dir.join("softap").join(format!("{ssid}.json")))
    }

    /// BLE advertisements, with their sockets (adverts without a socket are left-overs of a
    /// device that was killed, and skipped).
    pub fn ble(&self) -> Vec<BleAdvert> {
        json_files(&self.dir.join("ble"))
            .iter()
            .filter_map(|p| {
                let mut a: BleAdvert = read_json(p)?;
                a.socket = p.with_extension("sock");
                a.socket.exists().then_some(a)
            })
            .collect()
    }

    /// Cellular QR codes shown by devices.
    pub fn cellular(&self) -> Vec<CellularQr> {
        json_files(&self.dir.join("cellular")).iter().filter_map(|p| read_json(p)).collect()
    }

    /// The access points in range (`aps.json`), visible ones only unless `hidden`.
    pub fn access_points(&self) -> Vec<AccessPoint> {
        read_json(&self.dir.join("aps.json")).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_kind_of_entry_and_skips_garbage() {
        let d = tempfile::tempdir().unwrap();
        for sub in ["softap", "ble", "cellular"] {
            std::fs::create_dir_all(d.path().join(sub)).unwrap();
        }
        std::fs::write(
            d.path().join("softap/zpair-6677.json"),
            r#"{"ssid":"zpair-6677","device":"0011223344556677","addr":"127.0.0.1","port":40123,"extra":1}"#,
        )
        .unwrap();
        std::fs::write(d.path().join("softap/broken.json"), "{").unwrap();
        std::fs::write(
            d.path().join("ble/0011223344556677.json"),
            r#"{"device":"0011223344556677","product":23120,"discriminator":1655,"modes":15,"state":"window_open"}"#,
        )
        .unwrap();
        std::fs::write(
            d.path().join("cellular/0011223344556677.json"),
            r#"{"device":"0011223344556677","payload":"ZP:AAAA","imei":"1"}"#,
        )
        .unwrap();
        std::fs::write(d.path().join("aps.json"), r#"[{"ssid":"HomeNet-24","security":"wpa2","passphrase":"x","rssi":-48,"channel":6,"hidden":false,"dhcp":"ok"}]"#).unwrap();
        let air = Air::new(d.path());
        assert_eq!(air.softaps().len(), 1);
        assert_eq!(air.softap("zpair-6677").unwrap().port, 40123);
        assert!(air.ble().is_empty(), "no socket, no advert");
        std::fs::write(d.path().join("ble/0011223344556677.sock"), "").unwrap();
        let ble = air.ble();
        assert_eq!(ble[0].discriminator, 1655);
        assert!(ble[0].socket.ends_with("ble/0011223344556677.sock"));
        let cell = air.cellular();
        assert!(!format!("{cell:?}").contains("ZP:"));
        assert_eq!(air.access_points()[0].ssid, "HomeNet-24");
        assert!(Air::new(d.path().join("nope")).softaps().is_empty());
    }

    #[test]
    fn device_ids() {
        assert_eq!(parse_device_id("0011223344556677"), Some(DeviceId(0x0011_2233_4455_6677)));
        assert_eq!(parse_device_id("0x00:11:22:33:44:55:66:77"), Some(DeviceId(0x0011_2233_4455_6677)));
        assert_eq!(parse_device_id("xyz"), None);
        assert_eq!(parse_device_id("00112233445566778"), None);
        assert_eq!(parse_device_id(""), None);
    }
}
