//! App-side transports (see `docs/transports.md`): each carries whole session packets.
//!
//! - [`SoftApLink`]: TCP with stream framing (`u16 BE length ‖ packet`).
//! - [`BleLink`]: a Unix `SOCK_SEQPACKET` socket, ATT MTU exchange, then one GATT fragment per
//!   datagram.
//! - [`WiredLink`]: UDP, one datagram frame (`"ZP" ‖ 0x01 ‖ packet`) per packet, with the app
//!   retransmitting its last packet after a timeout (bounded), as the protocol asks.
//!
//! Wired announcements are read by [`AnnounceListener`].

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};
use zpair_core::frame::{self, FrameError, GattRx, GattTx, StreamDecoder, MAX_PACKET};
use zpair_core::msg::Announce;
use zpair_core::types::Mode;

/// Packet type of a wired announcement (plaintext, inside a datagram frame).
pub const ANNOUNCE_PACKET_TYPE: u8 = 0x06;
/// The ATT MTU the commissioner asks for by default.
pub const DEFAULT_MTU: u16 = 247;

/// Why a transport failed.
#[derive(Debug)]
pub enum LinkError {
    /// Nothing arrived in time.
    Timeout,
    /// The peer closed the connection (or the AP went away).
    Closed,
    /// Framing failed: a packet was lost or corrupted.
    Frame(FrameError),
    /// An I/O error.
    Io(std::io::Error),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Timeout => f.write_str("no answer in time"),
            LinkError::Closed => f.write_str("connection closed"),
            LinkError::Frame(e) => write!(f, "framing error: {}", e.name()),
            LinkError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for LinkError {}

fn io_err(e: std::io::Error) -> LinkError {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => LinkError::Timeout,
        std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::ConnectionAborted
        | std::io::ErrorKind::BrokenPipe
        | std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::NotConnected
        | std::io::ErrorKind::ConnectionRefused => LinkError::Closed,
        _ => LinkError::Io(e),
    }
}

/// One app↔device transport carrying whole session packets.
pub trait Link: Send {
    /// The pairing mode of this transport.
    fn mode(&self) -> Mode;
    /// Sends one packet.
    fn send(&mut self, packet: &[u8]) -> Result<(), LinkError>;
    /// Receives one packet, waiting at most `timeout`.
    fn recv(&mut self, timeout: Duration) -> Result<Vec<u8>, LinkError>;
    /// Sends `packet` and waits for the answer. Datagram transports retransmit the packet
    /// (byte-identical) when no answer comes, a bounded number of times.
    fn request(&mut self, packet: &[u8], timeout: Duration) -> Result<Vec<u8>, LinkError> {
        self.send(packet)?;
        self.recv(timeout)
    }
    /// Whether the transport may lose packets (the flow then polls the status).
    fn lossy(&self) -> bool {
        false
    }
    /// A short description for progress output (address, MTU ...).
    fn describe(&self) -> String;
}

// ------------------------------------------------------------------------------------------
// SoftAP: TCP + stream framing
// ------------------------------------------------------------------------------------------

/// SoftAP mode: a TCP connection to the device's AP endpoint.
#[derive(Debug)]
pub struct SoftApLink {
    stream: TcpStream,
    peer: SocketAddr,
    decoder: StreamDecoder,
    pending: Vec<u8>,
}

impl SoftApLink {
    /// "Joins the AP": connects to `addr` within `timeout`.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<Self, LinkError> {
        let stream = TcpStream::connect_timeout(&addr, timeout).map_err(io_err)?;
        stream.set_nodelay(true).map_err(LinkError::Io)?;
        Ok(SoftApLink { stream, peer: addr, decoder: StreamDecoder::new(), pending: Vec::new() })
    }

    fn take_packet(&mut self) -> Result<Option<Vec<u8>>, LinkError> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        let mut input: &[u8] = &self.pending;
        let got = self.decoder.feed(&mut input).map_err(LinkError::Frame)?.map(<[u8]>::to_vec);
        let used = self.pending.len() - input.len();
        self.pending.drain(..used);
        Ok(got)
    }
}

impl Link for SoftApLink {
    fn mode(&self) -> Mode {
        Mode::SoftAp
    }

    fn send(&mut self, packet: &[u8]) -> Result<(), LinkError> {
        let mut buf = [0u8; frame::stream::STREAM_HEADER_LEN + MAX_PACKET];
        let framed = frame::encode_stream(packet, &mut buf).map_err(LinkError::Frame)?;
        self.stream.write_all(framed).map_err(io_err)
    }

