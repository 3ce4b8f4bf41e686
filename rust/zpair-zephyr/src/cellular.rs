//! Cellular mode: the modem, the QR code and the cloud's bind endpoint
//! (docs/transports.md, "Cellular"), the device-side flow of zpair-sim's cellular device.
//!
//! ```text
//! StartWindow(CELLULAR)  ->  show the setup payload + QR (zpair_cellular_show_payload, printk)
//!                            attach the modem (zpair_net_connect(CELLULAR), -EINPROGRESS:
//!                            ZPAIR_IN_NET follows)
//! attached, WindowOpen   ->  client::bind_poll every max(CONFIG_ZPAIR_CELLULAR_POLL_S, the
//!                            cloud's retry_after_s) seconds (back-off on errors)
//! Bound { token, .. }    ->  Event::BindReceived: the machine stages the token and asks for
//!                            ConnectNetwork(Cellular) (the modem is attached: up at once),
//!                            then activation and commit, as in every mode
//! ```
//!
//! An attach failure (`ZPAIR_IN_NET` with a negative `arg`) carries the backend's
//! `ZPAIR_ERR_*` code as `ZPAIR_NET_ERROR(code)`, as the Wi-Fi station does:
//! `engine::errno_to_network_error` turns it into the [`PairError`] the machine
//! gets while it waits for the network, and it is kept as [`Cellular::modem_error`] for
//! `zpair status` while the window waits for a bind (the modem keeps trying).

use zpair_core::client::{self, BindPoll, CloudIdentity};
use zpair_core::error::PairError;
use zpair_core::factory::FactoryData;
use zpair_core::machine::Event;
use zpair_core::types::Mode;

use crate::ffi;
use crate::link::HttpLink;
use crate::sys;

/// `CONFIG_ZPAIR_CELLULAR_POLL_S` in milliseconds (the option exists only with the mode).
fn poll_interval_ms() -> u64 {
    #[cfg(CONFIG_ZPAIR_CELLULAR)]
    let s = u64::try_from(zephyr::kconfig::CONFIG_ZPAIR_CELLULAR_POLL_S).unwrap_or(5);
    #[cfg(not(CONFIG_ZPAIR_CELLULAR))]
    let s = 5;
    s.max(1) * 1000
}

/// The longest wait between two bind polls after errors.
const POLL_BACKOFF_MAX_MS: u64 = 60_000;
/// How long to wait before asking again when the attach could not even start.
const ATTACH_RETRY_MS: u64 = 10_000;

/// The cellular mode's side of the pairing window.
pub struct Cellular {
    /// The window includes cellular (QR shown, polling when attached).
    active: bool,
    attached: bool,
    /// When to poll the bind endpoint (or retry the attach) next.
    next_at: Option<u64>,
    failures: u8,
    modem_error: Option<PairError>,
}

impl Cellular {
    /// Idle.
    pub const fn new() -> Self {
        Cellular { active: false, attached: false, next_at: None, failures: 0, modem_error: None }
    }

    /// The modem's last attach error, while not attached.
    pub fn modem_error(&self) -> Option<PairError> {
        if self.attached { None } else { self.modem_error }
    }

    /// Whether the modem is attached (as far as the inputs said).
    pub fn is_attached(&self) -> bool {
        self.attached
    }

    /// The window opened with cellular: shows the payload and attaches the modem.
    pub fn start(&mut self, factory: &FactoryData, now: u64) {
        self.active = true;
        self.failures = 0;
        show_payload(factory);
        self.attach(now);
    }

    fn attach(&mut self, now: u64) {
        let mut ip4 = 0u32;
        // SAFETY: `ip4` is a valid out-pointer; no Wi-Fi parameters for this mode.
        let rc = unsafe { ffi::zpair_net_connect(ffi::ZPAIR_MODE_CELLULAR, core::ptr::null(), &mut ip4) };
        match rc {
            0 => {
                log::info!("cellular: modem attached");
                self.up(now);
            }
            rc if rc == -ffi::errno::EINPROGRESS => {
                log::info!("cellular: modem attaching");
                self.attached = false;
                self.next_at = None;
            }
            rc => {
                log::warn!("cellular: attach not started ({rc})");
                self.attached = false;
                self.modem_error = Some(PairError::ModemFailure);
                self.next_at = Some(now + ATTACH_RETRY_MS);
            }
        }
    }

    fn up(&mut self, now: u64) {
        self.attached = true;
        self.modem_error = None;
        if self.active {
            self.next_at = Some(now);
        }
    }

    /// The window closed (or moved on to joining/activating): stop polling. The modem stays
    /// attached: it is the device's network once activated; rollbacks detach it through
    /// `DisconnectNetwork`.
    pub fn stop(&mut self) {
        self.active = false;
        self.next_at = None;
    }

