"""The legacy form `arv-keepdocker IMAGE [TAG]`: the image from the Docker daemon.

Our binary and the legacy tool run against the same simulated cluster and the
same real Docker daemon; where the behaviour must match, the cluster state
(collection name, PDH, owner, properties; links' class, name, owner,
properties, head PDH) and stdout are compared. The legacy bugs we fix (image by
`sha256:` id, the `--pull` rule, the id fallback) are asserted on ours alone,
with legacy's behaviour beside them where it is cheap to show.
"""

import os
import shutil
import subprocess

import pytest
from calls import keep_calls
from conftest import ROOT, docker, one_file_manifest, pdh_of
from test_source_file import check_image, collections, docker_links, normalized, ok

PLAIN = "kdtest-plain:v1"
OTHER = "kdtest-other:v2"
MULTI = "kdtest/multi"
REAL_DOCKER = shutil.which("docker")
TESTBED = ROOT / "compat-tests" / "docker-testbed"


def fresh_uploads(cluster):
    return [e for e in keep_calls(cluster.log()) if e["method"] == "PUT"]


def no_docker_path(tmp_path):
    """A PATH with no docker (nor docker.io) on it."""
    path = tmp_path / "nodocker"
    path.mkdir(exist_ok=True)
    return {"PATH": str(path)}


@pytest.fixture
def tagged(docker_host):
    """docker tag, undone after the test (pass or fail); tagged.forget(name)
    removes a name some step of the test makes (a push, a pull)."""
    made = []

    def tag(source, target):
        docker("tag", source, target)
        made.append(target)
        return target

    tag.forget = made.append
    yield tag
    for target in made:
        docker("rmi", target, check=False)


# --------------------------------------------------------------------------
# the same state as legacy


def test_first_upload_gives_the_legacy_state(cluster, tools, image_of):
    image = image_of(PLAIN)
    legacy = ok(tools.legacy("kdtest-plain", "v1"))
    want = normalized(cluster)
    assert len(want["links"]) == 2

    cluster.reset()
    ours = ok(tools.ours("kdtest-plain", "v1"))
    assert normalized(cluster) == want
    assert len(ours.stdout.strip()) == len(legacy.stdout.strip())
    alice = cluster.user("alice")["uuid"]
    check_image(cluster, image.archive, image.id, PLAIN, image.created, alice, ours.stdout)


@pytest.mark.parametrize("args", [[PLAIN], ["kdtest-plain", "v1"]], ids=["repo:tag", "repo tag"])
def test_repo_tag_forms(cluster, tools, image_of, args):
    image = image_of(PLAIN)
    result = ok(tools.ours(*args))
    check_image(cluster, image.archive, image.id, PLAIN, image.created, cluster.user("alice")["uuid"], result.stdout)


def test_multi_each_tag_like_legacy(cluster, tools, image_of):
    """Two tags of one image: one collection, a repo+tag link per tag."""
    image = image_of(MULTI + ":latest")
    runs = [["%s:1.0.2-rc1" % MULTI], [MULTI]]
    legacy_out = [ok(tools.legacy(*a)).stdout for a in runs]
    want = normalized(cluster)

    cluster.reset()
    cluster.clear_log()
    ours_out = [ok(tools.ours(*a)).stdout for a in runs]
    assert normalized(cluster) == want
    [coll] = collections(cluster.dump())
    assert ours_out == [coll["uuid"] + "\n"] * 2
    assert [len(s) for s in ours_out] == [len(s) for s in legacy_out]
    assert coll["portable_data_hash"] == pdh_of(one_file_manifest(image.archive, image.id + ".tar"))
    names = sorted(l["name"] for l in docker_links(cluster.dump()) if l["link_class"] == "docker_image_repo+tag")
    assert names == [MULTI + ":1.0.2-rc1", MULTI + ":latest"]


def test_rerun_reuses_the_image_without_upload(cluster, tools):
    first = ok(tools.ours(PLAIN))
    state = normalized(cluster)
    cluster.clear_log()
    again = ok(tools.ours(PLAIN, "--silent"))
    # --silent as legacy: the existing image's UUID is printed anyway.
    assert again.stdout == first.stdout
    assert fresh_uploads(cluster) == []
    assert normalized(cluster) == state


def test_silent_fresh_upload_prints_nothing(cluster, tools):
    result = ok(tools.ours("--silent", PLAIN))
    assert result.stdout == ""
    assert len(collections(cluster.dump())) == 1


def test_force_uploads_again(cluster, tools):
    first = ok(tools.ours(PLAIN))
    cluster.clear_log()
    second = ok(tools.ours("--force", PLAIN))
    assert second.stdout != first.stdout
    assert fresh_uploads(cluster) != []
    dump = cluster.dump()
    assert len(collections(dump)) == 2
    assert len(docker_links(dump)) == 4


def test_project_uuid_owns_everything(cluster, tools, image_of):
    image = image_of(OTHER)
    project = cluster.create_project("alice", "images")["uuid"]
    result = ok(tools.ours("--project-uuid", project, OTHER))
    check_image(cluster, image.archive, image.id, OTHER, image.created, project, result.stdout)


