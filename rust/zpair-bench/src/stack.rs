//! Stack high-water marks.
//!
//! * [`measure`] (host, dynamic): paints the stack below the caller with a pattern, runs the
//!   closure, and finds the deepest byte it changed — the classic "stack painting" of embedded
//!   systems, applied to each call into the device engine.
//! * [`static_worst_case`] (embedded image, static): per-function frame sizes from
//!   `llvm-readelf --stack-sizes` (an image built with `-Z emit-stack-sizes`) and the call graph
//!   from `llvm-objdump -d` (`bl`/`b.w` to symbols), summed along the deepest call chain.

use std::collections::{HashMap, HashSet};

/// How deep the painted region reaches below the caller.
pub const PAINT_BYTES: usize = 128 * 1024;
const PATTERN: u8 = 0xA5;

/// Paints `PAINT_BYTES` below the caller's frame and returns the painted range `[lo, hi)`.
#[inline(never)]
fn paint() -> (usize, usize) {
    let mut region = [core::mem::MaybeUninit::<u8>::uninit(); PAINT_BYTES];
    for b in region.iter_mut() {
        // SAFETY: writing a byte into our own local array.
        unsafe { core::ptr::write_volatile(b.as_mut_ptr(), PATTERN) };
    }
    let lo = region.as_ptr() as usize;
    core::hint::black_box(&region);
    (lo, lo + PAINT_BYTES)
}

/// Finds the lowest address in `[lo, hi)` whose byte is no longer the pattern.
#[inline(never)]
fn lowest_touched(lo: usize, hi: usize) -> Option<usize> {
    (lo..hi).find(|&a| {
        // SAFETY: `[lo, hi)` is this thread's stack, below the current frame: mapped, readable
        // memory that `paint` wrote and `f` may have used since. It is read as plain bytes
        // with volatile loads and never turned into a reference. (Strictly, reading a dead
        // frame is outside Rust's abstract machine; it is what stack painting is, and the
        // measurement runs only in this benchmark tool, on its own thread.)
        unsafe { core::ptr::read_volatile(a as *const u8) != PATTERN }
    })
}

/// Runs `f` and returns its result and the stack it used, in bytes, measured from this
/// function's frame (a few dozen bytes of `measure`'s own frame are included). `None` when
/// `f` used more than [`PAINT_BYTES`] (or none at all).
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Option<usize>) {
    let (lo, hi) = paint();
    let r = core::hint::black_box(f());
    let used = lowest_touched(lo, hi).map(|a| hi - a);
    (r, used)
}

/// A chain's total and its frames, outermost first.
type Chain = (u64, Vec<(String, u64)>);

/// The result of [`static_worst_case`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Bytes: the sum of the frames along the deepest chain.
    pub bytes: u64,
    /// The chain, outermost first, with each function's frame.
    pub chain: Vec<(String, u64)>,
    /// Functions reached whose frame size is unknown (counted as 0).
    pub unknown_frames: Vec<String>,
    /// Functions reached that make indirect calls (not followed).
    pub indirect_callers: Vec<String>,
    /// Recursion found (a call back into the current chain; not followed).
    pub recursive: Vec<String>,
}

/// Parses `llvm-readelf --stack-sizes` (GNU style) text: `Size Functions` rows.
pub fn parse_stack_sizes(text: &str) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let mut cols = line.split_whitespace();
        let (Some(size), Some(name)) = (cols.next(), cols.next()) else { continue };
        if let Ok(n) = size.parse::<u64>() {
            let e = out.entry(name.to_string()).or_insert(0);
            *e = (*e).max(n);
        }
    }
    out
}

/// Parses `llvm-objdump -d --no-show-raw-insn` text into the direct callees of each function
/// and the set of functions that make indirect calls.
pub fn parse_calls(text: &str) -> (HashMap<String, Vec<String>>, HashSet<String>) {
    let mut calls: HashMap<String, Vec<String>> = HashMap::new();
    let mut indirect = HashSet::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let t = line.trim_end();
        // Function header: "00001234 <name>:"
        if let Some(rest) = t.strip_suffix(">:") {
            if let Some(i) = rest.find(" <") {
                let name = &rest[i + 2..];
                // ARM mapping symbols ($t, $d) mark code/data inside the current function.
                if rest[..i].chars().all(|c| c.is_ascii_hexdigit()) && !name.starts_with('$') {
                    let name = name.to_string();
                    calls.entry(name.clone()).or_default();
                    current = Some(name);
                    continue;
                }
            }
        }
        let Some(cur) = current.as_ref() else { continue };
        let mut cols = t.split_whitespace();
        let _addr = cols.next();
        let Some(op) = cols.next() else { continue };
        let op = op.trim_end_matches(".w").trim_end_matches(".n");
        let is_call = matches!(op, "bl" | "blx");
        let is_branch = matches!(op, "b" | "beq" | "bne" | "jal" | "j" | "call" | "tail");
        if !(is_call || is_branch) {
            continue;
        }
        match (t.find('<'), t.rfind('>')) {
            (Some(a), Some(b)) if b > a => {
                let target = &t[a + 1..b];
                // A branch inside the function ("<name+0x12>") is not a call.
                let base = target.split('+').next().unwrap_or(target);
                if base != cur.as_str() && !target.contains('+') {
                    let v = calls.entry(cur.clone()).or_default();
                    if !v.iter().any(|x| x == base) {
                        v.push(base.to_string());
                    }
                }
            }
            _ if op == "blx" => {
                indirect.insert(cur.clone());
            }
            _ => {}
        }
    }
    (calls, indirect)
}

