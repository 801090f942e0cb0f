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
//! prints nothing (legacy). `--format=json` prints the [`report::Report`]
//! instead, even with `--silent`.
//!
//! `--dry-run` runs the same steps with every write left out: Keep blocks
//! are hashed but not sent ([`KeepClient::dry_run`]), and the collection
//! and link creations go through [`Session`], which skips them. What would
//! have been made is printed as plan lines (or the JSON report).
//!
//! A collection source (`--source=UUID|PDH`) goes through the same two
//! phases in `from_collection.rs`, which resolves its own target: with
//! `--project-uuid=source` that is only known once the collection is read.

pub mod checkpoint;
pub mod collection;
pub mod daemon;
pub mod format;
pub mod from_collection;
pub mod report;
pub mod source;
pub mod tags;

use std::cell::{OnceCell, RefCell};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::arvados::api::{ApiClient, Discovery, Link};
use crate::arvados::keep::KeepClient;
use crate::error::{Error, Result};
use crate::lock::ImageLock;
use crate::log;
use crate::request::{
    Input, OutputFormat, Progress, Project, Source, SourceError, Storage, Upload,
};
use crate::run::Context;
use crate::settings::cache_subdir;
use collection::Ensured;
use report::{LinkReport, Report};

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
    /// `--dry-run`: nothing is written to Keep or the API.
    pub dry_run: bool,
    /// `--replication`, `--storage-classes`.
    pub storage: Storage,
    cx: &'a Context,
    keep: OnceCell<KeepClient>,
    lock_dir: Option<PathBuf>,
    locks: RefCell<Vec<ImageLock>>,
}

