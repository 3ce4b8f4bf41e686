//! The failure matrix from the app's side, against the simulated device and the real cloud:
//! every failure is named precisely, the device's window stays open (no reboot), and a retry
//! with the right input succeeds.

mod common;

use common::{Options, World, PASSWORD, SSID};
use std::time::Duration;
use zpair_cli::commission::{self, Target, Timeouts};
use zpair_cli::events::{Event, Recorder};
use zpair_cli::link::{BleLink, Link};
use zpair_cli::run;
use zpair_core::machine::{ResetKind, State};
use zpair_core::types::{Mode, SetupCode};
use zpair_sim::{AccessPoint, Dhcp, SimEvent};

fn boots(dev: &zpair_sim::SimHandle) -> usize {
    dev.count_events(|e| matches!(e, SimEvent::Booted { .. }))
}

fn with_wifi(w: &World, i: usize, mode: Mode, ssid: &str, pass: &str) -> run::PairJob {
    let mut job = w.job(i, mode);
    job.wifi = Some(zpair_cli::wifi::credentials(ssid, Some(pass), None, false).unwrap());
    job
}

#[test]
fn wrong_wifi_password_over_ble_is_reported_and_a_retry_succeeds_without_reboot() {
    let w = World::new(Options { devices: 1, ..Default::default() });
    let dev = w.start_device(0, Mode::Ble, |_| {});
    let e = run::pair(&with_wifi(&w, 0, Mode::Ble, SSID, "not-the-password"), &w.air(), None, &w.client(), &mut Recorder::default())
        .unwrap_err();
    assert_eq!((e.error.as_str(), e.exit_code()), ("wrong_password", 5));
    assert!(e.hint.contains("ready to try again"));
    dev.wait_for_state(State::WindowOpen, Duration::from_secs(5)).unwrap();
    run::pair(&w.job(0, Mode::Ble), &w.air(), None, &w.client(), &mut Recorder::default()).unwrap();
    w.assert_activated(0, Mode::Ble);
    assert_eq!(boots(&dev), 1, "no reboot");
}

#[test]
fn wrong_wifi_password_over_softap_is_learned_after_the_ap_comes_back() {
    let w = World::new(Options { devices: 1, ..Default::default() });
    let dev = w.start_device(0, Mode::SoftAp, |_| {});
    let mut rec = Recorder::default();
    let e = run::pair(&with_wifi(&w, 0, Mode::SoftAp, SSID, "not-the-password"), &w.air(), None, &w.client(), &mut rec).unwrap_err();
    assert_eq!((e.error.as_str(), e.exit_code()), ("wrong_password", 5), "{e}");
    assert!(e.message.contains("reopened pairing"), "{}", e.message);
    run::pair(&w.job(0, Mode::SoftAp), &w.air(), None, &w.client(), &mut Recorder::default()).unwrap();
    w.assert_activated(0, Mode::SoftAp);
    assert_eq!(boots(&dev), 1);
}

#[test]
fn ap_not_found_and_dhcp_timeout_are_named() {
    let w = World::new(Options { devices: 1, ..Default::default() });
    w.sim_air
        .set_access_points(&[AccessPoint { dhcp: Dhcp::Timeout, ..AccessPoint::wpa2("NoDhcp", PASSWORD) }, AccessPoint::wpa2(SSID, PASSWORD)])
        .unwrap();
    let _dev = w.start_device(0, Mode::Ble, |c| c.dhcp_timeout_ms = 300);
    let e = run::pair(&with_wifi(&w, 0, Mode::Ble, "Elsewhere", PASSWORD), &w.air(), None, &w.client(), &mut Recorder::default()).unwrap_err();
    assert_eq!((e.error.as_str(), e.exit_code()), ("ap_not_found", 5));
    let e = run::pair(&with_wifi(&w, 0, Mode::Ble, "NoDhcp", PASSWORD), &w.air(), None, &w.client(), &mut Recorder::default()).unwrap_err();
    assert_eq!((e.error.as_str(), e.exit_code()), ("dhcp_timeout", 5));
    run::pair(&w.job(0, Mode::Ble), &w.air(), None, &w.client(), &mut Recorder::default()).unwrap();
}

