//! Pulling images from a registry (Docker Registry HTTP API v2 / OCI
//! distribution) with no Docker daemon and no temporary file.
//!
//! ```text
//! Reference::parse("ubuntu:24.04")         docker.io/library/ubuntu:24.04
//!   -> Registry::resolve(&reference, &platform)
//!        ping /v2/, auth (Bearer token or Basic, credentials as docker finds them),
//!        manifest (index -> one platform), config blob (checked against its digest)
//!   -> Resolved { image id (= config digest), config bytes, layers }
//!   -> BlobSource::open_blob(layer): a reader over the blob's bytes, checked
//!      against the descriptor's size and digest while it streams
//! ```
//!
//! The pipeline (`pipeline::registry`) turns a `Resolved` and its blobs into
//! the archive `docker save` would write, straight into Keep.
//!
//! Files: `auth.rs` (challenges and credentials), `client.rs` (hosts,
//! requests, retries, redirects, tokens), `manifest.rs` (media types,
//! manifests, platform choice), `blob.rs` (the checked, resuming blob
//! reader).

mod auth;
mod blob;
mod client;
mod manifest;

use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

pub use crate::reference::Reference;
use crate::settings::Env;

/// The logger of the registry client's DEBUG lines.
pub const LOGGER: &str = "arvados.keepdocker.registry";

/// Docker's directory of per-registry CA certificates.
pub const DOCKER_CERTS_DIR: &str = "/etc/docker/certs.d";

/// An OS/architecture pair an index is resolved to (`linux/amd64`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// A blob named by a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    /// `sha256:<hex>`
    pub digest: String,
    pub size: u64,
}

/// How a layer blob is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// A manifest resolved to one image: what the pipeline needs before it
/// moves a byte of layer data.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub reference: Reference,
    /// Digest of the image manifest (not of the index it was chosen from).
    pub manifest_digest: String,
    /// Digest of the index the manifest was chosen from, if the reference
    /// named one: what Docker 29's containerd image store calls the image
    /// after `docker pull`.
    pub index_digest: Option<String>,
    /// The config blob, already checked against `config.digest`.
    pub config: Vec<u8>,
    pub config_descriptor: Descriptor,
    /// The layers, in manifest order (base first).
    pub layers: Vec<Descriptor>,
}

impl Resolved {
    /// The digest Docker's containerd image store calls the pulled image:
    /// the index's when the reference named one, else the manifest's.
    pub fn store_digest(&self) -> &str {
        self.index_digest
            .as_deref()
            .unwrap_or(&self.manifest_digest)
    }

    /// The image id: the config digest, as `docker load` reports it.
    pub fn image_id(&self) -> &str {
        &self.config_descriptor.digest
    }
}

/// Opens blobs of one repository. Implemented by the registry client, and
/// by test doubles that serve blobs from memory or a directory.
pub trait BlobSource: Sync {
    /// A reader over the blob's bytes exactly as stored in the registry.
    /// It returns an error (never a short, clean end) when the bytes read
    /// do not match `blob.size` and `blob.digest`.
    fn open_blob(&self, blob: &Descriptor) -> Result<Box<dyn Read + Send>, RegistryError>;
}

