//! Whole commissioning jobs, as the CLI and the demo run them: discover → token → connect →
//! pair → activated, a Wi-Fi scan through the device, and the cellular bind.

use crate::air::Air;
use crate::cloud::{Cloud, Token};
use crate::commission::{self, ConfirmedBy, PairOutcome, Target, Timeouts, Watch};
use crate::discover::{self, ConnectOptions, Endpoint, Found, Selector};
use crate::error::{CliError, ExitClass};
use crate::events::{Event, Observer, Step};
use crate::link::{AnnounceListener, Link, LinkError, SoftApLink};
use crate::setup::SetupSource;
use std::time::{Duration, Instant};
use zpair_core::error::PairError;
use zpair_core::msg::ScanEntry;
use zpair_core::types::{DeviceId, Mode, WifiCredentials};

/// What `zpair pair` does.
#[derive(Debug, Clone)]
pub struct PairJob {
    /// The transport.
    pub mode: Mode,
    /// The setup code (and what it says about the device).
    pub source: SetupSource,
    /// `--device` / `--ssid`.
    pub device: Option<DeviceId>,
    /// `--ssid` (SoftAP).
    pub ssid: Option<String>,
    /// The Wi-Fi to join (SoftAP, BLE).
    pub wifi: Option<WifiCredentials>,
    /// How long to look for the device.
    pub discover_wait: Duration,
    /// Connection settings.
    pub connect: ConnectOptions,
    /// Flow timeouts.
    pub timeouts: Timeouts,
}

impl PairJob {
    /// A job with default timeouts.
    pub fn new(mode: Mode, source: SetupSource) -> Self {
        PairJob {
            mode,
            source,
            device: None,
            ssid: None,
            wifi: None,
            discover_wait: Duration::from_secs(15),
            connect: ConnectOptions::default(),
            timeouts: Timeouts::default(),
        }
    }

    fn selector(&self) -> Selector {
        Selector { device: self.device, ssid: self.ssid.clone(), source: Some(self.source.clone()) }
    }
}

fn connect_error(e: LinkError, f: &Found) -> CliError {
    match e {
        LinkError::Closed | LinkError::Timeout => CliError::new(
            ExitClass::NotFound,
            "connect_failed",
            format!("could not connect to device {} at {}", f.device, f.address()),
            "the device may have closed its pairing window; open it again and start again",
        ),
        other => CliError::new(
            ExitClass::Connection,
            "connect_failed",
            format!("could not connect to device {} at {}: {other}", f.device, f.address()),
            "start again",
        ),
    }
}

/// Looks for the device of a job; more than one candidate is an error unless the setup code
/// is a manual code (whose discriminator may be shared: they are tried in turn).
pub fn discover_for(
    mode: Mode,
    sel: &Selector,
    air: &Air,
    listener: Option<&AnnounceListener>,
    wait: Duration,
    obs: &mut dyn Observer,
) -> Result<Vec<Found>, CliError> {
    obs.event(&Event::started(Step::Discover, format!("{} over {}", sel.describe(), mode.name())));
    let found = discover::find(mode, air, listener, sel, wait)?;
    let manual = matches!(sel.source, Some(SetupSource::Manual(_)));
    if found.len() > 1 && !manual && !sel.is_exact() {
        let ids: Vec<String> = found.iter().map(|f| f.device.to_string()).collect();
        return Err(CliError::usage(
            format!("{} devices are pairing over {}: {}", found.len(), mode.name(), ids.join(", ")),
            "choose one with --device ID (or give its QR payload)",
        ));
    }
    let detail = if found.len() == 1 {
        format!("{} at {}", found[0].device, found[0].address())
    } else {
        format!("{} candidates", found.len())
    };
    obs.event(&Event::done(Step::Discover, detail));
    Ok(found)
}

/// Pairs and activates the device of `job`: see the [module documentation](self).
pub fn pair(
    job: &PairJob,
    air: &Air,
    listener: Option<&AnnounceListener>,
    cloud: &Cloud,
    obs: &mut dyn Observer,
) -> Result<PairOutcome, CliError> {
    pair_with_token(job, air, listener, cloud, None, obs)
}

