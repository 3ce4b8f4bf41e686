//! Golden examples and targeted decoder tests. The expected bytes were produced independently
//! (Python `cbor2.dumps` of the diagnostic value shown next to each example), not by this codec.

use super::*;
use crate::types::{
    ActivationToken, Bssid, CloudEndpoint, DeviceId, Modes, Passphrase, ProductId, Security, Ssid,
    WifiCredentials,
};
use core::net::Ipv4Addr;
use std::format;
use std::vec::Vec;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn wifi(ssid: &[u8], security: Security, pass: &[u8]) -> WifiCredentials {
    WifiCredentials {
        ssid: Ssid::new(ssid).unwrap(),
        hidden: false,
        security,
        passphrase: if pass.is_empty() {
            Passphrase::none()
        } else {
            Passphrase::new(pass).unwrap()
        },
        bssid: None,
        channel: None,
    }
}

/// (name, message, expected encoding in hex). Also the fuzzing seed corpus.
pub(crate) fn golden() -> Vec<(&'static str, Message, &'static str)> {
    let typical = Provision {
        wifi: Some(wifi(b"HomeNet-24", Security::Wpa2Psk, b"correcthorse")),
        token: Some(ActivationToken::new(b"AbCdEfGh12345678").unwrap()),
        endpoint: Some(CloudEndpoint::new(b"eu", None, 0).unwrap()),
        commit_deadline_s: None,
        unix_time_s: None,
    };
    let full = Provision {
        wifi: Some(WifiCredentials {
            hidden: true,
            bssid: Some(Bssid([0x02, 0x11, 0x22, 0x33, 0x44, 0xff])),
            channel: Some(36),
            ..wifi(b"Office", Security::Wpa3Sae, b"sae-passphrase")
        }),
        token: Some(ActivationToken::new(b"tok_0123456789").unwrap()),
        endpoint: Some(CloudEndpoint::new(b"us", Some(b"cloud.example.com"), 8443).unwrap()),
        commit_deadline_s: Some(300),
        unix_time_s: Some(1_767_225_600),
    };
    let wired = Provision {
        token: Some(ActivationToken::new(b"Wired-Token_01").unwrap()),
        ..Provision::default()
    };
    let mut scan = ScanResults {
        entries: heapless::Vec::new(),
        more: true,
    };
    scan.entries
        .push(ScanEntry {
            ssid: Ssid::new(b"HomeNet-24").unwrap(),
            bssid: Bssid([0x00, 0x11, 0x22, 0x33, 0x44, 0x55]),
            rssi: -42,
            channel: 6,
            security: Some(Security::Wpa2Psk),
        })
        .unwrap();
    scan.entries
        .push(ScanEntry {
            ssid: Ssid::new(b"Corp").unwrap(),
            bssid: Bssid([0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb]),
            rssi: -80,
            channel: 36,
            security: None,
        })
        .unwrap();
    let mut steps = StepTimes::new();
    for (s, ms) in Step::ALL
        .into_iter()
        .zip([850, 12_000, 2_100, 900, 1_500, 400])
    {
        steps.set(s, ms);
    }
    let mut failed_steps = StepTimes::new();
    failed_steps.set(Step::Handshake, 850);
    failed_steps.set(Step::Link, 9_000);

    let app = |m: AppToDevice| Message::App(m);
    let dev = |m: DeviceToApp| Message::Device(m);
    std::vec![
        // [1, {}]
        ("get_device_info", app(AppToDevice::GetDeviceInfo), "8201a0"),
        // [2, {0: h'48696464656e'}]  ("Hidden")
        (
            "scan_request",
            app(AppToDevice::ScanRequest(ScanRequest { ssid: Some(Ssid::new(b"Hidden").unwrap()) })),
            "8202a1004648696464656e",
        ),
        // [2, {}]
        ("scan_request_all", app(AppToDevice::ScanRequest(ScanRequest::default())), "8202a0"),
        // [3, {0: {0: 'HomeNet-24', 1: 1, 2: "correcthorse"}, 1: "AbCdEfGh12345678", 2: {0: "eu"}}]
        (
            "provision_typical",
            app(AppToDevice::Provision(typical)),
            "8203a300a3004a486f6d654e65742d32340101026c636f7272656374686f72736501704162436445664768\
             313233343536373802a100626575",
        ),
        // [3, {0: {0: 'Office', 1: 3, 2: "sae-passphrase", 3: true, 4: h'0211223344ff', 5: 36},
        //      1: "tok_0123456789", 2: {0: "us", 1: "cloud.example.com", 2: 8443},
        //      3: 300, 4: 1767225600}]
        (
            "provision_full",
            app(AppToDevice::Provision(full)),
            "8203a500a600464f66666963650103026e7361652d7061737370687261736503f504460211223344ff05\
             1824016e746f6b5f3031323334353637383902a3006275730171636c6f75642e6578616d706c652e63\
             6f6d021920fb0319012c041a6955b900",
        ),
        // [3, {1: "Wired-Token_01"}]
        ("provision_wired", app(AppToDevice::Provision(wired)), "8203a1016e57697265642d546f6b656e5f3031"),
        // [4, {}]
        ("get_status", app(AppToDevice::GetStatus), "8204a0"),
        // [5, {}]
        ("abort", app(AppToDevice::Abort), "8205a0"),
        // [6, {0: 1}]
        ("reset_factory", app(AppToDevice::Reset(ResetKind::Factory)), "8206a10001"),
        // [7, {}]
        ("ack", app(AppToDevice::Ack), "8207a0"),
        // [17, {0: 1, 1: 4660, 2: 0x0123456789abcdef, 3: 3, 4: [1, 2, 300], 5: 0x0b0e}]
        (
            "device_info",
            dev(DeviceToApp::DeviceInfo(DeviceInfo {
                protocol_version: 1,
                product: ProductId(0x1234),
                device: DeviceId(0x0123_4567_89ab_cdef),
                modes: Modes::SOFTAP.union(Modes::BLE),
                firmware: FirmwareVersion { major: 1, minor: 2, patch: 300 },
                capabilities: Capabilities::SEC_WPA2_PSK
                    .union(Capabilities::SEC_WPA2_WPA3)
                    .union(Capabilities::SEC_WPA3_SAE)
                    .union(Capabilities::HIDDEN_SSID)
                    .union(Capabilities::BAND_5GHZ)
                    .union(Capabilities::WIFI_SCAN),
            })),
            "8211a6000101191234021b0123456789abcdef03030483010219012c05190b0e",
        ),
        // [18, {0: [{0: 'HomeNet-24', 1: h'001122334455', 2: -42, 3: 6, 4: 1},
        //           {0: 'Corp', 1: h'66778899aabb', 2: -80, 3: 36}], 1: true}]
        (
            "scan_results",
            dev(DeviceToApp::ScanResults(scan)),
            "8212a20082a5004a486f6d654e65742d3234014600112233445502382903060401a40044436f72700146\
             66778899aabb02384f03182401f5",
        ),
        // [19, {0: 4 (joining_network), 1: 0x31 (wrong_password), 2: 2, 3: 15}]
        (
            "status_typical",
            dev(DeviceToApp::Status(Status {
                state: PairState::JoiningNetwork,
                error: Some(PairError::WrongPassword),
                attempt: 2,
                detail: Some(15),
            })),
            "8213a400040118310202030f",
        ),
        // [19, {0: 7 (activated)}]
        ("status_activated", dev(DeviceToApp::Status(Status::new(PairState::Activated))), "8213a10007"),
        // [20, {0: 7, 4: {0: 850, 1: 12000, 2: 2100, 3: 900, 4: 1500, 5: 400},
        //       5: h'c0a80117', 6: "dev-42"}]
        (
            "pairing_report",
            dev(DeviceToApp::PairingReport(PairingReport {
                steps,
                ipv4: Some(Ipv4Addr::new(192, 168, 1, 23)),
                cloud_device_id: Some(CloudDeviceId::new(b"dev-42").unwrap()),
                ..PairingReport::new(PairState::Activated)
            })),
            "8214a4000704a60019035201192ee00219083403190384041905dc051901900544c0a8011706666465\
             762d3432",
        ),
        // [20, {0: 8 (rolled_back), 1: 0x31, 2: 3, 3: 15, 4: {0: 850, 2: 9000}}]
        (
            "pairing_report_failed",
            dev(DeviceToApp::PairingReport(PairingReport {
                error: Some(PairError::WrongPassword),
                attempts: 3,
                detail: Some(15),
                steps: failed_steps,
                ..PairingReport::new(PairState::RolledBack)
            })),
            "8214a500080118310203030f04a20019035202192328",
        ),
        // [21, {0: 'zpair', 1: 1, 2: 4660, 3: 0x0123456789abcdef, 4: 4 (wired), 5: 5683,
        //       6: true, 7: 1 (window_open)}]
        (
            "announce",
            dev(DeviceToApp::Announce(Announce {
                protocol_version: 1,
                product: ProductId(0x1234),
                device: DeviceId(0x0123_4567_89ab_cdef),
                modes: Modes::WIRED,
                port: 5683,
                window_open: true,
                state: PairState::WindowOpen,
            })),
            "8215a800457a70616972010102191234031b0123456789abcdef04040519163306f50701",
        ),
    ]
}

