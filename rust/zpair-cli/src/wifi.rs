//! Wi-Fi settings from the command line, and "the network this computer is on" (Linux:
//! NetworkManager's `nmcli`, else `iwgetid`).

use crate::error::CliError;
use zpair_core::error::PairError;
use zpair_core::types::{Passphrase, Security, Ssid, WifiCredentials};

/// Parses `--security`: `open`, `wpa2`, `wpa2-wpa3` (transition), `wpa3`.
pub fn parse_security(s: &str) -> Result<Security, CliError> {
    match s.to_ascii_lowercase().as_str() {
        "open" | "none" => Ok(Security::Open),
        "wpa2" | "wpa2-psk" | "wpa" => Ok(Security::Wpa2Psk),
        "wpa2-wpa3" | "wpa2/wpa3" | "transition" => Ok(Security::Wpa2Wpa3),
        "wpa3" | "wpa3-sae" | "sae" => Ok(Security::Wpa3Sae),
        other => Err(CliError::usage(format!("unknown Wi-Fi security `{other}`"), "use open, wpa2, wpa2-wpa3 or wpa3")),
    }
}

/// Builds and validates the credentials, with messages that say which field is wrong.
pub fn credentials(ssid: &str, pass: Option<&str>, security: Option<Security>, hidden: bool) -> Result<WifiCredentials, CliError> {
    let ssid = Ssid::new(ssid.as_bytes()).map_err(|e| CliError::pair(e, "--wifi-ssid"))?;
    let security = security.unwrap_or(if pass.is_some_and(|p| !p.is_empty()) { Security::Wpa2Psk } else { Security::Open });
    let passphrase = match (security, pass) {
        (Security::Open, None) => Passphrase::none(),
        (Security::Open, Some("")) => Passphrase::none(),
        (Security::Open, Some(_)) => {
            return Err(CliError::pair(PairError::InvalidPassphrase, "--wifi-pass").with_hint("an open network takes no password"))
        }
        (_, None) => {
            return Err(CliError::usage(
                "this network needs a password",
                "give --wifi-pass, set ZPAIR_WIFI_PASS, or run on a terminal to be asked",
            ))
        }
        (_, Some(p)) => Passphrase::new(p.as_bytes()).map_err(|e| CliError::pair(e, "--wifi-pass"))?,
    };
    let w = WifiCredentials { ssid, hidden, security, passphrase, bssid: None, channel: None };
    w.validate().map_err(|e| CliError::pair(e, "the Wi-Fi settings"))?;
    Ok(w)
}

/// The network this computer is connected to.
#[derive(Clone, PartialEq, Eq)]
pub struct HostNetwork {
    /// SSID.
    pub ssid: String,
    /// Security, when the tool says.
    pub security: Option<Security>,
    /// The password, when the tool may read it.
    pub passphrase: Option<zeroize::Zeroizing<String>>,
}

impl std::fmt::Debug for HostNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostNetwork").field("ssid", &self.ssid).field("security", &self.security).finish_non_exhaustive()
    }
}

/// Parses `nmcli -t -f ACTIVE,SSID,SECURITY dev wifi` output.
pub fn parse_nmcli(out: &str) -> Option<(String, Option<Security>)> {
    out.lines().find_map(|l| {
        let rest = l.strip_prefix("yes:")?;
        // SSIDs may contain escaped colons (`\:`); the security field is the last one.
        let (ssid, sec) = match rest.rfind(':') {
            Some(i) if !rest[..i].ends_with('\\') => (&rest[..i], &rest[i + 1..]),
            _ => (rest, ""),
        };
        let ssid = ssid.replace("\\:", ":");
        if ssid.is_empty() {
            return None;
        }
        let sec = if sec.is_empty() || sec == "--" {
            Some(Security::Open)
        } else if sec.contains("WPA3") && sec.contains("WPA2") {
            Some(Security::Wpa2Wpa3)
        } else if sec.contains("WPA3") || sec.contains("SAE") {
            Some(Security::Wpa3Sae)
        } else if sec.contains("WPA") {
            Some(Security::Wpa2Psk)
        } else {
            None
        };
        Some((ssid, sec))
    })
}

fn run(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).stderr(std::process::Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The host's current Wi-Fi network, or a clear error saying why it is not known.
pub fn host_network() -> Result<HostNetwork, CliError> {
    if let Some(out) = run("nmcli", &["-t", "-f", "ACTIVE,SSID,SECURITY", "dev", "wifi"]) {
        if let Some((ssid, security)) = parse_nmcli(&out) {
            let passphrase = run("nmcli", &["-s", "-g", "802-11-wireless-security.psk", "connection", "show", &ssid])
                .map(|s| zeroize::Zeroizing::new(s.trim().to_owned()))
                .filter(|s| !s.is_empty());
            return Ok(HostNetwork { ssid, security, passphrase });
        }
    }
    if let Some(out) = run("iwgetid", &["-r"]) {
        let ssid = out.trim().to_owned();
        if !ssid.is_empty() {
            return Ok(HostNetwork { ssid, security: None, passphrase: None });
        }
    }
    Err(CliError::config(
        "the network this computer is on is not known (no Wi-Fi connection found with nmcli or iwgetid)",
        "give the network with --wifi-ssid and --wifi-pass",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nmcli_output() {
        let out = "no:Other:WPA2\nyes:Home\\:Net:WPA2 WPA3\n";
        assert_eq!(parse_nmcli(out), Some(("Home:Net".into(), Some(Security::Wpa2Wpa3))));
        assert_eq!(parse_nmcli("yes:Cafe:\n"), Some(("Cafe".into(), Some(Security::Open))));
        assert_eq!(parse_nmcli("yes:Lab:WPA2\n"), Some(("Lab".into(), Some(Security::Wpa2Psk))));
        assert_eq!(parse_nmcli("no:X:WPA2\n"), None);
        assert_eq!(parse_nmcli(""), None);
    }

    #[test]
    fn credentials_are_validated_precisely() {
        let w = credentials("HomeNet", Some("correct-pass"), None, false).unwrap();
        assert_eq!(w.security, Security::Wpa2Psk);
        let w = credentials("Cafe", None, None, true).unwrap();
        assert_eq!((w.security, w.hidden), (Security::Open, true));
        let e = credentials("HomeNet", Some("short"), None, false).unwrap_err();
        assert_eq!(e.error, "invalid_passphrase");
        assert!(!e.message.contains("short"));
        assert_eq!(credentials(&"x".repeat(33), Some("correct-pass"), None, false).unwrap_err().error, "invalid_ssid");
        assert_eq!(credentials("Cafe", Some("password1"), Some(Security::Open), false).unwrap_err().error, "invalid_passphrase");
        assert_eq!(credentials("Home", None, Some(Security::Wpa3Sae), false).unwrap_err().exit_code(), 2);
        assert!(parse_security("WPA3").is_ok());
        assert!(parse_security("wep").is_err());
    }
}
