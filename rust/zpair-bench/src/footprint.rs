//! Footprint analysis helpers: attributing machine code to source files from the DWARF line
//! table (`llvm-dwarfdump --debug-line` text), and naming the component a file belongs to.

use std::collections::HashMap;

/// Bytes of machine code per source file, from the text of `llvm-dwarfdump --debug-line`.
///
/// Every row starts a range that ends at the next row of the same sequence (or at its
/// `end_sequence` row); the range counts for the row's file. A sequence that starts at
/// address 0 is code the linker dropped (lld writes 0 for it) and is ignored. Relative file
/// paths (LTO merges units whose directories are relative to their own crate) are resolved
/// against `roots`: the first root under which the file exists; the crate roots named in the
/// dump itself are tried too.
pub fn attribute(dump: &str, roots: &[String]) -> HashMap<String, u64> {
    let mut roots: Vec<String> = roots.to_vec();
    for line in dump.lines() {
        if let Some(rest) = line.trim().strip_prefix("include_directories[") {
            if let Some((_, dir)) = split_index_value(rest) {
                if dir.starts_with('/') && std::path::Path::new(&dir).join("Cargo.toml").exists() && !roots.contains(&dir) {
                    roots.push(dir);
                }
            }
        }
    }
    let resolve = |path: String| -> String {
        if path.starts_with('/') {
            return path;
        }
        roots
            .iter()
            .map(|r| format!("{r}/{path}"))
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or(path)
    };
    let mut out: HashMap<String, u64> = HashMap::new();
    let mut dirs: HashMap<u64, String> = HashMap::new();
    let mut files: HashMap<u64, String> = HashMap::new();
    let mut pending_file: Option<(u64, String)> = None;
    let mut seq: Vec<(u64, u64)> = vec![]; // (address, file index) of the current sequence
    for line in dump.lines() {
        let t = line.trim();
        if t.starts_with("debug_line[") {
            dirs.clear();
            files.clear();
            seq.clear();
            continue;
        }
        if let Some(rest) = t.strip_prefix("include_directories[") {
            if let Some((idx, path)) = split_index_value(rest) {
                dirs.insert(idx, path);
            }
            continue;
        }
        if let Some(rest) = t.strip_prefix("file_names[") {
            if let Some((idx, _)) = rest.split_once(']') {
                if let Ok(i) = idx.trim().parse() {
                    pending_file = Some((i, String::new()));
                }
            }
            continue;
        }
        if let Some(rest) = t.strip_prefix("name:") {
            if let Some((_, name)) = &mut pending_file {
                *name = unquote(rest);
            }
            continue;
        }
        if let Some(rest) = t.strip_prefix("dir_index:") {
            if let (Some((i, name)), Ok(d)) = (pending_file.take(), rest.trim().parse::<u64>()) {
                let path = match dirs.get(&d) {
                    Some(dir) if !name.starts_with('/') => format!("{dir}/{name}"),
                    _ => name,
                };
                files.insert(i, resolve(path));
            }
            continue;
        }
        if !t.starts_with("0x") {
            continue;
        }
        let cols: Vec<&str> = t.split_whitespace().collect();
        let (Some(addr), Some(file)) = (cols.first(), cols.get(3)) else { continue };
        let Ok(addr) = u64::from_str_radix(addr.trim_start_matches("0x"), 16) else { continue };
        let Ok(file) = file.parse::<u64>() else { continue };
        seq.push((addr, file));
        if t.contains("end_sequence") {
            if seq.first().is_some_and(|&(a, _)| a != 0) {
                for w in seq.windows(2) {
                    let ((a0, f0), (a1, _)) = (w[0], w[1]);
                    if a1 > a0 {
                        let name = files.get(&f0).cloned().unwrap_or_else(|| format!("<file {f0}>"));
                        *out.entry(name).or_default() += a1 - a0;
                    }
                }
            }
            seq.clear();
        }
    }
    out
}

