//! The library API: Docker images in Arvados, for programs other than the
//! command (workflow runners, other tools, services).
//!
//! Every function takes an [`ApiClient`] (its retry count is the one it was
//! made with: [`ApiClient::new`], or [`clients_from_env`] as the command
//! makes them) and, where bytes move, a [`KeepClient`]; each returns values
//! and prints nothing. Log records go to the sink the program chose with
//! [`set_sink`] (none by default).
//!
//! ```text
//! search_images_by_name / _by_hash / search_images    what is there
//! add_image_name / add_image_hash / add_image_metadata the links, by hand
//! find_or_create_image                                 an image collection into a project
//! upload_archive / upload_from_daemon                  an image into Keep, tagged
//! ```
//!
//! The searches and the upload functions follow the command's rules (the
//! listing's order, the legacy preference of links, the checks on every
//! archive byte), since the command runs the same code.

use std::fmt;
use std::io::Read;

use serde_json::Map;

pub use crate::arvados::api::{ApiClient, Link};
pub use crate::arvados::keep::KeepClient;
use crate::error::Error as CrateError;
use crate::list::{self, Search};
pub use crate::log::{set_sink, stderr_sink, Level, Sink};
use crate::pipeline::collection::{self, Ensured, HASH, REPO_TAG};
pub use crate::pipeline::report::{
    CollectionAction, CollectionReport, LinkAction, LinkReport, Report,
};
use crate::pipeline::session::{resolve_owner, Plan, Session};
use crate::pipeline::{daemon, from_collection, registry, source, tags};
use crate::request::{parse_target, CollectionId, ImageArg, NameFilter, Project, RepoTag};
pub use crate::settings::ClientConfig;
use crate::settings::{Env, Settings};

/// One image in Arvados: a row of the `arv-keepdocker` listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRecord {
    /// The UUID of the collection holding the image.
    pub collection: String,
    /// The repository, `<none>` for an image stored by its id only.
    pub repo: String,
    /// The tag, `<none>` for an image stored by its id only.
    pub tag: String,
    /// `sha256:<64 hex>`.
    pub image_id: String,
    /// The portable data hash of the collection's content.
    pub portable_data_hash: String,
    /// The image's creation time from its link (else the link's own),
    /// ISO 8601 without a zone, as the listing reads it.
    pub timestamp: String,
}

/// Why a call failed. The variants say what a program may act on; the
/// text (from [`fmt::Display`]) says the rest in a sentence.
#[derive(Debug)]
#[non_exhaustive]
pub enum ImageError {
    /// A call's arguments cannot name an image (no name and no id, a name
    /// that is not `repo[:tag]`, an id that is not `sha256:<hex>`).
    InvalidArgument(String),
    /// The project (or user) does not exist or cannot be read.
    NoProject(String),
    /// The project (or user) can be read but not written.
    ProjectNotWritable(String),
    /// A collection is not there, or is not an image collection.
    NotAnImageCollection(String),
    /// An archive is not a Docker image archive, or not a whole one.
    BadArchive(String),
    /// The cluster does not accept the image's format.
    IncompatibleFormat,
    /// Docker failed, or has no such image.
    Docker(String),
    /// The API server answered with an error status.
    Api {
        status: u16,
        message: String,
        request_id: String,
    },
    /// The API server or Keep could not be reached or did not answer in
    /// time, after the retries.
    Unavailable(String),
    /// Keep could not store or return a block.
    Keep(String),
    /// Anything else: local I/O, an unusable server answer.
    Other(String),
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::InvalidArgument(text)
            | ImageError::NotAnImageCollection(text)
            | ImageError::BadArchive(text)
            | ImageError::Docker(text)
            | ImageError::Unavailable(text)
            | ImageError::Keep(text)
            | ImageError::Other(text) => f.write_str(text),
            ImageError::NoProject(uuid) => {
                write!(f, "no project or user {uuid} is readable with this token")
            }
            ImageError::ProjectNotWritable(uuid) => {
                write!(f, "project or user {uuid} may be read but not written to")
            }
            ImageError::IncompatibleFormat => {
                f.write_str("the cluster does not accept this image's format")
            }
            ImageError::Api {
                status, message, ..
            } => write!(f, "the API server answered {status}: {message}"),
        }
    }
}

impl std::error::Error for ImageError {}

