//! One pairing per mode, end to end over loopback against the real cloud: the app side speaks
//! the session through the transport's framing, the device runs the real engine, and the
//! activation is checked in the cloud's database.

mod common;

use common::*;
use std::net::UdpSocket;
use zpair_core::machine::State;
use zpair_core::msg::PairState;
use zpair_core::types::{Mode, Modes};
use zpair_sim::{LinkStats, SimDevice, SimEvent};

fn assert_activated_in_cloud(env: &Env, i: usize, mode: &str) {
    let v = env.device_view(i).expect("the user owns the device");
    assert_eq!(format!("{:?}", v.status).to_lowercase(), "activated");
    assert_eq!(v.mode.as_deref(), Some(mode));
    assert!(v.cloud_device_id.is_some());
}

#[test]
fn softap_pairs_the_app_loses_the_ap_and_the_device_activates() {
    let env = Env::start(1);
    let dev = SimDevice::start(env.device_config(0, Modes::SOFTAP)).unwrap();
    let token = env.token();
    let mut app = App::new(SoftApApp::join(&env.air, env.device_id(0)));
    let first = provision(Some(wifi(HOME_SSID, HOME_PASS)), &token, Some(env.endpoint()));
    app.handshake(&env.setup_code(0), env.device_id(0), Some(&first)).unwrap();
    // "Joining network" arrives before the radio leaves; then the AP goes down under the app.
    let (seen, end) = app.status_until(|_| false).unwrap_err();
    assert_eq!(states(&seen), vec![(PairState::JoiningNetwork, None)]);
    assert_eq!(end, zpair_core::error::PairError::Disconnected);
    let st = dev.wait_for_state(State::Activated, T).unwrap();
    assert_eq!(st.paired_mode, Some(Mode::SoftAp));
    assert!(st.cloud_name.is_some());
    assert!(env.air.softaps().is_empty(), "the AP is gone once activated");
    assert_activated_in_cloud(&env, 0, "softap");
    // The AP went down while joining: the timeline shows it before the network came up.
    let tl = dev.timeline();
    let down = tl.iter().position(|e| e.event == SimEvent::SoftApDown).unwrap();
    let up = tl.iter().position(|e| matches!(e.event, SimEvent::NetworkUp { .. })).unwrap();
    assert!(down < up);
    dev.stop();
    env.register_stored_secret(0);
    assert_no_secret_in_logs();
}

fn ble_pairing(mtu: u16) -> (LinkStats, u64, u64) {
    let env = Env::start(1);
    let mut cfg = env.device_config(0, Modes::BLE);
    cfg.ble_max_mtu = mtu;
    let dev = SimDevice::start(cfg).unwrap();
    let token = env.token();
    let mut app = App::new(BleApp::connect_to(&env.air, env.device_id(0), 517));
    assert_eq!(app.link.mtu, mtu);
    let first = provision(Some(wifi(HOME_SSID, HOME_PASS)), &token, None);
    app.handshake(&env.setup_code(0), env.device_id(0), Some(&first)).unwrap();
    // BLE stays connected: the app follows the whole attempt.
    let seen = app.status_until(|s| s.state == PairState::Activated).unwrap();
    assert_eq!(
        states(&seen),
        vec![(PairState::JoiningNetwork, None), (PairState::Activating, None), (PairState::Activated, None)]
    );
    dev.wait_for_state(State::Activated, T).unwrap();
    assert_activated_in_cloud(&env, 0, "ble");
    assert!(env.air.ble_adverts().is_empty(), "advertising stops once activated");
    let link = dev.wait_for(T, |s| s.state == State::Activated).map(|_| dev.links()).unwrap();
    let stats = *link.iter().find(|l| l.mode == Mode::Ble).unwrap();
    let (tx, rx) = (app.link.att_bytes_tx, app.link.att_bytes_rx);
    dev.stop();
    env.register_stored_secret(0);
    assert_no_secret_in_logs();
    (stats, tx, rx)
}

