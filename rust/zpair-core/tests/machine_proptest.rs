//! Random event sequences at random times, with random reboots (power cuts) and dying flash,
//! against the machine driven by a simulated glue (real `Store` on a `RamFlash`). After every
//! step the product's promises are checked:
//!
//! * the stored pairing changes only through a commit that follows an accepted activation (or
//!   an explicit reset); counter writes keep the committed pairing byte for byte;
//! * the state is consistent (session, staging, window, activation agree with the state);
//! * at most one app connection is held open, and it is the session's;
//! * after any failure the window is open again and `last_error` holds the error;
//! * refused events change nothing; all expired timers were handled;
//! * a reboot comes back exactly as storage says.

mod machine_support;

use std::collections::BTreeSet;

use machine_support::*;
use proptest::prelude::*;
use zpair_core::error::PairError;
use zpair_core::machine::*;
use zpair_core::storage::{RamFlash, Store};
use zpair_core::types::*;

const DT: [u64; 8] = [0, 1, 50, 500, 999, 1_000, 5_000, 25_000];

const ERRORS: [PairError; 12] = [
    PairError::WrongSetupCode,
    PairError::WrongPassword,
    PairError::ApNotFound,
    PairError::DhcpTimeout,
    PairError::LinkLost,
    PairError::TokenExpired,
    PairError::CloudUnreachable,
    PairError::RateLimited,
    PairError::CloudRejected,
    PairError::RecordRejected,
    PairError::MalformedMessage,
    PairError::AttachTimeout,
];

const APP_MODES: [Mode; 3] = [Mode::SoftAp, Mode::Ble, Mode::Wired];

struct Sim {
    m: Machine,
    store: Store<RamFlash>,
    now: u64,
    open_conns: BTreeSet<u32>,
    /// An activation result Ok was accepted and its commit not yet executed.
    activation_ok: bool,
    /// The answer the glue owes for the last executed commit.
    commit_answer: Option<bool>,
    /// The pairing the glue believes committed.
    committed: PersistedState,
    steps: usize,
}

fn stored(store: &Store<RamFlash>) -> Option<PersistedState> {
    let mut f = store.storage().clone();
    f.power_on();
    Store::new(f).load().into_state()
}

impl Sim {
    fn boot(flash: RamFlash, now: u64) -> Sim {
        let mut store = Store::new(flash);
        let state = store.load().into_state();
        let committed = state.clone().unwrap_or_default();
        let m = Machine::restore(cfg(), state.clone(), now);
        let mut s = Sim {
            m,
            store,
            now,
            open_conns: BTreeSet::new(),
            activation_ok: false,
            commit_answer: None,
            committed,
            steps: 0,
        };
        // restored exactly as storage says
        let st = state.unwrap_or_default();
        let expect = if st.validate().is_ok() && st.can_reconnect() { State::Activated } else { State::WindowOpen };
        assert_eq!(s.m.state(), expect, "restore");
        s.drain_checked().unwrap();
        s
    }

    /// Executes queued actions like the glue, checking each. Returns whether a write that may
    /// change the stored pairing happened, and the last reported failure.
    fn drain_checked(&mut self) -> Result<(bool, Option<PairError>), TestCaseError> {
        let mut pairing_write = false;
        let mut failure = None;
        while let Some(a) = self.m.poll_action(self.now) {
            let act = Act::of(&a);
            match act {
                Act::Persist(PersistReason::Commit, st) => {
                    prop_assert!(self.activation_ok, "commit without an accepted activation");
                    prop_assert!(st.is_activated());
                    self.activation_ok = false;
                    let ok = self.store.save(&st).is_ok();
                    self.commit_answer = Some(ok);
                    if ok {
                        self.committed = st;
                    }
                    pairing_write = true;
                }
                Act::Persist(PersistReason::Counters, st) => {
                    prop_assert!(st.same_pairing(&self.committed), "a counter write changed the pairing");
                    let _ = self.store.save(&st);
                }
                Act::Persist(PersistReason::NetworkReset, st) => {
                    prop_assert!(st.wifi.is_none());
                    let forgotten = PersistedState { wifi: None, ..self.committed.clone() };
                    prop_assert!(st.same_pairing(&forgotten));
                    let _ = self.store.save(&st);
                    self.committed = st;
                    pairing_write = true;
                }
                Act::Erase => {
                    let _ = self.store.erase();
                    self.committed = PersistedState::default();
                    pairing_write = true;
                }
                Act::Disconnect(c) => {
                    self.open_conns.remove(&c.0);
                }
                Act::Failed(e) => failure = Some(e),
                Act::Connect(mode, ref w) => prop_assert_eq!(mode.needs_wifi(), w.is_some()),
                _ => {}
            }
        }
        Ok((pairing_write, failure))
    }

