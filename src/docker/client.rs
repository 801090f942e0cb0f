//! The Docker daemon as the daemon source asks it: over its unix socket
//! with the Engine API ([`engine`]) when the docker command would use that
//! socket too, else through the docker command ([`cli`]).
//!
//! Either way the answers have the same shapes and meanings: an image
//! inspect gives the ids (none when Docker has no such image, the legacy
//! "no matching image found"), the info gives the [`ImageStore`], a save
//! gives the archive as a [`Read`]. The daemon resolves a reference the
//! same way for both, since the docker command only passes it on to the
//! same request. `docker pull` always runs the command (see
//! `pipeline::daemon`).

use std::io::Read;

use super::cli::{self, DockerError, ImageStore, Inspected};
use super::engine::{self, Endpoint, Engine};

/// How the daemon is asked.
#[derive(Debug, Clone)]
pub enum Docker {
    /// Its socket, with the API version agreed.
    Engine(Engine),
    /// The `docker` command.
    Cli,
}

impl Docker {
    /// The way to this process's daemon: its socket when the docker command
    /// would use a plain unix socket ([`engine::current_endpoint`]), a
    /// docker command is installed (without one, its absence is reported as
    /// it always was), and the socket answers `/_ping`; else the command,
    /// which then reports any trouble in its own words.
    pub fn current() -> Docker {
        match engine::current_endpoint() {
            Endpoint::Socket(socket) if cli::installed(std::env::var_os("PATH").as_deref()) => {
                Engine::connect(&socket).map_or(Docker::Cli, Docker::Engine)
            }
            _ => Docker::Cli,
        }
    }

    /// `docker image inspect REFERENCE`: the ids it gives. As with the
    /// command, any answer of the daemon but the image (404, an ambiguous
    /// id prefix) means no ids, its words kept for messages; a daemon that
    /// does not answer, or refuses our API version, is an error.
    pub fn inspect(&self, reference: &str) -> Result<Inspected, DockerError> {
        let Docker::Engine(engine) = self else {
            return cli::inspect(reference);
        };
        let command = format!("GET {}", engine.inspect_target(reference));
        match engine.image_id(reference) {
            Ok(id) => Ok(Inspected {
                ids: vec![id],
                command,
                stderr: String::new(),
            }),
            Err(e) if e.is_answer() => Ok(Inspected {
                ids: Vec::new(),
                command,
                stderr: e.to_string(),
            }),
            Err(e) => Err(DockerError::Engine(e)),
        }
    }

    /// The one image id `reference` names (legacy `find_one_image_hash`).
    pub fn resolve(&self, reference: &str) -> Result<String, DockerError> {
        cli::one_id(self.inspect(reference)?, reference)
    }

    /// Where the daemon keeps its images; anything unexpected counts as the
    /// classic store (see [`cli::image_store`]).
    pub fn image_store(&self) -> ImageStore {
        match self {
            Docker::Engine(engine) => engine.info().map_or(ImageStore::Classic, |info| {
                cli::driver_status_store(&info["DriverStatus"])
            }),
            Docker::Cli => cli::image_store(),
        }
    }

    /// The image's size as Docker reports it (its layers, uncompressed:
    /// the archive adds tar headers), for progress; `None` if it does not
    /// say.
    pub fn image_size(&self, image_id: &str) -> Option<u64> {
        match self {
            Docker::Engine(engine) => engine.image_size(image_id).ok().flatten(),
            Docker::Cli => cli::image_size(image_id),
        }
    }

    /// The image's layer diff_ids (`RootFS.Layers`), base first; empty if
    /// Docker does not say.
    pub fn layer_diff_ids(&self, image_id: &str) -> Vec<String> {
        match self {
            Docker::Engine(engine) => engine.layer_diff_ids(image_id).unwrap_or_default(),
            Docker::Cli => cli::layer_diff_ids(image_id),
        }
    }

    /// The archive `docker save IMAGE_ID` writes: from the socket when the
    /// daemon gives it there, else from the command.
    pub fn save(&self, image_id: &str) -> Result<Box<dyn Read + Send>, DockerError> {
        if let Docker::Engine(engine) = self {
            if let Some(save) = engine.save(image_id) {
                return Ok(Box::new(save));
            }
        }
        Ok(Box::new(cli::save(image_id)?))
    }
}
