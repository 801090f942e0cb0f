//! The end-of-stream verdict: once every member has gone past, read the
//! image metadata and cross-check it with the members' digests.
//!
//! What `docker load` itself relies on decides what is checked:
//!
//! * manifest.json names exactly one image: its `Config` and `Layers`.
//! * The config's name carries its digest (`<hex>.json` or
//!   `blobs/sha256/<hex>`); its sha256 must match, and that is the image id.
//! * `docker load` decompresses each layer if it recognises a compression
//!   magic number, hashes the result and compares it with the config's
//!   `rootfs.diff_ids[i]`. So an uncompressed layer (what `docker save`
//!   writes) must hash to its diff_id, whatever the layout. A compressed one
//!   (containerd-store exports keep the registry's gzip blobs) cannot be
//!   checked that way without decompressing; it is accepted in `blobs/sha256/`
//!   because its name is its digest and that was checked, and refused
//!   elsewhere, where nothing would vouch for its bytes.
//! * For OCI layouts, index.json leads (through nested indexes, for
//!   containerd exports) to manifests; the ones present must agree with
//!   manifest.json on the config and on the set of layers, and every
//!   descriptor's size must match its blob. Docker 25 quirks are tolerated:
//!   an empty index for untagged images, and manifest layers in random order.

use std::collections::{HashSet, VecDeque};

use serde_json::{Map, Value};

use super::error::{ArchiveError, Name};
use super::members::{
    blob_digest, classic_config_digest, hex, link_target, normalize, parse_hex, Member, Members,
};
use super::tarstream::{compression, EntryKind};
use super::{ImageArchive, Layer, Layout};

/// Links followed before giving up (loops, or absurd chains).
const MAX_LINKS: usize = 16;
/// Index nesting followed from index.json.
const MAX_INDEX_DEPTH: usize = 8;

fn bad(member: &str, problem: impl Into<String>) -> ArchiveError {
    ArchiveError::BadMetadata {
        member: member.to_owned(),
        problem: problem.into(),
    }
}

/// Checks the complete table of contents and describes the image.
pub(super) fn check(members: &Members, size: u64) -> Result<ImageArchive, ArchiveError> {
    if !members.by_name.contains_key("manifest.json") {
        return Err(ArchiveError::NoManifest);
    }
    let manifest = ManifestItem::parse(&json(members, "manifest.json")?)?;
    check_side_documents(members)?;
    let layout = if members.by_name.contains_key("oci-layout")
        || members.by_name.contains_key("index.json")
    {
        Layout::Oci
    } else {
        Layout::Classic
    };

    // The config: its name is its digest, and that digest is the image id.
    let config_name = normalize(&manifest.config).map_err(|problem| {
        bad(
            "manifest.json",
            format!(
                "names the config {}, which {problem}",
                Name(&manifest.config)
            ),
        )
    })?;
    let config_digest = blob_digest(&config_name)
        .or_else(|| classic_config_digest(&config_name))
        .ok_or_else(|| {
            bad(
                "manifest.json",
                format!(
                    "names the config {}, whose name carries no digest (expected \
                     `<64 hex>.json` or `blobs/sha256/<64 hex>`)",
                    Name(&config_name)
                ),
            )
        })?;
    let config_member = members
        .by_name
        .get(&config_name)
        .ok_or_else(|| ArchiveError::Missing {
            member: config_name.clone(),
            referenced_by: "manifest.json `Config`".into(),
        })?;
    if config_member.kind != EntryKind::Regular {
        return Err(ArchiveError::NotRegular {
            member: config_name,
            kind: config_member.kind.describe(),
        });
    }
    // A mismatch was already refused as it streamed, checked again here so
    // this function stands alone. Only a member too large to be a config
    // may go unhashed.
    match config_member.digest {
        Some(actual) if actual == config_digest => {}
        Some(actual) => {
            return Err(ArchiveError::DigestMismatch {
                member: config_name,
                expected: hex(&config_digest),
                actual: hex(&actual),
            })
        }
        None => {
            return Err(ArchiveError::TooLarge {
                member: config_name,
                size: config_member.size,
                limit: members.limits.json,
            })
        }
    }
    let config = Config::parse(&config_name, &json(members, &config_name)?)?;

    // The layers, against the config's diff_ids.
    if manifest.layers.len() != config.diff_ids.len() {
        return Err(ArchiveError::LayerCount {
            config: config_name,
            layers: manifest.layers.len(),
            diff_ids: config.diff_ids.len(),
        });
    }
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for (index, (path, diff_id)) in manifest.layers.iter().zip(&config.diff_ids).enumerate() {
        let referenced_by = format!("manifest.json `Layers[{index}]`");
        let name = normalize(path).map_err(|problem| {
            bad(
                "manifest.json",
                format!("names the layer {}, which {problem}", Name(path)),
            )
        })?;
        let (resolved, member) = resolve(members, &name, &referenced_by)?;
        // Not hashed (a daemon's save): what the blob's name or the config
        // says it is.
        let digest = member
            .digest
            .or_else(|| blob_digest(&resolved))
            .map_or_else(|| diff_id.clone(), |d| format!("sha256:{}", hex(&d)));
        let compression = compression(member.head());
        match compression {
            None if &digest != diff_id => {
                return Err(ArchiveError::LayerMismatch {
                    member: name,
                    index,
                    diff_id: diff_id.clone(),
                    actual: digest,
                })
            }
            Some(format) if blob_digest(&resolved).is_none() => {
                return Err(ArchiveError::CompressedLayer {
                    member: name,
                    index,
                    format,
                })
            }
            _ => {}
        }
        layers.push(Layer {
            member: name,
            digest,
            diff_id: diff_id.clone(),
            size: member.size,
            compression,
        });
    }

    let manifest_digests = if members.by_name.contains_key("index.json") {
        check_index(members, &config_name, &layers)?
    } else {
        Vec::new()
    };

    Ok(ImageArchive {
        layout,
        image_id: format!("sha256:{}", hex(&config_digest)),
        config: config_name,
        created: config.created,
        repo_tags: manifest.repo_tags,
        os: config.os,
        architecture: config.architecture,
        layers,
        manifest_digests,
        size,
    })
}

