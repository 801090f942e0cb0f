//! The per-image lock (spec §9.6): `<cache>/docker/<image id>.tar.lock`,
//! an exclusive, blocking `flock`, the same lock the legacy tool takes, so
//! that a legacy run and ours on the same image also wait for each other.
//! Released when the [`ImageLock`] is dropped; the file is left in place,
//! as legacy leaves it.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A held lock on one image id.
#[derive(Debug)]
pub struct ImageLock {
    _file: File,
}

/// The lock file of an image: `<dir>/<image id>.tar.lock`.
pub fn lock_path(dir: &Path, image_id: &str) -> PathBuf {
    dir.join(format!("{image_id}.tar.lock"))
}

impl ImageLock {
    /// Opens (creating or truncating, as legacy's `open(..., 'w+')`) the
    /// lock file and waits for the exclusive lock.
    pub fn acquire(dir: &Path, image_id: &str) -> Result<ImageLock> {
        let path = lock_path(dir, image_id);
        let fail = |source| Error::Lock {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(fail)?;
        file.lock().map_err(fail)?;
        Ok(ImageLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let id = "sha256:abc";
        let first = ImageLock::acquire(dir.path(), id).unwrap();
        let path = lock_path(dir.path(), id);
        assert!(path.ends_with("sha256:abc.tar.lock"));
        let other = File::open(&path).unwrap();
        assert!(other.try_lock().is_err());
        drop(first);
        assert!(other.try_lock().is_ok());
    }
}
