//! zpair's commissioner: the library behind the `zpair` command.
//!
//! - [`commission`]: the pairing flow over any transport (handshake with the setup code,
//!   credentials in the third flight, the device's statuses until activated, the cloud as the
//!   fallback witness when the link drops) and the Wi-Fi scan.
//! - [`link`]: the app-side transports (SoftAP/TCP, BLE/SOCK_SEQPACKET + GATT, wired/UDP with
//!   retransmission) and the wired announcement listener.
//! - [`discover`], [`air`]: finding devices in the simulated air and on the LAN.
//! - [`run`]: whole jobs (discover → token → pair; scan; cellular bind).
//! - [`cloud`], [`config`]: the cloud's app API and the user's configuration.
//! - [`events`]: progress for people (spinners), scripts (JSON lines) and the demo's timeline.
//! - [`error`]: failures, their exit codes and hints.
//! - [`setup`], [`wifi`]: setup codes and Wi-Fi settings from the command line.
//! - [`demo`]: the self-contained demo (cloud, four simulated devices, four modes).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod air;
pub mod cloud;
pub mod commission;
pub mod cli;
pub mod config;
pub mod demo;
pub mod discover;
pub mod error;
pub mod events;
pub mod link;
pub mod run;
pub mod setup;
pub mod wifi;

pub use error::{CliError, ExitClass};
