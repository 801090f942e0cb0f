//! The layer index: which layers an image collection holds, and where,
//! so that a later upload of another image can take a layer's blocks from
//! it instead of sending them again (issue 16).
//!
//! An image collection this tool writes with layer-aligned blocks (every
//! `docker://` pull; `--reuse-layers` for the other forms) records two
//! properties:
//!
//! ```text
//! "docker-image-layers": ["sha256:<digest>", ...]
//!     every layer content the file holds: the diff_id of an uncompressed
//!     layer (whatever form it came from, so a pulled layer and the same
//!     layer saved by a daemon are one), the blob digest of a layer kept
//!     compressed. A list, so that the API server finds the collections
//!     holding a layer: ["properties.docker-image-layers", "contains", D].
//! "docker-image-layer-blocks": {"sha256:<digest>": {
//!     "member": "blobs/sha256/<hex>",   the tar member holding it
//!     "offset": N,                      where its content starts in the file
//!     "size": N,                        its length
//!     "blocks": ["<md5>+<size>", ...]   the Keep blocks it is, exactly
//! }}
//! ```
//!
//! Names of their own, beside `docker-image-repo-tag` and
//! `docker-image-manifest-digest`.
//!
//! # Why a reused layer is the right bytes
//!
//! A layer's entry is written only by an upload that read the layer's bytes
//! and checked them against the digest (the registry source hashes every
//! layer against its diff_id while it streams; `--reuse-layers` writes
//! entries only for layers the archive check or Docker itself verified).
//! Keep names blocks by their content, so the recorded locator list pins
//! the bytes. Reuse ([`find_layer`]) trusts that exact list and nothing
//! looser:
//!
//! - the collection must be readable and not trashed (the API server's
//!   own filter), and its manifest must hold exactly those blocks, whole,
//!   at the recorded offset of its one `sha256:<id>.tar`: an index copied
//!   onto another collection, or edited, does not match its manifest;
//! - the tar header just before the content (in the small block before the
//!   layer's first block, read back from Keep: one small GET, which also
//!   shows Keep still has that collection's blocks) must name the recorded
//!   member with the recorded size, and, for a member named by a digest
//!   (`blobs/sha256/<hex>`), that digest must be the layer's;
//! - where the bytes will not be read again ([`Reading::Blind`]: a
//!   registry pull takes the blocks instead of downloading the layer), the
//!   member must be named by that digest: the header then ties the blocks
//!   to the digest, which an entry for a member named `<v1 id>/layer.tar`
//!   (Docker 24 and older) cannot do. Uploads that read the bytes anyway
//!   ([`Reading::Checked`]: `--reuse-layers`) take any entry, since they
//!   keep a block only when the bytes read have its md5 and size.
//!
//! The signed locators are taken from the manifest the API server has just
//! sent, so their signatures are fresh. Anything that does not match is
//! skipped (the layer is uploaded), never an error. Should the API server
//! still refuse them when the new collection is created (a signature that
//! expired in between), the caller uploads again without reuse.
//!
//! What this does not prove is that a collection's owner recorded the
//! truth: someone who can write a collection you can read could record
//! blocks of their own under a layer's digest, with a matching tar header.
//! The blocks then fail the `diff_id` check Docker (and containers/image)
//! make when loading the image, so the harm is an image that does not
//! load, not one that runs other code; the readable collections are the
//! same ones whose tags the cluster's image resolution already trusts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::arvados::api::{ApiClient, ListParams};
use crate::arvados::keep::KeepClient;
use crate::arvados::manifest::{image_file_of, Locator};
use crate::error::Result;
use crate::log;

/// The collection property listing the layer digests a file holds.
pub const LAYERS: &str = "docker-image-layers";

/// The collection property saying where each of them lies.
pub const LAYER_BLOCKS: &str = "docker-image-layer-blocks";

/// Tar headers are one 512-byte block.
const TAR_BLOCK: usize = 512;

/// At most this many collections holding a layer are looked at.
const CANDIDATES: u32 = 8;

