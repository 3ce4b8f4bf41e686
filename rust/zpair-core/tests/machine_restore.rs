//! Power cuts: the machine is dropped after every step of every scenario (and the flash dies at
//! every byte of the commit), then the device reboots from what storage holds. It must come
//! back in its previous working state unless the commit completed, and then in the new one.

mod machine_support;

use machine_support::*;
use zpair_core::error::PairError;
use zpair_core::machine::*;
use zpair_core::storage::{encode_record, RamFlash, Store, TornWrite, RECORD_MAX};
use zpair_core::types::*;

type StepFn = Box<dyn Fn(&mut Dev)>;

struct Step {
    name: &'static str,
    /// This step performs the commit.
    commit: bool,
    run: StepFn,
}

fn step(name: &'static str, run: impl Fn(&mut Dev) + 'static) -> Step {
    Step { name, commit: false, run: Box::new(run) }
}

fn commit_step(name: &'static str, run: impl Fn(&mut Dev) + 'static) -> Step {
    Step { name, commit: true, run: Box::new(run) }
}

fn old_state() -> PersistedState {
    activated(Mode::SoftAp, Some(wifi("old-net", "oldpassword")), "dev-old")
}

fn new_wifi(mode: Mode) -> Option<WifiCredentials> {
    mode.needs_wifi().then(|| wifi("new-net", "newpassword"))
}

fn new_state(mode: Mode) -> PersistedState {
    PersistedState {
        mode: Some(mode),
        wifi: new_wifi(mode),
        operational: Some(op_creds("dev-new", 0x33)),
        activated: true,
        failed_attempts: 0,
    }
}

fn app_steps(mode: Mode, prior_activated: bool) -> Vec<Step> {
    let mut v = vec![];
    if prior_activated {
        v.push(step("open window", |d| {
            d.ev(Event::OpenWindow { modes: Modes::ALL });
        }));
    }
    v.push(step("app connected", move |d| {
        d.ev(Event::AppConnected { conn: ConnId(1), mode });
    }));
    v.push(step("handshake started", |d| {
        d.ev(Event::HandshakeStarted { conn: ConnId(1) });
    }));
    v.push(step("handshake ok", |d| {
        d.ev(Event::HandshakeOk { conn: ConnId(1) });
    }));
    v.push(step("credentials", move |d| {
        d.send_creds(1, staged(mode, new_wifi(mode), "tok-12345"));
    }));
    v.push(step("network up", |d| {
        d.ev(Event::NetworkUp { ip: IP });
    }));
    v.push(commit_step("activation ok + commit", |d| {
        d.ev(Event::ActivationResult(Ok(op_creds("dev-new", 0x33))));
    }));
    v
}

fn cellular_steps(prior_activated: bool) -> Vec<Step> {
    let mut v = vec![];
    if prior_activated {
        v.push(step("open window", |d| {
            d.ev(Event::OpenWindow { modes: Modes::CELLULAR });
        }));
    }
    v.push(step("bind", |d| {
        d.ev(Event::BindReceived { token: token("cell-token-1"), endpoint: None });
    }));
    v.push(step("network up", |d| {
        d.ev(Event::NetworkUp { ip: IP });
    }));
    v.push(commit_step("activation ok + commit", |d| {
        d.ev(Event::ActivationResult(Ok(op_creds("dev-new", 0x33))));
    }));
    v
}

