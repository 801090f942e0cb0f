//! Phase 1 for a collection source (`--source=UUID|PDH`): an image already
//! in Arvados, re-tagged or copied into another project without moving a
//! byte (the legacy "image already known" path, spec §2.4 S4, started from
//! a collection instead of a Docker image).
//!
//! ```text
//! resolve the target project (unless --project-uuid=source)
//!   -> find the source collection (by UUID, or a readable one with the PDH)
//!   -> its one file sha256:<id>.tar gives the image id; its hash links must agree
//!   -> the image's hash links anywhere give the link properties; with none,
//!      the archive's config `created`, read from the few Keep blocks that
//!      hold the tar headers and the config
//!   -> target: the source if the project owns it, else the project's own
//!      collection of the image, else a copy of the source's manifest
//! ```
//!
//! Everything that can refuse the source runs before anything is created.

use serde_json::{json, Value};

use super::collection::{
    collection_body, collection_name, create_collection, find_existing, reused_collection, Ensured,
    Existing, ImageFacts, Made, HASH, REPO_TAG,
};
use super::report::CollectionAction;
use super::session::{resolve_owner, writable_owner, Plan, Session};
use super::{checkpoint, format, tags};
use crate::arvados::api::{ApiClient, Collection, Link};
use crate::arvados::keep_read::{BlockSource, KeepFile};
use crate::arvados::manifest::{image_file_of, ImageFile};
use crate::docker::archive::{self, ConfigError};
use crate::error::{Error, Result};
use crate::log;
use crate::request::{parse_target, CollectionId, Project, RepoTag};
use crate::timestamp::parse_naive;

/// Phase 1 for a collection source: the plan (its owner is the target
/// project, or with `--project-uuid=source` the source's own) and the
/// image collection in it. Nothing is created before every check passed.
pub fn ensure_from_collection(
    session: &Session,
    project: &Project,
    id: &CollectionId,
    given: Option<&RepoTag>,
    plan_for: impl FnOnce(String) -> Plan,
) -> Result<(Plan, Ensured)> {
    let api = &session.api;
    let target = match project {
        Project::OfSource => None,
        project => Some(resolve_owner(api, project)?),
    };
    let source = find_source(api, id, target.as_deref())?;
    let target_is_source = target.is_none();
    let owner = match target {
        Some(owner) => owner,
        None => source.owner_uuid.clone().ok_or_else(|| {
            Error::SourceCollection(format!(
                "collection {} has no owner_uuid to use for --project-uuid=source",
                source.uuid
            ))
        })?,
    };
    if target_is_source {
        writable_owner(api, &owner)?;
    }
    let image = image_file(&source)?;
    let plan = Plan {
        // Nothing is uploaded: no resume checkpoint.
        resume: checkpoint::Mode::Off,
        ..plan_for(owner)
    };
    let formats = session.discovery.docker_image_formats.as_deref();
    format::ensure_supported(&image.id, formats, plan.force_image_format)?;
    let repo_tag = given.cloned().or_else(|| property_repo_tag(&source));

    session.lock(&image.id)?;
    check_hash_links(api, &source, &image.id)?;
    let existing = find_existing(api, &image.id, repo_tag.as_ref())?;
    let created = match &existing {
        Some(_) => None,
        None => {
            let keep = session.keep()?;
            Some(archive_created(keep, &source, &image)?)
        }
    };
    let ensured = ensure_target(session, &source, &image, repo_tag, existing, created, &plan)?;
    Ok((plan, ensured))
}

/// The fields read from the source collection.
fn source_fields() -> Vec<String> {
    [
        "uuid",
        "owner_uuid",
        "name",
        "portable_data_hash",
        "manifest_text",
        "properties",
        "modified_at",
        "replication_desired",
        "storage_classes_desired",
    ]
    .map(String::from)
    .to_vec()
}

