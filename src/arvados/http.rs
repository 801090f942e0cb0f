//! What the API and Keep clients share: the one ureq [`Agent`] (TLS roots,
//! timeouts, status codes as plain responses) and request ids. The clock,
//! randomness and the classification of transport failures live in
//! `crate::net`, shared with the registry client, and are re-exported here.
//! Also [`PlainPut`], the one HTTP request not made by ureq: a plain-HTTP
//! PUT written straight from the caller's buffer.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::Agent;

use crate::error::{Error, Result};
use crate::http1::{Body, Head};
use crate::settings::ClientConfig;

// Shared with the registry client; re-exported so that the API and Keep
// clients keep their one import path.
pub use crate::net::{
    describe_transport_error, encode_pairs, percent_encode, random_duration_below, random_u64,
    transport_error_is_retryable, Clock, SystemClock,
};

/// The legacy socket timeout for API requests (spec §1.4).
pub const SOCKET_TIMEOUT: Duration = Duration::from_secs(300);

/// Idle keep-alive connections older than this are not reused (spec §1.4).
pub const MAX_IDLE_AGE: Duration = Duration::from_secs(30);

/// A fresh `X-Request-Id`: `req-` and 20 characters of `[0-9a-z]`, like the
/// legacy SDK's `new_request_id`.
pub fn new_request_id() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut id = String::with_capacity(24);
    id.push_str("req-");
    let mut bits = random_u64();
    for i in 0..20 {
        if i == 10 {
            bits = random_u64();
        }
        id.push(ALPHABET[(bits % 36) as usize] as char);
        bits /= 36;
    }
    id
}

/// Builds the process's one HTTP agent: certificates verified against the
/// configured CA bundle (or the built-in Mozilla roots when no bundle
/// exists), verification off only when `insecure`, HTTP error statuses
/// returned as responses so their bodies can be read.
pub fn new_agent(config: &ClientConfig) -> Result<Agent> {
    let roots = match &config.ca_file {
        Some(path) if !config.insecure => RootCerts::new_with_certs(&load_pem_bundle(path)?),
        _ => RootCerts::WebPki,
    };
    let tls = TlsConfig::builder()
        .root_certs(roots)
        .disable_verification(config.insecure)
        .build();
    let agent_config = Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .user_agent(USER_AGENT)
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_per_read(Some(SOCKET_TIMEOUT))
        .timeout_per_write(Some(SOCKET_TIMEOUT))
        .max_idle_age(MAX_IDLE_AGE)
        .max_idle_connections(32)
        .max_idle_connections_per_host(8)
        .build();
    Ok(agent_config.new_agent())
}

/// Reads every certificate of a PEM bundle.
pub fn load_pem_bundle(path: &Path) -> Result<Vec<Certificate<'static>>> {
    crate::net::load_pem_bundle(path).map_err(|problem| Error::CaBundle {
        path: path.to_path_buf(),
        problem,
    })
}

/// A URL `PlainPut` can send to: `http://host[:port]/path`, no user
/// info, no query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlainUrl<'a> {
    /// `host[:port]` as written in the URL (the `Host` header).
    pub authority: &'a str,
    /// The host to connect to, without IPv6 brackets.
    pub host: &'a str,
    pub port: u16,
    /// From the first `/`.
    pub path: &'a str,
}

impl PlainUrl<'_> {
    /// `None` for anything but plain `http://` with a host, an optional
    /// numeric port and a path, all ASCII (the rest goes through ureq).
    pub fn parse(url: &str) -> Option<PlainUrl<'_>> {
        if !url.is_ascii() {
            return None;
        }
        let rest = url.strip_prefix("http://")?;
        let slash = rest.find('/')?;
        let (authority, path) = rest.split_at(slash);
        if authority.is_empty()
            || authority.contains('@')
            || path.contains(['?', '#', ' ', '\r', '\n'])
        {
            return None;
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6.split_once(']')?;
                match after {
                    "" => (host, 80),
                    _ => (host, after.strip_prefix(':')?.parse().ok()?),
                }
            }
            None => match authority.split_once(':') {
                Some((host, port)) => (host, port.parse().ok()?),
                None => (authority, 80),
            },
        };
        if host.is_empty() {
            return None;
        }
        Some(PlainUrl {
            authority,
            host,
            port,
            path,
        })
    }
}

