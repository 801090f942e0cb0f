//! The Docker Engine API on the daemon's unix socket: the questions the
//! docker command would ask (image inspect, info) and `docker save`'s
//! archive, without running the `docker` command.
//!
//! Why: the docker CLI is a Go program that costs tens of milliseconds of
//! CPU to start, most of what an upload of an image already in Arvados
//! costs; and for `docker save` it only copies the daemon's HTTP response
//! to its stdout, which we copy again (about 0.9 s of CPU per GiB on a
//! 2-core machine, taken from the daemon while it streams).
//!
//! The daemon is found the way the docker CLI finds it ([`endpoint`]);
//! anything but a plain unix socket (tcp://, ssh://, a named context) is
//! left to the CLI. So is a socket we cannot use ([`Engine::connect`]
//! fails: the CLI may be a `sudo` wrapper), and, for the archive, a daemon
//! that refuses the request before its first byte. The CLI then runs as
//! before and reports in its own words. `ARV_KEEPDOCKER_USE_DOCKER_CLI=1`
//! always uses the CLI, for a `docker` wrapper that must see every command.
//!
//! The API version is agreed as the docker CLI does it: `/_ping` says the
//! daemon's (`API-Version`), and the lower of it and [`API_VERSION`] is
//! used. Every request goes through one function, [`send`]. Failures after
//! that are in Docker's words ([`EngineError`]).

use std::ffi::OsString;
use std::fmt::{self, Write as _};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

use crate::http1::{self, Head};
use crate::log;

/// The environment variable that keeps every docker request on the CLI.
pub const USE_CLI_VAR: &str = "ARV_KEEPDOCKER_USE_DOCKER_CLI";

/// The newest Engine API version we ask for (Docker 27's). What we read
/// (an image's `Id`, the info's `DriverStatus`, the save's archive) is the
/// same in every version since 1.24; an older daemon is asked in its own.
pub const API_VERSION: &str = "1.47";

/// The version of a daemon whose `/_ping` does not say (the docker CLI's
/// assumption too).
const OLDEST_API_VERSION: &str = "1.24";

/// Longest JSON answer we read (an image inspect is a few KiB).
const MAX_JSON: u64 = 16 << 20;

/// The docker CLI's default daemon address.
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Read buffer on the socket.
const BUFFER: usize = 1 << 20;

/// Where the daemon's answers should come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// The daemon's unix socket.
    Socket(PathBuf),
    /// Run the `docker` command.
    Cli,
}

/// The daemon the docker CLI would talk to, if it is a unix socket.
///
/// `var` reads the environment; `config` is the CLI's config.json (from
/// `$DOCKER_CONFIG` or `~/.docker`), if there is one. Mirrors the CLI:
/// `DOCKER_HOST` first, then `DOCKER_CONTEXT`, then the config's
/// `currentContext`, then the default socket. A context other than
/// "default" is left to the CLI, which knows how to read it.
pub fn endpoint(var: &dyn Fn(&str) -> Option<OsString>, config: Option<&[u8]>) -> Endpoint {
    let set = |name: &str| var(name).filter(|v| !v.is_empty());
    if set(USE_CLI_VAR).is_some_and(|v| v != "0") {
        return Endpoint::Cli;
    }
    if let Some(host) = set("DOCKER_HOST") {
        return match host.to_str().and_then(|h| h.strip_prefix("unix://")) {
            Some(path) if !path.is_empty() => Endpoint::Socket(PathBuf::from(path)),
            _ => Endpoint::Cli,
        };
    }
    let named = |context: &str| context != "default";
    if let Some(context) = set("DOCKER_CONTEXT") {
        if context.to_str().is_none_or(named) {
            return Endpoint::Cli;
        }
    } else if let Some(config) = config {
        let Ok(config) = serde_json::from_slice::<serde_json::Value>(config) else {
            return Endpoint::Cli; // the CLI will say what is wrong with it
        };
        match config.get("currentContext") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(c)) if c.is_empty() || !named(c) => {}
            Some(_) => return Endpoint::Cli,
        }
    }
    Endpoint::Socket(PathBuf::from(DEFAULT_SOCKET))
}

/// [`endpoint`] for this process.
pub fn current_endpoint() -> Endpoint {
    let var = |name: &str| std::env::var_os(name);
    let dir = var("DOCKER_CONFIG")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| Path::new(&h).join(".docker")));
    let config = dir.and_then(|d| std::fs::read(d.join("config.json")).ok());
    endpoint(&var, config.as_deref())
}

