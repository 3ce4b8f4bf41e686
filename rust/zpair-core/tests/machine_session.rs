//! One session at a time, typed refusal of out-of-order events, credential checks, scans,
//! resets, redaction and the bounded action queue.

mod machine_support;

use machine_support::*;
use zpair_core::error::PairError;
use zpair_core::machine::*;
use zpair_core::types::*;

const APP: ConnId = ConnId(1);
const OTHER: ConnId = ConnId(2);

fn busy(dev: &mut Dev) {
    let before = dev.m.session();
    let state = dev.m.state();
    let acts = dev.ev(Event::AppConnected { conn: OTHER, mode: Mode::SoftAp });
    assert_eq!(acts, vec![Act::Alert(OTHER, PairError::Busy), Act::Disconnect(OTHER)], "in {state:?}");
    assert_eq!(dev.m.session(), before);
    assert_eq!(dev.m.state(), state);
    // the refused app's disconnect is no business of the session
    assert_eq!(dev.ev(Event::AppDisconnected { conn: OTHER }), vec![]);
    assert_eq!(dev.m.session(), before);
}

#[test]
fn a_second_app_is_busy_in_every_state_of_a_pairing() {
    let mut dev = Dev::fresh();
    dev.auto_commit = false;
    dev.ev(Event::AppConnected { conn: APP, mode: Mode::Ble });
    busy(&mut dev);
    dev.ev(Event::HandshakeStarted { conn: APP });
    busy(&mut dev);
    dev.ev(Event::HandshakeOk { conn: APP });
    busy(&mut dev);
    dev.send_creds(1, staged(Mode::Ble, Some(wifi("home", "password1")), "tok-12345"));
    busy(&mut dev);
    dev.ev(Event::NetworkUp { ip: IP });
    busy(&mut dev);
    dev.ev(Event::ActivationResult(Err(PairError::CloudUnreachable)));
    busy(&mut dev);
    dev.fire_next();
    dev.ev(Event::ActivationResult(Ok(op_creds("dev", 1))));
    assert_eq!(dev.m.state(), State::Committing);
    busy(&mut dev);
    dev.ev(Event::CommitDone);
    // activated: the window is closed
    let acts = dev.ev(Event::AppConnected { conn: OTHER, mode: Mode::Ble });
    assert_eq!(acts, vec![Act::Alert(OTHER, PairError::WindowClosed), Act::Disconnect(OTHER)]);
}

#[test]
fn a_second_app_is_busy_while_a_cellular_bind_is_processed() {
    let mut dev = Dev::fresh();
    dev.ev(Event::BindReceived { token: token("cell-token-1"), endpoint: None });
    busy(&mut dev);
}

