//! Manifests as registries serve them: the media types we accept, the
//! parse of an image manifest and of an index (manifest list), and the
//! choice of one platform from an index. Pure functions.

use serde::Deserialize;

use super::{Descriptor, Platform};
use crate::reference::is_sha256_digest;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The `Accept` header of manifest requests: every type we can read.
/// (Registry 2.8 down-converts to schema 1 when only some are listed.)
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// What a manifest body turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// An image: its config and its layers.
    Image {
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
    /// An index: one entry per platform.
    Index(Vec<IndexEntry>),
    /// Schema 1, which we refuse.
    Schema1,
}

/// One manifest an index names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub descriptor: Descriptor,
    /// `None` when the entry names no platform.
    pub platform: Option<Platform>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    schema_version: Option<i64>,
    media_type: Option<String>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
    manifests: Option<Vec<RawDescriptor>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    size: u64,
    platform: Option<RawPlatform>,
}

#[derive(Deserialize)]
struct RawPlatform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

/// Parses a manifest body. `content_type` is the reply's `Content-Type`
/// (without parameters); the body's own `mediaType` wins when present.
/// The error is the problem, for a message that names the reference.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Parsed, String> {
    if content_type == DOCKER_SCHEMA1 || content_type == DOCKER_SCHEMA1_SIGNED {
        return Ok(Parsed::Schema1);
    }
    let raw: Raw = serde_json::from_slice(body).map_err(|e| format!("not a JSON manifest: {e}"))?;
    if raw.schema_version == Some(1) {
        return Ok(Parsed::Schema1);
    }
    if raw.schema_version != Some(2) {
        return Err(format!(
            "unsupported schemaVersion {}",
            raw.schema_version
                .map_or("(none)".to_string(), |v| v.to_string())
        ));
    }
    let media_type = raw
        .media_type
        .as_deref()
        .filter(|t| !t.is_empty())
        .unwrap_or(content_type);
    let is_index = match media_type {
        OCI_INDEX | DOCKER_LIST => true,
        OCI_MANIFEST | DOCKER_MANIFEST => false,
        // An OCI body may leave out mediaType; its shape says what it is.
        _ if raw.manifests.is_some() => true,
        _ if raw.config.is_some() => false,
        other => return Err(format!("unsupported manifest media type {other:?}")),
    };
    if is_index {
        let entries = raw
            .manifests
            .ok_or("an index with no \"manifests\"")?
            .into_iter()
            .map(|m| {
                let platform = m.platform.as_ref().map(|p| Platform {
                    os: p.os.clone(),
                    architecture: p.architecture.clone(),
                    variant: p.variant.clone().filter(|v| !v.is_empty()),
                });
                Ok(IndexEntry {
                    descriptor: descriptor(m)?,
                    platform,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        return Ok(Parsed::Index(entries));
    }
    let config = descriptor(raw.config.ok_or("an image manifest with no \"config\"")?)?;
    let layers = raw
        .layers
        .ok_or("an image manifest with no \"layers\"")?
        .into_iter()
        .map(descriptor)
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Parsed::Image { config, layers })
}

fn descriptor(raw: RawDescriptor) -> Result<Descriptor, String> {
    // The digest goes into URLs and file names: only sha256, well formed.
    if !is_sha256_digest(&raw.digest) {
        return Err(format!(
            "descriptor digest {:?} is not sha256: and 64 hex digits",
            raw.digest
        ));
    }
    Ok(Descriptor {
        media_type: raw.media_type,
        digest: raw.digest,
        size: raw.size,
    })
}

/// The entry of an index for `wanted`: same OS and architecture, and the
/// same variant when one is wanted (an `arm64` entry without a variant is
/// `v8`). An entry with no platform counts as `linux/amd64`, as crane
/// does. `Err` lists the platforms offered, for the error message.
pub fn choose<'a>(
    entries: &'a [IndexEntry],
    wanted: &Platform,
) -> Result<&'a IndexEntry, Vec<String>> {
    let default = Platform::default_target();
    let platform_of =
        |e: &'a IndexEntry| -> Platform { e.platform.clone().unwrap_or(default.clone()) };
    let variant_of = |p: &Platform| -> Option<String> {
        match (&p.variant, p.architecture.as_str()) {
            (None, "arm64") => Some("v8".to_string()),
            (v, _) => v.clone(),
        }
    };
    let candidates = entries.iter().filter(|e| {
        let p = platform_of(e);
        p.os == wanted.os && p.architecture == wanted.architecture
    });
    let chosen = match &wanted.variant {
        Some(_) => candidates
            .clone()
            .find(|e| variant_of(&platform_of(e)) == variant_of(wanted)),
        // No variant asked: one without a variant first, else the first.
        None => candidates
            .clone()
            .find(|e| platform_of(e).variant.is_none())
            .or_else(|| candidates.clone().next()),
    };
    chosen.ok_or_else(|| entries.iter().map(|e| platform_of(e).to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn index(entries: &[(&str, &str, Option<&str>)]) -> Vec<u8> {
        let manifests: Vec<_> = entries
            .iter()
            .enumerate()
            .map(|(i, (os, arch, variant))| {
                let mut p = serde_json::json!({"os": os, "architecture": arch});
                if let Some(v) = variant {
                    p["variant"] = (*v).into();
                }
                serde_json::json!({"mediaType": OCI_MANIFEST, "digest": hex(char::from(b'a' + i as u8)), "size": 100 + i, "platform": p})
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})).unwrap()
    }

    fn platform(text: &str) -> Platform {
        Platform::parse(text).unwrap()
    }

    #[test]
    fn image_manifests_give_config_and_layers() {
        let body = serde_json::json!({
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": hex('c'), "size": 7},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": hex('1'), "size": 10},
                       {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": hex('2'), "size": 20}]
        });
        let Parsed::Image { config, layers } =
            parse(DOCKER_MANIFEST, &serde_json::to_vec(&body).unwrap()).unwrap()
        else {
            panic!("not an image")
        };
        assert_eq!(config.digest, hex('c'));
        assert_eq!(config.size, 7);
        assert_eq!(layers.len(), 2);
        assert_eq!(layers[1].size, 20);
        assert_eq!(
            layers[1].media_type,
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
    }

    #[test]
    fn schema1_and_bad_manifests_are_recognised() {
        assert_eq!(
            parse(DOCKER_SCHEMA1_SIGNED, b"{}").unwrap(),
            Parsed::Schema1
        );
        assert_eq!(
            parse(
                "application/json",
                br#"{"schemaVersion": 1, "name": "x", "fsLayers": []}"#
            )
            .unwrap(),
            Parsed::Schema1
        );
        for (body, problem) in [
            (&b"<html>"[..], "not a JSON manifest"),
            (br#"{"schemaVersion": 3}"#, "unsupported schemaVersion 3"),
            (br#"{"schemaVersion": 2, "mediaType": "text/plain"}"#, "unsupported manifest media type \"text/plain\""),
            (br#"{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": []}"#, "no \"config\""),
            (
                br#"{"schemaVersion": 2, "config": {"digest": "sha256:../../x", "size": 1}, "layers": []}"#,
                "is not sha256: and 64 hex digits",
            ),
        ] {
            let e = parse(OCI_MANIFEST, body).unwrap_err();
            assert!(e.contains(problem), "{e}");
        }
    }

    #[test]
    fn platforms_are_chosen_as_docker_would() {
        let body = index(&[
            ("linux", "amd64", None),
            ("linux", "arm", Some("v6")),
            ("linux", "arm", Some("v7")),
            ("linux", "arm64", None),
            ("windows", "amd64", None),
            ("unknown", "unknown", None),
        ]);
        let Parsed::Index(entries) = parse(OCI_INDEX, &body).unwrap() else {
            panic!()
        };
        let pick =
            |wanted: &str| choose(&entries, &platform(wanted)).map(|e| e.descriptor.digest.clone());
        assert_eq!(pick("linux/amd64").unwrap(), hex('a'));
        assert_eq!(pick("linux/arm/v7").unwrap(), hex('c'));
        assert_eq!(pick("linux/arm").unwrap(), hex('b'));
        assert_eq!(pick("linux/arm64").unwrap(), hex('d'));
        assert_eq!(pick("linux/arm64/v8").unwrap(), hex('d'));
        assert_eq!(pick("windows/amd64").unwrap(), hex('e'));
        assert_eq!(
            pick("linux/s390x").unwrap_err(),
            [
                "linux/amd64",
                "linux/arm/v6",
                "linux/arm/v7",
                "linux/arm64",
                "windows/amd64",
                "unknown/unknown"
            ]
        );
        assert!(pick("linux/arm/v5").is_err());
    }

    #[test]
    fn an_entry_without_platform_is_linux_amd64() {
        let body = br#"{"schemaVersion": 2, "manifests": [{"mediaType": "x", "digest": "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "size": 3}]}"#;
        let Parsed::Index(entries) = parse(DOCKER_LIST, body).unwrap() else {
            panic!()
        };
        assert_eq!(
            choose(&entries, &Platform::default_target())
                .unwrap()
                .descriptor
                .size,
            3
        );
    }
}