/// What a server answered to a [`PlainPut`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlainReply {
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl PlainReply {
    /// The first header of that (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Idle connections kept for reuse, all services together.
const MAX_IDLE_PUT_CONNECTIONS: usize = 16;

/// Plain-HTTP/1.1 PUTs whose body is written to the socket straight from
/// the caller's buffer. ureq copies a body through its 128 KiB output
/// buffer before each write: for Keep, every 64 MiB block once per
/// replica, about 5% of an upload's CPU in a `perf` profile
/// (compat-tests/README.md, "Benchmarks"). TLS needs the copy anyway, and
/// proxies are ureq's business, so the Keep transport uses this only for
/// `http://` services when no proxy is configured. Connections are kept
/// alive and reused like ureq's (idle at most [`MAX_IDLE_AGE`]).
#[derive(Debug)]
pub struct PlainPut {
    idle: Mutex<Vec<(String, TcpStream, Instant)>>,
}

impl Default for PlainPut {
    fn default() -> Self {
        PlainPut::new()
    }
}

impl PlainPut {
    pub fn new() -> PlainPut {
        PlainPut {
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Sends `PUT url` with `headers` (besides `Host`, `User-Agent` and
    /// `Content-Length`) and `body`, and reads the answer (a body longer
    /// than `max_body` is an error). No single connect may take longer
    /// than `connect_timeout`, nor a read or write stall longer than
    /// `stall_timeout`. A kept-alive connection the server has closed in
    /// the meantime is replaced by a new one once. `Err` describes a
    /// transport failure in one line.
    pub fn put(
        &self,
        url: &PlainUrl<'_>,
        headers: &[(&str, &str)],
        body: &[u8],
        connect_timeout: Duration,
        stall_timeout: Duration,
        max_body: u64,
    ) -> std::result::Result<PlainReply, String> {
        let mut head = format!(
            "PUT {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\nContent-Length: {}\r\n",
            url.path,
            url.authority,
            USER_AGENT,
            body.len()
        );
        for (name, value) in headers {
            if value.contains(['\r', '\n']) {
                return Err(format!("the {name} header holds a line break"));
            }
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        if let Some(stream) = self.take_idle(url.authority) {
            match exchange(&stream, head.as_bytes(), body, stall_timeout, max_body) {
                Ok((reply, reusable)) => {
                    self.keep_if(reusable, url.authority, stream);
                    return Ok(reply);
                }
                // Nothing came back: the server closed the idle connection.
                Err(Failure::NoAnswer(_)) => {}
                Err(Failure::Other(e)) => return Err(e.to_string()),
            }
        }
        let stream = connect(url, connect_timeout).map_err(|e| e.to_string())?;
        match exchange(&stream, head.as_bytes(), body, stall_timeout, max_body) {
            Ok((reply, reusable)) => {
                self.keep_if(reusable, url.authority, stream);
                Ok(reply)
            }
            Err(Failure::NoAnswer(e) | Failure::Other(e)) => Err(e.to_string()),
        }
    }

    fn take_idle(&self, authority: &str) -> Option<TcpStream> {
        let mut idle = self.idle.lock().unwrap();
        idle.retain(|(_, _, since)| since.elapsed() < MAX_IDLE_AGE);
        let at = idle.iter().rposition(|(a, _, _)| a == authority)?;
        Some(idle.swap_remove(at).1)
    }

    fn keep_if(&self, reusable: bool, authority: &str, stream: TcpStream) {
        if !reusable {
            return;
        }
        let mut idle = self.idle.lock().unwrap();
        if idle.len() >= MAX_IDLE_PUT_CONNECTIONS {
            idle.remove(0);
        }
        idle.push((authority.to_string(), stream, Instant::now()));
    }
}

const USER_AGENT: &str = concat!("arv-keepdocker/", env!("CARGO_PKG_VERSION"));

/// How an exchange failed: before any byte of an answer (worth one more
/// try on a new connection if this one was reused), or otherwise.
enum Failure {
    NoAnswer(io::Error),
    Other(io::Error),
}

fn connect(url: &PlainUrl<'_>, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = None;
    for address in (url.host, url.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("the host has no address")))
}

/// Writes one request and reads its answer. Returns the answer and
/// whether the connection may carry another request. An answer sent
/// before the server read the whole body (then closing) is still read.
fn exchange(
    stream: &TcpStream,
    head: &[u8],
    body: &[u8],
    stall: Duration,
    max_body: u64,
) -> std::result::Result<(PlainReply, bool), Failure> {
    stream
        .set_write_timeout(Some(stall))
        .and_then(|()| stream.set_read_timeout(Some(stall)))
        .map_err(Failure::Other)?;
    let mut writer = stream;
    // The body goes out from the caller's buffer in one call: the kernel
    // copies it into the socket, nobody else.
    let sent = writer.write_all(head).and_then(|()| writer.write_all(body));
    if let Err(e) = &sent {
        if is_timeout(e) {
            return Err(Failure::Other(timed_out("sending the request", stall)));
        }
    }
    let mut reader = BufReader::with_capacity(8 << 10, stream);
    match reader.fill_buf() {
        Ok([]) => {
            return Err(Failure::NoAnswer(sent.err().unwrap_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection without an answer",
                )
            })))
        }
        Ok(_) => {}
        Err(e) if is_timeout(&e) => {
            return Err(Failure::Other(timed_out("waiting for the answer", stall)))
        }
        Err(e) => return Err(Failure::NoAnswer(sent.err().unwrap_or(e))),
    }
    let (reply, open) = match read_reply(&mut reader, max_body) {
        Ok(read) => read,
        Err(e) if is_timeout(&e) => {
            return Err(Failure::Other(timed_out("reading the answer", stall)))
        }
        Err(e) => return Err(Failure::Other(sent.err().unwrap_or(e))),
    };
    let reusable = sent.is_ok() && open && reader.buffer().is_empty();
    Ok((reply, reusable))
}

/// Whether a socket error is a read or write timeout.
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn timed_out(doing: &str, stall: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "timed out {doing} (nothing moved for {} s)",
            stall.as_secs()
        ),
    )
}

