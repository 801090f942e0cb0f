"""Shared pytest fixtures for the compat suite.

What every test gets from here:

* ``cluster``: one simulated Arvados cluster for the whole session, reset to a
  fresh state (only the two users) before each test that asks for it;
* ``docker_host``: the real Docker daemon the test bed started (DOCKER_HOST);
  with no daemon the tests fail, they are never skipped;
* ``tools``: runs the legacy Python tool (the oracle) or ours with the same
  environment, each in its own HOME so that no cache leaks between runs;
* helpers to compute what a collection made from given bytes must look like
  (manifest and portable data hash), independently of the code under test;
* ``--shuffle SEED``: the suite in a random order (see pytest_addoption).
"""

import hashlib
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "compat-tests"))
sys.path.insert(0, str(ROOT / "fixtures"))

import genarchive  # noqa: E402  (fixtures/genarchive.py)

# pytest runs with the venv's python, so the pinned legacy tool is beside it.
LEGACY_BIN = Path(sys.executable).parent
OUR_BINARY = Path(os.environ.get("KDTEST_BINARY", ROOT / "target" / "release" / "arv-keepdocker"))
# `arv-docker` is the same binary started under that name (src/main.rs): a
# link to OUR_BINARY made once for the session (see `arv_docker`), as the
# Debian package installs it.

BLOCK_SIZE = 64 * 1024 * 1024

# How both tools report a failure on stderr: a legacy-format ERROR log line.
ERROR_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d arvados\.(keepdocker|arv_put)\[\d+\] ERROR: ")


# --------------------------------------------------------------------------
# --shuffle: the suite in a random order, to show that no test depends on
# another having run before it. The normal run keeps the file order.


def pytest_addoption(parser):
    parser.addoption(
        "--shuffle",
        metavar="SEED",
        help="run the test modules in a random order, and the tests within each module in a random "
        "order (module fixtures are still set up once); SEED is an integer, or 'random' for a new one. "
        "The seed is printed in the header: the same seed gives the same order.",
    )


def pytest_configure(config):
    # A suite started in the background (`run-tests &`, nohup, some CI
    # runners) inherits SIGINT ignored, and so would every tool it starts:
    # the interruption tests would signal runs that cannot hear it. A
    # handler of ours is reset to the default in each child at exec.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    seed = config.getoption("shuffle")
    if seed == "random":
        seed = str(random.SystemRandom().randrange(1 << 32))
    config.shuffle_seed = seed


def pytest_report_header(config):
    if config.shuffle_seed is not None:
        return "shuffled: --shuffle %s" % config.shuffle_seed
    return None


def pytest_terminal_summary(terminalreporter, config):
    # Also at the end: `-q` leaves out the header, and a failing order must
    # be repeatable.
    if config.shuffle_seed is not None:
        terminalreporter.write_line("shuffled: --shuffle %s" % config.shuffle_seed)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    if config.shuffle_seed is None:
        return
    rng = random.Random(config.shuffle_seed)
    modules = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    groups = list(modules.values())
    rng.shuffle(groups)
    for group in groups:
        rng.shuffle(group)
    items[:] = [item for group in groups for item in group]


# --------------------------------------------------------------------------
# Reference computations (spec §5.1, §6): written from the spec, not shared
# with the simulated cluster or the Rust code, so that a mistake in either is
# caught here.


def block_locators(data: bytes):
    """Bare locators of ``data`` cut the way arv-put cuts it (64 MiB blocks)."""
    if not data:
        return ["d41d8cd98f00b204e9800998ecf8427e+0"]
    return [
        "%s+%d" % (hashlib.md5(data[i : i + BLOCK_SIZE]).hexdigest(), len(data[i : i + BLOCK_SIZE]))
        for i in range(0, len(data), BLOCK_SIZE)
    ]


