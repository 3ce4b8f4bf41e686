//! The factory registry's file formats and the batch generator.
//!
//! * **Cloud manifest** (imported with `zpair-cloud import`): JSON
//!   `{"version": 1, "devices": [DeviceEntry, ...]}` (a bare array is accepted too) or CSV with
//!   the header `device_id,product_id,activation_secret,w0,l,setup_payload`. It carries no setup
//!   codes, only their SPAKE2+ verifiers.
//! * **Factory file** (one per device, flashed at the factory and printed on the label):
//!   [`FactoryRecord`] as JSON: the identity, the verifier and the setup payload string
//!   (which contains the setup code).
//!
//! Hex fields are lowercase or uppercase hex without prefix; `device_id` is 16 hex digits.

use crate::store::DeviceIdentity;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use zpair_core::payload::SetupPayload;
use zpair_core::types::{DeviceId, Modes, ProductId, SetupCode};
use zpair_crypto::Crypto;

/// The manifest format version written by [`write_batch`].
pub const MANIFEST_VERSION: u32 = 1;

/// One device of a cloud manifest.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEntry {
    /// 16 hex digits.
    pub device_id: String,
    /// Product id (decimal).
    pub product_id: u32,
    /// 64 hex digits (32 bytes).
    pub activation_secret: String,
    /// SPAKE2+ verifier w0: 64 hex digits.
    pub w0: String,
    /// SPAKE2+ verifier L: 130 hex digits (65-byte SEC1 uncompressed point).
    pub l: String,
    /// The setup payload string (`ZP:...`); accepted for convenience, never stored by the cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_payload: Option<String>,
}

impl std::fmt::Debug for DeviceEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceEntry")
            .field("device_id", &self.device_id)
            .field("product_id", &self.product_id)
            .finish_non_exhaustive()
    }
}

/// A cloud manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version ([`MANIFEST_VERSION`]).
    pub version: u32,
    /// The devices.
    pub devices: Vec<DeviceEntry>,
}

/// What is flashed into one device and printed on its label.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FactoryRecord {
    /// The identity, as in the manifest (its `setup_payload` is always present here).
    #[serde(flatten)]
    pub entry: DeviceEntry,
    /// The setup code (8 digits), for a label that prints it next to the QR code.
    pub setup_code: String,
}

impl std::fmt::Debug for FactoryRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FactoryRecord").field("entry", &self.entry).finish_non_exhaustive()
    }
}

/// Why a manifest could not be read.
#[derive(Debug)]
pub enum ManifestError {
    /// I/O failure.
    Io(std::io::Error),
    /// The file is not valid JSON / CSV of the expected shape.
    Parse(String),
    /// An entry is invalid (index, reason).
    Entry(usize, String),
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManifestError::Io(e) => write!(f, "manifest: {e}"),
            ManifestError::Parse(e) => write!(f, "manifest: {e}"),
            ManifestError::Entry(i, e) => write!(f, "manifest entry {i}: {e}"),
        }
    }
}

impl std::error::Error for ManifestError {}

fn hex_fixed<const N: usize>(s: &str, what: &str) -> Result<[u8; N], String> {
    let v = hex::decode(s.trim()).map_err(|_| format!("{what} is not hex"))?;
    v.try_into().map_err(|_| format!("{what} must be {N} bytes"))
}

impl DeviceEntry {
    /// Validates the entry and converts it to the store's identity.
    pub fn to_identity(&self) -> Result<DeviceIdentity, String> {
        let id = self.device_id.trim();
        if id.len() != 16 {
            return Err("device_id must be 16 hex digits".into());
        }
        let device_id = u64::from_str_radix(id, 16).map_err(|_| "device_id is not hex".to_string())?;
        if let Some(p) = &self.setup_payload {
            let payload = zpair_core::payload::parse(p.trim()).map_err(|e| format!("setup_payload: {e}"))?;
            if payload.device.0 != device_id || payload.product.0 != self.product_id {
                return Err("setup_payload names another device or product".into());
            }
        }
        let l = hex_fixed::<65>(&self.l, "l")?;
        if l[0] != 0x04 {
            return Err("l must be an uncompressed point".into());
        }
        Ok(DeviceIdentity {
            device_id: DeviceId(device_id),
            product_id: ProductId(self.product_id),
            activation_secret: hex_fixed::<32>(&self.activation_secret, "activation_secret")?,
            w0: hex_fixed::<32>(&self.w0, "w0")?,
            l,
        })
    }

