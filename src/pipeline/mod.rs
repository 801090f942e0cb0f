//! The two phases of an upload:
//!
//! ```text
//! resolve the source and the target project
//!   -> phase 1: ensure the image collection exists   (collection.rs; source.rs)
//!   -> phase 2: ensure the metadata links exist      (tags.rs)
//!   -> print the collection UUID
//! ```
//!
//! The UUID is printed only once the links exist, so a failure never leaves
//! a printed UUID of a half-made image. With `--silent` a fresh upload
//! prints nothing (legacy).
//!
//! A collection source (`--source=UUID|PDH`) goes through the same two
//! phases in `from_collection.rs`, which resolves its own target: with
//! `--project-uuid=source` that is only known once the collection is read.

pub mod checkpoint;
pub mod collection;
pub mod daemon;
pub mod format;
pub mod from_collection;
pub mod source;
pub mod tags;

use std::cell::{OnceCell, RefCell};
use std::io::Write;
use std::path::PathBuf;

use crate::arvados::api::{ApiClient, Discovery};
use crate::arvados::keep::KeepClient;
use crate::error::{Error, Result};
use crate::lock::ImageLock;
use crate::log;
use crate::request::{Input, Progress, Project, Source, Upload};
use crate::run::Context;
use crate::settings::cache_subdir;

/// What the phases need from the request, resolved.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The owner of the collection and the links: `--project-uuid`, or the
    /// caller's user UUID.
    pub owner: String,
    /// `--name`.
    pub name: Option<String>,
    pub force: bool,
    pub force_image_format: bool,
    pub progress: Progress,
    /// `--resume`/`--no-resume` and `--cache`/`--no-cache`: the resume
    /// checkpoint of a file source.
    pub resume: checkpoint::Mode,
}

/// The cluster connection of one run: the API client, the discovery
/// document, and the Keep client made when an upload first needs it.
pub struct Session<'a> {
    pub api: ApiClient,
    pub discovery: Discovery,
    cx: &'a Context,
    keep: OnceCell<KeepClient>,
    lock_dir: Option<PathBuf>,
    locks: RefCell<Vec<ImageLock>>,
}

