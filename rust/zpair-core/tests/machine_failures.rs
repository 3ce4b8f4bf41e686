//! Every failure of a pairing attempt: the exact error reaches the app and `last_error`, the
//! previous working state comes back, nothing was written, and the window reopens (no reboot).
//! Transient activation errors are retried with exponential backoff until the deadline.

mod machine_support;

use machine_support::*;
use zpair_core::error::PairError;
use zpair_core::machine::*;
use zpair_core::storage::TornWrite;
use zpair_core::types::*;

const APP: ConnId = ConnId(1);

#[derive(Debug, Clone, Copy)]
enum Stage {
    /// Fail while joining the network.
    Joining,
    /// Fail the activation call.
    Activating,
}

fn old_state() -> PersistedState {
    activated(Mode::SoftAp, Some(wifi("old-net", "oldpassword")), "dev-old")
}

/// A device (fresh, or activated with `old_state()`), an app session over BLE, credentials
/// staged, advanced to `stage`.
fn device_at(previously_activated: bool, stage: Stage) -> Dev {
    let mut dev = if previously_activated {
        let mut d = Dev::with_state(&old_state());
        d.ev(Event::OpenWindow { modes: Modes::BLE });
        d
    } else {
        Dev::fresh()
    };
    dev.now = 1_000;
    dev.connect_app(1, Mode::Ble);
    dev.send_creds(1, staged(Mode::Ble, Some(wifi("new-net", "newpassword")), "tok-12345"));
    if let Stage::Activating = stage {
        dev.now += 2_000;
        dev.ev(Event::NetworkUp { ip: IP });
    }
    dev.now += 1_000;
    dev
}

/// Checks the rollback actions and the state after a failure with `error`.
fn assert_rolled_back(dev: &Dev, acts: &[Act], error: PairError, previously_activated: bool, app: bool) {
    let open = if previously_activated { Modes::BLE } else { Modes::ALL };
    let mut expected = vec![];
    if app {
        expected.push(Act::Status(APP, State::WindowOpen, Some(error)));
        expected.push(Act::Disconnect(APP));
    }
    expected.push(Act::DisconnectNetwork);
    if previously_activated {
        expected.push(Act::Reconnect(Mode::SoftAp, old_state().wifi));
    }
    expected.push(Act::Failed(error));
    expected.push(Act::StartWindow(open));
    assert_eq!(acts, &expected[..], "after {error:?}");
    assert_eq!(dev.m.state(), State::WindowOpen);
    assert_eq!(dev.m.window_modes(), Some(open));
    assert_eq!(dev.m.last_error(), Some(error));
    assert!(!dev.m.has_staged(), "staged credentials must be gone");
    assert_eq!(dev.m.session(), None);
    assert!(persists(&dev.log).is_empty(), "nothing may be written: {:?}", persists(&dev.log));
    assert_eq!(dev.stored(), previously_activated.then(old_state));
    assert_eq!(dev.m.persisted().is_activated(), previously_activated);
    // the window is fresh (the user is actively pairing)
    assert_eq!(dev.m.next_deadline(), Some(dev.now + cfg().window_ms()));
}

/// After a rollback a new app pairs successfully without a reboot, and learns what went wrong
/// last time when its session opens.
fn pair_again(dev: &mut Dev, last: PairError) {
    let acts = dev.connect_app(2, Mode::Ble);
    assert_eq!(acts, vec![Act::Status(ConnId(2), State::SessionOpen, Some(last))]);
    dev.send_creds(2, staged(Mode::Ble, Some(wifi("new-net", "rightpassword")), "tok-67890"));
    dev.ev(Event::NetworkUp { ip: IP });
    dev.ev(Event::ActivationResult(Ok(op_creds("dev-new", 9))));
    assert_eq!(dev.m.state(), State::Activated);
    assert_eq!(dev.m.last_error(), None);
    assert_eq!(dev.stored().unwrap().wifi, Some(wifi("new-net", "rightpassword")));
}

