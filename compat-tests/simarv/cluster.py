"""Wiring of the simulated cluster: configuration, the TLS certificate, the
API server and Keep servers, the request log and fault injection.

The TLS material is a small private CA plus a server certificate for
127.0.0.1/localhost, made with the `openssl` command in the state dir, so
clients can either set ARVADOS_API_HOST_INSECURE=1 or trust `ca.pem`
(a self-signed CA certificate cannot double as the server certificate for
strict verifiers such as rustls/webpki).
"""

import json
import os
import random
import re
import secrets
import shutil
import ssl
import subprocess
import tempfile
import threading
import time

from .store import DB, USERS, ApiError
from .keep import KeepService
from .util import CLUSTER_ID

DEFAULT_CONFIG = {
    "docker_image_formats": ["v2"],   # None: omit dockerImageFormats from discovery
    "default_replication": 2,
    "storage_classes": ["default"],   # all are Default: true
    "blob_signing_ttl": 1209600,
    "keep_proxy": False,              # clients are offered only the proxy
    "benchmark": False,               # Keep discards block bodies
    "max_request_size": 134217728,
    "trash_lifetime": 1209600,
    "error_format": "controller",     # or "rails": unwrapped Rails error bodies
}


def parse_formats(value):
    """--docker-image-formats: "v2", "v1,v2", "" (empty list) or "none"."""
    if value is None or isinstance(value, list):
        return value
    if value.strip().lower() == "none":
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def normalize_config(overrides, base=None):
    cfg = dict(base or DEFAULT_CONFIG)
    for k, v in (overrides or {}).items():
        if k not in DEFAULT_CONFIG:
            raise ValueError("unknown config key %r (known: %s)" % (k, ", ".join(sorted(DEFAULT_CONFIG))))
        if k == "docker_image_formats":
            v = parse_formats(v)
        elif k == "storage_classes":
            v = [c.strip() for c in v.split(",") if c.strip()] if isinstance(v, str) else list(v)
            if not v:
                raise ValueError("storage_classes must not be empty")
        elif k in ("default_replication", "blob_signing_ttl", "max_request_size", "trash_lifetime"):
            v = int(v)
        elif k in ("keep_proxy", "benchmark"):
            v = bool(v)
        elif k == "error_format" and v not in ("controller", "rails"):
            raise ValueError("error_format must be 'controller' or 'rails'")
        cfg[k] = v
    return cfg


