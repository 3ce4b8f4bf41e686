//! Runs whole handshakes of one construction, so that callgrind can count the device's side.
//!
//! ```text
//! zpair-handshake-cost --list
//! zpair-handshake-cost CONSTRUCTION [ITERATIONS]        (default 5)
//! LD_BIND_NOW=1 valgrind --tool=callgrind --collect-atstart=no \
//!     --toggle-collect='zbdev_sec2_*' zpair-handshake-cost sec2 5
//! ```
//! Prints `CONSTRUCTION ITERATIONS PATTERN`; callgrind's total divided by ITERATIONS is the
//! device's cost of one handshake. Every handshake is checked (both sides agree).

use zpair_bench::handshake::Construction;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--list") {
        for c in Construction::ALL {
            println!("{}\t{}\t{}", c.name(), c.callgrind_pattern(), c.description());
        }
        return;
    }
    let Some(c) = args.first().and_then(|n| Construction::from_name(n)) else {
        eprintln!("usage: zpair-handshake-cost --list | CONSTRUCTION [ITERATIONS]");
        std::process::exit(2);
    };
    let iters: u32 = match args.get(1).map(|s| s.parse()) {
        None => 5,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("ITERATIONS must be a positive integer");
            std::process::exit(2);
        }
    };
    let mut f = c.fixture().unwrap_or_else(|e| {
        eprintln!("{}: {e}", c.name());
        std::process::exit(1)
    });
    let mut spent = std::time::Duration::ZERO;
    for _ in 0..iters {
        match f.run() {
            Ok(d) => spent += d,
            Err(e) => {
                eprintln!("{}: {e}", c.name());
                std::process::exit(1);
            }
        }
    }
    println!("{} {} {} {:.3}ms", c.name(), iters, c.callgrind_pattern(), spent.as_secs_f64() * 1e3 / f64::from(iters));
}
