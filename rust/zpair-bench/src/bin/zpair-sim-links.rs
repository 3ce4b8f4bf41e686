//! Bytes and round trips of real pairings with the simulated device (`zpair-sim`): the same
//! device engine behind its host transports (SoftAP/TCP, BLE over `SOCK_SEQPACKET` with GATT
//! fragments at a given ATT MTU, wired/UDP) over loopback, paired by the commissioner library
//! (`zpair-cli`) against the reference cloud, read from the device's own link counters
//! ([`zpair_sim::LinkStats`]).
//!
//! ```text
//! zpair-sim-links WORKDIR        # prints one TSV line per pairing
//! ```
//! Columns: `mode mtu round_trips packets_rx packets_tx frames_rx frames_tx bytes_rx bytes_tx`
//! (rx = app to device). BLE bytes count each ATT PDU as fragment + 3 (no Write Responses, no
//! CCCD), SoftAP bytes include the 2-byte length prefixes, wired bytes the 3-byte datagram
//! headers: see `zpair_sim::LinkStats`.

use std::path::Path;
use std::time::Duration;

use zeroize::Zeroizing;
use zpair_cli::air::Air as AirView;
use zpair_cli::cloud::{Cloud, CloudSettings};
use zpair_cli::events::{Event, Observer};
use zpair_cli::link::AnnounceListener;
use zpair_cli::run::{self, PairJob};
use zpair_cli::setup::SetupSource;
use zpair_core::crypto::Crypto;
use zpair_core::types::{Mode, ProductId};

struct Quiet;

impl Observer for Quiet {
    fn event(&mut self, _: &Event) {}
}

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: zpair-sim-links WORKDIR");
        std::process::exit(2);
    };
    match run(Path::new(&dir)) {
        Ok(lines) => print!("{lines}"),
        Err(e) => {
            eprintln!("zpair-sim-links: {e}");
            std::process::exit(1);
        }
    }
}

fn run(workdir: &Path) -> Result<String, String> {
    let s = |e: &dyn std::fmt::Display| e.to_string();
    let _ = std::fs::remove_dir_all(workdir);
    std::fs::create_dir_all(workdir).map_err(|e| s(&e))?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| s(&e))?;
    let cfg = zpair_cloud::Config::new("127.0.0.1:0".parse().map_err(|e| s(&e))?, workdir.join("cloud"));
    let handle = rt.block_on(zpair_cloud::Cloud::start(cfg)).map_err(|e| s(&e))?;
    let url = handle.base_url();
    let ca_pem = std::fs::read(handle.ca_pem_path().ok_or("no CA")?).map_err(|e| s(&e))?;
    let anon = Cloud::new(CloudSettings { url: url.clone(), ca_pem: Some(ca_pem.clone()), api_key: None, region: "eu".into() })
        .map_err(|e| s(&e))?;
    let (_, api_key) = anon.create_user("bench").map_err(|e| s(&e))?;
    let cloud = Cloud::new(CloudSettings { url: url.clone(), ca_pem: Some(ca_pem.clone()), api_key: Some(api_key), region: "eu".into() })
        .map_err(|e| s(&e))?;

    let cases: [(Mode, u16); 4] = [(Mode::SoftAp, 0), (Mode::Ble, 247), (Mode::Ble, 23), (Mode::Wired, 0)];
    let batch = zpair_cloud::manifest::generate_batch(
        &mut zpair_cloud::crypto::HostCrypto,
        ProductId(0x5a50),
        cases.len(),
        zpair_core::types::Modes::ALL,
    )
    .map_err(|e| s(&e))?;
    let manifest = zpair_cloud::manifest::write_batch(&batch, &workdir.join("factory")).map_err(|e| s(&e))?;
    let ids = zpair_cloud::manifest::read_manifest(&manifest).map_err(|e| s(&e))?;
    use zpair_cloud::store::Store;
    handle.store().import_devices(&ids, zpair_cloud::clock::Clock::now_ms(&zpair_cloud::SystemClock)).map_err(|e| s(&e))?;

    // The air: one WPA2 network whose SSID and passphrase have the sizes of the comparison
    // scenario (10 and 12 bytes).
    let air_dir = workdir.join("air");
    let air = zpair_sim::Air::new(&air_dir).map_err(|e| s(&e))?;
    let mut pw = [0u8; 4];
    zpair_cloud::crypto::HostCrypto.fill_random(&mut pw).map_err(|e| format!("{e:?}"))?;
    let password = Zeroizing::new(format!("pw-{:02x}{:02x}{:02x}{:02x}x", pw[0], pw[1], pw[2], pw[3]));
    let ssid = std::str::from_utf8(zpair_bench::wire::SSID).map_err(|e| s(&e))?;
    air.set_access_points(&[zpair_sim::AccessPoint::wpa2(ssid, &password)]).map_err(|e| s(&e))?;
    let listener = AnnounceListener::bind("127.0.0.1:0".parse().map_err(|e| s(&e))?).map_err(|e| s(&e))?;
    let announce_to = listener.local_addr().map_err(|e| s(&e))?;
    let view = AirView::new(&air_dir);
    let wifi = zpair_cli::wifi::credentials(ssid, Some(&password), None, false).map_err(|e| s(&e))?;

    let mut out = String::new();
    for (i, ((mode, mtu), rec)) in cases.iter().zip(&batch.devices).enumerate() {
        let text = Zeroizing::new(serde_json::to_string(rec).map_err(|e| s(&e))?);
        let factory = zpair_sim::factory::from_record_json(&text).map_err(|e| s(&e))?;
        let mut sc = zpair_sim::SimConfig::new(factory, workdir.join(format!("device-{i}")), &air_dir, &url);
        sc.ca_pem = Some(ca_pem.clone());
        sc.modes = mode.bit();
        sc.announce_to = announce_to;
        sc.announce_interval_ms = 100;
        if *mtu != 0 {
            sc.ble_max_mtu = *mtu;
        }
        let dev = zpair_sim::SimDevice::start(sc).map_err(|e| s(&e))?;
        let payload = rec.entry.setup_payload.clone().unwrap_or_default();
        let mut job = PairJob::new(*mode, SetupSource::payload(&payload).map_err(|e| s(&e))?);
        job.wifi = mode.needs_wifi().then(|| wifi.clone());
        job.discover_wait = Duration::from_secs(10);
        job.timeouts.deadline = Duration::from_secs(30);
        let l = (*mode == Mode::Wired).then_some(&listener);
        let result = run::pair(&job, &view, l, &cloud, &mut Quiet);
        let st = dev.wait_for_state(zpair_core::machine::State::Activated, Duration::from_secs(30));
        let links = dev.links();
        dev.stop();
        result.map_err(|e| format!("{} pairing: {e}", mode.name()))?;
        st.map_err(|e| format!("{} device: {e}", mode.name()))?;
        let l = links.iter().find(|l| l.mode == *mode).ok_or(format!("{}: no link counters", mode.name()))?;
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            mode.name(),
            l.mtu.unwrap_or(0),
            l.round_trips,
            l.packets_rx,
            l.packets_tx,
            l.frames_rx,
            l.frames_tx,
            l.bytes_rx,
            l.bytes_tx
        ));
    }
    let _ = rt.block_on(handle.shutdown());
    Ok(out)
}