/// A kept JSON document, parsed.
fn json(members: &Members, name: &str) -> Result<Value, ArchiveError> {
    let Some(bytes) = members.documents.get(name) else {
        let size = members.by_name.get(name).map_or(0, |m| m.size);
        return Err(if size > members.limits.json {
            ArchiveError::TooLarge {
                member: name.to_owned(),
                size,
                limit: members.limits.json,
            }
        } else {
            ArchiveError::InvalidJson {
                member: name.to_owned(),
                detail: "it does not start with `{`".into(),
            }
        });
    };
    serde_json::from_slice(bytes).map_err(|e| ArchiveError::InvalidJson {
        member: name.to_owned(),
        detail: e.to_string(),
    })
}

/// Follows symlinks and hard links from `name` to a regular member.
fn resolve<'a>(
    members: &'a Members,
    name: &str,
    referenced_by: &str,
) -> Result<(String, &'a Member), ArchiveError> {
    let mut current = name.to_owned();
    let mut via: Option<(String, String)> = None; // (link member, its raw target)
    for _ in 0..MAX_LINKS {
        let Some(member) = members.by_name.get(&current) else {
            return Err(match via {
                None => ArchiveError::Missing {
                    member: current,
                    referenced_by: referenced_by.to_owned(),
                },
                Some((member, target)) => ArchiveError::BrokenLink {
                    member,
                    target,
                    problem: "is not in the archive",
                },
            });
        };
        let next = match member.kind {
            EntryKind::Regular => return Ok((current, member)),
            EntryKind::Symlink => link_target(&current, &member.link),
            // Hard link targets are archive paths, not relative ones.
            EntryKind::HardLink => normalize(&member.link).ok().filter(|t| !t.is_empty()),
            kind => {
                return Err(ArchiveError::NotRegular {
                    member: current,
                    kind: kind.describe(),
                })
            }
        };
        let Some(next) = next else {
            return Err(ArchiveError::BrokenLink {
                member: current,
                target: member.link.clone(),
                problem: "points outside the archive",
            });
        };
        via = Some((current, member.link.clone()));
        current = next;
    }
    Err(ArchiveError::BrokenLink {
        member: name.to_owned(),
        target: current,
        problem: "is reached through too many links (a loop?)",
    })
}

