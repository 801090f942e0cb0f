"""Faults during an upload (issue 6.1), injected by the simulated cluster:
Keep PUTs failing at random (30%), one of three Keep servers down with
replication 2, a failing Keep proxy, bursts of 502/503 on each kind of API
call, slow Keep servers.

Each run either ends with exactly what a clean run leaves (one collection
with the clean run's portable data hash, name and properties, and its two
links), or, once `--retries` is spent, with one ERROR line naming what
failed, exit status 1, no UUID on stdout and no link pointing at anything
incomplete; a rerun without the fault then converges to the clean state.
"""

import pytest
from conftest import ERROR_LINE, Tools, generated
from robust import Expected, check_no_dangling_links, check_project, docker_links, live_collections

PLAIN = "kdtest-plain:v1"
GEN_TAG = "kdtest/faulty:1"


@pytest.fixture(scope="module")
def two_blocks(tmp_path_factory):
    desc, data, path = generated(
        tmp_path_factory.mktemp("faults"), layers=2, layer_size=34 << 20, repo_tags=[GEN_TAG], seed="faults"
    )
    return Expected.of(data, desc["image_id"], GEN_TAG, desc["created"]), path


@pytest.fixture
def plain(image_of):
    image = image_of(PLAIN)
    return Expected.of(image.archive, image.id, PLAIN, image.created)


def converged(cluster, result, expected):
    assert result.returncode == 0, result
    dump = cluster.dump()
    check_project(dump, expected, cluster.user("alice")["uuid"], uuid=result.stdout.strip())
    assert len(live_collections(dump)) == 1
    return dump


def failed_cleanly(cluster, result, words):
    assert result.returncode == 1, result
    assert result.stdout == ""
    last = result.stderr.splitlines()[-1]
    assert ERROR_LINE.match(last) and words in last, result
    check_no_dangling_links(cluster.dump())


@pytest.mark.parametrize("source", ["daemon", "file"])
def test_thirty_percent_of_keep_puts_failing(cluster, tools, plain, two_blocks, source):
    expected, argv = (plain, [PLAIN]) if source == "daemon" else (two_blocks[0], ["--source=%s" % two_blocks[1]])
    cluster.faults(keep_put_fail={"rate": 0.3, "seed": 3, "status": 503})
    result = tools.ours(*argv)
    assert cluster.faults()["keep_put_fail"].get("failed", 0) > 0  # the fault did happen
    converged(cluster, result, expected)


def test_keep_puts_failing_past_the_retries(cluster, tools, plain):
    cluster.faults(keep_put_fail={"count": 1000, "status": 503})
    result = tools.ours("--retries", "1", PLAIN)
    failed_cleanly(cluster, result, "503")
    assert live_collections(cluster.dump()) == []
    cluster.clear_faults()
    converged(cluster, tools.ours(PLAIN), plain)


@pytest.fixture(scope="module")
def three_keep_servers(tmp_path_factory):
    from simarv.client import SimCluster

    cluster = SimCluster.start(state_dir=str(tmp_path_factory.mktemp("sim3")), keep_servers=3)
    yield cluster
    cluster.stop()


def test_one_of_three_keep_servers_down_with_replication_2(three_keep_servers, tmp_path, docker_host, plain):
    cluster = three_keep_servers
    cluster.reset(default_replication=2)
    cluster.faults(keep_down=["keep1"])
    result = Tools(cluster, tmp_path, docker_host).ours(PLAIN)
    dump = converged(cluster, result, plain)
    stored = {name: len(blocks) for name, blocks in dump["blocks"].items()}
    assert stored == {"keep0": 1, "keep1": 0, "keep2": 1}


def test_failing_keep_proxy(cluster, tools, plain):
    cluster.reset(keep_proxy=True)
    cluster.faults(keep_put_fail={"count": 1, "status": 503, "server": "proxy"})
    converged(cluster, tools.ours(PLAIN), plain)


def test_keep_proxy_down_past_the_retries(cluster, tools, plain):
    cluster.reset(keep_proxy=True)
    cluster.faults(keep_down=["proxy"])
    failed_cleanly(cluster, tools.ours("--retries", "0", PLAIN), "Connection refused")
    assert live_collections(cluster.dump()) == []
    cluster.clear_faults()
    converged(cluster, tools.ours(PLAIN), plain)


def test_slow_keep_servers(cluster, tools, plain):
    cluster.faults(latency_ms={"keep": 1500, "api": 50})
    converged(cluster, tools.ours(PLAIN), plain)


API_CALLS = {
    "discovery": ("GET", "/discovery/"),
    "users.current": ("GET", "/users/current$"),
    "links.list": ("GET", "/arvados/v1/links$"),
    "keep_services.accessible": ("GET", "/keep_services/accessible$"),
    "collections.create": ("POST", "/arvados/v1/collections$"),
    "links.create": ("POST", "/arvados/v1/links$"),
}


@pytest.mark.parametrize("call", list(API_CALLS))
def test_burst_of_api_errors_within_the_retries(cluster, tools, plain, call):
    method, path_re = API_CALLS[call]
    status = 502 if list(API_CALLS).index(call) % 2 else 503
    cluster.faults(api_fail={"count": 2, "status": status, "method": method, "path_re": path_re})
    result = tools.ours("--retries", "2", PLAIN)
    assert cluster.faults()["api_fail"]["count"] == 0  # both errors were answered
    converged(cluster, result, plain)


@pytest.mark.parametrize("call", ["collections.create", "links.create"])
def test_burst_of_api_errors_past_the_retries(cluster, tools, plain, call):
    method, path_re = API_CALLS[call]
    cluster.faults(api_fail={"count": 100, "status": 503, "method": method, "path_re": path_re})
    result = tools.ours("--retries", "1", PLAIN)
    failed_cleanly(cluster, result, "HTTP 503")
    dump = cluster.dump()
    assert docker_links(dump) == []
    # A collection create that never happened leaves nothing; one whose
    # links failed leaves a complete, unlinked collection, which the rerun
    # adopts.
    assert len(live_collections(dump)) == (0 if call == "collections.create" else 1)
    cluster.clear_faults()
    converged(cluster, tools.ours(PLAIN), plain)
