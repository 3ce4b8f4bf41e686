//! zpair's reference activation cloud.
//!
//! A real service: axum on tokio/hyper, TLS with rustls (a self-signed CA generated on first
//! start), SQLite (bundled) behind the [`Store`](store::Store) trait. It serves
//!
//! * the **device API** (CBOR, [`zpair_core::activation`]): `POST /v1/device/challenge`,
//!   `/v1/device/activate`, `/v1/device/bind-poll`;
//! * the **app API** (JSON, `Authorization: Bearer <api key>`): `POST /v1/users`,
//!   `POST /v1/tokens`, `POST /v1/bind`, `GET /v1/devices`, `DELETE /v1/devices/{id}`,
//!   `POST /v1/devices/{id}/factory-reset`.
//!
//! Embed it with [`Cloud::start`]; talk to it with [`client::DeviceClient`] (device API) and
//! [`client::AppClient`] (app API); fill its registry with [`manifest`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod clock;
pub mod crypto;
pub mod manifest;
pub mod ratelimit;
pub mod server;
pub mod sqlite;
pub mod store;
pub mod tls;

pub use clock::{Clock, ManualClock, SystemClock};
pub use server::{Cloud, CloudHandle, Config, Limits};
