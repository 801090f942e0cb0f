//! `docker://` image references, parsed and normalised the way Docker does
//! (`ubuntu` is `docker.io/library/ubuntu:latest`). Lives low in the crate
//! so that the command-line parser can refuse a bad reference as a usage
//! error; the registry client (`registry`) uses it to pull.
//!
//! INTERFACE STUB (issue 15): the parsing is filled in by the registry
//! client's work.

use std::fmt;

/// A parsed `docker://` reference, normalised the way Docker does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// `HOST[:PORT]` as written, or `docker.io` for Docker Hub.
    pub registry: String,
    /// The repository path on that registry (`library/ubuntu` on Hub).
    pub repository: String,
    /// The tag (`latest` when neither tag nor digest was given).
    pub tag: Option<String>,
    /// `sha256:<hex>` when pulled by digest.
    pub digest: Option<String>,
}

/// Why a reference cannot be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadReference {
    pub reference: String,
    pub problem: String,
}

impl fmt::Display for BadReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid image reference {:?}: {}",
            self.reference, self.problem
        )
    }
}

impl std::error::Error for BadReference {}

impl Reference {
    /// Parse `[HOST[:PORT]/]REPO[:TAG][@sha256:DIGEST]` (without `docker://`).
    pub fn parse(text: &str) -> Result<Reference, BadReference> {
        Err(BadReference {
            reference: text.to_string(),
            problem: "not implemented yet".into(),
        })
    }

    /// The name `docker pull` gives the image locally (`ubuntu:24.04`,
    /// `ghcr.io/org/tool:2.1`), or `None` for a by-digest reference.
    pub fn local_name(&self) -> Option<String> {
        None
    }
}

impl fmt::Display for Reference {
    /// The full form: `docker.io/library/ubuntu:24.04`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}