impl<'a> Session<'a> {
    /// Reads the discovery document.
    pub fn open(cx: &'a Context, upload: &Upload) -> Result<Session<'a>> {
        let discovery = cx.api.discovery()?;
        // A dry run takes no lock, so it makes no cache directory either.
        let lock_dir = if upload.dry_run {
            None
        } else {
            match cache_subdir(&cx.env, "docker") {
                Ok(dir) => Some(dir),
                Err(e) => {
                    log::warning(&format!("{e}; uploading without the per-image lock"));
                    None
                }
            }
        };
        Ok(Session {
            api: cx.api.clone(),
            discovery,
            dry_run: upload.dry_run,
            storage: upload.storage.clone(),
            cx,
            keep: OnceCell::new(),
            lock_dir,
            locks: RefCell::new(Vec::new()),
        })
    }

    /// The Keep client, with the cluster's replication and storage classes
    /// unless `--replication` or `--storage-classes` say otherwise; in a dry
    /// run it only hashes.
    pub fn keep(&self) -> Result<&KeepClient> {
        if let Some(keep) = self.keep.get() {
            return Ok(keep);
        }
        let config = self.cx.settings.client_config(&self.cx.env)?;
        let mut keep = match &self.storage.classes {
            // The cluster's default classes are not needed then.
            Some(classes) => KeepClient::new(&self.api, &config)
                .copies(self.discovery.default_replication())
                .storage_classes(classes.clone()),
            None => KeepClient::for_cluster(&self.api, &config, &self.discovery)?,
        };
        if let Some(copies) = self.storage.replication {
            keep = keep.copies(copies);
        }
        if self.dry_run {
            keep = keep.dry_run();
        }
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

    /// Creates a link; `None` in a dry run.
    pub fn create_link(&self, body: &Value) -> Result<Option<Link>> {
        if self.dry_run {
            return Ok(None);
        }
        self.api.create_link(body).map(Some)
    }
}

/// Ensure the image collection exists, then its tags; print its UUID (or
/// the report).
pub fn run(cx: &Context, upload: &Upload, stdout: &mut dyn Write) -> Result<()> {
    log::set_silent(upload.silent);
    refuse_directory(&upload.source)?;
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
                // A pull changes the Docker daemon: not in a dry run.
                let pull = upload.pull && !upload.dry_run;
                if upload.pull && upload.dry_run {
                    log::info(&format!(
                        "--dry-run: not pulling {}; planning with the image Docker has now",
                        daemon::describe(image)
                    ));
                }
                Some(s.spawn(move || daemon::resolve_local(image, pull, upload.force)))
            }
            Source::Given { .. } => None,
        };
        let session = Session::open(cx, &upload)?;
        let plan = Plan {
            owner: resolve_owner(&session.api, &upload.project)?,
            name: upload.collection_name.clone(),
            force: upload.force,
            force_image_format: upload.force_image_format,
            progress: upload.progress,
            resume: if upload.dry_run {
                checkpoint::Mode::Off
            } else {
                checkpoint::Mode::from_flags(upload.resume, upload.cache)
            },
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
    let links = tags::ensure_tags(&session, &ensured, &plan.owner)?;
    // Legacy: with --silent a fresh upload does not print its UUID.
    let uuid_line = !(upload.silent && ensured.is_fresh());
    finish(&upload, ensured, links, uuid_line, stdout)
}

/// Prints the outcome: the collection UUID (legacy), the plan of a dry
/// run, or the JSON report.
pub fn finish(
    upload: &Upload,
    ensured: Ensured,
    links: Vec<LinkReport>,
    uuid_line: bool,
    stdout: &mut dyn Write,
) -> Result<()> {
    let report = Report {
        dry_run: upload.dry_run,
        image_id: ensured.facts.id,
        repo_tag: ensured.facts.repo_tag.map(|rt| rt.to_string()),
        collection: ensured.collection,
        links,
        bytes_uploaded: ensured.bytes_uploaded,
        bytes_reused: ensured.bytes_reused,
    };
    let text = match (upload.format, upload.dry_run) {
        (OutputFormat::Json, _) => report.json(),
        (OutputFormat::Text, true) => report.plan_lines(),
        (OutputFormat::Text, false) if uuid_line => {
            format!("{}\n", report.collection.uuid.unwrap_or_default())
        }
        (OutputFormat::Text, false) => String::new(),
    };
    stdout
        .write_all(text.as_bytes())
        .map_err(|source| Error::Input {
            what: "standard output".into(),
            source,
        })
}

/// A directory given as `--source` (by mistake for the file inside it) is
/// refused by name, rather than as "no such file" or a read error.
fn refuse_directory(source: &Source) -> Result<()> {
    let path = match source {
        Source::Given {
            input: Input::Auto(arg),
            ..
        } => Path::new(arg),
        Source::Given {
            input: Input::File(path),
            ..
        } => path.as_path(),
        _ => return Ok(()),
    };
    if path.is_dir() {
        return Err(SourceError::Directory(path.to_path_buf()).into());
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
/// `desired_project_uuid`, checked before any byte is uploaded). A project
/// the server says the caller cannot write to is refused here, before the
/// upload, rather than by the collection create after it (where legacy
/// failed).
pub fn resolve_owner(api: &ApiClient, project: &Project) -> Result<String> {
    match project {
        Project::Home => Ok(api.current_user()?.uuid),
        Project::Uuid(uuid) => match writable_owner(api, uuid) {
            Err(Error::Api { status: 404, .. }) => Err(Error::NoProject(uuid.clone())),
            Ok(None) => Err(Error::BadProject(uuid.clone())),
            Ok(Some(owner)) => Ok(owner),
            Err(e) => Err(e),
        },
        // The command line refuses this combination; the collection source
        // resolves `source` itself before it gets here.
        Project::SourceProject => Err(Error::SourceCollection(
            "--project-uuid=source needs a collection as --source".to_string(),
        )),
    }
}

/// The user or project `owner` as the server knows it, refused when the
/// server says the caller cannot write there (a server that does not say,
/// `can_write` absent, is taken at its word later, when something is
/// created); `None` when `owner` is neither a user nor a project UUID.
/// [`resolve_owner`] checks `--project-uuid` with it; the collection source
/// checks the source's owner with it for `--project-uuid=source`.
pub fn writable_owner(api: &ApiClient, owner: &str) -> Result<Option<String>> {
    let (uuid, can_write) = if is_uuid_of(owner, "tpzed") {
        let user = api.get_user(owner)?;
        (user.uuid, user.can_write)
    } else if is_uuid_of(owner, "j7d0g") {
        let group = api.get_group(owner)?;
        (group.uuid, group.can_write)
    } else {
        return Ok(None);
    };
    match can_write {
        Some(false) => Err(Error::ProjectNotWritable(uuid)),
        _ => Ok(Some(uuid)),
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
