//! Drives every part of the core the way a device's glue does: the device engine (session,
//! messages, machine), the framings, the storage record, the setup payload, the factory data
//! and the activation client's codecs. The crypto provider does nothing: the core's budget is
//! measured without the crypto library (whose size the Zephyr footprint report shows).
use core::hint::black_box;
use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;
use zpair_core::client::{self, CloudLink};
use zpair_core::crypto::{Crypto, CryptoError, Point, Scalar};
use zpair_core::device::{Device, Identity, Output};
use zpair_core::error::PairError;
use zpair_core::factory::FactoryData;
use zpair_core::frame::{parse_datagram, GattRx, StreamDecoder};
use zpair_core::machine::{Action, Config, ConnId, Event};
use zpair_core::msg::{Capabilities, FirmwareVersion};
use zpair_core::payload;
use zpair_core::storage::{Slot, Storage, StorageError, Store};
use zpair_core::types::{CloudEndpoint, Mode};

/// A provider that fails every call: links the core's crypto call sites, not a crypto library.
struct NoCrypto;

impl Crypto for NoCrypto {
    fn fill_random(&mut self, _: &mut [u8]) -> Result<(), CryptoError> {
        Err(CryptoError::Rng)
    }
    fn sha256(&mut self, parts: &[&[u8]]) -> [u8; 32] {
        [parts.len() as u8; 32]
    }
    fn hmac_sha256(&mut self, _: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        [parts.len() as u8; 32]
    }
    fn hkdf_sha256(&mut self, _: &[u8], _: &[u8], _: &[u8], okm: &mut [u8]) -> Result<(), CryptoError> {
        okm.fill(black_box(1));
        Ok(())
    }
    fn pbkdf2_hmac_sha256(&mut self, _: &[u8], _: &[u8], _: u32, _: &mut [u8]) -> Result<(), CryptoError> {
        Err(CryptoError::Backend(0))
    }
    fn p256_mul(&mut self, k: &Scalar, _: Option<&Point>) -> Result<Point, CryptoError> {
        let mut p = [4u8; 65];
        p[1..33].copy_from_slice(k);
        Ok(black_box(p))
    }
    fn p256_add(&mut self, a: &Point, _: &Point) -> Result<Point, CryptoError> {
        Ok(black_box(*a))
    }
    fn p256_random_scalar(&mut self) -> Result<Scalar, CryptoError> {
        Ok(black_box([3; 32]))
    }
    fn p256_reduce(&mut self, _: &[u8]) -> Result<Scalar, CryptoError> {
        Err(CryptoError::BadLength)
    }
    fn aes128_ccm_seal(&mut self, _: &[u8; 16], _: &[u8; 13], _: &[u8], _: &mut [u8], tag: &mut [u8; 16]) -> Result<(), CryptoError> {
        tag.fill(black_box(0));
        Ok(())
    }
    fn aes128_ccm_open(&mut self, _: &[u8; 16], _: &[u8; 13], _: &[u8], _: &mut [u8], tag: &[u8; 16]) -> Result<(), CryptoError> {
        if black_box(tag[0]) == 0 { Ok(()) } else { Err(CryptoError::AuthFailed) }
    }
}

/// A link whose answers the compiler cannot know (the HTTP client is the platform's). It must
/// not fail unconditionally: a link that always returns `Err` lets LTO delete everything after
/// the first `post` (the activation requests' encoders, the responses' decoders, the opening of
/// the sealed secret), code that every device links.
struct NoLink;

impl CloudLink for NoLink {
    fn post(&mut self, _: Option<&CloudEndpoint>, path: &str, body: &[u8], response: &mut [u8]) -> Result<(u16, usize), PairError> {
        black_box((path, body));
        black_box(&mut *response);
        if black_box(false) {
            return Err(PairError::CloudUnreachable);
        }
        Ok((black_box(200), black_box(response.len())))
    }
}

