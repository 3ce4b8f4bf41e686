//! No output shows a secret: every log line (the cloud's and the devices', at TRACE level) and
//! everything the `zpair` binary prints, human and JSON, success and failure, in every mode —
//! scanned for the Wi-Fi password, the setup codes, payloads and manual codes, the activation
//! tokens and secrets, and the API keys used.

mod common;

use common::{assert_no_secret, free_udp_port, Options, World, SSID};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zpair_core::types::Mode;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

#[test]
fn nothing_printed_or_logged_shows_a_secret() {
    let logs = Capture::default();
    // Global: the cloud logs from its runtime's threads, the devices from theirs.
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(logs.clone()).with_ansi(false).finish(),
    )
    .unwrap();
    let w = World::new(Options { devices: 4, ..Default::default() });
    let port = free_udp_port();
    let announce = format!("127.0.0.1:{port}");
    let _s = w.start_device(0, Mode::SoftAp, |_| {});
    let _b = w.start_device(1, Mode::Ble, |_| {});
    let _w = w.start_device(2, Mode::Wired, |c| c.announce_to = announce.parse().unwrap());
    let _c = w.start_device(3, Mode::Cellular, |_| {});
    std::thread::sleep(Duration::from_millis(300));
    let right: u32 = w.setup_code(1).parse().unwrap();
    let wrong = if right == 20_202_021 { 20_202_022 } else { 20_202_021 }.to_string();
    w.secrets.add(wrong.clone());
    let (p0, p1, c2) = (w.payload(0), w.payload(1), w.setup_code(2));
    let id2 = w.device_id(2).to_string();
    let id3 = w.device_id(3).to_string();
    let runs: Vec<Vec<&str>> = vec![
        vec!["discover", "--listen", "1", "--announce", &announce],
        vec!["discover", "--json", "--listen", "1", "--announce", &announce],
        vec!["scan", "ble", "--payload", &p1],
        vec!["pair", "ble", "--code", &wrong, "--wifi-ssid", SSID, "--wifi-pass", common::PASSWORD],
        vec!["pair", "softap", "--payload", &p0, "--wifi-ssid", SSID, "--wifi-pass", "not-the-password"],
        vec!["pair", "softap", "--json", "--payload", &p0, "--wifi-ssid", SSID, "--wifi-pass", common::PASSWORD],
        vec!["pair", "ble", "--payload", &p1, "--wifi-ssid", SSID, "--wifi-pass", common::PASSWORD],
        vec!["pair", "wired", "--json", "--device", &id2, "--code", &c2, "--announce", &announce],
        vec!["bind-qr", "--device", &id3],
        vec!["devices"],
        vec!["devices", "--json"],
        vec!["token"],
        vec!["token", "--json"],
    ];
    let mut printed = String::new();
    for args in &runs {
        let out = w.zpair_env(args, &[("ZPAIR_WIFI_PASS", common::PASSWORD)]);
        printed.push_str(&String::from_utf8_lossy(&out.stdout));
        printed.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    // The flows really ran: three activations over sessions, one bind.
    for (i, m) in [(0, Mode::SoftAp), (1, Mode::Ble), (2, Mode::Wired), (3, Mode::Cellular)] {
        w.assert_activated(i, m);
    }
    assert!(printed.contains("wrong_setup_code") || printed.contains("setup code is wrong"));
    assert!(printed.contains("the Wi-Fi password is wrong"));
    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(logged.contains("device activated"), "the cloud's logs were captured");
    let secrets = w.secrets.all();
    assert!(secrets.len() >= 4 * 4 + 3);
    assert_no_secret(&printed, &secrets, "the CLI's output");
    assert_no_secret(&logged, &secrets, "the logs");
}

#[test]
fn the_scan_catches_what_it_looks_for() {
    let secrets = vec!["tr0ub4dor-and-3".to_owned(), "20202021".to_owned()];
    let leaks = [
        "joined with tr0ub4dor-and-3",
        "code 20202021",
        "token Ab3dEf6hIj9kLm0n issued",
        "key zpk_abc",
    ];
    for l in leaks {
        let caught = std::panic::catch_unwind(|| assert_no_secret(l, &secrets, "sample")).is_err();
        assert!(caught, "{l}");
    }
    assert_no_secret("device 0011223344556677 activated, token id 4cff6079", &secrets, "clean sample");
}
