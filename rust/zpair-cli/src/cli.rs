//! The `zpair` command line (clap derive): parsing, configuration precedence, output, exit
//! codes. `main.rs` only calls [`main`].

use crate::air::{default_air_dir, parse_device_id, Air};
use crate::cloud::{Cloud, CloudSettings};
use crate::commission::{security_name, ConfirmedBy};
use crate::config::{self, Config};
use crate::error::{CliError, ExitClass, EXIT_CODES_HELP};
use crate::events::{Event, Human, JsonLines, Observer, Step};
use crate::link::AnnounceListener;
use crate::run::{self, PairJob};
use crate::setup::SetupSource;
use crate::wifi;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;
use zpair_core::types::{Mode, Modes, ProductId};

const ABOUT: &str = "zpair: pair devices and activate them in the cloud — over SoftAP, BLE, wired Ethernet or cellular.";

const LONG_ABOUT: &str = "\
zpair: pair devices and activate them in the cloud — over SoftAP, BLE, wired Ethernet or
cellular — with one secure flow (SPAKE2+ with the setup code on the device label).

The whole thing on one machine, in under a minute (cloud, four simulated devices, four modes):
  zpair demo

Against a running cloud and simulated or real devices:
  zpair factory new --count 2 --import     # identities, setup codes, QR codes, into the cloud
  zpair cloud serve &                      # the reference cloud (saves its address to the config)
  zpair user create                        # an account; the API key goes to the config file
  zpair discover                           # what is waiting to be paired
  zpair pair ble --payload ZP:... --wifi-ssid HomeNet --wifi-pass '...'
  zpair pair wired --manual 1655-2020-20211
  zpair bind-qr ZP:...                     # cellular: bind the QR code the device shows
  zpair devices

Configuration: ~/.config/zpair/config.toml (cloud_url, ca_cert, api_key, region, air,
announce); flags win over environment variables (ZPAIR_*), which win over the file.
Secrets (Wi-Fi passwords, setup codes, tokens, API keys) are never printed or logged, except
by `factory new` (which exists to show setup payloads) and by an explicit --reveal.";

/// `zpair`.
#[derive(Debug, Parser)]
#[command(name = "zpair", version, about = ABOUT, long_about = LONG_ABOUT, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    cmd: Cmd,
}

/// Options of every command.
#[derive(Debug, Args)]
struct Global {
    /// One JSON object per line on stdout (events, then the result or the error), stable field names.
    #[arg(long, global = true)]
    json: bool,
    /// Configuration file [default: ~/.config/zpair/config.toml].
    #[arg(long, global = true, env = "ZPAIR_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    /// The simulated air directory [default: $XDG_RUNTIME_DIR/zpair-air or /tmp/zpair-air-$UID].
    #[arg(long, global = true, env = "ZPAIR_AIR", value_name = "DIR")]
    air: Option<PathBuf>,
    /// The cloud's base URL (e.g. https://localhost:8443).
    #[arg(long, global = true, env = "ZPAIR_CLOUD", value_name = "URL")]
    cloud: Option<String>,
    /// The CA certificate (PEM) the cloud's TLS certificate chains to.
    #[arg(long, global = true, env = "ZPAIR_CA", value_name = "PATH")]
    ca: Option<PathBuf>,
    /// Your API key (better: let `zpair user create` save it to the config file).
    #[arg(long, global = true, env = "ZPAIR_API_KEY", hide_env_values = true, value_name = "KEY")]
    api_key: Option<String>,
    /// The region to request activation tokens for [default: eu].
    #[arg(long, global = true, env = "ZPAIR_REGION", value_name = "RR")]
    region: Option<String>,
}

/// The transports a session can run over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SessionMode {
    /// The device's access point (TCP on its AP address).
    Softap,
    /// Bluetooth LE GATT.
    Ble,
    /// Wired Ethernet (UDP on the LAN; no Wi-Fi settings needed).
    Wired,
}

impl SessionMode {
    fn mode(self) -> Mode {
        match self {
            SessionMode::Softap => Mode::SoftAp,
            SessionMode::Ble => Mode::Ble,
            SessionMode::Wired => Mode::Wired,
        }
    }
}

/// Wi-Fi modes (a scan goes through the device's radio).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WifiMode {
    /// The device's access point.
    Softap,
    /// Bluetooth LE GATT.
    Ble,
}

#[derive(Debug, Clone, Args)]
struct Which {
    /// The device id (16 hex digits, as in `zpair discover`).
    #[arg(long, value_name = "ID")]
    device: Option<String>,
    /// SoftAP only: the device's AP name (zpair-XXXX).
    #[arg(long, value_name = "SSID")]
    ssid: Option<String>,
    /// The setup code (8 digits) from the label.
    #[arg(long, value_name = "N", conflicts_with_all = ["payload", "manual"])]
    code: Option<String>,
    /// The QR code's text (ZP:...): names the device, no --device needed.
    #[arg(long, value_name = "ZP:...", conflicts_with = "manual")]
    payload: Option<String>,
    /// The manual pairing code from the label (DDDD-CCCC-CCCCK).
    #[arg(long, value_name = "CODE")]
    manual: Option<String>,
    /// Seconds to look for the device.
    #[arg(long, default_value_t = 15, value_name = "S")]
    discover_timeout: u64,
    /// Where wired announcements arrive [default: 0.0.0.0:5541].
    #[arg(long, env = "ZPAIR_ANNOUNCE", value_name = "ADDR")]
    announce: Option<String>,
    /// BLE: the ATT MTU to ask for (23..517).
    #[arg(long, default_value_t = crate::link::DEFAULT_MTU, value_name = "N")]
    mtu: u16,
}

