//! Failures, end to end: each one is a real outcome of the simulated radio, cloud or app, the
//! app is told precisely, the device rolls back and a corrected attempt succeeds without a
//! restart.

mod common;

use common::*;
use std::time::Duration;
use zpair_core::error::PairError;
use zpair_core::machine::State;
use zpair_core::msg::{AppToDevice, DeviceToApp, PairState};
use zpair_core::types::{Mode, Modes, SetupCode};
use zpair_sim::{AccessPoint, CellNetwork, Dhcp, SimDevice, SimEvent};

fn pair_ble(env: &Env, dev: &zpair_sim::SimHandle, pass: &str) -> Result<Vec<zpair_core::msg::Status>, (Vec<zpair_core::msg::Status>, PairError)> {
    let token = env.token();
    let mut app = App::new(BleApp::connect_to(&env.air, dev.device_id(), 247));
    let first = provision(Some(wifi(HOME_SSID, pass)), &token, None);
    app.handshake(&env.setup_code(0), dev.device_id(), Some(&first)).unwrap();
    app.status_until(|s| s.state == PairState::Activated || s.state == PairState::WindowOpen)
}

#[test]
fn wrong_wifi_password_is_reported_over_ble_and_a_second_attempt_succeeds_without_restart() {
    let env = Env::start(1);
    let dev = SimDevice::start(env.device_config(0, Modes::BLE)).unwrap();
    let wrong = "wrong-horse-42";
    secret(wrong);
    let seen = pair_ble(&env, &dev, wrong).unwrap();
    assert_eq!(
        states(&seen),
        vec![(PairState::JoiningNetwork, None), (PairState::WindowOpen, Some(PairError::WrongPassword))]
    );
    // The window reopens: advertising again, nothing stored.
    let st = dev.wait_for(T, |s| s.state == State::WindowOpen && s.ble_socket.is_some()).unwrap();
    assert_eq!(st.last_error, Some(PairError::WrongPassword));
    assert_eq!(st.paired_mode, None);
    assert!(dev.count_events(|e| *e == SimEvent::Failed(PairError::WrongPassword)) == 1);
    assert!(env.device_view(0).is_none(), "the cloud saw nothing");
    // Second attempt, right password, same process.
    let seen = pair_ble(&env, &dev, HOME_PASS).unwrap();
    assert_eq!(seen.last().map(|s| s.state), Some(PairState::Activated));
    dev.wait_for_state(State::Activated, T).unwrap();
    assert!(env.device_view(0).is_some());
    dev.stop();
    env.register_stored_secret(0);
    assert_no_secret_in_logs();
}

#[test]
fn ap_not_found_over_softap_is_learned_when_the_app_rejoins_the_ap() {
    let env = Env::start(1);
    let dev = SimDevice::start(env.device_config(0, Modes::SOFTAP)).unwrap();
    let token = env.token();
    let mut app = App::new(SoftApApp::join(&env.air, env.device_id(0)));
    let first = provision(Some(wifi("NoSuchNet", HOME_PASS)), &token, None);
    app.handshake(&env.setup_code(0), env.device_id(0), Some(&first)).unwrap();
    let (_, end) = app.status_until(|_| false).unwrap_err();
    assert_eq!(end, PairError::Disconnected, "the AP went down while the device tried to join");
    dev.wait_for(T, |s| s.state == State::WindowOpen && s.softap.is_some()).unwrap();
    // The phone rejoins the AP and opens a new session: the first status carries the cause.
    let mut app = App::new(SoftApApp::join(&env.air, env.device_id(0)));
    app.handshake(&env.setup_code(0), env.device_id(0), None).unwrap();
    let s = app.recv_status(T).unwrap();
    assert_eq!((s.state, s.error), (PairState::SessionOpen, Some(PairError::ApNotFound)));
    // Corrected in the same session.
    let msg = provision(Some(wifi(HOME_SSID, HOME_PASS)), &env.token(), None);
    app.send_msg(&msg);
    dev.wait_for_state(State::Activated, T).unwrap();
    dev.stop();
    env.register_stored_secret(0);
    assert_no_secret_in_logs();
}