/// Reads one answer (past any `1xx`), its body whole up to `max_body`
/// bytes; and whether the connection may carry another request.
fn read_reply(conn: &mut impl BufRead, max_body: u64) -> io::Result<(PlainReply, bool)> {
    let head = loop {
        let head = Head::read(conn, CLOSED)?;
        if !(100..200).contains(&head.status) {
            break head;
        }
    };
    let mut body = Body::new(&mut *conn, &head, CLOSED)?;
    let mut bytes = Vec::new();
    (&mut body).take(max_body + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_body {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the answer's body is longer than {max_body} bytes"),
        ));
    }
    let open = head.keeps_alive() && body.is_framed();
    let reply = PlainReply {
        status: head.status,
        headers: head.headers,
        body: bytes,
    };
    Ok((reply, open))
}

/// What an answer cut short says.
const CLOSED: &str = "the server closed the connection in the middle of its answer";

#[cfg(test)]
pub(crate) mod testing {
    //! The fake clock (from `crate::net`); a one-thread HTTP server that
    //! answers from a script.
    use super::*;
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};
    use std::thread::JoinHandle;

    /// One request a [`ScriptedServer`] received: the connection it came
    /// on (0, 1...), its head (request line and headers) and its body.
    #[derive(Clone, Debug)]
    pub struct Received {
        pub connection: usize,
        pub head: String,
        pub body: Vec<u8>,
    }

    impl Received {
        /// The value of a header (name matched without case).
        pub fn header(&self, name: &str) -> Option<&str> {
            self.head.lines().skip(1).find_map(|line| {
                let (n, v) = line.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim())
            })
        }
    }

    /// An HTTP/1.1 server on 127.0.0.1 serving one connection at a time.
    /// Each request (with a `Content-Length` body) gets the next answer of
    /// the script, sent as is; an answer flagged `close` closes the
    /// connection after it. It stops after the last answer.
    pub struct ScriptedServer {
        pub port: u16,
        pub received: Arc<Mutex<Vec<Received>>>,
        thread: Option<JoinHandle<()>>,
    }

    impl ScriptedServer {
        pub fn start(script: Vec<(&'static str, bool)>) -> ScriptedServer {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let received = Arc::new(Mutex::new(Vec::new()));
            let log = received.clone();
            let thread = std::thread::spawn(move || {
                let mut script = script.into_iter();
                for connection in 0.. {
                    let Ok((stream, _)) = listener.accept() else {
                        return;
                    };
                    let mut reader = BufReader::new(&stream);
                    loop {
                        let mut head = String::new();
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                break;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            head.push_str(&line);
                        }
                        if head.is_empty() {
                            break; // the client closed the connection
                        }
                        let mut request = Received {
                            connection,
                            head,
                            body: Vec::new(),
                        };
                        let length: u64 = request
                            .header("content-length")
                            .map_or(0, |v| v.parse().unwrap());
                        (&mut reader)
                            .take(length)
                            .read_to_end(&mut request.body)
                            .unwrap();
                        log.lock().unwrap().push(request);
                        let Some((answer, close)) = script.next() else {
                            return;
                        };
                        (&stream).write_all(answer.as_bytes()).unwrap();
                        if script.len() == 0 {
                            return;
                        }
                        if close {
                            break;
                        }
                    }
                }
            });
            ScriptedServer {
                port,
                received,
                thread: Some(thread),
            }
        }

        /// Waits for the script to end; returns what was received.
        pub fn finish(mut self) -> Vec<Received> {
            self.thread.take().unwrap().join().unwrap();
            self.received.lock().unwrap().clone()
        }
    }

    pub use crate::net::testing::FakeClock;
}

