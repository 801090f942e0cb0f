//! What an upload did (or, with `--dry-run`, would do), and its two
//! renderings on stdout: the plan lines of a dry run and the `--format=json`
//! document. Pure: the pipeline fills a [`Report`], `mod.rs` prints it.
//!
//! The JSON keys are a stable interface (README, "Machine-readable
//! output"): add keys, never rename or remove them.

use serde::Serialize;

/// One upload's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// `true` for `--dry-run`: nothing below was created.
    pub dry_run: bool,
    /// `sha256:<64 hex>` (or a v1 bare hex id).
    pub image_id: String,
    /// `repo:tag`, or `null` when the image is stored by its id only.
    pub repo_tag: Option<String>,
    pub collection: CollectionReport,
    /// The hash link first, then the repo+tag link, each created or reused.
    pub links: Vec<LinkReport>,
    /// Bytes of the image archive written to Keep by this run (a dry run:
    /// that would be written).
    pub bytes_uploaded: u64,
    /// Bytes of the image archive already in Keep that the collection
    /// reuses (a reused or copied collection); 0 for a fresh upload.
    pub bytes_reused: u64,
}

/// How the target collection came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CollectionAction {
    /// A new collection made from the uploaded archive.
    Upload,
    /// A new collection holding an existing collection's manifest: no data
    /// moved.
    Copy,
    /// An existing collection, used as it is.
    Reuse,
}

/// The target collection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CollectionReport {
    pub action: CollectionAction,
    /// `null` only in a dry run, for a collection that would be created.
    pub uuid: Option<String>,
    pub portable_data_hash: String,
    /// `null` for a reused collection without a name, or a dry run's new
    /// collection whose name the server may still suffix.
    pub name: Option<String>,
    pub owner_uuid: String,
    /// `replication_desired` as recorded on the collection (`null`: the
    /// cluster default).
    pub replication_desired: Option<u32>,
    /// `storage_classes_desired` as recorded (`null`: not known, or the
    /// cluster default for a collection this run made without
    /// `--storage-classes`).
    pub storage_classes_desired: Option<Vec<String>>,
    /// For a copy: the collection whose manifest was copied.
    pub copied_from: Option<String>,
}

/// Whether a link was made by this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkAction {
    Create,
    Reuse,
}

/// One metadata link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinkReport {
    pub action: LinkAction,
    /// `null` only in a dry run, for a link that would be created.
    pub uuid: Option<String>,
    /// `docker_image_hash` or `docker_image_repo+tag`.
    pub link_class: String,
    /// The image id, or `repo:tag`.
    pub name: String,
    pub owner_uuid: String,
    /// The collection the link points at (`null`: a dry run's new one).
    pub head_uuid: Option<String>,
}

