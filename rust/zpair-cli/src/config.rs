//! The user's configuration: `~/.config/zpair/config.toml` (or `$XDG_CONFIG_HOME/zpair/…`,
//! `--config`, `$ZPAIR_CONFIG`).
//!
//! ```toml
//! cloud_url = "https://localhost:8443"
//! ca_cert = "/home/me/zpair-cloud-data/ca.pem"
//! api_key = "zpk_…"          # written by `zpair user create`; the file is private (0600)
//! region = "eu"
//! air = "/run/user/1000/zpair-air"
//! announce = "0.0.0.0:5541"
//! ```
//!
//! Command-line flags win over environment variables, which win over the file.

use crate::error::CliError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The configuration file's contents. `Debug` hides the API key.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Base URL of the cloud's app API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_url: Option<String>,
    /// The CA certificate (PEM) the cloud's TLS certificate chains to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    /// The user's API key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// The region to request tokens for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The simulated air directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub air: Option<PathBuf>,
    /// Where wired announcements are received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announce: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("cloud_url", &self.cloud_url)
            .field("ca_cert", &self.ca_cert)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("region", &self.region)
            .field("air", &self.air)
            .finish()
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        if let Some(k) = &mut self.api_key {
            k.zeroize();
        }
    }
}

/// The default configuration file.
pub fn default_path() -> PathBuf {
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => match std::env::var_os("HOME") {
            Some(h) if !h.is_empty() => PathBuf::from(h).join(".config"),
            _ => PathBuf::from("."),
        },
    };
    base.join("zpair").join("config.toml")
}

impl Config {
    /// Reads `path`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Self, CliError> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| {
                CliError::config(
                    format!("the configuration file {} is invalid: {}", path.display(), e.message()),
                    "fix or delete it",
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(CliError::io(&format!("reading {}", path.display()), &e)),
        }
    }

    /// Writes `path` (creating its directory), readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<(), CliError> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| CliError::io(&format!("creating {}", dir.display()), &e))?;
            }
        }
        let text = zeroize::Zeroizing::new(
            toml::to_string_pretty(self).map_err(|e| CliError::config(format!("cannot write the configuration: {e}"), ""))?,
        );
        write_private(path, text.as_bytes()).map_err(|e| CliError::io(&format!("writing {}", path.display()), &e))
    }
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(0o600);
        let mut f = opts.open(path)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(bytes)
    }
    #[cfg(not(unix))]
    {
        opts.open(path)?.write_all(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_private_and_debug_hides_the_key() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/config.toml");
        assert_eq!(Config::load(&p).unwrap(), Config::default());
        let mut c = Config::default();
        c.cloud_url = Some("https://localhost:1".into());
        c.api_key = Some("zpk_secret".into());
        c.region = Some("eu".into());
        c.save(&p).unwrap();
        assert_eq!(Config::load(&p).unwrap(), c);
        assert!(!format!("{c:?}").contains("zpk_secret"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&p, "cloud_url = 3").unwrap();
        assert_eq!(Config::load(&p).unwrap_err().exit_code(), 9);
    }
}
