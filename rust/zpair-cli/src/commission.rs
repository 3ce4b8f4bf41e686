//! The commissioner's pairing flow, one for every transport.
//!
//! ```text
//! app                                   device
//!  | PairRequest (SPAKE2+ shareP)   ->   |
//!  | <- PairResponse (shareV, confirmV)  |   the app checks confirmV: wrong code detected here
//!  | PairConfirm + Record(Provision) ->  |   credentials ride the third flight
//!  | <- Status(joining_network)          |
//!  | <- Status(activating) ...           |
//!  | <- Status(activated)  | Ack ->      |
//! ```
//!
//! [`pair`] runs it over any [`Link`], reports every step to an [`Observer`] and ends with the
//! device activated or with the precise [`CliError`] the device (or the cloud) gave. When the
//! link drops after the credentials were accepted — in SoftAP mode the device's single radio
//! leaves its AP to join the router — it follows the activation in the cloud through a
//! [`Watch`], and, when the AP comes back (the device rolled back and reopened its window),
//! reconnects to learn why it failed.
//!
//! [`scan`] asks the device for the Wi-Fi networks it sees.

use crate::error::{CliError, ExitClass};
use crate::events::{Event, Observer, Step};
use crate::link::{Link, LinkError};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;
use zpair_core::error::PairError;
use zpair_core::msg::{AppToDevice, DeviceToApp, PairState, Provision, ScanEntry, ScanRequest, Status};
use zpair_core::session::{self, AppSession, SessionError, MAX_PLAINTEXT_LEN};
use zpair_core::types::{ActivationToken, CloudEndpoint, DeviceId, Mode, ProductId, SetupCode, WifiCredentials};

/// The crypto provider of the app side (pure Rust).
pub type AppCrypto = zpair_cloud::crypto::HostCrypto;

/// The device to pair and its setup code. `Debug` shows no code.
#[derive(Clone)]
pub struct Target {
    /// The device's factory id.
    pub device: DeviceId,
    /// Its product, when known (restricts the activation token to it).
    pub product: Option<ProductId>,
    /// The setup code.
    pub code: SetupCode,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("device", &self.device).field("product", &self.product).finish_non_exhaustive()
    }
}

/// How long to wait for what.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// An answer to one request (handshake flights, queries).
    pub reply: Duration,
    /// The whole pairing, from the first packet to activated.
    pub deadline: Duration,
    /// On lossy links, ask for the status when nothing arrived for this long.
    pub status_poll: Duration,
    /// Interval of cloud polls after the link dropped.
    pub cloud_poll: Duration,
    /// Interval of reconnection attempts after the link dropped.
    pub reconnect_every: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            reply: Duration::from_secs(10),
            deadline: Duration::from_secs(180),
            status_poll: Duration::from_millis(1500),
            cloud_poll: Duration::from_millis(400),
            reconnect_every: Duration::from_millis(1500),
        }
    }
}

/// Who confirmed the activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfirmedBy {
    /// The device's final status over the pairing session.
    Device,
    /// The cloud's device list (the session had dropped).
    Cloud,
}

/// A successful pairing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairOutcome {
    /// The device.
    pub device: DeviceId,
    /// The mode.
    pub mode: Mode,
    /// Who confirmed it.
    pub confirmed_by: ConfirmedBy,
    /// The cloud's id of the device, when the cloud said it.
    pub cloud_device_id: Option<String>,
    /// From the first packet to activated.
    pub elapsed: Duration,
}

/// What the flow uses once the pairing session is gone.
pub trait Watch {
    /// Whether the cloud sees the device activated by this pairing (`Some(cloud id)`).
    fn activated(&mut self, device: DeviceId) -> Result<Option<String>, CliError>;
    /// A fresh link to the device, if it can be reached again (SoftAP: its AP is back).
    fn reconnect(&mut self) -> Option<Box<dyn Link>> {
        None
    }
}

/// The Provision message: Wi-Fi (SoftAP, BLE), token, endpoint and the app's clock.
pub fn provision(wifi: Option<WifiCredentials>, token: ActivationToken, endpoint: Option<CloudEndpoint>) -> Provision {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).ok();
    Provision { wifi, token: Some(token), endpoint, commit_deadline_s: None, unix_time_s: now }
}

/// Why receiving a message failed.
#[derive(Debug)]
pub enum RecvError {
    /// The transport failed (closed, timeout).
    Link(LinkError),
    /// The device sent an alert.
    Alert(PairError),
    /// The device sent something that does not decode or authenticate.
    Protocol(CliError),
}