/// The daemon on its socket, with the API version agreed.
#[derive(Debug, Clone)]
pub struct Engine {
    socket: PathBuf,
    /// `1.41`: the lower of the daemon's version and ours.
    version: String,
}

impl Engine {
    /// Asks `/_ping` for the daemon's API version. An error when the
    /// socket cannot be used; the caller then runs the docker command.
    pub fn connect(socket: &Path) -> Result<Engine, EngineError> {
        let response = send(socket, "GET", "/_ping")?;
        let daemon = response
            .api_version
            .as_deref()
            .unwrap_or(OLDEST_API_VERSION);
        Ok(Engine {
            socket: socket.to_path_buf(),
            version: negotiate(daemon, API_VERSION).to_string(),
        })
    }

    /// `GET /v<version><path>`.
    fn get(&self, path: &str) -> Result<Response<UnixStream>, EngineError> {
        send(&self.socket, "GET", &format!("/v{}{path}", self.version))
    }

    /// The request line's target for an image inspect, for messages.
    pub fn inspect_target(&self, reference: &str) -> String {
        format!("/v{}/images/{}/json", self.version, escape_path(reference))
    }

    /// `docker image inspect REFERENCE`: the image's `Id`. The daemon
    /// resolves the reference as for the CLI (a name, a full id, an id
    /// prefix); a daemon without such an image answers 404, which is an
    /// [`EngineError::Status`] ([`EngineError::is_not_found`]).
    pub fn image_id(&self, reference: &str) -> Result<String, EngineError> {
        let target = self.inspect_target(reference);
        let answer = self.get_json(&target)?;
        match answer.get("Id").and_then(Value::as_str) {
            Some(id) => Ok(id.to_string()),
            None => Err(EngineError::Invalid {
                request: target,
                problem: "the answer has no string \"Id\"".into(),
            }),
        }
    }

    /// The image's layer diff_ids (`RootFS.Layers`), base first.
    pub fn layer_diff_ids(&self, reference: &str) -> Result<Vec<String>, EngineError> {
        let answer = self.get_json(&self.inspect_target(reference))?;
        Ok(serde_json::from_value(answer["RootFS"]["Layers"].clone()).unwrap_or_default())
    }

    /// The image's `Size` as the daemon reports it (the uncompressed
    /// layers: an archive of it is a little larger).
    pub fn image_size(&self, reference: &str) -> Result<Option<u64>, EngineError> {
        let answer = self.get_json(&self.inspect_target(reference))?;
        Ok(answer.get("Size").and_then(Value::as_u64))
    }

    /// `GET /info`, as JSON (`docker info`).
    pub fn info(&self) -> Result<Value, EngineError> {
        self.get_json(&format!("/v{}/info", self.version))
    }

    /// A 200 answer's JSON body.
    fn get_json(&self, target: &str) -> Result<Value, EngineError> {
        let response = send(&self.socket, "GET", target)?;
        let io_error = |source| EngineError::Io {
            request: target.to_string(),
            source,
        };
        let status = response.status;
        let mut body = Vec::new();
        response
            .body
            .take(MAX_JSON)
            .read_to_end(&mut body)
            .map_err(io_error)?;
        if status != 200 {
            return Err(EngineError::Status {
                request: target.to_string(),
                status,
                message: error_message(&body),
            });
        }
        serde_json::from_slice(&body).map_err(|e| EngineError::Invalid {
            request: target.to_string(),
            problem: format!("not JSON: {e}"),
        })
    }

    /// Starts `GET /images/{id}/get` (`docker save`). `None` when the
    /// archive cannot be had this way (see the module documentation):
    /// run the CLI.
    pub fn save(&self, image_id: &str) -> Option<Body<UnixStream>> {
        let response = self
            .get(&format!("/images/{}/get", escape_path(image_id)))
            .ok()?;
        (response.status == 200).then_some(response.body)
    }
}

