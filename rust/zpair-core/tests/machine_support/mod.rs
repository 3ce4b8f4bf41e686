//! Shared fixtures for the machine and storage tests, and `Dev`: a simulated device glue that
//! drives a `Machine`, executes its actions (persisting through a real `Store` over a
//! `RamFlash`) and records them as comparable `Act`s.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::vec::Vec;

use zpair_core::error::PairError;
use zpair_core::machine::*;
use zpair_core::storage::{RamFlash, Store};
use zpair_core::types::*;

pub const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 23));

pub fn wifi(ssid: &str, pass: &str) -> WifiCredentials {
    WifiCredentials {
        ssid: Ssid::new(ssid.as_bytes()).unwrap(),
        hidden: false,
        security: if pass.is_empty() { Security::Open } else { Security::Wpa2Psk },
        passphrase: if pass.is_empty() {
            Passphrase::none()
        } else {
            Passphrase::new(pass.as_bytes()).unwrap()
        },
        bssid: None,
        channel: None,
    }
}

pub fn token(s: &str) -> ActivationToken {
    ActivationToken::new(s.as_bytes()).unwrap()
}

pub fn endpoint() -> CloudEndpoint {
    CloudEndpoint::new(b"eu", Some(b"cloud.example.com"), 8443).unwrap()
}

pub fn op_creds(name: &str, secret_byte: u8) -> OperationalCredentials {
    OperationalCredentials {
        name: CloudName::new(name.as_bytes()).unwrap(),
        secret: DeviceSecret::new([secret_byte; 32]),
        endpoint: endpoint(),
    }
}

/// An activated state as a commit would write it.
pub fn activated(mode: Mode, w: Option<WifiCredentials>, name: &str) -> PersistedState {
    PersistedState {
        mode: Some(mode),
        wifi: w,
        operational: Some(op_creds(name, 0x5A)),
        activated: true,
        failed_attempts: 0,
    }
}

/// The largest state the format can hold.
pub fn max_state() -> PersistedState {
    let mut w = wifi(&"s".repeat(32), &"a".repeat(64));
    w.hidden = true;
    w.bssid = Some(Bssid([1, 2, 3, 4, 5, 6]));
    w.channel = Some(233);
    PersistedState {
        mode: Some(Mode::Ble),
        wifi: Some(w),
        operational: Some(OperationalCredentials {
            name: CloudName::new("n".repeat(64).as_bytes()).unwrap(),
            secret: DeviceSecret::new([0xEE; 32]),
            endpoint: CloudEndpoint::new(b"us", Some("h".repeat(64).as_bytes()), 65535).unwrap(),
        }),
        activated: true,
        failed_attempts: 255,
    }
}

/// Small timers so tests read well: window 10 s, idle 1 s, deadline 20 s, 3 attempts, lockout
/// 5 s, backoff 100 ms .. 800 ms.
pub fn cfg() -> Config {
    Config::new(ConfigParams {
        window_ms: 10_000,
        session_idle_ms: 1_000,
        deadline_ms: 20_000,
        max_attempts: 3,
        lockout_ms: 5_000,
        backoff_base_ms: 100,
        backoff_cap_ms: 800,
        modes: Modes::ALL,
    })
    .unwrap()
}

pub fn staged(mode: Mode, w: Option<WifiCredentials>, tok: &str) -> Staged {
    Staged { mode, wifi: w, token: Some(token(tok)), endpoint: Some(endpoint()) }
}

/// An owned, comparable record of one action.
#[derive(Debug, Clone, PartialEq)]
pub enum Act {
    StartWindow(Modes),
    StopWindow(Modes),
    Status(ConnId, State, Option<PairError>),
    Alert(ConnId, PairError),
    Disconnect(ConnId),
    Scan(ConnId),
    Connect(Mode, Option<WifiCredentials>),
    DisconnectNetwork,
    Reconnect(Mode, Option<WifiCredentials>),
    Activate(Vec<u8>, u16),
    Retry(u64, u16, PairError),
    Persist(PersistReason, PersistedState),
    Erase,
    Done(Mode),
    Failed(PairError),
}

impl Act {
    pub fn of(a: &Action<'_>) -> Act {
        match a {
            Action::StartWindow(m) => Act::StartWindow(*m),
            Action::StopWindow(m) => Act::StopWindow(*m),
            Action::SendStatus { conn, status } => Act::Status(*conn, status.state, status.error),
            Action::SendAlert { conn, error } => Act::Alert(*conn, *error),
            Action::DisconnectApp(c) => Act::Disconnect(*c),
            Action::StartScan { conn } => Act::Scan(*conn),
            Action::ConnectNetwork { mode, wifi } => Act::Connect(*mode, wifi.cloned()),
            Action::DisconnectNetwork => Act::DisconnectNetwork,
            Action::ReconnectPrevious { mode, wifi } => Act::Reconnect(*mode, wifi.cloned()),
            Action::StartActivation { token, attempt, .. } => {
                Act::Activate(token.expose().to_vec(), *attempt)
            }
            Action::ScheduleRetry { at_ms, attempt, error } => Act::Retry(*at_ms, *attempt, *error),
            Action::Persist { state, reason } => Act::Persist(*reason, (*state).clone()),
            Action::EraseStorage => Act::Erase,
            Action::ReportDone { mode } => Act::Done(*mode),
            Action::ReportFailed(e) => Act::Failed(*e),
        }
    }
}

