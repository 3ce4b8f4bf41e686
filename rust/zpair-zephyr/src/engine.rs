//! The zpair thread: owns the device engine ([`Device`]) and drives it from the shim.
//!
//! ```text
//! shim inputs (packets, connections, network, commands)  ->  Device::{app_connected, receive,
//!                                                              app_disconnected, handle}
//! Device::poll  ->  Transmit: frame + send on the transport of the connection
//!               ->  Action:   network, window (announce / AP / advertising), cloud activation,
//!                             persist (Store over settings), reports
//! timers: Device::next_deadline, the wired announcement, the network poll
//! ```
//!
//! Connection ids carry their transport in the top four bits (`mode << 28 | backend id`), so
//! a packet for the app goes back through the backend it came from.
//!
//! Transports: wired (UDP datagrams, `"ZP" 0x01 || packet`, with the retransmission cache of
//! docs/transports.md) is implemented here; SoftAP (TCP, stream framing) in [`crate::softap`];
//! BLE (GATT fragments) in [`crate::ble`]. The backends deliver `ZPAIR_IN_PACKET` inputs with
//! their mode and [`Engine::on_input`] routes them to the mode's reassembler. Wi-Fi scans for
//! the app are collected into pages by [`crate::wifi`]. Cellular has no app transport:
//! [`crate::cellular`] shows the QR code, attaches the modem and polls the cloud's bind
//! endpoint while the window is open.

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::fmt::Write;
use core::mem::MaybeUninit;
use core::net::{IpAddr, Ipv4Addr};

use zpair_core::activation::FwVersion;
use zpair_core::client::{self, CloudIdentity};
use zpair_core::device::{pair_state, Device, Identity, Output};
use zpair_core::error::PairError;
use zpair_core::factory::FactoryData;
use zpair_core::frame::datagram::{parse_datagram, write_datagram, DATAGRAM_MAX};
use zpair_core::machine::{
    Action, Config, ConfigParams, ConnId, Event, PersistReason, ResetKind, State,
};
use zpair_core::msg::{Announce, Capabilities, DeviceToApp, FirmwareVersion, ScanResults};
use zpair_core::session::TYPE_PAIR_REQUEST;
use zpair_core::types::{ActivationToken, CloudEndpoint, Mode, Modes, WifiCredentials};

use crate::ble::Ble;
use crate::cellular::{self, Cellular};
use crate::ffi;
use crate::link::HttpLink;
use crate::storage::{self, SettingsStore};
use crate::sys::{self, Line, ZCrypto};

/// What the application tells zpair about itself (reported to the app and the cloud).
#[derive(Debug, Clone, Copy)]
pub struct AppInfo {
    /// The running firmware's version.
    pub firmware: FirmwareVersion,
    /// What the device's radio and firmware can do.
    pub capabilities: Capabilities,
}

/// Packet type of a wired announcement (docs/transports.md): `0x06 || CBOR(Announce)`.
pub const ANNOUNCE_PACKET_TYPE: u8 = 0x06;

/// How often a pending network join is re-checked when no event comes.
const NET_POLL_MS: u64 = 500;

/// `CONFIG_ZPAIR_SOFTAP_SSID_PREFIX` (the option exists only with the SoftAP backend).
#[cfg(CONFIG_ZPAIR_SOFTAP)]
const SSID_PREFIX: &str = zephyr::kconfig::CONFIG_ZPAIR_SOFTAP_SSID_PREFIX;
#[cfg(not(CONFIG_ZPAIR_SOFTAP))]
const SSID_PREFIX: &str = "zpair-";

/// `CONFIG_ZPAIR_WIRED_ANNOUNCE_INTERVAL_MS` (the option exists only with the wired backend).
fn announce_interval_ms() -> u64 {
    #[cfg(CONFIG_ZPAIR_WIRED)]
    let ms = u64::try_from(zephyr::kconfig::CONFIG_ZPAIR_WIRED_ANNOUNCE_INTERVAL_MS).unwrap_or(2000);
    #[cfg(not(CONFIG_ZPAIR_WIRED))]
    let ms = 2000;
    ms.max(200)
}

// ---------------------------------------------------------------------------------------------
// Modes, connections, configuration
// ---------------------------------------------------------------------------------------------

/// The pairing modes this build enables (Kconfig `CONFIG_ZPAIR_SOFTAP` ... `_CELLULAR`).
pub fn modes_enabled() -> Modes {
    // SAFETY: plain call into the shim.
    let bits = unsafe { ffi::zpair_modes_enabled() };
    let mut m = Modes::empty();
    for (bit, mode) in [
        (ffi::ZPAIR_MODE_SOFTAP, Modes::SOFTAP),
        (ffi::ZPAIR_MODE_BLE, Modes::BLE),
        (ffi::ZPAIR_MODE_WIRED, Modes::WIRED),
        (ffi::ZPAIR_MODE_CELLULAR, Modes::CELLULAR),
    ] {
        if bits & (1 << bit) != 0 {
            m = m.union(mode);
        }
    }
    m
}

/// The shim's number of a mode.
pub const fn mode_number(mode: Mode) -> u8 {
    match mode {
        Mode::SoftAp => ffi::ZPAIR_MODE_SOFTAP,
        Mode::Ble => ffi::ZPAIR_MODE_BLE,
        Mode::Wired => ffi::ZPAIR_MODE_WIRED,
        Mode::Cellular => ffi::ZPAIR_MODE_CELLULAR,
    }
}

/// The mode of a shim mode number.
pub const fn mode_of(number: u8) -> Option<Mode> {
    match number {
        ffi::ZPAIR_MODE_SOFTAP => Some(Mode::SoftAp),
        ffi::ZPAIR_MODE_BLE => Some(Mode::Ble),
        ffi::ZPAIR_MODE_WIRED => Some(Mode::Wired),
        ffi::ZPAIR_MODE_CELLULAR => Some(Mode::Cellular),
        _ => None,
    }
}

