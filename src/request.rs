//! The one request value that every command-line form turns into before any
//! I/O happens: the seam between the command line and the pipeline.
//!
//! The legacy form (`arv-keepdocker [images]`, `arv-keepdocker IMAGE [TAG]`)
//! and the new forms (`--source=FILE|-|UUID|PDH|docker://REF [REPO[:TAG]]`)
//! all become a
//! [`Request`]. Nothing here reads the environment, the filesystem or the
//! network; where a decision needs a fact that is only known later (does a
//! file exist? was the image found under its name or by its id?), the type
//! carries the data and a method takes the fact as an argument.
//!
//! This module also owns the pure rules that read an image argument (spec
//! §10.2): the tag regex, the `:443` strip, and which arguments are image ids.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::reference::Reference;

/// What the user asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `arv-keepdocker` or `arv-keepdocker images`: list the images stored
    /// in Arvados.
    List(List),
    /// Every other form: make sure an image collection exists (phase 1) and
    /// carries the right tags (phase 2).
    Upload(Upload),
}

/// The listing. Legacy ignores every option but `--retries` here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct List {
    /// Retries for API requests.
    pub retries: u64,
    /// `--format`: the legacy table or a JSON document.
    pub format: OutputFormat,
    /// `arv-docker images NAME`: only the rows of this repository (and
    /// tag); `None` lists every image.
    pub filter: Option<NameFilter>,
}

/// `REPO` or `REPO:TAG`: which rows of the listing `arv-docker images`
/// shows (the listing's search by name, `list::Search::Name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameFilter {
    pub repo: String,
    /// `None`: every tag of the repository.
    pub tag: Option<String>,
}

/// `--format=text|json`: what is printed on stdout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// The legacy output: the collection UUID, or the listing table.
    #[default]
    Text,
    /// One JSON document (README, "Machine-readable output").
    Json,
}

/// `--replication` and `--storage-classes`: what Keep is asked for and
/// what the collections made are given. `None` keeps the cluster's
/// defaults and legacy's `replication_desired: null`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Storage {
    /// `--replication N` (N >= 1).
    pub replication: Option<u32>,
    /// `--storage-classes A,B`: sorted, without duplicates.
    pub classes: Option<Vec<String>>,
}

/// An upload (or a re-tag of an image already in Arvados).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    /// Where the image comes from, and which repo:tag it gets.
    pub source: Source,
    /// `--name`: the collection name; `None` means the default
    /// `Docker image <repo tag> <id prefix>` (spec §7.2).
    pub collection_name: Option<String>,
    /// `--project-uuid`: the owner of the collection and of the links.
    pub project: Project,
    /// `-f`/`--force`: upload again even if the image is already in Arvados.
    pub force: bool,
    /// `--force-image-format`: store an image whose format the cluster does
    /// not list as supported.
    pub force_image_format: bool,
    /// `--pull`: pull the image from its registry first (daemon source only).
    pub pull: bool,
    /// Progress reporting on stderr, already resolved against the terminal.
    pub progress: Progress,
    /// `--silent`: informational messages off; a fresh upload does not print
    /// the collection UUID (legacy behaviour, spec §9.2).
    pub silent: bool,
    /// `--batch`. The legacy tool always passed `--batch` to its uploader, so
    /// an invalid resume cache is ignored whatever this says; it is kept so
    /// the pipeline can tell what the user typed.
    pub batch: bool,
    /// `--resume`/`--no-resume`, already `false` when `cache` is `false`
    /// (legacy: `--no-cache` implies `--no-resume`).
    pub resume: bool,
    /// `--cache`/`--no-cache`: keep upload state for a later resume.
    pub cache: bool,
    /// `--retries`: retries for API and Keep requests (legacy default 10).
    pub retries: u64,
    /// `--dry-run`: check and plan, create nothing.
    pub dry_run: bool,
    /// `--reuse-layers`: layer-aligned blocks, the layer index, and no
    /// upload of a layer the cluster holds (daemon, file and standard
    /// input; a registry source always aligns).
    pub reuse_layers: bool,
    /// `--format`: the UUID line, or a JSON report.
    pub format: OutputFormat,
    /// `--replication`, `--storage-classes`.
    pub storage: Storage,
    /// `--platform`, `--insecure-registry`, `--compressed-layers`: how a
    /// `docker://` source is pulled (boxed: rarely set, and a request is
    /// passed by value).
    pub pull_from: Box<PullArgs>,
}

/// How an image is pulled from a registry (`--source=docker://REF`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PullArgs {
    /// `--platform=OS/ARCH[/VARIANT]`; `None`: linux/amd64.
    pub platform: Option<PlatformArg>,
    /// `--insecure-registry=HOST[:PORT]`, each time it was given: hosts
    /// that may be reached over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// `--compressed-layers`: store the layer blobs as pulled.
    pub compressed_layers: bool,
}