def make_certificates(state_dir):
    """Create (or reuse) ca.pem and server.pem/server.key in state_dir."""
    ca, cert, key = (os.path.join(state_dir, n) for n in ("ca.pem", "server.pem", "server.key"))
    if all(os.path.exists(p) for p in (ca, cert, key)):
        return ca, cert, key
    ca_key = os.path.join(state_dir, "ca.key")
    csr = os.path.join(state_dir, "server.csr")
    ext = os.path.join(state_dir, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda args: subprocess.run(["openssl"] + args, check=True, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)
    try:
        run(["req", "-x509"] + ec + ["-keyout", ca_key, "-out", ca, "-days", "3650",
                                     "-subj", "/CN=simarv test CA",
                                     "-addext", "basicConstraints=critical,CA:TRUE",
                                     "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        run(["req"] + ec + ["-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"])
        run(["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-set_serial",
             str(random.randint(1, 2 ** 62)), "-out", cert, "-days", "3650", "-extfile", ext])
    except subprocess.CalledProcessError as e:
        raise RuntimeError("openssl failed: %s" % e.stderr.decode("utf-8", "replace"))
    return ca, cert, key


class Cluster(object):
    """A running simulated cluster. `options` are the command line options
    (see cli.py): state_dir, api_port, keep_servers, and config overrides."""

    def __init__(self, state_dir=None, api_port=0, keep_servers=2, config=None, quiet=False):
        self.remove_state_dir = state_dir is None
        self.state_dir = os.path.abspath(state_dir or tempfile.mkdtemp(prefix="simarv-"))
        os.makedirs(self.state_dir, exist_ok=True)
        self.config = normalize_config(config)
        self.initial_config = dict(self.config)
        self.api_port = api_port
        self.quiet = quiet
        self.lock = threading.Lock()
        self.blob_signing_key = self._load_key()
        self.db = DB(self)
        self._log = []
        self._seq = 0
        self.faults = {}
        self._put_rng = None
        self._hold = None
        self.keep = [KeepService(self, "keep%d" % i, "disk", "%s-bi6l4-%015d" % (CLUSTER_ID, i),
                                 os.path.join(self.state_dir, "keep%d" % i)) for i in range(keep_servers)]
        self.proxy = KeepService(self, "proxy", "proxy", "%s-bi6l4-proxy0000000000" % CLUSTER_ID,
                                 os.path.join(self.state_dir, "proxy"))
        self.api = None
        self.ca_path = None

    def _load_key(self):
        # Kept in the state dir so signatures survive a restart on the same dir.
        path = os.path.join(self.state_dir, "blob_signing_key")
        if os.path.exists(path):
            with open(path) as f:
                return f.read().strip().encode()
        key = secrets.token_hex(32)
        with open(path, "w") as f:
            f.write(key)
        return key.encode()

    # --- lifecycle ---------------------------------------------------------------------

    def start(self):
        from .api import ApiServer
        self.ca_path, cert, key = make_certificates(self.state_dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        for ks in self.keep + [self.proxy]:
            ks.start()
        self.api = ApiServer(self, ("127.0.0.1", self.api_port), ctx)
        self.api_port = self.api.server_address[1]
        self._api_thread = threading.Thread(target=self.api.serve_forever, kwargs={"poll_interval": 0.2},
                                            name="api", daemon=True)
        self._api_thread.start()

    def stop(self):
        if self.api is not None:
            self.api.shutdown()
            self.api.server_close()
            self.api = None
        # Stop the Keep servers in parallel: each shutdown waits for its poll loop.
        threads = [threading.Thread(target=ks.stop) for ks in self.keep + [self.proxy]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if self.remove_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    # --- facts ---------------------------------------------------------------------------

    @property
    def api_host(self):
        return "127.0.0.1:%d" % self.api_port

    @property
    def api_root(self):
        return "https://%s/" % self.api_host

    def disk_services(self):
        return list(self.keep)

    def keep_services(self):
        return [ks.describe() for ks in self.keep + [self.proxy]]

    def accessible_services(self):
        """What keep_services/accessible returns (§5.2)."""
        if self.config["keep_proxy"]:
            return [self.proxy]
        return list(self.keep)

    def info(self):
        return {
            "cluster_id": CLUSTER_ID,
            "api_host": self.api_host,
            "api_url": self.api_root,
            "control_url": self.api_root + "_sim/",
            "ca_cert": self.ca_path,
            "insecure": True,
            "pid": os.getpid(),
            "state_dir": self.state_dir,
            "config": dict(self.config),
            "users": [{"name": u["name"], "uuid": u["uuid"], "token": u["token"],
                       "token_uuid": u["token_uuid"], "secret": u["secret"]} for u in USERS],
            "keep_services": self.keep_services(),
            "accessible_keep_services": [ks.uuid for ks in self.accessible_services()],
        }

    # --- request log ---------------------------------------------------------------------

    def record(self, entry):
        with self.lock:
            self._seq += 1
            entry["seq"] = self._seq
            entry["time"] = time.time()
            self._log.append(entry)

    def log_entries(self, server=None):
        with self.lock:
            return [dict(e) for e in self._log if server is None or e["server"] == server]

    def clear_log(self):
        with self.lock:
            self._log = []

    # --- faults -----------------------------------------------------------------------------

    def set_faults(self, spec):
        """Merge a fault spec (see /_sim/faults) into the active faults."""
        spec = dict(spec or {})
        known = {"keep_put_fail", "keep_down", "api_fail", "latency_ms", "hold"}
        unknown = set(spec) - known
        if unknown:
            raise ValueError("unknown fault(s): %s" % ", ".join(sorted(unknown)))
        with self.lock:
            if "keep_put_fail" in spec:
                f = dict(spec["keep_put_fail"] or {})
                if f:
                    # With a rate, each PUT fails with that probability
                    # (seeded, so a run is repeatable), without a count limit
                    # unless one is given.
                    f.setdefault("count", 1 if "rate" not in f else 1 << 62)
                    f.setdefault("status", 503)
                    self._put_rng = random.Random(f.get("seed", 0))
                self.faults["keep_put_fail"] = f
            if "hold" in spec:
                self._release_hold()
                f = dict(spec["hold"] or {})
                if f:
                    f.setdefault("server", "api")
                    f.setdefault("nth", 1)
                    if f.get("path_re"):
                        re.compile(f["path_re"])
                    self._hold = {"spec": f, "seen": 0, "held": False, "event": threading.Event()}
            if "api_fail" in spec:
                f = dict(spec["api_fail"] or {})
                if f:
                    f.setdefault("count", 1)
                    f.setdefault("status", 502)
                    if f.get("path_re"):
                        re.compile(f["path_re"])
                self.faults["api_fail"] = f
            if "latency_ms" in spec:
                self.faults["latency_ms"] = dict(spec["latency_ms"] or {})
            down = None
            if "keep_down" in spec:
                down = set(spec["keep_down"] or [])
                names = set(ks.name for ks in self.keep + [self.proxy])
                if down - names:
                    raise ValueError("unknown keep server(s): %s" % ", ".join(sorted(down - names)))
                self.faults["keep_down"] = sorted(down)
        if down is not None:
            for ks in self.keep + [self.proxy]:
                (ks.down if ks.name in down else ks.up)()
        return self.get_faults()

    def get_faults(self):
        with self.lock:
            out = json.loads(json.dumps(self.faults))
            if self._hold is not None:
                h = self._hold
                out["hold"] = dict(h["spec"], seen=h["seen"], held=h["held"], released=h["event"].is_set())
            return out

    def clear_faults(self):
        with self.lock:
            self.faults = {}
            self._release_hold()
        for ks in self.keep + [self.proxy]:
            ks.up()

    def take_put_fault(self, server):
        """Status to fail this Keep PUT with, consuming one count, or None."""
        with self.lock:
            f = self.faults.get("keep_put_fail")
            if not f or f.get("count", 0) <= 0:
                return None
            if f.get("server") and f["server"] != server:
                return None
            if f.get("after", 0) > 0:  # let this many PUTs through first
                f["after"] -= 1
                return None
            if "rate" in f and self._put_rng.random() >= float(f["rate"]):
                return None
            f["count"] -= 1
            f["failed"] = f.get("failed", 0) + 1
            return int(f.get("status", 503))

    def take_api_fault(self, path, method=None):
        with self.lock:
            f = self.faults.get("api_fail")
            if not f or f.get("count", 0) <= 0:
                return None
            if f.get("path_re") and not re.search(f["path_re"], path):
                return None
            if f.get("method") and method and f["method"].upper() != method.upper():
                return None
            f["count"] -= 1
            return int(f.get("status", 502))

    # A hold blocks the nth request matching {"server": "api" | "keep" | a
    # Keep server's name, "method", "path_re"} until release() (or 120 s),
    # then lets it proceed (or, with "then": "fail", answers an API request
    # 503 without carrying it out): a test can act (e.g. signal the client) at an
    # exact point of a run. Released by a new hold, clear_faults and reset.

    def wait_if_held(self, server, kind, method, path):
        with self.lock:
            h = self._hold
            if h is None or h["seen"] >= h["spec"]["nth"]:
                return
            f = h["spec"]
            if f["server"] not in (server, kind):
                return
            if f.get("method") and f["method"].upper() != method.upper():
                return
            if f.get("path_re") and not re.search(f["path_re"], path):
                return
            h["seen"] += 1
            if h["seen"] != f["nth"]:
                return
            h["held"] = True
            event = h["event"]
        event.wait(120)
        return f.get("then", "proceed")

    def _release_hold(self):
        if self._hold is not None:
            self._hold["event"].set()
        self._hold = None

    def release(self):
        """Lets the held request go on; the hold is spent."""
        with self.lock:
            if self._hold is not None:
                self._hold["event"].set()

    def sleep_latency(self, which):
        with self.lock:
            ms = (self.faults.get("latency_ms") or {}).get(which)
        if ms:
            time.sleep(float(ms) / 1000.0)

    # --- reset & dump -----------------------------------------------------------------------

    def reset(self, overrides=None):
        """A fresh cluster: objects (except users and tokens), blocks, log and
        faults wiped; config back to the start-up config plus `overrides`."""
        cfg = normalize_config(overrides, base=self.initial_config)
        self.clear_faults()
        with self.db.lock:
            self.config = cfg
            self.db.reset()
        for ks in self.keep:
            ks.wipe()
        self.clear_log()
        return self.info()

    def dump(self):
        out = self.db.dump()
        out["blocks"] = {ks.name: ks.blocks() for ks in self.keep}
        return out


__all__ = ["Cluster", "ApiError", "normalize_config", "DEFAULT_CONFIG"]
