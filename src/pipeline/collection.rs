//! Phase 1: ensure the image collection exists, whatever the source.
//!
//! The source-independent part takes an image id, the repo:tag to record
//! and the target project, and gives the target collection: an existing
//! one ("already in Arvados", legacy S4), a copy of an existing one's
//! manifest into the target project (no bytes moved), or a fresh one made
//! from an upload, created in one call with its final name, owner and
//! properties. [`ensure_from_archive_input`] is the archive source (a file or
//! standard input) on top of that.

use serde_json::{json, Value};

use super::report::{CollectionAction, CollectionReport};
use super::session::{Plan, Session};
use super::{format, source};
use crate::arvados::api::{ApiClient, Collection, Link, ListParams};
use crate::arvados::links::sort_links;
use crate::arvados::manifest::portable_data_hash;
use crate::arvados::upload::Uploaded;
use crate::error::Result;
use crate::log;
use crate::progress;
use crate::request::{RepoTag, Storage};

/// Link class of the image id link.
pub const HASH: &str = "docker_image_hash";
/// Link class of the repo:tag link.
pub const REPO_TAG: &str = "docker_image_repo+tag";
/// Collection property holding the digest a containerd-store daemon calls
/// the image by (its manifest or index digest), when that differs from the
/// image id recorded (the config digest).
pub const MANIFEST_DIGEST: &str = "docker-image-manifest-digest";

/// What phase 2 needs to know about the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFacts {
    /// `sha256:<64 hex>` (or a v1 bare hex id).
    pub id: String,
    /// `None`: stored by its hash only.
    pub repo_tag: Option<RepoTag>,
    /// The config's `created`, for a fresh upload's links.
    pub created: Option<String>,
}

/// The image's records already in Arvados.
#[derive(Clone, Debug, Default)]
pub struct Existing {
    /// Hash links named with the image id, most preferred first (§8.2).
    pub hash_links: Vec<Link>,
    /// Their readable, untrashed head collections, most preferred first.
    pub collections: Vec<Collection>,
    /// Repo+tag links with the wanted name on those collections.
    pub repo_tag_links: Vec<Link>,
}

/// How the target collection came to be.
#[derive(Clone, Debug)]
pub enum Made {
    /// Created from an upload: both links are made, carrying the config's
    /// timestamp.
    Fresh,
    /// The image was already in Arvados: only the links the target project
    /// lacks are made, copying the most preferred hash link's properties.
    Existing(Existing),
}

/// Phase 1's result.
#[derive(Clone, Debug)]
pub struct Ensured {
    /// The target collection (its UUID is `None` only in a dry run, for a
    /// collection that would be created).
    pub collection: CollectionReport,
    pub facts: ImageFacts,
    pub made: Made,
    /// Bytes this run wrote to Keep (or, in a dry run, would write).
    pub bytes_uploaded: u64,
    /// Bytes of the archive already in Keep that the collection reuses.
    pub bytes_reused: u64,
}

impl Ensured {
    /// Whether the collection was made from a new upload.
    pub fn is_fresh(&self) -> bool {
        matches!(self.made, Made::Fresh)
    }

    /// The target collection's UUID.
    pub fn uuid(&self) -> Option<&str> {
        self.collection.uuid.as_deref()
    }
}

/// The default collection name (spec §7.2), or `--name`.
pub fn collection_name(given: Option<&str>, repo_tag: Option<&RepoTag>, image_id: &str) -> String {
    if let Some(name) = given {
        return name.to_string();
    }
    let short: String = image_id.chars().take(12).collect();
    match repo_tag {
        Some(rt) => format!("Docker image {} {short}", rt.to_string().replace('/', " ")),
        None => format!("Docker image {short}"),
    }
}

/// The `docker-image-repo-tag` property value.
pub fn repo_tag_property(repo_tag: Option<&RepoTag>) -> Value {
    repo_tag.map_or(Value::Null, |rt| Value::String(rt.to_string()))
}

