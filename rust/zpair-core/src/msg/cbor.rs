//! The strict CBOR subset zpair's messages use: a small hand-written reader and writer.
//!
//! Decoding rules (see the [`msg`](super) module documentation for the full picture):
//! - only definite lengths: indefinite-length strings, arrays and maps are `Malformed`;
//! - no tags, no floats, no simple values except `false`, `true` and `null`;
//! - map keys are unsigned integers `0..=MAX_KEY`, each at most once;
//! - unknown keys are skipped, but their values must follow the same rules and nest at most
//!   [`SKIP_DEPTH_MAX`] levels deep;
//! - integers may use any width (encoders always use the shortest).
//!
//! Running out of input is `Truncated`, anything else `Malformed` (counts beyond a bound:
//! `TooLong`).

use crate::error::{PairError, WireError};

/// Largest map key. Keys are tracked in a `u64` bit set, which is how duplicates are found
/// without allocation; a message has at most 64 fields.
pub(crate) const MAX_KEY: u64 = 63;

/// How deep a skipped unknown value may nest arrays/maps. The known schema nests at most four
/// levels (envelope array, body map, list, entry map), so no accepted message nests deeper than
/// eight.
pub(crate) const SKIP_DEPTH_MAX: usize = 4;

const MAJOR_UINT: u8 = 0;
const MAJOR_NINT: u8 = 1;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;
const INFO_INDEFINITE: u8 = 31;

/// A strict reader over borrowed bytes.
///
/// Hand-written rather than built on minicbor's `Decoder`: the subset is small (one head format,
/// definite lengths only), and one head parser shared by every item is a fraction of the code of
/// a general decoder. Errors follow the rules above: running out of input is `Truncated`,
/// anything else `Malformed` (or `TooLong` for counts beyond a bound).
///
/// Every method returns `None` when it fails and keeps the reason in the reader; decoders pass
/// the `None` up with `?` and the public `decode` functions turn it into `Err(reason)` once
/// ([`Reader::result`]). Decoding stops at the first failure, so
/// the reason is always the first error met, as with `Result`s. This is a size decision: on a
/// 32-bit MCU an `Option<&[u8]>` or `Option<u8>` returns in registers and `?` on it is one
/// compare, while a `Result<&[u8], WireError>` returns through memory and every `?` copies it
/// (600 B over the decoders a device links; size report).
pub(crate) struct Reader<'b> {
    buf: &'b [u8],
    pos: usize,
    /// Why the last method that returned `None` failed.
    err: WireError,
}

impl<'b> Reader<'b> {
    pub(crate) fn new(bytes: &'b [u8]) -> Self {
        Reader { buf: bytes, pos: 0, err: WireError::Malformed }
    }

    /// `Ok` of a decoded value, or `Err` of why it failed.
    pub(crate) fn result<T>(&self, v: Option<T>) -> Result<T, WireError> {
        v.ok_or(self.err)
    }

    /// Records `e` as the reason decoding stops; always `None`.
    pub(crate) fn fail<T>(&mut self, e: WireError) -> Option<T> {
        self.set(e);
        None
    }

    #[inline(never)]
    fn set(&mut self, e: WireError) {
        self.err = e;
    }

    /// `Malformed` unless `ok`.
    pub(crate) fn ensure(&mut self, ok: bool) -> Option<()> {
        if ok {
            Some(())
        } else {
            self.fail(WireError::Malformed)
        }
    }

    /// The value of a validating constructor, or `Invalid(reason)`.
    pub(crate) fn valid<T>(&mut self, v: Result<T, PairError>) -> Option<T> {
        match v {
            Ok(v) => Some(v),
            Err(e) => self.fail(WireError::Invalid(e)),
        }
    }

    /// A required field, or `Malformed` if it was absent.
    pub(crate) fn required<T>(&mut self, v: Option<T>) -> Option<T> {
        if v.is_none() {
            self.set(WireError::Malformed);
        }
        v
    }

    /// The initial byte of the next item, split into (major type, additional info).
    fn peek(&mut self) -> Option<(u8, u8)> {
        match self.buf.get(self.pos) {
            Some(b) => Some((b >> 5, b & 0x1f)),
            None => self.fail(WireError::Truncated),
        }
    }

