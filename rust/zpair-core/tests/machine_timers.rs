//! Timers through `next_deadline()` and `poll()`: window timeout, session idle timeout, overall
//! deadline, and how they interact.

mod machine_support;

use machine_support::*;
use zpair_core::error::PairError;
use zpair_core::machine::*;
use zpair_core::types::*;

#[test]
fn the_window_closes_after_window_ms_to_save_power() {
    let mut dev = Dev::fresh();
    assert_eq!(dev.m.next_deadline(), Some(10_000));
    assert!(dev.advance_to(9_999).is_empty());
    assert_eq!(dev.m.state(), State::WindowOpen);
    let acts = dev.advance_to(10_000);
    assert_eq!(acts, vec![Act::StopWindow(Modes::ALL)]);
    assert_eq!(dev.m.state(), State::Idle);
    assert_eq!(dev.m.next_deadline(), None);
    assert_eq!(dev.m.last_error(), None, "a timeout without an app is no failure");
    // an app arriving late is told the window is closed
    let acts = dev.ev(Event::AppConnected { conn: ConnId(1), mode: Mode::Ble });
    assert_eq!(acts, vec![Act::Alert(ConnId(1), PairError::WindowClosed), Act::Disconnect(ConnId(1))]);
}

#[test]
fn an_activated_device_goes_back_to_activated_when_its_window_times_out() {
    let old = activated(Mode::Wired, None, "dev-old");
    let mut dev = Dev::with_state(&old);
    dev.now = 500;
    dev.ev(Event::OpenWindow { modes: Modes::WIRED });
    assert_eq!(dev.m.next_deadline(), Some(10_500));
    let acts = dev.fire_next();
    assert_eq!(acts, vec![Act::StopWindow(Modes::WIRED)], "still connected: no reconnect");
    assert_eq!(dev.m.state(), State::Activated);
}

#[test]
fn opening_an_open_window_restarts_its_timer_and_adds_modes() {
    let mut dev = Dev::boot(zpair_core::storage::RamFlash::new(), 0);
    dev.ev(Event::CloseWindow);
    dev.ev(Event::OpenWindow { modes: Modes::BLE });
    dev.now = 4_000;
    let acts = dev.ev(Event::OpenWindow { modes: Modes::SOFTAP });
    assert_eq!(acts, vec![Act::StartWindow(Modes::BLE.union(Modes::SOFTAP))]);
    assert_eq!(dev.m.next_deadline(), Some(14_000));
    // modes outside the build's set are dropped; none left is an error
    let c = Config::new(ConfigParams { modes: Modes::BLE, ..*cfg().params() }).unwrap();
    let mut m = Machine::new(c);
    assert_eq!(m.handle(0, Event::OpenWindow { modes: Modes::SOFTAP }), Err(MachineError::ModeDisabled));
    m.handle(0, Event::OpenWindow { modes: Modes::ALL }).unwrap();
    assert_eq!(m.window_modes(), Some(Modes::BLE));
}

#[test]
fn the_session_idle_timer_is_restarted_by_activity() {
    let mut dev = Dev::fresh();
    dev.now = 100;
    dev.ev(Event::AppConnected { conn: ConnId(1), mode: Mode::SoftAp });
    assert_eq!(dev.m.next_deadline(), Some(1_100), "the session timer replaces the window timer");
    dev.now = 900;
    dev.ev(Event::HandshakeStarted { conn: ConnId(1) });
    assert_eq!(dev.m.next_deadline(), Some(1_900));
    dev.now = 1_500;
    dev.ev(Event::HandshakeOk { conn: ConnId(1) });
    dev.now = 2_400;
    dev.ev(Event::AppActivity { conn: ConnId(1) });
    assert_eq!(dev.m.next_deadline(), Some(3_400));
    assert!(dev.advance_to(3_399).is_empty());
    let acts = dev.advance_to(3_400);
    assert_eq!(
        acts,
        vec![
            Act::Status(ConnId(1), State::WindowOpen, Some(PairError::SessionTimeout)),
            Act::Disconnect(ConnId(1)),
        ]
    );
    assert_eq!(dev.m.last_error(), Some(PairError::SessionTimeout));
    assert_eq!(dev.m.failed_attempts(), 0, "the handshake had succeeded");
    // back to the original window
    assert_eq!(dev.m.next_deadline(), Some(10_000));
}

