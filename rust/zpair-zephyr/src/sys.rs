//! Time, randomness, console output and the `log` route into zpair's C log module.

use core::ffi::c_int;
use core::fmt::{self, Write};

use zpair_mbedtls::{CEntropy, MbedTls};

use crate::ffi;

/// Milliseconds since boot (`k_uptime_get`): the `now_ms` of every zpair-core call.
pub fn now_ms() -> u64 {
    // SAFETY: plain call into the shim; no arguments.
    let t = unsafe { ffi::zpair_uptime_ms() };
    u64::try_from(t).unwrap_or(0)
}

/// The hardware cycle counter (`k_cycle_get_32`).
pub fn cycles() -> u32 {
    // SAFETY: plain call into the shim; no arguments.
    unsafe { ffi::zpair_cycles() }
}

/// The frequency of [`cycles`] in Hz.
pub fn cycles_per_sec() -> u32 {
    // SAFETY: plain call into the shim; no arguments.
    unsafe { ffi::zpair_cycles_per_sec() }
}

/// Sleeps (`k_msleep`).
pub fn sleep_ms(ms: u32) {
    // SAFETY: plain call into the shim.
    unsafe { ffi::zpair_sleep_ms(i32::try_from(ms).unwrap_or(i32::MAX)) }
}

/// Warm reboot (needs `CONFIG_REBOOT`); returns only if the build cannot reboot.
pub fn reboot() -> i32 {
    // SAFETY: plain call into the shim.
    unsafe { ffi::zpair_reboot() }
}

/// Waits until deferred log messages are out (tests that reboot or end).
pub fn log_flush() {
    // SAFETY: plain call into the shim.
    unsafe { ffi::zpair_log_flush() }
}

/// Zephyr's CSPRNG (`sys_csrand_get`) as a C random function for [`CEntropy`].
unsafe extern "C" fn csrand(dst: *mut core::ffi::c_void, len: usize) -> c_int {
    // SAFETY: the caller (CEntropy) passes a writable buffer of `len` bytes; the shim writes
    // only within it.
    unsafe { ffi::zpair_random(dst, len) }
}

/// The entropy source over Zephyr's CSPRNG.
pub fn entropy() -> CEntropy {
    // SAFETY: `csrand` fills exactly `dst[0..len)` with sys_csrand_get() output or returns
    // non-zero; sys_csrand_get is callable from any thread.
    unsafe { CEntropy::new(csrand) }
}

/// The crypto provider of a Zephyr image: mbedTLS (Zephyr's module, through the C shim)
/// with Zephyr's CSPRNG.
pub type ZCrypto = MbedTls<CEntropy>;

/// A fresh [`ZCrypto`] (it holds no state but its entropy source).
pub fn crypto() -> ZCrypto {
    MbedTls::new(entropy())
}

/// Fills `buf` from the CSPRNG.
pub fn random(buf: &mut [u8]) -> Result<(), i32> {
    // SAFETY: `buf` is writable for `buf.len()` bytes.
    let rc = unsafe { ffi::zpair_random(buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(rc)
    }
}

/// A fixed-capacity line buffer for `core::fmt` (no allocation). Output beyond the capacity
/// is cut off.
pub struct Line<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Line<N> {
    /// An empty line.
    pub const fn new() -> Self {
        Line { buf: [0; N], len: 0 }
    }
    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
    /// Empties the line.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl<const N: usize> Default for Line<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Write for Line<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = N.saturating_sub(self.len);
        let n = s.len().min(room);
        if let (Some(dst), Some(src)) = (self.buf.get_mut(self.len..self.len + n), s.as_bytes().get(..n)) {
            dst.copy_from_slice(src);
            self.len += n;
        }
        Ok(())
    }
}

/// Prints one line on the console (`printk`), formatted without allocation (up to 200 bytes).
pub fn print_fmt(args: fmt::Arguments<'_>) {
    let mut line = Line::<200>::new();
    let _ = line.write_fmt(args);
    let b = line.as_bytes();
    // SAFETY: `b` is readable for `b.len()` bytes for the duration of the call.
    unsafe { ffi::zpair_print(b.as_ptr().cast(), b.len()) }
}

/// `println!`-style console output through `printk` (tests print their PASS lines with it).
#[macro_export]
macro_rules! zprintln {
    ($($arg:tt)*) => { $crate::sys::print_fmt(format_args!($($arg)*)) };
}

// ---------------------------------------------------------------------------------------------
// log -> zpair's C log module
// ---------------------------------------------------------------------------------------------

struct ZpairLogger;

static LOGGER: ZpairLogger = ZpairLogger;

impl log::Log for ZpairLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            log::Level::Error => ffi::ZPAIR_LOG_ERR,
            log::Level::Warn => ffi::ZPAIR_LOG_WRN,
            log::Level::Info => ffi::ZPAIR_LOG_INF,
            log::Level::Debug | log::Level::Trace => ffi::ZPAIR_LOG_DBG,
        };
        let mut line = Line::<159>::new();
        let target = record.target();
        if !target.starts_with("zpair") {
            let _ = write!(line, "[{target}] ");
        }
        let _ = line.write_fmt(*record.args());
        let b = line.as_bytes();
        // SAFETY: `b` is readable for `b.len()` bytes for the duration of the call (the C side
        // copies it).
        unsafe { ffi::zpair_log(level, b.as_ptr().cast(), b.len()) }
    }

    fn flush(&self) {}
}

/// The `log` level matching `CONFIG_ZPAIR_LOG_LEVEL` (0 off .. 4 debug).
fn max_level() -> log::LevelFilter {
    match zephyr::kconfig::CONFIG_ZPAIR_LOG_LEVEL {
        0 => log::LevelFilter::Off,
        1 => log::LevelFilter::Error,
        2 => log::LevelFilter::Warn,
        3 => log::LevelFilter::Info,
        _ => log::LevelFilter::Debug,
    }
}

/// Routes the `log` crate into zpair's C log module (`LOG_MODULE_REGISTER(zpair,
/// CONFIG_ZPAIR_LOG_LEVEL)`): records of zpair's crates as they are, others prefixed with
/// their target. Call once, before other threads log (e.g. first thing in `rust_main`);
/// [`crate::start`] calls it. Does nothing if a logger is already installed (e.g.
/// `zephyr::set_logger()`), then zpair's records go there.
pub fn init_logging() {
    static DONE: zephyr::sync::atomic::AtomicBool = zephyr::sync::atomic::AtomicBool::new(false);
    if DONE.swap(true, core::sync::atomic::Ordering::AcqRel) {
        return;
    }
    // SAFETY: `set_logger_racy` must not run concurrently with itself or with logging from
    // another thread; the DONE flag makes this the only call in zpair, and the documented
    // contract is to call it before other threads log.
    if unsafe { log::set_logger_racy(&LOGGER) }.is_ok() {
        // SAFETY: as above, no concurrent logging yet.
        unsafe { log::set_max_level_racy(max_level()) };
    }
}
