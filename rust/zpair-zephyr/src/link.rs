//! The cloud link: zpair-core's [`CloudLink`] over the shim's HTTP/1.1 POST
//! (`zpair_cloud_post`: a TLS socket with the CA of `CONFIG_ZPAIR_CLOUD_CA_TAG`, or plain TCP
//! for tests against a local cloud when `CONFIG_ZPAIR_CLOUD_TLS` is off).

use zpair_core::client::CloudLink;
use zpair_core::error::PairError;
use zpair_core::types::CloudEndpoint;

use crate::ffi;

/// One blocking HTTP exchange per [`CloudLink::post`]. The endpoint's host and port override
/// `CONFIG_ZPAIR_CLOUD_HOST` / `CONFIG_ZPAIR_CLOUD_PORT` when the app sent them.
#[derive(Debug, Default, Clone, Copy)]
pub struct HttpLink;

/// Maps a shim error to the error the app and the machine see.
pub fn post_error(rc: i32) -> PairError {
    if rc == -ffi::errno::EACCES {
        PairError::CloudCertificate
    } else {
        // Unreachable, refused, timeout, DNS, garbled answer: all transient, retried.
        PairError::CloudUnreachable
    }
}

impl CloudLink for HttpLink {
    fn post(
        &mut self,
        endpoint: Option<&CloudEndpoint>,
        path: &str,
        body: &[u8],
        response: &mut [u8],
    ) -> Result<(u16, usize), PairError> {
        let host: &[u8] = endpoint.and_then(|e| e.host.as_deref()).unwrap_or(&[]);
        let port = endpoint.map_or(0, |e| e.port);
        let mut len = 0usize;
        let mut status = 0u16;
        // SAFETY: every pointer is valid for its length during the call; `response` is
        // writable for `response.len()` bytes and the shim writes at most that; `len` and
        // `status` are valid out-pointers.
        let rc = unsafe {
            ffi::zpair_cloud_post(
                host.as_ptr().cast(),
                host.len(),
                port,
                path.as_ptr().cast(),
                path.len(),
                body.as_ptr(),
                body.len(),
                response.as_mut_ptr(),
                response.len(),
                &mut len,
                &mut status,
            )
        };
        if rc != 0 {
            log::warn!("cloud call failed ({rc})");
            return Err(post_error(rc));
        }
        Ok((status, len))
    }
}
