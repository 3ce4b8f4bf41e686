//! Where the flash goes: attributes every byte of machine code in an ELF to the source file
//! it was generated from, inlined code included, from the DWARF line table.
//!
//! ```text
//! llvm-dwarfdump --debug-line IMAGE.elf | zpair-size-attrib [--top N] [--root CRATE_DIR]...
//! ```
//!
//! Each row of the line table starts a range that ends at the next row of the same sequence;
//! the range's bytes count for the row's file. Output: `bytes<TAB>component<TAB>file` lines,
//! largest first, where the component is the crate (and, for zpair-core, the module). Needs an
//! image built with line tables (`CARGO_PROFILE_RELEASE_DEBUG=line-tables-only`), which does not
//! change the code much (`tools/perf-report` reports both sizes).

use std::collections::HashMap;
use std::io::Read;

use zpair_bench::footprint::{attribute, component_of};

fn main() {
    let mut top = 40usize;
    let mut roots = vec![];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--top" => top = args.next().and_then(|v| v.parse().ok()).unwrap_or(top),
            "--root" => roots.extend(args.next()),
            _ => {}
        }
    }
    let mut text = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut text) {
        eprintln!("zpair-size-attrib: {e}");
        std::process::exit(1);
    }
    let by_file = attribute(&text, &roots);
    let mut by_component: HashMap<String, u64> = HashMap::new();
    for (file, bytes) in &by_file {
        *by_component.entry(component_of(file)).or_default() += bytes;
    }
    let mut comps: Vec<_> = by_component.into_iter().collect();
    comps.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (c, b) in &comps {
        println!("component\t{b}\t{c}");
    }
    let mut files: Vec<_> = by_file.into_iter().collect();
    files.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (f, b) in files.into_iter().take(top) {
        println!("file\t{b}\t{}\t{f}", component_of(&f));
    }
}
