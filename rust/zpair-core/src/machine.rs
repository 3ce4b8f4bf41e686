//! The device pairing state machine.
//!
//! A pure, deterministic state machine: no I/O, no sleeps, no clock. The device glue feeds it
//! [`Event`]s together with the current time (`now_ms`, milliseconds from any monotonic origin)
//! and executes the [`Action`]s it answers with. It consumes already-validated domain values
//! ([`crate::types`]) and reports every failure as a [`PairError`].
//!
//! # Driving it (smoltcp style)
//!
//! ```text
//! let mut m = Machine::restore(config, store.load().into_state(), now());
//! loop {
//!     while let Some(action) = m.poll_action(now()) { execute(action) }   // in order!
//!     wait_for(event or m.next_deadline());
//!     if let Some(ev) = event { let _ = m.handle(now(), ev); }
//! }
//! ```
//!
//! * [`Machine::handle`] first processes every timer that expired at or before `now_ms` (as
//!   [`Machine::poll`] would), then the event. An event that is not allowed in the current state
//!   (for example credentials before the handshake completed) returns a typed [`MachineError`]
//!   and changes nothing.
//! * Actions are queued in a fixed-capacity queue ([`ACTION_QUEUE_LEN`]) and handed out one at a
//!   time by [`Machine::poll_action`]. Actions that carry secrets (credentials to join, the token
//!   to activate with, the state to persist) *borrow* them from the machine: secrets live in one
//!   place only and are never copied into the queue. The glue must drain the queue after every
//!   `handle`/`poll` and execute actions in order; if fewer than [`MAX_ACTIONS_PER_STEP`] slots
//!   are free, `handle` refuses with [`MachineError::QueueFull`] and `poll` defers expiries.
//! * [`Machine::next_deadline`] tells when to call [`Machine::poll`] next (one OS timer).
//!
//! # States
//!
//! `Idle` (not pairing, not activated) / `Activated` (not pairing, activated) are the rest
//! states. A pairing runs `WindowOpen` → `SessionOpen` → `CredentialsStaged` →
//! `JoiningNetwork` → `Activating` → `Committing` → `Activated`. Cellular skips the app
//! session: in `WindowOpen` the QR code is shown and the glue polls the cloud for a bind; the
//! token arrives as [`Event::BindReceived`].
//!
//! # Transitions
//!
//! "rest" = `Idle` if not activated, else `Activated`. "rollback(e)" = drop the staged
//! credentials; status `WindowOpen`+`e` and disconnect to the app if one is connected; if the
//! device had left its network: `DisconnectNetwork`, then `ReconnectPrevious` when it has a
//! working committed network; `ReportFailed(e)`; `last_error = e`; `StartWindow` with a fresh
//! window timer → `WindowOpen`. "reject(c, e)" = `SendAlert(c, e)` + `DisconnectApp(c)`, state
//! unchanged.
//!
//! ```text
//! state            event / timer                        next state        actions
//! ---------------  -----------------------------------  ----------------  ---------------------------------
//! (boot)           restore: activated, network known    Activated         ReconnectPrevious
//! (boot)           restore: otherwise                   WindowOpen        StartWindow(all enabled)
//! Idle/Activated   OpenWindow{modes}                    WindowOpen        StartWindow(modes)
//! Idle/Activated   AppConnected{c}                      =                 reject(c, WindowClosed)
//! WindowOpen       window timer                         rest              StopWindow
//! WindowOpen       CloseWindow                          rest              StopWindow
//! WindowOpen       OpenWindow{modes}                    WindowOpen        StartWindow(union), timer restarted
//! WindowOpen       AppConnected{c} while locked         =                 reject(c, LockedOut)
//! WindowOpen       AppConnected{c} mode not open        =                 reject(c, WindowClosed)
//! WindowOpen       AppConnected{c}                      SessionOpen       (idle timer armed)
//! WindowOpen       BindReceived (cellular open)         JoiningNetwork    ConnectNetwork(Cellular)
//! SessionOpen      HandshakeStarted (Connected)         SessionOpen       phase Handshaking
//! SessionOpen      HandshakeOk (Handshaking)            SessionOpen       counter := 0; SendStatus(SessionOpen, last_error)
//! SessionOpen      HandshakeFailed{e}                   WindowOpen        SendAlert(e), DisconnectApp; counted* if Handshaking
//! SessionOpen      SessionError{e}                      WindowOpen        alert/status(e), DisconnectApp; counted* if Handshaking
//! SessionOpen      AppDisconnected                      WindowOpen        counted* if Handshaking
//! SessionOpen      idle timer                           WindowOpen        SendAlert/Status(SessionTimeout), DisconnectApp; counted* if Handshaking
//! SessionOpen      Abort                                WindowOpen        status/alert(Aborted), DisconnectApp; counted* if Handshaking
//! SessionOpen      ScanRequested (Established, Wi-Fi)   SessionOpen       StartScan
//! SessionOpen      CredentialsReceived, invalid         SessionOpen       SendStatus(SessionOpen, e)
//! SessionOpen      CredentialsReceived, valid           JoiningNetwork    SendStatus(CredentialsStaged), SendStatus(JoiningNetwork), ConnectNetwork
//! JoiningNetwork   NetworkUp{ip}                        Activating        SendStatus(Activating, ip), StartActivation(1)
//! JoiningNetwork   NetworkFailed{e}                     WindowOpen        rollback(e)
//! Activating       ActivationResult(Ok(op))             Committing        Persist(Commit, new state)
//! Activating       ActivationResult(Err(transient e))   Activating        ScheduleRetry(at, n+1, e), SendStatus(Activating, e);
//!                                                                         at the retry time: StartActivation(n+1)
//!                  ... retry would pass the deadline    WindowOpen        rollback(e)
//! Activating       ActivationResult(Err(e)) / NetworkFailed{e}  WindowOpen  rollback(e)
//! Joining/Activ.   deadline timer                       WindowOpen        rollback(last transient error or DeadlineExceeded)
//! Joining/Activ.   Abort                                WindowOpen        rollback(Aborted)
//! Committing       CommitDone                           Activated         SendStatus(Activated), DisconnectApp, StopWindow, ReportDone
//! Committing       CommitFailed                         WindowOpen        rollback(StorageFailed)
//! any but Idle/Act./WindowOpen  AppConnected{other}     =                 reject(other, Busy)
//! Joining..Commit. AppDisconnected / SessionError       =                 session forgotten (DisconnectApp on error); attempt goes on
//! any but Commit.  Reset(Network)                       WindowOpen        [reject(app, Aborted)], Persist(NetworkReset) + DisconnectNetwork if Wi-Fi was set, StartWindow(all)
//! any but Commit.  Reset(Factory)                       WindowOpen        [reject(app, Aborted)], EraseStorage, DisconnectNetwork, StartWindow(all)
//! any              lockout timer                        =                 counter := 0; Persist(Counters) (not while committing)
//! ```
//!
//! \* counted: failed attempts + 1, `Persist(Counters)`; at `max_attempts` the window locks for
//! `lockout_ms`. Every other (state, event) pair is refused with a [`MachineError`].
//!
//! # Promises
//!
//! * Pairing credentials are held in RAM only while staged and reach storage in exactly one
//!   atomic commit ([`Action::Persist`] with [`PersistReason::Commit`]) after the network came up
//!   *and* the cloud accepted the activation. The only other writes are the failed-attempt
//!   counter ([`PersistReason::Counters`], which rewrites the previously committed state
//!   unchanged) and an explicit network reset ([`PersistReason::NetworkReset`]).
//! * On any failure after staging, staged credentials are dropped (zeroized), the previous
//!   network is reconnected if the device had one ([`Action::ReconnectPrevious`]), the precise
//!   [`PairError`] goes to the app and is kept as [`Machine::last_error`], and the window
//!   reopens.
//! * Transient activation errors ([`PairError::is_transient`]) are retried with exponential
//!   backoff until the overall deadline.
//! * Failed handshakes are counted (persisted) and lock the window for a while after
//!   [`Config::max_attempts`].

use core::fmt;
use core::net::IpAddr;

use heapless::Vec;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::PairError;
use crate::types::{ActivationToken, CloudEndpoint, Mode, Modes, WifiCredentials};

// ---------------------------------------------------------------------------------------------
// Operational credentials and the persisted state
// ---------------------------------------------------------------------------------------------

/// Maximum length of the cloud-assigned device name.
pub const CLOUD_NAME_MAX: usize = 64;
/// Length of the device secret the cloud issues at activation.
pub const DEVICE_SECRET_LEN: usize = 32;

/// The device id/name the cloud assigns at activation: 1 to 64 printable ASCII characters
/// (`0x21..=0x7e`, no spaces). Not secret.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CloudName(Vec<u8, CLOUD_NAME_MAX>);