/// The engine's connection id of a backend connection.
pub const fn conn_id(mode: u8, backend_conn: u32) -> ConnId {
    ConnId(((mode as u32 & 0xf) << 28) | (backend_conn & 0x0fff_ffff))
}

/// The backend (mode number, backend connection) of an engine connection id.
pub const fn conn_parts(conn: ConnId) -> (u8, u32) {
    ((conn.0 >> 28) as u8, conn.0 & 0x0fff_ffff)
}

fn kconfig_ms(seconds: isize) -> u64 {
    u64::try_from(seconds).unwrap_or(1).saturating_mul(1000)
}

/// The machine's configuration from Kconfig, for these modes.
pub fn kconfig_config(modes: Modes) -> Result<Config, zpair_core::machine::ConfigError> {
    use zephyr::kconfig as k;
    Config::new(ConfigParams {
        window_ms: kconfig_ms(k::CONFIG_ZPAIR_WINDOW_TIMEOUT_S),
        session_idle_ms: kconfig_ms(k::CONFIG_ZPAIR_SESSION_IDLE_TIMEOUT_S),
        deadline_ms: kconfig_ms(k::CONFIG_ZPAIR_DEADLINE_S),
        max_attempts: u8::try_from(k::CONFIG_ZPAIR_MAX_ATTEMPTS).unwrap_or(5),
        lockout_ms: kconfig_ms(k::CONFIG_ZPAIR_LOCKOUT_S),
        backoff_base_ms: u64::try_from(k::CONFIG_ZPAIR_RETRY_BASE_MS).unwrap_or(1000),
        backoff_cap_ms: u64::try_from(k::CONFIG_ZPAIR_RETRY_MAX_MS).unwrap_or(30_000),
        modes,
    })
}

pub(crate) fn errno_to_network_error(mode: Mode, rc: i32) -> PairError {
    // The precise error of the backend (wrong password, AP not found, ...): ZPAIR_NET_ERROR().
    if rc <= -ffi::ZPAIR_NET_ERR_BASE && rc > -(ffi::ZPAIR_NET_ERR_BASE + 0x100) {
        return PairError::from_code(u8::try_from(-rc - ffi::ZPAIR_NET_ERR_BASE).unwrap_or(0x63));
    }
    match (mode, -rc) {
        (_, ffi::errno::ENOTSUP) => PairError::Internal,
        (Mode::Wired, _) => PairError::NoLink,
        (Mode::Cellular, _) => PairError::ModemFailure,
        _ => PairError::AssociationFailed,
    }
}

// ---------------------------------------------------------------------------------------------
// Command output
// ---------------------------------------------------------------------------------------------

/// Where a command's answer goes (the shell that asked, or nowhere).
#[derive(Clone, Copy)]
struct Reply(*mut c_void);

impl Reply {
    fn line(&self, args: core::fmt::Arguments<'_>) {
        let mut line = Line::<160>::new();
        let _ = line.write_fmt(args);
        let b = line.as_bytes();
        // SAFETY: `self.0` is the command context the shim gave with the input (or null, which
        // the shim ignores); `b` is readable for `b.len()` bytes.
        unsafe { ffi::zpair_cmd_print(self.0, b.as_ptr().cast(), b.len()) }
    }

    #[cfg(feature = "qr")]
    fn raw(&self, b: &[u8]) {
        // SAFETY: as in `line`.
        unsafe { ffi::zpair_cmd_print(self.0, b.as_ptr().cast(), b.len()) }
    }

    fn done(self, rc: i32) {
        // SAFETY: called exactly once per command input, with its context.
        unsafe { ffi::zpair_cmd_done(self.0, rc) }
    }
}

// ---------------------------------------------------------------------------------------------
// Transport I/O (everything but the device and the store, so that actions borrowed from the
// device can be executed against it)
// ---------------------------------------------------------------------------------------------

/// The last packet processed for the wired session and the last datagram sent for it: a
/// byte-identical retransmission from the app is answered from here (docs/transports.md).
struct Retransmit {
    conn: Option<ConnId>,
    rx: [u8; DATAGRAM_MAX],
    rx_len: usize,
    tx: [u8; DATAGRAM_MAX],
    tx_len: usize,
}

impl Retransmit {
    const fn new() -> Self {
        Retransmit { conn: None, rx: [0; DATAGRAM_MAX], rx_len: 0, tx: [0; DATAGRAM_MAX], tx_len: 0 }
    }

    fn is_repeat(&self, conn: ConnId, packet: &[u8]) -> bool {
        self.conn == Some(conn) && self.rx.get(..self.rx_len) == Some(packet)
    }

    fn received(&mut self, conn: ConnId, packet: &[u8]) {
        self.conn = Some(conn);
        self.tx_len = 0;
        match self.rx.get_mut(..packet.len()) {
            Some(dst) => {
                dst.copy_from_slice(packet);
                self.rx_len = packet.len();
            }
            None => self.rx_len = 0,
        }
    }

    fn sent(&mut self, conn: ConnId, datagram: &[u8]) {
        if self.conn != Some(conn) {
            return;
        }
        match self.tx.get_mut(..datagram.len()) {
            Some(dst) => {
                dst.copy_from_slice(datagram);
                self.tx_len = datagram.len();
            }
            None => self.tx_len = 0,
        }
    }

    fn forget(&mut self, conn: ConnId) {
        if self.conn == Some(conn) {
            self.conn = None;
            self.rx_len = 0;
            self.tx_len = 0;
        }
    }
}