/// The create body of a collection holding `manifest_text`: a fresh upload
/// and a copy of an existing image have the same shape.
/// `--replication` and `--storage-classes` are recorded as the
/// collection's `replication_desired` and `storage_classes_desired`;
/// without them legacy's `null` and the server's default classes.
pub fn collection_body(
    manifest_text: &str,
    name: &str,
    owner: &str,
    repo_tag: Option<&RepoTag>,
    storage: &Storage,
) -> Value {
    let mut body = json!({
        "manifest_text": manifest_text,
        "name": name,
        "owner_uuid": owner,
        "replication_desired": storage.replication,
        "properties": {"docker-image-repo-tag": repo_tag_property(repo_tag)},
    });
    if let Some(classes) = &storage.classes {
        body["storage_classes_desired"] = json!(classes);
    }
    body
}

/// Creates a collection from `body` (nothing in a dry run) and says what
/// it is: the server's record, or in a dry run what the body asks for. An
/// interrupted run's leftover is adopted instead of made again (see
/// [`create_or_adopt`]); the report then says `Reuse`.
pub fn create_collection(
    cx: &Session,
    body: &Value,
    action: CollectionAction,
    copied_from: Option<&str>,
    force: bool,
) -> Result<CollectionReport> {
    let manifest = body["manifest_text"].as_str().unwrap_or("");
    let owner = body["owner_uuid"].as_str().unwrap_or("").to_string();
    if cx.dry_run {
        return Ok(CollectionReport {
            action,
            uuid: None,
            portable_data_hash: portable_data_hash(manifest),
            name: body["name"].as_str().map(String::from),
            owner_uuid: owner,
            replication_desired: body["replication_desired"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok()),
            storage_classes_desired: serde_json::from_value(
                body["storage_classes_desired"].clone(),
            )
            .ok(),
            copied_from: copied_from.map(String::from),
        });
    }
    let Created {
        collection,
        adopted,
    } = create_or_adopt(&cx.api, body, force)?;
    Ok(CollectionReport {
        action: if adopted {
            CollectionAction::Reuse
        } else {
            action
        },
        uuid: Some(collection.uuid),
        portable_data_hash: collection
            .portable_data_hash
            .unwrap_or_else(|| portable_data_hash(manifest)),
        name: collection.name,
        owner_uuid: collection.owner_uuid.unwrap_or(owner),
        replication_desired: collection.replication_desired,
        storage_classes_desired: collection.storage_classes_desired,
        copied_from: copied_from.map(String::from),
    })
}

/// An existing collection used as it is. If `--replication` or
/// `--storage-classes` ask for something else than it records, a warning
/// says that it is kept as it is (only collections this run creates get
/// them).
pub fn reused_collection(c: &Collection, storage: &Storage) -> CollectionReport {
    let mut recorded_classes = c.storage_classes_desired.clone();
    if let Some(classes) = recorded_classes.as_mut() {
        classes.sort();
        classes.dedup();
    }
    let replication_differs = storage
        .replication
        .is_some_and(|n| c.replication_desired != Some(n));
    let classes_differ = storage
        .classes
        .as_ref()
        .is_some_and(|want| recorded_classes.as_ref() != Some(want));
    if replication_differs || classes_differ {
        let shown = |v: Option<String>| v.unwrap_or_else(|| "the cluster default".into());
        log::warning(&format!(
            "collection {} already holds the image and is used as it is, with replication \
             {} and storage classes {}; --replication and --storage-classes apply only to \
             collections this run creates (--force uploads a new one)",
            c.uuid,
            shown(c.replication_desired.map(|n| n.to_string())),
            shown(recorded_classes.as_ref().map(|v| v.join(","))),
        ));
    }
    CollectionReport {
        action: CollectionAction::Reuse,
        uuid: Some(c.uuid.clone()),
        portable_data_hash: c
            .portable_data_hash
            .clone()
            .unwrap_or_else(|| portable_data_hash(c.manifest_text.as_deref().unwrap_or(""))),
        name: c.name.clone(),
        owner_uuid: c.owner_uuid.clone().unwrap_or_default(),
        replication_desired: c.replication_desired,
        storage_classes_desired: c.storage_classes_desired.clone(),
        copied_from: None,
    }
}

