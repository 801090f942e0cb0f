//! The daemon source (legacy form `IMAGE [TAG]`): phase 1 for an image
//! taken from the local Docker daemon.
//!
//! ```text
//! --pull?  -> docker pull <image>:<tag>
//! resolve  -> docker image inspect: the image id, and how it was found
//!             (by name or by id); the format check
//!   else   -> the Arvados fallback (legacy list_images_in_arv, spec §3.3
//!             step 4): the most preferred image of that name or id there
//! lock     -> already in Arvados? (find_existing) reuse it
//!   else   -> docker save <id> | archive check | Keep; create the collection
//! ```
//!
//! Docker is asked over the daemon's unix socket when the docker command
//! would use it too and we can open it: no `docker` process for the
//! inspect, the info or the save (see [`crate::docker::engine`]); else
//! through the docker command. `--pull` always runs `docker pull`.
//!
//! The containerd image store (Docker 29's default; `docker info` lists the
//! `io.containerd.snapshotter.v1` driver type) calls an image by its
//! manifest or index digest, which classic-store compute nodes cannot load
//! (upstream arvados/arvados#488). The image is then stored by the config
//! digest read from the saved archive's manifest.json, exactly as from a
//! classic store, and Docker's digest is recorded as the collection property
//! `docker-image-manifest-digest`; "already in Arvados" looks that property
//! up before saving anything. A classic store takes the legacy path
//! unchanged.
//!
//! Differences from legacy, all deliberate: the Arvados fallback runs only
//! when Docker cannot give the image (legacy ran it on every upload); for
//! an id it looks for exactly that id or id prefix (legacy's `ilike
//! 'sha256%'` matched every v2 image); `--pull` pulls the requested tag
//! whenever asked and keeps going with the local image if that fails
//! (legacy pulled only when no `<image>` of any tag was there); `docker
//! save` streams into Keep, no file is written; docker failures are one
//! line quoting docker's stderr, never a traceback.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::collection::{self, Ensured, ImageFacts, HASH, REPO_TAG};
use super::session::{Plan, Session};
use super::{format, source};
use crate::arvados::api::{ApiClient, Collection, Link};
use crate::arvados::links::sort_links;
use crate::arvados::upload::Uploaded;
use crate::docker::archive::ImageArchive;
use crate::docker::cli::{self, DockerError, ImageStore};
use crate::docker::client::Docker;
use crate::error::{Error, Result};
use crate::log;
use crate::progress::Total;
use crate::request::{FoundBy, ImageArg, ImageIdPrefix, Progress, RepoTag};

/// What Docker says about the image asked for: its id and how it was
/// found, or why Docker cannot give it.
pub type LocalImage = std::result::Result<(String, FoundBy), DockerError>;

/// What Docker said about the image before the cluster was asked, and the
/// way to ask it for the archive.
pub struct Local {
    found: LocalImage,
    store: ImageStore,
    docker: Docker,
}

/// The Docker half of phase 1, which needs no cluster: `--pull`, then the
/// image id, and (unless `--force`) which image store the daemon uses,
/// asked at the same time. The caller runs it beside the first API
/// requests.
pub fn resolve_local(image: &ImageArg, pull: bool, force: bool) -> Result<Local> {
    let docker = Docker::current();
    let (found, store) = std::thread::scope(|s| {
        let store = (!force).then(|| s.spawn(|| docker.image_store()));
        if pull {
            ensure_pulled(&docker, image)?;
        }
        let found = resolve_in_docker(&docker, image);
        let store = match store {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            None => ImageStore::Classic,
        };
        Ok::<_, Error>((found, store))
    })?;
    Ok(Local {
        found,
        store,
        docker,
    })
}

