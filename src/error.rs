//! The crate's one error type.
//!
//! Every failure the tool can report is a variant here, carrying the context
//! that makes the message useful: which file and line, which request and its
//! `X-Request-Id`, what the server said. `Display` gives one line that names
//! the thing and, where there is one, the fix. No message ever contains the
//! API token or an `Authorization` header: the API and Keep clients redact
//! the token from anything a server echoes before it lands here.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::docker::archive::ArchiveError;
use crate::docker::cli::DockerError;
use crate::request::SourceError;

/// Every error of the crate.
#[derive(Debug)]
pub enum Error {
    /// A `settings.conf` line that is not `KEY=VALUE` with exactly one `=`.
    /// (The legacy tool crashes with a traceback on these.)
    SettingsSyntax {
        path: PathBuf,
        line: usize,
        /// "has no '='" or "has more than one '='".
        problem: &'static str,
    },
    /// `ARVADOS_API_HOST` and/or `ARVADOS_API_TOKEN` are not set anywhere.
    MissingSettings {
        /// The variable names that are missing, in the legacy order.
        missing: Vec<&'static str>,
        /// The settings file that was read, or where one would be read.
        file: PathBuf,
        /// A settings file that exists but could not be read, and why.
        unreadable: Option<(PathBuf, String)>,
    },
    /// A setting has a value the tool cannot use (an API host with a
    /// scheme, a Keep service URL without a host, ...).
    BadSetting {
        name: &'static str,
        value: String,
        problem: String,
    },
    /// The cache directory (or a subdirectory) could not be created.
    CacheDir { path: PathBuf, source: io::Error },
    /// A CA bundle named by `SSL_CERT_FILE` (or a system default) could not
    /// be read or holds no certificate.
    CaBundle { path: PathBuf, problem: String },
    /// The API server answered with an error status. `message` is the
    /// server's `errors` list joined with "; " (or the start of a non-JSON
    /// body).
    Api {
        method: &'static str,
        /// The URL without its query string.
        url: String,
        status: u16,
        message: String,
        request_id: String,
    },
    /// The API server could not be reached, or the connection broke.
    ApiTransport {
        method: &'static str,
        url: String,
        problem: String,
        request_id: String,
    },
    /// The API server answered 2xx with a body this client cannot use.
    ApiResponse {
        method: &'static str,
        url: String,
        problem: String,
        request_id: String,
    },
    /// No Keep service to write to or read from.
    NoKeepServices { request_id: String, problem: String },
    /// A block could not be stored with the wanted replication.
    KeepWrite(Box<KeepWriteFailure>),
    /// A block could not be read from any Keep service.
    KeepRead {
        request_id: String,
        locator: String,
        attempts: u32,
        /// Every service answered 403, 404 or 410.
        not_found: bool,
        services: Vec<(String, String)>,
    },
    /// A malformed Keep locator.
    BadLocator { locator: String, problem: String },
    /// Reading the stream to upload failed (a file, a pipe, a child's
    /// stdout). `what` names the source.
    Input { what: String, source: io::Error },
    /// The `--source` value could not be resolved (see `SourceError`).
    Source(SourceError),
    /// The image archive was refused. `what` names the source (a path,
    /// "standard input").
    Archive { what: String, error: ArchiveError },
    /// The archive's image id changed between the quick look at its headers
    /// and the full read (the file was rewritten meanwhile).
    ArchiveChanged {
        what: String,
        before: String,
        after: String,
    },
    /// The image format is not one the cluster supports, and
    /// `--force-image-format` was not given (legacy wording; the reason was
    /// logged before).
    IncompatibleFormat,
    /// `--project-uuid` is neither a user nor a group UUID (legacy arv-put
    /// wording).
    BadProject(String),
    /// `--project-uuid` names a project or user the token may read but not
    /// write to.
    ProjectNotWritable(String),
    /// `--project-uuid` names a project or user the server does not show
    /// this token.
    NoProject(String),
    /// A collection given as the source cannot be used: not found or not
    /// readable, not exactly one image archive, links or config that
    /// disagree with its file name. The text names the collection.
    SourceCollection(String),
    /// The per-image lock file could not be opened or locked.
    Lock { path: PathBuf, source: io::Error },
    /// A docker command failed (pull, save, an unusable inspect).
    Docker(DockerError),
    /// The image is neither in Docker nor, by that name or id, in Arvados.
    /// `docker` says why Docker did not give it (legacy: "no matching
    /// image found").
    NoImage { image: String, docker: DockerError },
    /// An image id prefix that several images in Arvados start with.
    AmbiguousId { prefix: String, ids: Vec<String> },
    /// `--force` asks for a new upload, but Docker cannot give the image
    /// (it is only in Arvados).
    ForceNeedsDocker(DockerError),
    /// An image pulled from a registry (`--source=docker://`) cannot be
    /// stored: the registry failed, or what it served does not match the
    /// image's own digests (a layer whose bytes are not its `diff_id`).
    /// `reference` is the full reference (empty when `problem` names it
    /// already), `problem` one line naming the blob or layer concerned.
    Registry { reference: String, problem: String },
}

