"""`--source=UUID|PDH`: an image already in Arvados, re-tagged or copied.

The source collections are made the way users make them: by the legacy tool
from the Docker daemon, or by ours from an archive file. Each test checks
what a user would check: which collection the tool printed, the collections
and links the cluster holds afterwards (owner, name, properties, portable
data hash), that the legacy tool's `images` lists the result and the server
rules of spec §8 resolve it by name and by id, and that no Keep block was
written (a collection source never moves bytes).
"""

import io
import json
import tarfile

import pytest
from calls import keep_calls
from conftest import BLOCK_SIZE, expected_name, generated, genarchive

PLAIN = "kdtest-plain:v1"
OTHER = "kdtest-other:v2"
GEN_TAG = "kdtest/gen:1.0"
HASH = "docker_image_hash"
RT = "docker_image_repo+tag"


def docker_links(dump):
    return [l for l in dump["links"] if l["link_class"] in (HASH, RT)]


def collections(dump):
    return [c for c in dump["collections"] if not c.get("is_trashed")]


def ok(result):
    assert result.returncode == 0, result
    return result


def links_of(dump, owner):
    """(class, name, head, properties) of the docker links `owner` owns."""
    return sorted(
        (l["link_class"], l["name"], l["head_uuid"], json.dumps(l["properties"], sort_keys=True))
        for l in docker_links(dump)
        if l["owner_uuid"] == owner
    )


def no_keep_writes(cluster):
    assert [e for e in keep_calls(cluster.log()) if e["method"] == "PUT"] == []


def listed_and_resolved(cluster, tools, uuid, repo_tag, image_id, user="alice"):
    """The legacy `images` lists the collection under its repo:tag; the server
    resolves the repo:tag and the image id to its portable data hash."""
    pdh = [c for c in collections(cluster.dump()) if c["uuid"] == uuid][0]["portable_data_hash"]
    rows = [l.split() for l in ok(tools.legacy("images", user=user)).stdout.splitlines() if uuid in l]
    repo, tag = repo_tag.rsplit(":", 1)
    assert [repo, tag, image_id[:12]] in [r[:3] for r in rows], rows
    assert cluster.resolve(repo_tag, user=user)["pdh"] == pdh
    assert cluster.resolve(image_id, user=user)["pdh"] == pdh


def legacy_upload(tools, cluster, image_of, ref, *args, user="alice"):
    """The legacy tool uploads a daemon image; returns (uuid, Image)."""
    image = image_of(ref)
    repo, tag = ref.rsplit(":", 1)
    uuid = ok(tools.legacy(repo, tag, *args, user=user)).stdout.strip()
    return uuid, image


# --------------------------------------------------------------------------
# Re-tagging and copying


@pytest.mark.parametrize("by", ["uuid", "pdh"])
def test_image_in_home_gets_only_the_new_tag(cluster, tools, image_of, by):
    uuid, image = legacy_upload(tools, cluster, image_of, PLAIN)
    alice = cluster.user("alice")["uuid"]
    before = cluster.dump()
    [coll] = collections(before)
    [hash_link] = [l for l in docker_links(before) if l["link_class"] == HASH]
    source = uuid if by == "uuid" else coll["portable_data_hash"]
    cluster.clear_log()

    # No name: the collection's own docker-image-repo-tag; nothing is missing.
    again = ok(tools.ours("--source=%s" % source))
    assert again.stdout == uuid + "\n"
    assert collections(cluster.dump()) == collections(before)
    assert cluster.dump()["links"] == before["links"]

    # A new name: one new repo+tag link, the hash link reused.
    result = ok(tools.ours("--source=%s" % source, "kdtest/retag:v9"))
    assert result.stdout == uuid + "\n"
    after = cluster.dump()
    assert collections(after) == collections(before)
    props = json.dumps(hash_link["properties"], sort_keys=True)
    assert json.loads(props) == {"image_timestamp": image.created}
    assert links_of(after, alice) == sorted([
        (HASH, image.id, uuid, props),
        (RT, PLAIN, uuid, props),
        (RT, "kdtest/retag:v9", uuid, props),
    ])
    no_keep_writes(cluster)
    listed_and_resolved(cluster, tools, uuid, "kdtest/retag:v9", image.id)
    listed_and_resolved(cluster, tools, uuid, PLAIN, image.id)


