//! The `images` listing (being written).

use std::io::Write;

use crate::arvados::api::ApiClient;
use crate::error::{Error, Result};

/// Print the images stored in Arvados, as the legacy listing does.
pub fn run(_api: &ApiClient, _out: &mut dyn Write) -> Result<()> {
    Err(Error::NotImplemented("listing images"))
}
