//! Round trips and bytes per pairing.
//!
//! zpair's figures are **measured**: the device engine ([`zpair_core::device::Device`]) and
//! the app session run a whole pairing (connect → credentials → joining network → activating →
//! activated) through the real framing of each mode (GATT fragments, the TCP length prefix, the
//! UDP datagram header), and every byte handed to the link is counted.
//!
//! ESP-IDF security 2 and Matter are **computed** from their published message formats: the
//! messages are encoded here byte for byte (protobuf for ESP-IDF, Matter TLV for Matter) with
//! the field values of the same scenario (SSID of 10 bytes, passphrase of 12), then carried over
//! a model of their BLE transports. The sources of every format are cited where it is encoded.
//!
//! # The ATT model (BLE, every system alike)
//!
//! Every ATT PDU in both directions is counted, opcode and handle included: Write Request
//! `3 + n` and its Write Response `1`; a value longer than `MTU - 3` is written with Prepare
//! Write Requests of `5 + c` bytes (`c <= MTU - 5`), each echoed by a Prepare Write Response of
//! the same size, then Execute Write Request `2` / Response `1`; Read Request `3` / Read Response
//! `1 + c` (`c <= MTU - 1`), continued by Read Blob Request `5` / Response `1 + c` while the
//! previous chunk was full; Handle Value Notification `3 + n`; Handle Value Indication `3 + n`
//! and its Confirmation `1`; subscribing to notifications or indications is a Client
//! Characteristic Configuration write (`5` + `1`). The ATT MTU exchange and service discovery
//! are the same for every system and left out.

use std::fmt;

use zpair_core::device::{Device, Identity, Output};
use zpair_core::frame::{encode_stream, parse_datagram, write_datagram, GattRx, GattTx, StreamDecoder};
use zpair_core::machine::{Action, CloudName, Config, ConnId, DeviceSecret, Event, OperationalCredentials};
use zpair_core::msg::{AppToDevice, Capabilities, DeviceToApp, FirmwareVersion, PairState, Provision};
use zpair_core::session::AppSession;
use zpair_core::spake2plus::Verifier;
use zpair_core::types::{
    ActivationToken, CloudEndpoint, Mode, Modes, Passphrase, ProductId, Security, SetupCode, Ssid,
    WifiCredentials,
};
use zpair_mbedtls::{MbedTls, OsEntropy};

use crate::handshake::{DEVICE, SETUP_CODE};

/// The scenario's SSID (10 bytes).
pub const SSID: &[u8] = b"HomeNet-24";
/// The scenario's passphrase (12 bytes).
pub const PASSPHRASE: &[u8] = b"correct-pass";
/// The scenario's activation token (16 bytes).
pub const TOKEN: &[u8] = b"tok-0123456789ab";

/// Who sent a flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Phone / commissioner to device.
    ToDevice,
    /// Device to phone / commissioner.
    ToApp,
}

impl fmt::Display for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dir::ToDevice => "app → device",
            Dir::ToApp => "device → app",
        })
    }
}

/// One message and what it cost on the link.
#[derive(Debug, Clone)]
pub struct Flight {
    /// Direction.
    pub dir: Dir,
    /// What it is.
    pub what: String,
    /// The message's own bytes (packet, protobuf message, Matter message).
    pub message: usize,
    /// Bytes at the link's counting level ([`Flow::level`]).
    pub wire: usize,
    /// Link PDUs it took (ATT PDUs for BLE, segments/datagrams otherwise).
    pub pdus: usize,
}

/// A whole pairing on one link.
#[derive(Debug, Clone)]
pub struct Flow {
    /// System and mode.
    pub system: String,
    /// The link.
    pub link: String,
    /// What [`Flight::wire`] counts.
    pub level: String,
    /// Application round trips from connect to "credentials accepted".
    pub round_trips: usize,
    /// Whether the figures are measured through real code or computed from formats.
    pub measured: bool,
    /// Every flight, in order.
    pub flights: Vec<Flight>,
}

impl Flow {
    /// Sum of message bytes.
    pub fn message_bytes(&self) -> usize {
        self.flights.iter().map(|f| f.message).sum()
    }
    /// Sum of bytes at the link's level.
    pub fn wire_bytes(&self) -> usize {
        self.flights.iter().map(|f| f.wire).sum()
    }
    /// Sum of link PDUs.
    pub fn pdus(&self) -> usize {
        self.flights.iter().map(|f| f.pdus).sum()
    }
}

// ---------------------------------------------------------------------------------------
// The ATT model
// ---------------------------------------------------------------------------------------

/// Bytes and PDUs of one ATT exchange.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Att {
    /// Bytes of every PDU, both directions.
    pub bytes: usize,
    /// Number of PDUs.
    pub pdus: usize,
}

