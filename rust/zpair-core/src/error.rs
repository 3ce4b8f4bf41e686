//! The one error set shared by all modes.
//!
//! Every failure a device can meet while being paired and activated has exactly one
//! [`PairError`] code. The same byte travels to the app (in a status message), to the cloud (in
//! the pairing report) and into logs, so that a user is told "wrong Wi-Fi password" and not
//! "network offline", and "setup code wrong" only when it really was the setup code.
//!
//! Decoding problems of the wire formats are a separate, smaller enum, [`WireError`], since they
//! are about bytes, not about pairing.

/// Why a pairing or activation step failed. Wire code in parentheses.
///
/// Codes are grouped: `0x1x` session, `0x2x` credentials, `0x3x` network, `0x4x` cellular,
/// `0x5x` cloud/activation, `0x6x` device. Unknown codes from a newer peer decode as
/// [`PairError::Unknown`] instead of failing.
//
// The discriminants are the wire codes: `code` and `from_code` below are then (nearly) the
// identity and compile to a few instructions instead of a jump table (size report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u8)]
pub enum PairError {
    // --- session (0x10..) ---
    /// The peer speaks a protocol version this device does not (0x10).
    UnsupportedVersion = 0x10,
    /// A frame or message could not be decoded (0x11).
    MalformedMessage = 0x11,
    /// The SPAKE2+ confirmation failed: the setup code is wrong (0x12).
    WrongSetupCode = 0x12,
    /// Too many failed attempts: the pairing window is locked for a while (0x13).
    LockedOut = 0x13,
    /// The session was idle for too long (0x14).
    SessionTimeout = 0x14,
    /// The pairing window is closed (0x15).
    WindowClosed = 0x15,
    /// Another app already holds the session (0x16).
    Busy = 0x16,
    /// A record failed authentication, was replayed or arrived out of order (0x17).
    RecordRejected = 0x17,
    /// A message arrived that is not allowed in the current state (0x18).
    UnexpectedMessage = 0x18,
    /// The app closed or lost the connection (0x19).
    Disconnected = 0x19,

    // --- credentials (0x20..) ---
    /// SSID empty or longer than 32 bytes (0x20).
    InvalidSsid = 0x20,
    /// Passphrase not 8-63 printable characters or 64 hex digits, or given for an open network (0x21).
    InvalidPassphrase = 0x21,
    /// Security type unknown or not supported by this radio (0x22).
    UnsupportedSecurity = 0x22,
    /// Activation token malformed (0x23).
    InvalidToken = 0x23,
    /// Cloud endpoint or region malformed (0x24).
    InvalidEndpoint = 0x24,
    /// Credentials required for this mode are missing (0x25).
    MissingCredentials = 0x25,

    // --- network (0x30..) ---
    /// No access point with that SSID was found (0x30).
    ApNotFound = 0x30,
    /// The access point rejected the passphrase (0x31).
    WrongPassword = 0x31,
    /// Association failed for another reason (0x32).
    AssociationFailed = 0x32,
    /// No DHCP lease in time (0x33).
    DhcpTimeout = 0x33,
    /// Link is up but the cloud's name could not be resolved (0x34).
    DnsFailed = 0x34,
    /// The link went down during pairing (0x35).
    LinkLost = 0x35,
    /// No cable / no carrier (wired) (0x36).
    NoLink = 0x36,

    // --- cellular (0x40..) ---
    /// No SIM card, or the SIM is locked (0x40).
    SimMissing = 0x40,
    /// The network denied registration (0x41).
    RegistrationDenied = 0x41,
    /// The modem did not attach in time (0x42).
    AttachTimeout = 0x42,
    /// The modem does not answer (0x43).
    ModemFailure = 0x43,

    // --- cloud / activation (0x50..) ---
    /// The cloud could not be reached; it is retried with backoff until the deadline (0x50).
    CloudUnreachable = 0x50,
    /// The activation token expired (0x51).
    TokenExpired = 0x51,
    /// The activation token was already used (0x52).
    TokenUsed = 0x52,
    /// The cloud does not know this token (0x53).
    TokenUnknown = 0x53,
    /// The token belongs to another user or region (0x54).
    TokenMismatch = 0x54,
    /// The cloud does not know this device (0x55).
    DeviceUnknown = 0x55,
    /// The device's identity proof was refused (0x56).
    DeviceAuthFailed = 0x56,
    /// The device's product is not allowed for this token (0x57).
    ProductMismatch = 0x57,
    /// Too many attempts: the cloud asks to slow down (0x58).
    RateLimited = 0x58,
    /// The cloud refused for a reason without a code of its own (0x59).
    CloudRejected = 0x59,
    /// The cloud's TLS certificate could not be verified (0x5a).
    CloudCertificate = 0x5a,