fn protocol(e: SessionError, what: &str) -> CliError {
    CliError::pair(PairError::from(e), format!("{what}: {e}"))
}

fn link_failure(e: &LinkError, what: &str) -> CliError {
    match e {
        LinkError::Timeout => CliError::new(
            ExitClass::Connection,
            "no_answer",
            format!("the device did not answer {what}"),
            "check that the device is in range and its pairing window is open, then start again",
        ),
        LinkError::Closed => CliError::pair(PairError::Disconnected, format!("the device closed the connection {what}")),
        other => CliError::new(
            ExitClass::Connection,
            "link_failed",
            format!("the connection to the device failed {what}: {other}"),
            "start again",
        ),
    }
}

fn encode(msg: &AppToDevice) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let mut buf = Zeroizing::new(vec![0u8; zpair_core::msg::APP_TO_DEVICE_MAX_LEN]);
    let n = msg.encode(&mut buf).map_err(|e| {
        let p = PairError::from(e);
        CliError::pair(p, "the message could not be built")
    })?;
    buf.truncate(n);
    Ok(buf)
}

/// An established secure session over a link.
pub struct Session<'l> {
    link: &'l mut dyn Link,
    app: AppSession<AppCrypto>,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("link", &self.link.describe()).finish_non_exhaustive()
    }
}

impl<'l> Session<'l> {
    /// Runs the handshake with the setup code and sends `first` in the third flight. Returns
    /// the session and the device's answer to the confirmation (a status). Emits
    /// `step_done(handshake)` once the device's confirmation verified.
    pub fn open(
        link: &'l mut dyn Link,
        target: &Target,
        first: Option<&AppToDevice>,
        timeouts: &Timeouts,
        obs: &mut dyn Observer,
    ) -> Result<(Self, DeviceToApp), CliError> {
        let mode = link.mode();
        let mut app = AppSession::new(AppCrypto::default());
        let mut buf = Zeroizing::new(vec![0u8; zpair_core::frame::MAX_PACKET]);
        let n = app
            .start_with_setup_code(&target.code, target.device, mode, &mut buf)
            .map_err(|e| protocol(e, "the pairing request could not be built"))?;
        let response = match link.request(&buf[..n], timeouts.reply) {
            Ok(r) => r,
            Err(e) => {
                // A device that refuses the connection (busy, locked out, window closed) sends
                // an alert and closes: read it if it is there.
                if let Ok(packet) = link.recv(Duration::from_millis(300)) {
                    if let Ok(session::Packet::Alert(code)) = session::parse_packet(&packet) {
                        return Err(CliError::pair(code, format!("device {} refused the session", target.device)));
                    }
                }
                return Err(link_failure(&e, "to the pairing request"));
            }
        };
        let first = first.map(encode).transpose()?;
        let mut confirm = Zeroizing::new(vec![0u8; session::pair_confirm_len(Some(MAX_PLAINTEXT_LEN.min(600)))]);
        let n = match app.handle_pair_response(&response, first.as_deref().map(|v| v.as_slice()), &mut confirm) {
            Ok(n) => n,
            Err(SessionError::WrongSetupCode) => {
                let mut alert = [0u8; session::ALERT_LEN];
                if session::encode_alert(PairError::WrongSetupCode, &mut alert).is_ok() {
                    let _ = link.send(&alert);
                }
                return Err(CliError::pair(
                    PairError::WrongSetupCode,
                    format!("device {} did not prove knowledge of the setup code", target.device),
                ));
            }
            Err(SessionError::Peer(e)) => {
                return Err(CliError::pair(e, format!("device {} refused the session", target.device)));
            }
            Err(e) => return Err(protocol(e, "the device's pairing response was refused")),
        };
        obs.event(&Event::done(Step::Handshake, format!("SPAKE2+ session with {} ({})", target.device, link.describe())));
        if first.is_some() {
            obs.event(&Event::started(Step::Credentials, "sent with the handshake's third flight"));
        }
        let reply = link.request(&confirm[..n], timeouts.reply).map_err(|e| link_failure(&e, "to the session confirmation"))?;
        let mut s = Session { link, app };
        let msg = s.decode(&reply).map_err(|e| match e {
            RecvError::Alert(p) => CliError::pair(p, format!("device {} refused the session", target.device)),
            RecvError::Protocol(c) => c,
            RecvError::Link(l) => link_failure(&l, "after the handshake"),
        })?;
        Ok((s, msg))
    }