/// The size of the image archive a collection's manifest holds (0 when
/// the manifest is not an image collection's).
pub fn archive_bytes(manifest: &str) -> u64 {
    crate::arvados::manifest::image_file_of(manifest)
        .map(|file| file.segments.iter().map(|&(_, size)| size).sum())
        .unwrap_or(0)
}

/// Looks the image up by its id (legacy S4): the hash links anyone made,
/// their readable collections, and the repo+tag links on those.
pub fn find_existing(
    api: &ApiClient,
    image_id: &str,
    repo_tag: Option<&RepoTag>,
) -> Result<Option<Existing>> {
    let mut hash_links: Vec<Link> = api.list_all(
        "links",
        vec![
            json!(["link_class", "=", HASH]),
            json!(["name", "=", image_id]),
        ],
        None,
    )?;
    if hash_links.is_empty() {
        return Ok(None);
    }
    sort_links(&mut hash_links);
    let mut heads: Vec<&str> = Vec::new();
    for link in &hash_links {
        if let Some(h) = link.head_uuid.as_deref() {
            if !heads.contains(&h) {
                heads.push(h);
            }
        }
    }
    // Paged, unlike legacy's single list call that saw at most 100.
    let mut collections: Vec<Collection> = api.list_all(
        "collections",
        vec![json!(["uuid", "in", heads])],
        Some(vec![
            "uuid".into(),
            "owner_uuid".into(),
            "name".into(),
            "manifest_text".into(),
            "portable_data_hash".into(),
            "replication_desired".into(),
            "storage_classes_desired".into(),
        ]),
    )?;
    if collections.is_empty() {
        return Ok(None);
    }
    collections.sort_by_key(|c| heads.iter().position(|h| *h == c.uuid));
    let repo_tag_links = match repo_tag {
        Some(rt) => {
            let uuids: Vec<&str> = collections.iter().map(|c| c.uuid.as_str()).collect();
            api.list_all(
                "links",
                vec![
                    json!(["link_class", "=", REPO_TAG]),
                    json!(["name", "=", rt.to_string()]),
                    json!(["head_uuid", "in", uuids]),
                ],
                None,
            )?
        }
        None => Vec::new(),
    };
    Ok(Some(Existing {
        hash_links,
        collections,
        repo_tag_links,
    }))
}

/// The image id (config digest) of the most preferred readable image
/// collection recorded with `digest` as its [`MANIFEST_DIGEST`] property:
/// how an image a containerd-store daemon names by its manifest or index
/// digest is found again before anything is uploaded.
pub fn find_by_manifest_digest(api: &ApiClient, digest: &str) -> Result<Option<String>> {
    let collections: Vec<Collection> = api.list_all(
        "collections",
        vec![json!([
            format!("properties.{MANIFEST_DIGEST}"),
            "=",
            digest
        ])],
        Some(vec!["uuid".into()]),
    )?;
    if collections.is_empty() {
        return Ok(None);
    }
    let uuids: Vec<&str> = collections.iter().map(|c| c.uuid.as_str()).collect();
    let mut hashes: Vec<Link> = api.list_all(
        "links",
        vec![
            json!(["link_class", "=", HASH]),
            json!(["head_uuid", "in", uuids]),
        ],
        None,
    )?;
    sort_links(&mut hashes);
    Ok(hashes.into_iter().find_map(|l| l.name))
}

