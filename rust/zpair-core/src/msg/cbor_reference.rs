//! Test oracles. (1) The message reader as it was when it sat on minicbor's `Decoder`
//! (replaced by the smaller hand-written [`super::cbor::Reader`], which the cloud API codec
//! uses too). The property tests below check that old and new agree — same values, same
//! errors, same position — on arbitrary input and arbitrary call sequences. (2) minicbor's
//! `Encoder`, which
//! wrote every message before [`super::cbor::Writer`] replaced it: the property test at the
//! end checks that both write the same bytes, fail at the same point and count the same length.
#![allow(clippy::manual_range_contains)]

use super::cbor::{MAX_KEY, SKIP_DEPTH_MAX};
use crate::error::WireError;
use minicbor::decode::Decoder;
use proptest::prelude::*;
use std::format;
use std::vec;
use std::vec::Vec;

const MAJOR_UINT: u8 = 0;
const MAJOR_NINT: u8 = 1;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;
const INFO_INDEFINITE: u8 = 31;

fn conv(e: minicbor::decode::Error) -> WireError {
    if e.is_end_of_input() {
        WireError::Truncated
    } else {
        WireError::Malformed
    }
}

/// The reader as it was built on minicbor's `Decoder`.
pub struct Reader<'b> {
    d: Decoder<'b>,
}

impl<'b> Reader<'b> {
    pub fn new(bytes: &'b [u8]) -> Self {
        Reader {
            d: Decoder::new(bytes),
        }
    }

    /// The initial byte of the next item, split into (major type, additional info).
    fn peek(&self) -> Result<(u8, u8), WireError> {
        let b = self
            .d
            .input()
            .get(self.d.position())
            .copied()
            .ok_or(WireError::Truncated)?;
        Ok((b >> 5, b & 0x1f))
    }

    fn expect_major(&self, major: u8) -> Result<u8, WireError> {
        let (m, info) = self.peek()?;
        if m != major || info == INFO_INDEFINITE {
            return Err(WireError::Malformed);
        }
        Ok(info)
    }

    /// An unsigned integer of any width.
    pub fn uint(&mut self) -> Result<u64, WireError> {
        self.expect_major(MAJOR_UINT)?;
        self.d.u64().map_err(conv)
    }