    /// The entry of an identity (no payload).
    pub fn from_identity(d: &DeviceIdentity) -> Self {
        DeviceEntry {
            device_id: d.device_id.to_string(),
            product_id: d.product_id.0,
            activation_secret: hex::encode(d.activation_secret),
            w0: hex::encode(d.w0),
            l: hex::encode(d.l),
            setup_payload: None,
        }
    }
}

/// Parses a manifest: JSON (object or bare array) or, when `text` does not start with `{`/`[`,
/// CSV with a header row.
pub fn parse_manifest(text: &str) -> Result<Vec<DeviceIdentity>, ManifestError> {
    let t = text.trim_start();
    let entries: Vec<DeviceEntry> = if t.starts_with('{') {
        let m: Manifest = serde_json::from_str(t).map_err(|e| ManifestError::Parse(e.to_string()))?;
        if m.version != MANIFEST_VERSION {
            return Err(ManifestError::Parse(format!("unsupported manifest version {}", m.version)));
        }
        m.devices
    } else if t.starts_with('[') {
        serde_json::from_str(t).map_err(|e| ManifestError::Parse(e.to_string()))?
    } else {
        let mut r = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(t.as_bytes());
        let mut out = Vec::new();
        for rec in r.deserialize::<DeviceEntry>() {
            out.push(rec.map_err(|e| ManifestError::Parse(e.to_string()))?);
        }
        out
    };
    let mut seen = std::collections::HashSet::new();
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let d = e.to_identity().map_err(|m| ManifestError::Entry(i, m))?;
            if !seen.insert(d.device_id) {
                return Err(ManifestError::Entry(i, format!("duplicate device_id {}", d.device_id)));
            }
            Ok(d)
        })
        .collect()
}

/// Reads and parses a manifest file.
pub fn read_manifest(path: &Path) -> Result<Vec<DeviceIdentity>, ManifestError> {
    parse_manifest(&std::fs::read_to_string(path).map_err(ManifestError::Io)?)
}

/// The SPAKE2+ verifier `(w0, L)` of a setup code for a device: exactly
/// [`zpair_core::spake2plus::Verifier::for_setup_code`] (PBKDF2-HMAC-SHA256 over the code's 8
/// digits, salt `"zpair/1 salt" || device_id BE`, 1000 iterations), so the cloud and the devices
/// can never disagree.
pub fn verifier_for_code<C: Crypto>(
    crypto: &mut C,
    device: DeviceId,
    code: &SetupCode,
) -> Result<([u8; 32], [u8; 65]), zpair_crypto::CryptoError> {
    let v = zpair_core::spake2plus::Verifier::for_setup_code(crypto, code, device)?;
    let bytes = v.to_bytes();
    let mut w0 = [0u8; 32];
    let mut l = [0u8; 65];
    w0.copy_from_slice(&bytes[..32]);
    l.copy_from_slice(&bytes[32..]);
    Ok((w0, l))
}

/// Draws a random setup code that [`SetupCode::new`] accepts.
pub fn random_setup_code<C: Crypto>(crypto: &mut C) -> Result<SetupCode, zpair_crypto::CryptoError> {
    loop {
        let mut b = [0u8; 4];
        crypto.fill_random(&mut b)?;
        // 2^27 > 99_999_998: rejection sampling keeps the code uniform.
        let v = u32::from_be_bytes(b) & ((1 << 27) - 1);
        if let Ok(code) = SetupCode::new(v) {
            return Ok(code);
        }
    }
}

/// A generated batch: what the cloud imports, and what each device gets.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The cloud manifest (no setup codes, no payloads).
    pub manifest: Manifest,
    /// One record per device, in the same order.
    pub devices: Vec<FactoryRecord>,
}