/// Sends one request to the daemon at `socket` and reads the head of its
/// answer. Every request to the daemon goes through here, and with
/// `ARVADOS_DEBUG` logs one line.
fn send(socket: &Path, method: &str, target: &str) -> Result<Response<UnixStream>, EngineError> {
    let started = Instant::now();
    let answer = send_once(socket, method, target);
    log::debug(log::KEEPDOCKER, || {
        let outcome = match &answer {
            Ok(response) => response.status.to_string(),
            Err(e) => format!("failed ({e})"),
        };
        format!(
            "daemon {method} {target} on {}: {outcome}, {} ms",
            socket.display(),
            log::millis(started)
        )
    });
    answer
}

fn send_once(
    socket: &Path,
    method: &str,
    target: &str,
) -> Result<Response<UnixStream>, EngineError> {
    let mut stream = UnixStream::connect(socket).map_err(|source| EngineError::Connect {
        socket: socket.to_path_buf(),
        source,
    })?;
    let request = format!("{method} {target}");
    let io_error = |source| EngineError::Io {
        request: request.clone(),
        source,
    };
    stream
        .write_all(request_head(method, target).as_bytes())
        .map_err(io_error)?;
    Response::read(stream).map_err(io_error)
}

/// The request line and headers.
fn request_head(method: &str, target: &str) -> String {
    format!(
        "{method} {target} HTTP/1.1\r\nHost: docker\r\nUser-Agent: arv-keepdocker/{}\r\n\
         Connection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// The version both sides speak: the lower of the daemon's and ours
/// (`1.9` is older than `1.41`).
fn negotiate<'a>(daemon: &'a str, ours: &'a str) -> &'a str {
    fn parts(v: &str) -> Option<(u32, u32)> {
        let (major, minor) = v.split_once('.')?;
        Some((major.parse().ok()?, minor.parse().ok()?))
    }
    match (parts(daemon), parts(ours)) {
        (Some(d), Some(o)) if d < o => daemon,
        _ => ours,
    }
}

/// The daemon's words in an error answer: `{"message": "..."}`, else the
/// body's text.
fn error_message(body: &[u8]) -> String {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).to_string());
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(" / ")
}

/// Why the daemon did not give an answer, in Docker's words.
#[derive(Debug)]
pub enum EngineError {
    /// The socket could not be connected to.
    Connect { socket: PathBuf, source: io::Error },
    /// The connection broke, or the answer is not HTTP/1.x.
    Io { request: String, source: io::Error },
    /// The answer is HTTP but not what the Engine API gives.
    Invalid { request: String, problem: String },
    /// The daemon answered with an error status.
    Status {
        request: String,
        status: u16,
        message: String,
    },
}

impl EngineError {
    /// The daemon has no such image (or other object).
    pub fn is_not_found(&self) -> bool {
        matches!(self, EngineError::Status { status: 404, .. })
    }

    /// The daemon answered the request with an error of its own (404, an
    /// ambiguous id prefix, ...), as opposed to not answering it.
    pub fn is_answer(&self) -> bool {
        matches!(self, EngineError::Status { .. }) && !self.is_version_refused()
    }

    /// The daemon does not speak the API version asked for.
    pub fn is_version_refused(&self) -> bool {
        matches!(self, EngineError::Status { status: 400, message, .. }
            if message.starts_with("client version "))
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Connect { socket, source } => {
                let host = socket.display();
                match source.kind() {
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => write!(
                        f,
                        "Cannot connect to the Docker daemon at unix://{host}. \
                         Is the docker daemon running?"
                    ),
                    io::ErrorKind::PermissionDenied => write!(
                        f,
                        "permission denied while trying to connect to the Docker daemon socket \
                         at unix://{host}: connect: permission denied (is this user in the \
                         docker group? see https://docs.docker.com/engine/install/linux-postinstall/)"
                    ),
                    _ => write!(
                        f,
                        "Cannot connect to the Docker daemon at unix://{host}: {source}"
                    ),
                }
            }
            EngineError::Io { request, source } => {
                write!(f, "error during connect: `{request}`: {source}")
            }
            EngineError::Invalid { request, problem } => {
                write!(
                    f,
                    "the Docker daemon's answer to `GET {request}`: {problem}"
                )
            }
            EngineError::Status { message, .. } => {
                write!(f, "Error response from daemon: {message}")
            }
        }
    }
}