impl From<CrateError> for ImageError {
    fn from(e: CrateError) -> ImageError {
        let text = e.to_string();
        match e {
            CrateError::Api {
                status,
                message,
                request_id,
                ..
            } => ImageError::Api {
                status,
                message,
                request_id,
            },
            CrateError::ApiTransport { .. } | CrateError::NoKeepServices { .. } => {
                ImageError::Unavailable(text)
            }
            CrateError::KeepWrite(_) | CrateError::KeepRead { .. } => ImageError::Keep(text),
            CrateError::NoProject(uuid) | CrateError::BadProject(uuid) => {
                ImageError::NoProject(uuid)
            }
            CrateError::ProjectNotWritable(uuid) => ImageError::ProjectNotWritable(uuid),
            CrateError::SourceCollection(problem) => ImageError::NotAnImageCollection(problem),
            CrateError::Archive { .. } | CrateError::ArchiveChanged { .. } => {
                ImageError::BadArchive(text)
            }
            CrateError::IncompatibleFormat => ImageError::IncompatibleFormat,
            CrateError::Docker(_)
            | CrateError::NoImage { .. }
            | CrateError::AmbiguousId { .. }
            | CrateError::ForceNeedsDocker(_) => ImageError::Docker(text),
            _ => ImageError::Other(text),
        }
    }
}

/// What the functions here return.
pub type Result<T> = std::result::Result<T, ImageError>;

/// The API and Keep clients the command would use: `settings.conf` and
/// the `ARVADOS_*` environment (host, token, TLS, Keep services), the
/// cluster's replication and storage classes, `retries` retries of each
/// request. Sends the discovery request.
///
/// ```no_run
/// # fn demo() -> arv_keepdocker::images::Result<()> {
/// let (api, keep) = arv_keepdocker::images::clients_from_env(3)?;
/// let found = arv_keepdocker::images::search_images(&api, "ubuntu", None)?;
/// # Ok(()) }
/// ```
pub fn clients_from_env(retries: u32) -> Result<(ApiClient, KeepClient)> {
    let env = Env::from_process();
    let config = Settings::load(&env)?.client_config(&env)?;
    let api = ApiClient::new(&config, retries)?;
    let discovery = api.discovery()?;
    let keep = KeepClient::for_cluster(&api, &config, &discovery)?;
    Ok((api, keep))
}

/// Images whose `repo:tag` link matches `name`; without a tag, every tag
/// of that repository. Most preferred first, as the listing orders them.
/// With `project`, only links and collections that project owns count.
///
/// ```no_run
/// # use arv_keepdocker::images::{self, ApiClient};
/// # fn demo(api: &ApiClient) -> images::Result<()> {
/// for image in images::search_images_by_name(api, "ubuntu", None)? {
///     println!("{}:{} {} {}", image.repo, image.tag, image.image_id, image.collection);
/// }
/// # Ok(()) }
/// ```
pub fn search_images_by_name(
    api: &ApiClient,
    name: &str,
    project: Option<&str>,
) -> Result<Vec<ImageRecord>> {
    let (repo, tag) = split_name(name)?;
    search(api, Search::Name { repo, tag }, project)
}

/// Images whose id starts with `hex_prefix` (`sha256:` may be left out).
///
/// ```no_run
/// # use arv_keepdocker::images::{self, ApiClient};
/// # fn demo(api: &ApiClient) -> images::Result<()> {
/// let found = images::search_images_by_hash(api, "sha256:d2c94e25", None)?;
/// # Ok(()) }
/// ```
pub fn search_images_by_hash(
    api: &ApiClient,
    hex_prefix: &str,
    project: Option<&str>,
) -> Result<Vec<ImageRecord>> {
    let hex = hex_prefix.strip_prefix("sha256:").unwrap_or(hex_prefix);
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ImageError::InvalidArgument(format!(
            "{hex_prefix:?} is not an image id or the start of one (sha256:<hex>)"
        )));
    }
    search(api, Search::HashPrefix(hex), project)
}