/// The target collection for an image already in Arvados: the first one
/// the target project owns, else a copy of the most preferred one's
/// manifest into it (no bytes move).
pub fn ensure_from_existing(
    cx: &Session,
    existing: Existing,
    facts: ImageFacts,
    plan: &Plan,
) -> Result<Ensured> {
    let owned = existing
        .collections
        .iter()
        .find(|c| c.owner_uuid.as_deref() == Some(plan.owner.as_str()));
    let source = owned.unwrap_or(&existing.collections[0]);
    let manifest = source.manifest_text.as_deref().unwrap_or("");
    let bytes_reused = archive_bytes(manifest);
    let collection = match owned {
        Some(c) => reused_collection(c, &cx.storage),
        None => {
            let name = collection_name(plan.name.as_deref(), facts.repo_tag.as_ref(), &facts.id);
            let body = collection_body(
                manifest,
                &name,
                &plan.owner,
                facts.repo_tag.as_ref(),
                &cx.storage,
            );
            create_collection(
                cx,
                &body,
                CollectionAction::Copy,
                Some(&source.uuid),
                plan.force,
            )?
        }
    };
    Ok(Ensured {
        collection,
        facts,
        made: Made::Existing(existing),
        bytes_uploaded: 0,
        bytes_reused,
    })
}

/// The one place an image already in Arvados is reused: unless `--force`
/// asks for a new upload, the image's collection is made available in the
/// plan's project (its own, or a copy: no bytes move) with `facts`.
/// `None`: the image is not in Arvados (or `--force`), so the caller
/// uploads it. The caller holds the image's lock.
pub fn reuse_if_present(cx: &Session, plan: &Plan, facts: &ImageFacts) -> Result<Option<Ensured>> {
    if plan.force {
        return Ok(None);
    }
    match find_existing(&cx.api, &facts.id, facts.repo_tag.as_ref())? {
        Some(existing) => ensure_from_existing(cx, existing, facts.clone(), plan).map(Some),
        None => Ok(None),
    }
}

/// The collection [`create_or_adopt`] gives.
#[derive(Clone, Debug)]
pub struct Created {
    pub collection: Collection,
    /// An interrupted run's leftover, reused.
    pub adopted: bool,
}

/// Creates the collection `body` describes, unless the target project
/// already holds one an interrupted run left behind: the same portable
/// data hash and the same name, not trashed (that run had created it, but
/// died before its links). That one is adopted instead, and its
/// `docker-image-repo-tag` property set if it differs (a legacy run dies
/// between its create and its property update). `--force` always creates.
pub fn create_or_adopt(api: &ApiClient, body: &Value, force: bool) -> Result<Created> {
    if !force {
        if let Some(found) = find_leftover(api, body)? {
            let wanted = &body["properties"]["docker-image-repo-tag"];
            let mut properties = found.properties.clone().unwrap_or_default();
            if properties.get("docker-image-repo-tag") != Some(wanted) {
                properties.insert("docker-image-repo-tag".into(), wanted.clone());
                api.update_collection(&found.uuid, &json!({ "properties": properties }))?;
            }
            log::info(&format!(
                "adopting collection {} ({}), left in the project by an earlier run \
                 that did not finish",
                found.uuid,
                found.portable_data_hash.as_deref().unwrap_or_default()
            ));
            return Ok(Created {
                collection: found,
                adopted: true,
            });
        }
    }
    Ok(Created {
        collection: api.create_collection(body)?,
        adopted: false,
    })
}

/// The oldest untrashed collection in `body`'s owner with its name and
/// the portable data hash of its manifest (one list call).
fn find_leftover(api: &ApiClient, body: &Value) -> Result<Option<Collection>> {
    let params = leftover_query(body);
    Ok(api
        .list::<Collection>("collections", &params)?
        .items
        .into_iter()
        .next())
}