/// The one image manifest.json lists.
struct ManifestItem {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

impl ManifestItem {
    fn parse(value: &Value) -> Result<Self, ArchiveError> {
        const M: &str = "manifest.json";
        let items = value
            .as_array()
            .ok_or_else(|| bad(M, "is not a JSON array of images"))?;
        if items.len() != 1 {
            return Err(ArchiveError::ImageCount { count: items.len() });
        }
        let item = items[0]
            .as_object()
            .ok_or_else(|| bad(M, "lists an image that is not a JSON object"))?;
        let config = item
            .get("Config")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(M, "has no `Config` string naming the image config"))?
            .to_owned();
        Ok(ManifestItem {
            config,
            repo_tags: strings(item, "RepoTags", M)?,
            layers: strings(item, "Layers", M)?,
        })
    }
}

/// An optional list of strings (`null` or absent is empty, as Go writes it).
fn strings(
    object: &Map<String, Value>,
    key: &str,
    member: &str,
) -> Result<Vec<String>, ArchiveError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad(member, format!("has a `{key}` entry that is not a string")))
            })
            .collect(),
        Some(_) => Err(bad(member, format!("has a `{key}` that is not a list"))),
    }
}

/// What the image config tells us.
struct Config {
    created: Option<String>,
    os: Option<String>,
    architecture: Option<String>,
    diff_ids: Vec<String>,
}

impl Config {
    fn parse(name: &str, value: &Value) -> Result<Self, ArchiveError> {
        let object = value
            .as_object()
            .ok_or_else(|| bad(name, "is not a JSON object (an image config)"))?;
        let text = |key: &str| match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(name, format!("has a `{key}` that is not a string"))),
        };
        let diff_ids = match object.get("rootfs") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(rootfs)) => strings(rootfs, "diff_ids", name)?,
            Some(_) => return Err(bad(name, "has a `rootfs` that is not an object")),
        };
        for (i, id) in diff_ids.iter().enumerate() {
            if id.strip_prefix("sha256:").and_then(parse_hex).is_none() {
                return Err(bad(
                    name,
                    format!("has rootfs.diff_ids[{i}] {id:?}, which is not a sha256 digest"),
                ));
            }
        }
        Ok(Config {
            created: text("created")?,
            os: text("os")?,
            architecture: text("architecture")?,
            diff_ids,
        })
    }
}

/// oci-layout and repositories are not needed, but must be what they claim.
fn check_side_documents(members: &Members) -> Result<(), ArchiveError> {
    if members.by_name.contains_key("oci-layout") {
        let layout = json(members, "oci-layout")?;
        if !layout
            .get("imageLayoutVersion")
            .is_some_and(Value::is_string)
        {
            return Err(bad("oci-layout", "has no `imageLayoutVersion` string"));
        }
    }
    if members.by_name.contains_key("repositories") {
        let repositories = json(members, "repositories")?;
        let well_formed = repositories.as_object().is_some_and(|repos| {
            repos.values().all(|tags| {
                tags.as_object()
                    .is_some_and(|tags| tags.values().all(Value::is_string))
            })
        });
        if !well_formed {
            return Err(bad(
                "repositories",
                "is not a map of repository names to tags and layer ids",
            ));
        }
    }
    Ok(())
}

/// An OCI content descriptor.
struct Descriptor {
    digest: String,
    /// The blob member, for sha256 digests.
    blob: Option<String>,
    size: Option<u64>,
}

impl Descriptor {
    fn parse(value: &Value, member: &str, field: &str) -> Result<Self, ArchiveError> {
        let object = value
            .as_object()
            .ok_or_else(|| bad(member, format!("has a `{field}` that is not a descriptor")))?;
        let digest = object
            .get("digest")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(member, format!("has a `{field}` without a digest")))?;
        let blob = match digest.split_once(':') {
            Some(("sha256", hex)) if parse_hex(hex).is_some() => {
                Some(format!("blobs/sha256/{hex}"))
            }
            // Docker only writes sha256; other algorithms name no blob here.
            Some((algorithm, _)) if algorithm != "sha256" && !algorithm.is_empty() => None,
            _ => {
                return Err(bad(
                    member,
                    format!("has a `{field}` digest {digest:?} that is not a valid digest"),
                ))
            }
        };
        let size = match object.get("size") {
            None => None,
            Some(size) => Some(size.as_u64().ok_or_else(|| {
                bad(member, format!("has a `{field}` size that is not a number"))
            })?),
        };
        Ok(Descriptor {
            digest: digest.to_owned(),
            blob,
            size,
        })
    }

    /// The blob, if the archive holds it; its size must be the promised one.
    fn present<'a>(
        &self,
        members: &'a Members,
        described_by: &str,
    ) -> Result<Option<(&str, &'a Member)>, ArchiveError> {
        let Some(blob) = &self.blob else {
            return Ok(None);
        };
        let Some(member) = members.by_name.get(blob) else {
            return Ok(None);
        };
        match self.size {
            Some(size) if size != member.size => Err(ArchiveError::Mismatch {
                member: blob.clone(),
                problem: format!(
                    "is {} bytes but {} says {size}",
                    member.size,
                    Name(described_by)
                ),
            }),
            _ => Ok(Some((blob, member))),
        }
    }
}

