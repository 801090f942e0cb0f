//! Phase 1 for an image pulled from a registry (`--source=docker://REF`):
//! the archive `docker pull` then `docker save` would give, written
//! straight into Keep, with no Docker daemon and no temporary file.
//!
//! ```text
//! resolved (manifest digest, config, layer blobs: two small requests)
//!   -> image id = config digest -> format check -> lock
//!   -> already in Arvados? reuse it or copy it (no blob is pulled)
//!   -> else each layer: found in a readable image collection's layer index?
//!      list its blocks from there; else pull, gunzip, check against its
//!      diff_id, into Keep blocks of its own (up to three at once); the tar
//!      headers between the layers in small blocks, listed before each
//!      layer -> create the collection, recording the layer index
//! ```
//!
//! # The archive: Docker 25's `docker save` layout
//!
//! The file is the OCI layout `docker save` writes since Docker 25
//! (`oci-layout`, `index.json`, `blobs/sha256/<hex>`, and the classic
//! `manifest.json` beside them), with every layer uncompressed and named by
//! its `diff_id`, the digest of its content. Why this one:
//!
//! - A layer is named by what it holds, whatever it came from: a layer
//!   pulled from a registry and the same layer saved by a Docker 25+ daemon
//!   are the same bytes at the same path, which the layer reuse across
//!   images and sources builds on. (The classic layout names a layer
//!   directory by a v1 id that chains every layer below it.)
//! - Everything that reads image collections reads it. `docker load` reads
//!   only `manifest.json` (Config, RepoTags, Layers) and checks each layer
//!   against the config's `diff_ids`: Docker 20.10 (what Arvados compute
//!   nodes run) loads it as it loads a Docker 25 save; the containerd image
//!   store prefers `index.json`. Singularity reads it through
//!   containers/image's `docker-archive:` reader, which also goes by
//!   `manifest.json`. Arvados itself only needs the one
//!   `sha256:<image id>.tar` file.
//! - Layers are uncompressed because that is what loading needs: compute
//!   nodes `docker load` the file at every container start (no gunzip each
//!   time), containers/image would decompress a compressed layer twice, and
//!   the dispatchers size a container's scratch space from the number of
//!   64 MiB blocks of the image collection, which compressed layers would
//!   understate. `--compressed-layers` keeps the blobs as pulled instead
//!   (named by their blob digest, still checked against their `diff_id`);
//!   zstd layers are always kept as pulled (no zstd decoder here), with a
//!   warning, and only their blob digest is checked.
//!
//! # The Keep blocks
//!
//! Each layer's content starts a new Keep block, so the same layer is the
//! same blocks in every image, and a later pull of another image holding
//! it lists those blocks instead of pulling it (the layer index,
//! [`super::layers`]). A tar header needs the member's size, which for a
//! decompressed layer is known only at its end; a Keep manifest lists
//! blocks in file order whatever order they were written in, so each
//! layer's header (with the padding of the member before it) is written in
//! a small block after the layer and listed before it:
//!
//! ```text
//! written:  L0 L1 ... Ln-1 (up to three at once)  H0 H1 ... Hn-1 T
//! listed:   H0  L0  H1  L1 ... Hn-1  Ln-1  T
//! H0 = directories + config + header of L0   Hk = padding of Lk-1 + header of Lk
//! T  = padding of Ln-1 + OCI manifest, index.json, manifest.json, oci-layout, end of archive
//! ```
//!
//! The layers are independent runs of blocks, so up to three are pulled,
//! decompressed, hashed and written at once; they share the upload's few
//! 64 MiB buffers, so memory does not grow with them. The small pieces
//! come last, once every size is known.
//!
//! # Small layers are packed
//!
//! A layer whose blob is under 1 MiB is not given blocks of its own: its
//! bytes go, with its header, into the small block between the layers
//! around it (a blob that turns out to decompress to more than 8 MiB still
//! streams into blocks of its own). The trade, per small layer:
//!
//! - aligned, it costs two more locators (its own block, and the block
//!   that splits the headers around it) and two more PUTs. Arvados'
//!   dispatchers estimate an image's size as 64 MiB per locator of its
//!   manifest and count it twice in a container's scratch space, so each
//!   small aligned layer adds 256 MiB to every container's scratch request
//!   (an image of ten 100 KiB layers would ask for 2.6 GiB more than its
//!   legacy upload, which has one locator);
//! - what reusing it saves is at most 1 MiB per replica, against one
//!   listing request and one block read to check it: about what sending it
//!   again costs.
//!
//! Small layers are what changes between builds (configuration, a script,
//! an `ENV`), so they are also the ones least often shared. Packed, they
//! are not whole blocks, so the index leaves them out; every layer is
//! still looked up first, so a layer another collection holds as blocks of
//! its own is taken from there whatever its size.
//!
//! Everything is deterministic (mtime 0, sorted JSON keys), so pulling the
//! same image under the same name twice gives the same portable data hash.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::collection::{self, Ensured, ImageFacts};
use super::format;
use super::layers::{self, FoundLayer, LayerIndex, LayerSpan};
use super::session::{Plan, Session};
use crate::arvados::manifest::hex;
use crate::arvados::upload::{Event, Piece, Uploaded};
use crate::error::{Error, Result};
use crate::log;
use crate::progress::{Reporter, Total};
use crate::reference::Reference;
use crate::registry::{BlobSource, Compression, Descriptor, Resolved};
use crate::request::{parse_target, RepoTag};

/// Collection property recording where a pulled image came from: the
/// reference as given, pinned to the manifest pulled
/// (`docker.io/library/ubuntu:24.04@sha256:<manifest digest>`), a name
/// `docker pull` accepts to get the same image again.
pub const PULLED_FROM: &str = "docker-image-pulled-from";

/// Media types of the OCI layout written.
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// Layers pulled at once. Each lane holds a download, a decompressor and
/// at most one 64 MiB block buffer of the upload's shared few, so memory
/// stays bounded; three keep two cores and the Keep writers busy.
const LANES: usize = 3;

/// Layers whose blob is smaller than this are packed with the tar headers
/// around them instead of given blocks of their own (see the module doc).
const PACK_BELOW: u64 = 1 << 20;

/// The most bytes of a packed layer held in memory: one whose blob is
/// small but decompresses to more streams into blocks of its own.
const PACKED_MAX: usize = 8 << 20;

/// Tar blocks are 512 bytes; an archive ends with two zero blocks.
const TAR_BLOCK: u64 = 512;

/// What the registry step is given: the resolved image, where its blobs
/// come from, and how to store them.
pub struct Pull<'a> {
    pub resolved: &'a Resolved,
    pub blobs: &'a dyn BlobSource,
    /// `--compressed-layers`: store the layer blobs as pulled.
    pub compressed_layers: bool,
}

