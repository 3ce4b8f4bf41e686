//! zpair's pairing state across power cuts, on the real settings subsystem (NVS on the flash
//! simulator): the state machine drives a `Store` over the settings storage, and the storage
//! cuts the power (a warm reboot that keeps the flash) at chosen points of its writes. After
//! each reboot the device must come back in the old state or in the new one, never in a mix,
//! and never lose a committed pairing to an interrupted one.
//!
//! Phases (kept in settings, key "zt/phase"; a boot that is not a warm reboot starts over):
//!
//! 0. pair and commit "dev-1"; pair again ("dev-2") and cut in the middle of the commit write
//!    (half of the record reaches the slot);
//! 1. "dev-1" must be back, the torn slot ignored; pair "dev-2" again and cut right after the
//!    commit write, before the machine hears CommitDone;
//! 2. "dev-2" must be back (the write was complete); factory reset, cut between the erases of
//!    the two slots;
//! 3. "dev-2" must still be there; a complete factory reset; a failed handshake (counted and
//!    saved), then a reboot;
//! 4. nothing paired, and the failed-attempt counter survived.

#![no_std]

use core::net::{IpAddr, Ipv4Addr};

use zpair_zephyr::storage::SettingsStorage;
use zpair_zephyr::sys;
use zpair_zephyr::zpair_core as zc;
use zpair_zephyr::zprintln;

use zc::machine::{
    Action, CloudName, Config, ConfigParams, ConnId, DeviceSecret, Event, Machine,
    OperationalCredentials, PersistReason, PersistedState, ResetKind, Staged, State,
};
use zc::storage::{Slot, SlotStatus, Storage, StorageError, Store};
use zc::types::{ActivationToken, CloudEndpoint, Mode, Modes};

extern "C" {
    fn zt_phase_get() -> i32;
    fn zt_phase_set(phase: u8) -> i32;
    fn zt_boot_is_reboot() -> i32;
}

const APP: ConnId = ConnId(0x2000_0001);
const DONE: u8 = 0xfe;

macro_rules! check {
    ($cond:expr, $($msg:tt)*) => {
        if !$cond {
            zprintln!("FAIL: {}", format_args!($($msg)*));
            return;
        }
    };
}

/// Where the storage cuts the power.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cut {
    Never,
    /// Half of the next record reaches the slot, then the power goes.
    TornWrite,
    /// The next record is written completely, then the power goes (before the read-back).
    AfterWrite,
    /// The first slot of the next erase is erased, then the power goes.
    AfterFirstErase,
}

/// The settings storage with a power switch.
struct CutStorage {
    inner: SettingsStorage,
    cut: Cut,
    next_phase: u8,
    what: &'static str,
}

impl CutStorage {
    fn new() -> Self {
        CutStorage { inner: SettingsStorage, cut: Cut::Never, next_phase: 0, what: "" }
    }

    fn arm(&mut self, cut: Cut, next_phase: u8, what: &'static str) {
        self.cut = cut;
        self.next_phase = next_phase;
        self.what = what;
    }

    fn power_cut(&self) -> ! {
        power_cut(self.next_phase, self.what)
    }
}

fn power_cut(next_phase: u8, what: &str) -> ! {
    // SAFETY: plain call into the test's C helper.
    unsafe { zt_phase_set(next_phase) };
    zprintln!("power cut: {what}");
    sys::log_flush();
    sys::reboot();
    zprintln!("FAIL: the reboot did not happen");
    loop {
        sys::sleep_ms(1000);
    }
}

impl Storage for CutStorage {
    fn read(&mut self, slot: Slot, buf: &mut [u8]) -> Result<Option<usize>, StorageError> {
        self.inner.read(slot, buf)
    }

    fn write(&mut self, slot: Slot, data: &[u8]) -> Result<(), StorageError> {
        match self.cut {
            Cut::TornWrite => {
                let _ = self.inner.write(slot, data.get(..data.len() / 2).unwrap_or(&[]));
                self.power_cut()
            }
            Cut::AfterWrite => {
                let _ = self.inner.write(slot, data);
                self.power_cut()
            }
            _ => self.inner.write(slot, data),
        }
    }

