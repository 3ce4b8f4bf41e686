//! The full happy path of every mode, action by action.

mod machine_support;

use machine_support::*;
use zpair_core::machine::*;
use zpair_core::types::*;

const APP: ConnId = ConnId(1);

/// Runs an app-driven pairing (SoftAP, BLE, wired) on `dev` and checks every action.
fn app_pairing(dev: &mut Dev, mode: Mode, w: Option<WifiCredentials>, open_modes: Modes) {
    let writes_before = dev.store.storage().write_count();
    let acts = dev.ev(Event::AppConnected { conn: APP, mode });
    assert_eq!(acts, vec![]);
    assert_eq!(dev.m.state(), State::SessionOpen);
    assert_eq!(dev.ev(Event::HandshakeStarted { conn: APP }), vec![]);
    assert_eq!(
        dev.ev(Event::HandshakeOk { conn: APP }),
        vec![Act::Status(APP, State::SessionOpen, None)]
    );
    let acts = dev.send_creds(1, staged(mode, w.clone(), "tok-12345"));
    assert_eq!(
        acts,
        vec![
            Act::Status(APP, State::CredentialsStaged, None),
            Act::Status(APP, State::JoiningNetwork, None),
            Act::Connect(mode, w.clone()),
        ]
    );
    assert_eq!(dev.m.state(), State::JoiningNetwork);
    assert!(dev.m.has_staged());
    dev.now += 3_000;
    let acts = dev.ev(Event::NetworkUp { ip: IP });
    assert_eq!(
        acts,
        vec![Act::Status(APP, State::Activating, None), Act::Activate(b"tok-12345".to_vec(), 1)]
    );
    assert_eq!(dev.store.storage().write_count(), writes_before, "nothing written yet");
    dev.now += 500;
    let acts = dev.ev(Event::ActivationResult(Ok(op_creds("dev-new", 0x42))));
    let mut expected_state = PersistedState {
        mode: Some(mode),
        wifi: w,
        operational: Some(op_creds("dev-new", 0x42)),
        activated: true,
        failed_attempts: 0,
    };
    assert_eq!(
        acts,
        vec![
            Act::Persist(PersistReason::Commit, expected_state.clone()),
            Act::Status(APP, State::Activated, None),
            Act::Disconnect(APP),
            Act::StopWindow(open_modes),
            Act::Done(mode),
        ]
    );
    assert_eq!(dev.store.storage().write_count(), writes_before + 1, "one atomic commit");
    assert_eq!(dev.m.state(), State::Activated);
    assert!(!dev.m.has_staged());
    assert_eq!(dev.m.last_error(), None);
    assert_eq!(dev.m.session(), None);
    assert_eq!(dev.m.next_deadline(), None);
    assert_eq!(dev.stored(), Some(expected_state.clone()));
    expected_state.failed_attempts = 0;
    assert_eq!(dev.m.persisted(), &expected_state);
}

#[test]
fn softap_happy_path() {
    let mut dev = Dev::fresh();
    assert_eq!(dev.log, vec![Act::StartWindow(Modes::ALL)]);
    assert_eq!(dev.m.state(), State::WindowOpen);
    app_pairing(&mut dev, Mode::SoftAp, Some(wifi("home", "password1")), Modes::ALL);
}

#[test]
fn ble_happy_path() {
    let mut dev = Dev::fresh();
    app_pairing(&mut dev, Mode::Ble, Some(wifi("home-5g", "another-pass")), Modes::ALL);
}

#[test]
fn wired_happy_path() {
    let mut dev = Dev::fresh();
    app_pairing(&mut dev, Mode::Wired, None, Modes::ALL);
}