impl core::ops::Add for Att {
    type Output = Att;
    fn add(self, o: Att) -> Att {
        Att { bytes: self.bytes + o.bytes, pdus: self.pdus + o.pdus }
    }
}

/// A characteristic write with response of `len` bytes (a long write when it does not fit).
pub fn att_write(len: usize, mtu: u16) -> Att {
    let mtu = usize::from(mtu);
    if len <= mtu - 3 {
        return Att { bytes: 3 + len + 1, pdus: 2 };
    }
    let chunk = mtu - 5;
    let mut att = Att::default();
    let mut left = len;
    while left > 0 {
        let c = left.min(chunk);
        att = att + Att { bytes: 2 * (5 + c), pdus: 2 }; // Prepare Write Request + echo
        left -= c;
    }
    att + Att { bytes: 2 + 1, pdus: 2 } // Execute Write Request + Response
}

/// A characteristic read of a `len`-byte value (Read, then Read Blob while chunks are full).
pub fn att_read(len: usize, mtu: u16) -> Att {
    let chunk = usize::from(mtu) - 1;
    let first = len.min(chunk);
    let mut att = Att { bytes: 3 + 1 + first, pdus: 2 };
    let mut done = first;
    let mut last_full = first == chunk;
    while last_full {
        let c = (len - done).min(chunk);
        att = att + Att { bytes: 5 + 1 + c, pdus: 2 };
        done += c;
        last_full = c == chunk;
    }
    att
}

/// A notification carrying `len` bytes.
pub fn att_notify(len: usize) -> Att {
    Att { bytes: 3 + len, pdus: 1 }
}

/// An indication carrying `len` bytes, and its confirmation.
pub fn att_indicate(len: usize) -> Att {
    Att { bytes: 3 + len + 1, pdus: 2 }
}

/// Enabling notifications or indications (CCCD write with response).
pub fn att_subscribe() -> Att {
    att_write(2, 23)
}

// ---------------------------------------------------------------------------------------
// zpair, measured through the device engine
// ---------------------------------------------------------------------------------------

/// A zpair link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// BLE GATT at an ATT MTU.
    Ble(u16),
    /// SoftAP, TCP.
    Tcp,
    /// Wired, UDP.
    Udp,
}

impl Link {
    fn mode(self) -> Mode {
        match self {
            Link::Ble(_) => Mode::Ble,
            Link::Tcp => Mode::SoftAp,
            Link::Udp => Mode::Wired,
        }
    }
}

/// Carries packets over a link in both directions through the real framing, counting.
struct Carrier {
    link: Link,
    app_tx: GattTx,
    dev_tx: GattTx,
    app_rx: GattRx,
    dev_rx: GattRx,
    app_stream: StreamDecoder,
    dev_stream: StreamDecoder,
}

impl Carrier {
    fn new(link: Link) -> Result<Self, String> {
        let mut c = Carrier {
            link,
            app_tx: GattTx::new(),
            dev_tx: GattTx::new(),
            app_rx: GattRx::new(),
            dev_rx: GattRx::new(),
            app_stream: StreamDecoder::new(),
            dev_stream: StreamDecoder::new(),
        };
        if let Link::Ble(mtu) = link {
            c.app_rx.set_mtu(mtu).map_err(|e| format!("{e:?}"))?;
            c.dev_rx.set_mtu(mtu).map_err(|e| format!("{e:?}"))?;
        }
        Ok(c)
    }

    /// Carries `packet`; returns the packet as received, the link bytes and the link PDUs.
    fn carry(&mut self, dir: Dir, packet: &[u8]) -> Result<(Vec<u8>, usize, usize), String> {
        let err = |e: zpair_core::frame::FrameError| format!("framing: {e:?}");
        match self.link {
            Link::Ble(mtu) => {
                let (tx, rx) = match dir {
                    Dir::ToDevice => (&mut self.app_tx, &mut self.dev_rx),
                    Dir::ToApp => (&mut self.dev_tx, &mut self.app_rx),
                };
                let mut frag = tx.fragment(packet, mtu).map_err(err)?;
                let mut buf = [0u8; 517];
                let mut att = Att::default();
                let mut out = None;
                while let Some(f) = frag.next_fragment(&mut buf).map_err(err)? {
                    att = att
                        + match dir {
                            Dir::ToDevice => att_write(f.len(), mtu),
                            Dir::ToApp => att_notify(f.len()),
                        };
                    if let Some(p) = rx.push(f).map_err(err)? {
                        out = Some(p.to_vec());
                    }
                }
                Ok((out.ok_or("GATT: packet not reassembled")?, att.bytes, att.pdus))
            }
            Link::Tcp => {
                let mut buf = [0u8; 600];
                let bytes = encode_stream(packet, &mut buf).map_err(err)?.to_vec();
                let dec = match dir {
                    Dir::ToDevice => &mut self.dev_stream,
                    Dir::ToApp => &mut self.app_stream,
                };
                let mut input = &bytes[..];
                let p = dec.feed(&mut input).map_err(err)?.ok_or("TCP: packet not decoded")?.to_vec();
                Ok((p, bytes.len(), 1))
            }
            Link::Udp => {
                let mut buf = [0u8; 600];
                let d = write_datagram(packet, &mut buf).map_err(err)?;
                Ok((parse_datagram(d).map_err(err)?.to_vec(), d.len(), 1))
            }
        }
    }
}

