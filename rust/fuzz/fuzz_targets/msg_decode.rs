//! Fuzzes the application message decoders (`zpair_core::msg`), both directions.
//!
//! Checks, beyond "never panics":
//! - the combined decoder and the per-direction decoders agree;
//! - anything that decodes re-encodes (within the direction's `MAX_ENCODED_LEN`, with an exact
//!   `encoded_len`) and decodes back to the same value, and that re-encoding is a fixed point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zpair_core::msg::{self, Announce, AppToDevice, DeviceToApp, Message, MESSAGE_MAX_LEN};

fuzz_target!(|data: &[u8]| {
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
    let max = match &m {
        Message::App(_) => AppToDevice::MAX_ENCODED_LEN,
        Message::Device(_) => DeviceToApp::MAX_ENCODED_LEN,
    };
    let mut buf = [0u8; MESSAGE_MAX_LEN];
    let n = msg::encode(&m, &mut buf).expect("a decoded message must re-encode");
    assert!(n <= max, "{n} > {max}");
    assert_eq!(n, m.encoded_len());
    let again = msg::decode(&buf[..n]).expect("a re-encoded message must decode");
    assert_eq!(again, m);
    let mut buf2 = [0u8; MESSAGE_MAX_LEN];
    let n2 = msg::encode(&again, &mut buf2).expect("re-encode");
    assert_eq!(&buf[..n], &buf2[..n2], "encoding is not a fixed point");
});