impl Report {
    /// The `--format=json` document, with a final newline.
    pub fn json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a report always serializes");
        text.push('\n');
        text
    }

    /// The plan a dry run prints in text form: one line per thing that
    /// would be created or reused.
    pub fn plan_lines(&self) -> String {
        let c = &self.collection;
        let pdh = &c.portable_data_hash;
        let mut storage = String::new();
        if let Some(n) = c.replication_desired {
            storage.push_str(&format!(", replication {n}"));
        }
        if let Some(classes) = &c.storage_classes_desired {
            storage.push_str(&format!(", storage classes {}", classes.join(",")));
        }
        let name = c.name.as_deref().unwrap_or("");
        let mut out = match c.action {
            CollectionAction::Upload if self.bytes_reused > 0 => format!(
                "would upload {} bytes (and reuse {} bytes of layers already in Keep) and \
                 create collection '{name}' in {} (portable data hash {pdh}{storage})\n",
                self.bytes_uploaded, self.bytes_reused, c.owner_uuid
            ),
            CollectionAction::Upload => format!(
                "would upload {} bytes and create collection '{name}' in {} \
                 (portable data hash {pdh}{storage})\n",
                self.bytes_uploaded, c.owner_uuid
            ),
            CollectionAction::Copy => format!(
                "would copy collection {} into {} as '{name}' \
                 (portable data hash {pdh}, {} bytes reused, none uploaded{storage})\n",
                c.copied_from.as_deref().unwrap_or("?"),
                c.owner_uuid,
                self.bytes_reused
            ),
            CollectionAction::Reuse => format!(
                "would reuse collection {} (portable data hash {pdh})\n",
                c.uuid.as_deref().unwrap_or("?")
            ),
        };
        for link in &self.links {
            out.push_str(&match link.action {
                LinkAction::Create => format!(
                    "would create link {} '{}' in {}\n",
                    link.link_class, link.name, link.owner_uuid
                ),
                LinkAction::Reuse => format!(
                    "would reuse link {} ({} '{}')\n",
                    link.uuid.as_deref().unwrap_or("?"),
                    link.link_class,
                    link.name
                ),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "sha256:d2c94e258dcb3c5ac2798d32e1249e42ef01cba4841c2234249495f87264ac5a";

    fn fresh(dry_run: bool) -> Report {
        Report {
            dry_run,
            image_id: ID.into(),
            repo_tag: Some("kdtest-plain:v1".into()),
            collection: CollectionReport {
                action: CollectionAction::Upload,
                uuid: (!dry_run).then(|| "zzzzz-4zz18-000000000000001".into()),
                portable_data_hash: "fd11ced60fef4dda24083623ea817d51+169".into(),
                name: Some("Docker image kdtest-plain:v1 sha256:d2c94".into()),
                owner_uuid: "zzzzz-tpzed-000000000000000".into(),
                replication_desired: Some(3),
                storage_classes_desired: Some(vec!["archive".into(), "default".into()]),
                copied_from: None,
            },
            links: vec![LinkReport {
                action: LinkAction::Create,
                uuid: None,
                link_class: "docker_image_hash".into(),
                name: ID.into(),
                owner_uuid: "zzzzz-tpzed-000000000000000".into(),
                head_uuid: None,
            }],
            bytes_uploaded: 67108869,
            bytes_reused: 0,
        }
    }

    #[test]
    fn json_keys_are_the_documented_ones() {
        let value: serde_json::Value = serde_json::from_str(&fresh(true).json()).unwrap();
        assert_eq!(
            value,
            json!({
                "dry_run": true,
                "image_id": ID,
                "repo_tag": "kdtest-plain:v1",
                "collection": {
                    "action": "upload",
                    "uuid": null,
                    "portable_data_hash": "fd11ced60fef4dda24083623ea817d51+169",
                    "name": "Docker image kdtest-plain:v1 sha256:d2c94",
                    "owner_uuid": "zzzzz-tpzed-000000000000000",
                    "replication_desired": 3,
                    "storage_classes_desired": ["archive", "default"],
                    "copied_from": null,
                },
                "links": [{
                    "action": "create",
                    "uuid": null,
                    "link_class": "docker_image_hash",
                    "name": ID,
                    "owner_uuid": "zzzzz-tpzed-000000000000000",
                    "head_uuid": null,
                }],
                "bytes_uploaded": 67108869,
                "bytes_reused": 0,
            })
        );
        assert!(fresh(false).json().ends_with("}\n"));
    }

    #[test]
    fn plan_lines_say_what_would_be_made_and_reused() {
        assert_eq!(
            fresh(true).plan_lines(),
            "would upload 67108869 bytes and create collection \
             'Docker image kdtest-plain:v1 sha256:d2c94' in zzzzz-tpzed-000000000000000 \
             (portable data hash fd11ced60fef4dda24083623ea817d51+169, replication 3, \
             storage classes archive,default)\n\
             would create link docker_image_hash '"
                .to_string()
                + ID
                + "' in zzzzz-tpzed-000000000000000\n"
        );
        let mut reuse = fresh(true);
        reuse.collection.action = CollectionAction::Reuse;
        reuse.collection.uuid = Some("zzzzz-4zz18-000000000000009".into());
        reuse.links[0].action = LinkAction::Reuse;
        reuse.links[0].uuid = Some("zzzzz-o0j2j-000000000000001".into());
        assert_eq!(
            reuse.plan_lines(),
            "would reuse collection zzzzz-4zz18-000000000000009 \
             (portable data hash fd11ced60fef4dda24083623ea817d51+169)\n\
             would reuse link zzzzz-o0j2j-000000000000001 (docker_image_hash '"
                .to_string()
                + ID
                + "')\n"
        );
        let mut copy = fresh(true);
        copy.collection.action = CollectionAction::Copy;
        copy.collection.copied_from = Some("zzzzz-4zz18-00000000000000a".into());
        copy.collection.replication_desired = None;
        copy.collection.storage_classes_desired = None;
        copy.bytes_uploaded = 0;
        copy.bytes_reused = 5;
        assert!(copy.plan_lines().starts_with(
            "would copy collection zzzzz-4zz18-00000000000000a into zzzzz-tpzed-000000000000000 \
             as 'Docker image kdtest-plain:v1 sha256:d2c94' (portable data hash \
             fd11ced60fef4dda24083623ea817d51+169, 5 bytes reused, none uploaded)\n"
        ));
    }
}