/// Everything that can go wrong talking to a registry. One line each,
/// naming the registry, repository or blob concerned.
#[derive(Debug)]
pub enum RegistryError {
    /// No connection could be made (after the retries).
    Unreachable { registry: String, problem: String },
    /// TLS failed: most often a certificate that does not verify.
    Tls { registry: String, problem: String },
    /// A plain-HTTP URL for a host that is neither loopback nor an
    /// `--insecure-registry` one (a registry, a redirect, a token realm).
    PlainHttp { registry: String, host: String },
    /// config.json or a credential helper failed.
    Credentials { registry: String, problem: String },
    /// The registry wants a login and there are no credentials for it.
    AuthRequired {
        registry: String,
        repository: String,
    },
    /// The registry (or its token server) refused the credentials.
    AuthRefused {
        registry: String,
        repository: String,
        user: Option<String>,
        detail: String,
    },
    /// No manifest (or no repository) of that name.
    ManifestUnknown { reference: String, detail: String },
    /// A blob the manifest names is not in the registry.
    BlobUnknown {
        registry: String,
        repository: String,
        digest: String,
    },
    /// Bytes whose sha256 is not the one expected (`what` names them).
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    /// More or fewer bytes than the descriptor says.
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    /// A blob's connection was cut and could not be resumed.
    Cut {
        what: String,
        at: u64,
        size: u64,
        problem: String,
    },
    /// A schema 1 manifest.
    Schema1 { reference: String },
    /// A manifest we cannot read.
    BadManifest { reference: String, problem: String },
    /// An index with no image for the platform asked for.
    PlatformNotOffered {
        reference: String,
        wanted: String,
        offered: Vec<String>,
    },
    /// 429 after every retry.
    TooManyRequests { registry: String, what: String },
    /// Any other answer we cannot use.
    Server {
        registry: String,
        what: String,
        status: u16,
        message: String,
    },
    /// For `BlobSource` implementations other than the registry client
    /// (test doubles).
    Other(String),
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use RegistryError::*;
        match self {
            Unreachable { registry, problem } => {
                write!(f, "cannot reach registry {registry}: {problem}")
            }
            Tls { registry, problem } => write!(
                f,
                "TLS failure talking to registry {registry}: {problem} (is its CA certificate in \
                 SSL_CERT_FILE or {DOCKER_CERTS_DIR}/{registry}/ca.crt?)"
            ),
            PlainHttp { registry, host } => write!(
                f,
                "registry {registry}: refusing plain HTTP to {host}: only loopback hosts and \
                 hosts given with --insecure-registry may be reached without TLS"
            ),
            Credentials { registry, problem } => {
                write!(
                    f,
                    "cannot get the credentials for registry {registry}: {problem}"
                )
            }
            AuthRequired {
                registry,
                repository,
            } => write!(
                f,
                "registry {registry} requires a login to pull {repository}, and no credentials \
                 for it were found (run `docker login {registry}`, or check DOCKER_CONFIG)"
            ),
            AuthRefused {
                registry,
                repository,
                user,
                detail,
            } => {
                match user {
                    Some(user) => write!(
                        f,
                        "registry {registry} refused the credentials of user {user:?} for {repository}"
                    )?,
                    None => write!(f, "registry {registry} refused access to {repository}")?,
                }
                if !detail.is_empty() {
                    write!(f, ": {detail}")?;
                }
                Ok(())
            }
            ManifestUnknown { reference, detail } => {
                write!(f, "{reference}: no such image in the registry")?;
                if !detail.is_empty() {
                    write!(f, " ({detail})")?;
                }
                Ok(())
            }
            BlobUnknown {
                registry,
                repository,
                digest,
            } => write!(
                f,
                "registry {registry} has no blob {digest} in {repository} (the manifest names it)"
            ),
            DigestMismatch {
                what,
                expected,
                actual,
            } => write!(
                f,
                "{what}: the bytes received have digest {actual}, expected {expected}"
            ),
            SizeMismatch {
                what,
                expected,
                actual,
            } => write!(
                f,
                "{what}: the registry sent {actual} bytes, expected {expected}"
            ),
            Cut {
                what,
                at,
                size,
                problem,
            } => write!(
                f,
                "{what}: the transfer stopped after {at} of {size} bytes and could not be \
                 resumed: {problem}"
            ),
            Schema1 { reference } => write!(
                f,
                "{reference} is a schema 1 manifest, which is not supported (Docker no longer \
                 pulls them either): push the image again with a current tool"
            ),
            BadManifest { reference, problem } => {
                write!(f, "{reference}: unusable manifest: {problem}")
            }
            PlatformNotOffered {
                reference,
                wanted,
                offered,
            } => write!(
                f,
                "{reference} has no image for platform {wanted}; it offers {} (choose one with \
                 --platform)",
                if offered.is_empty() {
                    "none".to_string()
                } else {
                    offered.join(", ")
                }
            ),
            TooManyRequests { registry, what } => write!(
                f,
                "registry {registry} still answered 429 Too Many Requests for {what} after \
                 every retry: try again later"
            ),
            Server {
                registry,
                what,
                status,
                message,
            } => {
                write!(f, "registry {registry} answered {status} for {what}")?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            Other(text) => write!(f, "{text}"),
        }
    }
}

impl std::error::Error for RegistryError {}

impl RegistryError {
    /// The registry error a blob reader's I/O error carries (a blob reader
    /// reports a digest or size mismatch, or a cut it could not resume, as
    /// an `io::Error` wrapping one); other I/O errors become `Other`.
    pub fn from_io(e: std::io::Error) -> RegistryError {
        blob::unwrap_error(e)
    }
}

/// How to reach registries: retries, `--insecure-registry` hosts, TLS
/// roots and where credentials are.
#[derive(Clone, Debug, Default)]
pub struct PullOptions {
    /// Retries for each request (`--retries`), and resumes of each blob.
    pub retries: u32,
    /// Hosts (`HOST[:PORT]`) that may be reached over plain HTTP besides
    /// loopback ones.
    pub insecure_registries: Vec<String>,
    /// The directory of the docker CLI's `config.json` (`$DOCKER_CONFIG`,
    /// else `~/.docker`); `None`: no credentials.
    pub docker_config: Option<PathBuf>,
    /// The CA bundle to verify registries against (`SSL_CERT_FILE`, else
    /// the system bundle); `None`: the built-in Mozilla roots.
    pub ca_file: Option<PathBuf>,
    /// Docker's per-registry CA directory: every `*.crt` in
    /// `DIR/HOST[:PORT]/` is trusted too for that registry. `None`: none.
    pub certs_dir: Option<PathBuf>,
    /// The longest `Retry-After` obeyed (a longer one is cut to this);
    /// `None`: 60 s.
    pub max_retry_after: Option<std::time::Duration>,
}

