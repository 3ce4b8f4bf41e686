//! Host side of zpair's Zephyr wired tests (stands in for the `zpair` commissioning CLI).
//!
//! ```text
//! zpair-wired-host factory --out DIR [--product N] [--device HEX16] [--code N] [--secret HEX64]
//!                          [--store-code] [--modes BITS]
//!     Generates a device identity (random unless given) and writes
//!       DIR/manifest.json   the cloud manifest (`zpair-cloud import`)
//!       DIR/factory.hex     the device's factory data (154 bytes, `zpair factory <hex>`)
//!       DIR/device.json     device id, product and setup code (what the label shows)
//!
//! zpair-wired-host pair --listen ADDR:PORT --device HEX16 --code N --token TOKEN
//!                       [--cloud-host HOST --cloud-port PORT] [--region eu] [--timeout S]
//!     Waits for the device's UDP announcement on ADDR:PORT, opens a session to the announced
//!     port (SPAKE2+ with the setup code), sends the token (and the cloud endpoint) and reports
//!     every status until "activated" (exit 0) or a failure (exit 1).
//! ```
//!
//! Wired transport (docs/transports.md): one packet per UDP datagram behind "ZP" 0x01; the
//! announcement's packet is 0x06 || CBOR(Announce); the app retransmits its last packet when
//! no answer comes.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use zpair_core::activation::ActivationSecret;
use zpair_core::error::PairError;
use zpair_core::factory::FactoryData;
use zpair_core::frame::datagram::{parse_datagram, write_datagram, DATAGRAM_MAX};
use zpair_core::msg::{AppToDevice, DeviceToApp, PairState, Provision};
use zpair_core::session::{parse_packet, AppSession, Packet};
use zpair_core::spake2plus::Verifier;
use zpair_core::types::{
    ActivationToken, CloudEndpoint, DeviceId, Mode, Modes, ProductId, SetupCode,
};
use zpair_crypto::Crypto;
use zpair_mbedtls::MbedTls;

const ANNOUNCE_TYPE: u8 = 0x06;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Result<Vec<u8>, String> {
    if s.len() % 2 != 0 {
        return Err(format!("odd-length hex: {s}"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| format!("not hex: {s}")))
        .collect()
}

struct Args(Vec<String>);

impl Args {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().position(|a| a == name).and_then(|i| self.0.get(i + 1)).map(String::as_str)
    }
    fn need(&self, name: &str) -> Result<&str, String> {
        self.get(name).ok_or_else(|| format!("missing {name}"))
    }
    fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }
}