struct Io {
    rtx: Retransmit,
    frame: [u8; DATAGRAM_MAX],
    wired_open: bool,
    announcing: bool,
    announce_at: u64,
    /// A network join waiting for its outcome, and when to poll it next.
    pending_net: Option<(Mode, u64)>,
    /// The mode of the pairing in progress (for activation and the network).
    mode: Option<Mode>,
    /// SoftAP: stream reassembly per TCP connection.
    softap: crate::softap::SoftAp,
    /// The Wi-Fi scan in progress for the app.
    scan: crate::wifi::Scan,
    /// BLE: the GATT framing of the connected app.
    ble: Ble,
    /// Cellular: modem, QR code, bind polling.
    cell: Cellular,
}

/// Something to do once the action that asked for it no longer borrows the device.
enum FollowUp {
    Event(Event),
    Activate { token: ActivationToken, endpoint: Option<CloudEndpoint>, mode: Mode },
    EmptyScan(ConnId),
}

impl Io {
    const fn new() -> Self {
        Io {
            rtx: Retransmit::new(),
            frame: [0; DATAGRAM_MAX],
            wired_open: false,
            announcing: false,
            announce_at: 0,
            pending_net: None,
            mode: None,
            softap: crate::softap::SoftAp::new(),
            scan: crate::wifi::Scan::new(),
            ble: Ble::new(),
            cell: Cellular::new(),
        }
    }

    /// Sends a session packet to the app on `conn`, framed for its transport.
    fn transmit(&mut self, conn: ConnId, packet: &[u8]) {
        let (mode, backend) = conn_parts(conn);
        match mode {
            ffi::ZPAIR_MODE_WIRED => {
                let Ok(datagram) = write_datagram(packet, &mut self.frame) else {
                    log::warn!("wired: packet of {} bytes not sent", packet.len());
                    return;
                };
                // SAFETY: `datagram` is readable for its length during the call.
                let rc = unsafe { ffi::zpair_wired_send(backend, datagram.as_ptr(), datagram.len()) };
                if rc != 0 {
                    log::warn!("wired: send failed ({rc})");
                }
                self.rtx.sent(conn, datagram);
            }
            ffi::ZPAIR_MODE_SOFTAP => self.softap.transmit(backend, packet),
            ffi::ZPAIR_MODE_BLE => {
                if let Err(rc) = self.ble.transmit(backend, packet) {
                    // A lost fragment breaks the session: end the connection.
                    log::warn!("ble: packet of {} bytes not sent ({rc})", packet.len());
                    // SAFETY: plain call into the shim.
                    let _ = unsafe { ffi::zpair_ble_disconnect(backend) };
                }
            }
            other => log::warn!("no transport for mode {other} in this build"),
        }
    }

    fn close_connection(&mut self, conn: ConnId) {
        let (mode, backend) = conn_parts(conn);
        self.rtx.forget(conn);
        // SAFETY: plain calls into the shim (unknown connections are ignored there).
        unsafe {
            match mode {
                ffi::ZPAIR_MODE_WIRED => ffi::zpair_wired_forget(backend),
                ffi::ZPAIR_MODE_SOFTAP => {
                    self.softap.forget(backend);
                    let _ = ffi::zpair_softap_close(backend);
                }
                ffi::ZPAIR_MODE_BLE => {
                    let _ = ffi::zpair_ble_disconnect(backend);
                }
                _ => {}
            }
        }
    }

    fn start_window(&mut self, modes: Modes, factory: &FactoryData, now: u64) {
        if modes.contains(Modes::WIRED) {
            // SAFETY: plain call into the shim.
            let rc = unsafe { ffi::zpair_wired_open() };
            if rc == 0 {
                self.wired_open = true;
                self.announcing = true;
                self.announce_at = now;
            } else {
                log::error!("wired: cannot open the session socket ({rc})");
            }
        }
        if modes.contains(Modes::SOFTAP) {
            let mut ssid = Line::<32>::new();
            let _ = write!(ssid, "{SSID_PREFIX}{:04x}", factory.device.0 & 0xffff);
            let s = ssid.as_bytes();
            // SAFETY: `s` is readable for its length during the call.
            let rc = unsafe { ffi::zpair_softap_start(s.as_ptr(), s.len()) };
            if rc != 0 {
                log::warn!("softap: not started ({rc})");
            }
        }
        if modes.contains(Modes::BLE) {
            let discriminator = zpair_core::payload::discriminator_of(factory.device);
            let state = pair_state(State::WindowOpen).code();
            // SAFETY: plain call into the shim.
            let rc = unsafe {
                ffi::zpair_ble_start(discriminator, state, factory.product.0, zpair_core::PROTOCOL_VERSION)
            };
            if rc != 0 {
                log::warn!("ble: advertising not started ({rc})");
            }
        }
        if modes.contains(Modes::CELLULAR) {
            self.cell.start(factory, now);
        }
    }

    fn stop_window(&mut self, modes: Modes) {
        if modes.contains(Modes::WIRED) && self.wired_open {
            self.announcing = false;
            // SAFETY: plain call into the shim.
            let _ = unsafe { ffi::zpair_wired_close() };
            self.wired_open = false;
        }
        // SAFETY: plain calls into the shim; disabled backends answer -ENOTSUP.
        unsafe {
            if modes.contains(Modes::SOFTAP) {
                let _ = ffi::zpair_softap_stop();
            }
            if modes.contains(Modes::BLE) {
                let _ = ffi::zpair_ble_stop();
            }
        }
        if modes.contains(Modes::CELLULAR) {
            self.cell.stop();
        }
    }