/// Renders the setup payload string (`ZP:...`, see [`zpair_core::payload`]) of a device.
pub fn setup_payload_string(
    product: ProductId,
    device: DeviceId,
    code: &SetupCode,
    modes: Modes,
) -> Result<String, zpair_core::payload::PayloadError> {
    let payload = SetupPayload { product, device, setup_code: code.clone(), modes };
    let mut buf = zeroize::Zeroizing::new([0u8; zpair_core::payload::PAYLOAD_LEN]);
    Ok(zpair_core::payload::render(&payload, &mut buf[..])?.to_owned())
}

/// Generates `count` fresh identities for `product`: random device ids and activation secrets,
/// random setup codes and their SPAKE2+ verifiers. `modes` is printed into each device's setup
/// payload.
pub fn generate_batch<C: Crypto>(
    crypto: &mut C,
    product: ProductId,
    count: usize,
    modes: Modes,
) -> Result<Batch, zpair_crypto::CryptoError> {
    let mut devices = Vec::with_capacity(count);
    let mut entries = Vec::with_capacity(count);
    let mut ids = std::collections::HashSet::new();
    while devices.len() < count {
        let mut id = [0u8; 8];
        crypto.fill_random(&mut id)?;
        let device = DeviceId(u64::from_be_bytes(id));
        if device.0 == 0 || !ids.insert(device) {
            continue;
        }
        let mut secret = zeroize::Zeroizing::new([0u8; 32]);
        crypto.fill_random(&mut secret[..])?;
        let code = random_setup_code(crypto)?;
        let (w0, l) = verifier_for_code(crypto, device, &code)?;
        let identity = DeviceIdentity { device_id: device, product_id: product, activation_secret: *secret, w0, l };
        let entry = DeviceEntry::from_identity(&identity);
        let mut factory = entry.clone();
        // Rendering a validated payload cannot fail (fixed length, valid code and modes).
        factory.setup_payload =
            Some(setup_payload_string(product, device, &code, modes).map_err(|_| zpair_crypto::CryptoError::BadLength)?);
        devices.push(FactoryRecord { entry: factory, setup_code: String::from_utf8_lossy(&code.digits()).into_owned() });
        entries.push(entry);
    }
    Ok(Batch { manifest: Manifest { version: MANIFEST_VERSION, devices: entries }, devices })
}

/// Writes a batch into `dir`: `manifest.json` (for `zpair-cloud import`) and
/// `devices/<device_id>.json` (one factory record per device). Returns the manifest's path.
pub fn write_batch(batch: &Batch, dir: &Path) -> std::io::Result<PathBuf> {
    let devdir = dir.join("devices");
    std::fs::create_dir_all(&devdir)?;
    let manifest = dir.join("manifest.json");
    std::fs::write(&manifest, serde_json::to_vec_pretty(&batch.manifest)?)?;
    for d in &batch.devices {
        let path = devdir.join(format!("{}.json", d.entry.device_id));
        write_private(&path, &serde_json::to_vec_pretty(d)?)?;
    }
    Ok(manifest)
}

/// Writes a file readable by its owner only (where the platform supports it).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(bytes)
}

