//! Exports the boolean Kconfig options of the Zephyr build as `#[cfg(CONFIG_...)]`.

fn main() {
    zephyr_build::export_kconfig_bool_options();
}
