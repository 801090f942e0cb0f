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

    /// SHA-256 written out from FIPS 180-4, slow and plain: the reference
    /// the sha2 crate (its SHA-NI code where the CPU has it) is checked
    /// against.
    fn reference_sha256(data: &[u8]) -> [u8; 32] {
        // The first 32 bits of the fractional parts of the cube roots of
        // the first 64 primes, and of the square roots of the first 8.
        let primes: Vec<u64> = (2u64..)
            .filter(|n| (2..*n).take_while(|d| d * d <= *n).all(|d| n % d != 0))
            .take(64)
            .collect();
        let frac = |x: f64| ((x - x.floor()) * 4_294_967_296.0) as u32;
        let k: Vec<u32> = primes.iter().map(|&p| frac((p as f64).cbrt())).collect();
        let mut h: Vec<u32> = primes[..8]
            .iter()
            .map(|&p| frac((p as f64).sqrt()))
            .collect();
        let mut msg = data.to_vec();
        msg.push(0x80);
        while msg.len() % 64 != 56 {
            msg.push(0);
        }
        msg.extend_from_slice(&(data.len() as u64 * 8).to_be_bytes());
        for chunk in msg.chunks(64) {
            let mut w: Vec<u32> = chunk
                .chunks(4)
                .map(|b| u32::from_be_bytes(b.try_into().unwrap()))
                .collect();
            for i in 16..64 {
                let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
                let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
                w.push(
                    w[i - 16]
                        .wrapping_add(s0)
                        .wrapping_add(w[i - 7])
                        .wrapping_add(s1),
                );
            }
            let mut v = h.clone();
            for i in 0..64 {
                let (a, b, c, e, f, g) = (v[0], v[1], v[2], v[4], v[5], v[6]);
                let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
                let ch = (e & f) ^ (!e & g);
                let t1 = v[7]
                    .wrapping_add(s1)
                    .wrapping_add(ch)
                    .wrapping_add(k[i])
                    .wrapping_add(w[i]);
                let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
                let maj = (a & b) ^ (a & c) ^ (b & c);
                v.rotate_right(1);
                v[4] = v[4].wrapping_add(t1);
                v[0] = t1.wrapping_add(s0).wrapping_add(maj);
            }
            for (x, y) in h.iter_mut().zip(v) {
                *x = x.wrapping_add(y);
            }
        }
        std::array::from_fn(|i| h[i / 4].to_be_bytes()[i % 4])
    }

    #[test]
    fn sha256_nist_vectors() {
        let million_a = vec![b'a'; 1_000_000];
        for (input, digest) in [
            (&b""[..], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
            (
                b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
                "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
            ),
            (
                &million_a,
                "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
            ),
        ] {
            assert_eq!(hex(&Sha256::digest(input).into()), digest);
            assert_eq!(hex(&reference_sha256(input)), digest);
        }
    }

    #[test]
    fn sha256_matches_the_reference_on_random_inputs_fed_in_pieces() {
        // Members are hashed piece by piece as tar records pass: every
        // length across the first padding boundaries, then larger ones,
        // each fed in uneven pieces.
        let mut lengths: Vec<usize> = (0..=300).collect();
        for base in [4096, 65_536, 1 << 20] {
            lengths.extend([base - 65, base - 1, base, base + 1, base + 55, base + 56]);
        }
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let data: Vec<u8> = (0..*lengths.iter().max().unwrap())
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        for len in lengths {
            let part = &data[..len];
            let mut hasher = Sha256::new();
            for piece in part.chunks(1 + len % 509) {
                hasher.update(piece);
            }
            let digest: [u8; 32] = hasher.finalize().into();
            assert_eq!(digest, reference_sha256(part), "length {len}");
        }
    }
}
