"""Helpers shared by the fault, interruption and concurrency tests (issue 6):
run a tool in the background, and check that the cluster holds exactly what
one clean run leaves there.
"""

import fcntl
import os
import subprocess
import time
from dataclasses import dataclass

from conftest import Result, assert_no_secrets, expected_name, one_file_manifest, pdh_of

HASH = "docker_image_hash"
REPO_TAG = "docker_image_repo+tag"


@dataclass
class Expected:
    """What a clean upload of an image leaves in a project."""

    image_id: str
    repo_tag: str  # or None
    created: str
    pdh: str

    @classmethod
    def of(cls, data, image_id, repo_tag, created):
        return cls(image_id, repo_tag, created, pdh_of(one_file_manifest(data, image_id + ".tar")))


def live_collections(dump):
    return [c for c in dump["collections"] if not c.get("is_trashed")]


def docker_links(dump):
    return [l for l in dump["links"] if l["link_class"] in (HASH, REPO_TAG)]


def check_project(dump, expected, owner, uuid=None):
    """Exactly one collection of the image in `owner`, the one a clean run
    makes, with exactly its two links; returns it."""
    colls = [c for c in live_collections(dump) if c["owner_uuid"] == owner]
    assert len(colls) == 1, colls
    [coll] = colls
    assert coll["portable_data_hash"] == expected.pdh
    assert coll["name"] == expected_name(expected.repo_tag, expected.image_id)
    assert coll["properties"] == {"docker-image-repo-tag": expected.repo_tag}
    if uuid is not None:
        assert coll["uuid"] == uuid
    links = sorted((l for l in docker_links(dump) if l["owner_uuid"] == owner), key=lambda l: l["link_class"])
    wanted = [(HASH, expected.image_id)] + ([(REPO_TAG, expected.repo_tag)] if expected.repo_tag else [])
    assert [(l["link_class"], l["name"]) for l in links] == wanted, links
    for link in links:
        assert link["head_uuid"] == coll["uuid"]
        assert link["properties"] == {"image_timestamp": expected.created}
    return coll


def check_no_dangling_links(dump):
    """No docker link points at anything but a complete, live collection."""
    live = {c["uuid"] for c in live_collections(dump)}
    for link in docker_links(dump):
        assert link["head_uuid"] in live, link


def start(tools, argv, user="alice", home="default", extra_env=None, stdin=None):
    """Our binary (or any argv) in the background, as `tools.run` would run it."""
    return subprocess.Popen(
        [str(a) for a in argv],
        env=tools.env(user, home, extra_env),
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(tools, proc, argv, timeout=300):
    out, err = proc.communicate(timeout=timeout)
    result = Result(list(argv), proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
    assert_no_secrets(tools.cluster, result.stdout + result.stderr)
    return result


def children(pid):
    """Pids of a process's direct children."""
    out = []
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                out += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return out


def is_running(pid):
    """Alive and not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pids, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(is_running(p) for p in pids):
            return []
        time.sleep(0.05)
    return [p for p in pids if is_running(p)]


def cache_dir(tools, home="default"):
    tools.env(home=home)  # makes the home
    return tools.homes[home] / ".cache" / "arvados" / "docker"


def lock_is_free(path):
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(f, fcntl.LOCK_UN)
        return True


def waiting_for_lock(pid):
    """Whether `pid` is blocked waiting for a flock (a "->" line in /proc/locks)."""
    with open("/proc/locks") as f:
        return any("->" in line and " %d " % pid in line for line in f)
