//! The library API (`arv_keepdocker::images`) against the simulated
//! cluster: every function, what it leaves on the cluster, and that a
//! library call prints nothing.
//!
//! The daemon upload needs a Docker daemon: `compat-tests/run-tests`
//! starts one before `cargo test` and exports `DOCKER_HOST`. Without one
//! that test fails under `CI=true` and says it did not run otherwise.

mod common;

use std::process::Command;

use arv_keepdocker::images::{
    self, ApiClient, CollectionAction, ImageError, KeepClient, LinkAction,
};
use common::{generated_archive, Sim};
use serde_json::{json, Value};

fn keep(sim: &Sim, api: &ApiClient) -> KeepClient {
    KeepClient::new(api, &sim.config_of(0))
}

/// `upload_archive` of `bytes` into `project`, named `name` (else by the
/// archive).
fn upload(
    sim: &Sim,
    api: &ApiClient,
    project: &str,
    bytes: Vec<u8>,
    name: Option<&str>,
) -> images::Result<images::Report> {
    images::upload_archive(
        api,
        keep(sim, api),
        project,
        std::io::Cursor::new(bytes),
        name,
    )
}

fn project(sim: &Sim, name: &str) -> String {
    let owner = sim.info["users"][0]["uuid"].as_str().unwrap().to_string();
    let made = sim.control(
        "POST",
        "projects",
        Some(json!({"owner_uuid": owner, "name": name})),
    );
    made["uuid"].as_str().expect("a project uuid").to_string()
}

