//! Everything that can be wrong with an image archive, each as one line that
//! names the archive member (or byte offset) at fault and what to do about it.
//!
//! The messages do not name the archive file itself: the caller knows whether
//! it was a file, standard input or `docker save`, and prefixes that.

use std::fmt;

/// Why an image archive was refused. `Display` gives one clear line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveError {
    /// The stream holds no bytes at all.
    Empty,
    /// The first 512 bytes are not a tar header.
    NotTar,
    /// The stream is a compressed file (`docker save | gzip`), not a tar.
    Compressed { format: &'static str },
    /// A tar header that cannot be trusted: bad checksum, a size that is not
    /// a number or is absurd, a malformed PAX record...
    BadHeader {
        offset: u64,
        member: Option<String>,
        problem: String,
    },
    /// A member type `docker save` never writes and that we will not guess
    /// the meaning of (GNU sparse or multi-volume files).
    Unsupported { member: String, what: &'static str },
    /// The stream stopped before the tar end-of-archive marker.
    Truncated { offset: u64, context: String },
    /// Non-zero bytes after the end-of-archive marker.
    TrailingData { offset: u64 },
    /// An absolute path, a `..` component or an empty name.
    UnsafePath {
        member: String,
        problem: &'static str,
    },
    /// The same member name twice: readers would disagree on which one counts.
    Duplicate { member: String },
    /// A directory, link or device where a regular file is needed.
    NotRegular { member: String, kind: &'static str },
    /// A symlink or hard link that leads nowhere useful.
    BrokenLink {
        member: String,
        target: String,
        problem: &'static str,
    },
    /// A JSON document (manifest.json, a config...) too big to be plausible.
    TooLarge {
        member: String,
        size: u64,
        limit: u64,
    },
    /// Too many small JSON documents to keep in memory.
    TooMuchJson { limit: u64 },
    /// A member under `blobs/` whose name is not `blobs/sha256/<64 hex>`.
    BadBlobName { member: String },
    /// A member whose content does not hash to the digest in its name.
    DigestMismatch {
        member: String,
        expected: String,
        actual: String,
    },
    /// No `manifest.json` in the archive.
    NoManifest,
    /// `manifest.json` lists zero or several images.
    ImageCount { count: usize },
    /// A JSON member that does not parse.
    InvalidJson { member: String, detail: String },
    /// A JSON member that parses but does not have the expected shape.
    BadMetadata { member: String, problem: String },
    /// A member named by the metadata is not in the archive.
    Missing {
        member: String,
        referenced_by: String,
    },
    /// manifest.json and the config disagree on the number of layers.
    LayerCount {
        config: String,
        layers: usize,
        diff_ids: usize,
    },
    /// An uncompressed layer whose sha256 is not its `rootfs.diff_ids` entry.
    LayerMismatch {
        member: String,
        index: usize,
        diff_id: String,
        actual: String,
    },
    /// A compressed layer outside `blobs/`: nothing names its digest, and we
    /// cannot check it against `rootfs.diff_ids` without decompressing it.
    CompressedLayer {
        member: String,
        index: usize,
        format: &'static str,
    },
    /// Two pieces of metadata disagree (OCI index and manifest.json, a
    /// descriptor size and the blob it describes...).
    Mismatch { member: String, problem: String },
}

impl std::error::Error for ArchiveError {}

/// Writes a member name between backticks, escaping control characters so a
/// hostile name cannot break the message line.
pub(super) struct Name<'a>(pub &'a str);

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`")?;
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        f.write_str("`")
    }
}

const DAMAGED: &str = "the archive is damaged; save the image again with `docker save`";