    fn connect(&mut self, mode: Mode, wifi: Option<&WifiCredentials>, now: u64) -> Option<FollowUp> {
        self.mode = Some(mode);
        let mut ip4 = 0u32;
        let params = wifi.map(|w| ffi::WifiParams {
            ssid: w.ssid.as_bytes().as_ptr(),
            ssid_len: u8::try_from(w.ssid.as_bytes().len()).unwrap_or(0),
            security: w.security.code(),
            psk: w.passphrase.expose().as_ptr(),
            psk_len: u8::try_from(w.passphrase.expose().len()).unwrap_or(0),
            bssid: w.bssid.as_ref().map_or(core::ptr::null(), |b| b.0.as_ptr()),
            channel: w.channel.unwrap_or(0),
            hidden: u8::from(w.hidden),
        });
        let p = params.as_ref().map_or(core::ptr::null(), |p| p as *const ffi::WifiParams);
        // SAFETY: `p` is null or points to parameters whose pointers are valid for their lengths
        // during the call (borrowed from the machine's credentials); `ip4` is a valid
        // out-pointer.
        let rc = unsafe { ffi::zpair_net_connect(mode_number(mode), p, &mut ip4) };
        match rc {
            0 => Some(FollowUp::Event(Event::NetworkUp { ip: ip_of(ip4) })),
            rc if rc == -ffi::errno::EINPROGRESS => {
                self.pending_net = Some((mode, now + NET_POLL_MS));
                None
            }
            rc => {
                log::warn!("network of mode {} failed ({rc})", mode.name());
                Some(FollowUp::Event(Event::NetworkFailed { error: errno_to_network_error(mode, rc) }))
            }
        }
    }

    /// Executes one action; what needs the device again comes back as a follow-up.
    fn execute(
        &mut self,
        action: Action<'_>,
        store: &mut SettingsStore,
        factory: &FactoryData,
        now: u64,
    ) -> Option<FollowUp> {
        match action {
            Action::StartWindow(modes) => {
                log::info!("pairing window open");
                self.start_window(modes, factory, now);
                None
            }
            Action::StopWindow(modes) => {
                log::info!("pairing window closed");
                self.stop_window(modes);
                None
            }
            Action::SendStatus { .. } | Action::SendAlert { .. } => None,
            Action::DisconnectApp(conn) => {
                self.close_connection(conn);
                None
            }
            Action::StartScan { conn } => {
                // SAFETY: plain call into the shim.
                let rc = unsafe { ffi::zpair_wifi_scan() };
                if rc != 0 {
                    log::warn!("wifi scan not available ({rc})");
                    return Some(FollowUp::EmptyScan(conn));
                }
                self.scan.start(conn);
                None
            }
            Action::ConnectNetwork { mode, wifi } => self.connect(mode, wifi, now),
            Action::DisconnectNetwork => {
                self.pending_net = None;
                if let Some(mode) = self.mode {
                    // SAFETY: plain call into the shim.
                    let _ = unsafe { ffi::zpair_net_disconnect(mode_number(mode)) };
                }
                None
            }
            Action::ReconnectPrevious { mode, wifi } => {
                // Fire and forget: the device is back on its committed network.
                let _ = self.connect(mode, wifi, now);
                self.pending_net = None;
                None
            }
            Action::StartActivation { token, endpoint, attempt } => {
                log::info!("activating (attempt {attempt})");
                Some(FollowUp::Activate {
                    token: token.clone(),
                    endpoint: endpoint.cloned(),
                    mode: self.mode.unwrap_or(Mode::Wired),
                })
            }
            Action::ScheduleRetry { at_ms, attempt, error } => {
                log::info!("{} (retry {attempt} in {} ms)", error.name(), at_ms.saturating_sub(now));
                None
            }
            Action::Persist { state, reason } => {
                let result = store.save(state);
                if let Err(e) = result {
                    log::error!("saving the pairing state failed: {e}");
                }
                match reason {
                    PersistReason::Commit => Some(FollowUp::Event(match result {
                        Ok(_) => Event::CommitDone,
                        Err(_) => Event::CommitFailed,
                    })),
                    PersistReason::Counters | PersistReason::NetworkReset => None,
                }
            }
            Action::EraseStorage => {
                if let Err(e) = store.erase() {
                    log::error!("erasing the pairing state failed: {e}");
                }
                None
            }
            Action::ReportDone { mode } => {
                log::info!("paired over {} and activated", mode.name());
                None
            }
            Action::ReportFailed(e) => {
                log::warn!("pairing failed: {}", e.name());
                None
            }
        }
    }
}

fn ip_of(ip4: u32) -> IpAddr {
    // The shim gives s_addr: network order in memory.
    IpAddr::V4(Ipv4Addr::from(ip4.to_ne_bytes()))
}

// ---------------------------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------------------------

/// Why [`Engine::run`] returned.
enum Exit {
    /// New factory data was written: rebuild the engine.
    FactoryReplaced,
}

/// The device engine of a running zpair thread.
struct Engine {
    device: Device<ZCrypto>,
    store: SettingsStore,
    factory: FactoryData,
    firmware: FwVersion,
    enabled: Modes,
    io: Io,
    exit: Option<Exit>,
    /// The LED pattern shown (`ZPAIR_LED_*`), `u8::MAX` before the first.
    led: u8,
}

impl Engine {
    fn new(info: &AppInfo, factory: FactoryData, enabled: Modes, config: Config) -> Self {
        let mut store = storage::store();
        let loaded = store.load();
        if loaded.is_corrupt() {
            log::error!("pairing state corrupt: starting unpaired");
        } else if loaded.has_damage() {
            log::warn!("one pairing state slot is damaged (an interrupted write): using the other");
        }
        let identity = Identity {
            product: factory.product,
            device: factory.device,
            modes: enabled,
            firmware: info.firmware,
            capabilities: info.capabilities,
        };
        let now = sys::now_ms();
        let device = Device::new(
            identity,
            factory.verifier.clone(),
            sys::crypto(),
            config,
            loaded.into_state(),
            now,
        );
        Engine {
            device,
            store,
            factory,
            firmware: (info.firmware.major, info.firmware.minor, info.firmware.patch),
            enabled,
            io: Io::new(),
            exit: None,
            led: u8::MAX,
        }
    }

