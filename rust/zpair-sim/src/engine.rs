//! The device thread: one thread owns the [`Device`] engine and every backend's state; inputs
//! arrive on one channel, and the earliest of the machine's `next_deadline` and the backends'
//! own timers is the receive timeout. Deterministic given the same inputs.

use crate::air::{self, Air, BleAdvert, CellularQr, SoftApAdvert};
use crate::cloud::{Job, JobResult};
use crate::crash::{self, CrashPoint};
use crate::events::{LinkStats, NetState, SimEvent, SimStatus, TimelineEntry};
use crate::radio::{self, JoinOutcome, ModemConfig, WiredLink};
use crate::storage::FileStorage;
use crate::transport::{self, ConnIds, Cost, Link, Server};
use crate::{CellNetwork, Shared};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;
use zpair_core::client::BindPoll;
use zpair_core::device::{pair_state, Device, Output};
use zpair_core::error::PairError;
use zpair_core::frame::{parse_datagram, FrameError};
use zpair_core::machine::{Action, ConnId, Event, PersistReason, ResetKind, State};
use zpair_core::msg::Announce;
use zpair_core::storage::Store;
use zpair_core::types::{DeviceId, Mode, Modes, ProductId, WifiCredentials};

pub(crate) type DevCrypto = zpair_mbedtls::MbedTls<zpair_mbedtls::OsEntropy>;

/// An input of the device thread.
pub(crate) enum Input {
    /// A transport accepted a connection.
    Accepted { conn: ConnId, mode: Mode, link: Link },
    /// A whole packet from a connection, with what it cost on the wire.
    Packet { conn: ConnId, packet: Vec<u8>, cost: Cost },
    /// The BLE MTU exchange of a connection finished.
    Mtu { conn: ConnId, mtu: u16 },
    /// A connection closed (by the peer, by us, or on a framing error).
    Closed { conn: ConnId, error: Option<FrameError> },
    /// A datagram on the wired session socket.
    Udp { from: SocketAddr, datagram: Vec<u8> },
    /// The cloud worker finished a job.
    Cloud(JobResult),
    /// A command from the handle.
    Control(Control),
}

/// Commands from [`crate::SimHandle`].
#[derive(Debug)]
pub(crate) enum Control {
    OpenWindow(Modes),
    CloseWindow,
    Abort,
    Reset(ResetKind),
    SetCellNetwork(CellNetwork),
    SetSim(Option<String>),
    Stop,
}

/// Backend timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Scan { conn: ConnId },
    Join { gen: u64 },
    Announce,
    BindPoll,
    ModemAttach { gen: u64 },
}

/// The backends' settings (what the engine needs of [`crate::SimConfig`]).
pub(crate) struct Settings {
    pub device: DeviceId,
    pub product: ProductId,
    pub modes: Modes,
    pub payload: Option<Zeroizing<String>>,
    pub ble_max_mtu: u16,
    pub softap_addr: SocketAddr,
    pub wired_addr: SocketAddr,
    pub announce_to: SocketAddr,
    pub announce_interval_ms: u64,
    pub join_delay_ms: u64,
    pub dhcp_timeout_ms: u64,
    pub scan_delay_ms: u64,
    pub single_radio: bool,
    pub wired_link: WiredLink,
    pub modem: ModemConfig,
    pub bind_retry_ms: u64,
    pub crash: Option<CrashPoint>,
}

struct Conn {
    mode: Mode,
    link: Link,
    stats: LinkStats,
    /// The last thing on this link was an app packet (a device packet then completes a round trip).
    awaiting_reply: bool,
    /// BLE: the app has not spoken yet (no MTU exchange, no write). A peripheral cannot notify
    /// before that, so packets wait in `queued`.
    ready: bool,
    queued: Vec<Vec<u8>>,
    /// Closed by the device while not ready: closes once the queued packets went out.
    closing: bool,
}

impl Conn {
    fn new(mode: Mode, link: Link, stats: LinkStats) -> Self {
        Conn { mode, link, stats, awaiting_reply: false, ready: mode != Mode::Ble, queued: Vec::new(), closing: false }
    }
}

struct Peer {
    conn: ConnId,
    open: bool,
    last_rx: Vec<u8>,
    replies: Vec<Vec<u8>>,
}

struct PendingJoin {
    gen: u64,
    mode: Mode,
    wifi: Option<WifiCredentials>,
    /// A reconnect to the committed network: the machine expects no answer.
    reconnect: bool,
}

const MAX_PEERS: usize = 64;

/// The state of everything but the [`Device`].
struct Io {
    s: Settings,
    hex: String,
    softap_ssid: String,
    start: Instant,
    air: Air,
    store: Store<FileStorage>,
    tx: Sender<Input>,
    jobs: Sender<Job>,
    ids: ConnIds,
    shared: Arc<Shared>,

    conns: BTreeMap<ConnId, Conn>,
    closed_stats: Vec<LinkStats>,
    softap: Option<(Server, SocketAddr)>,
    ble: Option<Server>,
    wired: Option<(Server, UdpSocket, SocketAddr)>,
    peers: HashMap<SocketAddr, Peer>,
    capture: Option<ConnId>,

