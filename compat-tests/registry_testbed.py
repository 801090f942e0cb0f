"""Container registries for the tests, with no Docker daemon.

Debian's ``docker-registry`` (distribution 2.8) runs on loopback in several
variants over ONE storage directory, filled once per session:

* ``anonymous``: plain HTTP, no authentication;
* ``basic-tls``: HTTPS with a certificate from a CA made here (given to the
  client through ``SSL_CERT_FILE`` or a ``certs.d`` directory), htpasswd
  Basic authentication;
* ``token``: plain HTTP, Bearer tokens from :class:`TokenServer` (ours:
  ES256 JWTs the registry checks against our certificate; user/password
  logins, identity tokens through the OAuth2 refresh-token grant, anonymous
  pulls of public repositories only).

:class:`FaultProxy` stands in front of a registry and breaks chosen blobs
(corrupt a byte, truncate, cut the connection once or always, 429 with
``Retry-After``, 404, a redirect to :class:`BlobHost`, another port that
serves blobs straight from the storage directory and records whether an
``Authorization`` header reached it).

The content is pushed without Docker: ``skopeo copy docker-archive:FILE
docker://...`` for images made by ``fixtures/genarchive.py``, and
:class:`Pusher` (the registry HTTP API) for what skopeo will not write: a
multi-platform index and a signed schema 1 manifest. :data:`CONTENT` says
what was pushed, computed here from the registry's answers and the
generator's own description, never from the code under test.

Use from pytest: ``from registry_testbed import registries`` in a test
module makes the session fixture ``registries`` available; it starts each
variant on first use and stops every process it started at the end.
"""

import base64
import contextlib
import datetime
import hashlib
import http.client
import http.server
import json
import os
import shutil
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.parse
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "fixtures"))

import genarchive  # noqa: E402  (fixtures/genarchive.py)

REGISTRY_BIN = os.environ.get("KDTEST_REGISTRY_BIN") or shutil.which("docker-registry") or "/usr/bin/docker-registry"
SKOPEO_BIN = shutil.which("skopeo") or "/usr/bin/skopeo"

# The user every authenticated variant knows.
USER = "kdtest"
PASSWORD = "kdtest-pass-4f1c"
# An identity token (OAuth2 refresh token) the token server accepts for USER.
IDENTITY_TOKEN = "kdtest-refresh-9a7e"
SERVICE = "kdtest-registry"
ISSUER = "kdtest-token-issuer"

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
ACCEPT_ALL = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])

STARTUP_TIMEOUT = 60


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port() -> int:
    """A loopback port nothing listens on (for 'registry down')."""
    return free_port()


def credential_helper(bin_dir: Path, name: str, registry: str, user=USER, secret=PASSWORD) -> Path:
    """A `docker-credential-NAME` in bin_dir that answers `get` for
    `registry` only (and says "credentials not found" for any other, as
    the docker CLI's helpers do)."""
    script = bin_dir / ("docker-credential-" + name)
    script.write_text(
        "#!/bin/sh\n"
        '[ "$1" = get ] || exit 1\n'
        "read -r server\n"
        'if [ "$server" = "%s" ]; then\n'
        '  printf \'{"ServerURL": "%%s", "Username": "%s", "Secret": "%s"}\\n\' "$server"\n'
        "else\n"
        "  echo 'credentials not found in native keychain'; exit 1\n"
        "fi\n" % (registry, user, secret)
    )
    script.chmod(0o755)
    return script


# --------------------------------------------------------------------------
# TLS material, made by the test (cryptography, pinned in requirements.txt)


def make_tls(directory: Path):
    """A CA and a certificate for 127.0.0.1 and localhost signed by it.
    Returns (ca.pem, cert.pem, key.pem)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kdtest registry CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


def write_htpasswd(path: Path, users: dict):
    """bcrypt entries (the only kind docker-registry reads), made with the
    C library's crypt (libxcrypt knows $2b$)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    lines = []
    for user, password in users.items():
        hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 4))
        if not hashed or not hashed.startswith("$2"):
            raise RuntimeError("this C library's crypt cannot make bcrypt hashes")
        lines.append("%s:%s\n" % (user, hashed))
    path.write_text("".join(lines))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --------------------------------------------------------------------------