impl<'a> Session<'a> {
    /// Reads the discovery document.
    pub fn open(cx: &'a Context) -> Result<Session<'a>> {
        let discovery = cx.api.discovery()?;
        let lock_dir = match cache_subdir(&cx.env, "docker") {
            Ok(dir) => Some(dir),
            Err(e) => {
                log::warning(&format!("{e}; uploading without the per-image lock"));
                None
            }
        };
        Ok(Session {
            api: cx.api.clone(),
            discovery,
            cx,
            keep: OnceCell::new(),
            lock_dir,
            locks: RefCell::new(Vec::new()),
        })
    }

    /// The Keep client, with the cluster's replication and storage classes.
    pub fn keep(&self) -> Result<&KeepClient> {
        if let Some(keep) = self.keep.get() {
            return Ok(keep);
        }
        let config = self.cx.settings.client_config(&self.cx.env)?;
        let keep = KeepClient::for_cluster(&self.api, &config, &self.discovery)?;
        Ok(self.keep.get_or_init(|| keep))
    }

    /// The resume checkpoint of an archive file (see checkpoint.rs);
    /// `None` for standard input, with `--no-cache`, or when the cache
    /// directory is unusable (warned about).
    pub fn checkpoint(
        &self,
        archive: &source::ArchiveInput,
        mode: checkpoint::Mode,
    ) -> Option<checkpoint::Checkpoint> {
        let source::ArchiveInput::File { path, file, .. } = archive else {
            return None;
        };
        if mode == checkpoint::Mode::Off {
            return None;
        }
        let config = self.cx.settings.client_config(&self.cx.env).ok()?;
        let dir = match cache_subdir(&self.cx.env, checkpoint::CACHE_SUBDIR) {
            Ok(dir) => dir,
            Err(e) => {
                log::warning(&format!("{e}; uploading without a resume checkpoint"));
                return None;
            }
        };
        checkpoint::Checkpoint::open(&dir, &config.api_host, &config.api_token, path, file, mode)
    }

    /// Takes the per-image lock (spec §9.6) and holds it until the session
    /// ends, after phase 2, as legacy holds it until its links exist: a
    /// run that waited for it then finds the links and uploads nothing.
    /// Without a usable cache directory (warned about once) there is no
    /// lock.
    pub fn lock(&self, image_id: &str) -> Result<()> {
        if let Some(dir) = &self.lock_dir {
            let lock = ImageLock::acquire(dir, image_id)?;
            self.locks.borrow_mut().push(lock);
        }
        Ok(())
    }
}

/// Ensure the image collection exists, then its tags; print its UUID.
pub fn run(cx: &Context, upload: &Upload, stdout: &mut dyn Write) -> Result<()> {
    log::set_silent(upload.silent);
    // A FIFO (`--source=<(docker save img)`) counts as a file too.
    let upload = upload
        .clone()
        .resolve_input(|p| p.exists() && !p.is_dir())?;
    let (input, given) = match &upload.source {
        Source::Daemon(_) => (None, None),
        Source::Given {
            input: Input::Collection(id),
            repo_tag,
        } => return from_collection::run(cx, &upload, id, repo_tag.as_ref(), stdout),
        Source::Given { input, repo_tag } => (Some(input.clone()), repo_tag.clone()),
    };
    let (session, plan, ensured) = std::thread::scope(|s| -> Result<_> {
        // Docker (`--pull`, `docker image inspect`) answers while the
        // cluster is asked for its discovery document and the owner: an
        // image already in Arvados then costs little more than the slower
        // of the two.
        let local = match &upload.source {
            Source::Daemon(image) => {
                Some(s.spawn(|| daemon::resolve_local(image, upload.pull, upload.force)))
            }
            Source::Given { .. } => None,
        };
        let session = Session::open(cx)?;
        let plan = Plan {
            owner: resolve_owner(&session.api, &upload.project)?,
            name: upload.collection_name.clone(),
            force: upload.force,
            force_image_format: upload.force_image_format,
            progress: upload.progress,
            resume: checkpoint::Mode::from_flags(upload.resume, upload.cache),
        };
        let ensured = match (&upload.source, &input, local) {
            (Source::Daemon(image), _, Some(local)) => {
                let local = local
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
                daemon::ensure_from_daemon(&session, &plan, image, local)?
            }
            (_, Some(input), _) => {
                collection::ensure_from_archive(&session, &plan, input, given.as_ref())?
            }
            _ => unreachable!("only the daemon source has no archive input"),
        };
        Ok((session, plan, ensured))
    })?;
    tags::ensure_tags(&session.api, &ensured, &plan.owner)?;
    if !(upload.silent && ensured.is_fresh()) {
        writeln!(stdout, "{}", ensured.uuid).map_err(|source| Error::Input {
            what: "standard output".into(),
            source,
        })?;
    }
    Ok(())
}

/// Whether `uuid` is `<5 alnum>-<kind>-<15 alnum>`, lowercase.
pub fn is_uuid_of(uuid: &str, kind: &str) -> bool {
    let ok = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    };
    let parts: Vec<&str> = uuid.split('-').collect();
    matches!(parts[..], [a, k, b] if ok(a, 5) && k == kind && ok(b, 15))
}

/// The owner of everything made: the caller's user UUID, or the
/// `--project-uuid` user or project, as the server knows it (legacy arv-put's
/// `desired_project_uuid`, checked before any byte is uploaded).
pub fn resolve_owner(api: &ApiClient, project: &Project) -> Result<String> {
    match project {
        Project::Home => Ok(api.current_user()?.uuid),
        Project::Uuid(uuid) if is_uuid_of(uuid, "tpzed") => Ok(api.get_user(uuid)?.uuid),
        Project::Uuid(uuid) if is_uuid_of(uuid, "j7d0g") => Ok(api.get_group(uuid)?.uuid),
        Project::Uuid(uuid) => Err(Error::BadProject(uuid.clone())),
        // The command line refuses this combination; the collection source
        // resolves `source` itself before it gets here.
        Project::SourceProject => Err(Error::SourceCollection(
            "--project-uuid=source needs a collection as --source".to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_uuid_kinds() {
        assert!(is_uuid_of("zzzzz-tpzed-0123456789abcde", "tpzed"));
        assert!(is_uuid_of("zzzzz-j7d0g-0123456789abcde", "j7d0g"));
        assert!(!is_uuid_of("zzzzz-j7d0g-0123456789abcde", "tpzed"));
        assert!(!is_uuid_of("zzzzz-j7d0g-0123456789ABCDE", "j7d0g"));
        assert!(!is_uuid_of("zzzzz-j7d0g-0123", "j7d0g"));
    }
}
