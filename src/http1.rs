//! Reading an HTTP/1.1 answer ourselves, for the two requests ureq does
//! not make: the Docker daemon's API on its unix socket (`docker::engine`)
//! and a Keep PUT written straight from the block's buffer
//! (`arvados::http::PlainPut`). The head, then a body framed by
//! `Transfer-Encoding: chunked`, `Content-Length` or the connection's end.

use std::io::{self, BufRead, Read};

/// Longest answer head (status line and headers) read.
pub const MAX_HEAD: usize = 64 * 1024;

/// An answer's status line and headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Head {
    /// `HTTP/1.1`, `HTTP/1.0`.
    pub version: String,
    pub status: u16,
    /// Names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// Reads one head. `closed` is the error for a connection that ends
    /// before it does (what the peer is, in the caller's words).
    pub fn read(conn: &mut impl BufRead, closed: &'static str) -> io::Result<Head> {
        let mut used = 0;
        let status_line = next_line(conn, &mut used, closed)?;
        let mut parts = status_line.split(' ');
        let (version, status) = match (parts.next(), parts.next().map(str::parse::<u16>)) {
            (Some(v), Some(Ok(status))) if v.starts_with("HTTP/1.") => (v.to_string(), status),
            _ => return Err(invalid(format!("not an HTTP status line: {status_line:?}"))),
        };
        let mut headers = Vec::new();
        loop {
            let line = next_line(conn, &mut used, closed)?;
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(invalid(format!("not an HTTP header: {line:?}")));
            };
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        Ok(Head {
            version,
            status,
            headers,
        })
    }

    /// The first header of that (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the peer keeps the connection open after this answer (its
    /// body read to a framed end).
    pub fn keeps_alive(&self) -> bool {
        self.version != "HTTP/1.0"
            && !self
                .header("connection")
                .is_some_and(|c| c.eq_ignore_ascii_case("close"))
    }
}

/// How the body's end is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// `Transfer-Encoding: chunked`: bytes left in the current chunk, and
    /// whether the last (empty) chunk was seen.
    Chunked { left: u64, ended: bool },
    /// `Content-Length` (or no body at all): bytes left.
    Length(u64),
    /// Neither: the body ends when the peer closes the connection.
    Close,
}

/// An answer's body, as a [`Read`] that ends where the framing says: a
/// connection closed before that is an `UnexpectedEof` error, never a
/// short clean end.
pub struct Body<R> {
    conn: R,
    framing: Framing,
    closed: &'static str,
}

impl<R: BufRead> Body<R> {
    /// The body after `head` on `conn`.
    pub fn new(conn: R, head: &Head, closed: &'static str) -> io::Result<Body<R>> {
        let framing = if (100..200).contains(&head.status) || matches!(head.status, 204 | 304) {
            Framing::Length(0)
        } else if let Some(coding) = head.header("transfer-encoding") {
            if !coding.eq_ignore_ascii_case("chunked") {
                return Err(invalid(format!("unknown transfer encoding {coding:?}")));
            }
            Framing::Chunked {
                left: 0,
                ended: false,
            }
        } else if let Some(length) = head.header("content-length") {
            Framing::Length(
                length
                    .parse()
                    .map_err(|_| invalid(format!("bad Content-Length {length:?}")))?,
            )
        } else {
            Framing::Close
        };
        Ok(Body {
            conn,
            framing,
            closed,
        })
    }

    /// Whether the body's end is framed (not the connection's end).
    pub fn is_framed(&self) -> bool {
        self.framing != Framing::Close
    }

    /// The size line of the next chunk; at the last chunk, its trailers.
    fn next_chunk(&mut self) -> io::Result<u64> {
        let mut used = 0;
        let line = next_line(&mut self.conn, &mut used, self.closed)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size, 16)
            .map_err(|_| invalid(format!("bad chunk size line {line:?}")))?;
        if size == 0 {
            while !next_line(&mut self.conn, &mut used, self.closed)?.is_empty() {}
        }
        Ok(size)
    }

    /// The CRLF after a chunk's data.
    fn end_of_chunk(&mut self) -> io::Result<()> {
        let mut used = 0;
        if next_line(&mut self.conn, &mut used, self.closed)?.is_empty() {
            Ok(())
        } else {
            Err(invalid("chunk data longer than its size line".into()))
        }
    }
}

impl<R: BufRead> Read for Body<R> {
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
            _ if n == 0 => return Err(closed_early(self.closed)),
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
fn next_line(
    conn: &mut impl BufRead,
    used: &mut usize,
    closed: &'static str,
) -> io::Result<String> {
    let mut line = Vec::new();
    let limit = MAX_HEAD.saturating_sub(*used) as u64;
    let n = conn.by_ref().take(limit).read_until(b'\n', &mut line)?;
    *used += n;
    if n == 0 || line.last() != Some(&b'\n') {
        return Err(if *used >= MAX_HEAD {
            invalid("response head too long".into())
        } else {
            closed_early(closed)
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

fn closed_early(message: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, message)
}
