//! The archive's table of contents, built as entries stream past.
//!
//! For every member it keeps the kind, size, link target, sha256 and first
//! bytes (to recognise compressed layers), never the content, with two
//! exceptions: the few JSON documents the final check reads (manifest.json,
//! index.json, oci-layout, repositories, classic `<hex>.json` configs) and
//! the small blobs that turn out to be JSON (configs and OCI manifests,
//! unknown until manifest.json or index.json arrives, maybe last). Each is
//! capped at [`Limits::json`] and all of them together at [`Limits::budget`].
//!
//! Members whose name is a digest (`blobs/sha256/<hex>`, classic
//! `<hex>.json`) are checked against it the moment their last byte passes.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::error::ArchiveError;
use super::tarstream::{Entry, EntryKind, Sink};

/// Documents `docker save` writes at the archive root, read at the end.
pub(super) const DOCUMENTS: [&str; 4] =
    ["manifest.json", "index.json", "oci-layout", "repositories"];

/// How many first bytes of each member are kept (the longest magic number we
/// look for, xz's, is 6).
const HEAD: usize = 8;

/// Memory limits for the JSON documents kept until the end of the stream.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Largest single JSON document.
    pub json: u64,
    /// All kept documents together.
    pub budget: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            json: 8 << 20,
            budget: 64 << 20,
        }
    }
}

/// What the archive says about one member.
#[derive(Debug, Clone)]
pub(super) struct Member {
    pub kind: EntryKind,
    /// The raw link target, for links.
    pub link: String,
    pub size: u64,
    /// sha256 of the content: regular files, but for the large ones when
    /// [`Members::hash_large`] is off.
    pub digest: Option<[u8; 32]>,
    head: [u8; HEAD],
    head_len: usize,
}

impl Member {
    /// The first few bytes of the content.
    pub(super) fn head(&self) -> &[u8] {
        &self.head[..self.head_len]
    }
}

/// Whether a member's content is being kept.
#[derive(Debug)]
enum Keep {
    No,
    Yes(Vec<u8>),
    /// A small blob: kept if its first non-blank byte is `{`.
    Sniff(Vec<u8>),
}

#[derive(Debug)]
struct Current {
    name: String,
    member: Member,
    hasher: Option<Sha256>,
    keep: Keep,
    /// The digest the member's name promises.
    expected: Option<[u8; 32]>,
}

/// The table of contents; the [`Sink`] the tar parser feeds.
#[derive(Debug, Default)]
pub(super) struct Members {
    pub limits: Limits,
    /// Whether members too large to be JSON documents (the layers) are
    /// hashed too. Off, their digest is taken from their name or the
    /// config: for a daemon's save, which Docker checked as it wrote it.
    pub hash_large: bool,
    /// Every member by normalized name.
    pub by_name: HashMap<String, Member>,
    /// The kept JSON documents by normalized name.
    pub documents: HashMap<String, Vec<u8>>,
    /// Bytes of `documents` plus those being sniffed.
    reserved: u64,
    current: Option<Current>,
}

impl Members {
    pub(super) fn new(limits: Limits, hash_large: bool) -> Self {
        Members {
            limits,
            hash_large,
            ..Members::default()
        }
    }
}

