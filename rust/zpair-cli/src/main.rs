//! `zpair`: the commissioner. See `zpair --help`.

fn main() {
    std::process::exit(zpair_cli::cli::main(std::env::args_os()));
}
