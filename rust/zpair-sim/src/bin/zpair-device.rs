//! `zpair-device`: one simulated zpair device as a process.
//!
//! Logs go to stderr (`tracing`, `--log` / `RUST_LOG`), never with a secret. Stdout is the
//! device's "display": its timeline, and the QR code in cellular mode; `--json-events` prints
//! one JSON object per event instead.

use clap::{Parser, ValueEnum};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use zpair_core::machine::ConfigParams;
use zpair_core::msg::FirmwareVersion;
use zpair_core::types::Modes;
use zpair_sim::{Air, CellNetwork, CrashPoint, SimConfig, SimDevice, SimEvent, StorageMode, WiredLink};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LinkArg {
    Up,
    NoLink,
    DhcpTimeout,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CellArg {
    Registers,
    Denies,
    NoAnswer,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StorageArg {
    Atomic,
    InPlace,
}

/// A simulated zpair device: the real device engine over loopback transports.
#[derive(Debug, Parser)]
#[command(name = "zpair-device", version)]
struct Args {
    /// Factory data: a factory record (`devices/<id>.json`) or the binary 154-byte layout.
    #[arg(long)]
    factory: PathBuf,
    /// The device's data directory (its storage slots).
    #[arg(long)]
    data_dir: PathBuf,
    /// The air directory [default: $XDG_RUNTIME_DIR/zpair-air or /tmp/zpair-air-$UID].
    #[arg(long)]
    air: Option<PathBuf>,
    /// The cloud's base URL (default endpoint).
    #[arg(long, default_value = "https://localhost:8443")]
    cloud: String,
    /// The cloud's CA certificate (PEM).
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Enabled modes (comma separated: softap, ble, wired, cellular) [default: the factory's].
    #[arg(long, value_delimiter = ',')]
    modes: Option<Vec<String>>,
    /// The device's largest ATT MTU (23..=517).
    #[arg(long, default_value_t = 247)]
    mtu: u16,
    /// Where wired announcements go.
    #[arg(long, default_value = "127.0.0.1:5541")]
    announce: SocketAddr,
    /// Interval between wired announcements (ms).
    #[arg(long, default_value_t = 1000)]
    announce_interval_ms: u64,
    /// Address of the SoftAP's TCP listener.
    #[arg(long, default_value = "127.0.0.1:0")]
    softap_addr: SocketAddr,
    /// Address of the wired UDP session socket.
    #[arg(long, default_value = "127.0.0.1:0")]
    wired_addr: SocketAddr,
    /// Pairing window (s).
    #[arg(long, default_value_t = 900)]
    window_s: u64,
    /// Session idle timeout (s).
    #[arg(long, default_value_t = 60)]
    session_idle_s: u64,
    /// Deadline from credentials to activated (s).
    #[arg(long, default_value_t = 300)]
    deadline_s: u64,
    /// Failed handshakes before the window locks.
    #[arg(long, default_value_t = 5)]
    max_attempts: u8,
    /// Lockout duration (s).
    #[arg(long, default_value_t = 300)]
    lockout_s: u64,
    /// First activation retry delay (ms).
    #[arg(long, default_value_t = 1000)]
    backoff_base_ms: u64,
    /// Largest activation retry delay (ms).
    #[arg(long, default_value_t = 30_000)]
    backoff_cap_ms: u64,
    /// Wi-Fi join time (ms).
    #[arg(long, default_value_t = 200)]
    join_delay_ms: u64,
    /// Time a silent DHCP server is waited for (ms).
    #[arg(long, default_value_t = 2000)]
    dhcp_timeout_ms: u64,
    /// Wi-Fi scan time (ms).
    #[arg(long, default_value_t = 100)]
    scan_delay_ms: u64,
    /// Separate radios for SoftAP and station (the AP stays up while joining).
    #[arg(long)]
    dual_radio: bool,
    /// The Ethernet link (wired mode).
    #[arg(long, value_enum, default_value = "up")]
    wired_link: LinkArg,
    /// The modem's IMEI.
    #[arg(long, default_value = "356938035643809")]
    imei: String,
    /// The SIM's ICCID.
    #[arg(long, default_value = "8944500102198304826")]
    iccid: String,
    /// No SIM in the modem.
    #[arg(long)]
    no_sim: bool,
    /// How the cellular network treats registrations.
    #[arg(long, value_enum, default_value = "registers")]
    cell_network: CellArg,
    /// Modem attach time (ms).
    #[arg(long, default_value_t = 200)]
    attach_delay_ms: u64,
    /// How storage slot files are written.
    #[arg(long, value_enum, default_value = "atomic")]
    storage: StorageArg,
    /// Debug: SIGKILL this process at `action:N`, `state:NAME` or `write:N`.
    #[arg(long)]
    crash_at: Option<CrashPoint>,
    /// Print events as JSON lines on stdout (no QR art).
    #[arg(long)]
    json_events: bool,
    /// Do not print the QR code.
    #[arg(long)]
    no_qr: bool,
    /// Exit (status 0) once the device is activated and committed.
    #[arg(long)]
    exit_when_activated: bool,
    /// Log filter (tracing `EnvFilter` syntax); `RUST_LOG` is used when absent.
    #[arg(long)]
    log: Option<String>,
}

fn parse_modes(names: &[String]) -> Result<Modes, String> {
    let mut m = Modes::empty();
    for n in names {
        m = m.union(match n.trim() {
            "softap" => Modes::SOFTAP,
            "ble" => Modes::BLE,
            "wired" => Modes::WIRED,
            "cellular" => Modes::CELLULAR,
            "all" => Modes::ALL,
            other => return Err(format!("unknown mode {other:?}")),
        });
    }
    Ok(m)
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn main() {
    let args = Args::parse();
    let filter = match &args.log {
        Some(f) => tracing_subscriber::EnvFilter::new(f),
        None => tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
    if let Err(e) = run(args) {
        tracing::error!(error = %e, "zpair-device failed");
        eprintln!("zpair-device: {e}");
        std::process::exit(2);
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let factory = zpair_sim::factory::load(&args.factory)?;
    let air_dir = args.air.clone().unwrap_or_else(Air::default_dir);
    let mut cfg = SimConfig::new(factory, &args.data_dir, &air_dir, &args.cloud);
    if let Some(m) = &args.modes {
        cfg.modes = parse_modes(m)?;
    }
    if let Some(ca) = &args.ca {
        cfg.ca_pem = Some(std::fs::read(ca).map_err(|e| format!("--ca {}: {e}", ca.display()))?);
    }
    cfg.machine = ConfigParams {
        window_ms: args.window_s.saturating_mul(1000),
        session_idle_ms: args.session_idle_s.saturating_mul(1000),
        deadline_ms: args.deadline_s.saturating_mul(1000),
        max_attempts: args.max_attempts,
        lockout_ms: args.lockout_s.saturating_mul(1000),
        backoff_base_ms: args.backoff_base_ms,
        backoff_cap_ms: args.backoff_cap_ms,
        modes: cfg.modes,
    };
    cfg.firmware = FirmwareVersion { major: 1, minor: 0, patch: 0 };
    cfg.ble_max_mtu = args.mtu;
    cfg.announce_to = args.announce;
    cfg.announce_interval_ms = args.announce_interval_ms;
    cfg.softap_addr = args.softap_addr;
    cfg.wired_addr = args.wired_addr;
    cfg.join_delay_ms = args.join_delay_ms;
    cfg.dhcp_timeout_ms = args.dhcp_timeout_ms;
    cfg.scan_delay_ms = args.scan_delay_ms;
    cfg.single_radio = !args.dual_radio;
    cfg.wired_link = match args.wired_link {
        LinkArg::Up => WiredLink::Up,
        LinkArg::NoLink => WiredLink::NoLink,
        LinkArg::DhcpTimeout => WiredLink::DhcpTimeout,
    };
    cfg.modem.imei = args.imei.clone();
    cfg.modem.iccid = (!args.no_sim).then(|| args.iccid.clone());
    cfg.modem.network = match args.cell_network {
        CellArg::Registers => CellNetwork::Registers,
        CellArg::Denies => CellNetwork::Denies,
        CellArg::NoAnswer => CellNetwork::NoAnswer,
    };
    cfg.modem.attach_delay_ms = args.attach_delay_ms;
    cfg.storage_mode = match args.storage {
        StorageArg::Atomic => StorageMode::Atomic,
        StorageArg::InPlace => StorageMode::InPlace,
    };
    cfg.crash = args.crash_at;
    let air = Air::new(&air_dir)?;

    // SIGINT/SIGTERM: stop cleanly (the device's radio files leave the air). SIGKILL stays a
    // power cut.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let handle = SimDevice::start(cfg)?;
    let events = handle.subscribe();
    for e in handle.timeline() {
        show(&args, &air, &handle, &e);
    }
    let mut out = std::io::stdout();
    loop {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            tracing::info!("signal: stopping");
            handle.stop();
            return Ok(());
        }
        match events.recv_timeout(Duration::from_millis(100)) {
            Ok(e) => {
                show(&args, &air, &handle, &e);
                if args.exit_when_activated && matches!(e.event, SimEvent::Done { .. }) {
                    handle.stop();
                    return Ok(());
                }
                if matches!(e.event, SimEvent::Stopped) {
                    return Ok(());
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let _ = out.flush();
            }
            Err(_) => return Ok(()),
        }
    }
}

fn show(args: &Args, air: &Air, handle: &zpair_sim::SimHandle, e: &zpair_sim::TimelineEntry) {
    let mut out = std::io::stdout().lock();
    if args.json_events {
        let state = handle.state().name();
        let _ = writeln!(
            out,
            "{{\"at_ms\":{},\"event\":{},\"state\":{}}}",
            e.at_ms,
            json_str(&format!("{:?}", e.event)),
            json_str(state)
        );
    } else {
        let _ = writeln!(out, "[{:>7} ms] {:?}", e.at_ms, e.event);
        if matches!(e.event, SimEvent::QrShown) && !args.no_qr {
            let device = format!("{:016x}", handle.device_id().0);
            if let Some(qr) = air.cellular_qrs().into_iter().find(|q| q.device == device) {
                if let Some(art) = zpair_sim::qr_text(&qr.payload) {
                    let _ = writeln!(out, "Scan to bind this device (IMEI {}):\n{art}", qr.imei);
                }
            }
        }
    }
    let _ = out.flush();
}
