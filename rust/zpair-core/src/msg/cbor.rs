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

use crate::error::WireError;

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
pub(crate) struct Reader<'b> {
    buf: &'b [u8],
    pos: usize,
}

impl<'b> Reader<'b> {
    pub(crate) fn new(bytes: &'b [u8]) -> Self {
        Reader { buf: bytes, pos: 0 }
    }

    /// The initial byte of the next item, split into (major type, additional info).
    fn peek(&self) -> Result<(u8, u8), WireError> {
        let b = self.buf.get(self.pos).copied().ok_or(WireError::Truncated)?;
        Ok((b >> 5, b & 0x1f))
    }

    /// The next `n` bytes.
    fn take(&mut self, n: usize) -> Result<&'b [u8], WireError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let taken = rest.get(..n).ok_or(WireError::Truncated)?;
        self.pos += n;
        Ok(taken)
    }

    /// The argument of a head whose initial byte (with additional info `info`) was consumed:
    /// the value itself (0..=23) or 1, 2, 4 or 8 big-endian bytes. Reserved values (28..=30)
    /// and indefinite lengths (31) are `Malformed`.
    #[inline(never)]
    fn arg(&mut self, info: u8) -> Result<u64, WireError> {
        let len = match info {
            0..=23 => return Ok(u64::from(info)),
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            _ => return Err(WireError::Malformed),
        };
        let bytes = self.take(len)?;
        Ok(bytes.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b)))
    }

    /// The argument of a definite-length head of type `major`.
    #[inline(never)]
    fn head(&mut self, major: u8) -> Result<u64, WireError> {
        let (m, info) = self.peek()?;
        if m != major || info == INFO_INDEFINITE {
            return Err(WireError::Malformed);
        }
        self.pos += 1;
        self.arg(info)
    }

    /// The content of a definite-length byte or text string.
    fn string(&mut self, major: u8) -> Result<&'b [u8], WireError> {
        let n = usize::try_from(self.head(major)?).map_err(|_| WireError::Malformed)?;
        self.take(n)
    }

    /// An unsigned integer of any width.
    pub(crate) fn uint(&mut self) -> Result<u64, WireError> {
        self.head(MAJOR_UINT)
    }

    /// An unsigned integer that must fit `u8`.
    pub(crate) fn u8(&mut self) -> Result<u8, WireError> {
        u8::try_from(self.uint()?).map_err(|_| WireError::Malformed)
    }

    /// An unsigned integer that must fit `u16`.
    pub(crate) fn u16(&mut self) -> Result<u16, WireError> {
        u16::try_from(self.uint()?).map_err(|_| WireError::Malformed)
    }

    /// An unsigned integer that must fit `u32`.
    pub(crate) fn u32(&mut self) -> Result<u32, WireError> {
        u32::try_from(self.uint()?).map_err(|_| WireError::Malformed)
    }

    /// A signed integer that must fit `i8`.
    pub(crate) fn i8(&mut self) -> Result<i8, WireError> {
        let (m, info) = self.peek()?;
        if m != MAJOR_UINT && m != MAJOR_NINT {
            return Err(WireError::Malformed);
        }
        self.pos += 1;
        // A negative integer is -1 - argument: both ranges are 0..=127 of the argument.
        let n = i8::try_from(self.arg(info)?).map_err(|_| WireError::Malformed)?;
        Ok(if m == MAJOR_NINT { -1 - n } else { n })
    }

    /// `false` or `true`.
    pub(crate) fn bool(&mut self) -> Result<bool, WireError> {
        let at = self.pos;
        let (m, info) = self.peek()?;
        self.pos += 1;
        match (m, info) {
            (7, 20) => Ok(false),
            (7, 21) => Ok(true),
            // Kept from the minicbor-based reader this one replaced: a negative integer head
            // with a 1..8-byte argument where a bool belongs is `Truncated` when the input
            // ends right after its first argument byte.
            (MAJOR_NINT, 24..=27) if self.buf.get(at + 2).is_none() => Err(WireError::Truncated),
            _ => Err(WireError::Malformed),
        }
    }

    /// A definite-length byte string.
    pub(crate) fn bytes(&mut self) -> Result<&'b [u8], WireError> {
        self.string(MAJOR_BYTES)
    }

    /// A definite-length byte string of exactly `N` bytes.
    pub(crate) fn bytes_exact<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        self.bytes()?.try_into().map_err(|_| WireError::Malformed)
    }

    /// A definite-length UTF-8 text string.
    pub(crate) fn text(&mut self) -> Result<&'b str, WireError> {
        let bytes = self.string(MAJOR_TEXT)?;
        core::str::from_utf8(bytes).map_err(|_| WireError::Malformed)
    }

    /// A definite-length array header; more than `max` elements is `TooLong`.
    pub(crate) fn array(&mut self, max: usize) -> Result<usize, WireError> {
        let n = self.head(MAJOR_ARRAY)?;
        match usize::try_from(n) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(WireError::TooLong),
        }
    }

    /// A definite-length map header, returning the field iterator state.
    pub(crate) fn map(&mut self) -> Result<Fields, WireError> {
        let n = self.head(MAJOR_MAP)?;
        // Keys are unique and at most MAX_KEY, so a longer map cannot be valid.
        if n > MAX_KEY + 1 {
            return Err(WireError::TooLong);
        }
        Ok(Fields {
            remaining: n,
            seen: 0,
        })
    }

    /// Skips one value of an unknown field, following the same strict rules, without
    /// recursion or allocation.
    pub(crate) fn skip(&mut self) -> Result<(), WireError> {
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
                MAJOR_BYTES | MAJOR_TEXT => {
                    let s = self.string(major)?;
                    if major == MAJOR_TEXT && core::str::from_utf8(s).is_err() {
                        return Err(WireError::Malformed);
                    }
                    0
                }
                MAJOR_UINT | MAJOR_NINT | MAJOR_ARRAY | MAJOR_MAP => {
                    self.pos += 1;
                    let n = self.arg(info)?;
                    match major {
                        MAJOR_ARRAY => n,
                        MAJOR_MAP => n.checked_mul(2).ok_or(WireError::TooLong)?,
                        _ => 0,
                    }
                }
                // Major 7: false, true, null only (info 20..=22).
                7 if (20..=22).contains(&info) => {
                    self.pos += 1;
                    0
                }
                // Tags (6), floats, other simple values.
                _ => return Err(WireError::Malformed),
            };
            if children > 0 {
                // Every item takes at least one byte: a count beyond the input cannot be met.
                let left = self.buf.len().saturating_sub(self.pos);
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
    pub(crate) fn finish(&self) -> Result<(), WireError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes)
        }
    }
}