impl std::error::Error for EngineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EngineError::Connect { source, .. } | EngineError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Percent-encodes all but the characters a path segment may hold as they
/// are (RFC 3986 unreserved, plus `:` for `sha256:`).
fn escape_path(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// An answer's status and the headers we use; its body still to read.
pub struct Response<S> {
    status: u16,
    /// The `API-Version` header.
    api_version: Option<String>,
    body: Body<S>,
}

/// An answer's body, as a [`Read`] (for a save: the archive).
pub type Body<S> = http1::Body<BufReader<S>>;

impl<S: Read> Response<S> {
    /// Reads the answer's head. An error when it is not HTTP/1.x as we
    /// know it; any status is an answer.
    fn read(stream: S) -> io::Result<Response<S>> {
        let mut conn = BufReader::with_capacity(BUFFER, stream);
        let head = Head::read(&mut conn, CLOSED)?;
        let api_version = head
            .header("api-version")
            .filter(|v| !v.is_empty())
            .map(String::from);
        Ok(Response {
            status: head.status,
            api_version,
            body: Body::new(conn, &head, CLOSED)?,
        })
    }
}

/// What a body or head cut short says.
const CLOSED: &str = "the Docker daemon closed the connection before the end of the archive";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::MAX_HEAD;
    use std::collections::HashMap;
    use std::io::BufRead;
    use std::io::Cursor;

    fn endpoint_of(vars: &[(&str, &str)], config: Option<&str>) -> Endpoint {
        let vars: HashMap<&str, &str> = vars.iter().copied().collect();
        endpoint(
            &|name| vars.get(name).map(OsString::from),
            config.map(str::as_bytes),
        )
    }

    fn socket(path: &str) -> Endpoint {
        Endpoint::Socket(PathBuf::from(path))
    }

    #[test]
    fn the_daemon_is_found_as_the_docker_cli_finds_it() {
        assert_eq!(endpoint_of(&[], None), socket(DEFAULT_SOCKET));
        let host = [("DOCKER_HOST", "unix:///run/user/1000/docker.sock")];
        assert_eq!(
            endpoint_of(&host, None),
            socket("/run/user/1000/docker.sock")
        );
        // DOCKER_HOST wins over a context, as in the CLI.
        let both = [host[0], ("DOCKER_CONTEXT", "remote")];
        assert_eq!(
            endpoint_of(&both, None),
            socket("/run/user/1000/docker.sock")
        );
        for other in ["tcp://10.0.0.1:2376", "ssh://me@host", "unix://", "fd://"] {
            assert_eq!(
                endpoint_of(&[("DOCKER_HOST", other)], None),
                Endpoint::Cli,
                "{other}"
            );
        }
        // An empty variable is an unset one.
        assert_eq!(
            endpoint_of(&[("DOCKER_HOST", "")], None),
            socket(DEFAULT_SOCKET)
        );
        assert_eq!(
            endpoint_of(&[("DOCKER_CONTEXT", "remote")], None),
            Endpoint::Cli
        );
        assert_eq!(
            endpoint_of(&[("DOCKER_CONTEXT", "default")], None),
            socket(DEFAULT_SOCKET)
        );
        // The config's current context, unless DOCKER_CONTEXT says otherwise.
        let remote = Some(r#"{"auths": {}, "currentContext": "remote"}"#);
        assert_eq!(endpoint_of(&[], remote), Endpoint::Cli);
        let default = [("DOCKER_CONTEXT", "default")];
        assert_eq!(endpoint_of(&default, remote), socket(DEFAULT_SOCKET));
        for plain in [
            r#"{"auths": {}}"#,
            r#"{"currentContext": ""}"#,
            r#"{"currentContext": "default"}"#,
        ] {
            assert_eq!(
                endpoint_of(&[], Some(plain)),
                socket(DEFAULT_SOCKET),
                "{plain}"
            );
        }
        assert_eq!(endpoint_of(&[], Some("{not json")), Endpoint::Cli);
        assert_eq!(
            endpoint_of(&[], Some(r#"{"currentContext": 3}"#)),
            Endpoint::Cli
        );
        // The override, whatever else is set; "0" is off.
        let forced = [(USE_CLI_VAR, "1"), host[0]];
        assert_eq!(endpoint_of(&forced, None), Endpoint::Cli);
        assert_eq!(
            endpoint_of(&[(USE_CLI_VAR, "0")], None),
            socket(DEFAULT_SOCKET)
        );
    }

    #[test]
    fn the_request_names_the_image_escaped() {
        let engine = Engine {
            socket: PathBuf::from("/run/docker.sock"),
            version: "1.41".into(),
        };
        let target = engine.inspect_target("sha256:0123abcd");
        assert_eq!(target, "/v1.41/images/sha256:0123abcd/json");
        let text = request_head("GET", &target);
        assert!(
            text.starts_with("GET /v1.41/images/sha256:0123abcd/json HTTP/1.1\r\n"),
            "{text}"
        );
        assert!(text.ends_with("Connection: close\r\n\r\n"));
        assert_eq!(escape_path("repo/name:tag"), "repo%2Fname:tag");
        assert_eq!(escape_path("a b?#%"), "a%20b%3F%23%25");
    }

    /// The body of a 200 answer (anything else is an error here, as for a
    /// save).
    fn read_all(response: &[u8]) -> io::Result<Vec<u8>> {
        let response = Response::read(Cursor::new(response.to_vec()))?;
        if response.status != 200 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the daemon answered {}", response.status),
            ));
        }
        let mut body = response.body;
        let mut out = Vec::new();
        // Small reads, so that chunk boundaries fall inside and between them.
        let mut buf = [0u8; 7];
        loop {
            let n = body.read(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    fn chunked(pieces: &[&[u8]]) -> Vec<u8> {
        let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\n\
                        Transfer-Encoding: chunked\r\n\r\n"
            .to_vec();
        for piece in pieces {
            out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            out.extend_from_slice(piece);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    #[test]
    fn a_chunked_body_is_decoded_exactly() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let pieces: Vec<&[u8]> = data.chunks(1000).chain([&data[..3]]).collect();
        let mut response = chunked(&pieces);
        response.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
        let mut expected = data.clone();
        expected.extend_from_slice(&data[..3]);
        assert_eq!(read_all(&response).unwrap(), expected);
        // A chunk extension, and a size line in capitals.
        let response = b"HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n\
                         A;name=x\r\n0123456789\r\n0\r\n\r\n";
        assert_eq!(read_all(response).unwrap(), b"0123456789");
    }

    #[test]
    fn a_length_or_a_close_ends_the_body() {
        let response = b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA";
        assert_eq!(read_all(response).unwrap(), b"hello");
        let response = b"HTTP/1.1 200 OK\r\n\r\nuntil the end";
        assert_eq!(read_all(response).unwrap(), b"until the end");
    }

    #[test]
    fn a_body_cut_short_is_an_error_never_an_end() {
        let data = [b'x'; 100];
        let cut_in_chunk = &chunked(&[&data])[..90];
        let no_last_chunk = chunked(&[&data]);
        let short_length = b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nonly this";
        for response in [cut_in_chunk, &no_last_chunk, short_length] {
            let e = read_all(response).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
            assert!(
                e.to_string().contains("before the end of the archive"),
                "{e}"
            );
        }
    }

    #[test]
    fn refusals_and_nonsense_are_errors() {
        let cases: [(&[u8], &str); 6] = [
            (
                b"HTTP/1.1 404 Not Found\r\n\r\n{\"message\":\"no such image\"}",
                "404",
            ),
            (b"SSH-2.0-OpenSSH\r\n", "not an HTTP status line"),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                "transfer encoding",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n",
                "Content-Length",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "chunk size",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
                "longer than",
            ),
        ];
        for (response, problem) in cases {
            let e = read_all(response).unwrap_err();
            assert!(e.to_string().contains(problem), "{e} / {problem}");
        }
        let mut endless = b"HTTP/1.1 200 OK\r\n".to_vec();
        endless.extend(std::iter::repeat_n(b'h', MAX_HEAD + 10));
        let e = read_all(&endless).unwrap_err();
        assert!(e.to_string().contains("too long"), "{e}");
    }

    #[test]
    fn the_version_is_the_lower_of_the_daemons_and_ours() {
        assert_eq!(negotiate("1.41", "1.47"), "1.41");
        assert_eq!(negotiate("1.52", "1.47"), "1.47");
        assert_eq!(negotiate("1.47", "1.47"), "1.47");
        // Numbers, not text: 1.9 is older than 1.41.
        assert_eq!(negotiate("1.9", "1.41"), "1.9");
        assert_eq!(negotiate("1.100", "1.47"), "1.47");
        assert_eq!(negotiate("nonsense", "1.47"), "1.47");
        let ping = b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK";
        let response = Response::read(Cursor::new(ping.to_vec())).unwrap();
        assert_eq!(response.api_version.as_deref(), Some("1.41"));
        let old = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK";
        let response = Response::read(Cursor::new(old.to_vec())).unwrap();
        assert_eq!(response.api_version, None);
    }

    #[test]
    fn an_error_answer_gives_the_daemons_words() {
        assert_eq!(
            error_message(br#"{"message":"No such image: x:latest"}"#),
            "No such image: x:latest"
        );
        assert_eq!(error_message(b"page not found\n"), "page not found");
        let status = |status, message: &str| EngineError::Status {
            request: "/v1.47/images/x/json".into(),
            status,
            message: message.into(),
        };
        let missing = status(404, "No such image: x:latest");
        assert!(missing.is_not_found() && missing.is_answer());
        assert_eq!(
            missing.to_string(),
            "Error response from daemon: No such image: x:latest"
        );
        let refused = status(
            400,
            "client version 1.47 is too new. Maximum supported API version is 1.41",
        );
        assert!(refused.is_version_refused() && !refused.is_answer());
        assert_eq!(
            refused.to_string(),
            "Error response from daemon: client version 1.47 is too new. \
             Maximum supported API version is 1.41"
        );
        let ambiguous = status(400, "multiple IDs found with provided prefix: e6");
        assert!(ambiguous.is_answer() && !ambiguous.is_not_found());
    }

    #[test]
    fn a_socket_we_cannot_use_is_named_in_dockers_words() {
        let connect = |kind| EngineError::Connect {
            socket: PathBuf::from("/var/run/docker.sock"),
            source: io::Error::from(kind),
        };
        assert_eq!(
            connect(io::ErrorKind::NotFound).to_string(),
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. \
             Is the docker daemon running?"
        );
        assert_eq!(
            connect(io::ErrorKind::ConnectionRefused).to_string(),
            connect(io::ErrorKind::NotFound).to_string()
        );
        let denied = connect(io::ErrorKind::PermissionDenied).to_string();
        assert!(
            denied.starts_with(
                "permission denied while trying to connect to the Docker daemon socket at \
                 unix:///var/run/docker.sock: connect: permission denied (is this user in the \
                 docker group?"
            ),
            "{denied}"
        );
        assert!(!denied.contains('\n'));
        // Not a socket at all: no daemon answers there.
        let missing = std::env::temp_dir().join("arv-keepdocker-no-such-socket.sock");
        let e = Engine::connect(&missing).unwrap_err();
        assert!(
            e.to_string().contains("Is the docker daemon running?"),
            "{e}"
        );
    }

    /// A one-shot daemon on a socket in a temporary directory: answers each
    /// request with the next of `answers`, and records the request lines.
    fn fake_daemon(answers: Vec<&'static [u8]>) -> (tempfile::TempDir, PathBuf, JoinHandle) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let thread = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for answer in answers {
                let (conn, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(conn);
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                lines.push(line.trim_end().to_string());
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if header.trim_end().is_empty() {
                        break;
                    }
                }
                reader.get_mut().write_all(answer).unwrap();
            }
            lines
        });
        (dir, path, thread)
    }

    type JoinHandle = std::thread::JoinHandle<Vec<String>>;

    #[test]
    fn inspect_and_info_are_asked_in_the_agreed_version() {
        let (_dir, socket, daemon) = fake_daemon(vec![
            b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK",
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n\
              {\"Id\":\"sha256:aa\",\"RepoTags\":[\"x:1\"]}   ",
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 40\r\n\r\n\
              {\"message\":\"No such image: nope:latest\"}",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              15\r\n{\"DriverStatus\":null}\r\n0\r\n\r\n",
        ]);
        let engine = Engine::connect(&socket).unwrap();
        assert_eq!(engine.version, "1.41");
        assert_eq!(engine.image_id("x:1").unwrap(), "sha256:aa");
        let e = engine.image_id("nope").unwrap_err();
        assert!(e.is_not_found(), "{e}");
        assert_eq!(
            e.to_string(),
            "Error response from daemon: No such image: nope:latest"
        );
        assert_eq!(engine.info().unwrap()["DriverStatus"], Value::Null);
        assert_eq!(
            daemon.join().unwrap(),
            [
                "GET /_ping HTTP/1.1",
                "GET /v1.41/images/x:1/json HTTP/1.1",
                "GET /v1.41/images/nope/json HTTP/1.1",
                "GET /v1.41/info HTTP/1.1",
            ]
        );
    }
}