#[derive(Debug, Clone, Args)]
struct WifiArgs {
    /// The Wi-Fi network the device joins (see `zpair scan` for what it sees).
    #[arg(long, value_name = "SSID")]
    wifi_ssid: Option<String>,
    /// Its password (or ZPAIR_WIFI_PASS; asked for on a terminal when missing).
    #[arg(long, env = "ZPAIR_WIFI_PASS", hide_env_values = true, value_name = "PASS")]
    wifi_pass: Option<String>,
    /// Its security.
    #[arg(long, value_name = "open|wpa2|wpa2-wpa3|wpa3")]
    security: Option<String>,
    /// The network does not broadcast its name.
    #[arg(long)]
    hidden: bool,
    /// Use the network this computer is on (Linux: nmcli or iwgetid).
    #[arg(long, conflicts_with = "wifi_ssid")]
    host_network: bool,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// List devices waiting to be paired: BLE adverts, SoftAPs, wired announcements, cellular QR codes.
    #[command(after_help = "Examples:\n  zpair discover\n  zpair discover --listen 3 --json")]
    Discover {
        /// Seconds to listen for wired announcements.
        #[arg(long, default_value_t = 2, value_name = "S")]
        listen: u64,
        /// Where wired announcements arrive [default: 0.0.0.0:5541].
        #[arg(long, env = "ZPAIR_ANNOUNCE", value_name = "ADDR")]
        announce: Option<String>,
    },
    /// Pair a device and activate it: secure session, credentials, network, cloud.
    #[command(after_help = "\
Examples:
  zpair pair ble --payload ZP:... --wifi-ssid HomeNet --wifi-pass 'correct horse'
  zpair pair softap --ssid zpair-6677 --code 20202021 --wifi-ssid HomeNet --security wpa3
  zpair pair ble --manual 1655-2020-20211 --host-network
  zpair pair wired --device 0011223344556677 --code 20202021
  zpair pair ble --payload ZP:... --wifi-ssid HomeNet --json      # scripts

Without --wifi-ssid on a terminal, the device scans and you pick the network.
A wrong Wi-Fi password, a network not found or no DHCP lease is reported as such, and the
device's pairing window stays open: run the command again with the right settings.")]
    Pair {
        /// softap, ble or wired.
        mode: SessionMode,
        #[command(flatten)]
        which: Which,
        #[command(flatten)]
        wifi: WifiArgs,
        /// Seconds from the first packet to activated.
        #[arg(long, default_value_t = 180, value_name = "S")]
        timeout: u64,
    },
    /// Ask the device which Wi-Fi networks it sees (to pick one for `pair`).
    #[command(after_help = "Examples:\n  zpair scan ble --payload ZP:...\n  zpair scan softap --ssid zpair-6677 --code 20202021")]
    Scan {
        /// softap or ble.
        mode: WifiMode,
        #[command(flatten)]
        which: Which,
    },
    /// Cellular: bind the QR code a device shows, then wait until it activated.
    #[command(after_help = "\
Examples:
  zpair bind-qr ZP:...
  zpair bind-qr --device 0011223344556677     # read the QR from the simulated air")]
    BindQr {
        /// The QR code's text (ZP:...).
        payload: Option<String>,
        /// Read the QR code of this device from the simulated air instead.
        #[arg(long, value_name = "ID", conflicts_with = "payload")]
        device: Option<String>,
        /// Seconds to wait for the activation.
        #[arg(long, default_value_t = 120, value_name = "S")]
        timeout: u64,
    },
    /// List your devices as the cloud knows them.
    Devices,
    /// Remove a device from your account.
    Unbind {
        /// The device id (16 hex digits).
        id: String,
    },
    /// User accounts.
    #[command(subcommand)]
    User(UserCmd),
    /// Request an activation token (shows its id and lifetime; the token only with --reveal).
    Token {
        /// Restrict it to this product.
        #[arg(long, value_name = "P")]
        product: Option<u32>,
        /// Print the token itself on stdout.
        #[arg(long)]
        reveal: bool,
    },
    /// The reference cloud.
    #[command(subcommand)]
    Cloud(CloudCmd),
    /// Factory data.
    #[command(subcommand)]
    Factory(FactoryCmd),
    /// Everything on one machine: cloud, four simulated devices, one pairing per mode.
    #[command(after_help = "Exits 0 only if all four devices are activated and the cloud's database agrees.")]
    Demo(crate::demo::DemoArgs),
    /// Print shell completions.
    #[command(after_help = "Example:\n  zpair completions bash > ~/.local/share/bash-completion/completions/zpair")]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
enum UserCmd {
    /// Create a user; its API key is saved to the config file (never printed unless --reveal).
    Create {
        /// Display name.
        #[arg(long, default_value = "")]
        name: String,
        /// Do not save the key to the config file.
        #[arg(long)]
        no_save: bool,
        /// Print the API key on stdout.
        #[arg(long)]
        reveal: bool,
    },
}

#[derive(Debug, Subcommand)]
enum CloudCmd {
    /// Run the cloud (until Ctrl-C); saves its address and CA to the config file.
    #[command(after_help = "Example:\n  zpair cloud serve --data-dir ./cloud-data --import batch/manifest.json")]
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// Database and TLS material [default: ~/.local/share/zpair/cloud].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Plain HTTP instead of TLS (tests only).
        #[arg(long)]
        insecure_http: bool,
        /// Import a factory manifest first.
        #[arg(long, value_name = "MANIFEST")]
        import: Option<PathBuf>,
        /// Do not write cloud_url / ca_cert to the config file.
        #[arg(long)]
        no_save: bool,
    },
    /// Import a factory manifest into a cloud's database.
    Import {
        /// The manifest (manifest.json from `zpair factory new`).
        manifest: PathBuf,
        /// The cloud's data directory [default: ~/.local/share/zpair/cloud].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum FactoryCmd {
    /// Generate device identities: manifest.json for the cloud, one factory file per device,
    /// and each device's setup payload, manual code and QR code (shown).
    #[command(after_help = "Example:\n  zpair factory new --count 4 --product 23120 --out batch --import")]
    New {
        /// How many devices.
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// Product id.
        #[arg(long, default_value_t = 23120)]
        product: u32,
        /// Modes printed in the payload: comma separated softap,ble,wired,cellular or all.
        #[arg(long, default_value = "all")]
        modes: String,
        /// Output directory.
        #[arg(long, default_value = "zpair-batch")]
        out: PathBuf,
        /// Also import the manifest into the cloud's data directory (--data-dir).
        #[arg(long)]
        import: bool,
        /// The cloud's data directory for --import [default: ~/.local/share/zpair/cloud].
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Do not draw the QR codes.
        #[arg(long)]
        no_qr: bool,
    },
}

/// Resolved settings of one invocation.
pub struct Ctx {
    json: bool,
    config_path: PathBuf,
    config: Config,
    air: Air,
    cloud: CloudSettings,
}

impl Ctx {
    fn cloud(&self) -> Result<Cloud, CliError> {
        Cloud::new(self.cloud.clone())
    }