/// Phase 1 for a pulled image: reuse it if Arvados has it (no blob is
/// pulled), else stream the archive into Keep and create the collection.
/// `given` is the positional `REPO[:TAG]`; without it the image is named
/// as `docker pull` names it locally, or by id only (a by-digest pull).
pub fn ensure_from_registry(
    cx: &Session,
    plan: &Plan,
    pull: Pull<'_>,
    given: Option<&RepoTag>,
) -> Result<Ensured> {
    let resolved = pull.resolved;
    let reference = resolved.reference.to_string();
    let config = ImageConfig::read(resolved).map_err(|problem| Error::Registry {
        reference: reference.clone(),
        problem,
    })?;
    let formats = cx.discovery.docker_image_formats.as_deref();
    format::ensure_supported(&config.id, formats, plan.force_image_format)?;
    cx.lock(&config.id)?;
    let facts = ImageFacts {
        id: config.id.clone(),
        repo_tag: stored_name(given, &resolved.reference),
        created: config.created.clone(),
    };
    if let Some(ensured) = collection::reuse_if_present(cx, plan, &facts)? {
        return Ok(ensured);
    }
    let names = Names {
        name: facts.repo_tag.as_ref(),
        full_name: full_name(given, &resolved.reference),
    };
    let layout =
        Layout::new(resolved, &config, names, pull.compressed_layers).map_err(|problem| {
            Error::Registry {
                reference: reference.clone(),
                problem,
            }
        })?;
    for warning in &layout.warnings {
        log::warning(&format!("{reference}: {warning}"));
    }
    let (uploaded, index) = match upload(cx, plan, &layout, pull.blobs, true)? {
        (uploaded, index) if uploaded.reused == 0 => (uploaded, index),
        // A reused layer's blocks are named by signatures the API server
        // has just given; should it still refuse them (they expired in
        // between, the collection was trashed and its blocks are gone),
        // the image is made again from the registry alone.
        (uploaded, index) => match create(cx, plan, resolved, &facts, &uploaded, &index) {
            Err(Error::Api {
                status, message, ..
            }) if (400..500).contains(&status) => {
                log::warning(&format!(
                    "{reference}: the API server refused the collection reusing layers \
                     already in Keep ({status}: {message}); pulling and uploading every \
                     layer instead"
                ));
                upload(cx, plan, &layout, pull.blobs, false)?
            }
            done => return done,
        },
    };
    create(cx, plan, resolved, &facts, &uploaded, &index)
}

/// Creates the collection of an uploaded pull, with its properties: the
/// containerd store's digest, the provenance and the layer index.
fn create(
    cx: &Session,
    plan: &Plan,
    resolved: &Resolved,
    facts: &ImageFacts,
    uploaded: &Uploaded,
    index: &LayerIndex,
) -> Result<Ensured> {
    let mut properties = serde_json::Map::new();
    // What Docker 29's containerd store would call the image after
    // `docker pull REF` (the index's digest for a multi-platform
    // reference), as a daemon upload from that store records it.
    properties.insert(
        collection::MANIFEST_DIGEST.into(),
        Value::String(resolved.store_digest().to_string()),
    );
    properties.insert(PULLED_FROM.into(), Value::String(pulled_from(resolved)));
    properties.extend(index.properties());
    let mut ensured = collection::create_fresh_with(cx, uploaded, facts.clone(), plan, properties)?;
    ensured.bytes_uploaded = uploaded.size - uploaded.reused;
    ensured.bytes_reused = uploaded.reused;
    Ok(ensured)
}

/// The name the image is stored under: the one given, else the one
/// `docker pull` gives it locally; `None` (by id only) for a by-digest
/// reference.
pub fn stored_name(given: Option<&RepoTag>, reference: &Reference) -> Option<RepoTag> {
    if let Some(name) = given {
        return Some(name.clone());
    }
    let local = reference.local_name()?;
    parse_target(&local, None).ok()
}

/// The [`PULLED_FROM`] value: the reference, pinned to the manifest.
pub fn pulled_from(resolved: &Resolved) -> String {
    let r = &resolved.reference;
    let mut text = format!("{}/{}", r.registry, r.repository);
    if let Some(tag) = &r.tag {
        text.push(':');
        text.push_str(tag);
    }
    text.push('@');
    text.push_str(&resolved.manifest_digest);
    text
}

/// Streams the archive into Keep, piece by piece, taking each layer an
/// image collection already holds from there when `reuse` is set (see
/// [`super::layers`]). Returns what was written and the layer index of
/// the file. Progress counts the bytes pulled from the registry (a reused
/// layer counts as pulled) against the sum of the blob sizes (the one
/// total known exactly before the layers are decompressed).
fn upload(
    cx: &Session,
    plan: &Plan,
    layout: &Layout,
    blobs: &dyn BlobSource,
    reuse: bool,
) -> Result<(Uploaded, LayerIndex)> {
    let keep = cx.keep()?;
    let pulled = Arc::new(AtomicU64::new(0));
    let mut reporter = Reporter::new(plan.progress, Total::Exact(layout.pull_size()));
    log::set_request_id(keep.current_request_id());
    reporter.update(0, 0);
    let api = &cx.api;
    let finder =
        move |digest: &str| match layers::find_layer(api, keep, digest, layers::Reading::Blind) {
            Ok(found) => found,
            Err(e) => {
                log::debug(log::KEEPDOCKER, || {
                    format!("layer {digest}: the lookup failed, so it is pulled: {e}")
                });
                None
            }
        };
    let mut pieces = Pieces::new(layout, blobs, pulled.clone());
    if reuse {
        pieces.finder = Some(&finder);
    }
    let lanes = LANES.min(layout.files.len());
    let result =
        keep.upload_pieces_parallel(pieces.layers(), pieces.small(), lanes, None, &mut |event| {
            match event {
                Event::Progress(_) => reporter.update(pulled.load(Ordering::Relaxed), 0),
                Event::Warning(text) => log::log(log::ARV_PUT, log::Level::Warning, &text),
                Event::Stored { .. } => {}
            }
        });
    reporter.finish(result.is_ok());
    let uploaded = result?;
    let sizes = pieces.sizes(layout.files.len())?;
    let index = LayerIndex::build(&uploaded.locators, &layout.spans(&sizes));
    Ok((uploaded, index))
}

/// What the pipeline reads in the image config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageConfig {
    /// `sha256:<hex>` of the config: the image id.
    pub id: String,
    pub diff_ids: Vec<String>,
    pub created: Option<String>,
}

impl ImageConfig {
    /// The config of `resolved`, checked against its digest; its
    /// `rootfs.diff_ids`, one per layer.
    pub fn read(resolved: &Resolved) -> std::result::Result<ImageConfig, String> {
        let id = format!("sha256:{}", hex(&Sha256::digest(&resolved.config)));
        if id != resolved.config_descriptor.digest {
            return Err(format!(
                "the image config is {id}, but the manifest names {}",
                resolved.config_descriptor.digest
            ));
        }
        let value: Value = serde_json::from_slice(&resolved.config)
            .map_err(|e| format!("the image config {id} is not JSON: {e}"))?;
        let diff_ids: Vec<String> = match value["rootfs"]["diff_ids"].as_array() {
            Some(list) => list
                .iter()
                .map(|d| d.as_str().map(String::from))
                .collect::<Option<_>>()
                .ok_or_else(|| format!("the image config {id} has a diff_id that is not text"))?,
            None => return Err(format!("the image config {id} has no rootfs.diff_ids")),
        };
        if let Some(bad) = diff_ids.iter().find(|d| !is_sha256(d)) {
            return Err(format!(
                "the image config {id} has a diff_id that is not sha256:<64 hex>: {bad:?}"
            ));
        }
        if diff_ids.len() != resolved.layers.len() {
            return Err(format!(
                "the manifest lists {} layers but the image config {id} has {} diff_ids",
                resolved.layers.len(),
                diff_ids.len()
            ));
        }
        Ok(ImageConfig {
            id,
            diff_ids,
            created: value["created"].as_str().map(String::from),
        })
    }
}

