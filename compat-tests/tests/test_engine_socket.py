"""Docker is asked over the daemon's socket, not through the `docker` command.

`arv-keepdocker IMAGE` runs no `docker` process: it asks the daemon itself
with the requests the docker CLI makes (GET /_ping for the API version, then
/images/{name}/json, /info, and /images/{id}/get for the archive), which
saves a process copying 1 GiB per GiB on an upload, and the start of a Go
program (tens of milliseconds of CPU) per question (README, "Performance").
The docker CLI still runs `docker pull`, and takes over everything when the
daemon is not a plain unix socket (a named context, tcp://, ssh://), when the
socket cannot be used, when no docker command is installed, or when
ARV_KEEPDOCKER_USE_DOCKER_CLI is set. A daemon that refuses the archive
request also hands over to the CLI: that is exercised by
test_containerd_store.py, whose made-up digests only the fake `docker`
wrapper understands.

These tests watch which way the answers came with a `docker` wrapper that
logs its arguments, and check the cluster state either way.
"""

import os
import re
import shutil
import socket
import subprocess
import threading

import pytest
from conftest import docker
from test_daemon_source import fresh_uploads
from test_source_file import check_image, collections, docker_links, normalized, ok

PLAIN = "kdtest-plain:v1"
OTHER = "kdtest-other:v2"
REAL_DOCKER = shutil.which("docker")


@pytest.fixture
def logging_docker(tmp_path):
    """A `docker` that logs each command line, then runs the real one.
    Returns (extra_env putting it first on PATH, a function giving the logged
    subcommands)."""
    bindir = tmp_path / "logbin"
    bindir.mkdir()
    log = tmp_path / "docker-commands.log"
    wrapper = bindir / "docker"
    wrapper.write_text('#!/bin/sh\necho "$*" >> %s\nexec %s "$@"\n' % (log, REAL_DOCKER))
    wrapper.chmod(0o755)

    def commands():
        if not log.exists():
            return []
        return [line.split()[0] for line in log.read_text().splitlines() if line.strip()]

    return {"PATH": "%s:%s" % (bindir, os.environ["PATH"])}, commands


def test_the_archive_comes_from_the_socket_and_is_the_same(cluster, tools, image_of, logging_docker):
    env, commands = logging_docker
    image = image_of(PLAIN)
    result = ok(tools.ours(PLAIN, extra_env=env))
    assert commands() == [], commands()
    # Byte for byte what `docker save` writes (check_image compares the file).
    check_image(cluster, image.archive, image.id, PLAIN, image.created, cluster.user("alice")["uuid"], result.stdout)
    from_socket = normalized(cluster)

    # The same upload through the docker command, when asked for.
    cluster.reset()
    ok(tools.ours(PLAIN, extra_env=dict(env, ARV_KEEPDOCKER_USE_DOCKER_CLI="1")))
    assert commands().count("save") == 1, commands()
    assert normalized(cluster) == from_socket


def test_a_named_docker_context_is_left_to_the_cli(cluster, tools, image_of, logging_docker, tmp_path, docker_host):
    """DOCKER_HOST unset and a current context in the CLI's config: the
    daemon is wherever that context says, which only the CLI knows."""
    env, commands = logging_docker
    config = tmp_path / "docker-config"
    config.mkdir()
    for argv in (["context", "create", "kdtest", "--docker", "host=" + docker_host], ["context", "use", "kdtest"]):
        subprocess.run([REAL_DOCKER, "--config", str(config), *argv], check=True, capture_output=True)
    env = dict(env, DOCKER_HOST="", DOCKER_CONFIG=str(config))
    image = image_of(PLAIN)
    result = ok(tools.ours(PLAIN, extra_env=env))
    assert commands().count("save") == 1, commands()
    check_image(cluster, image.archive, image.id, PLAIN, image.created, cluster.user("alice")["uuid"], result.stdout)


class UnixServer:
    """A server on a unix socket at `path`: `serve` runs on its own thread,
    taking connections from `accept` until `close`."""

    def listen(self, path):
        self.path = str(path)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(8)
        threading.Thread(target=self.serve, daemon=True).start()

    def accept(self):
        """The next connection, or None once the server is closed."""
        try:
            return self.server.accept()[0]
        except OSError:
            return None

    def close(self):
        self.server.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