    fn happy_event(&self, p8: u8, p16: u16) -> Option<Event> {
        let conn = ConnId(1 + u32::from(p8 % 3));
        Some(match self.m.state() {
            State::Idle | State::Activated => Event::OpenWindow { modes: Modes::ALL },
            State::WindowOpen => {
                if p8 % 5 == 0 {
                    Event::BindReceived { token: token("cell-token-1"), endpoint: None }
                } else {
                    Event::AppConnected { conn, mode: APP_MODES[usize::from(p16) % 3] }
                }
            }
            State::SessionOpen => {
                let s = self.m.session()?;
                match s.phase {
                    SessionPhase::Connected => Event::HandshakeStarted { conn: s.conn },
                    SessionPhase::Handshaking if p8 % 4 == 0 => {
                        Event::HandshakeFailed { conn: s.conn, error: PairError::WrongSetupCode }
                    }
                    SessionPhase::Handshaking => Event::HandshakeOk { conn: s.conn },
                    SessionPhase::Established => {
                        let w = s.mode.needs_wifi().then(|| wifi("net", "password1"));
                        let mut st = staged(s.mode, w, "tok-12345");
                        if p8 % 7 == 0 {
                            st.token = None;
                        }
                        Event::CredentialsReceived { conn: s.conn, staged: st }
                    }
                }
            }
            State::CredentialsStaged | State::JoiningNetwork => {
                if p8 % 4 == 0 {
                    Event::NetworkFailed { error: ERRORS[usize::from(p16) % ERRORS.len()] }
                } else {
                    Event::NetworkUp { ip: IP }
                }
            }
            State::Activating => match p8 % 5 {
                0 => Event::ActivationResult(Err(PairError::TokenExpired)),
                1 => Event::ActivationResult(Err(PairError::CloudUnreachable)),
                _ => Event::ActivationResult(Ok(op_creds("dev", p8))),
            },
            State::Committing => match self.commit_answer? {
                true => Event::CommitDone,
                false => Event::CommitFailed,
            },
        })
    }

    fn random_event(&self, p8: u8, p16: u16) -> Event {
        let conn = ConnId(1 + u32::from(p16 % 3));
        let error = ERRORS[usize::from(p16 / 3) % ERRORS.len()];
        let mode = APP_MODES[usize::from(p16 / 7) % 3];
        match p8 % 19 {
            0 => Event::OpenWindow { modes: Modes::from_bits((p16 % 16) as u8).unwrap() },
            1 => Event::CloseWindow,
            2 => Event::AppConnected { conn, mode },
            3 => Event::AppActivity { conn },
            4 => Event::HandshakeStarted { conn },
            5 => Event::HandshakeOk { conn },
            6 => Event::HandshakeFailed { conn, error },
            7 => Event::SessionError { conn, error },
            8 => Event::AppDisconnected { conn },
            9 => Event::CredentialsReceived {
                conn,
                staged: staged(mode, mode.needs_wifi().then(|| wifi("x", "password2")), "tok-99999"),
            },
            10 => Event::ScanRequested { conn },
            11 => Event::BindReceived { token: token("cell-token-2"), endpoint: Some(endpoint()) },
            12 => Event::NetworkUp { ip: IP },
            13 => Event::NetworkFailed { error },
            14 => Event::ActivationResult(Ok(op_creds("rnd", 1))),
            15 => Event::ActivationResult(Err(error)),
            16 => Event::Abort,
            17 => Event::Reset(ResetKind::Network),
            _ => Event::Reset(ResetKind::Factory),
        }
    }

    fn snapshot(&self) -> (String, Option<u64>, PersistedState, usize) {
        (format!("{:?}", self.m), self.m.next_deadline(), self.m.persisted().clone(), self.m.queued_actions())
    }

