//! Compiles the C shim against mbedTLS 2.28 from `mbedtls-sys-auto` (feature `bundled`).
//!
//! Without `bundled` nothing is compiled: the surrounding build (Zephyr's CMake) compiles
//! `csrc/zpair_crypto_mbedtls.c` against its own mbedTLS and links the `zpair_*` symbols.

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=csrc/zpair_crypto_mbedtls.c");
    println!("cargo:rerun-if-changed=include/zpair_crypto_mbedtls.h");
    println!("cargo:rerun-if-changed=build.rs");

    if env::var_os("CARGO_FEATURE_BUNDLED").is_none() {
        return;
    }

    // mbedtls-sys-auto has `links = "mbedtls"` and prints `cargo:include=` (the installed
    // headers) and `cargo:config_h=` (the generated configuration the library was built with),
    // which Cargo hands to direct dependents as DEP_MBEDTLS_INCLUDE / DEP_MBEDTLS_CONFIG_H.
    let include = env::var("DEP_MBEDTLS_INCLUDE")
        .expect("DEP_MBEDTLS_INCLUDE not set: is mbedtls-sys-auto a direct dependency?");
    let config_h = env::var("DEP_MBEDTLS_CONFIG_H")
        .expect("DEP_MBEDTLS_CONFIG_H not set: is mbedtls-sys-auto a direct dependency?");

    let mut build = cc::Build::new();
    build
        .file("csrc/zpair_crypto_mbedtls.c")
        .include("include")
        .include(&include)
        // The shim must see the exact configuration the library was compiled with (structure
        // sizes depend on it).
        .define("MBEDTLS_CONFIG_FILE", Some(format!("\"{config_h}\"").as_str()))
        .warnings(true)
        .extra_warnings(true)
        .flag_if_supported("-std=c99")
        .flag_if_supported("-Wshadow")
        .flag_if_supported("-Wconversion")
        .flag_if_supported("-Wno-sign-conversion");
    build.compile("zpair_crypto_mbedtls");
    println!("cargo:include={}", env::current_dir().expect("cwd").join("include").display());
}
