//! Talking to registries: one agent per registry host (its TLS roots:
//! the CA bundle plus Docker's `certs.d` for that host), the `/v2/` ping
//! that chooses HTTPS or (loopback and `--insecure-registry` hosts only)
//! plain HTTP and learns the auth challenge, Bearer tokens, and the one
//! request loop: retries with backoff, `Retry-After` on 429, redirects
//! followed by hand so that the registry's `Authorization` never goes to
//! another host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use ureq::http::{Response, Uri};
use ureq::tls::{RootCerts, TlsConfig};
use ureq::{Agent, Body};

use super::auth::{self, Challenge, Credential};
use super::blob::BlobReader;
use super::manifest::{self, Parsed};
use super::{Platform, PullOptions, Reference, RegistryError, Resolved, LOGGER};
use crate::log;
use crate::net::{
    describe_transport_error, encode_pairs, is_certificate_failure, load_pem_bundle,
    random_duration_below, transport_error_is_retryable, Clock,
};

/// The largest manifest read (Docker's limit is 4 MiB).
const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// The largest config blob read into memory.
const MAX_CONFIG_BYTES: u64 = 64 << 20;
/// The largest token or error body read.
const MAX_SMALL_BODY: u64 = 1 << 20;
/// Redirects followed for one request.
const MAX_REDIRECTS: u32 = 10;
/// The longest `Retry-After` obeyed by default.
const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The first backoff; it doubles with each retry.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// The client behind `Registry`: options, the hosts met so far, the
/// repository of the last resolve.
pub struct Client {
    pub options: PullOptions,
    pub clock: Arc<dyn Clock>,
    hosts: Mutex<HashMap<String, Arc<Host>>>,
    current: Mutex<Option<Arc<Repo>>>,
}

/// A registry host as its ping found it.
pub struct Host {
    /// `HOST[:PORT]` as in the reference (`docker.io` for Hub).
    pub registry: String,
    /// `scheme://authority` of its API.
    pub base: String,
    agent: Agent,
    challenge: Challenge,
    credential: Option<Credential>,
}

/// One repository of a host, with its Bearer token once fetched.
pub struct Repo {
    pub host: Arc<Host>,
    pub repository: String,
    token: Mutex<Option<String>>,
}

impl Repo {
    /// `REGISTRY/REPOSITORY`, for messages.
    pub fn name(&self) -> String {
        format!("{}/{}", self.host.registry, self.repository)
    }
}

impl Client {
    pub fn new(options: PullOptions, clock: Arc<dyn Clock>) -> Client {
        Client {
            options,
            clock,
            hosts: Mutex::new(HashMap::new()),
            current: Mutex::new(None),
        }
    }

    pub fn current_repository(&self) -> Option<Arc<Repo>> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether `host` (`HOST[:PORT]`) may be spoken to over plain HTTP.
    pub fn plain_http_allowed(&self, host: &str) -> bool {
        let name = host_name(host);
        is_loopback(name)
            || self
                .options
                .insecure_registries
                .iter()
                .any(|h| h == host || h == name)
    }

    /// Whether a transport failure is worth another try now: it may pass
    /// and retries are left. If so, sleeps the backoff and counts the try.
    fn may_retry(&self, e: &ureq::Error, attempt: &mut u32) -> bool {
        if !transport_error_is_retryable(e) || *attempt >= self.options.retries {
            return false;
        }
        self.clock.sleep(self.backoff(*attempt));
        *attempt += 1;
        true
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = FIRST_BACKOFF * 2u32.saturating_pow(attempt.min(6));
        base + random_duration_below(base / 2)
    }

    /// The host of `registry`, pinged once.
    fn host(&self, registry: &str) -> Result<Arc<Host>, RegistryError> {
        if let Some(host) = self
            .hosts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(registry)
        {
            return Ok(host.clone());
        }
        let host = Arc::new(self.ping(registry)?);
        self.hosts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(registry.to_string(), host.clone());
        Ok(host)
    }

