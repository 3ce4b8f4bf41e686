//! Property tests of the message codec: strategies for every message, round trips, arbitrary
//! and mutated input, truncations, oversized fields and secret redaction.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use std::net::Ipv4Addr;
use zpair_core::error::{PairError, WireError};
use zpair_core::msg::{
    self, Announce, AppToDevice, Capabilities, CloudDeviceId, DeviceInfo, DeviceToApp,
    FirmwareVersion, Message, PairState, PairingReport, Provision, ResetKind, ScanEntry,
    ScanRequest, ScanResults, Status, Step, StepTimes, APP_TO_DEVICE_MAX_LEN,
    DEVICE_TO_APP_MAX_LEN, MESSAGE_MAX_LEN, SCAN_ENTRIES_MAX,
};
use zpair_core::types::{
    ActivationToken, Bssid, CloudEndpoint, DeviceId, Modes, Passphrase, ProductId, Security, Ssid,
    WifiCredentials,
};

// ---------------------------------------------------------------------------------------------
// Strategies

fn ssid() -> impl Strategy<Value = Ssid> {
    vec(any::<u8>(), 1..=32).prop_map(|v| Ssid::new(&v).unwrap())
}

fn security() -> impl Strategy<Value = Security> {
    (0u8..4).prop_map(|c| Security::from_code(c).unwrap())
}

fn bssid() -> impl Strategy<Value = Bssid> {
    any::<[u8; 6]>().prop_map(Bssid)
}

fn wifi() -> impl Strategy<Value = WifiCredentials> {
    let pass = prop_oneof!["[ -~]{8,63}", "[0-9a-fA-F]{64}"];
    (
        ssid(),
        any::<bool>(),
        security(),
        pass,
        option::of(bssid()),
        option::of(1u8..=233),
    )
        .prop_map(|(ssid, hidden, security, mut pass, bssid, channel)| {
            if security == Security::Wpa3Sae && pass.len() == 64 {
                pass.truncate(63);
            }
            let passphrase = match security {
                Security::Open => Passphrase::none(),
                _ => Passphrase::new(pass.as_bytes()).unwrap(),
            };
            WifiCredentials {
                ssid,
                hidden,
                security,
                passphrase,
                bssid,
                channel,
            }
        })
}

fn token() -> impl Strategy<Value = ActivationToken> {
    "[A-Za-z0-9_-]{8,32}".prop_map(|s| ActivationToken::new(s.as_bytes()).unwrap())
}

fn endpoint() -> impl Strategy<Value = CloudEndpoint> {
    (
        "[a-z]{2}",
        option::of("[A-Za-z0-9.:\\[\\]-]{1,64}"),
        any::<u16>(),
    )
        .prop_map(|(r, h, p)| {
            CloudEndpoint::new(r.as_bytes(), h.as_ref().map(|h| h.as_bytes()), p).unwrap()
        })
}

fn provision() -> impl Strategy<Value = Provision> {
    (
        option::of(wifi()),
        option::of(token()),
        option::of(endpoint()),
        option::of(any::<u16>()),
        option::of(any::<u64>()),
    )
        .prop_map(
            |(wifi, token, endpoint, commit_deadline_s, unix_time_s)| Provision {
                wifi,
                token,
                endpoint,
                commit_deadline_s,
                unix_time_s,
            },
        )
}

fn app_to_device() -> impl Strategy<Value = AppToDevice> {
    prop_oneof![
        Just(AppToDevice::GetDeviceInfo),
        option::of(ssid()).prop_map(|ssid| AppToDevice::ScanRequest(ScanRequest { ssid })),
        provision().prop_map(AppToDevice::Provision),
        Just(AppToDevice::GetStatus),
        Just(AppToDevice::Abort),
        prop_oneof![Just(ResetKind::NetworkOnly), Just(ResetKind::Factory)]
            .prop_map(AppToDevice::Reset),
        Just(AppToDevice::Ack),
    ]
}

fn modes() -> impl Strategy<Value = Modes> {
    (0u8..16).prop_map(|b| Modes::from_bits(b).unwrap())
}

