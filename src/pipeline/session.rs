//! The cluster connection of one run and what the phases share: the
//! [`Context`] (settings, environment, API client), the [`Session`] of an
//! upload (discovery document, Keep client, per-image locks, dry run), the
//! [`Plan`] resolved from the request, and the owner checks.

use std::cell::{OnceCell, RefCell};
use std::path::PathBuf;

use serde_json::Value;

use super::{checkpoint, source};
use crate::arvados::api::{ApiClient, Discovery, Link};
use crate::arvados::keep::KeepClient;
use crate::error::{Error, Result};
use crate::lock::ImageLock;
use crate::log;
use crate::request::{Progress, Project, Storage, Upload};
use crate::settings::{cache_subdir, ClientConfig, Env, Settings};

/// What the cluster connection needs, resolved once per run.
pub struct Context {
    pub env: Env,
    pub config: ClientConfig,
    pub api: ApiClient,
}

impl Context {
    /// Read settings.conf and the `ARVADOS_*` environment and make the API
    /// client. No request is sent yet.
    pub fn connect(env: Env, retries: u64) -> Result<Context> {
        let settings = Settings::load(&env)?;
        crate::log::set_debug(settings.debug());
        let config = settings.client_config(&env)?;
        let retries = u32::try_from(retries).unwrap_or(u32::MAX);
        let api = ApiClient::new(&config, retries)?;
        Ok(Context { env, config, api })
    }
}

/// What the phases need from the request, resolved.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The owner of the collection and the links: `--project-uuid`, or the
    /// caller's user UUID.
    pub owner: String,
    /// `--name`.
    pub name: Option<String>,
    pub force: bool,
    pub force_image_format: bool,
    pub progress: Progress,
    /// `--resume`/`--no-resume` and `--cache`/`--no-cache`: the resume
    /// checkpoint of a file source.
    pub resume: checkpoint::Mode,
    /// `--reuse-layers`: layer-aligned blocks, recorded and reused.
    pub reuse_layers: bool,
}

impl Plan {
    /// A library caller's plan: everything in `owner`, the default name,
    /// no progress, no resume checkpoint.
    pub fn library(owner: String) -> Plan {
        Plan {
            owner,
            name: None,
            force: false,
            force_image_format: false,
            progress: Progress::Off,
            resume: checkpoint::Mode::Off,
            reuse_layers: false,
        }
    }

    /// The plan of `upload`, making everything in `owner`.
    pub fn new(upload: &Upload, owner: String) -> Plan {
        Plan {
            owner,
            name: upload.collection_name.clone(),
            force: upload.force,
            force_image_format: upload.force_image_format,
            progress: upload.progress,
            // A dry run writes no checkpoint.
            resume: if upload.dry_run {
                checkpoint::Mode::Off
            } else {
                checkpoint::Mode::from_flags(upload.resume, upload.cache)
            },
            reuse_layers: upload.reuse_layers,
        }
    }
}

/// The cluster connection of one run: the API client, the discovery
/// document, and the Keep client made when an upload first needs it.
pub struct Session {
    pub api: ApiClient,
    pub discovery: Discovery,
    /// `--dry-run`: nothing is written to Keep or the API.
    pub dry_run: bool,
    /// `--replication`, `--storage-classes`.
    pub storage: Storage,
    /// What the Keep client is made from (a library session brings its
    /// own client instead).
    config: Option<ClientConfig>,
    /// The environment whose cache directory holds the per-image locks and
    /// resume checkpoints; `None`: no locks, no checkpoints.
    cache: Option<Env>,
    keep: OnceCell<KeepClient>,
    lock_dir: Option<PathBuf>,
    locks: RefCell<Vec<ImageLock>>,
}

impl Session {
    /// The command's session: reads the discovery document; locks and
    /// checkpoints in the cache directory of `cx`'s environment.
    pub fn open(cx: &Context, upload: &Upload) -> Result<Session> {
        let discovery = cx.api.discovery()?;
        // A dry run takes no lock, so it makes no cache directory either.
        let lock_dir = if upload.dry_run {
            None
        } else {
            match cache_subdir(&cx.env, "docker") {
                Ok(dir) => Some(dir),
                Err(e) => {
                    log::warning(&format!("{e}; uploading without the per-image lock"));
                    None
                }
            }
        };
        Ok(Session {
            api: cx.api.clone(),
            discovery,
            dry_run: upload.dry_run,
            storage: upload.storage.clone(),
            config: Some(cx.config.clone()),
            cache: Some(cx.env.clone()),
            keep: OnceCell::new(),
            lock_dir,
            locks: RefCell::new(Vec::new()),
        })
    }

    /// A library caller's session: its own clients, no cache directory
    /// (no per-image lock, no resume checkpoint), nothing printed.
    pub fn with_clients(api: &ApiClient, keep: KeepClient) -> Result<Session> {
        let discovery = api.discovery()?;
        Ok(Session {
            api: api.clone(),
            discovery,
            dry_run: false,
            storage: Storage::default(),
            config: None,
            cache: None,
            keep: OnceCell::from(keep),
            lock_dir: None,
            locks: RefCell::new(Vec::new()),
        })
    }

