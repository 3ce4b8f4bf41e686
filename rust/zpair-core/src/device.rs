//! The device engine: one object that turns packets, OS events and time into packets and
//! actions, for every mode.
//!
//! [`Device`] owns the pairing [`Machine`], the SPAKE2+/AES-CCM [`DeviceSession`] of the one app
//! allowed at a time, and the buffers; it speaks [`crate::msg`] inside the session. The glue of a
//! platform (the Zephyr backends, the host simulator) only moves bytes and executes actions:
//!
//! ```text
//! transport accepted an app      -> device.app_connected(now, conn, mode)
//! transport delivered a packet   -> if let Some(reply) = device.receive(now, conn, packet) { send(conn, reply) }
//! transport lost the app         -> device.app_disconnected(now, conn)
//! OS outcomes (network, cloud)   -> device.handle(now, Event::NetworkUp { .. }) ...
//! after each of these, and when device.next_deadline() passes:
//!     while let Some(out) = device.poll(now) {
//!         match out {
//!             Output::Transmit { conn, packet } => send(conn, packet),
//!             Output::Action(action) => execute(action),      // join Wi-Fi, activate, persist ...
//!         }
//!     }
//! ```
//!
//! Framing (stream, datagram, GATT) stays with the transport: packets here are whole session
//! packets (see [`crate::session`]).
//!
//! Statuses the machine queues back to back for the same app are coalesced into the last one
//! (an app that sent its credentials in the third flight hears "joining network", not three
//! statuses), unless a status carries an error.

use crate::crypto::Crypto;
use crate::error::PairError;
use crate::frame::MAX_PACKET;
use crate::machine::{
    Action, AppMessage, Config, ConnId, Event, Machine, MachineError, PersistedState,
    ResetKind as MachineReset, SessionPhase, Staged, State, Status as MachineStatus,
};
use crate::msg::{
    AppToDevice, Capabilities, DeviceInfo, FirmwareVersion, PairState, ResetKind, ScanResults,
    Status,
};
use crate::session::{encode_alert, parse_packet, DeviceSession, Packet, SessionError};
use crate::spake2plus::Verifier;
use crate::types::{DeviceId, Mode, Modes, ProductId};
use zeroize::Zeroize;

/// What a device says about itself (public; the app reads it as [`DeviceInfo`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// The device's product.
    pub product: ProductId,
    /// The device's factory identity.
    pub device: DeviceId,
    /// The pairing modes this build supports.
    pub modes: Modes,
    /// Firmware version.
    pub firmware: FirmwareVersion,
    /// Radio and firmware capabilities.
    pub capabilities: Capabilities,
}

/// An output of [`Device::poll`].
#[derive(Debug)]
pub enum Output<'a> {
    /// Send this packet to the app on `conn` (frame it for the transport).
    Transmit {
        /// The connection.
        conn: ConnId,
        /// The whole session packet.
        packet: &'a [u8],
    },
    /// Execute this machine action. `SendStatus`/`SendAlert` never appear here: they become
    /// [`Output::Transmit`].
    Action(Action<'a>),
}

/// Maps the machine's state to the state the app sees.
pub fn pair_state(state: State) -> PairState {
    match state {
        State::Idle => PairState::Idle,
        State::WindowOpen => PairState::WindowOpen,
        State::SessionOpen => PairState::SessionOpen,
        State::CredentialsStaged => PairState::CredentialsStaged,
        State::JoiningNetwork => PairState::JoiningNetwork,
        State::Activating | State::Committing => PairState::Activating,
        State::Activated => PairState::Activated,
    }
}

fn wire_status(status: &MachineStatus) -> Status {
    let mut s = Status::new(pair_state(status.state));
    s.error = status.error;
    s
}

/// Where a packet from the app leads ([`Device::receive`]).
enum Step {
    /// Send `tx[..n]` back (the handshake's response).
    Respond(usize),
    /// Dispatch the application message decrypted into `rx[..n]`.
    Dispatch(usize),
    /// Nothing more to do.
    Done,
}