/// [`pair`] with a token fetched beforehand (`None`: fetch one now).
pub fn pair_with_token(
    job: &PairJob,
    air: &Air,
    listener: Option<&AnnounceListener>,
    cloud: &Cloud,
    token: Option<Token>,
    obs: &mut dyn Observer,
) -> Result<PairOutcome, CliError> {
    if job.mode == Mode::Cellular {
        return Err(CliError::usage("cellular devices are not paired over a session", "use `zpair bind-qr`"));
    }
    if job.mode.needs_wifi() && job.wifi.is_none() {
        return Err(CliError::usage(
            format!("{} pairing needs the Wi-Fi network to join", job.mode.name()),
            "give --wifi-ssid and --wifi-pass, or --host-network",
        ));
    }
    let sel = job.selector();
    let found = discover_for(job.mode, &sel, air, listener, job.discover_wait, obs)?;
    let product = job.source.product().or(found[0].product);
    let token = match token {
        Some(t) => t,
        None => {
            obs.event(&Event::started(Step::Token, format!("from {}", cloud.settings().url)));
            let t = cloud.request_token(product)?;
            obs.event(&Event::done(Step::Token, format!("token {} valid {} s", t.token_id, t.expires_in_s)));
            t
        }
    };
    let wifi = if job.mode.needs_wifi() { job.wifi.clone() } else { None };
    let provision = commission::provision(wifi, token.token.clone(), cloud.endpoint());
    let n = found.len();
    for (i, f) in found.iter().enumerate() {
        let target = Target { device: f.device, product: f.product.or(product), code: job.source.setup_code().clone() };
        let mut watch = cloud.watch(f.device);
        if let Endpoint::SoftAp { ssid, .. } = &f.endpoint {
            let (air, ssid, timeout) = (air.clone(), ssid.clone(), job.connect.timeout);
            watch.reconnect = Some(Box::new(move || {
                let ap = air.softap(&ssid)?;
                let addr = std::net::ToSocketAddrs::to_socket_addrs(&(ap.addr.as_str(), ap.port)).ok()?.next()?;
                SoftApLink::connect(addr, timeout).ok().map(|l| Box::new(l) as Box<dyn Link>)
            }));
        }
        obs.event(&Event::started(Step::Connect, f.address()));
        let mut link = discover::connect(f, &job.connect).map_err(|e| connect_error(e, f))?;
        obs.event(&Event::done(Step::Connect, link.describe()));
        match commission::pair(link.as_mut(), &target, &provision, &job.timeouts, Some(&mut watch as &mut dyn Watch), obs) {
            Err(e) if i + 1 < n && e.pair_error() == Some(PairError::WrongSetupCode) => {
                obs.event(&Event::note(format!("device {} is not the one of this code; trying the next", f.device)));
            }
            Ok(mut out) => {
                if out.cloud_device_id.is_none() {
                    out.cloud_device_id = cloud.device(f.device).ok().flatten().and_then(|d| d.cloud_device_id);
                }
                return Ok(out);
            }
            Err(e) => return Err(e),
        }
    }
    Err(CliError::pair(PairError::WrongSetupCode, "no device in range accepted the code"))
}

/// A Wi-Fi scan through the device of `job` (no token needed).
pub fn scan(
    job: &PairJob,
    air: &Air,
    listener: Option<&AnnounceListener>,
    obs: &mut dyn Observer,
) -> Result<(DeviceId, Vec<ScanEntry>), CliError> {
    let sel = job.selector();
    let found = discover_for(job.mode, &sel, air, listener, job.discover_wait, obs)?;
    let f = &found[0];
    let target = Target { device: f.device, product: f.product, code: job.source.setup_code().clone() };
    obs.event(&Event::started(Step::Connect, f.address()));
    let mut link = discover::connect(f, &job.connect).map_err(|e| connect_error(e, f))?;
    obs.event(&Event::done(Step::Connect, link.describe()));
    let entries = commission::scan(link.as_mut(), &target, &job.timeouts, obs)?;
    Ok((f.device, entries))
}

/// The outcome of a cellular bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindOutcome {
    /// The device.
    pub device: DeviceId,
    /// The token queued for it (id only).
    pub token_id: String,
    /// The cloud's id of the activated device.
    pub cloud_device_id: Option<String>,
    /// From the bind to activated.
    pub elapsed: Duration,
    /// Who confirmed it (always the cloud).
    pub confirmed_by: ConfirmedBy,
}

/// Cellular: binds the scanned payload in the cloud, then waits until the device fetched the
/// token (bind-poll) and activated.
pub fn bind_qr(payload: &str, cloud: &Cloud, deadline: Duration, obs: &mut dyn Observer) -> Result<BindOutcome, CliError> {
    let source = SetupSource::payload(payload)?;
    let device = source.device().ok_or_else(|| CliError::usage("the payload names no device", ""))?;
    let start = Instant::now();
    let mut watch = cloud.watch(device);
    obs.event(&Event::started(Step::Bind, format!("device {device} at {}", cloud.settings().url)));
    let b = cloud.bind_payload(payload)?;
    obs.event(&Event::done(Step::Bind, format!("token {} queued for the device", b.token_id)));
    obs.event(&Event::started(Step::Activating, "waiting for the device to fetch its token and activate"));
    let end = start + deadline;
    loop {
        if let Some(id) = watch.activated(device)? {
            obs.event(&Event::done(Step::Activating, "activated (confirmed by the cloud)"));
            return Ok(BindOutcome {
                device,
                token_id: b.token_id,
                cloud_device_id: Some(id),
                elapsed: start.elapsed(),
                confirmed_by: ConfirmedBy::Cloud,
            });
        }
        if Instant::now() >= end {
            return Err(CliError::timeout(
                format!("device {device} did not activate within {} s of the bind", deadline.as_secs()),
                "check the device's mobile coverage; it fetches the token when it next polls the cloud",
            ));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}