#[test]
fn ble_pairs_at_mtu_247_and_the_counters_match_the_app() {
    let (s, app_tx, app_rx) = ble_pairing(247);
    assert_eq!(s.mtu, Some(247));
    assert_eq!(s.round_trips, 2, "connect to credentials accepted in two round trips");
    assert_eq!((s.bytes_rx, s.bytes_tx), (app_tx, app_rx));
    assert_eq!(s.frames_rx, s.packets_rx, "one fragment per packet at MTU 247");
    assert!(s.bytes_rx + s.bytes_tx < 400, "{s:?}");
    assert!(s.closed);
}

#[test]
fn ble_pairs_at_mtu_23() {
    let (s, app_tx, app_rx) = ble_pairing(23);
    assert_eq!(s.mtu, Some(23));
    assert_eq!(s.round_trips, 2);
    assert_eq!((s.bytes_rx, s.bytes_tx), (app_tx, app_rx));
    assert!(s.frames_rx > s.packets_rx, "fragmented at MTU 23");
}

#[test]
fn wired_pairs_via_announcements_and_answers_retransmissions_from_its_cache() {
    let env = Env::start(1);
    let listener = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut cfg = env.device_config(0, Modes::WIRED);
    cfg.announce_to = listener.local_addr().unwrap();
    let dev = SimDevice::start(cfg).unwrap();
    let ann = wait_announcement(&listener, env.device_id(0));
    assert_eq!(ann.state, PairState::WindowOpen);
    assert_eq!(Some(ann.port), dev.status().wired.map(|a| a.port()));

    let token = env.token();
    let mut app = App::new(WiredApp::connect(ann.port));
    // Flight 1 by hand, then the same datagram again: the device answers both times with the
    // same PairResponse and processes the request once.
    let mut buf = [0u8; 600];
    let n = app.session.start_with_setup_code(&env.setup_code(0), env.device_id(0), Mode::Wired, &mut buf).unwrap();
    app.link.send(&buf[..n]);
    let r1 = app.link.recv_raw(T).unwrap();
    app.link.retransmit();
    let r2 = app.link.recv_raw(T).unwrap();
    assert_eq!(r1, r2, "a retransmission gets the cached reply");
    let first = provision(None, &token, Some(env.endpoint()));
    let n = app.session.handle_pair_response(&r1, Some(&first), &mut buf).unwrap();
    app.link.send(&buf[..n]);
    let seen = app.status_until(|s| s.state == PairState::Activated).unwrap();
    assert_eq!(seen.last().unwrap().state, PairState::Activated);
    dev.wait_for_state(State::Activated, T).unwrap();
    assert_activated_in_cloud(&env, 0, "wired");
    let links = dev.links();
    let l = links.iter().find(|l| l.mode == Mode::Wired).unwrap();
    assert!(l.retransmissions >= 1);
    assert_eq!(dev.status().failed_attempts, 0);
    assert_eq!(dev.count_events(|e| matches!(e, SimEvent::AppConnected { .. })), 1, "one peer, one connection");
    dev.stop();
    env.register_stored_secret(0);
    assert_no_secret_in_logs();
}

#[test]
fn cellular_shows_its_qr_is_bound_in_the_cloud_and_activates() {
    let env = Env::start(1);
    let dev = SimDevice::start(env.device_config(0, Modes::CELLULAR)).unwrap();
    let hex = &env.batch.devices[0].entry.device_id;
    let qr = wait_until(T, || env.air.cellular_qrs().into_iter().find(|q| &q.device == hex && q.modem == "attached"))
        .expect("QR shown");
    assert_eq!(Some(&qr.payload), env.batch.devices[0].entry.setup_payload.as_ref());
    assert!(zpair_sim::qr_text(&qr.payload).unwrap().lines().count() > 10);
    // The user scans the QR code: the cloud binds; the device learns it from its next poll.
    env.rt.block_on(env.user.bind_payload(&qr.payload)).unwrap();
    let st = dev.wait_for_state(State::Activated, T).unwrap();
    assert_eq!(st.paired_mode, Some(Mode::Cellular));
    assert!(dev.count_events(|e| *e == SimEvent::BindReceived) == 1);
    assert!(env.air.cellular_qrs().is_empty(), "the QR code is hidden once activated");
    assert_activated_in_cloud(&env, 0, "cellular");
    dev.stop();
    env.register_stored_secret(0);
    assert_no_secret_in_logs();
}

