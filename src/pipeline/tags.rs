//! Phase 2: ensure the metadata links exist (spec §7.1).
//!
//! Which links to create is a pure decision ([`planned_links`]); only
//! [`ensure_tags`] talks to the API. A fresh upload gets both links with
//! the config's `image_timestamp`; an image already in Arvados gets only
//! the links the target project lacks, with the properties of the most
//! preferred existing hash link (legacy S4).

use serde_json::{json, Map, Value};

use super::collection::{Ensured, Made, HASH, REPO_TAG};
use super::report::{LinkAction, LinkReport};
use super::session::Session;
use crate::arvados::api::Link;
use crate::error::Result;

/// The body of one link. The owner is always sent: legacy left it out on a
/// fresh upload without `--project-uuid`, and the server then made the
/// caller the owner, which is the same record.
pub fn link_body(
    class: &str,
    name: &str,
    head: Option<&str>,
    owner: &str,
    properties: &Map<String, Value>,
) -> Value {
    json!({
        "owner_uuid": owner,
        "head_uuid": head,
        "properties": properties,
        "link_class": class,
        "name": name,
    })
}

/// A fresh upload's link properties: `{"image_timestamp": created}` or `{}`.
pub fn fresh_properties(created: Option<&str>) -> Map<String, Value> {
    let mut props = Map::new();
    if let Some(created) = created {
        props.insert("image_timestamp".into(), Value::String(created.into()));
    }
    props
}

/// The links to create for `ensured` in the project `owner`, in order:
/// the hash link, then the repo+tag link.
pub fn planned_links(ensured: &Ensured, owner: &str) -> Vec<Value> {
    let facts = &ensured.facts;
    let head = ensured.uuid();
    let repo_tag = facts.repo_tag.as_ref().map(|rt| rt.to_string());
    let mut out = Vec::new();
    match &ensured.made {
        Made::Fresh => {
            let props = fresh_properties(facts.created.as_deref());
            out.push(link_body(HASH, &facts.id, head, owner, &props));
            if let Some(rt) = &repo_tag {
                out.push(link_body(REPO_TAG, rt, head, owner, &props));
            }
        }
        Made::Existing(existing) => {
            let owned = |links: &[crate::arvados::api::Link]| {
                links.iter().any(|l| l.owner_uuid.as_deref() == Some(owner))
            };
            let props = existing
                .hash_links
                .first()
                .and_then(|l| l.properties.clone())
                .unwrap_or_default();
            if !owned(&existing.hash_links) {
                out.push(link_body(HASH, &facts.id, head, owner, &props));
            }
            if let Some(rt) = &repo_tag {
                if !owned(&existing.repo_tag_links) {
                    out.push(link_body(REPO_TAG, rt, head, owner, &props));
                }
            }
        }
    }
    out
}

/// The links the target project already has for an image already in
/// Arvados (the ones [`planned_links`] does not make), in the same order.
pub fn reused_links<'e>(ensured: &'e Ensured, owner: &str) -> Vec<&'e Link> {
    let Made::Existing(existing) = &ensured.made else {
        return Vec::new();
    };
    let owned = |links: &'e [Link]| {
        links
            .iter()
            .find(|l| l.owner_uuid.as_deref() == Some(owner))
    };
    let mut out: Vec<&Link> = owned(&existing.hash_links).into_iter().collect();
    if ensured.facts.repo_tag.is_some() {
        out.extend(owned(&existing.repo_tag_links));
    }
    out
}

