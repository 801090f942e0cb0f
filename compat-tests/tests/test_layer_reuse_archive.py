"""`--reuse-layers` for the daemon, file and standard-input forms (issue 16).

Two images share a 70 MiB base layer (``layer_pair``, built in the test
daemon). The first is uploaded with `--reuse-layers`, then the second: the
second must send to Keep only what is not the shared layer (counted in the
simulated Keep's request log), and both must still be exactly the image:
read back byte for byte with the legacy `arv-get`, loaded by the test
daemon with the right id, found by the server's image resolution and
listed by the legacy tool. Then the cases where nothing may be reused (the
first collection trashed, a wrong index), where the layer index must never
put wrong bytes in an image, and the portable data hash without the flag.

The test daemon (Docker 20) writes the classic layout; the OCI layout
(Docker 25 and later) is made from it here (`oci_archive`), for the
standard-input form that learns a layer's digest from its blob name.
"""

import hashlib
import io
import shutil
import json
import subprocess
import tarfile

import pytest
from calls import stored_puts
from conftest import BLOCK_SIZE, docker, one_file_manifest, pdh_of
from layer_images import layer_pair  # noqa: F401  (the session fixture)
from test_registry_source import read_back

LAYERS = "docker-image-layers"
LAYER_BLOCKS = "docker-image-layer-blocks"


# --------------------------------------------------------------------------
# Helpers


def ok(result):
    assert result.returncode == 0, result
    return result


def keep_put_bytes(cluster):
    """Bytes of the distinct blocks written to Keep since the log was
    cleared (a block written to several servers counts once)."""
    blocks = dict(stored_puts(cluster.log()))
    return sum(blocks.values()), set(blocks)


def collection(cluster, uuid):
    [coll] = [c for c in cluster.dump()["collections"] if c["uuid"] == uuid]
    return coll


def md5s_of_range(data, offset, size):
    """The md5 of each block of a layer stored aligned: its content cut in
    64 MiB blocks from its first byte."""
    return {
        hashlib.md5(data[offset + i : offset + min(i + BLOCK_SIZE, size)]).hexdigest()
        for i in range(0, size, BLOCK_SIZE)
    }