/// By name first (see [`search_images_by_name`]); if that finds nothing
/// and the text can be an id, by id prefix.
///
/// ```no_run
/// # use arv_keepdocker::images::{self, ApiClient};
/// # fn demo(api: &ApiClient) -> images::Result<()> {
/// let found = images::search_images(api, "d2c94e25", None)?;
/// # Ok(()) }
/// ```
pub fn search_images(
    api: &ApiClient,
    name_or_hash: &str,
    project: Option<&str>,
) -> Result<Vec<ImageRecord>> {
    let by_name = match split_name(name_or_hash) {
        Ok((repo, tag)) => search(api, Search::Name { repo, tag }, project)?,
        Err(_) => Vec::new(),
    };
    if !by_name.is_empty() {
        return Ok(by_name);
    }
    let hex = name_or_hash.strip_prefix("sha256:").unwrap_or(name_or_hash);
    if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return search(api, Search::HashPrefix(hex), project);
    }
    Ok(by_name)
}

/// Every image in Arvados (in `project` only, if given), as the
/// `arv-keepdocker` listing shows them, most preferred first.
///
/// ```no_run
/// # use arv_keepdocker::images::{self, ApiClient};
/// # fn demo(api: &ApiClient) -> images::Result<()> {
/// for image in images::list_images(api, None)? {
///     println!("{}:{} {}", image.repo, image.tag, image.collection);
/// }
/// # Ok(()) }
/// ```
pub fn list_images(api: &ApiClient, project: Option<&str>) -> Result<Vec<ImageRecord>> {
    search(api, Search::All, project)
}

/// The listing the command prints: [`list_images`]'s rows before they
/// become records, so that the command can print the rows legacy printed
/// before a broken one, and its own errors.
/// With `filter`, only the rows of that repository (and tag), found by
/// the search [`search_images_by_name`] runs.
pub(crate) fn listing(
    api: &ApiClient,
    filter: Option<&NameFilter>,
    with_pdh: bool,
) -> crate::error::Result<Vec<list::Listed>> {
    let what = match filter {
        None => Search::All,
        Some(f) => Search::Name {
            repo: &f.repo,
            tag: f.tag.as_deref(),
        },
    };
    list::find(api, what, None, with_pdh)
}

/// The best image named `name` in Arvados, in the listing's order
/// (`arv-docker push NAME`): its collection UUID, if there is one.
pub(crate) fn best_named(api: &ApiClient, name: &RepoTag) -> crate::error::Result<Option<String>> {
    let what = Search::Name {
        repo: &name.repo,
        tag: Some(&name.tag),
    };
    let rows = list::find(api, what, None, false)?;
    Ok(rows.into_iter().next().map(|row| row.collection))
}

/// Creates the `docker_image_repo+tag` link naming `collection` as
/// `name` (`:latest` is added when the tag is left out), owned by
/// `project`.
///
/// ```no_run
/// # use arv_keepdocker::images::{self, ApiClient};
/// # fn demo(api: &ApiClient) -> images::Result<()> {
/// let link = images::add_image_name(
///     api, "zzzzz-j7d0g-0123456789abcde", "zzzzz-4zz18-0123456789abcde", "lab/tool:2.1")?;
/// # Ok(()) }
/// ```
pub fn add_image_name(
    api: &ApiClient,
    project: &str,
    collection: &str,
    name: &str,
) -> Result<Link> {
    let repo_tag = repo_tag(name)?;
    let body = tags::link_body(
        REPO_TAG,
        &repo_tag.to_string(),
        Some(collection),
        project,
        &Map::new(),
    );
    Ok(api.create_link(&body)?)
}

/// Creates the `docker_image_hash` link recording that `collection` holds
/// the image `image_id`, owned by `project`; `timestamp` (the image's
/// `created`) becomes its `image_timestamp` property, which orders images
/// in the listing and in the server's resolution.
///
/// ```no_run
/// # use arv_keepdocker::images::{self, ApiClient};
/// # fn demo(api: &ApiClient) -> images::Result<()> {
/// let id = "sha256:d2c94e258dcb3c5ac2798d32e1249e42ef01cba4841c2234249495f87264ac5a";
/// images::add_image_hash(api, "zzzzz-j7d0g-0123456789abcde", "zzzzz-4zz18-0123456789abcde",
///                        id, Some("2024-01-01T00:00:00Z"))?;
/// # Ok(()) }
/// ```
pub fn add_image_hash(
    api: &ApiClient,
    project: &str,
    collection: &str,
    image_id: &str,
    timestamp: Option<&str>,
) -> Result<Link> {
    let image_id = full_image_id(image_id)?;
    let body = tags::link_body(
        HASH,
        &image_id,
        Some(collection),
        project,
        &tags::fresh_properties(timestamp),
    );
    Ok(api.create_link(&body)?)
}