impl Sink for Members {
    fn begin(&mut self, entry: Entry) -> Result<(), ArchiveError> {
        let name = normalize(&entry.name).map_err(|problem| ArchiveError::UnsafePath {
            member: entry.name.clone(),
            problem,
        })?;
        if name.is_empty() {
            if entry.kind == EntryKind::Directory {
                return Ok(()); // "./", the root itself
            }
            return Err(ArchiveError::UnsafePath {
                member: entry.name,
                problem: "has an empty name",
            });
        }
        if self.by_name.contains_key(&name) {
            return Err(ArchiveError::Duplicate { member: name });
        }
        let regular = entry.kind == EntryKind::Regular;
        let not_regular = |name: &str| ArchiveError::NotRegular {
            member: name.to_owned(),
            kind: entry.kind.describe(),
        };
        let small = entry.size <= self.limits.json;
        let (expected, keep) = if DOCUMENTS.contains(&name.as_str()) {
            if !regular {
                return Err(not_regular(&name));
            }
            if !small {
                return Err(ArchiveError::TooLarge {
                    member: name,
                    size: entry.size,
                    limit: self.limits.json,
                });
            }
            (None, Keep::Yes(Vec::new()))
        } else if name == "blobs" || name == "blobs/sha256" {
            (None, Keep::No)
        } else if name.starts_with("blobs/") {
            let digest = blob_digest(&name).ok_or_else(|| ArchiveError::BadBlobName {
                member: name.clone(),
            })?;
            if !regular {
                return Err(not_regular(&name));
            }
            (
                Some(digest),
                if small {
                    Keep::Sniff(Vec::new())
                } else {
                    Keep::No
                },
            )
        } else if let (Some(digest), true) = (classic_config_digest(&name), regular) {
            (
                Some(digest),
                if small {
                    Keep::Yes(Vec::new())
                } else {
                    Keep::No
                },
            )
        } else {
            (None, Keep::No)
        };
        if !matches!(keep, Keep::No) {
            self.reserved += entry.size;
            if self.reserved > self.limits.budget {
                return Err(ArchiveError::TooMuchJson {
                    limit: self.limits.budget,
                });
            }
        }
        self.current = Some(Current {
            name,
            member: Member {
                kind: entry.kind,
                link: entry.link,
                size: entry.size,
                digest: None,
                head: [0; HEAD],
                head_len: 0,
            },
            hasher: (regular && (small || self.hash_large)).then(Sha256::new),
            keep,
            expected,
        });
        Ok(())
    }

    fn data(&mut self, bytes: &[u8]) {
        let Some(cur) = &mut self.current else {
            return;
        };
        if let Some(hasher) = &mut cur.hasher {
            hasher.update(bytes);
        }
        let member = &mut cur.member;
        if member.head_len < HEAD {
            let take = (HEAD - member.head_len).min(bytes.len());
            member.head[member.head_len..member.head_len + take].copy_from_slice(&bytes[..take]);
            member.head_len += take;
        }
        match &mut cur.keep {
            Keep::No => {}
            Keep::Yes(buf) => buf.extend_from_slice(bytes),
            Keep::Sniff(buf) => match bytes.iter().find(|b| !b" \t\r\n".contains(b)) {
                Some(b'{') => {
                    let mut buf = std::mem::take(buf);
                    buf.reserve_exact(member.size as usize - buf.len());
                    buf.extend_from_slice(bytes);
                    cur.keep = Keep::Yes(buf);
                }
                Some(_) => {
                    self.reserved -= member.size;
                    cur.keep = Keep::No;
                }
                None => buf.extend_from_slice(bytes),
            },
        }
    }

    fn end(&mut self) -> Result<(), ArchiveError> {
        let Some(cur) = self.current.take() else {
            return Ok(());
        };
        let mut member = cur.member;
        member.digest = cur.hasher.map(|h| h.finalize().into());
        if let (Some(expected), Some(actual)) = (cur.expected, member.digest) {
            if actual != expected {
                return Err(ArchiveError::DigestMismatch {
                    member: cur.name,
                    expected: hex(&expected),
                    actual: hex(&actual),
                });
            }
        }
        match cur.keep {
            Keep::Yes(buf) => {
                self.documents.insert(cur.name.clone(), buf);
            }
            // Blank or empty: not a JSON document.
            Keep::Sniff(_) => self.reserved -= member.size,
            Keep::No => {}
        }
        self.by_name.insert(cur.name, member);
        Ok(())
    }
}