fn links(sim: &Sim) -> Vec<Value> {
    sim.control("GET", "dump", None)["links"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A cluster, alice's client and home, and one image uploaded there from
/// a generated archive: its report and its id.
struct Uploaded {
    sim: Sim,
    api: ApiClient,
    home: String,
    made: images::Report,
    id: String,
}

fn uploaded(tag: &str, seed: &str) -> Uploaded {
    let sim = Sim::start(&[]);
    let api = sim.api_of(0, 2);
    let home = sim.info["users"][0]["uuid"].as_str().unwrap().to_string();
    let (bytes, d) = generated_archive(tag, seed, 1);
    let made = upload(&sim, &api, &home, bytes, None).unwrap();
    let id = d["image_id"].as_str().unwrap().to_string();
    Uploaded {
        sim,
        api,
        home,
        made,
        id,
    }
}

#[test]
fn upload_then_search_by_name_hash_and_either() {
    let sim = Sim::start(&[]);
    let api = sim.api_of(0, 2);
    let home = sim.info["users"][0]["uuid"].as_str().unwrap().to_string();
    let (one, d1) = generated_archive("lab/tool:1.0", "lib-one", 2);
    let (two, d2) = generated_archive("lab/tool:2.0", "lib-two", 2);
    let r1 = upload(&sim, &api, &home, one, None).unwrap();
    assert_eq!(r1.image_id, d1["image_id"].as_str().unwrap());
    assert_eq!(r1.repo_tag.as_deref(), Some("lab/tool:1.0"));
    assert_eq!(r1.collection.action, CollectionAction::Upload);
    assert!(r1.links.iter().all(|l| l.action == LinkAction::Create));
    let r2 = upload(&sim, &api, &home, two.clone(), Some("lab/tool:2.0")).unwrap();
    // The same archive again: reused, nothing new.
    let again = upload(&sim, &api, &home, two, None).unwrap();
    assert_eq!(again.collection.action, CollectionAction::Reuse);
    assert_eq!(again.collection.uuid, r2.collection.uuid);
    assert!(again.links.iter().all(|l| l.action == LinkAction::Reuse));

    let by_tag = images::search_images_by_name(&api, "lab/tool:2.0", None).unwrap();
    assert_eq!(by_tag.len(), 1);
    assert_eq!(by_tag[0].collection, r2.collection.uuid.clone().unwrap());
    assert_eq!(
        (by_tag[0].repo.as_str(), by_tag[0].tag.as_str()),
        ("lab/tool", "2.0")
    );
    assert_eq!(by_tag[0].image_id, d2["image_id"].as_str().unwrap());
    assert!(by_tag[0].timestamp.starts_with("2024-"), "{:?}", by_tag[0]);

    let every_tag = images::search_images_by_name(&api, "lab/tool", None).unwrap();
    let mut tags: Vec<_> = every_tag.iter().map(|r| r.tag.clone()).collect();
    tags.sort();
    assert_eq!(tags, ["1.0", "2.0"]);
    assert!(images::search_images_by_name(&api, "lab/too", None)
        .unwrap()
        .is_empty());
    assert!(images::search_images_by_name(&api, "lab/tool:3.0", None)
        .unwrap()
        .is_empty());

    let id1 = d1["image_id"].as_str().unwrap();
    let by_hash = images::search_images_by_hash(&api, &id1[..15], None).unwrap();
    assert_eq!(by_hash.len(), 1);
    assert_eq!(by_hash[0].image_id, id1);
    let bare = images::search_images_by_hash(&api, &id1[7..19], None).unwrap();
    assert_eq!(bare, by_hash);
    assert!(matches!(
        images::search_images_by_hash(&api, "xyz", None),
        Err(ImageError::InvalidArgument(_))
    ));

    // By name first, then by hash.
    assert_eq!(
        images::search_images(&api, "lab/tool:1.0", None)
            .unwrap()
            .len(),
        1
    );
    let fallback = images::search_images(&api, &id1[7..19], None).unwrap();
    assert_eq!(fallback, by_hash);

    // Everything: both tags, the preferred first, with the collections'
    // portable data hashes; the same records the searches gave.
    let all = images::list_images(&api, None).unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(
        all.contains(&by_tag[0]) && all.contains(&by_hash[0]),
        "{all:?}"
    );
    for record in &all {
        let report = [&r1, &r2]
            .into_iter()
            .find(|r| r.collection.uuid.as_deref() == Some(record.collection.as_str()))
            .expect("a listed collection is one uploaded here");
        assert_eq!(
            record.portable_data_hash,
            report.collection.portable_data_hash
        );
    }
    let other = project(&sim, "empty");
    assert!(images::list_images(&api, Some(&other)).unwrap().is_empty());
}

#[test]
fn links_by_hand_and_project_scoped_searches() {
    let Uploaded {
        sim,
        api,
        home,
        made,
        id,
    } = uploaded("lab/hand:1", "lib-hand");
    let coll = made.collection.uuid.clone().unwrap();
    let proj = project(&sim, "by hand");

    // In the project: nothing yet.
    assert!(
        images::search_images_by_name(&api, "lab/hand:1", Some(&proj))
            .unwrap()
            .is_empty()
    );
    let name = images::add_image_name(&api, &proj, &coll, "lab/hand").unwrap();
    assert_eq!(name.name.as_deref(), Some("lab/hand:latest"));
    assert_eq!(name.link_class.as_deref(), Some("docker_image_repo+tag"));
    assert_eq!(name.owner_uuid.as_deref(), Some(proj.as_str()));
    let hash =
        images::add_image_hash(&api, &proj, &coll, &id, Some("2020-01-02T03:04:05Z")).unwrap();
    assert_eq!(hash.name.as_deref(), Some(id.as_str()));
    // The collection itself is in home: a project-scoped search also
    // requires the project to own the collection.
    assert!(images::search_images_by_name(&api, "lab/hand", Some(&proj))
        .unwrap()
        .is_empty());
    let everywhere = images::search_images_by_name(&api, "lab/hand", None).unwrap();
    let mut tags: Vec<_> = everywhere.iter().map(|r| r.tag.as_str()).collect();
    tags.sort();
    assert_eq!(tags, ["1", "latest"]);

    let (h, n) =
        images::add_image_metadata(&api, &home, &coll, "lab/hand:extra", &id, None).unwrap();
    assert_eq!(h.head_uuid, n.head_uuid);
    assert_eq!(n.name.as_deref(), Some("lab/hand:extra"));
    let in_home = images::search_images_by_name(&api, "lab/hand", Some(&home)).unwrap();
    let tags: Vec<_> = in_home.iter().map(|r| r.tag.as_str()).collect();
    assert!(tags.contains(&"1") && tags.contains(&"extra"), "{tags:?}");

    // Bad arguments are refused before anything is made.
    let before = links(&sim).len();
    assert!(matches!(
        images::add_image_metadata(&api, &home, &coll, "lab/hand:x", "sha256:abc", None),
        Err(ImageError::InvalidArgument(_))
    ));
    assert!(matches!(
        images::add_image_name(&api, &home, &coll, "bad name"),
        Err(ImageError::InvalidArgument(_))
    ));
    assert_eq!(links(&sim).len(), before);
}

#[test]
fn find_or_create_copies_once_and_checks_its_arguments() {
    let Uploaded {
        sim, api, made, id, ..
    } = uploaded("lab/copy:1", "lib-copy");
    let source = made.collection.uuid.clone().unwrap();
    let proj = project(&sim, "copies");

    let copy = images::find_or_create_image(
        &api,
        keep(&sim, &api),
        &proj,
        &source,
        Some("lab/copy:stable"),
        Some(&id),
    )
    .unwrap();
    assert_eq!(copy.collection.action, CollectionAction::Copy);
    assert_eq!(copy.collection.owner_uuid, proj);
    assert_eq!(
        copy.collection.portable_data_hash,
        made.collection.portable_data_hash
    );
    let in_proj = images::search_images_by_name(&api, "lab/copy:stable", Some(&proj)).unwrap();
    assert_eq!(in_proj.len(), 1);
    assert_eq!(in_proj[0].collection, copy.collection.uuid.clone().unwrap());

    // Again, by portable data hash: the project's copy, no new record.
    let before = links(&sim).len();
    let again = images::find_or_create_image(
        &api,
        keep(&sim, &api),
        &proj,
        &made.collection.portable_data_hash,
        Some("lab/copy:stable"),
        None,
    )
    .unwrap();
    assert_eq!(again.collection.uuid, copy.collection.uuid);
    assert_eq!(again.collection.action, CollectionAction::Reuse);
    assert_eq!(links(&sim).len(), before);

    assert!(matches!(
        images::find_or_create_image(&api, keep(&sim, &api), &proj, &source, None, None),
        Err(ImageError::InvalidArgument(_))
    ));
    let other = format!("sha256:{}", "0".repeat(64));
    assert!(matches!(
        images::find_or_create_image(&api, keep(&sim, &api), &proj, &source, None, Some(&other)),
        Err(ImageError::NotAnImageCollection(_))
    ));
    assert!(matches!(
        images::find_or_create_image(
            &api,
            keep(&sim, &api),
            "zzzzz-j7d0g-000000000000000",
            &source,
            Some("x:y"),
            None
        ),
        Err(ImageError::NoProject(_))
    ));
}

#[test]
fn upload_from_the_docker_daemon() {
    if std::env::var_os("DOCKER_HOST").is_none() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "DOCKER_HOST is not set: run the tests through compat-tests/run-tests"
        );
        eprintln!("NOT RUN: upload_from_the_docker_daemon needs DOCKER_HOST (compat-tests/run-tests sets it)");
        return;
    }
    let sim = Sim::start(&[]);
    let api = sim.api_of(0, 2);
    let home = sim.info["users"][0]["uuid"].as_str().unwrap().to_string();
    let tag = format!("kdtest-lib/daemon:{}", std::process::id());
    let (bytes, d) = generated_archive(&tag, "lib-daemon", 1);
    let mut load = Command::new("docker")
        .arg("load")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(load.stdin.as_mut().unwrap(), &bytes).unwrap();
    drop(load.stdin.take());
    assert!(load.wait().unwrap().success());
    let made = images::upload_from_daemon(&api, keep(&sim, &api), &home, &tag);
    let _ = Command::new("docker")
        .args(["image", "rm", "--force", &tag])
        .output();
    let made = made.unwrap();
    assert_eq!(made.image_id, d["image_id"].as_str().unwrap());
    assert_eq!(made.repo_tag.as_deref(), Some(tag.as_str()));
    assert_eq!(made.collection.action, CollectionAction::Upload);
    let (repo, t) = tag.rsplit_once(':').unwrap();
    let found = images::search_images_by_name(&api, &tag, None).unwrap();
    assert_eq!((found[0].repo.as_str(), found[0].tag.as_str()), (repo, t));
}

