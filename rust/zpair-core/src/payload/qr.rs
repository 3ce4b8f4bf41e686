//! QR codes for the payload string, as a module matrix and as text (feature `qr`).
//!
//! Encoding uses Nayuki's `qrcodegen-no-heap` (no_std, no heap, no unsafe) with stack buffers
//! for versions up to [`QR_MAX_VERSION`]. A payload string (33 alphanumeric characters) becomes
//! a version 2 code (25×25 modules) at error correction level M or better.
//!
//! ```
//! # use zpair_core::payload::qr::{QrMatrix, QrTextStyle};
//! let qr = QrMatrix::encode("ZP:EAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")?;
//! let mut text = [0u8; 2048];
//! let art = qr.render_text(QrTextStyle::HalfBlocks, 2, &mut text)?;
//! assert_eq!(art.lines().count(), (qr.size() + 4).div_ceil(2));
//! # Ok::<(), zpair_core::payload::PayloadError>(())
//! ```

use super::PayloadError;
use qrcodegen_no_heap::{QrCode, QrCodeEcc, Version};

/// The largest QR version [`QrMatrix::encode`] produces (37×37 modules; up to 122 alphanumeric
/// characters at level M).
pub const QR_MAX_VERSION: u8 = 5;
/// The side of the largest matrix, in modules.
pub const QR_MAX_SIZE: usize = 17 + 4 * QR_MAX_VERSION as usize;
const BUF_LEN: usize = Version::new(QR_MAX_VERSION).buffer_len();
const BITMAP_LEN: usize = (QR_MAX_SIZE * QR_MAX_SIZE).div_ceil(8);

/// A QR code's modules (dark = `true`), up to [`QR_MAX_SIZE`]² of them, with no quiet zone.
#[derive(Clone, PartialEq, Eq)]
pub struct QrMatrix {
    size: u8,
    version: u8,
    bitmap: [u8; BITMAP_LEN],
}

impl core::fmt::Debug for QrMatrix {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The modules encode the setup code: do not print them.
        f.debug_struct("QrMatrix").field("version", &self.version).finish_non_exhaustive()
    }
}

/// How [`QrMatrix::render_text`] draws modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QrTextStyle {
    /// Two module rows per line with `█`, `▀`, `▄` and space; dark modules are drawn as ink.
    /// For paper and dark-on-light terminals.
    HalfBlocks,
    /// As [`HalfBlocks`](Self::HalfBlocks) but light modules are drawn as ink, for terminals
    /// with light text on a dark background.
    HalfBlocksInverted,
    /// One module row per line, `##` for a dark module and two spaces for a light one; plain
    /// ASCII.
    Hash,
}

impl QrMatrix {
    /// Encodes `text` (alphanumeric mode if it fits the QR alphanumeric set, as payload strings
    /// do; byte mode otherwise) at error correction level M, boosted when that costs no size.
    ///
    /// Errors: [`PayloadError::TooLongForQr`] beyond version [`QR_MAX_VERSION`].
    pub fn encode(text: &str) -> Result<Self, PayloadError> {
        let mut temp = [0u8; BUF_LEN];
        let mut out = [0u8; BUF_LEN];
        let qr = QrCode::encode_text(
            text,
            &mut temp,
            &mut out,
            QrCodeEcc::Medium,
            Version::MIN,
            Version::new(QR_MAX_VERSION),
            None,
            true,
        )
        .map_err(|_| PayloadError::TooLongForQr)?;
        let size = u8::try_from(qr.size()).map_err(|_| PayloadError::TooLongForQr)?;
        let mut m = QrMatrix { size, version: qr.version().value(), bitmap: [0; BITMAP_LEN] };
        for y in 0..usize::from(size) {
            for x in 0..usize::from(size) {
                if qr.get_module(x as i32, y as i32) {
                    let i = y * usize::from(size) + x;
                    if let Some(b) = m.bitmap.get_mut(i / 8) {
                        *b |= 1 << (i % 8);
                    }
                }
            }
        }
        Ok(m)
    }

    /// The side in modules (`17 + 4 × version`).
    pub fn size(&self) -> usize {
        usize::from(self.size)
    }

