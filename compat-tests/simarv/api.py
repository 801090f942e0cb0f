"""The HTTPS API server: what the Arvados controller (lib/controller) and the
Rails API server behind it look like to a client (contract §1.4, §2), plus
the unauthenticated `/_sim/` test hooks.

Request handling mirrors the controller:
  * a POST may carry `_method=GET` in its form body or an
    `X-HTTP-Method-Override` header (long GETs, §1.4);
  * parameters come from the query string, a urlencoded body and a JSON
    body; string values are decoded like the controller's guessAndParse
    (`[...]`/`{...}` as JSON, "" and "null" as null, booleans, integers);
  * create/update attributes are the `collection`/`link`/`group` key of
    the body or, when absent, the whole JSON body (top-level attributes).
Errors are JSON `{"errors": [...]}`. Errors raised by the Rails layer are
wrapped the way the controller's Rails proxy wraps them:
  "//railsapi.internal/arvados/v1/<path>: 422 Unprocessable Entity: <msg> (req-...)"
With config error_format "rails" the unwrapped Rails body
`{"errors":["<msg> (req-...)"],"error_token":"..."}` is sent instead.
Responses from controller-handled routes are JSON with sorted keys (Go
encodes maps that way); keep_services, served by Rails directly, keeps
Rails' shape (etag, self_link).
"""

import hashlib
import json
import re
import ssl
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qsl, unquote

from . import discovery
from . import filters as F
from . import manifest as M
from . import blobsig
from .resolve import resolve
from .store import ApiError, Ctx, SCHEMAS, SYSTEM_USER_UUID, render_raw, USERS, table_for_uuid
from .util import new_request_id, error_token, json_bytes, fmt_ts

STATUS_TEXT = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
               405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict", 411: "Length Required",
               413: "Request Entity Too Large", 422: "Unprocessable Entity", 423: "Locked",
               429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
               503: "Service Unavailable", 504: "Gateway Timeout"}

INT_PARAMS = {"limit", "offset"}
BOOL_PARAMS = {"distinct", "ensure_unique_name", "include_trash", "include_old_versions",
               "redirect_to_new_user", "send_notification_email", "bypass_federation", "recursive",
               "exclude_home_project", "no_forward"}

RES = r"(?P<res>collections|links|groups|users)"
ROUTES = [
    ("GET", r"^/discovery/v1/apis/arvados/v1/rest$", "discovery", False),
    ("GET", r"^/arvados/v1/config$", "config", False),
    ("GET", r"^/arvados/v1/vocabulary$", "vocabulary", False),
    ("GET", r"^/arvados/v1/users/current$", "user_current", True),
    ("GET", r"^/arvados/v1/api_client_authorizations/current$", "token_current", True),
    ("GET", r"^/arvados/v1/keep_services/accessible$", "keep_accessible", False),
    ("GET", r"^/arvados/v1/keep_services$", "keep_list", True),
    ("GET", r"^/arvados/v1/keep_services/(?P<uuid>[^/]+)$", "keep_get", True),
    ("POST", r"^/arvados/v1/(?P<res>collections|groups)/(?P<uuid>[^/]+)/trash$", "trash", True),
    ("POST", r"^/arvados/v1/(?P<res>collections)/(?P<uuid>[^/]+)/untrash$", "untrash", True),
    ("GET", r"^/arvados/v1/" + RES + "$", "list", True),
    ("POST", r"^/arvados/v1/(?P<res>collections|links|groups)$", "create", True),
    ("GET", r"^/arvados/v1/" + RES + r"/(?P<uuid>[^/]+)$", "get", True),
    ("PUT", r"^/arvados/v1/(?P<res>collections|links)/(?P<uuid>[^/]+)$", "update", True),
    ("DELETE", r"^/arvados/v1/(?P<res>collections|links|groups)/(?P<uuid>[^/]+)$", "delete", True),
]
ROUTES = [(m, re.compile(p), n, a) for m, p, n, a in ROUTES]
ATTRS_KEY = {"collections": "collection", "links": "link", "groups": "group", "users": "user"}


class _ControllerError(Exception):
    """An error produced by the Go controller itself (not wrapped)."""

    def __init__(self, status, message):
        Exception.__init__(self, message)
        self.status = status


