//! Property tests of the record format and of `Store` under random power cuts.

mod machine_support;

use proptest::prelude::*;
use zpair_core::machine::*;
use zpair_core::storage::*;
use zpair_core::types::*;

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::SoftAp), Just(Mode::Ble), Just(Mode::Wired), Just(Mode::Cellular)]
}

fn wifi_creds() -> impl Strategy<Value = WifiCredentials> {
    let pass = prop_oneof![
        proptest::collection::vec(0x20u8..=0x7e, 8..=63),
        proptest::collection::vec(prop_oneof![b'0'..=b'9', b'a'..=b'f'], 64..=64),
    ];
    (
        proptest::collection::vec(any::<u8>(), 1..=32),
        any::<bool>(),
        0u8..4,
        pass,
        proptest::option::of(any::<[u8; 6]>()),
        proptest::option::of(1u8..=233),
    )
        .prop_map(|(ssid, hidden, sec, pass, bssid, channel)| {
            let mut security = Security::from_code(sec).unwrap();
            if security == Security::Wpa3Sae && pass.len() == 64 {
                security = Security::Wpa2Psk;
            }
            WifiCredentials {
                ssid: Ssid::new(&ssid).unwrap(),
                hidden,
                security,
                passphrase: if security == Security::Open {
                    Passphrase::none()
                } else {
                    Passphrase::new(&pass).unwrap()
                },
                bssid: bssid.map(Bssid),
                channel,
            }
        })
}

fn operational() -> impl Strategy<Value = OperationalCredentials> {
    let host_byte = prop_oneof![b'a'..=b'z', b'0'..=b'9', Just(b'.'), Just(b'-'), Just(b':')];
    (
        proptest::collection::vec(0x21u8..=0x7e, 1..=64),
        any::<[u8; 32]>(),
        (b'a'..=b'z', b'a'..=b'z'),
        proptest::option::of(proptest::collection::vec(host_byte, 1..=64)),
        any::<u16>(),
    )
        .prop_map(|(name, secret, (r0, r1), host, port)| OperationalCredentials {
            name: CloudName::new(&name).unwrap(),
            secret: DeviceSecret::new(secret),
            endpoint: CloudEndpoint::new(&[r0, r1], host.as_deref(), port).unwrap(),
        })
}

pub fn persisted_state() -> impl Strategy<Value = PersistedState> {
    (
        proptest::option::of(mode()),
        proptest::option::of(wifi_creds()),
        proptest::option::of(operational()),
        any::<bool>(),
        any::<u8>(),
    )
        .prop_map(|(mode, wifi, operational, activated, failed_attempts)| {
            let wifi = if mode.is_some_and(Mode::needs_wifi) { wifi } else { None };
            let activated = activated && mode.is_some() && operational.is_some();
            PersistedState { mode, wifi, operational, activated, failed_attempts }
        })
}

#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // test data
enum Op {
    Save(PersistedState, Option<usize>, u8),
    Erase(Option<usize>),
    FlipBit(bool, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (persisted_state(), proptest::option::of(0usize..300), 0u8..5)
            .prop_map(|(s, c, t)| Op::Save(s, c, t)),
        1 => proptest::option::of(0usize..600).prop_map(Op::Erase),
        1 => (any::<bool>(), 0usize..4000).prop_map(|(a, b)| Op::FlipBit(a, b)),
    ]
}

