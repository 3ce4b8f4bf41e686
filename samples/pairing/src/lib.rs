//! zpair pairing sample: starts zpair's thread, which opens the pairing window for the modes
//! this build enables, or waits for its factory data (`zpair factory <hex>` on the shell).

#![no_std]

use zpair_zephyr::zpair_core::msg::{Capabilities, FirmwareVersion};
use zpair_zephyr::AppInfo;

/// What this firmware tells the app and the cloud about itself.
static INFO: AppInfo = AppInfo {
    firmware: FirmwareVersion { major: 0, minor: 1, patch: 0 },
    // Wi-Fi capabilities (security types, hidden SSIDs) only matter for SoftAP/BLE boards.
    capabilities: Capabilities::from_bits(0),
};

#[no_mangle]
extern "C" fn rust_main() {
    // Route `log` into zpair's C log module before anything logs.
    zpair_zephyr::sys::init_logging();
    match zpair_zephyr::start(&INFO) {
        Ok(()) => log::info!("zpair started on {}", zephyr::kconfig::CONFIG_BOARD),
        Err(rc) => log::error!("zpair not started ({rc})"),
    }
}