/// Reads a factory record written by [`write_batch`].
pub fn read_factory_record(path: &Path) -> Result<FactoryRecord, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(ManifestError::Io)?;
    serde_json::from_str(&text).map_err(|e| ManifestError::Parse(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::HostCrypto;

    #[test]
    fn batch_round_trips_through_json_and_csv() {
        let batch = generate_batch(&mut HostCrypto, ProductId(42), 3, Modes::ALL).unwrap();
        assert_eq!(batch.devices.len(), 3);
        let dir = tempfile::tempdir().unwrap();
        let path = write_batch(&batch, dir.path()).unwrap();
        let ids = read_manifest(&path).unwrap();
        assert_eq!(ids.len(), 3);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("setup_code") && !text.contains("setup_payload"));
        for (rec, id) in batch.devices.iter().zip(&ids) {
            assert_eq!(rec.entry.to_identity().unwrap(), *id);
            let back = read_factory_record(&dir.path().join("devices").join(format!("{}.json", rec.entry.device_id))).unwrap();
            assert_eq!(back, *rec);
            // The verifier is the one of the setup code.
            let code = SetupCode::new(rec.setup_code.parse().unwrap()).unwrap();
            let payload = zpair_core::payload::parse(rec.entry.setup_payload.as_deref().unwrap()).unwrap();
            assert_eq!((payload.device, payload.product, payload.modes), (id.device_id, ProductId(42), Modes::ALL));
            assert_eq!(payload.setup_code, code);
            let (w0, l) = verifier_for_code(&mut HostCrypto, id.device_id, &code).unwrap();
            assert_eq!((w0, l), (id.w0, id.l));
        }
        let mut csv = String::from("device_id,product_id,activation_secret,w0,l,setup_payload\n");
        for e in &batch.manifest.devices {
            csv += &format!("{},{},{},{},{},\n", e.device_id, e.product_id, e.activation_secret, e.w0, e.l);
        }
        assert_eq!(parse_manifest(&csv).unwrap(), ids);
        let arr = serde_json::to_string(&batch.manifest.devices).unwrap();
        assert_eq!(parse_manifest(&arr).unwrap(), ids);
        // Factory records (with payloads) are valid manifest entries too.
        let entries: Vec<_> = batch.devices.iter().map(|d| d.entry.clone()).collect();
        assert_eq!(parse_manifest(&serde_json::to_string(&entries).unwrap()).unwrap(), ids);
    }

    #[test]
    fn bad_manifests_are_refused_with_the_entry() {
        let batch = generate_batch(&mut HostCrypto, ProductId(1), 2, Modes::SOFTAP).unwrap();
        let mut m = batch.manifest.clone();
        m.devices[1].w0.pop();
        let e = parse_manifest(&serde_json::to_string(&m).unwrap()).unwrap_err();
        assert!(matches!(e, ManifestError::Entry(1, _)), "{e}");
        let mut m = batch.manifest.clone();
        m.devices[1].device_id = m.devices[0].device_id.clone();
        assert!(matches!(parse_manifest(&serde_json::to_string(&m).unwrap()), Err(ManifestError::Entry(1, _))));
        let mut m = batch.manifest.clone();
        m.devices[0].setup_payload = batch.devices[1].entry.setup_payload.clone();
        assert!(matches!(parse_manifest(&serde_json::to_string(&m).unwrap()), Err(ManifestError::Entry(0, _))));
        let mut m = batch.manifest;
        m.version = 9;
        assert!(matches!(parse_manifest(&serde_json::to_string(&m).unwrap()), Err(ManifestError::Parse(_))));
        assert!(parse_manifest("{nope").is_err());
    }

    #[test]
    fn verifier_matches_the_spake2plus_registration_on_both_providers() {
        let code = SetupCode::new(20_202_021).unwrap();
        let device = DeviceId(0x0123_4567_89ab_cdef);
        let host = verifier_for_code(&mut HostCrypto, device, &code).unwrap();
        let mbed = verifier_for_code(&mut zpair_mbedtls::MbedTls::os(), device, &code).unwrap();
        assert_eq!(host, mbed);
        let (w0, l) = host;
        let mut bytes = w0.to_vec();
        bytes.extend_from_slice(&l);
        let parsed = zpair_core::spake2plus::Verifier::from_bytes(&bytes).unwrap();
        assert_eq!(parsed.l(), &l);
        // Another code or device gives another verifier.
        let other = verifier_for_code(&mut HostCrypto, device, &SetupCode::new(20_202_022).unwrap()).unwrap();
        assert_ne!(other.1, l);
        let other = verifier_for_code(&mut HostCrypto, DeviceId(1), &code).unwrap();
        assert_ne!(other.1, l);
    }

    #[test]
    fn setup_codes_are_valid_and_vary() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            seen.insert(random_setup_code(&mut HostCrypto).unwrap().expose());
        }
        assert!(seen.len() > 45);
    }

    #[test]
    fn debug_hides_secrets() {
        let batch = generate_batch(&mut HostCrypto, ProductId(1), 1, Modes::CELLULAR).unwrap();
        let s = format!("{:?}", batch);
        assert!(!s.contains(&batch.devices[0].entry.activation_secret));
        assert!(!s.contains(&batch.devices[0].setup_code));
    }
}