/// The details of [`Error::KeepWrite`] (boxed: they are large).
#[derive(Debug)]
pub struct KeepWriteFailure {
    pub request_id: String,
    /// The bare locator `md5+size` of the block.
    pub block: String,
    pub attempts: u32,
    pub wanted_copies: u32,
    pub wanted_classes: Vec<String>,
    pub stored_copies: u32,
    pub stored_classes: Vec<String>,
    /// Each service's last answer: (service root, what happened).
    pub services: Vec<(String, String)>,
}

impl From<SourceError> for Error {
    fn from(e: SourceError) -> Error {
        Error::Source(e)
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::SettingsSyntax {
                path,
                line,
                problem,
            } => write!(
                f,
                "{}, line {line}: {problem}; settings lines must be KEY=VALUE \
                 (fix or remove the line)",
                path.display()
            ),
            Error::MissingSettings {
                missing,
                file,
                unreadable,
            } => {
                let verb = if missing.len() > 1 { "are" } else { "is" };
                write!(
                    f,
                    "{} {verb} not set: put {} in {} or export {} in the environment",
                    missing.join(" and "),
                    if missing.len() > 1 { "them" } else { "it" },
                    file.display(),
                    if missing.len() > 1 { "them" } else { "it" },
                )?;
                if let Some((path, why)) = unreadable {
                    write!(f, " ({} could not be read: {why})", path.display())?;
                }
                Ok(())
            }
            Error::BadSetting {
                name,
                value,
                problem,
            } => write!(f, "{name}={value:?}: {problem}"),
            Error::CacheDir { path, source } => write!(
                f,
                "cannot create the cache directory {}: {source} \
                 (set XDG_CACHE_HOME to a writable directory)",
                path.display()
            ),
            Error::CaBundle { path, problem } => write!(
                f,
                "cannot use the CA certificates in {}: {problem} \
                 (point SSL_CERT_FILE at a PEM bundle)",
                path.display()
            ),
            Error::Api {
                method,
                url,
                status,
                message,
                request_id,
            } => {
                write!(f, "{method} {url} failed: HTTP {status}")?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                if !message.contains(request_id.as_str()) {
                    write!(f, " ({request_id})")?;
                }
                match status {
                    401 => write!(f, "; check ARVADOS_API_TOKEN"),
                    403 => write!(f, "; the token is not allowed to do this"),
                    _ => Ok(()),
                }
            }
            Error::ApiTransport {
                method,
                url,
                problem,
                request_id,
            } => {
                write!(f, "{method} {url} failed: {problem} ({request_id})")?;
                if is_certificate_problem(problem) {
                    write!(
                        f,
                        "; if the cluster uses its own CA, set SSL_CERT_FILE to its \
                         certificate bundle"
                    )?;
                } else if is_not_tls(problem) {
                    write!(
                        f,
                        "; the server did not answer with TLS: ARVADOS_API_HOST must name \
                         the cluster's HTTPS API server (host[:port])"
                    )?;
                } else if is_unreachable(problem) {
                    write!(
                        f,
                        "; check that ARVADOS_API_HOST names the cluster's API server \
                         (host[:port]) and that it is up"
                    )?;
                }
                Ok(())
            }
            Error::ApiResponse {
                method,
                url,
                problem,
                request_id,
            } => {
                write!(
                    f,
                    "{method} {url}: unexpected answer from the API server: {problem}"
                )?;
                if !request_id.is_empty() {
                    write!(f, " ({request_id})")?;
                }
                Ok(())
            }
            Error::NoKeepServices {
                request_id,
                problem,
            } => write!(f, "[{request_id}] no Keep services available ({problem})"),
            Error::KeepWrite(w) => {
                write!(
                    f,
                    "[{}] failed to write block {} after {}: wanted {} but stored {}",
                    w.request_id,
                    w.block,
                    plural(w.attempts, "attempt"),
                    copies_text(w.wanted_copies, &w.wanted_classes),
                    copies_text(w.stored_copies, &w.stored_classes),
                )?;
                write_services(f, &w.services)
            }
            Error::KeepRead {
                request_id,
                locator,
                attempts,
                not_found,
                services,
            } => {
                if *not_found {
                    write!(f, "[{request_id}] block {locator} not found in Keep")?;
                } else {
                    write!(
                        f,
                        "[{request_id}] failed to read block {locator} after {}",
                        plural(*attempts, "attempt")
                    )?;
                }
                write_services(f, services)
            }
            Error::BadLocator { locator, problem } => {
                write!(f, "bad Keep locator {locator:?}: {problem}")
            }
            Error::Input { what, source } => write!(f, "cannot read {what}: {source}"),
            Error::Source(e) => write!(f, "{e}"),
            Error::Archive { what, error } => write!(f, "{what}: {error}"),
            Error::ArchiveChanged {
                what,
                before,
                after,
            } => write!(
                f,
                "{what} changed while it was read (image {before} at first, then {after}); \
                 do not rewrite the archive during an upload"
            ),
            Error::IncompatibleFormat => write!(
                f,
                "refusing to store incompatible format (use --force-image-format to override)"
            ),
            Error::BadProject(uuid) => write!(f, "Not a valid project UUID: {uuid}"),
            Error::NoProject(uuid) => write!(
                f,
                "--project-uuid {uuid}: no such project or user is readable with this token \
                 (it does not exist, or it was not shared with you)"
            ),
            Error::ProjectNotWritable(uuid) => write!(
                f,
                "--project-uuid {uuid}: this token may read that project but not write to it; \
                 give a project you can write to, or ask its owner for can_write access"
            ),
            Error::SourceCollection(text) => write!(f, "{text}"),
            Error::Lock { path, source } => write!(
                f,
                "cannot lock {}: {source} (is the cache directory on a filesystem without flock?)",
                path.display()
            ),
            Error::Docker(e) => write!(f, "{e}"),
            // The legacy words; `detail` says what Docker and Arvados said.
            Error::NoImage { .. } => write!(f, "no matching image found"),
            Error::AmbiguousId { prefix, ids } => write!(
                f,
                "{} images in Arvados have an id starting with {prefix} ({}); give more of the id",
                ids.len(),
                ids.join(", ")
            ),
            Error::Registry { reference, problem } if reference.is_empty() => f.write_str(problem),
            Error::Registry { reference, problem } => write!(f, "{reference}: {problem}"),
            Error::ForceNeedsDocker(e) => write!(
                f,
                "--force uploads the image again from Docker, but {e} (the image is only in \
                 Arvados; drop --force to use that copy)"
            ),
        }
    }
}