/// The device engine. See the [module documentation](self).
pub struct Device<C: Crypto> {
    identity: Identity,
    machine: Machine,
    session: DeviceSession<C>,
    /// The connection the session object currently belongs to.
    session_conn: Option<ConnId>,
    /// Outgoing packet (handed out borrowed; valid until the next call).
    tx: [u8; MAX_PACKET],
    /// Decrypted plaintext (wiped after each message).
    rx: [u8; MAX_PACKET],
}

impl<C: Crypto> core::fmt::Debug for Device<C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Device")
            .field("identity", &self.identity)
            .field("machine", &self.machine)
            .field("session_conn", &self.session_conn)
            .finish_non_exhaustive()
    }
}

impl<C: Crypto> Device<C> {
    /// A device restored from what its storage holds (`None`: nothing or nothing valid).
    /// The machine queues its boot actions (reconnect, or open the window): drain
    /// [`Device::poll`] first.
    pub fn new(
        identity: Identity,
        verifier: Verifier,
        crypto: C,
        config: Config,
        persisted: Option<PersistedState>,
        now_ms: u64,
    ) -> Self {
        Device {
            identity,
            machine: Machine::restore(config, persisted, now_ms),
            session: DeviceSession::new(crypto, verifier, identity.device),
            session_conn: None,
            tx: [0; MAX_PACKET],
            rx: [0; MAX_PACKET],
        }
    }

    /// The device's identity.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The pairing state machine (read only: feed it through [`Device::handle`]).
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// The crypto provider (for the activation client, see [`crate::client`]).
    pub fn crypto_mut(&mut self) -> &mut C {
        self.session.crypto_mut()
    }

    /// The status an app would see now.
    pub fn status(&self) -> Status {
        let mut s = Status::new(pair_state(self.machine.state()));
        s.error = self.machine.last_error();
        s
    }

    /// When [`Device::poll`] must run next at the latest.
    pub fn next_deadline(&self) -> Option<u64> {
        self.machine.next_deadline()
    }

    /// Feeds an event that is not about an app connection (window, network, activation,
    /// commit, bind, abort, reset). App events go through [`Device::app_connected`],
    /// [`Device::receive`] and [`Device::app_disconnected`].
    pub fn handle(&mut self, now_ms: u64, ev: Event) -> Result<(), MachineError> {
        self.machine.handle(now_ms, ev)
    }

    /// A transport accepted an app connection.
    pub fn app_connected(&mut self, now_ms: u64, conn: ConnId, mode: Mode) {
        // Refusals (busy, locked out, window closed) are queued as alert + disconnect.
        let _ = self.machine.handle(now_ms, Event::AppConnected { conn, mode });
    }

    /// A transport lost (or closed) an app connection.
    pub fn app_disconnected(&mut self, now_ms: u64, conn: ConnId) {
        if self.session_conn == Some(conn) {
            self.end_session();
        }
        let _ = self.machine.handle(now_ms, Event::AppDisconnected { conn });
    }