/// Both links, the hash link first (as the command makes them), with the
/// same `image_timestamp`.
///
/// ```no_run
/// # use arv_keepdocker::images::{self, ApiClient};
/// # fn demo(api: &ApiClient) -> images::Result<()> {
/// let id = "sha256:d2c94e258dcb3c5ac2798d32e1249e42ef01cba4841c2234249495f87264ac5a";
/// let (hash, name) = images::add_image_metadata(
///     api, "zzzzz-j7d0g-0123456789abcde", "zzzzz-4zz18-0123456789abcde", "lab/tool:2.1", id, None)?;
/// # Ok(()) }
/// ```
pub fn add_image_metadata(
    api: &ApiClient,
    project: &str,
    collection: &str,
    name: &str,
    image_id: &str,
    timestamp: Option<&str>,
) -> Result<(Link, Link)> {
    // Both are checked before either is made.
    let repo_tag = repo_tag(name)?;
    let image_id = full_image_id(image_id)?;
    let hash = add_image_hash(api, project, collection, &image_id, timestamp)?;
    let body = tags::link_body(
        REPO_TAG,
        &repo_tag.to_string(),
        Some(collection),
        project,
        &tags::fresh_properties(timestamp),
    );
    Ok((hash, api.create_link(&body)?))
}

/// Makes sure `project` holds a collection with the portable data hash of
/// `collection` (a UUID or a portable data hash), with a hash link and,
/// when `name` is given, a repo+tag link on that same collection: the
/// project's own copy if it has one, else a new copy (no bytes move).
/// Only what is missing is created. `image_id`, when given, must be the
/// image the collection holds; at least one of `name` and `image_id` must
/// be given.
///
/// ```no_run
/// # use arv_keepdocker::images::{self, ApiClient, KeepClient};
/// # fn demo(api: &ApiClient, keep: KeepClient) -> images::Result<()> {
/// let made = images::find_or_create_image(
///     api, keep, "zzzzz-j7d0g-0123456789abcde", "zzzzz-4zz18-0123456789abcde",
///     Some("lab/tool:2.1"), None)?;
/// println!("{}", made.collection.uuid.unwrap_or_default());
/// # Ok(()) }
/// ```
pub fn find_or_create_image(
    api: &ApiClient,
    keep: KeepClient,
    project: &str,
    collection: &str,
    name: Option<&str>,
    image_id: Option<&str>,
) -> Result<Report> {
    if name.is_none() && image_id.is_none() {
        return Err(ImageError::InvalidArgument(
            "find_or_create_image needs a name or an image id".to_string(),
        ));
    }
    let repo_tag = name.map(repo_tag).transpose()?;
    let expected = image_id.map(full_image_id).transpose()?;
    let id = CollectionId::parse(collection).ok_or_else(|| {
        ImageError::InvalidArgument(format!(
            "{collection:?} is neither a collection UUID nor a portable data hash"
        ))
    })?;
    let session = Session::with_clients(api, keep)?;
    let project = Project::Uuid(project.to_string());
    let (_, made) = from_collection_with(
        &session,
        &project,
        &id,
        repo_tag.as_ref(),
        expected.as_deref(),
        Plan::library,
    )?;
    Ok(made.report(false))
}

/// Streams an image archive (as `docker save` writes it) into Keep,
/// checking every byte, then makes sure `project` holds its collection
/// and links, named `name` or else by the archive's single `RepoTags`
/// entry. An image already in Arvados is not stored again (the archive is
/// still read to its end); nothing is created for an archive that fails
/// the checks.
///
/// ```no_run
/// # use arv_keepdocker::images::{self, ApiClient, KeepClient};
/// # fn demo(api: &ApiClient, keep: KeepClient) -> images::Result<()> {
/// let archive = std::fs::File::open("tool.tar").expect("the archive");
/// let made = images::upload_archive(api, keep, "zzzzz-j7d0g-0123456789abcde", archive,
///                                   Some("lab/tool:2.1"))?;
/// # Ok(()) }
/// ```
pub fn upload_archive<R: Read + Send + 'static>(
    api: &ApiClient,
    keep: KeepClient,
    project: &str,
    archive: R,
    name: Option<&str>,
) -> Result<Report> {
    let repo_tag = name.map(repo_tag).transpose()?;
    let session = Session::with_clients(api, keep)?;
    let plan = library_plan(&session, project)?;
    let input = source::ArchiveInput::Stream {
        what: "the archive".to_string(),
        reader: Box::new(archive),
    };
    Ok(from_archive_with(&session, &plan, input, repo_tag.as_ref())?.report(false))
}

