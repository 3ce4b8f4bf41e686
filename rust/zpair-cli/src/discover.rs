//! Finding devices: SoftAPs, BLE adverts and cellular QR codes in the air, wired
//! announcements on the LAN; and connecting to what was found.

use crate::air::{parse_device_id, Air};
use crate::error::CliError;
use crate::events::Event;
use crate::link::{AnnounceListener, BleLink, Link, LinkError, Retransmit, SoftApLink, WiredLink};
use crate::setup::SetupSource;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use zpair_core::payload::discriminator_of;
use zpair_core::types::{DeviceId, Mode, ProductId};

/// Where a found device can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Its SoftAP: joining is connecting to this TCP address.
    SoftAp {
        /// The AP's SSID.
        ssid: String,
        /// The pairing endpoint.
        addr: SocketAddr,
    },
    /// Its BLE socket.
    Ble {
        /// The socket path.
        socket: PathBuf,
    },
    /// Its UDP session port.
    Wired {
        /// The session address.
        addr: SocketAddr,
    },
    /// A QR code on its display (no session: bind in the cloud).
    Cellular,
}

/// A device in range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The mode it was found in.
    pub mode: Mode,
    /// Its factory id.
    pub device: DeviceId,
    /// Its product, when advertised.
    pub product: Option<ProductId>,
    /// Its advertised pairing state, when known.
    pub state: Option<String>,
    /// How to reach it.
    pub endpoint: Endpoint,
}

impl Found {
    /// A printable address.
    pub fn address(&self) -> String {
        match &self.endpoint {
            Endpoint::SoftAp { ssid, addr } => format!("{ssid} ({addr})"),
            Endpoint::Ble { socket } => socket.display().to_string(),
            Endpoint::Wired { addr } => addr.to_string(),
            Endpoint::Cellular => "QR code on the device".into(),
        }
    }

    /// The `found` event.
    pub fn event(&self) -> Event {
        Event::Found {
            mode: self.mode.name(),
            device: self.device.to_string(),
            product: self.product.map(|p| p.0),
            discriminator: discriminator_of(self.device),
            state: self.state.clone(),
            address: self.address(),
        }
    }
}

/// Which device the user means.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    /// `--device`.
    pub device: Option<DeviceId>,
    /// `--ssid` (SoftAP).
    pub ssid: Option<String>,
    /// The setup source (payload: device id; manual code: discriminator).
    pub source: Option<SetupSource>,
}

impl Selector {
    /// Whether a device with this id (and SSID) may be the one.
    pub fn accepts(&self, device: DeviceId, ssid: Option<&str>) -> bool {
        if self.device.is_some_and(|d| d != device) {
            return false;
        }
        if let (Some(want), Some(have)) = (&self.ssid, ssid) {
            if want != have {
                return false;
            }
        }
        self.source.as_ref().is_none_or(|s| s.matches(device))
    }

    /// Whether the selector names exactly one device.
    pub fn is_exact(&self) -> bool {
        self.device.is_some() || self.ssid.is_some() || self.source.as_ref().is_some_and(|s| s.device().is_some())
    }

    /// A description for messages.
    pub fn describe(&self) -> String {
        if let Some(d) = self.device.or_else(|| self.source.as_ref().and_then(SetupSource::device)) {
            format!("device {d}")
        } else if let Some(s) = &self.ssid {
            format!("SoftAP {s}")
        } else if let Some(SetupSource::Manual(m)) = &self.source {
            format!("a device with discriminator {}", m.discriminator())
        } else {
            "a device".into()
        }
    }
}

fn resolve(addr: &str, port: u16) -> Option<SocketAddr> {
    (addr, port).to_socket_addrs().ok()?.next()
}

/// SoftAPs in the air.
pub fn softaps(air: &Air) -> Vec<Found> {
    air.softaps()
        .into_iter()
        .filter_map(|ap| {
            Some(Found {
                mode: Mode::SoftAp,
                device: parse_device_id(&ap.device)?,
                product: None,
                state: Some("window_open".into()),
                endpoint: Endpoint::SoftAp { addr: resolve(&ap.addr, ap.port)?, ssid: ap.ssid },
            })
        })
        .collect()
}

/// BLE adverts in the air.
pub fn ble(air: &Air) -> Vec<Found> {
    air.ble()
        .into_iter()
        .filter_map(|a| {
            Some(Found {
                mode: Mode::Ble,
                device: parse_device_id(&a.device)?,
                product: Some(ProductId(a.product)),
                state: (!a.state.is_empty()).then(|| a.state.clone()),
                endpoint: Endpoint::Ble { socket: a.socket },
            })
        })
        .collect()
}

/// Cellular QR codes in the air.
pub fn cellular(air: &Air) -> Vec<Found> {
    air.cellular()
        .into_iter()
        .filter_map(|c| {
            let product = zpair_core::payload::parse(c.payload.trim()).ok().map(|p| p.product);
            let state = match c.modem.as_str() {
                "" | "attached" => "window_open".to_owned(),
                "attaching" => "modem_attaching".to_owned(),
                err => err.to_owned(),
            };
            Some(Found {
                mode: Mode::Cellular,
                device: parse_device_id(&c.device)?,
                product,
                state: Some(state),
                endpoint: Endpoint::Cellular,
            })
        })
        .collect()
}