#[test]
fn golden_examples_encode_and_decode_exactly() {
    for (name, msg, expected) in golden() {
        let expected = hex(expected);
        let mut buf = [0u8; MESSAGE_MAX_LEN];
        let n = encode(&msg, &mut buf).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&buf[..n], &expected[..], "{name}: encoding");
        assert_eq!(msg.encoded_len(), n, "{name}: encoded_len");
        assert_eq!(decode(&expected).as_ref(), Ok(&msg), "{name}: decoding");
        match &msg {
            Message::App(m) => {
                assert_eq!(AppToDevice::decode(&expected).as_ref(), Ok(m), "{name}");
                assert_eq!(
                    DeviceToApp::decode(&expected),
                    Err(WireError::UnknownType(m.type_code()))
                );
                assert!(n <= APP_TO_DEVICE_MAX_LEN);
            }
            Message::Device(m) => {
                assert_eq!(DeviceToApp::decode(&expected).as_ref(), Ok(m), "{name}");
                assert_eq!(
                    AppToDevice::decode(&expected),
                    Err(WireError::UnknownType(m.type_code()))
                );
                assert!(n <= DEVICE_TO_APP_MAX_LEN);
                // The structs' own encoders produce the same message.
                let mut direct = [0u8; MESSAGE_MAX_LEN];
                let (k, len) = match m {
                    DeviceToApp::DeviceInfo(x) => (x.encode(&mut direct), x.encoded_len()),
                    DeviceToApp::ScanResults(x) => (x.encode(&mut direct), x.encoded_len()),
                    DeviceToApp::Status(x) => (x.encode(&mut direct), x.encoded_len()),
                    DeviceToApp::PairingReport(x) => (x.encode(&mut direct), x.encoded_len()),
                    DeviceToApp::Announce(x) => (x.encode(&mut direct), x.encoded_len()),
                };
                assert_eq!(k, Ok(n), "{name}");
                assert_eq!(len, n, "{name}");
                assert_eq!(&direct[..n], &expected[..], "{name}: direct encoding");
            }
        }
        // Exactly one byte too few is BufferTooSmall, and nothing is left behind.
        let mut small = std::vec![0u8; n - 1];
        assert_eq!(
            encode(&msg, &mut small),
            Err(WireError::BufferTooSmall),
            "{name}"
        );
        assert!(
            small.iter().all(|b| *b == 0),
            "{name}: partial output not wiped"
        );
    }
}