    /// The next `n` bytes.
    #[inline(never)]
    fn take(&mut self, n: usize) -> Option<&'b [u8]> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        match rest.get(..n) {
            Some(taken) => {
                self.pos += n;
                Some(taken)
            }
            None => self.fail(WireError::Truncated),
        }
    }

    /// The argument of a head whose initial byte (with additional info `info`) was consumed:
    /// the value itself (0..=23) or 1, 2, 4 or 8 big-endian bytes. Reserved values (28..=30)
    /// and indefinite lengths (31) are `Malformed`.
    #[inline(never)]
    fn arg(&mut self, info: u8) -> Option<u64> {
        let len = match info {
            0..=23 => return Some(u64::from(info)),
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            _ => return self.fail(WireError::Malformed),
        };
        let bytes = self.take(len)?;
        Some(bytes.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b)))
    }

    /// The argument of a definite-length head of type `major`.
    #[inline(never)]
    fn head(&mut self, major: u8) -> Option<u64> {
        let (m, info) = self.peek()?;
        if m != major || info == INFO_INDEFINITE {
            return self.fail(WireError::Malformed);
        }
        self.pos += 1;
        self.arg(info)
    }

    /// The argument of a definite-length head of type `major` that must fit `max`, else
    /// `Malformed`.
    #[inline(never)]
    fn head_max(&mut self, major: u8, max: u32) -> Option<u32> {
        let v = self.head(major)?;
        if v > u64::from(max) {
            return self.fail(WireError::Malformed);
        }
        Some(v as u32)
    }

    /// The content of a definite-length byte or text string.
    fn string(&mut self, major: u8) -> Option<&'b [u8]> {
        let n = self.head(major)?;
        match usize::try_from(n) {
            Ok(n) => self.take(n),
            Err(_) => self.fail(WireError::Malformed),
        }
    }

    /// An unsigned integer of any width.
    pub(crate) fn uint(&mut self) -> Option<u64> {
        self.head(MAJOR_UINT)
    }

    /// An unsigned integer that must fit `u8`.
    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.head_max(MAJOR_UINT, u8::MAX.into()).map(|v| v as u8)
    }

    /// An unsigned integer that must fit `u16`.
    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.head_max(MAJOR_UINT, u16::MAX.into()).map(|v| v as u16)
    }

    /// An unsigned integer that must fit `u32`.
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.head_max(MAJOR_UINT, u32::MAX)
    }

    /// A signed integer that must fit `i8`.
    pub(crate) fn i8(&mut self) -> Option<i8> {
        let (m, info) = self.peek()?;
        if m != MAJOR_UINT && m != MAJOR_NINT {
            return self.fail(WireError::Malformed);
        }
        self.pos += 1;
        // A negative integer is -1 - argument: both ranges are 0..=127 of the argument.
        let v = self.arg(info)?;
        let Ok(n) = i8::try_from(v) else {
            return self.fail(WireError::Malformed);
        };
        Some(if m == MAJOR_NINT { -1 - n } else { n })
    }

    /// `false` or `true`.
    pub(crate) fn bool(&mut self) -> Option<bool> {
        let at = self.pos;
        let (m, info) = self.peek()?;
        self.pos += 1;
        match (m, info) {
            (7, 20) => Some(false),
            (7, 21) => Some(true),
            // Kept from the minicbor-based reader this one replaced: a negative integer head
            // with a 1..8-byte argument where a bool belongs is `Truncated` when the input
            // ends right after its first argument byte.
            (MAJOR_NINT, 24..=27) if self.buf.get(at + 2).is_none() => {
                self.fail(WireError::Truncated)
            }
            _ => self.fail(WireError::Malformed),
        }
    }

    /// A definite-length byte string.
    pub(crate) fn bytes(&mut self) -> Option<&'b [u8]> {
        self.string(MAJOR_BYTES)
    }

    /// A definite-length byte string of exactly `N` bytes.
    pub(crate) fn bytes_exact<const N: usize>(&mut self) -> Option<[u8; N]> {
        let b = self.bytes()?;
        match b.try_into() {
            Ok(a) => Some(a),
            Err(_) => self.fail(WireError::Malformed),
        }
    }

    /// A definite-length UTF-8 text string.
    pub(crate) fn text(&mut self) -> Option<&'b str> {
        let bytes = self.string(MAJOR_TEXT)?;
        match core::str::from_utf8(bytes) {
            Ok(s) => Some(s),
            Err(_) => self.fail(WireError::Malformed),
        }
    }

    /// A definite-length array header; more than `max` elements is `TooLong`.
    pub(crate) fn array(&mut self, max: usize) -> Option<usize> {
        let n = self.head(MAJOR_ARRAY)?;
        match usize::try_from(n) {
            Ok(n) if n <= max => Some(n),
            _ => self.fail(WireError::TooLong),
        }
    }

    /// A definite-length map header, returning the field iterator state.
    // Always inlined over an out-of-line length: an `Option<Fields>` (16 bytes) would return
    // through memory (size report: 56 B smaller).
    #[inline(always)]
    pub(crate) fn map(&mut self) -> Option<Fields> {
        let n = self.map_len()?;
        Some(Fields { remaining: n, seen: 0 })
    }

    /// The entry count of a definite-length map header.
    fn map_len(&mut self) -> Option<u8> {
        let n = self.head(MAJOR_MAP)?;
        // Keys are unique and at most MAX_KEY, so a longer map cannot be valid.
        if n > MAX_KEY + 1 {
            return self.fail(WireError::TooLong);
        }
        Some(n as u8)
    }

    /// Skips one value of an unknown field, following the same strict rules, without
    /// recursion or allocation.
    pub(crate) fn skip(&mut self) -> Option<()> {
        // items[d] = items still to read at nesting level d.
        let mut items = [0u64; SKIP_DEPTH_MAX + 1];
        let mut depth = 0usize;
        items[0] = 1;
        loop {
            // Close finished containers.
            loop {
                match items.get(depth) {
                    Some(0) if depth == 0 => return Some(()),
                    Some(0) => depth -= 1,
                    Some(_) => break,
                    None => return self.fail(WireError::Malformed),
                }
            }
            if let Some(n) = items.get_mut(depth) {
                *n -= 1;
            }
            let (major, info) = self.peek()?;
            if info == INFO_INDEFINITE || (28..=30).contains(&info) {
                return self.fail(WireError::Malformed);
            }
            let children = match major {
                MAJOR_BYTES | MAJOR_TEXT => {
                    let s = self.string(major)?;
                    if major == MAJOR_TEXT && core::str::from_utf8(s).is_err() {
                        return self.fail(WireError::Malformed);
                    }
                    0
                }
                MAJOR_UINT | MAJOR_NINT | MAJOR_ARRAY | MAJOR_MAP => {
                    self.pos += 1;
                    let n = self.arg(info)?;
                    match major {
                        MAJOR_ARRAY => n,
                        MAJOR_MAP => match n.checked_mul(2) {
                            Some(n) => n,
                            None => return self.fail(WireError::TooLong),
                        },
                        _ => 0,
                    }
                }
                // Major 7: false, true, null only (info 20..=22).
                7 if (20..=22).contains(&info) => {
                    self.pos += 1;
                    0
                }
                // Tags (6), floats, other simple values.
                _ => return self.fail(WireError::Malformed),
            };
            if children > 0 {
                // Every item takes at least one byte: a count beyond the input cannot be met.
                let left = self.buf.len().saturating_sub(self.pos);
                if children > left as u64 {
                    return self.fail(WireError::Truncated);
                }
                depth += 1;
                match items.get_mut(depth) {
                    Some(slot) => *slot = children,
                    None => return self.fail(WireError::TooLong),
                }
            }
        }
    }

    /// Succeeds if every input byte was consumed.
    pub(crate) fn finish(&mut self) -> Option<()> {
        if self.pos == self.buf.len() {
            Some(())
        } else {
            self.fail(WireError::TrailingBytes)
        }
    }
}