impl Error {
    /// The legacy logger whose ERROR line reports this error, so the last
    /// line on stderr reads as the Python tool's did.
    pub fn logger(&self) -> &'static str {
        match self {
            // Legacy arv-put validated the project.
            Error::BadProject(_) => "arvados.arv_put",
            _ => "arvados.keepdocker",
        }
    }

    /// What the user needs beyond the legacy one-line message, logged just
    /// before it (the legacy tool had no such line, or a traceback).
    pub fn detail(&self) -> Option<String> {
        match self {
            Error::BadProject(_) => {
                Some("--project-uuid takes a project (j7d0g) or user (tpzed) UUID".to_string())
            }
            Error::NoImage { image, docker } => {
                let docker = match docker {
                    DockerError::NoMatch { .. } => format!("Docker has no image {image}"),
                    other => other.to_string(),
                };
                Some(format!("{docker}; and Arvados has no image {image} either"))
            }
            _ => None,
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::CacheDir { source, .. }
            | Error::Input { source, .. }
            | Error::Lock { source, .. } => Some(source),
            Error::Archive { error, .. } => Some(error),
            Error::Docker(e) | Error::NoImage { docker: e, .. } | Error::ForceNeedsDocker(e) => {
                Some(e)
            }
            _ => None,
        }
    }
}