/// `--platform=OS/ARCH[/VARIANT]`, as Docker writes it (`linux/arm64/v8`),
/// checked; kept as text (the request stays small).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformArg(String);

impl PlatformArg {
    /// `OS/ARCH` or `OS/ARCH/VARIANT`, each part lowercase letters, digits,
    /// `_`, `.` or `-` (not empty).
    pub fn parse(text: &str) -> Option<PlatformArg> {
        let parts: Vec<&str> = text.split('/').collect();
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
                })
        };
        let well_formed = (2..=3).contains(&parts.len()) && parts.iter().all(|p| ok(p));
        well_formed.then(|| PlatformArg(text.to_string()))
    }

    fn part(&self, n: usize) -> Option<&str> {
        self.0.split('/').nth(n)
    }

    pub fn os(&self) -> &str {
        self.part(0).expect("checked by parse")
    }

    pub fn architecture(&self) -> &str {
        self.part(1).expect("checked by parse")
    }

    pub fn variant(&self) -> Option<&str> {
        self.part(2)
    }
}

/// Where the image comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Legacy form `IMAGE [TAG]`: an image in the local Docker daemon. The
    /// argument both finds the image and names it.
    Daemon(ImageArg),
    /// `--source=...`: an image archive or an image collection, named by the
    /// positional `REPO[:TAG]` (or `REPO TAG`) if one was given.
    Given {
        input: Input,
        /// `None`: take the name from the archive's own `RepoTags` entry, or
        /// store the image by its hash only if there is none.
        repo_tag: Option<RepoTag>,
    },
    /// `arv-docker push NAME`: the most preferred image of that name in
    /// Arvados (the listing's order) if there is one, else the image of
    /// that name in the local Docker daemon; tagged NAME.
    Named(RepoTag),
}

/// The `--source` value, interpreted according to `--from`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// An image archive file written by `docker save`.
    File(PathBuf),
    /// `--source=-`: an image archive on standard input.
    Stdin,
    /// A collection in Arvados holding one image archive.
    Collection(CollectionId),
    /// `--source=X` without `--from`: an existing file wins, then a
    /// collection identifier (see [`Input::resolve`]).
    Auto(OsString),
    /// `--source=docker://REF`: an image in a registry, pulled with no
    /// Docker daemon (boxed: the other inputs are one word).
    Registry(Box<Reference>),
    /// `arv-docker load -i IMAGE`: an image in the local Docker daemon, by
    /// name or id, as the legacy positional `IMAGE` finds it.
    Daemon(ImageArg),
    /// `arv-docker load -i X` without `--from`: as [`Input::Auto`], and
    /// then an image in the local Docker daemon.
    AutoOrDaemon(OsString),
}

/// The scheme of a registry `--source`.
pub const DOCKER_SCHEME: &str = "docker://";

/// A collection named by its UUID or its portable data hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CollectionId {
    /// `xxxxx-4zz18-xxxxxxxxxxxxxxx`
    Uuid(String),
    /// `<32 hex>+<size>`
    Pdh(String),
}

/// The owner of the collection and of its links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Project {
    /// No `--project-uuid` (or an empty one, which legacy also treated as
    /// "home" for the collection): the caller's home project.
    Home,
    /// `--project-uuid=UUID`, a user or group (project) UUID. Not validated
    /// here: the legacy tool let the server judge it.
    Uuid(String),
    /// `--project-uuid=source`: the project that already holds the source
    /// collection. Only valid with a collection source.
    OfSource,
}

/// Progress reporting on stderr (spec §9.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// `\r206M / 206M 100.0% ` updates.
    Human,
    /// `<argv0> <pid>: <written> written <expected> total` lines.
    Machine,
    /// Nothing.
    Off,
}

/// Which progress option was given, before the terminal is consulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressChoice {
    /// `--progress`
    Human,
    /// `--no-progress`
    Off,
    /// `--batch-progress`
    Machine,
}

impl Progress {
    /// The legacy default rule (arv-put `parse_arguments`): an explicit
    /// choice wins, even `--progress` with `--silent`; otherwise human
    /// progress when stderr is a terminal and `--silent` was not given.
    pub fn resolve(choice: Option<ProgressChoice>, silent: bool, stderr_is_tty: bool) -> Progress {
        match choice {
            Some(ProgressChoice::Human) => Progress::Human,
            Some(ProgressChoice::Machine) => Progress::Machine,
            Some(ProgressChoice::Off) => Progress::Off,
            None if !silent && stderr_is_tty => Progress::Human,
            None => Progress::Off,
        }
    }
}

