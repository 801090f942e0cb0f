//! What every HTTP client of the crate shares (the Arvados API and Keep
//! clients, the registry client): the injectable [`Clock`] that retry
//! loops sleep on, randomness for jitter and request ids, PEM bundles, the
//! classification of ureq transport failures, and percent-encoding. It
//! knows no server: `arvados::http` and `registry` build their agents on it.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ureq::tls::{Certificate, PemItem};

/// Time as seen by retry loops. Production uses `SystemClock`; tests use
/// a fake that records sleeps instead of sleeping.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
    fn sleep(&self, duration: Duration);
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration)
    }
}

/// A random 64-bit number. The standard library seeds every
/// [`RandomState`] from the OS, which is all the randomness request ids and
/// backoff jitter need.
pub fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// A uniformly random duration in `[0, limit)`.
pub fn random_duration_below(limit: Duration) -> Duration {
    let unit = (random_u64() >> 11) as f64 / (1u64 << 53) as f64;
    limit.mul_f64(unit)
}

/// Reads every certificate of a PEM bundle.
/// The error is the problem alone; callers name the file.
pub fn load_pem_bundle(path: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    if certs.is_empty() {
        return Err("no PEM certificate in the file".into());
    }
    Ok(certs)
}

/// Whether a transport failure is worth retrying (spec §2.2: timeouts,
/// refused/reset/aborted connections, broken pipes, DNS failures, TLS
/// errors). A certificate that does not verify is not retried: unlike the
/// legacy client, which spends its whole backoff budget on it, we report
/// it at once, since waiting cannot fix it.
pub fn transport_error_is_retryable(error: &ureq::Error) -> bool {
    match error {
        ureq::Error::Io(_)
        | ureq::Error::Timeout(_)
        | ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::Protocol(_)
        | ureq::Error::Tls(_) => !is_certificate_failure(&error.to_string()),
        ureq::Error::Rustls(_) | ureq::Error::Pem(_) => !is_certificate_failure(&error.to_string()),
        _ => false,
    }
}

/// Whether an error text says the peer's certificate was refused.
pub fn is_certificate_failure(text: &str) -> bool {
    text.contains("invalid peer certificate") || text.contains("certificate verify")
}

/// A one-line description of a transport failure.
pub fn describe_transport_error(error: &ureq::Error) -> String {
    match error {
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::Io(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// Percent-encodes a query or form value: everything but the RFC 3986
/// unreserved characters.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + value.len() / 2);
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Encodes `key=value` pairs as a query string / form body.
pub fn encode_pairs(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
pub(crate) mod testing {
    //! A fake clock: `sleep` advances virtual time and records the sleep.
    use super::*;
    use std::sync::Mutex;

    pub struct FakeClock {
        start: Instant,
        state: Mutex<(Duration, Vec<Duration>)>,
    }

    impl FakeClock {
        pub fn new() -> FakeClock {
            FakeClock {
                start: Instant::now(),
                state: Mutex::new((Duration::ZERO, Vec::new())),
            }
        }
        /// Every sleep so far.
        pub fn sleeps(&self) -> Vec<Duration> {
            self.state.lock().unwrap().1.clone()
        }
        /// Advances time without sleeping (work that takes time).
        pub fn advance(&self, d: Duration) {
            self.state.lock().unwrap().0 += d;
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Instant {
            self.start + self.state.lock().unwrap().0
        }
        fn sleep(&self, d: Duration) {
            let mut s = self.state.lock().unwrap();
            s.0 += d;
            s.1.push(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_durations_stay_below_the_limit() {
        for _ in 0..1000 {
            assert!(random_duration_below(Duration::from_secs(2)) < Duration::from_secs(2));
        }
    }

    #[test]
    fn percent_encoding_of_json_filters() {
        assert_eq!(
            percent_encode(r#"[["name","=","a b:c"]]"#),
            "%5B%5B%22name%22%2C%22%3D%22%2C%22a%20b%3Ac%22%5D%5D"
        );
        assert_eq!(
            encode_pairs(&[("limit".into(), "1000".into()), ("a~".into(), "é".into())]),
            "limit=1000&a~=%C3%A9"
        );
    }

    #[test]
    fn certificate_failures_are_not_retried() {
        let e = ureq::Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "invalid peer certificate: UnknownIssuer",
        ));
        assert!(!transport_error_is_retryable(&e));
        let e = ureq::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(transport_error_is_retryable(&e));
        assert!(transport_error_is_retryable(&ureq::Error::HostNotFound));
        assert!(!transport_error_is_retryable(&ureq::Error::BadUri(
            "x".into()
        )));
    }
}
