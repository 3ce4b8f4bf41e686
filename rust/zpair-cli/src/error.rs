//! Failures of the commissioner, their exit codes and the sentences shown to a person.
//!
//! Every failure the CLI reports is a [`CliError`]: a stable machine name (the
//! [`PairError::name`] when the failure is one), the exit class, a message naming exactly what
//! failed and a hint saying what to do (from [`PairError::hint`] where there is one).

use serde::Serialize;
use zpair_core::error::PairError;

/// The exit code classes of `zpair` (also listed in `zpair --help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitClass {
    /// 1: an internal error (a bug, or the device reported an internal fault).
    Internal,
    /// 2: bad arguments.
    Usage,
    /// 3: the device (or the SoftAP, advert, announcement) was not found.
    NotFound,
    /// 4: the setup code is wrong, or the device locked pairing after too many wrong codes.
    SetupCode,
    /// 5: the device could not join the network (wrong Wi-Fi password, network not found, no
    /// DHCP lease, Wi-Fi settings refused).
    Network,
    /// 6: the cloud refused the activation or the bind (token expired, used, of another user,
    /// device unknown ...).
    Activation,
    /// 7: the cloud could not be reached (by the CLI, or by the device until its deadline).
    CloudUnreachable,
    /// 8: the connection to the device was lost or the session failed.
    Connection,
    /// 9: configuration missing (no API key, no cloud address, host network unknown).
    Config,
    /// 10: the device is busy with another app, or its pairing window is closed.
    Busy,
    /// 11: no result before the deadline.
    Timeout,
}

impl ExitClass {
    /// The process exit code.
    pub const fn code(self) -> i32 {
        match self {
            ExitClass::Internal => 1,
            ExitClass::Usage => 2,
            ExitClass::NotFound => 3,
            ExitClass::SetupCode => 4,
            ExitClass::Network => 5,
            ExitClass::Activation => 6,
            ExitClass::CloudUnreachable => 7,
            ExitClass::Connection => 8,
            ExitClass::Config => 9,
            ExitClass::Busy => 10,
            ExitClass::Timeout => 11,
        }
    }

    /// The class of a pairing error.
    pub const fn of(e: PairError) -> Self {
        use PairError as P;
        match e {
            P::WrongSetupCode | P::LockedOut => ExitClass::SetupCode,
            P::Busy | P::WindowClosed => ExitClass::Busy,
            P::SessionTimeout
            | P::Disconnected
            | P::UnsupportedVersion
            | P::MalformedMessage
            | P::RecordRejected
            | P::UnexpectedMessage
            | P::Aborted => ExitClass::Connection,
            P::InvalidSsid
            | P::InvalidPassphrase
            | P::UnsupportedSecurity
            | P::MissingCredentials
            | P::ApNotFound
            | P::WrongPassword
            | P::AssociationFailed
            | P::DhcpTimeout
            | P::DnsFailed
            | P::LinkLost
            | P::NoLink
            | P::SimMissing
            | P::RegistrationDenied
            | P::AttachTimeout
            | P::ModemFailure => ExitClass::Network,
            P::CloudUnreachable | P::RateLimited => ExitClass::CloudUnreachable,
            P::InvalidToken
            | P::InvalidEndpoint
            | P::TokenExpired
            | P::TokenUsed
            | P::TokenUnknown
            | P::TokenMismatch
            | P::DeviceUnknown
            | P::DeviceAuthFailed
            | P::ProductMismatch
            | P::CloudRejected
            | P::CloudCertificate => ExitClass::Activation,
            P::DeadlineExceeded => ExitClass::Timeout,
            _ => ExitClass::Internal,
        }
    }
}

/// The exit code table, for `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0   success (the device is activated / the command did what it says)
  1   internal error (a bug, or the device reported an internal fault)
  2   bad arguments
  3   device not found (no advert, SoftAP, announcement or QR in range)
  4   setup code wrong, or pairing locked after too many wrong codes
  5   the device could not join the network (wrong Wi-Fi password, network not found,
      no DHCP lease, Wi-Fi settings refused)
  6   the cloud refused (token expired / used / of another account, device unknown)
  7   the cloud could not be reached
  8   the connection to the device was lost, or the session failed
  9   configuration missing (no API key, no cloud address, host network unknown)
  10  the device is busy with another app, or its pairing window is closed
  11  no result before the deadline";