    /// An unsigned integer that must fit `u8`.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        u8::try_from(self.uint()?).map_err(|_| WireError::Malformed)
    }

    /// An unsigned integer that must fit `u16`.
    pub fn u16(&mut self) -> Result<u16, WireError> {
        u16::try_from(self.uint()?).map_err(|_| WireError::Malformed)
    }

    /// An unsigned integer that must fit `u32`.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        u32::try_from(self.uint()?).map_err(|_| WireError::Malformed)
    }

    /// A signed integer that must fit `i8`.
    pub fn i8(&mut self) -> Result<i8, WireError> {
        let (m, _) = self.peek()?;
        if m != MAJOR_UINT && m != MAJOR_NINT {
            return Err(WireError::Malformed);
        }
        self.d.i8().map_err(conv)
    }

    /// `false` or `true`.
    pub fn bool(&mut self) -> Result<bool, WireError> {
        self.d.bool().map_err(conv)
    }

    /// A definite-length byte string.
    pub fn bytes(&mut self) -> Result<&'b [u8], WireError> {
        self.expect_major(MAJOR_BYTES)?;
        self.d.bytes().map_err(conv)
    }

    /// A definite-length byte string of exactly `N` bytes.
    pub fn bytes_exact<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        self.bytes()?.try_into().map_err(|_| WireError::Malformed)
    }

    /// A definite-length UTF-8 text string.
    pub fn text(&mut self) -> Result<&'b str, WireError> {
        self.expect_major(MAJOR_TEXT)?;
        self.d.str().map_err(conv)
    }

    /// A definite-length array header; more than `max` elements is `TooLong`.
    pub fn array(&mut self, max: usize) -> Result<usize, WireError> {
        self.expect_major(MAJOR_ARRAY)?;
        let n = self.d.array().map_err(conv)?.ok_or(WireError::Malformed)?;
        match usize::try_from(n) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(WireError::TooLong),
        }
    }

    /// A definite-length map header, returning the field iterator state.
    pub fn map(&mut self) -> Result<u64, WireError> {
        self.expect_major(MAJOR_MAP)?;
        let n = self.d.map().map_err(conv)?.ok_or(WireError::Malformed)?;
        // Keys are unique and at most MAX_KEY, so a longer map cannot be valid.
        if n > MAX_KEY + 1 {
            return Err(WireError::TooLong);
        }
        Ok(n)
    }

    /// Skips one value of an unknown field, following the same strict rules, without
    /// recursion or allocation.
    pub fn skip(&mut self) -> Result<(), WireError> {
        // items[d] = items still to read at nesting level d.
        let mut items = [0u64; SKIP_DEPTH_MAX + 1];
        let mut depth = 0usize;
        items[0] = 1;
        loop {
            // Close finished containers.
            loop {
                match items.get(depth) {
                    Some(0) if depth == 0 => return Ok(()),
                    Some(0) => depth -= 1,
                    Some(_) => break,
                    None => return Err(WireError::Malformed),
                }
            }
            if let Some(n) = items.get_mut(depth) {
                *n -= 1;
            }
            let (major, info) = self.peek()?;
            if info == INFO_INDEFINITE || (28..=30).contains(&info) {
                return Err(WireError::Malformed);
            }
            let children = match major {
                MAJOR_UINT => self.d.u64().map(|_| 0).map_err(conv)?,
                MAJOR_NINT => self.d.int().map(|_| 0).map_err(conv)?,
                MAJOR_BYTES => self.d.bytes().map(|_| 0).map_err(conv)?,
                MAJOR_TEXT => self.d.str().map(|_| 0).map_err(conv)?,
                MAJOR_ARRAY => self.d.array().map_err(conv)?.ok_or(WireError::Malformed)?,
                MAJOR_MAP => self
                    .d
                    .map()
                    .map_err(conv)?
                    .ok_or(WireError::Malformed)?
                    .checked_mul(2)
                    .ok_or(WireError::TooLong)?,
                // Major 7: false, true, null only (info 20..=22).
                7 if (20..=22).contains(&info) => {
                    self.d.set_position(self.d.position() + 1);
                    0
                }
                // Tags (6), floats, other simple values.
                _ => return Err(WireError::Malformed),
            };
            if children > 0 {
                // Every item takes at least one byte: a count beyond the input cannot be met.
                let left = self.d.input().len().saturating_sub(self.d.position());
                if children > left as u64 {
                    return Err(WireError::Truncated);
                }
                depth += 1;
                match items.get_mut(depth) {
                    Some(slot) => *slot = children,
                    None => return Err(WireError::TooLong),
                }
            }
        }
    }

    /// Succeeds if every input byte was consumed.
    pub fn finish(&self) -> Result<(), WireError> {
        if self.d.position() == self.d.input().len() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes)
        }
    }
}