/// Phase 1 for an image in the local Docker daemon, once
/// [`resolve_local`] has asked Docker about it:
///
/// ```text
/// which image (Docker's answer, else the one in Arvados)
///   -> lock it -> reuse it if Arvados has it
///   -> else stream `docker save` into Keep -> create the collection
/// ```
///
/// The image is named `name` when given (`arv-docker load -i IMAGE NAME`),
/// else as `image` names it.
pub fn ensure_from_daemon(
    cx: &Session,
    plan: &Plan,
    image: &ImageArg,
    name: Option<&RepoTag>,
    local: Local,
) -> Result<Ensured> {
    let Local {
        found,
        store,
        docker,
    } = local;
    let (id, found_by, not_in_docker) = which_image(cx, plan, image, found)?;
    let repo_tag = name.or_else(|| image.recorded_repo_tag(found_by)).cloned();
    cx.lock(&id)?;
    // An image Docker cannot give is not looked up by its manifest digest.
    let store = match not_in_docker {
        None => store,
        Some(_) => ImageStore::Classic,
    };
    if let Some(ensured) = reuse_present(cx, plan, &id, repo_tag.as_ref(), store)? {
        return Ok(ensured);
    }
    if let Some(docker) = not_in_docker {
        // Found by the fallback, gone (or unreadable) by now.
        return Err(Error::NoImage {
            image: describe(image),
            docker,
        });
    }
    let keep = cx.keep()?;
    let pool = plan
        .reuse_layers
        .then(|| source::LayerPool::new(&cx.api, keep));
    if let Some(pool) = &pool {
        // Docker checked every layer against these as it stored it.
        pool.look_up_all(&docker.layer_diff_ids(&id));
    }
    let (uploaded, archive) = upload_save(cx, plan, &docker, &id, pool.as_ref())?;
    let index = pool.map(|p| p.index(&uploaded, &archive));
    create_from_save(cx, plan, &id, repo_tag, &uploaded, archive, index)
}

/// The image id: Docker's, or when Docker cannot give the image, the one
/// in Arvados by that name or id (then with Docker's failure, for the
/// message should it be needed).
fn which_image(
    cx: &Session,
    plan: &Plan,
    image: &ImageArg,
    found: LocalImage,
) -> Result<(String, FoundBy, Option<DockerError>)> {
    match found {
        Ok((id, found_by)) => {
            let formats = cx.discovery.docker_image_formats.as_deref();
            format::ensure_supported(&id, formats, plan.force_image_format)?;
            Ok((id, found_by, None))
        }
        Err(docker) => match find_in_arvados(&cx.api, image)? {
            Some(_) if plan.force => Err(Error::ForceNeedsDocker(docker)),
            Some((id, found_by)) => {
                log::info(&format!(
                    "Docker cannot give the image ({docker}); using the one already in \
                     Arvados, {id}"
                ));
                Ok((id, found_by, Some(docker)))
            }
            None => Err(Error::NoImage {
                image: describe(image),
                docker,
            }),
        },
    }
}

/// The image already in Arvados, made available in the project (see
/// [`collection::reuse_if_present`]). With the containerd image store
/// Docker's id is a manifest or index digest; the image is found by the
/// property recording it.
fn reuse_present(
    cx: &Session,
    plan: &Plan,
    id: &str,
    repo_tag: Option<&RepoTag>,
    store: ImageStore,
) -> Result<Option<Ensured>> {
    if plan.force {
        return Ok(None);
    }
    let known = match store {
        ImageStore::Classic => Some(id.to_string()),
        ImageStore::Containerd => collection::find_by_manifest_digest(&cx.api, id)?,
    };
    let Some(known) = known else {
        return Ok(None);
    };
    let facts = ImageFacts {
        id: known,
        repo_tag: repo_tag.cloned(),
        created: None,
    };
    collection::reuse_if_present(cx, plan, &facts)
}

/// Streams `docker save` of `id` into Keep, checked on the way.
fn upload_save(
    cx: &Session,
    plan: &Plan,
    docker: &Docker,
    id: &str,
    aligned: Option<&source::LayerPool<'_>>,
) -> Result<(Uploaded, ImageArchive)> {
    // Docker's size of the image is a total for the human progress line
    // (an estimate, which the machine format never prints).
    let total = match plan.progress {
        Progress::Human => docker
            .image_size(id)
            .map_or(Total::Unknown, Total::Estimate),
        _ => Total::Unknown,
    };
    let save = docker.save(id).map_err(Error::Docker)?;
    let what = format!("the output of `docker save {id}`");
    source::stream_save_to_keep(cx.keep()?, save, what, total, plan.progress, aligned)
}