#[test]
fn network_failures_roll_back() {
    for previously in [false, true] {
        for error in [
            PairError::WrongPassword,
            PairError::ApNotFound,
            PairError::DhcpTimeout,
            PairError::AssociationFailed,
            PairError::NoLink,
        ] {
            let mut dev = device_at(previously, Stage::Joining);
            let acts = dev.ev(Event::NetworkFailed { error });
            assert_rolled_back(&dev, &acts, error, previously, true);
            pair_again(&mut dev, error);
        }
    }
}

#[test]
fn cloud_refusals_roll_back_without_retry() {
    for previously in [false, true] {
        for error in [
            PairError::TokenExpired,
            PairError::TokenUsed,
            PairError::TokenUnknown,
            PairError::CloudRejected,
            PairError::DeviceAuthFailed,
            PairError::ProductMismatch,
            PairError::CloudCertificate,
        ] {
            assert!(!error.is_transient());
            let mut dev = device_at(previously, Stage::Activating);
            let acts = dev.ev(Event::ActivationResult(Err(error)));
            assert_rolled_back(&dev, &acts, error, previously, true);
            pair_again(&mut dev, error);
        }
    }
}

#[test]
fn a_link_lost_during_activation_rolls_back() {
    let mut dev = device_at(true, Stage::Activating);
    let acts = dev.ev(Event::NetworkFailed { error: PairError::LinkLost });
    assert_rolled_back(&dev, &acts, PairError::LinkLost, true, true);
}

#[test]
fn the_overall_deadline_rolls_back_in_both_stages() {
    for previously in [false, true] {
        for stage in [Stage::Joining, Stage::Activating] {
            let mut dev = device_at(previously, stage);
            // staged at t=1000, deadline 20 s later
            assert_eq!(dev.m.next_deadline(), Some(21_000));
            assert!(dev.advance_to(20_999).is_empty());
            let acts = dev.advance_to(21_000);
            assert_rolled_back(&dev, &acts, PairError::DeadlineExceeded, previously, true);
            pair_again(&mut dev, PairError::DeadlineExceeded);
        }
    }
}

#[test]
fn an_app_abort_rolls_back() {
    for previously in [false, true] {
        for stage in [Stage::Joining, Stage::Activating] {
            let mut dev = device_at(previously, stage);
            let acts = dev.ev(Event::Abort);
            assert_rolled_back(&dev, &acts, PairError::Aborted, previously, true);
            pair_again(&mut dev, PairError::Aborted);
        }
    }
}

#[test]
fn an_abort_before_credentials_only_ends_the_session() {
    let mut dev = Dev::fresh();
    dev.connect_app(1, Mode::Ble);
    let acts = dev.ev(Event::Abort);
    assert_eq!(acts, vec![Act::Status(APP, State::WindowOpen, Some(PairError::Aborted)), Act::Disconnect(APP)]);
    assert_eq!(dev.m.state(), State::WindowOpen);
    assert_eq!(dev.m.last_error(), Some(PairError::Aborted));
    assert_eq!(dev.m.failed_attempts(), 0, "an established session is no failed handshake");
}

#[test]
fn a_failed_commit_rolls_back_and_a_reboot_finds_the_old_state() {
    for previously in [false, true] {
        for torn in [TornWrite::ErasedTail, TornWrite::StaleTail, TornWrite::Truncated] {
            let mut dev = device_at(previously, Stage::Activating);
            // the flash dies 40 bytes into the commit
            dev.store.storage_mut().set_torn_write(torn);
            dev.store.storage_mut().cut_power_after(40);
            let acts = dev.ev(Event::ActivationResult(Ok(op_creds("dev-new", 3))));
            assert!(matches!(&acts[0], Act::Persist(PersistReason::Commit, _)));
            assert_rolled_back_after_commit(&dev, &acts[1..], previously);
            let dev = dev.reboot(99_000);
            assert_eq!(dev.stored(), previously.then(old_state));
            if previously {
                assert_eq!(dev.m.state(), State::Activated);
                assert_eq!(dev.log, vec![Act::Reconnect(Mode::SoftAp, old_state().wifi)]);
            } else {
                assert_eq!(dev.m.state(), State::WindowOpen);
                assert_eq!(dev.log, vec![Act::StartWindow(Modes::ALL)]);
            }
        }
    }
}