/// One layer's place in an image file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerEntry {
    /// The tar member holding the layer (`blobs/sha256/<hex>`,
    /// `<v1 id>/layer.tar`).
    pub member: String,
    /// Where its content starts in the file.
    pub offset: u64,
    /// Its length.
    pub size: u64,
    /// The Keep blocks it is, in order, as `<md5>+<size>`.
    pub blocks: Vec<String>,
}

/// The layers of one image file, by digest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayerIndex {
    pub layers: BTreeMap<String, LayerEntry>,
}

/// Where a layer lies in a file, before its blocks are known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerSpan {
    pub digest: String,
    pub member: String,
    pub offset: u64,
    pub size: u64,
}

impl LayerIndex {
    /// The index of a file whose blocks are `locators` (in file order,
    /// signed or not), for the layers at `spans`. A layer whose content is
    /// not exactly whole blocks (it shares one with other bytes) is left
    /// out: its blocks are not its own.
    pub fn build(locators: &[String], spans: &[LayerSpan]) -> LayerIndex {
        let mut starts = Vec::with_capacity(locators.len());
        let mut bare = Vec::with_capacity(locators.len());
        let mut at = 0u64;
        for text in locators {
            let Ok(locator) = Locator::parse(text) else {
                return LayerIndex::default();
            };
            starts.push(at);
            at += locator.size();
            bare.push(locator.bare());
        }
        let mut layers = BTreeMap::new();
        for span in spans {
            if span.size == 0 {
                continue;
            }
            if let Some(blocks) = whole_blocks(&starts, &bare, span.offset, span.size) {
                layers.insert(
                    span.digest.clone(),
                    LayerEntry {
                        member: span.member.clone(),
                        offset: span.offset,
                        size: span.size,
                        blocks,
                    },
                );
            }
        }
        LayerIndex { layers }
    }

    /// The two collection properties (none for an empty index).
    pub fn properties(&self) -> Map<String, Value> {
        let mut props = Map::new();
        if self.layers.is_empty() {
            return props;
        }
        props.insert(LAYERS.into(), json!(self.layers.keys().collect::<Vec<_>>()));
        props.insert(
            LAYER_BLOCKS.into(),
            serde_json::to_value(&self.layers).expect("entries serialize"),
        );
        props
    }

    /// The entry for `digest` in a collection's properties, if the
    /// properties hold a well-formed one (anything else: `None`).
    pub fn entry_in(properties: &Value, digest: &str) -> Option<LayerEntry> {
        let listed = properties.get(LAYERS)?.as_array()?;
        if !listed.iter().any(|d| d.as_str() == Some(digest)) {
            return None;
        }
        let entry: LayerEntry =
            serde_json::from_value(properties.get(LAYER_BLOCKS)?.get(digest)?.clone()).ok()?;
        let mut total = 0u64;
        for block in &entry.blocks {
            let locator = Locator::parse(block).ok()?;
            if locator.bare() != *block {
                return None;
            }
            total += locator.size();
        }
        (total == entry.size && entry.size > 0).then_some(entry)
    }
}

/// The bare locators of the blocks covering exactly `[offset, offset +
/// size)`, if that range is whole blocks.
fn whole_blocks(starts: &[u64], bare: &[String], offset: u64, size: u64) -> Option<Vec<String>> {
    let first = starts.iter().position(|&s| s == offset)?;
    let end = offset + size;
    let mut blocks = Vec::new();
    for (i, b) in bare.iter().enumerate().skip(first) {
        let next = starts.get(i + 1).copied();
        blocks.push(b.clone());
        let block_end = match next {
            Some(n) => n,
            None => starts[i] + Locator::parse(b).ok()?.size(),
        };
        if block_end == end {
            return Some(blocks);
        }
        if block_end > end {
            return None;
        }
    }
    None
}

/// How the caller uses a found layer's blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// In place of the layer, unread (a registry pull).
    Blind,
    /// Only where the bytes read match them (`--reuse-layers`).
    Checked,
}