#[test]
fn typical_sizes() {
    let g = golden();
    let len = |name: &str| {
        g.iter()
            .find(|(n, _, _)| *n == name)
            .unwrap()
            .1
            .encoded_len()
    };
    // Documented in the report and docs/protocol.md.
    assert_eq!(len("provision_typical"), 57);
    assert_eq!(len("status_typical"), 12);
    assert_eq!(len("status_activated"), 5);
    assert_eq!(len("announce"), 36);
}

/// Writes the golden encodings as the fuzzer's seed corpus when `ZPAIR_WRITE_SEEDS` is set
/// (`ZPAIR_WRITE_SEEDS=1 cargo test -p zpair-core write_fuzz_seeds`).
#[test]
fn write_fuzz_seeds() {
    if std::env::var_os("ZPAIR_WRITE_SEEDS").is_none() {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/msg_decode");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, _, bytes) in golden() {
        std::fs::write(dir.join(name), hex(bytes)).unwrap();
    }
}

#[test]
fn secrets_never_in_debug() {
    let p = Provision {
        wifi: Some(wifi(b"HomeNet-24", Security::Wpa2Psk, b"hunter2hunter2")),
        token: Some(ActivationToken::new(b"SECRETtoken123").unwrap()),
        ..Provision::default()
    };
    let m = Message::App(AppToDevice::Provision(p));
    for s in [format!("{m:?}"), format!("{m:#?}")] {
        assert!(!s.contains("hunter2"), "{s}");
        assert!(!s.contains("SECRET"), "{s}");
        assert!(s.contains("HomeNet-24"), "non-secrets stay visible: {s}");
    }
}

