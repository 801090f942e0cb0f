"""`--source=FILE` and `--source=-`: an image archive uploaded without Docker.

Each test runs our binary against the simulated cluster and checks what a
user would check: the collection (name, manifest, portable data hash, owner,
properties), the links, stdout, the exit status and the error line; and, for
the upload of a real `docker save` archive, that the cluster ends up exactly
as the legacy tool leaves it after uploading the same image from the daemon.
"""

import json

import pytest
from calls import keep_calls
from conftest import ERROR_LINE, expected_name, generated, genarchive, one_file_manifest, pdh_of

PLAIN = "kdtest-plain:v1"
GEN_TAG = "kdtest/gen:1.0"


def docker_links(dump):
    return [l for l in dump["links"] if l["link_class"] in ("docker_image_hash", "docker_image_repo+tag")]


def collections(dump):
    return [c for c in dump["collections"] if not c.get("is_trashed")]


def normalized(cluster):
    """The image records of the cluster, without uuids and times."""
    dump = cluster.dump()
    colls = {c["uuid"]: c for c in collections(dump)}
    return {
        "collections": sorted(
            (c["name"], c["portable_data_hash"], c["owner_uuid"], json.dumps(c["properties"], sort_keys=True))
            for c in colls.values()
        ),
        "links": sorted(
            (
                l["link_class"],
                l["name"],
                l["owner_uuid"],
                json.dumps(l["properties"], sort_keys=True),
                colls[l["head_uuid"]]["portable_data_hash"],
            )
            for l in docker_links(dump)
        ),
    }


def ok(result):
    assert result.returncode == 0, result
    return result


def check_image(cluster, data, image_id, repo_tag, created, owner, stdout):
    """One collection holding `data` as <id>.tar, and its links."""
    dump = cluster.dump()
    [coll] = collections(dump)
    assert stdout == coll["uuid"] + "\n"
    manifest = one_file_manifest(data, image_id + ".tar")
    assert coll["portable_data_hash"] == pdh_of(manifest)
    assert coll["name"] == expected_name(repo_tag, image_id)
    assert coll["owner_uuid"] == owner
    assert coll["properties"] == {"docker-image-repo-tag": repo_tag}
    links = sorted(docker_links(dump), key=lambda l: l["link_class"])
    expected = [("docker_image_hash", image_id)]
    if repo_tag:
        expected.append(("docker_image_repo+tag", repo_tag))
    assert [(l["link_class"], l["name"]) for l in links] == expected
    for link in links:
        assert link["head_uuid"] == coll["uuid"]
        assert link["owner_uuid"] == owner
        assert link["properties"] == {"image_timestamp": created}
        assert link["tail_uuid"] is None
    return coll


# --------------------------------------------------------------------------


def test_docker_save_archive_gives_the_legacy_state(cluster, tools, image_of, tmp_path):
    image = image_of(PLAIN)
    legacy = ok(tools.legacy("kdtest-plain", "v1"))
    want = normalized(cluster)

    cluster.reset()
    path = tmp_path / "plain.tar"
    path.write_bytes(image.archive)
    ours = ok(tools.ours("--source=%s" % path, PLAIN))
    assert normalized(cluster) == want
    assert len(want["links"]) == 2
    [coll] = collections(cluster.dump())
    assert ours.stdout == coll["uuid"] + "\n"
    assert len(legacy.stdout.strip()) == len(ours.stdout.strip())
    check_image(cluster, image.archive, image.id, PLAIN, image.created, cluster.user("alice")["uuid"], ours.stdout)


@pytest.mark.parametrize("layout", ["classic", "oci"])
@pytest.mark.parametrize("via", ["file", "stdin"])
def test_generated_archives_by_file_and_stdin_named_from_repo_tags(cluster, tools, tmp_path, layout, via):
    desc, data, path = generated(tmp_path, layout=layout, repo_tags=[GEN_TAG], seed="src-" + layout)
    if via == "file":
        result = ok(tools.ours("--source", str(path)))
    else:
        result = ok(tools.ours("--source=-", input=data))
    alice = cluster.user("alice")["uuid"]
    check_image(cluster, data, desc["image_id"], GEN_TAG, genarchive.DEFAULT_CREATED, alice, result.stdout)


