"""`--source=docker://REF`: an image pulled from a registry straight into
Keep, with no Docker daemon and no temporary file (issue 15), end to end.

Our command runs with no `docker` on its PATH against Debian's
docker-registry (the variants of ``registry_testbed``: anonymous HTTP,
HTTPS with Basic auth, token auth, a fault-injecting proxy) and the
simulated cluster. What it stores is checked where Arvados uses it: read
back with the legacy `arv-get`, loaded by the test Docker daemon, read by
skopeo's `docker-archive:` reader (the one Singularity uses), listed by the
legacy tool and found by the server's image resolution; and it is compared
with what a user gets without the registry source: `docker pull`, then the
legacy tool's upload.
"""

import base64
import json
import socket
import subprocess

import pytest
from conftest import docker, expected_name
from registry_testbed import PASSWORD, USER, anonymous_proxy, credential_helper, registries  # noqa: F401

ERROR = " arvados.keepdocker["
HASH, REPO_TAG = "docker_image_hash", "docker_image_repo+tag"


@pytest.fixture
def pull(tools, tmp_path):
    """Runs our tool with a PATH holding no `docker` (only the test's
    credential helpers), and a HOME with ~/.docker/config.json to fill."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("docker", "skopeo"):
        assert not (bin_dir / name).exists()

    class Pull:
        home = tools.env()["HOME"]
        docker_dir = tmp_path / ("home-default") / ".docker"

        @staticmethod
        def run(*args, extra_env=None, **kw):
            env = {"PATH": str(bin_dir), "DOCKER_HOST": None}
            env.update(extra_env or {})
            return tools.ours(*args, extra_env=env, **kw)

        @classmethod
        def config(cls, value):
            cls.docker_dir.mkdir(exist_ok=True)
            (cls.docker_dir / "config.json").write_text(json.dumps(value))

        @classmethod
        def auths(cls, registry, password=PASSWORD):
            token = base64.b64encode(("%s:%s" % (USER, password)).encode()).decode()
            cls.config({"auths": {registry: {"auth": token}}})

        @staticmethod
        def helper(name, registry):
            credential_helper(bin_dir, name, registry)

    return Pull


def records(cluster):
    dump = cluster.dump()
    colls = [c for c in dump["collections"] if not c.get("is_trashed")]
    links = [l for l in dump["links"] if l["link_class"] in (HASH, REPO_TAG)]
    return colls, links


def image_file(coll):
    [stream] = coll["manifest_text"].splitlines()
    name = stream.split()[-1].split(":", 2)[2]
    return name.replace("\\072", ":")


def read_back(tools, uuid, tmp_path):
    """The image file, as the legacy arv-get reads it from Keep."""
    out = tmp_path / ("read-" + uuid)
    out.mkdir()
    got = tools.legacy(uuid + "/", str(out), tool="arv-get")
    assert got.returncode == 0, got
    [path] = list(out.iterdir())
    return path


def docker_loads(path, image_id):
    """The test daemon loads the file and gets `image_id` (then forgets it)."""
    with open(path, "rb") as f:
        loaded = subprocess.run(["docker", "load"], stdin=f, capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert image_id in loaded.stdout or ("Loaded image: " in loaded.stdout), loaded.stdout
    inspect = docker("image", "inspect", "--format", "{{.Id}}", image_id, check=False)
    assert inspect.stdout.decode().strip() == image_id, inspect
    docker("rmi", "-f", image_id, check=False)


def skopeo_reads(path, image_id, layers):
    # docker-archive:PATH[:REF]: a colon in the file name would start REF.
    link = path.parent / "image.tar"
    link.symlink_to(path.name)
    path = link
    inspect = subprocess.run(
        ["skopeo", "inspect", "--raw", "docker-archive:%s" % path], capture_output=True, text=True
    )
    assert inspect.returncode == 0, inspect.stderr
    manifest = json.loads(inspect.stdout)
    assert manifest["config"]["digest"] == image_id
    assert len(manifest["layers"]) == layers
    config = subprocess.run(
        ["skopeo", "inspect", "--config", "docker-archive:%s" % path], capture_output=True, text=True
    )
    assert config.returncode == 0, config.stderr


def one_error(result):
    assert result.returncode == 1, result
    assert result.stdout == ""
    errors = [l for l in result.stderr.splitlines() if ERROR in l and " ERROR: " in l]
    assert len(errors) == 1, result.stderr
    return errors[0].split(" ERROR: ", 1)[1]


# --------------------------------------------------------------------------
# What is stored, and where it is used


def test_a_pull_stores_what_docker_pull_then_a_legacy_upload_names(
    cluster, tools, pull, registries, tmp_path, docker_host
):
    registry = registries.get("anonymous")
    image = registries.content["plain"]
    name = "%s/kdtest/plain:v1" % registry.address
    result = pull.run("--no-progress", "--source=docker://" + name)
    assert result.returncode == 0, result
    colls, links = records(cluster)
    [coll] = colls
    assert result.stdout == coll["uuid"] + "\n"
    assert image_file(coll) == image.image_id + ".tar"
    assert coll["name"] == expected_name(name, image.image_id)
    props = coll["properties"]
    assert props["docker-image-repo-tag"] == name
    assert props["docker-image-pulled-from"] == "%s@%s" % (name, image.manifest_digest)
    assert props["docker-image-manifest-digest"] == image.manifest_digest
    ours = sorted((l["link_class"], l["name"], l["head_uuid"]) for l in links)
    assert ours == [(HASH, image.image_id, coll["uuid"]), (REPO_TAG, name, coll["uuid"])]

    # Where Arvados uses it: read back, loaded, read by skopeo, listed by
    # the legacy tool, found by the server's image resolution.
    path = read_back(tools, coll["uuid"], tmp_path)
    assert path.name == image.image_id + ".tar"
    docker_loads(path, image.image_id)
    skopeo_reads(path, image.image_id, len(image.layers))
    listing = tools.legacy()
    assert listing.returncode == 0, listing
    [row] = listing.stdout.splitlines()[1:]
    assert row.split()[:4] == ["%s/kdtest/plain" % registry.address, "v1", image.image_id[:12], coll["uuid"]]
    assert cluster.resolve(name)["pdh"] == coll["portable_data_hash"]
    assert cluster.resolve(image.image_id)["pdh"] == coll["portable_data_hash"]

    # Without the registry source: docker pull, then the legacy upload, on
    # a fresh cluster. The same image file, name, links and listing row.
    cluster.reset()
    docker("rmi", "-f", name, check=False)
    docker("pull", "-q", name)
    try:
        legacy = tools.legacy("--no-progress", "%s/kdtest/plain" % registry.address, "v1")
    finally:
        docker("rmi", "-f", name, check=False)
    assert legacy.returncode == 0, legacy
    [theirs] = records(cluster)[0]
    assert image_file(theirs) == image_file(coll)
    assert theirs["name"] == coll["name"]
    assert theirs["properties"]["docker-image-repo-tag"] == props["docker-image-repo-tag"]
    their_links = sorted((l["link_class"], l["name"]) for l in records(cluster)[1])
    assert their_links == [(c, n) for c, n, _ in ours]
    legacy_row = tools.legacy().stdout.splitlines()[1]
    assert legacy_row.split()[:3] == row.split()[:3]
    assert legacy_row.split()[4:] == row.split()[4:]  # CREATED: the image's own time


def test_compressed_layers_store_the_blobs_as_pulled(cluster, tools, pull, registries, tmp_path, docker_host):
    registry = registries.get("anonymous")
    image = registries.content["plain"]
    result = pull.run("--no-progress", "--compressed-layers", "--source=docker://%s/kdtest/plain:v1" % registry.address)
    assert result.returncode == 0, result
    [coll] = records(cluster)[0]
    path = read_back(tools, coll["uuid"], tmp_path)
    # The layer blobs, byte for byte as the registry holds them.
    for layer in image.layers:
        hex_digest = layer["digest"].split(":", 1)[1]
        member = subprocess.run(
            ["tar", "-xOf", str(path), "blobs/sha256/" + hex_digest], capture_output=True
        )
        assert member.returncode == 0, member.stderr
        assert len(member.stdout) == layer["size"]
    docker_loads(path, image.image_id)
    skopeo_reads(path, image.image_id, len(image.layers))


def test_already_in_arvados_pulls_no_blob(cluster, pull, registries, anonymous_proxy):
    image = registries.content["plain"]
    name = "%s/kdtest/plain:v1" % anonymous_proxy.address
    first = pull.run("--no-progress", "--source=docker://" + name)
    assert first.returncode == 0, first
    anonymous_proxy.reset()
    again = pull.run("--no-progress", "--source=docker://" + name)
    assert again.returncode == 0, again
    assert again.stdout == first.stdout
    assert len(records(cluster)[0]) == 1
    for layer in image.layers:
        assert anonymous_proxy.blob_requests(layer["digest"]) == []


def test_by_digest_without_a_name_is_stored_by_id_only(cluster, pull, registries):
    registry = registries.get("anonymous")
    image = registries.content["plain"]
    result = pull.run("--no-progress", "--source=docker://%s/kdtest/plain@%s" % (registry.address, image.manifest_digest))
    assert result.returncode == 0, result
    colls, links = records(cluster)
    assert image_file(colls[0]) == image.image_id + ".tar"
    assert [(l["link_class"], l["name"]) for l in links] == [(HASH, image.image_id)]
    # With a name, that name.
    cluster.reset()
    named = pull.run(
        "--no-progress", "--source=docker://%s/kdtest/plain@%s" % (registry.address, image.manifest_digest), "lab/plain:pinned"
    )
    assert named.returncode == 0, named
    assert sorted((l["link_class"], l["name"]) for l in records(cluster)[1]) == [
        (HASH, image.image_id),
        (REPO_TAG, "lab/plain:pinned"),
    ]


def test_a_platform_of_a_multi_platform_index(cluster, pull, registries):
    registry = registries.get("anonymous")
    reference = "--source=docker://%s/kdtest/multi:v1" % registry.address
    result = pull.run("--no-progress", reference, "--platform=linux/arm64")
    assert result.returncode == 0, result
    [coll] = records(cluster)[0]
    assert image_file(coll) == registries.content["multi-arm64"].image_id + ".tar"
    # Provenance: the platform's manifest; the containerd store's name for
    # the image: the index it was chosen from.
    arm64, index = registries.content["multi-arm64"], registries.content["multi-index"]
    assert coll["properties"]["docker-image-pulled-from"] == "%s/kdtest/multi:v1@%s" % (
        registry.address,
        arm64.manifest_digest,
    )
    assert coll["properties"]["docker-image-manifest-digest"] == index.manifest_digest
    cluster.reset()
    result = pull.run("--no-progress", reference)
    assert result.returncode == 0, result
    [coll] = records(cluster)[0]
    assert image_file(coll) == registries.content["multi-amd64"].image_id + ".tar"


def test_https_with_basic_auth_and_a_credential_helper(cluster, pull, registries):
    registry = registries.get("basic-tls")
    pull.helper("kdtest", registry.address)
    pull.config({"credHelpers": {registry.address: "kdtest"}})
    result = pull.run(
        "--no-progress",
        "--source=docker://%s/kdtest/plain:v1" % registry.address,
        extra_env={"SSL_CERT_FILE": str(registries.ca)},
    )
    assert result.returncode == 0, result
    assert PASSWORD not in result.stderr
    [coll] = records(cluster)[0]
    assert image_file(coll) == registries.content["plain"].image_id + ".tar"


def test_token_auth_with_auths(cluster, pull, registries):
    registry = registries.get("token")
    pull.auths(registry.address)
    result = pull.run("--no-progress", "--source=docker://%s/kdtest/plain:v1" % registry.address)
    assert result.returncode == 0, result
    [coll] = records(cluster)[0]
    assert image_file(coll) == registries.content["plain"].image_id + ".tar"


def test_dry_run_makes_nothing_and_json_reports(cluster, pull, registries):
    registry = registries.get("anonymous")
    image = registries.content["plain"]
    result = pull.run("--dry-run", "--format=json", "--source=docker://%s/kdtest/plain:v1" % registry.address)
    assert result.returncode == 0, result
    report = json.loads(result.stdout)
    assert report["dry_run"] is True
    assert report["image_id"] == image.image_id
    assert report["collection"]["action"] == "upload"
    assert records(cluster) == ([], [])


# --------------------------------------------------------------------------
# Bad input: one clear error, exit status 1, the cluster unchanged



def plain_layer(registries, i):
    return registries.content["plain"].layers[i]["digest"]


FAULTS = [
    # (case, repository:tag or @digest, fault target, mode, expected error start)
    ("corrupt layer", "kdtest/plain:v1", lambda r: plain_layer(r, 1), "corrupt", "blob sha256:"),
    ("truncated layer", "kdtest/plain:v1", lambda r: plain_layer(r, 0), "truncate", "blob sha256:"),
    ("connection cut every time", "kdtest/big:v1", lambda r: r.content["big"].layers[0]["digest"], "cut-always", "blob sha256:"),
    ("missing layer", "kdtest/plain:v1", lambda r: plain_layer(r, 1), "missing", "blob sha256:"),
    ("unknown tag", "kdtest/plain:nope", None, None, "no such image in the registry"),
    ("unknown repository", "kdtest/nothing:v1", None, None, "no such image in the registry"),
    ("schema 1 manifest", "kdtest/old:v1", None, None, "schema 1"),
]


@pytest.mark.parametrize("case,ref,target,mode,expected", FAULTS, ids=[f[0] for f in FAULTS])
def test_a_fault_is_one_error_and_leaves_no_record(cluster, pull, registries, anonymous_proxy, case, ref, target, mode, expected):
    if target:
        anonymous_proxy.faults[target(registries)] = mode
    result = pull.run("--no-progress", "--retries=1", "--source=docker://%s/%s" % (anonymous_proxy.address, ref))
    error = one_error(result)
    assert expected in error, error
    # The reference, once.
    reference = "%s/%s" % (anonymous_proxy.address, ref)
    assert error.startswith(reference), error
    assert error.count(reference) == 1, error
    assert records(cluster) == ([], [])


def test_a_platform_not_offered(cluster, pull, registries):
    registry = registries.get("anonymous")
    result = pull.run("--source=docker://%s/kdtest/multi:v1" % registry.address, "--platform=linux/s390x")
    error = one_error(result)
    assert "has no image for platform linux/s390x; it offers linux/amd64, linux/arm64/v8" in error, error
    assert records(cluster) == ([], [])


def test_a_wrong_password(cluster, pull, registries):
    registry = registries.get("token")
    pull.auths(registry.address, password="wrong")
    result = pull.run("--source=docker://%s/kdtest/plain:v1" % registry.address)
    error = one_error(result)
    assert "refused the credentials of user" in error, error
    assert "wrong" not in error.split(":", 1)[0]
    assert records(cluster) == ([], [])


def test_a_registry_that_is_down(cluster, pull):
    # Bound but not listening for the whole test: refused, and no other
    # process can take the port meanwhile.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        result = pull.run("--retries=0", "--source=docker://127.0.0.1:%d/kdtest/plain:v1" % port)
    error = one_error(result)
    assert "cannot reach registry 127.0.0.1:%d" % port in error, error
    assert records(cluster) == ([], [])


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--source=docker://Bad/Upper:case"], "invalid image reference"),
        (["--source=docker://x/y:z", "--project-uuid=source"], "--project-uuid: 'source' means"),
        (["--platform=linux/amd64"], "--platform"),
    ],
)
def test_usage_errors(cluster, pull, args, expected):
    result = pull.run(*args)
    assert result.returncode == 2, result
    assert expected in result.stderr, result.stderr
    assert records(cluster) == ([], [])