    fn recv(&mut self, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(p) = self.take_packet()? {
                return Ok(p);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LinkError::Timeout);
            }
            self.stream.set_read_timeout(Some(left)).map_err(LinkError::Io)?;
            let mut buf = [0u8; 1024];
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(LinkError::Closed),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err(e)),
            }
        }
    }

    fn describe(&self) -> String {
        format!("tcp {}", self.peer)
    }
}

// ------------------------------------------------------------------------------------------
// BLE: SOCK_SEQPACKET + ATT MTU exchange + GATT fragments
// ------------------------------------------------------------------------------------------

/// BLE mode: one `SOCK_SEQPACKET` connection standing in for the GATT link.
pub struct BleLink {
    sock: socket2::Socket,
    mtu: u16,
    tx: GattTx,
    rx: GattRx,
    /// Packets that arrived before the MTU exchange finished (a refusal alert).
    pending: std::collections::VecDeque<Vec<u8>>,
    closed: bool,
}

impl std::fmt::Debug for BleLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BleLink").field("mtu", &self.mtu).finish_non_exhaustive()
    }
}

impl BleLink {
    /// Connects to the device's socket and exchanges the ATT MTU (`client_mtu`, 23..=517); the
    /// link uses the smaller of both, at least 23.
    pub fn connect(socket: &Path, client_mtu: u16, timeout: Duration) -> Result<Self, LinkError> {
        use socket2::{Domain, SockAddr, Socket, Type};
        let client_mtu = client_mtu.clamp(frame::gatt::ATT_MTU_MIN, frame::gatt::ATT_MTU_MAX);
        let sock = Socket::new(Domain::UNIX, Type::SEQPACKET, None).map_err(LinkError::Io)?;
        let addr = SockAddr::unix(socket).map_err(LinkError::Io)?;
        sock.connect(&addr).map_err(io_err)?;
        sock.set_write_timeout(Some(timeout)).map_err(LinkError::Io)?;
        let mut link = BleLink {
            sock,
            mtu: frame::gatt::ATT_MTU_MIN,
            tx: GattTx::new(),
            rx: GattRx::new(),
            pending: Default::default(),
            closed: false,
        };
        let [lo, hi] = client_mtu.to_le_bytes();
        link.write_datagram(&[0x02, lo, hi])?;
        let deadline = Instant::now() + timeout;
        let server = loop {
            let answer = match link.read_datagram(deadline.saturating_duration_since(Instant::now())) {
                Ok(a) => a,
                // A device that refuses the connection notifies an alert (at the default MTU)
                // and disconnects, possibly before answering the exchange: keep the alert.
                Err(LinkError::Closed) if !link.pending.is_empty() => {
                    link.closed = true;
                    return Ok(link);
                }
                Err(e) => return Err(e),
            };
            match answer.as_slice() {
                [0x03, lo, hi] => break u16::from_le_bytes([*lo, *hi]),
                fragment => {
                    if let Some(p) = link.rx.push(fragment).map_err(LinkError::Frame)? {
                        let p = p.to_vec();
                        link.pending.push_back(p);
                    }
                }
            }
        };
        link.mtu = client_mtu.min(server).clamp(frame::gatt::ATT_MTU_MIN, frame::gatt::ATT_MTU_MAX);
        link.rx.set_mtu(link.mtu).map_err(LinkError::Frame)?;
        Ok(link)
    }

    /// The negotiated ATT MTU.
    pub fn mtu(&self) -> u16 {
        self.mtu
    }

    fn write_datagram(&mut self, d: &[u8]) -> Result<(), LinkError> {
        match (&self.sock).write(d) {
            Ok(n) if n == d.len() => Ok(()),
            Ok(_) => Err(LinkError::Closed),
            Err(e) => Err(io_err(e)),
        }
    }

    fn read_datagram(&mut self, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        self.sock.set_read_timeout(Some(timeout.max(Duration::from_millis(1)))).map_err(LinkError::Io)?;
        let mut buf = [0u8; 600];
        loop {
            match (&self.sock).read(&mut buf) {
                Ok(0) => return Err(LinkError::Closed),
                Ok(n) => return Ok(buf[..n].to_vec()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err(e)),
            }
        }
    }
}

impl Link for BleLink {
    fn mode(&self) -> Mode {
        Mode::Ble
    }