def guess_and_parse(k, v):
    """The controller's guessAndParse for form and JSON string values."""
    if k in INT_PARAMS:
        try:
            return int(v)
        except ValueError:
            raise _ControllerError(500, 'strconv.ParseInt: parsing "%s": invalid syntax' % v)
    if k in BOOL_PARAMS:
        return v not in ("", "false", "0")
    if v in ("null", ""):
        return None
    if v.startswith("[") or v.startswith("{") or v.startswith('"'):
        try:
            out = json.loads(v)
        except ValueError as e:
            raise _ControllerError(500, "invalid JSON in parameter %s: %s" % (k, e))
        if v.startswith("[") and not isinstance(out, list) or v.startswith("{") and not isinstance(out, dict):
            raise _ControllerError(500, "invalid JSON in parameter %s" % k)
        return out
    return v


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, cluster, address, ssl_context):
        self.cluster = cluster
        self.ssl_context = ssl_context
        ThreadingHTTPServer.__init__(self, address, ApiHandler)

    def finish_request(self, request, client_address):
        # TLS handshake in the per-connection thread, not the accept loop.
        try:
            request.settimeout(300)
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        pass  # client disconnects are not interesting


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY the
    # second waits for the client's delayed ACK (~40 ms a response), which
    # no real Arvados server adds.
    disable_nagle_algorithm = True
    server_version = "simarv-api/1.0"
    timeout = 300

    def log_message(self, fmt, *args):
        pass

    @property
    def cluster(self):
        return self.server.cluster

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # --- request plumbing -----------------------------------------------------------

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline(16)
        n = int(self.headers.get("Content-Length") or 0)
        if n > self.cluster.config["max_request_size"]:
            raise _ControllerError(413, "http: request body too large")
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, status, body, ctype="application/json", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and status != 304:
            try:
                self.wfile.write(body)
            except OSError:
                self.close_connection = True  # the client went away

    def _dispatch(self):
        url = urlsplit(self.path)
        # Route on the decoded path, as the controller's router does
        # (googleapiclient sends a PDH's "+" as %2B).
        url = url._replace(path=unquote(url.path))
        try:
            body = self._read_body()
        except _ControllerError as e:
            self.close_connection = True
            return self._send(e.status, json_bytes({"errors": [str(e)]}), headers={"Connection": "close"})
        if url.path.startswith("/_sim/") or url.path == "/_sim":
            return self._control(url, body)
        t0 = time.time()
        self._user = None
        self.cluster.sleep_latency("api")
        reqid = self.headers.get("X-Request-Id") or new_request_id()
        method = self.command
        entry = {"server": "api", "http_method": method, "method": method, "path": url.path,
                 "params": {}, "body": None, "request_id": reqid, "headers": {},
                 "desired_replicas": None, "storage_classes": None}
        status, out, ctype, extra = 500, b"", "application/json", {}
        try:
            params, method, json_body, attrs_body = self._params(url, body, method)
            entry["method"] = method
            entry["params"] = params
            entry["body"] = json_body
            if self.cluster.wait_if_held("api", "api", method, url.path) == "fail":
                raise _ControllerError(503, "503 Service Unavailable (simulated, after a hold) (%s)" % reqid)
            fault = self.cluster.take_api_fault(url.path, method)
            if fault:
                raise _ControllerError(fault, "%d %s (simulated fault) (%s)"
                                       % (fault, STATUS_TEXT.get(fault, "Error"), reqid))
            status, out, ctype, extra = self._route(method, url.path, params, attrs_body, reqid)
        except ApiError as e:
            status, out = self._format_error(e, reqid, url.path)
        except F.FilterError as e:
            status, out = self._format_error(ApiError(422, ["#<ArgumentError: %s>" % e]), reqid, url.path)
        except _ControllerError as e:
            status, out = e.status, json_bytes({"errors": [str(e)]})
        except Exception as e:  # a bug in the simulation: say so loudly
            traceback.print_exc()
            status, out = 500, json_bytes({"errors": ["simarv internal error: %r (%s)" % (e, reqid)]})
        extra = dict(extra or {})
        extra.setdefault("X-Request-Id", reqid)
        entry["status"] = status
        entry["user"] = getattr(self, "_user", None)
        entry["elapsed_ms"] = int((time.time() - t0) * 1000)
        self.cluster.record(entry)
        self._send(status, out, ctype, extra)

    def _params(self, url, body, method):
        """Controller-style parameter loading. Returns (params, effective
        method, parsed JSON body or None, attrs from the JSON body)."""
        ctype_full = self.headers.get("Content-Type", "")
        ctype = ctype_full.split(";")[0].strip().lower()
        form = parse_qsl(url.query, keep_blank_values=True)
        if method in ("POST", "PUT", "PATCH") and ctype == "application/x-www-form-urlencoded":
            form += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        raw = dict(form)
        if method == "POST":
            override = raw.get("_method") or self.headers.get("X-HTTP-Method-Override")
            if override:
                method = override.upper()
        params = {}
        for k, v in form:
            params[k] = guess_and_parse(k, v)
        json_body = None
        if (ctype == "application/json" or ctype_full == "") and len(body) > 0:
            try:
                json_body = json.loads(body.decode("utf-8"))
            except ValueError as e:
                raise _ControllerError(400, "invalid character in request body: %s" % e)
            if not isinstance(json_body, dict):
                raise _ControllerError(400, "json: cannot unmarshal %s into Go value of type map[string]interface {}"
                                       % ("array" if isinstance(json_body, list) else "value"))
            decoded = {}
            for k, v in json_body.items():
                decoded[k] = guess_and_parse(k, v) if isinstance(v, str) else v
                params[k] = decoded[k]
            json_body_attrs = decoded
        else:
            json_body_attrs = None
        params.pop("_method", None)
        return params, method, json_body, json_body_attrs

    def _auth(self, params):
        token = None
        auth = self.headers.get("Authorization", "")
        m = re.match(r"^(?:OAuth2|Bearer) ([!-~]+)", auth)
        if m:
            token = m.group(1)
        elif params.get("api_token"):
            token = params.get("api_token")
        user = self.cluster.db.authenticate(token)
        self._user = user
        return user, token

    def _format_error(self, err, reqid, path):
        if err.source == "rails":
            msgs = ["%s (%s)" % (m, reqid) for m in err.messages]
            if self.cluster.config["error_format"] == "rails":
                return err.status, json_bytes({"errors": msgs, "error_token": error_token()})
            text = "//railsapi.internal%s: %d %s: %s" % (path, err.status, STATUS_TEXT.get(err.status, ""),
                                                         "; ".join(msgs))
            return err.status, json_bytes({"errors": [text]})
        return err.status, json_bytes({"errors": err.messages})

    # --- routing -------------------------------------------------------------------------

    def _route(self, method, path, params, attrs_body, reqid):
        if method == "PATCH":
            method = "PUT"
        lookup = "GET" if method == "HEAD" else method
        matched_path = False
        for m, rx, name, needs_auth in ROUTES:
            g = rx.match(path)
            if not g:
                continue
            matched_path = True
            if m != lookup:
                continue
            user, token = self._auth(params)
            if needs_auth and user is None:
                raise ApiError(401, ["Not logged in"])
            ctx = Ctx(user, token if user else None, reqid)
            return getattr(self, "_h_" + name)(ctx, params, attrs_body, **g.groupdict())
        if matched_path:
            raise _ControllerError(405, "API endpoint not found")
        raise _ControllerError(404, "API endpoint not found")

    def _json(self, obj, status=200, headers=None):
        return status, json_bytes(obj), "application/json", headers or {}

    def _attrs(self, res, params, attrs_body):
        key = ATTRS_KEY[res]
        attrs = params.get(key)
        if attrs is None:
            attrs = attrs_body if attrs_body is not None else {}
        if not isinstance(attrs, dict):
            raise _ControllerError(500, "transcode: json: cannot unmarshal %s into Go struct field"
                                        " .attrs of type map[string]interface {}" % type(attrs).__name__)
        return attrs

    def _select(self, res, params):
        if params.get("select") is None:
            return None
        return F.parse_select(params.get("select"), SCHEMAS[res])

    # --- handlers: discovery & config ---------------------------------------------------------

    def _h_discovery(self, ctx, params, attrs_body):
        doc = discovery.discovery_document(self.cluster.api_root, self.cluster.config)
        body = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        etag = 'W/"%s"' % hashlib.md5(body).hexdigest()
        headers = {"Cache-Control": "max-age=86400, public", "ETag": etag}
        if self.headers.get("If-None-Match") == etag:
            return 304, b"", "application/json; charset=utf-8", headers
        return 200, body, "application/json; charset=utf-8", headers

    def _h_config(self, ctx, params, attrs_body):
        return self._json(discovery.exported_config(self.cluster.api_root, self.cluster.config,
                                                    self.cluster.keep_services()))

    def _h_vocabulary(self, ctx, params, attrs_body):
        return self._json({"strict_tags": False, "tags": {}})

    # --- handlers: users & tokens -----------------------------------------------------------------

    def _h_user_current(self, ctx, params, attrs_body):
        db = self.cluster.db
        rec = db.tables["users"][ctx.user]
        return self._json(db.render("users", rec, ctx, select=self._select("users", params)))

    def _h_token_current(self, ctx, params, attrs_body):
        u = next(u for u in USERS if u["uuid"] == ctx.user)
        t = fmt_ts(self.cluster.db.started_us)
        return self._json({"kind": "arvados#apiClientAuthorization", "etag": "", "uuid": u["token_uuid"],
                           "owner_uuid": u["uuid"], "api_token": u["secret"], "scopes": ["all"],
                           "expires_at": None, "refreshes_at": None, "created_at": t, "modified_at": t,
                           "modified_by_user_uuid": u["uuid"]})

    # --- handlers: keep services (served by Rails directly) --------------------------------------------

    def _keep_item(self, ks):
        t = fmt_ts(self.cluster.db.started_us)
        return {"kind": "arvados#keepService", "etag": hashlib.md5(ks.uuid.encode()).hexdigest()[:25],
                "uuid": ks.uuid, "owner_uuid": SYSTEM_USER_UUID, "created_at": t,
                "modified_by_user_uuid": SYSTEM_USER_UUID, "modified_at": t,
                "service_host": "127.0.0.1", "service_port": ks.port, "service_ssl_flag": False,
                "service_type": ks.kind, "read_only": ks.read_only}

    def _keep_list(self, services):
        items = [self._keep_item(ks) for ks in services]
        body = {"kind": "arvados#keepServiceList", "etag": "", "self_link": "", "offset": 0,
                "limit": 100, "items": items, "items_available": len(items)}
        return 200, json.dumps(body).encode(), "application/json; charset=utf-8", {}

    def _h_keep_accessible(self, ctx, params, attrs_body):
        return self._keep_list(self.cluster.accessible_services())

    def _h_keep_list(self, ctx, params, attrs_body):
        return self._keep_list(self.cluster.keep + [self.cluster.proxy])

    def _h_keep_get(self, ctx, params, attrs_body, uuid):
        for ks in self.cluster.keep + [self.cluster.proxy]:
            if ks.uuid == uuid:
                return 200, json.dumps(self._keep_item(ks)).encode(), "application/json; charset=utf-8", {}
        raise ApiError(404, ["Path not found"])

    # --- handlers: generic resources ------------------------------------------------------------------

    def _h_list(self, ctx, params, attrs_body, res):
        db = self.cluster.db
        items, available, limit, offset, select, perms = db.list(res, ctx, params)
        out = {"kind": "arvados#%sList" % ATTRS_KEY[res], "offset": offset, "limit": limit,
               "items": db.render_list(res, items, ctx, perms, select)}
        if available is not None:
            out["items_available"] = available
        if res == "groups":
            out["included"] = []
        return self._json(out)

    def _h_get(self, ctx, params, attrs_body, res, uuid):
        db = self.cluster.db
        select = self._select(res, params)
        include_trash = bool(params.get("include_trash"))
        if res == "collections" and len(uuid) != 27:
            if len(uuid) < 34 or uuid[32] != "+":
                raise _ControllerError(404, "invalid UUID or PDH %s" % json.dumps(uuid))
            m = M.LOCATOR_RE.match(uuid)
            pdh = (m.group(1) + (m.group(2) or "")) if m else uuid
            with db.lock:
                rec = db.find_collection_by_pdh(pdh, ctx, include_trash=include_trash)
            return self._json(self._render_pdh_collection(rec, pdh, ctx, select))
        with db.lock:
            rec = db.find_readable(res, uuid, ctx, include_trash=include_trash)
            return self._json(db.render(res, rec, ctx, select=select))

    def _render_pdh_collection(self, rec, pdh, ctx, select):
        # Rails answers a PDH lookup with only uuid (= the PDH),
        # portable_data_hash, trash_at and manifest_text; the controller's
        # struct fills in zero values for the rest before signing.
        full = self.cluster.db.render("collections", rec, ctx)
        out = {"kind": "arvados#collection", "etag": "", "uuid": pdh, "owner_uuid": "",
               "created_at": None, "modified_at": None, "modified_by_user_uuid": "", "name": "",
               "description": None, "properties": None, "portable_data_hash": pdh,
               "manifest_text": full["manifest_text"], "unsigned_manifest_text": "",
               "replication_desired": None, "replication_confirmed": None, "replication_confirmed_at": None,
               "storage_classes_desired": None, "storage_classes_confirmed": None,
               "storage_classes_confirmed_at": None, "delete_at": None, "trash_at": full["trash_at"],
               "is_trashed": False, "version": 0, "current_version_uuid": "", "preserve_version": False,
               "file_count": 0, "file_size_total": 0}
        if select:
            sel = {k: out[k] for k in select if k in out}
            sel["kind"] = out["kind"]
            sel["etag"] = ""
            return sel
        return out

    def _h_create(self, ctx, params, attrs_body, res):
        db = self.cluster.db
        attrs = self._attrs(res, params, attrs_body)
        select = self._select(res, params)
        unique = bool(params.get("ensure_unique_name"))
        if res == "collections":
            rec = db.create_collection(ctx, attrs, ensure_unique_name=unique)
        elif res == "links":
            rec = db.create_link(ctx, attrs)
        else:
            rec = db.create_group(ctx, attrs, ensure_unique_name=unique)
        with db.lock:
            return self._json(db.render(res, rec, ctx, select=select))

    def _h_update(self, ctx, params, attrs_body, res, uuid):
        db = self.cluster.db
        attrs = self._attrs(res, params, attrs_body)
        select = self._select(res, params)
        if res == "collections":
            rec = db.update_collection(ctx, uuid, attrs)
        else:
            rec = db.update_link(ctx, uuid, attrs)
        with db.lock:
            return self._json(db.render(res, rec, ctx, select=select))

    def _h_delete(self, ctx, params, attrs_body, res, uuid):
        db = self.cluster.db
        if res == "collections":
            rec = db.trash_collection(ctx, uuid)
        elif res == "groups":
            rec = db.trash_group(ctx, uuid)
        else:
            rec = db.delete_link(ctx, uuid)
        with db.lock:
            return self._json(db.render(res, rec, ctx))

    def _h_trash(self, ctx, params, attrs_body, res, uuid):
        return self._h_delete(ctx, params, attrs_body, res, uuid)

    def _h_untrash(self, ctx, params, attrs_body, res, uuid):
        db = self.cluster.db
        rec = db.untrash_collection(ctx, uuid, ensure_unique_name=bool(params.get("ensure_unique_name")))
        with db.lock:
            return self._json(db.render(res, rec, ctx))

    # --- /_sim/ control API ------------------------------------------------------------------------------

    def _control(self, url, body):
        cluster = self.cluster
        q = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            data = json.loads(body.decode("utf-8")) if body.strip() else {}
        except ValueError as e:
            return self._send(400, json_bytes({"error": "invalid JSON body: %s" % e}))
        path = url.path.rstrip("/")
        cmd = self.command
        try:
            if path == "/_sim/info" and cmd == "GET":
                out = cluster.info()
            elif path == "/_sim/reset" and cmd == "POST":
                out = cluster.reset(data)
            elif path == "/_sim/dump" and cmd == "GET":
                out = cluster.dump()
            elif path == "/_sim/log" and cmd == "GET":
                out = cluster.log_entries(q.get("server"))
            elif path == "/_sim/log/clear" and cmd == "POST":
                cluster.clear_log()
                out = {"ok": True}
            elif path == "/_sim/faults" and cmd == "GET":
                out = cluster.get_faults()
            elif path == "/_sim/faults" and cmd == "POST":
                out = cluster.set_faults(data)
            elif path == "/_sim/release" and cmd == "POST":
                cluster.release()
                out = cluster.get_faults()
            elif path == "/_sim/faults/clear" and cmd == "POST":
                cluster.clear_faults()
                out = {}
            elif path == "/_sim/projects" and cmd == "POST":
                out = self._sim_project(data)
            elif path == "/_sim/share" and cmd == "POST":
                out = self._sim_share(data)
            elif path == "/_sim/seed" and cmd == "POST":
                out = cluster.db.seed(data)
            elif path == "/_sim/resolve" and cmd == "GET":
                u = cluster.db.user_by_name_or_uuid(q.get("user", "alice"))
                if u is None:
                    raise ValueError("unknown user %r" % q.get("user"))
                out = resolve(cluster.db, u["uuid"], q.get("image", ""), q.get("tag") or None,
                              cluster.config["docker_image_formats"])
            elif path == "/_sim/sign" and cmd == "POST":
                out = self._sim_sign(data)
            else:
                return self._send(404, json_bytes({"error": "no such control endpoint: %s %s" % (cmd, path)}))
        except (ValueError, KeyError, TypeError) as e:
            return self._send(400, json_bytes({"error": str(e)}))
        except ApiError as e:
            return self._send(e.status if e.status >= 400 else 400, json_bytes({"error": "; ".join(e.messages)}))
        return self._send(200, json_bytes(out))

    def _user_uuid(self, who):
        u = self.cluster.db.user_by_name_or_uuid(who)
        return u["uuid"] if u else who

    def _sim_project(self, data):
        db = self.cluster.db
        owner = self._user_uuid(data.get("owner_uuid") or "alice")
        if not data.get("name"):
            raise ValueError("name is required")
        # Act as the user at the top of the ownership chain.
        top = owner
        with db.lock:
            seen = set()
            while table_for_uuid(top) == "groups" and top not in seen:
                seen.add(top)
                g = db.tables["groups"].get(top)
                if g is None:
                    raise ValueError("no such owner %s" % owner)
                top = g["owner_uuid"]
        ctx = Ctx(top, None, new_request_id())
        attrs = {"owner_uuid": owner, "name": data["name"], "group_class": data.get("group_class", "project")}
        for k in ("description", "properties", "uuid"):
            if k in data:
                attrs[k] = data[k]
        rec = db.create_group(ctx, attrs, ensure_unique_name=bool(data.get("ensure_unique_name")),
                              as_system=True)
        return render_raw("groups", rec)

    def _sim_share(self, data):
        db = self.cluster.db
        head = data.get("head_uuid")
        user = self._user_uuid(data.get("user_uuid") or "")
        perm = data.get("perm", "can_read")
        if perm not in ("can_read", "can_write", "can_manage"):
            raise ValueError("perm must be can_read, can_write or can_manage")
        if table_for_uuid(head) is None or head not in db.tables[table_for_uuid(head)]:
            raise ValueError("no such object %r" % head)
        if table_for_uuid(user) != "users":
            raise ValueError("no such user %r" % data.get("user_uuid"))
        out = db.seed({"links": [{"owner_uuid": SYSTEM_USER_UUID, "link_class": "permission", "name": perm,
                                  "tail_uuid": user, "head_uuid": head}]})
        return out["links"][0]

    def _sim_sign(self, data):
        cluster = self.cluster
        u = cluster.db.user_by_name_or_uuid(data.get("user") or "alice")
        token = data.get("token") or (u and u["token"])
        ttl = cluster.config["blob_signing_ttl"]
        expiry = data.get("expires_at")
        loc = blobsig.strip_signature(data["locator"])
        return {"locator": blobsig.sign_locator(loc, token, cluster.blob_signing_key, ttl,
                                                int(expiry) if expiry is not None else None)}
