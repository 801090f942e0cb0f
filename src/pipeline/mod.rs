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
//! Phase 1 has one step per source: the Docker daemon (daemon.rs), an
//! archive file or standard input (collection.rs, source.rs), a collection
//! (`--source=UUID|PDH`, from_collection.rs, which resolves its own target:
//! with `--project-uuid=source` that is only known once the collection is
//! read), a registry (`--source=docker://REF`, registry.rs). The
//! connection, the session and the plan are in session.rs.

pub mod checkpoint;
pub mod collection;
pub mod daemon;
pub mod format;
pub mod from_collection;
pub mod registry;
pub mod report;
pub mod session;
pub mod source;
pub mod tags;

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::log;
use crate::reference::Reference;
use crate::registry::{BlobSource, Platform, PullOptions, Registry, RegistryError, Resolved};
use crate::request::{ImageArg, Input, OutputFormat, RepoTag, Source, SourceError, Upload};
use collection::Ensured;
use report::{LinkReport, Report};
pub use session::Context;
use session::{resolve_owner, Plan, Session};

/// Ensure the image collection exists, then its tags; print its UUID (or
/// the report).
pub fn run(cx: &Context, upload: &Upload, stdout: &mut dyn Write) -> Result<()> {
    log::set_silent(upload.silent);
    refuse_directory(&upload.source)?;
    // A FIFO (`--source=<(docker save img)`) counts as a file too.
    let upload = upload
        .clone()
        .resolve_input(|p| p.exists() && !p.is_dir())?;
    let (session, plan, ensured) = ensure_collection(cx, &upload)?;
    complete(&upload, &session, &plan, ensured, stdout)
}

/// [`run`] for a `docker://` source whose image is resolved by `resolve`
/// and whose blobs come from `blobs`, instead of the registry the
/// reference names: how the tests drive the registry step with a blob
/// source of their own.
pub fn run_pulled(
    cx: &Context,
    upload: &Upload,
    resolve: impl FnOnce() -> std::result::Result<Resolved, RegistryError> + Send,
    blobs: &dyn BlobSource,
    stdout: &mut dyn Write,
) -> Result<()> {
    log::set_silent(upload.silent);
    let Source::Given {
        input: Input::Registry(reference),
        repo_tag,
    } = &upload.source
    else {
        panic!("run_pulled needs a docker:// source");
    };
    let upload = upload.clone().resolve_input(|_| false)?;
    let (session, plan, ensured) =
        ensure_pulled(cx, &upload, reference, repo_tag.as_ref(), resolve, blobs)?;
    complete(&upload, &session, &plan, ensured, stdout)
}

/// Phase 2, then the output.
fn complete(
    upload: &Upload,
    session: &Session,
    plan: &Plan,
    ensured: Ensured,
    stdout: &mut dyn Write,
) -> Result<()> {
    let links = tags::ensure_tags(session, &ensured, &plan.owner)?;
    // Legacy: with --silent a fresh upload does not print its UUID (an
    // image found in Arvados, or a collection source, is always printed).
    let uuid_line = !(upload.silent && ensured.is_fresh());
    finish(upload, ensured, links, uuid_line, stdout)
}

/// Phase 1 from the source the request names: the Docker daemon, an
/// archive (file or standard input), or a collection.
fn ensure_collection(cx: &Context, upload: &Upload) -> Result<(Session, Plan, Ensured)> {
    match &upload.source {
        Source::Daemon(image) => ensure_from_daemon(cx, upload, image),
        Source::Given {
            input: Input::Collection(id),
            repo_tag,
        } => {
            // The target is resolved there: with --project-uuid=source it
            // is only known once the collection is read.
            let session = Session::open(cx, upload)?;
            let (plan, ensured) = from_collection::ensure_from_collection(
                &session,
                &upload.project,
                id,
                repo_tag.as_ref(),
                |owner| Plan::new(upload, owner),
            )?;
            Ok((session, plan, ensured))
        }
        Source::Given {
            input: Input::Registry(reference),
            repo_tag,
        } => {
            let registry =
                Registry::new(pull_options(upload)).map_err(|e| registry_error(reference, e))?;
            let platform = platform(upload);
            let resolve = || registry.resolve(reference, &platform);
            ensure_pulled(cx, upload, reference, repo_tag.as_ref(), resolve, &registry)
        }
        Source::Given { input, repo_tag } => {
            let session = Session::open(cx, upload)?;
            let plan = Plan::new(upload, resolve_owner(&session.api, &upload.project)?);
            let ensured =
                collection::ensure_from_archive(&session, &plan, input, repo_tag.as_ref())?;
            Ok((session, plan, ensured))
        }
    }
}