/// A failure of a command, ready to be shown (human or JSON) and turned into an exit code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CliError {
    /// Stable machine name: a [`PairError::name`], or one of `not_found`, `usage`, `config`,
    /// `io`, `timeout`, `cloud_*` for failures that are not pairing errors.
    pub error: String,
    /// The [`PairError`] wire code, when the failure is one.
    pub code: Option<u8>,
    /// The exit class.
    #[serde(rename = "class")]
    pub class: ExitClass,
    /// What failed, precisely (never contains a secret).
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl CliError {
    /// A failure of another kind than a pairing error.
    pub fn new(class: ExitClass, name: &str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        CliError { error: name.into(), code: None, class, message: message.into(), hint: hint.into() }
    }

    /// A pairing error, with `context` saying where it happened ("the device reported", ...).
    pub fn pair(e: PairError, context: impl Into<String>) -> Self {
        let context = context.into();
        let message = if context.is_empty() { describe(e).to_owned() } else { format!("{context}: {}", describe(e)) };
        CliError {
            error: e.name().into(),
            code: Some(e.code()),
            class: ExitClass::of(e),
            message,
            hint: e.hint().into(),
        }
    }

    /// The pairing error this failure is, if it is one.
    pub fn pair_error(&self) -> Option<PairError> {
        self.code.map(PairError::from_code)
    }

    /// The process exit code.
    pub fn exit_code(&self) -> i32 {
        self.class.code()
    }

    /// Adds a sentence to the hint (e.g. the exact command to retry with).
    pub fn with_hint(mut self, extra: impl AsRef<str>) -> Self {
        let extra = extra.as_ref();
        if self.hint.is_empty() {
            self.hint = extra.to_owned();
        } else {
            self.hint = format!("{}: {extra}", self.hint);
        }
        self
    }

    /// Shorthand: usage error.
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(ExitClass::Usage, "usage", message, hint)
    }

    /// Shorthand: configuration missing.
    pub fn config(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(ExitClass::Config, "config", message, hint)
    }

    /// Shorthand: not found.
    pub fn not_found(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(ExitClass::NotFound, "not_found", message, hint)
    }

    /// Shorthand: an I/O failure on the host.
    pub fn io(what: &str, e: &std::io::Error) -> Self {
        Self::new(ExitClass::Internal, "io", format!("{what}: {e}"), "check the path and permissions")
    }

    /// Shorthand: timeout.
    pub fn timeout(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(ExitClass::Timeout, "timeout", message, hint)
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)?;
        if !self.hint.is_empty() {
            write!(f, "; {}", self.hint)?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

/// The pairing error of a [`PairError::name`].
pub fn by_name(name: &str) -> Option<PairError> {
    (0u8..=255).map(PairError::from_code).find(|e| !matches!(e, PairError::Unknown(_)) && e.name() == name)
}

/// A short description of what a pairing error means (the hint says what to do).
pub fn describe(e: PairError) -> &'static str {
    use PairError as P;
    match e {
        P::UnsupportedVersion => "the device speaks another protocol version",
        P::MalformedMessage => "a message could not be decoded",
        P::WrongSetupCode => "the setup code is wrong",
        P::LockedOut => "pairing is locked after too many wrong setup codes",
        P::SessionTimeout => "the device closed the idle session",
        P::WindowClosed => "the device's pairing window is closed",
        P::Busy => "the device is pairing with another app",
        P::RecordRejected => "a message failed authentication",
        P::UnexpectedMessage => "the device did not expect this message now",
        P::Disconnected => "the connection to the device was lost",
        P::InvalidSsid => "the network name (SSID) is invalid",
        P::InvalidPassphrase => "the Wi-Fi password is invalid",
        P::UnsupportedSecurity => "the device does not support this Wi-Fi security",
        P::InvalidToken => "the activation token is malformed",
        P::InvalidEndpoint => "the cloud endpoint is malformed",
        P::MissingCredentials => "the device needs more settings for this mode",
        P::ApNotFound => "the Wi-Fi network was not found",
        P::WrongPassword => "the Wi-Fi password is wrong",
        P::AssociationFailed => "the access point refused the device",
        P::DhcpTimeout => "the network gave the device no IP address (DHCP timeout)",
        P::DnsFailed => "the device could not resolve the cloud's name",
        P::LinkLost => "the device lost the network during pairing",
        P::NoLink => "no network link (cable or carrier)",
        P::SimMissing => "no usable SIM card",
        P::RegistrationDenied => "the mobile network refused the SIM",
        P::AttachTimeout => "the modem found no mobile network",
        P::ModemFailure => "the modem does not respond",
        P::CloudUnreachable => "the cloud could not be reached",
        P::TokenExpired => "the activation token expired",
        P::TokenUsed => "the activation token was already used",
        P::TokenUnknown => "the cloud does not know the activation token",
        P::TokenMismatch => "the token (or device) belongs to another account",
        P::DeviceUnknown => "the cloud does not know this device",
        P::DeviceAuthFailed => "the cloud refused the device's identity",
        P::ProductMismatch => "the device's product is not allowed for this token",
        P::RateLimited => "too many requests; the cloud asks to slow down",
        P::CloudRejected => "the cloud refused the request",
        P::CloudCertificate => "the cloud's certificate is not trusted",
        P::StorageFailed => "the device could not save its settings",
        P::DeadlineExceeded => "pairing took longer than the device's deadline",
        P::Aborted => "pairing was cancelled",
        P::Internal => "the device reported an internal error",
        P::NoResources => "the device ran out of memory",
        _ => "an error unknown to this version",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pair_error_has_a_class_description_and_hint() {
        for code in 0u8..=255 {
            let e = PairError::from_code(code);
            if matches!(e, PairError::Unknown(_)) {
                continue;
            }
            let c = CliError::pair(e, "the device reported");
            assert_eq!(c.error, e.name());
            assert_eq!(c.code, Some(code));
            assert!(c.message.starts_with("the device reported: "));
            assert!(!describe(e).contains("unknown"), "{e:?}");
            assert!(!c.hint.is_empty());
            assert_eq!(c.pair_error(), Some(e));
        }
    }

    #[test]
    fn classes_of_the_common_failures() {
        assert_eq!(ExitClass::of(PairError::WrongPassword).code(), 5);
        assert_eq!(ExitClass::of(PairError::ApNotFound).code(), 5);
        assert_eq!(ExitClass::of(PairError::WrongSetupCode).code(), 4);
        assert_eq!(ExitClass::of(PairError::LockedOut).code(), 4);
        assert_eq!(ExitClass::of(PairError::TokenExpired).code(), 6);
        assert_eq!(ExitClass::of(PairError::CloudUnreachable).code(), 7);
        assert_eq!(ExitClass::of(PairError::Busy).code(), 10);
        assert_eq!(ExitClass::of(PairError::Disconnected).code(), 8);
        assert_eq!(ExitClass::of(PairError::DeadlineExceeded).code(), 11);
        // Every class's code appears in the help table.
        for c in [
            ExitClass::Internal,
            ExitClass::Usage,
            ExitClass::NotFound,
            ExitClass::SetupCode,
            ExitClass::Network,
            ExitClass::Activation,
            ExitClass::CloudUnreachable,
            ExitClass::Connection,
            ExitClass::Config,
            ExitClass::Busy,
            ExitClass::Timeout,
        ] {
            assert!(EXIT_CODES_HELP.contains(&format!("\n  {:<3} ", c.code())), "{c:?}");
        }
    }

    #[test]
    fn hints_can_be_extended() {
        let e = CliError::pair(PairError::WrongPassword, "the device reported")
            .with_hint("run `zpair pair ble --device 00 --wifi-pass <password>`");
        assert!(e.hint.starts_with("the Wi-Fi password is wrong; the device is ready to try again: run"));
        assert_eq!(e.exit_code(), 5);
    }
}
