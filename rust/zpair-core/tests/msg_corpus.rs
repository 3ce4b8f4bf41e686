//! The fuzzer's committed inputs for `msg_decode` keep passing:
//! - `rust/fuzz/seeds/msg_decode/*`: valid messages (the golden examples) that round-trip byte
//!   for byte. Regenerate with `ZPAIR_WRITE_SEEDS=1 cargo test -p zpair-core --lib write_fuzz_seeds`.
//! - `rust/fuzz/regressions/msg_decode/*`: inputs that once crashed the fuzzer or are worth
//!   keeping (valid or not); each must pass the same checks as the fuzz target. Turning a crash
//!   into a regression test is copying the minimized input there (see `rust/fuzz/README.md`).

use std::path::{Path, PathBuf};
use zpair_core::msg::{self, Announce, AppToDevice, DeviceToApp, Message, MESSAGE_MAX_LEN};

fn inputs(kind: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(kind)
        .join("msg_decode");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

/// The fuzz target's checks (keep in sync with `rust/fuzz/fuzz_targets/msg_decode.rs`).
fn msg_decode_checks(data: &[u8]) {
    let any = msg::decode(data);
    let app = AppToDevice::decode(data);
    let dev = DeviceToApp::decode(data);
    match &any {
        Ok(Message::App(m)) => {
            assert_eq!(app.as_ref(), Ok(m));
            assert!(dev.is_err());
        }
        Ok(Message::Device(m)) => {
            assert_eq!(dev.as_ref(), Ok(m));
            assert!(app.is_err());
            let announce = Announce::decode(data);
            match m {
                DeviceToApp::Announce(a) => assert_eq!(announce, Ok(*a)),
                _ => assert!(announce.is_err()),
            }
        }
        Err(_) => assert!(app.is_err() && dev.is_err()),
    }
    let Ok(m) = any else { return };
    let mut buf = [0u8; MESSAGE_MAX_LEN];
    let n = msg::encode(&m, &mut buf).expect("a decoded message must re-encode");
    assert_eq!(n, m.encoded_len());
    let again = msg::decode(&buf[..n]).expect("a re-encoded message must decode");
    assert_eq!(again, m);
    let mut buf2 = [0u8; MESSAGE_MAX_LEN];
    let n2 = msg::encode(&again, &mut buf2).expect("re-encode");
    assert_eq!(&buf[..n], &buf2[..n2]);
}

#[test]
fn msg_decode_seeds_are_valid_messages() {
    let seeds = inputs("seeds");
    assert!(seeds.len() >= 10, "only {} seeds", seeds.len());
    for (path, bytes) in seeds {
        let m = msg::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut buf = [0u8; MESSAGE_MAX_LEN];
        let n = msg::encode(&m, &mut buf).unwrap();
        assert_eq!(&buf[..n], &bytes[..], "{}", path.display());
        msg_decode_checks(&bytes);
    }
}

#[test]
fn msg_decode_regressions_pass_the_fuzz_checks() {
    let inputs = inputs("regressions");
    assert!(!inputs.is_empty());
    for (path, bytes) in inputs {
        eprintln!("{}", path.display());
        msg_decode_checks(&bytes);
    }
}