fn descriptors(value: &Value, member: &str, key: &str) -> Result<Vec<Descriptor>, ArchiveError> {
    match value.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| Descriptor::parse(item, member, &format!("{key}[{i}]")))
            .collect(),
        Some(_) => Err(bad(member, format!("has a `{key}` that is not a list"))),
    }
}

/// An OCI image manifest found by walking from index.json.
struct FoundManifest {
    blob: String,
    config: Descriptor,
    layers: Vec<Descriptor>,
    /// Digests from index.json down to this manifest, itself included.
    chain: Vec<String>,
}

/// Walks index.json to the manifests present and cross-checks the one(s)
/// for our config. Returns the digests that lead to it, top first.
fn check_index(
    members: &Members,
    config_name: &str,
    layers: &[Layer],
) -> Result<Vec<String>, ArchiveError> {
    let index = json(members, "index.json")?;
    if !index.is_object() {
        return Err(bad("index.json", "is not a JSON object (an OCI index)"));
    }
    let mut queue: VecDeque<(Descriptor, String, Vec<String>)> =
        descriptors(&index, "index.json", "manifests")?
            .into_iter()
            .map(|d| (d, "index.json".to_owned(), Vec::new()))
            .collect();
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    while let Some((descriptor, parent, mut chain)) = queue.pop_front() {
        // Absent blobs are normal: containerd leaves out other platforms.
        let Some((blob, _)) = descriptor.present(members, &parent)? else {
            continue;
        };
        chain.push(descriptor.digest.clone());
        if !seen.insert(blob.to_owned()) {
            continue;
        }
        let value = json(members, blob)?;
        if value.get("manifests").is_some_and(Value::is_array) {
            if chain.len() > MAX_INDEX_DEPTH {
                return Err(bad(blob, "nests image indexes too deeply"));
            }
            for child in descriptors(&value, blob, "manifests")? {
                queue.push_back((child, blob.to_owned(), chain.clone()));
            }
        } else if let Some(config) = value.get("config") {
            let config = Descriptor::parse(config, blob, "config")?;
            let layers = descriptors(&value, blob, "layers")?;
            config.present(members, blob)?;
            for layer in &layers {
                layer.present(members, blob)?;
            }
            found.push(FoundManifest {
                blob: blob.to_owned(),
                config,
                layers,
                chain,
            });
        } else {
            return Err(bad(
                blob,
                format!(
                    "is named by {} but is neither an image manifest nor an index",
                    Name(&parent)
                ),
            ));
        }
    }
    if found.is_empty() {
        // Docker 25 wrote `"manifests": null` when saving an untagged image.
        return Ok(Vec::new());
    }

    let ours: Vec<&FoundManifest> = found
        .iter()
        .filter(|m| m.config.blob.as_deref() == Some(config_name))
        .collect();
    if ours.is_empty() {
        return Err(ArchiveError::Mismatch {
            member: "index.json".into(),
            problem: format!(
                "leads to no manifest for the config {} that manifest.json names",
                Name(config_name)
            ),
        });
    }
    // Compared as sets: Docker 25 wrote the manifest's layers in map order,
    // and a layer repeated in the image once.
    let expected: HashSet<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
    let mut digests = Vec::new();
    for manifest in ours {
        let listed: HashSet<&str> = manifest.layers.iter().map(|l| l.digest.as_str()).collect();
        if listed != expected {
            return Err(ArchiveError::Mismatch {
                member: manifest.blob.clone(),
                problem: format!(
                    "lists {} layers that differ from the {} manifest.json lists",
                    manifest.layers.len(),
                    layers.len()
                ),
            });
        }
        for digest in &manifest.chain {
            if !digests.contains(digest) {
                digests.push(digest.clone());
            }
        }
    }
    Ok(digests)
}
