"""The Docker fixtures are real: checked against a real Docker daemon.

Covers fixtures/gen-archive (layouts, determinism, every --corrupt mode as
real `docker load` sees it), the images built from fixtures/images/, and the
test bed's local registry.  Uses $DOCKER_HOST when set; otherwise starts the
test bed's own dockerd for this module and stops it afterwards.  No Docker
means failure, never a skip.

Run: target/legacy-venv/bin/python -m pytest compat-tests/tests/test_fixtures.py
"""

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TESTBED = REPO / "compat-tests" / "docker-testbed"
FIXTURES = REPO / "fixtures"
GEN_ARCHIVE = FIXTURES / "gen-archive"
# Our own state dir, so a developer's `docker-testbed start` is never stopped.
STATE_DIR = REPO / "target" / "docker-testbed-pytest"

sys.path.insert(0, str(FIXTURES))
import genarchive  # noqa: E402

# Fresh seeds per run: Docker skips reading a layer whose chain it already
# has (see test_flip_is_missed_when_the_layer_is_already_loaded).
RUN = "%d-%d" % (os.getpid(), time.time_ns())
LAYOUTS = ["classic", "oci"]


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------
# the daemon
# --------------------------------------------------------------------------


class Docker:
    """The docker CLI bound to one daemon, plus the test bed's state dir."""

    def __init__(self, env, state_dir):
        self.env = env
        self.state_dir = state_dir

    def run(self, *args, check=True, timeout=120):
        proc = subprocess.run(
            ["docker", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            pytest.fail(
                "docker %s failed (%d): %s" % (" ".join(args), proc.returncode, proc.stderr)
            )
        return proc

    def testbed(self, *args, check=True):
        proc = subprocess.run(
            [str(TESTBED), *args, "--state-dir", str(self.state_dir)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if check and proc.returncode != 0:
            pytest.fail("docker-testbed %s failed (%d):\n%s" % (" ".join(args), proc.returncode, proc.stderr))
        return proc

    def inspect(self, ref):
        proc = self.run("image", "inspect", ref, check=False)
        if proc.returncode != 0:
            return None
        return json.loads(proc.stdout)[0]

    def load(self, path):
        return self.run("load", "-i", str(path), check=False)

    def remove(self, *refs):
        if refs:
            self.run("rmi", "-f", *refs, check=False)


def exports(text):
    """{'DOCKER_HOST': ...} from `export NAME=VALUE` lines."""
    return dict(re.findall(r"^export (\w+)=(.*)$", text, re.MULTILINE))


@pytest.fixture(scope="module")
def docker():
    env = dict(os.environ)
    started = False
    if not env.get("DOCKER_HOST"):
        proc = subprocess.run(
            [str(TESTBED), "start", "--state-dir", str(STATE_DIR)],
            env=env, capture_output=True, text=True, timeout=180,
        )
        if proc.returncode != 0:
            pytest.fail("could not get a Docker daemon (docker-testbed start exited %d):\n%s"
                        % (proc.returncode, proc.stderr))
        env.update(exports(proc.stdout))
        started = True
    bed = Docker(env, STATE_DIR)
    info = bed.run("info", "--format", "{{.ServerVersion}}", check=False)
    if info.returncode != 0:
        pytest.fail("Docker at %s does not answer: %s" % (env.get("DOCKER_HOST"), info.stderr))
    bed.server_version = info.stdout.strip()
    bed.started = started
    try:
        yield bed
    finally:
        bed.testbed("registry-stop", check=False)
        if started:
            bed.testbed("stop", check=False)


def write_archive(tmp_path, name="image.tar", **options):
    archive = genarchive.Archive(**options)
    path = tmp_path / name
    with open(path, "wb") as out:
        archive.write(out)
    return archive, path


def loaded_lines(output):
    return re.findall(r"^Loaded image(?: ID)?: (\S+)$", output, re.MULTILINE)


# --------------------------------------------------------------------------
# the generator on its own
# --------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("corrupt", [None, *genarchive.CORRUPT_MODES])
def test_generation_is_byte_deterministic(layout, corrupt):
    options = dict(layout=layout, repo_tags=["kdtest/det:1"], layers=3,
                   layer_size=70000, seed="det", corrupt=corrupt)
    first = genarchive.Archive(**options).to_bytes()
    assert first == genarchive.Archive(**options).to_bytes()
    assert len(first) == genarchive.Archive(**options).describe()["size"]
    assert first != genarchive.Archive(**dict(options, seed="det2")).to_bytes()


def test_cli_matches_module_and_options_matter(tmp_path):
    argv = ["--layout", "oci", "--repo-tag", "a/b:c", "--repo-tag", "localhost:5000/x/y:z",
            "--layers", "2", "--layer-size", "3000", "--seed", "cli",
            "--created", "2023-05-02T16:49:27Z"]
    out = subprocess.run([str(GEN_ARCHIVE), *argv, "-o", "-"], capture_output=True, check=True).stdout
    subprocess.run([str(GEN_ARCHIVE), *argv, "-o", str(tmp_path / "f.tar")], check=True)
    module = genarchive.Archive(
        layout="oci", repo_tags=["a/b:c", "localhost:5000/x/y:z"], layers=2,
        layer_size=3000, seed="cli", created="2023-05-02T16:49:27Z",
    )
    assert out == (tmp_path / "f.tar").read_bytes() == module.to_bytes()
    described = json.loads(subprocess.run([str(GEN_ARCHIVE), *argv, "--describe"],
                                          capture_output=True, check=True).stdout)
    assert described == module.describe()
    assert json.loads(module.image.config_bytes)["created"] == "2023-05-02T16:49:27Z"
    other = genarchive.Archive(layout="oci", repo_tags=["a/b:c", "localhost:5000/x/y:z"],
                               layers=2, layer_size=3000, seed="cli")
    assert other.to_bytes() != out  # --created changes the config and mtimes
    bad = subprocess.run([str(GEN_ARCHIVE), "--repo-tag", "no-tag", "--describe"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "NAME:TAG" in bad.stderr


@pytest.mark.parametrize("layout", LAYOUTS)
def test_archive_structure(layout):
    archive = genarchive.Archive(layout=layout, repo_tags=["kdtest/s:1", "kdtest/s:2"],
                                 layers=3, layer_size=5000, seed="structure")
    info = archive.describe()
    tar = tarfile.open(fileobj=io.BytesIO(archive.to_bytes()))
    members = tar.getmembers()
    names = [m.name + ("/" if m.isdir() else "") for m in members]
    assert names == info["members"]
    # Docker tars a directory walk: children right after their directory.
    assert names == sorted(names, key=lambda n: n.rstrip("/").split("/"))
    assert all(m.uid == 0 and m.gid == 0 for m in members)
    read = lambda name: tar.extractfile(name).read()  # noqa: E731

    manifest = json.loads(read("manifest.json"))
    assert len(manifest) == 1
    entry = manifest[0]
    assert entry["RepoTags"] == ["kdtest/s:1", "kdtest/s:2"]
    config = read(entry["Config"])
    assert sha256(config) == info["image_id"] == info["config_digest"]
    assert entry["Config"] == info["config_member"]
    parsed = json.loads(config)
    assert parsed["rootfs"] == {"type": "layers", "diff_ids": info["diff_ids"]}
    assert parsed["created"] == genarchive.DEFAULT_CREATED
    assert parsed["os"] == "linux" and parsed["architecture"] == "amd64"
    assert len(parsed["history"]) == 4
    for member, diff_id in zip(entry["Layers"], info["diff_ids"]):
        layer = read(member)
        assert sha256(layer) == diff_id
        inner = tarfile.open(fileobj=io.BytesIO(layer)).getnames()
        assert inner[0] == "kdtest" and inner[-1].endswith(".bin")
    repositories = json.loads(read("repositories"))
    assert set(repositories) == {"kdtest/s"} and set(repositories["kdtest/s"]) == {"1", "2"}

    if layout == "classic":
        assert entry["Config"] == info["image_id"][7:] + ".json"
        for member in entry["Layers"]:
            layer_dir = member.split("/")[0]
            assert read(layer_dir + "/VERSION") == b"1.0"
            assert json.loads(read(layer_dir + "/json"))["id"] == layer_dir
        assert repositories["kdtest/s"]["1"] == entry["Layers"][-1].split("/")[0]
        assert "LayerSources" not in entry
    else:
        assert entry["Config"] == "blobs/sha256/" + info["image_id"][7:]
        assert read("oci-layout") == b'{"imageLayoutVersion": "1.0.0"}'
        for m in members:
            if m.isfile() and m.name.startswith("blobs/sha256/"):
                assert sha256(read(m.name)) == "sha256:" + m.name.rsplit("/", 1)[1]
        index = json.loads(read("index.json"))
        assert [d["annotations"]["io.containerd.image.name"] for d in index["manifests"]] == [
            "docker.io/kdtest/s:1", "docker.io/kdtest/s:2"]
        oci_manifest = json.loads(read("blobs/sha256/" + index["manifests"][0]["digest"][7:]))
        assert oci_manifest["config"]["digest"] == info["image_id"]
        assert [l["digest"] for l in oci_manifest["layers"]] == info["diff_ids"]
        assert set(entry["LayerSources"]) == set(info["diff_ids"])
        assert repositories["kdtest/s"]["1"] == info["diff_ids"][-1][7:]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_corrupt_modes_are_corrupt_as_documented(layout):
    def build(corrupt):
        archive = genarchive.Archive(layout=layout, repo_tags=["kdtest/c:1"], layers=2,
                                     layer_size=9000, seed="corrupt", corrupt=corrupt)
        return archive, archive.to_bytes()

    valid, valid_bytes = build(None)
    info = valid.describe()

    _, data = build("flip-layer-byte")
    tar = tarfile.open(fileobj=io.BytesIO(data))
    flipped = tar.extractfile(info["layer_members"][0]).read()
    assert sha256(flipped) != info["diff_ids"][0]
    assert len(data) == len(valid_bytes)
    assert sum(a != b for a, b in zip(data, valid_bytes)) == 1

    archive, data = build("wrong-config-digest")
    tar = tarfile.open(fileobj=io.BytesIO(data))
    content = tar.extractfile(info["config_member"]).read()
    assert sha256(content) != info["config_digest"]
    assert archive.describe()["image_id"] == sha256(content)
    assert json.loads(tar.extractfile("manifest.json").read())[0]["Config"] == info["config_member"]

    _, data = build("two-images")
    manifest = json.loads(tarfile.open(fileobj=io.BytesIO(data)).extractfile("manifest.json").read())
    assert len(manifest) == 2 and manifest[1]["RepoTags"] is None

    _, data = build("no-manifest")
    names = tarfile.open(fileobj=io.BytesIO(data)).getnames()
    assert "manifest.json" not in names and info["config_member"] in names

    _, data = build("manifest-last")
    assert tarfile.open(fileobj=io.BytesIO(data)).getnames()[-1] == "manifest.json"
    assert sorted(tarfile.open(fileobj=io.BytesIO(data)).getnames()) == sorted(
        tarfile.open(fileobj=io.BytesIO(valid_bytes)).getnames())

    _, data = build("truncated")
    assert valid_bytes.startswith(data) and len(data) < len(valid_bytes)
    with pytest.raises(tarfile.ReadError):
        tar = tarfile.open(fileobj=io.BytesIO(data))
        for member in tar:
            if member.isfile():
                tar.extractfile(member).read()

    _, data = build("not-tar")
    assert len(data) == len(valid_bytes)
    with pytest.raises(tarfile.ReadError):
        tarfile.open(fileobj=io.BytesIO(data))


def test_large_archive_streams_in_bounded_memory():
    # 2 x 48 MiB through a pipe; the generator's peak RSS stays small.
    argv = [str(GEN_ARCHIVE), "--layers", "2", "--layer-size", "48M", "--seed", "big", "-o", "-"]
    probe = (
        "import resource, subprocess, sys, hashlib\n"
        "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE)\n"
        "h, n = hashlib.sha256(), 0\n"
        "for block in iter(lambda: p.stdout.read(1 << 20), b''):\n"
        "    h.update(block); n += len(block)\n"
        "assert p.wait() == 0\n"
        "print(n, h.hexdigest(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    size, digest, max_rss_kib = subprocess.run(
        [sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=True
    ).stdout.split()
    archive = genarchive.Archive(layers=2, layer_size=48 << 20, seed="big")
    assert int(size) == archive.size > 96 << 20
    streamed = hashlib.sha256()
    for piece in archive.chunks():
        streamed.update(piece)
    assert digest == streamed.hexdigest()
    assert int(max_rss_kib) < 64 * 1024


# --------------------------------------------------------------------------
# against the daemon
# --------------------------------------------------------------------------


def test_testbed_start_reuses_and_never_stops_a_foreign_daemon(docker, tmp_path):
    if docker.started:
        # A second start finds our daemon and hands out the same socket.
        again = docker.testbed("start")
        assert exports(again.stdout)["DOCKER_HOST"] == docker.env["DOCKER_HOST"]
        assert "reusing our dockerd" in again.stderr
        assert "daemon:      ours" in docker.testbed("status").stdout
    # With DOCKER_HOST answering, start adopts it and stop leaves it running.
    other = Docker(docker.env, tmp_path / "state")
    started = other.testbed("start")
    assert exports(started.stdout)["DOCKER_HOST"] == docker.env["DOCKER_HOST"]
    assert "using the existing Docker daemon" in started.stderr
    assert (other.state_dir / "owner").read_text() == "external\n"
    stopped = other.testbed("stop")
    assert "leaving the user's Docker daemon" in stopped.stderr
    assert docker.run("info", "--format", "{{.ServerVersion}}").stdout.strip() == docker.server_version


@pytest.mark.parametrize("layout", LAYOUTS)
def test_docker_loads_generated_archive(docker, tmp_path, layout):
    tags = ["kdtest-gen/%s:t1" % layout, "localhost:5000/kdtest-gen/%s:1.0.2-rc1" % layout]
    archive, path = write_archive(tmp_path, layout=layout, repo_tags=tags, layers=3,
                                  layer_size=20000, seed="load-%s-%s" % (layout, RUN))
    try:
        proc = docker.load(path)
        assert proc.returncode == 0, proc.stderr
        assert loaded_lines(proc.stdout) == tags
        inspected = docker.inspect(tags[0])
        assert inspected["Id"] == archive.describe()["image_id"] == sha256(archive.image.config_bytes)
        assert sorted(inspected["RepoTags"]) == sorted(tags)
        assert inspected["Created"] == genarchive.DEFAULT_CREATED
        assert inspected["RootFS"]["Layers"] == archive.describe()["diff_ids"]
    finally:
        docker.remove(*tags)


def test_docker_save_reproduces_generated_archive(docker, tmp_path):
    """Load a generated archive, `docker save` it by tag: a graph-driver
    daemon older than 25 writes back exactly the bytes we generated."""
    tag = "kdtest-gen/roundtrip:v1"
    archive, path = write_archive(tmp_path, layout="classic", repo_tags=[tag], layers=2,
                                  layer_size=30000, seed="roundtrip-" + RUN)
    saved = tmp_path / "saved.tar"
    try:
        assert docker.load(path).returncode == 0
        docker.run("save", "-o", str(saved), tag)
    finally:
        docker.remove(tag)
    saved_bytes = saved.read_bytes()
    names = tarfile.open(fileobj=io.BytesIO(saved_bytes)).getnames()
    if "oci-layout" not in names:
        assert saved_bytes == path.read_bytes()
    else:  # Docker >= 25 wrote the OCI layout: compare what it points to
        oci = genarchive.Archive(layout="oci", repo_tags=[tag], layers=2,
                                 layer_size=30000, seed="roundtrip-" + RUN)
        manifest = json.loads(tarfile.open(saved).extractfile("manifest.json").read())
        assert manifest[0]["Config"] == oci.describe()["config_member"]
        assert manifest[0]["Layers"] == oci.describe()["layer_members"]


# What Debian's Docker 20.10 does with each corrupt archive (and, by the
# same load code, Docker 25-28 with the graph-driver store).
LOAD_OUTCOMES = {
    "flip-layer-byte": ("fails", "invalid diffID for layer 0"),
    "wrong-config-digest": ("loads", None),
    "two-images": ("loads", None),
    "no-manifest": {"classic": ("loads", None), "oci": ("fails", "no such file or directory")},
    "manifest-last": ("loads", None),
    "truncated": ("fails", "unexpected EOF"),
    "not-tar": ("fails", "invalid tar header"),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("mode", list(LOAD_OUTCOMES))
def test_docker_load_of_corrupt_archive(docker, tmp_path, layout, mode):
    tag = "kdtest-corrupt/%s:%s" % (layout, mode)
    archive, path = write_archive(tmp_path, layout=layout, repo_tags=[tag], layers=2,
                                  layer_size=10000, seed="%s-%s-%s" % (mode, layout, RUN),
                                  corrupt=mode)
    info = archive.describe()
    outcome, message = LOAD_OUTCOMES[mode] if isinstance(LOAD_OUTCOMES[mode], tuple) \
        else LOAD_OUTCOMES[mode][layout]
    docker.remove(tag)  # a run killed before its cleanup may have left it
    proc = docker.load(path)
    cleanup = [tag] + [i["image_id"] for i in info["images"]]
    try:
        if outcome == "fails":
            assert proc.returncode != 0, proc.stdout
            assert message in proc.stderr
            assert docker.inspect(tag) is None
            return
        assert proc.returncode == 0, proc.stderr
        loaded = docker.inspect(tag)
        cleanup.append(loaded["Id"])
        if mode == "wrong-config-digest":
            # Docker names the image by the bytes it got, not by the file name.
            assert loaded["Id"] == info["image_id"] != info["config_digest"]
        elif mode == "two-images":
            second = info["images"][1]["image_id"]
            assert loaded["Id"] == info["image_id"]
            assert docker.inspect(second)["RepoTags"] == []
            assert loaded_lines(proc.stdout) == [tag, info["image_id"], second]
        elif mode == "no-manifest":
            # classic: the pre-1.10 `repositories` + v1 json path; the image
            # it makes is NOT the config's (a different, v1-derived id).
            assert loaded["Id"] != info["image_id"]
            assert proc.stdout == ""
        else:
            assert loaded["Id"] == info["image_id"]
    finally:
        docker.remove(*cleanup)


def test_flip_is_missed_when_the_layer_is_already_loaded(docker, tmp_path):
    """Docker does not read a layer whose chain it already has, so a
    flipped byte in such a layer goes unnoticed: corrupt-archive tests must
    use a seed no earlier load used."""
    seed = "flip-dup-" + RUN
    good, good_path = write_archive(tmp_path, "good.tar", repo_tags=["kdtest-flip/good:1"],
                                    seed=seed)
    _, bad_path = write_archive(tmp_path, "bad.tar", repo_tags=["kdtest-flip/bad:1"],
                                seed=seed, corrupt="flip-layer-byte")
    try:
        assert docker.load(good_path).returncode == 0
        proc = docker.load(bad_path)
        assert proc.returncode == 0, proc.stderr
        assert docker.inspect("kdtest-flip/bad:1")["Id"] == good.describe()["image_id"]
    finally:
        docker.remove("kdtest-flip/good:1", "kdtest-flip/bad:1")


EXPECTED_FIXTURE_TAGS = {
    "kdtest-plain:v1",
    "kdtest/multi:1.0.2-rc1",
    "kdtest/multi:latest",
    "localhost:5000/kdtest/reg:edge",
    "kdtest-other:v2",
}


def test_fixture_images_build_and_save(docker, tmp_path):
    first = docker.testbed("build").stdout
    again = docker.testbed("build").stdout
    assert first == again  # idempotent: same tags, same ids
    built = dict(line.split() for line in first.splitlines())
    assert set(built) == EXPECTED_FIXTURE_TAGS
    assert built["kdtest/multi:1.0.2-rc1"] == built["kdtest/multi:latest"]
    assert len({built[t] for t in EXPECTED_FIXTURE_TAGS}) == 4
    for tag, image_id in built.items():
        inspected = docker.inspect(tag)
        assert inspected["Id"] == image_id and tag in inspected["RepoTags"]
        saved = tmp_path / "saved.tar"
        docker.run("save", "-o", str(saved), tag)
        with tarfile.open(saved) as tar:
            manifest = json.loads(tar.extractfile("manifest.json").read())
            assert len(manifest) == 1 and manifest[0]["RepoTags"] == [tag]
            config_name = manifest[0]["Config"]
            digest = re.sub(r"^blobs/sha256/|\.json$", "", config_name)
            assert "sha256:" + digest == image_id
            assert sha256(tar.extractfile(config_name).read()) == image_id


def test_registry_push_and_pull(docker, tmp_path):
    # No --port: the test bed takes a free one (never a fixed 5000 that
    # another run or another registry may hold).
    proc = docker.testbed("registry-start")
    registry = exports(proc.stdout)["KDTEST_REGISTRY"]
    assert re.fullmatch(r"127\.0\.0\.1:\d+", registry), registry
    tag = "kdtest-reg/pushed:v1"
    archive, path = write_archive(tmp_path, repo_tags=[tag], layers=2, layer_size=40000,
                                  seed="registry-" + RUN)
    image_id = archive.describe()["image_id"]
    target = "%s/kdtest-reg/pushed:v1" % registry
    try:
        assert docker.load(path).returncode == 0
        env = dict(docker.env, KDTEST_REGISTRY=registry)
        pushed = subprocess.run([str(TESTBED), "registry-push", tag, "--state-dir",
                                 str(docker.state_dir)], env=env, capture_output=True,
                                text=True, timeout=120)
        assert pushed.returncode == 0, pushed.stderr
        assert pushed.stdout.strip() == target
        # Remove every local name so the pull really transfers the layers.
        docker.remove(tag, target, image_id)
        assert docker.inspect(image_id) is None
        docker.run("pull", target)
        pulled = docker.inspect(target)
        assert pulled["Id"] == image_id
        assert pulled["RepoDigests"][0].startswith("%s/kdtest-reg/pushed@sha256:" % registry)
    finally:
        docker.remove(tag, target, image_id)
        docker.testbed("registry-stop")