# Small HTTP servers in threads of the test process


class _ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server:
    """An HTTP server on 127.0.0.1:<free port> in a daemon thread."""

    def __init__(self, handler_class):
        self.httpd = _ThreadingServer(("127.0.0.1", 0), handler_class)
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class TokenServer(_Server):
    """The Bearer realm of the ``token`` variant. Signs ES256 JWTs with a
    key whose self-signed certificate the registry trusts (header
    ``x5c``). Grants pull to USER/PASSWORD and to IDENTITY_TOKEN (refresh
    grant) on every repository, and to anonymous clients on
    ``self.public`` repositories only. Records each request."""

    def __init__(self, directory: Path):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(self.key, hashes.SHA256())
        )
        self.cert_der = cert.public_bytes(serialization.Encoding.DER)
        directory.mkdir(parents=True, exist_ok=True)
        self.cert_path = directory / "token-cert.pem"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.public = {"kdtest/public"}
        self.requests = []
        self.lock = threading.Lock()
        super().__init__(_TokenHandler)

    @property
    def realm(self):
        return "http://%s/token" % self.address

    def sign(self, repository, actions):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(self.cert_der).decode()]}
        claims = {
            "iss": ISSUER,
            "sub": USER,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": os.urandom(8).hex(),
            "access": [{"type": "repository", "name": repository, "actions": actions}] if repository else [],
        }
        signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class _TokenHandler(_Handler):
    def _grant(self, who, scope):
        server = self.server.owner
        repository = None
        if scope and scope.startswith("repository:"):
            repository = scope.split(":")[1]
        allowed = who is not None or repository in server.public
        token = server.sign(repository, ["pull"] if allowed else [])
        body = {"token": token, "access_token": token, "expires_in": 300}
        if who is not None and self.command == "POST":
            body["refresh_token"] = IDENTITY_TOKEN
        self.reply(200, json.dumps(body).encode(), [("Content-Type", "application/json")])

    def do_GET(self):
        server = self.server.owner
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        auth = self.headers.get("Authorization")
        with server.lock:
            server.requests.append(("GET", query, auth is not None))
        who = None
        if auth:
            if auth != "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode():
                return self.reply(
                    401,
                    json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "wrong user name or password"}]}).encode(),
                    [("Content-Type", "application/json")],
                )
            who = USER
        self._grant(who, query.get("scope", [None])[0])

    def do_POST(self):
        server = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        with server.lock:
            server.requests.append(("POST", {k: v for k, v in form.items() if k != "refresh_token"}, False))
        if form.get("grant_type") != ["refresh_token"] or form.get("refresh_token") != [IDENTITY_TOKEN]:
            return self.reply(
                401,
                json.dumps({"error": "invalid_grant", "error_description": "unknown refresh token"}).encode(),
                [("Content-Type", "application/json")],
            )
        self._grant(USER, form.get("scope", [None])[0])


class BlobHost(_Server):
    """Another origin (its own port) serving blobs from the registry's
    storage directory, as blob storage behind a redirect would. Records
    whether each request carried an Authorization header."""

    def __init__(self, storage: Path):
        self.storage = storage
        self.requests = []
        self.lock = threading.Lock()
        super().__init__(_BlobHostHandler)

    def url_for(self, digest):
        return "http://%s/blobs/%s?signature=kdtest-signed-url" % (self.address, digest)


class _BlobHostHandler(_Handler):
    def do_GET(self):
        server = self.server.owner
        with server.lock:
            server.requests.append((self.path, self.headers.get("Authorization")))
        digest = urllib.parse.urlsplit(self.path).path.rsplit("/", 1)[-1]
        hexd = digest.split(":", 1)[-1]
        path = server.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"
        if not path.is_file():
            return self.reply(404)
        self.reply(200, path.read_bytes(), [("Content-Type", "application/octet-stream")])


