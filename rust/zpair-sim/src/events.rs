//! What a simulated device reports: its status, its timeline of events and its link counters.
//!
//! Nothing here carries a secret: no passphrase, token, setup code or key ever enters an event.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use zpair_core::error::PairError;
use zpair_core::machine::{ConnId, PersistReason, State};
use zpair_core::types::{Mode, Modes};

/// One thing that happened on the device, for progress displays and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimEvent {
    /// The device thread started; `state` is the state restored from storage.
    Booted {
        /// The state after restoring storage.
        state: State,
        /// Storage held a record but none was valid (corrupt storage, device starts unpaired).
        storage_corrupt: bool,
    },
    /// The machine changed state.
    State {
        /// The previous state.
        from: State,
        /// The new state.
        to: State,
    },
    /// The pairing window opened (or was extended) for these modes.
    WindowStarted(Modes),
    /// The pairing window closed for these modes.
    WindowStopped(Modes),
    /// The SoftAP is up (the app can "join" it: connect to this address).
    SoftApUp {
        /// The AP's SSID.
        ssid: String,
        /// The TCP address standing in for the AP.
        addr: SocketAddr,
    },
    /// The SoftAP went down (window closed, or the radio left to join the router).
    SoftApDown,
    /// BLE advertising started; apps connect to this socket.
    BleAdvertising {
        /// The `SOCK_SEQPACKET` socket.
        socket: PathBuf,
    },
    /// BLE advertising stopped.
    BleStopped,
    /// Wired announcements started, from this session address.
    WiredAnnouncing {
        /// The UDP session address (the announced port).
        session: SocketAddr,
        /// Where announcements go.
        to: SocketAddr,
    },
    /// Wired announcements stopped.
    WiredStopped,
    /// The cellular QR code is shown (published in the air; see [`crate::Air::cellular_qrs`]).
    QrShown,
    /// The QR code is no longer shown.
    QrHidden,
    /// A transport accepted an app connection.
    AppConnected {
        /// The connection.
        conn: ConnId,
        /// Through which transport.
        mode: Mode,
    },
    /// An app connection ended (closed by either side, or lost).
    AppDisconnected {
        /// The connection.
        conn: ConnId,
    },
    /// A refusal (alert) was sent to a connection.
    AlertSent {
        /// The connection.
        conn: ConnId,
        /// Why.
        error: PairError,
    },
    /// The BLE link of `conn` negotiated this ATT MTU.
    MtuExchanged {
        /// The connection.
        conn: ConnId,
        /// The ATT MTU in use.
        mtu: u16,
    },
    /// A wired retransmission was answered from the reply cache.
    Retransmission {
        /// The connection.
        conn: ConnId,
    },
    /// A Wi-Fi scan finished and its results were sent.
    ScanDone {
        /// The connection asking.
        conn: ConnId,
        /// Networks reported.
        networks: usize,
        /// Pages (ScanResults messages) sent.
        pages: usize,
    },
    /// The radio started joining a network (SSID is not secret; the passphrase never appears).
    JoinStarted {
        /// The mode whose network is joined.
        mode: Mode,
        /// The Wi-Fi SSID, for Wi-Fi modes.
        ssid: Option<String>,
    },
    /// The new network is up.
    NetworkUp {
        /// The device's address.
        ip: IpAddr,
    },
    /// Joining failed (or the link dropped).
    NetworkFailed(PairError),
    /// The device left the network of the attempt.
    NetworkDown,
    /// The device reconnects to its committed network.
    Reconnecting {
        /// The committed mode.
        mode: Mode,
    },
    /// The modem attached (cellular).
    ModemAttached,
    /// The modem could not attach.
    ModemFailed(PairError),
    /// A bind-poll went to the cloud.
    BindPoll,
    /// The cloud answered a bind-poll with "pending".
    BindPending {
        /// Seconds until the next poll (the cloud's suggestion).
        retry_after_s: u16,
    },
    /// The cloud bound the device: the token arrived.
    BindReceived,
    /// A bind-poll failed.
    BindPollFailed(PairError),
    /// An activation call started.
    ActivationStarted {
        /// 1 for the first call.
        attempt: u16,
    },
    /// The cloud accepted the activation.
    Activated {
        /// The cloud-assigned name.
        cloud_name: String,
    },
    /// The activation call failed.
    ActivationFailed(PairError),
    /// A transient error is retried later.
    RetryScheduled {
        /// The retry's attempt number.
        attempt: u16,
        /// In how many milliseconds.
        in_ms: u64,
        /// The error.
        error: PairError,
    },
    /// Storage was written.
    Persisted {
        /// Why.
        reason: PersistReason,
        /// The record generation written.
        generation: u32,
    },
    /// Storage could not be written.
    PersistFailed {
        /// Why it was written.
        reason: PersistReason,
    },
    /// Storage was erased (factory reset).
    Erased,
    /// The pairing finished: activated and committed.
    Done {
        /// The mode it was paired with.
        mode: Mode,
    },
    /// A pairing attempt failed and was rolled back.
    Failed(PairError),
    /// The device thread stopped.
    Stopped,
}

