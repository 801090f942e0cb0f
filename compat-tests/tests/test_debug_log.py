"""`ARVADOS_DEBUG`: one DEBUG line per request, and nothing secret in it.

With the variable set to anything but empty or `0`, the tool logs at DEBUG,
in the legacy log format, one line per API request (method, path, status,
milliseconds, request id), per Keep block request (method, the locator
without its signature, server, status, bytes, milliseconds) and per Docker
call or daemon request. Every run goes through conftest's `Tools.run`,
whose secrets check also refuses a permission signature in a DEBUG line.
The counts are checked against the simulated cluster's own request log.
"""

import re

import pytest
from calls import keep_calls
from conftest import assert_no_secrets, generated

PLAIN = "kdtest-plain:v1"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (arvados[.a-z_]*)\[\d+\] (DEBUG|INFO|WARNING|ERROR): (.*)$")
API_LINE = re.compile(r"^(GET|POST|PUT|DELETE) (/\S+) (\d{3}|failed) (\d+) ms request (req-[0-9a-z]{20})")
KEEP_LINE = re.compile(r"^(PUT|GET|HEAD) ([0-9a-f]{32}\+\d+) (http\S+) (\d{3}|failed.*) (\d+) bytes (\d+) ms$")


def archive(tmp_path, tag, **options):
    """A generated image archive tagged `tag`: its path."""
    return generated(tmp_path, tag.replace("/", "_") + ".tar", repo_tags=[tag], seed=tag, **options)[2]


def debug_lines(stderr, logger):
    """The messages of `logger`'s DEBUG records; any stderr line that is not
    a log line fails the test (progress is off when stderr is a pipe)."""
    found = []
    for line in stderr.splitlines():
        m = LOG_LINE.match(line)
        assert m, "not a log line: %r" % line
        if m.group(2) == "DEBUG" and m.group(1) == logger:
            # The legacy filter appends the request id to one record.
            found.append(re.sub(r" \(X-Request-Id: req-[0-9a-z]{20}\)$", "", m.group(3)))
    return found


def api_requests_in_log(cluster):
    return [(e["http_method"], e["path"].split("?")[0], e["request_id"])
            for e in cluster.log("api") if not e["path"].startswith("/_sim")]


def check_api_lines(cluster, stderr):
    lines = debug_lines(stderr, "arvados.api")
    parsed = [API_LINE.match(l) for l in lines]
    assert all(parsed), lines
    logged = [(m.group(1), m.group(2), m.group(5)) for m in parsed]
    # One line per request, each with its own request id. Compared as
    # sets: the listing asks for both link classes at once, so the order in
    # which the answers come need not be the order the server logged.
    assert sorted(logged) == sorted(api_requests_in_log(cluster))
    assert len({request_id for _, _, request_id in logged}) == len(logged)
    statuses = {m.group(3) for m in parsed}
    assert statuses <= {"200", "404", "422"}, statuses
    return logged


def test_listing_logs_each_api_request(cluster, tools, tmp_path):
    ok = tools.ours("--force", "--source=%s" % archive(tmp_path, "dbg/listed:1"), "dbg/listed:1")
    assert ok.returncode == 0, ok
    cluster.clear_log()
    result = tools.ours(extra_env={"ARVADOS_DEBUG": "1"})
    assert result.returncode == 0, result
    assert "dbg/listed" in result.stdout
    logged = check_api_lines(cluster, result.stderr)
    assert len(logged) >= 3  # discovery or not, links then collections
    assert [p for _, p, _ in logged if p.endswith("/links")]


@pytest.mark.parametrize("value", [None, "", "0"])
def test_no_debug_line_unless_asked(cluster, tools, tmp_path, value):
    env = {} if value is None else {"ARVADOS_DEBUG": value}
    for argv in ([], ["--source=%s" % archive(tmp_path, "dbg/quiet:1"), "dbg/quiet:1"]):
        result = tools.ours(*argv, extra_env=env)
        assert result.returncode == 0, result
        assert " DEBUG: " not in result.stderr, result


