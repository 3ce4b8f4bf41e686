//! Power cuts, for real: the `zpair-device` process kills itself with SIGKILL at every state
//! transition, after every action and in the middle of every storage write of a BLE pairing,
//! in both storage disciplines; it is then restarted from the same data directory. It must
//! resume activated or roll back to an open window (and then pair), never hold a half-written
//! state. Every log line of every process is scanned for the secrets used.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};
use zpair_core::machine::PersistedState;
use zpair_core::msg::PairState;
use zpair_core::types::Mode;
use zpair_sim::StorageMode;

struct Proc {
    child: std::process::Child,
    lines: Receiver<String>,
    log: PathBuf,
}

impl Proc {
    fn spawn(env: &Env, factory: &Path, data: &Path, storage: &str, crash: Option<&str>, log: PathBuf) -> Proc {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zpair-device"));
        cmd.arg("--factory").arg(factory)
            .arg("--data-dir").arg(data)
            .arg("--air").arg(env.air.dir())
            .arg("--cloud").arg(&env.base)
            .arg("--ca").arg(env.dir.path().join("cloud/ca.pem"))
            .args(["--modes", "ble", "--join-delay-ms", "5", "--backoff-base-ms", "50", "--backoff-cap-ms", "200"])
            .args(["--storage", storage, "--json-events", "--log", "trace"]);
        if let Some(c) = crash {
            cmd.args(["--crash-at", c]);
        }
        let stderr = std::fs::File::create(&log).unwrap();
        let mut child = cmd.stdout(Stdio::piped()).stderr(stderr).stdin(Stdio::null()).spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines, log }
    }

    /// The next event line containing `needle` (or None if the process ended / timed out).
    fn wait_line(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return Some(l),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Waits for the process to end by itself; kills it after `timeout`. True if it ended.
    fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
        false
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// One app attempt over BLE; tolerates the device dying at any moment. True if it saw Activated.
fn try_pair(env: &Env, p: &mut Proc, token: &str) -> bool {
    let hex = format!("{:016x}", env.device_id(0).0);
    let mut dead = false;
    let Some(ad) = wait_until(Duration::from_secs(5), || {
        if dead || p.child.try_wait().unwrap().is_some() {
            dead = true;
            return Some(None);
        }
        env.air.ble_adverts().into_iter().find(|a| a.device == hex && a.state == "window_open").map(Some)
    })
    .flatten() else {
        return false;
    };
    let Some(path) = ad.socket else { return false };
    let Ok(link) = std::panic::catch_unwind(|| BleApp::connect(&path, 247)) else { return false };
    let mut app = App::new(link);
    let first = provision(Some(wifi(HOME_SSID, HOME_PASS)), token, None);
    if app.handshake(&env.setup_code(0), env.device_id(0), Some(&first)).is_err() {
        return false;
    }
    matches!(
        app.status_until(|s| s.state == PairState::Activated || s.state == PairState::WindowOpen),
        Ok(v) if v.last().map(|s| s.state) == Some(PairState::Activated)
    )
}

fn stored(data: &Path, mode: StorageMode) -> zpair_core::storage::Loaded {
    zpair_sim::storage::open_store(data, mode).unwrap().load()
}

/// The only states storage may hold in this flow: nothing, or the complete BLE pairing.
fn check_whole(state: &Option<PersistedState>) -> bool {
    match state {
        None => false,
        Some(s) => {
            assert!(s.validate().is_ok());
            if s.is_activated() {
                assert_eq!(s.mode, Some(Mode::Ble));
                assert_eq!(s.wifi.as_ref().map(|w| w.ssid.as_bytes()), Some(HOME_SSID.as_bytes()));
                assert_eq!(s.wifi.as_ref().map(|w| w.passphrase.expose()), Some(HOME_PASS.as_bytes()));
                assert!(s.operational.is_some());
                true
            } else {
                assert!(s.wifi.is_none() && s.operational.is_none() && s.mode.is_none(), "half a pairing: {s:?}");
                false
            }
        }
    }
}

struct Outcome {
    reached: bool,
    resumed_activated: bool,
}

fn crash_run(env: &Env, run: usize, factory: &Path, storage: &str, mode: StorageMode, crash: &str, logs: &mut Vec<String>) -> Outcome {
    let data = env.dir.path().join(format!("run-{run}"));
    env.air.forget_device(env.device_id(0));
    let mut p = Proc::spawn(env, factory, &data, storage, Some(crash), env.dir.path().join(format!("run-{run}-a.log")));
    let token = env.token();
    let paired = try_pair(env, &mut p, &token);
    let ended = p.wait_exit(if paired { Duration::from_secs(2) } else { Duration::from_secs(5) });
    let log = p.log();
    let reached = log.contains("crash point reached");
    assert_eq!(ended, reached, "{crash}: the process ends exactly when it reaches its crash point");
    logs.push(log);

    // What a power cut left: old or new, never a mix.
    let loaded = stored(&data, mode);
    let activated_on_disk = check_whole(&loaded.state);

    // Power back on.
    env.air.forget_device(env.device_id(0));
    let mut p = Proc::spawn(env, factory, &data, storage, None, env.dir.path().join(format!("run-{run}-b.log")));
    let booted = p.wait_line("Booted", T).expect("the device boots");
    let resumed_activated = booted.contains("state: Activated");
    assert_eq!(resumed_activated, activated_on_disk, "{crash}: boots into what storage holds");
    if resumed_activated {
        assert!(env.device_view(0).is_some_and(|v| v.cloud_device_id.is_some()), "activated locally only after the cloud");
        assert!(p.wait_line("Reconnecting", T).is_some());
    } else {
        assert!(booted.contains("state: WindowOpen"), "{crash}: {booted}");
        // Rolled back: the window is open and a pairing goes through.
        let token = env.token();
        if !try_pair(env, &mut p, &token) {
            p.kill();
            let log = p.log();
            let tail: Vec<&str> = log.lines().filter(|l| !l.contains("TRACE")).collect();
            panic!("{crash}: pairing after the rollback failed; device log:\n{}", tail.join("\n"));
        }
        assert!(p.wait_line("Done", T).is_some());
        assert!(check_whole(&stored(&data, mode).state));
    }
    p.kill();
    logs.push(p.log());
    Outcome { reached, resumed_activated }
}

#[test]
fn killed_at_every_transition_action_and_write_it_resumes_or_rolls_back() {
    let env = Env::start(1);
    // The factory data once as the cloud's JSON record, once in the binary layout.
    let json = env.factory_path(0);
    let bin = env.dir.path().join("factory.bin");
    let fd = zpair_sim::factory::load(&json).unwrap();
    std::fs::write(&bin, &fd.encode()[..]).unwrap();
    let mut logs = Vec::new();
    let mut run = 0;
    let mut resumed = 0;
    let mut rolled_back = 0;
    for (storage, mode, factory) in [("atomic", StorageMode::Atomic, &json), ("in-place", StorageMode::InPlace, &bin)] {
        let mut points: Vec<String> = ["window_open", "session_open", "joining_network", "activating", "committing", "activated"]
            .iter()
            .map(|s| format!("state:{s}"))
            .collect();
        points.push("write:1".into());
        for point in &points {
            run += 1;
            let o = crash_run(&env, run, factory, storage, mode, point, &mut logs);
            assert!(o.reached || point == "state:window_open", "{point} is on the path of a pairing");
            if o.resumed_activated { resumed += 1 } else { rolled_back += 1 }
        }
        let mut n = 1;
        loop {
            run += 1;
            let o = crash_run(&env, run, factory, storage, mode, &format!("action:{n}"), &mut logs);
            if o.resumed_activated { resumed += 1 } else { rolled_back += 1 }
            if !o.reached {
                break;
            }
            n += 1;
            assert!(n < 60, "a pairing takes a bounded number of actions");
        }
        assert!(n > 5, "the crash points covered the pairing ({n} actions)");
        eprintln!("{storage}: {n} actions in a pairing, {run} runs so far");
    }
    eprintln!("{resumed} resumed activated, {rolled_back} rolled back");
    assert!(resumed >= 4 && rolled_back >= 4, "both outcomes were met: {resumed} resumed, {rolled_back} rolled back");

    // No secret in any line any process logged (at TRACE level, HTTP/TLS stack included).
    env.register_stored_secret(0);
    let all = logs.join("\n");
    assert!(all.contains("zpair_sim") && all.contains("TRACE"));
    for s in secrets_snapshot() {
        assert!(!all.contains(&s), "a secret ({} chars) appears in a device log", s.len());
    }
}