/// A storage whose contents and answers the compiler cannot know (a device's storage is the
/// platform's: Zephyr settings on flash). It links the store's logic (records, CRC, slot
/// choice, power-cut rules) and not `RamFlash`, the core's power-cut simulator for tests,
/// which no device links.
struct NoFlash;

impl Storage for NoFlash {
    fn read(&mut self, slot: Slot, buf: &mut [u8]) -> Result<Option<usize>, StorageError> {
        black_box((slot, &mut *buf));
        if black_box(false) {
            return Err(StorageError::Io);
        }
        Ok(black_box(Some(buf.len())))
    }
    fn write(&mut self, slot: Slot, data: &[u8]) -> Result<(), StorageError> {
        black_box((slot, data));
        if black_box(false) { Err(StorageError::Io) } else { Ok(()) }
    }
    fn erase(&mut self, slot: Slot) -> Result<(), StorageError> {
        black_box(slot);
        if black_box(false) { Err(StorageError::Io) } else { Ok(()) }
    }
}

/// The engine lives in static RAM, as in a firmware image (so `.bss` shows its size).
static mut DEVICE: MaybeUninit<Device<NoCrypto>> = MaybeUninit::uninit();

pub fn run(bytes: &[u8; 512]) {
    let Ok(factory) = FactoryData::decode(&bytes[..zpair_core::factory::FACTORY_LEN]) else { return };
    let identity = Identity {
        product: factory.product,
        device: factory.device,
        modes: factory.modes,
        firmware: FirmwareVersion { major: 1, minor: 0, patch: 0 },
        capabilities: Capabilities::from_bits(0xf),
    };
    let mut store = Store::new(NoFlash);
    let persisted = store.load().into_state();
    // SAFETY: the image runs this once on one thread (it is only linked, never run); nothing
    // else refers to DEVICE, so this is the only reference to it.
    let device: &mut Device<NoCrypto> = unsafe { &mut *addr_of_mut!(DEVICE) }.write(Device::new(
        identity,
        factory.verifier.clone(),
        NoCrypto,
        Config::default(),
        persisted,
        0,
    ));

    // Transports: the framings deliver packets to the engine.
    let mut stream: StreamDecoder = StreamDecoder::new();
    let mut gatt: GattRx = GattRx::new();
    let conn = ConnId(1);
    device.app_connected(1, conn, Mode::Ble);
    let mut rest = &bytes[..];
    if let Ok(Some(packet)) = stream.feed(&mut rest) {
        black_box(device.receive(2, conn, packet).map(<[u8]>::len));
    }
    if let Ok(Some(packet)) = gatt.push(&bytes[200..240]) {
        black_box(device.receive(3, conn, packet).map(<[u8]>::len));
    }
    if let Ok(packet) = parse_datagram(&bytes[300..400]) {
        black_box(device.receive(4, conn, packet).map(<[u8]>::len));
    }
    let _ = device.handle(5, Event::NetworkFailed { error: PairError::from_code(bytes[5]) });

    // The glue's loop: transmit packets, execute actions.
    let mut token = None;
    while let Some(out) = device.poll(black_box(6)) {
        match out {
            Output::Transmit { packet, .. } => { black_box(packet.len()); }
            Output::Action(Action::Persist { state, .. }) => { black_box(store.save(state).is_ok()); }
            Output::Action(Action::StartActivation { token: t, .. }) => token = Some(t.clone()),
            Output::Action(a) => { black_box(&a); }
        }
    }
    if let Some(token) = token {
        let secret = &factory.activation_secret;
        let id = client::CloudIdentity { product: factory.product, device: factory.device, secret, firmware: (1, 0, 0) };
        let result = client::activate(device.crypto_mut(), &mut NoLink, &id, &token, None, Mode::Ble);
        let _ = device.handle(7, Event::ActivationResult(result));
    }

    // The setup payload a device with a display shows.
    if let Some(p) = factory.setup_payload() {
        let mut out = [0u8; 64];
        black_box(payload::render(&p, &mut out).map(str::len).ok());
    }
    black_box(device.next_deadline());
}