    /// A whole packet from the app on `conn`. Returns a packet to send back at once, if any
    /// (the handshake's response, the answer to a query). Everything else — statuses, alerts,
    /// what to do next — comes from [`Device::poll`]. Never fails: a bad packet becomes the
    /// precise error the app is told, and the attempt is counted when it must be.
    pub fn receive(&mut self, now_ms: u64, conn: ConnId, packet: &[u8]) -> Option<&[u8]> {
        let info = self.machine.session()?;
        if info.conn != conn {
            // Not the session's app: it was (or is being) refused at connect.
            return None;
        }
        let _ = self.machine.handle(now_ms, Event::AppActivity { conn });
        if self.session_conn != Some(conn) {
            self.session.reset();
            self.session_conn = Some(conn);
        }
        // Every outcome ends in one of three places (reply at once, dispatch a message, fail
        // the session): one `fail` call instead of one per error (size report).
        let phase = info.phase;
        let step = match parse_packet(packet) {
            Err(e) => Err((phase, PairError::from(e))),
            Ok(Packet::PairRequest(req)) => {
                if phase == SessionPhase::Established || req.mode != info.mode {
                    // Too late, or the app claims another transport than the one it came
                    // through.
                    Err((phase, PairError::UnexpectedMessage))
                } else {
                    match self.session.pair_request(&req, &mut self.tx) {
                        Ok(n) => Ok(Step::Respond(n)),
                        Err(e) => Err((phase, e.into())),
                    }
                }
            }
            Ok(Packet::PairConfirm(confirm)) => {
                match self.session.pair_confirm(&confirm, &mut self.rx) {
                    Ok(first) => {
                        let _ = self.machine.handle(now_ms, Event::HandshakeOk { conn });
                        Ok(first.map_or(Step::Done, Step::Dispatch))
                    }
                    Err(SessionError::RecordRejected) => {
                        // Keys confirmed, but the embedded record did not open.
                        let _ = self.machine.handle(now_ms, Event::HandshakeOk { conn });
                        Err((SessionPhase::Established, PairError::RecordRejected))
                    }
                    Err(e) => Err((phase, e.into())),
                }
            }
            Ok(Packet::Record(record)) => match self.session.open_record(&record, &mut self.rx) {
                Ok(n) => Ok(Step::Dispatch(n)),
                Err(e) => Err((phase, e.into())),
            },
            Ok(Packet::Alert(code)) => Err((phase, code)),
            Ok(Packet::PairResponse(_)) => Err((phase, PairError::UnexpectedMessage)),
        };
        match step {
            Ok(Step::Respond(n)) => {
                let _ = self.machine.handle(now_ms, Event::HandshakeStarted { conn });
                self.tx.get(..n)
            }
            Ok(Step::Dispatch(n)) => self.dispatch(now_ms, conn, n),
            Ok(Step::Done) => None,
            Err((phase, error)) => {
                self.fail(now_ms, conn, phase, error);
                None
            }
        }
    }

    /// The result of a Wi-Fi scan the machine asked for ([`Action::StartScan`]): returns the
    /// sealed packet to send to `conn` (fill `results` up to a record with
    /// [`ScanResults::try_push`] and [`Device::scan_page_limit`]).
    pub fn scan_results(&mut self, conn: ConnId, results: &ScanResults) -> Option<&[u8]> {
        if self.session_conn != Some(conn) {
            return None;
        }
        let n = results.encode(&mut self.rx).ok()?;
        self.seal_rx(n)
    }

    /// The largest encoded scan page that fits one packet.
    pub const fn scan_page_limit() -> usize {
        MAX_PACKET - crate::session::RECORD_OVERHEAD
    }