    fn send(&mut self, packet: &[u8]) -> Result<(), LinkError> {
        if self.closed {
            return Err(LinkError::Closed);
        }
        let mut frags = Vec::new();
        {
            let mut f = self.tx.fragment(packet, self.mtu).map_err(LinkError::Frame)?;
            let mut buf = [0u8; 520];
            while let Some(d) = f.next_fragment(&mut buf).map_err(LinkError::Frame)? {
                frags.push(d.to_vec());
            }
        }
        for d in frags {
            self.write_datagram(&d)?;
        }
        Ok(())
    }

    fn recv(&mut self, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        if let Some(p) = self.pending.pop_front() {
            return Ok(p);
        }
        if self.closed {
            return Err(LinkError::Closed);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LinkError::Timeout);
            }
            let d = self.read_datagram(left)?;
            if let Some(p) = self.rx.push(&d).map_err(LinkError::Frame)? {
                return Ok(p.to_vec());
            }
        }
    }

    fn describe(&self) -> String {
        format!("ATT MTU {}", self.mtu)
    }
}

// ------------------------------------------------------------------------------------------
// Wired: UDP datagrams with app-side retransmission
// ------------------------------------------------------------------------------------------

/// Retransmission policy of the wired link.
#[derive(Debug, Clone, Copy)]
pub struct Retransmit {
    /// First retransmission timeout.
    pub initial: Duration,
    /// Largest retransmission timeout (it doubles each time).
    pub max: Duration,
    /// Retransmissions before giving up.
    pub max_retries: u32,
}

impl Default for Retransmit {
    fn default() -> Self {
        Retransmit { initial: Duration::from_millis(400), max: Duration::from_secs(3), max_retries: 6 }
    }
}

/// Wired mode: a UDP socket talking to the device's announced session port.
#[derive(Debug)]
pub struct WiredLink {
    sock: UdpSocket,
    peer: SocketAddr,
    policy: Retransmit,
    retransmissions: u32,
}

impl WiredLink {
    /// A session socket talking to `peer` (the announced address and port).
    pub fn connect(peer: SocketAddr, policy: Retransmit) -> Result<Self, LinkError> {
        let local: SocketAddr = if peer.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().map_err(|_| LinkError::Closed)?;
        let sock = UdpSocket::bind(local).map_err(LinkError::Io)?;
        sock.connect(peer).map_err(LinkError::Io)?;
        Ok(WiredLink { sock, peer, policy, retransmissions: 0 })
    }

    /// How many retransmissions this link made so far.
    pub fn retransmissions(&self) -> u32 {
        self.retransmissions
    }

    fn recv_until(&mut self, deadline: Instant) -> Result<Vec<u8>, LinkError> {
        let mut buf = [0u8; frame::datagram::DATAGRAM_MAX + 16];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LinkError::Timeout);
            }
            self.sock.set_read_timeout(Some(left)).map_err(LinkError::Io)?;
            match self.sock.recv(&mut buf) {
                Ok(n) => match frame::parse_datagram(&buf[..n]) {
                    // Stray or malformed datagrams are dropped, as UDP allows.
                    Ok(p) if p.first() != Some(&ANNOUNCE_PACKET_TYPE) => return Ok(p.to_vec()),
                    _ => continue,
                },
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err(e)),
            }
        }
    }
}

impl Link for WiredLink {
    fn mode(&self) -> Mode {
        Mode::Wired
    }

    fn send(&mut self, packet: &[u8]) -> Result<(), LinkError> {
        let mut buf = [0u8; frame::datagram::DATAGRAM_MAX];
        let d = frame::write_datagram(packet, &mut buf).map_err(LinkError::Frame)?;
        self.sock.send(d).map(|_| ()).map_err(io_err)
    }

    fn recv(&mut self, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        self.recv_until(Instant::now() + timeout)
    }

    fn request(&mut self, packet: &[u8], timeout: Duration) -> Result<Vec<u8>, LinkError> {
        let deadline = Instant::now() + timeout;
        let mut rto = self.policy.initial;
        let mut retries = 0;
        self.send(packet)?;
        loop {
            let wait = (Instant::now() + rto).min(deadline);
            match self.recv_until(wait) {
                Err(LinkError::Timeout) if Instant::now() < deadline && retries < self.policy.max_retries => {
                    retries += 1;
                    self.retransmissions += 1;
                    self.send(packet)?;
                    rto = (rto * 2).min(self.policy.max);
                }
                // Nothing after every retransmission: the device is gone.
                Err(LinkError::Timeout) if retries >= self.policy.max_retries => return Err(LinkError::Closed),
                other => return other,
            }
        }
    }

