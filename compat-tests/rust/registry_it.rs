//! The registry source's pipeline step (`--source=docker://`) against the
//! simulated cluster, with a blob source of its own instead of a
//! registry: an OCI layout that `skopeo copy --dest-compress` makes from a
//! generated image archive (gzip layers, as registries serve them).
//!
//! The archive written to Keep is read back and checked the way Arvados
//! uses it: `docker load` in the test daemon gives the image id recorded,
//! skopeo's `docker-archive:` reader (the one Singularity uses) reads it,
//! and its Keep blocks are laid out as designed (each layer starts a block;
//! the headers are in small blocks listed before the layers). A layer that
//! does not match its diff_id leaves the cluster unchanged.
//!
//! Needs python3 (the simulated cluster) and skopeo; the `docker load`
//! checks need the Docker daemon `compat-tests/run-tests` starts (without
//! `DOCKER_HOST` they fail under `CI=true`, and say they did not run
//! otherwise).

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use arv_keepdocker::images;
use arv_keepdocker::internal::arvados::{ApiClient, KeepClient, BLOCK_SIZE};
use arv_keepdocker::internal::cli::{self, Parsed};
use arv_keepdocker::internal::pipeline::{run_pulled, Context};
use arv_keepdocker::internal::registry::{
    BlobSource, Descriptor, Reference, RegistryError, Resolved,
};
use arv_keepdocker::internal::request::{Input, Request, Source, Upload};
use arv_keepdocker::internal::settings::Env;
use common::{generated_archive, Sim};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn sha256(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// An image as a registry holds it: an OCI layout with gzip layers, made
/// by skopeo from a generated `docker save` archive.
struct Image {
    dir: tempfile::TempDir,
    manifest: Value,
}

impl Image {
    fn new(tag: &str, seed: &str, layers: u32) -> Image {
        Image::from_archive(generated_archive(tag, seed, layers).0)
    }

    /// An image of `layers` random layers of `size` bytes each.
    fn sized(tag: &str, seed: &str, layers: u32, size: u64) -> Image {
        let archive = run(Command::new("python3")
            .arg(Path::new(common::ROOT).join("fixtures/gen-archive"))
            .args(["--repo-tag", tag, "--seed", seed])
            .args([
                "--layers",
                &layers.to_string(),
                "--layer-size",
                &size.to_string(),
            ]));
        Image::from_archive(archive)
    }

    fn from_archive(archive: Vec<u8>) -> Image {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("saved.tar");
        std::fs::write(&file, archive).unwrap();
        run(Command::new("skopeo").args([
            "copy",
            "--quiet",
            "--dest-compress",
            &format!("docker-archive:{}", file.display()),
            &format!("oci:{}", dir.path().join("oci").display()),
        ]));
        let index: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("oci/index.json")).unwrap())
                .unwrap();
        let digest = index["manifests"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string();
        let image = Image {
            dir,
            manifest: Value::Null,
        };
        let manifest = serde_json::from_slice(&image.blob(&digest)).unwrap();
        Image { manifest, ..image }
    }

    fn blob_file(&self, digest: &str) -> PathBuf {
        self.dir
            .path()
            .join("oci/blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    fn blob(&self, digest: &str) -> Vec<u8> {
        std::fs::read(self.blob_file(digest)).unwrap()
    }

    fn descriptor(value: &Value) -> Descriptor {
        Descriptor {
            media_type: value["mediaType"].as_str().unwrap().into(),
            digest: value["digest"].as_str().unwrap().into(),
            size: value["size"].as_u64().unwrap(),
        }
    }

    /// What the registry client would resolve `reference` to.
    fn resolved(&self, reference: Reference) -> Resolved {
        let config_descriptor = Image::descriptor(&self.manifest["config"]);
        let manifest_bytes = serde_json::to_vec(&self.manifest).unwrap();
        Resolved {
            reference,
            manifest_digest: sha256(&manifest_bytes),
            index_digest: None,
            config: self.blob(&config_descriptor.digest),
            config_descriptor,
            layers: self.manifest["layers"]
                .as_array()
                .unwrap()
                .iter()
                .map(Image::descriptor)
                .collect(),
        }
    }

    fn config(&self) -> Value {
        let digest = self.manifest["config"]["digest"].as_str().unwrap();
        serde_json::from_slice(&self.blob(digest)).unwrap()
    }

    fn image_id(&self) -> String {
        self.manifest["config"]["digest"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// Blobs from an image's OCI directory, plus any served from memory;
/// each checked against its descriptor as the registry client checks it.
/// Counts the blobs opened.
struct Blobs<'a> {
    image: &'a Image,
    extra: BTreeMap<String, Vec<u8>>,
    opened: AtomicUsize,
}

impl<'a> Blobs<'a> {
    fn of(image: &'a Image) -> Blobs<'a> {
        Blobs {
            image,
            extra: BTreeMap::new(),
            opened: AtomicUsize::new(0),
        }
    }
}

impl BlobSource for Blobs<'_> {
    fn open_blob(&self, blob: &Descriptor) -> Result<Box<dyn Read + Send>, RegistryError> {
        self.opened.fetch_add(1, Ordering::SeqCst);
        let bytes = match self.extra.get(&blob.digest) {
            Some(bytes) => bytes.clone(),
            None => std::fs::read(self.image.blob_file(&blob.digest))
                .map_err(|e| RegistryError::Other(format!("blob {}: {e}", blob.digest)))?,
        };
        if bytes.len() as u64 != blob.size || sha256(&bytes) != blob.digest {
            return Err(RegistryError::Other(format!(
                "blob {} does not match its descriptor",
                blob.digest
            )));
        }
        Ok(Box::new(std::io::Cursor::new(bytes)))
    }
}

fn reference(repository: &str, tag: &str) -> Reference {
    Reference {
        registry: "registry.example:5000".into(),
        repository: repository.into(),
        tag: Some(tag.into()),
        digest: None,
    }
}

/// The request `arv-keepdocker --source=docker://REF ARGS...` makes, with
/// `reference` as the parsed reference.
fn request(reference: Reference, args: &[&str]) -> Upload {
    let mut argv = vec!["--source=placeholder.tar", "--format=json", "--no-progress"];
    argv.extend_from_slice(args);
    let Ok(Parsed::Run(parsed)) = cli::parse(argv.iter().copied()) else {
        panic!("{argv:?} did not parse");
    };
    let env = cli::Env {
        stderr_is_tty: false,
    };
    let Ok(Request::Upload(mut upload)) = parsed.into_request(&env) else {
        panic!("{argv:?} is not an upload");
    };
    let Source::Given { repo_tag, .. } = upload.source else {
        panic!("a --source upload");
    };
    upload.source = Source::Given {
        input: Input::Registry(Box::new(reference)),
        repo_tag,
    };
    upload
}

/// A cluster and alice's connection to it.
struct Cluster {
    sim: Sim,
    cx: Context,
    _home: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Cluster {
        let sim = Sim::start(&[]);
        let home = tempfile::tempdir().unwrap();
        let env = Env::from_pairs([
            ("ARVADOS_API_HOST", sim.host()),
            ("ARVADOS_API_TOKEN", sim.token_of(0)),
            ("SSL_CERT_FILE", sim.ca().display().to_string()),
            ("HOME", home.path().display().to_string()),
            (
                "XDG_CACHE_HOME",
                home.path().join("cache").display().to_string(),
            ),
        ]);
        let cx = Context::connect(env, 2).unwrap();
        Cluster {
            sim,
            cx,
            _home: home,
        }
    }

    /// The step run through the pipeline: the JSON report, or the error.
    fn pull(
        &self,
        upload: &Upload,
        resolved: &Resolved,
        blobs: &dyn BlobSource,
    ) -> Result<Value, String> {
        let mut out = Vec::new();
        run_pulled(&self.cx, upload, || Ok(resolved.clone()), blobs, &mut out)
            .map_err(|e| e.to_string())?;
        Ok(serde_json::from_slice(&out).unwrap())
    }

    fn api(&self) -> ApiClient {
        self.sim.api_of(0, 2)
    }

    /// The collections and links on the cluster.
    fn records(&self) -> (Value, Value) {
        let dump = self.sim.control("GET", "dump", None);
        (dump["collections"].clone(), dump["links"].clone())
    }

    fn collection(&self, uuid: &str) -> Value {
        self.api().get::<Value>("collections", uuid).unwrap()
    }

    /// The one file of an image collection: its name, its blocks' sizes
    /// and its bytes, read back from Keep.
    fn read_back(&self, uuid: &str) -> (String, Vec<u64>, Vec<u8>) {
        let manifest = self.collection(uuid)["manifest_text"]
            .as_str()
            .unwrap()
            .to_string();
        let lines: Vec<&str> = manifest.lines().collect();
        assert_eq!(lines.len(), 1, "{manifest}");
        let tokens: Vec<&str> = lines[0].split(' ').collect();
        assert_eq!(tokens[0], ".");
        let (file, locators) = tokens[1..].split_last().unwrap();
        let (start, rest) = file.split_once(':').unwrap();
        let (len, name) = rest.split_once(':').unwrap();
        assert_eq!(start, "0");
        let keep = KeepClient::new(&self.api(), &self.sim.config_of(0));
        let mut bytes = Vec::new();
        let mut sizes = Vec::new();
        for locator in locators {
            let block = keep.get_block(locator).unwrap();
            sizes.push(block.len() as u64);
            bytes.extend_from_slice(&block);
        }
        assert_eq!(bytes.len().to_string(), len);
        // A manifest escapes ':' in names.
        (name.replace("\\072", ":"), sizes, bytes)
    }
}

/// Where each member's content starts in a tar archive.
fn member_offsets(archive: &[u8]) -> BTreeMap<String, (u64, u64)> {
    let mut out = BTreeMap::new();
    let mut tar = tar::Archive::new(archive);
    for entry in tar.entries().unwrap() {
        let entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        out.insert(path, (entry.raw_file_position(), entry.size()));
    }
    out
}

fn docker_available(test: &str) -> bool {
    if std::env::var_os("DOCKER_HOST").is_some() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "DOCKER_HOST is not set: run the tests through compat-tests/run-tests"
    );
    eprintln!("NOT RUN: the docker load check of {test} needs DOCKER_HOST (compat-tests/run-tests sets it)");
    false
}

/// `docker load` of `file` gives the image `id` under `name`.
fn check_docker_load(file: &Path, name: &str, id: &str) {
    let out = run(Command::new("docker").args(["load", "-i"]).arg(file));
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains(&format!("Loaded image: {name}")), "{out}");
    let inspected =
        run(Command::new("docker").args(["image", "inspect", "--format", "{{.Id}}", name]));
    assert_eq!(String::from_utf8_lossy(&inspected).trim(), id);
    let _ = Command::new("docker").args(["rmi", name]).output();
}

/// skopeo's docker-archive reader (Singularity's) reads the archive: the
/// config it finds is the image's, and it copies it to an OCI layout.
fn check_skopeo_reads(file: &Path, image: &Image) {
    let archive = format!("docker-archive:{}", file.display());
    let config: Value = serde_json::from_slice(&run(
        Command::new("skopeo").args(["inspect", "--config", &archive])
    ))
    .unwrap();
    assert_eq!(config["rootfs"], image.config()["rootfs"]);
    let inspect: Value =
        serde_json::from_slice(&run(Command::new("skopeo").args(["inspect", &archive]))).unwrap();
    assert_eq!(
        inspect["Layers"].as_array().unwrap().len(),
        image.config()["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .len()
    );
    let out = tempfile::tempdir().unwrap();
    run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        &archive,
        &format!("oci:{}", out.path().join("copy").display()),
    ]));
    let config_file = out
        .path()
        .join("copy/blobs/sha256")
        .join(image.image_id().trim_start_matches("sha256:"));
    assert!(config_file.exists(), "skopeo copy did not keep the config");
}

