"""Concurrency (issue 6.3): four runs of the same image at once, sharing a
HOME (so a cache directory and the per-image lock, spec §9.6), upload it
once and all print the same collection UUID; the same with legacy and new
runs mixed, since both take the same lock.

"Uploaded once" is counted where it happens: successful Keep PUTs in the
cluster's request log, one per block and replica.
"""

import pytest
from conftest import LEGACY_BIN, OUR_BINARY, generated
from robust import Expected, check_project, finish, live_collections, start

OTHER = "kdtest-other:v2"
GEN_TAG = "kdtest/concurrent:1"


def keep_puts(cluster):
    return [e for e in cluster.log() if e["server"] != "api" and e["method"] == "PUT" and e["status"] == 200]


def run_together(tools, argvs):
    procs = [(argv, start(tools, argv, home="shared")) for argv in argvs]
    return [finish(tools, proc, argv) for argv, proc in procs]


@pytest.mark.parametrize(
    "tools_mix",
    [["ours"] * 4, ["legacy", "ours", "legacy", "ours"]],
    ids=["four of ours", "legacy and ours mixed"],
)
def test_four_runs_of_one_image_upload_it_once(cluster, tools, image_of, tools_mix):
    image = image_of(OTHER)
    binaries = {"ours": OUR_BINARY, "legacy": LEGACY_BIN / "arv-keepdocker"}
    results = run_together(tools, [[binaries[t], OTHER] for t in tools_mix])
    for result in results:
        assert result.returncode == 0, result
    uuids = {r.stdout.strip() for r in results}
    assert len(uuids) == 1, results
    dump = cluster.dump()
    expected = Expected.of(image.archive, image.id, OTHER, image.created)
    check_project(dump, expected, cluster.user("alice")["uuid"], uuid=uuids.pop())
    assert len(live_collections(dump)) == 1
    assert len(keep_puts(cluster)) == 2  # one block, replication 2


def test_four_runs_of_one_archive_file_upload_it_once(cluster, tools, tmp_path):
    desc, data, path = generated(tmp_path, layers=2, layer_size=34 << 20, repo_tags=[GEN_TAG], seed="concurrent")
    argv = [OUR_BINARY, "--source=%s" % path]
    results = run_together(tools, [argv] * 4)
    for result in results:
        assert result.returncode == 0, result
    uuids = {r.stdout.strip() for r in results}
    assert len(uuids) == 1, results
    dump = cluster.dump()
    expected = Expected.of(data, desc["image_id"], GEN_TAG, desc["created"])
    check_project(dump, expected, cluster.user("alice")["uuid"], uuid=uuids.pop())
    assert len(live_collections(dump)) == 1
    assert len(keep_puts(cluster)) == 2 * 2  # two blocks, replication 2
