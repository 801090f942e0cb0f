//! The two phases of an upload (being written).

use std::io::Write;

use crate::error::{Error, Result};
use crate::request::Upload;
use crate::run::Context;

/// Ensure the image collection exists, then its tags; print its UUID.
pub fn run(_cx: &Context, _upload: &Upload, _stdout: &mut dyn Write) -> Result<()> {
    Err(Error::NotImplemented("uploading"))
}
