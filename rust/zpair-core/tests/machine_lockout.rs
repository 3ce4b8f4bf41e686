//! Failed handshakes are counted, persisted, lock the window after `max_attempts` (3 in the
//! test config) for `lockout_ms` (5 s), and a successful session resets the count.

mod machine_support;

use machine_support::*;
use zpair_core::error::PairError;
use zpair_core::machine::*;
use zpair_core::types::*;

/// App `conn` connects, the device answers the first flight, and the confirmation is wrong.
fn wrong_code(dev: &mut Dev, conn: u32) -> Vec<Act> {
    let c = ConnId(conn);
    let mut acts = dev.ev(Event::AppConnected { conn: c, mode: Mode::Ble });
    acts.extend(dev.ev(Event::HandshakeStarted { conn: c }));
    acts.extend(dev.ev(Event::HandshakeFailed { conn: c, error: PairError::WrongSetupCode }));
    acts
}

fn counters(n: u8, base: &PersistedState) -> Act {
    Act::Persist(PersistReason::Counters, PersistedState { failed_attempts: n, ..base.clone() })
}

#[test]
fn three_wrong_codes_lock_the_window_until_lockout_ms_passed() {
    let mut dev = Dev::fresh();
    let base = PersistedState::default();
    for n in 1..=3u8 {
        dev.now += 100;
        let acts = wrong_code(&mut dev, u32::from(n));
        let c = ConnId(u32::from(n));
        assert_eq!(
            acts,
            vec![Act::Alert(c, PairError::WrongSetupCode), Act::Disconnect(c), counters(n, &base)]
        );
        assert_eq!(dev.m.failed_attempts(), n);
        assert_eq!(dev.m.last_error(), Some(PairError::WrongSetupCode));
        assert_eq!(dev.m.state(), State::WindowOpen);
        assert_eq!(dev.stored().unwrap().failed_attempts, n, "the count survives a power cut");
    }
    let locked_at = dev.now;
    assert_eq!(dev.m.locked_until(), Some(locked_at + 5_000));
    assert_eq!(dev.m.next_deadline(), Some(locked_at + 5_000));
    // any new app is told, over every transport
    for (conn, mode) in [(10, Mode::Ble), (11, Mode::SoftAp), (12, Mode::Wired)] {
        dev.now += 1_000;
        let acts = dev.ev(Event::AppConnected { conn: ConnId(conn), mode });
        assert_eq!(acts, vec![Act::Alert(ConnId(conn), PairError::LockedOut), Act::Disconnect(ConnId(conn))]);
        assert_eq!(dev.m.session(), None);
    }
    // the window is still open (advertising), just locked
    assert_eq!(dev.m.state(), State::WindowOpen);
    assert!(dev.advance_to(locked_at + 4_999).is_empty());
    let acts = dev.advance_to(locked_at + 5_000);
    assert_eq!(acts, vec![counters(0, &base)]);
    assert_eq!(dev.m.locked_until(), None);
    assert_eq!(dev.m.failed_attempts(), 0);
    // reopened: an app can pair
    let acts = dev.connect_app(20, Mode::Ble);
    assert_eq!(acts, vec![Act::Status(ConnId(20), State::SessionOpen, Some(PairError::WrongSetupCode))]);
}

#[test]
fn abandoned_and_timed_out_handshakes_count_but_idle_probes_do_not() {
    let mut dev = Dev::fresh();
    // connected and gone before the device answered: not an attempt
    dev.ev(Event::AppConnected { conn: ConnId(1), mode: Mode::Ble });
    dev.ev(Event::AppDisconnected { conn: ConnId(1) });
    // a malformed first flight (device never answered): not an attempt
    dev.ev(Event::AppConnected { conn: ConnId(2), mode: Mode::Ble });
    let acts = dev.ev(Event::HandshakeFailed { conn: ConnId(2), error: PairError::UnsupportedVersion });
    assert_eq!(acts, vec![Act::Alert(ConnId(2), PairError::UnsupportedVersion), Act::Disconnect(ConnId(2))]);
    // connected and silent until the idle timeout: not an attempt
    dev.ev(Event::AppConnected { conn: ConnId(3), mode: Mode::Ble });
    let acts = dev.fire_next();
    assert_eq!(acts, vec![Act::Alert(ConnId(3), PairError::SessionTimeout), Act::Disconnect(ConnId(3))]);
    assert_eq!(dev.m.failed_attempts(), 0);
    assert!(persists(&dev.log).is_empty());

    // the device answered, then the app vanished: one attempt
    dev.ev(Event::AppConnected { conn: ConnId(4), mode: Mode::Ble });
    dev.ev(Event::HandshakeStarted { conn: ConnId(4) });
    let acts = dev.ev(Event::AppDisconnected { conn: ConnId(4) });
    assert_eq!(acts, vec![counters(1, &PersistedState::default())]);
    assert_eq!(dev.m.last_error(), Some(PairError::Disconnected));
    // the device answered, then silence until the idle timeout: one attempt
    dev.ev(Event::AppConnected { conn: ConnId(5), mode: Mode::Ble });
    dev.ev(Event::HandshakeStarted { conn: ConnId(5) });
    let acts = dev.fire_next();
    assert_eq!(
        acts,
        vec![
            Act::Alert(ConnId(5), PairError::SessionTimeout),
            Act::Disconnect(ConnId(5)),
            counters(2, &PersistedState::default()),
        ]
    );
    // aborted mid-handshake (shell): one attempt → locked
    dev.ev(Event::AppConnected { conn: ConnId(6), mode: Mode::Ble });
    dev.ev(Event::HandshakeStarted { conn: ConnId(6) });
    dev.ev(Event::Abort);
    assert_eq!(dev.m.failed_attempts(), 3);
    assert!(dev.m.locked_until().is_some());
}

