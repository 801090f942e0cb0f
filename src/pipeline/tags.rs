//! Phase 2: ensure the metadata links exist (spec §7.1).
//!
//! Which links to create is a pure decision ([`planned_links`]); only
//! [`ensure_tags`] talks to the API. A fresh upload gets both links with
//! the config's `image_timestamp`; an image already in Arvados gets only
//! the links the target project lacks, with the properties of the most
//! preferred existing hash link (legacy S4).

use serde_json::{json, Map, Value};

use super::collection::{Ensured, Made, HASH, REPO_TAG};
use crate::arvados::api::ApiClient;
use crate::error::Result;

/// The body of one link. The owner is always sent: legacy left it out on a
/// fresh upload without `--project-uuid`, and the server then made the
/// caller the owner, which is the same record.
pub fn link_body(
    class: &str,
    name: &str,
    head: &str,
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
    let repo_tag = facts.repo_tag.as_ref().map(|rt| rt.to_string());
    let mut out = Vec::new();
    match &ensured.made {
        Made::Fresh => {
            let props = fresh_properties(facts.created.as_deref());
            out.push(link_body(HASH, &facts.id, &ensured.uuid, owner, &props));
            if let Some(rt) = &repo_tag {
                out.push(link_body(REPO_TAG, rt, &ensured.uuid, owner, &props));
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
                out.push(link_body(HASH, &facts.id, &ensured.uuid, owner, &props));
            }
            if let Some(rt) = &repo_tag {
                if !owned(&existing.repo_tag_links) {
                    out.push(link_body(REPO_TAG, rt, &ensured.uuid, owner, &props));
                }
            }
        }
    }
    out
}

/// Creates the links the target project lacks.
pub fn ensure_tags(api: &ApiClient, ensured: &Ensured, owner: &str) -> Result<()> {
    for body in planned_links(ensured, owner) {
        api.create_link(&body)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arvados::api::Link;
    use crate::pipeline::collection::{Existing, ImageFacts};
    use crate::request::RepoTag;

    const ID: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn ensured(made: Made, repo_tag: bool) -> Ensured {
        Ensured {
            uuid: "zzzzz-4zz18-000000000000001".into(),
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
        let links = planned_links(&ensured(Made::Existing(existing), true), "other");
        assert_eq!(links.len(), 1);
        assert_eq!(links[0]["link_class"], REPO_TAG);
    }
}
