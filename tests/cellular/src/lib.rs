//! The device of the cellular end-to-end test: zpair's thread, nothing else. Everything the test
//! does goes through the shell (provisioning, status, the fake modem) and the network (bind polls, activation).

#![no_std]

use zpair_zephyr::zpair_core::msg::{Capabilities, FirmwareVersion};
use zpair_zephyr::AppInfo;

static INFO: AppInfo = AppInfo {
    firmware: FirmwareVersion { major: 0, minor: 1, patch: 0 },
    capabilities: Capabilities::from_bits(0),
};

#[no_mangle]
extern "C" fn rust_main() {
    zpair_zephyr::sys::init_logging();
    match zpair_zephyr::start(&INFO) {
        Ok(()) => log::info!("zpair started"),
        Err(rc) => log::error!("zpair not started ({rc})"),
    }
}