/// A repository name and a tag, as recorded in a `docker_image_repo+tag`
/// link (`name` = `repo:tag`) and in the `docker-image-repo-tag` property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoTag {
    /// The repository, with any registry `host[:port]/` and path slashes.
    pub repo: String,
    /// The tag.
    pub tag: String,
}

impl fmt::Display for RepoTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.repo, self.tag)
    }
}

/// A hexadecimal image id or id prefix, lowercase, without `sha256:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageIdPrefix(String);

impl ImageIdPrefix {
    /// 1 to 64 hex digits, any case.
    pub fn parse(text: &str) -> Option<ImageIdPrefix> {
        let ok = (1..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| ImageIdPrefix(text.to_ascii_lowercase()))
    }

    /// The hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the image id (`sha256:<64 hex>`, or a v1 id of bare hex)
    /// starts with this prefix.
    pub fn matches(&self, image_id: &str) -> bool {
        let hex = image_id.strip_prefix("sha256:").unwrap_or(image_id);
        hex.to_ascii_lowercase().starts_with(&self.0)
    }
}

/// The legacy positional `IMAGE [TAG]` after the rules of spec §10.2.
///
/// Whether the repo:tag is recorded (spec §7.3) depends on how the image
/// was found, which only the pipeline knows; see [`ImageArg::recorded_repo_tag`].
///
/// The legacy rule dropped the repo:tag whenever the image id started with
/// the argument, so repositories named `s`, `sha` or `sha256` (prefixes of
/// every `sha256:` id), or `a` (a prefix of some ids), lost their tag. We
/// decide by the form of the argument and by how the image was found
/// instead: only `sha256:<hex>` and bare hex can be ids, and a bare hex
/// argument is a name first, as it is for Docker itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageArg {
    /// `repo`, `repo:tag` or `repo tag` (including `s`, `sha`, `sha256`, and
    /// `repo@sha256:<hex>`, which legacy splits into repo `repo@sha256` and
    /// tag `<hex>` and which Docker and the server both accept as is).
    Name(RepoTag),
    /// `sha256:<hex>` (or `sha256 <hex>`), full or prefix: an image id. The
    /// image is recorded by its hash only. (Legacy asked Arvados for every
    /// image whose hash starts with `sha256`: spec §10.3.)
    Id(ImageIdPrefix),
    /// Bare hex such as `d2c94e258dcb`, without a tag: the image named
    /// `<hex>:latest` if one exists (then it keeps that repo:tag); otherwise
    /// the image whose id starts with the hex (then hash only).
    NameOrId { name: RepoTag, id: ImageIdPrefix },
}

/// How the pipeline found the image an [`ImageArg`] asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FoundBy {
    /// Under the name `repo:tag` (in Docker or in Arvados).
    Name,
    /// By image id or id prefix.
    Id,
}

impl ImageArg {
    /// The name to look for first, if the argument can be a name.
    pub fn name(&self) -> Option<&RepoTag> {
        match self {
            ImageArg::Name(name) | ImageArg::NameOrId { name, .. } => Some(name),
            ImageArg::Id(_) => None,
        }
    }

    /// The id prefix to look for (after the name, if there is one).
    pub fn id_prefix(&self) -> Option<&ImageIdPrefix> {
        match self {
            ImageArg::Id(id) | ImageArg::NameOrId { id, .. } => Some(id),
            ImageArg::Name(_) => None,
        }
    }

    /// The repo:tag to record for the image, given how it was found; `None`
    /// means the image is stored by its hash only (spec §7.3, fixed).
    pub fn recorded_repo_tag(&self, found_by: FoundBy) -> Option<&RepoTag> {
        match (self, found_by) {
            (ImageArg::Name(name), _) => Some(name),
            (ImageArg::NameOrId { name, .. }, FoundBy::Name) => Some(name),
            (ImageArg::NameOrId { .. } | ImageArg::Id(_), _) => None,
        }
    }

    /// Reads `IMAGE [TAG]` as the legacy tool did (spec §10.2 steps 2 and 3),
    /// then decides which arguments are image ids.
    pub fn parse(image: &str, tag: Option<&str>) -> Result<ImageArg, TagGivenTwice> {
        let name = split_repo_tag(image, tag)?;
        if name.repo.eq_ignore_ascii_case("sha256") {
            if let Some(id) = ImageIdPrefix::parse(&name.tag) {
                return Ok(ImageArg::Id(id));
            }
        }
        if tag.is_none() && !image.contains(':') {
            if let Some(id) = ImageIdPrefix::parse(&name.repo) {
                return Ok(ImageArg::NameOrId { name, id });
            }
        }
        Ok(ImageArg::Name(name))
    }
}

