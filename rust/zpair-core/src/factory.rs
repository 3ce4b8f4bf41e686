//! Factory data: what a device is given at manufacturing and never changes.
//!
//! Product and device identity, the activation secret the cloud knows, the SPAKE2+ verifier
//! (w0, L) derived from the setup code on the label — the device never needs the code itself —
//! and, only for devices that show their own QR code (cellular mode), the setup code.
//!
//! Fixed binary layout (big-endian), so a production line can write it with any tool:
//!
//! ```text
//! offset size
//!  0      4   magic "ZPf1"
//!  4      4   product id
//!  8      8   device id
//! 16     32   activation secret
//! 48     32   SPAKE2+ w0
//! 80     65   SPAKE2+ L (SEC1 uncompressed)
//! 145     4   setup code (0 = not stored)
//! 149     1   supported modes (bits of `Modes`)
//! 150     4   CRC-32 (IEEE) of bytes 0..150
//! ```

use crate::activation::ActivationSecret;
use crate::error::{PairError, WireError};
use crate::payload::SetupPayload;
use crate::spake2plus::{Verifier, VERIFIER_LEN};
use crate::storage::crc32;
use crate::types::{DeviceId, Modes, ProductId, SetupCode};
use zeroize::{Zeroize, Zeroizing};

/// Encoded length of [`FactoryData`].
pub const FACTORY_LEN: usize = 154;
const MAGIC: &[u8; 4] = b"ZPf1";

/// A device's factory data. Secrets are wiped on drop; `Debug` shows none.
pub struct FactoryData {
    /// The product.
    pub product: ProductId,
    /// The device's identity.
    pub device: DeviceId,
    /// The secret the device proves itself to the cloud with.
    pub activation_secret: ActivationSecret,
    /// The SPAKE2+ verifier of the setup code.
    pub verifier: Verifier,
    /// The setup code, only for devices that display their own QR code.
    pub setup_code: Option<SetupCode>,
    /// The modes the device supports (what its setup payload advertises).
    pub modes: Modes,
}

impl core::fmt::Debug for FactoryData {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FactoryData")
            .field("product", &self.product)
            .field("device", &self.device)
            .field("setup_code_stored", &self.setup_code.is_some())
            .field("modes", &self.modes)
            .finish_non_exhaustive()
    }
}

impl FactoryData {
    /// Encodes into the fixed layout.
    pub fn encode(&self) -> Zeroizing<[u8; FACTORY_LEN]> {
        let mut out = Zeroizing::new([0u8; FACTORY_LEN]);
        out[0..4].copy_from_slice(MAGIC);
        out[4..8].copy_from_slice(&self.product.0.to_be_bytes());
        out[8..16].copy_from_slice(&self.device.0.to_be_bytes());
        out[16..48].copy_from_slice(self.activation_secret.expose());
        let verifier = self.verifier.to_bytes();
        out[48..48 + VERIFIER_LEN].copy_from_slice(&verifier[..]);
        let code = self.setup_code.as_ref().map_or(0, SetupCode::expose);
        out[145..149].copy_from_slice(&code.to_be_bytes());
        out[149] = self.modes.bits();
        let crc = crc32(&out[..150]);
        out[150..154].copy_from_slice(&crc.to_be_bytes());
        out
    }

    /// Decodes and checks the fixed layout.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let bytes: &[u8; FACTORY_LEN] = match bytes.len() {
            n if n < FACTORY_LEN => return Err(WireError::Truncated),
            n if n > FACTORY_LEN => return Err(WireError::TrailingBytes),
            _ => bytes.try_into().map_err(|_| WireError::Malformed)?,
        };
        if &bytes[0..4] != MAGIC {
            return Err(WireError::Malformed);
        }
        let crc = u32::from_be_bytes([bytes[150], bytes[151], bytes[152], bytes[153]]);
        if crc32(&bytes[..150]) != crc {
            return Err(WireError::Malformed);
        }
        let product = ProductId(u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]));
        let mut dev = [0u8; 8];
        dev.copy_from_slice(&bytes[8..16]);
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&bytes[16..48]);
        let activation_secret = ActivationSecret::new(secret);
        secret.zeroize();
        let verifier = Verifier::from_bytes(&bytes[48..48 + VERIFIER_LEN])?;
        let code = u32::from_be_bytes([bytes[145], bytes[146], bytes[147], bytes[148]]);
        let setup_code = match code {
            0 => None,
            c => Some(
                SetupCode::new(c).map_err(|_| WireError::Invalid(PairError::WrongSetupCode))?,
            ),
        };
        let modes = Modes::from_bits(bytes[149]).ok_or(WireError::Malformed)?;
        Ok(FactoryData {
            product,
            device: DeviceId(u64::from_be_bytes(dev)),
            activation_secret,
            verifier,
            setup_code,
            modes,
        })
    }

    /// The setup payload this device shows (needs the stored setup code).
    pub fn setup_payload(&self) -> Option<SetupPayload> {
        Some(SetupPayload {
            product: self.product,
            device: self.device,
            setup_code: self.setup_code.clone()?,
            modes: self.modes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    fn sample() -> FactoryData {
        let mut l = [0u8; 65];
        l[0] = 4;
        l[1..].copy_from_slice(&[0x42; 64]);
        let mut v = [0u8; VERIFIER_LEN];
        v[..32].copy_from_slice(&[0x11; 32]);
        v[32..].copy_from_slice(&l);
        FactoryData {
            product: ProductId(0x5a50),
            device: DeviceId(0x0102_0304_0506_0708),
            activation_secret: ActivationSecret::new([0x33; 32]),
            verifier: Verifier::from_bytes(&v).unwrap(),
            setup_code: Some(SetupCode::new(20_202_021).unwrap()),
            modes: Modes::ALL,
        }
    }

    #[test]
    fn round_trip_and_every_corruption_is_refused() {
        let bytes = sample().encode();
        let back = FactoryData::decode(&bytes[..]).unwrap();
        assert_eq!(back.encode()[..], bytes[..]);
        assert_eq!(back.setup_payload().unwrap().device, DeviceId(0x0102_0304_0506_0708));
        for i in 0..FACTORY_LEN {
            let mut b = *bytes;
            b[i] ^= 0x01;
            assert!(FactoryData::decode(&b).is_err(), "flip at {i}");
        }
        for n in 0..FACTORY_LEN {
            assert_eq!(FactoryData::decode(&bytes[..n]).unwrap_err(), WireError::Truncated);
        }
        let mut long = [0u8; FACTORY_LEN + 1];
        long[..FACTORY_LEN].copy_from_slice(&bytes[..]);
        assert_eq!(FactoryData::decode(&long).unwrap_err(), WireError::TrailingBytes);
    }

    #[test]
    fn debug_shows_no_secret() {
        let s = format!("{:?}", sample());
        assert!(!s.contains("51") && !s.contains("20202021"), "{s}");
    }
}