/// `sha256:` and 64 lowercase hex digits: safe as a path in the archive.
fn is_sha256(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// How a layer is stored in the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// A gzip blob, decompressed: the layer as `docker save` writes it.
    Inflated,
    /// An uncompressed blob: the layer itself.
    Plain,
    /// The blob as pulled (`--compressed-layers`, or zstd).
    AsPulled(Compression),
}

/// One layer file of the archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerFile {
    /// The blob it is pulled from.
    pub blob: Descriptor,
    pub diff_id: String,
    pub stored: Stored,
    /// `blobs/sha256/<hex>`: the diff_id, or for a blob kept as pulled its
    /// digest.
    pub path: String,
    /// Its place in the manifest (1-based), for messages.
    pub number: usize,
}

impl LayerFile {
    /// The digest of the stored bytes, which names the file: the diff_id,
    /// or for a blob kept as pulled its digest. The layer index knows the
    /// file by it.
    pub fn digest(&self) -> &str {
        match self.stored {
            Stored::Inflated | Stored::Plain => &self.diff_id,
            Stored::AsPulled(_) => &self.blob.digest,
        }
    }

    /// The descriptor of the stored file in the OCI manifest, once its
    /// size is known.
    fn descriptor(&self, size: u64) -> Value {
        let (media_type, digest) = match self.stored {
            Stored::Inflated | Stored::Plain => (OCI_LAYER.to_string(), &self.diff_id),
            Stored::AsPulled(Compression::Gzip) => (format!("{OCI_LAYER}+gzip"), &self.blob.digest),
            Stored::AsPulled(Compression::Zstd) => (format!("{OCI_LAYER}+zstd"), &self.blob.digest),
            Stored::AsPulled(Compression::None) => (OCI_LAYER.to_string(), &self.blob.digest),
        };
        json!({"mediaType": media_type, "digest": digest, "size": size})
    }
}

/// The archive to write: its members, in file order, and the layer files
/// between them.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The full reference, for messages.
    pub reference: String,
    pub config: Vec<u8>,
    pub config_digest: String,
    /// Every layer file, stored once each (an image may list a layer
    /// twice: `manifest.json` then names the one file twice).
    pub files: Vec<LayerFile>,
    /// `manifest.json`'s Layers: the path of each layer, in manifest order.
    pub layer_paths: Vec<String>,
    /// `repo:tag`, the RepoTags entry and the index's names.
    pub name: Option<String>,
    /// The full name the containerd store gives it (`docker.io/library/x:1`).
    pub full_name: Option<String>,
    /// What to tell the user (zstd layers kept compressed).
    pub warnings: Vec<String>,
}

impl Layout {
    /// The layout of `resolved`'s archive, stored under `names`, its blobs
    /// kept as pulled with `compressed_layers`.
    pub fn new(
        resolved: &Resolved,
        config: &ImageConfig,
        names: Names<'_>,
        compressed_layers: bool,
    ) -> std::result::Result<Layout, String> {
        let mut files: Vec<LayerFile> = Vec::new();
        let mut layer_paths = Vec::new();
        let mut warnings = Vec::new();
        for (i, (blob, diff_id)) in resolved.layers.iter().zip(&config.diff_ids).enumerate() {
            if !is_sha256(&blob.digest) {
                return Err(format!(
                    "layer {} has a digest that is not sha256:<64 hex>: {:?}",
                    i + 1,
                    blob.digest
                ));
            }
            let compression = Compression::of_media_type(&blob.media_type);
            let stored = match compression {
                Compression::Zstd => {
                    warnings.push(format!(
                        "layer {} ({}) is zstd-compressed: stored as pulled (this tool has no \
                         zstd decoder), and checked against its blob digest only; Docker 23 or \
                         later loads it",
                        i + 1,
                        blob.digest
                    ));
                    Stored::AsPulled(Compression::Zstd)
                }
                c if compressed_layers => Stored::AsPulled(c),
                Compression::Gzip => Stored::Inflated,
                Compression::None => Stored::Plain,
            };
            let named_by = match stored {
                Stored::Inflated | Stored::Plain => diff_id,
                Stored::AsPulled(_) => &blob.digest,
            };
            let path = blob_path(named_by);
            layer_paths.push(path.clone());
            match files.iter().find(|f| f.path == path) {
                Some(f) if f.diff_id != *diff_id => {
                    return Err(format!(
                        "layers {} and {} are one blob ({}) with two diff_ids ({} and {})",
                        f.number,
                        i + 1,
                        blob.digest,
                        f.diff_id,
                        diff_id
                    ))
                }
                Some(_) => {}
                None => files.push(LayerFile {
                    blob: blob.clone(),
                    diff_id: diff_id.clone(),
                    stored,
                    path,
                    number: i + 1,
                }),
            }
        }
        let Names { name, full_name } = names;
        Ok(Layout {
            reference: resolved.reference.to_string(),
            config: resolved.config.clone(),
            config_digest: config.id.clone(),
            files,
            layer_paths,
            name: name.map(|n| n.to_string()),
            full_name,
            warnings,
        })
    }

    /// Bytes pulled from the registry: every layer blob stored.
    pub fn pull_size(&self) -> u64 {
        self.files.iter().map(|f| f.blob.size).sum()
    }

    /// The start of the archive: its two directories and the config.
    pub fn prefix(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&header("blobs/", 0, true));
        out.extend_from_slice(&header("blobs/sha256/", 0, true));
        member(&mut out, &blob_path(&self.config_digest), &self.config);
        out
    }

    /// The small piece listed before layer file `k`: the prefix (before the
    /// first), else the padding of the layer file before it; then its
    /// header. `sizes` are the sizes of layer files `0..=k`.
    pub fn before(&self, k: usize, sizes: &[u64]) -> Vec<u8> {
        let mut out = match k {
            0 => self.prefix(),
            _ => vec![0; padding(sizes[k - 1])],
        };
        out.extend_from_slice(&header(&self.files[k].path, sizes[k], false));
        out
    }

    /// Where each layer file's content lies in the archive, once their
    /// sizes are known: after the small piece listed before it. Each is
    /// named by the digest its path names (the diff_id, or the blob digest
    /// of a blob kept as pulled).
    pub fn spans(&self, sizes: &[u64]) -> Vec<LayerSpan> {
        let mut at = 0u64;
        let mut spans = Vec::new();
        for (k, file) in self.files.iter().enumerate() {
            at += self.before(k, sizes).len() as u64;
            spans.push(LayerSpan {
                digest: file.digest().to_string(),
                member: file.path.clone(),
                offset: at,
                size: sizes[k],
            });
            at += sizes[k];
        }
        spans
    }

    /// The end of the archive, once every layer file's size is known: the
    /// padding of the last layer, the OCI manifest, `index.json`,
    /// `manifest.json`, `oci-layout`, and the two zero blocks.
    pub fn trailer(&self, sizes: &[u64]) -> Vec<u8> {
        let mut out = match sizes.last() {
            Some(&last) => vec![0; padding(last)],
            None => self.prefix(),
        };
        let oci_manifest = json_bytes(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": self.config_digest,
                "size": self.config.len(),
            },
            "layers": self.layer_paths.iter().map(|path| {
                let k = self.files.iter().position(|f| f.path == *path).expect("every path has a file");
                self.files[k].descriptor(sizes[k])
            }).collect::<Vec<_>>(),
        }));
        let manifest_digest = format!("sha256:{}", hex(&Sha256::digest(&oci_manifest)));
        let mut descriptor = json!({
            "mediaType": OCI_MANIFEST,
            "digest": manifest_digest,
            "size": oci_manifest.len(),
        });
        if let Some(name) = &self.name {
            let tag = name.rsplit_once(':').map_or("latest", |(_, t)| t);
            let mut annotations = json!({"org.opencontainers.image.ref.name": tag});
            if let Some(full) = &self.full_name {
                annotations["io.containerd.image.name"] = json!(full);
            }
            descriptor["annotations"] = annotations;
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [descriptor],
        });
        let docker_manifest = json!([{
            "Config": blob_path(&self.config_digest),
            "RepoTags": self.name.as_ref().map(|n| vec![n.clone()]),
            "Layers": self.layer_paths,
        }]);
        member(&mut out, &blob_path(&manifest_digest), &oci_manifest);
        member(&mut out, "index.json", &json_bytes(&index));
        member(&mut out, "manifest.json", &json_bytes(&docker_manifest));
        member(&mut out, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        out.extend_from_slice(&[0; 2 * TAR_BLOCK as usize]);
        out
    }
}

