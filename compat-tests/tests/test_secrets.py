"""Secrets and trust (issue 6.6).

* The API token never appears in anything a run prints. Every run of
  either tool in the whole suite goes through conftest's `Tools.run`,
  which checks its stdout and stderr for both users' tokens; the tests
  here add the runs most likely to leak one (failures quoting requests,
  a rejected token, progress output) and the files a run leaves in HOME.
* Certificate checking is on unless ARVADOS_API_HOST_INSECURE says
  otherwise: the simulated cluster's certificate comes from its own CA, so
  without the variable (or with a false value) the run fails naming the
  certificate problem, and succeeds once SSL_CERT_FILE trusts that CA.
* The cache and lock directory is created 0700, whatever the umask.
"""

import os
import stat
import subprocess

import pytest
from conftest import ERROR_LINE, OUR_BINARY, assert_no_secrets

PLAIN = "kdtest-plain:v1"


def files_under(path):
    for root, _, names in os.walk(path):
        for name in names:
            yield os.path.join(root, name)


def test_no_token_in_output_of_failures_progress_or_files(cluster, tools, tmp_path):
    runs = [
        tools.ours("--progress", PLAIN),
        tools.ours("--batch-progress", "--force", PLAIN),
        tools.ours("--source=%s" % (tmp_path / "missing.tar")),
        tools.ours("--project-uuid", "zzzzz-j7d0g-000000000000000", PLAIN),
        tools.ours(PLAIN, "--retries", "0", extra_env={"ARVADOS_API_TOKEN": cluster.token("bob") + "x"}),
    ]
    cluster.faults(api_fail={"count": 10, "status": 500, "path_re": "/links$"})
    runs.append(tools.ours("--retries", "0", PLAIN))
    cluster.clear_faults()
    cluster.faults(keep_put_fail={"count": 10, "status": 403})
    runs.append(tools.ours("--retries", "0", "--force", PLAIN))
    assert [r.returncode for r in runs] == [0, 0, 1, 1, 1, 1, 1], runs
    for result in runs[2:]:
        assert ERROR_LINE.match(result.stderr.splitlines()[-1]), result
    # Tools.run already checked each output; the token given on purpose
    # wrong is not echoed either, nor is anything in HOME holding a token.
    assert all(cluster.token("bob") not in r.stderr for r in runs)
    for path in files_under(tools.homes["default"]):
        with open(path, "rb") as f:
            assert_no_secrets(cluster, f.read().decode("latin-1"))


@pytest.mark.parametrize("insecure", [None, "0", "false", "no"])
def test_certificates_are_checked_unless_insecure_is_set(cluster, tools, insecure):
    env = tools.env()
    del env["ARVADOS_API_HOST_INSECURE"]
    if insecure is not None:
        env["ARVADOS_API_HOST_INSECURE"] = insecure
    proc = subprocess.run([str(OUR_BINARY), PLAIN], env=env, capture_output=True, text=True, timeout=120)
    assert_no_secrets(cluster, proc.stdout + proc.stderr)
    assert proc.returncode == 1, proc
    last = proc.stderr.splitlines()[-1]
    assert ERROR_LINE.match(last) and "certificate" in last, proc.stderr
    assert cluster.dump()["collections"] == []

    env["SSL_CERT_FILE"] = cluster.ca_cert
    proc = subprocess.run([str(OUR_BINARY), PLAIN], env=env, capture_output=True, text=True, timeout=120)
    assert_no_secrets(cluster, proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr
    [coll] = cluster.dump()["collections"]
    assert proc.stdout == coll["uuid"] + "\n"


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_cache_and_lock_directory_is_private(cluster, tools, umask):
    env = tools.env()
    proc = subprocess.run(
        [str(OUR_BINARY), PLAIN], env=env, capture_output=True, text=True, timeout=120, preexec_fn=lambda: os.umask(umask)
    )
    assert_no_secrets(cluster, proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr
    home = tools.homes["default"]
    for d in (".cache", ".cache/arvados", ".cache/arvados/docker"):
        mode = stat.S_IMODE(os.stat(home / d).st_mode)
        assert mode == 0o700, "%s is %o" % (d, mode)
    assert [p.name for p in (home / ".cache/arvados/docker").iterdir()] != []  # the lock file lives there