#[test]
fn out_of_order_events_are_refused_with_a_typed_error_and_change_nothing() {
    use MachineError::*;
    let mut dev = Dev::fresh();
    // no session yet
    let creds = || staged(Mode::Ble, Some(wifi("home", "password1")), "tok-12345");
    assert_eq!(dev.refused(Event::HandshakeStarted { conn: APP }), InvalidState(State::WindowOpen));
    assert_eq!(dev.refused(Event::CredentialsReceived { conn: APP, staged: creds() }), InvalidState(State::WindowOpen));
    assert_eq!(dev.refused(Event::NetworkUp { ip: IP }), InvalidState(State::WindowOpen));
    assert_eq!(dev.refused(Event::NetworkFailed { error: PairError::ApNotFound }), InvalidState(State::WindowOpen));
    assert_eq!(dev.refused(Event::ActivationResult(Ok(op_creds("d", 1)))), InvalidState(State::WindowOpen));
    assert_eq!(dev.refused(Event::CommitDone), InvalidState(State::WindowOpen));
    assert_eq!(dev.refused(Event::CommitFailed), InvalidState(State::WindowOpen));
    assert_eq!(dev.refused(Event::Abort), InvalidState(State::WindowOpen));
    assert_eq!(dev.refused(Event::AppActivity { conn: APP }), InvalidState(State::WindowOpen));

    dev.ev(Event::AppConnected { conn: APP, mode: Mode::Ble });
    // credentials before the handshake completed
    assert_eq!(dev.refused(Event::CredentialsReceived { conn: APP, staged: creds() }), NotEstablished);
    assert_eq!(dev.refused(Event::ScanRequested { conn: APP }), NotEstablished);
    assert_eq!(dev.refused(Event::HandshakeOk { conn: APP }), InvalidState(State::SessionOpen));
    // events naming another connection
    assert_eq!(dev.refused(Event::HandshakeStarted { conn: OTHER }), UnknownConnection);
    assert_eq!(dev.refused(Event::AppActivity { conn: OTHER }), UnknownConnection);
    assert_eq!(
        dev.refused(Event::HandshakeFailed { conn: OTHER, error: PairError::WrongSetupCode }),
        UnknownConnection
    );
    // the same connection twice
    assert_eq!(dev.refused(Event::AppConnected { conn: APP, mode: Mode::Ble }), InvalidState(State::SessionOpen));
    assert_eq!(dev.refused(Event::BindReceived { token: token("cell-token-1"), endpoint: None }), InvalidState(State::SessionOpen));
    assert_eq!(dev.refused(Event::OpenWindow { modes: Modes::ALL }), InvalidState(State::SessionOpen));
    assert_eq!(dev.refused(Event::CloseWindow), InvalidState(State::SessionOpen));

    dev.ev(Event::HandshakeStarted { conn: APP });
    assert_eq!(dev.refused(Event::HandshakeStarted { conn: APP }), InvalidState(State::SessionOpen));
    assert_eq!(dev.refused(Event::CredentialsReceived { conn: APP, staged: creds() }), NotEstablished);
    dev.ev(Event::HandshakeOk { conn: APP });
    assert_eq!(
        dev.refused(Event::HandshakeFailed { conn: APP, error: PairError::WrongSetupCode }),
        InvalidState(State::SessionOpen)
    );
    assert_eq!(dev.refused(Event::CredentialsReceived { conn: OTHER, staged: creds() }), UnknownConnection);

    dev.send_creds(1, creds());
    assert_eq!(dev.refused(Event::CredentialsReceived { conn: APP, staged: creds() }), InvalidState(State::JoiningNetwork));
    assert_eq!(dev.refused(Event::ActivationResult(Ok(op_creds("d", 1)))), InvalidState(State::JoiningNetwork));
    assert_eq!(dev.refused(Event::CommitDone), InvalidState(State::JoiningNetwork));
    dev.ev(Event::NetworkUp { ip: IP });
    assert_eq!(dev.refused(Event::NetworkUp { ip: IP }), InvalidState(State::Activating));
    dev.auto_commit = false;
    dev.ev(Event::ActivationResult(Ok(op_creds("d", 1))));
    assert_eq!(dev.refused(Event::Abort), InvalidState(State::Committing));
    assert_eq!(dev.refused(Event::Reset(ResetKind::Factory)), InvalidState(State::Committing));
    assert_eq!(dev.refused(Event::NetworkFailed { error: PairError::LinkLost }), InvalidState(State::Committing));
    dev.ev(Event::CommitDone);
    assert_eq!(dev.refused(Event::CommitDone), InvalidState(State::Activated));
    assert_eq!(dev.refused(Event::CloseWindow), InvalidState(State::Activated));
    assert_eq!(dev.refused(Event::NetworkUp { ip: IP }), InvalidState(State::Activated));
}

#[test]
fn a_bind_needs_the_cellular_window() {
    let mut dev = Dev::fresh();
    dev.ev(Event::CloseWindow);
    dev.ev(Event::OpenWindow { modes: Modes::BLE });
    assert_eq!(
        dev.refused(Event::BindReceived { token: token("cell-token-1"), endpoint: None }),
        MachineError::ModeDisabled
    );
}

#[test]
fn bad_credentials_are_reported_and_the_session_stays_open() {
    let mut dev = Dev::fresh();
    dev.connect_app(1, Mode::SoftAp);
    let mut open_with_pass = wifi("home", "password1");
    open_with_pass.security = Security::Open;
    let mut bad_channel = wifi("home", "password1");
    bad_channel.channel = Some(0);
    let cases = [
        (Staged { mode: Mode::SoftAp, wifi: None, token: Some(token("tok-12345")), endpoint: None }, PairError::MissingCredentials),
        (Staged { mode: Mode::SoftAp, wifi: Some(wifi("home", "password1")), token: None, endpoint: None }, PairError::MissingCredentials),
        (staged(Mode::Ble, Some(wifi("home", "password1")), "tok-12345"), PairError::UnexpectedMessage),
        (staged(Mode::SoftAp, Some(open_with_pass), "tok-12345"), PairError::InvalidPassphrase),
        (staged(Mode::SoftAp, Some(bad_channel), "tok-12345"), PairError::InvalidSsid),
    ];
    for (s, error) in cases {
        let acts = dev.send_creds(1, s);
        assert_eq!(acts, vec![Act::Status(APP, State::SessionOpen, Some(error))]);
        assert_eq!(dev.m.state(), State::SessionOpen);
        assert_eq!(dev.m.last_error(), Some(error));
        assert!(!dev.m.has_staged());
    }
    // then good ones are accepted
    dev.send_creds(1, staged(Mode::SoftAp, Some(wifi("home", "password1")), "tok-12345"));
    assert_eq!(dev.m.state(), State::JoiningNetwork);

    let mut wired = Dev::fresh();
    wired.connect_app(1, Mode::Wired);
    let acts = wired.send_creds(1, staged(Mode::Wired, Some(wifi("home", "password1")), "tok-12345"));
    assert_eq!(acts, vec![Act::Status(APP, State::SessionOpen, Some(PairError::UnexpectedMessage))]);
}

