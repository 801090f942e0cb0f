//! The blob reader: the bytes of one blob as the registry stores them,
//! hashed while they stream and checked against the descriptor's size and
//! digest at the end (an error then, never a clean short read). A
//! connection cut mid-blob is resumed with `Range: bytes=N-`, as many times
//! as `--retries` allows.

use std::io::{self, Read};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use ureq::BodyReader;

use super::client::{self, header, Client, Repo};
use super::{Descriptor, RegistryError, LOGGER};
use crate::log;
use crate::reference::is_sha256_digest;

pub struct BlobReader {
    client: Arc<Client>,
    repo: Arc<Repo>,
    blob: Descriptor,
    /// `blob sha256:... of REGISTRY/REPO`, for messages.
    what: String,
    body: Option<BodyReader<'static>>,
    /// Bytes read (and hashed) so far.
    offset: u64,
    hasher: Sha256,
    resumes: u32,
    finished: bool,
}

impl BlobReader {
    /// Asks for the blob; errors that come before any byte (unknown blob,
    /// auth, a wrong `Content-Length`) are returned here.
    pub fn open(
        client: Arc<Client>,
        repo: Arc<Repo>,
        blob: Descriptor,
    ) -> Result<BlobReader, RegistryError> {
        if !is_sha256_digest(&blob.digest) {
            return Err(RegistryError::Other(format!(
                "blob digest {:?} of {} is not sha256: and 64 hex digits",
                blob.digest,
                repo.name()
            )));
        }
        let what = format!("blob {} of {}", blob.digest, repo.name());
        let mut reader = BlobReader {
            client,
            repo,
            blob,
            what,
            body: None,
            offset: 0,
            hasher: Sha256::new(),
            resumes: 0,
            finished: false,
        };
        reader.body = Some(reader.request()?);
        Ok(reader)
    }

    /// GET the blob from `self.offset` on.
    fn request(&mut self) -> Result<BodyReader<'static>, RegistryError> {
        let path = format!("/v2/{}/blobs/{}", self.repo.repository, self.blob.digest);
        let from = (self.offset > 0).then_some(self.offset);
        let response = self.client.get(&self.repo, &path, None, from, &self.what)?;
        let status = response.status().as_u16();
        let length = header(&response, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
        let size = self.blob.size;
        match status {
            200 | 206 => {}
            404 => {
                return Err(RegistryError::BlobUnknown {
                    registry: self.repo.host.registry.clone(),
                    repository: self.repo.repository.clone(),
                    digest: self.blob.digest.clone(),
                })
            }
            _ => {
                return Err(RegistryError::Server {
                    registry: self.repo.host.registry.clone(),
                    what: self.what.clone(),
                    status,
                    message: client::error_message(response),
                })
            }
        }
        // 206: the rest from our offset; 200: the whole blob (a server
        // that ignores Range), whose first `offset` bytes we skip.
        let start = if status == 206 {
            let range = header(&response, "content-range").unwrap_or_default();
            let start = range
                .trim()
                .strip_prefix("bytes ")
                .and_then(|r| r.split('-').next())
                .and_then(|s| s.parse::<u64>().ok());
            if start != Some(self.offset) {
                return Err(RegistryError::Cut {
                    what: self.what.clone(),
                    at: self.offset,
                    size,
                    problem: format!("the registry resumed at {range:?}"),
                });
            }
            self.offset
        } else {
            0
        };
        if let Some(length) = length {
            if start + length != size {
                return Err(RegistryError::SizeMismatch {
                    what: self.what.clone(),
                    expected: size,
                    actual: start + length,
                });
            }
        }
        let mut body = response.into_body().into_reader();
        if start < self.offset {
            let skip = self.offset - start;
            let skipped = io::copy(&mut (&mut body).take(skip), &mut io::sink()).map_err(|e| {
                RegistryError::Cut {
                    what: self.what.clone(),
                    at: self.offset,
                    size,
                    problem: e.to_string(),
                }
            })?;
            if skipped != skip {
                return Err(RegistryError::Cut {
                    what: self.what.clone(),
                    at: self.offset,
                    size,
                    problem: "the registry ignored Range and its answer ended early".into(),
                });
            }
        }
        Ok(body)
    }

    /// The connection ended before the blob did: ask for the rest, if
    /// retries remain.
    fn resume(&mut self, problem: String) -> io::Result<()> {
        self.body = None;
        if self.resumes >= self.client.options.retries {
            return Err(to_io(RegistryError::Cut {
                what: self.what.clone(),
                at: self.offset,
                size: self.blob.size,
                problem,
            }));
        }
        self.resumes += 1;
        log::debug(LOGGER, || {
            format!(
                "{}: cut after {} of {} bytes ({problem}); resuming",
                self.what, self.offset, self.blob.size
            )
        });
        self.body = Some(self.request().map_err(to_io)?);
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.finished = true;
        self.body = None;
        let actual = format!(
            "sha256:{}",
            client::hex(&std::mem::take(&mut self.hasher).finalize())
        );
        if actual != self.blob.digest {
            return Err(to_io(RegistryError::DigestMismatch {
                what: self.what.clone(),
                expected: self.blob.digest.clone(),
                actual,
            }));
        }
        Ok(())
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.finished || buf.is_empty() {
            return Ok(0);
        }
        loop {
            let remaining = self.blob.size - self.offset;
            if remaining == 0 {
                self.finish()?;
                return Ok(0);
            }
            let want = buf
                .len()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            let Some(body) = self.body.as_mut() else {
                self.resume("no connection".into())?;
                continue;
            };
            match body.read(&mut buf[..want]) {
                Ok(0) => self.resume("the connection ended early".into())?,
                Ok(n) => {
                    self.hasher.update(&buf[..n]);
                    self.offset += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.resume(e.to_string())?,
            }
        }
    }
}

fn to_io(e: RegistryError) -> io::Error {
    io::Error::other(e)
}

/// The registry error inside an I/O error a blob reader returned (any
/// other I/O error becomes `RegistryError::Other`).
pub fn unwrap_error(e: io::Error) -> RegistryError {
    if e.get_ref().is_some_and(|inner| inner.is::<RegistryError>()) {
        if let Some(inner) = e.into_inner() {
            if let Ok(registry) = inner.downcast::<RegistryError>() {
                return *registry;
            }
        }
        unreachable!("checked just above")
    }
    RegistryError::Other(e.to_string())
}