    // --- device (0x60..) ---
    /// Persistent storage failed (0x60).
    StorageFailed = 0x60,
    /// The overall pairing deadline passed (0x61).
    DeadlineExceeded = 0x61,
    /// The app aborted the pairing (0x62).
    Aborted = 0x62,
    /// An internal error (0x63).
    Internal = 0x63,
    /// The device ran out of a bounded resource (buffer, slot) (0x64).
    NoResources = 0x64,

    /// A code this build does not know (from a newer peer).
    Unknown(u8) = 0,
}

macro_rules! codes {
    ($($variant:ident = $code:literal, $name:literal;)*) => {
        impl PairError {
            /// The wire code.
            pub const fn code(self) -> u8 {
                match self {
                    $(PairError::$variant => $code,)*
                    PairError::Unknown(c) => c,
                }
            }

            /// The error of a wire code. Unknown codes are kept as [`PairError::Unknown`].
            pub const fn from_code(code: u8) -> Self {
                match code {
                    $($code => PairError::$variant,)*
                    other => PairError::Unknown(other),
                }
            }

            /// A short, stable, machine-friendly name (`snake_case`), used by the CLI's JSON
            /// output, the cloud API and logs.
            pub const fn name(self) -> &'static str {
                match self {
                    $(PairError::$variant => $name,)*
                    PairError::Unknown(_) => "unknown",
                }
            }
        }
    };
}

codes! {
    UnsupportedVersion = 0x10, "unsupported_version";
    MalformedMessage = 0x11, "malformed_message";
    WrongSetupCode = 0x12, "wrong_setup_code";
    LockedOut = 0x13, "locked_out";
    SessionTimeout = 0x14, "session_timeout";
    WindowClosed = 0x15, "window_closed";
    Busy = 0x16, "busy";
    RecordRejected = 0x17, "record_rejected";
    UnexpectedMessage = 0x18, "unexpected_message";
    Disconnected = 0x19, "disconnected";
    InvalidSsid = 0x20, "invalid_ssid";
    InvalidPassphrase = 0x21, "invalid_passphrase";
    UnsupportedSecurity = 0x22, "unsupported_security";
    InvalidToken = 0x23, "invalid_token";
    InvalidEndpoint = 0x24, "invalid_endpoint";
    MissingCredentials = 0x25, "missing_credentials";
    ApNotFound = 0x30, "ap_not_found";
    WrongPassword = 0x31, "wrong_password";
    AssociationFailed = 0x32, "association_failed";
    DhcpTimeout = 0x33, "dhcp_timeout";
    DnsFailed = 0x34, "dns_failed";
    LinkLost = 0x35, "link_lost";
    NoLink = 0x36, "no_link";
    SimMissing = 0x40, "sim_missing";
    RegistrationDenied = 0x41, "registration_denied";
    AttachTimeout = 0x42, "attach_timeout";
    ModemFailure = 0x43, "modem_failure";
    CloudUnreachable = 0x50, "cloud_unreachable";
    TokenExpired = 0x51, "token_expired";
    TokenUsed = 0x52, "token_used";
    TokenUnknown = 0x53, "token_unknown";
    TokenMismatch = 0x54, "token_mismatch";
    DeviceUnknown = 0x55, "device_unknown";
    DeviceAuthFailed = 0x56, "device_auth_failed";
    ProductMismatch = 0x57, "product_mismatch";
    RateLimited = 0x58, "rate_limited";
    CloudRejected = 0x59, "cloud_rejected";
    CloudCertificate = 0x5a, "cloud_certificate";
    StorageFailed = 0x60, "storage_failed";
    DeadlineExceeded = 0x61, "deadline_exceeded";
    Aborted = 0x62, "aborted";
    Internal = 0x63, "internal";
    NoResources = 0x64, "no_resources";
}

impl PairError {
    /// Whether trying the same step again later can succeed without the user changing anything
    /// (the device retries these with backoff until its deadline).
    pub const fn is_transient(self) -> bool {
        matches!(
            self,
            PairError::CloudUnreachable
                | PairError::RateLimited
                | PairError::DhcpTimeout
                | PairError::DnsFailed
                | PairError::LinkLost
                | PairError::AttachTimeout
                | PairError::Busy
        )
    }

