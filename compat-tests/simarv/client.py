"""SimCluster: the small client tests use to run and drive a simulated
cluster (standard library only).

    from simarv.client import SimCluster

    with SimCluster.start(docker_image_formats=["v2"]) as cluster:
        env = cluster.env("alice")        # ARVADOS_API_HOST/TOKEN/HOST_INSECURE
        ...run a tool with env...
        cluster.dump()["collections"]     # every object, manifests unsigned
        cluster.log()                     # every API and Keep request
        cluster.reset()                   # a fresh cluster, same servers

`SimCluster.start(**options)` spawns `compat-tests/sim-cluster` and waits
until it is ready; a failure raises SimError with the server's stderr.
Options: state_dir, api_port, keep_servers, keep_proxy, docker_image_formats
(list, [] or None), default_replication, storage_classes (list or "a,b"),
blob_signing_ttl, benchmark, error_format ("controller" | "rails").

Users are "alice" and "bob" (or their uuids). Control calls map onto the
server's /_sim/ endpoints; see simarv/api.py for the JSON they return.
"""

import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SIM_CLUSTER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sim-cluster")


class SimError(RuntimeError):
    """The simulated cluster failed to start or refused a control call."""


class _StartMethod(object):
    # SimCluster.start(**opts) builds and starts a cluster; an unstarted
    # instance's .start(**opts) starts that instance.
    def __get__(self, obj, cls):
        if obj is None:
            return lambda **options: cls()._start(**options)
        return obj._start


