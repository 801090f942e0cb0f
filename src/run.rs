//! The command on top of the library: connect to the cluster, then either
//! list the images or run the two phases of an upload.
//!
//! ```text
//! Request::List    -> images::listing -> list::print
//! Request::Upload  -> resolve the source and the target project
//!                     (`arv-docker push NAME`: the best image of that
//!                     name in Arvados, else the Docker daemon's)
//!                  -> images::from_{daemon,archive,collection,registry}_with
//!                       phase 1: ensure the image collection exists
//!                       phase 2: ensure the metadata links exist
//!                  -> print the collection UUID (or the plan, or the report)
//! ```
//!
//! The upload steps are the ones the library's upload functions run
//! (`images`), with the command's plan instead of a library one: the
//! storage options, progress, resume, `--force` and `--dry-run`.
//!
//! The UUID is printed only once the links exist, so a failure never leaves
//! a printed UUID of a half-made image. With `--silent` a fresh upload
//! prints nothing (legacy). `--format=json` prints the report instead, even
//! with `--silent`.
//!
//! `--dry-run` runs the same steps with every write left out: Keep blocks
//! are hashed but not sent, and the collection and link creations go
//! through the session, which skips them. What would have been made is
//! printed as plan lines (or the JSON report).
//!
//! Everything that reads the process environment happens here (or below),
//! never in the command-line parser.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};
use crate::images::{self, Made};
use crate::log;
use crate::pipeline::registry::Pull;
use crate::pipeline::session::{resolve_owner, Context, Plan, Session};
use crate::pipeline::{daemon, source};
use crate::reference::Reference;
use crate::registry::{BlobSource, Platform, PullOptions, Registry, RegistryError, Resolved};
use crate::request::{
    CollectionId, ImageArg, Input, OutputFormat, RepoTag, Request, Source, SourceError, Upload,
};
use crate::settings::Env;

/// Carry out a parsed request. Output meant for stdout goes to `stdout`;
/// log lines and progress go to stderr.
pub fn run(request: Request, stdout: &mut dyn Write) -> Result<()> {
    match request {
        Request::List(list) => {
            let cx = Context::connect(Env::from_process(), list.retries)?;
            let json = list.format == OutputFormat::Json;
            let listing = images::listing(&cx.api, list.filter.as_ref(), json);
            crate::list::print(list.format, listing, stdout)
        }
        Request::Upload(upload) => {
            let cx = Context::connect(Env::from_process(), upload.retries)?;
            self::upload(&cx, &upload, stdout)
        }
    }
}

/// Ensure the image collection exists, then its tags; print its UUID (or
/// the report).
fn upload(cx: &Context, upload: &Upload, stdout: &mut dyn Write) -> Result<()> {
    log::set_silent(upload.silent);
    refuse_directory(&upload.source)?;
    // A FIFO (`--source=<(docker save img)`) counts as a file too.
    let upload = upload
        .clone()
        .resolve_input(|p| p.exists() && !p.is_dir())?;
    let made = ensure_image(cx, &upload)?;
    // Legacy: with --silent a fresh upload does not print its UUID (an
    // image found in Arvados, or a collection source, is always printed).
    let uuid_line = !(upload.silent && made.ensured.is_fresh());
    finish(&upload, made, uuid_line, stdout)
}

/// Both phases, from the source the request names: the Docker daemon, an
/// archive (file or standard input), or a collection.
fn ensure_image(cx: &Context, upload: &Upload) -> Result<Made> {
    match &upload.source {
        Source::Daemon(image) => from_daemon(cx, upload, image, None),
        Source::Given {
            input: Input::Daemon(image),
            repo_tag,
        } => from_daemon(cx, upload, image, repo_tag.as_ref()),
        Source::Given {
            input: Input::Collection(id),
            repo_tag,
        } => from_collection(cx, upload, id, repo_tag.as_ref()),
        Source::Named(name) => {
            // `arv-docker push NAME`: what Arvados has by that name first
            // (as `--source=UUID NAME` would), else the daemon's image.
            match images::best_named(&cx.api, name)? {
                Some(uuid) => {
                    log::info(&format!("{name} is in Arvados: {uuid}"));
                    let id = CollectionId::Uuid(uuid);
                    from_collection(cx, upload, &id, Some(name))
                }
                None => from_daemon(cx, upload, &ImageArg::Name(name.clone()), None),
            }
        }
        Source::Given {
            input: Input::Registry(reference),
            repo_tag,
        } => {
            let options = PullOptions::from_env(
                &cx.env,
                u32::try_from(upload.retries).unwrap_or(u32::MAX),
                upload.pull_from.insecure_registries.clone(),
            );
            let registry = Registry::new(options).map_err(|e| registry_error(reference, e))?;
            let platform = platform(upload);
            let resolve = || registry.resolve(reference, &platform);
            from_registry(cx, upload, reference, repo_tag.as_ref(), resolve, &registry)
        }
        Source::Given { input, repo_tag } => {
            let session = Session::open(cx, upload)?;
            let plan = Plan::new(upload, resolve_owner(&session.api, &upload.project)?);
            let archive = source::ArchiveInput::open(input)?;
            images::from_archive_with(&session, &plan, archive, repo_tag.as_ref())
        }
    }
}

