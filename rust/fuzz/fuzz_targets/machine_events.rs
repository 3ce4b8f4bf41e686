//! Fuzzes the pairing state machine with arbitrary event sequences at arbitrary times.
//!
//! Input: an optional persisted state to restore from (first byte = its length, then the
//! payload), then 4-byte steps `[event, time delta, a, b]`. The target plays a glue that
//! executes actions (answering commits) and checks that the machine never panics, never
//! commits without an accepted activation, keeps its state consistent and handles every
//! expired timer.
#![no_main]

use core::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use zpair_core::error::PairError;
use zpair_core::machine::{
    Action, CloudName, Config, ConnId, DeviceSecret, Event, Machine, OperationalCredentials,
    PersistReason, PersistedState, ResetKind, Staged, State,
};
use zpair_core::types::{
    ActivationToken, CloudEndpoint, Mode, Modes, Passphrase, Security, Ssid, WifiCredentials,
};

const MODES: [Mode; 4] = [Mode::SoftAp, Mode::Ble, Mode::Wired, Mode::Cellular];

fn wifi(a: u8, b: u8) -> Option<WifiCredentials> {
    let ssid = Ssid::new(&[b'n', a]).ok()?;
    let (security, passphrase) = match b % 3 {
        0 => (Security::Open, Passphrase::none()),
        1 => (Security::Wpa2Psk, Passphrase::new(b"password1").ok()?),
        _ => (Security::Wpa3Sae, Passphrase::new(&[b'a'; 64]).ok()?), // invalid combination
    };
    Some(WifiCredentials { ssid, hidden: a & 1 != 0, security, passphrase, bssid: None, channel: Some(b) })
}

fn token(a: u8) -> ActivationToken {
    let mut t = *b"token-00";
    t[6] = b'a' + a % 26;
    ActivationToken::new(&t).expect("valid token")
}

fn op(a: u8) -> OperationalCredentials {
    OperationalCredentials {
        name: CloudName::new(b"fuzz-dev").expect("valid name"),
        secret: DeviceSecret::new([a; 32]),
        endpoint: CloudEndpoint::new(b"eu", None, 0).expect("valid endpoint"),
    }
}

fuzz_target!(|data: &[u8]| {
    let (persisted, steps) = match data.split_first() {
        Some((&n, rest)) if n < 0x80 => {
            let n = usize::from(n).min(rest.len());
            (PersistedState::decode(&rest[..n]).ok(), &rest[n..])
        }
        Some((_, rest)) => (None, rest),
        None => (None, data),
    };
    let mut now: u64 = 0;
    let mut m = Machine::restore(Config::default(), persisted, now);
    if let Some(&seed) = steps.first() {
        m.set_jitter_seed(u32::from(seed));
    }
    let mut activation_ok = false;
    let mut commit_answer: Option<bool> = None;

    for step in steps.chunks(4) {
        let [kind, dt, a, b] = [0, 1, 2, 3].map(|i| step.get(i).copied().unwrap_or(0));
        now = now.saturating_add(u64::from(dt) * u64::from(dt) * 40);
        let conn = ConnId(u32::from(a % 3));
        let err = PairError::from_code(0x10 + b % 0x55);
        let mode = MODES[usize::from(a % 4)];
        let ev = match kind % 21 {
            0 => Event::OpenWindow { modes: Modes::from_bits(b & 0x0f).unwrap_or(Modes::ALL) },
            1 => Event::CloseWindow,
            2 => Event::AppConnected { conn, mode },
            3 => Event::AppActivity { conn },
            4 => Event::HandshakeStarted { conn },
            5 => Event::HandshakeOk { conn },
            6 => Event::HandshakeFailed { conn, error: err },
            7 => Event::SessionError { conn, error: err },
            8 => Event::AppDisconnected { conn },
            9 => Event::CredentialsReceived {
                conn,
                staged: Staged {
                    mode,
                    wifi: if b & 0x80 != 0 { None } else { wifi(a, b) },
                    token: (b & 0x40 == 0).then(|| token(a)),
                    endpoint: None,
                },
            },
            10 => Event::ScanRequested { conn },
            11 => Event::BindReceived { token: token(b), endpoint: None },
            12 => Event::NetworkUp { ip: IpAddr::V4(Ipv4Addr::new(10, 0, a, b)) },
            13 => Event::NetworkFailed { error: err },
            14 => Event::ActivationResult(Ok(op(a))),
            15 => Event::ActivationResult(Err(err)),
            16 => match commit_answer.take() {
                Some(true) => Event::CommitDone,
                Some(false) => Event::CommitFailed,
                None => Event::CommitDone, // out of order: must be refused
            },
            17 => Event::Abort,
            18 => Event::Reset(if b & 1 == 0 { ResetKind::Network } else { ResetKind::Factory }),
            19 => {
                m.poll(now);
                Event::AppActivity { conn }
            }
            _ => {
                // a power cut: restore from nothing or from the committed state
                let st = (b & 1 == 0).then(|| m.persisted().clone());
                m = Machine::restore(Config::default(), st, now);
                activation_ok = false;
                commit_answer = None;
                continue;
            }
        };
        let accepted_ok = matches!(ev, Event::ActivationResult(Ok(_)));
        let state_before = m.state();
        let queued_before = m.queued_actions();
        match m.handle(now, ev) {
            Ok(()) => activation_ok |= accepted_ok,
            Err(_) => {
                // refused: only expired timers may have changed something
                if m.queued_actions() == queued_before {
                    assert_eq!(m.state(), state_before);
                }
            }
        }
        while let Some(action) = m.poll_action(now) {
            match action {
                Action::Persist { state, reason: PersistReason::Commit } => {
                    assert!(activation_ok, "commit without an accepted activation");
                    assert!(state.is_activated());
                    activation_ok = false;
                    commit_answer = Some(a & 1 == 0);
                }
                Action::Persist { state, .. } => assert!(state.validate().is_ok()),
                Action::ConnectNetwork { mode, wifi } => assert_eq!(mode.needs_wifi(), wifi.is_some()),
                _ => {}
            }
        }
        let st = m.state();
        assert_eq!(m.window_modes().is_some(), !st.is_rest());
        if st == State::SessionOpen {
            assert!(m.session().is_some());
        }
        if let Some(d) = m.next_deadline() {
            assert!(d > now, "expired timer left unhandled");
        }
    }
});