impl CloudName {
    /// Validates and copies a name. Errors with [`PairError::MalformedMessage`] (the cloud sent
    /// something this device cannot store).
    pub fn new(bytes: &[u8]) -> Result<Self, PairError> {
        if bytes.is_empty() || !bytes.iter().all(|b| (0x21..=0x7e).contains(b)) {
            return Err(PairError::MalformedMessage);
        }
        Vec::from_slice(bytes).map(CloudName).map_err(|_| PairError::MalformedMessage)
    }
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    /// The name as text (always ASCII).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Debug for CloudName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloudName({:?})", self.as_str())
    }
}

/// The device secret the cloud issues at activation (32 bytes). Wiped on drop, compared in
/// constant time, never shown by `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DeviceSecret([u8; DEVICE_SECRET_LEN]);

impl DeviceSecret {
    /// Wraps 32 secret bytes.
    pub fn new(bytes: [u8; DEVICE_SECRET_LEN]) -> Self {
        DeviceSecret(bytes)
    }
    /// Copies a secret from a slice; any length but 32 is [`PairError::MalformedMessage`].
    pub fn from_slice(bytes: &[u8]) -> Result<Self, PairError> {
        let arr: [u8; DEVICE_SECRET_LEN] =
            bytes.try_into().map_err(|_| PairError::MalformedMessage)?;
        Ok(DeviceSecret(arr))
    }
    /// The raw bytes. Handle with care.
    pub fn expose(&self) -> &[u8; DEVICE_SECRET_LEN] {
        &self.0
    }
}

impl PartialEq for DeviceSecret {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
impl Eq for DeviceSecret {}

impl fmt::Debug for DeviceSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceSecret(<redacted>)")
    }
}

/// What the cloud hands the device when it accepts the activation; persisted in the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationalCredentials {
    /// Cloud-assigned device id/name.
    pub name: CloudName,
    /// Cloud-issued device secret.
    pub secret: DeviceSecret,
    /// The endpoint the device talks to from now on.
    pub endpoint: CloudEndpoint,
}

/// Everything that survives a reboot: the last committed pairing and the failed-attempt
/// counter. Written by [`crate::storage::Store`] (see there for the byte layout).
///
/// `Debug` shows no secret (passphrase and device secret are redacted).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersistedState {
    /// The mode the device was paired with (decides how it reconnects).
    pub mode: Option<Mode>,
    /// The committed Wi-Fi credentials (SoftAP and BLE modes).
    pub wifi: Option<WifiCredentials>,
    /// The credentials the cloud issued at activation.
    pub operational: Option<OperationalCredentials>,
    /// The cloud accepted the activation and the commit completed.
    pub activated: bool,
    /// Failed handshakes since the last successful one (so a power cycle does not reset the
    /// lockout count).
    pub failed_attempts: u8,
}

impl PersistedState {
    /// Checks the cross-field rules: an activated state names its mode and operational
    /// credentials; Wi-Fi credentials are valid and only present for Wi-Fi modes.
    pub fn validate(&self) -> Result<(), PairError> {
        if self.activated && (self.mode.is_none() || self.operational.is_none()) {
            return Err(PairError::MissingCredentials);
        }
        if let Some(w) = &self.wifi {
            w.validate()?;
            if !self.mode.is_some_and(Mode::needs_wifi) {
                return Err(PairError::UnexpectedMessage);
            }
        }
        Ok(())
    }

    /// Whether the device is activated (flag set and the state is complete).
    pub fn is_activated(&self) -> bool {
        self.activated && self.mode.is_some() && self.operational.is_some()
    }

    /// Whether the device has a working network configuration to go back to: activated, and
    /// holding Wi-Fi credentials if its mode needs them.
    pub fn can_reconnect(&self) -> bool {
        self.is_activated()
            && match self.mode {
                Some(m) if m.needs_wifi() => self.wifi.is_some(),
                Some(_) => true,
                None => false,
            }
    }

    /// Whether `self` and `other` hold the same pairing (everything but the counters).
    pub fn same_pairing(&self, other: &PersistedState) -> bool {
        self.mode == other.mode
            && self.wifi == other.wifi
            && self.operational == other.operational
            && self.activated == other.activated
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Largest accepted value of every millisecond option (24 hours).
pub const MAX_TIMEOUT_MS: u64 = 86_400_000;

/// The raw configuration options; each maps 1:1 to a Kconfig option. Turn them into a
/// [`Config`] with [`Config::new`], which checks the ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigParams {
    /// `CONFIG_ZPAIR_WINDOW_MS`: how long the pairing window stays open without an app (ms,
    /// 1..=86 400 000). When it elapses the device stops advertising / takes the AP down.
    /// Default 900 000 (15 min).
    pub window_ms: u64,
    /// `CONFIG_ZPAIR_SESSION_IDLE_MS`: an app session (handshake or waiting for credentials)
    /// is dropped after this much silence (ms, 1..=86 400 000). Default 60 000 (1 min).
    pub session_idle_ms: u64,
    /// `CONFIG_ZPAIR_DEADLINE_MS`: overall deadline from credentials staged to activated
    /// (network join + activation with its retries) (ms, 1..=86 400 000). Default 300 000
    /// (5 min).
    pub deadline_ms: u64,
    /// `CONFIG_ZPAIR_MAX_ATTEMPTS`: failed handshakes before the window locks (1..=255).
    /// Default 5.
    pub max_attempts: u8,
    /// `CONFIG_ZPAIR_LOCKOUT_MS`: how long the window stays locked (ms, 1..=86 400 000).
    /// Default 300 000 (5 min).
    pub lockout_ms: u64,
    /// `CONFIG_ZPAIR_BACKOFF_BASE_MS`: first retry delay of a transient activation error; each
    /// further retry doubles it (ms, 1..=86 400 000). Default 1 000.
    pub backoff_base_ms: u64,
    /// `CONFIG_ZPAIR_BACKOFF_CAP_MS`: largest retry delay (ms, `backoff_base_ms..=86 400 000`).
    /// Default 30 000.
    pub backoff_cap_ms: u64,
    /// `CONFIG_ZPAIR_MODE_*`: the pairing modes this build enables (not empty). Default: all;
    /// restrict it to what the board supports.
    pub modes: Modes,
}

impl Default for ConfigParams {
    fn default() -> Self {
        ConfigParams {
            window_ms: 900_000,
            session_idle_ms: 60_000,
            deadline_ms: 300_000,
            max_attempts: 5,
            lockout_ms: 300_000,
            backoff_base_ms: 1_000,
            backoff_cap_ms: 30_000,
            modes: Modes::ALL,
        }
    }
}

/// Which configuration option is out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigError {
    /// `window_ms` is 0 or above [`MAX_TIMEOUT_MS`].
    WindowMs,
    /// `session_idle_ms` is 0 or above [`MAX_TIMEOUT_MS`].
    SessionIdleMs,
    /// `deadline_ms` is 0 or above [`MAX_TIMEOUT_MS`].
    DeadlineMs,
    /// `max_attempts` is 0.
    MaxAttempts,
    /// `lockout_ms` is 0 or above [`MAX_TIMEOUT_MS`].
    LockoutMs,
    /// `backoff_base_ms` is 0 or above [`MAX_TIMEOUT_MS`].
    BackoffBaseMs,
    /// `backoff_cap_ms` is below `backoff_base_ms` or above [`MAX_TIMEOUT_MS`].
    BackoffCapMs,
    /// No mode is enabled.
    Modes,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ConfigError::WindowMs => "window_ms out of range",
            ConfigError::SessionIdleMs => "session_idle_ms out of range",
            ConfigError::DeadlineMs => "deadline_ms out of range",
            ConfigError::MaxAttempts => "max_attempts must be at least 1",
            ConfigError::LockoutMs => "lockout_ms out of range",
            ConfigError::BackoffBaseMs => "backoff_base_ms out of range",
            ConfigError::BackoffCapMs => "backoff_cap_ms out of range (or below backoff_base_ms)",
            ConfigError::Modes => "no pairing mode enabled",
        };
        f.write_str(s)
    }
}

/// A validated configuration. Build it with [`Config::new`]; [`Config::default`] is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Config(ConfigParams);

