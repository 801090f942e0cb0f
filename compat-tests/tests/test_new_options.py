"""Options the legacy tool refused: --dry-run, --format=json, --replication,
--storage-classes.

Each test runs our binary against the simulated cluster and checks what a
user would check: stdout (the plan lines, the JSON document), the exit
status and the error line, and the cluster itself. A dry run must leave
`cluster.dump()` unchanged and send no write at all (no Keep PUT, no API
request other than GET); what it predicts is then compared with what the
real run makes.
"""

import json
import re
from calls import keep_calls
from conftest import ERROR_LINE, expected_name, generated, one_file_manifest, pdh_of

PLAIN = "kdtest-plain:v1"
GEN_TAG = "kdtest/gen:1.0"


def ok(result):
    assert result.returncode == 0, result
    return result


def collections(dump):
    return [c for c in dump["collections"] if not c.get("is_trashed")]


def docker_links(dump):
    return [l for l in dump["links"] if l["link_class"] in ("docker_image_hash", "docker_image_repo+tag")]


def writes(log):
    """Every request of a run that could change the cluster."""
    return [
        (e["server"], e["method"], e["path"])
        for e in log
        if (e["server"] == "api" and e["method"] != "GET") or (e["server"] != "api" and e["method"] not in ("GET", "HEAD"))
    ]


def dry_run(cluster, tools, *args, **kw):
    """Runs ours with --dry-run; asserts that it changed and wrote nothing."""
    before = cluster.dump()
    cluster.clear_log()
    result = tools.ours("--dry-run", *args, **kw)
    assert writes(cluster.log()) == [], result
    assert cluster.dump() == before
    return result


def last_error(result):
    """The final ERROR line's message, without the per-run request id."""
    line = result.stderr.splitlines()[-1]
    assert ERROR_LINE.match(line), result
    return re.sub(r"req-[0-9a-z]+", "req-*", line.split("ERROR: ", 1)[1])


def plan_upload(size, name, owner, pdh):
    return "would upload %d bytes and create collection '%s' in %s (portable data hash %s)" % (size, name, owner, pdh)


def plan_link(link_class, name, owner):
    return "would create link %s '%s' in %s" % (link_class, name, owner)


# --------------------------------------------------------------------------
# --dry-run


def test_dry_run_of_a_new_archive_file_predicts_the_real_upload(cluster, tools, tmp_path):
    desc, data, path = generated(tmp_path, repo_tags=[GEN_TAG], seed="dry-file")
    image_id = desc["image_id"]
    alice = cluster.user("alice")["uuid"]
    pdh = pdh_of(one_file_manifest(data, image_id + ".tar"))
    name = expected_name(GEN_TAG, image_id)

    plan = ok(dry_run(cluster, tools, "--source", str(path)))
    assert plan.stdout.splitlines() == [
        plan_upload(len(data), name, alice, pdh),
        plan_link("docker_image_hash", image_id, alice),
        plan_link("docker_image_repo+tag", GEN_TAG, alice),
    ]
    # No lock taken, so not even the cache directory was made.
    assert not (tools.homes["default"] / ".cache" / "arvados").exists()

    real = ok(tools.ours("--source", str(path)))
    [coll] = collections(cluster.dump())
    assert real.stdout == coll["uuid"] + "\n"
    assert (coll["portable_data_hash"], coll["name"], coll["owner_uuid"]) == (pdh, name, alice)