/// The listing [`find_leftover`] sends (the server leaves trashed
/// collections out of a listing).
pub fn leftover_query(body: &Value) -> ListParams {
    let text = |key: &str| body[key].as_str().unwrap_or_default().to_string();
    ListParams {
        filters: vec![
            json!(["owner_uuid", "=", text("owner_uuid")]),
            json!([
                "portable_data_hash",
                "=",
                portable_data_hash(&text("manifest_text"))
            ]),
            json!(["name", "=", text("name")]),
        ],
        order: Some(vec!["created_at asc".into(), "uuid asc".into()]),
        select: Some(
            [
                "uuid",
                "owner_uuid",
                "name",
                "portable_data_hash",
                "properties",
                "replication_desired",
                "storage_classes_desired",
            ]
            .map(String::from)
            .to_vec(),
        ),
        limit: Some(1),
        ..ListParams::default()
    }
}

/// Creates the collection of a fresh upload, in one call with its final
/// name, owner and properties.
pub fn create_fresh(
    cx: &Session,
    uploaded: &Uploaded,
    facts: ImageFacts,
    plan: &Plan,
) -> Result<Ensured> {
    create_fresh_recording(cx, uploaded, facts, plan, None)
}

/// [`create_fresh`], recording `manifest_digest` (the id a containerd-store
/// daemon gave the image) as the [`MANIFEST_DIGEST`] property.
pub fn create_fresh_recording(
    cx: &Session,
    uploaded: &Uploaded,
    facts: ImageFacts,
    plan: &Plan,
    manifest_digest: Option<&str>,
) -> Result<Ensured> {
    let mut properties = serde_json::Map::new();
    if let Some(digest) = manifest_digest {
        properties.insert(MANIFEST_DIGEST.into(), Value::String(digest.to_string()));
    }
    create_fresh_with(cx, uploaded, facts, plan, properties)
}

/// [`create_fresh`], with `properties` besides `docker-image-repo-tag`
/// (the containerd store's digest, where a pulled image came from).
pub fn create_fresh_with(
    cx: &Session,
    uploaded: &Uploaded,
    facts: ImageFacts,
    plan: &Plan,
    properties: serde_json::Map<String, Value>,
) -> Result<Ensured> {
    let name = collection_name(plan.name.as_deref(), facts.repo_tag.as_ref(), &facts.id);
    let manifest = uploaded.manifest(&format!("{}.tar", facts.id));
    let mut body = collection_body(
        &manifest,
        &name,
        &plan.owner,
        facts.repo_tag.as_ref(),
        &cx.storage,
    );
    for (key, value) in properties {
        body["properties"][key] = value;
    }
    let collection = create_collection(cx, &body, CollectionAction::Upload, None, plan.force)?;
    // An adopted leftover was saved by the run that left it.
    if !cx.dry_run && collection.action == CollectionAction::Upload {
        log::log(
            log::ARV_PUT,
            log::Level::Info,
            &format!(
                "Collection saved as '{}'",
                collection.name.as_deref().unwrap_or(&name)
            ),
        );
        let sent = uploaded.size - uploaded.reused;
        let summary = progress::summary(sent, uploaded.reused, uploaded.elapsed);
        log::log(log::ARV_PUT, log::Level::Info, &summary);
    }
    Ok(Ensured {
        collection,
        facts,
        made: Made::Fresh,
        bytes_uploaded: uploaded.size,
        bytes_reused: 0,
    })
}

/// Phase 1 for an archive (a file or standard input).
///
/// A regular file is looked at first (tar headers, manifest.json and the
/// config only), so an image already in Arvados costs no upload. Otherwise
/// the archive streams once into Keep while it is checked, and the
/// collection is created only once the whole archive passed the check.
/// Standard input learns the image id only at the end; if the image turns
/// out to be in Arvados already, that is adopted instead (the uploaded
/// blocks are harmless). A regular file's upload keeps a resume checkpoint
/// (checkpoint.rs), removed once the collection exists.
pub fn ensure_from_archive_input(
    cx: &Session,
    plan: &Plan,
    archive: source::ArchiveInput,
    given: Option<&RepoTag>,
) -> Result<Ensured> {
    let mut checkpoint = cx.checkpoint(&archive, plan.resume);
    let ensured = archive_to_collection(cx, plan, given, archive, checkpoint.as_mut())?;
    // The image collection exists: an interrupted upload's state has served.
    if let Some(c) = checkpoint {
        c.remove();
    }
    Ok(ensured)
}