    timers: Vec<(u64, u64, Timer)>,
    timer_seq: u64,
    window: Modes,
    ap_wanted: bool,
    station: NetState,
    join: Option<PendingJoin>,
    join_gen: u64,
    join_mode: Option<Mode>,
    station_mode: Option<Mode>,

    modem_attached: bool,
    modem_error: Option<PairError>,
    modem_gen: u64,
    modem_attaching: bool,

    job_seq: u64,
    activation_job: Option<u64>,
    bind_job: Option<u64>,
    bind_failures: u32,

    actions: u32,
    last_state: State,
}

pub(crate) struct Engine {
    device: Device<DevCrypto>,
    io: Io,
    rx: Receiver<Input>,
}

fn hex_of(d: DeviceId) -> String {
    format!("{:016x}", d.0)
}

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        device: Device<DevCrypto>,
        settings: Settings,
        air: Air,
        store: Store<FileStorage>,
        tx: Sender<Input>,
        rx: Receiver<Input>,
        jobs: Sender<Job>,
        shared: Arc<Shared>,
        start: Instant,
    ) -> Self {
        let hex = hex_of(settings.device);
        let softap_ssid = format!("zpair-{}", &hex[12..]);
        let last_state = device.machine().state();
        Engine {
            device,
            rx,
            io: Io {
                s: settings,
                hex,
                softap_ssid,
                start,
                air,
                store,
                tx,
                jobs,
                ids: ConnIds::default(),
                shared,
                conns: BTreeMap::new(),
                closed_stats: Vec::new(),
                softap: None,
                ble: None,
                wired: None,
                peers: HashMap::new(),
                capture: None,
                timers: Vec::new(),
                timer_seq: 0,
                window: Modes::empty(),
                ap_wanted: false,
                station: NetState::Down,
                join: None,
                join_gen: 0,
                join_mode: None,
                station_mode: None,
                modem_attached: false,
                modem_error: None,
                modem_gen: 0,
                modem_attaching: false,
                job_seq: 0,
                activation_job: None,
                bind_job: None,
                bind_failures: 0,
                actions: 0,
                last_state,
            },
        }
    }

    /// Runs until [`Control::Stop`].
    pub fn run(mut self, storage_corrupt: bool) {
        let now = self.io.now();
        let state = self.device.machine().state();
        self.io.emit(SimEvent::Booted { state, storage_corrupt });
        if self.io.s.crash == Some(CrashPoint::AtState(state)) {
            self.io.publish(&self.device, true);
            crash::kill_self(state.name());
        }
        self.drain(now);
        loop {
            let now = self.io.now();
            let deadline = match (self.device.next_deadline(), self.io.next_timer()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let input = match deadline {
                Some(d) => match self.rx.recv_timeout(Duration::from_millis(d.saturating_sub(now))) {
                    Ok(i) => Some(i),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match self.rx.recv() {
                    Ok(i) => Some(i),
                    Err(_) => break,
                },
            };
            let now = self.io.now();
            if let Some(input) = input {
                if !self.input(now, input) {
                    break;
                }
            }
            self.fire_timers(now);
            self.drain(now);
        }
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.io.set_softap(false);
        self.io.stop_ble();
        self.io.stop_cellular_qr();
        if let Some((server, _, _)) = self.io.wired.take() {
            server.stop();
        }
        let conns: Vec<ConnId> = self.io.conns.keys().copied().collect();
        for c in conns {
            self.io.close_conn(c);
        }
        self.io.emit(SimEvent::Stopped);
        self.io.publish(&self.device, false);
    }

    /// Handles one input; `false` to stop.
    fn input(&mut self, now: u64, input: Input) -> bool {
        match input {
            Input::Accepted { conn, mode, link } => {
                let mut stats = LinkStats::new(conn, mode);
                if mode == Mode::Ble {
                    stats.mtu = Some(zpair_core::frame::gatt::ATT_MTU_MIN);
                }
                self.io.conns.insert(conn, Conn::new(mode, link, stats));
                self.io.emit(SimEvent::AppConnected { conn, mode });
                tracing::info!(conn = conn.0, mode = mode.name(), "app connected");
                self.device.app_connected(now, conn, mode);
            }
            Input::Mtu { conn, mtu } => {
                if let Some(c) = self.io.conns.get_mut(&conn) {
                    if let Link::Ble { mtu: m, .. } = &mut c.link {
                        *m = mtu;
                    }
                    c.stats.mtu = Some(mtu);
                    self.io.emit(SimEvent::MtuExchanged { conn, mtu });
                }
                self.io.make_ready(conn);
            }
            Input::Packet { conn, packet, cost } => {
                self.io.make_ready(conn);
                let Some(c) = self.io.conns.get_mut(&conn) else { return true };
                if c.closing {
                    return true;
                }
                c.stats.packets_rx += 1;
                c.stats.frames_rx += cost.frames;
                c.stats.bytes_rx += cost.bytes;
                c.awaiting_reply = true;
                if let Some(reply) = self.device.receive(now, conn, &packet) {
                    self.io.send(conn, reply);
                }
            }
            Input::Closed { conn, error } => {
                if let Some(e) = error {
                    tracing::warn!(conn = conn.0, error = %e, "framing error: connection dropped");
                }
                match self.io.conns.get(&conn) {
                    Some(c) if c.closing => self.io.finish_close(conn),
                    Some(_) => {
                        self.io.close_conn(conn);
                        self.device.app_disconnected(now, conn);
                    }
                    None => {}
                }
            }
            Input::Udp { from, datagram } => self.udp(now, from, datagram),
            Input::Cloud(r) => self.cloud_result(now, r),
            Input::Control(c) => return self.control(now, c),
        }
        true
    }

    fn udp(&mut self, now: u64, from: SocketAddr, datagram: Vec<u8>) {
        let Ok(packet) = parse_datagram(&datagram) else {
            tracing::debug!(%from, "not a zpair datagram: ignored");
            return;
        };
        if packet.first() == Some(&0x06) {
            return; // an announcement (ours or another device's)
        }
        let (conn, new) = match self.io.peers.get(&from) {
            Some(p) if p.last_rx == datagram => {
                // A retransmission of the packet processed last: answer from the cache.
                let conn = p.conn;
                let replies = p.replies.clone();
                if let Some((_, sock, _)) = &self.io.wired {
                    for r in &replies {
                        let _ = sock.send_to(r, from);
                    }
                }
                if let Some(c) = self.io.conns.get_mut(&conn) {
                    c.stats.retransmissions += 1;
                    c.stats.frames_tx += replies.len() as u64;
                    c.stats.bytes_tx += replies.iter().map(|r| r.len() as u64).sum::<u64>();
                }
                self.io.emit(SimEvent::Retransmission { conn });
                return;
            }
            Some(p) if p.open => (p.conn, false),
            _ => (self.io.ids.next(), true),
        };
        if new {
            if self.io.peers.len() >= MAX_PEERS {
                self.io.peers.retain(|_, p| p.open);
            }
            self.io.peers.insert(from, Peer { conn, open: true, last_rx: Vec::new(), replies: Vec::new() });
            let mut stats = LinkStats::new(conn, Mode::Wired);
            stats.mtu = None;
            self.io.conns.insert(conn, Conn::new(Mode::Wired, Link::Udp { peer: from }, stats));
            self.io.emit(SimEvent::AppConnected { conn, mode: Mode::Wired });
            tracing::info!(conn = conn.0, %from, "wired app connected");
            self.device.app_connected(now, conn, Mode::Wired);
        }
        if let Some(p) = self.io.peers.get_mut(&from) {
            p.last_rx = datagram.clone();
            p.replies.clear();
        }
        if let Some(c) = self.io.conns.get_mut(&conn) {
            c.stats.packets_rx += 1;
            c.stats.frames_rx += 1;
            c.stats.bytes_rx += datagram.len() as u64;
            c.awaiting_reply = true;
        }
        // Everything sent to this peer until the end of this step is the cached reply.
        self.io.capture = Some(conn);
        // The new connection's queued refusals (if any) go first.
        self.drain(now);
        if let Some(reply) = self.device.receive(now, conn, packet) {
            self.io.send(conn, reply);
        }
        self.drain(now);
        self.io.capture = None;
    }

    fn cloud_result(&mut self, now: u64, r: JobResult) {
        match r {
            JobResult::Activate { id, result } => {
                if self.io.activation_job != Some(id) {
                    tracing::debug!("stale activation result ignored");
                    return;
                }
                self.io.activation_job = None;
                match &result {
                    Ok(op) => {
                        tracing::info!(cloud_name = op.name.as_str(), "cloud accepted the activation");
                        self.io.emit(SimEvent::Activated { cloud_name: op.name.as_str().to_owned() });
                    }
                    Err(e) => {
                        tracing::info!(error = e.name(), "activation failed");
                        self.io.emit(SimEvent::ActivationFailed(*e));
                    }
                }
                if let Err(e) = self.device.handle(now, Event::ActivationResult(result)) {
                    tracing::debug!(error = %e, "activation result not taken");
                }
            }
            JobResult::BindPoll { id, result } => {
                if self.io.bind_job != Some(id) {
                    return;
                }
                self.io.bind_job = None;
                let polling = self.io.cellular_polling(&self.device);
                match result {
                    Ok(BindPoll::Pending { retry_after_s }) => {
                        self.io.bind_failures = 0;
                        self.io.emit(SimEvent::BindPending { retry_after_s });
                        if polling {
                            let at = now + u64::from(retry_after_s.max(1)) * 1000;
                            self.io.add_timer(at, Timer::BindPoll);
                        }
                    }
                    Ok(BindPoll::Bound { token, endpoint }) => {
                        self.io.bind_failures = 0;
                        tracing::info!("the cloud bound the device");
                        self.io.emit(SimEvent::BindReceived);
                        match self.device.handle(now, Event::BindReceived { token, endpoint: Some(endpoint) }) {
                            Ok(()) => {}
                            Err(e) => {
                                tracing::info!(error = %e, "bind not taken now");
                                if polling {
                                    self.io.add_timer(now + self.io.s.bind_retry_ms, Timer::BindPoll);
                                }
                            }
                        }
                    }
                    Err(e) => {
                        tracing::info!(error = e.name(), "bind-poll failed");
                        self.io.emit(SimEvent::BindPollFailed(e));
                        self.io.bind_failures = self.io.bind_failures.saturating_add(1);
                        if polling {
                            let shift = self.io.bind_failures.saturating_sub(1).min(5);
                            let delay = (self.io.s.bind_retry_ms << shift).min(30_000);
                            self.io.add_timer(now + delay, Timer::BindPoll);
                        }
                    }
                }
            }
        }
    }

    fn control(&mut self, now: u64, c: Control) -> bool {
        tracing::info!(command = ?c, "control");
        let r = match c {
            Control::OpenWindow(modes) => self.device.handle(now, Event::OpenWindow { modes }),
            Control::CloseWindow => self.device.handle(now, Event::CloseWindow),
            Control::Abort => self.device.handle(now, Event::Abort),
            Control::Reset(kind) => self.device.handle(now, Event::Reset(kind)),
            Control::SetCellNetwork(n) => {
                self.io.s.modem.network = n;
                Ok(())
            }
            Control::SetSim(iccid) => {
                let inserted = iccid.is_some();
                self.io.s.modem.iccid = iccid;
                if inserted {
                    if self.io.window.contains(Modes::CELLULAR) && !self.io.modem_attached {
                        self.io.modem_attach(now);
                    }
                } else if self.io.modem_attached {
                    self.io.modem_attached = false;
                    self.io.modem_error = Some(PairError::SimMissing);
                    self.io.emit(SimEvent::ModemFailed(PairError::SimMissing));
                    self.io.update_cellular_qr();
                }
                Ok(())
            }
            Control::Stop => return false,
        };
        if let Err(e) = r {
            tracing::info!(error = %e, "command refused by the machine");
        }
        true
    }

    fn fire_timers(&mut self, now: u64) {
        while let Some(t) = self.io.pop_due(now) {
            match t {
                Timer::Scan { conn } => {
                    let aps = self.io.air.access_points().unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "aps.json unreadable: empty scan");
                        Vec::new()
                    });
                    let pages = radio::scan_pages::<DevCrypto>(&aps);
                    let networks = pages.iter().map(|p| p.entries.len()).sum();
                    let mut sent = 0;
                    for page in &pages {
                        if let Some(p) = self.device.scan_results(conn, page) {
                            self.io.send(conn, p);
                            sent += 1;
                        }
                    }
                    self.io.emit(SimEvent::ScanDone { conn, networks, pages: sent });
                }
                Timer::Join { gen } => self.join_done(now, gen),
                Timer::Announce => {
                    if self.io.window.contains(Modes::WIRED) {
                        self.io.announce(&self.device);
                        self.io.add_timer(now + self.io.s.announce_interval_ms.max(1), Timer::Announce);
                    }
                }
                Timer::BindPoll => {
                    if self.io.cellular_polling(&self.device) && self.io.bind_job.is_none() {
                        self.io.job_seq += 1;
                        let id = self.io.job_seq;
                        self.io.bind_job = Some(id);
                        self.io.emit(SimEvent::BindPoll);
                        let _ = self.io.jobs.send(Job::BindPoll { id });
                    }
                }
                Timer::ModemAttach { gen } => {
                    if gen != self.io.modem_gen {
                        continue;
                    }
                    self.io.modem_attaching = false;
                    match self.io.s.modem.attach(self.io.s.device).1 {
                        Ok(_) => {
                            self.io.modem_attached = true;
                            self.io.modem_error = None;
                            tracing::info!("modem attached");
                            self.io.emit(SimEvent::ModemAttached);
                            if self.io.cellular_polling(&self.device) {
                                self.io.add_timer(now, Timer::BindPoll);
                            }
                        }
                        Err(e) => {
                            tracing::info!(error = e.name(), "modem attach failed");
                            self.io.modem_error = Some(e);
                            self.io.emit(SimEvent::ModemFailed(e));
                            if self.io.window.contains(Modes::CELLULAR) {
                                self.io.modem_attaching = true;
                                let gen = self.io.modem_gen;
                                self.io.add_timer(now + self.io.s.modem.retry_ms, Timer::ModemAttach { gen });
                            }
                        }
                    }
                    self.io.update_cellular_qr();
                }
            }
            self.drain(now);
        }
    }

    fn join_done(&mut self, now: u64, gen: u64) {
        let Some(j) = self.io.join.take_if(|j| j.gen == gen) else { return };
        let outcome: Result<IpAddr, PairError> = match j.mode {
            Mode::SoftAp | Mode::Ble => match &j.wifi {
                // Second stage of a silent DHCP: the timeout passed.
                None => Err(PairError::DhcpTimeout),
                Some(wifi) => {
                    let aps = self.io.air.access_points().unwrap_or_default();
                    match radio::join(self.device.crypto_mut(), &aps, wifi, self.io.s.device) {
                        JoinOutcome::Up(ip) => Ok(ip),
                        JoinOutcome::Failed(e) => Err(e),
                        JoinOutcome::DhcpTimeout if self.io.s.dhcp_timeout_ms > 0 => {
                            // Associated; DHCP stays silent until its timeout.
                            self.io.join = Some(PendingJoin { gen, mode: j.mode, wifi: None, reconnect: j.reconnect });
                            self.io.add_timer(now + self.io.s.dhcp_timeout_ms, Timer::Join { gen });
                            return;
                        }
                        JoinOutcome::DhcpTimeout => Err(PairError::DhcpTimeout),
                    }
                }
            },
            Mode::Wired => match self.io.s.wired_link {
                WiredLink::Up => Ok(radio::lease(self.io.s.device, [192, 168, 1])),
                WiredLink::NoLink => Err(PairError::NoLink),
                WiredLink::DhcpTimeout => Err(PairError::DhcpTimeout),
            },
            Mode::Cellular => self.io.s.modem.attach(self.io.s.device).1,
        };
        match outcome {
            Ok(ip) => {
                self.io.station = NetState::Up(ip);
                if j.mode == Mode::Cellular {
                    self.io.modem_attached = true;
                }
                tracing::info!(%ip, mode = j.mode.name(), reconnect = j.reconnect, "network up");
                self.io.emit(SimEvent::NetworkUp { ip });
                if !j.reconnect {
                    let _ = self.device.handle(now, Event::NetworkUp { ip });
                }
            }
            Err(error) => {
                self.io.station = NetState::Down;
                tracing::info!(error = error.name(), mode = j.mode.name(), reconnect = j.reconnect, "network failed");
                self.io.emit(SimEvent::NetworkFailed(error));
                self.io.sync_radio();
                if !j.reconnect {
                    let _ = self.device.handle(now, Event::NetworkFailed { error });
                }
            }
        }
    }

    /// Drains the device: transmits packets, executes actions, feeds their immediate answers.
    fn drain(&mut self, now: u64) {
        loop {
            self.observe();
            let follow = match self.device.poll(now) {
                None => break,
                Some(Output::Transmit { conn, packet }) => {
                    self.io.send(conn, packet);
                    None
                }
                Some(Output::Action(action)) => {
                    let f = self.io.execute(action, now);
                    self.io.actions = self.io.actions.saturating_add(1);
                    Some(f)
                }
            };
            if let Some(f) = follow {
                if self.io.s.crash == Some(CrashPoint::AfterAction(self.io.actions)) {
                    self.io.publish(&self.device, true);
                    crash::kill_self("after an action");
                }
                if let Some(ev) = f {
                    if let Err(e) = self.device.handle(now, ev) {
                        tracing::warn!(error = %e, "follow-up event refused");
                    }
                }
            }
        }
        self.io.publish(&self.device, true);
    }

    fn observe(&mut self) {
        let state = self.device.machine().state();
        if state != self.io.last_state {
            let from = std::mem::replace(&mut self.io.last_state, state);
            tracing::info!(from = from.name(), to = state.name(), "state");
            self.io.emit(SimEvent::State { from, to: state });
            self.io.update_ble_advert(state);
            if self.io.s.crash == Some(CrashPoint::AtState(state)) {
                self.io.publish(&self.device, true);
                crash::kill_self(state.name());
            }
        }
    }
}

