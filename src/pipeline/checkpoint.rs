//! The resume checkpoint of a `--source=FILE` upload: which blocks of the
//! file Keep already confirmed, so that a rerun after an interruption sends
//! only the others. No copy of the archive is kept anywhere.
//!
//! One small JSON file per upload, in `<cache root>/keepdocker-resume/`
//! (mode 0700), named by the sha256 of the API host, the token and the
//! file's canonical path (the token itself is never written). It holds the
//! file's identity (canonical path, device, inode, size, mtime in ns) and,
//! for each confirmed block, its offset, size and signed locator. It is
//! rewritten (a temporary file in the same directory, then a rename) each
//! time Keep confirms a block, and removed once the image collection exists.
//!
//! On a rerun a checkpoint is used only if the file's identity is
//! unchanged; then a recorded block is not sent again when the block read
//! now has the same offset, size and md5 (so content changed behind an
//! unchanged mtime is still caught: the upload hashes every block anyway),
//! and its signature stays valid for at least [`SIGNATURE_MARGIN`] more.
//! Keep is not asked (no HEAD): Keep keeps a block at least as long as a
//! signature it gave for it is valid (Arvados' BlobSigningTTL), and the
//! collection create checks every signature anyway.
//!
//! Only regular files have a checkpoint; standard input and `docker save`
//! output cannot be read again from the middle. `--no-resume` ignores an
//! existing checkpoint (and the new upload replaces it); `--no-cache`
//! neither reads nor writes one (legacy arv-put's meaning of the options).

use std::fs::{File, Metadata};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::arvados::manifest::{hex, Locator, BLOCK_SIZE};
use crate::log;

/// A recorded block is sent again if its signature expires within this
/// many seconds: the collection must be created before it does.
pub const SIGNATURE_MARGIN: u64 = 3600;

/// The subdirectory of the cache root holding checkpoints.
pub const CACHE_SUBDIR: &str = "keepdocker-resume";

const VERSION: u32 = 1;

/// What to do with checkpoints, from `--resume`/`--no-resume` and
/// `--cache`/`--no-cache`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Use an existing checkpoint, and keep one (the default).
    Resume,
    /// `--no-resume`: start over, keeping a new checkpoint.
    StartOver,
    /// `--no-cache`: no checkpoint at all.
    Off,
}

impl Mode {
    pub fn from_flags(resume: bool, cache: bool) -> Mode {
        match (cache, resume) {
            (false, _) => Mode::Off,
            (true, false) => Mode::StartOver,
            (true, true) => Mode::Resume,
        }
    }
}

/// Which version of which file a checkpoint is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    pub path: String,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
}

impl FileIdentity {
    pub fn of(canonical: &Path, meta: &Metadata) -> FileIdentity {
        FileIdentity {
            path: canonical.display().to_string(),
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        }
    }
}

/// One block Keep confirmed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub offset: u64,
    pub size: u64,
    /// Signed locator.
    pub locator: String,
}

/// The checkpoint file's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub file: FileIdentity,
    /// By offset.
    pub blocks: Vec<Block>,
}

impl State {
    pub fn new(file: FileIdentity) -> State {
        State {
            version: VERSION,
            file,
            blocks: Vec::new(),
        }
    }

    /// The recorded locator of block `index` if it may be used instead of
    /// sending the block again: same offset, size and md5, and a signature
    /// valid until at least `now + SIGNATURE_MARGIN` (unix seconds).
    pub fn reusable(&self, index: usize, md5: &str, size: usize, now: u64) -> Option<String> {
        let offset = index as u64 * BLOCK_SIZE as u64;
        let block = self.blocks.iter().find(|b| b.offset == offset)?;
        let locator = Locator::parse(&block.locator).ok()?;
        let expiry = signature_expiry(&locator)?;
        (block.size == size as u64
            && locator.hash() == md5
            && locator.size() == size as u64
            && expiry >= now.saturating_add(SIGNATURE_MARGIN))
        .then(|| block.locator.clone())
    }