    fn run(&mut self) -> Exit {
        log::info!(
            "device {:016x} product {} ({})",
            self.factory.device.0,
            self.factory.product.0,
            self.device.machine().state().name()
        );
        loop {
            self.drain(sys::now_ms());
            self.indicate();
            if let Some(exit) = self.exit.take() {
                return exit;
            }
            let mut input = ffi::Input::empty();
            let timeout = self.timeout(sys::now_ms());
            // SAFETY: `input` is a valid out-pointer to a `struct zpair_input`.
            let rc = unsafe { ffi::zpair_input_wait(timeout, &mut input) };
            if rc == 0 {
                self.on_input(&input);
                // SAFETY: `input` came from zpair_input_wait and is released exactly once.
                unsafe { ffi::zpair_input_release(&input) };
            }
            self.on_timers(sys::now_ms());
        }
    }

    /// Shows the state on the pairing LED (zpair,pairing node) when it changed.
    fn indicate(&mut self) {
        let pattern = match self.device.machine().state() {
            State::Idle => ffi::ZPAIR_LED_OFF,
            State::WindowOpen => ffi::ZPAIR_LED_WINDOW,
            State::Activated => ffi::ZPAIR_LED_ON,
            _ => ffi::ZPAIR_LED_BUSY,
        };
        if pattern != self.led {
            self.led = pattern;
            // SAFETY: plain call into the shim.
            unsafe { ffi::zpair_indicate(pattern) };
        }
    }

