//! The transports of the simulation: SoftAP (TCP, stream framing), BLE (`SOCK_SEQPACKET`,
//! ATT MTU exchange, GATT fragments) and wired (UDP datagrams), as specified in
//! `docs/transports.md`.
//!
//! Acceptor and reader threads only move bytes: they turn connections, frames and closes into
//! inputs for the device thread, which owns every writer and all state.

use crate::engine::Input;
use socket2::{Domain, SockAddr, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
use zpair_core::frame::gatt::{ATT_HEADER_LEN, ATT_MTU_MAX, ATT_MTU_MIN};
use zpair_core::frame::stream::STREAM_HEADER_LEN;
use zpair_core::frame::{encode_stream, write_datagram, FrameError, GattRx, GattTx, StreamDecoder, MAX_PACKET};
use zpair_core::machine::ConnId;
use zpair_core::types::Mode;

/// ATT opcode of an Exchange MTU Request.
pub const ATT_EXCHANGE_MTU_REQ: u8 = 0x02;
/// ATT opcode of an Exchange MTU Response.
pub const ATT_EXCHANGE_MTU_RSP: u8 = 0x03;

/// Allocates connection ids (shared by all transports of one device).
#[derive(Debug, Clone, Default)]
pub(crate) struct ConnIds(Arc<AtomicU32>);

impl ConnIds {
    pub fn next(&self) -> ConnId {
        ConnId(self.0.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

/// The device's writing end of one connection.
pub(crate) enum Link {
    /// A SoftAP TCP connection.
    Tcp(TcpStream),
    /// A BLE connection.
    Ble { sock: Socket, tx: GattTx, mtu: u16 },
    /// A wired peer (sent through the wired session socket).
    Udp { peer: SocketAddr },
}

/// What one packet cost on the wire.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cost {
    pub frames: u64,
    pub bytes: u64,
}

impl Link {
    /// Sends one packet; `udp` is the wired session socket (for [`Link::Udp`]). Returns the
    /// frames written (the datagram bytes for wired, so that a reply cache can resend them).
    pub fn send(&mut self, packet: &[u8], udp: Option<&UdpSocket>) -> io::Result<(Cost, Option<Vec<u8>>)> {
        match self {
            Link::Tcp(s) => {
                let mut buf = [0u8; MAX_PACKET + STREAM_HEADER_LEN];
                let framed = encode_stream(packet, &mut buf).map_err(frame_io)?;
                s.write_all(framed)?;
                Ok((Cost { frames: 1, bytes: framed.len() as u64 }, None))
            }
            Link::Ble { sock, tx, mtu } => {
                let mut frag = tx.fragment(packet, *mtu).map_err(frame_io)?;
                let mut buf = [0u8; ATT_MTU_MAX as usize];
                let mut cost = Cost::default();
                while let Some(f) = frag.next_fragment(&mut buf).map_err(frame_io)? {
                    sock.send(f)?;
                    cost.frames += 1;
                    cost.bytes += (f.len() + ATT_HEADER_LEN) as u64;
                }
                Ok((cost, None))
            }
            Link::Udp { peer } => {
                let sock = udp.ok_or_else(|| io::Error::other("wired socket closed"))?;
                let mut buf = [0u8; zpair_core::frame::datagram::DATAGRAM_MAX];
                let d = write_datagram(packet, &mut buf).map_err(frame_io)?;
                sock.send_to(d, *peer)?;
                Ok((Cost { frames: 1, bytes: d.len() as u64 }, Some(d.to_vec())))
            }
        }
    }

    /// Closes the connection (the reader thread then reports it closed).
    pub fn close(&mut self) {
        match self {
            Link::Tcp(s) => {
                let _ = s.shutdown(Shutdown::Both);
            }
            Link::Ble { sock, .. } => {
                let _ = sock.shutdown(Shutdown::Both);
            }
            Link::Udp { .. } => {}
        }
    }
}

fn frame_io(e: FrameError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// A listening server with a stop flag and its acceptor thread.
pub(crate) struct Server {
    stop: Arc<AtomicBool>,
    wake: Box<dyn Fn() + Send>,
    thread: Option<JoinHandle<()>>,
    cleanup: Option<PathBuf>,
}

impl Server {
    /// Stops accepting and waits for the acceptor thread. Open connections stay open.
    pub fn stop(mut self) {
        self.stop_inner();
    }
    fn stop_inner(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        (self.wake)();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(p) = self.cleanup.take() {
            crate::air::remove(&p);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop_inner();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SoftAP: TCP + stream framing
// ---------------------------------------------------------------------------------------------

/// Starts the SoftAP's TCP listener on `addr` (port 0: any).
pub(crate) fn start_softap(addr: SocketAddr, ids: ConnIds, tx: Sender<Input>) -> io::Result<(Server, SocketAddr)> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new().name("zpair-softap".into()).spawn(move || {
        for stream in listener.incoming() {
            if flag.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = stream else { continue };
            let _ = stream.set_nodelay(true);
            let Ok(writer) = stream.try_clone() else { continue };
            let conn = ids.next();
            if tx.send(Input::Accepted { conn, mode: Mode::SoftAp, link: Link::Tcp(writer) }).is_err() {
                break;
            }
            let tx = tx.clone();
            let _ = std::thread::Builder::new()
                .name(format!("zpair-softap-{}", conn.0))
                .spawn(move || tcp_reader(conn, stream, tx));
        }
    })?;
    let wake = Box::new(move || {
        let _ = TcpStream::connect(local);
    });
    Ok((Server { stop, wake, thread: Some(thread), cleanup: None }, local))
}

fn tcp_reader(conn: ConnId, mut stream: TcpStream, tx: Sender<Input>) {
    let mut dec: StreamDecoder = StreamDecoder::new();
    let mut buf = [0u8; 1024];
    let error = loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => break None,
            Ok(n) => n,
        };
        let mut input = &buf[..n];
        let mut failed = None;
        while !input.is_empty() {
            match dec.feed(&mut input) {
                Ok(Some(p)) => {
                    let cost = Cost { frames: 1, bytes: (p.len() + STREAM_HEADER_LEN) as u64 };
                    if tx.send(Input::Packet { conn, packet: p.to_vec(), cost }).is_err() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if failed.is_some() {
            let _ = stream.shutdown(Shutdown::Both);
            break failed;
        }
    };
    let _ = tx.send(Input::Closed { conn, error });
}

// ---------------------------------------------------------------------------------------------
// BLE: SOCK_SEQPACKET, MTU exchange, GATT fragments
// ---------------------------------------------------------------------------------------------

/// Starts the BLE "radio": a `SOCK_SEQPACKET` listener at `path`; `max_mtu` is the device's
/// ATT MTU in the exchange.
pub(crate) fn start_ble(path: &Path, max_mtu: u16, ids: ConnIds, tx: Sender<Input>) -> io::Result<Server> {
    crate::air::remove(path);
    let listener = Socket::new(Domain::UNIX, Type::SEQPACKET, None)?;
    listener.bind(&SockAddr::unix(path)?)?;
    listener.listen(8)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let max_mtu = max_mtu.clamp(ATT_MTU_MIN, ATT_MTU_MAX);
    let thread = std::thread::Builder::new().name("zpair-ble".into()).spawn(move || loop {
        let accepted = listener.accept();
        if flag.load(Ordering::SeqCst) {
            break;
        }
        let Ok((sock, _)) = accepted else { continue };
        let Ok(writer) = sock.try_clone() else { continue };
        let conn = ids.next();
        let link = Link::Ble { sock: writer, tx: GattTx::new(), mtu: ATT_MTU_MIN };
        if tx.send(Input::Accepted { conn, mode: Mode::Ble, link }).is_err() {
            break;
        }
        let tx = tx.clone();
        let _ = std::thread::Builder::new()
            .name(format!("zpair-ble-{}", conn.0))
            .spawn(move || ble_reader(conn, sock, max_mtu, tx));
    })?;
    let wake_path = path.to_owned();
    let wake = Box::new(move || {
        if let (Ok(s), Ok(a)) = (Socket::new(Domain::UNIX, Type::SEQPACKET, None), SockAddr::unix(&wake_path)) {
            let _ = s.connect(&a);
        }
    });
    Ok(Server { stop, wake, thread: Some(thread), cleanup: Some(path.to_owned()) })
}

/// The MTU an exchange settles on: the smaller of both, at least 23.
pub fn negotiated_mtu(client: u16, server: u16) -> u16 {
    client.min(server).max(ATT_MTU_MIN)
}

fn ble_reader(conn: ConnId, sock: Socket, max_mtu: u16, tx: Sender<Input>) {
    let mut rx: GattRx = GattRx::new();
    let mut buf = [0u8; ATT_MTU_MAX as usize + 8];
    let mut first = true;
    let error = loop {
        let n = match (&sock).read(&mut buf) {
            Ok(0) | Err(_) => break None,
            Ok(n) => n,
        };
        let pdu = &buf[..n];
        if first {
            first = false;
            if let [ATT_EXCHANGE_MTU_REQ, lo, hi] = *pdu {
                let mtu = negotiated_mtu(u16::from_le_bytes([lo, hi]), max_mtu);
                let [a, b] = max_mtu.to_le_bytes();
                if sock.send(&[ATT_EXCHANGE_MTU_RSP, a, b]).is_err() {
                    break None;
                }
                let _ = rx.set_mtu(mtu);
                if tx.send(Input::Mtu { conn, mtu }).is_err() {
                    return;
                }
                continue;
            }
        }
        let mtu = rx.mtu();
        match rx.push(pdu) {
            Ok(Some(p)) => {
                let frames = fragments_of(p.len(), mtu);
                let cost = Cost { frames, bytes: (p.len() + 2) as u64 + frames * (1 + ATT_HEADER_LEN as u64) };
                if tx.send(Input::Packet { conn, packet: p.to_vec(), cost }).is_err() {
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => {
                let _ = sock.shutdown(Shutdown::Both);
                break Some(e);
            }
        }
    };
    let _ = tx.send(Input::Closed { conn, error });
}

fn fragments_of(len: usize, mtu: u16) -> u64 {
    zpair_core::frame::gatt::fragment_count(len, mtu).unwrap_or(1) as u64
}

// ---------------------------------------------------------------------------------------------
// Wired: UDP
// ---------------------------------------------------------------------------------------------

/// Starts the wired session socket on `addr`; returns the server, a socket clone for sending
/// and the bound address.
pub(crate) fn start_wired(addr: SocketAddr, tx: Sender<Input>) -> io::Result<(Server, UdpSocket, SocketAddr)> {
    let sock = UdpSocket::bind(addr)?;
    let local = sock.local_addr()?;
    let sender = sock.try_clone()?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::Builder::new().name("zpair-wired".into()).spawn(move || {
        let mut buf = [0u8; 2048];
        loop {
            let r = sock.recv_from(&mut buf);
            if flag.load(Ordering::SeqCst) {
                break;
            }
            if let Ok((n, from)) = r {
                if n > 0 && tx.send(Input::Udp { from, datagram: buf[..n].to_vec() }).is_err() {
                    break;
                }
            }
        }
    })?;
    let wake = Box::new(move || {
        if let Ok(s) = UdpSocket::bind(SocketAddr::new(local.ip(), 0)) {
            let _ = s.send_to(&[], local);
        }
    });
    Ok((Server { stop, wake, thread: Some(thread), cleanup: None }, sender, local))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtu_negotiation() {
        assert_eq!(negotiated_mtu(247, 23), 23);
        assert_eq!(negotiated_mtu(517, 247), 247);
        assert_eq!(negotiated_mtu(10, 247), 23);
        assert_eq!(negotiated_mtu(185, 247), 185);
    }

    #[test]
    fn ble_cost_matches_att_bytes() {
        for (len, mtu) in [(68usize, 23u16), (99, 23), (512, 23), (68, 247), (300, 247)] {
            let f = fragments_of(len, mtu);
            let bytes = (len + 2) as u64 + f * 4;
            assert_eq!(Some(bytes as usize), zpair_core::frame::gatt::att_bytes(len, mtu));
        }
    }
}
