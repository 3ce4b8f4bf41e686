//! A bare-metal image that links every part of zpair-core a device uses, so the linker keeps
//! exactly what a real firmware would. Inputs come from volatile reads so nothing is folded away.
//! It is linked and measured, never run.
#![no_std]
#![no_main]

use core::panic::PanicInfo;
use core::ptr::{addr_of, read_volatile};

mod exercise;

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    loop {}
}

/// Bytes the "radio" delivered: read volatile so the compiler cannot know them.
static mut INPUT: [u8; 512] = [0; 512];

fn input() -> [u8; 512] {
    // SAFETY: single-threaded image that is only linked, never run concurrently; a volatile read
    // of a static array of plain bytes.
    unsafe { read_volatile(addr_of!(INPUT)) }
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