    /// Milliseconds until the next timer (machine, announcement, network poll); -1: none.
    fn timeout(&self, now: u64) -> i32 {
        let mut next: Option<u64> = self.device.next_deadline();
        if self.io.announcing {
            next = Some(next.map_or(self.io.announce_at, |n| n.min(self.io.announce_at)));
        }
        if let Some((_, at)) = self.io.pending_net {
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        if let Some(at) = self.io.cell.next_deadline() {
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        match next {
            None => -1,
            Some(t) => i32::try_from(t.saturating_sub(now).min(3_600_000)).unwrap_or(3_600_000),
        }
    }

    fn on_timers(&mut self, now: u64) {
        if self.io.announcing && now >= self.io.announce_at {
            self.announce();
            self.io.announce_at = now + announce_interval_ms();
        }
        if let Some((mode, at)) = self.io.pending_net {
            if now >= at {
                let mut ip4 = 0u32;
                // SAFETY: `ip4` is a valid out-pointer.
                let rc = unsafe { ffi::zpair_net_status(mode_number(mode), &mut ip4) };
                if rc == 0 {
                    self.io.pending_net = None;
                    self.event(now, Event::NetworkUp { ip: ip_of(ip4) });
                } else {
                    self.io.pending_net = Some((mode, now + NET_POLL_MS));
                }
            }
        }
        let window_open = self.device.machine().state() == State::WindowOpen;
        if let Some(ev) = self.io.cell.on_timer(now, window_open, &self.factory, self.firmware) {
            let now = sys::now_ms();
            if let Err(e) = self.device.handle(now, ev) {
                log::warn!("cellular: bind not taken now: {e}");
                self.io.cell.bind_refused(now);
            }
        }
    }

    fn announce(&mut self) {
        let state = self.device.machine().state();
        // SAFETY: plain call into the shim.
        let port = unsafe { ffi::zpair_wired_port() };
        let msg = DeviceToApp::Announce(Announce {
            protocol_version: zpair_core::PROTOCOL_VERSION,
            product: self.factory.product,
            device: self.factory.device,
            modes: self.factory.modes,
            port,
            window_open: state == State::WindowOpen,
            state: pair_state(state),
        });
        let mut packet = [0u8; 1 + Announce::MAX_ENCODED_LEN];
        packet[0] = ANNOUNCE_PACKET_TYPE;
        let Ok(n) = msg.encode(&mut packet[1..]) else { return };
        let Ok(datagram) = write_datagram(&packet[..1 + n], &mut self.io.frame) else { return };
        // SAFETY: `datagram` is readable for its length during the call.
        let rc = unsafe { ffi::zpair_wired_announce(datagram.as_ptr(), datagram.len()) };
        if rc != 0 {
            log::debug!("announce failed ({rc})");
        }
    }

    fn event(&mut self, now: u64, ev: Event) {
        if let Err(e) = self.device.handle(now, ev) {
            log::warn!("event refused: {e}");
        }
    }

    /// Executes the device's outputs until it has nothing more to do.
    fn drain(&mut self, now: u64) {
        loop {
            let follow = match self.device.poll(now) {
                None => break,
                Some(Output::Transmit { conn, packet }) => {
                    self.io.transmit(conn, packet);
                    None
                }
                Some(Output::Action(action)) => {
                    self.io.execute(action, &mut self.store, &self.factory, now)
                }
            };
            match follow {
                None => {}
                Some(FollowUp::Event(ev)) => self.event(now, ev),
                Some(FollowUp::Activate { token, endpoint, mode }) => {
                    self.activate(&token, endpoint.as_ref(), mode);
                }
                Some(FollowUp::EmptyScan(conn)) => {
                    if let Some(p) = self.device.scan_results(conn, &ScanResults::default()) {
                        self.io.transmit(conn, p);
                    }
                }
            }
        }
    }

    /// The activation call (blocking: two HTTP exchanges with the cloud).
    fn activate(&mut self, token: &ActivationToken, endpoint: Option<&CloudEndpoint>, mode: Mode) {
        let id = CloudIdentity {
            product: self.factory.product,
            device: self.factory.device,
            secret: &self.factory.activation_secret,
            firmware: self.firmware,
        };
        let mut crypto = sys::crypto();
        let result = client::activate(&mut crypto, &mut HttpLink, &id, token, endpoint, mode);
        match &result {
            Ok(op) => log::info!("cloud accepted the activation as {}", op.name.as_str()),
            Err(e) => log::warn!("activation refused: {}", e.name()),
        }
        self.event(sys::now_ms(), Event::ActivationResult(result));
    }

    fn on_input(&mut self, input: &ffi::Input) {
        let now = sys::now_ms();
        let data: &[u8] = if input.data.is_null() || input.len == 0 {
            &[]
        } else {
            // SAFETY: the shim guarantees `data` is valid for `len` bytes until the input is
            // released, which happens after this call returns.
            unsafe { core::slice::from_raw_parts(input.data, usize::from(input.len)) }
        };
        match input.kind {
            ffi::ZPAIR_IN_PACKET => match input.mode {
                ffi::ZPAIR_MODE_WIRED => self.wired_packet(now, input.conn, data),
                ffi::ZPAIR_MODE_SOFTAP => self.io.softap.receive(&mut self.device, now, input.conn, data),
                ffi::ZPAIR_MODE_BLE => self.ble_packet(now, input.conn, input.arg, data),
                other => log::warn!("packet for mode {other}: no transport in this build"),
            },
            ffi::ZPAIR_IN_CONNECTED => {
                if input.mode == ffi::ZPAIR_MODE_SOFTAP && !self.io.softap.connected(input.conn) {
                    log::warn!("softap: no slot for conn {}", input.conn);
                }
                if input.mode == ffi::ZPAIR_MODE_BLE {
                    self.io.ble.connected(input.conn);
                }
                if let Some(mode) = mode_of(input.mode) {
                    self.device.app_connected(now, conn_id(input.mode, input.conn), mode);
                }
            }
            ffi::ZPAIR_IN_DISCONNECTED => {
                let conn = conn_id(input.mode, input.conn);
                self.io.rtx.forget(conn);
                if input.mode == ffi::ZPAIR_MODE_SOFTAP {
                    self.io.softap.forget(input.conn);
                }
                if input.mode == ffi::ZPAIR_MODE_BLE {
                    self.io.ble.disconnected(input.conn);
                }
                self.device.app_disconnected(now, conn);
            }
            ffi::ZPAIR_IN_NET => self.net_changed(now, input.mode, input.arg),
            ffi::ZPAIR_IN_COMMAND => {
                let rc = self.command(now, input.arg, input.conn, data, Reply(input.ctx));
                Reply(input.ctx).done(rc);
            }
            ffi::ZPAIR_IN_BUTTON => {
                let ev = if input.arg == 0 {
                    Event::OpenWindow { modes: self.enabled }
                } else {
                    Event::Reset(ResetKind::Factory)
                };
                self.event(now, ev);
            }
            ffi::ZPAIR_IN_SCAN => {
                if let Some((conn, page)) = self.io.scan.input(input.arg, data) {
                    if let Some(p) = self.device.scan_results(conn, &page) {
                        self.io.transmit(conn, p);
                    }
                }
            }
            other => log::warn!("unknown input kind {other}"),
        }
    }

    fn wired_packet(&mut self, now: u64, backend: u32, datagram: &[u8]) {
        if !self.io.wired_open {
            return;
        }
        let conn = conn_id(ffi::ZPAIR_MODE_WIRED, backend);
        let Ok(packet) = parse_datagram(datagram) else {
            // Stray LAN traffic.
            return;
        };
        if packet.first() == Some(&ANNOUNCE_PACKET_TYPE) {
            // Another device's (or our own looped-back) announcement.
            return;
        }
        if self.io.rtx.is_repeat(conn, packet) {
            if self.io.rtx.tx_len > 0 {
                let (tx, n) = (&self.io.rtx.tx, self.io.rtx.tx_len);
                // SAFETY: `tx[..n]` is readable during the call.
                let rc = unsafe { ffi::zpair_wired_send(backend, tx.as_ptr(), n) };
                log::debug!("retransmission answered from the cache ({rc})");
            }
            return;
        }
        let in_session = self.device.machine().session().map(|s| s.conn) == Some(conn);
        if !in_session {
            if packet.first() != Some(&TYPE_PAIR_REQUEST) {
                // SAFETY: plain call into the shim.
                unsafe { ffi::zpair_wired_forget(backend) };
                return;
            }
            self.device.app_connected(now, conn, Mode::Wired);
        }
        self.io.rtx.received(conn, packet);
        if let Some(reply) = self.device.receive(now, conn, packet) {
            self.io.transmit(conn, reply);
        }
    }

    fn ble_packet(&mut self, now: u64, backend: u32, mtu: i32, fragment: &[u8]) {
        let conn = conn_id(ffi::ZPAIR_MODE_BLE, backend);
        match self.io.ble.receive(backend, mtu, fragment) {
            Ok(None) => {}
            Ok(Some(packet)) => {
                if let Some(reply) = self.device.receive(now, conn, packet) {
                    self.io.transmit(conn, reply);
                }
            }
            Err(e) => {
                // A lost or corrupted fragment: the session cannot recover.
                log::warn!("ble: framing error ({e}): disconnecting");
                self.io.close_connection(conn);
            }
        }
    }

    /// `code`: the input's `conn`, the backend's `ZPAIR_ERR_*` for a failure (cellular).
    fn net_changed(&mut self, now: u64, mode: u8, arg: i32) {
        if mode == ffi::ZPAIR_MODE_CELLULAR {
            self.io.cell.net_changed(now, arg);
        }
        let Some((pending, _)) = self.io.pending_net else { return };
        if mode_number(pending) != mode {
            return;
        }
        if arg == ffi::ZPAIR_NET_UP {
            let mut ip4 = 0u32;
            // SAFETY: `ip4` is a valid out-pointer.
            if unsafe { ffi::zpair_net_status(mode, &mut ip4) } == 0 {
                self.io.pending_net = None;
                self.event(now, Event::NetworkUp { ip: ip_of(ip4) });
            }
        } else if arg < 0 {
            self.io.pending_net = None;
            self.event(now, Event::NetworkFailed { error: errno_to_network_error(pending, arg) });
        }
    }

    fn command(&mut self, now: u64, cmd: i32, value: u32, data: &[u8], out: Reply) -> i32 {
        match cmd {
            ffi::ZPAIR_CMD_STATUS => {
                self.print_status(out);
                0
            }
            ffi::ZPAIR_CMD_START => {
                let requested = Modes::from_bits(u8::try_from(value).unwrap_or(0)).unwrap_or_default();
                let modes = if requested.is_empty() {
                    self.enabled
                } else {
                    Modes::from_bits(requested.bits() & self.enabled.bits()).unwrap_or_default()
                };
                self.command_event(now, Event::OpenWindow { modes }, out)
            }
            ffi::ZPAIR_CMD_STOP => {
                let ev = match self.device.machine().state() {
                    State::Idle | State::Activated => {
                        out.line(format_args!("not pairing"));
                        return 0;
                    }
                    State::WindowOpen => Event::CloseWindow,
                    _ => Event::Abort,
                };
                self.command_event(now, ev, out)
            }
            ffi::ZPAIR_CMD_RESET_NETWORK => {
                self.command_event(now, Event::Reset(ResetKind::Network), out)
            }
            ffi::ZPAIR_CMD_RESET_FACTORY => {
                self.command_event(now, Event::Reset(ResetKind::Factory), out)
            }
            ffi::ZPAIR_CMD_PAYLOAD => print_payload(&self.factory, out),
            ffi::ZPAIR_CMD_FACTORY => match storage::write_factory(data) {
                Ok(f) => {
                    out.line(format_args!(
                        "factory data written: device {:016x} product {}",
                        f.device.0, f.product.0
                    ));
                    self.exit = Some(Exit::FactoryReplaced);
                    0
                }
                Err(e) => {
                    out.line(format_args!("factory data not written: {e}"));
                    -ffi::errno::EINVAL
                }
            },
            _ => -ffi::errno::EINVAL,
        }
    }

    fn command_event(&mut self, now: u64, ev: Event, out: Reply) -> i32 {
        match self.device.handle(now, ev) {
            Ok(()) => {
                out.line(format_args!("ok"));
                0
            }
            Err(e) => {
                out.line(format_args!("refused: {e}"));
                -ffi::errno::EALREADY
            }
        }
    }

    fn print_status(&self, out: Reply) {
        let m = self.device.machine();
        let p = m.persisted();
        out.line(format_args!("state: {}", m.state().name()));
        let mut modes = Line::<48>::new();
        if let Some(w) = m.window_modes() {
            for (bit, name) in [
                (Modes::SOFTAP, "softap"),
                (Modes::BLE, "ble"),
                (Modes::WIRED, "wired"),
                (Modes::CELLULAR, "cellular"),
            ] {
                if w.contains(bit) {
                    let _ = write!(modes, " {name}");
                }
            }
        } else {
            let _ = write!(modes, " closed");
        }
        out.line(format_args!("window:{}", core::str::from_utf8(modes.as_bytes()).unwrap_or("")));
        out.line(format_args!("activated: {}", if p.is_activated() { "yes" } else { "no" }));
        out.line(format_args!("mode: {}", p.mode.map_or("-", Mode::name)));
        if let Some(op) = &p.operational {
            out.line(format_args!("cloud id: {}", op.name.as_str()));
        }
        out.line(format_args!("last error: {}", m.last_error().map_or("none", PairError::name)));
        out.line(format_args!("failed attempts: {}", m.failed_attempts()));
        if self.enabled.contains(Modes::CELLULAR) {
            let modem = match self.io.cell.modem_error() {
                _ if self.io.cell.is_attached() => "attached",
                Some(e) => e.name(),
                None => "-",
            };
            out.line(format_args!("modem: {modem}"));
        }
        out.line(format_args!(
            "device: {:016x} product: {}",
            self.factory.device.0, self.factory.product.0
        ));
        // SAFETY: plain call into the shim.
        let port = unsafe { ffi::zpair_wired_port() };
        if port != 0 {
            out.line(format_args!("wired port: {port}"));
        }
        let (mut unused, mut size) = (0usize, 0usize);
        // SAFETY: valid out-pointers.
        if unsafe { ffi::zpair_thread_stack_unused(&mut unused, &mut size) } == 0 {
            out.line(format_args!("stack: {} of {} bytes used", size - unused.min(size), size));
        }
    }
}

/// `zpair payload`: the setup payload string, the manual code and (feature `qr`) a QR code.
fn print_payload(factory: &FactoryData, out: Reply) -> i32 {
    let Some(payload) = factory.setup_payload() else {
        out.line(format_args!("no setup code stored: the setup code is on the device's label"));
        return -ffi::errno::ENODATA;
    };
    let mut buf = zeroize::Zeroizing::new([0u8; zpair_core::payload::PAYLOAD_LEN]);
    let Ok(text) = zpair_core::payload::render(&payload, &mut buf[..]) else {
        return -ffi::errno::EINVAL;
    };
    out.line(format_args!("payload: {text}"));
    let mut manual = zeroize::Zeroizing::new([0u8; zpair_core::payload::MANUAL_LEN]);
    if let Ok(code) = zpair_core::payload::render_manual(&payload.manual_code(), &mut manual[..]) {
        out.line(format_args!("manual code: {code}"));
    }
    #[cfg(feature = "qr")]
    print_qr(text, out);
    0
}

#[cfg(feature = "qr")]
fn print_qr(text: &str, out: Reply) {
    cellular::qr_lines(text, |line| out.raw(line));
}

// ---------------------------------------------------------------------------------------------
// The thread
// ---------------------------------------------------------------------------------------------

/// The engine lives in a static (it holds about 5 KiB of buffers), touched only by the zpair
/// thread.
struct EngineSlot(UnsafeCell<MaybeUninit<Engine>>);

// SAFETY: the slot is only accessed by the zpair thread (`thread_main`), which
// zpair_thread_start() creates at most once.
unsafe impl Sync for EngineSlot {}

static ENGINE: EngineSlot = EngineSlot(UnsafeCell::new(MaybeUninit::uninit()));

/// Starts the zpair thread. It reads the factory data from settings (or waits for
/// `zpair factory <hex>`), restores the pairing state and runs the pairing engine for the
/// modes this build enables. Also routes `log` into zpair's C log module
/// ([`sys::init_logging`]). Errors: `-EALREADY` (started before), `-ENOTSUP` (no mode
/// enabled in Kconfig).
pub fn start(info: &'static AppInfo) -> Result<(), i32> {
    sys::init_logging();
    if modes_enabled().is_empty() {
        log::error!("no pairing mode enabled (CONFIG_ZPAIR_WIRED, ...)");
        return Err(-ffi::errno::ENOTSUP);
    }
    let arg = (info as *const AppInfo).cast_mut().cast::<c_void>();
    // SAFETY: `thread_entry` matches the entry signature and `arg` points to a 'static
    // AppInfo that the thread only reads.
    match unsafe { ffi::zpair_thread_start(Some(thread_entry), arg) } {
        0 => Ok(()),
        rc => Err(rc),
    }
}

extern "C" fn thread_entry(arg: *mut c_void) {
    // SAFETY: `start` passes a pointer to a 'static AppInfo.
    let info: &'static AppInfo = unsafe { &*arg.cast::<AppInfo>() };
    thread_main(info);
}

fn thread_main(info: &AppInfo) {
    if let Err(rc) = storage::init() {
        log::error!("settings unavailable ({rc}): nothing will be persisted");
    }
    let enabled = modes_enabled();
    let mut initialised = false;
    loop {
        let factory = match storage::load_factory() {
            Ok(f) => f,
            Err(e) => {
                log::warn!("{e}: waiting for `zpair factory <hex>`");
                wait_for_factory();
                continue;
            }
        };
        if zephyr::kconfig::CONFIG_ZPAIR_PRODUCT_ID != 0
            && u32::try_from(zephyr::kconfig::CONFIG_ZPAIR_PRODUCT_ID).ok() != Some(factory.product.0)
        {
            log::warn!("factory data is for product {}, not CONFIG_ZPAIR_PRODUCT_ID", factory.product.0);
        }
        let modes = Modes::from_bits(enabled.bits() & factory.modes.bits())
            .filter(|m| !m.is_empty())
            .unwrap_or(enabled);
        let config = match kconfig_config(modes) {
            Ok(c) => c,
            Err(e) => {
                log::error!("invalid zpair Kconfig: {e:?}");
                wait_for_factory();
                continue;
            }
        };
        // SAFETY: only this thread touches ENGINE (see EngineSlot); the previous engine, if
        // any, is dropped before the slot is overwritten and not used afterwards.
        let engine = unsafe {
            let slot = &mut *ENGINE.0.get();
            if initialised {
                slot.assume_init_drop();
            }
            slot.write(Engine::new(info, factory, enabled, config))
        };
        initialised = true;
        match engine.run() {
            Exit::FactoryReplaced => {
                // Leave the old identity's network and window behind.
                engine.io.stop_window(Modes::ALL);
            }
        }
    }
}

/// Without factory data only `zpair status` and `zpair factory` do something.
fn wait_for_factory() {
    loop {
        let mut input = ffi::Input::empty();
        // SAFETY: `input` is a valid out-pointer.
        if unsafe { ffi::zpair_input_wait(-1, &mut input) } != 0 {
            continue;
        }
        let mut done = false;
        if input.kind == ffi::ZPAIR_IN_COMMAND {
            let out = Reply(input.ctx);
            let data: &[u8] = if input.data.is_null() || input.len == 0 {
                &[]
            } else {
                // SAFETY: valid for `len` bytes until released, below.
                unsafe { core::slice::from_raw_parts(input.data, usize::from(input.len)) }
            };
            let rc = match input.arg {
                ffi::ZPAIR_CMD_FACTORY => match storage::write_factory(data) {
                    Ok(f) => {
                        out.line(format_args!(
                            "factory data written: device {:016x} product {}",
                            f.device.0, f.product.0
                        ));
                        done = true;
                        0
                    }
                    Err(e) => {
                        out.line(format_args!("factory data not written: {e}"));
                        -ffi::errno::EINVAL
                    }
                },
                ffi::ZPAIR_CMD_STATUS => {
                    out.line(format_args!("state: no factory data (zpair factory <hex>)"));
                    0
                }
                _ => {
                    out.line(format_args!("no factory data: write it with zpair factory <hex>"));
                    -ffi::errno::ENODATA
                }
            };
            out.done(rc);
        }
        // SAFETY: released exactly once.
        unsafe { ffi::zpair_input_release(&input) };
        if done {
            return;
        }
    }
}