    /// The Keep client, with the cluster's replication and storage classes
    /// unless `--replication` or `--storage-classes` say otherwise; in a dry
    /// run it only hashes.
    pub fn keep(&self) -> Result<&KeepClient> {
        if let Some(keep) = self.keep.get() {
            return Ok(keep);
        }
        let config = self
            .config
            .as_ref()
            .expect("a session without a client config was given its Keep client");
        let mut keep = match &self.storage.classes {
            // The cluster's default classes are not needed then.
            Some(classes) => KeepClient::new(&self.api, config)
                .copies(self.discovery.default_replication())
                .storage_classes(classes.clone()),
            None => KeepClient::for_cluster(&self.api, config, &self.discovery)?,
        };
        if let Some(copies) = self.storage.replication {
            keep = keep.copies(copies);
        }
        if self.dry_run {
            keep = keep.dry_run();
        }
        Ok(self.keep.get_or_init(|| keep))
    }

    /// The resume checkpoint of an archive file (see checkpoint.rs);
    /// `None` for standard input, with `--no-cache`, or when the cache
    /// directory is unusable (warned about).
    pub fn checkpoint(
        &self,
        archive: &source::ArchiveInput,
        mode: checkpoint::Mode,
    ) -> Option<checkpoint::Checkpoint> {
        let source::ArchiveInput::File { path, file, .. } = archive else {
            return None;
        };
        if mode == checkpoint::Mode::Off {
            return None;
        }
        let config = self.config.as_ref()?;
        let dir = match cache_subdir(self.cache.as_ref()?, checkpoint::CACHE_SUBDIR) {
            Ok(dir) => dir,
            Err(e) => {
                log::warning(&format!("{e}; uploading without a resume checkpoint"));
                return None;
            }
        };
        checkpoint::Checkpoint::open(&dir, &config.api_host, &config.api_token, path, file, mode)
    }

    /// Takes the per-image lock (spec §9.6) and holds it until the session
    /// ends, after phase 2, as legacy holds it until its links exist: a
    /// run that waited for it then finds the links and uploads nothing.
    /// Without a usable cache directory (warned about once) there is no
    /// lock.
    pub fn lock(&self, image_id: &str) -> Result<()> {
        if let Some(dir) = &self.lock_dir {
            let lock = ImageLock::acquire(dir, image_id)?;
            self.locks.borrow_mut().push(lock);
        }
        Ok(())
    }

    /// Creates a link; `None` in a dry run.
    pub fn create_link(&self, body: &Value) -> Result<Option<Link>> {
        if self.dry_run {
            return Ok(None);
        }
        self.api.create_link(body).map(Some)
    }
}

/// Whether `uuid` is `<5 alnum>-<kind>-<15 alnum>`, lowercase.
pub fn is_uuid_of(uuid: &str, kind: &str) -> bool {
    let ok = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    };
    let parts: Vec<&str> = uuid.split('-').collect();
    matches!(parts[..], [a, k, b] if ok(a, 5) && k == kind && ok(b, 15))
}

/// The owner of everything made: the caller's user UUID, or the
/// `--project-uuid` user or project, as the server knows it (legacy arv-put's
/// `desired_project_uuid`, checked before any byte is uploaded). A project
/// the server says the caller cannot write to is refused here, before the
/// upload, rather than by the collection create after it (where legacy
/// failed).
pub fn resolve_owner(api: &ApiClient, project: &Project) -> Result<String> {
    match project {
        Project::Home => Ok(api.current_user()?.uuid),
        Project::Uuid(uuid) => match writable_owner(api, uuid) {
            Err(Error::Api { status: 404, .. }) => Err(Error::NoProject(uuid.clone())),
            Ok(None) => Err(Error::BadProject(uuid.clone())),
            Ok(Some(owner)) => Ok(owner),
            Err(e) => Err(e),
        },
        // The command line refuses this combination; the collection source
        // resolves `source` itself before it gets here.
        Project::OfSource => Err(Error::SourceCollection(
            "--project-uuid=source needs a collection as --source".to_string(),
        )),
    }
}

/// The user or project `owner` as the server knows it, refused when the
/// server says the caller cannot write there (a server that does not say,
/// `can_write` absent, is taken at its word later, when something is
/// created); `None` when `owner` is neither a user nor a project UUID.
/// [`resolve_owner`] checks `--project-uuid` with it; the collection source
/// checks the source's owner with it for `--project-uuid=source`.
pub fn writable_owner(api: &ApiClient, owner: &str) -> Result<Option<String>> {
    let (uuid, can_write) = if is_uuid_of(owner, "tpzed") {
        let user = api.get_user(owner)?;
        (user.uuid, user.can_write)
    } else if is_uuid_of(owner, "j7d0g") {
        let group = api.get_group(owner)?;
        (group.uuid, group.can_write)
    } else {
        return Ok(None);
    };
    match can_write {
        Some(false) => Err(Error::ProjectNotWritable(uuid)),
        _ => Ok(Some(uuid)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_uuid_kinds() {
        assert!(is_uuid_of("zzzzz-tpzed-0123456789abcde", "tpzed"));
        assert!(is_uuid_of("zzzzz-j7d0g-0123456789abcde", "j7d0g"));
        assert!(!is_uuid_of("zzzzz-j7d0g-0123456789abcde", "tpzed"));
        assert!(!is_uuid_of("zzzzz-j7d0g-0123456789ABCDE", "j7d0g"));
        assert!(!is_uuid_of("zzzzz-j7d0g-0123", "j7d0g"));
    }
}