/// Iterates over the keys of a map, rejecting bad and duplicate keys. The caller reads (or
/// [`Reader::skip`]s) each key's value before asking for the next key.
pub(crate) struct Fields {
    /// At most `MAX_KEY + 1` (checked by [`Reader::map`]).
    remaining: u8,
    seen: u64,
}

impl Fields {
    /// The number of keys still to read.
    pub(crate) fn len(&self) -> u64 {
        self.remaining.into()
    }

    /// The next key (`Some(None)` at the end of the map), or `None` if the key is bad.
    pub(crate) fn next(&mut self, r: &mut Reader<'_>) -> Option<Option<u8>> {
        if self.remaining == 0 {
            return Some(None);
        }
        self.remaining -= 1;
        let k = r.head_max(MAJOR_UINT, MAX_KEY as u32)?;
        let bit = 1u64 << k;
        if self.seen & bit != 0 {
            return r.fail(WireError::Malformed);
        }
        self.seen |= bit;
        Some(Some(k as u8))
    }
}

/// A CBOR writer over a caller buffer, or a counter of the bytes it would write.
///
/// Hand-written rather than minicbor's `Encoder`: every item is one shortest-form head (shared
/// by all methods, not instantiated per integer width and per sink) plus, for strings, the
/// content. The output is byte-for-byte minicbor's (a property test in `cbor_reference.rs`
/// checks it), and so is a failure: the pieces are minicbor's (see [`Writer::head`]), each
/// written whole or not at all, and the position stops at the first piece that does not fit.
///
/// Writing never returns an error: once a piece does not fit, the writer is *full* and writes
/// nothing more; [`encode_into`] reports it once at the end. Encoders are straight-line code
/// without a branch per item (a size decision, like the reader's kept error).
pub(crate) struct Writer<'a> {
    /// `None`: count only.
    buf: Option<&'a mut [u8]>,
    pos: usize,
    /// A piece did not fit: nothing is written any more.
    full: bool,
}