    fn agent_for(&self, registry: &str) -> Result<Agent, RegistryError> {
        let tls_error = |problem: String| RegistryError::Tls {
            registry: registry.to_string(),
            problem,
        };
        let mut certs = Vec::new();
        if let Some(bundle) = &self.options.ca_file {
            certs.extend(
                load_pem_bundle(bundle)
                    .map_err(|p| tls_error(format!("CA bundle {}: {p}", bundle.display())))?,
            );
        }
        if let Some(dir) = &self.options.certs_dir {
            let dir = dir.join(registry);
            if let Ok(entries) = std::fs::read_dir(&dir) {
                let mut paths: Vec<_> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "crt"))
                    .collect();
                paths.sort();
                for path in paths {
                    certs.extend(
                        load_pem_bundle(&path)
                            .map_err(|p| tls_error(format!("{}: {p}", path.display())))?,
                    );
                }
            }
        }
        let roots = if certs.is_empty() {
            RootCerts::WebPki
        } else {
            RootCerts::new_with_certs(&certs)
        };
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .user_agent(concat!("arv-keepdocker/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(Duration::from_secs(20)))
            .timeout_per_read(Some(Duration::from_secs(300)))
            .timeout_per_write(Some(Duration::from_secs(300)))
            .build();
        Ok(config.new_agent())
    }

    /// `GET /v2/`: HTTPS, or for loopback and insecure hosts HTTPS then
    /// plain HTTP (as dockerd does for them); the answer gives the challenge.
    fn ping(&self, registry: &str) -> Result<Host, RegistryError> {
        let api_host = if registry == crate::reference::DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            registry
        };
        let agent = self.agent_for(registry)?;
        let schemes: &[&str] = if self.plain_http_allowed(registry) {
            &["https", "http"]
        } else {
            &["https"]
        };
        let mut attempt = 0;
        let (base, response) = 'attempts: loop {
            let mut last = None;
            for scheme in schemes {
                let base = format!("{scheme}://{api_host}");
                let url = format!("{base}/v2/");
                let started = Instant::now();
                let sent = agent.get(&url).call();
                debug_line("GET", &url, &sent, started);
                match sent {
                    Ok(response) => break 'attempts (base, response),
                    Err(e) if is_certificate_failure(&e.to_string()) => {
                        return Err(RegistryError::Tls {
                            registry: registry.to_string(),
                            problem: describe_transport_error(&e),
                        })
                    }
                    Err(e) => last = Some(e),
                }
            }
            let e = last.expect("at least one scheme was tried");
            if self.may_retry(&e, &mut attempt) {
                continue;
            }
            let problem = describe_transport_error(&e);
            return Err(match e {
                ureq::Error::Tls(_) | ureq::Error::Rustls(_) if schemes.len() == 1 => {
                    RegistryError::Tls {
                        registry: registry.to_string(),
                        problem,
                    }
                }
                _ => RegistryError::Unreachable {
                    registry: registry.to_string(),
                    problem,
                },
            });
        };
        let status = response.status().as_u16();
        let challenge = match status {
            200..=299 => Challenge::None,
            401 => auth::challenge_of(header(&response, "www-authenticate").as_deref()).map_err(
                |problem| RegistryError::Server {
                    registry: registry.to_string(),
                    what: "GET /v2/".into(),
                    status,
                    message: problem,
                },
            )?,
            _ => {
                return Err(RegistryError::Server {
                    registry: registry.to_string(),
                    what: "GET /v2/ (is it a registry?)".into(),
                    status,
                    message: error_message(response),
                })
            }
        };
        let credential = match (&challenge, &self.options.docker_config) {
            (Challenge::None, _) | (_, None) => None,
            (_, Some(dir)) => {
                auth::lookup(dir, registry).map_err(|problem| RegistryError::Credentials {
                    registry: registry.to_string(),
                    problem,
                })?
            }
        };
        log::debug(LOGGER, || {
            format!(
                "registry {registry}: {base}, {}, {}",
                match &challenge {
                    Challenge::None => "no authentication",
                    Challenge::Basic => "Basic authentication",
                    Challenge::Bearer { .. } => "Bearer tokens",
                },
                match &credential {
                    None => "no credentials",
                    Some(Credential::Basic { .. }) => "user and password from the docker config",
                    Some(Credential::IdentityToken(_)) => "identity token from the docker config",
                }
            )
        });
        Ok(Host {
            registry: registry.to_string(),
            base,
            agent,
            challenge,
            credential,
        })
    }

    /// The `Authorization` header for requests to `repo`'s host.
    fn authorization(&self, repo: &Repo, refresh: bool) -> Result<Option<String>, RegistryError> {
        let host = &repo.host;
        match &host.challenge {
            Challenge::None => Ok(None),
            Challenge::Basic => match host.credential.as_ref().and_then(Credential::basic_header) {
                Some(header) => Ok(Some(header)),
                None => Err(RegistryError::AuthRequired {
                    registry: host.registry.clone(),
                    repository: repo.repository.clone(),
                }),
            },
            Challenge::Bearer { realm, service } => {
                let mut token = repo.token.lock().unwrap_or_else(|e| e.into_inner());
                if refresh || token.is_none() {
                    *token = Some(self.fetch_token(repo, realm, service.as_deref())?);
                }
                Ok(token.as_ref().map(|t| format!("Bearer {t}")))
            }
        }
    }

    /// A pull token for `repo` from the Bearer realm: GET with Basic
    /// credentials (or none: anonymous), or the OAuth2 refresh-token POST
    /// for an identity token.
    fn fetch_token(
        &self,
        repo: &Repo,
        realm: &str,
        service: Option<&str>,
    ) -> Result<String, RegistryError> {
        let host = &repo.host;
        self.check_scheme(host, realm)?;
        let scope = format!("repository:{}:pull", repo.repository);
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let sent = match &host.credential {
                Some(Credential::IdentityToken(token)) => {
                    let mut pairs = vec![
                        ("grant_type".to_string(), "refresh_token".to_string()),
                        ("refresh_token".to_string(), token.clone()),
                        ("client_id".to_string(), "arv-keepdocker".to_string()),
                        ("scope".to_string(), scope.clone()),
                    ];
                    if let Some(service) = service {
                        pairs.push(("service".to_string(), service.to_string()));
                    }
                    let sent = host
                        .agent
                        .post(realm)
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .send(encode_pairs(&pairs).as_bytes());
                    debug_line("POST", realm, &sent, started);
                    sent
                }
                credential => {
                    let mut pairs = vec![("scope".to_string(), scope.clone())];
                    if let Some(service) = service {
                        pairs.push(("service".to_string(), service.to_string()));
                    }
                    let separator = if realm.contains('?') { '&' } else { '?' };
                    let url = format!("{realm}{separator}{}", encode_pairs(&pairs));
                    let mut request = host.agent.get(&url);
                    if let Some(basic) = credential.as_ref().and_then(|c| c.basic_header()) {
                        request = request.header("Authorization", basic);
                    }
                    let sent = request.call();
                    debug_line("GET", realm, &sent, started);
                    sent
                }
            };
            let what = "a token from its auth server";
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    if self.may_retry(&e, &mut attempt) {
                        continue;
                    }
                    return Err(transport_failure(&host.registry, &e));
                }
            };
            let status = response.status().as_u16();
            match status {
                200 => {
                    #[derive(Deserialize)]
                    struct Token {
                        token: Option<String>,
                        access_token: Option<String>,
                    }
                    let body = read_small(response).map_err(|message| RegistryError::Server {
                        registry: host.registry.clone(),
                        what: what.into(),
                        status,
                        message,
                    })?;
                    let token: Token =
                        serde_json::from_slice(&body).map_err(|e| RegistryError::Server {
                            registry: host.registry.clone(),
                            what: what.into(),
                            status,
                            message: format!("not a token answer: {e}"),
                        })?;
                    return token
                        .token
                        .or(token.access_token)
                        .filter(|t| !t.is_empty())
                        .ok_or_else(|| RegistryError::Server {
                            registry: host.registry.clone(),
                            what: what.into(),
                            status,
                            message: "the answer holds no token".into(),
                        });
                }
                401 | 403 => {
                    return Err(RegistryError::AuthRefused {
                        registry: host.registry.clone(),
                        repository: repo.repository.clone(),
                        user: host
                            .credential
                            .as_ref()
                            .and_then(|c| c.user().map(str::to_string)),
                        detail: error_message(response),
                    })
                }
                408 | 429 | 500..=599 if attempt < self.options.retries => {
                    let wait = self.retry_wait(&response, attempt);
                    self.clock.sleep(wait);
                    attempt += 1;
                }
                _ => {
                    return Err(RegistryError::Server {
                        registry: host.registry.clone(),
                        what: what.into(),
                        status,
                        message: error_message(response),
                    })
                }
            }
        }
    }

    /// Refuses a plain-HTTP URL to a host that must use TLS.
    fn check_scheme(&self, host: &Host, url: &str) -> Result<(), RegistryError> {
        let uri: Uri = url.parse().map_err(|_| RegistryError::Server {
            registry: host.registry.clone(),
            what: "a redirect or token realm".into(),
            status: 0,
            message: format!("unusable URL {:?}", strip_query(url)),
        })?;
        match uri.scheme_str() {
            Some("https") => Ok(()),
            Some("http") => {
                let authority = uri.authority().map(|a| a.as_str()).unwrap_or("");
                if self.plain_http_allowed(authority) {
                    Ok(())
                } else {
                    Err(RegistryError::PlainHttp {
                        registry: host.registry.clone(),
                        host: authority.to_string(),
                    })
                }
            }
            _ => Err(RegistryError::Server {
                registry: host.registry.clone(),
                what: "a redirect or token realm".into(),
                status: 0,
                message: format!("unusable URL {:?}", strip_query(url)),
            }),
        }
    }

    /// How long to wait before retrying after `response`: its
    /// `Retry-After` (seconds or an HTTP date), bounded, else the backoff.
    fn retry_wait(&self, response: &Response<Body>, attempt: u32) -> Duration {
        let cap = self
            .options
            .max_retry_after
            .unwrap_or(DEFAULT_MAX_RETRY_AFTER);
        match header(response, "retry-after").and_then(|v| parse_retry_after(&v)) {
            Some(wait) => wait.min(cap),
            None => self.backoff(attempt),
        }
    }

    /// GET `path` (below the host's base) for `repo`, with retries, token
    /// refresh and redirects. Statuses other than 2xx that retrying cannot
    /// change (404, 416, ...) are returned for the caller to name.
    pub fn get(
        &self,
        repo: &Repo,
        path: &str,
        accept: Option<&str>,
        range_from: Option<u64>,
        what: &str,
    ) -> Result<Response<Body>, RegistryError> {
        let host = &repo.host;
        let origin = host.base.clone();
        let mut url = format!("{origin}{path}");
        let mut attempt = 0;
        let mut refreshed = false;
        let mut redirects = 0;
        loop {
            let same_origin = origin_of(&url).as_deref() == Some(origin.as_str());
            // Bytes as stored: a Content-Encoding would make the lengths
            // and ranges we check those of other bytes.
            let mut request = host.agent.get(&url).header("Accept-Encoding", "identity");
            if let Some(accept) = accept {
                request = request.header("Accept", accept);
            }
            if let Some(from) = range_from {
                request = request.header("Range", format!("bytes={from}-"));
            }
            // The registry's credentials go to the registry only: a
            // redirect to blob storage elsewhere gets none.
            if same_origin {
                if let Some(authorization) = self.authorization(repo, false)? {
                    request = request.header("Authorization", authorization);
                }
            }
            let started = Instant::now();
            let sent = request.call();
            debug_line("GET", &url, &sent, started);
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    if self.may_retry(&e, &mut attempt) {
                        continue;
                    }
                    return Err(transport_failure(&host.registry, &e));
                }
            };
            let status = response.status().as_u16();
            match status {
                301 | 302 | 303 | 307 | 308 => {
                    let location =
                        header(&response, "location").ok_or_else(|| RegistryError::Server {
                            registry: host.registry.clone(),
                            what: what.to_string(),
                            status,
                            message: "a redirect with no Location".into(),
                        })?;
                    redirects += 1;
                    if redirects > MAX_REDIRECTS {
                        return Err(RegistryError::Server {
                            registry: host.registry.clone(),
                            what: what.to_string(),
                            status,
                            message: format!("more than {MAX_REDIRECTS} redirects"),
                        });
                    }
                    url = resolve_location(&url, &location);
                    self.check_scheme(host, &url)?;
                }
                401 if same_origin
                    && !refreshed
                    && matches!(host.challenge, Challenge::Bearer { .. }) =>
                {
                    // An expired token: one new one, then give up.
                    refreshed = true;
                    self.authorization(repo, true)?;
                }
                401 | 403 => {
                    return Err(RegistryError::AuthRefused {
                        registry: host.registry.clone(),
                        repository: repo.repository.clone(),
                        user: host
                            .credential
                            .as_ref()
                            .and_then(|c| c.user().map(str::to_string)),
                        detail: error_message(response),
                    })
                }
                408 | 429 | 500..=599 => {
                    if attempt >= self.options.retries {
                        if status == 429 {
                            return Err(RegistryError::TooManyRequests {
                                registry: host.registry.clone(),
                                what: what.to_string(),
                            });
                        }
                        return Err(RegistryError::Server {
                            registry: host.registry.clone(),
                            what: what.to_string(),
                            status,
                            message: error_message(response),
                        });
                    }
                    let wait = self.retry_wait(&response, attempt);
                    log::debug(LOGGER, || {
                        format!("{what}: {status}, retrying in {} ms", wait.as_millis())
                    });
                    self.clock.sleep(wait);
                    attempt += 1;
                }
                _ => return Ok(response),
            }
        }
    }

    /// The manifest `reference_part` (tag or digest) of `repo`: its bytes,
    /// its media type and the sha256 of the bytes.
    fn manifest(
        &self,
        repo: &Repo,
        reference: &Reference,
        reference_part: &str,
    ) -> Result<(Vec<u8>, String, String), RegistryError> {
        let path = format!("/v2/{}/manifests/{reference_part}", repo.repository);
        let what = format!("manifest {reference_part} of {}", repo.name());
        let response = self.get(repo, &path, Some(manifest::ACCEPT), None, &what)?;
        let status = response.status().as_u16();
        if status == 404 {
            return Err(RegistryError::ManifestUnknown {
                reference: reference.to_string(),
                detail: error_message(response),
            });
        }
        if status != 200 {
            return Err(RegistryError::Server {
                registry: repo.host.registry.clone(),
                what,
                status,
                message: error_message(response),
            });
        }
        let content_type = header(&response, "content-type")
            .map(|t| t.split(';').next().unwrap_or("").trim().to_string())
            .unwrap_or_default();
        let body = response
            .into_body()
            .into_with_config()
            .limit(MAX_MANIFEST_BYTES)
            .read_to_vec()
            .map_err(|e| RegistryError::BadManifest {
                reference: reference.to_string(),
                problem: format!("reading it failed: {}", describe_transport_error(&e)),
            })?;
        let digest = format!("sha256:{}", hex(&Sha256::digest(&body)));
        Ok((body, content_type, digest))
    }

    fn set_current(&self, repo: Arc<Repo>) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(repo);
    }
}