impl Io {
    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn emit(&self, event: SimEvent) {
        let entry = TimelineEntry { at_ms: self.now(), event };
        tracing::debug!(at_ms = entry.at_ms, event = ?entry.event, "timeline");
        self.shared.push_event(entry);
    }

    fn publish(&self, device: &Device<DevCrypto>, running: bool) {
        let m = device.machine();
        let status = SimStatus {
            state: m.state(),
            last_error: m.last_error(),
            failed_attempts: m.failed_attempts(),
            locked_out: m.locked_until().is_some(),
            window: m.window_modes(),
            network: self.station,
            softap: self.softap.as_ref().map(|(_, a)| *a),
            ble_socket: self.ble.as_ref().map(|_| self.air.ble_socket_path(&self.hex)),
            wired: self.wired.as_ref().map(|(_, _, a)| *a),
            modem_error: self.modem_error,
            modem_attached: self.modem_attached,
            cloud_name: m
                .persisted()
                .operational
                .as_ref()
                .filter(|_| m.persisted().is_activated())
                .map(|o| o.name.as_str().to_owned()),
            paired_mode: m.persisted().is_activated().then_some(m.persisted().mode).flatten(),
            running,
        };
        let mut links: Vec<LinkStats> = self.closed_stats.clone();
        links.extend(self.conns.values().map(|c| c.stats));
        links.sort_by_key(|l| l.conn);
        self.shared.set_status(status, links);
    }