    fn observer(&self) -> Box<dyn Observer> {
        if self.json {
            Box::new(JsonLines::new(std::io::stdout()))
        } else {
            Box::new(Human::new())
        }
    }

    fn announce(&self, flag: Option<&str>) -> Result<SocketAddr, CliError> {
        let s = flag.map(str::to_owned).or_else(|| self.config.announce.clone()).unwrap_or_else(|| "0.0.0.0:5541".into());
        s.parse().map_err(|_| CliError::usage(format!("`{s}` is not an address:port"), "e.g. --announce 0.0.0.0:5541"))
    }
}

fn default_data_dir() -> PathBuf {
    let base = match std::env::var_os("XDG_DATA_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), |h| PathBuf::from(h).join(".local/share")),
    };
    base.join("zpair").join("cloud")
}

fn resolve(g: &Global) -> Result<Ctx, CliError> {
    let config_path = g.config.clone().unwrap_or_else(config::default_path);
    let config = Config::load(&config_path)?;
    let air = Air::new(g.air.clone().or_else(|| config.air.clone()).unwrap_or_else(default_air_dir));
    let url = g.cloud.clone().or_else(|| config.cloud_url.clone()).unwrap_or_default();
    let ca_path = g.ca.clone().or_else(|| config.ca_cert.clone());
    let ca_pem = match &ca_path {
        Some(p) if !url.starts_with("http://") => Some(std::fs::read(p).map_err(|e| {
            CliError::config(format!("cannot read the cloud's CA certificate {}: {e}", p.display()), "check --ca / ca_cert")
        })?),
        _ => None,
    };
    let api_key = g.api_key.clone().or_else(|| config.api_key.clone()).map(Zeroizing::new);
    let region = g.region.clone().or_else(|| config.region.clone()).unwrap_or_else(|| "eu".into());
    Ok(Ctx { json: g.json, config_path, air, cloud: CloudSettings { url, ca_pem, api_key, region }, config })
}

/// Runs the command line; returns the exit code.
pub fn main<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = e.exit_code();
            let _ = e.print();
            return code;
        }
    };
    let json = cli.global.json;
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            report_error(json, &e);
            e.exit_code()
        }
    }
}

fn report_error(json: bool, e: &CliError) {
    if json {
        let mut j = JsonLines::new(std::io::stdout());
        j.event(&Event::error(e));
    } else {
        eprintln!("{} {}", console::style("✘").red().bold(), e.message);
        if !e.hint.is_empty() {
            eprintln!("  → {}", e.hint);
        }
    }
}

