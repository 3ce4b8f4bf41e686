//! [`Store`] on SQLite (bundled): WAL mode, `busy_timeout`, a small connection pool (readers run
//! in parallel; writers serialize in SQLite with `BEGIN IMMEDIATE`), forward-only migrations
//! recorded in `schema_version`.

use crate::store::*;
use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;
use zpair_core::error::PairError;
use zpair_core::types::{DeviceId, ProductId};

/// The migrations, in order; migration `i` brings the schema to version `i + 1`. Never edit a
/// released one: append.
const MIGRATIONS: &[&str] = &[
    // v1
    "CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        key_hash BLOB NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE devices (
        device_id INTEGER PRIMARY KEY,
        product_id INTEGER NOT NULL,
        activation_secret BLOB NOT NULL,
        w0 BLOB NOT NULL,
        l BLOB NOT NULL,
        status TEXT NOT NULL DEFAULT 'new',
        owner_id INTEGER REFERENCES users(id),
        cloud_device_id TEXT,
        op_secret BLOB,
        fw_version TEXT,
        mode TEXT,
        activated_at INTEGER,
        factory_reset INTEGER NOT NULL DEFAULT 0,
        imported_at INTEGER NOT NULL
    );
    CREATE INDEX devices_owner ON devices(owner_id);
    CREATE TABLE tokens (
        hash BLOB PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        region TEXT NOT NULL,
        product_id INTEGER,
        device_id INTEGER,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at INTEGER,
        used_by INTEGER
    );
    CREATE TABLE challenges (
        device_id INTEGER NOT NULL,
        nonce BLOB NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (device_id, nonce)
    );
    CREATE INDEX challenges_expiry ON challenges(expires_at);
    CREATE TABLE bindings (
        device_id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        token_hash BLOB NOT NULL,
        token TEXT NOT NULL,
        region TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE activations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        device_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        token_hash BLOB NOT NULL,
        mode TEXT NOT NULL,
        fw_version TEXT NOT NULL,
        at INTEGER NOT NULL
    );",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// SQLite-backed store.
#[derive(Clone)]
pub struct SqliteStore {
    pool: Pool<SqliteConnectionManager>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn be(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn db_id(d: DeviceId) -> i64 {
    d.0 as i64
}

fn init_conn(c: &mut Connection) -> rusqlite::Result<()> {
    c.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA busy_timeout = 10000;
         PRAGMA foreign_keys = ON;",
    )
}

/// Applies the pending migrations; refuses a database written by a newer build.
fn migrate(c: &mut Connection) -> Result<u32, StoreError> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(be)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)").map_err(be)?;
    let current: u32 = tx
        .query_row("SELECT COALESCE(MAX(version), 0) FROM schema_version", [], |r| r.get(0))
        .map_err(be)?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "database schema version {current} is newer than this build's {SCHEMA_VERSION}"
        )));
    }
    for (i, m) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(m).map_err(be)?;
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [i as u32 + 1]).map_err(be)?;
        tracing::info!(version = i + 1, "applied schema migration");
    }
    tx.commit().map_err(be)?;
    Ok(SCHEMA_VERSION)
}

const DEVICE_COLS: &str = "device_id, product_id, activation_secret, w0, l, status, owner_id, \
     cloud_device_id, fw_version, mode, activated_at, factory_reset";

