//! The archive source: a file or standard input, opened, looked at (a file
//! only: its headers, manifest.json and config) and streamed once into
//! Keep through the archive checker. `docker save` streams the same way.
//!
//! With `--reuse-layers` the stream is cut into layer-aligned pieces as it
//! is read ([`Splitter`]: each large member's content is blocks of its
//! own), the layers are recorded in the layer index, and blocks of layers
//! a readable collection already holds are not sent: the layers known up
//! front (a file's config, the daemon's diff_ids), and the digest-named
//! blobs of an OCI layout as they begin, are looked up ([`LayerPool`]), and
//! a block just read is taken from the pool only when its md5 and size are
//! a found block's, so a wrong index can never put wrong bytes in the
//! image. A resume checkpoint works with it as without: it keys blocks by
//! their number (which the same file always cuts the same way; the
//! checkpoint's "offset" is then that number times 64 MiB), and its blocks
//! are taken by the same md5 and size check, so a checkpoint of the other
//! layout only costs an upload.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

pub use super::checkpoint::Checkpoint;
use super::checkpoint::State;
use super::layers::{self, LayerIndex, LayerSpan};
use crate::arvados::api::ApiClient;
use crate::arvados::keep::KeepClient;
use crate::arvados::manifest::Locator;
use crate::arvados::upload::{Event, Piece, Reuse, Uploaded};
use crate::docker::archive::{
    self, ArchiveChecker, ArchiveError, ImageArchive, Peek, PieceKind, Span, Splitter, Tee,
};
use crate::docker::cli::{self as docker_cli, DockerError};
use crate::error::{Error, Result};
use crate::log;
use crate::progress::{Reporter, Total};
use crate::request::{Input, Progress, RepoTag};

/// An opened archive.
pub enum ArchiveInput {
    /// A file; `size` is known, so progress shows a percentage.
    File {
        path: PathBuf,
        file: File,
        size: u64,
    },
    /// A stream read once: standard input, or a library caller's reader.
    Stream {
        what: String,
        reader: Box<dyn Read + Send>,
    },
}

impl ArchiveInput {
    /// Opens a file or standard input.
    pub fn open(input: &Input) -> Result<ArchiveInput> {
        match input {
            Input::Stdin => Ok(ArchiveInput::Stream {
                what: "standard input".to_string(),
                reader: Box::new(io::stdin()),
            }),
            Input::File(path) => {
                let fail = |source| Error::Input {
                    what: path.display().to_string(),
                    source,
                };
                let file = File::open(path).map_err(fail)?;
                let meta = file.metadata().map_err(fail)?;
                if meta.is_dir() {
                    return Err(fail(io::Error::other("it is a directory")));
                }
                Ok(ArchiveInput::File {
                    path: path.clone(),
                    size: meta.len(),
                    file,
                })
            }
            other => Err(Error::Input {
                what: format!("{other:?}"),
                source: io::Error::other("not an archive source"),
            }),
        }
    }

    /// How messages name the source.
    pub fn what(&self) -> String {
        match self {
            ArchiveInput::File { path, .. } => path.display().to_string(),
            ArchiveInput::Stream { what, .. } => what.clone(),
        }
    }

    /// The image id and RepoTags of a regular file, from its headers, its
    /// manifest.json and its config only; the file is rewound after.
    pub fn peek(&mut self) -> Option<Peek> {
        let ArchiveInput::File { file, .. } = self else {
            return None;
        };
        if !file.metadata().ok()?.is_file() {
            return None;
        }
        let found = archive::peek(&mut *file);
        file.seek(SeekFrom::Start(0)).ok()?;
        found
    }

    /// The layer diff_ids a regular file's config lists (nothing for a
    /// stream, or a file whose config cannot be read); the file is rewound
    /// after.
    pub fn diff_ids(&mut self) -> Vec<String> {
        let ArchiveInput::File { file, .. } = self else {
            return Vec::new();
        };
        let found = archive::read_config(&mut *file).ok();
        let rewound = file.seek(SeekFrom::Start(0)).is_ok();
        let Some(found) = found.filter(|_| rewound) else {
            return Vec::new();
        };
        serde_json::from_slice::<Value>(&found.config)
            .ok()
            .and_then(|c| serde_json::from_value(c["rootfs"]["diff_ids"].clone()).ok())
            .unwrap_or_default()
    }

    fn size(&self) -> Total {
        match self {
            ArchiveInput::File { size, .. } => Total::Exact(*size),
            ArchiveInput::Stream { .. } => Total::Unknown,
        }
    }
}