impl PullOptions {
    /// The options the environment gives, as the docker CLI reads it:
    /// `DOCKER_CONFIG` (else `$HOME/.docker`), `SSL_CERT_FILE` (else the
    /// system bundle), and `/etc/docker/certs.d`.
    pub fn from_env(env: &Env, retries: u32, insecure_registries: Vec<String>) -> PullOptions {
        let docker_config = env
            .get("DOCKER_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                env.get("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|home| PathBuf::from(home).join(".docker"))
            });
        PullOptions {
            retries,
            insecure_registries,
            docker_config,
            ca_file: crate::settings::ca_bundle_path(env),
            certs_dir: Some(PathBuf::from(DOCKER_CERTS_DIR)),
            max_retry_after: None,
        }
    }
}

/// A client for the registries images are pulled from. Blobs
/// ([`BlobSource::open_blob`]) are read from the repository of the last
/// [`Registry::resolve`].
pub struct Registry {
    client: Arc<client::Client>,
}

impl Registry {
    /// A client; credentials are read as the docker CLI reads them.
    pub fn new(options: PullOptions) -> Result<Registry, RegistryError> {
        Ok(Registry {
            client: Arc::new(client::Client::new(
                options,
                Arc::new(crate::net::SystemClock),
            )),
        })
    }

    /// The image `reference` names, for `platform` when it names an index.
    /// Two small requests (manifest, config); no layer is downloaded.
    pub fn resolve(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<Resolved, RegistryError> {
        client::resolve(&self.client, reference, platform)
    }
}

impl BlobSource for Registry {
    fn open_blob(&self, blob: &Descriptor) -> Result<Box<dyn Read + Send>, RegistryError> {
        let repo = self.client.current_repository().ok_or_else(|| {
            RegistryError::Other(format!(
                "blob {} asked for before any image was resolved",
                blob.digest
            ))
        })?;
        Ok(Box::new(blob::BlobReader::open(
            self.client.clone(),
            repo,
            blob.clone(),
        )?))
    }
}

impl Platform {
    /// What Arvados compute nodes run.
    pub fn default_target() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }

    /// `OS/ARCH[/VARIANT]` (`--platform`); the error says what is wrong.
    pub fn parse(text: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = text.split('/').collect();
        let ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        };
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(variant.to_string()),
            }),
            _ => Err(format!(
                "invalid platform {text:?}: expected OS/ARCH or OS/ARCH/VARIANT in lower case \
                 (linux/amd64, linux/arm64/v8)"
            )),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl Compression {
    /// The compression a layer media type names.
    pub fn of_media_type(media_type: &str) -> Compression {
        if media_type.ends_with("+zstd") || media_type.ends_with(".zstd") {
            Compression::Zstd
        } else if media_type.ends_with("gzip") || media_type.ends_with("+gzip") {
            Compression::Gzip
        } else {
            Compression::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_print() {
        for text in ["linux/amd64", "linux/arm64/v8", "windows/amd64"] {
            assert_eq!(Platform::parse(text).unwrap().to_string(), text);
        }
        for bad in [
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v8/x",
            "Linux/amd64",
            "",
        ] {
            assert!(
                Platform::parse(bad).unwrap_err().contains("OS/ARCH"),
                "{bad}"
            );
        }
    }

    #[test]
    fn options_come_from_the_environment_as_docker_reads_it() {
        let env = Env::from_pairs([("HOME", "/home/u")]);
        let o = PullOptions::from_env(&env, 3, vec!["reg:5000".into()]);
        assert_eq!(o.docker_config, Some(PathBuf::from("/home/u/.docker")));
        assert_eq!(o.certs_dir, Some(PathBuf::from(DOCKER_CERTS_DIR)));
        assert_eq!(o.retries, 3);
        let env = Env::from_pairs([("HOME", "/home/u"), ("DOCKER_CONFIG", "/cfg")]);
        assert_eq!(
            PullOptions::from_env(&env, 0, vec![]).docker_config,
            Some(PathBuf::from("/cfg"))
        );
    }

    #[test]
    fn registry_errors_come_back_out_of_io_errors() {
        let e = std::io::Error::other(RegistryError::SizeMismatch {
            what: "blob b".into(),
            expected: 2,
            actual: 1,
        });
        assert!(matches!(
            RegistryError::from_io(e),
            RegistryError::SizeMismatch {
                expected: 2,
                actual: 1,
                ..
            }
        ));
        let e = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(matches!(RegistryError::from_io(e), RegistryError::Other(_)));
    }

    #[test]
    fn every_error_is_one_line() {
        let errors = [
            RegistryError::PlatformNotOffered {
                reference: "r".into(),
                wanted: "linux/s390x".into(),
                offered: vec!["linux/amd64".into(), "linux/arm64".into()],
            },
            RegistryError::AuthRefused {
                registry: "reg".into(),
                repository: "x".into(),
                user: Some("me".into()),
                detail: "bad".into(),
            },
            RegistryError::Schema1 {
                reference: "r".into(),
            },
        ];
        for e in errors {
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }
}