#[test]
fn scans_are_for_wifi_sessions_only() {
    let mut dev = Dev::fresh();
    dev.connect_app(1, Mode::Ble);
    assert_eq!(dev.ev(Event::ScanRequested { conn: APP }), vec![Act::Scan(APP)]);
    let mut wired = Dev::fresh();
    wired.connect_app(1, Mode::Wired);
    assert_eq!(wired.refused(Event::ScanRequested { conn: APP }), MachineError::ModeDisabled);
}

#[test]
fn a_broken_established_session_ends_without_counting() {
    let mut dev = Dev::fresh();
    dev.connect_app(1, Mode::Ble);
    let acts = dev.ev(Event::SessionError { conn: APP, error: PairError::RecordRejected });
    assert_eq!(
        acts,
        vec![Act::Status(APP, State::WindowOpen, Some(PairError::RecordRejected)), Act::Disconnect(APP)]
    );
    assert_eq!(dev.m.failed_attempts(), 0);
    assert_eq!(dev.m.state(), State::WindowOpen);
    // during the handshake a session error counts like a failed handshake
    dev.ev(Event::AppConnected { conn: OTHER, mode: Mode::Ble });
    dev.ev(Event::HandshakeStarted { conn: OTHER });
    let acts = dev.ev(Event::SessionError { conn: OTHER, error: PairError::MalformedMessage });
    assert_eq!(acts[..2], [Act::Alert(OTHER, PairError::MalformedMessage), Act::Disconnect(OTHER)]);
    assert_eq!(dev.m.failed_attempts(), 1);
}

#[test]
fn an_app_can_connect_only_over_an_open_transport() {
    let mut dev = Dev::fresh();
    dev.ev(Event::CloseWindow);
    dev.ev(Event::OpenWindow { modes: Modes::BLE });
    let acts = dev.ev(Event::AppConnected { conn: APP, mode: Mode::SoftAp });
    assert_eq!(acts, vec![Act::Alert(APP, PairError::WindowClosed), Act::Disconnect(APP)]);
    let acts = dev.ev(Event::AppConnected { conn: APP, mode: Mode::Cellular });
    assert_eq!(acts, vec![Act::Alert(APP, PairError::WindowClosed), Act::Disconnect(APP)]);
    assert!(dev.ev(Event::AppConnected { conn: APP, mode: Mode::Ble }).is_empty());
}

#[test]
fn a_network_reset_forgets_wifi_keeps_the_activation_and_opens_the_window() {
    let old = activated(Mode::SoftAp, Some(wifi("old-net", "oldpassword")), "dev-old");
    let mut dev = Dev::with_state(&old);
    let acts = dev.ev(Event::Reset(ResetKind::Network));
    let forgotten = PersistedState { wifi: None, ..old.clone() };
    assert_eq!(
        acts,
        vec![
            Act::Persist(PersistReason::NetworkReset, forgotten.clone()),
            Act::DisconnectNetwork,
            Act::StartWindow(Modes::ALL),
        ]
    );
    assert_eq!(dev.stored(), Some(forgotten.clone()));
    assert_eq!(dev.m.state(), State::WindowOpen);
    // a reboot now opens the window instead of reconnecting
    let dev = dev.reboot(0);
    assert_eq!(dev.log, vec![Act::StartWindow(Modes::ALL)]);
    assert!(dev.m.persisted().is_activated());
    // and when that window times out the device is still activated
    let mut dev = dev;
    dev.fire_next();
    assert_eq!(dev.m.state(), State::Activated);
}