    fn decode(&mut self, packet: &[u8]) -> Result<DeviceToApp, RecvError> {
        let mut plain = Zeroizing::new(vec![0u8; zpair_core::frame::MAX_PACKET]);
        let n = match self.app.open(packet, &mut plain) {
            Ok(n) => n,
            Err(SessionError::Peer(e)) => return Err(RecvError::Alert(e)),
            Err(e) => return Err(RecvError::Protocol(protocol(e, "a message from the device was refused"))),
        };
        DeviceToApp::decode(&plain[..n]).map_err(|e| {
            RecvError::Protocol(CliError::pair(PairError::from(e), "a message from the device could not be decoded"))
        })
    }

    fn seal(&mut self, msg: &AppToDevice) -> Result<Vec<u8>, CliError> {
        let plain = encode(msg)?;
        let mut out = vec![0u8; session::record_len(plain.len())];
        let n = self.app.seal(&plain, &mut out).map_err(|e| protocol(e, "a message could not be sealed"))?;
        out.truncate(n);
        Ok(out)
    }

    /// Sends a message without waiting for an answer.
    pub fn send(&mut self, msg: &AppToDevice) -> Result<(), CliError> {
        let packet = self.seal(msg)?;
        self.link.send(&packet).map_err(|e| link_failure(&e, "while sending"))
    }

    /// Sends a message and returns the next message from the device (datagram links
    /// retransmit the request when nothing comes).
    pub fn request(&mut self, msg: &AppToDevice, timeout: Duration) -> Result<DeviceToApp, RecvError> {
        let packet = self.seal(msg).map_err(RecvError::Protocol)?;
        let reply = self.link.request(&packet, timeout).map_err(RecvError::Link)?;
        self.decode(&reply)
    }

    /// The next message from the device.
    pub fn recv(&mut self, timeout: Duration) -> Result<DeviceToApp, RecvError> {
        let packet = self.link.recv(timeout).map_err(RecvError::Link)?;
        self.decode(&packet)
    }

    /// The link's mode.
    pub fn mode(&self) -> Mode {
        self.link.mode()
    }
}

/// Where the app-side view of the pairing is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Credentials,
    Joining,
    Activating,
    Done,
}

impl Phase {
    fn step(self) -> Option<Step> {
        match self {
            Phase::Credentials => Some(Step::Credentials),
            Phase::Joining => Some(Step::Joining),
            Phase::Activating => Some(Step::Activating),
            Phase::Done => None,
        }
    }
}

struct Progress<'o> {
    phase: Phase,
    obs: &'o mut dyn Observer,
}

impl Progress<'_> {
    /// Finishes the steps before `to` and starts `to`.
    fn advance(&mut self, to: Phase, detail_done: &str) {
        while self.phase < to {
            let step = self.phase.step();
            let detail = match self.phase {
                Phase::Credentials => "accepted by the device",
                Phase::Joining => "network up",
                Phase::Activating => detail_done,
                Phase::Done => "",
            };
            if let Some(s) = step {
                self.obs.event(&Event::done(s, detail));
            }
            self.phase = match self.phase {
                Phase::Credentials => Phase::Joining,
                Phase::Joining => Phase::Activating,
                _ => Phase::Done,
            };
            let started = match self.phase {
                Phase::Joining => Some((Step::Joining, "the device joins the network")),
                Phase::Activating => Some((Step::Activating, "the device authenticates to the cloud with its token")),
                _ => None,
            };
            if let Some((s, d)) = started {
                self.obs.event(&Event::started(s, d));
            }
        }
    }
}

fn status_event(s: &Status) -> Event {
    Event::Status { state: s.state.name(), error: s.error.map(PairError::name), attempt: s.attempt }
}

/// What a status means for the flow.
enum Verdict {
    Continue,
    Activated,
    Failed(CliError),
    /// `SessionOpen` with an error: either the device's last error (sent when a session
    /// opens, followed at once by the answer to the credentials) or the refusal of the
    /// credentials (nothing follows).
    Refused(CliError, PairError),
}