def test_file_upload_logs_api_and_keep_requests_without_signatures(cluster, tools, tmp_path):
    path = archive(tmp_path, "dbg/file:1", layers=2, layer_size=70 << 20)
    cluster.clear_log()
    result = tools.ours("--source=%s" % path, "dbg/file:1", extra_env={"ARVADOS_DEBUG": "1"})
    assert result.returncode == 0, result
    check_api_lines(cluster, result.stderr)
    keep = [KEEP_LINE.match(l) for l in debug_lines(result.stderr, "arvados.keep")]
    assert all(keep), debug_lines(result.stderr, "arvados.keep")
    puts = [e for e in keep_calls(cluster.log()) if e["method"] == "PUT"]
    assert len(keep) == len(puts) >= 2  # two 64 MiB blocks at least
    assert sorted(m.group(2).split("+")[0] for m in keep) == sorted(e["path"].strip("/").split("+")[0] for e in puts)
    assert sum(int(m.group(5)) for m in keep) >= 140 << 20
    assert all(m.group(4) == "200" for m in keep)


def test_keep_reads_log_the_locator_without_its_signature(cluster, tools, tmp_path):
    # A collection source whose image id is in no link: the tool reads the
    # image's config from Keep (GET of a signed locator).
    up = tools.ours("--source=%s" % archive(tmp_path, "dbg/read:1"), "dbg/read:1")
    assert up.returncode == 0, up
    for link in cluster.dump()["links"]:
        status = cluster.request("DELETE", "/arvados/v1/links/" + link["uuid"])[0]
        assert status == 200
    cluster.clear_log()
    result = tools.ours("--source=%s" % up.stdout.strip(), "dbg/read:2", extra_env={"ARVADOS_DEBUG": "1"})
    assert result.returncode == 0, result
    keep = debug_lines(result.stderr, "arvados.keep")
    gets = [e for e in keep_calls(cluster.log()) if e["method"] == "GET"]
    assert gets and len(keep) == len(gets), (keep, gets)
    assert all(KEEP_LINE.match(l) and l.startswith("GET ") for l in keep), keep
    assert "+A" in gets[0]["path"]  # the request was signed; its line is not
    check_api_lines(cluster, result.stderr)


def test_daemon_upload_logs_the_docker_calls(cluster, tools):
    cluster.clear_log()
    result = tools.ours("--force", PLAIN, extra_env={"ARVADOS_DEBUG": "1"})
    assert result.returncode == 0, result
    docker = debug_lines(result.stderr, "arvados.keepdocker")
    # The daemon asked over its socket (or the docker command, when the
    # socket cannot be used), each request or command on its line.
    inspect = re.compile(r"^(daemon GET (/v[0-9.]+)?/images/\S+/json on \S+: \d{3}, \d+ ms"
                         r"|docker image inspect \S+: exit status \d+, \d+ ms)$")
    save = re.compile(r"^(daemon GET (/v[0-9.]+)?/images/\S+/get on \S+: 200, \d+ ms"
                      r"|docker save \S+: started, pid \d+)$")
    assert any(inspect.match(l) for l in docker), docker
    assert any(save.match(l) for l in docker), docker
    check_api_lines(cluster, result.stderr)


def test_the_secrets_check_refuses_a_signature_in_a_debug_line(cluster):
    signed = cluster.sign("acbd18db4cc2f85cedef654fccc4a4d8+3")
    line = "2026-01-01 00:00:00 arvados.keep[1] DEBUG: GET %s http://k/ 200 3 bytes 1 ms" % signed
    with pytest.raises(AssertionError, match="signature"):
        assert_no_secrets(cluster, line)
    assert_no_secrets(cluster, line.replace(signed, "acbd18db4cc2f85cedef654fccc4a4d8+3"))
