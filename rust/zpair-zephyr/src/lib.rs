//! zpair's Zephyr glue: the Rust half of zpair inside a Zephyr image.
//!
//! The C half is the module's library `zpair` (root `CMakeLists.txt`, sources in `shim/`), a
//! flat interface (`shim/include/zpair/shim.h`, declared in [`ffi`]) over what Rust cannot reach
//! through zephyr-lang-rust: settings, sockets, net_mgmt, the shell, zpair's own log module. This
//! crate
//!
//! - runs the zpair thread ([`start`]): it owns zpair-core's [`Device`](zpair_core::device::Device)
//!   over [`MbedTls`](zpair_mbedtls::MbedTls) (the C provider compiled against Zephyr's mbedTLS,
//!   with `sys_csrand_get` as entropy), feeds it from the shim's input queue (packets,
//!   connections, network events, shell commands), frames and sends its packets, and executes
//!   its actions: network and window control through the backends, activation through
//!   [`client::activate`](zpair_core::client::activate) over [`link::HttpLink`], persistence
//!   through [`Store`](zpair_core::storage::Store) over [`storage::SettingsStorage`];
//! - per mode: wired datagrams in [`engine`], BLE GATT fragments in [`ble`], and the cellular
//!   flow (QR code, modem attach, bind polling) in [`cellular`];
//! - routes the `log` crate into zpair's C log module ([`sys::init_logging`]);
//! - reads the factory data from settings (`zpair/factory`, written by `zpair factory <hex>`).
//!
//! Use from an application's `rustapp` crate:
//!
//! ```ignore
//! static INFO: zpair_zephyr::AppInfo = zpair_zephyr::AppInfo {
//!     firmware: FirmwareVersion { major: 1, minor: 0, patch: 0 },
//!     capabilities: Capabilities::from_bits(0),
//! };
//!
//! #[no_mangle]
//! extern "C" fn rust_main() {
//!     zpair_zephyr::start(&INFO).expect("zpair");
//! }
//! ```
//!
//! Builds only inside a Zephyr build (depends on zephyr-lang-rust's `zephyr` crate).
#![no_std]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
// `CONFIG_*` cfgs come from the Zephyr build's .config (build.rs).
#![allow(unexpected_cfgs)]

#[cfg(not(CONFIG_ZPAIR))]
compile_error!(
    "zpair-zephyr needs CONFIG_ZPAIR=y: look for Kconfig warnings about ZPAIR (a dependency is \
     missing: CONFIG_RUST, CONFIG_SETTINGS, CONFIG_MBEDTLS, or an entropy driver for \
     sys_csrand_get) and include zpair's prj.conf fragment"
);

#[cfg(CONFIG_ZPAIR)]
pub mod ble;
#[cfg(CONFIG_ZPAIR)]
pub mod cellular;
#[cfg(CONFIG_ZPAIR)]
pub mod engine;
#[cfg(CONFIG_ZPAIR)]
pub mod ffi;
#[cfg(CONFIG_ZPAIR)]
pub mod link;
#[cfg(CONFIG_ZPAIR)]
mod softap;
#[cfg(CONFIG_ZPAIR)]
pub mod storage;
#[cfg(CONFIG_ZPAIR)]
pub mod sys;
#[cfg(CONFIG_ZPAIR)]
mod wifi;

#[cfg(CONFIG_ZPAIR)]
pub use engine::{start, AppInfo};
pub use zpair_core;
pub use zpair_mbedtls;