/// Reads the target `REPO[:TAG]` or `REPO TAG` of a `--source` upload with
/// the same rules as the legacy image argument (spec §10.2 steps 2 and 3;
/// `images` is an ordinary name here). An image id cannot name a target.
pub fn parse_target(image: &str, tag: Option<&str>) -> Result<RepoTag, TargetError> {
    let name = split_repo_tag(image, tag).map_err(TargetError::TagGivenTwice)?;
    if name.repo.eq_ignore_ascii_case("sha256") && ImageIdPrefix::parse(&name.tag).is_some() {
        return Err(TargetError::ImageId(image.to_string()));
    }
    Ok(name)
}

/// Why a `--source` target name was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetError {
    /// The legacy "already includes a tag" error.
    TagGivenTwice(TagGivenTwice),
    /// `sha256:<hex>` given as a name.
    ImageId(String),
}

/// Legacy: `image 'repo:tag' already includes a tag, cannot add tag
/// argument 'x'` (logged at ERROR, exit status 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagGivenTwice {
    pub image: String,
    pub tag: String,
}

impl fmt::Display for TagGivenTwice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "image {} already includes a tag, cannot add tag argument {}",
            py_repr(&self.image),
            py_repr(&self.tag)
        )
    }
}

/// Spec §10.2 steps 2 and 3: the tag split and the `:443` strip.
fn split_repo_tag(image: &str, tag: Option<&str>) -> Result<RepoTag, TagGivenTwice> {
    let (mut repo, tag) = match (ends_with_tag(image), tag) {
        (true, Some(extra)) => {
            return Err(TagGivenTwice {
                image: image.to_string(),
                tag: extra.to_string(),
            })
        }
        // rsplit(':', 1): "myreg.example:8888/repo/img:tag" keeps its port.
        (true, None) => {
            let (repo, tag) = image.rsplit_once(':').expect("the tag regex matched a ':'");
            (repo.to_string(), tag.to_string())
        }
        (false, tag) => (image.to_string(), tag.unwrap_or("latest").to_string()),
    };
    // `docker pull host:443/x` lists the image as `host/x` afterwards.
    if let Some((hostport, path)) = repo.split_once('/') {
        if let Some(host) = hostport.strip_suffix(":443") {
            repo = format!("{host}/{path}");
        }
    }
    Ok(RepoTag { repo, tag })
}

/// The legacy test `re.search(r':\w[-.\w]{0,127}$', image)`, with Python's
/// semantics: `\w` is Unicode-aware (letters and digits of any script, and
/// `_`), and `$` also matches just before a final newline.
fn ends_with_tag(image: &str) -> bool {
    let body = image.strip_suffix('\n').unwrap_or(image);
    let Some((_, tail)) = body.rsplit_once(':') else {
        return false;
    };
    let mut chars = tail.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    is_word(first)
        && tail.chars().count() <= 128
        && chars.all(|c| c == '-' || c == '.' || is_word(c))
}

/// Python's `\w` for `str` patterns: alphanumeric or `_`. (Rust's
/// `is_alphanumeric` also admits a few combining marks that Python does not;
/// no Docker tag can hold those anyway.)
fn is_word(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

impl fmt::Display for CollectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CollectionId::Uuid(text) | CollectionId::Pdh(text) => f.write_str(text),
        }
    }
}

impl CollectionId {
    /// A collection UUID or a portable data hash, exactly.
    pub fn parse(text: &str) -> Option<CollectionId> {
        let lower_alnum = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        };
        let parts: Vec<&str> = text.split('-').collect();
        if let [cluster, "4zz18", id] = parts[..] {
            if cluster.len() == 5 && id.len() == 15 && lower_alnum(cluster) && lower_alnum(id) {
                return Some(CollectionId::Uuid(text.to_string()));
            }
        }
        if let Some((hash, size)) = text.split_once('+') {
            let hex =
                hash.len() == 32 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            if hex && !size.is_empty() && size.bytes().all(|b| b.is_ascii_digit()) {
                return Some(CollectionId::Pdh(text.to_string()));
            }
        }
        None
    }

    /// The identifier as given.
    pub fn as_str(&self) -> &str {
        match self {
            CollectionId::Uuid(s) | CollectionId::Pdh(s) => s,
        }
    }
}

impl Input {
    /// The `--from` rules for an [`Input::Auto`] source: an existing file
    /// wins, then a collection identifier, else an error saying what was
    /// tried. `is_file` is asked about the path (the caller does the stat).
    /// Other inputs are returned unchanged.
    ///
    /// [`Input::AutoOrDaemon`] follows the same rules, then takes any
    /// other argument that can be a Docker image name or id (not one that
    /// reads as a path: see [`can_be_docker_image`]) as a daemon image.
    pub fn resolve(self, is_file: impl FnOnce(&Path) -> bool) -> Result<Input, UnresolvedSource> {
        let (arg, daemon) = match self {
            Input::Auto(arg) => (arg, false),
            Input::AutoOrDaemon(arg) => (arg, true),
            other => return Ok(other),
        };
        if is_file(Path::new(&arg)) {
            return Ok(Input::File(PathBuf::from(arg)));
        }
        if let Some(id) = arg.to_str().and_then(CollectionId::parse) {
            return Ok(Input::Collection(id));
        }
        match arg.to_str() {
            Some(text) if daemon && can_be_docker_image(text) => {
                let image = ImageArg::parse(text, None).expect("no tag argument, no conflict");
                Ok(Input::Daemon(image))
            }
            _ => Err(UnresolvedSource(arg)),
        }
    }
}