class FaultProxy(_Server):
    """A plain-HTTP proxy in front of ``upstream`` (``http://HOST:PORT``)
    that breaks the blobs named in ``self.faults`` ({digest: mode}), or the
    manifests (keyed by the tag or digest asked for):

    * ``corrupt``: one byte in the middle flipped;
    * ``truncate``: half the blob, with an honest short Content-Length;
    * ``cut-once``: the full Content-Length, the connection closed after
      half the bytes, the first time only; later requests pass;
    * ``cut-always``: the same on every request (resumed ones too);
    * ``429-once``: 429 with ``Retry-After: 1`` the first time;
    * ``429-always``: 429 with ``Retry-After: 1`` every time;
    * ``missing``: 404 BLOB_UNKNOWN;
    * ``redirect``: 307 to :attr:`blob_host` (another origin);
    * ``redirect-insecure``: 307 to a plain-HTTP URL on a host that is not
      loopback.

    ``self.log`` records (method, path, Range, has-Authorization, status)
    for each request."""

    def __init__(self, upstream: str, storage: Path):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.faults = {}
        self.seen = {}
        self.log = []
        self.lock = threading.Lock()
        self.blob_host = BlobHost(storage)
        super().__init__(_ProxyHandler)

    def reset(self):
        with self.lock:
            self.faults = {}
            self.seen = {}
            self.log = []
        with self.blob_host.lock:
            self.blob_host.requests = []

    def stop(self):
        super().stop()
        self.blob_host.stop()

    def blob_requests(self, digest):
        with self.lock:
            return [entry for entry in self.log if entry[1].endswith("/blobs/" + digest)]