    /// A sentence for a person: what went wrong and what to do.
    pub const fn hint(self) -> &'static str {
        match self {
            PairError::UnsupportedVersion => "update the app or the device firmware",
            PairError::MalformedMessage => "the app sent something the device cannot read; update the app",
            PairError::WrongSetupCode => "check the setup code on the device label and try again",
            PairError::LockedOut => "too many wrong setup codes; pairing reopens by itself after the lockout (a power cycle does not shorten it)",
            PairError::SessionTimeout => "the app was idle too long; start again",
            PairError::WindowClosed => "pairing is closed; press the device's pairing button or power-cycle it",
            PairError::Busy => "another phone is pairing this device right now",
            PairError::RecordRejected => "the connection was tampered with or is unreliable; start again",
            PairError::UnexpectedMessage => "the app and device disagree on the step; start again",
            PairError::Disconnected => "the connection to the device was lost; move closer and start again",
            PairError::InvalidSsid => "the network name must be 1 to 32 bytes",
            PairError::InvalidPassphrase => "the Wi-Fi password must be 8 to 63 characters (or 64 hex digits)",
            PairError::UnsupportedSecurity => "this device cannot join networks with that security type",
            PairError::InvalidToken => "the activation token is malformed; request a new one",
            PairError::InvalidEndpoint => "the cloud address or region is malformed",
            PairError::MissingCredentials => "the app did not send everything this mode needs",
            PairError::ApNotFound => "the network was not found; check the name and that it is 2.4 GHz / in range",
            PairError::WrongPassword => "the Wi-Fi password is wrong; the device is ready to try again",
            PairError::AssociationFailed => "the access point refused the device; check its MAC filter and security settings",
            PairError::DhcpTimeout => "the network gave the device no IP address; check the router's DHCP",
            PairError::DnsFailed => "the network has no working DNS or internet access",
            PairError::LinkLost => "the network connection dropped during pairing",
            PairError::NoLink => "no network cable or no carrier",
            PairError::SimMissing => "insert or unlock the SIM card",
            PairError::RegistrationDenied => "the mobile network refused the SIM; check the plan",
            PairError::AttachTimeout => "no mobile network coverage; move the device",
            PairError::ModemFailure => "the modem does not respond; power-cycle the device",
            PairError::CloudUnreachable => "the cloud cannot be reached; the device keeps trying",
            PairError::TokenExpired => "the pairing took too long; start again to get a new token",
            PairError::TokenUsed => "this token was already used; start again to get a new one",
            PairError::TokenUnknown => "the cloud does not know this token; start again",
            PairError::TokenMismatch => "the token belongs to another account or region",
            PairError::DeviceUnknown => "the cloud does not know this device; contact the vendor",
            PairError::DeviceAuthFailed => "the device's identity was refused; contact the vendor",
            PairError::ProductMismatch => "this device's product is not allowed for your account",
            PairError::RateLimited => "too many attempts; the device waits and retries",
            PairError::CloudRejected => "the cloud refused the activation",
            PairError::CloudCertificate => "the cloud's certificate is not trusted; check the device clock and CA",
            PairError::StorageFailed => "the device could not save its settings",
            PairError::DeadlineExceeded => "pairing took too long; start again",
            PairError::Aborted => "pairing was cancelled",
            PairError::Internal => "internal device error; power-cycle and start again",
            PairError::NoResources => "the device ran out of memory for this request",
            PairError::Unknown(_) => "unknown error from a newer peer",
        }
    }
}

impl core::fmt::Display for PairError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PairError::Unknown(c) => write!(f, "unknown error 0x{c:02x}"),
            other => write!(f, "{} (0x{:02x}): {}", other.name(), other.code(), other.hint()),
        }
    }
}

/// Why bytes could not be decoded. Every decoder in the crate returns this (or wraps it) and
/// never panics on input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WireError {
    /// The input ended early.
    Truncated,
    /// A length or count exceeds its bound.
    TooLong,
    /// The structure is wrong (bad CBOR, bad header bits, bad check digit).
    Malformed,
    /// An unknown message or packet type.
    UnknownType(u8),
    /// A protocol version this build does not speak.
    UnsupportedVersion(u8),
    /// Bytes left over after a complete item.
    TrailingBytes,
    /// A field decoded but its value is invalid (carries the precise reason).
    Invalid(PairError),
    /// The output buffer is too small.
    BufferTooSmall,
}

impl From<WireError> for PairError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::UnsupportedVersion(_) => PairError::UnsupportedVersion,
            WireError::Invalid(p) => p,
            WireError::BufferTooSmall => PairError::NoResources,
            _ => PairError::MalformedMessage,
        }
    }
}

impl core::fmt::Display for WireError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WireError::Truncated => f.write_str("truncated input"),
            WireError::TooLong => f.write_str("length exceeds bound"),
            WireError::Malformed => f.write_str("malformed input"),
            WireError::UnknownType(t) => write!(f, "unknown type 0x{t:02x}"),
            WireError::UnsupportedVersion(v) => write!(f, "unsupported version {v}"),
            WireError::TrailingBytes => f.write_str("trailing bytes"),
            WireError::Invalid(p) => write!(f, "invalid value: {}", p.name()),
            WireError::BufferTooSmall => f.write_str("output buffer too small"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_names_are_unique() {
        let mut seen_names = std::vec::Vec::new();
        for code in 0u8..=255 {
            let e = PairError::from_code(code);
            assert_eq!(e.code(), code);
            if !matches!(e, PairError::Unknown(_)) {
                assert!(!seen_names.contains(&e.name()), "duplicate name {}", e.name());
                seen_names.push(e.name());
                assert!(!e.hint().is_empty());
            }
        }
        assert_eq!(seen_names.len(), 43);
    }
}