/// Wired devices heard until `deadline` (or until `enough` says so).
pub fn wired(listener: &AnnounceListener, deadline: Instant, enough: impl Fn(&[Found]) -> bool) -> std::io::Result<Vec<Found>> {
    let to_found = |h: &crate::link::Heard| Found {
        mode: Mode::Wired,
        device: h.announce.device,
        product: Some(h.announce.product),
        state: Some(if h.announce.window_open { h.announce.state.name().to_owned() } else { "window_closed".into() }),
        endpoint: Endpoint::Wired { addr: h.session_addr },
    };
    let heard = listener.listen(deadline, |h| enough(&h.iter().map(to_found).collect::<Vec<_>>()))?;
    Ok(heard.iter().map(to_found).collect())
}

/// Waits up to `wait` for devices of `mode` that `sel` accepts; returns them all (an exact
/// selector returns as soon as its device shows up, otherwise the first sighting wins).
pub fn find(
    mode: Mode,
    air: &Air,
    listener: Option<&AnnounceListener>,
    sel: &Selector,
    wait: Duration,
) -> Result<Vec<Found>, CliError> {
    let deadline = Instant::now() + wait;
    let accept = |f: &Found| {
        let ssid = match &f.endpoint {
            Endpoint::SoftAp { ssid, .. } => Some(ssid.as_str()),
            _ => None,
        };
        sel.accepts(f.device, ssid)
    };
    let found = loop {
        let all = match mode {
            Mode::SoftAp => softaps(air),
            Mode::Ble => ble(air),
            Mode::Cellular => cellular(air),
            Mode::Wired => {
                let l = listener.ok_or_else(|| CliError::config("no announce listener", "give --announce ADDR"))?;
                // Wired devices announce every second or so: listen in slices.
                let slice = (Instant::now() + Duration::from_millis(1500)).min(deadline);
                wired(l, slice, |fs| fs.iter().any(accept)).map_err(|e| CliError::io("listening for announcements", &e))?
            }
        };
        let matching: Vec<Found> = all.into_iter().filter(|f| accept(f)).collect();
        if !matching.is_empty() || Instant::now() >= deadline {
            break matching;
        }
        if mode != Mode::Wired {
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    if found.is_empty() {
        let where_ = match mode {
            Mode::SoftAp => format!("no SoftAP of {} in range (air: {})", sel.describe(), air.dir().display()),
            Mode::Ble => format!("no BLE advert of {} in range (air: {})", sel.describe(), air.dir().display()),
            Mode::Cellular => format!("no QR code of {} shown (air: {})", sel.describe(), air.dir().display()),
            Mode::Wired => format!(
                "no announcement of {} heard on {}",
                sel.describe(),
                listener.and_then(|l| l.local_addr().ok()).map_or_else(|| "-".into(), |a| a.to_string())
            ),
        };
        return Err(CliError::not_found(
            format!("{where_} within {:.0} s", wait.as_secs_f64()),
            "check that the device is powered and its pairing window is open (press its pairing button), then start again",
        ));
    }
    Ok(found)
}

/// Connection settings.
#[derive(Debug, Clone, Copy)]
pub struct ConnectOptions {
    /// ATT MTU to ask for (BLE).
    pub mtu: u16,
    /// Retransmission policy (wired).
    pub retransmit: Retransmit,
    /// Connection timeout.
    pub timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions { mtu: crate::link::DEFAULT_MTU, retransmit: Retransmit::default(), timeout: Duration::from_secs(10) }
    }
}

/// Connects to a found device.
pub fn connect(f: &Found, opts: &ConnectOptions) -> Result<Box<dyn Link>, LinkError> {
    Ok(match &f.endpoint {
        Endpoint::SoftAp { addr, .. } => Box::new(SoftApLink::connect(*addr, opts.timeout)?),
        Endpoint::Ble { socket } => Box::new(BleLink::connect(socket, opts.mtu, opts.timeout)?),
        Endpoint::Wired { addr } => Box::new(WiredLink::connect(*addr, opts.retransmit)?),
        Endpoint::Cellular => return Err(LinkError::Closed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        let d = DeviceId(0x0011_2233_4455_6677);
        assert!(Selector::default().accepts(d, None));
        assert!(!Selector::default().is_exact());
        let s = Selector { device: Some(d), ..Default::default() };
        assert!(s.accepts(d, Some("zpair-6677")) && !s.accepts(DeviceId(1), None) && s.is_exact());
        let s = Selector { ssid: Some("zpair-6677".into()), ..Default::default() };
        assert!(s.accepts(d, Some("zpair-6677")) && !s.accepts(d, Some("zpair-0000")));
        assert_eq!(s.describe(), "SoftAP zpair-6677");
    }

    #[test]
    fn nothing_in_the_air_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let air = Air::new(dir.path());
        let e = find(Mode::Ble, &air, None, &Selector::default(), Duration::from_millis(50)).unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(e.message.contains("no BLE advert"));
        let l = AnnounceListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let e = find(Mode::Wired, &air, Some(&l), &Selector::default(), Duration::from_millis(50)).unwrap_err();
        assert!(e.message.contains("no announcement"));
    }
}
