//! `zpair demo`: the cloud, four simulated devices (one per mode) and four pairings, on
//! loopback, with a timeline; exits 0 only if the cloud's database agrees that all four are
//! activated.

use crate::error::CliError;

/// `zpair demo` options.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Keep the temporary directory (cloud data, air, factory files) and print its path.
    #[arg(long)]
    pub keep: bool,
}

/// Runs the demo.
pub fn run(_args: &DemoArgs, _json: bool) -> Result<(), CliError> {
    Err(CliError::new(crate::error::ExitClass::Internal, "unavailable", "the demo needs the simulated device (zpair-sim)", ""))
}