def test_full_sha256_id_is_stored_by_hash_only(cluster, tools, image_of):
    """Legacy fails here (arv-put exit 2, spec §10.3/§10.4): a bug fix."""
    image = image_of(PLAIN)
    result = ok(tools.ours(image.id))
    check_image(cluster, image.archive, image.id, None, image.created, cluster.user("alice")["uuid"], result.stdout)


def test_short_hex_id_is_stored_by_hash_only(cluster, tools, image_of):
    image = image_of(OTHER)
    result = ok(tools.ours(image.id[7:19]))
    check_image(cluster, image.archive, image.id, None, image.created, cluster.user("alice")["uuid"], result.stdout)


def test_name_latest_and_443_port(cluster, tools, image_of, tagged):
    """Both broke legacy's arv-put argument list (spec §10.4)."""
    image = image_of(MULTI + ":latest")
    ok(tools.ours("--name", "latest", MULTI))
    [coll] = collections(cluster.dump())
    assert coll["name"] == "latest"
    assert coll["properties"] == {"docker-image-repo-tag": MULTI + ":latest"}

    cluster.reset()
    plain = image_of(PLAIN)
    tagged(PLAIN, "localhost/kdtest/plain443:t")
    result = ok(tools.ours("localhost:443/kdtest/plain443:t"))
    alice = cluster.user("alice")["uuid"]
    check_image(cluster, plain.archive, plain.id, "localhost/kdtest/plain443:t", plain.created, alice, result.stdout)
    assert image.id != plain.id


def test_docker_io_is_used_when_there_is_no_docker(cluster, tools, image_of, tmp_path):
    image = image_of(PLAIN)
    bin_dir = tmp_path / "dockerio"
    bin_dir.mkdir()
    (bin_dir / "docker.io").symlink_to(REAL_DOCKER)
    result = ok(tools.ours(PLAIN, extra_env={"PATH": str(bin_dir)}))
    check_image(cluster, image.archive, image.id, PLAIN, image.created, cluster.user("alice")["uuid"], result.stdout)


# --------------------------------------------------------------------------
# --pull


@pytest.fixture(scope="module")
def registry(docker_host, tmp_path_factory):
    """A registry of this module's own: its own state dir (so no image pushed
    by an earlier run is in it) and a free port the test bed picks."""
    state = str(tmp_path_factory.mktemp("registry"))

    def testbed(command):
        return subprocess.run([str(TESTBED), command, "--state-dir", state], capture_output=True, text=True,
                              timeout=120)

    out = testbed("registry-start")
    if out.returncode != 0:
        pytest.fail("registry-start failed: %s" % out.stderr)
    host = out.stdout.strip().split("=", 1)[1]
    yield host
    testbed("registry-stop")