#[test]
fn cellular_happy_path_has_no_app_session() {
    let mut dev = Dev::fresh();
    let writes_before = dev.store.storage().write_count();
    let acts = dev.ev(Event::BindReceived { token: token("cell-token-1"), endpoint: None });
    assert_eq!(acts, vec![Act::Connect(Mode::Cellular, None)]);
    assert_eq!(dev.m.state(), State::JoiningNetwork);
    assert_eq!(dev.m.session(), None);
    let acts = dev.ev(Event::NetworkUp { ip: IP });
    assert_eq!(acts, vec![Act::Activate(b"cell-token-1".to_vec(), 1)]);
    let acts = dev.ev(Event::ActivationResult(Ok(op_creds("cell-dev", 1))));
    let st = PersistedState {
        mode: Some(Mode::Cellular),
        wifi: None,
        operational: Some(op_creds("cell-dev", 1)),
        activated: true,
        failed_attempts: 0,
    };
    assert_eq!(
        acts,
        vec![
            Act::Persist(PersistReason::Commit, st.clone()),
            Act::StopWindow(Modes::ALL),
            Act::Done(Mode::Cellular),
        ]
    );
    assert_eq!(dev.store.storage().write_count(), writes_before + 1);
    assert_eq!(dev.stored(), Some(st));
    assert_eq!(dev.m.state(), State::Activated);
}

#[test]
fn cellular_only_build_shows_the_qr_window_at_boot() {
    let cfg = Config::new(ConfigParams { modes: Modes::CELLULAR, ..*cfg().params() }).unwrap();
    let mut m = Machine::restore(cfg, None, 0);
    let a = m.poll_action(0).map(|a| Act::of(&a));
    assert_eq!(a, Some(Act::StartWindow(Modes::CELLULAR)));
    // an app cannot connect over a transport that is not open
    m.handle(1, Event::AppConnected { conn: APP, mode: Mode::Ble }).unwrap();
    let mut acts = vec![];
    while let Some(a) = m.poll_action(1) {
        acts.push(Act::of(&a));
    }
    assert_eq!(acts, vec![Act::Alert(APP, zpair_core::error::PairError::WindowClosed), Act::Disconnect(APP)]);
}

#[test]
fn an_activated_device_reconnects_at_boot_and_can_be_paired_again() {
    let old = activated(Mode::SoftAp, Some(wifi("old-net", "oldpassword")), "dev-old");
    let mut dev = Dev::with_state(&old);
    assert_eq!(dev.log, vec![Act::Reconnect(Mode::SoftAp, old.wifi.clone())]);
    assert_eq!(dev.m.state(), State::Activated);
    assert_eq!(dev.m.next_deadline(), None);
    // the user presses the pairing button to move the device to another network, over BLE
    let acts = dev.ev(Event::OpenWindow { modes: Modes::BLE });
    assert_eq!(acts, vec![Act::StartWindow(Modes::BLE)]);
    app_pairing(&mut dev, Mode::Ble, Some(wifi("new-net", "newpassword")), Modes::BLE);
    assert_eq!(dev.stored().unwrap().wifi, Some(wifi("new-net", "newpassword")));
}

#[test]
fn the_network_address_is_reported_once_known() {
    let mut dev = Dev::fresh();
    dev.connect_app(1, Mode::Ble);
    dev.send_creds(1, staged(Mode::Ble, Some(wifi("home", "password1")), "tok-12345"));
    dev.m.handle(dev.now, Event::NetworkUp { ip: IP }).unwrap();
    let mut ips = vec![];
    while let Some(a) = dev.m.poll_action(dev.now) {
        if let Action::SendStatus { status, .. } = a {
            ips.push((status.state, status.ip));
        }
    }
    assert_eq!(ips, vec![(State::Activating, Some(IP))]);
}

#[test]
fn actions_borrow_the_staged_credentials_without_copying_the_token_into_the_queue() {
    let mut dev = Dev::fresh();
    dev.connect_app(1, Mode::SoftAp);
    let ep = endpoint();
    dev.m
        .handle(
            dev.now,
            Event::CredentialsReceived {
                conn: APP,
                staged: staged(Mode::SoftAp, Some(wifi("home", "password1")), "tok-12345"),
            },
        )
        .unwrap();
    dev.drain();
    dev.m.handle(dev.now, Event::NetworkUp { ip: IP }).unwrap();
    let mut seen = 0;
    while let Some(a) = dev.m.poll_action(dev.now) {
        if let Action::StartActivation { token, endpoint, attempt } = a {
            assert_eq!(token.expose(), b"tok-12345");
            assert_eq!(endpoint, Some(&ep));
            assert_eq!(attempt, 1);
            seen += 1;
        }
    }
    assert_eq!(seen, 1);
}