    /// Records a confirmed block, replacing any older record at its offset.
    pub fn record(&mut self, index: usize, size: usize, locator: &str) {
        let offset = index as u64 * BLOCK_SIZE as u64;
        let block = Block {
            offset,
            size: size as u64,
            locator: locator.to_string(),
        };
        match self.blocks.binary_search_by_key(&offset, |b| b.offset) {
            Ok(i) => self.blocks[i] = block,
            Err(i) => self.blocks.insert(i, block),
        }
    }
}

/// The expiry (unix seconds) of a locator's `+A<signature>@<hex expiry>`.
pub fn signature_expiry(locator: &Locator) -> Option<u64> {
    let hint = locator.permission_hint()?;
    let (_, hex_time) = hint.split_once('@')?;
    u64::from_str_radix(hex_time, 16).ok()
}

/// The checkpoint file name: sha256 of the cluster, the token and the path.
pub fn file_name(api_host: &str, token: &str, canonical: &Path) -> String {
    let mut h = Sha256::new();
    for part in [api_host.as_bytes(), token.as_bytes()] {
        h.update(part);
        h.update([0]);
    }
    h.update(canonical.as_os_str().as_encoded_bytes());
    format!("{}.json", hex(&h.finalize()))
}

/// An open checkpoint: where it lives, and what it holds.
#[derive(Debug)]
pub struct Checkpoint {
    path: PathBuf,
    state: State,
    write_failed: bool,
}

impl Checkpoint {
    /// The checkpoint of `file` (opened at `file_path`) in `dir`, if it is
    /// a regular file. With [`Mode::Resume`] an existing checkpoint of the
    /// same file version is loaded; otherwise, or if it is unreadable or
    /// of another version of the file, the checkpoint starts empty.
    pub fn open(
        dir: &Path,
        api_host: &str,
        token: &str,
        file_path: &Path,
        file: &File,
        mode: Mode,
    ) -> Option<Checkpoint> {
        if mode == Mode::Off {
            return None;
        }
        let meta = file.metadata().ok()?;
        if !meta.is_file() {
            return None;
        }
        let canonical = std::fs::canonicalize(file_path).ok()?;
        let identity = FileIdentity::of(&canonical, &meta);
        let path = dir.join(file_name(api_host, token, &canonical));
        let mut state = State::new(identity.clone());
        if mode == Mode::Resume {
            match load(&path) {
                Some(old) if old.version == VERSION && old.file == identity => {
                    if !old.blocks.is_empty() {
                        log::log(
                            log::ARV_PUT,
                            log::Level::Warning,
                            "Resuming previous upload from last checkpoint.\n         \
                             Use the --no-resume option to start over.",
                        );
                    }
                    state = old;
                }
                Some(_) => log::info(&format!(
                    "{} changed since the interrupted upload; starting over",
                    file_path.display()
                )),
                None => {}
            }
        }
        Some(Checkpoint {
            path,
            state,
            write_failed: false,
        })
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Records a confirmed block and rewrites the file. A failure to write
    /// is a warning, once: the upload itself goes on.
    pub fn record(&mut self, index: usize, size: usize, locator: &str) {
        self.state.record(index, size, locator);
        if self.write_failed {
            return;
        }
        if let Err(e) = self.write() {
            self.write_failed = true;
            log::warning(&format!(
                "cannot save the upload checkpoint {}: {e}; an interrupted upload will \
                 start over",
                self.path.display()
            ));
        }
    }

    fn write(&self) -> io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer(&mut tmp, &self.state)?;
        tmp.as_file_mut().flush()?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }

    /// The upload is done: the checkpoint goes.
    pub fn remove(self) {
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => log::warning(&format!(
                "cannot remove the upload checkpoint {}: {e}",
                self.path.display()
            )),
        }
    }
}