fn result(ctx: &Ctx, obs: &mut dyn Observer, v: serde_json::Value, human: impl FnOnce()) {
    if ctx.json {
        obs.event(&Event::result(v));
    } else {
        human();
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    if let Cmd::Completions { shell } = cli.cmd {
        let mut cmd = Cli::command();
        clap_complete::generate(shell, &mut cmd, "zpair", &mut std::io::stdout());
        return Ok(());
    }
    let ctx = resolve(&cli.global)?;
    match cli.cmd {
        Cmd::Discover { listen, announce } => discover(&ctx, listen, announce.as_deref()),
        Cmd::Pair { mode, which, wifi, timeout } => pair(&ctx, mode, &which, &wifi, timeout),
        Cmd::Scan { mode, which } => scan(&ctx, mode, &which),
        Cmd::BindQr { payload, device, timeout } => bind_qr(&ctx, payload, device, timeout),
        Cmd::Devices => devices(&ctx),
        Cmd::Unbind { id } => unbind(&ctx, &id),
        Cmd::User(UserCmd::Create { name, no_save, reveal }) => user_create(&ctx, &name, no_save, reveal),
        Cmd::Token { product, reveal } => token(&ctx, product, reveal),
        Cmd::Cloud(CloudCmd::Serve { listen, data_dir, insecure_http, import, no_save }) => {
            cloud_serve(&ctx, listen, data_dir.unwrap_or_else(default_data_dir), insecure_http, import, no_save)
        }
        Cmd::Cloud(CloudCmd::Import { manifest, data_dir }) => {
            let n = import_manifest(&manifest, &data_dir.unwrap_or_else(default_data_dir))?;
            let mut obs = ctx.observer();
            result(&ctx, obs.as_mut(), json!({"imported": n.0, "unchanged": n.1}), || {
                println!("imported {} devices ({} already present)", n.0, n.1)
            });
            Ok(())
        }
        Cmd::Factory(FactoryCmd::New { count, product, modes, out, import, data_dir, no_qr }) => {
            factory_new(&ctx, count, product, &modes, &out, import.then(|| data_dir.unwrap_or_else(default_data_dir)), no_qr)
        }
        Cmd::Demo(args) => crate::demo::run(&args, ctx.json),
        Cmd::Completions { .. } => Ok(()),
    }
}

// ------------------------------------------------------------------------------------------

fn discover(ctx: &Ctx, listen: u64, announce: Option<&str>) -> Result<(), CliError> {
    let mut obs = ctx.observer();
    obs.event(&Event::started(Step::Discover, format!("air {} and wired announcements", ctx.air.dir().display())));
    let mut found = crate::discover::ble(&ctx.air);
    found.extend(crate::discover::softaps(&ctx.air));
    found.extend(crate::discover::cellular(&ctx.air));
    let addr = ctx.announce(announce)?;
    match AnnounceListener::bind(addr) {
        Ok(l) => {
            let deadline = std::time::Instant::now() + Duration::from_secs(listen);
            found.extend(crate::discover::wired(&l, deadline, |_| false).map_err(|e| CliError::io("listening", &e))?);
        }
        Err(e) => obs.event(&Event::note(format!("cannot listen for wired announcements on {addr}: {e}"))),
    }
    obs.event(&Event::done(Step::Discover, format!("{} devices", found.len())));
    if ctx.json {
        for f in &found {
            obs.event(&f.event());
        }
    }
    let list: Vec<serde_json::Value> = found
        .iter()
        .map(|f| json!({"mode": f.mode.name(), "device": f.device.to_string(), "product": f.product.map(|p| p.0), "state": f.state, "address": f.address()}))
        .collect();
    result(ctx, obs.as_mut(), json!({"devices": list}), || {
        if found.is_empty() {
            println!("No device is waiting to be paired (air: {}).", ctx.air.dir().display());
            return;
        }
        println!("{:<9} {:<17} {:>8} {:>5}  {:<13} WHERE", "MODE", "DEVICE", "PRODUCT", "DISC", "STATE");
        for f in &found {
            println!(
                "{:<9} {:<17} {:>8} {:>5}  {:<13} {}",
                f.mode.name(),
                f.device.to_string(),
                f.product.map_or_else(|| "-".into(), |p| p.0.to_string()),
                zpair_core::payload::discriminator_of(f.device),
                f.state.as_deref().unwrap_or("-"),
                f.address()
            );
        }
    });
    Ok(())
}

fn job_of(mode: Mode, which: &Which) -> Result<PairJob, CliError> {
    let source = SetupSource::from_args(which.payload.as_deref(), which.manual.as_deref(), which.code.as_deref())?;
    if let Some(modes) = source.modes() {
        if !modes.contains(mode.bit()) {
            return Err(CliError::usage(
                format!("the device's QR payload says it does not pair over {}", mode.name()),
                "use one of the modes on its label",
            ));
        }
    }
    let device = which
        .device
        .as_deref()
        .map(|d| parse_device_id(d).ok_or_else(|| CliError::usage(format!("`{d}` is not a device id"), "16 hex digits, as shown by `zpair discover`")))
        .transpose()?;
    if let (Some(d), Some(p)) = (device, source.device()) {
        if d != p {
            return Err(CliError::usage(format!("--device {d} is not the device of the payload ({p})"), "drop --device"));
        }
    }
    let mut job = PairJob::new(mode, source);
    job.device = device;
    job.ssid = which.ssid.clone();
    job.discover_wait = Duration::from_secs(which.discover_timeout);
    job.connect.mtu = which.mtu;
    Ok(job)
}

fn listener_for(ctx: &Ctx, mode: Mode, which: &Which) -> Result<Option<AnnounceListener>, CliError> {
    if mode != Mode::Wired {
        return Ok(None);
    }
    let addr = ctx.announce(which.announce.as_deref())?;
    AnnounceListener::bind(addr).map(Some).map_err(|e| {
        CliError::config(format!("cannot listen for wired announcements on {addr}: {e}"), "give another --announce address")
    })
}

fn ask(prompt: &str, secret: bool) -> Option<Zeroizing<String>> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return None;
    }
    let term = console::Term::stderr();
    let _ = term.write_str(prompt);
    let line = if secret { term.read_secure_line() } else { term.read_line() };
    line.ok().map(Zeroizing::new)
}

