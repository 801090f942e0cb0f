"""Interruptions (issue 6.2): SIGINT and SIGTERM delivered at twelve exact
points of an upload, then a rerun.

The simulated cluster holds the request that marks the point (hold(): the
run is blocked inside that request), the test signals our process, checks
what the interruption left, releases the request, and runs the same command
again. Held API requests are then carried out, as a server carries out a
request whose client went away, except where the point is "between two
calls" (then="fail": the held call never happens).

After each interruption: the process died of the signal (no UUID printed),
no `docker` child is left running, nothing in $TMPDIR, nothing in the cache
directory but lock files, no lock held, no link pointing at anything but a
complete collection. The rerun succeeds and the project holds exactly what
one clean run leaves: one collection with the clean run's portable data
hash, name and properties, and its two links.

Signals are not caught (README "Guarantees"): the tool writes no temporary
file and its lock is an flock the kernel drops, so dying of the signal is
the right behaviour. The last test shows what becomes of a `docker save`
still streaming when that happens: its next write finds the pipe broken and
it ends.
"""

import fcntl
import os
import re
import shutil
import signal
import sys
import time

import pytest
from conftest import OUR_BINARY, expected_name, generated, one_file_manifest
from robust import (
    Expected,
    cache_dir,
    check_no_dangling_links,
    check_project,
    children,
    docker_links,
    finish,
    is_running,
    live_collections,
    lock_is_free,
    start,
    wait_gone,
    waiting_for_lock,
)

PLAIN = "kdtest-plain:v1"
GEN_TAG = "kdtest/interrupted:1"

COLLECTION_CREATE = dict(method="POST", path_re="/arvados/v1/collections$")

# name: (what is uploaded, the request held at that point)
POINTS = {
    "discovery/users.current": ("daemon", dict(method="GET", path_re="/users/current$")),
    "before docker save (hash link lookup)": ("daemon", dict(method="GET", path_re="/arvados/v1/links$")),
    "Keep PUT of the first block": ("daemon", dict(server="keep", nth=1)),
    "Keep PUT of a later block": ("file", dict(server="keep", nth=3)),
    "during the collection create": ("daemon", COLLECTION_CREATE),
    "between the collection and its links": ("daemon", dict(method="POST", path_re="/links$", then="fail")),
    "between the two links": ("daemon", dict(method="POST", path_re="/links$", nth=2, then="fail")),
    "during a --project-uuid copy": ("copy", COLLECTION_CREATE),
    "during a --source=UUID copy": ("collection", COLLECTION_CREATE),
    "during a --source=FILE upload": ("file", dict(server="keep", nth=1)),
    "during a --source=- upload": ("stdin", dict(server="keep", nth=1)),
    "waiting for the image lock": ("daemon", None),
}


@pytest.fixture(scope="module")
def two_blocks(tmp_path_factory):
    """A generated archive of two Keep blocks."""
    desc, data, path = generated(
        tmp_path_factory.mktemp("interrupt"), layers=2, layer_size=34 << 20, repo_tags=[GEN_TAG], seed="interrupt"
    )
    assert len(data) > 64 << 20
    return Expected.of(data, desc["image_id"], GEN_TAG, desc["created"]), path


def held_request_done(cluster, hold):
    """Wait until a held API request that goes on was carried out."""
    if hold.get("server", "api") != "api" or hold.get("then") == "fail":
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done = [e for e in cluster.log(server="api") if e["method"] == hold["method"] and e["status"] == 200]
        if len([e for e in done if re.search(hold["path_re"], e["path"])]) >= hold.get("nth", 1):
            return
        time.sleep(0.05)
    raise AssertionError("the held request was not carried out")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("point", list(POINTS))