#[cfg(test)]
mod tests {
    use super::testing::ScriptedServer;
    use super::*;

    #[test]
    fn request_ids_look_like_legacy_ones() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        for id in [a, b] {
            assert_eq!(id.len(), 24);
            assert!(id.starts_with("req-"));
            assert!(id[4..]
                .bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
        }
    }

    #[test]
    fn plain_urls_are_plain_http_with_host_port_and_path() {
        let u =
            PlainUrl::parse("http://keep0.example:25107/acbd18db4cc2f85cedef654fccc4a4d8").unwrap();
        assert_eq!(
            (u.authority, u.host, u.port, u.path),
            (
                "keep0.example:25107",
                "keep0.example",
                25107,
                "/acbd18db4cc2f85cedef654fccc4a4d8"
            )
        );
        let u = PlainUrl::parse("http://[::1]:25107/keep/x").unwrap();
        assert_eq!(
            (u.authority, u.host, u.port, u.path),
            ("[::1]:25107", "::1", 25107, "/keep/x")
        );
        let u = PlainUrl::parse("http://keep/x").unwrap();
        assert_eq!((u.host, u.port), ("keep", 80));
        let u = PlainUrl::parse("http://[fe80::1]/x").unwrap();
        assert_eq!((u.host, u.port), ("fe80::1", 80));
        for other in [
            "https://keep:25107/x",
            "http://user:pw@keep/x",
            "http://keep:port/x",
            "http://keep:99999/x",
            "http://keep",
            "http:///x",
            "http://keep/x?y=1",
            "http://[::1/x",
            "http://kéép/x",
        ] {
            assert_eq!(PlainUrl::parse(other), None, "{other}");
        }
    }

    fn reply_of(text: &str, max_body: u64) -> io::Result<(PlainReply, bool)> {
        read_reply(&mut BufReader::new(text.as_bytes()), max_body)
    }