/// The source collection: by UUID, or among the readable collections with
/// the PDH the one the target project owns, else the most recently
/// modified (said in a log line when there was a choice).
fn find_source(api: &ApiClient, id: &CollectionId, target: Option<&str>) -> Result<Collection> {
    let unreadable = |what: &str| {
        Error::SourceCollection(format!(
            "--source {}: no {what} is readable with this token (it does not exist, \
             or it was not shared with you)",
            id.as_str()
        ))
    };
    match id {
        CollectionId::Uuid(uuid) => match api.get_collection(uuid) {
            Err(Error::Api { status: 404, .. }) => Err(unreadable("such collection")),
            other => other,
        },
        CollectionId::Pdh(pdh) => {
            let found: Vec<Collection> = api.list_all(
                "collections",
                vec![json!(["portable_data_hash", "=", pdh])],
                Some(source_fields()),
            )?;
            let (chosen, why) = choose_by_pdh(found, target)
                .ok_or_else(|| unreadable("collection with that portable data hash"))?;
            if let Some(why) = why {
                log::info(&format!("{why}; using {}", chosen.uuid));
            }
            Ok(chosen)
        }
    }
}

/// Among collections sharing a PDH: the first owned by `target`, else the
/// most recently modified. The second value explains a choice among several.
fn choose_by_pdh(
    mut found: Vec<Collection>,
    target: Option<&str>,
) -> Option<(Collection, Option<String>)> {
    let count = found.len();
    if count <= 1 {
        return found.pop().map(|c| (c, None));
    }
    let how = format!("{count} readable collections have this portable data hash");
    if let Some(at) = found
        .iter()
        .position(|c| target.is_some() && c.owner_uuid.as_deref() == target)
    {
        return Some((
            found.swap_remove(at),
            Some(format!("{how}; the target project owns one")),
        ));
    }
    found.sort_by_key(|c| {
        std::cmp::Reverse(c.modified_at.as_deref().and_then(|t| parse_naive(t).ok()))
    });
    let chosen = found.swap_remove(0);
    Some((
        chosen,
        Some(format!(
            "{how}; none is in the target project, so the most recently modified"
        )),
    ))
}

fn image_file(source: &Collection) -> Result<ImageFile> {
    image_file_of(source.manifest_text.as_deref().unwrap_or(""))
        .map_err(|problem| Error::SourceCollection(format!("collection {} {problem}", source.uuid)))
}

/// The source's `docker-image-repo-tag` property, if it names one.
fn property_repo_tag(source: &Collection) -> Option<RepoTag> {
    let value = source.properties.as_ref()?.get("docker-image-repo-tag")?;
    parse_target(value.as_str()?, None).ok()
}

/// The source's own hash links must name the image its file holds.
fn check_hash_links(api: &ApiClient, source: &Collection, image_id: &str) -> Result<()> {
    let links: Vec<Link> = api.list_all(
        "links",
        vec![
            json!(["link_class", "=", HASH]),
            json!(["head_uuid", "=", source.uuid]),
        ],
        None,
    )?;
    match links.iter().find(|l| l.name.as_deref() != Some(image_id)) {
        Some(link) => Err(Error::SourceCollection(format!(
            "collection {} holds {image_id}.tar, but its docker_image_hash link {} names {}; \
             fix or remove that link",
            source.uuid,
            link.uuid,
            link.name.as_deref().unwrap_or("nothing")
        ))),
        None => Ok(()),
    }
}

