//! Each mode end to end with the simulated device over loopback: discover, token, pair,
//! activated — and the cloud's database agrees.

mod common;

use common::{Options, World};
use std::time::Duration;
use zpair_cli::commission::ConfirmedBy;
use zpair_cli::events::{Event, Recorder, Step};
use zpair_cli::run;
use zpair_core::machine::State;
use zpair_core::types::Mode;

fn done(rec: &Recorder) -> Vec<Step> {
    rec.events.iter().filter_map(|(_, e)| if let Event::StepDone { step, .. } = e { Some(*step) } else { None }).collect()
}

#[test]
fn softap_pairs_and_the_cloud_confirms_after_the_ap_went_down() {
    let w = World::new(Options { devices: 1, ..Default::default() });
    let dev = w.start_device(0, Mode::SoftAp, |_| {});
    let mut rec = Recorder::default();
    let out = run::pair(&w.job(0, Mode::SoftAp), &w.air(), None, &w.client(), &mut rec).unwrap();
    assert_eq!((out.device, out.mode), (w.device_id(0), Mode::SoftAp));
    // One radio: the AP (and the session on it) went away when the device joined the router.
    assert_eq!(out.confirmed_by, ConfirmedBy::Cloud);
    assert!(out.cloud_device_id.is_some());
    assert_eq!(
        done(&rec),
        vec![Step::Discover, Step::Token, Step::Connect, Step::Handshake, Step::Credentials, Step::Joining, Step::Activating]
    );
    w.assert_activated(0, Mode::SoftAp);
    dev.wait_for_state(State::Activated, Duration::from_secs(10)).unwrap();
}

#[test]
fn softap_with_two_radios_keeps_the_session_to_the_end() {
    let w = World::new(Options { devices: 1, ..Default::default() });
    let _dev = w.start_device(0, Mode::SoftAp, |c| c.single_radio = false);
    let out = run::pair(&w.job(0, Mode::SoftAp), &w.air(), None, &w.client(), &mut Recorder::default()).unwrap();
    assert_eq!(out.confirmed_by, ConfirmedBy::Device);
    w.assert_activated(0, Mode::SoftAp);
}

#[test]
fn ble_pairs_at_the_default_and_the_smallest_mtu() {
    let w = World::new(Options { devices: 2, ..Default::default() });
    let _a = w.start_device(0, Mode::Ble, |_| {});
    let _b = w.start_device(1, Mode::Ble, |_| {});
    let out = run::pair(&w.job(0, Mode::Ble), &w.air(), None, &w.client(), &mut Recorder::default()).unwrap();
    assert_eq!(out.confirmed_by, ConfirmedBy::Device);
    let mut job = w.job(1, Mode::Ble);
    job.connect.mtu = 23;
    let mut rec = Recorder::default();
    run::pair(&job, &w.air(), None, &w.client(), &mut rec).unwrap();
    assert!(rec.events.iter().any(|(_, e)| matches!(e, Event::StepDone { step: Step::Connect, detail } if detail == "ATT MTU 23")));
    w.assert_activated(0, Mode::Ble);
    w.assert_activated(1, Mode::Ble);
}

#[test]
fn wired_pairs_from_an_announcement_with_the_manual_code() {
    let w = World::new(Options { devices: 1, ..Default::default() });
    let _dev = w.start_device(0, Mode::Wired, |_| {});
    let p = zpair_core::payload::parse(&w.payload(0)).unwrap();
    let mut b = [0u8; 32];
    let manual = zpair_core::payload::render_manual(&p.manual_code(), &mut b).unwrap();
    let mut job = w.job(0, Mode::Wired);
    job.source = zpair_cli::setup::SetupSource::from_args(None, Some(manual), None).unwrap();
    let out = run::pair(&job, &w.air(), Some(&w.listener), &w.client(), &mut Recorder::default()).unwrap();
    assert_eq!((out.device, out.confirmed_by), (w.device_id(0), ConfirmedBy::Device));
    w.assert_activated(0, Mode::Wired);
}

#[test]
fn cellular_binds_the_qr_code_and_the_device_activates() {
    let w = World::new(Options { devices: 1, ..Default::default() });
    let dev = w.start_device(0, Mode::Cellular, |_| {});
    // The phone "scans" the QR code the device shows.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let qr = loop {
        if let Some(q) = w.air().cellular().into_iter().next() {
            break q;
        }
        assert!(std::time::Instant::now() < deadline, "no QR code shown");
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = run::bind_qr(&qr.payload, &w.client(), Duration::from_secs(30), &mut Recorder::default()).unwrap();
    assert_eq!(out.device, w.device_id(0));
    w.assert_activated(0, Mode::Cellular);
    dev.wait_for_state(State::Activated, Duration::from_secs(10)).unwrap();
}

#[test]
fn the_scan_goes_through_the_device() {
    let w = World::new(Options { devices: 1, ..Default::default() });
    w.sim_air
        .set_access_points(&[
            zpair_sim::AccessPoint::wpa2(common::SSID, common::PASSWORD),
            zpair_sim::AccessPoint::open("Cafe"),
            zpair_sim::AccessPoint { hidden: true, ..zpair_sim::AccessPoint::wpa2("Hidden", "password-1") },
        ])
        .unwrap();
    let _dev = w.start_device(0, Mode::Ble, |_| {});
    let (device, nets) = run::scan(&w.job(0, Mode::Ble), &w.air(), None, &mut Recorder::default()).unwrap();
    assert_eq!(device, w.device_id(0));
    let names: Vec<String> = nets.iter().map(|n| String::from_utf8_lossy(n.ssid.as_bytes()).into_owned()).collect();
    assert!(names.contains(&common::SSID.to_owned()) && names.contains(&"Cafe".to_owned()), "{names:?}");
    assert!(!names.contains(&"Hidden".to_owned()));
    // The scan session ended cleanly: pairing right after works.
    run::pair(&w.job(0, Mode::Ble), &w.air(), None, &w.client(), &mut Recorder::default()).unwrap();
    w.assert_activated(0, Mode::Ble);
}