/// Whether a tar member is the blob of `digest` by its name.
fn named_by(member: &str, digest: &str) -> bool {
    member
        .strip_prefix("blobs/sha256/")
        .is_some_and(|hex| digest.strip_prefix("sha256:") == Some(hex))
}

/// A layer found in a readable image collection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundLayer {
    /// The collection it was found in.
    pub collection: String,
    /// Its blocks' signed locators, from that collection's manifest.
    pub locators: Vec<String>,
    pub size: u64,
}

/// The collection fields a lookup reads.
#[derive(Deserialize)]
struct Candidate {
    uuid: String,
    #[serde(default)]
    manifest_text: Option<String>,
    #[serde(default)]
    properties: Value,
}

/// A readable, untrashed image collection holding the layer `digest` by
/// the checks above, with its blocks' signed locators; `None` when there
/// is none (or none passes). Errors only when the API server does.
pub fn find_layer(
    api: &ApiClient,
    keep: &KeepClient,
    digest: &str,
    reading: Reading,
) -> Result<Option<FoundLayer>> {
    let params = ListParams {
        filters: vec![json!([format!("properties.{LAYERS}"), "contains", digest])],
        order: Some(vec!["modified_at desc".into(), "uuid asc".into()]),
        select: Some(
            ["uuid", "manifest_text", "properties"]
                .map(String::from)
                .to_vec(),
        ),
        limit: Some(CANDIDATES),
        ..ListParams::default()
    };
    let found = api.list::<Candidate>("collections", &params)?;
    for candidate in found.items {
        match check(&candidate, digest, keep, reading) {
            Ok(found) => return Ok(Some(found)),
            Err(why) => log::debug(log::KEEPDOCKER, || {
                format!("layer {digest}: not taken from {}: {why}", candidate.uuid)
            }),
        }
    }
    Ok(None)
}

/// The checks of the module doc, on one candidate.
fn check(
    candidate: &Candidate,
    digest: &str,
    keep: &KeepClient,
    reading: Reading,
) -> std::result::Result<FoundLayer, String> {
    let entry = LayerIndex::entry_in(&candidate.properties, digest)
        .ok_or("its index has no well-formed entry for it")?;
    if reading == Reading::Blind && !named_by(&entry.member, digest) {
        return Err(format!(
            "its member {:?} is not named by the digest, and the layer would not be read",
            entry.member
        ));
    }
    let manifest = candidate.manifest_text.as_deref().ok_or("no manifest")?;
    let file = image_file_of(manifest)?;
    let signed = layer_blocks(&file.locators, &file.segments, &entry)?;
    let header = header_before(&file.locators, &file.segments, &entry, keep)?;
    check_header(&header, &entry, digest)?;
    Ok(FoundLayer {
        collection: candidate.uuid.clone(),
        locators: signed,
        size: entry.size,
    })
}

/// The stream position where the file's byte `offset` lies, for a file
/// that is one contiguous segment.
fn stream_position(segments: &[(u64, u64)], offset: u64) -> std::result::Result<u64, String> {
    match segments {
        [(start, len)] if offset <= *len => Ok(start + offset),
        [_] => Err("the recorded offset is past the file's end".into()),
        _ => Err("the file is not one contiguous segment".into()),
    }
}

/// The signed locators of the entry's blocks, if the manifest holds
/// exactly them at the recorded place.
fn layer_blocks(
    locators: &[Locator],
    segments: &[(u64, u64)],
    entry: &LayerEntry,
) -> std::result::Result<Vec<String>, String> {
    let start = stream_position(segments, entry.offset)?;
    let mut at = 0u64;
    let mut first = None;
    for (i, l) in locators.iter().enumerate() {
        if at == start {
            first = Some(i);
            break;
        }
        at += l.size();
    }
    let first = first.ok_or("no block starts at the recorded offset")?;
    let run = locators
        .get(first..first + entry.blocks.len())
        .ok_or("the manifest ends before the recorded blocks")?;
    if run
        .iter()
        .map(Locator::bare)
        .ne(entry.blocks.iter().cloned())
    {
        return Err("the manifest's blocks there are not the recorded ones".into());
    }
    Ok(run.iter().map(Locator::to_string).collect())
}