fn blob<const N: usize>(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<[u8; N]> {
    let v: Vec<u8> = r.get(i)?;
    v.try_into().map_err(|_| rusqlite::Error::InvalidColumnType(i, "blob length".into(), rusqlite::types::Type::Blob))
}

fn device_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRecord> {
    let status: String = r.get(5)?;
    Ok(DeviceRecord {
        identity: DeviceIdentity {
            device_id: DeviceId(r.get::<_, i64>(0)? as u64),
            product_id: ProductId(r.get::<_, i64>(1)? as u32),
            activation_secret: blob(r, 2)?,
            w0: blob(r, 3)?,
            l: blob(r, 4)?,
        },
        status: if status == "activated" { DeviceStatus::Activated } else { DeviceStatus::New },
        owner: r.get(6)?,
        cloud_device_id: r.get(7)?,
        fw_version: r.get(8)?,
        mode: r.get(9)?,
        activated_at_ms: r.get::<_, Option<i64>>(10)?.map(|v| v as u64),
        factory_reset: r.get::<_, i64>(11)? != 0,
    })
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path, pool_size: u32) -> Result<Self, StoreError> {
        let manager = SqliteConnectionManager::file(path).with_init(init_conn);
        let pool = Pool::builder().max_size(pool_size.max(1)).build(manager).map_err(be)?;
        let mut c = pool.get().map_err(be)?;
        migrate(&mut c)?;
        drop(c);
        Ok(SqliteStore { pool })
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<SqliteConnectionManager>, StoreError> {
        self.pool.get().map_err(be)
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        self.conn()?
            .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
            .map_err(be)
    }

    /// Runs a read-only query (for tests and tools).
    pub fn query_i64(&self, sql: &str) -> Result<i64, StoreError> {
        self.conn()?.query_row(sql, [], |r| r.get(0)).map_err(be)
    }
}

impl Store for SqliteStore {
    fn import_devices(&self, devices: &[DeviceIdentity], now_ms: u64) -> Result<ImportReport, StoreError> {
        let mut c = self.conn()?;
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(be)?;
        let mut report = ImportReport::default();
        {
            let mut find = tx
                .prepare_cached("SELECT product_id, activation_secret, w0, l FROM devices WHERE device_id = ?1")
                .map_err(be)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO devices (device_id, product_id, activation_secret, w0, l, imported_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(be)?;
            for d in devices {
                let existing = find
                    .query_row([db_id(d.device_id)], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, Vec<u8>>(2)?, r.get::<_, Vec<u8>>(3)?))
                    })
                    .optional()
                    .map_err(be)?;
                match existing {
                    Some((p, s, w0, l)) => {
                        let same = p as u32 == d.product_id.0
                            && s == d.activation_secret
                            && w0 == d.w0
                            && l[..] == d.l[..];
                        if !same {
                            return Err(StoreError::Backend(format!(
                                "device {} is already registered with different values",
                                d.device_id
                            )));
                        }
                        report.unchanged += 1;
                    }
                    None => {
                        insert
                            .execute(params![
                                db_id(d.device_id),
                                i64::from(d.product_id.0),
                                &d.activation_secret[..],
                                &d.w0[..],
                                &d.l[..],
                                now_ms as i64
                            ])
                            .map_err(be)?;
                        report.added += 1;
                    }
                }
            }
        }
        tx.commit().map_err(be)?;
        Ok(report)
    }

    fn device(&self, id: DeviceId) -> Result<Option<DeviceRecord>, StoreError> {
        let c = self.conn()?;
        let mut st = c
            .prepare_cached(&format!("SELECT {DEVICE_COLS} FROM devices WHERE device_id = ?1"))
            .map_err(be)?;
        st.query_row([db_id(id)], device_row).optional().map_err(be)
    }

    fn device_count(&self) -> Result<u64, StoreError> {
        Ok(self.query_i64("SELECT COUNT(*) FROM devices")? as u64)
    }

    fn create_user(&self, name: &str, key_hash: &[u8; 32], now_ms: u64) -> Result<UserId, StoreError> {
        let c = self.conn()?;
        c.execute(
            "INSERT INTO users (name, key_hash, created_at) VALUES (?1, ?2, ?3)",
            params![name, &key_hash[..], now_ms as i64],
        )
        .map_err(be)?;
        Ok(c.last_insert_rowid())
    }

    fn user_by_key(&self, key_hash: &[u8; 32]) -> Result<Option<User>, StoreError> {
        let c = self.conn()?;
        let mut st = c.prepare_cached("SELECT id, name FROM users WHERE key_hash = ?1").map_err(be)?;
        st.query_row([&key_hash[..]], |r| Ok(User { id: r.get(0)?, name: r.get(1)? }))
            .optional()
            .map_err(be)
    }

    fn create_token(&self, t: &NewToken) -> Result<(), StoreError> {
        let c = self.conn()?;
        insert_token(&c, t)
    }

    fn put_challenge(&self, device: DeviceId, nonce: &[u8; 16], expires_ms: u64, now_ms: u64) -> Result<(), StoreError> {
        let c = self.conn()?;
        // Forget this device's stale nonces (bounded table, cheap with the primary key).
        c.prepare_cached("DELETE FROM challenges WHERE device_id = ?1 AND expires_at <= ?2")
            .and_then(|mut s| s.execute(params![db_id(device), now_ms as i64]))
            .map_err(be)?;
        c.prepare_cached("INSERT INTO challenges (device_id, nonce, expires_at) VALUES (?1, ?2, ?3)")
            .and_then(|mut s| s.execute(params![db_id(device), &nonce[..], expires_ms as i64]))
            .map_err(be)?;
        Ok(())
    }

    fn consume_challenge(&self, device: DeviceId, nonce: &[u8; 16], now_ms: u64) -> Result<(), StoreError> {
        let c = self.conn()?;
        consume_nonce(&c, device, nonce, now_ms)
    }

    fn activate(&self, a: &Activation) -> Result<UserId, StoreError> {
        let mut c = self.conn()?;
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(be)?;
        consume_nonce(&tx, a.device, &a.nonce, a.now_ms)?;
        // From here on, a refusal still commits the consumed nonce (and nothing else).
        match activate_checked(&tx, a) {
            Ok(owner) => {
                tx.commit().map_err(be)?;
                Ok(owner)
            }
            Err(StoreError::Refused(e)) => {
                tx.commit().map_err(be)?;
                Err(StoreError::Refused(e))
            }
            Err(other) => Err(other), // rolled back on drop
        }
    }

    fn bind(&self, b: &NewBinding) -> Result<(), StoreError> {
        let mut c = self.conn()?;
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(be)?;
        let device = b.record.device.ok_or_else(|| StoreError::Backend("binding without a device".into()))?;
        insert_token(&tx, &b.record)?;
        tx.execute(
            "INSERT OR REPLACE INTO bindings (device_id, user_id, token_hash, token, region, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                db_id(device),
                b.record.user,
                &b.record.hash[..],
                b.token.as_str(),
                b.record.region,
                b.record.created_ms as i64,
                b.record.expires_ms as i64
            ],
        )
        .map_err(be)?;
        tx.commit().map_err(be)
    }

    fn pending_binding(&self, device: DeviceId, now_ms: u64) -> Result<Option<PendingBinding>, StoreError> {
        let c = self.conn()?;
        let mut st = c
            .prepare_cached(
                "SELECT b.token, b.region FROM bindings b JOIN tokens t ON t.hash = b.token_hash
                 WHERE b.device_id = ?1 AND b.expires_at > ?2 AND t.used_at IS NULL",
            )
            .map_err(be)?;
        st.query_row(params![db_id(device), now_ms as i64], |r| {
            Ok(PendingBinding { token: zeroize::Zeroizing::new(r.get(0)?), region: r.get(1)? })
        })
        .optional()
        .map_err(be)
    }

    fn devices_of(&self, user: UserId) -> Result<Vec<DeviceRecord>, StoreError> {
        let c = self.conn()?;
        let mut st = c
            .prepare_cached(&format!("SELECT {DEVICE_COLS} FROM devices WHERE owner_id = ?1 ORDER BY device_id"))
            .map_err(be)?;
        let rows = st.query_map([user], device_row).map_err(be)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(be)
    }

    fn unbind(&self, user: UserId, device: DeviceId) -> Result<(), StoreError> {
        let c = self.conn()?;
        let n = c
            .execute(
                "UPDATE devices SET owner_id = NULL, status = 'new', cloud_device_id = NULL, op_secret = NULL,
                 factory_reset = 0 WHERE device_id = ?1 AND owner_id = ?2",
                params![db_id(device), user],
            )
            .map_err(be)?;
        if n == 1 { Ok(()) } else { Err(StoreError::NotFound) }
    }

    fn set_factory_reset(&self, user: UserId, device: DeviceId) -> Result<(), StoreError> {
        let c = self.conn()?;
        let n = c
            .execute(
                "UPDATE devices SET factory_reset = 1 WHERE device_id = ?1 AND owner_id = ?2",
                params![db_id(device), user],
            )
            .map_err(be)?;
        if n == 1 { Ok(()) } else { Err(StoreError::NotFound) }
    }
}

