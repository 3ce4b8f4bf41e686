//! Loading a device's factory data: the cloud's factory record (`devices/<id>.json`, written by
//! `zpair_cloud::manifest::write_batch`) or the binary 154-byte layout of
//! [`zpair_core::factory`].

use serde::Deserialize;
use std::path::Path;
use zeroize::{Zeroize, Zeroizing};
use zpair_core::activation::ActivationSecret;
use zpair_core::factory::{FactoryData, FACTORY_LEN};
use zpair_core::spake2plus::Verifier;
use zpair_core::types::{DeviceId, Modes, ProductId, SetupCode};

/// Why factory data could not be loaded. Messages name the field, never its value.
#[derive(Debug)]
pub enum FactoryError {
    /// The file could not be read.
    Io(std::io::Error),
    /// The file is neither a factory record nor the binary layout, or a field is invalid.
    Invalid(String),
}

impl std::fmt::Display for FactoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FactoryError::Io(e) => write!(f, "factory data: {e}"),
            FactoryError::Invalid(m) => write!(f, "factory data: {m}"),
        }
    }
}

impl std::error::Error for FactoryError {}

/// The fields of a factory record we read (the same names as the cloud's `FactoryRecord`).
#[derive(Deserialize)]
struct Record {
    device_id: String,
    product_id: u32,
    activation_secret: String,
    w0: String,
    l: String,
    #[serde(default)]
    setup_payload: Option<String>,
    #[serde(default)]
    setup_code: Option<String>,
}

impl Drop for Record {
    fn drop(&mut self) {
        self.activation_secret.zeroize();
        self.w0.zeroize();
        self.setup_payload.zeroize();
        self.setup_code.zeroize();
    }
}

fn bad(m: &str) -> FactoryError {
    FactoryError::Invalid(m.to_owned())
}

fn hex_into(s: &str, out: &mut [u8], what: &str) -> Result<(), FactoryError> {
    hex::decode_to_slice(s.trim(), out).map_err(|_| bad(&format!("{what} must be {} hex bytes", out.len())))
}

/// Parses a factory record (JSON).
pub fn from_record_json(text: &str) -> Result<FactoryData, FactoryError> {
    let r: Record = serde_json::from_str(text).map_err(|e| FactoryError::Invalid(format!("not a factory record (line {})", e.line())))?;
    let id = r.device_id.trim();
    if id.len() != 16 {
        return Err(bad("device_id must be 16 hex digits"));
    }
    let device = DeviceId(u64::from_str_radix(id, 16).map_err(|_| bad("device_id is not hex"))?);
    let product = ProductId(r.product_id);
    let mut secret = Zeroizing::new([0u8; 32]);
    hex_into(&r.activation_secret, &mut secret[..], "activation_secret")?;
    let mut verifier = Zeroizing::new([0u8; 97]);
    hex_into(&r.w0, &mut verifier[..32], "w0")?;
    hex_into(&r.l, &mut verifier[32..], "l")?;
    let verifier = Verifier::from_bytes(&verifier[..]).map_err(|_| bad("w0/l are not a valid verifier"))?;
    let mut setup_code = None;
    let mut modes = Modes::ALL;
    if let Some(p) = &r.setup_payload {
        let payload = zpair_core::payload::parse(p.trim()).map_err(|e| FactoryError::Invalid(format!("setup_payload: {e}")))?;
        if payload.device != device || payload.product != product {
            return Err(bad("setup_payload names another device or product"));
        }
        modes = payload.modes;
        setup_code = Some(payload.setup_code.clone());
    }
    if let Some(c) = &r.setup_code {
        let mut v: u32 = c.trim().parse().map_err(|_| bad("setup_code must be 8 digits"))?;
        let code = SetupCode::new(v).map_err(|_| bad("setup_code is not a valid code"));
        v.zeroize();
        let code = code?;
        if setup_code.as_ref().is_some_and(|p| *p != code) {
            return Err(bad("setup_code and setup_payload disagree"));
        }
        setup_code = Some(code);
    }
    Ok(FactoryData {
        product,
        device,
        activation_secret: ActivationSecret::new(*secret),
        verifier,
        setup_code,
        modes,
    })
}

/// Loads factory data from a file: the binary layout if it is [`FACTORY_LEN`] bytes starting
/// with `ZPf1`, a factory record (JSON) otherwise.
pub fn load(path: &Path) -> Result<FactoryData, FactoryError> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(FactoryError::Io)?);
    if bytes.len() == FACTORY_LEN && bytes.starts_with(b"ZPf1") {
        return FactoryData::decode(&bytes).map_err(|e| FactoryError::Invalid(format!("binary layout: {e}")));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("neither the binary layout nor JSON"))?;
    from_record_json(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_fields_not_values() {
        let e = from_record_json(r#"{"device_id":"0011","product_id":1,"activation_secret":"s3cr3t","w0":"","l":""}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("device_id") && !e.contains("s3cr3t"), "{e}");
        assert!(from_record_json("{nope").is_err());
    }
}