/// The collection of a fresh save. With the containerd image store the id
/// compute nodes load the image by is the config digest in the archive,
/// not Docker's id, which is recorded beside it; an image stored before by
/// its config digest is adopted instead.
fn create_from_save(
    cx: &Session,
    plan: &Plan,
    id: &str,
    repo_tag: Option<RepoTag>,
    uploaded: &Uploaded,
    archive: ImageArchive,
    index: Option<Map<String, Value>>,
) -> Result<Ensured> {
    let facts = ImageFacts {
        id: archive.image_id,
        repo_tag,
        created: archive.created,
    };
    if facts.id == id {
        return match index {
            Some(index) => collection::create_fresh_aligned(cx, uploaded, facts, plan, index),
            None => collection::create_fresh(cx, uploaded, facts, plan),
        };
    }
    log::info(&format!(
        "Docker calls the image {id} (a manifest digest: the containerd image store); \
         storing it by its config digest {} and recording {id} as the collection \
         property {}",
        facts.id,
        collection::MANIFEST_DIGEST
    ));
    // Stored before by its config digest, from a file or a classic store:
    // adopt it (the blocks just written are harmless).
    if let Some(ensured) = collection::reuse_if_present(cx, plan, &facts)? {
        return Ok(ensured);
    }
    match index {
        Some(mut properties) => {
            properties.insert(collection::MANIFEST_DIGEST.into(), Value::String(id.into()));
            collection::create_fresh_aligned(cx, uploaded, facts, plan, properties)
        }
        None => collection::create_fresh_recording(cx, uploaded, facts, plan, Some(id)),
    }
}

/// How messages name the image asked for.
pub fn describe(image: &ImageArg) -> String {
    match image {
        ImageArg::Name(name) => name.to_string(),
        ImageArg::Id(id) => format!("sha256:{}", id.as_str()),
        ImageArg::NameOrId { name, id } => format!("{name} (or id {})", id.as_str()),
    }
}

/// `--pull` (legacy S6, fixed): pull the requested `<image>:<tag>` every
/// time ("Try to pull the latest image"), so a present tag is refreshed.
/// A failed pull is an error only when the image is not there locally;
/// otherwise a warning, and the local image is used (an offline user
/// keeps working). An image id cannot be pulled: a bare hex argument is
/// pulled as `<hex>:latest` only if Docker has nothing of that name or id.
fn ensure_pulled(docker: &Docker, image: &ImageArg) -> Result<()> {
    let present = |reference: &str| docker.inspect(reference).is_ok_and(|i| !i.ids.is_empty());
    let name = match image {
        ImageArg::Id(id) => {
            log::info(&format!(
                "--pull: sha256:{} is an image id, which cannot be pulled",
                id.as_str()
            ));
            return Ok(());
        }
        ImageArg::NameOrId { id, .. } if present(id.as_str()) => return Ok(()),
        ImageArg::Name(name) | ImageArg::NameOrId { name, .. } => name.to_string(),
    };
    match cli::pull(&name) {
        Ok(()) => Ok(()),
        Err(e) if present(&name) => {
            log::warning(&format!("{e}; using the local image {name}"));
            Ok(())
        }
        Err(e) => Err(Error::Docker(e)),
    }
}

/// The image id Docker gives for the argument, and how it was found.
///
/// A name is asked for as `<repo>:<tag>`; an id as `sha256:<hex>` (legacy
/// asked for `sha256:<hex>` split and re-joined, which worked by chance);
/// a bare hex argument first as the name `<hex>:latest`, then as an id
/// prefix.
fn resolve_in_docker(docker: &Docker, image: &ImageArg) -> Result<(String, FoundBy), DockerError> {
    match image {
        ImageArg::Name(name) => Ok((docker.resolve(&name.to_string())?, FoundBy::Name)),
        ImageArg::Id(id) => Ok((
            docker.resolve(&format!("sha256:{}", id.as_str()))?,
            FoundBy::Id,
        )),
        ImageArg::NameOrId { name, id } => match docker.resolve(&name.to_string()) {
            Ok(found) => Ok((found, FoundBy::Name)),
            Err(DockerError::NoMatch { .. }) => {
                let found = docker.resolve(id.as_str())?;
                Ok((found, FoundBy::Id))
            }
            Err(e) => Err(e),
        },
    }
}