fn state() -> impl Strategy<Value = PairState> {
    any::<u8>().prop_map(PairState::from_code)
}

fn error() -> impl Strategy<Value = Option<PairError>> {
    option::of(any::<u8>().prop_map(PairError::from_code))
}

fn device_info() -> impl Strategy<Value = DeviceInfo> {
    (
        any::<u8>(),
        any::<u32>(),
        any::<u64>(),
        modes(),
        any::<(u8, u8, u16)>(),
        any::<u32>(),
    )
        .prop_map(|(v, p, d, modes, (major, minor, patch), caps)| DeviceInfo {
            protocol_version: v,
            product: ProductId(p),
            device: DeviceId(d),
            modes,
            firmware: FirmwareVersion {
                major,
                minor,
                patch,
            },
            capabilities: Capabilities::from_bits(caps),
        })
}

fn scan_entry() -> impl Strategy<Value = ScanEntry> {
    (
        ssid(),
        bssid(),
        any::<i8>(),
        any::<u8>(),
        option::of(security()),
    )
        .prop_map(|(ssid, bssid, rssi, channel, security)| ScanEntry {
            ssid,
            bssid,
            rssi,
            channel,
            security,
        })
}

fn scan_results() -> impl Strategy<Value = ScanResults> {
    (vec(scan_entry(), 0..=SCAN_ENTRIES_MAX), any::<bool>()).prop_map(|(e, more)| ScanResults {
        entries: heapless::Vec::from_slice(&e).unwrap(),
        more,
    })
}

fn status() -> impl Strategy<Value = Status> {
    (state(), error(), any::<u8>(), option::of(any::<u16>())).prop_map(
        |(state, error, attempt, detail)| Status {
            state,
            error,
            attempt,
            detail,
        },
    )
}

fn report() -> impl Strategy<Value = PairingReport> {
    (
        (state(), error(), any::<u8>(), option::of(any::<u16>())),
        any::<[Option<u32>; 6]>(),
        option::of(any::<[u8; 4]>().prop_map(Ipv4Addr::from)),
        option::of("[A-Za-z0-9._:-]{1,64}".prop_map(|s| CloudDeviceId::new(s.as_bytes()).unwrap())),
    )
        .prop_map(
            |((state, error, attempts, detail), times, ipv4, cloud_device_id)| {
                let mut steps = StepTimes::new();
                for (s, t) in Step::ALL.into_iter().zip(times) {
                    if let Some(ms) = t {
                        steps.set(s, ms);
                    }
                }
                PairingReport {
                    state,
                    error,
                    attempts,
                    detail,
                    steps,
                    ipv4,
                    cloud_device_id,
                }
            },
        )
}

fn announce() -> impl Strategy<Value = Announce> {
    (
        any::<u8>(),
        any::<u32>(),
        any::<u64>(),
        modes(),
        any::<u16>(),
        any::<bool>(),
        state(),
    )
        .prop_map(|(v, p, d, modes, port, window_open, state)| Announce {
            protocol_version: v,
            product: ProductId(p),
            device: DeviceId(d),
            modes,
            port,
            window_open,
            state,
        })
}

fn device_to_app() -> impl Strategy<Value = DeviceToApp> {
    prop_oneof![
        device_info().prop_map(DeviceToApp::DeviceInfo),
        scan_results().prop_map(DeviceToApp::ScanResults),
        status().prop_map(DeviceToApp::Status),
        report().prop_map(DeviceToApp::PairingReport),
        announce().prop_map(DeviceToApp::Announce),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        app_to_device().prop_map(Message::App),
        device_to_app().prop_map(Message::Device)
    ]
}

fn encoded(m: &Message) -> Vec<u8> {
    let mut buf = [0u8; MESSAGE_MAX_LEN];
    let n = msg::encode(m, &mut buf).unwrap();
    buf[..n].to_vec()
}