    fn add_timer(&mut self, at: u64, t: Timer) {
        self.timer_seq += 1;
        self.timers.push((at, self.timer_seq, t));
    }

    fn next_timer(&self) -> Option<u64> {
        self.timers.iter().map(|(at, _, _)| *at).min()
    }

    fn pop_due(&mut self, now: u64) -> Option<Timer> {
        let (i, _) = self
            .timers
            .iter()
            .enumerate()
            .filter(|(_, (at, _, _))| *at <= now)
            .min_by_key(|(_, (at, seq, _))| (*at, *seq))?;
        Some(self.timers.remove(i).2)
    }

    fn cancel_timers(&mut self, f: impl Fn(&Timer) -> bool) {
        self.timers.retain(|(_, _, t)| !f(t));
    }

    /// Sends a packet to a connection and keeps the counters.
    fn send(&mut self, conn: ConnId, packet: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if c.closing {
            return;
        }
        if !c.ready {
            c.queued.push(packet.to_vec());
            return;
        }
        self.transmit(conn, packet);
    }

    /// The app spoke on a BLE link: packets that waited go out (and a pending close happens).
    fn make_ready(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if c.ready {
            return;
        }
        c.ready = true;
        let queued = std::mem::take(&mut c.queued);
        let closing = c.closing;
        for p in &queued {
            self.transmit(conn, p);
        }
        if closing {
            self.finish_close(conn);
        }
    }

