//! The fuzzer's committed seed corpus (`rust/fuzz/seeds/msg_decode`) stays decodable: every
//! seed is a valid message that round-trips byte for byte.
//!
//! Regenerate the seeds from the golden examples with
//! `ZPAIR_WRITE_SEEDS=1 cargo test -p zpair-core --lib write_fuzz_seeds`.

use zpair_core::msg::{self, MESSAGE_MAX_LEN};

#[test]
fn msg_decode_seeds_are_valid_messages() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/msg_decode");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("seed directory") {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let m = msg::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut buf = [0u8; MESSAGE_MAX_LEN];
        let n = msg::encode(&m, &mut buf).unwrap();
        assert_eq!(&buf[..n], &bytes[..], "{}", path.display());
        count += 1;
    }
    assert!(count >= 10, "only {count} seeds");
}