    #[test]
    fn answers_are_read_by_length_chunks_or_close() {
        let (r, open) = reply_of(
            "HTTP/1.1 200 OK\r\nX-Keep-Replicas-Stored: 1\r\nContent-Length: 5\r\n\r\nhello",
            100,
        )
        .unwrap();
        assert_eq!((r.status, open, &r.body[..]), (200, true, &b"hello"[..]));
        assert_eq!(r.header("x-keep-replicas-stored"), Some("1"));
        let (r, open) = reply_of(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\n\
             Transfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n",
            100,
        )
        .unwrap();
        assert_eq!((r.status, open, &r.body[..]), (503, true, &b"abcde"[..]));
        let (r, open) = reply_of(
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
            100,
        )
        .unwrap();
        assert_eq!((open, &r.body[..]), (false, &b"until the end"[..]));
        let (_, open) = reply_of("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 100).unwrap();
        assert!(!open);
        let (_, open) = reply_of(
            "HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n",
            100,
        )
        .unwrap();
        assert!(!open);
    }

    #[test]
    fn answers_too_long_cut_short_or_strange_are_errors() {
        let e = reply_of(
            "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n0123456789a",
            10,
        )
        .unwrap_err();
        assert!(e.to_string().contains("longer than 10 bytes"), "{e}");
        let e = reply_of("HTTP/1.1 200 OK\r\n\r\n0123456789a", 10).unwrap_err();
        assert!(e.to_string().contains("longer than 10 bytes"), "{e}");
        let e = reply_of("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 10).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        let e = reply_of("HTTP/1.1 200 OK\r\nContent-", 10).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        let e = reply_of("SSH-2.0-OpenSSH\r\n\r\n", 10).unwrap_err();
        assert!(e.to_string().contains("not an HTTP status line"), "{e}");
        let e = reply_of(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            10,
        )
        .unwrap_err();
        assert!(e.to_string().contains("bad chunk size"), "{e}");
    }

    const STORED: &str = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";

    #[test]
    fn plain_puts_send_the_body_as_is_on_one_kept_alive_connection() {
        let server = ScriptedServer::start(vec![(STORED, false), (STORED, false)]);
        let put = PlainPut::new();
        let url = format!("http://127.0.0.1:{}/abc", server.port);
        let url = PlainUrl::parse(&url).unwrap();
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let t = Duration::from_secs(10);
        for _ in 0..2 {
            let reply = put
                .put(&url, &[("X-Request-Id", "req-1")], &body, t, t, 100)
                .unwrap();
            assert_eq!((reply.status, &reply.body[..]), (200, &b"ok\n"[..]));
        }
        let received = server.finish();
        assert_eq!(received.len(), 2);
        for r in &received {
            assert_eq!(r.connection, 0);
            assert!(r.head.starts_with("PUT /abc HTTP/1.1\r\n"), "{}", r.head);
            assert_eq!(r.header("host"), Some(url.authority));
            assert_eq!(r.header("x-request-id"), Some("req-1"));
            assert_eq!(r.header("user-agent"), Some(USER_AGENT));
            assert_eq!(r.body, body);
        }
    }

    #[test]
    fn a_connection_the_server_closed_is_replaced() {
        let server = ScriptedServer::start(vec![(STORED, true), (STORED, false)]);
        let put = PlainPut::new();
        let url = format!("http://127.0.0.1:{}/abc", server.port);
        let url = PlainUrl::parse(&url).unwrap();
        let t = Duration::from_secs(10);
        put.put(&url, &[], b"one", t, t, 100).unwrap();
        // The answer did not say `Connection: close`, so the connection
        // went back to the pool; the server has closed it since.
        assert_eq!(put.idle.lock().unwrap().len(), 1);
        let reply = put.put(&url, &[], b"two", t, t, 100).unwrap();
        assert_eq!(reply.status, 200);
        let received = server.finish();
        let seen: Vec<(usize, &[u8])> = received
            .iter()
            .map(|r| (r.connection, &r.body[..]))
            .collect();
        assert_eq!(seen, [(0, &b"one"[..]), (1, &b"two"[..])]);
    }

    #[test]
    fn a_refused_connection_is_a_transport_failure() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let url = format!("http://127.0.0.1:{port}/abc");
        let t = Duration::from_secs(10);
        let e = PlainPut::new()
            .put(&PlainUrl::parse(&url).unwrap(), &[], b"x", t, t, 100)
            .unwrap_err();
        assert!(e.starts_with("Connection refused"), "{e}");
        let e = PlainPut::new()
            .put(
                &PlainUrl::parse(&url).unwrap(),
                &[("X-Request-Id", "a\r\nb")],
                b"x",
                t,
                t,
                100,
            )
            .unwrap_err();
        assert_eq!(e, "the X-Request-Id header holds a line break");
    }

    #[test]
    fn pem_bundle_errors_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("empty.pem");
        std::fs::write(&p, "not pem").unwrap();
        let e = load_pem_bundle(&p).unwrap_err();
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
        let e = load_pem_bundle(&dir.path().join("missing.pem")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot use the CA certificates in"),
            "{e}"
        );
    }
}