fn assert_rolled_back_after_commit(dev: &Dev, acts: &[Act], previously: bool) {
    let e = PairError::StorageFailed;
    let open = if previously { Modes::BLE } else { Modes::ALL };
    let mut expected = vec![Act::Status(APP, State::WindowOpen, Some(e)), Act::Disconnect(APP), Act::DisconnectNetwork];
    if previously {
        expected.push(Act::Reconnect(Mode::SoftAp, old_state().wifi));
    }
    expected.extend([Act::Failed(e), Act::StartWindow(open)]);
    assert_eq!(acts, &expected[..]);
    assert_eq!(dev.m.last_error(), Some(e));
    assert_eq!(dev.m.state(), State::WindowOpen);
    assert_eq!(dev.m.persisted().is_activated(), previously);
}

#[test]
fn commit_failed_reported_by_the_glue_rolls_back() {
    let mut dev = device_at(true, Stage::Activating);
    dev.auto_commit = false;
    dev.ev(Event::ActivationResult(Ok(op_creds("dev-new", 3))));
    assert_eq!(dev.m.state(), State::Committing);
    let acts = dev.ev(Event::CommitFailed);
    assert_rolled_back_after_commit(&dev, &acts, true);
    assert_eq!(dev.m.persisted(), &old_state());
}

#[test]
fn transient_cloud_errors_back_off_exponentially_until_the_deadline() {
    let mut dev = device_at(false, Stage::Activating);
    // staged at 1000 → deadline 21000; activation call 1 went out at 3000; now = 4000
    let mut now = dev.now;
    let mut attempt = 1u16;
    let mut delays = vec![];
    loop {
        let error = if attempt % 3 == 0 { PairError::RateLimited } else { PairError::CloudUnreachable };
        let acts = dev.ev(Event::ActivationResult(Err(error)));
        if dev.m.state() != State::Activating {
            // the next retry would have landed after the deadline: the cause is reported now
            assert_rolled_back(&dev, &acts, error, false, true);
            break;
        }
        let delay = cfg().backoff_ms(attempt);
        assert_eq!(
            acts,
            vec![
                Act::Retry(now + delay, attempt + 1, error),
                Act::Status(APP, State::Activating, Some(error)),
            ]
        );
        delays.push(delay);
        assert_eq!(dev.m.next_deadline(), Some(now + delay));
        // the result of a call that is not outstanding is refused
        assert_eq!(
            dev.refused(Event::ActivationResult(Ok(op_creds("x", 1)))),
            MachineError::InvalidState(State::Activating)
        );
        assert!(dev.advance_to(now + delay - 1).is_empty());
        let acts = dev.advance_to(now + delay);
        attempt += 1;
        assert_eq!(acts, vec![Act::Activate(b"tok-12345".to_vec(), attempt)]);
        now += delay; // the cloud answers at once
        dev.now = now;
    }
    assert_eq!(delays[..4], [100, 200, 400, 800]);
    assert!(delays[4..].iter().all(|d| *d == 800), "capped: {delays:?}");
    // retries went on until the next one would have been past the deadline (21000)
    assert!(now + 800 >= 21_000 && now < 21_000, "gave up at {now}");
    assert_eq!(delays.len(), 4 + (21_000 - 5_500) / 800);
    assert!(persists(&dev.log).is_empty());
}

#[test]
fn the_deadline_during_retries_reports_the_transient_cause() {
    let mut dev = device_at(true, Stage::Activating);
    dev.ev(Event::ActivationResult(Err(PairError::CloudUnreachable)));
    dev.fire_next(); // retry call 2 goes out; no answer ever comes
    let acts = dev.advance_to(21_000);
    assert_rolled_back(&dev, &acts, PairError::CloudUnreachable, true, true);
}

#[test]
fn a_transient_error_then_success_commits() {
    let mut dev = device_at(false, Stage::Activating);
    dev.ev(Event::ActivationResult(Err(PairError::CloudUnreachable)));
    dev.fire_next();
    let acts = dev.ev(Event::ActivationResult(Ok(op_creds("dev-new", 2))));
    assert!(matches!(acts[0], Act::Persist(PersistReason::Commit, _)));
    assert_eq!(dev.m.state(), State::Activated);
    assert_eq!(dev.m.last_error(), None);
}

