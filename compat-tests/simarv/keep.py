"""Keep servers (contract §5): disk servers ("keepstore") and a proxy
("keepproxy"), plain HTTP on 127.0.0.1.

Behaviour follows services/keepstore/router.go + keepstore.go and
services/keepproxy/keepproxy.go:
  * keepstore PUT: body read in 1 MiB chunks into md5 and a temp file,
    "content hash X did not match specified locator Y" (400) on mismatch,
    413 over 64 MiB, 507 when none of the requested storage classes is
    served, and a response `<signed locator>\\n` with X-Keep-Replicas-Stored
    and X-Keep-Storage-Classes-Confirmed. A PUT without a token still stores
    the block and returns an unsigned locator.
  * keepstore GET/HEAD: 400 for a bad locator or signature, 401 for no
    token or an expired signature, 405 for GET without a size hint (except
    the empty block), 404 "file does not exist".
  * keepproxy PUT: 411 without Content-Length, 400 when the size hint
    disagrees with it, 403 for a bad token, 413 over 64 MiB; it stores the
    block on the disk servers itself, in rendezvous order, over HTTP (so
    their log entries and faults apply) and reports the replicas written;
    503 "Could not write sufficient replicas: ..." if it falls short. Unlike
    the real proxy it makes one pass over the servers, without retry rounds.
  * keepproxy GET/HEAD: 403 for a bad token; fetches from the disk servers.
`Expect: 100-continue` is honoured: checks that need no body happen before
the client is told to continue, so a refused PUT costs no upload.
"""

import hashlib
import http.client
import os
import re
import tempfile
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qsl, unquote

from . import blobsig
from .util import EMPTY_BLOCK_HASH

BLOCK_SIZE = 64 << 20
CHUNK = 1 << 20
IN_MEMORY_MAX = 8 << 20

_LOCATOR_PATH_RE = re.compile(r"^/([0-9a-f]{32}.*)$")
_PROXY_LOCATOR_RE = re.compile(r"^([0-9a-f]{32})(\+([0-9]+))?(\+[A-Z][A-Za-z0-9@_-]*)*$")
_K_HINT_RE = re.compile(r"\+K@[a-z0-9]{5}(\+|$)")


def rendezvous_order(block_hash, services):
    """Probe order for a block: md5(hash + last 15 chars of uuid), descending."""
    return sorted(services, key=lambda s: hashlib.md5((block_hash + s.uuid[-15:]).encode()).hexdigest(),
                  reverse=True)


def locator_info(loc):
    """keepstore's getLocatorInfo: (hash, size) or None if invalid."""
    parts = loc.split("+")
    if any(p == "" for p in parts):
        return None
    h = parts[0]
    if len(h) != 32 or not re.match(r"^[0-9a-f]{32}$", h):
        return None
    size = 0
    if len(parts) > 1 and parts[1].isdigit():
        size = int(parts[1])
    for p in parts[2:]:
        if p[0].isdigit():
            return None  # size, if present at all, must come first
    return h, size


class _Reject(Exception):
    def __init__(self, status, text, close=False):
        Exception.__init__(self, text)
        self.status = status
        self.text = text
        self.close = close


class _KeepHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # dropped connections; handler bugs are reported by the handler


class KeepHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY the
    # second waits for the client's delayed ACK (~40 ms a response), which
    # no real Arvados server adds.
    disable_nagle_algorithm = True
    server_version = "simarv-keep/1.0"
    timeout = 120

    # --- plumbing ------------------------------------------------------------------

    @property
    def svc(self):
        return self.server.svc

    def log_message(self, fmt, *args):
        pass

    def parse_request(self):
        self._prechecked = False
        self._logged = False
        self._body_started = False
        self._t0 = time.time()
        if self.svc.is_down:
            # A server that is "down" drops connections that were already open.
            self.close_connection = True
            return False
        self.svc.cluster.sleep_latency("keep")
        return BaseHTTPRequestHandler.parse_request(self)

    def handle_expect_100(self):
        if self.command == "PUT":
            try:
                self._precheck_put()
            except _Reject as r:
                self._prechecked = True
                self._respond(r.status, r.text.encode() + b"\n", close=True)
                return False
            self._prechecked = True
        return BaseHTTPRequestHandler.handle_expect_100(self)

    def _token(self):
        auth = self.headers.get("Authorization", "")
        parts = auth.split(" ", 1)
        if len(parts) == 2 and parts[0] in ("Bearer", "OAuth2") and parts[1].strip():
            return parts[1].strip()
        return None

    def _respond(self, status, body, headers=None, close=False, body_iter=None, length=None,
                 received=None):
        self.send_response(status)
        hdrs = {"Content-Type": "text/plain; charset=utf-8"}
        hdrs.update(headers or {})
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(length if length is not None else len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self._log(status, received)
        if self.command == "HEAD":
            return
        try:
            if body_iter is not None:
                for chunk in body_iter:
                    self.wfile.write(chunk)
            elif body:
                self.wfile.write(body)
        except OSError:
            self.close_connection = True  # the client went away mid-body

    def _log(self, status, received=None):
        if self._logged:
            return
        self._logged = True
        u = urlsplit(self.path)
        hdrs = {}
        for h in ("X-Keep-Desired-Replicas", "X-Keep-Storage-Classes"):
            if self.headers.get(h) is not None:
                hdrs[h] = self.headers.get(h)
        self.svc.cluster.record({
            "server": self.svc.name, "method": self.command, "http_method": self.command,
            "path": u.path, "params": dict(parse_qsl(u.query, keep_blank_values=True)),
            "body": {"size": received} if received is not None else None,
            "status": status, "request_id": self.headers.get("X-Request-Id"),
            "headers": hdrs, "desired_replicas": hdrs.get("X-Keep-Desired-Replicas"),
            "storage_classes": hdrs.get("X-Keep-Storage-Classes"),
            "user": self.svc.cluster.db.authenticate(self._token()),
            "elapsed_ms": int((time.time() - self._t0) * 1000),
        })

    def _content_length(self):
        cl = self.headers.get("Content-Length")
        if cl is None:
            return None
        try:
            n = int(cl)
        except ValueError:
            return None
        return n if n >= 0 else None

    def _chunked(self):
        return "chunked" in self.headers.get("Transfer-Encoding", "").lower()

    def _body_chunks(self, limit=BLOCK_SIZE):
        """Yield memoryviews of the request body, at most 1 MiB each, from a
        buffer reused across chunks. Raises _Reject(413) past `limit`."""
        self._body_started = True
        buf = bytearray(CHUNK)
        mv = memoryview(buf)
        total = 0
        if self._chunked():
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise _Reject(400, "unexpected EOF", close=True)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                while size > 0:
                    n = self.rfile.readinto(mv[:min(CHUNK, size)])
                    if not n:
                        raise _Reject(400, "unexpected EOF", close=True)
                    size -= n
                    total += n
                    if total > limit:
                        raise _Reject(413, "request entity too large", close=True)
                    yield mv[:n]
                self.rfile.readline(16)
        remaining = self._content_length() or 0
        while remaining > 0:
            n = self.rfile.readinto(mv[:min(CHUNK, remaining)])
            if not n:
                raise _Reject(400, "unexpected EOF", close=True)
            remaining -= n
            total += n
            if total > limit:
                raise _Reject(413, "request entity too large", close=True)
            yield mv[:n]

    def _drain_or_close(self):
        """After refusing a PUT whose body the client is already sending:
        read it away if that is cheap, otherwise close the connection."""
        if self.headers.get("Expect", "").lower() == "100-continue":
            self.close_connection = True
            return
        cl = self._content_length()
        if cl is not None and cl <= BLOCK_SIZE + CHUNK:
            try:
                for _ in self._body_chunks(limit=cl):
                    pass
                return
            except _Reject:
                pass
        self.close_connection = True

    # --- verbs -------------------------------------------------------------------------

    def do_PUT(self):
        try:
            if not self._prechecked:
                self._precheck_put()
            if self.svc.kind == "proxy":
                self._put_proxy()
            else:
                self._put_disk()
        except _Reject as r:
            if self._logged:
                return
            if r.close:
                self.close_connection = True
            elif not self._body_started:
                self._drain_or_close()
            self._respond(r.status, r.text.encode() + b"\n", close=self.close_connection)
        except Exception as e:
            self._internal_error(e)

    def do_GET(self):
        try:
            if self.svc.kind == "proxy":
                self._get_proxy()
            else:
                self._get_disk()
        except _Reject as r:
            self._respond(r.status, r.text.encode() + b"\n", close=r.close)
        except Exception as e:
            self._internal_error(e)

    def _internal_error(self, e):
        """A bug in the simulation: answer 500 and say so on stderr. A
        connection the client dropped is not a bug: just close it."""
        if isinstance(e, OSError):
            self.close_connection = True
            if not self._logged:
                self._log(499)
            return
        traceback.print_exc()
        if not self._logged:
            self._respond(500, ("simarv internal error: %r\n" % e).encode(), close=True)

    do_HEAD = do_GET

    def do_POST(self):
        self._drain_or_close()
        self._respond(400, b"Bad Request\n")

    do_DELETE = do_POST

    # --- PUT ---------------------------------------------------------------------------------

    def _precheck_put(self):
        """Everything that can be refused before reading the body."""
        svc = self.svc
        path = unquote(urlsplit(self.path).path)
        m = _LOCATOR_PATH_RE.match(path)
        if not m:
            raise _Reject(400, "Bad Request")
        svc.cluster.wait_if_held(svc.name, "keep", "PUT", path)
        fault = svc.cluster.take_put_fault(svc.name)
        if fault:
            raise _Reject(fault, "simulated failure (%s)" % svc.name)
        cl = self._content_length()
        if svc.kind == "proxy":
            if cl is None:
                raise _Reject(411, "Length Required")
            pm = _PROXY_LOCATOR_RE.match(m.group(1))
            if not pm:
                raise _Reject(400, "Invalid locator")
            if pm.group(3) and int(pm.group(3)) > 0 and int(pm.group(3)) != cl:
                raise _Reject(400, "Locator size hint does not match Content-Length header")
            if svc.cluster.db.authenticate(self._token()) is None:
                raise _Reject(403, "Missing or invalid Authorization header, or method not allowed")
            if cl > BLOCK_SIZE:
                raise _Reject(413, "Exceeded maximum block size (%d)" % BLOCK_SIZE)
        elif cl is not None and cl > BLOCK_SIZE:
            raise _Reject(413, "request entity too large", close=True)

    def _put_disk(self):
        svc = self.svc
        cluster = svc.cluster
        locator_in = _LOCATOR_PATH_RE.match(unquote(urlsplit(self.path).path)).group(1)
        want_hash = locator_in[:32]
        token = self._token()
        wanted = [c.strip() for c in self.headers.get("X-Keep-Storage-Classes", "").split(",") if c.strip()]
        classes = sorted(cluster.config["storage_classes"])
        if cluster.config["benchmark"]:
            n = 0
            for chunk in self._body_chunks():
                n += len(chunk)
            block_hash = want_hash
        else:
            md5 = hashlib.md5()
            fd, tmp = tempfile.mkstemp(dir=svc.dir, prefix=".tmp-")
            n = 0
            try:
                with os.fdopen(fd, "wb") as f:
                    for chunk in self._body_chunks():
                        md5.update(chunk)
                        f.write(chunk)
                        n += len(chunk)
                block_hash = md5.hexdigest()
                if not locator_in.startswith(block_hash):
                    raise _Reject(400, "content hash %s did not match specified locator %s" % (block_hash, locator_in))
                if wanted and not set(wanted) & set(classes):
                    raise _Reject(507, "insufficient storage")
                svc.store_file(block_hash, tmp, n)
                tmp = None
            finally:
                if tmp is not None:
                    try:
                        os.unlink(tmp)
                    except OSError:
                        pass
        loc = "%s+%d" % (block_hash, n)
        if token:
            loc = blobsig.sign_locator(loc, token, cluster.blob_signing_key, cluster.config["blob_signing_ttl"])
        self._respond(200, (loc + "\n").encode(), headers={
            "X-Keep-Replicas-Stored": "1",
            "X-Keep-Storage-Classes-Confirmed": ", ".join("%s=1" % c for c in classes),
        }, received=n)

    def _put_proxy(self):
        svc = self.svc
        cluster = svc.cluster
        locator_in = _LOCATOR_PATH_RE.match(unquote(urlsplit(self.path).path)).group(1)
        want_hash = locator_in[:32]
        token = self._token()
        try:
            want = int(self.headers.get("X-Keep-Desired-Replicas", ""))
        except ValueError:
            want = cluster.config["default_replication"]
        classes = [c.strip() for c in self.headers.get("X-Keep-Storage-Classes", "").split(",") if c.strip()]
        if cluster.config["benchmark"]:
            n = 0
            for chunk in self._body_chunks():
                n += len(chunk)
            loc = blobsig.sign_locator("%s+%d" % (want_hash, n), token, cluster.blob_signing_key,
                                       cluster.config["blob_signing_ttl"])
            hdrs = {"X-Keep-Replicas-Stored": str(want)}
            if classes:
                hdrs["X-Keep-Storage-Classes-Confirmed"] = ", ".join("%s=%d" % (c, want) for c in classes)
            self._respond(200, loc.encode(), headers=hdrs, received=n)
            return
        md5 = hashlib.md5()
        spool = _Spool(svc.dir)
        try:
            n = 0
            for chunk in self._body_chunks():
                md5.update(chunk)
                spool.write(chunk)
                n += len(chunk)
            spool.finish()
            if md5.hexdigest() != want_hash:
                # The real proxy streams through a checksumming reader, so the
                # upstream PUTs die mid-body and it reports too few replicas.
                first = rendezvous_order(want_hash, cluster.disk_services())[:1]
                where = first[0].url.rstrip("/") if first else "http://keep"
                raise _Reject(503, "Could not write sufficient replicas: [0] Put \"%s/%s\": Reader failed checksum"
                              % (where, want_hash))
            status, text, hdrs = self._proxy_store(want_hash, spool, n, token, want, classes)
            self._respond(status, text.encode(), headers=hdrs, received=n)
        finally:
            spool.close()

    def _proxy_store(self, block_hash, spool, size, token, want, classes):
        """Write to the disk servers like Go's keepclient (one round)."""
        cluster = self.svc.cluster
        servers = rendezvous_order(block_hash, [s for s in cluster.disk_services() if not s.read_only])
        todo = {c: want for c in (classes or cluster.config["storage_classes"])}
        tracking = bool(todo)
        done = 0
        locator = None
        last_errors = {}
        nxt = 0
        reqid = self.headers.get("X-Request-Id") or ""
        while True:
            need = min(todo.values()) if tracking and todo else (0 if tracking else want - done)
            if need < 1:
                break
            batch = servers[nxt:nxt + need]
            nxt += len(batch)
            if not batch:
                break
            results = [None] * len(batch)

            def upload(i, s):
                results[i] = _upstream_put(s, block_hash, spool, size, token, reqid, want, sorted(todo))
            threads = [threading.Thread(target=upload, args=(i, s)) for i, s in enumerate(batch)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for s, (status, body, rep, confirmed) in zip(batch, results):
                if status == 200:
                    done += rep
                    locator = body
                    if not confirmed:
                        tracking = False
                    for c, k in confirmed.items():
                        if c in todo:
                            todo[c] -= k
                            if todo[c] <= 0:
                                del todo[c]
                else:
                    last_errors[s.url] = ("[%d] %s" % (status, body))[:100]
        hdrs = {"X-Keep-Replicas-Stored": str(done)}
        ok = (not todo) if tracking else done >= want
        if ok and locator:
            if classes:
                hdrs["X-Keep-Storage-Classes-Confirmed"] = ", ".join("%s=%d" % (c, done) for c in classes)
            return 200, locator, hdrs
        msg = "Could not write sufficient replicas: " + "; ".join(last_errors.values())
        return 503, msg + "\n", hdrs

    # --- GET / HEAD -------------------------------------------------------------------------

    def _get_disk(self):
        svc = self.svc
        cluster = svc.cluster
        m = _LOCATOR_PATH_RE.match(unquote(urlsplit(self.path).path))
        if not m:
            raise _Reject(400, "Bad Request")
        locator = m.group(1)
        li = locator_info(locator)
        if li is None:
            raise _Reject(400, "invalid locator")
        block_hash, size = li
        if self.command == "GET" and size == 0 and block_hash != EMPTY_BLOCK_HASH:
            raise _Reject(405, "method not allowed")
        token = self._token()
        if not token:
            raise _Reject(401, "no token provided in Authorization header")
        v = blobsig.verify_locator(locator, token, cluster.blob_signing_key, cluster.config["blob_signing_ttl"])
        if v == "expired":
            raise _Reject(401, "expired signature")
        if v != "ok":
            raise _Reject(400, "invalid signature")
        stored = svc.block_size(block_hash)
        if stored is None:
            raise _Reject(404, "file does not exist")
        if size and size != stored:
            raise _Reject(502, "checksum mismatch in stored data")
        self._respond(200, b"", headers={"Content-Type": "application/octet-stream"}, length=stored,
                      body_iter=svc.read_block(block_hash) if self.command == "GET" else None)

    def _get_proxy(self):
        svc = self.svc
        cluster = svc.cluster
        m = _LOCATOR_PATH_RE.match(unquote(urlsplit(self.path).path))
        if not m:
            raise _Reject(400, "Bad Request")
        token = self._token()
        if cluster.db.authenticate(token) is None:
            raise _Reject(403, "Missing or invalid Authorization header, or method not allowed")
        locator = _K_HINT_RE.sub(r"\1", m.group(1))
        li = locator_info(locator)
        if li is None:
            raise _Reject(500, "Invalid locator")
        errors = []
        statuses = []
        reqid = self.headers.get("X-Request-Id") or ""
        for s in rendezvous_order(li[0], cluster.disk_services()):
            conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
            try:
                conn.request(self.command, "/" + locator, headers={
                    "Authorization": "Bearer " + token, "X-Request-Id": reqid})
                resp = conn.getresponse()
            except OSError as e:
                statuses.append(0)
                errors.append("%s: %s" % (s.url, e))
                conn.close()
                continue
            if resp.status == 200:
                length = int(resp.getheader("Content-Length", "0"))

                def stream(resp=resp, conn=conn):
                    try:
                        while True:
                            chunk = resp.read(CHUNK)
                            if not chunk:
                                break
                            yield chunk
                    finally:
                        conn.close()
                if self.command == "HEAD":
                    conn.close()
                self._respond(200, b"", headers={"Content-Type": "application/octet-stream",
                                                 "Via": "HTTP/1.1 keepproxy"},
                              length=length, body_iter=stream() if self.command == "GET" else None)
                return
            body = resp.read(4096).decode("utf-8", "replace").strip()
            conn.close()
            statuses.append(resp.status)
            errors.append("%s: %d %s: %s" % (s.url, resp.status, resp.reason, body))
        if statuses and all(st == 404 for st in statuses):
            raise _Reject(404, "Block not found")
        if not statuses or any(st == 0 or st >= 500 for st in statuses):
            raise _Reject(502, "%s %s failed: %s" % (self.command, locator, errors))
        raise _Reject(422, "%s %s failed: %s" % (self.command, locator, errors))


class _Spool(object):
    """A block body held in memory when small, in a temp file when large, so
    several upstream uploads can read it at once."""

    def __init__(self, directory):
        self.dir = directory
        self.mem = bytearray()
        self.path = None
        self.f = None

    def write(self, chunk):
        if self.f is None and len(self.mem) + len(chunk) <= IN_MEMORY_MAX:
            self.mem += chunk
            return
        if self.f is None:
            fd, self.path = tempfile.mkstemp(dir=self.dir, prefix=".spool-")
            self.f = os.fdopen(fd, "wb")
            self.f.write(self.mem)
            self.mem = bytearray()
        self.f.write(chunk)

    def finish(self):
        if self.f is not None:
            self.f.close()

    def chunks(self):
        if self.path is None:
            mv = memoryview(self.mem)
            for i in range(0, len(mv), CHUNK):
                yield mv[i:i + CHUNK]
            return
        with open(self.path, "rb") as f:
            while True:
                chunk = f.read(CHUNK)
                if not chunk:
                    break
                yield chunk

    def close(self):
        if self.f is not None and not self.f.closed:
            self.f.close()
        if self.path:
            try:
                os.unlink(self.path)
            except OSError:
                pass


def _upstream_put(s, block_hash, spool, size, token, reqid, want, classes):
    """One proxy->keepstore PUT. Returns (status, body, replicas, confirmed)."""
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=120)
    try:
        conn.putrequest("PUT", "/" + block_hash, skip_accept_encoding=True)
        conn.putheader("Authorization", "Bearer " + (token or ""))
        conn.putheader("X-Request-Id", reqid)
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(size))
        conn.putheader("X-Keep-Desired-Replicas", str(want))
        if classes:
            conn.putheader("X-Keep-Storage-Classes", ", ".join(classes))
        conn.endheaders()
        for chunk in spool.chunks():
            conn.send(chunk)
        resp = conn.getresponse()
        body = resp.read(4096).decode("utf-8", "replace").strip()
        if resp.status != 200:
            return resp.status, body or "%d %s" % (resp.status, resp.reason), 0, {}
        try:
            rep = int(resp.getheader("X-Keep-Replicas-Stored", "1"))
        except ValueError:
            rep = 1
        confirmed = {}
        for part in (resp.getheader("X-Keep-Storage-Classes-Confirmed") or "").split(","):
            part = part.strip()
            if "=" in part:
                k, _, v = part.partition("=")
                try:
                    confirmed[k.strip()] = int(v)
                except ValueError:
                    pass
        return 200, body, rep, confirmed
    except OSError as e:
        return 0, 'Put "%s%s": %s' % (s.url, block_hash, e), 0, {}
    finally:
        conn.close()