/// Iterates over the keys of a map, rejecting bad and duplicate keys. The caller reads (or
/// [`Reader::skip`]s) each key's value before asking for the next key.
pub(crate) struct Fields {
    remaining: u64,
    seen: u64,
}

impl Fields {
    /// The number of keys still to read.
    pub(crate) fn len(&self) -> u64 {
        self.remaining
    }

    /// The next key, or `None` at the end of the map.
    pub(crate) fn next(&mut self, r: &mut Reader<'_>) -> Result<Option<u8>, WireError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        self.remaining -= 1;
        let k = r.uint()?;
        if k > MAX_KEY {
            return Err(WireError::Malformed);
        }
        let bit = 1u64 << k;
        if self.seen & bit != 0 {
            return Err(WireError::Malformed);
        }
        self.seen |= bit;
        Ok(Some(k as u8))
    }
}

/// A required field that was absent.
pub(crate) fn required<T>(v: Option<T>) -> Result<T, WireError> {
    v.ok_or(WireError::Malformed)
}

/// The one way writing fails: the caller's buffer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

/// Result of the encoders.
pub(crate) type EncResult = Result<(), Full>;

/// A CBOR writer over a caller buffer, or a counter of the bytes it would write.
///
/// Hand-written rather than minicbor's `Encoder`: every item is one shortest-form head (shared
/// by all methods, not instantiated per integer width and per sink) plus, for strings, the
/// content. The output is byte-for-byte minicbor's (a property test in `cbor_reference.rs`
/// checks it), and so is a failure: the pieces are minicbor's (see [`Writer::head`]), each
/// written whole or not at all, and the position stops at the first piece that does not fit.
pub(crate) struct Writer<'a> {
    /// `None`: count only.
    buf: Option<&'a mut [u8]>,
    pos: usize,
}

