//! The storage abstraction of the cloud. [`SqliteStore`](crate::sqlite::SqliteStore) implements
//! it; a PostgreSQL store can follow behind the same trait.
//!
//! Every method is synchronous (the server calls them on blocking threads) and every method that
//! changes state is atomic: it fully happens or not at all.

use zpair_core::error::PairError;
use zpair_core::types::{DeviceId, ProductId};

/// A user's id.
pub type UserId = i64;

/// Why a store operation failed.
#[derive(Debug)]
pub enum StoreError {
    /// A domain refusal with its precise code (token used, device unknown, ...).
    Refused(PairError),
    /// The object does not exist (or does not belong to the caller).
    NotFound,
    /// The backend failed.
    Backend(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Refused(e) => write!(f, "refused: {}", e.name()),
            StoreError::NotFound => f.write_str("not found"),
            StoreError::Backend(e) => write!(f, "storage backend: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// A factory identity as registered in the cloud (no setup code: only its SPAKE2+ verifier).
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// Factory device id.
    pub device_id: DeviceId,
    /// Product.
    pub product_id: ProductId,
    /// The 32-byte activation secret.
    pub activation_secret: [u8; 32],
    /// SPAKE2+ verifier `w0` (32 bytes).
    pub w0: [u8; 32],
    /// SPAKE2+ verifier `L` (65 bytes, SEC1 uncompressed).
    pub l: [u8; 65],
}

impl std::fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceIdentity")
            .field("device_id", &self.device_id)
            .field("product_id", &self.product_id)
            .finish_non_exhaustive()
    }
}

impl Drop for DeviceIdentity {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.activation_secret.zeroize();
        self.w0.zeroize();
    }
}

/// Activation state of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    /// Imported, never activated (or unbound since).
    New,
    /// Activated and owned by a user.
    Activated,
}

/// A device as the cloud knows it.
#[derive(Debug, Clone)]
pub struct DeviceRecord {
    /// The factory identity.
    pub identity: DeviceIdentity,
    /// Activation state.
    pub status: DeviceStatus,
    /// Owner, when activated.
    pub owner: Option<UserId>,
    /// Identity in the cloud, once activated.
    pub cloud_device_id: Option<String>,
    /// Firmware version at the last activation (`major.minor.patch`).
    pub fw_version: Option<String>,
    /// Mode of the last activation.
    pub mode: Option<String>,
    /// When the device was last activated (ms since epoch).
    pub activated_at_ms: Option<u64>,
    /// The owner released the device for a factory reset: anyone may activate it again.
    pub factory_reset: bool,
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Display name.
    pub name: String,
}

/// A new pairing token (stored by its SHA-256 only).
#[derive(Debug, Clone)]
pub struct NewToken {
    /// SHA-256 of the token text.
    pub hash: [u8; 32],
    /// The user it belongs to.
    pub user: UserId,
    /// Region it is valid in.
    pub region: String,
    /// Only devices of this product may use it.
    pub product: Option<ProductId>,
    /// Only this device may use it (cellular bind).
    pub device: Option<DeviceId>,
    /// Creation time (ms).
    pub created_ms: u64,
    /// Expiry (ms).
    pub expires_ms: u64,
}

/// Everything an activation changes, applied in one transaction by [`Store::activate`].
#[derive(Debug, Clone)]
pub struct Activation {
    /// The activating device.
    pub device: DeviceId,
    /// Its product (already checked against the registry).
    pub product: ProductId,
    /// The challenge nonce it used (consumed).
    pub nonce: [u8; 16],
    /// SHA-256 of the token it presented.
    pub token_hash: [u8; 32],
    /// The region this cloud serves.
    pub region: String,
    /// The cloud id to record.
    pub cloud_device_id: String,
    /// The new operational secret.
    pub operational_secret: [u8; 32],
    /// `major.minor.patch`.
    pub fw_version: String,
    /// Mode name.
    pub mode: String,
    /// Now (ms).
    pub now_ms: u64,
}

impl Drop for Activation {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.operational_secret.zeroize();
    }
}

/// A pending cellular binding, as the device's bind-poll receives it.
pub struct PendingBinding {
    /// The token to activate with. Secret.
    pub token: zeroize::Zeroizing<String>,
    /// Region of the token.
    pub region: String,
}

/// A new cellular binding: a device-bound token that the device fetches with bind-poll.
pub struct NewBinding {
    /// The token (the cloud keeps the text until the device fetched and used it).
    pub token: zeroize::Zeroizing<String>,
    /// Its record.
    pub record: NewToken,
}

/// Result of an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportReport {
    /// Identities added.
    pub added: usize,
    /// Identities already present with the same values (left unchanged).
    pub unchanged: usize,
}

/// The persistence the cloud needs.
pub trait Store: Send + Sync + 'static {
    /// Adds factory identities. An id already present with *different* values is refused
    /// ([`StoreError::Backend`] naming it) and nothing is imported.
    fn import_devices(&self, devices: &[DeviceIdentity], now_ms: u64) -> Result<ImportReport, StoreError>;
    /// A device by id.
    fn device(&self, id: DeviceId) -> Result<Option<DeviceRecord>, StoreError>;
    /// Number of registered devices.
    fn device_count(&self) -> Result<u64, StoreError>;

    /// Creates a user whose API key hashes to `key_hash`.
    fn create_user(&self, name: &str, key_hash: &[u8; 32], now_ms: u64) -> Result<UserId, StoreError>;
    /// The user of an API key hash.
    fn user_by_key(&self, key_hash: &[u8; 32]) -> Result<Option<User>, StoreError>;

    /// Stores a new token.
    fn create_token(&self, token: &NewToken) -> Result<(), StoreError>;

    /// Records a challenge nonce for a device, valid until `expires_ms`.
    fn put_challenge(&self, device: DeviceId, nonce: &[u8; 16], expires_ms: u64, now_ms: u64) -> Result<(), StoreError>;
    /// Consumes a challenge nonce: [`PairError::DeviceAuthFailed`] if it is unknown, already used
    /// or expired.
    fn consume_challenge(&self, device: DeviceId, nonce: &[u8; 16], now_ms: u64) -> Result<(), StoreError>;

    /// One activation, atomically: consume the nonce (it stays consumed even when the activation
    /// is refused), check the token (exists, unused, unexpired, same region, same device and
    /// product when bound to them, and the device is not owned by another user unless released),
    /// then mark the token used, the device activated and owned by the token's user, drop any
    /// pending binding and append to the activation log. Returns the new owner.
    fn activate(&self, a: &Activation) -> Result<UserId, StoreError>;

    /// Stores a cellular binding (its token plus the text for bind-poll), replacing any
    /// previous pending binding of the device.
    fn bind(&self, binding: &NewBinding) -> Result<(), StoreError>;
    /// The pending binding of a device, if any and unexpired.
    fn pending_binding(&self, device: DeviceId, now_ms: u64) -> Result<Option<PendingBinding>, StoreError>;

    /// The devices a user owns.
    fn devices_of(&self, user: UserId) -> Result<Vec<DeviceRecord>, StoreError>;
    /// Releases a device the user owns: no owner, status `new`.
    fn unbind(&self, user: UserId, device: DeviceId) -> Result<(), StoreError>;
    /// Marks a device the user owns for factory reset: it stays listed, and the next activation
    /// may come from any user.
    fn set_factory_reset(&self, user: UserId, device: DeviceId) -> Result<(), StoreError>;
}
