"""Layer reuse for `--source=docker://REF` (issue 16): a pulled image's
collection records which layers it holds and where (the layer index), and
a later pull takes a layer the cluster already holds from there, with no
blob request to the registry and no byte sent to Keep for it.

The images are ``layer_pair`` (two images built FROM scratch in the test
daemon sharing a 70 MiB base layer), pushed with skopeo into the anonymous
test registry and pulled through the counting proxy in front of it. Each
result is checked where Arvados uses it (read back with the legacy arv-get,
loaded by the test daemon, resolved by the server, listed by the legacy
tool) and against the portable data hash a pull with nothing to reuse
gives: the layout is deterministic, so a right image has that hash.
"""

import json

import pytest
from calls import stored_puts
from layer_images import layer_pair  # noqa: F401
from registry_testbed import registries, skopeo_push  # noqa: F401
from test_registry_source import docker_loads, image_file, read_back, records

LAYERS, LAYER_BLOCKS = "docker-image-layers", "docker-image-layer-blocks"


@pytest.fixture(scope="module")
def pushed(registries, layer_pair):  # noqa: F811
    """The pair in the anonymous registry; pulled through its proxy."""
    registry = registries.get("anonymous")
    for image, repo in ((layer_pair.first, "kdtest/layers-first:1"), (layer_pair.second, "kdtest/layers-second:1")):
        skopeo_push(image.archive, registry.address, repo)
    proxy = registries.get("anonymous-proxy")

    class Pushed:
        pair = layer_pair
        first = "%s/kdtest/layers-first:1" % proxy.address
        second = "%s/kdtest/layers-second:1" % proxy.address
        # The base layer's blob digest in the registry (skopeo compressed it).
        base_blob = _blob_of(registry, "kdtest/layers-first", layer_pair.base_diff_id)

    Pushed.proxy = proxy
    return Pushed


def _blob_of(registry, repository, diff_id):
    """The blob digest of the layer whose diff_id is `diff_id`."""
    import urllib.request

    def get(path, accept):
        req = urllib.request.Request("http://%s/v2/%s/%s" % (registry.address, repository, path),
                                     headers={"Accept": accept})
        return urllib.request.urlopen(req, timeout=60).read()

    manifest = json.loads(get("manifests/1", "application/vnd.docker.distribution.manifest.v2+json, "
                                              "application/vnd.oci.image.manifest.v1+json"))
    config = json.loads(get("blobs/" + manifest["config"]["digest"], "*/*"))
    k = config["rootfs"]["diff_ids"].index(diff_id)
    return manifest["layers"][k]["digest"]


def puts(cluster):
    """(hash, size) of each block PUT to Keep and stored, and the bytes sent."""
    entries = stored_puts(cluster.log())
    return {h for h, _ in entries}, sum(size for _, size in entries)


def the_collection(cluster, pdh=None):
    colls = records(cluster)[0]
    return [c for c in colls if pdh is None or c["portable_data_hash"] == pdh]


def archive_size(coll):
    [stream] = coll["manifest_text"].splitlines()
    return int(stream.split()[-1].split(":")[1])


def run(pull_as, *args, user="alice"):
    result = pull_as(*args, user=user)
    assert result.returncode == 0, result
    return result


@pytest.fixture
def ours(tools):
    def pull_as(*args, user="alice"):
        return tools.ours("--no-progress", *args, user=user, extra_env={"DOCKER_HOST": None})

    return pull_as


@pytest.fixture(scope="module")
def reference(pushed):
    """The portable data hash of each image pulled with nothing to reuse
    (filled by the first full pull of it; every later one must agree)."""
    return {}


def reference_of(cluster, ours, pushed, reference, which):
    """reference[which], pulling it on an empty cluster if no test has."""
    if which not in reference:
        cluster.reset()
        full_pull(cluster, ours, pushed, reference, which)
        cluster.reset()
    return reference[which]


def full_pull(cluster, ours, pushed, reference, which):
    """Pulls `which` ("first" or "second") on a cluster without the other;
    checks that nothing was reused and records its portable data hash."""
    result = run(ours, "--format=json", "--source=docker://" + getattr(pushed, which))
    report = json.loads(result.stdout)
    assert report["bytes_reused"] == 0
    pdh = report["collection"]["portable_data_hash"]
    assert reference.setdefault(which, pdh) == pdh
    return report


def index_of(coll):
    props = coll["properties"]
    return props[LAYERS], props[LAYER_BLOCKS]