/// Both phases from a collection. The target is resolved there: with
/// --project-uuid=source it is only known once the collection is read.
fn from_collection(
    cx: &Context,
    upload: &Upload,
    id: &CollectionId,
    name: Option<&RepoTag>,
) -> Result<Made> {
    let session = Session::open(cx, upload)?;
    let (_, made) =
        images::from_collection_with(&session, &upload.project, id, name, None, |owner| {
            Plan::new(upload, owner)
        })?;
    Ok(made)
}

/// Both phases from the Docker daemon (named `name` when given, else as
/// `image` names it). Docker (`--pull`, `docker image
/// inspect`) answers while the cluster is asked for its discovery document
/// and the owner: an image already in Arvados then costs little more than
/// the slower of the two.
fn from_daemon(
    cx: &Context,
    upload: &Upload,
    image: &ImageArg,
    name: Option<&RepoTag>,
) -> Result<Made> {
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
        images::from_daemon_with(&session, &plan, image, name, local)
    })
}

/// Both phases from a registry. The manifest and config (`resolve`: two
/// small requests) are fetched while the cluster is asked for its
/// discovery document and the owner; then the blobs come from `blobs`.
fn from_registry(
    cx: &Context,
    upload: &Upload,
    reference: &Reference,
    repo_tag: Option<&RepoTag>,
    resolve: impl FnOnce() -> std::result::Result<Resolved, RegistryError> + Send,
    blobs: &dyn BlobSource,
) -> Result<Made> {
    std::thread::scope(|s| {
        let resolving = s.spawn(resolve);
        let session = Session::open(cx, upload)?;
        let plan = Plan::new(upload, resolve_owner(&session.api, &upload.project)?);
        let resolved = resolving
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            .map_err(|e| registry_error(reference, e))?;
        let pull = Pull {
            resolved: &resolved,
            blobs,
            compressed_layers: upload.pull_from.compressed_layers,
        };
        images::from_registry_with(&session, &plan, pull, repo_tag)
    })
}

/// The upload of a `docker://` source whose image is resolved by
/// `resolve` and whose blobs come from `blobs` instead of the registry
/// the reference names: how the tests drive the registry step with a blob
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
    let made = from_registry(cx, upload, reference, repo_tag.as_ref(), resolve, blobs)?;
    let uuid_line = !(upload.silent && made.ensured.is_fresh());
    finish(upload, made, uuid_line, stdout)
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

/// A registry error as the command reports it: one line, naming the
/// reference once (the client's own messages may start with it).
fn registry_error(reference: &Reference, e: RegistryError) -> Error {
    let reference = reference.to_string();
    let problem = e.to_string();
    match problem.strip_prefix(&reference) {
        Some(rest) if rest.starts_with(": ") => Error::Registry {
            reference,
            problem: rest[2..].to_string(),
        },
        // "REF is a schema 1 manifest ...": already a sentence about it.
        Some(_) => Error::Registry {
            reference: String::new(),
            problem,
        },
        None => Error::Registry { reference, problem },
    }
}

/// Prints the outcome: the collection UUID (legacy), the plan of a dry
/// run, or the JSON report.
fn finish(upload: &Upload, made: Made, uuid_line: bool, stdout: &mut dyn Write) -> Result<()> {
    let report = made.report(upload.dry_run);
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