impl Upload {
    /// Resolves an [`Input::Auto`] source (see [`Input::resolve`]) and then
    /// checks the one rule that needs the resolved kind: `--project-uuid=source`
    /// needs a collection source.
    pub fn resolve_input(
        mut self,
        is_file: impl FnOnce(&Path) -> bool,
    ) -> Result<Upload, SourceError> {
        if let Source::Given { input, .. } = &mut self.source {
            let given = std::mem::replace(input, Input::Stdin);
            let daemon = matches!(given, Input::AutoOrDaemon(_));
            *input = given.resolve(is_file).map_err(|UnresolvedSource(arg)| {
                if daemon {
                    SourceError::UnresolvedInput(arg)
                } else {
                    SourceError::Unresolved(arg)
                }
            })?;
            if self.project == Project::OfSource {
                if let Input::File(path) = input {
                    return Err(SourceError::OfSourceOfFile(path.clone()));
                }
                if let Input::Registry(reference) = input {
                    return Err(SourceError::OfSourceOfRegistry(reference.to_string()));
                }
            }
        }
        Ok(self)
    }
}

/// Whether `text` can name an image in the Docker daemon: a name
/// (`[HOST[:PORT]/]PATH[:TAG]`, lower-case path, no spaces) or an id. A
/// path that names no file (`./x.tar`, `/tmp/x`, `x.tar`) cannot, so that
/// a mistyped file name is reported as a missing file, not as an image
/// Docker does not have.
pub fn can_be_docker_image(text: &str) -> bool {
    let well_formed = !text.is_empty()
        && !text.starts_with(['.', '/', '-', '~'])
        && !text.contains(char::is_whitespace)
        && !text.contains("//");
    let archive_like = [".tar", ".tar.gz", ".tgz", ".tar.zst"]
        .iter()
        .any(|ext| text.ends_with(ext));
    well_formed && !archive_like
}

/// A `--source` value that is neither an existing file nor a collection
/// identifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnresolvedSource(pub OsString);

impl fmt::Display for UnresolvedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "--source {}: no such file, and not a collection UUID or portable data hash \
             (use --from=file or --from=collection to say which was meant)",
            py_repr(&OsStr::new(&self.0).to_string_lossy())
        )
    }
}

/// Why [`Upload::resolve_input`] failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceError {
    /// See [`UnresolvedSource`].
    Unresolved(OsString),
    /// `--project-uuid=source` with a `--source` that turned out to be a file.
    OfSourceOfFile(PathBuf),
    /// `--source` names a directory.
    Directory(PathBuf),
    /// `--project-uuid=source` with a `docker://` source.
    OfSourceOfRegistry(String),
    /// `arv-docker load -i X`: X is no file, collection or Docker image name.
    UnresolvedInput(OsString),
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::Unresolved(arg) => UnresolvedSource(arg.clone()).fmt(f),
            SourceError::Directory(path) => write!(
                f,
                "--source {} is a directory; give the image archive file \
                 (`docker save -o FILE IMAGE` writes one)",
                py_repr(&path.to_string_lossy())
            ),
            SourceError::UnresolvedInput(arg) => write!(
                f,
                "-i {}: no such file, and not a collection UUID, a portable data hash \
                 or a Docker image name (use --from=file, --from=collection or \
                 --from=daemon to say which was meant)",
                py_repr(&OsStr::new(arg).to_string_lossy())
            ),
            SourceError::OfSourceOfFile(path) => write!(
                f,
                "--project-uuid=source names the project of a source collection, but --source {} is a file",
                py_repr(&path.to_string_lossy())
            ),
            SourceError::OfSourceOfRegistry(reference) => write!(
                f,
                "--project-uuid=source names the project of a source collection, but \
                 --source=docker://{reference} is an image in a registry; give a project \
                 UUID, or leave --project-uuid out for your home project"
            ),
        }
    }
}

