"""Resuming an interrupted `--source=FILE` upload (issue 8, item 5).

A run that stops after Keep confirmed some blocks leaves a small checkpoint
in `<cache>/keepdocker-resume/`. It holds the file's identity and, for each
confirmed block, its offset, size and signed locator. A rerun on the same
file sends only the other blocks, makes the collection a clean run makes,
and removes the checkpoint.

The interruption is a simulated Keep failure that starts after the first 4
PUTs (two blocks, two replicas each), with `--retries 0` so the run stops
there.
"""

import hashlib
import json
import os
import shutil

import pytest
from calls import keep_calls
from conftest import BLOCK_SIZE, genarchive, one_file_manifest, pdh_of
from test_source_file import collections, ok

TAG = "kdtest/resume:1.0"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A 3-block image archive (about 150 MiB): (bytes, image id, path)."""
    made = genarchive.Archive(repo_tags=[TAG], layers=1, layer_size=150 << 20, seed="resume")
    data = made.to_bytes()
    assert len(data) > 2 * BLOCK_SIZE
    path = tmp_path_factory.mktemp("resume") / "image.tar"
    path.write_bytes(data)
    return data, made.describe()["image_id"], path


@pytest.fixture
def image(archive, tmp_path):
    """A private copy of the archive (its own inode and mtime)."""
    data, image_id, path = archive
    copy = tmp_path / "image.tar"
    shutil.copyfile(path, copy)
    return data, image_id, copy


def checkpoints(tools):
    d = tools.homes["default"] / ".cache" / "arvados" / "keepdocker-resume"
    return sorted(d.iterdir()) if d.exists() else []


def put_hashes(cluster):
    return sorted(
        {e["path"].strip("/").split("+")[0] for e in keep_calls(cluster.log()) if e["method"] == "PUT"}
    )


def block_hashes(data):
    return sorted({hashlib.md5(data[i : i + BLOCK_SIZE]).hexdigest() for i in range(0, len(data), BLOCK_SIZE)})


def interrupted(cluster, tools, path, *extra):
    """A run that fails once two blocks are stored; returns the recorded blocks."""
    cluster.faults(keep_put_fail={"after": 4, "count": 1000, "status": 500})
    failed = tools.ours("--retries", "0", *extra, "--source=%s" % path)
    assert failed.returncode == 1, failed
    cluster.clear_faults()
    cluster.clear_log()
    assert collections(cluster.dump()) == []
    saved = checkpoints(tools)
    if not saved:
        return None
    [one] = saved
    return json.loads(one.read_text())


def check_clean_result(cluster, data, image_id, result):
    [coll] = collections(cluster.dump())
    assert result.stdout == coll["uuid"] + "\n"
    assert coll["portable_data_hash"] == pdh_of(one_file_manifest(data, image_id + ".tar"))


def test_rerun_sends_only_the_blocks_keep_does_not_hold(cluster, tools, image):
    data, image_id, path = image
    state = interrupted(cluster, tools, path)
    recorded = sorted(b["locator"].split("+")[0] for b in state["blocks"])
    assert recorded, "the interrupted run confirmed no block"
    assert state["file"]["path"] == str(path.resolve())
    assert state["file"]["size"] == len(data)
    assert [b["offset"] % BLOCK_SIZE for b in state["blocks"]] == [0] * len(recorded)

    result = ok(tools.ours("--source=%s" % path))
    sent = put_hashes(cluster)
    assert sent == sorted(set(block_hashes(data)) - set(recorded))
    assert "Resuming previous upload from last checkpoint." in result.stderr
    check_clean_result(cluster, data, image_id, result)
    assert checkpoints(tools) == []


def test_failed_collection_create_then_rerun_sends_nothing(cluster, tools, image):
    data, image_id, path = image
    cluster.faults(api_fail={"path_re": "^/arvados/v1/collections$", "count": 1, "status": 500})
    failed = tools.ours("--retries", "0", "--source=%s" % path)
    assert failed.returncode == 1, failed
    cluster.clear_faults()
    [saved] = checkpoints(tools)
    assert len(json.loads(saved.read_text())["blocks"]) == len(block_hashes(data))
    cluster.clear_log()

    result = ok(tools.ours("--source=%s" % path))
    assert put_hashes(cluster) == []
    check_clean_result(cluster, data, image_id, result)
    assert checkpoints(tools) == []


def test_a_changed_file_starts_over(cluster, tools, image):
    data, image_id, path = image
    assert interrupted(cluster, tools, path)["blocks"]
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # touch
    result = ok(tools.ours("--source=%s" % path))
    assert put_hashes(cluster) == block_hashes(data)
    assert "changed since the interrupted upload; starting over" in result.stderr
    check_clean_result(cluster, data, image_id, result)
    assert checkpoints(tools) == []


def test_no_resume_starts_over(cluster, tools, image):
    data, image_id, path = image
    assert interrupted(cluster, tools, path)["blocks"]
    result = ok(tools.ours("--no-resume", "--source=%s" % path))
    assert put_hashes(cluster) == block_hashes(data)
    assert "Resuming" not in result.stderr
    check_clean_result(cluster, data, image_id, result)
    assert checkpoints(tools) == []


def test_no_cache_keeps_no_checkpoint(cluster, tools, image):
    data, image_id, path = image
    assert interrupted(cluster, tools, path, "--no-cache") is None
    result = ok(tools.ours("--source=%s" % path))
    assert put_hashes(cluster) == block_hashes(data)
    check_clean_result(cluster, data, image_id, result)
