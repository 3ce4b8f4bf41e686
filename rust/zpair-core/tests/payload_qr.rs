//! QR rendering of the payload string (feature `qr`): the text art is parsed back into modules
//! and scanned with a pure-Rust QR decoder (rqrr), which must return the payload string.
#![cfg(feature = "qr")]

use proptest::prelude::*;
use zpair_core::payload::qr::{max_text_len, QrMatrix, QrTextStyle, QR_MAX_SIZE};
use zpair_core::payload::{parse, render, PayloadError, SetupPayload, PAYLOAD_LEN};
use zpair_core::types::{DeviceId, Modes, ProductId, SetupCode};

const STYLES: [QrTextStyle; 3] =
    [QrTextStyle::HalfBlocks, QrTextStyle::HalfBlocksInverted, QrTextStyle::Hash];

fn payload_string(product: u32, device: u64, code: u32, modes: u8) -> String {
    let p = SetupPayload {
        product: ProductId(product),
        device: DeviceId(device),
        setup_code: SetupCode::new(code).unwrap(),
        modes: Modes::from_bits(modes).unwrap(),
    };
    let mut buf = [0u8; PAYLOAD_LEN];
    render(&p, &mut buf).unwrap().to_owned()
}

/// Reads text art back into a grid of dark modules (`grid[y][x]`), quiet zone included.
fn text_to_grid(text: &str, style: QrTextStyle) -> Vec<Vec<bool>> {
    let mut grid = Vec::new();
    for line in text.split_terminator('\n') {
        match style {
            QrTextStyle::Hash => {
                let row: Vec<bool> = line
                    .as_bytes()
                    .chunks(2)
                    .map(|c| match c {
                        b"##" => true,
                        b"  " => false,
                        other => panic!("unexpected {other:?}"),
                    })
                    .collect();
                grid.push(row);
            }
            QrTextStyle::HalfBlocks | QrTextStyle::HalfBlocksInverted => {
                let invert = style == QrTextStyle::HalfBlocksInverted;
                let (top, bottom): (Vec<bool>, Vec<bool>) = line
                    .chars()
                    .map(|c| match c {
                        '\u{2588}' => (true, true),
                        '\u{2580}' => (true, false),
                        '\u{2584}' => (false, true),
                        ' ' => (false, false),
                        other => panic!("unexpected {other:?}"),
                    })
                    .map(|(t, b)| (t != invert, b != invert))
                    .unzip();
                grid.push(top);
                grid.push(bottom);
            }
        }
    }
    grid
}

/// Scans a module grid as a camera would: a greyscale picture, 4 pixels per module.
fn scan(grid: &[Vec<bool>]) -> String {
    const SCALE: usize = 4;
    let h = grid.len() * SCALE;
    let w = grid[0].len() * SCALE;
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        if grid[y / SCALE][x / SCALE] {
            0
        } else {
            255
        }
    });
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "exactly one QR code found");
    let (_meta, content) = grids[0].decode().expect("decodes");
    content
}

fn check_finder_patterns(qr: &QrMatrix) {
    let n = qr.size();
    for (ox, oy) in [(0, 0), (n - 7, 0), (0, n - 7)] {
        for y in 0..7 {
            for x in 0..7 {
                let ring = x == 0 || y == 0 || x == 6 || y == 6;
                let core = (2..=4).contains(&x) && (2..=4).contains(&y);
                assert_eq!(qr.is_dark(ox + x, oy + y), ring || core, "finder at ({ox},{oy})");
            }
        }
    }
    // No finder in the fourth corner, and the timing patterns alternate.
    assert!(
        (8..n - 8).all(|i| qr.is_dark(i, 6) == (i % 2 == 0) && qr.is_dark(6, i) == (i % 2 == 0))
    );
}