/// The config's `created` of the archive in the source collection, read
/// from the blocks holding the tar headers, manifest.json and the config;
/// the config must hash to the image id.
fn archive_created<S: BlockSource + ?Sized>(
    keep: &S,
    source: &Collection,
    image: &ImageFile,
) -> Result<Option<String>> {
    let what = format!(
        "collection {}: the image archive {}",
        source.uuid, image.name
    );
    let mut file =
        KeepFile::new(keep, image.locators.clone(), &image.segments).ok_or_else(|| {
            Error::SourceCollection(format!(
                "{what} runs past the blocks of its manifest stream"
            ))
        })?;
    let config = match archive::read_config(&mut file) {
        Ok(found) => found.config,
        Err(ConfigError::Refused(problem)) => {
            return Err(Error::SourceCollection(format!("{what} {problem}")))
        }
        Err(ConfigError::Io(e)) => {
            let text = e.to_string();
            // A Keep failure comes through the reader as its cause.
            return Err(
                match e.into_inner().map(|inner| inner.downcast::<Error>()) {
                    Some(Ok(keep)) => *keep,
                    _ => Error::SourceCollection(format!(
                        "{what} cannot be read as a tar archive ({text})"
                    )),
                },
            );
        }
    };
    let hex = image.id.strip_prefix("sha256:").unwrap_or(&image.id);
    let digest = sha256_hex(&config);
    if !digest.eq_ignore_ascii_case(hex) {
        return Err(Error::SourceCollection(format!(
            "{what}: its config hashes to sha256:{digest}, not to the image id in the file name"
        )));
    }
    let config: Value = serde_json::from_slice(&config)
        .map_err(|e| Error::SourceCollection(format!("{what}: its config is not JSON ({e})")))?;
    Ok(config
        .get("created")
        .and_then(Value::as_str)
        .map(String::from))
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The repo+tag links named `repo_tag` on one collection.
fn repo_tag_links_on(api: &ApiClient, repo_tag: &RepoTag, uuid: &str) -> Result<Vec<Link>> {
    api.list_all(
        "links",
        vec![
            json!(["link_class", "=", REPO_TAG]),
            json!(["name", "=", repo_tag.to_string()]),
            json!(["head_uuid", "=", uuid]),
        ],
        None,
    )
}

/// Phase 1's decision: the source if the target project owns it; else
/// (unless `--force`) the project's own collection of the image; else a
/// copy of the source's manifest, signed as the API returned it for this
/// caller, so no byte moves.
///
/// `existing` is the image's records anywhere (`None`: no hash link of it
/// is readable); then `created` is the archive's timestamp and stands in
/// for the missing hash link's properties.
fn ensure_target(
    cx: &Session,
    source: &Collection,
    image: &ImageFile,
    repo_tag: Option<RepoTag>,
    existing: Option<Existing>,
    created: Option<Option<String>>,
    plan: &Plan,
) -> Result<Ensured> {
    let owner = plan.owner.as_str();
    let mut existing = existing.unwrap_or_else(|| Existing {
        hash_links: vec![Link {
            properties: Some(tags::fresh_properties(created.clone().flatten().as_deref())),
            ..Link::default()
        }],
        ..Existing::default()
    });
    let adopted = existing
        .collections
        .iter()
        .find(|c| c.owner_uuid.as_deref() == Some(owner))
        .filter(|_| !plan.force);
    let is_target = source.owner_uuid.as_deref() == Some(owner);
    let collection = if is_target {
        reused_collection(source, &cx.storage)
    } else if let Some(adopted) = adopted {
        reused_collection(adopted, &cx.storage)
    } else {
        let name = collection_name(plan.name.as_deref(), repo_tag.as_ref(), &image.id);
        let body = collection_body(
            source.manifest_text.as_deref().unwrap_or(""),
            &name,
            owner,
            repo_tag.as_ref(),
            &cx.storage,
        );
        let made = create_collection(
            cx,
            &body,
            CollectionAction::Copy,
            Some(&source.uuid),
            plan.force,
        )?;
        if let Some(uuid) = &made.uuid {
            log::info(&format!(
                "copied collection {} into {owner} as {uuid} (no data moved)",
                source.uuid
            ));
        }
        made
    };
    let uuid = collection.uuid.clone().unwrap_or_default();
    // A repo+tag link on a source that has no hash link is not in
    // `existing`; look for it on the source itself (an adopted collection
    // is in `existing`, a fresh copy has no links).
    if let Some(rt) = &repo_tag {
        let known = existing.collections.iter().any(|c| c.uuid == uuid);
        if is_target && !known {
            existing
                .repo_tag_links
                .extend(repo_tag_links_on(&cx.api, rt, &uuid)?);
        }
    }
    let timestamp = existing
        .hash_links
        .first()
        .and_then(|l| l.properties.as_ref())
        .and_then(|p| p.get("image_timestamp"))
        .and_then(Value::as_str)
        .map(String::from);
    Ok(Ensured {
        collection,
        bytes_uploaded: 0,
        bytes_reused: image.segments.iter().map(|&(_, size)| size).sum(),
        facts: ImageFacts {
            id: image.id.clone(),
            repo_tag,
            created: created.flatten().or(timestamp),
        },
        made: Made::Existing(existing),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "d2c94e258dcb3c5ac2798d32e1249e42ef01cba4841c2234249495f87264ac5a";

    /// A classic docker-save-like tar: a big layer, the config, manifest.json.
    fn archive(layer: usize, config: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |name: &str, data: &[u8]| {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data).unwrap();
        };
        add("abc/layer.tar", &vec![7u8; layer]);
        add("abc/json", b"{}");
        add("cfg.json", config);
        add(
            "manifest.json",
            br#"[{"Config":"cfg.json","RepoTags":null,"Layers":["abc/layer.tar"]}]"#,
        );
        b.into_inner().unwrap()
    }

    #[test]
    fn header_walk_fetches_only_blocks_with_headers_and_the_config() {
        let config = br#"{"created":"2024-02-03T04:05:06.123456789Z"}"#;
        // Blocks of 4096 bytes.
        let data = archive(20 * 1024, config);
        let (table, locators) = crate::arvados::keep_read::tests::Table::new(&data, 4096);
        let blocks = locators.len();
        let image = ImageFile {
            id: format!("sha256:{}", sha256_hex(config)),
            name: "x.tar".into(),
            locators,
            segments: vec![(0, data.len() as u64)],
        };
        let source = Collection {
            uuid: "zzzzz-4zz18-000000000000000".into(),
            ..Collection::default()
        };
        let created = archive_created(&table, &source, &image).unwrap();
        assert_eq!(created.as_deref(), Some("2024-02-03T04:05:06.123456789Z"));
        // Header offsets: 0 (block 0), then 512 + 20480 = 20992 (block 5:
        // 20480..24576), 20992 + 1024 = 22016, 23040 (manifest.json), and the
        // end marker at 24064. The config and manifest.json data are in
        // block 5 too; blocks 1 to 4 (layer data) and 6 (padding) are skipped.
        assert_eq!(*table.fetches.borrow(), [0, 5]);
        assert_eq!(blocks, 7);

        let mut wrong = image.clone();
        wrong.id = format!("sha256:{HEX}");
        let e = archive_created(&table, &source, &wrong)
            .unwrap_err()
            .to_string();
        assert!(e.contains("its config hashes to sha256:"), "{e}");
    }

    #[test]
    fn pdh_choice_prefers_the_target_then_the_newest() {
        let c = |uuid: &str, owner: &str, modified: &str| Collection {
            uuid: uuid.into(),
            owner_uuid: Some(owner.into()),
            modified_at: Some(modified.into()),
            ..Collection::default()
        };
        let all = || {
            vec![
                c("a", "p1", "2024-01-01T00:00:00Z"),
                c("b", "p2", "2024-03-01T00:00:00Z"),
                c("c", "p3", "2024-02-01T00:00:00Z"),
            ]
        };
        assert_eq!(choose_by_pdh(all(), Some("p3")).unwrap().0.uuid, "c");
        assert_eq!(choose_by_pdh(all(), Some("p9")).unwrap().0.uuid, "b");
        assert_eq!(choose_by_pdh(all(), None).unwrap().0.uuid, "b");
        let (one, why) = choose_by_pdh(vec![c("a", "p", "t")], None).unwrap();
        assert_eq!((one.uuid.as_str(), why), ("a", None));
        assert!(choose_by_pdh(vec![], None).is_none());
    }
}