impl Config {
    /// Checks every option (no zero timeouts, nothing above [`MAX_TIMEOUT_MS`], cap ≥ base,
    /// at least one attempt and one mode).
    pub fn new(p: ConfigParams) -> Result<Self, ConfigError> {
        let ok = |v: u64| (1..=MAX_TIMEOUT_MS).contains(&v);
        if !ok(p.window_ms) {
            return Err(ConfigError::WindowMs);
        }
        if !ok(p.session_idle_ms) {
            return Err(ConfigError::SessionIdleMs);
        }
        if !ok(p.deadline_ms) {
            return Err(ConfigError::DeadlineMs);
        }
        if p.max_attempts == 0 {
            return Err(ConfigError::MaxAttempts);
        }
        if !ok(p.lockout_ms) {
            return Err(ConfigError::LockoutMs);
        }
        if !ok(p.backoff_base_ms) {
            return Err(ConfigError::BackoffBaseMs);
        }
        if !ok(p.backoff_cap_ms) || p.backoff_cap_ms < p.backoff_base_ms {
            return Err(ConfigError::BackoffCapMs);
        }
        if p.modes.is_empty() {
            return Err(ConfigError::Modes);
        }
        Ok(Config(p))
    }
    /// The options.
    pub fn params(&self) -> &ConfigParams {
        &self.0
    }
    /// See [`ConfigParams::window_ms`].
    pub fn window_ms(&self) -> u64 {
        self.0.window_ms
    }
    /// See [`ConfigParams::session_idle_ms`].
    pub fn session_idle_ms(&self) -> u64 {
        self.0.session_idle_ms
    }
    /// See [`ConfigParams::deadline_ms`].
    pub fn deadline_ms(&self) -> u64 {
        self.0.deadline_ms
    }
    /// See [`ConfigParams::max_attempts`].
    pub fn max_attempts(&self) -> u8 {
        self.0.max_attempts
    }
    /// See [`ConfigParams::lockout_ms`].
    pub fn lockout_ms(&self) -> u64 {
        self.0.lockout_ms
    }
    /// See [`ConfigParams::modes`].
    pub fn modes(&self) -> Modes {
        self.0.modes
    }

    /// The retry delay after the `attempt`-th failed activation call (1-based), without
    /// jitter: `min(cap, base · 2^(attempt-1))`.
    pub fn backoff_ms(&self, attempt: u16) -> u64 {
        // Doubling until the cap: base and cap are at most MAX_TIMEOUT_MS (< 2^27, checked by
        // `Config::new`), so the delay never overflows and the loop runs at most 27 times.
        // 104 B smaller than `base.saturating_mul(1 << (attempt - 1))` (size report).
        let cap = self.0.backoff_cap_ms;
        let mut d = self.0.backoff_base_ms;
        for _ in 1..attempt {
            if d >= cap {
                break;
            }
            d *= 2;
        }
        d.min(cap)
    }
}

// ---------------------------------------------------------------------------------------------
// States, events, actions, errors
// ---------------------------------------------------------------------------------------------

/// The machine's state, as reported to the app in status messages (wire code in parentheses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not pairing, not activated (0).
    Idle,
    /// The pairing window is open (advertising / AP up / announcing / QR shown), no app (1).
    WindowOpen,
    /// One app holds the session (handshake running or established) (2).
    SessionOpen,
    /// Credentials received and validated, held in RAM only (3). Entered and left in the same
    /// step (the network join starts at once); reported to the app in a status.
    CredentialsStaged,
    /// Joining the network with the staged credentials (4).
    JoiningNetwork,
    /// Calling the cloud (including waiting for a retry) (5).
    Activating,
    /// The cloud accepted; the commit is being written (6).
    Committing,
    /// Not pairing, activated and committed (7).
    Activated,
}

impl State {
    /// The wire code (for status messages).
    pub const fn code(self) -> u8 {
        match self {
            State::Idle => 0,
            State::WindowOpen => 1,
            State::SessionOpen => 2,
            State::CredentialsStaged => 3,
            State::JoiningNetwork => 4,
            State::Activating => 5,
            State::Committing => 6,
            State::Activated => 7,
        }
    }
    /// The state of a wire code.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => State::Idle,
            1 => State::WindowOpen,
            2 => State::SessionOpen,
            3 => State::CredentialsStaged,
            4 => State::JoiningNetwork,
            5 => State::Activating,
            6 => State::Committing,
            7 => State::Activated,
            _ => return None,
        })
    }
    /// Lowercase name (`snake_case`).
    pub const fn name(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::WindowOpen => "window_open",
            State::SessionOpen => "session_open",
            State::CredentialsStaged => "credentials_staged",
            State::JoiningNetwork => "joining_network",
            State::Activating => "activating",
            State::Committing => "committing",
            State::Activated => "activated",
        }
    }
    /// Whether this is a rest state (`Idle` or `Activated`: not pairing).
    pub const fn is_rest(self) -> bool {
        matches!(self, State::Idle | State::Activated)
    }
}

/// An opaque handle of one app connection, chosen by the glue (BLE connection handle, TCP
/// socket index, UDP peer slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u32);

/// How far the app's session got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionPhase {
    /// Connected, the device has not answered a handshake flight yet.
    Connected,
    /// The device answered the first flight; the confirmation is outstanding. Ending here
    /// without [`Event::HandshakeOk`] counts as a failed attempt.
    Handshaking,
    /// The handshake succeeded; the session is encrypted.
    Established,
}

/// The current app session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionInfo {
    /// The connection.
    pub conn: ConnId,
    /// The transport it came through.
    pub mode: Mode,
    /// How far it got.
    pub phase: SessionPhase,
}

/// What the app receives in a status message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status {
    /// The state the device is (now) in.
    pub state: State,
    /// The error of the last failure (with state `WindowOpen` after a failed attempt, with
    /// `Activating` while retrying a transient error, with `SessionOpen` after the handshake
    /// it is the previous attempt's error).
    pub error: Option<PairError>,
    /// The address the device got on the new network, once known.
    pub ip: Option<IpAddr>,
}

/// Credentials an app sent (or, for cellular, the cloud bound), already decoded into validated
/// domain values. The machine checks the cross-field rules. Dropping it wipes the secrets;
/// `Debug` shows none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    /// The mode the credentials are for (must equal the session's transport).
    pub mode: Mode,
    /// Wi-Fi credentials: required for SoftAP and BLE, refused otherwise.
    pub wifi: Option<WifiCredentials>,
    /// The activation token: required.
    pub token: Option<ActivationToken>,
    /// The cloud endpoint; `None` = the device's default.
    pub endpoint: Option<CloudEndpoint>,
}

/// What kind of reset was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResetKind {
    /// Forget the Wi-Fi credentials (keep the cloud activation) and open the window.
    Network,
    /// Erase everything (including the failed-attempt counter) and open the window.
    Factory,
}

/// An input to the machine.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // passed once by value; no allocator to box with
pub enum Event {
    /// Open the pairing window (button, shell, boot) for these modes (intersected with the
    /// enabled ones). While open, restarts the window timer and adds modes.
    OpenWindow {
        /// The modes to open.
        modes: Modes,
    },
    /// Close the window (shell). Only without a session.
    CloseWindow,
    /// A transport accepted a new app connection.
    AppConnected {
        /// The new connection.
        conn: ConnId,
        /// The transport.
        mode: Mode,
    },
    /// The session's app sent something (restarts the session idle timer).
    AppActivity {
        /// The connection.
        conn: ConnId,
    },
    /// The device answered the app's first handshake flight.
    HandshakeStarted {
        /// The connection.
        conn: ConnId,
    },
    /// The app's confirmation verified: the session is established.
    HandshakeOk {
        /// The connection.
        conn: ConnId,
    },
    /// The handshake failed (wrong setup code, malformed flight, unsupported version, ...).
    HandshakeFailed {
        /// The connection.
        conn: ConnId,
        /// Why.
        error: PairError,
    },
    /// An established session broke (record rejected, malformed message, ...).
    SessionError {
        /// The connection.
        conn: ConnId,
        /// Why.
        error: PairError,
    },
    /// An app connection closed. Unknown connections (for example one the machine rejected)
    /// are ignored.
    AppDisconnected {
        /// The connection.
        conn: ConnId,
    },
    /// The session's app sent credentials.
    CredentialsReceived {
        /// The connection.
        conn: ConnId,
        /// The credentials.
        staged: Staged,
    },
    /// The session's app asks for a Wi-Fi scan.
    ScanRequested {
        /// The connection.
        conn: ConnId,
    },
    /// Cellular: the cloud bound the device (the user scanned the QR code).
    BindReceived {
        /// The activation token.
        token: ActivationToken,
        /// The cloud endpoint; `None` = the device's default.
        endpoint: Option<CloudEndpoint>,
    },
    /// The network came up with the staged credentials.
    NetworkUp {
        /// The device's address.
        ip: IpAddr,
    },
    /// Joining the network failed, or the link dropped during activation.
    NetworkFailed {
        /// Why.
        error: PairError,
    },
    /// The cloud answered the activation call.
    ActivationResult(Result<OperationalCredentials, PairError>),
    /// The commit was written.
    CommitDone,
    /// The commit could not be written.
    CommitFailed,
    /// Cancel the pairing in progress (app or shell).
    Abort,
    /// Reset (button or shell). Refused while committing.
    Reset(ResetKind),
}

/// Why a [`Action::Persist`] is emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PersistReason {
    /// The atomic commit of a successful pairing. Answer with [`Event::CommitDone`] or
    /// [`Event::CommitFailed`].
    Commit,
    /// The failed-attempt counter changed; the pairing part is the previously committed one,
    /// unchanged. Fire and forget.
    Counters,
    /// A network reset forgot the Wi-Fi credentials. Fire and forget.
    NetworkReset,
}

