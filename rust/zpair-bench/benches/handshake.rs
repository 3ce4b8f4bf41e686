//! Device-side handshake time per construction (criterion). Only the device's steps are timed
//! (`iter_custom`); the peer's side runs between them untimed.
//!
//! `ZPAIR_BENCH_QUICK=1` (what `tools/perf-report` uses without `--full`): 10 samples, 1.5 s,
//! and the scalar-multiplication micro-benchmarks are left to callgrind.

use criterion::{criterion_group, criterion_main, Criterion};
use std::time::Duration;
use zpair_bench::handshake::Construction;

fn handshakes(c: &mut Criterion) {
    let mut g = c.benchmark_group("device-handshake");
    let quick = std::env::var_os("ZPAIR_BENCH_QUICK").is_some();
    if quick {
        g.sample_size(10).measurement_time(Duration::from_millis(1500)).warm_up_time(Duration::from_millis(300));
    } else {
        g.sample_size(30).measurement_time(Duration::from_secs(8));
    }
    for construction in Construction::ALL {
        let micro = matches!(
            construction,
            Construction::MulFreshG | Construction::MulKeptG | Construction::MulVar
        );
        if quick && micro {
            continue;
        }
        let mut fixture = construction.fixture().expect("fixture");
        g.bench_function(construction.name(), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += fixture.run().expect("handshake");
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, handshakes);
criterion_main!(benches);
