//! Wi-Fi scans for the app (SoftAP and BLE modes): the machine asks for one
//! ([`Action::StartScan`](zpair_core::machine::Action::StartScan)), the shim's `zpair_wifi_scan`
//! starts it, and the results arrive as `ZPAIR_IN_SCAN` inputs (one `struct zpair_scan_result`
//! each, then one with no data at the end). [`Scan`] collects them into
//! [`ScanResults`] pages that fit one session record, as zpair-sim does, and hands each full
//! page (with `more` set) and the last one to the engine, which seals them for the app with
//! [`Device::scan_results`](zpair_core::device::Device::scan_results).

use zpair_core::device::Device;
use zpair_core::machine::ConnId;
use zpair_core::msg::{ScanEntry, ScanResults};
use zpair_core::types::{Bssid, Security, Ssid};

use crate::ffi;
use crate::sys::ZCrypto;

/// The scan in progress and the page being filled.
pub(crate) struct Scan {
    /// The app that asked, and its page so far.
    pending: Option<(ConnId, ScanResults)>,
}

impl Scan {
    /// No scan.
    pub(crate) const fn new() -> Self {
        Scan { pending: None }
    }

    /// A scan for the app on `conn` started.
    pub(crate) fn start(&mut self, conn: ConnId) {
        self.pending = Some((conn, ScanResults::default()));
    }

    /// One `ZPAIR_IN_SCAN` input (`arg`, `data`). Returns a page to send to the app: a full
    /// one (`more` set) or, at the end of the scan, the last one.
    pub(crate) fn input(&mut self, arg: i32, data: &[u8]) -> Option<(ConnId, ScanResults)> {
        if data.is_empty() {
            if arg < 0 {
                log::warn!("wifi scan ended early ({arg})");
            }
            return self.pending.take();
        }
        let (conn, page) = self.pending.as_mut()?;
        let entry = entry_of(data)?;
        match page.try_push(entry, Device::<ZCrypto>::scan_page_limit()) {
            Ok(()) => None,
            Err(entry) => {
                let mut full = core::mem::take(page);
                full.more = true;
                // A single entry always fits an empty page.
                let _ = page.try_push(entry, Device::<ZCrypto>::scan_page_limit());
                Some((*conn, full))
            }
        }
    }
}

/// A `struct zpair_scan_result` as a scan entry (`None`: malformed or hidden).
fn entry_of(data: &[u8]) -> Option<ScanEntry> {
    // struct zpair_scan_result: ssid[32], ssid_len, security, channel, rssi, bssid[6].
    let ssid_len = usize::from(*data.get(32)?);
    let ssid = Ssid::new(data.get(..ssid_len.min(32))?).ok()?;
    let security = Security::from_code(*data.get(33)?).ok();
    let channel = *data.get(34)?;
    let rssi = i8::from_ne_bytes([*data.get(35)?]);
    let mut bssid = [0u8; 6];
    bssid.copy_from_slice(data.get(36..42)?);
    Some(ScanEntry { ssid, bssid: Bssid(bssid), rssi, channel, security })
}

const _: () = assert!(core::mem::size_of::<ffi::ScanResult>() == 42);