fn factory(args: &Args) -> Result<(), String> {
    let mut c = MbedTls::os();
    let out = PathBuf::from(args.need("--out")?);
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let product = ProductId(args.get("--product").unwrap_or("23120").parse().map_err(|_| "bad --product")?);
    let device = match args.get("--device") {
        Some(h) => DeviceId(u64::from_str_radix(h, 16).map_err(|_| "bad --device")?),
        None => loop {
            let mut b = [0u8; 8];
            c.fill_random(&mut b).map_err(|e| format!("{e:?}"))?;
            let d = u64::from_be_bytes(b);
            if d != 0 {
                break DeviceId(d);
            }
        },
    };
    let code = match args.get("--code") {
        Some(s) => SetupCode::new(s.parse().map_err(|_| "bad --code")?).map_err(|_| "invalid --code")?,
        None => loop {
            let mut b = [0u8; 4];
            c.fill_random(&mut b).map_err(|e| format!("{e:?}"))?;
            if let Ok(code) = SetupCode::new(u32::from_be_bytes(b) & ((1 << 27) - 1)) {
                break code;
            }
        },
    };
    let mut secret = [0u8; 32];
    match args.get("--secret") {
        Some(h) => secret.copy_from_slice(&unhex(h)?.get(..32).ok_or("--secret: 32 bytes")?),
        None => c.fill_random(&mut secret).map_err(|e| format!("{e:?}"))?,
    }
    let modes = Modes::from_bits(args.get("--modes").unwrap_or("4").parse().map_err(|_| "bad --modes")?)
        .ok_or("bad --modes")?;
    let verifier = Verifier::for_setup_code(&mut c, &code, device).map_err(|e| format!("{e:?}"))?;
    let vbytes = verifier.to_bytes();
    let data = FactoryData {
        product,
        device,
        activation_secret: ActivationSecret::new(secret),
        verifier,
        setup_code: args.flag("--store-code").then(|| code.clone()),
        modes,
    };
    let encoded = data.encode();
    let digits = String::from_utf8_lossy(&code.digits()).into_owned();
    let manifest = format!(
        "{{\"version\": 1, \"devices\": [{{\"device_id\": \"{:016x}\", \"product_id\": {}, \
         \"activation_secret\": \"{}\", \"w0\": \"{}\", \"l\": \"{}\"}}]}}\n",
        device.0,
        product.0,
        hex(&secret),
        hex(&vbytes[..32]),
        hex(&vbytes[32..]),
    );
    std::fs::write(out.join("manifest.json"), manifest).map_err(|e| e.to_string())?;
    std::fs::write(out.join("factory.hex"), hex(&encoded[..]) + "\n").map_err(|e| e.to_string())?;
    std::fs::write(
        out.join("device.json"),
        format!(
            "{{\"device_id\": \"{:016x}\", \"product_id\": {}, \"setup_code\": \"{digits}\"}}\n",
            device.0, product.0
        ),
    )
    .map_err(|e| e.to_string())?;
    println!("device {:016x} product {} written to {}", device.0, product.0, out.display());
    Ok(())
}

/// The app side of a wired session over one UDP socket.
struct Wired {
    sock: UdpSocket,
    device: SocketAddr,
    last: Vec<u8>,
}

impl Wired {
    fn send(&mut self, packet: &[u8]) -> Result<(), String> {
        let mut buf = [0u8; DATAGRAM_MAX];
        let d = write_datagram(packet, &mut buf).map_err(|e| format!("{e:?}"))?;
        self.last = d.to_vec();
        self.sock.send_to(d, self.device).map_err(|e| e.to_string())?;
        Ok(())
    }

    /// The next session packet from the device (announcements skipped); retransmits the last
    /// packet every 2 s, up to `deadline`.
    fn recv(&mut self, deadline: Instant) -> Result<Vec<u8>, String> {
        let mut buf = [0u8; 2048];
        let mut resend_at = Instant::now() + Duration::from_secs(2);
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err("timeout waiting for the device".into());
            }
            let wait = deadline.min(resend_at).saturating_duration_since(now).max(Duration::from_millis(10));
            self.sock.set_read_timeout(Some(wait)).map_err(|e| e.to_string())?;
            match self.sock.recv_from(&mut buf) {
                Ok((n, from)) if from == self.device => {
                    let Ok(p) = parse_datagram(&buf[..n]) else { continue };
                    if p.first() == Some(&ANNOUNCE_TYPE) {
                        continue;
                    }
                    return Ok(p.to_vec());
                }
                Ok(_) => continue,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    if Instant::now() >= resend_at && !self.last.is_empty() {
                        println!("no answer: retransmitting");
                        self.sock.send_to(&self.last, self.device).map_err(|e| e.to_string())?;
                        resend_at = Instant::now() + Duration::from_secs(2);
                    }
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

fn wait_announcement(sock: &UdpSocket, device: DeviceId, deadline: Instant) -> Result<SocketAddr, String> {
    let mut buf = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("no announcement from the device".into());
        }
        sock.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        let (n, from) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
            Err(e) => return Err(e.to_string()),
        };
        let Ok(p) = parse_datagram(&buf[..n]) else { continue };
        let Some((&ANNOUNCE_TYPE, body)) = p.split_first() else { continue };
        let Ok(DeviceToApp::Announce(a)) = DeviceToApp::decode(body) else { continue };
        println!(
            "announcement from {from}: device {:016x} product {} port {} state {:?} window_open {}",
            a.device.0, a.product.0, a.port, a.state, a.window_open
        );
        if a.device == device && a.window_open {
            return Ok(SocketAddr::new(from.ip(), a.port));
        }
    }
}