/// The command to run again after a network failure, with placeholders for every secret.
fn retry_command(mode: Mode, job: &PairJob, device: zpair_core::types::DeviceId, ssid: &str, e: &CliError) -> String {
    let ssid_part = match e.pair_error() {
        Some(zpair_core::error::PairError::ApNotFound) => "--wifi-ssid <the right network>".to_owned(),
        _ => format!("--wifi-ssid {}", shell_word(ssid)),
    };
    let pass_part = match e.pair_error() {
        Some(zpair_core::error::PairError::WrongPassword | zpair_core::error::PairError::InvalidPassphrase) => {
            " --wifi-pass <the right password>"
        }
        _ => " --wifi-pass <password>",
    };
    let wifi = if mode.needs_wifi() { format!(" {ssid_part}{pass_part}") } else { String::new() };
    format!("zpair pair {} --device {device} {}{wifi}", mode.name(), job.source.placeholder())
}

fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn wifi_of(ctx: &Ctx, job: &PairJob, a: &WifiArgs, listener: Option<&AnnounceListener>) -> Result<Option<zpair_core::types::WifiCredentials>, CliError> {
    if !job.mode.needs_wifi() {
        if a.wifi_ssid.is_some() || a.host_network {
            return Err(CliError::usage("wired devices need no Wi-Fi settings", "drop --wifi-ssid / --host-network"));
        }
        return Ok(None);
    }
    let security = a.security.as_deref().map(wifi::parse_security).transpose()?;
    let (ssid, known_pass, sec) = if a.host_network {
        let h = wifi::host_network()?;
        (h.ssid.clone(), h.passphrase.clone(), security.or(h.security))
    } else if let Some(s) = &a.wifi_ssid {
        (s.clone(), None, security)
    } else {
        // Let the device scan and the person pick.
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() || ctx.json {
            return Err(CliError::usage(
                "no Wi-Fi network given",
                "give --wifi-ssid (see `zpair scan` for what the device sees) or --host-network",
            ));
        }
        let mut obs = Human::new();
        let (_, entries) = run::scan(job, &ctx.air, listener, &mut obs)?;
        if entries.is_empty() {
            return Err(CliError::not_found("the device sees no Wi-Fi network", "check the access point, or give --wifi-ssid --hidden"));
        }
        for (i, e) in entries.iter().enumerate() {
            eprintln!("  {:>2}) {:<32} {:>4} dBm  ch {:<3} {}", i + 1, String::from_utf8_lossy(e.ssid.as_bytes()), e.rssi, e.channel, security_name(e.security));
        }
        let pick = ask("Network number: ", false).and_then(|s| s.trim().parse::<usize>().ok()).filter(|n| (1..=entries.len()).contains(n));
        let Some(n) = pick else { return Err(CliError::usage("no network chosen", "")) };
        let e = &entries[n - 1];
        (String::from_utf8_lossy(e.ssid.as_bytes()).into_owned(), None, security.or(e.security))
    };
    let pass: Option<Zeroizing<String>> = match (a.wifi_pass.clone().map(Zeroizing::new), known_pass) {
        (Some(p), _) => Some(p),
        (None, Some(p)) => Some(p),
        (None, None) if sec != Some(zpair_core::types::Security::Open) => ask(&format!("Password of {ssid}: "), true),
        _ => None,
    };
    wifi::credentials(&ssid, pass.as_deref().map(String::as_str), sec, a.hidden).map(Some)
}

fn pair(ctx: &Ctx, mode: SessionMode, which: &Which, wa: &WifiArgs, timeout: u64) -> Result<(), CliError> {
    let mode = mode.mode();
    let mut job = job_of(mode, which)?;
    job.timeouts.deadline = Duration::from_secs(timeout);
    let listener = listener_for(ctx, mode, which)?;
    job.wifi = wifi_of(ctx, &job, wa, listener.as_ref())?;
    let cloud = ctx.cloud()?;
    let mut obs = ctx.observer();
    let ssid = job.wifi.as_ref().map(|w| String::from_utf8_lossy(w.ssid.as_bytes()).into_owned()).unwrap_or_default();
    match run::pair(&job, &ctx.air, listener.as_ref(), &cloud, obs.as_mut()) {
        Ok(out) => {
            let v = json!({
                "device": out.device.to_string(),
                "mode": out.mode.name(),
                "state": "activated",
                "confirmed_by": out.confirmed_by,
                "cloud_device_id": out.cloud_device_id,
                "elapsed_ms": out.elapsed.as_millis() as u64,
            });
            result(ctx, obs.as_mut(), v, || {
                let by = if out.confirmed_by == ConfirmedBy::Cloud { ", confirmed by the cloud" } else { "" };
                println!(
                    "{} Device {} activated over {} in {:.2} s{by} (cloud id {}).",
                    console::style("✔").green().bold(),
                    out.device,
                    out.mode.name(),
                    out.elapsed.as_secs_f64(),
                    out.cloud_device_id.as_deref().unwrap_or("-")
                );
            });
            Ok(())
        }
        Err(e) => {
            drop(obs);
            let device = job.device.or(job.source.device());
            let e = match (e.class, device) {
                (ExitClass::Network, Some(d)) => {
                    let cmd = retry_command(mode, &job, d, &ssid, &e);
                    e.with_hint(format!("run `{cmd}`"))
                }
                _ => e,
            };
            Err(e)
        }
    }
}