/// An output of the machine, for the glue to execute (in order). Data is borrowed from the
/// machine; `Debug` shows no secret.
#[derive(Debug)]
pub enum Action<'a> {
    /// (Re)start the pairing window for these modes: BLE advertising, SoftAP up, wired
    /// announce, cellular QR shown + polling the cloud for a bind. Idempotent.
    StartWindow(Modes),
    /// Stop the pairing window for these modes.
    StopWindow(Modes),
    /// Send a status message over the session (encrypted).
    SendStatus {
        /// The connection.
        conn: ConnId,
        /// The status.
        status: Status,
    },
    /// Tell a connection that is not (or not yet) an established session why it is refused
    /// (`Busy`, `LockedOut`, `WindowClosed`, handshake errors, `SessionTimeout`); followed by
    /// [`Action::DisconnectApp`].
    SendAlert {
        /// The connection.
        conn: ConnId,
        /// Why.
        error: PairError,
    },
    /// Close an app connection.
    DisconnectApp(ConnId),
    /// Scan for Wi-Fi networks and send the result to the app.
    StartScan {
        /// The connection asking.
        conn: ConnId,
    },
    /// Join the network with the staged credentials; answer with [`Event::NetworkUp`] or
    /// [`Event::NetworkFailed`].
    ConnectNetwork {
        /// The network kind (Wi-Fi for SoftAP/BLE, Ethernet, modem).
        mode: Mode,
        /// The Wi-Fi credentials (SoftAP/BLE).
        wifi: Option<&'a WifiCredentials>,
    },
    /// Leave the network joined for this pairing.
    DisconnectNetwork,
    /// Reconnect with the previously committed network (after a failed attempt, or at boot).
    /// No answer expected.
    ReconnectPrevious {
        /// The network kind.
        mode: Mode,
        /// The committed Wi-Fi credentials (SoftAP/BLE).
        wifi: Option<&'a WifiCredentials>,
    },
    /// Call the cloud; answer with [`Event::ActivationResult`].
    StartActivation {
        /// The token.
        token: &'a ActivationToken,
        /// The endpoint (`None` = default).
        endpoint: Option<&'a CloudEndpoint>,
        /// 1 for the first call, incremented per retry.
        attempt: u16,
    },
    /// Informational: a transient error will be retried at `at_ms` (the machine's own timer,
    /// included in [`Machine::next_deadline`], does it).
    ScheduleRetry {
        /// When.
        at_ms: u64,
        /// The attempt number of the retry.
        attempt: u16,
        /// The transient error.
        error: PairError,
    },
    /// Write this state to storage (atomically, see [`crate::storage::Store::save`]).
    Persist {
        /// The full state to write.
        state: &'a PersistedState,
        /// Why (a commit must be answered).
        reason: PersistReason,
    },
    /// Erase the persisted state (factory reset).
    EraseStorage,
    /// The pairing finished: the device is activated and committed.
    ReportDone {
        /// The mode it was paired with.
        mode: Mode,
    },
    /// A pairing attempt (after credentials were staged) failed and was rolled back.
    ReportFailed(PairError),
}

/// A message to an app, as taken by [`Machine::pop_app_message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppMessage {
    /// A status (sent encrypted in the session).
    Status(Status),
    /// An alert (plaintext, before or instead of a session), followed by a disconnect.
    Alert(PairError),
}

/// Why [`Machine::handle`] refused an event. The machine's state is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MachineError {
    /// The event is not allowed in this state (out of order).
    InvalidState(State),
    /// The event names a connection that is not the session's.
    UnknownConnection,
    /// The event needs an established session (for example credentials before the handshake
    /// completed).
    NotEstablished,
    /// The mode is not enabled, not in the open window, or does not support the request.
    ModeDisabled,
    /// Fewer than [`MAX_ACTIONS_PER_STEP`] free action slots: drain [`Machine::poll_action`]
    /// and retry.
    QueueFull,
}

impl fmt::Display for MachineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MachineError::InvalidState(s) => write!(f, "event not allowed in state {}", s.name()),
            MachineError::UnknownConnection => f.write_str("not the session's connection"),
            MachineError::NotEstablished => f.write_str("session not established"),
            MachineError::ModeDisabled => f.write_str("mode not enabled or not open"),
            MachineError::QueueFull => f.write_str("action queue full"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The machine
// ---------------------------------------------------------------------------------------------

/// Capacity of the action queue.
pub const ACTION_QUEUE_LEN: usize = 16;
/// The most actions one event or one timer expiry can queue.
pub const MAX_ACTIONS_PER_STEP: usize = 8;

/// A queued action without its borrowed data (no secret is ever copied into the queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    StartWindow(Modes),
    StopWindow(Modes),
    Status(ConnId, Status),
    Alert(ConnId, PairError),
    DisconnectApp(ConnId),
    StartScan(ConnId),
    ConnectNetwork,
    DisconnectNetwork,
    ReconnectPrevious,
    StartActivation(u16),
    ScheduleRetry { at_ms: u64, attempt: u16, error: PairError },
    Persist(PersistReason),
    EraseStorage,
    ReportDone(Mode),
    ReportFailed(PairError),
}

/// The action queue: a ring of [`ACTION_QUEUE_LEN`] entries.
// Own ring instead of `heapless::Deque` (whose length is derived from its indices and a full
// flag): 50 B smaller (size report).
#[derive(Debug)]
struct Queue {
    items: [Pending; ACTION_QUEUE_LEN],
    head: usize,
    len: usize,
}