    fn check_state(&self, failure: Option<PairError>) -> Result<(), TestCaseError> {
        let st = self.m.state();
        let session = self.m.session();
        // at most one app connection, and it is the session's
        let held: BTreeSet<u32> = session.map(|s| s.conn.0).into_iter().collect();
        prop_assert_eq!(&self.open_conns, &held, "open connections vs session in {:?}", st);
        if st == State::SessionOpen {
            prop_assert!(session.is_some());
        }
        if session.is_some() {
            prop_assert!(!st.is_rest() && st != State::WindowOpen, "session in {:?}", st);
        }
        prop_assert_eq!(
            self.m.has_staged(),
            matches!(st, State::JoiningNetwork | State::Activating),
            "staging in {:?}",
            st
        );
        prop_assert_eq!(self.m.window_modes().is_some(), !st.is_rest(), "window in {:?}", st);
        if st.is_rest() {
            prop_assert_eq!(st == State::Activated, self.m.persisted().is_activated());
        }
        if let Some(e) = failure {
            prop_assert_eq!(st, State::WindowOpen, "after the failure {:?}", e);
            prop_assert_eq!(self.m.last_error(), Some(e));
        }
        if let Some(d) = self.m.next_deadline() {
            prop_assert!(d > self.now, "expired timer {} not handled at {}", d, self.now);
        }
        Ok(())
    }

    fn step(&mut self, choice: u8, dt: u8, p16: u16, p8: u8) -> Result<(), TestCaseError> {
        self.steps += 1;
        let before = stored(&self.store);
        self.now += DT[usize::from(dt) % DT.len()];
        self.m.poll(self.now);
        let (mut pairing_write, mut failure) = self.drain_checked()?;
        self.check_state(failure)?;

        match choice {
            0..=229 => {
                let ev = if choice < 140 { self.happy_event(p8, p16) } else { Some(self.random_event(p8, p16)) };
                if let Some(ev) = ev {
                    let connected = match &ev {
                        Event::AppConnected { conn, .. } => Some(conn.0),
                        _ => None,
                    };
                    let disconnected = match &ev {
                        Event::AppDisconnected { conn } => Some(conn.0),
                        _ => None,
                    };
                    let accepting_ok = matches!(&ev, Event::ActivationResult(Ok(_)));
                    let snap = self.snapshot();
                    let r = self.m.handle(self.now, ev);
                    match r {
                        Err(_) => prop_assert_eq!(snap, self.snapshot(), "a refused event changed the machine"),
                        Ok(()) => {
                            if let Some(c) = connected {
                                self.open_conns.insert(c);
                            }
                            if let Some(c) = disconnected {
                                self.open_conns.remove(&c);
                            }
                            if accepting_ok {
                                self.activation_ok = true;
                            }
                        }
                    }
                    let (w, f) = self.drain_checked()?;
                    pairing_write |= w;
                    failure = f;
                }
            }
            230..=245 => {
                // power cut: the machine is gone, the flash keeps what it has
                let mut flash = self.store.storage().clone();
                flash.power_on();
                let steps = self.steps;
                *self = Sim::boot(flash, self.now);
                self.steps = steps;
                let after = stored(&self.store).unwrap_or_default();
                prop_assert!(self.m.persisted().same_pairing(&after) || after.validate().is_err());
                return Ok(());
            }
            _ => {
                // the flash is about to die
                self.store.storage_mut().cut_power_after(usize::from(p16) % 400);
            }
        }
        self.check_state(failure)?;
        let after = stored(&self.store);
        let pb = before.unwrap_or_default();
        let pa = after.unwrap_or_default();
        if !pa.same_pairing(&pb) {
            prop_assert!(pairing_write, "the stored pairing changed without a commit: {:?} -> {:?}", pb, pa);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(384))]

    #[test]
    fn random_event_sequences_keep_the_promises(
        prior in any::<bool>(),
        steps in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u16>(), any::<u8>()), 1..120),
    ) {
        let mut flash = RamFlash::new();
        if prior {
            let mut s = Store::new(flash);
            s.save(&activated(Mode::SoftAp, Some(wifi("old-net", "oldpassword")), "dev-old")).unwrap();
            flash = s.into_inner();
        }
        let mut sim = Sim::boot(flash, 0);
        for (choice, dt, p16, p8) in steps {
            sim.step(choice, dt, p16, p8)?;
        }
    }
}

/// The biased generator does reach every state (otherwise the property above proves little).
#[test]
fn the_generator_reaches_every_state() {
    let mut seen = BTreeSet::new();
    let mut x: u32 = 0x1234_5678;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    for _ in 0..50 {
        let mut sim = Sim::boot(RamFlash::new(), 0);
        for _ in 0..120 {
            let r = rnd();
            let choice = (r % 230) as u8; // no reboots here
            sim.step(choice, ((r >> 8) % 3) as u8, (r >> 11) as u16, (r >> 3) as u8).unwrap();
            seen.insert(sim.m.state().code());
        }
    }
    for s in [State::Idle, State::WindowOpen, State::SessionOpen, State::JoiningNetwork, State::Activating, State::Activated] {
        assert!(seen.contains(&s.code()), "{s:?} never reached: {seen:?}");
    }
}