#[test]
fn an_activated_device_restarts_activated_and_reconnects() {
    let env = Env::start(1);
    let dev = SimDevice::start(env.device_config(0, Modes::BLE)).unwrap();
    let token = env.token();
    let mut app = App::new(BleApp::connect_to(&env.air, env.device_id(0), 247));
    let first = provision(Some(wifi(HOME_SSID, HOME_PASS)), &token, None);
    app.handshake(&env.setup_code(0), env.device_id(0), Some(&first)).unwrap();
    dev.wait_for_state(State::Activated, T).unwrap();
    dev.stop();
    let dev = SimDevice::start(env.device_config(0, Modes::BLE)).unwrap();
    let st = dev.wait_for(T, |s| matches!(s.network, zpair_sim::NetState::Up(_))).unwrap();
    assert_eq!(st.state, State::Activated);
    assert!(dev.count_events(|e| matches!(e, SimEvent::Reconnecting { mode: Mode::Ble })) == 1);
    assert!(env.air.ble_adverts().is_empty());
    dev.stop();
    assert_no_secret_in_logs();
}

#[test]
fn two_devices_share_the_air_and_a_subscriber_sees_the_whole_pairing() {
    let env = Env::start(2);
    let a = SimDevice::start(env.device_config(0, Modes::SOFTAP.union(Modes::BLE))).unwrap();
    let b = SimDevice::start(env.device_config(1, Modes::BLE)).unwrap();
    let events = b.subscribe();
    let hex_b = format!("{:016x}", env.device_id(1).0);
    wait_until(T, || (env.air.ble_adverts().len() == 2).then_some(())).expect("both advertise");
    assert_eq!(env.air.softaps().len(), 1);
    // Pair B over BLE while A keeps advertising.
    let token = env.token();
    let mut app = App::new(BleApp::connect_to(&env.air, env.device_id(1), 185));
    assert_eq!(app.link.mtu, 185);
    let first = provision(Some(wifi(HOME_SSID, HOME_PASS)), &token, None);
    app.handshake(&env.setup_code(1), env.device_id(1), Some(&first)).unwrap();
    b.wait_for_state(State::Activated, T).unwrap();
    assert_eq!(a.state(), State::WindowOpen);
    assert!(env.air.ble_adverts().iter().all(|ad| ad.device != hex_b));
    let seen: Vec<SimEvent> = events.try_iter().map(|e| e.event).collect();
    let pos = |f: &dyn Fn(&SimEvent) -> bool| seen.iter().position(f).unwrap_or_else(|| panic!("{seen:?}"));
    let connected = pos(&|e| matches!(e, SimEvent::AppConnected { mode: Mode::Ble, .. }));
    let mtu = pos(&|e| matches!(e, SimEvent::MtuExchanged { mtu: 185, .. }));
    let join = pos(&|e| matches!(e, SimEvent::JoinStarted { ssid: Some(s), .. } if s == HOME_SSID));
    let up = pos(&|e| matches!(e, SimEvent::NetworkUp { .. }));
    let activated = pos(&|e| matches!(e, SimEvent::Activated { .. }));
    let persisted = pos(&|e| matches!(e, SimEvent::Persisted { reason: zpair_core::machine::PersistReason::Commit, .. }));
    let done = pos(&|e| matches!(e, SimEvent::Done { mode: Mode::Ble }));
    assert!(connected < mtu && mtu < join && join < up && up < activated && activated < persisted && persisted < done);
    // Then A, over its SoftAP, with the other user-facing path (the app picks the AP by SSID).
    let mut app = App::new(SoftApApp::join(&env.air, env.device_id(0)));
    let first = provision(Some(wifi(HOME_SSID, HOME_PASS)), &env.token(), None);
    app.handshake(&env.setup_code(0), env.device_id(0), Some(&first)).unwrap();
    a.wait_for_state(State::Activated, T).unwrap();
    assert_eq!(env.devices().len(), 2);
    a.stop();
    b.stop();
    env.register_stored_secret(0);
    env.register_stored_secret(1);
    assert_no_secret_in_logs();
}