def escape_name(name: str) -> str:
    out = []
    for ch in name:
        if ch in "\\:" or ord(ch) <= 0o40:
            out.append("\\%03o" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def one_file_manifest(data: bytes, name: str) -> str:
    return ". %s 0:%d:%s\n" % (" ".join(block_locators(data)), len(data), escape_name(name))


def pdh_of(manifest: str) -> str:
    stripped = []
    for line in manifest.splitlines():
        tokens = line.split(" ")
        out = [tokens[0]]
        for tok in tokens[1:]:
            m = re.match(r"^([0-9a-f]{32})\+(\d+)(\+\S*)?$", tok)
            out.append("%s+%s" % (m.group(1), m.group(2)) if m else tok)
        stripped.append(" ".join(out).rstrip() + "\n")
    text = "".join(stripped).encode()
    return "%s+%d" % (hashlib.md5(text).hexdigest(), len(text))


def expected_name(repo_tag, image_id):
    """The default collection name (spec §7.2)."""
    if repo_tag:
        return "Docker image %s %s" % (repo_tag.replace("/", " "), image_id[:12])
    return "Docker image %s" % image_id[:12]


def generated(tmp_path, name="image.tar", **options):
    """A generated image archive written to tmp_path: (description, bytes, path)."""
    archive = genarchive.Archive(**options)
    data = archive.to_bytes()
    path = tmp_path / name
    path.write_bytes(data)
    return archive.describe(), data, path


# --------------------------------------------------------------------------
# Docker


def docker(*args, check=True, env=None, stdout=subprocess.PIPE):
    return subprocess.run(["docker", *args], check=check, stdout=stdout, stderr=subprocess.PIPE, env=env)


@pytest.fixture(scope="session")
def docker_host():
    host = os.environ.get("DOCKER_HOST")
    if not host:
        pytest.fail("DOCKER_HOST is not set: run the suite through compat-tests/run-tests")
    info = docker("info", "--format", "{{.ServerVersion}}", check=False)
    if info.returncode != 0:
        pytest.fail("the Docker daemon at %s does not answer: %s" % (host, info.stderr.decode()))
    return host


@dataclass
class Image:
    ref: str
    id: str
    archive: bytes  # what `docker save <id>` writes, as legacy uploads it
    created: str  # the config's "created", verbatim


@pytest.fixture(scope="session")
def image_of(docker_host):
    cache = {}

    def get(ref: str) -> Image:
        if ref not in cache:
            ids = json.loads(docker("inspect", "--type", "image", ref).stdout)
            image_id = ids[0]["Id"]
            archive = docker("save", image_id).stdout
            cache[ref] = Image(ref, image_id, archive, archive_created(archive))
        return cache[ref]

    return get


def archive_member(archive: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return tar.extractfile(name).read()


def archive_created(archive: bytes) -> str:
    manifest = json.loads(archive_member(archive, "manifest.json"))
    config = json.loads(archive_member(archive, manifest[0]["Config"]))
    return config.get("created")


# --------------------------------------------------------------------------
# The cluster


@pytest.fixture(scope="session")
def sim_session(tmp_path_factory):
    from simarv.client import SimCluster

    cluster = SimCluster.start(state_dir=str(tmp_path_factory.mktemp("sim")))
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster(sim_session):
    sim_session.reset()
    return sim_session


# --------------------------------------------------------------------------
# Running the tools


@dataclass
class Result:
    argv: list
    returncode: int
    stdout: str
    stderr: str

    def __str__(self):
        return "%s -> exit %d\nstdout: %s\nstderr: %s" % (self.argv, self.returncode, self.stdout, self.stderr)


SIGNATURE = re.compile(r"\+A[0-9a-f]{40}@[0-9a-f]{8}")


def assert_no_secrets(cluster, text):
    """Issue 6: no user's API token (or its secret part) in any output.
    Every run of either tool in the suite passes through here."""
    for who in ("alice", "bob"):
        user = cluster.user(who)
        for secret in (user["token"], user["secret"]):
            assert secret not in text, "the API token of %s appears in the output:\n%s" % (who, text)
    # Issue 13: DEBUG lines name blocks by hash and size, never with the
    # permission signature that lets the bearer read them.
    for line in text.splitlines():
        if " DEBUG: " in line:
            assert not SIGNATURE.search(line), "a DEBUG line shows a permission signature:\n%s" % line


class Tools:
    """Runs the legacy tool or ours against the cluster, as a given user."""

    def __init__(self, cluster, tmp_path, docker_host):
        self.cluster = cluster
        self.tmp_path = tmp_path
        self.docker_host = docker_host
        self.homes = {}

    def env(self, user="alice", home="default", extra=None):
        if home not in self.homes:
            path = self.tmp_path / ("home-" + home)
            path.mkdir()
            self.homes[home] = path
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(self.homes[home]),
            "LANG": "C.UTF-8",
            "DOCKER_HOST": self.docker_host or "",
        }
        env.update(self.cluster.env(user))
        env.update(extra or {})
        # A variable given as None is taken out of the environment.
        return {k: v for k, v in env.items() if v is not None}

    def run(self, argv, user="alice", home="default", extra_env=None, input=None, timeout=600):
        """Runs argv to completion; extra_env adds variables to the
        environment (None removes one). Both outputs pass assert_no_secrets."""
        proc = subprocess.run(
            [str(a) for a in argv],
            env=self.env(user, home, extra_env),
            input=input,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=timeout,
        )
        result = Result(
            list(argv), proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
        )
        assert_no_secrets(self.cluster, result.stdout + result.stderr)
        return result

    def legacy(self, *args, tool="arv-keepdocker", **kw):
        return self.run([LEGACY_BIN / tool, *args], **kw)

    def ours(self, *args, **kw):
        return self.run([OUR_BINARY, *args], **kw)

    def docker(self, *args, **kw):
        """Our `arv-docker`: the binary started through a link named so."""
        return self.run([self.arv_docker, *args], **kw)


@pytest.fixture(scope="session")
def arv_docker(tmp_path_factory):
    """A link named arv-docker to the binary under test."""
    link = tmp_path_factory.mktemp("bin") / "arv-docker"
    link.symlink_to(OUR_BINARY.resolve())
    return link


@pytest.fixture
def tools(cluster, tmp_path, docker_host, arv_docker):
    tools = Tools(cluster, tmp_path, docker_host)
    tools.arv_docker = arv_docker
    return tools