#[test]
fn wrong_setup_code_fails_cleanly_and_locks_out_after_max_attempts() {
    let w = World::new(Options { devices: 1, ..Default::default() });
    let dev = w.start_device(0, Mode::Wired, |c| {
        c.machine.max_attempts = 3;
        c.machine.lockout_ms = 60_000;
    });
    let right = w.setup_code(0).parse::<u32>().unwrap();
    let wrong = if right == 20_202_021 { 20_202_022 } else { 20_202_021 };
    for n in 1..=3u8 {
        let mut job = w.job(0, Mode::Wired);
        job.source = zpair_cli::setup::SetupSource::code(&wrong.to_string()).unwrap();
        job.device = Some(w.device_id(0));
        let e = run::pair(&job, &w.air(), Some(&w.listener), &w.client(), &mut Recorder::default()).unwrap_err();
        assert_eq!((e.error.as_str(), e.exit_code()), ("wrong_setup_code", 4), "attempt {n}");
        dev.wait_for(Duration::from_secs(5), |s| s.failed_attempts == n || s.locked_out).unwrap();
    }
    let e = run::pair(&w.job(0, Mode::Wired), &w.air(), Some(&w.listener), &w.client(), &mut Recorder::default()).unwrap_err();
    assert_eq!((e.error.as_str(), e.exit_code()), ("locked_out", 4), "{e}");
    assert!(dev.status().locked_out);
}

#[test]
fn an_expired_token_is_refused_by_the_cloud_and_reported() {
    let w = World::new(Options { devices: 1, manual_clock: true });
    let _dev = w.start_device(0, Mode::Ble, |_| {});
    let cloud = w.client();
    let token = cloud.request_token(None).unwrap();
    w.secrets.add(String::from_utf8_lossy(token.token.expose()).into_owned());
    w.clock.as_ref().unwrap().advance_s(601);
    let e = run::pair_with_token(&w.job(0, Mode::Ble), &w.air(), None, &cloud, Some(token), &mut Recorder::default()).unwrap_err();
    assert_eq!((e.error.as_str(), e.exit_code()), ("token_expired", 6));
    // A fresh token works: the window stayed open.
    run::pair(&w.job(0, Mode::Ble), &w.air(), None, &cloud, &mut Recorder::default()).unwrap();
    w.assert_activated(0, Mode::Ble);
}

#[test]
fn a_reused_token_is_refused() {
    let w = World::new(Options { devices: 2, ..Default::default() });
    let _a = w.start_device(0, Mode::Wired, |_| {});
    let _b = w.start_device(1, Mode::Wired, |_| {});
    let cloud = w.client();
    let token = cloud.request_token(None).unwrap();
    let again = zpair_cli::cloud::Token { token: token.token.clone(), token_id: token.token_id.clone(), expires_in_s: 600 };
    w.secrets.add(String::from_utf8_lossy(token.token.expose()).into_owned());
    run::pair_with_token(&w.job(0, Mode::Wired), &w.air(), Some(&w.listener), &cloud, Some(token), &mut Recorder::default()).unwrap();
    let e = run::pair_with_token(&w.job(1, Mode::Wired), &w.air(), Some(&w.listener), &cloud, Some(again), &mut Recorder::default())
        .unwrap_err();
    assert_eq!((e.error.as_str(), e.exit_code()), ("token_used", 6));
}

#[test]
fn a_device_owned_by_another_user_refuses_their_token() {
    let w = World::new(Options { devices: 1, ..Default::default() });
    let dev = w.start_device(0, Mode::Ble, |_| {});
    run::pair(&w.job(0, Mode::Ble), &w.air(), None, &w.client(), &mut Recorder::default()).unwrap();
    // Someone else resets the device and tries to take it over.
    dev.reset(ResetKind::Factory);
    dev.wait_for_state(State::WindowOpen, Duration::from_secs(5)).unwrap();
    let other = w.other_user();
    let e = run::pair(&w.job(0, Mode::Ble), &w.air(), None, &other, &mut Recorder::default()).unwrap_err();
    assert_eq!((e.error.as_str(), e.exit_code()), ("token_mismatch", 6));
    w.assert_activated(0, Mode::Ble); // still the first user's
    // A cellular bind by the other user is refused by the cloud directly.
    let e = run::bind_qr(&w.payload(0), &other, Duration::from_secs(5), &mut Recorder::default()).unwrap_err();
    assert_eq!((e.error.as_str(), e.exit_code()), ("token_mismatch", 6));
}