def test_pdh_in_another_project_is_copied_home(cluster, tools, tmp_path):
    project = cluster.create_project("alice", "elsewhere")["uuid"]
    desc, data, path = generated(tmp_path, layout="oci", repo_tags=[GEN_TAG], seed="coll-pdh")
    orig_uuid = ok(tools.ours("--source=%s" % path, "--project-uuid=%s" % project)).stdout.strip()
    [orig] = collections(cluster.dump())
    cluster.clear_log()

    result = ok(tools.ours("--source=%s" % orig["portable_data_hash"]))
    alice = cluster.user("alice")["uuid"]
    dump = cluster.dump()
    [copy] = [c for c in collections(dump) if c["owner_uuid"] == alice]
    assert result.stdout == copy["uuid"] + "\n"
    assert copy["uuid"] != orig_uuid
    assert copy["portable_data_hash"] == orig["portable_data_hash"]
    assert copy["name"] == expected_name(GEN_TAG, desc["image_id"])
    assert copy["properties"] == {"docker-image-repo-tag": GEN_TAG}
    props = json.dumps({"image_timestamp": genarchive.DEFAULT_CREATED})
    assert links_of(dump, alice) == [(HASH, desc["image_id"], copy["uuid"], props),
                                     (RT, GEN_TAG, copy["uuid"], props)]
    no_keep_writes(cluster)
    listed_and_resolved(cluster, tools, copy["uuid"], GEN_TAG, desc["image_id"])

    # Two readable collections have the PDH now: the one home owns is used.
    before = cluster.dump()
    again = ok(tools.ours("--source=%s" % orig["portable_data_hash"]))
    assert again.stdout == result.stdout
    assert ("2 readable collections have this portable data hash; the target project owns one; "
            "using %s" % copy["uuid"]) in again.stderr
    assert cluster.dump()["links"] == before["links"]
    assert collections(cluster.dump()) == collections(before)


def test_image_shared_by_bob_is_copied_into_alices_home(cluster, tools, image_of):
    bobs = cluster.create_project("bob", "bob images")["uuid"]
    uuid, image = legacy_upload(tools, cluster, image_of, OTHER, "--project-uuid", bobs, user="bob")
    cluster.share(bobs, "alice")
    cluster.clear_log()

    result = ok(tools.ours("--source=%s" % uuid, "kdtest/shared:1"))
    alice = cluster.user("alice")["uuid"]
    dump = cluster.dump()
    [copy] = [c for c in collections(dump) if c["owner_uuid"] == alice]
    assert result.stdout == copy["uuid"] + "\n"
    assert copy["name"] == expected_name("kdtest/shared:1", image.id)
    assert copy["properties"] == {"docker-image-repo-tag": "kdtest/shared:1"}
    props = json.dumps({"image_timestamp": image.created})
    assert links_of(dump, alice) == [(HASH, image.id, copy["uuid"], props),
                                     (RT, "kdtest/shared:1", copy["uuid"], props)]
    # Bob's records are untouched.
    assert len(links_of(dump, bobs)) == 2
    no_keep_writes(cluster)
    listed_and_resolved(cluster, tools, copy["uuid"], "kdtest/shared:1", image.id)


def test_project_uuid_gets_a_copy_and_the_links(cluster, tools, image_of):
    uuid, image = legacy_upload(tools, cluster, image_of, PLAIN)
    project = cluster.create_project("alice", "images")["uuid"]
    cluster.clear_log()

    result = ok(tools.ours("--source=%s" % uuid, "--project-uuid=%s" % project, "--name=my copy"))
    dump = cluster.dump()
    [copy] = [c for c in collections(dump) if c["owner_uuid"] == project]
    [orig] = [c for c in collections(dump) if c["uuid"] == uuid]
    assert result.stdout == copy["uuid"] + "\n"
    assert copy["portable_data_hash"] == orig["portable_data_hash"]
    assert copy["name"] == "my copy"
    assert copy["properties"] == {"docker-image-repo-tag": PLAIN}
    props = json.dumps({"image_timestamp": image.created})
    assert links_of(dump, project) == [(HASH, image.id, copy["uuid"], props),
                                       (RT, PLAIN, copy["uuid"], props)]
    no_keep_writes(cluster)
    listed_and_resolved(cluster, tools, copy["uuid"], PLAIN, image.id)

    # Again: the project's own copy is adopted, nothing new.
    before = cluster.dump()
    again = ok(tools.ours("--source=%s" % uuid, "--project-uuid=%s" % project))
    assert again.stdout == result.stdout
    assert cluster.dump()["links"] == before["links"]
    assert collections(cluster.dump()) == collections(before)


