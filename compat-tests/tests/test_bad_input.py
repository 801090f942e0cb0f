"""The bad-input catalog: every way a user can hand the tool something wrong.

Each row of CATALOG is one mistake, across the command line, the
configuration, the server, identifiers and image archives:

    (id, setup, argv, expected exit status, regex for the error line)

`setup(ctx)` prepares the mistake (a file, a project, an environment
override, bytes on stdin) and returns the values the argv refers to as
`{name}`. For every row the binary must:

* exit with the documented status (README, "Errors and exit statuses"):
  2 for a command line argparse would refuse, 1 for everything else;
* print nothing on stdout;
* explain itself on stderr, and only that: for usage errors the argparse
  form (the usage block, then `arv-keepdocker: error: <message>`, as the
  legacy tool prints it); for the rest exactly one legacy-format ERROR log
  line, or two where the legacy words are kept as the last line and the
  line before says more (a bad --project-uuid, an image found nowhere);
* match the row's regex on its last line, which names the thing at fault
  and the way out;
* show no traceback or panic;
* leave the cluster exactly as it was: `cluster.dump()` (users, groups,
  collections, links and the blocks in every Keep server) is compared whole
  before and after, nothing ignored.

Not a row of its own: an expired token. Arvados answers it as it answers an
unknown one (401 "Not logged in"), which srv-bad-token covers; the
simulated cluster has no token expiry to show it with.
"""

import io
import json
import re
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from conftest import ERROR_LINE, generated

TAG = "kdtest/bad:1.0"
BOGUS_COLLECTION = "zzzzz-4zz18-000000000000000"
BOGUS_PROJECT = "zzzzz-j7d0g-000000000000000"
EMPTY_BLOCK = "d41d8cd98f00b204e9800998ecf8427e+0"
USAGE_ERROR = re.compile(r"^arv-keepdocker: error: ")
PANIC = re.compile(r"Traceback|panicked|RUST_BACKTRACE|stack backtrace")


class Ctx:
    """What a setup function may use."""

    def __init__(self, cluster, tmp_path):
        self.cluster = cluster
        self.tmp_path = tmp_path
        self.env = {}  # environment overrides for the run
        self.input = None  # bytes on stdin
        self.cleanup = []

    def archive(self, data, name="image.tar"):
        path = self.tmp_path / name
        path.write_bytes(data)
        return {"archive": str(path)}

    def valid(self, **options):
        """A valid generated archive, as bytes."""
        options.setdefault("repo_tags", [TAG])
        options.setdefault("seed", "bad-input")
        _, data, _ = generated(self.tmp_path, name="valid.tar", **options)
        return data


# --------------------------------------------------------------------------
# Raw tar pieces, for archives no tar library would write.


def header(name, typeflag=b"0", size=0, size_field=None, link=""):
    h = bytearray(512)
    h[0 : len(name)] = name.encode()
    h[100:108] = b"0000644\0"
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = size_field if size_field is not None else b"%011o\0" % size
    h[136:148] = b"00000000000\0"
    h[156:157] = typeflag
    h[157 : 157 + len(link)] = link.encode()
    h[257:263] = b"ustar\0"
    h[263:265] = b"00"
    h[148:156] = b" " * 8
    h[148:155] = b"%06o\0" % sum(h)
    return bytes(h)


def member(name, content=b"", typeflag=b"0", **kw):
    pad = (512 - len(content) % 512) % 512
    return header(name, typeflag, len(content), **kw) + content + b"\0" * pad


END = b"\0" * 1024


def rewrite(data, replace=None, drop=(), add=()):
    """The archive `data` with members replaced (name -> bytes), dropped, or
    extra raw members (bytes) appended."""
    replace = replace or {}
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as dst:
        for info in src.getmembers():
            if info.name in drop:
                continue
            body = src.extractfile(info).read() if info.isfile() else None
            if info.name in replace:
                body = replace[info.name]
                info.size = len(body)
            dst.addfile(info, io.BytesIO(body) if body is not None else None)
    tar = out.getvalue()
    # Drop tarfile's end blocks and record padding to append raw members.
    tar = tar[: tar_end(tar)]
    return tar + b"".join(add) + END


