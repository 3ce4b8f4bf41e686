//! `zpair demo` as a test: cloud, four simulated devices, four modes, the database agrees.

use std::time::{Duration, Instant};

#[test]
fn the_demo_activates_all_four_modes_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zpair"))
        .args(["demo", "--json", "--workdir", dir.path().to_str().unwrap()])
        .env("ZPAIR_CONFIG", dir.path().join("none.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(t0.elapsed() < Duration::from_secs(60));
    let text = String::from_utf8_lossy(&out.stdout);
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "result");
    assert_eq!(last["cloud_agrees"], true);
    let devices = last["devices"].as_array().unwrap();
    let modes: Vec<&str> = devices.iter().map(|d| d["mode"].as_str().unwrap()).collect();
    assert_eq!(modes, ["softap", "ble", "wired", "cellular"]);
    assert!(devices.iter().all(|d| d["activated"] == true && d["steps_ms"].is_object()));
    // Nothing is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn the_demo_library_reports_a_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let mut rec = zpair_cli::events::Recorder::default();
    let report = zpair_cli::demo::run_demo(dir.path(), &mut rec).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.database.len(), 4);
    assert!(report.database.iter().all(|(_, status, _)| status == "activated"));
    for d in &report.devices {
        assert!(d.steps.iter().any(|(s, _)| *s == zpair_cli::events::Step::Activating), "{:?}", d.mode);
    }
}