/// The deepest chain of frames from `root`.
pub fn static_worst_case(
    root: &str,
    frames: &HashMap<String, u64>,
    calls: &HashMap<String, Vec<String>>,
    indirect: &HashSet<String>,
) -> ChainReport {
    let mut report = ChainReport {
        bytes: 0,
        chain: vec![],
        unknown_frames: vec![],
        indirect_callers: vec![],
        recursive: vec![],
    };
    let mut memo: HashMap<String, Chain> = HashMap::new();
    let mut on_path = vec![];
    let (bytes, chain) = deepest(root, frames, calls, indirect, &mut memo, &mut on_path, &mut report);
    report.bytes = bytes;
    report.chain = chain;
    report.unknown_frames.sort();
    report.unknown_frames.dedup();
    report.indirect_callers.sort();
    report.indirect_callers.dedup();
    report.recursive.sort();
    report.recursive.dedup();
    report
}

fn deepest(
    f: &str,
    frames: &HashMap<String, u64>,
    calls: &HashMap<String, Vec<String>>,
    indirect: &HashSet<String>,
    memo: &mut HashMap<String, Chain>,
    on_path: &mut Vec<String>,
    report: &mut ChainReport,
) -> Chain {
    if let Some(m) = memo.get(f) {
        return m.clone();
    }
    let own = match frames.get(f) {
        Some(&n) => n,
        None => {
            report.unknown_frames.push(f.to_string());
            0
        }
    };
    if indirect.contains(f) {
        report.indirect_callers.push(f.to_string());
    }
    on_path.push(f.to_string());
    let mut best = (0, vec![]);
    for callee in calls.get(f).map(Vec::as_slice).unwrap_or(&[]) {
        if on_path.iter().any(|p| p == callee) {
            report.recursive.push(callee.clone());
            continue;
        }
        let r = deepest(callee, frames, calls, indirect, memo, on_path, report);
        if r.0 > best.0 {
            best = r;
        }
    }
    on_path.pop();
    let mut chain = vec![(f.to_string(), own)];
    chain.extend(best.1);
    let r = (own + best.0, chain);
    memo.insert(f.to_string(), r.clone());
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn painting_sees_a_deep_frame() {
        #[inline(never)]
        fn deep(n: usize) -> u8 {
            let mut a = [0u8; 4096];
            a[n % 4096] = 1;
            core::hint::black_box(&mut a);
            a.iter().fold(0u8, |x, y| x ^ y)
        }
        let (r, used) = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(|| measure(|| deep(7)))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(r, 1);
        let used = used.unwrap();
        assert!((4096..16 * 1024).contains(&used), "{used}");
    }

    #[test]
    fn call_graph_and_chain() {
        let sizes = "Stack Sizes:\n         Size     Functions\n           16     root\n           32     a\n          100     b\n            8     c\n";
        let dis = "\n00000010 <root>:\n      10:       bl      0x20 <a>\n      14:       bl      0x30 <c>\n\n00000020 <a>:\n      20:       b.w     0x40 <b>\n      24:       bne     0x22 <a+0x2>\n\n00000030 <c>:\n      30:       blx     r3\n\n00000040 <b>:\n      40:       bl      0x20 <a>\n";
        let frames = parse_stack_sizes(sizes);
        assert_eq!(frames.get("b"), Some(&100));
        let (calls, indirect) = parse_calls(dis);
        assert_eq!(calls.get("root").unwrap(), &vec!["a".to_string(), "c".to_string()]);
        assert!(indirect.contains("c"));
        let r = static_worst_case("root", &frames, &calls, &indirect);
        assert_eq!(r.bytes, 16 + 32 + 100);
        assert_eq!(r.chain.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["root", "a", "b"]);
        assert_eq!(r.recursive, vec!["a".to_string()]);
        assert_eq!(r.indirect_callers, vec!["c".to_string()]);
    }
}
