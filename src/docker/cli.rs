//! The `docker` command: the only place that runs it.
//!
//! Three commands are used, as the legacy tool did (spec §3): `image
//! inspect` to resolve an image to its id, `pull`, and `save` (and `info`
//! for the image store). All but `pull` are asked of the daemon's socket
//! instead when it can be ([`super::client`]); the answers here are the
//! shapes both give. The program
//! is `docker`, or `docker.io` when `docker` cannot be started (legacy
//! `popen_docker`). Unlike legacy, every child's stderr is read, so that a
//! failure quotes what docker said, and no failure is a traceback.
//!
//! `docker save` is not written to a file: [`SaveReader`] hands its stdout
//! to the caller as a [`Read`] while a thread drains its stderr (the shape
//! of ripgrep's `CommandReader`). End of file is where the exit status is
//! checked, so a failed save is a read error that quotes docker's words,
//! and dropping the reader early kills and reaps the child.

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::Instant;

use serde_json::Value;

use super::engine::EngineError;
use crate::log;

/// The programs tried in turn (legacy: `docker`, then `docker.io`).
const PROGRAMS: [&str; 2] = ["docker", "docker.io"];

/// At most this much of a child's stderr is kept for a message; the rest
/// is still read (a chatty child must never block on a full pipe).
const STDERR_KEPT: usize = 16 * 1024;

/// Why a docker command did not give what was asked.
#[derive(Debug)]
pub enum DockerError {
    /// Neither `docker` nor `docker.io` could be started.
    NotRunnable { source: io::Error },
    /// The command exited with a failure status.
    Failed {
        command: String,
        status: ExitStatus,
        stderr: String,
    },
    /// `docker image inspect` printed something that is not a JSON array
    /// of objects.
    NotJson {
        command: String,
        problem: String,
        stderr: String,
    },
    /// Talking to the child failed (a broken pipe, ...).
    Io { command: String, source: io::Error },
    /// The image is not in Docker (legacy text first).
    NoMatch { command: String, stderr: String },
    /// More than one image matches (legacy text).
    Ambiguous { count: usize, image: String },
    /// The daemon's socket did not answer, or refused the API version.
    Engine(EngineError),
}

impl fmt::Display for DockerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DockerError::NotRunnable { source } => write!(
                f,
                "cannot run docker (nor docker.io): {source}; is Docker installed and on PATH?"
            ),
            DockerError::Failed {
                command,
                status,
                stderr,
            } => {
                write!(f, "`{command}` failed ({})", status_text(*status))?;
                quote(f, stderr)
            }
            DockerError::NotJson {
                command,
                problem,
                stderr,
            } => {
                write!(
                    f,
                    "`{command}` did not print a JSON list of images ({problem})"
                )?;
                quote(f, stderr)
            }
            DockerError::Io { command, source } => write!(f, "`{command}`: {source}"),
            DockerError::NoMatch { command, stderr } => {
                write!(f, "no matching image found (`{command}`")?;
                if !stderr.is_empty() {
                    write!(f, ": {stderr}")?;
                }
                write!(f, ")")
            }
            DockerError::Ambiguous { count, image } => write!(f, "{count} images match {image}"),
            DockerError::Engine(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for DockerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DockerError::NotRunnable { source } | DockerError::Io { source, .. } => Some(source),
            DockerError::Engine(e) => Some(e),
            _ => None,
        }
    }
}

fn quote(f: &mut fmt::Formatter<'_>, stderr: &str) -> fmt::Result {
    if stderr.is_empty() {
        Ok(())
    } else {
        write!(f, ": {stderr}")
    }
}

fn status_text(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit status {code}"),
        None => format!("{status}"),
    }
}

/// Docker's stderr, trimmed to one line of text for a message.
fn stderr_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(" / ")
}

/// `docker a b c`, for messages.
fn command_line(args: &[&str]) -> String {
    let mut text = "docker".to_string();
    for a in args {
        text.push(' ');
        text.push_str(a);
    }
    text
}

