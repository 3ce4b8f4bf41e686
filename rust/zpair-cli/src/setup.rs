//! Where the setup code comes from: the QR payload (`ZP:…`), the manual code
//! (`DDDD-CCCC-CCCCK`) or the bare 8-digit code.

use crate::error::CliError;
use zpair_core::payload::{self, ManualCode, SetupPayload};
use zpair_core::types::{DeviceId, Modes, ProductId, SetupCode};

/// The setup code and what else the user gave with it. `Debug` shows no code.
#[derive(Clone, PartialEq, Eq)]
pub enum SetupSource {
    /// A scanned QR payload: device, product, modes and code.
    Payload(SetupPayload),
    /// A typed manual code: discriminator (low 12 bits of the device id) and code.
    Manual(ManualCode),
    /// A bare setup code.
    Code(SetupCode),
}

impl std::fmt::Debug for SetupSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupSource::Payload(p) => write!(f, "Payload({} / {})", p.device, p.product.0),
            SetupSource::Manual(m) => write!(f, "Manual(discriminator {})", m.discriminator()),
            SetupSource::Code(_) => f.write_str("Code(<redacted>)"),
        }
    }
}

fn payload_error(what: &str, e: payload::PayloadError) -> CliError {
    let hint = match e {
        payload::PayloadError::BadCheck => "a character is wrong: scan or copy it again",
        payload::PayloadError::BadLength => "it is incomplete or too long: copy all of it",
        payload::PayloadError::BadPrefix => "a setup payload starts with `ZP:`",
        payload::PayloadError::InvalidSetupCode => "the code it carries is not a valid setup code",
        payload::PayloadError::UnsupportedVersion(_) => "it is of a newer version: update zpair",
        _ => "check it against the device label",
    };
    CliError::usage(format!("the {what} is invalid ({})", e.name()), hint)
}

impl SetupSource {
    /// Exactly one of the three must be given.
    pub fn from_args(payload: Option<&str>, manual: Option<&str>, code: Option<&str>) -> Result<Self, CliError> {
        match (payload, manual, code) {
            (Some(p), None, None) => Self::payload(p),
            (None, Some(m), None) => {
                payload::parse_manual(m.trim()).map(SetupSource::Manual).map_err(|e| payload_error("manual code", e))
            }
            (None, None, Some(c)) => Self::code(c),
            (None, None, None) => Err(CliError::usage(
                "no setup code given",
                "give the QR payload (--payload ZP:...), the manual code (--manual DDDD-CCCC-CCCCK) or the code (--code NNNNNNNN) from the device label",
            )),
            _ => Err(CliError::usage("give only one of --payload, --manual and --code", "")),
        }
    }

    /// A QR payload string.
    pub fn payload(s: &str) -> Result<Self, CliError> {
        payload::parse(s.trim()).map(SetupSource::Payload).map_err(|e| payload_error("setup payload", e))
    }

    /// A bare 8-digit code.
    pub fn code(s: &str) -> Result<Self, CliError> {
        let digits: String = s.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
        let n: u32 = digits
            .parse()
            .map_err(|_| CliError::usage("the setup code must be 8 digits", "copy it from the device label"))?;
        SetupCode::new(n)
            .map(SetupSource::Code)
            .map_err(|_| CliError::usage("this is not a valid setup code", "copy it from the device label"))
    }

    /// The setup code.
    pub fn setup_code(&self) -> &SetupCode {
        match self {
            SetupSource::Payload(p) => &p.setup_code,
            SetupSource::Manual(m) => m.setup_code(),
            SetupSource::Code(c) => c,
        }
    }

    /// The device, when the source names it.
    pub fn device(&self) -> Option<DeviceId> {
        match self {
            SetupSource::Payload(p) => Some(p.device),
            _ => None,
        }
    }

    /// The product, when the source names it.
    pub fn product(&self) -> Option<ProductId> {
        match self {
            SetupSource::Payload(p) => Some(p.product),
            _ => None,
        }
    }

    /// The modes the device supports, when the source names them.
    pub fn modes(&self) -> Option<Modes> {
        match self {
            SetupSource::Payload(p) => Some(p.modes),
            _ => None,
        }
    }

    /// Whether `device` may be the device this code belongs to.
    pub fn matches(&self, device: DeviceId) -> bool {
        match self {
            SetupSource::Payload(p) => p.device == device,
            SetupSource::Manual(m) => m.matches(device),
            SetupSource::Code(_) => true,
        }
    }

    /// What kind of source, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            SetupSource::Payload(_) => "QR payload",
            SetupSource::Manual(_) => "manual code",
            SetupSource::Code(_) => "setup code",
        }
    }

    /// The placeholder of this source in a command line shown to the user (never the secret).
    pub fn placeholder(&self) -> &'static str {
        match self {
            SetupSource::Payload(_) => "--payload <QR payload>",
            SetupSource::Manual(_) => "--manual <manual code>",
            SetupSource::Code(_) => "--code <setup code>",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (String, String) {
        let p = SetupPayload {
            product: ProductId(23120),
            device: DeviceId(0x0011_2233_4455_6677),
            setup_code: SetupCode::new(20_202_021).unwrap(),
            modes: Modes::ALL,
        };
        let mut buf = [0u8; 64];
        let s = payload::render(&p, &mut buf).unwrap().to_owned();
        let mut mb = [0u8; 32];
        let m = payload::render_manual(&p.manual_code(), &mut mb).unwrap().to_owned();
        (s, m)
    }

    #[test]
    fn sources_parse_and_match() {
        let (p, m) = sample();
        let s = SetupSource::from_args(Some(&p), None, None).unwrap();
        assert_eq!(s.device(), Some(DeviceId(0x0011_2233_4455_6677)));
        assert_eq!(s.setup_code().expose(), 20_202_021);
        assert!(!format!("{s:?}").contains("20202021"));
        let s = SetupSource::from_args(None, Some(&m), None).unwrap();
        assert!(s.matches(DeviceId(0x0011_2233_4455_6677)));
        assert!(!s.matches(DeviceId(0x0011_2233_4455_6678)));
        assert_eq!(s.setup_code().expose(), 20_202_021);
        let s = SetupSource::from_args(None, None, Some("2020-2021")).unwrap();
        assert_eq!(s.setup_code().expose(), 20_202_021);
        assert!(!format!("{s:?}").contains("2020"));
    }

    #[test]
    fn bad_sources_are_usage_errors_without_secrets() {
        let (p, _) = sample();
        let mut bad = p.clone();
        bad.replace_range(10..11, if &p[10..11] == "A" { "B" } else { "A" });
        let e = SetupSource::payload(&bad).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.message.contains("bad_check"));
        assert!(!e.message.contains(&bad[3..]));
        assert!(SetupSource::from_args(None, None, None).is_err());
        assert!(SetupSource::from_args(Some(&p), None, Some("20202021")).is_err());
        assert!(SetupSource::code("11111111").is_err());
        assert!(SetupSource::code("abc").is_err());
        assert!(SetupSource::from_args(None, Some("1234-5678-9012"), None).is_err());
    }
}