/// A bumpy path: wrong code, wrong password, transient cloud errors, then success.
fn bumpy_steps(prior_activated: bool) -> Vec<Step> {
    let mode = Mode::Ble;
    let mut v = vec![];
    if prior_activated {
        v.push(step("open window", |d| {
            d.ev(Event::OpenWindow { modes: Modes::ALL });
        }));
    }
    v.push(step("wrong code", |d| {
        d.ev(Event::AppConnected { conn: ConnId(7), mode: Mode::Ble });
        d.ev(Event::HandshakeStarted { conn: ConnId(7) });
        d.ev(Event::HandshakeFailed { conn: ConnId(7), error: PairError::WrongSetupCode });
    }));
    v.push(step("session", |d| {
        d.connect_app(1, Mode::Ble);
    }));
    v.push(step("credentials", move |d| {
        d.send_creds(1, staged(mode, Some(wifi("new-net", "wrongpassword")), "tok-12345"));
    }));
    v.push(step("wrong password", |d| {
        d.ev(Event::NetworkFailed { error: PairError::WrongPassword });
    }));
    v.push(step("session again", |d| {
        d.connect_app(2, Mode::Ble);
    }));
    v.push(step("credentials again", move |d| {
        d.send_creds(2, staged(mode, new_wifi(mode), "tok-12345"));
    }));
    v.push(step("network up", |d| {
        d.ev(Event::NetworkUp { ip: IP });
    }));
    v.push(step("cloud unreachable", |d| {
        d.ev(Event::ActivationResult(Err(PairError::CloudUnreachable)));
    }));
    v.push(step("retry", |d| {
        d.fire_next();
    }));
    v.push(commit_step("activation ok + commit", |d| {
        d.ev(Event::ActivationResult(Ok(op_creds("dev-new", 0x33))));
    }));
    v
}

fn start(prior_activated: bool) -> Dev {
    if prior_activated {
        Dev::with_state(&old_state())
    } else {
        Dev::fresh()
    }
}

/// Checks a rebooted device against what it must have come back as.
fn check_restored(dev: &Dev, expected: Option<&PersistedState>, ctx: &str) {
    assert!(!dev.m.has_staged(), "{ctx}: nothing staged survives");
    assert_eq!(dev.m.session(), None, "{ctx}");
    match expected {
        Some(st) if st.can_reconnect() => {
            assert_eq!(dev.m.state(), State::Activated, "{ctx}");
            assert_eq!(dev.log, vec![Act::Reconnect(st.mode.unwrap(), st.wifi.clone())], "{ctx}");
            assert!(dev.m.persisted().same_pairing(st), "{ctx}");
        }
        _ => {
            assert_eq!(dev.m.state(), State::WindowOpen, "{ctx}: the window reopens");
            assert_eq!(dev.log, vec![Act::StartWindow(Modes::ALL)], "{ctx}");
            assert!(!dev.m.persisted().is_activated(), "{ctx}");
        }
    }
}

fn cut_after_every_step(steps_of: impl Fn(bool) -> Vec<Step>, new: PersistedState, label: &str) {
    for prior in [false, true] {
        let prior_state = prior.then(old_state);
        let steps = steps_of(prior);
        let commit_at = steps.iter().position(|s| s.commit).unwrap();
        for k in 0..=steps.len() {
            let mut dev = start(prior);
            for s in &steps[..k] {
                (s.run)(&mut dev);
            }
            let last = if k == 0 { "boot" } else { steps[k - 1].name };
            let ctx = format!("{label}, prior activated {prior}, cut after '{last}'");
            let committed = k > commit_at;
            if committed {
                assert_eq!(dev.m.state(), State::Activated, "{ctx}");
            }
            let dev = dev.reboot(1_000_000);
            let stored = dev.stored();
            let expected = if committed { Some(&new) } else { prior_state.as_ref() };
            match (&stored, expected) {
                (Some(s), Some(e)) => assert!(s.same_pairing(e), "{ctx}: stored {s:?}"),
                (Some(s), None) => assert!(
                    s.same_pairing(&PersistedState::default()),
                    "{ctx}: only counters before activation, got {s:?}"
                ),
                (None, e) => assert!(e.is_none(), "{ctx}: state lost"),
            }
            check_restored(&dev, expected, &ctx);
        }
    }
}

#[test]
fn a_cut_after_any_step_of_any_mode_restores_the_old_or_the_new_state() {
    for mode in [Mode::SoftAp, Mode::Ble, Mode::Wired] {
        cut_after_every_step(|p| app_steps(mode, p), new_state(mode), mode.name());
    }
    cut_after_every_step(cellular_steps, new_state(Mode::Cellular), "cellular");
    cut_after_every_step(bumpy_steps, new_state(Mode::Ble), "bumpy");
}