    /// A `ZPAIR_IN_NET` input of the cellular mode (`code`: its `conn`, a `ZPAIR_ERR_*`).
    pub fn net_changed(&mut self, now: u64, arg: i32) {
        if arg == ffi::ZPAIR_NET_UP {
            log::info!("cellular: modem attached");
            self.up(now);
        } else if arg < 0 {
            let e = crate::engine::errno_to_network_error(Mode::Cellular, arg);
            log::warn!("cellular: {} ({arg})", e.name());
            self.attached = false;
            self.modem_error = Some(e);
            if self.active {
                // The backend keeps trying; poll again once it says it is up.
                self.next_at = None;
            }
        }
    }

    /// When [`Cellular::on_timer`] wants to run next.
    pub fn next_deadline(&self) -> Option<u64> {
        if self.active { self.next_at } else { None }
    }

    /// Runs what is due: the attach retry, or one bind poll (blocking: two HTTP exchanges)
    /// while `window_open`. Returns the event for the machine when the cloud bound the device.
    pub fn on_timer(
        &mut self,
        now: u64,
        window_open: bool,
        factory: &FactoryData,
        firmware: zpair_core::activation::FwVersion,
    ) -> Option<Event> {
        let at = self.next_at?;
        if !self.active || now < at {
            return None;
        }
        self.next_at = None;
        if !self.attached {
            self.attach(now);
            return None;
        }
        if !window_open {
            return None;
        }
        let id = CloudIdentity {
            product: factory.product,
            device: factory.device,
            secret: &factory.activation_secret,
            firmware,
        };
        let mut crypto = sys::crypto();
        let result = client::bind_poll(&mut crypto, &mut HttpLink, &id, None);
        let now = sys::now_ms();
        match result {
            Ok(BindPoll::Pending { retry_after_s }) => {
                self.failures = 0;
                log::debug!("cellular: not bound yet");
                let wait = (u64::from(retry_after_s) * 1000).max(poll_interval_ms());
                self.next_at = Some(now + wait);
                None
            }
            Ok(BindPoll::Bound { token, endpoint }) => {
                self.failures = 0;
                log::info!("cellular: the cloud bound the device");
                Some(Event::BindReceived { token, endpoint: Some(endpoint) })
            }
            Err(e) => {
                self.failures = self.failures.saturating_add(1);
                let shift = u32::from(self.failures.saturating_sub(1).min(6));
                let wait = (poll_interval_ms() << shift).min(POLL_BACKOFF_MAX_MS);
                log::warn!("cellular: bind poll failed: {} (again in {} s)", e.name(), wait / 1000);
                self.next_at = Some(now + wait);
                None
            }
        }
    }

    /// The machine refused the bind (it left `WindowOpen` meanwhile): poll again later.
    pub fn bind_refused(&mut self, now: u64) {
        if self.active {
            self.next_at = Some(now + poll_interval_ms());
        }
    }
}

impl Default for Cellular {
    fn default() -> Self {
        Self::new()
    }
}

/// Shows the setup payload: the string through `zpair_cellular_show_payload` (printk: it
/// carries the setup code, so never through the log) and, with the `qr` feature, the QR code
/// with `zpair_print`.
pub fn show_payload(factory: &FactoryData) {
    let Some(payload) = factory.setup_payload() else {
        log::warn!("cellular: no setup code in the factory data: no QR code to show");
        return;
    };
    let mut buf = zeroize::Zeroizing::new([0u8; zpair_core::payload::PAYLOAD_LEN]);
    let Ok(text) = zpair_core::payload::render(&payload, &mut buf[..]) else { return };
    // SAFETY: `text` is readable for its length during the call.
    let rc = unsafe { ffi::zpair_cellular_show_payload(text.as_ptr().cast(), text.len()) };
    if rc != 0 {
        log::warn!("cellular: payload not shown ({rc})");
        return;
    }
    #[cfg(feature = "qr")]
    qr_lines(text, |line| {
        // SAFETY: `line` is readable for its length during the call.
        unsafe { ffi::zpair_print(line.as_ptr().cast(), line.len()) }
    });
}

/// Draws `text` as a QR code, one line of `##`/spaces per module row (2 modules of quiet zone),
/// handing each line to `out`.
#[cfg(feature = "qr")]
pub fn qr_lines(text: &str, mut out: impl FnMut(&[u8])) {
    use zpair_core::payload::qr::{QrMatrix, QR_MAX_SIZE};
    let Ok(qr) = QrMatrix::encode(text) else { return };
    const QUIET: usize = 2;
    let side = qr.size() + 2 * QUIET;
    let mut line = zeroize::Zeroizing::new([0u8; 2 * (QR_MAX_SIZE + 2 * QUIET)]);
    for y in 0..side {
        let mut n = 0;
        for x in 0..side {
            let dark = x >= QUIET && y >= QUIET && qr.is_dark(x - QUIET, y - QUIET);
            let cell: &[u8; 2] = if dark { b"##" } else { b"  " };
            if let Some(dst) = line.get_mut(n..n + 2) {
                dst.copy_from_slice(cell);
                n += 2;
            }
        }
        out(line.get(..n).unwrap_or(&[]));
    }
}
