//! Compiles the C baselines (`csrc/baselines.c`: ESP-IDF security 1 and 2, P-256 ECDH) against
//! the headers and configuration of the mbedTLS 2.28 that `mbedtls-sys-auto` built, so that
//! they link against the very library zpair's provider uses.

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=csrc/baselines.c");
    println!("cargo:rerun-if-changed=csrc/baselines.h");
    println!("cargo:rerun-if-changed=build.rs");
    let include = env::var("DEP_MBEDTLS_INCLUDE").expect("DEP_MBEDTLS_INCLUDE (mbedtls-sys-auto)");
    let config_h = env::var("DEP_MBEDTLS_CONFIG_H").expect("DEP_MBEDTLS_CONFIG_H (mbedtls-sys-auto)");
    cc::Build::new()
        .file("csrc/baselines.c")
        .include("csrc")
        .include(&include)
        .define("MBEDTLS_CONFIG_FILE", Some(format!("\"{config_h}\"").as_str()))
        .define("_GNU_SOURCE", None)
        .warnings(true)
        .extra_warnings(true)
        .flag_if_supported("-std=c99")
        .compile("zpair_bench_baselines");
}