fn dbg<E: fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

fn provision(mode: Mode) -> Result<Vec<u8>, String> {
    let wifi = if mode == Mode::Wired {
        None
    } else {
        Some(WifiCredentials {
            ssid: Ssid::new(SSID).map_err(dbg)?,
            hidden: false,
            security: Security::Wpa2Psk,
            passphrase: Passphrase::new(PASSPHRASE).map_err(dbg)?,
            bssid: None,
            channel: None,
        })
    };
    let msg = AppToDevice::Provision(Provision {
        wifi,
        token: Some(ActivationToken::new(TOKEN).map_err(dbg)?),
        endpoint: Some(CloudEndpoint::new(b"eu", None, 0).map_err(dbg)?),
        commit_deadline_s: None,
        unix_time_s: None,
    });
    let mut buf = [0u8; 512];
    let n = msg.encode(&mut buf).map_err(|e| format!("{e:?}"))?;
    Ok(buf[..n].to_vec())
}

fn state_name(s: PairState) -> &'static str {
    match s {
        PairState::JoiningNetwork => "joining_network",
        PairState::Activating => "activating",
        PairState::Activated => "activated",
        PairState::SessionOpen => "session_open",
        PairState::WindowOpen => "window_open",
        _ => "other",
    }
}

type Dev = Device<MbedTls<OsEntropy>>;
const APP: ConnId = ConnId(1);

/// Drains the device: the packets it sends the app (actions are answered by the caller).
fn drain(dev: &mut Dev, now: u64) -> Result<Vec<Vec<u8>>, String> {
    let mut out = vec![];
    while let Some(o) = dev.poll(now) {
        match o {
            Output::Transmit { packet, .. } => out.push(packet.to_vec()),
            Output::Action(Action::ReportFailed(e)) => return Err(format!("pairing failed: {e}")),
            Output::Action(_) => {}
        }
    }
    Ok(out)
}