/// The child half of [`a_library_call_prints_nothing`]: library calls,
/// with debugging asked for in the environment.
#[test]
fn quiet_child() {
    if std::env::var_os("IMAGES_IT_QUIET_CHILD").is_none() {
        return;
    }
    let sim = Sim::start(&[]);
    let api = sim.api_of(0, 2);
    let home = sim.info["users"][0]["uuid"].as_str().unwrap().to_string();
    let (bytes, _) = generated_archive("lab/quiet:1", "lib-quiet", 1);
    upload(&sim, &api, &home, bytes, None).unwrap();
    assert_eq!(
        images::search_images(&api, "lab/quiet", None)
            .unwrap()
            .len(),
        1
    );
    // A failure is returned, not printed.
    assert!(images::find_or_create_image(
        &api,
        keep(&sim, &api),
        &home,
        "nonsense",
        Some("a:b"),
        None
    )
    .is_err());
}

#[test]
fn a_library_call_prints_nothing() {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--exact", "quiet_child", "--nocapture", "--test-threads=1"])
        .env("IMAGES_IT_QUIET_CHILD", "1")
        .env("ARVADOS_DEBUG", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("test quiet_child ... ok"), "{stdout}");
    // Only the test harness's own lines.
    let harness = |l: &str| {
        l.is_empty()
            || l.starts_with("running ")
            || l.starts_with("test quiet_child")
            || l.starts_with("test result:")
    };
    let other: Vec<&str> = stdout.lines().filter(|l| !harness(l)).collect();
    assert!(other.is_empty(), "a library call printed: {other:?}");
    assert!(
        stderr.is_empty(),
        "a library call wrote to stderr: {stderr}"
    );
}
