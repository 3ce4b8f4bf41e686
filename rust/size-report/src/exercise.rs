//! Calls into each part of the core the way the device glue does.
use core::hint::black_box;
use zpair_core::error::PairError;
use zpair_core::types::{Passphrase, Ssid};

pub fn run(bytes: &[u8; 512]) {
    let n = bytes[0] as usize % 40;
    black_box(Ssid::new(&bytes[1..1 + n]).is_ok());
    black_box(Passphrase::new(&bytes[1..1 + n + 8]).is_ok());
    black_box(PairError::from_code(bytes[2]).hint());
}
