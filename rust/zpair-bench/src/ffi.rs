//! The C baselines (`csrc/baselines.h`), compiled by `build.rs` against mbedTLS 2.28.
#![allow(missing_docs)]

use core::ffi::c_int;

pub const SEC2_KEY_LEN: usize = 384;
pub const SEC2_SALT_LEN: usize = 16;
pub const SEC2_PROOF_LEN: usize = 64;
pub const SEC2_NONCE_LEN: usize = 12;
pub const SEC1_KEY_LEN: usize = 32;
pub const SEC1_RAND_LEN: usize = 16;
pub const P256_POINT_LEN: usize = 65;

#[repr(C)]
pub struct Sec2Device {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct Sec2Client {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct Sec1Device {
    _opaque: [u8; 0],
}
#[repr(C)]
pub struct Sec1Client {
    _opaque: [u8; 0],
}

extern "C" {
    pub fn zb_sec2_make_verifier(
        user: *const u8,
        user_len: usize,
        pass: *const u8,
        pass_len: usize,
        salt: *mut u8,
        verifier: *mut u8,
    ) -> c_int;
    pub fn zb_sec2_device_new(salt: *const u8, verifier: *const u8) -> *mut Sec2Device;
    pub fn zb_sec2_device_free(d: *mut Sec2Device);
    pub fn zbdev_sec2_cmd0(
        d: *mut Sec2Device,
        user: *const u8,
        user_len: usize,
        a_pub: *const u8,
        b_pub: *mut u8,
        salt: *mut u8,
    ) -> c_int;
    pub fn zbdev_sec2_cmd1(d: *mut Sec2Device, m1: *const u8, m2: *mut u8, nonce: *mut u8) -> c_int;
    pub fn zb_sec2_client_new(
        user: *const u8,
        user_len: usize,
        pass: *const u8,
        pass_len: usize,
    ) -> *mut Sec2Client;
    pub fn zb_sec2_client_free(c: *mut Sec2Client);
    pub fn zb_sec2_client_start(c: *mut Sec2Client, a_pub: *mut u8) -> c_int;
    pub fn zb_sec2_client_finish(
        c: *mut Sec2Client,
        salt: *const u8,
        b_pub: *const u8,
        m1: *mut u8,
    ) -> c_int;
    pub fn zb_sec2_client_verify(c: *mut Sec2Client, m2: *const u8) -> c_int;

    pub fn zb_sec1_device_new() -> *mut Sec1Device;
    pub fn zb_sec1_device_free(d: *mut Sec1Device);
    pub fn zbdev_sec1_cmd0(
        d: *mut Sec1Device,
        client_pub: *const u8,
        pop: *const u8,
        pop_len: usize,
        dev_pub: *mut u8,
        dev_rand: *mut u8,
    ) -> c_int;
    pub fn zbdev_sec1_cmd1(d: *mut Sec1Device, client_verify: *const u8, device_verify: *mut u8)
        -> c_int;
    pub fn zb_sec1_client_new() -> *mut Sec1Client;
    pub fn zb_sec1_client_free(c: *mut Sec1Client);
    pub fn zb_sec1_client_start(c: *mut Sec1Client, client_pub: *mut u8) -> c_int;
    pub fn zb_sec1_client_finish(
        c: *mut Sec1Client,
        dev_pub: *const u8,
        dev_rand: *const u8,
        pop: *const u8,
        pop_len: usize,
        client_verify: *mut u8,
    ) -> c_int;
    pub fn zb_sec1_client_verify(c: *mut Sec1Client, device_verify: *const u8) -> c_int;

    pub fn zb_p256_keypair(private: *mut u8, public: *mut u8) -> c_int;
    pub fn zbdev_p256_ecdh(peer_pub: *const u8, public: *mut u8, shared: *mut u8) -> c_int;
    pub fn zb_p256_shared(private: *const u8, peer_pub: *const u8, shared: *mut u8) -> c_int;

    pub fn zbdev_p256mul_fresh_g(k: *const u8, out: *mut u8) -> c_int;
    pub fn zb_p256mul_kept_warm() -> c_int;
    pub fn zbdev_p256mul_kept_g(k: *const u8, out: *mut u8) -> c_int;
    pub fn zbdev_p256mul_var(k: *const u8, p: *const u8, out: *mut u8) -> c_int;
}