class CuttingDaemon(UnixServer):
    """A Docker socket in front of the real one: every request is passed
    through, but the archive request is answered with the first half of the
    archive, after which the connection closes."""

    SAVE = re.compile(rb"^GET (/v[0-9.]+)?/images/[^/ ]+/get[ ?]")

    def __init__(self, path, real, archive):
        self.real, self.archive = real, archive
        self.saves = 0
        self.listen(path)

    def serve(self):
        while True:
            conn = self.accept()
            if conn is None:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        head = b""
        while b"\r\n\r\n" not in head:
            more = conn.recv(65536)
            if not more:
                conn.close()
                return
            head += more
        if self.SAVE.match(head):
            self.saves += 1
            half = self.archive[: len(self.archive) // 2]
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n")
            conn.sendall(b"%x\r\n%s\r\n" % (len(half), half))
            conn.close()
            return
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.connect(self.real)
        upstream.sendall(head)

        def pipe(src, dst):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pipe, args=(upstream, conn), daemon=True).start()
        pipe(conn, upstream)

    def close(self):
        self.server.close()


def test_a_save_cut_short_on_the_socket_is_an_error_and_leaves_nothing(cluster, tools, image_of, tmp_path, docker_host):
    image = image_of(PLAIN)
    assert docker_host.startswith("unix://")
    daemon = CuttingDaemon(tmp_path / "cutting.sock", docker_host[len("unix://") :], image.archive)
    try:
        result = tools.ours(PLAIN, extra_env={"DOCKER_HOST": "unix://" + daemon.path})
    finally:
        daemon.close()
    assert daemon.saves == 1
    assert result.returncode == 1, result
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert (
        "ERROR: cannot read the output of `docker save %s`: the Docker daemon closed the connection "
        "before the end of the archive (X-Request-Id: req-" % image.id
    ) in line, line
    dump = cluster.dump()
    assert collections(dump) == [] and docker_links(dump) == []
    assert all(blocks == [] for blocks in dump["blocks"].values()), dump["blocks"]


# --------------------------------------------------------------------------
# no docker process: inspect and info over the socket too


def test_no_docker_process_before_the_archive_nor_when_already_there(cluster, tools, image_of, logging_docker):
    """The first upload asks inspect, info and the archive of the socket; the
    rerun, with the image already in Arvados, asks only inspect and info."""
    env, commands = logging_docker
    image_of(PLAIN)
    first = ok(tools.ours(PLAIN, extra_env=env))
    assert commands() == [], commands()
    state = normalized(cluster)
    cluster.clear_log()
    again = ok(tools.ours(PLAIN, extra_env=env))
    assert commands() == [], commands()
    assert again.stdout == first.stdout
    assert fresh_uploads(cluster) == []
    assert normalized(cluster) == state


@pytest.fixture
def short_id_tag(image_of):
    """OTHER tagged `<PLAIN's short id>:latest`: the bare hex argument names
    that tag first (the legacy `<hex>:latest` rule), not PLAIN."""
    short = image_of(PLAIN).id[7:19]
    docker("tag", OTHER, short + ":latest")
    yield short
    docker("rmi", short + ":latest", check=False)


@pytest.mark.parametrize(
    "how",
    ["name", "full id", "short sha256 id", "bare short id", "bare hex naming a tag", "no such image", "no such id"],
)
def test_the_socket_gives_the_cli_answers(cluster, tools, image_of, logging_docker, short_id_tag, how):
    """Each way of naming an image resolves to the same image (or to none)
    over the socket as through the docker command."""
    env, commands = logging_docker
    plain, other = image_of(PLAIN), image_of(OTHER)
    arg = {
        "name": PLAIN,
        "full id": plain.id,
        "short sha256 id": plain.id[:19],
        "bare short id": other.id[7:19],
        "bare hex naming a tag": short_id_tag,
        "no such image": "kdtest-nowhere:v9",
        "no such id": "sha256:" + "0" * 12,
    }[how]
    outcomes = []
    for extra in ({}, {"ARV_KEEPDOCKER_USE_DOCKER_CLI": "1"}):
        cluster.reset()
        result = tools.ours(arg, extra_env=dict(env, **extra))
        # The last line without its time and pid (before the closing
        # summary of an upload, which carries timings).
        lines = [l for l in result.stderr.splitlines() if " INFO: Uploaded " not in l]
        last = [re.sub(r"^.*?\] ", "", line) for line in lines[-1:]]
        outcomes.append((result.returncode, last, normalized(cluster)))
        if not extra:
            assert commands() == [], commands()
    assert "image" in commands(), commands()
    assert outcomes[0] == outcomes[1]
    status, last_line, state = outcomes[0]
    if how.startswith("no such"):
        assert status == 1 and last_line == ["ERROR: no matching image found"], outcomes[0]
    else:
        assert status == 0, outcomes[0]
        want = other.id if how in ("bare short id", "bare hex naming a tag") else plain.id
        assert want in str(state["links"]), state


