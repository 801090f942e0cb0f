"""The archive of a daemon upload is read from the Docker daemon's socket.

`arv-keepdocker IMAGE` does not run `docker save`: it asks the daemon for the
archive itself (GET /images/{id}/get, the request the docker CLI makes), which
saves a process copying 1 GiB per GiB (README, "Performance"). The docker CLI
is still what runs `docker image inspect` and `docker pull`, and it takes over
the save when the daemon is not a plain unix socket (a named context, tcp://,
ssh://), when the socket cannot be used, or when ARV_KEEPDOCKER_USE_DOCKER_CLI
is set. A daemon that refuses the request also hands over to the CLI: that is
exercised by test_containerd_store.py, whose made-up digests only the fake
`docker` wrapper understands.

These tests watch which way the bytes came with a `docker` wrapper that logs
its arguments, and check the cluster state either way.
"""

import os
import re
import shutil
import socket
import subprocess
import threading

import pytest
from test_source_file import check_image, collections, docker_links, normalized, ok

PLAIN = "kdtest-plain:v1"
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
    assert "save" not in commands(), commands()
    assert "image" in commands() or "inspect" in commands(), commands()
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


class CuttingDaemon:
    """A Docker socket in front of the real one: every request is passed
    through, but the archive request is answered with the first half of the
    archive, after which the connection closes."""

    SAVE = re.compile(rb"^GET (/v[0-9.]+)?/images/[^/ ]+/get[ ?]")

    def __init__(self, path, real, archive):
        self.path, self.real, self.archive = str(path), real, archive
        self.saves = 0
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(8)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
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