def test_positional_name_wins_and_legacy_pair_form_works(cluster, tools, tmp_path):
    desc, data, path = generated(tmp_path, repo_tags=[GEN_TAG], seed="src-pair")
    result = ok(tools.ours("--source=%s" % path, "other/name", "t2"))
    alice = cluster.user("alice")["uuid"]
    check_image(cluster, data, desc["image_id"], "other/name:t2", genarchive.DEFAULT_CREATED, alice, result.stdout)


def test_untagged_archive_is_stored_by_hash_only(cluster, tools, tmp_path):
    desc, data, path = generated(tmp_path, layout="oci", seed="src-hash")
    result = ok(tools.ours("--source=%s" % path))
    alice = cluster.user("alice")["uuid"]
    check_image(cluster, data, desc["image_id"], None, genarchive.DEFAULT_CREATED, alice, result.stdout)


def test_project_uuid_owns_collection_and_links(cluster, tools, tmp_path):
    project = cluster.create_project("alice", "images")["uuid"]
    desc, data, path = generated(tmp_path, repo_tags=[GEN_TAG], seed="src-proj")
    result = ok(tools.ours("--source=%s" % path, "--project-uuid", project))
    check_image(cluster, data, desc["image_id"], GEN_TAG, genarchive.DEFAULT_CREATED, project, result.stdout)


def test_bad_project_uuid_fails_before_uploading(cluster, tools, tmp_path):
    _, _, path = generated(tmp_path, seed="src-badproj")
    before = cluster.dump()
    cluster.clear_log()
    result = tools.ours("--source=%s" % path, "--project-uuid=nonsense")
    assert result.returncode == 1, result
    assert "Not a valid project UUID: nonsense" in result.stderr
    assert keep_calls(cluster.log()) == []
    assert cluster.dump() == before


@pytest.mark.parametrize("via", ["file", "stdin"])
def test_rerun_finds_the_image_already_present(cluster, tools, tmp_path, via):
    _, data, path = generated(tmp_path, repo_tags=[GEN_TAG], seed="src-rerun")
    args = ("--source=%s" % path,) if via == "file" else ("--source=-",)
    kw = {} if via == "file" else {"input": data}
    first = ok(tools.ours(*args, **kw))
    before = cluster.dump()
    cluster.clear_log()
    second = ok(tools.ours(*args, **kw))
    assert second.stdout == first.stdout
    after = cluster.dump()
    assert collections(after) == collections(before)
    assert docker_links(after) == docker_links(before)
    if via == "file":
        # The file's headers told the image id: nothing was uploaded.
        assert keep_calls(cluster.log()) == []


def test_legacy_lists_resolves_and_reads_back_our_upload(cluster, tools, tmp_path):
    desc, data, path = generated(tmp_path, layout="oci", repo_tags=[GEN_TAG], seed="src-legacy")
    uuid = ok(tools.ours("--source=%s" % path)).stdout.strip()
    [coll] = collections(cluster.dump())

    listing = ok(tools.legacy("images")).stdout.splitlines()
    [row] = [l for l in listing if uuid in l]
    assert row.split()[:3] == ["kdtest/gen", "1.0", desc["image_id"][:12]]

    assert cluster.resolve(GEN_TAG)["pdh"] == coll["portable_data_hash"]
    assert cluster.resolve(desc["image_id"])["pdh"] == coll["portable_data_hash"]

    out = tmp_path / "out"
    out.mkdir()
    ok(tools.legacy(uuid + "/", str(out), tool="arv-get"))
    assert (out / (desc["image_id"] + ".tar")).read_bytes() == data