/// Runs the same calls on both readers, stopping at the first error; every result must match.
fn same_results(bytes: &[u8], program: &[u8]) {
    let mut o = Reader::new(bytes);
    let mut n = super::cbor::Reader::new(bytes);
    // The new reader keeps its error in the reader: read it back as a `Result`.
    macro_rules! new {
        ($call:expr) => {{
            let v = $call;
            format!("{:?}", n.result(v))
        }};
    }
    for op in program {
        let (a, b) = match op % 13 {
            0 => (format!("{:?}", o.uint()), new!(n.uint())),
            1 => (format!("{:?}", o.i8()), new!(n.i8())),
            2 => (format!("{:?}", o.bool()), new!(n.bool())),
            3 => (format!("{:?}", o.bytes()), new!(n.bytes())),
            4 => (format!("{:?}", o.text()), new!(n.text())),
            5 => (format!("{:?}", o.array(3)), new!(n.array(3))),
            6 => (format!("{:?}", o.map()), new!(n.map().map(|f| f.len()))),
            7 => (format!("{:?}", o.skip()), new!(n.skip())),
            8 => (format!("{:?}", o.u16()), new!(n.u16())),
            9 => (format!("{:?}", o.u8()), new!(n.u8())),
            10 => (
                format!("{:?}", o.bytes_exact::<2>()),
                new!(n.bytes_exact::<2>()),
            ),
            11 => (format!("{:?}", o.u32()), new!(n.u32())),
            _ => (format!("{:?}", o.finish()), new!(n.finish())),
        };
        assert_eq!(a, b, "call {} on {:02x?}", op % 13, bytes);
        if a.starts_with("Err") {
            return;
        }
    }
}

/// Bytes biased towards CBOR heads, so that most inputs parse some way before failing.
fn cbor_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        (0u8..=0x1f),
        (0x20u8..=0x3f),
        (0x40u8..=0x5f),
        (0x60u8..=0x7f),
        (0x80u8..=0x9f),
        (0xa0u8..=0xbf),
        (0xf4u8..=0xf7),
        any::<u8>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]
    #[test]
    fn agrees_with_the_minicbor_reader(
        bytes in proptest::collection::vec(cbor_byte(), 0..14),
        program in proptest::collection::vec(any::<u8>(), 1..8),
    ) {
        same_results(&bytes, &program);
    }
}

#[test]
fn agrees_on_the_edge_cases() {
    let cases: Vec<(Vec<u8>, u8)> = std::vec![
        (std::vec![0x38, 0x05], 2),       // nint head where a bool belongs, input ends
        (std::vec![0x38, 0x05, 0x00], 2), // ... and one more byte
        (std::vec![0x3b, 0, 0, 0, 0, 0, 0, 0, 0x80], 1),
        (std::vec![0x38, 0x7f], 1),
        (std::vec![0x38, 0x80], 1),
        (std::vec![0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 3),
        (std::vec![0x62, 0xc3, 0x28], 4),
        (std::vec![0x1c], 0),
        (std::vec![0xb8, 0x41], 6),
    ];
    for (bytes, op) in cases {
        same_results(&bytes, &[op]);
    }
}

/// One encoder call, for the writer oracle.
#[derive(Debug, Clone)]
enum Op {
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    I8(i8),
    Bool(bool),
    Bytes(Vec<u8>),
    Str(std::string::String),
    Array(u64),
    Map(u64),
}

fn arb_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..=30,
        0u64..=0x1ff,
        0u64..=0x1_ffff,
        0u64..=0x1_ffff_ffff,
        any::<u64>(),
        Just(23u64),
        Just(24u64),
        Just(0xffu64),
        Just(0x100u64),
        Just(0xffffu64),
        Just(0x1_0000u64),
        Just(0xffff_ffffu64),
        Just(0x1_0000_0000u64),
    ]
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<u8>().prop_map(Op::U8),
        any::<u16>().prop_map(Op::U16),
        any::<u32>().prop_map(Op::U32),
        arb_u64().prop_map(Op::U64),
        any::<i8>().prop_map(Op::I8),
        any::<bool>().prop_map(Op::Bool),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Op::Bytes),
        "[a-z\u{e9}\u{1f600}]{0,30}".prop_map(Op::Str),
        arb_u64().prop_map(Op::Array),
        arb_u64().prop_map(Op::Map),
    ]
}