    fn lossy(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!("udp {}", self.peer)
    }
}

/// A wired device heard on the LAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard {
    /// The announcement.
    pub announce: Announce,
    /// Where to open the session: the sender's address with the announced port.
    pub session_addr: SocketAddr,
}

/// Listens for wired announcements (`"ZP" ‖ 0x01 ‖ 0x06 ‖ CBOR(Announce)`).
#[derive(Debug)]
pub struct AnnounceListener {
    sock: UdpSocket,
}

impl AnnounceListener {
    /// Binds the announce address (`0.0.0.0:5541` on a LAN; a loopback port in simulation).
    pub fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        let sock = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::DGRAM, None)?;
        sock.set_reuse_address(true)?;
        if addr.is_ipv4() {
            sock.set_broadcast(true)?;
        }
        sock.bind(&addr.into())?;
        Ok(AnnounceListener { sock: sock.into() })
    }

    /// The bound address (to tell a simulated device where to announce).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// Listens until `deadline`, returning what was heard (one entry per device, latest
    /// announcement wins) as soon as `done` says it is enough.
    pub fn listen(&self, deadline: Instant, mut done: impl FnMut(&[Heard]) -> bool) -> std::io::Result<Vec<Heard>> {
        let mut heard: Vec<Heard> = Vec::new();
        let mut buf = [0u8; 600];
        loop {
            if done(&heard) {
                return Ok(heard);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(heard);
            }
            self.sock.set_read_timeout(Some(left))?;
            let (n, from) = match self.sock.recv_from(&mut buf) {
                Ok(x) => x,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    return Ok(heard)
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let Some(announce) = parse_announcement(&buf[..n]) else { continue };
            let session_addr = SocketAddr::new(from.ip(), announce.port);
            let h = Heard { announce, session_addr };
            match heard.iter_mut().find(|x| x.announce.device == announce.device) {
                Some(x) => *x = h,
                None => heard.push(h),
            }
        }
    }
}