/// What the archive names the image.
pub struct Names<'a> {
    /// `repo:tag` (manifest.json's RepoTags, the index's ref.name).
    pub name: Option<&'a RepoTag>,
    /// The full reference the containerd store names it by.
    pub full_name: Option<String>,
}

/// The containerd store's name of the image: the reference's own when the
/// image is stored under the name it was pulled by (a tag), else the name
/// given, when it parses as a reference without a digest.
pub fn full_name(given: Option<&RepoTag>, reference: &Reference) -> Option<String> {
    match given {
        None => {
            let tag = reference.tag.as_deref()?;
            Some(format!(
                "{}/{}:{tag}",
                reference.registry, reference.repository
            ))
        }
        Some(name) => {
            let parsed = Reference::parse(&name.to_string()).ok()?;
            parsed.digest.is_none().then(|| parsed.to_string())
        }
    }
}

/// `blobs/sha256/<hex>` of a `sha256:<hex>` digest.
pub fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
}

fn json_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("a JSON value serialises")
}

/// The zeros after a member of `size` bytes, up to the next tar block.
pub fn padding(size: u64) -> usize {
    ((TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK) as usize
}

/// A ustar header (sizes past 8 GiB in base-256, as GNU tar and Go write
/// them): a regular file of mode 0644, or a directory of mode 0755, owned
/// by root, mtime 0.
pub fn header(path: &str, size: u64, directory: bool) -> [u8; 512] {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)
        .expect("archive paths are short and relative");
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    if directory {
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
    } else {
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
    }
    h.set_cksum();
    *h.as_bytes()
}

/// Appends a whole small member: header, bytes, padding.
fn member(out: &mut Vec<u8>, path: &str, bytes: &[u8]) {
    out.extend_from_slice(&header(path, bytes.len() as u64, false));
    out.extend_from_slice(bytes);
    out.resize(out.len() + padding(bytes.len() as u64), 0);
}

/// The pieces of the archive: the layer files (read [`LANES`] at a time),
/// then, once their sizes are known, the small pieces listed before each
/// and the trailer. Slots: `2k` before layer file `k`, `2k + 1` the layer
/// file, `2n` the trailer.
struct Pieces<'a> {
    layout: &'a Layout,
    blobs: &'a dyn BlobSource,
    /// Bytes pulled so far, for progress.
    pulled: Arc<AtomicU64>,
    /// What each layer file measured once checked (or its size in the
    /// collection it is reused from).
    sizes: Vec<Arc<Mutex<Option<u64>>>>,
    /// Looks a layer up in the image collections the user can read.
    finder: Option<Finder<'a>>,
    /// Layers whose blob is smaller are packed (see the module doc).
    pack_below: u64,
}

/// Finds a layer's blocks in Keep by the digest of its stored bytes.
type Finder<'a> = &'a (dyn Fn(&str) -> Option<FoundLayer> + Sync);

impl<'a> Pieces<'a> {
    fn new(layout: &'a Layout, blobs: &'a dyn BlobSource, pulled: Arc<AtomicU64>) -> Pieces<'a> {
        Pieces {
            layout,
            blobs,
            pulled,
            sizes: layout.files.iter().map(|_| Arc::default()).collect(),
            finder: None,
            pack_below: PACK_BELOW,
        }
    }

    fn fail(&self, problem: String) -> Error {
        Error::Registry {
            reference: self.layout.reference.clone(),
            problem,
        }
    }

    /// The sizes of layer files `0..n`, all checked by now.
    fn sizes(&self, n: usize) -> Result<Vec<u64>> {
        self.sizes[..n]
            .iter()
            .zip(&self.layout.files)
            .map(|(size, file)| {
                size.lock().unwrap().ok_or_else(|| {
                    self.fail(format!("layer {} was not read to its end", file.number))
                })
            })
            .collect()
    }

    fn layer(&self, k: usize) -> Result<Piece<'a>> {
        if let Some(found) = self.find(k) {
            return Ok(found);
        }
        Ok(Piece::read(2 * k + 1, self.open(k)?))
    }

    /// Layer file `k` as the blocks of an image collection that holds it,
    /// if the finder finds one: its size recorded, counted as pulled.
    fn find(&self, k: usize) -> Option<Piece<'a>> {
        let file = &self.layout.files[k];
        let found = self.finder.and_then(|find| find(file.digest()))?;
        log::debug(log::KEEPDOCKER, || {
            format!(
                "layer {} ({}): {} bytes taken from collection {}, not pulled",
                file.number,
                file.digest(),
                found.size,
                found.collection
            )
        });
        *self.sizes[k].lock().unwrap() = Some(found.size);
        self.pulled.fetch_add(file.blob.size, Ordering::Relaxed);
        Some(Piece::stored(2 * k + 1, found.locators))
    }

    /// Layer file `k` as it streams from the registry, checked.
    fn open(&self, k: usize) -> Result<LayerReader> {
        let file = &self.layout.files[k];
        let of = self.layout.layer_paths.len();
        let what = format!("layer {} of {of} ({})", file.number, file.blob.digest);
        let blob = self
            .blobs
            .open_blob(&file.blob)
            .map_err(|e| self.fail(format!("{what}: {e}")))?;
        let blob = Counted {
            inner: blob,
            counter: self.pulled.clone(),
        };
        let (input, check): (Box<dyn Read + Send>, Check) = match file.stored {
            Stored::Inflated => (
                Box::new(Inflating(flate2::read::MultiGzDecoder::new(blob))),
                Check::Stored(Sha256::new()),
            ),
            Stored::Plain | Stored::AsPulled(Compression::None) => {
                (Box::new(blob), Check::Stored(Sha256::new()))
            }
            Stored::AsPulled(Compression::Gzip) => (
                Box::new(blob),
                Check::Gunzip(Box::new(flate2::write::MultiGzDecoder::new(Hashing(
                    Sha256::new(),
                )))),
            ),
            Stored::AsPulled(Compression::Zstd) => (Box::new(blob), Check::BlobOnly),
        };
        Ok(LayerReader {
            input,
            check,
            size: 0,
            done: false,
            outcome: self.sizes[k].clone(),
            what,
            diff_id: file.diff_id.clone(),
            reference: self.layout.reference.clone(),
        })
    }

    /// Whether layer file `k` is packed with the tar headers around it
    /// rather than given blocks of its own (see the module doc).
    fn packed(&self, k: usize) -> bool {
        self.layout.files[k].blob.size < self.pack_below
    }
}