def layer_offset(data, diff_id):
    """Where the layer with this diff_id lies in an archive."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.size > 1 << 20:
                content = data[member.offset_data : member.offset_data + member.size]
                if "sha256:" + hashlib.sha256(content).hexdigest() == diff_id:
                    return member.name, member.offset_data, member.size
    raise AssertionError("no layer %s" % diff_id)


def docker_loads(data, image_id):
    """The test daemon loads the bytes (checking each layer against its
    diff_id) and names the image `image_id`."""
    loaded = subprocess.run(["docker", "load"], input=data, capture_output=True)
    assert loaded.returncode == 0, loaded.stderr
    out = loaded.stdout.decode()
    assert "Loaded image" in out, out
    for line in out.splitlines():
        ref = line.split(": ", 1)[1].strip()
        got = docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.decode().strip()
        assert got == image_id, (ref, got)


def saved(image):
    """What the daemon form stores: `docker save` of the image id (no
    RepoTags, as the legacy tool saves it)."""
    return docker("save", image.id).stdout


def upload(tools, image, form, *flags, input_data=None):
    """Our tool uploads `image` by `form`: daemon, file or stdin."""
    repo, tag = image.tag.split(":")
    if form == "daemon":
        return ok(tools.ours(*flags, repo, tag))
    if form == "file":
        return ok(tools.ours(*flags, "--source=%s" % image.archive, repo, tag))
    data = input_data if input_data is not None else image.archive.read_bytes()
    return ok(tools.ours(*flags, "--source=-", "%s:%s" % (repo, tag), input=data))


def check_image(cluster, tools, tmp_path, uuid, image, data):
    """Where Arvados uses the image: the file is `data`, it loads, it
    resolves, the legacy tool lists it, and its index records the base."""
    coll = collection(cluster, uuid)
    got = read_back(tools, uuid, tmp_path).read_bytes()
    assert got == data, "the stored file is not the archive"
    docker_loads(got, image.id)
    repo, tag = image.tag.split(":")
    resolved = cluster.resolve(repo, tag=tag)
    assert resolved.get("uuid") == uuid, resolved
    listing = ok(tools.legacy())
    assert any(line.split()[:2] == [repo, tag] for line in listing.stdout.splitlines()), listing.stdout
    return coll


def oci_archive(classic: bytes) -> bytes:
    """The same image in the OCI layout Docker 25 and later write:
    blobs/sha256/<hex> for the config and the (uncompressed) layers, an OCI
    manifest and index, and a manifest.json naming the blobs."""
    with tarfile.open(fileobj=io.BytesIO(classic)) as tar:
        [entry] = json.load(tar.extractfile("manifest.json"))
        config = tar.extractfile(entry["Config"]).read()
        layers = [tar.extractfile(name).read() for name in entry["Layers"]]
    blobs = {}

    def blob(data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs["blobs/sha256/" + digest[7:]] = data
        return digest

    def descriptor(media_type, data):
        return {"mediaType": media_type, "digest": blob(data), "size": len(data)}

    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", layer) for layer in layers],
    }).encode()
    index = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [descriptor("application/vnd.oci.image.manifest.v1+json", manifest)],
    }).encode()
    members = dict(blobs)
    members["index.json"] = index
    members["oci-layout"] = b'{"imageLayoutVersion":"1.0.0"}'
    members["manifest.json"] = json.dumps([{
        "Config": "blobs/sha256/" + hashlib.sha256(config).hexdigest(),
        "RepoTags": entry["RepoTags"],
        "Layers": ["blobs/sha256/" + hashlib.sha256(layer).hexdigest() for layer in layers],
    }]).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in ["blobs", "blobs/sha256"]:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(members[name]))
    return out.getvalue()


@pytest.fixture(scope="module")
def oci_pair(layer_pair):  # noqa: F811
    return [oci_archive(image.archive.read_bytes()) for image in (layer_pair.first, layer_pair.second)]


def index_entry(coll, digest):
    props = coll["properties"]
    assert digest in props[LAYERS], props
    return props[LAYER_BLOCKS][digest]


# --------------------------------------------------------------------------
# The second image sends only its own bytes, by each form


@pytest.mark.parametrize("form", ["daemon", "file", "stdin"])
def test_the_second_image_sends_only_what_is_its_own(cluster, tools, tmp_path, layer_pair, oci_pair, form):  # noqa: F811
    pair = layer_pair
    # Standard input learns a layer's digest from its OCI blob name.
    datas = {
        "daemon": [saved(pair.first), saved(pair.second)],
        "file": [pair.first.archive.read_bytes(), pair.second.archive.read_bytes()],
        "stdin": oci_pair,
    }[form]
    first = upload(tools, pair.first, form, "--reuse-layers", input_data=datas[0]).stdout.strip()
    entry = index_entry(collection(cluster, first), pair.base_diff_id)
    member, offset, size = layer_offset(datas[0], pair.base_diff_id)
    assert (entry["member"], entry["offset"], entry["size"]) == (member, offset, size)
    # The recorded blocks are the layer's content cut from its first byte.
    assert {b.split("+")[0] for b in entry["blocks"]} == md5s_of_range(datas[0], offset, size)

    cluster.clear_log()
    second = upload(tools, pair.second, form, "--reuse-layers", "--format=json", input_data=datas[1])
    report = json.loads(second.stdout)
    uuid = report["collection"]["uuid"]
    sent, hashes = keep_put_bytes(cluster)
    _, base_at, base_size = layer_offset(datas[1], pair.base_diff_id)
    assert base_size == pair.base_size
    # Everything but the shared layer, and none of the shared layer's blocks.
    assert sent == len(datas[1]) - pair.base_size, (sent, len(datas[1]))
    assert not hashes & md5s_of_range(datas[1], base_at, base_size)
    assert (report["bytes_uploaded"], report["bytes_reused"]) == (sent, pair.base_size)

    check_image(cluster, tools, tmp_path, first, pair.first, datas[0])
    check_image(cluster, tools, tmp_path, uuid, pair.second, datas[1])
    # The second records the shared layer at its own place in its file.
    entry = index_entry(collection(cluster, uuid), pair.base_diff_id)
    assert (entry["offset"], entry["size"]) == (base_at, base_size)


def test_a_file_reuses_the_layers_a_daemon_upload_recorded(cluster, tools, tmp_path, layer_pair):  # noqa: F811
    pair = layer_pair
    upload(tools, pair.first, "daemon", "--reuse-layers")
    cluster.clear_log()
    uuid = upload(tools, pair.second, "file", "--reuse-layers").stdout.strip()
    data = pair.second.archive.read_bytes()
    sent, _ = keep_put_bytes(cluster)
    assert sent == len(data) - pair.base_size
    check_image(cluster, tools, tmp_path, uuid, pair.second, data)


def test_classic_layout_on_standard_input_is_aligned_but_reuses_nothing(cluster, tools, layer_pair):  # noqa: F811
    # A classic archive's `<id>/layer.tar` does not say its digest before
    # it is read, and standard input has no config to look at first.
    pair = layer_pair
    upload(tools, pair.first, "file", "--reuse-layers")
    cluster.clear_log()
    data = pair.second.archive.read_bytes()
    uuid = upload(tools, pair.second, "stdin", "--reuse-layers").stdout.strip()
    sent, _ = keep_put_bytes(cluster)
    assert sent == len(data)
    # Its layers are recorded all the same, for later uploads.
    entry = index_entry(collection(cluster, uuid), pair.base_diff_id)
    assert entry["size"] == pair.base_size


# --------------------------------------------------------------------------
# Nothing is reused when it must not be, and never wrongly


def test_a_trashed_first_collection_gives_no_reuse(cluster, tools, tmp_path, layer_pair):  # noqa: F811
    pair = layer_pair
    first = upload(tools, pair.first, "file", "--reuse-layers").stdout.strip()
    status, _, _ = cluster.request("POST", "/arvados/v1/collections/%s/trash" % first)
    assert status == 200
    cluster.clear_log()
    uuid = upload(tools, pair.second, "file", "--reuse-layers").stdout.strip()
    data = pair.second.archive.read_bytes()
    sent, _ = keep_put_bytes(cluster)
    assert sent == len(data)
    check_image(cluster, tools, tmp_path, uuid, pair.second, data)


def set_properties(cluster, uuid, properties):
    status, out, _ = cluster.request(
        "PUT", "/arvados/v1/collections/" + uuid, body={"collection": {"properties": properties}}
    )
    assert status == 200, out


@pytest.mark.parametrize("how", ["offset", "blocks", "member"])
def test_a_wrong_index_never_corrupts_the_new_image(cluster, tools, tmp_path, layer_pair, how):  # noqa: F811
    pair = layer_pair
    first = upload(tools, pair.first, "file", "--reuse-layers").stdout.strip()
    props = collection(cluster, first)["properties"]
    entry = props[LAYER_BLOCKS][pair.base_diff_id]
    if how == "offset":
        entry["offset"] += 512
    elif how == "blocks":
        entry["blocks"].reverse()
    else:
        entry["member"] = "blobs/sha256/" + "0" * 64
    set_properties(cluster, first, props)
    cluster.clear_log()
    uuid = upload(tools, pair.second, "file", "--reuse-layers").stdout.strip()
    data = pair.second.archive.read_bytes()
    sent, _ = keep_put_bytes(cluster)
    assert sent == len(data), "a wrong index entry was used"
    check_image(cluster, tools, tmp_path, uuid, pair.second, data)


def decoy_archive(size, tag):
    """A classic-layout image whose one layer is `size` bytes that are not
    the shared layer's."""
    layer = hashlib.sha256(b"decoy").digest() * (size // 32) + b"d" * (size % 32)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2020-09-13T12:26:40Z",
        "config": {}, "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }).encode()
    config_hex = hashlib.sha256(config).hexdigest()
    v1 = hashlib.sha256(diff_id.encode()).hexdigest()
    members = {
        config_hex + ".json": config,
        v1 + "/layer.tar": layer,
        "manifest.json": json.dumps([{
            "Config": config_hex + ".json", "RepoTags": [tag], "Layers": [v1 + "/layer.tar"],
        }]).encode(),
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            tar.addfile(info, io.BytesIO(members[name]))
    return out.getvalue(), diff_id


def test_an_index_naming_other_bytes_is_refused_by_their_md5(cluster, tools, tmp_path, layer_pair):  # noqa: F811
    # An entry that passes every check of the lookup (its blocks are whole
    # in its collection's file, behind a header of the recorded member and
    # size) but holds other bytes than the layer it is recorded under: the
    # blocks read are compared by md5 and size, so none is taken.
    pair = layer_pair
    decoy, decoy_id = decoy_archive(pair.base_size, "kdtest/decoy:1")
    path = tmp_path / "decoy.tar"
    path.write_bytes(decoy)
    uuid = ok(tools.ours("--reuse-layers", "--source=%s" % path, "kdtest/decoy", "1")).stdout.strip()
    props = collection(cluster, uuid)["properties"]
    entry = props[LAYER_BLOCKS].pop(decoy_id)
    props[LAYER_BLOCKS][pair.base_diff_id] = entry
    props[LAYERS] = [pair.base_diff_id]
    set_properties(cluster, uuid, props)
    cluster.clear_log()
    second = ok(tools.ours("--reuse-layers", "--source=%s" % pair.second.archive, *pair.second.tag.split(":")))
    # The lookup took the decoy (its checks pass)...
    assert "is in collection %s" % uuid in second.stderr, second.stderr
    # ...and the md5 check took none of its blocks.
    data = pair.second.archive.read_bytes()
    sent, _ = keep_put_bytes(cluster)
    assert sent == len(data)
    check_image(cluster, tools, tmp_path, second.stdout.strip(), pair.second, data)


# --------------------------------------------------------------------------
# Without the flag: the legacy tool's portable data hash


def test_without_the_flag_the_portable_data_hash_is_legacys(cluster, tools, layer_pair):  # noqa: F811
    pair = layer_pair
    repo, tag = pair.first.tag.split(":")
    data = saved(pair.first)
    legacy = ok(tools.legacy(repo, tag)).stdout.strip()
    legacy_pdh = collection(cluster, legacy)["portable_data_hash"]
    assert legacy_pdh == pdh_of(one_file_manifest(data, pair.first.id + ".tar"))
    cluster.reset()
    ours = ok(tools.ours(repo, tag)).stdout.strip()
    coll = collection(cluster, ours)
    assert coll["portable_data_hash"] == legacy_pdh
    assert LAYERS not in coll["properties"]
    cluster.reset()
    aligned = ok(tools.ours("--reuse-layers", repo, tag)).stdout.strip()
    coll = collection(cluster, aligned)
    # The same bytes, other block boundaries: another portable data hash.
    assert coll["portable_data_hash"] != legacy_pdh
    assert pair.base_diff_id in coll["properties"][LAYERS]


# --------------------------------------------------------------------------
# With a resume checkpoint


def test_an_interrupted_aligned_upload_resumes(cluster, tools, tmp_path, layer_pair):  # noqa: F811
    # The checkpoint's blocks are taken by the same md5 and size check, and
    # the same file always gives the same aligned blocks.
    pair = layer_pair
    path = tmp_path / "second.tar"
    shutil.copyfile(pair.second.archive, path)
    data = path.read_bytes()
    repo, tag = pair.second.tag.split(":")
    cluster.faults(keep_put_fail={"after": 4, "count": 1000, "status": 500})
    failed = tools.ours("--retries", "0", "--reuse-layers", "--source=%s" % path, repo, tag)
    assert failed.returncode == 1, failed
    cluster.clear_faults()
    cluster.clear_log()
    rerun = ok(tools.ours("--reuse-layers", "--format=json", "--source=%s" % path, repo, tag))
    assert "Resuming previous upload" in rerun.stderr, rerun.stderr
    report = json.loads(rerun.stdout)
    sent, _ = keep_put_bytes(cluster)
    assert 0 < sent < len(data)
    assert (report["bytes_uploaded"], report["bytes_reused"]) == (sent, len(data) - sent)
    uuid = report["collection"]["uuid"]
    resumed = collection(cluster, uuid)
    check_image(cluster, tools, tmp_path, uuid, pair.second, data)
    # The collection a clean aligned upload makes.
    cluster.reset()
    clean = ok(tools.ours("--reuse-layers", "--no-cache", "--source=%s" % path, repo, tag)).stdout.strip()
    made = collection(cluster, clean)
    assert made["portable_data_hash"] == resumed["portable_data_hash"]
    assert made["properties"] == resumed["properties"]


def test_a_dry_run_says_what_would_be_reused_and_writes_nothing(cluster, tools, layer_pair):  # noqa: F811
    pair = layer_pair
    upload(tools, pair.first, "file", "--reuse-layers")
    before = cluster.dump()
    cluster.clear_log()
    dry = upload(tools, pair.second, "file", "--reuse-layers", "--dry-run", "--format=json")
    report = json.loads(dry.stdout)
    data = pair.second.archive.read_bytes()
    assert report["dry_run"] is True
    assert (report["bytes_uploaded"], report["bytes_reused"]) == (len(data) - pair.base_size, pair.base_size)
    assert keep_put_bytes(cluster) == (0, set())
    after = cluster.dump()
    assert (after["collections"], after["links"]) == (before["collections"], before["links"])


def test_arv_docker_load_passes_the_flag_through(cluster, tools, tmp_path, layer_pair):  # noqa: F811
    pair = layer_pair
    ok(tools.docker("load", "--reuse-layers", "-i", str(pair.first.archive)))
    cluster.clear_log()
    uuid = ok(tools.docker("load", "--reuse-layers", "-i", str(pair.second.archive))).stdout.strip()
    data = pair.second.archive.read_bytes()
    sent, _ = keep_put_bytes(cluster)
    assert sent == len(data) - pair.base_size
    assert collection(cluster, uuid)["portable_data_hash"] != pdh_of(one_file_manifest(data, pair.second.id + ".tar"))
