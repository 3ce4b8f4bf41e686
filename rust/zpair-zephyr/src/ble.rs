//! BLE mode: the GATT framing of zpair-core ([`GattLink`]) over the shim's BLE backend
//! (`shim/zpair_ble.c`, `zpair_ble_*` of `shim/include/zpair/shim.h`).
//!
//! The backend posts one `ZPAIR_IN_PACKET` input per ATT write (one fragment, `arg` = the ATT
//! MTU at that moment); [`Ble::receive`] reassembles them into session packets.
//! [`Ble::transmit`] cuts a packet at the connection's current MTU and queues each fragment
//! with `zpair_ble_notify`, which copies it; the C side sends one notification at a time (see
//! shim.h). One app connection at a time (the backend's rule).

use zpair_core::frame::gatt::{GattLink, SendError};
use zpair_core::frame::FrameError;

use crate::ffi;

/// The BLE connection's framing state.
pub struct Ble {
    /// The backend's id of the connected app.
    conn: Option<u32>,
    link: GattLink,
}

impl Ble {
    /// No app connected.
    pub const fn new() -> Self {
        Ble { conn: None, link: GattLink::new() }
    }

    /// An app connected (`ZPAIR_IN_CONNECTED`): framing starts over.
    pub fn connected(&mut self, conn: u32) {
        self.conn = Some(conn);
        self.link.reset();
    }

    /// The app disconnected (`ZPAIR_IN_DISCONNECTED`).
    pub fn disconnected(&mut self, conn: u32) {
        if self.conn == Some(conn) {
            self.conn = None;
            self.link.reset();
        }
    }

    /// One written fragment at ATT MTU `mtu`: the packet when it completes one. A fragment of
    /// a connection that is not the current one is ignored (`Ok(None)`).
    pub fn receive(&mut self, conn: u32, mtu: i32, fragment: &[u8]) -> Result<Option<&[u8]>, FrameError> {
        if self.conn != Some(conn) {
            return Ok(None);
        }
        let mtu = u16::try_from(mtu).unwrap_or(0);
        self.link.receive(mtu, fragment)
    }

    /// Sends a session packet to the app as notifications. Err: the packet was not (fully)
    /// queued (the app will see a framing error; the caller ends the connection).
    pub fn transmit(&mut self, conn: u32, packet: &[u8]) -> Result<usize, i32> {
        if self.conn != Some(conn) {
            return Err(-ffi::errno::ENOTCONN);
        }
        // SAFETY: plain call into the shim.
        let mtu = unsafe { ffi::zpair_ble_mtu(conn) };
        let sent = self.link.send(packet, mtu, |f| {
            // SAFETY: `f` is readable for its length during the call (the shim copies it).
            match unsafe { ffi::zpair_ble_notify(conn, f.as_ptr(), f.len()) } {
                0 => Ok(()),
                rc => Err(rc),
            }
        });
        match sent {
            Ok(n) => Ok(n),
            Err(SendError::Sink(rc)) => Err(rc),
            Err(SendError::Frame(e)) => {
                log::warn!("ble: packet of {} bytes not framed: {e}", packet.len());
                Err(-ffi::errno::EINVAL)
            }
        }
    }
}

impl Default for Ble {
    fn default() -> Self {
        Self::new()
    }
}