fn load(path: &Path) -> Option<State> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD5: &str = "7f614da9329cd3aebf59b91aadc30bf0";

    fn signed(md5: &str, size: usize, expiry: u64) -> String {
        format!("{md5}+{size}+A{}@{expiry:08x}", "a".repeat(40))
    }

    fn identity() -> FileIdentity {
        FileIdentity {
            path: "/x/image.tar".into(),
            dev: 1,
            ino: 2,
            size: 3 * BLOCK_SIZE as u64,
            mtime_ns: 5,
        }
    }

    #[test]
    fn mode_follows_the_legacy_flags() {
        assert_eq!(Mode::from_flags(true, true), Mode::Resume);
        assert_eq!(Mode::from_flags(false, true), Mode::StartOver);
        assert_eq!(Mode::from_flags(true, false), Mode::Off);
        assert_eq!(Mode::from_flags(false, false), Mode::Off);
    }

    #[test]
    fn a_block_is_reused_only_with_same_place_content_and_a_live_signature() {
        let now = 1_700_000_000;
        let mut state = State::new(identity());
        state.record(1, BLOCK_SIZE, &signed(MD5, BLOCK_SIZE, now + 7200));
        let want = Some(signed(MD5, BLOCK_SIZE, now + 7200));
        assert_eq!(state.reusable(1, MD5, BLOCK_SIZE, now), want);
        // Another block, another content, another size.
        assert_eq!(state.reusable(0, MD5, BLOCK_SIZE, now), None);
        let other = "93b885adfe0da089cdf634904fd59f71";
        assert_eq!(state.reusable(1, other, BLOCK_SIZE, now), None);
        assert_eq!(state.reusable(1, MD5, BLOCK_SIZE - 1, now), None);
        // The signature expires within the margin.
        assert_eq!(state.reusable(1, MD5, BLOCK_SIZE, now + 3601), None);
        // No signature at all.
        state.record(2, 5, &format!("{MD5}+5"));
        assert_eq!(state.reusable(2, MD5, 5, now), None);
    }

    #[test]
    fn records_stay_sorted_and_replace_by_offset() {
        let mut state = State::new(identity());
        state.record(2, 7, &signed(MD5, 7, 1));
        state.record(0, BLOCK_SIZE, &signed(MD5, BLOCK_SIZE, 1));
        state.record(2, 7, &signed(MD5, 7, 2));
        let offsets: Vec<u64> = state.blocks.iter().map(|b| b.offset).collect();
        assert_eq!(offsets, [0, 2 * BLOCK_SIZE as u64]);
        assert_eq!(state.blocks[1].locator, signed(MD5, 7, 2));
    }

    #[test]
    fn expiry_is_the_hex_after_the_at() {
        let loc = Locator::parse(&signed(MD5, 1, 0x6553f100)).unwrap();
        assert_eq!(signature_expiry(&loc), Some(0x6553f100));
        assert_eq!(
            signature_expiry(&Locator::parse("d41d8cd98f00b204e9800998ecf8427e+0").unwrap()),
            None
        );
    }

    #[test]
    fn the_name_depends_on_cluster_token_and_path_and_hides_the_token() {
        let p = Path::new("/x/image.tar");
        let a = file_name("h:443", "tok", p);
        assert_ne!(a, file_name("h:443", "tok2", p));
        assert_ne!(a, file_name("h2:443", "tok", p));
        assert_ne!(a, file_name("h:443", "tok", Path::new("/x/other.tar")));
        assert_eq!(a.len(), 64 + 5);
        assert!(!a.contains("tok"));
    }

    #[test]
    fn open_record_reopen_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("image.tar");
        std::fs::write(&data, b"0123").unwrap();
        let open = |mode| {
            let f = File::open(&data).unwrap();
            Checkpoint::open(dir.path(), "h", "t", &data, &f, mode)
        };
        let mut c = open(Mode::Resume).unwrap();
        assert!(c.state().blocks.is_empty());
        c.record(0, 4, &signed(MD5, 4, u32::MAX.into()));
        let saved = c.path.clone();
        assert!(saved.exists());
        // Nothing but the checkpoint (the temporary file was renamed).
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        assert_eq!(open(Mode::Resume).unwrap().state().blocks.len(), 1);
        assert!(open(Mode::StartOver).unwrap().state().blocks.is_empty());
        assert!(open(Mode::Off).is_none());
        // Another version of the file: not used.
        std::fs::write(&data, b"01234").unwrap();
        assert!(open(Mode::Resume).unwrap().state().blocks.is_empty());
        c.remove();
        assert!(!saved.exists());
    }
}
