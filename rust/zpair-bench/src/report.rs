//! Reading the results `tools/perf-report` collects (small tab-separated files) and formatting
//! figures for `docs/performance.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The results directory of one `tools/perf-report` run.
#[derive(Debug, Clone)]
pub struct Results {
    dir: PathBuf,
}

impl Results {
    /// Results in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Results { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The lines of a result file, split at tabs (empty when the file is missing).
    pub fn rows(&self, file: &str) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.dir.join(file))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect()
    }

    /// A `key<TAB>value` file as a map (later keys win).
    pub fn kv(&self, file: &str) -> BTreeMap<String, String> {
        self.rows(file)
            .into_iter()
            .filter(|r| r.len() >= 2)
            .map(|r| (r[0].clone(), r[1..].join("\t")))
            .collect()
    }

    /// Whether a result file exists.
    pub fn has(&self, file: &str) -> bool {
        self.dir.join(file).exists()
    }
}

/// Criterion's mean estimate (nanoseconds): point, lower and upper bound of the 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Point estimate of the mean.
    pub mean: f64,
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

/// Reads `estimates.json` of one criterion benchmark (its `"mean"` object only).
pub fn criterion_mean(json: &str) -> Option<Estimate> {
    let mean = &json[json.find("\"mean\"")?..];
    let end = mean.find("\"median\"").unwrap_or(mean.len());
    let mean = &mean[..end];
    let num = |key: &str| -> Option<f64> {
        let at = mean.find(&format!("\"{key}\":"))? + key.len() + 3;
        let rest = &mean[at..];
        let stop = rest.find([',', '}']).unwrap_or(rest.len());
        rest[..stop].trim().parse().ok()
    };
    Some(Estimate { mean: num("point_estimate")?, lo: num("lower_bound")?, hi: num("upper_bound")? })
}

/// `12345678` → `12.35 M`.
pub fn mega(n: f64) -> String {
    format!("{:.2} M", n / 1e6)
}

/// Nanoseconds → `1.23 ms` / `456 µs`.
pub fn duration_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.0} µs", ns / 1e3)
    }
}

/// Thousands separators: `1661` → `1,661`.
pub fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `met` / `**missed**`.
pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "**missed**"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_criterion_estimates() {
        let j = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":10.5,"upper_bound":12.0},"point_estimate":11.25,"standard_error":0.3},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0},"point_estimate":1.5}}"#;
        assert_eq!(criterion_mean(j), Some(Estimate { mean: 11.25, lo: 10.5, hi: 12.0 }));
        assert_eq!(criterion_mean("{}"), None);
    }

    #[test]
    fn formats() {
        assert_eq!(grouped(1661), "1,661");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000_000), "1,000,000");
        assert_eq!(mega(25_636_828.0), "25.64 M");
        assert_eq!(duration_ns(2_063_000.0), "2.06 ms");
        assert_eq!(duration_ns(798_420.0), "798 µs");
    }

    #[test]
    fn reads_tab_separated_results() {
        let dir = std::env::temp_dir().join(format!("zpair-report-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.tsv"), "# comment\nk\tv\nx\t1\t2\n\n").unwrap();
        let r = Results::new(&dir);
        assert_eq!(r.rows("a.tsv").len(), 2);
        assert_eq!(r.kv("a.tsv").get("x").map(String::as_str), Some("1\t2"));
        assert!(r.rows("missing.tsv").is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
