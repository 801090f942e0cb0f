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

pub mod collection;
pub mod daemon;
pub mod format;
pub mod from_collection;
pub mod source;
pub mod tags;

use std::cell::OnceCell;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::arvados::api::{ApiClient, Discovery};
use crate::arvados::keep::KeepClient;
use crate::error::{Error, Result};
use crate::lock::ImageLock;
use crate::log;
use crate::request::{Input, Progress, Project, Source, SourceError, Upload};
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
}

/// The cluster connection of one run: the API client, the discovery
/// document, and the Keep client made when an upload first needs it.
pub struct Session<'a> {
    pub api: ApiClient,
    pub discovery: Discovery,
    cx: &'a Context,
    keep: OnceCell<KeepClient>,
    lock_dir: Option<PathBuf>,
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

    /// The per-image lock (spec §9.6), held until dropped; `None` when the
    /// cache directory is unusable (warned about once).
    pub fn lock(&self, image_id: &str) -> Result<Option<ImageLock>> {
        match &self.lock_dir {
            Some(dir) => ImageLock::acquire(dir, image_id).map(Some),
            None => Ok(None),
        }
    }
}

/// Ensure the image collection exists, then its tags; print its UUID.
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
    let session = Session::open(cx)?;
    let plan = Plan {
        owner: resolve_owner(&session.api, &upload.project)?,
        name: upload.collection_name.clone(),
        force: upload.force,
        force_image_format: upload.force_image_format,
        progress: upload.progress,
    };
    let ensured = match (&upload.source, &input) {
        (Source::Daemon(image), _) => {
            daemon::ensure_from_daemon(&session, &plan, image, upload.pull)?
        }
        (_, Some(input)) => {
            collection::ensure_from_archive(&session, &plan, input, given.as_ref())?
        }
        (_, None) => unreachable!("only the daemon source has no archive input"),
    };
    tags::ensure_tags(&session.api, &ensured, &plan.owner)?;
    if !(upload.silent && ensured.is_fresh()) {
        writeln!(stdout, "{}", ensured.uuid).map_err(|source| Error::Input {
            what: "standard output".into(),
            source,
        })?;
    }
    Ok(())
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
    let writable = |uuid: String, can_write: Option<bool>| match can_write {
        Some(false) => Err(Error::ProjectNotWritable(uuid)),
        _ => Ok(uuid),
    };
    let found = |error: Error| match error {
        Error::Api { status: 404, .. } => match project {
            Project::Uuid(uuid) => Error::NoProject(uuid.clone()),
            _ => error,
        },
        error => error,
    };
    match project {
        Project::Home => Ok(api.current_user()?.uuid),
        Project::Uuid(uuid) if is_uuid_of(uuid, "tpzed") => {
            let user = api.get_user(uuid).map_err(found)?;
            writable(user.uuid, user.can_write)
        }
        Project::Uuid(uuid) if is_uuid_of(uuid, "j7d0g") => {
            let group = api.get_group(uuid).map_err(found)?;
            writable(group.uuid, group.can_write)
        }
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