fn pair(args: &Args) -> Result<(), String> {
    let listen: SocketAddr = args.need("--listen")?.parse().map_err(|_| "bad --listen")?;
    let device = DeviceId(u64::from_str_radix(args.need("--device")?, 16).map_err(|_| "bad --device")?);
    let code = SetupCode::new(args.need("--code")?.parse().map_err(|_| "bad --code")?).map_err(|_| "invalid --code")?;
    let token = ActivationToken::new(args.need("--token")?.as_bytes()).map_err(|_| "invalid --token")?;
    let region = args.get("--region").unwrap_or("eu");
    let port: u16 = args.get("--cloud-port").unwrap_or("0").parse().map_err(|_| "bad --cloud-port")?;
    let endpoint = CloudEndpoint::new(region.as_bytes(), args.get("--cloud-host").map(str::as_bytes), port)
        .map_err(|_| "invalid cloud endpoint")?;
    let timeout = Duration::from_secs(args.get("--timeout").unwrap_or("60").parse().map_err(|_| "bad --timeout")?);
    let deadline = Instant::now() + timeout;

    let sock = UdpSocket::bind(listen).map_err(|e| format!("bind {listen}: {e}"))?;
    let dev_addr = wait_announcement(&sock, device, deadline)?;
    println!("pairing with {dev_addr}");
    let mut link = Wired { sock, device: dev_addr, last: Vec::new() };
    let mut app = AppSession::new(MbedTls::os());
    let mut buf = [0u8; 1024];

    let n = app.start_with_setup_code(&code, device, Mode::Wired, &mut buf).map_err(|e| format!("{e:?}"))?;
    link.send(&buf[..n])?;
    let resp = link.recv(deadline)?;
    if let Ok(Packet::Alert(e)) = parse_packet(&resp) {
        return Err(format!("device refused the session: {}", e.name()));
    }
    let provision = AppToDevice::Provision(Provision {
        token: Some(token),
        endpoint: Some(endpoint),
        ..Provision::default()
    });
    let mut msg = [0u8; 512];
    let m = provision.encode(&mut msg).map_err(|e| format!("{e:?}"))?;
    let n = match app.handle_pair_response(&resp, Some(&msg[..m]), &mut buf) {
        Ok(n) => n,
        Err(e) => {
            let err = PairError::from(e);
            let mut alert = [0u8; 2];
            if zpair_core::session::encode_alert(err, &mut alert).is_ok() {
                let _ = link.send(&alert);
            }
            return Err(format!("handshake failed: {}", err.name()));
        }
    };
    println!("session established, credentials sent");
    link.send(&buf[..n])?;
    loop {
        let p = link.recv(deadline)?;
        if let Ok(Packet::Alert(e)) = parse_packet(&p) {
            return Err(format!("device alert: {}", e.name()));
        }
        let mut pt = [0u8; 1024];
        let k = app.open(&p, &mut pt).map_err(|e| format!("record rejected: {e:?}"))?;
        match DeviceToApp::decode(&pt[..k]) {
            Ok(DeviceToApp::Status(s)) => {
                println!("status: {:?}{}", s.state, s.error.map(|e| format!(" error {}", e.name())).unwrap_or_default());
                // Acknowledge so that the device's retransmission cache moves on.
                link.last.clear();
                if s.state == PairState::Activated {
                    println!("device activated");
                    return Ok(());
                }
                if let Some(e) = s.error {
                    if !e.is_transient() {
                        return Err(format!("pairing failed: {}", e.name()));
                    }
                }
            }
            Ok(other) => println!("message: {other:?}"),
            Err(e) => return Err(format!("undecodable message: {e:?}")),
        }
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let args = Args(argv.get(2..).map(<[String]>::to_vec).unwrap_or_default());
    let result = match argv.get(1).map(String::as_str) {
        Some("factory") => factory(&args),
        Some("pair") => pair(&args),
        _ => Err("usage: zpair-wired-host factory|pair ... (see the source's header)".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
