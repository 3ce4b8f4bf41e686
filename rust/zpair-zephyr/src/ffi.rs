//! The flat C interface of `shim/include/zpair/shim.h`, declared by hand (the header is small,
//! stable across Kconfigs and has no inline functions, so no bindgen).
//!
//! Every function is implemented by the module's C library `zpair` in every configuration; the
//! backends a build does not enable answer `-ENOTSUP`.

#![allow(missing_docs)]

use core::ffi::{c_char, c_int, c_void};

pub const ZPAIR_MODE_SOFTAP: u8 = 0;
pub const ZPAIR_MODE_BLE: u8 = 1;
pub const ZPAIR_MODE_WIRED: u8 = 2;
pub const ZPAIR_MODE_CELLULAR: u8 = 3;

pub const ZPAIR_LOG_ERR: c_int = 1;
pub const ZPAIR_LOG_WRN: c_int = 2;
pub const ZPAIR_LOG_INF: c_int = 3;
pub const ZPAIR_LOG_DBG: c_int = 4;

pub const ZPAIR_SLOT_A: u8 = 0;
pub const ZPAIR_SLOT_B: u8 = 1;
pub const ZPAIR_SLOT_FACTORY: u8 = 2;

pub const ZPAIR_IN_PACKET: u8 = 1;
pub const ZPAIR_IN_CONNECTED: u8 = 2;
pub const ZPAIR_IN_DISCONNECTED: u8 = 3;
pub const ZPAIR_IN_NET: u8 = 4;
pub const ZPAIR_IN_COMMAND: u8 = 5;
pub const ZPAIR_IN_SCAN: u8 = 6;
pub const ZPAIR_IN_BUTTON: u8 = 7;

pub const ZPAIR_LED_OFF: u8 = 0;
pub const ZPAIR_LED_WINDOW: u8 = 1;
pub const ZPAIR_LED_BUSY: u8 = 2;
pub const ZPAIR_LED_ON: u8 = 3;

pub const ZPAIR_NET_UP: i32 = 1;
pub const ZPAIR_NET_DOWN: i32 = 0;

pub const ZPAIR_CMD_STATUS: i32 = 1;
pub const ZPAIR_CMD_START: i32 = 2;
pub const ZPAIR_CMD_STOP: i32 = 3;
pub const ZPAIR_CMD_RESET_NETWORK: i32 = 4;
pub const ZPAIR_CMD_RESET_FACTORY: i32 = 5;
pub const ZPAIR_CMD_PAYLOAD: i32 = 6;
pub const ZPAIR_CMD_FACTORY: i32 = 7;

/// Zephyr errno values the glue distinguishes (same numbers on every Zephyr libc).
pub mod errno {
    pub const ENOENT: i32 = 2;
    pub const EAGAIN: i32 = 11;
    pub const EACCES: i32 = 13;
    pub const EINVAL: i32 = 22;
    pub const ENOSPC: i32 = 28;
    pub const ENODATA: i32 = 61;
    pub const ENOTSUP: i32 = 134;
    pub const EALREADY: i32 = 120;
    pub const EINPROGRESS: i32 = 119;
    pub const ENOBUFS: i32 = 105;
    pub const ENETUNREACH: i32 = 114;
    pub const ENETDOWN: i32 = 115;
    pub const ENOTCONN: i32 = 128;
}

/// `ZPAIR_NET_ERR_BASE`: a `ZPAIR_IN_NET` arg of `-(ZPAIR_NET_ERR_BASE + code)` is a network
/// failure with the PairError wire code `code` (`ZPAIR_NET_ERROR()`).
pub const ZPAIR_NET_ERR_BASE: i32 = 0x10000;

/// `struct zpair_input`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct Input {
    pub kind: u8,
    pub mode: u8,
    pub len: u16,
    pub conn: u32,
    pub arg: i32,
    pub data: *const u8,
    pub ctx: *mut c_void,
    pub token: *mut c_void,
}

impl Input {
    pub const fn empty() -> Self {
        Input {
            kind: 0,
            mode: 0,
            len: 0,
            conn: 0,
            arg: 0,
            data: core::ptr::null(),
            ctx: core::ptr::null_mut(),
            token: core::ptr::null_mut(),
        }
    }
}