fn scan(ctx: &Ctx, mode: WifiMode, which: &Which) -> Result<(), CliError> {
    let mode = match mode {
        WifiMode::Softap => Mode::SoftAp,
        WifiMode::Ble => Mode::Ble,
    };
    let job = job_of(mode, which)?;
    let mut obs = ctx.observer();
    let (device, entries) = run::scan(&job, &ctx.air, None, obs.as_mut())?;
    let list: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            json!({
                "ssid": String::from_utf8_lossy(e.ssid.as_bytes()),
                "bssid": e.bssid.0.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"),
                "rssi": e.rssi,
                "channel": e.channel,
                "security": security_name(e.security),
            })
        })
        .collect();
    result(ctx, obs.as_mut(), json!({"device": device.to_string(), "networks": list}), || {
        println!("{:<32} {:>5} {:>4}  SECURITY", "SSID", "RSSI", "CH");
        for e in &entries {
            println!("{:<32} {:>5} {:>4}  {}", String::from_utf8_lossy(e.ssid.as_bytes()), e.rssi, e.channel, security_name(e.security));
        }
    });
    Ok(())
}

fn bind_qr(ctx: &Ctx, payload: Option<String>, device: Option<String>, timeout: u64) -> Result<(), CliError> {
    let payload = match (payload, device) {
        (Some(p), _) => Zeroizing::new(p),
        (None, Some(d)) => {
            let id = parse_device_id(&d).ok_or_else(|| CliError::usage(format!("`{d}` is not a device id"), ""))?;
            let qr = ctx.air.cellular().into_iter().find(|q| parse_device_id(&q.device) == Some(id)).ok_or_else(|| {
                CliError::not_found(format!("device {id} shows no QR code (air: {})", ctx.air.dir().display()), "check that it is powered and not yet activated")
            })?;
            if !qr.modem.is_empty() && qr.modem != "attached" {
                let why = crate::error::by_name(&qr.modem).map_or_else(|| qr.modem.clone(), |e| crate::error::describe(e).to_owned());
                eprintln!("  note: the device's modem is not attached ({why}); it fetches its token once it is");
            }
            Zeroizing::new(qr.payload.clone())
        }
        (None, None) => return Err(CliError::usage("give the QR code's text (ZP:...) or --device ID", "")),
    };
    let cloud = ctx.cloud()?;
    let mut obs = ctx.observer();
    let out = run::bind_qr(&payload, &cloud, Duration::from_secs(timeout), obs.as_mut())?;
    let v = json!({
        "device": out.device.to_string(),
        "mode": "cellular",
        "state": "activated",
        "confirmed_by": out.confirmed_by,
        "cloud_device_id": out.cloud_device_id,
        "token_id": out.token_id,
        "elapsed_ms": out.elapsed.as_millis() as u64,
    });
    result(ctx, obs.as_mut(), v, || {
        println!(
            "{} Device {} activated over cellular in {:.2} s (cloud id {}).",
            console::style("✔").green().bold(),
            out.device,
            out.elapsed.as_secs_f64(),
            out.cloud_device_id.as_deref().unwrap_or("-")
        )
    });
    Ok(())
}

fn devices(ctx: &Ctx) -> Result<(), CliError> {
    let cloud = ctx.cloud()?;
    let list = cloud.devices()?;
    let mut obs = ctx.observer();
    let v = serde_json::to_value(&list).unwrap_or_default();
    result(ctx, obs.as_mut(), json!({"devices": v}), || {
        if list.is_empty() {
            println!("No devices on this account yet.");
            return;
        }
        println!("{:<17} {:>8}  {:<10} {:<9} {:<8} CLOUD ID", "DEVICE", "PRODUCT", "STATUS", "MODE", "FW");
        for d in &list {
            println!(
                "{:<17} {:>8}  {:<10} {:<9} {:<8} {}",
                d.device_id,
                d.product_id,
                serde_json::to_value(d.status).ok().and_then(|s| s.as_str().map(str::to_owned)).unwrap_or_default(),
                d.mode.as_deref().unwrap_or("-"),
                d.fw_version.as_deref().unwrap_or("-"),
                d.cloud_device_id.as_deref().unwrap_or("-")
            );
        }
    });
    Ok(())
}