impl<'a> Pieces<'a> {
    /// The layer files that get blocks of their own, in manifest order:
    /// independent of each other, so they may be read at once.
    fn layers(&self) -> impl Iterator<Item = Result<Piece<'a>>> + Send + '_ {
        (0..self.layout.files.len())
            .filter(|&k| !self.packed(k))
            .map(|k| self.layer(k))
    }

    /// The small pieces, once those layer files are read: each is what
    /// lies between two of them (the padding before, the headers, and the
    /// packed layers with theirs), listed before the next one; the last
    /// ends with the trailer. A packed layer is pulled here, into memory
    /// (at most [`PACKED_MAX`] bytes); one that turns out bigger streams
    /// into blocks of its own after all.
    fn small(&self) -> impl Iterator<Item = Result<Piece<'a>>> + Send + '_ {
        let n = self.layout.files.len();
        let mut k = 0;
        let mut acc: Vec<u8> = Vec::new();
        let mut slot = 0;
        // A packed layer streaming on its own, whose header is still due.
        let mut streaming: Option<usize> = None;
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            let piece = |slot: usize, bytes: Vec<u8>| Piece::read(slot, io::Cursor::new(bytes));
            let next = (|| loop {
                // The header before a layer file with blocks of its own ends
                // the small piece listed before it.
                let ends_here = streaming.take().or((k < n && !self.packed(k)).then_some(k));
                if let Some(j) = ends_here {
                    acc.extend_from_slice(&self.layout.before(j, &self.sizes(j + 1)?));
                    let out = piece(slot, std::mem::take(&mut acc));
                    slot = 2 * j + 2;
                    k = j + 1;
                    return Ok(out);
                }
                if k == n {
                    acc.extend_from_slice(&self.layout.trailer(&self.sizes(n)?));
                    done = true;
                    return Ok(piece(slot, std::mem::take(&mut acc)));
                }
                // A layer some collection holds as blocks of its own is
                // taken from there, whatever its blob's size.
                if let Some(found) = self.find(k) {
                    streaming = Some(k);
                    return Ok(found);
                }
                let mut reader = self.open(k)?;
                let mut content = Vec::new();
                let limit = PACKED_MAX as u64 + 1;
                if let Err(e) = (&mut reader).take(limit).read_to_end(&mut content) {
                    return Err(read_error(&self.layout.reference, e));
                }
                if content.len() > PACKED_MAX {
                    streaming = Some(k);
                    let rest = io::Cursor::new(content).chain(reader);
                    return Ok(Piece::read(2 * k + 1, rest));
                }
                acc.extend_from_slice(&self.layout.before(k, &self.sizes(k + 1)?));
                acc.extend_from_slice(&content);
                k += 1;
            })();
            if next.is_err() {
                done = true;
            }
            Some(next)
        })
    }
}

/// A read error of a layer as the crate's error (ours passes through).
fn read_error(reference: &str, e: io::Error) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        if let Some(Ok(ours)) = e.into_inner().map(|inner| inner.downcast::<Error>()) {
            return *ours;
        }
        unreachable!("checked above");
    }
    Error::Registry {
        reference: reference.to_string(),
        problem: e.to_string(),
    }
}

/// Counts the bytes read through it.
struct Counted {
    inner: Box<dyn Read + Send>,
    counter: Arc<AtomicU64>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A gzip blob decompressed as it streams. Bytes the decoder refuses are
/// most often bytes that do not match the blob's digest (a corrupt or cut
/// transfer): the rest of the blob is then read through the source's
/// check, so that the error is the digest mismatch the source reports
/// rather than the decoder's complaint about its symptom.
struct Inflating(flate2::read::MultiGzDecoder<Counted>);

impl Read for Inflating {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.get_ref().is_some_and(|inner| inner.is::<Error>()) => Err(e),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => match io::copy(self.0.get_mut(), &mut io::sink()) {
                Err(source) => Err(source),
                Ok(_) => Err(e),
            },
        }
    }
}

/// A `Write` that hashes what is written to it.
struct Hashing(Sha256);

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How a layer file's bytes are checked against its diff_id.
enum Check {
    /// The stored bytes are the layer: hash them.
    Stored(Sha256),
    /// The stored bytes are gzip: decompress them on the side, hash that.
    Gunzip(Box<flate2::write::MultiGzDecoder<Hashing>>),
    /// zstd kept as pulled: only the blob digest (the source checks it).
    BlobOnly,
}

/// One layer file as it streams: its bytes, checked against the diff_id at
/// the end (an error then, never a clean end), and its size recorded for
/// the header written after it.
struct LayerReader {
    input: Box<dyn Read + Send>,
    check: Check,
    size: u64,
    done: bool,
    outcome: Arc<Mutex<Option<u64>>>,
    /// `layer 2 of 5 (sha256:...)`
    what: String,
    diff_id: String,
    reference: String,
}

impl LayerReader {
    fn fail(&self, problem: String) -> io::Error {
        io::Error::other(Error::Registry {
            reference: self.reference.clone(),
            problem,
        })
    }

    /// The end of the layer: the diff_id check, then its size recorded.
    fn finish(&mut self) -> io::Result<()> {
        let check = std::mem::replace(&mut self.check, Check::BlobOnly);
        let digest = match check {
            Check::Stored(sha) => Some(sha.finalize()),
            Check::Gunzip(decoder) => match decoder.finish() {
                Ok(Hashing(sha)) => Some(sha.finalize()),
                Err(e) => {
                    return Err(self.fail(format!("{}: not a valid gzip stream: {e}", self.what)))
                }
            },
            Check::BlobOnly => None,
        };
        if let Some(digest) = digest {
            let actual = format!("sha256:{}", hex(&digest));
            if actual != self.diff_id {
                return Err(self.fail(format!(
                    "{} decompresses to {actual}, but the image config says its diff_id is {}: \
                     the registry served a corrupt or wrong layer; no collection was made",
                    self.what, self.diff_id
                )));
            }
        }
        *self.outcome.lock().unwrap() = Some(self.size);
        Ok(())
    }
}