/// `struct zpair_wifi_params`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WifiParams {
    pub ssid: *const u8,
    pub ssid_len: u8,
    pub security: u8,
    pub psk: *const u8,
    pub psk_len: u8,
    pub bssid: *const u8,
    pub channel: u8,
    pub hidden: u8,
}

/// `struct zpair_scan_result`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ScanResult {
    pub ssid: [u8; 32],
    pub ssid_len: u8,
    pub security: u8,
    pub channel: u8,
    pub rssi: i8,
    pub bssid: [u8; 6],
}

extern "C" {
    pub fn zpair_modes_enabled() -> u8;

    pub fn zpair_log(level: c_int, msg: *const c_char, len: usize);
    pub fn zpair_print(msg: *const c_char, len: usize);
    pub fn zpair_log_flush();

    pub fn zpair_uptime_ms() -> i64;
    pub fn zpair_cycles() -> u32;
    pub fn zpair_cycles_per_sec() -> u32;
    pub fn zpair_random(dst: *mut c_void, len: usize) -> c_int;
    pub fn zpair_sleep_ms(ms: i32);
    pub fn zpair_reboot() -> c_int;
    pub fn zpair_thread_start(entry: Option<extern "C" fn(*mut c_void)>, arg: *mut c_void)
        -> c_int;
    pub fn zpair_thread_stack_unused(unused: *mut usize, size: *mut usize) -> c_int;

    pub fn zpair_storage_init() -> c_int;
    pub fn zpair_storage_read(slot: u8, buf: *mut u8, cap: usize, len: *mut usize) -> c_int;
    pub fn zpair_storage_write(slot: u8, data: *const u8, len: usize) -> c_int;
    pub fn zpair_storage_erase(slot: u8) -> c_int;

    pub fn zpair_input_wait(timeout_ms: i32, input: *mut Input) -> c_int;
    pub fn zpair_input_release(input: *const Input);
    pub fn zpair_cmd_print(ctx: *mut c_void, msg: *const c_char, len: usize);
    pub fn zpair_cmd_done(ctx: *mut c_void, rc: c_int);

    pub fn zpair_net_connect(mode: u8, wifi: *const WifiParams, ip4: *mut u32) -> c_int;
    pub fn zpair_net_status(mode: u8, ip4: *mut u32) -> c_int;
    pub fn zpair_net_disconnect(mode: u8) -> c_int;
    pub fn zpair_wifi_scan() -> c_int;

    pub fn zpair_wired_open() -> c_int;
    pub fn zpair_wired_close() -> c_int;
    pub fn zpair_wired_port() -> u16;
    pub fn zpair_wired_announce(datagram: *const u8, len: usize) -> c_int;
    pub fn zpair_wired_send(conn: u32, datagram: *const u8, len: usize) -> c_int;
    pub fn zpair_wired_forget(conn: u32);

    pub fn zpair_softap_start(ssid: *const u8, ssid_len: usize) -> c_int;
    pub fn zpair_softap_stop() -> c_int;
    pub fn zpair_softap_send(conn: u32, data: *const u8, len: usize) -> c_int;
    pub fn zpair_softap_close(conn: u32) -> c_int;

    pub fn zpair_ble_start(discriminator: u16, state: u8, product: u32, version: u8) -> c_int;
    pub fn zpair_ble_stop() -> c_int;
    pub fn zpair_ble_notify(conn: u32, data: *const u8, len: usize) -> c_int;
    pub fn zpair_ble_mtu(conn: u32) -> u16;
    pub fn zpair_ble_disconnect(conn: u32) -> c_int;

    pub fn zpair_indicate(pattern: u8);

    pub fn zpair_cellular_show_payload(payload: *const c_char, len: usize) -> c_int;

    #[allow(clippy::too_many_arguments)]
    pub fn zpair_cloud_post(
        host: *const c_char,
        host_len: usize,
        port: u16,
        path: *const c_char,
        path_len: usize,
        body: *const u8,
        body_len: usize,
        resp: *mut u8,
        cap: usize,
        resp_len: *mut usize,
        status: *mut u16,
    ) -> c_int;
}