/// zpair's whole pairing on `link`, measured.
pub fn zpair_flow(link: Link) -> Result<Flow, String> {
    let mode = link.mode();
    let mut crypto = MbedTls::os();
    let code = SetupCode::new(SETUP_CODE).map_err(dbg)?;
    let verifier = Verifier::for_setup_code(&mut crypto, &code, DEVICE).map_err(|e| e.to_string())?;
    let identity = Identity {
        product: ProductId(0x5a50),
        device: DEVICE,
        modes: Modes::ALL,
        firmware: FirmwareVersion { major: 1, minor: 2, patch: 3 },
        capabilities: Capabilities::from_bits(0b1111),
    };
    let mut dev: Dev = Device::new(identity, verifier, crypto, Config::default(), None, 0);
    drain(&mut dev, 0)?;
    let mut app = AppSession::new(MbedTls::os());
    let mut carrier = Carrier::new(link)?;
    let mut flights = vec![];
    if let Link::Ble(_) = link {
        let s = att_subscribe();
        flights.push(Flight { dir: Dir::ToDevice, what: "subscribe to notifications (CCCD)".into(), message: 0, wire: s.bytes, pdus: s.pdus });
    }
    dev.app_connected(10, APP, mode);
    drain(&mut dev, 10)?;

    let mut buf = [0u8; 600];
    let mut round_trips = 0;
    // Round trip 1: PairRequest -> PairResponse.
    let n = app.start_with_setup_code(&code, DEVICE, mode, &mut buf).map_err(|e| e.to_string())?;
    let (req, w, p) = carrier.carry(Dir::ToDevice, &buf[..n])?;
    flights.push(Flight { dir: Dir::ToDevice, what: "PairRequest".into(), message: n, wire: w, pdus: p });
    round_trips += 1;
    let resp = dev.receive(20, APP, &req).ok_or("no PairResponse")?.to_vec();
    let (resp, w, p) = carrier.carry(Dir::ToApp, &resp)?;
    flights.push(Flight { dir: Dir::ToApp, what: "PairResponse".into(), message: resp.len(), wire: w, pdus: p });

    // Round trip 2: PairConfirm carrying Provision -> the first status.
    let prov = provision(mode)?;
    let n = app.handle_pair_response(&resp, Some(&prov), &mut buf).map_err(|e| e.to_string())?;
    let (confirm, w, p) = carrier.carry(Dir::ToDevice, &buf[..n])?;
    flights.push(Flight { dir: Dir::ToDevice, what: format!("PairConfirm + Provision ({} B)", prov.len()), message: n, wire: w, pdus: p });
    round_trips += 1;
    if dev.receive(30, APP, &confirm).is_some() {
        return Err("unexpected immediate reply to PairConfirm".into());
    }
    let mut to_app = drain(&mut dev, 30)?;
    dev.handle(40, Event::NetworkUp { ip: std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 1, 50)) })
        .map_err(dbg)?;
    to_app.extend(drain(&mut dev, 40)?);
    let creds = OperationalCredentials {
        name: CloudName::new(b"dev-1").map_err(dbg)?,
        secret: DeviceSecret::new([7; 32]),
        endpoint: CloudEndpoint::new(b"eu", None, 0).map_err(dbg)?,
    };
    dev.handle(50, Event::ActivationResult(Ok(creds))).map_err(dbg)?;
    to_app.extend(drain(&mut dev, 50)?);
    dev.handle(60, Event::CommitDone).map_err(dbg)?;
    to_app.extend(drain(&mut dev, 60)?);

    let mut last = None;
    for packet in to_app {
        let (p, w, pdus) = carrier.carry(Dir::ToApp, &packet)?;
        let mut pt = [0u8; 512];
        let m = app.open(&p, &mut pt).map_err(|e| format!("status: {e}"))?;
        let what = match DeviceToApp::decode(&pt[..m]).map_err(dbg)? {
            DeviceToApp::Status(s) => {
                last = Some(s.state);
                format!("Status {}", state_name(s.state))
            }
            other => format!("{other:?}"),
        };
        flights.push(Flight { dir: Dir::ToApp, what, message: p.len(), wire: w, pdus });
    }
    if last != Some(PairState::Activated) {
        return Err(format!("the pairing did not end activated ({last:?})"));
    }
    let (link_name, level) = match link {
        Link::Ble(mtu) => (format!("BLE GATT, ATT MTU {mtu}"), "ATT PDUs, both directions".to_string()),
        Link::Tcp => ("SoftAP, TCP".to_string(), "TCP payload (length prefix + packet)".to_string()),
        Link::Udp => ("wired, UDP".to_string(), "UDP payload (header + packet)".to_string()),
    };
    Ok(Flow { system: format!("zpair {}", mode.name()), link: link_name, level, round_trips, measured: true, flights })
}

// ---------------------------------------------------------------------------------------
// ESP-IDF provisioning, security 2, over BLE (computed)
// ---------------------------------------------------------------------------------------

/// A protobuf (proto3) encoder: enough for protocomm's messages.
#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn varint(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(b);
                return;
            }
            self.0.push(b | 0x80);
        }
    }
    fn key(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }
    /// A varint field; proto3 leaves the default (0) out.
    fn uint(mut self, field: u32, v: u64) -> Self {
        if v != 0 {
            self.key(field, 0);
            self.varint(v);
        }
        self
    }
    /// A bytes field; proto3 leaves an empty one out.
    fn bytes(mut self, field: u32, data: &[u8]) -> Self {
        if !data.is_empty() {
            self.key(field, 2);
            self.varint(data.len() as u64);
            self.0.extend_from_slice(data);
        }
        self
    }
    /// A sub-message (a oneof member is present even when empty).
    fn msg(mut self, field: u32, inner: Pb) -> Self {
        self.key(field, 2);
        self.varint(inner.0.len() as u64);
        self.0.extend_from_slice(&inner.0);
        self
    }
}

/// AES-256-GCM tag that security 2 appends to every encrypted payload (`security2.c`,
/// `sec2_encrypt`: `outlen = inlen + AES_GCM_TAG_LEN`).
const SEC2_GCM_TAG: usize = 16;