#[test]
fn max_encoded_lengths_are_tight() {
    let ssid = Ssid::new(&[0xff; 32]).unwrap();
    let worst_wifi = WifiCredentials {
        ssid: ssid.clone(),
        hidden: true,
        security: Security::Wpa2Psk,
        passphrase: Passphrase::new(&[b'a'; 64]).unwrap(),
        bssid: Some(Bssid([0xff; 6])),
        channel: Some(233),
    };
    let worst_app = AppToDevice::Provision(Provision {
        wifi: Some(worst_wifi),
        token: Some(ActivationToken::new(&[b'z'; 32]).unwrap()),
        endpoint: Some(CloudEndpoint::new(b"eu", Some(&[b'h'; 64]), 65_535).unwrap()),
        commit_deadline_s: Some(u16::MAX),
        unix_time_s: Some(u64::MAX),
    });
    assert_eq!(worst_app.encoded_len(), APP_TO_DEVICE_MAX_LEN);

    let entry = ScanEntry {
        ssid,
        bssid: Bssid([0xff; 6]),
        rssi: i8::MIN,
        channel: 255,
        security: Some(Security::Wpa3Sae),
    };
    let mut worst_scan = ScanResults {
        entries: heapless::Vec::new(),
        more: true,
    };
    while worst_scan.entries.push(entry.clone()).is_ok() {}
    let worst_dev = DeviceToApp::ScanResults(worst_scan);
    assert_eq!(worst_dev.encoded_len(), DEVICE_TO_APP_MAX_LEN);
    assert_eq!(MESSAGE_MAX_LEN, DEVICE_TO_APP_MAX_LEN);

    let mut steps = StepTimes::new();
    for s in Step::ALL {
        steps.set(s, u32::MAX);
    }
    let worst_report = DeviceToApp::PairingReport(PairingReport {
        state: PairState::Unknown(255),
        error: Some(PairError::Unknown(255)),
        attempts: 255,
        detail: Some(u16::MAX),
        steps,
        ipv4: Some(Ipv4Addr::BROADCAST),
        cloud_device_id: Some(CloudDeviceId::new(&[b'x'; CLOUD_ID_MAX]).unwrap()),
    });
    assert_eq!(worst_report.encoded_len(), 2 + PairingReport::MAX_BODY_LEN);
    let worst_announce = Announce {
        protocol_version: 255,
        product: ProductId(u32::MAX),
        device: DeviceId(u64::MAX),
        modes: Modes::ALL,
        port: u16::MAX,
        window_open: true,
        state: PairState::Unknown(255),
    };
    assert_eq!(
        DeviceToApp::Announce(worst_announce).encoded_len(),
        Announce::MAX_ENCODED_LEN
    );
    let worst_info = DeviceToApp::DeviceInfo(DeviceInfo {
        protocol_version: 255,
        product: ProductId(u32::MAX),
        device: DeviceId(u64::MAX),
        modes: Modes::ALL,
        firmware: FirmwareVersion {
            major: 255,
            minor: 255,
            patch: u16::MAX,
        },
        capabilities: Capabilities::from_bits(u32::MAX),
    });
    assert_eq!(worst_info.encoded_len(), 2 + DeviceInfo::MAX_BODY_LEN);
    let worst_status = DeviceToApp::Status(Status {
        state: PairState::Unknown(255),
        error: Some(PairError::Unknown(255)),
        attempt: 255,
        detail: Some(u16::MAX),
    });
    assert_eq!(worst_status.encoded_len(), 2 + Status::MAX_BODY_LEN);
}