fn archive_to_collection(
    cx: &Session,
    plan: &Plan,
    given: Option<&RepoTag>,
    mut archive: source::ArchiveInput,
    checkpoint: Option<&mut source::Checkpoint>,
) -> Result<Ensured> {
    let formats = cx.discovery.docker_image_formats.as_deref();
    let what = archive.what();

    // A regular file tells its image before the upload: one already in
    // Arvados then costs no upload.
    let peeked = match plan.force {
        false => archive.peek(),
        true => None,
    };
    if let Some(peek) = &peeked {
        format::ensure_supported(&peek.image_id, formats, plan.force_image_format)?;
        cx.lock(&peek.image_id)?;
        let facts = ImageFacts {
            id: peek.image_id.clone(),
            repo_tag: source::recorded_repo_tag(given, &peek.repo_tags),
            created: None,
        };
        if let Some(ensured) = reuse_if_present(cx, plan, &facts)? {
            return Ok(ensured);
        }
    }

    let keep = cx.keep()?;
    let pool = plan
        .reuse_layers
        .then(|| source::LayerPool::new(&cx.api, keep));
    if let Some(pool) = &pool {
        pool.look_up_all(&archive.diff_ids());
    }
    let (uploaded, image) =
        source::stream_to_keep(keep, archive, plan.progress, checkpoint, pool.as_ref())?;
    let index = pool.map(|p| p.index(&uploaded, &image));
    let facts = ImageFacts {
        id: image.image_id,
        repo_tag: source::recorded_repo_tag(given, &image.repo_tags),
        created: image.created,
    };
    match &peeked {
        Some(peek) => source::same_image(&what, &peek.image_id, &facts.id)?,
        None => {
            // Standard input (or --force): the image is known only now.
            format::ensure_supported(&facts.id, formats, plan.force_image_format)?;
            cx.lock(&facts.id)?;
            if let Some(mut ensured) = reuse_if_present(cx, plan, &facts)? {
                // The blocks are in Keep already (harmless); say so.
                ensured.bytes_uploaded = uploaded.size;
                return Ok(ensured);
            }
        }
    }
    match index {
        Some(index) => create_fresh_aligned(cx, &uploaded, facts, plan, index),
        None => create_fresh(cx, &uploaded, facts, plan),
    }
}