impl<'a> Writer<'a> {
    /// A writer into `buf`.
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Writer {
            buf: Some(buf),
            pos: 0,
            full: false,
        }
    }

    /// A writer that only counts bytes.
    pub(crate) fn counter() -> Self {
        Writer {
            buf: None,
            pos: 0,
            full: false,
        }
    }

    /// Bytes written (or counted) so far.
    #[cfg(test)]
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Whether a piece did not fit (and everything after it was dropped).
    #[cfg(test)]
    pub(crate) fn is_full(&self) -> bool {
        self.full
    }

    /// Writes `bytes` whole, or nothing and the writer is full from then on.
    #[inline(never)]
    fn put(&mut self, bytes: &[u8]) -> &mut Self {
        if self.full {
            return self;
        }
        match &mut self.buf {
            None => self.pos = self.pos.saturating_add(bytes.len()),
            Some(buf) => {
                let end = self.pos.saturating_add(bytes.len());
                match buf.get_mut(self.pos..end) {
                    Some(dst) => {
                        dst.copy_from_slice(bytes);
                        self.pos = end;
                    }
                    None => self.full = true,
                }
            }
        }
        self
    }

    /// A head of major type `major` carrying `v` in the shortest form: the initial byte and the
    /// 0 or 1 argument byte in one write, or the initial byte, then the 2, 4 or 8 argument
    /// bytes (two writes), as minicbor does.
    #[inline(never)]
    fn head(&mut self, major: u8, v: u64) -> &mut Self {
        let (info, n) = match v {
            0..=23 => (v as u8, 0),
            24..=0xff => (24, 1),
            0x100..=0xffff => (25, 2),
            0x1_0000..=0xffff_ffff => (26, 4),
            _ => (27, 8),
        };
        let initial = major << 5 | info;
        if n <= 1 {
            // One write, as minicbor does for a value that fits the head or one more byte.
            return self.put([initial, v as u8].get(..1 + n).unwrap_or_default());
        }
        let be = v.to_be_bytes();
        self.put(&[initial]).put(be.get(8 - n..).unwrap_or_default())
    }

    /// An unsigned integer.
    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.head(MAJOR_UINT, v)
    }

    /// An unsigned integer.
    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        self.head(MAJOR_UINT, v.into())
    }

    /// An unsigned integer.
    pub(crate) fn u16(&mut self, v: u16) -> &mut Self {
        self.head(MAJOR_UINT, v.into())
    }

    /// An unsigned integer.
    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.head(MAJOR_UINT, v.into())
    }

    /// A signed integer.
    pub(crate) fn i8(&mut self, v: i8) -> &mut Self {
        match u8::try_from(v) {
            Ok(u) => self.head(MAJOR_UINT, u.into()),
            // -1 - v fits 0..=127.
            Err(_) => self.head(MAJOR_NINT, (-1 - i16::from(v)) as u64),
        }
    }

    /// `false` or `true`.
    pub(crate) fn bool(&mut self, v: bool) -> &mut Self {
        self.put(&[if v { 0xf5 } else { 0xf4 }])
    }

    /// A byte string.
    pub(crate) fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.head(MAJOR_BYTES, v.len() as u64).put(v)
    }

    /// A text string.
    pub(crate) fn str(&mut self, v: &str) -> &mut Self {
        self.head(MAJOR_TEXT, v.len() as u64).put(v.as_bytes())
    }

    /// A definite-length array header.
    pub(crate) fn array(&mut self, n: u64) -> &mut Self {
        self.head(MAJOR_ARRAY, n)
    }

    /// A definite-length map header.
    pub(crate) fn map(&mut self, n: u64) -> &mut Self {
        self.head(MAJOR_MAP, n)
    }
}