fn plural(n: u32, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn copies_text(copies: u32, classes: &[String]) -> String {
    let mut text = if copies == 1 {
        "1 copy".to_string()
    } else {
        format!("{copies} copies")
    };
    if !classes.is_empty() {
        text.push_str(&format!(" in [{}]", classes.join(", ")));
    }
    text
}

fn write_services(f: &mut fmt::Formatter<'_>, services: &[(String, String)]) -> fmt::Result {
    for (i, (root, what)) in services.iter().enumerate() {
        let sep = if i == 0 { ": " } else { "; " };
        write!(f, "{sep}service {root} {what}")?;
    }
    Ok(())
}

/// Whether a transport error text points at TLS certificate verification.
fn is_certificate_problem(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    text.contains("certificate") || text.contains("unknownissuer")
}

/// Whether a transport error text says the peer does not speak TLS (a
/// plain HTTP server answered the handshake).
fn is_not_tls(text: &str) -> bool {
    text.contains("InvalidContentType") || text.contains("corrupt message")
}

/// Whether a transport error text says the host could not be reached at
/// all (as opposed to a connection that broke mid-request).
fn is_unreachable(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    [
        "connection refused",
        "host not found",
        "no route to host",
        "network is unreachable",
    ]
    .iter()
    .any(|words| text.contains(words))
}

/// Removes every occurrence of `secret` from `text`, so that a token a
/// server echoes back never reaches a message.
pub fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_string();
    }
    let mut out = text.replace(secret, "<token>");
    // A v2 token is also sent as its bare secret part.
    if let Some(tail) = secret
        .strip_prefix("v2/")
        .and_then(|s| s.rsplit('/').next())
    {
        if tail.len() >= 8 {
            out = out.replace(tail, "<token>");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_settings_names_both_and_the_file() {
        let e = Error::MissingSettings {
            missing: vec!["ARVADOS_API_HOST", "ARVADOS_API_TOKEN"],
            file: PathBuf::from("/home/u/.config/arvados/settings.conf"),
            unreadable: None,
        };
        assert_eq!(
            e.to_string(),
            "ARVADOS_API_HOST and ARVADOS_API_TOKEN are not set: put them in \
             /home/u/.config/arvados/settings.conf or export them in the environment"
        );
        let e = Error::MissingSettings {
            missing: vec!["ARVADOS_API_TOKEN"],
            file: PathBuf::from("/etc/xdg/arvados/settings.conf"),
            unreadable: Some((
                PathBuf::from("/etc/xdg/arvados/settings.conf"),
                "Permission denied (os error 13)".into(),
            )),
        };
        assert_eq!(
            e.to_string(),
            "ARVADOS_API_TOKEN is not set: put it in /etc/xdg/arvados/settings.conf or \
             export it in the environment (/etc/xdg/arvados/settings.conf could not be \
             read: Permission denied (os error 13))"
        );
    }

    #[test]
    fn api_error_shows_server_words_once() {
        let e = Error::Api {
            method: "POST",
            url: "https://x.example/arvados/v1/links".into(),
            status: 422,
            message: "Name has already been taken (req-abc)".into(),
            request_id: "req-abc".into(),
        };
        assert_eq!(
            e.to_string(),
            "POST https://x.example/arvados/v1/links failed: HTTP 422: \
             Name has already been taken (req-abc)"
        );
        let e = Error::Api {
            method: "GET",
            url: "https://x.example/arvados/v1/users/current".into(),
            status: 401,
            message: "Not logged in".into(),
            request_id: "req-1".into(),
        };
        assert_eq!(
            e.to_string(),
            "GET https://x.example/arvados/v1/users/current failed: HTTP 401: \
             Not logged in (req-1); check ARVADOS_API_TOKEN"
        );
    }

    #[test]
    fn transport_errors_say_what_to_check() {
        let e = |problem: &str| {
            Error::ApiTransport {
                method: "GET",
                url: "https://h:1/arvados/v1/links".into(),
                problem: problem.into(),
                request_id: "req-1".into(),
            }
            .to_string()
        };
        assert_eq!(
            e("Connection refused (os error 111)"),
            "GET https://h:1/arvados/v1/links failed: Connection refused (os error 111) (req-1); \
             check that ARVADOS_API_HOST names the cluster's API server (host[:port]) and that \
             it is up"
        );
        assert!(
            e("received corrupt message of type InvalidContentType").ends_with(
                "; the server did not answer with TLS: ARVADOS_API_HOST must name the \
                        cluster's HTTPS API server (host[:port])"
            )
        );
        assert!(e("invalid peer certificate: UnknownIssuer").ends_with(
            "; if the cluster uses its own CA, set SSL_CERT_FILE to its certificate bundle"
        ));
        // A connection that broke mid-request is not a configuration problem.
        assert_eq!(
            e("Connection reset by peer"),
            "GET https://h:1/arvados/v1/links failed: Connection reset by peer (req-1)"
        );
    }

    #[test]
    fn project_errors_name_the_project_and_the_way_out() {
        let uuid = "zzzzz-j7d0g-000000000000000";
        assert_eq!(
            Error::NoProject(uuid.into()).to_string(),
            "--project-uuid zzzzz-j7d0g-000000000000000: no such project or user is readable \
             with this token (it does not exist, or it was not shared with you)"
        );
        assert_eq!(
            Error::ProjectNotWritable(uuid.into()).to_string(),
            "--project-uuid zzzzz-j7d0g-000000000000000: this token may read that project but \
             not write to it; give a project you can write to, or ask its owner for can_write \
             access"
        );
    }

    #[test]
    fn keep_write_error_names_block_and_services() {
        let e = Error::KeepWrite(Box::new(KeepWriteFailure {
            request_id: "req-x".into(),
            block: "acbd18db4cc2f85cedef654fccc4a4d8+3".into(),
            attempts: 3,
            wanted_copies: 2,
            wanted_classes: vec!["default".into()],
            stored_copies: 1,
            stored_classes: vec![],
            services: vec![
                (
                    "http://k1:25107/".into(),
                    "answered 503 Service Unavailable".into(),
                ),
                (
                    "http://k2:25107/".into(),
                    "failed: connection refused".into(),
                ),
            ],
        }));
        assert_eq!(
            e.to_string(),
            "[req-x] failed to write block acbd18db4cc2f85cedef654fccc4a4d8+3 after 3 attempts: \
             wanted 2 copies in [default] but stored 1 copy: service http://k1:25107/ answered \
             503 Service Unavailable; service http://k2:25107/ failed: connection refused"
        );
    }

    #[test]
    fn redact_removes_token_and_secret() {
        let token = "v2/zzzzz-gj3su-000000000000000/secretsecretsecret";
        let text = format!("bad token {token} or secretsecretsecret");
        assert_eq!(redact(&text, token), "bad token <token> or <token>");
        assert_eq!(redact("x", ""), "x");
    }
}
