//! The cloud parses the device API's requests from the network and the device parses the
//! cloud's answers: arbitrary bytes never panic, and whatever decodes re-encodes to bytes that
//! decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zpair_core::activation::{
    ActivateRequest, ActivateResponse, BindPollRequest, BindPollResponse, ChallengeRequest,
    ChallengeResponse, ErrorResponse, MAX_MESSAGE_LEN,
};

macro_rules! round_trip {
    ($ty:ty, $data:expr) => {
        if let Ok(v) = <$ty>::decode($data) {
            let mut buf = [0u8; MAX_MESSAGE_LEN];
            let n = v.encode(&mut buf).expect("a decoded message re-encodes");
            assert_eq!(<$ty>::decode(&buf[..n]).expect("re-decodes"), v);
        }
    };
}

fuzz_target!(|data: &[u8]| {
    round_trip!(ChallengeRequest, data);
    round_trip!(ChallengeResponse, data);
    round_trip!(ActivateRequest, data);
    round_trip!(ActivateResponse, data);
    round_trip!(BindPollRequest, data);
    round_trip!(BindPollResponse, data);
    round_trip!(ErrorResponse, data);
});