fn store_and_check(image: Image, compressed: bool) {
    let cluster = Cluster::start();
    let resolved = image.resolved(reference("lab/pulled", "1"));
    let blobs = Blobs::of(&image);
    let mut upload = request(resolved.reference.clone(), &["lab/pulled:1"]);
    upload.pull_from.compressed_layers = compressed;
    let report = cluster.pull(&upload, &resolved, &blobs).unwrap();
    let id = image.image_id();
    assert_eq!(report["image_id"], id.as_str());
    assert_eq!(report["collection"]["action"], "upload");
    let uuid = report["collection"]["uuid"].as_str().unwrap().to_string();

    // The collection and its links, as for every other form, plus where
    // it came from.
    let record = cluster.collection(&uuid);
    let properties = &record["properties"];
    assert_eq!(properties["docker-image-repo-tag"], "lab/pulled:1");
    assert_eq!(
        properties["docker-image-manifest-digest"],
        resolved.manifest_digest.as_str()
    );
    assert_eq!(
        properties["docker-image-pulled-from"],
        format!(
            "registry.example:5000/lab/pulled:1@{}",
            resolved.manifest_digest
        )
    );
    let (_, links) = cluster.records();
    let mut ours: Vec<(String, String)> = links
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["head_uuid"] == uuid.as_str())
        .map(|l| {
            (
                l["link_class"].as_str().unwrap().to_string(),
                l["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    ours.sort();
    assert_eq!(
        ours,
        [
            ("docker_image_hash".to_string(), id.clone()),
            (
                "docker_image_repo+tag".to_string(),
                "lab/pulled:1".to_string()
            ),
        ]
    );

    // The file, read back from Keep.
    let (name, sizes, bytes) = cluster.read_back(&uuid);
    assert_eq!(name, format!("{id}.tar"));
    assert_eq!(
        report["collection"]["portable_data_hash"],
        record["portable_data_hash"]
    );
    let members = member_offsets(&bytes);
    let manifest: Value = {
        let (at, len) = members["manifest.json"];
        serde_json::from_slice(&bytes[at as usize..(at + len) as usize]).unwrap()
    };
    let layer_paths: Vec<String> = manifest[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert_eq!(layer_paths.len(), resolved.layers.len());
    for (path, (blob, diff_id)) in layer_paths.iter().zip(
        resolved
            .layers
            .iter()
            .zip(image.config()["rootfs"]["diff_ids"].as_array().unwrap()),
    ) {
        let (at, len) = members[path];
        let content = &bytes[at as usize..(at + len) as usize];
        if compressed {
            assert_eq!(path, &format!("blobs/sha256/{}", &blob.digest[7..]));
            assert_eq!(sha256(content), blob.digest);
        } else {
            assert_eq!(
                path,
                &format!("blobs/sha256/{}", &diff_id.as_str().unwrap()[7..])
            );
            assert_eq!(sha256(content), diff_id.as_str().unwrap());
        }
    }

    // The block layout: each layer whose blob is 1 MiB or more (or whose
    // content is over 8 MiB) is a run of blocks of its own; smaller ones
    // are packed with the tar headers into the small blocks between them.
    let mut starts = vec![0u64];
    for size in &sizes {
        starts.push(starts.last().unwrap() + size);
    }
    let mut layer_ranges: Vec<(u64, u64)> = Vec::new();
    let mut packed_ranges: Vec<(u64, u64)> = Vec::new();
    for (path, blob) in layer_paths.iter().zip(&resolved.layers) {
        let (at, len) = members[path];
        if blob.size >= 1 << 20 || len > 8 << 20 {
            layer_ranges.push((at, len));
        } else {
            packed_ranges.push((at, len));
        }
    }
    for &(at, len) in &layer_ranges {
        let first = starts.iter().position(|&s| s == at);
        assert!(
            first.is_some(),
            "a layer at {at} does not start a block: {sizes:?}"
        );
        let end = starts.iter().position(|&s| s == at + len);
        assert!(
            end.is_some(),
            "a layer ending at {} does not end a block",
            at + len
        );
        // Full 64 MiB blocks, as arv-put cuts a file, but the last.
        let (first, end) = (first.unwrap(), end.unwrap());
        for block in &sizes[first..end - 1] {
            assert_eq!(*block, BLOCK_SIZE as u64, "{sizes:?}");
        }
    }
    let in_layers = |block: usize| {
        layer_ranges
            .iter()
            .any(|&(at, len)| starts[block] >= at && starts[block] < at + len)
    };
    let small: Vec<usize> = (0..sizes.len()).filter(|&b| !in_layers(b)).collect();
    // One before each aligned layer and one at the end.
    assert_eq!(small.len(), layer_ranges.len() + 1, "{sizes:?}");
    // A packed layer lies inside one of them.
    for &(at, len) in &packed_ranges {
        assert!(
            small
                .iter()
                .any(|&b| starts[b] <= at && at + len <= starts[b + 1]),
            "a packed layer at {at} is not inside one small block: {sizes:?}"
        );
    }
    let packed_bytes: u64 = packed_ranges.iter().map(|r| r.1).sum();
    let small_bytes: u64 = small.iter().map(|&b| sizes[b]).sum();
    assert!(
        small_bytes < 64 * 1024 * (small.len() as u64) + packed_bytes,
        "{sizes:?}"
    );
    // The header of each aligned layer is in the small block listed just
    // before it.
    for &(at, _) in &layer_ranges {
        let block = starts.iter().position(|&s| s == at).unwrap();
        assert!(block > 0 && !in_layers(block - 1), "{sizes:?}");
        assert!(sizes[block - 1] >= 512, "{sizes:?}");
    }

    // The archive checker of --source=FILE|- takes it too (read to its end
    // as a stream, then found in Arvados already).
    let home = cluster.sim.info["users"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let api = cluster.api();
    let keep = KeepClient::new(&api, &cluster.sim.config_of(0));
    let again =
        images::upload_archive(&api, keep, &home, std::io::Cursor::new(bytes.clone()), None)
            .unwrap();
    assert_eq!(again.image_id, id);
    assert_eq!(again.collection.uuid.as_deref(), Some(uuid.as_str()));

    // Where Arvados loads images: Docker and Singularity's reader.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &bytes).unwrap();
    check_skopeo_reads(file.path(), &image);
    if docker_available("store_and_check") {
        check_docker_load(file.path(), "lab/pulled:1", &id);
    }

    // Again: the image is in Arvados, so no blob is pulled.
    let before = blobs.opened.load(Ordering::SeqCst);
    assert_eq!(before, resolved.layers.len());
    let again = cluster.pull(&upload, &resolved, &blobs).unwrap();
    assert_eq!(again["collection"]["action"], "reuse");
    assert_eq!(again["collection"]["uuid"], uuid.as_str());
    assert_eq!(blobs.opened.load(Ordering::SeqCst), before);
}

#[test]
fn a_pulled_image_is_stored_as_docker_save_writes_it() {
    store_and_check(Image::new("lab/pulled:1", "reg-raw", 3), false);
}

#[test]
fn a_pulled_image_with_compressed_layers_loads_too() {
    store_and_check(Image::new("lab/pulled:1", "reg-gz", 3), true);
}

/// Layers larger than a Keep block: each is a run of full blocks and one
/// short one, starting a block of its own.
#[test]
fn layers_larger_than_a_block_keep_their_own_blocks() {
    let size = BLOCK_SIZE as u64 + 5_000_000;
    store_and_check(Image::sized("lab/pulled:1", "reg-big", 2, size), false);
}

/// A layer blob that is a good blob (its digest checks) whose content is
/// not the layer the config names: one clear error, nothing made.
#[test]
fn a_layer_that_is_not_its_diff_id_leaves_the_cluster_unchanged() {
    let cluster = Cluster::start();
    let image = Image::new("lab/bad:1", "reg-bad", 2);
    let other = Image::new("lab/other:1", "reg-other", 1);
    let wrong = Image::descriptor(&other.manifest["layers"][0]);
    for compressed in [false, true] {
        let mut resolved = image.resolved(reference("lab/bad", "1"));
        resolved.layers[1] = wrong.clone();
        let mut blobs = Blobs::of(&image);
        blobs
            .extra
            .insert(wrong.digest.clone(), other.blob(&wrong.digest));
        let mut upload = request(resolved.reference.clone(), &["lab/bad:1"]);
        upload.pull_from.compressed_layers = compressed;
        let before = cluster.records();
        let e = cluster.pull(&upload, &resolved, &blobs).unwrap_err();
        let diff_id = image.config()["rootfs"]["diff_ids"][1]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            e.starts_with(&format!(
                "registry.example:5000/lab/bad:1: layer 2 of 2 ({}) decompresses to sha256:",
                wrong.digest
            )),
            "{e}"
        );
        assert!(
            e.contains(&format!(
                "but the image config says its diff_id is {diff_id}"
            )),
            "{e}"
        );
        assert_eq!(cluster.records(), before, "compressed: {compressed}");
    }
}

/// `--dry-run`: the plan, with the portable data hash a real run gives,
/// and nothing made; then the real run, with `--name` and `--replication`.
#[test]
fn a_dry_run_plans_the_same_collection_and_makes_nothing() {
    let cluster = Cluster::start();
    let image = Image::new("lab/dry:1", "reg-dry", 1);
    let resolved = image.resolved(reference("lab/dry", "1"));
    let blobs = Blobs::of(&image);
    let before = cluster.records();
    let plan = cluster
        .pull(
            &request(resolved.reference.clone(), &["--dry-run", "lab/dry:1"]),
            &resolved,
            &blobs,
        )
        .unwrap();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(cluster.records(), before);
    let made = cluster
        .pull(
            &request(
                resolved.reference.clone(),
                &["lab/dry:1", "--name=pulled", "--replication=2"],
            ),
            &resolved,
            &blobs,
        )
        .unwrap();
    assert_eq!(
        plan["collection"]["portable_data_hash"],
        made["collection"]["portable_data_hash"]
    );
    assert_eq!(made["collection"]["name"], "pulled");
    assert_eq!(made["collection"]["replication_desired"], 2);
    assert_eq!(made["repo_tag"], json!("lab/dry:1"));
}