fn unbind(ctx: &Ctx, id: &str) -> Result<(), CliError> {
    let d = parse_device_id(id).ok_or_else(|| CliError::usage(format!("`{id}` is not a device id"), "16 hex digits"))?;
    ctx.cloud()?.unbind(d)?;
    let mut obs = ctx.observer();
    result(ctx, obs.as_mut(), json!({"device": d.to_string(), "unbound": true}), || println!("Device {d} removed from your account."));
    Ok(())
}

fn user_create(ctx: &Ctx, name: &str, no_save: bool, reveal: bool) -> Result<(), CliError> {
    if no_save && !reveal {
        return Err(CliError::usage("the API key would be lost", "drop --no-save, or add --reveal to print it"));
    }
    let mut cloud_settings = ctx.cloud.clone();
    cloud_settings.api_key = None;
    let (id, key) = Cloud::new(cloud_settings)?.create_user(name)?;
    if !no_save {
        let mut c = ctx.config.clone();
        c.api_key = Some(key.to_string());
        if c.cloud_url.is_none() {
            c.cloud_url = Some(ctx.cloud.url.clone());
        }
        c.save(&ctx.config_path)?;
    }
    if reveal {
        println!("{}", key.as_str());
        return Ok(());
    }
    let mut obs = ctx.observer();
    let path = ctx.config_path.display().to_string();
    result(ctx, obs.as_mut(), json!({"user_id": id, "api_key_saved_to": path}), || {
        println!("User {id} created; its API key is saved in {path}.")
    });
    Ok(())
}

fn token(ctx: &Ctx, product: Option<u32>, reveal: bool) -> Result<(), CliError> {
    let t = ctx.cloud()?.request_token(product.map(ProductId))?;
    if reveal {
        println!("{}", String::from_utf8_lossy(t.token.expose()));
        return Ok(());
    }
    let mut obs = ctx.observer();
    result(ctx, obs.as_mut(), json!({"token_id": t.token_id, "expires_in_s": t.expires_in_s}), || {
        println!("Token {} issued, valid {} s (use --reveal to print it).", t.token_id, t.expires_in_s)
    });
    Ok(())
}

fn import_manifest(manifest: &std::path::Path, data_dir: &std::path::Path) -> Result<(u64, u64), CliError> {
    use zpair_cloud::store::Store;
    let devices = zpair_cloud::manifest::read_manifest(manifest)
        .map_err(|e| CliError::usage(format!("{e}"), "give a manifest.json written by `zpair factory new`"))?;
    std::fs::create_dir_all(data_dir).map_err(|e| CliError::io("creating the data directory", &e))?;
    let store = zpair_cloud::sqlite::SqliteStore::open(&zpair_cloud::server::db_path(data_dir), 1)
        .map_err(|e| CliError::new(ExitClass::Internal, "store", format!("opening the cloud database: {e}"), ""))?;
    let now = zpair_cloud::clock::Clock::now_ms(&zpair_cloud::SystemClock);
    let r = store
        .import_devices(&devices, now)
        .map_err(|e| CliError::new(ExitClass::Internal, "store", format!("importing: {e}"), ""))?;
    Ok((r.added as u64, r.unchanged as u64))
}

fn cloud_serve(ctx: &Ctx, listen: SocketAddr, data_dir: PathBuf, insecure: bool, import: Option<PathBuf>, no_save: bool) -> Result<(), CliError> {
    if let Some(m) = &import {
        let (a, u) = import_manifest(m, &data_dir)?;
        eprintln!("imported {a} devices ({u} already present)");
    }
    let rt = tokio::runtime::Runtime::new().map_err(|e| CliError::io("starting the runtime", &e))?;
    rt.block_on(async {
        let mut cfg = zpair_cloud::Config::new(listen, &data_dir);
        cfg.tls = !insecure;
        cfg.region = ctx.cloud.region.clone();
        let cloud = zpair_cloud::Cloud::start(cfg).await.map_err(|e| {
            CliError::new(ExitClass::Config, "cloud_start", format!("the cloud could not start on {listen}: {e}"), "is another one running? use --listen")
        })?;
        let url = cloud.base_url();
        let ca = cloud.ca_pem_path().map(std::path::Path::to_path_buf);
        if !no_save {
            let mut c = ctx.config.clone();
            c.cloud_url = Some(url.clone());
            c.ca_cert = ca.clone();
            if c.region.is_none() {
                c.region = Some(ctx.cloud.region.clone());
            }
            c.save(&ctx.config_path)?;
        }
        let mut obs = ctx.observer();
        let v = json!({"url": url, "ca_cert": ca, "data_dir": data_dir, "config": ctx.config_path});
        result(ctx, obs.as_mut(), v, || {
            println!("zpair cloud listening on {url}");
            if let Some(ca) = &ca {
                println!("  CA certificate: {}", ca.display());
            }
            println!("  data: {}", data_dir.display());
            if !no_save {
                println!("  saved to {} (cloud_url, ca_cert)", ctx.config_path.display());
            }
            println!("Stop with Ctrl-C.");
        });
        let trigger = cloud.shutdown_trigger();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            trigger.graceful_shutdown(Some(Duration::from_secs(5)));
        });
        cloud.wait().await.map_err(|e| CliError::io("serving", &e))
    })
}

