//! The `zpair` binary against the simulated devices and the real cloud: `--json` shapes (stable
//! field names), human output, exit codes per failure class.

mod common;

use common::{free_udp_port, json_lines, Options, World, SSID};
use std::time::Duration;
use zpair_core::types::Mode;

fn last(lines: &[serde_json::Value]) -> &serde_json::Value {
    lines.last().expect("some output")
}

#[test]
fn pair_json_has_steps_statuses_and_a_result() {
    let w = World::new(Options { devices: 1, ..Default::default() });
    let _dev = w.start_device(0, Mode::Ble, |_| {});
    let out = w.zpair(&["pair", "ble", "--json", "--payload", &w.payload(0), "--wifi-ssid", SSID, "--wifi-pass", common::PASSWORD]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out.stdout);
    for l in &lines {
        assert!(l["event"].is_string() && l["t_ms"].is_u64(), "{l}");
    }
    let steps: Vec<&str> = lines.iter().filter(|l| l["event"] == "step_done").map(|l| l["step"].as_str().unwrap()).collect();
    assert_eq!(steps, ["discover", "token", "connect", "handshake", "credentials", "joining", "activating"]);
    assert!(lines.iter().any(|l| l["event"] == "status" && l["state"] == "activated" && l["error"].is_null()));
    let r = last(&lines);
    assert_eq!(r["event"], "result");
    assert_eq!(r["ok"], true);
    assert_eq!(r["device"], w.device_id(0).to_string());
    assert_eq!(r["mode"], "ble");
    assert_eq!(r["state"], "activated");
    assert_eq!(r["confirmed_by"], "device");
    assert!(r["cloud_device_id"].is_string() && r["elapsed_ms"].is_u64());
    w.assert_activated(0, Mode::Ble);
}

#[test]
fn a_wrong_wifi_password_exits_5_and_says_how_to_retry() {
    let w = World::new(Options { devices: 1, ..Default::default() });
    let _dev = w.start_device(0, Mode::Ble, |_| {});
    let args = ["pair", "ble", "--payload", &w.payload(0), "--wifi-ssid", SSID, "--wifi-pass", "not-the-password"];
    let out = w.zpair(&args);
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the device reported: the Wi-Fi password is wrong"), "{err}");
    let retry = format!(
        "the Wi-Fi password is wrong; the device is ready to try again: its pairing window is open again: run `zpair pair ble --device {} --payload <QR payload> --wifi-ssid {SSID} --wifi-pass <the right password>`",
        w.device_id(0)
    );
    assert!(err.contains(&retry), "{err}");
    // JSON: the same as an error object.
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let out = w.zpair(&json_args);
    assert_eq!(out.status.code(), Some(5));
    let lines = json_lines(&out.stdout);
    let e = last(&lines);
    assert_eq!(e["event"], "error");
    assert_eq!(e["error"], "wrong_password");
    assert_eq!(e["code"], 0x31);
    assert_eq!(e["class"], "network");
    assert_eq!(e["exit"], 5);
    assert!(e["message"].is_string() && e["hint"].as_str().unwrap().contains("--wifi-pass <the right password>"));
    // The window stayed open: the right password works.
    let out = w.zpair(&["pair", "ble", "--payload", &w.payload(0), "--wifi-ssid", SSID, "--wifi-pass", common::PASSWORD]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("activated over ble"));
}