class KeepService(object):
    """One Keep server: a disk server with its own block directory, or the
    proxy. Can be taken down (listening socket closed) and brought back."""

    def __init__(self, cluster, name, kind, uuid, directory, port=0):
        self.cluster = cluster
        self.name = name
        self.kind = kind
        self.uuid = uuid
        self.dir = directory
        self.read_only = False
        self.port = port
        self.is_down = False
        self.httpd = None
        self.thread = None
        self._blocks = {}
        self._lock = threading.Lock()
        os.makedirs(directory, exist_ok=True)
        self._load_index()

    @property
    def url(self):
        return "http://127.0.0.1:%d/" % self.port

    def describe(self):
        return {"name": self.name, "uuid": self.uuid, "url": self.url, "type": self.kind,
                "host": "127.0.0.1", "port": self.port}

    # --- lifecycle ---

    def start(self):
        httpd = _KeepHTTPServer(("127.0.0.1", self.port), KeepHandler)
        httpd.svc = self
        self.port = httpd.server_address[1]
        self.httpd = httpd
        self.is_down = False
        self.thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                       name="keep-" + self.name, daemon=True)
        self.thread.start()

    def down(self):
        """Refuse connections: close the listening socket."""
        if self.is_down:
            return
        self.is_down = True
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def up(self):
        if not self.is_down:
            return
        self.start()

    def stop(self):
        self.down()

    # --- block storage ---

    def _path(self, block_hash):
        return os.path.join(self.dir, block_hash[:3], block_hash)

    def _load_index(self):
        for sub in os.listdir(self.dir):
            d = os.path.join(self.dir, sub)
            if len(sub) == 3 and os.path.isdir(d):
                for h in os.listdir(d):
                    if re.match(r"^[0-9a-f]{32}$", h):
                        self._blocks[h] = os.path.getsize(os.path.join(d, h))

    def store_file(self, block_hash, tmp_path, size):
        path = self._path(block_hash)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.replace(tmp_path, path)
        with self._lock:
            self._blocks[block_hash] = size

    def block_size(self, block_hash):
        with self._lock:
            return self._blocks.get(block_hash)

    def read_block(self, block_hash):
        with open(self._path(block_hash), "rb") as f:
            while True:
                chunk = f.read(CHUNK)
                if not chunk:
                    break
                yield chunk

    def blocks(self):
        with self._lock:
            return [{"hash": h, "size": n} for h, n in sorted(self._blocks.items())]

    def wipe(self):
        with self._lock:
            for h in list(self._blocks):
                try:
                    os.unlink(self._path(h))
                except OSError:
                    pass
            self._blocks.clear()