class PingDaemon(UnixServer):
    """A Docker socket in front of the real one whose /_ping claims API
    version `claim`; with `gone_after_ping`, it answers the ping and then
    goes away (the socket file removed), as a daemon stopping would."""

    PING = re.compile(rb"^(GET|HEAD) /_ping ")

    def __init__(self, path, real, claim="1.99", gone_after_ping=False):
        self.real, self.claim, self.gone = real, claim, gone_after_ping
        self.requests = []
        self.listen(path)

    def serve(self):
        while True:
            conn = self.accept()
            if conn is None:
                return
            head = b""
            while b"\r\n\r\n" not in head:
                more = conn.recv(65536)
                if not more:
                    break
                head += more
            self.requests.append(head.split(b"\r\n", 1)[0].decode())
            if self.PING.match(head):
                if self.gone:
                    # Gone before the answer, so that no request can be
                    # queued on the listening socket and then reset.
                    self.close()
                conn.sendall(b"HTTP/1.1 200 OK\r\nApi-Version: %s\r\nContent-Length: 2\r\n\r\nOK" % self.claim.encode())
                conn.close()
                if self.gone:
                    return
                continue
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.real)
            upstream.sendall(head)
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                conn.sendall(data)
            upstream.close()
            conn.close()


def test_an_api_version_the_daemon_refuses_is_one_line_in_its_words(cluster, tools, image_of, tmp_path, docker_host):
    """A daemon claiming a version newer than ours is asked in ours; a real
    one that does not speak it refuses, and that is what the user reads."""
    image_of(PLAIN)
    real = docker_host[len("unix://") :]
    daemon = PingDaemon(tmp_path / "ping.sock", real)
    try:
        result = tools.ours(PLAIN, extra_env={"DOCKER_HOST": "unix://" + daemon.path})
    finally:
        daemon.close()
    version = subprocess.run(
        [REAL_DOCKER, "version", "--format", "{{.Server.APIVersion}}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    asked = [r for r in daemon.requests if "/images/" in r]
    assert asked and all(r.startswith("GET /v1.") for r in asked), daemon.requests
    ours = asked[0].split("/")[1][1:]
    if tuple(map(int, ours.split("."))) <= tuple(map(int, version.split("."))):
        pytest.skip("the test bed's daemon speaks our API version %s (its own: %s)" % (ours, version))
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert (
        "Error response from daemon: client version %s is too new. Maximum supported API version is %s; "
        "and Arvados has no image %s either" % (ours, version, PLAIN)
    ) in result.stderr, result.stderr
    assert result.stderr.splitlines()[-1].endswith("ERROR: no matching image found")


def test_a_daemon_gone_after_the_ping_is_named_in_dockers_words(cluster, tools, image_of, tmp_path, docker_host):
    image_of(PLAIN)
    daemon = PingDaemon(tmp_path / "gone.sock", docker_host[len("unix://") :], claim="1.41", gone_after_ping=True)
    try:
        result = tools.ours(PLAIN, extra_env={"DOCKER_HOST": "unix://" + daemon.path})
    finally:
        daemon.close()
    assert result.returncode == 1, result
    assert (
        "Cannot connect to the Docker daemon at unix://%s. Is the docker daemon running?; "
        "and Arvados has no image %s either" % (daemon.path, PLAIN)
    ) in result.stderr, result.stderr
    assert collections(cluster.dump()) == []


def test_without_a_usable_socket_the_cli_answers(cluster, tools, image_of, logging_docker, tmp_path):
    """A socket path where no daemon listens (the docker command may be a
    wrapper that knows better): the command is asked, and answers."""
    env, commands = logging_docker
    image_of(PLAIN)
    wrapper = tmp_path / "logbin" / "docker"
    real_host = tools.env()["DOCKER_HOST"]
    wrapper.write_text(wrapper.read_text().replace("exec ", "DOCKER_HOST=%s exec " % real_host))
    result = ok(tools.ours(PLAIN, extra_env=dict(env, DOCKER_HOST="unix://%s/nothing.sock" % tmp_path)))
    assert {"image", "info", "save"} <= set(commands()), commands()
    image = image_of(PLAIN)
    check_image(cluster, image.archive, image.id, PLAIN, image.created, cluster.user("alice")["uuid"], result.stdout)