/// The Arvados fallback (spec §2.4 S2, §3.3 step 4), run only when Docker
/// cannot give the image: the most preferred image in Arvados with the
/// name (a repo+tag link named `<repo>:<tag>`), else, for an id, the one
/// image whose hash link is that id or starts with that id prefix.
pub fn find_in_arvados(api: &ApiClient, image: &ImageArg) -> Result<Option<(String, FoundBy)>> {
    if let Some(name) = image.name() {
        if let Some(id) = find_by_name(api, name)? {
            return Ok(Some((id, FoundBy::Name)));
        }
    }
    if let Some(prefix) = image.id_prefix() {
        let v1_too = matches!(image, ImageArg::NameOrId { .. });
        if let Some(id) = find_by_id(api, prefix, v1_too)? {
            return Ok(Some((id, FoundBy::Id)));
        }
        // A whole digest may be the manifest digest a containerd-store
        // daemon called an image by when it was stored.
        if prefix.as_str().len() == 64 {
            let digest = format!("sha256:{}", prefix.as_str());
            if let Some(id) = collection::find_by_manifest_digest(api, &digest)? {
                return Ok(Some((id, FoundBy::Id)));
            }
        }
    }
    Ok(None)
}

/// S2 steps a–c.
fn find_by_name(api: &ApiClient, name: &RepoTag) -> Result<Option<String>> {
    let mut named: Vec<Link> = api.list_all(
        "links",
        vec![
            json!(["link_class", "=", REPO_TAG]),
            json!(["name", "=", name.to_string()]),
        ],
        None,
    )?;
    if named.is_empty() {
        return Ok(None);
    }
    sort_links(&mut named);
    let live = live_heads(api, &named)?;
    if live.is_empty() {
        return Ok(None);
    }
    let heads: Vec<&str> = live.iter().map(String::as_str).collect();
    let mut hashes: Vec<Link> = api.list_all(
        "links",
        vec![
            json!(["head_uuid", "in", heads]),
            json!(["link_class", "=", HASH]),
        ],
        None,
    )?;
    sort_links(&mut hashes);
    Ok(choose_by_name(&named, &live, &hashes))
}

/// The id prefix's fallback (legacy S2 b′–d′ without the `ilike` bug):
/// hash links named `sha256:<prefix>…` (and, for a bare hex argument,
/// `<prefix>…`, a v1 id), on readable collections. Several different
/// images are an error rather than a guess.
fn find_by_id(api: &ApiClient, prefix: &ImageIdPrefix, v1_too: bool) -> Result<Option<String>> {
    // Hex digits only: nothing in the pattern is a LIKE wildcard.
    let mut patterns = vec![format!("sha256:{}%", prefix.as_str())];
    if v1_too {
        patterns.push(format!("{}%", prefix.as_str()));
    }
    let mut links: Vec<Link> = Vec::new();
    for pattern in patterns {
        links.extend(api.list_all::<Link>(
            "links",
            vec![
                json!(["link_class", "=", HASH]),
                json!(["name", "like", pattern]),
            ],
            None,
        )?);
    }
    if links.is_empty() {
        return Ok(None);
    }
    sort_links(&mut links);
    let live = live_heads(api, &links)?;
    choose_by_id(prefix, &links, &live).map_err(|ids| Error::AmbiguousId {
        prefix: prefix.as_str().to_string(),
        ids,
    })
}

/// The head collections of `links` that exist and are readable.
fn live_heads(api: &ApiClient, links: &[Link]) -> Result<HashSet<String>> {
    let mut heads: Vec<&str> = links
        .iter()
        .filter_map(|l| l.head_uuid.as_deref())
        .collect();
    heads.sort_unstable();
    heads.dedup();
    let found: Vec<Collection> = api.list_all(
        "collections",
        vec![json!(["uuid", "in", heads])],
        Some(vec!["uuid".into()]),
    )?;
    Ok(found.into_iter().map(|c| c.uuid).collect())
}

/// The id of the most preferred image named so: the first repo+tag link
/// (most preferred first) on a live collection that has a hash link, and
/// that collection's most preferred hash link. (Legacy took the first
/// repo+tag link even without a hash link, and then failed on the id
/// `<unknown>`.)
pub fn choose_by_name(named: &[Link], live: &HashSet<String>, hashes: &[Link]) -> Option<String> {
    named
        .iter()
        .filter_map(|l| l.head_uuid.as_deref())
        .filter(|head| live.contains(*head))
        .find_map(|head| {
            hashes
                .iter()
                .find(|h| h.head_uuid.as_deref() == Some(head))
                .and_then(|h| h.name.clone())
        })
}