fn check_all_styles(s: &str) {
    let qr = QrMatrix::encode(s).unwrap();
    assert_eq!(qr.version(), 2, "33 alphanumeric characters fit version 2 at level M");
    assert_eq!(qr.size(), 25);
    check_finder_patterns(&qr);
    for style in STYLES {
        for quiet in [2u8, 4] {
            let mut buf = vec![0u8; max_text_len(style, quiet)];
            let text = qr.render_text(style, quiet, &mut buf).unwrap();
            assert_eq!(text.len(), qr.text_len(style, quiet));
            let side = qr.size() + 2 * usize::from(quiet);
            let mut grid = text_to_grid(text, style);
            assert_eq!(
                grid.len(),
                side.next_multiple_of(if style == QrTextStyle::Hash { 1 } else { 2 })
            );
            grid.truncate(side);
            assert!(grid.iter().all(|row| row.len() == side));
            for (y, row) in grid.iter().enumerate() {
                for (x, &dark) in row.iter().enumerate() {
                    let inner = x.checked_sub(quiet.into()).zip(y.checked_sub(quiet.into()));
                    assert_eq!(dark, inner.is_some_and(|(x, y)| qr.is_dark(x, y)));
                }
            }
            // Add the standard 4-module quiet zone around what was drawn when it is thinner.
            let pad = 4 - usize::from(quiet).min(4);
            let padded: Vec<Vec<bool>> = (0..side + 2 * pad)
                .map(|y| {
                    (0..side + 2 * pad)
                        .map(|x| {
                            x.checked_sub(pad)
                                .zip(y.checked_sub(pad))
                                .and_then(|(x, y)| grid.get(y)?.get(x).copied())
                                .unwrap_or(false)
                        })
                        .collect()
                })
                .collect();
            let scanned = scan(&padded);
            assert_eq!(scanned, s);
            assert!(parse(&scanned).is_ok());
        }
    }
}

#[test]
fn golden_payloads_scan_back() {
    check_all_styles(&payload_string(1, 1, 20_202_021, 0b0011));
    check_all_styles(&payload_string(0x1234_5678, 0xfedc_ba98_7654_3210, 34_567_890, 0b1111));
    check_all_styles(&payload_string(u32::MAX, u64::MAX, 99_999_998, 0));
}

#[test]
fn exact_text_shape() {
    let qr = QrMatrix::encode(&payload_string(1, 1, 20_202_021, 0b0011)).unwrap();
    // Hash, quiet 1: 27 lines of 27 × 2 characters + '\n'.
    assert_eq!(qr.text_len(QrTextStyle::Hash, 1), 27 * 55);
    let mut buf = vec![0u8; 27 * 55];
    let text = qr.render_text(QrTextStyle::Hash, 1, &mut buf).unwrap();
    let first = text.lines().nth(1).unwrap();
    assert!(first.starts_with("  ##############  "), "{first:?}");
    // Half blocks, quiet 0: 13 lines of 25 characters; the top line is the finder patterns'
    // top rows (dark) over their second rows (dark edges only).
    let mut buf = vec![0u8; max_text_len(QrTextStyle::HalfBlocks, 0)];
    let text = qr.render_text(QrTextStyle::HalfBlocks, 0, &mut buf).unwrap();
    assert_eq!(text.lines().count(), 13);
    assert!(text.lines().all(|l| l.chars().count() == 25));
    assert!(text.starts_with("█▀▀▀▀▀█ "), "{text}");
    // Too small a buffer is an error, not a cut.
    let n = qr.text_len(QrTextStyle::HalfBlocks, 2);
    assert_eq!(
        qr.render_text(QrTextStyle::HalfBlocks, 2, &mut vec![0u8; n - 1]),
        Err(PayloadError::BufferTooSmall)
    );
    assert!(n <= max_text_len(QrTextStyle::HalfBlocks, 2));
    assert_eq!(max_text_len(QrTextStyle::Hash, 0), QR_MAX_SIZE * (2 * QR_MAX_SIZE + 1));
    // Debug does not leak the modules.
    assert_eq!(format!("{qr:?}"), "QrMatrix { version: 2, .. }");
}

#[test]
fn any_text_up_to_the_maximum() {
    let qr = QrMatrix::encode("hello, world").unwrap(); // byte mode
    assert_eq!(qr.version(), 1);
    let mut buf = vec![0u8; max_text_len(QrTextStyle::Hash, 4)];
    let text = qr.render_text(QrTextStyle::Hash, 4, &mut buf).unwrap();
    assert_eq!(scan(&text_to_grid(text, QrTextStyle::Hash)), "hello, world");
    assert!(!qr.is_dark(qr.size(), 0) && !qr.is_dark(0, qr.size()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn random_payloads_scan_back(
        product in any::<u32>(),
        device in any::<u64>(),
        code in 1u32..=SetupCode::MAX,
        modes in 0u8..16,
    ) {
        prop_assume!(SetupCode::new(code).is_ok());
        let s = payload_string(product, device, code, modes);
        let qr = QrMatrix::encode(&s).unwrap();
        let mut buf = vec![0u8; max_text_len(QrTextStyle::HalfBlocks, 4)];
        let text = qr.render_text(QrTextStyle::HalfBlocks, 4, &mut buf).unwrap();
        let mut grid = text_to_grid(text, QrTextStyle::HalfBlocks);
        grid.truncate(qr.size() + 8);
        prop_assert_eq!(scan(&grid), s);
    }
}