/// Phase 1 from a registry. The manifest and config (`resolve`: two
/// small requests) are fetched while the cluster is asked for its
/// discovery document and the owner, then the registry step runs.
fn ensure_pulled(
    cx: &Context,
    upload: &Upload,
    reference: &Reference,
    repo_tag: Option<&RepoTag>,
    resolve: impl FnOnce() -> std::result::Result<Resolved, RegistryError> + Send,
    blobs: &dyn BlobSource,
) -> Result<(Session, Plan, Ensured)> {
    std::thread::scope(|s| {
        let resolving = s.spawn(resolve);
        let session = Session::open(cx, upload)?;
        let plan = Plan::new(upload, resolve_owner(&session.api, &upload.project)?);
        let resolved = resolving
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            .map_err(|e| registry_error(reference, e))?;
        let pull = registry::Pull {
            resolved: &resolved,
            blobs,
            compressed_layers: upload.pull_from.compressed_layers,
        };
        let ensured = registry::ensure_from_registry(&session, &plan, pull, repo_tag)?;
        Ok((session, plan, ensured))
    })
}

/// How the registry client is set up for this request.
fn pull_options(upload: &Upload) -> PullOptions {
    PullOptions {
        retries: u32::try_from(upload.retries).unwrap_or(u32::MAX),
        insecure_registries: upload.pull_from.insecure_registries.clone(),
    }
}

/// `--platform`, or linux/amd64.
fn platform(upload: &Upload) -> Platform {
    match &upload.pull_from.platform {
        Some(p) => Platform {
            os: p.os().to_string(),
            architecture: p.architecture().to_string(),
            variant: p.variant().map(String::from),
        },
        None => Platform::default_target(),
    }
}

fn registry_error(reference: &Reference, e: RegistryError) -> Error {
    Error::Registry {
        reference: reference.to_string(),
        problem: e.to_string(),
    }
}

/// Phase 1 from the Docker daemon. Docker (`--pull`, `docker image
/// inspect`) answers while the cluster is asked for its discovery document
/// and the owner: an image already in Arvados then costs little more than
/// the slower of the two.
fn ensure_from_daemon(
    cx: &Context,
    upload: &Upload,
    image: &ImageArg,
) -> Result<(Session, Plan, Ensured)> {
    std::thread::scope(|s| {
        // A pull changes the Docker daemon: not in a dry run.
        let pull = upload.pull && !upload.dry_run;
        if upload.pull && upload.dry_run {
            log::info(&format!(
                "--dry-run: not pulling {}; planning with the image Docker has now",
                daemon::describe(image)
            ));
        }
        let force = upload.force;
        let local = s.spawn(move || daemon::resolve_local(image, pull, force));
        let session = Session::open(cx, upload)?;
        let plan = Plan::new(upload, resolve_owner(&session.api, &upload.project)?);
        let local = local
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        let ensured = daemon::ensure_from_daemon(&session, &plan, image, local)?;
        Ok((session, plan, ensured))
    })
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
    let report = report_of(upload.dry_run, ensured, links);
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

/// What phase 1 and phase 2 made or reused.
pub fn report_of(dry_run: bool, ensured: Ensured, links: Vec<LinkReport>) -> Report {
    Report {
        dry_run,
        image_id: ensured.facts.id,
        repo_tag: ensured.facts.repo_tag.map(|rt| rt.to_string()),
        collection: ensured.collection,
        links,
        bytes_uploaded: ensured.bytes_uploaded,
        bytes_reused: ensured.bytes_reused,
    }
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