#[test]
fn the_cloud_down_then_back_is_retried_with_backoff_until_activated() {
    let w = World::new(Options { devices: 1, ..Default::default() });
    let dev = w.start_device(0, Mode::Wired, |c| c.cloud_timeout_ms = 1000);
    let cloud = w.client();
    let token = cloud.request_token(None).unwrap();
    w.secrets.add(String::from_utf8_lossy(token.token.expose()).into_owned());
    let job = w.job(0, Mode::Wired);
    w.stop_cloud();
    let air = w.air();
    let (r, rec) = std::thread::scope(|s| {
        let pairing = s.spawn(|| {
            let mut rec = Recorder::default();
            let r = run::pair_with_token(&job, &air, Some(&w.listener), &cloud, Some(token), &mut rec);
            (r, rec)
        });
        dev.wait_for_event(Duration::from_secs(20), |e| {
            matches!(e, SimEvent::RetryScheduled { attempt, .. } if *attempt >= 3)
        })
        .unwrap();
        w.restart_cloud();
        pairing.join().unwrap()
    });
    let out = r.unwrap();
    assert_eq!(out.device, w.device_id(0));
    assert!(rec.events.iter().any(|(_, e)| matches!(e, Event::Status { error: Some("cloud_unreachable"), .. })));
    w.assert_activated(0, Mode::Wired);
}

#[test]
fn an_app_that_disconnects_mid_session_leaves_the_device_ready() {
    let w = World::new(Options { devices: 1, ..Default::default() });
    let dev = w.start_device(0, Mode::Ble, |_| {});
    let socket = dev.wait_for(Duration::from_secs(5), |s| s.ble_socket.is_some()).unwrap().ble_socket.unwrap();
    {
        let mut link = BleLink::connect(&socket, 247, Duration::from_secs(5)).unwrap();
        let mut app = zpair_core::session::AppSession::new(commission::AppCrypto::default());
        let mut buf = [0u8; 128];
        let code = SetupCode::new(w.setup_code(0).parse().unwrap()).unwrap();
        let n = app.start_with_setup_code(&code, w.device_id(0), Mode::Ble, &mut buf).unwrap();
        link.request(&buf[..n], Duration::from_secs(5)).unwrap();
        // ... and the app is gone.
    }
    dev.wait_for_state(State::WindowOpen, Duration::from_secs(5)).unwrap();
    // Established, then gone before the credentials.
    {
        let f = zpair_cli::discover::find(Mode::Ble, &w.air(), None, &Default::default(), Duration::from_secs(5)).unwrap();
        let mut link = zpair_cli::discover::connect(&f[0], &Default::default()).unwrap();
        let t = Target { device: w.device_id(0), product: None, code: SetupCode::new(w.setup_code(0).parse().unwrap()).unwrap() };
        commission::Session::open(link.as_mut(), &t, None, &Timeouts::default(), &mut Recorder::default()).unwrap();
    }
    dev.wait_for_state(State::WindowOpen, Duration::from_secs(5)).unwrap();
    run::pair(&w.job(0, Mode::Ble), &w.air(), None, &w.client(), &mut Recorder::default()).unwrap();
    w.assert_activated(0, Mode::Ble);
}

#[test]
fn a_second_app_is_told_the_device_is_busy() {
    let w = World::new(Options { devices: 1, ..Default::default() });
    let dev = w.start_device(0, Mode::Ble, |_| {});
    let socket = dev.wait_for(Duration::from_secs(5), |s| s.ble_socket.is_some()).unwrap().ble_socket.unwrap();
    let mut first = BleLink::connect(&socket, 247, Duration::from_secs(5)).unwrap();
    let t = Target { device: w.device_id(0), product: None, code: SetupCode::new(w.setup_code(0).parse().unwrap()).unwrap() };
    let (_s, _) = commission::Session::open(&mut first, &t, None, &Timeouts::default(), &mut Recorder::default()).unwrap();
    let e = run::pair(&w.job(0, Mode::Ble), &w.air(), None, &w.client(), &mut Recorder::default()).unwrap_err();
    assert_eq!((e.error.as_str(), e.exit_code()), ("busy", 10), "{e}");
}