fn split_index_value(rest: &str) -> Option<(u64, String)> {
    let (idx, value) = rest.split_once(']')?;
    let value = value.trim().strip_prefix('=')?;
    Some((idx.trim().parse().ok()?, unquote(value)))
}

fn unquote(s: &str) -> String {
    s.trim().trim_matches('"').to_string()
}

/// The component of a source path: `zpair-core::<module>`, another zpair crate, a
/// dependency crate (`minicbor`, `heapless`, ...), or the part of `core` (`core::fmt`, ...).
pub fn component_of(path: &str) -> String {
    if let Some(i) = path.find("/zpair-core/src/") {
        let rest = &path[i + "/zpair-core/src/".len()..];
        let module = rest.split('/').next().unwrap_or(rest).trim_end_matches(".rs");
        return format!("zpair-core::{module}");
    }
    for krate in ["zpair-crypto", "zpair-mbedtls", "size-report", "zpair-bench"] {
        if path.contains(&format!("/{krate}/")) {
            return krate.to_string();
        }
    }
    if let Some(i) = path.find("/library/") {
        let rest = &path[i + "/library/".len()..];
        let mut parts = rest.split('/');
        let krate = parts.next().unwrap_or("std");
        let _src = parts.next();
        let module = parts.next().unwrap_or("").trim_end_matches(".rs");
        return if module.is_empty() { krate.to_string() } else { format!("{krate}::{module}") };
    }
    if path.contains("compiler_builtins") || path.contains("compiler-builtins") {
        return "compiler_builtins".into();
    }
    if let Some(i) = path.find("/registry/src/") {
        let rest = &path[i + "/registry/src/".len()..];
        let krate_ver = rest.split('/').nth(1).unwrap_or(rest);
        // name-1.2.3 -> name
        let name = match krate_ver.rfind('-') {
            Some(j) if krate_ver[j + 1..].starts_with(|c: char| c.is_ascii_digit()) => &krate_ver[..j],
            _ => krate_ver,
        };
        return name.to_string();
    }
    "other".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = r#"
debug_line[0x00000000]
include_directories[  0] = "/work/x"
include_directories[  1] = "/work/wt/rust/zpair-core"
include_directories[  2] = "/usr/lib/rustlib/src/rust/library/core/src/fmt"
file_names[  1]:
           name: "src/session.rs"
      dir_index: 1
file_names[  2]:
           name: "mod.rs"
      dir_index: 2
Address            Line   Column File   ISA Discriminator Flags
------------------ ------ ------ ------ --- ------------- -------------
0x0000000000000010     10      0      1   0             0  is_stmt
0x0000000000000018     11      0      2   0             0  is_stmt
0x0000000000000030     12      0      1   0             0  is_stmt
0x0000000000000034     12      0      1   0             0  is_stmt end_sequence
0x0000000000000000     12      0      1   0             0  is_stmt
0x0000000000000008     12      0      1   0             0  is_stmt end_sequence
"#;

    #[test]
    fn attributes_ranges_to_files() {
        let a = attribute(DUMP, &[]);
        assert_eq!(a.get("/work/wt/rust/zpair-core/src/session.rs"), Some(&(8 + 4)));
        assert_eq!(a.get("/usr/lib/rustlib/src/rust/library/core/src/fmt/mod.rs"), Some(&0x18));
        assert_eq!(a.len(), 2, "address-0 sequences are dropped code");
    }

    #[test]
    fn components() {
        assert_eq!(component_of("/w/rust/zpair-core/src/msg/cbor.rs"), "zpair-core::msg");
        assert_eq!(component_of("/w/rust/zpair-core/src/machine.rs"), "zpair-core::machine");
        assert_eq!(component_of("/usr/lib/rustlib/src/rust/library/core/src/fmt/mod.rs"), "core::fmt");
        assert_eq!(
            component_of("/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/minicbor-2.3.1/src/decode.rs"),
            "minicbor"
        );
        assert_eq!(component_of("/w/rust/size-report/src/exercise.rs"), "size-report");
    }
}