fn dec(h: &str) -> Result<Message, WireError> {
    decode(&hex(h))
}

#[test]
fn envelope_errors() {
    assert_eq!(dec(""), Err(WireError::Truncated));
    assert_eq!(dec("a0"), Err(WireError::Malformed), "not an array");
    assert_eq!(dec("8101"), Err(WireError::Malformed), "array of 1");
    assert_eq!(dec("830400a0"), Err(WireError::Malformed), "array of 3");
    assert_eq!(
        dec("9f04a0ff"),
        Err(WireError::Malformed),
        "indefinite envelope"
    );
    assert_eq!(dec("820880"), Err(WireError::UnknownType(8)));
    assert_eq!(dec("8200a0"), Err(WireError::UnknownType(0)));
    assert_eq!(dec("8218ffa0"), Err(WireError::UnknownType(0xff)));
    assert_eq!(dec("821901ffa0"), Err(WireError::Malformed), "type > 255");
    assert_eq!(dec("8220a0"), Err(WireError::Malformed), "negative type");
    assert_eq!(dec("820480"), Err(WireError::Malformed), "body not a map");
    assert_eq!(
        dec("8204bfff"),
        Err(WireError::Malformed),
        "indefinite body"
    );
    assert_eq!(dec("8204a000"), Err(WireError::TrailingBytes));
    assert_eq!(
        dec("d8188204a0"),
        Err(WireError::Malformed),
        "tagged envelope"
    );
}

#[test]
fn unknown_keys_are_skipped_known_keys_checked() {
    // GetStatus with an unknown field 9: {"x": [1, -1, h'00', null, true]}.
    assert_eq!(dec("8204a109a1617885012041"), Err(WireError::Truncated));
    assert_eq!(
        dec("8204a109a161788501204100f6f5"),
        Ok(Message::App(AppToDevice::GetStatus))
    );
    // Status with an unknown key 10 between known ones, out of order.
    assert_eq!(
        dec("8213a3020a0a61780006"),
        Ok(Message::Device(DeviceToApp::Status(Status {
            attempt: 10,
            ..Status::new(PairState::Activating)
        })))
    );
    // Duplicate key.
    assert_eq!(dec("8213a200070007"), Err(WireError::Malformed));
    // Unknown value with a tag or a float.
    assert_eq!(dec("8204a109c000"), Err(WireError::Malformed));
    assert_eq!(dec("8204a109f93c00"), Err(WireError::Malformed));
    // Missing required key (state).
    assert_eq!(dec("8213a10201"), Err(WireError::Malformed));
    // Wrong CBOR type for a known key.
    assert_eq!(dec("8213a10061"), Err(WireError::Malformed));
    // Non-shortest integers are accepted: [0x13, {0: 7}] with 7 as 0x1b 00..07.
    assert_eq!(
        dec("8213a1001b0000000000000007"),
        Ok(Message::Device(DeviceToApp::Status(Status::new(
            PairState::Activated
        ))))
    );
}