#[test]
fn jitter_is_deterministic_per_seed_and_bounded() {
    let run = |seed: u32| {
        let mut dev = device_at(false, Stage::Activating);
        dev.m.set_jitter_seed(seed);
        let mut delays = vec![];
        for attempt in 1..=5u16 {
            let acts = dev.ev(Event::ActivationResult(Err(PairError::CloudUnreachable)));
            let Act::Retry(at, _, _) = acts[0] else { panic!("{acts:?}") };
            let d = at - dev.now;
            let full = cfg().backoff_ms(attempt);
            assert!((full / 2..=full).contains(&d), "attempt {attempt}: {d} vs {full}");
            delays.push(d);
            dev.advance_to(at);
        }
        delays
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
    assert_ne!(run(7), vec![100, 200, 400, 800, 800]);
}

#[test]
fn cellular_failures_roll_back_and_reopen_the_qr_window() {
    let old = activated(Mode::Cellular, None, "cell-old");
    let mut dev = Dev::with_state(&old);
    assert_eq!(dev.log, vec![Act::Reconnect(Mode::Cellular, None)]);
    dev.ev(Event::OpenWindow { modes: Modes::CELLULAR });
    dev.ev(Event::BindReceived { token: token("cell-token-1"), endpoint: None });
    dev.ev(Event::NetworkUp { ip: IP });
    let acts = dev.ev(Event::ActivationResult(Err(PairError::TokenExpired)));
    assert_eq!(
        acts,
        vec![
            Act::DisconnectNetwork,
            Act::Reconnect(Mode::Cellular, None),
            Act::Failed(PairError::TokenExpired),
            Act::StartWindow(Modes::CELLULAR),
        ]
    );
    assert_eq!(dev.m.last_error(), Some(PairError::TokenExpired));
    assert_eq!(dev.stored(), Some(old));
    // modem trouble while attaching
    dev.ev(Event::BindReceived { token: token("cell-token-2"), endpoint: None });
    let acts = dev.ev(Event::NetworkFailed { error: PairError::AttachTimeout });
    assert!(acts.contains(&Act::Failed(PairError::AttachTimeout)));
    assert_eq!(dev.m.state(), State::WindowOpen);
}

#[test]
fn the_app_gone_during_the_join_does_not_stop_the_attempt() {
    let mut dev = device_at(false, Stage::Joining);
    // SoftAP-style: the phone loses the device's AP while the device joins the home network
    assert_eq!(dev.ev(Event::AppDisconnected { conn: APP }), vec![]);
    assert_eq!(dev.m.state(), State::JoiningNetwork);
    assert_eq!(dev.m.session(), None);
    // the failure is kept for the next app (no status to a gone app)
    let acts = dev.ev(Event::NetworkFailed { error: PairError::WrongPassword });
    assert_rolled_back(&dev, &acts, PairError::WrongPassword, false, false);
    pair_again(&mut dev, PairError::WrongPassword);
}

#[test]
fn a_broken_session_during_the_join_drops_the_app_but_not_the_attempt() {
    let mut dev = device_at(false, Stage::Joining);
    let acts = dev.ev(Event::SessionError { conn: APP, error: PairError::RecordRejected });
    assert_eq!(acts, vec![Act::Disconnect(APP)]);
    assert_eq!(dev.m.state(), State::JoiningNetwork);
    dev.ev(Event::NetworkUp { ip: IP });
    dev.ev(Event::ActivationResult(Ok(op_creds("dev-new", 3))));
    assert_eq!(dev.m.state(), State::Activated);
}

#[test]
fn obsolete_actions_of_a_rolled_back_attempt_are_skipped() {
    let mut dev = Dev::fresh();
    dev.connect_app(1, Mode::SoftAp);
    // credentials arrive and the app aborts before the glue drained the queue
    dev.m
        .handle(
            dev.now,
            Event::CredentialsReceived {
                conn: APP,
                staged: staged(Mode::SoftAp, Some(wifi("home", "password1")), "tok-12345"),
            },
        )
        .unwrap();
    dev.m.handle(dev.now, Event::Abort).unwrap();
    let acts = dev.drain();
    assert!(!acts.iter().any(|a| matches!(a, Act::Connect(..))), "{acts:?}");
    assert!(acts.contains(&Act::Failed(PairError::Aborted)));
}