/// Streams the image `image` (a name, `repo:tag`, or an id) from the local
/// Docker daemon into Keep, then makes sure `project` holds its collection
/// and links, named `name` or else as `image` names it. An image already
/// in Arvados is not stored again.
///
/// ```no_run
/// # use arv_keepdocker::images::{self, ApiClient, KeepClient};
/// # fn demo(api: &ApiClient, keep: KeepClient) -> images::Result<()> {
/// let made = images::upload_from_daemon(api, keep, "zzzzz-j7d0g-0123456789abcde",
///                                       "ubuntu:24.04")?;
/// # Ok(()) }
/// ```
pub fn upload_from_daemon(
    api: &ApiClient,
    keep: KeepClient,
    project: &str,
    image: &str,
) -> Result<Report> {
    let image = ImageArg::parse(image, None)
        .map_err(|e| ImageError::InvalidArgument(format!("{image:?}: {e}")))?;
    let session = Session::with_clients(api, keep)?;
    let plan = library_plan(&session, project)?;
    let local = daemon::resolve_local(&image, false, false)?;
    Ok(from_daemon_with(&session, &plan, &image, None, local)?.report(false))
}

fn search(api: &ApiClient, what: Search<'_>, project: Option<&str>) -> Result<Vec<ImageRecord>> {
    let rows = list::find(api, what, project, true)?;
    rows.iter().map(|row| Ok(record(row)?)).collect()
}

fn record(row: &list::Listed) -> crate::error::Result<ImageRecord> {
    Ok(ImageRecord {
        collection: row.collection.clone(),
        repo: row.repo.clone(),
        tag: row.tag.clone(),
        image_id: row.image_id()?.to_string(),
        portable_data_hash: row.portable_data_hash.clone().unwrap_or_default(),
        timestamp: row.created_iso(),
    })
}

/// The plan of a library upload into `project`: no resume checkpoint, no
/// progress.
fn library_plan(session: &Session, project: &str) -> Result<Plan> {
    let owner = resolve_owner(&session.api, &Project::Uuid(project.to_string()))?;
    Ok(Plan::library(owner))
}

/// Phase 2 and the report.
/// An image collection ensured (phase 1) and tagged (phase 2): what
/// the upload functions here and the command have in common. The command
/// runs the `*_with` functions below with its own session and plan (dry
/// run, storage, progress); the public functions run them with a library
/// plan.
pub(crate) struct Made {
    pub ensured: Ensured,
    pub links: Vec<LinkReport>,
}

impl Made {
    fn tagged(session: &Session, plan: &Plan, ensured: Ensured) -> crate::error::Result<Made> {
        let links = tags::ensure_tags(session, &ensured, &plan.owner)?;
        Ok(Made { ensured, links })
    }

