//! File-backed [`Storage`]: the two record slots are two files in the device's data directory.
//!
//! Two write disciplines, both safe under a power cut (SIGKILL) at any instant together with
//! the [`zpair_core::storage::Store`] above them:
//!
//! * [`StorageMode::Atomic`] (default): write `slot-X.tmp`, fsync, rename over `slot-X.rec`,
//!   fsync the directory. A slot holds its old or its new bytes.
//! * [`StorageMode::InPlace`]: truncate and rewrite `slot-X.rec` in place, like a flash page
//!   without atomicity. A cut leaves a torn record that the Store's CRC rejects, and the other
//!   slot (untouched by construction) still holds the previous state.
//!
//! For the power-cut tests the storage can kill its own process in the middle of a write
//! ([`FileStorage::crash_in_write`]): half the record is written and synced, then SIGKILL.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroize;
use zpair_core::storage::{Slot, Storage, StorageError, Store, RECORD_MAX};

/// How slot files are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StorageMode {
    /// Temporary file, fsync, rename, fsync of the directory.
    #[default]
    Atomic,
    /// Rewrite the slot file in place (torn records are possible; the Store copes).
    InPlace,
}

/// Two slot files in a directory.
#[derive(Debug)]
pub struct FileStorage {
    dir: PathBuf,
    mode: StorageMode,
    writes: u32,
    crash_in_write: Option<u32>,
}

impl FileStorage {
    /// Slot files in `dir` (created if missing).
    pub fn open(dir: &Path, mode: StorageMode) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(FileStorage { dir: dir.to_owned(), mode, writes: 0, crash_in_write: None })
    }

    /// The path of a slot's file.
    pub fn slot_path(&self, slot: Slot) -> PathBuf {
        self.dir.join(match slot {
            Slot::A => "slot-a.rec",
            Slot::B => "slot-b.rec",
        })
    }

    /// Debug: kill this process (SIGKILL) halfway through the `n`-th write (1-based) of this
    /// storage object. Only for the `zpair-device` binary's power-cut tests.
    pub fn crash_in_write(&mut self, n: u32) {
        self.crash_in_write = Some(n);
    }

    /// Writes made so far.
    pub fn write_count(&self) -> u32 {
        self.writes
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    fn write_file(&mut self, slot: Slot, data: &[u8]) -> io::Result<()> {
        self.writes = self.writes.saturating_add(1);
        let crash = self.crash_in_write == Some(self.writes);
        let target = self.slot_path(slot);
        let path = match self.mode {
            StorageMode::Atomic => target.with_extension("tmp"),
            StorageMode::InPlace => target.clone(),
        };
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(&path)?;
        if crash {
            f.write_all(&data[..data.len() / 2])?;
            f.sync_all()?;
            crate::crash::kill_self("in a storage write");
        }
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        if self.mode == StorageMode::Atomic {
            std::fs::rename(&path, &target)?;
        }
        self.sync_dir()
    }
}

fn io_err(e: io::Error) -> StorageError {
    tracing::warn!(error = %e, "storage I/O error");
    StorageError::Io
}

impl Storage for FileStorage {
    fn read(&mut self, slot: Slot, buf: &mut [u8]) -> Result<Option<usize>, StorageError> {
        let mut f = match File::open(self.slot_path(slot)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        let mut bytes = Vec::with_capacity(RECORD_MAX + 1);
        // Bounded: a slot never legitimately holds more than a record.
        let r = (&mut f).take((RECORD_MAX as u64) * 4).read_to_end(&mut bytes);
        let result = match r {
            Ok(n) => {
                let k = n.min(buf.len());
                buf[..k].copy_from_slice(&bytes[..k]);
                Ok(Some(n))
            }
            Err(e) => Err(io_err(e)),
        };
        bytes.zeroize();
        result
    }

    fn write(&mut self, slot: Slot, data: &[u8]) -> Result<(), StorageError> {
        if data.len() > RECORD_MAX {
            return Err(StorageError::TooLarge);
        }
        self.write_file(slot, data).map_err(io_err)
    }

    fn erase(&mut self, slot: Slot) -> Result<(), StorageError> {
        match std::fs::remove_file(self.slot_path(slot)) {
            Ok(()) => self.sync_dir().map_err(io_err),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(e)),
        }
    }
}

/// Opens the store of a data directory (for tools and tests that inspect a device's storage).
pub fn open_store(dir: &Path, mode: StorageMode) -> io::Result<Store<FileStorage>> {
    Ok(Store::new(FileStorage::open(dir, mode)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zpair_core::machine::PersistedState;
    use zpair_core::storage::SlotStatus;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("zpair-sim-storage-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn store_round_trips_in_both_modes_and_survives_torn_in_place_writes() {
        for mode in [StorageMode::Atomic, StorageMode::InPlace] {
            let d = dir(&format!("{mode:?}"));
            let mut store = open_store(&d, mode).unwrap();
            assert_eq!(store.load().state, None);
            let s1 = PersistedState { failed_attempts: 1, ..Default::default() };
            let s2 = PersistedState { failed_attempts: 2, ..Default::default() };
            store.save(&s1).unwrap();
            store.save(&s2).unwrap();
            let mut again = open_store(&d, mode).unwrap();
            assert_eq!(again.load().state, Some(s2.clone()));
            // A torn in-place write of the next record (into the older slot) leaves s2.
            let loaded = again.load();
            let (newest, _) = loaded.newest.unwrap();
            let target = again.storage().slot_path(newest.other());
            let old = std::fs::read(&target).unwrap();
            std::fs::write(&target, &old[..old.len() / 2]).unwrap();
            let l = open_store(&d, mode).unwrap().load();
            assert_eq!(l.state, Some(s2));
            assert!(matches!(l.slots[newest.other().index()], SlotStatus::Invalid(_)));
            store.erase().unwrap();
            assert_eq!(open_store(&d, mode).unwrap().load().slots, [SlotStatus::Empty; 2]);
            std::fs::remove_dir_all(&d).unwrap();
        }
    }
}
