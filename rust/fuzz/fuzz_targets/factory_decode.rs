//! Factory data read from flash: arbitrary bytes never panic; accepted data re-encodes to the
//! same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zpair_core::factory::FactoryData;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = FactoryData::decode(data) {
        assert_eq!(&f.encode()[..], data);
    }
});