/// Decodes an announcement datagram; anything else is `None`.
pub fn parse_announcement(datagram: &[u8]) -> Option<Announce> {
    let packet = frame::parse_datagram(datagram).ok()?;
    match packet.split_first() {
        Some((&ANNOUNCE_PACKET_TYPE, cbor)) => Announce::decode(cbor).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zpair_core::msg::PairState;
    use zpair_core::types::{DeviceId, Modes, ProductId};

    fn announcement(port: u16) -> Vec<u8> {
        let a = Announce {
            protocol_version: 1,
            product: ProductId(7),
            device: DeviceId(0xabc),
            modes: Modes::WIRED,
            port,
            window_open: true,
            state: PairState::WindowOpen,
        };
        let mut cbor = [0u8; 64];
        let n = zpair_core::msg::DeviceToApp::Announce(a).encode(&mut cbor).unwrap();
        let mut packet = vec![ANNOUNCE_PACKET_TYPE];
        packet.extend_from_slice(&cbor[..n]);
        let mut out = [0u8; 128];
        frame::write_datagram(&packet, &mut out).unwrap().to_vec()
    }

    #[test]
    fn announcements_parse_and_garbage_does_not() {
        let a = parse_announcement(&announcement(4000)).unwrap();
        assert_eq!((a.device, a.port), (DeviceId(0xabc), 4000));
        assert!(parse_announcement(b"ZP\x01\x04abc").is_none());
        assert!(parse_announcement(b"hello").is_none());
        assert!(parse_announcement(&[]).is_none());
    }

    #[test]
    fn listener_hears_a_device_once_per_id() {
        let l = AnnounceListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let to = l.local_addr().unwrap();
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.send_to(b"noise", to).unwrap();
        s.send_to(&announcement(4000), to).unwrap();
        s.send_to(&announcement(4001), to).unwrap();
        let heard = l.listen(Instant::now() + Duration::from_secs(5), |h| h.first().is_some_and(|x| x.announce.port == 4001)).unwrap();
        assert_eq!(heard.len(), 1);
        assert_eq!(heard[0].session_addr, SocketAddr::new(s.local_addr().unwrap().ip(), 4001));
    }

    #[test]
    fn wired_request_retransmits_the_same_bytes_until_answered() {
        let dev = UdpSocket::bind("127.0.0.1:0").unwrap();
        let policy = Retransmit { initial: Duration::from_millis(20), max: Duration::from_millis(40), max_retries: 10 };
        let mut link = WiredLink::connect(dev.local_addr().unwrap(), policy).unwrap();
        let t = std::thread::spawn(move || {
            let mut buf = [0u8; 600];
            let mut seen = Vec::new();
            // Drop the first two copies, answer the third.
            for _ in 0..3 {
                let (n, from) = dev.recv_from(&mut buf).unwrap();
                seen.push(buf[..n].to_vec());
                if seen.len() == 3 {
                    let mut out = [0u8; 64];
                    dev.send_to(frame::write_datagram(&[0x05, 0x16], &mut out).unwrap(), from).unwrap();
                }
            }
            seen
        });
        let answer = link.request(&[0x01, 0x01, 0x02], Duration::from_secs(10)).unwrap();
        assert_eq!(answer, vec![0x05, 0x16]);
        let seen = t.join().unwrap();
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "retransmissions are byte-identical");
        assert_eq!(link.retransmissions(), 2);
    }

    #[test]
    fn wired_request_gives_up_after_bounded_retries() {
        let dev = UdpSocket::bind("127.0.0.1:0").unwrap();
        let policy = Retransmit { initial: Duration::from_millis(5), max: Duration::from_millis(10), max_retries: 3 };
        let mut link = WiredLink::connect(dev.local_addr().unwrap(), policy).unwrap();
        let r = link.request(&[0x01], Duration::from_secs(30));
        assert!(matches!(r, Err(LinkError::Closed)), "{r:?}");
        assert_eq!(link.retransmissions(), 3);
    }

    #[test]
    fn softap_link_reassembles_split_frames() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut hdr = [0u8; 4];
            s.read_exact(&mut hdr).unwrap();
            // Two packets, delivered in awkward pieces.
            s.write_all(&[0, 3, 1]).unwrap();
            s.flush().unwrap();
            std::thread::sleep(Duration::from_millis(10));
            s.write_all(&[2, 3, 0, 1, 9]).unwrap();
            hdr
        });
        let mut link = SoftApLink::connect(addr, Duration::from_secs(5)).unwrap();
        link.send(&[7, 8]).unwrap();
        assert_eq!(link.recv(Duration::from_secs(5)).unwrap(), vec![1, 2, 3]);
        assert_eq!(link.recv(Duration::from_secs(5)).unwrap(), vec![9]);
        assert_eq!(t.join().unwrap(), [0, 2, 7, 8]);
        assert!(matches!(link.recv(Duration::from_secs(5)), Err(LinkError::Closed)));
    }

    #[test]
    fn ble_link_exchanges_the_mtu_and_fragments() {
        use socket2::{Domain, SockAddr, Socket, Type};
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("dev.sock");
        let server = Socket::new(Domain::UNIX, Type::SEQPACKET, None).unwrap();
        server.bind(&SockAddr::unix(&path).unwrap()).unwrap();
        server.listen(1).unwrap();
        let t = std::thread::spawn(move || {
            let (conn, _) = server.accept().unwrap();
            let mut buf = [0u8; 600];
            let n = (&conn).read(&mut buf).unwrap();
            assert_eq!(&buf[..n], &[0x02, 247, 0]);
            (&conn).write_all(&[0x03, 23, 0]).unwrap();
            // Reassemble what the app sends at MTU 23, echo it back fragmented.
            let mut rx = GattRx::<512>::new();
            rx.set_mtu(23).unwrap();
            let packet = loop {
                let n = (&conn).read(&mut buf).unwrap();
                assert!(n <= 20);
                if let Some(p) = rx.push(&buf[..n]).unwrap() {
                    break p.to_vec();
                }
            };
            let mut tx = GattTx::new();
            let mut f = tx.fragment(&packet, 23).unwrap();
            let mut out = [0u8; 20];
            while let Some(x) = f.next_fragment(&mut out).unwrap() {
                (&conn).write_all(x).unwrap();
            }
        });
        let mut link = BleLink::connect(&path, DEFAULT_MTU, Duration::from_secs(5)).unwrap();
        assert_eq!(link.mtu(), 23);
        let packet: Vec<u8> = (0..100u8).collect();
        link.send(&packet).unwrap();
        assert_eq!(link.recv(Duration::from_secs(5)).unwrap(), packet);
        t.join().unwrap();
        assert!(matches!(link.recv(Duration::from_secs(5)), Err(LinkError::Closed)));
    }
}