/// Resolves `reference` to one image (see `Registry::resolve`).
pub fn resolve(
    client: &Arc<Client>,
    reference: &Reference,
    platform: &Platform,
) -> Result<Resolved, RegistryError> {
    let host = client.host(&reference.registry)?;
    let repo = Arc::new(Repo {
        host,
        repository: reference.repository.clone(),
        token: Mutex::new(None),
    });
    let wanted = reference.manifest_reference().to_string();
    let (mut body, mut content_type, mut digest) = client.manifest(&repo, reference, &wanted)?;
    if let Some(expected) = &reference.digest {
        check_manifest_digest(reference, expected, &digest)?;
    }
    let bad = |problem: String| RegistryError::BadManifest {
        reference: reference.to_string(),
        problem,
    };
    let mut parsed = manifest::parse(&content_type, &body).map_err(bad)?;
    let mut index_digest = None;
    if let Parsed::Index(entries) = &parsed {
        index_digest = Some(digest.clone());
        let entry = manifest::choose(entries, platform).map_err(|offered| {
            RegistryError::PlatformNotOffered {
                reference: reference.to_string(),
                wanted: platform.to_string(),
                offered,
            }
        })?;
        let chosen = entry.descriptor.digest.clone();
        log::debug(LOGGER, || {
            format!("{reference}: an index; {platform} is manifest {chosen}")
        });
        (body, content_type, digest) = client.manifest(&repo, reference, &chosen)?;
        check_manifest_digest(reference, &chosen, &digest)?;
        parsed = manifest::parse(&content_type, &body).map_err(bad)?;
    }
    let (config_descriptor, layers) = match parsed {
        Parsed::Image { config, layers } => (config, layers),
        Parsed::Schema1 => {
            return Err(RegistryError::Schema1 {
                reference: reference.to_string(),
            })
        }
        Parsed::Index(_) => return Err(bad("an index inside an index".into())),
    };
    if config_descriptor.size > MAX_CONFIG_BYTES {
        return Err(bad(format!(
            "its config is {} bytes, more than the {MAX_CONFIG_BYTES} we read",
            config_descriptor.size
        )));
    }
    let mut config = Vec::with_capacity(config_descriptor.size as usize);
    let mut reader = BlobReader::open(client.clone(), repo.clone(), config_descriptor.clone())?;
    std::io::Read::read_to_end(&mut reader, &mut config).map_err(super::blob::unwrap_error)?;
    log::debug(LOGGER, || {
        format!(
            "{reference}: manifest {digest}, image {}, {} layers",
            config_descriptor.digest,
            layers.len()
        )
    });
    client.set_current(repo);
    Ok(Resolved {
        reference: reference.clone(),
        manifest_digest: digest,
        index_digest,
        config,
        config_descriptor,
        layers,
    })
}