def test_dry_run_from_stdin_reads_the_whole_archive_and_reports_json(cluster, tools, tmp_path):
    desc, data, _ = generated(tmp_path, layout="oci", seed="dry-stdin")
    alice = cluster.user("alice")["uuid"]
    result = ok(dry_run(cluster, tools, "--format=json", "--source=-", "some/repo:t1", input=data))
    doc = json.loads(result.stdout)
    assert doc == {
        "dry_run": True,
        "image_id": desc["image_id"],
        "repo_tag": "some/repo:t1",
        "collection": {
            "action": "upload",
            "uuid": None,
            "portable_data_hash": pdh_of(one_file_manifest(data, desc["image_id"] + ".tar")),
            "name": expected_name("some/repo:t1", desc["image_id"]),
            "owner_uuid": alice,
            "replication_desired": None,
            "storage_classes_desired": None,
            "copied_from": None,
        },
        "links": [
            {"action": "create", "uuid": None, "link_class": "docker_image_hash", "name": desc["image_id"],
             "owner_uuid": alice, "head_uuid": None},
            {"action": "create", "uuid": None, "link_class": "docker_image_repo+tag", "name": "some/repo:t1",
             "owner_uuid": alice, "head_uuid": None},
        ],
        "bytes_uploaded": len(data),
        "bytes_reused": 0,
    }


