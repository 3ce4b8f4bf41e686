//! The SoftAP transport: the app's TCP connection on the device's access point, carrying
//! zpair-core's stream framing (a 2-byte big-endian length, then the packet;
//! [`zpair_core::frame::stream`]), as zpair-sim's SoftAP transport does.
//!
//! The shim (`shim/zpair_softap.c`) delivers the raw bytes of each TCP connection as
//! `ZPAIR_IN_PACKET` inputs with mode `ZPAIR_MODE_SOFTAP`, in whatever chunks `recv()` returned.
//! [`SoftAp`] keeps one [`StreamDecoder`] per connection, hands every whole packet to the device
//! engine and sends its answer framed. A framing error is fatal for the connection (a byte
//! stream cannot be resynchronised): it is closed and reported to the engine as a disconnect.
//!
//! One radio: the shim takes the access point down when the station joins the router, which
//! closes the app's connection (reported as `ZPAIR_IN_DISCONNECTED`, the pairing goes on); the
//! app follows the activation in the cloud, and when the machine rolls back the window (and
//! the access point) reopens for the next attempt.

use zpair_core::device::Device;
use zpair_core::frame::stream::{encode_stream, StreamDecoder, STREAM_HEADER_LEN};
use zpair_core::frame::MAX_PACKET;

use crate::engine::conn_id;
use crate::ffi;
use crate::sys::ZCrypto;

/// Simultaneous connections (the shim's `ZPAIR_WIFI_TCP_MAX_CONN`: the session's app and one
/// more, which the core refuses with `Alert(busy)`).
const CONNS: usize = 2;

/// One app connection and its reassembly state.
struct Conn {
    /// The shim's connection id; 0: free.
    id: u32,
    rx: StreamDecoder,
}

/// Per-connection stream reassembly and framing of the SoftAP transport.
pub(crate) struct SoftAp {
    conns: [Conn; CONNS],
    tx: [u8; STREAM_HEADER_LEN + MAX_PACKET],
}

impl SoftAp {
    /// No connection.
    pub(crate) const fn new() -> Self {
        SoftAp {
            conns: [
                Conn { id: 0, rx: StreamDecoder::new() },
                Conn { id: 0, rx: StreamDecoder::new() },
            ],
            tx: [0; STREAM_HEADER_LEN + MAX_PACKET],
        }
    }

    fn slot(&mut self, id: u32) -> Option<&mut Conn> {
        self.conns.iter_mut().find(|c| c.id == id && id != 0)
    }

    /// The shim accepted connection `id`: a fresh decoder for it. Returns false when every
    /// slot is taken (the shim never accepts more than [`CONNS`]).
    pub(crate) fn connected(&mut self, id: u32) -> bool {
        if id == 0 {
            return false;
        }
        if let Some(c) = self.slot(id) {
            c.rx.reset();
            return true;
        }
        match self.conns.iter_mut().find(|c| c.id == 0) {
            Some(c) => {
                c.id = id;
                c.rx.reset();
                true
            }
            None => false,
        }
    }

    /// Connection `id` is gone (closed by either side): its slot is free.
    pub(crate) fn forget(&mut self, id: u32) {
        if let Some(c) = self.slot(id) {
            c.id = 0;
            c.rx.reset();
        }
    }

    /// Frames `packet` and sends it on connection `id`.
    pub(crate) fn transmit(&mut self, id: u32, packet: &[u8]) {
        send(&mut self.tx, id, packet);
    }

    /// Bytes received on connection `id`: every packet they complete goes to the device, and
    /// its immediate answer back to the app.
    pub(crate) fn receive(&mut self, device: &mut Device<ZCrypto>, now: u64, id: u32, mut data: &[u8]) {
        let conn = conn_id(ffi::ZPAIR_MODE_SOFTAP, id);
        let Self { conns, tx } = self;
        let Some(c) = conns.iter_mut().find(|c| c.id == id && id != 0) else {
            log::debug!("softap: {} bytes for unknown conn {id}", data.len());
            return;
        };
        loop {
            match c.rx.feed(&mut data) {
                Ok(Some(packet)) => {
                    if let Some(reply) = device.receive(now, conn, packet) {
                        send(tx, id, reply);
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    log::warn!("softap: conn {id}: {}, closing it", e.name());
                    c.id = 0;
                    c.rx.reset();
                    // SAFETY: plain call into the shim (unknown connections are ignored).
                    let _ = unsafe { ffi::zpair_softap_close(id) };
                    device.app_disconnected(now, conn);
                    return;
                }
            }
        }
    }
}

fn send(tx: &mut [u8], id: u32, packet: &[u8]) {
    let Ok(framed) = encode_stream(packet, tx) else {
        log::warn!("softap: packet of {} bytes not sent", packet.len());
        return;
    };
    // SAFETY: `framed` is readable for its length during the call.
    let rc = unsafe { ffi::zpair_softap_send(id, framed.as_ptr(), framed.len()) };
    if rc != 0 {
        log::warn!("softap: send on conn {id} failed ({rc})");
    }
}