class SimCluster(object):
    start = _StartMethod()

    def __init__(self):
        self.proc = None
        self.info = None
        self._tmp = None
        self._ssl = None
        self._stderr_text = ""

    # --- lifecycle --------------------------------------------------------------

    def _start(self, timeout=60, **options):
        if self.proc is not None:
            raise SimError("already started")
        self._tmp = tempfile.mkdtemp(prefix="simarv-client-")
        info_file = os.path.join(self._tmp, "info.json")
        argv = [sys.executable, SIM_CLUSTER, "--info-file", info_file, "--quiet",
                "--watch-pid", str(os.getpid())] + _flags(options)
        self._stderr = open(os.path.join(self._tmp, "stderr"), "w+")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self._stderr,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not os.path.exists(info_file):
            if self.proc.poll() is not None:
                raise SimError("sim-cluster exited with status %d:\n%s" % (self.proc.returncode, self.stderr()))
            if time.monotonic() > deadline:
                self.stop()
                raise SimError("sim-cluster did not start within %ds:\n%s" % (timeout, self.stderr()))
            time.sleep(0.05)
        with open(info_file) as f:
            self.info = json.load(f)
        self._ssl = ssl.create_default_context(cafile=self.info["ca_cert"])
        return self

    def stop(self):
        """Stop the server (SIGTERM, then SIGKILL after 10 s) and remove the
        client's temporary files; stderr() still answers afterwards."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._tmp is not None:
            self._stderr_text = self.stderr()
            self._stderr.close()
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stderr(self):
        """What the server wrote on stderr so far (tracebacks of sim bugs)."""
        if self._tmp is None:
            return self._stderr_text
        self._stderr.flush()
        with open(self._stderr.name) as f:
            return f.read()

    # --- facts ----------------------------------------------------------------------

    @property
    def api_host(self):
        return self.info["api_host"]

    @property
    def ca_cert(self):
        return self.info["ca_cert"]

    def user(self, who="alice"):
        """{"name", "uuid", "token", "token_uuid", "secret"} of alice or bob."""
        for u in self.info["users"]:
            if who in (u["name"], u["uuid"]):
                return dict(u)
        raise KeyError("no such user %r" % who)

    def token(self, who="alice"):
        return self.user(who)["token"]

    def env(self, user="alice"):
        """ARVADOS_* variables for running a client as `user`."""
        return {
            "ARVADOS_API_HOST": self.info["api_host"],
            "ARVADOS_API_TOKEN": self.token(user),
            "ARVADOS_API_HOST_INSECURE": "1",
        }

    def keep_services(self):
        return list(self.info["keep_services"])

    # --- generic HTTP -----------------------------------------------------------------

    def request(self, method, path, body=None, user="alice", token=None, headers=None, raw=False):
        """An API request as `user` (or with an explicit `token`; token="" for
        none). `body` is JSON-encoded unless it is bytes. Returns
        (status, parsed JSON or bytes if raw, response headers)."""
        hdrs = dict(headers or {})
        tok = self.token(user) if token is None else token
        if tok:
            hdrs.setdefault("Authorization", "Bearer " + tok)
        data = None
        if body is not None:
            if isinstance(body, (bytes, bytearray)):
                data = bytes(body)
            else:
                data = json.dumps(body).encode()
                hdrs.setdefault("Content-Type", "application/json")
        req = urllib.request.Request("https://%s%s" % (self.info["api_host"], path), data=data,
                                     method=method, headers=hdrs)
        try:
            resp = urllib.request.urlopen(req, context=self._ssl, timeout=120)
            status, payload, rh = resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as e:
            status, payload, rh = e.code, e.read(), dict(e.headers)
        if raw:
            return status, payload, rh
        try:
            return status, json.loads(payload.decode("utf-8")) if payload else None, rh
        except ValueError:
            return status, payload, rh

    def _control(self, method, path, body=None):
        status, out, _ = self.request(method, "/_sim/" + path, body=body, token="")
        if status != 200:
            raise SimError("/_sim/%s: %s %s" % (path, status, out))
        return out

    # --- control API -------------------------------------------------------------------------

    def reset(self, **config):
        """Wipe everything but the two users; apply config overrides
        (docker_image_formats, default_replication, keep_proxy, storage_classes,
        blob_signing_ttl, benchmark, error_format). Returns the new info."""
        self.info = self._control("POST", "reset", config)
        return self.info

    def dump(self):
        """{"users", "groups", "collections", "links": [records], "blocks": {server: [{hash, size}]}}."""
        return self._control("GET", "dump")

    def log(self, server=None):
        """Request log entries: server, method (effective), http_method, path,
        params, body, status, request_id, user, desired_replicas,
        storage_classes, headers, seq, time."""
        return self._control("GET", "log" + ("?server=" + server if server else ""))

    def clear_log(self):
        self._control("POST", "log/clear")

    def faults(self, **spec):
        """Merge faults: keep_put_fail={"count", "status", "server", "after"}
        or {"rate": 0.3, "seed": n, ...} (each PUT fails with that
        probability; "after": that many PUTs succeed before the failures
        start), keep_down=[names], api_fail={"count", "status", "path_re",
        "method"}, latency_ms={"api": n, "keep": n}, hold={"server": "api" |
        "keep" | name, "method", "path_re", "nth"} (see hold()). Returns the
        active faults."""
        return self._control("POST", "faults", spec)

    def hold(self, server="api", method=None, path_re=None, nth=1, then="proceed"):
        """Block the nth request matching these (server "api", "keep" for
        any Keep server, or one Keep server's name; Keep holds see PUTs
        only, before the body is read) until release(); then carry it out,
        or with then="fail" answer an API request 503 without doing it."""
        spec = {"server": server, "nth": nth, "then": then}
        if method:
            spec["method"] = method
        if path_re:
            spec["path_re"] = path_re
        return self.faults(hold=spec)["hold"]

    def wait_held(self, timeout=60, proc=None):
        """Wait until the hold caught its request; False on timeout or if
        `proc` (a Popen) exited first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._control("GET", "faults").get("hold", {}).get("held"):
                return True
            if proc is not None and proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def release(self):
        """Let a held request proceed."""
        return self._control("POST", "release")

    def clear_faults(self):
        self._control("POST", "faults/clear")

    def create_project(self, owner, name, **attrs):
        """A project (group_class "project") owned by a user (name or uuid) or project."""
        body = dict(attrs, owner_uuid=owner, name=name)
        return self._control("POST", "projects", body)

    def share(self, head, user, perm="can_read"):
        """A permission link granting `user` `perm` on `head`."""
        return self._control("POST", "share", {"head_uuid": head, "user_uuid": user, "perm": perm})

    def seed(self, collections=None, links=None, groups=None):
        """Insert records verbatim (uuid, owner_uuid, created_at... may be given)."""
        return self._control("POST", "seed", {"collections": collections or [], "links": links or [],
                                              "groups": groups or []})

    def resolve(self, image, user="alice", tag=None):
        """Server-side Docker image resolution (§8.1) as `user`:
        {"pdh", "uuid", "candidates"} or {"error"}."""
        from urllib.parse import urlencode
        q = {"user": user, "image": image}
        if tag is not None:
            q["tag"] = tag
        return self._control("GET", "resolve?" + urlencode(q))

    def sign(self, locator, user="alice", token=None, expires_at=None):
        """`locator` signed for a user's token (or any token), optionally with
        a chosen expiry (unix seconds, may be in the past)."""
        body = {"locator": locator, "user": user}
        if token is not None:
            body["token"] = token
        if expires_at is not None:
            body["expires_at"] = expires_at
        return self._control("POST", "sign", body)["locator"]


def _flags(options):
    argv = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if key in ("keep_proxy", "benchmark"):
            if value:
                argv.append(flag)
        elif key == "docker_image_formats":
            argv += [flag, "none" if value is None else ",".join(value) if isinstance(value, list) else value]
        elif key == "storage_classes":
            argv += [flag, ",".join(value) if isinstance(value, list) else value]
        elif key in ("state_dir", "api_port", "keep_servers", "default_replication", "blob_signing_ttl",
                     "error_format"):
            argv += [flag, str(value)]
        else:
            raise TypeError("unknown SimCluster option %r" % key)
    return argv