def test_dry_run_of_a_bad_archive_fails_as_the_real_run_would(cluster, tools, tmp_path):
    _, data, path = generated(tmp_path, seed="dry-bad")
    path.write_bytes(data[: len(data) // 2])
    plan = dry_run(cluster, tools, "--source", str(path), "x:y")
    real = tools.ours("--source", str(path), "x:y")
    assert plan.returncode == real.returncode == 1
    assert plan.stdout == ""
    assert last_error(plan) == last_error(real)


def test_dry_run_of_an_image_already_there_reuses_or_copies(cluster, tools, tmp_path):
    desc, data, path = generated(tmp_path, repo_tags=[GEN_TAG], seed="dry-present")
    alice = cluster.user("alice")["uuid"]
    ok(tools.ours("--source", str(path)))
    dump = cluster.dump()
    [coll] = collections(dump)
    links = {l["link_class"]: l for l in docker_links(dump)}

    # Home already has everything: all reused.
    plan = ok(dry_run(cluster, tools, "--source", str(path)))
    assert plan.stdout.splitlines() == [
        "would reuse collection %s (portable data hash %s)" % (coll["uuid"], coll["portable_data_hash"]),
        "would reuse link %s (docker_image_hash '%s')" % (links["docker_image_hash"]["uuid"], desc["image_id"]),
        "would reuse link %s (docker_image_repo+tag '%s')" % (links["docker_image_repo+tag"]["uuid"], GEN_TAG),
    ]

    # From standard input the image id is known only at the end: the real
    # run would have uploaded the blocks by then (harmless), so says the plan.
    plan = ok(dry_run(cluster, tools, "--format=json", "--source=-", input=data))
    doc = json.loads(plan.stdout)
    assert (doc["collection"]["action"], doc["collection"]["uuid"]) == ("reuse", coll["uuid"])
    assert [l["action"] for l in doc["links"]] == ["reuse", "reuse"]
    assert (doc["bytes_uploaded"], doc["bytes_reused"]) == (len(data), len(data))

    # Another project: a copy, no bytes to upload.
    project = cluster.create_project("alice", "dry target")["uuid"]
    plan = ok(dry_run(cluster, tools, "--format=json", "--project-uuid", project, "--source", str(path), "new:tag"))
    doc = json.loads(plan.stdout)
    assert doc["collection"]["action"] == "copy"
    assert doc["collection"]["copied_from"] == coll["uuid"]
    assert doc["collection"]["portable_data_hash"] == coll["portable_data_hash"]
    assert doc["collection"]["owner_uuid"] == project
    assert (doc["bytes_uploaded"], doc["bytes_reused"]) == (0, len(data))
    assert [(l["action"], l["link_class"], l["name"], l["owner_uuid"]) for l in doc["links"]] == [
        ("create", "docker_image_hash", desc["image_id"], project),
        ("create", "docker_image_repo+tag", "new:tag", project),
    ]
    assert alice != project


def test_dry_run_from_the_daemon_absent_then_present(cluster, tools, image_of):
    image = image_of(PLAIN)
    alice = cluster.user("alice")["uuid"]
    pdh = pdh_of(one_file_manifest(image.archive, image.id + ".tar"))
    plan = ok(dry_run(cluster, tools, "kdtest-plain", "v1"))
    assert plan.stdout.splitlines() == [
        plan_upload(len(image.archive), expected_name(PLAIN, image.id), alice, pdh),
        plan_link("docker_image_hash", image.id, alice),
        plan_link("docker_image_repo+tag", PLAIN, alice),
    ]

    ok(tools.ours(PLAIN))
    [coll] = collections(cluster.dump())
    assert coll["portable_data_hash"] == pdh
    plan = ok(dry_run(cluster, tools, "--pull", PLAIN))
    assert plan.stdout.splitlines()[0] == "would reuse collection %s (portable data hash %s)" % (coll["uuid"], pdh)
    assert "not pulling" in plan.stderr


def test_dry_run_of_a_collection_source(cluster, tools, tmp_path):
    desc, data, path = generated(tmp_path, repo_tags=[GEN_TAG], seed="dry-coll")
    ok(tools.ours("--source", str(path)))
    [coll] = collections(cluster.dump())
    project = cluster.create_project("alice", "copies")["uuid"]
    plan = ok(dry_run(cluster, tools, "--source", coll["portable_data_hash"], "--project-uuid", project, "re:tag"))
    assert plan.stdout.splitlines() == [
        "would copy collection %s into %s as '%s' (portable data hash %s, %d bytes reused, none uploaded)"
        % (coll["uuid"], project, expected_name("re:tag", desc["image_id"]), coll["portable_data_hash"], len(data)),
        plan_link("docker_image_hash", desc["image_id"], project),
        plan_link("docker_image_repo+tag", "re:tag", project),
    ]
    # A new tag in place: the collection and its hash link are reused.
    plan = ok(dry_run(cluster, tools, "--source", coll["uuid"], "--format=json", "re:tag2"))
    doc = json.loads(plan.stdout)
    assert doc["collection"]["action"] == "reuse"
    assert doc["collection"]["uuid"] == coll["uuid"]
    assert [(l["action"], l["name"]) for l in doc["links"]] == [
        ("create", "re:tag2"),
        ("reuse", desc["image_id"]),
    ]


def test_dry_run_of_an_unlinked_collection_reads_only_keep(cluster, tools, tmp_path):
    desc, data, path = generated(tmp_path, seed="dry-unlinked")
    uuid = ok(tools.ours("--source", str(path))).stdout.strip()
    for link in docker_links(cluster.dump()):
        status, _, _ = cluster.request("DELETE", "/arvados/v1/links/" + link["uuid"])
        assert status == 200
    alice = cluster.user("alice")["uuid"]
    plan = ok(dry_run(cluster, tools, "--source", uuid, GEN_TAG))
    assert plan.stdout.splitlines() == [
        "would reuse collection %s (portable data hash %s)"
        % (uuid, pdh_of(one_file_manifest(data, desc["image_id"] + ".tar"))),
        plan_link("docker_image_hash", desc["image_id"], alice),
        plan_link("docker_image_repo+tag", GEN_TAG, alice),
    ]


def test_dry_run_into_a_missing_or_read_only_project_fails_like_the_real_run(cluster, tools, tmp_path):
    _, _, path = generated(tmp_path, seed="dry-project")
    missing = "zzzzz-j7d0g-000000000000xyz"
    plan = dry_run(cluster, tools, "--project-uuid", missing, "--source", str(path), "a:b")
    real = tools.ours("--project-uuid", missing, "--source", str(path), "a:b")
    assert plan.returncode == real.returncode == 1
    assert last_error(plan) == last_error(real)

    bobs = cluster.create_project("bob", "read only for alice")["uuid"]
    cluster.share(bobs, "alice", "can_read")
    plan = dry_run(cluster, tools, "--project-uuid", bobs, "--source", str(path), "a:b")
    assert plan.returncode == 1, plan
    last = plan.stderr.splitlines()[-1]
    assert ERROR_LINE.match(last)
    assert last.endswith(
        "ERROR: --project-uuid %s: this token may read that project but not write to it; "
        "give a project you can write to, or ask its owner for can_write access" % bobs
    )
    # The real run is refused the same way, and makes no collection.
    real = tools.ours("--project-uuid", bobs, "--source", str(path), "a:b")
    assert real.returncode == 1, real
    assert last_error(real) == last_error(plan)
    assert collections(cluster.dump()) == []

    cluster.share(bobs, "alice", "can_write")
    ok(dry_run(cluster, tools, "--project-uuid", bobs, "--source", str(path), "a:b"))


def test_dry_run_refuses_an_unsupported_format(cluster, tools, tmp_path):
    cluster.reset(docker_image_formats=["v1"])
    _, _, path = generated(tmp_path, seed="dry-format")
    plan = dry_run(cluster, tools, "--source", str(path), "a:b")
    assert plan.returncode == 1
    assert "image format is 'v2' but server supports only ['v1']" in plan.stderr


# --------------------------------------------------------------------------
# --format=json


def test_json_upload_then_retag_fields_match_the_cluster(cluster, tools, tmp_path):
    desc, data, path = generated(tmp_path, repo_tags=[GEN_TAG], seed="json-up")
    alice = cluster.user("alice")["uuid"]
    first = json.loads(ok(tools.ours("--format=json", "--source", str(path))).stdout)
    dump = cluster.dump()
    [coll] = collections(dump)
    links = {l["link_class"]: l for l in docker_links(dump)}
    assert first["dry_run"] is False
    assert (first["image_id"], first["repo_tag"]) == (desc["image_id"], GEN_TAG)
    c = first["collection"]
    assert (c["action"], c["uuid"], c["portable_data_hash"], c["name"], c["owner_uuid"]) == (
        "upload", coll["uuid"], coll["portable_data_hash"], coll["name"], alice)
    assert (c["replication_desired"], c["storage_classes_desired"]) == (
        coll["replication_desired"], coll["storage_classes_desired"])
    assert [(l["action"], l["uuid"], l["link_class"], l["name"], l["head_uuid"]) for l in first["links"]] == [
        ("create", links[k]["uuid"], k, links[k]["name"], coll["uuid"])
        for k in ("docker_image_hash", "docker_image_repo+tag")
    ]
    assert (first["bytes_uploaded"], first["bytes_reused"]) == (len(data), 0)

    # A second tag: the collection and hash link are reused; --silent does
    # not silence the document.
    second = ok(tools.ours("--format=json", "--silent", "--source", str(path), "other:t"))
    assert second.stderr == ""
    doc = json.loads(second.stdout)
    new = [l for l in docker_links(cluster.dump()) if l["name"] == "other:t"]
    assert doc["collection"]["action"] == "reuse"
    assert doc["collection"]["uuid"] == coll["uuid"]
    assert [(l["action"], l["uuid"]) for l in doc["links"]] == [
        ("create", new[0]["uuid"]),
        ("reuse", links["docker_image_hash"]["uuid"]),
    ]
    assert (doc["bytes_uploaded"], doc["bytes_reused"]) == (0, len(data))


def test_json_listing_has_the_text_listings_rows(cluster, tools, tmp_path):
    for seed, tag in (("json-l1", "kd/a:1"), ("json-l2", "kd/b:2")):
        _, _, path = generated(tmp_path, name=seed + ".tar", seed=seed)
        ok(tools.ours("--source", str(path), tag))
    text = ok(tools.ours()).stdout.splitlines()[1:]
    doc = json.loads(ok(tools.ours("--format=json", "images")).stdout)
    pdhs = {c["uuid"]: c["portable_data_hash"] for c in collections(cluster.dump())}
    assert len(doc["images"]) == len(text) == 2
    for row, line in zip(doc["images"], text):
        repo, tag, short_id, collection = line.split()[:4]
        assert (row["repo"], row["tag"], row["collection"]) == (repo, tag, collection)
        assert row["image_id"].startswith(short_id) and len(row["image_id"]) == 71
        assert row["portable_data_hash"] == pdhs[collection]
        assert row["created"].startswith("20")
    assert json.loads(ok(tools.ours("--format=json")).stdout) == doc


# --------------------------------------------------------------------------
# --replication, --storage-classes


def test_replication_and_classes_are_asked_of_keep_and_recorded(cluster, tools, tmp_path):
    cluster.reset(storage_classes=["default", "archive"])
    desc, data, path = generated(tmp_path, seed="repl")
    result = ok(tools.ours("--replication", "1", "--storage-classes", "archive", "--source", str(path), "r:1"))
    puts = [e for e in keep_calls(cluster.log()) if e["method"] == "PUT"]
    blocks = len(one_file_manifest(data, "x").split()) - 2
    # One replica per block, each confirmed by the disk server that took it.
    assert len(puts) == blocks
    assert {(e["desired_replicas"], e["storage_classes"], e["status"]) for e in puts} == {("1", "archive", 200)}
    [coll] = collections(cluster.dump())
    assert result.stdout == coll["uuid"] + "\n"
    assert (coll["replication_desired"], coll["storage_classes_desired"]) == (1, ["archive"])

    # Without the options: the cluster's defaults, and legacy's record.
    cluster.reset(storage_classes=["default", "archive"])
    ok(tools.ours("--source", str(path), "r:1"))
    puts = [e for e in keep_calls(cluster.log()) if e["method"] == "PUT"]
    assert len(puts) == 2 * blocks
    assert {(e["desired_replicas"], e["storage_classes"]) for e in puts} == {("2", "archive, default")}
    [coll] = collections(cluster.dump())
    assert coll["replication_desired"] is None


def test_a_class_keep_does_not_have_fails_and_creates_nothing(cluster, tools, tmp_path):
    _, _, path = generated(tmp_path, seed="repl-bad")
    result = tools.ours("--retries", "0", "--storage-classes", "nosuch", "--source", str(path), "r:1")
    assert result.returncode == 1, result
    assert ERROR_LINE.match(result.stderr.splitlines()[-1])
    assert collections(cluster.dump()) == []


def test_the_proxy_must_confirm_the_replicas_asked_for(cluster, tools, tmp_path):
    cluster.reset(keep_proxy=True)
    _, data, path = generated(tmp_path, seed="repl-proxy")
    ok(tools.ours("--replication", "1", "--source", str(path), "p:1"))
    puts = [e for e in keep_calls(cluster.log()) if e["method"] == "PUT" and e["server"] == "proxy"]
    assert puts and {e["desired_replicas"] for e in puts} == {"1"}
    [coll] = collections(cluster.dump())
    assert coll["replication_desired"] == 1

    # Three replicas on two disk servers: the proxy confirms only two.
    cluster.reset(keep_proxy=True)
    result = tools.ours("--retries", "0", "--replication", "3", "--source", str(path), "p:1")
    assert result.returncode == 1, result
    assert collections(cluster.dump()) == []


def test_a_copy_gets_the_attributes_a_reused_collection_keeps_its_own(cluster, tools, tmp_path):
    cluster.reset(storage_classes=["default", "archive"])
    _, _, path = generated(tmp_path, repo_tags=[GEN_TAG], seed="repl-copy")
    ok(tools.ours("--source", str(path)))
    [original] = collections(cluster.dump())
    project = cluster.create_project("alice", "archive copies")["uuid"]
    cluster.clear_log()
    copy = ok(tools.ours("--source", original["uuid"], "--project-uuid", project,
                         "--replication", "3", "--storage-classes", "archive"))
    assert [e for e in keep_calls(cluster.log()) if e["method"] == "PUT"] == []
    made = {c["uuid"]: c for c in collections(cluster.dump())}[copy.stdout.strip()]
    assert made["owner_uuid"] == project
    assert (made["replication_desired"], made["storage_classes_desired"]) == (3, ["archive"])
    assert made["portable_data_hash"] == original["portable_data_hash"]

    before = cluster.dump()["collections"]
    reuse = ok(tools.ours("--source", str(path), "--replication", "3"))
    assert reuse.stdout == original["uuid"] + "\n"
    assert "is used as it is, with replication the cluster default" in reuse.stderr
    assert cluster.dump()["collections"] == before