#[test]
fn wired_by_code_and_device_and_discover_lists_every_mode() {
    let w = World::new(Options { devices: 4, ..Default::default() });
    let port = free_udp_port();
    let announce = format!("127.0.0.1:{port}");
    let _s = w.start_device(0, Mode::SoftAp, |_| {});
    let _b = w.start_device(1, Mode::Ble, |_| {});
    let _w = w.start_device(2, Mode::Wired, |c| c.announce_to = announce.parse().unwrap());
    let _c = w.start_device(3, Mode::Cellular, |_| {});
    std::thread::sleep(Duration::from_millis(500));
    let out = w.zpair(&["discover", "--json", "--listen", "2", "--announce", &announce]);
    assert_eq!(out.status.code(), Some(0));
    let lines = json_lines(&out.stdout);
    let found: Vec<(&str, &str)> =
        lines.iter().filter(|l| l["event"] == "found").map(|l| (l["mode"].as_str().unwrap(), l["device"].as_str().unwrap())).collect();
    for (i, m) in ["softap", "ble", "wired", "cellular"].iter().enumerate() {
        assert!(found.contains(&(*m, w.device_id(i).to_string().as_str())), "{m}: {found:?}");
    }
    let f = lines.iter().find(|l| l["event"] == "found" && l["mode"] == "ble").unwrap();
    assert!(f["product"].is_u64() && f["discriminator"].is_u64() && f["address"].is_string());
    let r = last(&lines);
    assert_eq!(r["event"], "result");
    assert_eq!(r["devices"].as_array().unwrap().len(), 4);
    // Human table.
    let out = w.zpair(&["discover", "--listen", "1", "--announce", &announce]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("MODE") && table.contains(&w.device_id(1).to_string()), "{table}");

    let id = w.device_id(2).to_string();
    let out = w.zpair(&["pair", "wired", "--json", "--device", &id, "--code", &w.setup_code(2), "--announce", &announce]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(last(&json_lines(&out.stdout))["mode"], "wired");
    w.assert_activated(2, Mode::Wired);

    // Cellular: the QR code read from the air.
    let out = w.zpair(&["bind-qr", "--json", "--device", &w.device_id(3).to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let r = json_lines(&out.stdout);
    let r = last(&r);
    assert_eq!((r["mode"].as_str(), r["confirmed_by"].as_str()), (Some("cellular"), Some("cloud")));
    assert!(r["token_id"].is_string());
    w.assert_activated(3, Mode::Cellular);

    // devices, unbind.
    let out = w.zpair(&["devices", "--json"]);
    let r = json_lines(&out.stdout);
    let list = last(&r)["devices"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    for d in &list {
        for k in ["device_id", "product_id", "cloud_device_id", "status", "activated_at_ms", "mode", "fw_version", "factory_reset"] {
            assert!(d.get(k).is_some(), "{k} in {d}");
        }
        assert_eq!(d["status"], "activated");
    }
    let out = w.zpair(&["unbind", &id]);
    assert_eq!(out.status.code(), Some(0));
    let out = w.zpair(&["devices", "--json"]);
    assert_eq!(last(&json_lines(&out.stdout))["devices"].as_array().unwrap().len(), 1);
}

#[test]
fn a_wrong_setup_code_exits_4_and_nothing_found_exits_3() {
    let w = World::new(Options { devices: 1, ..Default::default() });
    let _dev = w.start_device(0, Mode::Ble, |_| {});
    let right: u32 = w.setup_code(0).parse().unwrap();
    let wrong = if right == 20_202_021 { 20_202_022 } else { 20_202_021 };
    let out = w.zpair(&["pair", "ble", "--json", "--code", &wrong.to_string(), "--wifi-ssid", SSID, "--wifi-pass", common::PASSWORD]);
    assert_eq!(out.status.code(), Some(4));
    let l = json_lines(&out.stdout);
    assert_eq!(last(&l)["error"], "wrong_setup_code");
    let out = w.zpair(&["pair", "softap", "--discover-timeout", "1", "--code", "20202021", "--wifi-ssid", SSID, "--wifi-pass", common::PASSWORD]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no SoftAP"));
}

#[test]
fn configuration_usage_and_cloud_failures_have_their_exit_codes() {
    let w = World::new(Options { devices: 1, ..Default::default() });
    // No API key.
    let cfg = w.dir.path().join("nokey.toml");
    std::fs::write(&cfg, format!("cloud_url = \"{}\"\nca_cert = \"{}\"\n", w.url, w.dir.path().join("cloud/ca.pem").display())).unwrap();
    let out = w.zpair_env(&["devices"], &[("ZPAIR_CONFIG", cfg.to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(9));
    assert!(String::from_utf8_lossy(&out.stderr).contains("zpair user create"));
    let out = w.zpair(&["devices", "--api-key", "zpk_unknown"]);
    assert_eq!(out.status.code(), Some(9));
    // Bad arguments.
    assert_eq!(w.zpair(&["pair", "ble", "--code", "12"]).status.code(), Some(2));
    assert_eq!(w.zpair(&["pair", "carrier-pigeon"]).status.code(), Some(2));
    assert_eq!(w.zpair(&["pair", "ble", "--payload", "ZP:NOPE"]).status.code(), Some(2));
    // The cloud is down.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = w.zpair(&["token", "--json", "--cloud", &format!("https://localhost:{port}")]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(last(&json_lines(&out.stdout))["error"], "cloud_unreachable");
    // token: id and lifetime, not the token.
    let out = w.zpair(&["token", "--json"]);
    let t = json_lines(&out.stdout);
    assert!(last(&t)["token_id"].is_string() && last(&t).get("token").is_none());
}

#[test]
fn factory_new_user_create_completions_and_help() {
    let w = World::new(Options { devices: 1, ..Default::default() });
    let out_dir = w.dir.path().join("batch");
    let out = w.zpair(&["factory", "new", "--json", "--count", "2", "--product", "7", "--out", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let r = json_lines(&out.stdout);
    let r = last(&r);
    let devs = r["devices"].as_array().unwrap();
    assert_eq!(devs.len(), 2);
    assert!(devs[0]["setup_payload"].as_str().unwrap().starts_with("ZP:"));
    assert!(devs[0]["manual_code"].is_string() && devs[0]["factory_file"].is_string());
    assert!(out_dir.join("manifest.json").exists());
    // Human: payloads and QR codes are shown (that is what the command is for).
    let out = w.zpair(&["factory", "new", "--count", "1", "--out", out_dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("setup payload ZP:") && text.contains('█'));

    // A new user: the key lands in the config file, not on the screen.
    let cfg = w.dir.path().join("fresh.toml");
    std::fs::write(&cfg, format!("cloud_url = \"{}\"\nca_cert = \"{}\"\n", w.url, w.dir.path().join("cloud/ca.pem").display())).unwrap();
    let out = w.zpair_env(&["user", "create", "--name", "ann"], &[("ZPAIR_CONFIG", cfg.to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let saved = std::fs::read_to_string(&cfg).unwrap();
    assert!(saved.contains("api_key = \"zpk_"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("zpk_"));
    let out = w.zpair_env(&["devices", "--json"], &[("ZPAIR_CONFIG", cfg.to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(0));

    let out = w.zpair(&["completions", "bash"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("zpair"));
    let out = w.zpair(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Exit codes:") && help.contains("zpair demo"));
}