    /// The next thing to do: a packet to transmit or an action to execute. Call until `None`
    /// after every input and when [`Device::next_deadline`] passes.
    pub fn poll(&mut self, now_ms: u64) -> Option<Output<'_>> {
        while let Some((conn, message)) = self.machine.pop_app_message(now_ms) {
            match message {
                AppMessage::Status(status) => {
                    if status.error.is_none() && self.machine.next_is_status_for(conn) {
                        continue; // superseded by the next status
                    }
                    if self.session_conn != Some(conn) {
                        continue; // no session to carry it
                    }
                    let n = match wire_status(&status).encode(&mut self.rx) {
                        Ok(n) => n,
                        Err(_) => continue,
                    };
                    if let Some(len) = self.seal_rx(n).map(<[u8]>::len) {
                        return Some(Output::Transmit { conn, packet: &self.tx[..len] });
                    }
                }
                AppMessage::Alert(error) => {
                    if let Ok(n) = encode_alert(error, &mut self.tx) {
                        return Some(Output::Transmit { conn, packet: &self.tx[..n] });
                    }
                }
            }
        }
        let action = self.machine.poll_action(now_ms)?;
        if let Action::DisconnectApp(conn) = action {
            if self.session_conn == Some(conn) {
                self.session.reset();
                self.session_conn = None;
            }
        }
        Some(Output::Action(action))
    }

    // ------------------------------------------------------------------------------------

    /// Seals `rx[..n]` into `tx` and wipes `rx`.
    fn seal_rx(&mut self, n: usize) -> Option<&[u8]> {
        let sealed = self.rx.get(..n).map(|pt| self.session.seal(pt, &mut self.tx));
        self.rx.zeroize();
        match sealed {
            Some(Ok(len)) => self.tx.get(..len),
            _ => None,
        }
    }

    fn end_session(&mut self) {
        self.session.reset();
        self.session_conn = None;
        self.rx.zeroize();
    }

    /// A handshake or session failure on the session's connection.
    fn fail(&mut self, now_ms: u64, conn: ConnId, phase: SessionPhase, error: PairError) {
        let ev = match phase {
            SessionPhase::Established => Event::SessionError { conn, error },
            SessionPhase::Connected | SessionPhase::Handshaking => {
                Event::HandshakeFailed { conn, error }
            }
        };
        let _ = self.machine.handle(now_ms, ev);
        self.end_session();
    }

    /// An application message decrypted into `rx[..n]`.
    fn dispatch(&mut self, now_ms: u64, conn: ConnId, n: usize) -> Option<&[u8]> {
        let decoded = self.rx.get(..n).map(AppToDevice::decode);
        self.rx.zeroize();
        let msg = match decoded {
            Some(Ok(m)) => m,
            Some(Err(crate::error::WireError::Invalid(e))) => {
                // A well-formed message with a bad value (oversized SSID, short password ...):
                // tell the app precisely and keep the session for a corrected attempt.
                return self.reply_status(Some(e));
            }
            Some(Err(e)) => {
                self.fail(now_ms, conn, SessionPhase::Established, PairError::from(e));
                return None;
            }
            None => return None,
        };
        let mode = self.machine.session().map(|s| s.mode)?;
        let event = match msg {
            AppToDevice::GetDeviceInfo => {
                let info = DeviceInfo {
                    protocol_version: crate::PROTOCOL_VERSION,
                    product: self.identity.product,
                    device: self.identity.device,
                    modes: self.identity.modes,
                    firmware: self.identity.firmware,
                    capabilities: self.identity.capabilities,
                };
                let n = info.encode(&mut self.rx).ok()?;
                return self.seal_rx(n);
            }
            AppToDevice::GetStatus => return self.reply_status(None),
            AppToDevice::Ack => return None,
            // The requests that are machine events; the app hears about a refusal at once.
            // (One `handle` call and one refusal for all: size report.)
            AppToDevice::ScanRequest(_) => Event::ScanRequested { conn },
            AppToDevice::Provision(p) => Event::CredentialsReceived {
                conn,
                staged: Staged { mode, wifi: p.wifi, token: p.token, endpoint: p.endpoint },
            },
            AppToDevice::Abort => Event::Abort,
            AppToDevice::Reset(kind) => Event::Reset(match kind {
                ResetKind::NetworkOnly => MachineReset::Network,
                ResetKind::Factory => MachineReset::Factory,
            }),
        };
        // An abort is not answered, whatever its outcome.
        let abort = matches!(event, Event::Abort);
        match self.machine.handle(now_ms, event) {
            Err(_) if !abort => self.reply_status(Some(PairError::UnexpectedMessage)),
            _ => None,
        }
    }

    fn reply_status(&mut self, error: Option<PairError>) -> Option<&[u8]> {
        let mut status = self.status();
        if error.is_some() {
            status.error = error;
        }
        let n = status.encode(&mut self.rx).ok()?;
        self.seal_rx(n)
    }
}