/// ESP-IDF provisioning with security 2 over BLE, computed.
///
/// Formats: `components/protocomm/proto/session.proto` (`SessionData`: `sec_ver` = 2, field 12
/// `sec2`), `components/protocomm/proto/sec2.proto` (`Sec2Payload`, `S2SessionCmd0` user name +
/// 384-byte public key, `S2SessionResp0` public key + 16-byte salt, `S2SessionCmd1` 64-byte
/// proof, `S2SessionResp1` proof + 12-byte nonce), `components/wifi_provisioning/proto/
/// wifi_config.proto` (`WiFiConfigPayload`, `CmdSetConfig`, `CmdApplyConfig`, `CmdGetStatus`,
/// `RespGetStatus` with `WifiConnectedState` from `wifi_constants.proto`), encrypted with
/// AES-256-GCM + 16-byte tag (`security2.c`). Transport (`protocomm_ble`): each endpoint is a
/// characteristic; the phone writes the request, then reads the response (esp-idf-provisioning-
/// android `BleTransport`: write, then read in `onCharacteristicWrite`). User name "wifiprov"
/// (the ESP-IDF example's), one status poll answered "connected".
pub fn esp_sec2_ble(mtu: u16) -> Flow {
    let session = |sec2: Pb| Pb::default().uint(2, 2).msg(12, sec2);
    // prov-session: S2SessionCmd0 / S2SessionResp0 / S2SessionCmd1 / S2SessionResp1.
    let cmd0 = session(Pb::default().uint(1, 0).msg(20, Pb::default().bytes(1, b"wifiprov").bytes(2, &[0xa5; 384])));
    let resp0 = session(
        Pb::default().uint(1, 1).msg(21, Pb::default().uint(1, 0).bytes(2, &[0xa5; 384]).bytes(3, &[0x5a; 16])),
    );
    let cmd1 = session(Pb::default().uint(1, 2).msg(22, Pb::default().bytes(1, &[0xa5; 64])));
    let resp1 = session(Pb::default().uint(1, 3).msg(23, Pb::default().uint(1, 0).bytes(2, &[0xa5; 64]).bytes(3, &[0x5a; 12])));
    // prov-config, encrypted.
    let set = Pb::default().uint(1, 2).msg(12, Pb::default().bytes(1, SSID).bytes(2, PASSPHRASE));
    let set_resp = Pb::default().uint(1, 3).msg(13, Pb::default().uint(1, 0));
    let apply = Pb::default().uint(1, 4).msg(14, Pb::default());
    let apply_resp = Pb::default().uint(1, 5).msg(15, Pb::default().uint(1, 0));
    let status = Pb::default().uint(1, 0).msg(10, Pb::default());
    let connected = Pb::default()
        .bytes(1, b"192.168.1.50")
        .uint(2, 3) // WPA2_PSK
        .bytes(3, SSID)
        .bytes(4, &[0x11; 6])
        .uint(5, 6);
    // RespGetStatus: status Success (0) and sta_state Connected (0) are defaults.
    let status_resp = Pb::default().uint(1, 1).msg(11, Pb::default().uint(1, 0).uint(2, 0).msg(11, connected));

    let exchanges: Vec<(&str, usize, &str, usize)> = vec![
        ("prov-session: SessionCmd0 (SRP A)", cmd0.0.len(), "SessionResp0 (SRP B, salt)", resp0.0.len()),
        ("prov-session: SessionCmd1 (M1)", cmd1.0.len(), "SessionResp1 (M2, nonce)", resp1.0.len()),
        ("prov-config: CmdSetConfig", set.0.len() + SEC2_GCM_TAG, "RespSetConfig", set_resp.0.len() + SEC2_GCM_TAG),
        ("prov-config: CmdApplyConfig", apply.0.len() + SEC2_GCM_TAG, "RespApplyConfig", apply_resp.0.len() + SEC2_GCM_TAG),
        ("prov-config: CmdGetStatus", status.0.len() + SEC2_GCM_TAG, "RespGetStatus (connected)", status_resp.0.len() + SEC2_GCM_TAG),
    ];
    let mut flights = vec![];
    for (req, req_len, resp, resp_len) in &exchanges {
        let w = att_write(*req_len, mtu);
        flights.push(Flight { dir: Dir::ToDevice, what: (*req).into(), message: *req_len, wire: w.bytes, pdus: w.pdus });
        let r = att_read(*resp_len, mtu);
        flights.push(Flight { dir: Dir::ToApp, what: (*resp).into(), message: *resp_len, wire: r.bytes, pdus: r.pdus });
    }
    Flow {
        system: "ESP-IDF provisioning, security 2".into(),
        link: format!("BLE GATT, ATT MTU {mtu}"),
        level: "ATT PDUs, both directions".into(),
        round_trips: exchanges.len(),
        measured: false,
        flights,
    }
}

// ---------------------------------------------------------------------------------------
// Matter: PASE + network commissioning over BTP (computed)
// ---------------------------------------------------------------------------------------

/// A Matter TLV encoder (Matter Core Specification, Appendix A): anonymous and context tags.
#[derive(Default)]
struct Tlv(Vec<u8>);

