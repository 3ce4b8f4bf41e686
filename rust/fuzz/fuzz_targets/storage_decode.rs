//! Fuzzes the persisted-state record decoder and `Store::load` over arbitrary slot contents.
//!
//! Checks: no panic on any input; every accepted record or payload re-encodes to exactly the
//! same bytes (the format is canonical); whatever the slots hold, a save afterwards is read
//! back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zpair_core::machine::PersistedState;
use zpair_core::storage::{
    check_record, decode_record, encode_record, RamFlash, Slot, Store, PAYLOAD_MAX, RECORD_MAX,
};

fuzz_target!(|data: &[u8]| {
    // 1. the whole input as one record
    let _ = check_record(data);
    if let Ok((generation, state)) = decode_record(data) {
        let mut buf = [0u8; RECORD_MAX];
        let n = encode_record(&state, generation, &mut buf).expect("a decoded state re-encodes");
        assert_eq!(&buf[..n], data, "records are canonical");
    }

    // 2. the whole input as a payload (past the CRC check)
    if let Ok(state) = PersistedState::decode(data) {
        let mut buf = [0u8; PAYLOAD_MAX];
        let n = state.encode(&mut buf).expect("a decoded payload re-encodes");
        assert_eq!(&buf[..n], data, "payloads are canonical");
    }

    // 3. the input split over the two slots, then load and save
    let split = usize::from(data.first().copied().unwrap_or(0)) % (data.len() + 1);
    let (a, b) = data.split_at(split);
    let mut flash = RamFlash::<RECORD_MAX>::new();
    let _ = flash.set_slot(Slot::A, (!a.is_empty()).then_some(&a[..a.len().min(RECORD_MAX)]));
    let _ = flash.set_slot(Slot::B, (!b.is_empty()).then_some(&b[..b.len().min(RECORD_MAX)]));
    let mut store = Store::new(flash);
    let loaded = store.load();
    if let Some(state) = &loaded.state {
        assert!(state.validate().is_ok());
    }
    if loaded.is_corrupt() {
        assert!(loaded.state.is_none() && loaded.has_damage());
    }
    let next = PersistedState { failed_attempts: 1, ..PersistedState::default() };
    store.save(&next).expect("a healthy flash accepts a save");
    assert_eq!(Store::new(store.into_inner()).load().state, Some(next));
});