#[test]
fn a_factory_reset_erases_everything_including_counters_and_aborts_a_pairing() {
    let old = activated(Mode::SoftAp, Some(wifi("old-net", "oldpassword")), "dev-old");
    let mut dev = Dev::with_state(&old);
    dev.ev(Event::OpenWindow { modes: Modes::BLE });
    for n in 1..=3 {
        let c = ConnId(10 + n);
        dev.ev(Event::AppConnected { conn: c, mode: Mode::Ble });
        dev.ev(Event::HandshakeStarted { conn: c });
        dev.ev(Event::HandshakeFailed { conn: c, error: PairError::WrongSetupCode });
    }
    assert!(dev.m.locked_until().is_some());
    let acts = dev.ev(Event::Reset(ResetKind::Factory));
    assert_eq!(acts, vec![Act::Erase, Act::DisconnectNetwork, Act::StartWindow(Modes::ALL)]);
    assert_eq!(dev.stored(), None);
    assert_eq!(dev.m.failed_attempts(), 0);
    assert_eq!(dev.m.locked_until(), None);
    assert_eq!(dev.m.last_error(), None);
    assert_eq!(dev.m.persisted(), &PersistedState::default());

    // during a pairing: the app is told, the attempt dropped
    let mut dev = Dev::fresh();
    dev.connect_app(1, Mode::Ble);
    dev.send_creds(1, staged(Mode::Ble, Some(wifi("home", "password1")), "tok-12345"));
    let acts = dev.ev(Event::Reset(ResetKind::Factory));
    assert_eq!(
        acts,
        vec![
            Act::Alert(APP, PairError::Aborted),
            Act::Disconnect(APP),
            Act::Erase,
            Act::DisconnectNetwork,
            Act::StartWindow(Modes::ALL),
        ]
    );
    assert!(!dev.m.has_staged());
    assert_eq!(dev.m.state(), State::WindowOpen);
}

#[test]
fn debug_output_never_shows_credentials() {
    let mut dev = Dev::fresh();
    dev.connect_app(1, Mode::SoftAp);
    let s = Staged {
        mode: Mode::SoftAp,
        wifi: Some(wifi("home", "hunter2hunter2")),
        token: Some(token("SECRETTOKEN42")),
        endpoint: None,
    };
    assert!(!format!("{s:?}").contains("hunter2"));
    assert!(!format!("{s:?}").contains("SECRETTOKEN"));
    dev.m.handle(dev.now, Event::CredentialsReceived { conn: APP, staged: s }).unwrap();
    let text = format!("{:?}", dev.m);
    assert!(!text.contains("hunter2") && !text.contains("SECRETTOKEN"), "{text}");
    while let Some(a) = dev.m.poll_action(dev.now) {
        let text = format!("{a:?}");
        assert!(!text.contains("hunter2") && !text.contains("SECRETTOKEN"), "{text}");
    }
    dev.m.handle(dev.now, Event::NetworkUp { ip: IP }).unwrap();
    while let Some(a) = dev.m.poll_action(dev.now) {
        let text = format!("{a:?}");
        assert!(!text.contains("SECRETTOKEN"), "{text}");
    }
    let ev = Event::ActivationResult(Ok(op_creds("dev", 0x77)));
    let text = format!("{ev:?}");
    assert!(!text.contains("119") && !text.contains("77"), "{text}");
}

#[test]
fn a_full_queue_refuses_events_until_drained() {
    let mut m = Machine::restore(cfg(), None, 0);
    // nobody drains: app connections are refused while the window is closed, two actions each
    m.handle(0, Event::CloseWindow).unwrap();
    let mut accepted = 0;
    let err = loop {
        match m.handle(0, Event::AppConnected { conn: ConnId(accepted), mode: Mode::Ble }) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 100);
    };
    assert_eq!(err, MachineError::QueueFull);
    assert!(m.queued_actions() <= ACTION_QUEUE_LEN);
    assert!(ACTION_QUEUE_LEN - m.queued_actions() < MAX_ACTIONS_PER_STEP);
    // every queued action is still delivered, in order
    let mut n = 0;
    while let Some(a) = m.poll_action(0) {
        let _ = a;
        n += 1;
    }
    assert_eq!(n, 2 + 2 * accepted as usize);
    m.handle(0, Event::OpenWindow { modes: Modes::ALL }).unwrap();
}

#[test]
fn poll_defers_expiries_while_the_queue_is_full() {
    let mut m = Machine::restore(cfg(), None, 0);
    let _ = m.poll_action(0); // StartWindow
    for c in 0..4 {
        m.handle(0, Event::AppConnected { conn: ConnId(c), mode: Mode::Ble }).unwrap();
        m.handle(0, Event::AppDisconnected { conn: ConnId(c) }).unwrap();
    }
    m.handle(0, Event::CloseWindow).unwrap();
    m.handle(0, Event::OpenWindow { modes: Modes::BLE }).unwrap();
    while m.queued_actions() + MAX_ACTIONS_PER_STEP <= ACTION_QUEUE_LEN {
        m.handle(0, Event::OpenWindow { modes: Modes::BLE }).unwrap();
    }
    m.poll(1_000_000);
    assert_eq!(m.state(), State::WindowOpen, "the window timeout waits for room");
    while m.queued_actions() > 0 {
        let _ = m.poll_action(0);
    }
    m.poll(1_000_000);
    assert_eq!(m.state(), State::Idle);
}