def push_then_forget(registry, source, tagged):
    """`source` pushed to the registry, its registry name then removed locally
    (and again after the test, whatever pulled it meanwhile)."""
    env = dict(os.environ, KDTEST_REGISTRY=registry)
    out = subprocess.run(
        [str(TESTBED), "registry-push", source],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    name = out.stdout.strip()
    tagged.forget(name)
    docker("rmi", name)
    return name


def test_pull_of_a_tag_only_in_the_registry(cluster, tools, image_of, registry, tagged):
    image = image_of(OTHER)
    name = push_then_forget(registry, OTHER, tagged)
    assert docker("image", "inspect", name, check=False).returncode != 0

    without = tools.ours(name)
    assert without.returncode == 1 and "no matching image found" in without.stderr

    result = ok(tools.ours("--pull", name))
    check_image(cluster, image.archive, image.id, name, image.created, cluster.user("alice")["uuid"], result.stdout)
    state = normalized(cluster)

    # Legacy pulls too here (nothing of that repo is local), same state.
    docker("rmi", name)
    cluster.reset()
    ok(tools.legacy("--pull", name))
    assert normalized(cluster) == state
    docker("rmi", name, check=False)


def test_pull_is_not_suppressed_by_another_local_tag(cluster, tools, image_of, registry, tagged):
    """Legacy only pulls when `docker inspect <repo>` (no tag) finds nothing."""
    image = image_of(OTHER)
    name = push_then_forget(registry, OTHER, tagged)
    repo = name.rsplit(":", 1)[0]
    tagged(PLAIN, repo + ":latest")

    legacy = tools.legacy("--pull", name)
    assert legacy.returncode == 1 and "no matching image found" in legacy.stderr

    result = ok(tools.ours("--pull", name))
    check_image(cluster, image.archive, image.id, name, image.created, cluster.user("alice")["uuid"], result.stdout)
    docker("rmi", name, check=False)


def test_failed_pull_of_a_local_image_warns_and_goes_on(cluster, tools, image_of):
    image = image_of(PLAIN)
    result = ok(tools.ours("--pull", PLAIN))
    assert "WARNING" in result.stderr and "docker pull %s" % PLAIN in result.stderr
    check_image(cluster, image.archive, image.id, PLAIN, image.created, cluster.user("alice")["uuid"], result.stdout)


def test_failed_pull_of_a_missing_image_quotes_docker(cluster, tools):
    result = tools.ours("--pull", "kdtest-nowhere:v9")
    assert result.returncode == 1, result
    assert "docker pull kdtest-nowhere:v9" in result.stderr
    assert "Traceback" not in result.stderr
    assert collections(cluster.dump()) == []


# --------------------------------------------------------------------------
# not in Docker


def test_no_such_image_anywhere(cluster, tools):
    legacy = tools.legacy("kdtest-nowhere:v9")
    assert legacy.returncode == 1 and "no matching image found" in legacy.stderr
    ours = tools.ours("kdtest-nowhere:v9")
    assert ours.returncode == 1, ours
    assert "no matching image found" in ours.stderr
    assert ours.stdout == ""


def test_no_docker_and_no_image_is_a_message_not_a_traceback(cluster, tools, tmp_path):
    result = tools.ours(PLAIN, extra_env=no_docker_path(tmp_path))
    assert result.returncode == 1, result
    assert "cannot run docker" in result.stderr and "Arvados has no image kdtest-plain:v1" in result.stderr


@pytest.mark.parametrize("how", ["no docker", "unknown name"])
def test_image_only_in_arvados_takes_the_existing_path(cluster, tools, image_of, tmp_path, how):
    image = image_of(PLAIN)
    if how == "no docker":
        first = ok(tools.ours(PLAIN))
        args, env = [PLAIN], no_docker_path(tmp_path)
    else:
        path = tmp_path / "plain.tar"
        path.write_bytes(image.archive)
        first = ok(tools.ours("--source=%s" % path, "kdtest/only-in-arvados:1"))
        args, env = ["kdtest/only-in-arvados:1"], None
    state = normalized(cluster)
    cluster.clear_log()
    again = ok(tools.ours(*args, extra_env=env))
    assert again.stdout == first.stdout
    assert fresh_uploads(cluster) == []
    assert normalized(cluster) == state
    if how == "no docker":
        # Legacy crashes without docker even though the image is there.
        legacy = tools.legacy(*args, extra_env=env)
        assert legacy.returncode == 1 and "Traceback" in legacy.stderr


def test_id_fallback_finds_that_image_not_the_newest(cluster, tools, image_of, tmp_path):
    """Legacy's `ilike 'sha256%'` took the newest v2 image, whatever its id."""
    plain, other = image_of(PLAIN), image_of(OTHER)
    first = ok(tools.ours(PLAIN))
    ok(tools.ours(OTHER))
    env = no_docker_path(tmp_path)
    cluster.clear_log()
    for arg in (plain.id, "sha256:" + plain.id[7:20], plain.id[7:20]):
        again = ok(tools.ours(arg, extra_env=env))
        assert again.stdout == first.stdout, arg
    assert fresh_uploads(cluster) == []
    # An id prefix of no image: nothing, and no guess.
    missing = tools.ours("sha256:" + "0" * 12, extra_env=env)
    assert missing.returncode == 1 and "no matching image found" in missing.stderr
    assert other.id != plain.id


def test_force_needs_docker(cluster, tools, tmp_path):
    ok(tools.ours(PLAIN))
    result = tools.ours("--force", PLAIN, extra_env=no_docker_path(tmp_path))
    assert result.returncode == 1, result
    assert "--force" in result.stderr and "cannot run docker" in result.stderr
    assert len(collections(cluster.dump())) == 1


def test_docker_save_failure_is_quoted_and_creates_nothing(cluster, tools, tmp_path):
    bin_dir = tmp_path / "fakedocker"
    bin_dir.mkdir()
    fake = bin_dir / "docker"
    fake.write_text(
        '#!/bin/sh\nif [ "$1" = save ]; then\n  echo "fake docker: save exploded" >&2\n  exit 3\nfi\n'
        'exec %s "$@"\n' % REAL_DOCKER
    )
    fake.chmod(0o755)
    # The CLI's save, not the daemon's socket (test_engine_socket.py).
    env = {"PATH": str(bin_dir), "ARV_KEEPDOCKER_USE_DOCKER_CLI": "1"}
    result = tools.ours(PLAIN, extra_env=env)
    assert result.returncode == 1, result
    assert "docker save sha256:" in result.stderr
    assert "exit status 3" in result.stderr and "fake docker: save exploded" in result.stderr
    assert result.stdout == ""
    dump = cluster.dump()
    assert collections(dump) == [] and docker_links(dump) == []


def test_non_json_inspect_is_a_message(cluster, tools, tmp_path):
    bin_dir = tmp_path / "oddocker"
    bin_dir.mkdir()
    fake = bin_dir / "docker"
    fake.write_text("#!/bin/sh\necho 'this is not json'\n")
    fake.chmod(0o755)
    # The CLI's inspect, not the daemon's socket (test_engine_socket.py).
    env = {"PATH": str(bin_dir), "ARV_KEEPDOCKER_USE_DOCKER_CLI": "1"}
    result = tools.ours(PLAIN, extra_env=env)
    assert result.returncode == 1, result
    assert "did not print a JSON list" in result.stderr and "this is not json" in result.stderr