/// The collection of a layer-aligned upload (`--reuse-layers`), with
/// `properties` (its layer index, and any other) beside
/// `docker-image-repo-tag`. The blocks taken from other collections (or a
/// resumed upload's) count as reused, not uploaded.
pub fn create_fresh_aligned(
    cx: &Session,
    uploaded: &Uploaded,
    facts: ImageFacts,
    plan: &Plan,
    properties: serde_json::Map<String, Value>,
) -> Result<Ensured> {
    let mut ensured = create_fresh_with(cx, uploaded, facts, plan, properties)?;
    ensured.bytes_uploaded = uploaded.size - uploaded.reused;
    ensured.bytes_reused = uploaded.reused;
    Ok(ensured)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn rt(repo: &str, tag: &str) -> RepoTag {
        RepoTag {
            repo: repo.into(),
            tag: tag.into(),
        }
    }

    #[test]
    fn names_follow_the_legacy_rule() {
        let id = "sha256:d2c94e258dcb3c5ac2798d32e1249e42ef01cba4841c2234249495f87264ac5a";
        assert_eq!(
            collection_name(None, Some(&rt("kdtest-plain", "v1")), id),
            "Docker image kdtest-plain:v1 sha256:d2c94"
        );
        assert_eq!(
            collection_name(
                None,
                Some(&rt("quay.io/biocontainers/star", "2.7.5c--0")),
                id
            ),
            "Docker image quay.io biocontainers star:2.7.5c--0 sha256:d2c94"
        );
        assert_eq!(collection_name(None, None, id), "Docker image sha256:d2c94");
        assert_eq!(collection_name(Some("latest"), None, id), "latest");
    }

    #[test]
    fn collection_body_has_final_properties() {
        let legacy = Storage::default();
        let body = collection_body(
            ". x 0:0:f\n",
            "n",
            "zzzzz-tpzed-000000000000000",
            None,
            &legacy,
        );
        assert_eq!(body["properties"], json!({"docker-image-repo-tag": null}));
        assert_eq!(body["owner_uuid"], "zzzzz-tpzed-000000000000000");
        // Legacy's explicit null, and no storage_classes_desired key.
        assert_eq!(body["replication_desired"], Value::Null);
        assert!(body.get("storage_classes_desired").is_none());
        let body = collection_body("", "n", "o", Some(&rt("a/b", "c")), &legacy);
        assert_eq!(
            body["properties"],
            json!({"docker-image-repo-tag": "a/b:c"})
        );
        let storage = Storage {
            replication: Some(3),
            classes: Some(vec!["archive".into(), "default".into()]),
        };
        let body = collection_body("", "n", "o", None, &storage);
        assert_eq!(body["replication_desired"], json!(3));
        assert_eq!(
            body["storage_classes_desired"],
            json!(["archive", "default"])
        );
    }

    #[test]
    fn leftover_is_looked_for_by_owner_pdh_and_name() {
        let manifest = ". acbd18db4cc2f85cedef654fccc4a4d8+3+A0123@ffffffff 0:3:foo.txt\n";
        let body = collection_body(
            manifest,
            "Docker image x",
            "zzzzz-j7d0g-0123456789abcde",
            None,
            &Storage::default(),
        );
        let q = leftover_query(&body);
        assert_eq!(
            q.filters,
            vec![
                json!(["owner_uuid", "=", "zzzzz-j7d0g-0123456789abcde"]),
                json!([
                    "portable_data_hash",
                    "=",
                    "83367e8913dcec0bf3fc25ed5a27eacb+49"
                ]),
                json!(["name", "=", "Docker image x"]),
            ]
        );
        assert_eq!(q.limit, Some(1));
    }

    fn link(uuid: &str, ts: Option<&str>, created: &str) -> Link {
        let mut props = Map::new();
        if let Some(ts) = ts {
            props.insert("image_timestamp".into(), ts.into());
        }
        Link {
            uuid: uuid.into(),
            owner_uuid: None,
            created_at: Some(created.into()),
            link_class: Some(HASH.into()),
            name: None,
            head_uuid: None,
            tail_uuid: None,
            properties: Some(props),
        }
    }

    #[test]
    fn links_sort_by_timestamp_then_creation_newest_first() {
        let mut links = vec![
            link("a", None, "2024-01-01T00:00:00Z"),
            link("b", Some("2023-01-01T00:00:00Z"), "2020-01-01T00:00:00Z"),
            link(
                "c",
                Some("2023-01-01T00:00:00+05:00"),
                "2021-01-01T00:00:00Z",
            ),
            link("d", Some("garbage"), "2025-01-01T00:00:00Z"),
            link(
                "e",
                Some("2024-06-01T00:00:00.123456789Z"),
                "2019-01-01T00:00:00Z",
            ),
        ];
        sort_links(&mut links);
        let order: Vec<&str> = links.iter().map(|l| l.uuid.as_str()).collect();
        assert_eq!(order, ["e", "c", "b", "d", "a"]);
    }
}