class _ProxyHandler(_Handler):
    def _record(self, status):
        server = self.server.owner
        with server.lock:
            server.log.append(
                (self.command, self.path, self.headers.get("Range"), "Authorization" in self.headers, status)
            )

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        server = self.server.owner
        path = urllib.parse.urlsplit(self.path).path
        # Faults are keyed by blob digest, or by the tag or digest a
        # manifest is asked for.
        digest = path.rsplit("/", 1)[-1] if ("/blobs/" in path or "/manifests/" in path) else None
        with server.lock:
            mode = server.faults.get(digest)
            count = server.seen.get(digest, 0)
            server.seen[digest] = count + 1
        if mode == "missing":
            self._record(404)
            body = json.dumps({"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown to registry"}]})
            return self.reply(404, body.encode(), [("Content-Type", "application/json")])
        if mode == "429-always" or (mode == "429-once" and count == 0):
            self._record(429)
            body = json.dumps({"errors": [{"code": "TOOMANYREQUESTS", "message": "slow down"}]})
            return self.reply(429, body.encode(), [("Content-Type", "application/json"), ("Retry-After", "1")])
        if mode == "redirect":
            self._record(307)
            return self.reply(307, b"", [("Location", server.blob_host.url_for(digest))])
        if mode == "redirect-insecure":
            self._record(307)
            return self.reply(307, b"", [("Location", "http://blobs.example.invalid/" + digest)])
        status, headers, body = self._forward()
        self._record(status)
        if mode and status in (200, 206):
            if mode == "corrupt":
                middle = len(body) // 2
                body = body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1 :]
            elif mode == "truncate":
                body = body[: len(body) // 2]
            elif mode == "cut-always" or (mode == "cut-once" and count == 0):
                return self._send_cut(status, headers, body)
        self._send_head(status, headers, len(body))
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_head(self, status, headers, length):
        """The upstream's status and headers, with our own framing."""
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send_cut(self, status, headers, body):
        self._send_head(status, headers, len(body))
        self.wfile.write(body[: max(1, len(body) // 2)])
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _forward(self):
        server = self.server.owner
        conn = http.client.HTTPConnection(server.upstream.hostname, server.upstream.port, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            headers["Host"] = server.upstream.netloc
            conn.request(self.command, self.path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            return response.status, response.getheaders(), body
        finally:
            conn.close()


# --------------------------------------------------------------------------
# docker-registry processes


class RegistryProcess:
    """One docker-registry serving ``storage`` on a free loopback port."""

    def __init__(self, directory: Path, storage: Path, auth=None, tls=None, name="registry"):
        self.directory = directory
        self.storage = storage
        self.auth = auth
        self.tls = tls
        self.name = name
        self.process = None
        self.port = None
        self.scheme = "https" if tls else "http"

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        return "%s://%s" % (self.scheme, self.address)

    def _config(self):
        lines = [
            "version: 0.1",
            "log:",
            "  level: warn",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            "    rootdirectory: %s" % self.storage,
            "  delete:",
            "    enabled: true",
            "compatibility:",
            "  schema1:",
            "    enabled: true",
            "http:",
            "  addr: 127.0.0.1:%d" % self.port,
        ]
        if self.tls:
            cert, key = self.tls
            lines += ["  tls:", "    certificate: %s" % cert, "    key: %s" % key]
        if self.auth:
            lines += ["auth:"]
            for provider, options in self.auth.items():
                lines.append("  %s:" % provider)
                lines += ["    %s: %s" % (k, v) for k, v in options.items()]
        return "\n".join(lines) + "\n"

    def _answers(self, ca=None):
        import ssl

        context = ssl.create_default_context(cafile=str(ca)) if ca else None
        try:
            if self.tls:
                conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=2, context=context)
            else:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/v2/")
            status = conn.getresponse().status
            conn.close()
            return status in (200, 401)
        except OSError:
            return False

    def start(self, ca=None):
        self.directory.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            self.port = free_port()
            config = self.directory / ("%s.yml" % self.name)
            config.write_text(self._config())
            log = open(self.directory / ("%s.log" % self.name), "ab")
            self.process = subprocess.Popen(
                [REGISTRY_BIN, "serve", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
            log.close()
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break  # the port was taken meanwhile: another one
                if self._answers(ca):
                    return self
                time.sleep(0.1)
            else:
                self.stop()
                raise RuntimeError("%s did not answer /v2/ within %ds" % (self.name, STARTUP_TIMEOUT))
        raise RuntimeError(
            "%s would not start: %s" % (self.name, (self.directory / ("%s.log" % self.name)).read_text()[-2000:])
        )

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


# --------------------------------------------------------------------------
# Pushing content without Docker


class Pusher:
    """The registry HTTP API, for what skopeo will not push (plain HTTP,
    anonymous registry)."""

    def __init__(self, address):
        self.address = address

    def _request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(*self.address.split(":"), timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def push_blob(self, repository, data: bytes) -> str:
        digest = sha256_digest(data)
        status, headers, body = self._request("POST", "/v2/%s/blobs/uploads/" % repository)
        assert status == 202, (status, body)
        location = headers["Location"]
        split = urllib.parse.urlsplit(location)
        query = split.query + ("&" if split.query else "") + "digest=" + digest
        status, _, body = self._request(
            "PUT",
            split.path + "?" + query,
            body=data,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
        )
        assert status == 201, (status, body)
        return digest

    def push_manifest(self, repository, reference, data: bytes, media_type) -> str:
        status, headers, body = self._request(
            "PUT", "/v2/%s/manifests/%s" % (repository, reference), body=data, headers={"Content-Type": media_type}
        )
        assert status == 201, (status, body)
        return headers.get("Docker-Content-Digest")

    def get_manifest(self, repository, reference, accept=ACCEPT_ALL):
        status, headers, body = self._request(
            "GET", "/v2/%s/manifests/%s" % (repository, reference), headers={"Accept": accept}
        )
        assert status == 200, (status, body)
        return headers.get("Content-Type"), body


def skopeo_push(archive: Path, address: str, repository_tag: str):
    subprocess.run(
        [
            SKOPEO_BIN,
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "docker-archive:%s" % archive,
            "docker://%s/%s" % (address, repository_tag),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "HOME": str(archive.parent)},
    )


def schema1_signed(name, tag, layer_digests):
    """A schema 1 manifest signed the way libtrust signs (JWS, ES256, the
    key in the header), which registry 2.8 accepts with schema1 enabled."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    manifest = {
        "schemaVersion": 1,
        "name": name,
        "tag": tag,
        "architecture": "amd64",
        "fsLayers": [{"blobSum": d} for d in layer_digests],
        "history": [
            {"v1Compatibility": json.dumps({"id": hashlib.sha256(d.encode()).hexdigest()})} for d in layer_digests
        ],
    }
    payload = json.dumps(manifest, indent=3).encode()
    tail = b"\n}"
    assert payload.endswith(tail)
    format_length = len(payload) - len(tail)
    protected = b64url(
        json.dumps(
            {
                "formatLength": format_length,
                "formatTail": b64url(tail),
                "time": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        ).encode()
    )
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.public_key().public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }
    signing_input = (protected + "." + b64url(payload)).encode()
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    signature = {
        "header": {"jwk": jwk, "alg": "ES256"},
        "signature": b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big")),
        "protected": protected,
    }
    signatures = json.dumps([signature], indent=3).replace("\n", "\n   ")
    return payload[:format_length] + (',\n   "signatures": %s\n}' % signatures).encode()


class Image:
    """What was pushed under one reference, as the registry serves it."""

    def __init__(self, repository, tag, manifest_digest, image_id, layers, archive=None):
        self.repository = repository
        self.tag = tag
        self.manifest_digest = manifest_digest
        self.image_id = image_id
        self.layers = layers  # [{"digest", "size", "mediaType"}]
        self.archive = archive  # genarchive's description of the source archive


def _image_from_registry(pusher, repository, reference, described=None):
    content_type, body = pusher.get_manifest(repository, reference)
    manifest = json.loads(body)
    assert content_type in (DOCKER_MANIFEST, OCI_MANIFEST), content_type
    image = Image(
        repository,
        reference,
        sha256_digest(body),
        manifest["config"]["digest"],
        [{"digest": l["digest"], "size": l["size"], "mediaType": l["mediaType"]} for l in manifest["layers"]],
        described,
    )
    if described is not None:
        # skopeo keeps the config bytes: the image id is the generator's.
        assert image.image_id == described["image_id"], (image.image_id, described["image_id"])
    return image


def populate(storage: Path, workdir: Path):
    """Fills ``storage`` through a temporary anonymous registry; returns
    {name: Image} (and the index's platforms under ``multi``)."""
    registry = RegistryProcess(workdir, storage, name="populate").start()
    try:
        pusher = Pusher(registry.address)
        content = {}

        def archive(name, **options):
            a = genarchive.Archive(**options)
            path = workdir / ("%s.tar" % name)
            path.write_bytes(a.to_bytes())
            return path, a.describe()

        def image(name, repository, tag, **options):
            path, described = archive(name, **options)
            skopeo_push(path, registry.address, "%s:%s" % (repository, tag))
            content[name] = _image_from_registry(pusher, repository, tag, described)
            return content[name]

        image("plain", "kdtest/plain", "v1", seed="registry-plain", layers=2, layer_size=64 * 1024)
        image("public", "kdtest/public", "v1", seed="registry-public", layers=1, layer_size=4096)
        # A bigger layer, so that a connection cut mid-blob cuts mid-stream.
        image("big", "kdtest/big", "v1", seed="registry-big", layers=1, layer_size=3 * 1024 * 1024)
        # Two platforms of one repository, then the index naming them.
        amd64 = image("multi-amd64", "kdtest/multi", "amd64", seed="registry-amd64", layers=1, layer_size=4096)
        arm64 = image("multi-arm64", "kdtest/multi", "arm64", seed="registry-arm64", layers=2, layer_size=4096)
        platforms = [
            (amd64, {"os": "linux", "architecture": "amd64"}),
            (arm64, {"os": "linux", "architecture": "arm64", "variant": "v8"}),
        ]
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": pusher.get_manifest("kdtest/multi", img.tag)[0],
                    "digest": img.manifest_digest,
                    "size": len(pusher.get_manifest("kdtest/multi", img.tag)[1]),
                    "platform": platform,
                }
                for img, platform in platforms
            ],
        }
        index_bytes = json.dumps(index, indent=2).encode()
        pusher.push_manifest("kdtest/multi", "v1", index_bytes, OCI_INDEX)
        content["multi-index"] = Image("kdtest/multi", "v1", sha256_digest(index_bytes), None, [])
        content["multi-platforms"] = ["linux/amd64", "linux/arm64/v8"]
        # Schema 1: a signed manifest over a layer of its own repository.
        layer = pusher.push_blob("kdtest/old", b"kdtest schema 1 layer")
        pusher.push_manifest("kdtest/old", "v1", schema1_signed("kdtest/old", "v1", [layer]), SCHEMA1_SIGNED)
        return content
    finally:
        registry.stop()


# --------------------------------------------------------------------------
# The session: every variant over one storage, started on demand


class Registries:
    """Starts variants on demand; :meth:`stop` stops all of them."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.storage = directory / "storage"
        self.content = populate(self.storage, directory / "populate")
        self.ca, self.cert, self.key = make_tls(directory / "tls")
        self.started = {}

    def get(self, variant):
        if variant not in self.started:
            self.started[variant] = self._start(variant)
        return self.started[variant]

    def _start(self, variant):
        d = self.directory / variant
        if variant == "anonymous":
            return RegistryProcess(d, self.storage, name=variant).start()
        if variant == "basic-tls":
            d.mkdir(parents=True, exist_ok=True)
            write_htpasswd(d / "htpasswd", {USER: PASSWORD})
            return RegistryProcess(
                d,
                self.storage,
                auth={"htpasswd": {"realm": "kdtest", "path": d / "htpasswd"}},
                tls=(self.cert, self.key),
                name=variant,
            ).start(ca=self.ca)
        if variant == "token":
            server = TokenServer(d)
            try:
                registry = RegistryProcess(
                    d,
                    self.storage,
                    auth={
                        "token": {
                            "realm": server.realm,
                            "service": SERVICE,
                            "issuer": ISSUER,
                            "rootcertbundle": server.cert_path,
                        }
                    },
                    name=variant,
                ).start()
            except Exception:
                server.stop()
                raise
            registry.token_server = server
            return registry
        if variant in ("anonymous-proxy", "token-proxy"):
            upstream = self.get(variant[: -len("-proxy")])
            return FaultProxy(upstream.url, self.storage)
        raise ValueError("no registry variant %r" % variant)

    def stop(self):
        for variant, thing in reversed(list(self.started.items())):
            thing.stop()
            server = getattr(thing, "token_server", None)
            if server:
                server.stop()
        self.started = {}


def _pytest_fixture():
    import pytest

    @pytest.fixture(scope="session")
    def registries(tmp_path_factory):
        """A :class:`Registries` for the session: ``registries.get(variant)``."""
        r = Registries(tmp_path_factory.mktemp("registries"))
        try:
            yield r
        finally:
            r.stop()

    def proxy(variant):
        @pytest.fixture
        def fixture(registries):
            """The fault proxy of ``variant``, with no fault and an empty
            log before and after the test."""
            p = registries.get(variant)
            p.reset()
            yield p
            p.reset()

        return fixture

    return registries, proxy("anonymous-proxy"), proxy("token-proxy")


registries, anonymous_proxy, token_proxy = _pytest_fixture()