/// The 512 bytes before the layer's content: read from the block that
/// ends there.
fn header_before(
    locators: &[Locator],
    segments: &[(u64, u64)],
    entry: &LayerEntry,
    keep: &KeepClient,
) -> std::result::Result<Vec<u8>, String> {
    let start = stream_position(segments, entry.offset)?;
    let mut at = 0u64;
    for l in locators {
        let end = at + l.size();
        if end == start {
            if l.size() < TAR_BLOCK as u64 {
                return Err("the block before the layer is shorter than a tar header".into());
            }
            let block = keep
                .get_block(&l.to_string())
                .map_err(|e| format!("its header block cannot be read: {e}"))?;
            if block.len() as u64 != l.size() {
                return Err("its header block has the wrong size".into());
            }
            return Ok(block[block.len() - TAR_BLOCK..].to_vec());
        }
        at = end;
    }
    Err("no block ends where the layer starts".into())
}

/// The tar header names the recorded member with the recorded size; a
/// member named by a digest names this one.
fn check_header(
    header: &[u8],
    entry: &LayerEntry,
    digest: &str,
) -> std::result::Result<(), String> {
    let header = tar::Header::from_byte_slice(header);
    header
        .cksum()
        .ok()
        .filter(|&sum| sum == checksum(header.as_bytes()))
        .ok_or("the bytes before the layer are not a tar header")?;
    let path = header.path_bytes();
    if path.as_ref() != entry.member.as_bytes() {
        return Err(format!(
            "the header names {:?}, not {:?}",
            String::from_utf8_lossy(&path),
            entry.member
        ));
    }
    if header.entry_size().ok() != Some(entry.size) {
        return Err("the header gives another size".into());
    }
    if let Some(hex) = entry.member.strip_prefix("blobs/sha256/") {
        if format!("sha256:{hex}") != digest {
            return Err(format!("the member is blob sha256:{hex}, not {digest}"));
        }
    }
    Ok(())
}