#[test]
fn forward_compatible_codes() {
    // Unknown state, unknown error: kept.
    assert_eq!(
        dec("8213a2001863011877"),
        Ok(Message::Device(DeviceToApp::Status(Status {
            state: PairState::Unknown(99),
            error: Some(PairError::Unknown(0x77)),
            ..Status::new(PairState::Idle)
        })))
    );
    // Unknown step 9 in a report: ignored. Unknown mode bits in an announcement: dropped.
    assert_eq!(
        dec("8214a2000704a200010901"),
        Ok(Message::Device(DeviceToApp::PairingReport(PairingReport {
            steps: {
                let mut s = StepTimes::new();
                s.set(Step::Handshake, 1);
                s
            },
            ..PairingReport::new(PairState::Activated)
        })))
    );
    let a = Announce::decode(&hex("8215a700457a706169720101020103010418f405010700")).unwrap();
    assert_eq!(a.modes, Modes::WIRED);
    assert!(!a.window_open);
    // Scan entry with an unknown security type: None.
    let r = dec("8212a10081a5004161014600000000000002200301041863").unwrap();
    let Message::Device(DeviceToApp::ScanResults(r)) = r else {
        panic!()
    };
    assert_eq!(r.entries[0].security, None);
    assert!(!r.more);
}

#[test]
fn precise_field_errors() {
    let inv = |e| Err(WireError::Invalid(e));
    // Provision wifi: SSID of 33 bytes.
    let long_ssid = format!("8203a100a2005821{}0100", "61".repeat(33));
    assert_eq!(dec(&long_ssid), inv(PairError::InvalidSsid));
    // Empty SSID.
    assert_eq!(dec("8203a100a200400101"), inv(PairError::InvalidSsid));
    // Unknown security code 7, and one beyond u8.
    assert_eq!(
        dec("8203a100a20041610107"),
        inv(PairError::UnsupportedSecurity)
    );
    assert_eq!(
        dec("8203a100a200416101190100"),
        inv(PairError::UnsupportedSecurity)
    );
    // Passphrase too short; present for an open network; missing for WPA2.
    assert_eq!(
        dec("8203a100a30041610101026131"),
        inv(PairError::InvalidPassphrase)
    );
    assert_eq!(
        dec("8203a100a3004161010002683132333435363738"),
        inv(PairError::InvalidPassphrase)
    );
    assert_eq!(
        dec("8203a100a20041610101"),
        inv(PairError::InvalidPassphrase)
    );
    // An empty passphrase for an open network is the same as none.
    assert!(dec("8203a100a300416101000260").is_ok());
    // Channel 0 and channel 256.
    assert_eq!(dec("8203a100a300416101000500"), inv(PairError::InvalidSsid));
    assert_eq!(
        dec("8203a100a30041610100051901ff"),
        inv(PairError::InvalidSsid)
    );
    // Token: 7 characters, and a bad character.
    assert_eq!(
        dec("8203a1016731323334353637"),
        inv(PairError::InvalidToken)
    );
    assert_eq!(
        dec("8203a101683132333435362037"),
        inv(PairError::InvalidToken)
    );
    // Endpoint: uppercase region, 3-letter region, bad host, port beyond u16.
    assert_eq!(dec("8203a102a100624555"), inv(PairError::InvalidEndpoint));
    assert_eq!(dec("8203a102a10063657578"), inv(PairError::InvalidEndpoint));
    assert_eq!(
        dec("8203a102a200626575016120"),
        inv(PairError::InvalidEndpoint)
    );
    assert_eq!(
        dec("8203a102a200626575021a00010000"),
        inv(PairError::InvalidEndpoint)
    );
    // Wrong-size BSSID and IPv4 address.
    assert_eq!(dec("8203a100a30041610100044100"), Err(WireError::Malformed));
    assert_eq!(dec("8214a200070543010203"), Err(WireError::Malformed));
    // Bad cloud device id; bad reset kind; fw version not a triple.
    assert_eq!(dec("8214a20007066120"), Err(WireError::Malformed));
    assert_eq!(dec("8206a10002"), Err(WireError::Malformed));
    assert_eq!(dec("8211a604820102"), Err(WireError::Malformed));
    // Announce with a wrong magic.
    assert_eq!(dec("8215a100457a70616973"), Err(WireError::Malformed));
}

