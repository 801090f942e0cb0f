"""Two images that share a large base layer, for the layer-reuse tests
(issue 16): built in the test Docker daemon `FROM scratch`, each a copy of
one base file of random bytes (more than one Keep block) plus a small file
of its own, so that their base layers are the same bytes (the same
diff_id) and their top layers differ.

    from layer_images import layer_pair   # a session fixture
    pair = layer_pair                      # pair.first, pair.second: Image
    pair.base_diff_id, pair.base_size      # the shared layer
"""

import hashlib
import json
import os
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# More than one 64 MiB Keep block, so that reuse covers a full block and a
# partial one.
BASE_SIZE = 70 * 1024 * 1024


@dataclass
class Image:
    tag: str
    id: str
    # Each layer's diff_id and its uncompressed size, base first.
    layers: list
    # What `docker save` wrote (the archive the file and stdin forms read).
    archive: Path


@dataclass
class Pair:
    first: Image
    second: Image
    base_diff_id: str
    base_size: int
    tops: list = field(default_factory=list)


def _docker(*args, **kw):
    return subprocess.run(["docker", *args], check=True, capture_output=True, **kw)


def _layers(archive: Path):
    """(diff_id, size) of each layer of a `docker save` archive."""
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))[0]
        out = []
        for name in manifest["Layers"]:
            member = tar.getmember(name)
            digest = hashlib.sha256()
            f = tar.extractfile(member)
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
            out.append(("sha256:" + digest.hexdigest(), member.size))
        return out


def build_pair(directory: Path, prefix="kdtest/layers") -> Pair:
    context = directory / "context"
    context.mkdir(parents=True)
    base = context / "base"
    with open(base, "wb") as f:
        # Deterministic bytes from a seed: the same pair on every run.
        seed = hashlib.sha256(b"kdtest shared base layer").digest()
        left, counter = BASE_SIZE, 0
        while left > 0:
            block = hashlib.sha256(seed + counter.to_bytes(8, "big")).digest() * 2048
            f.write(block[:left])
            left -= min(left, len(block))
            counter += 1
    os.utime(base, (1_600_000_000, 1_600_000_000))
    images = []
    for name in ("first", "second"):
        top = context / name
        top.write_bytes(("the %s image's own file\n" % name).encode() * 1000)
        os.utime(top, (1_600_000_000, 1_600_000_000))
        (context / ("Dockerfile." + name)).write_text("FROM scratch\nCOPY base /base\nCOPY %s /%s\n" % (name, name))
        tag = "%s-%s:1" % (prefix, name)
        _docker("build", "-q", "-t", tag, "-f", str(context / ("Dockerfile." + name)), str(context),
                env=dict(os.environ, DOCKER_BUILDKIT="0"))
        image_id = _docker("image", "inspect", "--format", "{{.Id}}", tag, text=True).stdout.strip()
        archive = directory / ("%s.tar" % name)
        with open(archive, "wb") as out:
            subprocess.run(["docker", "save", tag], check=True, stdout=out)
        images.append(Image(tag, image_id, _layers(archive), archive))
    first, second = images
    assert first.layers[0] == second.layers[0], "the base layers differ: %s" % images
    assert first.layers[1] != second.layers[1]
    return Pair(first, second, first.layers[0][0], first.layers[0][1], [first.layers[1], second.layers[1]])


@pytest.fixture(scope="session")
def layer_pair(docker_host, tmp_path_factory):
    pair = build_pair(tmp_path_factory.mktemp("layer-pair"))
    yield pair
    for image in (pair.first, pair.second):
        subprocess.run(["docker", "rmi", "-f", image.tag], capture_output=True)