/// The one image id among `links` (most preferred first) that starts with
/// `prefix` and is on a live collection; `Err` lists them if there are
/// several.
pub fn choose_by_id(
    prefix: &ImageIdPrefix,
    links: &[Link],
    live: &HashSet<String>,
) -> std::result::Result<Option<String>, Vec<String>> {
    let mut ids: Vec<String> = Vec::new();
    for link in links {
        let on_live = link.head_uuid.as_deref().is_some_and(|h| live.contains(h));
        if let Some(name) = link.name.as_deref() {
            if on_live && prefix.matches(name) && !ids.iter().any(|i| i == name) {
                ids.push(name.to_string());
            }
        }
    }
    match ids.len() {
        0 => Ok(None),
        1 => Ok(ids.pop()),
        _ => Err(ids),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(uuid: &str, name: &str, head: &str, ts: &str) -> Link {
        let mut props = serde_json::Map::new();
        props.insert("image_timestamp".into(), ts.into());
        Link {
            uuid: uuid.into(),
            name: Some(name.into()),
            head_uuid: Some(head.into()),
            created_at: Some("2024-01-01T00:00:00Z".into()),
            properties: Some(props),
            ..Link::default()
        }
    }

    fn live(heads: &[&str]) -> HashSet<String> {
        heads.iter().map(|s| s.to_string()).collect()
    }

    const A: &str = "sha256:aaaa000000000000000000000000000000000000000000000000000000000000";
    const B: &str = "sha256:aabb000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn by_name_takes_the_preferred_live_collection_with_a_hash() {
        let mut named = vec![
            link("r1", "x:1", "c1", "2020-01-01T00:00:00Z"),
            link("r2", "x:1", "c2", "2023-01-01T00:00:00Z"),
            link("r3", "x:1", "c3", "2024-01-01T00:00:00Z"),
        ];
        sort_links(&mut named);
        let hashes = vec![
            link("h1", A, "c1", "2020-01-01T00:00:00Z"),
            link("h2", B, "c2", "2023-01-01T00:00:00Z"),
        ];
        // c3 is the newest but has no hash link: skipped (legacy: <unknown>).
        assert_eq!(
            choose_by_name(&named, &live(&["c1", "c2", "c3"]), &hashes),
            Some(B.to_string())
        );
        // c2 trashed: the next one.
        assert_eq!(
            choose_by_name(&named, &live(&["c1", "c3"]), &hashes),
            Some(A.to_string())
        );
        assert_eq!(choose_by_name(&named, &live(&[]), &hashes), None);
    }

    #[test]
    fn by_id_only_that_prefix_and_never_a_guess() {
        let links = vec![
            link("h1", A, "c1", "2024-01-01T00:00:00Z"),
            link("h2", B, "c2", "2023-01-01T00:00:00Z"),
            link("h3", A, "c3", "2022-01-01T00:00:00Z"),
        ];
        let all = live(&["c1", "c2", "c3"]);
        let p = |s: &str| ImageIdPrefix::parse(s).unwrap();
        assert_eq!(choose_by_id(&p("aaaa"), &links, &all), Ok(Some(A.into())));
        assert_eq!(choose_by_id(&p(&A[7..]), &links, &all), Ok(Some(A.into())));
        assert_eq!(choose_by_id(&p("aab"), &links, &all), Ok(Some(B.into())));
        assert_eq!(
            choose_by_id(&p("aa"), &links, &all),
            Err(vec![A.to_string(), B.to_string()])
        );
        // The other image's collection is gone: no ambiguity left.
        assert_eq!(
            choose_by_id(&p("aa"), &links, &live(&["c1"])),
            Ok(Some(A.into()))
        );
        assert_eq!(choose_by_id(&p("ab"), &links, &all), Ok(None));
        // A v1 id (bare hex) matches a bare hex prefix too.
        let v1 = vec![link("h4", &A[7..], "c4", "2024-01-01T00:00:00Z")];
        assert_eq!(
            choose_by_id(&p("aaaa0"), &v1, &live(&["c4"])),
            Ok(Some(A[7..].into()))
        );
    }
}