fn judge(s: &Status, p: &mut Progress<'_>) -> Verdict {
    p.obs.event(&status_event(s));
    if let Some(e) = s.error {
        return match s.state {
            PairState::WindowOpen | PairState::RolledBack | PairState::Idle => {
                Verdict::Failed(CliError::pair(e, "the device reported").with_hint("its pairing window is open again"))
            }
            PairState::SessionOpen => Verdict::Refused(CliError::pair(e, "the device refused the credentials"), e),
            _ => {
                let retry = if s.attempt > 0 { format!(", attempt {}", u32::from(s.attempt) + 1) } else { String::new() };
                p.obs.event(&Event::note(format!("{}; the device retries{retry}", crate::error::describe(e))));
                Verdict::Continue
            }
        };
    }
    match s.state {
        PairState::CredentialsStaged => p.advance(Phase::Credentials, ""),
        PairState::JoiningNetwork => p.advance(Phase::Joining, ""),
        PairState::NetworkUp | PairState::Activating => p.advance(Phase::Activating, ""),
        PairState::Activated => {
            p.advance(Phase::Done, "activated");
            return Verdict::Activated;
        }
        PairState::WindowOpen | PairState::RolledBack => {
            return Verdict::Failed(CliError::new(
                ExitClass::Connection,
                "rolled_back",
                "the device gave up the pairing without saying why",
                "start again",
            ))
        }
        _ => {}
    }
    Verdict::Continue
}

