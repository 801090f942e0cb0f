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
//! INTERFACE STUB: the types below are the contract between the registry
//! client and the pipeline step; the bodies are filled in by the registry
//! client's work.

use std::fmt;
use std::io::Read;

pub use crate::reference::Reference;

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
    /// The config blob, already checked against `config.digest`.
    pub config: Vec<u8>,
    pub config_descriptor: Descriptor,
    /// The layers, in manifest order (base first).
    pub layers: Vec<Descriptor>,
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
    /// Placeholder until the client lands; replaced by precise variants.
    Other(String),
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Other(text) => write!(f, "{text}"),
        }
    }
}

impl std::error::Error for RegistryError {}

/// How to reach registries: retries, `--insecure-registry` hosts.
#[derive(Clone, Debug, Default)]
pub struct PullOptions {
    /// Retries for each request (`--retries`).
    pub retries: u32,
    /// Hosts (`HOST[:PORT]`) that may be reached over plain HTTP besides
    /// loopback ones.
    pub insecure_registries: Vec<String>,
}

/// A client for the registries images are pulled from.
pub struct Registry {
    _options: PullOptions,
}

impl Registry {
    /// A client; credentials are read as the docker CLI reads them.
    pub fn new(options: PullOptions) -> Result<Registry, RegistryError> {
        Ok(Registry { _options: options })
    }

    /// The image `reference` names, for `platform` when it names an index.
    /// Two small requests (manifest, config); no layer is downloaded.
    pub fn resolve(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<Resolved, RegistryError> {
        let _ = platform;
        Err(RegistryError::Other(format!(
            "pulling {reference} from a registry is not implemented yet"
        )))
    }
}

impl BlobSource for Registry {
    fn open_blob(&self, blob: &Descriptor) -> Result<Box<dyn Read + Send>, RegistryError> {
        Err(RegistryError::Other(format!(
            "reading blob {} is not implemented yet",
            blob.digest
        )))
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