def tar_end(tar):
    at = 0
    while at + 512 <= len(tar) and tar[at : at + 512] != b"\0" * 512:
        size = int(tar[at + 124 : at + 136].strip(b"\0 ") or b"0", 8)
        at += 512 + (size + 511) // 512 * 512
    return at


def manifest_of(data):
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return json.loads(tar.extractfile("manifest.json").read())


# --------------------------------------------------------------------------
# Setups


def nothing(ctx):
    return {}


def env(**overrides):
    def setup(ctx):
        ctx.env.update(overrides)
        return {}

    return setup


def without(*names):
    def setup(ctx):
        for name in names:
            ctx.env[name] = None
        return {}

    return setup


def settings_file(text):
    """A settings.conf holding `text`, and no ARVADOS_* in the environment."""

    def setup(ctx):
        home = ctx.tmp_path / "conf-home"
        (home / "arvados").mkdir(parents=True)
        (home / "arvados" / "settings.conf").write_text(text)
        ctx.env.update(XDG_CONFIG_HOME=str(home), ARVADOS_API_HOST=None, ARVADOS_API_TOKEN=None)
        return {"conf": str(home / "arvados" / "settings.conf")}

    return setup


def closed_port(ctx):
    # Bound but not listening, until the run is over: a connection is
    # refused, and no other process can take the port meanwhile.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    ctx.cleanup.append(sock.close)
    port = sock.getsockname()[1]
    ctx.env["ARVADOS_API_HOST"] = "127.0.0.1:%d" % port
    return {"host": "127.0.0.1:%d" % port}


