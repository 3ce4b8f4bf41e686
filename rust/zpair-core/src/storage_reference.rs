//! Test oracle: the payload codec as it was before the smaller one in `storage.rs` replaced it
//! (every `Reader`/`Writer` call returned a `Result` and `?` chained them). The property tests
//! in `storage.rs` check that old and new agree on every input: same bytes, same lengths, same
//! states, and the same error (the one that wins when several apply).
#![allow(clippy::question_mark)]

use super::*;

struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        let end = self.pos.checked_add(bytes.len()).ok_or(WireError::BufferTooSmall)?;
        let dst = self.buf.get_mut(self.pos..end).ok_or(WireError::BufferTooSmall)?;
        dst.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }
    fn u8(&mut self, v: u8) -> Result<(), WireError> {
        self.put(&[v])
    }
    /// A length-prefixed byte string (length < 256 by the callers' bounds).
    fn lv(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        let len = u8::try_from(bytes.len()).map_err(|_| WireError::TooLong)?;
        self.u8(len)?;
        self.put(bytes)
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(WireError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }
    fn u16(&mut self) -> Result<u16, WireError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b.first().copied().unwrap_or(0), b.get(1).copied().unwrap_or(0)]))
    }
    /// A length-prefixed byte string of at most `max` bytes.
    fn lv(&mut self, max: usize) -> Result<&'a [u8], WireError> {
        let len = usize::from(self.u8()?);
        if len > max {
            return Err(WireError::TooLong);
        }
        self.take(len)
    }
    fn done(&self) -> Result<(), WireError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(WireError::TrailingBytes)
        }
    }
}

const fn mode_from_code(c: u8) -> Result<Option<Mode>, WireError> {
    Ok(match c {
        0 => None,
        1 => Some(Mode::SoftAp),
        2 => Some(Mode::Ble),
        3 => Some(Mode::Wired),
        4 => Some(Mode::Cellular),
        _ => return Err(WireError::Malformed),
    })
}

/// The old `PersistedState::encode`.
pub fn encode(st: &PersistedState, out: &mut [u8]) -> Result<usize, WireError> {
    st.validate().map_err(WireError::Invalid)?;
    let mut w = Writer { buf: out, pos: 0 };
    let mut flags = 0;
    if st.activated {
        flags |= FLAG_ACTIVATED;
    }
    if st.wifi.is_some() {
        flags |= FLAG_WIFI;
    }
    if st.operational.is_some() {
        flags |= FLAG_OPERATIONAL;
    }
    w.u8(flags)?;
    w.u8(mode_code(st.mode))?;
    w.u8(st.failed_attempts)?;
    if let Some(wifi) = &st.wifi {
        w.lv(wifi.ssid.as_bytes())?;
        let mut wf = 0;
        if wifi.hidden {
            wf |= WIFI_HIDDEN;
        }
        if wifi.bssid.is_some() {
            wf |= WIFI_BSSID;
        }
        if wifi.channel.is_some() {
            wf |= WIFI_CHANNEL;
        }
        w.u8(wf)?;
        w.u8(wifi.security.code())?;
        w.lv(wifi.passphrase.expose())?;
        if let Some(b) = wifi.bssid {
            w.put(&b.0)?;
        }
        if let Some(c) = wifi.channel {
            w.u8(c)?;
        }
    }
    if let Some(op) = &st.operational {
        w.lv(op.name.as_bytes())?;
        w.put(op.secret.expose())?;
        w.put(&op.endpoint.region)?;
        match &op.endpoint.host {
            Some(h) => w.lv(h)?,
            None => w.u8(0)?,
        }
        w.put(&op.endpoint.port.to_le_bytes())?;
    }
    Ok(w.pos)
}

/// The old `PersistedState::decode`.
pub fn decode(buf: &[u8]) -> Result<PersistedState, WireError> {
    if buf.len() > PAYLOAD_MAX {
        return Err(WireError::TooLong);
    }
    let mut r = Reader { buf, pos: 0 };
    let flags = r.u8()?;
    if flags & !(FLAG_ACTIVATED | FLAG_WIFI | FLAG_OPERATIONAL) != 0 {
        return Err(WireError::Malformed);
    }
    let mode = mode_from_code(r.u8()?)?;
    let failed_attempts = r.u8()?;
    let wifi = if flags & FLAG_WIFI != 0 {
        let ssid = Ssid::new(r.lv(SSID_MAX)?).map_err(WireError::Invalid)?;
        let wf = r.u8()?;
        if wf & !(WIFI_HIDDEN | WIFI_BSSID | WIFI_CHANNEL) != 0 {
            return Err(WireError::Malformed);
        }
        let security = Security::from_code(r.u8()?).map_err(WireError::Invalid)?;
        let pass = r.lv(PASSPHRASE_MAX)?;
        let passphrase = if pass.is_empty() {
            Passphrase::none()
        } else {
            Passphrase::new(pass).map_err(WireError::Invalid)?
        };
        let bssid = if wf & WIFI_BSSID != 0 {
            let b: [u8; 6] = r.take(6)?.try_into().map_err(|_| WireError::Truncated)?;
            Some(Bssid(b))
        } else {
            None
        };
        let channel = if wf & WIFI_CHANNEL != 0 { Some(r.u8()?) } else { None };
        let creds = WifiCredentials {
            ssid,
            hidden: wf & WIFI_HIDDEN != 0,
            security,
            passphrase,
            bssid,
            channel,
        };
        creds.validate().map_err(WireError::Invalid)?;
        Some(creds)
    } else {
        None
    };
    let operational = if flags & FLAG_OPERATIONAL != 0 {
        let name = CloudName::new(r.lv(CLOUD_NAME_MAX)?).map_err(WireError::Invalid)?;
        let secret = DeviceSecret::from_slice(r.take(DEVICE_SECRET_LEN)?)
            .map_err(WireError::Invalid)?;
        let region = r.take(2)?;
        let host = r.lv(HOST_MAX)?;
        let port = r.u16()?;
        let host = if host.is_empty() { None } else { Some(host) };
        let endpoint = CloudEndpoint::new(region, host, port).map_err(WireError::Invalid)?;
        Some(OperationalCredentials { name, secret, endpoint })
    } else {
        None
    };
    r.done()?;
    let state = PersistedState {
        mode,
        wifi,
        operational,
        activated: flags & FLAG_ACTIVATED != 0,
        failed_attempts,
    };
    state.validate().map_err(WireError::Invalid)?;
    Ok(state)
}