    /// What phase 1 and phase 2 made or reused.
    pub(crate) fn report(self, dry_run: bool) -> Report {
        let Made { ensured, links } = self;
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
}

/// [`upload_archive`] (and the command's `--source=FILE|-`): the image
/// collection from an archive, then its links.
pub(crate) fn from_archive_with(
    session: &Session,
    plan: &Plan,
    archive: source::ArchiveInput,
    name: Option<&RepoTag>,
) -> crate::error::Result<Made> {
    let ensured = collection::ensure_from_archive_input(session, plan, archive, name)?;
    Made::tagged(session, plan, ensured)
}

/// [`upload_from_daemon`] (and the command's legacy form): the image
/// collection from the Docker daemon, then its links; named `name` when
/// given, else as `image` names it.
pub(crate) fn from_daemon_with(
    session: &Session,
    plan: &Plan,
    image: &ImageArg,
    name: Option<&RepoTag>,
    local: daemon::Local,
) -> crate::error::Result<Made> {
    let ensured = daemon::ensure_from_daemon(session, plan, image, name, local)?;
    Made::tagged(session, plan, ensured)
}

/// The command's `--source=docker://REF`: the image collection from a
/// registry (the manifest and config already resolved), then its links.
pub(crate) fn from_registry_with(
    session: &Session,
    plan: &Plan,
    pull: registry::Pull<'_>,
    name: Option<&RepoTag>,
) -> crate::error::Result<Made> {
    let ensured = registry::ensure_from_registry(session, plan, pull, name)?;
    Made::tagged(session, plan, ensured)
}

/// [`find_or_create_image`] (and the command's `--source=UUID|PDH`): the
/// image collection copied into the target (resolved there: with
/// [`Project::OfSource`] it is the source's owner), checked to hold
/// `expected` when given, then its links.
pub(crate) fn from_collection_with(
    session: &Session,
    project: &Project,
    id: &CollectionId,
    name: Option<&RepoTag>,
    expected: Option<&str>,
    plan_for: impl FnOnce(String) -> Plan,
) -> crate::error::Result<(Plan, Made)> {
    let (plan, ensured) =
        from_collection::ensure_from_collection(session, project, id, name, plan_for)?;
    if let Some(expected) = expected {
        if expected != ensured.facts.id {
            return Err(CrateError::SourceCollection(format!(
                "collection {id} holds image {}, not {expected}",
                ensured.facts.id
            )));
        }
    }
    let made = Made::tagged(session, &plan, ensured)?;
    Ok((plan, made))
}

/// `repo[:tag]` split at the tag; `None` for no tag.
pub(crate) fn split_name(name: &str) -> Result<(&str, Option<&str>)> {
    let bad = || ImageError::InvalidArgument(format!("{name:?} is not an image name"));
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(bad());
    }
    // A colon before the last slash is a registry port, not a tag.
    let after_slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[after_slash..].rfind(':') {
        Some(i) => {
            let (repo, tag) = (&name[..after_slash + i], &name[after_slash + i + 1..]);
            if repo.is_empty() || tag.is_empty() {
                return Err(bad());
            }
            Ok((repo, Some(tag)))
        }
        None => Ok((name, None)),
    }
}

/// `repo[:tag]` with `:latest` when the tag is left out.
fn repo_tag(name: &str) -> Result<RepoTag> {
    split_name(name)?;
    parse_target(name, None).map_err(|_| {
        ImageError::InvalidArgument(format!(
            "{name:?} is an image id, not a name (use add_image_hash)"
        ))
    })
}

/// `sha256:<64 hex>`, lower case.
fn full_image_id(id: &str) -> Result<String> {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ImageError::InvalidArgument(format!(
            "{id:?} is not a full image id (sha256:<64 hex>)"
        )));
    }
    Ok(format!("sha256:{}", hex.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_at_the_tag_not_the_port() {
        assert_eq!(split_name("ubuntu").unwrap(), ("ubuntu", None));
        assert_eq!(
            split_name("ubuntu:24.04").unwrap(),
            ("ubuntu", Some("24.04"))
        );
        assert_eq!(
            split_name("host:5000/x/y").unwrap(),
            ("host:5000/x/y", None)
        );
        assert_eq!(
            split_name("host:5000/x/y:t").unwrap(),
            ("host:5000/x/y", Some("t"))
        );
        for bad in ["", "a b", ":t", "x:"] {
            assert!(split_name(bad).is_err(), "{bad}");
        }
        assert_eq!(repo_tag("lab/tool").unwrap().to_string(), "lab/tool:latest");
    }

    #[test]
    fn image_ids_are_full_and_lower_case() {
        let hex = "D2C94E258DCB3C5AC2798D32E1249E42EF01CBA4841C2234249495F87264AC5A";
        assert_eq!(
            full_image_id(hex).unwrap(),
            format!("sha256:{}", hex.to_lowercase())
        );
        assert!(full_image_id("sha256:d2c9").is_err());
        assert!(matches!(
            full_image_id("nothex").unwrap_err(),
            ImageError::InvalidArgument(_)
        ));
    }

    #[test]
    fn crate_errors_become_kinds_without_command_line_words() {
        let e: ImageError = CrateError::NoProject("zzzzz-j7d0g-000000000000000".into()).into();
        assert!(matches!(e, ImageError::NoProject(_)));
        assert!(!e.to_string().contains("--"), "{e}");
        let e: ImageError =
            CrateError::ProjectNotWritable("zzzzz-j7d0g-000000000000000".into()).into();
        assert!(!e.to_string().contains("--"), "{e}");
        let e: ImageError = CrateError::IncompatibleFormat.into();
        assert!(!e.to_string().contains("--"), "{e}");
    }
}