fn insert_token(c: &Connection, t: &NewToken) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO tokens (hash, user_id, region, product_id, device_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut s| {
        s.execute(params![
            &t.hash[..],
            t.user,
            t.region,
            t.product.map(|p| i64::from(p.0)),
            t.device.map(db_id),
            t.created_ms as i64,
            t.expires_ms as i64
        ])
    })
    .map_err(be)?;
    Ok(())
}

fn consume_nonce(c: &Connection, device: DeviceId, nonce: &[u8; 16], now_ms: u64) -> Result<(), StoreError> {
    let n = c
        .prepare_cached("DELETE FROM challenges WHERE device_id = ?1 AND nonce = ?2 AND expires_at > ?3")
        .and_then(|mut s| s.execute(params![db_id(device), &nonce[..], now_ms as i64]))
        .map_err(be)?;
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::Refused(PairError::DeviceAuthFailed))
    }
}

struct TokenRow {
    user: UserId,
    region: String,
    product: Option<i64>,
    device: Option<i64>,
    expires_at: i64,
    used: bool,
}

fn activate_checked(tx: &Connection, a: &Activation) -> Result<UserId, StoreError> {
    let refused = |e| Err(StoreError::Refused(e));
    let token = tx
        .prepare_cached(
            "SELECT user_id, region, product_id, device_id, expires_at, used_at IS NOT NULL FROM tokens WHERE hash = ?1",
        )
        .and_then(|mut s| {
            s.query_row([&a.token_hash[..]], |r| {
                Ok(TokenRow {
                    user: r.get(0)?,
                    region: r.get(1)?,
                    product: r.get(2)?,
                    device: r.get(3)?,
                    expires_at: r.get(4)?,
                    used: r.get(5)?,
                })
            })
            .optional()
        })
        .map_err(be)?;
    let Some(token) = token else { return refused(PairError::TokenUnknown) };
    if token.used {
        return refused(PairError::TokenUsed);
    }
    if token.expires_at <= a.now_ms as i64 {
        return refused(PairError::TokenExpired);
    }
    if token.region != a.region {
        return refused(PairError::TokenMismatch);
    }
    if token.device.is_some_and(|d| d != db_id(a.device)) {
        return refused(PairError::TokenMismatch);
    }
    if token.product.is_some_and(|p| p != i64::from(a.product.0)) {
        return refused(PairError::ProductMismatch);
    }
    let (owner, factory_reset): (Option<UserId>, bool) = tx
        .query_row(
            "SELECT owner_id, factory_reset FROM devices WHERE device_id = ?1",
            [db_id(a.device)],
            |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0)),
        )
        .optional()
        .map_err(be)?
        .ok_or(StoreError::Refused(PairError::DeviceUnknown))?;
    if owner.is_some_and(|o| o != token.user) && !factory_reset {
        // Owned by someone else who has not released it.
        return refused(PairError::TokenMismatch);
    }
    let n = tx
        .execute(
            "UPDATE tokens SET used_at = ?1, used_by = ?2 WHERE hash = ?3 AND used_at IS NULL",
            params![a.now_ms as i64, db_id(a.device), &a.token_hash[..]],
        )
        .map_err(be)?;
    if n != 1 {
        return refused(PairError::TokenUsed);
    }
    tx.execute(
        "UPDATE devices SET status = 'activated', owner_id = ?1, cloud_device_id = ?2, op_secret = ?3,
         fw_version = ?4, mode = ?5, activated_at = ?6, factory_reset = 0 WHERE device_id = ?7",
        params![
            token.user,
            a.cloud_device_id,
            &a.operational_secret[..],
            a.fw_version,
            a.mode,
            a.now_ms as i64,
            db_id(a.device)
        ],
    )
    .map_err(be)?;
    tx.execute("DELETE FROM bindings WHERE device_id = ?1", [db_id(a.device)]).map_err(be)?;
    tx.execute(
        "INSERT INTO activations (device_id, user_id, token_hash, mode, fw_version, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![db_id(a.device), token.user, &a.token_hash[..], a.mode, a.fw_version, a.now_ms as i64],
    )
    .map_err(be)?;
    Ok(token.user)
}