class _Plain(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<html>hello</html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def plain_http(ctx):
    server = HTTPServer(("127.0.0.1", 0), _Plain)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ctx.cleanup.append(server.shutdown)
    host = "127.0.0.1:%d" % server.server_address[1]
    ctx.env["ARVADOS_API_HOST"] = host
    return {"host": host}


def untrusted(ctx):
    # The cluster's certificate is signed by its own CA; nothing tells the
    # tool to trust it (no SSL_CERT_FILE) or to skip the check.
    ctx.env.update(ARVADOS_API_HOST_INSECURE=None, SSL_CERT_FILE=None)
    return with_archive(ctx)


def with_archive(ctx):
    return ctx.archive(ctx.valid())


def bad_token(ctx):
    ctx.env["ARVADOS_API_TOKEN"] = "v2/zzzzz-gj3su-000000000000000/notavalidsecretnotavalidsecret"
    return with_archive(ctx)


def read_only_project(ctx):
    project = ctx.cluster.create_project("bob", "bob's read-only")["uuid"]
    ctx.cluster.share(project, "alice", "can_read")
    return dict(with_archive(ctx), project=project)


def collection(manifest_text):
    def setup(ctx):
        [c] = ctx.cluster.seed(collections=[{"manifest_text": manifest_text}])["collections"]
        return {"uuid": c["uuid"], "pdh": c["portable_data_hash"]}

    return setup


def archive(make):
    """An archive file made by `make(ctx)` -> bytes."""
    return lambda ctx: ctx.archive(make(ctx))


def stdin(make):
    def setup(ctx):
        ctx.input = make(ctx)
        return {}

    return setup


def generated_corrupt(mode, layout="classic"):
    return archive(lambda ctx: ctx.valid(corrupt=mode, layout=layout, seed="bad-" + mode))


def directory(ctx):
    return {"archive": str(ctx.tmp_path)}


def ca_bundle(content):
    def setup(ctx):
        path = ctx.tmp_path / "ca.pem"
        path.write_bytes(content)
        ctx.env.update(ARVADOS_API_HOST_INSECURE=None, SSL_CERT_FILE=str(path))
        return {"ca": str(path)}

    return setup


def missing_config(ctx):
    data = ctx.valid()
    return ctx.archive(rewrite(data, drop=[manifest_of(data)[0]["Config"]]))


def missing_layer(ctx):
    data = ctx.valid(layers=2)
    return ctx.archive(rewrite(data, drop=[manifest_of(data)[0]["Layers"][1]]))


def escaping_symlink(ctx):
    data = ctx.valid()
    layer = manifest_of(data)[0]["Layers"][0]
    rebuilt = rewrite(data, drop=[layer], add=[member(layer, typeflag=b"2", link="../../../etc/passwd")])
    return ctx.archive(rebuilt)


# --------------------------------------------------------------------------
# The catalog.  Regexes are matched against the last stderr line.

SRC = "--source={archive}"

CATALOG = [
    # --- command line (argparse's usage errors: exit 2) -------------------
    ("cli-unknown-option", nothing, ["--bogus", "img"], 2, r"error: unrecognized arguments: --bogus$"),
    ("cli-ambiguous-abbreviation", nothing, ["--pro", "x", "img"], 2,
     r"error: ambiguous option: --pro could match --project-uuid, --progress$"),
    ("cli-missing-value", nothing, ["--project-uuid"], 2, r"error: argument --project-uuid: expected one argument$"),
    ("cli-exclusive-options", nothing, ["--pull", "--no-pull", "img"], 2,
     r"error: argument --no-pull: not allowed with argument --pull$"),
    ("cli-extra-positional", nothing, ["a", "b", "c"], 2, r"error: unrecognized arguments: c$"),
    ("cli-bad-retries", nothing, ["--retries", "x", "img"], 2, r"error: argument --retries: invalid int value: 'x'$"),
    ("cli-bad-from", nothing, ["--from=s3", "--source=x"], 2, r"error: argument --from: invalid choice: 's3'"),
    ("cli-from-collection-with-a-path", with_archive, ["--from=collection", SRC], 2,
     r"not a collection UUID or portable data hash"),
    ("cli-tag-given-twice", nothing, ["repo:tag", "extra"], 1,
     r"image 'repo:tag' already includes a tag, cannot add tag argument 'extra'$"),
    # --- configuration -----------------------------------------------------
    ("cfg-no-api-host", without("ARVADOS_API_HOST"), [], 1,
     r"ARVADOS_API_HOST is not set: put it in \S+settings\.conf or export it in the environment$"),
    ("cfg-no-token", without("ARVADOS_API_TOKEN"), [], 1,
     r"ARVADOS_API_TOKEN is not set: put it in \S+settings\.conf or export it in the environment$"),
    ("cfg-empty-token", env(ARVADOS_API_TOKEN=""), [], 1, r"ARVADOS_API_TOKEN is not set: put it in "),
    ("cfg-settings-line-without-equals", settings_file("ARVADOS_API_HOST\nARVADOS_API_TOKEN=x\n"), [], 1,
     r"settings\.conf, line 1: the line has no '='; settings lines must be KEY=VALUE \(fix or remove the line\)$"),
    ("cfg-settings-line-with-two-equals", settings_file("ARVADOS_API_HOST=a=b\n"), [], 1,
     r"settings\.conf, line 1: the line has more than one '='; .*\(fix or remove the line\)$"),
    ("cfg-api-host-with-scheme", env(ARVADOS_API_HOST="https://example.invalid"), [], 1,
     r"ARVADOS_API_HOST=\"https://example\.invalid\": give host\[:port\] without a scheme, "
     r"e\.g\. ARVADOS_API_HOST=example\.invalid$"),
    ("cfg-ca-bundle-not-pem", ca_bundle(b"not a certificate\n"), [], 1,
     r"cannot use the CA certificates in {ca}: no PEM certificate in the file \(point SSL_CERT_FILE at a PEM bundle\)$"),
    # As legacy: a missing SSL_CERT_FILE is skipped for the system bundles,
    # which do not hold the cluster's CA.
    ("cfg-ca-bundle-missing", env(ARVADOS_API_HOST_INSECURE=None, SSL_CERT_FILE="/nonexistent/ca.pem"), [], 1,
     r"certificate.*; if the cluster uses its own CA, set SSL_CERT_FILE to its certificate bundle$"),
    # --- the server ----------------------------------------------------------
    ("srv-bad-token", bad_token, [SRC], 1, r"HTTP 401: .*; check ARVADOS_API_TOKEN$"),
    ("srv-unreachable-host", closed_port, ["--retries", "0"], 1,
     r"GET https://{host}/\S+ failed: Connection refused .*; check that ARVADOS_API_HOST names the cluster's "
     r"API server \(host\[:port\]\) and that it is up$"),
    ("srv-not-tls", plain_http, ["--retries", "0"], 1,
     r"GET https://{host}/\S+ failed: .*; the server did not answer with TLS: ARVADOS_API_HOST must name the "
     r"cluster's HTTPS API server \(host\[:port\]\)$"),
    ("srv-untrusted-certificate", untrusted, [SRC], 1,
     r"failed: .*certificate.*; if the cluster uses its own CA, set SSL_CERT_FILE to its certificate bundle$"),
    ("srv-project-not-found", with_archive, [SRC, "--project-uuid=" + BOGUS_PROJECT], 1,
     r"--project-uuid %s: no such project or user is readable with this token "
     r"\(it does not exist, or it was not shared with you\)$" % BOGUS_PROJECT),
    ("srv-project-not-writable", read_only_project, [SRC, "--project-uuid={project}"], 1,
     r"--project-uuid {project}: this token may read that project but not write to it; "
     r"give a project you can write to, or ask its owner for can_write access$"),
    # --- identifiers ---------------------------------------------------------
    ("srv-user-not-found", with_archive, [SRC, "--project-uuid=zzzzz-tpzed-000000000000000"], 1,
     r"--project-uuid zzzzz-tpzed-000000000000000: no such project or user is readable with this token"),
    ("id-project-uuid-malformed", with_archive, [SRC, "--project-uuid=not-a-uuid"], 1,
     r"arv_put\[\d+\] ERROR: Not a valid project UUID: not-a-uuid$"),
    ("id-project-uuid-is-a-collection", with_archive, [SRC, "--project-uuid=" + BOGUS_COLLECTION], 1,
     r"ERROR: Not a valid project UUID: " + BOGUS_COLLECTION + "$"),
    ("id-source-malformed-uuid", nothing, ["--source=zzzzz-4zz18-tooshort"], 1,
     r"--source 'zzzzz-4zz18-tooshort': no such file, and not a collection UUID or portable data hash "
     r"\(use --from=file or --from=collection to say which was meant\)$"),
    ("id-source-unknown-uuid", nothing, ["--source=" + BOGUS_COLLECTION, "x:y"], 1,
     r"--source %s: no such collection is readable with this token" % BOGUS_COLLECTION),
    ("id-source-unknown-pdh", nothing, ["--source=%s+1" % ("0" * 32)], 1, r"is readable with this token"),
    ("id-source-missing-file", nothing, ["--source=/nonexistent/image.tar"], 1,
     r"--source '/nonexistent/image\.tar': no such file, and not a collection UUID or portable data hash"),
    ("id-source-is-a-directory", directory, [SRC], 1,
     r"--source '{archive}' is a directory; give the image archive file \(`docker save -o FILE IMAGE` writes one\)$"),
    ("id-source-file-is-a-directory", directory, ["--from=file", SRC], 1, r"--source '{archive}' is a directory"),
    ("id-collection-with-two-files",
     collection(". %s 0:0:sha256\\072%s.tar 0:0:notes.txt\n" % (EMPTY_BLOCK, "a" * 64)), ["--source={uuid}"], 1,
     r"collection {uuid} holds 2 files; an image collection holds exactly one sha256:<id>\.tar"),
    ("id-collection-without-an-image", collection(". %s 0:0:image.tar\n" % EMPTY_BLOCK), ["--source={uuid}"], 1,
     r"collection {uuid} holds one file, image\.tar; an image collection holds exactly one sha256:<id>\.tar"),
    ("id-collection-empty", collection(""), ["--source={uuid}"], 1,
     r"collection {uuid} holds no file; an image collection holds exactly one sha256:<id>\.tar"),
    # Two lines: what Docker and Arvados said, then the legacy words.
    ("id-image-nowhere", nothing, ["kdtest-no-such-image:v0"], 1, r"ERROR: no matching image found$"),
    # --- archives --------------------------------------------------------------
    ("ar-empty-file", archive(lambda ctx: b""), [SRC], 1, r"{archive}: not a tar archive: the input is empty"),
    ("ar-empty-stdin", stdin(lambda ctx: b""), ["--source=-"], 1, r"standard input: not a tar archive: the input is empty"),
    ("ar-only-end-blocks", archive(lambda ctx: END), [SRC], 1,
     r"{archive}: not a Docker image archive: it has no manifest\.json \(was it made with `docker save`\?"),
    ("ar-not-tar", generated_corrupt("not-tar"), [SRC], 1, r"{archive}: not a tar archive \(was it made with `docker save`\?\)"),
    ("ar-gzip", archive(lambda ctx: b"\x1f\x8b\x08\0" + b"\0" * 600), [SRC], 1,
     r"{archive}: not a tar archive: the input is gzip-compressed; decompress it first"),
    ("ar-truncated", generated_corrupt("truncated"), [SRC], 1,
     r"{archive}: the archive is truncated at byte \d+: it ends inside member `\S+` after \d+ of its \d+ bytes "
     r"\(was `docker save` interrupted, or the file cut short\?\)"),
    ("ar-truncated-stdin", stdin(lambda ctx: ctx.valid()[:5000]), ["--source=-"], 1,
     r"standard input: the archive is truncated at byte 5000"),
    ("ar-entry-with-dotdot", archive(lambda ctx: rewrite(ctx.valid(), add=[member("../x", b"hi")])), [SRC], 1,
     r"{archive}: archive member `\.\./x` has a `\.\.` component"),
    ("ar-entry-absolute", archive(lambda ctx: rewrite(ctx.valid(), add=[member("/etc/passwd", b"hi")])), [SRC], 1,
     r"{archive}: archive member `/etc/passwd` has an absolute path"),
    ("ar-symlink-escaping", escaping_symlink, [SRC], 1,
     r"{archive}: archive member `\S+/layer\.tar` is a link to `\.\./\.\./\.\./etc/passwd`, which points outside "
     r"the archive; the archive is damaged; save the image again with `docker save`"),
    ("ar-huge-size-field",
     archive(lambda ctx: member("big", size_field=b"\x80" + b"\0" * 3 + b"\x40" + b"\0" * 7) + END), [SRC], 1,
     r"{archive}: corrupt tar header at byte 0 \(member `big`\): it declares \d+ bytes, over the 1 TiB limit"),
    ("ar-gnu-long-name-bomb",
     archive(lambda ctx: header("././@LongLink", b"L", 1 << 30) + b"a" * 4096), [SRC], 1,
     r"{archive}: corrupt tar header at byte 0 .*an extended header of 1073741824 bytes is over the 1 MiB limit"),
    ("ar-pax-absurd-length",
     archive(lambda ctx: member("PaxHeaders/x", b"99999999999999999999 path=x\n", typeflag=b"x") + member("x") + END),
     [SRC], 1, r"{archive}: corrupt tar header at byte 0: a PAX record length is out of range"),
    ("ar-trailing-garbage", archive(lambda ctx: ctx.valid() + b"garbage"), [SRC], 1,
     r"{archive}: unexpected data at byte \d+, after the end of the tar archive \(two archives concatenated\?\); "
     r"arv-keepdocker uploads a single `docker save` archive"),
    ("ar-duplicate-manifest",
     archive(lambda ctx: rewrite(ctx.valid(), add=[member("manifest.json", b"[]")])), [SRC], 1,
     r"{archive}: archive member `manifest\.json` appears twice"),
    ("ar-manifest-not-json",
     archive(lambda ctx: rewrite(ctx.valid(), replace={"manifest.json": b"[{not json"})), [SRC], 1,
     r"{archive}: archive member `manifest\.json` is not valid JSON"),
    ("ar-manifest-missing", generated_corrupt("no-manifest"), [SRC], 1, r"{archive}: not a Docker image archive: it has no manifest\.json"),
    ("ar-missing-config-blob", missing_config, [SRC], 1,
     r"{archive}: archive member `[0-9a-f]{{64}}\.json`, named by manifest\.json `Config`, is not in the archive; "
     r"the archive is incomplete, save the image again with `docker save`"),
    ("ar-missing-layer-blob", missing_layer, [SRC], 1,
     r"{archive}: archive member `[0-9a-f]{{64}}/layer\.tar`, named by manifest\.json `Layers\[1\]`, is not in the "
     r"archive; the archive is incomplete, save the image again with `docker save`"),
    ("ar-two-images", generated_corrupt("two-images"), [SRC], 1,
     r"{archive}: the archive holds 2 images; arv-keepdocker uploads one image per collection \(save one image per "
     r"archive: `docker save IMAGE`\)"),
    ("ar-layer-digest-mismatch", generated_corrupt("flip-layer-byte"), [SRC], 1,
     r"{archive}: layer 0 `\S+` is corrupt: its content hashes to sha256:[0-9a-f]{{64}} but the image config expects "
     r"sha256:[0-9a-f]{{64}} \(rootfs\.diff_ids\[0\]\); the archive is damaged; save the image again"),
    ("ar-config-digest-mismatch", generated_corrupt("wrong-config-digest", layout="oci"), [SRC], 1,
     r"{archive}: archive member `blobs/sha256/[0-9a-f]{{64}}` is corrupt: its name says sha256:[0-9a-f]{{64}} but its "
     r"content hashes to sha256:[0-9a-f]{{64}}; the archive is damaged; save the image again"),
]

# Rows that print one ERROR line before the legacy last line.
TWO_LINES = {"id-project-uuid-malformed", "id-project-uuid-is-a-collection", "id-image-nowhere"}


@pytest.mark.parametrize("case", CATALOG, ids=[row[0] for row in CATALOG])
def test_bad_input(case, cluster, tools, tmp_path):
    case_id, setup, argv, status, pattern = case
    ctx = Ctx(cluster, tmp_path)
    try:
        values = setup(ctx)
        argv = [a.format(**values) for a in argv]
        pattern = pattern.format(**{k: re.escape(v) for k, v in values.items()}) if values else pattern
        before = cluster.dump()
        # Variables set to None are removed from the environment; stdin is
        # empty unless the row gives bytes. Tools.run checks both outputs
        # for tokens.
        result = tools.ours(*argv, extra_env=ctx.env, input=ctx.input if ctx.input is not None else b"", timeout=300)
        after = cluster.dump()
    finally:
        for cleanup in ctx.cleanup:
            cleanup()

    assert result.returncode == status, result
    assert result.stdout == "", result
    assert not PANIC.search(result.stderr), result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if status == 2:
        assert lines[0].startswith("usage: arv-keepdocker"), result
        assert USAGE_ERROR.match(lines[-1]), result
        assert sum(1 for line in lines if USAGE_ERROR.match(line)) == 1, result
    else:
        assert len(lines) == (2 if case_id in TWO_LINES else 1), result
        assert all(ERROR_LINE.match(line) for line in lines), result
    assert re.search(pattern, lines[-1]), "%s\n  does not match %r" % (lines[-1], pattern)
    assert after == before, "the cluster changed"