/// Counts how many of the optional fields are present (for definite map headers).
pub(crate) fn count(present: &[bool]) -> u64 {
    present.iter().filter(|p| **p).count() as u64
}

/// Writes a key and an unsigned value.
pub(crate) fn kv_uint(e: &mut Writer<'_>, k: u8, v: u64) {
    e.u8(k).u64(v);
}

/// Size of a CBOR head carrying `v` (the whole item for integers).
pub(crate) const fn head_len(v: u64) -> usize {
    if v < 24 {
        1
    } else if v <= 0xff {
        2
    } else if v <= 0xffff {
        3
    } else if v <= 0xffff_ffff {
        5
    } else {
        9
    }
}

/// Size of a byte or text string of `n` bytes.
pub(crate) const fn str_len(n: usize) -> usize {
    head_len(n as u64) + n
}

/// The larger of two sizes (const context).
pub(crate) const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// Encodes into a caller buffer; on failure the partly written prefix is wiped (it may hold
/// secrets) and `BufferTooSmall` is returned.
pub(crate) fn encode_into(buf: &mut [u8], f: impl FnOnce(&mut Writer<'_>)) -> Result<usize, WireError> {
    let mut e = Writer::new(buf);
    f(&mut e);
    finish_into(e)
}

/// The non-generic end of [`encode_into`].
fn finish_into(e: Writer<'_>) -> Result<usize, WireError> {
    let n = e.pos;
    if !e.full {
        return Ok(n);
    }
    if let Some(written) = e.buf.and_then(|b| b.get_mut(..n)) {
        zeroize::Zeroize::zeroize(written);
    }
    Err(WireError::BufferTooSmall)
}

/// The encoded size, computed without a buffer.
pub(crate) fn measure(f: impl FnOnce(&mut Writer<'_>)) -> usize {
    let mut e = Writer::counter();
    f(&mut e);
    e.pos
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip_all(bytes: &[u8]) -> Result<(), WireError> {
        let mut r = Reader::new(bytes);
        let v = r.skip().and_then(|()| r.finish());
        r.result(v)
    }

    #[test]
    fn skip_accepts_the_allowed_subset() {
        // {1: [h'00', "a", -1, true, null, {}], 2: 1000}
        let v = [
            0xa2, 0x01, 0x86, 0x41, 0x00, 0x61, b'a', 0x20, 0xf5, 0xf6, 0xa0, 0x02, 0x19, 0x03,
            0xe8,
        ];
        assert_eq!(skip_all(&v), Ok(()));
        assert_eq!(skip_all(&[0x80]), Ok(()));
        assert_eq!(skip_all(&[0x00]), Ok(()));
    }

    #[test]
    fn skip_rejects_everything_else() {
        assert_eq!(
            skip_all(&[0x9f, 0xff]),
            Err(WireError::Malformed),
            "indefinite array"
        );
        assert_eq!(
            skip_all(&[0xbf, 0xff]),
            Err(WireError::Malformed),
            "indefinite map"
        );
        assert_eq!(
            skip_all(&[0x5f, 0xff]),
            Err(WireError::Malformed),
            "indefinite bytes"
        );
        assert_eq!(
            skip_all(&[0x7f, 0xff]),
            Err(WireError::Malformed),
            "indefinite text"
        );
        assert_eq!(skip_all(&[0xc1, 0x00]), Err(WireError::Malformed), "tag");
        assert_eq!(
            skip_all(&[0xf9, 0x00, 0x00]),
            Err(WireError::Malformed),
            "float"
        );
        assert_eq!(skip_all(&[0xf7]), Err(WireError::Malformed), "undefined");
        assert_eq!(skip_all(&[0xff]), Err(WireError::Malformed), "break");
        assert_eq!(
            skip_all(&[0x1c]),
            Err(WireError::Malformed),
            "reserved info"
        );
        assert_eq!(
            skip_all(&[0x62, 0xff, 0xfe]),
            Err(WireError::Malformed),
            "bad UTF-8"
        );
        assert_eq!(skip_all(&[0x82, 0x00]), Err(WireError::Truncated));
        assert_eq!(
            skip_all(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(WireError::Truncated)
        );
        assert_eq!(
            skip_all(&[0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Err(WireError::TooLong)
        );
    }

    #[test]
    fn skip_bounds_nesting() {
        // SKIP_DEPTH_MAX nested one-element arrays around 0 are fine, one more is not.
        let mut ok = std::vec![0x81u8; SKIP_DEPTH_MAX];
        ok.push(0x00);
        assert_eq!(skip_all(&ok), Ok(()));
        let mut deep = std::vec![0x81u8; SKIP_DEPTH_MAX + 1];
        deep.push(0x00);
        assert_eq!(skip_all(&deep), Err(WireError::TooLong));
        // Empty containers do not count as nesting.
        let mut empty = std::vec![0x81u8; SKIP_DEPTH_MAX];
        empty.push(0x80);
        assert_eq!(skip_all(&empty), Ok(()));
    }

    #[test]
    fn fields_reject_bad_and_duplicate_keys() {
        let keys = |bytes: &[u8]| -> Result<std::vec::Vec<u8>, WireError> {
            let mut r = Reader::new(bytes);
            let mut out = std::vec::Vec::new();
            let v = (|| {
                let mut f = r.map()?;
                while let Some(k) = f.next(&mut r)? {
                    out.push(k);
                    r.skip()?;
                }
                r.finish()
            })();
            r.result(v).map(|()| out)
        };
        assert_eq!(keys(&[0xa2, 0x05, 0x00, 0x01, 0x00]), Ok(std::vec![5, 1]));
        assert_eq!(
            keys(&[0xa2, 0x01, 0x00, 0x01, 0x00]),
            Err(WireError::Malformed)
        );
        assert_eq!(
            keys(&[0xa1, 0x18, 0x40, 0x00]),
            Err(WireError::Malformed),
            "key 64"
        );
        assert_eq!(keys(&[0xa1, 0x18, 0x3f, 0x00]), Ok(std::vec![63]));
        assert_eq!(
            keys(&[0xa1, 0x20, 0x00]),
            Err(WireError::Malformed),
            "negative key"
        );
        assert_eq!(
            keys(&[0xa1, 0x61, b'a', 0x00]),
            Err(WireError::Malformed),
            "text key"
        );
        assert_eq!(keys(&[0xb8, 0x41]), Err(WireError::TooLong), "65 entries");
        assert_eq!(
            keys(&[0xa1, 0x00, 0x00, 0x00]),
            Err(WireError::TrailingBytes)
        );
    }

    #[test]
    fn head_sizes() {
        assert_eq!(head_len(23), 1);
        assert_eq!(head_len(24), 2);
        assert_eq!(head_len(255), 2);
        assert_eq!(head_len(256), 3);
        assert_eq!(head_len(65_536), 5);
        assert_eq!(head_len(u64::MAX), 9);
        assert_eq!(str_len(32), 34);
    }

    #[test]
    fn encode_into_wipes_on_overflow() {
        let mut buf = [0xaau8; 6];
        let r = encode_into(&mut buf, |e| {
            e.bytes(&[1, 2]).bytes(&[3, 4, 5]);
        });
        assert_eq!(r, Err(WireError::BufferTooSmall));
        // 42 01 02 43 were written before the data of the second string ran out of room.
        assert_eq!(buf, [0, 0, 0, 0, 0xaa, 0xaa]);
    }
}