impl Read for LayerReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        let n = match self.input.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            // Our own error (from the registry client) passes through.
            Err(e) if e.get_ref().is_some_and(|inner| inner.is::<Error>()) => return Err(e),
            Err(e) => return Err(self.fail(format!("{}: {e}", self.what))),
        };
        if n == 0 {
            self.done = true;
            self.finish()?;
            return Ok(0);
        }
        self.size += n as u64;
        let data = &buf[..n];
        match &mut self.check {
            Check::Stored(sha) => sha.update(data),
            Check::Gunzip(decoder) => {
                if let Err(e) = decoder.write_all(data) {
                    return Err(self.fail(format!("{}: not a valid gzip stream: {e}", self.what)));
                }
            }
            Check::BlobOnly => {}
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::RegistryError;
    use std::collections::BTreeMap;

    fn sha(data: &[u8]) -> String {
        format!("sha256:{}", hex(&Sha256::digest(data)))
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// A layer tar holding one file.
    fn layer_tar(name: &str, content: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, content).unwrap();
        b.into_inner().unwrap()
    }

    /// Blobs served from memory, with no digest check of their own (the
    /// diff_id check is what is tested).
    struct Blobs(BTreeMap<String, Vec<u8>>);

    impl BlobSource for Blobs {
        fn open_blob(
            &self,
            blob: &Descriptor,
        ) -> std::result::Result<Box<dyn Read + Send>, RegistryError> {
            match self.0.get(&blob.digest) {
                Some(bytes) => Ok(Box::new(io::Cursor::new(bytes.clone()))),
                None => Err(RegistryError::Other(format!("no blob {}", blob.digest))),
            }
        }
    }

    /// An image of `layers` (gzip blobs, listed as given: a layer may be
    /// listed twice), with `diff_ids` overriding the real ones.
    fn image(layers: &[Vec<u8>], diff_ids: Option<Vec<String>>) -> (Resolved, Blobs) {
        let mut blobs = BTreeMap::new();
        let mut descriptors = Vec::new();
        for layer in layers {
            let gz = gzip(layer);
            descriptors.push(Descriptor {
                media_type: "application/vnd.docker.image.rootfs.diff.tar.gzip".into(),
                digest: sha(&gz),
                size: gz.len() as u64,
            });
            blobs.insert(sha(&gz), gz);
        }
        let diff_ids = diff_ids.unwrap_or_else(|| layers.iter().map(|l| sha(l)).collect());
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux", "created": "2024-05-06T07:08:09Z",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap();
        let resolved = Resolved {
            reference: Reference {
                registry: "registry.example:5000".into(),
                repository: "lab/tool".into(),
                tag: Some("1.0".into()),
                digest: None,
            },
            manifest_digest: sha(b"the manifest"),
            index_digest: None,
            config_descriptor: Descriptor {
                media_type: "application/vnd.docker.container.image.v1+json".into(),
                digest: sha(&config),
                size: config.len() as u64,
            },
            config,
            layers: descriptors,
        };
        (resolved, Blobs(blobs))
    }

    fn layout_of(resolved: &Resolved, compressed: bool) -> Layout {
        layout(resolved, compressed)
    }

    fn layout(resolved: &Resolved, compressed: bool) -> Layout {
        let config = ImageConfig::read(resolved).unwrap();
        let name = RepoTag {
            repo: "lab/tool".into(),
            tag: "1.0".into(),
        };
        let names = Names {
            name: Some(&name),
            full_name: full_name(None, &resolved.reference),
        };
        Layout::new(resolved, &config, names, compressed).unwrap()
    }

    /// Every piece, read in write order: (slot, bytes), or the first
    /// error; every layer with blocks of its own.
    fn pieces(layout: &Layout, blobs: &Blobs) -> Result<Vec<(usize, Vec<u8>)>> {
        pieces_with(layout, blobs, 0)
    }

    /// [`pieces`], packing layers whose blob is under `pack_below` bytes.
    fn pieces_with(
        layout: &Layout,
        blobs: &Blobs,
        pack_below: u64,
    ) -> Result<Vec<(usize, Vec<u8>)>> {
        let mut out = Vec::new();
        let mut all = Pieces::new(layout, blobs, Arc::default());
        all.pack_below = pack_below;
        for piece in all.layers().chain(all.small()) {
            let piece = piece?;
            let crate::arvados::upload::Body::Read(mut reader) = piece.body else {
                panic!("a pull with no layer index stores nothing as it is");
            };
            let mut bytes = Vec::new();
            if let Err(e) = reader.read_to_end(&mut bytes) {
                let inner = e.into_inner().expect("our error inside");
                return Err(*inner.downcast::<Error>().expect("a crate error"));
            }
            out.push((piece.slot, bytes));
        }
        Ok(out)
    }

    /// The archive the pieces make, listed by slot.
    fn archive(mut pieces: Vec<(usize, Vec<u8>)>) -> Vec<u8> {
        pieces.sort_by_key(|p| p.0);
        pieces.into_iter().flat_map(|p| p.1).collect()
    }

    fn members(archive: &[u8]) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        for entry in tar::Archive::new(archive).entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            out.insert(path, bytes);
        }
        out
    }

    #[test]
    fn pieces_are_written_layer_first_and_listed_header_first() {
        let l1 = layer_tar("a.txt", &vec![7u8; 3000]);
        let l2 = layer_tar("b.txt", b"hello");
        let (resolved, blobs) = image(&[l1.clone(), l2.clone()], None);
        let layout = layout(&resolved, false);
        let written = pieces(&layout, &blobs).unwrap();
        let slots: Vec<usize> = written.iter().map(|p| p.0).collect();
        assert_eq!(slots, [1, 3, 0, 2, 4]);
        // The layer pieces are the uncompressed layers, exactly.
        assert_eq!(written[0].1, l1);
        assert_eq!(written[1].1, l2);
        // Each small piece ends with the header of the layer listed after it.
        let h = tar::Header::from_byte_slice(&written[2].1[written[2].1.len() - 512..]);
        assert_eq!(h.size().unwrap(), l1.len() as u64);
        let whole = archive(written);
        assert_eq!(whole.len() % 512, 0);
        let m = members(&whole);
        let diff1 = sha(&l1);
        let diff2 = sha(&l2);
        assert_eq!(m[&blob_path(&diff1)], l1);
        assert_eq!(m[&blob_path(&diff2)], l2);
        assert_eq!(
            m[&blob_path(&resolved.config_descriptor.digest)],
            resolved.config
        );
        let manifest: Value = serde_json::from_slice(&m["manifest.json"]).unwrap();
        assert_eq!(
            manifest,
            json!([{
                "Config": blob_path(&resolved.config_descriptor.digest),
                "RepoTags": ["lab/tool:1.0"],
                "Layers": [blob_path(&diff1), blob_path(&diff2)],
            }])
        );
        assert_eq!(m["oci-layout"], br#"{"imageLayoutVersion":"1.0.0"}"#);
        let index: Value = serde_json::from_slice(&m["index.json"]).unwrap();
        let digest = index["manifests"][0]["digest"].as_str().unwrap();
        assert_eq!(
            index["manifests"][0]["annotations"]["io.containerd.image.name"],
            "registry.example:5000/lab/tool:1.0"
        );
        let oci: Value = serde_json::from_slice(&m[&blob_path(digest)]).unwrap();
        assert_eq!(sha(&m[&blob_path(digest)]), digest);
        assert_eq!(oci["layers"][1]["digest"], diff2.as_str());
        assert_eq!(oci["layers"][1]["size"], l2.len());
        assert_eq!(oci["layers"][1]["mediaType"], OCI_LAYER);
        // Deterministic: the same image gives the same bytes.
        assert_eq!(archive(pieces(&layout, &blobs).unwrap()), whole);
    }

    #[test]
    fn spans_are_where_each_layer_lies_in_the_archive() {
        let l1 = layer_tar("a.txt", &vec![7u8; 3000]);
        let l2 = layer_tar("b.txt", b"hello");
        let (resolved, blobs) = image(&[l1.clone(), l2.clone()], None);
        let layout = layout(&resolved, false);
        let whole = archive(pieces(&layout, &blobs).unwrap());
        let spans = layout.spans(&[l1.len() as u64, l2.len() as u64]);
        assert_eq!(spans.len(), 2);
        for (span, layer) in spans.iter().zip([&l1, &l2]) {
            assert_eq!(span.digest, sha(layer));
            assert_eq!(span.member, blob_path(&sha(layer)));
            let at = span.offset as usize;
            assert_eq!(&whole[at..at + span.size as usize], &layer[..]);
            // The tar header just before names the member.
            let h = tar::Header::from_byte_slice(&whole[at - 512..at]);
            assert_eq!(h.path_bytes().as_ref(), span.member.as_bytes());
        }
        // A layer kept compressed is known by its blob digest.
        let compressed = layout_of(&resolved, true);
        let blob = &blobs.0[&resolved.layers[0].digest];
        let sizes: Vec<u64> = resolved.layers.iter().map(|l| l.size).collect();
        let span = &compressed.spans(&sizes)[0];
        assert_eq!(span.digest, resolved.layers[0].digest);
        let whole = archive(pieces(&compressed, &blobs).unwrap());
        let at = span.offset as usize;
        assert_eq!(&whole[at..at + blob.len()], &blob[..]);
    }

    #[test]
    fn a_layer_found_in_keep_is_listed_as_found_and_not_pulled() {
        let l1 = layer_tar("a.txt", &vec![7u8; 3000]);
        let l2 = layer_tar("b.txt", b"hello");
        let (resolved, blobs) = image(&[l1.clone(), l2.clone()], None);
        let layout = layout(&resolved, false);
        let held = vec![format!(
            "{}+{}+Aheld@1",
            crate::arvados::manifest::md5_hex(&l1),
            l1.len()
        )];
        // Found whether the layer would have had blocks of its own here
        // (aligned) or not (packed: it still takes the blocks found).
        for pack_below in [0, PACK_BELOW] {
            let asked = Mutex::new(Vec::new());
            let finder = |digest: &str| {
                asked.lock().unwrap().push(digest.to_string());
                (digest == sha(&l1)).then(|| FoundLayer {
                    collection: "zzzzz-4zz18-000000000000000".into(),
                    locators: held.clone(),
                    size: l1.len() as u64,
                })
            };
            // Only the second layer's blob can be pulled.
            let mut only_second = Blobs(BTreeMap::new());
            only_second.0.insert(
                resolved.layers[1].digest.clone(),
                blobs.0[&resolved.layers[1].digest].clone(),
            );
            let pulled = Arc::new(AtomicU64::new(0));
            let mut all = Pieces::new(&layout, &only_second, pulled.clone());
            all.finder = Some(&finder);
            all.pack_below = pack_below;
            let mut stored = Vec::new();
            let mut read = Vec::new();
            for piece in all.layers().chain(all.small()) {
                let piece = piece.unwrap();
                match piece.body {
                    crate::arvados::upload::Body::Stored(locators) => {
                        stored.push((piece.slot, locators))
                    }
                    crate::arvados::upload::Body::Read(mut r) => {
                        let mut bytes = Vec::new();
                        r.read_to_end(&mut bytes).unwrap();
                        read.push((piece.slot, bytes));
                    }
                }
            }
            assert_eq!(*asked.lock().unwrap(), [sha(&l1), sha(&l2)]);
            assert_eq!(stored, [(1, held.clone())]);
            // Its size went into the header before it, and it counts as pulled.
            let mut with_l1 = read.clone();
            with_l1.push((1, l1.clone()));
            let expected = archive(pieces(&layout, &blobs).unwrap());
            assert_eq!(archive(with_l1), expected);
            assert_eq!(pulled.load(Ordering::Relaxed), layout.pull_size());
        }
    }

    #[test]
    fn small_layers_are_packed_with_the_headers_and_big_ones_aligned() {
        // Incompressible, so that its blob is over the packing threshold.
        let mut noise = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        while noise.len() < (PACK_BELOW as usize) * 2 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            noise.extend_from_slice(&x.to_le_bytes());
        }
        let small1 = layer_tar("a.txt", b"one");
        let big = layer_tar("big.bin", &noise);
        let small2 = layer_tar("b.txt", b"two");
        let small3 = layer_tar("c.txt", b"three");
        let layers = [small1.clone(), big.clone(), small2.clone(), small3.clone()];
        let (resolved, blobs) = image(&layers, None);
        let layout = layout(&resolved, false);
        let packed = pieces_with(&layout, &blobs, PACK_BELOW).unwrap();
        // The big layer first (its own piece), then two small pieces: the
        // start with small1 and big's header; the rest with small2,
        // small3 and the trailer.
        let slots: Vec<usize> = packed.iter().map(|p| p.0).collect();
        assert_eq!(slots, [3, 0, 4]);
        assert_eq!(packed[0].1, big);
        // The same archive as with every layer aligned.
        let aligned = archive(pieces(&layout, &blobs).unwrap());
        assert_eq!(archive(packed.clone()), aligned);
        // The packed layers' bytes are inside the small pieces.
        let holds = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
        assert!(holds(&packed[1].1, &small1));
        assert!(holds(&packed[2].1, &small2) && holds(&packed[2].1, &small3));
        // Only the big layer is whole blocks: the index has only it.
        let sizes: Vec<u64> = layers.iter().map(|l| l.len() as u64).collect();
        let locators: Vec<String> = {
            let mut p = packed.clone();
            p.sort_by_key(|p| p.0);
            p.iter()
                .map(|(_, b)| format!("{}+{}", crate::arvados::manifest::md5_hex(b), b.len()))
                .collect()
        };
        let index = LayerIndex::build(&locators, &layout.spans(&sizes));
        assert_eq!(index.layers.keys().collect::<Vec<_>>(), [&sha(&big)]);
        // A wrong small layer is still an error.
        let (resolved, blobs) = image(std::slice::from_ref(&small1), Some(vec![sha(b"other")]));
        let e = pieces_with(&layout_of(&resolved, false), &blobs, PACK_BELOW).unwrap_err();
        assert!(e.to_string().contains("its diff_id is"), "{e}");
    }

    #[test]
    fn a_small_blob_that_decompresses_to_much_more_gets_blocks_of_its_own() {
        let zeros = layer_tar("zeros", &vec![0u8; PACKED_MAX + 1000]);
        let small = layer_tar("b.txt", b"two");
        let (resolved, blobs) = image(&[zeros.clone(), small.clone()], None);
        assert!(resolved.layers[0].size < PACK_BELOW);
        let layout = layout(&resolved, false);
        let packed = pieces_with(&layout, &blobs, PACK_BELOW).unwrap();
        let slots: Vec<usize> = packed.iter().map(|p| p.0).collect();
        assert_eq!(slots, [1, 0, 2]);
        assert_eq!(packed[0].1, zeros);
        assert_eq!(archive(packed), archive(pieces(&layout, &blobs).unwrap()));
    }

    #[test]
    fn a_layer_listed_twice_is_stored_once() {
        let l1 = layer_tar("a.txt", b"same");
        let (resolved, blobs) = image(&[l1.clone(), l1.clone()], None);
        let layout = layout(&resolved, false);
        assert_eq!(layout.files.len(), 1);
        let written = pieces(&layout, &blobs).unwrap();
        assert_eq!(written.len(), 3);
        let m = members(&archive(written));
        let manifest: Value = serde_json::from_slice(&m["manifest.json"]).unwrap();
        let path = blob_path(&sha(&l1));
        assert_eq!(manifest[0]["Layers"], json!([path, path]));
    }

    #[test]
    fn compressed_layers_are_the_blobs_as_pulled() {
        let l1 = layer_tar("a.txt", &vec![1u8; 5000]);
        let (resolved, blobs) = image(std::slice::from_ref(&l1), None);
        let layout = layout(&resolved, true);
        let written = pieces(&layout, &blobs).unwrap();
        let blob = &blobs.0[&resolved.layers[0].digest];
        assert_eq!(&written[0].1, blob);
        let m = members(&archive(written));
        assert_eq!(&m[&blob_path(&resolved.layers[0].digest)], blob);
        let index: Value = serde_json::from_slice(&m["index.json"]).unwrap();
        let digest = index["manifests"][0]["digest"].as_str().unwrap();
        let oci: Value = serde_json::from_slice(&m[&blob_path(digest)]).unwrap();
        assert_eq!(oci["layers"][0]["mediaType"], format!("{OCI_LAYER}+gzip"));
        assert_eq!(oci["layers"][0]["size"], blob.len());
    }

    #[test]
    fn a_layer_that_is_not_its_diff_id_is_an_error_whatever_is_stored() {
        let l1 = layer_tar("a.txt", b"one");
        let l2 = layer_tar("b.txt", b"two");
        let wrong = sha(b"something else");
        let (resolved, blobs) = image(&[l1.clone(), l2], Some(vec![sha(&l1), wrong.clone()]));
        for compressed in [false, true] {
            let layout = layout(&resolved, compressed);
            let e = pieces(&layout, &blobs).unwrap_err();
            let text = e.to_string();
            assert!(
                text.starts_with("registry.example:5000/lab/tool:1.0: layer 2 of 2 (sha256:"),
                "{text}"
            );
            assert!(text.contains(&format!("its diff_id is {wrong}")), "{text}");
        }
    }

    #[test]
    fn a_blob_that_is_not_gzip_is_an_error() {
        let l1 = layer_tar("a.txt", b"one");
        let (mut resolved, mut blobs) = image(std::slice::from_ref(&l1), None);
        let junk = b"not gzip at all".to_vec();
        resolved.layers[0].digest = sha(&junk);
        blobs.0.insert(sha(&junk), junk);
        for compressed in [false, true] {
            let e = pieces(&layout(&resolved, compressed), &blobs).unwrap_err();
            assert!(e.to_string().contains("layer 1 of 1"), "{e}");
        }
    }

    #[test]
    fn the_config_must_be_its_digest_and_match_the_layers() {
        let l1 = layer_tar("a.txt", b"one");
        let (mut resolved, _) = image(std::slice::from_ref(&l1), None);
        resolved.layers.push(resolved.layers[0].clone());
        let e = ImageConfig::read(&resolved).unwrap_err();
        assert!(e.contains("lists 2 layers but the image config"), "{e}");
        resolved.config_descriptor.digest = sha(b"other");
        let e = ImageConfig::read(&resolved).unwrap_err();
        assert!(e.starts_with("the image config is sha256:"), "{e}");
        let (resolved, _) = image(&[l1], Some(vec!["sha256:../../etc".into()]));
        let e = ImageConfig::read(&resolved).unwrap_err();
        assert!(e.contains("not sha256:<64 hex>"), "{e}");
    }

    #[test]
    fn names_and_provenance() {
        let (mut resolved, _) = image(&[], None);
        assert_eq!(
            pulled_from(&resolved),
            format!(
                "registry.example:5000/lab/tool:1.0@{}",
                sha(b"the manifest")
            )
        );
        let given = RepoTag {
            repo: "mine".into(),
            tag: "x".into(),
        };
        assert_eq!(stored_name(Some(&given), &resolved.reference), Some(given));
        // Whatever the reference parser calls the image locally.
        let local = resolved.reference.local_name();
        assert_eq!(
            stored_name(None, &resolved.reference),
            local.map(|l| parse_target(&l, None).unwrap())
        );
        resolved.reference.tag = None;
        resolved.reference.digest = Some(sha(b"the manifest"));
        assert!(pulled_from(&resolved).ends_with(&format!("lab/tool@{}", sha(b"the manifest"))));
    }

    #[test]
    fn zstd_layers_are_kept_as_pulled_with_a_warning() {
        let l1 = layer_tar("a.txt", b"one");
        let (mut resolved, mut blobs) = image(std::slice::from_ref(&l1), None);
        // Not real zstd: only the blob digest is checked, by the source.
        let blob = b"zstd bytes as the registry has them".to_vec();
        resolved.layers[0] = Descriptor {
            media_type: "application/vnd.oci.image.layer.v1.tar+zstd".into(),
            digest: sha(&blob),
            size: blob.len() as u64,
        };
        blobs.0.insert(sha(&blob), blob.clone());
        let layout = layout(&resolved, false);
        assert_eq!(layout.files[0].stored, Stored::AsPulled(Compression::Zstd));
        assert_eq!(layout.warnings.len(), 1);
        assert!(layout.warnings[0].contains("zstd"), "{:?}", layout.warnings);
        let m = members(&archive(pieces(&layout, &blobs).unwrap()));
        assert_eq!(m[&blob_path(&sha(&blob))], blob);
    }

    #[test]
    fn an_image_without_layers_is_prefix_and_trailer() {
        let (resolved, blobs) = image(&[], None);
        let written = pieces(&layout(&resolved, false), &blobs).unwrap();
        assert_eq!(written.len(), 1);
        let m = members(&archive(written));
        assert!(m.contains_key("manifest.json") && m.contains_key("blobs/sha256/"));
    }

    #[test]
    fn header_math() {
        assert_eq!(padding(0), 0);
        assert_eq!(padding(1), 511);
        assert_eq!(padding(512), 0);
        assert_eq!(padding(513), 511);
        assert_eq!(padding(1024 + 100), 412);
        let h = header("blobs/sha256/abc", 1234, false);
        let parsed = tar::Header::from_byte_slice(&h);
        assert_eq!(parsed.path().unwrap().to_str(), Some("blobs/sha256/abc"));
        assert_eq!(parsed.size().unwrap(), 1234);
        assert_eq!(parsed.mode().unwrap(), 0o644);
        assert_eq!(parsed.mtime().unwrap(), 0);
        assert_eq!(parsed.entry_type(), tar::EntryType::Regular);
        assert_eq!(parsed.cksum().unwrap(), {
            let mut sum = 0u32;
            for (i, b) in h.iter().enumerate() {
                sum += if (148..156).contains(&i) {
                    32
                } else {
                    *b as u32
                };
            }
            sum
        });
        // Past ustar's 8 GiB octal limit: base-256, read back exactly.
        let big = (8u64 << 30) + 3;
        let h = header("blobs/sha256/big", big, false);
        assert_eq!(h[124] & 0x80, 0x80);
        assert_eq!(tar::Header::from_byte_slice(&h).size().unwrap(), big);
        let d = header("blobs/", 0, true);
        let d = tar::Header::from_byte_slice(&d);
        assert_eq!(d.entry_type(), tar::EntryType::Directory);
        assert_eq!(d.mode().unwrap(), 0o755);
    }
}