#[test]
fn the_window_timer_is_suspended_during_a_session_and_resumes_after() {
    let mut dev = Dev::fresh();
    dev.now = 9_000;
    dev.connect_app(1, Mode::Ble);
    for t in (9_800..=12_000).step_by(800) {
        dev.now = t;
        dev.ev(Event::AppActivity { conn: ConnId(1) });
        assert_eq!(dev.m.state(), State::SessionOpen, "the window deadline passed mid-session");
    }
    dev.m.handle(dev.now, Event::AppDisconnected { conn: ConnId(1) }).unwrap();
    // the original window has passed: it closes at the next poll
    assert_eq!(dev.m.next_deadline(), Some(10_000));
    let acts = dev.advance_to(dev.now);
    assert_eq!(acts, vec![Act::StopWindow(Modes::ALL)]);
    assert_eq!(dev.m.state(), State::Idle);
}

#[test]
fn the_overall_deadline_runs_from_staging_and_a_failure_reopens_a_fresh_window() {
    let mut dev = Dev::fresh();
    dev.now = 3_000;
    dev.connect_app(1, Mode::Ble);
    dev.send_creds(1, staged(Mode::Ble, Some(wifi("home", "password1")), "tok-12345"));
    assert_eq!(dev.m.next_deadline(), Some(23_000), "no session idle timer once staged");
    dev.now = 20_000; // long silence from the app is fine now
    dev.ev(Event::NetworkUp { ip: IP });
    assert_eq!(dev.m.next_deadline(), Some(23_000));
    let acts = dev.fire_next();
    assert!(acts.contains(&Act::Failed(PairError::DeadlineExceeded)));
    assert_eq!(dev.m.next_deadline(), Some(33_000), "fresh window after a failed attempt");
}

#[test]
fn no_timer_is_armed_while_committing_or_at_rest() {
    let mut dev = Dev::fresh();
    dev.auto_commit = false;
    dev.connect_app(1, Mode::Wired);
    dev.send_creds(1, staged(Mode::Wired, None, "tok-12345"));
    dev.ev(Event::NetworkUp { ip: IP });
    dev.ev(Event::ActivationResult(Ok(op_creds("dev", 1))));
    assert_eq!(dev.m.state(), State::Committing);
    assert_eq!(dev.m.next_deadline(), None, "the cloud accepted: the commit is not cut short");
    assert!(dev.advance_to(1_000_000).is_empty());
    dev.ev(Event::CommitDone);
    assert_eq!(dev.m.next_deadline(), None);
}

#[test]
fn next_deadline_includes_the_lockout_end_even_at_rest() {
    let mut dev = Dev::fresh();
    for n in 1..=3 {
        let c = ConnId(n);
        dev.ev(Event::AppConnected { conn: c, mode: Mode::Ble });
        dev.ev(Event::HandshakeStarted { conn: c });
        dev.ev(Event::HandshakeFailed { conn: c, error: PairError::WrongSetupCode });
    }
    dev.ev(Event::CloseWindow);
    assert_eq!(dev.m.next_deadline(), Some(5_000));
    dev.fire_next();
    assert_eq!(dev.m.failed_attempts(), 0);
    assert_eq!(dev.m.next_deadline(), None);
}

#[test]
fn time_going_backwards_fires_nothing() {
    let mut dev = Dev::fresh();
    dev.now = 5_000;
    dev.ev(Event::AppConnected { conn: ConnId(1), mode: Mode::Ble });
    assert!(dev.advance_to(0).is_empty());
    assert_eq!(dev.m.state(), State::SessionOpen);
    assert_eq!(dev.m.next_deadline(), Some(6_000));
}

#[test]
fn timers_near_u64_max_saturate_instead_of_wrapping() {
    let mut m = Machine::restore(cfg(), None, u64::MAX - 5);
    assert_eq!(m.next_deadline(), Some(u64::MAX));
    m.handle(u64::MAX - 1, Event::AppConnected { conn: ConnId(1), mode: Mode::Ble }).unwrap();
    assert_eq!(m.next_deadline(), Some(u64::MAX));
    m.poll(u64::MAX - 1);
    assert_eq!(m.state(), State::SessionOpen);
}

#[test]
fn handle_processes_expired_timers_before_the_event() {
    let mut dev = Dev::fresh();
    dev.connect_app(1, Mode::Ble);
    dev.send_creds(1, staged(Mode::Ble, Some(wifi("home", "password1")), "tok-12345"));
    // the network comes up, but only after the deadline: the deadline wins
    dev.now = 20_000;
    assert_eq!(
        dev.m.handle(dev.now, Event::NetworkUp { ip: IP }),
        Err(MachineError::InvalidState(State::WindowOpen))
    );
    let acts = dev.drain();
    assert!(acts.contains(&Act::Failed(PairError::DeadlineExceeded)));
}
