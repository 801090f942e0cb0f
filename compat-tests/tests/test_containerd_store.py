"""The daemon source with Docker's containerd image store (issue 8, item 4).

With the containerd store `docker image inspect` gives an image's manifest or
index digest as its `Id`. Compute nodes with the classic store load the image
by its config digest. So ours records the config digest (read from the saved
archive's manifest.json) as the image id, and the manifest digest as the
collection property `docker-image-manifest-digest`.

The test bed's daemon uses the classic store, so these tests put
compat-tests/fake-containerd-docker first on PATH as `docker`. It is a test
double used for this case only: it forwards to the real docker and reports
each image's `Id` as a made-up manifest digest, as a containerd-store daemon
does (see its docstring).
"""

import json
import subprocess

from conftest import ROOT
from test_daemon_source import fresh_uploads
from test_source_file import collections, docker_links, normalized, ok

PLAIN = "kdtest-plain:v1"
FAKE = ROOT / "compat-tests" / "fake-containerd-docker"
PROPERTY = "docker-image-manifest-digest"


def containerd_env(tmp_path, base_path):
    """A PATH whose `docker` is the containerd-store double, which every
    request must go through (not the daemon's socket, test_engine_socket.py)."""
    bin_dir = tmp_path / "containerd-bin"
    bin_dir.mkdir(exist_ok=True)
    link = bin_dir / "docker"
    if not link.exists():
        link.symlink_to(FAKE)
    return {"PATH": "%s:%s" % (bin_dir, base_path), "ARV_KEEPDOCKER_USE_DOCKER_CLI": "1"}


def manifest_digest(image_id):
    out = subprocess.run([str(FAKE), "digest", image_id], stdout=subprocess.PIPE, check=True)
    return out.stdout.decode().strip()


def without_property(state):
    """normalized() with the manifest digest property taken out."""
    colls = []
    for name, pdh, owner, props in state["collections"]:
        props = json.loads(props)
        props.pop(PROPERTY, None)
        colls.append((name, pdh, owner, json.dumps(props, sort_keys=True)))
    return {"collections": sorted(colls), "links": state["links"]}


def test_the_double_reports_a_manifest_digest(tools, image_of, tmp_path):
    image = image_of(PLAIN)
    env = tools.env(extra=containerd_env(tmp_path, tools.env()["PATH"]))
    out = subprocess.run(["docker", "image", "inspect", PLAIN], env=env, stdout=subprocess.PIPE, check=True)
    assert manifest_digest(image.id) in out.stdout.decode()
    assert image.id not in out.stdout.decode()


def test_upload_records_the_config_digest_and_the_manifest_digest(cluster, tools, image_of, tmp_path):
    image = image_of(PLAIN)
    digest = manifest_digest(image.id)
    ok(tools.ours(PLAIN))
    classic = normalized(cluster)

    cluster.reset()
    extra = containerd_env(tmp_path, tools.env()["PATH"])
    result = ok(tools.ours(PLAIN, extra_env=extra))
    dump = cluster.dump()
    [coll] = collections(dump)
    assert result.stdout == coll["uuid"] + "\n"
    # The same collection (name, PDH: the tar is named by the config digest)
    # and the same links as from a classic store, plus the property.
    assert coll["properties"] == {"docker-image-repo-tag": PLAIN, PROPERTY: digest}
    assert without_property(normalized(cluster)) == classic
    names = sorted(l["name"] for l in docker_links(dump))
    assert names == sorted([image.id, PLAIN])
    assert digest not in str(dump["links"])
    assert "containerd image store" in result.stderr


def test_rerun_finds_it_by_the_manifest_digest_without_uploading(cluster, tools, image_of, tmp_path):
    image_of(PLAIN)
    extra = containerd_env(tmp_path, tools.env()["PATH"])
    first = ok(tools.ours(PLAIN, extra_env=extra))
    before = normalized(cluster)
    cluster.clear_log()
    again = ok(tools.ours(PLAIN, extra_env=extra))
    assert again.stdout == first.stdout
    assert fresh_uploads(cluster) == []
    assert normalized(cluster) == before


def test_the_manifest_digest_finds_it_in_arvados(cluster, tools, image_of, tmp_path):
    """`arv-keepdocker sha256:<manifest digest>` on a host whose Docker does
    not know that digest (a classic store): the Arvados fallback finds the
    image by the property, and nothing is uploaded."""
    image = image_of(PLAIN)
    extra = containerd_env(tmp_path, tools.env()["PATH"])
    first = ok(tools.ours(PLAIN, extra_env=extra))
    cluster.clear_log()
    found = ok(tools.ours(manifest_digest(image.id)))
    assert found.stdout == first.stdout
    assert fresh_uploads(cluster) == []
    assert len(collections(cluster.dump())) == 1


def test_an_image_stored_from_a_classic_store_is_adopted(cluster, tools, image_of, tmp_path):
    """Stored before by its config digest (no property): the containerd run
    learns the config digest from the archive, then finds and reuses it."""
    image_of(PLAIN)
    first = ok(tools.ours(PLAIN))
    before = normalized(cluster)
    extra = containerd_env(tmp_path, tools.env()["PATH"])
    again = ok(tools.ours(PLAIN, extra_env=extra))
    assert again.stdout == first.stdout
    assert normalized(cluster) == before


def test_force_uploads_again_and_records_the_property(cluster, tools, image_of, tmp_path):
    image = image_of(PLAIN)
    extra = containerd_env(tmp_path, tools.env()["PATH"])
    ok(tools.ours(PLAIN, extra_env=extra))
    ok(tools.ours("--force", PLAIN, extra_env=extra))
    colls = collections(cluster.dump())
    assert len(colls) == 2
    assert {c["properties"][PROPERTY] for c in colls} == {manifest_digest(image.id)}
    assert len({c["portable_data_hash"] for c in colls}) == 1