def test_interrupted_upload_leaves_nothing_and_a_rerun_converges(cluster, tools, image_of, two_blocks, tmp_path, point, sig):
    kind, hold = POINTS[point]
    alice = cluster.user("alice")["uuid"]
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    env = {"TMPDIR": str(tmpdir)}
    stdin = None
    home_expected = None
    if kind in ("file", "stdin"):
        expected, path = two_blocks
        argv = ["--source=%s" % path] if kind == "file" else ["--source=-"]
        stdin = path if kind == "stdin" else None
        owner = alice
    else:
        image = image_of(PLAIN)
        expected = Expected.of(image.archive, image.id, PLAIN, image.created)
        argv, owner = [PLAIN], alice
        if kind in ("copy", "collection"):
            clean = tools.ours(PLAIN, home="clean")
            assert clean.returncode == 0, clean
            home_expected = expected
            owner = cluster.create_project(alice, "interrupted copies")["uuid"]
            source = PLAIN if kind == "copy" else "--source=" + clean.stdout.strip()
            argv = [source, "--project-uuid", owner]
            cluster.clear_log()
    argv = [OUR_BINARY, *argv]

    lock_holder = None
    if hold is None:
        locks = cache_dir(tools)
        locks.mkdir(parents=True)
        lock_holder = open(locks / (expected.image_id + ".tar.lock"), "w")
        fcntl.flock(lock_holder, fcntl.LOCK_EX)
    else:
        cluster.hold(**hold)

    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as input_file:
        proc = start(tools, argv, extra_env=env, stdin=input_file)
        if hold is None:
            deadline = time.monotonic() + 60
            while not waiting_for_lock(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert waiting_for_lock(proc.pid), "the run never waited for the lock"
        else:
            assert cluster.wait_held(timeout=60, proc=proc), finish(tools, proc, argv)
        kids = children(proc.pid)
        proc.send_signal(sig)
        result = finish(tools, proc, argv)
    assert result.returncode == -sig, result
    assert result.stdout == ""
    if lock_holder is not None:
        lock_holder.close()
    else:
        cluster.release()
        held_request_done(cluster, hold)

    # What the interruption left.
    assert wait_gone(kids) == [], "children of the interrupted run still running"
    assert list(tmpdir.iterdir()) == []
    cache = cache_dir(tools)
    left = sorted(p.name for p in cache.iterdir()) if cache.exists() else []
    assert all(name.endswith(".tar.lock") for name in left), left
    assert all(lock_is_free(cache / name) for name in left)
    check_no_dangling_links(cluster.dump())

    # The rerun converges.
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as input_file:
        proc = start(tools, argv, extra_env=env, stdin=input_file)
        rerun = finish(tools, proc, argv)
    assert rerun.returncode == 0, rerun
    dump = cluster.dump()
    check_project(dump, expected, owner, uuid=rerun.stdout.strip())
    if home_expected is not None:
        check_project(dump, home_expected, alice)
        assert len(live_collections(dump)) == 2
    else:
        assert len(live_collections(dump)) == 1
    check_no_dangling_links(dump)
    assert list(tmpdir.iterdir()) == []


FAKE_DOCKER = """#!%(python)s
# `docker save` that writes half the archive, then one byte every 20 ms:
# a save still streaming when the run is signalled. Anything else: docker.
import os, subprocess, sys, time
real = %(real)r
if sys.argv[1:2] != ["save"]:
    os.execv(real, [real] + sys.argv[1:])
data = subprocess.run([real] + sys.argv[1:], stdout=subprocess.PIPE, check=True).stdout
out = sys.stdout.buffer
out.write(data[: len(data) // 2])
out.flush()
with open(%(marker)r + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(%(marker)r + ".tmp", %(marker)r)
for i in range(len(data) // 2, len(data)):
    out.write(data[i : i + 1])
    out.flush()
    time.sleep(0.02)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_docker_save_still_streaming_does_not_outlive_the_run(cluster, tools, image_of, tmp_path, sig):
    image = image_of(PLAIN)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    marker = tmp_path / "save-started"
    fake = bindir / "docker"
    real = shutil.which("docker")
    fake.write_text(FAKE_DOCKER % {"python": sys.executable, "real": real, "marker": str(marker)})
    fake.chmod(0o755)
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    env = {
        "TMPDIR": str(tmpdir),
        "PATH": "%s:%s" % (bindir, os.environ["PATH"]),
        # The CLI's save (a daemon upload reads the daemon's socket otherwise).
        "ARV_KEEPDOCKER_USE_DOCKER_CLI": "1",
    }
    argv = [OUR_BINARY, PLAIN]
    proc = start(tools, argv, extra_env=env)
    deadline = time.monotonic() + 60
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.exists(), "the fake docker save never started (the run's exit status: %s)" % proc.poll()
    save_pid = int(marker.read_text())
    assert is_running(save_pid) and save_pid in children(proc.pid)
    proc.send_signal(sig)
    result = finish(tools, proc, argv)
    assert result.returncode == -sig, result
    # The save's next write finds the pipe broken, and it ends.
    assert wait_gone([save_pid]) == [], "docker save outlived the run"
    assert list(tmpdir.iterdir()) == []
    assert cluster.dump()["collections"] == []

    rerun = tools.ours(PLAIN, extra_env={"TMPDIR": str(tmpdir)})
    assert rerun.returncode == 0, rerun
    dump = cluster.dump()
    check_project(dump, Expected.of(image.archive, image.id, PLAIN, image.created), cluster.user("alice")["uuid"],
                  uuid=rerun.stdout.strip())
    assert len(live_collections(dump)) == 1


@pytest.mark.parametrize(
    "name, properties, force, adopted",
    [
        ("expected", {}, False, True),  # a legacy run killed before its property update
        ("expected", {"docker-image-repo-tag": PLAIN}, False, True),
        ("my own copy", {"docker-image-repo-tag": PLAIN}, False, False),
        ("expected", {"docker-image-repo-tag": PLAIN}, True, False),
    ],
    ids=["legacy leftover", "our leftover", "another name", "--force"],
)
def test_only_a_leftover_with_the_same_name_is_adopted(cluster, tools, image_of, name, properties, force, adopted):
    """What counts as an interrupted run's leftover: same owner, portable data
    hash and name; its repo+tag property is set if a legacy run died before
    setting it. --force always makes a new collection, as legacy does."""
    image = image_of(PLAIN)
    expected = Expected.of(image.archive, image.id, PLAIN, image.created)
    alice = cluster.user("alice")["uuid"]
    if name == "expected":
        name = expected_name(PLAIN, image.id)
    manifest = one_file_manifest(image.archive, image.id + ".tar")
    [seeded] = cluster.seed(
        collections=[{"owner_uuid": alice, "name": name, "manifest_text": manifest, "properties": properties}]
    )["collections"]
    result = tools.ours(*(["--force"] if force else []), PLAIN)
    assert result.returncode == 0, result
    dump = cluster.dump()
    if adopted:
        check_project(dump, expected, alice, uuid=seeded["uuid"])
        assert result.stdout == seeded["uuid"] + "\n"
    else:
        assert result.stdout.strip() != seeded["uuid"]
        [kept] = [c for c in live_collections(dump) if c["uuid"] == seeded["uuid"]]
        assert (kept["name"], kept["properties"]) == (name, properties)
        assert len(live_collections(dump)) == 2
        assert {l["head_uuid"] for l in docker_links(dump)} == {result.stdout.strip()}