#[test]
fn dhcp_timeout_and_hidden_networks() {
    let env = Env::start(1);
    let mut silent = AccessPoint::wpa2("SilentDhcp", "silent-pass-1");
    silent.dhcp = Dhcp::Timeout;
    let mut hidden = AccessPoint::wpa2("HiddenNet", "hidden-pass-1");
    hidden.hidden = true;
    secret("silent-pass-1");
    secret("hidden-pass-1");
    env.air.set_access_points(&[AccessPoint::wpa2(HOME_SSID, HOME_PASS), silent, hidden]).unwrap();
    let dev = SimDevice::start(env.device_config(0, Modes::BLE)).unwrap();
    let token = env.token();
    let mut app = App::new(BleApp::connect_to(&env.air, env.device_id(0), 247));
    app.handshake(&env.setup_code(0), env.device_id(0), None).unwrap();
    assert_eq!(app.recv_status(T).unwrap().state, PairState::SessionOpen);
    // A scan shows the visible networks only.
    let names = app.scan();
    assert!(names.contains(&HOME_SSID.to_string()) && names.contains(&"SilentDhcp".to_string()));
    assert!(!names.contains(&"HiddenNet".to_string()));
    app.send_msg(&provision(Some(wifi("SilentDhcp", "silent-pass-1")), &token, None));
    let seen = app.status_until(|s| s.error.is_some()).unwrap();
    assert_eq!(seen.last().map(|s| (s.state, s.error)), Some((PairState::WindowOpen, Some(PairError::DhcpTimeout))));
    // The hidden network, announced as hidden, is found and joined.
    dev.wait_for(T, |s| s.state == State::WindowOpen && s.ble_socket.is_some()).unwrap();
    let mut app = App::new(BleApp::connect_to(&env.air, env.device_id(0), 247));
    let mut w = wifi("HiddenNet", "hidden-pass-1");
    w.hidden = true;
    app.handshake(&env.setup_code(0), env.device_id(0), Some(&provision(Some(w), &env.token(), None))).unwrap();
    let seen = app.status_until(|s| s.state == PairState::Activated || s.state == PairState::WindowOpen).unwrap();
    // The first status of the new session recalls the previous failure.
    assert_eq!((seen[0].state, seen[0].error), (PairState::SessionOpen, Some(PairError::DhcpTimeout)));
    assert_eq!(seen.last().map(|s| s.state), Some(PairState::Activated));
    dev.stop();
    env.register_stored_secret(0);
    assert_no_secret_in_logs();
}

#[test]
fn wrong_setup_codes_are_counted_and_lock_the_window() {
    let env = Env::start(1);
    let mut cfg = env.device_config(0, Modes::BLE);
    cfg.machine.max_attempts = 3;
    cfg.machine.lockout_ms = 300;
    let dev = SimDevice::start(cfg).unwrap();
    let right = env.setup_code(0).expose();
    let wrong = SetupCode::new(if right == 20_202_021 { 20_202_022 } else { 20_202_021 }).unwrap();
    secret(&format!("{:08}", wrong.expose()));
    for n in 1..=3u8 {
        let mut app = App::new(BleApp::connect_to(&env.air, env.device_id(0), 247));
        assert_eq!(app.handshake(&wrong, env.device_id(0), None), Err(PairError::WrongSetupCode));
        dev.wait_for(T, |s| s.failed_attempts == n).unwrap();
    }
    let st = dev.wait_for(T, |s| s.locked_out).unwrap();
    assert_eq!(st.last_error, Some(PairError::WrongSetupCode));
    // Locked: the next app is refused at once, whatever code it has.
    let mut app = App::new(BleApp::connect_to(&env.air, env.device_id(0), 247));
    assert_eq!(app.handshake(&env.setup_code(0), env.device_id(0), None), Err(PairError::LockedOut));
    assert!(dev.count_events(|e| matches!(e, SimEvent::AlertSent { error: PairError::LockedOut, .. })) >= 1);
    // The lockout expires on the device's own timer; the right code then pairs.
    dev.wait_for(T, |s| !s.locked_out).unwrap();
    let seen = pair_ble(&env, &dev, HOME_PASS).unwrap();
    assert_eq!(seen.last().map(|s| s.state), Some(PairState::Activated));
    dev.stop();
    env.register_stored_secret(0);
    assert_no_secret_in_logs();
}