def check_index(coll, image, base_diff_id):
    """The index names the base layer by its diff_id, at blocks of its own
    that are the manifest's blocks at the recorded offset; the small top
    layer (under 1 MiB) is packed with the tar headers, so it is not
    whole blocks and not in the index."""
    listed, where = index_of(coll)
    assert listed == [base_diff_id]
    assert sorted(where) == [base_diff_id]
    assert all(size < (1 << 20) for digest, size in image.layers if digest != base_diff_id)
    [stream] = coll["manifest_text"].splitlines()
    tokens = stream.split()[1:-1]
    starts, at = {}, 0
    for i, tok in enumerate(tokens):
        starts[at] = i
        at += int(tok.split("+")[1])
    [size] = [size for digest, size in image.layers if digest == base_diff_id]
    entry = where[base_diff_id]
    assert entry["member"] == "blobs/sha256/" + base_diff_id.split(":")[1]
    assert entry["size"] == size
    first = starts[entry["offset"]]
    blocks = ["+".join(t.split("+")[:2]) for t in tokens[first:first + len(entry["blocks"])]]
    assert blocks == entry["blocks"]
    assert sum(int(b.split("+")[1]) for b in blocks) == size
    # Blocks: the base layer's two, and one small block before and after
    # it (the second holding the top layer and the end of the archive).
    assert len(tokens) == len(blocks) + 2


# --------------------------------------------------------------------------


def test_the_second_image_sends_only_its_own_layers(cluster, tools, ours, pushed, reference, tmp_path, docker_host):
    pair, proxy = pushed.pair, pushed.proxy
    full_pull(cluster, ours, pushed, reference, "first")
    [coll1] = the_collection(cluster)
    check_index(coll1, pair.first, pair.base_diff_id)
    _, sent_first = puts(cluster)
    assert sent_first >= pair.base_size
    cluster.clear_log()
    proxy.reset()

    result = run(ours, "--format=json", "--source=docker://" + pushed.second)
    report = json.loads(result.stdout)
    [coll2] = the_collection(cluster, report["collection"]["portable_data_hash"])
    size = archive_size(coll2)
    # Only its own layers (and the small header blocks) went to Keep.
    assert report["bytes_reused"] == pair.base_size
    assert report["bytes_uploaded"] == size - pair.base_size
    hashes, sent = puts(cluster)
    base_blocks = {b.split("+")[0] for b in index_of(coll1)[1][pair.base_diff_id]["blocks"]}
    assert not hashes & base_blocks
    replicas = coll2["replication_desired"] or 2
    assert sent <= (size - pair.base_size) * replicas
    assert sent > 0
    # No blob request for the base layer; its own layer was pulled.
    assert proxy.blob_requests(pushed.base_blob) == []
    assert any("/blobs/" in entry[1] and entry[4] == 200 for entry in proxy.log)
    # The new collection's index records the reused layer too, at the
    # same blocks.
    check_index(coll2, pair.second, pair.base_diff_id)
    assert index_of(coll2)[1][pair.base_diff_id]["blocks"] == index_of(coll1)[1][pair.base_diff_id]["blocks"]

    # Both are right where Arvados uses them.
    for coll, image in ((coll1, pair.first), (coll2, pair.second)):
        path = read_back(tools, coll["uuid"], tmp_path)
        assert path.name == image.id + ".tar"
        assert archive_size(coll) == path.stat().st_size
        docker_loads(path, image.id)
    assert cluster.resolve(pushed.first)["pdh"] == coll1["portable_data_hash"]
    assert cluster.resolve(pushed.second)["pdh"] == coll2["portable_data_hash"]
    listing = tools.legacy()
    assert listing.returncode == 0, listing
    rows = {tuple(r.split()[:4]) for r in listing.stdout.splitlines()[1:]}
    for coll, image, name in ((coll1, pair.first, pushed.first), (coll2, pair.second, pushed.second)):
        repo, tag = name.rsplit(":", 1)
        assert (repo, tag, image.id[:12], coll["uuid"]) in rows

    # Byte-identical to a pull with nothing to reuse: the same blocks.
    cluster.reset()
    full = full_pull(cluster, ours, pushed, reference, "second")
    assert full["collection"]["portable_data_hash"] == coll2["portable_data_hash"]
    assert full["bytes_uploaded"] == size


def test_a_trashed_collection_is_not_reused(cluster, ours, pushed, reference, docker_host):
    full_pull(cluster, ours, pushed, reference, "first")
    [coll1] = the_collection(cluster)
    status, _, _ = cluster.request("POST", "/arvados/v1/collections/%s/trash" % coll1["uuid"])
    assert status == 200
    pushed.proxy.reset()
    report = full_pull(cluster, ours, pushed, reference, "second")
    assert pushed.proxy.blob_requests(pushed.base_blob) != []
    assert the_collection(cluster, report["collection"]["portable_data_hash"])