    fn finish_close(&mut self, conn: ConnId) {
        let Some(mut c) = self.conns.remove(&conn) else { return };
        c.link.close();
        c.stats.closed = true;
        self.closed_stats.push(c.stats);
    }

    fn transmit(&mut self, conn: ConnId, packet: &[u8]) {
        let at_ms = self.now();
        let udp = self.wired.as_ref().map(|(_, s, _)| s);
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if packet.first() == Some(&zpair_core::session::TYPE_ALERT) {
            let error = PairError::from_code(packet.get(1).copied().unwrap_or(0));
            tracing::info!(conn = conn.0, error = error.name(), "alert sent");
            let entry = TimelineEntry { at_ms, event: SimEvent::AlertSent { conn, error } };
            self.shared.push_event(entry);
        }
        match c.link.send(packet, udp) {
            Ok((cost, datagram)) => {
                c.stats.packets_tx += 1;
                c.stats.frames_tx += cost.frames;
                c.stats.bytes_tx += cost.bytes;
                if std::mem::take(&mut c.awaiting_reply) {
                    c.stats.round_trips += 1;
                }
                if let (Some(d), Some(cap)) = (datagram, self.capture) {
                    if cap == conn {
                        if let Link::Udp { peer } = c.link {
                            if let Some(p) = self.peers.get_mut(&peer) {
                                p.replies.push(d);
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::debug!(conn = conn.0, error = %e, "send failed"),
        }
    }

    fn close_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if !c.ready && !c.queued.is_empty() && !c.closing {
                // Not ready to notify: close after the queued refusal went out.
                c.closing = true;
                tracing::info!(conn = conn.0, mode = c.mode.name(), "app disconnected (after its pending packets)");
                self.emit(SimEvent::AppDisconnected { conn });
                return;
            }
            if c.closing {
                return;
            }
        }
        let Some(mut c) = self.conns.remove(&conn) else { return };
        c.link.close();
        if let Link::Udp { peer } = c.link {
            if let Some(p) = self.peers.get_mut(&peer) {
                p.open = false;
            }
        }
        c.stats.closed = true;
        self.closed_stats.push(c.stats);
        tracing::info!(conn = conn.0, mode = c.mode.name(), "app disconnected");
        self.emit(SimEvent::AppDisconnected { conn });
    }

    /// Executes one machine action; returns the event that answers it at once, if any.
    fn execute(&mut self, action: Action<'_>, now: u64) -> Option<Event> {
        tracing::debug!(action = ?action, "action");
        match action {
            Action::StartWindow(modes) => {
                self.window = self.window.union(modes);
                self.emit(SimEvent::WindowStarted(modes));
                self.start_window(now, modes);
                None
            }
            Action::StopWindow(modes) => {
                self.emit(SimEvent::WindowStopped(modes));
                self.stop_window(modes);
                None
            }
            Action::SendStatus { .. } | Action::SendAlert { .. } => None,
            Action::DisconnectApp(conn) => {
                self.close_conn(conn);
                None
            }
            Action::StartScan { conn } => {
                self.add_timer(now + self.s.scan_delay_ms, Timer::Scan { conn });
                None
            }
            Action::ConnectNetwork { mode, wifi } => {
                let ssid = wifi.map(|w| String::from_utf8_lossy(w.ssid.as_bytes()).into_owned());
                tracing::info!(mode = mode.name(), ssid = ?ssid, "joining network");
                self.emit(SimEvent::JoinStarted { mode, ssid });
                self.join_mode = Some(mode);
                self.start_join(now, mode, wifi.cloned(), false);
                None
            }
            Action::DisconnectNetwork => {
                self.join_gen += 1;
                self.join = None;
                self.cancel_timers(|t| matches!(t, Timer::Join { .. }));
                if self.station != NetState::Down {
                    self.station = NetState::Down;
                    self.emit(SimEvent::NetworkDown);
                }
                self.activation_job = None;
                self.sync_radio();
                None
            }
            Action::ReconnectPrevious { mode, wifi } => {
                self.emit(SimEvent::Reconnecting { mode });
                self.start_join(now, mode, wifi.cloned(), true);
                None
            }
            Action::StartActivation { token, endpoint, attempt } => {
                self.job_seq += 1;
                let id = self.job_seq;
                self.activation_job = Some(id);
                tracing::info!(attempt, "activating");
                self.emit(SimEvent::ActivationStarted { attempt });
                let mode = self.join_mode.unwrap_or(Mode::SoftAp);
                let job = Job::Activate { id, token: token.clone(), endpoint: endpoint.cloned(), mode };
                if self.jobs.send(job).is_err() {
                    return Some(Event::ActivationResult(Err(PairError::Internal)));
                }
                None
            }
            Action::ScheduleRetry { at_ms, attempt, error } => {
                tracing::info!(attempt, error = error.name(), in_ms = at_ms.saturating_sub(now), "retry scheduled");
                self.emit(SimEvent::RetryScheduled { attempt, in_ms: at_ms.saturating_sub(now), error });
                None
            }
            Action::Persist { state, reason } => match self.store.save(state) {
                Ok(generation) => {
                    tracing::info!(reason = ?reason, generation, "persisted");
                    self.emit(SimEvent::Persisted { reason, generation });
                    (reason == PersistReason::Commit).then_some(Event::CommitDone)
                }
                Err(e) => {
                    tracing::warn!(reason = ?reason, error = %e, "persist failed");
                    self.emit(SimEvent::PersistFailed { reason });
                    (reason == PersistReason::Commit).then_some(Event::CommitFailed)
                }
            },
            Action::EraseStorage => {
                if let Err(e) = self.store.erase() {
                    tracing::warn!(error = %e, "erase failed");
                }
                self.emit(SimEvent::Erased);
                None
            }
            Action::ReportDone { mode } => {
                tracing::info!(mode = mode.name(), "pairing done: activated");
                self.emit(SimEvent::Done { mode });
                None
            }
            Action::ReportFailed(e) => {
                tracing::info!(error = e.name(), "pairing attempt failed, rolled back");
                self.activation_job = None;
                self.emit(SimEvent::Failed(e));
                None
            }
        }
    }

    fn start_join(&mut self, now: u64, mode: Mode, wifi: Option<WifiCredentials>, reconnect: bool) {
        self.join_gen += 1;
        let gen = self.join_gen;
        self.cancel_timers(|t| matches!(t, Timer::Join { .. }));
        let delay = match mode {
            Mode::Cellular => self.s.modem.attach(self.s.device).0,
            Mode::Wired => 0,
            Mode::SoftAp | Mode::Ble => self.s.join_delay_ms,
        };
        self.join = Some(PendingJoin { gen, mode, wifi, reconnect });
        self.station = NetState::Joining;
        self.station_mode = Some(mode);
        self.sync_radio();
        self.add_timer(now + delay, Timer::Join { gen });
    }

    /// Single radio: a Wi-Fi station (joining or joined) and the SoftAP exclude each other.
    fn sync_radio(&mut self) {
        let wifi_station = self.station != NetState::Down && self.station_mode.is_some_and(Mode::needs_wifi);
        let ap = self.ap_wanted && !(self.s.single_radio && wifi_station);
        self.set_softap(ap);
    }

    fn start_window(&mut self, now: u64, modes: Modes) {
        if modes.contains(Modes::SOFTAP) {
            self.ap_wanted = true;
            let wifi_station = self.station != NetState::Down && self.station_mode.is_some_and(Mode::needs_wifi);
            if self.s.single_radio && wifi_station {
                // The AP needs the radio: the device leaves (or stops rejoining) its network
                // while the window is open.
                self.join = None;
                self.cancel_timers(|t| matches!(t, Timer::Join { .. }));
                self.station = NetState::Down;
                self.emit(SimEvent::NetworkDown);
            }
            self.sync_radio();
        }
        if modes.contains(Modes::BLE) && self.ble.is_none() {
            let path = self.air.ble_socket_path(&self.hex);
            match transport::start_ble(&path, self.s.ble_max_mtu, self.ids.clone(), self.tx.clone()) {
                Ok(server) => {
                    self.ble = Some(server);
                    self.emit(SimEvent::BleAdvertising { socket: path });
                }
                Err(e) => tracing::error!(error = %e, "BLE socket failed"),
            }
        }
        if modes.contains(Modes::BLE) {
            self.update_ble_advert(self.last_state);
        }
        if modes.contains(Modes::WIRED) {
            if self.wired.is_none() {
                match transport::start_wired(self.s.wired_addr, self.tx.clone()) {
                    Ok(w) => self.wired = Some(w),
                    Err(e) => tracing::error!(error = %e, "wired socket failed"),
                }
            }
            if let Some((_, _, addr)) = &self.wired {
                let session = *addr;
                self.emit(SimEvent::WiredAnnouncing { session, to: self.s.announce_to });
                self.cancel_timers(|t| *t == Timer::Announce);
                self.add_timer(now, Timer::Announce);
            }
        }
        if modes.contains(Modes::CELLULAR) {
            self.update_cellular_qr();
            self.emit(SimEvent::QrShown);
            if self.modem_attached {
                self.cancel_timers(|t| *t == Timer::BindPoll);
                self.add_timer(now, Timer::BindPoll);
            } else if !self.modem_attaching {
                self.modem_attach(now);
            }
        }
    }

    fn stop_window(&mut self, modes: Modes) {
        self.window = Modes::from_bits(self.window.bits() & !modes.bits()).unwrap_or_default();
        if modes.contains(Modes::SOFTAP) {
            self.ap_wanted = false;
            self.set_softap(false);
        }
        if modes.contains(Modes::BLE) {
            self.stop_ble();
        }
        if modes.contains(Modes::WIRED) {
            self.cancel_timers(|t| *t == Timer::Announce);
            self.emit(SimEvent::WiredStopped);
        }
        if modes.contains(Modes::CELLULAR) {
            self.stop_cellular_qr();
            self.cancel_timers(|t| matches!(t, Timer::BindPoll | Timer::ModemAttach { .. }));
            self.modem_attaching = false;
        }
    }

    fn set_softap(&mut self, up: bool) {
        match (up, self.softap.is_some()) {
            (true, false) => match transport::start_softap(self.s.softap_addr, self.ids.clone(), self.tx.clone()) {
                Ok((server, addr)) => {
                    let advert = SoftApAdvert {
                        ssid: self.softap_ssid.clone(),
                        device: self.hex.clone(),
                        addr: addr.ip().to_string(),
                        port: addr.port(),
                    };
                    if let Err(e) = air::write_json(&self.air.softap_path(&self.softap_ssid), &advert) {
                        tracing::warn!(error = %e, "could not publish the SoftAP");
                    }
                    self.softap = Some((server, addr));
                    tracing::info!(ssid = %self.softap_ssid, %addr, "SoftAP up");
                    self.emit(SimEvent::SoftApUp { ssid: self.softap_ssid.clone(), addr });
                }
                Err(e) => tracing::error!(error = %e, "SoftAP listener failed"),
            },
            (false, true) => {
                air::remove(&self.air.softap_path(&self.softap_ssid));
                if let Some((server, _)) = self.softap.take() {
                    server.stop();
                }
                // The AP is gone: every station on it loses its connection.
                let on_ap: Vec<ConnId> =
                    self.conns.iter().filter(|(_, c)| c.mode == Mode::SoftAp).map(|(k, _)| *k).collect();
                for conn in on_ap {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.link.close();
                    }
                }
                tracing::info!(ssid = %self.softap_ssid, "SoftAP down");
                self.emit(SimEvent::SoftApDown);
            }
            _ => {}
        }
    }

    fn stop_ble(&mut self) {
        if let Some(server) = self.ble.take() {
            air::remove(&self.air.ble_path(&self.hex));
            server.stop();
            self.emit(SimEvent::BleStopped);
        }
    }

    fn update_ble_advert(&self, state: State) {
        if self.ble.is_none() {
            return;
        }
        let advert = BleAdvert {
            device: self.hex.clone(),
            product: self.s.product.0,
            discriminator: zpair_core::payload::discriminator_of(self.s.device),
            modes: self.s.modes.bits(),
            state: state.name().to_owned(),
            socket: Some(self.air.ble_socket_path(&self.hex)),
        };
        if let Err(e) = air::write_json(&self.air.ble_path(&self.hex), &advert) {
            tracing::warn!(error = %e, "could not publish the BLE advertisement");
        }
    }

    fn modem_state_name(&self) -> String {
        match (self.modem_attached, self.modem_error) {
            (true, _) => "attached".into(),
            (false, Some(e)) => e.name().into(),
            (false, None) => "attaching".into(),
        }
    }

    fn update_cellular_qr(&self) {
        if !self.window.contains(Modes::CELLULAR) {
            return;
        }
        let Some(payload) = &self.s.payload else { return };
        let qr = CellularQr {
            device: self.hex.clone(),
            payload: payload.to_string(),
            imei: self.s.modem.imei.clone(),
            modem: self.modem_state_name(),
        };
        if let Err(e) = air::write_json(&self.air.cellular_path(&self.hex), &qr) {
            tracing::warn!(error = %e, "could not publish the QR code");
        }
        drop(Zeroizing::new(qr.payload));
    }

    fn stop_cellular_qr(&mut self) {
        let path = self.air.cellular_path(&self.hex);
        if path.exists() {
            air::remove(&path);
            self.emit(SimEvent::QrHidden);
        }
    }

    fn modem_attach(&mut self, now: u64) {
        self.modem_gen += 1;
        self.modem_attaching = true;
        let gen = self.modem_gen;
        let (delay, _) = self.s.modem.attach(self.s.device);
        self.add_timer(now + delay, Timer::ModemAttach { gen });
    }

    fn cellular_polling(&self, device: &Device<DevCrypto>) -> bool {
        self.window.contains(Modes::CELLULAR) && device.machine().state() == State::WindowOpen && self.modem_attached
    }

    fn announce(&mut self, device: &Device<DevCrypto>) {
        let Some((_, sock, addr)) = &self.wired else { return };
        let a = Announce {
            protocol_version: zpair_core::PROTOCOL_VERSION,
            product: self.s.product,
            device: self.s.device,
            modes: self.s.modes,
            port: addr.port(),
            window_open: device.machine().state() == State::WindowOpen,
            state: pair_state(device.machine().state()),
        };
        let mut packet = [0u8; 1 + Announce::MAX_ENCODED_LEN];
        packet[0] = 0x06;
        let Ok(n) = a.encode(&mut packet[1..]) else { return };
        let mut buf = [0u8; zpair_core::frame::datagram::DATAGRAM_MAX];
        if let Ok(d) = zpair_core::frame::write_datagram(&packet[..1 + n], &mut buf) {
            if let Err(e) = sock.send_to(d, self.s.announce_to) {
                tracing::trace!(error = %e, "announcement not sent");
            }
        }
    }
}