impl fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ArchiveError::*;
        match self {
            Empty => write!(
                f,
                "not a tar archive: the input is empty (was it made with `docker save`?)"
            ),
            NotTar => write!(f, "not a tar archive (was it made with `docker save`?)"),
            Compressed { format } => write!(
                f,
                "not a tar archive: the input is {format}-compressed; decompress it first, \
                 arv-keepdocker stores the plain tar that `docker save` writes"
            ),
            BadHeader {
                offset,
                member,
                problem,
            } => {
                write!(f, "corrupt tar header at byte {offset}")?;
                if let Some(member) = member {
                    write!(f, " (member {})", Name(member))?;
                }
                write!(f, ": {problem}; {DAMAGED}")
            }
            Unsupported { member, what } => write!(
                f,
                "archive member {} is {what}, which `docker save` never writes; \
                 refusing the archive",
                Name(member)
            ),
            Truncated { offset, context } => write!(
                f,
                "the archive is truncated at byte {offset}: {context} \
                 (was `docker save` interrupted, or the file cut short?)"
            ),
            TrailingData { offset } => write!(
                f,
                "unexpected data at byte {offset}, after the end of the tar archive \
                 (two archives concatenated?); arv-keepdocker uploads a single \
                 `docker save` archive"
            ),
            UnsafePath { member, problem } => write!(
                f,
                "archive member {} {problem}; a `docker save` archive only holds \
                 relative paths, refusing it",
                Name(member)
            ),
            Duplicate { member } => write!(
                f,
                "archive member {} appears twice; `docker save` writes each member once, \
                 refusing the ambiguous archive",
                Name(member)
            ),
            NotRegular { member, kind } => write!(
                f,
                "archive member {} is a {kind}, expected a regular file; {DAMAGED}",
                Name(member)
            ),
            BrokenLink {
                member,
                target,
                problem,
            } => write!(
                f,
                "archive member {} is a link to {}, which {problem}; {DAMAGED}",
                Name(member),
                Name(target)
            ),
            TooLarge {
                member,
                size,
                limit,
            } => write!(
                f,
                "archive member {} is {size} bytes, over the {} MiB limit for a JSON \
                 document; this is not a `docker save` archive",
                Name(member),
                limit >> 20
            ),
            TooMuchJson { limit } => write!(
                f,
                "the archive holds more than {} MiB of small JSON documents; a `docker save` \
                 archive of one image holds a few KiB, refusing it",
                limit >> 20
            ),
            BadBlobName { member } => write!(
                f,
                "archive member {} is not a blob arv-keepdocker can check: expected \
                 `blobs/sha256/` followed by 64 lowercase hex digits",
                Name(member)
            ),
            DigestMismatch {
                member,
                expected,
                actual,
            } => write!(
                f,
                "archive member {} is corrupt: its name says sha256:{expected} but its \
                 content hashes to sha256:{actual}; {DAMAGED}",
                Name(member)
            ),
            NoManifest => write!(
                f,
                "not a Docker image archive: it has no manifest.json (was it made with \
                 `docker save`? archives from Docker before 1.10 are not supported)"
            ),
            ImageCount { count: 0 } => write!(
                f,
                "manifest.json lists no image; arv-keepdocker uploads exactly one image \
                 per collection"
            ),
            ImageCount { count } => write!(
                f,
                "the archive holds {count} images; arv-keepdocker uploads one image per \
                 collection (save one image per archive: `docker save IMAGE`)"
            ),
            InvalidJson { member, detail } => write!(
                f,
                "archive member {} is not valid JSON ({detail}); {DAMAGED}",
                Name(member)
            ),
            BadMetadata { member, problem } => write!(
                f,
                "archive member {} {problem}; this is not an archive `docker save` wrote",
                Name(member)
            ),
            Missing {
                member,
                referenced_by,
            } => write!(
                f,
                "archive member {}, named by {referenced_by}, is not in the archive; \
                 the archive is incomplete, save the image again with `docker save`",
                Name(member)
            ),
            LayerCount {
                config,
                layers,
                diff_ids,
            } => write!(
                f,
                "manifest.json lists {layers} layers but the image config {} lists \
                 {diff_ids} in rootfs.diff_ids; {DAMAGED}",
                Name(config)
            ),
            LayerMismatch {
                member,
                index,
                diff_id,
                actual,
            } => write!(
                f,
                "layer {index} {} is corrupt: its content hashes to {actual} but the image \
                 config expects {diff_id} (rootfs.diff_ids[{index}]); {DAMAGED}",
                Name(member)
            ),
            CompressedLayer {
                member,
                index,
                format,
            } => write!(
                f,
                "layer {index} {} is {format}-compressed; arv-keepdocker checks each layer \
                 of a classic archive against the config's rootfs.diff_ids and needs it \
                 uncompressed, as `docker save` writes it",
                Name(member)
            ),
            Mismatch { member, problem } => {
                write!(f, "archive member {} {problem}; {DAMAGED}", Name(member))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_and_control_characters_escaped() {
        let e = ArchiveError::Duplicate {
            member: "a\nb".into(),
        };
        let text = e.to_string();
        assert!(
            text.starts_with("archive member `a\\nb` appears twice;"),
            "{text}"
        );
        assert!(!text.contains('\n'));
    }

    #[test]
    fn image_count_messages() {
        assert_eq!(
            ArchiveError::ImageCount { count: 2 }.to_string(),
            "the archive holds 2 images; arv-keepdocker uploads one image per collection \
             (save one image per archive: `docker save IMAGE`)"
        );
        assert!(ArchiveError::ImageCount { count: 0 }
            .to_string()
            .starts_with("manifest.json lists no image"));
    }

    #[test]
    fn not_tar_message_matches_the_brief() {
        assert_eq!(
            ArchiveError::NotTar.to_string(),
            "not a tar archive (was it made with `docker save`?)"
        );
    }
}
