//! Persistence over Zephyr's settings subsystem.
//!
//! [`SettingsStorage`] is zpair-core's [`Storage`] with its two slots on the settings keys
//! `zpair/a` and `zpair/b`; [`zpair_core::storage::Store`] on top of it gives the power-cut-safe
//! record store. The factory data lives under `zpair/factory` ([`load_factory`],
//! [`write_factory`]).

use zeroize::Zeroize;
use zpair_core::factory::{FactoryData, FACTORY_LEN};
use zpair_core::storage::{Slot, Storage, StorageError, Store};

use crate::ffi;

/// Initialises the settings subsystem (idempotent). The glue calls it before any access.
pub fn init() -> Result<(), i32> {
    // SAFETY: plain call into the shim.
    match unsafe { ffi::zpair_storage_init() } {
        0 => Ok(()),
        rc => Err(rc),
    }
}

fn slot_id(slot: Slot) -> u8 {
    match slot {
        Slot::A => ffi::ZPAIR_SLOT_A,
        Slot::B => ffi::ZPAIR_SLOT_B,
    }
}

/// Reads a raw settings slot of the shim (`ZPAIR_SLOT_*`): `Ok(None)` when empty.
fn read_raw(slot: u8, buf: &mut [u8]) -> Result<Option<usize>, i32> {
    let mut len = 0usize;
    // SAFETY: `buf` is writable for `buf.len()` bytes and `len` is a valid out-pointer; the
    // shim writes at most `buf.len()` bytes.
    let rc = unsafe { ffi::zpair_storage_read(slot, buf.as_mut_ptr(), buf.len(), &mut len) };
    match rc {
        0 => Ok(Some(len)),
        rc if rc == -ffi::errno::ENOENT => Ok(None),
        rc => Err(rc),
    }
}

fn write_raw(slot: u8, data: &[u8]) -> Result<(), i32> {
    // SAFETY: `data` is readable for `data.len()` bytes during the call.
    match unsafe { ffi::zpair_storage_write(slot, data.as_ptr(), data.len()) } {
        0 => Ok(()),
        rc => Err(rc),
    }
}

fn erase_raw(slot: u8) -> Result<(), i32> {
    // SAFETY: plain call into the shim.
    match unsafe { ffi::zpair_storage_erase(slot) } {
        0 => Ok(()),
        rc => Err(rc),
    }
}

/// zpair-core's two-slot [`Storage`] on the settings keys `zpair/a` and `zpair/b`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SettingsStorage;

impl Storage for SettingsStorage {
    fn read(&mut self, slot: Slot, buf: &mut [u8]) -> Result<Option<usize>, StorageError> {
        read_raw(slot_id(slot), buf).map_err(|rc| {
            log::warn!("settings read of slot {slot:?} failed ({rc})");
            StorageError::Io
        })
    }

    fn write(&mut self, slot: Slot, data: &[u8]) -> Result<(), StorageError> {
        write_raw(slot_id(slot), data).map_err(|rc| {
            log::warn!("settings write of slot {slot:?} failed ({rc})");
            StorageError::Io
        })
    }

    fn erase(&mut self, slot: Slot) -> Result<(), StorageError> {
        erase_raw(slot_id(slot)).map_err(|rc| {
            log::warn!("settings erase of slot {slot:?} failed ({rc})");
            StorageError::Io
        })
    }
}

/// The pairing state store of a Zephyr device.
pub type SettingsStore = Store<SettingsStorage>;

/// A [`SettingsStore`] (nothing is read until [`Store::load`]).
pub fn store() -> SettingsStore {
    Store::new(SettingsStorage)
}

/// Why the factory data could not be loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactoryError {
    /// Nothing stored under `zpair/factory` (write it with `zpair factory <hex>`).
    Missing,
    /// Stored, but not a valid factory record (wrong length, magic or CRC).
    Invalid,
    /// The settings backend failed (errno).
    Io(i32),
}

impl core::fmt::Display for FactoryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FactoryError::Missing => f.write_str("no factory data"),
            FactoryError::Invalid => f.write_str("invalid factory data"),
            FactoryError::Io(rc) => write!(f, "settings error {rc}"),
        }
    }
}

/// Reads and checks the factory data (`zpair/factory`).
pub fn load_factory() -> Result<FactoryData, FactoryError> {
    let mut buf = [0u8; FACTORY_LEN + 1];
    let result = match read_raw(ffi::ZPAIR_SLOT_FACTORY, &mut buf) {
        Ok(None) => Err(FactoryError::Missing),
        Ok(Some(n)) if n == FACTORY_LEN => {
            FactoryData::decode(&buf[..FACTORY_LEN]).map_err(|_| FactoryError::Invalid)
        }
        Ok(Some(_)) => Err(FactoryError::Invalid),
        Err(rc) => Err(FactoryError::Io(rc)),
    };
    buf.zeroize();
    result
}

/// Checks and writes new factory data. When it names another device than the stored one, the
/// pairing state (slots A and B) is erased too: it belonged to the other identity.
pub fn write_factory(bytes: &[u8]) -> Result<FactoryData, FactoryError> {
    let new = FactoryData::decode(bytes).map_err(|_| FactoryError::Invalid)?;
    let old_device = load_factory().ok().map(|f| f.device);
    write_raw(ffi::ZPAIR_SLOT_FACTORY, bytes).map_err(FactoryError::Io)?;
    if old_device != Some(new.device) {
        let mut s = store();
        s.erase().map_err(|_| FactoryError::Io(-5))?;
    }
    Ok(new)
}