#[test]
fn cloud_down_then_back_is_retried_with_backoff_until_it_succeeds() {
    let mut env = Env::start(1);
    let token = env.token();
    let cloud_dir = env.dir.path().join("cloud");
    let port = env.cloud_port;
    let cloud = env.cloud.take().unwrap();
    env.rt.block_on(cloud.shutdown()).unwrap();

    let dev = SimDevice::start(env.device_config(0, Modes::BLE)).unwrap();
    let mut app = App::new(BleApp::connect_to(&env.air, env.device_id(0), 247));
    let first = provision(Some(wifi(HOME_SSID, HOME_PASS)), &token, Some(env.endpoint()));
    app.handshake(&env.setup_code(0), env.device_id(0), Some(&first)).unwrap();
    // The app hears "activating, cloud unreachable" while the device backs off.
    let seen = app.status_until(|s| s.error == Some(PairError::CloudUnreachable)).unwrap();
    assert_eq!(seen.last().map(|s| s.state), Some(PairState::Activating));
    dev.wait_for_event(T, |e| matches!(e, SimEvent::RetryScheduled { attempt: 3, .. })).unwrap();
    // The cloud comes back (same data, same port).
    let cloud = env.rt.block_on(zpair_cloud::Cloud::start(cloud_config(&cloud_dir, port))).unwrap();
    env.cloud = Some(cloud);
    let seen = app.status_until(|s| s.state == PairState::Activated || s.state == PairState::WindowOpen).unwrap();
    assert_eq!(seen.last().map(|s| (s.state, s.error)), Some((PairState::Activated, None)));
    dev.wait_for_state(State::Activated, T).unwrap();
    assert!(dev.count_events(|e| *e == SimEvent::ActivationFailed(PairError::CloudUnreachable)) >= 2);
    assert!(env.device_view(0).is_some());
    dev.stop();
    env.register_stored_secret(0);
    assert_no_secret_in_logs();
}

#[test]
fn an_app_that_disconnects_mid_session_leaves_the_window_open() {
    let env = Env::start(1);
    let dev = SimDevice::start(env.device_config(0, Modes::BLE)).unwrap();
    // Established, then gone: no attempt counted.
    let mut app = App::new(BleApp::connect_to(&env.air, env.device_id(0), 247));
    app.handshake(&env.setup_code(0), env.device_id(0), None).unwrap();
    assert_eq!(app.recv_status(T).unwrap().state, PairState::SessionOpen);
    dev.wait_for_state(State::SessionOpen, T).unwrap();
    drop(app);
    let st = dev.wait_for_state(State::WindowOpen, T).unwrap();
    assert_eq!(st.failed_attempts, 0);
    // Gone in the middle of the handshake (a guess was possible): counted.
    let mut app = App::new(BleApp::connect_to(&env.air, env.device_id(0), 247));
    let mut buf = [0u8; 600];
    let n = app.session.start_with_setup_code(&env.setup_code(0), env.device_id(0), Mode::Ble, &mut buf).unwrap();
    common::AppLink::send(&mut app.link, &buf[..n]);
    common::AppLink::recv(&mut app.link, T).unwrap();
    drop(app);
    let st = dev.wait_for(T, |s| s.state == State::WindowOpen && s.failed_attempts == 1).unwrap();
    assert_eq!(st.last_error, Some(PairError::Disconnected));
    // A second app while one holds the session is told "busy".
    let mut a = App::new(BleApp::connect_to(&env.air, env.device_id(0), 247));
    a.handshake(&env.setup_code(0), env.device_id(0), None).unwrap();
    assert_eq!(a.recv_status(T).unwrap().state, PairState::SessionOpen);
    let hex = format!("{:016x}", env.device_id(0).0);
    let mut b = App::new(BleApp::connect(&env.air.ble_socket_path(&hex), 247));
    assert_eq!(b.handshake(&env.setup_code(0), env.device_id(0), None), Err(PairError::Busy));
    // The first app carries on and pairs.
    a.send_msg(&encode_msg(&AppToDevice::GetStatus));
    assert!(matches!(a.recv_msg(T).unwrap(), DeviceToApp::Status(s) if s.state == PairState::SessionOpen));
    a.send_msg(&provision(Some(wifi(HOME_SSID, HOME_PASS)), &env.token(), None));
    let seen = a.status_until(|s| s.state == PairState::Activated).unwrap();
    assert_eq!(seen.last().map(|s| s.state), Some(PairState::Activated));
    dev.stop();
    env.register_stored_secret(0);
    assert_no_secret_in_logs();
}