/// The repo:tag to record: the one given, else the archive's single
/// RepoTags entry, else none (hash only).
pub fn recorded_repo_tag(given: Option<&RepoTag>, repo_tags: &[String]) -> Option<RepoTag> {
    if let Some(rt) = given {
        return Some(rt.clone());
    }
    match repo_tags {
        [one] => crate::request::parse_target(one, None).ok(),
        [] => None,
        several => {
            log::warning(&format!(
                "the archive has {} tags ({}); storing the image by its hash only \
                 (name one as REPO:TAG to record it)",
                several.len(),
                several.join(", ")
            ));
            None
        }
    }
}

/// Streams the archive into Keep, checking every byte on the way; returns
/// the blocks and the checked image. Nothing is created on the cluster.
/// With a resume checkpoint, blocks it holds are not sent again, and every
/// block Keep confirms is recorded in it.
pub fn stream_to_keep(
    keep: &KeepClient,
    input: ArchiveInput,
    mode: Progress,
    checkpoint: Option<&mut Checkpoint>,
    aligned: Option<&LayerPool<'_>>,
) -> Result<(Uploaded, ImageArchive)> {
    let what = input.what();
    let size = input.size();
    let reader: Box<dyn Read + Send> = match input {
        ArchiveInput::File { file, .. } => Box::new(file),
        ArchiveInput::Stream { reader, .. } => reader,
    };
    stream_checked(
        keep,
        reader,
        ArchiveChecker::new(),
        what,
        size,
        mode,
        checkpoint,
        aligned,
    )
}

/// Streams `docker save` of a local image once through the archive checker
/// into Keep, reporting progress against `size` (Docker's image size, an
/// estimate: the archive adds tar headers). The layers are not hashed: Docker checked them against their
/// diff_ids as it wrote them (see [`ArchiveChecker::trusting_layers`]).
/// Returns the stored blocks and what the checker found, or the first
/// problem: docker's own error (quoted), the checker's refusal, or a Keep
/// failure.
pub fn stream_save_to_keep<R: Read + Send>(
    keep: &KeepClient,
    save: R,
    what: String,
    size: Total,
    mode: Progress,
    aligned: Option<&LayerPool<'_>>,
) -> Result<(Uploaded, ImageArchive)> {
    let checker = ArchiveChecker::trusting_layers();
    stream_checked(keep, save, checker, what, size, mode, None, aligned)
}

/// Streams an archive reader once through `checker` into Keep, reporting
/// progress against `size`; `aligned`: in layer-aligned pieces, reusing
/// the pool's blocks (the spans of the aligned members are then in
/// [`Uploaded`]'s companion, see [`LayerPool::index`]).
#[allow(clippy::too_many_arguments)]
fn stream_checked<R: Read + Send>(
    keep: &KeepClient,
    reader: R,
    checker: ArchiveChecker,
    what: String,
    size: Total,
    mode: Progress,
    mut checkpoint: Option<&mut Checkpoint>,
    aligned: Option<&LayerPool<'_>>,
) -> Result<(Uploaded, ImageArchive)> {
    let mut reporter = Reporter::new(mode, size);
    let mut tee = Tee::with_checker(reader, checker);
    log::set_request_id(keep.current_request_id());
    reporter.update(0, 0);
    // What the checkpoint held when the upload started; it is rewritten as
    // blocks are confirmed.
    let previous: Option<State> = checkpoint.as_ref().map(|c| c.state().clone());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Bytes of the blocks reused, counted by the workers that reuse them.
    let reused = AtomicU64::new(0);
    let reuse = |index: usize, md5: &str, size: usize| {
        let locator = previous
            .as_ref()
            .and_then(|p| p.reusable(index, md5, size, now))
            .or_else(|| aligned?.take(md5, size))?;
        reused.fetch_add(size as u64, Ordering::Relaxed);
        Some(locator)
    };
    let reusing = (previous.is_some() || aligned.is_some()).then_some(&reuse as Reuse<'_>);
    let mut events = |event| match event {
        Event::Progress(p) => reporter.update(p.bytes_read, reused.load(Ordering::Relaxed)),
        Event::Warning(text) => log::log(log::ARV_PUT, log::Level::Warning, &text),
        Event::Stored {
            index,
            size,
            locator,
        } => {
            if let Some(c) = checkpoint.as_deref_mut() {
                c.record(index, size, &locator);
            }
        }
    };
    let result = match aligned {
        None => keep.upload_reusing(&mut tee, &what, None, reusing, &mut events),
        Some(pool) => {
            let splitter = Mutex::new(Splitter::new(&mut tee));
            let result =
                keep.upload_pieces(aligned_pieces(&splitter, pool), &what, reusing, &mut events);
            let splitter = splitter.into_inner().unwrap_or_else(|e| e.into_inner());
            pool.set_spans(splitter.spans());
            result
        }
    };
    reporter.finish(result.is_ok());
    let uploaded = match result {
        Ok(mut uploaded) => {
            uploaded.reused = reused.load(Ordering::Relaxed);
            uploaded
        }
        Err(Error::Input { what, source }) => return Err(read_error(what, source)),
        Err(e) => return Err(e),
    };
    let image = tee.finish().map_err(|error| Error::Archive {
        what: what.clone(),
        error,
    })?;
    // The pieces are the archive byte for byte: the checker counted every
    // byte the splitter read, and the file holds every byte it gave.
    if aligned.is_some() && uploaded.size != image.size {
        return Err(Error::Input {
            what,
            source: io::Error::other(format!(
                "the layer-aligned upload holds {} bytes but the archive is {} bytes \
                 (a bug: nothing was created)",
                uploaded.size, image.size
            )),
        });
    }
    Ok((uploaded, image))
}

/// The pieces of a layer-aligned upload, as the splitter cuts them; an
/// OCI blob about to be read is looked up in the index first.
fn aligned_pieces<'s, R: Read + Send>(
    splitter: &'s Mutex<Splitter<R>>,
    pool: &'s LayerPool<'_>,
) -> impl Iterator<Item = Result<Piece<'s>>> + Send + 's {
    let mut slot = 0;
    std::iter::from_fn(move || {
        let kind = lock(splitter).next_piece()?;
        if let PieceKind::Member(span) = &kind {
            pool.look_up_member(span);
        }
        slot += 1;
        Some(Ok(Piece::read(slot, SplitPiece(splitter))))
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// One piece of the splitter's, as the Keep writer reads it.
struct SplitPiece<'s, R>(&'s Mutex<Splitter<R>>);

impl<R: Read> Read for SplitPiece<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        lock(self.0).read(buf)
    }
}