fn check_manifest_digest(
    reference: &Reference,
    expected: &str,
    actual: &str,
) -> Result<(), RegistryError> {
    if expected == actual {
        Ok(())
    } else {
        Err(RegistryError::DigestMismatch {
            what: format!("manifest {expected} of {reference}"),
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

/// A transport failure as a registry error: TLS, or unreachable.
pub fn transport_failure(registry: &str, e: &ureq::Error) -> RegistryError {
    let problem = describe_transport_error(e);
    match e {
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) => RegistryError::Tls {
            registry: registry.to_string(),
            problem,
        },
        _ if is_certificate_failure(&problem) => RegistryError::Tls {
            registry: registry.to_string(),
            problem,
        },
        _ => RegistryError::Unreachable {
            registry: registry.to_string(),
            problem,
        },
    }
}

/// A response header as text.
pub fn header(response: &Response<Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn read_small(response: Response<Body>) -> Result<Vec<u8>, String> {
    response
        .into_body()
        .into_with_config()
        .limit(MAX_SMALL_BODY)
        .read_to_vec()
        .map_err(|e| describe_transport_error(&e))
}

/// The words of a registry's error answer: the `message` (and `code`) of
/// each entry of `{"errors": [...]}`, or the start of the body.
pub fn error_message(response: Response<Body>) -> String {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        code: Option<String>,
        message: Option<String>,
    }
    #[derive(Deserialize)]
    struct OAuth {
        error: String,
        error_description: Option<String>,
        details: Option<String>,
    }
    let Ok(body) = read_small(response) else {
        return String::new();
    };
    if let Ok(errors) = serde_json::from_slice::<Errors>(&body) {
        return errors
            .errors
            .iter()
            .map(|e| match (&e.code, &e.message) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(text), None) | (None, Some(text)) => text.clone(),
                (None, None) => String::new(),
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    if let Ok(e) = serde_json::from_slice::<OAuth>(&body) {
        return match e.error_description.or(e.details) {
            Some(d) => format!("{}: {d}", e.error),
            None => e.error,
        };
    }
    let text = String::from_utf8_lossy(&body);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    line.chars().take(200).collect()
}

/// `Retry-After`: delay-seconds, or an HTTP date (RFC 7231) from now.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = parse_http_date(value)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs() as i64;
    Some(Duration::from_secs((at - now).max(0) as u64))
}

/// An IMF-fixdate (`Wed, 21 Oct 2015 07:28:00 GMT`) as Unix seconds.
fn parse_http_date(value: &str) -> Option<i64> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as u32 + 1;
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    let days = crate::timestamp::days_from_civil(year.parse().ok()?, month, day.parse().ok()?);
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

/// `scheme://authority` of a URL.
pub fn origin_of(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    Some(format!(
        "{}://{}",
        uri.scheme_str()?,
        uri.authority()?.as_str()
    ))
}

/// A `Location` resolved against the URL it answered.
pub fn resolve_location(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_string();
    }
    let origin = origin_of(base).unwrap_or_default();
    if let Some(rest) = location.strip_prefix("//") {
        let scheme = base.split("://").next().unwrap_or("https");
        return format!("{scheme}://{rest}");
    }
    if location.starts_with('/') {
        return format!("{origin}{location}");
    }
    let path = strip_query(base);
    let dir = match path.rfind('/') {
        Some(at) if at >= origin.len() => &path[..=at],
        _ => "",
    };
    if dir.is_empty() {
        format!("{origin}/{location}")
    } else {
        format!("{dir}{location}")
    }
}

/// A URL without its query: signed blob-storage URLs carry credentials
/// there, which no log line may show.
pub fn strip_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// The host of `HOST[:PORT]` (`[::1]:5000` -> `::1`).
pub fn host_name(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => authority,
    }
}

/// `localhost`, `127.0.0.0/8` or `::1`.
pub fn is_loopback(name: &str) -> bool {
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match name.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => false,
    }
}