/// The canonical form of a member path: no empty or `.` components, no
/// leading `./` or trailing slash. Absolute paths and `..` are refused.
pub(super) fn normalize(raw: &str) -> Result<String, &'static str> {
    if raw.starts_with('/') {
        return Err("has an absolute path");
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("has a `..` component"),
            part => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

/// Where a symlink at `link` (normalized) pointing to `target` leads, or
/// `None` if that is outside the archive.
pub(super) fn link_target(link: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop(); // the link's own name: targets are relative to its directory
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// The digest in a `blobs/sha256/<hex>` name.
pub(super) fn blob_digest(name: &str) -> Option<[u8; 32]> {
    name.strip_prefix("blobs/sha256/").and_then(parse_hex)
}

/// The digest in a classic config name, `<hex>.json` at the root.
pub(super) fn classic_config_digest(name: &str) -> Option<[u8; 32]> {
    name.strip_suffix(".json").and_then(parse_hex)
}

/// 64 lowercase hex digits (the only spelling Docker's digests use).
pub(super) fn parse_hex(text: &str) -> Option<[u8; 32]> {
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

pub(super) fn hex(digest: &[u8; 32]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for &b in digest {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_and_escapes_refused() {
        assert_eq!(normalize("./a//b/./c/").unwrap(), "a/b/c");
        assert_eq!(normalize("manifest.json").unwrap(), "manifest.json");
        assert_eq!(normalize("./").unwrap(), "");
        assert_eq!(normalize("/etc/passwd"), Err("has an absolute path"));
        assert_eq!(normalize("a/../b"), Err("has a `..` component"));
        assert_eq!(normalize(".."), Err("has a `..` component"));
    }

    #[test]
    fn symlink_targets_resolve_inside_the_archive_only() {
        assert_eq!(
            link_target("b/layer.tar", "../a/layer.tar").unwrap(),
            "a/layer.tar"
        );
        assert_eq!(
            link_target("b/layer.tar", "layer2.tar").unwrap(),
            "b/layer2.tar"
        );
        assert_eq!(link_target("top", "./x").unwrap(), "x");
        assert_eq!(link_target("b/layer.tar", "../../etc/passwd"), None);
        assert_eq!(link_target("b/layer.tar", "/etc/passwd"), None);
    }

    #[test]
    fn digest_names() {
        let h = "a".repeat(64);
        assert_eq!(blob_digest(&format!("blobs/sha256/{h}")), Some([0xaa; 32]));
        assert_eq!(
            classic_config_digest(&format!("{h}.json")),
            Some([0xaa; 32])
        );
        assert_eq!(classic_config_digest(&format!("x/{h}.json")), None);
        assert_eq!(
            blob_digest(&format!("blobs/sha256/{}", "A".repeat(64))),
            None
        );
        assert_eq!(blob_digest(&format!("blobs/sha256/{h}0")), None);
        assert_eq!(hex(&[0xaa; 32]), h);
        let mixed: [u8; 32] = std::array::from_fn(|i| i as u8 * 7);
        assert_eq!(parse_hex(&hex(&mixed)), Some(mixed));
    }

    #[test]
    fn small_blobs_are_kept_only_when_they_look_like_json() {
        let mut members = Members::new(Limits::default(), true);
        let json = b"  {\"a\":1}";
        let not_json = b"\x1f\x8b\x08 not json";
        for content in [&json[..], &not_json[..]] {
            let name = format!("blobs/sha256/{}", hex(&Sha256::digest(content).into()));
            members
                .begin(Entry {
                    name: name.clone(),
                    link: String::new(),
                    kind: EntryKind::Regular,
                    size: content.len() as u64,
                })
                .unwrap();
            for byte in content.chunks(1) {
                members.data(byte);
            }
            members.end().unwrap();
            assert_eq!(members.by_name[&name].head(), &content[..8]);
        }
        assert_eq!(members.documents.len(), 1);
        assert_eq!(members.documents.values().next().unwrap(), json);
        assert_eq!(members.reserved, json.len() as u64);
    }
}
