//! What the API and Keep clients share: the one ureq [`Agent`] (TLS roots,
//! timeouts, status codes as plain responses) and request ids. The clock,
//! randomness and the classification of transport failures live in
//! `crate::net`, shared with the registry client, and are re-exported here.

use std::path::Path;
use std::time::Duration;

use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::Agent;

use crate::error::{Error, Result};
use crate::settings::ClientConfig;

// Shared with the registry client; re-exported so that the API and Keep
// clients keep their one import path.
pub use crate::net::{
    describe_transport_error, encode_pairs, percent_encode, random_duration_below, random_u64,
    transport_error_is_retryable, Clock, SystemClock,
};

/// The legacy socket timeout for API requests (spec §1.4).
pub const SOCKET_TIMEOUT: Duration = Duration::from_secs(300);

/// Idle keep-alive connections older than this are not reused (spec §1.4).
pub const MAX_IDLE_AGE: Duration = Duration::from_secs(30);

/// A fresh `X-Request-Id`: `req-` and 20 characters of `[0-9a-z]`, like the
/// legacy SDK's `new_request_id`.
pub fn new_request_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut id = String::with_capacity(24);
    id.push_str("req-");
    let mut bits = random_u64();
    for i in 0..20 {
        if i == 10 {
            bits = random_u64();
        }
        id.push(ALPHABET[(bits % 36) as usize] as char);
        bits /= 36;
    }
    id
}

/// Builds the process's one HTTP agent: certificates verified against the
/// configured CA bundle (or the built-in Mozilla roots when no bundle
/// exists), verification off only when `insecure`, HTTP error statuses
/// returned as responses so their bodies can be read.
pub fn new_agent(config: &ClientConfig) -> Result<Agent> {
    let roots = match &config.ca_file {
        Some(path) if !config.insecure => RootCerts::new_with_certs(&load_pem_bundle(path)?),
        _ => RootCerts::WebPki,
    };
    let tls = TlsConfig::builder()
        .root_certs(roots)
        .disable_verification(config.insecure)
        .build();
    let agent_config = Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .user_agent(concat!("arv-keepdocker/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_per_read(Some(SOCKET_TIMEOUT))
        .timeout_per_write(Some(SOCKET_TIMEOUT))
        .max_idle_age(MAX_IDLE_AGE)
        .max_idle_connections(32)
        .max_idle_connections_per_host(8)
        .build();
    Ok(agent_config.new_agent())
}

/// Reads every certificate of a PEM bundle.
pub fn load_pem_bundle(path: &Path) -> Result<Vec<Certificate<'static>>> {
    crate::net::load_pem_bundle(path).map_err(|problem| Error::CaBundle {
        path: path.to_path_buf(),
        problem,
    })
}

#[cfg(test)]
pub(crate) mod testing {
    pub use crate::net::testing::FakeClock;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_look_like_legacy_ones() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        for id in [a, b] {
            assert_eq!(id.len(), 24);
            assert!(id.starts_with("req-"));
            assert!(id[4..]
                .bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
        }
    }

    #[test]
    fn pem_bundle_errors_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("empty.pem");
        std::fs::write(&p, "not pem").unwrap();
        let e = load_pem_bundle(&p).unwrap_err();
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
        let e = load_pem_bundle(&dir.path().join("missing.pem")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot use the CA certificates in"),
            "{e}"
        );
    }
}