pub fn persists(acts: &[Act]) -> Vec<&Act> {
    acts.iter().filter(|a| matches!(a, Act::Persist(..) | Act::Erase)).collect()
}

/// A simulated device: the machine, its store on a fake flash, a clock and the action log.
pub struct Dev {
    pub m: Machine,
    pub store: Store<RamFlash>,
    pub now: u64,
    /// Answer commits with CommitDone/CommitFailed from the real save result.
    pub auto_commit: bool,
    /// Everything executed so far.
    pub log: Vec<Act>,
}

impl Dev {
    /// Boots a device from whatever the flash holds.
    pub fn boot(flash: RamFlash, now: u64) -> Dev {
        let mut store = Store::new(flash);
        let state = store.load().into_state();
        let m = Machine::restore(cfg(), state, now);
        let mut d = Dev { m, store, now, auto_commit: true, log: Vec::new() };
        d.drain();
        d
    }

    /// A device that was activated with `state` before.
    pub fn with_state(state: &PersistedState) -> Dev {
        let mut store = Store::new(RamFlash::new());
        store.save(state).unwrap();
        Dev::boot(store.into_inner(), 0)
    }

    /// A factory-fresh device (window opened at boot).
    pub fn fresh() -> Dev {
        Dev::boot(RamFlash::new(), 0)
    }

    /// Executes every queued action; returns those executed in this call.
    pub fn drain(&mut self) -> Vec<Act> {
        let mut out = Vec::new();
        loop {
            let mut commit_result = None;
            while let Some(a) = self.m.poll_action(self.now) {
                let act = Act::of(&a);
                match &act {
                    Act::Persist(reason, st) => {
                        let r = self.store.save(st);
                        if *reason == PersistReason::Commit {
                            commit_result = Some(r.is_ok());
                        }
                    }
                    Act::Erase => {
                        let _ = self.store.erase();
                    }
                    _ => {}
                }
                out.push(act);
            }
            match commit_result {
                Some(ok) if self.auto_commit => {
                    let ev = if ok { Event::CommitDone } else { Event::CommitFailed };
                    self.m.handle(self.now, ev).unwrap();
                }
                _ => break,
            }
        }
        self.log.extend(out.iter().cloned());
        out
    }

    /// Feeds an event at the current time (must be accepted) and drains.
    pub fn ev(&mut self, ev: Event) -> Vec<Act> {
        self.m.handle(self.now, ev).unwrap();
        self.drain()
    }

    /// Feeds an event that must be refused; checks nothing changed.
    pub fn refused(&mut self, ev: Event) -> MachineError {
        self.m.poll(self.now);
        self.drain();
        let before = (std::format!("{:?}", self.m), self.m.next_deadline(), self.m.persisted().clone());
        let e = self.m.handle(self.now, ev).unwrap_err();
        let after = (std::format!("{:?}", self.m), self.m.next_deadline(), self.m.persisted().clone());
        assert!(before == after, "refused event changed the machine");
        assert_eq!(self.m.queued_actions(), 0);
        e
    }

    /// Advances the clock, polls, drains.
    pub fn advance_to(&mut self, t: u64) -> Vec<Act> {
        self.now = t;
        self.m.poll(t);
        self.drain()
    }

    /// Advances the clock to the machine's next deadline.
    pub fn fire_next(&mut self) -> Vec<Act> {
        let t = self.m.next_deadline().expect("a timer is armed");
        self.advance_to(t)
    }

    /// What the flash holds now (as a rebooted device would read it).
    pub fn stored(&self) -> Option<PersistedState> {
        let mut s = Store::new(self.store.storage().clone());
        s.load().into_state()
    }

    /// Power cut: drop the machine, reboot from the flash.
    pub fn reboot(self, now: u64) -> Dev {
        let mut flash = self.store.into_inner();
        flash.power_on();
        Dev::boot(flash, now)
    }

    // --- app helpers ---------------------------------------------------------------------

    /// App `conn` connects over `mode` and completes the handshake.
    pub fn connect_app(&mut self, conn: u32, mode: Mode) -> Vec<Act> {
        let c = ConnId(conn);
        let mut acts = self.ev(Event::AppConnected { conn: c, mode });
        acts.extend(self.ev(Event::HandshakeStarted { conn: c }));
        acts.extend(self.ev(Event::HandshakeOk { conn: c }));
        acts
    }

    /// App `conn` sends credentials.
    pub fn send_creds(&mut self, conn: u32, s: Staged) -> Vec<Act> {
        self.ev(Event::CredentialsReceived { conn: ConnId(conn), staged: s })
    }
}
