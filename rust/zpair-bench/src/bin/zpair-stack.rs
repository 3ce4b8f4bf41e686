//! Stack high-water marks of the device engine.
//!
//! ```text
//! zpair-stack host
//!     A whole BLE pairing (connect, PairRequest, PairConfirm + Provision, network up,
//!     activation, commit) on a thread of its own; every call into `Device` runs painted
//!     (`zpair_bench::stack::measure`). Prints `host.<call>\t<bytes>`, the deepest of each.
//! zpair-stack static STACK_SIZES.txt DISASSEMBLY.txt ROOT [ROOT...]
//!     The deepest chain of frames from each ROOT symbol of an embedded image built with
//!     `-Z emit-stack-sizes` (`llvm-readelf --stack-sizes`, `llvm-objdump -d`). Prints
//!     `static.<root>\t<bytes>` and the chain.
//! ```

use std::collections::BTreeMap;

use zpair_bench::handshake::{DEVICE, SETUP_CODE};
use zpair_bench::stack::{measure, parse_calls, parse_stack_sizes, static_worst_case};
use zpair_core::device::{Device, Identity, Output};
use zpair_core::machine::{Action, CloudName, Config, ConnId, DeviceSecret, Event, OperationalCredentials};
use zpair_core::msg::{AppToDevice, Capabilities, FirmwareVersion, Provision};
use zpair_core::session::AppSession;
use zpair_core::spake2plus::Verifier;
use zpair_core::types::{
    ActivationToken, CloudEndpoint, Mode, Modes, Passphrase, ProductId, Security, SetupCode, Ssid, WifiCredentials,
};
use zpair_mbedtls::{MbedTls, OsEntropy};

type Dev = Device<MbedTls<OsEntropy>>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("host") => std::thread::Builder::new()
            .stack_size(4 << 20)
            .spawn(host)
            .map_err(|e| e.to_string())
            .and_then(|h| h.join().map_err(|_| "the measuring thread panicked".to_string()))
            .and_then(|r| r),
        Some("static") if args.len() >= 4 => static_report(&args[1], &args[2], &args[3..]),
        _ => Err("usage: zpair-stack host | static STACK_SIZES.txt DISASSEMBLY.txt ROOT...".into()),
    };
    match r {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("zpair-stack: {e}");
            std::process::exit(1);
        }
    }
}

fn static_report(sizes: &str, disasm: &str, roots: &[String]) -> Result<String, String> {
    let sizes = std::fs::read_to_string(sizes).map_err(|e| format!("{sizes}: {e}"))?;
    let disasm = std::fs::read_to_string(disasm).map_err(|e| format!("{disasm}: {e}"))?;
    let frames = parse_stack_sizes(&sizes);
    let (calls, indirect) = parse_calls(&disasm);
    let mut out = String::new();
    for root in roots {
        // Roots may be given as a prefix of a (demangled) symbol.
        let name = calls.keys().filter(|k| k.starts_with(root.as_str())).min_by_key(|k| k.len()).cloned();
        let Some(name) = name else {
            out.push_str(&format!("static.{root}\tmissing\n"));
            continue;
        };
        let r = static_worst_case(&name, &frames, &calls, &indirect);
        out.push_str(&format!("static.{root}\t{}\n", r.bytes));
        for (f, b) in &r.chain {
            out.push_str(&format!("static.{root}.chain\t{b}\t{f}\n"));
        }
        out.push_str(&format!("static.{root}.unknown_frames\t{}\n", r.unknown_frames.len()));
        out.push_str(&format!("static.{root}.indirect_callers\t{}\n", r.indirect_callers.join(" | ")));
        out.push_str(&format!("static.{root}.recursion\t{}\n", r.recursive.join(" | ")));
    }
    Ok(out)
}