#[test]
fn list_bounds() {
    // 17 scan entries.
    assert_eq!(dec("8212a1009100"), Err(WireError::TooLong));
    // Indefinite entry list.
    assert_eq!(dec("8212a1009fff"), Err(WireError::Malformed));
}

#[test]
fn encode_refuses_invalid_public_fields() {
    let mut w = wifi(b"net", Security::Wpa2Psk, b"password1");
    w.security = Security::Open;
    let m = AppToDevice::Provision(Provision {
        wifi: Some(w),
        ..Provision::default()
    });
    let mut buf = [0u8; APP_TO_DEVICE_MAX_LEN];
    assert_eq!(
        m.encode(&mut buf),
        Err(WireError::Invalid(PairError::InvalidPassphrase))
    );
    let mut ep = CloudEndpoint::new(b"eu", None, 0).unwrap();
    ep.region = *b"EU";
    let m = AppToDevice::Provision(Provision {
        endpoint: Some(ep),
        ..Provision::default()
    });
    assert_eq!(
        m.encode(&mut buf),
        Err(WireError::Invalid(PairError::InvalidEndpoint))
    );
}

#[test]
fn names_codes_and_helpers() {
    for code in 0u8..=255 {
        assert_eq!(PairState::from_code(code).code(), code);
    }
    assert!(PairState::Activated.is_final() && PairState::RolledBack.is_final());
    assert!(!PairState::Activating.is_final());
    for s in Step::ALL {
        assert_eq!(Step::from_code(s.code()), Some(s));
    }
    assert_eq!(
        ResetKind::from_code(ResetKind::Factory.code()),
        Some(ResetKind::Factory)
    );
    let caps = Capabilities::security(Security::Wpa3Sae).union(Capabilities::WIFI_SCAN);
    assert!(caps.supports(Security::Wpa3Sae) && !caps.supports(Security::Open));
    assert_eq!(CloudDeviceId::new(&[b'a'; CLOUD_ID_MAX + 1]), None);
    assert_eq!(CloudDeviceId::new(b""), None);
    assert_eq!(
        format!("{:?}", CloudDeviceId::new(b"dev-1").unwrap()),
        "CloudDeviceId(\"dev-1\")"
    );
    let names: Vec<_> = golden().iter().map(|(_, m, _)| m.name()).collect();
    assert!(names.contains(&"provision") && names.contains(&"announce"));
}

#[test]
fn scan_pages_fill_up_to_a_size_limit() {
    let entry = |i: u8| ScanEntry {
        ssid: Ssid::new(&[b'a' + i; 20]).unwrap(),
        bssid: Bssid([i; 6]),
        rssi: -50,
        channel: 11,
        security: Some(Security::Wpa2Psk),
    };
    let mut page = ScanResults::default();
    let mut i = 0u8;
    while page.try_push(entry(i), 128).is_ok() {
        i += 1;
    }
    // 2 (envelope) + 1 (map) + 1 + 1 (key 0, array) + n * 38 (entry) + 2 (more) <= 128.
    assert_eq!(page.entries.len(), 3);
    assert_eq!(page.entries[2], entry(2));
    page.more = true;
    assert_eq!(page.encoded_len(), 121);
    let mut buf = [0u8; 128];
    assert_eq!(page.encode(&mut buf), Ok(121));
    // A full page refuses by capacity even with room to spare.
    let mut full = ScanResults::default();
    for k in 0..SCAN_ENTRIES_MAX as u8 {
        full.try_push(entry(k), usize::MAX).unwrap();
    }
    assert_eq!(full.try_push(entry(0), usize::MAX), Err(entry(0)));
    assert_eq!(full.entries.len(), SCAN_ENTRIES_MAX);
    assert!(!full.more);
}