fn debug_line(
    method: &str,
    url: &str,
    sent: &Result<Response<Body>, ureq::Error>,
    started: Instant,
) {
    log::debug(LOGGER, || {
        let outcome = match sent {
            Ok(r) => r.status().as_u16().to_string(),
            Err(e) => format!("failed ({})", describe_transport_error(e)),
        };
        format!(
            "{method} {} {outcome} {} ms",
            strip_query(url),
            log::millis(started)
        )
    });
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_against_the_request() {
        let base = "http://127.0.0.1:5000/v2/x/blobs/sha256:ab?x=1";
        assert_eq!(
            resolve_location(base, "https://cdn.example/b?sig=s"),
            "https://cdn.example/b?sig=s"
        );
        assert_eq!(
            resolve_location(base, "//cdn.example/b"),
            "http://cdn.example/b"
        );
        assert_eq!(
            resolve_location(base, "/other/path"),
            "http://127.0.0.1:5000/other/path"
        );
        assert_eq!(
            resolve_location(base, "sibling"),
            "http://127.0.0.1:5000/v2/x/blobs/sibling"
        );
        assert_eq!(origin_of(base).unwrap(), "http://127.0.0.1:5000");
        assert_eq!(strip_query("https://cdn/b?sig=secret"), "https://cdn/b");
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for (authority, loopback) in [
            ("localhost:5000", true),
            ("127.0.0.1:5000", true),
            ("127.9.9.9", true),
            ("[::1]:5000", true),
            ("LOCALHOST", true),
            ("10.0.0.1:5000", false),
            ("registry.example", false),
            ("localhost.example:5000", false),
        ] {
            assert_eq!(is_loopback(host_name(authority)), loopback, "{authority}");
        }
        let client = Client::new(
            PullOptions {
                insecure_registries: vec!["reg.example:5000".into(), "other.example".into()],
                ..PullOptions::default()
            },
            Arc::new(crate::net::SystemClock),
        );
        assert!(client.plain_http_allowed("reg.example:5000"));
        assert!(!client.plain_http_allowed("reg.example:5001"));
        assert!(client.plain_http_allowed("other.example:443"));
        assert!(client.plain_http_allowed("127.0.0.1:1"));
        assert!(!client.plain_http_allowed("example.com"));
    }

    /// A one-request-per-connection HTTP server answering `answers` in
    /// turn; returns its `host:port` and the requests' heads.
    fn serve(answers: Vec<String>) -> (String, Arc<Mutex<Vec<String>>>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for answer in answers {
                let (mut conn, _) = listener.accept().unwrap();
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).into_owned());
                let _ = conn.write_all(answer.as_bytes());
            }
        });
        (address, seen)
    }

    fn answer(status: &str, headers: &[&str], body: &str) -> String {
        let mut out = format!(
            "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for h in headers {
            out.push_str(h);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        out.push_str(body);
        out
    }

    fn repo_at(
        client: &Client,
        address: &str,
        challenge: Challenge,
        credential: Option<Credential>,
    ) -> Repo {
        Repo {
            host: Arc::new(Host {
                registry: address.to_string(),
                base: format!("http://{address}"),
                agent: client.agent_for(address).unwrap(),
                challenge,
                credential,
            }),
            repository: "kd/x".into(),
            token: Mutex::new(None),
        }
    }

    #[test]
    fn retry_after_is_obeyed_and_bounded() {
        let clock = Arc::new(crate::net::testing::FakeClock::new());
        let options = PullOptions {
            retries: 3,
            max_retry_after: Some(Duration::from_secs(30)),
            ..PullOptions::default()
        };
        let client = Client::new(options, clock.clone());
        let (address, seen) = serve(vec![
            answer("429 Too Many Requests", &["Retry-After: 7"], ""),
            answer("429 Too Many Requests", &["Retry-After: 100"], ""),
            answer("200 OK", &[], "ok"),
        ]);
        let repo = repo_at(&client, &address, Challenge::None, None);
        let response = client.get(&repo, "/v2/", None, None, "the test").unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(
            clock.sleeps(),
            [Duration::from_secs(7), Duration::from_secs(30)]
        );
        assert_eq!(seen.lock().unwrap().len(), 3);
    }

    #[test]
    fn server_errors_are_retried_then_reported() {
        let clock = Arc::new(crate::net::testing::FakeClock::new());
        let options = PullOptions {
            retries: 2,
            ..PullOptions::default()
        };
        let client = Client::new(options, clock.clone());
        let body = r#"{"errors": [{"code": "UNAVAILABLE", "message": "try later"}]}"#;
        let (address, seen) = serve(vec![answer("503 Service Unavailable", &[], body); 3]);
        let repo = repo_at(&client, &address, Challenge::None, None);
        let e = client
            .get(&repo, "/v2/kd/x/manifests/v1", None, None, "manifest v1")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("registry {address} answered 503 for manifest v1: UNAVAILABLE: try later")
        );
        assert_eq!(seen.lock().unwrap().len(), 3);
        let sleeps = clock.sleeps();
        assert_eq!(sleeps.len(), 2);
        assert!(
            sleeps[0] >= FIRST_BACKOFF && sleeps[1] >= FIRST_BACKOFF * 2,
            "{sleeps:?}"
        );
    }

    #[test]
    fn redirects_keep_the_credentials_at_home() {
        let client = Client::new(PullOptions::default(), Arc::new(crate::net::SystemClock));
        let (elsewhere, seen_elsewhere) = serve(vec![answer("200 OK", &[], "blob")]);
        let (home, seen_home) = serve(vec![answer(
            "307 Temporary Redirect",
            &[&format!("Location: http://{elsewhere}/b?sig=1")],
            "",
        )]);
        let credential = Credential::Basic {
            user: "u".into(),
            password: "p".into(),
        };
        let repo = repo_at(&client, &home, Challenge::Basic, Some(credential));
        let response = client
            .get(&repo, "/v2/kd/x/blobs/b", None, None, "blob b")
            .unwrap();
        assert_eq!(response.into_body().read_to_string().unwrap(), "blob");
        let home_head = seen_home.lock().unwrap()[0].to_ascii_lowercase();
        assert!(home_head.contains("authorization: basic "), "{home_head}");
        let other_head = seen_elsewhere.lock().unwrap()[0].to_ascii_lowercase();
        assert!(other_head.starts_with("get /b?sig=1 "), "{other_head}");
        assert!(!other_head.contains("authorization"), "{other_head}");
    }

    #[test]
    fn an_expired_token_is_renewed_once() {
        let client = Client::new(PullOptions::default(), Arc::new(crate::net::SystemClock));
        let unauthorized = answer(
            "401 Unauthorized",
            &[],
            r#"{"errors": [{"code": "UNAUTHORIZED", "message": "token expired"}]}"#,
        );
        let (address, seen) = serve(vec![
            answer("200 OK", &[], r#"{"token": "t1"}"#),
            unauthorized.clone(),
            answer("200 OK", &[], r#"{"access_token": "t2"}"#),
            answer("200 OK", &[], "manifest"),
            unauthorized.clone(),
            answer("200 OK", &[], r#"{"token": "t3"}"#),
            unauthorized,
        ]);
        let challenge = Challenge::Bearer {
            realm: format!("http://{address}/token"),
            service: Some("svc".into()),
        };
        let repo = repo_at(&client, &address, challenge, None);
        let response = client
            .get(&repo, "/v2/kd/x/manifests/v1", None, None, "m")
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let e = client
            .get(&repo, "/v2/kd/x/manifests/v1", None, None, "m")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("registry {address} refused access to kd/x: UNAUTHORIZED: token expired")
        );
        let seen = seen.lock().unwrap();
        let lines: Vec<&str> = seen.iter().map(|h| h.lines().next().unwrap()).collect();
        assert_eq!(
            lines,
            [
                "GET /token?scope=repository%3Akd%2Fx%3Apull&service=svc HTTP/1.1",
                "GET /v2/kd/x/manifests/v1 HTTP/1.1",
                "GET /token?scope=repository%3Akd%2Fx%3Apull&service=svc HTTP/1.1",
                "GET /v2/kd/x/manifests/v1 HTTP/1.1",
                "GET /v2/kd/x/manifests/v1 HTTP/1.1",
                "GET /token?scope=repository%3Akd%2Fx%3Apull&service=svc HTTP/1.1",
                "GET /v2/kd/x/manifests/v1 HTTP/1.1",
            ]
        );
        assert!(seen[1]
            .to_ascii_lowercase()
            .contains("authorization: bearer t1"));
        assert!(seen[3]
            .to_ascii_lowercase()
            .contains("authorization: bearer t2"));
        assert!(!seen[0].to_ascii_lowercase().contains("authorization"));
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:01:01 GMT"), Some(61));
        assert_eq!(
            parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(1_445_412_480)
        );
    }
}