fn parse_modes(s: &str) -> Result<Modes, CliError> {
    let mut m = Modes::empty();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        m = m.union(match part {
            "all" => Modes::ALL,
            "softap" => Modes::SOFTAP,
            "ble" => Modes::BLE,
            "wired" => Modes::WIRED,
            "cellular" => Modes::CELLULAR,
            other => return Err(CliError::usage(format!("unknown mode `{other}`"), "softap, ble, wired, cellular or all")),
        });
    }
    if m.is_empty() {
        return Err(CliError::usage("no mode given", "e.g. --modes ble,wired"));
    }
    Ok(m)
}

/// The QR code of a payload as terminal text.
pub fn qr_text(payload: &str) -> Option<String> {
    use zpair_core::payload::qr::{max_text_len, QrMatrix, QrTextStyle};
    let qr = QrMatrix::encode(payload).ok()?;
    let mut buf = Zeroizing::new(vec![0u8; max_text_len(QrTextStyle::HalfBlocksInverted, 2)]);
    qr.render_text(QrTextStyle::HalfBlocksInverted, 2, &mut buf).ok().map(str::to_owned)
}

fn factory_new(ctx: &Ctx, count: usize, product: u32, modes: &str, out: &std::path::Path, import: Option<PathBuf>, no_qr: bool) -> Result<(), CliError> {
    if count == 0 || count > 100_000 {
        return Err(CliError::usage("--count must be 1 to 100000", ""));
    }
    let modes = parse_modes(modes)?;
    let batch = zpair_cloud::manifest::generate_batch(&mut zpair_cloud::crypto::HostCrypto, ProductId(product), count, modes)
        .map_err(|_| CliError::new(ExitClass::Internal, "crypto", "generating identities failed", ""))?;
    let manifest = zpair_cloud::manifest::write_batch(&batch, out).map_err(|e| CliError::io(&format!("writing {}", out.display()), &e))?;
    let imported = import.as_ref().map(|d| import_manifest(&manifest, d)).transpose()?;
    let mut obs = ctx.observer();
    let devices: Vec<serde_json::Value> = batch
        .devices
        .iter()
        .map(|d| {
            let payload = d.entry.setup_payload.clone().unwrap_or_default();
            let manual = zpair_core::payload::parse(&payload).ok().and_then(|p| {
                let mut b = [0u8; 32];
                zpair_core::payload::render_manual(&p.manual_code(), &mut b).ok().map(str::to_owned)
            });
            json!({
                "device_id": d.entry.device_id,
                "product_id": d.entry.product_id,
                "setup_payload": payload,
                "manual_code": manual,
                "factory_file": out.join("devices").join(format!("{}.json", d.entry.device_id)),
            })
        })
        .collect();
    let v = json!({"manifest": manifest, "imported": imported.map(|x| x.0), "devices": devices});
    result(ctx, obs.as_mut(), v.clone(), || {
        println!("{} devices of product {product} → {}", count, out.display());
        println!("  cloud manifest: {} (no setup codes inside)", manifest.display());
        if let Some((a, u)) = imported {
            println!("  imported into the cloud: {a} new, {u} already present");
        } else {
            println!("  import it: zpair cloud import {}", manifest.display());
        }
        for d in v["devices"].as_array().into_iter().flatten() {
            let payload = d["setup_payload"].as_str().unwrap_or_default();
            println!();
            println!("device {}  setup payload {}  manual code {}", d["device_id"].as_str().unwrap_or(""), payload, d["manual_code"].as_str().unwrap_or("-"));
            println!("  factory file: {}", d["factory_file"].as_str().unwrap_or(""));
            if !no_qr {
                if let Some(t) = qr_text(payload) {
                    print!("{t}");
                }
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_teaches_examples_and_exit_codes() {
        let mut cmd = Cli::command();
        let help = cmd.render_long_help().to_string();
        assert!(help.contains("zpair demo"));
        assert!(help.contains("Exit codes:"));
        let pair = cmd.find_subcommand_mut("pair").unwrap().render_long_help().to_string();
        assert!(pair.contains("zpair pair ble --payload"));
    }

    #[test]
    fn retry_commands_hold_no_secret() {
        let job = job_of(
            Mode::Ble,
            &Which {
                device: None,
                ssid: None,
                code: Some("20202021".into()),
                payload: None,
                manual: None,
                discover_timeout: 1,
                announce: None,
                mtu: 247,
            },
        )
        .unwrap();
        let e = CliError::pair(zpair_core::error::PairError::WrongPassword, "x");
        let cmd = retry_command(Mode::Ble, &job, zpair_core::types::DeviceId(1), "Home Net", &e);
        assert_eq!(cmd, "zpair pair ble --device 0000000000000001 --code <setup code> --wifi-ssid 'Home Net' --wifi-pass <the right password>");
        assert!(!cmd.contains("20202021"));
    }

    #[test]
    fn modes_parse() {
        assert_eq!(parse_modes("ble,wired").unwrap(), Modes::BLE.union(Modes::WIRED));
        assert_eq!(parse_modes("all").unwrap(), Modes::ALL);
        assert!(parse_modes("x").is_err());
        assert!(parse_modes("").is_err());
    }
}