def test_project_uuid_source_puts_the_links_beside_the_source(cluster, tools, image_of):
    project = cluster.create_project("alice", "images")["uuid"]
    uuid, image = legacy_upload(tools, cluster, image_of, PLAIN, "--project-uuid", project)
    before = cluster.dump()
    cluster.clear_log()

    result = ok(tools.ours("--source=%s" % uuid, "--project-uuid=source", "kdtest/beside:2"))
    assert result.stdout == uuid + "\n"
    dump = cluster.dump()
    assert collections(dump) == collections(before)
    props = json.dumps({"image_timestamp": image.created})
    assert links_of(dump, project) == sorted([(HASH, image.id, uuid, props),
                                              (RT, PLAIN, uuid, props),
                                              (RT, "kdtest/beside:2", uuid, props)])
    no_keep_writes(cluster)
    listed_and_resolved(cluster, tools, uuid, "kdtest/beside:2", image.id)


# --------------------------------------------------------------------------
# No links: the timestamp comes from the archive, read from a few blocks


def blocks_a_header_walk_needs(data):
    """Indexes of the 64 MiB blocks holding every tar header (with its
    extended headers), the end-of-archive marker, manifest.json and the
    config: what a walk that seeks over member data must read."""
    needed = set()

    def touch(start, end):
        needed.update(range(start // BLOCK_SIZE, (end - 1) // BLOCK_SIZE + 1))

    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        manifest = json.loads(tar.extractfile("manifest.json").read())
    config = manifest[0]["Config"]
    for m in members:
        touch(m.offset, m.offset_data)
        if m.name in ("manifest.json", config):
            touch(m.offset_data, m.offset_data + m.size)
    last = members[-1]
    end = last.offset_data + -(-last.size // 512) * 512
    touch(end, end + 512)
    return needed


def test_unlinked_collection_reads_only_the_header_blocks(cluster, tools, tmp_path):
    # Two layers over two blocks each: blocks holding only layer data exist.
    desc, data, path = generated(tmp_path, layout="classic", layers=2, layer_size=140 << 20, seed="coll-big")
    project = cluster.create_project("alice", "raw")["uuid"]
    uuid = ok(tools.ours("--source=%s" % path, "--project-uuid=%s" % project)).stdout.strip()
    # Keep the collection, drop its links: like an arv-put of the archive.
    for link in docker_links(cluster.dump()):
        status, _, _ = cluster.request("DELETE", "/arvados/v1/links/" + link["uuid"])
        assert status == 200
    [coll] = collections(cluster.dump())
    assert coll["properties"] == {"docker-image-repo-tag": None}
    hashes = [tok.split("+")[0] for tok in coll["manifest_text"].split()[1:-1]]
    assert len(hashes) == 5
    before = cluster.dump()
    cluster.clear_log()

    result = ok(tools.ours("--source=%s" % uuid, "--project-uuid=source", GEN_TAG))
    assert result.stdout == uuid + "\n"
    dump = cluster.dump()
    assert collections(dump) == collections(before)
    props = json.dumps({"image_timestamp": genarchive.DEFAULT_CREATED})
    assert links_of(dump, project) == [(HASH, desc["image_id"], uuid, props), (RT, GEN_TAG, uuid, props)]

    gets = [e["path"].strip("/").split("+")[0] for e in keep_calls(cluster.log()) if e["method"] == "GET"]
    needed = {hashes[i] for i in blocks_a_header_walk_needs(data)}
    assert sorted(gets) == sorted(needed)  # each needed block once, nothing else
    assert len(needed) < len(hashes)
    no_keep_writes(cluster)
    listed_and_resolved(cluster, tools, uuid, GEN_TAG, desc["image_id"])


def test_unlinked_collection_with_a_wrong_config_is_refused(cluster, tools, tmp_path):
    desc, data, path = generated(tmp_path, seed="coll-lie")
    other, _, _ = generated(tmp_path, name="other.tar", seed="coll-lie-2")
    alice = cluster.user("alice")["uuid"]
    # The archive of one image under the file name of another.
    ok(tools.ours("--source=%s" % path))
    [coll] = collections(cluster.dump())
    lie = coll["manifest_text"].replace(desc["image_id"][7:], other["image_id"][7:])
    for link in docker_links(cluster.dump()):
        cluster.request("DELETE", "/arvados/v1/links/" + link["uuid"])
    status, made, _ = cluster.request("POST", "/arvados/v1/collections",
                                      {"collection": {"manifest_text": signed(cluster, lie), "owner_uuid": alice}})
    assert status == 200, made
    before = cluster.dump()
    result = tools.ours("--source=%s" % made["uuid"])
    assert result.returncode == 1, result
    assert "its config hashes to %s, not to the image id in the file name" % desc["image_id"] in result.stderr
    assert cluster.dump() == before


def signed(cluster, manifest):
    out = []
    for line in manifest.splitlines():
        tokens = line.split(" ")
        out.append(" ".join([tokens[0]] + [cluster.sign(t) if "+" in t and ":" not in t else t
                                            for t in tokens[1:]]))
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# Refusals: one clear line, exit status 1 (2 for usage), cluster unchanged

EMPTY = "d41d8cd98f00b204e9800998ecf8427e+0"
HEX_A = "a" * 64
HEX_B = "b" * 64


def refused(cluster, tools, args, status, words):
    before = cluster.dump()
    result = tools.ours(*args)
    assert result.returncode == status, result
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert words in result.stderr.strip().splitlines()[-1], result
    assert cluster.dump() == before
    return result


def test_collection_with_two_files(cluster, tools):
    [c] = cluster.seed(collections=[{"manifest_text": ". %s 0:0:sha256\\072%s.tar 0:0:notes.txt\n" % (EMPTY, HEX_A)}])["collections"]
    refused(cluster, tools, ["--source=%s" % c["uuid"], "x:y"], 1,
            "collection %s holds 2 files; an image collection holds exactly one sha256:<id>.tar" % c["uuid"])


def test_collection_with_a_non_image_file(cluster, tools):
    [c] = cluster.seed(collections=[{"manifest_text": ". %s 0:0:image.tar\n" % EMPTY}])["collections"]
    refused(cluster, tools, ["--source=%s" % c["uuid"]], 1,
            "collection %s holds one file, image.tar; an image collection holds exactly one sha256:<id>.tar"
            % c["uuid"])


def test_hash_link_naming_another_image(cluster, tools):
    [c] = cluster.seed(collections=[{"manifest_text": ". %s 0:0:sha256\\072%s.tar\n" % (EMPTY, HEX_A)}])["collections"]
    cluster.seed(links=[{"link_class": HASH, "name": "sha256:" + HEX_B, "head_uuid": c["uuid"], "properties": {}}])
    refused(cluster, tools, ["--source=%s" % c["uuid"]], 1,
            "but its docker_image_hash link")


def test_unknown_uuid(cluster, tools):
    refused(cluster, tools, ["--source=zzzzz-4zz18-000000000000000", "x:y"], 1,
            "--source zzzzz-4zz18-000000000000000: no such collection is readable with this token")


def test_pdh_nobody_can_read(cluster, tools):
    bob = cluster.user("bob")["uuid"]
    [c] = cluster.seed(collections=[{"owner_uuid": bob, "manifest_text": ". %s 0:0:sha256\\072%s.tar\n" % (EMPTY, HEX_A)}])["collections"]
    pdh = c["portable_data_hash"]
    refused(cluster, tools, ["--source=%s" % pdh], 1,
            "--source %s: no collection with that portable data hash is readable" % pdh)
    refused(cluster, tools, ["--source=%s+1" % ("0" * 32)], 1, "is readable with this token")


def test_from_collection_with_a_path_is_a_usage_error(cluster, tools, tmp_path):
    _, _, path = generated(tmp_path, seed="coll-usage")
    refused(cluster, tools, ["--from=collection", "--source=%s" % path], 2,
            "not a collection UUID or portable data hash")


def test_project_uuid_source_with_a_file(cluster, tools, tmp_path):
    _, _, path = generated(tmp_path, seed="coll-usage-2")
    refused(cluster, tools, ["--project-uuid=source", "--source=%s" % path], 1,
            "--project-uuid=source names the project of a source collection")
    refused(cluster, tools, ["--project-uuid=source", "--from=file", "--source=%s" % path], 2,
            "argument --project-uuid: 'source' means the project of the source collection")