/// Pairs the device on `link`: handshake with the setup code, `provision` in the third flight,
/// then the device's statuses until activated. See the [module documentation](self).
pub fn pair(
    link: &mut dyn Link,
    target: &Target,
    provision: &Provision,
    timeouts: &Timeouts,
    watch: Option<&mut dyn Watch>,
    obs: &mut dyn Observer,
) -> Result<PairOutcome, CliError> {
    let start = Instant::now();
    let deadline = start + timeouts.deadline;
    let mode = link.mode();
    let lossy = link.lossy();
    obs.event(&Event::started(Step::Handshake, format!("device {} with the setup code", target.device)));
    let msg = AppToDevice::Provision(provision.clone());
    let (mut s, first) = Session::open(link, target, Some(&msg), timeouts, obs)?;
    drop(msg);
    let mut p = Progress { phase: Phase::Credentials, obs };
    let outcome = |by, start: Instant| PairOutcome {
        device: target.device,
        mode,
        confirmed_by: by,
        cloud_device_id: None,
        elapsed: start.elapsed(),
    };
    let mut next = Ok(first);
    let mut last_heard = Instant::now();
    let mut refused: Option<(CliError, PairError)> = None;
    loop {
        if let Some((e, _)) = refused.take_if(|_| !matches!(next, Ok(DeviceToApp::Status(_)))) {
            return Err(e);
        }
        match next {
            Ok(DeviceToApp::Status(st)) => {
                last_heard = Instant::now();
                if let Some((_, last)) = refused.take() {
                    p.obs.event(&Event::note(format!("the device's previous attempt had failed: {}", crate::error::describe(last))));
                }
                match judge(&st, &mut p) {
                    Verdict::Continue => {}
                    Verdict::Activated => {
                        let _ = s.send(&AppToDevice::Ack);
                        return Ok(outcome(ConfirmedBy::Device, start));
                    }
                    Verdict::Failed(e) => return Err(e),
                    Verdict::Refused(e, code) => {
                        // Whatever answers the credentials follows at once, if anything.
                        refused = Some((e, code));
                        next = s.recv(timeouts.reply.min(Duration::from_millis(1500)));
                        continue;
                    }
                }
            }
            Ok(_) => {}
            Err(RecvError::Alert(e)) => return Err(CliError::pair(e, "the device ended the session")),
            Err(RecvError::Protocol(e)) => return Err(e),
            Err(RecvError::Link(LinkError::Timeout)) => {}
            Err(RecvError::Link(e)) => {
                // The link is gone. Credentials accepted: follow the activation elsewhere.
                let what = match p.phase {
                    Phase::Credentials => "before it accepted the credentials",
                    Phase::Joining => "while it joins the network",
                    _ => "while it activates",
                };
                match watch {
                    Some(w) if p.phase >= Phase::Joining => {
                        let why = if mode == Mode::SoftAp {
                            "it left its access point to join the network (one radio)"
                        } else {
                            "the connection dropped"
                        };
                        p.obs.event(&Event::note(format!("the device closed the session {what}: {why}; following the activation in the cloud")));
                        drop(s);
                        return follow_in_cloud(target, mode, w, timeouts, deadline, &mut p).map(|(by, id)| PairOutcome {
                            cloud_device_id: id,
                            ..outcome(by, start)
                        });
                    }
                    _ => return Err(link_failure(&e, what)),
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(CliError::timeout(
                format!("no final status from device {} within {} s", target.device, timeouts.deadline.as_secs()),
                "the device may still finish: check `zpair devices`, or start again",
            ));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        next = if lossy && last_heard.elapsed() >= timeouts.status_poll {
            last_heard = Instant::now();
            s.request(&AppToDevice::GetStatus, timeouts.reply.min(left))
        } else {
            s.recv(timeouts.status_poll.min(left))
        };
    }
}

/// After the link dropped: polls the cloud, and reconnects when the device can be reached again
/// to learn why it failed.
fn follow_in_cloud(
    target: &Target,
    mode: Mode,
    watch: &mut dyn Watch,
    timeouts: &Timeouts,
    deadline: Instant,
    p: &mut Progress<'_>,
) -> Result<(ConfirmedBy, Option<String>), CliError> {
    let mut last_reconnect = Instant::now();
    let mut cloud_error_noted = false;
    loop {
        match watch.activated(target.device) {
            Ok(Some(id)) => {
                p.advance(Phase::Done, "activated (confirmed by the cloud)");
                return Ok((ConfirmedBy::Cloud, Some(id)));
            }
            Ok(None) => {}
            Err(e) if !cloud_error_noted => {
                p.obs.event(&Event::note(format!("cloud poll failed: {}; retrying", e.message)));
                cloud_error_noted = true;
            }
            Err(_) => {}
        }
        if Instant::now() >= deadline {
            return Err(CliError::timeout(
                format!("device {} did not show up as activated in the cloud within {} s", target.device, timeouts.deadline.as_secs()),
                "the device may still finish: check `zpair devices`, or look at the device and start again",
            ));
        }
        if last_reconnect.elapsed() >= timeouts.reconnect_every {
            last_reconnect = Instant::now();
            if let Some(mut link) = watch.reconnect() {
                let mut quiet = crate::events::Quiet;
                match Session::open(link.as_mut(), target, None, timeouts, &mut quiet) {
                    Ok((_, DeviceToApp::Status(st))) => {
                        p.obs.event(&status_event(&st));
                        let e = st.error.map(|e| CliError::pair(e, "the device reopened pairing and reported")).unwrap_or_else(|| {
                            CliError::new(
                                ExitClass::Connection,
                                "rolled_back",
                                "the device reopened its pairing window without activating",
                                "start again",
                            )
                        });
                        let e = e.with_hint("its pairing window is open again");
                        return Err(e);
                    }
                    Ok(_) => {}
                    // Busy: still working on it; WindowClosed: done (the cloud will say so);
                    // anything else: try again later.
                    Err(_) => {}
                }
                let _ = mode;
            }
        }
        std::thread::sleep(timeouts.cloud_poll);
    }
}

/// Asks the device for the Wi-Fi networks it sees (all pages).
pub fn scan(
    link: &mut dyn Link,
    target: &Target,
    timeouts: &Timeouts,
    obs: &mut dyn Observer,
) -> Result<Vec<ScanEntry>, CliError> {
    obs.event(&Event::started(Step::Handshake, format!("device {} with the setup code", target.device)));
    let (mut s, first) = Session::open(link, target, None, timeouts, obs)?;
    if let DeviceToApp::Status(st) = &first {
        obs.event(&status_event(st));
    }
    obs.event(&Event::started(Step::Scan, "the device scans for Wi-Fi networks"));
    let mut entries: Vec<ScanEntry> = Vec::new();
    let mut next = s.request(&AppToDevice::ScanRequest(ScanRequest::default()), timeouts.reply * 3);
    loop {
        match next {
            Ok(DeviceToApp::ScanResults(page)) => {
                let more = page.more;
                entries.extend(page.entries.iter().cloned());
                if !more {
                    break;
                }
            }
            Ok(DeviceToApp::Status(st)) => {
                if let Some(e) = st.error {
                    return Err(CliError::pair(e, "the device refused the scan"));
                }
            }
            Ok(_) => {}
            Err(RecvError::Alert(e)) => return Err(CliError::pair(e, "the device ended the session")),
            Err(RecvError::Protocol(e)) => return Err(e),
            Err(RecvError::Link(e)) => return Err(link_failure(&e, "during the scan")),
        }
        next = s.recv(timeouts.reply * 3);
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.rssi));
    obs.event(&Event::done(Step::Scan, format!("{} networks", entries.len())));
    Ok(entries)
}

/// The security name used on the command line and in JSON.
pub fn security_name(s: Option<zpair_core::types::Security>) -> &'static str {
    use zpair_core::types::Security;
    match s {
        Some(Security::Open) => "open",
        Some(Security::Wpa2Psk) => "wpa2",
        Some(Security::Wpa2Wpa3) => "wpa2-wpa3",
        Some(Security::Wpa3Sae) => "wpa3",
        _ => "unsupported",
    }
}
