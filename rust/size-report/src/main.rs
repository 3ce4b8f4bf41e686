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
const INPUT: *const [u8; 512] = 0x2003_0000 as *const [u8; 512];

fn input() -> [u8; 512] {
    // SAFETY: the image is only linked and measured, never run; a volatile read of plain bytes
    // keeps the compiler from knowing the input.
    unsafe { read_volatile(INPUT) }
}

#[no_mangle]
pub extern "C" fn zpair_size_reset() -> ! {
    let bytes = input();
    exercise::run(&bytes);
    loop {}
}

#[link_section = ".vector_table"]
#[no_mangle]
#[used]
pub static VECTORS: [unsafe extern "C" fn() -> !; 1] = [reset_trampoline];

unsafe extern "C" fn reset_trampoline() -> ! {
    zpair_size_reset()
}
