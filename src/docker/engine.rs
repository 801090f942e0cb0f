//! `docker save` without the `docker` command: the image archive read
//! straight from the Docker Engine API on the daemon's unix socket.
//!
//! Why: the docker CLI only copies the daemon's HTTP response to its
//! stdout, and we copy that pipe again. On a 2-core machine that extra
//! process costs about 0.9 s of CPU per GiB, taken from the daemon while
//! it streams. Reading the socket ourselves removes it.
//!
//! The daemon is found the way the docker CLI finds it ([`endpoint`]);
//! anything but a plain unix socket (tcp://, ssh://, a named context) is
//! left to the CLI. So is any failure before the archive's first byte: a
//! socket we may not open (the CLI may be a `sudo` wrapper), a daemon
//! that refuses the request. The CLI then runs as before and reports in
//! its own words. `ARV_KEEPDOCKER_USE_DOCKER_CLI=1` always uses the CLI,
//! for a `docker` wrapper that must see the save.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::log;

/// The environment variable that keeps `docker save` on the CLI.
pub const USE_CLI_VAR: &str = "ARV_KEEPDOCKER_USE_DOCKER_CLI";

/// The docker CLI's default daemon address.
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Longest response head we accept (status line and headers).
const MAX_HEAD: usize = 64 * 1024;

/// Read buffer on the socket.
const BUFFER: usize = 1 << 20;

/// Where `docker save` should come from.
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

/// Starts `GET /images/{id}/get` on the socket. `None` when the archive
/// cannot be had this way (see the module documentation): run the CLI.
pub fn save(socket: &Path, image_id: &str) -> Option<EngineSave<UnixStream>> {
    let started = Instant::now();
    let answer = UnixStream::connect(socket).and_then(|mut stream| {
        stream.write_all(request(image_id).as_bytes())?;
        EngineSave::start(stream)
    });
    log::debug(log::KEEPDOCKER, || {
        let outcome = match &answer {
            Ok(_) => "200".to_string(),
            Err(e) => format!("failed ({e})"),
        };
        format!(
            "daemon GET /images/{}/get on {}: {outcome}, {} ms",
            escape_path(image_id),
            socket.display(),
            log::millis(started)
        )
    });
    answer.ok()
}

/// The request line and headers.
fn request(image_id: &str) -> String {
    format!(
        "GET /images/{}/get HTTP/1.1\r\nHost: docker\r\nUser-Agent: arv-keepdocker/{}\r\n\
         Connection: close\r\n\r\n",
        escape_path(image_id),
        env!("CARGO_PKG_VERSION")
    )
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

/// How the body's end is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// `Transfer-Encoding: chunked`: bytes left in the current chunk, and
    /// whether the last (empty) chunk was seen.
    Chunked { left: u64, ended: bool },
    /// `Content-Length`: bytes left.
    Length(u64),
    /// Neither: the body ends when the daemon closes the connection.
    Close,
}

/// The body of a successful save response, as a [`Read`].
pub struct EngineSave<S> {
    conn: BufReader<S>,
    framing: Framing,
}

impl<S: Read> EngineSave<S> {
    /// Reads the response head. An error when the status is not 200 or
    /// the head is not HTTP/1.x as we know it.
    fn start(stream: S) -> io::Result<EngineSave<S>> {
        let mut conn = BufReader::with_capacity(BUFFER, stream);
        let mut head = 0;
        let status = next_line(&mut conn, &mut head)?;
        let mut parts = status.split(' ');
        let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
            return Err(invalid(format!("not an HTTP status line: {status:?}")));
        };
        if !version.starts_with("HTTP/1.") || code != "200" {
            return Err(invalid(format!("the daemon answered {status:?}")));
        }
        let mut framing = Framing::Close;
        loop {
            let line = next_line(&mut conn, &mut head)?;
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(invalid(format!("not an HTTP header: {line:?}")));
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("transfer-encoding") {
                if !value.eq_ignore_ascii_case("chunked") {
                    return Err(invalid(format!("unknown transfer encoding {value:?}")));
                }
                framing = Framing::Chunked {
                    left: 0,
                    ended: false,
                };
            } else if name.eq_ignore_ascii_case("content-length") && framing == Framing::Close {
                let length = value
                    .parse()
                    .map_err(|_| invalid(format!("bad Content-Length {value:?}")))?;
                framing = Framing::Length(length);
            }
        }
        Ok(EngineSave { conn, framing })
    }

    /// The size line of the next chunk; at the last chunk, its trailers.
    fn next_chunk(&mut self) -> io::Result<u64> {
        let mut head = 0;
        let line = next_line(&mut self.conn, &mut head)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size, 16)
            .map_err(|_| invalid(format!("bad chunk size line {line:?}")))?;
        if size == 0 {
            while !next_line(&mut self.conn, &mut head)?.is_empty() {}
        }
        Ok(size)
    }

    /// The CRLF after a chunk's data.
    fn end_of_chunk(&mut self) -> io::Result<()> {
        let mut head = 0;
        if next_line(&mut self.conn, &mut head)?.is_empty() {
            Ok(())
        } else {
            Err(invalid("chunk data longer than its size line".into()))
        }
    }
}

impl<S: Read> Read for EngineSave<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let limit = match self.framing {
            Framing::Chunked { ended: true, .. } | Framing::Length(0) => return Ok(0),
            Framing::Chunked { left: 0, .. } => {
                let size = self.next_chunk()?;
                self.framing = Framing::Chunked {
                    left: size,
                    ended: size == 0,
                };
                if size == 0 {
                    return Ok(0);
                }
                size
            }
            Framing::Chunked { left, .. } | Framing::Length(left) => left,
            Framing::Close => u64::MAX,
        };
        let want = buf.len().min(usize::try_from(limit).unwrap_or(usize::MAX));
        let n = self.conn.read(&mut buf[..want])?;
        match &mut self.framing {
            Framing::Close => {}
            _ if n == 0 => return Err(truncated()),
            Framing::Chunked { left, .. } => {
                *left -= n as u64;
                if *left == 0 {
                    self.end_of_chunk()?;
                }
            }
            Framing::Length(left) => *left -= n as u64,
        }
        Ok(n)
    }
}

/// One CRLF- (or LF-) terminated line, counted against [`MAX_HEAD`].
fn next_line(conn: &mut impl BufRead, used: &mut usize) -> io::Result<String> {
    let mut line = Vec::new();
    let limit = MAX_HEAD.saturating_sub(*used) as u64;
    let n = conn.by_ref().take(limit).read_until(b'\n', &mut line)?;
    *used += n;
    if n == 0 || line.last() != Some(&b'\n') {
        return Err(if *used >= MAX_HEAD {
            invalid("response head too long".into())
        } else {
            truncated()
        });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| invalid("a header line is not UTF-8".into()))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn truncated() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the Docker daemon closed the connection before the end of the archive",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
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
        let id = "sha256:0123abcd";
        let text = request(id);
        assert!(
            text.starts_with("GET /images/sha256:0123abcd/get HTTP/1.1\r\n"),
            "{text}"
        );
        assert!(text.ends_with("Connection: close\r\n\r\n"));
        assert_eq!(escape_path("repo/name:tag"), "repo%2Fname:tag");
        assert_eq!(escape_path("a b?#%"), "a%20b%3F%23%25");
    }

    fn read_all(response: &[u8]) -> io::Result<Vec<u8>> {
        let mut body = EngineSave::start(Cursor::new(response.to_vec()))?;
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
}