#[test]
fn cellular_without_sim_then_with_one_and_a_denied_registration_rolls_back() {
    let env = Env::start(1);
    let mut cfg = env.device_config(0, Modes::CELLULAR);
    cfg.modem.iccid = None;
    let dev = SimDevice::start(cfg).unwrap();
    let hex = env.batch.devices[0].entry.device_id.clone();
    // No SIM: the QR is shown (the user can bind), the modem reports why it cannot poll.
    let qr = wait_until(T, || env.air.cellular_qrs().into_iter().find(|q| q.device == hex && q.modem == "sim_missing"))
        .expect("QR with the modem error");
    assert_eq!(dev.wait_for(T, |s| s.modem_error.is_some()).unwrap().modem_error, Some(PairError::SimMissing));
    assert_eq!(dev.count_events(|e| *e == SimEvent::BindPoll), 0);
    // SIM inserted: attach, poll. Then the operator starts refusing registrations: the
    // bootstrap attachment stays, the data registration after the bind will be denied.
    dev.set_sim(Some("8944500102198304826".into()));
    dev.wait_for(T, |s| s.modem_attached).unwrap();
    dev.wait_for_event(T, |e| matches!(e, SimEvent::BindPending { .. })).unwrap();
    dev.set_cell_network(CellNetwork::Denies);
    env.rt.block_on(env.user.bind_payload(&qr.payload)).unwrap();
    dev.wait_for_event(T, |e| *e == SimEvent::Failed(PairError::RegistrationDenied)).unwrap();
    let st = dev.wait_for_state(State::WindowOpen, T).unwrap();
    assert_eq!(st.last_error, Some(PairError::RegistrationDenied));
    // The operator lets it in; the pending bind is picked up again by the next poll.
    dev.set_cell_network(CellNetwork::Registers);
    dev.wait_for_state(State::Activated, Duration::from_secs(30)).unwrap();
    assert!(env.device_view(0).is_some());
    dev.stop();
    env.register_stored_secret(0);
    assert_no_secret_in_logs();
}

#[test]
fn wired_without_link_reports_no_link() {
    let env = Env::start(1);
    let listener = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut cfg = env.device_config(0, Modes::WIRED);
    cfg.announce_to = listener.local_addr().unwrap();
    cfg.wired_link = zpair_sim::WiredLink::NoLink;
    let dev = SimDevice::start(cfg).unwrap();
    let ann = wait_announcement(&listener, env.device_id(0));
    let mut app = App::new(WiredApp::connect(ann.port));
    app.handshake(&env.setup_code(0), env.device_id(0), Some(&provision(None, &env.token(), None))).unwrap();
    let seen = app.status_until(|s| s.error.is_some()).unwrap();
    assert_eq!(seen.last().map(|s| (s.state, s.error)), Some((PairState::WindowOpen, Some(PairError::NoLink))));
    dev.wait_for_state(State::WindowOpen, T).unwrap();
    dev.stop();
    assert_no_secret_in_logs();
}

#[test]
fn a_cloud_certificate_the_device_does_not_trust_is_reported_as_such() {
    let env = Env::start(1);
    let other = env.dir.path().join("other-ca");
    let files = zpair_cloud::tls::ensure_certificates(&other, &[]).unwrap();
    let mut cfg = env.device_config(0, Modes::BLE);
    cfg.ca_pem = Some(std::fs::read(files.ca_cert).unwrap());
    let dev = SimDevice::start(cfg).unwrap();
    let seen = pair_ble(&env, &dev, HOME_PASS).unwrap();
    assert_eq!(seen.last().map(|s| (s.state, s.error)), Some((PairState::WindowOpen, Some(PairError::CloudCertificate))));
    assert!(dev.count_events(|e| *e == SimEvent::ActivationFailed(PairError::CloudCertificate)) >= 1);
    assert!(env.device_view(0).is_none());
    dev.stop();
    assert_no_secret_in_logs();
}