    fn erase(&mut self, slot: Slot) -> Result<(), StorageError> {
        if self.cut == Cut::AfterFirstErase {
            let _ = self.inner.erase(slot);
            self.power_cut();
        }
        self.inner.erase(slot)
    }
}

fn config() -> Config {
    Config::new(ConfigParams { modes: Modes::WIRED, ..ConfigParams::default() }).unwrap()
}

/// Executes the machine's actions: persistence through the store; a commit is answered.
fn drain(m: &mut Machine, store: &mut Store<CutStorage>) {
    loop {
        let answer = match m.poll_action(sys::now_ms()) {
            None => break,
            Some(Action::Persist { state, reason }) => {
                let ok = store.save(state).is_ok();
                if reason == PersistReason::Commit {
                    Some(if ok { Event::CommitDone } else { Event::CommitFailed })
                } else {
                    None
                }
            }
            Some(Action::EraseStorage) => {
                let _ = store.erase();
                None
            }
            Some(_) => None,
        };
        if let Some(ev) = answer {
            let _ = m.handle(sys::now_ms(), ev);
        }
    }
}

fn step(m: &mut Machine, store: &mut Store<CutStorage>, ev: Event) -> bool {
    let ok = m.handle(sys::now_ms(), ev).is_ok();
    drain(m, store);
    ok
}

/// A whole wired pairing that the cloud accepts as `name`.
fn pair(m: &mut Machine, store: &mut Store<CutStorage>, name: &[u8]) -> bool {
    if m.state() != State::WindowOpen && !step(m, store, Event::OpenWindow { modes: Modes::WIRED }) {
        return false;
    }
    let staged = Staged {
        mode: Mode::Wired,
        wifi: None,
        token: Some(ActivationToken::new(b"tok-power-cut-1").unwrap()),
        endpoint: None,
    };
    let op = OperationalCredentials {
        name: CloudName::new(name).unwrap(),
        secret: DeviceSecret::new([0x5a; 32]),
        endpoint: CloudEndpoint::new(b"eu", None, 0).unwrap(),
    };
    step(m, store, Event::AppConnected { conn: APP, mode: Mode::Wired })
        && step(m, store, Event::HandshakeStarted { conn: APP })
        && step(m, store, Event::HandshakeOk { conn: APP })
        && step(m, store, Event::CredentialsReceived { conn: APP, staged })
        && step(m, store, Event::NetworkUp { ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)) })
        && step(m, store, Event::ActivationResult(Ok(op)))
        && m.state() == State::Activated
}

fn name_of(s: &PersistedState) -> &[u8] {
    s.operational.as_ref().map_or(&[][..], |o| o.name.as_bytes())
}