/// A timeline entry: milliseconds since the device started, and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineEntry {
    /// Milliseconds since [`crate::SimDevice::start`].
    pub at_ms: u64,
    /// What happened.
    pub event: SimEvent,
}

/// Counters of one app connection, at the transport's own level. The benchmarks read them.
///
/// * BLE: `frames` are ATT PDUs carrying GATT fragments and `bytes` count each one as
///   fragment + 3 (opcode and handle), as [`zpair_core::frame::gatt::att_bytes`] does; the MTU
///   exchange itself (3 bytes each way) is not counted.
/// * SoftAP: `frames` are stream frames, `bytes` include the 2-byte length headers.
/// * Wired: `frames` are datagrams, `bytes` include the 3-byte datagram header (not UDP/IP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStats {
    /// The connection.
    pub conn: ConnId,
    /// The transport.
    pub mode: Mode,
    /// The ATT MTU (BLE only).
    pub mtu: Option<u16>,
    /// Session packets received from the app.
    pub packets_rx: u64,
    /// Session packets sent to the app.
    pub packets_tx: u64,
    /// Transport frames received (ATT writes, stream frames, datagrams).
    pub frames_rx: u64,
    /// Transport frames sent (notifications, stream frames, datagrams).
    pub frames_tx: u64,
    /// Bytes received at the transport level (see above).
    pub bytes_rx: u64,
    /// Bytes sent at the transport level (see above).
    pub bytes_tx: u64,
    /// Round trips: bursts of app packets that the device answered (the first device packet
    /// after one or more app packets counts one).
    pub round_trips: u64,
    /// Wired: retransmitted packets answered from the cache.
    pub retransmissions: u64,
    /// The connection has ended.
    pub closed: bool,
}

impl LinkStats {
    pub(crate) fn new(conn: ConnId, mode: Mode) -> Self {
        LinkStats {
            conn,
            mode,
            mtu: None,
            packets_rx: 0,
            packets_tx: 0,
            frames_rx: 0,
            frames_tx: 0,
            bytes_rx: 0,
            bytes_tx: 0,
            round_trips: 0,
            retransmissions: 0,
            closed: false,
        }
    }
}

/// The radio's / modem's network link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetState {
    /// Not connected.
    Down,
    /// Joining (Wi-Fi association + DHCP, Ethernet DHCP, modem attach).
    Joining,
    /// Connected with this address.
    Up(IpAddr),
}

/// A snapshot of the simulated device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimStatus {
    /// The machine's state.
    pub state: State,
    /// The error of the last failure (what the app is told).
    pub last_error: Option<PairError>,
    /// Failed handshakes counted towards the lockout.
    pub failed_attempts: u8,
    /// The window is locked after too many failed handshakes.
    pub locked_out: bool,
    /// The modes of the open window.
    pub window: Option<Modes>,
    /// The station / Ethernet / modem data link.
    pub network: NetState,
    /// The SoftAP's address while it is up.
    pub softap: Option<SocketAddr>,
    /// The BLE socket while advertising.
    pub ble_socket: Option<PathBuf>,
    /// The wired UDP session address (wired mode enabled).
    pub wired: Option<SocketAddr>,
    /// The modem's last attach error (cellular), `None` when attached or not tried.
    pub modem_error: Option<PairError>,
    /// The modem is attached (cellular).
    pub modem_attached: bool,
    /// The cloud's name for the device once activated (from storage or the activation).
    pub cloud_name: Option<String>,
    /// The mode the device is paired with, once activated.
    pub paired_mode: Option<Mode>,
    /// Whether the device thread is running.
    pub running: bool,
}

impl SimStatus {
    pub(crate) fn initial() -> Self {
        SimStatus {
            state: State::Idle,
            last_error: None,
            failed_attempts: 0,
            locked_out: false,
            window: None,
            network: NetState::Down,
            softap: None,
            ble_socket: None,
            wired: None,
            modem_error: None,
            modem_attached: false,
            cloud_name: None,
            paired_mode: None,
            running: true,
        }
    }
}