/// The blocks of layers found in the cluster's layer index, for one
/// layer-aligned upload, and what the upload found out about its own
/// layers.
pub struct LayerPool<'c> {
    api: &'c ApiClient,
    keep: &'c KeepClient,
    /// Digests already looked up.
    asked: Mutex<HashSet<String>>,
    /// Found blocks: `<md5>+<size>` to the signed locator.
    blocks: Mutex<HashMap<String, String>>,
    /// The aligned members of the upload, once it is done.
    spans: Mutex<Vec<Span>>,
}

impl<'c> LayerPool<'c> {
    pub fn new(api: &'c ApiClient, keep: &'c KeepClient) -> Self {
        LayerPool {
            api,
            keep,
            asked: Mutex::default(),
            blocks: Mutex::default(),
            spans: Mutex::default(),
        }
    }

    /// Looks a layer up in the index (once per digest); its blocks, if
    /// found, join the pool. A failed lookup only means an upload.
    pub fn look_up(&self, digest: &str) {
        if !lock(&self.asked).insert(digest.to_string()) {
            return;
        }
        match layers::find_layer(self.api, self.keep, digest, layers::Reading::Checked) {
            Ok(Some(found)) => {
                log::info(&format!(
                    "layer {digest} ({} bytes) is in collection {}: its blocks are taken \
                     from there when the bytes read match them",
                    found.size, found.collection
                ));
                let mut blocks = lock(&self.blocks);
                for signed in found.locators {
                    if let Ok(locator) = Locator::parse(&signed) {
                        blocks.insert(locator.bare(), signed);
                    }
                }
            }
            Ok(None) => log::debug(log::KEEPDOCKER, || {
                format!("layer {digest}: in no readable image collection")
            }),
            Err(e) => log::warning(&format!(
                "could not look layer {digest} up in the layer index ({e}); uploading it"
            )),
        }
    }

    /// Looks up every digest of `digests`.
    pub fn look_up_all<'d>(&self, digests: impl IntoIterator<Item = &'d String>) {
        for digest in digests {
            self.look_up(digest);
        }
    }

    /// An aligned member about to be read: a blob named by its digest
    /// (the OCI layout) is looked up. A classic layout's
    /// `<id>/layer.tar` does not say its digest.
    fn look_up_member(&self, span: &Span) {
        if let Some(hex) = span.member.strip_prefix("blobs/sha256/") {
            if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                self.look_up(&format!("sha256:{hex}"));
            }
        }
    }

    /// The signed locator of a found block with this md5 and size.
    fn take(&self, md5: &str, size: usize) -> Option<String> {
        lock(&self.blocks).get(&format!("{md5}+{size}")).cloned()
    }

    fn set_spans(&self, spans: &[Span]) {
        *lock(&self.spans) = spans.to_vec();
    }

    /// The layer index properties of the upload just done: each layer of
    /// the checked `image` (by its diff_id; a layer kept compressed by its
    /// blob digest) that is an aligned member, at its place in the file.
    pub fn index(&self, uploaded: &Uploaded, image: &ImageArchive) -> Map<String, Value> {
        let found = layer_spans(&lock(&self.spans), image);
        LayerIndex::build(&uploaded.locators, &found).properties()
    }
}