/// Whether `docker` or `docker.io` is an executable file in one of the
/// directories of `path` (`$PATH`): without one, the daemon is not asked
/// directly either, and the CLI's absence is reported as before.
pub fn installed(path: Option<&OsStr>) -> bool {
    let Some(path) = path else {
        return false;
    };
    std::env::split_paths(path).any(|dir| {
        PROGRAMS.iter().any(|program| {
            let candidate = if dir.as_os_str().is_empty() {
                Path::new(program).to_path_buf()
            } else {
                dir.join(program)
            };
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Starts `docker ARGS` (or `docker.io ARGS` if `docker` cannot be
/// started) with stdin closed and stdout made by `stdout`; stderr is a pipe.
fn spawn(args: &[&str], stdout: fn() -> Stdio) -> Result<Child, DockerError> {
    let mut last = None;
    for program in PROGRAMS {
        match Command::new(program)
            .args(args.iter().map(OsStr::new))
            .stdin(Stdio::null())
            .stdout(stdout())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => return Ok(child),
            Err(e) => last = Some(e),
        }
    }
    Err(DockerError::NotRunnable {
        source: last.unwrap_or_else(|| io::Error::other("no program to run")),
    })
}

/// Runs `docker ARGS` to the end, stdout and stderr read fully.
fn run(args: &[&str]) -> Result<Output, DockerError> {
    let started = Instant::now();
    let child = spawn(args, Stdio::piped)?;
    let output = child.wait_with_output().map_err(|source| DockerError::Io {
        command: command_line(args),
        source,
    })?;
    log::debug(log::KEEPDOCKER, || {
        format!(
            "{}: {}, {} ms",
            command_line(args),
            status_text(output.status),
            log::millis(started)
        )
    });
    Ok(output)
}

/// The `Id` of each object in `docker image inspect`'s output.
pub fn parse_inspect(stdout: &[u8]) -> Result<Vec<String>, String> {
    let value: Value = serde_json::from_slice(stdout).map_err(|e| {
        let start: String = String::from_utf8_lossy(stdout).chars().take(80).collect();
        format!("{e}; it printed {start:?}")
    })?;
    let items = value.as_array().ok_or("not a JSON list")?;
    items
        .iter()
        .map(|item| {
            item.get("Id")
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| "an element has no string \"Id\"".to_string())
        })
        .collect()
}

/// The ids `docker image inspect REFERENCE` reports: empty when docker
/// has no such image (or the daemon does not answer, which docker reports
/// the same way; `stderr` says which). The exit status is not the verdict
/// (legacy): docker prints `[]` and fails for a missing image.
pub struct Inspected {
    pub ids: Vec<String>,
    pub command: String,
    pub stderr: String,
}

/// `docker image inspect REFERENCE`. (Legacy ran plain `docker inspect`,
/// where a container, volume or network with that name also counted.)
pub fn inspect(reference: &str) -> Result<Inspected, DockerError> {
    let args = ["image", "inspect", reference];
    let out = run(&args)?;
    let command = command_line(&args);
    let stderr = stderr_text(&out.stderr);
    match parse_inspect(&out.stdout) {
        Ok(ids) => Ok(Inspected {
            ids,
            command,
            stderr,
        }),
        Err(_) if !out.status.success() && out.stdout.trim_ascii().is_empty() => {
            Err(DockerError::Failed {
                command,
                status: out.status,
                stderr,
            })
        }
        Err(problem) => Err(DockerError::NotJson {
            command,
            problem,
            stderr,
        }),
    }
}

/// `docker image inspect --format {{.Size}} ID`: the image's size as
/// Docker reports it, if it says.
pub fn image_size(id: &str) -> Option<u64> {
    let out = run(&["image", "inspect", "--format", "{{.Size}}", id]).ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// `docker image inspect --format {{json .RootFS.Layers}} ID`: the
/// image's layer diff_ids, base first (empty if Docker does not say).
pub fn layer_diff_ids(id: &str) -> Vec<String> {
    let args = [
        "image",
        "inspect",
        "--format",
        "{{json .RootFS.Layers}}",
        id,
    ];
    match run(&args) {
        Ok(out) if out.status.success() => serde_json::from_slice(&out.stdout).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Exactly one id, else the legacy errors.
pub fn one_id(found: Inspected, reference: &str) -> Result<String, DockerError> {
    let Inspected {
        mut ids,
        command,
        stderr,
    } = found;
    match ids.len() {
        1 => Ok(ids.remove(0)),
        0 => Err(DockerError::NoMatch { command, stderr }),
        count => Err(DockerError::Ambiguous {
            count,
            image: reference.to_string(),
        }),
    }
}

/// Where the daemon keeps its images. With the containerd image store (the
/// default of fresh Docker 29 installs) `docker image inspect` gives an
/// image's manifest or index digest as its `Id`, not its config digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageStore {
    /// The graph-driver store: `Id` is the config digest.
    Classic,
    /// The containerd snapshotter: `Id` is a manifest or index digest.
    Containerd,
}

/// The driver type `docker info` lists in DriverStatus for the containerd
/// image store.
const CONTAINERD_SNAPSHOTTER: &str = "io.containerd.snapshotter.v1";

/// `docker info --format '{{json .DriverStatus}}'`, read as an
/// [`ImageStore`]. Anything unexpected (a failure, an old daemon) counts as
/// the classic store, whose behaviour is the legacy one.
pub fn image_store() -> ImageStore {
    match run(&["info", "--format", "{{json .DriverStatus}}"]) {
        Ok(out) if out.status.success() => parse_driver_status(&out.stdout),
        _ => ImageStore::Classic,
    }
}

/// `docker info`'s DriverStatus as printed by `--format`.
pub fn parse_driver_status(stdout: &[u8]) -> ImageStore {
    let value: Value = serde_json::from_slice(stdout).unwrap_or(Value::Null);
    driver_status_store(&value)
}

/// DriverStatus is a JSON list of `[key, value]` pairs; the containerd
/// store has `["driver-type", "io.containerd.snapshotter.v1"]`.
pub fn driver_status_store(value: &Value) -> ImageStore {
    let containerd = value.as_array().is_some_and(|pairs| {
        pairs.iter().any(|pair| {
            pair.as_array().is_some_and(|kv| {
                kv.len() == 2 && kv[0] == "driver-type" && kv[1] == CONTAINERD_SNAPSHOTTER
            })
        })
    });
    if containerd {
        ImageStore::Containerd
    } else {
        ImageStore::Classic
    }
}

/// `docker pull REFERENCE`; its progress output is not shown (legacy).
pub fn pull(reference: &str) -> Result<(), DockerError> {
    let args = ["pull", reference];
    let started = Instant::now();
    let child = spawn(&args, Stdio::null)?;
    let out = child.wait_with_output().map_err(|source| DockerError::Io {
        command: command_line(&args),
        source,
    })?;
    log::debug(log::KEEPDOCKER, || {
        format!(
            "{}: {}, {} ms",
            command_line(&args),
            status_text(out.status),
            log::millis(started)
        )
    });
    if out.status.success() {
        return Ok(());
    }
    Err(DockerError::Failed {
        command: command_line(&args),
        status: out.status,
        stderr: stderr_text(&out.stderr),
    })
}

/// `docker save IMAGE_ID`, its stdout as a stream.
pub fn save(image_id: &str) -> Result<SaveReader, DockerError> {
    let args = ["save", image_id];
    let mut child = spawn(&args, Stdio::piped)?;
    log::debug(log::KEEPDOCKER, || {
        format!("{}: started, pid {}", command_line(&args), child.id())
    });
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let drain = std::thread::spawn(move || drain(stderr));
    Ok(SaveReader {
        command: command_line(&args),
        child,
        stdout,
        stderr: Some(drain),
        done: false,
    })
}

/// Reads `from` to its end, keeping the first [`STDERR_KEPT`] bytes.
fn drain(mut from: impl Read) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let room = STDERR_KEPT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    kept
}

/// The stdout of a running `docker save`.
///
/// At end of file the child is reaped; a failure status becomes a read
/// error whose inner error is the [`DockerError`] (quoting docker's
/// stderr). Dropped before that, the child is killed and reaped.
pub struct SaveReader {
    command: String,
    child: Child,
    stdout: ChildStdout,
    stderr: Option<JoinHandle<Vec<u8>>>,
    done: bool,
}

impl SaveReader {
    /// Waits for the child and judges its exit status.
    fn close(&mut self) -> io::Result<()> {
        self.done = true;
        let status = self.child.wait()?;
        let stderr = self
            .stderr
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        if status.success() {
            return Ok(());
        }
        Err(io::Error::other(DockerError::Failed {
            command: self.command.clone(),
            status,
            stderr: stderr_text(&stderr),
        }))
    }
}

impl Read for SaveReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        let n = self.stdout.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.close()?;
        }
        Ok(n)
    }
}

impl Drop for SaveReader {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(t) = self.stderr.take() {
            let _ = t.join();
        }
    }
}

/// The docker failure inside a read error, if that is what it is.
pub fn docker_error(e: &io::Error) -> Option<&DockerError> {
    e.get_ref()?.downcast_ref::<DockerError>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_output_gives_ids() {
        let out = br#"[{"Id": "sha256:aa", "RepoTags": ["x:1"]}, {"Id": "bb"}]"#;
        assert_eq!(parse_inspect(out).unwrap(), ["sha256:aa", "bb"]);
        assert_eq!(parse_inspect(b"[]\n").unwrap(), Vec::<String>::new());
        assert!(parse_inspect(b"Error: no such thing")
            .unwrap_err()
            .contains("\"Error: no such thing\""));
        assert!(parse_inspect(br#"{"Id": "x"}"#).is_err());
        assert!(parse_inspect(br#"[{"Name": "x"}]"#).is_err());
    }

    #[test]
    fn one_id_or_the_legacy_errors() {
        let found = |ids: &[&str]| Inspected {
            ids: ids.iter().map(|s| s.to_string()).collect(),
            command: "docker image inspect x:latest".into(),
            stderr: "Error: No such image: x:latest".into(),
        };
        assert_eq!(one_id(found(&["sha256:a"]), "x").unwrap(), "sha256:a");
        assert_eq!(
            one_id(found(&[]), "x").unwrap_err().to_string(),
            "no matching image found (`docker image inspect x:latest`: \
             Error: No such image: x:latest)"
        );
        assert_eq!(
            one_id(found(&["a", "b"]), "x").unwrap_err().to_string(),
            "2 images match x"
        );
    }

    #[test]
    fn driver_status_tells_the_image_store() {
        let containerd = br#"[["driver-type","io.containerd.snapshotter.v1"]]"#;
        assert_eq!(parse_driver_status(containerd), ImageStore::Containerd);
        let overlay2 = br#"[["Backing Filesystem","extfs"],["Supports d_type","true"]]"#;
        assert_eq!(parse_driver_status(overlay2), ImageStore::Classic);
        assert_eq!(parse_driver_status(b"null\n"), ImageStore::Classic);
        assert_eq!(parse_driver_status(b"template: error"), ImageStore::Classic);
        // The same field of the Engine API's /info.
        let info = serde_json::json!({"Driver": "overlayfs", "DriverStatus": [
            ["driver-type", "io.containerd.snapshotter.v1"]]});
        assert_eq!(
            driver_status_store(&info["DriverStatus"]),
            ImageStore::Containerd
        );
    }

    #[test]
    fn installed_means_an_executable_docker_on_path() {
        let dir = tempfile::tempdir().unwrap();
        let (empty, bin) = (dir.path().join("empty"), dir.path().join("bin"));
        std::fs::create_dir(&empty).unwrap();
        std::fs::create_dir(&bin).unwrap();
        let program = bin.join("docker.io");
        std::fs::write(&program, "#!/bin/sh\n").unwrap();
        let both = std::env::join_paths([&empty, &bin]).unwrap();
        assert!(!installed(Some(both.as_os_str())), "not executable yet");
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(installed(Some(both.as_os_str())));
        assert!(!installed(Some(empty.as_os_str())));
        assert!(!installed(None));
        // A directory named docker is not a program.
        std::fs::create_dir(empty.join("docker")).unwrap();
        assert!(!installed(Some(empty.as_os_str())));
    }

    #[test]
    fn stderr_is_one_line() {
        assert_eq!(stderr_text(b"  a\n\nb  \n"), "a / b");
        assert_eq!(stderr_text(b""), "");
    }
}