def test_silent_fresh_upload_prints_nothing(cluster, tools, tmp_path):
    _, data, path = generated(tmp_path, seed="src-silent")
    result = ok(tools.ours("--silent", "--source=%s" % path))
    assert result.stdout == ""
    assert len(collections(cluster.dump())) == 1
    # Already present: the UUID is printed even with --silent (legacy).
    again = ok(tools.ours("--silent", "--source=%s" % path))
    assert again.stdout == collections(cluster.dump())[0]["uuid"] + "\n"


def test_format_check(cluster, tools, tmp_path):
    _, data, path = generated(tmp_path, seed="src-format")
    cluster.reset(docker_image_formats=["v1"])
    refused = tools.ours("--source=%s" % path)
    assert refused.returncode == 1, refused
    assert "ERROR: image format is 'v2' but server supports only ['v1']" in refused.stderr
    assert "refusing to store incompatible format (use --force-image-format to override)" in refused.stderr
    assert collections(cluster.dump()) == []
    forced = ok(tools.ours("--source=%s" % path, "--force-image-format"))
    assert "WARNING: forcing incompatible image" in forced.stderr
    # An empty list disables the check, as the server documents (legacy refused).
    cluster.reset(docker_image_formats=[])
    ok(tools.ours("--source=%s" % path))
    assert len(collections(cluster.dump())) == 1


CORRUPT = {
    "flip-layer-byte": "layer 0 ",
    "wrong-config-digest": "content hashes to sha256:",
    "two-images": "holds 2 images",
    "no-manifest": "has no manifest.json",
    "truncated": "truncated",
    "not-tar": "not a tar archive",
}


@pytest.mark.parametrize("mode", sorted(CORRUPT))
def test_corrupt_archive_fails_and_leaves_the_cluster_unchanged(cluster, tools, tmp_path, mode):
    _, data, path = generated(tmp_path, layout="oci" if mode == "wrong-config-digest" else "classic",
                              repo_tags=[GEN_TAG], seed="src-bad-" + mode, corrupt=mode)
    before = cluster.dump()
    for args, kw in ((("--source=%s" % path,), {}), (("--source=-",), {"input": data})):
        result = tools.ours(*args, **kw)
        assert result.returncode == 1, result
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert ERROR_LINE.match(lines[-1]), result
        assert CORRUPT[mode] in lines[-1], result
        assert "Traceback" not in result.stderr
        after = cluster.dump()
        assert collections(after) == collections(before)
        assert after["links"] == before["links"]


def test_image_in_another_project_is_copied_without_upload(cluster, tools, tmp_path):
    project = cluster.create_project("alice", "shared")["uuid"]
    desc, data, path = generated(tmp_path, repo_tags=[GEN_TAG], seed="src-copy")
    ok(tools.ours("--source=%s" % path, "--project-uuid=%s" % project))
    cluster.clear_log()
    result = ok(tools.ours("--source=%s" % path))
    assert keep_calls(cluster.log()) == []
    alice = cluster.user("alice")["uuid"]
    dump = cluster.dump()
    [copy] = [c for c in collections(dump) if c["owner_uuid"] == alice]
    [orig] = [c for c in collections(dump) if c["owner_uuid"] == project]
    assert result.stdout == copy["uuid"] + "\n"
    assert copy["portable_data_hash"] == orig["portable_data_hash"]
    assert copy["properties"] == {"docker-image-repo-tag": GEN_TAG}
    mine = sorted((l["link_class"], l["name"], l["head_uuid"], json.dumps(l["properties"]))
                  for l in docker_links(dump) if l["owner_uuid"] == alice)
    props = json.dumps({"image_timestamp": genarchive.DEFAULT_CREATED})
    assert mine == [("docker_image_hash", desc["image_id"], copy["uuid"], props),
                    ("docker_image_repo+tag", GEN_TAG, copy["uuid"], props)]