    /// The QR version (1..=[`QR_MAX_VERSION`]).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// Whether the module at column `x`, row `y` is dark; outside the matrix (the quiet zone)
    /// everything is light.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        let size = self.size();
        if x >= size || y >= size {
            return false;
        }
        let i = y * size + x;
        self.bitmap.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    /// Whether the module at (`x`, `y`) of the picture with a quiet zone of `quiet` modules
    /// around the matrix is dark.
    fn is_dark_with_quiet(&self, x: usize, y: usize, quiet: usize) -> bool {
        match (x.checked_sub(quiet), y.checked_sub(quiet)) {
            (Some(x), Some(y)) => self.is_dark(x, y),
            _ => false,
        }
    }

    /// The exact number of bytes [`render_text`](Self::render_text) writes.
    pub fn text_len(&self, style: QrTextStyle, quiet: u8) -> usize {
        let mut n = 0;
        self.draw(style, quiet, |s| n += s.len());
        n
    }

    /// Draws the code as text into `out`, with a quiet zone of `quiet` light modules on every
    /// side (the standard asks for 4; 2 usually scans), each line ending in `\n`.
    ///
    /// Errors: [`PayloadError::BufferTooSmall`] (see [`text_len`](Self::text_len) and
    /// [`max_text_len`]).
    pub fn render_text<'b>(
        &self,
        style: QrTextStyle,
        quiet: u8,
        out: &'b mut [u8],
    ) -> Result<&'b str, PayloadError> {
        let mut pos = 0usize;
        let mut overflow = false;
        self.draw(style, quiet, |s| {
            match out.get_mut(pos..pos + s.len()) {
                Some(dst) if !overflow => dst.copy_from_slice(s.as_bytes()),
                _ => overflow = true,
            }
            pos += s.len();
        });
        if overflow {
            return Err(PayloadError::BufferTooSmall);
        }
        let text = out.get(..pos).ok_or(PayloadError::BufferTooSmall)?;
        core::str::from_utf8(text).map_err(|_| PayloadError::BadChar)
    }

    fn draw(&self, style: QrTextStyle, quiet: u8, mut emit: impl FnMut(&str)) {
        let q = usize::from(quiet);
        let side = self.size() + 2 * q;
        match style {
            QrTextStyle::Hash => {
                for y in 0..side {
                    for x in 0..side {
                        emit(if self.is_dark_with_quiet(x, y, q) { "##" } else { "  " });
                    }
                    emit("\n");
                }
            }
            QrTextStyle::HalfBlocks | QrTextStyle::HalfBlocksInverted => {
                let invert = style == QrTextStyle::HalfBlocksInverted;
                for y in (0..side).step_by(2) {
                    for x in 0..side {
                        let top = self.is_dark_with_quiet(x, y, q) != invert;
                        // The row below the last one (odd sides) is quiet zone: light.
                        let below =
                            if y + 1 < side { self.is_dark_with_quiet(x, y + 1, q) } else { false };
                        let bottom = below != invert;
                        emit(match (top, bottom) {
                            (true, true) => "\u{2588}",
                            (true, false) => "\u{2580}",
                            (false, true) => "\u{2584}",
                            (false, false) => " ",
                        });
                    }
                    emit("\n");
                }
            }
        }
    }
}

/// An upper bound of [`QrMatrix::text_len`] for any code up to [`QR_MAX_VERSION`]: the size
/// of a static text buffer.
pub const fn max_text_len(style: QrTextStyle, quiet: u8) -> usize {
    let side = QR_MAX_SIZE + 2 * quiet as usize;
    match style {
        QrTextStyle::Hash => side * (2 * side + 1),
        QrTextStyle::HalfBlocks | QrTextStyle::HalfBlocksInverted => {
            side.div_ceil(2) * (3 * side + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_long_text_is_refused() {
        let long = "A".repeat(200);
        assert_eq!(QrMatrix::encode(&long), Err(PayloadError::TooLongForQr));
        assert_eq!(QrMatrix::encode(&"A".repeat(122)).map(|m| m.version()), Ok(5));
        assert_eq!(QrMatrix::encode(&"A".repeat(123)), Err(PayloadError::TooLongForQr));
    }
}