/// Anything that decodes must re-encode and decode to the same value.
fn check_consistent(bytes: &[u8]) {
    let any = msg::decode(bytes);
    let app = AppToDevice::decode(bytes);
    let dev = DeviceToApp::decode(bytes);
    match &any {
        Ok(Message::App(m)) => assert_eq!(app.as_ref(), Ok(m)),
        Ok(Message::Device(m)) => assert_eq!(dev.as_ref(), Ok(m)),
        Err(_) => assert!(app.is_err() && dev.is_err()),
    }
    if let Ok(m) = any {
        let again = encoded(&m);
        assert_eq!(msg::decode(&again), Ok(m));
    }
}

// ---------------------------------------------------------------------------------------------
// Raw CBOR for hand-made invalid input

fn head(major: u8, n: u64) -> Vec<u8> {
    let m = major << 5;
    match n {
        0..=23 => vec![m | n as u8],
        24..=0xff => vec![m | 24, n as u8],
        0x100..=0xffff => [&[m | 25][..], &(n as u16).to_be_bytes()].concat(),
        _ => [&[m | 26][..], &(n as u32).to_be_bytes()].concat(),
    }
}

fn bstr(b: &[u8]) -> Vec<u8> {
    [head(2, b.len() as u64), b.to_vec()].concat()
}

fn tstr(s: &[u8]) -> Vec<u8> {
    [head(3, s.len() as u64), s.to_vec()].concat()
}

/// `[ty, {k: v, ...}]` from already-encoded values.
fn message_bytes(ty: u8, fields: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0x82, ty];
    out.extend(head(5, fields.len() as u64));
    for (k, v) in fields {
        out.push(*k);
        out.extend_from_slice(v);
    }
    out
}

