//! The archive source: a file or standard input, opened, looked at (a file
//! only: its headers, manifest.json and config) and streamed once into
//! Keep through the archive checker.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub use super::checkpoint::Checkpoint;
use super::checkpoint::State;
use crate::arvados::keep::KeepClient;
use crate::arvados::upload::{Event, Reuse, Uploaded};
use crate::docker::archive::{self, ArchiveChecker, ArchiveError, ImageArchive, Peek, Tee};
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
) -> Result<(Uploaded, ImageArchive)> {
    let checker = ArchiveChecker::trusting_layers();
    stream_checked(keep, save, checker, what, size, mode, None)
}

/// Streams an archive reader once through `checker` into Keep, reporting
/// progress against `size`.
fn stream_checked<R: Read + Send>(
    keep: &KeepClient,
    reader: R,
    checker: ArchiveChecker,
    what: String,
    size: Total,
    mode: Progress,
    mut checkpoint: Option<&mut Checkpoint>,
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
        let locator = previous.as_ref()?.reusable(index, md5, size, now)?;
        reused.fetch_add(size as u64, Ordering::Relaxed);
        Some(locator)
    };
    let result = keep.upload_reusing(
        &mut tee,
        &what,
        None,
        previous.as_ref().map(|_| &reuse as Reuse<'_>),
        &mut |event| match event {
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
        },
    );
    reporter.finish(result.is_ok());
    let uploaded = match result {
        Ok(mut uploaded) => {
            uploaded.reused = reused.load(Ordering::Relaxed);
            uploaded
        }
        Err(Error::Input { what, source }) => return Err(read_error(what, source)),
        Err(e) => return Err(e),
    };
    let image = tee
        .finish()
        .map_err(|error| Error::Archive { what, error })?;
    Ok((uploaded, image))
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