/// Where each layer of the checked `image` lies, among the aligned
/// members `spans`: by its diff_id (a layer kept compressed: its blob
/// digest), for a layer whose member is an aligned member of its size. A
/// layer manifest.json names through a link, or that is small, is left
/// out.
fn layer_spans(spans: &[Span], image: &ImageArchive) -> Vec<LayerSpan> {
    image
        .layers
        .iter()
        .filter_map(|layer| {
            let span = spans
                .iter()
                .find(|s| s.member == layer.member && s.size == layer.size)?;
            let digest = match layer.compression {
                None => layer.diff_id.clone(),
                Some(_) => layer.digest.clone(),
            };
            Some(LayerSpan {
                digest,
                member: span.member.clone(),
                offset: span.offset,
                size: span.size,
            })
        })
        .collect()
}

/// A read error of the stream: docker's failure (its stderr quoted), the
/// archive check's refusal, or a plain I/O error.
fn read_error(what: String, source: io::Error) -> Error {
    if docker_cli::docker_error(&source).is_some() {
        if let Some(Ok(docker)) = source
            .into_inner()
            .map(|inner| inner.downcast::<DockerError>())
        {
            return Error::Docker(*docker);
        }
        unreachable!("docker_error checked the inner error's type");
    }
    match source
        .get_ref()
        .and_then(|e| e.downcast_ref::<ArchiveError>())
        .cloned()
    {
        Some(error) => Error::Archive { what, error },
        None => Error::Input { what, source },
    }
}

/// The image the full read found must be the one the quick look found.
pub fn same_image(what: &str, before: &str, after: &str) -> Result<()> {
    if before == after {
        return Ok(());
    }
    Err(Error::ArchiveChanged {
        what: what.to_string(),
        before: before.into(),
        after: after.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_are_indexed_by_diff_id_where_their_member_is_aligned() {
        use crate::docker::archive::{Layer, Layout};
        let layer = |member: &str, digest: &str, diff_id: &str, size, compression| Layer {
            member: member.into(),
            digest: digest.into(),
            diff_id: diff_id.into(),
            size,
            compression,
        };
        let image = ImageArchive {
            layout: Layout::Oci,
            image_id: "sha256:c".into(),
            config: "blobs/sha256/c".into(),
            created: None,
            repo_tags: vec![],
            os: None,
            architecture: None,
            layers: vec![
                layer("blobs/sha256/a", "sha256:a", "sha256:a", 5 << 20, None),
                layer(
                    "blobs/sha256/z",
                    "sha256:z",
                    "sha256:u",
                    3 << 20,
                    Some("gzip"),
                ),
                layer("blobs/sha256/s", "sha256:s", "sha256:s", 100, None),
                layer("blobs/sha256/b", "sha256:b", "sha256:b", 2 << 20, None),
            ],
            manifest_digests: vec![],
            size: 0,
        };
        let span = |member: &str, offset, size| Span {
            member: member.into(),
            offset,
            size,
        };
        let spans = [
            span("blobs/sha256/a", 1024, 5 << 20),
            span("blobs/sha256/z", 9 << 20, 3 << 20),
            // The same name with another size is not the layer.
            span("blobs/sha256/b", 20 << 20, 1 << 20),
        ];
        let found = layer_spans(&spans, &image);
        let got: Vec<(&str, &str, u64)> = found
            .iter()
            .map(|s| (s.digest.as_str(), s.member.as_str(), s.offset))
            .collect();
        assert_eq!(
            got,
            [
                ("sha256:a", "blobs/sha256/a", 1024),
                // Kept compressed: by its blob digest.
                ("sha256:z", "blobs/sha256/z", 9 << 20),
            ]
        );
    }

    #[test]
    fn repo_tag_given_then_archive_single_entry_then_none() {
        let given = RepoTag {
            repo: "a".into(),
            tag: "b".into(),
        };
        assert_eq!(
            recorded_repo_tag(Some(&given), &["x:y".into()]),
            Some(given)
        );
        assert_eq!(
            recorded_repo_tag(None, &["reg.example:5000/x/y:1.0".into()]),
            Some(RepoTag {
                repo: "reg.example:5000/x/y".into(),
                tag: "1.0".into()
            })
        );
        assert_eq!(recorded_repo_tag(None, &[]), None);
        assert_eq!(recorded_repo_tag(None, &["a:1".into(), "a:2".into()]), None);
    }
}