impl Queue {
    const fn new() -> Self {
        Queue { items: [Pending::EraseStorage; ACTION_QUEUE_LEN], head: 0, len: 0 }
    }
    fn len(&self) -> usize {
        self.len
    }
    fn front(&self) -> Option<&Pending> {
        if self.len == 0 {
            return None;
        }
        self.items.get(self.head)
    }
    fn pop_front(&mut self) -> Option<Pending> {
        let p = *self.front()?;
        self.head = (self.head + 1) % ACTION_QUEUE_LEN;
        self.len -= 1;
        Some(p)
    }
    /// Appends `p`; `false` (and nothing queued) if the queue is full.
    fn push_back(&mut self, p: Pending) -> bool {
        if self.len >= ACTION_QUEUE_LEN {
            return false;
        }
        match self.items.get_mut((self.head + self.len) % ACTION_QUEUE_LEN) {
            Some(slot) => {
                *slot = p;
                self.len += 1;
                true
            }
            None => false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct SessionSlot {
    info: SessionInfo,
    idle_deadline: u64,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    modes: Modes,
    deadline: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Activation {
    attempt: u16,
    retry_at: Option<u64>,
    last_transient: Option<PairError>,
}

/// Validated staged credentials (RAM only; wiped on drop through the secret types).
#[derive(Debug)]
struct StagedCreds {
    mode: Mode,
    wifi: Option<WifiCredentials>,
    token: ActivationToken,
    endpoint: Option<CloudEndpoint>,
}

/// The data of a pairing attempt in progress.
#[derive(Debug)]
enum Work {
    Staged(StagedCreds),
    Commit(PersistedState),
}

/// The device pairing state machine. See the [module documentation](self).
///
/// `Debug` shows the state and counters, never credentials.
pub struct Machine {
    config: Config,
    state: State,
    /// The committed pairing plus the live failed-attempt counter (the counter may be ahead of
    /// storage; it is written with [`PersistReason::Counters`]).
    saved: PersistedState,
    /// The attempt's secrets: staged credentials, then (after the cloud accepted) the state to
    /// commit. Never both: the token is wiped when the commit is built.
    work: Option<Work>,
    session: Option<SessionSlot>,
    window: Option<Window>,
    locked_until: Option<u64>,
    last_error: Option<PairError>,
    deadline: Option<u64>,
    activation: Activation,
    ip: Option<IpAddr>,
    rng: u32,
    queue: Queue,
}

impl fmt::Debug for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine")
            .field("state", &self.state)
            .field("session", &self.session.map(|s| s.info))
            .field("window", &self.window.map(|w| w.modes))
            .field("activated", &self.saved.is_activated())
            .field("failed_attempts", &self.saved.failed_attempts)
            .field("locked_until", &self.locked_until)
            .field("last_error", &self.last_error)
            .field("deadline", &self.deadline)
            .field("staged", &self.staged().map(|_| "<redacted>"))
            .field("queued", &self.queue.len())
            .finish()
    }
}

/// When a timer of `ms` started at `now` expires (saturating: a clock near `u64::MAX` never
/// wraps a deadline into the past).
// Out of line: 106 B smaller than the 64-bit saturating add inlined at each timer (size report).
#[inline(never)]
fn deadline(now: u64, ms: u64) -> u64 {
    now.saturating_add(ms)
}

fn intersect(a: Modes, b: Modes) -> Modes {
    Modes::from_bits(a.bits() & b.bits()).unwrap_or_default()
}

impl Machine {
    /// A fresh machine in `Idle` with nothing persisted and nothing queued.
    pub fn new(config: Config) -> Self {
        Machine {
            config,
            state: State::Idle,
            saved: PersistedState::default(),
            work: None,
            session: None,
            window: None,
            locked_until: None,
            last_error: None,
            deadline: None,
            activation: Activation::default(),
            ip: None,
            rng: 0,
            queue: Queue::new(),
        }
    }

    /// The machine after a (re)boot, from what storage holds.
    ///
    /// * Activated and the network is known → `Activated`, queues
    ///   [`Action::ReconnectPrevious`].
    /// * Activated but the Wi-Fi credentials were reset → `WindowOpen` (all enabled modes).
    /// * Nothing (fresh device, or both slots corrupt), or never activated → `WindowOpen`.
    ///
    /// A pairing whose commit did not complete left nothing in storage, so the device comes
    /// back exactly as it was before that pairing. The failed-attempt counter is restored; if it
    /// had reached the limit, the window is locked for `lockout_ms` from `now_ms`. A state that
    /// fails [`PersistedState::validate`] is ignored except for its counter.
    pub fn restore(config: Config, persisted: Option<PersistedState>, now_ms: u64) -> Self {
        let mut m = Machine::new(config);
        match persisted {
            Some(p) if p.validate().is_ok() => m.saved = p,
            Some(p) => m.saved.failed_attempts = p.failed_attempts,
            None => {}
        }
        if m.saved.failed_attempts >= m.config.max_attempts() {
            m.locked_until = Some(deadline(now_ms, m.config.lockout_ms()));
        }
        if m.saved.can_reconnect() {
            m.state = State::Activated;
            m.push(Pending::ReconnectPrevious);
        } else {
            m.open_window(now_ms, m.config.modes());
        }
        m
    }

    /// Seeds the jitter of the retry backoff (from a hardware RNG). With seed 0 (the default)
    /// there is no jitter: delays are exactly [`Config::backoff_ms`]. With any other seed each
    /// delay `d` becomes a deterministic pseudo-random value in `d/2..=d`.
    pub fn set_jitter_seed(&mut self, seed: u32) {
        self.rng = seed;
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }
    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }
    /// The current app session, if any.
    pub fn session(&self) -> Option<SessionInfo> {
        self.session.map(|s| s.info)
    }
    /// The modes of the open window (`None` in the rest states).
    pub fn window_modes(&self) -> Option<Modes> {
        self.window.map(|w| w.modes)
    }
    /// The error of the last failure (cleared by a successful pairing and a factory reset).
    pub fn last_error(&self) -> Option<PairError> {
        self.last_error
    }
    /// Failed handshakes since the last successful one.
    pub fn failed_attempts(&self) -> u8 {
        self.saved.failed_attempts
    }
    /// Until when new apps are refused with [`PairError::LockedOut`], if locked.
    pub fn locked_until(&self) -> Option<u64> {
        self.locked_until
    }
    /// The committed state (plus the live counter): what storage holds.
    pub fn persisted(&self) -> &PersistedState {
        &self.saved
    }
    /// Whether credentials are staged in RAM.
    pub fn has_staged(&self) -> bool {
        self.staged().is_some()
    }
    /// The number of queued actions.
    pub fn queued_actions(&self) -> usize {
        self.queue.len()
    }

    /// When [`Machine::poll`] must run next (the earliest armed timer), if any timer is armed.
    /// May be in the past: then poll now.
    pub fn next_deadline(&self) -> Option<u64> {
        let state_timer = match self.state {
            State::WindowOpen => self.window.map(|w| w.deadline),
            State::SessionOpen => self.session.map(|s| s.idle_deadline),
            State::CredentialsStaged | State::JoiningNetwork => self.deadline,
            State::Activating => match (self.deadline, self.activation.retry_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            State::Idle | State::Committing | State::Activated => None,
        };
        match (state_timer, self.locked_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Handles every timer that expired at or before `now_ms`: lockout end, window timeout,
    /// session idle timeout, activation retry, overall deadline. Expiries are deferred while
    /// the action queue has fewer than [`MAX_ACTIONS_PER_STEP`] free slots.
    pub fn poll(&mut self, now_ms: u64) {
        for _ in 0..8 {
            if self.room() < MAX_ACTIONS_PER_STEP || !self.fire_one(now_ms) {
                return;
            }
        }
    }

    /// Runs [`Machine::poll`] and hands out the next queued action. Actions whose borrowed data
    /// no longer exists (staged credentials of an attempt that was rolled back before the glue
    /// got to them) are obsolete and skipped.
    pub fn poll_action(&mut self, now_ms: u64) -> Option<Action<'_>> {
        self.poll(now_ms);
        let p = loop {
            let p = self.queue.pop_front()?;
            if self.materialize(p).is_some() {
                break p;
            }
        };
        self.materialize(p)
    }

    /// Runs [`Machine::poll`] and, if the next queued action is a message to an app (a status
    /// or an alert), takes it. Lets the glue turn messages into packets without holding a
    /// borrow of the machine; other actions stay queued for [`Machine::poll_action`].
    pub fn pop_app_message(&mut self, now_ms: u64) -> Option<(ConnId, AppMessage)> {
        self.poll(now_ms);
        let msg = match self.queue.front()? {
            Pending::Status(conn, status) => (*conn, AppMessage::Status(*status)),
            Pending::Alert(conn, error) => (*conn, AppMessage::Alert(*error)),
            _ => return None,
        };
        self.queue.pop_front();
        Some(msg)
    }

    /// Whether the next queued action is a status for `conn` (so a status just taken is
    /// superseded and may be coalesced with it).
    pub fn next_is_status_for(&self, conn: ConnId) -> bool {
        matches!(self.queue.front(), Some(Pending::Status(c, _)) if *c == conn)
    }

    /// Feeds one event. Expired timers are handled first (as by [`Machine::poll`]). On `Err`
    /// nothing changed (beyond those timers) and nothing was queued.
    pub fn handle(&mut self, now_ms: u64, ev: Event) -> Result<(), MachineError> {
        self.poll(now_ms);
        if self.room() < MAX_ACTIONS_PER_STEP {
            return Err(MachineError::QueueFull);
        }
        let now = now_ms;
        match ev {
            Event::OpenWindow { modes } => self.on_open_window(now, modes),
            Event::CloseWindow => self.on_close_window(),
            Event::AppConnected { conn, mode } => self.on_app_connected(now, conn, mode),
            Event::AppActivity { conn } => self.on_app_activity(now, conn),
            Event::HandshakeStarted { conn } => self.on_handshake_started(now, conn),
            Event::HandshakeOk { conn } => self.on_handshake_ok(now, conn),
            Event::HandshakeFailed { conn, error } => self.on_handshake_failed(now, conn, error),
            Event::SessionError { conn, error } => self.on_session_error(now, conn, error),
            Event::AppDisconnected { conn } => self.on_app_disconnected(now, conn),
            Event::CredentialsReceived { conn, staged } => self.on_credentials(now, conn, staged),
            Event::ScanRequested { conn } => self.on_scan(now, conn),
            Event::BindReceived { token, endpoint } => self.on_bind(now, token, endpoint),
            Event::NetworkUp { ip } => self.on_network_up(ip),
            Event::NetworkFailed { error } => self.on_network_failed(now, error),
            Event::ActivationResult(r) => self.on_activation(now, r),
            Event::CommitDone => self.on_commit_done(),
            Event::CommitFailed => self.on_commit_failed(now),
            Event::Abort => self.on_abort(now),
            Event::Reset(kind) => self.on_reset(now, kind),
        }
    }

    // --- queue --------------------------------------------------------------------------

    fn room(&self) -> usize {
        ACTION_QUEUE_LEN.saturating_sub(self.queue.len())
    }

    fn push(&mut self, p: Pending) {
        // Callers check `room() >= MAX_ACTIONS_PER_STEP` before a step, and no step queues
        // more than that, so this cannot fail; if it ever did, dropping is the only option.
        let _ = self.queue.push_back(p);
    }

    fn materialize(&self, p: Pending) -> Option<Action<'_>> {
        Some(match p {
            Pending::StartWindow(m) => Action::StartWindow(m),
            Pending::StopWindow(m) => Action::StopWindow(m),
            Pending::Status(conn, status) => Action::SendStatus { conn, status },
            Pending::Alert(conn, error) => Action::SendAlert { conn, error },
            Pending::DisconnectApp(c) => Action::DisconnectApp(c),
            Pending::StartScan(conn) => Action::StartScan { conn },
            Pending::ConnectNetwork => {
                let s = self.staged()?;
                Action::ConnectNetwork { mode: s.mode, wifi: s.wifi.as_ref() }
            }
            Pending::DisconnectNetwork => Action::DisconnectNetwork,
            Pending::ReconnectPrevious => Action::ReconnectPrevious {
                mode: self.saved.mode?,
                wifi: self.saved.wifi.as_ref(),
            },
            Pending::StartActivation(attempt) => {
                let s = self.staged()?;
                Action::StartActivation { token: &s.token, endpoint: s.endpoint.as_ref(), attempt }
            }
            Pending::ScheduleRetry { at_ms, attempt, error } => {
                Action::ScheduleRetry { at_ms, attempt, error }
            }
            Pending::Persist(reason) => {
                let state = match reason {
                    PersistReason::Commit => self.pending()?,
                    PersistReason::Counters | PersistReason::NetworkReset => &self.saved,
                };
                Action::Persist { state, reason }
            }
            Pending::EraseStorage => Action::EraseStorage,
            Pending::ReportDone(mode) => Action::ReportDone { mode },
            Pending::ReportFailed(e) => Action::ReportFailed(e),
        })
    }

    // --- helpers -------------------------------------------------------------------------

    fn staged(&self) -> Option<&StagedCreds> {
        match &self.work {
            Some(Work::Staged(s)) => Some(s),
            _ => None,
        }
    }

    fn pending(&self) -> Option<&PersistedState> {
        match &self.work {
            Some(Work::Commit(p)) => Some(p),
            _ => None,
        }
    }

    fn rest_state(&self) -> State {
        if self.saved.is_activated() {
            State::Activated
        } else {
            State::Idle
        }
    }

    fn open_window(&mut self, now: u64, modes: Modes) {
        self.window = Some(Window { modes, deadline: deadline(now, self.config.window_ms()) });
        self.push(Pending::StartWindow(modes));
        self.state = State::WindowOpen;
    }

    fn close_window(&mut self) {
        if let Some(w) = self.window.take() {
            self.push(Pending::StopWindow(w.modes));
        }
        self.state = self.rest_state();
    }

    fn status(&self, state: State, error: Option<PairError>) -> Status {
        Status { state, error, ip: self.ip }
    }

    fn status_to_app(&mut self, state: State, error: Option<PairError>) {
        if let Some(s) = self.session {
            let st = self.status(state, error);
            self.push(Pending::Status(s.info.conn, st));
        }
    }

    /// Sends the session's app (if any) a last status and disconnects it.
    fn close_session(&mut self, state: State, error: Option<PairError>) {
        if let Some(s) = self.session.take() {
            let st = self.status(state, error);
            self.push(Pending::Status(s.info.conn, st));
            self.push(Pending::DisconnectApp(s.info.conn));
        }
    }

    fn reject(&mut self, conn: ConnId, error: PairError) {
        self.push(Pending::Alert(conn, error));
        self.push(Pending::DisconnectApp(conn));
    }

    /// The session slot if `conn` is the session's connection.
    fn session_of(&self, conn: ConnId) -> Result<SessionSlot, MachineError> {
        match self.session {
            Some(s) if s.info.conn == conn => Ok(s),
            Some(_) => Err(MachineError::UnknownConnection),
            None => Err(MachineError::InvalidState(self.state)),
        }
    }

    /// Like `session_of`, but only in `SessionOpen`.
    fn open_session_of(&self, conn: ConnId) -> Result<SessionSlot, MachineError> {
        if self.state != State::SessionOpen {
            return Err(MachineError::InvalidState(self.state));
        }
        self.session_of(conn)
    }

    fn touch(&mut self, now: u64) {
        let idle = self.config.session_idle_ms();
        if let Some(s) = self.session.as_mut() {
            s.idle_deadline = deadline(now, idle);
        }
    }

    fn register_failure(&mut self, now: u64) {
        self.saved.failed_attempts = self.saved.failed_attempts.saturating_add(1);
        if self.saved.failed_attempts >= self.config.max_attempts() && self.locked_until.is_none()
        {
            self.locked_until = Some(deadline(now, self.config.lockout_ms()));
        }
        self.push(Pending::Persist(PersistReason::Counters));
    }

    /// Ends the session while in `SessionOpen` (nothing staged): tells the app why (alert before
    /// the handshake completed, status after), counts the attempt if the handshake was under
    /// way, and goes back to `WindowOpen` (same window deadline).
    fn end_session(&mut self, now: u64, error: PairError, notify: bool) {
        let Some(s) = self.session else { return };
        if !notify {
            self.session = None;
        } else if s.info.phase == SessionPhase::Established {
            self.close_session(State::WindowOpen, Some(error));
        } else {
            self.session = None;
            self.reject(s.info.conn, error);
        }
        if s.info.phase != SessionPhase::Connected {
            self.last_error = Some(error);
        }
        if s.info.phase == SessionPhase::Handshaking {
            self.register_failure(now);
        }
        self.state = State::WindowOpen;
    }

    /// Drops the attempt's data (wiping the passphrase and the token) and its timers.
    fn forget_attempt(&mut self) {
        self.work = None;
        self.deadline = None;
        self.activation = Activation::default();
        self.ip = None;
    }

    /// Rolls a pairing attempt back (anything after staging) and reopens the window.
    fn fail_attempt(&mut self, now: u64, error: PairError) {
        let left_network = matches!(
            self.state,
            State::JoiningNetwork | State::Activating | State::Committing
        );
        self.forget_attempt();
        self.last_error = Some(error);
        self.close_session(State::WindowOpen, Some(error));
        if left_network {
            self.push(Pending::DisconnectNetwork);
            if self.saved.can_reconnect() {
                self.push(Pending::ReconnectPrevious);
            }
        }
        self.push(Pending::ReportFailed(error));
        let modes = self.window.map_or(self.config.modes(), |w| w.modes);
        self.open_window(now, modes);
    }

    /// Starts the attempt with the credentials the caller put into `work`.
    fn stage(&mut self, now: u64) {
        self.deadline = Some(deadline(now, self.config.deadline_ms()));
        self.activation = Activation::default();
        self.ip = None;
        // Statuses first: the app must learn before the radio possibly switches (SoftAP).
        self.state = State::CredentialsStaged;
        self.status_to_app(State::CredentialsStaged, None);
        self.state = State::JoiningNetwork;
        self.status_to_app(State::JoiningNetwork, None);
        self.push(Pending::ConnectNetwork);
    }

    fn validate_staged(&self, s: &Staged, session_mode: Mode) -> Result<(), PairError> {
        if s.mode != session_mode {
            return Err(PairError::UnexpectedMessage);
        }
        match (&s.wifi, s.mode.needs_wifi()) {
            (None, true) => return Err(PairError::MissingCredentials),
            (Some(_), false) => return Err(PairError::UnexpectedMessage),
            (Some(w), true) => w.validate()?,
            (None, false) => {}
        }
        if s.token.is_none() {
            return Err(PairError::MissingCredentials);
        }
        Ok(())
    }

    fn next_random(&mut self) -> u32 {
        // xorshift32: deterministic, never returns to 0 from a non-zero seed.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x
    }

    fn retry_delay(&mut self, attempt: u16) -> u64 {
        let d = self.config.backoff_ms(attempt);
        if self.rng == 0 {
            return d;
        }
        // In 32 bits: `d` is at most MAX_TIMEOUT_MS (< 2^27). 16 B smaller (size report).
        let d = d as u32;
        let half = d / 2;
        // Uniform in [half, d] by multiply-shift (r · span / 2^32) rather than `r % span`: no
        // 64-bit division, which a 32-bit MCU would pull from compiler-builtins (~0.4 KiB).
        let span = d - half + 1;
        u64::from(half + ((u64::from(self.next_random()) * u64::from(span)) >> 32) as u32)
    }

    /// Handles at most one expired timer; returns whether one fired.
    fn fire_one(&mut self, now: u64) -> bool {
        if let Some(t) = self.locked_until {
            if t <= now {
                self.locked_until = None;
                self.saved.failed_attempts = 0;
                // While committing, the commit already carries the reset counter.
                if self.state != State::Committing {
                    self.push(Pending::Persist(PersistReason::Counters));
                }
                return true;
            }
        }
        match self.state {
            State::WindowOpen => {
                if self.window.is_some_and(|w| w.deadline <= now) {
                    self.close_window();
                    return true;
                }
            }
            State::SessionOpen => {
                if self.session.is_some_and(|s| s.idle_deadline <= now) {
                    self.end_session(now, PairError::SessionTimeout, true);
                    return true;
                }
            }
            State::CredentialsStaged | State::JoiningNetwork | State::Activating => {
                if self.deadline.is_some_and(|d| d <= now) {
                    let e = self.activation.last_transient.unwrap_or(PairError::DeadlineExceeded);
                    self.fail_attempt(now, e);
                    return true;
                }
                if let Some(at) = self.activation.retry_at {
                    if at <= now {
                        self.activation.retry_at = None;
                        self.activation.attempt = self.activation.attempt.saturating_add(1);
                        self.push(Pending::StartActivation(self.activation.attempt));
                        return true;
                    }
                }
            }
            State::Idle | State::Committing | State::Activated => {}
        }
        false
    }

    // --- event handlers ------------------------------------------------------------------

    fn on_open_window(&mut self, now: u64, modes: Modes) -> Result<(), MachineError> {
        let modes = intersect(modes, self.config.modes());
        if modes.is_empty() {
            return Err(MachineError::ModeDisabled);
        }
        match self.state {
            State::Idle | State::Activated => {
                self.open_window(now, modes);
                Ok(())
            }
            State::WindowOpen => {
                let merged = self.window.map_or(modes, |w| w.modes.union(modes));
                self.open_window(now, merged);
                Ok(())
            }
            s => Err(MachineError::InvalidState(s)),
        }
    }

    fn on_close_window(&mut self) -> Result<(), MachineError> {
        if self.state != State::WindowOpen {
            return Err(MachineError::InvalidState(self.state));
        }
        self.close_window();
        Ok(())
    }

    fn on_app_connected(&mut self, now: u64, conn: ConnId, mode: Mode) -> Result<(), MachineError> {
        match self.state {
            State::Idle | State::Activated => self.reject(conn, PairError::WindowClosed),
            State::WindowOpen => {
                let open = self.window.is_some_and(|w| w.modes.contains(mode.bit()));
                if !open || mode == Mode::Cellular {
                    self.reject(conn, PairError::WindowClosed);
                } else if self.locked_until.is_some() {
                    self.reject(conn, PairError::LockedOut);
                } else {
                    let info = SessionInfo { conn, mode, phase: SessionPhase::Connected };
                    let idle_deadline = deadline(now, self.config.session_idle_ms());
                    self.session = Some(SessionSlot { info, idle_deadline });
                    self.state = State::SessionOpen;
                }
            }
            _ => {
                if self.session.is_some_and(|s| s.info.conn == conn) {
                    return Err(MachineError::InvalidState(self.state));
                }
                self.reject(conn, PairError::Busy);
            }
        }
        Ok(())
    }

    fn on_app_activity(&mut self, now: u64, conn: ConnId) -> Result<(), MachineError> {
        self.session_of(conn)?;
        self.touch(now);
        Ok(())
    }

    fn on_handshake_started(&mut self, now: u64, conn: ConnId) -> Result<(), MachineError> {
        let s = self.open_session_of(conn)?;
        if s.info.phase != SessionPhase::Connected {
            return Err(MachineError::InvalidState(self.state));
        }
        if let Some(slot) = self.session.as_mut() {
            slot.info.phase = SessionPhase::Handshaking;
        }
        self.touch(now);
        Ok(())
    }

    fn on_handshake_ok(&mut self, now: u64, conn: ConnId) -> Result<(), MachineError> {
        let s = self.open_session_of(conn)?;
        if s.info.phase != SessionPhase::Handshaking {
            return Err(MachineError::InvalidState(self.state));
        }
        if let Some(slot) = self.session.as_mut() {
            slot.info.phase = SessionPhase::Established;
        }
        // A successful session resets the counter (written with the commit, or with the next
        // failure: storage only ever over-counts).
        self.saved.failed_attempts = 0;
        self.touch(now);
        self.status_to_app(State::SessionOpen, self.last_error);
        Ok(())
    }

    fn on_handshake_failed(
        &mut self,
        now: u64,
        conn: ConnId,
        error: PairError,
    ) -> Result<(), MachineError> {
        let s = self.open_session_of(conn)?;
        if s.info.phase == SessionPhase::Established {
            return Err(MachineError::InvalidState(self.state));
        }
        self.end_session(now, error, true);
        Ok(())
    }

    fn on_session_error(
        &mut self,
        now: u64,
        conn: ConnId,
        error: PairError,
    ) -> Result<(), MachineError> {
        let s = self.session_of(conn)?;
        if self.state == State::SessionOpen {
            self.end_session(now, error, true);
        } else {
            // The attempt goes on without the app (it can reconnect and read the result).
            self.session = None;
            self.push(Pending::DisconnectApp(s.info.conn));
        }
        Ok(())
    }

    fn on_app_disconnected(&mut self, now: u64, conn: ConnId) -> Result<(), MachineError> {
        match self.session {
            Some(s) if s.info.conn == conn => {
                if self.state == State::SessionOpen {
                    self.end_session(now, PairError::Disconnected, false);
                } else {
                    // SoftAP: the phone loses the AP while the device joins; carry on.
                    self.session = None;
                }
            }
            // A connection the machine refused (or never knew): nothing to do.
            _ => {}
        }
        Ok(())
    }

    fn on_credentials(&mut self, now: u64, conn: ConnId, staged: Staged) -> Result<(), MachineError> {
        let s = self.open_session_of(conn)?;
        if s.info.phase != SessionPhase::Established {
            return Err(MachineError::NotEstablished);
        }
        self.touch(now);
        if let Err(e) = self.validate_staged(&staged, s.info.mode) {
            self.last_error = Some(e);
            self.status_to_app(State::SessionOpen, Some(e));
            return Ok(());
        }
        let Staged { mode, wifi, token, endpoint } = staged;
        let Some(token) = token else {
            return Ok(()); // unreachable: validated above
        };
        self.work = Some(Work::Staged(StagedCreds { mode, wifi, token, endpoint }));
        self.stage(now);
        Ok(())
    }

    fn on_scan(&mut self, now: u64, conn: ConnId) -> Result<(), MachineError> {
        let s = self.open_session_of(conn)?;
        if s.info.phase != SessionPhase::Established {
            return Err(MachineError::NotEstablished);
        }
        if !s.info.mode.needs_wifi() {
            return Err(MachineError::ModeDisabled);
        }
        self.touch(now);
        self.push(Pending::StartScan(conn));
        Ok(())
    }

    fn on_bind(
        &mut self,
        now: u64,
        token: ActivationToken,
        endpoint: Option<CloudEndpoint>,
    ) -> Result<(), MachineError> {
        if self.state != State::WindowOpen {
            return Err(MachineError::InvalidState(self.state));
        }
        if !self.window.is_some_and(|w| w.modes.contains(Modes::CELLULAR)) {
            return Err(MachineError::ModeDisabled);
        }
        self.work = Some(Work::Staged(StagedCreds { mode: Mode::Cellular, wifi: None, token, endpoint }));
        self.stage(now);
        Ok(())
    }

    fn on_network_up(&mut self, ip: IpAddr) -> Result<(), MachineError> {
        if self.state != State::JoiningNetwork {
            return Err(MachineError::InvalidState(self.state));
        }
        self.ip = Some(ip);
        self.state = State::Activating;
        self.activation.attempt = 1;
        self.status_to_app(State::Activating, None);
        self.push(Pending::StartActivation(1));
        Ok(())
    }

    fn on_network_failed(&mut self, now: u64, error: PairError) -> Result<(), MachineError> {
        match self.state {
            State::JoiningNetwork | State::Activating => {
                self.fail_attempt(now, error);
                Ok(())
            }
            s => Err(MachineError::InvalidState(s)),
        }
    }

    fn on_activation(
        &mut self,
        now: u64,
        result: Result<OperationalCredentials, PairError>,
    ) -> Result<(), MachineError> {
        if self.state != State::Activating || self.activation.retry_at.is_some() {
            return Err(MachineError::InvalidState(self.state));
        }
        match result {
            Ok(op) => {
                let Some(Work::Staged(staged)) = &mut self.work else {
                    return Err(MachineError::InvalidState(self.state));
                };
                let (mode, wifi) = (staged.mode, staged.wifi.take());
                // Replacing the staged credentials wipes the token. Taken from `work` in place:
                // 80 B smaller than moving the staged credentials out first (size report).
                self.work = Some(Work::Commit(PersistedState {
                    mode: Some(mode),
                    wifi,
                    operational: Some(op),
                    activated: true,
                    failed_attempts: 0,
                }));
                self.activation = Activation::default();
                self.state = State::Committing;
                self.push(Pending::Persist(PersistReason::Commit));
            }
            Err(e) if e.is_transient() => {
                let attempt = self.activation.attempt.max(1);
                let at = deadline(now, self.retry_delay(attempt));
                if self.deadline.is_some_and(|d| at >= d) {
                    // The retry would land after the deadline: report the cause now.
                    self.fail_attempt(now, e);
                } else {
                    self.activation.retry_at = Some(at);
                    self.activation.last_transient = Some(e);
                    let next = attempt.saturating_add(1);
                    self.push(Pending::ScheduleRetry { at_ms: at, attempt: next, error: e });
                    self.status_to_app(State::Activating, Some(e));
                }
            }
            Err(e) => self.fail_attempt(now, e),
        }
        Ok(())
    }

    fn on_commit_done(&mut self) -> Result<(), MachineError> {
        if self.state != State::Committing {
            return Err(MachineError::InvalidState(self.state));
        }
        let Some(Work::Commit(new)) = &mut self.work else {
            return Err(MachineError::InvalidState(self.state));
        };
        // Swapped in place, then the old state is dropped with the work: 36 B smaller than
        // moving the new state out of `work` and into `saved` (size report).
        core::mem::swap(&mut self.saved, new);
        self.work = None;
        self.deadline = None;
        self.last_error = None;
        self.state = State::Activated;
        self.close_session(State::Activated, None);
        if let Some(w) = self.window.take() {
            self.push(Pending::StopWindow(w.modes));
        }
        if let Some(mode) = self.saved.mode {
            self.push(Pending::ReportDone(mode));
        }
        Ok(())
    }

    fn on_commit_failed(&mut self, now: u64) -> Result<(), MachineError> {
        if self.state != State::Committing {
            return Err(MachineError::InvalidState(self.state));
        }
        self.fail_attempt(now, PairError::StorageFailed);
        Ok(())
    }

    fn on_abort(&mut self, now: u64) -> Result<(), MachineError> {
        match self.state {
            State::SessionOpen => {
                self.end_session(now, PairError::Aborted, true);
                Ok(())
            }
            State::CredentialsStaged | State::JoiningNetwork | State::Activating => {
                self.fail_attempt(now, PairError::Aborted);
                Ok(())
            }
            s => Err(MachineError::InvalidState(s)),
        }
    }

    fn on_reset(&mut self, now: u64, kind: ResetKind) -> Result<(), MachineError> {
        if self.state == State::Committing {
            return Err(MachineError::InvalidState(self.state));
        }
        let on_new_network = matches!(self.state, State::JoiningNetwork | State::Activating);
        if let Some(s) = self.session.take() {
            self.reject(s.info.conn, PairError::Aborted);
        }
        self.forget_attempt();
        let mut disconnect = on_new_network;
        match kind {
            ResetKind::Network => {
                if self.saved.wifi.is_some() {
                    self.saved.wifi = None; // dropped in place, not moved out (16 B smaller)
                    disconnect = true;
                    self.push(Pending::Persist(PersistReason::NetworkReset));
                }
            }
            ResetKind::Factory => {
                disconnect = true;
                self.saved = PersistedState::default();
                self.locked_until = None;
                self.last_error = None;
                self.push(Pending::EraseStorage);
            }
        }
        if disconnect {
            self.push(Pending::DisconnectNetwork);
        }
        self.open_window(now, self.config.modes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn default_config_is_valid_and_limits_are_checked() {
        assert_eq!(Config::new(ConfigParams::default()), Ok(Config::default()));
        let bad = |f: fn(&mut ConfigParams)| {
            let mut p = ConfigParams::default();
            f(&mut p);
            Config::new(p).unwrap_err()
        };
        assert_eq!(bad(|p| p.window_ms = 0), ConfigError::WindowMs);
        assert_eq!(bad(|p| p.window_ms = MAX_TIMEOUT_MS + 1), ConfigError::WindowMs);
        assert_eq!(bad(|p| p.session_idle_ms = 0), ConfigError::SessionIdleMs);
        assert_eq!(bad(|p| p.deadline_ms = 0), ConfigError::DeadlineMs);
        assert_eq!(bad(|p| p.max_attempts = 0), ConfigError::MaxAttempts);
        assert_eq!(bad(|p| p.lockout_ms = 0), ConfigError::LockoutMs);
        assert_eq!(bad(|p| p.backoff_base_ms = 0), ConfigError::BackoffBaseMs);
        assert_eq!(bad(|p| p.backoff_cap_ms = 999), ConfigError::BackoffCapMs);
        assert_eq!(bad(|p| p.modes = Modes::empty()), ConfigError::Modes);
        assert!(Config::new(ConfigParams { window_ms: MAX_TIMEOUT_MS, ..Default::default() }).is_ok());
    }

    #[test]
    fn backoff_doubles_and_caps_without_overflow() {
        let c = Config::default();
        assert_eq!(c.backoff_ms(0), 1_000);
        assert_eq!(c.backoff_ms(1), 1_000);
        assert_eq!(c.backoff_ms(2), 2_000);
        assert_eq!(c.backoff_ms(5), 16_000);
        assert_eq!(c.backoff_ms(6), 30_000);
        assert_eq!(c.backoff_ms(64), 30_000);
        assert_eq!(c.backoff_ms(65), 30_000);
        assert_eq!(c.backoff_ms(u16::MAX), 30_000);
    }

    #[test]
    fn jitter_stays_within_half_to_full_delay_and_is_deterministic() {
        let mut a = Machine::new(Config::default());
        let mut b = Machine::new(Config::default());
        a.set_jitter_seed(0x1234_5678);
        b.set_jitter_seed(0x1234_5678);
        let mut differs = false;
        for attempt in 1..40u16 {
            let d = Config::default().backoff_ms(attempt);
            let x = a.retry_delay(attempt);
            assert_eq!(x, b.retry_delay(attempt));
            assert!((d / 2..=d).contains(&x), "{x} outside {}..={d}", d / 2);
            differs |= x != d;
        }
        assert!(differs, "a seeded machine must jitter");
    }

    #[test]
    fn backoff_and_jitter_equal_the_64_bit_formulas() {
        // The formulas as first written (saturating 64-bit arithmetic), over extreme configs.
        let old_backoff = |base: u64, cap: u64, attempt: u16| {
            let factor = 1u64.checked_shl(u32::from(attempt.saturating_sub(1))).unwrap_or(u64::MAX);
            base.saturating_mul(factor).min(cap)
        };
        let old_jitter = |d: u64, r: u32| {
            let half = d / 2;
            let span = (d - half + 1).min(u64::from(u32::MAX));
            half + ((u64::from(r) * span) >> 32)
        };
        let m = MAX_TIMEOUT_MS;
        for (base, cap) in [(1, 1), (1, m), (1_000, 30_000), (3, 7), (m - 1, m), (m, m), (65_537, m)] {
            let p = ConfigParams { backoff_base_ms: base, backoff_cap_ms: cap, ..Default::default() };
            let c = Config::new(p).unwrap();
            let mut machine = Machine::new(c);
            let mut rng = 0x9E37_79B9u32;
            machine.set_jitter_seed(rng);
            for attempt in (0..=300).chain([u16::MAX - 1, u16::MAX]) {
                let d = c.backoff_ms(attempt);
                assert_eq!(d, old_backoff(base, cap, attempt), "{base} {cap} {attempt}");
                rng ^= rng << 13;
                rng ^= rng >> 17;
                rng ^= rng << 5;
                assert_eq!(machine.retry_delay(attempt), old_jitter(d, rng), "{base} {cap} {attempt}");
            }
        }
    }

    #[test]
    fn the_queue_is_a_bounded_fifo_across_wrap_around() {
        let mut q = Queue::new();
        let mut next_in = 0u16;
        let mut next_out = 0u16;
        // Fill, then alternate pushes and pops so head and tail wrap many times.
        for round in 0..100 {
            while q.push_back(Pending::StartActivation(next_in)) {
                next_in += 1;
            }
            assert_eq!(q.len(), ACTION_QUEUE_LEN);
            assert!(!q.push_back(Pending::EraseStorage), "a full queue refuses");
            for _ in 0..(round % ACTION_QUEUE_LEN) + 1 {
                assert_eq!(q.front(), Some(&Pending::StartActivation(next_out)));
                assert_eq!(q.pop_front(), Some(Pending::StartActivation(next_out)));
                next_out += 1;
            }
        }
        while let Some(p) = q.pop_front() {
            assert_eq!(p, Pending::StartActivation(next_out));
            next_out += 1;
        }
        assert_eq!((q.len(), q.front(), next_out), (0, None, next_in));
    }

    #[test]
    fn state_codes_round_trip() {
        for c in 0..=255u8 {
            if let Some(s) = State::from_code(c) {
                assert_eq!(s.code(), c);
            } else {
                assert!(c > 7);
            }
        }
    }

    #[test]
    fn secrets_are_redacted_and_compared_in_constant_time_api() {
        let s = DeviceSecret::new([0xAB; 32]);
        assert!(!format!("{s:?}").to_lowercase().contains("ab"));
        assert_eq!(s, DeviceSecret::new([0xAB; 32]));
        assert_ne!(s, DeviceSecret::new([0xAC; 32]));
        assert!(DeviceSecret::from_slice(&[0; 31]).is_err());
        assert!(CloudName::new(b"dev-01").is_ok());
        assert!(CloudName::new(b"has space").is_err());
        assert!(CloudName::new(b"").is_err());
        assert!(CloudName::new(&[b'a'; 65]).is_err());
    }
}