/// Creates the links the target project lacks (none in a dry run) and
/// reports them, then the ones it already had.
pub fn ensure_tags(cx: &Session, ensured: &Ensured, owner: &str) -> Result<Vec<LinkReport>> {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let mut reports = Vec::new();
    for body in planned_links(ensured, owner) {
        let made = cx.create_link(&body)?;
        reports.push(LinkReport {
            action: LinkAction::Create,
            uuid: made.map(|l| l.uuid),
            link_class: text(&body["link_class"]),
            name: text(&body["name"]),
            owner_uuid: owner.to_string(),
            head_uuid: ensured.uuid().map(String::from),
        });
    }
    for link in reused_links(ensured, owner) {
        reports.push(LinkReport {
            action: LinkAction::Reuse,
            uuid: Some(link.uuid.clone()),
            link_class: link.link_class.clone().unwrap_or_default(),
            name: link.name.clone().unwrap_or_default(),
            owner_uuid: owner.to_string(),
            head_uuid: link.head_uuid.clone(),
        });
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arvados::api::Link;
    use crate::pipeline::collection::{Existing, ImageFacts};
    use crate::pipeline::report::{CollectionAction, CollectionReport};
    use crate::request::RepoTag;

    const ID: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn ensured(made: Made, repo_tag: bool) -> Ensured {
        Ensured {
            collection: CollectionReport {
                action: CollectionAction::Upload,
                uuid: Some("zzzzz-4zz18-000000000000001".into()),
                portable_data_hash: "d41d8cd98f00b204e9800998ecf8427e+0".into(),
                name: None,
                owner_uuid: "zzzzz-tpzed-a".into(),
                replication_desired: None,
                storage_classes_desired: None,
                copied_from: None,
            },
            bytes_uploaded: 0,
            bytes_reused: 0,
            facts: ImageFacts {
                id: ID.into(),
                repo_tag: repo_tag.then(|| RepoTag {
                    repo: "kdtest-plain".into(),
                    tag: "v1".into(),
                }),
                created: Some("2024-02-03T04:05:06Z".into()),
            },
            made,
        }
    }

    #[test]
    fn fresh_upload_gets_both_links_with_the_timestamp() {
        let links = planned_links(&ensured(Made::Fresh, true), "zzzzz-tpzed-a");
        assert_eq!(
            links,
            [
                json!({"owner_uuid": "zzzzz-tpzed-a", "head_uuid": "zzzzz-4zz18-000000000000001",
                       "properties": {"image_timestamp": "2024-02-03T04:05:06Z"},
                       "link_class": "docker_image_hash", "name": ID}),
                json!({"owner_uuid": "zzzzz-tpzed-a", "head_uuid": "zzzzz-4zz18-000000000000001",
                       "properties": {"image_timestamp": "2024-02-03T04:05:06Z"},
                       "link_class": "docker_image_repo+tag", "name": "kdtest-plain:v1"}),
            ]
        );
        assert_eq!(planned_links(&ensured(Made::Fresh, false), "o").len(), 1);
        assert_eq!(fresh_properties(None), Map::new());
    }

    fn link(class: &str, owner: &str, props: Value) -> Link {
        Link {
            uuid: "zzzzz-o0j2j-000000000000000".into(),
            owner_uuid: Some(owner.into()),
            link_class: Some(class.into()),
            properties: props.as_object().cloned(),
            ..Link::default()
        }
    }

    #[test]
    fn existing_image_gets_only_missing_links_with_copied_properties() {
        let existing = Existing {
            hash_links: vec![link(HASH, "other", json!({"image_timestamp": "T"}))],
            collections: vec![],
            repo_tag_links: vec![link(REPO_TAG, "mine", json!({}))],
        };
        let links = planned_links(&ensured(Made::Existing(existing.clone()), true), "mine");
        assert_eq!(links.len(), 1);
        assert_eq!(links[0]["link_class"], HASH);
        assert_eq!(links[0]["properties"], json!({"image_timestamp": "T"}));
        assert_eq!(links[0]["owner_uuid"], "mine");
        let mine = ensured(Made::Existing(existing.clone()), true);
        let reused = reused_links(&mine, "mine");
        assert_eq!(reused.len(), 1);
        assert_eq!(reused[0].link_class.as_deref(), Some(REPO_TAG));
        let other = ensured(Made::Existing(existing), true);
        let links = planned_links(&other, "other");
        assert_eq!(links.len(), 1);
        assert_eq!(links[0]["link_class"], REPO_TAG);
        assert_eq!(
            reused_links(&other, "other")[0].link_class.as_deref(),
            Some(HASH)
        );
        assert!(reused_links(&ensured(Made::Fresh, true), "mine").is_empty());
    }
}