/// Runs `ops` on minicbor's encoder over `cap` bytes: (all succeeded, position, buffer).
fn minicbor_write(ops: &[Op], cap: usize) -> (bool, usize, Vec<u8>) {
    use minicbor::encode::write::Cursor;
    let mut buf = std::vec![0xaau8; cap];
    let mut e = minicbor::Encoder::new(Cursor::new(&mut buf[..]));
    let mut ok = true;
    for op in ops {
        let r = match op {
            Op::U8(v) => e.u8(*v).map(|_| ()),
            Op::U16(v) => e.u16(*v).map(|_| ()),
            Op::U32(v) => e.u32(*v).map(|_| ()),
            Op::U64(v) => e.u64(*v).map(|_| ()),
            Op::I8(v) => e.i8(*v).map(|_| ()),
            Op::Bool(v) => e.bool(*v).map(|_| ()),
            Op::Bytes(v) => e.bytes(v).map(|_| ()),
            Op::Str(v) => e.str(v).map(|_| ()),
            Op::Array(n) => e.array(*n).map(|_| ()),
            Op::Map(n) => e.map(*n).map(|_| ()),
        };
        if r.is_err() {
            ok = false;
            break;
        }
    }
    let pos = e.into_writer().position();
    (ok, pos, buf)
}

/// Runs `ops` on our writer, which does not stop at a piece that does not fit but writes
/// nothing after it: whether everything fitted.
fn apply(w: &mut super::cbor::Writer<'_>, ops: &[Op]) -> bool {
    for op in ops {
        match op {
            Op::U8(v) => w.u8(*v),
            Op::U16(v) => w.u16(*v),
            Op::U32(v) => w.u32(*v),
            Op::U64(v) => w.u64(*v),
            Op::I8(v) => w.i8(*v),
            Op::Bool(v) => w.bool(*v),
            Op::Bytes(v) => w.bytes(v),
            Op::Str(v) => w.str(v),
            Op::Array(n) => w.array(*n),
            Op::Map(n) => w.map(*n),
        };
    }
    !w.is_full()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn writer_agrees_with_the_minicbor_encoder(
        ops in proptest::collection::vec(arb_op(), 0..12),
        cap in 0usize..200,
    ) {
        let (ok, pos, expected) = minicbor_write(&ops, cap);
        let mut buf = std::vec![0xaau8; cap];
        let mut w = super::cbor::Writer::new(&mut buf);
        let ours = apply(&mut w, &ops);
        let our_pos = w.position();
        prop_assert_eq!(ours, ok);
        prop_assert_eq!(our_pos, pos);
        prop_assert_eq!(buf, expected);
        // The counter counts what an unbounded buffer receives.
        let (_, full, _) = minicbor_write(&ops, 1024);
        let mut c = super::cbor::Writer::counter();
        prop_assert!(apply(&mut c, &ops));
        prop_assert_eq!(c.position(), full);
    }
}

#[test]
fn writer_agrees_on_every_head_boundary() {
    for v in [0u64, 23, 24, 0xff, 0x100, 0xffff, 0x1_0000, 0xffff_ffff, 0x1_0000_0000, u64::MAX] {
        for op in [Op::U64(v), Op::Array(v), Op::Map(v)] {
            for cap in 0..=10 {
                let ops = [Op::U8(1), op.clone()];
                let (ok, pos, expected) = minicbor_write(&ops, cap);
                let mut buf = std::vec![0xaau8; cap];
                let mut w = super::cbor::Writer::new(&mut buf);
                assert_eq!(apply(&mut w, &ops), ok, "{op:?} {cap}");
                assert_eq!(w.position(), pos, "{op:?} {cap}");
                assert_eq!(buf, expected, "{op:?} {cap}");
            }
        }
    }
    for v in [i8::MIN, -25, -24, -1, 0, 23, 24, i8::MAX] {
        let (_, pos, expected) = minicbor_write(&[Op::I8(v)], 4);
        let mut buf = std::vec![0xaau8; 4];
        let mut w = super::cbor::Writer::new(&mut buf);
        assert!(apply(&mut w, &[Op::I8(v)]));
        assert_eq!((w.position(), buf), (pos, expected), "{v}");
    }
}