/// Python's `repr()` of a `str`, as legacy messages quote values with `%r`:
/// single quotes unless the text holds a `'` and no `"`; backslash escapes
/// for the quote, `\`, `\t`, `\n`, `\r`, and for characters Python deems
/// unprintable (controls, separators other than space, format and
/// private-use characters; unassigned code points are shown as is).
pub fn py_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c == ' ' || c.is_ascii_graphic() => out.push(c),
            c if c.is_ascii() || (!py_printable(c) && (c as u32) <= 0xff) => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if !py_printable(c) && (c as u32) <= 0xffff => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if !py_printable(c) => out.push_str(&format!("\\U{:08x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `str.isprintable()` for one non-ASCII character, from the
/// Unicode categories it excludes (Cc, Cf, Co, Zs, Zl, Zp; Cn is not known
/// without tables and counts as printable here).
fn py_printable(c: char) -> bool {
    let u = c as u32;
    let unprintable = c.is_control()
        || matches!(u, 0xa0 | 0xad | 0x1680 | 0x2000..=0x200f | 0x2028..=0x202f | 0x205f..=0x2064)
        || matches!(u, 0x2066..=0x206f | 0x3000 | 0xfeff | 0xfff9..=0xfffb)
        || matches!(
            u,
            0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x890 | 0x891 | 0x8e2 | 0x180e
        )
        || matches!(u, 0x110bd | 0x110cd | 0x13430..=0x1343f | 0x1bca0..=0x1bca3 | 0x1d173..=0x1d17a)
        || matches!(u, 0xe0001 | 0xe0020..=0xe007f)
        || matches!(u, 0xe000..=0xf8ff | 0xf0000..=0xffffd | 0x100000..=0x10fffd);
    !unprintable
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(repo: &str, tag: &str) -> RepoTag {
        RepoTag {
            repo: repo.to_string(),
            tag: tag.to_string(),
        }
    }

    fn id(hex: &str) -> ImageIdPrefix {
        ImageIdPrefix(hex.to_string())
    }

    const HEX: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    /// Spec §10.2 step 2-3 table, every row checked against the legacy tool
    /// (keepdocker.py `main()` positional code, Python 3.11.7, arvados 3.2.1).
    #[test]
    fn legacy_split_and_strip() {
        let rows: &[(&str, Option<&str>, &str, &str)] = &[
            ("repo", None, "repo", "latest"),
            ("repo:tag", None, "repo", "tag"),
            ("img", Some("tag"), "img", "tag"),
            ("img", Some("latest"), "img", "latest"),
            (
                "myreg.example:8888/repo/img",
                None,
                "myreg.example:8888/repo/img",
                "latest",
            ),
            (
                "myreg.example:8888/repo/img:tag",
                None,
                "myreg.example:8888/repo/img",
                "tag",
            ),
            (
                "registry.hub.docker.com:443/library/debian:bullseye-slim",
                None,
                "registry.hub.docker.com/library/debian",
                "bullseye-slim",
            ),
            ("[::1]:8888/repo/img", None, "[::1]:8888/repo/img", "latest"),
            ("[::1]/repo/img", None, "[::1]/repo/img", "latest"),
            (
                "[::1]:8888/repo/img:tag",
                None,
                "[::1]:8888/repo/img",
                "tag",
            ),
            ("localhost:5000", None, "localhost", "5000"),
            ("host:443", None, "host", "443"),
            ("img:-bad", None, "img:-bad", "latest"),
            ("img:tag/x", None, "img:tag/x", "latest"),
            ("x:443/a:443/b", None, "x/a:443/b", "latest"),
            ("host:443/x", None, "host/x", "latest"),
            ("host:443/x:tag", None, "host/x", "tag"),
            ("host:4430/x", None, "host:4430/x", "latest"),
            ("a/b:443/c", None, "a/b:443/c", "latest"),
            (":443/x", None, "/x", "latest"),
            ("img:ünï", None, "img", "ünï"),
            ("img:é", None, "img", "é"),
            ("img:٣", None, "img", "٣"),
            ("img:_x", None, "img", "_x"),
            ("img:.x", None, "img:.x", "latest"),
            ("img:x.y-z_w", None, "img", "x.y-z_w"),
            ("img:", None, "img:", "latest"),
            ("img:x y", None, "img:x y", "latest"),
            ("img:x\n", None, "img", "x\n"),
            ("img:x\ny", None, "img:x\ny", "latest"),
            ("img:x:y", None, "img:x", "y"),
            ("IMG:Tag", None, "IMG", "Tag"),
            ("images:latest", None, "images", "latest"),
            ("Images", None, "Images", "latest"),
            ("", None, "", "latest"),
            ("", Some(""), "", ""),
            ("x", Some(""), "x", ""),
            ("-", Some("x"), "-", "x"),
            ("--", Some("x"), "--", "x"),
        ];
        for &(image, tag, repo, want_tag) in rows {
            assert_eq!(
                split_repo_tag(image, tag),
                Ok(rt(repo, want_tag)),
                "{image:?} {tag:?}"
            );
        }
        let long_ok = format!("img:t{}", "a".repeat(127));
        assert_eq!(split_repo_tag(&long_ok, None).unwrap().repo, "img");
        let too_long = format!("img:t{}", "a".repeat(128));
        assert_eq!(split_repo_tag(&too_long, None).unwrap().repo, too_long);
    }

    /// Legacy: exit 1 with exactly this ERROR text (checked with the real
    /// `main()`, quotes chosen as Python's repr chooses them).
    #[test]
    fn tag_given_twice() {
        let rows = [
            (
                "myrepo:mytag",
                "extratag",
                "image 'myrepo:mytag' already includes a tag, cannot add tag argument 'extratag'",
            ),
            (
                "it's:x",
                "y",
                "image \"it's:x\" already includes a tag, cannot add tag argument 'y'",
            ),
            (
                "repo:tag",
                "it's",
                "image 'repo:tag' already includes a tag, cannot add tag argument \"it's\"",
            ),
        ];
        for (image, tag, msg) in rows {
            let err = ImageArg::parse(image, Some(tag)).unwrap_err();
            assert_eq!(err.to_string(), msg);
            let err = parse_target(image, Some(tag)).unwrap_err();
            assert_eq!(
                err,
                TargetError::TagGivenTwice(TagGivenTwice {
                    image: image.into(),
                    tag: tag.into()
                })
            );
        }
    }

    /// Which arguments are image ids (our fix of spec §7.3 and §10.3).
    #[test]
    fn image_ids() {
        let full = format!("sha256:{HEX}");
        assert_eq!(ImageArg::parse(&full, None), Ok(ImageArg::Id(id(HEX))));
        assert_eq!(
            ImageArg::parse("sha256", Some(HEX)),
            Ok(ImageArg::Id(id(HEX)))
        );
        assert_eq!(
            ImageArg::parse("SHA256:ABC12", None),
            Ok(ImageArg::Id(id("abc12")))
        );
        assert_eq!(
            ImageArg::parse("d2c94e258dcb", None),
            Ok(ImageArg::NameOrId {
                name: rt("d2c94e258dcb", "latest"),
                id: id("d2c94e258dcb")
            })
        );
        assert_eq!(
            ImageArg::parse(HEX, None),
            Ok(ImageArg::NameOrId {
                name: rt(HEX, "latest"),
                id: id(HEX)
            })
        );
        // A tag given, a registry path, or more than 64 digits: a name.
        assert_eq!(
            ImageArg::parse("d2c94e258dcb", Some("v1")),
            Ok(ImageArg::Name(rt("d2c94e258dcb", "v1")))
        );
        assert_eq!(
            ImageArg::parse("d2c94e258dcb:latest", None),
            Ok(ImageArg::Name(rt("d2c94e258dcb", "latest")))
        );
        assert_eq!(
            ImageArg::parse("cafe/beef", None),
            Ok(ImageArg::Name(rt("cafe/beef", "latest")))
        );
        let too_long = format!("{HEX}0");
        assert_eq!(
            ImageArg::parse(&too_long, None),
            Ok(ImageArg::Name(rt(&too_long, "latest")))
        );
        // `sha256:` followed by something that is not hex is a repo:tag.
        assert_eq!(
            ImageArg::parse("sha256:latest", None),
            Ok(ImageArg::Name(rt("sha256", "latest")))
        );
        // A digest reference stays what legacy made of it.
        let digest = format!("repo@sha256:{HEX}");
        assert_eq!(
            ImageArg::parse(&digest, None),
            Ok(ImageArg::Name(rt("repo@sha256", HEX)))
        );
        assert_eq!(rt("repo@sha256", HEX).to_string(), digest);
    }

    /// Legacy bug (spec §7.3): repositories named `s`, `sha`, `sha256`, or a
    /// hex word such as `a` or `cafe` lost their repo:tag whenever the image
    /// id started with the argument. Decided: `s`/`sha`/`sha256` are names,
    /// always recorded; a hex word keeps its repo:tag when the image was
    /// found under that name, as Docker resolves names before ids.
    #[test]
    fn repo_tag_kept_for_names_that_prefix_the_hash() {
        for repo in ["s", "sh", "sha", "sha2", "sha256", "sha256x"] {
            let arg = ImageArg::parse(repo, None).unwrap();
            assert_eq!(arg, ImageArg::Name(rt(repo, "latest")));
            assert_eq!(
                arg.recorded_repo_tag(FoundBy::Name),
                Some(&rt(repo, "latest"))
            );
        }
        let cafe = ImageArg::parse("cafe", None).unwrap();
        assert_eq!(cafe.name(), Some(&rt("cafe", "latest")));
        assert_eq!(
            cafe.recorded_repo_tag(FoundBy::Name),
            Some(&rt("cafe", "latest"))
        );
        assert_eq!(cafe.recorded_repo_tag(FoundBy::Id), None);
        let by_id = ImageArg::parse(&format!("sha256:{}", &HEX[..12]), None).unwrap();
        assert_eq!(by_id.name(), None);
        assert_eq!(by_id.recorded_repo_tag(FoundBy::Id), None);
    }

    #[test]
    fn id_prefix_matches_v1_and_v2_ids() {
        let p = id("d2c94e");
        assert!(p.matches("sha256:d2c94e258dcb"));
        assert!(p.matches("D2C94E258DCB"));
        assert!(!p.matches("sha256:e2c94e258dcb"));
        assert_eq!(p.as_str(), "d2c94e");
    }

    #[test]
    fn targets() {
        assert_eq!(parse_target("repo", None), Ok(rt("repo", "latest")));
        assert_eq!(parse_target("repo", Some("v2")), Ok(rt("repo", "v2")));
        assert_eq!(
            parse_target("host:443/r/x:1.0", None),
            Ok(rt("host/r/x", "1.0"))
        );
        assert_eq!(parse_target("images", None), Ok(rt("images", "latest")));
        assert_eq!(
            parse_target("d2c94e258dcb", None),
            Ok(rt("d2c94e258dcb", "latest"))
        );
        let full = format!("sha256:{HEX}");
        assert_eq!(
            parse_target(&full, None),
            Err(TargetError::ImageId(full.clone()))
        );
    }

    #[test]
    fn progress_default() {
        use ProgressChoice as C;
        let rows = [
            (None, false, true, Progress::Human),
            (None, false, false, Progress::Off),
            (None, true, true, Progress::Off),
            (Some(C::Human), true, false, Progress::Human),
            (Some(C::Off), false, true, Progress::Off),
            (Some(C::Machine), true, true, Progress::Machine),
        ];
        for (choice, silent, tty, want) in rows {
            assert_eq!(
                Progress::resolve(choice, silent, tty),
                want,
                "{choice:?} {silent} {tty}"
            );
        }
    }

    #[test]
    fn collection_ids() {
        let uuid = "zzzzz-4zz18-0tayximqcyb6uf8";
        assert_eq!(
            CollectionId::parse(uuid),
            Some(CollectionId::Uuid(uuid.into()))
        );
        let pdh = "d41d8cd98f00b204e9800998ecf8427e+0";
        assert_eq!(
            CollectionId::parse(pdh),
            Some(CollectionId::Pdh(pdh.into()))
        );
        for bad in [
            "zzzzz-j7d0g-0tayximqcyb6uf8",
            "zzzzz-4zz18-0tayximqcyb6uf",
            "ZZZZZ-4zz18-0tayximqcyb6uf8",
            "d41d8cd98f00b204e9800998ecf8427e",
            "d41d8cd98f00b204e9800998ecf8427e+",
            "D41D8CD98F00B204E9800998ECF8427E+0",
            "d41d8cd98f00b204e9800998ecf8427e+0+Afoo",
            "image.tar",
        ] {
            assert_eq!(CollectionId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn auto_source_resolution() {
        let uuid = "zzzzz-4zz18-0tayximqcyb6uf8";
        let auto = |s: &str| Input::Auto(s.into());
        assert_eq!(
            auto("img.tar").resolve(|_| true),
            Ok(Input::File("img.tar".into()))
        );
        // A file that happens to be named like a UUID wins.
        assert_eq!(auto(uuid).resolve(|_| true), Ok(Input::File(uuid.into())));
        assert_eq!(
            auto(uuid).resolve(|_| false),
            Ok(Input::Collection(CollectionId::Uuid(uuid.into())))
        );
        let err = auto("nope.tar").resolve(|_| false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--source 'nope.tar': no such file, and not a collection UUID or portable data hash \
             (use --from=file or --from=collection to say which was meant)"
        );
        assert_eq!(Input::Stdin.resolve(|_| unreachable!()), Ok(Input::Stdin));
    }

    #[test]
    fn python_repr() {
        let rows = [
            ("x", "'x'"),
            ("", "''"),
            ("it's", "\"it's\""),
            ("a'b\"c", "'a\\'b\"c'"),
            ("back\\slash", "'back\\\\slash'"),
            ("t\tn\nr\r", "'t\\tn\\nr\\r'"),
            ("\x1c3", "'\\x1c3'"),
            ("\x7f", "'\\x7f'"),
            ("é٣ü", "'é٣ü'"),
            ("\u{a0}", "'\\xa0'"),
            ("\u{2008}", "'\\u2008'"),
            ("\u{e0001}", "'\\U000e0001'"),
        ];
        for (text, want) in rows {
            assert_eq!(py_repr(text), want, "{text:?}");
        }
    }
}