impl<'a> Writer<'a> {
    /// A writer into `buf`.
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Writer {
            buf: Some(buf),
            pos: 0,
        }
    }

    /// A writer that only counts bytes.
    pub(crate) fn counter() -> Self {
        Writer { buf: None, pos: 0 }
    }

    /// Bytes written (or counted) so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Writes `bytes` whole, or nothing and `Full`.
    #[inline(never)]
    fn put(&mut self, bytes: &[u8]) -> Result<&mut Self, Full> {
        match &mut self.buf {
            None => self.pos = self.pos.saturating_add(bytes.len()),
            Some(buf) => {
                let end = self.pos.checked_add(bytes.len()).ok_or(Full)?;
                buf.get_mut(self.pos..end)
                    .ok_or(Full)?
                    .copy_from_slice(bytes);
                self.pos = end;
            }
        }
        Ok(self)
    }

    /// A head of major type `major` carrying `v` in the shortest form: the initial byte and the
    /// 0 or 1 argument byte in one write, or the initial byte, then the 2, 4 or 8 argument
    /// bytes (two writes), as minicbor does.
    #[inline(never)]
    fn head(&mut self, major: u8, v: u64) -> Result<&mut Self, Full> {
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
        self.put(&[initial])?.put(be.get(8 - n..).unwrap_or_default())
    }

    /// An unsigned integer.
    pub(crate) fn u64(&mut self, v: u64) -> Result<&mut Self, Full> {
        self.head(MAJOR_UINT, v)
    }

    /// An unsigned integer.
    pub(crate) fn u32(&mut self, v: u32) -> Result<&mut Self, Full> {
        self.head(MAJOR_UINT, v.into())
    }

    /// An unsigned integer.
    pub(crate) fn u16(&mut self, v: u16) -> Result<&mut Self, Full> {
        self.head(MAJOR_UINT, v.into())
    }

    /// An unsigned integer.
    pub(crate) fn u8(&mut self, v: u8) -> Result<&mut Self, Full> {
        self.head(MAJOR_UINT, v.into())
    }

    /// A signed integer.
    pub(crate) fn i8(&mut self, v: i8) -> Result<&mut Self, Full> {
        match u8::try_from(v) {
            Ok(u) => self.head(MAJOR_UINT, u.into()),
            // -1 - v fits 0..=127.
            Err(_) => self.head(MAJOR_NINT, (-1 - i16::from(v)) as u64),
        }
    }

    /// `false` or `true`.
    pub(crate) fn bool(&mut self, v: bool) -> Result<&mut Self, Full> {
        self.put(&[if v { 0xf5 } else { 0xf4 }])
    }

    /// A byte string.
    pub(crate) fn bytes(&mut self, v: &[u8]) -> Result<&mut Self, Full> {
        self.head(MAJOR_BYTES, v.len() as u64)?.put(v)
    }

    /// A text string.
    pub(crate) fn str(&mut self, v: &str) -> Result<&mut Self, Full> {
        self.head(MAJOR_TEXT, v.len() as u64)?.put(v.as_bytes())
    }

    /// A definite-length array header.
    pub(crate) fn array(&mut self, n: u64) -> Result<&mut Self, Full> {
        self.head(MAJOR_ARRAY, n)
    }

    /// A definite-length map header.
    pub(crate) fn map(&mut self, n: u64) -> Result<&mut Self, Full> {
        self.head(MAJOR_MAP, n)
    }
}

/// Counts how many of the optional fields are present (for definite map headers).
pub(crate) fn count(present: &[bool]) -> u64 {
    present.iter().filter(|p| **p).count() as u64
}

/// Writes a key and an unsigned value.
pub(crate) fn kv_uint(e: &mut Writer<'_>, k: u8, v: u64) -> EncResult {
    e.u8(k)?.u64(v)?;
    Ok(())
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
pub(crate) fn encode_into(
    buf: &mut [u8],
    f: impl FnOnce(&mut Writer<'_>) -> EncResult,
) -> Result<usize, WireError> {
    let mut e = Writer::new(buf);
    let res = f(&mut e);
    finish_into(e, res)
}

/// The non-generic end of [`encode_into`].
fn finish_into(e: Writer<'_>, res: EncResult) -> Result<usize, WireError> {
    let n = e.pos;
    match (res, e.buf) {
        (Ok(()), _) => Ok(n),
        (Err(Full), buf) => {
            if let Some(written) = buf.and_then(|b| b.get_mut(..n)) {
                zeroize::Zeroize::zeroize(written);
            }
            Err(WireError::BufferTooSmall)
        }
    }
}

/// The encoded size, computed without a buffer.
pub(crate) fn measure(f: impl FnOnce(&mut Writer<'_>) -> EncResult) -> usize {
    let mut e = Writer::counter();
    // The counter never fails.
    let _ = f(&mut e);
    e.pos
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip_all(bytes: &[u8]) -> Result<(), WireError> {
        let mut r = Reader::new(bytes);
        r.skip()?;
        r.finish()
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
            let mut f = r.map()?;
            let mut out = std::vec::Vec::new();
            while let Some(k) = f.next(&mut r)? {
                out.push(k);
                r.skip()?;
            }
            r.finish()?;
            Ok(out)
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
            e.bytes(&[1, 2])?.bytes(&[3, 4, 5])?;
            Ok(())
        });
        assert_eq!(r, Err(WireError::BufferTooSmall));
        // 42 01 02 43 were written before the data of the second string ran out of room.
        assert_eq!(buf, [0, 0, 0, 0, 0xaa, 0xaa]);
    }
}