def test_another_users_layer_is_reused_only_when_readable(cluster, ours, pushed, reference, docker_host):
    bob = cluster.user("bob")
    project = cluster.create_project(bob["uuid"], "bob's images")
    run(ours, "--project-uuid=" + project["uuid"], "--source=docker://" + pushed.first, user="bob")
    # Not readable by alice: nothing reused.
    pushed.proxy.reset()
    report = full_pull(cluster, ours, pushed, reference, "second")
    assert pushed.proxy.blob_requests(pushed.base_blob) != []
    # Shared with alice: reused, and the same image.
    [mine] = [c for c in the_collection(cluster) if c["owner_uuid"] == cluster.user("alice")["uuid"]]
    status, _, _ = cluster.request("POST", "/arvados/v1/collections/%s/trash" % mine["uuid"])
    assert status == 200
    cluster.share(project["uuid"], cluster.user("alice")["uuid"])
    pushed.proxy.reset()
    cluster.clear_log()
    shared = json.loads(run(ours, "--format=json", "--source=docker://" + pushed.second).stdout)
    assert shared["bytes_reused"] == pushed.pair.base_size
    assert pushed.proxy.blob_requests(pushed.base_blob) == []
    assert shared["collection"]["portable_data_hash"] == report["collection"]["portable_data_hash"]


def _corrupt_blocks(entry, tail):
    # Other blocks, their sizes adding up: not the manifest's there.
    entry["blocks"], entry["size"] = [tail["block"]], tail["size"]


def _corrupt_offset(entry, tail):
    entry["offset"] += 512


def _corrupt_place(entry, tail):
    # Blocks and offset that agree with the manifest, but what lies before
    # them is layer bytes, not a tar header.
    entry["blocks"], entry["size"], entry["offset"] = [tail["block"]], tail["size"], tail["offset"]


def _corrupt_digest(entry, tail):
    # The member (and so the digest) of another layer.
    entry["member"] = "blobs/sha256/" + tail["other_digest"].split(":")[1]


@pytest.mark.parametrize("corrupt", [_corrupt_blocks, _corrupt_offset, _corrupt_place, _corrupt_digest],
                         ids=["wrong-blocks", "wrong-offset", "wrong-place", "wrong-digest"])
def test_a_corrupted_index_does_not_corrupt_the_new_image(cluster, ours, pushed, reference, corrupt, docker_host):
    pair = pushed.pair
    want = reference_of(cluster, ours, pushed, reference, "second")
    full_pull(cluster, ours, pushed, reference, "first")
    [coll1] = the_collection(cluster)
    listed, where = index_of(coll1)
    # The last block (the top layer and the end of the archive) and where
    # it starts.
    [stream] = coll1["manifest_text"].splitlines()
    tokens = stream.split()[1:-1]
    sizes = [int(t.split("+")[1]) for t in tokens]
    tail = {"block": "+".join(tokens[-1].split("+")[:2]), "size": sizes[-1],
            "offset": sum(sizes[:-1]), "other_digest": pair.first.layers[1][0]}
    corrupt(where[pair.base_diff_id], tail)
    props = dict(coll1["properties"], **{LAYER_BLOCKS: where})
    status, body, _ = cluster.request("PUT", "/arvados/v1/collections/" + coll1["uuid"],
                                      body={"collection": {"properties": props}})
    assert status == 200, body
    pushed.proxy.reset()
    report = full_pull(cluster, ours, pushed, reference, "second")
    # Pulled again, and the same image as a pull with nothing to reuse.
    assert pushed.proxy.blob_requests(pushed.base_blob) != []
    assert report["collection"]["portable_data_hash"] == want


def test_a_refused_create_is_retried_without_reuse(cluster, ours, pushed, reference, docker_host):
    want = reference_of(cluster, ours, pushed, reference, "second")
    full_pull(cluster, ours, pushed, reference, "first")
    # The API server refuses the first create (as it does a manifest with a
    # signature that is no longer valid): the layers are pulled and sent.
    cluster.faults(api_fail={"count": 1, "status": 403, "path_re": "^/arvados/v1/collections$", "method": "POST"})
    pushed.proxy.reset()
    result = run(ours, "--format=json", "--source=docker://" + pushed.second)
    report = json.loads(result.stdout)
    assert report["bytes_reused"] == 0
    assert "pulling and uploading every layer instead" in result.stderr
    assert pushed.proxy.blob_requests(pushed.base_blob) != []
    assert report["collection"]["portable_data_hash"] == want


def test_dry_run_reports_the_bytes_reused(cluster, ours, pushed, reference, docker_host):
    want = reference_of(cluster, ours, pushed, reference, "second")
    full_pull(cluster, ours, pushed, reference, "first")
    before = cluster.dump()
    cluster.clear_log()
    pushed.proxy.reset()
    result = run(ours, "--dry-run", "--format=json", "--source=docker://" + pushed.second)
    report = json.loads(result.stdout)
    assert report["bytes_reused"] == pushed.pair.base_size
    assert report["bytes_uploaded"] > 0
    assert puts(cluster) == (set(), 0)
    assert cluster.dump()["collections"] == before["collections"]
    assert pushed.proxy.blob_requests(pushed.base_blob) == []
    text = run(ours, "--dry-run", "--source=docker://" + pushed.second)
    assert "%d bytes of layers already in Keep" % pushed.pair.base_size in text.stdout
    # The hash a real pull gives.
    assert report["collection"]["portable_data_hash"] == want

