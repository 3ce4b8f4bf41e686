//! A bare-metal image that links every part of zpair-core a device uses, so the linker keeps
//! exactly what a real firmware would. Inputs come from volatile reads so nothing is folded away.
//! It is linked and measured, never run.
#![no_std]
#![no_main]

use core::panic::PanicInfo;
use core::ptr::read_volatile;

mod exercise;

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}

/// Where the "radio" leaves its bytes: a fixed address outside the image's sections, so the
/// input buffer does not count towards the core's static RAM.
const INPUT: usize = 0x2003_0000;

/// The input's address, read through a volatile load of the pointer: the compiler knows neither
/// where the bytes are nor what they hold. (A volatile read of the 512 bytes themselves would be
/// lowered to 512 single-byte loads: about 7 KiB of harness code counted as the core's.)
static INPUT_ADDR: usize = INPUT;

fn input() -> &'static [u8; 512] {
    // SAFETY: the image is only linked and measured, never run; INPUT_ADDR is a valid static,
    // and the address it holds is RAM outside the image's sections that nothing else refers to.
    unsafe { &*(read_volatile(&INPUT_ADDR) as *const [u8; 512]) }
}

#[no_mangle]
pub extern "C" fn zpair_size_reset() -> ! {
    exercise::run(input());
    loop {}
}

#[link_section = ".vector_table"]
#[no_mangle]
#[used]
pub static VECTORS: [unsafe extern "C" fn() -> !; 1] = [reset_trampoline];

unsafe extern "C" fn reset_trampoline() -> ! {
    zpair_size_reset()
}