fn host() -> Result<String, String> {
    let dbg = |e: &dyn std::fmt::Debug| format!("{e:?}");
    let mut deepest: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut note = |what: &'static str, used: Option<usize>| -> Result<(), String> {
        let used = used.ok_or(format!("{what}: deeper than the painted region"))?;
        let e = deepest.entry(what).or_default();
        *e = (*e).max(used);
        Ok(())
    };
    let mut crypto = MbedTls::os();
    let code = SetupCode::new(SETUP_CODE).map_err(|e| dbg(&e))?;
    let verifier = Verifier::for_setup_code(&mut crypto, &code, DEVICE).map_err(|e| dbg(&e))?;
    let identity = Identity {
        product: ProductId(0x5a50),
        device: DEVICE,
        modes: Modes::ALL,
        firmware: FirmwareVersion { major: 1, minor: 2, patch: 3 },
        capabilities: Capabilities::from_bits(0b1111),
    };
    // The engine lives on the heap (as in a static in firmware), not in a measured frame.
    let (dev, used) = measure(|| Box::new(Device::new(identity, verifier, crypto, Config::default(), None, 0)));
    let mut dev: Box<Dev> = dev;
    note("Device::new (incl. w0·M, w0·N)", used)?;
    let app_conn = ConnId(1);
    let drain = |dev: &mut Dev, now: u64, note: &mut dyn FnMut(&'static str, Option<usize>) -> Result<(), String>| {
        let mut packets = vec![];
        loop {
            let (out, used) = measure(|| {
                dev.poll(now).map(|o| match o {
                    Output::Transmit { packet, .. } => Some(packet.to_vec()),
                    Output::Action(Action::ReportFailed(_)) => Some(vec![]),
                    Output::Action(_) => None,
                })
            });
            note("Device::poll", used)?;
            match out {
                None => return Ok::<_, String>(packets),
                Some(Some(p)) if p.is_empty() => return Err("the pairing failed".to_string()),
                Some(Some(p)) => packets.push(p),
                Some(None) => {}
            }
        }
    };
    drain(&mut dev, 0, &mut note)?;
    let ((), used) = measure(|| dev.app_connected(10, app_conn, Mode::Ble));
    note("Device::app_connected", used)?;
    drain(&mut dev, 10, &mut note)?;

    let mut app = AppSession::new(MbedTls::os());
    let mut buf = [0u8; 600];
    let n = app.start_with_setup_code(&code, DEVICE, Mode::Ble, &mut buf).map_err(|e| e.to_string())?;
    let req = buf[..n].to_vec();
    let (resp, used) = measure(|| dev.receive(20, app_conn, &req).map(<[u8]>::to_vec));
    note("Device::receive (PairRequest: SPAKE2+)", used)?;
    let resp = resp.ok_or("no PairResponse")?;
    let provision = AppToDevice::Provision(Provision {
        wifi: Some(WifiCredentials {
            ssid: Ssid::new(b"HomeNet-24").map_err(|e| dbg(&e))?,
            hidden: false,
            security: Security::Wpa2Psk,
            passphrase: Passphrase::new(b"correct-pass").map_err(|e| dbg(&e))?,
            bssid: None,
            channel: None,
        }),
        token: Some(ActivationToken::new(b"tok-0123456789ab").map_err(|e| dbg(&e))?),
        endpoint: Some(CloudEndpoint::new(b"eu", None, 0).map_err(|e| dbg(&e))?),
        commit_deadline_s: None,
        unix_time_s: None,
    });
    let mut pt = [0u8; 512];
    let k = provision.encode(&mut pt).map_err(|e| dbg(&e))?;
    let n = app.handle_pair_response(&resp, Some(&pt[..k]), &mut buf).map_err(|e| e.to_string())?;
    let confirm = buf[..n].to_vec();
    let (_, used) = measure(|| dev.receive(30, app_conn, &confirm).map(<[u8]>::to_vec));
    note("Device::receive (PairConfirm + Provision)", used)?;
    drain(&mut dev, 30, &mut note)?;
    let ip = std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 1, 50));
    let (r, used) = measure(|| dev.handle(40, Event::NetworkUp { ip }));
    r.map_err(|e| dbg(&e))?;
    note("Device::handle", used)?;
    drain(&mut dev, 40, &mut note)?;
    let creds = OperationalCredentials {
        name: CloudName::new(b"dev-1").map_err(|e| dbg(&e))?,
        secret: DeviceSecret::new([7; 32]),
        endpoint: CloudEndpoint::new(b"eu", None, 0).map_err(|e| dbg(&e))?,
    };
    let (r, used) = measure(|| dev.handle(50, Event::ActivationResult(Ok(creds))));
    r.map_err(|e| dbg(&e))?;
    note("Device::handle", used)?;
    drain(&mut dev, 50, &mut note)?;
    let (r, used) = measure(|| dev.handle(60, Event::CommitDone));
    r.map_err(|e| dbg(&e))?;
    note("Device::handle", used)?;
    drain(&mut dev, 60, &mut note)?;
    if dev.machine().state() != zpair_core::machine::State::Activated {
        return Err(format!("the pairing ended in {:?}", dev.machine().state()));
    }
    let max = deepest.values().copied().max().unwrap_or(0);
    let mut out = format!("host.max\t{max}\n");
    for (k, v) in deepest {
        out.push_str(&format!("host.call\t{v}\t{k}\n"));
    }
    Ok(out)
}