/// A tar header's checksum: its bytes summed with the checksum field read
/// as spaces.
fn checksum(bytes: &[u8; 512]) -> u32 {
    bytes
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u32
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arvados::manifest::md5_hex;

    fn loc(data: &[u8]) -> String {
        format!("{}+{}", md5_hex(data), data.len())
    }

    fn span(digest: &str, offset: u64, size: u64) -> LayerSpan {
        LayerSpan {
            digest: digest.into(),
            member: format!("blobs/sha256/{}", digest.trim_start_matches("sha256:")),
            offset,
            size,
        }
    }

    #[test]
    fn only_layers_that_are_whole_blocks_are_indexed() {
        let blocks = [
            loc(&[1; 1024]),
            loc(&[2; 4096]),
            loc(&[3; 100]),
            loc(&[4; 512]),
        ];
        let signed: Vec<String> = blocks.iter().map(|b| format!("{b}+Asig@1")).collect();
        let index = LayerIndex::build(
            &signed,
            &[
                span("sha256:aa", 1024, 4196), // blocks 1 and 2
                span("sha256:bb", 1024, 4000), // ends inside block 1
                span("sha256:cc", 1000, 24),   // starts inside block 0
            ],
        );
        assert_eq!(index.layers.len(), 1);
        let entry = &index.layers["sha256:aa"];
        assert_eq!(entry.blocks, [blocks[1].clone(), blocks[2].clone()]);
        let props = Value::Object(index.properties());
        assert_eq!(props[LAYERS], json!(["sha256:aa"]));
        assert_eq!(
            LayerIndex::entry_in(&props, "sha256:aa"),
            Some(entry.clone())
        );
        assert_eq!(LayerIndex::entry_in(&props, "sha256:bb"), None);
    }

    #[test]
    fn malformed_entries_are_no_entries() {
        let good = json!({
            LAYERS: ["sha256:aa"],
            LAYER_BLOCKS: {"sha256:aa": {"member": "m", "offset": 512, "size": 10,
                                         "blocks": [loc(&[0; 10])]}},
        });
        assert!(LayerIndex::entry_in(&good, "sha256:aa").is_some());
        let mut wrong_size = good.clone();
        wrong_size[LAYER_BLOCKS]["sha256:aa"]["size"] = json!(11);
        let mut signed = good.clone();
        signed[LAYER_BLOCKS]["sha256:aa"]["blocks"] = json!([format!("{}+A1@2", loc(&[0; 10]))]);
        let mut unlisted = good.clone();
        unlisted[LAYERS] = json!([]);
        let mut not_a_list = good.clone();
        not_a_list[LAYER_BLOCKS]["sha256:aa"]["blocks"] = json!("x");
        for bad in [
            wrong_size,
            signed,
            unlisted,
            not_a_list,
            json!(null),
            json!({LAYERS: "sha256:aa"}),
        ] {
            assert_eq!(LayerIndex::entry_in(&bad, "sha256:aa"), None, "{bad}");
        }
    }

    #[test]
    fn the_manifest_must_hold_the_recorded_blocks_at_the_recorded_place() {
        let header = Locator::parse(&loc(&[7; 1024])).unwrap();
        let a = Locator::parse(&loc(&[1; 4096])).unwrap();
        let b = Locator::parse(&loc(&[2; 100])).unwrap();
        let locators = vec![header.clone(), a.clone(), b.clone()];
        let entry = LayerEntry {
            member: "m".into(),
            offset: 1024,
            size: 4196,
            blocks: vec![a.bare(), b.bare()],
        };
        let whole = [(0, 1024 + 4196)];
        assert_eq!(
            layer_blocks(&locators, &whole, &entry).unwrap(),
            [a.to_string(), b.to_string()]
        );
        let moved = LayerEntry {
            offset: 0,
            ..entry.clone()
        };
        assert!(layer_blocks(&locators, &whole, &moved).is_err());
        let other = LayerEntry {
            blocks: vec![a.bare(), header.bare()],
            ..entry.clone()
        };
        assert!(layer_blocks(&locators, &whole, &other).is_err());
        assert!(layer_blocks(&locators, &[(0, 10), (20, 10)], &entry).is_err());
    }

    #[test]
    fn blind_reuse_needs_a_member_named_by_the_digest() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        assert!(named_by(
            &format!("blobs/sha256/{}", "ab".repeat(32)),
            &digest
        ));
        assert!(!named_by(
            &format!("blobs/sha256/{}", "cd".repeat(32)),
            &digest
        ));
        assert!(!named_by("0123abcd/layer.tar", &digest));
        assert!(!named_by(&digest, &digest));
    }

    #[test]
    fn the_header_must_name_the_member_its_size_and_digest() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let member = format!("blobs/sha256/{}", "ab".repeat(32));
        let mut h = tar::Header::new_ustar();
        h.set_path(&member).unwrap();
        h.set_size(4196);
        h.set_cksum();
        let entry = LayerEntry {
            member: member.clone(),
            offset: 1024,
            size: 4196,
            blocks: vec![],
        };
        assert_eq!(check_header(h.as_bytes(), &entry, &digest), Ok(()));
        let other_digest = format!("sha256:{}", "cd".repeat(32));
        assert!(check_header(h.as_bytes(), &entry, &other_digest).is_err());
        let bigger = LayerEntry {
            size: 4197,
            ..entry.clone()
        };
        assert!(check_header(h.as_bytes(), &bigger, &digest).is_err());
        let mut corrupt = *h.as_bytes();
        corrupt[10] ^= 1;
        assert!(check_header(&corrupt, &entry, &digest).is_err());
        assert!(check_header(&[0; 512], &entry, &digest).is_err());
    }
}