#[test]
fn a_successful_session_resets_the_count() {
    let mut dev = Dev::fresh();
    wrong_code(&mut dev, 1);
    wrong_code(&mut dev, 2);
    assert_eq!(dev.m.failed_attempts(), 2);
    dev.connect_app(3, Mode::Ble);
    assert_eq!(dev.m.failed_attempts(), 0);
    dev.ev(Event::AppDisconnected { conn: ConnId(3) });
    // two more failures do not lock (the count restarted)
    wrong_code(&mut dev, 4);
    wrong_code(&mut dev, 5);
    assert_eq!(dev.m.locked_until(), None);
    let acts = dev.ev(Event::AppConnected { conn: ConnId(6), mode: Mode::Ble });
    assert!(acts.is_empty(), "accepted: {acts:?}");
}

#[test]
fn the_commit_carries_the_reset_count() {
    let mut dev = Dev::fresh();
    wrong_code(&mut dev, 1);
    wrong_code(&mut dev, 2);
    assert_eq!(dev.stored().unwrap().failed_attempts, 2);
    dev.connect_app(3, Mode::Ble);
    dev.send_creds(3, staged(Mode::Ble, Some(wifi("home", "password1")), "tok-12345"));
    dev.ev(Event::NetworkUp { ip: IP });
    dev.ev(Event::ActivationResult(Ok(op_creds("dev", 1))));
    assert_eq!(dev.stored().unwrap().failed_attempts, 0);
}

#[test]
fn a_power_cycle_does_not_reset_the_count_or_the_lockout() {
    let mut dev = Dev::fresh();
    wrong_code(&mut dev, 1);
    wrong_code(&mut dev, 2);
    let mut dev = dev.reboot(50_000);
    assert_eq!(dev.m.failed_attempts(), 2);
    assert_eq!(dev.m.locked_until(), None);
    wrong_code(&mut dev, 3);
    assert_eq!(dev.m.locked_until(), Some(50_000 + 5_000));
    // power-cycling while locked: locked again for lockout_ms from boot
    let mut dev = dev.reboot(0);
    assert_eq!(dev.m.failed_attempts(), 3);
    assert_eq!(dev.m.locked_until(), Some(5_000));
    let acts = dev.ev(Event::AppConnected { conn: ConnId(9), mode: Mode::Ble });
    assert_eq!(acts, vec![Act::Alert(ConnId(9), PairError::LockedOut), Act::Disconnect(ConnId(9))]);
    dev.advance_to(5_000);
    assert_eq!(dev.m.failed_attempts(), 0);
    assert_eq!(dev.stored().unwrap().failed_attempts, 0);
}

#[test]
fn counter_writes_keep_the_committed_pairing_unchanged() {
    let old = activated(Mode::SoftAp, Some(wifi("old-net", "oldpassword")), "dev-old");
    let mut dev = Dev::with_state(&old);
    dev.ev(Event::OpenWindow { modes: Modes::BLE });
    let acts = wrong_code(&mut dev, 1);
    assert_eq!(acts[2], counters(1, &old));
    let stored = dev.stored().unwrap();
    assert!(stored.same_pairing(&old));
    assert_eq!(stored.failed_attempts, 1);
    // and the device still reconnects with its old network after a reboot
    let dev = dev.reboot(0);
    assert_eq!(dev.log, vec![Act::Reconnect(Mode::SoftAp, old.wifi.clone())]);
    assert_eq!(dev.m.failed_attempts(), 1);
}

#[test]
fn a_lockout_outlives_the_window_and_a_closed_window_still_unlocks() {
    let mut dev = Dev::fresh();
    for n in 1..=3 {
        wrong_code(&mut dev, n);
    }
    dev.ev(Event::CloseWindow);
    assert_eq!(dev.m.state(), State::Idle);
    // reopened by the button while still locked
    dev.now = 1_000;
    dev.ev(Event::OpenWindow { modes: Modes::BLE });
    let acts = dev.ev(Event::AppConnected { conn: ConnId(7), mode: Mode::Ble });
    assert_eq!(acts[0], Act::Alert(ConnId(7), PairError::LockedOut));
    dev.advance_to(5_000);
    assert!(dev.ev(Event::AppConnected { conn: ConnId(8), mode: Mode::Ble }).is_empty());
}

#[test]
fn max_attempts_of_one_locks_at_the_first_failure() {
    let c = Config::new(ConfigParams { max_attempts: 1, ..*cfg().params() }).unwrap();
    let mut m = Machine::restore(c, None, 0);
    m.handle(0, Event::AppConnected { conn: ConnId(1), mode: Mode::SoftAp }).unwrap();
    m.handle(0, Event::HandshakeStarted { conn: ConnId(1) }).unwrap();
    m.handle(0, Event::HandshakeFailed { conn: ConnId(1), error: PairError::WrongSetupCode }).unwrap();
    assert_eq!(m.locked_until(), Some(5_000));
}
