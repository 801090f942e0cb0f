//! Test helpers: image archives in both layouts, built in memory the way
//! `docker save` lays them out, and ways to feed them to the checker.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::members::hex;
use super::{ArchiveChecker, ArchiveError, ImageArchive};

pub(crate) const CREATED: &str = "2024-02-03T04:05:06.123456789Z";
const MT_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MT_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MT_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MT_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// One archive member to write.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    File(String, Vec<u8>),
    Dir(String),
    Symlink(String, String),
}

impl Item {
    pub(crate) fn name(&self) -> &str {
        match self {
            Item::File(name, _) | Item::Dir(name) | Item::Symlink(name, _) => name,
        }
    }
}

/// Where member names go in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Docker's lexical directory walk: manifest.json near the end.
    Docker,
    ManifestFirst,
}

fn arrange(mut items: Vec<Item>, order: Order) -> Vec<Item> {
    items.sort_by(|a, b| a.name().cmp(b.name()));
    if order == Order::ManifestFirst {
        items.sort_by_key(|item| item.name() != "manifest.json");
    }
    items
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes).into())
}

pub(crate) fn blob_name(bytes: &[u8]) -> String {
    format!("blobs/sha256/{}", sha256_hex(bytes))
}

/// A tar with the `tar` crate's builder (ustar headers, GNU long names).
pub(crate) fn tar_of(items: &[Item]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for item in items {
        let mut header = tar::Header::new_ustar();
        header.set_mode(0o644);
        header.set_mtime(0);
        match item {
            Item::File(name, data) => {
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, name, &data[..]).unwrap();
            }
            Item::Dir(name) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder
                    .append_data(&mut header, format!("{name}/"), io::empty())
                    .unwrap();
            }
            Item::Symlink(name, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, name, target).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

/// A tar written header by header, for names the builder refuses to write.
pub(crate) fn tar_of_raw(items: &[Item]) -> Vec<u8> {
    use super::tarstream::tests::{header, push, reseal};
    let mut out = Vec::new();
    for item in items {
        match item {
            Item::File(name, data) => push(&mut out, &header(name, b'0', data.len() as u64), data),
            Item::Dir(name) => push(&mut out, &header(&format!("{name}/"), b'5', 0), b""),
            Item::Symlink(name, target) => {
                let mut h = header(name, b'2', 0);
                h[157..157 + target.len()].copy_from_slice(target.as_bytes());
                reseal(&mut h);
                push(&mut out, &h, b"");
            }
        }
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

/// Replaces the content of the file `name`.
pub(crate) fn replace(items: &mut [Item], name: &str, content: Vec<u8>) {
    match items.iter_mut().find(|item| item.name() == name) {
        Some(Item::File(_, data)) => *data = content,
        _ => panic!("no file {name} to replace"),
    }
}

/// A small, deterministic layer tar.
pub(crate) fn layer_tar(seed: u8) -> Vec<u8> {
    let content: Vec<u8> = (0..1500u32)
        .map(|i| (i as u8).wrapping_mul(seed | 1))
        .collect();
    tar_of(&[
        Item::Dir("etc".into()),
        Item::File(format!("etc/file-{seed}"), content),
    ])
}

/// An image and the archives `docker save` would write for it.
pub(crate) struct TestImage {
    pub layers: Vec<Vec<u8>>,
    pub repo_tags: Option<Vec<String>>,
    pub created: Option<String>,
    diff_ids: Vec<String>,
}

impl TestImage {
    pub(crate) fn new(layers: u8) -> Self {
        Self::with_layers((0..layers).map(layer_tar).collect())
    }

    pub(crate) fn with_layers(layers: Vec<Vec<u8>>) -> Self {
        let diff_ids = layers
            .iter()
            .map(|l| format!("sha256:{}", sha256_hex(l)))
            .collect();
        TestImage {
            layers,
            repo_tags: Some(vec!["example/app:1.0".into()]),
            created: Some(CREATED.into()),
            diff_ids,
        }
    }

    pub(crate) fn set_diff_ids(&mut self, diff_ids: Vec<String>) {
        self.diff_ids = diff_ids;
    }

    pub(crate) fn diff_ids(&self) -> Vec<String> {
        self.diff_ids.clone()
    }

    pub(crate) fn config(&self) -> String {
        let mut config = json!({
            "architecture": "amd64",
            "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/hello"]},
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": self.diff_ids},
        });
        if let Some(created) = &self.created {
            config["created"] = created.clone().into();
        }
        config.to_string()
    }

    pub(crate) fn config_hex(&self) -> String {
        sha256_hex(self.config().as_bytes())
    }

    /// Fake but stable v1 layer ids, one per layer position.
    fn v1_ids(&self) -> Vec<String> {
        let mut chain = String::new();
        self.diff_ids
            .iter()
            .map(|id| {
                chain.push_str(id);
                sha256_hex(chain.as_bytes())
            })
            .collect()
    }

    fn tags(&self) -> Value {
        match &self.repo_tags {
            Some(tags) => json!(tags),
            None => Value::Null,
        }
    }

    pub(crate) fn classic_manifest_value(&self) -> Value {
        let layers: Vec<String> = self
            .v1_ids()
            .iter()
            .map(|id| format!("{id}/layer.tar"))
            .collect();
        json!([{
            "Config": format!("{}.json", self.config_hex()),
            "RepoTags": self.tags(),
            "Layers": layers,
        }])
    }

    pub(crate) fn classic_manifest_item(&self) -> String {
        self.classic_manifest_value()[0].to_string()
    }

    pub(crate) fn classic_layer_index(&self, member: &str) -> usize {
        self.v1_ids()
            .iter()
            .position(|id| member == format!("{id}/layer.tar"))
            .unwrap()
    }

    fn repositories(&self, top: &str) -> Option<Item> {
        let tags = self.repo_tags.as_ref()?;
        let mut repos = json!({});
        for tag in tags {
            let (repo, tag) = tag.rsplit_once(':').unwrap();
            repos[repo] = json!({ tag: top });
        }
        Some(Item::File(
            "repositories".into(),
            repos.to_string().into_bytes(),
        ))
    }

    /// The classic layout; a layer repeated in the image becomes a symlink
    /// to its first copy, as Docker writes it.
    pub(crate) fn classic(&self, order: Order) -> Vec<Item> {
        let mut items = vec![Item::File(
            format!("{}.json", self.config_hex()),
            self.config().into_bytes(),
        )];
        let ids = self.v1_ids();
        for (i, (id, layer)) in ids.iter().zip(&self.layers).enumerate() {
            items.push(Item::Dir(id.clone()));
            items.push(Item::File(format!("{id}/VERSION"), b"1.0".to_vec()));
            items.push(Item::File(
                format!("{id}/json"),
                format!("{{\"id\":\"{id}\"}}").into_bytes(),
            ));
            let first = self.layers.iter().position(|l| l == layer).unwrap();
            if first < i {
                items.push(Item::Symlink(
                    format!("{id}/layer.tar"),
                    format!("../{}/layer.tar", ids[first]),
                ));
            } else {
                items.push(Item::File(format!("{id}/layer.tar"), layer.clone()));
            }
        }
        items.push(Item::File(
            "manifest.json".into(),
            self.classic_manifest_value().to_string().into_bytes(),
        ));
        items.extend(self.repositories(ids.last().map_or("", String::as_str)));
        arrange(items, order)
    }

    pub(crate) fn oci_layer_descriptors(&self) -> Vec<Value> {
        self.layers
            .iter()
            .map(|l| json!({"mediaType": MT_LAYER, "digest": format!("sha256:{}", sha256_hex(l)), "size": l.len()}))
            .collect()
    }

    pub(crate) fn oci_manifest_with(&self, layers: Vec<Value>) -> (String, String) {
        let body = json!({
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": {"mediaType": MT_CONFIG, "digest": format!("sha256:{}", self.config_hex()), "size": self.config().len()},
            "layers": layers,
        })
        .to_string();
        (format!("sha256:{}", sha256_hex(body.as_bytes())), body)
    }

    pub(crate) fn oci_manifest(&self) -> (String, String) {
        self.oci_manifest_with(self.oci_layer_descriptors())
    }

    pub(crate) fn oci_index_with(&self, digest: &str, size: u64) -> String {
        let mut descriptor = json!({"mediaType": MT_MANIFEST, "digest": digest, "size": size});
        if let Some(tag) = self.repo_tags.as_ref().and_then(|t| t.first()) {
            descriptor["annotations"] =
                json!({"io.containerd.image.name": format!("docker.io/{tag}")});
        }
        json!({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [descriptor]}).to_string()
    }

    pub(crate) fn oci_manifest_json_value(&self) -> Value {
        let layers: Vec<String> = self.layers.iter().map(|l| blob_name(l)).collect();
        json!([{
            "Config": format!("blobs/sha256/{}", self.config_hex()),
            "RepoTags": self.tags(),
            "Layers": layers,
        }])
    }

    /// The OCI layout as Docker 26 and later write it.
    pub(crate) fn oci(&self, order: Order) -> Vec<Item> {
        let mut items = vec![
            Item::Dir("blobs".into()),
            Item::Dir("blobs/sha256".into()),
            Item::File(
                "oci-layout".into(),
                br#"{"imageLayoutVersion": "1.0.0"}"#.to_vec(),
            ),
        ];
        let add = |items: &mut Vec<Item>, data: Vec<u8>| {
            let name = blob_name(&data);
            if !items.iter().any(|i| i.name() == name) {
                items.push(Item::File(name, data));
            }
        };
        for (id, layer) in self.v1_ids().iter().zip(&self.layers) {
            // Docker 25+ still writes each layer's legacy v1 JSON as a blob.
            add(&mut items, format!("{{\"id\":\"{id}\"}}").into_bytes());
            add(&mut items, layer.clone());
        }
        add(&mut items, self.config().into_bytes());
        let (digest, manifest) = self.oci_manifest();
        let size = manifest.len() as u64;
        add(&mut items, manifest.into_bytes());
        items.push(Item::File(
            "index.json".into(),
            self.oci_index_with(&digest, size).into_bytes(),
        ));
        items.push(Item::File(
            "manifest.json".into(),
            self.oci_manifest_json_value().to_string().into_bytes(),
        ));
        let top = self
            .layers
            .last()
            .map(|l| sha256_hex(l))
            .unwrap_or_default();
        items.extend(self.repositories(&top));
        arrange(items, order)
    }

    /// Swaps the OCI manifest blob for one listing `layers`, and index.json
    /// to point at it.
    pub(crate) fn replace_oci_manifest(&self, items: &mut Vec<Item>, layers: Vec<Value>) {
        let (old, _) = self.oci_manifest();
        items.retain(|i| i.name() != format!("blobs/sha256/{}", &old[7..]));
        let (digest, body) = self.oci_manifest_with(layers);
        replace(
            items,
            "index.json",
            self.oci_index_with(&digest, body.len() as u64).into_bytes(),
        );
        items.push(Item::File(blob_name(body.as_bytes()), body.into_bytes()));
    }
}

/// A containerd-store export: index.json -> image index -> manifests (one
/// platform present, one absent), gzip layer blobs.
pub(crate) struct ContainerdExport {
    pub items: Vec<Item>,
    pub image_id: String,
    pub index_digest: String,
    pub manifest_digest: String,
}

pub(crate) fn containerd_export() -> ContainerdExport {
    let layers: Vec<Vec<u8>> = (0..2u8)
        .map(|i| {
            let mut gz = vec![0x1f, 0x8b, 0x08, 0];
            gz.extend((0..700u32).map(|n| (n as u8) ^ i));
            gz
        })
        .collect();
    let mut image = TestImage::with_layers(layers.clone());
    // The diff_ids are those of the decompressed tars, which we never see.
    image.set_diff_ids(
        (0..2)
            .map(|i| format!("sha256:{}", sha256_hex(&[i])))
            .collect(),
    );
    let config = image.config();
    let layer_descriptors: Vec<Value> = layers
        .iter()
        .map(|l| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{}", sha256_hex(l)), "size": l.len()}))
        .collect();
    let (manifest_digest, manifest) = image.oci_manifest_with(layer_descriptors);
    let absent = format!("sha256:{}", "e".repeat(64));
    let index = json!({
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [
            {"mediaType": MT_MANIFEST, "digest": manifest_digest, "size": manifest.len(), "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": MT_MANIFEST, "digest": absent, "size": 500, "platform": {"architecture": "arm64", "os": "linux"}},
        ],
    })
    .to_string();
    let index_digest = format!("sha256:{}", sha256_hex(index.as_bytes()));
    let top = json!({
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [{"mediaType": MT_INDEX, "digest": index_digest, "size": index.len(),
                       "annotations": {"io.containerd.image.name": "docker.io/example/app:1.0"}}],
    });
    let mut items = vec![
        Item::Dir("blobs".into()),
        Item::Dir("blobs/sha256".into()),
        Item::File(
            "oci-layout".into(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ),
        Item::File("index.json".into(), top.to_string().into_bytes()),
        Item::File(
            "manifest.json".into(),
            image.oci_manifest_json_value().to_string().into_bytes(),
        ),
    ];
    for blob in layers.into_iter().chain([
        config.into_bytes(),
        manifest.into_bytes(),
        index.into_bytes(),
    ]) {
        items.push(Item::File(blob_name(&blob), blob));
    }
    ContainerdExport {
        items: arrange(items, Order::Docker),
        image_id: format!("sha256:{}", image.config_hex()),
        index_digest,
        manifest_digest,
    }
}

/// Checks `bytes` fed in pieces of `chunk` bytes.
pub(crate) fn check(bytes: &[u8], chunk: usize) -> Result<ImageArchive, ArchiveError> {
    let mut checker = ArchiveChecker::new();
    for piece in bytes.chunks(chunk.max(1)) {
        checker.update(piece)?;
    }
    checker.finish()
}

/// Checks `bytes` fed in pieces of pseudo-random sizes.
pub(crate) fn check_random(bytes: &[u8], seed: u64) -> Result<ImageArchive, ArchiveError> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut checker = ArchiveChecker::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let r = next();
        let limit = [16, 1100, 70_000][(r % 3) as usize];
        let take = (1 + (r >> 8) as usize % limit).min(rest.len());
        checker.update(&rest[..take])?;
        rest = &rest[take..];
    }
    checker.finish()
}

/// A reader that returns at most `step` bytes per call.
pub(crate) struct SlowReader<'a> {
    data: &'a [u8],
    step: usize,
}

impl<'a> SlowReader<'a> {
    pub(crate) fn new(data: &'a [u8], step: usize) -> Self {
        SlowReader { data, step }
    }
}

impl Read for SlowReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// The fixture generator, when it and python3 are there.
pub(crate) fn fixtures_dir() -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/gen-archive");
    let python = Command::new("python3").arg("--version").output().ok()?;
    (script.is_file() && python.status.success()).then_some(script)
}

/// Runs the fixture generator; `--describe` output or the archive bytes.
pub(crate) fn run_generator(
    script: &Path,
    layout: &str,
    corrupt: Option<&str>,
    describe: bool,
) -> Vec<u8> {
    let mut command = Command::new("python3");
    command.arg(script).args([
        "--layout",
        layout,
        "--repo-tag",
        "example/app:1.0",
        "-o",
        "-",
    ]);
    if let Some(mode) = corrupt {
        command.args(["--corrupt", mode]);
    }
    if describe {
        command.arg("--describe");
    }
    let output = command.output().expect("run gen-archive");
    assert!(
        output.status.success(),
        "gen-archive failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}