fn run() {
    // SAFETY: plain calls into the test's C helper.
    let (reboot, stored_phase) = unsafe { (zt_boot_is_reboot() != 0, zt_phase_get()) };
    let mut store = Store::new(CutStorage::new());
    let phase = if reboot && (0..DONE as i32).contains(&stored_phase) {
        stored_phase as u8
    } else {
        // A fresh start: nothing from an earlier run counts.
        let _ = store.erase();
        // SAFETY: plain call into the test's C helper.
        unsafe { zt_phase_set(0) };
        0
    };
    zprintln!("zpair storage: boot in phase {phase}{}", if reboot { " (after a power cut)" } else { "" });
    let loaded = store.load();

    match phase {
        0 => {
            check!(loaded.state.is_none(), "fresh start with a stored state");
            let mut m = Machine::restore(config(), None, sys::now_ms());
            drain(&mut m, &mut store);
            check!(pair(&mut m, &mut store, b"dev-1"), "first pairing");
            let again = store.load();
            check!(again.newest == Some((Slot::A, 1)), "first commit not in slot A, generation 1");
            zprintln!("PASS: phase 0: paired and committed (dev-1, generation 1)");
            store.storage_mut().arm(Cut::TornWrite, 1, "in the middle of the commit write");
            let _ = pair(&mut m, &mut store, b"dev-2");
            zprintln!("FAIL: the second pairing completed without the power cut");
        }
        1 => {
            let Some(state) = loaded.state.clone() else {
                zprintln!("FAIL: nothing stored after the torn write");
                return;
            };
            check!(name_of(&state) == b"dev-1" && state.is_activated(), "not the previous state");
            check!(loaded.newest == Some((Slot::A, 1)), "newest is not slot A, generation 1");
            check!(
                matches!(loaded.slots[Slot::B.index()], SlotStatus::Invalid(_)),
                "the torn slot B is not reported as invalid"
            );
            let mut m = Machine::restore(config(), Some(state), sys::now_ms());
            drain(&mut m, &mut store);
            check!(m.state() == State::Activated, "restored machine not activated");
            zprintln!("PASS: torn commit write: the previous state is back (dev-1), the torn slot is ignored");
            store.storage_mut().arm(Cut::AfterWrite, 2, "after the commit write, before CommitDone");
            let _ = pair(&mut m, &mut store, b"dev-2");
            zprintln!("FAIL: the pairing completed without the power cut");
        }
        2 => {
            let Some(state) = loaded.state.clone() else {
                zprintln!("FAIL: nothing stored after the complete write");
                return;
            };
            check!(name_of(&state) == b"dev-2" && state.is_activated(), "not the new state");
            check!(loaded.newest == Some((Slot::B, 2)), "newest is not slot B, generation 2");
            check!(
                matches!(loaded.slots[Slot::A.index()], SlotStatus::Valid { generation: 1 }),
                "the older slot A was touched"
            );
            zprintln!("PASS: complete commit write: the new state is back (dev-2, generation 2)");
            let mut m = Machine::restore(config(), Some(state), sys::now_ms());
            drain(&mut m, &mut store);
            store.storage_mut().arm(Cut::AfterFirstErase, 3, "between the two erases of a factory reset");
            let _ = step(&mut m, &mut store, Event::Reset(ResetKind::Factory));
            zprintln!("FAIL: the factory reset completed without the power cut");
        }
        3 => {
            let Some(state) = loaded.state.clone() else {
                zprintln!("FAIL: the interrupted factory reset lost the newest state");
                return;
            };
            check!(name_of(&state) == b"dev-2", "not the state before the reset");
            check!(
                matches!(loaded.slots[Slot::A.index()], SlotStatus::Empty),
                "the older slot was not erased first"
            );
            zprintln!("PASS: interrupted factory reset: the state before it is back (dev-2)");
            let mut m = Machine::restore(config(), Some(state), sys::now_ms());
            drain(&mut m, &mut store);
            check!(step(&mut m, &mut store, Event::Reset(ResetKind::Factory)), "factory reset refused");
            check!(store.load().state.is_none(), "state left after a factory reset");
            zprintln!("PASS: factory reset completed: nothing stored");
            // A failed handshake is counted and saved (Persist with reason Counters).
            check!(m.state() == State::WindowOpen, "window not open after the reset");
            let _ = step(&mut m, &mut store, Event::AppConnected { conn: APP, mode: Mode::Wired });
            let _ = step(&mut m, &mut store, Event::HandshakeStarted { conn: APP });
            let _ = step(&mut m, &mut store, Event::AppDisconnected { conn: APP });
            check!(m.failed_attempts() == 1, "abandoned handshake not counted");
            power_cut(4, "after the failed-attempt counter was saved");
        }
        4 => {
            let state = loaded.state.clone();
            check!(state.as_ref().is_some_and(|s| !s.is_activated()), "unexpected stored state");
            let m = Machine::restore(config(), state, sys::now_ms());
            check!(m.failed_attempts() == 1, "counter lost: {}", m.failed_attempts());
            check!(m.state() == State::WindowOpen, "not in WindowOpen");
            zprintln!("PASS: failed-attempt counter survived the reboot (1)");
            // SAFETY: plain call into the test's C helper.
            unsafe { zt_phase_set(DONE) };
            zprintln!("zpair storage: all power-cut scenarios passed");
        }
        other => zprintln!("FAIL: unknown phase {other}"),
    }
}

#[no_mangle]
extern "C" fn rust_main() {
    if zpair_zephyr::storage::init().is_err() {
        zprintln!("FAIL: settings init");
        return;
    }
    run();
}
