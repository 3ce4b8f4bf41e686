//! zpair-core: everything a device needs to be paired and activated, once, for every transport.
//!
//! The crate is `no_std`, allocates nothing, performs no I/O and contains no `unsafe`. Transports
//! (SoftAP/TCP, BLE/GATT, wired/UDP, cellular) and the operating system drive it with bytes,
//! events and the current time; it answers with bytes and actions. Layout, smoltcp style:
//!
//! - [`types`]: validated domain values (SSID, passphrase, token, identities, modes).
//! - [`error`]: the one error/status set every mode reports to the app and the cloud.
//! - [`msg`]: application messages and their CBOR codec (wire vs. repr).
//! - [`frame`]: framing over a byte stream, datagrams and a GATT characteristic of any ATT MTU.
//! - [`spake2plus`]: SPAKE2+ (RFC 9383, P-256/SHA-256/HKDF/HMAC) prover and verifier.
//! - [`session`]: the handshake flights and the AES-128-CCM record layer.
//! - [`machine`]: the device pairing state machine (window, session, staging, commit, rollback).
//! - [`storage`]: the persistence trait and the power-cut-safe record format.
//! - [`payload`]: the QR / manual setup payload.
//! - [`activation`]: the device↔cloud activation messages and proofs.
//! - [`client`]: the device's cloud calls over any request/response link.
//! - [`device`]: the device engine that ties session, messages and machine together.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(any(test, feature = "std"))]
extern crate std;

pub use zpair_crypto as crypto;

pub mod error;
pub mod types;
pub mod msg;
pub mod frame;
pub mod spake2plus;
pub mod session;
pub mod machine;
pub mod storage;
pub mod payload;
pub mod client;
pub mod device;
pub mod factory;
pub mod activation;

/// The protocol version this crate speaks on every transport.
pub const PROTOCOL_VERSION: u8 = 1;