impl Tlv {
    fn head(&mut self, tag: Option<u8>, ty: u8) {
        match tag {
            None => self.0.push(ty),
            Some(t) => {
                self.0.push(0x20 | ty);
                self.0.push(t);
            }
        }
    }
    fn open(mut self, tag: Option<u8>, ty: u8) -> Self {
        self.head(tag, ty);
        self
    }
    fn structure(self, tag: Option<u8>) -> Self {
        self.open(tag, 0x15)
    }
    fn array(self, tag: Option<u8>) -> Self {
        self.open(tag, 0x16)
    }
    fn list(self, tag: Option<u8>) -> Self {
        self.open(tag, 0x17)
    }
    fn end(mut self) -> Self {
        self.0.push(0x18);
        self
    }
    /// Unsigned integer, smallest width (as the SDK's TLV writer does).
    fn uint(mut self, tag: u8, v: u64) -> Self {
        let (ty, n) = match v {
            0..=0xff => (0x04, 1),
            0x100..=0xffff => (0x05, 2),
            0x1_0000..=0xffff_ffff => (0x06, 4),
            _ => (0x07, 8),
        };
        self.head(Some(tag), ty);
        self.0.extend_from_slice(&v.to_le_bytes()[..n]);
        self
    }
    fn boolean(mut self, tag: u8, v: bool) -> Self {
        self.head(Some(tag), if v { 0x09 } else { 0x08 });
        self
    }
    fn null(mut self, tag: u8) -> Self {
        self.head(Some(tag), 0x14);
        self
    }
    fn octets(mut self, tag: u8, data: &[u8]) -> Self {
        self.head(Some(tag), 0x10);
        self.0.push(data.len() as u8);
        self.0.extend_from_slice(data);
        self
    }
    fn utf8(mut self, tag: u8, s: &str) -> Self {
        self.head(Some(tag), 0x0c);
        self.0.push(s.len() as u8);
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    fn raw(mut self, other: Tlv) -> Self {
        self.0.extend_from_slice(&other.0);
        self
    }
}

/// Session parameters as the SDK sends them in PBKDFParamRequest/Response (tag 5): idle and
/// active retransmission intervals (500 ms and 300 ms, the SDK defaults).
fn session_params() -> Tlv {
    Tlv::default().structure(Some(5)).uint(1, 500).uint(2, 300).end()
}

/// An Interaction Model InvokeRequest carrying one command (Matter Core Specification 10.7.9,
/// `InvokeRequestMessage`; 10.6.12 `CommandDataIB`; 10.6.11 `CommandPathIB`).
fn invoke_request(cluster: u64, command: u64, fields: Tlv) -> Tlv {
    Tlv::default()
        .structure(None)
        .boolean(0, false) // SuppressResponse
        .boolean(1, false) // TimedRequest
        .array(Some(2))
        .structure(None)
        .list(Some(0))
        .uint(0, 0) // endpoint 0
        .uint(1, cluster)
        .uint(2, command)
        .end()
        .raw(fields)
        .end()
        .end()
        .uint(0xff, 12) // InteractionModelRevision
        .end()
}

/// An InvokeResponse carrying one response command (10.7.10 `InvokeResponseMessage`, 10.6.13
/// `InvokeResponseIB`).
fn invoke_response(cluster: u64, command: u64, fields: Tlv) -> Tlv {
    Tlv::default()
        .structure(None)
        .boolean(0, false) // SuppressResponse
        .array(Some(1))
        .structure(None)
        .structure(Some(0)) // Command: CommandDataIB
        .list(Some(0))
        .uint(0, 0)
        .uint(1, cluster)
        .uint(2, command)
        .end()
        .raw(fields)
        .end()
        .end()
        .end()
        .uint(0xff, 12)
        .end()
}

/// Matter message layer: an unsecured message of the PASE exchange carries the ephemeral
/// initiator node id (source or destination, 8 bytes) in its 8-byte header; a secured one
/// (PASE session) has the 8-byte header and a 16-byte MIC. The 6-byte protocol header has no
/// acknowledgement counter: MRP is not used over BTP, which is reliable (4.12, 4.4).
fn matter_message(payload: usize, secured: bool) -> usize {
    let header = if secured { 8 } else { 8 + 8 };
    let mic = if secured { 16 } else { 0 };
    header + 6 + payload + mic
}

/// Matter commissioning over BLE, the part that compares to zpair's pairing: BTP session,
/// PASE (PBKDFParamRequest/Response, Pake1/2/3, StatusReport), then ArmFailSafe,
/// AddOrUpdateWiFiNetwork and ConnectNetwork. Device attestation, CSR and NOC (what zpair's
/// cloud activation replaces) are left out, as are Read interactions a commissioner may add.
///
/// Formats: Matter Core Specification 1.3, 4.4 (message format), 4.13.2 (PASE messages and
/// their TLV), 4.19 (BTP handshake and packet headers), 10.6/10.7 (Interaction Model), 11.10
/// (General Commissioning: ArmFailSafe 0x00 / ArmFailSafeResponse 0x01), 11.9 (Network
/// Commissioning 0x0031: AddOrUpdateWiFiNetwork 0x02, NetworkConfigResponse 0x05,
/// ConnectNetwork 0x06, ConnectNetworkResponse 0x07); field tags as in connectedhomeip
/// `src/protocols/secure_channel/PASESession.cpp`. Salt 16 bytes, 1000 PBKDF2 iterations.
pub fn matter_ble(mtu: u16) -> Flow {
    let pbkdf_req = Tlv::default()
        .structure(None)
        .octets(1, &[0xa5; 32]) // initiatorRandom
        .uint(2, 0x1234) // initiatorSessionId
        .uint(3, 0) // passcodeId
        .boolean(4, false) // hasPBKDFParameters
        .raw(session_params())
        .end();
    let pbkdf_resp = Tlv::default()
        .structure(None)
        .octets(1, &[0xa5; 32]) // initiatorRandom
        .octets(2, &[0x5a; 32]) // responderRandom
        .uint(3, 0x4321) // responderSessionId
        .structure(Some(4))
        .uint(1, 1000) // iterations
        .octets(2, &[0x11; 16]) // salt
        .end()
        .raw(session_params())
        .end();
    let pake1 = Tlv::default().structure(None).octets(1, &[0x04; 65]).end();
    let pake2 = Tlv::default().structure(None).octets(1, &[0x04; 65]).octets(2, &[0xcb; 32]).end();
    let pake3 = Tlv::default().structure(None).octets(1, &[0xca; 32]).end();
    let status_report = 2 + 4 + 2; // GeneralCode, ProtocolId, ProtocolCode

    let arm = invoke_request(0x30, 0x00, Tlv::default().structure(Some(1)).uint(0, 60).uint(1, 0).end());
    let arm_resp = invoke_response(0x30, 0x01, Tlv::default().structure(Some(1)).uint(0, 0).utf8(1, "").end());
    let add = invoke_request(
        0x31,
        0x02,
        Tlv::default().structure(Some(1)).octets(0, SSID).octets(1, PASSPHRASE).uint(2, 1).end(),
    );
    let add_resp = invoke_response(0x31, 0x05, Tlv::default().structure(Some(1)).uint(0, 0).uint(2, 0).end());
    let connect = invoke_request(0x31, 0x06, Tlv::default().structure(Some(1)).octets(0, SSID).uint(1, 2).end());
    let connect_resp =
        invoke_response(0x31, 0x07, Tlv::default().structure(Some(1)).uint(0, 0).null(2).end());

    let messages: Vec<(Dir, &str, usize)> = vec![
        (Dir::ToDevice, "PASE PBKDFParamRequest", matter_message(pbkdf_req.0.len(), false)),
        (Dir::ToApp, "PASE PBKDFParamResponse", matter_message(pbkdf_resp.0.len(), false)),
        (Dir::ToDevice, "PASE Pake1 (pA)", matter_message(pake1.0.len(), false)),
        (Dir::ToApp, "PASE Pake2 (pB, cB)", matter_message(pake2.0.len(), false)),
        (Dir::ToDevice, "PASE Pake3 (cA)", matter_message(pake3.0.len(), false)),
        (Dir::ToApp, "StatusReport (session established)", matter_message(status_report, false)),
        (Dir::ToDevice, "InvokeRequest ArmFailSafe", matter_message(arm.0.len(), true)),
        (Dir::ToApp, "InvokeResponse ArmFailSafeResponse", matter_message(arm_resp.0.len(), true)),
        (Dir::ToDevice, "InvokeRequest AddOrUpdateWiFiNetwork", matter_message(add.0.len(), true)),
        (Dir::ToApp, "InvokeResponse NetworkConfigResponse", matter_message(add_resp.0.len(), true)),
        (Dir::ToDevice, "InvokeRequest ConnectNetwork", matter_message(connect.0.len(), true)),
        (Dir::ToApp, "InvokeResponse ConnectNetworkResponse", matter_message(connect_resp.0.len(), true)),
    ];

    let mut flights = vec![];
    // BTP handshake (4.19.4.2): request written to C1 (flags, opcode, 4 bytes of versions, ATT
    // MTU, window), subscription to C2, response indicated (flags, opcode, version, segment
    // size, window).
    let hs = att_write(9, mtu) + att_subscribe();
    flights.push(Flight { dir: Dir::ToDevice, what: "BTP handshake request + subscribe C2".into(), message: 9, wire: hs.bytes, pdus: hs.pdus });
    let hr = att_indicate(6);
    flights.push(Flight { dir: Dir::ToApp, what: "BTP handshake response".into(), message: 6, wire: hr.bytes, pdus: hr.pdus });
    // Data: each message in BTP packets of at most MTU - 3 bytes; the first carries flags,
    // sequence number and the message length, every packet after the first acknowledges the
    // peer's last packet (1 byte).
    let seg = usize::from(mtu) - 3;
    for (i, (dir, what, len)) in messages.iter().enumerate() {
        let ack = usize::from(i > 0);
        let mut left = *len;
        let mut first = true;
        let mut att = Att::default();
        while left > 0 || first {
            let header = 1 + ack + 1 + if first { 2 } else { 0 };
            let c = left.min(seg - header);
            let pkt = header + c;
            att = att + if *dir == Dir::ToDevice { att_write(pkt, mtu) } else { att_indicate(pkt) };
            left -= c;
            first = false;
        }
        flights.push(Flight { dir: *dir, what: (*what).into(), message: *len, wire: att.bytes, pdus: att.pdus });
    }
    // The commissioner's stand-alone acknowledgement of the last response (flags, ack, seq).
    let ack = att_write(3, mtu);
    flights.push(Flight { dir: Dir::ToDevice, what: "BTP stand-alone ack".into(), message: 0, wire: ack.bytes, pdus: ack.pdus });
    Flow {
        system: "Matter (PASE + network commissioning)".into(),
        link: format!("BLE, BTP, ATT MTU {mtu}"),
        level: "ATT PDUs, both directions".into(),
        round_trips: 6,
        measured: false,
        flights,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn att_model() {
        assert_eq!(att_write(20, 23), Att { bytes: 24, pdus: 2 });
        // 21 bytes at MTU 23: prepare writes of 18 + 3, execute.
        assert_eq!(att_write(21, 23), Att { bytes: 2 * 23 + 2 * 8 + 3, pdus: 6 });
        assert_eq!(att_read(22, 23), Att { bytes: 3 + 23 + 5 + 1, pdus: 4 }, "a full chunk asks for more");
        assert_eq!(att_read(10, 23), Att { bytes: 14, pdus: 2 });
        assert_eq!(att_read(30, 23), Att { bytes: 3 + 23 + 5 + 9, pdus: 4 });
    }

    #[test]
    fn protobuf_encoding() {
        // Field 1 varint 150: 08 96 01 (the protobuf documentation's example).
        assert_eq!(Pb::default().uint(1, 150).0, [0x08, 0x96, 0x01]);
        assert_eq!(Pb::default().uint(1, 0).0, [] as [u8; 0], "proto3 default left out");
        assert_eq!(Pb::default().msg(20, Pb::default()).0, [0xa2, 0x01, 0x00]);
    }

    #[test]
    fn tlv_encoding() {
        // Appendix A examples: anonymous struct with context tag 1 unsigned 42: 15 24 01 2a 18.
        assert_eq!(Tlv::default().structure(None).uint(1, 42).end().0, [0x15, 0x24, 0x01, 0x2a, 0x18]);
        assert_eq!(Tlv::default().boolean(4, false).0, [0x28, 0x04]);
        assert_eq!(Tlv::default().octets(1, &[1, 2]).0, [0x30, 0x01, 0x02, 1, 2]);
        assert_eq!(Tlv::default().uint(2, 1000).0, [0x25, 0x02, 0xe8, 0x03]);
    }

    #[test]
    fn zpair_flows_match_the_documented_counts() {
        let ble = zpair_flow(Link::Ble(247)).unwrap();
        assert_eq!(ble.round_trips, 2);
        let packets: Vec<usize> = ble.flights.iter().filter(|f| f.message > 0).map(|f| f.message).collect();
        assert_eq!(packets, vec![68, 99, 111, 26, 26, 26], "docs/protocol.md section 9");
        assert_eq!(ble.message_bytes(), 356);
        // protocol.md counts fragment + ATT header only (392); the ATT model adds the two Write
        // Responses and the CCCD subscription.
        assert_eq!(ble.wire_bytes(), 392 + 2 + 6);
        let tcp = zpair_flow(Link::Tcp).unwrap();
        assert_eq!(tcp.wire_bytes(), 356 + 6 * 2);
        let udp = zpair_flow(Link::Udp).unwrap();
        assert_eq!(udp.round_trips, 2);
        assert!(udp.message_bytes() < 356, "wired carries no Wi-Fi credentials");
    }

    #[test]
    fn esp_and_matter_flows() {
        let esp = esp_sec2_ble(247);
        assert_eq!(esp.round_trips, 5);
        assert_eq!(esp.flights[0].message, 406, "SessionData with the 384-byte SRP A");
        let matter = matter_ble(247);
        assert_eq!(matter.round_trips, 6);
        assert!(matter.wire_bytes() > 900 && esp.wire_bytes() > 1500);
    }
}