fn torn(t: u8) -> TornWrite {
    match t {
        0 => TornWrite::ErasedTail,
        1 => TornWrite::GarbageTail(0x9e37_79b9),
        2 => TornWrite::StaleTail,
        3 => TornWrite::Truncated,
        _ => TornWrite::GarbageTail(7),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn records_round_trip(st in persisted_state(), generation in any::<u32>()) {
        prop_assert!(st.validate().is_ok());
        let mut buf = [0u8; RECORD_MAX];
        let n = encode_record(&st, generation, &mut buf).unwrap();
        prop_assert!(n <= RECORD_MAX);
        let (g, back) = decode_record(&buf[..n]).unwrap();
        prop_assert_eq!(g, generation);
        prop_assert_eq!(back, st);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_accepted_records_are_canonical(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let _ = decode_record(&bytes);
        // the same payload in a valid frame exercises the payload decoder past the CRC
        if let Ok(st) = PersistedState::decode(&payload) {
            let mut buf = [0u8; PAYLOAD_MAX];
            let n = st.encode(&mut buf).unwrap();
            prop_assert_eq!(&buf[..n], &payload[..], "decoding is canonical");
        }
    }

    /// Random saves, erases, bit flips and power cuts, checked against an exact model.
    ///
    /// The model does not decode: it keeps the image (`encode_record`) of every record the
    /// store was asked to write. A slot holds a valid record iff its bytes are one of those
    /// images byte for byte (anything else fails the CRC-32, which catches every single-bit
    /// error), and a reboot must load the newest of them. This is what a torn write really
    /// leaves: usually garbage, but possibly a complete record (a torn write whose
    /// unprogrammed tail already held the right bytes), and what a bit flip leaves: an invalid
    /// slot, or a valid one again when a second flip undoes the first.
    ///
    /// On top of that, the contract: a save that returns `Ok` loads the new state; a save cut
    /// by the power loads the old or the new state and never touches the other slot; an
    /// interrupted erase loads the old state or nothing — never an older or a rejected state.
    #[test]
    fn store_survives_random_power_cuts(ops in proptest::collection::vec(op(), 1..25)) {
        fn bytes(f: &RamFlash, slot: Slot) -> Option<Vec<u8>> {
            f.slot(slot).map(<[u8]>::to_vec)
        }
        /// What a reboot must load: the newest slot holding a known record image (A on a tie).
        fn oracle(f: &RamFlash, images: &[(Vec<u8>, u32, PersistedState)]) -> Option<PersistedState> {
            let mut best: Option<(u32, &PersistedState)> = None;
            for slot in Slot::ALL {
                let Some(b) = f.slot(slot) else { continue };
                if let Some((_, g, st)) = images.iter().find(|(img, _, _)| img[..] == *b) {
                    if best.is_none_or(|(bg, _)| generation_newer(*g, bg)) {
                        best = Some((*g, st));
                    }
                }
            }
            best.map(|(_, st)| st.clone())
        }
        let mut flash = RamFlash::<RECORD_MAX>::new();
        let mut images: Vec<(Vec<u8>, u32, PersistedState)> = Vec::new();
        // what a reboot must read
        let mut durable: Option<PersistedState> = None;
        for op in ops {
            let mut store = Store::new(flash.clone());
            let before = store.load();
            prop_assert_eq!(&before.state, &durable);
            let mut flipped = None;
            match op {
                Op::Save(st, cut, t) => {
                    // `Store::save`'s documented policy: the slot that does not hold the
                    // newest valid record, the next generation, and that slot erased first if
                    // it is damaged.
                    let (target, generation) = match before.newest {
                        Some((s, g)) => (s.other(), g.wrapping_add(1)),
                        None => (Slot::A, 1),
                    };
                    let mut rec = [0u8; RECORD_MAX];
                    let n = encode_record(&st, generation, &mut rec).unwrap();
                    images.push((rec[..n].to_vec(), generation, st.clone()));
                    let damaged = matches!(before.slots[target.index()], SlotStatus::Invalid(_) | SlotStatus::Unreadable(_));
                    // bytes programmed or erased until the save is complete (the erase of the
                    // target clears the whole slot)
                    let needed = if damaged { RECORD_MAX + n } else { n };
                    let erases = store.storage().erase_count();
                    let untouched = bytes(store.storage(), target.other());
                    store.storage_mut().set_torn_write(torn(t));
                    if let Some(c) = cut { store.storage_mut().cut_power_after(c); }
                    let r = store.save(&st);
                    prop_assert_eq!(r.is_err(), cut.is_some_and(|c| c < needed), "only a cut before the end fails a save: {:?}", r);
                    prop_assert_eq!(store.storage().erase_count() - erases, u32::from(damaged), "a damaged target is erased first");
                    prop_assert_eq!(bytes(store.storage(), target.other()), untouched, "a save touched the other slot");
                    match r {
                        Ok(g) => {
                            prop_assert_eq!(g, generation);
                            prop_assert_eq!(store.storage().slot(target), Some(&rec[..n]));
                            durable = Some(st);
                        }
                        Err(_) => {
                            let mut f = store.storage().clone();
                            f.power_on();
                            let got = Store::new(f).load().state;
                            prop_assert!(got == durable || got.as_ref() == Some(&st), "a cut save loaded neither the old nor the new state: {:?}", got);
                            durable = got;
                        }
                    }
                }
                Op::Erase(cut) => {
                    if let Some(c) = cut { store.storage_mut().cut_power_after(c); }
                    match store.erase() {
                        Ok(()) => {
                            prop_assert!(Slot::ALL.iter().all(|s| store.storage().slot(*s).is_none()));
                            durable = None;
                        }
                        Err(_) => {
                            let mut f = store.storage().clone();
                            f.power_on();
                            let got = Store::new(f).load().state;
                            prop_assert!(got.is_none() || got == durable, "a cut erase loaded an older state: {:?}", got);
                            durable = got;
                        }
                    }
                }
                Op::FlipBit(a, bit) => {
                    let slot = if a { Slot::A } else { Slot::B };
                    if let Some(v) = store.storage_mut().slot_mut(slot) {
                        if !v.is_empty() {
                            let i = (bit / 8) % v.len();
                            v[i] ^= 1 << (bit % 8);
                            flipped = Some(slot);
                        }
                    }
                    let mut f = store.storage().clone();
                    f.power_on();
                    durable = Store::new(f).load().state;
                }
            }
            flash = store.into_inner();
            flash.power_on();
            let after = Store::new(flash.clone()).load();
            prop_assert_eq!(&after.state, &durable);
            prop_assert_eq!(&after.state, &oracle(&flash, &images), "slots: {:?}", after.slots);
            if let Some(s) = flipped {
                if matches!(before.slots[s.index()], SlotStatus::Valid { .. }) {
                    prop_assert!(matches!(after.slots[s.index()], SlotStatus::Invalid(_)), "flip not detected: {:?}", after.slots);
                }
            }
        }
    }
}