#[test]
fn a_cut_at_every_byte_of_the_commit_restores_the_old_or_the_new_state() {
    let mut buf = [0u8; RECORD_MAX];
    for mode in [Mode::SoftAp, Mode::Wired] {
        let new = new_state(mode);
        let len = encode_record(&new, 1, &mut buf).unwrap();
        for prior in [false, true] {
            for torn in [TornWrite::ErasedTail, TornWrite::GarbageTail(3), TornWrite::StaleTail, TornWrite::Truncated] {
                for cut in 0..=len {
                    let steps = app_steps(mode, prior);
                    let mut dev = start(prior);
                    for s in &steps {
                        if s.commit {
                            dev.store.storage_mut().set_torn_write(torn);
                            dev.store.storage_mut().cut_power_after(cut);
                        }
                        (s.run)(&mut dev);
                    }
                    let ctx = format!("{mode:?} prior {prior} {torn:?} cut at byte {cut}/{len}");
                    let complete = cut >= len;
                    let dev = dev.reboot(5);
                    let expected = if complete { Some(new.clone()) } else { prior.then(old_state) };
                    let stored = dev.stored();
                    match (&stored, &expected) {
                        (Some(s), Some(e)) => assert!(s.same_pairing(e), "{ctx}"),
                        (None, None) => {}
                        (s, e) => panic!("{ctx}: stored {s:?}, expected {e:?}"),
                    }
                    check_restored(&dev, expected.as_ref(), &ctx);
                }
            }
        }
    }
}

#[test]
fn restore_handles_every_kind_of_stored_state() {
    // nothing: a fresh device opens its window
    let mut m = Machine::restore(cfg(), None, 7);
    assert_eq!(m.state(), State::WindowOpen);
    assert_eq!(m.next_deadline(), Some(10_007));
    assert!(matches!(m.poll_action(7), Some(Action::StartWindow(Modes::ALL))));
    // activated wired: reconnect, no window
    let mut m = Machine::restore(cfg(), Some(activated(Mode::Wired, None, "d")), 0);
    assert_eq!(m.state(), State::Activated);
    assert!(matches!(m.poll_action(0), Some(Action::ReconnectPrevious { mode: Mode::Wired, wifi: None })));
    assert!(m.poll_action(0).is_none());
    // activated but the Wi-Fi was reset: window
    let m = Machine::restore(cfg(), Some(activated(Mode::Ble, None, "d")), 0);
    assert_eq!(m.state(), State::WindowOpen);
    assert!(m.persisted().is_activated());
    // counters only, below the limit
    let m = Machine::restore(cfg(), Some(PersistedState { failed_attempts: 2, ..Default::default() }), 0);
    assert_eq!((m.state(), m.failed_attempts(), m.locked_until()), (State::WindowOpen, 2, None));
    // an inconsistent state (activated without credentials) is ignored but its counter kept
    let bad = PersistedState { activated: true, failed_attempts: 200, ..Default::default() };
    let m = Machine::restore(cfg(), Some(bad), 0);
    assert_eq!(m.state(), State::WindowOpen);
    assert!(!m.persisted().is_activated());
    assert_eq!(m.locked_until(), Some(5_000));
}

#[test]
fn corrupt_storage_boots_as_a_fresh_device_and_reports_it() {
    let mut flash = RamFlash::new();
    flash.set_slot(zpair_core::storage::Slot::A, Some(&[0xAA; 50])).unwrap();
    flash.set_slot(zpair_core::storage::Slot::B, Some(&[0x00; 10])).unwrap();
    let mut store = Store::new(flash);
    let loaded = store.load();
    assert!(loaded.is_corrupt());
    let dev = Dev::boot(store.into_inner(), 0);
    check_restored(&dev, None, "corrupt");
}