fn map_bytes(fields: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = head(5, fields.len() as u64);
    for (k, v) in fields {
        out.push(*k);
        out.extend_from_slice(v);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn app_to_device_round_trips(m in app_to_device()) {
        let mut buf = [0u8; APP_TO_DEVICE_MAX_LEN];
        let n = m.encode(&mut buf).unwrap();
        prop_assert_eq!(n, m.encoded_len());
        prop_assert_eq!(AppToDevice::decode(&buf[..n]), Ok(m.clone()));
        prop_assert_eq!(msg::decode(&buf[..n]), Ok(Message::App(m)));
    }

    #[test]
    fn device_to_app_round_trips(m in device_to_app()) {
        let mut buf = [0u8; DEVICE_TO_APP_MAX_LEN];
        let n = m.encode(&mut buf).unwrap();
        prop_assert_eq!(n, m.encoded_len());
        prop_assert_eq!(DeviceToApp::decode(&buf[..n]), Ok(m.clone()));
        if let DeviceToApp::Announce(a) = &m {
            prop_assert!(n <= Announce::MAX_ENCODED_LEN);
            prop_assert_eq!(Announce::decode(&buf[..n]), Ok(*a));
        }
        prop_assert_eq!(msg::decode(&buf[..n]), Ok(Message::Device(m)));
    }

    #[test]
    fn every_truncation_is_truncated(m in message()) {
        let bytes = encoded(&m);
        for len in 0..bytes.len() {
            prop_assert_eq!(msg::decode(&bytes[..len]), Err(WireError::Truncated), "prefix {}", len);
        }
    }

    #[test]
    fn too_small_buffers_are_refused_and_wiped(m in message(), cut in 1usize..8) {
        let n = m.encoded_len();
        let mut buf = vec![0u8; n.saturating_sub(cut)];
        prop_assert_eq!(m.encode(&mut buf), Err(WireError::BufferTooSmall));
        prop_assert!(buf.iter().all(|b| *b == 0));
    }

    #[test]
    fn trailing_bytes_are_rejected(m in message(), extra in vec(any::<u8>(), 1..8)) {
        let mut bytes = encoded(&m);
        bytes.extend_from_slice(&extra);
        prop_assert_eq!(msg::decode(&bytes), Err(WireError::TrailingBytes));
    }

    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..600)) {
        check_consistent(&bytes);
    }

    #[test]
    fn random_envelopes_never_panic(ty in 0u8..0x18, body in vec(any::<u8>(), 0..300)) {
        // Start with a valid envelope header so the body decoders are exercised.
        let bytes = [&[0x82, ty][..], &body].concat();
        check_consistent(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(
        m in message(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = encoded(&m);
        for (i, b) in edits {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        check_consistent(&bytes);
    }

    #[test]
    fn oversized_ssid_is_invalid_ssid(len in 33usize..300) {
        let s = vec![b'n'; len];
        let scan = message_bytes(0x02, &[(0, bstr(&s))]);
        prop_assert_eq!(msg::decode(&scan), Err(WireError::Invalid(PairError::InvalidSsid)));
        let wifi = map_bytes(&[(0, bstr(&s)), (1, vec![0])]);
        let prov = message_bytes(0x03, &[(0, wifi)]);
        prop_assert_eq!(msg::decode(&prov), Err(WireError::Invalid(PairError::InvalidSsid)));
        let entry = map_bytes(&[(0, bstr(&s)), (1, bstr(&[0; 6])), (2, vec![0]), (3, vec![1])]);
        let results = message_bytes(0x12, &[(0, [vec![0x81], entry].concat())]);
        prop_assert_eq!(msg::decode(&results), Err(WireError::Invalid(PairError::InvalidSsid)));
    }

    #[test]
    fn oversized_passphrase_is_invalid_passphrase(len in 65usize..300) {
        let wifi = map_bytes(&[(0, bstr(b"net")), (1, vec![1]), (2, tstr(&vec![b'a'; len]))]);
        let prov = message_bytes(0x03, &[(0, wifi)]);
        prop_assert_eq!(msg::decode(&prov), Err(WireError::Invalid(PairError::InvalidPassphrase)));
    }

    #[test]
    fn oversized_token_is_invalid_token(len in 33usize..300) {
        let prov = message_bytes(0x03, &[(1, tstr(&vec![b'T'; len]))]);
        prop_assert_eq!(msg::decode(&prov), Err(WireError::Invalid(PairError::InvalidToken)));
    }

    #[test]
    fn oversized_host_or_region_is_invalid_endpoint(len in 65usize..300, rlen in 3usize..40) {
        let ep = map_bytes(&[(0, tstr(b"eu")), (1, tstr(&vec![b'h'; len]))]);
        let prov = message_bytes(0x03, &[(2, ep)]);
        prop_assert_eq!(msg::decode(&prov), Err(WireError::Invalid(PairError::InvalidEndpoint)));
        let ep = map_bytes(&[(0, tstr(&vec![b'e'; rlen]))]);
        let prov = message_bytes(0x03, &[(2, ep)]);
        prop_assert_eq!(msg::decode(&prov), Err(WireError::Invalid(PairError::InvalidEndpoint)));
    }

    #[test]
    fn oversized_lists_and_ids_are_rejected(n in (SCAN_ENTRIES_MAX as u64 + 1)..1000, len in 65usize..300) {
        let results = message_bytes(0x12, &[(0, head(4, n))]);
        prop_assert_eq!(msg::decode(&results), Err(WireError::TooLong));
        let report = message_bytes(0x14, &[(0, vec![7]), (6, tstr(&vec![b'i'; len]))]);
        prop_assert_eq!(msg::decode(&report), Err(WireError::Malformed));
    }

    #[test]
    fn secrets_never_in_debug(pass in "[A-Za-z0-9]{12,63}", tok in "[A-Za-z0-9]{12,32}") {
        let p = Provision {
            wifi: Some(WifiCredentials {
                ssid: Ssid::new(b"net").unwrap(),
                hidden: false,
                security: Security::Wpa2Psk,
                passphrase: Passphrase::new(pass.as_bytes()).unwrap(),
                bssid: None,
                channel: None,
            }),
            token: Some(ActivationToken::new(tok.as_bytes()).unwrap()),
            ..Provision::default()
        };
        let m = Message::App(AppToDevice::Provision(p));
        for s in [format!("{m:?}"), format!("{m:#?}")] {
            prop_assert!(!s.contains(&pass));
            prop_assert!(!s.contains(&tok));
        }
        // And it decodes to something equally discreet.
        let back = msg::decode(&encoded(&m)).unwrap();
        let shown = format!("{back:?}");
        prop_assert!(!shown.contains(&pass));
    }
}
